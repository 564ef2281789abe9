//! The `directory` interface over a key-value store, in the layout that
//! `directory-schema` defines and the admin API writes.
//!
//! The logic is in [`Directory`], generic over a [`KeyValue`] store so it is
//! tested natively; the component runs it over Spin's default key-value store.
//! A store failure reads as "no" (not linked, no consent, not opted in): the
//! safe answer for a privacy check, and it is logged to stderr.

use directory_schema::{
    Account, AccountRecord, ConsentRecord, ConsentScope, OptInRecord, OptInState, PersonRecord,
    RateRecord, StoryOrigin, account_key, block_key, canonical_id_key, consent_key, handle_key,
    marketing_key, native_id_key, person_key, rate_key, story_author_key, story_origin_key,
};

/// Messages one sender may send per minute unless configured otherwise.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 60;

/// The key-value operations the directory needs.
pub trait KeyValue {
    /// The value of `key`.
    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Sets `key`.
    fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()>;
}

/// A linked account and its pseudonymous handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Linked {
    /// The account on another app.
    pub account: Account,
    /// The person's handle on that account's app.
    pub handle: String,
}

/// Directory queries over a key-value store.
pub struct Directory<S> {
    store: S,
    rate_per_minute: u32,
}

impl<S: KeyValue> Directory<S> {
    /// A directory over `store`, allowing `rate_per_minute` messages per sender.
    pub fn new(store: S, rate_per_minute: u32) -> Self {
        Directory {
            store,
            rate_per_minute,
        }
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

    /// The other accounts of the person who owns `account`.
    pub fn linked_accounts(&self, account: &Account) -> Vec<Linked> {
        let Some(record) = self.read::<AccountRecord>(&account_key(account)) else {
            return Vec::new();
        };
        let person: PersonRecord = self.read(&person_key(&record.person)).unwrap_or_default();
        person
            .accounts
            .into_iter()
            .filter(|other| other != account)
            .filter_map(|other| {
                let handle = self.read::<AccountRecord>(&account_key(&other))?.handle;
                Some(Linked {
                    account: other,
                    handle,
                })
            })
            .collect()
    }

    /// The account a handle stands for on `platform`.
    pub fn resolve_handle(&self, platform: &str, handle: &str) -> Option<Account> {
        self.read(&handle_key(platform, handle))
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

    /// Records the native id a canonical message got on `platform`.
    pub fn record_native_id(&self, canonical_id: &str, platform: &str, native_id: &str) {
        self.write(&native_id_key(platform, native_id), canonical_id.as_bytes());
        self.write(
            &canonical_id_key(canonical_id, platform),
            native_id.as_bytes(),
        );
    }

    /// The canonical id of the message known as `native_id` on `platform`.
    pub fn canonical_id(&self, platform: &str, native_id: &str) -> Option<String> {
        self.string(&native_id_key(platform, native_id))
    }

    /// The native id of a canonical message on `platform`.
    pub fn native_id(&self, canonical_id: &str, platform: &str) -> Option<String> {
        self.string(&canonical_id_key(canonical_id, platform))
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
    use super::bindings::exports::switchboard::messaging::directory::{
        ConsentScope as WitScope, Guest, LinkedAccount, StoryOrigin,
    };
    use super::{DEFAULT_RATE_PER_MINUTE, Directory, KeyValue};
    use directory_schema::{Account, ConsentScope};
    use spin_sdk::key_value::Store;
    use std::cell::OnceCell;
    use switchboard_pdk::types::Address;

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
        Directory::new(SpinKeyValue, RATE_PER_MINUTE.with(|rate| *rate))
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

    fn scope(scope: WitScope) -> ConsentScope {
        match scope {
            WitScope::CrossAppMessaging => ConsentScope::CrossAppMessaging,
            WitScope::SharePhoneNumber => ConsentScope::SharePhoneNumber,
            WitScope::ShareDisplayName => ConsentScope::ShareDisplayName,
            WitScope::ShareUsername => ConsentScope::ShareUsername,
            WitScope::PublishKeys => ConsentScope::PublishKeys,
        }
    }

    struct Component;

    impl Guest for Component {
        fn linked_accounts(account_: Address) -> Vec<LinkedAccount> {
            directory()
                .linked_accounts(&account(account_))
                .into_iter()
                .map(|linked| LinkedAccount {
                    account: address(linked.account),
                    handle: linked.handle,
                })
                .collect()
        }
        fn resolve_handle(platform: String, handle: String) -> Option<Address> {
            directory().resolve_handle(&platform, &handle).map(address)
        }
        fn has_consent(account_: Address, scope_: WitScope) -> bool {
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
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_millis() as u64)
                .unwrap_or_default();
            directory().opt_out_of_marketing(&account(person), &account(business), now)
        }
        fn within_rate(sender: Address, message_id: String, now_ms: u64) -> bool {
            directory().within_rate(&account(sender), &message_id, now_ms)
        }
        fn record_native_id(canonical_id: String, platform: String, native_id: String) {
            directory().record_native_id(&canonical_id, &platform, &native_id)
        }
        fn canonical_id(platform: String, native_id: String) -> Option<String> {
            directory().canonical_id(&platform, &native_id)
        }
        fn native_id(canonical_id: String, platform: String) -> Option<String> {
            directory().native_id(&canonical_id, &platform)
        }
        fn cross_post_origin(platform: String, native_id: String) -> Option<StoryOrigin> {
            directory()
                .cross_post_origin(&platform, &native_id)
                .map(|origin| StoryOrigin {
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
