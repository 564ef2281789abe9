//! The durable outbox: deliveries waiting to be sent, kept in the store
//! (`outbox:<envelope id>:<platform>:<recipient>`) and scheduled from memory.
//!
//! The store is the truth and the queue only schedules: an entry is written
//! (in the same transaction as whatever led to it) before it is queued, and a
//! restart queues again everything the store holds. An entry ends delivered,
//! dead-lettered or dropped, each under its own key
//! ([`directory_schema::ended_key`]).

use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::plugins::translator::Encoded;
use crate::plugins::translator::types::Address;
use crate::redact::digest;
use anyhow::Result;
use directory_schema::{EndedDelivery, OUTBOX_PREFIX, ended_key, outbox_key};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use switchboard_runtime::key_value::{Change, EmbeddedStore};
use tokio::sync::mpsc;

/// A delivery waiting in the outbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The canonical id of the envelope delivered.
    pub envelope_id: String,
    /// The target platform.
    pub platform: String,
    /// The recipient's id on the target platform.
    pub recipient: String,
    /// The requests, as the target's translator encoded them.
    pub encoded: Encoded,
    /// How many of the requests the platform has accepted.
    pub sent: usize,
    /// The native ids the accepted requests got.
    pub native_ids: Vec<String>,
    /// Failed tries so far.
    pub attempts: u32,
    /// Not to be tried before this time (ms since the epoch).
    pub next_at_ms: u64,
    /// When the envelope was routed (for the latency histogram).
    pub created_ms: u64,
    /// Why the last try failed.
    pub last_error: Option<String>,
    /// For a delivery a hook checks and fills in at send time (a story
    /// step): the hook's name and its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<HookState>,
}

/// What a delivery hook keeps on an outbox entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HookState {
    /// The hook that handles the entry (`story`).
    pub name: String,
    /// The hook's own state, in its own shape.
    pub state: serde_json::Value,
}

impl OutboxEntry {
    /// A delivery of `encoded` to `recipient`, due at once.
    pub fn new(envelope_id: &str, recipient: &Address, encoded: Encoded, now: u64) -> OutboxEntry {
        OutboxEntry {
            envelope_id: envelope_id.to_string(),
            platform: recipient.platform.clone(),
            recipient: recipient.id.clone(),
            encoded,
            sent: 0,
            native_ids: Vec::new(),
            attempts: 0,
            next_at_ms: now,
            created_ms: now,
            last_error: None,
            hook: None,
        }
    }

    /// Its key in the store.
    pub fn key(&self) -> String {
        outbox_key(&self.envelope_id, &self.platform, &self.recipient)
    }

    /// The entry with its key, ready to queue.
    pub fn queued(self) -> Queued {
        Queued {
            key: self.key(),
            entry: self,
        }
    }
}

/// An outbox entry on its way to a sender, with its key.
pub struct Queued {
    /// Its key in the store.
    pub key: String,
    /// The entry.
    pub entry: OutboxEntry,
}

/// The outbox of a running pipeline.
pub struct Outbox {
    store: Arc<EmbeddedStore>,
    metrics: Arc<Metrics>,
    queue: mpsc::UnboundedSender<Queued>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Queued>>>,
}

impl Outbox {
    /// An outbox over `store`, counting dead letters in `metrics`.
    pub fn new(store: Arc<EmbeddedStore>, metrics: Arc<Metrics>) -> Outbox {
        let (queue, receiver) = mpsc::unbounded_channel();
        Outbox {
            store,
            metrics,
            queue,
            receiver: Mutex::new(Some(receiver)),
        }
    }

    /// The store the outbox lives in (the manifest's `default` store).
    pub fn store(&self) -> &Arc<EmbeddedStore> {
        &self.store
    }

    /// The receiving end of the queue, for the one sender loop.
    pub fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<Queued>> {
        self.receiver
            .lock()
            .ok()
            .and_then(|mut receiver| receiver.take())
    }

    /// Hands a stored entry to the senders.
    pub fn queue(&self, queued: Queued) {
        // The receiver lives as long as the pipeline runs.
        let _ = self.queue.send(queued);
    }

    /// The changes that store `entries`.
    pub fn changes(entries: &[Queued]) -> Result<Vec<Change>> {
        entries
            .iter()
            .map(|Queued { key, entry }| Ok(Change::Set(key.clone(), serde_json::to_vec(entry)?)))
            .collect()
    }

    /// Commits `changes` with `entries` in one transaction, then hands the
    /// entries to the senders: how work that does not come through the inbox
    /// (story publishing) joins the durable outbox.
    pub fn enqueue(&self, mut changes: Vec<Change>, entries: Vec<Queued>) -> Result<()> {
        changes.extend(Outbox::changes(&entries)?);
        self.store.apply(&changes)?;
        entries.into_iter().for_each(|entry| self.queue(entry));
        Ok(())
    }

    /// Queues every entry the outbox holds (at start-up); an entry that cannot
    /// be read is dead-lettered with the reason.
    pub fn resume(&self) -> Result<()> {
        for (key, value) in self.store.scan_prefix(OUTBOX_PREFIX, usize::MAX)? {
            match serde_json::from_slice::<OutboxEntry>(&value) {
                Ok(entry) => self.queue(Queued { key, entry }),
                Err(error) => {
                    let entry = serde_json::Value::String(String::from_utf8_lossy(&value).into());
                    let reason = format!("unreadable outbox entry: {error}");
                    self.dead_letter(&key, entry, &reason, "unknown")?;
                }
            }
        }
        Ok(())
    }

