//! Matrix application-service transactions (`{"events":[…],
//! "ephemeral":[…]}`) to canonical envelopes.
//!
//! Each room event gives one envelope; read receipts among the ephemeral
//! data give one each. Events the model has no case for (state events,
//! custom types, unknown msgtypes) become `unsupported` envelopes with their
//! content in extras, so they are reported rather than dropped.

use crate::html;
use crate::media::parse_mxc;
use crate::{APPSERVICE_ENDPOINT, MAX_WEBHOOK_BYTES, PLATFORM, TXN_PREFIX};
use switchboard_pdk::armor;
use switchboard_pdk::json::{self, Node};
use switchboard_pdk::types::{
    Address, Content, Conversation, ConversationKind, DecodeError, Edit, Envelope, Event,
    ExtraField, FormattedText, Location, Media, MediaKind, MediaSource, Message, MessageCategory,
    MessageRef, Participant, Reaction, ReactionAction, Receipt, ReceiptStatus, UnsupportedContent,
};

/// The only formatted-body format the spec defines.
const HTML_FORMAT: &str = "org.matrix.custom.html";

/// Decodes one transaction body into canonical envelopes.
pub fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    let value = json::parse(body, MAX_WEBHOOK_BYTES)?;
    let root = Node::root(&value);
    let mut out = Vec::new();
    for event in root.field("events")?.items()? {
        out.push(decode_event(&event)?);
    }
    if let Some(ephemeral) = root.get("ephemeral")? {
        for event in ephemeral.items()? {
            decode_ephemeral(&event, &mut out)?;
        }
    }
    Ok(out)
}

/// A Matrix address (user or room id).
pub fn address(id: &str) -> Address {
    Address {
        platform: PLATFORM.to_string(),
        id: id.to_string(),
    }
}

/// A reference to a Matrix event.
pub fn event_ref(event_id: &str) -> MessageRef {
    MessageRef {
        platform: PLATFORM.to_string(),
        native_id: event_id.to_string(),
    }
}

/// A participant known by their user id.
fn participant(user: &str) -> Participant {
    Participant {
        address: address(user),
        attributes: Vec::new(),
    }
}

/// The room as a conversation: events do not say which rooms are direct.
fn room(room_id: &str) -> Conversation {
    Conversation {
        kind: ConversationKind::Group,
        id: room_id.to_string(),
    }
}

/// A message with default relations.
fn message_of(content: Content) -> Message {
    Message {
        content,
        reply_to: None,
        forwarded: None,
        story: None,
        category: MessageCategory::Personal,
    }
}

/// Unsupported content of the given native type.
fn unsupported(native_type: &str, description: Option<String>) -> Content {
    Content::Unsupported(UnsupportedContent {
        native_type: native_type.to_string(),
        description,
    })
}

/// An identifier that must start with `sigil` (`$` event, `@` user, `!`
/// room).
fn sigil_id<'v>(node: &Node<'v, '_>, sigil: char, what: &str) -> Result<&'v str, DecodeError> {
    let id = node.as_str()?;
    if id.len() < 2 || !id.starts_with(sigil) {
        return Err(node.invalid(what));
    }
    Ok(id)
}

/// Members of a room event the decoder maps itself.
const EVENT_KEYS: &[&str] = &[
    "type",
    "event_id",
    "sender",
    "room_id",
    "origin_server_ts",
    "content",
    "redacts",
];

