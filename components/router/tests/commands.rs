//! In-chat commands: answered to the sender on their own app through the
//! endpoint they wrote to, never forwarded; `/to` switches conversations,
//! `/leave`, `/block`, `/stop` and `/start` change the directory (audited with
//! the person as the actor).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::route;

use router::commands::{CHOICE_PREFIX, HELP};
use router::{Delivery, Facts, RejectionReason, RouteError, Verdict, check};
use support::{NOW_MS, TestDirectory, addr, member, text_of, unlabelled, with_message};
use switchboard_pdk::types::{
    Address, Choice, ChoiceOrigin, Content, ConversationKind, Event, InteractiveAction, Message,
    MessageCategory, MessageRef,
};

/// The one delivery of a routed envelope.
fn only(deliveries: Result<Vec<Delivery>, RouteError>) -> Delivery {
    let mut deliveries = deliveries.expect("routed");
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    deliveries.remove(0)
}

/// Alice on WhatsApp, at one endpoint, in a direct conversation with Bob
/// (Messenger), then a group with Bob and Carol (Instagram).
struct Setup {
    directory: TestDirectory,
    alice: Address,
    bob: Address,
    carol: Address,
    direct: router::ConversationRecord,
    group: router::ConversationRecord,
}

fn setup() -> Setup {
    let directory = TestDirectory::with_endpoints("whatsapp=wa-1 messenger=page-1 instagram=ig-1");
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("messenger", "2345678901");
    let carol = addr("instagram", "17841400000000001");
    directory.consenting(&[&alice, &bob, &carol]);
    let direct = directory.conversation(ConversationKind::Direct, &[&alice, &bob]);
    let group = directory.conversation(ConversationKind::Group, &[&alice, &bob, &carol]);
    Setup {
        directory,
        alice,
        bob,
        carol,
        direct,
        group,
    }
}

/// The answer to `command` from `sender`: checked to go to the sender alone,
/// on their app, through the endpoint written to, and to pass policy.
fn answer(directory: &TestDirectory, sender: &Address, native_id: &str, command: &str) -> Event {
    let envelope = directory.text_from(sender, native_id, command);
    answer_to(directory, envelope)
}

fn answer_to(directory: &TestDirectory, envelope: switchboard_pdk::types::Envelope) -> Event {
    let sender = envelope.sender.address.clone();
    let delivery = only(route(directory, &envelope));
    assert_eq!(
        delivery.recipient, sender,
        "the answer goes to the sender only"
    );
    assert_eq!(delivery.platform, sender.platform);
    assert_eq!(
        delivery.endpoint, envelope.recipient.id,
        "the endpoint written to"
    );
    assert_eq!(delivery.envelope.recipient, sender);
    assert_eq!(
        check(directory, &envelope, &delivery.recipient, NOW_MS),
        Verdict::Deliver
    );
    assert_eq!(
        directory.origin_of(&envelope.id),
        None,
        "a command is written in no conversation"
    );
    delivery.envelope.event
}

#[test]
fn help_and_unknown_commands_answer_with_the_help_text() {
    let Setup {
        directory, alice, ..
    } = setup();
    let help = answer(&directory, &alice, "wamid.1", "/help");
    assert_eq!(text_of(&help).body, HELP);
    let Event::Message(message) = &help else {
        panic!("{help:?}")
    };
    assert_eq!(message.category, MessageCategory::Service);

    let unknown = answer(&directory, &alice, "wamid.2", "  /XYZ now ");
    let body = &text_of(&unknown).body;
    assert!(body.starts_with("There is no /xyz command."), "{body}");
    assert!(body.ends_with(HELP), "{body}");

    // Someone in no conversation can still ask.
    let stranger = addr("whatsapp", "15550000000");
    let help = answer(&directory, &stranger, "wamid.3", "/help");
    assert_eq!(text_of(&help).body, HELP);
}

#[test]
fn who_lists_the_members_by_alias() {
    let Setup {
        directory,
        alice,
        group,
        ..
    } = setup();
    let who = answer(&directory, &alice, "wamid.1", "/who");
    let body = &text_of(&who).body;
    for member in &group.members {
        assert!(body.contains(&member.alias), "{body}");
    }
    assert!(
        body.contains(&format!("• {} (you)", member(&group, &alice).alias)),
        "{body}"
    );
    assert!(
        !body.contains("16505551234") && !body.contains("2345678901"),
        "{body}"
    );
}

