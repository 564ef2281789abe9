//! The WhatsApp translator against Meta's documented webhook examples
//! (`tests/fixtures/whatsapp`, sources in its `SOURCES`), malformed input,
//! round trips, and every encode degradation and limit.

use serde_json::Value;
use switchboard_pdk::types::{
    Address, Button, ButtonAction, Choice, ChoiceOrigin, ContactCard, Content, Conversation,
    ConversationKind, DecodeError, Edit, EncodeError, Envelope, Event, FormattedText,
    IdentityAttribute, Interactive, InteractiveAction, LabeledValue, ListMenu, ListRow,
    ListSection, Location, Media, MediaKind, MediaSource, Message, MessageCategory, MessageRef,
    Participant, QuickReply, Reaction, ReactionAction, Receipt, ReceiptStatus, SealedContent,
    SealingScheme, Span, SpanStyle, Template, TemplateParameter, TypingState, UnsupportedContent,
};
use translator_whatsapp::{
    ApiAuth, ContentKind, Encoded, HttpMethod, MediaDownload, MediaError, MediaStep,
    WebhookSignature, fetch_media,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/whatsapp");
const BUSINESS: &str = "106540352242922";
const USER: &str = "16505551234";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_default()
}

fn decode_one(name: &str) -> Result<Envelope, Box<dyn std::error::Error>> {
    let mut envelopes = translator_whatsapp::decode(&fixture(name))
        .map_err(|error| format!("{name}: {error:?}"))?;
    assert_eq!(envelopes.len(), 1, "{name}");
    Ok(envelopes.remove(0))
}

fn message_of(envelope: &Envelope) -> &Message {
    match &envelope.event {
        Event::Message(message) => message,
        other => unreachable!("expected a message, got {other:?}"),
    }
}

fn address(id: &str) -> Address {
    Address {
        platform: "whatsapp".to_string(),
        id: id.to_string(),
    }
}

fn sheena() -> Participant {
    Participant {
        address: address(USER),
        attributes: vec![
            IdentityAttribute::DisplayName("Sheena Nelson".to_string()),
            IdentityAttribute::PhoneNumber(format!("+{USER}")),
        ],
    }
}

fn extra<'a>(envelope: &'a Envelope, path: &str) -> Option<&'a str> {
    envelope
        .extras
        .iter()
        .find(|extra| extra.path == path)
        .map(|extra| extra.json.as_str())
}

const VALUE: &str = "/entry/0/changes/0/value";

/// Whether the extra at `path` is declared personal (`None`: no such extra).
fn personal(envelope: &Envelope, path: &str) -> Option<bool> {
    envelope
        .extras
        .iter()
        .find(|extra| extra.path == path)
        .map(|extra| extra.personal)
}

fn plain(body: &str) -> FormattedText {
    FormattedText {
        body: body.to_string(),
        spans: Vec::new(),
    }
}

// ---------------------------------------------------------------- fixtures

#[test]
fn every_fixture_decodes_and_has_a_source() -> TestResult {
    let sources = std::fs::read_to_string(format!("{FIXTURES}/SOURCES"))?;
    let mut count = 0;
    for entry in std::fs::read_dir(FIXTURES)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        count += 1;
        assert!(
            sources
                .lines()
                .any(|line| line.starts_with(&format!("{name}: https://"))),
            "{name} has no source"
        );
        let envelopes = translator_whatsapp::decode(&fixture(&name))
            .map_err(|error| format!("{name}: {error:?}"))?;
        assert!(!envelopes.is_empty(), "{name}");
        // Same webhook, same envelopes: ids are deterministic.
        assert_eq!(
            translator_whatsapp::decode(&fixture(&name)),
            Ok(envelopes.clone())
        );
        for envelope in &envelopes {
            assert_eq!(envelope.platform, "whatsapp");
            assert!(envelope.id.starts_with("whatsapp:"), "{name}");
            assert!(!envelope.echo, "{name}");
            assert_eq!(envelope.recipient, address(BUSINESS), "{name}");
            assert_eq!(
                extra(envelope, &format!("{VALUE}/metadata/display_phone_number")),
                Some("\"15550783881\""),
                "{name}"
            );
            assert_eq!(
                extra(envelope, "/entry/0/id"),
                Some("\"102290129340398\""),
                "{name}"
            );
        }
    }
    assert!(count >= 12, "only {count} fixtures");
    Ok(())
}

