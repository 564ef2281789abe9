//! Meta's `X-Hub-Signature-256`: the HMAC-SHA256 of the raw body keyed with
//! the app secret, sent as `sha256=<64 lower-case hex digits>` (WhatsApp Cloud
//! API, Messenger and Instagram webhooks all sign this way).

use crate::{Header, SignatureError, configured, single};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What a well-formed `X-Hub-Signature-256` value looks like, for errors.
const EXPECTED: &str = "`sha256=` followed by 64 hex digits";

/// An HMAC-SHA256 keyed with `secret` (any length is a valid HMAC key, so
/// `None` never happens in practice; callers fail closed on it all the same).
fn mac(secret: &[u8]) -> Option<Hmac<Sha256>> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()
}

/// Checks `X-Hub-Signature-256` against the HMAC-SHA256 of `body` keyed with
/// the app `secret`, in constant time (`hmac`'s `verify_slice`).
///
/// `values` are all the `X-Hub-Signature-256` values the request carried;
/// exactly one is accepted. Its value must be exactly `sha256=` followed by
/// 64 hex digits (either case), nothing before or after: Meta sends nothing
/// else, and anything looser is room for a parser mismatch.
pub fn verify_hub_signature(
    secret: &str,
    body: &[u8],
    values: &[&[u8]],
) -> Result<(), SignatureError> {
    let secret = configured(secret)?;
    let value = single(Header::HubSignature, values)?;
    let expected = parse(value).ok_or(SignatureError::Malformed {
        header: Header::HubSignature,
        expected: EXPECTED,
    })?;
    let mut mac = mac(secret).ok_or(SignatureError::SignatureMismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::SignatureMismatch)
}

/// The `X-Hub-Signature-256` value Meta would send for `body` signed with
/// `secret`: for tests, load generators and tools that post webhooks.
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    let Some(mut mac) = mac(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut value = String::with_capacity("sha256=".len() + 2 * digest.len());
    value.push_str("sha256=");
    for byte in digest.iter() {
        value.push(char::from(HEX[usize::from(byte >> 4)]));
        value.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    value
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The 32 digest bytes of `sha256=<64 hex digits>`, or `None` for anything
/// else.
fn parse(value: &[u8]) -> Option<[u8; 32]> {
    let hex = value.strip_prefix(b"sha256=")?;
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let [high, low] = pair else {
            return None;
        };
        *byte = (nibble(*high)? << 4) | nibble(*low)?;
    }
    Some(digest)
}

/// The value of one hex digit.
fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"object":"page","entry":[]}"#;
    // printf '%s' '{"object":"page","entry":[]}' | openssl dgst -sha256 -hmac 's3cret'
    const BODY_SIGNATURE: &str =
        "sha256=0798c798c2a0c4b160d0779c9886c7b2ed8aeffc6321169172af70412d25f0cb";

    fn malformed() -> Result<(), SignatureError> {
        Err(SignatureError::Malformed {
            header: Header::HubSignature,
            expected: EXPECTED,
        })
    }

    #[test]
    fn known_hmac_values() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?";
        // also: printf '%s' 'what do ya want for nothing?' | openssl dgst -sha256 -hmac 'Jefe'
        assert_eq!(
            hub_signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(hub_signature("s3cret", BODY), BODY_SIGNATURE);
        assert_eq!(
            verify_hub_signature("s3cret", BODY, &[BODY_SIGNATURE.as_bytes()]),
            Ok(())
        );
    }

    #[test]
    fn upper_case_hex_digits_are_hex_digits() {
        let upper = format!(
            "sha256={}",
            BODY_SIGNATURE["sha256=".len()..].to_uppercase()
        );
        assert_eq!(
            verify_hub_signature("s3cret", BODY, &[upper.as_bytes()]),
            Ok(())
        );
    }

    #[test]
    fn a_wrong_secret_or_an_altered_body_is_a_mismatch() {
        let good = [BODY_SIGNATURE.as_bytes()];
        assert_eq!(
            verify_hub_signature("other", BODY, &good),
            Err(SignatureError::SignatureMismatch)
        );
        assert_eq!(
            verify_hub_signature("s3cret", b"{}", &good),
            Err(SignatureError::SignatureMismatch)
        );
        let zeros = format!("sha256={}", "0".repeat(64));
        assert_eq!(
            verify_hub_signature("s3cret", BODY, &[zeros.as_bytes()]),
            Err(SignatureError::SignatureMismatch)
        );
    }

    #[test]
    fn an_empty_secret_fails_closed() {
        // Even with the signature an empty key would give.
        let empty_key = hub_signature("", BODY);
        assert_eq!(
            verify_hub_signature("", BODY, &[empty_key.as_bytes()]),
            Err(SignatureError::NoSecret)
        );
        assert_eq!(
            verify_hub_signature("", BODY, &[]),
            Err(SignatureError::NoSecret)
        );
    }

    #[test]
    fn missing_and_duplicate_headers_are_refused() {
        assert_eq!(
            verify_hub_signature("s3cret", BODY, &[]),
            Err(SignatureError::Missing(Header::HubSignature))
        );
        let good = BODY_SIGNATURE.as_bytes();
        assert_eq!(
            verify_hub_signature("s3cret", BODY, &[good, good]),
            Err(SignatureError::Duplicate {
                header: Header::HubSignature,
                count: 2
            })
        );
        assert_eq!(
            verify_hub_signature("s3cret", BODY, &[b"sha256=00", good]),
            Err(SignatureError::Duplicate {
                header: Header::HubSignature,
                count: 2
            })
        );
    }

    #[test]
    fn the_parser_is_strict() {
        let hex = &BODY_SIGNATURE["sha256=".len()..];
        let cases = [
            String::new(),
            hex.to_string(),                                   // no prefix
            format!("sha1={hex}"),                             // other algorithm
            format!("SHA256={hex}"),                           // prefix case
            format!("sha256 ={hex}"),                          // spacing
            format!(" {BODY_SIGNATURE}"),                      // leading space
            format!("{BODY_SIGNATURE} "),                      // trailing space
            format!("{BODY_SIGNATURE}\n"),                     // trailing newline
            format!("{BODY_SIGNATURE}00"),                     // 66 digits
            BODY_SIGNATURE[..BODY_SIGNATURE.len() - 1].into(), // 63 digits
            BODY_SIGNATURE[..BODY_SIGNATURE.len() - 2].into(), // 62 digits
            format!("sha256={}g", &hex[..63]),                 // not hex
            format!("sha256=+{}", &hex[..63]),                 // sign
            format!("{BODY_SIGNATURE},{BODY_SIGNATURE}"),      // joined list
            format!("sha256={}", "0x".repeat(32)),             // 0x pairs
        ];
        for case in &cases {
            assert_eq!(
                verify_hub_signature("s3cret", BODY, &[case.as_bytes()]),
                malformed(),
                "{case:?}"
            );
        }
    }

    #[test]
    fn non_ascii_bytes_are_malformed() {
        let mut value = BODY_SIGNATURE.as_bytes().to_vec();
        value[10] = 0xff;
        assert_eq!(verify_hub_signature("s3cret", BODY, &[&value]), malformed());
    }
}
