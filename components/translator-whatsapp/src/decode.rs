//! WhatsApp Cloud API webhook notifications (`"object":
//! "whatsapp_business_account"`) to canonical envelopes.
//!
//! One webhook carries `entry[].changes[]`; a `messages` change carries
//! `value.messages[]` (one envelope each), `value.statuses[]` (one receipt
//! envelope each) and `value.errors[]` (one `unsupported` envelope each).
//! Changes of other fields (template, account and quality updates) are not
//! conversation events: each becomes one `unsupported(<field>)` envelope with
//! the change's value in extras, so it is reported rather than dropped.
//! Every member that has no canonical home is kept in `extras` under its JSON
//! pointer in the webhook.

use crate::markup;
use crate::{MAX_WEBHOOK_BYTES, PLATFORM};
use switchboard_pdk::armor;
use switchboard_pdk::json::{self, Node};
use switchboard_pdk::types::{
    Address, ChoiceOrigin, ContactCard, Content, Conversation, ConversationKind, DecodeError,
    DeliveryFailure, Edit, Envelope, Event, ExtraField, IdentityAttribute, LabeledValue, Location,
    Media, MediaKind, MediaSource, Message, MessageCategory, MessageRef, Participant, Reaction,
    ReactionAction, Receipt, ReceiptStatus, UnsupportedContent,
};
use switchboard_pdk::types::{Choice, ForwardInfo};

/// The `object` value of WhatsApp Business Account webhooks.
const OBJECT: &str = "whatsapp_business_account";

/// Decodes one webhook body into canonical envelopes.
pub fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    let value = json::parse(body, MAX_WEBHOOK_BYTES)?;
    let root = Node::root(&value);
    let object = root.field("object")?;
    if object.as_str()? != OBJECT {
        return Err(DecodeError::WrongPlatform(json::field_error(
            object.path(),
            OBJECT,
            Some(object.as_str()?.to_string()),
        )));
    }
    let mut out = Vec::new();
    let entries = root.field("entry")?;
    for entry in entries.items()? {
        let account_node = entry.field("id")?;
        let account = account_node.as_str()?;
        let time_ms = entry
            .opt_u64("time")?
            .map(|seconds| seconds.saturating_mul(1000));
        let changes = entry.field("changes")?;
        for (index, change) in changes.items()?.enumerate() {
            let field = change.str("field")?;
            let value = change.field("value")?;
            if field == "messages" {
                // The business account id has no canonical home; an
                // account's id is personal.
                let account_extra = account_node.to_personal_extra();
                decode_messages_value(&value, account, account_extra, &mut out)?;
            } else {
                out.push(other_change(account, field, index, time_ms, &value));
            }
        }
    }
    Ok(out)
}

/// A change of a field other than `messages`, reported as unsupported.
fn other_change(
    account: &str,
    field: &str,
    index: usize,
    time_ms: Option<u64>,
    value: &Node<'_, '_>,
) -> Envelope {
    Envelope {
        id: format!("{PLATFORM}:change:{account}:{field}:{index}"),
        platform: PLATFORM.to_string(),
        native_id: None,
        conversation: direct(account),
        sender: anonymous(account),
        recipient: address(account),
        timestamp_ms: time_ms.unwrap_or(0),
        event: message_event(unsupported(field, None)),
        echo: false,
        // Account, template and quality updates name numbers and accounts.
        extras: vec![value.to_personal_extra()],
    }
}

