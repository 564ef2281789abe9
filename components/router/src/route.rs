//! `router.route`: the deliveries of one envelope, each rewritten for its
//! recipient.
//!
//! The rules are in the crate documentation.

use crate::commands::{self, Command};
use crate::identity::{author_label, shareable_attributes, shareable_extras};
use crate::{ConversationRecord, Delivery, Facts, Member, MemberState, MessageOrigin, RouteError};
use crate::{UnmappedReference, is_active_member};
use std::cell::RefCell;
use switchboard_pdk::types::{
    Address, Content, Conversation, ConversationKind, Edit, Envelope, Event, ExtraField,
    FormattedText, IdentityAttribute, Message, MessageRef, Participant, Reaction, Receipt, Span,
    SpanStyle, StoryRef, StoryRelation,
};

/// The deliveries for `envelope` at `now_ms` (the wall clock, which decides
/// whether a sharing policy applies yet): none for an echo; an answer to the
/// sender for a command; otherwise one per other active member of the
/// conversation it belongs to, each through that member's endpoint. Records
/// the envelope's native id first when it is a message.
pub fn route<F: Facts + ?Sized>(
    facts: &F,
    envelope: &Envelope,
    now_ms: u64,
) -> Result<Vec<Delivery>, RouteError> {
    if envelope.echo {
        return Ok(Vec::new());
    }
    let bridged = as_bridged_chat(facts, envelope);
    let envelope = bridged.as_ref().unwrap_or(envelope);
    let sender = &envelope.sender.address;
    if let (Event::Message(_), Some(native_id)) = (&envelope.event, &envelope.native_id)
        && !native_id.is_empty()
    {
        facts.record_native_id(&envelope.id, sender, native_id);
    }
    // The discovery index learns usernames from messages (the directory
    // keeps them only for discoverable accounts).
    if matches!(envelope.event, Event::Message(_)) {
        for attribute in &envelope.sender.attributes {
            if let IdentityAttribute::Username(name) = attribute {
                facts.remember_username(sender, name);
            }
        }
    }

    if let Some(target) = story_target(facts, envelope) {
        return Ok(vec![story_delivery(facts, envelope, target, now_ms)]);
    }
    if let Some(command) = Command::of(envelope) {
        return Ok(commands::answer(facts, envelope, command));
    }

    let lookups = Lookups::new(facts);
    let conversation = locate(&lookups, envelope)?;
    if matches!(envelope.event, Event::Message(_)) {
        facts.record_message(
            &envelope.id,
            &MessageOrigin {
                conversation_id: conversation.id.clone(),
                author: sender.clone(),
            },
        );
    }

    // A direct conversation asked for with `/new` whose target has not
    // accepted: the requester's messages are held with the request (until
    // `/accept` queues them again), and nothing reaches the target.
    if conversation.kind == ConversationKind::Direct
        && conversation
            .members
            .iter()
            .any(|member| member.state == MemberState::Invited)
    {
        if matches!(envelope.event, Event::Message(_)) {
            facts.hold_message(&conversation.id, sender, &envelope.id);
        }
        return Ok(Vec::new());
    }

    let mut targets: Vec<&Member> = conversation
        .members
        .iter()
        .filter(|member| member.state == MemberState::Active && member.account != *sender)
        .collect();
    // An envelope addressed to an account on another app (the business API
    // makes these) goes to that member only.
    if envelope.recipient.platform != envelope.platform {
        targets.retain(|member| member.account == envelope.recipient);
    }
    // A receipt is news for the authors of the messages it names only.
    if let Event::Receipt(receipt) = &envelope.event
        && let Some(authors) = receipt_authors(&lookups, receipt)
    {
        targets.retain(|member| authors.contains(&member.account));
    }

    let label = author_label(facts, &conversation, envelope, now_ms);
    let shared = Shared {
        attributes: shareable_attributes(facts, sender, &envelope.sender.attributes, now_ms),
        extras: shareable_extras(&envelope.extras),
        label,
        conversation: &conversation,
        lookups,
    };
    // Each target on its own: a reference that does not map for one member
    // (the message never reached them) does not hold the others hostage; the
    // caller gets those as `deliverable` and decides how long to wait.
    let mut deliverable = Vec::new();
    let mut unmapped = None;
    for target in targets {
        match rewrite(envelope, target, &shared) {
            Ok(rewritten) => deliverable.push(Delivery {
                platform: target.account.platform.clone(),
                recipient: target.account.clone(),
                endpoint: target.endpoint.clone(),
                envelope: rewritten,
            }),
            Err(RouteError::UnknownMessage(reference)) => {
                unmapped.get_or_insert(reference.native_id);
            }
            Err(other) => return Err(other),
        }
    }
    match unmapped {
        None => Ok(deliverable),
        Some(native_id) => Err(RouteError::UnknownMessage(UnmappedReference {
            native_id,
            deliverable,
        })),
    }
}

