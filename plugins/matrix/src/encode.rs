//! Canonical envelopes to Matrix Client-Server API requests.
//!
//! Every request addresses the recipient room; message events are `PUT`
//! with a transaction id derived from the envelope ([`txn_id`]), so that
//! the homeserver recognises a retry and does not post twice. What Matrix
//! cannot show as it is gets a documented degradation (the table in the
//! crate docs); no `body` exceeds 16,000 bytes and no `formatted_body`
//! 32,000, well inside the 65,536-byte event limit.

use crate::decode::fnv1a;
use crate::html;
use crate::media::{parse_mxc, percent_encode};
use crate::{MAX_FORMATTED_BYTES, MAX_TEXT_BYTES, PLATFORM, TXN_PREFIX};
use switchboard_pdk::serde_json::{Map, Value, json};
use switchboard_pdk::types::{
    Address, ButtonAction, ContactCard, Content, EncodeError, Envelope, Event, FieldError,
    FormattedText, Interactive, InteractiveAction, Location, Media, MediaKind, MediaSource,
    Message, MessageRef, ReactionAction, ReceiptStatus, SealedContent, Span, SpanStyle, Template,
    TypingState,
};
use switchboard_pdk::{Degradation, Encoded, HttpMethod, SendRequest};

/// Prefix of a message that stands for an edit Matrix cannot make.
pub const EDIT_PREFIX: &str = "✏️ Edited: ";
/// The Client-Server API prefix.
const CLIENT: &str = "/_matrix/client/v3";

/// The transaction id of request `index` of the envelope `envelope_id`,
/// sent into `room` as `sender`: the same inputs always give the same id,
/// and ids are scoped to the sending user, so the room and sender are part
/// of it.
pub fn txn_id(envelope_id: &str, room: &str, sender: &str, index: usize) -> String {
    let place = format!("{room}\u{0}{sender}");
    format!(
        "{TXN_PREFIX}{:016x}{:016x}.{index}",
        fnv1a(envelope_id.as_bytes()),
        fnv1a(place.as_bytes())
    )
}

/// The Matrix event id a reference names, when it is a Matrix one.
fn matrix_id(reference: &MessageRef) -> Option<&str> {
    (reference.platform == PLATFORM && reference.native_id.starts_with('$'))
        .then_some(reference.native_id.as_str())
}