/// Decodes the `value` of a `messages` change.
fn decode_messages_value(
    value: &Node<'_, '_>,
    account: &str,
    account_extra: ExtraField,
    out: &mut Vec<Envelope>,
) -> Result<(), DecodeError> {
    let metadata = value.field("metadata")?;
    let business = metadata.str("phone_number_id")?;
    let mut shared = vec![account_extra];
    // `display_phone_number` is the business's phone number.
    shared.extend(metadata.personal_extras(&["phone_number_id"]));
    shared.extend(value.extras(
        &[
            "messaging_product",
            "metadata",
            "contacts",
            "messages",
            "statuses",
            "errors",
        ],
        &[],
    ));
    let contacts = value.get("contacts")?;
    let mut profiles: Vec<(&str, Option<&str>)> = Vec::new();
    if let Some(contacts) = &contacts {
        for contact in contacts.items()? {
            let name = match contact.get("profile")? {
                Some(profile) => {
                    shared.extend(profile.personal_extras(&["name"]));
                    profile.opt_str("name")?
                }
                None => None,
            };
            // `user_id` (the business-scoped user id), `identity_key_hash`…
            shared.extend(contact.personal_extras(&["profile", "wa_id"]));
            profiles.push((contact.opt_str("wa_id")?.unwrap_or(""), name));
        }
    }
    let first = out.len();
    if let Some(messages) = value.get("messages")? {
        for message in messages.items()? {
            out.push(decode_message(&message, business, &profiles)?);
        }
    }
    if let Some(statuses) = value.get("statuses")? {
        for status in statuses.items()? {
            out.push(decode_status(&status, business)?);
        }
    }
    if let Some(errors) = value.get("errors")? {
        for (index, error) in errors.items()?.enumerate() {
            out.push(system_error(&error, account, business, index)?);
        }
    }
    // What the value says besides its events belongs to each of them.
    for envelope in &mut out[first..] {
        envelope.extras.extend(shared.iter().cloned());
    }
    Ok(())
}

/// A WhatsApp address.
fn address(id: &str) -> Address {
    Address {
        platform: PLATFORM.to_string(),
        id: id.to_string(),
    }
}

/// A participant known only by their WhatsApp id.
fn anonymous(id: &str) -> Participant {
    Participant {
        address: address(id),
        attributes: Vec::new(),
    }
}

/// The direct conversation with `id`.
fn direct(id: &str) -> Conversation {
    Conversation {
        kind: ConversationKind::Direct,
        id: id.to_string(),
    }
}

/// A reference to a WhatsApp message.
fn message_ref(wamid: &str) -> MessageRef {
    MessageRef {
        platform: PLATFORM.to_string(),
        native_id: wamid.to_string(),
    }
}

/// A message event with default relations.
fn message_event(content: Content) -> Event {
    Event::Message(Message {
        content,
        reply_to: None,
        forwarded: None,
        story: None,
        category: MessageCategory::Personal,
    })
}

/// Unsupported content of the given native type.
fn unsupported(native_type: &str, description: Option<String>) -> Content {
    Content::Unsupported(UnsupportedContent {
        native_type: native_type.to_string(),
        description,
    })
}

/// A seconds timestamp (string or number) as milliseconds.
fn timestamp_ms(node: &Node<'_, '_>) -> Result<u64, DecodeError> {
    let field = node.field("timestamp")?;
    field
        .as_u64()?
        .checked_mul(1000)
        .ok_or_else(|| field.invalid("a Unix time in seconds"))
}

/// The sender of an inbound message with what the webhook says about them.
fn participant(wa_id: &str, profiles: &[(&str, Option<&str>)]) -> Participant {
    let mut attributes = Vec::new();
    let name = profiles
        .iter()
        .find(|(id, _)| *id == wa_id)
        .or_else(|| profiles.first().filter(|_| profiles.len() == 1))
        .and_then(|(_, name)| *name);
    if let Some(name) = name {
        attributes.push(IdentityAttribute::DisplayName(name.to_string()));
    }
    if !wa_id.is_empty() && wa_id.bytes().all(|byte| byte.is_ascii_digit()) {
        attributes.push(IdentityAttribute::PhoneNumber(format!("+{wa_id}")));
    }
    Participant {
        address: address(wa_id),
        attributes,
    }
}

/// Members of a message object that `decode_message` maps itself; the
/// content member (named by `type`) is added per message.
const MESSAGE_KEYS: &[&str] = &["from", "id", "timestamp", "type", "context", "group_id"];