    /// Ends an entry the senders gave up on, keeping it and the reason under
    /// `deadletter:…`.
    pub fn dead_letter(
        &self,
        key: &str,
        entry: serde_json::Value,
        reason: &str,
        platform: &str,
    ) -> Result<()> {
        tracing::warn!(key = %digest(key), %platform, "dead-lettered");
        Metrics::platform(&self.metrics.dead_letters, platform).inc();
        self.end(key, EndedDelivery::DeadLetter, entry, reason)
    }

    /// Ends an entry that must not be sent any more (a story that expired or
    /// was deleted), recording why under `dropped:…`.
    pub fn drop_entry(&self, key: &str, entry: &OutboxEntry, reason: &str) -> Result<()> {
        tracing::info!(key = %digest(key), %reason, "dropped");
        self.metrics.reject("story-dropped");
        self.end(
            key,
            EndedDelivery::Dropped,
            serde_json::to_value(entry)?,
            reason,
        )
    }

    fn end(
        &self,
        key: &str,
        state: EndedDelivery,
        entry: serde_json::Value,
        reason: &str,
    ) -> Result<()> {
        let record = serde_json::json!({ "reason": reason, "entry": entry, "at_ms": now_ms() });
        self.store.apply(&[
            Change::Delete(key.to_string()),
            Change::Set(ended_key(state, key), record.to_string().into_bytes()),
        ])
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::bindings::types::{
        Content, Conversation, ConversationKind, Envelope, Event, FormattedText, Message,
        MessageCategory, Participant,
    };
    use crate::plugins::translator::{HttpMethod, SendRequest};
    use switchboard_runtime::key_value::KeyValueStores;

    /// An address, for tests.
    pub(crate) fn address(platform: &str, id: &str) -> Address {
        Address {
            platform: platform.into(),
            id: id.into(),
        }
    }

    /// A text message from Alice on WhatsApp to the relay, for tests.
    pub(crate) fn envelope(id: &str) -> Envelope {
        Envelope {
            id: id.into(),
            platform: "whatsapp".into(),
            native_id: Some("wamid.1".into()),
            conversation: Conversation {
                kind: ConversationKind::Direct,
                id: "alice".into(),
            },
            sender: Participant {
                address: address("whatsapp", "alice"),
                attributes: Vec::new(),
            },
            recipient: address("whatsapp", "relay"),
            timestamp_ms: 1,
            event: Event::Message(Message {
                content: Content::Text(FormattedText {
                    body: "hi".into(),
                    spans: Vec::new(),
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

    /// The `default` store in a fresh directory.
    pub(crate) fn scratch_store(name: &str) -> Arc<EmbeddedStore> {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-pipeline-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        KeyValueStores::open(None, &dir)
            .unwrap()
            .get("default")
            .unwrap()
    }

    fn entry(recipient: &str) -> OutboxEntry {
        let encoded = Encoded {
            requests: vec![SendRequest {
                method: HttpMethod::Post,
                path: "/send".into(),
                headers: Vec::new(),
                body: b"{}".to_vec(),
            }],
            degradations: Vec::new(),
        };
        let to = Address {
            platform: "messenger".into(),
            id: recipient.into(),
        };
        OutboxEntry::new("whatsapp:wamid.1", &to, encoded, 1)
    }

    #[test]
    fn a_restart_queues_what_the_store_holds_and_dead_letters_the_unreadable() {
        let store = scratch_store("resume");
        let metrics = Arc::new(Metrics::new());
        let first = Outbox::new(store.clone(), metrics.clone());
        first
            .enqueue(
                Vec::new(),
                vec![entry("bob").queued(), entry("carol").queued()],
            )
            .unwrap();
        store
            .apply(&[Change::Set("outbox:broken".into(), b"not json".to_vec())])
            .unwrap();

        // A new outbox over the same store, as after a restart.
        let restarted = Outbox::new(store.clone(), metrics);
        let mut receiver = restarted.take_receiver().unwrap();
        assert!(restarted.take_receiver().is_none(), "one sender loop only");
        restarted.resume().unwrap();
        let mut queued = Vec::new();
        while let Ok(next) = receiver.try_recv() {
            queued.push(next.entry.recipient);
        }
        queued.sort();
        assert_eq!(queued, ["bob", "carol"]);
        assert!(store.get("outbox:broken").unwrap().is_none());
        let dead = store.get("deadletter:broken").unwrap().unwrap();
        let dead: serde_json::Value = serde_json::from_slice(&dead).unwrap();
        assert!(
            dead["reason"]
                .as_str()
                .unwrap()
                .starts_with("unreadable outbox entry")
        );
    }

    #[test]
    fn a_dropped_entry_leaves_the_outbox_with_its_reason() {
        let store = scratch_store("drop");
        let outbox = Outbox::new(store.clone(), Arc::new(Metrics::new()));
        let bob = entry("bob");
        let key = bob.key();
        outbox
            .enqueue(Vec::new(), vec![bob.clone().queued()])
            .unwrap();
        assert!(store.get(&key).unwrap().is_some());
        outbox.drop_entry(&key, &bob, "expired").unwrap();
        assert!(store.get(&key).unwrap().is_none());
        let dropped = store
            .get("dropped:whatsapp:wamid.1:messenger:bob")
            .unwrap()
            .unwrap();
        let dropped: serde_json::Value = serde_json::from_slice(&dropped).unwrap();
        assert_eq!(dropped["reason"], "expired");
        assert_eq!(dropped["entry"]["recipient"], "bob");
    }
}
