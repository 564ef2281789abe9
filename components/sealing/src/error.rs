//! The one error type of the crate.
//!
//! Every fallible operation returns [`SealingError`]. The variants mirror the
//! `sealing-error` variant of `wit/sealing.wit`, so the component shell maps one
//! onto the other without losing anything, and none of them says more than it
//! must: an authentication failure never tells which check failed.

use std::fmt;

/// Why a sealing operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealingError {
    /// A key had the wrong length or was a low-order point (all-zero shared secret).
    InvalidKey(String),
    /// Authentication failed: wrong key, tampered data or tampered associated data.
    AuthenticationFailed,
    /// A ratchet message was replayed, too far ahead, or a counter would overflow.
    RejectedMessage(String),
    /// An argument was malformed (bad hex, bad header, inconsistent parameters…).
    InvalidInput(String),
}

impl fmt::Display for SealingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidKey(why) => write!(f, "invalid key: {why}"),
            Self::AuthenticationFailed => f.write_str("authentication failed"),
            Self::RejectedMessage(why) => write!(f, "rejected message: {why}"),
            Self::InvalidInput(why) => write!(f, "invalid input: {why}"),
        }
    }
}

impl std::error::Error for SealingError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_clear_line() {
        let all = [
            SealingError::InvalidKey("pk-r: expected 32 bytes".into()),
            SealingError::AuthenticationFailed,
            SealingError::RejectedMessage("replayed".into()),
            SealingError::InvalidInput("empty psk".into()),
        ];
        let texts: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(texts[0], "invalid key: pk-r: expected 32 bytes");
        assert_eq!(texts[1], "authentication failed");
        assert_eq!(texts[2], "rejected message: replayed");
        assert_eq!(texts[3], "invalid input: empty psk");
        assert!(texts.iter().all(|t| !t.contains('\n')));
    }
}
