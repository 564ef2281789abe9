//! The key directory: clients publish their public keys here and fetch the
//! prekey bundles of the members of their conversations, so that they can seal
//! messages end to end (the `sealing` crate) through a pipeline that never
//! sees the plaintext.
//!
//! Served natively by the host under `/keys/` (like `/metrics`, ahead of any
//! manifest route), over the `default` key-value store that the directory
//! components use. Bodies are JSON with keys in hex, in the shapes of
//! [`sealing::key_directory`]; every answer is JSON, an error being
//! `{"error": "<one line>"}`.
//!
//! # Routes
//!
//! `{platform}/{id}` is the caller's own account (`whatsapp/16505551234`); a
//! contact is named by a conversation the caller is in and the contact's
//! handle there (the `sb-…` id their messages come from), never by their
//! account.
//!
//! | request | who may | what it does |
//! |---|---|---|
//! | `PUT /keys/accounts/{platform}/{id}` | the account, signed with the identity in the body | publishes: binds the identity on first publish (201), then replaces the signed prekey and adds one-time prekeys (200) |
//! | `POST /keys/accounts/{platform}/{id}/one-time-prekeys` | the account | adds one-time prekeys |
//! | `GET /keys/accounts/{platform}/{id}` | the account | what is published, and how many one-time prekeys are left |
//! | `GET /keys/accounts/{platform}/{id}/conversations/{conversation}/members/{handle}` | the account | the bundle of that member, with one one-time prekey, each handed out once |
//! | `DELETE /keys/accounts/{platform}/{id}` | the operator (admin token) | unbinds the identity and removes every key of the account |
//!
//! # Who is who
//!
//! * **Requests are signed with the account's Ed25519 identity key**: over the
//!   method, the path, a timestamp and the SHA-256 of the body
//!   ([`sealing::key_directory::request_message`]), in the headers
//!   `x-switchboard-timestamp` (ms since the epoch) and `x-switchboard-signature`
//!   (hex). A timestamp more than [`MAX_CLOCK_SKEW_MS`] from the host's clock is
//!   refused, and a signature is accepted once, so a captured request cannot be
//!   replayed (to drain one-time prekeys, say). Accepted signatures are kept
//!   for the skew window, in memory and in the store (`keysig:<signature>`),
//!   so a restart does not forget them.
//! * **The first publish binds the identity to the account** (trust on first
//!   use). Its signature is checked with the identity key in the body, which
//!   proves the publisher holds the secret key; later requests are checked with
//!   the bound key. Only accounts in a conversation can publish, so an account
//!   can be claimed only once it is in one. Between then and the owner's first
//!   publish, someone who knows the account id could bind a key of their own:
//!   the owner's publish then fails with 409 and the operator resets the
//!   account. Publishing from the app's client when joining keeps that window
//!   short.
//! * **Replacing a bound identity needs the operator**: a publish with a
//!   different identity is refused with 409 unless it also carries
//!   `Authorization: Bearer <admin token>` (the `admin_token` variable,
//!   `SPIN_VARIABLE_ADMIN_TOKEN`; empty turns replacement off). A replacement
//!   drops the old identity's one-time prekeys. The operator can also unbind an
//!   account with `DELETE`. Binds, replacements and resets go to the audit log.
//! * **A fetch is answered only within a conversation**: the caller and the
//!   contact must both be active members of it, and the contact must have
//!   granted the `publish-keys` consent, must not have blocked the caller, and
//!   must have published. Nobody else can fetch a bundle, and the answer names no account:
//!   only keys and a key id. A refusal does not say which of these failed.
//! * **Limits per account, not global**: one account's signed requests within
//!   the replay window are capped (429 for that account only), and a caller
//!   takes at most a few of one contact's one-time prekeys a day (after that
//!   the bundle comes without one).
//!
//! The directory hands out keys; it cannot prove they are the contact's. A host
//! that lies could give out its own keys and read what is sealed to them, so
//! clients should compare identity key ids (safety numbers) out of band and warn
//! when a contact's identity changes.
//!
//! # Errors
//!
//! 400 malformed input or a bad prekey signature (the reason names the field),
//! 401 a missing, stale, replayed or wrong request signature (or an account
//! with no identity bound: the same answer, so an unsigned probe learns
//! nothing), 403 not allowed (in no conversation, wrong admin token), 404 no such route
//! or no bundle (one answer for no contact, no consent, blocked and nothing
//! published), 405 a wrong method, 409 a conflict (a changed identity
//! without the operator, too many one-time prekeys stored), 413 a body over
//! [`MAX_BODY_BYTES`] or more than [`MAX_PREKEYS_PER_REQUEST`] prekeys at once,
//! 500 a store failure.

