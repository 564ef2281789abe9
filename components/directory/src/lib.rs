//! The `directory` interface over a key-value store, in the layout that
//! `directory-schema` defines and the admin API writes.
//!
//! The logic is in [`Directory`], generic over a [`KeyValue`] store so it is
//! tested natively; the component runs it over Spin's default key-value store.
//! A store failure reads as "no" (no conversation, no consent, not opted
//! in): the safe answer for a privacy check, and it is logged to stderr.
//! Conversations are read and changed through the `conversations` crate, the
//! same code the admin API runs.
//!
//! # Requests and discovery
//!
//! A person is found (`discover`) only with `discoverable` consent, checked on
//! every lookup: by phone number (a WhatsApp account's id is its number's
//! E.164 digits, so `+1 650-555-1234` is `whatsapp:16505551234`) or by
//! `@username`, through the `username:<name>` index that `remember-username`
//! fills from senders' username attributes while they are discoverable (an
//! entry held by another account that is still discoverable is kept: first
//! come, as long as they stay findable). Unknown and not discoverable are the
//! same `None`.
//!
//! `request-direct` makes a direct conversation with the requester active at
//! the endpoint they wrote to and the target invited, and a `request:<id>`
//! record. The requester's messages there are held (`hold-message`, at most
//! [`directory_schema::MAX_HELD_MESSAGES`]) until the target answers.
//! `accept-request` activates the target and queues each held envelope again
//! for the pipeline: `inbox:<id>` is rewritten from the gateway's
//! `envelope:<id>` record and `status:<id>` removed, so the host's next
//! routing pass routes it as new (these writes are committed with the pass
//! that routed the `/accept`). `decline-request` makes the target leave and
//! drops the held ids. A pending request older than the expiry (the
//! `request_expiry_days` variable, default
//! [`directory_schema::DEFAULT_REQUEST_EXPIRY_DAYS`]) counts as declined
//! wherever it is met (read, hold, accept): it is then marked declined, the
//! target leaves and the held ids are dropped. Requests, acceptances and
//! declines are audited with the person as the actor.

use conversations::{Conversations, Endpoints, Joiner};
use directory_schema::{
    Account, BlockRecord, CONVERSATION_SEQUENCE_KEY, ConsentRecord, ConsentScope, ConversationKind,
    ConversationRecord, DEFAULT_REQUEST_EXPIRY_DAYS, EndpointConversations, MAX_HELD_MESSAGES,
    MemberRole, MemberState, MessageOrigin, OptInRecord, OptInState, RateRecord, RequestRecord,
    RequestState, SharedAttribute, SharingPolicy, StoryOrigin, block_key, canonical_id_key,
    consent_key, envelope_key, inbox_key, marketing_key, native_id_key, rate_key, request_key,
    sharing_key, status_key, story_author_key, story_origin_key, username_key,
};

pub use conversations::Store as KeyValue;

/// Messages one sender may send per minute unless configured otherwise.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 60;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The account a phone number query names: the WhatsApp account whose id is
/// the number's digits (`+`, spaces, dashes, dots and brackets ignored), for
/// 6 to 15 digits (E.164).
pub fn phone_account(query: &str) -> Option<Account> {
    let query = query.trim();
    let digits: String = query
        .strip_prefix('+')
        .unwrap_or(query)
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let valid = (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| Account {
        platform: "whatsapp".into(),
        id: digits,
    })
}

/// What answering a request (`/accept`, `/decline`) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// Done.
    Done,
    /// The request had expired: it now counts as declined.
    Expired,
    /// No pending request of that conversation names the account as target.
    NoRequest,
}

/// Directory queries over a key-value store.
pub struct Directory<S> {
    store: S,
    rate_per_minute: u32,
    endpoints: Endpoints,
    request_expiry_ms: u64,
}

impl<S: KeyValue> Directory<S> {
    /// A directory over `store`, allowing `rate_per_minute` messages per
    /// sender, with the relay's `endpoints`.
    pub fn new(store: S, rate_per_minute: u32, endpoints: Endpoints) -> Self {
        Directory {
            store,
            rate_per_minute,
            endpoints,
            request_expiry_ms: DEFAULT_REQUEST_EXPIRY_DAYS * DAY_MS,
        }
    }

    /// The same directory with unanswered requests expiring after `days`.
    pub fn with_request_expiry_days(mut self, days: u64) -> Self {
        self.request_expiry_ms = days.saturating_mul(DAY_MS);
        self
    }

