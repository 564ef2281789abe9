//! Requests and discovery: `/new` finds a discoverable person by phone number
//! or `@username` (and answers the same for anyone it cannot ask), makes a
//! direct conversation with them invited and tells them; the requester's
//! messages are held until `/accept` queues them again for the pipeline;
//! `/decline` and expiry let nothing cross.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::route;

use directory::KeyValue;
use directory_schema::{RequestRecord, RequestState as Stored, envelope_key, inbox_key};
use router::commands::NOT_REACHABLE;
use router::{
    ConsentScope, Delivery, Facts, MemberState, RejectionReason, RequestState, Verdict, check,
};
use support::{NOW_MS, TestDirectory, addr, envelope_to, member, text_event, text_of};
use switchboard_pdk::types::{Address, ConversationKind, Envelope, IdentityAttribute};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Alice on WhatsApp (discoverable), Bob on Telegram (discoverable, goes by
/// `@Bob_TG`), Carol on Messenger and Dave on WhatsApp (neither
/// discoverable); all consent to cross-app messaging.
struct Setup {
    directory: TestDirectory,
    alice: Address,
    bob: Address,
    carol: Address,
    dave: Address,
}

fn setup() -> Setup {
    let directory =
        TestDirectory::with_endpoints("whatsapp=wa-1,wa-2 messenger=page-1 telegram=tg-1");
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("telegram", "5550001");
    let carol = addr("messenger", "2345678901");
    let dave = addr("whatsapp", "15551112222");
    directory.consenting(&[&alice, &bob, &carol, &dave]);
    directory.consent(&alice, ConsentScope::Discoverable, true);
    directory.consent(&bob, ConsentScope::Discoverable, true);
    Setup {
        directory,
        alice,
        bob,
        carol,
        dave,
    }
}

/// A text from `sender` to the relay's `endpoint`, going by `username`.
fn text_as(sender: &Address, endpoint: &str, native_id: &str, body: &str) -> Envelope {
    envelope_to(sender, endpoint, native_id, text_event(body))
}

/// Routes `envelope` and checks every delivery with policy, which must let
/// each through.
fn routed(directory: &TestDirectory, envelope: &Envelope) -> Vec<Delivery> {
    let deliveries = route(directory, envelope).expect("routed");
    for delivery in &deliveries {
        assert_eq!(
            check(directory, envelope, &delivery.recipient, NOW_MS),
            Verdict::Deliver,
            "{delivery:?}"
        );
    }
    deliveries
}

/// The text of the one answer to a command, with nothing else delivered.
fn only_answer(directory: &TestDirectory, envelope: &Envelope) -> String {
    let deliveries = routed(directory, envelope);
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].recipient, envelope.sender.address);
    text_of(&deliveries[0].envelope.event).body.clone()
}

/// Stores `envelope` as the gateway does (`envelope:<id>`) and a status as
/// the pipeline does once it routed it (`status:<id>`).
fn stored_and_routed(directory: &TestDirectory, envelope: &Envelope) {
    directory.memory.put(envelope_key(&envelope.id), envelope);
    directory.memory.put(
        directory_schema::status_key(&envelope.id),
        &serde_json::json!({ "state": "routed", "deliveries": [] }),
    );
}

fn request_record(directory: &TestDirectory, id: &str) -> RequestRecord {
    directory
        .memory
        .read(&directory_schema::request_key(id))
        .expect("a request record")
}

/// Carol asks for Alice by her number; answers the conversation id.
fn carol_asks_alice(s: &Setup) -> String {
    let ask = text_as(&s.carol, "page-1", "m_new", "/new +1 650-555-1234");
    let deliveries = routed(&s.directory, &ask);
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    s.directory
        .conversations_at(&s.carol, "page-1")
        .current
        .unwrap()
}

