//! Canonical envelopes to WhatsApp Cloud API send requests
//! (`POST /v21.0/{phone-number-id}/messages`).
//!
//! Every request body starts with `messaging_product`, `recipient_type` and
//! `to`; the host adds the access token. What WhatsApp cannot show as it is
//! gets a documented degradation (see the table in the crate docs), and no
//! body ever exceeds a documented limit: text 4,096 characters, caption 1,024,
//! interactive body 1,024, header and footer 60, reply-button title 20 and id
//! 256, list button label 20, row title 24, row description 72, row id 200,
//! section title 24.

use crate::{
    Degradation, Encoded, HttpMethod, MAX_BUTTON_TITLE_CHARS, MAX_BUTTONS, MAX_CAPTION_CHARS,
    MAX_LIST_ROWS, MAX_TEXT_CHARS, PLATFORM, SendRequest,
};
use serde_json::{Map, Value, json};
use switchboard_pdk::text::{char_len, chunks, truncate_at_word};
use switchboard_pdk::types::{
    Address, Button, ButtonAction, ContactCard, Content, EncodeError, Envelope, Event, FieldError,
    Interactive, InteractiveAction, ListMenu, Location, Media, MediaKind, MediaSource, Message,
    MessageRef, QuickReply, ReactionAction, Receipt, ReceiptStatus, SealedContent, Template,
};

/// The Graph API version of the send path and the media lookup.
pub const API_VERSION: &str = "v21.0";
/// Characters of an interactive message's body.
const MAX_INTERACTIVE_BODY_CHARS: usize = 1024;
/// Characters of an interactive message's text header and of its footer.
const MAX_HEADER_FOOTER_CHARS: usize = 60;
/// Characters of a reply button's id.
const MAX_BUTTON_ID_CHARS: usize = 256;
/// Characters of a list message's button label.
const MAX_LIST_BUTTON_CHARS: usize = 20;
/// Characters of a list row's title.
const MAX_ROW_TITLE_CHARS: usize = 24;
/// Characters of a list row's description.
const MAX_ROW_DESCRIPTION_CHARS: usize = 72;
/// Characters of a list row's id.
const MAX_ROW_ID_CHARS: usize = 200;
/// Characters of a list section's title.
const MAX_SECTION_TITLE_CHARS: usize = 24;
/// Prefix of a message that stands for an edit.
pub const EDIT_PREFIX: &str = "✏️ Edited: ";

/// Requests and degradations collected while rendering one envelope.
struct Output<'a> {
    /// The send path, `/v21.0/{sender}/messages`.
    path: String,
    recipient: &'a Address,
    /// WhatsApp message id to quote (`context.message_id`) on the first message.
    context: Option<String>,
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

    /// Adds a send request whose body is `messaging_product`, `to` and the
    /// given members; the first message carries the reply context.
    fn message(&mut self, members: Value) {
        let mut body = Map::new();
        body.insert("messaging_product".into(), json!("whatsapp"));
        body.insert("recipient_type".into(), json!("individual"));
        body.insert("to".into(), json!(self.recipient.id));
        if let Some(id) = self.context.take() {
            body.insert("context".into(), json!({ "message_id": id }));
        }
        if let Value::Object(members) = members {
            body.extend(members);
        }
        self.push(Value::Object(body));
    }

    /// Adds a send request with exactly this body.
    fn push(&mut self, body: Value) {
        self.requests.push(SendRequest {
            method: HttpMethod::Post,
            path: self.path.clone(),
            headers: vec![("Content-Type".to_string(), "application/json".to_string())],
            body: body.to_string().into_bytes(),
        });
    }

    /// One or more text messages (split on word boundaries at 4,096
    /// characters), with link previews when the text has a link.
    fn text(&mut self, text: &str) {
        let parts = chunks(text, MAX_TEXT_CHARS as usize);
        if parts.len() > 1 {
            self.degrade(
                "text-split",
                format!(
                    "{} characters sent as {} messages of at most {MAX_TEXT_CHARS}",
                    char_len(text),
                    parts.len()
                ),
            );
        }
        for part in parts {
            let preview = part.contains("https://") || part.contains("http://");
            self.message(json!({
                "type": "text",
                "text": { "preview_url": preview, "body": part },
            }));
        }
    }

    /// `text` cut to `max` characters, recording `rule` when cut.
    fn fit(&mut self, text: &str, max: usize, rule: &str, what: &str) -> String {
        let (fitted, cut) = truncate_at_word(text, max);
        if cut {
            self.degrade(rule, format!("{what} cut to {max} characters"));
        }
        fitted
    }
}

