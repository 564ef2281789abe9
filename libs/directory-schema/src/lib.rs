//! The directory's state in the key-value store: one place that says which key
//! holds what, so the admin API that writes it and the policy and routing that
//! read it cannot drift apart.
//!
//! | key | value |
//! |---|---|
//! | `conversation:<id>` | [`ConversationRecord`]: kind, title and members (account, endpoint, role, state, alias, handle) |
//! | `membership:<platform>:<id>` | [`Membership`]: per endpoint, the conversations the account is in there and its current one |
//! | `message:<canonical id>` | [`MessageOrigin`]: the conversation a routed message was written in, and its author |
//! | `consent:<platform>:<id>:<scope>` | [`ConsentRecord`] |
//! | `block:<platform>:<id>:<platform>:<id>` | [`BlockRecord`] (blocker first) |
//! | `marketing:<platform>:<id>:<platform>:<id>` | [`OptInRecord`] (person first, then business) |
//! | `audit:next` | the sequence number the next audit record probably gets (decimal): where an append starts looking for a free slot |
//! | `audit:<sequence, 12 digits>` | [`AuditRecord`] number `sequence` (from 1), append-only; read a page at a time by sequence |
//! | `conversation-sequence` | how many conversations the admin API made (decimal): part of each new conversation id's seed |
//! | `native:<platform>:<native id>` | the canonical message id (UTF-8) |
//! | `canonical:<canonical id>:<platform>:<id>` | the native id it got in that account's chat (UTF-8) |
//! | `rate:<platform>:<id>:<minute>` | how many messages the account sent in that minute since the epoch (decimal) |
//! | `inbox:<canonical id>` | an envelope the gateway accepted and the pipeline has not routed yet (JSON) |
//! | `envelope:<canonical id>` | every envelope ever accepted, so a webhook delivered twice is stored once (JSON) |
//! | `keys:<platform>:<id>` | the identity key and signed prekey the account published in the key directory (JSON, the host's `keydir` module) |
//! | `prekey:<platform>:<id>:<public key, hex>` | one of the account's one-time prekeys, removed when handed out |
//! | `story:<platform>:<story id>` | a story the cross-poster accepted: the story, the author's choice and the plan (JSON, written by the host) |
//! | `storypost:<platform>:<story id>:<target platform>:<segment>` | the native id a cross-post got on the target (UTF-8): what deleting the original deletes |
//! | `storyorigin:<platform>:<native id>` | [`StoryOrigin`]: the original of a cross-post known on `platform` by `native id`, so a reply to it reaches the author |
//! | `storyauthor:<platform>:<id>` | the [`Account`] on the stories' original app of the author who cross-posts to this account, so a mention of it reaches them |
//! | `request:<conversation id>` | [`RequestRecord`]: a direct conversation asked for with `/new` (requester, target, when, pending / accepted / declined) and the canonical ids of the requester's messages held until the target accepts |
//! | `sharing:<platform>:<attribute>` | [`SharingPolicy`]: the operator's choice to show an identity attribute (`display-name`, `phone-number`, `username`) of that app's people on other apps by default, and from when (after the notice window) |
//! | `announce:<platform>:<attribute>:<announced at, 13 digits>` | [`Announcement`]: a sharing policy whose notice the host is still sending to that app's people, with its cursor |
//! | `username:<lower-cased username, without @>` | the [`Account`] that last said (in a message's username attribute) it has that username while it had `discoverable` consent: how `/new @name` finds it; the consent is checked again on every lookup |
//!
//! Values are JSON. Platform names are lower-case ASCII; an account id is used
//! verbatim except that `%` and `:` are escaped (`%25`, `%3A`), so that a
//! Matrix id (`@alice:example.org`) cannot make two accounts' keys collide.

#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

/// An account on one app, as the directory stores it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Account {
    /// The app (`whatsapp`, `messenger`, `instagram`…).
    pub platform: String,
    /// The platform-scoped id.
    pub id: String,
}