#[test]
fn a_discoverable_person_is_found_by_phone_number_and_by_username() {
    let s = setup();
    let d = &s.directory;
    for query in [
        "+16505551234",
        "16505551234",
        "+1 650-555-1234",
        "+1 (650) 555.1234",
    ] {
        assert_eq!(d.discover(query), Some(s.alice.clone()), "{query}");
    }
    assert_eq!(d.discover("@bob_tg"), None, "not seen yet");

    // Bob writes (here, asks for help): the index learns his username.
    let mut hello = text_as(&s.bob, "tg-1", "1", "/help");
    hello.sender.attributes = vec![IdentityAttribute::Username("@Bob_TG".into())];
    routed(d, &hello);
    assert_eq!(d.discover("@bob_tg"), Some(s.bob.clone()));
    assert_eq!(d.discover("@BOB_TG"), Some(s.bob.clone()));

    // Carol finds him through it.
    let ask = text_as(&s.carol, "page-1", "m_1", "/new @bob_tg");
    let deliveries = routed(d, &ask);
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    assert_eq!(deliveries[1].recipient, s.bob);
    assert_eq!(deliveries[1].endpoint, "tg-1");

    // Withdrawn: not found any more, by username or number.
    d.consent(&s.bob, ConsentScope::Discoverable, false);
    d.consent(&s.alice, ConsentScope::Discoverable, false);
    assert_eq!(d.discover("@bob_tg"), None);
    assert_eq!(d.discover("+16505551234"), None);
}

#[test]
fn not_discoverable_unknown_self_and_blocked_get_the_same_answer() {
    let s = setup();
    let d = &s.directory;
    let asks = [
        ("m_1", "/new +15551112222"), // Dave: exists, not discoverable
        ("m_2", "/new +15559999999"), // nobody
        ("m_3", "/new @nobody"),      // no such username
        ("m_4", "/new 2345678901"),   // Carol's own id, read as a WhatsApp number
    ];
    let answers: Vec<String> = asks
        .iter()
        .map(|(id, body)| only_answer(d, &text_as(&s.carol, "page-1", id, body)))
        .collect();
    assert_eq!(answers[0].as_bytes(), answers[1].as_bytes());
    for answer in &answers {
        assert_eq!(answer, NOT_REACHABLE);
    }
    // Alice asking for herself.
    let own = only_answer(d, &text_as(&s.alice, "wa-1", "w_1", "/new +16505551234"));
    assert_eq!(own, NOT_REACHABLE);
    // Alice blocked Carol: Carol cannot ask her, nor she Carol (were Carol
    // discoverable).
    d.block(&s.alice, &s.carol);
    let blocked = only_answer(d, &text_as(&s.carol, "page-1", "m_5", "/new +16505551234"));
    assert_eq!(blocked, NOT_REACHABLE);
    // Bob without cross-app consent.
    d.consent(&s.bob, ConsentScope::CrossAppMessaging, false);
    let mut seen = text_as(&s.bob, "tg-1", "1", "hi");
    seen.sender.attributes = vec![IdentityAttribute::Username("bob_tg".into())];
    let _ = route(d, &seen);
    let no_consent = only_answer(d, &text_as(&s.dave, "wa-1", "w_2", "/new @bob_tg"));
    assert_eq!(no_consent, NOT_REACHABLE);
    assert!(
        d.conversations_of(&s.carol).is_empty(),
        "no request was made"
    );
    assert!(
        d.conversations_of(&s.dave).is_empty(),
        "no request was made"
    );
    assert!(
        d.memory
            .audit()
            .iter()
            .all(|record| record.action == "block"),
        "nothing but the block is audited"
    );
}

