//! The Telegram translator: Bot API webhook updates to canonical envelopes
//! ([`decode`](fn@decode)) and canonical envelopes to Bot API method calls
//! ([`encode`](fn@encode)), as a `translator-plugin` component.
//!
//! It is written as a third-party plugin is: its own `Cargo.toml`, the
//! plugin development kit (`switchboard-pdk`) as its only dependency, and its
//! logic in plain modules ([`decode`](mod@decode), [`encode`](mod@encode),
//! [`entities`], [`media`]) behind the native functions below, which the
//! component ([`switchboard_pdk::export_translator!`]) only forwards to.
//!
//! # Decoding
//!
//! Telegram posts one [`Update`](https://core.telegram.org/bots/api#update)
//! per webhook request; each gives one envelope (a reaction update gives one
//! per emoji set or taken away).
//!
//! | Telegram | canonical |
//! |---|---|
//! | `message`, `channel_post` | `message`, id `telegram:<chat id>:<message id>`, native id `<chat id>:<message id>` |
//! | `edited_message`, `edited_channel_post` | `edit` of `<chat id>:<message id>`, id `telegram:<chat id>:<message id>:edit:<edit_date>` |
//! | `message_reaction` | one `reaction` per emoji added (in `new_reaction` only) or removed (in `old_reaction` only), id `telegram:reaction:<chat>:<message>:<actor>:<date>:<add/remove>:<emoji>`; custom and paid reactions in extras |
//! | `callback_query` | `choice` (origin button, id = `data`, title = the tapped button's text), replying to the keyboard's message, id `telegram:callback:<query id>` |
//! | other update kinds (`poll_answer`, `my_chat_member`, …) | `unsupported(<kind>)`, id `telegram:update:<update_id>`, the object in extras |
//! | `from` | sender `{telegram, <user id>}` with display name and `@username`; `sender_chat` when a channel or anonymous admin posts |
//! | `chat` | conversation: `private` → direct, `group`/`supergroup`/`channel` → group, id = chat id |
//! | `date` (seconds) | `timestamp-ms` |
//! | `text` + `entities` | `text` with spans (UTF-16 offsets turned into characters): `bold`, `italic`, `strikethrough`, `code`/`pre` → monospace, `text_link` → link, `url` → link to itself, `text_mention` → mention `{telegram, <user id>}`, `mention` → mention `{telegram, @username}`; other entities (`underline`, `spoiler`, `bot_command`, …) in extras; Switchboard armor → `sealed` |
//! | `photo` (largest size), `video`, `voice`, `audio`, `document`, `sticker`, `animation` | `media` by `file_id` (platform id), caption with `caption_entities`; an animation's duplicate `document` in extras |
//! | `location`, `venue` | `location` (a venue's title and address as name and address) |
//! | `contact` | `contacts` with one card (phone, names; the `vcard` in extras) |
//! | `reply_to_message` | `reply-to` `<chat id>:<message id>` (the quoted object in extras) |
//! | `forward_origin` | `forwarded` |
//! | other message kinds (`poll`, `dice`, `new_chat_members`, …) | `unsupported(<member>)`, the member in extras |
//!
//! Extras are declared personal (`extra-field.personal`: they never leave
//! Telegram) unless they are known to name no one: entities without a
//! canonical style (`underline`, `spoiler`, `bot_command`, …, and a `pre`
//! block's language), photo sizes and file details (`file_unique_id`,
//! thumbnails, a sticker's emoji and set), custom and paid reactions, a
//! game's short name, and the flags of a message (`message_thread_id`,
//! `media_group_id`, `has_media_spoiler`, `dice`, …). Personal, among
//! others: the quoted message (`reply_to_message`), `forward_origin`,
//! `author_signature`, `via_bot`, a contact's `user_id` and `vcard`, a
//! position's accuracy and heading, `chat_instance`, the message a button
//! was on, every update the model has no event for, and any member the Bot
//! API adds later.
//!
//! The Bot API's updates do not name the bot they were sent to, so the
//! recipient of every envelope is [`BOT_ENDPOINT`]; the host knows which bot's
//! webhook route the update came in on.
//!
//! # Encoding and its degradations
//!
//! Every request is `POST /bot{token}/<method>` with a JSON body; the host
//! puts the bot token in place of `{token}` ([`api_auth`]), so the
//! translator never sees it. The recipient's id is the `chat_id`. Text
//! formatting is sent as `entities` (UTF-16 offsets), never as `parse_mode`
//! markup, so no character of the text needs escaping. A canonical reply to a
//! Telegram message becomes `reply_parameters` (with the quoted chat when it
//! is not the recipient's). Reply buttons, list rows and quick replies become
//! an `inline_keyboard` whose `callback_data` comes back as a `choice`.
//!
//! | rule | when | what is sent |
//! |---|---|---|
//! | `text-split` | text over 4,096 UTF-16 code units | several messages cut on word boundaries, entities split with them |
//! | `caption-truncated` | caption over 1,024 UTF-16 code units | the caption cut on a word boundary, ending in `…` |
//! | `caption-as-text` | caption on a sticker (no caption field) | the sticker, then the caption as text |
//! | `media-without-url` | media known only by another platform's media id | a text notice naming the media kind |
//! | `mention-as-text` | a mention of someone not on Telegram | the mention's text without the mention |
//! | `location-as-text` | coordinates that are not finite | the place name as text |
//! | `location-url-as-text` | a location with a URL | the location, then the URL as text |
//! | `location-details-as-text` | a location with a name or an address but not both (`sendVenue` needs both) | the location, then the name or address as text |
//! | `contacts-as-text` | a contact card without a phone number (`sendContact` needs one) | the card as text |
//! | `link-buttons-to-text` | call buttons (inline keyboards take no `tel:` links) | `title: number` lines appended to the text |
//! | `button-id-truncated` | a reply payload over 64 bytes (`callback_data`) | cut at a character boundary |
//! | `button-title-truncated` | a button title over 64 characters | cut on a word boundary |
//! | `buttons-to-numbered-text` | more than 100 buttons | a numbered text list |
//! | `list-to-buttons` | a list menu | one inline button per row (row id as `callback_data`) |
//! | `list-to-numbered-text` | a list with no rows or more than 100 | a numbered text list |
//! | `quick-replies-to-buttons` | quick replies (Telegram has none for bots' inline use) | inline buttons |
//! | `quick-replies-to-numbered-text` | more than 100 quick replies | a numbered text list |
//! | `header-footer-as-text` | interactive header or footer | header and footer folded into the text |
//! | `choice-as-text` | a choice (cannot be made on someone's behalf) | its title as text |
//! | `template-as-text` | a WhatsApp business template | its fallback text, or a notice naming it |
//! | `sealed-as-armored-text` | sealed content | one text message in Switchboard armor (over 4,096: `unsupported` error, armor cannot be split) |
//! | `unsupported-as-notice` | unsupported content | a text notice naming the type |
//! | `reply-context-dropped` | reply to a message with no Telegram id | the message without the quote |
//! | `forward-flag-dropped` / `story-context-dropped` | forwarded flag / story reference | the message without it |
//! | `reaction-as-text` | reaction to a message with no Telegram id, or an emoji bots may not set | a text notice |
//! | `edit-as-new-message` | edit of a message with no Telegram id, or to content other than text | a new message prefixed `✏️ Edited: ` |
//! | `deletion-as-notice` | deletion of a message with no Telegram id | a text notice |
//! | `receipt-dropped` | receipts (bots cannot send them) | nothing |
//! | `typing-dropped` | typing stopped (the indicator ends by itself) | nothing |
//!
//! Without degradation: `sendMessage`, `sendPhoto`, `sendVideo`, `sendVoice`,
//! `sendAudio`, `sendDocument`, `sendSticker`, `sendAnimation`,
//! `sendLocation`, `sendVenue`, `sendContact` (other card details as a
//! `vcard`), `editMessageText`, `deleteMessage`, `setMessageReaction` (an
//! empty list removes), `sendChatAction` (`typing`).
//!
//! # Media and authentication
//!
//! [`fetch_media`] resolves a `file_id` in two steps (`getFile`, then the
//! download of its `file_path`, announcing its `file_size`); [`api_auth`]
//! and [`WEBHOOK_SIGNATURE`] say how the host authenticates calls and checks
//! webhooks.

