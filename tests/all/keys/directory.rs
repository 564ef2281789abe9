//! The key directory of `switchboard up` (`/keys/...`) over real HTTP: signed
//! publishes, identity binding and its operator reset, bundles handed out only
//! within a link and with consent, and one-time prekeys handed out once, even
//! to concurrent fetches.

use crate::runtime::up::{ADMIN_TOKEN, Host, agent, state_dir};
use sealing::key_directory::{BundleJson, PublishRequest, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use sealing::keys::{self, KeyPair};
use sealing::session::IdentityKeyPair;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use switchboard_runtime::key_value::{Change, KeyValueStores};

pub const ALICE_WA: &str = "16505551234";
pub const BOB_PSID: &str = "6000000001";

/// A client of the key directory: an account and its identity.
pub struct Client {
    pub platform: &'static str,
    pub id: &'static str,
    pub identity: IdentityKeyPair,
    pub signed_prekey: KeyPair,
    pub one_time_prekeys: Vec<KeyPair>,
}

/// A timestamp per request: two requests never sign the same bytes.
fn timestamp_ms() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let previous = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(last.max(now - 1) + 1)
        })
        .unwrap_or(now);
    previous.max(now - 1) + 1
}

/// Sends one request; the body is JSON, the answer is parsed as JSON.
pub fn send(
    base: &str,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> (u16, Value) {
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request.body(body.to_vec()).expect("request");
    let mut response = agent().run(request).expect("answered");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text:?}"));
    (status, value)
}

/// The signature headers for a request signed by `identity` at `timestamp`.
pub fn signature_headers(
    identity: &IdentityKeyPair,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp: u64,
) -> Vec<(&'static str, String)> {
    vec![
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (
            SIGNATURE_HEADER,
            identity.sign_request(method, path, timestamp, body),
        ),
    ]
}

impl Client {
    pub fn new(platform: &'static str, id: &'static str, one_time_prekeys: usize) -> Client {
        Client {
            platform,
            id,
            identity: IdentityKeyPair::generate().expect("random"),
            signed_prekey: keys::generate_key_pair().expect("random"),
            one_time_prekeys: (0..one_time_prekeys)
                .map(|_| keys::generate_key_pair().expect("random"))
                .collect(),
        }
    }

    pub fn path(&self) -> String {
        format!("/keys/accounts/{}/{}", self.platform, self.id)
    }

    /// Sends a request signed with this client's identity.
    pub fn signed(&self, base: &str, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let headers = signature_headers(&self.identity, method, path, body, timestamp_ms());
        send(base, method, path, body, &headers)
    }

    pub fn publish_body(&self) -> Vec<u8> {
        let one_time: Vec<[u8; 32]> = self.one_time_prekeys.iter().map(|k| k.public_key).collect();
        let request =
            PublishRequest::new(&self.identity, &self.signed_prekey.public_key, &one_time);
        serde_json::to_vec(&request).expect("json")
    }

    /// Publishes this client's keys.
    pub fn publish(&self, base: &str) -> (u16, Value) {
        self.signed(base, "PUT", &self.path(), &self.publish_body())
    }

    /// Fetches the bundle of the member whose handle is `handle` in
    /// `conversation` (as the admin API answered it).
    pub fn fetch(&self, base: &str, conversation: &Value, handle: &str) -> (u16, Value) {
        let id = conversation["id"].as_str().unwrap_or_default();
        self.signed(
            base,
            "GET",
            &format!("{}/conversations/{id}/members/{handle}", self.path()),
            b"",
        )
    }
}

