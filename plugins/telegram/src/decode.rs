//! Telegram Bot API `Update` objects (one per webhook request) to canonical
//! envelopes.
//!
//! An update has an `update_id` and exactly one optional member saying what
//! happened. Messages, edits, reactions and button presses are mapped; every
//! other kind becomes one `unsupported(<kind>)` envelope with the object in
//! extras, so it is reported rather than dropped. Every member without a
//! canonical home is kept in `extras` under its JSON pointer.

use crate::entities::{self, address};
use crate::{BOT_ENDPOINT, MAX_WEBHOOK_BYTES, PLATFORM, integer};
use switchboard_pdk::armor;
use switchboard_pdk::json::{self, Node};
use switchboard_pdk::types::{
    Choice, ChoiceOrigin, ContactCard, Content, Conversation, ConversationKind, DecodeError, Edit,
    Envelope, Event, ExtraField, ForwardInfo, IdentityAttribute, LabeledValue, Location, Media,
    MediaKind, MediaSource, Message, MessageCategory, MessageRef, Participant, Reaction,
    ReactionAction, UnsupportedContent,
};

/// Decodes one webhook body into canonical envelopes.
pub fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    let value = json::parse(body, MAX_WEBHOOK_BYTES)?;
    let root = Node::root(&value);
    let update_id = integer(&root.field("update_id")?)?;
    let Some(object) = value.as_object() else {
        return Err(DecodeError::WrongType(json::field_error(
            root.path(),
            "object",
            None,
        )));
    };
    let kind = object
        .iter()
        .find(|(key, value)| key.as_str() != "update_id" && !value.is_null())
        .map(|(key, _)| key.as_str());
    let Some(kind) = kind else {
        return Err(DecodeError::MissingField(json::field_error(
            root.path(),
            "an update kind besides update_id (message, edited_message, …)",
            None,
        )));
    };
    let node = root.field(kind)?;
    let mut extras = root.extras(&["update_id", kind], &[]);
    let mut out = match kind {
        "message" | "channel_post" | "business_message" => vec![decode_message(&node)?],
        "edited_message" | "edited_channel_post" | "edited_business_message" => {
            vec![decode_edit(&node)?]
        }
        "message_reaction" => decode_reactions(&node)?,
        "callback_query" => vec![decode_callback(&node)?],
        _ => vec![other_update(update_id, kind, &node)?],
    };
    if let Some(first) = out.first_mut() {
        first.extras.append(&mut extras);
    }
    Ok(out)
}

/// Seconds since the epoch as milliseconds.
fn timestamp_ms(node: &Node<'_, '_>) -> Result<u64, DecodeError> {
    node.as_u64()?
        .checked_mul(1000)
        .ok_or_else(|| node.invalid("a Unix time in seconds"))
}

/// The sender a `User` object (`from`, `user`) describes.
fn user(node: &Node<'_, '_>) -> Result<Participant, DecodeError> {
    let id = integer(&node.field("id")?)?;
    let mut attributes = Vec::new();
    let first = node.opt_str("first_name")?;
    let last = node.opt_str("last_name")?;
    let name = [first, last]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !name.is_empty() {
        attributes.push(IdentityAttribute::DisplayName(name));
    }
    if let Some(username) = node.opt_str("username")? {
        attributes.push(IdentityAttribute::Username(format!("@{username}")));
    }
    Ok(Participant {
        address: address(id),
        attributes,
    })
}

/// A chat posting as itself (channels, anonymous group admins).
fn chat_participant(chat: &Node<'_, '_>) -> Result<Participant, DecodeError> {
    let mut attributes = Vec::new();
    if let Some(title) = chat.opt_str("title")? {
        attributes.push(IdentityAttribute::DisplayName(title.to_string()));
    }
    if let Some(username) = chat.opt_str("username")? {
        attributes.push(IdentityAttribute::Username(format!("@{username}")));
    }
    Ok(Participant {
        address: address(integer(&chat.field("id")?)?),
        attributes,
    })
}

