//! The key directory's wire format, shared by the clients that publish and fetch
//! keys and by the host that serves them (`/keys/...` in `switchboard up`).
//!
//! Keys travel as lower-case hex in JSON. A request to the directory is signed
//! with the account's Ed25519 identity key: the signature covers a domain label,
//! the method, the path, a timestamp and the SHA-256 of the body
//! ([`request_message`]), and travels in two headers, [`TIMESTAMP_HEADER`]
//! (milliseconds since the epoch) and [`SIGNATURE_HEADER`] (hex). Keeping the
//! format here means a client and the directory cannot disagree on it, and a
//! client built as a component signs exactly as a native one does.

use ed25519_dalek::{Signature, Signer, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::SealingError;
use crate::keys::KEY_LEN;
use crate::session::{IdentityKeyPair, IdentityPublicKey, PreKeyBundle, SIGNATURE_LEN};

/// Header carrying the request's time, milliseconds since the epoch.
pub const TIMESTAMP_HEADER: &str = "x-switchboard-timestamp";
/// Header carrying the request's Ed25519 signature, hex.
pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";

const REQUEST_DOMAIN: &str = "switchboard/key-directory-request/v1";

/// An identity's public keys, hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityJson {
    /// Ed25519 public key (64 hex digits).
    pub signing_key: String,
    /// X25519 public key (64 hex digits).
    pub dh_key: String,
}

/// A signed prekey and its signature by the identity key, hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPrekeyJson {
    /// X25519 public key (64 hex digits).
    pub key: String,
    /// Ed25519 signature (128 hex digits), as [`IdentityKeyPair::sign_prekey`] makes it.
    pub signature: String,
}

/// `PUT /keys/accounts/{platform}/{id}`: what an account publishes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    /// The identity to bind to the account (or the one already bound).
    pub identity: IdentityJson,
    /// The current signed prekey.
    pub signed_prekey: SignedPrekeyJson,
    /// One-time prekeys to add (X25519 public keys, hex); may be empty.
    #[serde(default)]
    pub one_time_prekeys: Vec<String>,
}

/// `POST /keys/accounts/{platform}/{id}/one-time-prekeys`: more one-time prekeys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OneTimePrekeysRequest {
    /// X25519 public keys, hex.
    pub one_time_prekeys: Vec<String>,
}

/// What the directory answers a fetch with: a peer's bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleJson {
    /// The identity's key id ([`IdentityPublicKey::key_id`]).
    pub key_id: String,
    /// The identity's public keys.
    pub identity: IdentityJson,
    /// The signed prekey.
    pub signed_prekey: SignedPrekeyJson,
    /// A one-time prekey handed out to this fetch alone, when any was left.
    pub one_time_prekey: Option<String>,
}

/// A publish request, checked: keys of the right length, the prekey signature valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPublish {
    /// The identity's public keys.
    pub identity: IdentityPublicKey,
    /// The signed prekey.
    pub signed_prekey: [u8; KEY_LEN],
    /// Its signature.
    pub signed_prekey_signature: [u8; SIGNATURE_LEN],
    /// The one-time prekeys, in the order given, without repeats.
    pub one_time_prekeys: Vec<[u8; KEY_LEN]>,
}

fn hex_key(label: &str, text: &str) -> Result<[u8; KEY_LEN], SealingError> {
    let bytes = crate::parse_hex(label, text, Some(KEY_LEN))?;
    crate::keys::key_from_slice(label, &bytes)
}

fn hex_signature(label: &str, text: &str) -> Result<[u8; SIGNATURE_LEN], SealingError> {
    let bytes = crate::parse_hex(label, text, Some(SIGNATURE_LEN))?;
    <[u8; SIGNATURE_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| SealingError::InvalidInput(format!("{label}: expected {SIGNATURE_LEN} bytes")))
}

/// Parses one-time prekeys, naming the bad one by its index.
pub fn parse_one_time_prekeys(keys: &[String]) -> Result<Vec<[u8; KEY_LEN]>, SealingError> {
    let mut out: Vec<[u8; KEY_LEN]> = Vec::with_capacity(keys.len());
    for (index, text) in keys.iter().enumerate() {
        let key = hex_key(&format!("one_time_prekeys[{index}]"), text)?;
        if !out.contains(&key) {
            out.push(key);
        }
    }
    Ok(out)
}

impl IdentityJson {
    /// The hex form of an identity.
    pub fn from_identity(identity: &IdentityPublicKey) -> Self {
        Self {
            signing_key: crate::hex::to_hex(&identity.signing_key),
            dh_key: crate::hex::to_hex(&identity.dh_key),
        }
    }