#[test]
fn text_message() -> TestResult {
    let envelope = decode_one("text.json")?;
    assert_eq!(
        envelope.id,
        "whatsapp:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    );
    assert_eq!(
        envelope.native_id.as_deref(),
        Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=")
    );
    assert_eq!(envelope.timestamp_ms, 1_749_416_383_000);
    assert_eq!(envelope.sender, sheena());
    assert_eq!(
        envelope.conversation,
        Conversation {
            kind: ConversationKind::Direct,
            id: USER.to_string()
        }
    );
    let message = message_of(&envelope);
    assert_eq!(
        message.content,
        Content::Text(plain("Does it come in another color?"))
    );
    assert_eq!(message.reply_to, None);
    assert_eq!(message.forwarded, None);
    assert_eq!(message.category, MessageCategory::Personal);
    Ok(())
}

#[test]
fn image_message() -> TestResult {
    let envelope = decode_one("image.json")?;
    assert_eq!(envelope.timestamp_ms, 1_744_344_496_000);
    assert_eq!(
        message_of(&envelope).content,
        Content::Media(Media {
            kind: MediaKind::Image,
            source: MediaSource::PlatformId("1003383421387256".to_string()),
            mime_type: Some("image/jpeg".to_string()),
            size_bytes: None,
            sha256: Some("SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=".to_string()),
            caption: Some(plain("Taj Mahal")),
            filename: None,
            duration_ms: None,
            width: None,
            height: None,
        })
    );
    assert_eq!(
        extra(&envelope, &format!("{VALUE}/messages/0/image/url")),
        Some("\"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=133...\"")
    );
    Ok(())
}

#[test]
fn sticker_message() -> TestResult {
    let envelope = decode_one("sticker.json")?;
    assert_eq!(envelope.id, "whatsapp:wamid.ID");
    let Content::Media(media) = &message_of(&envelope).content else {
        unreachable!("not media")
    };
    assert_eq!(media.kind, MediaKind::Sticker);
    assert_eq!(media.source, MediaSource::PlatformId("ID".to_string()));
    assert_eq!(media.mime_type.as_deref(), Some("image/webp"));
    assert_eq!(media.sha256.as_deref(), Some("HASH"));
    assert_eq!(media.caption, None);
    Ok(())
}

#[test]
fn location_message() -> TestResult {
    let envelope = decode_one("location.json")?;
    assert_eq!(
        envelope.id,
        "whatsapp:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
    );
    assert_eq!(
        message_of(&envelope).content,
        Content::Location(Location {
            latitude: 37.44221496582,
            longitude: -122.16165924072,
            name: Some("Philz Coffee".to_string()),
            address: Some("101 Forest Ave, Palo Alto, CA 94301".to_string()),
            url: Some("https://philzcoffee.com/".to_string()),
        })
    );
    Ok(())
}

#[test]
fn contacts_messages() -> TestResult {
    let envelope = decode_one("contacts.json")?;
    assert_eq!(
        message_of(&envelope).content,
        Content::Contacts(vec![ContactCard {
            formatted_name: "Barbara J. Johnson".to_string(),
            first_name: Some("Barbara".to_string()),
            last_name: Some("Johnson".to_string()),
            organization: Some("Social Tsunami".to_string()),
            phones: vec![LabeledValue {
                label: Some("MOBILE".to_string()),
                value: "+1 (415) 555-0829".to_string(),
            }],
            emails: Vec::new(),
            urls: Vec::new(),
            birthday: None,
        }])
    );
    assert_eq!(
        extra(
            &envelope,
            &format!("{VALUE}/messages/0/contacts/0/phones/0/wa_id")
        ),
        Some("\"14125550829\"")
    );
    let full = decode_one("contacts-full.json")?;
    let Content::Contacts(cards) = &message_of(&full).content else {
        unreachable!("not contacts")
    };
    assert_eq!(cards[0].formatted_name, "CONTACT_FORMATTED_NAME");
    assert_eq!(
        cards[0].organization.as_deref(),
        Some("CONTACT_ORG_COMPANY")
    );
    assert_eq!(cards[0].emails[0].value, "CONTACT_EMAIL");
    assert_eq!(cards[0].urls[0].label.as_deref(), Some("HOME or WORK"));
    assert_eq!(cards[0].birthday.as_deref(), Some("CONTACT_BIRTHDAY"));
    // Addresses, middle name and department have no canonical home.
    let base = format!("{VALUE}/messages/0/contacts/0");
    assert!(extra(&full, &format!("{base}/addresses")).is_some());
    assert_eq!(
        extra(&full, &format!("{base}/name/middle_name")),
        Some("\"CONTACT_MIDDLE_NAME\"")
    );
    assert_eq!(
        extra(&full, &format!("{base}/org/department")),
        Some("\"CONTACT_ORG_DEPARTMENT\"")
    );
    Ok(())
}

#[test]
fn reactions_added_and_removed() -> TestResult {
    let target = MessageRef {
        platform: "whatsapp".to_string(),
        native_id: "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=".to_string(),
    };
    let added = decode_one("reaction.json")?;
    assert_eq!(added.timestamp_ms, 1_749_419_544_000);
    assert_eq!(
        added.event,
        Event::Reaction(Reaction {
            target: target.clone(),
            action: ReactionAction::Add,
            emoji: "👍".to_string(),
        })
    );
    let removed = decode_one("reaction-removed.json")?;
    assert_eq!(
        removed.event,
        Event::Reaction(Reaction {
            target,
            action: ReactionAction::Remove,
            emoji: String::new(),
        })
    );
    Ok(())
}

#[test]
fn template_button_is_a_postback_reply() -> TestResult {
    let envelope = decode_one("button.json")?;
    let message = message_of(&envelope);
    assert_eq!(
        message.content,
        Content::Choice(Choice {
            origin: ChoiceOrigin::Postback,
            id: "Unsubscribe".to_string(),
            title: "Unsubscribe".to_string(),
        })
    );
    assert_eq!(
        message.reply_to,
        Some(MessageRef {
            platform: "whatsapp".to_string(),
            native_id: "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=".to_string(),
        })
    );
    assert_eq!(
        extra(&envelope, &format!("{VALUE}/messages/0/context/from")),
        Some("\"15550783881\"")
    );
    Ok(())
}

#[test]
fn interactive_replies_are_choices() -> TestResult {
    let list = decode_one("list-reply.json")?;
    assert_eq!(
        message_of(&list).content,
        Content::Choice(Choice {
            origin: ChoiceOrigin::ListRow,
            id: "list_reply_id".to_string(),
            title: "list_reply_title".to_string(),
        })
    );
    assert_eq!(
        extra(
            &list,
            &format!("{VALUE}/messages/0/interactive/list_reply/description")
        ),
        Some("\"list_reply_description\"")
    );
    let button = decode_one("button-reply.json")?;
    assert_eq!(
        message_of(&button).content,
        Content::Choice(Choice {
            origin: ChoiceOrigin::Button,
            id: "unique-button-identifier-here".to_string(),
            title: "button-text".to_string(),
        })
    );
    Ok(())
}

#[test]
fn unknown_message_is_reported_with_its_error_title() -> TestResult {
    let envelope = decode_one("unknown.json")?;
    assert_eq!(
        message_of(&envelope).content,
        Content::Unsupported(UnsupportedContent {
            native_type: "unknown".to_string(),
            description: Some("Unsupported message type".to_string()),
        })
    );
    let errors = extra(&envelope, &format!("{VALUE}/messages/0/errors")).unwrap_or_default();
    assert!(errors.contains("131051"), "{errors}");
    Ok(())
}

#[test]
fn referral_is_kept_in_extras() -> TestResult {
    let envelope = decode_one("referral.json")?;
    assert_eq!(message_of(&envelope).content, Content::Text(plain("BODY")));
    let referral: Value = serde_json::from_str(
        extra(&envelope, &format!("{VALUE}/messages/0/referral")).unwrap_or("null"),
    )?;
    assert_eq!(referral["ctwa_clid"], "CTWA_CLID");
    assert_eq!(referral["source_type"], "ad or post");
    Ok(())
}

#[test]
fn extras_that_identify_someone_are_declared_personal() -> TestResult {
    // On every envelope: the business account's id and its phone number.
    let text = decode_one("text.json")?;
    assert_eq!(personal(&text, "/entry/0/id"), Some(true));
    assert_eq!(
        personal(&text, &format!("{VALUE}/metadata/display_phone_number")),
        Some(true)
    );
    // The quoted message's author.
    let button = decode_one("button.json")?;
    assert_eq!(
        personal(&button, &format!("{VALUE}/messages/0/context/from")),
        Some(true)
    );
    // Contact cards: a phone's `wa_id`, postal addresses, name parts, job.
    let card = decode_one("contacts-full.json")?;
    for member in [
        "phones/0/wa_id",
        "addresses",
        "name/middle_name",
        "org/title",
    ] {
        let path = format!("{VALUE}/messages/0/contacts/0/{member}");
        assert_eq!(personal(&card, &path), Some(true), "{path}");
    }
    // An ad click id, and a status's conversation (the person's).
    let referral = decode_one("referral.json")?;
    assert_eq!(
        personal(&referral, &format!("{VALUE}/messages/0/referral")),
        Some(true)
    );
    let sent = decode_one("status-sent.json")?;
    assert_eq!(
        personal(&sent, &format!("{VALUE}/statuses/0/conversation")),
        Some(true)
    );
    // What names no one may cross: billing category, a row's description,
    // error details.
    assert_eq!(
        personal(&sent, &format!("{VALUE}/statuses/0/pricing")),
        Some(false)
    );
    let row = decode_one("list-reply.json")?;
    assert_eq!(
        personal(
            &row,
            &format!("{VALUE}/messages/0/interactive/list_reply/description")
        ),
        Some(false)
    );
    let unknown = decode_one("unknown.json")?;
    assert_eq!(
        personal(&unknown, &format!("{VALUE}/messages/0/errors")),
        Some(false)
    );
    // Across every fixture: nothing under contacts, metadata, a profile or
    // a `from` is shareable.
    for entry in std::fs::read_dir(FIXTURES)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        for envelope in translator_whatsapp::decode(&fixture(&name))
            .map_err(|error| format!("{name}: {error:?}"))?
        {
            for extra in &envelope.extras {
                let identifying = ["/contacts/", "/metadata/", "/profile/", "/from"]
                    .iter()
                    .any(|part| extra.path.contains(part));
                assert!(!identifying || extra.personal, "{name}: {}", extra.path);
            }
        }
    }
    Ok(())
}

