//! What the logs may say of a value that can carry personal data. On
//! WhatsApp an account id is a phone number, and a message id (`wamid.…`)
//! encodes the sender's number; outbox keys and refusals name both. Logs name
//! such values by a digest: keyed with a secret drawn when the process
//! starts, so the same value gives the same digest all through one run (the
//! lines about one message can be followed) while a digest cannot be undone
//! by hashing every phone number, nor matched across runs.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::sync::OnceLock;

/// The key of this run's digests.
fn key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(rand::random)
}

/// `value` as logs may name it: `#` and 16 hex digits.
pub fn digest(value: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key()) else {
        return "#".to_string();
    };
    mac.update(value.as_bytes());
    let bytes = mac.finalize().into_bytes();
    let mut text = String::with_capacity(17);
    text.push('#');
    for byte in &bytes[..8] {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_digest_is_stable_in_a_run_and_shows_nothing_of_the_value() {
        let key = "outbox:whatsapp:wamid.X:whatsapp:16505551234";
        let once = digest(key);
        assert_eq!(once, digest(key));
        assert_ne!(once, digest("outbox:whatsapp:wamid.X:whatsapp:16505551235"));
        assert_eq!(once.len(), 17);
        assert!(once.starts_with('#'));
        assert!(!once.contains("1650"));
    }
}
