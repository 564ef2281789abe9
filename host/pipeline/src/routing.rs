//! The router stage: drains the inbox into the outbox.
//!
//! ```text
//! inbox:<id> ──route──▶ router (policy + routing over the directory)
//!      │                ──encode──▶ translator of each recipient's platform
//!      └─ one transaction ─▶ outbox:<id>:<platform>:<recipient>, status:<id>
//! ```
//!
//! A pass takes up to [`PASS_SIZE`] due envelopes, oldest first, and commits
//! everything it settles in one transaction: the directory's writes, the
//! outbox entries they led to, each envelope's status and the removal of its
//! inbox entry. Refusals are judged per recipient; the sender gets one notice
//! on their own app saying why. An event about a message still on its way is
//! held and tried again (`pipeline.hold_retry_ms` × `hold_tries`).
//!
//! The apps' reply windows bind every delivery (the `window` module): a
//! person's message records when their window at that endpoint opened and
//! releases what waited for them there; a delivery to a person whose window
//! is closed waits under `waiting:` (listed in the status), with the app's
//! re-engagement form (a WhatsApp template) sent in its place once.

use crate::bindings::router::exports::switchboard::messaging::policy::{RejectionReason, Verdict};
use crate::bindings::router::exports::switchboard::messaging::router::RouteError;
use crate::bindings::types::{
    Address, Content, Conversation, Envelope, Event, FormattedText, Message, MessageCategory,
    Participant,
};
use crate::clock::now_ms;
use crate::config::HostConfig;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, OutboxEntry, Queued};
use crate::plugins::translator::{Encoded, describe_encode_error};
use crate::redact::digest;
use crate::stages::{Delivery, EncodeFailure, RouterInstance, RouterStage, TranslatorStage};
use crate::window::{WINDOW_CLOSED, WindowPass};
use anyhow::Result;
use directory_schema::{INBOX_PREFIX, envelope_key};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_runtime::key_value::{Change, EmbeddedStore, HeldWrites, durable_write};
use tokio::sync::Notify;

/// Most envelopes routed in one pass (one transaction).
pub const PASS_SIZE: usize = 512;

/// Why one delivery of an envelope did not go out.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Refusal {
    /// The recipient it was for, when there was one.
    pub recipient: Option<String>,
    /// A stable reason code (`no-conversation`, `no-consent`, `blocked`,
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
    /// The deliveries waiting for their recipient's reply window
    /// (`waiting:` keys): they go out when the recipient writes again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<String>,
    /// When it was judged (ms since the epoch), for its retention.
    #[serde(default)]
    pub at_ms: u64,
}

impl RouteStatus {
    fn new(state: &str, deliveries: Vec<String>, refused: Vec<Refusal>) -> RouteStatus {
        RouteStatus {
            state: state.into(),
            deliveries,
            refused,
            waiting: Vec::new(),
            at_ms: now_ms(),
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
            directory_schema::status_key(envelope_id),
            serde_json::to_vec(self)?,
        ))
    }
}

fn reason_code(reason: RejectionReason) -> &'static str {
    match reason {
        RejectionReason::NoConversation => "no-conversation",
        RejectionReason::NoConsent => "no-consent",
        RejectionReason::Blocked => "blocked",
        RejectionReason::MarketingWithoutOptIn => "marketing-without-opt-in",
        RejectionReason::OptedOut => "opted-out",
        RejectionReason::RateLimited => "rate-limited",
    }
}

/// The reason code and words for the sender of an encoding that failed for
/// a recipient on `platform`.
fn refusal_of(failure: EncodeFailure, platform: &str) -> (&'static str, String) {
    match failure {
        EncodeFailure::NotConnected => ("no-translator", format!("{platform} is not connected")),
        EncodeFailure::Failed(detail) => ("translator-failed", detail),
        EncodeFailure::Unavailable(detail) => ("translator-unavailable", detail),
        EncodeFailure::Refused(error) => ("encode-failed", describe_encode_error(&error)),
    }
}

/// What routing one envelope decided.
enum Routed {
    /// Commit these changes, then hand these entries to the senders.
    Done(Vec<Change>, Vec<Queued>),
    /// Try again later (an event about a message still on its way).
    Hold(String),
    /// Try again later, however long it takes: a resource was short (no
    /// translator instance), nothing is wrong with the envelope.
    Retry(String),
    /// Refused, and no record kept of it (a stranger's message past the
    /// budget for strangers): the inbox entry and the envelope record go.
    Forget,
}

/// The router stage of a running pipeline.
pub struct Router {
    store: Arc<EmbeddedStore>,
    stage: Arc<dyn RouterStage>,
    translators: Arc<dyn TranslatorStage>,
    config: HostConfig,
    metrics: Arc<Metrics>,
    outbox: Arc<Outbox>,
    inbox_signal: Notify,
    notices: NoticeLimit,
    unknown_senders: MinuteBudget,
}

/// At most one notice per sender per interval. Kept in memory: after a
/// restart a sender may get one more.
struct NoticeLimit {
    interval_ms: u64,
    last: Mutex<HashMap<(String, String), u64>>,
}