#[test]
fn statuses_are_receipts() -> TestResult {
    let delivered = decode_one("status-delivered.json")?;
    let wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA";
    assert_eq!(delivered.id, format!("whatsapp:status:{wamid}:delivered"));
    assert_eq!(delivered.timestamp_ms, 1_750_263_773_000);
    assert_eq!(delivered.sender.address, address(USER));
    assert_eq!(
        delivered.event,
        Event::Receipt(Receipt {
            status: ReceiptStatus::Delivered,
            targets: vec![MessageRef {
                platform: "whatsapp".to_string(),
                native_id: wamid.to_string(),
            }],
            watermark_ms: None,
            failure: None,
        })
    );
    let pricing = extra(&delivered, &format!("{VALUE}/statuses/0/pricing")).unwrap_or_default();
    assert!(pricing.contains("\"CBP\""), "{pricing}");
    assert!(extra(&delivered, &format!("{VALUE}/statuses/0/conversation")).is_some());

    let sent = decode_one("status-sent.json")?;
    assert!(sent.id.ends_with(":sent"));
    let Event::Receipt(receipt) = &sent.event else {
        unreachable!("not a receipt")
    };
    assert_eq!(receipt.status, ReceiptStatus::Sent);
    assert_eq!(sent.timestamp_ms, 1_750_030_073_000);
    let bare = decode_one("status-sent-v24.json")?;
    assert!(extra(&bare, &format!("{VALUE}/statuses/0/pricing")).is_none());

    let failed = decode_one("status-failed.json")?;
    let Event::Receipt(receipt) = &failed.event else {
        unreachable!("not a receipt")
    };
    assert_eq!(receipt.status, ReceiptStatus::Failed);
    let failure = receipt.failure.clone().ok_or("no failure")?;
    assert_eq!(failure.code.as_deref(), Some("131049"));
    assert_eq!(
        failure.title,
        "This message was not delivered to maintain healthy ecosystem engagement."
    );
    assert_eq!(
        failure.detail.as_deref(),
        Some(
            "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."
        )
    );
    Ok(())
}

// ------------------------------------------------------------- malformed

fn with_message(message: &str) -> String {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"1","phone_number_id":"2"}},"messages":[{message}]}}}}]}}]}}"#
    )
}

/// A webhook with one text message from the user.
fn with_text(body: &str) -> String {
    with_message(
        &serde_json::json!({
            "from": USER, "id": "wamid.S", "timestamp": "1", "type": "text",
            "text": { "body": body },
        })
        .to_string(),
    )
}

/// The kind and path of the error decoding `body`, which must fail.
fn field_error(body: &[u8]) -> Result<(String, String), Box<dyn std::error::Error>> {
    let error = translator_whatsapp::decode(body).err().ok_or("decoded")?;
    Ok(match error {
        DecodeError::MissingField(field) => ("missing".to_string(), field.path),
        DecodeError::WrongType(field) => ("type".to_string(), field.path),
        DecodeError::InvalidValue(field) => ("value".to_string(), field.path),
        DecodeError::WrongPlatform(field) => ("platform".to_string(), field.path),
        other => ("other".to_string(), format!("{other:?}")),
    })
}

#[test]
fn malformed_input_is_a_typed_error() -> TestResult {
    let text = fixture("text.json");
    let truncated = translator_whatsapp::decode(&text[..text.len() / 2]);
    assert!(
        matches!(truncated, Err(DecodeError::Syntax(_))),
        "{truncated:?}"
    );

    let wrong =
        with_message(r#"{"from":123,"id":"w","timestamp":"1","type":"text","text":{"body":"x"}}"#);
    assert_eq!(
        field_error(wrong.as_bytes())?,
        ("type".to_string(), format!("{VALUE}/messages/0/from"))
    );

    let missing = with_message(r#"{"from":"1","id":"w","timestamp":"1","type":"text","text":{}}"#);
    assert_eq!(
        field_error(missing.as_bytes())?,
        (
            "missing".to_string(),
            format!("{VALUE}/messages/0/text/body")
        )
    );

    let no_id = with_message(r#"{"from":"1","timestamp":"1","type":"text","text":{"body":"x"}}"#);
    assert_eq!(
        field_error(no_id.as_bytes())?,
        ("missing".to_string(), format!("{VALUE}/messages/0/id"))
    );

    let bad_time = with_message(
        r#"{"from":"1","id":"w","timestamp":"soon","type":"text","text":{"body":"x"}}"#,
    );
    assert_eq!(
        field_error(bad_time.as_bytes())?,
        ("value".to_string(), format!("{VALUE}/messages/0/timestamp"))
    );

    let page = br#"{"object":"page","entry":[]}"#;
    assert_eq!(
        field_error(page)?,
        ("platform".to_string(), "/object".to_string())
    );

    let bad_status =
        String::from_utf8(fixture("status-sent.json"))?.replace("\"sent\"", "\"lost\"");
    assert_eq!(
        field_error(bad_status.as_bytes())?,
        ("value".to_string(), format!("{VALUE}/statuses/0/status"))
    );
    Ok(())
}

#[test]
fn size_depth_and_encoding_limits() {
    let mut huge = fixture("text.json");
    huge.resize(10 * 1024 * 1024, b' ');
    assert_eq!(
        translator_whatsapp::decode(&huge),
        Err(DecodeError::TooLarge(4 * 1024 * 1024))
    );
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(
        translator_whatsapp::decode(deep.as_bytes()),
        Err(DecodeError::TooDeep(_))
    ));
    let mut invalid = fixture("text.json");
    let at = invalid.len() / 2;
    invalid[at] = 0xff;
    assert_eq!(
        translator_whatsapp::decode(&invalid),
        Err(DecodeError::InvalidUtf8(at as u64))
    );
    assert!(matches!(
        translator_whatsapp::decode(b""),
        Err(DecodeError::Syntax(_))
    ));
}

// ------------------------------------------------------------ encoding

fn envelope(event: Event) -> Envelope {
    Envelope {
        id: "messenger:m_1".to_string(),
        platform: "messenger".to_string(),
        native_id: Some("m_1".to_string()),
        conversation: Conversation {
            kind: ConversationKind::Direct,
            id: "psid".to_string(),
        },
        sender: Participant {
            address: Address {
                platform: "messenger".to_string(),
                id: "psid".to_string(),
            },
            attributes: Vec::new(),
        },
        recipient: Address {
            platform: "messenger".to_string(),
            id: "page".to_string(),
        },
        timestamp_ms: 1,
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
        category: MessageCategory::Service,
    })
}

fn send(event: Event) -> Result<Encoded, EncodeError> {
    translator_whatsapp::encode(&envelope(event), &address(BUSINESS), &address(USER))
}

fn bodies(encoded: &Encoded) -> Vec<Value> {
    encoded
        .requests
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap_or(Value::Null))
        .collect()
}

