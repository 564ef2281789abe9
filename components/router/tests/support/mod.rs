//! A directory for tests: the `directory` crate's logic over an in-memory
//! key-value store, with conversations made by the `conversations` crate (the
//! code the admin API runs), so endpoints, aliases and handles are real.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use conversations::{Conversations, Endpoints, Joiner};
use directory::{Directory, KeyValue};
use directory_schema::{
    Account, AuditRecord, ConsentRecord, OptInRecord, OptInState, consent_key, marketing_key,
};
use router::native::DirectoryFacts;
use router::{
    AnswerOutcome, ConsentScope, ConversationRecord, ConversationRequest, Delivery,
    EndpointConversations, Facts, Member, MessageOrigin, RouteError, StoryOrigin,
};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use switchboard_pdk::types::{
    Address, Content, Conversation, ConversationKind, Envelope, Event, FormattedText,
    IdentityAttribute, Message, MessageCategory, Participant,
};

/// Messages per minute the test directory allows one sender.
pub const RATE_PER_MINUTE: u32 = 3;
/// The clock the test directory stamps its records with.
pub const NOW_MS: u64 = 1_700_000_000_000;
/// The relay's endpoints: two WhatsApp numbers, one Page, one Instagram
/// account.
pub const ENDPOINTS: &str = "whatsapp=wa-1,wa-2 messenger=page-1 instagram=ig-1";
/// The apps whose ids are scoped to the endpoint written to.
pub const SCOPED: &str = "messenger instagram";

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
    fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.0.borrow_mut().remove(key);
        Ok(())
    }
}

impl Memory {
    pub fn put<T: serde::Serialize>(&self, key: String, value: &T) {
        self.set(&key, &serde_json::to_vec(value).unwrap()).unwrap();
    }
    pub fn read<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        let bytes = self.get(key).unwrap()?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }
    /// Every audit record, oldest first.
    pub fn audit(&self) -> Vec<AuditRecord> {
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

/// `router::route` at [`NOW_MS`].
pub fn route<F: Facts + ?Sized>(
    facts: &F,
    envelope: &Envelope,
) -> Result<Vec<Delivery>, RouteError> {
    router::route(facts, envelope, NOW_MS)
}

/// [`Facts`] over `directory::Directory` and an in-memory store.
pub struct TestDirectory {
    pub memory: Memory,
    facts: DirectoryFacts<Memory>,
    endpoints: Endpoints,
    /// How many times each query (`conversations_at`, `conversation`,
    /// `origin_of`, `canonical_id`, `native_id`…) was asked since the last
    /// reset.
    reads: RefCell<BTreeMap<&'static str, usize>>,
    /// Conversations made so far, for their ids.
    made: Cell<u32>,
}

impl Default for TestDirectory {
    fn default() -> Self {
        TestDirectory::with_endpoints(ENDPOINTS)
    }
}

/// The store's account for an address.
pub fn account(address: &Address) -> Account {
    Account {
        platform: address.platform.clone(),
        id: address.id.clone(),
    }
}

fn schema_kind(kind: ConversationKind) -> directory_schema::ConversationKind {
    match kind {
        ConversationKind::Direct => directory_schema::ConversationKind::Direct,
        ConversationKind::Group => directory_schema::ConversationKind::Group,
    }
}

/// The member record of `address` in `conversation`; fails the test when it
/// is no member.
pub fn member<'a>(conversation: &'a ConversationRecord, address: &Address) -> &'a Member {
    conversation
        .members
        .iter()
        .find(|member| member.account == *address)
        .unwrap_or_else(|| panic!("{address:?} is no member of {}", conversation.id))
}

impl TestDirectory {
    /// A directory with the relay endpoints `pools` (as configured:
    /// `whatsapp=wa-1 messenger=page-1`), Messenger and Instagram scoped.
    pub fn with_endpoints(pools: &str) -> TestDirectory {
        let memory = Memory::default();
        let endpoints = Endpoints::parse(pools, SCOPED).unwrap();
        TestDirectory {
            facts: DirectoryFacts {
                directory: Directory::new(memory.clone(), RATE_PER_MINUTE, endpoints.clone()),
                now_ms: || NOW_MS,
            },
            endpoints,
            memory,
            reads: RefCell::default(),
            made: Cell::new(0),
        }
    }

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

    /// Gives (`true`) or withdraws (`false`) a consent, as the admin API does.
    pub fn consent(&self, address: &Address, scope: ConsentScope, granted: bool) {
        self.memory.put(
            consent_key(&account(address), router::native::scope(scope)),
            &ConsentRecord {
                granted,
                at_ms: NOW_MS,
            },
        );
    }

    /// Each of `addresses` consents to cross-app messaging.
    pub fn consenting(&self, addresses: &[&Address]) {
        for address in addresses {
            self.consent(address, ConsentScope::CrossAppMessaging, true);
        }
    }

