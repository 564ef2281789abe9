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
use crate::kv::{Change, EmbeddedStore, HeldWrites, KeyValueStores, WriteBuffer};
use crate::manifest::Manifest;
use crate::metrics::Metrics;
use crate::runtime::{Limits, Runtime};
use crate::serve::{Grants, HttpState};
use crate::translator::types::{
    Address, Content, Envelope, Event, FormattedText, Message, MessageCategory, Participant,
};
use crate::translator::{Encoded, HttpMethod, Translator, describe_encode_error};
use anyhow::{Context, Result};
use directory_schema::{INBOX_PREFIX, envelope_key};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc};
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

use crate::native::NativeStages;
pub use bindings::exports::switchboard::messaging::policy::{Rejection, RejectionReason, Verdict};
pub use bindings::exports::switchboard::messaging::router::{
    Delivery, RouteError, UnmappedReference,
};
use bindings::{PipelineRouter, PipelineRouterPre};

/// Most envelopes routed in one pass (one transaction).
const PASS_SIZE: usize = 512;

/// The import that marks a manifest component as a translator: the gateways
/// depend on translators under this name.
const TRANSLATOR_IMPORT: &str = "switchboard:messaging/translator@0.1.0";

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
    /// For a story publish or deletion: what the story service checks and
    /// fills in at send time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story: Option<crate::story_service::StoryDelivery>,
}

impl OutboxEntry {
    /// A delivery of `encoded` to `recipient`, due at once.
    pub(crate) fn new(
        envelope_id: &str,
        recipient: &Address,
        encoded: Encoded,
        now: u64,
    ) -> OutboxEntry {
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
            story: None,
        }
    }

    /// Its key in the store: one per envelope, platform and recipient.
    pub(crate) fn key(&self) -> String {
        format!(
            "outbox:{}:{}:{}",
            self.envelope_id, self.platform, self.recipient
        )
    }
}

/// An outbox entry on its way to a sender, with its key.
pub(crate) struct Queued {
    pub(crate) key: String,
    pub(crate) entry: OutboxEntry,
}

/// Why one delivery of an envelope did not go out.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Refusal {
    /// The recipient it was for, when there was one.
    pub recipient: Option<String>,
    /// A stable reason code (`not-linked`, `no-consent`, `blocked`,
    /// `encode-failed`…), also the metrics label.
    pub reason: String,
    /// Words for people, shown to the sender.
    pub detail: String,
}

/// The outcome of routing one envelope, kept under `status:<id>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RouteStatus {
    /// `routed` (something was queued, or there was nothing to send), `echo`,
    /// `rejected` (every delivery refused) or `failed` (the pipeline could not
    /// judge it).
    pub state: String,
    /// The outbox keys it produced.
    pub deliveries: Vec<String>,
    /// The deliveries that were refused, and why.
    pub refused: Vec<Refusal>,
}

impl RouteStatus {
    fn new(state: &str, deliveries: Vec<String>, refused: Vec<Refusal>) -> RouteStatus {
        RouteStatus {
            state: state.into(),
            deliveries,
            refused,
        }
    }

    /// The envelope could not be judged at all.
    fn failed(reason: &str, detail: String) -> RouteStatus {
        let refusal = Refusal {
            recipient: None,
            reason: reason.into(),
            detail,
        };
        RouteStatus::new("failed", Vec::new(), vec![refusal])
    }

    fn change(&self, envelope_id: &str) -> Result<Change> {
        Ok(Change::Set(
            format!("status:{envelope_id}"),
            serde_json::to_vec(self)?,
        ))
    }
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
    outbox: mpsc::UnboundedSender<Queued>,
    outbox_receiver: Mutex<Option<mpsc::UnboundedReceiver<Queued>>>,
    agent: ureq::Agent,
    /// Native builds of the router and translators, for the comparison
    /// benchmark only ([`crate::native`]); `None` runs the components.
    native: Option<Arc<dyn NativeStages>>,
}

