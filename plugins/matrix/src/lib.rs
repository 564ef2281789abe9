//! The Matrix translator: application-service transactions to canonical
//! envelopes ([`decode`](fn@decode)) and canonical envelopes to
//! Client-Server API requests ([`encode`](fn@encode)), as a
//! `translator-plugin` component.
//!
//! Switchboard joins Matrix as an application service: the homeserver pushes
//! each batch of events with `PUT /_matrix/app/v1/transactions/{txnId}`
//! (body `{"events":[…], "ephemeral":[…]}`), and the service sends with its
//! `as_token`, speaking as one of its users through the `user_id` query
//! parameter (identity assertion). It is written as a third-party plugin is:
//! its own `Cargo.toml`, the plugin development kit (`switchboard-pdk`) as
//! its only dependency, the logic in plain modules ([`decode`](mod@decode),
//! [`encode`](mod@encode), [`html`], [`media`]) behind the native functions
//! below, which the component ([`switchboard_pdk::export_translator!`]) only
//! forwards to.
//!
//! # Decoding
//!
//! | Matrix | canonical |
//! |---|---|
//! | `events[]` | one envelope each, id `matrix:<event_id>`, native id the event id |
//! | `sender`, `room_id`, `origin_server_ts` | sender `{matrix, @user:server}`, conversation `group` with the room id, `timestamp-ms` |
//! | `m.room.message` `m.text`, `m.notice`, `m.emote` | `text`; with `format: org.matrix.custom.html` the `formatted_body` gives the text and spans (`b`/`strong`, `i`/`em`, `del`, `code`/`pre`, `a href`, `matrix.to` user links as mentions; [`html`]); `msgtype` of notices and emotes in extras; Switchboard armor → `sealed` |
//! | `m.image`, `m.video`, `m.audio`, `m.file` | `media` (image, video, audio, document), source `platform-id(mxc://…)`, `info` mimetype, size, w, h, duration; `body` is the caption when a `filename` is given, else the file name; `is_animated` images → animation |
//! | `m.location` | `location` from `geo_uri`, `body` as name |
//! | `m.sticker` events | `media` of kind sticker |
//! | `m.relates_to.m.in_reply_to` | `reply-to` (the reply fallback quoted in `body` is dropped) |
//! | `m.relates_to.rel_type = m.replace` | `edit` of `event_id` with `m.new_content` |
//! | `m.reaction` (`m.annotation`) | `reaction` (add) with the `key` |
//! | `m.room.redaction` | `deletion` of `redacts` |
//! | state events (`state_key`), other event types, other msgtypes, encrypted attachments | `unsupported(<type or msgtype>)` with the content in extras |
//! | `ephemeral[]` `m.receipt` | one `receipt(read)` per event and user of `m.read`, id `matrix:receipt:<room>:<event>:<user>` (`m.read.private` is private to its user and not relayed) |
//! | other `ephemeral[]` (`m.presence`, `m.typing`) | `unsupported(<type>)`, id `matrix:ephemeral:<type>:<hash of the object>` |
//!
//! Extras are declared personal (`extra-field.personal`: they never leave
//! Matrix) unless they are known to name no one: the `msgtype` of notices
//! and emotes, a thread relation's `rel_type` and `is_falling_back`, a
//! media thumbnail's URL and info, and a receipt's `thread_id`. Personal,
//! among others: `unsigned` (earlier display names, transaction ids), a
//! `state_key` (a user id for memberships), state events' content
//! (`displayname`, `avatar_url`), `m.mentions` (user ids), an encrypted
//! event's or attachment's content (device and keys), a redaction's
//! `reason`, a location's `info`, presence and typing, other event types,
//! and any member the spec adds later.
//!
//! An event whose `unsigned.transaction_id` starts with [`TXN_PREFIX`] was
//! sent by this translator's requests: it is an echo (`echo = true`).
//! Matrix events do not say whether a room is a direct chat (that is each
//! user's `m.direct` account data), so every room is a `group`
//! conversation; and they do not name the application service user they
//! are for, so the recipient is [`APPSERVICE_ENDPOINT`].
//!
//! # Encoding and its degradations
//!
//! The recipient's id is the room id (`!…:server`); a sender id that is a
//! user id (`@…:server`) is asserted with `?user_id=`. Messages are
//! `PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}` and
//! deletions `PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}`,
//! path segments percent-encoded (`!`, `:`, `$`, `@` included). The `txnId`
//! is derived from the envelope id, the room, the sender and the request's
//! place in the list ([`encode::txn_id`]), so a retried delivery is the same
//! transaction and the homeserver does not post it twice. Text is sent as
//! `body` plus an HTML `formatted_body` when it has spans; mentions of Matrix
//! users also go in `m.mentions`.
//!
//! | rule | when | what is sent |
//! |---|---|---|
//! | `text-split` | text over 16,000 bytes of UTF-8 (a quarter of the 65,536-byte event limit, leaving room for the HTML) | several messages cut on word boundaries, spans split with them |
//! | `formatting-dropped` | a formatted body over 32,000 bytes | the plain `body` only |
//! | `mention-as-text` | a mention of someone not on Matrix | the mention's text without a link |
//! | `media-without-url` | media known only by another platform's media id | a text notice naming the media kind |
//! | `media-as-link` | media at an `https://` URL (Matrix events carry only `mxc://` URIs) | a text message with the caption or file name linked to the URL |
//! | `voice-as-audio` | voice note | an `m.audio` message |
//! | `caption-as-text` | caption on a sticker (`m.sticker` has no caption) | the sticker, then the caption as text |
//! | `location-as-text` | coordinates that are not finite | the place name as text |
//! | `location-url-as-text` | a location with a URL | the location, then the URL as text |
//! | `contacts-as-text` | contact cards (Matrix has no contact message) | one text card per contact |
//! | `header-footer-as-text` | interactive header or footer | folded into the text |
//! | `buttons-to-numbered-text` | buttons (Matrix messages have none) | a numbered text list, URL and call buttons with their target |
//! | `list-to-numbered-text` | a list menu | a numbered text list |
//! | `quick-replies-to-numbered-text` | quick replies | a numbered text list |
//! | `choice-as-text` | a choice (cannot be made on someone's behalf) | its title as text |
//! | `template-as-text` | a WhatsApp business template | its fallback text, or a notice naming it |
//! | `sealed-as-armored-text` | sealed content | one `m.text` in Switchboard armor (over 16,000 bytes: `unsupported` error) |
//! | `unsupported-as-notice` | unsupported content | an `m.notice` naming the type |
//! | `reply-context-dropped` | reply to a message with no Matrix event id | the message without the reply relation |
//! | `forward-flag-dropped` / `story-context-dropped` | forwarded flag / story reference | the message without it |
//! | `reaction-as-text` | reaction to a message with no Matrix event id | a text notice |
//! | `reaction-removal-dropped` | a reaction taken away (it is a redaction of the reaction event, whose id the envelope does not carry) | nothing |
//! | `edit-as-new-message` | edit of a message with no Matrix event id, or to content other than text | a new message prefixed `✏️ Edited: ` |
//! | `deletion-as-notice` | deletion of a message with no Matrix event id | a text notice |
//! | `receipt-dropped` | delivered, sent or failed receipts, or read receipts with no Matrix event id | nothing |
//! | `typing-dropped` | typing from a sender that is not a Matrix user id | nothing |
//!
//! Without degradation: `m.text`, `m.image` (animations with
//! `info.is_animated`), `m.video`, `m.audio`, `m.file` and captions,
//! `m.sticker`, `m.location`, replies (`m.in_reply_to`), edits (`m.replace`
//! with `m.new_content`), `m.reaction`, redactions, read receipts
//! (`POST …/receipt/m.read/{eventId}`) and typing
//! (`PUT …/typing/{userId}`).
//!
//! # Media and authentication
//!
//! [`fetch_media`] turns an `mxc://` URI into one authenticated download;
//! [`api_auth`] (the `as_token` as a bearer header) and
//! [`WEBHOOK_SIGNATURE`] (the `hs_token` as a bearer token on transactions)
//! say how the host authenticates.