    fn conversations(&self) -> Conversations<'_, S> {
        // Group size is enforced where members are added (the admin API).
        Conversations::new(&self.store, &self.endpoints, usize::MAX)
    }

    /// Logs a store failure and gives the safe answer.
    fn or_log<T>(result: anyhow::Result<T>, what: &str, default: T) -> T {
        result.unwrap_or_else(|error| {
            eprintln!("directory: cannot {what}: {error:#}");
            default
        })
    }

    /// The conversations of `account` at `endpoint`.
    pub fn conversations_at(&self, account: &Account, endpoint: &str) -> EndpointConversations {
        Self::or_log(
            self.conversations().at(account, endpoint),
            "read a membership",
            EndpointConversations::default(),
        )
    }

    /// Every conversation of `account`.
    pub fn conversations_of(&self, account: &Account) -> Vec<String> {
        Self::or_log(
            self.conversations().of(account),
            "read a membership",
            Vec::new(),
        )
    }

    /// A conversation by id.
    pub fn conversation(&self, id: &str) -> Option<ConversationRecord> {
        Self::or_log(self.conversations().get(id), "read a conversation", None)
    }

    /// Records where a routed message was written.
    pub fn record_message(&self, canonical_id: &str, origin: &MessageOrigin) {
        Self::or_log(
            self.conversations().record_message(canonical_id, origin),
            "record a message",
            (),
        )
    }

    /// Where a routed message was written.
    pub fn origin_of(&self, canonical_id: &str) -> Option<MessageOrigin> {
        Self::or_log(
            self.conversations().message_origin(canonical_id),
            "read a message origin",
            None,
        )
    }

    /// The endpoint `account` talks through: its first conversation's, else
    /// its app's first.
    pub fn endpoint_for(&self, account: &Account) -> Option<String> {
        let membership = Self::or_log(
            self.conversations().membership(account),
            "read a membership",
            Default::default(),
        );
        // The first conversation took the first endpoint of the pool it used:
        // go by pool order, not by the endpoints' names.
        let pool = self.endpoints.pool(&account.platform);
        pool.iter()
            .find(|endpoint| membership.endpoints.contains_key(*endpoint))
            .or_else(|| membership.endpoints.keys().next())
            .or_else(|| pool.first())
            .cloned()
    }

    /// Makes a conversation current for `account` at `endpoint`.
    pub fn set_current(&self, account: &Account, endpoint: &str, id: &str) -> bool {
        Self::or_log(
            self.conversations().set_current(account, endpoint, id),
            "switch conversations",
            false,
        )
    }

    /// `account` leaves conversation `id`, audited with it as the actor.
    pub fn leave(&self, id: &str, account: &Account, now_ms: u64) -> bool {
        match self.conversations().remove(id, account) {
            Ok(_) => {
                let details = serde_json::json!({ "conversation": id, "member": account });
                self.audit(account, "member-left", details, now_ms);
                true
            }
            Err(conversations::Failure::Refused(_)) => false,
            Err(conversations::Failure::Store(error)) => {
                eprintln!("directory: cannot leave a conversation: {error:#}");
                false
            }
        }
    }

    /// `blocker` blocks `blocked` everywhere, audited with the blocker as
    /// the actor.
    pub fn block(&self, blocker: &Account, blocked: &Account, now_ms: u64) {
        if let Ok(bytes) = serde_json::to_vec(&BlockRecord { at_ms: now_ms }) {
            self.write(&block_key(blocker, blocked), &bytes);
        }
        let details = serde_json::json!({ "blocker": blocker, "blocked": blocked });
        self.audit(blocker, "block", details, now_ms);
    }

    /// Gives or withdraws a consent from the person's chat, audited with the
    /// account as the actor.
    pub fn set_consent(&self, account: &Account, scope: ConsentScope, granted: bool, now_ms: u64) {
        let record = ConsentRecord {
            granted,
            at_ms: now_ms,
        };
        if let Ok(bytes) = serde_json::to_vec(&record) {
            self.write(&consent_key(account, scope), &bytes);
        }
        let details = serde_json::json!({ "account": account, "scope": scope, "granted": granted });
        self.audit(account, "consent", details, now_ms);
    }

    /// The account `query` (a phone number or `@username`) finds, when it
    /// has `discoverable` consent; unknown and not discoverable are both
    /// `None`.
    pub fn discover(&self, query: &str) -> Option<Account> {
        let query = query.trim();
        let found = match query.strip_prefix('@') {
            Some(name) if !name.is_empty() => self.read::<Account>(&username_key(name)),
            Some(_) => None,
            None => phone_account(query),
        }?;
        self.has_consent(&found, ConsentScope::Discoverable)
            .then_some(found)
    }

    /// Records that `account` goes by `username`, when it is discoverable and
    /// no other account that is still discoverable holds the name.
    pub fn remember_username(&self, account: &Account, username: &str) {
        let name = username.trim().trim_start_matches('@');
        if name.is_empty() || !self.has_consent(account, ConsentScope::Discoverable) {
            return;
        }
        let key = username_key(name);
        match self.read::<Account>(&key) {
            Some(holder) if holder == *account => {}
            Some(holder) if self.has_consent(&holder, ConsentScope::Discoverable) => {}
            _ => match serde_json::to_vec(account) {
                Ok(bytes) => self.write(&key, &bytes),
                Err(error) => eprintln!("directory: cannot encode {key}: {error}"),
            },
        }
    }

    /// Makes the direct conversation `requester` asks for with `target`:
    /// the requester active through `endpoint`, the target invited, a
    /// pending request. `None` when they are the same account, the target is
    /// not discoverable, either lacks cross-app consent or either blocked the
    /// other.
    pub fn request_direct(
        &self,
        requester: &Account,
        endpoint: &str,
        target: &Account,
        now_ms: u64,
    ) -> Option<String> {
        if requester == target || !self.has_consent(target, ConsentScope::Discoverable) {
            return None;
        }
        let sequence = self
            .string(CONVERSATION_SEQUENCE_KEY)
            .and_then(|text| text.trim().parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        self.write(CONVERSATION_SEQUENCE_KEY, sequence.to_string().as_bytes());
        let id = conversations::conversation_id(&format!(
            "request:{}:{}:{now_ms}:{sequence}",
            requester.key_part(),
            target.key_part()
        ));
        let joiners = vec![
            Joiner {
                account: requester.clone(),
                role: MemberRole::Person,
                endpoint: Some(endpoint.to_string()),
                state: MemberState::Active,
            },
            Joiner {
                account: target.clone(),
                role: MemberRole::Person,
                endpoint: None,
                state: MemberState::Invited,
            },
        ];
        match self
            .conversations()
            .create(&id, ConversationKind::Direct, None, joiners, now_ms)
        {
            Ok(_) => {}
            Err(conversations::Failure::Refused(_)) => return None,
            Err(conversations::Failure::Store(error)) => {
                eprintln!("directory: cannot make a requested conversation: {error:#}");
                return None;
            }
        }
        let record = RequestRecord {
            requester: requester.clone(),
            target: target.clone(),
            created_at_ms: now_ms,
            state: RequestState::Pending,
            held: Vec::new(),
        };
        self.put_request(&id, &record);
        let details =
            serde_json::json!({ "conversation": id, "requester": requester, "target": target });
        self.audit(requester, "request", details, now_ms);
        Some(id)
    }

    fn put_request(&self, id: &str, record: &RequestRecord) {
        match serde_json::to_vec(record) {
            Ok(bytes) => self.write(&request_key(id), &bytes),
            Err(error) => eprintln!("directory: cannot encode a request: {error}"),
        }
    }

    fn expired(&self, record: &RequestRecord, now_ms: u64) -> bool {
        record.state == RequestState::Pending
            && now_ms.saturating_sub(record.created_at_ms) > self.request_expiry_ms
    }

    /// Marks an expired request declined: the target leaves, the held ids go.
    fn expire(&self, id: &str, mut record: RequestRecord) {
        if let Err(conversations::Failure::Store(error)) =
            self.conversations().remove(id, &record.target)
        {
            eprintln!("directory: cannot end an expired request: {error:#}");
        }
        record.state = RequestState::Declined;
        record.held.clear();
        self.put_request(id, &record);
    }

    /// The request of conversation `id`; a pending one past its expiry reads
    /// as declined.
    pub fn request_of(&self, id: &str, now_ms: u64) -> Option<RequestRecord> {
        let mut record: RequestRecord = self.read(&request_key(id))?;
        if self.expired(&record, now_ms) {
            record.state = RequestState::Declined;
            record.held.clear();
        }
        Some(record)
    }

    /// Holds message `canonical_id` by `author` with the pending request of
    /// conversation `id`; false when it cannot be held (it goes nowhere).
    pub fn hold_message(
        &self,
        id: &str,
        author: &Account,
        canonical_id: &str,
        now_ms: u64,
    ) -> bool {
        let Some(mut record) = self.read::<RequestRecord>(&request_key(id)) else {
            return false;
        };
        if record.requester != *author || record.state != RequestState::Pending {
            return false;
        }
        if self.expired(&record, now_ms) {
            self.expire(id, record);
            return false;
        }
        if record.held.iter().any(|held| held == canonical_id) {
            return true;
        }
        if record.held.len() >= MAX_HELD_MESSAGES {
            return false;
        }
        record.held.push(canonical_id.to_string());
        self.put_request(id, &record);
        true
    }

    /// The pending request of conversation `id` whose target is `target`.
    fn pending_for(&self, id: &str, target: &Account) -> Option<RequestRecord> {
        self.read::<RequestRecord>(&request_key(id))
            .filter(|record| record.target == *target && record.state == RequestState::Pending)
    }

    /// `target` accepts the request of conversation `id`: they become active
    /// (and it becomes their current conversation there) and every held
    /// envelope is queued again for the pipeline.
    pub fn accept_request(&self, id: &str, target: &Account, now_ms: u64) -> AnswerOutcome {
        let Some(mut record) = self.pending_for(id, target) else {
            return AnswerOutcome::NoRequest;
        };
        if self.expired(&record, now_ms) {
            self.expire(id, record);
            let details = serde_json::json!({ "conversation": id });
            self.audit(target, "request-expired", details, now_ms);
            return AnswerOutcome::Expired;
        }
        let conversations = self.conversations();
        match conversations.activate(id, target) {
            Ok(true) => {}
            Ok(false) => return AnswerOutcome::NoRequest,
            Err(error) => {
                eprintln!("directory: cannot accept a request: {error:#}");
                return AnswerOutcome::NoRequest;
            }
        }
        if let Some(member) = self
            .conversation(id)
            .and_then(|conversation| conversation.member(target).cloned())
        {
            self.set_current(target, &member.endpoint, id);
        }
        let requeued = record
            .held
            .iter()
            .filter(|canonical| self.requeue(canonical))
            .count();
        record.state = RequestState::Accepted;
        record.held.clear();
        self.put_request(id, &record);
        let details = serde_json::json!({ "conversation": id, "requeued": requeued });
        self.audit(target, "request-accepted", details, now_ms);
        AnswerOutcome::Done
    }

    /// Queues a routed envelope again: `inbox:<id>` from the gateway's
    /// `envelope:<id>` record, its `status:<id>` removed (the pipeline skips
    /// an inbox entry that has a status). False when there is no record.
    fn requeue(&self, canonical_id: &str) -> bool {
        let Some(envelope) = self.bytes(&envelope_key(canonical_id)) else {
            eprintln!("directory: a held envelope has no record to queue again");
            return false;
        };
        self.write(&inbox_key(canonical_id), &envelope);
        if let Err(error) = self.store.delete(&status_key(canonical_id)) {
            eprintln!("directory: cannot remove a held envelope's status: {error:#}");
        }
        true
    }

    /// `target` declines the request of conversation `id`: they leave it and
    /// the held ids are dropped.
    pub fn decline_request(&self, id: &str, target: &Account, now_ms: u64) -> AnswerOutcome {
        let Some(record) = self.pending_for(id, target) else {
            return AnswerOutcome::NoRequest;
        };
        let expired = self.expired(&record, now_ms);
        self.expire(id, record);
        let details = serde_json::json!({ "conversation": id });
        self.audit(target, "request-declined", details, now_ms);
        if expired {
            AnswerOutcome::Expired
        } else {
            AnswerOutcome::Done
        }
    }

    /// Appends an audit record of a change made from `account`'s own chat.
    fn audit(&self, account: &Account, action: &str, details: serde_json::Value, now_ms: u64) {
        let actor = format!("{}:{} in chat", account.platform, account.id);
        Self::or_log(
            conversations::append_audit(&self.store, &actor, action, details, now_ms).map(|_| ()),
            "append to the audit log",
            (),
        )
    }

    /// The bytes at `key`; a store failure is logged and reads as absent.
    fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.store
            .get(key)
            .map_err(|error| eprintln!("directory: cannot read {key}: {error:#}"))
            .ok()
            .flatten()
    }

    fn read<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let bytes = self.bytes(key)?;
        serde_json::from_slice(&bytes)
            .map_err(|error| eprintln!("directory: {key} holds bad JSON: {error}"))
            .ok()
    }

    fn string(&self, key: &str) -> Option<String> {
        String::from_utf8(self.bytes(key)?).ok()
    }

    fn write(&self, key: &str, value: &[u8]) {
        if let Err(error) = self.store.set(key, value) {
            eprintln!("directory: cannot write {key}: {error:#}");
        }
    }

    /// Whether `account` consented to `scope` and has not withdrawn it.
    pub fn has_consent(&self, account: &Account, scope: ConsentScope) -> bool {
        self.read::<ConsentRecord>(&consent_key(account, scope))
            .is_some_and(|record| record.granted)
    }

    /// The consent `account` chose for `scope`: `Some(true)` given,
    /// `Some(false)` withdrawn, `None` never chosen.
    pub fn consent_state(&self, account: &Account, scope: ConsentScope) -> Option<bool> {
        self.read::<ConsentRecord>(&consent_key(account, scope))
            .map(|record| record.granted)
    }

    /// From when the operator's sharing policy shares the attribute of the
    /// `share-*` `scope` of `platform`'s people; `None` when it is off, or
    /// for any other scope.
    pub fn sharing_effective_at(&self, platform: &str, scope: ConsentScope) -> Option<u64> {
        let attribute = SharedAttribute::of_scope(scope)?;
        self.read::<SharingPolicy>(&sharing_key(platform, attribute))
            .filter(|policy| policy.enabled)
            .map(|policy| policy.effective_at_ms)
    }

    /// Whether `blocker` blocked `blocked`.
    pub fn is_blocked(&self, blocker: &Account, blocked: &Account) -> bool {
        self.bytes(&block_key(blocker, blocked)).is_some()
    }

    /// Whether `person` is opted in to marketing from `business`.
    pub fn marketing_opt_in(&self, person: &Account, business: &Account) -> bool {
        self.marketing_choice(person, business) == Some(OptInState::OptedIn)
    }

    /// Whether an opt-out of `person` from marketing by `business` is on record,
    /// as opposed to no choice at all.
    pub fn marketing_opted_out(&self, person: &Account, business: &Account) -> bool {
        self.marketing_choice(person, business) == Some(OptInState::OptedOut)
    }

    fn marketing_choice(&self, person: &Account, business: &Account) -> Option<OptInState> {
        self.read::<OptInRecord>(&marketing_key(person, business))
            .map(|record| record.state)
    }

    /// Records an opt-out (a STOP reply), audited with the person as the
    /// actor when it changes their choice (a STOP to a group's business
    /// members, or a second STOP, is one record).
    pub fn opt_out_of_marketing(&self, person: &Account, business: &Account, now_ms: u64) {
        if self.marketing_choice(person, business) == Some(OptInState::OptedOut) {
            return;
        }
        let record = OptInRecord {
            state: OptInState::OptedOut,
            at_ms: now_ms,
        };
        if let Ok(bytes) = serde_json::to_vec(&record) {
            self.write(&marketing_key(person, business), &bytes);
        }
        let details = serde_json::json!({
            "person": person,
            "business": business,
            "state": OptInState::OptedOut,
        });
        self.audit(person, "marketing", details, now_ms);
    }

    /// Counts a message from `sender` in the current minute; false once the
    /// sender is over the rate.
    pub fn within_rate(&self, sender: &Account, message_id: &str, now_ms: u64) -> bool {
        let key = rate_key(sender, now_ms / 60_000);
        let mut record: RateRecord = self.read(&key).unwrap_or_default();
        if record.count == 0 || record.last_message != message_id {
            record.count += 1;
            record.last_message = message_id.to_string();
            match serde_json::to_vec(&record) {
                Ok(bytes) => self.write(&key, &bytes),
                Err(error) => eprintln!("directory: cannot encode {key}: {error}"),
            }
        }
        record.count <= self.rate_per_minute
    }

    /// Records the native id a canonical message got in `account`'s chat.
    pub fn record_native_id(&self, canonical_id: &str, account: &Account, native_id: &str) {
        self.write(
            &native_id_key(&account.platform, native_id),
            canonical_id.as_bytes(),
        );
        self.write(
            &canonical_id_key(canonical_id, account),
            native_id.as_bytes(),
        );
    }

    /// The canonical id of the message known as `native_id` on `platform`.
    pub fn canonical_id(&self, platform: &str, native_id: &str) -> Option<String> {
        self.string(&native_id_key(platform, native_id))
    }

    /// The native id of a canonical message in `account`'s chat.
    pub fn native_id(&self, canonical_id: &str, account: &Account) -> Option<String> {
        self.string(&canonical_id_key(canonical_id, account))
    }

    /// The original of the story the cross-poster published as `native_id`
    /// (on `platform`, the app its replies arrive on).
    pub fn cross_post_origin(&self, platform: &str, native_id: &str) -> Option<StoryOrigin> {
        self.read(&story_origin_key(platform, native_id))
    }

    /// The author's account on their stories' original app, for an account
    /// the cross-poster publishes to.
    pub fn story_author(&self, account: &Account) -> Option<Account> {
        self.read(&story_author_key(account))
    }
}

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "directory-store",
        path: "../../wit",
        with: { "switchboard:messaging/types@0.1.0": switchboard_pdk::types },
    });
}