impl Account {
    /// Refuses accounts whose parts would break the key layout.
    pub fn validate(&self) -> Result<(), String> {
        let platform_ok = !self.platform.is_empty()
            && self
                .platform
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
        if !platform_ok {
            return Err(format!(
                "platform {:?} must be lower-case letters, digits and '-'",
                self.platform
            ));
        }
        if self.id.is_empty() || self.id.len() > 255 || self.id.chars().any(char::is_whitespace) {
            return Err(format!(
                "account id {:?} must be 1 to 255 bytes, without white space",
                self.id
            ));
        }
        Ok(())
    }

    /// `<platform>:<id>` with `%` and `:` in the id escaped: the account's
    /// part of every key.
    pub fn key_part(&self) -> String {
        let id = self.id.replace('%', "%25").replace(':', "%3A");
        format!("{}:{id}", self.platform)
    }
}

/// What consent can be given for (the `directory` interface's `consent-scope`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentScope {
    /// Messages may cross between this account and the members of its
    /// conversations on other apps.
    CrossAppMessaging,
    /// The phone number may be shown on other apps.
    SharePhoneNumber,
    /// The profile name may be shown on other apps.
    ShareDisplayName,
    /// The username may be shown on other apps.
    ShareUsername,
    /// Public keys may be handed to the members of its conversations.
    PublishKeys,
    /// The account may be found by its phone number or username.
    Discoverable,
}

impl ConsentScope {
    /// The scope's name in keys and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentScope::CrossAppMessaging => "cross-app-messaging",
            ConsentScope::SharePhoneNumber => "share-phone-number",
            ConsentScope::ShareDisplayName => "share-display-name",
            ConsentScope::ShareUsername => "share-username",
            ConsentScope::PublishKeys => "publish-keys",
            ConsentScope::Discoverable => "discoverable",
        }
    }
}

/// An identity attribute an operator may share by default for an app
/// (`POST /admin/sharing`): each is also a consent scope a person can give
/// or withdraw themself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SharedAttribute {
    /// The profile name.
    DisplayName,
    /// The phone number.
    PhoneNumber,
    /// The username.
    Username,
}

impl SharedAttribute {
    /// Every attribute, in key order.
    pub const ALL: [SharedAttribute; 3] = [
        SharedAttribute::DisplayName,
        SharedAttribute::PhoneNumber,
        SharedAttribute::Username,
    ];

    /// The attribute's name in keys and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SharedAttribute::DisplayName => "display-name",
            SharedAttribute::PhoneNumber => "phone-number",
            SharedAttribute::Username => "username",
        }
    }

    /// The consent scope a person gives or withdraws for it.
    pub fn scope(self) -> ConsentScope {
        match self {
            SharedAttribute::DisplayName => ConsentScope::ShareDisplayName,
            SharedAttribute::PhoneNumber => ConsentScope::SharePhoneNumber,
            SharedAttribute::Username => ConsentScope::ShareUsername,
        }
    }

    /// The attribute a `share-*` consent scope is about; `None` for the
    /// other scopes.
    pub fn of_scope(scope: ConsentScope) -> Option<SharedAttribute> {
        match scope {
            ConsentScope::ShareDisplayName => Some(SharedAttribute::DisplayName),
            ConsentScope::SharePhoneNumber => Some(SharedAttribute::PhoneNumber),
            ConsentScope::ShareUsername => Some(SharedAttribute::Username),
            _ => None,
        }
    }

    /// How a notice names it to a person ("your profile name").
    pub fn in_words(self) -> &'static str {
        match self {
            SharedAttribute::DisplayName => "profile name",
            SharedAttribute::PhoneNumber => "phone number",
            SharedAttribute::Username => "username",
        }
    }
}

