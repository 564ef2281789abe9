//! The sweeper: removes records past their retention ([`RetentionConfig`]),
//! in the background, a page at a time, so that the store stays bounded.
//!
//! | prefix | kept for | judged by |
//! |---|---|---|
//! | `delivered:` | `delivered_ms` | its `at_ms` |
//! | `deadletter:` | `dead_letters_ms` | its `at_ms` |
//! | `dropped:` | `dropped_ms` | its `at_ms` |
//! | `status:` | `statuses_ms` | its `at_ms` |
//! | `envelope:` | `envelopes_ms` | the event's `timestamp_ms`; its message maps go with it: `message:<id>` (its conversation and author), `canonical:<id>:…` (the native id of each copy) and the `native:…` entry of each of those copies and of the original, so a reply to a message older than that no longer maps |
//! | `waiting:` | `waiting_ms` | its `created_ms` (when it was routed; a reply window that never reopened) |
//! | `seen:` | `seen_ms` | its `at_ms` |
//! | `rejected:` | `rejected_ms` | the `at_ms` of its `…:error` record (body and record go together) |
//!
//! The inbox and the outbox are work still to do and are never swept. A
//! record without its time (written before records carried one) is kept.

use crate::config::RetentionConfig;
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;
use switchboard_runtime::key_value::{Change, EmbeddedStore};

/// Keys read per page.
const PAGE: usize = 512;

const ENVELOPE_PREFIX: &str = "envelope:";

/// Most copies of one message whose maps a sweep removes with it: a group's
/// largest size, with room for notices and answers.
const MAX_COPIES: usize = 1024;

/// One kind of record and how its age is read.
struct Kind {
    prefix: &'static str,
    /// The JSON member holding the record's time.
    time_field: &'static str,
    retention_ms: fn(&RetentionConfig) -> u64,
}

const KINDS: &[Kind] = &[
    Kind {
        prefix: "delivered:",
        time_field: "at_ms",
        retention_ms: |config| config.delivered_ms,
    },
    Kind {
        prefix: "deadletter:",
        time_field: "at_ms",
        retention_ms: |config| config.dead_letters_ms,
    },
    Kind {
        prefix: "dropped:",
        time_field: "at_ms",
        retention_ms: |config| config.dropped_ms,
    },
    Kind {
        prefix: "status:",
        time_field: "at_ms",
        retention_ms: |config| config.statuses_ms,
    },
    Kind {
        prefix: "waiting:",
        time_field: "created_ms",
        retention_ms: |config| config.waiting_ms,
    },
    Kind {
        prefix: "seen:",
        time_field: "at_ms",
        retention_ms: |config| config.seen_ms,
    },
];

/// The sweeper of one store.
pub struct Sweeper {
    store: Arc<EmbeddedStore>,
    config: RetentionConfig,
}

impl Sweeper {
    /// A sweeper of `store` with `config`'s retentions.
    pub fn new(store: Arc<EmbeddedStore>, config: RetentionConfig) -> Sweeper {
        Sweeper { store, config }
    }

