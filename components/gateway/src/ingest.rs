//! What the gateway does with one request, as plain Rust: the component's
//! handler is a thin shell over [`handle`], and native builds (the host's
//! benchmark pipeline, tests) call the same function, so the rules that
//! decide what is accepted exist once.
//!
//! [`handle`] is given everything from outside as arguments: the translator's
//! capabilities ([`Route`]), the request ([`Request`], with every value of
//! every header through [`Headers`]), the configured secrets ([`Secrets`]),
//! the translator's `decode`, and a [`Store`]. It answers:
//!
//! | request | answer |
//! |---|---|
//! | `POST`, body over `max_webhook_bytes` | 413, before anything else |
//! | `POST`, the route's [`Scheme`] check fails | 401 with the reason, before decoding (403 `M_FORBIDDEN` for a wrong bearer `hs_token`, with the Matrix `errcode`) |
//! | `POST`, `decode` fails | 400 with the translator's typed error; the raw body kept under [`rejected_key`] and `{platform, error}` under [`rejected_error_key`] |
//! | `POST`, decoded | 200 `{"accepted":n,"duplicates":m}`, each new envelope stored under [`inbox_key`] and [`envelope_key`] first |
//! | `PUT` on a [`Scheme::Bearer`] route | as a `POST` (a Matrix homeserver pushes `PUT /_matrix/app/v1/transactions/{txnId}`), but decoded it is answered 200 `{}` as the application-service API wants |
//! | `GET` on a [`Scheme::Hub`] route | the `hub.challenge` as `text/plain` when [`subscribe_challenge`] accepts it, 403 otherwise |
//! | anything else | 405 with `Allow` |
//!
//! Nothing is written to the store on a 401, 403, 405 or 413.
//!
//! ```
//! use gateway::ingest::{self, Request, Route, Secrets, Store};
//! use std::cell::RefCell;
//! use std::collections::BTreeMap;
//! use webhook_signature::{Scheme, hub_signature};
//!
//! #[derive(Default)]
//! struct Memory(RefCell<BTreeMap<String, Vec<u8>>>);
//! impl Store for Memory {
//!     fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
//!         Ok(self.0.borrow().get(key).cloned())
//!     }
//!     fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
//!         self.0.borrow_mut().insert(key.into(), value.to_vec());
//!         Ok(())
//!     }
//! }
//!
//! let body = br#"{"entry":[]}"#;
//! let signature = hub_signature("app-secret", body);
//! let headers = [("x-hub-signature-256", signature.as_bytes())];
//! let answer = ingest::handle(
//!     &Route { platform: "whatsapp", max_webhook_bytes: 1 << 20, scheme: Scheme::Hub },
//!     &Secrets { secret: "app-secret", verify_token: "verify" },
//!     &Request { method: "POST", query: "", headers: &headers[..], body },
//!     |_| Ok(Vec::new()),
//!     &Memory::default(),
//! )?;
//! assert_eq!((answer.status, answer.body.as_str()), (200, r#"{"accepted":0,"duplicates":0}"#));
//! # Ok::<(), anyhow::Error>(())
//! ```

use crate::{envelope_key, inbox_key, rejected_error_key, rejected_key};
use serde_json::json;
use switchboard_pdk::types::{DecodeError, Envelope};
use webhook_signature::{Scheme, subscribe_challenge};

/// `Content-Type` of the JSON answers.
pub const JSON: &str = "application/json";
/// `Content-Type` of the subscribe handshake's answer: the challenge echoed as
/// plain text, never as something a browser would render.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// What the gateway needs of its translator's capabilities: which platform it
/// serves, how large a webhook may be, and how the platform signs webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'a> {
    /// The platform name, recorded with a rejected body.
    pub platform: &'a str,
    /// `limits.max-webhook-bytes`: larger bodies are answered 413 unread.
    pub max_webhook_bytes: u64,
    /// `webhook-signature`: the check every `POST` must pass.
    pub scheme: Scheme,
}

