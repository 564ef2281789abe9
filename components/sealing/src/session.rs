//! Sessions after the first message: an X3DH-style agreement, then the Double Ratchet.
//!
//! **Agreement.** Each user has an [`IdentityKeyPair`]: an Ed25519 key that signs
//! and an X25519 key for Diffie-Hellman (kept separate rather than converting one
//! into the other as XEdDSA does: simpler, and each key has one job). A user
//! publishes a [`PreKeyBundle`] in the key directory: both identity public keys, a
//! signed prekey with its Ed25519 signature, and optionally a one-time prekey. The
//! initiator verifies the bundle, then both sides derive the same secret with
//! HKDF-SHA256 over DH1..DH4 as in Signal's X3DH:
//! DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B),
//! DH4 = DH(EK_A, OPK_B) when a one-time prekey was used.
//!
//! **Ratchet.** [`Session`] implements the Double Ratchet as Signal specifies it:
//! KDF_RK is HKDF-SHA256 keyed by the root key, KDF_CK is HMAC-SHA256 of the chain
//! key with constants 0x01 (message key) and 0x02 (next chain key), and each message
//! is sealed with AES-256-GCM under a key and nonce expanded from its message key.
//! The message header (ratchet public key, previous chain length, message number)
//! is bound as associated data together with the X3DH associated data (both
//! identities) and the caller's associated data. Keys of skipped messages are kept,
//! at most [`MAX_SKIP`] per chain and [`MAX_STORED_SKIPPED`] in all, so that late
//! messages still decrypt while a sender cannot make the receiver store unbounded
//! state. Decryption works on a copy of the ratchet state and commits it, with the
//! keys it skipped, only on success, so a forged, replayed or tampered message
//! changes nothing.
//!
//! The state is serialisable with serde so that a client can persist it;
//! [`Session::save`] and [`Session::restore`] give it a tagged, versioned
//! form, which the component exports too.

use std::collections::VecDeque;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::HkdfExtract;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::aad::length_prefixed;
use crate::aead::{Cipher, NONCE_LEN};
use crate::error::SealingError;
use crate::keys::{self, KEY_LEN, KeyPair};

/// How many message keys one chain may skip: a header further ahead is rejected.
pub const MAX_SKIP: u32 = 1000;
/// How many skipped message keys a session keeps in all; the oldest are dropped first.
pub const MAX_STORED_SKIPPED: usize = 2 * MAX_SKIP as usize;
/// Length of an encoded [`MessageHeader`]: 32-byte key, two 4-byte counters.
pub const HEADER_LEN: usize = KEY_LEN + 8;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

const SIGNED_PREKEY_DOMAIN: &[u8] = b"switchboard/signed-prekey/v1";
const X3DH_INFO: &[u8] = b"switchboard/x3dh/v1";
const ROOT_INFO: &[u8] = b"switchboard/ratchet/root/v1";
const MESSAGE_INFO: &[u8] = b"switchboard/ratchet/message/v1";
const SESSION_ID_INFO: &[u8] = b"switchboard/session-id/v1";
const KEY_ID_DOMAIN: &[u8] = b"switchboard/identity-key-id/v1";
/// What a state saved by [`Session::save`] starts with: what it is, and its
/// format's version.
pub const SAVED_STATE_TAG: &[u8] = b"switchboard/session-state/v1\n";
/// Length of a [`Session::id`].
pub const SESSION_ID_LEN: usize = 16;
/// Length of an encoded [`InitialHeader`] without a one-time prekey; one more
/// key (32 bytes) when it names one.
pub const INITIAL_HEADER_LEN: usize = 4 * KEY_LEN;

/// A user's long-term identity: an Ed25519 signing key and an X25519 DH key.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct IdentityKeyPair {
    signing_seed: [u8; KEY_LEN],
    dh: KeyPair,
}

impl std::fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// The public half of an [`IdentityKeyPair`], as published in the key directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityPublicKey {
    /// Ed25519 public key that signs prekeys.
    pub signing_key: [u8; KEY_LEN],
    /// X25519 public key used in DH1 and DH2.
    pub dh_key: [u8; KEY_LEN],
}

impl IdentityPublicKey {
    fn to_bytes(self) -> [u8; 2 * KEY_LEN] {
        let mut out = [0u8; 2 * KEY_LEN];
        out[..KEY_LEN].copy_from_slice(&self.signing_key);
        out[KEY_LEN..].copy_from_slice(&self.dh_key);
        out
    }

