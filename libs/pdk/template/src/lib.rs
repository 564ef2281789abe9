//! The Switchboard translator for {{name}}: turns {{name}}'s webhooks into
//! canonical envelopes and envelopes into {{name}}'s send-API requests.
//!
//! This starting point speaks a small JSON API; change it to the app's real
//! one. It receives
//!
//! ```json
//! {"messages": [{"id": "in-1", "from": "alice", "to": "bot", "text": "Hi", "timestamp": 1765000000}]}
//! ```
//!
//! (`timestamp` in seconds, as a number or a string of digits) and sends each
//! text as `POST /messages` with `{"to": …, "text": …}`, reading the sent
//! message's id from the answer's `id`. Signatures, the access token, retries
//! and media downloads are the host's job: this crate only describes them
//! (see [`describe`]), so it stays a pure function of its input.
//!
//! The five functions below are what the component exports
//! ([`switchboard_pdk::export_translator!`]); they are plain Rust, so the
//! tests at the end call them directly with the files in `fixtures/`.
//!
//! | rule | when | what is sent |
//! |---|---|---|
//! | `text-split` | text longer than [`MAX_TEXT_CHARS`] | several messages, cut on word boundaries |
//! | `formatting-dropped` | text with formatting | the plain text |
//! | `sealed-as-armored-text` | sealed (end-to-end encrypted) content | the armor as text |
//! | `unsupported-as-notice` | any other content | a text notice naming its kind |
//! | `event-dropped` | reactions, edits, deletions, receipts, typing | nothing |

use switchboard_pdk::json::Node;
use switchboard_pdk::prelude::*;
use switchboard_pdk::serde_json;

switchboard_pdk::export_translator!();

/// The platform name in addresses and envelope ids.
pub const PLATFORM: &str = "{{name}}";
/// Characters of one text message, as the app documents it.
pub const MAX_TEXT_CHARS: u32 = 4096;
/// Largest webhook body accepted (1 MiB).
pub const MAX_WEBHOOK_BYTES: u64 = 1024 * 1024;

/// What this translator handles, the limits `encode` keeps to, and how the
/// host authenticates webhooks and API calls for it.
pub fn describe() -> Capabilities {
    Capabilities {
        platform: PLATFORM.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        // Everything not listed is degraded by `encode` (see the table above).
        native: vec![ContentKind::Text],
        limits: Limits {
            max_text_chars: MAX_TEXT_CHARS,
            max_caption_chars: MAX_TEXT_CHARS,
            max_buttons: 0,
            max_button_title_chars: 0,
            max_list_rows: 0,
            max_quick_replies: 0,
            max_webhook_bytes: MAX_WEBHOOK_BYTES,
        },
        // The app echoes a shared secret in a header on every webhook.
        webhook_signature: WebhookSignature::SecretTokenHeader,
        // The host sends `Authorization: Bearer <token>` from the secret
        // variable `{{name}}_access_token`; this crate never sees the token.
        api_auth: ApiAuth::BearerHeader,
    }
}

/// Decodes one webhook body into one envelope per message. A malformed body
/// is an error naming the field (`/messages/0/text`), never a panic.
pub fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    let value = json::parse(body, MAX_WEBHOOK_BYTES)?;
    let root = Node::root(&value);
    let messages = root.field("messages")?;
    messages
        .items()?
        .map(|message| decode_message(&message))
        .collect()
}

/// Members of a message that have a canonical home; the others are kept in
/// the envelope's extras rather than dropped.
const KNOWN: &[&str] = &["id", "from", "to", "text", "timestamp"];

/// Extras that identify no one, so they may cross to other apps with the
/// message. Every other extra is declared personal (`extra-field.personal`)
/// and stays on this app: a member the app adds later is personal until it
/// is listed here. Never list ids, names, phone numbers, usernames, profile
/// or contact data, or objects that may contain them.
const SHARED: &[&str] = &["language"];

fn decode_message(message: &Node<'_, '_>) -> Result<Envelope, DecodeError> {
    let id = message.str("id")?;
    let from = message.str("from")?;
    let seconds = message.field("timestamp")?.as_u64()?;
    // Text that is Switchboard armor is sealed content, carried byte for byte.
    let content = armor::text_content(&message.field("text")?, |text| FormattedText {
        body: text.to_string(),
        spans: Vec::new(),
    })?;
    Ok(Envelope {
        // Deterministic: a redelivered webhook gives the same id.
        id: ids::envelope_id(PLATFORM, id),
        platform: PLATFORM.to_string(),
        native_id: Some(id.to_string()),
        conversation: Conversation {
            kind: ConversationKind::Direct,
            id: from.to_string(),
        },
        sender: Participant {
            address: address(from),
            attributes: Vec::new(),
        },
        recipient: address(message.str("to")?),
        timestamp_ms: seconds.saturating_mul(1000),
        event: Event::Message(Message {
            content,
            reply_to: None,
            forwarded: None,
            story: None,
            category: MessageCategory::Personal,
        }),
        echo: false,
        extras: message.extras(KNOWN, SHARED),
    })
}

