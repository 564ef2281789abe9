//! Anyone writes to anyone: conversations through `switchboard up`, every
//! event a signed webhook in the platforms' documented shapes (the fixtures),
//! every delivery checked at a local server playing the send APIs.
//!
//! * Alice on WhatsApp talks with Bob on Messenger and Carol on Instagram at
//!   once through one WhatsApp number: each delivery names its writer, a
//!   quote-reply reaches only the person quoted, an unquoted message goes to
//!   the current conversation, `/to` switches it, and a restart keeps it.
//! * With two WhatsApp numbers, each conversation has its own number and
//!   needs no quoting.
//! * A group of four on three apps: every message reaches the three others
//!   once, through each one's endpoint; replies and reactions map to each
//!   reader's own copy; `/block` and `/leave` from a chat apply to the next
//!   message and are audited with the person as actor; `/stop` and `/start`.
//! * A request by phone number (`/new`): a person who is not discoverable
//!   and a number nobody has get the same answer; the request's first
//!   message waits for `/accept`, then follows.

use crate::fixtures::webhook;
use crate::pipeline::delivery::{
    MESSENGER_SECRET, Received, Sink, admin_json, converse, post_signed,
};
use crate::runtime::up::{Host, SECRET, host_config, state_dir};
use serde_json::{Value, json};
use std::time::Duration;

const INSTAGRAM_SECRET: &str = "sample-instagram-app-secret";
const FIRST_NUMBER: &str = "106540352242922";
const SECOND_NUMBER: &str = "106540352242923";
const PAGE: &str = "682498302938465";
const IG_ACCOUNT: &str = "17841405309211844";
const ALICE_WA: &str = "16505557001";
const DAN_WA: &str = "16505557004";
const BOB_PSID: &str = "6000000701";
const CAROL_IGSID: &str = "17840000000000701";

/// A WhatsApp text from `from` to the relay's number `number`, quoting `quoted`.
pub(crate) fn from_whatsapp(
    from: &str,
    number: &str,
    id: &str,
    text: &str,
    quoted: Option<&str>,
) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&webhook("whatsapp", "text.json")).expect("json");
    let change = &mut value["entry"][0]["changes"][0]["value"];
    change["metadata"]["phone_number_id"] = json!(number);
    change["contacts"][0]["wa_id"] = json!(from);
    let message = &mut change["messages"][0];
    message["from"] = json!(from);
    message["id"] = json!(id);
    message["text"]["body"] = json!(text);
    if let Some(quoted) = quoted {
        message["context"] = json!({ "from": number, "id": quoted });
    }
    value.to_string().into_bytes()
}

/// A pick from a WhatsApp list message, by row id.
fn whatsapp_pick(from: &str, id: &str, row: &str) -> Vec<u8> {
    let mut value: Value =
        serde_json::from_slice(&webhook("whatsapp", "list-reply.json")).expect("json");
    let change = &mut value["entry"][0]["changes"][0]["value"];
    change["contacts"][0]["wa_id"] = json!(from);
    let message = &mut change["messages"][0];
    message["from"] = json!(from);
    message["id"] = json!(id);
    message["interactive"]["list_reply"]["id"] = json!(row);
    value.to_string().into_bytes()
}

/// A Messenger text (or a reply to `quoted`) from `psid` to the sample Page.
fn from_messenger(psid: &str, mid: &str, text: &str, quoted: Option<&str>) -> Vec<u8> {
    let mut value: Value =
        serde_json::from_slice(&webhook("messenger", "reply.json")).expect("json");
    let item = &mut value["entry"][0]["messaging"][0];
    item["sender"]["id"] = json!(psid);
    item["recipient"]["id"] = json!(PAGE);
    item["message"]["mid"] = json!(mid);
    item["message"]["text"] = json!(text);
    match quoted {
        Some(quoted) => item["message"]["reply_to"]["mid"] = json!(quoted),
        None => {
            if let Some(message) = item["message"].as_object_mut() {
                message.remove("reply_to");
            }
        }
    }
    value.to_string().into_bytes()
}