/// The envelope as its chat's, when the chat (not the person) is the member:
/// on an app whose chats are bridged whole (a Matrix room is a member, by
/// its room id), an event from someone in no conversation at that endpoint,
/// in a chat that is in one, speaks for that chat. Its sender becomes the
/// chat, with no identity attributes (whoever wrote in the room is not
/// named to the other apps). `None` when the sender speaks for themself.
pub fn as_bridged_chat<F: Facts + ?Sized>(facts: &F, envelope: &Envelope) -> Option<Envelope> {
    let sender = &envelope.sender.address;
    let chat = &envelope.conversation.id;
    if chat.is_empty() || *chat == sender.id || envelope.recipient.platform != envelope.platform {
        return None;
    }
    let endpoint = &envelope.recipient.id;
    if !facts
        .conversations_at(sender, endpoint)
        .conversations
        .is_empty()
    {
        return None;
    }
    let chat = Address {
        platform: envelope.platform.clone(),
        id: chat.clone(),
    };
    if facts
        .conversations_at(&chat, endpoint)
        .conversations
        .is_empty()
    {
        return None;
    }
    let mut bridged = envelope.clone();
    bridged.sender = Participant {
        address: chat,
        attributes: Vec::new(),
    };
    Some(bridged)
}

/// The conversation an envelope belongs to: the one its sender has at the
/// endpoint it arrived at, chosen by the message it quotes or refers to when
/// there are several, else the sender's current one there. A business API
/// envelope (addressed to an account on another app) belongs to the direct
/// conversation of the business and that account.
fn locate<F: Facts + ?Sized>(
    lookups: &Lookups<'_, F>,
    envelope: &Envelope,
) -> Result<ConversationRecord, RouteError> {
    let facts = lookups.facts;
    let sender = &envelope.sender.address;
    let no_conversation = || RouteError::NoConversation(sender.clone());
    if envelope.recipient.platform != envelope.platform {
        return shared_conversation(facts, sender, &envelope.recipient).ok_or_else(no_conversation);
    }
    let at = facts.conversations_at(sender, &envelope.recipient.id);
    if at.conversations.is_empty() {
        return Err(no_conversation());
    }
    // An envelope routed before (held with a request, then queued again when
    // it was accepted) goes to the conversation it was written in, whatever
    // is current now. Only worth asking when there is a choice.
    let own = (at.conversations.len() > 1)
        .then(|| facts.origin_of(&envelope.id))
        .flatten()
        .filter(|origin| origin.author == *sender)
        .map(|origin| origin.conversation_id)
        .filter(|id| at.conversations.contains(id));
    let quoted = || {
        referenced(&envelope.event)
            .and_then(|reference| lookups.canonical_id(reference))
            .and_then(|canonical| facts.origin_of(&canonical))
            .map(|origin| origin.conversation_id)
            .filter(|id| at.conversations.contains(id))
    };
    let chosen = own
        .or_else(quoted)
        .or(at.current)
        .or_else(|| at.conversations.last().cloned())
        .ok_or_else(no_conversation)?;
    facts
        .conversation(&chosen)
        .filter(|conversation| is_active_member(conversation, sender))
        .ok_or_else(no_conversation)
}

/// The direct conversation in which `a` and `b` are both active, if any.
pub fn shared_conversation<F: Facts + ?Sized>(
    facts: &F,
    a: &Address,
    b: &Address,
) -> Option<ConversationRecord> {
    facts
        .conversations_of(a)
        .iter()
        .filter_map(|id| facts.conversation(id))
        .find(|conversation| {
            conversation.kind == ConversationKind::Direct
                && is_active_member(conversation, a)
                && is_active_member(conversation, b)
        })
}

/// The message an event quotes or acts on: what decides its conversation.
fn referenced(event: &Event) -> Option<&MessageRef> {
    match event {
        Event::Message(message) => message.reply_to.as_ref(),
        Event::Reaction(reaction) => Some(&reaction.target),
        Event::Edit(edit) => Some(&edit.target),
        Event::Deletion(target) => Some(target),
        Event::Receipt(receipt) => receipt.targets.first(),
        Event::Typing(_) => None,
    }
}