    /// Sweeps every `sweep_interval_ms` until the process stops.
    pub async fn run(self: Arc<Self>) {
        let interval = Duration::from_millis(self.config.sweep_interval_ms.max(1_000));
        loop {
            tokio::time::sleep(interval).await;
            let sweeper = self.clone();
            let now = crate::clock::now_ms();
            match tokio::task::spawn_blocking(move || sweeper.sweep(now)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(removed)) => tracing::info!(removed, "expired records removed"),
                Ok(Err(error)) => {
                    tracing::warn!(error = %format!("{error:#}"), "sweeping expired records failed")
                }
                Err(error) => tracing::warn!(%error, "the sweeper stopped"),
            }
        }
    }

    /// Removes every record past its retention at `now_ms`; returns how many
    /// keys went.
    pub fn sweep(&self, now_ms: u64) -> Result<usize> {
        let mut removed = 0;
        for kind in KINDS {
            let retention = (kind.retention_ms)(&self.config);
            removed += self.sweep_prefix(kind.prefix, |key, value| {
                expired(value, kind.time_field, retention, now_ms).then(|| vec![key.to_string()])
            })?;
        }
        let retention = self.config.envelopes_ms;
        removed += self.sweep_prefix(ENVELOPE_PREFIX, |key, value| {
            if !expired(value, "timestamp_ms", retention, now_ms) {
                return None;
            }
            let id = key.strip_prefix(ENVELOPE_PREFIX)?;
            Some(self.message_maps(id, value).unwrap_or_else(|error| {
                tracing::warn!(error = %format!("{error:#}"), "cannot read a message's maps");
                vec![key.to_string()]
            }))
        })?;
        let retention = self.config.rejected_ms;
        removed += self.sweep_prefix("rejected:", |key, value| {
            let body = key.strip_suffix(":error")?;
            expired(value, "at_ms", retention, now_ms)
                .then(|| vec![body.to_string(), key.to_string()])
        })?;
        Ok(removed)
    }

    /// The keys that go with the expired envelope `id` (its record `value`):
    /// the record, where the message was written, and its maps between
    /// canonical and native ids, for the original and every copy.
    fn message_maps(&self, id: &str, value: &[u8]) -> Result<Vec<String>> {
        let mut keys = vec![
            format!("{ENVELOPE_PREFIX}{id}"),
            directory_schema::message_key(id),
        ];
        let envelope: serde_json::Value = serde_json::from_slice(value)?;
        if let (Some(platform), Some(native_id)) = (
            envelope["platform"].as_str(),
            envelope["native_id"].as_str(),
        ) {
            keys.push(directory_schema::native_id_key(platform, native_id));
        }
        // `canonical:<id>:<platform>:<account>`: the copy's platform is the
        // first part after the id; the value is its native id there.
        let prefix = format!("canonical:{id}:");
        for (key, native_id) in self.store.scan_prefix(&prefix, MAX_COPIES)? {
            if let Some(platform) = key[prefix.len()..].split(':').next() {
                let native_id = String::from_utf8_lossy(&native_id);
                keys.push(directory_schema::native_id_key(platform, &native_id));
            }
            keys.push(key);
        }
        // The author's own copy names the original's native id again.
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// Pages through `prefix`, deleting the keys `doomed` names for each
    /// record, one transaction a page.
    fn sweep_prefix(
        &self,
        prefix: &str,
        doomed: impl Fn(&str, &[u8]) -> Option<Vec<String>>,
    ) -> Result<usize> {
        let mut after: Option<String> = None;
        let mut removed = 0;
        loop {
            let page = self
                .store
                .scan_prefix_after(prefix, after.as_deref(), PAGE)?;
            let Some((last, _)) = page.last() else {
                return Ok(removed);
            };
            after = Some(last.clone());
            let changes: Vec<Change> = page
                .iter()
                .filter_map(|(key, value)| doomed(key, value))
                .flatten()
                .map(Change::Delete)
                .collect();
            if !changes.is_empty() {
                removed += changes.len();
                self.store.apply(&changes)?;
            }
            if page.len() < PAGE {
                return Ok(removed);
            }
        }
    }
}

