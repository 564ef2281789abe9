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
//!
//! Values are JSON. Ids and platforms are used verbatim: platform names are
//! lower-case ASCII, and ids never contain `:` on the supported platforms; an
//! id that does is refused by [`Account::validate`].

#![deny(missing_docs)]

use serde::{Deserialize, Serialize};

/// An account on one app, as the directory stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// Key of the message counter of `sender` in one rate window (minutes since
/// the epoch).
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
