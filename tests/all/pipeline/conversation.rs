//! A conversation over three apps through `switchboard up`, every event a
//! webhook shaped as the platforms document it (the fixtures), every delivery
//! checked at a local server playing the three send APIs:
//!
//! WhatsApp → Messenger + Instagram, a reply from Messenger, a reaction from
//! Instagram, an edit on Messenger, a message unsent on Instagram, a read
//! receipt on WhatsApp that reaches the author only, and an echo of our own
//! send that is never routed again. Then a business on Messenger reaching a
//! person on WhatsApp through the business API: marketing refused without
//! opt-in, delivered with it, refused again after the person replies STOP,
//! while an order update still goes through.

use crate::fixtures::webhook;
use crate::pipeline::delivery::{
    MESSENGER_SECRET, Received, Sink, account, admin, converse, metric, post_signed,
    wait_for_metric, whatsapp_text,
};
use crate::runtime::up::{BUSINESS_TOKEN, Host, SECRET, agent, host_config, state_dir};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use switchboard_runtime::key_value::KeyValueStores;

/// The sample Instagram app secret from `spin.toml` (not overridden here).
const INSTAGRAM_SECRET: &str = "sample-instagram-app-secret";
const ALICE_WA: &str = "16505550001";
/// The relay's Messenger Page and Instagram account (the first of each pool).
const PAGE: &str = "682498302938465";
const IG_ACCOUNT: &str = "17841405309211844";
const BOB_PSID: &str = "6000000101";
const CAROL_IGSID: &str = "17840000000000101";

/// A fixture with the values at the JSON pointers replaced.
fn event(platform: &str, file: &str, changes: &[(&str, Value)]) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&webhook(platform, file)).expect("json");
    for (pointer, new) in changes {
        *value
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{file} has no {pointer}")) = new.clone();
    }
    value.to_string().into_bytes()
}

/// The Messenger or Instagram `messaging[0]` pointer of a field.
fn at(field: &str) -> String {
    format!("/entry/0/messaging/0/{field}")
}