/// Whether the record `value` is older than `retention_ms` at `now_ms`, by
/// its `field`; a record whose time cannot be read is not.
fn expired(value: &[u8], field: &str, retention_ms: u64, now_ms: u64) -> bool {
    serde_json::from_slice::<serde_json::Value>(value)
        .ok()
        .and_then(|record| record.get(field).and_then(serde_json::Value::as_u64))
        .is_some_and(|at| now_ms.saturating_sub(at) > retention_ms)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::outbox::tests::scratch_store;
    use serde_json::json;

    const DAY: u64 = 24 * 60 * 60 * 1000;

    #[test]
    fn records_past_their_retention_go_and_work_to_do_stays() {
        let store = scratch_store("sweep");
        let now = 100 * DAY;
        let set = |key: &str, value: serde_json::Value| {
            Change::Set(key.to_string(), value.to_string().into_bytes())
        };
        store
            .apply(&[
                set("delivered:old", json!({ "at_ms": now - 8 * DAY })),
                set("delivered:new", json!({ "at_ms": now - DAY })),
                set("deadletter:old", json!({ "at_ms": now - 31 * DAY })),
                set("deadletter:recent", json!({ "at_ms": now - 8 * DAY })),
                set(
                    "status:old",
                    json!({ "state": "routed", "at_ms": now - 31 * DAY }),
                ),
                set("status:untimed", json!({ "state": "routed" })),
                set(
                    "envelope:whatsapp:wamid.old",
                    json!({ "timestamp_ms": now - 31 * DAY, "platform": "whatsapp", "native_id": "wamid.old" }),
                ),
                Change::Set("native:whatsapp:wamid.old".into(), b"whatsapp:wamid.old".to_vec()),
                Change::Set(
                    "canonical:whatsapp:wamid.old:whatsapp:16505551234".into(),
                    b"wamid.old".to_vec(),
                ),
                Change::Set(
                    "canonical:whatsapp:wamid.old:messenger:6000000001".into(),
                    b"m_copy".to_vec(),
                ),
                Change::Set("native:messenger:m_copy".into(), b"whatsapp:wamid.old".to_vec()),
                set(
                    "message:whatsapp:wamid.old",
                    json!({ "conversation_id": "c-1", "author": { "platform": "whatsapp", "id": "16505551234" } }),
                ),
                Change::Set("native:messenger:m_new".into(), b"whatsapp:wamid.new".to_vec()),
                set("envelope:new", json!({ "timestamp_ms": now })),
                Change::Set("rejected:abc".into(), b"raw body".to_vec()),
                set("rejected:abc:error", json!({ "at_ms": now - 8 * DAY })),
                Change::Set("rejected:def".into(), b"raw body".to_vec()),
                set("rejected:def:error", json!({ "at_ms": now })),
                set("inbox:old", json!({ "timestamp_ms": 0 })),
                set("outbox:old", json!({ "created_ms": 0 })),
                set("waiting:old", json!({ "created_ms": now - 31 * DAY })),
                set("waiting:new", json!({ "created_ms": now - DAY })),
                set("seen:old", json!({ "at_ms": now - 31 * DAY })),
                set("seen:new", json!({ "at_ms": now - DAY })),
            ])
            .unwrap();
        let sweeper = Sweeper::new(store.clone(), RetentionConfig::default());
        assert_eq!(sweeper.sweep(now).unwrap(), 13);
        for gone in [
            "delivered:old",
            "deadletter:old",
            "status:old",
            "envelope:whatsapp:wamid.old",
            "native:whatsapp:wamid.old",
            "native:messenger:m_copy",
            "canonical:whatsapp:wamid.old:whatsapp:16505551234",
            "canonical:whatsapp:wamid.old:messenger:6000000001",
            "message:whatsapp:wamid.old",
            "rejected:abc",
            "rejected:abc:error",
            "waiting:old",
            "seen:old",
        ] {
            assert!(store.get(gone).unwrap().is_none(), "{gone} kept");
        }
        for kept in [
            "delivered:new",
            "deadletter:recent",
            "status:untimed",
            "envelope:new",
            "native:messenger:m_new",
            "rejected:def",
            "rejected:def:error",
            "inbox:old",
            "outbox:old",
            "waiting:new",
            "seen:new",
        ] {
            assert!(store.get(kept).unwrap().is_some(), "{kept} swept");
        }
        assert_eq!(sweeper.sweep(now).unwrap(), 0, "nothing left to sweep");
    }

    #[test]
    fn a_sweep_pages_through_more_records_than_a_page() {
        let store = scratch_store("sweep-pages");
        let changes: Vec<Change> = (0..(PAGE * 2 + 7))
            .map(|i| {
                Change::Set(
                    format!("delivered:{i:05}"),
                    json!({ "at_ms": 0 }).to_string().into_bytes(),
                )
            })
            .collect();
        store.apply(&changes).unwrap();
        let sweeper = Sweeper::new(store.clone(), RetentionConfig::default());
        assert_eq!(sweeper.sweep(30 * DAY).unwrap(), PAGE * 2 + 7);
        assert!(store.scan_prefix("delivered:", 10).unwrap().is_empty());
    }
}
