//! Policy and routing: the `message-router` world (`policy.check` and
//! `router.route`), reading and writing state only through `directory`.
//!
//! The logic is plain Rust over the [`Facts`] trait, so it is tested natively
//! against the `directory` crate's key-value logic; the component implements
//! [`Facts`] by calling the imported `directory` interface and reads the wall
//! clock (for rate windows and sharing policies) from WASI.
//!
//! A *conversation* (direct or group) has members: each an account on one
//! app, talking through one of the relay's *endpoints* on that app (a
//! WhatsApp number, a Page), with an alias and an opaque handle that stand
//! for them in that conversation. "Sender" below is
//! `envelope.sender.address` on app A (the envelope's `platform`), and the
//! endpoint is `envelope.recipient.id`, the relay account it wrote to.
//!
//! # Routing: [`route`]
//!
//! | rule | what happens |
//! |---|---|
//! | `echo` is true | `Ok([])`: our own sends coming back are never routed again (nothing is recorded) |
//! | the event is a message with a native id | `record-native-id(envelope.id, sender, native-id)` first, so later replies, reactions, edits, deletions and receipts naming it map back |
//! | a message with a `username` attribute | `remember-username(sender, name)`: the discovery index for `/new @name` (kept by the directory only for discoverable accounts) |
//! | a bridged chat | on an app whose chats are bridged whole (a Matrix room is a member by its room id), an event from a sender in no conversation at the endpoint, in a chat (`envelope.conversation.id`) that is in one, speaks for that chat: the chat is the sender below, with no identity attributes ([`as_bridged_chat`](route::as_bridged_chat)); policy judges it the same way |
//! | a command (`/help`, `/who`, `/to`, `/leave`, `/block`, `/stop`, `/start`, `/private`, `/public`, `/new`, `/accept`, `/decline`, any other `/word`, or a pick from the `/to` list) | one answer to the sender, through the endpoint it wrote to; never forwarded. `/new` that made a request also notifies its target, and `/accept` its requester, each through their own endpoint (see [`commands`]) |
//! | conversation | among the sender's conversations at the endpoint: when there are several, the one the envelope itself was recorded in (`origin-of(envelope.id)`: an envelope held with a request and queued again when it was accepted), else the one of the message it quotes or acts on (`reply-to`, a reaction's, edit's, deletion's or receipt's target, through `origin-of`), else the sender's current one there; the sender must be an active member; none → `no-conversation(sender)` |
//! | a direct conversation with an *invited* member (a request not yet accepted) | `Ok([])`: nothing reaches the invited member; a message is held with the request (`hold-message`, at most 20; not held once the request is declined or expired), and `/accept` queues it again for the pipeline |
//! | a business API envelope (addressed to an account on another app) | the direct conversation of the business and that account, to that account only |
//! | targets | every other *active* member (invited and departed members get nothing), each on their app through their own endpoint (the delivery's `endpoint`); a receipt naming routed messages goes only to their authors |
//! | the message is recorded | `record-message(envelope.id, {conversation, author})`: how a quote-reply finds its conversation |
//! | sender | `{B, handle}`: the sender's handle in this conversation |
//! | who wrote it | a bold line before the text (and media captions, interactive bodies; the caption of uncaptioned media): the sender's profile name with their app (`Bob · Messenger`) when it may cross (the sharing rule below, for `share-display-name`), else their alias (`Amber Fox · Messenger`) |
//! | sender attributes | phone number, display name, username kept only when they may cross (the sharing rule below, for `share-phone-number`, `share-display-name`, `share-username`); otherwise dropped |
//!
//! ## Sharing an identity attribute
//!
//! Judged at `now` (the wall clock, read from WASI; [`identity::shares`]),
//! for the sender and the `share-*` scope of the attribute:
//!
//! | `consent-state(sender, scope)` | `sharing-effective-at(sender's app, scope)` | crosses |
//! |---|---|---|
//! | `some(true)`: the sender consented (`/public`, the admin API) | any | yes |
//! | `some(false)`: the sender withdrew or opted out (`/private`, the admin API), before, during or after a notice window | any | no |
//! | `none` | `some(t)`, `now` ≥ `t`: the operator's policy, its notice window over | yes |
//! | `none` | `some(t)`, `now` < `t`: still in the notice window | no |
//! | `none` | `none`: no policy, or it was turned off (at once) | no |
//!
//! An opt-out is a consent record like any other, so it applies to the next
//! message routed after it.
//! | recipient | the member's account (also the delivery's `recipient`) |
//! | conversation | `{kind, id}` of the Switchboard conversation (never A's thread id) |
//! | `native-id` | cleared: A's native id never reaches B (`id` stays the canonical id, the idempotency key) |
//! | message references | A native id → `canonical-id(A, id)` → `native-id(canonical, recipient)`: the recipient's own copy |
//! | unmappable reaction, edit, deletion or receipt target | `unknown-message({native-id, deliverable})`: the deliveries to the members where every reference maps, for the host to send once it stops waiting for the rest |
//! | unmappable reply-to | the reply reference is dropped; the message still goes |
//! | story reference | the story id is mapped like a message id or dropped; the URL (A's CDN) is dropped |
//! | mentions in text, captions, interactive bodies | a member (by account or handle) on B → their account; any other member → their handle on B; an address on B is kept; otherwise the mention span is dropped (the text stays) |
//! | extras | dropped when their translator declared them `personal` (they may identify someone); the others kept, as declared: the router reads no app's format |
//! | everything else | kept (timestamps, content, category, forwarded flag, `platform` = A as the app of origin) |
//!
//! ## Stories
//!
//! A message about a story published by the story cross-poster goes to the
//! story's author on the app the story was first posted on, not to the
//! sender's conversations (the replier usually has none):
//!
//! | rule | what happens |
//! |---|---|
//! | a reply whose story id is a cross-post (`cross-post-origin(A, story id)`, the author on another app) | one delivery to the author's account on the original app |
//! | a mention (`story: mention`) of an account the cross-poster publishes to (`story-author(recipient)`, on another app) | one delivery to the author's account on the original app |
//! | sender | `{original app, sb-…}`: a pseudonym derived from the sender's account and the author's app, never their id; attributes only by the sharing rule, as above |
//! | endpoint | `endpoint-for(author)` |
//! | conversation | direct, the sender's pseudonym |
//! | story reference | the original story's id for a reply, none for a mention; A's media URL is dropped |
//! | content, extras | as for any delivery, without the label line; mention spans are dropped |
//! | anything else about stories (a reply to a story that is not a cross-post, a mention of an unknown account) | routed like any message |
//!
//! Policy for such a delivery: the recipient must be the story's author
//! (`no-conversation` otherwise), the author must not have blocked the sender
//! (`blocked`), and the sender must be within the rate (`rate-limited`). No
//! conversation or consent of the sender is needed: a story reply is meant for the
//! author, and nothing of the sender's identity crosses but by the sharing
//! rule (their consent, or a policy they were told of and did not refuse). The
//! author agreed by asking for the cross-post.
//!
//! # Policy: [`check`]
//!
//! Checks run in this order; the first that fails decides. `recipient` is the
//! delivery's recipient and the envelope is the one received (before
//! [`route`] rewrites it).
//!
//! | # | condition | verdict |
//! |---|---|---|
//! | 1 | `recipient` is the sender (the relay answering a command) | `deliver` |
//! | 1a | the envelope is a command (see [`commands::Command::of`]) and `recipient` is someone else: the relay's notice about a request. Only `/new` to the target of a *pending* request from the sender, or `/accept` to the requester of a request the sender (its target) *accepted*, found among the sender's direct conversations that have the recipient as a member (`request-of`) | `deliver`; any other delivery of a command → reject `no-conversation` |
//! | – | the event is a text message whose whole text, trimmed, is `STOP` or `UNSUBSCRIBE` (any case) | `opt-out-of-marketing(person = sender, business = recipient)` is recorded here, whatever the later checks say, so an opt-out is never lost; the message itself goes on through the checks |
//! | 2 | the sender, then the recipient, lacks `cross-app-messaging` consent (never given or withdrawn) | reject `no-consent`, the detail says whose |
//! | 3 | `is-blocked(recipient, sender)` or `is-blocked(sender, recipient)`: in a group, nothing crosses between two members where one blocked the other, either way | reject `blocked` |
//! | 4 | a message of category `marketing` and not `marketing-opt-in(recipient, sender)` | reject `opted-out` when an opt-out is on record ([`Facts::marketing_opted_out`]), else `marketing-without-opt-in`; other categories pass |
//! | 5 | a message, reaction or edit, and `within-rate(sender, envelope id, now)` is false | reject `rate-limited` (receipts, typing and deletions are not counted) |
//! | – | otherwise | `deliver` |
//!
//! Membership is not checked again: [`route`] made the deliveries from the
//! conversation's active members.
//!
//! Rule 1a is judged on the envelope as received (`check` never sees the
//! delivery's rewritten envelope, so it cannot trust a marker such as an id
//! suffix): a command is something a person wrote, and the only thing that
//! lets it reach anyone else is a request on record that names exactly the
//! two of them in the right roles and state. The notices skip checks 2–5 on
//! purpose: `request-direct` already required both consents and no block,
//! and a rate or consent refusal of the notice alone would tell the
//! requester that the person exists (the "not delivered" notice), which
//! `/new` must never do.
//!
//! The rate is counted by `check` when a delivery gets as far as check 5,
//! once per envelope however many apps it goes to (`within-rate` names the
//! envelope, and the directory counts an id it has just counted only once);
//! refused deliveries never use it up.
//!
//! Details are plain words for the sender, name no account id, and are
//! phrases without a final period (the host shows "Not delivered: <detail>.").

