//! A directory for tests: the `directory` crate's logic over an in-memory
//! key-value store, set up with the records the admin API writes.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use directory::{Directory, KeyValue};
use directory_schema::{
    Account, AccountRecord, BlockRecord, ConsentRecord, OptInRecord, OptInState, PersonRecord,
    account_key, block_key, consent_key, handle_for, handle_key, marketing_key, person_key,
};
use router::{ConsentScope, Facts, LinkedAccount, StoryOrigin};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use switchboard_pdk::types::{
    Address, Content, Conversation, ConversationKind, Envelope, Event, FormattedText,
    IdentityAttribute, Message, MessageCategory, Participant,
};

/// Messages per minute the test directory allows one sender.
pub const RATE_PER_MINUTE: u32 = 3;
/// The clock the test directory stamps opt-outs with.
pub const NOW_MS: u64 = 1_700_000_000_000;

/// An in-memory key-value store, shared between the directory and the test.
#[derive(Clone, Default)]
pub struct Memory(Rc<RefCell<BTreeMap<String, Vec<u8>>>>);

impl KeyValue for Memory {
    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.0.borrow().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.0.borrow_mut().insert(key.to_string(), value.to_vec());
        Ok(())
    }
}

impl Memory {
    fn put<T: serde::Serialize>(&self, key: String, value: &T) {
        self.set(&key, &serde_json::to_vec(value).unwrap()).unwrap();
    }
    fn read<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let bytes = self.get(key).unwrap()?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }
}

/// [`Facts`] over `directory::Directory` and an in-memory store.
pub struct TestDirectory {
    pub memory: Memory,
    directory: Directory<Memory>,
    /// How many times each query (`linked_accounts`, `resolve_handle`,
    /// `canonical_id`, `native_id`) was asked since the last reset.
    reads: RefCell<BTreeMap<&'static str, usize>>,
}

impl Default for TestDirectory {
    fn default() -> Self {
        let memory = Memory::default();
        TestDirectory {
            directory: Directory::new(memory.clone(), RATE_PER_MINUTE),
            memory,
            reads: RefCell::default(),
        }
    }
}

fn account(address: &Address) -> Account {
    Account {
        platform: address.platform.clone(),
        id: address.id.clone(),
    }
}

fn address_of(account: Account) -> Address {
    Address {
        platform: account.platform,
        id: account.id,
    }
}

fn schema_scope(scope: ConsentScope) -> directory_schema::ConsentScope {
    match scope {
        ConsentScope::CrossAppMessaging => directory_schema::ConsentScope::CrossAppMessaging,
        ConsentScope::SharePhoneNumber => directory_schema::ConsentScope::SharePhoneNumber,
        ConsentScope::ShareDisplayName => directory_schema::ConsentScope::ShareDisplayName,
        ConsentScope::ShareUsername => directory_schema::ConsentScope::ShareUsername,
        ConsentScope::PublishKeys => directory_schema::ConsentScope::PublishKeys,
    }
}

impl TestDirectory {
    fn count(&self, query: &'static str) {
        *self.reads.borrow_mut().entry(query).or_default() += 1;
    }

    /// How many times `query` was asked since [`Self::reset_reads`].
    pub fn reads_of(&self, query: &str) -> usize {
        self.reads.borrow().get(query).copied().unwrap_or(0)
    }

    /// Starts counting queries afresh.
    pub fn reset_reads(&self) {
        self.reads.borrow_mut().clear();
    }

    /// Links `address` into the link named `person`, as `POST /admin/links`
    /// does; answers the account's handle.
    pub fn link(&self, person: &str, address: &Address) -> String {
        let handle = handle_for(person, &address.platform);
        let account = account(address);
        self.memory.put(
            account_key(&account),
            &AccountRecord {
                person: person.to_string(),
                handle: handle.clone(),
            },
        );
        let mut record: PersonRecord = self.memory.read(&person_key(person)).unwrap_or_default();
        record.accounts.push(account.clone());
        self.memory.put(person_key(person), &record);
        self.memory
            .put(handle_key(&address.platform, &handle), &account);
        handle
    }

    /// Links `a` and `b` into the link named `person`, both consenting to
    /// cross-app messaging; answers the link's handles on `a`'s and `b`'s apps.
    pub fn link_consenting(&self, person: &str, a: &Address, b: &Address) -> (String, String) {
        let handles = (self.link(person, a), self.link(person, b));
        self.consent(a, ConsentScope::CrossAppMessaging, true);
        self.consent(b, ConsentScope::CrossAppMessaging, true);
        handles
    }

    /// Gives (`true`) or withdraws (`false`) a consent.
    pub fn consent(&self, address: &Address, scope: ConsentScope, granted: bool) {
        self.memory.put(
            consent_key(&account(address), schema_scope(scope)),
            &ConsentRecord {
                granted,
                at_ms: NOW_MS,
            },
        );
    }

    /// `blocker` blocks `blocked`.
    pub fn block(&self, blocker: &Address, blocked: &Address) {
        self.memory.put(
            block_key(&account(blocker), &account(blocked)),
            &BlockRecord { at_ms: NOW_MS },
        );
    }

    /// Records, as the story cross-poster does when a publish is accepted,
    /// that `native_id` on `platform` is a cross-post of `story_id` by
    /// `author`, and that `author` cross-posts to `target`.
    pub fn cross_posted(
        &self,
        author: &Address,
        story_id: &str,
        platform: &str,
        native_id: &str,
        target: &Address,
    ) {
        self.memory.put(
            directory_schema::story_origin_key(platform, native_id),
            &directory_schema::StoryOrigin {
                story_id: story_id.to_string(),
                author: account(author),
            },
        );
        self.memory.put(
            directory_schema::story_author_key(&account(target)),
            &account(author),
        );
    }