/// The composed router component, ready to instantiate.
struct RouterComponent {
    pre: PipelineRouterPre<HttpState>,
    grants: Arc<Grants>,
    limits: Limits,
    deadline_ticks: u64,
}

/// One router instance with its store (or the native build of the router).
enum RouterInstance {
    Component {
        store: Box<Store<HttpState>>,
        bindings: PipelineRouter,
        deadline_ticks: u64,
    },
    Native(Arc<dyn NativeStages>, Arc<WriteBuffer>),
}

impl RouterInstance {
    async fn route(&mut self, envelope: &Envelope) -> Result<Result<Vec<Delivery>, RouteError>> {
        match self {
            RouterInstance::Component {
                store,
                bindings,
                deadline_ticks,
            } => {
                store.set_epoch_deadline(*deadline_ticks);
                bindings
                    .switchboard_messaging_router()
                    .call_route(store.as_mut(), envelope)
                    .await
                    .map_err(anyhow::Error::from)
            }
            RouterInstance::Native(stages, buffer) => Ok(stages.route(buffer.as_ref(), envelope)),
        }
    }

    async fn check(&mut self, envelope: &Envelope, recipient: &Address) -> Result<Verdict> {
        match self {
            RouterInstance::Component {
                store,
                bindings,
                deadline_ticks,
            } => {
                store.set_epoch_deadline(*deadline_ticks);
                bindings
                    .switchboard_messaging_policy()
                    .call_check(store.as_mut(), envelope, recipient)
                    .await
                    .map_err(anyhow::Error::from)
            }
            RouterInstance::Native(stages, buffer) => {
                Ok(stages.check(buffer.as_ref(), envelope, recipient, now_ms()))
            }
        }
    }
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
    /// Commit these changes, then hand these entries to the senders.
    Done(Vec<Change>, Vec<Queued>),
    /// Try again later (an event about a message still on its way).
    Hold(String),
}