/// The conversation a `Chat` object is, and its id.
fn conversation(chat: &Node<'_, '_>) -> Result<(Conversation, String), DecodeError> {
    let id = integer(&chat.field("id")?)?;
    let kind_node = chat.field("type")?;
    let kind = match kind_node.as_str()? {
        "private" => ConversationKind::Direct,
        "group" | "supergroup" | "channel" => ConversationKind::Group,
        _ => return Err(kind_node.invalid("one of private, group, supergroup, channel")),
    };
    Ok((
        Conversation {
            kind,
            id: id.clone(),
        },
        id,
    ))
}

/// A reference to message `message_id` of chat `chat`.
pub fn message_ref(chat: &str, message_id: &str) -> MessageRef {
    MessageRef {
        platform: PLATFORM.to_string(),
        native_id: format!("{chat}:{message_id}"),
    }
}

/// The sender of a message: `from`, or `sender_chat` when a chat posts.
fn sender(message: &Node<'_, '_>, chat: &Node<'_, '_>) -> Result<Participant, DecodeError> {
    if let Some(sender_chat) = message.get("sender_chat")? {
        return chat_participant(&sender_chat);
    }
    match message.get("from")? {
        Some(from) => user(&from),
        // Channel posts may carry neither: the channel speaks.
        None => chat_participant(chat),
    }
}

