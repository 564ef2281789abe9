//! Webhook bodies to canonical envelopes (see the crate docs for the mapping).

use crate::{Flavor, MAX_WEBHOOK_BYTES};
use switchboard_pdk::armor;
use switchboard_pdk::json::{self, Node};
use switchboard_pdk::types::{
    Address, Choice, ChoiceOrigin, Content, Conversation, ConversationKind, DecodeError, Edit,
    Envelope, Event, ExtraField, FormattedText, Location, Media, MediaKind, MediaSource, Message,
    MessageCategory, MessageRef, Participant, Reaction, ReactionAction, Receipt, ReceiptStatus,
    StoryRef, StoryRelation, UnsupportedContent,
};

/// Event keys of a messaging item that are read into the canonical model;
/// any other key names an event we keep as unsupported.
const EVENT_KEYS: [&str; 6] = [
    "message",
    "reaction",
    "postback",
    "read",
    "delivery",
    "message_edit",
];

/// Decodes one webhook body of the flavor's product into envelopes, in the
/// order the events appear.
pub fn decode(flavor: &Flavor, body: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    let value = json::parse(body, MAX_WEBHOOK_BYTES)?;
    let root = Node::root(&value);
    let mut out = Vec::new();
    // Meta's Instagram examples show the notification wrapped in an array.
    if value.is_array() {
        for item in root.items()? {
            decode_notification(flavor, &item, &mut out)?;
        }
    } else {
        decode_notification(flavor, &root, &mut out)?;
    }
    Ok(out)
}

/// Everything a messaging item needs from its entry.
struct EntryContext<'a> {
    id: Option<&'a str>,
    time: Option<u64>,
}

fn decode_notification(
    flavor: &Flavor,
    root: &Node<'_, '_>,
    out: &mut Vec<Envelope>,
) -> Result<(), DecodeError> {
    let object = root.field("object")?;
    if object.as_str()? != flavor.object {
        return Err(DecodeError::WrongPlatform(json::field_error(
            object.path(),
            flavor.object,
            Some(object.as_str()?.to_string()),
        )));
    }
    let entries = root.field("entry")?;
    for entry in entries.items()? {
        let context = EntryContext {
            id: entry.opt_str("id")?,
            time: entry.opt_u64("time")?,
        };
        for key in ["messaging", "standby"] {
            if let Some(items) = entry.get(key)? {
                for item in items.items()? {
                    decode_event(flavor, &context, &item, Vec::new(), out)?;
                }
            }
        }
        if let Some(changes) = entry.get("changes")? {
            for change in changes.items()? {
                decode_change(flavor, &context, &change, out)?;
            }
        }
    }
    Ok(())
}

/// A `changes[]` item: `{field, value}`. A messaging-shaped value (with a
/// `sender`) is decoded like a `messaging[]` item; anything else (comments,
/// mentions…) is kept as unsupported content.
fn decode_change(
    flavor: &Flavor,
    context: &EntryContext<'_>,
    change: &Node<'_, '_>,
    out: &mut Vec<Envelope>,
) -> Result<(), DecodeError> {
    let field = change.str("field")?;
    let value = change.field("value")?;
    // `field` names the change's kind; any other member of the change is
    // undeclared and so personal.
    let extras = change.extras(&["value"], &["field"]);
    if value.has("sender") {
        return decode_event(flavor, context, &value, extras, out);
    }
    let from = match value.get("from")? {
        Some(from) => from.opt_str("id")?,
        None => None,
    };
    let base = Base {
        flavor,
        sender: from.or(context.id).unwrap_or_default(),
        recipient: context.id.unwrap_or_default(),
        timestamp: context.time.map(to_millis),
    };
    let native = value.opt_str("id")?;
    let id = match native {
        Some(native) => base.id(&[field, native]),
        None => base.id(&[field, base.sender, &base.time_id()]),
    };
    let mut extras = extras;
    // Comments, mentions and the like name their author (`from`) and more.
    extras.push(value.to_personal_extra());
    out.push(base.envelope(id, native, unsupported_event(field), extras));
    Ok(())
}