/// The route's configuration (Spin variables `app_secret` and
/// `verify_token`). Empty values refuse everything that needs them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Secrets<'a> {
    /// The app secret (hub scheme), the secret token (secret-token scheme) or
    /// the homeserver token (bearer scheme).
    pub secret: &'a str,
    /// The token the hub subscribe handshake must present.
    pub verify_token: &'a str,
}

/// Debug output that cannot leak the secrets into a log.
impl std::fmt::Debug for Secrets<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("secret", &if self.secret.is_empty() { "" } else { "…" })
            .field(
                "verify_token",
                &if self.verify_token.is_empty() {
                    ""
                } else {
                    "…"
                },
            )
            .finish()
    }
}

/// Every value of a request's headers, by name. A lookup must return *all*
/// values of a repeated header, in order, so that the checks can refuse a
/// request carrying two signatures or two `Authorization` headers.
pub trait Headers {
    /// Every value of the header `name` (given in lower case; header names
    /// compare without regard to ASCII case).
    fn all(&self, name: &str) -> Vec<&[u8]>;
}

/// A list of `(name, value)` pairs, as HTTP libraries hand them out (WASI's
/// `fields.entries()`, hyper's `HeaderMap::iter()` collected).
impl<N: AsRef<str>, V: AsRef<[u8]>> Headers for [(N, V)] {
    fn all(&self, name: &str) -> Vec<&[u8]> {
        self.iter()
            .filter(|(key, _)| key.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_ref())
            .collect()
    }
}

/// The same, owned.
impl<N: AsRef<str>, V: AsRef<[u8]>> Headers for Vec<(N, V)> {
    fn all(&self, name: &str) -> Vec<&[u8]> {
        self.as_slice().all(name)
    }
}

/// The same, as an array literal.
impl<N: AsRef<str>, V: AsRef<[u8]>, const K: usize> Headers for [(N, V); K] {
    fn all(&self, name: &str) -> Vec<&[u8]> {
        self.as_slice().all(name)
    }
}

/// One HTTP request, as the gateway sees it. `H` is whatever holds its
/// headers: a slice or `Vec` of pairs, or `dyn Headers`.
pub struct Request<'a, H: Headers + ?Sized> {
    /// The method as sent (`GET`, `POST`…; methods are case-sensitive).
    pub method: &'a str,
    /// The query string, without `?`.
    pub query: &'a str,
    /// Every header.
    pub headers: &'a H,
    /// The body as received. A caller that reads bodies in chunks may stop
    /// after `max_webhook_bytes + 1` bytes: the answer is 413 either way.
    pub body: &'a [u8],
}

/// The key-value operations the gateway needs: Spin's store in the
/// component, anything (a map, the host's embedded store, a write buffer)
/// natively. An error ends the request unanswered (the caller answers 500),
/// so a platform retries rather than losing the webhook.
pub trait Store {
    /// The value of `key`, if any.
    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Whether `key` has a value; stores that can answer without reading the
    /// value override this.
    fn exists(&self, key: &str) -> anyhow::Result<bool> {
        Ok(self.get(key)?.is_some())
    }
    /// Sets `key` to `value`.
    fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()>;
}

/// The gateway's answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`: [`JSON`], or [`TEXT`] for the handshake's challenge.
    pub content_type: &'static str,
    /// `Allow` for a 405 (RFC 9110 §15.5.6 requires it), `None` otherwise.
    pub allow: Option<&'static str>,
    /// The body.
    pub body: String,
}

impl Answer {
    fn json(status: u16, body: serde_json::Value) -> Answer {
        Answer {
            status,
            content_type: JSON,
            allow: None,
            body: body.to_string(),
        }
    }

    fn refuse(status: u16, error: impl std::fmt::Display) -> Answer {
        Answer::json(status, json!({ "error": error.to_string() }))
    }
}

