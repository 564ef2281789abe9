//! Shared-token schemes: the platform echoes a secret it was given when the
//! webhook was registered, so the check is that the secret came back.
//!
//! * Telegram: `setWebhook`'s `secret_token` (1–256 characters of `A-Z`,
//!   `a-z`, `0-9`, `_` and `-`) comes back in `X-Telegram-Bot-Api-Secret-Token`
//!   on every update.
//! * Matrix application services: the homeserver sends the registration's
//!   `hs_token` as `Authorization: Bearer <hs_token>` (RFC 6750 §2.1).

use crate::{Header, SignatureError, configured, same_secret, single};

/// The longest secret token Telegram accepts in `setWebhook` (characters).
pub const MAX_SECRET_TOKEN_CHARS: usize = 256;

/// Checks Telegram's `X-Telegram-Bot-Api-Secret-Token` against the configured
/// `secret`, in constant time.
///
/// `values` are all the values of that header; exactly one is accepted, and it
/// must be a token Telegram could have been given (1–256 of `A-Z a-z 0-9 _ -`),
/// so nothing else is even compared.
pub fn verify_secret_token(secret: &str, values: &[&[u8]]) -> Result<(), SignatureError> {
    let secret = configured(secret)?;
    let value = single(Header::SecretToken, values)?;
    let well_formed = (1..=MAX_SECRET_TOKEN_CHARS).contains(&value.len())
        && value
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-'));
    if !well_formed {
        return Err(SignatureError::Malformed {
            header: Header::SecretToken,
            expected: "1 to 256 of `A-Z a-z 0-9 _ -`",
        });
    }
    if same_secret(value, secret) {
        Ok(())
    } else {
        Err(SignatureError::TokenMismatch(Header::SecretToken))
    }
}

/// Checks `Authorization: Bearer <token>` against the configured `token` (a
/// Matrix application service's `hs_token`), in constant time.
///
/// `values` are all the `Authorization` values; exactly one is accepted. Its
/// grammar is RFC 6750 §2.1's `credentials = "Bearer" 1*SP b64token`: the
/// scheme name is matched without regard to case (an ABNF string literal is
/// case-insensitive, RFC 5234 §2.3, as are authentication scheme names,
/// RFC 9110 §11.1), followed by spaces (not tabs) and a `b64token`
/// (`A-Z a-z 0-9 - . _ ~ + /`, then only `=`), and nothing after it. The token
/// itself is compared exactly: it is case-sensitive.
pub fn verify_bearer_token(token: &str, values: &[&[u8]]) -> Result<(), SignatureError> {
    let token = configured(token)?;
    let value = single(Header::Authorization, values)?;
    let presented = bearer_credential(value).ok_or(SignatureError::Malformed {
        header: Header::Authorization,
        expected: "`Bearer <token>`",
    })?;
    if same_secret(presented, token) {
        Ok(())
    } else {
        Err(SignatureError::TokenMismatch(Header::Authorization))
    }
}