/// Requests and degradations collected while rendering one envelope.
struct Output<'a> {
    envelope_id: &'a str,
    room: &'a str,
    sender: &'a str,
    /// `?user_id=…` when the sender is a user the service speaks as.
    query: String,
    /// Whether `platform-id` media sources are `mxc://` URIs of ours.
    own_media: bool,
    /// The event to reply to, on the first message sent.
    reply: Option<String>,
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

    /// Adds a request with a JSON body.
    fn request(&mut self, method: HttpMethod, path: String, body: Value) {
        self.requests.push(SendRequest {
            method,
            path: format!("{path}{}", self.query),
            headers: vec![("Content-Type".to_string(), "application/json".to_string())],
            body: body.to_string().into_bytes(),
        });
    }

    /// The next transaction id.
    fn txn(&self) -> String {
        percent_encode(&txn_id(
            self.envelope_id,
            self.room,
            self.sender,
            self.requests.len(),
        ))
    }

    /// Sends an event of `event_type` into the room.
    fn event(&mut self, event_type: &str, content: Map<String, Value>) {
        let path = format!(
            "{CLIENT}/rooms/{}/send/{}/{}",
            percent_encode(self.room),
            percent_encode(event_type),
            self.txn()
        );
        self.request(HttpMethod::Put, path, Value::Object(content));
    }

    /// Sends an `m.room.message`; the first carries the reply relation.
    fn message(&mut self, mut content: Map<String, Value>) {
        if let Some(reply) = self.reply.take() {
            content.insert(
                "m.relates_to".into(),
                json!({ "m.in_reply_to": { "event_id": reply } }),
            );
        }
        self.event("m.room.message", content);
    }

    /// One or more text messages of `msgtype`, split at 16,000 bytes.
    fn text_as(&mut self, msgtype: &str, text: &FormattedText) {
        let parts = parts(&text.body, MAX_TEXT_BYTES);
        if parts.len() > 1 {
            self.degrade(
                "text-split",
                format!(
                    "{} bytes sent as {} messages of at most {MAX_TEXT_BYTES}",
                    text.body.len(),
                    parts.len()
                ),
            );
        }
        for (from, to) in parts {
            let part = slice(text, from, to);
            let mut content = Map::new();
            content.insert("msgtype".into(), json!(msgtype));
            self.formatted_into(&mut content, &part);
            self.message(content);
        }
    }

    /// Plain or formatted text as `m.text`.
    fn text(&mut self, text: &FormattedText) {
        self.text_as("m.text", text);
    }

    /// Plain text as `m.text`.
    fn plain(&mut self, text: &str) {
        self.text(&plain(text));
    }

    /// `body`, `format`/`formatted_body` and `m.mentions` of `text`.
    fn formatted_into(&mut self, content: &mut Map<String, Value>, text: &FormattedText) {
        content.insert("body".into(), json!(text.body));
        let foreign = text
            .spans
            .iter()
            .filter(
                |span| matches!(&span.style, SpanStyle::Mention(who) if who.platform != PLATFORM),
            )
            .count();
        if foreign > 0 {
            self.degrade(
                "mention-as-text",
                format!("{foreign} mentions of people not on Matrix sent as plain text"),
            );
        }
        let mut users: Vec<&str> = text
            .spans
            .iter()
            .filter_map(|span| match &span.style {
                SpanStyle::Mention(who) if who.platform == PLATFORM => Some(who.id.as_str()),
                _ => None,
            })
            .collect();
        users.dedup();
        if text.spans.len() > foreign {
            let rendered = html::render(text);
            if rendered.len() > MAX_FORMATTED_BYTES {
                self.degrade(
                    "formatting-dropped",
                    format!(
                        "the formatted body would be {} bytes, over {MAX_FORMATTED_BYTES}; sent as plain text",
                        rendered.len()
                    ),
                );
            } else {
                content.insert("format".into(), json!("org.matrix.custom.html"));
                content.insert("formatted_body".into(), json!(rendered));
            }
        }
        if !users.is_empty() {
            content.insert("m.mentions".into(), json!({ "user_ids": users }));
        }
    }
}

/// Formatted text without spans.
fn plain(text: &str) -> FormattedText {
    FormattedText {
        body: text.to_string(),
        spans: Vec::new(),
    }
}

/// Characters `[from, to)` of `text` with the spans inside them, rebased.
fn slice(text: &FormattedText, from: usize, to: usize) -> FormattedText {
    let body: String = text.body.chars().skip(from).take(to - from).collect();
    let spans = text
        .spans
        .iter()
        .filter_map(|span| {
            let start = (span.start as usize).clamp(from, to) - from;
            let end = (span.end as usize).clamp(from, to) - from;
            (start < end).then(|| Span {
                start: start as u32,
                end: end as u32,
                style: span.style.clone(),
            })
        })
        .collect();
    FormattedText { body, spans }
}

/// Character ranges of the parts of `text` of at most `max_bytes` bytes of
/// UTF-8 each, cut on word boundaries. No part is empty.
pub fn parts(text: &str, max_bytes: usize) -> Vec<(usize, usize)> {
    switchboard_pdk::text::part_ranges(text, max_bytes, char::len_utf8)
}