fn rules(encoded: &Encoded) -> Vec<&str> {
    encoded
        .degradations
        .iter()
        .map(|degradation| degradation.rule.as_str())
        .collect()
}

/// The body of the first request's text message.
fn first_text(encoded: &Encoded) -> String {
    bodies(encoded)[0]["text"]["body"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn chars(value: &Value) -> usize {
    value.as_str().map_or(0, |text| text.chars().count())
}

/// Asserts that no request exceeds a documented Cloud API limit.
fn assert_within_limits(encoded: &Encoded) {
    for (request, body) in encoded.requests.iter().zip(bodies(encoded)) {
        assert_eq!(request.method, HttpMethod::Post);
        assert_eq!(request.path, format!("/v21.0/{BUSINESS}/messages"));
        assert_eq!(
            request.headers,
            vec![("Content-Type".to_string(), "application/json".to_string())]
        );
        assert_eq!(body["messaging_product"], "whatsapp");
        assert!(chars(&body["text"]["body"]) <= 4096, "{body}");
        for kind in ["image", "video", "document"] {
            assert!(chars(&body[kind]["caption"]) <= 1024, "{body}");
        }
        let interactive = &body["interactive"];
        assert!(chars(&interactive["body"]["text"]) <= 1024);
        assert!(chars(&interactive["header"]["text"]) <= 60);
        assert!(chars(&interactive["footer"]["text"]) <= 60);
        if let Some(buttons) = interactive["action"]["buttons"].as_array() {
            assert!(buttons.len() <= 3, "{body}");
            for button in buttons {
                assert!(chars(&button["reply"]["title"]) <= 20, "{body}");
                assert!(chars(&button["reply"]["id"]) <= 256, "{body}");
            }
        }
        if let Some(sections) = interactive["action"]["sections"].as_array() {
            assert!(chars(&interactive["action"]["button"]) <= 20);
            let mut rows = 0;
            for section in sections {
                assert!(chars(&section["title"]) <= 24);
                for row in section["rows"].as_array().into_iter().flatten() {
                    rows += 1;
                    assert!(chars(&row["title"]) <= 24, "{body}");
                    assert!(chars(&row["description"]) <= 72, "{body}");
                    assert!(chars(&row["id"]) <= 200, "{body}");
                }
            }
            assert!((1..=10).contains(&rows), "{body}");
        }
    }
}

#[test]
fn text_with_formatting_link_and_reply() -> TestResult {
    let text = FormattedText {
        body: "Read the guide at https://example.com now".to_string(),
        spans: vec![Span {
            start: 9,
            end: 14,
            style: SpanStyle::Bold,
        }],
    };
    let event = Event::Message(Message {
        content: Content::Text(text),
        reply_to: Some(MessageRef {
            platform: "whatsapp".to_string(),
            native_id: "wamid.Q".to_string(),
        }),
        forwarded: None,
        story: None,
        category: MessageCategory::Service,
    });
    let encoded = send(event)?;
    assert_within_limits(&encoded);
    assert!(encoded.degradations.is_empty());
    assert_eq!(
        bodies(&encoded),
        vec![serde_json::json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": USER,
            "context": { "message_id": "wamid.Q" },
            "type": "text",
            "text": { "preview_url": true, "body": "Read the *guide* at https://example.com now" },
        })]
    );
    Ok(())
}

#[test]
fn long_text_is_split_on_words() -> TestResult {
    let long = "word ".repeat(2000);
    let encoded = send(message(Content::Text(plain(long.trim()))))?;
    assert_within_limits(&encoded);
    assert_eq!(rules(&encoded), vec!["text-split"]);
    let parts: Vec<String> = bodies(&encoded)
        .iter()
        .map(|body| body["text"]["body"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|part| part.ends_with("word")));
    assert_eq!(parts.join(" "), long.trim());
    assert_eq!(bodies(&encoded)[0]["text"]["preview_url"], false);
    Ok(())
}

fn media(kind: MediaKind, source: MediaSource, caption: Option<&str>) -> Content {
    Content::Media(Media {
        kind,
        source,
        mime_type: None,
        size_bytes: None,
        sha256: None,
        caption: caption.map(plain),
        filename: Some("terms.pdf".to_string()),
        duration_ms: None,
        width: None,
        height: None,
    })
}

#[test]
fn media_by_id_or_link_with_captions() -> TestResult {
    let encoded = send(message(media(
        MediaKind::Image,
        MediaSource::Url("https://example.com/a.png".to_string()),
        Some("Look"),
    )))?;
    assert!(encoded.degradations.is_empty());
    assert_eq!(
        bodies(&encoded)[0]["image"],
        serde_json::json!({ "link": "https://example.com/a.png", "caption": "Look" })
    );
    let document = send(message(media(
        MediaKind::Document,
        MediaSource::PlatformId("42".to_string()),
        None,
    )))?;
    assert_eq!(
        bodies(&document)[0]["document"],
        serde_json::json!({ "id": "42", "filename": "terms.pdf" })
    );

    let long_caption = "caption ".repeat(200);
    let truncated = send(message(media(
        MediaKind::Video,
        MediaSource::PlatformId("7".to_string()),
        Some(&long_caption),
    )))?;
    assert_within_limits(&truncated);
    assert_eq!(rules(&truncated), vec!["caption-truncated"]);
    let caption = bodies(&truncated)[0]["video"]["caption"].clone();
    assert!(chars(&caption) <= 1024 && caption.as_str().unwrap_or("").ends_with("caption…"));

    let sticker = send(message(media(
        MediaKind::Sticker,
        MediaSource::PlatformId("9".to_string()),
        Some("hi"),
    )))?;
    assert_eq!(rules(&sticker), vec!["caption-as-text"]);
    let sticker_bodies = bodies(&sticker);
    assert_eq!(
        sticker_bodies[0]["sticker"],
        serde_json::json!({ "id": "9" })
    );
    assert_eq!(sticker_bodies[1]["text"]["body"], "hi");

    let voice = send(message(media(
        MediaKind::Voice,
        MediaSource::PlatformId("5".to_string()),
        None,
    )))?;
    assert_eq!(rules(&voice), vec!["voice-as-audio"]);
    assert_eq!(bodies(&voice)[0]["type"], "audio");

    let gif = send(message(media(
        MediaKind::Animation,
        MediaSource::Url("https://example.com/a.gif".to_string()),
        None,
    )))?;
    assert_eq!(rules(&gif), vec!["animation-as-document"]);
    assert_eq!(bodies(&gif)[0]["type"], "document");
    Ok(())
}

