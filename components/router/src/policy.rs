//! `policy.check`: whether one envelope may go to one recipient.
//!
//! The rules and their order are in the crate documentation.

use crate::commands::Command;
use crate::{ConsentScope, Facts, Rejection, RejectionReason, RequestState, Verdict};
use switchboard_pdk::types::{Address, Content, Envelope, Event, MessageCategory};

/// Texts that opt the sender out of a business's marketing (compared trimmed,
/// ignoring case).
pub const STOP_WORDS: &[&str] = &["STOP", "UNSUBSCRIBE"];

/// Judges `envelope` (as received, before routing rewrites it) bound for
/// `recipient`, an account on the target app; `now_ms` is the wall clock for
/// the rate window.
pub fn check<F: Facts + ?Sized>(
    facts: &F,
    envelope: &Envelope,
    recipient: &Address,
    now_ms: u64,
) -> Verdict {
    let bridged = crate::route::as_bridged_chat(facts, envelope);
    let envelope = bridged.as_ref().unwrap_or(envelope);
    let sender = &envelope.sender.address;

    if let Some(story) = crate::story_target(facts, envelope) {
        return check_story(facts, envelope, recipient, &story.author, now_ms);
    }

    // The relay answering a command: the sender's own chat.
    if recipient == sender {
        return Verdict::Deliver;
    }

    // A command's other deliveries are the relay's notices about a request
    // between the sender and the recipient; nothing else of a command goes to
    // anyone but its sender.
    if let Some(command) = Command::of(envelope) {
        return if notice_allowed(facts, &command, sender, recipient) {
            Verdict::Deliver
        } else {
            reject(
                RejectionReason::NoConversation,
                "a command is answered only to the person who sent it".to_string(),
            )
        };
    }

    // An opt-out is recorded before any check, so that no refusal (consent,
    // block, rate) can lose it.
    if is_stop_request(envelope) {
        facts.opt_out_of_marketing(sender, recipient);
    }

    if !facts.has_consent(sender, ConsentScope::CrossAppMessaging) {
        return reject(
            RejectionReason::NoConsent,
            format!(
                "you have not agreed to cross-app messaging on {} (or you withdrew your agreement), so your messages stay on {}",
                sender.platform, sender.platform
            ),
        );
    }
    if !facts.has_consent(recipient, ConsentScope::CrossAppMessaging) {
        return reject(
            RejectionReason::NoConsent,
            format!(
                "a member on {} has not agreed to cross-app messaging (or withdrew their agreement)",
                recipient.platform
            ),
        );
    }

    if facts.is_blocked(recipient, sender) || facts.is_blocked(sender, recipient) {
        return reject(
            RejectionReason::Blocked,
            format!(
                "you and a member on {} have blocked one another",
                recipient.platform
            ),
        );
    }

    if is_marketing(&envelope.event) && !facts.marketing_opt_in(recipient, sender) {
        return if facts.marketing_opted_out(recipient, sender) {
            reject(
                RejectionReason::OptedOut,
                "the person you wrote to opted out of your marketing messages (for example by replying STOP)".to_string(),
            )
        } else {
            reject(
                RejectionReason::MarketingWithoutOptIn,
                "the person you wrote to has not opted in to your marketing messages".to_string(),
            )
        };
    }

    if counts_toward_rate(&envelope.event) && !facts.within_rate(sender, &envelope.id, now_ms) {
        return reject(
            RejectionReason::RateLimited,
            "you are sending messages too fast; wait a minute and try again".to_string(),
        );
    }

    Verdict::Deliver
}

/// Whether the envelope is a text message whose whole text, trimmed, is one of
/// the [`STOP_WORDS`] in any case.
pub fn is_stop_request(envelope: &Envelope) -> bool {
    let Event::Message(message) = &envelope.event else {
        return false;
    };
    let Content::Text(text) = &message.content else {
        return false;
    };
    let body = text.body.trim();
    STOP_WORDS
        .iter()
        .any(|word| body.eq_ignore_ascii_case(word))
}

/// Whether the event is a message of category marketing.
fn is_marketing(event: &Event) -> bool {
    matches!(event, Event::Message(message) if message.category == MessageCategory::Marketing)
}

/// Whether the event is something the sender writes (a message, a reaction, an
/// edit), as opposed to receipts, typing and deletions, which the apps send on
/// their own and which must not use up the sender's rate.
fn counts_toward_rate(event: &Event) -> bool {
    matches!(
        event,
        Event::Message(_) | Event::Reaction(_) | Event::Edit(_)
    )
}

/// Whether a delivery of `command` from `sender` to `recipient` is one of the
/// relay's notices about a request: `/new` telling the target of a pending
/// request from the sender, `/accept` telling the requester of a request the
/// sender (its target) has accepted. The request must be on record, in a
/// direct conversation of the sender that has the recipient as a member.
fn notice_allowed<F: Facts + ?Sized>(
    facts: &F,
    command: &Command,
    sender: &Address,
    recipient: &Address,
) -> bool {
    // (requester, target, the state the request is in once the command ran)
    let (requester, target, state) = match command {
        Command::New(_) => (sender, recipient, RequestState::Pending),
        Command::Accept(_) => (recipient, sender, RequestState::Accepted),
        _ => return false,
    };
    facts
        .conversations_of(sender)
        .iter()
        .filter_map(|id| facts.conversation(id))
        .filter(|conversation| {
            conversation
                .members
                .iter()
                .any(|member| member.account == *recipient)
        })
        .filter_map(|conversation| facts.request_of(&conversation.id))
        .any(|request| {
            request.state == state && request.requester == *requester && request.target == *target
        })
}

fn reject(reason: RejectionReason, detail: String) -> Verdict {
    Verdict::Reject(Rejection { reason, detail })
}

/// Judges a reply to a cross-posted story, or a mention of its author, bound
/// for `recipient`: only the author may get it, unless they blocked the
/// sender or the sender is over the rate.
fn check_story<F: Facts + ?Sized>(
    facts: &F,
    envelope: &Envelope,
    recipient: &Address,
    author: &Address,
    now_ms: u64,
) -> Verdict {
    let sender = &envelope.sender.address;
    if recipient != author {
        return reject(
            RejectionReason::NoConversation,
            "a story reply or mention goes only to the story's author".to_string(),
        );
    }
    if facts.is_blocked(author, sender) {
        return reject(
            RejectionReason::Blocked,
            "the person whose story this is has blocked messages from you".to_string(),
        );
    }
    if !facts.within_rate(sender, &envelope.id, now_ms) {
        return reject(
            RejectionReason::RateLimited,
            "you are sending messages too fast; wait a minute and try again".to_string(),
        );
    }
    Verdict::Deliver
}
