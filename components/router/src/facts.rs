//! The directory operations that policy and routing decide on.
//!
//! One method per function of the `directory` interface.

use crate::{
    AnswerOutcome, ConsentScope, ConversationRecord, ConversationRequest, EndpointConversations,
    MessageOrigin, StoryOrigin,
};
use switchboard_pdk::types::Address;

/// What policy and routing read from (and record in) the directory.
///
/// The component implements it by calling the imported `directory` interface;
/// tests implement it over the `directory` crate's key-value logic.
pub trait Facts {
    /// The conversations `account` is in through `endpoint`.
    fn conversations_at(&self, account: &Address, endpoint: &str) -> EndpointConversations;

    /// Every conversation `account` is in.
    fn conversations_of(&self, account: &Address) -> Vec<String>;

    /// A conversation by id.
    fn conversation(&self, id: &str) -> Option<ConversationRecord>;

    /// Records where a routed message was written.
    fn record_message(&self, canonical_id: &str, origin: &MessageOrigin);

    /// Where a routed message was written.
    fn origin_of(&self, canonical_id: &str) -> Option<MessageOrigin>;

    /// The endpoint `account` talks through on its app: the first of its
    /// conversations', else its app's first.
    fn endpoint_for(&self, account: &Address) -> Option<String>;

    /// Makes a conversation current for `account` at `endpoint`.
    fn set_current(&self, account: &Address, endpoint: &str, conversation_id: &str) -> bool;

    /// `account` leaves a conversation.
    fn leave(&self, conversation_id: &str, account: &Address) -> bool;

    /// `blocker` blocks `blocked`.
    fn block(&self, blocker: &Address, blocked: &Address);

    /// Gives or withdraws a consent from the person's chat.
    fn set_consent(&self, account: &Address, scope: ConsentScope, granted: bool);

    /// The discoverable account a phone number or `@username` finds; `None`
    /// for unknown and not discoverable alike.
    fn discover(&self, query: &str) -> Option<Address>;

    /// Records in the username index that `account` goes by `username`
    /// (when it is discoverable).
    fn remember_username(&self, account: &Address, username: &str);

    /// Makes a requested direct conversation (requester active at
    /// `requester_endpoint`, target invited) and answers its id; `None` when
    /// it may not be made.
    fn request_direct(
        &self,
        requester: &Address,
        requester_endpoint: &str,
        target: &Address,
    ) -> Option<String>;

    /// The request of a conversation, if it was requested.
    fn request_of(&self, conversation_id: &str) -> Option<ConversationRequest>;

    /// Holds a message of the requester until the target answers; false
    /// when it cannot be held.
    fn hold_message(&self, conversation_id: &str, author: &Address, canonical_id: &str) -> bool;

    /// The target accepts a request.
    fn accept_request(&self, conversation_id: &str, target: &Address) -> AnswerOutcome;

    /// The target declines a request.
    fn decline_request(&self, conversation_id: &str, target: &Address) -> AnswerOutcome;

    /// Whether `account` consented to `scope` and has not withdrawn it.
    fn has_consent(&self, account: &Address, scope: ConsentScope) -> bool;

    /// The consent `account` chose for `scope`: `Some(true)` given,
    /// `Some(false)` withdrawn, `None` never chosen.
    fn consent_state(&self, account: &Address, scope: ConsentScope) -> Option<bool>;

    /// From when the operator's sharing policy shares the attribute of the
    /// `share-*` `scope` of `platform`'s people; `None` when none is on.
    fn sharing_effective_at(&self, platform: &str, scope: ConsentScope) -> Option<u64>;

    /// Whether `blocker` blocked `blocked`.
    fn is_blocked(&self, blocker: &Address, blocked: &Address) -> bool;

    /// Whether `person` is opted in to marketing from `business`.
    fn marketing_opt_in(&self, person: &Address, business: &Address) -> bool;

    /// Whether an opt-out of `person` from marketing by `business` is on record
    /// (as opposed to no choice at all).
    fn marketing_opted_out(&self, person: &Address, business: &Address) -> bool;

    /// Records that `person` opted out of marketing from `business`.
    fn opt_out_of_marketing(&self, person: &Address, business: &Address);

    /// Counts one message from `sender`; false once the sender is over the rate.
    fn within_rate(&self, sender: &Address, message_id: &str, now_ms: u64) -> bool;

    /// Records the native id a canonical message has in `account`'s chat.
    fn record_native_id(&self, canonical_id: &str, account: &Address, native_id: &str);

    /// The canonical id of the message known as `native_id` on `platform`.
    fn canonical_id(&self, platform: &str, native_id: &str) -> Option<String>;

    /// The native id of a canonical message in `account`'s chat.
    fn native_id(&self, canonical_id: &str, account: &Address) -> Option<String>;

    /// The original of the story the cross-poster published as `native_id`,
    /// `platform` being the app its replies arrive on.
    fn cross_post_origin(&self, platform: &str, native_id: &str) -> Option<StoryOrigin>;

    /// The author's account on their stories' original app, for an account
    /// the cross-poster publishes to.
    fn story_author(&self, account: &Address) -> Option<Address>;
}