/// Renders an envelope as send requests from the business number `sender`
/// to the WhatsApp user `recipient`.
pub fn encode(
    envelope: &Envelope,
    sender: &Address,
    recipient: &Address,
) -> Result<Encoded, EncodeError> {
    for (name, address) in [("sender", sender), ("recipient", recipient)] {
        if address.id.is_empty() || address.id.contains('/') {
            return Err(EncodeError::InvalidEnvelope(FieldError {
                path: format!("/{name}/id"),
                expected: "a WhatsApp id without `/`".to_string(),
                found: Some(address.id.clone()),
            }));
        }
    }
    let mut out = Output {
        path: format!("/{API_VERSION}/{}/messages", sender.id),
        recipient,
        context: None,
        requests: Vec::new(),
        degradations: Vec::new(),
    };
    match &envelope.event {
        Event::Message(message) => encode_message(&mut out, message)?,
        Event::Reaction(reaction) => match whatsapp_id(&reaction.target) {
            Some(target) => {
                let emoji = match reaction.action {
                    ReactionAction::Add => reaction.emoji.as_str(),
                    ReactionAction::Remove => "",
                };
                out.message(json!({
                    "type": "reaction",
                    "reaction": { "message_id": target, "emoji": emoji },
                }));
            }
            None => {
                out.degrade(
                    "reaction-as-text",
                    "the reacted-to message has no WhatsApp id; sent as a text notice",
                );
                let notice = match reaction.action {
                    ReactionAction::Add => format!("Reacted {} to a message", reaction.emoji),
                    ReactionAction::Remove => "Removed a reaction".to_string(),
                };
                out.text(&notice);
            }
        },
        Event::Edit(edit) => {
            out.degrade(
                "edit-as-new-message",
                "WhatsApp cannot edit a message sent by the API; the new content is sent as a new message",
            );
            out.context = whatsapp_id(&edit.target);
            match &edit.content {
                Content::Text(text) => {
                    let mut text = text.clone();
                    let shift = char_len(EDIT_PREFIX) as u32;
                    for span in &mut text.spans {
                        span.start += shift;
                        span.end += shift;
                    }
                    text.body.insert_str(0, EDIT_PREFIX);
                    encode_content(&mut out, &Content::Text(text))?;
                }
                other => {
                    out.text(EDIT_PREFIX.trim_end());
                    encode_content(&mut out, other)?;
                }
            }
        }
        Event::Deletion(target) => {
            out.degrade(
                "deletion-as-notice",
                "WhatsApp cannot delete a message sent by the API; a text notice is sent",
            );
            out.context = whatsapp_id(target);
            out.text("🗑️ This message was deleted.");
        }
        Event::Receipt(receipt) => encode_receipt(&mut out, receipt),
        Event::Typing(_) => out.degrade(
            "typing-dropped",
            "WhatsApp shows typing only together with marking a received WhatsApp message as read, which a typing event does not name; nothing is sent",
        ),
    }
    Ok(Encoded {
        requests: out.requests,
        degradations: out.degradations,
    })
}

/// The WhatsApp message id a reference names, when it is a WhatsApp one.
fn whatsapp_id(reference: &MessageRef) -> Option<String> {
    (reference.platform == PLATFORM && !reference.native_id.is_empty())
        .then(|| reference.native_id.clone())
}