/// The authors of the messages a receipt names, `None` when it names none
/// that was routed (a watermark-only receipt goes to every other member).
fn receipt_authors<F: Facts + ?Sized>(
    lookups: &Lookups<'_, F>,
    receipt: &Receipt,
) -> Option<Vec<Address>> {
    let authors: Vec<Address> = receipt
        .targets
        .iter()
        .filter_map(|target| lookups.canonical_id(target))
        .filter_map(|canonical| lookups.facts.origin_of(&canonical))
        .map(|origin| origin.author)
        .collect();
    (!authors.is_empty()).then_some(authors)
}

/// Where a message about a cross-posted story goes: its author on the app the
/// story was first posted on.
#[derive(Clone, Debug, PartialEq)]
pub struct StoryTarget {
    /// The author's account on the original app.
    pub author: Address,
    /// The original story's id, for a reply.
    pub story_id: Option<String>,
}

/// The author a story reply or mention is for, when the story is a
/// cross-post (a reply) or the mentioned account is one the cross-poster
/// publishes to (a mention), and the author is on another app.
pub fn story_target<F: Facts + ?Sized>(facts: &F, envelope: &Envelope) -> Option<StoryTarget> {
    let Event::Message(message) = &envelope.event else {
        return None;
    };
    let story = message.story.as_ref()?;
    let target = match story.relation {
        StoryRelation::Reply => {
            let id = story.story_id.as_deref().filter(|id| !id.is_empty())?;
            let origin = facts.cross_post_origin(&envelope.platform, id)?;
            StoryTarget {
                author: origin.author,
                story_id: Some(origin.story_id),
            }
        }
        StoryRelation::Mention => StoryTarget {
            author: facts.story_author(&envelope.recipient)?,
            story_id: None,
        },
    };
    (target.author.platform != envelope.platform).then_some(target)
}

/// The one delivery of a story reply or mention: to the author, through
/// the endpoint they talk through on their app, from the sender's pseudonym.
fn story_delivery<F: Facts + ?Sized>(
    facts: &F,
    envelope: &Envelope,
    target: StoryTarget,
    now_ms: u64,
) -> Delivery {
    let sender = &envelope.sender.address;
    let app = target.author.platform.clone();
    let story_sender = directory_schema::Account {
        platform: sender.platform.clone(),
        id: sender.id.clone(),
    };
    let handle = directory_schema::handle_for(&format!("story:{app}"), &story_sender);
    let event = match &envelope.event {
        Event::Message(message) => Event::Message(Message {
            content: message.content.clone(),
            reply_to: None,
            forwarded: message.forwarded,
            story: message.story.as_ref().map(|story| StoryRef {
                relation: story.relation,
                story_id: target.story_id.clone(),
                url: None,
            }),
            category: message.category,
        }),
        other => other.clone(),
    };
    let endpoint = facts.endpoint_for(&target.author).unwrap_or_default();
    Delivery {
        platform: app.clone(),
        recipient: target.author.clone(),
        endpoint,
        envelope: Envelope {
            id: envelope.id.clone(),
            platform: envelope.platform.clone(),
            native_id: None,
            conversation: Conversation {
                kind: ConversationKind::Direct,
                id: handle.clone(),
            },
            sender: Participant {
                address: Address {
                    platform: app,
                    id: handle,
                },
                attributes: shareable_attributes(
                    facts,
                    sender,
                    &envelope.sender.attributes,
                    now_ms,
                ),
            },
            recipient: target.author,
            timestamp_ms: envelope.timestamp_ms,
            event: strip_mentions(event),
            echo: false,
            extras: shareable_extras(&envelope.extras),
        },
    }
}

/// A story reply's text without mention spans: the author shares no
/// conversation with the replier, so no mention can be mapped.
fn strip_mentions(event: Event) -> Event {
    let strip = |text: &mut FormattedText| {
        text.spans
            .retain(|span| !matches!(span.style, SpanStyle::Mention(_)));
    };
    match event {
        Event::Message(mut message) => {
            match &mut message.content {
                Content::Text(text) => strip(text),
                Content::Media(media) => {
                    if let Some(caption) = media.caption.as_mut() {
                        strip(caption);
                    }
                }
                Content::Interactive(interactive) => strip(&mut interactive.body),
                _ => {}
            }
            Event::Message(message)
        }
        other => other,
    }
}