    /// The identity's short public name: `ik-` and 32 hex digits of a SHA-256
    /// over both keys. It names the identity in the key directory and in sealed
    /// headers without revealing the account (no phone number, no app id).
    /// Two identities share an id only if SHA-256 collides on 128 bits.
    pub fn key_id(&self) -> String {
        use sha2::Digest;
        let digest = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(self.to_bytes())
            .finalize();
        format!("ik-{}", crate::hex::to_hex(&digest[..16]))
    }
}

impl IdentityKeyPair {
    /// A fresh identity from the operating system's random source.
    pub fn generate() -> Result<Self, SealingError> {
        Ok(Self::from_secrets(
            keys::random_bytes::<KEY_LEN>()?,
            keys::random_bytes::<KEY_LEN>()?,
        ))
    }

    /// An identity from stored secrets: the Ed25519 seed and the X25519 secret key.
    pub fn from_secrets(signing_seed: [u8; KEY_LEN], dh_secret: [u8; KEY_LEN]) -> Self {
        Self {
            signing_seed,
            dh: KeyPair::from_secret(dh_secret),
        }
    }

    /// The public keys to publish.
    pub fn public(&self) -> IdentityPublicKey {
        IdentityPublicKey {
            signing_key: SigningKey::from_bytes(&self.signing_seed)
                .verifying_key()
                .to_bytes(),
            dh_key: self.dh.public_key,
        }
    }

    /// The Ed25519 signing key (for request signatures in [`crate::key_directory`]).
    pub(crate) fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.signing_seed)
    }

    /// Signs a prekey: the signature covers a domain label, this identity's DH key
    /// and the prekey, so a signature cannot be moved to another identity's bundle.
    pub fn sign_prekey(&self, prekey: &[u8; KEY_LEN]) -> [u8; SIGNATURE_LEN] {
        let message = signed_prekey_message(&self.dh.public_key, prekey);
        SigningKey::from_bytes(&self.signing_seed)
            .sign(&message)
            .to_bytes()
    }

    /// The bundle to publish for a signed prekey and an optional one-time prekey.
    pub fn bundle(
        &self,
        signed_prekey: &KeyPair,
        one_time_prekey: Option<&KeyPair>,
    ) -> PreKeyBundle {
        PreKeyBundle {
            identity: self.public(),
            signed_prekey: signed_prekey.public_key,
            signed_prekey_signature: self.sign_prekey(&signed_prekey.public_key).to_vec(),
            one_time_prekey: one_time_prekey.map(|k| k.public_key),
        }
    }
}

fn signed_prekey_message(identity_dh: &[u8; KEY_LEN], prekey: &[u8; KEY_LEN]) -> Vec<u8> {
    [SIGNED_PREKEY_DOMAIN, identity_dh, prekey].concat()
}

/// What a responder publishes so that others can start a session with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreKeyBundle {
    /// The responder's identity public keys.
    pub identity: IdentityPublicKey,
    /// The responder's current signed prekey (X25519 public key).
    pub signed_prekey: [u8; KEY_LEN],
    /// Ed25519 signature of the signed prekey by the identity signing key (64 bytes).
    pub signed_prekey_signature: Vec<u8>,
    /// A one-time prekey, if the directory still had one.
    pub one_time_prekey: Option<[u8; KEY_LEN]>,
}

impl PreKeyBundle {
    /// Checks the prekey signature (strict Ed25519 verification, weak keys refused).
    pub fn verify(&self) -> Result<(), SealingError> {
        let verifying_key = VerifyingKey::from_bytes(&self.identity.signing_key).map_err(|_| {
            SealingError::InvalidKey("identity signing key is not a valid Ed25519 point".into())
        })?;
        if verifying_key.is_weak() {
            return Err(SealingError::InvalidKey(
                "identity signing key is a low-order point".into(),
            ));
        }
        let signature = Signature::from_slice(&self.signed_prekey_signature).map_err(|_| {
            SealingError::InvalidInput(format!(
                "signed prekey signature: expected {SIGNATURE_LEN} bytes, got {}",
                self.signed_prekey_signature.len()
            ))
        })?;
        let message = signed_prekey_message(&self.identity.dh_key, &self.signed_prekey);
        verifying_key
            .verify_strict(&message, &signature)
            .map_err(|_| SealingError::AuthenticationFailed)
    }
}

/// What the initiator sends with its first ratchet message so the responder can
/// run the same agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitialHeader {
    /// The initiator's identity public keys.
    pub identity: IdentityPublicKey,
    /// The initiator's ephemeral X25519 public key (EK_A).
    pub ephemeral_key: [u8; KEY_LEN],
    /// Which signed prekey of the responder was used.
    pub signed_prekey: [u8; KEY_LEN],
    /// Which one-time prekey of the responder was used, if any.
    pub one_time_prekey: Option<[u8; KEY_LEN]>,
}

