//! Reply windows: the apps' rule that an endpoint may send a person
//! free-form messages only within a while of that person's last message to
//! it (24 hours on WhatsApp, Messenger and Instagram; the rules, their
//! sources and the defaults are in [`crate::config::default_reply_window_ms`]).
//!
//! ```text
//! inbound message from P at endpoint E ──▶ seen:<P>:<E> = its time
//!                                      └─▶ waiting:<P>:<E>:… ─▶ outbox (released)
//! delivery to P from E, window closed ──▶ waiting:<P>:<E>:<id> (parked)
//!                                      └─▶ once: the app's re-engagement form
//! ```
//!
//! * The window opens at the person's message as the **platform** stamped it
//!   (never later than the host's clock; the host's clock when the platform
//!   gave no time): the platform measures its window from there, so a
//!   webhook that arrives late must not stretch it.
//! * Only a person's own message to the endpoint opens it: not an echo,
//!   a receipt, typing, or what the business API sent.
//! * A delivery to a person whose window at its endpoint is closed (never
//!   opened, or older than the window) is parked, its encoded outbox entry
//!   under `waiting:` in the routing pass's transaction. The first one parked
//!   for that person at that endpoint (nothing else waiting) also queues the
//!   app's re-engagement form when it has one (a WhatsApp template); later
//!   ones only wait. Receipts and typing are not parked (they would be stale
//!   by the time the person answers): they are refused, `reply-window-closed`.
//! * When the person writes to the endpoint again, everything waiting for
//!   them there moves to the outbox in the same transaction, oldest first.
//! * Whatever goes back to the person who just wrote (a command's answer) is
//!   never parked: their window opened with the message being routed, and
//!   `seen` is recorded before any delivery of it is judged. "Not delivered"
//!   notices do not pass through here at all.
//! * Parked entries expire after `retention.waiting_ms` (the sweeper), so a
//!   person who never answers does not grow the store.
//!
//! A pass keeps what it recorded and parked in memory ([`WindowPass`]) until
//! it commits, so that an envelope later in the same pass sees them.

use crate::bindings::types::{
    Address, Content, Envelope, Event, FormattedText, Message, MessageCategory, Participant,
    SpanStyle, Template, TemplateParameter,
};
use crate::config::{HostConfig, ReengagementConfig};
use crate::outbox::{OutboxEntry, Queued};
use anyhow::Result;
use directory_schema::{Account, seen_key, waiting_key, waiting_prefix};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use switchboard_runtime::key_value::{Change, EmbeddedStore};

/// The refusal reason of an event that cannot wait for a window (a receipt,
/// typing).
pub const WINDOW_CLOSED: &str = "reply-window-closed";

/// Most parked entries read for one person at one endpoint in one pass.
const RELEASE_PAGE: usize = 4096;

/// What `seen:<account>:<endpoint>` holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Seen {
    /// When the account last wrote to the endpoint (ms since the epoch).
    pub at_ms: u64,
}

/// The directory account of an address.
fn account(address: &Address) -> Account {
    Account {
        platform: address.platform.clone(),
        id: address.id.clone(),
    }
}

/// Whether `envelope` is a person's own message to one of the relay's
/// endpoints on their app: what opens their window there.
pub fn opens_window(envelope: &Envelope) -> bool {
    !envelope.echo
        && matches!(envelope.event, Event::Message(_))
        && envelope.recipient.platform == envelope.platform
        && envelope.sender.address.platform == envelope.platform
        && !directory_schema::is_api_envelope(&envelope.id)
}

/// Whether a delivery of `event` may wait for a window: what still means
/// something when the person answers (not a receipt or typing).
pub fn may_wait(event: &Event) -> bool {
    !matches!(event, Event::Receipt(_) | Event::Typing(_))
}

/// Whether a window of `window_ms` that opened at `seen_ms` (if ever) is
/// open at `now_ms`; a window of 0 is no rule, always open.
pub fn is_open(window_ms: u64, seen_ms: Option<u64>, now_ms: u64) -> bool {
    window_ms == 0 || seen_ms.is_some_and(|at| now_ms.saturating_sub(at) < window_ms)
}

/// When a message stamped `timestamp_ms` by its platform opened a window,
/// at `now_ms` on the host's clock: the platform's time, never in the future,
/// the host's when the platform gave none.
pub fn opened_at(timestamp_ms: u64, now_ms: u64) -> u64 {
    if timestamp_ms == 0 {
        now_ms
    } else {
        timestamp_ms.min(now_ms)
    }
}

