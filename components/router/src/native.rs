//! The router's [`Facts`] over the `directory` crate's logic, for running
//! policy and routing natively (the native benchmark, tests): what the
//! composition of the router and directory components does, as plain calls.

use crate::{
    AnswerOutcome, ConsentScope, ConversationRecord, ConversationRequest, EndpointConversations,
    Facts, Member, MemberRole, MemberState, MessageOrigin, RequestState, StoryOrigin,
};
use directory::{Directory, KeyValue};
use directory_schema::Account;
use switchboard_pdk::types::{Address, ConversationKind};

/// A directory as the router's facts; `now_ms` stamps the changes that
/// commands make (the component reads the wall clock instead).
pub struct DirectoryFacts<S> {
    /// The directory.
    pub directory: Directory<S>,
    /// The clock for changes made by commands.
    pub now_ms: fn() -> u64,
}

fn account(address: &Address) -> Account {
    Account {
        platform: address.platform.clone(),
        id: address.id.clone(),
    }
}

fn address(account: Account) -> Address {
    Address {
        platform: account.platform,
        id: account.id,
    }
}

/// The directory's consent scope for the router's.
pub fn scope(scope: ConsentScope) -> directory_schema::ConsentScope {
    use directory_schema::ConsentScope as Scope;
    match scope {
        ConsentScope::CrossAppMessaging => Scope::CrossAppMessaging,
        ConsentScope::SharePhoneNumber => Scope::SharePhoneNumber,
        ConsentScope::ShareDisplayName => Scope::ShareDisplayName,
        ConsentScope::ShareUsername => Scope::ShareUsername,
        ConsentScope::PublishKeys => Scope::PublishKeys,
        ConsentScope::Discoverable => Scope::Discoverable,
    }
}

/// A stored request as the router reads it.
pub fn request(record: directory_schema::RequestRecord) -> ConversationRequest {
    ConversationRequest {
        requester: address(record.requester),
        target: address(record.target),
        created_at_ms: record.created_at_ms,
        state: match record.state {
            directory_schema::RequestState::Pending => RequestState::Pending,
            directory_schema::RequestState::Accepted => RequestState::Accepted,
            directory_schema::RequestState::Declined => RequestState::Declined,
        },
        held: u32::try_from(record.held.len()).unwrap_or(u32::MAX),
    }
}

/// The directory's answer outcome as the router reads it.
pub fn outcome(outcome: directory::AnswerOutcome) -> AnswerOutcome {
    match outcome {
        directory::AnswerOutcome::Done => AnswerOutcome::Done,
        directory::AnswerOutcome::Expired => AnswerOutcome::Expired,
        directory::AnswerOutcome::NoRequest => AnswerOutcome::NoRequest,
    }
}

/// A stored conversation as the router reads it.
pub fn conversation(record: directory_schema::ConversationRecord) -> ConversationRecord {
    ConversationRecord {
        id: record.id,
        kind: match record.kind {
            directory_schema::ConversationKind::Direct => ConversationKind::Direct,
            directory_schema::ConversationKind::Group => ConversationKind::Group,
        },
        title: record.title,
        created_at_ms: record.created_at_ms,
        members: record
            .members
            .into_iter()
            .map(|member| Member {
                account: address(member.account),
                endpoint: member.endpoint,
                role: match member.role {
                    directory_schema::MemberRole::Person => MemberRole::Person,
                    directory_schema::MemberRole::Business => MemberRole::Business,
                    directory_schema::MemberRole::Bot => MemberRole::Bot,
                },
                state: match member.state {
                    directory_schema::MemberState::Invited => MemberState::Invited,
                    directory_schema::MemberState::Active => MemberState::Active,
                    directory_schema::MemberState::Left => MemberState::Left,
                },
                alias: member.alias,
                handle: member.handle,
            })
            .collect(),
    }
}

