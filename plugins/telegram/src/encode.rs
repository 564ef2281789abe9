//! Canonical envelopes to Telegram Bot API calls (`POST /bot{token}/<method>`).
//!
//! Each body is JSON and starts with `chat_id`; formatting travels as
//! `entities` with UTF-16 offsets, so the text needs no escaping. What
//! Telegram cannot show as it is gets a documented degradation (the table in
//! the crate docs), and no body exceeds a documented limit: text 4,096 and
//! captions 1,024 UTF-16 code units, `callback_data` 64 bytes, a contact's
//! `vcard` 2,048 bytes.

use crate::entities::{self, utf16_len};
use crate::{
    MAX_BUTTON_TITLE_CHARS, MAX_BUTTONS, MAX_CALLBACK_DATA_BYTES, MAX_CAPTION_UNITS,
    MAX_TEXT_UNITS, PLATFORM,
};
use switchboard_pdk::serde_json::{Map, Value, json};
use switchboard_pdk::text::truncate_at_word;
use switchboard_pdk::types::{
    Address, ButtonAction, ContactCard, Content, EncodeError, Envelope, Event, FieldError,
    FormattedText, Interactive, InteractiveAction, Location, Media, MediaKind, MediaSource,
    Message, MessageRef, ReactionAction, SealedContent, Span, SpanStyle, Template, TypingState,
};
use switchboard_pdk::{Degradation, Encoded, HttpMethod, SendRequest};

/// Prefix of a message that stands for an edit Telegram cannot make.
pub const EDIT_PREFIX: &str = "✏️ Edited: ";
/// Bytes of a contact's `vcard`.
const MAX_VCARD_BYTES: usize = 2048;

/// The emoji a bot may set with `setMessageReaction` (the Bot API's
/// `ReactionTypeEmoji` list), without variation selectors.
pub const REACTION_EMOJI: &[&str] = &[
    "❤",
    "👍",
    "👎",
    "🔥",
    "🥰",
    "👏",
    "😁",
    "🤔",
    "🤯",
    "😱",
    "🤬",
    "😢",
    "🎉",
    "🤩",
    "🤮",
    "💩",
    "🙏",
    "👌",
    "🕊",
    "🤡",
    "🥱",
    "🥴",
    "😍",
    "🐳",
    "❤\u{200d}🔥",
    "🌚",
    "🌭",
    "💯",
    "🤣",
    "⚡",
    "🍌",
    "🏆",
    "💔",
    "🤨",
    "😐",
    "🍓",
    "🍾",
    "💋",
    "🖕",
    "😈",
    "😴",
    "😭",
    "🤓",
    "👻",
    "👨\u{200d}💻",
    "👀",
    "🎃",
    "🙈",
    "😇",
    "😨",
    "🤝",
    "✍",
    "🤗",
    "🫡",
    "🎅",
    "🎄",
    "☃",
    "💅",
    "🤪",
    "🗿",
    "🆒",
    "💘",
    "🙉",
    "🦄",
    "😘",
    "💊",
    "🙊",
    "😎",
    "👾",
    "🤷\u{200d}♂",
    "🤷",
    "🤷\u{200d}♀",
    "😡",
];

/// The form of `emoji` a bot may react with, when there is one: variation
/// selectors (`❤️` → `❤`) are not part of Telegram's list.
pub fn reaction_emoji(emoji: &str) -> Option<&'static str> {
    let bare: String = emoji.chars().filter(|&c| c != '\u{fe0f}').collect();
    REACTION_EMOJI
        .iter()
        .copied()
        .find(|allowed| *allowed == bare)
}

/// A Telegram message reference split into chat id and message id.
fn telegram_id(reference: &MessageRef) -> Option<(String, i64)> {
    if reference.platform != PLATFORM {
        return None;
    }
    let (chat, message) = reference.native_id.rsplit_once(':')?;
    let message = message.parse().ok()?;
    (!chat.is_empty()).then(|| (chat.to_string(), message))
}

/// A chat id as the Bot API takes it: a number, or `@channelusername`.
fn chat_value(id: &str) -> Value {
    id.parse::<i64>()
        .map_or_else(|_| json!(id), |number| json!(number))
}