/// Seconds become milliseconds: Meta sends milliseconds in `messaging[]` but
/// strings of seconds in the `changes[]` form.
fn to_millis(time: u64) -> u64 {
    if time < 100_000_000_000 {
        time.saturating_mul(1000)
    } else {
        time
    }
}

fn address(flavor: &Flavor, id: &str) -> Address {
    Address {
        platform: flavor.platform.to_string(),
        id: id.to_string(),
    }
}

fn participant(flavor: &Flavor, id: &str) -> Participant {
    Participant {
        address: address(flavor, id),
        attributes: Vec::new(),
    }
}

fn direct(user: &str) -> Conversation {
    Conversation {
        kind: ConversationKind::Direct,
        id: user.to_string(),
    }
}

fn message_ref(flavor: &Flavor, mid: &str) -> MessageRef {
    MessageRef {
        platform: flavor.platform.to_string(),
        native_id: mid.to_string(),
    }
}

fn message(content: Content, category: MessageCategory) -> Message {
    Message {
        content,
        reply_to: None,
        forwarded: None,
        story: None,
        category,
    }
}

fn unsupported(native_type: &str, description: Option<String>) -> Content {
    Content::Unsupported(UnsupportedContent {
        native_type: native_type.to_string(),
        description,
    })
}

/// A personal message of unsupported content, for events and changes with
/// no canonical home (kept whole in the extras).
fn unsupported_event(native_type: &str) -> Event {
    Event::Message(message(
        unsupported(native_type, None),
        MessageCategory::Personal,
    ))
}

/// Text without formatting (the Messenger Platform has no markup).
fn plain(text: &str) -> FormattedText {
    FormattedText {
        body: text.to_string(),
        spans: Vec::new(),
    }
}

/// One messaging item (`{sender, recipient, timestamp, <event>}`).
fn decode_event(
    flavor: &Flavor,
    context: &EntryContext<'_>,
    item: &Node<'_, '_>,
    mut extras: Vec<ExtraField>,
    out: &mut Vec<Envelope>,
) -> Result<(), DecodeError> {
    let sender_node = item.field("sender")?;
    let sender = match sender_node.opt_str("id")? {
        Some(id) => id,
        // Marketing-message postbacks identify the person by `user_ref`.
        None => sender_node.str("user_ref")?,
    };
    // Whatever else names the sender (`user_ref`) is theirs.
    extras.extend(sender_node.personal_extras(&["id"]));
    let recipient = match item.get("recipient")? {
        Some(node) => {
            extras.extend(node.personal_extras(&["id"]));
            match node.opt_str("id")? {
                Some(id) => id,
                None => context.id.unwrap_or_default(),
            }
        }
        None => context.id.unwrap_or_default(),
    };
    let timestamp = item.opt_u64("timestamp")?;
    let event_key = EVENT_KEYS.iter().copied().find(|key| item.has(key));
    let mut known = vec!["sender", "recipient", "timestamp"];
    known.extend(event_key);
    // An event without a canonical home (referral, optin, account_linking,
    // game_play, thread control…) carries refs, tokens and ids of the person.
    extras.extend(item.personal_extras(&known));
    let base = Base {
        flavor,
        sender,
        recipient,
        timestamp: timestamp.or(context.time).map(to_millis),
    };
    let Some(key) = event_key else {
        // referral, optin, account_linking, game_play, pass_thread_control…:
        // no canonical home, so reported as unsupported with the event in
        // the extras (already there, as unknown keys of the item).
        let kind = item
            .value()
            .as_object()
            .and_then(|object| object.keys().find(|key| !known.contains(&key.as_str())))
            .map_or("unknown", String::as_str);
        let id = base.id(&[kind, sender, &base.time_id()]);
        out.push(base.envelope(id, None, unsupported_event(kind), extras));
        return Ok(());
    };
    let node = item.field(key)?;
    let envelope = match key {
        "message" => return decode_message(&base, &node, extras, out),
        "reaction" => decode_reaction(&base, &node, extras)?,
        "postback" => decode_postback(&base, &node, extras)?,
        "read" => decode_read(&base, &node, extras)?,
        "delivery" => decode_delivery(&base, &node, extras)?,
        // The last of `EVENT_KEYS`: "message_edit".
        _ => decode_edit(&base, &node, extras)?,
    };
    out.push(envelope);
    Ok(())
}