/// The `b64token` of a `Bearer` credential, or `None` when `value` is not one.
fn bearer_credential(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked("Bearer".len())?;
    if !scheme.eq_ignore_ascii_case(b"Bearer") {
        return None;
    }
    let spaces = rest.iter().take_while(|byte| **byte == b' ').count();
    if spaces == 0 {
        return None;
    }
    let token = rest.get(spaces..)?;
    let padded = token.iter().rposition(|byte| *byte != b'=')? + 1;
    let body = token.get(..padded)?;
    body.iter()
        .all(|byte| {
            byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_telegram_secret_token_is_accepted_only_when_it_matches() {
        let secret = "Abc_123-xyz";
        assert_eq!(verify_secret_token(secret, &[b"Abc_123-xyz"]), Ok(()));
        for wrong in [&b"abc_123-xyz"[..], b"Abc_123-xy", b"Abc_123-xyzz", b"x"] {
            assert_eq!(
                verify_secret_token(secret, &[wrong]),
                Err(SignatureError::TokenMismatch(Header::SecretToken)),
                "{wrong:?}"
            );
        }
        let longest = "a".repeat(MAX_SECRET_TOKEN_CHARS);
        assert_eq!(verify_secret_token(&longest, &[longest.as_bytes()]), Ok(()));
    }

    #[test]
    fn the_telegram_secret_token_is_one_header_in_telegrams_alphabet() {
        let secret = "s3cret";
        assert_eq!(
            verify_secret_token(secret, &[]),
            Err(SignatureError::Missing(Header::SecretToken))
        );
        assert_eq!(
            verify_secret_token(secret, &[b"s3cret", b"s3cret"]),
            Err(SignatureError::Duplicate {
                header: Header::SecretToken,
                count: 2
            })
        );
        let too_long = "a".repeat(MAX_SECRET_TOKEN_CHARS + 1);
        for malformed in [
            &b""[..],
            b" s3cret",
            b"s3cret ",
            b"s3 cret",
            b"s3cret\0",
            b"s3cr\xc3\xa9t",
            b"s3cret=",
            too_long.as_bytes(),
        ] {
            assert_eq!(
                verify_secret_token(secret, &[malformed]),
                Err(SignatureError::Malformed {
                    header: Header::SecretToken,
                    expected: "1 to 256 of `A-Z a-z 0-9 _ -`",
                }),
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn an_empty_secret_token_fails_closed() {
        assert_eq!(
            verify_secret_token("", &[b"anything"]),
            Err(SignatureError::NoSecret)
        );
        assert_eq!(
            verify_secret_token("", &[b""]),
            Err(SignatureError::NoSecret)
        );
        assert_eq!(verify_secret_token("", &[]), Err(SignatureError::NoSecret));
    }

    #[test]
    fn the_bearer_token_is_accepted_only_when_it_matches() {
        let token = "hs_T0ken";
        assert_eq!(verify_bearer_token(token, &[b"Bearer hs_T0ken"]), Ok(()));
        for wrong in [
            &b"Bearer hs_t0ken"[..],
            b"Bearer hs_T0ke",
            b"Bearer hs_T0ken=",
            b"Bearer x",
        ] {
            assert_eq!(
                verify_bearer_token(token, &[wrong]),
                Err(SignatureError::TokenMismatch(Header::Authorization)),
                "{wrong:?}"
            );
        }
        // b64token allows trailing `=` padding and these punctuation marks.
        let padded = "ab-._~+/cd==";
        let header = format!("Bearer {padded}");
        assert_eq!(verify_bearer_token(padded, &[header.as_bytes()]), Ok(()));
    }

    #[test]
    fn the_bearer_scheme_name_is_case_insensitive_per_rfc_6750() {
        for value in [
            &b"bearer hs_T0ken"[..],
            b"BEARER hs_T0ken",
            b"bEaReR hs_T0ken",
            b"Bearer  hs_T0ken", // 1*SP
        ] {
            assert_eq!(
                verify_bearer_token("hs_T0ken", &[value]),
                Ok(()),
                "{value:?}"
            );
        }
    }

    #[test]
    fn the_bearer_credential_is_strict() {
        for malformed in [
            &b""[..],
            b"hs_T0ken",
            b"Bearer",
            b"Bearer ",
            b"Bearerhs_T0ken",
            b"Bearer\ths_T0ken",
            b"Bearer:hs_T0ken",
            b" Bearer hs_T0ken",
            b"Bearer hs_T0ken ",
            b"Bearer hs T0ken",
            b"Bearer hs_T0ken,Bearer hs_T0ken",
            b"Bearer =hs_T0ken",
            b"Bearer hs=_T0ken",
            b"Bearer ===",
            b"Basic aHM6VDBrZW4=",
            b"Token hs_T0ken",
            b"Bearer hs_T0k\xc3\xa9n",
        ] {
            assert_eq!(
                verify_bearer_token("hs_T0ken", &[malformed]),
                Err(SignatureError::Malformed {
                    header: Header::Authorization,
                    expected: "`Bearer <token>`",
                }),
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn the_bearer_token_is_one_header() {
        assert_eq!(
            verify_bearer_token("t", &[]),
            Err(SignatureError::Missing(Header::Authorization))
        );
        assert_eq!(
            verify_bearer_token("t", &[b"Bearer t", b"Bearer t"]),
            Err(SignatureError::Duplicate {
                header: Header::Authorization,
                count: 2
            })
        );
    }

    #[test]
    fn an_empty_bearer_token_fails_closed() {
        assert_eq!(
            verify_bearer_token("", &[b"Bearer "]),
            Err(SignatureError::NoSecret)
        );
        assert_eq!(
            verify_bearer_token("", &[b"Bearer x"]),
            Err(SignatureError::NoSecret)
        );
    }
}
