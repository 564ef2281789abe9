//! Canonical envelopes to Send API requests, with the degradations listed in
//! the crate docs.

use crate::{
    API_VERSION, Flavor, MAX_BUTTON_TITLE_CHARS, MAX_PAYLOAD_CHARS, MAX_QUICK_REPLIES,
    MAX_TEMPLATE_BUTTONS, MAX_TEMPLATE_TEXT_CHARS,
};
use serde_json::{Map, Value, json};
use std::fmt::Write;
use switchboard_pdk::text::{char_len, chunks_within, truncate_at_word};
use switchboard_pdk::types::{
    Address, Button, ButtonAction, ContactCard, Content, EncodeError, Envelope, Event, FieldError,
    FormattedText, Interactive, InteractiveAction, ListMenu, Location, Media, MediaKind,
    MediaSource, Message, MessageCategory, Reaction, ReactionAction, ReceiptStatus, SpanStyle,
    StoryRelation, TypingState,
};

/// The `Content-Type` header every request carries.
pub const CONTENT_TYPE: (&str, &str) = ("Content-Type", "application/json");

/// One Send API call: always `POST` with [`CONTENT_TYPE`]; the translator
/// crates turn it into their generated `send-request`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `/v21.0/{sender-id}/messages`.
    pub path: String,
    /// The JSON body.
    pub body: Value,
}

/// A documented change made because the platform cannot show something as it
/// is (mirror of the WIT `degradation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degradation {
    /// The rule id from the table in the crate docs.
    pub rule: &'static str,
    /// What was changed.
    pub detail: String,
}

/// The requests delivering one envelope, in order, and what was degraded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Encoded {
    /// Requests to send, in order.
    pub requests: Vec<Request>,
    /// Changes made on the way.
    pub degradations: Vec<Degradation>,
}

/// Renders an envelope as Send API requests from `sender` (a page id or an
/// Instagram professional account id) to `recipient` (a PSID or IGSID).
pub fn encode(
    flavor: &Flavor,
    envelope: &Envelope,
    sender: &Address,
    recipient: &Address,
) -> Result<Encoded, EncodeError> {
    check_id(&sender.id, "/sender/id")?;
    check_id(&recipient.id, "/recipient/id")?;
    let mut builder = Builder {
        flavor,
        path: format!("/{API_VERSION}/{}/messages", sender.id),
        recipient: recipient.id.clone(),
        out: Encoded::default(),
    };
    match &envelope.event {
        Event::Message(message) => builder.message(message)?,
        Event::Reaction(reaction) => builder.reaction(reaction)?,
        Event::Edit(edit) => {
            let messages = builder.content(&edit.content, "/event/edit/content")?;
            let messages = builder.prefixed("✏️ Edited: ", messages);
            builder.degrade(
                "edit-as-new-message",
                format!("edit of {} sent as a new message", edit.target.native_id),
            );
            builder.send_messages(messages, MessageCategory::Service);
        }
        Event::Deletion(target) => {
            builder.degrade(
                "deletion-as-notice",
                format!("deletion of {} sent as a notice", target.native_id),
            );
            builder.send_messages(
                vec![json!({"text": "🗑️ The sender deleted a message."})],
                MessageCategory::Service,
            );
        }
        Event::Receipt(receipt) => match receipt.status {
            ReceiptStatus::Read => builder.action("mark_seen", None),
            other => builder.degrade(
                "receipt-not-sent",
                format!(
                    "the Send API has no {} receipt",
                    match other {
                        ReceiptStatus::Sent => "sent",
                        ReceiptStatus::Delivered => "delivered",
                        _ => "failed",
                    }
                ),
            ),
        },
        Event::Typing(state) => builder.action(
            match state {
                TypingState::Started => "typing_on",
                TypingState::Stopped => "typing_off",
            },
            None,
        ),
    }
    Ok(builder.out)
}