#[test]
fn location_and_contacts() -> TestResult {
    let encoded = send(message(Content::Location(Location {
        latitude: 37.44,
        longitude: -122.16,
        name: Some("Philz".to_string()),
        address: None,
        url: Some("https://philzcoffee.com/".to_string()),
    })))?;
    assert_eq!(rules(&encoded), vec!["location-url-as-text"]);
    let sent = bodies(&encoded);
    assert_eq!(
        sent[0]["location"],
        serde_json::json!({ "latitude": 37.44, "longitude": -122.16, "name": "Philz" })
    );
    assert_eq!(sent[1]["text"]["body"], "https://philzcoffee.com/");

    let nan = send(message(Content::Location(Location {
        latitude: f64::NAN,
        longitude: 0.0,
        name: Some("Somewhere".to_string()),
        address: None,
        url: None,
    })))?;
    assert_eq!(rules(&nan), vec!["location-as-text"]);

    let card = ContactCard {
        formatted_name: "Barbara J. Johnson".to_string(),
        first_name: Some("Barbara".to_string()),
        last_name: None,
        organization: Some("Social Tsunami".to_string()),
        phones: vec![LabeledValue {
            label: Some("MOBILE".to_string()),
            value: "+1 (415) 555-0829".to_string(),
        }],
        emails: Vec::new(),
        urls: Vec::new(),
        birthday: None,
    };
    let contacts = send(message(Content::Contacts(vec![card])))?;
    assert_eq!(
        bodies(&contacts)[0]["contacts"],
        serde_json::json!([{
            "name": { "formatted_name": "Barbara J. Johnson", "first_name": "Barbara" },
            "org": { "company": "Social Tsunami" },
            "phones": [{ "phone": "+1 (415) 555-0829", "type": "MOBILE" }],
        }])
    );
    assert!(matches!(
        send(message(Content::Contacts(Vec::new()))),
        Err(EncodeError::InvalidEnvelope(_))
    ));
    Ok(())
}

fn interactive(
    header: Option<&str>,
    body: &str,
    footer: Option<&str>,
    action: InteractiveAction,
) -> Content {
    Content::Interactive(Interactive {
        header: header.map(str::to_string),
        body: plain(body),
        footer: footer.map(str::to_string),
        action,
    })
}

fn buttons(count: usize, title: &str) -> Content {
    let buttons = (0..count)
        .map(|index| Button {
            title: format!("{title} {index}"),
            action: ButtonAction::Reply(format!("id-{index}")),
        })
        .collect();
    interactive(
        Some("Pick"),
        "Which one?",
        None,
        InteractiveAction::Buttons(buttons),
    )
}

#[test]
fn buttons_fit_degrade_to_list_or_text() -> TestResult {
    let three = send(message(buttons(3, "Option")))?;
    assert_within_limits(&three);
    assert!(three.degradations.is_empty());
    let body = &bodies(&three)[0];
    assert_eq!(body["interactive"]["type"], "button");
    assert_eq!(
        body["interactive"]["action"]["buttons"][2],
        serde_json::json!({ "type": "reply", "reply": { "id": "id-2", "title": "Option 2" } })
    );
    assert_eq!(body["interactive"]["header"]["text"], "Pick");

    let long = send(message(buttons(2, "A very long button title indeed")))?;
    assert_within_limits(&long);
    assert_eq!(
        rules(&long),
        vec!["button-title-truncated", "button-title-truncated"]
    );

    let seven = send(message(buttons(7, "Option")))?;
    assert_within_limits(&seven);
    assert_eq!(rules(&seven), vec!["buttons-to-list"]);
    assert_eq!(bodies(&seven)[0]["interactive"]["type"], "list");

    let twelve = send(message(buttons(12, "Option")))?;
    assert_within_limits(&twelve);
    assert_eq!(rules(&twelve), vec!["buttons-to-numbered-text"]);
    let text = first_text(&twelve);
    assert!(
        text.starts_with("*Pick*\nWhich one?\n1. Option 0\n"),
        "{text}"
    );
    assert!(text.ends_with("12. Option 11"), "{text}");
    Ok(())
}