#[test]
fn new_makes_a_request_the_target_is_told_and_messages_are_held_until_accepted() {
    let s = setup();
    let d = &s.directory;
    // Carol already talks with Dave through her Page.
    let with_dave = d.conversation(ConversationKind::Direct, &[&s.carol, &s.dave]);

    let ask = text_as(&s.carol, "page-1", "m_new", "/new +1 650-555-1234");
    let deliveries = routed(d, &ask);
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    let id = d.conversations_at(&s.carol, "page-1").current.unwrap();
    assert_ne!(id, with_dave.id, "the request is current where Carol wrote");
    let conversation = d.stored(&id);
    assert_eq!(conversation.kind, ConversationKind::Direct);
    let carol_member = member(&conversation, &s.carol);
    let alice_member = member(&conversation, &s.alice);
    assert_eq!(carol_member.state, MemberState::Active);
    assert_eq!(carol_member.endpoint, "page-1");
    assert_eq!(alice_member.state, MemberState::Invited);

    let (answer, notice) = (&deliveries[0], &deliveries[1]);
    assert_eq!(answer.recipient, s.carol);
    assert_eq!(
        text_of(&answer.envelope.event).body,
        format!(
            "Request sent to {}. Your first message will reach them when they accept.",
            alice_member.alias
        )
    );
    assert_eq!(notice.recipient, s.alice);
    assert_eq!(notice.platform, "whatsapp");
    assert_eq!(notice.endpoint, alice_member.endpoint);
    assert_eq!(notice.envelope.id, "messenger:m_new:request");
    assert_eq!(notice.envelope.conversation.id, id);
    let told = &text_of(&notice.envelope.event).body;
    assert!(told.starts_with(&carol_member.alias), "{told}");
    assert!(
        told.contains("/accept") && told.contains("/decline"),
        "{told}"
    );
    assert!(!told.contains("2345678901"), "no id crosses: {told}");

    // Carol writes twice: held, nothing reaches Alice.
    let first = text_as(&s.carol, "page-1", "m_1", "Hi Alice, it's Carol");
    let second = text_as(&s.carol, "page-1", "m_2", "from the book club");
    for envelope in [&first, &second] {
        assert_eq!(routed(d, envelope), Vec::new());
        stored_and_routed(d, envelope);
    }
    assert_eq!(
        request_record(d, &id).held,
        ["messenger:m_1", "messenger:m_2"]
    );
    // Carol switches to Dave's conversation before Alice answers.
    only_answer(d, &text_as(&s.carol, "page-1", "m_to", "/to 1"));
    assert_eq!(
        d.conversations_at(&s.carol, "page-1").current.as_deref(),
        Some(with_dave.id.as_str())
    );

    // Alice accepts at the endpoint she was told through.
    let accept = text_as(&s.alice, &alice_member.endpoint, "wamid.acc", "/accept");
    let deliveries = routed(d, &accept);
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    assert_eq!(deliveries[0].recipient, s.alice);
    assert_eq!(
        text_of(&deliveries[0].envelope.event).body,
        format!("Accepted: you are now talking with {}.", carol_member.alias)
    );
    assert_eq!(deliveries[1].recipient, s.carol);
    assert_eq!(deliveries[1].endpoint, "page-1");
    assert!(
        text_of(&deliveries[1].envelope.event)
            .body
            .starts_with(&alice_member.alias)
    );
    assert_eq!(member(&d.stored(&id), &s.alice).state, MemberState::Active);
    let request = d.request_of(&id).unwrap();
    assert_eq!(request.state, RequestState::Accepted);
    assert_eq!(request.held, 0);

    // The held envelopes are back in the inbox, their statuses gone.
    for envelope in [&first, &second] {
        let queued = d.memory.get(&inbox_key(&envelope.id)).unwrap();
        assert_eq!(
            queued,
            d.memory.get(&envelope_key(&envelope.id)).unwrap(),
            "the gateway's record, as it was"
        );
        assert_eq!(
            d.memory
                .get(&directory_schema::status_key(&envelope.id))
                .unwrap(),
            None
        );
    }

    // Routed again by the pipeline: to Alice, in the request's conversation
    // although Carol's current one is Dave's.
    let again: Envelope = d.memory.read(&inbox_key(&first.id)).unwrap();
    let delivered = routed(d, &again);
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0].recipient, s.alice);
    assert_eq!(delivered[0].envelope.conversation.id, id);
    assert!(
        text_of(&delivered[0].envelope.event)
            .body
            .ends_with("Hi Alice, it's Carol")
    );

    // From now on messages flow both ways.
    let reply = text_as(&s.alice, &alice_member.endpoint, "wamid.r", "Hi Carol!");
    let delivered = routed(d, &reply);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].recipient, s.carol);
    assert_eq!(delivered[0].endpoint, "page-1");
    only_answer(d, &text_as(&s.carol, "page-1", "m_to2", "/to 2"));
    let more = text_as(&s.carol, "page-1", "m_3", "see you Thursday");
    let delivered = routed(d, &more);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].recipient, s.alice);

    // Audited with the person in chat as the actor.
    let audit: Vec<(String, String)> = d
        .memory
        .audit()
        .into_iter()
        .map(|record| (record.actor, record.action))
        .collect();
    assert_eq!(
        audit,
        [
            (
                "messenger:2345678901 in chat".to_string(),
                "request".to_string()
            ),
            (
                "whatsapp:16505551234 in chat".to_string(),
                "request-accepted".to_string()
            ),
        ]
    );
}