/// `sharing:<platform>:<attribute>`: the operator's sharing policy for one
/// identity attribute of one app's people.
///
/// While `enabled`, from `effective_at_ms` on, the attribute of a person on
/// that app crosses to other apps unless the person has an explicit consent
/// record for its scope (any explicit record, given or withdrawn, wins over
/// the policy). Before then it is announced: each person is told, and may
/// opt out (`/private`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharingPolicy {
    /// Whether the attribute is shared by default.
    pub enabled: bool,
    /// When it was turned on (or off), ms since the epoch.
    pub announced_at_ms: u64,
    /// From when it applies: `announced_at_ms` plus the notice window when
    /// turned on; the moment it was turned off otherwise.
    pub effective_at_ms: u64,
}

/// The notice window before a sharing policy applies, unless configured
/// otherwise (`sharing_notice_ms`): 30 days.
pub const DEFAULT_SHARING_NOTICE_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// Prefix of every sharing policy.
pub const SHARING_PREFIX: &str = "sharing:";

/// Key of the [`SharingPolicy`] for `attribute` of `platform`'s people.
pub fn sharing_key(platform: &str, attribute: SharedAttribute) -> String {
    format!("{SHARING_PREFIX}{platform}:{}", attribute.as_str())
}

/// `announce:<platform>:<attribute>:<announced at>`: a sharing policy whose
/// notice the host is still sending, one person at a time, in the order of
/// their `membership:` keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The app whose people are told.
    pub platform: String,
    /// What will be shown.
    pub attribute: SharedAttribute,
    /// When the policy was turned on: which policy this is.
    pub announced_at_ms: u64,
    /// From when it applies: the date the notice gives.
    pub effective_at_ms: u64,
    /// The `membership:` key of the last account told (committed with the
    /// notices it queued): where a restart resumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// How many people were told so far.
    #[serde(default)]
    pub told: u64,
}

/// Prefix of every announcement.
pub const ANNOUNCE_PREFIX: &str = "announce:";

/// Key of the [`Announcement`] of a policy turned on at `announced_at_ms`
/// (13 digits, so the oldest is first).
pub fn announcement_key(
    platform: &str,
    attribute: SharedAttribute,
    announced_at_ms: u64,
) -> String {
    format!(
        "{ANNOUNCE_PREFIX}{platform}:{}:{announced_at_ms:013}",
        attribute.as_str()
    )
}

/// Prefix of every account's [`Membership`].
pub const MEMBERSHIP_PREFIX: &str = "membership:";

/// Prefix of the [`Membership`]s of `platform`'s accounts.
pub fn membership_prefix(platform: &str) -> String {
    format!("{MEMBERSHIP_PREFIX}{platform}:")
}

/// Whether a conversation has two parties or more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConversationKind {
    /// Two members.
    Direct,
    /// Up to the configured maximum of members.
    Group,
}

/// What a member is in a conversation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberRole {
    /// A person writing for themself.
    #[default]
    Person,
    /// A business.
    Business,
    /// An automated participant.
    Bot,
}

/// Where a member stands in a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberState {
    /// Asked to join, has not accepted: receives nothing.
    Invited,
    /// Sends and receives.
    Active,
    /// Left or removed: receives nothing.
    Left,
}

/// One member of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's account on their app.
    pub account: Account,
    /// The relay's account on that app the member talks through here.
    pub endpoint: String,
    /// Person, business or bot.
    pub role: MemberRole,
    /// Invited, active or left.
    pub state: MemberState,
    /// The pseudonym shown for the member in this conversation, unique in it.
    pub alias: String,
    /// The opaque id (`sb-…`) that stands for the member's address on other
    /// apps in this conversation.
    pub handle: String,
    /// When the member joined (or was asked to), ms since the epoch.
    pub joined_at_ms: u64,
}

/// `conversation:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationRecord {
    /// The conversation's id.
    pub id: String,
    /// Direct or group.
    pub kind: ConversationKind,
    /// A title, for groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// When it was made, ms since the epoch.
    pub created_at_ms: u64,
    /// Every member, those who left included (their alias stays taken).
    pub members: Vec<Member>,
}

