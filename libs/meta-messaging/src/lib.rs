//! Shared decoding and encoding of the Messenger Platform format, used by the
//! Messenger (`"object": "page"`) and Instagram (`"object": "instagram"`)
//! translators.
//!
//! Both products post the same webhook shape (`entry[].messaging[]`, plus
//! `entry[].standby[]` and `entry[].changes[]`) and take the same Send API
//! requests (`POST /v21.0/{sender-id}/messages`). What differs between them is
//! small and lives in a [`Flavor`]: the platform and object names, the text
//! limit (Messenger counts 2,000 characters, Instagram 1,000 bytes of UTF-8),
//! whether button templates and file attachments can be sent, and which
//! message tag fits transactional traffic. Each translator crate is one
//! [`translator!`] call with its flavor: the macro defines the crate's native
//! functions over [`decode::decode`], [`encode::encode`] and
//! [`sent_message_id`], converting the plain mirror structs of this crate into
//! the crate's generated WIT types, and exports them as the component.
//!
//! # Decoding
//!
//! | native | canonical |
//! |---|---|
//! | `message.text` | `text` (or `sealed` when the text is Switchboard armor) |
//! | `message.attachments[]` image / video / audio / file / sticker / `ig_reel` / `reel` | `media` (image, video, audio, document, sticker, video), source `url(payload.url)` |
//! | `image` attachment with `payload.sticker_id` | `media` of kind sticker (`sticker_id` kept in extras) |
//! | `location` attachment | `location` |
//! | `story_mention` attachment | `unsupported(story_mention)` with `story: mention` and its URL |
//! | `reply_to.story` | `story: reply` with story id and URL |
//! | `reply_to.mid` | `reply-to` message reference |
//! | `quick_reply.payload` | `choice` (origin quick-reply, id = payload, title = text) |
//! | `postback` | `choice` (origin postback) |
//! | `is_echo` | `echo = true`; the page is the sender, the user the conversation |
//! | `is_deleted` | `deletion` |
//! | `is_unsupported`, `fallback`, `share`, `template`, unknown types | `unsupported` |
//! | `reaction` | `reaction` (`unreact` → remove) |
//! | `read` (`watermark`, or `mid` on Instagram) | `receipt(read)` |
//! | `delivery` (`mids`, `watermark`) | `receipt(delivered)` |
//! | `message_edit` | `edit` (`num_edit` in extras) |
//! | `referral`, `optin`, other events | `unsupported(<event name>)`, the event in extras |
//!
//! A message with several attachments gives one envelope per attachment
//! (`<platform>:<mid>`, then `<platform>:<mid>:1`, `:2`…); text sent with a
//! media attachment becomes the media's caption. Every field without a
//! canonical home (`app_id`, `metadata`, `sticker_id`, `nlp`, `referral`…) is
//! kept in `extras` under its JSON pointer, declared personal
//! (`extra-field.personal`: it stays on this app) unless it is one of the few
//! members known to identify no one: a change's `field`, a message's
//! `commands`, a reply's `is_self_reply`, a sticker's `sticker_id`, a
//! reaction's `reaction` name, `seq` of receipts and an edit's `num_edit`.
//! Everything about the sender or recipient beyond their id (`user_ref`…),
//! events without a canonical home, changes (comments name their author),
//! `referral`, `nlp`, `app_id`, `metadata` and any member Meta adds later are
//! personal. Envelope ids are deterministic:
//! `<platform>:<mid>` for messages, `<platform>:<mid>:deleted` and
//! `<platform>:<mid>:edit:<n>` for deletions and edits, and for events without
//! an id of their own one derived from the kind, the sender and the target
//! message or watermark (`messenger:read:<psid>:<watermark>`). Timestamps in
//! seconds (the `changes[]` form sends strings of seconds) are turned into
//! milliseconds.
//!
//! # Encoding and its degradations
//!
//! Every request is `POST /v21.0/{sender.id}/messages` with a JSON body and
//! `Content-Type: application/json`; the host adds the token. No request
//! exceeds a documented limit: text is split on word boundaries to the
//! flavor's limit, quick replies and button titles are cut to 20 characters,
//! at most 13 quick replies and 3 template buttons are sent, payloads are at
//! most 1,000 characters and button-template text at most 640.
//!
//! | rule | when | what is sent |
//! |---|---|---|
//! | `text-split` | text (or armor) longer than the limit | several text messages, cut on word boundaries |
//! | `formatting-dropped` | text had formatting spans | plain text; a link's URL is kept after its text |
//! | `caption-as-text` | media with a caption | the attachment, then the caption as a text message |
//! | `media-without-url` | media known only by another platform's media id | a text notice naming the media kind |
//! | `sticker-as-image` | a sticker | an image attachment of the sticker's URL |
//! | `document-as-link` | a document where file attachments are not sent (Instagram) | a text message with the file name and URL |
//! | `location-to-map-link` | a location | text with name, address and `https://maps.google.com/?q=lat,lng` |
//! | `contacts-as-text` | contact cards | one text card per contact |
//! | `header-footer-as-text` | interactive header or footer | header and footer folded into the text |
//! | `button-title-truncated` | a button or quick-reply title over 20 characters | the title cut on a word boundary |
//! | `buttons-to-quick-replies` | reply-only buttons where button templates are not sent (Instagram) | quick replies |
//! | `buttons-to-numbered-text` | buttons that fit no template (more than 3, text over 640, URL or call buttons on Instagram, payload over 1,000) | numbered text listing titles, URLs and numbers |
//! | `list-to-quick-replies` | a list menu of at most 13 rows | quick replies, one per row (id as payload) |
//! | `list-to-numbered-text` | a list menu of more than 13 rows | numbered text |
//! | `quick-replies-to-numbered-text` | more than 13 quick replies | numbered text |
//! | `choice-as-text` | a choice (an answer to someone else's interactive) | its title as text |
//! | `template-as-text` | a WhatsApp business template | its fallback text, or a notice naming it |
//! | `sealed-as-armored-text` | sealed content | the `switchboard_pdk::armor` text; split like text when longer than the limit |
//! | `unsupported-as-notice` | unsupported content | a text notice naming the native type |
//! | `story-as-text` | a message about a story | a text line before the message, with the story URL |
//! | `reply-as-prefix` | a reply, which the Send API cannot thread | `↩️ ` before the first text, or a notice before an attachment |
//! | `reaction-as-text` | a reaction to a message of another platform | a text saying which emoji was set or removed |
//! | `edit-as-new-message` | an edit | a new message `✏️ Edited: …` |
//! | `deletion-as-notice` | a deletion | a text notice that a message was deleted |
//! | `receipt-not-sent` | delivered, sent or failed receipts | nothing: the Send API has no such action |
//! | `category-as-update` | transactional content where no message tag fits (Instagram) | `messaging_type: UPDATE` |
//!
//! Without degradation: reactions (`sender_action: react` / `unreact` with
//! `payload.message_id`), read receipts (`mark_seen`), typing (`typing_on` /
//! `typing_off`), marketing (`messaging_type: UPDATE`) and transactional
//! content on Messenger (`MESSAGE_TAG` with `POST_PURCHASE_UPDATE`).
//!
//! Sealed content longer than one message is split into several text messages
//! on the armor's line breaks; [`decode::decode`] recognises armor only in a
//! single message (a part of a split armor decodes as plain text), so sealed
//! content round-trips when its armor fits the limit: about 670 bytes of
//! sealed payload on Instagram, 1,400 on Messenger.

