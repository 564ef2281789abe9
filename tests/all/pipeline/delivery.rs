//! The whole pipeline over real HTTP: a signed WhatsApp webhook into
//! `switchboard up`, consent and routing in the router component, the
//! Messenger translator, and a local HTTP server playing the platforms' send
//! APIs (down at first, then back). Refusals reach the sender as a notice on
//! their own app, and a block by one recipient leaves the others served; a
//! reaction and an edit on Messenger reach the original on WhatsApp after a
//! restart, through the message-id map on disk.

use crate::fixtures::webhook;
use crate::runtime::up::{ADMIN_TOKEN, Host, SECRET, agent, host_config, post, state_dir};
use gateway::verify::hub_signature;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_runtime::key_value::KeyValueStores;

/// The sample Messenger app secret from `spin.toml` (not overridden here).
pub const MESSENGER_SECRET: &str = "sample-messenger-app-secret";
const ALICE_WA: &str = "16505551234";
const BOB_PSID: &str = "6000000001";

/// One request the sink received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub idempotency_key: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub answered: u16,
    pub answer: Value,
}

/// A local HTTP server standing in for every platform's send API. It answers
/// 503 while `failures` is above zero, then as Meta's APIs answer a send.
pub struct Sink {
    pub base: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub failures: Arc<AtomicU32>,
}

