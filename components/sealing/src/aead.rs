//! AES-GCM with 96-bit nonces, the only AEAD this crate uses.
//!
//! HPKE needs AES-128-GCM and AES-256-GCM (RFC 9180 AEAD ids 0x0001 and 0x0002),
//! the ratchet uses AES-256-GCM. This module is the single place that touches
//! the `aes-gcm` crate, so that the Wycheproof vectors test exactly the code the
//! rest of the crate calls.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit, Nonce};

use crate::error::SealingError;

/// Length of an AES-GCM nonce here: 96 bits, the size RFC 9180 and the ratchet use.
pub const NONCE_LEN: usize = 12;
/// Length of the authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

/// Which AES-GCM variant a key is for; the discriminants are the RFC 9180 AEAD ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AeadAlgorithm {
    /// AES-128-GCM, HPKE AEAD id 0x0001.
    Aes128Gcm = 0x0001,
    /// AES-256-GCM, HPKE AEAD id 0x0002.
    Aes256Gcm = 0x0002,
}

impl AeadAlgorithm {
    /// Key length in bytes (`Nk` in RFC 9180).
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes128Gcm => 16,
            Self::Aes256Gcm => 32,
        }
    }

    /// The RFC 9180 AEAD identifier.
    pub const fn id(self) -> u16 {
        self as u16
    }

    /// The algorithm for an RFC 9180 AEAD identifier, if this crate supports it.
    pub fn from_id(id: u16) -> Result<Self, SealingError> {
        match id {
            0x0001 => Ok(Self::Aes128Gcm),
            0x0002 => Ok(Self::Aes256Gcm),
            other => Err(SealingError::InvalidInput(format!(
                "unsupported AEAD id 0x{other:04x}"
            ))),
        }
    }

    /// The algorithm for a raw key, chosen by its length (16 or 32 bytes).
    pub fn for_key(key: &[u8]) -> Result<Self, SealingError> {
        match key.len() {
            16 => Ok(Self::Aes128Gcm),
            32 => Ok(Self::Aes256Gcm),
            other => Err(SealingError::InvalidKey(format!(
                "AES-GCM key: expected 16 or 32 bytes, got {other}"
            ))),
        }
    }
}

/// Encrypts `plaintext` and appends the 16-byte tag; the key length picks AES-128 or AES-256.
pub fn seal(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealingError> {
    let nonce = checked_nonce(nonce)?;
    Cipher::new(key)?.seal(nonce, aad, plaintext)
}

/// Checks the tag and decrypts `ciphertext` (which ends with the tag).
pub fn open(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SealingError> {
    let nonce = checked_nonce(nonce)?;
    Cipher::new(key)?.open(nonce, aad, ciphertext)
}

/// An AES-GCM key expanded once, for a context that seals or opens many messages.
///
/// With the `zeroize` feature of `aes-gcm`, the round keys and the GHASH key are
/// wiped when the value is dropped.
#[derive(Clone)]
pub(crate) enum Cipher {
    Aes128(Aes128Gcm),
    Aes256(Aes256Gcm),
}

impl Cipher {
    /// The cipher for a raw key; its length (16 or 32 bytes) picks the variant.
    pub(crate) fn new(key: &[u8]) -> Result<Self, SealingError> {
        let algorithm = AeadAlgorithm::for_key(key)?;
        let cipher = match algorithm {
            AeadAlgorithm::Aes128Gcm => Aes128Gcm::new_from_slice(key).map(Self::Aes128),
            AeadAlgorithm::Aes256Gcm => Aes256Gcm::new_from_slice(key).map(Self::Aes256),
        };
        // `for_key` has checked the length, the only thing `new_from_slice` checks.
        cipher.map_err(|_| SealingError::InvalidKey(format!("{algorithm:?} key: wrong length")))
    }

    /// Encrypts `plaintext` and appends the tag.
    pub(crate) fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SealingError> {
        let (nonce, payload) = (
            <&Nonce<U12>>::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        );
        let sealed = match self {
            Self::Aes128(cipher) => cipher.encrypt(nonce, payload),
            Self::Aes256(cipher) => cipher.encrypt(nonce, payload),
        };
        // aes-gcm only fails to encrypt when the input exceeds GCM's length limit.
        sealed.map_err(|_| SealingError::InvalidInput("plaintext too long for AES-GCM".into()))
    }

    /// Checks the tag and decrypts `ciphertext` (which ends with the tag); a
    /// ciphertext shorter than the tag fails authentication like any other.
    pub(crate) fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, SealingError> {
        let (nonce, payload) = (
            <&Nonce<U12>>::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        );
        let opened = match self {
            Self::Aes128(cipher) => cipher.decrypt(nonce, payload),
            Self::Aes256(cipher) => cipher.decrypt(nonce, payload),
        };
        opened.map_err(|_| SealingError::AuthenticationFailed)
    }
}

fn checked_nonce(nonce: &[u8]) -> Result<&[u8; NONCE_LEN], SealingError> {
    <&[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| {
        SealingError::InvalidInput(format!(
            "AES-GCM nonce: expected {NONCE_LEN} bytes, got {}",
            nonce.len()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = [7u8; 32];
        let nonce = [1u8; 12];
        let ct = seal(&key, &nonce, b"hdr", b"hello").unwrap();
        assert_eq!(ct.len(), 5 + TAG_LEN);
        assert_eq!(open(&key, &nonce, b"hdr", &ct).unwrap(), b"hello");
        assert_eq!(
            open(&key, &nonce, b"hdx", &ct),
            Err(SealingError::AuthenticationFailed)
        );
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(
            open(&key, &nonce, b"hdr", &bad),
            Err(SealingError::AuthenticationFailed)
        );
        assert_eq!(
            open(&key, &nonce, b"hdr", &ct[..3]),
            Err(SealingError::AuthenticationFailed)
        );
    }

    #[test]
    fn wrong_sizes_are_typed_errors() {
        assert!(matches!(
            seal(&[0u8; 24], &[0u8; 12], b"", b""),
            Err(SealingError::InvalidKey(_))
        ));
        assert!(matches!(
            seal(&[0u8; 16], &[0u8; 8], b"", b""),
            Err(SealingError::InvalidInput(_))
        ));
        assert_eq!(AeadAlgorithm::from_id(2), Ok(AeadAlgorithm::Aes256Gcm));
        assert!(AeadAlgorithm::from_id(3).is_err());
    }
}