impl ConversationRecord {
    /// The member record of `account`, whatever its state.
    pub fn member(&self, account: &Account) -> Option<&Member> {
        self.members
            .iter()
            .find(|member| member.account == *account)
    }

    /// The members that send and receive.
    pub fn active_members(&self) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(|member| member.state == MemberState::Active)
    }

    /// Whether `account` is an active member.
    pub fn is_active_member(&self, account: &Account) -> bool {
        self.member(account)
            .is_some_and(|member| member.state == MemberState::Active)
    }
}

/// The conversations an account is in through one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointConversations {
    /// Where an unquoted message goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Every conversation (invited or active) at the endpoint, oldest first.
    pub conversations: Vec<String>,
}

/// `membership:<platform>:<id>`: an account's conversations, by endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Endpoint → the conversations there.
    pub endpoints: std::collections::BTreeMap<String, EndpointConversations>,
}

/// `message:<canonical id>`: where a routed message was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageOrigin {
    /// The conversation.
    pub conversation_id: String,
    /// Who wrote it.
    pub author: Account,
}

/// `consent:<account>:<scope>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// True when given, false when withdrawn.
    pub granted: bool,
    /// When it was last changed, ms since the epoch.
    pub at_ms: u64,
}

/// `block:<blocker>:<blocked>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// When the block was made, ms since the epoch.
    pub at_ms: u64,
}

/// A person's marketing choice for one business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptInState {
    /// Marketing messages allowed.
    OptedIn,
    /// Marketing messages refused (an explicit opt-out, or STOP).
    OptedOut,
}

/// `marketing:<person>:<business>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptInRecord {
    /// The choice.
    pub state: OptInState,
    /// When it was made, ms since the epoch.
    pub at_ms: u64,
}

/// One change to the directory, as recorded in the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// Who made it: the admin token's configured name, or for a change made
    /// from a chat, `<platform>:<account id> in chat`.
    pub actor: String,
    /// What was done (`conversation`, `member-added`, `member-left`,
    /// `consent`, `block`, `unblock`, `marketing`, `current`, `sharing`,
    /// and from a chat `request`, `request-accepted`, `request-declined`,
    /// `request-expired`; a business `STOP` is `marketing`).
    pub action: String,
    /// The request's details.
    pub details: serde_json::Value,
}

/// `storyorigin:<platform>:<native id>`: where a cross-posted story came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoryOrigin {
    /// The original story's id on the author's app.
    pub story_id: String,
    /// The author's account on the app the story was first posted on, as
    /// the pipeline messages it.
    pub author: Account,
}

/// Where a request for a direct conversation (`/new`) stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    /// Waiting for the target's `/accept` or `/decline` (or expiry).
    Pending,
    /// Accepted: the held messages were sent on.
    Accepted,
    /// Declined, or found expired: nothing of it crossed.
    Declined,
}

/// `request:<conversation id>`: a direct conversation asked for from a chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Who asked (an active member of the conversation).
    pub requester: Account,
    /// Who was asked (an invited member until they answer).
    pub target: Account,
    /// When it was asked, ms since the epoch: what expiry counts from.
    pub created_at_ms: u64,
    /// Pending, accepted or declined.
    pub state: RequestState,
    /// The canonical ids of the requester's messages held until the target
    /// accepts (at most [`MAX_HELD_MESSAGES`], oldest first); emptied when the
    /// request is answered.
    #[serde(default)]
    pub held: Vec<String>,
}

/// Most messages held with one request; later ones go nowhere.
pub const MAX_HELD_MESSAGES: usize = 20;

/// Days after which an unanswered request counts as declined, unless
/// configured otherwise.
pub const DEFAULT_REQUEST_EXPIRY_DAYS: u64 = 30;

/// Key of the [`RequestRecord`] of conversation `id`.
pub fn request_key(conversation_id: &str) -> String {
    format!("request:{conversation_id}")
}