/// The label of whoever wrote a delivery's text: the bold first line the
/// router puts before it (`components/router/src/route.rs`, `attributed`),
/// else `fallback`.
pub fn writer_label(envelope: &Envelope, fallback: &str) -> String {
    let text = match &envelope.event {
        Event::Message(Message { content, .. }) => match content {
            Content::Text(text) => Some(text),
            Content::Media(media) => media.caption.as_ref(),
            Content::Interactive(interactive) => Some(&interactive.body),
            _ => None,
        },
        _ => None,
    };
    let label = text.and_then(|text| label_line(text)).unwrap_or(fallback);
    // A template parameter may not hold new lines, tabs or runs of spaces.
    label.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn label_line(text: &FormattedText) -> Option<&str> {
    let first = text.body.split('\n').next()?;
    let length = u32::try_from(first.chars().count()).ok()?;
    let bold = text
        .spans
        .iter()
        .any(|span| span.start == 0 && span.end == length && span.style == SpanStyle::Bold);
    (bold && !first.trim().is_empty()).then_some(first)
}

/// The re-engagement envelope for `recipient` from the relay's `endpoint`:
/// `template` with the writer's `label` as its one body parameter.
pub fn reengagement(
    id: &str,
    template: &ReengagementConfig,
    label: &str,
    endpoint: &str,
    recipient: &Address,
    conversation: &crate::bindings::types::Conversation,
    now_ms: u64,
) -> Envelope {
    Envelope {
        id: id.to_string(),
        platform: recipient.platform.clone(),
        native_id: None,
        conversation: conversation.clone(),
        sender: Participant {
            address: Address {
                platform: recipient.platform.clone(),
                id: endpoint.to_string(),
            },
            attributes: Vec::new(),
        },
        recipient: recipient.clone(),
        timestamp_ms: now_ms,
        event: Event::Message(Message {
            content: Content::Template(Template {
                name: template.template.clone(),
                language: template.language.clone(),
                parameters: vec![TemplateParameter {
                    component: "body".into(),
                    value: label.to_string(),
                }],
                fallback_text: Some(format!("New message from {label} — reply to read it")),
            }),
            reply_to: None,
            forwarded: None,
            story: None,
            category: MessageCategory::Service,
        }),
        echo: false,
        extras: Vec::new(),
    }
}

/// What one routing pass knows of windows beyond the store: the `seen`
/// times it recorded, the entries it parked and the ones it released, all
/// committed with the pass. Cloned before each envelope and put back when
/// that envelope is not settled (held, tried again), so that only settled
/// envelopes leave a trace.
#[derive(Clone)]
pub struct WindowPass<'a> {
    store: &'a EmbeddedStore,
    config: &'a HostConfig,
    now_ms: u64,
    seen: HashMap<String, u64>,
    parked: BTreeMap<String, OutboxEntry>,
    released: BTreeSet<String>,
}

/// What an envelope that opened a window changes: its `seen` record, and the
/// entries it released (their removal from `waiting:`, and the entries to
/// hand to the senders).
#[derive(Default)]
pub struct Opened {
    /// Changes to commit with the envelope.
    pub changes: Vec<Change>,
    /// The released entries, oldest first.
    pub released: Vec<Queued>,
}

/// A delivery parked by [`WindowPass::park`].
pub struct Parked {
    /// Its `waiting:` key.
    pub key: String,
    /// The change that stores it.
    pub change: Change,
    /// Whether nothing else was waiting for that person at that endpoint:
    /// the re-engagement form goes with this one.
    pub first: bool,
}