/// Requests and degradations collected while rendering one envelope.
struct Output<'a> {
    recipient: &'a str,
    /// Whether `platform-id` media sources are Telegram `file_id`s.
    own_media: bool,
    /// `reply_parameters` for the first message sent.
    reply: Option<Value>,
    requests: Vec<SendRequest>,
    degradations: Vec<Degradation>,
}

impl Output<'_> {
    /// Records a degradation.
    fn degrade(&mut self, rule: &str, detail: impl Into<String>) {
        self.degradations.push(Degradation {
            rule: rule.to_string(),
            detail: detail.into(),
        });
    }

    /// Adds a call of `method` with `chat_id` and the given members.
    fn call(&mut self, method: &str, chat: &str, members: Map<String, Value>) {
        let mut body = Map::new();
        body.insert("chat_id".into(), chat_value(chat));
        body.extend(members);
        self.requests.push(SendRequest {
            method: HttpMethod::Post,
            path: format!("/bot{{token}}/{method}"),
            headers: vec![("Content-Type".to_string(), "application/json".to_string())],
            body: Value::Object(body).to_string().into_bytes(),
        });
    }

    /// Adds a message to the recipient; the first carries the reply.
    fn send(&mut self, method: &str, mut members: Map<String, Value>) {
        if let Some(reply) = self.reply.take() {
            members.insert("reply_parameters".into(), reply);
        }
        let chat = self.recipient.to_string();
        self.call(method, &chat, members);
    }

    /// One or more text messages (split on word boundaries at 4,096 UTF-16
    /// code units, entities split with them); the keyboard goes on the last.
    fn text(&mut self, text: &FormattedText, keyboard: Option<Value>) {
        let parts = parts(&text.body, MAX_TEXT_UNITS as usize);
        if parts.len() > 1 {
            self.degrade(
                "text-split",
                format!(
                    "{} UTF-16 code units sent as {} messages of at most {MAX_TEXT_UNITS}",
                    utf16_len(&text.body),
                    parts.len()
                ),
            );
        }
        let count = parts.len();
        let chars: Vec<char> = text.body.chars().collect();
        let mut keyboard = keyboard;
        for (index, (from, to)) in parts.into_iter().enumerate() {
            let rendered = self.entities(text, from, to);
            let mut members = Map::new();
            members.insert(
                "text".into(),
                json!(chars[from..to].iter().collect::<String>()),
            );
            if !rendered.is_empty() {
                members.insert("entities".into(), Value::Array(rendered));
            }
            if index + 1 == count
                && let Some(keyboard) = keyboard.take()
            {
                members.insert("reply_markup".into(), keyboard);
            }
            self.send("sendMessage", members);
        }
    }

    /// Plain text, one or more messages.
    fn plain(&mut self, text: &str) {
        self.text(&plain(text), None);
    }

    /// Entities for characters `[from, to)` of `text`, noting mentions that
    /// cannot be made.
    fn entities(&mut self, text: &FormattedText, from: usize, to: usize) -> Vec<Value> {
        let rendered = entities::render(text, from, to);
        if rendered.foreign_mentions > 0 {
            self.degrade(
                "mention-as-text",
                format!(
                    "{} mentions of people not on Telegram sent as plain text",
                    rendered.foreign_mentions
                ),
            );
        }
        rendered.entities
    }
}

/// Formatted text without spans.
fn plain(text: &str) -> FormattedText {
    FormattedText {
        body: text.to_string(),
        spans: Vec::new(),
    }
}

/// Character ranges of the parts of `text` of at most `max_units` UTF-16
/// code units each, cut on word boundaries. No part is empty.
pub fn parts(text: &str, max_units: usize) -> Vec<(usize, usize)> {
    switchboard_pdk::text::part_ranges(text, max_units, char::len_utf16)
}