    /// The identity, with errors naming the field.
    pub fn parse(&self) -> Result<IdentityPublicKey, SealingError> {
        Ok(IdentityPublicKey {
            signing_key: hex_key("identity.signing_key", &self.signing_key)?,
            dh_key: hex_key("identity.dh_key", &self.dh_key)?,
        })
    }
}

impl PublishRequest {
    /// What `identity` publishes with `signed_prekey` (its public key) and
    /// `one_time_prekeys` (public keys).
    pub fn new(
        identity: &IdentityKeyPair,
        signed_prekey: &[u8; KEY_LEN],
        one_time_prekeys: &[[u8; KEY_LEN]],
    ) -> Self {
        Self {
            identity: IdentityJson::from_identity(&identity.public()),
            signed_prekey: SignedPrekeyJson {
                key: crate::hex::to_hex(signed_prekey),
                signature: crate::hex::to_hex(&identity.sign_prekey(signed_prekey)),
            },
            one_time_prekeys: one_time_prekeys
                .iter()
                .map(|key| crate::hex::to_hex(key))
                .collect(),
        }
    }

    /// Parses every key and checks the signed prekey's signature by the
    /// identity (strict Ed25519, weak identity keys refused). Errors name the
    /// field; a bad signature is [`SealingError::AuthenticationFailed`].
    pub fn verify(&self) -> Result<VerifiedPublish, SealingError> {
        let identity = self.identity.parse()?;
        let signed_prekey = hex_key("signed_prekey.key", &self.signed_prekey.key)?;
        let signed_prekey_signature =
            hex_signature("signed_prekey.signature", &self.signed_prekey.signature)?;
        PreKeyBundle {
            identity,
            signed_prekey,
            signed_prekey_signature: signed_prekey_signature.to_vec(),
            one_time_prekey: None,
        }
        .verify()?;
        Ok(VerifiedPublish {
            identity,
            signed_prekey,
            signed_prekey_signature,
            one_time_prekeys: parse_one_time_prekeys(&self.one_time_prekeys)?,
        })
    }
}

impl BundleJson {
    /// The hex form of a bundle.
    pub fn from_bundle(bundle: &PreKeyBundle) -> Self {
        Self {
            key_id: bundle.identity.key_id(),
            identity: IdentityJson::from_identity(&bundle.identity),
            signed_prekey: SignedPrekeyJson {
                key: crate::hex::to_hex(&bundle.signed_prekey),
                signature: crate::hex::to_hex(&bundle.signed_prekey_signature),
            },
            one_time_prekey: bundle.one_time_prekey.map(|key| crate::hex::to_hex(&key)),
        }
    }

    /// The bundle, its signature checked and its key id matching its identity:
    /// what a client runs before trusting a bundle the directory handed out.
    pub fn verify(&self) -> Result<PreKeyBundle, SealingError> {
        let bundle = PreKeyBundle {
            identity: self.identity.parse()?,
            signed_prekey: hex_key("signed_prekey.key", &self.signed_prekey.key)?,
            signed_prekey_signature: hex_signature(
                "signed_prekey.signature",
                &self.signed_prekey.signature,
            )?
            .to_vec(),
            one_time_prekey: self
                .one_time_prekey
                .as_deref()
                .map(|key| hex_key("one_time_prekey", key))
                .transpose()?,
        };
        bundle.verify()?;
        if bundle.identity.key_id() != self.key_id {
            return Err(SealingError::InvalidInput(
                "key_id does not match the identity keys".into(),
            ));
        }
        Ok(bundle)
    }
}

/// The bytes a request signature covers: a domain label, then method, path,
/// timestamp and the hex SHA-256 of the body, one per line.
///
/// The path is the request's path as sent (no query string: the directory's
/// routes take none). The body hash makes the message small whatever the body.
pub fn request_message(method: &str, path: &str, timestamp_ms: u64, body: &[u8]) -> Vec<u8> {
    let body_hash = crate::hex::to_hex(&Sha256::digest(body));
    format!(
        "{REQUEST_DOMAIN}\n{}\n{path}\n{timestamp_ms}\n{body_hash}",
        method.to_ascii_uppercase()
    )
    .into_bytes()
}

impl IdentityKeyPair {
    /// Signs a key-directory request; the hex signature goes in [`SIGNATURE_HEADER`].
    pub fn sign_request(&self, method: &str, path: &str, timestamp_ms: u64, body: &[u8]) -> String {
        let message = request_message(method, path, timestamp_ms, body);
        crate::hex::to_hex(&self.signing_key().sign(&message).to_bytes())
    }
}

