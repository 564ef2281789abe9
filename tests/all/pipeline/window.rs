//! The apps' 24-hour reply windows through `switchboard up`, with the sink
//! playing the send APIs: Alice on WhatsApp and Bob on Messenger in a direct
//! conversation, Bob never having written to the relay's Page.
//!
//! Alice's message to Bob waits (nothing may go to him on Messenger); when
//! Bob writes it reaches him. Alice's window is closed by then (a short
//! window, configured for the test), so Bob's message reaches her as the
//! WhatsApp re-engagement template, once; when Alice writes, Bob's held
//! messages follow, after the template.

use crate::fixtures::webhook;
use crate::pipeline::delivery::{
    MESSENGER_SECRET, Received, Sink, converse, metric, post_signed, wait_for_metric,
};
use crate::runtime::up::{Host, SECRET, state_dir};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ALICE_WA: &str = "16505550061";
const BOB_PSID: &str = "6000000061";
/// The relay's one number, Page and account (the samples' first of each).
const NUMBER: &str = "106540352242922";
const PAGE: &str = "682498302938465";
const IG_ACCOUNT: &str = "17841405309211844";
/// Alice's window in this test: short enough to see it close.
const WHATSAPP_WINDOW_MS: u64 = 2_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

/// A WhatsApp text from Alice to the relay's number, stamped now.
fn from_alice(id: &str, text: &str) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&webhook("whatsapp", "text.json")).expect("json");
    let change = &mut value["entry"][0]["changes"][0]["value"];
    change["metadata"]["phone_number_id"] = json!(NUMBER);
    change["contacts"][0]["wa_id"] = json!(ALICE_WA);
    let message = &mut change["messages"][0];
    message["from"] = json!(ALICE_WA);
    message["id"] = json!(id);
    message["timestamp"] = json!((now_ms() / 1000).to_string());
    message["text"]["body"] = json!(text);
    value.to_string().into_bytes()
}

/// A Messenger text from Bob to the relay's Page, stamped now.
fn from_bob(mid: &str, text: &str) -> Vec<u8> {
    let mut value: Value =
        serde_json::from_slice(&webhook("messenger", "reply.json")).expect("json");
    value["entry"][0]["id"] = json!(PAGE);
    let item = &mut value["entry"][0]["messaging"][0];
    item["sender"]["id"] = json!(BOB_PSID);
    item["recipient"]["id"] = json!(PAGE);
    item["timestamp"] = json!(now_ms());
    item["message"]["mid"] = json!(mid);
    item["message"]["text"] = json!(text);
    if let Some(message) = item["message"].as_object_mut() {
        message.remove("reply_to");
    }
    value.to_string().into_bytes()
}

