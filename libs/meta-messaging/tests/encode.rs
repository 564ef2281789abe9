//! Encode tests: one per degradation rule in the crate docs, plus the limits.

use meta_messaging::encode::{Encoded, encode, split_text};
use meta_messaging::{Flavor, INSTAGRAM, MESSENGER};
use serde_json::{Value, json};
use switchboard_pdk::types::{
    Address, Button, ButtonAction, ContactCard, Content, Conversation, ConversationKind,
    EncodeError, Envelope, Event, FormattedText, Interactive, InteractiveAction, LabeledValue,
    ListMenu, ListRow, ListSection, Location, Media, MediaKind, MediaSource, Message,
    MessageCategory, MessageRef, Participant, QuickReply, Reaction, ReactionAction, Receipt,
    ReceiptStatus, SealedContent, SealingScheme, Span, SpanStyle, StoryRef, StoryRelation,
    Template, TypingState, UnsupportedContent,
};

fn address(platform: &str, id: &str) -> Address {
    Address {
        platform: platform.into(),
        id: id.into(),
    }
}

fn envelope(event: Event) -> Envelope {
    Envelope {
        id: "whatsapp:wamid.1".into(),
        platform: "whatsapp".into(),
        native_id: Some("wamid.1".into()),
        conversation: Conversation {
            kind: ConversationKind::Direct,
            id: "15551234567".into(),
        },
        sender: Participant {
            address: address("whatsapp", "15551234567"),
            attributes: Vec::new(),
        },
        recipient: address("whatsapp", "106540352242922"),
        timestamp_ms: 1_700_000_000_000,
        event,
        echo: false,
        extras: Vec::new(),
    }
}

fn message(content: Content) -> Event {
    Event::Message(Message {
        content,
        reply_to: None,
        forwarded: None,
        story: None,
        category: MessageCategory::Personal,
    })
}

fn text(body: &str) -> Content {
    Content::Text(FormattedText {
        body: body.into(),
        spans: Vec::new(),
    })
}

fn run(flavor: &Flavor, event: Event) -> Encoded {
    let page = address(flavor.platform, "682498302938465");
    let user = address(flavor.platform, "1254459154682919");
    match encode(flavor, &envelope(event), &page, &user) {
        Ok(encoded) => {
            check_limits(flavor, &encoded);
            encoded
        }
        Err(error) => unreachable!("{error:?}"),
    }
}

/// Every request is within the documented limits.
fn check_limits(flavor: &Flavor, encoded: &Encoded) {
    for request in &encoded.requests {
        assert_eq!(request.path, "/v21.0/682498302938465/messages");
        assert_eq!(request.body["recipient"]["id"], "1254459154682919");
        let message = &request.body["message"];
        if let Some(text) = message["text"].as_str() {
            assert!(text.chars().count() <= flavor.max_text_chars, "{text}");
            if let Some(bytes) = flavor.max_text_bytes {
                assert!(text.len() <= bytes);
            }
        }
        if let Some(replies) = message["quick_replies"].as_array() {
            assert!(replies.len() <= 13);
            for reply in replies {
                assert!(
                    reply["title"]
                        .as_str()
                        .is_some_and(|t| t.chars().count() <= 20)
                );
            }
        }
        if let Some(buttons) = message["attachment"]["payload"]["buttons"].as_array() {
            assert!(buttons.len() <= 3);
            assert!(
                message["attachment"]["payload"]["text"]
                    .as_str()
                    .is_some_and(|t| t.chars().count() <= 640)
            );
            for button in buttons {
                assert!(
                    button["title"]
                        .as_str()
                        .is_some_and(|t| t.chars().count() <= 20)
                );
            }
        }
    }
}

fn rules(encoded: &Encoded) -> Vec<&'static str> {
    encoded.degradations.iter().map(|d| d.rule).collect()
}