/// Decodes one element of `value.messages`.
fn decode_message(
    message: &Node<'_, '_>,
    business: &str,
    profiles: &[(&str, Option<&str>)],
) -> Result<Envelope, DecodeError> {
    let from = message.str("from")?;
    let wamid = message.str("id")?;
    let timestamp_ms = timestamp_ms(message)?;
    let kind = message.str("type")?;
    let mut extras = Vec::new();
    let event = decode_event(message, kind, &mut extras)?;
    let event = match event {
        Event::Message(mut inner) => {
            if let Some(context) = message.get("context")? {
                inner.reply_to = context.opt_str("id")?.map(message_ref);
                let forwarded = context.opt_bool("forwarded")?.unwrap_or(false);
                let frequently = context.opt_bool("frequently_forwarded")?.unwrap_or(false);
                if forwarded || frequently {
                    inner.forwarded = Some(ForwardInfo {
                        frequently_forwarded: frequently,
                    });
                }
                // `from` is the quoted message's author; a referred product
                // is the business's catalogue item.
                extras.extend(context.extras(
                    &["id", "forwarded", "frequently_forwarded"],
                    &["referred_product"],
                ));
            }
            Event::Message(inner)
        }
        other => {
            if let Some(context) = message.get("context")? {
                extras.push(context.to_personal_extra());
            }
            other
        }
    };
    let known: Vec<&str> = MESSAGE_KEYS
        .iter()
        .copied()
        .chain(content_key(kind))
        .collect();
    // An order (catalogue items) and the errors of an unsupported message
    // name no one; `referral` (an ad click id), `system` (number changes),
    // `identity` (key changes) and anything newer are personal.
    extras.extend(message.extras(&known, &["order", "errors"]));
    let conversation = match message.opt_str("group_id")? {
        Some(group) => Conversation {
            kind: ConversationKind::Group,
            id: group.to_string(),
        },
        None => direct(from),
    };
    Ok(Envelope {
        id: format!("{PLATFORM}:{wamid}"),
        platform: PLATFORM.to_string(),
        native_id: Some(wamid.to_string()),
        conversation,
        sender: participant(from, profiles),
        recipient: address(business),
        timestamp_ms,
        event,
        echo: false,
        extras,
    })
}

/// The member a message type keeps its content in, when it is mapped (the
/// members of unmapped types such as `order` and `system` stay in extras).
fn content_key(kind: &str) -> Option<&str> {
    match kind {
        "text" | "image" | "video" | "audio" | "document" | "sticker" | "location" | "contacts"
        | "interactive" | "button" | "reaction" | "edit" | "revoke" => Some(kind),
        _ => None,
    }
}

/// The event a message of type `kind` describes.
fn decode_event(
    message: &Node<'_, '_>,
    kind: &str,
    extras: &mut Vec<ExtraField>,
) -> Result<Event, DecodeError> {
    Ok(match kind {
        "reaction" => {
            let reaction = message.field("reaction")?;
            extras.extend(reaction.extras(&["message_id", "emoji"], &[]));
            let emoji = reaction.opt_str("emoji")?.unwrap_or("");
            Event::Reaction(Reaction {
                target: message_ref(reaction.str("message_id")?),
                action: if emoji.is_empty() {
                    ReactionAction::Remove
                } else {
                    ReactionAction::Add
                },
                emoji: emoji.to_string(),
            })
        }
        "edit" => {
            let edit = message.field("edit")?;
            extras.extend(edit.extras(&["original_message_id", "message"], &[]));
            let target = edit.str("original_message_id")?;
            let inner = edit.field("message")?;
            let inner_kind = inner.str("type")?;
            let known: Vec<&str> = ["type"]
                .into_iter()
                .chain(content_key(inner_kind))
                .collect();
            extras.extend(inner.extras(&known, &[]));
            let content = match decode_content(&inner, inner_kind, extras)? {
                Some(content) => content,
                None => unsupported(inner_kind, None),
            };
            Event::Edit(Edit {
                target: message_ref(target),
                content,
            })
        }
        "revoke" => {
            let revoke = message.field("revoke")?;
            extras.extend(revoke.extras(&["original_message_id"], &[]));
            Event::Deletion(message_ref(revoke.str("original_message_id")?))
        }
        _ => match decode_content(message, kind, extras)? {
            Some(content) => message_event(content),
            None => message_event(unsupported_message(message, kind)?),
        },
    })
}

/// Unsupported content for an unmapped message type, described by the first
/// error's title (`unsupported`, `unknown`) or the system message's body.
fn unsupported_message(message: &Node<'_, '_>, kind: &str) -> Result<Content, DecodeError> {
    let mut description = None;
    if let Some(errors) = message.get("errors")?
        && let Some(first) = errors.items()?.next()
    {
        description = first.opt_string("title")?;
    }
    if description.is_none()
        && let Some(system) = message.get("system")?
    {
        description = system.opt_string("body")?;
    }
    Ok(unsupported(kind, description))
}

