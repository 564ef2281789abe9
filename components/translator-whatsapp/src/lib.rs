//! The WhatsApp translator: WhatsApp Cloud API webhooks to canonical envelopes
//! ([`decode`](fn@decode)) and canonical envelopes to Cloud API send requests
//! ([`encode`](fn@encode)), as a `translator-plugin` component.
//!
//! The logic lives in plain modules ([`decode`](mod@decode),
//! [`encode`](mod@encode), [`markup`]) with the native functions below as
//! their public face: the host's benchmarks and the integration tests call
//! them directly, and the component
//! ([`switchboard_pdk::export_translator!`]) only forwards to them.
//!
//! # Decoding
//!
//! | WhatsApp | canonical |
//! |---|---|
//! | `messages[]` | one envelope each, id `whatsapp:<wamid>`, `echo = false` |
//! | `from`, `contacts[].profile.name` | sender `{whatsapp, wa_id}` with display name and phone number `+<wa_id>` |
//! | `metadata.phone_number_id` | recipient `{whatsapp, phone_number_id}` (`display_phone_number` in extras) |
//! | `timestamp` (seconds) | `timestamp-ms` |
//! | `text` | `text` with `*bold*`, `_italic_`, `~strike~`, ```` ```mono``` ```` as spans; Switchboard armor → `sealed` |
//! | `image`, `video`, `audio`, `document`, `sticker` | `media` (`audio.voice` → voice; `sticker.animated`, `url` in extras) |
//! | `location`, `contacts` | `location`, `contacts` |
//! | `interactive.button_reply` / `list_reply` | `choice` (button / list-row) |
//! | `interactive.nfm_reply` and other reply types | `unsupported(<type>)`, the reply in extras |
//! | `button` (template quick reply) | `choice` (postback) |
//! | `reaction` | `reaction` (no or empty emoji → remove) |
//! | `edit`, `revoke` | `edit`, `deletion` |
//! | `order`, `system`, `unsupported`, `unknown`, … | `unsupported(<type>)` described by the error title or system body; the object in extras |
//! | `context.id` / `forwarded` / `frequently_forwarded` | `reply-to` / `forwarded` |
//! | `referral` and any other member | extras, under its JSON pointer |
//! | `statuses[]` | `receipt` (`played` counts as read), id `whatsapp:status:<wamid>:<status>`, `errors[0]` → failure; `conversation`, `pricing` in extras |
//! | `value.errors[]`, changes of other fields | `unsupported(error)` / `unsupported(<field>)` with the object in extras |
//!
//! Every extra is declared personal (`extra-field.personal`: it never leaves
//! WhatsApp) unless it is known to name no one: a sticker's `animated`, an
//! order, a list row's `description`, a referred product, a status's
//! `pricing`, and Graph API error objects. Personal, among others: the
//! business account id (`entry[].id`), `display_phone_number`, anything else
//! of `contacts[]` and `profile` (`user_id`…), `context.from`, contact cards'
//! other members, `referral` (an ad click id), `system` and `identity`
//! messages, a Flow's answers, a status's `conversation`, the media `url`,
//! changes of other fields, and any member WhatsApp adds later.
//!
//! # Encoding and its degradations
//!
//! Every request is `POST /v21.0/{sender.id}/messages` with
//! `Content-Type: application/json`; bodies start with
//! `{"messaging_product":"whatsapp","recipient_type":"individual","to":…}`.
//! A canonical reply-to on WhatsApp becomes `context.message_id` on the first
//! request. What WhatsApp cannot take as it is follows these rules, each
//! recorded as a [`Degradation`] with the rule id below:
//!
//! | rule | when | what is sent |
//! |---|---|---|
//! | `text-split` | text over 4,096 characters | several text messages cut on word boundaries |
//! | `caption-truncated` | caption over 1,024 characters | the caption cut on a word boundary, ending in `…` |
//! | `caption-as-text` | caption on audio or a sticker (no caption field) | the media, then the caption as text |
//! | `voice-as-audio` | voice note | an audio message |
//! | `animation-as-document` | animation (GIF): the send API takes none | a document |
//! | `location-url-as-text` | location with a URL | the location, then the URL as text |
//! | `location-as-text` | coordinates that are not finite | the place name as text |
//! | `link-buttons-to-text` | URL or call buttons | `title: url` lines appended to the body |
//! | `buttons-to-list` | 4 to 10 reply buttons (WhatsApp takes 3) | an interactive list |
//! | `buttons-to-numbered-text` | more than 10 reply buttons | a numbered text list |
//! | `button-title-truncated` / `button-id-truncated` | title over 20 / id over 256 characters | cut on a word boundary |
//! | `list-to-numbered-text` | a list with no rows or more than 10 | a numbered text list |
//! | `list-text-truncated` | list label, row or section text over its limit (20/24/72/200/24) | cut on a word boundary |
//! | `interactive-text-truncated` | header or footer over 60, body over 1,024 characters | cut on a word boundary |
//! | `quick-replies-to-buttons` | 1 to 3 quick replies (WhatsApp has none) | reply buttons |
//! | `quick-replies-to-numbered-text` | more than 3 quick replies | a numbered text list |
//! | `choice-as-text` | a choice (cannot be made on someone's behalf) | its title as text |
//! | `template-parameter-as-body` | a parameter for a component other than `header`, `body`, `button:<n>` | added to the body parameters |
//! | `reaction-as-text` | reaction to a message with no WhatsApp id | a text notice |
//! | `edit-as-new-message` | edit (the API cannot edit) | a new message prefixed `✏️ Edited: ` |
//! | `deletion-as-notice` | deletion (the API cannot delete) | a text notice |
//! | `sealed-as-armored-text` | sealed content | one text message in Switchboard armor (over 4,096 characters: `unsupported` error, armor cannot be split) |
//! | `unsupported-as-notice` | unsupported content | a text notice naming the type |
//! | `reply-context-dropped` | reply to a message with no WhatsApp id | the message without the quote |
//! | `forward-flag-dropped` / `story-context-dropped` | forwarded flag / story reference | the message without it |
//! | `receipt-dropped` | delivered/sent/failed receipts, or targets without a WhatsApp id | nothing (read receipts become `{"status":"read","message_id":…}`) |
//! | `typing-dropped` | typing (WhatsApp's indicator needs a received message id to mark read) | nothing |
//!
//! # Media
//!
//! Webhooks carry media ids (`media-source::platform-id`), not URLs.
//! [`fetch_media`] tells the host how to get the bytes: `GET /v21.0/{media-id}`,
//! then a download of the `url` it answers, both with the bearer token
//! (`api-auth::bearer-header`); the answer's `mime_type`, `file_size` and
//! `sha256` go with the download so the host can check the file.

