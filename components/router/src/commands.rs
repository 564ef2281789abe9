//! In-chat self-service: commands a person sends to the relay from their own
//! app, answered there and never forwarded.
//!
//! | command | effect |
//! |---|---|
//! | `/help` (and any unknown command) | the list of commands |
//! | `/who` | the members of the current conversation at this endpoint |
//! | `/to` | a choice of this endpoint's conversations (a list message; apps without lists show quick replies or numbered text); picking one makes it current |
//! | `/to N` | makes the N-th of them current |
//! | `/leave` | leaves the current conversation (or the one of the quoted message) |
//! | `/block` | blocks the author of the quoted message, or the other member of a direct conversation, everywhere |
//! | `/stop` / `/start` | withdraws / gives the consent to cross-app messaging: nothing crosses to or from the account until `/start` |
//! | `/private` | withdraws the consents to share the profile name, phone number and username (an explicit record each): none of them crosses from the next message on, whatever the operator's sharing policies say, and the writer's label is their alias |
//! | `/public` | gives the consent to share each attribute the operator's sharing policies for the sender's app cover (on, in or after their notice window), or the profile name when none is on: it crosses from the next message on |
//! | `/new <phone number or @username>` | asks a discoverable person for a direct conversation: a request (see below); the answer is [`NOT_REACHABLE`] whatever the reason it cannot be made, so nobody can probe who uses the service |
//! | `/accept` / `/accept N` | accepts the newest (or the N-th, oldest first) request waiting at this endpoint: the requester's held messages go on |
//! | `/decline` / `/decline N` | declines it: nothing of it crosses, and the requester is not told |
//!
//! Leaving, blocking, `/stop`, `/start`, `/private`, `/public`, requests and
//! their answers are audited by the directory with the person's account as
//! the actor (`<platform>:<id> in chat`).
//!
//! # Requests
//!
//! `/new` looks the query up with `discover` (a phone number is the WhatsApp
//! account with its digits, `@name` the username index; found only with the
//! account's `discoverable` consent) and asks `request-direct` for a direct
//! conversation: the requester active through the endpoint they wrote to (and
//! current there), the target invited through their app's pool. One command
//! makes two deliveries: the answer to the requester and a notice to the
//! target through their endpoint ("… wants to talk with you. Reply /accept …").
//! Unknown, not discoverable, the requester themself, blocked either way, or
//! the target without cross-app consent: all are answered [`NOT_REACHABLE`],
//! byte for byte, and nothing else is delivered.
//!
//! Until the target accepts, the requester's messages there are held
//! (`hold-message`, see [`crate::route()`]) and nothing reaches the target.
//! `/accept` makes the target active and queues the held messages again for
//! the pipeline, and tells the requester (a notice through their endpoint);
//! `/decline` makes the target leave and drops the held messages. The
//! requester is not told of a decline: a declined request looks like an
//! unanswered one, which expires after the configured days (30 by default)
//! and then counts as declined.

use crate::{
    AnswerOutcome, ConsentScope, ConversationRecord, Delivery, Facts, Member, MemberState,
};
use directory_schema::SharedAttribute;
use switchboard_pdk::types::{
    Address, Content, Conversation, ConversationKind, Envelope, Event, FormattedText, Interactive,
    InteractiveAction, ListMenu, ListRow, ListSection, Message, MessageCategory, Participant,
};

/// The payload prefix of the rows `/to` offers.
pub const CHOICE_PREFIX: &str = "switchboard:to:";

/// Most conversations `/to` offers as rows (WhatsApp's list limit).
const MAX_ROWS: usize = 10;

/// A command from a person's chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `/help`, or a command that does not exist (its name).
    Help(Option<String>),
    /// `/who`.
    Who,
    /// `/to` with no number, or with one.
    To(Option<String>),
    /// A conversation picked from the `/to` list, by id.
    Choose(String),
    /// `/leave`.
    Leave,
    /// `/block`.
    Block,
    /// `/stop`.
    Stop,
    /// `/start`.
    Start,
    /// `/private`.
    Private,
    /// `/public`.
    Public,
    /// `/new` with what follows it (a phone number or `@username`).
    New(Option<String>),
    /// `/accept` with no number, or with one.
    Accept(Option<String>),
    /// `/decline` with no number, or with one.
    Decline(Option<String>),
}

