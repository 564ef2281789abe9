//! The Telegram translator against updates built from the Bot API reference
//! (`fixtures/`, sources in `fixtures/SOURCES.md`), malformed input, round
//! trips, limits and splitting, every encode degradation, sent-message ids
//! and media fetching.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use switchboard_pdk::serde_json::{self, Value, json};
use switchboard_pdk::types::{
    Address, Button, ButtonAction, Choice, ChoiceOrigin, ContactCard, Content, Conversation,
    ConversationKind, DecodeError, Edit, EncodeError, Envelope, Event, FormattedText, ForwardInfo,
    IdentityAttribute, Interactive, InteractiveAction, LabeledValue, ListMenu, ListRow,
    ListSection, Location, Media, MediaKind, MediaSource, Message, MessageCategory, MessageRef,
    QuickReply, Reaction, ReactionAction, Receipt, ReceiptStatus, SealedContent, SealingScheme,
    Span, SpanStyle, StoryRef, StoryRelation, Template, TypingState, UnsupportedContent,
};
use switchboard_pdk::{
    ApiAuth, ContentKind, Encoded, HttpMethod, MediaDownload, MediaError, MediaStep,
    WebhookSignature,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
const ADA: &str = "123456789";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_default()
}

fn decode_one(name: &str) -> Envelope {
    let mut envelopes = telegram_translator::decode(&fixture(name))
        .unwrap_or_else(|error| panic!("{name}: {error:?}"));
    assert_eq!(envelopes.len(), 1, "{name}");
    envelopes.remove(0)
}

fn message_of(envelope: &Envelope) -> &Message {
    match &envelope.event {
        Event::Message(message) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn media_of(envelope: &Envelope) -> &Media {
    match &message_of(envelope).content {
        Content::Media(media) => media,
        other => panic!("expected media, got {other:?}"),
    }
}

fn address(id: &str) -> Address {
    Address {
        platform: "telegram".to_string(),
        id: id.to_string(),
    }
}

fn reference(id: &str) -> MessageRef {
    MessageRef {
        platform: "telegram".to_string(),
        native_id: id.to_string(),
    }
}

fn extra<'a>(envelope: &'a Envelope, path: &str) -> Option<&'a str> {
    envelope
        .extras
        .iter()
        .find(|extra| extra.path == path)
        .map(|extra| extra.json.as_str())
}

/// Whether the extra at `path` is declared personal (`None`: no such extra).
fn personal(envelope: &Envelope, path: &str) -> Option<bool> {
    envelope
        .extras
        .iter()
        .find(|extra| extra.path == path)
        .map(|extra| extra.personal)
}

fn span(start: u32, end: u32, style: SpanStyle) -> Span {
    Span { start, end, style }
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
    let sources = std::fs::read_to_string(format!("{FIXTURES}/SOURCES.md"))?;
    let mut count = 0;
    for entry in std::fs::read_dir(FIXTURES)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        count += 1;
        assert!(
            sources.contains(&format!("| {name} |")),
            "{name} has no source"
        );
        let envelopes = telegram_translator::decode(&fixture(&name))
            .map_err(|error| format!("{name}: {error:?}"))?;
        assert!(!envelopes.is_empty(), "{name}");
        // The same update again gives the same envelopes: ids are
        // deterministic, so a redelivery is recognised.
        assert_eq!(
            telegram_translator::decode(&fixture(&name)),
            Ok(envelopes.clone())
        );
        for envelope in &envelopes {
            assert_eq!(envelope.platform, "telegram");
            assert!(envelope.id.starts_with("telegram:"), "{name}");
            assert!(!envelope.echo, "{name}");
            assert_eq!(envelope.recipient, address("bot"), "{name}");
        }
    }
    for entry in std::fs::read_dir(format!("{FIXTURES}/responses"))? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        assert!(
            sources.contains(&format!("| responses/{name} |")),
            "{name} has no source"
        );
    }
    assert!(count >= 17, "only {count} fixtures");
    Ok(())
}