/// Calls the admin API; the status.
pub fn admin(base: &str, method: &str, path: &str, body: Value) -> u16 {
    let headers = [("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    send(base, method, path, body.to_string().as_bytes(), &headers).0
}

/// Puts `accounts` in one conversation (direct for two, a group for more;
/// one account gets a partner, so that it is in a conversation), each
/// consenting to cross-app messaging and to `scopes`; answers the
/// conversation as the admin API shows it.
pub fn converse(base: &str, accounts: &[(&str, &str)], scopes: &[&str]) -> Value {
    let mut members: Vec<(&str, &str)> = accounts.to_vec();
    if members.len() == 1 {
        members.push(("messenger", "6999999999"));
    }
    for (platform, id) in &members {
        let account = json!({ "platform": platform, "id": id });
        for scope in std::iter::once(&"cross-app-messaging").chain(scopes) {
            let consent = json!({ "account": account, "scope": scope, "granted": true });
            assert_eq!(admin(base, "POST", "/admin/consents", consent), 200);
        }
    }
    let kind = if members.len() == 2 {
        "direct"
    } else {
        "group"
    };
    let members: Vec<Value> = members
        .iter()
        .map(|(platform, id)| json!({ "platform": platform, "id": id }))
        .collect();
    let headers = [("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    let body = json!({ "kind": kind, "members": members }).to_string();
    let (status, created) = send(
        base,
        "POST",
        "/admin/conversations",
        body.as_bytes(),
        &headers,
    );
    assert_eq!(status, 201, "{created}");
    created
}

/// The handle of `platform:id` in a conversation the admin API answered.
pub fn handle_in(conversation: &Value, platform: &str, id: &str) -> String {
    conversation["members"]
        .as_array()
        .and_then(|members| {
            members
                .iter()
                .find(|member| member["platform"] == platform && member["id"] == id)
        })
        .and_then(|member| member["handle"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| format!("no member {platform}:{id} in {conversation}"))
}

fn error(reply: &Value) -> &str {
    reply["error"].as_str().unwrap_or_default()
}

#[test]
fn publishing_is_signed_and_binds_the_identity() {
    let dir = state_dir("keys-publish");
    let host = Host::start(&dir);
    let base = host.base.as_str();
    let alice = Client::new("whatsapp", ALICE_WA, 2);

    // Only members of a conversation publish.
    let (status, reply) = alice.publish(base);
    assert_eq!(status, 403, "{reply}");
    assert!(error(&reply).contains("no conversation"), "{reply}");
    converse(base, &[("whatsapp", ALICE_WA)], &[]);

    // Unsigned, signed by someone else, stale, or with a bad prekey signature: refused.
    let body = alice.publish_body();
    let (status, reply) = send(base, "PUT", &alice.path(), &body, &[]);
    assert_eq!(status, 401, "{reply}");
    assert!(error(&reply).contains(SIGNATURE_HEADER), "{reply}");
    let mallory = IdentityKeyPair::generate().unwrap();
    let headers = signature_headers(&mallory, "PUT", &alice.path(), &body, timestamp_ms());
    let (status, reply) = send(base, "PUT", &alice.path(), &body, &headers);
    assert_eq!(status, 401, "{reply}");
    let stale = timestamp_ms() - 10 * 60 * 1000;
    let headers = signature_headers(&alice.identity, "PUT", &alice.path(), &body, stale);
    let (status, reply) = send(base, "PUT", &alice.path(), &body, &headers);
    assert_eq!(status, 401, "{reply}");
    assert!(error(&reply).contains("from the server's clock"), "{reply}");
    let mut forged: Value = serde_json::from_slice(&body).unwrap();
    forged["signed_prekey"]["key"] = json!(sealing::hex::to_hex(&[7u8; 32]));
    let forged = forged.to_string().into_bytes();
    let (status, reply) = alice.signed(base, "PUT", &alice.path(), &forged);
    assert_eq!(status, 400, "{reply}");
    assert_eq!(
        error(&reply),
        "signed_prekey.signature does not verify with identity.signing_key"
    );
    let mut short: Value = serde_json::from_slice(&body).unwrap();
    short["identity"]["dh_key"] = json!("abcd");
    let short = short.to_string().into_bytes();
    let (status, reply) = alice.signed(base, "PUT", &alice.path(), &short);
    assert_eq!(status, 400, "{reply}");
    assert!(error(&reply).contains("identity.dh_key"), "{reply}");
    let (status, _) = alice.signed(base, "PUT", &alice.path(), b"{\"identity\":");
    assert_eq!(status, 400);
    let huge = vec![b' '; 70 << 10];
    let (status, reply) = alice.signed(base, "PUT", &alice.path(), &huge);
    assert_eq!(status, 413, "{reply}");

    // The first publish binds; the same request again is a replay.
    let timestamp = timestamp_ms();
    let headers = signature_headers(&alice.identity, "PUT", &alice.path(), &body, timestamp);
    let (status, reply) = send(base, "PUT", &alice.path(), &body, &headers);
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["key_id"], alice.identity.public().key_id());
    assert_eq!(reply["one_time_prekeys"], 2);
    let (status, reply) = send(base, "PUT", &alice.path(), &body, &headers);
    assert_eq!(status, 401, "{reply}");
    assert!(error(&reply).contains("replay"), "{reply}");

    // A new signed prekey under the same identity: 200, prekeys kept.
    let rotated = Client {
        signed_prekey: keys::generate_key_pair().unwrap(),
        one_time_prekeys: vec![keys::generate_key_pair().unwrap()],
        ..alice
    };
    let (status, reply) = rotated.publish(base);
    assert_eq!(
        (status, reply["one_time_prekeys"].as_u64()),
        (200, Some(3)),
        "{reply}"
    );
    let (status, reply) = rotated.signed(base, "GET", &rotated.path(), b"");
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["signed_prekey"]["key"],
        sealing::hex::to_hex(&rotated.signed_prekey.public_key)
    );
    let more = json!({ "one_time_prekeys": [sealing::hex::to_hex(&[9u8; 32])] }).to_string();
    let path = format!("{}/one-time-prekeys", rotated.path());
    let (status, reply) = rotated.signed(base, "POST", &path, more.as_bytes());
    assert_eq!(
        (status, reply["one_time_prekeys"].as_u64()),
        (200, Some(4)),
        "{reply}"
    );
    let too_many: Vec<String> = (0..501).map(|i| format!("{i:064x}")).collect();
    let too_many = json!({ "one_time_prekeys": too_many }).to_string();
    let (status, reply) = rotated.signed(base, "POST", &path, too_many.as_bytes());
    assert_eq!(status, 413, "{reply}");

    // Another identity for the account: a conflict, unless the operator says so.
    let thief = Client::new("whatsapp", ALICE_WA, 1);
    let (status, reply) = thief.publish(base);
    assert_eq!(status, 409, "{reply}");
    assert!(error(&reply).contains("operator"), "{reply}");
    let body = thief.publish_body();
    let mut headers =
        signature_headers(&thief.identity, "PUT", &thief.path(), &body, timestamp_ms());
    headers.push(("authorization", "Bearer wrong".into()));
    let (status, _) = send(base, "PUT", &thief.path(), &body, &headers);
    assert_eq!(status, 403);
    let mut headers =
        signature_headers(&thief.identity, "PUT", &thief.path(), &body, timestamp_ms());
    headers.push(("authorization", format!("Bearer {ADMIN_TOKEN}")));
    let (status, reply) = send(base, "PUT", &thief.path(), &body, &headers);
    assert_eq!(status, 201, "{reply}");
    // The old identity's one-time prekeys went with it.
    assert_eq!(reply["one_time_prekeys"], 1, "{reply}");
    let (status, _) = rotated.signed(base, "GET", &rotated.path(), b"");
    assert_eq!(
        status, 401,
        "the old identity no longer signs for the account"
    );

    // The operator unbinds; the audit log has the bind, the replacement and the reset.
    let (status, _) = send(base, "DELETE", &thief.path(), b"", &[]);
    assert_eq!(status, 401);
    let headers = [("authorization", format!("Bearer {ADMIN_TOKEN}"))];
    let (status, reply) = send(base, "DELETE", &thief.path(), b"", &headers);
    assert_eq!(status, 200, "{reply}");
    let (status, _) = send(base, "DELETE", &thief.path(), b"", &headers);
    assert_eq!(status, 404);
    let (_, log) = send(base, "GET", "/admin/audit", b"", &headers);
    let actions: Vec<&str> = log["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|record| record["action"].as_str())
        .filter(|action| action.starts_with("keys-"))
        .collect();
    assert_eq!(
        actions,
        ["keys-bind", "keys-replace", "keys-reset"],
        "{log}"
    );

    // Unknown routes and methods.
    let (status, _) = send(base, "GET", "/keys/nothing", b"", &[]);
    assert_eq!(status, 404);
    let (status, _) = send(base, "PATCH", &thief.path(), b"", &[]);
    assert_eq!(status, 405);
    let (status, _) = send(base, "GET", "/keys/accounts/WhatsApp/1", b"", &[]);
    assert_eq!(status, 400);
}

#[test]
fn bundles_go_only_to_members_of_a_shared_conversation_who_consented_each_prekey_once() {
    let dir = state_dir("keys-fetch");
    let host = Host::start(&dir);
    let base = host.base.as_str();
    let alice = Client::new("whatsapp", ALICE_WA, 0);
    let bob = Client::new("messenger", BOB_PSID, 3);
    let carol = Client::new("instagram", "17840000000000001", 0);
    let pair = converse(
        base,
        &[("whatsapp", ALICE_WA), ("messenger", BOB_PSID)],
        &[],
    );
    let bob_handle = handle_in(&pair, "messenger", BOB_PSID);
    let alice_handle = handle_in(&pair, "whatsapp", ALICE_WA);
    let carols = converse(base, &[("instagram", carol.id)], &[]);

    // A caller must have published: nothing else identifies it.
    let (status, reply) = alice.fetch(base, &pair, &bob_handle);
    assert_eq!(status, 401, "{reply}");
    for client in [&alice, &bob, &carol] {
        assert_eq!(client.publish(base).0, 201);
    }
    // Every refusal of a bundle reads the same, whatever its reason: the
    // caller learns nothing of the contact from it.
    let (status, no_bundle) = alice.fetch(base, &pair, &bob_handle);
    assert_eq!(status, 404, "no consent yet: {no_bundle}");
    assert!(
        !no_bundle.to_string().contains("publish-keys"),
        "{no_bundle}"
    );
    let consent = json!({ "account": { "platform": "messenger", "id": BOB_PSID },
                          "scope": "publish-keys", "granted": true });
    assert_eq!(admin(base, "POST", "/admin/consents", consent), 200);

    // Carol is not in Alice and Bob's conversation; Alice cannot reach into
    // Carol's; a handle that is nobody's, or the caller's own, is no contact.
    let (status, reply) = carol.fetch(base, &pair, &bob_handle);
    assert_eq!((status, &reply), (404, &no_bundle), "not a member");
    let carol_partner = handle_in(&carols, "messenger", "6999999999");
    let (status, reply) = alice.fetch(base, &carols, &carol_partner);
    assert_eq!(
        (status, &reply),
        (404, &no_bundle),
        "not the caller's conversation"
    );
    let (status, reply) = alice.fetch(base, &pair, "sb-00000000000000000000");
    assert_eq!((status, &reply), (404, &no_bundle), "no such member");
    let (status, reply) = alice.fetch(base, &pair, &alice_handle);
    assert_eq!(
        (status, &reply),
        (404, &no_bundle),
        "the caller is no contact of theirs"
    );

    let mut handed_out = BTreeSet::new();
    for _ in 0..3 {
        let (status, reply) = alice.fetch(base, &pair, &bob_handle);
        assert_eq!(status, 200, "{reply}");
        let bundle: BundleJson = serde_json::from_value(reply.clone()).expect("a bundle");
        let verified = bundle.verify().expect("the bundle verifies");
        assert_eq!(verified.identity, bob.identity.public());
        assert_eq!(verified.signed_prekey, bob.signed_prekey.public_key);
        let one_time = verified.one_time_prekey.expect("a one-time prekey");
        assert!(
            bob.one_time_prekeys
                .iter()
                .any(|k| k.public_key == one_time)
        );
        assert!(handed_out.insert(one_time), "handed out twice");
        let text = reply.to_string();
        assert!(
            !text.contains(BOB_PSID) && !text.contains(ALICE_WA),
            "{text}"
        );
    }
    let (status, reply) = alice.fetch(base, &pair, &bob_handle);
    assert_eq!(status, 200);
    assert_eq!(reply["one_time_prekey"], Value::Null, "none left: {reply}");
    let (_, reply) = bob.signed(base, "GET", &bob.path(), b"");
    assert_eq!(reply["one_time_prekeys"], 0);

    // A block or a withdrawn consent stops the bundles.
    let block = json!({ "blocker": { "platform": "messenger", "id": BOB_PSID },
                        "blocked": { "platform": "whatsapp", "id": ALICE_WA } });
    assert_eq!(admin(base, "POST", "/admin/blocks", block.clone()), 200);
    let (status, reply) = alice.fetch(base, &pair, &bob_handle);
    assert_eq!((status, &reply), (404, &no_bundle), "blocked");
    assert_eq!(admin(base, "DELETE", "/admin/blocks", block), 200);
    let withdraw = json!({ "account": { "platform": "messenger", "id": BOB_PSID },
                           "scope": "publish-keys", "granted": false });
    assert_eq!(admin(base, "POST", "/admin/consents", withdraw), 200);
    let (status, reply) = alice.fetch(base, &pair, &bob_handle);
    assert_eq!((status, &reply), (404, &no_bundle), "consent withdrawn");

    // An unsigned probe gets the same answer for an account that uses the
    // directory and for one that never did.
    let probe = |id: &str| {
        let request = ureq::http::Request::builder()
            .method("GET")
            .uri(format!(
                "{base}/keys/accounts/whatsapp/{id}/conversations/c-1/members/sb-1"
            ))
            .body(String::new())
            .expect("request");
        let mut response = agent().run(request).expect("answered");
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().expect("body"))
    };
    let known = probe(ALICE_WA);
    assert_eq!(known.0, 401);
    assert_eq!(known, probe("16505550000"), "a probe tells accounts apart");
}

#[test]
fn concurrent_fetches_get_each_one_time_prekey_once() {
    let dir = state_dir("keys-concurrent");
    let host = Host::start(&dir);
    let base = host.base.clone();
    let alice = Client::new("whatsapp", ALICE_WA, 0);
    let bob = Client::new("messenger", BOB_PSID, 10);
    let pair = converse(
        &base,
        &[("whatsapp", ALICE_WA), ("messenger", BOB_PSID)],
        &["publish-keys"],
    );
    let bob_handle = handle_in(&pair, "messenger", BOB_PSID);
    assert_eq!(alice.publish(&base).0, 201);
    assert_eq!(bob.publish(&base).0, 201);

    let answers: Vec<Value> = std::thread::scope(|scope| {
        let fetches: Vec<_> = (0..24)
            .map(|_| {
                let (alice, base, pair, bob_handle) = (&alice, &base, &pair, &bob_handle);
                scope.spawn(move || {
                    let (status, reply) = alice.fetch(base, pair, bob_handle);
                    assert_eq!(status, 200, "{reply}");
                    reply
                })
            })
            .collect();
        fetches
            .into_iter()
            .map(|fetch| fetch.join().expect("fetch"))
            .collect()
    });
    let given: Vec<&str> = answers
        .iter()
        .filter_map(|reply| reply["one_time_prekey"].as_str())
        .collect();
    let distinct: BTreeSet<&str> = given.iter().copied().collect();
    assert_eq!(given.len(), 10, "every prekey handed out: {answers:?}");
    assert_eq!(distinct.len(), 10, "none handed out twice: {given:?}");
}

#[test]
fn take_first_hands_each_entry_to_one_caller() {
    let dir = state_dir("keys-take-first");
    let stores = KeyValueStores::open(Some(&dir.join("runtime-config.toml")), &dir).unwrap();
    let store = stores.get("default").unwrap();
    let mut changes: Vec<Change> = (0..60)
        .map(|i| Change::Set(format!("prekey:a:{i:03}"), vec![i as u8]))
        .collect();
    // Neighbours on both sides of the prefix stay.
    changes.push(Change::Set("prekey:a".into(), vec![]));
    changes.push(Change::Set("prekey:ab:000".into(), vec![]));
    store.apply(&changes).unwrap();
    let taken: Vec<String> = std::thread::scope(|scope| {
        let takers: Vec<_> = (0..6)
            .map(|_| {
                let store = &store;
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    while let Some((key, value)) = store.take_first("prekey:a:").unwrap() {
                        assert_eq!(key, format!("prekey:a:{:03}", value[0]));
                        mine.push(key);
                    }
                    mine
                })
            })
            .collect();
        takers
            .into_iter()
            .flat_map(|taker| taker.join().unwrap())
            .collect()
    });
    let distinct: BTreeSet<&String> = taken.iter().collect();
    assert_eq!((taken.len(), distinct.len()), (60, 60));
    assert_eq!(store.keys().unwrap(), ["prekey:a", "prekey:ab:000"]);
    assert_eq!(store.take_first("prekey:a:").unwrap(), None);
}