/// Renders an envelope as Client-Server API requests into the room
/// `recipient`, as `sender`.
pub fn encode(
    envelope: &Envelope,
    sender: &Address,
    recipient: &Address,
) -> Result<Encoded, EncodeError> {
    if !(recipient.id.starts_with('!') && recipient.id.len() > 1) {
        return Err(EncodeError::InvalidEnvelope(FieldError {
            path: "/recipient/id".to_string(),
            expected: "a Matrix room id (!…:server): Matrix sends into rooms".to_string(),
            found: Some(recipient.id.clone()),
        }));
    }
    let query = if sender.id.starts_with('@') {
        format!("?user_id={}", percent_encode(&sender.id))
    } else {
        String::new()
    };
    let mut out = Output {
        envelope_id: &envelope.id,
        room: &recipient.id,
        sender: &sender.id,
        query,
        own_media: envelope.platform == PLATFORM,
        reply: None,
        requests: Vec::new(),
        degradations: Vec::new(),
    };
    match &envelope.event {
        Event::Message(message) => encode_message(&mut out, message)?,
        Event::Reaction(reaction) => match (matrix_id(&reaction.target), reaction.action) {
            (Some(target), ReactionAction::Add) => {
                let mut content = Map::new();
                content.insert(
                    "m.relates_to".into(),
                    json!({ "rel_type": "m.annotation", "event_id": target, "key": reaction.emoji }),
                );
                out.event("m.reaction", content);
            }
            (Some(_), ReactionAction::Remove) => out.degrade(
                "reaction-removal-dropped",
                "taking a reaction back redacts the reaction event, whose id the envelope does not carry; nothing is sent",
            ),
            (None, action) => {
                out.degrade(
                    "reaction-as-text",
                    "the reacted-to message has no Matrix event id; sent as a text notice",
                );
                let notice = match action {
                    ReactionAction::Add => format!("Reacted {} to a message", reaction.emoji),
                    ReactionAction::Remove => "Removed a reaction".to_string(),
                };
                out.plain(&notice);
            }
        },
        Event::Edit(edit) => {
            let target = matrix_id(&edit.target).map(str::to_string);
            match (&target, &edit.content) {
                (Some(target), Content::Text(text))
                    if !text.body.trim().is_empty() && text.body.len() <= MAX_TEXT_BYTES =>
                {
                    let mut new_content = Map::new();
                    new_content.insert("msgtype".into(), json!("m.text"));
                    out.formatted_into(&mut new_content, text);
                    let mut content = Map::new();
                    content.insert("msgtype".into(), json!("m.text"));
                    content.insert("body".into(), json!(format!("* {}", text.body)));
                    content.insert("m.new_content".into(), Value::Object(new_content));
                    content.insert(
                        "m.relates_to".into(),
                        json!({ "rel_type": "m.replace", "event_id": target }),
                    );
                    out.event("m.room.message", content);
                }
                _ => {
                    out.degrade(
                        "edit-as-new-message",
                        "only text of a Matrix event can be replaced here; the new content is sent as a new message",
                    );
                    out.reply = target;
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
        Event::Deletion(target) => match matrix_id(target) {
            Some(event_id) => {
                let path = format!(
                    "{CLIENT}/rooms/{}/redact/{}/{}",
                    percent_encode(out.room),
                    percent_encode(event_id),
                    out.txn()
                );
                out.request(HttpMethod::Put, path, json!({}));
            }
            None => {
                out.degrade(
                    "deletion-as-notice",
                    "the deleted message has no Matrix event id; a text notice is sent",
                );
                out.plain("🗑️ This message was deleted.");
            }
        },
        Event::Receipt(receipt) => {
            // A read receipt covers every earlier event: the last one read is enough.
            let last = receipt.targets.iter().rev().find_map(matrix_id);
            match (receipt.status, last) {
                (ReceiptStatus::Read, Some(event_id)) => {
                    let path = format!(
                        "{CLIENT}/rooms/{}/receipt/m.read/{}",
                        percent_encode(out.room),
                        percent_encode(event_id)
                    );
                    out.request(HttpMethod::Post, path, json!({}));
                }
                _ => out.degrade(
                    "receipt-dropped",
                    "Matrix clients send only read receipts, for Matrix events; nothing is sent",
                ),
            }
        }
        Event::Typing(state) => {
            if sender.id.starts_with('@') {
                let body = match state {
                    TypingState::Started => json!({ "typing": true, "timeout": 30000 }),
                    TypingState::Stopped => json!({ "typing": false }),
                };
                let path = format!(
                    "{CLIENT}/rooms/{}/typing/{}",
                    percent_encode(out.room),
                    percent_encode(&sender.id)
                );
                out.request(HttpMethod::Put, path, body);
            } else {
                out.degrade(
                    "typing-dropped",
                    "typing is set for a Matrix user, and the sender is not one; nothing is sent",
                );
            }
        }
    }
    Ok(Encoded {
        requests: out.requests,
        degradations: out.degradations,
    })
}

/// A message: reply relation, relations Matrix cannot carry, then content.
fn encode_message(out: &mut Output<'_>, message: &Message) -> Result<(), EncodeError> {
    if let Some(reply) = &message.reply_to {
        match matrix_id(reply) {
            Some(event_id) => out.reply = Some(event_id.to_string()),
            None => out.degrade(
                "reply-context-dropped",
                format!(
                    "the replied-to message has no Matrix event id ({}); sent without the relation",
                    reply.platform
                ),
            ),
        }
    }
    if message.forwarded.is_some() {
        out.degrade(
            "forward-flag-dropped",
            "Matrix events cannot be marked as forwarded",
        );
    }
    if message.story.is_some() {
        out.degrade("story-context-dropped", "Matrix has no stories");
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
            out.text(text);
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
            out.degrade(
                "contacts-as-text",
                format!("{} contact card(s) sent as text", cards.len()),
            );
            for card in cards {
                out.plain(&contact_text(card));
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
                    "content of type `{}` has no Matrix form; a notice is sent",
                    unsupported.native_type
                ),
            );
            let notice = switchboard_pdk::text::unsupported_notice(unsupported);
            out.text_as("m.notice", &plain(&notice));
        }
    }
    Ok(())
}

/// The name a kind of media goes by in notices.
fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Voice => "voice note",
        MediaKind::Document => "file",
        MediaKind::Sticker => "sticker",
        MediaKind::Animation => "animation",
    }
}