/// An Instagram text from `igsid` to the sample account.
fn from_instagram(igsid: &str, mid: &str, text: &str) -> Vec<u8> {
    let mut value: Value =
        serde_json::from_slice(&webhook("instagram", "text.json")).expect("json");
    let item = &mut value["entry"][0]["messaging"][0];
    item["sender"]["id"] = json!(igsid);
    item["recipient"]["id"] = json!(IG_ACCOUNT);
    item["message"]["mid"] = json!(mid);
    item["message"]["text"] = json!(text);
    value.to_string().into_bytes()
}

/// An Instagram reaction from `igsid` to message `reacted`.
fn instagram_reaction(igsid: &str, reacted: &str) -> Vec<u8> {
    let mut value: Value =
        serde_json::from_slice(&webhook("instagram", "reaction.json")).expect("json");
    let item = &mut value["entry"][0]["messaging"][0];
    item["sender"]["id"] = json!(igsid);
    item["recipient"]["id"] = json!(IG_ACCOUNT);
    item["reaction"]["mid"] = json!(reacted);
    value.to_string().into_bytes()
}

pub(crate) fn whatsapp(host: &Host, body: &[u8]) {
    let (status, reply) = post_signed(host, "whatsapp", SECRET, body);
    assert_eq!(status, 200, "{reply}");
}

fn messenger(host: &Host, body: &[u8]) {
    let (status, reply) = post_signed(host, "messenger", MESSENGER_SECRET, body);
    assert_eq!(status, 200, "{reply}");
}

fn instagram(host: &Host, body: &[u8]) {
    let (status, reply) = post_signed(host, "instagram", INSTAGRAM_SECRET, body);
    assert_eq!(status, 200, "{reply}");
}

pub(crate) fn to(request: &Received, id: &str) -> bool {
    request.body["recipient"]["id"] == id || request.body["to"] == id
}

