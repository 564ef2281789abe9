//! The Instagram Messaging translator: a thin `translator-plugin` component over the
//! shared Messenger Platform logic in `meta-messaging` (its module docs list
//! the mapping and every degradation rule), with the `instagram` flavor.
//!
//! The native functions below are what the component exports; the host's
//! benchmarks and the integration tests call them directly.

#![deny(missing_docs)]

/// The generated bindings of the `translator-plugin` world.
#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "translator-plugin",
        path: "../../wit",
        with: { "switchboard:messaging/types@0.1.0": switchboard_model::types },
    });
}

pub use bindings::exports::switchboard::messaging::translator::{
    Capabilities, ContentKind, Degradation, Encoded, HttpMethod, Limits, SendRequest,
    WebhookSignature,
};
use meta_messaging::INSTAGRAM as FLAVOR;
use switchboard_model::types::{Address, DecodeError, EncodeError, Envelope};

/// What this translator handles and the limits `encode` keeps to.
pub fn describe() -> Capabilities {
    Capabilities {
        platform: FLAVOR.platform.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        native: vec![
            ContentKind::Text,
            ContentKind::Image,
            ContentKind::Video,
            ContentKind::Audio,
            ContentKind::QuickReplies,
            ContentKind::Reaction,
            ContentKind::Receipt,
            ContentKind::Typing,
        ],
        limits: Limits {
            max_text_chars: FLAVOR.max_text_chars as u32,
            // Attachments take no caption: captions go as text messages.
            max_caption_chars: FLAVOR.max_text_chars as u32,
            max_buttons: 0,
            max_button_title_chars: meta_messaging::MAX_BUTTON_TITLE_CHARS as u32,
            max_list_rows: meta_messaging::MAX_QUICK_REPLIES as u32,
            max_quick_replies: meta_messaging::MAX_QUICK_REPLIES as u32,
            max_webhook_bytes: meta_messaging::MAX_WEBHOOK_BYTES,
        },
        webhook_signature: WebhookSignature::HubSignatureSha256,
    }
}

/// Decodes one webhook body into canonical envelopes.
pub fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    meta_messaging::decode::decode(&FLAVOR, body)
}

/// Renders an envelope as Send API requests from `sender` to `recipient`.
pub fn encode(
    envelope: &Envelope,
    sender: &Address,
    recipient: &Address,
) -> Result<Encoded, EncodeError> {
    let encoded = meta_messaging::encode::encode(&FLAVOR, envelope, sender, recipient)?;
    Ok(Encoded {
        requests: encoded
            .requests
            .into_iter()
            .map(|request| SendRequest {
                method: HttpMethod::Post,
                path: request.path,
                headers: vec![(
                    meta_messaging::encode::CONTENT_TYPE.0.to_string(),
                    meta_messaging::encode::CONTENT_TYPE.1.to_string(),
                )],
                body: request.body.to_string().into_bytes(),
            })
            .collect(),
        degradations: encoded
            .degradations
            .into_iter()
            .map(|degradation| Degradation {
                rule: degradation.rule.to_string(),
                detail: degradation.detail,
            })
            .collect(),
    })
}

/// Reads the sent message's id from a Send API response body.
pub fn sent_message_id(body: &[u8]) -> Option<String> {
    meta_messaging::sent_message_id(body)
}

/// The component: forwards every export to the native functions.
struct Component;

impl bindings::exports::switchboard::messaging::translator::Guest for Component {
    fn describe() -> Capabilities {
        describe()
    }

    fn decode(body: Vec<u8>) -> Result<Vec<Envelope>, DecodeError> {
        decode(&body)
    }

    fn encode(
        envelope: Envelope,
        sender: Address,
        recipient: Address,
    ) -> Result<Encoded, EncodeError> {
        encode(&envelope, &sender, &recipient)
    }

    fn sent_message_id(response_body: Vec<u8>) -> Option<String> {
        sent_message_id(&response_body)
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