/// Read receipts mark WhatsApp messages read; other receipts cannot be sent.
fn encode_receipt(out: &mut Output<'_>, receipt: &Receipt) {
    if receipt.status != ReceiptStatus::Read {
        out.degrade(
            "receipt-dropped",
            "WhatsApp takes only read receipts from a business; nothing is sent",
        );
        return;
    }
    let mut skipped = 0;
    for target in &receipt.targets {
        match whatsapp_id(target) {
            Some(id) => out.push(json!({
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": id,
            })),
            None => skipped += 1,
        }
    }
    if skipped > 0 || receipt.targets.is_empty() {
        out.degrade(
            "receipt-dropped",
            format!(
                "{skipped} of {} receipt targets have no WhatsApp id (watermark-only receipts cannot be sent)",
                receipt.targets.len()
            ),
        );
    }
}

/// A message: reply context, relations WhatsApp cannot carry, then content.
fn encode_message(out: &mut Output<'_>, message: &Message) -> Result<(), EncodeError> {
    if let Some(reply) = &message.reply_to {
        out.context = whatsapp_id(reply);
        if out.context.is_none() {
            out.degrade(
                "reply-context-dropped",
                format!(
                    "the replied-to message has no WhatsApp id ({}); sent without the quote",
                    reply.platform
                ),
            );
        }
    }
    if message.forwarded.is_some() {
        out.degrade(
            "forward-flag-dropped",
            "the Cloud API cannot mark a message as forwarded",
        );
    }
    if message.story.is_some() {
        out.degrade(
            "story-context-dropped",
            "the Cloud API cannot attach a story reference",
        );
    }
    encode_content(out, &message.content)
}

/// Renders one content.
fn encode_content(out: &mut Output<'_>, content: &Content) -> Result<(), EncodeError> {
    match content {
        Content::Text(text) => {
            let rendered = crate::markup::render(text);
            if rendered.trim().is_empty() {
                return Err(EncodeError::InvalidEnvelope(FieldError {
                    path: "/event/message/content/text/body".to_string(),
                    expected: "text with at least one visible character".to_string(),
                    found: Some(rendered),
                }));
            }
            out.text(&rendered);
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
            let contacts: Vec<Value> = cards.iter().map(contact_json).collect();
            out.message(json!({ "type": "contacts", "contacts": contacts }));
        }
        Content::Interactive(interactive) => encode_interactive(out, interactive),
        Content::Choice(choice) => {
            out.degrade(
                "choice-as-text",
                "WhatsApp cannot send a choice on someone's behalf; its title is sent as text",
            );
            out.text(&choice.title);
        }
        Content::Template(template) => encode_template(out, template),
        Content::Sealed(sealed) => encode_sealed(out, sealed)?,
        Content::Unsupported(unsupported) => {
            out.degrade(
                "unsupported-as-notice",
                format!(
                    "content of type `{}` has no WhatsApp form; a text notice is sent",
                    unsupported.native_type
                ),
            );
            out.text(&switchboard_pdk::text::unsupported_notice(unsupported));
        }
    }
    Ok(())
}