pub(crate) fn text_of(request: &Received) -> String {
    request.body["message"]["text"]
        .as_str()
        .or_else(|| request.body["text"]["body"].as_str())
        .or_else(|| request.body["interactive"]["body"]["text"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn sent_id(received: &Received) -> String {
    received.answer["message_id"]
        .as_str()
        .or_else(|| received.answer["messages"][0]["id"].as_str())
        .expect("the sink answered an id")
        .to_string()
}

/// How many requests to `recipient` carry `text`.
pub(crate) fn count_to(sink: &Sink, recipient: &str, text: &str) -> usize {
    sink.received
        .lock()
        .expect("log")
        .iter()
        .filter(|request| to(request, recipient) && text_of(request).contains(text))
        .count()
}

/// Waits long enough for a delivery that should not come to have come.
pub(crate) fn settle() {
    std::thread::sleep(Duration::from_millis(800));
}

/// The alias the admin API gave `id` in a conversation it answered.
pub(crate) fn alias_in(conversation: &Value, id: &str) -> String {
    conversation["members"]
        .as_array()
        .and_then(|members| members.iter().find(|member| member["id"] == id))
        .and_then(|member| member["alias"].as_str())
        .unwrap_or_else(|| panic!("no member {id} in {conversation}"))
        .to_string()
}

fn endpoint_in(conversation: &Value, id: &str) -> String {
    conversation["members"]
        .as_array()
        .and_then(|members| members.iter().find(|member| member["id"] == id))
        .and_then(|member| member["endpoint"].as_str())
        .unwrap_or_else(|| panic!("no member {id} in {conversation}"))
        .to_string()
}

#[test]
fn alice_talks_with_bob_and_carol_at_once_through_one_number() {
    let dir = state_dir("anyone-one-number");
    let sink = Sink::start();
    let config = host_config(&dir, &sink.base, 5, "");
    let one_number = format!("whatsapp={FIRST_NUMBER} messenger={PAGE} instagram={IG_ACCOUNT}");
    let env = [("SPIN_VARIABLE_ENDPOINTS", one_number.as_str())];
    let start = || Host::start_with_env(&dir, &["--config".as_ref(), config.as_os_str()], &env);
    let host = start();
    let with_bob = converse(&host, &[("whatsapp", ALICE_WA), ("messenger", BOB_PSID)]);
    let with_carol = converse(&host, &[("whatsapp", ALICE_WA), ("instagram", CAROL_IGSID)]);
    assert_eq!(endpoint_in(&with_bob, ALICE_WA), FIRST_NUMBER);
    assert_eq!(
        endpoint_in(&with_carol, ALICE_WA),
        FIRST_NUMBER,
        "one number, shared"
    );

    // Bob and Carol write; both reach Alice on the one number, each named by
    // their alias in bold on a line of its own.
    messenger(
        &host,
        &from_messenger(BOB_PSID, "m_bob1", "Hi Alice, Bob here", None),
    );
    let from_bob = sink.wait_for("Bob's message to Alice", |r| {
        to(r, ALICE_WA) && text_of(r).contains("Bob here")
    });
    let bob_alias = alias_in(&with_bob, BOB_PSID);
    assert!(bob_alias.ends_with(" · Messenger"), "{bob_alias}");
    assert_eq!(
        text_of(&from_bob),
        format!("*{bob_alias}*\nHi Alice, Bob here"),
        "WhatsApp shows the writer in bold"
    );
    assert!(from_bob.path.contains(FIRST_NUMBER), "{}", from_bob.path);
    instagram(
        &host,
        &from_instagram(CAROL_IGSID, "ig_carol1", "Carol says hello"),
    );
    let from_carol = sink.wait_for("Carol's message to Alice", |r| {
        to(r, ALICE_WA) && text_of(r).contains("Carol says hello")
    });
    assert!(
        text_of(&from_carol).starts_with(&format!("*{}*\n", alias_in(&with_carol, CAROL_IGSID)))
    );

    // Alice's quote-replies each reach only the person quoted.
    whatsapp(
        &host,
        &from_whatsapp(
            ALICE_WA,
            FIRST_NUMBER,
            "wamid.a1",
            "Hello Bob",
            Some(&sent_id(&from_bob)),
        ),
    );
    let to_bob = sink.wait_for("Alice's reply to Bob", |r| {
        to(r, BOB_PSID) && text_of(r).contains("Hello Bob")
    });
    // Messenger's Send API cannot quote: the reply is marked in the text,
    // after the writer's name in plain text.
    assert!(
        text_of(&to_bob).contains(&format!("{}\nHello Bob", alias_in(&with_bob, ALICE_WA))),
        "{:?}",
        text_of(&to_bob)
    );
    whatsapp(
        &host,
        &from_whatsapp(
            ALICE_WA,
            FIRST_NUMBER,
            "wamid.a2",
            "Hello Carol",
            Some(&sent_id(&from_carol)),
        ),
    );
    sink.wait_for("Alice's reply to Carol", |r| {
        to(r, CAROL_IGSID) && text_of(r).contains("Hello Carol")
    });
    settle();
    assert_eq!(
        count_to(&sink, CAROL_IGSID, "Hello Bob"),
        0,
        "Bob's reply went to Carol"
    );
    assert_eq!(
        count_to(&sink, BOB_PSID, "Hello Carol"),
        0,
        "Carol's reply went to Bob"
    );

    // Unquoted, a message goes to the current conversation: the one Alice
    // joined last (with Carol).
    whatsapp(
        &host,
        &from_whatsapp(ALICE_WA, FIRST_NUMBER, "wamid.a3", "Who gets this?", None),
    );
    sink.wait_for("the unquoted message to Carol", |r| {
        to(r, CAROL_IGSID) && text_of(r).contains("Who gets this?")
    });

    // `/to` offers the two conversations as a list, answered on WhatsApp and
    // never forwarded; picking Bob's makes it current.
    whatsapp(
        &host,
        &from_whatsapp(ALICE_WA, FIRST_NUMBER, "wamid.a4", "/to", None),
    );
    let list = sink.wait_for("the /to list", |r| {
        to(r, ALICE_WA) && r.body["type"] == "interactive"
    });
    assert_eq!(list.body["interactive"]["type"], "list", "{:?}", list.body);
    let rows = list.body["interactive"]["action"]["sections"][0]["rows"]
        .as_array()
        .expect("rows")
        .clone();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let bob_row = rows
        .iter()
        .find(|row| row["title"] == json!(bob_alias.chars().take(24).collect::<String>()))
        .unwrap_or_else(|| panic!("no row for {bob_alias}: {rows:?}"));
    whatsapp(
        &host,
        &whatsapp_pick(
            ALICE_WA,
            "wamid.a5",
            bob_row["id"].as_str().expect("row id"),
        ),
    );
    sink.wait_for("the switch confirmation", |r| {
        to(r, ALICE_WA) && text_of(r).contains("now go to")
    });

    // A restart changes nothing: the current conversation is on disk.
    drop(host);
    let host = start();
    whatsapp(
        &host,
        &from_whatsapp(ALICE_WA, FIRST_NUMBER, "wamid.a6", "Back to you, Bob", None),
    );
    sink.wait_for("the unquoted message to Bob", |r| {
        to(r, BOB_PSID) && text_of(r).contains("Back to you, Bob")
    });
    // `/to 2` switches back by number.
    whatsapp(
        &host,
        &from_whatsapp(ALICE_WA, FIRST_NUMBER, "wamid.a7", "/to 2", None),
    );
    sink.wait_for("the second switch", |r| {
        to(r, ALICE_WA)
            && text_of(r).contains("now go to")
            && sent_id(r) != sent_id(&list)
            && text_of(r).contains(&alias_in(&with_carol, CAROL_IGSID))
    });
    whatsapp(
        &host,
        &from_whatsapp(ALICE_WA, FIRST_NUMBER, "wamid.a8", "And you, Carol", None),
    );
    sink.wait_for("the unquoted message to Carol", |r| {
        to(r, CAROL_IGSID) && text_of(r).contains("And you, Carol")
    });
    settle();
    for command in ["/to", "/to 2", "Back to you, Bob"] {
        assert_eq!(
            count_to(&sink, CAROL_IGSID, command),
            0,
            "{command:?} reached Carol"
        );
    }
    assert_eq!(count_to(&sink, BOB_PSID, "And you, Carol"), 0);

    // A webhook delivered twice is routed once.
    let again = from_whatsapp(ALICE_WA, FIRST_NUMBER, "wamid.a8", "And you, Carol", None);
    whatsapp(&host, &again);
    settle();
    assert_eq!(count_to(&sink, CAROL_IGSID, "And you, Carol"), 1);
}

#[test]
fn with_two_numbers_each_conversation_has_its_own() {
    let dir = state_dir("anyone-two-numbers");
    let sink = Sink::start();
    let config = host_config(&dir, &sink.base, 5, "");
    let host = Host::start_with(&dir, &["--config".as_ref(), config.as_os_str()]);
    let with_bob = converse(&host, &[("whatsapp", ALICE_WA), ("messenger", BOB_PSID)]);
    let with_carol = converse(&host, &[("whatsapp", ALICE_WA), ("instagram", CAROL_IGSID)]);
    assert_eq!(endpoint_in(&with_bob, ALICE_WA), FIRST_NUMBER);
    assert_eq!(endpoint_in(&with_carol, ALICE_WA), SECOND_NUMBER);

    // Each writes to Alice from their own number.
    messenger(
        &host,
        &from_messenger(BOB_PSID, "m_bob2", "Bob on his number", None),
    );
    let from_bob = sink.wait_for("Bob's message", |r| {
        to(r, ALICE_WA) && text_of(r).contains("Bob on his number")
    });
    assert!(from_bob.path.contains(FIRST_NUMBER), "{}", from_bob.path);
    instagram(
        &host,
        &from_instagram(CAROL_IGSID, "ig_carol2", "Carol on hers"),
    );
    let from_carol = sink.wait_for("Carol's message", |r| {
        to(r, ALICE_WA) && text_of(r).contains("Carol on hers")
    });
    assert!(
        from_carol.path.contains(SECOND_NUMBER),
        "{}",
        from_carol.path
    );

    // Alice answers each chat without quoting: the number decides.
    whatsapp(
        &host,
        &from_whatsapp(ALICE_WA, FIRST_NUMBER, "wamid.b1", "For Bob", None),
    );
    whatsapp(
        &host,
        &from_whatsapp(ALICE_WA, SECOND_NUMBER, "wamid.b2", "For Carol", None),
    );
    sink.wait_for("Bob's answer", |r| {
        to(r, BOB_PSID) && text_of(r).contains("For Bob")
    });
    sink.wait_for("Carol's answer", |r| {
        to(r, CAROL_IGSID) && text_of(r).contains("For Carol")
    });
    settle();
    assert_eq!(count_to(&sink, CAROL_IGSID, "For Bob"), 0);
    assert_eq!(count_to(&sink, BOB_PSID, "For Carol"), 0);
}

#[test]
fn a_group_of_four_on_three_apps() {
    let dir = state_dir("anyone-group");
    let sink = Sink::start();
    let config = host_config(&dir, &sink.base, 5, "");
    let host = Host::start_with(&dir, &["--config".as_ref(), config.as_os_str()]);
    let group = converse(
        &host,
        &[
            ("whatsapp", ALICE_WA),
            ("whatsapp", DAN_WA),
            ("messenger", BOB_PSID),
            ("instagram", CAROL_IGSID),
        ],
    );
    assert_eq!(group["kind"], "group");

    // Bob writes: each of the three others gets it once, through their own
    // endpoint, attributed.
    messenger(
        &host,
        &from_messenger(BOB_PSID, "m_g1", "Hello group", None),
    );
    let alice_copy = sink.wait_for("Alice's copy", |r| {
        to(r, ALICE_WA) && text_of(r).contains("Hello group")
    });
    let dan_copy = sink.wait_for("Dan's copy", |r| {
        to(r, DAN_WA) && text_of(r).contains("Hello group")
    });
    let carol_copy = sink.wait_for("Carol's copy", |r| {
        to(r, CAROL_IGSID) && text_of(r).contains("Hello group")
    });
    assert!(alice_copy.path.contains(&endpoint_in(&group, ALICE_WA)));
    assert!(dan_copy.path.contains(&endpoint_in(&group, DAN_WA)));
    assert!(text_of(&carol_copy).starts_with(&alias_in(&group, BOB_PSID)));
    settle();
    for member in [ALICE_WA, DAN_WA, CAROL_IGSID] {
        assert_eq!(count_to(&sink, member, "Hello group"), 1, "{member}");
    }
    assert_eq!(
        count_to(&sink, BOB_PSID, "Hello group"),
        0,
        "the writer gets no copy"
    );

    // Dan quote-replies to his copy: every reader's copy quotes their own.
    whatsapp(
        &host,
        &from_whatsapp(
            DAN_WA,
            &endpoint_in(&group, DAN_WA),
            "wamid.g2",
            "Hi Bob",
            Some(&sent_id(&dan_copy)),
        ),
    );
    let bob_reply = sink.wait_for("Dan's reply on Messenger", |r| {
        to(r, BOB_PSID) && text_of(r).contains("Hi Bob")
    });
    assert!(
        text_of(&bob_reply).starts_with('↩'),
        "a reply, as Messenger shows one: {:?}",
        bob_reply.body
    );
    let alice_reply = sink.wait_for("Dan's reply on WhatsApp", |r| {
        to(r, ALICE_WA) && text_of(r).contains("Hi Bob")
    });
    assert_eq!(
        alice_reply.body["context"]["message_id"],
        json!(sent_id(&alice_copy))
    );
    sink.wait_for("Dan's reply on Instagram", |r| {
        to(r, CAROL_IGSID) && text_of(r).contains("Hi Bob")
    });

    // Carol reacts to her copy of Bob's message: each app's reaction names
    // that reader's copy (Bob's is his original).
    instagram(
        &host,
        &instagram_reaction(CAROL_IGSID, &sent_id(&carol_copy)),
    );
    let on_messenger = sink.wait_for("the reaction on Messenger", |r| {
        to(r, BOB_PSID) && r.body["sender_action"] == "react"
    });
    assert_eq!(on_messenger.body["payload"]["message_id"], "m_g1");
    let on_alice = sink.wait_for("the reaction for Alice", |r| {
        to(r, ALICE_WA) && r.body["type"] == "reaction"
    });
    assert_eq!(
        on_alice.body["reaction"]["message_id"],
        json!(sent_id(&alice_copy))
    );
    let on_dan = sink.wait_for("the reaction for Dan", |r| {
        to(r, DAN_WA) && r.body["type"] == "reaction"
    });
    assert_eq!(
        on_dan.body["reaction"]["message_id"],
        json!(sent_id(&dan_copy))
    );

    // Carol blocks Dan from her chat, quoting his message: from the next
    // message on nothing crosses between them, either way; the others still
    // hear both.
    let carol_dan_copy = sink.wait_for("Dan's reply to Carol", |r| {
        to(r, CAROL_IGSID) && text_of(r).contains("Hi Bob")
    });
    let mut block =
        serde_json::from_slice::<Value>(&from_instagram(CAROL_IGSID, "ig_g3", "/block"))
            .expect("json");
    block["entry"][0]["messaging"][0]["message"]["reply_to"] =
        json!({ "mid": sent_id(&carol_dan_copy) });
    instagram(&host, block.to_string().as_bytes());
    sink.wait_for("the block confirmation", |r| {
        to(r, CAROL_IGSID) && text_of(r).starts_with("Blocked")
    });
    whatsapp(
        &host,
        &from_whatsapp(
            DAN_WA,
            &endpoint_in(&group, DAN_WA),
            "wamid.g4",
            "Dan again",
            None,
        ),
    );
    instagram(&host, &from_instagram(CAROL_IGSID, "ig_g5", "Carol again"));
    sink.wait_for("Dan's message to Bob", |r| {
        to(r, BOB_PSID) && text_of(r).contains("Dan again")
    });
    sink.wait_for("Carol's message to Alice", |r| {
        to(r, ALICE_WA) && text_of(r).contains("Carol again")
    });
    settle();
    assert_eq!(
        count_to(&sink, CAROL_IGSID, "Dan again"),
        0,
        "Dan reached Carol"
    );
    assert_eq!(
        count_to(&sink, DAN_WA, "Carol again"),
        0,
        "Carol reached Dan"
    );

    // Bob leaves: the next message reaches the others, not him.
    messenger(&host, &from_messenger(BOB_PSID, "m_g6", "/leave", None));
    sink.wait_for("the leave confirmation", |r| {
        to(r, BOB_PSID) && text_of(r).contains("You left")
    });
    whatsapp(
        &host,
        &from_whatsapp(
            ALICE_WA,
            &endpoint_in(&group, ALICE_WA),
            "wamid.g7",
            "Is Bob gone?",
            None,
        ),
    );
    sink.wait_for("Alice's message to Dan", |r| {
        to(r, DAN_WA) && text_of(r).contains("Is Bob gone?")
    });
    settle();
    assert_eq!(
        count_to(&sink, BOB_PSID, "Is Bob gone?"),
        0,
        "Bob left but still hears"
    );

    // Alice stops: nothing of hers crosses until she starts again.
    whatsapp(
        &host,
        &from_whatsapp(
            ALICE_WA,
            &endpoint_in(&group, ALICE_WA),
            "wamid.g8",
            "/stop",
            None,
        ),
    );
    sink.wait_for("the stop confirmation", |r| {
        to(r, ALICE_WA) && text_of(r).starts_with("Stopped")
    });
    whatsapp(
        &host,
        &from_whatsapp(
            ALICE_WA,
            &endpoint_in(&group, ALICE_WA),
            "wamid.g9",
            "Quiet please",
            None,
        ),
    );
    whatsapp(
        &host,
        &from_whatsapp(
            ALICE_WA,
            &endpoint_in(&group, ALICE_WA),
            "wamid.g10",
            "/start",
            None,
        ),
    );
    sink.wait_for("the start confirmation", |r| {
        to(r, ALICE_WA) && text_of(r).starts_with("Started")
    });
    whatsapp(
        &host,
        &from_whatsapp(
            ALICE_WA,
            &endpoint_in(&group, ALICE_WA),
            "wamid.g11",
            "Loud again",
            None,
        ),
    );
    sink.wait_for("Alice's message after /start", |r| {
        to(r, DAN_WA) && text_of(r).contains("Loud again")
    });
    assert_eq!(
        count_to(&sink, DAN_WA, "Quiet please"),
        0,
        "a message crossed after /stop"
    );
    assert_eq!(
        count_to(&sink, CAROL_IGSID, "Quiet please"),
        0,
        "a message crossed after /stop"
    );

    // Every change made from a chat is audited with the person as its actor.
    let (status, log) = admin_json(&host, "GET", "/admin/audit?limit=1000", Value::Null);
    assert_eq!(status, 200, "{log}");
    let records = log["records"].as_array().expect("records");
    let by = |action: &str, actor: &str| {
        records
            .iter()
            .any(|record| record["action"] == action && record["actor"] == actor)
    };
    assert!(
        by("block", &format!("instagram:{CAROL_IGSID} in chat")),
        "{log}"
    );
    assert!(
        by("member-left", &format!("messenger:{BOB_PSID} in chat")),
        "{log}"
    );
    let consents: Vec<&Value> = records
        .iter()
        .filter(|record| {
            record["action"] == "consent"
                && record["actor"] == format!("whatsapp:{ALICE_WA} in chat")
        })
        .map(|record| &record["details"]["granted"])
        .collect();
    assert_eq!(consents, [&json!(false), &json!(true)], "{log}");
}

#[test]
fn a_request_by_phone_number_is_held_until_accepted_and_nobody_can_be_probed() {
    let dir = state_dir("anyone-request");
    let sink = Sink::start();
    let config = host_config(&dir, &sink.base, 5, "");
    let host = Host::start_with(&dir, &["--config".as_ref(), config.as_os_str()]);
    let consent = |platform: &str, id: &str, scope: &str| {
        let body = json!({ "account": { "platform": platform, "id": id }, "scope": scope, "granted": true });
        assert_eq!(admin_json(&host, "POST", "/admin/consents", body).0, 200);
    };
    // Alice can be found by her number; Dan uses the service but cannot.
    consent("whatsapp", ALICE_WA, "cross-app-messaging");
    consent("whatsapp", ALICE_WA, "discoverable");
    consent("whatsapp", DAN_WA, "cross-app-messaging");
    consent("messenger", BOB_PSID, "cross-app-messaging");

    // Bob asks for a not-discoverable and an unknown number: one answer.
    messenger(
        &host,
        &from_messenger(BOB_PSID, "m_r1", "/new +1 650 555 7004", None),
    );
    let hidden = sink.wait_for("the answer about Dan", |r| {
        to(r, BOB_PSID) && text_of(r).contains("reached")
    });
    messenger(
        &host,
        &from_messenger(BOB_PSID, "m_r2", "/new +1 650 555 9999", None),
    );
    let unknown = sink.wait_for("the answer about nobody", |r| {
        to(r, BOB_PSID) && text_of(r).contains("reached") && sent_id(r) != sent_id(&hidden)
    });
    assert_eq!(
        text_of(&hidden),
        text_of(&unknown),
        "a probe tells one from the other"
    );

    // Bob asks for Alice by her number: she is asked on WhatsApp, and what
    // Bob writes waits for her answer.
    messenger(
        &host,
        &from_messenger(BOB_PSID, "m_r3", "/new +1 (650) 555-7001", None),
    );
    sink.wait_for("the request confirmation", |r| {
        to(r, BOB_PSID) && text_of(r).starts_with("Request sent")
    });
    sink.wait_for("the request on WhatsApp", |r| {
        to(r, ALICE_WA) && text_of(r).contains("/accept")
    });
    messenger(
        &host,
        &from_messenger(BOB_PSID, "m_r4", "Hi Alice, it's Bob", None),
    );
    settle();
    assert_eq!(
        count_to(&sink, ALICE_WA, "it's Bob"),
        0,
        "a request's message crossed before /accept"
    );
    assert_eq!(count_to(&sink, DAN_WA, "/accept"), 0, "Dan was asked");

    // Alice accepts: Bob hears so, his held message follows, and the two talk.
    let (status, _) = post_signed(
        &host,
        "whatsapp",
        SECRET,
        &from_whatsapp(ALICE_WA, FIRST_NUMBER, "wamid.r5", "/accept", None),
    );
    assert_eq!(status, 200);
    sink.wait_for("the acceptance on Messenger", |r| {
        to(r, BOB_PSID) && text_of(r).contains("accepted")
    });
    sink.wait_for("Bob's held message", |r| {
        to(r, ALICE_WA) && text_of(r).ends_with("\nHi Alice, it's Bob")
    });
    whatsapp(
        &host,
        &from_whatsapp(ALICE_WA, FIRST_NUMBER, "wamid.r6", "Hello Bob!", None),
    );
    sink.wait_for("Alice's answer", |r| {
        to(r, BOB_PSID) && text_of(r).ends_with("\nHello Bob!")
    });
    settle();
    assert_eq!(
        count_to(&sink, ALICE_WA, "it's Bob"),
        1,
        "the held message came twice"
    );
}