impl Command {
    /// The command a person's message is, if it is one: a text starting with
    /// `/`, or a choice from the `/to` list. Business API messages are never
    /// commands.
    pub fn of(envelope: &Envelope) -> Option<Command> {
        if envelope.recipient.platform != envelope.platform {
            return None;
        }
        let Event::Message(message) = &envelope.event else {
            return None;
        };
        match &message.content {
            Content::Choice(choice) => choice
                .id
                .strip_prefix(CHOICE_PREFIX)
                .map(|id| Command::Choose(id.to_string())),
            Content::Text(text) => {
                let text = text.body.trim();
                let rest = text.strip_prefix('/')?;
                let mut words = rest.split_whitespace();
                let name = words.next().unwrap_or_default().to_lowercase();
                let rest: Vec<&str> = words.collect();
                let argument = rest.first().map(|word| (*word).to_string());
                let all = (!rest.is_empty()).then(|| rest.join(" "));
                Some(match name.as_str() {
                    "help" => Command::Help(None),
                    "who" => Command::Who,
                    "to" => Command::To(argument),
                    "leave" => Command::Leave,
                    "block" => Command::Block,
                    "stop" => Command::Stop,
                    "start" => Command::Start,
                    "private" => Command::Private,
                    "public" => Command::Public,
                    "new" => Command::New(all),
                    "accept" => Command::Accept(argument),
                    "decline" => Command::Decline(argument),
                    _ => Command::Help(Some(name)),
                })
            }
            _ => None,
        }
    }
}

/// The router's consent scope for a shared attribute.
fn scope_of(attribute: SharedAttribute) -> ConsentScope {
    match attribute {
        SharedAttribute::DisplayName => ConsentScope::ShareDisplayName,
        SharedAttribute::PhoneNumber => ConsentScope::SharePhoneNumber,
        SharedAttribute::Username => ConsentScope::ShareUsername,
    }
}

/// The help text.
pub const HELP: &str = "Switchboard commands:\n\
/who – who is in this conversation\n\
/to – choose the conversation your messages go to (/to 2 picks the second)\n\
/leave – leave this conversation\n\
/block – block the author of the message you quote (or the other person here), everywhere\n\
/stop – nothing more crosses to or from you; /start – resume\n\
/private – never show your name, number or username on other apps; /public – show them as the relay's notice said\n\
/new +16505551234 or /new @name – ask someone who chose to be findable for a conversation\n\
/accept, /decline – answer a request to talk (/accept 2 picks the second)\n\
Quote a message to answer in its conversation.";