/// Renders an envelope as Bot API calls to the chat `recipient`.
pub fn encode(
    envelope: &Envelope,
    _sender: &Address,
    recipient: &Address,
) -> Result<Encoded, EncodeError> {
    if recipient.id.is_empty()
        || !(recipient.id.parse::<i64>().is_ok() || recipient.id.starts_with('@'))
    {
        return Err(EncodeError::InvalidEnvelope(FieldError {
            path: "/recipient/id".to_string(),
            expected: "a Telegram chat id or @channelusername".to_string(),
            found: Some(recipient.id.clone()),
        }));
    }
    let mut out = Output {
        recipient: &recipient.id,
        own_media: envelope.platform == PLATFORM,
        reply: None,
        requests: Vec::new(),
        degradations: Vec::new(),
    };
    match &envelope.event {
        Event::Message(message) => encode_message(&mut out, message)?,
        Event::Reaction(reaction) => {
            let allowed = match reaction.action {
                ReactionAction::Add => reaction_emoji(&reaction.emoji),
                ReactionAction::Remove => Some(""),
            };
            match (telegram_id(&reaction.target), allowed) {
                (Some((chat, message_id)), Some(emoji)) => {
                    let mut members = Map::new();
                    members.insert("message_id".into(), json!(message_id));
                    let list = if emoji.is_empty() {
                        json!([])
                    } else {
                        json!([{ "type": "emoji", "emoji": emoji }])
                    };
                    members.insert("reaction".into(), list);
                    out.call("setMessageReaction", &chat, members);
                }
                (target, _) => {
                    let why = if target.is_none() {
                        "the reacted-to message has no Telegram id"
                    } else {
                        "bots may not react with this emoji"
                    };
                    out.degrade("reaction-as-text", format!("{why}; sent as a text notice"));
                    out.reply = target.map(|(chat, id)| reply_parameters(recipient, &chat, id));
                    let notice = match reaction.action {
                        ReactionAction::Add => format!("Reacted {} to a message", reaction.emoji),
                        ReactionAction::Remove => "Removed a reaction".to_string(),
                    };
                    out.plain(&notice);
                }
            }
        }
        Event::Edit(edit) => {
            let target = telegram_id(&edit.target);
            match (&target, &edit.content) {
                (Some((chat, message_id)), Content::Text(text))
                    if !text.body.trim().is_empty()
                        && utf16_len(&text.body) <= MAX_TEXT_UNITS as usize =>
                {
                    let mut members = Map::new();
                    members.insert("message_id".into(), json!(message_id));
                    members.insert("text".into(), json!(text.body));
                    let rendered = out.entities(text, 0, text.body.chars().count());
                    if !rendered.is_empty() {
                        members.insert("entities".into(), Value::Array(rendered));
                    }
                    out.call("editMessageText", chat, members);
                }
                _ => {
                    out.degrade(
                        "edit-as-new-message",
                        "only the text of a Telegram message can be edited in place; the new content is sent as a new message",
                    );
                    out.reply = target.map(|(chat, id)| reply_parameters(recipient, &chat, id));
                    match &edit.content {
                        Content::Text(text) => {
                            let mut text = text.clone();
                            let shift = EDIT_PREFIX.chars().count() as u32;
                            for span in &mut text.spans {
                                span.start += shift;
                                span.end += shift;
                            }
                            text.body.insert_str(0, EDIT_PREFIX);
                            encode_content(&mut out, &Content::Text(text))?;
                        }
                        other => {
                            out.plain(EDIT_PREFIX.trim_end());
                            encode_content(&mut out, other)?;
                        }
                    }
                }
            }
        }
        Event::Deletion(target) => match telegram_id(target) {
            Some((chat, message_id)) => {
                let mut members = Map::new();
                members.insert("message_id".into(), json!(message_id));
                out.call("deleteMessage", &chat, members);
            }
            None => {
                out.degrade(
                    "deletion-as-notice",
                    "the deleted message has no Telegram id; a text notice is sent",
                );
                out.plain("🗑️ This message was deleted.");
            }
        },
        Event::Receipt(_) => out.degrade(
            "receipt-dropped",
            "the Bot API has no delivery or read receipts; nothing is sent",
        ),
        Event::Typing(TypingState::Started) => {
            let mut members = Map::new();
            members.insert("action".into(), json!("typing"));
            out.send("sendChatAction", members);
        }
        Event::Typing(TypingState::Stopped) => out.degrade(
            "typing-dropped",
            "Telegram's typing indicator stops by itself after five seconds; nothing is sent",
        ),
    }
    Ok(Encoded {
        requests: out.requests,
        degradations: out.degradations,
    })
}

/// `reply_parameters` quoting message `id` of `chat`, naming the chat when
/// it is not the recipient's.
fn reply_parameters(recipient: &Address, chat: &str, id: i64) -> Value {
    if chat == recipient.id {
        json!({ "message_id": id })
    } else {
        json!({ "message_id": id, "chat_id": chat_value(chat) })
    }
}