impl InitialHeader {
    /// The wire form: identity signing key, identity DH key, ephemeral key,
    /// signed prekey, then the one-time prekey when one was used
    /// ([`INITIAL_HEADER_LEN`] or 32 bytes more).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(INITIAL_HEADER_LEN + KEY_LEN);
        out.extend_from_slice(&self.identity.signing_key);
        out.extend_from_slice(&self.identity.dh_key);
        out.extend_from_slice(&self.ephemeral_key);
        out.extend_from_slice(&self.signed_prekey);
        if let Some(one_time) = &self.one_time_prekey {
            out.extend_from_slice(one_time);
        }
        out
    }

    /// Parses the wire form, refusing any length but the two valid ones.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealingError> {
        if bytes.len() != INITIAL_HEADER_LEN && bytes.len() != INITIAL_HEADER_LEN + KEY_LEN {
            return Err(SealingError::InvalidInput(format!(
                "initial header: expected {INITIAL_HEADER_LEN} or {} bytes, got {}",
                INITIAL_HEADER_LEN + KEY_LEN,
                bytes.len()
            )));
        }
        let key = |index: usize| {
            let mut out = [0u8; KEY_LEN];
            out.copy_from_slice(&bytes[index * KEY_LEN..(index + 1) * KEY_LEN]);
            out
        };
        Ok(Self {
            identity: IdentityPublicKey {
                signing_key: key(0),
                dh_key: key(1),
            },
            ephemeral_key: key(2),
            signed_prekey: key(3),
            one_time_prekey: (bytes.len() > INITIAL_HEADER_LEN).then(|| key(4)),
        })
    }
}

/// The result of the agreement: the shared secret and the associated data
/// (both identities) that every later message is bound to.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AgreedSecret {
    /// SK: the 32-byte secret that seeds the ratchet's root key.
    pub shared_secret: [u8; KEY_LEN],
    /// AD = Encode(IK_A) || Encode(IK_B).
    pub associated_data: Vec<u8>,
}

/// HKDF-SHA256 over the concatenation of `ikm`, expanded into `out`.
///
/// Every output of this module is far below HKDF's limit of 255 blocks, so the
/// error is only there to keep the function total.
fn hkdf<'a>(
    salt: &[u8],
    ikm: impl IntoIterator<Item = &'a [u8]>,
    info: &[u8],
    out: &mut [u8],
) -> Result<(), SealingError> {
    let mut extract = HkdfExtract::<Sha256>::new(Some(salt));
    for part in ikm {
        extract.input_ikm(part);
    }
    let (_, expander) = extract.finalize();
    expander
        .expand(info, out)
        .map_err(|_| SealingError::InvalidInput("HKDF output too long".into()))
}

/// SK = HKDF(salt = 0, F || DH1 || DH2 || DH3 [|| DH4]).
fn x3dh_kdf(dhs: &[[u8; KEY_LEN]]) -> Result<[u8; KEY_LEN], SealingError> {
    // F = 32 0xFF bytes, for domain separation from XEdDSA as X3DH prescribes.
    const F: [u8; KEY_LEN] = [0xff; KEY_LEN];
    let ikm = std::iter::once(&F).chain(dhs).map(|part| part.as_slice());
    let mut out = [0u8; KEY_LEN];
    hkdf(&[0u8; KEY_LEN], ikm, X3DH_INFO, &mut out)?;
    Ok(out)
}

fn x3dh_associated_data(initiator: IdentityPublicKey, responder: IdentityPublicKey) -> Vec<u8> {
    [initiator.to_bytes(), responder.to_bytes()].concat()
}

/// The initiator's side of the agreement: verifies the bundle, then derives SK.
pub fn x3dh_initiate(
    identity: &IdentityKeyPair,
    bundle: &PreKeyBundle,
) -> Result<(InitialHeader, AgreedSecret), SealingError> {
    let ephemeral = keys::generate_key_pair()?;
    x3dh_initiate_with_ephemeral(identity, bundle, &ephemeral)
}