/// The parts of an envelope every event shares.
#[derive(Clone, Copy)]
struct Base<'a> {
    flavor: &'a Flavor,
    sender: &'a str,
    recipient: &'a str,
    timestamp: Option<u64>,
}

impl Base<'_> {
    fn envelope(
        &self,
        id: String,
        native_id: Option<&str>,
        event: Event,
        extras: Vec<ExtraField>,
    ) -> Envelope {
        Envelope {
            id,
            platform: self.flavor.platform.to_string(),
            native_id: native_id.map(str::to_string),
            conversation: direct(self.sender),
            sender: participant(self.flavor, self.sender),
            recipient: address(self.flavor, self.recipient),
            timestamp_ms: self.timestamp.unwrap_or_default(),
            event,
            echo: false,
            extras,
        }
    }

    /// An envelope id: the platform and `parts`, joined by `:`.
    fn id(&self, parts: &[&str]) -> String {
        let mut id = self.flavor.platform.to_string();
        for part in parts {
            id.push(':');
            id.push_str(part);
        }
        id
    }

    /// The timestamp as a part of an id, for events without an id of their own.
    fn time_id(&self) -> String {
        self.timestamp.unwrap_or_default().to_string()
    }
}

fn decode_message(
    base: &Base<'_>,
    node: &Node<'_, '_>,
    mut extras: Vec<ExtraField>,
    out: &mut Vec<Envelope>,
) -> Result<(), DecodeError> {
    let flavor = base.flavor;
    let mid = node.str("mid")?;
    let echo = node.opt_bool("is_echo")?.unwrap_or(false);
    // `commands` names the bot commands used; `referral`, `nlp` (which
    // detects e-mail addresses and phone numbers), `app_id`, `metadata` and
    // anything newer stay personal.
    extras.extend(node.extras(
        &[
            "mid",
            "text",
            "attachments",
            "quick_reply",
            "reply_to",
            "is_echo",
            "is_deleted",
            "is_unsupported",
        ],
        &["commands"],
    ));
    let finish = |mut envelope: Envelope| {
        if echo {
            envelope.echo = true;
            envelope.conversation = direct(base.recipient);
        }
        envelope
    };
    if node.opt_bool("is_deleted")?.unwrap_or(false) {
        let id = base.id(&[mid, "deleted"]);
        let event = Event::Deletion(message_ref(flavor, mid));
        out.push(finish(base.envelope(id, Some(mid), event, extras)));
        return Ok(());
    }
    let category = if echo {
        MessageCategory::Service
    } else {
        MessageCategory::Personal
    };
    let mut reply_to = None;
    let mut story = None;
    if let Some(reply) = node.get("reply_to")? {
        reply_to = reply.opt_str("mid")?.map(|mid| message_ref(flavor, mid));
        if let Some(story_node) = reply.get("story")? {
            story = Some(StoryRef {
                relation: StoryRelation::Reply,
                story_id: story_node.opt_string("id")?,
                url: story_node.opt_string("url")?,
            });
            extras.extend(story_node.extras(&["id", "url"], &[]));
        }
        extras.extend(reply.extras(&["mid", "story"], &["is_self_reply"]));
    }
    let mut contents: Vec<Content> = Vec::new();
    let text_node = node.get("text")?;
    let text = text_node.map(|text| text.as_str()).transpose()?;
    if node.opt_bool("is_unsupported")?.unwrap_or(false) {
        contents.push(unsupported(
            "unsupported",
            Some("the platform did not pass this message on".to_string()),
        ));
    } else if let Some(quick_reply) = node.get("quick_reply")? {
        contents.push(Content::Choice(Choice {
            origin: ChoiceOrigin::QuickReply,
            id: quick_reply.str("payload")?.to_string(),
            title: text.unwrap_or_default().to_string(),
        }));
        extras.extend(quick_reply.extras(&["payload"], &[]));
    } else if let Some(attachments) = node.get("attachments")? {
        let mut sticker_ids = Vec::new();
        for attachment in attachments.items()? {
            if attachment.opt_str("type")? == Some("sticker")
                && let Some(payload) = attachment.get("payload")?
                && let Some(sticker) = payload.get("sticker_id")?
            {
                sticker_ids.push(sticker.value().to_string());
            }
        }
        for attachment in attachments.items()? {
            let decoded = decode_attachment(&attachment, &sticker_ids, &mut extras)?;
            if let Some((content, mention)) = decoded {
                if mention.is_some() {
                    story = mention;
                }
                contents.push(content);
            }
        }
        if let Some(text) = text {
            match contents.first_mut() {
                Some(Content::Media(media)) if media.caption.is_none() => {
                    media.caption = Some(plain(text));
                }
                _ => contents.insert(0, Content::Text(plain(text))),
            }
        }
    } else if let Some(text_node) = text_node {
        contents.push(armor::text_content(&text_node, plain)?);
    }
    if contents.is_empty() {
        contents.push(unsupported("empty", None));
    }
    let count = contents.len();
    for (index, content) in contents.into_iter().enumerate() {
        let id = if index == 0 {
            base.id(&[mid])
        } else {
            base.id(&[mid, &index.to_string()])
        };
        let event = Event::Message(Message {
            content,
            reply_to: reply_to.clone(),
            forwarded: None,
            story: story.clone(),
            category,
        });
        let extras = if index + 1 == count {
            std::mem::take(&mut extras)
        } else {
            extras.clone()
        };
        out.push(finish(base.envelope(id, Some(mid), event, extras)));
    }
    Ok(())
}