#[cfg(target_arch = "wasm32")]
mod component {
    use super::bindings::exports::switchboard::messaging::directory as wit;
    use super::{AnswerOutcome, DEFAULT_RATE_PER_MINUTE, Directory, KeyValue};
    use conversations::Endpoints;
    use directory_schema::{
        Account, ConsentScope, ConversationKind, ConversationRecord, DEFAULT_REQUEST_EXPIRY_DAYS,
        EndpointConversations, MemberRole, MemberState, MessageOrigin, RequestRecord, RequestState,
    };
    use spin_sdk::key_value::Store;
    use std::cell::OnceCell;
    use switchboard_pdk::types::{Address, ConversationKind as WitKind};

    thread_local! {
        /// The default store, opened on first use and kept for the instance's
        /// life: one message takes about ten directory calls. A failed open is
        /// not kept, so the next call tries again.
        static STORE: OnceCell<Store> = const { OnceCell::new() };
        /// The configured rate, read once per instance.
        static RATE_PER_MINUTE: u32 = spin_sdk::variables::get("rate_per_minute")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(DEFAULT_RATE_PER_MINUTE);
        /// Days after which an unanswered request expires, read once per
        /// instance.
        static REQUEST_EXPIRY_DAYS: u64 = spin_sdk::variables::get("request_expiry_days")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(DEFAULT_REQUEST_EXPIRY_DAYS);
        /// The relay's endpoints, read once per instance. A bad value is
        /// logged and read as no endpoints (nothing is routed).
        static ENDPOINTS: Endpoints = {
            let pools = spin_sdk::variables::get("endpoints").unwrap_or_default();
            let scoped = spin_sdk::variables::get("scoped_apps").unwrap_or_default();
            Endpoints::parse(&pools, &scoped).unwrap_or_else(|error| {
                eprintln!("directory: the endpoints variable is not valid: {error}");
                Endpoints::default()
            })
        };
    }

