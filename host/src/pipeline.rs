//! The pipeline behind the ingress: routing, policy, encoding and durable
//! delivery — what the host adds to a Spin application.
//!
//! ```text
//! inbox:<id> ──route──▶ router component (policy + router, composed with the
//!      │                 directory component over the same key-value store)
//!      │                ──encode──▶ translator of the target platform
//!      └─ one transaction ─▶ outbox:<id>:<platform>:<recipient>, status:<id>
//! outbox:… ──send──▶ platform API (Idempotency-Key, retries with backoff and
//!      │             jitter on timeouts, 408, 429 and 5xx)
//!      └─ on success ─▶ message-id map, delivered:…   on giving up ─▶ deadletter:…
//! ```
//!
//! Every hand-over is one redb transaction: the inbox entry is removed in the
//! same commit that stores its deliveries, and a delivery's progress (which of
//! its requests the platform accepted, the native ids it got) is committed
//! after each accepted request. A restart resumes from the store; a request
//! whose answer was lost in a crash is sent again with the same idempotency key.

use crate::config::HostConfig;
use crate::kv::{Change, EmbeddedStore, KeyValueStores};
use crate::manifest::Manifest;
use crate::metrics::Metrics;
use crate::runtime::{Limits, Runtime};
use crate::serve::{Grants, HttpState};
use crate::translator::types::{
    Address, Content, Envelope, Event, FormattedText, Message, MessageCategory, Participant,
};
use crate::translator::{Encoded, HttpMethod, Translator, describe_encode_error};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use wasmtime::Store;
use wasmtime::component::Linker;

#[allow(missing_docs, clippy::all)]
mod bindings {
    wasmtime::component::bindgen!({
        world: "switchboard:host/pipeline-router",
        path: ["../wit", "wit"],
        exports: { default: async },
        with: {
            "switchboard:messaging/types": crate::translator::types,
            "fermyon:spin/key-value": crate::serve::bindings::fermyon::spin::key_value,
            "fermyon:spin/variables": crate::serve::bindings::fermyon::spin::variables,
        },
    });
}

use bindings::exports::switchboard::messaging::policy::{Rejection, RejectionReason, Verdict};
use bindings::exports::switchboard::messaging::router::RouteError;
use bindings::{PipelineRouter, PipelineRouterPre};

/// How often an envelope waiting for an earlier message is tried again, and
/// how many times before it fails.
const HOLD_RETRY_MS: u64 = 500;
const HOLD_MAX_TRIES: u32 = 40;

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
}

/// The outcome of routing one envelope, kept under `status:<id>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouteStatus {
    /// `routed`, `echo`, `rejected` or `failed`.
    pub state: String,
    /// The reason code, when not routed.
    pub reason: Option<String>,
    /// Words for people.
    pub detail: Option<String>,
    /// The outbox keys it produced.
    pub deliveries: Vec<String>,
}

/// The pipeline of a running app.
pub struct Pipeline {
    store: Arc<EmbeddedStore>,
    router: RouterComponent,
    translators: BTreeMap<String, Translator>,
    config: HostConfig,
    tokens: BTreeMap<String, String>,
    /// The metrics, also served at `/metrics`.
    pub metrics: Arc<Metrics>,
    inbox_signal: Notify,
    outbox_signal: Notify,
    agent: ureq::Agent,
    held: Mutex<HashMap<String, (u32, u64)>>,
    in_flight: Mutex<HashSet<String>>,
}

/// The composed router component, ready to instantiate.
struct RouterComponent {
    pre: PipelineRouterPre<HttpState>,
    grants: Arc<Grants>,
    limits: Limits,
    deadline_ticks: u64,
}

/// One router instance with its store.
struct RouterInstance {
    store: Store<HttpState>,
    bindings: PipelineRouter,
    deadline_ticks: u64,
}