/// Decodes one room event.
fn decode_event(event: &Node<'_, '_>) -> Result<Envelope, DecodeError> {
    let kind = event.str("type")?;
    let event_id = sigil_id(&event.field("event_id")?, '$', "an event id ($…)")?;
    let sender = sigil_id(&event.field("sender")?, '@', "a user id (@…)")?;
    let room_id = sigil_id(&event.field("room_id")?, '!', "a room id (!…)")?;
    let timestamp_ms = event.field("origin_server_ts")?.as_u64()?;
    let content = event.field("content")?;
    let mut extras = Vec::new();
    let echo = match event.get("unsigned")? {
        Some(unsigned) => {
            // `prev_content` (an earlier display name), `redacted_because`,
            // the transaction id: personal.
            extras.push(unsigned.to_personal_extra());
            unsigned
                .opt_str("transaction_id")?
                .is_some_and(|txn| txn.starts_with(TXN_PREFIX))
        }
        None => false,
    };
    let known: Vec<&str> = EVENT_KEYS.iter().copied().chain(["unsigned"]).collect();
    // A `state_key` is a user id for memberships; legacy `user_id`, `age`…
    extras.extend(event.extras(&known, &[]));
    let event = if event.has("state_key") {
        // State changes (membership, names, topics) are not messages; a
        // membership carries `displayname` and `avatar_url`.
        extras.push(content.to_personal_extra());
        Event::Message(message_of(unsupported(kind, None)))
    } else {
        match kind {
            "m.room.message" => decode_room_message(&content, &mut extras)?,
            "m.sticker" => {
                let media = decode_media(&content, MediaKind::Sticker, &mut extras)?;
                Event::Message(message_of(media))
            }
            "m.reaction" => {
                let relation = content.field("m.relates_to")?;
                let rel_type = relation.field("rel_type")?;
                if rel_type.as_str()? != "m.annotation" {
                    return Err(rel_type.invalid("m.annotation"));
                }
                extras.extend(relation.extras(&["rel_type", "event_id", "key"], &[]));
                extras.extend(content.extras(&["m.relates_to"], &[]));
                Event::Reaction(Reaction {
                    target: event_ref(sigil_id(
                        &relation.field("event_id")?,
                        '$',
                        "an event id ($…)",
                    )?),
                    action: ReactionAction::Add,
                    emoji: relation.str("key")?.to_string(),
                })
            }
            "m.room.redaction" => {
                // Room versions 1–10 put `redacts` on the event, 11 in content.
                let redacts = match content.get("redacts")? {
                    Some(redacts) => redacts,
                    None => event.field("redacts")?,
                };
                let target = sigil_id(&redacts, '$', "an event id ($…)")?;
                // The redactor's free-text `reason`, personal like the rest.
                extras.extend(content.extras(&["redacts"], &[]));
                Event::Deletion(event_ref(target))
            }
            _ => {
                extras.push(content.to_personal_extra());
                Event::Message(message_of(unsupported(kind, None)))
            }
        }
    };
    Ok(Envelope {
        id: format!("{PLATFORM}:{event_id}"),
        platform: PLATFORM.to_string(),
        native_id: Some(event_id.to_string()),
        conversation: room(room_id),
        sender: participant(sender),
        recipient: address(APPSERVICE_ENDPOINT),
        timestamp_ms,
        event,
        echo,
        extras,
    })
}

/// Decodes an `m.room.message`: an edit when it replaces another event,
/// otherwise a message, replying when it says so.
fn decode_room_message(
    content: &Node<'_, '_>,
    extras: &mut Vec<ExtraField>,
) -> Result<Event, DecodeError> {
    let relation = content.get("m.relates_to")?;
    if let Some(relation) = &relation
        && relation.opt_str("rel_type")? == Some("m.replace")
    {
        let target = sigil_id(&relation.field("event_id")?, '$', "an event id ($…)")?;
        let new_content = content.field("m.new_content")?;
        // The event's own body is the `* …` fallback for old clients.
        extras.extend(relation.extras(&["rel_type", "event_id"], &[]));
        let content = decode_content(&new_content, false, extras)?;
        return Ok(Event::Edit(Edit {
            target: event_ref(target),
            content,
        }));
    }
    let mut reply_to = None;
    if let Some(relation) = &relation {
        match relation.get("m.in_reply_to")? {
            Some(reply) => {
                reply_to = Some(event_ref(sigil_id(
                    &reply.field("event_id")?,
                    '$',
                    "an event id ($…)",
                )?));
                // A reply in a thread: the relation's type and fallback
                // flag name no one; its event id is not declared.
                extras
                    .extend(relation.extras(&["m.in_reply_to"], &["rel_type", "is_falling_back"]));
            }
            // Threads and references: kept as they are.
            None => extras.push(relation.to_personal_extra()),
        }
    }
    let mut message = message_of(decode_content(content, reply_to.is_some(), extras)?);
    message.reply_to = reply_to;
    Ok(Event::Message(message))
}

/// Members of message content the decoder maps itself.
const CONTENT_KEYS: &[&str] = &[
    "msgtype",
    "body",
    "format",
    "formatted_body",
    "url",
    "info",
    "filename",
    "geo_uri",
    "m.relates_to",
    "m.new_content",
    "m.mentions",
];

