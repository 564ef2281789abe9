//! Every webhook check that the translator interface names, in one place.
//!
//! A translator declares how its platform signs the webhooks it posts
//! (`webhook-signature` in `wit/translator.wit`); whoever receives those
//! webhooks (the gateway component, the host's story service, the native
//! benchmark build) checks them here, so that each rule is written, reviewed
//! and tested once:
//!
//! | [`Scheme`] | header ([`Header`]) | check |
//! |---|---|---|
//! | [`Scheme::Hub`] | `X-Hub-Signature-256: sha256=<64 hex>` | HMAC-SHA256 of the raw body keyed with the app secret ([`verify_hub_signature`]); plus the `hub.challenge` subscribe handshake ([`subscribe_challenge`]) |
//! | [`Scheme::SecretToken`] | `X-Telegram-Bot-Api-Secret-Token: <token>` | the token equals the configured secret ([`verify_secret_token`]) |
//! | [`Scheme::Bearer`] | `Authorization: Bearer <token>` | the token equals the configured `hs_token` ([`verify_bearer_token`]) |
//! | [`Scheme::None`] | — | nothing: trusted networks and tests only |
//!
//! Rules every check follows, because each is a way webhooks get forged:
//! * **Fail closed.** An empty configured secret refuses every request
//!   ([`SignatureError::NoSecret`]) rather than accepting every one.
//! * **One header, exactly.** Checks take *all* the values the request carried
//!   for their header and refuse two or more ([`SignatureError::Duplicate`]):
//!   a proxy and an application that disagree about which of two headers
//!   counts is how a forged one slips past the check.
//! * **Strict syntax.** A value is parsed by its grammar and nothing else (no
//!   trimming, no case folding of hex prefixes, no trailing bytes).
//! * **Constant time.** HMACs are compared with `hmac`'s `verify_slice`;
//!   tokens are hashed with SHA-256 and the digests compared with `subtle`, so
//!   neither the content nor the length of the configured secret shows in the
//!   time an answer takes.
//! * **No echo.** Errors name what is wrong, never a value that was sent or
//!   configured.
//!
//! ```
//! use webhook_signature::{Scheme, hub_signature};
//!
//! let body = br#"{"object":"page","entry":[]}"#;
//! let header = hub_signature("app-secret", body);
//! let values = [header.as_bytes()];
//! assert!(Scheme::Hub.verify("app-secret", body, &values).is_ok());
//! assert!(Scheme::Hub.verify("another", body, &values).is_err());
//! ```

#![deny(missing_docs)]

mod handshake;
mod hub;
mod token;

pub use handshake::{HandshakeError, MAX_CHALLENGE_DIGITS, subscribe_challenge};
pub use hub::{hub_signature, verify_hub_signature};
pub use token::{MAX_SECRET_TOKEN_CHARS, verify_bearer_token, verify_secret_token};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How a platform signs its webhooks: the `webhook-signature` enum of the
/// translator interface, as a plain Rust type so that native code (the host,
/// benchmarks, tests) can name it without the generated bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `hub-signature-sha256`: Meta's `X-Hub-Signature-256` and the
    /// `hub.challenge` handshake (WhatsApp, Messenger, Instagram).
    Hub,
    /// `secret-token-header`: Telegram's `X-Telegram-Bot-Api-Secret-Token`.
    SecretToken,
    /// `bearer-token`: `Authorization: Bearer <hs_token>` (Matrix
    /// application services).
    Bearer,
    /// `none`: nothing is checked; for trusted networks and tests only.
    None,
}

impl Scheme {
    /// The header the scheme reads, or `None` for [`Scheme::None`]: the
    /// header whose values a caller passes to [`Scheme::verify`].
    pub fn header(self) -> Option<Header> {
        match self {
            Scheme::Hub => Some(Header::HubSignature),
            Scheme::SecretToken => Some(Header::SecretToken),
            Scheme::Bearer => Some(Header::Authorization),
            Scheme::None => None,
        }
    }

    /// Checks a webhook by this scheme: `values` are all the values the
    /// request carried for [`Scheme::header`] (none, one, or several), `secret`
    /// is the configured app secret or token. [`Scheme::None`] accepts
    /// everything.
    pub fn verify(self, secret: &str, body: &[u8], values: &[&[u8]]) -> Result<(), SignatureError> {
        match self {
            Scheme::Hub => verify_hub_signature(secret, body, values),
            Scheme::SecretToken => verify_secret_token(secret, values),
            Scheme::Bearer => verify_bearer_token(secret, values),
            Scheme::None => Ok(()),
        }
    }
}

