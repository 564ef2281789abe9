//! The `directory` interface over a key-value store, in the layout that
//! `directory-schema` defines and the admin API writes.
//!
//! The logic is in [`Directory`], generic over a [`KeyValue`] store so it is
//! tested natively; the component runs it over Spin's default key-value store.
//! A store failure reads as "no" (no conversation, no consent, not opted
//! in): the safe answer for a privacy check, and it is logged to stderr.
//! Conversations are read and changed through the `conversations` crate, the
//! same code the admin API runs.

use conversations::{Conversations, Endpoints};
use directory_schema::{
    Account, BlockRecord, ConsentRecord, ConsentScope, ConversationRecord, EndpointConversations,
    MessageOrigin, OptInRecord, OptInState, RateRecord, StoryOrigin, block_key, canonical_id_key,
    consent_key, marketing_key, native_id_key, rate_key, story_author_key, story_origin_key,
};

pub use conversations::Store as KeyValue;

/// Messages one sender may send per minute unless configured otherwise.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 60;

/// Directory queries over a key-value store.
pub struct Directory<S> {
    store: S,
    rate_per_minute: u32,
    endpoints: Endpoints,
}

impl<S: KeyValue> Directory<S> {
    /// A directory over `store`, allowing `rate_per_minute` messages per
    /// sender, with the relay's `endpoints`.
    pub fn new(store: S, rate_per_minute: u32, endpoints: Endpoints) -> Self {
        Directory {
            store,
            rate_per_minute,
            endpoints,
        }
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
        membership
            .endpoints
            .keys()
            .next()
            .cloned()
            .or_else(|| self.endpoints.pool(&account.platform).first().cloned())
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

    /// Records an opt-out (a STOP reply).
    pub fn opt_out_of_marketing(&self, person: &Account, business: &Account, now_ms: u64) {
        let record = OptInRecord {
            state: OptInState::OptedOut,
            at_ms: now_ms,
        };
        if let Ok(bytes) = serde_json::to_vec(&record) {
            self.write(&marketing_key(person, business), &bytes);
        }
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
    use super::{DEFAULT_RATE_PER_MINUTE, Directory, KeyValue};
    use conversations::Endpoints;
    use directory_schema::{
        Account, ConsentScope, ConversationKind, ConversationRecord, EndpointConversations,
        MemberRole, MemberState, MessageOrigin,
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
    }

    fn directory() -> Directory<SpinKeyValue> {
        Directory::new(
            SpinKeyValue,
            RATE_PER_MINUTE.with(|rate| *rate),
            ENDPOINTS.with(Clone::clone),
        )
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
        fn has_consent(account_: Address, scope_: wit::ConsentScope) -> bool {
            directory().has_consent(&account(account_), scope(scope_))
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
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Memory(RefCell<BTreeMap<String, Vec<u8>>>);

    impl KeyValue for &Memory {
        fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
            Ok(self.0.borrow().get(key).cloned())
        }
        fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
            self.0.borrow_mut().insert(key.into(), value.to_vec());
            Ok(())
        }
    }

    fn account(platform: &str, id: &str) -> Account {
        Account {
            platform: platform.into(),
            id: id.into(),
        }
    }

    fn put(memory: &Memory, key: String, value: serde_json::Value) {
        memory
            .0
            .borrow_mut()
            .insert(key, value.to_string().into_bytes());
    }

    #[test]
    fn reads_what_the_admin_api_writes() {
        let memory = Memory::default();
        let wa = account("whatsapp", "16505551234");
        let ms = account("messenger", "2345");
        put(
            &memory,
            account_key(&wa),
            serde_json::json!({ "person": "alice", "handle": "sb-wa" }),
        );
        put(
            &memory,
            account_key(&ms),
            serde_json::json!({ "person": "alice", "handle": "sb-ms" }),
        );
        put(
            &memory,
            person_key("alice"),
            serde_json::json!({ "accounts": [wa, ms] }),
        );
        put(
            &memory,
            handle_key("messenger", "sb-ms"),
            serde_json::to_value(&ms).unwrap(),
        );
        put(
            &memory,
            consent_key(&wa, ConsentScope::CrossAppMessaging),
            serde_json::json!({ "granted": true, "at_ms": 1 }),
        );
        put(
            &memory,
            consent_key(&ms, ConsentScope::CrossAppMessaging),
            serde_json::json!({ "granted": false, "at_ms": 2 }),
        );
        let directory = Directory::new(&memory, 2);

        assert_eq!(
            directory.linked_accounts(&wa),
            vec![Linked {
                account: ms.clone(),
                handle: "sb-ms".into()
            }]
        );
        assert!(
            directory
                .linked_accounts(&account("instagram", "9"))
                .is_empty()
        );
        assert_eq!(
            directory.resolve_handle("messenger", "sb-ms"),
            Some(ms.clone())
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
        put(
            &memory,
            marketing_key(&wa, &shop),
            serde_json::json!({ "state": "opted-in", "at_ms": 3 }),
        );
        assert!(directory.marketing_opt_in(&wa, &shop));
        directory.opt_out_of_marketing(&wa, &shop, 4);
        assert!(!directory.marketing_opt_in(&wa, &shop), "STOP wins");
        assert!(directory.marketing_opted_out(&wa, &shop));

        put(
            &memory,
            block_key(&ms, &shop),
            serde_json::json!({ "at_ms": 5 }),
        );
        assert!(directory.is_blocked(&ms, &shop));
        assert!(!directory.is_blocked(&shop, &ms), "blocks are one-way");
    }

    #[test]
    fn rate_limits_per_minute_and_maps_ids_both_ways() {
        let memory = Memory::default();
        let directory = Directory::new(&memory, 2);
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

        directory.record_native_id("whatsapp:wamid.A", "messenger", "m_1");
        assert_eq!(
            directory.canonical_id("messenger", "m_1").as_deref(),
            Some("whatsapp:wamid.A")
        );
        assert_eq!(
            directory
                .native_id("whatsapp:wamid.A", "messenger")
                .as_deref(),
            Some("m_1")
        );
        assert_eq!(directory.native_id("whatsapp:wamid.A", "instagram"), None);
    }

    #[test]
    fn reads_the_story_records_the_host_writes() {
        let memory = Memory::default();
        let directory = Directory::new(&memory, 2);
        let author = account("instagram", "17841405822304914");
        let page = account("messenger", "109876543210987");
        assert_eq!(directory.cross_post_origin("messenger", "post_1"), None);
        put(
            &memory,
            directory_schema::story_origin_key("messenger", "post_1"),
            serde_json::json!({ "story_id": "17887498072083520", "author": author }),
        );
        put(
            &memory,
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
