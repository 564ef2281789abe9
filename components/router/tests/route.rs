//! `router.route`: the conversation an envelope belongs to, its targets and
//! their endpoints, pseudonymous senders and the writer's label, consented
//! attributes, message references mapped to each recipient's own copy,
//! echoes and extras.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::route;

use conversations::Joiner;
use router::{
    ConsentScope, ConversationRecord, Delivery, Facts, MemberState, RouteError, UnmappedReference,
};
use support::{
    ENDPOINTS, NOW_MS, TestDirectory, addr, alice_and_bob, envelope_to, member, text_of,
    unlabelled, with_message,
};
use switchboard_pdk::types::{
    Address, Content, ConversationKind, Edit, Envelope, Event, ExtraField, FormattedText,
    IdentityAttribute, Media, MediaKind, MediaSource, Message, MessageRef, Reaction,
    ReactionAction, Receipt, ReceiptStatus, Span, SpanStyle, StoryRef, StoryRelation,
};

/// The error for a reference `native_id` that maps for no target.
fn unmapped(native_id: &str) -> RouteError {
    RouteError::UnknownMessage(UnmappedReference {
        native_id: native_id.to_string(),
        deliverable: Vec::new(),
    })
}

/// The one delivery of a routed envelope.
fn only(deliveries: Result<Vec<Delivery>, RouteError>) -> Delivery {
    let mut deliveries = deliveries.expect("routed");
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    deliveries.remove(0)
}