impl<S: KeyValue> Facts for DirectoryFacts<S> {
    fn conversations_at(&self, of: &Address, endpoint: &str) -> EndpointConversations {
        let slot = self.directory.conversations_at(&account(of), endpoint);
        EndpointConversations {
            current: slot.current,
            conversations: slot.conversations,
        }
    }
    fn conversations_of(&self, of: &Address) -> Vec<String> {
        self.directory.conversations_of(&account(of))
    }
    fn conversation(&self, id: &str) -> Option<ConversationRecord> {
        self.directory.conversation(id).map(conversation)
    }
    fn record_message(&self, canonical_id: &str, origin: &MessageOrigin) {
        self.directory.record_message(
            canonical_id,
            &directory_schema::MessageOrigin {
                conversation_id: origin.conversation_id.clone(),
                author: account(&origin.author),
            },
        )
    }
    fn origin_of(&self, canonical_id: &str) -> Option<MessageOrigin> {
        self.directory
            .origin_of(canonical_id)
            .map(|origin| MessageOrigin {
                conversation_id: origin.conversation_id,
                author: address(origin.author),
            })
    }
    fn endpoint_for(&self, of: &Address) -> Option<String> {
        self.directory.endpoint_for(&account(of))
    }
    fn set_current(&self, of: &Address, endpoint: &str, conversation_id: &str) -> bool {
        self.directory
            .set_current(&account(of), endpoint, conversation_id)
    }
    fn leave(&self, conversation_id: &str, of: &Address) -> bool {
        self.directory
            .leave(conversation_id, &account(of), (self.now_ms)())
    }
    fn block(&self, blocker: &Address, blocked: &Address) {
        self.directory
            .block(&account(blocker), &account(blocked), (self.now_ms)())
    }
    fn set_consent(&self, of: &Address, consent: ConsentScope, granted: bool) {
        self.directory
            .set_consent(&account(of), scope(consent), granted, (self.now_ms)())
    }
    fn discover(&self, query: &str) -> Option<Address> {
        self.directory.discover(query).map(address)
    }
    fn remember_username(&self, of: &Address, username: &str) {
        self.directory.remember_username(&account(of), username)
    }
    fn request_direct(
        &self,
        requester: &Address,
        requester_endpoint: &str,
        target: &Address,
    ) -> Option<String> {
        self.directory.request_direct(
            &account(requester),
            requester_endpoint,
            &account(target),
            (self.now_ms)(),
        )
    }
    fn request_of(&self, conversation_id: &str) -> Option<ConversationRequest> {
        self.directory
            .request_of(conversation_id, (self.now_ms)())
            .map(request)
    }
    fn hold_message(&self, conversation_id: &str, author: &Address, canonical_id: &str) -> bool {
        self.directory.hold_message(
            conversation_id,
            &account(author),
            canonical_id,
            (self.now_ms)(),
        )
    }
    fn accept_request(&self, conversation_id: &str, target: &Address) -> AnswerOutcome {
        outcome(
            self.directory
                .accept_request(conversation_id, &account(target), (self.now_ms)()),
        )
    }
    fn decline_request(&self, conversation_id: &str, target: &Address) -> AnswerOutcome {
        outcome(
            self.directory
                .decline_request(conversation_id, &account(target), (self.now_ms)()),
        )
    }
    fn has_consent(&self, of: &Address, consent: ConsentScope) -> bool {
        self.directory.has_consent(&account(of), scope(consent))
    }
    fn consent_state(&self, of: &Address, consent: ConsentScope) -> Option<bool> {
        self.directory.consent_state(&account(of), scope(consent))
    }
    fn sharing_effective_at(&self, platform: &str, consent: ConsentScope) -> Option<u64> {
        self.directory
            .sharing_effective_at(platform, scope(consent))
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
            .opt_out_of_marketing(&account(person), &account(business), (self.now_ms)())
    }
    fn within_rate(&self, sender: &Address, message_id: &str, now_ms: u64) -> bool {
        self.directory
            .within_rate(&account(sender), message_id, now_ms)
    }
    fn record_native_id(&self, canonical_id: &str, of: &Address, native_id: &str) {
        self.directory
            .record_native_id(canonical_id, &account(of), native_id)
    }
    fn canonical_id(&self, platform: &str, native_id: &str) -> Option<String> {
        self.directory.canonical_id(platform, native_id)
    }
    fn native_id(&self, canonical_id: &str, of: &Address) -> Option<String> {
        self.directory.native_id(canonical_id, &account(of))
    }
    fn cross_post_origin(&self, platform: &str, native_id: &str) -> Option<StoryOrigin> {
        self.directory
            .cross_post_origin(platform, native_id)
            .map(|origin| StoryOrigin {
                story_id: origin.story_id,
                author: address(origin.author),
            })
    }
    fn story_author(&self, of: &Address) -> Option<Address> {
        self.directory.story_author(&account(of)).map(address)
    }
}
