//! Sealed messages as they travel through the pipeline: a Double Ratchet
//! message plus a *sealed header* whose fields survive routing.
//!
//! The router rewrites the platform-level sender, recipient and conversation
//! of every envelope (each app sees pseudonymous handles), so those cannot be
//! the associated data: they differ on each side of the hop. What the AEAD binds
//! instead travels inside the sealed content, which translators carry byte for
//! byte, and is the same for sender and recipient:
//!
//! | field | what it is |
//! |---|---|
//! | message id | chosen by the sending client, unique per message |
//! | origin platform | the app the sender wrote from |
//! | sender key id | the sender's identity key id ([`IdentityPublicKey::key_id`](crate::session::IdentityPublicKey::key_id)) |
//! | recipient key id | the recipient's identity key id |
//! | conversation | the session id ([`conversation_id`]), the same on both sides |
//!
//! These five are the associated data ([`crate::aad::sealed_header_aad`]),
//! together with the initial X3DH header on a session's first messages; the
//! ratchet adds its own header (ratchet key, counters) and both identities.
//! Rewriting any of them breaks decryption.
//!
//! A [`SealedMessage`] maps field for field onto the WIT `sealed-content`
//! record (scheme `double-ratchet-v1`):
//!
//! * `sender-key-id`: the sender key id;
//! * `ephemeral-public-key`: the ratchet public key of this message;
//! * `session-header`: `SBSH1`, then six fields, each a 4-byte big-endian
//!   length and its bytes: message id, origin platform, recipient key id,
//!   conversation, the ratchet counters (PN and N, 4 bytes each), and the
//!   initial header ([`InitialHeader::to_bytes`]) or nothing;
//! * `ciphertext`: AES-256-GCM ciphertext and tag.
//!
//! Nothing in it names an account: key ids are hashes of public keys, and the
//! message id is random. The pipeline can still see who talks to whom (it
//! routes the envelope), when, and how long the ciphertext is.

use crate::aad::{length_prefixed, sealed_header_aad};
use crate::error::SealingError;
use crate::keys::{KEY_LEN, key_from_slice};
use crate::session::{HEADER_LEN, InitialHeader, RatchetMessage, Session};

const HEADER_MAGIC: &[u8] = b"SBSH1";
const ENVELOPE_AAD_DOMAIN: &[u8] = b"switchboard/sealed-envelope/v1";
/// The longest text field a sealed header accepts (bytes).
pub const MAX_FIELD_LEN: usize = 256;

/// The header fields a sealed message is bound to (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedHeader {
    /// Unique per message, chosen by the sender.
    pub message_id: String,
    /// The app the sender wrote from (`whatsapp`, `messenger`…).
    pub origin_platform: String,
    /// The sender's identity key id.
    pub sender_key_id: String,
    /// The recipient's identity key id.
    pub recipient_key_id: String,
    /// The session id, [`conversation_id`] of the session.
    pub conversation: String,
}

/// A sealed message in the shape of the WIT `sealed-content` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedMessage {
    /// The sender's identity key id.
    pub sender_key_id: String,
    /// The ratchet public key of this message (32 bytes).
    pub ephemeral_public_key: Vec<u8>,
    /// The rest of the sealed header (see the module doc).
    pub session_header: Vec<u8>,
    /// AES-256-GCM ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

/// A sealed message's header as read before decryption: not yet authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedHeader {
    /// The header fields, as the message claims them.
    pub header: SealedHeader,
    /// The X3DH header, on a session's first messages: the recipient needs it
    /// to set the session up ([`Session::respond`]) before it can open.
    pub initial: Option<InitialHeader>,
}

/// The conversation id of a session: its id in hex.
pub fn conversation_id(session: &Session) -> String {
    crate::hex::to_hex(&session.id())
}

impl SealedHeader {
    fn check(&self) -> Result<(), SealingError> {
        for (name, value) in [
            ("message id", &self.message_id),
            ("origin platform", &self.origin_platform),
            ("sender key id", &self.sender_key_id),
            ("recipient key id", &self.recipient_key_id),
            ("conversation", &self.conversation),
        ] {
            if value.is_empty() || value.len() > MAX_FIELD_LEN {
                return Err(SealingError::InvalidInput(format!(
                    "sealed header: {name} must have 1 to {MAX_FIELD_LEN} bytes, has {}",
                    value.len()
                )));
            }
        }
        Ok(())
    }
}

/// The associated data of a sealed message: its header and its initial header.
fn envelope_aad(header: &SealedHeader, initial: &[u8]) -> Vec<u8> {
    let header_aad = sealed_header_aad(
        &header.message_id,
        &header.origin_platform,
        &header.sender_key_id,
        &header.recipient_key_id,
        &header.conversation,
    );
    length_prefixed(ENVELOPE_AAD_DOMAIN, &[&header_aad, initial])
}

