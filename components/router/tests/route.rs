//! `router.route`: targets, pseudonymous senders, consented attributes, mapped
//! message references both ways, echoes and extras.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use router::{ConsentScope, Delivery, Facts, RouteError, UnmappedReference, route};
use support::{NOW_MS, TestDirectory, addr, alice_and_bob, envelope_from, text_from, with_message};
use switchboard_pdk::types::{
    Address, Content, ConversationKind, Edit, Envelope, Event, ExtraField, FormattedText,
    IdentityAttribute, Message, MessageRef, Reaction, ReactionAction, Receipt, ReceiptStatus, Span,
    SpanStyle, StoryRef, StoryRelation,
};

/// The error for a reference `native_id` that maps on no target app.
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

fn reference(platform: &str, native_id: &str) -> MessageRef {
    MessageRef {
        platform: platform.to_string(),
        native_id: native_id.to_string(),
    }
}

/// A text message from `sender` quoting `quoted`.
fn reply(sender: &Address, native_id: &str, body: &str, quoted: MessageRef) -> Envelope {
    with_message(text_from(sender, native_id, body), |message| {
        message.reply_to = Some(quoted);
    })
}

/// A reaction of `sender` adding `emoji` to `target`.
fn reaction(sender: &Address, native_id: &str, target: MessageRef, emoji: &str) -> Envelope {
    envelope_from(
        sender,
        native_id,
        Event::Reaction(Reaction {
            target,
            action: ReactionAction::Add,
            emoji: emoji.to_string(),
        }),
    )
}