/// A message event with default relations.
fn message_event(content: Content) -> Message {
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

/// Members of a `Message` that the decoder maps itself, besides content.
const MESSAGE_KEYS: &[&str] = &[
    "message_id",
    "from",
    "sender_chat",
    "chat",
    "date",
    "edit_date",
    "reply_to_message",
    "forward_origin",
    "entities",
    "caption",
    "caption_entities",
];

/// The members that carry a message's content, in the order they are looked
/// for (an animation also has a `document`, so it comes first).
const CONTENT_KEYS: &[&str] = &[
    "text",
    "animation",
    "photo",
    "video",
    "voice",
    "audio",
    "document",
    "sticker",
    "venue",
    "location",
    "contact",
];

/// The envelope frame shared by messages and edits.
struct Frame {
    chat_id: String,
    message_id: String,
    conversation: Conversation,
    sender: Participant,
}

/// Reads the ids, chat and sender of a `Message`.
fn frame(message: &Node<'_, '_>) -> Result<Frame, DecodeError> {
    let chat = message.field("chat")?;
    let (conversation, chat_id) = conversation(&chat)?;
    Ok(Frame {
        message_id: integer(&message.field("message_id")?)?,
        sender: sender(message, &chat)?,
        conversation,
        chat_id,
    })
}

/// Decodes a `message` or `channel_post`.
fn decode_message(message: &Node<'_, '_>) -> Result<Envelope, DecodeError> {
    let frame = frame(message)?;
    let mut extras = Vec::new();
    let (content, key) = decode_content(message, &mut extras)?;
    let mut inner = message_event(content);
    if let Some(reply) = message.get("reply_to_message")? {
        let chat_id = match reply.get("chat")? {
            Some(chat) => integer(&chat.field("id")?)?,
            None => frame.chat_id.clone(),
        };
        inner.reply_to = Some(message_ref(
            &chat_id,
            &integer(&reply.field("message_id")?)?,
        ));
        // The quoted message names its author and chat.
        extras.push(reply.to_personal_extra());
    }
    if let Some(origin) = message.get("forward_origin")? {
        inner.forwarded = Some(ForwardInfo {
            frequently_forwarded: false,
        });
        // Who wrote the forwarded message: a user, a name, a chat.
        extras.push(origin.to_personal_extra());
    }
    let known: Vec<&str> = MESSAGE_KEYS.iter().copied().chain(key).collect();
    extras.extend(message.extras(&known, SHARED_MESSAGE_KEYS));
    Ok(Envelope {
        id: format!("{PLATFORM}:{}:{}", frame.chat_id, frame.message_id),
        platform: PLATFORM.to_string(),
        native_id: Some(format!("{}:{}", frame.chat_id, frame.message_id)),
        conversation: frame.conversation,
        sender: frame.sender,
        recipient: address(BOT_ENDPOINT),
        timestamp_ms: timestamp_ms(&message.field("date")?)?,
        event: Event::Message(inner),
        echo: false,
        extras,
    })
}

/// Decodes an `edited_message` or `edited_channel_post`: the new content of
/// the message with the same chat and message id.
fn decode_edit(message: &Node<'_, '_>) -> Result<Envelope, DecodeError> {
    let frame = frame(message)?;
    let mut extras = Vec::new();
    let (content, key) = decode_content(message, &mut extras)?;
    let edit_date = message.field("edit_date")?;
    let edited_ms = timestamp_ms(&edit_date)?;
    let known: Vec<&str> = MESSAGE_KEYS.iter().copied().chain(key).collect();
    extras.extend(message.extras(&known, SHARED_MESSAGE_KEYS));
    for key in ["reply_to_message", "forward_origin"] {
        if let Some(node) = message.get(key)? {
            extras.push(node.to_personal_extra());
        }
    }
    Ok(Envelope {
        id: format!(
            "{PLATFORM}:{}:{}:edit:{}",
            frame.chat_id,
            frame.message_id,
            edit_date.as_u64()?
        ),
        platform: PLATFORM.to_string(),
        native_id: Some(format!("{}:{}", frame.chat_id, frame.message_id)),
        conversation: frame.conversation,
        sender: frame.sender,
        recipient: address(BOT_ENDPOINT),
        timestamp_ms: edited_ms,
        event: Event::Edit(Edit {
            target: message_ref(&frame.chat_id, &frame.message_id),
            content,
        }),
        echo: false,
        extras,
    })
}

/// The content of a message and the member it was read from (`None` when
/// the message has no content member the model maps).
fn decode_content(
    message: &Node<'_, '_>,
    extras: &mut Vec<ExtraField>,
) -> Result<(Content, Option<&'static str>), DecodeError> {
    let Some(key) = CONTENT_KEYS.iter().copied().find(|key| message.has(key)) else {
        // A poll, dice, game, service message (`new_chat_members`, …):
        // named by its first member the decoder does not know.
        let native = message
            .value()
            .as_object()
            .and_then(|object| {
                object.keys().find(|key| {
                    !MESSAGE_KEYS.contains(&key.as_str()) && !FRAME_KEYS.contains(&key.as_str())
                })
            })
            .map_or("empty", String::as_str)
            .to_string();
        return Ok((unsupported(&native, None), None));
    };
    let node = message.field(key)?;
    let content = match key {
        "text" => {
            let text = node.as_str()?;
            let formatted = entities::parse(text, message.get("entities")?.as_ref(), extras)?;
            match armor::text_content(&node, |_| formatted.clone())? {
                Content::Text(_) => Content::Text(formatted),
                sealed => sealed,
            }
        }
        "venue" => {
            let location = node.field("location")?;
            // Place ids, and the accuracy, heading and live period of
            // someone's position: personal, like anything undeclared.
            extras.extend(node.extras(&["location", "title", "address"], &[]));
            extras.extend(location.extras(&["latitude", "longitude"], &[]));
            Content::Location(Location {
                latitude: location.field("latitude")?.as_f64()?,
                longitude: location.field("longitude")?.as_f64()?,
                name: node.opt_string("title")?,
                address: node.opt_string("address")?,
                url: None,
            })
        }
        "location" => {
            extras.extend(node.extras(&["latitude", "longitude"], &[]));
            Content::Location(Location {
                latitude: node.field("latitude")?.as_f64()?,
                longitude: node.field("longitude")?.as_f64()?,
                name: None,
                address: None,
                url: None,
            })
        }
        "contact" => {
            // The contact's Telegram `user_id` and `vcard`.
            extras.extend(node.personal_extras(&["phone_number", "first_name", "last_name"]));
            let first = node.str("first_name")?.to_string();
            let last = node.opt_string("last_name")?;
            let formatted_name = match &last {
                Some(last) => format!("{first} {last}"),
                None => first.clone(),
            };
            Content::Contacts(vec![ContactCard {
                formatted_name,
                first_name: Some(first),
                last_name: last,
                organization: None,
                phones: vec![LabeledValue {
                    label: None,
                    value: node.str("phone_number")?.to_string(),
                }],
                emails: Vec::new(),
                urls: Vec::new(),
                birthday: None,
            }])
        }
        _ => Content::Media(decode_media(message, key, &node, extras)?),
    };
    // An animation's `document` (the same file again, for clients that
    // predate animations) is not a content key, so the message's own extras
    // keep it, once.
    Ok((content, Some(key)))
}

/// Members of a message that frame it rather than carry content.
const FRAME_KEYS: &[&str] = &[
    "message_thread_id",
    "is_topic_message",
    "is_automatic_forward",
    "via_bot",
    "has_protected_content",
    "media_group_id",
    "author_signature",
    "link_preview_options",
    "reply_markup",
    "quote",
    "external_reply",
    "show_caption_above_media",
    "has_media_spoiler",
    "effect_id",
    "sender_boost_count",
    "business_connection_id",
    "sender_business_bot",
];

/// Members of a message that identify no one, so they may cross to other
/// apps as extras. Every other member without a canonical home is personal:
/// `via_bot`, `author_signature`, `quote`, `external_reply`,
/// `reply_markup`, `sender_boost_count`, the business connection, service
/// messages (`new_chat_members`, `successful_payment`…), polls, and anything
/// the Bot API adds later.
const SHARED_MESSAGE_KEYS: &[&str] = &[
    "message_thread_id",
    "is_topic_message",
    "is_automatic_forward",
    "has_protected_content",
    "media_group_id",
    "link_preview_options",
    "show_caption_above_media",
    "has_media_spoiler",
    "effect_id",
    "dice",
];

/// Members of a file object (`Video`, `Sticker`, …) that identify no one;
/// the others (an audio's `performer`, say) are personal.
const SHARED_FILE_KEYS: &[&str] = &[
    "file_unique_id",
    "thumbnail",
    "emoji",
    "set_name",
    "type",
    "is_animated",
    "is_video",
    "needs_repainting",
];

/// Decodes photo (its largest size), video, voice, audio, document, sticker
/// or animation.
fn decode_media(
    message: &Node<'_, '_>,
    key: &str,
    node: &Node<'_, '_>,
    extras: &mut Vec<ExtraField>,
) -> Result<Media, DecodeError> {
    let kind = match key {
        "photo" => MediaKind::Image,
        "video" => MediaKind::Video,
        "voice" => MediaKind::Voice,
        "audio" => MediaKind::Audio,
        "document" => MediaKind::Document,
        "sticker" => MediaKind::Sticker,
        _ => MediaKind::Animation,
    };
    // A photo is a list of sizes; the last is the largest, but pick by area
    // so that an unordered list still gives the largest.
    let file = if key == "photo" {
        let mut best: Option<(u64, Node<'_, '_>)> = None;
        for size in node.items()? {
            let area = size
                .opt_u64("width")?
                .unwrap_or(0)
                .saturating_mul(size.opt_u64("height")?.unwrap_or(0));
            if best.as_ref().is_none_or(|(largest, _)| area >= *largest) {
                best = Some((area, size));
            }
        }
        match best {
            Some((_, size)) => size,
            None => return Err(node.invalid("at least one photo size")),
        }
    } else {
        *node
    };
    let known = [
        "file_id",
        "file_size",
        "mime_type",
        "file_name",
        "duration",
        "width",
        "height",
    ];
    if key == "photo" {
        // The sizes of the photo: file ids and dimensions.
        extras.push(node.to_shared_extra());
    } else {
        extras.extend(file.extras(&known, SHARED_FILE_KEYS));
    }
    let caption = match message.opt_str("caption")? {
        Some(caption) => Some(entities::parse(
            caption,
            message.get("caption_entities")?.as_ref(),
            extras,
        )?),
        None => None,
    };
    let small = |name: &str| -> Result<Option<u32>, DecodeError> {
        match file.get(name)? {
            Some(value) => u32::try_from(value.as_u64()?)
                .map(Some)
                .map_err(|_| value.invalid("a 32-bit count")),
            None => Ok(None),
        }
    };
    let duration_ms = match file.get("duration")? {
        Some(seconds) => Some(
            u32::try_from(seconds.as_u64()?.saturating_mul(1000))
                .map_err(|_| seconds.invalid("a duration in seconds under 49 days"))?,
        ),
        None => None,
    };
    Ok(Media {
        kind,
        source: MediaSource::PlatformId(file.str("file_id")?.to_string()),
        mime_type: file.opt_string("mime_type")?,
        size_bytes: file.opt_u64("file_size")?,
        sha256: None,
        caption,
        filename: file.opt_string("file_name")?,
        duration_ms,
        width: small("width")?,
        height: small("height")?,
    })
}

/// The emoji (or other reaction) a `ReactionType` stands for, and whether it
/// has a canonical form (custom and paid reactions have none).
fn reaction_key(reaction: &Node<'_, '_>) -> Result<(String, bool), DecodeError> {
    let kind = reaction.str("type")?;
    Ok(match kind {
        "emoji" => (reaction.str("emoji")?.to_string(), true),
        "custom_emoji" => (
            format!("custom:{}", reaction.str("custom_emoji_id")?),
            false,
        ),
        other => (other.to_string(), false),
    })
}

/// Decodes a `message_reaction` update: one envelope per emoji added or
/// removed. Custom-emoji and paid reactions have no canonical form and stay
/// in extras.
fn decode_reactions(update: &Node<'_, '_>) -> Result<Vec<Envelope>, DecodeError> {
    let chat = update.field("chat")?;
    let (conversation, chat_id) = conversation(&chat)?;
    let message_id = integer(&update.field("message_id")?)?;
    let sender = match update.get("user")? {
        Some(user_node) => user(&user_node)?,
        None => chat_participant(&update.field("actor_chat")?)?,
    };
    let date = update.field("date")?;
    let timestamp_ms = timestamp_ms(&date)?;
    let mut lists: [Vec<(String, bool)>; 2] = [Vec::new(), Vec::new()];
    let mut extras = update.extras(
        &[
            "chat",
            "message_id",
            "user",
            "actor_chat",
            "date",
            "old_reaction",
            "new_reaction",
        ],
        &[],
    );
    for (index, key) in ["old_reaction", "new_reaction"].into_iter().enumerate() {
        let list = update.field(key)?;
        for reaction in list.items()? {
            let entry = reaction_key(&reaction)?;
            if !entry.1 {
                // `{type: custom_emoji, custom_emoji_id}` or `{type: paid}`.
                extras.push(reaction.to_shared_extra());
            }
            lists[index].push(entry);
        }
    }
    let [old, new] = lists;
    let mut out = Vec::new();
    let changes = new
        .iter()
        .filter(|entry| entry.1 && !old.contains(entry))
        .map(|(emoji, _)| (ReactionAction::Add, emoji))
        .chain(
            old.iter()
                .filter(|entry| entry.1 && !new.contains(entry))
                .map(|(emoji, _)| (ReactionAction::Remove, emoji)),
        );
    for (action, emoji) in changes {
        let verb = match action {
            ReactionAction::Add => "add",
            ReactionAction::Remove => "remove",
        };
        out.push(Envelope {
            id: format!(
                "{PLATFORM}:reaction:{chat_id}:{message_id}:{}:{}:{verb}:{emoji}",
                sender.address.id,
                date.as_u64()?
            ),
            platform: PLATFORM.to_string(),
            native_id: None,
            conversation: conversation.clone(),
            sender: sender.clone(),
            recipient: address(BOT_ENDPOINT),
            timestamp_ms,
            event: Event::Reaction(Reaction {
                target: message_ref(&chat_id, &message_id),
                action,
                emoji: emoji.clone(),
            }),
            echo: false,
            extras: Vec::new(),
        });
    }
    if out.is_empty() {
        // Only custom or paid reactions changed: reported, not dropped.
        out.push(Envelope {
            id: format!(
                "{PLATFORM}:reaction:{chat_id}:{message_id}:{}:{}",
                sender.address.id,
                date.as_u64()?
            ),
            platform: PLATFORM.to_string(),
            native_id: None,
            conversation,
            sender,
            recipient: address(BOT_ENDPOINT),
            timestamp_ms,
            event: Event::Message(message_event(unsupported("message_reaction", None))),
            echo: false,
            // The update names the reacting user and the chat.
            extras: vec![update.to_personal_extra()],
        });
    } else if let Some(first) = out.first_mut() {
        first.extras = extras;
    }
    Ok(out)
}

/// Decodes a `callback_query`: the press of an inline button, as a choice
/// replying to the message that carried the keyboard. The title is the
/// pressed button's text when the keyboard is in the update.
fn decode_callback(query: &Node<'_, '_>) -> Result<Envelope, DecodeError> {
    let id = query.str("id")?;
    let sender = user(&query.field("from")?)?;
    let data = query.opt_str("data")?;
    // `chat_instance` identifies the chat, `inline_message_id` a message
    // of the person's: personal; a game's short name is the bot's.
    let mut extras = query.extras(&["id", "from", "data", "message"], &["game_short_name"]);
    let mut title = None;
    let mut conversation_and_ref = None;
    let mut timestamp = 0;
    if let Some(message) = query.get("message")? {
        let frame = frame(&message)?;
        // An inaccessible message has `date` 0.
        timestamp = timestamp_ms(&message.field("date")?)?;
        conversation_and_ref = Some((
            frame.conversation,
            message_ref(&frame.chat_id, &frame.message_id),
        ));
        if let (Some(data), Some(markup)) = (data, message.get("reply_markup")?) {
            for row in markup.field("inline_keyboard")?.items()? {
                for button in row.items()? {
                    if button.opt_str("callback_data")? == Some(data) {
                        title = button.opt_string("text")?;
                    }
                }
            }
        }
        extras.push(message.to_personal_extra());
    }
    let (conversation, reply_to) = match conversation_and_ref {
        Some((conversation, reference)) => (conversation, Some(reference)),
        None => (
            Conversation {
                kind: ConversationKind::Direct,
                id: sender.address.id.clone(),
            },
            None,
        ),
    };
    let content = match data {
        Some(data) => Content::Choice(Choice {
            origin: ChoiceOrigin::Button,
            id: data.to_string(),
            title: title.unwrap_or_else(|| data.to_string()),
        }),
        // A game button: no data to choose with.
        None => unsupported("callback_query", query.opt_string("game_short_name")?),
    };
    let mut message = message_event(content);
    message.reply_to = reply_to;
    Ok(Envelope {
        id: format!("{PLATFORM}:callback:{id}"),
        platform: PLATFORM.to_string(),
        native_id: Some(id.to_string()),
        conversation,
        sender,
        recipient: address(BOT_ENDPOINT),
        timestamp_ms: timestamp,
        event: Event::Message(message),
        echo: false,
        extras,
    })
}

/// An update kind the model has no event for, reported as unsupported from
/// the user or chat it names.
fn other_update(
    update_id: String,
    kind: &str,
    node: &Node<'_, '_>,
) -> Result<Envelope, DecodeError> {
    let mut sender = None;
    let mut chat = None;
    if node.value().is_object() {
        for key in ["from", "user"] {
            if let Some(from) = node.get(key)?
                && sender.is_none()
            {
                sender = Some(user(&from)?);
            }
        }
        if let Some(chat_node) = node.get("chat")? {
            chat = Some(conversation(&chat_node)?.0);
            if sender.is_none() {
                sender = Some(chat_participant(&chat_node)?);
            }
        }
    }
    let sender = sender.unwrap_or_else(|| Participant {
        address: address(BOT_ENDPOINT),
        attributes: Vec::new(),
    });
    let conversation = chat.unwrap_or_else(|| Conversation {
        kind: ConversationKind::Direct,
        id: sender.address.id.clone(),
    });
    let timestamp_ms = match node.value().get("date").filter(|date| !date.is_null()) {
        Some(_) => timestamp_ms(&node.field("date")?)?,
        None => 0,
    };
    Ok(Envelope {
        id: format!("{PLATFORM}:update:{update_id}"),
        platform: PLATFORM.to_string(),
        native_id: Some(update_id),
        conversation,
        sender,
        recipient: address(BOT_ENDPOINT),
        timestamp_ms,
        event: Event::Message(message_event(unsupported(kind, None))),
        echo: false,
        // Member changes, poll answers, payments…: they name people.
        extras: vec![node.to_personal_extra()],
    })
}