impl RouterInstance {
    async fn route(&mut self, envelope: &Envelope) -> Result<Result<Vec<Delivery>, RouteError>> {
        self.store.set_epoch_deadline(self.deadline_ticks);
        let deliveries = self
            .bindings
            .switchboard_messaging_router()
            .call_route(&mut self.store, envelope)
            .await?;
        Ok(deliveries.map(|list| {
            list.into_iter()
                .map(|delivery| Delivery {
                    platform: delivery.platform,
                    recipient: delivery.recipient,
                    envelope: delivery.envelope,
                })
                .collect()
        }))
    }

    async fn check(&mut self, envelope: &Envelope, recipient: &Address) -> Result<Verdict> {
        self.store.set_epoch_deadline(self.deadline_ticks);
        self.bindings
            .switchboard_messaging_policy()
            .call_check(&mut self.store, envelope, recipient)
            .await
            .map_err(anyhow::Error::from)
    }
}

/// One copy of an envelope for one recipient.
struct Delivery {
    platform: String,
    recipient: Address,
    envelope: Envelope,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

fn reason_code(reason: RejectionReason) -> &'static str {
    match reason {
        RejectionReason::NotLinked => "not-linked",
        RejectionReason::NoConsent => "no-consent",
        RejectionReason::Blocked => "blocked",
        RejectionReason::MarketingWithoutOptIn => "marketing-without-opt-in",
        RejectionReason::OptedOut => "opted-out",
        RejectionReason::RateLimited => "rate-limited",
    }
}

/// What routing one envelope decided.
enum Routed {
    /// Commit these changes.
    Done(Vec<Change>),
    /// Try again later (an event about a message still on its way).
    Hold(String),
}

