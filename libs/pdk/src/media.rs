//! Media files: what `fetch-media` reports about the bytes it leads to.
//!
//! The host checks a downloaded file against the SHA-256 a platform
//! published, which `media-download.sha256` carries as lowercase hex.
//! Platforms publish it as hex (WhatsApp's media URL answer) or base64
//! (WhatsApp's webhooks): [`sha256_hex`] turns either into the one form.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};

/// `hash` as lowercase hex when it is a SHA-256 digest written as hex (64
/// digits, any case) or as base64 (standard or URL-safe alphabet, with or
/// without padding); `None` for anything else, such as a documentation
/// placeholder (`<HASH>`), so that a hash the host cannot check is left out
/// rather than failing every download.
pub fn sha256_hex(hash: &str) -> Option<String> {
    let hash = hash.trim();
    if hash.len() == 64 && hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Some(hash.to_ascii_lowercase());
    }
    let unpadded = hash.trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(unpadded)
        .or_else(|_| URL_SAFE_NO_PAD.decode(unpadded))
        .ok()?;
    if bytes.len() != 32 {
        return None;
    }
    Some(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    // SHA-256 of the empty string.
    const EMPTY_HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const EMPTY_BASE64: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

    #[test]
    fn hex_and_base64_give_the_same_lowercase_hex() {
        assert_eq!(sha256_hex(EMPTY_HEX).as_deref(), Some(EMPTY_HEX));
        assert_eq!(
            sha256_hex(&EMPTY_HEX.to_uppercase()).as_deref(),
            Some(EMPTY_HEX)
        );
        assert_eq!(sha256_hex(EMPTY_BASE64).as_deref(), Some(EMPTY_HEX));
        let url_safe = EMPTY_BASE64.replace('+', "-").replace('/', "_");
        assert_eq!(
            sha256_hex(url_safe.trim_end_matches('=')).as_deref(),
            Some(EMPTY_HEX)
        );
    }

    #[test]
    fn anything_else_is_left_out() {
        assert_eq!(sha256_hex("<HASH>"), None);
        assert_eq!(sha256_hex(""), None);
        // Base64 of 16 bytes: a digest, but not a SHA-256.
        assert_eq!(sha256_hex("AAAAAAAAAAAAAAAAAAAAAA=="), None);
        assert_eq!(sha256_hex(&EMPTY_HEX[1..]), None);
    }
}