/// Media by WhatsApp media id or by link, with its caption where WhatsApp
/// takes one (image, video, document).
fn encode_media(out: &mut Output<'_>, media: &Media) {
    let kind = match media.kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Voice => {
            out.degrade("voice-as-audio", "voice notes are sent as audio messages");
            "audio"
        }
        MediaKind::Document => "document",
        MediaKind::Sticker => "sticker",
        MediaKind::Animation => {
            out.degrade(
                "animation-as-document",
                "WhatsApp's send API takes no GIFs; the animation is sent as a document",
            );
            "document"
        }
    };
    let mut object = Map::new();
    match &media.source {
        MediaSource::PlatformId(id) => object.insert("id".into(), json!(id)),
        MediaSource::Url(url) => object.insert("link".into(), json!(url)),
    };
    if kind == "document"
        && let Some(filename) = &media.filename
    {
        object.insert("filename".into(), json!(filename));
    }
    let caption = media.caption.as_ref().map(crate::markup::render);
    let mut caption_as_text = None;
    if let Some(caption) = caption.filter(|caption| !caption.is_empty()) {
        if matches!(kind, "image" | "video" | "document") {
            let fitted = out.fit(
                &caption,
                MAX_CAPTION_CHARS as usize,
                "caption-truncated",
                "caption",
            );
            object.insert("caption".into(), json!(fitted));
        } else {
            out.degrade(
                "caption-as-text",
                format!("WhatsApp {kind} messages take no caption; it follows as a text message"),
            );
            caption_as_text = Some(caption);
        }
    }
    let mut members = Map::new();
    members.insert("type".into(), json!(kind));
    members.insert(kind.into(), Value::Object(object));
    out.message(Value::Object(members));
    if let Some(caption) = caption_as_text {
        out.text(&caption);
    }
}

/// A location pin; WhatsApp's send API has no URL member.
fn encode_location(out: &mut Output<'_>, location: &Location) {
    if !(location.latitude.is_finite() && location.longitude.is_finite()) {
        out.degrade("location-as-text", "the coordinates are not finite numbers");
        out.text(location.name.as_deref().unwrap_or("(location)"));
        return;
    }
    let mut object = Map::new();
    object.insert("latitude".into(), json!(location.latitude));
    object.insert("longitude".into(), json!(location.longitude));
    if let Some(name) = &location.name {
        object.insert("name".into(), json!(name));
    }
    if let Some(address) = &location.address {
        object.insert("address".into(), json!(address));
    }
    out.message(json!({ "type": "location", "location": object }));
    if let Some(url) = &location.url {
        out.degrade(
            "location-url-as-text",
            "WhatsApp location messages have no URL; it follows as a text message",
        );
        out.text(url);
    }
}

/// A contact card in the send API's shape.
fn contact_json(card: &ContactCard) -> Value {
    let mut name = Map::new();
    name.insert("formatted_name".into(), json!(card.formatted_name));
    if let Some(first) = &card.first_name {
        name.insert("first_name".into(), json!(first));
    }
    if let Some(last) = &card.last_name {
        name.insert("last_name".into(), json!(last));
    }
    let mut contact = Map::new();
    contact.insert("name".into(), Value::Object(name));
    if let Some(company) = &card.organization {
        contact.insert("org".into(), json!({ "company": company }));
    }
    for (list, key, values) in [
        ("phones", "phone", &card.phones),
        ("emails", "email", &card.emails),
        ("urls", "url", &card.urls),
    ] {
        if !values.is_empty() {
            let items: Vec<Value> = values
                .iter()
                .map(|value| {
                    let mut item = Map::new();
                    item.insert(key.into(), json!(value.value));
                    if let Some(label) = &value.label {
                        item.insert("type".into(), json!(label));
                    }
                    Value::Object(item)
                })
                .collect();
            contact.insert(list.into(), Value::Array(items));
        }
    }
    if let Some(birthday) = &card.birthday {
        contact.insert("birthday".into(), json!(birthday));
    }
    Value::Object(contact)
}

/// A numbered list of options, for when WhatsApp's controls cannot hold them.
fn numbered(header: Option<&str>, body: &str, options: &[String], footer: Option<&str>) -> String {
    let mut lines: Vec<String> = Vec::new();
    if let Some(header) = header {
        lines.push(format!("*{header}*"));
    }
    if !body.is_empty() {
        lines.push(body.to_string());
    }
    lines.extend(
        options
            .iter()
            .enumerate()
            .map(|(index, option)| format!("{}. {option}", index + 1)),
    );
    if let Some(footer) = footer {
        lines.push(format!("_{footer}_"));
    }
    lines.join("\n")
}