#[test]
fn text_with_every_entity_kind() {
    let envelope = decode_one("text-entities.json");
    assert_eq!(envelope.id, format!("telegram:{ADA}:1365"));
    assert_eq!(envelope.native_id, Some(format!("{ADA}:1365")));
    assert_eq!(envelope.timestamp_ms, 1_441_645_532_000);
    assert_eq!(
        envelope.conversation,
        Conversation {
            kind: ConversationKind::Direct,
            id: ADA.to_string()
        }
    );
    assert_eq!(envelope.sender.address, address(ADA));
    assert_eq!(
        envelope.sender.attributes,
        vec![
            IdentityAttribute::DisplayName("Ada Lovelace".to_string()),
            IdentityAttribute::Username("@ada".to_string()),
        ]
    );
    let Content::Text(text) = &message_of(&envelope).content else {
        panic!("not text")
    };
    let body = "Hi 👋 bold italic strike mono\nblock docs https://core.telegram.org @BotFather Grace under";
    assert_eq!(text.body, body);
    // Character offsets, although Telegram counted the 👋 as two units.
    let at =
        |needle: &str| body.chars().count() - body[body.find(needle).unwrap()..].chars().count();
    let range = |needle: &str| {
        let start = at(needle) as u32;
        (start, start + needle.chars().count() as u32)
    };
    let expect = |needle: &str, style: SpanStyle| {
        let (start, end) = range(needle);
        span(start, end, style)
    };
    assert_eq!(at("bold"), 5);
    assert_eq!(
        text.spans,
        vec![
            expect("bold", SpanStyle::Bold),
            expect("italic", SpanStyle::Italic),
            expect("strike", SpanStyle::Strikethrough),
            expect("mono", SpanStyle::Monospace),
            expect("block", SpanStyle::Monospace),
            expect(
                "docs",
                SpanStyle::Link("https://core.telegram.org/bots/api".to_string())
            ),
            expect(
                "https://core.telegram.org",
                SpanStyle::Link("https://core.telegram.org".to_string())
            ),
            expect("@BotFather", SpanStyle::Mention(address("@BotFather"))),
            expect("Grace", SpanStyle::Mention(address("987654321"))),
        ]
    );
    // No canonical style: kept whole.
    assert_eq!(
        extra(&envelope, "/message/entities/9"),
        Some(r#"{"length":5,"offset":84,"type":"underline"}"#)
    );
    assert!(extra(&envelope, "/message/entities/4").is_some_and(|pre| pre.contains("rust")));
}

#[test]
fn photo_is_its_largest_size_with_caption_entities() {
    let envelope = decode_one("photo.json");
    let media = media_of(&envelope);
    assert_eq!(media.kind, MediaKind::Image);
    assert_eq!(
        media.source,
        MediaSource::PlatformId("AgADBAADq6cxG3PhoQe-large".to_string())
    );
    assert_eq!((media.width, media.height), (Some(1280), Some(960)));
    assert_eq!(media.size_bytes, Some(63582));
    assert_eq!(
        media.caption,
        Some(FormattedText {
            body: "Sunset 🌅 over the bay".to_string(),
            spans: vec![span(0, 6, SpanStyle::Bold)],
        })
    );
    assert!(extra(&envelope, "/message/photo").is_some());
}

#[test]
fn every_media_kind_maps() {
    let cases = [
        (
            "video.json",
            MediaKind::Video,
            "BAACAgIAAxkBAAIBV2ZvideoFileId",
            Some(12_000),
        ),
        (
            "voice.json",
            MediaKind::Voice,
            "AwACAgIAAxkBAAIBWGZvoiceFileId",
            Some(4_000),
        ),
        (
            "audio.json",
            MediaKind::Audio,
            "CQACAgIAAxkBAAIBWWZaudioFileId",
            Some(243_000),
        ),
        (
            "document.json",
            MediaKind::Document,
            "BQACAgIAAxkBAAIBWmZdocumentFileId",
            None,
        ),
        (
            "sticker.json",
            MediaKind::Sticker,
            "CAACAgIAAxkBAAIBW2ZstickerFileId",
            None,
        ),
        (
            "animation.json",
            MediaKind::Animation,
            "CgACAgQAAxkBAAIBXGZanimationFileId",
            Some(3_000),
        ),
    ];
    for (name, kind, file_id, duration) in cases {
        let envelope = decode_one(name);
        let media = media_of(&envelope);
        assert_eq!(media.kind, kind, "{name}");
        assert_eq!(
            media.source,
            MediaSource::PlatformId(file_id.to_string()),
            "{name}"
        );
        assert_eq!(media.duration_ms, duration, "{name}");
    }
    let video = decode_one("video.json");
    assert_eq!(media_of(&video).mime_type.as_deref(), Some("video/mp4"));
    assert_eq!(media_of(&video).filename.as_deref(), Some("clip.mp4"));
    assert_eq!(media_of(&video).caption, Some(plain("Harbour clip")));
    assert!(extra(&video, "/message/video/thumbnail").is_some());
    let audio = decode_one("audio.json");
    assert_eq!(
        extra(&audio, "/message/audio/performer"),
        Some("\"Bee Gees\"")
    );
    let sticker = decode_one("sticker.json");
    assert_eq!(extra(&sticker, "/message/sticker/emoji"), Some("\"😀\""));
    // The animation's compatibility copy as a document stays in extras.
    let animation = decode_one("animation.json");
    assert!(extra(&animation, "/message/document").is_some());
}

#[test]
fn location_and_contact() {
    let location = decode_one("location.json");
    assert_eq!(
        message_of(&location).content,
        Content::Location(Location {
            latitude: 51.500729,
            longitude: -0.124625,
            name: None,
            address: None,
            url: None,
        })
    );
    assert_eq!(
        extra(&location, "/message/location/horizontal_accuracy"),
        Some("25")
    );
    let contact = decode_one("contact.json");
    assert_eq!(
        message_of(&contact).content,
        Content::Contacts(vec![ContactCard {
            formatted_name: "Charles Babbage".to_string(),
            first_name: Some("Charles".to_string()),
            last_name: Some("Babbage".to_string()),
            organization: None,
            phones: vec![LabeledValue {
                label: None,
                value: "+447700900123".to_string()
            }],
            emails: Vec::new(),
            urls: Vec::new(),
            birthday: None,
        }])
    );
    assert!(extra(&contact, "/message/contact/vcard").is_some());
}

#[test]
fn replies_edits_reactions_and_button_presses() {
    let reply = decode_one("reply.json");
    assert_eq!(
        message_of(&reply).reply_to,
        Some(reference(&format!("{ADA}:1375")))
    );
    assert_eq!(
        message_of(&reply).content,
        Content::Text(plain("Yes, noon works"))
    );
    assert!(extra(&reply, "/message/reply_to_message").is_some());

    let edit = decode_one("edited-message.json");
    assert_eq!(edit.id, format!("telegram:{ADA}:1365:edit:1441645700"));
    assert_eq!(edit.timestamp_ms, 1_441_645_700_000);
    assert_eq!(
        edit.event,
        Event::Edit(Edit {
            target: reference(&format!("{ADA}:1365")),
            content: Content::Text(FormattedText {
                body: "Hi again, now bold".to_string(),
                spans: vec![span(14, 18, SpanStyle::Bold)],
            }),
        })
    );

    let reactions = telegram_translator::decode(&fixture("message-reaction.json")).unwrap();
    let events: Vec<&Event> = reactions.iter().map(|envelope| &envelope.event).collect();
    assert_eq!(
        events,
        vec![
            &Event::Reaction(Reaction {
                target: reference(&format!("{ADA}:1375")),
                action: ReactionAction::Add,
                emoji: "❤".to_string(),
            }),
            &Event::Reaction(Reaction {
                target: reference(&format!("{ADA}:1375")),
                action: ReactionAction::Remove,
                emoji: "👍".to_string(),
            }),
        ]
    );
    assert_eq!(
        reactions[0].id,
        format!("telegram:reaction:{ADA}:1375:{ADA}:1441645710:add:❤")
    );
    assert_ne!(reactions[0].id, reactions[1].id);
    // The custom emoji has no canonical form: kept.
    assert!(
        extra(&reactions[0], "/message_reaction/new_reaction/1")
            .is_some_and(|json| json.contains("5368324170671202286"))
    );

    let press = decode_one("callback-query.json");
    assert_eq!(press.id, "telegram:callback:4382bfdwdsb323b2d9");
    let message = message_of(&press);
    assert_eq!(
        message.content,
        Content::Choice(Choice {
            origin: ChoiceOrigin::Button,
            id: "slot-14".to_string(),
            title: "Two o'clock".to_string(),
        })
    );
    assert_eq!(message.reply_to, Some(reference(&format!("{ADA}:1377"))));
    assert_eq!(press.sender.address, address(ADA));
}

#[test]
fn groups_channels_and_unknown_updates() {
    let group = decode_one("group-message.json");
    assert_eq!(
        group.conversation,
        Conversation {
            kind: ConversationKind::Group,
            id: "-1001234567890".to_string()
        }
    );
    assert_eq!(group.id, "telegram:-1001234567890:88");
    assert_eq!(group.sender.address, address("987654321"));
    assert_eq!(extra(&group, "/message/message_thread_id"), Some("80"));
    // A bot command has no canonical style.
    assert!(extra(&group, "/message/entities/0").is_some_and(|json| json.contains("bot_command")));

    let post = decode_one("channel-post.json");
    assert_eq!(post.sender.address, address("-1009876543210"));
    assert_eq!(
        post.sender.attributes,
        vec![
            IdentityAttribute::DisplayName("Switchboard news".to_string()),
            IdentityAttribute::Username("@switchboard_news".to_string()),
        ]
    );
    assert_eq!(post.conversation.kind, ConversationKind::Group);

    let unknown = decode_one("unknown-update.json");
    assert_eq!(unknown.id, "telegram:update:10015");
    assert_eq!(
        message_of(&unknown).content,
        Content::Unsupported(UnsupportedContent {
            native_type: "poll_answer".to_string(),
            description: None,
        })
    );
    assert_eq!(unknown.sender.address, address(ADA));
    assert!(extra(&unknown, "/poll_answer").is_some());

    // A message kind without canonical content is reported, not refused.
    let dice = br#"{"update_id":1,"message":{"message_id":2,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false,"first_name":"A"},"date":1,"dice":{"emoji":"x","value":4}}}"#;
    let envelopes = telegram_translator::decode(dice).unwrap();
    assert_eq!(
        message_of(&envelopes[0]).content,
        Content::Unsupported(UnsupportedContent {
            native_type: "dice".to_string(),
            description: None,
        })
    );
    assert!(extra(&envelopes[0], "/message/dice").is_some());
}

#[test]
fn forwarded_messages_are_marked() {
    let body = br#"{"update_id":1,"message":{"message_id":2,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false,"first_name":"A"},"date":1,"forward_origin":{"type":"hidden_user","sender_user_name":"X","date":1},"text":"fwd"}}"#;
    let envelope = &telegram_translator::decode(body).unwrap()[0];
    assert_eq!(
        message_of(envelope).forwarded,
        Some(ForwardInfo {
            frequently_forwarded: false
        })
    );
    assert!(extra(envelope, "/message/forward_origin").is_some());
}

#[test]
fn extras_that_identify_someone_are_declared_personal() {
    // Users, chats and names, wherever they travel: the quoted message, the
    // message a button was on, a channel post's signature, a contact's
    // Telegram id and vCard, an update the model has no event for.
    let cases = [
        ("reply.json", "/message/reply_to_message"),
        ("callback-query.json", "/callback_query/message"),
        ("callback-query.json", "/callback_query/chat_instance"),
        ("channel-post.json", "/channel_post/author_signature"),
        ("contact.json", "/message/contact/user_id"),
        ("contact.json", "/message/contact/vcard"),
        ("location.json", "/message/location/horizontal_accuracy"),
        ("unknown-update.json", "/poll_answer"),
        ("audio.json", "/message/audio/performer"),
    ];
    for (name, path) in cases {
        assert_eq!(
            personal(&decode_one(name), path),
            Some(true),
            "{name} {path}"
        );
    }
    let body = br#"{"update_id":1,"message":{"message_id":2,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false,"first_name":"A"},"date":1,"forward_origin":{"type":"hidden_user","sender_user_name":"X","date":1},"text":"fwd"}}"#;
    let forwarded = &telegram_translator::decode(body).unwrap()[0];
    assert_eq!(personal(forwarded, "/message/forward_origin"), Some(true));
    // An undeclared member the Bot API might add is personal too.
    let body = br#"{"update_id":1,"message":{"message_id":2,"chat":{"id":5,"type":"private"},"from":{"id":5,"is_bot":false,"first_name":"A"},"date":1,"text":"hi","sender_tag":"ada"}}"#;
    let newer = &telegram_translator::decode(body).unwrap()[0];
    assert_eq!(personal(newer, "/message/sender_tag"), Some(true));
    // What names no one may cross: formatting, topics, sticker details.
    let shared = [
        ("text-entities.json", "/message/entities/9"),
        ("text-entities.json", "/message/entities/4"),
        ("group-message.json", "/message/message_thread_id"),
        ("sticker.json", "/message/sticker/emoji"),
        ("photo.json", "/message/photo"),
    ];
    for (name, path) in shared {
        assert_eq!(
            personal(&decode_one(name), path),
            Some(false),
            "{name} {path}"
        );
    }
    // Across every fixture: nothing naming a user, a chat or a name is
    // shareable.
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        for envelope in telegram_translator::decode(&fixture(&name)).unwrap() {
            for extra in &envelope.extras {
                let identifying = ["\"chat\"", "\"from\"", "\"user\"", "first_name", "username"]
                    .iter()
                    .any(|member| extra.json.contains(member));
                assert!(!identifying || extra.personal, "{name}: {}", extra.path);
            }
        }
    }
}