/// What every delivery of one envelope carries or reads alike.
struct Shared<'a, F: ?Sized> {
    attributes: Vec<IdentityAttribute>,
    extras: Vec<ExtraField>,
    /// Who wrote it, as the readers see it.
    label: String,
    conversation: &'a ConversationRecord,
    lookups: Lookups<'a, F>,
}

/// The envelope as `target` may see it on their app.
fn rewrite<F: Facts + ?Sized>(
    envelope: &Envelope,
    target: &Member,
    shared: &Shared<'_, F>,
) -> Result<Envelope, RouteError> {
    let sender = &envelope.sender.address;
    let handle = shared
        .conversation
        .members
        .iter()
        .find(|member| member.account == *sender)
        .map(|member| member.handle.clone())
        .unwrap_or_default();
    let mapper = Mapper {
        lookups: &shared.lookups,
        conversation: shared.conversation,
        origin: &envelope.platform,
        target,
        label: &shared.label,
    };
    Ok(Envelope {
        id: envelope.id.clone(),
        platform: envelope.platform.clone(),
        native_id: None,
        conversation: Conversation {
            kind: shared.conversation.kind,
            id: shared.conversation.id.clone(),
        },
        sender: Participant {
            address: Address {
                platform: target.account.platform.clone(),
                id: handle,
            },
            attributes: shared.attributes.clone(),
        },
        recipient: target.account.clone(),
        timestamp_ms: envelope.timestamp_ms,
        event: mapper.event(&envelope.event)?,
        echo: false,
        extras: shared.extras.clone(),
    })
}

/// The directory's answers for one envelope that do not depend on the
/// target: a referenced message's canonical id.
struct Lookups<'a, F: ?Sized> {
    facts: &'a F,
    canonical_ids: Memo<MessageRef, Option<String>>,
}

impl<'a, F: Facts + ?Sized> Lookups<'a, F> {
    fn new(facts: &'a F) -> Self {
        Lookups {
            facts,
            canonical_ids: Memo::default(),
        }
    }

    fn canonical_id(&self, reference: &MessageRef) -> Option<String> {
        self.canonical_ids.get(reference, || {
            self.facts
                .canonical_id(&reference.platform, &reference.native_id)
        })
    }
}

/// Answers by question, each computed once. A list: an envelope asks few.
struct Memo<K, V>(RefCell<Vec<(K, V)>>);

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo(RefCell::new(Vec::new()))
    }
}

impl<K: PartialEq + Clone, V: Clone> Memo<K, V> {
    fn get(&self, key: &K, compute: impl FnOnce() -> V) -> V {
        if let Some((_, value)) = self.0.borrow().iter().find(|(known, _)| known == key) {
            return value.clone();
        }
        let value = compute();
        self.0.borrow_mut().push((key.clone(), value.clone()));
        value
    }
}

/// Maps what an event names in the sender's chat to the target's chat.
struct Mapper<'a, F: ?Sized> {
    lookups: &'a Lookups<'a, F>,
    conversation: &'a ConversationRecord,
    /// The sender's app.
    origin: &'a str,
    target: &'a Member,
    label: &'a str,
}