#![deny(missing_docs)]

pub mod decode;
pub mod encode;
pub mod entities;
pub mod media;

switchboard_pdk::export_translator!();

pub use media::fetch_media;

use switchboard_pdk::json::{self, Node};
use switchboard_pdk::types::{Address, DecodeError, EncodeError, Envelope};
use switchboard_pdk::{ApiAuth, Capabilities, ContentKind, Encoded, Limits, WebhookSignature};

/// The platform name in addresses, references and envelope ids.
pub const PLATFORM: &str = "telegram";
/// The recipient address id of decoded envelopes: updates do not name the bot.
pub const BOT_ENDPOINT: &str = "bot";
/// Largest webhook body accepted (1 MiB); an update is a few KiB.
pub const MAX_WEBHOOK_BYTES: u64 = 1024 * 1024;
/// UTF-16 code units of one text message (`sendMessage.text`).
pub const MAX_TEXT_UNITS: u32 = 4096;
/// UTF-16 code units of a media caption.
pub const MAX_CAPTION_UNITS: u32 = 1024;
/// Inline buttons on one message: the Bot API documents no maximum, and
/// clients stop showing keyboards past about a hundred buttons.
pub const MAX_BUTTONS: u32 = 100;
/// Characters of a button's text: none documented; long titles are cut so
/// that a one-column keyboard stays readable.
pub const MAX_BUTTON_TITLE_CHARS: u32 = 64;
/// Bytes of a button's `callback_data` (documented: 1–64 bytes).
pub const MAX_CALLBACK_DATA_BYTES: usize = 64;