#[test]
fn to_offers_a_list_and_a_number_or_a_pick_switches_the_conversation() {
    let Setup {
        directory,
        alice,
        bob,
        carol,
        direct,
        group,
    } = setup();
    let list = answer(&directory, &alice, "wamid.1", "/to");
    let Event::Message(Message {
        content: Content::Interactive(interactive),
        ..
    }) = &list
    else {
        panic!("a list: {list:?}")
    };
    let InteractiveAction::List(menu) = &interactive.action else {
        panic!("{interactive:?}")
    };
    let rows: Vec<&str> = menu
        .sections
        .iter()
        .flat_map(|section| section.rows.iter())
        .map(|row| row.id.as_str())
        .collect();
    assert_eq!(
        rows,
        vec![
            format!("{CHOICE_PREFIX}{}", direct.id),
            format!("{CHOICE_PREFIX}{}", group.id)
        ]
    );

    // The group is current (joined last): an unquoted message goes there.
    let deliveries = route(&directory, &directory.text_from(&alice, "wamid.2", "hi")).unwrap();
    assert_eq!(deliveries.len(), 2);

    // `/to 1`: the direct conversation with Bob.
    let switched = answer(&directory, &alice, "wamid.3", "/to 1");
    assert!(
        text_of(&switched)
            .body
            .starts_with("Your messages now go to:")
    );
    assert_eq!(
        directory
            .conversations_at(&alice, "wa-1")
            .current
            .as_deref(),
        Some(direct.id.as_str())
    );
    let delivery = only(route(
        &directory,
        &directory.text_from(&alice, "wamid.4", "hi Bob"),
    ));
    assert_eq!(delivery.recipient, bob);
    assert_eq!(unlabelled(&delivery.envelope.event), "hi Bob");

    // A pick from the list: back to the group.
    let pick = directory.envelope_from(
        &alice,
        "wamid.5",
        Event::Message(Message {
            content: Content::Choice(Choice {
                origin: ChoiceOrigin::ListRow,
                id: rows[1].to_string(),
                title: "Group of 3".into(),
            }),
            reply_to: None,
            forwarded: None,
            story: None,
            category: MessageCategory::Personal,
        }),
    );
    answer_to(&directory, pick);
    let deliveries = route(
        &directory,
        &directory.text_from(&alice, "wamid.6", "hi all"),
    )
    .unwrap();
    let mut reached: Vec<&Address> = deliveries.iter().map(|d| &d.recipient).collect();
    reached.sort_by_key(|address| address.platform.clone());
    assert_eq!(reached, vec![&carol, &bob]);

    // A number out of range changes nothing.
    let nothing = answer(&directory, &alice, "wamid.7", "/to 9");
    assert!(
        text_of(&nothing)
            .body
            .starts_with("There is no such conversation")
    );
    assert_eq!(
        directory
            .conversations_at(&alice, "wa-1")
            .current
            .as_deref(),
        Some(group.id.as_str())
    );
}

#[test]
fn leave_stops_everything_reaching_the_leaver() {
    let Setup {
        directory,
        alice,
        bob,
        carol,
        group,
        ..
    } = setup();
    answer(&directory, &alice, "wamid.1", "/leave");
    let record = directory.stored(&group.id);
    assert_eq!(member(&record, &alice).state, router::MemberState::Left);
    let audit = directory.memory.audit();
    let left = audit.last().unwrap();
    assert_eq!(left.action, "member-left");
    assert_eq!(left.actor, "whatsapp:16505551234 in chat");

    let from_bob = directory.text_in(&group, &bob, "m_1", "where did Alice go?");
    let deliveries = route(&directory, &from_bob).unwrap();
    assert_eq!(
        deliveries.iter().map(|d| &d.recipient).collect::<Vec<_>>(),
        vec![&carol]
    );
    // Alice's current conversation at wa-1 is now the direct one with Bob.
    let delivery = only(route(
        &directory,
        &directory.text_from(&alice, "wamid.2", "hi"),
    ));
    assert_eq!(delivery.recipient, bob);
    assert_ne!(delivery.envelope.conversation.id, group.id);
}

#[test]
fn block_with_a_quote_blocks_its_author() {
    let Setup {
        directory,
        alice,
        bob,
        carol,
        group,
        ..
    } = setup();
    // Carol writes in the group; Alice gets it as wamid.carol.
    let from_carol = directory.text_in(&group, &carol, "ig_1", "spam");
    assert_eq!(route(&directory, &from_carol).unwrap().len(), 2);
    directory.record_native_id("instagram:ig_1", &alice, "wamid.carol");

    let block = with_message(
        directory.text_from(&alice, "wamid.1", "/block"),
        |message| {
            message.reply_to = Some(MessageRef {
                platform: "whatsapp".into(),
                native_id: "wamid.carol".into(),
            })
        },
    );
    let answered = answer_to(&directory, block);
    assert!(text_of(&answered).body.starts_with("Blocked"));
    assert!(directory.is_blocked(&alice, &carol));
    assert!(!directory.is_blocked(&alice, &bob), "Bob is not blocked");
    let key = directory_schema::block_key(&support::account(&alice), &support::account(&carol));
    assert!(
        directory
            .memory
            .read::<directory_schema::BlockRecord>(&key)
            .is_some()
    );
    let audit = directory.memory.audit();
    let blocked = audit.last().unwrap();
    assert_eq!(blocked.action, "block");
    assert_eq!(blocked.actor, "whatsapp:16505551234 in chat");

    // Carol's next group message is refused for Alice, not for Bob.
    let again = directory.text_in(&group, &carol, "ig_2", "more spam");
    let verdict = check(&directory, &again, &alice, NOW_MS);
    assert!(
        matches!(&verdict, Verdict::Reject(r) if r.reason == RejectionReason::Blocked),
        "{verdict:?}"
    );
    assert_eq!(check(&directory, &again, &bob, NOW_MS), Verdict::Deliver);
}