#![deny(missing_docs)]

pub mod decode;
pub mod encode;
pub mod html;
pub mod media;

switchboard_pdk::export_translator!();

pub use media::fetch_media;

use switchboard_pdk::json::{self, Node};
use switchboard_pdk::types::{Address, DecodeError, EncodeError, Envelope};
use switchboard_pdk::{ApiAuth, Capabilities, ContentKind, Encoded, Limits, WebhookSignature};

/// The platform name in addresses, references and envelope ids.
pub const PLATFORM: &str = "matrix";
/// The recipient address id of decoded envelopes: events do not name the
/// application service user they are for.
pub const APPSERVICE_ENDPOINT: &str = "appservice";
/// The start of every transaction id this translator makes, so that the
/// homeserver's echo of our own sends can be told apart.
pub const TXN_PREFIX: &str = "switchboard.";
/// Largest transaction body accepted (8 MiB): homeservers batch up to 100
/// events of at most 64 KiB each, plus ephemeral data.
pub const MAX_WEBHOOK_BYTES: u64 = 8 * 1024 * 1024;
/// Bytes of UTF-8 in one message's `body`.
pub const MAX_TEXT_BYTES: usize = 16_000;
/// Bytes of a `formatted_body`.
pub const MAX_FORMATTED_BYTES: usize = 32_000;

