//! The business API: how a business reaches, on their own apps, the people
//! linked to it — order updates, reservations, sign-in codes, and marketing
//! only to those who opted in.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /business/messages` | `{"id", "business": {"platform", "id"}, "to": {"platform", "id"}, "category", "text"}` | 202 `{"id", "status"}`: stored for the pipeline; 200 with `"duplicate": true` when that `id` was sent before |
//! | `GET /business/messages/<id>` | | the routing outcome (`state`, `deliveries`, `refused` with reasons), or `{"state": "queued"}` while it waits |
//!
//! `category` is `transactional`, `authentication`, `service` or `marketing`.
//! The message goes into the same inbox as webhooks do, as a canonical
//! envelope from the business's account, addressed to `to`; the pipeline
//! applies the same policy as to everyone (link, consent, blocks), and the
//! business rules on top: marketing needs the person's opt-in, and a person's
//! STOP is an opt-out. A refusal is reported in the status, not as a notice on
//! an app. `id` is the business's own id for the message and makes a retried
//! request idempotent.
//!
//! Every request needs `Authorization: Bearer <business_api_token>` (a Spin
//! variable); the API is off while it is empty. Errors are JSON `{"error": "…"}`
//! with 400, 401, 404, 405 or 413.

use directory_schema::{api_envelope_id, envelope_key, inbox_key, status_key};
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_model::types::{
    Address, Content, Conversation, ConversationKind, Envelope, Event, FormattedText, Message,
    MessageCategory, Participant,
};

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest message text, in characters (WhatsApp's text limit, the tightest
/// of the three apps).
pub const MAX_TEXT_CHARS: usize = 4096;

/// The key-value operations the API needs; Spin's store in the component, a
/// map in tests.
pub trait Store {
    /// The value under `key`.
    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Sets `key` to `value`.
    fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()>;
}

/// An HTTP answer: status and JSON body.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl From<anyhow::Error> for Outcome {
    fn from(error: anyhow::Error) -> Self {
        refuse(500, format!("store failed: {error:#}"))
    }
}

fn refuse(status: u16, error: impl Into<String>) -> Outcome {
    Outcome {
        status,
        body: json!({ "error": error.into() }),
    }
}

/// Checks the bearer token, comparing in constant time. The API is off
/// (401 for everyone) while no token is configured.
pub fn authorize(configured: &str, presented: Option<&str>) -> Result<(), Outcome> {
    if configured.is_empty() {
        return Err(refuse(
            401,
            "the business API is off: set the business_api_token variable",
        ));
    }
    let presented = presented.unwrap_or_default().as_bytes();
    let same_length = presented.len() == configured.len();
    let difference = presented
        .iter()
        .zip(configured.as_bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if same_length && difference == 0 {
        Ok(())
    } else {
        Err(refuse(401, "missing or wrong bearer token"))
    }
}

/// An account on an app, as the API names it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The app (`whatsapp`, `messenger`, `instagram`…).
    pub platform: String,
    /// The account's id on that app.
    pub id: String,
}

impl Account {
    fn address(&self) -> Address {
        Address {
            platform: self.platform.clone(),
            id: self.id.clone(),
        }
    }
}

/// What a business may send as: the categories the apps distinguish.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Receipts, reservations, shipping and account updates.
    Transactional,
    /// One-time passcodes.
    Authentication,
    /// Answers in a conversation the person started.
    Service,
    /// Promotions: only to people who opted in.
    Marketing,
}

impl From<Category> for MessageCategory {
    fn from(category: Category) -> Self {
        match category {
            Category::Transactional => MessageCategory::Transactional,
            Category::Authentication => MessageCategory::Authentication,
            Category::Service => MessageCategory::Service,
            Category::Marketing => MessageCategory::Marketing,
        }
    }
}

/// The body of `POST /business/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The business's own id for the message (letters, digits, `.`, `_`, `-`;
    /// at most 128): a retry with the same id is not sent again.
    pub id: String,
    /// The business's account, the sender.
    pub business: Account,
    /// The person's account on another app.
    pub to: Account,
    /// The message category.
    pub category: Category,
    /// The text.
    pub text: String,
}