#[test]
fn url_and_call_buttons_become_text_lines() -> TestResult {
    let content = interactive(
        None,
        "Contact us",
        Some("Thanks"),
        InteractiveAction::Buttons(vec![
            Button {
                title: "Site".to_string(),
                action: ButtonAction::OpenUrl("https://example.com".to_string()),
            },
            Button {
                title: "Call".to_string(),
                action: ButtonAction::Call("+15550783881".to_string()),
            },
            Button {
                title: "Yes".to_string(),
                action: ButtonAction::Reply("yes".to_string()),
            },
        ]),
    );
    let encoded = send(message(content))?;
    assert_within_limits(&encoded);
    assert_eq!(rules(&encoded), vec!["link-buttons-to-text"]);
    let body = &bodies(&encoded)[0]["interactive"];
    assert_eq!(
        body["body"]["text"],
        "Contact us\nSite: https://example.com\nCall: +15550783881"
    );
    assert_eq!(body["action"]["buttons"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["footer"]["text"], "Thanks");
    Ok(())
}

fn list(rows: usize) -> Content {
    let menu = ListMenu {
        button_label: "See the whole menu today".to_string(),
        sections: vec![
            ListSection {
                title: Some("Mains".to_string()),
                rows: (0..rows.min(5))
                    .map(|index| ListRow {
                        id: format!("m{index}"),
                        title: format!("Main course with a long name {index}"),
                        description: Some("d".repeat(100)),
                    })
                    .collect(),
            },
            ListSection {
                title: None,
                rows: (5..rows)
                    .map(|index| ListRow {
                        id: format!("d{index}"),
                        title: format!("Dessert {index}"),
                        description: None,
                    })
                    .collect(),
            },
        ],
    };
    interactive(None, "Menu", None, InteractiveAction::List(menu))
}

#[test]
fn lists_fit_or_become_numbered_text() -> TestResult {
    let ten = send(message(list(10)))?;
    assert_within_limits(&ten);
    assert!(
        rules(&ten)
            .iter()
            .all(|rule| *rule == "list-text-truncated")
    );
    assert!(!ten.degradations.is_empty());
    let action = &bodies(&ten)[0]["interactive"]["action"];
    assert_eq!(action["sections"][0]["rows"][0]["id"], "m0");
    assert_eq!(action["sections"][1]["title"], "Part 2");
    assert_eq!(action["sections"][1]["rows"][0]["title"], "Dessert 5");

    let eleven = send(message(list(11)))?;
    assert_within_limits(&eleven);
    assert_eq!(rules(&eleven), vec!["list-to-numbered-text"]);
    let text = first_text(&eleven);
    assert!(text.contains("\n11. Dessert 10"), "{text}");
    Ok(())
}

fn quick_replies(count: usize) -> Content {
    let replies = (0..count)
        .map(|index| QuickReply {
            title: format!("{} stars", index + 1),
            payload: format!("STARS_{}", index + 1),
            image_url: None,
        })
        .collect();
    interactive(
        None,
        "Rate us",
        None,
        InteractiveAction::QuickReplies(replies),
    )
}

#[test]
fn quick_replies_become_buttons_or_text() -> TestResult {
    let three = send(message(quick_replies(3)))?;
    assert_within_limits(&three);
    assert_eq!(rules(&three), vec!["quick-replies-to-buttons"]);
    assert_eq!(
        bodies(&three)[0]["interactive"]["action"]["buttons"][0]["reply"],
        serde_json::json!({ "id": "STARS_1", "title": "1 stars" })
    );
    let five = send(message(quick_replies(5)))?;
    assert_eq!(rules(&five), vec!["quick-replies-to-numbered-text"]);
    assert_eq!(
        bodies(&five)[0]["text"]["body"],
        "Rate us\n1. 1 stars\n2. 2 stars\n3. 3 stars\n4. 4 stars\n5. 5 stars"
    );
    Ok(())
}

#[test]
fn choice_template_and_unsupported() -> TestResult {
    let choice = send(message(Content::Choice(Choice {
        origin: ChoiceOrigin::QuickReply,
        id: "YES".to_string(),
        title: "Yes please".to_string(),
    })))?;
    assert_eq!(rules(&choice), vec!["choice-as-text"]);
    assert_eq!(bodies(&choice)[0]["text"]["body"], "Yes please");

    let template = send(message(Content::Template(Template {
        name: "order_update".to_string(),
        language: "en_US".to_string(),
        parameters: vec![
            TemplateParameter {
                component: "header".to_string(),
                value: "Order 42".to_string(),
            },
            TemplateParameter {
                component: "body".to_string(),
                value: "shipped".to_string(),
            },
            TemplateParameter {
                component: "button:0".to_string(),
                value: "TRACK".to_string(),
            },
            TemplateParameter {
                component: "footer".to_string(),
                value: "odd".to_string(),
            },
        ],
        fallback_text: None,
    })))?;
    assert_eq!(rules(&template), vec!["template-parameter-as-body"]);
    assert_eq!(
        bodies(&template)[0]["template"],
        serde_json::json!({
            "name": "order_update",
            "language": { "code": "en_US" },
            "components": [
                { "type": "header", "parameters": [{ "type": "text", "text": "Order 42" }] },
                { "type": "body", "parameters": [
                    { "type": "text", "text": "shipped" },
                    { "type": "text", "text": "odd" }
                ] },
                { "type": "button", "sub_type": "quick_reply", "index": "0",
                  "parameters": [{ "type": "payload", "payload": "TRACK" }] }
            ]
        })
    );

    let unsupported = send(message(Content::Unsupported(UnsupportedContent {
        native_type: "ig_reel".to_string(),
        description: Some("a reel".to_string()),
    })))?;
    assert_eq!(rules(&unsupported), vec!["unsupported-as-notice"]);
    assert_eq!(
        bodies(&unsupported)[0]["text"]["body"],
        "[Unsupported message: ig_reel — a reel]"
    );
    Ok(())
}

#[test]
fn reactions_edits_deletions_receipts_typing() -> TestResult {
    let on_whatsapp = MessageRef {
        platform: "whatsapp".to_string(),
        native_id: "wamid.T".to_string(),
    };
    let elsewhere = MessageRef {
        platform: "messenger".to_string(),
        native_id: "m_1".to_string(),
    };
    let reaction = send(Event::Reaction(Reaction {
        target: on_whatsapp.clone(),
        action: ReactionAction::Add,
        emoji: "👍".to_string(),
    }))?;
    assert!(reaction.degradations.is_empty());
    assert_eq!(
        bodies(&reaction)[0]["reaction"],
        serde_json::json!({ "message_id": "wamid.T", "emoji": "👍" })
    );
    let removal = send(Event::Reaction(Reaction {
        target: on_whatsapp.clone(),
        action: ReactionAction::Remove,
        emoji: "👍".to_string(),
    }))?;
    assert_eq!(bodies(&removal)[0]["reaction"]["emoji"], "");
    let foreign = send(Event::Reaction(Reaction {
        target: elsewhere.clone(),
        action: ReactionAction::Add,
        emoji: "🎉".to_string(),
    }))?;
    assert_eq!(rules(&foreign), vec!["reaction-as-text"]);
    assert_eq!(
        bodies(&foreign)[0]["text"]["body"],
        "Reacted 🎉 to a message"
    );

    let edit = send(Event::Edit(Edit {
        target: on_whatsapp.clone(),
        content: Content::Text(FormattedText {
            body: "new *text*".to_string(),
            spans: vec![Span {
                start: 0,
                end: 3,
                style: SpanStyle::Italic,
            }],
        }),
    }))?;
    assert_eq!(rules(&edit), vec!["edit-as-new-message"]);
    let edit_body = &bodies(&edit)[0];
    assert_eq!(edit_body["text"]["body"], "✏️ Edited: _new_ *text*");
    assert_eq!(edit_body["context"]["message_id"], "wamid.T");

    let deletion = send(Event::Deletion(on_whatsapp.clone()))?;
    assert_eq!(rules(&deletion), vec!["deletion-as-notice"]);
    assert_eq!(
        bodies(&deletion)[0]["text"]["body"],
        "🗑️ This message was deleted."
    );

    let read = send(Event::Receipt(Receipt {
        status: ReceiptStatus::Read,
        targets: vec![on_whatsapp.clone(), elsewhere.clone()],
        watermark_ms: None,
        failure: None,
    }))?;
    assert_eq!(
        bodies(&read),
        vec![serde_json::json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": "wamid.T",
        })]
    );
    assert_eq!(rules(&read), vec!["receipt-dropped"]);
    let delivered = send(Event::Receipt(Receipt {
        status: ReceiptStatus::Delivered,
        targets: vec![on_whatsapp],
        watermark_ms: None,
        failure: None,
    }))?;
    assert!(delivered.requests.is_empty());
    assert_eq!(rules(&delivered), vec!["receipt-dropped"]);

    let typing = send(Event::Typing(TypingState::Started))?;
    assert!(typing.requests.is_empty());
    assert_eq!(rules(&typing), vec!["typing-dropped"]);

    let relations = send(Event::Message(Message {
        content: Content::Text(plain("hi")),
        reply_to: Some(elsewhere),
        forwarded: Some(switchboard_pdk::types::ForwardInfo {
            frequently_forwarded: false,
        }),
        story: Some(switchboard_pdk::types::StoryRef {
            relation: switchboard_pdk::types::StoryRelation::Reply,
            story_id: None,
            url: None,
        }),
        category: MessageCategory::Personal,
    }))?;
    assert_eq!(
        rules(&relations),
        vec![
            "reply-context-dropped",
            "forward-flag-dropped",
            "story-context-dropped"
        ]
    );
    assert!(bodies(&relations)[0].get("context").is_none());
    Ok(())
}

