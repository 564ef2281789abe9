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

use crate::bindings::router::exports::switchboard::messaging::policy::{RejectionReason, Verdict};
use crate::bindings::router::exports::switchboard::messaging::router::RouteError;
use crate::bindings::types::{
    Address, Content, Envelope, Event, FormattedText, Message, MessageCategory, Participant,
};
use crate::clock::now_ms;
use crate::config::HostConfig;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, OutboxEntry, Queued};
use crate::plugins::translator::{Encoded, describe_encode_error};
use crate::redact::digest;
use crate::stages::{EncodeFailure, RouterInstance, RouterStage, TranslatorStage};
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
                .route_one(instance.as_mut(), &envelope, now, last_try)
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
    async fn route_one(
        &self,
        router: &mut dyn RouterInstance,
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
            match self.encode(&delivery.envelope, &delivery.endpoint, &delivery.recipient) {
                Ok(Some(encoded)) => {
                    queued.push(
                        OutboxEntry::new(&envelope.id, &delivery.recipient, encoded, now).queued(),
                    );
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
    /// from the relay's `endpoint` on that app. `None` when there is nothing
    /// to send.
    fn encode(
        &self,
        envelope: &Envelope,
        endpoint: &str,
        recipient: &Address,
    ) -> Result<Option<Encoded>, EncodeFailure> {
        let sender = Address {
            platform: recipient.platform.clone(),
            id: endpoint.to_string(),
        };
        let encoded = self.translators.encode(envelope, &sender, recipient)?;
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
            tracing::info!(envelope = %digest(&envelope.id), recipient = %refusal.recipient.as_deref().map(digest).unwrap_or_default(), reason = %refusal.reason, "not delivered");
        }
        let state = if queued.is_empty() && !refused.is_empty() {
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
        changes.push(RouteStatus::new(state, keys, refused).change(&envelope.id)?);
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
        let notice = Envelope {
            id: format!("{}:notice", envelope.id),
            platform: envelope.platform.clone(),
            native_id: None,
            conversation: envelope.conversation.clone(),
            sender: Participant {
                address: envelope.recipient.clone(),
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
        match self.encode(&notice, &envelope.recipient.id, &envelope.sender.address) {
            Ok(Some(encoded)) => {
                Some(OutboxEntry::new(&notice.id, &envelope.sender.address, encoded, now).queued())
            }
            Ok(None) => None,
            Err(failure) => {
                let (reason, detail) = refusal_of(failure, &envelope.platform);
                tracing::warn!(%reason, %detail, "cannot encode the notice");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::bindings::types::{Conversation, ConversationKind};
    use crate::outbox::tests::scratch_store;
    use crate::plugins::translator::{HttpMethod, SendRequest};
    use crate::stages::{Delivery, Rejection};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use switchboard_runtime::http::BoxFuture;

    fn address(platform: &str, id: &str) -> Address {
        Address {
            platform: platform.into(),
            id: id.into(),
        }
    }

    fn envelope(id: &str) -> Envelope {
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
    struct EchoText;

    impl TranslatorStage for EchoText {
        fn encode(
            &self,
            envelope: &Envelope,
            sender: &Address,
            recipient: &Address,
        ) -> Result<Encoded, EncodeFailure> {
            let Event::Message(Message {
                content: Content::Text(text),
                ..
            }) = &envelope.event
            else {
                return Err(EncodeFailure::NotConnected);
            };
            let body = serde_json::json!({
                "from": sender.id,
                "to": recipient.id,
                "text": text.body,
            });
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

    fn router(name: &str, stage: TwoRecipients) -> (Router, Arc<EmbeddedStore>) {
        let store = scratch_store(name);
        let metrics = Arc::new(Metrics::new());
        let outbox = Arc::new(Outbox::new(store.clone(), metrics.clone()));
        let router = Router::new(
            Arc::new(stage),
            Arc::new(EchoText),
            HostConfig::default(),
            metrics,
            outbox,
        );
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
}
