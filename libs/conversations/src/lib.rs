//! Conversations across apps, over the key-value store in the layout of
//! `directory-schema`: the one implementation of making a conversation,
//! adding and removing members, choosing each member's endpoint and alias,
//! and switching a member's current conversation. The admin API and the
//! directory (for in-chat commands) both call it, so they cannot disagree.
//!
//! # Endpoints
//!
//! Each app has a pool of relay endpoints ([`Endpoints`]). A member joining a
//! conversation gets, in pool order, an endpoint on their app that none of
//! their other conversations uses, like a masked number: each conversation
//! then has its own chat in the member's app. When the pool runs out the
//! endpoint with the fewest of the member's conversations is shared, and the
//! member addresses the conversation by quoting or with `/to`. On an app whose
//! ids are scoped to the endpoint a person wrote to (Messenger's page-scoped
//! ids, Instagram-scoped ids) there is no choice: the member keeps the
//! endpoint given, else the pool's first.

#![deny(missing_docs)]

use anyhow::Result;
use directory_schema::{
    Account, BlockRecord, ConsentRecord, ConsentScope, ConversationKind, ConversationRecord,
    EndpointConversations, Member, MemberRole, MemberState, Membership, MessageOrigin, block_key,
    consent_key, conversation_key, handle_for, membership_key, message_key,
};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

mod alias;
pub use alias::{alias_for, app_title};

/// Most members of a group unless configured otherwise.
pub const DEFAULT_GROUP_MAX_MEMBERS: usize = 256;

/// The key-value operations conversations need.
pub trait Store {
    /// The value of `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Sets `key`.
    fn set(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Removes `key` (nothing happens when it is absent).
    fn delete(&self, key: &str) -> Result<()>;
}

/// Each app's pool of relay endpoints, from configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    pools: BTreeMap<String, Vec<String>>,
    scoped: Vec<String>,
}

impl Endpoints {
    /// Parses `whatsapp=106540352242922,106540352242923 messenger=1098…`
    /// (apps separated by white space, endpoints by commas) and the apps whose
    /// ids are scoped to an endpoint (`messenger instagram`).
    pub fn parse(pools: &str, scoped: &str) -> Result<Endpoints, String> {
        let mut parsed = BTreeMap::new();
        for entry in pools.split_whitespace() {
            let (platform, ids) = entry
                .split_once('=')
                .ok_or_else(|| format!("endpoint pool {entry:?} is not <app>=<id>,<id>…"))?;
            let ids: Vec<String> = ids
                .split(',')
                .filter(|id| !id.is_empty())
                .map(str::to_string)
                .collect();
            if ids.is_empty() {
                return Err(format!("the endpoint pool of {platform} is empty"));
            }
            parsed.insert(platform.to_string(), ids);
        }
        Ok(Endpoints {
            pools: parsed,
            scoped: scoped.split_whitespace().map(str::to_string).collect(),
        })
    }

    /// The pool of `platform`, empty when the app has none.
    pub fn pool(&self, platform: &str) -> &[String] {
        self.pools.get(platform).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether the app's ids belong to the endpoint a person wrote to.
    pub fn is_scoped(&self, platform: &str) -> bool {
        self.scoped.iter().any(|scoped| scoped == platform)
    }

    /// The apps with a pool.
    pub fn platforms(&self) -> impl Iterator<Item = &str> {
        self.pools.keys().map(String::as_str)
    }
}

/// Who is asked to join: an account, its role, and optionally the endpoint
/// it must talk through (the Page a Messenger user wrote to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joiner {
    /// The account.
    pub account: Account,
    /// Person, business or bot.
    pub role: MemberRole,
    /// The endpoint to use, when the account is bound to one.
    pub endpoint: Option<String>,
    /// Invited (a request to accept) or active.
    pub state: MemberState,
}

impl Joiner {
    /// An active person, endpoint chosen from the pool.
    pub fn person(account: Account) -> Joiner {
        Joiner {
            account,
            role: MemberRole::Person,
            endpoint: None,
            state: MemberState::Active,
        }
    }
}

/// Why a change was refused: an HTTP-like status and words for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// 400 (bad request), 404 (no such conversation or member) or 409
    /// (consent, block, size or kind conflict).
    pub status: u16,
    /// What is wrong.
    pub reason: String,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
        }
    }
}

/// What a change led to: a refusal, or a store failure.
#[derive(Debug)]
pub enum Failure {
    /// The request cannot be done as asked.
    Refused(Refusal),
    /// The store failed.
    Store(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Store(error)
    }
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Failure::Refused(refusal)
    }
}