/// Key of the discovery index entry of a username (`@Name` and `name` are
/// the same key: without the `@`, lower-cased).
pub fn username_key(username: &str) -> String {
    let name = username.trim().trim_start_matches('@').to_lowercase();
    format!("username:{}", name.replace('%', "%25").replace(':', "%3A"))
}

/// Key of a conversation.
pub fn conversation_key(id: &str) -> String {
    format!("conversation:{id}")
}

/// Key of an account's [`Membership`].
pub fn membership_key(account: &Account) -> String {
    format!("{MEMBERSHIP_PREFIX}{}", account.key_part())
}

/// Key of a routed message's [`MessageOrigin`].
pub fn message_key(canonical_id: &str) -> String {
    format!("message:{canonical_id}")
}

/// Key that maps a platform's native message id to the canonical id: how an
/// event on app B naming B's id finds the original.
pub fn native_id_key(platform: &str, native_id: &str) -> String {
    format!("native:{platform}:{native_id}")
}

/// Key of the native id a canonical message got in `account`'s chat.
pub fn canonical_id_key(canonical_id: &str, account: &Account) -> String {
    format!("canonical:{canonical_id}:{}", account.key_part())
}

/// Key of a consent.
pub fn consent_key(account: &Account, scope: ConsentScope) -> String {
    format!("consent:{}:{}", account.key_part(), scope.as_str())
}

/// Key of a block.
pub fn block_key(blocker: &Account, blocked: &Account) -> String {
    format!("block:{}:{}", blocker.key_part(), blocked.key_part())
}

/// Key of a marketing choice.
pub fn marketing_key(person: &Account, business: &Account) -> String {
    format!("marketing:{}:{}", person.key_part(), business.key_part())
}

/// The messages one sender sent in one rate window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateRecord {
    /// How many distinct messages were counted.
    pub count: u32,
    /// The canonical id of the last one counted: asked again about it (for
    /// its next delivery), the directory does not count it twice.
    pub last_message: String,
}

/// Key of the message counter of `sender` in one rate window (minutes since
/// the epoch), a [`RateRecord`].
pub fn rate_key(sender: &Account, window: u64) -> String {
    format!("rate:{}:{window}", sender.key_part())
}

/// Prefix of the envelopes waiting for the pipeline: the durable inbox.
pub const INBOX_PREFIX: &str = "inbox:";

/// Key of an envelope waiting for the pipeline. The gateway writes it; the
/// pipeline removes it in the same transaction that stores the deliveries.
pub fn inbox_key(canonical_id: &str) -> String {
    format!("{INBOX_PREFIX}{canonical_id}")
}

/// Key of an envelope's record: every envelope ever accepted, so a webhook the
/// platform delivers again is recognised.
pub fn envelope_key(canonical_id: &str) -> String {
    format!("envelope:{canonical_id}")
}

/// Prefix of every audit record.
pub const AUDIT_PREFIX: &str = "audit:";

/// Key of the audit log's counter: the sequence number the next record
/// probably gets (decimal). An append starts there and takes the first
/// sequence whose record key is free, so a counter another writer has not
/// moved on yet cannot make it overwrite a record.
pub const AUDIT_NEXT_KEY: &str = "audit:next";

/// Key of audit record number `sequence` (from 1): twelve digits, so keys
/// sort in order, and a page of the log is read by sequence without listing
/// keys.
pub fn audit_record_key(sequence: u64) -> String {
    format!("{AUDIT_PREFIX}{sequence:012}")
}

/// Key of the admin API's conversation counter (decimal), part of the seed
/// of every conversation id it makes.
pub const CONVERSATION_SEQUENCE_KEY: &str = "conversation-sequence";

/// Prefix of every story record.
pub const STORY_PREFIX: &str = "story:";

/// Key of a story the cross-poster accepted, by its original app and id.
pub fn story_key(platform: &str, story_id: &str) -> String {
    format!("{STORY_PREFIX}{platform}:{story_id}")
}

/// Prefix of the cross-posts of one original story.
pub fn story_posts_prefix(platform: &str, story_id: &str) -> String {
    format!("storypost:{platform}:{story_id}:")
}