fn x3dh_initiate_with_ephemeral(
    identity: &IdentityKeyPair,
    bundle: &PreKeyBundle,
    ephemeral: &KeyPair,
) -> Result<(InitialHeader, AgreedSecret), SealingError> {
    bundle.verify()?;
    let mut dhs = Zeroizing::new(vec![
        keys::diffie_hellman(&identity.dh.secret_key, &bundle.signed_prekey)?,
        keys::diffie_hellman(&ephemeral.secret_key, &bundle.identity.dh_key)?,
        keys::diffie_hellman(&ephemeral.secret_key, &bundle.signed_prekey)?,
    ]);
    if let Some(one_time) = &bundle.one_time_prekey {
        dhs.push(keys::diffie_hellman(&ephemeral.secret_key, one_time)?);
    }
    let public = identity.public();
    let header = InitialHeader {
        identity: public,
        ephemeral_key: ephemeral.public_key,
        signed_prekey: bundle.signed_prekey,
        one_time_prekey: bundle.one_time_prekey,
    };
    let secret = AgreedSecret {
        shared_secret: x3dh_kdf(&dhs)?,
        associated_data: x3dh_associated_data(public, bundle.identity),
    };
    Ok((header, secret))
}

/// The responder's side of the agreement, with the prekeys the header names.
pub fn x3dh_respond(
    identity: &IdentityKeyPair,
    signed_prekey: &KeyPair,
    one_time_prekey: Option<&KeyPair>,
    header: &InitialHeader,
) -> Result<AgreedSecret, SealingError> {
    if header.signed_prekey != signed_prekey.public_key {
        return Err(SealingError::InvalidKey(
            "the initial message names a different signed prekey".into(),
        ));
    }
    let mut dhs = Zeroizing::new(vec![
        keys::diffie_hellman(&signed_prekey.secret_key, &header.identity.dh_key)?,
        keys::diffie_hellman(&identity.dh.secret_key, &header.ephemeral_key)?,
        keys::diffie_hellman(&signed_prekey.secret_key, &header.ephemeral_key)?,
    ]);
    match (header.one_time_prekey, one_time_prekey) {
        (None, None) => {}
        (Some(named), Some(key)) if named == key.public_key => {
            dhs.push(keys::diffie_hellman(
                &key.secret_key,
                &header.ephemeral_key,
            )?);
        }
        (Some(_), Some(_)) => {
            return Err(SealingError::InvalidKey(
                "the initial message names a different one-time prekey".into(),
            ));
        }
        (Some(_), None) => {
            return Err(SealingError::InvalidInput(
                "the initial message used a one-time prekey that was not supplied".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(SealingError::InvalidInput(
                "a one-time prekey was supplied but the initial message used none".into(),
            ));
        }
    }
    Ok(AgreedSecret {
        shared_secret: x3dh_kdf(&dhs)?,
        associated_data: x3dh_associated_data(header.identity, identity.public()),
    })
}

/// The clear header of a ratchet message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageHeader {
    /// The sender's current ratchet public key.
    pub ratchet_key: [u8; KEY_LEN],
    /// Number of messages in the sender's previous sending chain (PN).
    pub previous_chain_length: u32,
    /// Number of this message in the current sending chain (N).
    pub message_number: u32,
}

impl MessageHeader {
    /// The 40-byte wire form: key, then PN and N as big-endian u32.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..KEY_LEN].copy_from_slice(&self.ratchet_key);
        out[KEY_LEN..KEY_LEN + 4].copy_from_slice(&self.previous_chain_length.to_be_bytes());
        out[KEY_LEN + 4..].copy_from_slice(&self.message_number.to_be_bytes());
        out
    }

    /// Parses the wire form, refusing any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SealingError> {
        let bytes = <&[u8; HEADER_LEN]>::try_from(bytes).map_err(|_| {
            SealingError::InvalidInput(format!(
                "ratchet header: expected {HEADER_LEN} bytes, got {}",
                bytes.len()
            ))
        })?;
        let mut ratchet_key = [0u8; KEY_LEN];
        ratchet_key.copy_from_slice(&bytes[..KEY_LEN]);
        let mut pn = [0u8; 4];
        pn.copy_from_slice(&bytes[KEY_LEN..KEY_LEN + 4]);
        let mut n = [0u8; 4];
        n.copy_from_slice(&bytes[KEY_LEN + 4..]);
        Ok(Self {
            ratchet_key,
            previous_chain_length: u32::from_be_bytes(pn),
            message_number: u32::from_be_bytes(n),
        })
    }
}

/// One encrypted ratchet message: the clear header bytes and the AEAD ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatchetMessage {
    /// The encoded [`MessageHeader`] (authenticated, not encrypted).
    pub header: Vec<u8>,
    /// AES-256-GCM ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SkippedKey {
    ratchet_key: [u8; KEY_LEN],
    message_number: u32,
    message_key: [u8; KEY_LEN],
}

/// A Double Ratchet session with one peer. Serialisable so a client can persist it.
///
/// Deliberately not `Clone`: two copies that both send would reuse message keys.
#[derive(Serialize, Deserialize)]
pub struct Session {
    ratchet: Ratchet,
    skipped: VecDeque<SkippedKey>,
    associated_data: Vec<u8>,
    /// Derived from the agreed secret: the same on both sides, different for
    /// every agreement, and revealing nothing about the secret.
    id: [u8; SESSION_ID_LEN],
}