/// Conversations over a store.
pub struct Conversations<'a, S: ?Sized> {
    store: &'a S,
    endpoints: &'a Endpoints,
    group_max_members: usize,
}

impl<'a, S: Store + ?Sized> Conversations<'a, S> {
    /// Conversations over `store`, with endpoints from `endpoints` and groups
    /// of at most `group_max_members`.
    pub fn new(store: &'a S, endpoints: &'a Endpoints, group_max_members: usize) -> Self {
        Conversations {
            store,
            endpoints,
            group_max_members,
        }
    }

    fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.store
            .get(key)?
            .map(|bytes| serde_json::from_slice(&bytes).map_err(anyhow::Error::from))
            .transpose()
    }

    fn write(&self, key: &str, value: &impl serde::Serialize) -> Result<()> {
        self.store.set(key, &serde_json::to_vec(value)?)
    }

    /// A conversation by id.
    pub fn get(&self, id: &str) -> Result<Option<ConversationRecord>> {
        self.read(&conversation_key(id))
    }

    /// An account's conversations by endpoint.
    pub fn membership(&self, account: &Account) -> Result<Membership> {
        Ok(self.read(&membership_key(account))?.unwrap_or_default())
    }

    /// The conversations of `account` at `endpoint`.
    pub fn at(&self, account: &Account, endpoint: &str) -> Result<EndpointConversations> {
        Ok(self
            .membership(account)?
            .endpoints
            .remove(endpoint)
            .unwrap_or_default())
    }

    /// Every conversation of `account`, at any endpoint.
    pub fn of(&self, account: &Account) -> Result<Vec<String>> {
        Ok(self
            .membership(account)?
            .endpoints
            .into_values()
            .flat_map(|slot| slot.conversations)
            .collect())
    }

    /// Whether `account` consented to `scope` and has not withdrawn it.
    pub fn has_consent(&self, account: &Account, scope: ConsentScope) -> Result<bool> {
        Ok(self
            .read::<ConsentRecord>(&consent_key(account, scope))?
            .is_some_and(|record| record.granted))
    }

    /// Whether `blocker` blocked `blocked`.
    pub fn is_blocked(&self, blocker: &Account, blocked: &Account) -> Result<bool> {
        Ok(self
            .read::<BlockRecord>(&block_key(blocker, blocked))?
            .is_some())
    }

    /// Whether either of the two blocked the other.
    pub fn either_blocked(&self, a: &Account, b: &Account) -> Result<bool> {
        Ok(self.is_blocked(a, b)? || self.is_blocked(b, a)?)
    }

    /// Makes a conversation with id `id` (the caller makes it unguessable).
    /// Every member must have consented to cross-app messaging, and none may
    /// have blocked another (409 otherwise).
    pub fn create(
        &self,
        id: &str,
        kind: ConversationKind,
        title: Option<String>,
        joiners: Vec<Joiner>,
        now_ms: u64,
    ) -> Result<ConversationRecord, Failure> {
        match kind {
            ConversationKind::Direct if joiners.len() != 2 => {
                return Err(
                    Refusal::new(400, "a direct conversation has exactly two members").into(),
                );
            }
            ConversationKind::Group if joiners.len() < 2 => {
                return Err(Refusal::new(400, "a group needs at least two members").into());
            }
            ConversationKind::Group if joiners.len() > self.group_max_members => {
                return Err(Refusal::new(
                    409,
                    format!("a group has at most {} members", self.group_max_members),
                )
                .into());
            }
            _ => {}
        }
        if self.get(id)?.is_some() {
            return Err(Refusal::new(409, "a conversation with that id exists").into());
        }
        for (index, joiner) in joiners.iter().enumerate() {
            self.admissible(joiner)?;
            if joiners[..index]
                .iter()
                .any(|earlier| earlier.account == joiner.account)
            {
                return Err(Refusal::new(400, "a member is listed twice").into());
            }
            for earlier in &joiners[..index] {
                self.not_blocked(&earlier.account, &joiner.account)?;
            }
        }
        let mut record = ConversationRecord {
            id: id.to_string(),
            kind,
            title,
            created_at_ms: now_ms,
            members: Vec::new(),
        };
        for joiner in joiners {
            let member = self.seat(&record, joiner, now_ms)?;
            record.members.push(member);
        }
        self.write(&conversation_key(id), &record)?;
        for member in &record.members {
            self.enter(member, id)?;
        }
        Ok(record)
    }

    /// Adds one member to a group (or brings back one who left).
    pub fn add(&self, id: &str, joiner: Joiner, now_ms: u64) -> Result<Member, Failure> {
        let mut record = self
            .get(id)?
            .ok_or_else(|| Refusal::new(404, "no such conversation"))?;
        if let Some(existing) = record.member(&joiner.account)
            && existing.state != MemberState::Left
        {
            return Ok(existing.clone());
        }
        if record.kind == ConversationKind::Direct {
            return Err(Refusal::new(409, "a direct conversation has exactly two members").into());
        }
        if record.active_members().count() >= self.group_max_members {
            return Err(Refusal::new(
                409,
                format!("a group has at most {} members", self.group_max_members),
            )
            .into());
        }
        self.admissible(&joiner)?;
        for member in record.active_members() {
            self.not_blocked(&member.account, &joiner.account)?;
        }
        let member = self.seat(&record, joiner, now_ms)?;
        record
            .members
            .retain(|existing| existing.account != member.account);
        record.members.push(member.clone());
        self.write(&conversation_key(id), &record)?;
        self.enter(&member, id)?;
        Ok(member)
    }

    /// Marks `account` as having left `id`; it receives nothing more there.
    pub fn remove(&self, id: &str, account: &Account) -> Result<Member, Failure> {
        let mut record = self
            .get(id)?
            .ok_or_else(|| Refusal::new(404, "no such conversation"))?;
        let Some(member) = record
            .members
            .iter_mut()
            .find(|member| member.account == *account && member.state != MemberState::Left)
        else {
            return Err(Refusal::new(404, "not a member of that conversation").into());
        };
        member.state = MemberState::Left;
        let member = member.clone();
        self.write(&conversation_key(id), &record)?;
        let mut membership = self.membership(account)?;
        if let Some(slot) = membership.endpoints.get_mut(&member.endpoint) {
            slot.conversations.retain(|conversation| conversation != id);
            if slot.current.as_deref() == Some(id) {
                slot.current = slot.conversations.last().cloned();
            }
            if slot.conversations.is_empty() {
                membership.endpoints.remove(&member.endpoint);
            }
        }
        self.write(&membership_key(account), &membership)?;
        Ok(member)
    }

    /// Makes `id` the current conversation of `account` at `endpoint`; false
    /// when the account is not in it there.
    pub fn set_current(&self, account: &Account, endpoint: &str, id: &str) -> Result<bool> {
        let mut membership = self.membership(account)?;
        let Some(slot) = membership.endpoints.get_mut(endpoint) else {
            return Ok(false);
        };
        if !slot
            .conversations
            .iter()
            .any(|conversation| conversation == id)
        {
            return Ok(false);
        }
        slot.current = Some(id.to_string());
        self.write(&membership_key(account), &membership)?;
        Ok(true)
    }

    /// Marks `account` active in `id` (an accepted request).
    pub fn activate(&self, id: &str, account: &Account) -> Result<bool> {
        let Some(mut record) = self.get(id)? else {
            return Ok(false);
        };
        let Some(member) = record
            .members
            .iter_mut()
            .find(|member| member.account == *account && member.state == MemberState::Invited)
        else {
            return Ok(false);
        };
        member.state = MemberState::Active;
        self.write(&conversation_key(id), &record)?;
        Ok(true)
    }

    /// Records where a routed message was written.
    pub fn record_message(&self, canonical_id: &str, origin: &MessageOrigin) -> Result<()> {
        self.write(&message_key(canonical_id), origin)
    }

    /// Where a routed message was written.
    pub fn message_origin(&self, canonical_id: &str) -> Result<Option<MessageOrigin>> {
        self.read(&message_key(canonical_id))
    }

    /// Refuses a joiner whose app has no endpoints, whose endpoint is not in
    /// the pool, or who has not consented to cross-app messaging.
    fn admissible(&self, joiner: &Joiner) -> Result<(), Failure> {
        joiner
            .account
            .validate()
            .map_err(|error| Refusal::new(400, error))?;
        let pool = self.endpoints.pool(&joiner.account.platform);
        if pool.is_empty() {
            return Err(Refusal::new(
                400,
                format!(
                    "no endpoints are configured for {:?}",
                    joiner.account.platform
                ),
            )
            .into());
        }
        if let Some(endpoint) = &joiner.endpoint
            && !pool.contains(endpoint)
        {
            return Err(Refusal::new(
                400,
                format!(
                    "{endpoint:?} is not one of the relay's {} endpoints",
                    joiner.account.platform
                ),
            )
            .into());
        }
        if !self.has_consent(&joiner.account, ConsentScope::CrossAppMessaging)? {
            return Err(Refusal::new(
                409,
                format!(
                    "{}:{} has not consented to cross-app messaging",
                    joiner.account.platform, joiner.account.id
                ),
            )
            .into());
        }
        Ok(())
    }

    fn not_blocked(&self, a: &Account, b: &Account) -> Result<(), Failure> {
        if self.either_blocked(a, b)? {
            return Err(Refusal::new(
                409,
                format!(
                    "{}:{} and {}:{} have blocked one another",
                    a.platform, a.id, b.platform, b.id
                ),
            )
            .into());
        }
        Ok(())
    }

    /// The member record of a joiner: endpoint, alias and handle chosen.
    fn seat(
        &self,
        record: &ConversationRecord,
        joiner: Joiner,
        now_ms: u64,
    ) -> Result<Member, Failure> {
        let endpoint = match joiner.endpoint {
            Some(endpoint) => endpoint,
            None => self.choose_endpoint(&joiner.account)?,
        };
        let taken: Vec<&str> = record
            .members
            .iter()
            .filter(|member| member.account != joiner.account)
            .map(|member| member.alias.as_str())
            .collect();
        let alias = alias_for(&record.id, &joiner.account, &taken);
        Ok(Member {
            handle: handle_for(&record.id, &joiner.account),
            account: joiner.account,
            endpoint,
            role: joiner.role,
            state: joiner.state,
            alias,
            joined_at_ms: now_ms,
        })
    }

    /// The endpoint a new conversation of `account` goes through: the first
    /// in the pool that none of its conversations uses, else the least used.
    /// An app whose ids are endpoint-scoped keeps the one the account already
    /// talks through, else the pool's first.
    fn choose_endpoint(&self, account: &Account) -> Result<String> {
        let pool = self.endpoints.pool(&account.platform);
        let membership = self.membership(account)?;
        let used = |endpoint: &String| {
            membership
                .endpoints
                .get(endpoint)
                .map_or(0, |slot| slot.conversations.len())
        };
        if self.endpoints.is_scoped(&account.platform) {
            let known = pool
                .iter()
                .find(|endpoint| used(endpoint) > 0)
                .or_else(|| pool.first());
            return Ok(known.cloned().unwrap_or_default());
        }
        Ok(pool
            .iter()
            .min_by_key(|endpoint| used(endpoint))
            .cloned()
            .unwrap_or_default())
    }

    /// Adds `id` to the member's conversations at their endpoint and makes
    /// it their current one there.
    fn enter(&self, member: &Member, id: &str) -> Result<()> {
        let mut membership = self.membership(&member.account)?;
        let slot = membership
            .endpoints
            .entry(member.endpoint.clone())
            .or_default();
        if !slot
            .conversations
            .iter()
            .any(|conversation| conversation == id)
        {
            slot.conversations.push(id.to_string());
        }
        if member.state == MemberState::Active || slot.current.is_none() {
            slot.current = Some(id.to_string());
        }
        self.write(&membership_key(&member.account), &membership)
    }
}