/// The content of an `m.room.message` (or its `m.new_content`).
fn decode_content(
    content: &Node<'_, '_>,
    is_reply: bool,
    extras: &mut Vec<ExtraField>,
) -> Result<Content, DecodeError> {
    let msgtype_node = content.field("msgtype")?;
    let msgtype = msgtype_node.as_str()?;
    // An encrypted attachment's `file` (with its key) and anything else
    // undeclared stay on Matrix.
    extras.extend(content.extras(CONTENT_KEYS, &[]));
    if let Some(mentions) = content.get("m.mentions")? {
        // The user ids the message mentions.
        extras.push(mentions.to_personal_extra());
    }
    Ok(match msgtype {
        "m.text" | "m.notice" | "m.emote" => {
            if msgtype != "m.text" {
                extras.push(msgtype_node.to_shared_extra());
            }
            let body = content.field("body")?;
            let formatted = formatted(content, is_reply)?;
            match armor::text_content(&body, |_| formatted.clone())? {
                Content::Text(_) => Content::Text(formatted),
                sealed => sealed,
            }
        }
        "m.image" | "m.video" | "m.audio" | "m.file" => {
            let kind = match msgtype {
                "m.image" => MediaKind::Image,
                "m.video" => MediaKind::Video,
                "m.audio" => MediaKind::Audio,
                _ => MediaKind::Document,
            };
            if content.has("url") {
                decode_media(content, kind, extras)?
            } else {
                // An encrypted attachment (`file`, kept in extras): its key
                // is not ours.
                unsupported(msgtype, Some("encrypted attachment".to_string()))
            }
        }
        "m.location" => {
            let geo = content.field("geo_uri")?;
            let (latitude, longitude) = parse_geo(geo.as_str()?)
                .ok_or_else(|| geo.invalid("a geo: URI (geo:<latitude>,<longitude>)"))?;
            if let Some(info) = content.get("info")? {
                extras.push(info.to_personal_extra());
            }
            Content::Location(Location {
                latitude,
                longitude,
                name: content.opt_string("body")?,
                address: None,
                url: None,
            })
        }
        other => {
            if let Some(info) = content.get("info")? {
                extras.push(info.to_personal_extra());
            }
            unsupported(other, content.opt_string("body")?)
        }
    })
}

/// The text of message content: the formatted body read as HTML when there
/// is one, the plain body otherwise (without the quoted reply fallback).
fn formatted(content: &Node<'_, '_>, is_reply: bool) -> Result<FormattedText, DecodeError> {
    let body = content.str("body")?;
    let format = content.opt_str("format")?;
    if let (Some(HTML_FORMAT), Some(html)) = (format, content.opt_str("formatted_body")?) {
        return Ok(html::parse(html));
    }
    let body = if is_reply {
        strip_reply_fallback(body)
    } else {
        body
    };
    Ok(FormattedText {
        body: body.to_string(),
        spans: Vec::new(),
    })
}

/// `body` without the `> `-quoted lines and blank line that older clients
/// put before a reply.
fn strip_reply_fallback(body: &str) -> &str {
    if !body.starts_with("> ") {
        return body;
    }
    let mut rest = body;
    while rest.starts_with('>') {
        rest = rest.split_once('\n').map_or("", |(_, tail)| tail);
    }
    rest.strip_prefix('\n').unwrap_or(rest)
}

/// Latitude and longitude of a `geo:` URI (RFC 5870).
fn parse_geo(uri: &str) -> Option<(f64, f64)> {
    let coordinates = uri.strip_prefix("geo:")?.split(';').next()?;
    let mut parts = coordinates.split(',');
    let latitude: f64 = parts.next()?.trim().parse().ok()?;
    let longitude: f64 = parts.next()?.trim().parse().ok()?;
    ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude))
        .then_some((latitude, longitude))
}