impl SendRequest {
    /// Reads and checks a request body.
    pub fn parse(body: &[u8]) -> Result<SendRequest, Outcome> {
        if body.len() > MAX_BODY_BYTES {
            return Err(refuse(
                413,
                format!("body over the {MAX_BODY_BYTES}-byte limit"),
            ));
        }
        let request: SendRequest = serde_json::from_slice(body)
            .map_err(|error| refuse(400, format!("bad request body: {error}")))?;
        let id_ok = !request.id.is_empty()
            && request.id.len() <= 128
            && request
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !id_ok {
            return Err(refuse(
                400,
                "`id` must be 1 to 128 letters, digits, `.`, `_` or `-`",
            ));
        }
        for (field, account) in [("business", &request.business), ("to", &request.to)] {
            if account.platform.is_empty()
                || account.id.is_empty()
                || account.platform.contains(':')
            {
                return Err(refuse(
                    400,
                    format!("`{field}` needs a platform (without `:`) and an id"),
                ));
            }
        }
        if request.business.platform == request.to.platform {
            return Err(refuse(
                400,
                "`to` is on the business's own app: send there directly; this API crosses apps",
            ));
        }
        let length = request.text.chars().count();
        if request.text.trim().is_empty() || length > MAX_TEXT_CHARS {
            return Err(refuse(
                400,
                format!("`text` must be 1 to {MAX_TEXT_CHARS} characters"),
            ));
        }
        Ok(request)
    }

    /// The canonical envelope the pipeline routes: a text message from the
    /// business's account to `to`, with an id of the business API's own
    /// form ([`api_envelope_id`]).
    pub fn envelope(&self, now_ms: u64) -> Envelope {
        Envelope {
            id: api_envelope_id(&self.business.platform, &self.id),
            platform: self.business.platform.clone(),
            native_id: None,
            conversation: Conversation {
                kind: ConversationKind::Direct,
                id: self.to.id.clone(),
            },
            sender: Participant {
                address: self.business.address(),
                attributes: Vec::new(),
            },
            recipient: self.to.address(),
            timestamp_ms: now_ms,
            event: Event::Message(Message {
                content: Content::Text(FormattedText {
                    body: self.text.clone(),
                    spans: Vec::new(),
                }),
                reply_to: None,
                forwarded: None,
                story: None,
                category: self.category.into(),
            }),
            echo: false,
            extras: Vec::new(),
        }
    }
}

/// Answers one authorised request.
pub fn dispatch(store: &dyn Store, method: &str, path: &str, body: &[u8], now_ms: u64) -> Outcome {
    let path = path.trim_end_matches('/');
    match (method, path) {
        ("POST", "/business/messages") => send(store, body, now_ms).unwrap_or_else(|error| error),
        ("GET", _) if path.starts_with("/business/messages/") => {
            let id = &path["/business/messages/".len()..];
            status(store, id).unwrap_or_else(|error| error)
        }
        (_, "/business/messages") => refuse(405, "use POST to send"),
        _ => refuse(404, "no such business API path"),
    }
}

fn status_path(canonical_id: &str) -> String {
    format!("/business/messages/{canonical_id}")
}

fn send(store: &dyn Store, body: &[u8], now_ms: u64) -> Result<Outcome, Outcome> {
    let request = SendRequest::parse(body)?;
    let envelope = request.envelope(now_ms);
    let answer = |status, duplicate| Outcome {
        status,
        body: json!({ "id": envelope.id, "status": status_path(&envelope.id), "duplicate": duplicate }),
    };
    if store.get(&envelope_key(&envelope.id))?.is_some() {
        return Ok(answer(200, true));
    }
    let json = serde_json::to_vec(&envelope).map_err(anyhow::Error::from)?;
    // Inbox first, as the gateway does: a crash between the writes leaves work
    // for the pipeline, and the business's retry writes the same key again.
    store.set(&inbox_key(&envelope.id), &json)?;
    store.set(&envelope_key(&envelope.id), &json)?;
    Ok(answer(202, false))
}

fn status(store: &dyn Store, canonical_id: &str) -> Result<Outcome, Outcome> {
    if let Some(record) = store.get(&status_key(canonical_id))? {
        let body = serde_json::from_slice(&record).map_err(anyhow::Error::from)?;
        return Ok(Outcome { status: 200, body });
    }
    if store.get(&envelope_key(canonical_id))?.is_some() {
        return Ok(Outcome {
            status: 200,
            body: json!({ "state": "queued" }),
        });
    }
    Err(refuse(404, format!("no message {canonical_id}")))
}

#[cfg(target_arch = "wasm32")]
mod handler {
    use super::{Outcome, Store};
    use spin_sdk::http::{IntoResponse, Method, Request, Response};
    use spin_sdk::{http_component, key_value, variables};

    struct SpinStore(key_value::Store);

