//! `router.route`: the deliveries of one envelope, each rewritten for its app.
//!
//! The rules are in the crate documentation.

use crate::identity::{shareable_attributes, shareable_extras};
use crate::{Delivery, Facts, LinkedAccount, RouteError, UnmappedReference};
use std::cell::RefCell;
use switchboard_pdk::types::{
    Address, Content, Conversation, ConversationKind, Edit, Envelope, Event, ExtraField,
    FormattedText, IdentityAttribute, Message, MessageRef, Participant, Reaction, Receipt, Span,
    SpanStyle, StoryRef, StoryRelation,
};

/// The deliveries for `envelope`: none for an echo, otherwise one per linked
/// account of the sender on another app. Records the envelope's native id first
/// when it is a message.
pub fn route<F: Facts + ?Sized>(
    facts: &F,
    envelope: &Envelope,
) -> Result<Vec<Delivery>, RouteError> {
    if envelope.echo {
        return Ok(Vec::new());
    }
    if let (Event::Message(_), Some(native_id)) = (&envelope.event, &envelope.native_id)
        && !native_id.is_empty()
    {
        facts.record_native_id(&envelope.id, &envelope.platform, native_id);
    }

    if let Some(target) = story_target(facts, envelope) {
        return Ok(vec![story_delivery(facts, envelope, target)]);
    }

    let sender = &envelope.sender.address;
    let lookups = Lookups::new(facts);
    let mut targets: Vec<LinkedAccount> = lookups
        .linked_accounts(sender)
        .into_iter()
        .filter(|linked| linked.account.platform != envelope.platform)
        .collect();
    // An envelope addressed to an account on another app (the business API
    // makes these) goes to that account only, and only if it is linked.
    if envelope.recipient.platform != envelope.platform {
        targets.retain(|target| target.account == envelope.recipient);
    }
    if targets.is_empty() {
        return Err(RouteError::NotLinked(sender.clone()));
    }
    if let Event::Receipt(receipt) = &envelope.event
        && let Some(origins) = receipt_origins(&lookups, receipt)
    {
        targets.retain(|target| origins.contains(&target.account.platform));
    }

    let shared = Shared {
        attributes: shareable_attributes(facts, sender, &envelope.sender.attributes),
        extras: shareable_extras(&envelope.extras),
        lookups,
    };
    // Each target on its own: a reference that does not map on one app
    // (the message never reached it) does not hold the others hostage; the
    // caller gets those as `deliverable` and decides how long to wait.
    let mut deliverable = Vec::new();
    let mut unmapped = None;
    for target in &targets {
        match rewrite(envelope, target, &shared) {
            Ok(rewritten) => deliverable.push(Delivery {
                platform: target.account.platform.clone(),
                recipient: target.account.clone(),
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

/// The apps the messages a receipt names were first written on (the prefix of
/// their canonical ids, `<platform>:<native id>`): a receipt is news for the
/// author only, not for everyone else in a group who got a copy. `None` when
/// the receipt names no message it can map (a watermark-only receipt), which
/// then goes to every linked app as before.
fn receipt_origins<F: Facts + ?Sized>(
    lookups: &Lookups<'_, F>,
    receipt: &Receipt,
) -> Option<Vec<String>> {
    let origins: Vec<String> = receipt
        .targets
        .iter()
        .filter_map(|target| lookups.canonical_id(target))
        .filter_map(|canonical| {
            canonical
                .split_once(':')
                .map(|(platform, _)| platform.to_string())
        })
        .collect();
    (!origins.is_empty()).then_some(origins)
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

/// The one delivery of a story reply or mention: to the author, from the
/// sender's pseudonym on the author's app.
fn story_delivery<F: Facts + ?Sized>(
    facts: &F,
    envelope: &Envelope,
    target: StoryTarget,
) -> Delivery {
    let sender = &envelope.sender.address;
    let app = target.author.platform.clone();
    let handle =
        directory_schema::handle_for(&format!("story:{}:{}", sender.platform, sender.id), &app);
    let lookups = Lookups::new(facts);
    let mapper = Mapper {
        lookups: &lookups,
        origin: &envelope.platform,
        target: &app,
    };
    let event = match &envelope.event {
        Event::Message(message) => Event::Message(Message {
            content: mapper.content(&message.content),
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
    Delivery {
        platform: app.clone(),
        recipient: target.author.clone(),
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
                attributes: shareable_attributes(facts, sender, &envelope.sender.attributes),
            },
            recipient: target.author,
            timestamp_ms: envelope.timestamp_ms,
            event,
            echo: false,
            extras: shareable_extras(&envelope.extras),
        },
    }
}

/// What every delivery of one envelope carries or reads alike.
struct Shared<'a, F: ?Sized> {
    attributes: Vec<IdentityAttribute>,
    extras: Vec<ExtraField>,
    lookups: Lookups<'a, F>,
}

/// The envelope as `target` may see it on its app.
fn rewrite<F: Facts + ?Sized>(
    envelope: &Envelope,
    target: &LinkedAccount,
    shared: &Shared<'_, F>,
) -> Result<Envelope, RouteError> {
    let mapper = Mapper {
        lookups: &shared.lookups,
        origin: &envelope.platform,
        target: &target.account.platform,
    };
    Ok(Envelope {
        id: envelope.id.clone(),
        platform: envelope.platform.clone(),
        native_id: None,
        conversation: conversation_on_target(&envelope.conversation, &envelope.platform, target),
        sender: Participant {
            address: Address {
                platform: target.account.platform.clone(),
                id: target.handle.clone(),
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

/// The conversation as the target sees it: a direct conversation is the one
/// with the sender's handle; a group gets a pseudonymous id derived from the
/// origin's group id, stable for every member on the target's app.
fn conversation_on_target(
    conversation: &Conversation,
    origin: &str,
    target: &LinkedAccount,
) -> Conversation {
    let id = match conversation.kind {
        ConversationKind::Direct => target.handle.clone(),
        ConversationKind::Group => directory_schema::handle_for(
            &format!("group:{origin}:{}", conversation.id),
            &target.account.platform,
        ),
    };
    Conversation {
        kind: conversation.kind,
        id,
    }
}

/// The directory's answers for one envelope, read once and shared by all its
/// targets: linked accounts (the sender's serve the targets and any mention of
/// the sender), what a mentioned handle stands for, and a referenced message's
/// canonical id. Answers that depend on the target (native ids) are not kept.
struct Lookups<'a, F: ?Sized> {
    facts: &'a F,
    linked_accounts: Memo<Address, Vec<LinkedAccount>>,
    handle_holders: Memo<Address, Option<Address>>,
    canonical_ids: Memo<MessageRef, Option<String>>,
}

impl<'a, F: Facts + ?Sized> Lookups<'a, F> {
    fn new(facts: &'a F) -> Self {
        Lookups {
            facts,
            linked_accounts: Memo::default(),
            handle_holders: Memo::default(),
            canonical_ids: Memo::default(),
        }
    }

    fn linked_accounts(&self, account: &Address) -> Vec<LinkedAccount> {
        self.linked_accounts
            .get(account, || self.facts.linked_accounts(account))
    }

    /// The account whose handle `address` is, if it is one.
    fn handle_holder(&self, address: &Address) -> Option<Address> {
        self.handle_holders.get(address, || {
            self.facts.resolve_handle(&address.platform, &address.id)
        })
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

/// Maps what an event names on the origin app to the target app.
struct Mapper<'a, F: ?Sized> {
    lookups: &'a Lookups<'a, F>,
    origin: &'a str,
    target: &'a str,
}

impl<F: Facts + ?Sized> Mapper<'_, F> {
    /// The event with its references and mentions mapped.
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

    /// The target app's native id of the message `reference` names, through its
    /// canonical id.
    fn message_ref(&self, reference: &MessageRef) -> Option<MessageRef> {
        let canonical = self.lookups.canonical_id(reference)?;
        let native_id = self.lookups.facts.native_id(&canonical, self.target)?;
        Some(MessageRef {
            platform: self.target.to_string(),
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

    /// Content with its mentions mapped.
    fn content(&self, content: &Content) -> Content {
        match content {
            Content::Text(text) => Content::Text(self.text(text)),
            Content::Media(media) => {
                let mut media = media.clone();
                media.caption = media.caption.as_ref().map(|caption| self.text(caption));
                Content::Media(media)
            }
            Content::Interactive(interactive) => {
                let mut interactive = interactive.clone();
                interactive.body = self.text(&interactive.body);
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

    /// Who a mentioned address is on the target app: an address there already
    /// stays; a handle stands for the member of its link on the target app; an
    /// account is shown by its link's handle on the target app.
    fn mention(&self, address: &Address) -> Option<Address> {
        if address.platform == self.target {
            return Some(address.clone());
        }
        if let Some(holder) = self.lookups.handle_holder(address) {
            return self.linked_on_target(&holder).map(|linked| linked.account);
        }
        self.linked_on_target(address).map(|linked| Address {
            platform: self.target.to_string(),
            id: linked.handle,
        })
    }

    /// The member of `account`'s link on the target app.
    fn linked_on_target(&self, account: &Address) -> Option<LinkedAccount> {
        self.lookups
            .linked_accounts(account)
            .into_iter()
            .find(|linked| linked.account.platform == self.target)
    }
}