/// Buttons, lists and quick replies as WhatsApp's interactive messages where
/// they fit, as numbered text where they do not.
fn encode_interactive(out: &mut Output<'_>, interactive: &Interactive) {
    let mut body = crate::markup::render(&interactive.body);
    let header = interactive.header.as_deref();
    let footer = interactive.footer.as_deref();
    match &interactive.action {
        InteractiveAction::Buttons(buttons) => {
            let mut replies: Vec<(&str, &str)> = Vec::new();
            let mut links = Vec::new();
            for Button { title, action } in buttons {
                match action {
                    ButtonAction::Reply(payload) => replies.push((payload, title)),
                    ButtonAction::OpenUrl(url) => links.push(format!("{title}: {url}")),
                    ButtonAction::Call(number) => links.push(format!("{title}: {number}")),
                }
            }
            if !links.is_empty() {
                out.degrade(
                    "link-buttons-to-text",
                    format!("{} URL or call buttons written as text lines", links.len()),
                );
                for link in links {
                    if !body.is_empty() {
                        body.push('\n');
                    }
                    body.push_str(&link);
                }
            }
            if replies.is_empty() {
                out.text(&numbered(header, &body, &[], footer));
            } else if replies.len() <= MAX_BUTTONS as usize {
                reply_buttons(out, header, &body, footer, &replies);
            } else if replies.len() <= MAX_LIST_ROWS as usize {
                out.degrade(
                    "buttons-to-list",
                    format!(
                        "{} reply buttons exceed WhatsApp's {MAX_BUTTONS}; sent as a list",
                        replies.len()
                    ),
                );
                let rows = replies
                    .iter()
                    .map(|&(id, title)| (id, title, None))
                    .collect();
                list(out, header, &body, footer, "Options", vec![(None, rows)]);
            } else {
                out.degrade(
                    "buttons-to-numbered-text",
                    format!(
                        "{} reply buttons exceed a list's {MAX_LIST_ROWS} rows; sent as numbered text",
                        replies.len()
                    ),
                );
                let titles: Vec<String> = replies
                    .into_iter()
                    .map(|(_, title)| title.to_string())
                    .collect();
                out.text(&numbered(header, &body, &titles, footer));
            }
        }
        InteractiveAction::List(menu) => encode_list(out, header, &body, footer, menu),
        InteractiveAction::QuickReplies(replies) => {
            encode_quick_replies(out, header, &body, footer, replies)
        }
    }
}