    /// `person` opts in to marketing from `business`.
    pub fn opt_in(&self, person: &Address, business: &Address) {
        self.memory.put(
            marketing_key(&account(person), &account(business)),
            &OptInRecord {
                state: OptInState::OptedIn,
                at_ms: NOW_MS,
            },
        );
    }
}

impl Facts for TestDirectory {
    fn linked_accounts(&self, address: &Address) -> Vec<LinkedAccount> {
        self.count("linked_accounts");
        self.directory
            .linked_accounts(&account(address))
            .into_iter()
            .map(|linked| LinkedAccount {
                account: address_of(linked.account),
                handle: linked.handle,
            })
            .collect()
    }
    fn resolve_handle(&self, platform: &str, handle: &str) -> Option<Address> {
        self.count("resolve_handle");
        self.directory
            .resolve_handle(platform, handle)
            .map(address_of)
    }
    fn has_consent(&self, address: &Address, scope: ConsentScope) -> bool {
        self.directory
            .has_consent(&account(address), schema_scope(scope))
    }
    fn is_blocked(&self, blocker: &Address, blocked: &Address) -> bool {
        self.directory
            .is_blocked(&account(blocker), &account(blocked))
    }
    fn marketing_opt_in(&self, person: &Address, business: &Address) -> bool {
        self.directory
            .marketing_opt_in(&account(person), &account(business))
    }
    fn marketing_opted_out(&self, person: &Address, business: &Address) -> bool {
        self.directory
            .marketing_opted_out(&account(person), &account(business))
    }
    fn opt_out_of_marketing(&self, person: &Address, business: &Address) {
        self.directory
            .opt_out_of_marketing(&account(person), &account(business), NOW_MS)
    }
    fn within_rate(&self, sender: &Address, message_id: &str, now_ms: u64) -> bool {
        self.directory
            .within_rate(&account(sender), message_id, now_ms)
    }
    fn record_native_id(&self, canonical_id: &str, platform: &str, native_id: &str) {
        self.directory
            .record_native_id(canonical_id, platform, native_id)
    }
    fn canonical_id(&self, platform: &str, native_id: &str) -> Option<String> {
        self.count("canonical_id");
        self.directory.canonical_id(platform, native_id)
    }
    fn native_id(&self, canonical_id: &str, platform: &str) -> Option<String> {
        self.count("native_id");
        self.directory.native_id(canonical_id, platform)
    }
    fn cross_post_origin(&self, platform: &str, native_id: &str) -> Option<StoryOrigin> {
        self.count("cross_post_origin");
        self.directory
            .cross_post_origin(platform, native_id)
            .map(|origin| StoryOrigin {
                story_id: origin.story_id,
                author: address_of(origin.author),
            })
    }
    fn story_author(&self, address: &Address) -> Option<Address> {
        self.count("story_author");
        self.directory
            .story_author(&account(address))
            .map(address_of)
    }
}

/// An address.
pub fn addr(platform: &str, id: &str) -> Address {
    Address {
        platform: platform.to_string(),
        id: id.to_string(),
    }
}

/// A personal text message from `sender` on its app, with native id `native_id`.
pub fn text_from(sender: &Address, native_id: &str, body: &str) -> Envelope {
    envelope_from(
        sender,
        native_id,
        Event::Message(Message {
            content: Content::Text(FormattedText {
                body: body.to_string(),
                spans: Vec::new(),
            }),
            reply_to: None,
            forwarded: None,
            story: None,
            category: MessageCategory::Personal,
        }),
    )
}

/// An envelope of `event` from `sender`, as a translator decodes it: canonical
/// id `<platform>:<native id>`, a direct conversation on the sender's side,
/// addressed to the Switchboard business account on the sender's app.
pub fn envelope_from(sender: &Address, native_id: &str, event: Event) -> Envelope {
    Envelope {
        id: format!("{}:{native_id}", sender.platform),
        platform: sender.platform.clone(),
        native_id: Some(native_id.to_string()),
        conversation: Conversation {
            kind: ConversationKind::Direct,
            id: sender.id.clone(),
        },
        sender: Participant {
            address: sender.clone(),
            attributes: vec![
                IdentityAttribute::PhoneNumber(format!("+{}", sender.id)),
                IdentityAttribute::DisplayName("Alice Example".to_string()),
                IdentityAttribute::Username("alice_ex".to_string()),
            ],
        },
        recipient: addr(&sender.platform, "switchboard-business"),
        timestamp_ms: NOW_MS,
        event,
        echo: false,
        extras: Vec::new(),
    }
}

/// The envelope with its message changed by `change`; fails the test when the
/// event is not a message.
pub fn with_message(mut envelope: Envelope, change: impl FnOnce(&mut Message)) -> Envelope {
    match &mut envelope.event {
        Event::Message(message) => change(message),
        other => panic!("not a message: {other:?}"),
    }
    envelope
}

/// The message category of an envelope's message, changed.
pub fn with_category(envelope: Envelope, category: MessageCategory) -> Envelope {
    with_message(envelope, |message| message.category = category)
}

/// Alice on WhatsApp and Bob on Messenger, linked, both consenting to
/// cross-app messaging; answers (directory, alice, bob, alice's handle on
/// Messenger, bob's handle on WhatsApp).
pub fn alice_and_bob() -> (TestDirectory, Address, Address, String, String) {
    let directory = TestDirectory::default();
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("messenger", "2345678901");
    let (on_whatsapp, on_messenger) = directory.link_consenting("alice-bob", &alice, &bob);
    (directory, alice, bob, on_messenger, on_whatsapp)
}