use crate::clock::now_ms;
use anyhow::{Context, Result};
use bytes::Bytes;
use directory_schema::{
    Account, BlockRecord, ConsentRecord, ConsentScope, ConversationRecord, Membership, block_key,
    consent_key, conversation_key, membership_key, one_time_prekey_key, one_time_prekey_prefix,
    published_keys_key,
};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use sealing::SealingError;
use sealing::key_directory::{
    BundleJson, IdentityJson, OneTimePrekeysRequest, PublishRequest, SIGNATURE_HEADER,
    SignedPrekeyJson, TIMESTAMP_HEADER, parse_one_time_prekeys, verify_request,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use switchboard_runtime::http::{BoxFuture, NativeRoute};
use switchboard_runtime::key_value::{Change, EmbeddedStore, KeyValueStores, durable_write};
use switchboard_runtime::manifest::Manifest;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The largest request body accepted (a publish with hundreds of prekeys fits).
pub const MAX_BODY_BYTES: usize = 64 << 10;
/// One-time prekeys one request may add.
pub const MAX_PREKEYS_PER_REQUEST: usize = 500;
/// One-time prekeys an account may hold: enough for many first contacts,
/// bounded so that one account cannot fill the store.
pub const MAX_STORED_PREKEYS: usize = 2000;
/// How far a request's timestamp may be from the host's clock.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;
/// Remembered signatures past which the expired ones are swept from memory
/// and the store (they expire with the replay window).
const SWEEP_SIGNATURES_AT: usize = 50_000;
/// The one answer to a request whose signature cannot be accepted, whether
/// the account has no identity bound or the signature is wrong: an unsigned
/// probe cannot tell which accounts use the directory.
const BAD_SIGNATURE: &str = "the request signature does not verify with the account's identity key";
/// The one answer to a fetch that yields no bundle, whatever the reason (no
/// contact on that app, no consent, blocked, nothing published): the caller
/// learns nothing about the contact from it.
const NO_BUNDLE: &str = "no key bundle is available for a contact on that app";
/// Signed requests one account may make within the replay window; past it
/// that account (and only it) is answered 429.
const MAX_SIGNATURES_PER_ACCOUNT: usize = 1_000;
/// One-time prekeys one caller may take from one contact a day; past it the
/// bundle comes without one (X3DH works without it), so a caller cannot drain
/// a contact's prekeys.
const MAX_ONE_TIME_PREKEYS_PER_CALLER_PER_DAY: u32 = 10;
/// Store prefix of the accepted signatures, kept until their window ends.
const SIGNATURE_PREFIX: &str = "keysig:";

/// The accepted signatures still within their window, from the store; the
/// expired ones are removed.
fn remembered_signatures(store: &EmbeddedStore) -> HashMap<String, u64> {
    let now = now_ms();
    let entries = store
        .scan_prefix(SIGNATURE_PREFIX, usize::MAX)
        .unwrap_or_else(|error| {
            tracing::warn!(error = %format!("{error:#}"), "cannot read the accepted key-directory signatures");
            Vec::new()
        });
    let mut remembered = HashMap::new();
    let mut expired = Vec::new();
    for (key, value) in entries {
        let expires = std::str::from_utf8(&value)
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
            .unwrap_or(0);
        if expires > now {
            remembered.insert(key[SIGNATURE_PREFIX.len()..].to_string(), expires);
        } else {
            expired.push(Change::Delete(key));
        }
    }
    if !expired.is_empty()
        && let Err(error) = store.apply(&expired)
    {
        tracing::warn!(error = %format!("{error:#}"), "cannot remove expired key-directory signatures");
    }
    remembered
}

/// What an account published: `keys:<platform>:<id>` in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedKeys {
    /// The identity bound to the account.
    pub identity: IdentityJson,
    /// The current signed prekey.
    pub signed_prekey: SignedPrekeyJson,
    /// When the identity was bound, ms since the epoch.
    pub bound_at_ms: u64,
    /// When the signed prekey last changed, ms since the epoch.
    pub updated_at_ms: u64,
}

