//! X25519 key pairs, randomness and the one Diffie-Hellman function.
//!
//! Every X25519 agreement in the crate (HPKE's KEM, X3DH, the ratchet) goes
//! through [`diffie_hellman`], which refuses a non-contributory result: a peer
//! that sends a low-order point would otherwise force an all-zero, publicly
//! known shared secret.

use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::SealingError;

/// Length of an X25519 secret key, public key and shared secret.
pub const KEY_LEN: usize = 32;

/// An X25519 key pair as raw 32-byte keys; the secret is wiped when dropped.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct KeyPair {
    /// The secret scalar (clamped when used, as X25519 specifies).
    pub secret_key: [u8; KEY_LEN],
    /// The matching public key.
    pub public_key: [u8; KEY_LEN],
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_key", &crate::hex::to_hex(&self.public_key))
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// The key pair for a given secret key (used for test vectors and stored keys).
    pub fn from_secret(secret_key: [u8; KEY_LEN]) -> Self {
        let public_key = PublicKey::from(&StaticSecret::from(secret_key)).to_bytes();
        Self {
            secret_key,
            public_key,
        }
    }
}

/// A fresh X25519 key pair from the operating system's random source.
///
/// On wasm32-wasip2 the randomness comes from `wasi:random`; the call fails only
/// if the platform has no random source at all.
pub fn generate_key_pair() -> Result<KeyPair, SealingError> {
    Ok(KeyPair::from_secret(random_bytes::<KEY_LEN>()?))
}

/// `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], SealingError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)
        .map_err(|e| SealingError::InvalidInput(format!("no random source available: {e}")))?;
    Ok(out)
}

/// Copies a slice into a 32-byte key, naming it in the error if its length is wrong.
pub fn key_from_slice(label: &str, bytes: &[u8]) -> Result<[u8; KEY_LEN], SealingError> {
    <[u8; KEY_LEN]>::try_from(bytes).map_err(|_| {
        SealingError::InvalidKey(format!(
            "{label}: expected {KEY_LEN} bytes, got {}",
            bytes.len()
        ))
    })
}

/// X25519(secret, public), refusing a non-contributory (all-zero) result.
///
/// The refusal is what rejects low-order public keys (RFC 7748 section 6.1).
pub fn diffie_hellman(
    secret_key: &[u8; KEY_LEN],
    public_key: &[u8; KEY_LEN],
) -> Result<[u8; KEY_LEN], SealingError> {
    let secret = StaticSecret::from(*secret_key);
    let shared = secret.diffie_hellman(&PublicKey::from(*public_key));
    if !shared.was_contributory() {
        return Err(SealingError::InvalidKey(
            "public key is a low-order point (all-zero shared secret)".into(),
        ));
    }
    Ok(shared.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_is_symmetric_and_keys_differ() {
        let a = generate_key_pair().unwrap();
        let b = generate_key_pair().unwrap();
        assert_ne!(a.secret_key, b.secret_key);
        let ab = diffie_hellman(&a.secret_key, &b.public_key).unwrap();
        let ba = diffie_hellman(&b.secret_key, &a.public_key).unwrap();
        assert_eq!(ab, ba);
    }

    #[test]
    fn zero_point_is_refused() {
        let a = generate_key_pair().unwrap();
        assert!(matches!(
            diffie_hellman(&a.secret_key, &[0u8; 32]),
            Err(SealingError::InvalidKey(_))
        ));
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(matches!(
            diffie_hellman(&a.secret_key, &one),
            Err(SealingError::InvalidKey(_))
        ));
    }

    #[test]
    fn wrong_length_key_is_named() {
        let err = key_from_slice("pk-r", &[0u8; 31]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid key: pk-r: expected 32 bytes, got 31"
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let kp = KeyPair::from_secret([9u8; 32]);
        let shown = format!("{kp:?}");
        assert!(!shown.contains(&crate::hex::to_hex(&[9u8; 32])));
        assert!(shown.contains(&crate::hex::to_hex(&kp.public_key)));
    }
}