#![deny(missing_docs)]

pub mod decode;
pub mod encode;

/// What differs between the products that speak the Messenger Platform format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flavor {
    /// Canonical platform name (`messenger`, `instagram`).
    pub platform: &'static str,
    /// The webhook's `object` value (`page`, `instagram`).
    pub object: &'static str,
    /// Most characters in one text message.
    pub max_text_chars: usize,
    /// Most UTF-8 bytes in one text message, where the platform counts bytes.
    pub max_text_bytes: Option<usize>,
    /// Whether the button template can be sent (Messenger); otherwise reply
    /// buttons become quick replies.
    pub button_template: bool,
    /// Whether `file` attachments can be sent.
    pub file_attachments: bool,
    /// The message tag for transactional messages, where one fits.
    pub transactional_tag: Option<&'static str>,
    /// Whether the Send API takes `reply_to: {mid}`. Not confirmed in Meta's
    /// Send API reference for either product, so both flavors say no.
    pub send_reply_to: bool,
}

/// The Messenger flavor: 2,000-character texts, button templates, files, and
/// `POST_PURCHASE_UPDATE` for transactional messages.
pub const MESSENGER: Flavor = Flavor {
    platform: "messenger",
    object: "page",
    max_text_chars: 2000,
    max_text_bytes: None,
    button_template: true,
    file_attachments: true,
    transactional_tag: Some("POST_PURCHASE_UPDATE"),
    send_reply_to: false,
};

/// The Instagram flavor: texts of at most 1,000 bytes of UTF-8, quick replies
/// instead of button templates, no files, and only the `HUMAN_AGENT` tag (so
/// no tag for transactional messages).
pub const INSTAGRAM: Flavor = Flavor {
    platform: "instagram",
    object: "instagram",
    max_text_chars: 1000,
    max_text_bytes: Some(1000),
    button_template: false,
    file_attachments: false,
    transactional_tag: None,
    send_reply_to: false,
};