/// Media by `mxc://` URI; media elsewhere as a link or a notice.
fn encode_media(out: &mut Output<'_>, media: &Media) {
    let uri = match &media.source {
        MediaSource::PlatformId(id) | MediaSource::Url(id) if parse_mxc(id).is_some() => id.clone(),
        MediaSource::Url(url) => {
            out.degrade(
                "media-as-link",
                format!(
                    "Matrix events carry only mxc:// media; the {} is sent as a link",
                    kind_name(media.kind)
                ),
            );
            let label = media
                .caption
                .as_ref()
                .map(|caption| caption.body.clone())
                .or_else(|| media.filename.clone())
                .unwrap_or_else(|| kind_name(media.kind).to_string());
            let text = FormattedText {
                spans: vec![Span {
                    start: 0,
                    end: label.chars().count() as u32,
                    style: SpanStyle::Link(url.clone()),
                }],
                body: label,
            };
            out.text(&text);
            return;
        }
        MediaSource::PlatformId(id) => {
            let whose = if out.own_media {
                "a malformed"
            } else {
                "another platform's"
            };
            out.degrade(
                "media-without-url",
                format!("{id} is {whose} media id, which Matrix cannot fetch"),
            );
            let mut notice = format!("[{}]", kind_name(media.kind));
            if let Some(caption) = &media.caption {
                notice.push(' ');
                notice.push_str(&caption.body);
            }
            out.plain(&notice);
            return;
        }
    };
    let (event_type, msgtype) = match media.kind {
        MediaKind::Image | MediaKind::Animation => ("m.room.message", "m.image"),
        MediaKind::Video => ("m.room.message", "m.video"),
        MediaKind::Audio => ("m.room.message", "m.audio"),
        MediaKind::Voice => {
            out.degrade("voice-as-audio", "voice notes are sent as m.audio messages");
            ("m.room.message", "m.audio")
        }
        MediaKind::Document => ("m.room.message", "m.file"),
        MediaKind::Sticker => ("m.sticker", ""),
    };
    let mut info = Map::new();
    if let Some(mime) = &media.mime_type {
        info.insert("mimetype".into(), json!(mime));
    }
    if let Some(size) = media.size_bytes {
        info.insert("size".into(), json!(size));
    }
    if let Some(width) = media.width {
        info.insert("w".into(), json!(width));
    }
    if let Some(height) = media.height {
        info.insert("h".into(), json!(height));
    }
    if let Some(duration) = media.duration_ms {
        info.insert("duration".into(), json!(duration));
    }
    if media.kind == MediaKind::Animation {
        info.insert("is_animated".into(), json!(true));
    }
    let mut content = Map::new();
    let name = media
        .filename
        .clone()
        .unwrap_or_else(|| kind_name(media.kind).to_string());
    let caption = media
        .caption
        .as_ref()
        .filter(|caption| !caption.body.trim().is_empty());
    let mut caption_as_text = None;
    match caption {
        Some(caption) if media.kind == MediaKind::Sticker => {
            out.degrade(
                "caption-as-text",
                "m.sticker events have no caption; it follows as a text message",
            );
            caption_as_text = Some(caption.clone());
            content.insert("body".into(), json!(name));
        }
        Some(caption) => {
            // Matrix 1.10 captions: `body` is the caption when `filename` is set.
            let fitted = match parts(&caption.body, MAX_TEXT_BYTES).first() {
                Some(&(from, to)) => slice(caption, from, to),
                None => caption.clone(),
            };
            out.formatted_into(&mut content, &fitted);
            content.insert("filename".into(), json!(name));
        }
        None => {
            content.insert("body".into(), json!(name));
        }
    }
    if !msgtype.is_empty() {
        content.insert("msgtype".into(), json!(msgtype));
    }
    content.insert("url".into(), json!(uri));
    content.insert("info".into(), Value::Object(info));
    if event_type == "m.room.message" {
        out.message(content);
    } else {
        if let Some(reply) = out.reply.take() {
            content.insert(
                "m.relates_to".into(),
                json!({ "m.in_reply_to": { "event_id": reply } }),
            );
        }
        out.event(event_type, content);
    }
    if let Some(caption) = caption_as_text {
        out.text(&caption);
    }
}

