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
//! state. Decryption works on a copy of the state and commits only on success, so
//! a forged, replayed or tampered message changes nothing.
//!
//! The state is serialisable with serde so that a client can persist it.

use std::collections::VecDeque;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::aead;
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

/// The result of the agreement: the shared secret and the associated data
/// (both identities) that every later message is bound to.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AgreedSecret {
    /// SK: the 32-byte secret that seeds the ratchet's root key.
    pub shared_secret: [u8; KEY_LEN],
    /// AD = Encode(IK_A) || Encode(IK_B).
    pub associated_data: Vec<u8>,
}

fn x3dh_kdf(dhs: &[[u8; KEY_LEN]]) -> Result<[u8; KEY_LEN], SealingError> {
    // F = 32 0xFF bytes, for domain separation from XEdDSA as X3DH prescribes.
    let mut ikm = vec![0xffu8; KEY_LEN];
    for dh in dhs {
        ikm.extend_from_slice(dh);
    }
    let mut out = [0u8; KEY_LEN];
    let result = Hkdf::<Sha256>::new(Some(&[0u8; KEY_LEN]), &ikm).expand(X3DH_INFO, &mut out);
    ikm.zeroize();
    result.map_err(|_| SealingError::InvalidInput("HKDF output too long".into()))?;
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
    let mut dhs = vec![
        keys::diffie_hellman(&identity.dh.secret_key, &bundle.signed_prekey)?,
        keys::diffie_hellman(&ephemeral.secret_key, &bundle.identity.dh_key)?,
        keys::diffie_hellman(&ephemeral.secret_key, &bundle.signed_prekey)?,
    ];
    if let Some(one_time) = &bundle.one_time_prekey {
        dhs.push(keys::diffie_hellman(&ephemeral.secret_key, one_time)?);
    }
    let shared_secret = x3dh_kdf(&dhs);
    dhs.zeroize();
    let header = InitialHeader {
        identity: identity.public(),
        ephemeral_key: ephemeral.public_key,
        signed_prekey: bundle.signed_prekey,
        one_time_prekey: bundle.one_time_prekey,
    };
    let secret = AgreedSecret {
        shared_secret: shared_secret?,
        associated_data: x3dh_associated_data(identity.public(), bundle.identity),
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
    let mut dhs = vec![
        keys::diffie_hellman(&signed_prekey.secret_key, &header.identity.dh_key)?,
        keys::diffie_hellman(&identity.dh.secret_key, &header.ephemeral_key)?,
        keys::diffie_hellman(&signed_prekey.secret_key, &header.ephemeral_key)?,
    ];
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
    let shared_secret = x3dh_kdf(&dhs);
    dhs.zeroize();
    Ok(AgreedSecret {
        shared_secret: shared_secret?,
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

#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SkippedKey {
    ratchet_key: [u8; KEY_LEN],
    message_number: u32,
    message_key: [u8; KEY_LEN],
}

/// A Double Ratchet session with one peer. Serialisable so a client can persist it.
#[derive(Clone, Serialize, Deserialize)]
pub struct Session {
    dh_self: KeyPair,
    dh_remote: Option<[u8; KEY_LEN]>,
    root_key: [u8; KEY_LEN],
    send_chain: Option<[u8; KEY_LEN]>,
    recv_chain: Option<[u8; KEY_LEN]>,
    send_n: u32,
    recv_n: u32,
    previous_send_n: u32,
    skipped: VecDeque<SkippedKey>,
    associated_data: Vec<u8>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.root_key.zeroize();
        self.send_chain.zeroize();
        self.recv_chain.zeroize();
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("ratchet_key", &crate::hex::to_hex(&self.dh_self.public_key))
            .field("send_n", &self.send_n)
            .field("recv_n", &self.recv_n)
            .field("skipped", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

/// KDF_RK: HKDF-SHA256 with the root key as salt; returns (root key, chain key).
fn kdf_rk(
    root_key: &[u8; KEY_LEN],
    dh_out: &[u8; KEY_LEN],
) -> Result<([u8; KEY_LEN], [u8; KEY_LEN]), SealingError> {
    let mut okm = [0u8; 2 * KEY_LEN];
    Hkdf::<Sha256>::new(Some(root_key), dh_out)
        .expand(ROOT_INFO, &mut okm)
        .map_err(|_| SealingError::InvalidInput("HKDF output too long".into()))?;
    let mut root = [0u8; KEY_LEN];
    let mut chain = [0u8; KEY_LEN];
    root.copy_from_slice(&okm[..KEY_LEN]);
    chain.copy_from_slice(&okm[KEY_LEN..]);
    okm.zeroize();
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

/// The AEAD key and nonce for one message key (HKDF with a zero salt, as Signal
/// recommends; a message key is used once, so a derived nonce is safe).
fn message_key_material(
    message_key: &[u8; KEY_LEN],
) -> Result<([u8; KEY_LEN], [u8; aead::NONCE_LEN]), SealingError> {
    let mut okm = [0u8; KEY_LEN + aead::NONCE_LEN];
    Hkdf::<Sha256>::new(Some(&[0u8; KEY_LEN]), message_key)
        .expand(MESSAGE_INFO, &mut okm)
        .map_err(|_| SealingError::InvalidInput("HKDF output too long".into()))?;
    let mut key = [0u8; KEY_LEN];
    let mut nonce = [0u8; aead::NONCE_LEN];
    key.copy_from_slice(&okm[..KEY_LEN]);
    nonce.copy_from_slice(&okm[KEY_LEN..]);
    okm.zeroize();
    Ok((key, nonce))
}

/// The AEAD associated data: session AD, caller AD and header, each length-prefixed.
fn message_aad(session_ad: &[u8], caller_ad: &[u8], header: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + session_ad.len() + caller_ad.len() + header.len());
    for part in [session_ad, caller_ad, header] {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(part);
    }
    out
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
        Ok(Self::new_responder(
            &secret.shared_secret,
            signed_prekey.clone(),
            &secret.associated_data,
        ))
    }

    /// RatchetInitAlice: the initiator's state from SK and the responder's ratchet key
    /// (its signed prekey). A low-order ratchet key is refused.
    pub fn new_initiator(
        shared_secret: &[u8; KEY_LEN],
        remote_ratchet_key: &[u8; KEY_LEN],
        associated_data: &[u8],
    ) -> Result<Self, SealingError> {
        let dh_self = keys::generate_key_pair()?;
        let dh_out = keys::diffie_hellman(&dh_self.secret_key, remote_ratchet_key)?;
        let (root_key, send_chain) = kdf_rk(shared_secret, &dh_out)?;
        Ok(Self {
            dh_self,
            dh_remote: Some(*remote_ratchet_key),
            root_key,
            send_chain: Some(send_chain),
            recv_chain: None,
            send_n: 0,
            recv_n: 0,
            previous_send_n: 0,
            skipped: VecDeque::new(),
            associated_data: associated_data.to_vec(),
        })
    }

    /// RatchetInitBob: the responder's state from SK and its own ratchet key pair
    /// (the signed prekey). It can send once it has received a first message.
    pub fn new_responder(
        shared_secret: &[u8; KEY_LEN],
        ratchet_key_pair: KeyPair,
        associated_data: &[u8],
    ) -> Self {
        Self {
            dh_self: ratchet_key_pair,
            dh_remote: None,
            root_key: *shared_secret,
            send_chain: None,
            recv_chain: None,
            send_n: 0,
            recv_n: 0,
            previous_send_n: 0,
            skipped: VecDeque::new(),
            associated_data: associated_data.to_vec(),
        }
    }

    /// How many skipped-message keys the session holds (bounded by [`MAX_STORED_SKIPPED`]).
    pub fn skipped_key_count(&self) -> usize {
        self.skipped.len()
    }

    /// This side's current ratchet public key.
    pub fn ratchet_public_key(&self) -> [u8; KEY_LEN] {
        self.dh_self.public_key
    }

    /// Encrypts the next message; `ad` is bound as associated data with the header.
    pub fn encrypt(&mut self, plaintext: &[u8], ad: &[u8]) -> Result<RatchetMessage, SealingError> {
        let chain = self.send_chain.ok_or_else(|| {
            SealingError::InvalidInput(
                "the responder cannot send before it has received a message".into(),
            )
        })?;
        if self.send_n == u32::MAX {
            return Err(SealingError::RejectedMessage(
                "sending chain exhausted".into(),
            ));
        }
        let (next_chain, mut message_key) = kdf_ck(&chain)?;
        let header = MessageHeader {
            ratchet_key: self.dh_self.public_key,
            previous_chain_length: self.previous_send_n,
            message_number: self.send_n,
        }
        .to_bytes();
        let sealed =
            seal_with_message_key(&message_key, &self.associated_data, ad, &header, plaintext);
        message_key.zeroize();
        let ciphertext = sealed?;
        self.send_chain = Some(next_chain);
        self.send_n += 1;
        Ok(RatchetMessage {
            header: header.to_vec(),
            ciphertext,
        })
    }

    /// Decrypts a message; on any error the session is left exactly as it was.
    pub fn decrypt(
        &mut self,
        message: &RatchetMessage,
        ad: &[u8],
    ) -> Result<Vec<u8>, SealingError> {
        let header = MessageHeader::from_bytes(&message.header)?;
        let mut next = self.clone();
        let plaintext = next.decrypt_uncommitted(&header, message, ad)?;
        *self = next;
        Ok(plaintext)
    }

    fn decrypt_uncommitted(
        &mut self,
        header: &MessageHeader,
        message: &RatchetMessage,
        ad: &[u8],
    ) -> Result<Vec<u8>, SealingError> {
        if let Some(position) = self.skipped.iter().position(|k| {
            k.ratchet_key == header.ratchet_key && k.message_number == header.message_number
        }) {
            let plaintext = open_with_message_key(
                &self.skipped[position].message_key,
                &self.associated_data,
                ad,
                &message.header,
                &message.ciphertext,
            )?;
            self.skipped.remove(position);
            return Ok(plaintext);
        }
        if self.dh_remote != Some(header.ratchet_key) {
            self.skip_message_keys(header.previous_chain_length)?;
            self.dh_ratchet(&header.ratchet_key)?;
        }
        if header.message_number < self.recv_n {
            return Err(SealingError::RejectedMessage(
                "message already decrypted (replay)".into(),
            ));
        }
        self.skip_message_keys(header.message_number)?;
        let chain = self.recv_chain.ok_or_else(|| {
            SealingError::RejectedMessage("no receiving chain for this ratchet key".into())
        })?;
        let (next_chain, mut message_key) = kdf_ck(&chain)?;
        let opened = open_with_message_key(
            &message_key,
            &self.associated_data,
            ad,
            &message.header,
            &message.ciphertext,
        );
        message_key.zeroize();
        let plaintext = opened?;
        self.recv_chain = Some(next_chain);
        self.recv_n = self.recv_n.saturating_add(1);
        Ok(plaintext)
    }

    /// Stores the keys of messages `recv_n..until` of the current receiving chain.
    fn skip_message_keys(&mut self, until: u32) -> Result<(), SealingError> {
        let Some(mut chain) = self.recv_chain else {
            return Ok(());
        };
        let Some(remote) = self.dh_remote else {
            return Ok(());
        };
        if u64::from(until) > u64::from(self.recv_n) + u64::from(MAX_SKIP) {
            return Err(SealingError::RejectedMessage(format!(
                "message {until} is more than {MAX_SKIP} messages ahead"
            )));
        }
        while self.recv_n < until {
            let (next_chain, message_key) = kdf_ck(&chain)?;
            self.skipped.push_back(SkippedKey {
                ratchet_key: remote,
                message_number: self.recv_n,
                message_key,
            });
            if self.skipped.len() > MAX_STORED_SKIPPED {
                self.skipped.pop_front();
            }
            chain = next_chain;
            self.recv_n += 1;
        }
        self.recv_chain = Some(chain);
        Ok(())
    }

    /// A DH ratchet step on receiving a new ratchet key from the peer.
    fn dh_ratchet(&mut self, remote: &[u8; KEY_LEN]) -> Result<(), SealingError> {
        self.previous_send_n = self.send_n;
        self.send_n = 0;
        self.recv_n = 0;
        self.dh_remote = Some(*remote);
        let dh_recv = keys::diffie_hellman(&self.dh_self.secret_key, remote)?;
        let (root_key, recv_chain) = kdf_rk(&self.root_key, &dh_recv)?;
        self.recv_chain = Some(recv_chain);
        self.dh_self = keys::generate_key_pair()?;
        let dh_send = keys::diffie_hellman(&self.dh_self.secret_key, remote)?;
        let (root_key, send_chain) = kdf_rk(&root_key, &dh_send)?;
        self.root_key = root_key;
        self.send_chain = Some(send_chain);
        Ok(())
    }
}

fn seal_with_message_key(
    message_key: &[u8; KEY_LEN],
    session_ad: &[u8],
    caller_ad: &[u8],
    header: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealingError> {
    let (mut key, nonce) = message_key_material(message_key)?;
    let sealed = aead::seal(
        &key,
        &nonce,
        &message_aad(session_ad, caller_ad, header),
        plaintext,
    );
    key.zeroize();
    sealed
}

fn open_with_message_key(
    message_key: &[u8; KEY_LEN],
    session_ad: &[u8],
    caller_ad: &[u8],
    header: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, SealingError> {
    let (mut key, nonce) = message_key_material(message_key)?;
    let opened = aead::open(
        &key,
        &nonce,
        &message_aad(session_ad, caller_ad, header),
        ciphertext,
    );
    key.zeroize();
    opened
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