/// The ratchet keys and counters: all a decryption changes besides the skipped keys.
/// Small, so that a decryption can work on a copy and commit it on success.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct Ratchet {
    dh_self: KeyPair,
    dh_remote: Option<[u8; KEY_LEN]>,
    root_key: [u8; KEY_LEN],
    send_chain: Option<[u8; KEY_LEN]>,
    recv_chain: Option<[u8; KEY_LEN]>,
    send_n: u32,
    recv_n: u32,
    previous_send_n: u32,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field(
                "ratchet_key",
                &crate::hex::to_hex(&self.ratchet.dh_self.public_key),
            )
            .field("send_n", &self.ratchet.send_n)
            .field("recv_n", &self.ratchet.recv_n)
            .field("skipped", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

/// KDF_RK: HKDF-SHA256 with the root key as salt; returns (root key, chain key).
fn kdf_rk(
    root_key: &[u8; KEY_LEN],
    dh_out: &[u8; KEY_LEN],
) -> Result<([u8; KEY_LEN], [u8; KEY_LEN]), SealingError> {
    let mut okm = Zeroizing::new([0u8; 2 * KEY_LEN]);
    hkdf(root_key, [dh_out.as_slice()], ROOT_INFO, okm.as_mut_slice())?;
    let mut root = [0u8; KEY_LEN];
    let mut chain = [0u8; KEY_LEN];
    root.copy_from_slice(&okm[..KEY_LEN]);
    chain.copy_from_slice(&okm[KEY_LEN..]);
    Ok((root, chain))
}

fn hmac_byte(key: &[u8; KEY_LEN], byte: u8) -> Result<[u8; KEY_LEN], SealingError> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|_| SealingError::InvalidKey("chain key length".into()))?;
    mac.update(&[byte]);
    let mut out = [0u8; KEY_LEN];
    out.copy_from_slice(&mac.finalize().into_bytes());
    Ok(out)
}

/// KDF_CK: HMAC-SHA256 of the chain key; returns (next chain key, message key).
fn kdf_ck(chain_key: &[u8; KEY_LEN]) -> Result<([u8; KEY_LEN], [u8; KEY_LEN]), SealingError> {
    Ok((hmac_byte(chain_key, 0x02)?, hmac_byte(chain_key, 0x01)?))
}

/// The AEAD and nonce for one message key (HKDF with a zero salt, as Signal
/// recommends; a message key is used once, so a derived nonce is safe).
fn message_cipher(message_key: &[u8; KEY_LEN]) -> Result<(Cipher, [u8; NONCE_LEN]), SealingError> {
    let mut okm = Zeroizing::new([0u8; KEY_LEN + NONCE_LEN]);
    let salt = [0u8; KEY_LEN];
    hkdf(
        &salt,
        [message_key.as_slice()],
        MESSAGE_INFO,
        okm.as_mut_slice(),
    )?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&okm[KEY_LEN..]);
    Ok((Cipher::new(&okm[..KEY_LEN])?, nonce))
}

/// The AEAD associated data: session AD, caller AD and header, each length-prefixed.
fn message_aad(session_ad: &[u8], caller_ad: &[u8], header: &[u8]) -> Vec<u8> {
    length_prefixed(b"", &[session_ad, caller_ad, header])
}

impl Session {
    /// Starts a session as the initiator: verifies the bundle, runs X3DH, and
    /// returns the session with the header the responder needs.
    pub fn initiate(
        identity: &IdentityKeyPair,
        bundle: &PreKeyBundle,
    ) -> Result<(Self, InitialHeader), SealingError> {
        let (header, secret) = x3dh_initiate(identity, bundle)?;
        let session = Self::new_initiator(
            &secret.shared_secret,
            &bundle.signed_prekey,
            &secret.associated_data,
        )?;
        Ok((session, header))
    }

    /// Accepts a session as the responder, from the initiator's [`InitialHeader`].
    pub fn respond(
        identity: &IdentityKeyPair,
        signed_prekey: &KeyPair,
        one_time_prekey: Option<&KeyPair>,
        header: &InitialHeader,
    ) -> Result<Self, SealingError> {
        let secret = x3dh_respond(identity, signed_prekey, one_time_prekey, header)?;
        Self::new_responder(
            &secret.shared_secret,
            signed_prekey.clone(),
            &secret.associated_data,
        )
    }

