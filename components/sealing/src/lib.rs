//! End-to-end encryption for Switchboard: RFC 9180 HPKE, X3DH-style session setup
//! and the Double Ratchet.
//!
//! The pipeline never needs the plaintext of a personal message: clients seal it,
//! binding the envelope header as associated data ([`aad::sealed_header_aad`]), and
//! translators carry the sealed bytes unchanged. A first message uses HPKE base mode
//! ([`hpke::seal_base`] / [`hpke::open_base`]); a conversation then continues in a
//! [`session::Session`] (forward secrecy and post-compromise security).
//!
//! All logic lives in plain modules with a native API, tested and benchmarked
//! natively. The crate is also a component of world `sealer` (interface `sealing`
//! of `wit/sealing.wit`) for clients that have no native build; the `Guest` impl
//! below only forwards to the modules.
//!
//! ```
//! let recipient = sealing::keys::generate_key_pair()?;
//! let aad = sealing::aad::sealed_header_aad("m-1", "whatsapp", "alice", "bob", "c-1");
//! let (enc, ct) = sealing::hpke::seal_base(&recipient.public_key, b"switchboard", &aad, b"hi")?;
//! let pt = sealing::hpke::open_base(&recipient.secret_key, &enc, b"switchboard", &aad, &ct)?;
//! assert_eq!(pt, b"hi");
//! # Ok::<(), sealing::SealingError>(())
//! ```

pub mod aad;
pub mod aead;
pub mod error;
pub mod hex;
pub mod hpke;
pub mod keys;
pub mod session;

pub use crate::hex::parse_hex;
pub use error::SealingError;

/// The generated bindings of world `sealer` (the one `generate!` call).
mod bindings {
    wit_bindgen::generate!({
        world: "sealer",
        path: "../../wit",
    });
}

use bindings::exports::switchboard::messaging::sealing::{
    Guest, HpkeSealed, KeyPair as WitKeyPair, SealingError as WitSealingError,
};

impl From<SealingError> for WitSealingError {
    fn from(error: SealingError) -> Self {
        match error {
            SealingError::InvalidKey(why) => Self::InvalidKey(why),
            SealingError::AuthenticationFailed => Self::AuthenticationFailed,
            SealingError::RejectedMessage(why) => Self::RejectedMessage(why),
            SealingError::InvalidInput(why) => Self::InvalidInput(why),
        }
    }
}

/// The component: a thin shell over [`keys`] and [`hpke`].
struct Component;

impl Guest for Component {
    fn generate_key_pair() -> WitKeyPair {
        match keys::generate_key_pair() {
            Ok(pair) => WitKeyPair {
                secret_key: pair.secret_key.to_vec(),
                public_key: pair.public_key.to_vec(),
            },
            // `generate-key-pair` cannot return an error in the WIT. On wasm32-wasip2
            // the randomness is `wasi:random/random.get-random-bytes`, which cannot
            // fail; should it ever, trapping is the only safe answer (a predictable
            // key would be worse than no key).
            Err(_) => std::process::abort(),
        }
    }

    fn hpke_seal(
        recipient_public_key: Vec<u8>,
        info: Vec<u8>,
        aad: Vec<u8>,
        plaintext: Vec<u8>,
    ) -> Result<HpkeSealed, WitSealingError> {
        let (enc, ciphertext) = hpke::seal_base(&recipient_public_key, &info, &aad, &plaintext)?;
        Ok(HpkeSealed { enc, ciphertext })
    }

    fn hpke_open(
        recipient_secret_key: Vec<u8>,
        enc: Vec<u8>,
        info: Vec<u8>,
        aad: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Result<Vec<u8>, WitSealingError> {
        Ok(hpke::open_base(
            &recipient_secret_key,
            &enc,
            &info,
            &aad,
            &ciphertext,
        )?)
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_round_trip_and_error_mapping() {
        let pair = Component::generate_key_pair();
        assert_eq!(pair.public_key.len(), 32);
        let sealed = Component::hpke_seal(
            pair.public_key.clone(),
            b"i".to_vec(),
            b"a".to_vec(),
            b"p".to_vec(),
        )
        .unwrap();
        let opened = Component::hpke_open(
            pair.secret_key.clone(),
            sealed.enc.clone(),
            b"i".to_vec(),
            b"a".to_vec(),
            sealed.ciphertext.clone(),
        )
        .unwrap();
        assert_eq!(opened, b"p");
        let wrong_aad = Component::hpke_open(
            pair.secret_key,
            sealed.enc,
            b"i".to_vec(),
            b"b".to_vec(),
            sealed.ciphertext,
        );
        assert!(matches!(
            wrong_aad,
            Err(WitSealingError::AuthenticationFailed)
        ));
        let short = Component::hpke_seal(vec![1; 31], vec![], vec![], vec![]);
        assert!(
            matches!(short, Err(WitSealingError::InvalidKey(m)) if m.contains("expected 32 bytes, got 31"))
        );
    }
}