fn invalid(path: &str, expected: &str, found: Option<String>) -> EncodeError {
    EncodeError::InvalidEnvelope(FieldError {
        path: path.to_string(),
        expected: expected.to_string(),
        found,
    })
}

/// Ids go into the request path, so only id characters are accepted.
fn check_id(id: &str, path: &str) -> Result<(), EncodeError> {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            path,
            "a page, account or user id (letters, digits, `-`, `_`, `.`)",
            Some(id.to_string()),
        ))
    }
}

/// Splits `text` into chunks within the flavor's character and byte limits,
/// on word boundaries where possible.
pub fn split_text<'t>(flavor: &Flavor, text: &'t str) -> Vec<&'t str> {
    chunks_within(
        text,
        flavor.max_text_chars,
        flavor.max_text_bytes.unwrap_or(usize::MAX),
    )
}

/// Whether `text` fits one message of the flavor.
fn fits(flavor: &Flavor, text: &str) -> bool {
    char_len(text) <= flavor.max_text_chars
        && flavor
            .max_text_bytes
            .is_none_or(|bytes| text.len() <= bytes)
}

/// The body of formatted text as plain text: a link's URL follows its text
/// unless the text already shows it.
fn plain(text: &FormattedText) -> String {
    let mut links: Vec<(usize, &str)> = text
        .spans
        .iter()
        .filter_map(|span| match &span.style {
            SpanStyle::Link(url) => Some((span.end as usize, url.as_str())),
            _ => None,
        })
        .filter(|(_, url)| !text.body.contains(url))
        .collect();
    if links.is_empty() {
        return text.body.clone();
    }
    links.sort_by_key(|link| std::cmp::Reverse(link.0));
    let mut chars: Vec<char> = text.body.chars().collect();
    for (end, url) in links {
        let at = end.min(chars.len());
        let insert: Vec<char> = format!(" ({url})").chars().collect();
        chars.splice(at..at, insert);
    }
    chars.into_iter().collect()
}

struct Builder<'f> {
    flavor: &'f Flavor,
    path: String,
    recipient: String,
    out: Encoded,
}

