//! Sealed content carried as text, for apps whose send APIs take no opaque blobs.
//!
//! A translator that cannot attach bytes to a message sends sealed content as a
//! text message in this armor, and decodes it back byte for byte:
//!
//! ```text
//! -----BEGIN SWITCHBOARD SEALED MESSAGE-----
//! <base64 (standard, padded) of the layout below, wrapped at 64 columns>
//! -----END SWITCHBOARD SEALED MESSAGE-----
//! ```
//!
//! Layout: the magic bytes `SBS1`; the scheme as one byte (0 =
//! `hpke-x25519-aes256gcm`, 1 = `double-ratchet-v1`); then four fields, each a
//! big-endian `u32` length followed by that many bytes: sender key id (UTF-8),
//! ephemeral public key, session header, ciphertext.

use crate::json::Node;
use crate::types::{Content, DecodeError, FormattedText, SealedContent, SealingScheme};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const BEGIN: &str = "-----BEGIN SWITCHBOARD SEALED MESSAGE-----";
const END: &str = "-----END SWITCHBOARD SEALED MESSAGE-----";
const MAGIC: &[u8; 4] = b"SBS1";
const LINE_WIDTH: usize = 64;

/// Why a text that looks like armor is not valid armor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArmorError {
    /// The base64 between the markers does not decode.
    Base64,
    /// The bytes do not follow the layout (the part that is wrong).
    Layout(&'static str),
}

impl std::fmt::Display for ArmorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArmorError::Base64 => write!(f, "sealed message armor is not valid base64"),
            ArmorError::Layout(part) => write!(f, "sealed message armor has a bad {part}"),
        }
    }
}

/// Renders sealed content as armored text.
pub fn encode(sealed: &SealedContent) -> String {
    let mut bytes = Vec::with_capacity(
        21 + sealed.sender_key_id.len()
            + sealed.ephemeral_public_key.len()
            + sealed.session_header.len()
            + sealed.ciphertext.len(),
    );
    bytes.extend_from_slice(MAGIC);
    bytes.push(match sealed.scheme {
        SealingScheme::HpkeX25519Aes256gcm => 0,
        SealingScheme::DoubleRatchetV1 => 1,
    });
    for field in [
        sealed.sender_key_id.as_bytes(),
        &sealed.ephemeral_public_key,
        &sealed.session_header,
        &sealed.ciphertext,
    ] {
        bytes.extend_from_slice(&(field.len() as u32).to_be_bytes());
        bytes.extend_from_slice(field);
    }
    let encoded = STANDARD.encode(&bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE_WIDTH + 90);
    out.push_str(BEGIN);
    for line in encoded.as_bytes().chunks(LINE_WIDTH) {
        out.push('\n');
        out.push_str(&String::from_utf8_lossy(line));
    }
    out.push('\n');
    out.push_str(END);
    out
}

/// Whether `text` is armored sealed content (it may still be malformed).
pub fn is_armored(text: &str) -> bool {
    let text = text.trim();
    text.starts_with(BEGIN) && text.ends_with(END)
}

/// Reads armored text back into sealed content. `None` when the text is not
/// armor at all (an ordinary message), an error when it is armor but damaged.
pub fn decode(text: &str) -> Option<Result<SealedContent, ArmorError>> {
    let inner = text.trim().strip_prefix(BEGIN)?.strip_suffix(END)?;
    let compact: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    Some(
        STANDARD
            .decode(compact)
            .map_err(|_| ArmorError::Base64)
            .and_then(|bytes| parse_layout(&bytes)),
    )
}