/// Checks a request signature (hex) by `signing_key`: strict Ed25519, weak keys
/// refused. Says only *that* it failed, as an authentication check should.
pub fn verify_request(
    signing_key: &[u8; KEY_LEN],
    method: &str,
    path: &str,
    timestamp_ms: u64,
    body: &[u8],
    signature_hex: &str,
) -> Result<(), SealingError> {
    let signature = hex_signature(SIGNATURE_HEADER, signature_hex)?;
    let key = VerifyingKey::from_bytes(signing_key).map_err(|_| {
        SealingError::InvalidKey("identity signing key is not an Ed25519 point".into())
    })?;
    if key.is_weak() {
        return Err(SealingError::InvalidKey(
            "identity signing key is a low-order point".into(),
        ));
    }
    key.verify_strict(
        &request_message(method, path, timestamp_ms, body),
        &Signature::from_bytes(&signature),
    )
    .map_err(|_| SealingError::AuthenticationFailed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    #[test]
    fn publish_requests_verify_and_name_bad_fields() {
        let identity = IdentityKeyPair::generate().unwrap();
        let spk = keys::generate_key_pair().unwrap();
        let otpk = keys::generate_key_pair().unwrap();
        let request = PublishRequest::new(
            &identity,
            &spk.public_key,
            &[otpk.public_key, otpk.public_key],
        );
        let verified = request.verify().unwrap();
        assert_eq!(verified.identity, identity.public());
        assert_eq!(verified.one_time_prekeys, vec![otpk.public_key]);

        let mut forged = request.clone();
        forged.signed_prekey.key = crate::hex::to_hex(&otpk.public_key);
        assert_eq!(forged.verify(), Err(SealingError::AuthenticationFailed));

        let mut short = request.clone();
        short.identity.dh_key.truncate(62);
        let error = short.verify().unwrap_err().to_string();
        assert!(error.contains("identity.dh_key"), "{error}");

        let mut bad = request;
        bad.one_time_prekeys.push("zz".into());
        let error = bad.verify().unwrap_err().to_string();
        assert!(error.contains("one_time_prekeys[2]"), "{error}");
    }

    #[test]
    fn bundles_round_trip_and_refuse_a_wrong_key_id() {
        let identity = IdentityKeyPair::generate().unwrap();
        let spk = keys::generate_key_pair().unwrap();
        let bundle = identity.bundle(&spk, Some(&spk));
        let json = BundleJson::from_bundle(&bundle);
        assert_eq!(json.verify().unwrap(), bundle);
        let mut other = json;
        other.key_id = IdentityKeyPair::generate().unwrap().public().key_id();
        assert!(other.verify().is_err());
    }

    #[test]
    fn request_signatures_cover_method_path_time_and_body() {
        let identity = IdentityKeyPair::generate().unwrap();
        let key = identity.public().signing_key;
        let signature = identity.sign_request("put", "/keys/accounts/whatsapp/1", 1_000, b"{}");
        assert!(
            verify_request(
                &key,
                "PUT",
                "/keys/accounts/whatsapp/1",
                1_000,
                b"{}",
                &signature
            )
            .is_ok()
        );
        for (method, path, time, body) in [
            ("GET", "/keys/accounts/whatsapp/1", 1_000, &b"{}"[..]),
            ("PUT", "/keys/accounts/whatsapp/2", 1_000, b"{}"),
            ("PUT", "/keys/accounts/whatsapp/1", 1_001, b"{}"),
            ("PUT", "/keys/accounts/whatsapp/1", 1_000, b"{ }"),
        ] {
            assert_eq!(
                verify_request(&key, method, path, time, body, &signature),
                Err(SealingError::AuthenticationFailed),
                "{method} {path} {time}"
            );
        }
        let stranger = IdentityKeyPair::generate().unwrap().public().signing_key;
        assert!(
            verify_request(
                &stranger,
                "PUT",
                "/keys/accounts/whatsapp/1",
                1_000,
                b"{}",
                &signature
            )
            .is_err()
        );
        assert!(verify_request(&key, "PUT", "/", 1, b"", "00").is_err());
    }

    #[test]
    fn key_ids_are_stable_and_distinct() {
        let a = IdentityKeyPair::from_secrets([1; 32], [2; 32]).public();
        let b = IdentityKeyPair::from_secrets([1; 32], [3; 32]).public();
        assert_eq!(a.key_id(), a.key_id());
        assert_ne!(a.key_id(), b.key_id());
        assert!(a.key_id().starts_with("ik-") && a.key_id().len() == 35);
    }
}
