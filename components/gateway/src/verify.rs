//! Webhook authentication: Meta's `X-Hub-Signature-256` and the `hub.challenge`
//! subscribe handshake. Plain Rust so it is tested natively.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Why a webhook's signature was not accepted. Each is answered 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    Missing,
    /// The header is not `sha256=` followed by 64 hex digits.
    Malformed,
    /// The HMAC does not match the body: wrong secret or altered body.
    Mismatch,
    /// The gateway has no app secret configured, so it cannot check anything.
    NoSecret,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => "missing X-Hub-Signature-256 header",
            SignatureError::Malformed => "X-Hub-Signature-256 is not `sha256=<64 hex digits>`",
            SignatureError::Mismatch => "X-Hub-Signature-256 does not match the body",
            SignatureError::NoSecret => "no app secret is configured for this platform",
        })
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(text.get(index..index + 2)?, 16).ok())
        .collect()
}

/// Checks `X-Hub-Signature-256: sha256=<hex>` against the HMAC-SHA256 of the raw
/// body keyed with the app secret, in constant time.
pub fn verify_hub_signature(
    secret: &str,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let expected = header
        .trim()
        .strip_prefix("sha256=")
        .and_then(decode_hex)
        .filter(|digest| digest.len() == 32)
        .ok_or(SignatureError::Malformed)?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::NoSecret)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The `X-Hub-Signature-256` value for a body: what a platform would send.
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// The answer to a `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
/// handshake: the challenge when the token matches, `None` otherwise.
pub fn subscribe_challenge(query: &str, verify_token: &str) -> Option<String> {
    let mut mode = None;
    let mut token = None;
    let mut challenge = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "hub.mode" => mode = Some(value),
            "hub.verify_token" => token = Some(value),
            "hub.challenge" => challenge = Some(value),
            _ => {}
        }
    }
    let accepted = mode.as_deref() == Some("subscribe")
        && !verify_token.is_empty()
        && token.as_deref() == Some(verify_token);
    challenge.filter(|_| accepted)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' => {
                let decoded = text
                    .get(index + 1..index + 3)
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                if let Some(byte) = decoded {
                    out.push(byte);
                    index += 2;
                } else {
                    out.push(b'%');
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_right_signature() {
        let body = br#"{"object":"page","entry":[]}"#;
        let good = hub_signature("s3cret", body);
        assert_eq!(good.len(), "sha256=".len() + 64);
        assert_eq!(verify_hub_signature("s3cret", body, Some(&good)), Ok(()));
        assert_eq!(
            verify_hub_signature("other", body, Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_hub_signature("s3cret", b"{}", Some(&good)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_hub_signature("s3cret", body, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_hub_signature("s3cret", body, Some("sha1=abcd")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_hub_signature("", body, Some(&good)),
            Err(SignatureError::NoSecret)
        );
    }

    #[test]
    fn known_hmac_value() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hub_signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn handshake_echoes_the_challenge_for_the_right_token() {
        let query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
        assert_eq!(
            subscribe_challenge(query, "meatyhamhock").as_deref(),
            Some("1158201444")
        );
        assert_eq!(subscribe_challenge(query, "other"), None);
        assert_eq!(subscribe_challenge(query, ""), None);
        assert_eq!(
            subscribe_challenge(
                "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=t",
                "t"
            ),
            None
        );
        assert_eq!(
            subscribe_challenge(
                "hub.mode=subscribe&hub.challenge=a%20b&hub.verify_token=t%21",
                "t!"
            )
            .as_deref(),
            Some("a b")
        );
    }
}