/// The content of a received text message at `node`: sealed content when the
/// text is armor, otherwise the text as `plain` reads it (with the platform's
/// markup). Damaged armor is an invalid value at `node`, not plain text.
pub fn text_content(
    node: &Node<'_, '_>,
    plain: impl FnOnce(&str) -> FormattedText,
) -> Result<Content, DecodeError> {
    let text = node.as_str()?;
    match decode(text) {
        None => Ok(Content::Text(plain(text))),
        Some(Ok(sealed)) => Ok(Content::Sealed(sealed)),
        Some(Err(error)) => Err(node.invalid(&format!(
            "plain text or intact sealed-message armor ({error})"
        ))),
    }
}

fn parse_layout(bytes: &[u8]) -> Result<SealedContent, ArmorError> {
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or(ArmorError::Layout("magic"))?;
    let (&scheme, mut rest) = rest.split_first().ok_or(ArmorError::Layout("scheme"))?;
    let scheme = match scheme {
        0 => SealingScheme::HpkeX25519Aes256gcm,
        1 => SealingScheme::DoubleRatchetV1,
        _ => return Err(ArmorError::Layout("scheme")),
    };
    let mut field = |name: &'static str| -> Result<Vec<u8>, ArmorError> {
        let (length, tail) = rest
            .split_first_chunk::<4>()
            .ok_or(ArmorError::Layout(name))?;
        let length = u32::from_be_bytes(*length) as usize;
        if tail.len() < length {
            return Err(ArmorError::Layout(name));
        }
        let (value, tail) = tail.split_at(length);
        rest = tail;
        Ok(value.to_vec())
    };
    let sender_key_id = String::from_utf8(field("sender key id")?)
        .map_err(|_| ArmorError::Layout("sender key id"))?;
    let ephemeral_public_key = field("ephemeral public key")?;
    let session_header = field("session header")?;
    let ciphertext = field("ciphertext")?;
    if !rest.is_empty() {
        return Err(ArmorError::Layout("length (trailing bytes)"));
    }
    Ok(SealedContent {
        scheme,
        sender_key_id,
        ephemeral_public_key,
        session_header,
        ciphertext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SealedContent {
        SealedContent {
            scheme: SealingScheme::DoubleRatchetV1,
            sender_key_id: "alice-ik-1".into(),
            ephemeral_public_key: (0..32).collect(),
            session_header: vec![0, 0, 0, 7],
            ciphertext: (0..=255).cycle().take(700).collect(),
        }
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let text = encode(&sample());
        assert!(
            text.lines()
                .all(|line| line.len() <= LINE_WIDTH || line.starts_with("-----"))
        );
        assert!(is_armored(&text));
        assert_eq!(decode(&text), Some(Ok(sample())));
    }

    #[test]
    fn tells_plain_text_from_damaged_armor() {
        assert_eq!(decode("hello"), None);
        let damaged = format!("{BEGIN}\n!!!\n{END}");
        assert_eq!(decode(&damaged), Some(Err(ArmorError::Base64)));
        let truncated = format!(
            "{BEGIN}\n{}\n{END}",
            STANDARD.encode(b"SBS1\x01\0\0\0\x09ab")
        );
        assert_eq!(
            decode(&truncated),
            Some(Err(ArmorError::Layout("sender key id")))
        );
    }

    #[test]
    fn reads_text_nodes_as_text_or_sealed_content() -> Result<(), DecodeError> {
        let plain = |text: &str| FormattedText {
            body: text.to_uppercase(),
            spans: Vec::new(),
        };
        let value = serde_json::json!({
            "plain": "hi",
            "sealed": encode(&sample()),
            "damaged": format!("{BEGIN}\n!!!\n{END}"),
        });
        let root = Node::root(&value);
        assert_eq!(
            text_content(&root.field("plain")?, plain)?,
            Content::Text(plain("hi"))
        );
        assert_eq!(
            text_content(&root.field("sealed")?, plain)?,
            Content::Sealed(sample())
        );
        let Err(DecodeError::InvalidValue(error)) = text_content(&root.field("damaged")?, plain)
        else {
            unreachable!("damaged armor decoded")
        };
        assert_eq!(error.path, "/damaged");
        Ok(())
    }
}