fn post(host: &Host, platform: &str, secret: &str, body: &[u8]) {
    let (status, reply) = post_signed(host, platform, secret, body);
    assert_eq!(status, 200, "{reply}");
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

fn is_template(request: &Received) -> bool {
    request.body["type"] == "template"
}

/// The requests the sink answered that match `wanted`, in the order it got
/// them, with their place in its log.
fn matching(sink: &Sink, wanted: impl Fn(&Received) -> bool) -> Vec<(usize, Received)> {
    sink.received
        .lock()
        .expect("log")
        .iter()
        .enumerate()
        .filter(|(_, request)| request.answered == 200 && wanted(request))
        .map(|(index, request)| (index, request.clone()))
        .collect()
}

/// Waits until the pipeline has routed `count` envelopes from `platform`,
/// then a little for anything it queued to reach the sink.
fn routed(host: &Host, platform: &str, count: f64) {
    wait_for_metric(
        host,
        &format!("switchboard_messages_in_total{{platform=\"{platform}\"}}"),
        count,
    );
    std::thread::sleep(Duration::from_millis(500));
}

#[test]
fn a_closed_window_gets_the_template_and_held_messages_follow_the_reply() {
    let dir = state_dir("window");
    let sink = Sink::start();
    // The apps' own windows (24 hours on Messenger), but a short one on
    // WhatsApp, and WhatsApp's default re-engagement template.
    let mut config = String::new();
    for platform in ["whatsapp", "messenger", "instagram"] {
        config.push_str(&format!(
            "[platforms.{platform}]\napi_base = \"{}\"\n",
            sink.base
        ));
        if platform == "whatsapp" {
            config.push_str(&format!("reply_window_ms = {WHATSAPP_WINDOW_MS}\n"));
        }
    }
    config.push_str("[delivery]\nbackoff_base_ms = 10\nbackoff_max_ms = 50\nmax_attempts = 5\n");
    let config_path = dir.join("switchboard.toml");
    std::fs::write(&config_path, config).expect("config");
    let endpoints = format!("whatsapp={NUMBER} messenger={PAGE} instagram={IG_ACCOUNT}");
    let host = Host::start_with_env(
        &dir,
        &["--config".as_ref(), config_path.as_os_str()],
        &[("SPIN_VARIABLE_ENDPOINTS", endpoints.as_str())],
    );
    converse(&host, &[("whatsapp", ALICE_WA), ("messenger", BOB_PSID)]);
    let messages_in = |platform: &str| {
        metric(
            &host,
            &format!("switchboard_messages_in_total{{platform=\"{platform}\"}}"),
        )
    };
    let (whatsapp_before, messenger_before) = (messages_in("whatsapp"), messages_in("messenger"));

    // Alice writes; Bob never wrote to the Page: nothing may go to him.
    let alice_wrote = std::time::Instant::now();
    post(
        &host,
        "whatsapp",
        SECRET,
        &from_alice("wamid.w1", "Dinner on Friday?"),
    );
    routed(&host, "whatsapp", whatsapp_before + 1.0);
    assert_eq!(
        matching(&sink, |r| to(r, BOB_PSID)).len(),
        0,
        "a message reached Bob outside his window: {:#?}",
        sink.received.lock().expect("log")
    );

    // Alice's window closes.
    std::thread::sleep(
        Duration::from_millis(WHATSAPP_WINDOW_MS + 1_100).saturating_sub(alice_wrote.elapsed()),
    );

    // Bob writes: Alice's message reaches him now; his reaches Alice as the
    // template, not as text.
    post(
        &host,
        "messenger",
        MESSENGER_SECRET,
        &from_bob("m_w1", "Friday works"),
    );
    let held = sink.wait_for("Alice's held message to Bob", |r| {
        to(r, BOB_PSID) && text_of(r).contains("Dinner on Friday?")
    });
    assert_eq!(held.body["recipient"]["id"], BOB_PSID);
    let template = sink.wait_for("the template to Alice", |r| {
        to(r, ALICE_WA) && is_template(r)
    });
    assert_eq!(
        template.body["template"]["name"], "new_message",
        "{}",
        template.body
    );
    assert_eq!(template.body["template"]["language"]["code"], "en_US");
    let parameter = template.body["template"]["components"][0]["parameters"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(!parameter.is_empty(), "no writer named: {}", template.body);
    assert!(
        !template.body.to_string().contains("Friday works"),
        "the template carries the message: {}",
        template.body
    );
    assert!(
        template.path.contains(NUMBER),
        "not sent from Alice's endpoint: {}",
        template.path
    );

    // Bob again: it waits too, and no second template.
    post(
        &host,
        "messenger",
        MESSENGER_SECRET,
        &from_bob("m_w2", "Around 8?"),
    );
    routed(&host, "messenger", messenger_before + 2.0);
    assert_eq!(
        matching(&sink, |r| to(r, ALICE_WA) && is_template(r)).len(),
        1,
        "one template per waiting period"
    );
    assert_eq!(
        matching(&sink, |r| to(r, ALICE_WA) && !is_template(r)).len(),
        0,
        "text reached Alice outside her window: {:#?}",
        sink.received.lock().expect("log")
    );

    // Alice answers the template: Bob's messages follow, after it; hers
    // reaches Bob at once (he wrote lately).
    post(
        &host,
        "whatsapp",
        SECRET,
        &from_alice("wamid.w2", "Yes! 8 is good"),
    );
    let first = sink.wait_for("Bob's first held message", |r| {
        to(r, ALICE_WA) && text_of(r).contains("Friday works")
    });
    sink.wait_for("Bob's second held message", |r| {
        to(r, ALICE_WA) && text_of(r).contains("Around 8?")
    });
    sink.wait_for("Alice's answer to Bob", |r| {
        to(r, BOB_PSID) && text_of(r).contains("Yes! 8 is good")
    });
    let position = |wanted: &dyn Fn(&Received) -> bool| {
        matching(&sink, wanted)
            .first()
            .map(|(index, _)| *index)
            .expect("sent")
    };
    assert!(
        position(&|r| to(r, ALICE_WA) && is_template(r))
            < position(&|r| to(r, ALICE_WA) && text_of(r) == text_of(&first)),
        "the held message went before the template"
    );
    assert_eq!(
        matching(&sink, |r| to(r, ALICE_WA)
            && text_of(r).contains("Friday works"))
        .len(),
        1,
        "sent twice"
    );
}