/// A location as `m.location` with a `geo:` URI.
fn encode_location(out: &mut Output<'_>, location: &Location) {
    if !(location.latitude.is_finite() && location.longitude.is_finite()) {
        out.degrade("location-as-text", "the coordinates are not finite numbers");
        out.plain(location.name.as_deref().unwrap_or("(location)"));
        return;
    }
    let label = match (&location.name, &location.address) {
        (Some(name), Some(address)) => format!("{name}, {address}"),
        (Some(text), None) | (None, Some(text)) => text.clone(),
        (None, None) => format!("Location {}, {}", location.latitude, location.longitude),
    };
    let mut content = Map::new();
    content.insert("msgtype".into(), json!("m.location"));
    content.insert("body".into(), json!(label));
    content.insert(
        "geo_uri".into(),
        json!(format!("geo:{},{}", location.latitude, location.longitude)),
    );
    out.message(content);
    if let Some(url) = &location.url {
        out.degrade(
            "location-url-as-text",
            "m.location has no URL; it follows as a text message",
        );
        out.plain(url);
    }
}

/// A contact card as lines of text.
fn contact_text(card: &ContactCard) -> String {
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
    lines.join("\n")
}

/// Buttons, lists and quick replies as numbered text: Matrix messages have
/// no controls.
fn encode_interactive(out: &mut Output<'_>, interactive: &Interactive) {
    let header = interactive
        .header
        .as_deref()
        .filter(|text| !text.is_empty());
    let footer = interactive
        .footer
        .as_deref()
        .filter(|text| !text.is_empty());
    let mut text = FormattedText {
        body: String::new(),
        spans: Vec::new(),
    };
    let mut append = |piece: &FormattedText, style: Option<SpanStyle>| {
        if piece.body.is_empty() {
            return;
        }
        if !text.body.is_empty() {
            text.body.push('\n');
        }
        let shift = text.body.chars().count() as u32;
        text.body.push_str(&piece.body);
        if let Some(style) = style {
            text.spans.push(Span {
                start: shift,
                end: shift + piece.body.chars().count() as u32,
                style,
            });
        }
        text.spans.extend(piece.spans.iter().map(|span| Span {
            start: span.start + shift,
            end: span.end + shift,
            style: span.style.clone(),
        }));
    };
    if header.is_some() || footer.is_some() {
        out.degrade(
            "header-footer-as-text",
            "Matrix messages have no header or footer; they are folded into the text",
        );
    }
    if let Some(header) = header {
        append(&plain(header), Some(SpanStyle::Bold));
    }
    append(&interactive.body, None);
    let (rule, options): (&str, Vec<String>) = match &interactive.action {
        InteractiveAction::Buttons(buttons) => (
            "buttons-to-numbered-text",
            buttons
                .iter()
                .map(|button| match &button.action {
                    ButtonAction::Reply(_) => button.title.clone(),
                    ButtonAction::OpenUrl(url) => format!("{}: {url}", button.title),
                    ButtonAction::Call(number) => format!("{}: {number}", button.title),
                })
                .collect(),
        ),
        InteractiveAction::List(menu) => (
            "list-to-numbered-text",
            menu.sections
                .iter()
                .flat_map(|section| &section.rows)
                .map(|row| match &row.description {
                    Some(description) => format!("{} — {description}", row.title),
                    None => row.title.clone(),
                })
                .collect(),
        ),
        InteractiveAction::QuickReplies(replies) => (
            "quick-replies-to-numbered-text",
            replies.iter().map(|reply| reply.title.clone()).collect(),
        ),
    };
    for (index, option) in options.iter().enumerate() {
        append(&plain(&format!("{}. {option}", index + 1)), None);
    }
    if let Some(footer) = footer {
        append(&plain(footer), Some(SpanStyle::Italic));
    }
    out.degrade(
        rule,
        format!("{} options sent as a numbered list", options.len()),
    );
    if text.body.trim().is_empty() {
        text = plain("…");
    }
    out.text(&text);
}

/// A template as its fallback text, or a notice naming it.
fn encode_template(out: &mut Output<'_>, template: &Template) {
    out.degrade(
        "template-as-text",
        "Matrix has no business templates; the fallback text is sent",
    );
    match &template.fallback_text {
        Some(text) if !text.trim().is_empty() => out.plain(text),
        _ => out.plain(&format!("[Template: {}]", template.name)),
    }
}

/// Sealed content as one armored `m.text`.
fn encode_sealed(out: &mut Output<'_>, sealed: &SealedContent) -> Result<(), EncodeError> {
    let armored = switchboard_pdk::armor::encode(sealed);
    if armored.len() > MAX_TEXT_BYTES {
        return Err(EncodeError::Unsupported(format!(
            "sealed content armors to {} bytes, more than one Matrix message ({MAX_TEXT_BYTES})",
            armored.len()
        )));
    }
    out.degrade(
        "sealed-as-armored-text",
        "the sealed bytes travel as armored text in an m.text message",
    );
    out.plain(&armored);
    Ok(())
}