    /// RatchetInitAlice: the initiator's state from SK and the responder's ratchet key
    /// (its signed prekey). A low-order ratchet key is refused.
    pub fn new_initiator(
        shared_secret: &[u8; KEY_LEN],
        remote_ratchet_key: &[u8; KEY_LEN],
        associated_data: &[u8],
    ) -> Result<Self, SealingError> {
        let dh_self = keys::generate_key_pair()?;
        let dh_out = Zeroizing::new(keys::diffie_hellman(
            &dh_self.secret_key,
            remote_ratchet_key,
        )?);
        let (root_key, send_chain) = kdf_rk(shared_secret, &dh_out)?;
        Self::new(
            shared_secret,
            Ratchet {
                dh_self,
                dh_remote: Some(*remote_ratchet_key),
                root_key,
                send_chain: Some(send_chain),
                recv_chain: None,
                send_n: 0,
                recv_n: 0,
                previous_send_n: 0,
            },
            associated_data,
        )
    }

    /// RatchetInitBob: the responder's state from SK and its own ratchet key pair
    /// (the signed prekey). It can send once it has received a first message.
    pub fn new_responder(
        shared_secret: &[u8; KEY_LEN],
        ratchet_key_pair: KeyPair,
        associated_data: &[u8],
    ) -> Result<Self, SealingError> {
        Self::new(
            shared_secret,
            Ratchet {
                dh_self: ratchet_key_pair,
                dh_remote: None,
                root_key: *shared_secret,
                send_chain: None,
                recv_chain: None,
                send_n: 0,
                recv_n: 0,
                previous_send_n: 0,
            },
            associated_data,
        )
    }

    fn new(
        shared_secret: &[u8; KEY_LEN],
        ratchet: Ratchet,
        associated_data: &[u8],
    ) -> Result<Self, SealingError> {
        let mut id = [0u8; SESSION_ID_LEN];
        hkdf(
            &[0u8; KEY_LEN],
            [shared_secret.as_slice()],
            SESSION_ID_INFO,
            &mut id,
        )?;
        Ok(Self {
            ratchet,
            skipped: VecDeque::new(),
            associated_data: associated_data.to_vec(),
            id,
        })
    }

    /// The session's id, the same on both sides: what a sealed header names as
    /// its conversation ([`crate::envelope`]).
    pub fn id(&self) -> [u8; SESSION_ID_LEN] {
        self.id
    }

    /// The whole state (ratchet keys, skipped-message keys, associated data),
    /// to keep between runs of a client: [`SAVED_STATE_TAG`] then JSON. It
    /// holds secret keys, so it is stored as the identity secrets are. Save
    /// after every encrypt and decrypt and restore only the latest save: an
    /// older copy would send with message keys already used.
    pub fn save(&self) -> Result<Zeroizing<Vec<u8>>, SealingError> {
        let mut state = Zeroizing::new(SAVED_STATE_TAG.to_vec());
        serde_json::to_writer(&mut *state, self)
            .map_err(|_| SealingError::InvalidInput("the session state cannot be saved".into()))?;
        Ok(state)
    }

    /// A session from a state [`Session::save`] wrote. A state from another
    /// format version, or one that is malformed or holds more skipped keys
    /// than a session keeps, is refused (`invalid-input`, without echoing any
    /// of its bytes).
    pub fn restore(state: &[u8]) -> Result<Self, SealingError> {
        let json = state.strip_prefix(SAVED_STATE_TAG).ok_or_else(|| {
            SealingError::InvalidInput(
                "not a saved session state of this version (it must start with switchboard/session-state/v1)".into(),
            )
        })?;
        let session: Session = serde_json::from_slice(json).map_err(|_| {
            SealingError::InvalidInput("the saved session state is malformed".into())
        })?;
        if session.skipped.len() > MAX_STORED_SKIPPED {
            return Err(SealingError::InvalidInput(format!(
                "the saved session state holds more than {MAX_STORED_SKIPPED} skipped-message keys"
            )));
        }
        Ok(session)
    }

    /// How many skipped-message keys the session holds (bounded by [`MAX_STORED_SKIPPED`]).
    pub fn skipped_key_count(&self) -> usize {
        self.skipped.len()
    }

    /// This side's current ratchet public key.
    pub fn ratchet_public_key(&self) -> [u8; KEY_LEN] {
        self.ratchet.dh_self.public_key
    }