impl<'a> WindowPass<'a> {
    /// A pass over `store` at `now_ms` with `config`'s windows.
    pub fn new(store: &'a EmbeddedStore, config: &'a HostConfig, now_ms: u64) -> WindowPass<'a> {
        WindowPass {
            store,
            config,
            now_ms,
            seen: HashMap::new(),
            parked: BTreeMap::new(),
            released: BTreeSet::new(),
        }
    }

    /// Records that `envelope` opened its sender's window at the endpoint it
    /// was sent to (when it is a person's message) and releases what waited
    /// for them there. Nothing for any other envelope.
    pub fn opened(&mut self, envelope: &Envelope) -> Result<Opened> {
        if !opens_window(envelope) {
            return Ok(Opened::default());
        }
        let sender = account(&envelope.sender.address);
        let endpoint = &envelope.recipient.id;
        let mut opened = Opened::default();
        if self.config.reply_window_ms(&envelope.platform) > 0 {
            let at_ms = opened_at(envelope.timestamp_ms, self.now_ms);
            let key = seen_key(&sender, endpoint);
            let later = self.seen_ms(&key)?.is_none_or(|seen| seen < at_ms);
            if later {
                self.seen.insert(key.clone(), at_ms);
                opened
                    .changes
                    .push(Change::Set(key, serde_json::to_vec(&Seen { at_ms })?));
            }
        }
        // Whatever waits is released even when the rule is off now.
        let prefix = waiting_prefix(&sender, endpoint);
        let mut waiting: Vec<(String, OutboxEntry)> = Vec::new();
        for (key, value) in self.store.scan_prefix(&prefix, RELEASE_PAGE)? {
            if self.released.contains(&key) || self.parked.contains_key(&key) {
                continue;
            }
            match serde_json::from_slice::<OutboxEntry>(&value) {
                Ok(entry) => waiting.push((key, entry)),
                Err(error) => {
                    tracing::warn!(%error, "an unreadable parked delivery dropped");
                    opened.changes.push(Change::Delete(key));
                }
            }
        }
        let parked_here: Vec<String> = self
            .parked
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, _)| key.clone())
            .collect();
        for key in parked_here {
            if let Some(entry) = self.parked.remove(&key) {
                waiting.push((key, entry));
            }
        }
        waiting.sort_by(|(a_key, a), (b_key, b)| (a.created_ms, a_key).cmp(&(b.created_ms, b_key)));
        for (key, mut entry) in waiting {
            entry.next_at_ms = self.now_ms;
            opened.changes.push(Change::Delete(key.clone()));
            self.released.insert(key);
            opened.released.push(entry.queued());
        }
        Ok(opened)
    }

    /// Whether `recipient`'s window at the relay's `endpoint` is open now.
    pub fn is_open(&self, recipient: &Address, endpoint: &str) -> Result<bool> {
        let window_ms = self.config.reply_window_ms(&recipient.platform);
        if window_ms == 0 {
            return Ok(true);
        }
        let seen = self.seen_ms(&seen_key(&account(recipient), endpoint))?;
        Ok(is_open(window_ms, seen, self.now_ms))
    }

    /// Parks `entry`, a delivery to its recipient from the relay's
    /// `endpoint`, until they write there again.
    pub fn park(&mut self, entry: OutboxEntry, endpoint: &str) -> Result<Parked> {
        let recipient = Account {
            platform: entry.platform.clone(),
            id: entry.recipient.clone(),
        };
        let prefix = waiting_prefix(&recipient, endpoint);
        let key = waiting_key(&recipient, endpoint, &entry.envelope_id);
        let in_pass = self
            .parked
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(parked, _)| parked.starts_with(&prefix));
        let stored = self
            .store
            .scan_prefix(&prefix, self.released.len() + 1)?
            .into_iter()
            .any(|(stored, _)| !self.released.contains(&stored));
        let change = Change::Set(key.clone(), serde_json::to_vec(&entry)?);
        self.parked.insert(key.clone(), entry);
        Ok(Parked {
            key,
            change,
            first: !in_pass && !stored,
        })
    }

    /// The re-engagement template of `platform`, if it has one.
    pub fn reengagement(&self, platform: &str) -> Option<ReengagementConfig> {
        self.config.reengagement(platform)
    }

    fn seen_ms(&self, key: &str) -> Result<Option<u64>> {
        if let Some(at) = self.seen.get(key) {
            return Ok(Some(*at));
        }
        Ok(self
            .store
            .get(key)?
            .and_then(|value| serde_json::from_slice::<Seen>(&value).ok())
            .map(|seen| seen.at_ms))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::bindings::types::Span;

    const DAY_MS: u64 = 24 * 60 * 60 * 1000;

    #[test]
    fn a_window_is_open_for_a_day_after_the_last_message_only() {
        let now = 10 * DAY_MS;
        assert!(!is_open(DAY_MS, None, now), "never wrote");
        assert!(is_open(DAY_MS, Some(now - DAY_MS + 1), now));
        assert!(!is_open(DAY_MS, Some(now - DAY_MS), now), "exactly a day");
        assert!(!is_open(DAY_MS, Some(now - 2 * DAY_MS), now));
        assert!(is_open(0, None, now), "no rule");
    }

    #[test]
    fn a_window_opens_at_the_platforms_time_never_in_the_future() {
        assert_eq!(opened_at(1_000, 5_000), 1_000);
        assert_eq!(opened_at(9_000, 5_000), 5_000);
        assert_eq!(opened_at(0, 5_000), 5_000);
    }

    #[test]
    fn the_label_is_the_bold_first_line_of_the_text() {
        let text = |body: &str, end: u32| {
            Content::Text(FormattedText {
                body: body.into(),
                spans: vec![Span {
                    start: 0,
                    end,
                    style: SpanStyle::Bold,
                }],
            })
        };
        let mut envelope = crate::outbox::tests::envelope("x");
        let Event::Message(message) = &mut envelope.event else {
            unreachable!()
        };
        message.content = text("Bob · Messenger\nhello", 15);
        assert_eq!(writer_label(&envelope, "someone"), "Bob · Messenger");
        let Event::Message(message) = &mut envelope.event else {
            unreachable!()
        };
        message.content = text("hello\nthere", 2);
        assert_eq!(writer_label(&envelope, "someone"), "someone");
    }
}