impl Pipeline {
    /// Loads the pipeline of `manifest`: the router component (composed with
    /// its dependencies) and every translator component, keyed by the platform
    /// it describes. `None` when the manifest has no router component.
    pub fn load(
        runtime: &Runtime,
        manifest: &Manifest,
        stores: &KeyValueStores,
        linker: &Linker<HttpState>,
        config: HostConfig,
    ) -> Result<Option<Pipeline>> {
        let router_id = config.pipeline.router.clone();
        if !manifest.app.component.contains_key(&router_id) {
            tracing::warn!(component = %router_id, "no router component in the manifest: webhooks are stored but not routed");
            return Ok(None);
        }
        let bytes = crate::compose::compose(manifest, &router_id)?;
        let component = runtime.compile(&router_id, &bytes)?;
        let mut linker = linker.clone();
        // The canonical types are an interface of types only: an empty instance.
        linker
            .instance("switchboard:messaging/types@0.1.0")
            .map_err(anyhow::Error::from)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("component `{router_id}` needs something the host does not provide")
            })?;
        let pre = PipelineRouterPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("component `{router_id}` does not export `policy` and `router`")
            })?;
        let grants = Grants::for_component(manifest, &router_id, stores)?;
        let store = stores
            .get("default")
            .context("the pipeline needs the `default` key-value store")?;

        let mut translators = BTreeMap::new();
        let triggered: HashSet<&String> = manifest
            .app
            .trigger
            .http
            .iter()
            .map(|trigger| &trigger.component)
            .collect();
        for id in manifest.app.component.keys() {
            if triggered.contains(id) || *id == router_id {
                continue;
            }
            let path = manifest.source_path(id)?;
            let wasm = std::fs::read(&path)
                .with_context(|| format!("component `{id}`: cannot read {}", path.display()))?;
            match Translator::load(runtime, id, &wasm) {
                Ok(translator) => {
                    let platform = translator.platform().to_string();
                    tracing::info!(component = %id, %platform, "translator ready");
                    translators.insert(platform, translator);
                }
                Err(error) => {
                    tracing::debug!(component = %id, error = %format!("{error:#}"), "not a translator")
                }
            }
        }
        let mut tokens = BTreeMap::new();
        for platform in translators.keys() {
            let variable = config
                .platform(platform)
                .access_token_variable
                .unwrap_or_else(|| format!("{platform}_access_token"));
            if let Some(token) = crate::variables::app_value(manifest, &variable) {
                tokens.insert(platform.clone(), token);
            }
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(config.delivery.timeout_ms)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Some(Pipeline {
            store,
            router: RouterComponent {
                pre,
                grants,
                limits: runtime.limits().clone(),
                deadline_ticks: runtime.deadline_ticks(),
            },
            translators,
            config,
            tokens,
            metrics: Arc::new(Metrics::new()),
            inbox_signal: Notify::new(),
            outbox_signal: Notify::new(),
            agent,
            held: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
        }))
    }

    /// Tells the router stage that the inbox has something new.
    pub fn wake(&self) {
        self.inbox_signal.notify_one();
    }

    /// Runs both stages until the process stops.
    pub async fn run(self: Arc<Self>) {
        let senders = tokio::spawn(self.clone().run_senders());
        self.run_router().await;
        senders.abort();
    }

    async fn run_router(&self) {
        loop {
            match self.route_pending().await {
                Ok(0) => {
                    tokio::select! {
                        _ = self.inbox_signal.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(HOLD_RETRY_MS)) => {}
                    }
                }
                Ok(_) => self.outbox_signal.notify_one(),
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "routing stopped for a moment");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn instantiate_router(&self) -> Result<RouterInstance> {
        let router = &self.router;
        let mut store = Store::new(
            router.pre.engine(),
            HttpState::new(router.grants.clone(), &router.limits),
        );
        store.limiter(|state| state.limiter());
        store.set_epoch_deadline(router.deadline_ticks);
        let bindings = router.pre.instantiate_async(&mut store).await?;
        Ok(RouterInstance {
            store,
            bindings,
            deadline_ticks: router.deadline_ticks,
        })
    }

    /// Routes what is in the inbox; returns how many envelopes it settled.
    async fn route_pending(&self) -> Result<usize> {
        let now = now_ms();
        let mut envelopes = Vec::new();
        for (key, value) in self.store.scan_prefix("inbox:", 512)? {
            let id = key["inbox:".len()..].to_string();
            if self
                .held
                .lock()
                .map(|held| held.get(&id).is_some_and(|(_, due)| *due > now))
                .unwrap_or(false)
            {
                continue;
            }
            match serde_json::from_slice::<Envelope>(&value) {
                Ok(envelope) => envelopes.push((key, envelope)),
                Err(error) => {
                    self.metrics.reject("unreadable");
                    let status = RouteStatus {
                        state: "failed".into(),
                        reason: Some("unreadable".into()),
                        detail: Some(format!("the stored envelope is not readable: {error}")),
                        deliveries: Vec::new(),
                    };
                    self.store.apply(&[
                        Change::Delete(key),
                        Change::Set(format!("status:{id}"), serde_json::to_vec(&status)?),
                    ])?;
                }
            }
        }
        envelopes.sort_by(|(_, a), (_, b)| (a.timestamp_ms, &a.id).cmp(&(b.timestamp_ms, &b.id)));
        let mut settled = 0;
        let mut router: Option<RouterInstance> = None;
        for (key, envelope) in envelopes {
            let instance = match router.as_mut() {
                Some(instance) => instance,
                None => router.insert(self.instantiate_router().await?),
            };
            let outcome = match self.route_one(instance, &envelope, now).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    // A trap or deadline: this envelope fails, the next one gets
                    // a fresh instance.
                    router = None;
                    let detail = format!("the router component failed: {error:#}");
                    tracing::error!(envelope = %envelope.id, %detail);
                    self.metrics.reject("router-failed");
                    Routed::Done(vec![Change::Set(
                        format!("status:{}", envelope.id),
                        serde_json::to_vec(&RouteStatus {
                            state: "failed".into(),
                            reason: Some("router-failed".into()),
                            detail: Some(detail),
                            deliveries: Vec::new(),
                        })?,
                    )])
                }
            };
            match outcome {
                Routed::Done(mut changes) => {
                    changes.push(Change::Delete(key));
                    changes.push(Change::SetIfAbsent(
                        format!("envelope:{}", envelope.id),
                        serde_json::to_vec(&envelope)?,
                    ));
                    self.store.apply(&changes)?;
                    if let Ok(mut held) = self.held.lock() {
                        held.remove(&envelope.id);
                    }
                    Metrics::platform(&self.metrics.messages_in, &envelope.platform).inc();
                    settled += 1;
                }
                Routed::Hold(reason) => {
                    let tries = self
                        .held
                        .lock()
                        .map(|mut held| {
                            let entry = held.entry(envelope.id.clone()).or_insert((0, 0));
                            entry.0 += 1;
                            entry.1 = now + HOLD_RETRY_MS;
                            entry.0
                        })
                        .unwrap_or(HOLD_MAX_TRIES);
                    if tries >= HOLD_MAX_TRIES {
                        self.metrics.reject("unknown-message");
                        let status = RouteStatus {
                            state: "failed".into(),
                            reason: Some("unknown-message".into()),
                            detail: Some(reason),
                            deliveries: Vec::new(),
                        };
                        self.store.apply(&[
                            Change::Delete(key),
                            Change::Set(
                                format!("status:{}", envelope.id),
                                serde_json::to_vec(&status)?,
                            ),
                        ])?;
                        settled += 1;
                    } else {
                        tracing::debug!(envelope = %envelope.id, %reason, tries, "held");
                    }
                }
            }
        }
        Ok(settled)
    }

    /// Routes, judges and encodes one envelope: the changes to commit.
    async fn route_one(
        &self,
        router: &mut RouterInstance,
        envelope: &Envelope,
        now: u64,
    ) -> Result<Routed> {
        let status_key = format!("status:{}", envelope.id);
        let deliveries = match router.route(envelope).await? {
            Ok(deliveries) => deliveries,
            Err(RouteError::UnknownMessage(id)) => {
                return Ok(Routed::Hold(format!(
                    "it refers to message {id}, which the pipeline has not delivered"
                )));
            }
            Err(RouteError::NotLinked(_)) | Err(RouteError::UnknownRecipient(_)) => {
                let rejection = Rejection {
                    reason: RejectionReason::NotLinked,
                    detail: "you have no linked account on another app".into(),
                };
                return Ok(Routed::Done(self.refuse(envelope, &rejection, now)?));
            }
        };
        if envelope.echo || deliveries.is_empty() {
            let status = RouteStatus {
                state: if envelope.echo { "echo" } else { "routed" }.into(),
                reason: None,
                detail: None,
                deliveries: Vec::new(),
            };
            return Ok(Routed::Done(vec![Change::Set(
                status_key,
                serde_json::to_vec(&status)?,
            )]));
        }
        let mut changes = Vec::new();
        let mut keys = Vec::new();
        for delivery in deliveries {
            match router.check(envelope, &delivery.recipient).await? {
                Verdict::Deliver => {}
                Verdict::Hold(reason) => return Ok(Routed::Hold(reason)),
                Verdict::Reject(rejection) => {
                    return Ok(Routed::Done(self.refuse(envelope, &rejection, now)?));
                }
            }
            let Some(translator) = self.translators.get(&delivery.platform) else {
                let rejection = Rejection {
                    reason: RejectionReason::NotLinked,
                    detail: format!("no translator for {} is configured", delivery.platform),
                };
                return Ok(Routed::Done(self.refuse(envelope, &rejection, now)?));
            };
            let sender = Address {
                platform: delivery.platform.clone(),
                id: self.config.platform(&delivery.platform).account,
            };
            let encoded = translator.instantiate()?.encode(
                &delivery.envelope,
                &sender,
                &delivery.recipient,
            )?;
            let encoded = match encoded {
                Ok(encoded) => encoded,
                Err(error) => {
                    self.metrics.reject("encode-failed");
                    let status = RouteStatus {
                        state: "failed".into(),
                        reason: Some("encode-failed".into()),
                        detail: Some(describe_encode_error(&error)),
                        deliveries: Vec::new(),
                    };
                    return Ok(Routed::Done(vec![Change::Set(
                        status_key,
                        serde_json::to_vec(&status)?,
                    )]));
                }
            };
            if encoded.requests.is_empty() {
                // Nothing to send on that app (a dropped typing indicator…).
                continue;
            }
            let key = format!(
                "outbox:{}:{}:{}",
                envelope.id, delivery.platform, delivery.recipient.id
            );
            let entry = OutboxEntry {
                envelope_id: envelope.id.clone(),
                platform: delivery.platform.clone(),
                recipient: delivery.recipient.id.clone(),
                encoded,
                sent: 0,
                native_ids: Vec::new(),
                attempts: 0,
                next_at_ms: now,
                created_ms: now,
                last_error: None,
            };
            changes.push(Change::SetIfAbsent(
                key.clone(),
                serde_json::to_vec(&entry)?,
            ));
            keys.push(key);
        }
        let status = RouteStatus {
            state: "routed".into(),
            reason: None,
            detail: None,
            deliveries: keys,
        };
        changes.push(Change::Set(status_key, serde_json::to_vec(&status)?));
        Ok(Routed::Done(changes))
    }

    /// The changes for a refused envelope: its status, and a notice to the
    /// sender on their own app saying why.
    fn refuse(&self, envelope: &Envelope, rejection: &Rejection, now: u64) -> Result<Vec<Change>> {
        let code = reason_code(rejection.reason);
        self.metrics.reject(code);
        tracing::info!(envelope = %envelope.id, reason = code, detail = %rejection.detail, "not delivered");
        let mut changes = Vec::new();
        let mut deliveries = Vec::new();
        // Echoes and events that are not messages get no notice.
        if let (false, Event::Message(_)) = (envelope.echo, &envelope.event)
            && let Some(translator) = self.translators.get(&envelope.platform)
        {
            let account = Address {
                platform: envelope.platform.clone(),
                id: self.config.platform(&envelope.platform).account,
            };
            let notice = Envelope {
                id: format!("{}:notice", envelope.id),
                platform: envelope.platform.clone(),
                native_id: None,
                conversation: envelope.conversation.clone(),
                sender: Participant {
                    address: account.clone(),
                    attributes: Vec::new(),
                },
                recipient: envelope.sender.address.clone(),
                timestamp_ms: now,
                event: Event::Message(Message {
                    content: Content::Text(FormattedText {
                        body: format!("Not delivered: {}.", rejection.detail),
                        spans: Vec::new(),
                    }),
                    reply_to: None,
                    forwarded: None,
                    story: None,
                    category: MessageCategory::Service,
                }),
                echo: false,
                extras: Vec::new(),
            };
            match translator
                .instantiate()?
                .encode(&notice, &account, &envelope.sender.address)?
            {
                Ok(encoded) if !encoded.requests.is_empty() => {
                    let key = format!(
                        "outbox:{}:{}:{}",
                        notice.id, envelope.platform, envelope.sender.address.id
                    );
                    let entry = OutboxEntry {
                        envelope_id: notice.id.clone(),
                        platform: envelope.platform.clone(),
                        recipient: envelope.sender.address.id.clone(),
                        encoded,
                        sent: 0,
                        native_ids: Vec::new(),
                        attempts: 0,
                        next_at_ms: now,
                        created_ms: now,
                        last_error: None,
                    };
                    changes.push(Change::SetIfAbsent(
                        key.clone(),
                        serde_json::to_vec(&entry)?,
                    ));
                    deliveries.push(key);
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %describe_encode_error(&error), "cannot encode the notice")
                }
            }
        }
        let status = RouteStatus {
            state: "rejected".into(),
            reason: Some(code.into()),
            detail: Some(rejection.detail.clone()),
            deliveries,
        };
        changes.push(Change::Set(
            format!("status:{}", envelope.id),
            serde_json::to_vec(&status)?,
        ));
        Ok(changes)
    }

    async fn run_senders(self: Arc<Self>) {
        let permits = Arc::new(Semaphore::new(self.config.delivery.workers));
        loop {
            let next_due = match self.dispatch_due(&permits).await {
                Ok(next_due) => next_due,
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "the outbox cannot be read");
                    Some(now_ms() + 1_000)
                }
            };
            let wait = next_due
                .map(|due| due.saturating_sub(now_ms()).clamp(1, 1_000))
                .unwrap_or(1_000);
            tokio::select! {
                _ = self.outbox_signal.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            }
        }
    }

    /// Starts a send for every due entry; returns when the next one is due.
    async fn dispatch_due(self: &Arc<Self>, permits: &Arc<Semaphore>) -> Result<Option<u64>> {
        let now = now_ms();
        let mut next_due: Option<u64> = None;
        for (key, value) in self.store.scan_prefix("outbox:", 4096)? {
            let entry: OutboxEntry = match serde_json::from_slice(&value) {
                Ok(entry) => entry,
                Err(error) => {
                    let reason = format!("unreadable outbox entry: {error}");
                    self.dead_letter(&key, &value, &reason, "unknown")?;
                    continue;
                }
            };
            if entry.next_at_ms > now {
                next_due = Some(next_due.map_or(entry.next_at_ms, |due| due.min(entry.next_at_ms)));
                continue;
            }
            let claimed = self
                .in_flight
                .lock()
                .map(|mut in_flight| in_flight.insert(key.clone()))
                .unwrap_or(false);
            if !claimed {
                continue;
            }
            let permit = permits.clone().acquire_owned().await?;
            let pipeline = self.clone();
            tokio::task::spawn_blocking(move || {
                if let Err(error) = pipeline.send(&key, entry) {
                    tracing::error!(%key, error = %format!("{error:#}"), "delivery bookkeeping failed");
                }
                if let Ok(mut in_flight) = pipeline.in_flight.lock() {
                    in_flight.remove(&key);
                }
                drop(permit);
                pipeline.outbox_signal.notify_one();
            });
        }
        Ok(next_due)
    }

    fn dead_letter(&self, key: &str, value: &[u8], reason: &str, platform: &str) -> Result<()> {
        tracing::warn!(%key, %reason, "dead-lettered");
        Metrics::platform(&self.metrics.dead_letters, platform).inc();
        let record = serde_json::json!({
            "reason": reason,
            "entry": serde_json::from_slice::<serde_json::Value>(value)
                .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(value).into())),
            "at_ms": now_ms(),
        });
        let rest = key.strip_prefix("outbox:").unwrap_or(key);
        self.store.apply(&[
            Change::Delete(key.to_string()),
            Change::Set(
                format!("deadletter:{rest}"),
                record.to_string().into_bytes(),
            ),
        ])
    }

    /// Sends the entry's remaining requests in order, committing progress
    /// after each; schedules a retry or dead-letters on failure.
    fn send(&self, key: &str, mut entry: OutboxEntry) -> Result<()> {
        let platform = self.config.platform(&entry.platform);
        let translator = self.translators.get(&entry.platform);
        while entry.sent < entry.encoded.requests.len() {
            let index = entry.sent;
            let request = &entry.encoded.requests[index];
            let url = format!(
                "{}{}",
                platform.api_base.trim_end_matches('/'),
                request.path
            );
            let method = match request.method {
                HttpMethod::Get => "GET",
                HttpMethod::Post => "POST",
                HttpMethod::Put => "PUT",
                HttpMethod::Delete => "DELETE",
            };
            let mut builder = ureq::http::Request::builder()
                .method(method)
                .uri(&url)
                .header("Idempotency-Key", format!("{key}#{index}"));
            for (name, value) in &request.headers {
                builder = builder.header(name, value);
            }
            if let Some(token) = self.tokens.get(&entry.platform).filter(|t| !t.is_empty()) {
                builder = builder.header("Authorization", format!("Bearer {token}"));
            }
            let outcome = builder
                .body(request.body.clone())
                .map_err(|error| format!("cannot build the request: {error}"))
                .and_then(|request| {
                    self.agent
                        .run(request)
                        .map_err(|error| format!("{url}: {error}"))
                });
            let failure = match outcome {
                Ok(mut response) if response.status().is_success() => {
                    let body = response
                        .body_mut()
                        .with_config()
                        .limit(1 << 20)
                        .read_to_vec()
                        .unwrap_or_default();
                    let native_id = translator
                        .and_then(|translator| translator.instantiate().ok())
                        .and_then(|mut instance| instance.sent_message_id(&body).ok().flatten());
                    let mut changes = Vec::new();
                    if let Some(native_id) = &native_id {
                        changes.push(Change::Set(
                            directory_schema::native_id_key(&entry.platform, native_id),
                            entry.envelope_id.as_bytes().to_vec(),
                        ));
                        changes.push(Change::SetIfAbsent(
                            directory_schema::canonical_id_key(&entry.envelope_id, &entry.platform),
                            native_id.as_bytes().to_vec(),
                        ));
                        entry.native_ids.push(native_id.clone());
                    }
                    entry.sent += 1;
                    entry.last_error = None;
                    Metrics::platform(&self.metrics.messages_out, &entry.platform).inc();
                    if entry.sent == entry.encoded.requests.len() {
                        let elapsed = now_ms().saturating_sub(entry.created_ms);
                        self.metrics
                            .delivery_latency
                            .observe(elapsed as f64 / 1000.0);
                        let rest = key.strip_prefix("outbox:").unwrap_or(key);
                        changes.push(Change::Delete(key.to_string()));
                        changes.push(Change::Set(
                            format!("delivered:{rest}"),
                            serde_json::to_vec(&serde_json::json!({
                                "native_ids": entry.native_ids,
                                "at_ms": now_ms(),
                                "degradations": entry.encoded.degradations,
                            }))?,
                        ));
                        self.store.apply(&changes)?;
                        tracing::info!(%key, native_ids = ?entry.native_ids, "delivered");
                        return Ok(());
                    }
                    changes.push(Change::Set(key.to_string(), serde_json::to_vec(&entry)?));
                    self.store.apply(&changes)?;
                    continue;
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
                    (
                        format!("{url} answered {status}: {}", body.trim()),
                        retryable,
                    )
                }
                Err(error) => (error, true),
            };
            let (reason, retryable) = failure;
            entry.attempts += 1;
            entry.last_error = Some(reason.clone());
            let value = serde_json::to_vec(&entry)?;
            if !retryable || entry.attempts >= self.config.delivery.max_attempts {
                let reason = if retryable {
                    format!("gave up after {} tries: {reason}", entry.attempts)
                } else {
                    format!("refused by the platform: {reason}")
                };
                return self.dead_letter(key, &value, &reason, &entry.platform);
            }
            entry.next_at_ms = now_ms() + self.backoff_ms(entry.attempts);
            Metrics::platform(&self.metrics.retries, &entry.platform).inc();
            tracing::warn!(%key, attempts = entry.attempts, %reason, retry_in_ms = entry.next_at_ms.saturating_sub(now_ms()), "send failed; will retry");
            self.store
                .apply(&[Change::Set(key.to_string(), serde_json::to_vec(&entry)?)])?;
            return Ok(());
        }
        Ok(())
    }

    /// Exponential backoff with full jitter, capped.
    fn backoff_ms(&self, attempts: u32) -> u64 {
        let delivery = &self.config.delivery;
        let ceiling = delivery
            .backoff_base_ms
            .saturating_mul(1u64 << attempts.min(20))
            .min(delivery.backoff_max_ms)
            .max(1);
        // Half fixed, half random: never a zero delay, never in lock-step.
        ceiling / 2 + rand::random_range(0..=ceiling / 2)
    }
}