/// Runs `command` from the sender of `envelope` and answers them on their
/// own app, through the endpoint they wrote to.
pub fn answer<F: Facts + ?Sized>(
    facts: &F,
    envelope: &Envelope,
    command: Command,
) -> Vec<Delivery> {
    let sender = &envelope.sender.address;
    let endpoint = envelope.recipient.id.clone();
    let at = facts.conversations_at(sender, &endpoint);
    let current = at
        .current
        .clone()
        .or_else(|| at.conversations.last().cloned())
        .and_then(|id| facts.conversation(&id));
    // The relay's notices to others that the command leads to (a request's
    // target, an accepted request's requester).
    let mut notices = Vec::new();
    let content = match command {
        Command::Help(None) => text(HELP.to_string()),
        Command::Help(Some(name)) => text(format!("There is no /{name} command.\n\n{HELP}")),
        Command::Who => match &current {
            None => text(NO_CONVERSATION.to_string()),
            Some(conversation) => text(who(conversation, sender)),
        },
        Command::To(None) => {
            let conversations: Vec<ConversationRecord> = at
                .conversations
                .iter()
                .filter_map(|id| facts.conversation(id))
                .collect();
            if conversations.is_empty() {
                text(NO_CONVERSATION.to_string())
            } else {
                choices(&conversations, sender, at.current.as_deref())
            }
        }
        Command::To(Some(number)) => {
            let chosen = number
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|index| at.conversations.get(index).cloned());
            switch(facts, sender, &endpoint, chosen)
        }
        Command::Choose(id) => switch(facts, sender, &endpoint, Some(id)),
        Command::Leave => {
            let quoted = quoted_origin(facts, envelope).map(|origin| origin.conversation_id);
            let leaving = quoted.or_else(|| current.as_ref().map(|c| c.id.clone()));
            match leaving {
                Some(id) if facts.leave(&id, sender) => {
                    text("You left the conversation: nothing more from it reaches you.".into())
                }
                _ => text(NO_CONVERSATION.to_string()),
            }
        }
        Command::Block => {
            let quoted = quoted_origin(facts, envelope).map(|origin| origin.author);
            let direct_other = current
                .as_ref()
                .filter(|conversation| conversation.kind == ConversationKind::Direct)
                .and_then(|conversation| {
                    conversation
                        .members
                        .iter()
                        .find(|member| member.account != *sender)
                        .map(|member| member.account.clone())
                });
            match quoted.or(direct_other).filter(|blocked| blocked != sender) {
                Some(blocked) => {
                    facts.block(sender, &blocked);
                    text("Blocked: nothing crosses between you and them any more, in any conversation.".into())
                }
                None => text(
                    "Quote a message of the person you want to block, then send /block.".into(),
                ),
            }
        }
        Command::Stop => {
            facts.set_consent(sender, ConsentScope::CrossAppMessaging, false);
            text(
                "Stopped: nothing crosses to or from you on other apps. Send /start to resume."
                    .into(),
            )
        }
        Command::Start => {
            facts.set_consent(sender, ConsentScope::CrossAppMessaging, true);
            text("Started: your conversations across apps are on again.".into())
        }
        Command::Private => {
            for attribute in SharedAttribute::ALL {
                facts.set_consent(sender, scope_of(attribute), false);
            }
            text(
                "Private: your profile name, phone number and username are not shown on other apps; people there see your alias. Send /public to show them."
                    .into(),
            )
        }
        Command::Public => {
            let mut shown: Vec<SharedAttribute> = SharedAttribute::ALL
                .into_iter()
                .filter(|attribute| {
                    facts
                        .sharing_effective_at(&sender.platform, scope_of(*attribute))
                        .is_some()
                })
                .collect();
            if shown.is_empty() {
                shown.push(SharedAttribute::DisplayName);
            }
            for attribute in &shown {
                facts.set_consent(sender, scope_of(*attribute), true);
            }
            let words: Vec<&str> = shown.iter().map(|attribute| attribute.in_words()).collect();
            text(format!(
                "Public: your {} is shown to the people you talk with on other apps. Send /private to hide it.",
                words.join(" and ")
            ))
        }
        Command::New(None) => text(NEW_USAGE.to_string()),
        Command::New(Some(query)) => {
            if facts.has_consent(sender, ConsentScope::CrossAppMessaging) {
                text(new_request(facts, envelope, &query, &mut notices))
            } else {
                text(
                    "You have stopped cross-app messaging: send /start first, then /new again."
                        .into(),
                )
            }
        }
        Command::Accept(number) => {
            let requests = waiting_requests(facts, sender, &at.conversations);
            text(match pick(&requests, number.as_deref()) {
                None => NO_REQUEST.to_string(),
                Some(conversation) => match facts.accept_request(&conversation.id, sender) {
                    AnswerOutcome::Done => {
                        let accepted = facts
                            .conversation(&conversation.id)
                            .unwrap_or_else(|| conversation.clone());
                        let me = accepted.members.iter().find(|m| m.account == *sender);
                        let requester = accepted
                            .members
                            .iter()
                            .find(|m| m.account != *sender && m.state == MemberState::Active);
                        if let (Some(me), Some(requester)) = (me, requester) {
                            notices.push(notice(
                                envelope,
                                &accepted,
                                requester,
                                "accepted",
                                format!(
                                    "{} accepted your request: your messages are on their way.",
                                    me.alias
                                ),
                            ));
                        }
                        format!(
                            "Accepted: you are now talking with {}.",
                            name_for(&accepted, sender)
                        )
                    }
                    AnswerOutcome::Expired => EXPIRED.to_string(),
                    AnswerOutcome::NoRequest => NO_REQUEST.to_string(),
                },
            })
        }
        Command::Decline(number) => {
            let requests = waiting_requests(facts, sender, &at.conversations);
            text(match pick(&requests, number.as_deref()) {
                None => NO_REQUEST.to_string(),
                Some(conversation) => match facts.decline_request(&conversation.id, sender) {
                    AnswerOutcome::Done => format!(
                        "Declined: nothing from {} reaches you.",
                        name_for(conversation, sender)
                    ),
                    AnswerOutcome::Expired => EXPIRED.to_string(),
                    AnswerOutcome::NoRequest => NO_REQUEST.to_string(),
                },
            })
        }
    };
    let mut deliveries = vec![Delivery {
        platform: envelope.platform.clone(),
        recipient: sender.clone(),
        endpoint: endpoint.clone(),
        envelope: Envelope {
            id: format!("{}:answer", envelope.id),
            platform: envelope.platform.clone(),
            native_id: None,
            conversation: envelope.conversation.clone(),
            sender: Participant {
                address: Address {
                    platform: envelope.platform.clone(),
                    id: endpoint,
                },
                attributes: Vec::new(),
            },
            recipient: sender.clone(),
            timestamp_ms: envelope.timestamp_ms,
            event: Event::Message(Message {
                content,
                reply_to: None,
                forwarded: None,
                story: None,
                category: MessageCategory::Service,
            }),
            echo: false,
            extras: Vec::new(),
        },
    }];
    deliveries.extend(notices);
    deliveries
}