#![deny(missing_docs)]

pub mod commands;
pub mod facts;
pub mod identity;
#[cfg(feature = "native-directory")]
pub mod native;
pub mod policy;
pub mod route;

/// The generated bindings of the `message-router` world.
#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "message-router",
        path: "../../wit",
        with: { "switchboard:messaging/types@0.1.0": switchboard_pdk::types },
        additional_derives: [PartialEq],
    });
}

pub use bindings::exports::switchboard::messaging::policy::{Rejection, RejectionReason, Verdict};
pub use bindings::exports::switchboard::messaging::router::{
    Delivery, RouteError, UnmappedReference,
};
pub use bindings::switchboard::messaging::directory::{
    AnswerOutcome, ConsentScope, ConversationRecord, ConversationRequest, EndpointConversations,
    Member, MemberRole, MemberState, MessageOrigin, RequestState, StoryOrigin,
};
pub use facts::Facts;
pub use policy::{check, is_stop_request};
pub use route::{StoryTarget, attributed, route, shared_conversation, story_target};

/// Whether `account` is an active member of `conversation`.
pub fn is_active_member(
    conversation: &ConversationRecord,
    account: &switchboard_pdk::types::Address,
) -> bool {
    conversation
        .members
        .iter()
        .any(|member| member.account == *account && member.state == MemberState::Active)
}

