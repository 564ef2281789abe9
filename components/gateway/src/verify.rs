//! The signature helpers this crate has always offered, kept for the callers
//! that name them (`gateway::verify::hub_signature` in tests and tools, the
//! host's native benchmark build). The checks live in the `webhook-signature`
//! library; new code uses it, or [`crate::ingest`], directly.

pub use webhook_signature::{HandshakeError, SignatureError, hub_signature};

/// Checks `X-Hub-Signature-256` (`header`, the one value a caller read)
/// against the HMAC-SHA256 of `body` keyed with `secret`, in constant time:
/// [`webhook_signature::verify_hub_signature`] with at most one value. A
/// caller that can see every value of the header should pass them all to
/// that function instead, so that duplicates are refused.
pub fn verify_hub_signature(
    secret: &str,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let values: Vec<&[u8]> = header.map(str::as_bytes).into_iter().collect();
    webhook_signature::verify_hub_signature(secret, body, &values)
}

/// The challenge to answer a `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
/// handshake with, `None` when it is refused:
/// [`webhook_signature::subscribe_challenge`] without the reason.
pub fn subscribe_challenge(query: &str, verify_token: &str) -> Option<String> {
    webhook_signature::subscribe_challenge(query, verify_token).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_helpers_are_the_librarys() {
        let body = br#"{"object":"page","entry":[]}"#;
        let good = hub_signature("s3cret", body);
        assert_eq!(verify_hub_signature("s3cret", body, Some(&good)), Ok(()));
        assert_eq!(
            verify_hub_signature("other", body, Some(&good)),
            Err(SignatureError::SignatureMismatch)
        );
        assert!(verify_hub_signature("s3cret", body, None).is_err());
        assert_eq!(
            verify_hub_signature("", body, Some(&good)),
            Err(SignatureError::NoSecret)
        );
        let query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
        assert_eq!(
            subscribe_challenge(query, "meatyhamhock").as_deref(),
            Some("1158201444")
        );
        assert_eq!(subscribe_challenge(query, "other"), None);
    }
}