// --------------------------------------------------------------- malformed

/// The kind and path of a decode error.
fn field_error(body: &[u8]) -> (String, String) {
    match telegram_translator::decode(body) {
        Err(DecodeError::MissingField(error)) => ("missing".into(), error.path),
        Err(DecodeError::WrongType(error)) => ("type".into(), error.path),
        Err(DecodeError::InvalidValue(error)) => ("value".into(), error.path),
        other => panic!("expected a field error, got {other:?}"),
    }
}

fn with_message(message: &str) -> String {
    format!(r#"{{"update_id":1,"message":{message}}}"#)
}

#[test]
fn malformed_input_is_a_typed_error_naming_the_field() {
    let text = fixture("text-entities.json");
    assert!(matches!(
        telegram_translator::decode(&text[..text.len() / 2]),
        Err(DecodeError::Syntax(_))
    ));
    assert_eq!(
        field_error(br#"{"message":{}}"#),
        ("missing".into(), "/update_id".into())
    );
    assert_eq!(
        field_error(br#"{"update_id":1}"#),
        ("missing".into(), String::new())
    );
    assert_eq!(field_error(b"[1]"), ("type".into(), String::new()));
    let chat = r#""chat":{"id":5,"type":"private"}"#;
    assert_eq!(
        field_error(
            with_message(&format!(
                r#"{{"message_id":"7",{chat},"date":1,"text":"x"}}"#
            ))
            .as_bytes()
        ),
        ("value".into(), "/message/message_id".into())
    );
    assert_eq!(
        field_error(
            with_message(&format!(
                r#"{{"message_id":true,{chat},"date":1,"text":"x"}}"#
            ))
            .as_bytes()
        ),
        ("type".into(), "/message/message_id".into())
    );
    // Huge and fractional numbers are not ids.
    assert_eq!(
        field_error(
            with_message(
                r#"{"message_id":1,"chat":{"id":1e300,"type":"private"},"date":1,"text":"x"}"#
            )
            .as_bytes()
        ),
        ("value".into(), "/message/chat/id".into())
    );
    assert_eq!(
        field_error(
            with_message(
                r#"{"message_id":1.5,"chat":{"id":1,"type":"private"},"date":1,"text":"x"}"#
            )
            .as_bytes()
        ),
        ("value".into(), "/message/message_id".into())
    );
    assert_eq!(
        field_error(
            with_message(&format!(
                r#"{{"message_id":1,{chat},"date":99999999999999999999,"text":"x"}}"#
            ))
            .as_bytes()
        ),
        ("value".into(), "/message/date".into())
    );
    assert_eq!(
        field_error(with_message(r#"{"message_id":1,"date":1,"text":"x"}"#).as_bytes()),
        ("missing".into(), "/message/chat".into())
    );
    assert_eq!(
        field_error(
            with_message(r#"{"message_id":1,"chat":{"id":1,"type":"room"},"date":1,"text":"x"}"#)
                .as_bytes()
        ),
        ("value".into(), "/message/chat/type".into())
    );
    assert_eq!(
        field_error(
            with_message(&format!(r#"{{"message_id":1,{chat},"date":1,"text":7}}"#)).as_bytes()
        ),
        ("type".into(), "/message/text".into())
    );
    // An entity past the end of the text.
    assert_eq!(
        field_error(with_message(&format!(r#"{{"message_id":1,{chat},"date":1,"text":"ab","entities":[{{"type":"bold","offset":1,"length":5}}]}}"#)).as_bytes()),
        ("value".into(), "/message/entities/0/length".into())
    );
    assert_eq!(
        field_error(with_message(&format!(r#"{{"message_id":1,{chat},"date":1,"text":"ab","entities":[{{"type":"bold","offset":9,"length":1}}]}}"#)).as_bytes()),
        ("value".into(), "/message/entities/0/offset".into())
    );
    assert_eq!(
        field_error(
            with_message(&format!(r#"{{"message_id":1,{chat},"date":1,"photo":[]}}"#)).as_bytes()
        ),
        ("value".into(), "/message/photo".into())
    );
    assert_eq!(
        field_error(br#"{"update_id":1,"edited_message":{"message_id":1,"chat":{"id":1,"type":"private"},"date":1,"text":"x"}}"#),
        ("missing".into(), "/edited_message/edit_date".into())
    );
    assert_eq!(
        field_error(br#"{"update_id":1,"message_reaction":{"chat":{"id":1,"type":"private"},"message_id":1,"user":{"id":5,"is_bot":false,"first_name":"A"},"date":1,"old_reaction":[],"new_reaction":[{"type":"emoji"}]}}"#),
        ("missing".into(), "/message_reaction/new_reaction/0/emoji".into())
    );
}

#[test]
fn size_depth_and_encoding_limits() {
    let mut huge = fixture("text-entities.json");
    huge.resize(2 * 1024 * 1024, b' ');
    assert_eq!(
        telegram_translator::decode(&huge),
        Err(DecodeError::TooLarge(1024 * 1024))
    );
    let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
    assert!(matches!(
        telegram_translator::decode(deep.as_bytes()),
        Err(DecodeError::TooDeep(_))
    ));
    assert_eq!(
        telegram_translator::decode(b"{\"update_id\":\xff}"),
        Err(DecodeError::InvalidUtf8(13))
    );
}

// ---------------------------------------------------------------- encoding

fn envelope(platform: &str, event: Event) -> Envelope {
    Envelope {
        id: format!("{platform}:m1"),
        platform: platform.to_string(),
        native_id: Some("m1".to_string()),
        conversation: Conversation {
            kind: ConversationKind::Direct,
            id: "u1".to_string(),
        },
        sender: switchboard_pdk::types::Participant {
            address: Address {
                platform: platform.to_string(),
                id: "u1".to_string(),
            },
            attributes: Vec::new(),
        },
        recipient: Address {
            platform: platform.to_string(),
            id: "endpoint".to_string(),
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
        category: MessageCategory::Personal,
    })
}

fn send_from(platform: &str, event: Event) -> Encoded {
    telegram_translator::encode(&envelope(platform, event), &address("bot"), &address(ADA))
        .unwrap_or_else(|error| panic!("{error:?}"))
}

fn send(event: Event) -> Encoded {
    send_from("whatsapp", event)
}

fn bodies(encoded: &Encoded) -> Vec<Value> {
    encoded
        .requests
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap_or(Value::Null))
        .collect()
}

fn methods(encoded: &Encoded) -> Vec<&str> {
    encoded
        .requests
        .iter()
        .map(|request| request.path.rsplit('/').next().unwrap_or(""))
        .collect()
}

fn rules(encoded: &Encoded) -> Vec<&str> {
    encoded
        .degradations
        .iter()
        .map(|degradation| degradation.rule.as_str())
        .collect()
}

fn units(value: &Value) -> usize {
    value.as_str().map_or(0, |text| text.encode_utf16().count())
}

/// Asserts the shape every request has and the documented limits.
fn assert_within_limits(encoded: &Encoded) {
    for (request, body) in encoded.requests.iter().zip(bodies(encoded)) {
        assert_eq!(request.method, HttpMethod::Post);
        assert!(request.path.starts_with("/bot{token}/"), "{}", request.path);
        assert_eq!(
            request.headers,
            vec![("Content-Type".to_string(), "application/json".to_string())]
        );
        assert!(
            body["chat_id"].is_i64() || body["chat_id"].is_string(),
            "{body}"
        );
        assert!(units(&body["text"]) <= 4096, "{body}");
        assert!(units(&body["caption"]) <= 1024, "{body}");
        for (member, text) in [
            ("entities", &body["text"]),
            ("caption_entities", &body["caption"]),
        ] {
            for entity in body[member].as_array().into_iter().flatten() {
                let end = entity["offset"].as_u64().unwrap() + entity["length"].as_u64().unwrap();
                assert!(end as usize <= units(text), "{body}");
                assert!(entity["length"].as_u64().unwrap() > 0, "{body}");
            }
        }
        for row in body["reply_markup"]["inline_keyboard"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for button in row.as_array().into_iter().flatten() {
                assert!(button["text"].as_str().unwrap().chars().count() <= 64);
                if let Some(data) = button["callback_data"].as_str() {
                    assert!((1..=64).contains(&data.len()), "{body}");
                }
            }
        }
    }
}

#[test]
fn text_and_entities_round_trip() {
    let decoded = decode_one("text-entities.json");
    let encoded =
        telegram_translator::encode(&decoded, &decoded.recipient, &decoded.sender.address).unwrap();
    assert_within_limits(&encoded);
    assert!(
        encoded.degradations.is_empty(),
        "{:?}",
        encoded.degradations
    );
    assert_eq!(methods(&encoded), vec!["sendMessage"]);
    let sent = &bodies(&encoded)[0];
    let original: Value = serde_json::from_slice(&fixture("text-entities.json")).unwrap();
    assert_eq!(sent["chat_id"], json!(123456789));
    assert_eq!(sent["text"], original["message"]["text"]);
    // Every mapped entity comes back at the same UTF-16 place.
    let key = |entity: &Value| {
        (
            entity["offset"].as_u64().unwrap(),
            entity["length"].as_u64().unwrap(),
            entity["type"].as_str().unwrap().to_string(),
        )
    };
    let mut expected: Vec<_> = original["message"]["entities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entity| entity["type"] != "underline")
        .map(key)
        .map(|(offset, length, kind)| {
            // `url` comes back as a link to itself, `pre` on one line as code.
            let kind = match kind.as_str() {
                "url" => "text_link".to_string(),
                "pre" => "code".to_string(),
                _ => kind,
            };
            (offset, length, kind)
        })
        .collect();
    let mut got: Vec<_> = sent["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(key)
        .collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    let mention = sent["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entity| entity["type"] == "text_mention")
        .unwrap();
    assert_eq!(mention["user"]["id"], json!(987654321));
    // Decoding what was sent gives the same formatted text.
    let again = format!(
        r#"{{"update_id":2,"message":{{"message_id":9,"chat":{{"id":1,"type":"private"}},"date":1,"text":{},"entities":{}}}}}"#,
        sent["text"], sent["entities"]
    );
    let redecoded = telegram_translator::decode(again.as_bytes()).unwrap();
    let (Content::Text(first), Content::Text(second)) = (
        &message_of(&decoded).content,
        &message_of(&redecoded[0]).content,
    ) else {
        panic!("not text")
    };
    assert_eq!(first.body, second.body);
    assert_eq!(first.spans, second.spans);
}

#[test]
fn replies_keep_their_quote() {
    let decoded = decode_one("reply.json");
    let encoded =
        telegram_translator::encode(&decoded, &decoded.recipient, &decoded.sender.address).unwrap();
    assert_eq!(
        bodies(&encoded)[0]["reply_parameters"],
        json!({ "message_id": 1375 })
    );
    // A quote from another chat names it.
    let mut elsewhere = message(Content::Text(plain("hi")));
    if let Event::Message(inner) = &mut elsewhere {
        inner.reply_to = Some(reference("-100777:42"));
    }
    let encoded = send(elsewhere);
    assert_eq!(
        bodies(&encoded)[0]["reply_parameters"],
        json!({ "message_id": 42, "chat_id": -100777 })
    );
    // A message of another app cannot be quoted.
    let mut foreign = message(Content::Text(plain("hi")));
    if let Event::Message(inner) = &mut foreign {
        inner.reply_to = Some(MessageRef {
            platform: "whatsapp".into(),
            native_id: "wamid.1".into(),
        });
        inner.forwarded = Some(ForwardInfo {
            frequently_forwarded: true,
        });
        inner.story = Some(StoryRef {
            relation: StoryRelation::Reply,
            story_id: None,
            url: None,
        });
    }
    let encoded = send(foreign);
    assert_eq!(
        rules(&encoded),
        vec![
            "reply-context-dropped",
            "forward-flag-dropped",
            "story-context-dropped"
        ]
    );
    assert!(bodies(&encoded)[0].get("reply_parameters").is_none());
}

#[test]
fn long_text_is_split_on_words_with_its_entities() {
    // 3,000 emoji words of two units each: 3 × 3,000 = 9,000 UTF-16 units.
    let body = "😀😀 ".repeat(1500).trim_end().to_string() + " tail";
    let length = body.chars().count() as u32;
    let text = FormattedText {
        body: body.clone(),
        spans: vec![span(0, length, SpanStyle::Bold)],
    };
    let encoded = send(message(Content::Text(text)));
    assert_within_limits(&encoded);
    assert_eq!(rules(&encoded), vec!["text-split"]);
    let sent = bodies(&encoded);
    assert!(sent.len() >= 2, "{}", sent.len());
    let joined: Vec<String> = sent
        .iter()
        .map(|body| body["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(joined.join(" "), body);
    for part in &sent {
        // The bold span covers each whole part.
        assert_eq!(
            part["entities"],
            json!([{ "type": "bold", "offset": 0, "length": units(&part["text"]) }])
        );
        assert!(!part["text"].as_str().unwrap().ends_with('😀') || units(&part["text"]) <= 4096);
    }
    // Within the limit: one message.
    let exact = "a".repeat(4096);
    let encoded = send(message(Content::Text(plain(&exact))));
    assert_eq!(encoded.requests.len(), 1);
    assert!(rules(&encoded).is_empty());
    let over = "a".repeat(4097);
    let encoded = send(message(Content::Text(plain(&over))));
    assert_eq!(encoded.requests.len(), 2);
}

fn media(kind: MediaKind, source: MediaSource, caption: Option<FormattedText>) -> Content {
    Content::Media(Media {
        kind,
        source,
        mime_type: None,
        size_bytes: None,
        sha256: None,
        caption,
        filename: None,
        duration_ms: None,
        width: None,
        height: None,
    })
}

#[test]
fn media_by_file_id_or_url_with_captions() {
    let decoded = decode_one("photo.json");
    let encoded =
        telegram_translator::encode(&decoded, &decoded.recipient, &decoded.sender.address).unwrap();
    assert_eq!(methods(&encoded), vec!["sendPhoto"]);
    assert_eq!(
        bodies(&encoded)[0],
        json!({
            "chat_id": 123456789,
            "photo": "AgADBAADq6cxG3PhoQe-large",
            "caption": "Sunset 🌅 over the bay",
            "caption_entities": [{ "type": "bold", "offset": 0, "length": 6 }],
        })
    );
    for (kind, method, member) in [
        (MediaKind::Video, "sendVideo", "video"),
        (MediaKind::Audio, "sendAudio", "audio"),
        (MediaKind::Voice, "sendVoice", "voice"),
        (MediaKind::Document, "sendDocument", "document"),
        (MediaKind::Animation, "sendAnimation", "animation"),
        (MediaKind::Sticker, "sendSticker", "sticker"),
    ] {
        let encoded = send(message(media(
            kind,
            MediaSource::Url("https://example.com/f".into()),
            None,
        )));
        assert_eq!(methods(&encoded), vec![method]);
        assert_eq!(bodies(&encoded)[0][member], "https://example.com/f");
        assert!(encoded.degradations.is_empty());
    }
    // A WhatsApp media id means nothing to Telegram.
    let encoded = send(message(media(
        MediaKind::Image,
        MediaSource::PlatformId("1003383421387256".into()),
        Some(plain("Taj Mahal")),
    )));
    assert_eq!(rules(&encoded), vec!["media-without-url"]);
    assert_eq!(bodies(&encoded)[0]["text"], "[photo] Taj Mahal");
    // Stickers take no caption.
    let encoded = send(message(media(
        MediaKind::Sticker,
        MediaSource::Url("https://example.com/s.webp".into()),
        Some(plain("lol")),
    )));
    assert_eq!(rules(&encoded), vec!["caption-as-text"]);
    assert_eq!(methods(&encoded), vec!["sendSticker", "sendMessage"]);
    assert_eq!(bodies(&encoded)[1]["text"], "lol");
}

#[test]
fn long_captions_are_cut_with_their_entities() {
    let body = "word ".repeat(400);
    let caption = FormattedText {
        body: body.trim_end().to_string(),
        spans: vec![span(0, 1990, SpanStyle::Italic)],
    };
    let encoded = send(message(media(
        MediaKind::Image,
        MediaSource::Url("https://example.com/p.jpg".into()),
        Some(caption),
    )));
    assert_within_limits(&encoded);
    assert_eq!(rules(&encoded), vec!["caption-truncated"]);
    let sent = &bodies(&encoded)[0];
    let text = sent["caption"].as_str().unwrap();
    assert!(text.ends_with("word…"), "{text}");
    assert_eq!(
        sent["caption_entities"][0]["length"],
        json!(units(&sent["caption"]) - 1)
    );
}

#[test]
fn locations_venues_and_contacts() {
    let decoded = decode_one("location.json");
    let encoded =
        telegram_translator::encode(&decoded, &decoded.recipient, &decoded.sender.address).unwrap();
    assert_eq!(methods(&encoded), vec!["sendLocation"]);
    assert_eq!(
        bodies(&encoded)[0],
        json!({ "chat_id": 123456789, "latitude": 51.500729, "longitude": -0.124625 })
    );
    let venue = Location {
        latitude: 37.44,
        longitude: -122.16,
        name: Some("Philz Coffee".into()),
        address: Some("101 Forest Ave".into()),
        url: Some("https://philzcoffee.com".into()),
    };
    let encoded = send(message(Content::Location(venue.clone())));
    assert_eq!(methods(&encoded), vec!["sendVenue", "sendMessage"]);
    assert_eq!(bodies(&encoded)[0]["title"], "Philz Coffee");
    assert_eq!(rules(&encoded), vec!["location-url-as-text"]);
    let named = Location {
        address: None,
        url: None,
        ..venue.clone()
    };
    let encoded = send(message(Content::Location(named)));
    assert_eq!(methods(&encoded), vec!["sendLocation", "sendMessage"]);
    assert_eq!(rules(&encoded), vec!["location-details-as-text"]);
    assert_eq!(bodies(&encoded)[1]["text"], "Philz Coffee");
    let nowhere = Location {
        latitude: f64::NAN,
        ..venue
    };
    let encoded = send(message(Content::Location(nowhere)));
    assert_eq!(rules(&encoded), vec!["location-as-text"]);

    let decoded = decode_one("contact.json");
    let encoded =
        telegram_translator::encode(&decoded, &decoded.recipient, &decoded.sender.address).unwrap();
    assert_eq!(
        bodies(&encoded)[0],
        json!({ "chat_id": 123456789, "phone_number": "+447700900123", "first_name": "Charles", "last_name": "Babbage" })
    );
    let card = ContactCard {
        formatted_name: "Barbara J. Johnson".into(),
        first_name: Some("Barbara".into()),
        last_name: Some("Johnson".into()),
        organization: Some("Contoso".into()),
        phones: vec![LabeledValue {
            label: Some("WORK".into()),
            value: "+1 415 555 0829".into(),
        }],
        emails: vec![LabeledValue {
            label: None,
            value: "bjohnson@example.com".into(),
        }],
        urls: Vec::new(),
        birthday: Some("1980-07-04".into()),
    };
    let no_phone = ContactCard {
        phones: Vec::new(),
        ..card.clone()
    };
    let encoded = send(message(Content::Contacts(vec![card, no_phone])));
    assert_eq!(methods(&encoded), vec!["sendContact", "sendMessage"]);
    let vcard = bodies(&encoded)[0]["vcard"].as_str().unwrap().to_string();
    assert!(
        vcard.contains("ORG:Contoso") && vcard.contains("EMAIL:bjohnson@example.com"),
        "{vcard}"
    );
    assert!(vcard.contains("BDAY:1980-07-04"));
    assert_eq!(rules(&encoded), vec!["contacts-as-text"]);
    assert!(
        bodies(&encoded)[1]["text"]
            .as_str()
            .unwrap()
            .contains("bjohnson@example.com")
    );
}

fn interactive(header: Option<&str>, action: InteractiveAction) -> Content {
    Content::Interactive(Interactive {
        header: header.map(str::to_string),
        body: plain("Pick a time"),
        footer: None,
        action,
    })
}

fn reply_buttons(count: usize) -> InteractiveAction {
    InteractiveAction::Buttons(
        (0..count)
            .map(|index| Button {
                title: format!("Option {index}"),
                action: ButtonAction::Reply(format!("opt-{index}")),
            })
            .collect(),
    )
}

#[test]
fn buttons_become_an_inline_keyboard() {
    let encoded = send(message(Content::Interactive(Interactive {
        header: Some("Booking".into()),
        body: plain("Pick a time"),
        footer: Some("Reply STOP to stop".into()),
        action: InteractiveAction::Buttons(vec![
            Button {
                title: "Noon".into(),
                action: ButtonAction::Reply("slot-12".into()),
            },
            Button {
                title: "Website".into(),
                action: ButtonAction::OpenUrl("https://example.com".into()),
            },
            Button {
                title: "Call us".into(),
                action: ButtonAction::Call("+15551234".into()),
            },
            Button {
                title: "A title that is much longer than sixty-four characters, far too long"
                    .into(),
                action: ButtonAction::Reply("x".repeat(80)),
            },
        ]),
    })));
    assert_within_limits(&encoded);
    assert_eq!(
        rules(&encoded),
        vec![
            "header-footer-as-text",
            "link-buttons-to-text",
            "button-title-truncated",
            "button-id-truncated"
        ]
    );
    let sent = &bodies(&encoded)[0];
    assert_eq!(
        sent["text"],
        "Booking\nPick a time\nReply STOP to stop\nCall us: +15551234"
    );
    assert_eq!(
        sent["entities"],
        json!([
            { "type": "bold", "offset": 0, "length": 7 },
            { "type": "italic", "offset": 20, "length": 18 },
        ])
    );
    let keyboard = &sent["reply_markup"]["inline_keyboard"];
    assert_eq!(
        keyboard[0],
        json!([{ "text": "Noon", "callback_data": "slot-12" }])
    );
    assert_eq!(
        keyboard[1],
        json!([{ "text": "Website", "url": "https://example.com" }])
    );
    assert_eq!(keyboard[2][0]["callback_data"], "x".repeat(64));

    let many = send(message(interactive(None, reply_buttons(101))));
    assert_eq!(rules(&many), vec!["buttons-to-numbered-text"]);
    assert!(many.requests.len() == 1);
    assert!(
        bodies(&many)[0]["text"]
            .as_str()
            .unwrap()
            .ends_with("101. Option 100")
    );
    assert!(bodies(&many)[0].get("reply_markup").is_none());
}

#[test]
fn lists_and_quick_replies_become_buttons_or_text() {
    let menu = |rows: usize| {
        InteractiveAction::List(ListMenu {
            button_label: "Times".into(),
            sections: vec![ListSection {
                title: Some("Today".into()),
                rows: (0..rows)
                    .map(|index| ListRow {
                        id: format!("row-{index}"),
                        title: format!("Row {index}"),
                        description: (index == 0).then(|| "first".to_string()),
                    })
                    .collect(),
            }],
        })
    };
    let encoded = send(message(interactive(None, menu(2))));
    assert_eq!(rules(&encoded), vec!["list-to-buttons"]);
    assert_eq!(
        bodies(&encoded)[0]["reply_markup"]["inline_keyboard"],
        json!([
            [{ "text": "Row 0 — first", "callback_data": "row-0" }],
            [{ "text": "Row 1", "callback_data": "row-1" }],
        ])
    );
    let empty = send(message(interactive(None, menu(0))));
    assert_eq!(rules(&empty), vec!["list-to-numbered-text"]);
    let replies = |count: usize| {
        InteractiveAction::QuickReplies(
            (0..count)
                .map(|index| QuickReply {
                    title: format!("Q{index}"),
                    payload: format!("q-{index}"),
                    image_url: None,
                })
                .collect(),
        )
    };
    let encoded = send(message(interactive(None, replies(2))));
    assert_eq!(rules(&encoded), vec!["quick-replies-to-buttons"]);
    assert_eq!(
        bodies(&encoded)[0]["reply_markup"]["inline_keyboard"][1],
        json!([{ "text": "Q1", "callback_data": "q-1" }])
    );
    let encoded = send(message(interactive(None, replies(150))));
    assert_eq!(rules(&encoded), vec!["quick-replies-to-numbered-text"]);
}

#[test]
fn choices_templates_sealed_and_unsupported() {
    let encoded = send(message(Content::Choice(Choice {
        origin: ChoiceOrigin::Button,
        id: "yes".into(),
        title: "Yes please".into(),
    })));
    assert_eq!(rules(&encoded), vec!["choice-as-text"]);
    assert_eq!(bodies(&encoded)[0]["text"], "Yes please");
    let template = |fallback: Option<&str>| {
        Content::Template(Template {
            name: "order_update".into(),
            language: "en_US".into(),
            parameters: Vec::new(),
            fallback_text: fallback.map(str::to_string),
        })
    };
    let encoded = send(message(template(Some("Your order shipped"))));
    assert_eq!(rules(&encoded), vec!["template-as-text"]);
    assert_eq!(bodies(&encoded)[0]["text"], "Your order shipped");
    assert_eq!(
        bodies(&send(message(template(None))))[0]["text"],
        "[Template: order_update]"
    );

    let sealed = SealedContent {
        scheme: SealingScheme::HpkeX25519Aes256gcm,
        sender_key_id: "k1".into(),
        ephemeral_public_key: vec![7; 32],
        session_header: Vec::new(),
        ciphertext: (0..=255).collect(),
    };
    let encoded = send(message(Content::Sealed(sealed.clone())));
    assert_eq!(rules(&encoded), vec!["sealed-as-armored-text"]);
    // The armor decodes back to the same bytes.
    let text = bodies(&encoded)[0]["text"].clone();
    let update = format!(
        r#"{{"update_id":3,"message":{{"message_id":4,"chat":{{"id":1,"type":"private"}},"date":1,"text":{text}}}}}"#
    );
    let decoded = telegram_translator::decode(update.as_bytes()).unwrap();
    assert_eq!(
        message_of(&decoded[0]).content,
        Content::Sealed(sealed.clone())
    );
    let too_big = SealedContent {
        ciphertext: vec![1; 4000],
        ..sealed
    };
    assert!(matches!(
        telegram_translator::encode(
            &envelope("whatsapp", message(Content::Sealed(too_big))),
            &address("bot"),
            &address(ADA)
        ),
        Err(EncodeError::Unsupported(_))
    ));

    let encoded = send(message(Content::Unsupported(UnsupportedContent {
        native_type: "order".into(),
        description: Some("An order".into()),
    })));
    assert_eq!(rules(&encoded), vec!["unsupported-as-notice"]);
    assert_eq!(
        bodies(&encoded)[0]["text"],
        "[Unsupported message: order — An order]"
    );

    // A mention of someone on another app is plain text.
    let encoded = send(message(Content::Text(FormattedText {
        body: "hi Sheena".into(),
        spans: vec![span(
            3,
            9,
            SpanStyle::Mention(Address {
                platform: "whatsapp".into(),
                id: "16505551234".into(),
            }),
        )],
    })));
    assert_eq!(rules(&encoded), vec!["mention-as-text"]);
    assert!(bodies(&encoded)[0].get("entities").is_none());
}

#[test]
fn reactions_edits_deletions_receipts_typing() {
    let target = reference(&format!("{ADA}:1375"));
    let react = |emoji: &str, action: ReactionAction, target: MessageRef| {
        send(Event::Reaction(Reaction {
            target,
            action,
            emoji: emoji.into(),
        }))
    };
    // The emoji with its variation selector is Telegram's ❤.
    let encoded = react("❤️", ReactionAction::Add, target.clone());
    assert_eq!(methods(&encoded), vec!["setMessageReaction"]);
    assert_eq!(
        bodies(&encoded)[0],
        json!({ "chat_id": 123456789, "message_id": 1375, "reaction": [{ "type": "emoji", "emoji": "❤" }] })
    );
    let encoded = react("", ReactionAction::Remove, target.clone());
    assert_eq!(bodies(&encoded)[0]["reaction"], json!([]));
    let encoded = react("🦀", ReactionAction::Add, target.clone());
    assert_eq!(rules(&encoded), vec!["reaction-as-text"]);
    assert_eq!(bodies(&encoded)[0]["text"], "Reacted 🦀 to a message");
    assert_eq!(bodies(&encoded)[0]["reply_parameters"]["message_id"], 1375);
    let encoded = react("👍", ReactionAction::Add, reference("not-an-id"));
    assert_eq!(rules(&encoded), vec!["reaction-as-text"]);

    let decoded = decode_one("edited-message.json");
    let encoded =
        telegram_translator::encode(&decoded, &decoded.recipient, &decoded.sender.address).unwrap();
    assert!(encoded.degradations.is_empty());
    assert_eq!(methods(&encoded), vec!["editMessageText"]);
    assert_eq!(
        bodies(&encoded)[0],
        json!({
            "chat_id": 123456789,
            "message_id": 1365,
            "text": "Hi again, now bold",
            "entities": [{ "type": "bold", "offset": 14, "length": 4 }],
        })
    );
    let encoded = send(Event::Edit(Edit {
        target: MessageRef {
            platform: "whatsapp".into(),
            native_id: "wamid.1".into(),
        },
        content: Content::Text(FormattedText {
            body: "new words".into(),
            spans: vec![span(0, 3, SpanStyle::Bold)],
        }),
    }));
    assert_eq!(rules(&encoded), vec!["edit-as-new-message"]);
    let sent = &bodies(&encoded)[0];
    assert_eq!(sent["text"], "✏️ Edited: new words");
    // The span moved with the prefix (✏️ is two units, its selector one).
    assert_eq!(
        sent["entities"],
        json!([{ "type": "bold", "offset": 11, "length": 3 }])
    );

    let encoded = send(Event::Deletion(target));
    assert_eq!(
        bodies(&encoded)[0],
        json!({ "chat_id": 123456789, "message_id": 1375 })
    );
    assert_eq!(methods(&encoded), vec!["deleteMessage"]);
    let encoded = send(Event::Deletion(MessageRef {
        platform: "messenger".into(),
        native_id: "m_1".into(),
    }));
    assert_eq!(rules(&encoded), vec!["deletion-as-notice"]);

    let encoded = send(Event::Receipt(Receipt {
        status: ReceiptStatus::Read,
        targets: vec![reference("1:2")],
        watermark_ms: None,
        failure: None,
    }));
    assert_eq!(rules(&encoded), vec!["receipt-dropped"]);
    assert!(encoded.requests.is_empty());
    let encoded = send(Event::Typing(TypingState::Started));
    assert_eq!(
        bodies(&encoded)[0],
        json!({ "chat_id": 123456789, "action": "typing" })
    );
    let encoded = send(Event::Typing(TypingState::Stopped));
    assert_eq!(rules(&encoded), vec!["typing-dropped"]);
    assert!(encoded.requests.is_empty());
}

#[test]
fn bad_envelopes_are_refused() {
    let empty = telegram_translator::encode(
        &envelope("whatsapp", message(Content::Text(plain("  ")))),
        &address("bot"),
        &address(ADA),
    );
    assert!(
        matches!(empty, Err(EncodeError::InvalidEnvelope(error)) if error.path == "/event/message/content/text/body")
    );
    let bad_chat = telegram_translator::encode(
        &envelope("whatsapp", message(Content::Text(plain("hi")))),
        &address("bot"),
        &address("../getMe"),
    );
    assert!(
        matches!(bad_chat, Err(EncodeError::InvalidEnvelope(error)) if error.path == "/recipient/id")
    );
    // A channel username is a chat id too.
    let channel = telegram_translator::encode(
        &envelope("whatsapp", message(Content::Text(plain("hi")))),
        &address("bot"),
        &address("@switchboard_news"),
    )
    .unwrap();
    assert_eq!(bodies(&channel)[0]["chat_id"], "@switchboard_news");
    let own = send_from(
        "telegram",
        message(media(
            MediaKind::Voice,
            MediaSource::PlatformId("AwAC".into()),
            None,
        )),
    );
    assert_eq!(bodies(&own)[0]["voice"], "AwAC");
}

// ------------------------------------------------- responses, media, describe

#[test]
fn sent_message_id_reads_the_sample_responses() {
    let read =
        |name: &str| telegram_translator::sent_message_id(&fixture(&format!("responses/{name}")));
    assert_eq!(read("sendMessage.json"), Some(format!("{ADA}:1378")));
    assert_eq!(read("sendPhoto.json"), Some(format!("{ADA}:1379")));
    assert_eq!(read("deleteMessage.json"), None);
    assert_eq!(read("error.json"), None);
    assert_eq!(telegram_translator::sent_message_id(b"not json"), None);
    // What was sent can be replied to: the id is a reference the encoder reads.
    let id = read("sendMessage.json").unwrap();
    let mut reply = message(Content::Text(plain("ok")));
    if let Event::Message(inner) = &mut reply {
        inner.reply_to = Some(reference(&id));
    }
    assert_eq!(
        bodies(&send(reply))[0]["reply_parameters"]["message_id"],
        1378
    );
}

#[test]
fn fetch_media_resolves_then_downloads() {
    let MediaStep::Request(first) = telegram_translator::fetch_media("AgAD+/x=", None).unwrap()
    else {
        panic!("expected a request first")
    };
    assert_eq!(first.method, HttpMethod::Get);
    assert_eq!(first.path, "/bot{token}/getFile?file_id=AgAD%2B%2Fx%3D");
    assert!(first.body.is_empty());
    let MediaStep::Download(download) =
        telegram_translator::fetch_media("AgAD", Some(&fixture("responses/getFile.json"))).unwrap()
    else {
        panic!("expected the download")
    };
    assert_eq!(
        download,
        MediaDownload {
            url: "/file/bot{token}/photos/file_12.jpg".into(),
            headers: Vec::new(),
            mime_type: None,
            size_bytes: Some(63582),
            sha256: None,
        }
    );
    assert_eq!(
        telegram_translator::fetch_media("AgAD", Some(&fixture("responses/error.json")))
            .unwrap_err(),
        MediaError::InvalidResponse("Bad Request: chat not found".into())
    );
    assert!(matches!(
        telegram_translator::fetch_media(
            "AgAD",
            Some(br#"{"ok":true,"result":{"file_path":"../../etc/passwd"}}"#)
        ),
        Err(MediaError::InvalidResponse(_))
    ));
    for answer in [
        br#"{"ok":true,"result":{"file_path":"/photos/file_12.jpg"}}"#.as_slice(),
        br#"{"ok":true,"result":{"file_path":"photos/file?x=1"}}"#,
        br#"{"ok":true,"result":{"file_path":"photos/file_12.jpg","file_size":-1}}"#,
    ] {
        assert!(
            matches!(
                telegram_translator::fetch_media("AgAD", Some(answer)),
                Err(MediaError::InvalidResponse(_))
            ),
            "{}",
            String::from_utf8_lossy(answer)
        );
    }
    assert!(matches!(
        telegram_translator::fetch_media("", None),
        Err(MediaError::InvalidId(_))
    ));
}

#[test]
fn describe_says_what_telegram_shows() {
    let capabilities = telegram_translator::describe();
    assert_eq!(capabilities.platform, "telegram");
    assert_eq!(
        capabilities.webhook_signature,
        WebhookSignature::SecretTokenHeader
    );
    assert_eq!(
        telegram_translator::WEBHOOK_SIGNATURE,
        WebhookSignature::SecretTokenHeader
    );
    assert_eq!(
        telegram_translator::api_auth(),
        ApiAuth::PathToken("{token}".into())
    );
    assert_eq!(capabilities.api_auth, ApiAuth::PathToken("{token}".into()));
    assert_eq!(capabilities.limits.max_text_chars, 4096);
    assert_eq!(capabilities.limits.max_caption_chars, 1024);
    for kind in [
        ContentKind::Voice,
        ContentKind::Edit,
        ContentKind::Deletion,
        ContentKind::Reaction,
    ] {
        assert!(capabilities.native.contains(&kind), "{kind:?}");
    }
    assert!(!capabilities.native.contains(&ContentKind::Receipt));
}

#[test]
fn every_documented_rule_is_tested() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    let tests =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/telegram.rs")).unwrap();
    let table = docs.split("| rule | when | what is sent |").nth(1).unwrap();
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
}