/// The content of a message of type `kind`, or `None` when the type has no
/// canonical content.
fn decode_content(
    message: &Node<'_, '_>,
    kind: &str,
    extras: &mut Vec<ExtraField>,
) -> Result<Option<Content>, DecodeError> {
    Ok(Some(match kind {
        "text" => {
            let text = message.field("text")?;
            extras.extend(text.extras(&["body"], &[]));
            armor::text_content(&text.field("body")?, markup::parse)?
        }
        "image" | "video" | "audio" | "document" | "sticker" => {
            Content::Media(decode_media(message, kind, extras)?)
        }
        "location" => {
            let location = message.field("location")?;
            // A person's whereabouts: whatever else it says is personal.
            extras
                .extend(location.extras(&["latitude", "longitude", "name", "address", "url"], &[]));
            Content::Location(Location {
                latitude: location.field("latitude")?.as_f64()?,
                longitude: location.field("longitude")?.as_f64()?,
                name: location.opt_string("name")?,
                address: location.opt_string("address")?,
                url: location.opt_string("url")?,
            })
        }
        "contacts" => {
            let contacts = message.field("contacts")?;
            let mut cards = Vec::new();
            for contact in contacts.items()? {
                cards.push(decode_contact(&contact, extras)?);
            }
            Content::Contacts(cards)
        }
        "interactive" => {
            let interactive = message.field("interactive")?;
            let reply_kind = interactive.str("type")?;
            match reply_kind {
                "button_reply" | "list_reply" => {
                    let reply = interactive.field(reply_kind)?;
                    extras.extend(interactive.extras(&["type", reply_kind], &[]));
                    // A list row's description is the business's text.
                    extras.extend(reply.extras(&["id", "title"], &["description"]));
                    Content::Choice(Choice {
                        origin: if reply_kind == "button_reply" {
                            ChoiceOrigin::Button
                        } else {
                            ChoiceOrigin::ListRow
                        },
                        id: reply.str("id")?.to_string(),
                        title: reply.str("title")?.to_string(),
                    })
                }
                other => {
                    // `nfm_reply` (a Flow's answer) and future reply types:
                    // reported with their whole object in extras, personal
                    // since a Flow asks for names, e-mails, addresses….
                    extras.extend(interactive.extras(&["type"], &[]));
                    let description = match interactive.get(other)? {
                        Some(reply) => reply.opt_string("body")?,
                        None => None,
                    };
                    unsupported(other, description)
                }
            }
        }
        "button" => {
            let button = message.field("button")?;
            extras.extend(button.extras(&["payload", "text"], &[]));
            Content::Choice(Choice {
                origin: ChoiceOrigin::Postback,
                id: button.str("payload")?.to_string(),
                title: button.str("text")?.to_string(),
            })
        }
        _ => return Ok(None),
    }))
}

/// Decodes an image, video, audio (voice note when `voice` is true),
/// document or sticker.
fn decode_media(
    message: &Node<'_, '_>,
    kind: &str,
    extras: &mut Vec<ExtraField>,
) -> Result<Media, DecodeError> {
    let media = message.field(kind)?;
    let voice = media.opt_bool("voice")?.unwrap_or(false);
    let media_kind = match kind {
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        "audio" if voice => MediaKind::Voice,
        "audio" => MediaKind::Audio,
        "document" => MediaKind::Document,
        _ => MediaKind::Sticker,
    };
    let mut known = vec![
        "id",
        "mime_type",
        "sha256",
        "caption",
        "filename",
        "file_size",
    ];
    if kind == "audio" {
        known.push("voice");
    }
    // A sticker's `animated` flag names no one; the media `url` (on
    // WhatsApp's servers, for the token holder) and the rest are personal.
    extras.extend(media.extras(&known, &["animated"]));
    Ok(Media {
        kind: media_kind,
        source: MediaSource::PlatformId(media.str("id")?.to_string()),
        mime_type: media.opt_string("mime_type")?,
        size_bytes: media.opt_u64("file_size")?,
        sha256: media.opt_string("sha256")?,
        caption: media.opt_str("caption")?.map(markup::parse),
        filename: media.opt_string("filename")?,
        duration_ms: None,
        width: None,
        height: None,
    })
}

