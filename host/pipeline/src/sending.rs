//! The senders: drain the outbox into the platforms' send APIs.
//!
//! ```text
//! outbox:… ──send──▶ platform API (Idempotency-Key, retries with backoff and
//!      │             jitter on timeouts, 408, 429 and 5xx)
//!      └─ on success ─▶ message-id map, delivered:…   on giving up ─▶ deadletter:…
//! ```
//!
//! A delivery's progress (which of its requests the platform accepted, the
//! native ids it got) is committed after each accepted request. A request
//! whose answer was lost in a crash is sent again with the same idempotency
//! key. Entries that carry a [`HookState`](crate::outbox::HookState) (story
//! steps) are checked, filled in and recorded by their [`DeliveryHook`].
//!
//! Each request gets the platform's access token where its translator's
//! `api-auth` says ([`Credential`]); what is stored or logged about a failed
//! request has the token redacted.

use crate::breaker::Breakers;
use crate::clock::now_ms;
use crate::config::{DeliveryConfig, HostConfig};
use crate::credentials::Credential;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, OutboxEntry, Queued};
use crate::plugins::translator::{ApiAuth, HttpMethod, SendRequest};
use crate::redact::digest;
use crate::stages::TranslatorStage;
use anyhow::Result;
use directory_schema::{EndedDelivery, ended_key};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_runtime::key_value::{Change, EmbeddedStore};
use tokio::sync::{Semaphore, mpsc};

/// A request ready to send, as a hook filled it in.
pub struct Prepared {
    /// The request with every placeholder filled in (but the credential's,
    /// which the sender fills in).
    pub request: SendRequest,
    /// The `Authorization` scheme of a bearer credential (`Bearer` unless
    /// the API wants another).
    pub auth_scheme: &'static str,
}

/// What the senders ask of the owner of a kind of outbox entry (by
/// [`HookState::name`](crate::outbox::HookState)) around each request.
pub trait DeliveryHook: Send + Sync {
    /// Checks request `index` of `entry` just before it is sent and fills it
    /// in; an error is why the entry must not be sent any more (dropped).
    fn prepare(&self, entry: &OutboxEntry, index: usize, now_ms: u64) -> Result<Prepared, String>;

    /// Why an accepted answer to request `index` does not let the next one go
    /// yet (a video still processing), if it does not: tried again later.
    fn not_ready(&self, entry: &OutboxEntry, index: usize, response_body: &[u8]) -> Option<String>;

    /// Records an accepted request: updates the entry's hook state, and
    /// returns the native id it gave (if any) and the changes to commit with
    /// the entry's progress.
    fn accepted(
        &self,
        entry: &mut OutboxEntry,
        index: usize,
        response_body: &[u8],
    ) -> Result<(Option<String>, Vec<Change>)>;

    /// After the accepted request that gave `native_id` is committed: a new
    /// delivery to queue, if one is due (deleting a post whose original was
    /// deleted meanwhile).
    fn follow_up(&self, entry: &OutboxEntry, native_id: &str) -> Result<Option<Queued>>;
}

/// The senders of a running pipeline.
pub struct Sender {
    store: Arc<EmbeddedStore>,
    breakers: Breakers,
    outbox: Arc<Outbox>,
    translators: Arc<dyn TranslatorStage>,
    hooks: BTreeMap<String, Arc<dyn DeliveryHook>>,
    config: HostConfig,
    tokens: BTreeMap<String, String>,
    metrics: Arc<Metrics>,
    agent: ureq::Agent,
}