/// The component: [`Facts`] over the imported `directory`, the clock from WASI.
#[cfg(target_arch = "wasm32")]
mod component {
    use super::bindings::exports::switchboard::messaging::{policy, router};
    use super::bindings::switchboard::messaging::directory as imported;
    use super::{
        AnswerOutcome, ConsentScope, ConversationRecord, ConversationRequest, Delivery,
        EndpointConversations, Facts, MessageOrigin, RouteError, StoryOrigin, Verdict,
    };
    use switchboard_pdk::types::{Address, Envelope};

    /// The imported `directory` interface as [`Facts`].
    struct ImportedDirectory;

    impl Facts for ImportedDirectory {
        fn conversations_at(&self, account: &Address, endpoint: &str) -> EndpointConversations {
            imported::conversations_at(account, endpoint)
        }
        fn conversations_of(&self, account: &Address) -> Vec<String> {
            imported::conversations_of(account)
        }
        fn conversation(&self, id: &str) -> Option<ConversationRecord> {
            imported::conversation(id)
        }
        fn record_message(&self, canonical_id: &str, origin: &MessageOrigin) {
            imported::record_message(canonical_id, origin)
        }
        fn origin_of(&self, canonical_id: &str) -> Option<MessageOrigin> {
            imported::origin_of(canonical_id)
        }
        fn endpoint_for(&self, account: &Address) -> Option<String> {
            imported::endpoint_for(account)
        }
        fn set_current(&self, account: &Address, endpoint: &str, conversation_id: &str) -> bool {
            imported::set_current(account, endpoint, conversation_id)
        }
        fn leave(&self, conversation_id: &str, account: &Address) -> bool {
            imported::leave(conversation_id, account)
        }
        fn block(&self, blocker: &Address, blocked: &Address) {
            imported::block(blocker, blocked)
        }
        fn set_consent(&self, account: &Address, scope: ConsentScope, granted: bool) {
            imported::set_consent(account, scope, granted)
        }
        fn discover(&self, query: &str) -> Option<Address> {
            imported::discover(query)
        }
        fn remember_username(&self, account: &Address, username: &str) {
            imported::remember_username(account, username)
        }
        fn request_direct(
            &self,
            requester: &Address,
            requester_endpoint: &str,
            target: &Address,
        ) -> Option<String> {
            imported::request_direct(requester, requester_endpoint, target)
        }
        fn request_of(&self, conversation_id: &str) -> Option<ConversationRequest> {
            imported::request_of(conversation_id)
        }
        fn hold_message(
            &self,
            conversation_id: &str,
            author: &Address,
            canonical_id: &str,
        ) -> bool {
            imported::hold_message(conversation_id, author, canonical_id)
        }
        fn accept_request(&self, conversation_id: &str, target: &Address) -> AnswerOutcome {
            imported::accept_request(conversation_id, target)
        }
        fn decline_request(&self, conversation_id: &str, target: &Address) -> AnswerOutcome {
            imported::decline_request(conversation_id, target)
        }
        fn has_consent(&self, account: &Address, scope: ConsentScope) -> bool {
            imported::has_consent(account, scope)
        }
        fn consent_state(&self, account: &Address, scope: ConsentScope) -> Option<bool> {
            imported::consent_state(account, scope)
        }
        fn sharing_effective_at(&self, platform: &str, scope: ConsentScope) -> Option<u64> {
            imported::sharing_effective_at(platform, scope)
        }
        fn is_blocked(&self, blocker: &Address, blocked: &Address) -> bool {
            imported::is_blocked(blocker, blocked)
        }
        fn marketing_opt_in(&self, person: &Address, business: &Address) -> bool {
            imported::marketing_opt_in(person, business)
        }
        fn marketing_opted_out(&self, person: &Address, business: &Address) -> bool {
            imported::marketing_opted_out(person, business)
        }
        fn opt_out_of_marketing(&self, person: &Address, business: &Address) {
            imported::opt_out_of_marketing(person, business)
        }
        fn within_rate(&self, sender: &Address, message_id: &str, now_ms: u64) -> bool {
            imported::within_rate(sender, message_id, now_ms)
        }
        fn record_native_id(&self, canonical_id: &str, account: &Address, native_id: &str) {
            imported::record_native_id(canonical_id, account, native_id)
        }
        fn canonical_id(&self, platform: &str, native_id: &str) -> Option<String> {
            imported::canonical_id(platform, native_id)
        }
        fn native_id(&self, canonical_id: &str, account: &Address) -> Option<String> {
            imported::native_id(canonical_id, account)
        }
        fn cross_post_origin(&self, platform: &str, native_id: &str) -> Option<StoryOrigin> {
            imported::cross_post_origin(platform, native_id)
        }
        fn story_author(&self, account: &Address) -> Option<Address> {
            imported::story_author(account)
        }
    }

    /// Milliseconds since the Unix epoch from the WASI wall clock.
    fn now_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default()
    }

    struct Component;

    impl policy::Guest for Component {
        fn check(envelope: Envelope, recipient: Address) -> Verdict {
            super::check(&ImportedDirectory, &envelope, &recipient, now_ms())
        }
    }

    impl router::Guest for Component {
        fn route(envelope: Envelope) -> Result<Vec<Delivery>, RouteError> {
            super::route(&ImportedDirectory, &envelope, now_ms())
        }
    }

    super::bindings::export!(Component with_types_in super::bindings);
}