/// A message: reply, relations Telegram cannot carry, then content.
fn encode_message(out: &mut Output<'_>, message: &Message) -> Result<(), EncodeError> {
    if let Some(reply) = &message.reply_to {
        match telegram_id(reply) {
            Some((chat, id)) => {
                out.reply = Some(reply_parameters(
                    &Address {
                        platform: PLATFORM.to_string(),
                        id: out.recipient.to_string(),
                    },
                    &chat,
                    id,
                ));
            }
            None => out.degrade(
                "reply-context-dropped",
                format!(
                    "the replied-to message has no Telegram id ({}); sent without the quote",
                    reply.platform
                ),
            ),
        }
    }
    if message.forwarded.is_some() {
        out.degrade(
            "forward-flag-dropped",
            "the Bot API cannot mark a sent message as forwarded",
        );
    }
    if message.story.is_some() {
        out.degrade(
            "story-context-dropped",
            "the Bot API cannot attach a story reference",
        );
    }
    encode_content(out, &message.content)
}

/// Renders one content.
fn encode_content(out: &mut Output<'_>, content: &Content) -> Result<(), EncodeError> {
    match content {
        Content::Text(text) => {
            if text.body.trim().is_empty() {
                return Err(EncodeError::InvalidEnvelope(FieldError {
                    path: "/event/message/content/text/body".to_string(),
                    expected: "text with at least one visible character".to_string(),
                    found: Some(text.body.clone()),
                }));
            }
            out.text(text, None);
        }
        Content::Media(media) => encode_media(out, media),
        Content::Location(location) => encode_location(out, location),
        Content::Contacts(cards) => {
            if cards.is_empty() {
                return Err(EncodeError::InvalidEnvelope(FieldError {
                    path: "/event/message/content/contacts".to_string(),
                    expected: "at least one contact card".to_string(),
                    found: None,
                }));
            }
            for card in cards {
                encode_contact(out, card);
            }
        }
        Content::Interactive(interactive) => encode_interactive(out, interactive),
        Content::Choice(choice) => {
            out.degrade(
                "choice-as-text",
                "a choice cannot be made on someone's behalf; its title is sent as text",
            );
            out.plain(&choice.title);
        }
        Content::Template(template) => encode_template(out, template),
        Content::Sealed(sealed) => encode_sealed(out, sealed)?,
        Content::Unsupported(unsupported) => {
            out.degrade(
                "unsupported-as-notice",
                format!(
                    "content of type `{}` has no Telegram form; a text notice is sent",
                    unsupported.native_type
                ),
            );
            out.plain(&switchboard_pdk::text::unsupported_notice(unsupported));
        }
    }
    Ok(())
}

/// The Bot API method and member for a kind of media.
fn media_method(kind: MediaKind) -> (&'static str, &'static str) {
    match kind {
        MediaKind::Image => ("sendPhoto", "photo"),
        MediaKind::Video => ("sendVideo", "video"),
        MediaKind::Audio => ("sendAudio", "audio"),
        MediaKind::Voice => ("sendVoice", "voice"),
        MediaKind::Document => ("sendDocument", "document"),
        MediaKind::Sticker => ("sendSticker", "sticker"),
        MediaKind::Animation => ("sendAnimation", "animation"),
    }
}