/// Answers one request to a gateway route: see the [module docs](self) for
/// every case. `decode` is the route's translator (`translator::decode` in the
/// component, the translator crate's `decode` natively); it is called only for
/// a `POST` that passed the size limit and the signature check.
///
/// # Errors
/// Only a failing [`Store`] (or an envelope that does not serialise, which
/// the generated types rule out): the caller answers 500, and nothing is
/// acknowledged to the platform, which will retry.
pub fn handle<H, D>(
    route: &Route<'_>,
    secrets: &Secrets<'_>,
    request: &Request<'_, H>,
    decode: D,
    store: &dyn Store,
) -> anyhow::Result<Answer>
where
    H: Headers + ?Sized,
    D: FnOnce(&[u8]) -> Result<Vec<Envelope>, DecodeError>,
{
    match (request.method, route.scheme) {
        ("POST", _) => webhook(route, secrets, request, decode, store),
        // A Matrix transaction: the homeserver retries until it gets a 200
        // with an empty object; a retried transaction id decodes to the same
        // envelope ids, so it is stored once.
        ("PUT", Scheme::Bearer) => {
            let answer = webhook(route, secrets, request, decode, store)?;
            Ok(if answer.status == 200 {
                Answer::json(200, json!({}))
            } else {
                answer
            })
        }
        ("GET", Scheme::Hub) => Ok(
            match subscribe_challenge(request.query, secrets.verify_token) {
                Ok(challenge) => Answer {
                    status: 200,
                    content_type: TEXT,
                    allow: None,
                    body: challenge,
                },
                Err(error) => Answer::refuse(403, format!("subscribe handshake refused: {error}")),
            },
        ),
        (_, Scheme::Hub) => Ok(Answer {
            allow: Some("GET, POST"),
            ..Answer::refuse(
                405,
                "use POST for webhooks, GET for the subscribe handshake",
            )
        }),
        (_, Scheme::Bearer) => Ok(Answer {
            allow: Some("POST, PUT"),
            ..Answer::refuse(405, "use PUT for transactions, or POST for webhooks")
        }),
        (_, _) => Ok(Answer {
            allow: Some("POST"),
            ..Answer::refuse(405, "use POST for webhooks")
        }),
    }
}

/// A `POST` (or a bearer route's `PUT`): size, signature, decode, store.
fn webhook<H, D>(
    route: &Route<'_>,
    secrets: &Secrets<'_>,
    request: &Request<'_, H>,
    decode: D,
    store: &dyn Store,
) -> anyhow::Result<Answer>
where
    H: Headers + ?Sized,
    D: FnOnce(&[u8]) -> Result<Vec<Envelope>, DecodeError>,
{
    let body = request.body;
    let limit = route.max_webhook_bytes;
    if u64::try_from(body.len()).map_or(true, |length| length > limit) {
        return Ok(Answer::refuse(
            413,
            format!("webhook body over the {limit}-byte limit"),
        ));
    }
    let values = match route.scheme.header() {
        Some(header) => request.headers.all(header.name()),
        None => Vec::new(),
    };
    if let Err(error) = route.scheme.verify(secrets.secret, body, &values) {
        return Ok(Answer::json(error.status(), error.body()));
    }
    let envelopes = match decode(body) {
        Ok(envelopes) => envelopes,
        Err(error) => {
            let key = rejected_key(body);
            store.set(&key, body)?;
            // When it was kept, for its retention (the host sweeps it).
            let at_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_millis() as u64);
            let record = json!({ "platform": route.platform, "error": error, "at_ms": at_ms });
            store.set(&rejected_error_key(&key), record.to_string().as_bytes())?;
            return Ok(Answer::json(400, json!({ "error": error, "kept_as": key })));
        }
    };
    let (mut accepted, mut duplicates) = (0u32, 0u32);
    for envelope in &envelopes {
        let key = envelope_key(&envelope.id);
        if store.exists(&key)? {
            duplicates += 1;
            continue;
        }
        // Inbox first: a crash between the two writes leaves an inbox entry
        // without a record, and the platform's retry rewrites the same inbox
        // key rather than losing it.
        let json = serde_json::to_vec(envelope)?;
        store.set(&inbox_key(&envelope.id), &json)?;
        store.set(&key, &json)?;
        accepted += 1;
    }
    Ok(Answer::json(
        200,
        json!({ "accepted": accepted, "duplicates": duplicates }),
    ))
}