/// How the homeserver authenticates its transactions: `Authorization:
/// Bearer <hs_token>` from the registration file.
pub const WEBHOOK_SIGNATURE: WebhookSignature = WebhookSignature::BearerToken;

/// How the host authenticates Client-Server API calls: the `as_token` as
/// `Authorization: Bearer`.
pub fn api_auth() -> ApiAuth {
    ApiAuth::BearerHeader
}

/// What this translator handles, the limits `encode` keeps to, and how the
/// host authenticates webhooks and API calls for it.
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
            ContentKind::Animation,
            ContentKind::Location,
            ContentKind::Reaction,
            ContentKind::Edit,
            ContentKind::Deletion,
            ContentKind::Receipt,
            ContentKind::Typing,
            ContentKind::Reply,
        ],
        limits: Limits {
            // Bytes bound the split; a character is at least one byte.
            max_text_chars: MAX_TEXT_BYTES as u32,
            max_caption_chars: MAX_TEXT_BYTES as u32,
            max_buttons: 0,
            max_button_title_chars: 0,
            max_list_rows: 0,
            max_quick_replies: 0,
            max_webhook_bytes: MAX_WEBHOOK_BYTES,
        },
        webhook_signature: WEBHOOK_SIGNATURE,
        api_auth: api_auth(),
    }
}

/// Decodes one transaction body into canonical envelopes.
pub fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    decode::decode(body)
}

/// Renders an envelope as Client-Server API requests into the room
/// `recipient`, as the application service user `sender`.
pub fn encode(
    envelope: &Envelope,
    sender: &Address,
    recipient: &Address,
) -> Result<Encoded, EncodeError> {
    encode::encode(envelope, sender, recipient)
}

/// Reads `event_id` from a send or redact response (`{"event_id":"$…"}`).
pub fn sent_message_id(body: &[u8]) -> Option<String> {
    let value = json::parse(body, MAX_WEBHOOK_BYTES).ok()?;
    let root = Node::root(&value);
    root.opt_str("event_id")
        .ok()?
        .filter(|id| id.starts_with('$'))
        .map(str::to_string)
}