    /// A conversation of `kind` whose members are `members`, all active, made
    /// as the admin API makes it (endpoints from the pool, aliases, handles).
    /// The members must have consented.
    pub fn conversation(&self, kind: ConversationKind, members: &[&Address]) -> ConversationRecord {
        self.conversation_of(
            kind,
            members
                .iter()
                .map(|address| Joiner::person(account(address)))
                .collect(),
        )
    }

    /// A conversation of `kind` with `joiners` as they are given.
    pub fn conversation_of(
        &self,
        kind: ConversationKind,
        joiners: Vec<Joiner>,
    ) -> ConversationRecord {
        let number = self.made.get() + 1;
        self.made.set(number);
        let id = conversations::conversation_id(&number.to_string());
        let made = Conversations::new(&self.memory, &self.endpoints, 256)
            .create(&id, schema_kind(kind), None, joiners, NOW_MS)
            .unwrap_or_else(|failure| panic!("cannot make the conversation: {failure:?}"));
        router::native::conversation(made)
    }

    /// The conversation `id` as stored now.
    pub fn stored(&self, id: &str) -> ConversationRecord {
        router::native::conversation(
            self.facts
                .directory
                .conversation(id)
                .expect("a conversation"),
        )
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

    /// The endpoint `sender` writes to when nothing says which: the one of
    /// its first endpoint's conversations, else its app's first.
    fn endpoint_of(&self, sender: &Address) -> String {
        self.facts
            .directory
            .endpoint_for(&account(sender))
            .unwrap_or_else(|| "no-endpoint".to_string())
    }

    /// An envelope of `event` from `sender`, as a translator decodes it:
    /// canonical id `<platform>:<native id>`, addressed to the relay endpoint
    /// the sender writes to (its first, see [`Self::envelope_in`] for one
    /// conversation's).
    pub fn envelope_from(&self, sender: &Address, native_id: &str, event: Event) -> Envelope {
        envelope_to(sender, &self.endpoint_of(sender), native_id, event)
    }

    /// A personal text message from `sender` to its first endpoint.
    pub fn text_from(&self, sender: &Address, native_id: &str, body: &str) -> Envelope {
        self.envelope_from(sender, native_id, text_event(body))
    }

    /// An envelope of `event` from `sender` to the endpoint it talks through
    /// in `conversation`.
    pub fn envelope_in(
        &self,
        conversation: &ConversationRecord,
        sender: &Address,
        native_id: &str,
        event: Event,
    ) -> Envelope {
        envelope_to(
            sender,
            &member(conversation, sender).endpoint,
            native_id,
            event,
        )
    }

    /// A personal text message from `sender` in `conversation`.
    pub fn text_in(
        &self,
        conversation: &ConversationRecord,
        sender: &Address,
        native_id: &str,
        body: &str,
    ) -> Envelope {
        self.envelope_in(conversation, sender, native_id, text_event(body))
    }
}

impl Facts for TestDirectory {
    fn conversations_at(&self, account: &Address, endpoint: &str) -> EndpointConversations {
        self.count("conversations_at");
        self.facts.conversations_at(account, endpoint)
    }
    fn conversations_of(&self, account: &Address) -> Vec<String> {
        self.count("conversations_of");
        self.facts.conversations_of(account)
    }
    fn conversation(&self, id: &str) -> Option<ConversationRecord> {
        self.count("conversation");
        self.facts.conversation(id)
    }
    fn record_message(&self, canonical_id: &str, origin: &MessageOrigin) {
        self.facts.record_message(canonical_id, origin)
    }
    fn origin_of(&self, canonical_id: &str) -> Option<MessageOrigin> {
        self.count("origin_of");
        self.facts.origin_of(canonical_id)
    }
    fn endpoint_for(&self, account: &Address) -> Option<String> {
        self.count("endpoint_for");
        self.facts.endpoint_for(account)
    }
    fn set_current(&self, account: &Address, endpoint: &str, conversation_id: &str) -> bool {
        self.facts.set_current(account, endpoint, conversation_id)
    }
    fn leave(&self, conversation_id: &str, account: &Address) -> bool {
        self.facts.leave(conversation_id, account)
    }
    fn block(&self, blocker: &Address, blocked: &Address) {
        self.facts.block(blocker, blocked)
    }
    fn set_consent(&self, account: &Address, scope: ConsentScope, granted: bool) {
        self.facts.set_consent(account, scope, granted)
    }
    fn discover(&self, query: &str) -> Option<Address> {
        self.count("discover");
        self.facts.discover(query)
    }
    fn remember_username(&self, account: &Address, username: &str) {
        self.facts.remember_username(account, username)
    }
    fn request_direct(
        &self,
        requester: &Address,
        requester_endpoint: &str,
        target: &Address,
    ) -> Option<String> {
        self.facts
            .request_direct(requester, requester_endpoint, target)
    }
    fn request_of(&self, conversation_id: &str) -> Option<ConversationRequest> {
        self.count("request_of");
        self.facts.request_of(conversation_id)
    }
    fn hold_message(&self, conversation_id: &str, author: &Address, canonical_id: &str) -> bool {
        self.facts
            .hold_message(conversation_id, author, canonical_id)
    }
    fn accept_request(&self, conversation_id: &str, target: &Address) -> AnswerOutcome {
        self.facts.accept_request(conversation_id, target)
    }
    fn decline_request(&self, conversation_id: &str, target: &Address) -> AnswerOutcome {
        self.facts.decline_request(conversation_id, target)
    }
    fn has_consent(&self, account: &Address, scope: ConsentScope) -> bool {
        self.facts.has_consent(account, scope)
    }
    fn consent_state(&self, account: &Address, scope: ConsentScope) -> Option<bool> {
        self.facts.consent_state(account, scope)
    }
    fn sharing_effective_at(&self, platform: &str, scope: ConsentScope) -> Option<u64> {
        self.facts.sharing_effective_at(platform, scope)
    }
    fn is_blocked(&self, blocker: &Address, blocked: &Address) -> bool {
        self.facts.is_blocked(blocker, blocked)
    }
    fn marketing_opt_in(&self, person: &Address, business: &Address) -> bool {
        self.facts.marketing_opt_in(person, business)
    }
    fn marketing_opted_out(&self, person: &Address, business: &Address) -> bool {
        self.facts.marketing_opted_out(person, business)
    }
    fn opt_out_of_marketing(&self, person: &Address, business: &Address) {
        self.facts.opt_out_of_marketing(person, business)
    }
    fn within_rate(&self, sender: &Address, message_id: &str, now_ms: u64) -> bool {
        self.facts.within_rate(sender, message_id, now_ms)
    }
    fn record_native_id(&self, canonical_id: &str, account: &Address, native_id: &str) {
        self.facts
            .record_native_id(canonical_id, account, native_id)
    }
    fn canonical_id(&self, platform: &str, native_id: &str) -> Option<String> {
        self.count("canonical_id");
        self.facts.canonical_id(platform, native_id)
    }
    fn native_id(&self, canonical_id: &str, account: &Address) -> Option<String> {
        self.count("native_id");
        self.facts.native_id(canonical_id, account)
    }
    fn cross_post_origin(&self, platform: &str, native_id: &str) -> Option<StoryOrigin> {
        self.count("cross_post_origin");
        self.facts.cross_post_origin(platform, native_id)
    }
    fn story_author(&self, account: &Address) -> Option<Address> {
        self.count("story_author");
        self.facts.story_author(account)
    }
}

/// An address.
pub fn addr(platform: &str, id: &str) -> Address {
    Address {
        platform: platform.to_string(),
        id: id.to_string(),
    }
}

/// A personal text message event.
pub fn text_event(body: &str) -> Event {
    Event::Message(Message {
        content: Content::Text(FormattedText {
            body: body.to_string(),
            spans: Vec::new(),
        }),
        reply_to: None,
        forwarded: None,
        story: None,
        category: MessageCategory::Personal,
    })
}

/// An envelope of `event` from `sender` to the relay's `endpoint` on the
/// sender's app: canonical id `<platform>:<native id>`, a direct thread on the
/// sender's side, the sender's phone number, name and username attached.
pub fn envelope_to(sender: &Address, endpoint: &str, native_id: &str, event: Event) -> Envelope {
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
        recipient: addr(&sender.platform, endpoint),
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

/// The text of a text message (or a media caption, or an interactive body);
/// fails the test for anything else.
pub fn text_of(event: &Event) -> &FormattedText {
    match event {
        Event::Message(message) => match &message.content {
            Content::Text(text) => text,
            Content::Media(media) => media.caption.as_ref().expect("a caption"),
            Content::Interactive(interactive) => &interactive.body,
            other => panic!("no text in {other:?}"),
        },
        Event::Edit(edit) => match &edit.content {
            Content::Text(text) => text,
            other => panic!("no text in {other:?}"),
        },
        other => panic!("not a message: {other:?}"),
    }
}

/// The text after the writer's label line.
pub fn unlabelled(event: &Event) -> String {
    let body = &text_of(event).body;
    body.split_once('\n')
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| panic!("no label line in {body:?}"))
}

/// Alice on WhatsApp and Bob on Messenger, both consenting to cross-app
/// messaging, in a direct conversation; answers (directory, alice, bob, the
/// conversation).
pub fn alice_and_bob() -> (TestDirectory, Address, Address, ConversationRecord) {
    let directory = TestDirectory::default();
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("messenger", "2345678901");
    directory.consenting(&[&alice, &bob]);
    let conversation = directory.conversation(ConversationKind::Direct, &[&alice, &bob]);
    (directory, alice, bob, conversation)
}