/// One attachment: its content, and a story reference for story mentions.
/// `None` for an `image` that duplicates a `sticker` attachment (Meta sends
/// both during its sticker transition).
fn decode_attachment(
    attachment: &Node<'_, '_>,
    sticker_ids: &[String],
    extras: &mut Vec<ExtraField>,
) -> Result<Option<(Content, Option<StoryRef>)>, DecodeError> {
    let kind = attachment.str("type")?;
    // A fallback's or location's `title` and `url` may name a person or a
    // place of theirs: undeclared, so personal.
    extras.extend(attachment.extras(&["type", "payload"], &[]));
    let payload = attachment.get("payload")?;
    let url = match &payload {
        Some(payload) => payload.opt_string("url")?,
        None => None,
    };
    let sticker_id = match &payload {
        Some(payload) => payload.get("sticker_id")?.map(|id| id.value().to_string()),
        None => None,
    };
    if kind == "image"
        && let Some(id) = &sticker_id
        && sticker_ids.contains(id)
    {
        return Ok(None);
    }
    let payload_known: &[&str] = if kind == "location" {
        &["coordinates"]
    } else {
        &["url"]
    };
    if let Some(payload) = &payload {
        // A sticker's id is a catalogue id; product shares, reel ids and
        // the rest stay personal.
        extras.extend(payload.extras(payload_known, &["sticker_id"]));
    }
    let media_kind = match kind {
        "image" if sticker_id.is_some() => Some(MediaKind::Sticker),
        "image" => Some(MediaKind::Image),
        "sticker" => Some(MediaKind::Sticker),
        "video" | "ig_reel" | "reel" => Some(MediaKind::Video),
        "audio" => Some(MediaKind::Audio),
        "file" => Some(MediaKind::Document),
        _ => None,
    };
    if let (Some(media_kind), Some(url)) = (media_kind, &url) {
        return Ok(Some((
            Content::Media(Media {
                kind: media_kind,
                source: MediaSource::Url(url.clone()),
                mime_type: None,
                size_bytes: None,
                sha256: None,
                caption: None,
                filename: None,
                duration_ms: None,
                width: None,
                height: None,
            }),
            None,
        )));
    }
    if kind == "location"
        && let Some(payload) = &payload
    {
        let coordinates = payload.field("coordinates")?;
        let latitude = coordinates.field("lat")?.as_f64()?;
        let longitude = coordinates.field("long")?.as_f64()?;
        extras.extend(coordinates.extras(&["lat", "long"], &[]));
        return Ok(Some((
            Content::Location(Location {
                latitude,
                longitude,
                name: attachment.opt_string("title")?,
                address: None,
                url: attachment.opt_string("url")?,
            }),
            None,
        )));
    }
    if kind == "story_mention" {
        let story = StoryRef {
            relation: StoryRelation::Mention,
            story_id: None,
            url,
        };
        return Ok(Some((
            unsupported("story_mention", Some("mentioned you in their story".into())),
            Some(story),
        )));
    }
    let title = match &payload {
        Some(payload) => payload.opt_string("title")?,
        None => None,
    };
    let description = title.or(url).or(attachment.opt_string("title")?);
    Ok(Some((unsupported(kind, description), None)))
}