/// Largest webhook body accepted (4 MiB).
pub const MAX_WEBHOOK_BYTES: u64 = 4 * 1024 * 1024;
/// Most quick replies on one message.
pub const MAX_QUICK_REPLIES: usize = 13;
/// Most buttons on a button template.
pub const MAX_TEMPLATE_BUTTONS: usize = 3;
/// Most characters of a button or quick-reply title.
pub const MAX_BUTTON_TITLE_CHARS: usize = 20;
/// Most characters of a button template's text.
pub const MAX_TEMPLATE_TEXT_CHARS: usize = 640;
/// Most characters of a postback or quick-reply payload.
pub const MAX_PAYLOAD_CHARS: usize = 1000;
/// The Graph API version the requests are written for.
pub const API_VERSION: &str = "v21.0";

/// Makes the calling crate the translator component of a flavor: defines its
/// native `describe`, `decode`, `encode`, `sent_message_id` and `fetch_media`
/// (what the host's benchmarks and the integration tests call) over this
/// crate, and exports them with [`switchboard_pdk::export_translator!`]. The
/// caller depends on `switchboard-pdk` and this crate.
///
/// ```ignore
/// meta_messaging::translator!(meta_messaging::MESSENGER);
/// ```
#[macro_export]
macro_rules! translator {
    ($flavor:path) => {
        switchboard_pdk::export_translator!();

        pub use switchboard_pdk::{
            ApiAuth, Capabilities, ContentKind, Degradation, Encoded, HttpMethod, Limits,
            MediaDownload, MediaError, MediaStep, SendRequest, WebhookSignature,
        };

        /// What this translator handles and the limits `encode` keeps to.
        pub fn describe() -> Capabilities {
            let flavor = &$flavor;
            let mut native = vec![
                ContentKind::Text,
                ContentKind::Image,
                ContentKind::Video,
                ContentKind::Audio,
            ];
            if flavor.file_attachments {
                native.push(ContentKind::Document);
            }
            if flavor.button_template {
                native.push(ContentKind::Buttons);
            }
            native.extend([
                ContentKind::QuickReplies,
                ContentKind::Reaction,
                ContentKind::Receipt,
                ContentKind::Typing,
            ]);
            Capabilities {
                platform: flavor.platform.to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                native,
                limits: Limits {
                    max_text_chars: flavor.max_text_chars as u32,
                    // Attachments take no caption: captions go as text messages.
                    max_caption_chars: flavor.max_text_chars as u32,
                    max_buttons: if flavor.button_template {
                        $crate::MAX_TEMPLATE_BUTTONS as u32
                    } else {
                        0
                    },
                    max_button_title_chars: $crate::MAX_BUTTON_TITLE_CHARS as u32,
                    max_list_rows: $crate::MAX_QUICK_REPLIES as u32,
                    max_quick_replies: $crate::MAX_QUICK_REPLIES as u32,
                    max_webhook_bytes: $crate::MAX_WEBHOOK_BYTES,
                },
                webhook_signature: WebhookSignature::HubSignatureSha256,
                api_auth: ApiAuth::BearerHeader,
            }
        }

        /// Decodes one webhook body into canonical envelopes.
        pub fn decode(
            body: &[u8],
        ) -> Result<Vec<switchboard_pdk::types::Envelope>, switchboard_pdk::types::DecodeError> {
            $crate::decode::decode(&$flavor, body)
        }

        /// Renders an envelope as Send API requests from `sender` to `recipient`.
        pub fn encode(
            envelope: &switchboard_pdk::types::Envelope,
            sender: &switchboard_pdk::types::Address,
            recipient: &switchboard_pdk::types::Address,
        ) -> Result<Encoded, switchboard_pdk::types::EncodeError> {
            let encoded = $crate::encode::encode(&$flavor, envelope, sender, recipient)?;
            let (name, value) = $crate::encode::CONTENT_TYPE;
            Ok(Encoded {
                requests: encoded
                    .requests
                    .into_iter()
                    .map(|request| SendRequest {
                        method: HttpMethod::Post,
                        path: request.path,
                        headers: vec![(name.to_string(), value.to_string())],
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
            $crate::sent_message_id(body)
        }

        /// Media cannot be fetched by id: the Messenger Platform's webhooks
        /// carry attachment URLs, decoded as `media-source::url`.
        pub fn fetch_media(
            _media_id: &str,
            _previous_response: Option<&[u8]>,
        ) -> Result<MediaStep, MediaError> {
            Err(MediaError::Unsupported)
        }
    };
}

/// Reads the platform's message id (`message_id`) from a Send API response.
pub fn sent_message_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("message_id")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_message_id_of_a_send_response() {
        let body = br#"{"recipient_id":"1254477777772919","message_id":"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"}"#;
        assert_eq!(
            sent_message_id(body).as_deref(),
            Some(
                "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"
            )
        );
        assert_eq!(sent_message_id(br#"{"error":{"code":100}}"#), None);
        assert_eq!(sent_message_id(b"not json"), None);
        assert_eq!(sent_message_id(br#"{"message_id":7}"#), None);
    }
}