/// The message of the one delivery of a routed envelope.
fn only_message(deliveries: Result<Vec<Delivery>, RouteError>) -> Message {
    match only(deliveries).envelope.event {
        Event::Message(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The recipients of routed deliveries, in order.
fn recipients(deliveries: &[Delivery]) -> Vec<&Address> {
    deliveries
        .iter()
        .map(|delivery| &delivery.recipient)
        .collect()
}

/// The delivery to `recipient`; fails the test when there is none.
fn to<'a>(deliveries: &'a [Delivery], recipient: &Address) -> &'a Delivery {
    deliveries
        .iter()
        .find(|delivery| delivery.recipient == *recipient)
        .unwrap_or_else(|| panic!("nothing for {recipient:?} in {deliveries:?}"))
}

fn reference(platform: &str, native_id: &str) -> MessageRef {
    MessageRef {
        platform: platform.to_string(),
        native_id: native_id.to_string(),
    }
}

/// `envelope`'s message now quoting `quoted`.
fn quoting(envelope: Envelope, quoted: MessageRef) -> Envelope {
    with_message(envelope, |message| message.reply_to = Some(quoted))
}

fn reaction_event(target: MessageRef, emoji: &str) -> Event {
    Event::Reaction(Reaction {
        target,
        action: ReactionAction::Add,
        emoji: emoji.to_string(),
    })
}

fn receipt_event(targets: Vec<MessageRef>, watermark_ms: Option<u64>) -> Event {
    Event::Receipt(Receipt {
        status: ReceiptStatus::Read,
        targets,
        watermark_ms,
        failure: None,
    })
}

/// Text with mentions (and any other spans).
fn text_with(body: &str, spans: Vec<Span>) -> Content {
    Content::Text(FormattedText {
        body: body.to_string(),
        spans,
    })
}

fn mention(start: u32, end: u32, address: Address) -> Span {
    Span {
        start,
        end,
        style: SpanStyle::Mention(address),
    }
}

/// Alice's first message, routed to Bob, and delivered there as `m_1` (what
/// the delivery worker records after Messenger's send API answers).
fn alice_wrote_and_bob_received(directory: &TestDirectory, alice: &Address, bob: &Address) {
    let first = directory.text_from(alice, "wamid.1", "hello Bob");
    only(route(directory, &first));
    directory.record_native_id("whatsapp:wamid.1", bob, "m_1");
}

#[test]
fn delivers_to_the_other_member_from_the_senders_handle() {
    let (directory, alice, bob, conversation) = alice_and_bob();
    let hello = directory.text_from(&alice, "wamid.1", "hello Bob");
    assert_eq!(
        hello.recipient,
        addr("whatsapp", "wa-1"),
        "Alice's endpoint"
    );
    let delivery = only(route(&directory, &hello));

    assert_eq!(delivery.platform, "messenger");
    assert_eq!(delivery.recipient, bob);
    assert_eq!(delivery.endpoint, "page-1", "Bob's endpoint");
    let envelope = &delivery.envelope;
    assert_eq!(envelope.recipient, bob);
    let handle = &member(&conversation, &alice).handle;
    assert!(handle.starts_with("sb-"));
    assert_eq!(envelope.sender.address, addr("messenger", handle));
    assert_eq!(envelope.conversation.kind, ConversationKind::Direct);
    assert_eq!(envelope.conversation.id, conversation.id);
    assert_eq!(envelope.native_id, None, "A's native id does not cross");
    assert_eq!(envelope.id, "whatsapp:wamid.1", "the canonical id is kept");
    assert_eq!(envelope.platform, "whatsapp", "the app of origin");
    assert_eq!(unlabelled(&envelope.event), "hello Bob");
    assert!(!envelope.echo);

    // Bob answers through his endpoint: Alice gets it through hers.
    let answer = directory.text_from(&bob, "m_2", "hi Alice");
    assert_eq!(answer.recipient, addr("messenger", "page-1"));
    let delivery = only(route(&directory, &answer));
    assert_eq!(delivery.recipient, alice);
    assert_eq!(delivery.endpoint, "wa-1");
}

#[test]
fn records_the_native_id_and_origin_of_messages_only() {
    let (directory, alice, _, conversation) = alice_and_bob();
    only(route(
        &directory,
        &directory.text_from(&alice, "wamid.1", "hi"),
    ));
    assert_eq!(
        directory.canonical_id("whatsapp", "wamid.1").as_deref(),
        Some("whatsapp:wamid.1")
    );
    assert_eq!(
        directory.native_id("whatsapp:wamid.1", &alice).as_deref(),
        Some("wamid.1")
    );
    let origin = directory.origin_of("whatsapp:wamid.1").unwrap();
    assert_eq!(origin.conversation_id, conversation.id);
    assert_eq!(origin.author, alice);

    let typing = directory.envelope_from(
        &alice,
        "wamid.typing",
        Event::Typing(switchboard_pdk::types::TypingState::Started),
    );
    only(route(&directory, &typing));
    assert_eq!(directory.canonical_id("whatsapp", "wamid.typing"), None);
    assert_eq!(directory.origin_of("whatsapp:wamid.typing"), None);
}

#[test]
fn echoes_are_never_routed() {
    let (directory, alice, _, _) = alice_and_bob();
    let mut echo = directory.text_from(&alice, "wamid.echo", "sent by us");
    echo.echo = true;
    assert_eq!(route(&directory, &echo).unwrap(), Vec::new());
    assert_eq!(
        directory.canonical_id("whatsapp", "wamid.echo"),
        None,
        "an echo records nothing"
    );
}

#[test]
fn refuses_a_sender_in_no_conversation_at_the_endpoint() {
    let (directory, alice, _, _) = alice_and_bob();
    let loner = addr("whatsapp", "15550000000");
    let hello = directory.text_from(&loner, "wamid.1", "anyone?");
    assert_eq!(
        route(&directory, &hello),
        Err(RouteError::NoConversation(loner))
    );

    // Alice is in a conversation through wa-1, not wa-2.
    let elsewhere = envelope_to(&alice, "wa-2", "wamid.2", support::text_event("hi"));
    assert_eq!(
        route(&directory, &elsewhere),
        Err(RouteError::NoConversation(alice.clone()))
    );
    assert_eq!(
        directory.origin_of("whatsapp:wamid.2"),
        None,
        "nothing is recorded as written in a conversation"
    );
}

#[test]
fn phone_number_does_not_cross_without_consent() {
    let (directory, alice, _, _) = alice_and_bob();
    let delivery = only(route(
        &directory,
        &directory.text_from(&alice, "wamid.1", "hi"),
    ));
    assert_eq!(delivery.envelope.sender.attributes, Vec::new());
    let json = serde_json::to_string(&delivery.envelope).unwrap();
    assert!(
        !json.contains("16505551234") && !json.contains("Alice Example"),
        "Alice's number and name appear nowhere in the delivery: {json}"
    );
}

#[test]
fn attributes_cross_with_their_own_consent() {
    let (directory, alice, _, _) = alice_and_bob();
    directory.consent(&alice, ConsentScope::SharePhoneNumber, true);
    let delivery = only(route(
        &directory,
        &directory.text_from(&alice, "wamid.1", "hi"),
    ));
    assert_eq!(
        delivery.envelope.sender.attributes,
        vec![IdentityAttribute::PhoneNumber("+16505551234".to_string())]
    );

    directory.consent(&alice, ConsentScope::SharePhoneNumber, false);
    directory.consent(&alice, ConsentScope::ShareDisplayName, true);
    directory.consent(&alice, ConsentScope::ShareUsername, true);
    let delivery = only(route(
        &directory,
        &directory.text_from(&alice, "wamid.2", "hi"),
    ));
    assert_eq!(
        delivery.envelope.sender.attributes,
        vec![
            IdentityAttribute::DisplayName("Alice Example".to_string()),
            IdentityAttribute::Username("alice_ex".to_string()),
        ],
        "a withdrawn consent takes the phone number back out"
    );
}

/// The label span a delivery's text starts with, checked to be bold and to
/// cover exactly `label` before a line break.
fn assert_labelled(event: &Event, label: &str, rest: &str) {
    let text = text_of(event);
    assert_eq!(text.body, format!("{label}\n{rest}"));
    let length = u32::try_from(label.chars().count()).unwrap();
    assert_eq!(
        text.spans.first(),
        Some(&Span {
            start: 0,
            end: length,
            style: SpanStyle::Bold,
        }),
        "the bold span covers the label, in characters: {:?}",
        text.spans
    );
}

#[test]
fn the_writer_is_named_by_alias_unless_they_share_their_name() {
    let (directory, alice, _, conversation) = alice_and_bob();
    let alias = &member(&conversation, &alice).alias;
    assert!(alias.ends_with(" · WhatsApp"), "{alias}");
    let delivery = only(route(
        &directory,
        &directory.text_from(&alice, "wamid.1", "hi"),
    ));
    assert_labelled(&delivery.envelope.event, alias, "hi");

    directory.consent(&alice, ConsentScope::ShareDisplayName, true);
    let delivery = only(route(
        &directory,
        &directory.text_from(&alice, "wamid.2", "hi"),
    ));
    assert_labelled(&delivery.envelope.event, "Alice Example · WhatsApp", "hi");

    // Media without a caption gets the label as its caption.
    let photo = directory.envelope_from(
        &alice,
        "wamid.3",
        Event::Message(Message {
            content: Content::Media(Media {
                kind: MediaKind::Image,
                source: MediaSource::PlatformId("media-1".into()),
                mime_type: Some("image/jpeg".into()),
                size_bytes: None,
                sha256: None,
                caption: None,
                filename: None,
                duration_ms: None,
                width: None,
                height: None,
            }),
            reply_to: None,
            forwarded: None,
            story: None,
            category: switchboard_pdk::types::MessageCategory::Personal,
        }),
    );
    let delivery = only(route(&directory, &photo));
    let caption = text_of(&delivery.envelope.event);
    assert_eq!(caption.body, "Alice Example · WhatsApp");
    assert_eq!(
        caption.spans,
        vec![Span {
            start: 0,
            end: 24,
            style: SpanStyle::Bold
        }]
    );
}

#[test]
fn replies_map_both_ways_through_the_canonical_id() {
    let (directory, alice, bob, _) = alice_and_bob();
    alice_wrote_and_bob_received(&directory, &alice, &bob);

    // Bob answers on Messenger, quoting m_1: Alice sees her wamid.1 quoted.
    let answer = quoting(
        directory.text_from(&bob, "m_2", "hi Alice"),
        reference("messenger", "m_1"),
    );
    let delivery = only(route(&directory, &answer));
    assert_eq!(delivery.recipient, alice);
    let Event::Message(message) = &delivery.envelope.event else {
        panic!("a message");
    };
    assert_eq!(message.reply_to, Some(reference("whatsapp", "wamid.1")));

    // Alice quotes her own first message: Bob sees m_1 quoted.
    let follow_up = quoting(
        directory.text_from(&alice, "wamid.3", "as I said"),
        reference("whatsapp", "wamid.1"),
    );
    let message = only_message(route(&directory, &follow_up));
    assert_eq!(message.reply_to, Some(reference("messenger", "m_1")));
}

#[test]
fn an_unknown_reply_target_drops_the_quote_not_the_message() {
    let (directory, alice, _, _) = alice_and_bob();
    let unknown = reference("whatsapp", "wamid.never-seen");
    let about = quoting(
        directory.text_from(&alice, "wamid.9", "about that"),
        unknown,
    );
    let message = only_message(route(&directory, &about));
    assert_eq!(message.reply_to, None);
    assert_eq!(
        unlabelled(&Event::Message(message)),
        "about that",
        "the text goes on"
    );
}

#[test]
fn reactions_map_to_the_recipients_copy() {
    let (directory, alice, bob, _) = alice_and_bob();
    alice_wrote_and_bob_received(&directory, &alice, &bob);
    let heart = directory.envelope_from(
        &bob,
        "m_1_react",
        reaction_event(reference("messenger", "m_1"), "❤"),
    );
    let delivery = only(route(&directory, &heart));
    assert_eq!(delivery.recipient, alice);
    assert_eq!(
        delivery.envelope.event,
        reaction_event(reference("whatsapp", "wamid.1"), "❤")
    );
}

#[test]
fn a_reaction_to_an_unknown_message_is_an_error() {
    let (directory, _, bob, _) = alice_and_bob();
    let thumbs_up = directory.envelope_from(
        &bob,
        "m_react",
        reaction_event(reference("messenger", "m_unknown"), "👍"),
    );
    assert_eq!(route(&directory, &thumbs_up), Err(unmapped("m_unknown")));
}

#[test]
fn a_reaction_goes_where_its_message_went_and_says_where_it_did_not() {
    let directory = TestDirectory::default();
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("messenger", "2345678901");
    let carol = addr("instagram", "17841400000000001");
    directory.consenting(&[&alice, &bob, &carol]);
    directory.conversation(ConversationKind::Group, &[&alice, &bob, &carol]);
    // Alice's message reached Bob as m_1; Carol's copy is not sent yet.
    let first = directory.text_from(&alice, "wamid.1", "hello both");
    assert_eq!(route(&directory, &first).unwrap().len(), 2);
    directory.record_native_id("whatsapp:wamid.1", &bob, "m_1");

    let thumbs_up = directory.envelope_from(
        &bob,
        "m_react",
        reaction_event(reference("messenger", "m_1"), "👍"),
    );
    let Err(RouteError::UnknownMessage(unmapped)) = route(&directory, &thumbs_up) else {
        panic!("the reference does not map for Carol");
    };
    assert_eq!(unmapped.native_id, "m_1");
    assert_eq!(
        recipients(&unmapped.deliverable),
        vec![&alice],
        "Alice still gets Bob's reaction"
    );
    assert_eq!(
        unmapped.deliverable[0].envelope.event,
        reaction_event(reference("whatsapp", "wamid.1"), "👍")
    );
}

#[test]
fn edits_and_deletions_map_their_targets() {
    let (directory, alice, bob, _) = alice_and_bob();
    alice_wrote_and_bob_received(&directory, &alice, &bob);
    let new_text = text_with("hello Bob!", Vec::new());
    let known_edit = directory.envelope_from(
        &alice,
        "wamid.edit",
        Event::Edit(Edit {
            target: reference("whatsapp", "wamid.1"),
            content: new_text.clone(),
        }),
    );
    let delivered = only(route(&directory, &known_edit)).envelope.event;
    let Event::Edit(edited) = &delivered else {
        panic!("an edit: {delivered:?}");
    };
    assert_eq!(edited.target, reference("messenger", "m_1"));
    assert_eq!(
        unlabelled(&delivered),
        "hello Bob!",
        "the new text, labelled"
    );

    let deletion = directory.envelope_from(
        &alice,
        "wamid.del",
        Event::Deletion(reference("whatsapp", "wamid.1")),
    );
    assert_eq!(
        only(route(&directory, &deletion)).envelope.event,
        Event::Deletion(reference("messenger", "m_1"))
    );

    let unknown_edit = directory.envelope_from(
        &alice,
        "wamid.edit2",
        Event::Edit(Edit {
            target: reference("whatsapp", "wamid.never-seen"),
            content: new_text,
        }),
    );
    assert_eq!(
        route(&directory, &unknown_edit),
        Err(unmapped("wamid.never-seen"))
    );
}

#[test]
fn receipts_go_back_to_the_author_with_their_own_ids() {
    let (directory, alice, bob, conversation) = alice_and_bob();
    alice_wrote_and_bob_received(&directory, &alice, &bob);
    let read = |targets: Vec<MessageRef>| {
        directory.envelope_from(&bob, "m_read", receipt_event(targets, Some(NOW_MS)))
    };
    let delivery = only(route(
        &directory,
        &read(vec![reference("messenger", "m_1")]),
    ));
    assert_eq!(delivery.platform, "whatsapp");
    assert_eq!(delivery.recipient, alice);
    assert_eq!(
        delivery.envelope.sender.address,
        addr("whatsapp", &member(&conversation, &bob).handle)
    );
    assert_eq!(
        delivery.envelope.event,
        receipt_event(vec![reference("whatsapp", "wamid.1")], Some(NOW_MS))
    );

    assert_eq!(
        route(
            &directory,
            &read(vec![
                reference("messenger", "m_1"),
                reference("messenger", "m_other")
            ])
        ),
        Err(unmapped("m_other"))
    );
}

/// Alice and Dave on WhatsApp, Bob on Messenger, Carol on Instagram: a group
/// of four on three apps.
struct Group {
    directory: TestDirectory,
    alice: Address,
    bob: Address,
    carol: Address,
    dave: Address,
    conversation: ConversationRecord,
}

fn group_of_four() -> Group {
    let directory = TestDirectory::default();
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("messenger", "2345678901");
    let carol = addr("instagram", "17841400000000001");
    let dave = addr("whatsapp", "14155550000");
    directory.consenting(&[&alice, &bob, &carol, &dave]);
    let conversation =
        directory.conversation(ConversationKind::Group, &[&alice, &bob, &carol, &dave]);
    Group {
        directory,
        alice,
        bob,
        carol,
        dave,
        conversation,
    }
}

#[test]
fn a_group_message_reaches_every_other_member_once_through_their_endpoint() {
    let Group {
        directory,
        alice,
        bob,
        carol,
        dave,
        conversation,
    } = group_of_four();
    let hello = directory.text_in(&conversation, &alice, "wamid.1", "hi all");
    let deliveries = route(&directory, &hello).unwrap();
    let mut reached = recipients(&deliveries);
    reached.sort_by_key(|address| (address.platform.clone(), address.id.clone()));
    assert_eq!(reached, vec![&carol, &bob, &dave], "each once, not Alice");
    let alias = &member(&conversation, &alice).alias;
    for delivery in &deliveries {
        let target = member(&conversation, &delivery.recipient);
        assert_eq!(delivery.endpoint, target.endpoint);
        assert_eq!(delivery.platform, delivery.recipient.platform);
        assert_eq!(delivery.envelope.conversation.kind, ConversationKind::Group);
        assert_eq!(delivery.envelope.conversation.id, conversation.id);
        assert_eq!(
            delivery.envelope.sender.address,
            addr(
                &delivery.recipient.platform,
                &member(&conversation, &alice).handle
            )
        );
        assert_labelled(&delivery.envelope.event, alias, "hi all");
    }
    assert_eq!(to(&deliveries, &bob).endpoint, "page-1");
    assert_eq!(to(&deliveries, &carol).endpoint, "ig-1");
    assert_eq!(to(&deliveries, &dave).endpoint, "wa-1");

    // With her consent, Alice's name and app instead of her alias.
    directory.consent(&alice, ConsentScope::ShareDisplayName, true);
    let again = directory.text_in(&conversation, &alice, "wamid.2", "it's me");
    for delivery in route(&directory, &again).unwrap() {
        assert_labelled(
            &delivery.envelope.event,
            "Alice Example · WhatsApp",
            "it's me",
        );
    }
}

#[test]
fn in_a_group_replies_and_reactions_map_to_each_recipients_own_copy() {
    let Group {
        directory,
        alice,
        bob,
        carol,
        dave,
        conversation,
    } = group_of_four();
    // Bob wrote m_b; Alice and Dave, both on WhatsApp, got their own copies.
    let from_bob = directory.text_in(&conversation, &bob, "m_b", "who's in?");
    assert_eq!(route(&directory, &from_bob).unwrap().len(), 3);
    directory.record_native_id("messenger:m_b", &alice, "wamid.b-alice");
    directory.record_native_id("messenger:m_b", &dave, "wamid.b-dave");
    directory.record_native_id("messenger:m_b", &carol, "ig_b");

    let answer = quoting(
        directory.text_in(&conversation, &alice, "wamid.2", "me"),
        reference("whatsapp", "wamid.b-alice"),
    );
    let deliveries = route(&directory, &answer).unwrap();
    assert_eq!(deliveries.len(), 3);
    let quoted = |recipient: &Address| match &to(&deliveries, recipient).envelope.event {
        Event::Message(message) => message.reply_to.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(quoted(&bob), Some(reference("messenger", "m_b")));
    assert_eq!(quoted(&dave), Some(reference("whatsapp", "wamid.b-dave")));
    assert_eq!(quoted(&carol), Some(reference("instagram", "ig_b")));

    let heart = directory.envelope_in(
        &conversation,
        &carol,
        "ig_react",
        reaction_event(reference("instagram", "ig_b"), "❤"),
    );
    let deliveries = route(&directory, &heart).unwrap();
    assert_eq!(deliveries.len(), 3);
    let target = |recipient: &Address| match &to(&deliveries, recipient).envelope.event {
        Event::Reaction(reaction) => reaction.target.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(target(&alice), reference("whatsapp", "wamid.b-alice"));
    assert_eq!(target(&dave), reference("whatsapp", "wamid.b-dave"));
    assert_eq!(target(&bob), reference("messenger", "m_b"));
}

#[test]
fn a_receipt_in_a_group_goes_to_the_author_only() {
    let Group {
        directory,
        alice,
        bob,
        carol,
        dave,
        conversation,
    } = group_of_four();
    only_or_all(route(
        &directory,
        &directory.text_in(&conversation, &alice, "wamid.a", "hi all"),
    ));
    directory.record_native_id("whatsapp:wamid.a", &bob, "m_a");
    directory.record_native_id("whatsapp:wamid.a", &carol, "ig_a");
    directory.record_native_id("whatsapp:wamid.a", &dave, "wamid.a-dave");

    let read = directory.envelope_in(
        &conversation,
        &bob,
        "m_read",
        receipt_event(vec![reference("messenger", "m_a")], None),
    );
    let delivery = only(route(&directory, &read));
    assert_eq!(
        delivery.recipient, alice,
        "Carol and Dave are not told Bob read Alice's message"
    );
    assert_eq!(delivery.endpoint, "wa-1");
    assert_eq!(
        delivery.envelope.event,
        receipt_event(vec![reference("whatsapp", "wamid.a")], None)
    );

    // Dave, on Alice's app, reads his own copy: still Alice's alone.
    let read = directory.envelope_in(
        &conversation,
        &dave,
        "wamid.read",
        receipt_event(vec![reference("whatsapp", "wamid.a-dave")], None),
    );
    assert_eq!(only(route(&directory, &read)).recipient, alice);

    // A watermark-only receipt names no message: every other member gets it.
    let watermark = directory.envelope_in(
        &conversation,
        &bob,
        "m_watermark",
        receipt_event(Vec::new(), Some(NOW_MS)),
    );
    assert_eq!(route(&directory, &watermark).unwrap().len(), 3);
}

/// Routes an envelope that must go somewhere, whatever the number of copies.
fn only_or_all(deliveries: Result<Vec<Delivery>, RouteError>) -> Vec<Delivery> {
    let deliveries = deliveries.expect("routed");
    assert!(!deliveries.is_empty());
    deliveries
}

/// Alice on WhatsApp in a direct conversation with Bob (Messenger) and one
/// with Carol (Instagram).
fn alice_with_bob_and_carol(
    directory: &TestDirectory,
) -> (
    Address,
    Address,
    Address,
    ConversationRecord,
    ConversationRecord,
) {
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("messenger", "2345678901");
    let carol = addr("instagram", "17841400000000001");
    directory.consenting(&[&alice, &bob, &carol]);
    let with_bob = directory.conversation(ConversationKind::Direct, &[&alice, &bob]);
    let with_carol = directory.conversation(ConversationKind::Direct, &[&alice, &carol]);
    (alice, bob, carol, with_bob, with_carol)
}

#[test]
fn at_one_endpoint_a_quote_or_reaction_picks_the_conversation_else_the_current_one() {
    let directory = TestDirectory::with_endpoints("whatsapp=wa-1 messenger=page-1 instagram=ig-1");
    let (alice, bob, carol, with_bob, with_carol) = alice_with_bob_and_carol(&directory);
    assert_eq!(member(&with_bob, &alice).endpoint, "wa-1");
    assert_eq!(member(&with_carol, &alice).endpoint, "wa-1", "one endpoint");

    // Unquoted: the current conversation, the one joined last.
    let unquoted = directory.text_from(&alice, "wamid.1", "hi");
    let delivery = only(route(&directory, &unquoted));
    assert_eq!(delivery.recipient, carol);
    assert_eq!(delivery.envelope.conversation.id, with_carol.id);

    // Bob writes; his message reaches Alice as wamid.copy.
    let from_bob = directory.text_from(&bob, "m_b", "lunch?");
    let delivered = only(route(&directory, &from_bob));
    assert_eq!(delivered.recipient, alice);
    assert_eq!(delivered.endpoint, "wa-1");
    directory.record_native_id("messenger:m_b", &alice, "wamid.copy");
    // Carol writes too; hers reaches Alice as wamid.copy-c.
    only(route(
        &directory,
        &directory.text_from(&carol, "ig_c", "hey"),
    ));
    directory.record_native_id("instagram:ig_c", &alice, "wamid.copy-c");

    // Quoting Bob's message: to Bob only, quoting his own message.
    let answer = quoting(
        directory.text_from(&alice, "wamid.2", "yes"),
        reference("whatsapp", "wamid.copy"),
    );
    let delivery = only(route(&directory, &answer));
    assert_eq!(delivery.recipient, bob);
    assert_eq!(delivery.envelope.conversation.id, with_bob.id);
    let Event::Message(message) = &delivery.envelope.event else {
        panic!("a message");
    };
    assert_eq!(message.reply_to, Some(reference("messenger", "m_b")));

    // Reacting to Carol's message: to Carol only.
    let heart = directory.envelope_from(
        &alice,
        "wamid.3",
        reaction_event(reference("whatsapp", "wamid.copy-c"), "❤"),
    );
    let delivery = only(route(&directory, &heart));
    assert_eq!(delivery.recipient, carol);
    assert_eq!(
        delivery.envelope.event,
        reaction_event(reference("instagram", "ig_c"), "❤")
    );

    // A quote does not switch the current conversation.
    let delivery = only(route(
        &directory,
        &directory.text_from(&alice, "wamid.4", "so"),
    ));
    assert_eq!(delivery.recipient, carol);
}

#[test]
fn with_a_pool_each_conversation_has_its_own_endpoint() {
    let directory = TestDirectory::default();
    let (alice, bob, carol, with_bob, with_carol) = alice_with_bob_and_carol(&directory);
    assert_eq!(member(&with_bob, &alice).endpoint, "wa-1");
    assert_eq!(member(&with_carol, &alice).endpoint, "wa-2");

    let to_wa2 = directory.text_in(&with_carol, &alice, "wamid.1", "hi Carol");
    assert_eq!(to_wa2.recipient, addr("whatsapp", "wa-2"));
    let delivery = only(route(&directory, &to_wa2));
    assert_eq!(delivery.recipient, carol);
    assert_eq!(delivery.envelope.conversation.id, with_carol.id);

    let to_wa1 = directory.text_in(&with_bob, &alice, "wamid.2", "hi Bob");
    assert_eq!(only(route(&directory, &to_wa1)).recipient, bob);

    // Carol's answer reaches Alice through wa-2, Bob's through wa-1.
    let from_carol = directory.text_from(&carol, "ig_1", "hello");
    assert_eq!(only(route(&directory, &from_carol)).endpoint, "wa-2");
    let from_bob = directory.text_from(&bob, "m_1", "hello");
    assert_eq!(only(route(&directory, &from_bob)).endpoint, "wa-1");
}

#[test]
fn departed_and_invited_members_get_nothing_and_send_nowhere() {
    let directory = TestDirectory::default();
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("messenger", "2345678901");
    let carol = addr("instagram", "17841400000000001");
    let dave = addr("whatsapp", "14155550000");
    directory.consenting(&[&alice, &bob, &carol, &dave]);
    let mut invited = Joiner::person(support::account(&dave));
    invited.state = directory_schema::MemberState::Invited;
    let group = directory.conversation_of(
        ConversationKind::Group,
        vec![
            Joiner::person(support::account(&alice)),
            Joiner::person(support::account(&bob)),
            Joiner::person(support::account(&carol)),
            invited,
        ],
    );
    assert_eq!(member(&group, &dave).state, MemberState::Invited);

    let hello = directory.text_in(&group, &bob, "m_1", "hi");
    let deliveries = route(&directory, &hello).unwrap();
    assert_eq!(recipients(&deliveries), vec![&alice, &carol], "not Dave");

    let from_dave = directory.text_in(&group, &dave, "wamid.d", "can I?");
    assert_eq!(
        route(&directory, &from_dave),
        Err(RouteError::NoConversation(dave))
    );

    assert!(directory.leave(&group.id, &alice));
    let hello = directory.text_in(&group, &bob, "m_2", "still here?");
    assert_eq!(
        recipients(&route(&directory, &hello).unwrap()),
        vec![&carol],
        "not Alice, who left"
    );
    let from_alice = directory.text_in(&group, &alice, "wamid.a", "bye");
    assert_eq!(
        route(&directory, &from_alice),
        Err(RouteError::NoConversation(alice))
    );
}

#[test]
fn a_business_api_envelope_goes_to_its_addressee_in_a_shared_direct_conversation() {
    let directory = TestDirectory::default();
    let shop = addr("whatsapp", "106540352242922");
    let bob = addr("messenger", "2345678901");
    let carol = addr("instagram", "17841400000000001");
    let dave = addr("messenger", "9999");
    directory.consenting(&[&shop, &bob, &carol, &dave]);
    let with_bob = directory.conversation(ConversationKind::Direct, &[&shop, &bob]);
    directory.conversation(ConversationKind::Direct, &[&shop, &carol]);
    // A group with Dave is no direct conversation.
    directory.conversation(ConversationKind::Group, &[&shop, &dave, &carol]);

    let mut to_bob = directory.text_from(&shop, "api:1", "your order shipped");
    to_bob.recipient = bob.clone();
    let delivery = only(route(&directory, &to_bob));
    assert_eq!(delivery.recipient, bob);
    assert_eq!(delivery.endpoint, member(&with_bob, &bob).endpoint);
    assert_eq!(delivery.envelope.conversation.id, with_bob.id);

    let mut to_dave = to_bob.clone();
    to_dave.recipient = dave;
    assert_eq!(
        route(&directory, &to_dave),
        Err(RouteError::NoConversation(shop.clone()))
    );
    let mut to_stranger = to_bob.clone();
    to_stranger.recipient = addr("messenger", "123");
    assert_eq!(
        route(&directory, &to_stranger),
        Err(RouteError::NoConversation(shop.clone()))
    );

    // Once Bob leaves, the conversation is no longer shared.
    assert!(directory.leave(&with_bob.id, &bob));
    assert_eq!(
        route(&directory, &to_bob),
        Err(RouteError::NoConversation(shop))
    );
}

/// An extra as a translator declares it.
fn extra(path: &str, json: &str, personal: bool) -> ExtraField {
    ExtraField {
        path: path.to_string(),
        json: json.to_string(),
        personal,
    }
}

/// The pointers of the extras a delivery carries.
fn extra_paths(delivery: &Delivery) -> Vec<&str> {
    delivery
        .envelope
        .extras
        .iter()
        .map(|extra| extra.path.as_str())
        .collect()
}

#[test]
fn personal_extras_are_dropped_and_others_kept() {
    let (directory, alice, _, _) = alice_and_bob();
    let mut hello = directory.text_from(&alice, "wamid.1", "hi");
    // What the WhatsApp translator declares personal: a party's ids, the
    // business number, the quoted message's author.
    hello.extras = vec![
        extra(
            "/entry/0/changes/0/value/contacts/0/user_id",
            "\"US.13491208655302741918\"",
            true,
        ),
        extra(
            "/entry/0/changes/0/value/metadata/display_phone_number",
            "\"15550783881\"",
            true,
        ),
        extra(
            "/entry/0/changes/0/value/messages/0/context/from",
            "\"16505551234\"",
            true,
        ),
        extra("/entry/0/messaging/0/sender/user_ref", "\"abc\"", true),
        extra("/entry/0/id", "\"102290129340398\"", true),
        extra(
            "/entry/0/changes/0/value/messages/0/order",
            r#"{"catalog_id":"42"}"#,
            false,
        ),
        extra(
            "/entry/0/changes/0/value/messages/0/sticker/animated",
            "false",
            false,
        ),
    ];
    let delivery = only(route(&directory, &hello));
    assert_eq!(
        extra_paths(&delivery),
        vec![
            "/entry/0/changes/0/value/messages/0/order",
            "/entry/0/changes/0/value/messages/0/sticker/animated",
        ]
    );
    assert!(delivery.envelope.extras.iter().all(|extra| !extra.personal));
}

#[test]
fn the_declaration_decides_whatever_the_app() {
    // Alice on Telegram, in a conversation with Bob on Messenger: the router
    // knows nothing of Telegram's format, only what its translator declared.
    let directory = TestDirectory::with_endpoints(&format!("{ENDPOINTS} telegram=bot-1"));
    let alice = addr("telegram", "123456789");
    let bob = addr("messenger", "2345678901");
    directory.consenting(&[&alice, &bob]);
    directory.conversation(ConversationKind::Direct, &[&alice, &bob]);
    let mut hello = directory.text_from(&alice, "123456789:42", "hi");
    assert_eq!(hello.recipient, addr("telegram", "bot-1"));
    hello.extras = vec![
        extra(
            "/message/reply_to_message",
            r#"{"message_id":41,"chat":{"id":123456789,"first_name":"Alice","username":"alice"}}"#,
            true,
        ),
        extra("/message/author_signature", "\"Alice Example\"", true),
        extra(
            "/message/entities/1",
            r#"{"type":"underline","offset":0,"length":2}"#,
            false,
        ),
        extra("/message/has_media_spoiler", "true", false),
    ];
    let delivery = only(route(&directory, &hello));
    assert_eq!(delivery.platform, "messenger");
    assert_eq!(
        extra_paths(&delivery),
        vec!["/message/entities/1", "/message/has_media_spoiler"]
    );
    // No name list is consulted: a shareable extra is kept as declared,
    // and a personal one dropped, whatever its members are called.
    hello.extras = vec![
        extra("/message/sender_tag", "\"alice-ex\"", true),
        extra("/message/poll", r#"{"question":"from where?"}"#, false),
    ];
    hello.id = "telegram:123456789:43".to_string();
    hello.native_id = Some("123456789:43".to_string());
    let delivery = only(route(&directory, &hello));
    assert_eq!(extra_paths(&delivery), vec!["/message/poll"]);
}

#[test]
fn mentions_never_name_an_account_of_the_origin_app() {
    let Group {
        directory,
        alice,
        bob,
        carol,
        dave,
        conversation,
    } = group_of_four();
    let handle = |who: &Address| member(&conversation, who).handle.clone();
    let hello = with_message(
        directory.text_in(&conversation, &alice, "wamid.1", ""),
        |message| {
            message.content = text_with(
                "@me @bob @dave @someone",
                vec![
                    mention(0, 3, alice.clone()),
                    mention(4, 8, addr("whatsapp", &handle(&bob))),
                    mention(9, 14, dave.clone()),
                    mention(15, 23, addr("whatsapp", "15550000000")),
                    Span {
                        start: 0,
                        end: 3,
                        style: SpanStyle::Italic,
                    },
                ],
            );
        },
    );
    let deliveries = route(&directory, &hello).unwrap();
    let shift = u32::try_from(member(&conversation, &alice).alias.chars().count()).unwrap() + 1;
    let shifted =
        |start: u32, end: u32, address: Address| mention(start + shift, end + shift, address);
    let spans = |recipient: &Address| {
        let text = text_of(&to(&deliveries, recipient).envelope.event);
        assert!(text.body.ends_with("\n@me @bob @dave @someone"), "{text:?}");
        text.spans[1..].to_vec()
    };
    let italic = Span {
        start: shift,
        end: shift + 3,
        style: SpanStyle::Italic,
    };
    assert_eq!(
        spans(&bob),
        vec![
            shifted(0, 3, addr("messenger", &handle(&alice))),
            shifted(4, 8, bob.clone()),
            shifted(9, 14, addr("messenger", &handle(&dave))),
            italic.clone(),
        ],
        "Bob's own account, the others by handle; the stranger's span dropped"
    );
    assert_eq!(
        spans(&dave),
        vec![
            shifted(0, 3, alice.clone()),
            shifted(4, 8, addr("whatsapp", &handle(&bob))),
            shifted(9, 14, dave.clone()),
            shifted(15, 23, addr("whatsapp", "15550000000")),
            italic.clone(),
        ],
        "on the same app, accounts stay"
    );
    assert_eq!(
        spans(&carol)[0],
        shifted(0, 3, addr("instagram", &handle(&alice)))
    );
}

#[test]
fn story_references_lose_the_origin_apps_url() {
    let (directory, alice, _, _) = alice_and_bob();
    let story_reply = with_message(
        directory.text_from(&alice, "wamid.1", "nice story"),
        |message| {
            message.story = Some(StoryRef {
                relation: StoryRelation::Reply,
                story_id: Some("story-on-whatsapp".to_string()),
                url: Some("https://lookaside.example/story.jpg".to_string()),
            });
        },
    );
    let message = only_message(route(&directory, &story_reply));
    assert_eq!(
        message.story,
        Some(StoryRef {
            relation: StoryRelation::Reply,
            story_id: None,
            url: None,
        })
    );
}

#[test]
fn targets_share_the_directory_reads_of_one_envelope() {
    let directory = TestDirectory::default();
    let alice = addr("whatsapp", "16505551234");
    let bob = addr("messenger", "2345678901");
    let carol = addr("instagram", "17841400000000001");
    directory.consenting(&[&alice, &bob, &carol]);
    let group = directory.conversation(ConversationKind::Group, &[&alice, &bob, &carol]);
    route(&directory, &directory.text_from(&alice, "wamid.1", "hello")).unwrap();
    directory.record_native_id("whatsapp:wamid.1", &bob, "m_1");
    directory.record_native_id("whatsapp:wamid.1", &carol, "ig_1");

    // Alice quotes her first message.
    let follow_up = quoting(
        directory.text_from(&alice, "wamid.2", "as I said"),
        reference("whatsapp", "wamid.1"),
    );
    directory.reset_reads();
    let deliveries = route(&directory, &follow_up).unwrap();
    let quoted: Vec<(Address, Option<MessageRef>)> = deliveries
        .into_iter()
        .map(|delivery| match delivery.envelope.event {
            Event::Message(message) => (delivery.recipient, message.reply_to),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        quoted,
        vec![
            (bob, Some(reference("messenger", "m_1"))),
            (carol, Some(reference("instagram", "ig_1"))),
        ]
    );
    assert_eq!(directory.reads_of("conversations_at"), 1);
    assert_eq!(directory.reads_of("conversation"), 1, "{}", group.id);
    assert_eq!(
        directory.reads_of("canonical_id"),
        1,
        "the quote's canonical id serves the conversation and every target"
    );
    assert_eq!(directory.reads_of("origin_of"), 1);
    assert_eq!(directory.reads_of("native_id"), 2, "one per target");
}

#[test]
fn a_bridged_room_speaks_as_its_member_and_names_no_one_in_it() {
    let directory = TestDirectory::with_endpoints("whatsapp=wa-1 matrix=appservice");
    let alice = addr("whatsapp", "16505551234");
    let room = addr("matrix", "!kitchen:example.org");
    directory.consenting(&[&alice, &room]);
    directory.consent(&room, ConsentScope::ShareDisplayName, true);
    let conversation = directory.conversation(ConversationKind::Direct, &[&alice, &room]);

    // Carol writes in the room: she is in no conversation, the room is.
    let carol = addr("matrix", "@carol:example.org");
    let mut envelope = envelope_to(&carol, "appservice", "$ev1", support::text_event("Dinner?"));
    envelope.conversation = switchboard_pdk::types::Conversation {
        kind: ConversationKind::Group,
        id: room.id.clone(),
    };
    let deliveries = route(&directory, &envelope).unwrap();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    let delivery = &deliveries[0];
    assert_eq!(delivery.recipient, alice);
    assert_eq!(delivery.endpoint, "wa-1");
    assert!(
        delivery.envelope.sender.attributes.is_empty(),
        "nothing of the person in the room crosses: {:?}",
        delivery.envelope.sender.attributes
    );
    let text = &text_of(&delivery.envelope.event).body;
    assert!(
        text.starts_with(&member(&conversation, &room).alias),
        "the room's alias, not Carol's name: {text:?}"
    );
    assert!(
        !text.contains("Alice Example") && !text.contains("carol"),
        "{text:?}"
    );
    assert_eq!(
        router::check(&directory, &envelope, &alice, NOW_MS),
        router::Verdict::Deliver,
        "policy judges the room, which consented"
    );

    // Someone in a room that is no member reaches no one.
    let mut elsewhere = envelope.clone();
    elsewhere.id = "matrix:$ev2".into();
    elsewhere.conversation.id = "!other:example.org".into();
    assert_eq!(
        route(&directory, &elsewhere),
        Err(RouteError::NoConversation(carol))
    );
}
