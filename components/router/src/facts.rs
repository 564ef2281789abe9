//! The directory operations that policy and routing decide on.
//!
//! One method per function of the `directory` interface.

use crate::{ConsentScope, LinkedAccount, StoryOrigin};
use switchboard_pdk::types::Address;

/// What policy and routing read from (and record in) the directory.
///
/// The component implements it by calling the imported `directory` interface;
/// tests implement it over the `directory` crate's key-value logic.
pub trait Facts {
    /// The accounts linked to `account`: the other members of its link, each
    /// with the link's pseudonymous handle on that member's app.
    fn linked_accounts(&self, account: &Address) -> Vec<LinkedAccount>;

    /// The account whose pseudonymous handle on `platform` is `handle`.
    fn resolve_handle(&self, platform: &str, handle: &str) -> Option<Address>;

    /// Whether `account` consented to `scope` and has not withdrawn it.
    fn has_consent(&self, account: &Address, scope: ConsentScope) -> bool;

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

    /// Records the native id a canonical message has on `platform`.
    fn record_native_id(&self, canonical_id: &str, platform: &str, native_id: &str);

    /// The canonical id of the message known as `native_id` on `platform`.
    fn canonical_id(&self, platform: &str, native_id: &str) -> Option<String>;

    /// The native id of a canonical message on `platform`.
    fn native_id(&self, canonical_id: &str, platform: &str) -> Option<String>;

    /// The original of the story the cross-poster published as `native_id`,
    /// `platform` being the app its replies arrive on.
    fn cross_post_origin(&self, platform: &str, native_id: &str) -> Option<StoryOrigin>;

    /// The author's account on their stories' original app, for an account
    /// the cross-poster publishes to.
    fn story_author(&self, account: &Address) -> Option<Address>;
}
