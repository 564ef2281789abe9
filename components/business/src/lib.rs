//! The business API: how a business reaches, on their own apps, the people it
//! shares a direct conversation with (made through the admin API) — order updates, reservations, sign-in codes, and marketing
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
//! sends it within the direct conversation of the business and `to` (none:
//! refused `no-conversation`), under the same policy as everyone (consent,
//! blocks), and the
//! business rules on top: marketing needs the person's opt-in, and a person's
//! STOP is an opt-out. A refusal is reported in the status, not as a notice on
//! an app. `id` is the business's own id for the message and makes a retried
//! request idempotent.
//!
//! Every request needs `Authorization: Bearer <business_api_token>` (a Spin
//! variable); the API is off (503) while it is empty. Errors are JSON
//! `{"error": "…"}` with 400, 401, 404, 405, 413 or 503.

use directory_schema::{api_envelope_id, envelope_key, inbox_key, status_key};
use serde::Deserialize;
use serde_json::json;
use switchboard_pdk::types::{
    Address, Content, Conversation, ConversationKind, Envelope, Event, FormattedText, Message,
    MessageCategory, Participant,
};

/// Largest request body the API reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest message text, in characters (WhatsApp's text limit, the tightest
/// of the three apps).
pub const MAX_TEXT_CHARS: usize = 4096;

use json_api::refuse;
pub use json_api::{Outcome, Store};

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
    /// Reads and checks a request body; `apps` are the apps the relay
    /// serves (those with endpoints configured).
    pub fn parse(body: &[u8], apps: &[String]) -> Result<SendRequest, Outcome> {
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
            if !platform_name_ok(&account.platform) || account.id.is_empty() {
                return Err(refuse(
                    400,
                    format!(
                        "`{field}` needs a platform name (1 to 32 lower-case letters, digits, `-` or `_`, starting with a letter) and an id"
                    ),
                ));
            }
        }
        for (field, account) in [("business", &request.business), ("to", &request.to)] {
            if !apps.contains(&account.platform) {
                return Err(refuse(
                    400,
                    format!(
                        "`{field}.platform` {:?} is not an app this relay serves (no endpoints are configured for it)",
                        account.platform
                    ),
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

/// Answers one authorised request; `apps` are the apps the relay serves.
pub fn dispatch(
    store: &dyn Store,
    apps: &[String],
    method: &str,
    path: &str,
    body: &[u8],
    now_ms: u64,
) -> Outcome {
    let path = path.trim_end_matches('/');
    match (method, path) {
        ("POST", "/business/messages") => {
            send(store, apps, body, now_ms).unwrap_or_else(|error| error)
        }
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

fn send(store: &dyn Store, apps: &[String], body: &[u8], now_ms: u64) -> Result<Outcome, Outcome> {
    let request = SendRequest::parse(body, apps)?;
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
    use json_api::spin::{SpinStore, bearer, method, now_ms, respond};
    use spin_sdk::http::{IntoResponse, Request};
    use spin_sdk::{http_component, variables};

    #[http_component]
    fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
        let token = variables::get("business_api_token").unwrap_or_default();
        let outcome = match json_api::authorize(&token, bearer(&request), "business_api_token") {
            Err(outcome) => outcome,
            Ok(()) => {
                let store = SpinStore::open_default()?;
                // The apps the relay serves: those with endpoints.
                let pools = variables::get("endpoints").unwrap_or_default();
                let apps: Vec<String> = conversations::Endpoints::parse(&pools, "")
                    .map(|endpoints| endpoints.platforms().map(str::to_string).collect())
                    .unwrap_or_default();
                super::dispatch(
                    &store,
                    &apps,
                    method(&request),
                    request.path(),
                    request.body(),
                    now_ms(),
                )
            }
        };
        Ok(respond(outcome))
    }
}

/// Whether `name` can be a platform name: it ends up in store keys, logs and
/// metric labels, so only the shape every app name has is accepted.
fn platform_name_ok(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_lowercase())
        && name.len() <= 32
        && characters
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    /// The apps the sample relay serves.
    fn apps() -> Vec<String> {
        ["whatsapp", "messenger", "instagram"]
            .map(String::from)
            .to_vec()
    }

    use super::*;
    use json_api::MemoryStore;

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
            &apps(),
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
            &apps(),
            "POST",
            "/business/messages",
            &offer("promo-1", "marketing"),
            8,
        );
        assert_eq!(again.status, 200);
        assert_eq!(again.body["duplicate"], true);

        let queued = dispatch(
            &store,
            &apps(),
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
            &apps(),
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
                       "to": {"platform": "sms", "id": "q"},
                       "category": "service", "text": "hi"})
                .to_string()
                .into_bytes(),
                400,
                "not an app this relay serves",
            ),
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
            // A platform name that would end a metric label or a log field.
            (
                json!({"id": "x", "business": {"platform": "messenger\"} 1\nforged", "id": "p"},
                       "to": {"platform": "whatsapp", "id": "q"},
                       "category": "marketing", "text": "hi"})
                .to_string()
                .into_bytes(),
                400,
                "platform name",
            ),
        ];
        for (body, status, words) in cases {
            let outcome = dispatch(&store, &apps(), "POST", "/business/messages", &body, 1);
            assert_eq!(outcome.status, status, "{:?}", outcome.body);
            let error = outcome.body["error"].as_str().unwrap();
            assert!(error.contains(words), "{error}");
        }
        assert!(store.keys().unwrap().is_empty());
        assert_eq!(
            dispatch(&store, &apps(), "GET", "/business/messages/none", b"", 1).status,
            404
        );
        assert_eq!(
            dispatch(&store, &apps(), "PUT", "/business/messages", b"", 1).status,
            405
        );
    }
}