impl Sender {
    /// Senders for `outbox`, reading sent ids with `translators` and sending
    /// with the platforms' `tokens`.
    pub fn new(
        outbox: Arc<Outbox>,
        translators: Arc<dyn TranslatorStage>,
        config: HostConfig,
        tokens: BTreeMap<String, String>,
        metrics: Arc<Metrics>,
    ) -> Sender {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(config.delivery.timeout_ms)))
            .http_status_as_error(false)
            // A send API does not redirect, and a redirect could carry a
            // credential header to another host: a 3xx is an answer.
            .max_redirects(0)
            .build()
            .into();
        Sender {
            store: outbox.store().clone(),
            breakers: Breakers::new(&config.delivery),
            outbox,
            translators,
            hooks: BTreeMap::new(),
            config,
            tokens,
            metrics,
            agent,
        }
    }

    /// Lets `hook` handle the entries whose hook state is named `name`.
    pub fn with_hook(mut self, name: &str, hook: Arc<dyn DeliveryHook>) -> Sender {
        self.hooks.insert(name.to_string(), hook);
        self
    }

    /// `platform`'s access token, put on requests as its translator's
    /// `api-auth` says (a bearer header where no translator says: Facebook
    /// Page stories).
    fn credential(&self, platform: &str) -> Credential {
        let auth = self
            .translators
            .api_auth(platform)
            .unwrap_or(ApiAuth::BearerHeader);
        Credential::new(auth, self.tokens.get(platform).cloned().unwrap_or_default())
    }

    fn hook(&self, entry: &OutboxEntry) -> Option<&Arc<dyn DeliveryHook>> {
        self.hooks.get(&entry.hook.as_ref()?.name)
    }

    /// Sends what is queued, at most `delivery.workers` at a time; a retry
    /// goes back on the queue when it is due.
    pub async fn run(self: Arc<Self>, mut receiver: mpsc::UnboundedReceiver<Queued>) {
        let permits = Arc::new(Semaphore::new(self.config.delivery.workers));
        while let Some(queued) = receiver.recv().await {
            let wait = queued.entry.next_at_ms.saturating_sub(now_ms());
            if wait > 0 {
                let outbox = self.outbox.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    outbox.queue(queued);
                });
                continue;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            // A platform whose circuit is open is not tried: its deliveries
            // wait, their tries untouched, and free the worker.
            if let Some(until) = self.breakers.open_until(&queued.entry.platform, now_ms()) {
                drop(permit);
                let mut queued = queued;
                queued.entry.next_at_ms = until;
                self.outbox.queue(queued);
                continue;
            }
            let sender = self.clone();
            tokio::task::spawn_blocking(move || {
                let key = queued.key.clone();
                match sender.send(queued) {
                    Ok(Some(retry)) => sender.outbox.queue(retry),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::error!(key = %digest(&key), error = %format!("{error:#}"), "delivery bookkeeping failed")
                    }
                }
                drop(permit);
            });
        }
    }

    /// Sends the entry's remaining requests in order, committing progress
    /// after each. Returns the entry to try again later, or `None` when it is
    /// delivered or dead-lettered.
    fn send(&self, Queued { key, mut entry }: Queued) -> Result<Option<Queued>> {
        let platform = self.config.platform(&entry.platform);
        let credential = self.credential(&entry.platform);
        while entry.sent < entry.encoded.requests.len() {
            let index = entry.sent;
            // A story entry is checked (not expired, not deleted) and filled
            // in with what earlier answers gave, at the moment it is sent.
            let hook = self.hook(&entry);
            let prepared = match hook {
                Some(hook) => match hook.prepare(&entry, index, now_ms()) {
                    Ok(prepared) => Some(prepared),
                    Err(reason) => {
                        self.outbox.drop_entry(&key, &entry, &reason)?;
                        return Ok(None);
                    }
                },
                None => None,
            };
            let request = prepared
                .as_ref()
                .map_or(&entry.encoded.requests[index], |prepared| &prepared.request);
            // The credential goes where the translator's `api-auth` says, and
            // only now: the entry keeps the request as the translator wrote
            // it, so no token is ever stored.
            let bearer_scheme = prepared
                .as_ref()
                .map_or("Bearer", |prepared| prepared.auth_scheme);
            let authorized =
                credential.authorize(&platform.api_base, &request.path, &[], bearer_scheme);
            let url = &authorized.shown_url;
            let method = match request.method {
                HttpMethod::Get => "GET",
                HttpMethod::Post => "POST",
                HttpMethod::Put => "PUT",
                HttpMethod::Delete => "DELETE",
            };
            let mut builder = ureq::http::Request::builder()
                .method(method)
                .uri(&authorized.url)
                .header("Idempotency-Key", format!("{key}#{index}"));
            for (name, value) in request.headers.iter().chain(&authorized.headers) {
                builder = builder.header(name, value);
            }
            let outcome = builder
                .body(request.body.clone())
                .map_err(|error| format!("cannot build the request: {error}"))
                .and_then(|request| {
                    self.agent
                        .run(request)
                        .map_err(|error| format!("{url}: {error}"))
                });
            // `reason` is kept with the entry; `summary` is what the log
            // says, without the URL or the platform's words (which may name
            // the recipient).
            let (reason, summary, retryable) = match outcome {
                Ok(mut response) if response.status().is_success() => {
                    self.breakers.success(&entry.platform);
                    let body = response
                        .body_mut()
                        .with_config()
                        .limit(1 << 20)
                        .read_to_vec()
                        .unwrap_or_default();
                    match hook.and_then(|hook| hook.not_ready(&entry, index, &body)) {
                        // Accepted, but what it made is not ready to go on
                        // (a video still processing): try again later.
                        Some(reason) => (format!("{url}: {reason}"), "not ready".to_string(), true),
                        None => {
                            self.accepted(&key, &mut entry, &body)?;
                            continue;
                        }
                    }
                }
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let body = response
                        .body_mut()
                        .with_config()
                        .limit(4096)
                        .read_to_string()
                        .unwrap_or_default();
                    let retryable = status == 408 || status == 429 || status >= 500;
                    if retryable {
                        self.breakers.failure(&entry.platform, now_ms());
                    } else {
                        // A refusal: the platform is up.
                        self.breakers.success(&entry.platform);
                    }
                    (
                        format!("{url} answered {status}: {}", body.trim()),
                        format!("answered {status}"),
                        retryable,
                    )
                }
                Err(error) => {
                    self.breakers.failure(&entry.platform, now_ms());
                    (error, "no answer".to_string(), true)
                }
            };
            // What the reason says of the URL, of the HTTP library's error
            // or of the platform's answer never holds the token.
            let reason = credential.redact(&reason);
            entry.attempts += 1;
            entry.last_error = Some(reason.clone());
            if !retryable || entry.attempts >= self.config.delivery.max_attempts {
                let reason = if retryable {
                    format!("gave up after {} tries: {reason}", entry.attempts)
                } else {
                    format!("refused by the platform: {reason}")
                };
                let platform = entry.platform.clone();
                self.outbox
                    .dead_letter(&key, serde_json::to_value(entry)?, &reason, &platform)?;
                return Ok(None);
            }
            entry.next_at_ms = now_ms() + backoff_ms(&self.config.delivery, entry.attempts);
            Metrics::platform(&self.metrics.retries, &entry.platform).inc();
            tracing::warn!(key = %digest(&key), platform = %entry.platform, attempts = entry.attempts, %summary, retry_in_ms = entry.next_at_ms.saturating_sub(now_ms()), "send failed; will retry");
            self.store
                .apply(&[Change::Set(key.clone(), serde_json::to_vec(&entry)?)])?;
            return Ok(Some(Queued { key, entry }));
        }
        Ok(None)
    }

    /// Records a request the platform accepted: the native id it got (in the
    /// message-id map) and the entry's progress, or the delivery when it was
    /// the last request — all in one transaction.
    fn accepted(&self, key: &str, entry: &mut OutboxEntry, response_body: &[u8]) -> Result<()> {
        if let Some(hook) = self.hook(entry).cloned() {
            // A hooked step: the ids it got are the hook's records (story
            // cross-post ids for deletion and replies), not message ids.
            let index = entry.sent;
            let (native_id, changes) = hook.accepted(entry, index, response_body)?;
            entry.native_ids.extend(native_id.clone());
            self.progress(key, entry, changes)?;
            if let Some(native_id) = native_id
                && let Some(follow_up) = hook.follow_up(entry, &native_id)?
            {
                self.outbox.enqueue(Vec::new(), vec![follow_up])?;
            }
            return Ok(());
        }
        let native_id = self
            .translators
            .sent_message_id(&entry.platform, response_body);
        let mut changes = Vec::new();
        if let Some(native_id) = native_id {
            changes.push(Change::Set(
                directory_schema::native_id_key(&entry.platform, &native_id),
                entry.envelope_id.as_bytes().to_vec(),
            ));
            // A message split into several requests maps to its first id.
            changes.push(Change::SetIfAbsent(
                directory_schema::canonical_id_key(
                    &entry.envelope_id,
                    &directory_schema::Account {
                        platform: entry.platform.clone(),
                        id: entry.recipient.clone(),
                    },
                ),
                native_id.as_bytes().to_vec(),
            ));
            entry.native_ids.push(native_id);
        }
        self.progress(key, entry, changes)
    }

    /// Commits one accepted request with `changes`: the entry's progress, or
    /// its delivery when it was the last request.
    fn progress(&self, key: &str, entry: &mut OutboxEntry, mut changes: Vec<Change>) -> Result<()> {
        entry.sent += 1;
        entry.last_error = None;
        if entry.sent < entry.encoded.requests.len() {
            changes.push(Change::Set(key.to_string(), serde_json::to_vec(&entry)?));
            self.store.apply(&changes)?;
            Metrics::platform(&self.metrics.messages_out, &entry.platform).inc();
            return Ok(());
        }
        changes.push(Change::Delete(key.to_string()));
        changes.push(Change::Set(
            ended_key(EndedDelivery::Delivered, key),
            serde_json::to_vec(&serde_json::json!({
                "native_ids": entry.native_ids,
                "at_ms": now_ms(),
                "degradations": entry.encoded.degradations,
            }))?,
        ));
        self.store.apply(&changes)?;
        // Counted once committed: a scrape never shows a send the store lacks.
        Metrics::platform(&self.metrics.messages_out, &entry.platform).inc();
        let elapsed = now_ms().saturating_sub(entry.created_ms);
        self.metrics
            .delivery_latency
            .observe(elapsed as f64 / 1000.0);
        tracing::info!(key = %digest(key), requests = entry.native_ids.len(), "delivered");
        Ok(())
    }
}