/// The key directory of a running app.
pub struct KeyDirectory {
    store: Arc<EmbeddedStore>,
    admin_token: String,
    /// Signatures accepted within the skew window, with when they expire.
    seen: Mutex<HashMap<String, u64>>,
    /// Signatures accepted per account within the window: (window start, count).
    signatures_per_account: Mutex<HashMap<Account, (u64, usize)>>,
    /// One-time prekeys taken per (caller, contact) today: (day, count).
    prekeys_taken: Mutex<HashMap<(Account, Account), (u64, u32)>>,
    /// Publishes read, check and write: one at a time, so two first publishes
    /// cannot both bind.
    publishing: Mutex<()>,
}

/// A refusal or an answer: status and JSON body.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

type Answer = std::result::Result<Reply, Reply>;

fn reply(status: u16, body: Value) -> Reply {
    Reply { status, body }
}

fn refuse(status: u16, error: impl Into<String>) -> Reply {
    reply(status, json!({ "error": error.into() }))
}

impl From<anyhow::Error> for Reply {
    fn from(error: anyhow::Error) -> Self {
        tracing::error!(error = %format!("{error:#}"), "key directory store failure");
        refuse(500, "the key directory's store failed")
    }
}

/// One request, read off the wire.
struct KeyRequest {
    method: String,
    path: String,
    timestamp: Option<String>,
    signature: Option<String>,
    bearer: Option<String>,
    body: Bytes,
}

/// The routes, parsed from the path.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Account(Account),
    OneTimePrekeys(Account),
    /// The caller, a conversation and a member's handle in it.
    Contact(Account, String, String),
}

fn parse_route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix("/keys/accounts/")?;
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let account = |platform: &str, id: &str| Account {
        platform: platform.to_string(),
        id: id.to_string(),
    };
    match parts.as_slice() {
        [platform, id] => Some(Route::Account(account(platform, id))),
        [platform, id, "one-time-prekeys"] => Some(Route::OneTimePrekeys(account(platform, id))),
        [
            platform,
            id,
            "conversations",
            conversation,
            "members",
            handle,
        ] => Some(Route::Contact(
            account(platform, id),
            conversation.to_string(),
            handle.to_string(),
        )),
        _ => None,
    }
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> std::result::Result<T, Reply> {
    serde_json::from_slice(body).map_err(|error| refuse(400, format!("bad request body: {error}")))
}

fn read<T: DeserializeOwned>(store: &EmbeddedStore, key: &str) -> Result<Option<T>> {
    store
        .get(key)?
        .map(|bytes| serde_json::from_slice(&bytes).with_context(|| format!("bad record at {key}")))
        .transpose()
}

fn to_json(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).context("cannot encode a key directory record")
}

/// A sealing error as a 400 with the field it names; a bad signature says so.
fn bad_keys(error: SealingError) -> Reply {
    match error {
        SealingError::AuthenticationFailed => refuse(
            400,
            "signed_prekey.signature does not verify with identity.signing_key",
        ),
        other => refuse(400, other.to_string()),
    }
}

/// Compares bearer tokens in constant time.
fn same_token(configured: &str, presented: &str) -> bool {
    let (a, b) = (configured.as_bytes(), presented.as_bytes());
    let differences = a
        .iter()
        .zip(b.iter())
        .fold(a.len() ^ b.len(), |acc, (x, y)| acc | usize::from(x ^ y));
    differences == 0
}

impl NativeRoute for KeyDirectory {
    fn serves(&self, _method: &hyper::Method, path: &str) -> bool {
        path == "/keys" || path.starts_with("/keys/")
    }

    fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> BoxFuture<'_, hyper::Response<HyperOutgoingBody>> {
        Box::pin(KeyDirectory::handle(self, request))
    }
}

impl KeyDirectory {
    /// The key directory over the app's `default` store, with the operator's
    /// token from the `admin_token` variable.
    pub fn load(manifest: &Manifest, stores: &KeyValueStores) -> Result<Arc<KeyDirectory>> {
        let store = stores
            .get("default")
            .context("the key directory needs the `default` key-value store")?;
        let admin_token =
            switchboard_runtime::variables::app_value(manifest, "admin_token").unwrap_or_default();
        Ok(Arc::new(KeyDirectory::new(store, admin_token)))
    }