fn address(id: &str) -> Address {
    Address {
        platform: PLATFORM.to_string(),
        id: id.to_string(),
    }
}

/// Renders an envelope as send requests to `recipient`. The sending account
/// is the one the access token belongs to, so `sender` is not needed here.
pub fn encode(
    envelope: &Envelope,
    _sender: &Address,
    recipient: &Address,
) -> Result<Encoded, EncodeError> {
    if recipient.id.is_empty() {
        return Err(EncodeError::InvalidEnvelope(FieldError {
            path: "/recipient/id".to_string(),
            expected: "the recipient's id".to_string(),
            found: None,
        }));
    }
    let mut degradations = Vec::new();
    let text = match &envelope.event {
        Event::Message(message) => match &message.content {
            Content::Text(text) => {
                if !text.spans.is_empty() {
                    degradations.push(degradation("formatting-dropped", "sent as plain text"));
                }
                text.body.clone()
            }
            Content::Sealed(sealed) => {
                degradations.push(degradation("sealed-as-armored-text", "sent as armor"));
                armor::encode(sealed)
            }
            other => {
                let kind = content_kind(other);
                degradations.push(degradation("unsupported-as-notice", kind));
                format!("[{kind} not shown on {PLATFORM}]")
            }
        },
        other => {
            degradations.push(degradation("event-dropped", event_kind(other)));
            return Ok(Encoded {
                requests: Vec::new(),
                degradations,
            });
        }
    };
    let chunks = text::chunks(&text, MAX_TEXT_CHARS as usize);
    if chunks.len() > 1 {
        degradations.push(degradation(
            "text-split",
            &format!("sent as {} messages", chunks.len()),
        ));
    }
    let requests = chunks
        .into_iter()
        .map(|chunk| send_text(&recipient.id, chunk))
        .collect();
    Ok(Encoded {
        requests,
        degradations,
    })
}

fn send_text(to: &str, text: &str) -> SendRequest {
    SendRequest {
        method: HttpMethod::Post,
        path: "/messages".to_string(),
        headers: vec![("Content-Type".to_string(), "application/json".to_string())],
        body: serde_json::json!({ "to": to, "text": text })
            .to_string()
            .into_bytes(),
    }
}

fn degradation(rule: &str, detail: &str) -> Degradation {
    Degradation {
        rule: rule.to_string(),
        detail: detail.to_string(),
    }
}

fn content_kind(content: &Content) -> &'static str {
    match content {
        Content::Text(_) => "text",
        Content::Media(_) => "media",
        Content::Location(_) => "location",
        Content::Contacts(_) => "contacts",
        Content::Interactive(_) => "interactive message",
        Content::Choice(_) => "choice",
        Content::Template(_) => "template",
        Content::Sealed(_) => "sealed message",
        Content::Unsupported(_) => "unsupported message",
    }
}

fn event_kind(event: &Event) -> &'static str {
    match event {
        Event::Message(_) => "message",
        Event::Reaction(_) => "reaction",
        Event::Edit(_) => "edit",
        Event::Deletion(_) => "deletion",
        Event::Receipt(_) => "receipt",
        Event::Typing(_) => "typing",
    }
}

/// Reads the sent message's id (`id`) from a send-API answer, so replies,
/// reactions and receipts can be mapped back to it.
pub fn sent_message_id(response_body: &[u8]) -> Option<String> {
    let value = json::parse(response_body, MAX_WEBHOOK_BYTES).ok()?;
    Node::root(&value).opt_string("id").ok()?
}

