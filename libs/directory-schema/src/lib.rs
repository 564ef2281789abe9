//! The directory's state in the key-value store: one place that says which key
//! holds what, so the admin API that writes it and the policy and routing that
//! read it cannot drift apart.
//!
//! | key | value |
//! |---|---|
//! | `account:<platform>:<id>` | [`AccountRecord`]: the person the account belongs to and its pseudonymous handle |
//! | `person:<person>` | [`PersonRecord`]: the person's linked accounts |
//! | `handle:<platform>:<handle>` | the [`Account`] a handle stands for |
//! | `consent:<platform>:<id>:<scope>` | [`ConsentRecord`] |
//! | `block:<platform>:<id>:<platform>:<id>` | [`BlockRecord`] (blocker first) |
//! | `marketing:<platform>:<id>:<platform>:<id>` | [`OptInRecord`] (person first, then business) |
//! | `audit:<ms, 13 digits>:<sequence>` | [`AuditRecord`], append-only |
//! | `native:<platform>:<native id>` | the canonical message id (UTF-8) |
//! | `canonical:<canonical id>:<platform>` | the native id it got there (UTF-8) |
//! | `rate:<platform>:<id>:<minute>` | how many messages the account sent in that minute since the epoch (decimal) |
//! | `inbox:<canonical id>` | an envelope the gateway accepted and the pipeline has not routed yet (JSON) |
//! | `envelope:<canonical id>` | every envelope ever accepted, so a webhook delivered twice is stored once (JSON) |
//! | `keys:<platform>:<id>` | the identity key and signed prekey the account published in the key directory (JSON, the host's `keydir` module) |
//! | `prekey:<platform>:<id>:<public key, hex>` | one of the account's one-time prekeys, removed when handed out |
//! | `story:<platform>:<story id>` | a story the cross-poster accepted: the story, the author's choice and the plan (JSON, written by the host) |
//! | `storypost:<platform>:<story id>:<target platform>:<segment>` | the native id a cross-post got on the target (UTF-8): what deleting the original deletes |
//! | `storyorigin:<platform>:<native id>` | [`StoryOrigin`]: the original of a cross-post known on `platform` by `native id`, so a reply to it reaches the author |
//! | `storyauthor:<platform>:<id>` | the [`Account`] on the stories' original app of the author who cross-posts to this account, so a mention of it reaches them |
//!
//! Values are JSON. Ids and platforms are used verbatim: platform names are
//! lower-case ASCII, and ids never contain `:` on the supported platforms; an
//! id that does is refused by [`Account::validate`].

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
        if self.id.is_empty() || self.id.contains(':') || self.id.chars().any(char::is_whitespace) {
            return Err(format!(
                "account id {:?} must be non-empty, without ':' or white space",
                self.id
            ));
        }
        Ok(())
    }

    fn key_part(&self) -> String {
        format!("{}:{}", self.platform, self.id)
    }
}

/// What consent can be given for (the `directory` interface's `consent-scope`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentScope {
    /// Messages may cross between this account and linked accounts on other apps.
    CrossAppMessaging,
    /// The phone number may be shown on other apps.
    SharePhoneNumber,
    /// The profile name may be shown on other apps.
    ShareDisplayName,
    /// The username may be shown on other apps.
    ShareUsername,
    /// Public keys may be handed to linked contacts on other apps.
    PublishKeys,
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
        }
    }
}

/// `account:<platform>:<id>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The person (a Switchboard user id) the account belongs to.
    pub person: String,
    /// The pseudonym that stands for this person when they write to someone on
    /// another app: never their phone number or name.
    pub handle: String,
}

/// `person:<person>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRecord {
    /// The person's accounts, one per app at most.
    pub accounts: Vec<Account>,
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
    /// Who made it (the admin API's caller, or `pipeline` for STOP replies).
    pub actor: String,
    /// What was done (`link`, `unlink`, `consent`, `block`, `unblock`, `marketing`).
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

/// Key of an account's link record.
pub fn account_key(account: &Account) -> String {
    format!("account:{}", account.key_part())
}

/// Key that maps a platform's native message id to the canonical id: how an
/// event on app B naming B's id finds the original.
pub fn native_id_key(platform: &str, native_id: &str) -> String {
    format!("native:{platform}:{native_id}")
}

/// Key of the native id a canonical message got on `platform`.
pub fn canonical_id_key(canonical_id: &str, platform: &str) -> String {
    format!("canonical:{canonical_id}:{platform}")
}

/// Key of a person's record.
pub fn person_key(person: &str) -> String {
    format!("person:{person}")
}

/// Key that resolves a handle on a platform back to the account.
pub fn handle_key(platform: &str, handle: &str) -> String {
    format!("handle:{platform}:{handle}")
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

/// Prefix of every audit record; records sort by time.
pub const AUDIT_PREFIX: &str = "audit:";

/// Key of an audit record: time first so that keys sort in order, then a
/// sequence number that tells apart records made in the same millisecond.
pub fn audit_key(at_ms: u64, sequence: u32) -> String {
    format!("{AUDIT_PREFIX}{at_ms:013}:{sequence:06}")
}

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

/// The pseudonymous handle of `person` on `platform`: stable, unguessable from
/// outside without the person id, and free of any phone number or name.
pub fn handle_for(person: &str, platform: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("switchboard-handle:{person}:{platform}").as_bytes());
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
    fn keys_follow_the_layout() {
        let alice = account("whatsapp", "16505551234");
        let shop = account("messenger", "1029384756");
        assert_eq!(account_key(&alice), "account:whatsapp:16505551234");
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
        assert_eq!(
            audit_key(1_700_000_000_000, 7),
            "audit:1700000000000:000007"
        );
        assert!(
            audit_key(999, 0) < audit_key(1_000, 0),
            "audit keys sort by time"
        );
    }

    #[test]
    fn handles_are_stable_pseudonyms() {
        let handle = handle_for("person-1", "messenger");
        assert_eq!(handle, handle_for("person-1", "messenger"));
        assert_ne!(handle, handle_for("person-1", "instagram"));
        assert_ne!(handle, handle_for("person-2", "messenger"));
        assert!(handle.starts_with("sb-") && handle.len() == 23, "{handle}");
    }

    #[test]
    fn refuses_ids_that_break_keys() {
        assert!(account("whatsapp", "16505551234").validate().is_ok());
        assert!(account("WhatsApp", "1").validate().is_err());
        assert!(account("whatsapp", "a:b").validate().is_err());
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