/// A list menu as an interactive list (at most 10 rows) or numbered text.
fn encode_list(
    out: &mut Output<'_>,
    header: Option<&str>,
    body: &str,
    footer: Option<&str>,
    menu: &ListMenu,
) {
    let rows: usize = menu.sections.iter().map(|section| section.rows.len()).sum();
    if rows == 0 || rows > MAX_LIST_ROWS as usize {
        out.degrade(
            "list-to-numbered-text",
            format!("{rows} rows do not fit a WhatsApp list (1 to {MAX_LIST_ROWS}); sent as numbered text"),
        );
        let titles: Vec<String> = menu
            .sections
            .iter()
            .flat_map(|section| section.rows.iter())
            .map(|row| match &row.description {
                Some(description) => format!("{} — {description}", row.title),
                None => row.title.clone(),
            })
            .collect();
        out.text(&numbered(header, body, &titles, footer));
        return;
    }
    let sections = menu
        .sections
        .iter()
        .filter(|section| !section.rows.is_empty())
        .map(|section| {
            (
                section.title.as_deref(),
                section
                    .rows
                    .iter()
                    .map(|row| {
                        (
                            row.id.as_str(),
                            row.title.as_str(),
                            row.description.as_deref(),
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    list(out, header, body, footer, &menu.button_label, sections);
}

/// Quick replies as reply buttons (at most 3) or numbered text.
fn encode_quick_replies(
    out: &mut Output<'_>,
    header: Option<&str>,
    body: &str,
    footer: Option<&str>,
    replies: &[QuickReply],
) {
    if !replies.is_empty() && replies.len() <= MAX_BUTTONS as usize {
        out.degrade(
            "quick-replies-to-buttons",
            "WhatsApp has no quick replies; sent as reply buttons",
        );
        let buttons: Vec<(&str, &str)> = replies
            .iter()
            .map(|reply| (reply.payload.as_str(), reply.title.as_str()))
            .collect();
        reply_buttons(out, header, body, footer, &buttons);
    } else {
        out.degrade(
            "quick-replies-to-numbered-text",
            format!(
                "{} quick replies exceed WhatsApp's {MAX_BUTTONS} reply buttons; sent as numbered text",
                replies.len()
            ),
        );
        let titles: Vec<String> = replies.iter().map(|reply| reply.title.clone()).collect();
        out.text(&numbered(header, body, &titles, footer));
    }
}

/// Header, body and footer members shared by interactive messages.
fn frame(
    out: &mut Output<'_>,
    header: Option<&str>,
    body: &str,
    footer: Option<&str>,
) -> Map<String, Value> {
    let mut object = Map::new();
    if let Some(header) = header {
        let header = out.fit(
            header,
            MAX_HEADER_FOOTER_CHARS,
            "interactive-text-truncated",
            "header",
        );
        object.insert("header".into(), json!({ "type": "text", "text": header }));
    }
    // WhatsApp requires a body on buttons and lists.
    let body = if body.trim().is_empty() { "…" } else { body };
    let body = out.fit(
        body,
        MAX_INTERACTIVE_BODY_CHARS,
        "interactive-text-truncated",
        "body",
    );
    object.insert("body".into(), json!({ "text": body }));
    if let Some(footer) = footer {
        let footer = out.fit(
            footer,
            MAX_HEADER_FOOTER_CHARS,
            "interactive-text-truncated",
            "footer",
        );
        object.insert("footer".into(), json!({ "text": footer }));
    }
    object
}

/// An interactive reply-button message (at most 3 buttons).
fn reply_buttons(
    out: &mut Output<'_>,
    header: Option<&str>,
    body: &str,
    footer: Option<&str>,
    buttons: &[(&str, &str)],
) {
    let mut object = frame(out, header, body, footer);
    let buttons: Vec<Value> = buttons
        .iter()
        .map(|(id, title)| {
            let title = out.fit(
                title,
                MAX_BUTTON_TITLE_CHARS as usize,
                "button-title-truncated",
                "button title",
            );
            let id = out.fit(id, MAX_BUTTON_ID_CHARS, "button-id-truncated", "button id");
            json!({ "type": "reply", "reply": { "id": id, "title": title } })
        })
        .collect();
    object.insert("type".into(), json!("button"));
    object.insert("action".into(), json!({ "buttons": buttons }));
    out.message(json!({ "type": "interactive", "interactive": object }));
}

/// A list section: title and rows of (id, title, description).
type Section<'a> = (Option<&'a str>, Vec<(&'a str, &'a str, Option<&'a str>)>);

/// An interactive list message (at most 10 rows in all).
fn list(
    out: &mut Output<'_>,
    header: Option<&str>,
    body: &str,
    footer: Option<&str>,
    label: &str,
    sections: Vec<Section<'_>>,
) {
    let mut object = frame(out, header, body, footer);
    let label = if label.trim().is_empty() {
        "Options"
    } else {
        label
    };
    let label = out.fit(
        label,
        MAX_LIST_BUTTON_CHARS,
        "list-text-truncated",
        "list button label",
    );
    let several = sections.len() > 1;
    let sections: Vec<Value> = sections
        .into_iter()
        .enumerate()
        .map(|(index, (title, rows))| {
            let rows: Vec<Value> = rows
                .into_iter()
                .map(|(id, title, description)| {
                    let mut row = Map::new();
                    row.insert(
                        "id".into(),
                        json!(out.fit(id, MAX_ROW_ID_CHARS, "list-text-truncated", "row id")),
                    );
                    row.insert(
                        "title".into(),
                        json!(out.fit(
                            title,
                            MAX_ROW_TITLE_CHARS,
                            "list-text-truncated",
                            "row title"
                        )),
                    );
                    if let Some(description) = description {
                        row.insert(
                            "description".into(),
                            json!(out.fit(
                                description,
                                MAX_ROW_DESCRIPTION_CHARS,
                                "list-text-truncated",
                                "row description"
                            )),
                        );
                    }
                    Value::Object(row)
                })
                .collect();
            let mut section = Map::new();
            // A title is required when there are several sections.
            let title = match title {
                Some(title) => Some(title.to_string()),
                None => several.then(|| format!("Part {}", index + 1)),
            };
            if let Some(title) = title {
                section.insert(
                    "title".into(),
                    json!(out.fit(
                        &title,
                        MAX_SECTION_TITLE_CHARS,
                        "list-text-truncated",
                        "section title"
                    )),
                );
            }
            section.insert("rows".into(), Value::Array(rows));
            Value::Object(section)
        })
        .collect();
    object.insert("type".into(), json!("list"));
    object.insert(
        "action".into(),
        json!({ "button": label, "sections": sections }),
    );
    out.message(json!({ "type": "interactive", "interactive": object }));
}

/// A template message; parameters are grouped by the component they fill
/// (`header`, `body`, `button:<index>` as a quick-reply payload).
fn encode_template(out: &mut Output<'_>, template: &Template) {
    let mut header = Vec::new();
    let mut body = Vec::new();
    let mut buttons: Vec<(String, Vec<Value>)> = Vec::new();
    for parameter in &template.parameters {
        let text = json!({ "type": "text", "text": parameter.value });
        match parameter.component.as_str() {
            "header" => header.push(text),
            "body" => body.push(text),
            other => match other.strip_prefix("button:") {
                Some(index) if index.parse::<u8>().is_ok() => {
                    let payload = json!({ "type": "payload", "payload": parameter.value });
                    match buttons.iter_mut().find(|(existing, _)| existing == index) {
                        Some((_, values)) => values.push(payload),
                        None => buttons.push((index.to_string(), vec![payload])),
                    }
                }
                _ => {
                    out.degrade(
                        "template-parameter-as-body",
                        format!("parameter for unknown component `{other}` added to the body"),
                    );
                    body.push(text);
                }
            },
        }
    }
    let mut components = Vec::new();
    if !header.is_empty() {
        components.push(json!({ "type": "header", "parameters": header }));
    }
    if !body.is_empty() {
        components.push(json!({ "type": "body", "parameters": body }));
    }
    for (index, parameters) in buttons {
        components.push(json!({
            "type": "button",
            "sub_type": "quick_reply",
            "index": index,
            "parameters": parameters,
        }));
    }
    let mut object = Map::new();
    object.insert("name".into(), json!(template.name));
    object.insert("language".into(), json!({ "code": template.language }));
    if !components.is_empty() {
        object.insert("components".into(), Value::Array(components));
    }
    out.message(json!({ "type": "template", "template": object }));
}

/// Sealed content as one armored text message; armor longer than one
/// message cannot be split without breaking it.
fn encode_sealed(out: &mut Output<'_>, sealed: &SealedContent) -> Result<(), EncodeError> {
    let armored = switchboard_pdk::armor::encode(sealed);
    let length = char_len(&armored);
    if length > MAX_TEXT_CHARS as usize {
        return Err(EncodeError::Unsupported(format!(
            "sealed content armors to {length} characters, more than one WhatsApp text message ({MAX_TEXT_CHARS})"
        )));
    }
    out.degrade(
        "sealed-as-armored-text",
        "WhatsApp takes no opaque payloads; the sealed bytes travel as armored text",
    );
    out.message(json!({
        "type": "text",
        "text": { "preview_url": false, "body": armored },
    }));
    Ok(())
}