/// How Telegram signs webhooks: the `secret_token` given to `setWebhook` comes
/// back in `X-Telegram-Bot-Api-Secret-Token`.
pub const WEBHOOK_SIGNATURE: WebhookSignature = WebhookSignature::SecretTokenHeader;

/// How the host authenticates Bot API calls: the token is part of the path
/// (`/bot{token}/sendMessage`, `/file/bot{token}/<file_path>`).
pub fn api_auth() -> ApiAuth {
    ApiAuth::PathToken("{token}".to_string())
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
            ContentKind::Voice,
            ContentKind::Document,
            ContentKind::Sticker,
            ContentKind::Animation,
            ContentKind::Location,
            ContentKind::Contacts,
            ContentKind::Buttons,
            ContentKind::Reaction,
            ContentKind::Edit,
            ContentKind::Deletion,
            ContentKind::Typing,
            ContentKind::Reply,
        ],
        limits: Limits {
            max_text_chars: MAX_TEXT_UNITS,
            max_caption_chars: MAX_CAPTION_UNITS,
            max_buttons: MAX_BUTTONS,
            max_button_title_chars: MAX_BUTTON_TITLE_CHARS,
            max_list_rows: MAX_BUTTONS,
            max_quick_replies: MAX_BUTTONS,
            max_webhook_bytes: MAX_WEBHOOK_BYTES,
        },
        webhook_signature: WEBHOOK_SIGNATURE,
        api_auth: api_auth(),
    }
}

/// Decodes one webhook body (one `Update`) into canonical envelopes.
pub fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    decode::decode(body)
}

/// Renders an envelope as Bot API calls to the chat `recipient` (a chat id or
/// `@channelusername`); `sender` is the bot, which the token already names.
pub fn encode(
    envelope: &Envelope,
    sender: &Address,
    recipient: &Address,
) -> Result<Encoded, EncodeError> {
    encode::encode(envelope, sender, recipient)
}

/// Reads `<chat id>:<message id>` from a Bot API response
/// (`{"ok":true,"result":{"message_id":…,"chat":{"id":…}}}`): message ids
/// are unique only within their chat.
pub fn sent_message_id(body: &[u8]) -> Option<String> {
    let value = json::parse(body, MAX_WEBHOOK_BYTES).ok()?;
    let root = Node::root(&value);
    if root.opt_bool("ok").ok()? != Some(true) {
        return None;
    }
    let result = root.get("result").ok()??;
    let message_id = integer(&result.field("message_id").ok()?).ok()?;
    let chat = result.field("chat").ok()?;
    let chat_id = integer(&chat.field("id").ok()?).ok()?;
    Some(format!("{chat_id}:{message_id}"))
}

/// An integer id as text. Telegram ids are signed (group chats are negative)
/// and up to 52 bits; a number that is not an exact integer is refused.
pub fn integer(
    node: &switchboard_pdk::json::Node<'_, '_>,
) -> Result<String, switchboard_pdk::types::DecodeError> {
    match node.value() {
        // A string is the right type's wrong form, since the Bot API never
        // quotes its numbers (`as_i64` would read one).
        switchboard_pdk::serde_json::Value::String(_) => {
            Err(node.invalid("an integer, not a string"))
        }
        _ => node.as_i64().map(|value| value.to_string()),
    }
}