impl<F: Facts + ?Sized> Mapper<'_, F> {
    /// The event with its references and mentions mapped and its text
    /// attributed.
    fn event(&self, event: &Event) -> Result<Event, RouteError> {
        Ok(match event {
            Event::Message(message) => Event::Message(Message {
                content: self.content(&message.content),
                reply_to: message
                    .reply_to
                    .as_ref()
                    .and_then(|reference| self.message_ref(reference)),
                forwarded: message.forwarded,
                story: message.story.as_ref().map(|story| self.story(story)),
                category: message.category,
            }),
            Event::Reaction(reaction) => Event::Reaction(Reaction {
                target: self.required(&reaction.target)?,
                action: reaction.action,
                emoji: reaction.emoji.clone(),
            }),
            Event::Edit(edit) => Event::Edit(Edit {
                target: self.required(&edit.target)?,
                content: self.content(&edit.content),
            }),
            Event::Deletion(target) => Event::Deletion(self.required(target)?),
            Event::Receipt(receipt) => Event::Receipt(Receipt {
                status: receipt.status,
                targets: receipt
                    .targets
                    .iter()
                    .map(|target| self.required(target))
                    .collect::<Result<_, _>>()?,
                watermark_ms: receipt.watermark_ms,
                failure: receipt.failure.clone(),
            }),
            Event::Typing(state) => Event::Typing(*state),
        })
    }

    /// The native id of the target's own copy of the message `reference`
    /// names, through its canonical id.
    fn message_ref(&self, reference: &MessageRef) -> Option<MessageRef> {
        let canonical = self.lookups.canonical_id(reference)?;
        let native_id = self
            .lookups
            .facts
            .native_id(&canonical, &self.target.account)?;
        Some(MessageRef {
            platform: self.target.account.platform.clone(),
            native_id,
        })
    }

    /// Like [`Self::message_ref`], but a reference that cannot be mapped is an
    /// error: the event means nothing without it.
    fn required(&self, reference: &MessageRef) -> Result<MessageRef, RouteError> {
        self.message_ref(reference).ok_or_else(|| {
            RouteError::UnknownMessage(UnmappedReference {
                native_id: reference.native_id.clone(),
                deliverable: Vec::new(),
            })
        })
    }

    /// A story reference with its id mapped (or dropped) and the origin's media
    /// URL dropped.
    fn story(&self, story: &StoryRef) -> StoryRef {
        let story_id = story.story_id.as_ref().and_then(|id| {
            self.message_ref(&MessageRef {
                platform: self.origin.to_string(),
                native_id: id.clone(),
            })
            .map(|mapped| mapped.native_id)
        });
        StoryRef {
            relation: story.relation,
            story_id,
            url: None,
        }
    }

    /// Content with its mentions mapped and the writer's label before its
    /// text (or as the caption of media that has none).
    fn content(&self, content: &Content) -> Content {
        match content {
            Content::Text(text) => Content::Text(attributed(self.label, &self.text(text))),
            Content::Media(media) => {
                let mut media = media.clone();
                let caption = media.caption.as_ref().map(|caption| self.text(caption));
                media.caption = Some(match caption {
                    Some(caption) => attributed(self.label, &caption),
                    None => label_only(self.label),
                });
                Content::Media(media)
            }
            Content::Interactive(interactive) => {
                let mut interactive = interactive.clone();
                interactive.body = attributed(self.label, &self.text(&interactive.body));
                Content::Interactive(interactive)
            }
            other => other.clone(),
        }
    }

    /// Text with each mention mapped, or its span dropped when it cannot be.
    fn text(&self, text: &FormattedText) -> FormattedText {
        let spans = text
            .spans
            .iter()
            .filter_map(|span| match &span.style {
                SpanStyle::Mention(address) => self.mention(address).map(|mapped| Span {
                    start: span.start,
                    end: span.end,
                    style: SpanStyle::Mention(mapped),
                }),
                _ => Some(span.clone()),
            })
            .collect();
        FormattedText {
            body: text.body.clone(),
            spans,
        }
    }

    /// Who a mentioned address is in the target's chat: a member on the
    /// target's app by their account, any other member by their handle; an
    /// address on the target's app that is no member stays; anything else
    /// is dropped.
    fn mention(&self, address: &Address) -> Option<Address> {
        let target_app = &self.target.account.platform;
        let member = self
            .conversation
            .members
            .iter()
            .find(|member| member.account == *address || member.handle == address.id);
        match member {
            Some(member) if member.account.platform == *target_app => Some(member.account.clone()),
            Some(member) => Some(Address {
                platform: target_app.clone(),
                id: member.handle.clone(),
            }),
            None => (address.platform == *target_app).then(|| address.clone()),
        }
    }
}

/// `text` with the writer's label on a line of its own before it, in bold.
pub fn attributed(label: &str, text: &FormattedText) -> FormattedText {
    let prefix = format!("{label}\n");
    let shift = u32::try_from(prefix.chars().count()).unwrap_or(u32::MAX);
    let mut spans = vec![Span {
        start: 0,
        end: shift.saturating_sub(1),
        style: SpanStyle::Bold,
    }];
    spans.extend(text.spans.iter().map(|span| Span {
        start: span.start.saturating_add(shift),
        end: span.end.saturating_add(shift),
        style: span.style.clone(),
    }));
    FormattedText {
        body: format!("{prefix}{}", text.body),
        spans,
    }
}

/// The writer's label alone, in bold: the caption of media that had none.
fn label_only(label: &str) -> FormattedText {
    FormattedText {
        body: label.to_string(),
        spans: vec![Span {
            start: 0,
            end: u32::try_from(label.chars().count()).unwrap_or(u32::MAX),
            style: SpanStyle::Bold,
        }],
    }
}