/// Decodes media content with an `mxc://` URL.
fn decode_media(
    content: &Node<'_, '_>,
    kind: MediaKind,
    extras: &mut Vec<ExtraField>,
) -> Result<Content, DecodeError> {
    let url_node = content.field("url")?;
    let url = url_node.as_str()?;
    if parse_mxc(url).is_none() {
        return Err(url_node.invalid("an mxc://<server>/<media id> URI"));
    }
    let mut media = Media {
        kind,
        source: MediaSource::PlatformId(url.to_string()),
        mime_type: None,
        size_bytes: None,
        sha256: None,
        caption: None,
        filename: None,
        duration_ms: None,
        width: None,
        height: None,
    };
    if let Some(info) = content.get("info")? {
        // A thumbnail's URL and size describe the media, which crosses
        // anyway; an encrypted thumbnail's `thumbnail_file` and the rest
        // are personal.
        extras.extend(info.extras(
            &["mimetype", "size", "w", "h", "duration", "is_animated"],
            &["thumbnail_url", "thumbnail_info"],
        ));
        media.mime_type = info.opt_string("mimetype")?;
        media.size_bytes = info.opt_u64("size")?;
        let small = |name: &str| -> Result<Option<u32>, DecodeError> {
            match info.get(name)? {
                Some(value) => u32::try_from(value.as_u64()?)
                    .map(Some)
                    .map_err(|_| value.invalid("a 32-bit count")),
                None => Ok(None),
            }
        };
        media.width = small("w")?;
        media.height = small("h")?;
        media.duration_ms = small("duration")?;
        if kind == MediaKind::Image && info.opt_bool("is_animated")? == Some(true) {
            media.kind = MediaKind::Animation;
        }
    }
    let body = content.opt_str("body")?;
    match content.opt_str("filename")? {
        // Since Matrix 1.10 a `filename` makes `body` a caption.
        Some(filename) => {
            media.filename = Some(filename.to_string());
            if body.is_some_and(|body| body != filename) {
                media.caption = Some(formatted(content, false)?);
            }
        }
        None => media.filename = body.map(str::to_string),
    }
    Ok(Content::Media(media))
}

/// 64-bit FNV-1a of `bytes`: a short, stable fingerprint for ids.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Decodes one ephemeral event: read receipts become receipts; presence,
/// typing and the rest are reported as unsupported.
fn decode_ephemeral(event: &Node<'_, '_>, out: &mut Vec<Envelope>) -> Result<(), DecodeError> {
    let kind = event.str("type")?;
    if kind == "m.receipt" {
        let room_id = sigil_id(&event.field("room_id")?, '!', "a room id (!…)")?;
        let content = event.field("content")?;
        let Some(receipts) = content.value().as_object() else {
            return Err(content.invalid("an object of event ids"));
        };
        for event_id in receipts.keys() {
            let by_type = content.field(event_id)?;
            let Some(readers) = by_type.get("m.read")? else {
                continue;
            };
            let Some(users) = readers.value().as_object() else {
                return Err(readers.invalid("an object of user ids"));
            };
            for user in users.keys() {
                let receipt = readers.field(user)?;
                let timestamp_ms = receipt.opt_u64("ts")?.unwrap_or(0);
                let mut extras = receipt.extras(&["ts"], &["thread_id"]);
                // Other receipt types are keyed by user ids.
                extras.extend(by_type.extras(&["m.read", "m.read.private"], &[]));
                out.push(Envelope {
                    id: format!("{PLATFORM}:receipt:{room_id}:{event_id}:{user}"),
                    platform: PLATFORM.to_string(),
                    native_id: None,
                    conversation: room(room_id),
                    sender: participant(user),
                    recipient: address(APPSERVICE_ENDPOINT),
                    timestamp_ms,
                    event: Event::Receipt(Receipt {
                        status: ReceiptStatus::Read,
                        targets: vec![event_ref(event_id)],
                        watermark_ms: None,
                        failure: None,
                    }),
                    echo: false,
                    extras,
                });
            }
        }
        return Ok(());
    }
    let room_id = event.opt_str("room_id")?;
    let sender = event.opt_str("sender")?.unwrap_or(APPSERVICE_ENDPOINT);
    out.push(Envelope {
        id: format!(
            "{PLATFORM}:ephemeral:{kind}:{:016x}",
            fnv1a(event.value().to_string().as_bytes())
        ),
        platform: PLATFORM.to_string(),
        native_id: None,
        conversation: room(room_id.unwrap_or(sender)),
        sender: participant(sender),
        recipient: address(APPSERVICE_ENDPOINT),
        timestamp_ms: 0,
        event: Event::Message(message_of(unsupported(kind, None))),
        echo: false,
        // Presence and typing name users.
        extras: vec![event.to_personal_extra()],
    });
    Ok(())
}