fn sealed(ciphertext: usize) -> SealedContent {
    SealedContent {
        scheme: SealingScheme::DoubleRatchetV1,
        sender_key_id: "key-1".to_string(),
        ephemeral_public_key: (0..32).collect(),
        session_header: vec![0, 0, 0, 7],
        ciphertext: (0..ciphertext).map(|byte| (byte % 251) as u8).collect(),
    }
}

#[test]
fn sealed_content_round_trips_byte_for_byte() -> TestResult {
    let original = sealed(300);
    let encoded = send(message(Content::Sealed(original.clone())))?;
    assert_within_limits(&encoded);
    assert_eq!(rules(&encoded), vec!["sealed-as-armored-text"]);
    let armored = first_text(&encoded);
    let decoded = translator_whatsapp::decode(with_text(&armored).as_bytes())?;
    assert_eq!(message_of(&decoded[0]).content, Content::Sealed(original));

    // Markers intact, base64 broken: damaged armor, not plain text.
    let mut lines: Vec<&str> = armored.lines().collect();
    lines[1] = "!!!!";
    let damaged = lines.join("\n");
    assert_eq!(
        field_error(with_text(&damaged).as_bytes())?,
        ("value".to_string(), format!("{VALUE}/messages/0/text/body"))
    );
    assert!(matches!(
        send(message(Content::Sealed(sealed(4000)))),
        Err(EncodeError::Unsupported(_))
    ));
    Ok(())
}

#[test]
fn interactive_texts_and_ids_are_cut_to_their_limits() -> TestResult {
    let content = interactive(
        Some(&"header ".repeat(20)),
        &"body ".repeat(300),
        Some(&"footer ".repeat(20)),
        InteractiveAction::Buttons(vec![Button {
            title: "Go".to_string(),
            action: ButtonAction::Reply("x".repeat(300)),
        }]),
    );
    let encoded = send(message(content))?;
    assert_within_limits(&encoded);
    assert_eq!(
        rules(&encoded),
        vec![
            "interactive-text-truncated",
            "interactive-text-truncated",
            "interactive-text-truncated",
            "button-id-truncated"
        ]
    );
    let interactive = &bodies(&encoded)[0]["interactive"];
    let header = interactive["header"]["text"].as_str().unwrap_or("");
    assert!(
        header.ends_with("header…") && header.chars().count() <= 60,
        "{header}"
    );
    assert!(chars(&interactive["body"]["text"]) <= 1024);
    Ok(())
}

#[test]
fn every_documented_rule_is_tested() -> TestResult {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs"))?;
    let tests =
        std::fs::read_to_string(file!().rsplit('/').next().map_or(String::new(), |name| {
            format!("{}/tests/{name}", env!("CARGO_MANIFEST_DIR"))
        }))?;
    let table = docs
        .split("| rule | when | what is sent |")
        .nth(1)
        .ok_or("no degradation table")?;
    let mut rules = Vec::new();
    for row in table.lines().filter_map(|line| line.strip_prefix("//! | ")) {
        let first_column = row.split(" | ").next().unwrap_or("");
        rules.extend(
            first_column
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|rule| !rule.is_empty()),
        );
    }
    assert!(rules.len() >= 25, "{rules:?}");
    for rule in rules {
        assert!(
            tests.contains(&format!("\"{rule}\"")),
            "rule {rule} has no test"
        );
    }
    Ok(())
}

#[test]
fn empty_text_is_an_invalid_envelope() {
    assert!(matches!(
        send(message(Content::Text(plain("  ")))),
        Err(EncodeError::InvalidEnvelope(_))
    ));
}

#[test]
fn bad_addresses_are_invalid_envelopes() {
    let result = translator_whatsapp::encode(
        &envelope(message(Content::Text(plain("x")))),
        &address("a/b"),
        &address(USER),
    );
    assert!(matches!(result, Err(EncodeError::InvalidEnvelope(_))));
}

// ------------------------------------------------------------ round trips

/// Decodes a fixture, encodes its message back to the sender, and returns
/// the first request body.
fn round_trip(name: &str) -> Result<(Encoded, Value), Box<dyn std::error::Error>> {
    let decoded = decode_one(name)?;
    let encoded =
        translator_whatsapp::encode(&decoded, &decoded.recipient, &decoded.sender.address)?;
    assert_within_limits(&encoded);
    let first = bodies(&encoded).into_iter().next().ok_or("no request")?;
    assert_eq!(first["to"], decoded.sender.address.id.as_str());
    Ok((encoded, first))
}

#[test]
fn round_trips_keep_the_meaning() -> TestResult {
    let (_, text) = round_trip("text.json")?;
    assert_eq!(text["text"]["body"], "Does it come in another color?");

    let (_, image) = round_trip("image.json")?;
    assert_eq!(
        image["image"],
        serde_json::json!({ "id": "1003383421387256", "caption": "Taj Mahal" })
    );

    let (sticker, body) = round_trip("sticker.json")?;
    assert!(sticker.degradations.is_empty());
    assert_eq!(body["sticker"]["id"], "ID");

    let (_, location) = round_trip("location.json")?;
    assert_eq!(location["location"]["latitude"], 37.44221496582);
    assert_eq!(location["location"]["longitude"], -122.16165924072);
    assert_eq!(location["location"]["name"], "Philz Coffee");
    assert_eq!(
        location["location"]["address"],
        "101 Forest Ave, Palo Alto, CA 94301"
    );

    let (_, contacts) = round_trip("contacts.json")?;
    assert_eq!(
        contacts["contacts"][0]["name"]["formatted_name"],
        "Barbara J. Johnson"
    );
    assert_eq!(
        contacts["contacts"][0]["phones"][0]["phone"],
        "+1 (415) 555-0829"
    );

    let (_, reaction) = round_trip("reaction.json")?;
    assert_eq!(
        reaction["reaction"],
        serde_json::json!({
            "message_id": "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=",
            "emoji": "👍"
        })
    );
    let (_, removed) = round_trip("reaction-removed.json")?;
    assert_eq!(removed["reaction"]["emoji"], "");

    // The template button reply keeps its reply context.
    let (_, button) = round_trip("button.json")?;
    assert_eq!(
        button["context"]["message_id"],
        "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="
    );
    assert_eq!(button["text"]["body"], "Unsubscribe");
    Ok(())
}