/// Key of the native id that segment `segment` of a story got on `target`.
pub fn story_post_key(platform: &str, story_id: &str, target: &str, segment: usize) -> String {
    format!(
        "{}{target}:{segment}",
        story_posts_prefix(platform, story_id)
    )
}

/// Key of the [`StoryOrigin`] of the cross-post known as `native_id` on
/// `platform` (the app its replies arrive on).
pub fn story_origin_key(platform: &str, native_id: &str) -> String {
    format!("storyorigin:{platform}:{native_id}")
}

/// Key of the author's original-app account for an account the cross-poster
/// publishes to.
pub fn story_author_key(account: &Account) -> String {
    format!("storyauthor:{}", account.key_part())
}

/// The opaque handle of `account` in conversation `conversation`: stable,
/// unguessable from outside without the conversation id, and free of any
/// phone number or name.
pub fn handle_for(conversation: &str, account: &Account) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(
        format!("switchboard-handle:{conversation}:{}", account.key_part()).as_bytes(),
    );
    let hex: String = digest
        .iter()
        .take(10)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sb-{hex}")
}

/// Key of what an account published in the key directory: its identity key
/// (bound on first publish) and its current signed prekey.
pub fn published_keys_key(account: &Account) -> String {
    format!("keys:{}", account.key_part())
}

/// Prefix of an account's one-time prekeys. The trailing `:` keeps one
/// account's prefix from matching another whose id merely starts the same.
pub fn one_time_prekey_prefix(account: &Account) -> String {
    format!("prekey:{}:", account.key_part())
}

/// Key of one one-time prekey (its public key in hex): a key uploaded twice is
/// stored once.
pub fn one_time_prekey_key(account: &Account, public_key_hex: &str) -> String {
    format!("{}{public_key_hex}", one_time_prekey_prefix(account))
}