    impl Store for SpinStore {
        fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
            Ok(self.0.get(key)?)
        }
        fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
            Ok(self.0.set(key, value)?)
        }
    }

    fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or_default()
    }

    #[http_component]
    fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
        let token = variables::get("business_api_token").unwrap_or_default();
        let presented = request
            .header("authorization")
            .and_then(|value| value.as_str())
            .and_then(|value| value.strip_prefix("Bearer "));
        let outcome = match super::authorize(&token, presented) {
            Err(outcome) => outcome,
            Ok(()) => {
                let store = SpinStore(key_value::Store::open_default()?);
                let method = match request.method() {
                    Method::Get => "GET",
                    Method::Post => "POST",
                    _ => "OTHER",
                };
                super::dispatch(&store, method, request.path(), request.body(), now_ms())
            }
        };
        let Outcome { status, body } = outcome;
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.to_string())
            .build())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct MemoryStore(RefCell<BTreeMap<String, Vec<u8>>>);

    impl Store for MemoryStore {
        fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
            Ok(self.0.borrow().get(key).cloned())
        }
        fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
            self.0.borrow_mut().insert(key.to_string(), value.to_vec());
            Ok(())
        }
    }

    fn offer(id: &str, category: &str) -> Vec<u8> {
        json!({
            "id": id,
            "business": { "platform": "messenger", "id": "shop-page" },
            "to": { "platform": "whatsapp", "id": "16505551234" },
            "category": category,
            "text": "20% off this weekend",
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_send_is_stored_for_the_pipeline_once() {
        let store = MemoryStore::default();
        let first = dispatch(
            &store,
            "POST",
            "/business/messages",
            &offer("promo-1", "marketing"),
            7,
        );
        assert_eq!(first.status, 202, "{:?}", first.body);
        assert_eq!(first.body["id"], "messenger:api:promo-1");
        let inbox = store
            .get("inbox:messenger:api:promo-1")
            .unwrap()
            .expect("queued");
        let envelope: Envelope = serde_json::from_slice(&inbox).unwrap();
        assert_eq!(envelope.sender.address.id, "shop-page");
        assert_eq!(envelope.recipient.platform, "whatsapp");
        assert_eq!(envelope.timestamp_ms, 7);
        match envelope.event {
            Event::Message(message) => assert_eq!(message.category, MessageCategory::Marketing),
            other => panic!("not a message: {other:?}"),
        }
        let again = dispatch(
            &store,
            "POST",
            "/business/messages",
            &offer("promo-1", "marketing"),
            8,
        );
        assert_eq!(again.status, 200);
        assert_eq!(again.body["duplicate"], true);

        let queued = dispatch(
            &store,
            "GET",
            "/business/messages/messenger:api:promo-1",
            b"",
            9,
        );
        assert_eq!(queued.body["state"], "queued");
        store
            .set(
                &status_key("messenger:api:promo-1"),
                br#"{"state":"rejected"}"#,
            )
            .unwrap();
        let judged = dispatch(
            &store,
            "GET",
            "/business/messages/messenger:api:promo-1",
            b"",
            9,
        );
        assert_eq!(judged.body["state"], "rejected");
        assert!(directory_schema::is_api_envelope("messenger:api:promo-1"));
        assert!(!directory_schema::is_api_envelope("whatsapp:wamid.api"));
    }

    #[test]
    fn bad_requests_are_named_and_nothing_is_stored() {
        let store = MemoryStore::default();
        let cases: Vec<(Vec<u8>, u16, &str)> = vec![
            (b"{".to_vec(), 400, "bad request body"),
            (offer("promo 1", "marketing"), 400, "`id`"),
            (offer("promo-2", "spam"), 400, "unknown variant"),
            (
                json!({"id": "x", "business": {"platform": "messenger", "id": "p"},
                       "to": {"platform": "messenger", "id": "q"},
                       "category": "marketing", "text": "hi"})
                .to_string()
                .into_bytes(),
                400,
                "own app",
            ),
            (vec![b' '; MAX_BODY_BYTES + 1], 413, "limit"),
        ];
        for (body, status, words) in cases {
            let outcome = dispatch(&store, "POST", "/business/messages", &body, 1);
            assert_eq!(outcome.status, status, "{:?}", outcome.body);
            let error = outcome.body["error"].as_str().unwrap();
            assert!(error.contains(words), "{error}");
        }
        assert!(store.0.borrow().is_empty());
        assert_eq!(
            dispatch(&store, "GET", "/business/messages/none", b"", 1).status,
            404
        );
        assert_eq!(
            dispatch(&store, "PUT", "/business/messages", b"", 1).status,
            405
        );
    }

    #[test]
    fn the_token_is_required() {
        assert_eq!(authorize("", Some("")).unwrap_err().status, 401);
        assert_eq!(authorize("secret", None).unwrap_err().status, 401);
        assert_eq!(authorize("secret", Some("secreT")).unwrap_err().status, 401);
        assert!(authorize("secret", Some("secret")).is_ok());
    }
}