/// The answer to `/new` for anything that cannot be asked: unknown, not
/// discoverable, the sender themself, blocked either way, no consent. The
/// same text whatever the reason, so that nobody can probe who uses the
/// service.
pub const NOT_REACHABLE: &str = "No one who can be reached that way.";

/// The answer to `/new` without a query.
const NEW_USAGE: &str = "Send /new and a phone number with its country code (/new +16505551234) or a username (/new @name).";

const NO_REQUEST: &str = "You have no request to answer here.";

const EXPIRED: &str = "That request has expired: nothing of it reaches you.";

/// Makes the request `/new <query>` asks for, pushes the notice to its target
/// and answers the text for the requester.
fn new_request<F: Facts + ?Sized>(
    facts: &F,
    envelope: &Envelope,
    query: &str,
    notices: &mut Vec<Delivery>,
) -> String {
    let sender = &envelope.sender.address;
    let made = facts
        .discover(query)
        .filter(|target| target != sender)
        .and_then(|target| {
            let id = facts.request_direct(sender, &envelope.recipient.id, &target)?;
            facts.conversation(&id)
        });
    let Some(conversation) = made else {
        return NOT_REACHABLE.to_string();
    };
    let me = conversation.members.iter().find(|m| m.account == *sender);
    let target = conversation.members.iter().find(|m| m.account != *sender);
    let (Some(me), Some(target)) = (me, target) else {
        return NOT_REACHABLE.to_string();
    };
    notices.push(notice(
        envelope,
        &conversation,
        target,
        "request",
        format!(
            "{} wants to talk with you. Reply /accept to accept or /decline to decline.",
            me.alias
        ),
    ));
    format!(
        "Request sent to {}. Your first message will reach them when they accept.",
        target.alias
    )
}

/// The conversations at this endpoint in which `sender` is invited by a
/// request, oldest first.
fn waiting_requests<F: Facts + ?Sized>(
    facts: &F,
    sender: &Address,
    conversations: &[String],
) -> Vec<ConversationRecord> {
    conversations
        .iter()
        .filter_map(|id| facts.conversation(id))
        .filter(|conversation| {
            conversation
                .members
                .iter()
                .any(|member| member.account == *sender && member.state == MemberState::Invited)
        })
        .filter(|conversation| {
            facts
                .request_of(&conversation.id)
                .is_some_and(|request| request.target == *sender)
        })
        .collect()
}

/// The newest request, or the N-th (from 1, oldest first).
fn pick<'a>(
    requests: &'a [ConversationRecord],
    number: Option<&str>,
) -> Option<&'a ConversationRecord> {
    match number {
        None => requests.last(),
        Some(number) => number
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|index| requests.get(index)),
    }
}