impl NoticeLimit {
    /// Whether `sender` may get a notice at `now`; if so, it is counted.
    fn admit(&self, sender: &Address, now: u64) -> bool {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Forget senders whose interval has passed, so the map stays small.
        if last.len() > 10_000 {
            last.retain(|_, at| now.saturating_sub(*at) < self.interval_ms);
        }
        let who = (sender.platform.clone(), sender.id.clone());
        match last.get(&who) {
            Some(at) if now.saturating_sub(*at) < self.interval_ms => false,
            _ => {
                last.insert(who, now);
                true
            }
        }
    }
}

/// A count per minute with a ceiling.
struct MinuteBudget {
    per_minute: u32,
    window: Mutex<(u64, u32)>,
}

impl MinuteBudget {
    /// Whether one more fits in the minute of `now`; if so, it is counted.
    fn admit(&self, now: u64) -> bool {
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let minute = now / 60_000;
        if window.0 != minute {
            *window = (minute, 0);
        }
        if window.1 >= self.per_minute {
            return false;
        }
        window.1 += 1;
        true
    }
}

impl Router {
    /// A router stage that routes with `stage`, encodes with `translators`
    /// and hands what it settles to `outbox`.
    pub fn new(
        stage: Arc<dyn RouterStage>,
        translators: Arc<dyn TranslatorStage>,
        config: HostConfig,
        metrics: Arc<Metrics>,
        outbox: Arc<Outbox>,
    ) -> Router {
        let notices = NoticeLimit {
            interval_ms: config.pipeline.notice_interval_ms,
            last: Mutex::new(HashMap::new()),
        };
        let unknown_senders = MinuteBudget {
            per_minute: config.pipeline.unknown_senders_per_minute,
            window: Mutex::new((0, 0)),
        };
        Router {
            store: outbox.store().clone(),
            stage,
            translators,
            config,
            metrics,
            outbox,
            inbox_signal: Notify::new(),
            notices,
            unknown_senders,
        }
    }

    /// Tells the router that the inbox has something new.
    pub fn wake(&self) {
        self.inbox_signal.notify_one();
    }

