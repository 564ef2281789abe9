//! The admin operations over any key-value store, so they are tested natively
//! with an in-memory map and run in the component over Spin's key-value store.

use conversations::{
    Conversations, DEFAULT_GROUP_MAX_MEMBERS, Endpoints, Failure, Joiner, conversation_id,
};
use directory_schema::{
    Account, Announcement, AuditRecord, BlockRecord, CONVERSATION_SEQUENCE_KEY, ConsentRecord,
    ConsentScope, ConversationKind, ConversationRecord, DEFAULT_SHARING_NOTICE_MS, Member,
    MemberRole, MemberState, OptInRecord, OptInState, SharedAttribute, SharingPolicy,
    announcement_key, audit_record_key, block_key, consent_key, marketing_key, sharing_key,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use json_api::{Outcome, Store};
use json_api::{answer, refuse};

/// What an operation answers: `Err` for a refusal or a store failure.
type Answer = Result<Outcome, Outcome>;

/// The name audit records give the admin token's holder when `admin_name` is
/// unset.
pub const DEFAULT_ADMIN_NAME: &str = "admin";

/// The apps whose ids are scoped to an endpoint when `scoped_apps` is unset.
pub const DEFAULT_SCOPED_APPS: &str = "messenger instagram";

/// Records one page of `GET /admin/audit` holds unless `limit` says otherwise.
pub const DEFAULT_AUDIT_PAGE: usize = 100;

/// Most records one page of `GET /admin/audit` holds.
pub const MAX_AUDIT_PAGE: usize = 1000;

/// The component's configuration, from its Spin variables.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Who audit records say made a change: the admin token's configured
    /// name (`admin_name`), never anything the request says.
    pub actor: String,
    /// Each app's relay endpoints (`endpoints`, `scoped_apps`).
    pub endpoints: Endpoints,
    /// Most members of a group (`group_max_members`).
    pub group_max_members: usize,
    /// How long after a sharing policy is turned on it applies
    /// (`sharing_notice_ms`): the notice window people have to opt out.
    pub sharing_notice_ms: u64,
}

impl Settings {
    /// The settings from the variables `variable` gives: `admin_name`
    /// (default `admin`), `endpoints` (`<app>=<id>,<id> …`; none by
    /// default), `scoped_apps` (default `messenger instagram`) and
    /// `group_max_members` (default 256). An unset variable is `None`.
    pub fn from_variables(variable: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let given = |name: &str| {
            variable(name)
                .map(|value| value.trim().to_string())
                .filter(|value| !value.is_empty())
        };
        let actor = given("admin_name").unwrap_or_else(|| DEFAULT_ADMIN_NAME.to_string());
        // Set but empty, `scoped_apps` means no app is scoped.
        let scoped = variable("scoped_apps").unwrap_or_else(|| DEFAULT_SCOPED_APPS.to_string());
        let endpoints = Endpoints::parse(&given("endpoints").unwrap_or_default(), &scoped)
            .map_err(|error| format!("variable endpoints: {error}"))?;
        let group_max_members = match given("group_max_members") {
            None => DEFAULT_GROUP_MAX_MEMBERS,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|most| *most >= 2)
                .ok_or_else(|| {
                    format!(
                        "variable group_max_members {text:?} must be a whole number, at least 2"
                    )
                })?,
        };
        let sharing_notice_ms = match given("sharing_notice_ms") {
            None => DEFAULT_SHARING_NOTICE_MS,
            Some(text) => text.parse::<u64>().map_err(|_| {
                format!(
                    "variable sharing_notice_ms {text:?} must be a whole number of milliseconds"
                )
            })?,
        };
        Ok(Settings {
            actor,
            endpoints,
            group_max_members,
            sharing_notice_ms,
        })
    }
}

/// One HTTP request as the component received it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `GET`, `POST`, `DELETE` (anything else is answered 404).
    pub method: &'a str,
    /// The path as sent, its segments still percent-encoded.
    pub path: &'a str,
    /// The query string, without `?` (empty when there is none).
    pub query: &'a str,
    /// The headers, names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }

    /// The token of the `Authorization: Bearer` header.
    pub fn bearer(&self) -> Option<&'a str> {
        self.header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
    }
}

/// Answers one request: checks its bearer token against the `admin_token`
/// variable, reads the [`Settings`] from the other variables, then runs the
/// operation. `variable` gives a Spin variable's value, `None` when unset.
pub fn handle(
    store: &dyn Store,
    variable: impl Fn(&str) -> Option<String>,
    request: &Request<'_>,
    now_ms: u64,
) -> Outcome {
    let token = variable("admin_token").unwrap_or_default();
    if let Err(refusal) = json_api::authorize(&token, request.bearer(), "admin_token") {
        return refusal;
    }
    match Settings::from_variables(variable) {
        Ok(settings) => dispatch(store, &settings, request, now_ms),
        Err(error) => refuse(500, format!("the admin API is misconfigured: {error}")),
    }
}

#[derive(Deserialize)]
struct ConsentRequest {
    account: Account,
    scope: ConsentScope,
    granted: bool,
}

/// The body of `POST /admin/sharing`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharingRequest {
    platform: String,
    attribute: SharedAttribute,
    enabled: bool,
}

#[derive(Deserialize)]
struct BlockRequest {
    blocker: Account,
    blocked: Account,
}

#[derive(Deserialize)]
struct MarketingRequest {
    person: Account,
    business: Account,
    state: OptInState,
}

/// The body of `POST /admin/conversations`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversationRequest {
    kind: ConversationKind,
    #[serde(default)]
    title: Option<String>,
    members: Vec<MemberRequest>,
}

/// A member in a request: an account, optionally its role and endpoint.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberRequest {
    platform: String,
    id: String,
    #[serde(default)]
    role: MemberRole,
    #[serde(default)]
    endpoint: Option<String>,
}

impl MemberRequest {
    fn account(&self) -> Account {
        Account {
            platform: self.platform.clone(),
            id: self.id.clone(),
        }
    }

    fn joiner(self) -> Joiner {
        Joiner {
            account: self.account(),
            role: self.role,
            endpoint: self.endpoint,
            state: MemberState::Active,
        }
    }
}

/// The admin API's store as the `conversations` crate's.
struct Kv<'a>(&'a dyn Store);

impl conversations::Store for Kv<'_> {
    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.0.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.0.set(key, value)
    }
    fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.0.delete(key)
    }
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Outcome> {
    serde_json::from_slice(body).map_err(|error| refuse(400, format!("bad request body: {error}")))
}

fn read<T: DeserializeOwned>(store: &dyn Store, key: &str) -> anyhow::Result<Option<T>> {
    store
        .get(key)?
        .map(|bytes| serde_json::from_slice(&bytes).map_err(anyhow::Error::from))
        .transpose()
}

fn write(store: &dyn Store, key: &str, value: &impl serde::Serialize) -> anyhow::Result<()> {
    store.set(key, &serde_json::to_vec(value)?)
}

/// A decimal counter; 0 when unset.
fn read_counter(store: &dyn Store, key: &str) -> anyhow::Result<u64> {
    let Some(bytes) = store.get(key)? else {
        return Ok(0);
    };
    std::str::from_utf8(&bytes)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{key} holds {:?}, not a number",
                String::from_utf8_lossy(&bytes)
            )
        })
}