/// `changes`, with the event addressed to the relay's `endpoint` unless they
/// say otherwise (some documented samples name another Page or account).
fn to_endpoint<'a>(endpoint: &'a str, changes: &[(&'a str, Value)]) -> Vec<(&'a str, Value)> {
    let mut all = changes.to_vec();
    if !changes
        .iter()
        .any(|(pointer, _)| pointer.ends_with("recipient/id"))
    {
        all.push(("/entry/0/messaging/0/recipient/id", json!(endpoint)));
    }
    all
}

fn messenger(host: &Host, file: &str, changes: &[(&str, Value)]) {
    let (status, reply) = post_signed(
        host,
        "messenger",
        MESSENGER_SECRET,
        &event("messenger", file, &to_endpoint(PAGE, changes)),
    );
    assert_eq!(status, 200, "{file}: {reply}");
}

fn instagram(host: &Host, file: &str, changes: &[(&str, Value)]) {
    let (status, reply) = post_signed(
        host,
        "instagram",
        INSTAGRAM_SECRET,
        &event("instagram", file, &to_endpoint(IG_ACCOUNT, changes)),
    );
    assert_eq!(status, 200, "{file}: {reply}");
}

fn whatsapp(host: &Host, body: &[u8]) {
    let (status, reply) = post_signed(host, "whatsapp", SECRET, body);
    assert_eq!(status, 200, "{reply}");
}

/// The id the sink gave a delivery, as the platform would answer it.
fn sent_id(received: &Received) -> String {
    received.answer["message_id"]
        .as_str()
        .or_else(|| received.answer["messages"][0]["id"].as_str())
        .expect("the sink answered an id")
        .to_string()
}

fn to(request: &Received, id: &str) -> bool {
    request.body["recipient"]["id"] == id || request.body["to"] == id
}

fn text_of(request: &Received) -> String {
    request.body["message"]["text"]
        .as_str()
        .or_else(|| request.body["text"]["body"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn count(sink: &Sink, wanted: impl Fn(&Received) -> bool) -> usize {
    sink.received
        .lock()
        .expect("log")
        .iter()
        .filter(|request| wanted(request))
        .count()
}

/// Calls the business API with its bearer token.
fn business(host: &Host, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", host.base))
        .header("authorization", format!("Bearer {BUSINESS_TOKEN}"))
        .header("content-type", "application/json")
        .body(body.map(|body| body.to_string()).unwrap_or_default())
        .expect("request");
    let mut response = agent().run(request).expect("business API answers");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Sends a business message and waits for the pipeline's verdict on it.
fn business_send(host: &Host, id: &str, category: &str, text: &str) -> Value {
    let body = json!({
        "id": id,
        "business": account("messenger", SHOP_PAGE),
        "to": account("whatsapp", DAVE_WA),
        "category": category,
        "text": text,
    });
    let (status, answer) = business(host, "POST", "/business/messages", Some(body));
    assert_eq!(status, 202, "{answer}");
    let path = answer["status"]
        .as_str()
        .expect("a status path")
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, verdict) = business(host, "GET", &path, None);
        assert_eq!(status, 200, "{verdict}");
        if verdict["state"] != "queued" {
            return verdict;
        }
        assert!(Instant::now() < deadline, "{id} was never routed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const DAVE_WA: &str = "16505550002";
const SHOP_PAGE: &str = "700000000000001";

#[test]
fn a_conversation_over_three_apps_keeps_its_references() {
    let dir = state_dir("conversation");
    let sink = Sink::start();
    let config = host_config(&dir, &sink.base, 5, "");
    let host = Host::start_with(&dir, &["--config".as_ref(), config.as_os_str()]);
    converse(
        &host,
        &[
            ("whatsapp", ALICE_WA),
            ("messenger", BOB_PSID),
            ("instagram", CAROL_IGSID),
        ],
    );

    // Alice writes on WhatsApp; Bob gets it on Messenger, Carol on Instagram.
    whatsapp(
        &host,
        &whatsapp_text(ALICE_WA, "wamid.c1", "Dinner on Friday?"),
    );
    let bob_copy = sink.wait_for("Alice's message to Bob", |r| {
        to(r, BOB_PSID) && text_of(r).contains("Dinner on Friday?")
    });
    let carol_copy = sink.wait_for("Alice's message to Carol", |r| {
        to(r, CAROL_IGSID) && text_of(r).contains("Dinner on Friday?")
    });

    // Bob replies to his copy: Alice's reply quotes her original.
    messenger(
        &host,
        "reply.json",
        &[
            (&at("sender/id"), json!(BOB_PSID)),
            (&at("message/mid"), json!("m_bob1")),
            (&at("message/text"), json!("Friday works")),
            (&at("message/reply_to/mid"), json!(sent_id(&bob_copy))),
        ],
    );
    let alice_reply = sink.wait_for("Bob's reply to Alice", |r| {
        to(r, ALICE_WA) && text_of(r).contains("Friday works")
    });
    assert_eq!(alice_reply.body["context"]["message_id"], "wamid.c1");
    let carol_reply = sink.wait_for("Bob's reply to Carol", |r| {
        to(r, CAROL_IGSID) && text_of(r).contains("Friday works")
    });
    assert_ne!(sent_id(&carol_reply), sent_id(&carol_copy));

    // Carol reacts to her copy of Bob's reply: Alice's reaction names her copy
    // of it, Bob's his original.
    instagram(
        &host,
        "reaction.json",
        &[
            (&at("sender/id"), json!(CAROL_IGSID)),
            (&at("reaction/mid"), json!(sent_id(&carol_reply))),
        ],
    );
    let on_whatsapp = sink.wait_for("Carol's reaction on WhatsApp", |r| {
        to(r, ALICE_WA) && r.body["type"] == "reaction"
    });
    assert_eq!(
        on_whatsapp.body["reaction"]["message_id"],
        json!(sent_id(&alice_reply))
    );
    assert_eq!(on_whatsapp.body["reaction"]["emoji"], "\u{2764}\u{fe0f}");
    let on_messenger = sink.wait_for("Carol's reaction on Messenger", |r| {
        to(r, BOB_PSID) && r.body["sender_action"] == "react"
    });
    assert_eq!(on_messenger.body["payload"]["message_id"], "m_bob1");

    // Bob edits his reply: WhatsApp cannot edit, so Alice gets the new text
    // quoting her copy of the old one.
    messenger(
        &host,
        "message_edit.json",
        &[
            (&at("sender/id"), json!(BOB_PSID)),
            (&at("message_edit/mid"), json!("m_bob1")),
            (&at("message_edit/text"), json!("Saturday works better")),
        ],
    );
    let edited = sink.wait_for("Bob's edit on WhatsApp", |r| {
        to(r, ALICE_WA) && text_of(r).contains("Saturday works better")
    });
    assert!(
        text_of(&edited).starts_with("✏️ Edited: "),
        "{:?}",
        edited.body
    );
    assert_eq!(
        edited.body["context"]["message_id"],
        json!(sent_id(&alice_reply))
    );
    sink.wait_for("Bob's edit on Instagram", |r| {
        to(r, CAROL_IGSID) && text_of(r).contains("Saturday works better")
    });

    // Carol writes, then unsends it: the others are told, quoting their copy.
    instagram(
        &host,
        "text.json",
        &[
            (&at("sender/id"), json!(CAROL_IGSID)),
            (&at("message/mid"), json!("ig_carol1")),
            (&at("message/text"), json!("I'll bring dessert")),
        ],
    );
    let alice_dessert = sink.wait_for("Carol's message to Alice", |r| {
        to(r, ALICE_WA) && text_of(r).contains("I'll bring dessert")
    });
    sink.wait_for("Carol's message to Bob", |r| {
        to(r, BOB_PSID) && text_of(r).contains("I'll bring dessert")
    });
    instagram(
        &host,
        "unsent.json",
        &[
            (&at("sender/id"), json!(CAROL_IGSID)),
            (&at("message/mid"), json!("ig_carol1")),
        ],
    );
    let deleted = sink.wait_for("the deletion on WhatsApp", |r| {
        to(r, ALICE_WA) && text_of(r).contains("deleted")
    });
    assert_eq!(
        deleted.body["context"]["message_id"],
        json!(sent_id(&alice_dessert))
    );
    sink.wait_for("the deletion on Messenger", |r| {
        to(r, BOB_PSID) && text_of(r).contains("deleted")
    });

    // Alice reads Bob's reply: Bob's Messenger shows it seen; Carol, who did
    // not write it, hears nothing.
    let read = {
        let body = webhook("whatsapp", "status-delivered.json");
        let mut value: Value = serde_json::from_slice(&body).expect("json");
        let status = &mut value["entry"][0]["changes"][0]["value"]["statuses"][0];
        status["id"] = json!(sent_id(&alice_reply));
        status["status"] = json!("read");
        status["recipient_id"] = json!(ALICE_WA);
        value.to_string().into_bytes()
    };
    whatsapp(&host, &read);
    sink.wait_for("the read receipt on Messenger", |r| {
        to(r, BOB_PSID) && r.body["sender_action"] == "mark_seen"
    });

    // Messenger echoes our send to Bob: recognised, not routed again.
    let routed_before = metric(
        &host,
        "switchboard_messages_in_total{platform=\"messenger\"}",
    );
    let sent_before = sink.received.lock().expect("log").len();
    let echo_mid = sent_id(&bob_copy);
    messenger(
        &host,
        "echo.json",
        &[
            (&at("recipient/id"), json!(BOB_PSID)),
            (&at("message/mid"), json!(echo_mid)),
        ],
    );
    wait_for_metric(
        &host,
        "switchboard_messages_in_total{platform=\"messenger\"}",
        routed_before + 1.0,
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        count(&sink, |r| to(r, CAROL_IGSID)
            && r.body["sender_action"] == "mark_seen"),
        0,
        "a receipt went to someone who did not write the message"
    );
    assert_eq!(
        sink.received.lock().expect("log").len(),
        sent_before,
        "the echo was routed: {:#?}",
        sink.received.lock().expect("log")[sent_before..].to_vec()
    );

    // A business on Messenger and a customer on WhatsApp.
    converse(&host, &[("whatsapp", DAVE_WA), ("messenger", SHOP_PAGE)]);
    let verdict = business_send(&host, "promo-1", "marketing", "20% off this weekend");
    assert_eq!(verdict["state"], "rejected", "{verdict}");
    assert_eq!(verdict["refused"][0]["reason"], "marketing-without-opt-in");

    let opt_in = json!({ "person": account("whatsapp", DAVE_WA),
                         "business": account("messenger", SHOP_PAGE), "state": "opted-in" });
    assert_eq!(admin(&host, "POST", "/admin/marketing", opt_in), 200);
    let verdict = business_send(&host, "promo-2", "marketing", "30% off today");
    assert_eq!(verdict["state"], "routed", "{verdict}");
    let promo = sink.wait_for("the opted-in promotion", |r| {
        to(r, DAVE_WA) && text_of(r).contains("30% off today")
    });
    assert!(
        !promo.body.to_string().contains(SHOP_PAGE),
        "the business's page id crossed: {}",
        promo.body
    );

    whatsapp(&host, &whatsapp_text(DAVE_WA, "wamid.dave-stop", "STOP"));
    sink.wait_for("Dave's STOP at the business", |r| {
        to(r, SHOP_PAGE) && text_of(r).contains("STOP")
    });
    let verdict = business_send(&host, "promo-3", "marketing", "40% off, last chance");
    assert_eq!(verdict["refused"][0]["reason"], "opted-out", "{verdict}");
    let verdict = business_send(&host, "order-1", "transactional", "Your order has shipped");
    assert_eq!(verdict["state"], "routed", "{verdict}");
    sink.wait_for("the order update", |r| {
        to(r, DAVE_WA) && text_of(r).contains("Your order has shipped")
    });
    assert_eq!(
        count(&sink, |r| text_of(r).contains("20% off")
            || text_of(r).contains("40% off")),
        0,
        "a refused promotion reached someone"
    );
    assert_eq!(
        count(&sink, |r| to(r, SHOP_PAGE)
            && text_of(r).starts_with("Not delivered")),
        0,
        "a business API refusal became a notice on an app"
    );
    drop(host);

    let stores = KeyValueStores::open(Some(&dir.join("runtime-config.toml")), &dir).expect("open");
    let store = stores.get("default").expect("default store");
    let echo_status = store
        .get(&format!("status:messenger:{echo_mid}"))
        .expect("read")
        .expect("the echo was judged");
    let echo_status: Value = serde_json::from_slice(&echo_status).expect("json");
    assert_eq!(echo_status["state"], "echo");
}