impl Sink {
    pub fn start() -> Sink {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("sink listens");
        let base = format!(
            "http://{}",
            server.server_addr().to_ip().expect("ip address")
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicU32::new(0));
        let (log, failing) = (received.clone(), failures.clone());
        std::thread::spawn(move || {
            for (count, mut request) in server.incoming_requests().enumerate() {
                let mut text = String::new();
                let _ = request.as_reader().read_to_string(&mut text);
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let header = |name: &'static str| {
                    request
                        .headers()
                        .iter()
                        .find(|header| header.field.equiv(name))
                        .map(|header| header.value.to_string())
                };
                let down = failing
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                        left.checked_sub(1)
                    })
                    .is_ok();
                let (status, answer) = if down {
                    (
                        503,
                        json!({ "error": { "message": "temporarily unavailable" } }),
                    )
                } else if body["messaging_product"] == "whatsapp" {
                    (
                        200,
                        json!({ "messaging_product": "whatsapp",
                                "messages": [{ "id": format!("wamid.sink{count}") }] }),
                    )
                } else {
                    (
                        200,
                        json!({ "recipient_id": body["recipient"]["id"],
                                "message_id": format!("m_sink{count}") }),
                    )
                };
                log.lock().expect("log").push(Received {
                    path: request.url().to_string(),
                    idempotency_key: header("Idempotency-Key").unwrap_or_default(),
                    authorization: header("Authorization"),
                    body,
                    answered: status,
                    answer: answer.clone(),
                });
                let response = tiny_http::Response::from_string(answer.to_string())
                    .with_status_code(status)
                    .with_header(
                        tiny_http::Header::from_bytes("Content-Type", "application/json")
                            .expect("header"),
                    );
                let _ = request.respond(response);
            }
        });
        Sink {
            base,
            received,
            failures,
        }
    }

    /// Waits until a request matching `wanted` was answered 200.
    pub fn wait_for(&self, what: &str, wanted: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = self
                .received
                .lock()
                .expect("log")
                .iter()
                .find(|request| request.answered == 200 && wanted(request))
            {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {what} reached the sink; it saw {:#?}",
                self.received.lock().expect("log")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub fn admin(host: &Host, method: &str, path: &str, body: Value) -> u16 {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", host.base))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .expect("request");
    agent()
        .run(request)
        .expect("admin answers")
        .status()
        .as_u16()
}

pub fn account(platform: &str, id: &str) -> Value {
    json!({ "platform": platform, "id": id })
}

/// Has each of `accounts` consent to cross-app messaging and puts them in
/// one conversation (direct for two, a group for more), through the admin
/// API; answers what the API answered (`id`, `members` with endpoints).
pub fn converse(host: &Host, accounts: &[(&str, &str)]) -> Value {
    for (platform, id) in accounts {
        let consent = json!({ "account": account(platform, id),
                              "scope": "cross-app-messaging", "granted": true });
        assert_eq!(admin(host, "POST", "/admin/consents", consent), 200);
    }
    let kind = if accounts.len() == 2 {
        "direct"
    } else {
        "group"
    };
    let members: Vec<Value> = accounts
        .iter()
        .map(|(platform, id)| account(platform, id))
        .collect();
    let (status, created) = admin_json(
        host,
        "POST",
        "/admin/conversations",
        json!({ "kind": kind, "members": members }),
    );
    assert_eq!(status, 201, "{created}");
    created
}

/// An admin API call: its status and JSON answer.
pub fn admin_json(host: &Host, method: &str, path: &str, body: Value) -> (u16, Value) {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", host.base))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .expect("request");
    let mut response = agent().run(request).expect("admin answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The WhatsApp text fixture as sent by `from`, with its own message id.
pub fn whatsapp_text(from: &str, message_id: &str, text: &str) -> Vec<u8> {
    let body = webhook("whatsapp", "text.json");
    let mut value: Value = serde_json::from_slice(&body).expect("json");
    let change = &mut value["entry"][0]["changes"][0]["value"];
    change["contacts"][0]["wa_id"] = json!(from);
    change["messages"][0]["from"] = json!(from);
    change["messages"][0]["id"] = json!(message_id);
    change["messages"][0]["text"]["body"] = json!(text);
    value.to_string().into_bytes()
}

/// Posts `body` to a platform's ingress, signed with `secret` as Meta signs.
pub fn post_signed(host: &Host, platform: &str, secret: &str, body: &[u8]) -> (u16, Value) {
    let signature = hub_signature(secret, body);
    post(
        &host.base,
        &format!("/ingress/{platform}"),
        body,
        Some(&signature),
    )
}

pub fn metric(host: &Host, line_start: &str) -> f64 {
    let text = agent()
        .get(format!("{}/metrics", host.base))
        .call()
        .expect("metrics")
        .body_mut()
        .read_to_string()
        .expect("text");
    text.lines()
        .find(|line| line.starts_with(line_start))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// Waits until the metric reaches `value`, and fails if it goes past it.
pub fn wait_for_metric(host: &Host, line_start: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = metric(host, line_start);
        assert!(now <= value, "{line_start} is {now}, more than {value}");
        if now == value {
            return;
        }
        assert!(Instant::now() < deadline, "{line_start} stayed at {now}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_conversation_crosses_apps_and_refusals_reach_the_sender() {
    let dir = state_dir("pipeline");
    let sink = Sink::start();
    // An event about a message not delivered everywhere may wait up to a
    // minute (600 × 100 ms), longer than any wait below: it goes on sooner
    // only when the pipeline knows that message's deliveries have ended.
    let config = host_config(
        &dir,
        &sink.base,
        5,
        "[pipeline]\nhold_retry_ms = 100\nhold_tries = 600\n",
    );
    let first_sink_id;
    let alice_copy_of_bob;
    {
        let host = Host::start_with(&dir, &["--config".as_ref(), config.as_os_str()]);
        converse(&host, &[("whatsapp", ALICE_WA), ("messenger", BOB_PSID)]);

        // Messenger is down for the first two tries, then back.
        sink.failures.store(2, Ordering::SeqCst);
        let body = whatsapp_text(ALICE_WA, "wamid.alice1", "Does it come in another color?");
        let (status, reply) = post_signed(&host, "whatsapp", SECRET, &body);
        assert_eq!(status, 200, "{reply}");
        let delivered = sink.wait_for("Messenger send", |request| {
            request.body["recipient"]["id"] == BOB_PSID
        });
        // Sent from the Page Bob talks through (the endpoint of his
        // conversation with Alice).
        assert_eq!(delivered.path, "/v21.0/682498302938465/messages");
        assert!(
            delivered.body["message"]["text"]
                .as_str()
                .expect("text")
                .contains("Does it come in another color?"),
            "{:?}",
            delivered.body
        );
        let sent = delivered.body.to_string();
        assert!(
            !sent.contains(ALICE_WA) && !sent.contains("Sheena"),
            "the phone number or name crossed without consent: {sent}"
        );
        assert!(!delivered.idempotency_key.is_empty());
        assert_eq!(
            delivered.authorization.as_deref(),
            Some("Bearer test-messenger-token")
        );
        let tries = sink
            .received
            .lock()
            .expect("log")
            .iter()
            .filter(|request| request.idempotency_key == delivered.idempotency_key)
            .count();
        assert_eq!(tries, 3, "two failed tries, then the one that got through");
        assert!(metric(&host, "switchboard_retries_total{platform=\"messenger\"}") >= 2.0);
        wait_for_metric(
            &host,
            "switchboard_messages_out_total{platform=\"messenger\"}",
            1.0,
        );
        first_sink_id = delivered.answer["message_id"].clone();

        // Bob answers on Messenger, quoting what he got: Alice's copy quotes
        // her original.
        let mut answer: Value =
            serde_json::from_slice(&webhook("messenger", "reply.json")).expect("json");
        let event = &mut answer["entry"][0]["messaging"][0];
        event["sender"]["id"] = json!(BOB_PSID);
        event["message"]["mid"] = json!("m_bob_blue");
        event["message"]["text"] = json!("Blue, please");
        event["message"]["reply_to"]["mid"] = first_sink_id.clone();
        let (status, reply) = post_signed(
            &host,
            "messenger",
            MESSENGER_SECRET,
            answer.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{reply}");
        let answered = sink.wait_for("Bob's answer on WhatsApp", |request| {
            request.body["to"] == ALICE_WA
                && request.body["text"]["body"]
                    .as_str()
                    .is_some_and(|text| text.ends_with("\nBlue, please"))
        });
        assert_eq!(answered.body["context"]["message_id"], "wamid.alice1");
        alice_copy_of_bob = answered.answer["messages"][0]["id"].clone();

        // Someone in no conversation gets a notice on WhatsApp, and nothing crosses.
        let stranger = "15550009999";
        let body = whatsapp_text(stranger, "wamid.stranger1", "hello?");
        let (status, _) = post_signed(&host, "whatsapp", SECRET, &body);
        assert_eq!(status, 200);
        let notice = sink.wait_for("no-conversation notice", |request| {
            request.body["to"] == stranger
        });
        assert_eq!(notice.path, "/v21.0/106540352242922/messages");
        assert!(
            notice.body["text"]["body"]
                .as_str()
                .unwrap_or("")
                .starts_with("Not delivered"),
            "{:?}",
            notice.body
        );
        assert_eq!(
            metric(
                &host,
                "switchboard_rejections_total{reason=\"no-conversation\"}"
            ),
            1.0
        );

        // Bob withdraws consent: Alice's next message is refused with a notice.
        let withdraw = json!({ "account": account("messenger", BOB_PSID),
                               "scope": "cross-app-messaging", "granted": false });
        assert!(matches!(
            admin(&host, "POST", "/admin/consents", withdraw),
            200 | 201
        ));
        let body = whatsapp_text(ALICE_WA, "wamid.alice2", "are you there?");
        post_signed(&host, "whatsapp", SECRET, &body);
        sink.wait_for("no-consent notice", |request| {
            request.body["to"] == ALICE_WA
                && request.body["text"]["body"]
                    .as_str()
                    .is_some_and(|text| text.starts_with("Not delivered"))
        });
        assert_eq!(
            metric(&host, "switchboard_rejections_total{reason=\"no-consent\"}"),
            1.0
        );
        let crossed = sink
            .received
            .lock()
            .expect("log")
            .iter()
            .filter(|request| request.body.to_string().contains("are you there?"))
            .count();
        assert_eq!(crossed, 0, "a message crossed after consent was withdrawn");
        let consent = json!({ "account": account("messenger", BOB_PSID),
                              "scope": "cross-app-messaging", "granted": true });
        admin(&host, "POST", "/admin/consents", consent);

        // A group over three apps where one member blocked the sender: the
        // other still gets the message, and the sender is told about the block.
        let (erin, frank, gina) = ("15550001111", "6000000002", "17840000000000001");
        converse(
            &host,
            &[
                ("whatsapp", erin),
                ("messenger", frank),
                ("instagram", gina),
            ],
        );
        let block = json!({ "blocker": account("instagram", gina),
                            "blocked": account("whatsapp", erin) });
        assert_eq!(admin(&host, "POST", "/admin/blocks", block), 200);
        let body = whatsapp_text(erin, "wamid.erin1", "hello both");
        post_signed(&host, "whatsapp", SECRET, &body);
        let franks_copy = sink.wait_for("Frank's copy", |request| {
            request.body["recipient"]["id"] == frank
        });
        let notice = sink.wait_for("block notice", |request| request.body["to"] == erin);
        assert!(
            notice.body["text"]["body"]
                .as_str()
                .unwrap_or("")
                .starts_with("Not delivered"),
            "{:?}",
            notice.body
        );
        assert_eq!(
            metric(&host, "switchboard_rejections_total{reason=\"blocked\"}"),
            1.0
        );
        let to_gina = sink
            .received
            .lock()
            .expect("log")
            .iter()
            .filter(|request| request.body["recipient"]["id"] == gina)
            .count();
        assert_eq!(
            to_gina, 0,
            "a message reached someone who blocked its sender"
        );

        // Frank reacts to it: Gina never had the message and never will (her
        // delivery was refused), so Erin gets the reaction alone, at once
        // rather than after the minute of waiting for it to reach Gina.
        let mut reaction: Value =
            serde_json::from_slice(&webhook("messenger", "reaction.json")).expect("json");
        let event = &mut reaction["entry"][0]["messaging"][0];
        event["sender"]["id"] = json!(frank);
        event["reaction"]["mid"] = franks_copy.answer["message_id"].clone();
        let (status, reply) = post_signed(
            &host,
            "messenger",
            MESSENGER_SECRET,
            reaction.to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{reply}");
        let reacted = sink.wait_for("Frank's reaction on WhatsApp", |request| {
            request.body["to"] == erin && request.body["type"] == "reaction"
        });
        assert_eq!(reacted.body["reaction"]["message_id"], "wamid.erin1");
        assert_eq!(
            metric(
                &host,
                "switchboard_rejections_total{reason=\"unknown-message\"}"
            ),
            1.0,
            "the reaction is recorded as not reaching Gina"
        );
        // Every send the sink answered is committed before the restart (else
        // the restarted host sends it again, with the same key).
        let answered_on_whatsapp = sink
            .received
            .lock()
            .expect("log")
            .iter()
            .filter(|request| {
                request.answered == 200 && request.body["messaging_product"] == "whatsapp"
            })
            .count();
        wait_for_metric(
            &host,
            "switchboard_messages_out_total{platform=\"whatsapp\"}",
            answered_on_whatsapp as f64,
        );
    }

    // Meta delivered Alice's first webhook twice at once, and both requests
    // found it new: the second copy reaches the inbox after the first was
    // routed. It must be recognised as routed, not sent to Bob again.
    {
        let stores =
            KeyValueStores::open(Some(&dir.join("runtime-config.toml")), &dir).expect("open");
        let store = stores.get("default").expect("default store");
        let accepted = store
            .get("envelope:whatsapp:wamid.alice1")
            .expect("read")
            .expect("the accepted envelope is on record");
        store
            .set("inbox:whatsapp:wamid.alice1", &accepted)
            .expect("write");
    }
    let first_sends_to_bob = || {
        sink.received
            .lock()
            .expect("log")
            .iter()
            .filter(|request| {
                request.answered == 200
                    && request.body["recipient"]["id"] == BOB_PSID
                    && request
                        .body
                        .to_string()
                        .contains("Does it come in another color?")
            })
            .count()
    };
    assert_eq!(first_sends_to_bob(), 1);

    // After a restart, Bob's reaction on Messenger to the message he got
    // reaches Alice's original on WhatsApp.
    let host = Host::start_with(&dir, &["--config".as_ref(), config.as_os_str()]);
    let mut reaction: Value =
        serde_json::from_slice(&webhook("messenger", "reaction.json")).expect("json");
    let event = &mut reaction["entry"][0]["messaging"][0];
    event["sender"]["id"] = json!(BOB_PSID);
    event["reaction"]["mid"] = first_sink_id;
    let body = reaction.to_string().into_bytes();
    let (status, reply) = post_signed(&host, "messenger", MESSENGER_SECRET, &body);
    assert_eq!(status, 200, "{reply}");
    let reacted = sink.wait_for("reaction on WhatsApp", |request| {
        request.body["type"] == "reaction" && request.body["to"] == ALICE_WA
    });
    assert_eq!(reacted.body["reaction"]["message_id"], "wamid.alice1");

    // Bob edits his answer after the restart: WhatsApp cannot edit, so Alice
    // gets the new text quoting her copy of the old one.
    let mut edit: Value =
        serde_json::from_slice(&webhook("messenger", "message_edit.json")).expect("json");
    let event = &mut edit["entry"][0]["messaging"][0];
    event["sender"]["id"] = json!(BOB_PSID);
    event["message_edit"]["mid"] = json!("m_bob_blue");
    event["message_edit"]["text"] = json!("Green, please");
    let (status, reply) = post_signed(
        &host,
        "messenger",
        MESSENGER_SECRET,
        edit.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{reply}");
    let edited = sink.wait_for("Bob's edit on WhatsApp", |request| {
        request.body["to"] == ALICE_WA
            && request.body["text"]["body"]
                .as_str()
                .is_some_and(|text| text.ends_with("Green, please"))
    });
    assert_eq!(edited.body["context"]["message_id"], alice_copy_of_bob);
    // The sink answered; the host counts the deliveries once committed.
    wait_for_metric(
        &host,
        "switchboard_messages_out_total{platform=\"whatsapp\"}",
        2.0,
    );
    assert_eq!(
        first_sends_to_bob(),
        1,
        "the second copy of a webhook was delivered again"
    );
    assert_eq!(
        metric(
            &host,
            "switchboard_messages_out_total{platform=\"messenger\"}"
        ),
        0.0,
        "the restarted host sent something to Messenger"
    );
    drop(host);

    let stores = KeyValueStores::open(Some(&dir.join("runtime-config.toml")), &dir).expect("open");
    let store = stores.get("default").expect("default store");
    let keys = store.keys().expect("keys");
    assert!(
        keys.iter()
            .any(|key| key.starts_with("delivered:whatsapp:wamid.alice1")),
        "{keys:?}"
    );
    assert!(
        !keys
            .iter()
            .any(|key| key.starts_with("inbox:") || key.starts_with("outbox:")),
        "work left behind: {keys:?}"
    );
}