/// Refuses accounts whose id would break the key layout, or whose app the
/// relay does not serve (no endpoints configured): a consent, block or
/// opt-in there could never apply, and a name never seen is not written.
fn validate(settings: &Settings, accounts: &[&Account]) -> Result<(), Outcome> {
    for account in accounts {
        account.validate().map_err(|error| refuse(400, error))?;
        if settings.endpoints.pool(&account.platform).is_empty() {
            return Err(refuse(
                400,
                format!(
                    "{:?} is not an app this relay serves (no endpoints are configured for it)",
                    account.platform
                ),
            ));
        }
    }
    Ok(())
}

/// A refusal of the `conversations` crate as an answer.
fn failed(failure: Failure) -> Outcome {
    match failure {
        Failure::Refused(refusal) => refuse(refusal.status, refusal.reason),
        Failure::Store(error) => Outcome::from(error),
    }
}

/// Decodes one percent-encoded path segment (`%40alice%3Aexample.org` →
/// `@alice:example.org`); a malformed escape or bytes that are not UTF-8 are
/// refused.
pub fn decode_segment(segment: &str) -> Result<String, String> {
    fn hex(byte: u8) -> Option<u8> {
        char::from(byte)
            .to_digit(16)
            .and_then(|digit| u8::try_from(digit).ok())
    }
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let escaped = match (bytes.get(index + 1), bytes.get(index + 2)) {
                (Some(&high), Some(&low)) => hex(high).zip(hex(low)),
                _ => None,
            };
            let Some((high, low)) = escaped else {
                return Err(format!("path segment {segment:?} has a malformed % escape"));
            };
            decoded.push(high << 4 | low);
            index += 3;
        } else {
            decoded.push(byte);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| format!("path segment {segment:?} is not UTF-8"))
}

fn segment(raw: &str) -> Result<String, Outcome> {
    decode_segment(raw).map_err(|error| refuse(400, error))
}

/// How audit details name an account: `<platform>:<id>`, the id verbatim.
fn label(account: &Account) -> String {
    format!("{}:{}", account.platform, account.id)
}

/// Appends one record to the audit log and answers its sequence number. The
/// counter says where to start; the first free sequence from there is taken,
/// so a record another instance wrote before moving the counter is not
/// overwritten.
fn audit(
    store: &dyn Store,
    actor: &str,
    action: &str,
    details: Value,
    at_ms: u64,
) -> anyhow::Result<u64> {
    conversations::append_audit(&Kv(store), actor, action, details, at_ms)
}

/// Runs one admin request whose token was checked. Store failures are
/// answered 500 with the reason.
pub fn dispatch(
    store: &dyn Store,
    settings: &Settings,
    request: &Request<'_>,
    now_ms: u64,
) -> Outcome {
    let Request {
        method, path, body, ..
    } = *request;
    let segments: Vec<&str> = path
        .trim_end_matches('/')
        .strip_prefix("/admin/")
        .map(|rest| rest.split('/').collect())
        .unwrap_or_default();
    let actor = settings.actor.as_str();
    let answer = match (method, segments.as_slice()) {
        ("POST", ["conversations"]) => create_conversation(store, settings, body, now_ms),
        ("GET", ["conversations", id]) => get_conversation(store, settings, id),
        ("POST", ["conversations", id, "members"]) => add_member(store, settings, id, body, now_ms),
        ("DELETE", ["conversations", id, "members", platform, account]) => {
            remove_member(store, settings, id, platform, account, now_ms)
        }
        ("POST", ["consents"]) => consent(store, settings, body, actor, now_ms),
        ("POST", ["blocks"]) => block(store, settings, body, actor, now_ms, true),
        ("DELETE", ["blocks"]) => block(store, settings, body, actor, now_ms, false),
        ("POST", ["marketing"]) => marketing(store, settings, body, actor, now_ms),
        ("GET", ["audit"]) => audit_log(store, request.query),
        ("POST", ["sharing"]) => sharing(store, settings, body, actor, now_ms),
        ("GET", ["sharing"]) => sharing_policies(store, settings),
        _ => Err(refuse(404, format!("no admin operation {method} {path}"))),
    };
    answer.unwrap_or_else(|refusal| refusal)
}

/// A member as the API shows it.
fn member_json(member: &Member) -> Value {
    json!({
        "platform": member.account.platform,
        "id": member.account.id,
        "endpoint": member.endpoint,
        "state": member.state,
        "role": member.role,
        "alias": member.alias,
        "handle": member.handle,
    })
}

/// A conversation as the API shows it, its members in the order they joined.
fn conversation_json(record: &ConversationRecord, with_time: bool) -> Value {
    let members: Vec<Value> = record.members.iter().map(member_json).collect();
    let mut body = json!({ "id": record.id, "kind": record.kind, "members": members });
    if let Some(title) = &record.title {
        body["title"] = json!(title);
    }
    if with_time {
        body["created_at_ms"] = json!(record.created_at_ms);
    }
    body
}

/// Random bits that differ between instances and calls (std's hash keys come
/// from the system's randomness), so that an id is not guessable from the
/// time and body alone.
fn salt() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(0_u8)
}

fn create_conversation(store: &dyn Store, settings: &Settings, body: &[u8], now_ms: u64) -> Answer {
    let request: ConversationRequest = parse(body)?;
    if request
        .title
        .as_ref()
        .is_some_and(|title| title.trim().is_empty())
    {
        return Err(refuse(400, "title must not be empty when given"));
    }
    let kv = Kv(store);
    let conversations = Conversations::new(&kv, &settings.endpoints, settings.group_max_members);
    // Time, body, the count of conversations made and random bits: two
    // identical requests in the same millisecond still get different ids.
    let sequence = read_counter(store, CONVERSATION_SEQUENCE_KEY)?;
    let seed = format!(
        "{now_ms}:{sequence}:{:016x}:{}",
        salt(),
        String::from_utf8_lossy(body)
    );
    let id = conversation_id(&seed);
    let joiners = request
        .members
        .into_iter()
        .map(MemberRequest::joiner)
        .collect();
    let record = conversations
        .create(&id, request.kind, request.title, joiners, now_ms)
        .map_err(failed)?;
    store.set(
        CONVERSATION_SEQUENCE_KEY,
        (sequence + 1).to_string().as_bytes(),
    )?;
    let mut details = json!({
        "id": record.id,
        "kind": record.kind,
        "members": record.members.iter().map(|member| label(&member.account)).collect::<Vec<_>>(),
    });
    if let Some(title) = &record.title {
        details["title"] = json!(title);
    }
    audit(store, &settings.actor, "conversation", details, now_ms)?;
    Ok(answer(201, conversation_json(&record, false)))
}

fn get_conversation(store: &dyn Store, settings: &Settings, id: &str) -> Answer {
    let id = segment(id)?;
    let kv = Kv(store);
    let conversations = Conversations::new(&kv, &settings.endpoints, settings.group_max_members);
    match conversations.get(&id)? {
        Some(record) => Ok(answer(200, conversation_json(&record, true))),
        None => Err(refuse(404, format!("no conversation {id:?}"))),
    }
}