/// Says how to fetch a media id's bytes. This API sends no media; an app that
/// does answers with `MediaStep::Request` (look the id up) or
/// `MediaStep::Download` (the bytes), first checking the id with
/// `ids::path_segment` since it goes into a request path.
pub fn fetch_media(
    _media_id: &str,
    _previous_response: Option<&[u8]>,
) -> Result<MediaStep, MediaError> {
    Err(MediaError::Unsupported)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    const WEBHOOK: &[u8] = include_bytes!("../fixtures/webhook.json");
    const SEND_RESPONSE: &[u8] = include_bytes!("../fixtures/responses/send.json");

    #[test]
    fn decodes_every_message_of_the_sample_webhook() {
        let envelopes = decode(WEBHOOK).unwrap();
        assert_eq!(envelopes.len(), 2);
        let first = &envelopes[0];
        assert_eq!(first.id, format!("{PLATFORM}:in-1001"));
        assert_eq!(first.sender.address, address("alice"));
        assert_eq!(first.recipient, address("switchboard-bot"));
        assert_eq!(first.timestamp_ms, 1_765_000_000_000);
        let Event::Message(message) = &first.event else {
            panic!("not a message: {:?}", first.event);
        };
        let Content::Text(text) = &message.content else {
            panic!("not text: {:?}", message.content);
        };
        assert_eq!(text.body, "Hello, Switchboard!");
        // A timestamp as a string of digits; an unknown member kept.
        assert_eq!(envelopes[1].timestamp_ms, 1_765_000_042_000);
        assert_eq!(envelopes[1].extras.len(), 1);
        assert_eq!(envelopes[1].extras[0].path, "/messages/1/language");
        assert!(!envelopes[1].extras[0].personal, "declared shared");
    }

    #[test]
    fn undeclared_members_stay_on_this_app() {
        let body = br#"{"messages":[{"id":"in-1","from":"alice","to":"bot","text":"Hi",
            "timestamp":1765000000,"profile":{"name":"Alice"},"language":"en"}]}"#;
        let envelopes = decode(body).unwrap();
        let declared: Vec<(&str, bool)> = envelopes[0]
            .extras
            .iter()
            .map(|extra| (extra.path.as_str(), extra.personal))
            .collect();
        assert_eq!(
            declared,
            vec![
                ("/messages/0/language", false),
                ("/messages/0/profile", true)
            ]
        );
    }

    #[test]
    fn every_decoded_message_re_encodes_to_its_text() {
        for envelope in decode(WEBHOOK).unwrap() {
            let Event::Message(Message {
                content: Content::Text(text),
                ..
            }) = &envelope.event
            else {
                panic!("not a text message: {envelope:?}");
            };
            let encoded = encode(&envelope, &envelope.recipient, &envelope.sender.address).unwrap();
            assert!(
                encoded.degradations.is_empty(),
                "{:?}",
                encoded.degradations
            );
            assert_eq!(encoded.requests.len(), 1);
            let request = &encoded.requests[0];
            assert_eq!(request.method, HttpMethod::Post);
            assert_eq!(request.path, "/messages");
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(body["to"], envelope.sender.address.id.as_str());
            assert_eq!(body["text"], text.body.as_str());
        }
    }

    #[test]
    fn long_text_is_split_within_the_limit() {
        let mut envelope = decode(WEBHOOK).unwrap().remove(0);
        let long = "word ".repeat(2000);
        envelope.event = Event::Message(Message {
            content: Content::Text(FormattedText {
                body: long,
                spans: Vec::new(),
            }),
            reply_to: None,
            forwarded: None,
            story: None,
            category: MessageCategory::Personal,
        });
        let encoded = encode(&envelope, &address("bot"), &address("alice")).unwrap();
        assert_eq!(encoded.requests.len(), 3);
        assert_eq!(encoded.degradations[0].rule, "text-split");
        for request in &encoded.requests {
            let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
            let text = body["text"].as_str().unwrap();
            assert!(text::char_len(text) <= MAX_TEXT_CHARS as usize);
        }
    }

    #[test]
    fn malformed_webhooks_name_the_field() {
        let error =
            decode(br#"{"messages":[{"id":"1","from":"a","to":"b","timestamp":1}]}"#).unwrap_err();
        let DecodeError::MissingField(field) = error else {
            panic!("{error:?}");
        };
        assert_eq!(field.path, "/messages/0/text");
        assert!(matches!(decode(b"not json"), Err(DecodeError::Syntax(_))));
    }

    #[test]
    fn reads_the_sent_message_id() {
        assert_eq!(sent_message_id(SEND_RESPONSE).as_deref(), Some("out-2001"));
        assert_eq!(sent_message_id(br#"{"error":"bad token"}"#), None);
    }

    #[test]
    fn declares_how_the_host_authenticates() {
        let capabilities = describe();
        assert_eq!(capabilities.platform, PLATFORM);
        assert_eq!(
            capabilities.webhook_signature,
            WebhookSignature::SecretTokenHeader
        );
        assert_eq!(capabilities.api_auth, ApiAuth::BearerHeader);
        assert_eq!(fetch_media("1", None), Err(MediaError::Unsupported));
    }
}