    /// Routes until the process stops.
    pub async fn run(&self) {
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
                    tracing::info!(envelope = %digest(id), "second copy of a routed envelope dropped");
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
        let mut router: Option<Box<dyn RouterInstance>> = None;
        let mut windows = WindowPass::new(&self.store, &self.config, now);
        for (key, envelope) in envelopes {
            let instance = match router.as_mut() {
                Some(instance) => instance,
                None => router.insert(
                    self.stage
                        .instantiate(&self.store, &directory_writes)
                        .await?,
                ),
            };
            // The last try before giving up on a reference that does not map
            // everywhere: deliver where it does.
            let last_try = held
                .get(&envelope.id)
                .is_some_and(|(tries, _)| tries + 1 >= self.config.pipeline.hold_tries);
            let outcome = match self
                .route_one(instance.as_mut(), &envelope, now, last_try, &mut windows)
                .await
            {
                Ok(outcome) => outcome,
                Err(error) => {
                    // A trap or deadline: this envelope fails, the next one gets
                    // a fresh instance.
                    router = None;
                    let detail = format!("the router component failed: {error:#}");
                    tracing::error!(envelope = %digest(&envelope.id), %detail);
                    self.metrics.reject("router-failed");
                    let status = RouteStatus::failed("router-failed", detail);
                    Routed::Done(vec![status.change(&envelope.id)?], Vec::new())
                }
            };
            let (envelope_changes, envelope_queued) = match outcome {
                Routed::Done(changes, queued) => (changes, queued),
                Routed::Forget => {
                    changes.push(Change::Delete(key));
                    changes.push(Change::Delete(envelope_key(&envelope.id)));
                    settled.push(envelope);
                    continue;
                }
                Routed::Retry(reason) => {
                    // Not counted against `hold_tries`: a resource error
                    // never rejects a message.
                    let tries = held.entry(envelope.id.clone()).or_insert((0, 0));
                    tries.1 = now + self.config.pipeline.hold_retry_ms;
                    tracing::warn!(envelope = %digest(&envelope.id), %reason, "routing again later");
                    continue;
                }
                Routed::Hold(reason) => {
                    let tries = held.entry(envelope.id.clone()).or_insert((0, 0));
                    tries.0 += 1;
                    tries.1 = now + self.config.pipeline.hold_retry_ms;
                    if tries.0 < self.config.pipeline.hold_tries {
                        tracing::debug!(envelope = %digest(&envelope.id), %reason, tries = tries.0, "held");
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
        // The directory's writes go last: when a request accepted in this pass
        // puts a held envelope back in the inbox (and clears its status),
        // that must win over this pass settling the same envelope.
        let mut writes = changes;
        writes.extend(directory_writes.buffer_for(&self.store).take_changes());
        if writes.is_empty() {
            return Ok(0);
        }
        durable_write(|| self.store.apply(&writes))?;
        // Writes to any other store the router opened (none today).
        durable_write(|| directory_writes.commit())?;
        queued
            .into_iter()
            .for_each(|entry| self.outbox.queue(entry));
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
    ///
    /// A person's message first opens their window at the endpoint it came
    /// to, and releases what waited for them there ([`WindowPass::opened`]);
    /// then its deliveries are judged against their recipients' windows.
    /// What the pass learnt of windows is kept only when the envelope is
    /// settled.
    async fn route_one(
        &self,
        router: &mut dyn RouterInstance,
        envelope: &Envelope,
        now: u64,
        last_try: bool,
        windows: &mut WindowPass<'_>,
    ) -> Result<Routed> {
        let before = windows.clone();
        let opened = match windows.opened(envelope) {
            Ok(opened) => opened,
            Err(error) => {
                *windows = before;
                return Err(error);
            }
        };
        match self
            .route_judged(router, envelope, now, last_try, windows)
            .await
        {
            Ok(Routed::Done(mut changes, mut queued)) => {
                changes.extend(opened.changes);
                changes.extend(Outbox::changes(&opened.released)?);
                queued.extend(opened.released);
                Ok(Routed::Done(changes, queued))
            }
            other => {
                *windows = before;
                other
            }
        }
    }

    /// [`Router::route_one`] after the window of the envelope's sender.
    async fn route_judged(
        &self,
        router: &mut dyn RouterInstance,
        envelope: &Envelope,
        now: u64,
        last_try: bool,
        windows: &mut WindowPass<'_>,
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
            Err(RouteError::NoConversation(_)) | Err(RouteError::UnknownRecipient(_)) => {
                if !self.unknown_senders.admit(now) {
                    self.metrics.reject("unknown-sender-over-budget");
                    return Ok(Routed::Forget);
                }
                let refusal = Refusal {
                    recipient: None,
                    reason: reason_code(RejectionReason::NoConversation).into(),
                    detail: "you are in no conversation with anyone on another app here; send /help to see what you can do".into(),
                };
                return self.settle(envelope, Vec::new(), vec![refusal], Vec::new(), now);
            }
        };
        if envelope.echo {
            let status = RouteStatus::new("echo", Vec::new(), Vec::new());
            return Ok(Routed::Done(vec![status.change(&envelope.id)?], Vec::new()));
        }
        let mut queued = Vec::new();
        let mut waiting = Vec::new();
        let mut parked = Vec::new();
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
            match self.encode(&delivery.envelope, &delivery.endpoint, &delivery.recipient) {
                Ok(Some(encoded)) => {
                    let entry = OutboxEntry::new(&envelope.id, &delivery.recipient, encoded, now);
                    // The person who just wrote, where they wrote: their
                    // window opened with this envelope.
                    let to_writer = delivery.recipient == envelope.sender.address
                        && delivery.endpoint == envelope.recipient.id;
                    if to_writer || windows.is_open(&delivery.recipient, &delivery.endpoint)? {
                        queued.push(entry.queued());
                    } else if !crate::window::may_wait(&delivery.envelope.event) {
                        refused.push(refuse(
                            WINDOW_CLOSED,
                            "the recipient has not written here lately, and the app lets this wait for no one".into(),
                        ));
                    } else {
                        let park = windows.park(entry, &delivery.endpoint)?;
                        tracing::info!(envelope = %digest(&envelope.id), recipient = %digest(&delivery.recipient.id), first = park.first, "waiting for the recipient's reply window");
                        if park.first
                            && let Some(reengage) = self.reengage(envelope, &delivery, windows, now)
                        {
                            queued.push(reengage);
                        }
                        waiting.push(park.key);
                        parked.push(park.change);
                    }
                }
                // Nothing to send on that app (a dropped typing indicator…).
                Ok(None) => {}
                // No instance: nothing is wrong with the envelope.
                Err(EncodeFailure::Unavailable(detail)) => return Ok(Routed::Retry(detail)),
                Err(failure) => {
                    let (reason, detail) = refusal_of(failure, &delivery.recipient.platform);
                    refused.push(refuse(reason, detail));
                }
            }
        }
        let Routed::Done(mut changes, queued) =
            self.settle(envelope, queued, refused, waiting, now)?
        else {
            unreachable!("settle always settles")
        };
        changes.extend(parked);
        Ok(Routed::Done(changes, queued))
    }

    /// The re-engagement form of the recipient's app for `delivery`, whose
    /// recipient's window is closed (a WhatsApp template naming the writer),
    /// from the same endpoint; `None` when the app has none or it cannot be
    /// encoded.
    fn reengage(
        &self,
        envelope: &Envelope,
        delivery: &Delivery,
        windows: &WindowPass<'_>,
        now: u64,
    ) -> Option<Queued> {
        let template = windows.reengagement(&delivery.recipient.platform)?;
        let fallback = crate::window::writer_label(envelope, "someone");
        let label = crate::window::writer_label(&delivery.envelope, &fallback);
        let form = crate::window::reengagement(
            &format!("{}:reengage", envelope.id),
            &template,
            &label,
            &delivery.endpoint,
            &delivery.recipient,
            &delivery.envelope.conversation,
            now,
        );
        match self.encode(&form, &delivery.endpoint, &delivery.recipient) {
            Ok(Some(encoded)) => {
                Some(OutboxEntry::new(&form.id, &delivery.recipient, encoded, now).queued())
            }
            Ok(None) => None,
            Err(failure) => {
                let (reason, detail) = refusal_of(failure, &delivery.recipient.platform);
                tracing::warn!(%reason, %detail, "cannot encode the re-engagement template");
                None
            }
        }
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
    /// from the relay's `endpoint` on that app. `None` when there is nothing
    /// to send.
    fn encode(
        &self,
        envelope: &Envelope,
        endpoint: &str,
        recipient: &Address,
    ) -> Result<Option<Encoded>, EncodeFailure> {
        encode_for(self.translators.as_ref(), envelope, endpoint, recipient)
    }

    /// The changes that settle a judged envelope: its outbox entries, its
    /// status, and — when something was refused — one notice to the sender on
    /// their own app saying why.
    fn settle(
        &self,
        envelope: &Envelope,
        mut queued: Vec<Queued>,
        refused: Vec<Refusal>,
        waiting: Vec<String>,
        now: u64,
    ) -> Result<Routed> {
        for refusal in &refused {
            self.metrics.reject(&refusal.reason);
            tracing::info!(envelope = %digest(&envelope.id), recipient = %refusal.recipient.as_deref().map(digest).unwrap_or_default(), reason = %refusal.reason, "not delivered");
        }
        let state = if queued.is_empty() && waiting.is_empty() && !refused.is_empty() {
            "rejected"
        } else {
            "routed"
        };
        if let Some(first) = refused.first()
            && self.notices.admit(&envelope.sender.address, now)
            && let Some(notice) = self.notice(envelope, &first.detail, now)
        {
            queued.push(notice);
        }
        let mut changes = Outbox::changes(&queued)?;
        let keys = queued.iter().map(|queued| queued.key.clone()).collect();
        let mut status = RouteStatus::new(state, keys, refused);
        status.waiting = waiting;
        changes.push(status.change(&envelope.id)?);
        Ok(Routed::Done(changes, queued))
    }

    /// A "not delivered" message to the sender of `envelope` on their own app,
    /// from the endpoint they wrote to. Only people's messages get one: not
    /// echoes, reactions or receipts, and not what the business API sent (its
    /// status says why).
    fn notice(&self, envelope: &Envelope, detail: &str, now: u64) -> Option<Queued> {
        if envelope.echo
            || !matches!(envelope.event, Event::Message(_))
            || directory_schema::is_api_envelope(&envelope.id)
        {
            return None;
        }
        service_notice(
            self.translators.as_ref(),
            &format!("{}:notice", envelope.id),
            &envelope.recipient.id,
            &envelope.sender.address,
            envelope.conversation.clone(),
            format!("Not delivered: {detail}."),
            now,
        )
    }
}

/// Encodes `envelope` for `recipient` with the target's translator, sent
/// from the relay's `endpoint` on that app. `None` when there is nothing to
/// send.
fn encode_for(
    translators: &dyn TranslatorStage,
    envelope: &Envelope,
    endpoint: &str,
    recipient: &Address,
) -> Result<Option<Encoded>, EncodeFailure> {
    let sender = Address {
        platform: recipient.platform.clone(),
        id: endpoint.to_string(),
    };
    let encoded = translators.encode(envelope, &sender, recipient)?;
    Ok((!encoded.requests.is_empty()).then_some(encoded))
}

/// A service message (`id`) from the relay's `endpoint` to `recipient` on
/// their own app saying `body`, encoded by that app's translator and ready
/// for the outbox: the "Not delivered" notice to the sender of a refused
/// message, and the notice of a sharing policy
/// (the `announcements` module). `None` (logged) when the translator cannot
/// encode it or has nothing to send.
pub(crate) fn service_notice(
    translators: &dyn TranslatorStage,
    id: &str,
    endpoint: &str,
    recipient: &Address,
    conversation: Conversation,
    body: String,
    now: u64,
) -> Option<Queued> {
    let notice = Envelope {
        id: id.to_string(),
        platform: recipient.platform.clone(),
        native_id: None,
        conversation,
        sender: Participant {
            address: Address {
                platform: recipient.platform.clone(),
                id: endpoint.to_string(),
            },
            attributes: Vec::new(),
        },
        recipient: recipient.clone(),
        timestamp_ms: now,
        event: Event::Message(Message {
            content: Content::Text(FormattedText {
                body,
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
    match encode_for(translators, &notice, endpoint, recipient) {
        Ok(Some(encoded)) => Some(OutboxEntry::new(&notice.id, recipient, encoded, now).queued()),
        Ok(None) => None,
        Err(failure) => {
            let (reason, detail) = refusal_of(failure, &recipient.platform);
            tracing::warn!(%reason, %detail, "cannot encode the notice");
            None
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::outbox::tests::{address, envelope, scratch_store};
    use crate::plugins::translator::{HttpMethod, SendRequest};
    use crate::stages::{Delivery, Rejection};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use switchboard_runtime::http::BoxFuture;

    /// Routes every envelope to Bob on Messenger and Carol on Instagram;
    /// Carol has blocked the sender. Counts the envelopes it is asked about.
    #[derive(Default)]
    struct TwoRecipients {
        routed: Arc<AtomicUsize>,
    }

    struct TwoRecipientsInstance {
        routed: Arc<AtomicUsize>,
    }

    impl RouterStage for TwoRecipients {
        fn instantiate<'a>(
            &'a self,
            _store: &'a Arc<EmbeddedStore>,
            _writes: &'a Arc<HeldWrites>,
        ) -> BoxFuture<'a, Result<Box<dyn RouterInstance>>> {
            let routed = self.routed.clone();
            Box::pin(async move {
                Ok(Box::new(TwoRecipientsInstance { routed }) as Box<dyn RouterInstance>)
            })
        }
    }

    impl RouterInstance for TwoRecipientsInstance {
        fn route<'a>(
            &'a mut self,
            envelope: &'a Envelope,
        ) -> BoxFuture<'a, Result<Result<Vec<crate::stages::Delivery>, RouteError>>> {
            self.routed.fetch_add(1, Ordering::SeqCst);
            let deliveries = [("messenger", "bob"), ("instagram", "carol")]
                .map(|(platform, id)| Delivery {
                    platform: platform.into(),
                    recipient: address(platform, id),
                    endpoint: format!("{platform}-endpoint"),
                    envelope: envelope.clone(),
                })
                .to_vec();
            Box::pin(async move { Ok(Ok(deliveries)) })
        }

        fn check<'a>(
            &'a mut self,
            _envelope: &'a Envelope,
            recipient: &'a Address,
        ) -> BoxFuture<'a, Result<Verdict>> {
            let verdict = if recipient.id == "carol" {
                Verdict::Reject(Rejection {
                    reason: RejectionReason::Blocked,
                    detail: "the recipient blocked you".into(),
                })
            } else {
                Verdict::Deliver
            };
            Box::pin(async move { Ok(verdict) })
        }
    }

    /// Encodes every envelope as one request carrying its text.
    pub(crate) struct EchoText;

    impl TranslatorStage for EchoText {
        fn encode(
            &self,
            envelope: &Envelope,
            sender: &Address,
            recipient: &Address,
        ) -> Result<Encoded, EncodeFailure> {
            let body = match &envelope.event {
                Event::Message(Message {
                    content: Content::Text(text),
                    ..
                }) => serde_json::json!({
                    "from": sender.id,
                    "to": recipient.id,
                    "text": text.body,
                }),
                Event::Message(Message {
                    content: Content::Template(template),
                    ..
                }) => serde_json::json!({
                    "from": sender.id,
                    "to": recipient.id,
                    "template": template.name,
                    "language": template.language,
                    "parameters": template.parameters.iter().map(|parameter| &parameter.value).collect::<Vec<_>>(),
                }),
                _ => return Err(EncodeFailure::NotConnected),
            };
            Ok(Encoded {
                requests: vec![SendRequest {
                    method: HttpMethod::Post,
                    path: "/send".into(),
                    headers: Vec::new(),
                    body: body.to_string().into_bytes(),
                }],
                degradations: Vec::new(),
            })
        }

        fn sent_message_id(&self, _platform: &str, _response_body: &[u8]) -> Option<String> {
            None
        }

        fn platforms(&self) -> Vec<String> {
            Vec::new()
        }

        fn api_auth(&self, _platform: &str) -> Option<crate::plugins::translator::ApiAuth> {
            None
        }
    }

    /// A configuration with the apps' reply windows turned off.
    pub(crate) fn without_windows() -> HostConfig {
        let mut config = HostConfig::default();
        for platform in ["whatsapp", "messenger", "instagram"] {
            config.platforms.insert(
                platform.into(),
                crate::config::PlatformConfig {
                    reply_window_ms: Some(0),
                    ..Default::default()
                },
            );
        }
        config
    }

    fn router(name: &str, stage: TwoRecipients) -> (Router, Arc<EmbeddedStore>) {
        router_with(name, Arc::new(stage), without_windows())
    }

    fn router_with(
        name: &str,
        stage: Arc<dyn RouterStage>,
        config: HostConfig,
    ) -> (Router, Arc<EmbeddedStore>) {
        let store = scratch_store(name);
        let metrics = Arc::new(Metrics::new());
        let outbox = Arc::new(Outbox::new(store.clone(), metrics.clone()));
        let router = Router::new(stage, Arc::new(EchoText), config, metrics, outbox);
        (router, store)
    }

    fn json(store: &EmbeddedStore, key: &str) -> serde_json::Value {
        let bytes = store.get(key).unwrap().unwrap_or_else(|| panic!("{key}"));
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pass_commits_deliveries_refusals_and_one_notice_together() {
        let (router, store) = router("route", TwoRecipients::default());
        let id = "whatsapp:wamid.1";
        store
            .apply(&[Change::Set(
                directory_schema::inbox_key(id),
                serde_json::to_vec(&envelope(id)).unwrap(),
            )])
            .unwrap();
        let mut held = HashMap::new();
        assert_eq!(router.route_pending(&mut held).await.unwrap(), 1);

        assert!(
            store
                .get(&directory_schema::inbox_key(id))
                .unwrap()
                .is_none()
        );
        assert!(store.get(&envelope_key(id)).unwrap().is_some());
        let bob = json(&store, "outbox:whatsapp:wamid.1:messenger:bob");
        let bob_body: Vec<u8> =
            serde_json::from_value(bob["encoded"]["requests"][0]["body"].clone()).unwrap();
        let bob_body: serde_json::Value = serde_json::from_slice(&bob_body).unwrap();
        assert_eq!(bob_body["to"], "bob");
        assert_eq!(bob_body["text"], "hi");
        assert!(
            store
                .get("outbox:whatsapp:wamid.1:instagram:carol")
                .unwrap()
                .is_none(),
            "nothing for the recipient who blocked the sender"
        );
        // The sender hears why, once, on their own app.
        let notice = json(&store, "outbox:whatsapp:wamid.1:notice:whatsapp:alice");
        let notice_body: Vec<u8> =
            serde_json::from_value(notice["encoded"]["requests"][0]["body"].clone()).unwrap();
        let notice_body: serde_json::Value = serde_json::from_slice(&notice_body).unwrap();
        assert_eq!(
            notice_body["text"],
            "Not delivered: the recipient blocked you."
        );
        let status = json(&store, &directory_schema::status_key(id));
        assert_eq!(status["state"], "routed");
        assert_eq!(status["refused"][0]["reason"], "blocked");
        assert_eq!(status["refused"][0]["recipient"], "instagram:carol");
        assert_eq!(status["deliveries"].as_array().unwrap().len(), 2);

        // Nothing left: the next pass settles nothing.
        assert_eq!(router.route_pending(&mut held).await.unwrap(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_copy_of_a_routed_envelope_is_dropped_unrouted() {
        let stage = TwoRecipients::default();
        let routed = stage.routed.clone();
        let (router, store) = router("copy", stage);
        let id = "whatsapp:wamid.2";
        let status = RouteStatus::new("routed", Vec::new(), Vec::new());
        store
            .apply(&[
                status.change(id).unwrap(),
                Change::Set(
                    directory_schema::inbox_key(id),
                    serde_json::to_vec(&envelope(id)).unwrap(),
                ),
            ])
            .unwrap();
        let mut held = HashMap::new();
        assert_eq!(router.route_pending(&mut held).await.unwrap(), 0);
        assert_eq!(routed.load(Ordering::SeqCst), 0);
        assert!(
            store
                .get(&directory_schema::inbox_key(id))
                .unwrap()
                .is_none()
        );
    }

    /// Knows nobody: every envelope is from a sender with no link.
    struct Strangers;

    struct StrangersInstance;

    impl RouterStage for Strangers {
        fn instantiate<'a>(
            &'a self,
            _store: &'a Arc<EmbeddedStore>,
            _writes: &'a Arc<HeldWrites>,
        ) -> BoxFuture<'a, Result<Box<dyn RouterInstance>>> {
            Box::pin(async { Ok(Box::new(StrangersInstance) as Box<dyn RouterInstance>) })
        }
    }

    impl RouterInstance for StrangersInstance {
        fn route<'a>(
            &'a mut self,
            envelope: &'a Envelope,
        ) -> BoxFuture<'a, Result<Result<Vec<crate::stages::Delivery>, RouteError>>> {
            let sender = envelope.sender.address.clone();
            Box::pin(async move { Ok(Err(RouteError::NoConversation(sender))) })
        }

        fn check<'a>(
            &'a mut self,
            _envelope: &'a Envelope,
            _recipient: &'a Address,
        ) -> BoxFuture<'a, Result<Verdict>> {
            Box::pin(async { Ok(Verdict::Deliver) })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_from_a_stranger_makes_one_notice_and_past_the_budget_no_record() {
        let store = scratch_store("strangers");
        let metrics = Arc::new(Metrics::new());
        let outbox = Arc::new(Outbox::new(store.clone(), metrics.clone()));
        let mut config = HostConfig::default();
        config.pipeline.unknown_senders_per_minute = 3;
        config.platforms = without_windows().platforms;
        let router = Router::new(
            Arc::new(Strangers),
            Arc::new(EchoText),
            config,
            metrics,
            outbox,
        );
        let ids: Vec<String> = (0..5).map(|n| format!("whatsapp:wamid.flood{n}")).collect();
        let mut changes = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            let mut event = envelope(id);
            event.timestamp_ms = n as u64;
            let json = serde_json::to_vec(&event).unwrap();
            changes.push(Change::Set(directory_schema::inbox_key(id), json.clone()));
            // As the gateway stores it.
            changes.push(Change::Set(envelope_key(id), json));
        }
        store.apply(&changes).unwrap();
        assert_eq!(router.route_pending(&mut HashMap::new()).await.unwrap(), 5);

        let notices = store.scan_prefix("outbox:", 10).unwrap();
        assert_eq!(notices.len(), 1, "one notice for five refusals");
        assert!(notices[0].0.contains(":notice:"));
        for (n, id) in ids.iter().enumerate() {
            let kept = n < 3;
            assert!(
                store
                    .get(&directory_schema::inbox_key(id))
                    .unwrap()
                    .is_none()
            );
            assert_eq!(
                store
                    .get(&directory_schema::status_key(id))
                    .unwrap()
                    .is_some(),
                kept,
                "status of message {n}"
            );
            assert_eq!(
                store.get(&envelope_key(id)).unwrap().is_some(),
                kept,
                "record of message {n}"
            );
        }
    }

    /// Alice on WhatsApp (relay number `phone`) and Bob on Messenger (relay
    /// Page `page`) in a direct conversation: each one's message goes to the
    /// other, their text after the writer's bold label as the router puts
    /// it. `/ping` is answered to its writer.
    struct Direct;

    struct DirectInstance;

    impl RouterStage for Direct {
        fn instantiate<'a>(
            &'a self,
            _store: &'a Arc<EmbeddedStore>,
            _writes: &'a Arc<HeldWrites>,
        ) -> BoxFuture<'a, Result<Box<dyn RouterInstance>>> {
            Box::pin(async { Ok(Box::new(DirectInstance) as Box<dyn RouterInstance>) })
        }
    }

    fn labelled(label: &str, body: &str) -> Content {
        Content::Text(FormattedText {
            body: format!("{label}\n{body}"),
            spans: vec![crate::bindings::types::Span {
                start: 0,
                end: label.chars().count() as u32,
                style: crate::bindings::types::SpanStyle::Bold,
            }],
        })
    }

    impl RouterInstance for DirectInstance {
        fn route<'a>(
            &'a mut self,
            envelope: &'a Envelope,
        ) -> BoxFuture<'a, Result<Result<Vec<crate::stages::Delivery>, RouteError>>> {
            let Event::Message(Message {
                content: Content::Text(text),
                ..
            }) = &envelope.event
            else {
                return Box::pin(async { Ok(Ok(Vec::new())) });
            };
            let (to, endpoint, label, body) = if text.body == "/ping" {
                let to = envelope.sender.address.clone();
                let endpoint = envelope.recipient.id.clone();
                (to, endpoint, "Switchboard", "pong".to_string())
            } else if envelope.platform == "whatsapp" {
                let to = address("messenger", "bob");
                (to, "page".into(), "Alice · WhatsApp", text.body.clone())
            } else {
                let to = address("whatsapp", "alice");
                (to, "phone".into(), "Bob · Messenger", text.body.clone())
            };
            let mut rewritten = envelope.clone();
            rewritten.platform = to.platform.clone();
            if let Event::Message(message) = &mut rewritten.event {
                message.content = labelled(label, &body);
            }
            let delivery = Delivery {
                platform: to.platform.clone(),
                recipient: to,
                endpoint,
                envelope: rewritten,
            };
            Box::pin(async move { Ok(Ok(vec![delivery])) })
        }

        fn check<'a>(
            &'a mut self,
            _envelope: &'a Envelope,
            _recipient: &'a Address,
        ) -> BoxFuture<'a, Result<Verdict>> {
            Box::pin(async { Ok(Verdict::Deliver) })
        }
    }

    /// `text` from Alice (to the relay's `phone`) or Bob (to its `page`),
    /// stamped `at_ms` by the platform.
    fn from(who: &str, id: &str, text: &str, at_ms: u64) -> Envelope {
        let mut message = envelope(id);
        let (platform, endpoint) = match who {
            "alice" => ("whatsapp", "phone"),
            _ => ("messenger", "page"),
        };
        message.platform = platform.into();
        message.sender.address = address(platform, who);
        message.recipient = address(platform, endpoint);
        message.conversation.id = "alice-bob".into();
        message.timestamp_ms = at_ms;
        if let Event::Message(message) = &mut message.event {
            message.content = Content::Text(FormattedText {
                body: text.into(),
                spans: Vec::new(),
            });
        }
        message
    }

    async fn route(router: &Router, store: &EmbeddedStore, envelopes: &[Envelope]) {
        let changes: Vec<Change> = envelopes
            .iter()
            .map(|envelope| {
                Change::Set(
                    directory_schema::inbox_key(&envelope.id),
                    serde_json::to_vec(envelope).unwrap(),
                )
            })
            .collect();
        store.apply(&changes).unwrap();
        assert_eq!(
            router.route_pending(&mut HashMap::new()).await.unwrap(),
            envelopes.len()
        );
    }

    /// The body of the first request of a stored outbox entry.
    fn body(store: &EmbeddedStore, key: &str) -> serde_json::Value {
        let entry = json(store, key);
        let body: Vec<u8> =
            serde_json::from_value(entry["encoded"]["requests"][0]["body"].clone()).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn keys(store: &EmbeddedStore, prefix: &str) -> Vec<String> {
        store
            .scan_prefix(prefix, 100)
            .unwrap()
            .into_iter()
            .map(|(key, _)| key)
            .collect()
    }

    const DAY_MS: u64 = 24 * 60 * 60 * 1000;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delivery_outside_the_window_waits_and_the_recipients_message_releases_it() {
        let (router, store) = router_with("window-wait", Arc::new(Direct), HostConfig::default());
        let now = now_ms();
        // Alice writes; Bob never wrote to the Page: Messenger has no
        // re-engagement form, so it only waits.
        route(
            &router,
            &store,
            &[from("alice", "whatsapp:a1", "Hi Bob", now)],
        )
        .await;
        let waiting = "waiting:messenger:bob:page:whatsapp:a1";
        assert_eq!(keys(&store, "waiting:"), vec![waiting.to_string()]);
        assert_eq!(
            keys(&store, "outbox:"),
            Vec::<String>::new(),
            "nothing sent to Bob"
        );
        let status = json(&store, &directory_schema::status_key("whatsapp:a1"));
        assert_eq!(status["state"], "routed");
        assert_eq!(status["waiting"], serde_json::json!([waiting]));
        assert_eq!(status["deliveries"], serde_json::json!([]));
        // Alice's window at the relay's number opened at her message.
        let seen = json(&store, "seen:whatsapp:alice:phone");
        assert_eq!(seen["at_ms"], now);

        // A second message waits too.
        route(
            &router,
            &store,
            &[from("alice", "whatsapp:a2", "Are you there?", now + 1)],
        )
        .await;
        assert_eq!(keys(&store, "waiting:").len(), 2);

        // Bob writes: both go out, and his message reaches Alice at once (her
        // window is open).
        route(
            &router,
            &store,
            &[from("bob", "messenger:b1", "Hello!", now + 2)],
        )
        .await;
        assert_eq!(keys(&store, "waiting:"), Vec::<String>::new());
        let first = body(&store, "outbox:whatsapp:a1:messenger:bob");
        assert_eq!(first["from"], "page");
        assert_eq!(first["text"], "Alice · WhatsApp\nHi Bob");
        assert!(
            store
                .get("outbox:whatsapp:a2:messenger:bob")
                .unwrap()
                .is_some()
        );
        let to_alice = body(&store, "outbox:messenger:b1:whatsapp:alice");
        assert_eq!(to_alice["text"], "Bob · Messenger\nHello!");
        assert_eq!(to_alice["from"], "phone");
        let status = json(&store, &directory_schema::status_key("messenger:b1"));
        assert!(status.get("waiting").is_none(), "{status}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_whatsapp_window_gets_the_template_once_then_the_messages_on_reply() {
        let (router, store) =
            router_with("window-template", Arc::new(Direct), HostConfig::default());
        let now = now_ms();
        // Alice wrote two days ago: a message stamped then opens no window now.
        route(
            &router,
            &store,
            &[from("alice", "whatsapp:old", "Hi", now - 2 * DAY_MS)],
        )
        .await;
        assert_eq!(
            json(&store, "seen:whatsapp:alice:phone")["at_ms"],
            now - 2 * DAY_MS
        );
        // Bob answers (his window opens, so Alice's old message reaches him).
        route(
            &router,
            &store,
            &[from("bob", "messenger:b1", "Sorry, late", now)],
        )
        .await;
        assert!(
            store
                .get("outbox:whatsapp:old:messenger:bob")
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .get("outbox:messenger:b1:whatsapp:alice")
                .unwrap()
                .is_none(),
            "free-form text sent outside Alice's window"
        );
        let template = body(&store, "outbox:messenger:b1:reengage:whatsapp:alice");
        assert_eq!(template["template"], "new_message");
        assert_eq!(template["language"], "en_US");
        assert_eq!(
            template["parameters"],
            serde_json::json!(["Bob · Messenger"])
        );
        assert_eq!(template["from"], "phone");
        let status = json(&store, &directory_schema::status_key("messenger:b1"));
        assert_eq!(
            status["waiting"],
            serde_json::json!(["waiting:whatsapp:alice:phone:messenger:b1"])
        );
        assert_eq!(
            status["deliveries"],
            serde_json::json!(["outbox:messenger:b1:reengage:whatsapp:alice"])
        );

        // Bob again: it waits, and no second template.
        route(
            &router,
            &store,
            &[from("bob", "messenger:b2", "Still there?", now + 1)],
        )
        .await;
        assert!(
            store
                .get("outbox:messenger:b2:reengage:whatsapp:alice")
                .unwrap()
                .is_none()
        );
        assert_eq!(keys(&store, "waiting:whatsapp:alice:").len(), 2);

        // Alice answers the template: Bob's messages follow; her /ping is
        // answered to her at once, never parked.
        route(
            &router,
            &store,
            &[from("alice", "whatsapp:a3", "/ping", now + 2)],
        )
        .await;
        assert_eq!(keys(&store, "waiting:"), Vec::<String>::new());
        assert_eq!(
            body(&store, "outbox:messenger:b1:whatsapp:alice")["text"],
            "Bob · Messenger\nSorry, late"
        );
        assert!(
            store
                .get("outbox:messenger:b2:whatsapp:alice")
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .get("outbox:whatsapp:a3:whatsapp:alice")
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_to_a_writer_is_never_parked_even_when_their_stamp_is_old() {
        let (router, store) = router_with("window-answer", Arc::new(Direct), HostConfig::default());
        let old = now_ms() - 3 * DAY_MS;
        route(
            &router,
            &store,
            &[from("bob", "messenger:p1", "/ping", old)],
        )
        .await;
        assert_eq!(keys(&store, "waiting:"), Vec::<String>::new());
        assert_eq!(
            body(&store, "outbox:messenger:p1:messenger:bob")["text"],
            "Switchboard\npong"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reply_in_the_same_pass_releases_what_the_pass_parked() {
        let (router, store) = router_with("window-pass", Arc::new(Direct), HostConfig::default());
        let now = now_ms();
        route(
            &router,
            &store,
            &[
                from("alice", "whatsapp:a1", "Hi Bob", now),
                from("bob", "messenger:b1", "Hi Alice", now + 1),
            ],
        )
        .await;
        assert_eq!(keys(&store, "waiting:"), Vec::<String>::new());
        assert!(
            store
                .get("outbox:whatsapp:a1:messenger:bob")
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .get("outbox:messenger:b1:whatsapp:alice")
                .unwrap()
                .is_some()
        );
        assert_eq!(
            keys(&store, "outbox:").len(),
            2,
            "no template: Alice had just written"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_window_of_zero_is_no_rule() {
        let (router, store) = router_with("window-off", Arc::new(Direct), without_windows());
        route(
            &router,
            &store,
            &[from("alice", "whatsapp:a1", "Hi Bob", now_ms())],
        )
        .await;
        assert!(
            store
                .get("outbox:whatsapp:a1:messenger:bob")
                .unwrap()
                .is_some()
        );
        assert_eq!(keys(&store, "waiting:"), Vec::<String>::new());
        assert_eq!(keys(&store, "seen:"), Vec::<String>::new());
    }
}