fn add_member(
    store: &dyn Store,
    settings: &Settings,
    id: &str,
    body: &[u8],
    now_ms: u64,
) -> Answer {
    let id = segment(id)?;
    let request: MemberRequest = parse(body)?;
    let kv = Kv(store);
    let conversations = Conversations::new(&kv, &settings.endpoints, settings.group_max_members);
    let Some(record) = conversations.get(&id)? else {
        return Err(refuse(404, format!("no conversation {id:?}")));
    };
    if let Some(existing) = record.member(&request.account())
        && existing.state != MemberState::Left
    {
        return Ok(answer(200, member_json(existing)));
    }
    let member = conversations
        .add(&id, request.joiner(), now_ms)
        .map_err(failed)?;
    let details = json!({
        "conversation": id,
        "member": label(&member.account),
        "endpoint": member.endpoint,
        "role": member.role,
    });
    audit(store, &settings.actor, "member-added", details, now_ms)?;
    Ok(answer(201, member_json(&member)))
}

fn remove_member(
    store: &dyn Store,
    settings: &Settings,
    id: &str,
    platform: &str,
    account: &str,
    now_ms: u64,
) -> Answer {
    let id = segment(id)?;
    let account = Account {
        platform: segment(platform)?,
        id: segment(account)?,
    };
    let kv = Kv(store);
    let conversations = Conversations::new(&kv, &settings.endpoints, settings.group_max_members);
    let member = conversations.remove(&id, &account).map_err(failed)?;
    let details = json!({ "conversation": id, "member": label(&member.account) });
    audit(store, &settings.actor, "member-left", details, now_ms)?;
    Ok(answer(200, member_json(&member)))
}

fn consent(
    store: &dyn Store,
    settings: &Settings,
    body: &[u8],
    actor: &str,
    now_ms: u64,
) -> Answer {
    let request: ConsentRequest = parse(body)?;
    validate(settings, &[&request.account])?;
    let record = ConsentRecord {
        granted: request.granted,
        at_ms: now_ms,
    };
    write(
        store,
        &consent_key(&request.account, request.scope),
        &record,
    )?;
    let details =
        json!({ "account": request.account, "scope": request.scope, "granted": request.granted });
    audit(store, actor, "consent", details, now_ms)?;
    Ok(answer(200, json!({ "granted": request.granted })))
}

fn block(
    store: &dyn Store,
    settings: &Settings,
    body: &[u8],
    actor: &str,
    now_ms: u64,
    blocking: bool,
) -> Answer {
    let request: BlockRequest = parse(body)?;
    validate(settings, &[&request.blocker, &request.blocked])?;
    let key = block_key(&request.blocker, &request.blocked);
    if blocking {
        write(store, &key, &BlockRecord { at_ms: now_ms })?;
    } else {
        store.delete(&key)?;
    }
    let action = if blocking { "block" } else { "unblock" };
    audit(
        store,
        actor,
        action,
        json!({ "blocker": request.blocker, "blocked": request.blocked }),
        now_ms,
    )?;
    Ok(answer(200, json!({ "blocked": blocking })))
}

fn marketing(
    store: &dyn Store,
    settings: &Settings,
    body: &[u8],
    actor: &str,
    now_ms: u64,
) -> Answer {
    let request: MarketingRequest = parse(body)?;
    validate(settings, &[&request.person, &request.business])?;
    write(
        store,
        &marketing_key(&request.person, &request.business),
        &OptInRecord {
            state: request.state,
            at_ms: now_ms,
        },
    )?;
    let details =
        json!({ "person": request.person, "business": request.business, "state": request.state });
    audit(store, actor, "marketing", details, now_ms)?;
    Ok(answer(200, json!({ "state": request.state })))
}

/// A sharing policy as the API shows it.
fn policy_json(platform: &str, attribute: SharedAttribute, policy: &SharingPolicy) -> Value {
    json!({
        "platform": platform,
        "attribute": attribute,
        "enabled": policy.enabled,
        "announced_at_ms": policy.announced_at_ms,
        "effective_at_ms": policy.effective_at_ms,
    })
}

/// Turns the sharing of one identity attribute of an app's people on or off.
///
/// On: the attribute applies after the notice window (`effective_at_ms`), and
/// an announcement is left for the host, which tells each of the app's
/// people. Turning on a policy that is already on changes nothing (the
/// window is not restarted, nobody is told twice). Off: at once, with no
/// notice (sharing less needs none), and an announcement still being sent
/// stops. Each change is audited (`sharing`) with the admin's name.
fn sharing(
    store: &dyn Store,
    settings: &Settings,
    body: &[u8],
    actor: &str,
    now_ms: u64,
) -> Answer {
    let request: SharingRequest = parse(body)?;
    let platform = request.platform.trim();
    if platform.is_empty() || platform.contains(':') || platform != platform.to_lowercase() {
        return Err(refuse(
            400,
            format!("{platform:?} is not an app name (lower-case, no `:`)"),
        ));
    }
    if settings.endpoints.pool(platform).is_empty() {
        return Err(refuse(
            400,
            format!(
                "{platform:?} is not an app this relay serves (no endpoints are configured for it)"
            ),
        ));
    }
    let attribute = request.attribute;
    let key = sharing_key(platform, attribute);
    let current: Option<SharingPolicy> = read(store, &key)?;
    if let Some(policy) = &current
        && policy.enabled == request.enabled
    {
        return Ok(answer(200, policy_json(platform, attribute, policy)));
    }
    if current.is_none() && !request.enabled {
        let off = SharingPolicy {
            enabled: false,
            announced_at_ms: now_ms,
            effective_at_ms: now_ms,
        };
        return Ok(answer(200, policy_json(platform, attribute, &off)));
    }
    let policy = if request.enabled {
        SharingPolicy {
            enabled: true,
            announced_at_ms: now_ms,
            effective_at_ms: now_ms.saturating_add(settings.sharing_notice_ms),
        }
    } else {
        SharingPolicy {
            enabled: false,
            announced_at_ms: now_ms,
            effective_at_ms: now_ms,
        }
    };
    write(store, &key, &policy)?;
    if policy.enabled {
        let announcement = Announcement {
            platform: platform.to_string(),
            attribute,
            announced_at_ms: policy.announced_at_ms,
            effective_at_ms: policy.effective_at_ms,
            after: None,
            told: 0,
        };
        write(
            store,
            &announcement_key(platform, attribute, policy.announced_at_ms),
            &announcement,
        )?;
    }
    let details = json!({
        "platform": platform,
        "attribute": attribute,
        "enabled": policy.enabled,
        "effective_at_ms": policy.effective_at_ms,
    });
    audit(store, actor, "sharing", details, now_ms)?;
    Ok(answer(200, policy_json(platform, attribute, &policy)))
}

/// Every sharing policy on record for the apps the relay serves, by app and
/// attribute (Spin's key-value store cannot list keys, so the configured
/// apps are asked one by one).
fn sharing_policies(store: &dyn Store, settings: &Settings) -> Answer {
    let mut policies = Vec::new();
    for platform in settings.endpoints.platforms() {
        for attribute in SharedAttribute::ALL {
            if let Some(policy) = read::<SharingPolicy>(store, &sharing_key(platform, attribute))? {
                policies.push(policy_json(platform, attribute, &policy));
            }
        }
    }
    Ok(answer(200, json!({ "policies": policies })))
}