fn decode_reaction(
    base: &Base<'_>,
    node: &Node<'_, '_>,
    mut extras: Vec<ExtraField>,
) -> Result<Envelope, DecodeError> {
    let mid = node.str("mid")?;
    let action_node = node.field("action")?;
    let action = match action_node.as_str()? {
        "react" => ReactionAction::Add,
        "unreact" => ReactionAction::Remove,
        _ => return Err(action_node.invalid("one of react, unreact")),
    };
    let emoji = node.opt_string("emoji")?.unwrap_or_default();
    // `reaction` is the reaction's name (`love`, `other`).
    extras.extend(node.extras(&["mid", "action", "emoji"], &["reaction"]));
    let verb = match action {
        ReactionAction::Add => "react",
        ReactionAction::Remove => "unreact",
    };
    let id = base.id(&["reaction", base.sender, mid, verb, &base.time_id()]);
    let event = Event::Reaction(Reaction {
        target: message_ref(base.flavor, mid),
        action,
        emoji,
    });
    Ok(base.envelope(id, None, event, extras))
}

fn decode_postback(
    base: &Base<'_>,
    node: &Node<'_, '_>,
    mut extras: Vec<ExtraField>,
) -> Result<Envelope, DecodeError> {
    let mid = node.opt_str("mid")?;
    let choice = Choice {
        origin: ChoiceOrigin::Postback,
        id: node.opt_string("payload")?.unwrap_or_default(),
        title: node.opt_string("title")?.unwrap_or_default(),
    };
    // A postback's `referral` and anything else stay personal.
    extras.extend(node.extras(&["mid", "payload", "title"], &[]));
    let id = match mid {
        Some(mid) => base.id(&[mid]),
        None => base.id(&["postback", base.sender, &base.time_id()]),
    };
    let event = Event::Message(message(Content::Choice(choice), MessageCategory::Personal));
    Ok(base.envelope(id, mid, event, extras))
}

/// A `read` event: up to a `watermark`, or of one `mid` on Instagram.
fn decode_read(
    base: &Base<'_>,
    node: &Node<'_, '_>,
    mut extras: Vec<ExtraField>,
) -> Result<Envelope, DecodeError> {
    let mid = node.opt_str("mid")?;
    let watermark = node.opt_u64("watermark")?;
    extras.extend(node.extras(&["mid", "watermark"], &["seq"]));
    let receipt = Receipt {
        status: ReceiptStatus::Read,
        targets: mid
            .map(|mid| message_ref(base.flavor, mid))
            .into_iter()
            .collect(),
        watermark_ms: watermark,
        failure: None,
    };
    let target = mid.map(str::to_string).or(watermark.map(|w| w.to_string()));
    receipt_envelope(base, node, receipt, target, "watermark or mid", extras)
}

/// A `delivery` event: of its `mids`, up to its `watermark`.
fn decode_delivery(
    base: &Base<'_>,
    node: &Node<'_, '_>,
    mut extras: Vec<ExtraField>,
) -> Result<Envelope, DecodeError> {
    let watermark = node.opt_u64("watermark")?;
    let mut targets = Vec::new();
    if let Some(mids) = node.get("mids")? {
        for mid in mids.items()? {
            targets.push(message_ref(base.flavor, mid.as_str()?));
        }
    }
    extras.extend(node.extras(&["mids", "watermark"], &["seq"]));
    let target = match (watermark, targets.first()) {
        (Some(watermark), _) => Some(watermark.to_string()),
        (None, first) => first.map(|first| first.native_id.clone()),
    };
    let receipt = Receipt {
        status: ReceiptStatus::Delivered,
        targets,
        watermark_ms: watermark,
        failure: None,
    };
    receipt_envelope(base, node, receipt, target, "watermark or mids", extras)
}