/// A notice from the relay to `to`, a member of `conversation` other than
/// the command's sender, through their endpoint; its id is the command's
/// with `:<suffix>`.
fn notice(
    envelope: &Envelope,
    conversation: &ConversationRecord,
    to: &Member,
    suffix: &str,
    body: String,
) -> Delivery {
    let platform = to.account.platform.clone();
    Delivery {
        platform: platform.clone(),
        recipient: to.account.clone(),
        endpoint: to.endpoint.clone(),
        envelope: Envelope {
            id: format!("{}:{suffix}", envelope.id),
            platform: platform.clone(),
            native_id: None,
            conversation: Conversation {
                kind: ConversationKind::Direct,
                id: conversation.id.clone(),
            },
            sender: Participant {
                address: Address {
                    platform,
                    id: to.endpoint.clone(),
                },
                attributes: Vec::new(),
            },
            recipient: to.account.clone(),
            timestamp_ms: envelope.timestamp_ms,
            event: Event::Message(Message {
                content: text(body),
                reply_to: None,
                forwarded: None,
                story: None,
                category: MessageCategory::Service,
            }),
            echo: false,
            extras: Vec::new(),
        },
    }
}

const NO_CONVERSATION: &str =
    "You are in no conversation here yet. Ask the person who runs this service to start one.";

fn text(body: String) -> Content {
    Content::Text(FormattedText {
        body,
        spans: Vec::new(),
    })
}

/// Where the message the command quotes was written, if it quotes one.
fn quoted_origin<F: Facts + ?Sized>(
    facts: &F,
    envelope: &Envelope,
) -> Option<crate::MessageOrigin> {
    let Event::Message(message) = &envelope.event else {
        return None;
    };
    let reference = message.reply_to.as_ref()?;
    let canonical = facts.canonical_id(&reference.platform, &reference.native_id)?;
    facts.origin_of(&canonical)
}

/// How a conversation is named to one of its members: its title, else the
/// other member's alias (direct, invited or active), else its size.
pub fn name_for(conversation: &ConversationRecord, reader: &Address) -> String {
    if let Some(title) = &conversation.title {
        return title.clone();
    }
    let others: Vec<&str> = conversation
        .members
        .iter()
        .filter(|member| member.account != *reader && member.state != MemberState::Left)
        .map(|member| member.alias.as_str())
        .collect();
    match (conversation.kind, others.as_slice()) {
        (ConversationKind::Direct, [other]) => (*other).to_string(),
        _ => format!("Group of {}", others.len() + 1),
    }
}

fn who(conversation: &ConversationRecord, reader: &Address) -> String {
    let mut lines = vec![format!("{}:", name_for(conversation, reader))];
    for member in &conversation.members {
        let state = match member.state {
            MemberState::Active => "",
            MemberState::Invited => " (invited)",
            MemberState::Left => continue,
        };
        let you = if member.account == *reader {
            " (you)"
        } else {
            ""
        };
        lines.push(format!("• {}{you}{state}", member.alias));
    }
    lines.join("\n")
}

fn choices(
    conversations: &[ConversationRecord],
    reader: &Address,
    current: Option<&str>,
) -> Content {
    let rows = conversations
        .iter()
        .take(MAX_ROWS)
        .map(|conversation| ListRow {
            id: format!("{CHOICE_PREFIX}{}", conversation.id),
            title: truncate(&name_for(conversation, reader), 24),
            description: (current == Some(conversation.id.as_str())).then(|| "current".to_string()),
        })
        .collect();
    Content::Interactive(Interactive {
        header: None,
        body: FormattedText {
            body: "Where should your messages go? (or send /to and a number)".into(),
            spans: Vec::new(),
        },
        footer: None,
        action: InteractiveAction::List(ListMenu {
            button_label: "Conversations".into(),
            sections: vec![ListSection { title: None, rows }],
        }),
    })
}

/// `text` cut to at most `limit` characters (WhatsApp's list row title limit).
fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(limit - 1).collect();
    cut.push('…');
    cut
}

fn switch<F: Facts + ?Sized>(
    facts: &F,
    sender: &Address,
    endpoint: &str,
    chosen: Option<String>,
) -> Content {
    match chosen {
        Some(id) if facts.set_current(sender, endpoint, &id) => {
            let name = facts
                .conversation(&id)
                .map(|conversation| name_for(&conversation, sender))
                .unwrap_or_default();
            text(format!("Your messages now go to: {name}."))
        }
        _ => text("There is no such conversation here. Send /to to see yours.".into()),
    }
}