/// One page of the audit log, oldest first: the records after sequence
/// `after` (0, the start, by default), at most `limit` of them. Only that
/// page's records are read, and one more key to tell whether there is a next
/// page.
fn audit_log(store: &dyn Store, query: &str) -> Answer {
    let mut after: u64 = 0;
    let mut limit = DEFAULT_AUDIT_PAGE;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "after" => {
                after = value.parse().map_err(|_| {
                    refuse(
                        400,
                        format!("after={value:?} must be a sequence number (0 or more)"),
                    )
                })?;
            }
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|limit| *limit >= 1)
                    .ok_or_else(|| {
                        refuse(
                            400,
                            format!(
                                "limit={value:?} must be a whole number from 1 to {MAX_AUDIT_PAGE}"
                            ),
                        )
                    })?
                    .min(MAX_AUDIT_PAGE);
            }
            _ => {}
        }
    }
    let mut records = Vec::new();
    let mut sequence = after;
    while records.len() < limit {
        let Some(next) = sequence.checked_add(1) else {
            break;
        };
        let Some(record) = read::<AuditRecord>(store, &audit_record_key(next))? else {
            break;
        };
        sequence = next;
        records.push(json!({
            "sequence": sequence,
            "at_ms": record.at_ms,
            "actor": record.actor,
            "action": record.action,
            "details": record.details,
        }));
    }
    let more = records.len() == limit
        && match sequence.checked_add(1) {
            Some(next) => store.get(&audit_record_key(next))?.is_some(),
            None => false,
        };
    let next = more.then_some(sequence);
    Ok(answer(200, json!({ "records": records, "next": next })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use directory_schema::AUDIT_NEXT_KEY;
    use json_api::{MemoryStore, authorize};
    use std::cell::Cell;

    /// The sample pools of `spin.toml`.
    const ENDPOINTS: &str = "whatsapp=106540352242922,106540352242923 \
        messenger=682498302938465,109876543210987 \
        instagram=17841405309211844,17841405822304914 \
        telegram=bot matrix=@switchboard:example.org";

    fn settings_with(group_max_members: Option<&str>) -> Settings {
        Settings::from_variables(|name| match name {
            "endpoints" => Some(ENDPOINTS.to_string()),
            "admin_name" => Some("tester".to_string()),
            "group_max_members" => group_max_members.map(str::to_string),
            _ => None,
        })
        .unwrap()
    }

    fn settings() -> Settings {
        settings_with(None)
    }

    /// Runs `method target` (a path, optionally `?query`) with a JSON body
    /// (none for `null`).
    fn call_with(
        store: &dyn Store,
        settings: &Settings,
        method: &str,
        target: &str,
        body: Value,
        now: u64,
    ) -> Outcome {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let request = Request {
            method,
            path,
            query,
            headers: &[],
            body: &body,
        };
        dispatch(store, settings, &request, now)
    }

    fn call(store: &dyn Store, method: &str, target: &str, body: Value, now: u64) -> Outcome {
        call_with(store, &settings(), method, target, body, now)
    }

    /// The status `call` answers.
    fn status(store: &MemoryStore, method: &str, path: &str, body: Value, now: u64) -> u16 {
        call(store, method, path, body, now).status
    }

    fn member(platform: &str, id: &str) -> Value {
        json!({ "platform": platform, "id": id })
    }

    fn consent(store: &MemoryStore, account: &Value) {
        let body = json!({ "account": account, "scope": "cross-app-messaging", "granted": true });
        assert_eq!(status(store, "POST", "/admin/consents", body, 1), 200);
    }

    fn direct(store: &MemoryStore, a: &Value, b: &Value, now: u64) -> Outcome {
        let body = json!({ "kind": "direct", "members": [a, b] });
        call(store, "POST", "/admin/conversations", body, now)
    }

    fn keys_starting(store: &MemoryStore, prefix: &str) -> Vec<String> {
        store
            .keys()
            .unwrap()
            .into_iter()
            .filter(|key| key.starts_with(prefix))
            .collect()
    }

    /// Every action in the audit log, oldest first.
    fn actions(store: &MemoryStore) -> Vec<String> {
        let log = call(store, "GET", "/admin/audit?limit=1000", Value::Null, 0);
        assert_eq!(log.status, 200, "{}", log.body);
        log.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| record["action"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_direct_conversation_gets_endpoints_from_the_pools_and_active_members() {
        let store = MemoryStore::default();
        let alice = member("whatsapp", "16505551234");
        let bob = member("messenger", "1254459154682919");
        consent(&store, &alice);
        consent(&store, &bob);

        let created = direct(&store, &alice, &bob, 1_000);
        assert_eq!(created.status, 201, "{}", created.body);
        let body = &created.body;
        assert_eq!(body["kind"], "direct");
        assert!(body.get("title").is_none(), "no title unless given: {body}");
        let id = body["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("c-"), "{id}");
        let members = body["members"].as_array().unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[0]["platform"], "whatsapp", "request order");
        assert_eq!(members[0]["id"], "16505551234");
        assert_eq!(members[0]["endpoint"], "106540352242922");
        assert_eq!(members[1]["platform"], "messenger");
        assert_eq!(members[1]["endpoint"], "682498302938465");
        for member in members {
            assert_eq!(member["state"], "active");
            assert_eq!(member["role"], "person");
            assert!(member["alias"].as_str().unwrap().contains(" · "));
        }

        let fetched = call(
            &store,
            "GET",
            &format!("/admin/conversations/{id}"),
            Value::Null,
            2_000,
        );
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.body["created_at_ms"], 1_000);
        assert_eq!(fetched.body["members"], created.body["members"]);
        assert_eq!(fetched.body["id"], created.body["id"]);

        let log = call(&store, "GET", "/admin/audit", Value::Null, 3_000);
        let last = log.body["records"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["action"], "conversation");
        assert_eq!(last["actor"], "tester");
        assert_eq!(last["details"]["id"], id.as_str());
        assert_eq!(
            last["details"]["members"],
            json!(["whatsapp:16505551234", "messenger:1254459154682919"])
        );

        let unknown = call(
            &store,
            "GET",
            "/admin/conversations/c-nothing",
            Value::Null,
            4_000,
        );
        assert_eq!(unknown.status, 404);
        assert!(
            unknown.body["error"]
                .as_str()
                .unwrap()
                .contains("c-nothing")
        );
    }

    #[test]
    fn the_same_members_again_get_the_second_whatsapp_endpoint_and_a_new_id() {
        let store = MemoryStore::default();
        let alice = member("whatsapp", "16505551234");
        let bob = member("messenger", "1254459154682919");
        consent(&store, &alice);
        consent(&store, &bob);
        // The same body in the same millisecond.
        let first = direct(&store, &alice, &bob, 1_000);
        let second = direct(&store, &alice, &bob, 1_000);
        assert_eq!((first.status, second.status), (201, 201));
        assert_ne!(first.body["id"], second.body["id"]);
        assert_eq!(second.body["members"][0]["endpoint"], "106540352242923");
        assert_eq!(
            second.body["members"][1]["endpoint"], "682498302938465",
            "a Messenger user keeps the Page they talk to"
        );
        assert_eq!(
            store.get(CONVERSATION_SEQUENCE_KEY).unwrap().unwrap(),
            b"2",
            "the counter in the id's seed moved on"
        );
        assert_eq!(keys_starting(&store, "conversation:").len(), 2);
    }

    #[test]
    fn no_consent_or_a_block_is_a_409_and_writes_nothing() {
        let store = MemoryStore::default();
        let alice = member("whatsapp", "16505551234");
        let bob = member("messenger", "1254459154682919");
        consent(&store, &alice);

        let refused = direct(&store, &alice, &bob, 1_000);
        assert_eq!(refused.status, 409, "{}", refused.body);
        let reason = refused.body["error"].as_str().unwrap();
        assert!(
            reason.contains("messenger:1254459154682919") && reason.contains("consent"),
            "{reason}"
        );

        consent(&store, &bob);
        let block = json!({ "blocker": bob, "blocked": alice });
        assert_eq!(status(&store, "POST", "/admin/blocks", block, 1_500), 200);
        let refused = direct(&store, &alice, &bob, 2_000);
        assert_eq!(refused.status, 409, "{}", refused.body);
        assert!(
            refused.body["error"].as_str().unwrap().contains("blocked"),
            "{}",
            refused.body
        );

        assert!(keys_starting(&store, "conversation:").is_empty());
        assert!(keys_starting(&store, "membership:").is_empty());
        assert_eq!(store.get(CONVERSATION_SEQUENCE_KEY).unwrap(), None);
        assert_eq!(actions(&store), ["consent", "consent", "block"]);
    }

    #[test]
    fn bad_conversation_bodies_are_400_with_a_reason() {
        let store = MemoryStore::default();
        let alice = member("whatsapp", "16505551234");
        let bob = member("messenger", "1254459154682919");
        let carol = member("instagram", "6459112574138410");
        for who in [&alice, &bob, &carol] {
            consent(&store, who);
        }
        let cases = [
            (
                json!({ "kind": "channel", "members": [alice, bob] }),
                "unknown variant `channel`",
            ),
            (
                json!({ "kind": "direct", "members": [{ "platform": "whatsapp", "id": 16505551234_u64 }, bob] }),
                "invalid type",
            ),
            (
                json!({ "kind": "direct", "members": "alice" }),
                "invalid type",
            ),
            (
                json!({ "kind": "direct", "members": [alice, bob, carol] }),
                "exactly two members",
            ),
            (
                json!({ "kind": "group", "members": [alice] }),
                "at least two",
            ),
            (
                json!({ "kind": "direct", "members": [alice, { "platform": "signal", "id": "1" }] }),
                "no endpoints are configured for \"signal\"",
            ),
            (
                json!({ "kind": "direct", "members": [alice, { "platform": "messenger", "id": "1", "endpoint": "999" }] }),
                "not one of the relay's messenger endpoints",
            ),
            (
                json!({ "kind": "direct", "members": [alice, { "platform": "messenger", "id": "1", "role": "robot" }] }),
                "unknown variant `robot`",
            ),
            (
                json!({ "kind": "direct", "members": [alice, { "platform": "messenger", "id": "1", "nick": "b" }] }),
                "unknown field `nick`",
            ),
            (
                json!({ "kind": "group", "title": " ", "members": [alice, bob] }),
                "title must not be empty",
            ),
        ];
        for (body, expected) in cases {
            let outcome = call(&store, "POST", "/admin/conversations", body.clone(), 1_000);
            assert_eq!(outcome.status, 400, "{body} → {}", outcome.body);
            let error = outcome.body["error"].as_str().unwrap();
            assert!(error.contains(expected), "{body}: {error}");
        }
        assert!(keys_starting(&store, "conversation:").is_empty());
    }

    #[test]
    fn members_join_leave_and_rejoin_a_group() {
        let store = MemoryStore::default();
        let settings = settings_with(Some("3"));
        let alice = member("whatsapp", "16505551234");
        let bob = member("messenger", "1254459154682919");
        let carol = member("telegram", "4242");
        let dave = member("instagram", "6459112574138410");
        for who in [&alice, &bob, &carol, &dave] {
            consent(&store, who);
        }
        let body = json!({ "kind": "group", "title": "Book club", "members": [alice, bob] });
        let created = call_with(
            &store,
            &settings,
            "POST",
            "/admin/conversations",
            body,
            1_000,
        );
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["title"], "Book club");
        let id = created.body["id"].as_str().unwrap().to_string();
        let members = format!("/admin/conversations/{id}/members");
        let add =
            |who: &Value, now| call_with(&store, &settings, "POST", &members, who.clone(), now);

        let added = add(&carol, 2_000);
        assert_eq!(added.status, 201, "{}", added.body);
        assert_eq!(added.body["platform"], "telegram");
        assert_eq!(added.body["endpoint"], "bot");
        assert_eq!(added.body["state"], "active");
        let again = add(&carol, 2_100);
        assert_eq!(again.status, 200, "already active: {}", again.body);
        assert_eq!(again.body["alias"], added.body["alias"]);

        let full = add(&dave, 2_200);
        assert_eq!(full.status, 409, "a group of at most 3: {}", full.body);
        assert!(full.body["error"].as_str().unwrap().contains("at most 3"));

        let leave = format!("/admin/conversations/{id}/members/telegram/4242");
        let left = call_with(&store, &settings, "DELETE", &leave, Value::Null, 3_000);
        assert_eq!(left.status, 200, "{}", left.body);
        assert_eq!(left.body["state"], "left");
        assert_eq!(left.body["id"], "4242");
        let twice = call_with(&store, &settings, "DELETE", &leave, Value::Null, 3_100);
        assert_eq!(twice.status, 404, "not an active member any more");

        let back = add(&carol, 4_000);
        assert_eq!(back.status, 201, "{}", back.body);
        assert_eq!(back.body["state"], "active");
        let fetched = call(
            &store,
            "GET",
            &format!("/admin/conversations/{id}"),
            Value::Null,
            5_000,
        );
        let states: Vec<(&str, &str)> = fetched.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["id"].as_str().unwrap(), m["state"].as_str().unwrap()))
            .collect();
        assert_eq!(
            states,
            [
                ("16505551234", "active"),
                ("1254459154682919", "active"),
                ("4242", "active")
            ]
        );

        let unknown = call_with(
            &store,
            &settings,
            "POST",
            "/admin/conversations/c-nothing/members",
            dave.clone(),
            6_000,
        );
        assert_eq!(unknown.status, 404);

        let all = actions(&store);
        assert_eq!(
            &all[4..],
            [
                "conversation",
                "member-added",
                "member-left",
                "member-added"
            ],
            "refusals and repeats are not audited"
        );
    }

    #[test]
    fn a_direct_conversation_a_block_or_no_consent_refuses_a_new_member() {
        let store = MemoryStore::default();
        let alice = member("whatsapp", "16505551234");
        let bob = member("messenger", "1254459154682919");
        let carol = member("telegram", "4242");
        consent(&store, &alice);
        consent(&store, &bob);
        let created = direct(&store, &alice, &bob, 1_000);
        let id = created.body["id"].as_str().unwrap().to_string();
        let members = format!("/admin/conversations/{id}/members");

        let refused = call(&store, "POST", &members, carol.clone(), 2_000);
        assert_eq!(refused.status, 409, "direct: {}", refused.body);
        assert!(refused.body["error"].as_str().unwrap().contains("direct"));

        let body = json!({ "kind": "group", "members": [alice, bob] });
        let group = call(&store, "POST", "/admin/conversations", body, 3_000);
        let members = format!(
            "/admin/conversations/{}/members",
            group.body["id"].as_str().unwrap()
        );
        let refused = call(&store, "POST", &members, carol.clone(), 4_000);
        assert_eq!(refused.status, 409, "no consent: {}", refused.body);
        assert!(refused.body["error"].as_str().unwrap().contains("consent"));

        consent(&store, &carol);
        let block = json!({ "blocker": alice, "blocked": carol });
        assert_eq!(status(&store, "POST", "/admin/blocks", block, 4_500), 200);
        let refused = call(&store, "POST", &members, carol.clone(), 5_000);
        assert_eq!(refused.status, 409, "blocked: {}", refused.body);
        assert!(refused.body["error"].as_str().unwrap().contains("blocked"));
        assert!(!actions(&store).contains(&"member-added".to_string()));
    }

    #[test]
    fn a_matrix_member_leaves_by_its_percent_encoded_id() {
        let store = MemoryStore::default();
        let alice = member("whatsapp", "16505551234");
        let matrix = member("matrix", "@alice:example.org");
        consent(&store, &alice);
        consent(&store, &matrix);
        let body = json!({ "kind": "group", "members": [alice, matrix] });
        let created = call(&store, "POST", "/admin/conversations", body, 1_000);
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(
            created.body["members"][1]["endpoint"],
            "@switchboard:example.org"
        );
        let id = created.body["id"].as_str().unwrap();

        let path = format!("/admin/conversations/{id}/members/matrix/%40alice%3Aexample.org");
        let left = call(&store, "DELETE", &path, Value::Null, 2_000);
        assert_eq!(left.status, 200, "{}", left.body);
        assert_eq!(left.body["id"], "@alice:example.org");
        assert_eq!(left.body["state"], "left");
        let log = call(&store, "GET", "/admin/audit?limit=1000", Value::Null, 3_000);
        let last = log.body["records"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["action"], "member-left");
        assert_eq!(last["details"]["member"], "matrix:@alice:example.org");

        let malformed = format!("/admin/conversations/{id}/members/matrix/%4");
        let outcome = call(&store, "DELETE", &malformed, Value::Null, 4_000);
        assert_eq!(outcome.status, 400, "{}", outcome.body);
        assert!(
            outcome.body["error"]
                .as_str()
                .unwrap()
                .contains("malformed")
        );
    }

    #[test]
    fn path_segments_are_percent_decoded() {
        assert_eq!(
            decode_segment("%40alice%3Aexample.org").unwrap(),
            "@alice:example.org"
        );
        assert_eq!(decode_segment("%c3%a9t%C3%A9").unwrap(), "été");
        assert_eq!(decode_segment("a%2Fb").unwrap(), "a/b");
        assert_eq!(decode_segment("plain").unwrap(), "plain");
        for bad in ["%", "%4", "%zz", "%+1", "%ff"] {
            assert!(decode_segment(bad).is_err(), "{bad}");
        }
    }

    /// A store that counts reads and cannot list its keys.
    #[derive(Default)]
    struct NoListing {
        inner: MemoryStore,
        gets: Cell<usize>,
    }

    impl Store for NoListing {
        fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
            self.gets.set(self.gets.get() + 1);
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> anyhow::Result<()> {
            self.inner.delete(key)
        }
        fn keys(&self) -> anyhow::Result<Vec<String>> {
            anyhow::bail!("listing keys is not allowed")
        }
    }

    #[test]
    fn the_audit_log_is_read_a_page_at_a_time() {
        let store = NoListing::default();
        let alice = member("messenger", "2345");
        for (now, granted) in [(10, true), (20, false), (30, true), (40, false), (50, true)] {
            let body = json!({ "account": alice, "scope": "share-username", "granted": granted });
            assert_eq!(
                call(&store, "POST", "/admin/consents", body, now).status,
                200
            );
        }
        assert_eq!(store.inner.get(AUDIT_NEXT_KEY).unwrap().unwrap(), b"6");

        let page = |target: &str| {
            store.gets.set(0);
            let outcome = call(&store, "GET", target, Value::Null, 100);
            assert_eq!(outcome.status, 200, "{target}: {}", outcome.body);
            let sequences: Vec<u64> = outcome.body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|record| record["sequence"].as_u64().unwrap())
                .collect();
            (
                sequences,
                outcome.body["next"].clone(),
                store.gets.get(),
                outcome.body,
            )
        };
        let (sequences, next, gets, body) = page("/admin/audit?limit=2");
        assert_eq!(sequences, [1, 2]);
        assert_eq!(next, 2);
        assert_eq!(gets, 3, "the page's two records and a look at the next");
        assert_eq!(body["records"][0]["at_ms"], 10);
        assert_eq!(body["records"][0]["actor"], "tester");
        assert_eq!(body["records"][0]["action"], "consent");
        assert_eq!(body["records"][1]["details"]["granted"], false);

        let (sequences, next, _, _) = page("/admin/audit?after=2&limit=2");
        assert_eq!((sequences, next), (vec![3, 4], json!(4)));
        let (sequences, next, gets, _) = page("/admin/audit?after=4&limit=2");
        assert_eq!((sequences, next), (vec![5], Value::Null));
        assert_eq!(gets, 2, "the last record and the free slot after it");
        let (sequences, next, _, _) = page("/admin/audit?after=5");
        assert_eq!((sequences, next), (vec![], Value::Null));
        let (sequences, next, _, _) = page("/admin/audit?limit=5");
        assert_eq!((sequences, next), (vec![1, 2, 3, 4, 5], Value::Null));
        let (sequences, _, _, _) = page("/admin/audit");
        assert_eq!(sequences.len(), 5, "default limit is 100");
        let (sequences, _, _, _) = page(&format!("/admin/audit?after={}", u64::MAX));
        assert!(sequences.is_empty());

        for bad in ["after=-1", "after=x", "limit=0", "limit=ten"] {
            let outcome = call(
                &store,
                "GET",
                &format!("/admin/audit?{bad}"),
                Value::Null,
                1,
            );
            assert_eq!(outcome.status, 400, "{bad}: {}", outcome.body);
        }
        let (sequences, _, _, _) = page("/admin/audit?limit=5000");
        assert_eq!(sequences.len(), 5, "a limit over 1000 reads 1000");
    }

    #[test]
    fn an_append_never_overwrites_a_record_another_instance_wrote() {
        let store = MemoryStore::default();
        let alice = json!({ "account": member("messenger", "2345"), "scope": "publish-keys", "granted": true });
        assert_eq!(
            status(&store, "POST", "/admin/consents", alice.clone(), 1),
            200
        );
        // Another instance wrote record 2 but has not moved the counter yet.
        let theirs = br#"{"at_ms":2,"actor":"other","action":"block","details":{}}"#;
        store.set(&audit_record_key(2), theirs).unwrap();
        assert_eq!(store.get(AUDIT_NEXT_KEY).unwrap().unwrap(), b"2");

        assert_eq!(
            status(&store, "POST", "/admin/consents", alice.clone(), 3),
            200
        );
        assert_eq!(store.get(&audit_record_key(2)).unwrap().unwrap(), theirs);
        let ours: AuditRecord = read(&store, &audit_record_key(3)).unwrap().unwrap();
        assert_eq!((ours.at_ms, ours.action.as_str()), (3, "consent"));
        assert_eq!(store.get(AUDIT_NEXT_KEY).unwrap().unwrap(), b"4");

        // A counter set back (a slower instance's stale write) is probed past.
        store.set(AUDIT_NEXT_KEY, b"1").unwrap();
        assert_eq!(status(&store, "POST", "/admin/consents", alice, 4), 200);
        let ours: AuditRecord = read(&store, &audit_record_key(4)).unwrap().unwrap();
        assert_eq!(ours.at_ms, 4);
        assert_eq!(actions(&store), ["consent", "block", "consent", "consent"]);
    }

    #[test]
    fn the_actor_is_the_configured_name_and_no_header_changes_it() {
        let variables = |admin_name: Option<&'static str>| {
            move |name: &str| match name {
                "admin_token" => Some("s3cret".to_string()),
                "admin_name" => admin_name.map(str::to_string),
                "endpoints" => Some("whatsapp=106540352242922".to_string()),
                _ => None,
            }
        };
        let body = json!({ "account": member("whatsapp", "16505551234"), "scope": "discoverable", "granted": true })
            .to_string();
        let headers = [
            ("Authorization", "Bearer s3cret"),
            ("x-switchboard-actor", "mallory"),
        ];
        let request = Request {
            method: "POST",
            path: "/admin/consents",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        };
        let store = MemoryStore::default();
        assert_eq!(
            handle(&store, variables(Some("ops-team")), &request, 1).status,
            200
        );
        assert_eq!(handle(&store, variables(None), &request, 2).status, 200);
        let log = call(&store, "GET", "/admin/audit", Value::Null, 3);
        let actors: Vec<&str> = log.body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|record| record["actor"].as_str().unwrap())
            .collect();
        assert_eq!(actors, ["ops-team", "admin"]);

        // Without the token nothing is written, whatever the headers say.
        let wrong = [
            ("authorization", "Bearer guess"),
            ("x-switchboard-actor", "admin"),
        ];
        let outcome = handle(
            &store,
            variables(None),
            &Request {
                headers: &wrong,
                ..request
            },
            4,
        );
        assert_eq!(outcome.status, 401);
        assert_eq!(store.get(AUDIT_NEXT_KEY).unwrap().unwrap(), b"3");
    }

    #[test]
    fn enabling_sharing_records_the_policy_an_announcement_and_the_admins_name() {
        let store = MemoryStore::default();
        let enable =
            json!({ "platform": "whatsapp", "attribute": "display-name", "enabled": true });
        let on = call(&store, "POST", "/admin/sharing", enable.clone(), 1_000);
        assert_eq!(on.status, 200, "{}", on.body);
        let effective = 1_000 + DEFAULT_SHARING_NOTICE_MS;
        assert_eq!(on.body["platform"], "whatsapp");
        assert_eq!(on.body["attribute"], "display-name");
        assert_eq!(on.body["enabled"], true);
        assert_eq!(on.body["effective_at_ms"], effective);
        let policy: SharingPolicy = read(&store, "sharing:whatsapp:display-name")
            .unwrap()
            .unwrap();
        assert_eq!(
            policy,
            SharingPolicy {
                enabled: true,
                announced_at_ms: 1_000,
                effective_at_ms: effective,
            }
        );
        assert_eq!(
            keys_starting(&store, "announce:"),
            ["announce:whatsapp:display-name:0000000001000"]
        );
        let announcement: Announcement =
            read(&store, "announce:whatsapp:display-name:0000000001000")
                .unwrap()
                .unwrap();
        assert_eq!(announcement.effective_at_ms, effective);
        assert_eq!(announcement.after, None);

        // Again: nothing changes, nobody is told twice, the window stays.
        let again = call(&store, "POST", "/admin/sharing", enable.clone(), 5_000);
        assert_eq!(again.body["effective_at_ms"], effective);
        assert_eq!(keys_starting(&store, "announce:").len(), 1);

        let listed = call(&store, "GET", "/admin/sharing", Value::Null, 6_000);
        assert_eq!(listed.status, 200);
        assert_eq!(listed.body["policies"].as_array().unwrap().len(), 1);
        assert_eq!(listed.body["policies"][0]["platform"], "whatsapp");

        // Off: at once, no notice.
        let disable =
            json!({ "platform": "whatsapp", "attribute": "display-name", "enabled": false });
        let off = call(&store, "POST", "/admin/sharing", disable, 7_000);
        assert_eq!(off.status, 200);
        assert_eq!(off.body["enabled"], false);
        assert_eq!(off.body["effective_at_ms"], 7_000);
        assert_eq!(keys_starting(&store, "announce:").len(), 1, "no new notice");

        let log = call(&store, "GET", "/admin/audit", Value::Null, 8_000);
        let records = log.body["records"].as_array().unwrap();
        let summary: Vec<(&str, &str, bool)> = records
            .iter()
            .map(|record| {
                (
                    record["actor"].as_str().unwrap(),
                    record["action"].as_str().unwrap(),
                    record["details"]["enabled"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [("tester", "sharing", true), ("tester", "sharing", false)]
        );
        assert_eq!(records[0]["details"]["effective_at_ms"], effective);
    }

    #[test]
    fn the_notice_window_is_configurable_and_sharing_is_only_for_served_apps() {
        let store = MemoryStore::default();
        let short = Settings::from_variables(|name| match name {
            "endpoints" => Some(ENDPOINTS.to_string()),
            "sharing_notice_ms" => Some("3000".to_string()),
            _ => None,
        })
        .unwrap();
        assert_eq!(short.sharing_notice_ms, 3_000);
        let body = json!({ "platform": "messenger", "attribute": "phone-number", "enabled": true });
        let on = call_with(&store, &short, "POST", "/admin/sharing", body, 10);
        assert_eq!(on.body["effective_at_ms"], 3_010);
        assert_eq!(actions(&store), ["sharing"]);

        assert!(
            Settings::from_variables(|name| (name == "sharing_notice_ms").then(|| "soon".into()))
                .is_err()
        );
        for body in [
            json!({ "platform": "signal", "attribute": "display-name", "enabled": true }),
            json!({ "platform": "whatsapp", "attribute": "email", "enabled": true }),
            json!({ "platform": "whatsapp", "attribute": "username", "enabled": true, "actor": "x" }),
            json!({ "platform": "WhatsApp", "attribute": "username", "enabled": true }),
            json!({ "platform": "whatsapp:x", "attribute": "username", "enabled": true }),
        ] {
            assert_eq!(
                status(&store, "POST", "/admin/sharing", body.clone(), 20),
                400,
                "{body}"
            );
        }
        assert_eq!(actions(&store), ["sharing"], "refusals write nothing");
        assert_eq!(keys_starting(&store, "sharing:").len(), 1);
    }

    #[test]
    fn settings_come_from_the_variables() {
        let defaults = Settings::from_variables(|_| None).unwrap();
        assert_eq!(defaults.actor, "admin");
        assert_eq!(defaults.group_max_members, DEFAULT_GROUP_MAX_MEMBERS);
        assert!(defaults.endpoints.is_scoped("messenger"));
        assert!(defaults.endpoints.pool("whatsapp").is_empty());
        let sample = settings();
        assert_eq!(
            sample.endpoints.pool("whatsapp"),
            ["106540352242922", "106540352242923"]
        );
        assert!(sample.endpoints.is_scoped("instagram"));
        assert!(!sample.endpoints.is_scoped("whatsapp"));

        let broken = |name: &str, value: &str| {
            let (name, value) = (name.to_string(), value.to_string());
            Settings::from_variables(move |asked| (asked == name).then(|| value.clone()))
                .unwrap_err()
        };
        assert!(broken("group_max_members", "many").contains("group_max_members"));
        assert!(broken("group_max_members", "1").contains("at least 2"));
        assert!(broken("endpoints", "whatsapp").contains("endpoints"));

        let store = MemoryStore::default();
        let request = Request {
            method: "GET",
            path: "/admin/audit",
            query: "",
            headers: &[("authorization", "Bearer t")],
            body: b"",
        };
        let misconfigured = handle(
            &store,
            |name| match name {
                "admin_token" => Some("t".to_string()),
                "group_max_members" => Some("0".to_string()),
                _ => None,
            },
            &request,
            1,
        );
        assert_eq!(misconfigured.status, 500);
        assert!(
            misconfigured.body["error"]
                .as_str()
                .unwrap()
                .contains("misconfigured")
        );
    }

    #[test]
    fn the_manifest_defaults_are_valid_settings() {
        let manifest = include_str!("../../../spin.toml");
        let default = |name: &str| {
            let start = format!("{name} = {{ default = \"");
            manifest
                .lines()
                .find_map(|line| Some(line.strip_prefix(&start)?.strip_suffix("\" }")?.to_string()))
        };
        for name in [
            "admin_name",
            "endpoints",
            "scoped_apps",
            "group_max_members",
            "sharing_notice_ms",
        ] {
            assert!(default(name).is_some(), "spin.toml declares {name}");
            assert!(
                manifest.contains(&format!("{name} = \"{{{{ {name} }}}}\"")),
                "the admin component gets {name}"
            );
        }
        let shipped = Settings::from_variables(default).unwrap();
        assert_eq!(shipped.actor, "admin");
        assert_eq!(shipped.sharing_notice_ms, DEFAULT_SHARING_NOTICE_MS);
        assert_eq!(shipped.group_max_members, 256);
        assert_eq!(
            shipped.endpoints.pool("whatsapp"),
            ["106540352242922", "106540352242923"]
        );
        assert_eq!(shipped.endpoints.pool("messenger")[0], "682498302938465");
        assert_eq!(shipped.endpoints.pool("instagram")[0], "17841405309211844");
        assert_eq!(shipped.endpoints.pool("telegram"), ["bot"]);
        // Matrix events are addressed to the application service as a whole
        // (the plugin's recipient id), so that is its endpoint.
        assert_eq!(shipped.endpoints.pool("matrix"), ["appservice"]);
        assert!(
            shipped.endpoints.is_scoped("messenger") && shipped.endpoints.is_scoped("instagram")
        );
        assert_eq!(
            shipped.endpoints.pool("whatsapp"),
            settings().endpoints.pool("whatsapp")
        );
    }

    #[test]
    fn consent_block_and_marketing_are_recorded_in_order() {
        let store = MemoryStore::default();
        let alice = json!({ "platform": "messenger", "id": "2345" });
        let shop = json!({ "platform": "whatsapp", "id": "106540352242922" });
        for (body, path, method) in [
            (
                json!({ "account": alice, "scope": "cross-app-messaging", "granted": true }),
                "/admin/consents",
                "POST",
            ),
            (
                json!({ "account": alice, "scope": "cross-app-messaging", "granted": false }),
                "/admin/consents",
                "POST",
            ),
            (
                json!({ "blocker": alice, "blocked": shop }),
                "/admin/blocks",
                "POST",
            ),
            (
                json!({ "blocker": alice, "blocked": shop }),
                "/admin/blocks",
                "DELETE",
            ),
            (
                json!({ "person": alice, "business": shop, "state": "opted-in" }),
                "/admin/marketing",
                "POST",
            ),
        ] {
            assert_eq!(status(&store, method, path, body, 5_000), 200, "{path}");
        }
        let account: Account = serde_json::from_value(alice.clone()).unwrap();
        let consent: ConsentRecord = read(
            &store,
            &consent_key(&account, ConsentScope::CrossAppMessaging),
        )
        .unwrap()
        .unwrap();
        assert!(!consent.granted, "the withdrawal is the last word");
        let shop: Account = serde_json::from_value(shop).unwrap();
        assert_eq!(store.get(&block_key(&account, &shop)).unwrap(), None);
        let log = call(&store, "GET", "/admin/audit", Value::Null, 6_000);
        let records = log.body["records"].as_array().unwrap();
        assert_eq!(records.len(), 5, "same-millisecond records are all kept");
        assert_eq!(records[0]["details"]["granted"], true);
        assert_eq!(records[1]["details"]["granted"], false);
        assert_eq!(records[3]["action"], "unblock");
        assert_eq!(records[4]["action"], "marketing");
    }

    #[test]
    fn bad_requests_and_links_are_refused() {
        let store = MemoryStore::default();
        let outcome = call(
            &store,
            "POST",
            "/admin/consents",
            json!({ "account": { "platform": "x", "id": "1" }, "scope": "everything", "granted": true }),
            1,
        );
        assert_eq!(outcome.status, 400);
        assert!(
            outcome.body["error"]
                .as_str()
                .unwrap()
                .contains("unknown variant `everything`"),
            "{}",
            outcome.body
        );
        let link = json!({ "person": "alice", "account": { "platform": "whatsapp", "id": "1" } });
        assert_eq!(status(&store, "POST", "/admin/links", link.clone(), 1), 404);
        assert_eq!(status(&store, "DELETE", "/admin/links", link, 1), 404);
        assert_eq!(
            status(&store, "PUT", "/admin/consents", Value::Null, 1),
            404
        );
        let request = Request {
            method: "POST",
            path: "/admin/conversations",
            query: "",
            headers: &[],
            body: b"{",
        };
        assert_eq!(dispatch(&store, &settings(), &request, 1).status, 400);
        assert!(
            store.keys().unwrap().is_empty(),
            "nothing written by refused requests"
        );
    }

    #[test]
    fn consents_blocks_and_opt_ins_are_only_for_apps_the_relay_serves() {
        let store = MemoryStore::default();
        let settings = settings();
        for (path, body) in [
            (
                "/admin/consents",
                json!({ "account": member("sms", "1"), "scope": "cross-app-messaging", "granted": true }),
            ),
            (
                "/admin/blocks",
                json!({ "blocker": member("whatsapp", "1"), "blocked": member("fax", "2") }),
            ),
            (
                "/admin/marketing",
                json!({ "person": member("whatsapp", "1"), "business": member("nope", "2"), "state": "opted-in" }),
            ),
        ] {
            let outcome = call_with(&store, &settings, "POST", path, body, 1);
            assert_eq!(outcome.status, 400, "{path}: {}", outcome.body);
            assert!(
                outcome.body["error"]
                    .as_str()
                    .unwrap()
                    .contains("not an app this relay serves"),
                "{}",
                outcome.body
            );
        }
        assert!(store.keys().unwrap().is_empty(), "nothing written");
    }

    #[test]
    fn token_checks() {
        assert_eq!(
            authorize("", Some("x"), "admin_token").unwrap_err().status,
            503
        );
        assert_eq!(
            authorize("s3cret", None, "admin_token").unwrap_err().status,
            401
        );
        assert_eq!(
            authorize("s3cret", Some("s3cre"), "admin_token")
                .unwrap_err()
                .status,
            401
        );
        assert!(authorize("s3cret", Some("s3cret"), "admin_token").is_ok());
    }
}