/// Media by `file_id` or by URL (Telegram downloads it), with its caption.
fn encode_media(out: &mut Output<'_>, media: &Media) {
    let (method, member) = media_method(media.kind);
    let file = match &media.source {
        MediaSource::PlatformId(id) if out.own_media => id.clone(),
        MediaSource::Url(url) => url.clone(),
        MediaSource::PlatformId(id) => {
            out.degrade(
                "media-without-url",
                format!(
                    "{member} {id} is another platform's media id, which Telegram cannot fetch"
                ),
            );
            let mut notice = format!("[{member}]");
            if let Some(caption) = &media.caption {
                notice.push(' ');
                notice.push_str(&caption.body);
            }
            out.plain(&notice);
            return;
        }
    };
    let mut members = Map::new();
    members.insert(member.into(), json!(file));
    let caption = media
        .caption
        .as_ref()
        .filter(|caption| !caption.body.trim().is_empty());
    let mut caption_as_text = None;
    if let Some(caption) = caption {
        if media.kind == MediaKind::Sticker {
            out.degrade(
                "caption-as-text",
                "Telegram stickers take no caption; it follows as a text message",
            );
            caption_as_text = Some(caption.clone());
        } else {
            let limit = MAX_CAPTION_UNITS as usize;
            let (text, entities) = if utf16_len(&caption.body) > limit {
                out.degrade(
                    "caption-truncated",
                    format!("caption cut to {MAX_CAPTION_UNITS} UTF-16 code units"),
                );
                // Room for the ellipsis, which is one code unit.
                let end = parts(&caption.body, limit - 1)
                    .first()
                    .map_or(0, |part| part.1);
                let head: String = caption.body.chars().take(end).collect();
                (format!("{head}…"), out.entities(caption, 0, end))
            } else {
                let end = caption.body.chars().count();
                (caption.body.clone(), out.entities(caption, 0, end))
            };
            members.insert("caption".into(), json!(text));
            if !entities.is_empty() {
                members.insert("caption_entities".into(), Value::Array(entities));
            }
        }
    }
    out.send(method, members);
    if let Some(caption) = caption_as_text {
        out.text(&caption, None);
    }
}

/// A location pin, or a venue when both name and address are known.
fn encode_location(out: &mut Output<'_>, location: &Location) {
    if !(location.latitude.is_finite() && location.longitude.is_finite()) {
        out.degrade("location-as-text", "the coordinates are not finite numbers");
        out.plain(location.name.as_deref().unwrap_or("(location)"));
        return;
    }
    let mut members = Map::new();
    members.insert("latitude".into(), json!(location.latitude));
    members.insert("longitude".into(), json!(location.longitude));
    match (&location.name, &location.address) {
        (Some(name), Some(address)) => {
            members.insert("title".into(), json!(name));
            members.insert("address".into(), json!(address));
            out.send("sendVenue", members);
        }
        (None, None) => out.send("sendLocation", members),
        (name, address) => {
            out.send("sendLocation", members);
            out.degrade(
                "location-details-as-text",
                "a venue needs both a name and an address; the one given follows as text",
            );
            out.plain(name.as_deref().or(address.as_deref()).unwrap_or(""));
        }
    }
    if let Some(url) = &location.url {
        out.degrade(
            "location-url-as-text",
            "Telegram locations have no URL; it follows as a text message",
        );
        out.plain(url);
    }
}

/// A vCard 3.0 of what `sendContact`'s own members cannot hold.
fn vcard(card: &ContactCard) -> Option<String> {
    let extra = card.phones.len() > 1
        || !card.emails.is_empty()
        || !card.urls.is_empty()
        || card.organization.is_some()
        || card.birthday.is_some();
    if !extra {
        return None;
    }
    let mut lines = vec![
        "BEGIN:VCARD".to_string(),
        "VERSION:3.0".to_string(),
        format!("FN:{}", card.formatted_name),
        format!(
            "N:{};{};;;",
            card.last_name.as_deref().unwrap_or(""),
            card.first_name.as_deref().unwrap_or("")
        ),
    ];
    if let Some(organization) = &card.organization {
        lines.push(format!("ORG:{organization}"));
    }
    for (property, values) in [
        ("TEL", &card.phones),
        ("EMAIL", &card.emails),
        ("URL", &card.urls),
    ] {
        for value in values {
            match &value.label {
                Some(label) => lines.push(format!("{property};TYPE={label}:{}", value.value)),
                None => lines.push(format!("{property}:{}", value.value)),
            }
        }
    }
    if let Some(birthday) = &card.birthday {
        lines.push(format!("BDAY:{birthday}"));
    }
    lines.push("END:VCARD".to_string());
    Some(lines.join("\n"))
}