#[test]
fn formatting_round_trips() -> TestResult {
    let webhook = with_message(
        r#"{"from":"1","id":"w","timestamp":"1","type":"text","text":{"body":"*Sale* _today_ ~not~ ```CODE42```"}}"#,
    );
    let decoded = translator_whatsapp::decode(webhook.as_bytes())?;
    let Content::Text(text) = &message_of(&decoded[0]).content else {
        unreachable!("not text")
    };
    assert_eq!(text.body, "Sale today not CODE42");
    assert_eq!(text.spans.len(), 4);
    let encoded = translator_whatsapp::encode(&decoded[0], &address(BUSINESS), &address(USER))?;
    assert_eq!(
        bodies(&encoded)[0]["text"]["body"],
        "*Sale* _today_ ~not~ ```CODE42```"
    );
    Ok(())
}

// ------------------------------------------------------------ the rest

#[test]
fn describes_whatsapp() {
    let capabilities = translator_whatsapp::describe();
    assert_eq!(capabilities.platform, "whatsapp");
    assert_eq!(capabilities.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(capabilities.limits.max_text_chars, 4096);
    assert_eq!(capabilities.limits.max_caption_chars, 1024);
    assert_eq!(capabilities.limits.max_buttons, 3);
    assert_eq!(capabilities.limits.max_button_title_chars, 20);
    assert_eq!(capabilities.limits.max_list_rows, 10);
    assert_eq!(capabilities.limits.max_quick_replies, 3);
    assert_eq!(capabilities.limits.max_webhook_bytes, 4 * 1024 * 1024);
    assert_eq!(
        capabilities.webhook_signature,
        WebhookSignature::HubSignatureSha256
    );
    assert_eq!(capabilities.api_auth, ApiAuth::BearerHeader);
    assert!(capabilities.native.contains(&ContentKind::Sticker));
    assert!(!capabilities.native.contains(&ContentKind::QuickReplies));
    assert!(!capabilities.native.contains(&ContentKind::Typing));
}

#[test]
fn reads_the_sent_message_id() {
    // The response shape of POST /{phone-number-id}/messages in Meta's docs.
    let response = br#"{"messaging_product":"whatsapp","contacts":[{"input":"+16505551234","wa_id":"16505551234"}],"messages":[{"id":"wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}]}"#;
    assert_eq!(
        translator_whatsapp::sent_message_id(response).as_deref(),
        Some("wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA")
    );
    assert_eq!(
        translator_whatsapp::sent_message_id(br#"{"messages":[]}"#),
        None
    );
    assert_eq!(
        translator_whatsapp::sent_message_id(b"{\"error\":{}}"),
        None
    );
    assert_eq!(translator_whatsapp::sent_message_id(b"not json"), None);
}

// ------------------------------------------------------------ media

/// The media id of the documented answer (`tests/fixtures/whatsapp/media`).
const MEDIA_ID: &str = "2621233374848975";

#[test]
fn media_answer_has_a_source() -> TestResult {
    let sources = std::fs::read_to_string(format!("{FIXTURES}/media/SOURCES"))?;
    assert!(
        sources
            .lines()
            .any(|line| line.starts_with("retrieve-media-url.json: https://")),
        "retrieve-media-url.json has no source"
    );
    Ok(())
}

#[test]
fn media_is_looked_up_then_downloaded() -> TestResult {
    // Step 1: the media URL lookup, a Graph API call the host authenticates.
    let Ok(MediaStep::Request(lookup)) = fetch_media(MEDIA_ID, None) else {
        return Err("the first step is not a request".into());
    };
    assert_eq!(lookup.method, HttpMethod::Get);
    assert_eq!(lookup.path, format!("/v21.0/{MEDIA_ID}"));
    assert!(lookup.body.is_empty());
    assert!(lookup.headers.is_empty());

    // Step 2: the documented answer names the download and what to expect.
    let answer = fixture("media/retrieve-media-url.json");
    assert!(!answer.is_empty(), "fixture missing");
    assert_eq!(
        fetch_media(MEDIA_ID, Some(&answer)),
        Ok(MediaStep::Download(MediaDownload {
            url: "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=2621233374848975&ext=1765000300&hash=ATtQ0Ex4mpLe".to_string(),
            headers: Vec::new(),
            mime_type: Some("image/jpeg".to_string()),
            // A string of digits in the reference.
            size_bytes: Some(303_833),
            sha256: Some(
                "81d3bd8a8db4868c9520ed47186e8b7c5789e61ff79f7f834be6950b808a90d3".to_string()
            ),
        }))
    );
    Ok(())
}

#[test]
fn media_answer_variants_are_read() -> TestResult {
    // A numeric file_size, a base64 hash (as in webhooks), no id.
    let answer = br#"{"messaging_product":"whatsapp","url":"https://lookaside.fbsbx.com/x?mid=1","mime_type":"audio/ogg","sha256":"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=","file_size":12345}"#;
    let Ok(MediaStep::Download(download)) = fetch_media("1", Some(answer)) else {
        return Err("not a download".into());
    };
    assert_eq!(download.size_bytes, Some(12_345));
    assert_eq!(
        download.sha256.as_deref(),
        Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    // A hash that is a documentation placeholder is left out, not checked.
    let placeholder = br#"{"url":"https://lookaside.fbsbx.com/x","sha256":"<HASH>"}"#;
    let Ok(MediaStep::Download(download)) = fetch_media("1", Some(placeholder)) else {
        return Err("not a download".into());
    };
    assert_eq!(download.sha256, None);
    assert_eq!(download.mime_type, None);
    Ok(())
}

#[test]
fn media_ids_that_would_change_the_request_are_refused() {
    for id in [
        "",
        "../me/accounts",
        "123?fields=access_token",
        "12 3",
        "abc",
    ] {
        assert!(
            matches!(fetch_media(id, None), Err(MediaError::InvalidId(_))),
            "{id:?} accepted"
        );
    }
}

#[test]
fn bad_media_answers_are_invalid_responses() {
    let invalid = |body: &[u8]| {
        matches!(
            fetch_media(MEDIA_ID, Some(body)),
            Err(MediaError::InvalidResponse(_))
        )
    };
    assert!(invalid(b"not json"));
    // The reference's own placeholders: `<URL>` is no URL to download.
    assert!(invalid(
        br#"{"file_size":"303833","id":"2621233374848975","messaging_product":"whatsapp","mime_type":"image/jpeg","sha256":"<HASH>","url":"<URL>"}"#
    ));
    assert!(invalid(br#"{"id":"2621233374848975"}"#), "no url");
    assert!(
        invalid(br#"{"url":"http://lookaside.fbsbx.com/x"}"#),
        "not https"
    );
    // An answer about another media id.
    assert!(invalid(
        br#"{"id":"999","url":"https://lookaside.fbsbx.com/x?mid=999"}"#
    ));
    assert!(invalid(
        br#"{"url":"https://lookaside.fbsbx.com/x","file_size":"big"}"#
    ));
}