/// Decodes one shared contact card.
fn decode_contact(
    contact: &Node<'_, '_>,
    extras: &mut Vec<ExtraField>,
) -> Result<ContactCard, DecodeError> {
    // A contact card is personal through and through (addresses, middle
    // names, titles, the `wa_id` of each phone…).
    extras
        .extend(contact.personal_extras(&["name", "org", "phones", "emails", "urls", "birthday"]));
    let name = contact.field("name")?;
    extras.extend(name.personal_extras(&["formatted_name", "first_name", "last_name"]));
    let first_name = name.opt_string("first_name")?;
    let last_name = name.opt_string("last_name")?;
    let formatted_name = match name.opt_str("formatted_name")? {
        Some(formatted) => formatted.to_string(),
        None => [first_name.as_deref(), last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
    };
    let organization = match contact.get("org")? {
        Some(org) => {
            extras.extend(org.personal_extras(&["company"]));
            org.opt_string("company")?
        }
        None => None,
    };
    Ok(ContactCard {
        formatted_name,
        first_name,
        last_name,
        organization,
        phones: labeled(contact, "phones", "phone", extras)?,
        emails: labeled(contact, "emails", "email", extras)?,
        urls: labeled(contact, "urls", "url", extras)?,
        birthday: contact.opt_string("birthday")?,
    })
}

/// The `{<value_key>, type}` items of a contact's list member.
fn labeled(
    contact: &Node<'_, '_>,
    list: &str,
    value_key: &str,
    extras: &mut Vec<ExtraField>,
) -> Result<Vec<LabeledValue>, DecodeError> {
    let Some(items) = contact.get(list)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for item in items.items()? {
        extras.extend(item.personal_extras(&[value_key, "type"]));
        out.push(LabeledValue {
            label: item.opt_string("type")?,
            value: item.str(value_key)?.to_string(),
        });
    }
    Ok(out)
}

/// Decodes one element of `value.statuses`: a receipt for a message the
/// business sent (not an echo: it reports what happened to our send).
fn decode_status(status: &Node<'_, '_>, business: &str) -> Result<Envelope, DecodeError> {
    let wamid = status.str("id")?;
    let status_node = status.field("status")?;
    let name = status_node.as_str()?;
    let receipt_status = match name {
        "sent" => ReceiptStatus::Sent,
        "delivered" => ReceiptStatus::Delivered,
        // `played` is the first play of a voice message: it was read.
        "read" | "played" => ReceiptStatus::Read,
        "failed" => ReceiptStatus::Failed,
        _ => return Err(status_node.invalid("one of sent, delivered, read, played, failed")),
    };
    let recipient = status.str("recipient_id")?;
    let timestamp_ms = timestamp_ms(status)?;
    // `pricing` is the business's billing category; `conversation` (its id
    // is the person's conversation), `biz_opaque_callback_data` (the
    // business's own data) and the recipient's other ids are personal.
    let mut extras = status.extras(
        &["id", "status", "timestamp", "recipient_id", "errors"],
        &["pricing"],
    );
    let mut failure = None;
    if let Some(errors) = status.get("errors")? {
        for (index, error) in errors.items()?.enumerate() {
            if index == 0 {
                failure = Some(delivery_failure(&error)?);
                extras.extend(error.extras(&["code", "title", "error_data"], &["message", "href"]));
            } else {
                // Graph API errors (code, title, message, details) name no one.
                extras.push(error.to_shared_extra());
            }
        }
    }
    Ok(Envelope {
        id: format!("{PLATFORM}:status:{wamid}:{name}"),
        platform: PLATFORM.to_string(),
        native_id: Some(wamid.to_string()),
        conversation: direct(recipient),
        sender: anonymous(recipient),
        recipient: address(business),
        timestamp_ms,
        event: Event::Receipt(Receipt {
            status: receipt_status,
            targets: vec![message_ref(wamid)],
            watermark_ms: None,
            failure,
        }),
        echo: false,
        extras,
    })
}

/// A Graph API error object as a delivery failure.
fn delivery_failure(error: &Node<'_, '_>) -> Result<DeliveryFailure, DecodeError> {
    let code = match error.get("code")? {
        Some(code) => Some(code.as_u64()?.to_string()),
        None => None,
    };
    let detail = match error.get("error_data")? {
        Some(data) => data.opt_string("details")?,
        None => error.opt_string("details")?,
    };
    Ok(DeliveryFailure {
        code,
        title: error
            .opt_str("title")?
            .or(error.opt_str("message")?)
            .unwrap_or("unknown error")
            .to_string(),
        detail,
    })
}

/// An app- or account-level error (`value.errors[]`), reported as
/// unsupported content from the business number.
fn system_error(
    error: &Node<'_, '_>,
    account: &str,
    business: &str,
    index: usize,
) -> Result<Envelope, DecodeError> {
    let failure = delivery_failure(error)?;
    let code = failure.code.as_deref().unwrap_or("none");
    Ok(Envelope {
        id: format!("{PLATFORM}:error:{account}:{business}:{code}:{index}"),
        platform: PLATFORM.to_string(),
        native_id: None,
        conversation: direct(business),
        sender: anonymous(business),
        recipient: address(business),
        timestamp_ms: 0,
        event: message_event(unsupported("error", Some(failure.title))),
        echo: false,
        extras: vec![error.to_shared_extra()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_pdk::types::FormattedText;

    fn one(message: &str) -> Result<Envelope, DecodeError> {
        let body = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}},"messages":[{message}]}}}}]}}]}}"#
        );
        let mut envelopes = decode(body.as_bytes())?;
        assert_eq!(envelopes.len(), 1);
        Ok(envelopes.remove(0))
    }

    #[test]
    fn voice_notes_and_forwarded_context() -> Result<(), DecodeError> {
        let envelope = one(
            r#"{"from":"16505551234","id":"wamid.A","timestamp":"1744344496","type":"audio","context":{"forwarded":true,"frequently_forwarded":true},"audio":{"mime_type":"audio/ogg; codecs=opus","sha256":"x","id":"77","voice":true}}"#,
        )?;
        let Event::Message(message) = envelope.event else {
            unreachable!("not a message")
        };
        let Content::Media(media) = message.content else {
            unreachable!("not media")
        };
        assert_eq!(media.kind, MediaKind::Voice);
        assert_eq!(media.source, MediaSource::PlatformId("77".to_string()));
        assert_eq!(
            message.forwarded,
            Some(ForwardInfo {
                frequently_forwarded: true
            })
        );
        assert_eq!(message.reply_to, None);
        Ok(())
    }

    #[test]
    fn edits_and_revokes() -> Result<(), DecodeError> {
        // Shape as in the pywa SDK test data (tests/data/updates/edited_message.json).
        let edit = one(
            r#"{"from":"972987654321","id":"wamid.yyyyyy","timestamp":"1697044968","type":"edit","edit":{"original_message_id":"wamid.zzzzzz","message":{"type":"text","text":{"body":"Text was *edited*"}}}}"#,
        )?;
        let Event::Edit(inner) = edit.event else {
            unreachable!("not an edit")
        };
        assert_eq!(inner.target.native_id, "wamid.zzzzzz");
        assert_eq!(
            inner.content,
            Content::Text(FormattedText {
                body: "Text was edited".to_string(),
                spans: vec![switchboard_pdk::types::Span {
                    start: 9,
                    end: 15,
                    style: switchboard_pdk::types::SpanStyle::Bold
                }],
            })
        );
        let revoke = one(
            r#"{"from":"972987654321","id":"wamid.r","timestamp":"1697044968","type":"revoke","revoke":{"original_message_id":"wamid.zzzzzz"}}"#,
        )?;
        assert_eq!(
            revoke.event,
            Event::Deletion(MessageRef {
                platform: PLATFORM.to_string(),
                native_id: "wamid.zzzzzz".to_string()
            })
        );
        Ok(())
    }

    #[test]
    fn nfm_reply_and_order_are_reported() -> Result<(), DecodeError> {
        let flow = one(
            r#"{"from":"1","id":"wamid.f","timestamp":"1","type":"interactive","interactive":{"type":"nfm_reply","nfm_reply":{"name":"flow","body":"Sent","response_json":"{}"}}}"#,
        )?;
        let Event::Message(message) = &flow.event else {
            unreachable!("not a message")
        };
        assert_eq!(
            message.content,
            unsupported("nfm_reply", Some("Sent".into()))
        );
        assert!(
            flow.extras
                .iter()
                .any(|extra| extra.path.ends_with("/messages/0/interactive/nfm_reply"))
        );
        let order = one(
            r#"{"from":"1","id":"wamid.o","timestamp":"1","type":"order","order":{"catalog_id":"c","product_items":[]}}"#,
        )?;
        assert!(
            order
                .extras
                .iter()
                .any(|extra| extra.path.ends_with("/messages/0/order"))
        );
        Ok(())
    }
}