    /// The instance's default key-value store.
    struct SpinKeyValue;

    impl SpinKeyValue {
        fn with<T>(
            operation: impl FnOnce(&Store) -> Result<T, spin_sdk::key_value::Error>,
        ) -> anyhow::Result<T> {
            STORE.with(|cell| {
                let store = match cell.get() {
                    Some(store) => store,
                    None => {
                        let opened = Store::open_default().map_err(|error| {
                            anyhow::anyhow!("cannot open the default store: {error}")
                        })?;
                        cell.get_or_init(|| opened)
                    }
                };
                Ok(operation(store)?)
            })
        }
    }

    impl KeyValue for SpinKeyValue {
        fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
            Self::with(|store| store.get(key))
        }
        fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
            Self::with(|store| store.set(key, value))
        }
        fn delete(&self, key: &str) -> anyhow::Result<()> {
            Self::with(|store| store.delete(key))
        }
    }

    fn directory() -> Directory<SpinKeyValue> {
        Directory::new(
            SpinKeyValue,
            RATE_PER_MINUTE.with(|rate| *rate),
            ENDPOINTS.with(Clone::clone),
        )
        .with_request_expiry_days(REQUEST_EXPIRY_DAYS.with(|days| *days))
    }

    fn request(record: RequestRecord) -> wit::ConversationRequest {
        wit::ConversationRequest {
            requester: address(record.requester),
            target: address(record.target),
            created_at_ms: record.created_at_ms,
            state: match record.state {
                RequestState::Pending => wit::RequestState::Pending,
                RequestState::Accepted => wit::RequestState::Accepted,
                RequestState::Declined => wit::RequestState::Declined,
            },
            held: u32::try_from(record.held.len()).unwrap_or(u32::MAX),
        }
    }

    fn outcome(outcome: AnswerOutcome) -> wit::AnswerOutcome {
        match outcome {
            AnswerOutcome::Done => wit::AnswerOutcome::Done,
            AnswerOutcome::Expired => wit::AnswerOutcome::Expired,
            AnswerOutcome::NoRequest => wit::AnswerOutcome::NoRequest,
        }
    }

    fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default()
    }

    fn account(address: Address) -> Account {
        Account {
            platform: address.platform,
            id: address.id,
        }
    }

    fn address(account: Account) -> Address {
        Address {
            platform: account.platform,
            id: account.id,
        }
    }

    fn scope(scope: wit::ConsentScope) -> ConsentScope {
        match scope {
            wit::ConsentScope::CrossAppMessaging => ConsentScope::CrossAppMessaging,
            wit::ConsentScope::SharePhoneNumber => ConsentScope::SharePhoneNumber,
            wit::ConsentScope::ShareDisplayName => ConsentScope::ShareDisplayName,
            wit::ConsentScope::ShareUsername => ConsentScope::ShareUsername,
            wit::ConsentScope::PublishKeys => ConsentScope::PublishKeys,
            wit::ConsentScope::Discoverable => ConsentScope::Discoverable,
        }
    }

    fn endpoint_conversations(slot: EndpointConversations) -> wit::EndpointConversations {
        wit::EndpointConversations {
            current: slot.current,
            conversations: slot.conversations,
        }
    }

    fn conversation(record: ConversationRecord) -> wit::ConversationRecord {
        wit::ConversationRecord {
            id: record.id,
            kind: match record.kind {
                ConversationKind::Direct => WitKind::Direct,
                ConversationKind::Group => WitKind::Group,
            },
            title: record.title,
            created_at_ms: record.created_at_ms,
            members: record
                .members
                .into_iter()
                .map(|member| wit::Member {
                    account: address(member.account),
                    endpoint: member.endpoint,
                    role: match member.role {
                        MemberRole::Person => wit::MemberRole::Person,
                        MemberRole::Business => wit::MemberRole::Business,
                        MemberRole::Bot => wit::MemberRole::Bot,
                    },
                    state: match member.state {
                        MemberState::Invited => wit::MemberState::Invited,
                        MemberState::Active => wit::MemberState::Active,
                        MemberState::Left => wit::MemberState::Left,
                    },
                    alias: member.alias,
                    handle: member.handle,
                })
                .collect(),
        }
    }

    struct Component;

    impl wit::Guest for Component {
        fn conversations_at(account_: Address, endpoint: String) -> wit::EndpointConversations {
            endpoint_conversations(directory().conversations_at(&account(account_), &endpoint))
        }
        fn conversations_of(account_: Address) -> Vec<String> {
            directory().conversations_of(&account(account_))
        }
        fn conversation(id: String) -> Option<wit::ConversationRecord> {
            directory().conversation(&id).map(conversation)
        }
        fn record_message(canonical_id: String, origin: wit::MessageOrigin) {
            directory().record_message(
                &canonical_id,
                &MessageOrigin {
                    conversation_id: origin.conversation_id,
                    author: account(origin.author),
                },
            )
        }
        fn origin_of(canonical_id: String) -> Option<wit::MessageOrigin> {
            directory()
                .origin_of(&canonical_id)
                .map(|origin| wit::MessageOrigin {
                    conversation_id: origin.conversation_id,
                    author: address(origin.author),
                })
        }
        fn endpoint_for(account_: Address) -> Option<String> {
            directory().endpoint_for(&account(account_))
        }
        fn set_current(account_: Address, endpoint: String, conversation_id: String) -> bool {
            directory().set_current(&account(account_), &endpoint, &conversation_id)
        }
        fn leave(conversation_id: String, account_: Address) -> bool {
            directory().leave(&conversation_id, &account(account_), now_ms())
        }
        fn block(blocker: Address, blocked: Address) {
            directory().block(&account(blocker), &account(blocked), now_ms())
        }
        fn set_consent(account_: Address, scope_: wit::ConsentScope, granted: bool) {
            directory().set_consent(&account(account_), scope(scope_), granted, now_ms())
        }
        fn discover(query: String) -> Option<Address> {
            directory().discover(&query).map(address)
        }
        fn remember_username(account_: Address, username: String) {
            directory().remember_username(&account(account_), &username)
        }
        fn request_direct(
            requester: Address,
            requester_endpoint: String,
            target: Address,
        ) -> Option<String> {
            directory().request_direct(
                &account(requester),
                &requester_endpoint,
                &account(target),
                now_ms(),
            )
        }
        fn request_of(conversation_id: String) -> Option<wit::ConversationRequest> {
            directory()
                .request_of(&conversation_id, now_ms())
                .map(request)
        }
        fn hold_message(conversation_id: String, author: Address, canonical_id: String) -> bool {
            directory().hold_message(&conversation_id, &account(author), &canonical_id, now_ms())
        }
        fn accept_request(conversation_id: String, target: Address) -> wit::AnswerOutcome {
            outcome(directory().accept_request(&conversation_id, &account(target), now_ms()))
        }
        fn decline_request(conversation_id: String, target: Address) -> wit::AnswerOutcome {
            outcome(directory().decline_request(&conversation_id, &account(target), now_ms()))
        }
        fn has_consent(account_: Address, scope_: wit::ConsentScope) -> bool {
            directory().has_consent(&account(account_), scope(scope_))
        }
        fn consent_state(account_: Address, scope_: wit::ConsentScope) -> Option<bool> {
            directory().consent_state(&account(account_), scope(scope_))
        }
        fn sharing_effective_at(platform: String, scope_: wit::ConsentScope) -> Option<u64> {
            directory().sharing_effective_at(&platform, scope(scope_))
        }
        fn is_blocked(blocker: Address, blocked: Address) -> bool {
            directory().is_blocked(&account(blocker), &account(blocked))
        }
        fn marketing_opted_out(person: Address, business: Address) -> bool {
            directory().marketing_opted_out(&account(person), &account(business))
        }
        fn marketing_opt_in(person: Address, business: Address) -> bool {
            directory().marketing_opt_in(&account(person), &account(business))
        }
        fn opt_out_of_marketing(person: Address, business: Address) {
            directory().opt_out_of_marketing(&account(person), &account(business), now_ms())
        }
        fn within_rate(sender: Address, message_id: String, now_ms: u64) -> bool {
            directory().within_rate(&account(sender), &message_id, now_ms)
        }
        fn record_native_id(canonical_id: String, account_: Address, native_id: String) {
            directory().record_native_id(&canonical_id, &account(account_), &native_id)
        }
        fn canonical_id(platform: String, native_id: String) -> Option<String> {
            directory().canonical_id(&platform, &native_id)
        }
        fn native_id(canonical_id: String, account_: Address) -> Option<String> {
            directory().native_id(&canonical_id, &account(account_))
        }
        fn cross_post_origin(platform: String, native_id: String) -> Option<wit::StoryOrigin> {
            directory()
                .cross_post_origin(&platform, &native_id)
                .map(|origin| wit::StoryOrigin {
                    story_id: origin.story_id,
                    author: address(origin.author),
                })
        }
        fn story_author(account_: Address) -> Option<Address> {
            directory().story_author(&account(account_)).map(address)
        }
    }

    super::bindings::export!(Component with_types_in super::bindings);
}