/// One contact card as `sendContact`, or as text when it has no phone
/// number or its details do not fit a vCard.
fn encode_contact(out: &mut Output<'_>, card: &ContactCard) {
    let card_vcard = vcard(card);
    let fits = card_vcard
        .as_ref()
        .is_none_or(|vcard| vcard.len() <= MAX_VCARD_BYTES);
    match card.phones.first() {
        Some(phone) if fits => {
            let mut members = Map::new();
            members.insert("phone_number".into(), json!(phone.value));
            let first = card
                .first_name
                .clone()
                .filter(|first| !first.is_empty())
                .unwrap_or_else(|| card.formatted_name.clone());
            members.insert("first_name".into(), json!(first));
            if let Some(last) = &card.last_name {
                members.insert("last_name".into(), json!(last));
            }
            if let Some(vcard) = card_vcard {
                members.insert("vcard".into(), json!(vcard));
            }
            out.send("sendContact", members);
        }
        _ => {
            out.degrade(
                "contacts-as-text",
                "a contact without a phone number, or with details over a 2,048-byte vCard, sent as text",
            );
            let mut lines = vec![format!("👤 {}", card.formatted_name)];
            if let Some(organization) = &card.organization {
                lines.push(organization.clone());
            }
            for value in card.phones.iter().chain(&card.emails).chain(&card.urls) {
                lines.push(match &value.label {
                    Some(label) => format!("{label}: {}", value.value),
                    None => value.value.clone(),
                });
            }
            if let Some(birthday) = &card.birthday {
                lines.push(format!("Birthday: {birthday}"));
            }
            out.plain(&lines.join("\n"));
        }
    }
}

/// `data` cut to at most 64 bytes at a character boundary.
fn callback_data(out: &mut Output<'_>, data: &str) -> String {
    if data.len() <= MAX_CALLBACK_DATA_BYTES {
        return data.to_string();
    }
    out.degrade(
        "button-id-truncated",
        format!(
            "a payload of {} bytes cut to {MAX_CALLBACK_DATA_BYTES}",
            data.len()
        ),
    );
    let mut end = MAX_CALLBACK_DATA_BYTES;
    while !data.is_char_boundary(end) {
        end -= 1;
    }
    data[..end].to_string()
}

/// A button title cut to its limit.
fn title(out: &mut Output<'_>, title: &str) -> String {
    let (fitted, cut) = truncate_at_word(title, MAX_BUTTON_TITLE_CHARS as usize);
    if cut {
        out.degrade(
            "button-title-truncated",
            format!("button title cut to {MAX_BUTTON_TITLE_CHARS} characters"),
        );
    }
    fitted
}

/// A numbered list of options after the text, for when a keyboard cannot
/// hold them.
fn numbered(text: &FormattedText, options: &[String]) -> FormattedText {
    let mut out = text.clone();
    for (index, option) in options.iter().enumerate() {
        if !out.body.is_empty() {
            out.body.push('\n');
        }
        out.body.push_str(&format!("{}. {option}", index + 1));
    }
    out
}

/// The interactive's text: header in bold, body, footer in italics.
fn frame(out: &mut Output<'_>, interactive: &Interactive) -> FormattedText {
    let header = interactive
        .header
        .as_deref()
        .filter(|text| !text.is_empty());
    let footer = interactive
        .footer
        .as_deref()
        .filter(|text| !text.is_empty());
    if header.is_none() && footer.is_none() {
        return interactive.body.clone();
    }
    out.degrade(
        "header-footer-as-text",
        "Telegram messages have no header or footer; they are folded into the text",
    );
    let mut text = FormattedText {
        body: String::new(),
        spans: Vec::new(),
    };
    let mut append = |piece: &FormattedText, style: Option<SpanStyle>| {
        if !text.body.is_empty() {
            text.body.push('\n');
        }
        let shift = text.body.chars().count() as u32;
        let length = piece.body.chars().count() as u32;
        text.body.push_str(&piece.body);
        if let Some(style) = style {
            text.spans.push(Span {
                start: shift,
                end: shift + length,
                style,
            });
        }
        text.spans.extend(piece.spans.iter().map(|span| Span {
            start: span.start + shift,
            end: span.end + shift,
            style: span.style.clone(),
        }));
    };
    if let Some(header) = header {
        append(&plain(header), Some(SpanStyle::Bold));
    }
    if !interactive.body.body.is_empty() {
        append(&interactive.body, None);
    }
    if let Some(footer) = footer {
        append(&plain(footer), Some(SpanStyle::Italic));
    }
    text
}

