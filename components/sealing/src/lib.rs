//! End-to-end encryption for Switchboard: RFC 9180 HPKE, X3DH-style session setup
//! and the Double Ratchet.
//!
//! The pipeline never needs the plaintext of a personal message: clients seal it,
//! binding the envelope header as associated data ([`aad::sealed_header_aad`]), and
//! translators carry the sealed bytes unchanged. A first message uses HPKE base mode
//! ([`hpke::seal_base`] / [`hpke::open_base`]); a conversation then continues in a
//! [`session::Session`] (forward secrecy and post-compromise security), whose
//! messages travel as [`envelope::SealedMessage`]s bound to a header that
//! survives routing. [`key_directory`] is the wire format of the key
//! directory the host serves (`/keys/...`): how clients publish and fetch
//! prekey bundles and sign their requests.
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
pub mod envelope;
pub mod error;
pub mod hex;
pub mod hpke;
pub mod key_directory;
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
    Guest, GuestSession, HpkeSealed, IdentitySecrets, KeyPair as WitKeyPair, PrekeyBundle,
    RatchetMessage as WitRatchetMessage, SealingError as WitSealingError, Session as WitSession,
};
use std::cell::RefCell;

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

/// The component: a thin shell over [`keys`], [`hpke`] and [`session`].
struct Component;

fn identity_from(secrets: &IdentitySecrets) -> Result<session::IdentityKeyPair, SealingError> {
    Ok(session::IdentityKeyPair::from_secrets(
        keys::key_from_slice("identity signing seed", &secrets.signing_seed)?,
        keys::key_from_slice("identity dh secret", &secrets.dh_secret)?,
    ))
}

fn key_pair_from(label: &str, secret: &[u8]) -> Result<keys::KeyPair, SealingError> {
    Ok(keys::KeyPair::from_secret(keys::key_from_slice(
        label, secret,
    )?))
}

fn bundle_from(bundle: &PrekeyBundle) -> Result<session::PreKeyBundle, SealingError> {
    Ok(session::PreKeyBundle {
        identity: session::IdentityPublicKey {
            signing_key: keys::key_from_slice(
                "identity signing key",
                &bundle.identity_signing_key,
            )?,
            dh_key: keys::key_from_slice("identity dh key", &bundle.identity_dh_key)?,
        },
        signed_prekey: keys::key_from_slice("signed prekey", &bundle.signed_prekey)?,
        signed_prekey_signature: bundle.signed_prekey_signature.clone(),
        one_time_prekey: bundle
            .one_time_prekey
            .as_deref()
            .map(|key| keys::key_from_slice("one-time prekey", key))
            .transpose()?,
    })
}

/// A session as a component resource: the guest's methods take `&self`, so the
/// state sits in a `RefCell` (a component instance is single-threaded).
struct SessionResource(RefCell<session::Session>);

impl GuestSession for SessionResource {
    fn initiate(
        identity: IdentitySecrets,
        bundle: PrekeyBundle,
    ) -> Result<(WitSession, Vec<u8>), WitSealingError> {
        let (session, header) =
            session::Session::initiate(&identity_from(&identity)?, &bundle_from(&bundle)?)?;
        Ok((
            WitSession::new(SessionResource(RefCell::new(session))),
            header.to_bytes(),
        ))
    }

    fn respond(
        identity: IdentitySecrets,
        signed_prekey_secret: Vec<u8>,
        one_time_prekey_secret: Option<Vec<u8>>,
        initial_header: Vec<u8>,
    ) -> Result<WitSession, WitSealingError> {
        let one_time = one_time_prekey_secret
            .as_deref()
            .map(|secret| key_pair_from("one-time prekey secret", secret))
            .transpose()?;
        let session = session::Session::respond(
            &identity_from(&identity)?,
            &key_pair_from("signed prekey secret", &signed_prekey_secret)?,
            one_time.as_ref(),
            &session::InitialHeader::from_bytes(&initial_header)?,
        )?;
        Ok(WitSession::new(SessionResource(RefCell::new(session))))
    }

    fn encrypt(
        &self,
        plaintext: Vec<u8>,
        aad: Vec<u8>,
    ) -> Result<WitRatchetMessage, WitSealingError> {
        let message = self.0.borrow_mut().encrypt(&plaintext, &aad)?;
        Ok(WitRatchetMessage {
            header: message.header,
            ciphertext: message.ciphertext,
        })
    }

    fn decrypt(
        &self,
        message: WitRatchetMessage,
        aad: Vec<u8>,
    ) -> Result<Vec<u8>, WitSealingError> {
        let message = session::RatchetMessage {
            header: message.header,
            ciphertext: message.ciphertext,
        };
        Ok(self.0.borrow_mut().decrypt(&message, &aad)?)
    }

    fn id(&self) -> Vec<u8> {
        self.0.borrow().id().to_vec()
    }

    fn save(&self) -> Result<Vec<u8>, WitSealingError> {
        Ok(self.0.borrow().save()?.to_vec())
    }

    fn restore(state: Vec<u8>) -> Result<WitSession, WitSealingError> {
        let session = session::Session::restore(&state)?;
        Ok(WitSession::new(SessionResource(RefCell::new(session))))
    }
}

impl Guest for Component {
    type Session = SessionResource;

    fn x25519(secret_key: Vec<u8>, public_key: Vec<u8>) -> Result<Vec<u8>, WitSealingError> {
        let secret = keys::key_from_slice("secret key", &secret_key)?;
        let public = keys::key_from_slice("public key", &public_key)?;
        Ok(keys::diffie_hellman(&secret, &public)?.to_vec())
    }

    fn prekey_bundle_for(
        identity: IdentitySecrets,
        signed_prekey_secret: Vec<u8>,
        one_time_prekey_secret: Option<Vec<u8>>,
    ) -> Result<PrekeyBundle, WitSealingError> {
        let identity = identity_from(&identity)?;
        let signed = key_pair_from("signed prekey secret", &signed_prekey_secret)?;
        let one_time = one_time_prekey_secret
            .as_deref()
            .map(|secret| key_pair_from("one-time prekey secret", secret))
            .transpose()?;
        let bundle = identity.bundle(&signed, one_time.as_ref());
        Ok(PrekeyBundle {
            identity_signing_key: bundle.identity.signing_key.to_vec(),
            identity_dh_key: bundle.identity.dh_key.to_vec(),
            signed_prekey: bundle.signed_prekey.to_vec(),
            signed_prekey_signature: bundle.signed_prekey_signature,
            one_time_prekey: bundle.one_time_prekey.map(|key| key.to_vec()),
        })
    }

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