#[test]
fn decline_drops_the_held_messages_and_nothing_crosses() {
    let s = setup();
    let d = &s.directory;
    let id = carol_asks_alice(&s);
    let endpoint = member(&d.stored(&id), &s.alice).endpoint.clone();
    let held = text_as(&s.carol, "page-1", "m_1", "hello?");
    assert_eq!(routed(d, &held), Vec::new());
    stored_and_routed(d, &held);

    let declined = only_answer(d, &text_as(&s.alice, &endpoint, "w_1", "/decline"));
    assert!(declined.starts_with("Declined"), "{declined}");
    let record = request_record(d, &id);
    assert_eq!(record.state, Stored::Declined);
    assert!(record.held.is_empty(), "the held ids are dropped");
    assert_eq!(d.memory.get(&inbox_key(&held.id)).unwrap(), None);
    assert_eq!(member(&d.stored(&id), &s.alice).state, MemberState::Left);

    // Carol writes again: nothing reaches Alice, nothing is held.
    let again = text_as(&s.carol, "page-1", "m_2", "anyone?");
    assert_eq!(routed(d, &again), Vec::new());
    assert!(request_record(d, &id).held.is_empty());
    // Nothing left to accept.
    let accept = only_answer(d, &text_as(&s.alice, &endpoint, "w_2", "/accept"));
    assert_eq!(accept, "You have no request to answer here.");
    let audit = d.memory.audit();
    assert_eq!(audit.last().unwrap().action, "request-declined");
    assert_eq!(audit.last().unwrap().actor, "whatsapp:16505551234 in chat");
}

#[test]
fn an_expired_request_cannot_be_accepted_and_holds_nothing() {
    let s = setup();
    let d = &s.directory;
    let id = carol_asks_alice(&s);
    let endpoint = member(&d.stored(&id), &s.alice).endpoint.clone();
    let held = text_as(&s.carol, "page-1", "m_1", "hello?");
    assert_eq!(routed(d, &held), Vec::new());
    stored_and_routed(d, &held);

    let mut record = request_record(d, &id);
    record.created_at_ms = NOW_MS - 31 * DAY_MS;
    d.memory.put(directory_schema::request_key(&id), &record);
    assert_eq!(d.request_of(&id).unwrap().state, RequestState::Declined);

    let accept = only_answer(d, &text_as(&s.alice, &endpoint, "w_1", "/accept"));
    assert_eq!(
        accept,
        "That request has expired: nothing of it reaches you."
    );
    assert_eq!(d.memory.get(&inbox_key(&held.id)).unwrap(), None);
    assert_eq!(member(&d.stored(&id), &s.alice).state, MemberState::Left);
    assert_eq!(request_record(d, &id).state, Stored::Declined);
    let late = text_as(&s.carol, "page-1", "m_2", "still there?");
    assert_eq!(routed(d, &late), Vec::new());
}