/// An edit of `target` by `sender` to `content`.
fn edit(sender: &Address, native_id: &str, target: MessageRef, content: Content) -> Envelope {
    envelope_from(sender, native_id, Event::Edit(Edit { target, content }))
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
fn alice_wrote_and_bob_received(directory: &TestDirectory, alice: &Address) {
    let first = text_from(alice, "wamid.1", "hello Bob");
    only(route(directory, &first));
    directory.record_native_id("whatsapp:wamid.1", "messenger", "m_1");
}

#[test]
fn delivers_to_the_linked_account_from_the_handle() {
    let (directory, alice, bob, alice_on_messenger, _) = alice_and_bob();
    let hello = text_from(&alice, "wamid.1", "hello Bob");
    let delivery = only(route(&directory, &hello));

    assert_eq!(delivery.platform, "messenger");
    assert_eq!(delivery.recipient, bob);
    let envelope = &delivery.envelope;
    assert_eq!(envelope.recipient, bob);
    assert_eq!(
        envelope.sender.address,
        addr("messenger", &alice_on_messenger)
    );
    assert!(alice_on_messenger.starts_with("sb-"));
    assert_eq!(envelope.conversation.kind, ConversationKind::Direct);
    assert_eq!(envelope.conversation.id, alice_on_messenger);
    assert_eq!(envelope.native_id, None, "A's native id does not cross");
    assert_eq!(envelope.id, "whatsapp:wamid.1", "the canonical id is kept");
    assert_eq!(envelope.event, hello.event, "the content is unchanged");
    assert!(!envelope.echo);
}

#[test]
fn records_the_native_id_of_messages_only() {
    let (directory, alice, _, _, _) = alice_and_bob();
    only(route(&directory, &text_from(&alice, "wamid.1", "hi")));
    assert_eq!(
        directory.canonical_id("whatsapp", "wamid.1").as_deref(),
        Some("whatsapp:wamid.1")
    );
    assert_eq!(
        directory
            .native_id("whatsapp:wamid.1", "whatsapp")
            .as_deref(),
        Some("wamid.1")
    );

    let typing = envelope_from(
        &alice,
        "wamid.typing",
        Event::Typing(switchboard_pdk::types::TypingState::Started),
    );
    only(route(&directory, &typing));
    assert_eq!(directory.canonical_id("whatsapp", "wamid.typing"), None);
}

#[test]
fn echoes_are_never_routed() {
    let (directory, alice, _, _, _) = alice_and_bob();
    let mut echo = text_from(&alice, "wamid.echo", "sent by us");
    echo.echo = true;
    assert_eq!(route(&directory, &echo).unwrap(), Vec::new());
    assert_eq!(
        directory.canonical_id("whatsapp", "wamid.echo"),
        None,
        "an echo records nothing"
    );
}

#[test]
fn refuses_a_sender_without_a_link_to_another_app() {
    let directory = TestDirectory::default();
    let loner = addr("whatsapp", "15550000000");
    let hello = text_from(&loner, "wamid.1", "anyone?");
    assert_eq!(
        route(&directory, &hello),
        Err(RouteError::NotLinked(loner.clone()))
    );

    // A link whose only other member is on the same app does not cross.
    let twin = addr("whatsapp", "15550000001");
    directory.link("twins", &loner);
    directory.link("twins", &twin);
    assert_eq!(route(&directory, &hello), Err(RouteError::NotLinked(loner)));
}

#[test]
fn delivers_to_every_other_app_of_the_link() {
    let (directory, alice, bob, _, _) = alice_and_bob();
    let carol = addr("instagram", "17841400000000001");
    let alice_on_instagram = directory.link("alice-bob", &carol);
    let deliveries = route(&directory, &text_from(&alice, "wamid.1", "hi all")).unwrap();
    let recipients: Vec<&Address> = deliveries.iter().map(|d| &d.recipient).collect();
    assert_eq!(recipients, vec![&bob, &carol]);
    assert_eq!(
        deliveries[1].envelope.sender.address,
        addr("instagram", &alice_on_instagram)
    );
}

#[test]
fn phone_number_does_not_cross_without_consent() {
    let (directory, alice, _, _, _) = alice_and_bob();
    let delivery = only(route(&directory, &text_from(&alice, "wamid.1", "hi")));
    assert_eq!(delivery.envelope.sender.attributes, Vec::new());
    let json = serde_json::to_string(&delivery.envelope).unwrap();
    assert!(
        !json.contains("16505551234"),
        "Alice's number appears nowhere in the delivery: {json}"
    );
}

#[test]
fn attributes_cross_with_their_own_consent() {
    let (directory, alice, _, _, _) = alice_and_bob();
    directory.consent(&alice, ConsentScope::SharePhoneNumber, true);
    let delivery = only(route(&directory, &text_from(&alice, "wamid.1", "hi")));
    assert_eq!(
        delivery.envelope.sender.attributes,
        vec![IdentityAttribute::PhoneNumber("+16505551234".to_string())]
    );

    directory.consent(&alice, ConsentScope::SharePhoneNumber, false);
    directory.consent(&alice, ConsentScope::ShareDisplayName, true);
    directory.consent(&alice, ConsentScope::ShareUsername, true);
    let delivery = only(route(&directory, &text_from(&alice, "wamid.2", "hi")));
    assert_eq!(
        delivery.envelope.sender.attributes,
        vec![
            IdentityAttribute::DisplayName("Alice Example".to_string()),
            IdentityAttribute::Username("alice_ex".to_string()),
        ],
        "a withdrawn consent takes the phone number back out"
    );
}

#[test]
fn replies_map_both_ways_through_the_canonical_id() {
    let (directory, alice, bob, _, _) = alice_and_bob();
    alice_wrote_and_bob_received(&directory, &alice);

    // Bob answers on Messenger, quoting m_1: Alice sees her wamid.1 quoted.
    let answer = reply(&bob, "m_2", "hi Alice", reference("messenger", "m_1"));
    let delivery = only(route(&directory, &answer));
    assert_eq!(delivery.recipient, alice);
    let Event::Message(message) = &delivery.envelope.event else {
        panic!("a message");
    };
    assert_eq!(message.reply_to, Some(reference("whatsapp", "wamid.1")));

    // Alice quotes her own first message: Bob sees m_1 quoted.
    let follow_up = reply(
        &alice,
        "wamid.3",
        "as I said",
        reference("whatsapp", "wamid.1"),
    );
    let message = only_message(route(&directory, &follow_up));
    assert_eq!(message.reply_to, Some(reference("messenger", "m_1")));
}

#[test]
fn an_unknown_reply_target_drops_the_quote_not_the_message() {
    let (directory, alice, _, _, _) = alice_and_bob();
    let unknown = reference("whatsapp", "wamid.never-seen");
    let message = only_message(route(
        &directory,
        &reply(&alice, "wamid.9", "about that", unknown),
    ));
    assert_eq!(message.reply_to, None);
    let Content::Text(text) = message.content else {
        panic!("text");
    };
    assert_eq!(text.body, "about that");
}

#[test]
fn reactions_map_to_the_target_apps_id() {
    let (directory, alice, bob, _, _) = alice_and_bob();
    alice_wrote_and_bob_received(&directory, &alice);
    let heart = reaction(&bob, "m_1_react", reference("messenger", "m_1"), "❤");
    let delivery = only(route(&directory, &heart));
    assert_eq!(delivery.recipient, alice);
    assert_eq!(
        delivery.envelope.event,
        Event::Reaction(Reaction {
            target: reference("whatsapp", "wamid.1"),
            action: ReactionAction::Add,
            emoji: "❤".to_string(),
        })
    );
}

#[test]
fn a_reaction_to_an_unknown_message_is_an_error() {
    let (directory, _, bob, _, _) = alice_and_bob();
    let thumbs_up = reaction(&bob, "m_react", reference("messenger", "m_unknown"), "👍");
    assert_eq!(route(&directory, &thumbs_up), Err(unmapped("m_unknown")));
}

#[test]
fn a_reaction_goes_where_its_message_went_and_says_where_it_did_not() {
    let (directory, alice, bob, _, _) = alice_and_bob();
    // Alice's message reached Bob as m_1; Carol joined the link after it.
    alice_wrote_and_bob_received(&directory, &alice);
    let carol = addr("instagram", "17841400000000001");
    directory.link("alice-bob", &carol);
    let thumbs_up = reaction(&bob, "m_react", reference("messenger", "m_1"), "👍");
    let Err(RouteError::UnknownMessage(unmapped)) = route(&directory, &thumbs_up) else {
        panic!("the reference does not map for Carol");
    };
    assert_eq!(unmapped.native_id, "m_1");
    let recipients: Vec<&Address> = unmapped.deliverable.iter().map(|d| &d.recipient).collect();
    assert_eq!(recipients, vec![&alice], "Alice still gets Bob's reaction");
    let Event::Reaction(reaction) = &unmapped.deliverable[0].envelope.event else {
        panic!("not a reaction");
    };
    assert_eq!(reaction.target, reference("whatsapp", "wamid.1"));
}

#[test]
fn edits_and_deletions_map_their_targets() {
    let (directory, alice, _, _, _) = alice_and_bob();
    alice_wrote_and_bob_received(&directory, &alice);
    let new_text = text_with("hello Bob!", Vec::new());
    let known_edit = edit(
        &alice,
        "wamid.edit",
        reference("whatsapp", "wamid.1"),
        new_text.clone(),
    );
    assert_eq!(
        only(route(&directory, &known_edit)).envelope.event,
        Event::Edit(Edit {
            target: reference("messenger", "m_1"),
            content: new_text.clone(),
        })
    );

    let deletion = envelope_from(
        &alice,
        "wamid.del",
        Event::Deletion(reference("whatsapp", "wamid.1")),
    );
    assert_eq!(
        only(route(&directory, &deletion)).envelope.event,
        Event::Deletion(reference("messenger", "m_1"))
    );

    let unknown_edit = edit(
        &alice,
        "wamid.edit2",
        reference("whatsapp", "wamid.never-seen"),
        new_text,
    );
    assert_eq!(
        route(&directory, &unknown_edit),
        Err(unmapped("wamid.never-seen"))
    );
}

#[test]
fn receipts_from_the_target_app_go_back_to_the_original_sender() {
    let (directory, alice, bob, _, bob_on_whatsapp) = alice_and_bob();
    alice_wrote_and_bob_received(&directory, &alice);
    let read = |targets: Vec<MessageRef>| {
        envelope_from(
            &bob,
            "m_read",
            Event::Receipt(Receipt {
                status: ReceiptStatus::Read,
                targets,
                watermark_ms: Some(NOW_MS),
                failure: None,
            }),
        )
    };
    let delivery = only(route(
        &directory,
        &read(vec![reference("messenger", "m_1")]),
    ));
    assert_eq!(delivery.platform, "whatsapp");
    assert_eq!(delivery.recipient, alice);
    assert_eq!(
        delivery.envelope.sender.address,
        addr("whatsapp", &bob_on_whatsapp)
    );
    assert_eq!(
        delivery.envelope.event,
        Event::Receipt(Receipt {
            status: ReceiptStatus::Read,
            targets: vec![reference("whatsapp", "wamid.1")],
            watermark_ms: Some(NOW_MS),
            failure: None,
        })
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

#[test]
fn a_receipt_in_a_three_app_link_goes_to_the_author_only() {
    let (directory, alice, bob, _, _) = alice_and_bob();
    let carol = addr("instagram", "17841400000000001");
    directory.link("alice-bob", &carol);
    directory.consent(&carol, ConsentScope::CrossAppMessaging, true);
    // Bob wrote m_b on Messenger; Alice got it as wamid.b, Carol as ig_b.
    only_or_all(route(&directory, &text_from(&bob, "m_b", "hi both")));
    directory.record_native_id("messenger:m_b", "whatsapp", "wamid.b");
    directory.record_native_id("messenger:m_b", "instagram", "ig_b");

    let read = envelope_from(
        &alice,
        "status.read",
        Event::Receipt(Receipt {
            status: ReceiptStatus::Read,
            targets: vec![reference("whatsapp", "wamid.b")],
            watermark_ms: None,
            failure: None,
        }),
    );
    let delivery = only(route(&directory, &read));
    assert_eq!(
        delivery.recipient, bob,
        "Carol is not told Alice read Bob's message"
    );
    assert_eq!(
        delivery.envelope.event,
        Event::Receipt(Receipt {
            status: ReceiptStatus::Read,
            targets: vec![reference("messenger", "m_b")],
            watermark_ms: None,
            failure: None,
        })
    );

    // A watermark-only receipt names no message: every linked app gets it.
    let watermark = envelope_from(
        &alice,
        "status.watermark",
        Event::Receipt(Receipt {
            status: ReceiptStatus::Read,
            targets: Vec::new(),
            watermark_ms: Some(NOW_MS),
            failure: None,
        }),
    );
    assert_eq!(route(&directory, &watermark).unwrap().len(), 2);
}

/// Routes an envelope that must go somewhere, whatever the number of copies.
fn only_or_all(deliveries: Result<Vec<Delivery>, RouteError>) -> Vec<Delivery> {
    let deliveries = deliveries.expect("routed");
    assert!(!deliveries.is_empty());
    deliveries
}

#[test]
fn an_envelope_addressed_across_apps_goes_to_that_account_alone() {
    let (directory, alice, _, _, _) = alice_and_bob();
    let carol = addr("instagram", "17841400000000001");
    directory.link("alice-bob", &carol);
    let mut to_carol = text_from(&alice, "api:1", "your order shipped");
    to_carol.recipient = carol.clone();
    let delivery = only(route(&directory, &to_carol));
    assert_eq!(delivery.recipient, carol);

    let mut to_stranger = to_carol.clone();
    to_stranger.recipient = addr("messenger", "999");
    assert_eq!(
        route(&directory, &to_stranger),
        Err(RouteError::NotLinked(alice))
    );
}

#[test]
fn group_conversations_get_a_pseudonymous_id() {
    let (directory, alice, _, _, _) = alice_and_bob();
    let mut in_group = text_from(&alice, "wamid.1", "hi group");
    in_group.conversation.kind = ConversationKind::Group;
    in_group.conversation.id = "120363025246125486".to_string();
    let first = only(route(&directory, &in_group));
    assert_eq!(first.envelope.conversation.kind, ConversationKind::Group);
    assert!(
        !first
            .envelope
            .conversation
            .id
            .contains("120363025246125486")
    );
    in_group.id = "whatsapp:wamid.2".to_string();
    in_group.native_id = Some("wamid.2".to_string());
    let second = only(route(&directory, &in_group));
    assert_eq!(
        first.envelope.conversation, second.envelope.conversation,
        "stable for the same group"
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
    let (directory, alice, _, _, _) = alice_and_bob();
    let mut hello = text_from(&alice, "wamid.1", "hi");
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
    // Alice on Telegram, linked to her Messenger account: the router knows
    // nothing of Telegram's format, only what its translator declared.
    let directory = TestDirectory::default();
    let alice = addr("telegram", "123456789");
    let bob = addr("messenger", "2345678901");
    directory.link_consenting("alice-bob", &alice, &bob);
    let mut hello = text_from(&alice, "123456789:42", "hi");
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
    let (directory, alice, bob, alice_on_messenger, bob_on_whatsapp) = alice_and_bob();
    let hello = with_message(text_from(&alice, "wamid.1", ""), |message| {
        message.content = text_with(
            "@me @bob @someone",
            vec![
                mention(0, 3, alice.clone()),
                mention(4, 8, addr("whatsapp", &bob_on_whatsapp)),
                mention(9, 17, addr("whatsapp", "15550000000")),
                Span {
                    start: 0,
                    end: 3,
                    style: SpanStyle::Bold,
                },
            ],
        );
    });
    let message = only_message(route(&directory, &hello));
    let Content::Text(text) = message.content else {
        panic!("text");
    };
    assert_eq!(text.body, "@me @bob @someone");
    assert_eq!(
        text.spans,
        vec![
            mention(0, 3, addr("messenger", &alice_on_messenger)),
            mention(4, 8, bob),
            Span {
                start: 0,
                end: 3,
                style: SpanStyle::Bold,
            },
        ]
    );
}

#[test]
fn story_references_lose_the_origin_apps_url() {
    let (directory, alice, _, _, _) = alice_and_bob();
    let story_reply = with_message(text_from(&alice, "wamid.1", "nice story"), |message| {
        message.story = Some(StoryRef {
            relation: StoryRelation::Reply,
            story_id: Some("story-on-whatsapp".to_string()),
            url: Some("https://lookaside.example/story.jpg".to_string()),
        });
    });
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
    let (directory, alice, bob, alice_on_messenger, _) = alice_and_bob();
    let carol = addr("instagram", "17841400000000001");
    let alice_on_instagram = directory.link("alice-bob", &carol);
    route(&directory, &text_from(&alice, "wamid.1", "hello")).unwrap();
    directory.record_native_id("whatsapp:wamid.1", "messenger", "m_1");
    directory.record_native_id("whatsapp:wamid.1", "instagram", "ig_1");

    // Alice mentions herself and quotes her first message.
    let quoting = |platform: &str, native_id: &str, me: Address| {
        with_message(
            reply(&alice, "wamid.2", "", reference(platform, native_id)),
            |message| message.content = text_with("@me", vec![mention(0, 3, me)]),
        )
        .event
    };
    let follow_up = envelope_from(
        &alice,
        "wamid.2",
        quoting("whatsapp", "wamid.1", alice.clone()),
    );
    directory.reset_reads();
    let deliveries: Vec<(Address, Event)> = route(&directory, &follow_up)
        .unwrap()
        .into_iter()
        .map(|delivery| (delivery.recipient, delivery.envelope.event))
        .collect();
    assert_eq!(
        deliveries,
        vec![
            (
                bob,
                quoting("messenger", "m_1", addr("messenger", &alice_on_messenger))
            ),
            (
                carol,
                quoting("instagram", "ig_1", addr("instagram", &alice_on_instagram))
            ),
        ]
    );
    assert_eq!(
        directory.reads_of("linked_accounts"),
        1,
        "the sender's links serve the targets and the mention of the sender"
    );
    assert_eq!(directory.reads_of("resolve_handle"), 1);
    assert_eq!(directory.reads_of("canonical_id"), 1);
    assert_eq!(directory.reads_of("native_id"), 2, "one per target");
}