/// Appends one record to the append-only audit log: at the sequence the
/// `audit:next` counter names, or the first free one after it (another
/// instance may have written there), then moves the counter on. Answers the
/// record's sequence. The admin API, the directory (for in-chat changes) and
/// the host all append through this layout.
pub fn append_audit<S: Store + ?Sized>(
    store: &S,
    actor: &str,
    action: &str,
    details: serde_json::Value,
    at_ms: u64,
) -> Result<u64> {
    let record = directory_schema::AuditRecord {
        at_ms,
        actor: actor.to_string(),
        action: action.to_string(),
        details,
    };
    let mut sequence = next_audit_sequence(store.get(directory_schema::AUDIT_NEXT_KEY)?)?;
    while store
        .get(&directory_schema::audit_record_key(sequence))?
        .is_some()
    {
        sequence += 1;
    }
    store.set(
        &directory_schema::audit_record_key(sequence),
        &serde_json::to_vec(&record)?,
    )?;
    store.set(
        directory_schema::AUDIT_NEXT_KEY,
        (sequence + 1).to_string().as_bytes(),
    )?;
    Ok(sequence)
}

/// The sequence the `audit:next` counter (its stored bytes) names; 1 when
/// there is none yet.
pub fn next_audit_sequence(counter: Option<Vec<u8>>) -> Result<u64> {
    let Some(bytes) = counter else {
        return Ok(1);
    };
    let text = String::from_utf8_lossy(&bytes);
    let next: u64 = text
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("audit:next holds {text:?}, not a number"))?;
    Ok(next.max(1))
}

/// A conversation id that cannot be guessed from outside: the hex SHA-256 of
/// what made it (time, members, a caller-supplied salt such as a sequence
/// number or random bytes), shortened.
pub fn conversation_id(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("switchboard-conversation:{seed}").as_bytes());
    let hex: String = digest
        .iter()
        .take(12)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("c-{hex}")
}

#[cfg(test)]
mod tests;