/// Buttons, lists and quick replies as an inline keyboard (one button a
/// row), or as numbered text when there are too many.
fn encode_interactive(out: &mut Output<'_>, interactive: &Interactive) {
    let mut text = frame(out, interactive);
    // (title, callback data or URL, is URL)
    let mut keys: Vec<(String, String, bool)> = Vec::new();
    let (many_rule, what) = match &interactive.action {
        InteractiveAction::Buttons(buttons) => {
            let mut calls = Vec::new();
            for button in buttons {
                match &button.action {
                    ButtonAction::Reply(payload) => {
                        keys.push((button.title.clone(), payload.clone(), false))
                    }
                    ButtonAction::OpenUrl(url) => {
                        keys.push((button.title.clone(), url.clone(), true))
                    }
                    ButtonAction::Call(number) => calls.push(format!("{}: {number}", button.title)),
                }
            }
            if !calls.is_empty() {
                out.degrade(
                    "link-buttons-to-text",
                    format!("{} call buttons written as text lines", calls.len()),
                );
                for call in calls {
                    if !text.body.is_empty() {
                        text.body.push('\n');
                    }
                    text.body.push_str(&call);
                }
            }
            ("buttons-to-numbered-text", "buttons")
        }
        InteractiveAction::List(menu) => {
            for row in menu.sections.iter().flat_map(|section| &section.rows) {
                let label = match &row.description {
                    Some(description) => format!("{} — {description}", row.title),
                    None => row.title.clone(),
                };
                keys.push((label, row.id.clone(), false));
            }
            ("list-to-numbered-text", "list rows")
        }
        InteractiveAction::QuickReplies(replies) => {
            for reply in replies {
                keys.push((reply.title.clone(), reply.payload.clone(), false));
            }
            ("quick-replies-to-numbered-text", "quick replies")
        }
    };
    let empty_list = matches!(&interactive.action, InteractiveAction::List(_)) && keys.is_empty();
    if keys.len() > MAX_BUTTONS as usize || empty_list {
        out.degrade(
            many_rule,
            format!(
                "{} {what} do not fit an inline keyboard (1 to {MAX_BUTTONS}); sent as numbered text",
                keys.len()
            ),
        );
        let titles: Vec<String> = keys.into_iter().map(|(title, ..)| title).collect();
        let text = numbered(&text, &titles);
        out.text(&text, None);
        return;
    }
    if !keys.is_empty() {
        match &interactive.action {
            InteractiveAction::List(_) => out.degrade(
                "list-to-buttons",
                "Telegram has no list menus; each row is an inline button",
            ),
            InteractiveAction::QuickReplies(_) => out.degrade(
                "quick-replies-to-buttons",
                "Telegram bots have no quick replies on a message; sent as inline buttons",
            ),
            InteractiveAction::Buttons(_) => {}
        }
    }
    let rows: Vec<Value> = keys
        .into_iter()
        .map(|(label, target, is_url)| {
            let label = title(out, &label);
            if is_url {
                json!([{ "text": label, "url": target }])
            } else {
                let data = callback_data(out, &target);
                json!([{ "text": label, "callback_data": data }])
            }
        })
        .collect();
    if text.body.trim().is_empty() {
        // Telegram requires text on a message with a keyboard.
        text = plain("…");
    }
    let keyboard = (!rows.is_empty()).then(|| json!({ "inline_keyboard": rows }));
    out.text(&text, keyboard);
}

/// A template as its fallback text, or a notice naming it.
fn encode_template(out: &mut Output<'_>, template: &Template) {
    out.degrade(
        "template-as-text",
        "Telegram has no business templates; the fallback text is sent",
    );
    match &template.fallback_text {
        Some(text) if !text.trim().is_empty() => out.plain(text),
        _ => out.plain(&format!("[Template: {}]", template.name)),
    }
}

/// Sealed content as one armored text message.
fn encode_sealed(out: &mut Output<'_>, sealed: &SealedContent) -> Result<(), EncodeError> {
    let armored = switchboard_pdk::armor::encode(sealed);
    let length = utf16_len(&armored);
    if length > MAX_TEXT_UNITS as usize {
        return Err(EncodeError::Unsupported(format!(
            "sealed content armors to {length} characters, more than one Telegram message ({MAX_TEXT_UNITS})"
        )));
    }
    out.degrade(
        "sealed-as-armored-text",
        "Telegram takes no opaque payloads; the sealed bytes travel as armored text",
    );
    out.plain(&armored);
    Ok(())
}