/// Key of a webhook body that could not be processed, by the hex SHA-256 of
/// its bytes: kept for inspection (and replay), the reason beside it under
/// [`rejected_error_key`].
pub fn rejected_key(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(body);
    let mut key = String::with_capacity("rejected:".len() + 2 * digest.len());
    key.push_str("rejected:");
    for byte in digest.iter() {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// Key of the record (platform and error) of a body kept under
/// [`rejected_key`].
pub fn rejected_error_key(rejected_key: &str) -> String {
    format!("{rejected_key}:error")
}

/// Key of the insights a platform sent for a story (an original or a
/// cross-post) by its media id.
pub fn story_insights_key(platform: &str, media_id: &str) -> String {
    format!("storyinsights:{platform}:{media_id}")
}

/// Key of the routing outcome of an envelope (the host's pipeline writes it
/// once the envelope is judged): what was queued, what was refused and why.
pub fn status_key(canonical_id: &str) -> String {
    format!("status:{canonical_id}")
}

/// The canonical id of a message a business sent through the business API,
/// from the business's own id for it: `<platform>:api:<client id>`, so it
/// follows the `<platform>:<native id>` rule and cannot collide with a
/// webhook's id.
pub fn api_envelope_id(platform: &str, client_id: &str) -> String {
    format!("{platform}:api:{client_id}")
}

/// Whether a canonical id is one the business API made: its sender learns the
/// outcome from the API's status, not from a notice on an app.
pub fn is_api_envelope(canonical_id: &str) -> bool {
    canonical_id
        .split_once(':')
        .is_some_and(|(_, rest)| rest.starts_with("api:"))
}

/// Prefix of the outbox: deliveries waiting to be sent.
pub const OUTBOX_PREFIX: &str = "outbox:";

/// Key of one delivery in the outbox: one per envelope, platform and
/// recipient, which is also the idempotency key its requests are sent with.
pub fn outbox_key(canonical_id: &str, platform: &str, recipient: &str) -> String {
    format!("{OUTBOX_PREFIX}{canonical_id}:{platform}:{recipient}")
}

/// Prefix of the deliveries parked until their recipient writes again (the
/// apps' 24-hour reply windows): `waiting:<recipient>:<endpoint>:<canonical id>`.
pub const WAITING_PREFIX: &str = "waiting:";

/// An id as one part of a key: `%` and `:` escaped, as in
/// [`Account::key_part`].
fn escaped(id: &str) -> String {
    id.replace('%', "%25").replace(':', "%3A")
}

/// Key of when `account` last wrote to the relay's `endpoint` on its app (a
/// JSON object with `at_ms`): where that account's reply window at that
/// endpoint opened.
pub fn seen_key(account: &Account, endpoint: &str) -> String {
    format!("seen:{}:{}", account.key_part(), escaped(endpoint))
}

/// Prefix of every delivery parked for `recipient` at the relay's
/// `endpoint`; the trailing `:` keeps one endpoint's prefix from matching
/// another whose id merely starts the same.
pub fn waiting_prefix(recipient: &Account, endpoint: &str) -> String {
    format!(
        "{WAITING_PREFIX}{}:{}:",
        recipient.key_part(),
        escaped(endpoint)
    )
}

/// Key of a delivery of envelope `canonical_id` parked for `recipient` at
/// `endpoint` (its outbox entry, moved to the outbox when they write again).
pub fn waiting_key(recipient: &Account, endpoint: &str, canonical_id: &str) -> String {
    format!("{}{canonical_id}", waiting_prefix(recipient, endpoint))
}

/// Where an outbox entry ends: `delivered:…`, `deadletter:…` or `dropped:…`
/// (a story step that must not be sent any more), under the rest of its
/// outbox key.
pub fn ended_key(state: EndedDelivery, outbox_key: &str) -> String {
    let rest = outbox_key.strip_prefix(OUTBOX_PREFIX).unwrap_or(outbox_key);
    let prefix = match state {
        EndedDelivery::Delivered => "delivered:",
        EndedDelivery::DeadLetter => "deadletter:",
        EndedDelivery::Dropped => "dropped:",
    };
    format!("{prefix}{rest}")
}

/// How an outbox entry ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndedDelivery {
    /// Every request was accepted by the platform.
    Delivered,
    /// Given up on: refused by the platform or out of retries.
    DeadLetter,
    /// Must not be sent any more (an expired or deleted story).
    Dropped,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(platform: &str, id: &str) -> Account {
        Account {
            platform: platform.into(),
            id: id.into(),
        }
    }

    #[test]
    fn sharing_keys_and_names() {
        assert_eq!(
            sharing_key("whatsapp", SharedAttribute::DisplayName),
            "sharing:whatsapp:display-name"
        );
        assert_eq!(
            announcement_key("whatsapp", SharedAttribute::PhoneNumber, 1_700_000_000_000),
            "announce:whatsapp:phone-number:1700000000000"
        );
        let alice = account("whatsapp", "16505551234");
        assert!(membership_key(&alice).starts_with(&membership_prefix("whatsapp")));
        assert!(!membership_key(&alice).starts_with(&membership_prefix("whats")));
        for attribute in SharedAttribute::ALL {
            assert_eq!(
                SharedAttribute::of_scope(attribute.scope()),
                Some(attribute)
            );
            let json = serde_json::to_string(&attribute).unwrap();
            assert_eq!(json, format!("\"{}\"", attribute.as_str()));
        }
        assert_eq!(SharedAttribute::of_scope(ConsentScope::Discoverable), None);
    }

    #[test]
    fn window_keys_escape_ids_and_endpoints() {
        let alice = account("whatsapp", "16505551234");
        assert_eq!(
            seen_key(&alice, "106540352242922"),
            "seen:whatsapp:16505551234:106540352242922"
        );
        let matrix = account("matrix", "@bob:example.org");
        assert_eq!(
            waiting_key(&matrix, "@relay:example.org", "whatsapp:wamid.1"),
            "waiting:matrix:@bob%3Aexample.org:@relay%3Aexample.org:whatsapp:wamid.1"
        );
        assert!(waiting_key(&alice, "1065", "x").starts_with(&waiting_prefix(&alice, "1065")),);
        assert!(!waiting_key(&alice, "10650", "x").starts_with(&waiting_prefix(&alice, "1065")));
    }

    #[test]
    fn keys_follow_the_layout() {
        let alice = account("whatsapp", "16505551234");
        let shop = account("messenger", "1029384756");
        assert_eq!(membership_key(&alice), "membership:whatsapp:16505551234");
        let matrix = account("matrix", "@alice:example.org");
        assert_eq!(
            membership_key(&matrix),
            "membership:matrix:@alice%3Aexample.org"
        );
        assert_ne!(
            block_key(&account("matrix", "@a:whatsapp"), &alice),
            block_key(
                &account("matrix", "@a"),
                &account("whatsapp", "whatsapp:16505551234")
            ),
            "escaped ids cannot make two pairs share a key"
        );
        assert_eq!(
            consent_key(&alice, ConsentScope::CrossAppMessaging),
            "consent:whatsapp:16505551234:cross-app-messaging"
        );
        assert_eq!(
            block_key(&alice, &shop),
            "block:whatsapp:16505551234:messenger:1029384756"
        );
        assert_eq!(
            rate_key(&alice, 28_333_333),
            "rate:whatsapp:16505551234:28333333"
        );
        assert_eq!(inbox_key("whatsapp:wamid.1"), "inbox:whatsapp:wamid.1");
        assert_eq!(
            envelope_key("whatsapp:wamid.1"),
            "envelope:whatsapp:wamid.1"
        );
        let page = account("messenger", "109876543210987");
        assert_eq!(
            story_post_key("instagram", "179", "facebook", 1),
            "storypost:instagram:179:facebook:1"
        );
        assert!(
            story_post_key("instagram", "179", "facebook", 1)
                .starts_with(&story_posts_prefix("instagram", "179"))
        );
        assert_eq!(story_key("instagram", "179"), "story:instagram:179");
        assert_eq!(
            story_origin_key("messenger", "p1"),
            "storyorigin:messenger:p1"
        );
        assert_eq!(
            story_author_key(&page),
            "storyauthor:messenger:109876543210987"
        );
        assert_eq!(audit_record_key(7), "audit:000000000007");
        assert!(
            audit_record_key(99) < audit_record_key(100),
            "audit record keys sort by sequence"
        );
        assert_ne!(audit_record_key(0), AUDIT_NEXT_KEY);
        assert_eq!(
            audit_record_key(u64::MAX).matches(':').count(),
            1,
            "a sequence key cannot be a former-layout key, which has two colons"
        );
    }

    #[test]
    fn handles_are_stable_pseudonyms() {
        let bob = account("messenger", "2345");
        let handle = handle_for("c-1", &bob);
        assert_eq!(handle, handle_for("c-1", &bob));
        assert_ne!(handle, handle_for("c-2", &bob));
        assert_ne!(handle, handle_for("c-1", &account("instagram", "2345")));
        assert!(handle.starts_with("sb-") && handle.len() == 23, "{handle}");
    }

    #[test]
    fn refuses_ids_that_break_keys() {
        assert!(account("whatsapp", "16505551234").validate().is_ok());
        assert!(account("WhatsApp", "1").validate().is_err());
        assert!(account("matrix", "@a:b.org").validate().is_ok());
        assert!(account("whatsapp", "a b").validate().is_err());
        assert!(account("whatsapp", "").validate().is_err());
    }

    #[test]
    fn scopes_serialise_as_in_the_wit() {
        let json = serde_json::to_string(&ConsentScope::CrossAppMessaging).unwrap();
        assert_eq!(json, "\"cross-app-messaging\"");
        assert_eq!(
            ConsentScope::ShareDisplayName.as_str(),
            "share-display-name"
        );
    }
}