#[cfg(test)]
mod tests {
    use super::*;
    use conversations::Joiner;
    use directory_schema::{
        AuditRecord, ConversationKind, MemberState, audit_record_key, conversation_key,
        marketing_key,
    };
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    /// An in-memory store, shared by the directory and the test.
    #[derive(Clone, Default)]
    struct Memory(Rc<RefCell<BTreeMap<String, Vec<u8>>>>);

    impl KeyValue for Memory {
        fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
            Ok(self.0.borrow().get(key).cloned())
        }
        fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
            self.0.borrow_mut().insert(key.into(), value.to_vec());
            Ok(())
        }
        fn delete(&self, key: &str) -> anyhow::Result<()> {
            self.0.borrow_mut().remove(key);
            Ok(())
        }
    }

    impl Memory {
        fn put(&self, key: String, value: serde_json::Value) {
            self.0
                .borrow_mut()
                .insert(key, value.to_string().into_bytes());
        }

        fn audit(&self) -> Vec<AuditRecord> {
            self.0
                .borrow()
                .iter()
                .filter(|(key, _)| {
                    key.starts_with(directory_schema::AUDIT_PREFIX)
                        && key.as_str() != directory_schema::AUDIT_NEXT_KEY
                })
                .map(|(_, value)| serde_json::from_slice(value).unwrap())
                .collect()
        }
    }

    fn account(platform: &str, id: &str) -> Account {
        Account {
            platform: platform.into(),
            id: id.into(),
        }
    }

    fn endpoints() -> Endpoints {
        Endpoints::parse(
            "whatsapp=wa-1,wa-2 messenger=page-1 instagram=ig-1",
            "messenger instagram",
        )
        .unwrap()
    }

    /// A directory over `memory` allowing two messages a minute.
    fn directory(memory: &Memory) -> Directory<Memory> {
        Directory::new(memory.clone(), 2, endpoints())
    }

    /// Makes a conversation as the admin API does, every member consenting.
    fn make(
        memory: &Memory,
        id: &str,
        kind: ConversationKind,
        members: &[&Account],
    ) -> ConversationRecord {
        for member in members {
            memory.put(
                consent_key(member, ConsentScope::CrossAppMessaging),
                serde_json::json!({ "granted": true, "at_ms": 1 }),
            );
        }
        let endpoints = endpoints();
        Conversations::new(memory, &endpoints, 256)
            .create(
                id,
                kind,
                None,
                members
                    .iter()
                    .map(|member| Joiner::person((*member).clone()))
                    .collect(),
                10,
            )
            .unwrap()
    }

    #[test]
    fn reads_the_conversations_the_admin_api_makes() {
        let memory = Memory::default();
        let directory = directory(&memory);
        let alice = account("whatsapp", "16505551234");
        let bob = account("messenger", "2345");
        let carol = account("instagram", "3456");
        let dave = account("whatsapp", "4567");
        assert_eq!(
            directory.endpoint_for(&alice).as_deref(),
            Some("wa-1"),
            "no conversation yet: the pool's first"
        );
        assert_eq!(directory.endpoint_for(&account("sms", "1")), None);

        let with_bob = make(&memory, "c-bob", ConversationKind::Direct, &[&alice, &bob]);
        let group = make(
            &memory,
            "c-group",
            ConversationKind::Group,
            &[&alice, &carol, &dave],
        );
        assert_eq!(directory.conversation("c-bob"), Some(with_bob));
        assert_eq!(directory.conversation("c-group"), Some(group.clone()));
        assert_eq!(directory.conversation("c-none"), None);

        assert_eq!(
            directory.conversations_at(&alice, "wa-1"),
            EndpointConversations {
                current: Some("c-bob".into()),
                conversations: vec!["c-bob".into()],
            }
        );
        assert_eq!(
            directory.conversations_at(&alice, "wa-2"),
            EndpointConversations {
                current: Some("c-group".into()),
                conversations: vec!["c-group".into()],
            },
            "a second conversation gets the second endpoint"
        );
        assert_eq!(
            directory.conversations_at(&alice, "page-1"),
            EndpointConversations::default()
        );
        assert_eq!(directory.conversations_of(&alice), vec!["c-bob", "c-group"]);
        assert_eq!(directory.conversations_of(&carol), vec!["c-group"]);
        assert!(
            directory
                .conversations_of(&account("whatsapp", "9"))
                .is_empty()
        );

        assert_eq!(directory.endpoint_for(&alice).as_deref(), Some("wa-1"));
        assert_eq!(directory.endpoint_for(&bob).as_deref(), Some("page-1"));

        assert!(
            !directory.set_current(&alice, "wa-1", "c-group"),
            "not there"
        );
        assert!(directory.set_current(&dave, "wa-1", "c-group"));
        assert!(!directory.set_current(&alice, "wa-9", "c-bob"));
    }

    #[test]
    fn the_endpoint_for_an_account_is_the_one_of_its_first_conversation() {
        // A pool whose order is not the alphabetical one.
        let memory = Memory::default();
        let endpoints = Endpoints::parse("whatsapp=wa-9,wa-1", "").unwrap();
        let directory = Directory::new(memory.clone(), 2, endpoints.clone());
        let alice = account("whatsapp", "1");
        let bob = account("whatsapp", "2");
        let carol = account("whatsapp", "3");
        for who in [&alice, &bob, &carol] {
            memory.put(
                consent_key(who, ConsentScope::CrossAppMessaging),
                serde_json::json!({ "granted": true, "at_ms": 1 }),
            );
        }
        let conversations = Conversations::new(&memory, &endpoints, 256);
        for (id, other) in [("c-1", &bob), ("c-2", &carol)] {
            conversations
                .create(
                    id,
                    ConversationKind::Direct,
                    None,
                    vec![Joiner::person(alice.clone()), Joiner::person(other.clone())],
                    10,
                )
                .unwrap();
        }
        assert_eq!(
            directory.conversations_at(&alice, "wa-9").conversations,
            ["c-1"]
        );
        assert_eq!(
            directory.endpoint_for(&alice).as_deref(),
            Some("wa-9"),
            "the first conversation's endpoint, not the first by name"
        );
    }

    #[test]
    fn records_where_messages_were_written() {
        let memory = Memory::default();
        let directory = directory(&memory);
        let alice = account("whatsapp", "16505551234");
        assert_eq!(directory.origin_of("whatsapp:wamid.1"), None);
        let origin = MessageOrigin {
            conversation_id: "c-1".into(),
            author: alice,
        };
        directory.record_message("whatsapp:wamid.1", &origin);
        assert_eq!(directory.origin_of("whatsapp:wamid.1"), Some(origin));
        assert!(
            memory
                .get(&directory_schema::message_key("whatsapp:wamid.1"))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn leave_block_and_consent_from_a_chat_are_audited_with_the_account_as_actor() {
        let memory = Memory::default();
        let directory = directory(&memory);
        let alice = account("whatsapp", "16505551234");
        let bob = account("messenger", "2345");
        let carol = account("instagram", "3456");
        make(
            &memory,
            "c-group",
            ConversationKind::Group,
            &[&alice, &bob, &carol],
        );

        assert!(directory.leave("c-group", &alice, 100));
        let record = directory.conversation("c-group").unwrap();
        assert_eq!(
            record.member(&alice).map(|member| member.state),
            Some(MemberState::Left)
        );
        assert!(directory.conversations_of(&alice).is_empty());
        assert!(
            !directory.leave("c-group", &alice, 101),
            "not an active member any more"
        );
        assert!(!directory.leave("c-none", &bob, 101));

        directory.block(&bob, &carol, 200);
        assert!(directory.is_blocked(&bob, &carol));
        assert!(
            !directory.is_blocked(&carol, &bob),
            "blocks are one-way records"
        );

        directory.set_consent(&carol, ConsentScope::CrossAppMessaging, false, 300);
        assert!(!directory.has_consent(&carol, ConsentScope::CrossAppMessaging));
        directory.set_consent(&carol, ConsentScope::ShareDisplayName, true, 300);
        assert!(directory.has_consent(&carol, ConsentScope::ShareDisplayName));

        let audit = memory.audit();
        let summary: Vec<(u64, &str, &str)> = audit
            .iter()
            .map(|record| (record.at_ms, record.actor.as_str(), record.action.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (100, "whatsapp:16505551234 in chat", "member-left"),
                (200, "messenger:2345 in chat", "block"),
                (300, "instagram:3456 in chat", "consent"),
                (300, "instagram:3456 in chat", "consent"),
            ],
            "a refused leave is not audited; two changes in one millisecond both are"
        );
        assert_eq!(audit[0].details["conversation"], "c-group");
        assert_eq!(audit[1].details["blocked"]["id"], "3456");
        assert_eq!(audit[2].details["scope"], "cross-app-messaging");
        assert_eq!(audit[2].details["granted"], false);
        assert!(memory.get(&audit_record_key(4)).unwrap().is_some());
    }

    #[test]
    fn consent_states_and_sharing_policies_are_read_as_recorded() {
        let memory = Memory::default();
        let directory = directory(&memory);
        let alice = account("whatsapp", "16505551234");
        let scope = ConsentScope::ShareDisplayName;
        assert_eq!(directory.consent_state(&alice, scope), None);
        directory.set_consent(&alice, scope, false, 10);
        assert_eq!(directory.consent_state(&alice, scope), Some(false));
        directory.set_consent(&alice, scope, true, 11);
        assert_eq!(directory.consent_state(&alice, scope), Some(true));

        assert_eq!(directory.sharing_effective_at("whatsapp", scope), None);
        let policy = |enabled| serde_json::json!({ "enabled": enabled, "announced_at_ms": 100, "effective_at_ms": 900 });
        memory.put(
            sharing_key("whatsapp", SharedAttribute::DisplayName),
            policy(true),
        );
        assert_eq!(directory.sharing_effective_at("whatsapp", scope), Some(900));
        assert_eq!(
            directory.sharing_effective_at("messenger", scope),
            None,
            "a policy is for one app"
        );
        assert_eq!(
            directory.sharing_effective_at("whatsapp", ConsentScope::SharePhoneNumber),
            None,
            "and one attribute"
        );
        assert_eq!(
            directory.sharing_effective_at("whatsapp", ConsentScope::CrossAppMessaging),
            None,
            "only identity attributes have policies"
        );
        memory.put(
            sharing_key("whatsapp", SharedAttribute::DisplayName),
            policy(false),
        );
        assert_eq!(directory.sharing_effective_at("whatsapp", scope), None);
    }

    #[test]
    fn a_stop_to_a_business_is_audited_once_with_the_person_as_actor() {
        let memory = Memory::default();
        let directory = directory(&memory);
        let alice = account("whatsapp", "16505551234");
        let shop = account("messenger", "shop");
        directory.opt_out_of_marketing(&alice, &shop, 50);
        directory.opt_out_of_marketing(&alice, &shop, 51);
        assert!(directory.marketing_opted_out(&alice, &shop));
        let audit = memory.audit();
        assert_eq!(audit.len(), 1, "a second STOP changes nothing: {audit:?}");
        assert_eq!(audit[0].actor, "whatsapp:16505551234 in chat");
        assert_eq!(audit[0].action, "marketing");
        assert_eq!(audit[0].details["business"]["id"], "shop");
        assert_eq!(audit[0].details["state"], "opted-out");
    }

    #[test]
    fn reads_consents_blocks_and_marketing_choices() {
        let memory = Memory::default();
        let directory = directory(&memory);
        let wa = account("whatsapp", "16505551234");
        let ms = account("messenger", "2345");
        memory.put(
            consent_key(&wa, ConsentScope::CrossAppMessaging),
            serde_json::json!({ "granted": true, "at_ms": 1 }),
        );
        memory.put(
            consent_key(&ms, ConsentScope::CrossAppMessaging),
            serde_json::json!({ "granted": false, "at_ms": 2 }),
        );
        assert!(directory.has_consent(&wa, ConsentScope::CrossAppMessaging));
        assert!(
            !directory.has_consent(&ms, ConsentScope::CrossAppMessaging),
            "withdrawn"
        );
        assert!(
            !directory.has_consent(&wa, ConsentScope::SharePhoneNumber),
            "never given"
        );

        let shop = account("whatsapp", "106540352242922");
        assert!(!directory.marketing_opt_in(&wa, &shop));
        assert!(
            !directory.marketing_opted_out(&wa, &shop),
            "no choice is not an opt-out"
        );
        memory.put(
            marketing_key(&wa, &shop),
            serde_json::json!({ "state": "opted-in", "at_ms": 3 }),
        );
        assert!(directory.marketing_opt_in(&wa, &shop));
        directory.opt_out_of_marketing(&wa, &shop, 4);
        assert!(!directory.marketing_opt_in(&wa, &shop), "STOP wins");
        assert!(directory.marketing_opted_out(&wa, &shop));

        memory.put(block_key(&ms, &shop), serde_json::json!({ "at_ms": 5 }));
        assert!(directory.is_blocked(&ms, &shop));
        assert!(!directory.is_blocked(&shop, &ms), "blocks are one-way");
        assert!(memory.get(&conversation_key("c-1")).unwrap().is_none());
    }

    #[test]
    fn rate_limits_per_minute_and_maps_ids_per_account() {
        let memory = Memory::default();
        let directory = directory(&memory);
        let sender = account("instagram", "77");
        assert!(directory.within_rate(&sender, "instagram:a", 60_000));
        assert!(directory.within_rate(&sender, "instagram:b", 60_500));
        assert!(
            directory.within_rate(&sender, "instagram:b", 60_600),
            "the same message's next delivery is not counted again"
        );
        assert!(
            !directory.within_rate(&sender, "instagram:c", 61_000),
            "third in the same minute"
        );
        assert!(
            directory.within_rate(&sender, "instagram:d", 120_000),
            "a new minute"
        );

        // Two members on WhatsApp each got their own copy of one message.
        let alice = account("whatsapp", "1");
        let dave = account("whatsapp", "4");
        let bob = account("messenger", "2");
        directory.record_native_id("messenger:m_1", &bob, "m_1");
        directory.record_native_id("messenger:m_1", &alice, "wamid.A");
        directory.record_native_id("messenger:m_1", &dave, "wamid.D");
        for (platform, native) in [
            ("messenger", "m_1"),
            ("whatsapp", "wamid.A"),
            ("whatsapp", "wamid.D"),
        ] {
            assert_eq!(
                directory.canonical_id(platform, native).as_deref(),
                Some("messenger:m_1"),
                "{native}"
            );
        }
        assert_eq!(directory.canonical_id("instagram", "wamid.A"), None);
        assert_eq!(
            directory.native_id("messenger:m_1", &alice).as_deref(),
            Some("wamid.A")
        );
        assert_eq!(
            directory.native_id("messenger:m_1", &dave).as_deref(),
            Some("wamid.D")
        );
        assert_eq!(
            directory.native_id("messenger:m_1", &bob).as_deref(),
            Some("m_1")
        );
        assert_eq!(
            directory.native_id("messenger:m_1", &account("instagram", "3")),
            None
        );
    }

    #[test]
    fn discovers_only_discoverable_accounts_by_number_or_username() {
        let memory = Memory::default();
        let directory = directory(&memory);
        let alice = account("whatsapp", "16505551234");
        let bob = account("telegram", "42");
        let mallory = account("instagram", "666");
        assert_eq!(
            directory.discover("+1 650 555 1234"),
            None,
            "not discoverable"
        );
        for who in [&alice, &bob, &mallory] {
            memory.put(
                consent_key(who, ConsentScope::Discoverable),
                serde_json::json!({ "granted": true, "at_ms": 1 }),
            );
        }
        assert_eq!(directory.discover("+1 650 555 1234"), Some(alice.clone()));
        assert_eq!(directory.discover("1-650-555-1234"), Some(alice.clone()));
        assert_eq!(directory.discover("+1650"), None, "too short");
        assert_eq!(directory.discover("+1650555123x"), None);
        assert_eq!(directory.discover("@"), None);

        directory.remember_username(&bob, "@Bob");
        assert_eq!(directory.discover("@bob"), Some(bob.clone()));
        directory.remember_username(&mallory, "bob");
        assert_eq!(
            directory.discover("@BOB"),
            Some(bob.clone()),
            "a discoverable holder keeps the name"
        );
        directory.set_consent(&bob, ConsentScope::Discoverable, false, 2);
        assert_eq!(directory.discover("@bob"), None, "checked on lookup");
        directory.remember_username(&mallory, "bob");
        assert_eq!(directory.discover("@bob"), Some(mallory));
        let carol = account("messenger", "7");
        directory.remember_username(&carol, "carol");
        assert_eq!(memory.get(&username_key("carol")).unwrap(), None);
    }

    #[test]
    fn a_request_holds_messages_until_accepted_then_queues_them_again() {
        let memory = Memory::default();
        let directory = directory(&memory).with_request_expiry_days(1);
        let alice = account("whatsapp", "16505551234");
        let bob = account("messenger", "2345");
        for who in [&alice, &bob] {
            memory.put(
                consent_key(who, ConsentScope::CrossAppMessaging),
                serde_json::json!({ "granted": true, "at_ms": 1 }),
            );
        }
        assert_eq!(
            directory.request_direct(&bob, "page-1", &alice, 10),
            None,
            "not discoverable"
        );
        directory.set_consent(&alice, ConsentScope::Discoverable, true, 10);
        assert_eq!(directory.request_direct(&alice, "wa-1", &alice, 10), None);
        let id = directory
            .request_direct(&bob, "page-1", &alice, 10)
            .unwrap();
        let record = directory.conversation(&id).unwrap();
        assert_eq!(record.member(&alice).unwrap().state, MemberState::Invited);
        assert_eq!(record.member(&bob).unwrap().endpoint, "page-1");

        assert!(
            !directory.hold_message(&id, &alice, "whatsapp:w1", 20),
            "not the requester"
        );
        for n in 0..MAX_HELD_MESSAGES + 1 {
            let canonical = format!("messenger:m{n}");
            memory.put(
                envelope_key(&canonical),
                serde_json::json!({ "id": canonical }),
            );
            memory.put(status_key(&canonical), serde_json::json!({}));
            assert_eq!(
                directory.hold_message(&id, &bob, &canonical, 20),
                n < MAX_HELD_MESSAGES,
                "{n}"
            );
        }
        assert_eq!(
            directory.accept_request(&id, &bob, 30),
            AnswerOutcome::NoRequest,
            "only the target accepts"
        );
        assert_eq!(
            directory.accept_request(&id, &alice, 30),
            AnswerOutcome::Done
        );
        assert!(
            directory
                .conversation(&id)
                .unwrap()
                .is_active_member(&alice)
        );
        assert_eq!(
            directory
                .conversations_at(&alice, "wa-1")
                .current
                .as_deref(),
            Some(id.as_str())
        );
        for n in 0..MAX_HELD_MESSAGES {
            let canonical = format!("messenger:m{n}");
            assert_eq!(
                memory.get(&inbox_key(&canonical)).unwrap(),
                memory.get(&envelope_key(&canonical)).unwrap()
            );
            assert_eq!(memory.get(&status_key(&canonical)).unwrap(), None);
        }
        let over = format!("messenger:m{MAX_HELD_MESSAGES}");
        assert_eq!(memory.get(&inbox_key(&over)).unwrap(), None, "not held");
        assert_eq!(
            directory.accept_request(&id, &alice, 40),
            AnswerOutcome::NoRequest
        );

        // A second request, found a day and a bit later.
        let late = directory
            .request_direct(&bob, "page-1", &alice, 100)
            .unwrap();
        assert_eq!(
            directory.request_of(&late, 100 + DAY_MS).unwrap().state,
            RequestState::Pending
        );
        assert_eq!(
            directory.request_of(&late, 101 + DAY_MS).unwrap().state,
            RequestState::Declined
        );
        assert_eq!(
            directory.decline_request(&late, &alice, 101 + DAY_MS),
            AnswerOutcome::Expired
        );
        assert_eq!(
            directory
                .conversation(&late)
                .unwrap()
                .member(&alice)
                .unwrap()
                .state,
            MemberState::Left
        );
        let actions: Vec<String> = memory.audit().into_iter().map(|r| r.action).collect();
        assert_eq!(
            actions,
            [
                "consent",
                "request",
                "request-accepted",
                "request",
                "request-declined"
            ]
        );
    }

    #[test]
    fn reads_the_story_records_the_host_writes() {
        let memory = Memory::default();
        let directory = directory(&memory);
        let author = account("instagram", "17841405822304914");
        let page = account("messenger", "109876543210987");
        assert_eq!(directory.cross_post_origin("messenger", "post_1"), None);
        memory.put(
            directory_schema::story_origin_key("messenger", "post_1"),
            serde_json::json!({ "story_id": "17887498072083520", "author": author }),
        );
        memory.put(
            story_author_key(&page),
            serde_json::to_value(&author).unwrap(),
        );
        assert_eq!(
            directory.cross_post_origin("messenger", "post_1"),
            Some(StoryOrigin {
                story_id: "17887498072083520".into(),
                author: author.clone()
            })
        );
        assert_eq!(
            directory.cross_post_origin("instagram", "post_1"),
            None,
            "ids are per platform"
        );
        assert_eq!(directory.story_author(&page), Some(author));
        assert_eq!(directory.story_author(&account("messenger", "1")), None);
    }
}