fn texts(encoded: &Encoded) -> Vec<String> {
    encoded
        .requests
        .iter()
        .filter_map(|r| r.body["message"]["text"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn plain_text_is_one_response_message_without_degradation() {
    let encoded = run(&MESSENGER, message(text("hello")));
    assert_eq!(encoded.requests.len(), 1);
    assert_eq!(
        encoded.requests[0].body,
        json!({"recipient":{"id":"1254459154682919"},"messaging_type":"RESPONSE","message":{"text":"hello"}})
    );
    assert!(encoded.degradations.is_empty());
}

#[test]
fn text_split_on_words_at_2000_characters_for_messenger() {
    let long = "word ".repeat(900);
    let encoded = run(&MESSENGER, message(text(long.trim())));
    assert_eq!(rules(&encoded), vec!["text-split"]);
    let parts = texts(&encoded);
    assert_eq!(parts.len(), 3);
    assert!(
        parts
            .iter()
            .all(|p| !p.starts_with(' ') && !p.ends_with(' '))
    );
    assert_eq!(parts.join(" "), long.trim());
}

#[test]
fn text_split_at_1000_bytes_for_instagram() {
    // 600 characters of two bytes each: 1,200 bytes, over Instagram's limit.
    let long = "é".repeat(600);
    let encoded = run(&INSTAGRAM, message(text(&long)));
    assert_eq!(rules(&encoded), vec!["text-split"]);
    let parts = texts(&encoded);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].len(), 1000);
    assert_eq!(parts.concat(), long);
    assert_eq!(split_text(&INSTAGRAM, "short"), vec!["short"]);
}

#[test]
fn formatting_dropped_only_when_spans_exist_and_links_keep_their_url() {
    let content = Content::Text(FormattedText {
        body: "Read the docs now".into(),
        spans: vec![
            Span {
                start: 0,
                end: 4,
                style: SpanStyle::Bold,
            },
            Span {
                start: 9,
                end: 13,
                style: SpanStyle::Link("https://example.com/docs".into()),
            },
        ],
    });
    let encoded = run(&MESSENGER, message(content));
    assert_eq!(rules(&encoded), vec!["formatting-dropped"]);
    assert_eq!(
        texts(&encoded),
        vec!["Read the docs (https://example.com/docs) now"]
    );
}

fn media(kind: MediaKind, source: MediaSource, caption: Option<&str>) -> Content {
    Content::Media(Media {
        kind,
        source,
        mime_type: None,
        size_bytes: None,
        sha256: None,
        caption: caption.map(|body| FormattedText {
            body: body.into(),
            spans: Vec::new(),
        }),
        filename: Some("menu.pdf".into()),
        duration_ms: None,
        width: None,
        height: None,
    })
}

#[test]
fn media_by_url_and_caption_as_text() {
    let url = MediaSource::Url("https://cdn.example.com/cat.jpg".into());
    let encoded = run(
        &MESSENGER,
        message(media(MediaKind::Image, url, Some("my cat"))),
    );
    assert_eq!(rules(&encoded), vec!["caption-as-text"]);
    assert_eq!(encoded.requests.len(), 2);
    assert_eq!(
        encoded.requests[0].body["message"],
        json!({"attachment":{"type":"image","payload":{"url":"https://cdn.example.com/cat.jpg","is_reusable":true}}})
    );
    assert_eq!(encoded.requests[1].body["message"]["text"], "my cat");
}

#[test]
fn voice_is_audio_and_stickers_become_images() {
    let url = MediaSource::Url("https://cdn.example.com/a.ogg".into());
    let encoded = run(&MESSENGER, message(media(MediaKind::Voice, url, None)));
    assert!(encoded.degradations.is_empty());
    assert_eq!(
        encoded.requests[0].body["message"]["attachment"]["type"],
        "audio"
    );
    let url = MediaSource::Url("https://cdn.example.com/s.webp".into());
    let encoded = run(&MESSENGER, message(media(MediaKind::Sticker, url, None)));
    assert_eq!(rules(&encoded), vec!["sticker-as-image"]);
    assert_eq!(
        encoded.requests[0].body["message"]["attachment"]["type"],
        "image"
    );
}

#[test]
fn media_without_url_becomes_a_notice() {
    let source = MediaSource::PlatformId("1234567890".into());
    let encoded = run(&MESSENGER, message(media(MediaKind::Video, source, None)));
    assert_eq!(rules(&encoded), vec!["media-without-url"]);
    assert_eq!(texts(&encoded), vec!["[video not available]"]);
}

#[test]
fn documents_are_files_on_messenger_and_links_on_instagram() {
    let url = MediaSource::Url("https://cdn.example.com/menu.pdf".into());
    let encoded = run(
        &MESSENGER,
        message(media(MediaKind::Document, url.clone(), None)),
    );
    assert_eq!(
        encoded.requests[0].body["message"]["attachment"]["type"],
        "file"
    );
    let encoded = run(&INSTAGRAM, message(media(MediaKind::Document, url, None)));
    assert_eq!(rules(&encoded), vec!["document-as-link"]);
    assert_eq!(
        texts(&encoded),
        vec!["📄 menu.pdf: https://cdn.example.com/menu.pdf"]
    );
}

#[test]
fn location_to_map_link() {
    let content = Content::Location(Location {
        latitude: 37.483872,
        longitude: -122.148358,
        name: Some("Meta HQ".into()),
        address: Some("1 Hacker Way, Menlo Park".into()),
        url: None,
    });
    let encoded = run(&MESSENGER, message(content));
    assert_eq!(rules(&encoded), vec!["location-to-map-link"]);
    assert_eq!(
        texts(&encoded),
        vec!["Meta HQ\n1 Hacker Way, Menlo Park\nhttps://maps.google.com/?q=37.483872,-122.148358"]
    );
}

#[test]
fn contacts_as_text() {
    let card = ContactCard {
        formatted_name: "John Smith".into(),
        first_name: Some("John".into()),
        last_name: Some("Smith".into()),
        organization: Some("Meta".into()),
        phones: vec![LabeledValue {
            label: Some("WORK".into()),
            value: "+1 650 555 1234".into(),
        }],
        emails: vec![LabeledValue {
            label: None,
            value: "john@example.com".into(),
        }],
        urls: Vec::new(),
        birthday: None,
    };
    let encoded = run(&MESSENGER, message(Content::Contacts(vec![card])));
    assert_eq!(rules(&encoded), vec!["contacts-as-text"]);
    assert_eq!(
        texts(&encoded),
        vec!["👤 John Smith\nMeta\n📞 WORK: +1 650 555 1234\n✉️ john@example.com"]
    );
}

fn interactive(action: InteractiveAction, header: Option<&str>) -> Content {
    Content::Interactive(Interactive {
        header: header.map(str::to_string),
        body: FormattedText {
            body: "Pick one".into(),
            spans: Vec::new(),
        },
        footer: None,
        action,
    })
}

fn reply(title: &str, payload: &str) -> Button {
    Button {
        title: title.into(),
        action: ButtonAction::Reply(payload.into()),
    }
}

#[test]
fn messenger_buttons_become_a_button_template() {
    let buttons = vec![
        reply("Yes", "YES"),
        Button {
            title: "Open the website of the shop".into(),
            action: ButtonAction::OpenUrl("https://shop.example.com".into()),
        },
        Button {
            title: "Call".into(),
            action: ButtonAction::Call("+16505551234".into()),
        },
    ];
    let encoded = run(
        &MESSENGER,
        message(interactive(InteractiveAction::Buttons(buttons), None)),
    );
    assert_eq!(rules(&encoded), vec!["button-title-truncated"]);
    assert_eq!(
        encoded.requests[0].body["message"],
        json!({"attachment":{"type":"template","payload":{"template_type":"button","text":"Pick one","buttons":[
            {"type":"postback","title":"Yes","payload":"YES"},
            {"type":"web_url","title":"Open the website of…","url":"https://shop.example.com"},
            {"type":"phone_number","title":"Call","payload":"+16505551234"}]}}})
    );
}

#[test]
fn too_many_buttons_to_numbered_text() {
    let buttons: Vec<Button> = (1..=4)
        .map(|n| reply(&format!("Option {n}"), "P"))
        .collect();
    let encoded = run(
        &MESSENGER,
        message(interactive(InteractiveAction::Buttons(buttons), None)),
    );
    assert_eq!(rules(&encoded), vec!["buttons-to-numbered-text"]);
    assert_eq!(
        texts(&encoded),
        vec!["Pick one\n1. Option 1\n2. Option 2\n3. Option 3\n4. Option 4"]
    );
}

#[test]
fn instagram_reply_buttons_to_quick_replies_and_url_buttons_to_numbered_text() {
    let buttons = vec![reply("Yes", "YES"), reply("No", "NO")];
    let encoded = run(
        &INSTAGRAM,
        message(interactive(InteractiveAction::Buttons(buttons), None)),
    );
    assert_eq!(rules(&encoded), vec!["buttons-to-quick-replies"]);
    assert_eq!(
        encoded.requests[0].body["message"],
        json!({"text":"Pick one","quick_replies":[
            {"content_type":"text","title":"Yes","payload":"YES"},
            {"content_type":"text","title":"No","payload":"NO"}]})
    );
    let buttons = vec![Button {
        title: "Website".into(),
        action: ButtonAction::OpenUrl("https://shop.example.com".into()),
    }];
    let encoded = run(
        &INSTAGRAM,
        message(interactive(InteractiveAction::Buttons(buttons), None)),
    );
    assert_eq!(rules(&encoded), vec!["buttons-to-numbered-text"]);
    assert_eq!(
        texts(&encoded),
        vec!["Pick one\n1. Website – https://shop.example.com"]
    );
}

#[test]
fn header_and_footer_folded_into_the_text() {
    let buttons = vec![reply("Yes", "YES")];
    let encoded = run(
        &MESSENGER,
        message(interactive(
            InteractiveAction::Buttons(buttons),
            Some("Order 42"),
        )),
    );
    assert_eq!(rules(&encoded), vec!["header-footer-as-text"]);
    assert_eq!(
        encoded.requests[0].body["message"]["attachment"]["payload"]["text"],
        "Order 42\n\nPick one"
    );
}

fn list(rows: usize) -> InteractiveAction {
    InteractiveAction::List(ListMenu {
        button_label: "Choose".into(),
        sections: vec![ListSection {
            title: Some("Sizes".into()),
            rows: (1..=rows)
                .map(|n| ListRow {
                    id: format!("row-{n}"),
                    title: format!("Size {n}"),
                    description: None,
                })
                .collect(),
        }],
    })
}

#[test]
fn small_lists_to_quick_replies_and_long_lists_to_numbered_text() {
    let encoded = run(&MESSENGER, message(interactive(list(2), None)));
    assert_eq!(rules(&encoded), vec!["list-to-quick-replies"]);
    assert_eq!(
        encoded.requests[0].body["message"]["quick_replies"][1],
        json!({"content_type":"text","title":"Size 2","payload":"row-2"})
    );
    let encoded = run(&INSTAGRAM, message(interactive(list(14), None)));
    assert_eq!(rules(&encoded), vec!["list-to-numbered-text"]);
    let body = &texts(&encoded)[0];
    assert!(body.starts_with("Pick one\n\nSizes\n1. Size 1\n"));
    assert!(body.ends_with("14. Size 14"));
}

#[test]
fn quick_replies_native_and_over_13_to_numbered_text() {
    let replies = |count: usize| {
        InteractiveAction::QuickReplies(
            (1..=count)
                .map(|n| QuickReply {
                    title: format!("Reply {n}"),
                    payload: format!("R{n}"),
                    image_url: Some("https://cdn.example.com/dot.png".into()),
                })
                .collect(),
        )
    };
    let encoded = run(&INSTAGRAM, message(interactive(replies(13), None)));
    assert!(encoded.degradations.is_empty());
    let sent = &encoded.requests[0].body["message"]["quick_replies"];
    assert_eq!(sent.as_array().map(Vec::len), Some(13));
    assert_eq!(sent[0]["image_url"], "https://cdn.example.com/dot.png");
    let encoded = run(&INSTAGRAM, message(interactive(replies(14), None)));
    assert_eq!(rules(&encoded), vec!["quick-replies-to-numbered-text"]);
}

#[test]
fn choice_template_and_unsupported_as_text() {
    let choice = Content::Choice(switchboard_pdk::types::Choice {
        origin: switchboard_pdk::types::ChoiceOrigin::Button,
        id: "YES".into(),
        title: "Yes please".into(),
    });
    let encoded = run(&MESSENGER, message(choice));
    assert_eq!(rules(&encoded), vec!["choice-as-text"]);
    assert_eq!(texts(&encoded), vec!["Yes please"]);
    let template = |fallback: Option<&str>| {
        Content::Template(Template {
            name: "order_update".into(),
            language: "en_US".into(),
            parameters: Vec::new(),
            fallback_text: fallback.map(str::to_string),
        })
    };
    let encoded = run(&MESSENGER, message(template(Some("Your order shipped"))));
    assert_eq!(rules(&encoded), vec!["template-as-text"]);
    assert_eq!(texts(&encoded), vec!["Your order shipped"]);
    let encoded = run(&MESSENGER, message(template(None)));
    assert_eq!(
        texts(&encoded),
        vec!["[Template message “order_update” (en_US)]"]
    );
    let unsupported = Content::Unsupported(UnsupportedContent {
        native_type: "ephemeral".into(),
        description: None,
    });
    let encoded = run(&INSTAGRAM, message(unsupported));
    assert_eq!(rules(&encoded), vec!["unsupported-as-notice"]);
    assert_eq!(texts(&encoded), vec!["[Unsupported message: ephemeral]"]);
}

fn sealed(size: usize) -> SealedContent {
    SealedContent {
        scheme: SealingScheme::HpkeX25519Aes256gcm,
        sender_key_id: "alice-ik-1".into(),
        ephemeral_public_key: (0..32).collect(),
        session_header: Vec::new(),
        ciphertext: (0..=255).cycle().take(size).collect(),
    }
}

#[test]
fn sealed_as_armored_text_decodes_back_byte_for_byte() {
    let content = sealed(400);
    let encoded = run(&INSTAGRAM, message(Content::Sealed(content.clone())));
    assert_eq!(rules(&encoded), vec!["sealed-as-armored-text"]);
    let sent = texts(&encoded);
    assert_eq!(sent.len(), 1);
    // Decode the text as Instagram would echo it back in a webhook.
    let webhook = json!({"object":"instagram","entry":[{"id":"1","time":1,"messaging":[{
        "sender":{"id":"2"},"recipient":{"id":"1"},"timestamp":3,
        "message":{"mid":"m_1","text":sent[0]}}]}]});
    let decoded = meta_messaging::decode::decode(&INSTAGRAM, webhook.to_string().as_bytes());
    let Ok(decoded) = decoded else {
        unreachable!("{decoded:?}")
    };
    let Event::Message(message) = &decoded[0].event else {
        unreachable!()
    };
    assert_eq!(message.content, Content::Sealed(content));
}

#[test]
fn long_sealed_content_is_split_within_the_limit() {
    let encoded = run(&INSTAGRAM, message(Content::Sealed(sealed(3000))));
    assert_eq!(
        rules(&encoded),
        vec!["sealed-as-armored-text", "text-split"]
    );
    let sent = texts(&encoded);
    assert!(sent.len() >= 5);
    // The parts are the armor's lines, in order.
    let armor = switchboard_pdk::armor::encode(&sealed(3000));
    assert_eq!(sent.join("\n"), armor);
}

#[test]
fn story_context_and_reply_as_prefix() {
    let event = Event::Message(Message {
        content: text("So pretty"),
        reply_to: Some(MessageRef {
            platform: "whatsapp".into(),
            native_id: "wamid.0".into(),
        }),
        forwarded: None,
        story: Some(StoryRef {
            relation: StoryRelation::Reply,
            story_id: Some("17954170374002653".into()),
            url: Some("https://cdn.example.com/story.jpg".into()),
        }),
        category: MessageCategory::Personal,
    });
    let encoded = run(&MESSENGER, event);
    assert_eq!(rules(&encoded), vec!["reply-as-prefix", "story-as-text"]);
    assert_eq!(
        texts(&encoded),
        vec![
            "Replied to a story: https://cdn.example.com/story.jpg",
            "↩️ So pretty"
        ]
    );
}

#[test]
fn reply_prefix_that_would_overflow_is_its_own_message() {
    let body = "x".repeat(2000);
    let event = Event::Message(Message {
        content: text(&body),
        reply_to: Some(MessageRef {
            platform: "messenger".into(),
            native_id: "m_0".into(),
        }),
        forwarded: None,
        story: None,
        category: MessageCategory::Personal,
    });
    let encoded = run(&MESSENGER, event);
    assert_eq!(texts(&encoded), vec!["↩️".to_string(), body]);
}

#[test]
fn reactions_use_sender_actions_or_text_for_foreign_messages() {
    let reaction = |platform: &str, action: ReactionAction, emoji: &str| {
        Event::Reaction(Reaction {
            target: MessageRef {
                platform: platform.into(),
                native_id: "m_1".into(),
            },
            action,
            emoji: emoji.into(),
        })
    };
    let encoded = run(&MESSENGER, reaction("messenger", ReactionAction::Add, "😊"));
    assert!(encoded.degradations.is_empty());
    assert_eq!(
        encoded.requests[0].body,
        json!({"recipient":{"id":"1254459154682919"},"sender_action":"react","payload":{"message_id":"m_1","reaction":"😊"}})
    );
    let encoded = run(
        &INSTAGRAM,
        reaction("instagram", ReactionAction::Remove, ""),
    );
    assert_eq!(
        encoded.requests[0].body,
        json!({"recipient":{"id":"1254459154682919"},"sender_action":"unreact","payload":{"message_id":"m_1"}})
    );
    let encoded = run(&MESSENGER, reaction("whatsapp", ReactionAction::Add, "👍"));
    assert_eq!(rules(&encoded), vec!["reaction-as-text"]);
    assert_eq!(texts(&encoded), vec!["Reacted 👍 to a message"]);
    let page = address("messenger", "1");
    let user = address("messenger", "2");
    let result = encode(
        &MESSENGER,
        &envelope(reaction("messenger", ReactionAction::Add, "")),
        &page,
        &user,
    );
    let Err(EncodeError::InvalidEnvelope(error)) = result else {
        unreachable!("{result:?}")
    };
    assert_eq!(error.path, "/event/reaction/emoji");
}

#[test]
fn edits_and_deletions_become_notices() {
    let edit = Event::Edit(switchboard_pdk::types::Edit {
        target: MessageRef {
            platform: "whatsapp".into(),
            native_id: "wamid.0".into(),
        },
        content: text("See you at 6"),
    });
    let encoded = run(&MESSENGER, edit);
    assert_eq!(rules(&encoded), vec!["edit-as-new-message"]);
    assert_eq!(texts(&encoded), vec!["✏️ Edited: See you at 6"]);
    let deletion = Event::Deletion(MessageRef {
        platform: "whatsapp".into(),
        native_id: "wamid.0".into(),
    });
    let encoded = run(&INSTAGRAM, deletion);
    assert_eq!(rules(&encoded), vec!["deletion-as-notice"]);
    assert_eq!(texts(&encoded), vec!["🗑️ The sender deleted a message."]);
}

#[test]
fn receipts_and_typing_are_sender_actions() {
    let receipt = |status| {
        Event::Receipt(Receipt {
            status,
            targets: Vec::new(),
            watermark_ms: Some(1),
            failure: None,
        })
    };
    let encoded = run(&MESSENGER, receipt(ReceiptStatus::Read));
    assert_eq!(encoded.requests[0].body["sender_action"], "mark_seen");
    let encoded = run(&MESSENGER, receipt(ReceiptStatus::Delivered));
    assert!(encoded.requests.is_empty());
    assert_eq!(rules(&encoded), vec!["receipt-not-sent"]);
    let encoded = run(&INSTAGRAM, Event::Typing(TypingState::Started));
    assert_eq!(encoded.requests[0].body["sender_action"], "typing_on");
    let encoded = run(&INSTAGRAM, Event::Typing(TypingState::Stopped));
    assert_eq!(encoded.requests[0].body["sender_action"], "typing_off");
}

#[test]
fn categories_choose_the_messaging_type_and_tag() {
    let with_category = |category| {
        Event::Message(Message {
            content: text("Your order shipped"),
            reply_to: None,
            forwarded: None,
            story: None,
            category,
        })
    };
    let encoded = run(&MESSENGER, with_category(MessageCategory::Transactional));
    assert_eq!(encoded.requests[0].body["messaging_type"], "MESSAGE_TAG");
    assert_eq!(encoded.requests[0].body["tag"], "POST_PURCHASE_UPDATE");
    let encoded = run(&MESSENGER, with_category(MessageCategory::Marketing));
    assert_eq!(encoded.requests[0].body["messaging_type"], "UPDATE");
    assert_eq!(encoded.requests[0].body.get("tag"), None::<&Value>);
    let encoded = run(&INSTAGRAM, with_category(MessageCategory::Transactional));
    assert_eq!(rules(&encoded), vec!["category-as-update"]);
    assert_eq!(encoded.requests[0].body["messaging_type"], "UPDATE");
}

#[test]
fn bad_ids_and_empty_text_are_invalid_envelopes() {
    let good = address("messenger", "1");
    let bad = address("messenger", "1/../../me");
    let result = encode(&MESSENGER, &envelope(message(text("hi"))), &bad, &good);
    let Err(EncodeError::InvalidEnvelope(error)) = result else {
        unreachable!("{result:?}")
    };
    assert_eq!(error.path, "/sender/id");
    let result = encode(&MESSENGER, &envelope(message(text("  "))), &good, &good);
    let Err(EncodeError::InvalidEnvelope(error)) = result else {
        unreachable!("{result:?}")
    };
    assert_eq!(error.path, "/event/message/content/text/body");
}