    /// A key directory over `store`; an empty `admin_token` turns identity
    /// replacement and resets off.
    pub fn new(store: Arc<EmbeddedStore>, admin_token: String) -> KeyDirectory {
        KeyDirectory {
            seen: Mutex::new(remembered_signatures(&store)),
            signatures_per_account: Mutex::new(HashMap::new()),
            prekeys_taken: Mutex::new(HashMap::new()),
            store,
            admin_token,
            publishing: Mutex::new(()),
        }
    }

    /// Serves one `/keys/...` request.
    pub async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<HyperOutgoingBody> {
        let started = Instant::now();
        let method = request.method().as_str().to_string();
        let route = route_name(request.uri().path());
        let reply = match self.read_request(request).await {
            // Answering reads and commits to the store: off the async
            // worker, as every durable write.
            Ok(request) => durable_write(|| self.answer(&request)),
            Err(refusal) => refusal,
        };
        // Paths carry account ids (phone numbers on WhatsApp): the log names
        // the route, never the account.
        tracing::info!(%method, route, status = reply.status, elapsed_us = started.elapsed().as_micros() as u64, "key directory");
        json_response(reply)
    }

    async fn read_request(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> std::result::Result<KeyRequest, Reply> {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string)
        };
        let declared = header("content-length").and_then(|length| length.parse::<usize>().ok());
        if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
            return Err(too_big());
        }
        let bearer = header("authorization")
            .and_then(|value| value.strip_prefix("Bearer ").map(str::to_string));
        let (timestamp, signature) = (header(TIMESTAMP_HEADER), header(SIGNATURE_HEADER));
        let method = request.method().as_str().to_string();
        let path = request.uri().path().to_string();
        let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(too_big());
            }
            Err(error) => return Err(refuse(400, format!("cannot read the body: {error}"))),
        };
        Ok(KeyRequest {
            method,
            path,
            timestamp,
            signature,
            bearer,
            body,
        })
    }

    /// Answers a request that has been read in full (blocking: store I/O).
    fn answer(&self, request: &KeyRequest) -> Reply {
        let Some(route) = parse_route(&request.path) else {
            return refuse(404, format!("no key directory route {}", request.path));
        };
        let account = match &route {
            Route::Account(account)
            | Route::OneTimePrekeys(account)
            | Route::Contact(account, ..) => account,
        };
        if let Err(error) = account.validate() {
            return refuse(400, error);
        }
        let answer = match (request.method.as_str(), &route) {
            ("PUT", Route::Account(account)) => self.publish(account, request),
            ("GET", Route::Account(account)) => self.status(account, request),
            ("DELETE", Route::Account(account)) => self.reset(account, request),
            ("POST", Route::OneTimePrekeys(account)) => self.add_prekeys(account, request),
            ("GET", Route::Contact(account, conversation, handle)) => {
                self.fetch(account, conversation, handle, request)
            }
            (method, _) => Err(refuse(
                405,
                format!("{method} is not allowed on {}", request.path),
            )),
        };
        answer.unwrap_or_else(|refusal| refusal)
    }

    /// Checks the request's timestamp and signature with `signing_key`, then
    /// remembers the signature so the same request is not accepted twice.
    fn authenticate(
        &self,
        account: &Account,
        request: &KeyRequest,
        signing_key: &[u8; 32],
    ) -> std::result::Result<(), Reply> {
        let (Some(timestamp), Some(signature)) = (&request.timestamp, &request.signature) else {
            return Err(missing_signature());
        };
        let Ok(timestamp_ms) = timestamp.trim().parse::<u64>() else {
            return Err(refuse(
                401,
                format!("{TIMESTAMP_HEADER} must be milliseconds since the epoch"),
            ));
        };
        let now = now_ms();
        let skew = now.abs_diff(timestamp_ms);
        if skew > MAX_CLOCK_SKEW_MS {
            return Err(refuse(
                401,
                format!(
                    "{TIMESTAMP_HEADER} is {} s from the server's clock (at most {} s)",
                    skew / 1000,
                    MAX_CLOCK_SKEW_MS / 1000
                ),
            ));
        }
        verify_request(
            signing_key,
            &request.method,
            &request.path,
            timestamp_ms,
            &request.body,
            signature,
        )
        .map_err(|_| refuse(401, BAD_SIGNATURE))?;
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| refuse(500, "the key directory failed"))?;
        if seen.len() >= SWEEP_SIGNATURES_AT {
            let expired: Vec<String> = seen
                .iter()
                .filter(|(_, expires)| **expires <= now)
                .map(|(signature, _)| signature.clone())
                .collect();
            let forget: Vec<Change> = expired
                .iter()
                .map(|signature| Change::Delete(format!("{SIGNATURE_PREFIX}{signature}")))
                .collect();
            expired.iter().for_each(|signature| {
                seen.remove(signature);
            });
            if let Err(error) = self.store.apply(&forget) {
                tracing::warn!(error = %format!("{error:#}"), "cannot remove expired key-directory signatures");
            }
        }
        if !self.within_signature_budget(account, now) {
            return Err(refuse(
                429,
                "too many signed requests from this account: try again in a few minutes",
            ));
        }
        let signature = signature.to_ascii_lowercase();
        let expires = timestamp_ms + MAX_CLOCK_SKEW_MS;
        if seen.insert(signature.clone(), expires).is_some() {
            return Err(refuse(
                401,
                "this signed request was already accepted (replay)",
            ));
        }
        self.store
            .set(
                &format!("{SIGNATURE_PREFIX}{signature}"),
                expires.to_string().as_bytes(),
            )
            .map_err(|_| refuse(500, "the key directory failed"))?;
        Ok(())
    }

    /// The identity bound to `account`, or 401: a caller without one cannot
    /// sign anything the directory can check.
    /// Whether `account` may have one more signed request accepted at
    /// `now`; if so, it is counted.
    fn within_signature_budget(&self, account: &Account, now: u64) -> bool {
        let Ok(mut counts) = self.signatures_per_account.lock() else {
            return false;
        };
        if counts.len() > 100_000 {
            counts.retain(|_, (start, _)| now.saturating_sub(*start) < MAX_CLOCK_SKEW_MS * 2);
        }
        let count = counts.entry(account.clone()).or_insert((now, 0));
        if now.saturating_sub(count.0) >= MAX_CLOCK_SKEW_MS * 2 {
            *count = (now, 0);
        }
        if count.1 >= MAX_SIGNATURES_PER_ACCOUNT {
            return false;
        }
        count.1 += 1;
        true
    }

    /// Whether `caller` may take one more of `contact`'s one-time prekeys
    /// today; if so, it is counted.
    fn may_take_prekey(&self, caller: &Account, contact: &Account, now: u64) -> bool {
        let Ok(mut taken) = self.prekeys_taken.lock() else {
            return false;
        };
        let day = now / (24 * 60 * 60 * 1000);
        if taken.len() > 100_000 {
            taken.retain(|_, (at, _)| *at == day);
        }
        let count = taken
            .entry((caller.clone(), contact.clone()))
            .or_insert((day, 0));
        if count.0 != day {
            *count = (day, 0);
        }
        if count.1 >= MAX_ONE_TIME_PREKEYS_PER_CALLER_PER_DAY {
            return false;
        }
        count.1 += 1;
        true
    }

    fn bound(
        &self,
        account: &Account,
        request: &KeyRequest,
    ) -> std::result::Result<(PublishedKeys, [u8; 32]), Reply> {
        // Unsigned, the request is answered alike whether or not the
        // account has an identity bound.
        if request.timestamp.is_none() || request.signature.is_none() {
            return Err(missing_signature());
        }
        let Some(published) = read::<PublishedKeys>(&self.store, &published_keys_key(account))?
        else {
            return Err(refuse(401, BAD_SIGNATURE));
        };
        let identity = published.identity.parse().map_err(|error| {
            Reply::from(anyhow::anyhow!("stored identity is unreadable: {error}"))
        })?;
        Ok((published, identity.signing_key))
    }

    /// Whether the request carries the operator's token; a wrong one is a 403.
    fn operator(&self, request: &KeyRequest) -> std::result::Result<bool, Reply> {
        let Some(presented) = &request.bearer else {
            return Ok(false);
        };
        if self.admin_token.is_empty() {
            return Err(refuse(
                403,
                "operator actions are off: set the admin_token variable",
            ));
        }
        if same_token(&self.admin_token, presented) {
            Ok(true)
        } else {
            Err(refuse(403, "wrong admin token"))
        }
    }

    fn audit(
        &self,
        action: &str,
        account: &Account,
        key_id: &str,
        at_ms: u64,
    ) -> Result<Vec<Change>> {
        let details = json!({ "account": account, "key_id": key_id });
        crate::audit::append(&self.store, "key-directory", action, details, at_ms)
    }

    fn stored_prekeys(&self, account: &Account) -> Result<usize> {
        Ok(self
            .store
            .scan_prefix(&one_time_prekey_prefix(account), MAX_STORED_PREKEYS + 1)?
            .len())
    }

    /// Changes that add `keys` to the account's one-time prekeys, refusing to
    /// hold more than [`MAX_STORED_PREKEYS`] (`already` are stored).
    fn prekey_changes(
        account: &Account,
        keys: &[[u8; 32]],
        already: usize,
    ) -> std::result::Result<Vec<Change>, Reply> {
        if keys.len() > MAX_PREKEYS_PER_REQUEST {
            return Err(refuse(
                413,
                format!(
                    "{} one-time prekeys in one request; at most {MAX_PREKEYS_PER_REQUEST}",
                    keys.len()
                ),
            ));
        }
        if already + keys.len() > MAX_STORED_PREKEYS {
            return Err(refuse(
                409,
                format!(
                    "the account holds {already} one-time prekeys; {} more would pass the limit of {MAX_STORED_PREKEYS}",
                    keys.len()
                ),
            ));
        }
        Ok(keys
            .iter()
            .map(|key| {
                let hex = sealing::hex::to_hex(key);
                Change::SetIfAbsent(one_time_prekey_key(account, &hex), hex.into_bytes())
            })
            .collect())
    }

    fn publish(&self, account: &Account, request: &KeyRequest) -> Answer {
        let body: PublishRequest = parse_json(&request.body)?;
        let verified = body.verify().map_err(bad_keys)?;
        let _one_at_a_time = self
            .publishing
            .lock()
            .map_err(|_| refuse(500, "the key directory failed"))?;
        let membership: Option<Membership> = read(&self.store, &membership_key(account))?;
        if membership.is_none_or(|membership| membership.endpoints.is_empty()) {
            return Err(refuse(
                403,
                "the account is in no conversation: only members of a conversation publish keys",
            ));
        }
        // Proof of possession: the request is signed by the identity it
        // publishes (for an identity already bound, that is the bound one).
        self.authenticate(account, request, &verified.identity.signing_key)?;
        let existing = read::<PublishedKeys>(&self.store, &published_keys_key(account))?;
        let new_identity = IdentityJson::from_identity(&verified.identity);
        let key_id = verified.identity.key_id();
        let replacing = existing
            .as_ref()
            .is_some_and(|existing| existing.identity != new_identity);
        if replacing && !self.operator(request)? {
            return Err(refuse(
                409,
                "a different identity key is bound to this account: replacing it needs the operator (Authorization: Bearer <admin token>)",
            ));
        }
        let now = now_ms();
        let mut changes = Vec::new();
        let already = if replacing {
            for (key, _) in self
                .store
                .scan_prefix(&one_time_prekey_prefix(account), usize::MAX)?
            {
                changes.push(Change::Delete(key));
            }
            0
        } else {
            self.stored_prekeys(account)?
        };
        changes.extend(Self::prekey_changes(
            account,
            &verified.one_time_prekeys,
            already,
        )?);
        let record = PublishedKeys {
            identity: new_identity,
            signed_prekey: body.signed_prekey.clone(),
            bound_at_ms: match &existing {
                Some(existing) if !replacing => existing.bound_at_ms,
                _ => now,
            },
            updated_at_ms: now,
        };
        changes.push(Change::Set(published_keys_key(account), to_json(&record)?));
        match (&existing, replacing) {
            (None, _) => changes.extend(self.audit("keys-bind", account, &key_id, now)?),
            (Some(_), true) => changes.extend(self.audit("keys-replace", account, &key_id, now)?),
            (Some(_), false) => {}
        }
        self.store.apply(&changes)?;
        let stored = self.stored_prekeys(account)?;
        let status = if existing.is_none() || replacing {
            201
        } else {
            200
        };
        Ok(reply(
            status,
            json!({ "key_id": key_id, "bound": status == 201, "one_time_prekeys": stored }),
        ))
    }

    fn add_prekeys(&self, account: &Account, request: &KeyRequest) -> Answer {
        let (_, signing_key) = self.bound(account, request)?;
        self.authenticate(account, request, &signing_key)?;
        let body: OneTimePrekeysRequest = parse_json(&request.body)?;
        let keys = parse_one_time_prekeys(&body.one_time_prekeys).map_err(bad_keys)?;
        let _one_at_a_time = self
            .publishing
            .lock()
            .map_err(|_| refuse(500, "the key directory failed"))?;
        let changes = Self::prekey_changes(account, &keys, self.stored_prekeys(account)?)?;
        self.store.apply(&changes)?;
        Ok(reply(
            200,
            json!({ "one_time_prekeys": self.stored_prekeys(account)? }),
        ))
    }

    fn status(&self, account: &Account, request: &KeyRequest) -> Answer {
        let (published, signing_key) = self.bound(account, request)?;
        self.authenticate(account, request, &signing_key)?;
        let key_id = published
            .identity
            .parse()
            .map(|identity| identity.key_id())
            .unwrap_or_default();
        Ok(reply(
            200,
            json!({
                "key_id": key_id,
                "identity": published.identity,
                "signed_prekey": published.signed_prekey,
                "one_time_prekeys": self.stored_prekeys(account)?,
                "bound_at_ms": published.bound_at_ms,
                "updated_at_ms": published.updated_at_ms,
            }),
        ))
    }

    fn reset(&self, account: &Account, request: &KeyRequest) -> Answer {
        if !self.operator(request)? {
            return Err(refuse(
                401,
                "unbinding an identity needs the operator: Authorization: Bearer <admin token>",
            ));
        }
        let _one_at_a_time = self
            .publishing
            .lock()
            .map_err(|_| refuse(500, "the key directory failed"))?;
        let Some(published) = read::<PublishedKeys>(&self.store, &published_keys_key(account))?
        else {
            return Err(refuse(404, "no identity key is bound to this account"));
        };
        let key_id = published
            .identity
            .parse()
            .map(|identity| identity.key_id())
            .unwrap_or_default();
        let mut changes = vec![Change::Delete(published_keys_key(account))];
        for (key, _) in self
            .store
            .scan_prefix(&one_time_prekey_prefix(account), usize::MAX)?
        {
            changes.push(Change::Delete(key));
        }
        changes.extend(self.audit("keys-reset", account, &key_id, now_ms())?);
        self.store.apply(&changes)?;
        Ok(reply(200, json!({ "unbound": key_id })))
    }

    fn fetch(
        &self,
        caller: &Account,
        conversation: &str,
        handle: &str,
        request: &KeyRequest,
    ) -> Answer {
        let (_, signing_key) = self.bound(caller, request)?;
        self.authenticate(caller, request, &signing_key)?;
        let Some(record) =
            read::<ConversationRecord>(&self.store, &conversation_key(conversation))?
        else {
            return Err(refuse(404, NO_BUNDLE));
        };
        if !record.is_active_member(caller) {
            return Err(refuse(404, NO_BUNDLE));
        }
        let Some(contact) = record
            .active_members()
            .find(|member| member.handle == handle && member.account != *caller)
            .map(|member| &member.account)
        else {
            return Err(refuse(404, NO_BUNDLE));
        };
        let consent: Option<ConsentRecord> = read(
            &self.store,
            &consent_key(contact, ConsentScope::PublishKeys),
        )?;
        if !consent.is_some_and(|consent| consent.granted) {
            return Err(refuse(404, NO_BUNDLE));
        }
        if read::<BlockRecord>(&self.store, &block_key(contact, caller))?.is_some() {
            return Err(refuse(404, NO_BUNDLE));
        }
        let Some(published) = read::<PublishedKeys>(&self.store, &published_keys_key(contact))?
        else {
            return Err(refuse(404, NO_BUNDLE));
        };
        let one_time_prekey = if self.may_take_prekey(caller, contact, now_ms()) {
            self.store
                .take_first(&one_time_prekey_prefix(contact))?
                .map(|(_, value)| String::from_utf8_lossy(&value).into_owned())
        } else {
            None
        };
        let key_id = published
            .identity
            .parse()
            .map(|identity| identity.key_id())
            .unwrap_or_default();
        let bundle = BundleJson {
            key_id,
            identity: published.identity,
            signed_prekey: published.signed_prekey,
            one_time_prekey,
        };
        Ok(reply(200, json!(bundle)))
    }
}