#![deny(missing_docs)]

pub mod decode;
pub mod encode;
pub mod markup;
pub mod media;

switchboard_pdk::export_translator!();

pub use switchboard_pdk::{
    ApiAuth, Capabilities, ContentKind, Degradation, Encoded, HttpMethod, Limits, MediaDownload,
    MediaError, MediaStep, SendRequest, WebhookSignature,
};

use switchboard_pdk::json::{self, Node};
use switchboard_pdk::types::{Address, DecodeError, EncodeError, Envelope};

/// The platform name in addresses, references and envelope ids.
pub const PLATFORM: &str = "whatsapp";
/// Largest webhook body accepted (4 MiB); real notifications are a few KiB.
pub const MAX_WEBHOOK_BYTES: u64 = 4 * 1024 * 1024;
/// Characters of one text message (Cloud API `text.body`).
pub const MAX_TEXT_CHARS: u32 = 4096;
/// Characters of a media caption.
pub const MAX_CAPTION_CHARS: u32 = 1024;
/// Reply buttons on one interactive message.
pub const MAX_BUTTONS: u32 = 3;
/// Characters of a reply button's title.
pub const MAX_BUTTON_TITLE_CHARS: u32 = 20;
/// Rows of a list message, over all its sections.
pub const MAX_LIST_ROWS: u32 = 10;

/// What this translator handles and the limits `encode` keeps to.
pub fn describe() -> Capabilities {
    Capabilities {
        platform: PLATFORM.to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        native: vec![
            ContentKind::Text,
            ContentKind::FormattedText,
            ContentKind::Image,
            ContentKind::Video,
            ContentKind::Audio,
            ContentKind::Document,
            ContentKind::Sticker,
            ContentKind::Location,
            ContentKind::Contacts,
            ContentKind::Buttons,
            ContentKind::List,
            ContentKind::Template,
            ContentKind::Reaction,
            ContentKind::Receipt,
            ContentKind::Reply,
        ],
        limits: Limits {
            max_text_chars: MAX_TEXT_CHARS,
            max_caption_chars: MAX_CAPTION_CHARS,
            max_buttons: MAX_BUTTONS,
            max_button_title_chars: MAX_BUTTON_TITLE_CHARS,
            max_list_rows: MAX_LIST_ROWS,
            // Quick replies are sent as reply buttons.
            max_quick_replies: MAX_BUTTONS,
            max_webhook_bytes: MAX_WEBHOOK_BYTES,
        },
        webhook_signature: WebhookSignature::HubSignatureSha256,
        api_auth: ApiAuth::BearerHeader,
    }
}

/// Decodes one webhook body, exactly as posted, into canonical envelopes.
pub fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    decode::decode(body)
}

/// Renders an envelope as Cloud API send requests from the business phone
/// number id `sender` to the WhatsApp user `recipient`.
pub fn encode(
    envelope: &Envelope,
    sender: &Address,
    recipient: &Address,
) -> Result<Encoded, EncodeError> {
    encode::encode(envelope, sender, recipient)
}

/// Reads `messages[0].id` from a send API response body.
pub fn sent_message_id(body: &[u8]) -> Option<String> {
    let value = json::parse(body, MAX_WEBHOOK_BYTES).ok()?;
    let root = Node::root(&value);
    let messages = root.get("messages").ok()??;
    let first = messages.items().ok()?.next()?;
    first.opt_string("id").ok()?
}

/// Says how to fetch a WhatsApp media id's bytes: the media URL lookup, then
/// the download it names (see [`media`](mod@media)).
pub fn fetch_media(
    media_id: &str,
    previous_response: Option<&[u8]>,
) -> Result<MediaStep, MediaError> {
    media::fetch_media(media_id, previous_response)
}