    /// Encrypts the next message; `ad` is bound as associated data with the header.
    pub fn encrypt(&mut self, plaintext: &[u8], ad: &[u8]) -> Result<RatchetMessage, SealingError> {
        let ratchet = &mut self.ratchet;
        let chain = ratchet.send_chain.ok_or_else(|| {
            SealingError::InvalidInput(
                "the responder cannot send before it has received a message".into(),
            )
        })?;
        if ratchet.send_n == u32::MAX {
            return Err(SealingError::RejectedMessage(
                "sending chain exhausted".into(),
            ));
        }
        let (next_chain, message_key) = kdf_ck(&chain)?;
        let message_key = Zeroizing::new(message_key);
        let header = MessageHeader {
            ratchet_key: ratchet.dh_self.public_key,
            previous_chain_length: ratchet.previous_send_n,
            message_number: ratchet.send_n,
        }
        .to_bytes();
        let (cipher, nonce) = message_cipher(&message_key)?;
        let aad = message_aad(&self.associated_data, ad, &header);
        let ciphertext = cipher.seal(&nonce, &aad, plaintext)?;
        ratchet.send_chain = Some(next_chain);
        ratchet.send_n += 1;
        Ok(RatchetMessage {
            header: header.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts a message; on any error the session is left exactly as it was.
    ///
    /// The ratchet steps run on a copy of the ratchet state and the keys of
    /// skipped messages are collected aside; both are committed only once the
    /// message has authenticated.
    pub fn decrypt(
        &mut self,
        message: &RatchetMessage,
        ad: &[u8],
    ) -> Result<Vec<u8>, SealingError> {
        let header = MessageHeader::from_bytes(&message.header)?;
        let aad = message_aad(&self.associated_data, ad, &message.header);
        if let Some(position) = self.skipped.iter().position(|k| {
            k.ratchet_key == header.ratchet_key && k.message_number == header.message_number
        }) {
            let plaintext = open_with_message_key(
                &self.skipped[position].message_key,
                &aad,
                &message.ciphertext,
            )?;
            self.skipped.remove(position);
            return Ok(plaintext);
        }
        let mut ratchet = self.ratchet.clone();
        let mut newly_skipped = Vec::new();
        if ratchet.dh_remote != Some(header.ratchet_key) {
            ratchet.skip_message_keys(header.previous_chain_length, &mut newly_skipped)?;
            ratchet.dh_ratchet(&header.ratchet_key)?;
        }
        if header.message_number < ratchet.recv_n {
            return Err(SealingError::RejectedMessage(
                "message already decrypted (replay)".into(),
            ));
        }
        ratchet.skip_message_keys(header.message_number, &mut newly_skipped)?;
        let message_key = ratchet.next_receiving_key()?;
        let plaintext = open_with_message_key(&message_key, &aad, &message.ciphertext)?;
        self.ratchet = ratchet;
        self.skipped.extend(newly_skipped);
        let excess = self.skipped.len().saturating_sub(MAX_STORED_SKIPPED);
        // The oldest keys go first.
        self.skipped.drain(..excess);
        Ok(plaintext)
    }
}

impl Ratchet {
    /// The message key of message `recv_n` of the receiving chain; advances the chain.
    fn next_receiving_key(&mut self) -> Result<Zeroizing<[u8; KEY_LEN]>, SealingError> {
        let chain = self.recv_chain.ok_or_else(|| {
            SealingError::RejectedMessage("no receiving chain for this ratchet key".into())
        })?;
        let next_n = self
            .recv_n
            .checked_add(1)
            .ok_or_else(|| SealingError::RejectedMessage("receiving chain exhausted".into()))?;
        let (next_chain, message_key) = kdf_ck(&chain)?;
        self.recv_chain = Some(next_chain);
        self.recv_n = next_n;
        Ok(Zeroizing::new(message_key))
    }

    /// Adds the keys of messages `recv_n..until` of the receiving chain to `skipped`,
    /// refusing to skip more than [`MAX_SKIP`] of them.
    fn skip_message_keys(
        &mut self,
        until: u32,
        skipped: &mut Vec<SkippedKey>,
    ) -> Result<(), SealingError> {
        let (Some(ratchet_key), Some(_)) = (self.dh_remote, self.recv_chain) else {
            return Ok(());
        };
        if u64::from(until) > u64::from(self.recv_n) + u64::from(MAX_SKIP) {
            return Err(SealingError::RejectedMessage(format!(
                "message {until} is more than {MAX_SKIP} messages ahead"
            )));
        }
        while self.recv_n < until {
            let message_number = self.recv_n;
            let message_key = self.next_receiving_key()?;
            skipped.push(SkippedKey {
                ratchet_key,
                message_number,
                message_key: *message_key,
            });
        }
        Ok(())
    }

    /// A DH ratchet step on receiving a new ratchet key from the peer.
    fn dh_ratchet(&mut self, remote: &[u8; KEY_LEN]) -> Result<(), SealingError> {
        self.previous_send_n = self.send_n;
        self.send_n = 0;
        self.recv_n = 0;
        self.dh_remote = Some(*remote);
        let dh_recv = Zeroizing::new(keys::diffie_hellman(&self.dh_self.secret_key, remote)?);
        let (root_key, recv_chain) = kdf_rk(&self.root_key, &dh_recv)?;
        self.recv_chain = Some(recv_chain);
        self.dh_self = keys::generate_key_pair()?;
        let dh_send = Zeroizing::new(keys::diffie_hellman(&self.dh_self.secret_key, remote)?);
        let (root_key, send_chain) = kdf_rk(&root_key, &dh_send)?;
        self.root_key = root_key;
        self.send_chain = Some(send_chain);
        Ok(())
    }
}

fn open_with_message_key(
    message_key: &[u8; KEY_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SealingError> {
    let (cipher, nonce) = message_cipher(message_key)?;
    cipher.open(&nonce, aad, ciphertext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_refuses_wrong_length() {
        let header = MessageHeader {
            ratchet_key: [3u8; 32],
            previous_chain_length: 7,
            message_number: 0x0102_0304,
        };
        let bytes = header.to_bytes();
        assert_eq!(&bytes[32..], &[0, 0, 0, 7, 1, 2, 3, 4]);
        assert_eq!(MessageHeader::from_bytes(&bytes).unwrap(), header);
        assert!(matches!(
            MessageHeader::from_bytes(&bytes[..39]),
            Err(SealingError::InvalidInput(_))
        ));
    }

    #[test]
    fn chain_kdf_uses_distinct_constants() {
        let (next, message) = kdf_ck(&[5u8; 32]).unwrap();
        assert_ne!(next, message);
        assert_ne!(next, [5u8; 32]);
        // Deterministic: the same chain key gives the same keys.
        assert_eq!(kdf_ck(&[5u8; 32]).unwrap(), (next, message));
        // Signal's constants, not merely distinct ones: message key = HMAC(ck, 0x01),
        // next chain key = HMAC(ck, 0x02) (expected values from Python's `hmac`).
        assert_eq!(
            crate::hex::to_hex(&message),
            "0d8b1b5bd928a4cfab6708b6af6fe15d5d41b3268e6dd8ed9c5b0ecde10ca4a2"
        );
        assert_eq!(
            crate::hex::to_hex(&next),
            "d1d4e2a94a095ae5327b9a660032c22225ae7710823f997cc250f31e5d3aeb50"
        );
    }

    #[test]
    fn receiving_counter_overflow_is_refused() {
        let mut ratchet = Ratchet {
            dh_self: KeyPair::from_secret([1u8; 32]),
            dh_remote: Some([9u8; 32]),
            root_key: [0u8; 32],
            send_chain: None,
            recv_chain: Some([2u8; 32]),
            send_n: 0,
            recv_n: u32::MAX,
            previous_send_n: 0,
        };
        assert!(matches!(
            ratchet.next_receiving_key(),
            Err(SealingError::RejectedMessage(_))
        ));
        assert_eq!(ratchet.recv_chain, Some([2u8; 32]));
        assert_eq!(ratchet.recv_n, u32::MAX);
        ratchet.recv_n = u32::MAX - 1;
        let key = ratchet.next_receiving_key().unwrap();
        assert_eq!(*key, kdf_ck(&[2u8; 32]).unwrap().1);
        assert_eq!(ratchet.recv_n, u32::MAX);
    }

    #[test]
    fn x3dh_with_fixed_ephemeral_matches_responder() {
        let alice = IdentityKeyPair::from_secrets([1u8; 32], [2u8; 32]);
        let bob = IdentityKeyPair::from_secrets([3u8; 32], [4u8; 32]);
        let spk = KeyPair::from_secret([5u8; 32]);
        let opk = KeyPair::from_secret([6u8; 32]);
        let ephemeral = KeyPair::from_secret([7u8; 32]);
        let bundle = bob.bundle(&spk, Some(&opk));
        let (header, a) = x3dh_initiate_with_ephemeral(&alice, &bundle, &ephemeral).unwrap();
        let b = x3dh_respond(&bob, &spk, Some(&opk), &header).unwrap();
        assert_eq!(a.shared_secret, b.shared_secret);
        assert_eq!(a.associated_data, b.associated_data);
        assert_eq!(a.associated_data.len(), 128);
        // Without the one-time prekey the secret differs (DH4 is part of it).
        let bundle3 = bob.bundle(&spk, None);
        let (_, without) = x3dh_initiate_with_ephemeral(&alice, &bundle3, &ephemeral).unwrap();
        assert_ne!(without.shared_secret, a.shared_secret);
    }
}