/// A header a [`Scheme`] reads. Displays as the platforms write it; looked up
/// by [`Header::name`], lower-case as HTTP/2 and the WASI HTTP types carry
/// header names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Header {
    /// `X-Hub-Signature-256` (Meta).
    HubSignature,
    /// `X-Telegram-Bot-Api-Secret-Token` (Telegram).
    SecretToken,
    /// `Authorization` (Matrix application services).
    Authorization,
}

impl Header {
    /// The header's name in lower case, for looking it up in a request.
    pub fn name(self) -> &'static str {
        match self {
            Header::HubSignature => "x-hub-signature-256",
            Header::SecretToken => "x-telegram-bot-api-secret-token",
            Header::Authorization => "authorization",
        }
    }
}

impl std::fmt::Display for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Header::HubSignature => "X-Hub-Signature-256",
            Header::SecretToken => "X-Telegram-Bot-Api-Secret-Token",
            Header::Authorization => "Authorization",
        })
    }
}

/// Why a webhook was not accepted; answered 401, or 403 for a bearer token
/// that is present but wrong ([`SignatureError::status`]). The messages name
/// the header and the rule broken, never a value, so they can go back to the
/// sender and into logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The route has no secret configured, so it cannot tell a real webhook
    /// from a forged one and refuses all of them.
    #[error("no secret is configured for this route, so no webhook is accepted")]
    NoSecret,
    /// The request has no such header.
    #[error("missing {0} header")]
    Missing(Header),
    /// The request has the header more than once.
    #[error("{header} header sent {count} times; exactly one is accepted")]
    Duplicate {
        /// The repeated header.
        header: Header,
        /// How many times it came.
        count: usize,
    },
    /// The header's value does not follow its grammar.
    #[error("{header} is not {expected}")]
    Malformed {
        /// The header.
        header: Header,
        /// The grammar it should follow, in words.
        expected: &'static str,
    },
    /// `X-Hub-Signature-256` is well formed but is not the HMAC of this body
    /// with the configured secret: a wrong secret or an altered body.
    #[error("{} does not match the body", Header::HubSignature)]
    SignatureMismatch,
    /// The token is well formed but is not the configured one.
    #[error("{0} does not match the configured secret")]
    TokenMismatch(Header),
}

impl SignatureError {
    /// The HTTP status to answer: 403 for a bearer token that came but is
    /// not the configured one, 401 for everything else. The Matrix
    /// application service API asks exactly that of a wrong `hs_token`
    /// (403 `M_FORBIDDEN`) and a missing one (401 `M_UNAUTHORIZED`):
    /// <https://spec.matrix.org/v1.16/application-service-api/#authorization>.
    pub fn status(&self) -> u16 {
        match self {
            SignatureError::TokenMismatch(Header::Authorization) => 403,
            _ => 401,
        }
    }

    /// The Matrix error code for a refusal on a bearer route (the scheme of
    /// Matrix application services), which a homeserver reads; none for the
    /// other schemes.
    pub fn errcode(&self) -> Option<&'static str> {
        match self {
            SignatureError::TokenMismatch(Header::Authorization) => Some("M_FORBIDDEN"),
            SignatureError::Missing(Header::Authorization)
            | SignatureError::Duplicate {
                header: Header::Authorization,
                ..
            }
            | SignatureError::Malformed {
                header: Header::Authorization,
                ..
            } => Some("M_UNAUTHORIZED"),
            _ => None,
        }
    }

    /// The JSON body of the refusal: `{"error"}`, with the Matrix `errcode`
    /// where there is one.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({ "error": self.to_string() });
        if let Some(errcode) = self.errcode() {
            body["errcode"] = serde_json::json!(errcode);
        }
        body
    }
}

/// The configured secret, or [`SignatureError::NoSecret`] when it is empty.
fn configured(secret: &str) -> Result<&[u8], SignatureError> {
    if secret.is_empty() {
        Err(SignatureError::NoSecret)
    } else {
        Ok(secret.as_bytes())
    }
}

/// The one value of `header`; none or several are refused.
fn single<'a>(header: Header, values: &[&'a [u8]]) -> Result<&'a [u8], SignatureError> {
    match values {
        [] => Err(SignatureError::Missing(header)),
        [value] => Ok(value),
        several => Err(SignatureError::Duplicate {
            header,
            count: several.len(),
        }),
    }
}