/// The answer to a request without its signature headers.
fn missing_signature() -> Reply {
    refuse(
        401,
        format!(
            "missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}: requests are signed with the account's identity key"
        ),
    )
}

/// The route's shape, for logs: no account ids.
fn route_name(path: &str) -> &'static str {
    match parse_route(path) {
        Some(Route::Account(_)) => "/keys/accounts/{account}",
        Some(Route::OneTimePrekeys(_)) => "/keys/accounts/{account}/one-time-prekeys",
        Some(Route::Contact(..)) => {
            "/keys/accounts/{account}/conversations/{conversation}/members/{handle}"
        }
        None => "unknown",
    }
}

fn too_big() -> Reply {
    refuse(
        413,
        format!("the body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

fn json_response(reply: Reply) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(reply.body.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn routes_parse_and_name_no_account() {
        let account = |platform: &str, id: &str| Account {
            platform: platform.into(),
            id: id.into(),
        };
        assert_eq!(
            parse_route("/keys/accounts/whatsapp/1650"),
            Some(Route::Account(account("whatsapp", "1650")))
        );
        assert_eq!(
            parse_route("/keys/accounts/whatsapp/1650/one-time-prekeys"),
            Some(Route::OneTimePrekeys(account("whatsapp", "1650")))
        );
        assert_eq!(
            parse_route("/keys/accounts/whatsapp/1650/conversations/c-1/members/sb-2"),
            Some(Route::Contact(
                account("whatsapp", "1650"),
                "c-1".into(),
                "sb-2".into()
            ))
        );
        for path in [
            "/keys",
            "/keys/accounts/whatsapp",
            "/keys/accounts/a/b/c",
            "/keys/x/y",
        ] {
            assert_eq!(parse_route(path), None, "{path}");
        }
        assert!(!route_name("/keys/accounts/whatsapp/1650").contains("1650"));
    }

    #[test]
    fn accepted_signatures_outlive_a_restart_until_their_window_ends() {
        let dir = std::env::temp_dir().join(format!("switchboard-keysig-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let stores = KeyValueStores::open(None, &dir).unwrap();
        let store = stores.get("default").unwrap();
        let now = now_ms();
        store
            .set("keysig:fresh", (now + 60_000).to_string().as_bytes())
            .unwrap();
        store
            .set("keysig:stale", (now - 1).to_string().as_bytes())
            .unwrap();
        let remembered = remembered_signatures(&store);
        assert_eq!(remembered.get("fresh"), Some(&(now + 60_000)));
        assert!(!remembered.contains_key("stale"));
        assert_eq!(
            store.get("keysig:stale").unwrap(),
            None,
            "expired ones are removed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("secret", "secret"));
        assert!(!same_token("secret", "secre"));
        assert!(!same_token("secret", "secrex"));
        assert!(!same_token("", "x"));
    }

    #[test]
    fn one_account_flooding_signed_requests_locks_out_only_itself() {
        let directory = KeyDirectory::new(
            crate::outbox::tests::scratch_store("keys-budget"),
            String::new(),
        );
        let account = |id: &str| Account {
            platform: "whatsapp".into(),
            id: id.into(),
        };
        let now = 1_000_000;
        for _ in 0..MAX_SIGNATURES_PER_ACCOUNT {
            assert!(directory.within_signature_budget(&account("flooder"), now));
        }
        assert!(!directory.within_signature_budget(&account("flooder"), now + 1));
        assert!(directory.within_signature_budget(&account("someone-else"), now + 1));
        // The window passes: the flooder may sign again.
        assert!(
            directory.within_signature_budget(&account("flooder"), now + 2 * MAX_CLOCK_SKEW_MS)
        );
    }

    #[test]
    fn a_caller_takes_few_of_one_contacts_prekeys_a_day() {
        let directory = KeyDirectory::new(
            crate::outbox::tests::scratch_store("keys-prekeys"),
            String::new(),
        );
        let account = |platform: &str, id: &str| Account {
            platform: platform.into(),
            id: id.into(),
        };
        let (caller, contact) = (account("whatsapp", "1"), account("messenger", "2"));
        let day = 24 * 60 * 60 * 1000;
        for _ in 0..MAX_ONE_TIME_PREKEYS_PER_CALLER_PER_DAY {
            assert!(directory.may_take_prekey(&caller, &contact, day));
        }
        assert!(!directory.may_take_prekey(&caller, &contact, day + 1));
        assert!(
            directory.may_take_prekey(&account("whatsapp", "3"), &contact, day + 1),
            "another caller is not held back"
        );
        assert!(
            directory.may_take_prekey(&caller, &contact, 2 * day),
            "a new day"
        );
    }
}