/// Seals `plaintext` as the next message of `session`.
///
/// `initial` is the header [`Session::initiate`] returned: the initiator sends
/// it with every message until the peer has answered, so that whichever
/// arrives first lets the peer set the session up. `header.conversation` must
/// be the session's [`conversation_id`].
pub fn seal(
    session: &mut Session,
    header: &SealedHeader,
    initial: Option<&InitialHeader>,
    plaintext: &[u8],
) -> Result<SealedMessage, SealingError> {
    header.check()?;
    if header.conversation != conversation_id(session) {
        return Err(SealingError::InvalidInput(
            "sealed header: conversation is not this session's id".into(),
        ));
    }
    let initial = initial.map(InitialHeader::to_bytes).unwrap_or_default();
    let message = session.encrypt(plaintext, &envelope_aad(header, &initial))?;
    let (ratchet_key, counters) = message.header.split_at(KEY_LEN);
    let session_header = length_prefixed(
        HEADER_MAGIC,
        &[
            header.message_id.as_bytes(),
            header.origin_platform.as_bytes(),
            header.recipient_key_id.as_bytes(),
            header.conversation.as_bytes(),
            counters,
            &initial,
        ],
    );
    Ok(SealedMessage {
        sender_key_id: header.sender_key_id.clone(),
        ephemeral_public_key: ratchet_key.to_vec(),
        session_header,
        ciphertext: message.ciphertext,
    })
}

/// The fields of a session header, in order.
struct Fields<'a> {
    message_id: &'a [u8],
    origin_platform: &'a [u8],
    recipient_key_id: &'a [u8],
    conversation: &'a [u8],
    counters: &'a [u8],
    initial: &'a [u8],
}

fn parse_fields(bytes: &[u8]) -> Result<Fields<'_>, SealingError> {
    let bad = |what: &str| SealingError::InvalidInput(format!("sealed header: bad {what}"));
    let mut rest = bytes
        .strip_prefix(HEADER_MAGIC)
        .ok_or_else(|| bad("magic"))?;
    let mut next = |name: &str| -> Result<&[u8], SealingError> {
        let (length, tail) = rest.split_first_chunk::<4>().ok_or_else(|| bad(name))?;
        let length = u32::from_be_bytes(*length) as usize;
        if tail.len() < length {
            return Err(bad(name));
        }
        let (value, tail) = tail.split_at(length);
        rest = tail;
        Ok(value)
    };
    let fields = Fields {
        message_id: next("message id")?,
        origin_platform: next("origin platform")?,
        recipient_key_id: next("recipient key id")?,
        conversation: next("conversation")?,
        counters: next("counters")?,
        initial: next("initial header")?,
    };
    if !rest.is_empty() {
        return Err(bad("length (trailing bytes)"));
    }
    Ok(fields)
}

fn text(name: &str, bytes: &[u8]) -> Result<String, SealingError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| SealingError::InvalidInput(format!("sealed header: {name} is not UTF-8")))
}

/// Reads a sealed message's header without decrypting it: which session it
/// belongs to, and the X3DH header when it opens one. Nothing here is
/// authenticated until [`open`] succeeds.
pub fn peek(message: &SealedMessage) -> Result<UnverifiedHeader, SealingError> {
    let fields = parse_fields(&message.session_header)?;
    let header = SealedHeader {
        message_id: text("message id", fields.message_id)?,
        origin_platform: text("origin platform", fields.origin_platform)?,
        sender_key_id: message.sender_key_id.clone(),
        recipient_key_id: text("recipient key id", fields.recipient_key_id)?,
        conversation: text("conversation", fields.conversation)?,
    };
    header.check()?;
    let initial = match fields.initial {
        [] => None,
        bytes => Some(InitialHeader::from_bytes(bytes)?),
    };
    Ok(UnverifiedHeader { header, initial })
}

/// Opens a sealed message of `session`: the header, now authenticated, and the
/// plaintext. On any error the session is left as it was.
pub fn open(
    session: &mut Session,
    message: &SealedMessage,
) -> Result<(SealedHeader, Vec<u8>), SealingError> {
    let UnverifiedHeader { header, .. } = peek(message)?;
    let fields = parse_fields(&message.session_header)?;
    let ratchet_key = key_from_slice("ephemeral public key", &message.ephemeral_public_key)?;
    if fields.counters.len() != HEADER_LEN - KEY_LEN {
        return Err(SealingError::InvalidInput(
            "sealed header: bad counters".into(),
        ));
    }
    let ratchet_message = RatchetMessage {
        header: [ratchet_key.as_slice(), fields.counters].concat(),
        ciphertext: message.ciphertext.clone(),
    };
    let plaintext = session.decrypt(&ratchet_message, &envelope_aad(&header, fields.initial))?;
    Ok((header, plaintext))
}