/// Whether two secrets are equal, in time that depends on neither's content
/// nor on the configured one's length: both are hashed to 32 bytes first, and
/// the digests compared with `subtle`. (Comparing the raw bytes would stop at
/// a length difference and so tell the length of the configured secret.)
fn same_secret(presented: &[u8], configured: &[u8]) -> bool {
    let presented = Sha256::digest(presented);
    let configured = Sha256::digest(configured);
    presented.as_slice().ct_eq(configured.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scheme_reads_its_own_header() {
        assert_eq!(Scheme::Hub.header(), Some(Header::HubSignature));
        assert_eq!(Scheme::SecretToken.header(), Some(Header::SecretToken));
        assert_eq!(Scheme::Bearer.header(), Some(Header::Authorization));
        assert_eq!(Scheme::None.header(), None);
        assert_eq!(
            Header::SecretToken.name(),
            "x-telegram-bot-api-secret-token"
        );
        assert_eq!(Header::HubSignature.to_string(), "X-Hub-Signature-256");
    }

    #[test]
    fn a_wrong_bearer_token_is_forbidden_and_a_missing_one_unauthorised() {
        let wrong = Scheme::Bearer
            .verify("hs-token", b"{}", &[b"Bearer other".as_slice()])
            .unwrap_err();
        assert_eq!(
            (wrong.status(), wrong.errcode()),
            (403, Some("M_FORBIDDEN"))
        );
        assert_eq!(wrong.body()["errcode"], "M_FORBIDDEN");
        let missing = Scheme::Bearer.verify("hs-token", b"{}", &[]).unwrap_err();
        assert_eq!(
            (missing.status(), missing.errcode()),
            (401, Some("M_UNAUTHORIZED"))
        );
        let telegram = Scheme::SecretToken
            .verify("secret", b"{}", &[b"other".as_slice()])
            .unwrap_err();
        assert_eq!((telegram.status(), telegram.errcode()), (401, None));
        assert!(telegram.body().get("errcode").is_none());
    }

    #[test]
    fn scheme_verify_dispatches_to_the_right_check() {
        let body = b"{}";
        let hub = hub_signature("s", body);
        assert_eq!(Scheme::Hub.verify("s", body, &[hub.as_bytes()]), Ok(()));
        assert_eq!(
            Scheme::Hub.verify("s", body, &[b"tok"]),
            Err(SignatureError::Malformed {
                header: Header::HubSignature,
                expected: "`sha256=` followed by 64 hex digits",
            })
        );
        assert_eq!(Scheme::SecretToken.verify("tok", body, &[b"tok"]), Ok(()));
        assert_eq!(Scheme::Bearer.verify("tok", body, &[b"Bearer tok"]), Ok(()));
        assert_eq!(
            Scheme::Bearer.verify("tok", body, &[b"tok"]),
            Err(SignatureError::Malformed {
                header: Header::Authorization,
                expected: "`Bearer <token>`",
            })
        );
        assert_eq!(Scheme::None.verify("", body, &[]), Ok(()));
    }

    #[test]
    fn one_value_exactly() {
        assert_eq!(
            single(Header::Authorization, &[]),
            Err(SignatureError::Missing(Header::Authorization))
        );
        assert_eq!(single(Header::Authorization, &[b"a"]), Ok(&b"a"[..]));
        assert_eq!(
            single(Header::Authorization, &[b"a", b"a"]),
            Err(SignatureError::Duplicate {
                header: Header::Authorization,
                count: 2
            })
        );
    }

    #[test]
    fn secrets_compare_by_content_and_length() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"abc"));
    }

    #[test]
    fn errors_name_the_rule_not_the_value() {
        let messages = [
            SignatureError::NoSecret.to_string(),
            SignatureError::Missing(Header::SecretToken).to_string(),
            SignatureError::Duplicate {
                header: Header::HubSignature,
                count: 2,
            }
            .to_string(),
            SignatureError::SignatureMismatch.to_string(),
            SignatureError::TokenMismatch(Header::Authorization).to_string(),
        ];
        assert_eq!(
            messages,
            [
                "no secret is configured for this route, so no webhook is accepted",
                "missing X-Telegram-Bot-Api-Secret-Token header",
                "X-Hub-Signature-256 header sent 2 times; exactly one is accepted",
                "X-Hub-Signature-256 does not match the body",
                "Authorization does not match the configured secret",
            ]
        );
    }
}
