//! `router.route`: the deliveries of one envelope, each rewritten for its app.
//!
//! The rules are in the crate documentation.

use crate::identity::{shareable_attributes, shareable_extras};
use crate::{Delivery, Facts, LinkedAccount, RouteError};
use switchboard_model::types::{
    Address, Content, Conversation, ConversationKind, Edit, Envelope, Event, ExtraField,
    FormattedText, IdentityAttribute, Message, MessageRef, Participant, Reaction, Receipt, Span,
    SpanStyle, StoryRef,
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

    let sender = &envelope.sender.address;
    let targets: Vec<LinkedAccount> = facts
        .linked_accounts(sender)
        .into_iter()
        .filter(|linked| linked.account.platform != envelope.platform)
        .collect();
    if targets.is_empty() {
        return Err(RouteError::NotLinked(sender.clone()));
    }

    let shared = Shared {
        attributes: shareable_attributes(facts, sender, &envelope.sender.attributes),
        extras: shareable_extras(&envelope.extras),
    };
    targets
        .iter()
        .map(|target| {
            Ok(Delivery {
                platform: target.account.platform.clone(),
                recipient: target.account.clone(),
                envelope: rewrite(facts, envelope, target, &shared)?,
            })
        })
        .collect()
}

/// What every delivery of one envelope carries alike.
struct Shared {
    attributes: Vec<IdentityAttribute>,
    extras: Vec<ExtraField>,
}

/// The envelope as `target` may see it on its app.
fn rewrite<F: Facts + ?Sized>(
    facts: &F,
    envelope: &Envelope,
    target: &LinkedAccount,
    shared: &Shared,
) -> Result<Envelope, RouteError> {
    let mapper = Mapper {
        facts,
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

/// Maps what an event names on the origin app to the target app.
struct Mapper<'a, F: ?Sized> {
    facts: &'a F,
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
        let canonical = self
            .facts
            .canonical_id(&reference.platform, &reference.native_id)?;
        let native_id = self.facts.native_id(&canonical, self.target)?;
        Some(MessageRef {
            platform: self.target.to_string(),
            native_id,
        })
    }

    /// Like [`Self::message_ref`], but a reference that cannot be mapped is an
    /// error: the event means nothing without it.
    fn required(&self, reference: &MessageRef) -> Result<MessageRef, RouteError> {
        self.message_ref(reference)
            .ok_or_else(|| RouteError::UnknownMessage(reference.native_id.clone()))
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
        if let Some(holder) = self.facts.resolve_handle(&address.platform, &address.id) {
            return self.linked_on_target(&holder).map(|linked| linked.account);
        }
        self.linked_on_target(address).map(|linked| Address {
            platform: self.target.to_string(),
            id: linked.handle,
        })
    }

    /// The member of `account`'s link on the target app.
    fn linked_on_target(&self, account: &Address) -> Option<LinkedAccount> {
        self.facts
            .linked_accounts(account)
            .into_iter()
            .find(|linked| linked.account.platform == self.target)
    }
}