/// Exponential backoff with "equal jitter": the ceiling doubles with each try
/// up to `backoff_max_ms`; half of it is fixed, half random, so a retry is
/// never immediate and retries never move in lock-step.
fn backoff_ms(delivery: &DeliveryConfig, attempts: u32) -> u64 {
    let ceiling = backoff_ceiling_ms(delivery, attempts);
    ceiling / 2 + rand::random_range(0..=ceiling / 2)
}

/// The most a retry after `attempts` failed tries waits.
fn backoff_ceiling_ms(delivery: &DeliveryConfig, attempts: u32) -> u64 {
    delivery
        .backoff_base_ms
        .saturating_mul(1u64 << attempts.min(20))
        .min(delivery.backoff_max_ms)
        .max(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_half_of_it_random() {
        let delivery = DeliveryConfig {
            backoff_base_ms: 200,
            backoff_max_ms: 60_000,
            ..DeliveryConfig::default()
        };
        assert_eq!(backoff_ceiling_ms(&delivery, 1), 400);
        assert_eq!(backoff_ceiling_ms(&delivery, 4), 3_200);
        assert_eq!(backoff_ceiling_ms(&delivery, 9), 60_000);
        assert_eq!(backoff_ceiling_ms(&delivery, 500), 60_000, "no overflow");
        for attempts in 0..40 {
            let ceiling = backoff_ceiling_ms(&delivery, attempts);
            for _ in 0..50 {
                let wait = backoff_ms(&delivery, attempts);
                assert!(
                    (ceiling / 2..=ceiling).contains(&wait),
                    "{wait} for ceiling {ceiling}"
                );
            }
        }
        let instant = DeliveryConfig {
            backoff_base_ms: 0,
            ..delivery
        };
        assert_eq!(
            backoff_ceiling_ms(&instant, 3),
            1,
            "never an immediate retry loop"
        );
    }
}