impl Pipeline {
    /// Loads the pipeline of `manifest`: the router component (composed with
    /// its dependencies) and the translators the gateways depend on, keyed by
    /// the platform each describes. `None` when the manifest has no router
    /// component.
    pub fn load(
        runtime: &Runtime,
        manifest: &Manifest,
        stores: &KeyValueStores,
        linker: &Linker<HttpState>,
        config: HostConfig,
        native: Option<Arc<dyn NativeStages>>,
    ) -> Result<Option<Pipeline>> {
        let router_id = config.pipeline.router.clone();
        if !manifest.app.component.contains_key(&router_id) {
            tracing::warn!(component = %router_id, "no router component in the manifest: webhooks are stored but not routed");
            return Ok(None);
        }
        let mut linker = linker.clone();
        // The canonical types are an interface of types only: an empty instance.
        linker
            .instance("switchboard:messaging/types@0.1.0")
            .map_err(anyhow::Error::from)?;
        let pre = crate::serve::link(runtime, &linker, manifest, &router_id)?;
        let pre = PipelineRouterPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("component `{router_id}` does not export `policy` and `router`")
            })?;
        let grants = Grants::for_component(manifest, &router_id, stores)?;
        let store = stores
            .get("default")
            .context("the pipeline needs the `default` key-value store")?;

        // The translators are what the gateways import as `translator`; the
        // same file may serve several gateways.
        let mut translator_paths = BTreeSet::new();
        for (owner, component) in &manifest.app.component {
            if let Some(dependency) = component.dependencies.get(TRANSLATOR_IMPORT) {
                translator_paths.insert(manifest.dependency_path(
                    owner,
                    TRANSLATOR_IMPORT,
                    dependency,
                )?);
            }
        }
        let mut translators = BTreeMap::new();
        for path in translator_paths {
            let wasm = std::fs::read(&path)
                .with_context(|| format!("cannot read translator {}", path.display()))?;
            let name = path.file_stem().unwrap_or_default().to_string_lossy();
            let translator = Translator::load(runtime, &name, &wasm)?;
            let platform = translator.platform().to_string();
            tracing::info!(path = %path.display(), %platform, "translator ready");
            translators.insert(platform, translator);
        }
        let mut tokens = BTreeMap::new();
        // Platforms without a translator (Facebook Stories) send with a token too.
        let platforms: BTreeSet<&String> =
            translators.keys().chain(config.platforms.keys()).collect();
        for platform in platforms {
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
        let (outbox, outbox_receiver) = mpsc::unbounded_channel();
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
            outbox,
            outbox_receiver: Mutex::new(Some(outbox_receiver)),
            agent,
            native,
        }))
    }

    /// Tells the router stage that the inbox has something new.
    pub fn wake(&self) {
        self.inbox_signal.notify_one();
    }

    /// Runs both stages until the process stops. What the outbox held when
    /// the host stopped is sent first.
    pub async fn run(self: Arc<Self>) {
        let receiver = self
            .outbox_receiver
            .lock()
            .ok()
            .and_then(|mut receiver| receiver.take());
        let Some(receiver) = receiver else {
            tracing::error!("the pipeline is already running");
            return;
        };
        if let Err(error) = self.resume_outbox() {
            tracing::error!(error = %format!("{error:#}"), "cannot read the outbox");
        }
        let senders = tokio::spawn(self.clone().run_senders(receiver));
        self.run_router().await;
        senders.abort();
    }

    /// Queues every entry the outbox holds: the store is the truth, the queue
    /// only schedules.
    fn resume_outbox(&self) -> Result<()> {
        for (key, value) in self.store.scan_prefix("outbox:", usize::MAX)? {
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

    fn queue(&self, queued: Queued) {
        // The receiver lives as long as the pipeline runs.
        let _ = self.outbox.send(queued);
    }

    /// Commits `changes` with `entries` in one transaction, then hands the
    /// entries to the senders: how work that does not come through the
    /// inbox (story publishing) joins the durable outbox.
    pub(crate) fn enqueue(&self, mut changes: Vec<Change>, entries: Vec<Queued>) -> Result<()> {
        for Queued { key, entry } in &entries {
            changes.push(Change::Set(key.clone(), serde_json::to_vec(entry)?));
        }
        self.store.apply(&changes)?;
        entries.into_iter().for_each(|entry| self.queue(entry));
        Ok(())
    }

    /// The pipeline's store (the manifest's `default` key-value store).
    pub(crate) fn store(&self) -> &Arc<EmbeddedStore> {
        &self.store
    }

    /// The host settings the pipeline runs with.
    pub(crate) fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Removes an entry that must not be sent any more (a story that expired
    /// or was deleted), recording why under `dropped:…`.
    fn drop_entry(&self, key: &str, entry: &OutboxEntry, reason: &str) -> Result<()> {
        tracing::info!(%key, %reason, "dropped");
        self.metrics.reject("story-dropped");
        let record = serde_json::json!({ "reason": reason, "entry": entry, "at_ms": now_ms() });
        let rest = key.strip_prefix("outbox:").unwrap_or(key);
        self.store.apply(&[
            Change::Delete(key.to_string()),
            Change::Set(format!("dropped:{rest}"), record.to_string().into_bytes()),
        ])
    }

    async fn run_router(&self) {
        // Envelopes waiting for an earlier message: (tries, not before ms).
        let mut held: HashMap<String, (u32, u64)> = HashMap::new();
        loop {
            match self.route_pending(&mut held).await {
                Ok(0) => {
                    tokio::select! {
                        _ = self.inbox_signal.notified() => {}
                        _ = tokio::time::sleep(Duration::from_millis(self.config.pipeline.hold_retry_ms)) => {}
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "routing stopped for a moment");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// A router instance whose directory writes are held in `writes`.
    async fn instantiate_router(&self, writes: &Arc<HeldWrites>) -> Result<RouterInstance> {
        if let Some(native) = &self.native {
            return Ok(RouterInstance::Native(
                native.clone(),
                writes.buffer_for(&self.store),
            ));
        }
        let router = &self.router;
        let mut state = HttpState::new(router.grants.clone(), &router.limits);
        state.hold_writes(writes.clone());
        let mut store = Store::new(router.pre.engine(), state);
        store.limiter(|state| state.limiter());
        store.set_epoch_deadline(router.deadline_ticks);
        let bindings = router.pre.instantiate_async(&mut store).await?;
        Ok(RouterInstance::Component {
            store: Box::new(store),
            bindings,
            deadline_ticks: router.deadline_ticks,
        })
    }

    /// Routes what is in the inbox; returns how many envelopes it settled.
    async fn route_pending(&self, held: &mut HashMap<String, (u32, u64)>) -> Result<usize> {
        let now = now_ms();
        // Up to a pass's worth of envelopes that are due, paging past the
        // held ones, however many there are, so that they never starve new
        // ones.
        let mut envelopes = Vec::new();
        let mut second_copies = Vec::new();
        let mut after: Option<String> = None;
        'pages: loop {
            let page = self
                .store
                .scan_prefix_after(INBOX_PREFIX, after.as_deref(), PASS_SIZE)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = Some(last.clone());
            let exhausted = page.len() < PASS_SIZE;
            for (key, value) in page {
                if envelopes.len() >= PASS_SIZE {
                    break 'pages;
                }
                let id = &key[INBOX_PREFIX.len()..];
                if held.get(id).is_some_and(|(_, due)| *due > now) {
                    continue;
                }
                // Routed before: its status was committed with the removal of
                // the first copy. A second copy is a webhook the platform
                // delivered twice at once, both found new by the gateway.
                if self.store.get(&directory_schema::status_key(id))?.is_some() {
                    tracing::info!(envelope = %id, "second copy of a routed envelope dropped");
                    second_copies.push(Change::Delete(key));
                    continue;
                }
                match serde_json::from_slice::<Envelope>(&value) {
                    Ok(envelope) => envelopes.push((key, envelope)),
                    Err(error) => {
                        self.metrics.reject("unreadable");
                        let detail = format!("the stored envelope is not readable: {error}");
                        let status = RouteStatus::failed("unreadable", detail).change(id)?;
                        self.store.apply(&[status, Change::Delete(key)])?;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        envelopes.sort_by(|(_, a), (_, b)| (a.timestamp_ms, &a.id).cmp(&(b.timestamp_ms, &b.id)));
        // Everything this pass settles is committed in one transaction (one
        // flush for the batch), then handed to the senders: the directory's
        // writes (held in `directory_writes`) with the outbox entries they led
        // to, and the removal of second copies.
        let directory_writes = Arc::new(HeldWrites::default());
        let mut changes = second_copies;
        let mut queued = Vec::new();
        let mut settled = Vec::new();
        let mut router: Option<RouterInstance> = None;
        for (key, envelope) in envelopes {
            let instance = match router.as_mut() {
                Some(instance) => instance,
                None => router.insert(self.instantiate_router(&directory_writes).await?),
            };
            // The last try before giving up on a reference that does not map
            // everywhere: deliver where it does.
            let last_try = held
                .get(&envelope.id)
                .is_some_and(|(tries, _)| tries + 1 >= self.config.pipeline.hold_tries);
            let outcome = match self.route_one(instance, &envelope, now, last_try).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    // A trap or deadline: this envelope fails, the next one gets
                    // a fresh instance.
                    router = None;
                    let detail = format!("the router component failed: {error:#}");
                    tracing::error!(envelope = %envelope.id, %detail);
                    self.metrics.reject("router-failed");
                    let status = RouteStatus::failed("router-failed", detail);
                    Routed::Done(vec![status.change(&envelope.id)?], Vec::new())
                }
            };
            let (envelope_changes, envelope_queued) = match outcome {
                Routed::Done(changes, queued) => (changes, queued),
                Routed::Hold(reason) => {
                    let tries = held.entry(envelope.id.clone()).or_insert((0, 0));
                    tries.0 += 1;
                    tries.1 = now + self.config.pipeline.hold_retry_ms;
                    if tries.0 < self.config.pipeline.hold_tries {
                        tracing::debug!(envelope = %envelope.id, %reason, tries = tries.0, "held");
                        continue;
                    }
                    // Only a policy hold gets here: a reference that does not
                    // map is settled by `route_one` on its last try.
                    self.metrics.reject("hold-expired");
                    let status = RouteStatus::failed("hold-expired", reason);
                    (vec![status.change(&envelope.id)?], Vec::new())
                }
            };
            changes.extend(envelope_changes);
            changes.push(Change::Delete(key));
            changes.push(Change::SetIfAbsent(
                envelope_key(&envelope.id),
                serde_json::to_vec(&envelope)?,
            ));
            queued.extend(envelope_queued);
            settled.push(envelope);
        }
        let mut writes = directory_writes.buffer_for(&self.store).take_changes();
        writes.extend(changes);
        if writes.is_empty() {
            return Ok(0);
        }
        crate::serve::durable_write(|| self.store.apply(&writes))?;
        // Writes to any other store the router opened (none today).
        crate::serve::durable_write(|| directory_writes.commit())?;
        queued.into_iter().for_each(|entry| self.queue(entry));
        for envelope in &settled {
            held.remove(&envelope.id);
            Metrics::platform(&self.metrics.messages_in, &envelope.platform).inc();
        }
        Ok(settled.len())
    }

    /// Routes, judges and encodes one envelope: the changes to commit and the
    /// deliveries to send. An error is the router component failing. An event
    /// about a message that has not reached every app is held until every
    /// delivery of that message has ended, or its `last_try`; then it goes
    /// where the message did (nowhere, with its refusal on record, if that
    /// message reached no other app).
    async fn route_one(
        &self,
        router: &mut RouterInstance,
        envelope: &Envelope,
        now: u64,
        last_try: bool,
    ) -> Result<Routed> {
        let mut refused = Vec::new();
        let deliveries = match router.route(envelope).await? {
            Ok(deliveries) => deliveries,
            Err(RouteError::UnknownMessage(unmapped)) => {
                let id = &unmapped.native_id;
                let settled = last_try || self.reference_settled(&envelope.platform, id)?;
                if !settled {
                    return Ok(Routed::Hold(format!(
                        "it refers to message {id}, which the pipeline has not delivered to every app"
                    )));
                }
                refused.push(Refusal {
                    recipient: None,
                    reason: "unknown-message".into(),
                    detail: format!(
                        "the message it refers to ({id}) never reached some of the apps, so it went only where that message did"
                    ),
                });
                unmapped.deliverable
            }
            Err(RouteError::NotLinked(_)) | Err(RouteError::UnknownRecipient(_)) => {
                let refusal = Refusal {
                    recipient: None,
                    reason: reason_code(RejectionReason::NotLinked).into(),
                    detail: "you have no linked account on another app".into(),
                };
                return self.settle(envelope, Vec::new(), vec![refusal], now);
            }
        };
        if envelope.echo {
            let status = RouteStatus::new("echo", Vec::new(), Vec::new());
            return Ok(Routed::Done(vec![status.change(&envelope.id)?], Vec::new()));
        }
        let mut queued = Vec::new();
        for delivery in deliveries {
            let refuse = |reason: &str, detail: String| Refusal {
                recipient: Some(format!(
                    "{}:{}",
                    delivery.recipient.platform, delivery.recipient.id
                )),
                reason: reason.into(),
                detail,
            };
            match router.check(envelope, &delivery.recipient).await? {
                Verdict::Deliver => {}
                Verdict::Hold(reason) => return Ok(Routed::Hold(reason)),
                Verdict::Reject(rejection) => {
                    refused.push(refuse(reason_code(rejection.reason), rejection.detail));
                    continue;
                }
            }
            match self.encode(&delivery.envelope, &delivery.recipient) {
                Ok(Some(encoded)) => {
                    let entry = OutboxEntry::new(&envelope.id, &delivery.recipient, encoded, now);
                    queued.push(Queued {
                        key: entry.key(),
                        entry,
                    });
                }
                // Nothing to send on that app (a dropped typing indicator…).
                Ok(None) => {}
                Err((reason, detail)) => refused.push(refuse(reason, detail)),
            }
        }
        self.settle(envelope, queued, refused, now)
    }

    /// Whether the message an event refers to (`native_id` on `platform`) was
    /// routed and every delivery of it has ended (sent, dead-lettered or
    /// refused): then no wait can make the reference map on another app, and
    /// the event goes where it can at once. A message not known yet (its
    /// webhook may come after the event's) or with a delivery still in the
    /// outbox is worth waiting for.
    fn reference_settled(&self, platform: &str, native_id: &str) -> Result<bool> {
        let Some(canonical) = self
            .store
            .get(&directory_schema::native_id_key(platform, native_id))?
        else {
            return Ok(false);
        };
        let canonical = String::from_utf8_lossy(&canonical);
        let Some(status) = self.store.get(&directory_schema::status_key(&canonical))? else {
            return Ok(false);
        };
        let Ok(status) = serde_json::from_slice::<RouteStatus>(&status) else {
            return Ok(false);
        };
        for delivery in &status.deliveries {
            if self.store.get(delivery)?.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Encodes `envelope` for `recipient` with the target's translator, sent
    /// from the account configured for that platform. `None` when there is
    /// nothing to send; an error is a reason code and words for the sender.
    fn encode(
        &self,
        envelope: &Envelope,
        recipient: &Address,
    ) -> Result<Option<Encoded>, (&'static str, String)> {
        let platform = &recipient.platform;
        let not_connected = || ("no-translator", format!("{platform} is not connected"));
        let sender = Address {
            platform: platform.clone(),
            id: self.config.platform(platform).account,
        };
        let encoded = match &self.native {
            Some(native) => native
                .encode(envelope, &sender, recipient)
                .ok_or_else(not_connected)?,
            None => self
                .translators
                .get(platform)
                .ok_or_else(not_connected)?
                .instantiate()
                .and_then(|mut instance| instance.encode(envelope, &sender, recipient))
                .map_err(|error| ("translator-failed", error.to_string()))?,
        }
        .map_err(|error| ("encode-failed", describe_encode_error(&error)))?;
        Ok((!encoded.requests.is_empty()).then_some(encoded))
    }

    /// The changes that settle a judged envelope: its outbox entries, its
    /// status, and — when something was refused — one notice to the sender on
    /// their own app saying why.
    fn settle(
        &self,
        envelope: &Envelope,
        mut queued: Vec<Queued>,
        refused: Vec<Refusal>,
        now: u64,
    ) -> Result<Routed> {
        for refusal in &refused {
            self.metrics.reject(&refusal.reason);
            tracing::info!(envelope = %envelope.id, recipient = ?refusal.recipient, reason = %refusal.reason, detail = %refusal.detail, "not delivered");
        }
        let state = if queued.is_empty() && !refused.is_empty() {
            "rejected"
        } else {
            "routed"
        };
        if let Some(first) = refused.first()
            && let Some(notice) = self.notice(envelope, &first.detail, now)
        {
            queued.push(notice);
        }
        let mut changes = Vec::new();
        for Queued { key, entry } in &queued {
            changes.push(Change::Set(key.clone(), serde_json::to_vec(entry)?));
        }
        let keys = queued.iter().map(|queued| queued.key.clone()).collect();
        changes.push(RouteStatus::new(state, keys, refused).change(&envelope.id)?);
        Ok(Routed::Done(changes, queued))
    }

    /// A "not delivered" message to the sender of `envelope` on their own app.
    /// Only people's messages get one: not echoes, reactions or receipts, and
    /// not what the business API sent (its status says why).
    fn notice(&self, envelope: &Envelope, detail: &str, now: u64) -> Option<Queued> {
        if envelope.echo
            || !matches!(envelope.event, Event::Message(_))
            || directory_schema::is_api_envelope(&envelope.id)
        {
            return None;
        }
        let notice = Envelope {
            id: format!("{}:notice", envelope.id),
            platform: envelope.platform.clone(),
            native_id: None,
            conversation: envelope.conversation.clone(),
            sender: Participant {
                address: Address {
                    platform: envelope.platform.clone(),
                    id: self.config.platform(&envelope.platform).account,
                },
                attributes: Vec::new(),
            },
            recipient: envelope.sender.address.clone(),
            timestamp_ms: now,
            event: Event::Message(Message {
                content: Content::Text(FormattedText {
                    body: format!("Not delivered: {detail}."),
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
        match self.encode(&notice, &envelope.sender.address) {
            Ok(Some(encoded)) => {
                let entry = OutboxEntry::new(&notice.id, &envelope.sender.address, encoded, now);
                Some(Queued {
                    key: entry.key(),
                    entry,
                })
            }
            Ok(None) => None,
            Err((_, detail)) => {
                tracing::warn!(%detail, "cannot encode the notice");
                None
            }
        }
    }

    /// Sends what is queued, at most `delivery.workers` at a time; a retry
    /// goes back on the queue when it is due.
    async fn run_senders(self: Arc<Self>, mut receiver: mpsc::UnboundedReceiver<Queued>) {
        let permits = Arc::new(Semaphore::new(self.config.delivery.workers));
        while let Some(queued) = receiver.recv().await {
            let wait = queued.entry.next_at_ms.saturating_sub(now_ms());
            if wait > 0 {
                let pipeline = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    pipeline.queue(queued);
                });
                continue;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let pipeline = self.clone();
            tokio::task::spawn_blocking(move || {
                let key = queued.key.clone();
                match pipeline.send(queued) {
                    Ok(Some(retry)) => pipeline.queue(retry),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::error!(%key, error = %format!("{error:#}"), "delivery bookkeeping failed")
                    }
                }
                drop(permit);
            });
        }
    }

    fn dead_letter(
        &self,
        key: &str,
        entry: serde_json::Value,
        reason: &str,
        platform: &str,
    ) -> Result<()> {
        tracing::warn!(%key, %reason, "dead-lettered");
        Metrics::platform(&self.metrics.dead_letters, platform).inc();
        let record = serde_json::json!({ "reason": reason, "entry": entry, "at_ms": now_ms() });
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
    /// after each. Returns the entry to try again later, or `None` when it is
    /// delivered or dead-lettered.
    fn send(&self, Queued { key, mut entry }: Queued) -> Result<Option<Queued>> {
        let platform = self.config.platform(&entry.platform);
        while entry.sent < entry.encoded.requests.len() {
            let index = entry.sent;
            // A story entry is checked (not expired, not deleted) and filled
            // in with what earlier answers gave, at the moment it is sent.
            let prepared = match &entry.story {
                Some(story) => match crate::story_service::prepare(
                    &self.store,
                    story,
                    &entry.encoded.requests[index],
                    index,
                    now_ms(),
                ) {
                    Ok(prepared) => Some(prepared),
                    Err(reason) => {
                        self.drop_entry(&key, &entry, &reason)?;
                        return Ok(None);
                    }
                },
                None => None,
            };
            let request = prepared
                .as_ref()
                .map_or(&entry.encoded.requests[index], |prepared| &prepared.request);
            let url = if request.path.starts_with("https://") || request.path.starts_with("http://")
            {
                request.path.clone()
            } else {
                format!(
                    "{}{}",
                    platform.api_base.trim_end_matches('/'),
                    request.path
                )
            };
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
                let scheme = prepared
                    .as_ref()
                    .map_or("Bearer", |prepared| prepared.auth_scheme);
                builder = builder.header("Authorization", format!("{scheme} {token}"));
            }
            let outcome = builder
                .body(request.body.clone())
                .map_err(|error| format!("cannot build the request: {error}"))
                .and_then(|request| {
                    self.agent
                        .run(request)
                        .map_err(|error| format!("{url}: {error}"))
                });
            let (reason, retryable) = match outcome {
                Ok(mut response) if response.status().is_success() => {
                    let body = response
                        .body_mut()
                        .with_config()
                        .limit(1 << 20)
                        .read_to_vec()
                        .unwrap_or_default();
                    match entry
                        .story
                        .as_ref()
                        .and_then(|story| crate::story_service::not_ready(story, index, &body))
                    {
                        // Accepted, but what it made is not ready to go on
                        // (a video still processing): try again later.
                        Some(reason) => (format!("{url}: {reason}"), true),
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
                    (
                        format!("{url} answered {status}: {}", body.trim()),
                        retryable,
                    )
                }
                Err(error) => (error, true),
            };
            entry.attempts += 1;
            entry.last_error = Some(reason.clone());
            if !retryable || entry.attempts >= self.config.delivery.max_attempts {
                let reason = if retryable {
                    format!("gave up after {} tries: {reason}", entry.attempts)
                } else {
                    format!("refused by the platform: {reason}")
                };
                let platform = entry.platform.clone();
                self.dead_letter(&key, serde_json::to_value(entry)?, &reason, &platform)?;
                return Ok(None);
            }
            entry.next_at_ms = now_ms() + self.backoff_ms(entry.attempts);
            Metrics::platform(&self.metrics.retries, &entry.platform).inc();
            tracing::warn!(%key, attempts = entry.attempts, %reason, retry_in_ms = entry.next_at_ms.saturating_sub(now_ms()), "send failed; will retry");
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
        if entry.story.is_some() {
            // A story step: the ids it got are the story service's records
            // (cross-post ids for deletion and replies), not message ids.
            let index = entry.sent;
            let (native_id, changes) = crate::story_service::accepted(entry, index, response_body)?;
            entry.native_ids.extend(native_id.clone());
            self.progress(key, entry, changes)?;
            if let Some(native_id) = native_id
                && let Some(deletion) = crate::story_service::delete_if_original_deleted(
                    &self.store,
                    entry,
                    &native_id,
                    &self.config.stories.graph_version,
                )?
            {
                self.enqueue(Vec::new(), vec![deletion])?;
            }
            return Ok(());
        }
        let native_id = match &self.native {
            Some(native) => native.sent_message_id(&entry.platform, response_body),
            None => self
                .translators
                .get(&entry.platform)
                .and_then(|translator| {
                    let mut instance = translator.instantiate().ok()?;
                    instance.sent_message_id(response_body).ok().flatten()
                }),
        };
        let mut changes = Vec::new();
        if let Some(native_id) = native_id {
            changes.push(Change::Set(
                directory_schema::native_id_key(&entry.platform, &native_id),
                entry.envelope_id.as_bytes().to_vec(),
            ));
            // A message split into several requests maps to its first id.
            changes.push(Change::SetIfAbsent(
                directory_schema::canonical_id_key(&entry.envelope_id, &entry.platform),
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
        // Counted once committed: a scrape never shows a send the store lacks.
        Metrics::platform(&self.metrics.messages_out, &entry.platform).inc();
        let elapsed = now_ms().saturating_sub(entry.created_ms);
        self.metrics
            .delivery_latency
            .observe(elapsed as f64 / 1000.0);
        tracing::info!(%key, native_ids = ?entry.native_ids, "delivered");
        Ok(())
    }

    /// Exponential backoff with "equal jitter": the ceiling doubles with each
    /// try up to `backoff_max_ms`; half of it is fixed, half random, so a
    /// retry is never immediate and retries never move in lock-step.
    fn backoff_ms(&self, attempts: u32) -> u64 {
        let delivery = &self.config.delivery;
        let ceiling = delivery
            .backoff_base_ms
            .saturating_mul(1u64 << attempts.min(20))
            .min(delivery.backoff_max_ms)
            .max(1);
        ceiling / 2 + rand::random_range(0..=ceiling / 2)
    }
}