#[test]
fn a_message_met_after_expiry_is_not_held() {
    let s = setup();
    let d = &s.directory;
    let id = carol_asks_alice(&s);
    let mut record = request_record(d, &id);
    record.created_at_ms = NOW_MS - 30 * DAY_MS - 1;
    d.memory.put(directory_schema::request_key(&id), &record);
    let late = text_as(&s.carol, "page-1", "m_1", "hello?");
    assert_eq!(routed(d, &late), Vec::new());
    let record = request_record(d, &id);
    assert_eq!(record.state, Stored::Declined);
    assert!(record.held.is_empty());
}

#[test]
fn accept_picks_the_newest_request_or_the_numbered_one() {
    let s = setup();
    let d = &s.directory;
    let mut seen = text_as(&s.bob, "tg-1", "1", "/help");
    seen.sender.attributes = vec![IdentityAttribute::Username("bob_tg".into())];
    routed(d, &seen);
    for (asker, endpoint) in [(&s.carol, "page-1"), (&s.alice, "wa-1")] {
        let ask = text_as(asker, endpoint, "ask", "/new @bob_tg");
        let deliveries = routed(d, &ask);
        assert_eq!(deliveries.len(), 2, "{deliveries:?}");
        assert_eq!(deliveries[1].endpoint, "tg-1", "Telegram's one endpoint");
    }
    assert_eq!(d.conversations_at(&s.bob, "tg-1").conversations.len(), 2);
    // `/accept 1`: the oldest, Carol's.
    let deliveries = routed(d, &text_as(&s.bob, "tg-1", "2", "/accept 1"));
    assert_eq!(deliveries[1].recipient, s.carol);
    // `/accept`: the newest still waiting, Alice's.
    let deliveries = routed(d, &text_as(&s.bob, "tg-1", "3", "/accept"));
    assert_eq!(deliveries[1].recipient, s.alice);
    let deliveries = routed(d, &text_as(&s.bob, "tg-1", "4", "/accept"));
    assert_eq!(deliveries.len(), 1, "none left");
}

#[test]
fn who_shows_the_invited_member_and_help_lists_the_new_commands() {
    let s = setup();
    let d = &s.directory;
    let id = carol_asks_alice(&s);
    let alias = member(&d.stored(&id), &s.alice).alias.clone();
    let who = only_answer(d, &text_as(&s.carol, "page-1", "m_w", "/who"));
    assert!(who.contains(&format!("{alias} (invited)")), "{who}");
    assert!(
        who.starts_with(&format!("{alias}:")),
        "named after them: {who}"
    );
    let help = only_answer(d, &text_as(&s.carol, "page-1", "m_h", "/help"));
    for command in ["/new", "/accept", "/decline"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn a_command_reaches_nobody_but_its_sender_without_a_request() {
    let s = setup();
    let d = &s.directory;
    let direct = d.conversation(ConversationKind::Direct, &[&s.carol, &s.alice]);
    let help = text_as(
        &s.carol,
        &member(&direct, &s.carol).endpoint,
        "m_1",
        "/help",
    );
    let Verdict::Reject(rejection) = check(d, &help, &s.alice, NOW_MS) else {
        panic!("a /help cannot go to another member");
    };
    assert_eq!(rejection.reason, RejectionReason::NoConversation);
    // `/new` reaches only its request's target, `/accept` only its requester.
    let ask = text_as(&s.carol, "page-1", "m_2", "/new +16505551234");
    routed(d, &ask);
    assert!(matches!(check(d, &ask, &s.bob, NOW_MS), Verdict::Reject(_)));
    let accept = text_as(&s.alice, "wa-1", "w_1", "/accept");
    assert!(
        matches!(check(d, &accept, &s.carol, NOW_MS), Verdict::Reject(_)),
        "nothing accepted yet"
    );
}