impl Builder<'_> {
    fn degrade(&mut self, rule: &'static str, detail: String) {
        self.out.degradations.push(Degradation { rule, detail });
    }

    fn push(&mut self, body: Value) {
        self.out.requests.push(Request {
            path: self.path.clone(),
            body,
        });
    }

    fn action(&mut self, action: &str, payload: Option<Value>) {
        let mut body = Map::new();
        body.insert("recipient".into(), json!({"id": self.recipient}));
        body.insert("sender_action".into(), json!(action));
        if let Some(payload) = payload {
            body.insert("payload".into(), payload);
        }
        self.push(Value::Object(body));
    }

    /// One request per message object, with the messaging type the category
    /// asks for.
    fn send_messages(&mut self, messages: Vec<Value>, category: MessageCategory) {
        let (kind, tag) = match category {
            MessageCategory::Transactional => match self.flavor.transactional_tag {
                Some(tag) => ("MESSAGE_TAG", Some(tag)),
                None => {
                    self.degrade(
                        "category-as-update",
                        format!(
                            "{} has no message tag for transactional messages",
                            self.flavor.platform
                        ),
                    );
                    ("UPDATE", None)
                }
            },
            MessageCategory::Marketing => ("UPDATE", None),
            MessageCategory::Personal
            | MessageCategory::Service
            | MessageCategory::Authentication => ("RESPONSE", None),
        };
        for message in messages {
            let mut body = Map::new();
            body.insert("recipient".into(), json!({"id": self.recipient}));
            body.insert("messaging_type".into(), json!(kind));
            if let Some(tag) = tag {
                body.insert("tag".into(), json!(tag));
            }
            body.insert("message".into(), message);
            self.push(Value::Object(body));
        }
    }

    /// Text messages for `text`, split to the limit.
    fn texts(&mut self, text: &str) -> Vec<Value> {
        let chunks = split_text(self.flavor, text);
        if chunks.len() > 1 {
            self.degrade(
                "text-split",
                format!(
                    "{} characters sent as {} messages",
                    char_len(text),
                    chunks.len()
                ),
            );
        }
        chunks
            .into_iter()
            .map(|chunk| json!({"text": chunk}))
            .collect()
    }

    /// Puts `prefix` before the first text message when it still fits, or
    /// sends it as a message of its own.
    fn prefixed(&mut self, prefix: &str, mut messages: Vec<Value>) -> Vec<Value> {
        let first_text = messages
            .first()
            .and_then(|message| message.get("text"))
            .and_then(Value::as_str)
            .map(|text| format!("{prefix}{text}"));
        match first_text {
            Some(text) if fits(self.flavor, &text) => {
                if let Some(first) = messages.first_mut() {
                    first["text"] = json!(text);
                }
            }
            _ => messages.insert(0, json!({"text": prefix.trim_end()})),
        }
        messages
    }

    fn message(&mut self, message: &Message) -> Result<(), EncodeError> {
        let mut messages = self.content(&message.content, "/event/message/content")?;
        if let Some(reply_to) = &message.reply_to {
            if self.flavor.send_reply_to && reply_to.platform == self.flavor.platform {
                if let Some(Value::Object(first)) = messages.first_mut() {
                    first.insert("reply_to".into(), json!({"mid": reply_to.native_id}));
                }
            } else {
                self.degrade(
                    "reply-as-prefix",
                    format!("reply to {} marked with a prefix", reply_to.native_id),
                );
                messages = self.prefixed("↩️ ", messages);
            }
        }
        if let Some(story) = &message.story {
            let what = match story.relation {
                StoryRelation::Reply => "Replied to a story",
                StoryRelation::Mention => "Mentioned you in a story",
            };
            let line = match &story.url {
                Some(url) => format!("{what}: {url}"),
                None => what.to_string(),
            };
            self.degrade(
                "story-as-text",
                format!("story context sent as text ({what})"),
            );
            let mut notice = self.texts(&line);
            notice.append(&mut messages);
            messages = notice;
        }
        self.send_messages(messages, message.category);
        Ok(())
    }

    fn reaction(&mut self, reaction: &Reaction) -> Result<(), EncodeError> {
        if reaction.action == ReactionAction::Add && reaction.emoji.is_empty() {
            return Err(invalid("/event/reaction/emoji", "an emoji", None));
        }
        if reaction.target.platform != self.flavor.platform {
            let text = match reaction.action {
                ReactionAction::Add => format!("Reacted {} to a message", reaction.emoji),
                ReactionAction::Remove => "Removed a reaction from a message".to_string(),
            };
            self.degrade(
                "reaction-as-text",
                format!(
                    "reaction to a {} message sent as text",
                    reaction.target.platform
                ),
            );
            let messages = self.texts(&text);
            self.send_messages(messages, MessageCategory::Personal);
            return Ok(());
        }
        match reaction.action {
            ReactionAction::Add => self.action(
                "react",
                Some(json!({
                    "message_id": reaction.target.native_id,
                    "reaction": reaction.emoji,
                })),
            ),
            ReactionAction::Remove => self.action(
                "unreact",
                Some(json!({"message_id": reaction.target.native_id})),
            ),
        }
        Ok(())
    }

    /// The message objects (`message` of the body) for one content.
    fn content(&mut self, content: &Content, path: &str) -> Result<Vec<Value>, EncodeError> {
        Ok(match content {
            Content::Text(text) => {
                if text.body.trim().is_empty() {
                    return Err(invalid(
                        &format!("{path}/text/body"),
                        "non-empty text",
                        Some(text.body.clone()),
                    ));
                }
                self.formatted(text)
            }
            Content::Media(media) => self.media(media),
            Content::Location(location) => self.location(location),
            Content::Contacts(cards) => {
                self.degrade(
                    "contacts-as-text",
                    format!("{} contact card(s) sent as text", cards.len()),
                );
                let mut out = Vec::new();
                for card in cards {
                    out.extend(self.texts(&contact_text(card)));
                }
                out
            }
            Content::Interactive(interactive) => self.interactive(interactive),
            Content::Choice(choice) => {
                self.degrade(
                    "choice-as-text",
                    format!("choice {} sent as text", choice.id),
                );
                let title = if choice.title.is_empty() {
                    &choice.id
                } else {
                    &choice.title
                };
                self.texts(title)
            }
            Content::Template(template) => {
                let text = match &template.fallback_text {
                    Some(text) if !text.trim().is_empty() => text.clone(),
                    _ => format!(
                        "[Template message “{}” ({})]",
                        template.name, template.language
                    ),
                };
                self.degrade(
                    "template-as-text",
                    format!("template {} sent as text", template.name),
                );
                self.texts(&text)
            }
            Content::Sealed(sealed) => {
                let armor = switchboard_pdk::armor::encode(sealed);
                self.degrade(
                    "sealed-as-armored-text",
                    format!(
                        "{} bytes of ciphertext sent as armor",
                        sealed.ciphertext.len()
                    ),
                );
                self.texts(&armor)
            }
            Content::Unsupported(unsupported) => {
                self.degrade(
                    "unsupported-as-notice",
                    format!("unsupported {} sent as a notice", unsupported.native_type),
                );
                self.texts(&switchboard_pdk::text::unsupported_notice(unsupported))
            }
        })
    }

    fn formatted(&mut self, text: &FormattedText) -> Vec<Value> {
        let text = self.unformatted(text);
        self.texts(&text)
    }

    /// The text without its formatting, which the Send API cannot show.
    fn unformatted(&mut self, text: &FormattedText) -> String {
        if !text.spans.is_empty() {
            self.degrade(
                "formatting-dropped",
                format!(
                    "{} formatting span(s) rendered as plain text",
                    text.spans.len()
                ),
            );
        }
        plain(text)
    }

    fn media(&mut self, media: &Media) -> Vec<Value> {
        let mut out = Vec::new();
        let kind_name = match media.kind {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Voice => "voice note",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
            MediaKind::Animation => "animation",
        };
        match &media.source {
            MediaSource::PlatformId(id) => {
                self.degrade(
                    "media-without-url",
                    format!("{kind_name} {id} has no URL the Send API can fetch"),
                );
                out.extend(self.texts(&format!("[{kind_name} not available]")));
            }
            MediaSource::Url(url) => {
                let kind = match media.kind {
                    MediaKind::Image | MediaKind::Animation => Some("image"),
                    MediaKind::Sticker => {
                        self.degrade("sticker-as-image", "sticker sent as an image".into());
                        Some("image")
                    }
                    MediaKind::Video => Some("video"),
                    MediaKind::Audio | MediaKind::Voice => Some("audio"),
                    MediaKind::Document if self.flavor.file_attachments => Some("file"),
                    MediaKind::Document => None,
                };
                match kind {
                    Some(kind) => out.push(json!({"attachment": {
                        "type": kind,
                        "payload": {"url": url, "is_reusable": true},
                    }})),
                    None => {
                        self.degrade(
                            "document-as-link",
                            format!("{} cannot send files; sent as a link", self.flavor.platform),
                        );
                        let name = media.filename.as_deref().unwrap_or("Document");
                        out.extend(self.texts(&format!("📄 {name}: {url}")));
                    }
                }
            }
        }
        if let Some(caption) = &media.caption
            && !caption.body.trim().is_empty()
        {
            self.degrade(
                "caption-as-text",
                "caption sent as a text message after the attachment".into(),
            );
            out.extend(self.formatted(caption));
        }
        out
    }

    fn location(&mut self, location: &Location) -> Vec<Value> {
        self.degrade("location-to-map-link", "location sent as a map link".into());
        let mut lines = Vec::new();
        lines.extend(location.name.clone());
        lines.extend(location.address.clone());
        lines.push(format!(
            "https://maps.google.com/?q={},{}",
            location.latitude, location.longitude
        ));
        self.texts(&lines.join("\n"))
    }

    fn interactive(&mut self, interactive: &Interactive) -> Vec<Value> {
        let mut text = self.unformatted(&interactive.body);
        if interactive.header.is_some() || interactive.footer.is_some() {
            self.degrade(
                "header-footer-as-text",
                "interactive header and footer folded into the text".into(),
            );
            let parts: Vec<&str> = [
                interactive.header.as_deref(),
                Some(text.as_str()),
                interactive.footer.as_deref(),
            ]
            .into_iter()
            .flatten()
            .filter(|part| !part.is_empty())
            .collect();
            text = parts.join("\n\n");
        }
        match &interactive.action {
            InteractiveAction::Buttons(buttons) => self.buttons(text, buttons),
            InteractiveAction::List(menu) => self.list(text, menu),
            InteractiveAction::QuickReplies(replies) => {
                if replies.len() <= MAX_QUICK_REPLIES
                    && replies.iter().all(|reply| payload_ok(&reply.payload))
                {
                    let items = replies.iter().map(|reply| {
                        (
                            reply.title.as_str(),
                            reply.payload.as_str(),
                            reply.image_url.as_deref(),
                        )
                    });
                    self.quick_replies(&text, items)
                } else {
                    self.degrade(
                        "quick-replies-to-numbered-text",
                        format!("{} quick replies sent as numbered text", replies.len()),
                    );
                    let lines: Vec<String> = replies.iter().map(|r| r.title.clone()).collect();
                    self.texts(&numbered(&text, &lines))
                }
            }
        }
    }

    fn title(&mut self, title: &str) -> String {
        let (cut, was_cut) = truncate_at_word(title, MAX_BUTTON_TITLE_CHARS);
        if was_cut {
            self.degrade(
                "button-title-truncated",
                format!("title “{title}” cut to {MAX_BUTTON_TITLE_CHARS} characters"),
            );
        }
        cut
    }

    /// Text messages whose last one carries the quick replies, given as
    /// (title, payload, image URL).
    fn quick_replies<'r>(
        &mut self,
        text: &str,
        replies: impl Iterator<Item = (&'r str, &'r str, Option<&'r str>)>,
    ) -> Vec<Value> {
        let items: Vec<Value> = replies
            .map(|(title, payload, image_url)| {
                let mut item = json!({
                    "content_type": "text",
                    "title": self.title(title),
                    "payload": payload,
                });
                if let Some(image) = image_url {
                    item["image_url"] = json!(image);
                }
                item
            })
            .collect();
        let text = if text.trim().is_empty() { "…" } else { text };
        let mut messages = self.texts(text);
        if let Some(last) = messages.last_mut() {
            last["quick_replies"] = Value::Array(items);
        }
        messages
    }

    fn buttons(&mut self, text: String, buttons: &[Button]) -> Vec<Value> {
        let payloads_ok = buttons.iter().all(|button| match &button.action {
            ButtonAction::Reply(payload) | ButtonAction::Call(payload) => payload_ok(payload),
            ButtonAction::OpenUrl(_) => true,
        });
        let all_reply = buttons
            .iter()
            .all(|button| matches!(button.action, ButtonAction::Reply(_)));
        if self.flavor.button_template
            && !buttons.is_empty()
            && buttons.len() <= MAX_TEMPLATE_BUTTONS
            && !text.trim().is_empty()
            && char_len(&text) <= MAX_TEMPLATE_TEXT_CHARS
            && payloads_ok
        {
            let items: Vec<Value> = buttons
                .iter()
                .map(|button| {
                    let title = self.title(&button.title);
                    match &button.action {
                        ButtonAction::Reply(payload) => {
                            json!({"type": "postback", "title": title, "payload": payload})
                        }
                        ButtonAction::OpenUrl(url) => {
                            json!({"type": "web_url", "title": title, "url": url})
                        }
                        ButtonAction::Call(number) => {
                            json!({"type": "phone_number", "title": title, "payload": number})
                        }
                    }
                })
                .collect();
            return vec![json!({"attachment": {"type": "template", "payload": {
                "template_type": "button",
                "text": text,
                "buttons": items,
            }}})];
        }
        if !self.flavor.button_template
            && all_reply
            && !buttons.is_empty()
            && buttons.len() <= MAX_QUICK_REPLIES
            && payloads_ok
        {
            self.degrade(
                "buttons-to-quick-replies",
                format!("{} reply buttons sent as quick replies", buttons.len()),
            );
            let replies = buttons.iter().map(|button| {
                let (ButtonAction::Reply(payload)
                | ButtonAction::OpenUrl(payload)
                | ButtonAction::Call(payload)) = &button.action;
                (button.title.as_str(), payload.as_str(), None)
            });
            return self.quick_replies(&text, replies);
        }
        self.degrade(
            "buttons-to-numbered-text",
            format!("{} buttons sent as numbered text", buttons.len()),
        );
        let lines: Vec<String> = buttons
            .iter()
            .map(|button| match &button.action {
                ButtonAction::Reply(_) => button.title.clone(),
                ButtonAction::OpenUrl(url) => format!("{} – {url}", button.title),
                ButtonAction::Call(number) => format!("{} – {number}", button.title),
            })
            .collect();
        self.texts(&numbered(&text, &lines))
    }

    fn list(&mut self, text: String, menu: &ListMenu) -> Vec<Value> {
        let rows: Vec<_> = menu.sections.iter().flat_map(|s| s.rows.iter()).collect();
        if !rows.is_empty()
            && rows.len() <= MAX_QUICK_REPLIES
            && rows.iter().all(|row| payload_ok(&row.id))
        {
            self.degrade(
                "list-to-quick-replies",
                format!("list of {} rows sent as quick replies", rows.len()),
            );
            let replies = rows
                .iter()
                .map(|row| (row.title.as_str(), row.id.as_str(), None));
            return self.quick_replies(&text, replies);
        }
        self.degrade(
            "list-to-numbered-text",
            format!("list of {} rows sent as numbered text", rows.len()),
        );
        let mut body = text;
        let mut number = 0;
        for section in &menu.sections {
            if let Some(title) = &section.title {
                let _ = write!(body, "\n\n{title}");
            }
            for row in &section.rows {
                number += 1;
                let _ = write!(body, "\n{number}. {}", row.title);
                if let Some(description) = &row.description {
                    let _ = write!(body, " – {description}");
                }
            }
        }
        self.texts(&body)
    }
}

fn payload_ok(payload: &str) -> bool {
    !payload.is_empty() && char_len(payload) <= MAX_PAYLOAD_CHARS
}

fn numbered(text: &str, lines: &[String]) -> String {
    let mut out = text.to_string();
    for (index, line) in lines.iter().enumerate() {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = write!(out, "{}. {line}", index + 1);
    }
    out
}

fn contact_text(card: &ContactCard) -> String {
    let mut lines = vec![format!("👤 {}", card.formatted_name)];
    lines.extend(card.organization.clone());
    for (icon, values) in [
        ("📞", &card.phones),
        ("✉️", &card.emails),
        ("🔗", &card.urls),
    ] {
        for value in values {
            match &value.label {
                Some(label) => lines.push(format!("{icon} {label}: {}", value.value)),
                None => lines.push(format!("{icon} {}", value.value)),
            }
        }
    }
    if let Some(birthday) = &card.birthday {
        lines.push(format!("🎂 {birthday}"));
    }
    lines.join("\n")
}