/// The envelope of a receipt whose id names `target` (a message id or the
/// watermark); without a target, the event's `watermark` is reported missing.
fn receipt_envelope(
    base: &Base<'_>,
    node: &Node<'_, '_>,
    receipt: Receipt,
    target: Option<String>,
    expected: &str,
    extras: Vec<ExtraField>,
) -> Result<Envelope, DecodeError> {
    let Some(target) = target else {
        let path = json::Path::Key(node.path(), "watermark");
        return Err(DecodeError::MissingField(json::field_error(
            &path, expected, None,
        )));
    };
    let verb = match receipt.status {
        ReceiptStatus::Read => "read",
        _ => "delivered",
    };
    let id = base.id(&[verb, base.sender, &target]);
    // Meta's own delivery example has no timestamp: the watermark is the
    // best time.
    let base = Base {
        timestamp: base.timestamp.or(receipt.watermark_ms),
        ..*base
    };
    Ok(base.envelope(id, None, Event::Receipt(receipt), extras))
}

fn decode_edit(
    base: &Base<'_>,
    node: &Node<'_, '_>,
    mut extras: Vec<ExtraField>,
) -> Result<Envelope, DecodeError> {
    let mid = node.str("mid")?;
    let content = armor::text_content(&node.field("text")?, plain)?;
    let count = node.opt_u64("num_edit")?;
    extras.extend(node.extras(&["mid", "text"], &["num_edit"]));
    let count = count.map_or_else(|| base.time_id(), |count| count.to_string());
    let id = base.id(&[mid, "edit", &count]);
    let event = Event::Edit(Edit {
        target: message_ref(base.flavor, mid),
        content,
    });
    Ok(base.envelope(id, None, event, extras))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{INSTAGRAM, MESSENGER};

    fn decode_ok(flavor: &Flavor, body: &str) -> Vec<Envelope> {
        match decode(flavor, body.as_bytes()) {
            Ok(envelopes) => envelopes,
            Err(error) => unreachable!("{error:?}"),
        }
    }

    fn decode_err(flavor: &Flavor, body: &[u8]) -> DecodeError {
        match decode(flavor, body) {
            Ok(envelopes) => unreachable!("{envelopes:?}"),
            Err(error) => error,
        }
    }

    const TEXT: &str = r#"{"object":"page","entry":[{"id":"P","time":1,"messaging":[
        {"sender":{"id":"U"},"recipient":{"id":"P"},"timestamp":1458692752478,
         "message":{"mid":"m_1","text":"hi"}}]}]}"#;

    #[test]
    fn refuses_the_other_product() {
        let DecodeError::WrongPlatform(error) = decode_err(&INSTAGRAM, TEXT.as_bytes()) else {
            unreachable!()
        };
        assert_eq!(error.path, "/object");
        assert_eq!(error.expected, "instagram");
        assert_eq!(error.found.as_deref(), Some("page"));
    }

    #[test]
    fn names_wrong_and_missing_fields() {
        let body = TEXT.replace(r#""text":"hi""#, r#""text":7"#);
        let DecodeError::WrongType(error) = decode_err(&MESSENGER, body.as_bytes()) else {
            unreachable!()
        };
        assert_eq!(error.path, "/entry/0/messaging/0/message/text");
        assert_eq!(error.expected, "string");
        let body = TEXT.replace(r#""mid":"m_1","#, "");
        let DecodeError::MissingField(error) = decode_err(&MESSENGER, body.as_bytes()) else {
            unreachable!()
        };
        assert_eq!(error.path, "/entry/0/messaging/0/message/mid");
        let body = TEXT.replace(r#""sender":{"id":"U"},"#, "");
        let DecodeError::MissingField(error) = decode_err(&MESSENGER, body.as_bytes()) else {
            unreachable!()
        };
        assert_eq!(error.path, "/entry/0/messaging/0/sender");
    }

    #[test]
    fn rejects_a_bad_reaction_action() {
        let body = r#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"U"},
            "recipient":{"id":"P"},"timestamp":2,"reaction":{"mid":"m","action":"poke"}}]}]}"#;
        let DecodeError::InvalidValue(error) = decode_err(&MESSENGER, body.as_bytes()) else {
            unreachable!()
        };
        assert_eq!(error.path, "/entry/0/messaging/0/reaction/action");
        assert_eq!(error.found.as_deref(), Some("poke"));
    }

    #[test]
    fn converts_second_timestamps_and_reads_changes() {
        let body = r#"{"object":"page","entry":[{"id":"P","time":1,"changes":[{"field":"messaging_postbacks",
            "value":{"sender":{"user_ref":"R"},"recipient":{"id":"P"},"timestamp":"1527459824",
            "postback":{"mid":"m_9","title":"Go","payload":"GO"}}}]}]}"#;
        let envelopes = decode_ok(&MESSENGER, body);
        assert_eq!(envelopes.len(), 1);
        assert_eq!(envelopes[0].timestamp_ms, 1_527_459_824_000);
        assert_eq!(envelopes[0].sender.address.id, "R");
        assert_eq!(envelopes[0].id, "messenger:m_9");
        assert!(
            envelopes[0]
                .extras
                .iter()
                .any(|extra| extra.path == "/entry/0/changes/0/field")
        );
    }

    #[test]
    fn keeps_several_attachments_and_a_caption() {
        let body = r#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"U"},
            "recipient":{"id":"P"},"timestamp":5,"message":{"mid":"m_2","text":"look",
            "attachments":[{"type":"image","payload":{"url":"https://a/1.jpg"}},
                           {"type":"file","payload":{"url":"https://a/2.pdf"}}]}}]}]}"#;
        let envelopes = decode_ok(&MESSENGER, body);
        assert_eq!(envelopes.len(), 2);
        assert_eq!(envelopes[0].id, "messenger:m_2");
        assert_eq!(envelopes[1].id, "messenger:m_2:1");
        let Event::Message(first) = &envelopes[0].event else {
            unreachable!()
        };
        let Content::Media(media) = &first.content else {
            unreachable!()
        };
        assert_eq!(media.kind, MediaKind::Image);
        assert_eq!(
            media.caption.as_ref().map(|c| c.body.as_str()),
            Some("look")
        );
        let Event::Message(second) = &envelopes[1].event else {
            unreachable!()
        };
        let Content::Media(media) = &second.content else {
            unreachable!()
        };
        assert_eq!(media.kind, MediaKind::Document);
        assert_eq!(media.source, MediaSource::Url("https://a/2.pdf".into()));
    }

    #[test]
    fn standby_items_and_non_messaging_changes_are_kept() {
        let body = r#"{"object":"instagram","entry":[{"id":"IG","time":1700000000000,
            "standby":[{"sender":{"id":"U"},"recipient":{"id":"IG"},"timestamp":1700000000001,
                        "message":{"mid":"m_s","text":"hello"}}],
            "changes":[{"field":"comments","value":{"id":"C1","from":{"id":"U2","username":"u2"},
                        "text":"nice","media":{"id":"M1","media_product_type":"FEED"}}}]}]}"#;
        let envelopes = decode_ok(&INSTAGRAM, body);
        assert_eq!(envelopes.len(), 2);
        assert_eq!(envelopes[0].id, "instagram:m_s");
        assert_eq!(envelopes[1].id, "instagram:comments:C1");
        assert_eq!(envelopes[1].sender.address.id, "U2");
        assert_eq!(envelopes[1].timestamp_ms, 1_700_000_000_000);
        let Event::Message(message) = &envelopes[1].event else {
            unreachable!()
        };
        assert_eq!(message.content, unsupported("comments", None));
        assert!(
            envelopes[1]
                .extras
                .iter()
                .any(|extra| extra.path == "/entry/0/changes/0/value"
                    && extra.json.contains("nice")
                    && extra.personal)
        );
    }

    #[test]
    fn damaged_armor_is_an_invalid_value_at_the_text() {
        let body = TEXT.replace(
            r#""text":"hi""#,
            r#""text":"-----BEGIN SWITCHBOARD SEALED MESSAGE-----\n!!!\n-----END SWITCHBOARD SEALED MESSAGE-----""#,
        );
        let DecodeError::InvalidValue(error) = decode_err(&MESSENGER, body.as_bytes()) else {
            unreachable!()
        };
        assert_eq!(error.path, "/entry/0/messaging/0/message/text");
    }
}
