//! The associated data that binds a sealed message to its envelope header.
//!
//! The pipeline routes on the envelope header and carries sealed content byte for
//! byte. Sealing the content with the header as AEAD associated data means a relay
//! that rewrites the message id, platform, sender, recipient or conversation
//! breaks decryption instead of silently redirecting a message.

/// Domain-separation prefix, so these bytes can never be confused with another AAD format.
const DOMAIN: &[u8] = b"switchboard/sealed-header/v1";

/// The associated data for a sealed message: an unambiguous encoding of its header.
///
/// Layout: the domain prefix, then each field in the order of the arguments as a
/// 4-byte big-endian length followed by its UTF-8 bytes. Length prefixes make the
/// encoding injective: `("ab", "c")` and `("a", "bc")` give different bytes.
pub fn sealed_header_aad(
    message_id: &str,
    platform: &str,
    sender: &str,
    recipient: &str,
    conversation: &str,
) -> Vec<u8> {
    let fields = [message_id, platform, sender, recipient, conversation].map(str::as_bytes);
    length_prefixed(DOMAIN, &fields)
}

/// `prefix`, then each field as a 4-byte big-endian length followed by its bytes.
///
/// The one encoding of several byte strings into associated data in this crate
/// (also used for the ratchet's message AAD).
pub(crate) fn length_prefixed(prefix: &[u8], fields: &[&[u8]]) -> Vec<u8> {
    let total = prefix.len() + fields.iter().map(|f| 4 + f.len()).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(prefix);
    for field in fields {
        // The fields are header values, keys and short associated data; one over
        // 4 GiB cannot occur, so saturating keeps the function total without a panic path.
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: [&str; 5] = [
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        "whatsapp",
        "16505551234",
        "psid-1254459154682919",
        "conv-42",
    ];

    fn aad(f: [&str; 5]) -> Vec<u8> {
        sealed_header_aad(f[0], f[1], f[2], f[3], f[4])
    }

    #[test]
    fn layout_is_prefix_then_length_prefixed_fields() {
        let bytes = sealed_header_aad("m", "wa", "", "r", "c");
        let mut expected = DOMAIN.to_vec();
        expected.extend_from_slice(&[0, 0, 0, 1, b'm', 0, 0, 0, 2, b'w', b'a', 0, 0, 0, 0]);
        expected.extend_from_slice(&[0, 0, 0, 1, b'r', 0, 0, 0, 1, b'c']);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn changing_any_field_changes_the_bytes() {
        let original = aad(BASE);
        for index in 0..BASE.len() {
            let mut changed = BASE;
            let replaced = format!("{}x", BASE[index]);
            changed[index] = &replaced;
            assert_ne!(aad(changed), original, "field {index} not bound");
        }
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_bytes() {
        let a = sealed_header_aad("ab", "c", "s", "r", "v");
        let b = sealed_header_aad("a", "bc", "s", "r", "v");
        assert_ne!(a, b);
        let swapped = sealed_header_aad("m", "p", "bob", "alice", "c");
        assert_ne!(swapped, sealed_header_aad("m", "p", "alice", "bob", "c"));
    }
}