#[test]
fn block_without_a_quote_in_a_group_blocks_no_one() {
    let Setup {
        directory,
        alice,
        bob,
        carol,
        ..
    } = setup();
    let answered = answer(&directory, &alice, "wamid.1", "/block");
    assert!(text_of(&answered).body.starts_with("Quote a message"));
    assert!(!directory.is_blocked(&alice, &bob) && !directory.is_blocked(&alice, &carol));
}

#[test]
fn stop_withdraws_consent_and_start_gives_it_back() {
    let Setup {
        directory,
        alice,
        bob,
        direct,
        ..
    } = setup();
    answer(&directory, &alice, "wamid.1", "/stop");
    let audit = directory.memory.audit();
    let stopped = audit.last().unwrap();
    assert_eq!(stopped.action, "consent");
    assert_eq!(stopped.actor, "whatsapp:16505551234 in chat");
    assert_eq!(stopped.details["granted"], false);

    let hello = directory.text_in(&direct, &alice, "wamid.2", "hi Bob");
    let verdict = check(&directory, &hello, &bob, NOW_MS);
    assert!(
        matches!(&verdict, Verdict::Reject(r) if r.reason == RejectionReason::NoConsent),
        "{verdict:?}"
    );
    // Nor does anything reach her.
    let from_bob = directory.text_in(&direct, &bob, "m_1", "hi Alice");
    assert!(matches!(
        check(&directory, &from_bob, &alice, NOW_MS),
        Verdict::Reject(_)
    ));

    answer(&directory, &alice, "wamid.3", "/start");
    let hello = directory.text_in(&direct, &alice, "wamid.4", "hi again");
    assert_eq!(check(&directory, &hello, &bob, NOW_MS), Verdict::Deliver);
    assert_eq!(directory.memory.audit().len(), 2);
}

#[test]
fn block_in_a_direct_conversation_blocks_the_other_member() {
    let Setup {
        directory,
        alice,
        bob,
        carol,
        direct,
        ..
    } = setup();
    answer(&directory, &alice, "wamid.1", "/to 1");
    let answered = answer(&directory, &alice, "wamid.2", "/block");
    assert!(text_of(&answered).body.starts_with("Blocked"));
    assert!(directory.is_blocked(&alice, &bob));
    assert!(!directory.is_blocked(&alice, &carol));
    let from_bob = directory.text_in(&direct, &bob, "m_1", "hi?");
    let verdict = check(&directory, &from_bob, &alice, NOW_MS);
    assert!(
        matches!(&verdict, Verdict::Reject(r) if r.reason == RejectionReason::Blocked),
        "{verdict:?}"
    );
}

#[test]
fn leave_with_a_quote_leaves_the_quoted_conversation() {
    let Setup {
        directory,
        alice,
        bob,
        direct,
        group,
        ..
    } = setup();
    // Bob switches from the group (joined last, current at his Page) to the
    // direct conversation and writes there; Alice gets it as wamid.bob.
    answer(&directory, &bob, "m_0", "/to 1");
    only(route(
        &directory,
        &directory.text_in(&direct, &bob, "m_1", "hi Alice"),
    ));
    directory.record_native_id("messenger:m_1", &alice, "wamid.bob");
    // The group is current, but Alice quotes Bob's direct message.
    let leave = with_message(
        directory.text_from(&alice, "wamid.1", "/leave"),
        |message| {
            message.reply_to = Some(MessageRef {
                platform: "whatsapp".into(),
                native_id: "wamid.bob".into(),
            })
        },
    );
    answer_to(&directory, leave);
    assert_eq!(
        member(&directory.stored(&direct.id), &alice).state,
        router::MemberState::Left
    );
    assert_eq!(
        member(&directory.stored(&group.id), &alice).state,
        router::MemberState::Active
    );
    assert_eq!(directory.conversations_of(&alice), vec![group.id.clone()]);
}
