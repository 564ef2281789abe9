//! The Matrix translator against the Matrix specification's examples
//! (`fixtures/`, sources in `fixtures/SOURCES.md`), malformed input, round
//! trips, splitting, every encode degradation, sent event ids and media
//! fetching.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use switchboard_pdk::serde_json::{self, Value, json};
use switchboard_pdk::types::{
    Address, Button, ButtonAction, Choice, ChoiceOrigin, ContactCard, Content, Conversation,
    ConversationKind, DecodeError, Edit, EncodeError, Envelope, Event, FormattedText, ForwardInfo,
    Interactive, InteractiveAction, LabeledValue, ListMenu, ListRow, ListSection, Location, Media,
    MediaKind, MediaSource, Message, MessageCategory, MessageRef, Participant, QuickReply,
    Reaction, ReactionAction, Receipt, ReceiptStatus, SealedContent, SealingScheme, Span,
    SpanStyle, StoryRef, StoryRelation, Template, TypingState, UnsupportedContent,
};
use switchboard_pdk::{
    ApiAuth, ContentKind, Encoded, HttpMethod, MediaDownload, MediaError, MediaStep,
    WebhookSignature,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
const ROOM: &str = "!jEsUZKDJdhlrceRyVU:example.org";
const EVENT: &str = "$143273582443PhrSn:example.org";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{name}")).unwrap_or_default()
}

fn decode_one(name: &str) -> Envelope {
    let mut envelopes = matrix_translator::decode(&fixture(name))
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
        platform: "matrix".to_string(),
        id: id.to_string(),
    }
}

fn reference(id: &str) -> MessageRef {
    MessageRef {
        platform: "matrix".to_string(),
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
fn every_fixture_decodes_and_has_a_source() {
    let sources = std::fs::read_to_string(format!("{FIXTURES}/SOURCES.md")).unwrap();
    let mut count = 0;
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        count += 1;
        assert!(
            sources.contains(&format!("| {name} | https://")),
            "{name} has no source"
        );
        let envelopes = matrix_translator::decode(&fixture(&name))
            .unwrap_or_else(|error| panic!("{name}: {error:?}"));
        assert!(!envelopes.is_empty(), "{name}");
        assert_eq!(
            matrix_translator::decode(&fixture(&name)),
            Ok(envelopes.clone())
        );
        for envelope in &envelopes {
            assert_eq!(envelope.platform, "matrix");
            assert!(envelope.id.starts_with("matrix:"), "{name}");
            assert!(!envelope.echo, "{name}");
            assert_eq!(envelope.recipient, address("appservice"));
        }
    }
    for entry in std::fs::read_dir(format!("{FIXTURES}/responses")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            sources.contains(&format!("| responses/{name} |")),
            "{name} has no source"
        );
    }
    assert!(count >= 16, "only {count} fixtures");
}

#[test]
fn the_spec_transaction() {
    let envelopes = matrix_translator::decode(&fixture("transaction.json")).unwrap();
    assert_eq!(envelopes.len(), 4);
    // The membership change is a state event: reported, not a message.
    assert_eq!(
        message_of(&envelopes[0]).content,
        Content::Unsupported(UnsupportedContent {
            native_type: "m.room.member".into(),
            description: None
        })
    );
    assert!(
        extra(&envelopes[0], "/events/0/content")
            .is_some_and(|json| json.contains("Alice Margatroid"))
    );
    assert!(extra(&envelopes[0], "/events/0/state_key").is_some());
    let text = &envelopes[1];
    assert_eq!(text.id, format!("matrix:{EVENT}"));
    assert_eq!(text.native_id.as_deref(), Some(EVENT));
    assert_eq!(text.timestamp_ms, 1_432_735_824_653);
    assert_eq!(
        text.sender,
        Participant {
            address: address("@example:example.org"),
            attributes: Vec::new()
        }
    );
    assert_eq!(
        text.conversation,
        Conversation {
            kind: ConversationKind::Group,
            id: ROOM.to_string()
        }
    );
    assert_eq!(
        message_of(text).content,
        Content::Text(FormattedText {
            body: "This is an example text message".into(),
            spans: vec![span(0, 31, SpanStyle::Bold)],
        })
    );
    assert!(extra(text, "/events/1/unsigned").is_some());
    // The public read receipt; the private one is not relayed.
    let receipt = &envelopes[2];
    assert_eq!(
        receipt.event,
        Event::Receipt(Receipt {
            status: ReceiptStatus::Read,
            targets: vec![reference("$1435641916114394fHBLK:matrix.org")],
            watermark_ms: None,
            failure: None,
        })
    );
    assert_eq!(receipt.sender.address, address("@erikj:jki.re"));
    assert_eq!(receipt.timestamp_ms, 1_436_451_550_453);
    assert_eq!(
        receipt.id,
        format!("matrix:receipt:{ROOM}:$1435641916114394fHBLK:matrix.org:@erikj:jki.re")
    );
    assert!(
        envelopes
            .iter()
            .all(|envelope| envelope.sender.address.id != "@self:example.org")
    );
    let presence = &envelopes[3];
    assert_eq!(
        message_of(presence).content,
        Content::Unsupported(UnsupportedContent {
            native_type: "m.presence".into(),
            description: None
        })
    );
    assert!(presence.id.starts_with("matrix:ephemeral:m.presence:"));
}

#[test]
fn html_bodies_give_text_and_spans() {
    let envelope = decode_one("text-html.json");
    let Content::Text(text) = &message_of(&envelope).content else {
        panic!("not text")
    };
    let body = "Bold, strong, italic, em, gone & x < y\nfn main() {}\nSee the spec, ask Alice 👋";
    assert_eq!(text.body, body);
    let at = |needle: &str| {
        let start = body[..body.find(needle).unwrap()].chars().count() as u32;
        (start, start + needle.chars().count() as u32)
    };
    let expect = |needle: &str, style: SpanStyle| {
        let (start, end) = at(needle);
        span(start, end, style)
    };
    assert_eq!(
        text.spans,
        vec![
            expect("Bold", SpanStyle::Bold),
            expect("strong", SpanStyle::Bold),
            expect("italic", SpanStyle::Italic),
            expect("em,", SpanStyle::Italic).clone_shorter(),
            expect("gone", SpanStyle::Strikethrough),
            expect("x < y", SpanStyle::Monospace),
            expect("fn main() {}\n", SpanStyle::Monospace),
            expect(
                "the spec",
                SpanStyle::Link("https://spec.matrix.org/latest/".into())
            ),
            expect("Alice", SpanStyle::Mention(address("@alice:example.org"))),
        ]
    );
    let notice = decode_one("notice.json");
    assert_eq!(
        message_of(&notice).content,
        Content::Text(FormattedText {
            body: "This is an example notice".into(),
            spans: vec![span(11, 18, SpanStyle::Bold)],
        })
    );
    assert_eq!(
        extra(&notice, "/events/0/content/msgtype"),
        Some("\"m.notice\"")
    );
    let emote = decode_one("emote.json");
    assert_eq!(
        extra(&emote, "/events/0/content/msgtype"),
        Some("\"m.emote\"")
    );
    let Content::Text(emote_text) = &message_of(&emote).content else {
        panic!("not text")
    };
    assert_eq!(emote_text.body, "thinks this is an example emote");
}

/// Test helper: a span one character shorter (for needles that include a
/// trailing character the span does not cover).
trait Shorter {
    fn clone_shorter(&self) -> Span;
}

impl Shorter for Span {
    fn clone_shorter(&self) -> Span {
        Span {
            start: self.start,
            end: self.end - 1,
            style: self.style.clone(),
        }
    }
}

#[test]
fn media_messages_and_stickers() {
    let image = decode_one("image.json");
    assert_eq!(
        *media_of(&image),
        Media {
            kind: MediaKind::Image,
            source: MediaSource::PlatformId("mxc://example.org/JWEIFJgwEIhweiWJE".into()),
            mime_type: Some("image/jpeg".into()),
            size_bytes: Some(31037),
            sha256: None,
            caption: None,
            filename: Some("filename.jpg".into()),
            duration_ms: None,
            width: Some(394),
            height: Some(398),
        }
    );
    let video = decode_one("video.json");
    assert_eq!(media_of(&video).kind, MediaKind::Video);
    assert_eq!(media_of(&video).duration_ms, Some(2_140_786));
    assert!(extra(&video, "/events/0/content/info/thumbnail_url").is_some());
    let audio = decode_one("audio.json");
    assert_eq!(media_of(&audio).kind, MediaKind::Audio);
    assert_eq!(
        media_of(&audio).filename.as_deref(),
        Some("Bee Gees - Stayin' Alive")
    );
    let file = decode_one("file.json");
    let document = media_of(&file);
    assert_eq!(document.kind, MediaKind::Document);
    // `filename` equal to `body`: no caption.
    assert_eq!(
        document.filename.as_deref(),
        Some("something-important.doc")
    );
    assert_eq!(document.caption, None);
    assert_eq!(document.mime_type.as_deref(), Some("application/msword"));
    let sticker = decode_one("sticker.json");
    assert_eq!(media_of(&sticker).kind, MediaKind::Sticker);
    assert_eq!(
        media_of(&sticker).source,
        MediaSource::PlatformId("mxc://matrix.org/sHhqkFCvSkFwtmvtETOtKnLP".into())
    );
    // A captioned file (Matrix 1.10): `body` differs from `filename`.
    let captioned = br#"{"events":[{"type":"m.room.message","event_id":"$c:x","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,
        "content":{"msgtype":"m.image","body":"Look at <this>","format":"org.matrix.custom.html","formatted_body":"Look at <b>this</b>","filename":"cat.gif","url":"mxc://x/cat","info":{"is_animated":true}}}]}"#;
    let envelope = &matrix_translator::decode(captioned).unwrap()[0];
    let media = media_of(envelope);
    assert_eq!(media.kind, MediaKind::Animation);
    assert_eq!(media.filename.as_deref(), Some("cat.gif"));
    assert_eq!(
        media.caption,
        Some(FormattedText {
            body: "Look at this".into(),
            spans: vec![span(8, 12, SpanStyle::Bold)]
        })
    );
}

#[test]
fn locations_and_unsupported_events() {
    let location = decode_one("location.json");
    assert_eq!(
        message_of(&location).content,
        Content::Location(Location {
            latitude: 51.5008,
            longitude: 0.1247,
            name: Some("Big Ben, London, UK".into()),
            address: None,
            url: None,
        })
    );
    let encrypted = decode_one("encrypted.json");
    assert_eq!(
        message_of(&encrypted).content,
        Content::Unsupported(UnsupportedContent {
            native_type: "m.room.encrypted".into(),
            description: None
        })
    );
    assert!(extra(&encrypted, "/events/0/content").is_some_and(|json| json.contains("megolm")));
    let custom = decode_one("custom.json");
    assert_eq!(
        message_of(&custom).content,
        Content::Unsupported(UnsupportedContent {
            native_type: "org.example.custom.event".into(),
            description: None
        })
    );
    let odd_msgtype = br#"{"events":[{"type":"m.room.message","event_id":"$k:x","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,"content":{"msgtype":"m.key.verification.request","body":"Alice wants to verify"}}]}"#;
    assert_eq!(
        message_of(&matrix_translator::decode(odd_msgtype).unwrap()[0]).content,
        Content::Unsupported(UnsupportedContent {
            native_type: "m.key.verification.request".into(),
            description: Some("Alice wants to verify".into())
        })
    );
}

#[test]
fn replies_edits_reactions_and_redactions() {
    let reply = decode_one("reply.json");
    assert_eq!(
        message_of(&reply).reply_to,
        Some(reference("$another_event"))
    );
    assert_eq!(
        message_of(&reply).content,
        Content::Text(plain("That sounds like a great idea!"))
    );
    let edit = decode_one("edit.json");
    assert_eq!(
        edit.event,
        Event::Edit(Edit {
            target: reference("$some_event_id"),
            content: Content::Text(plain("Hello! My name is bar")),
        })
    );
    let reaction = decode_one("reaction.json");
    assert_eq!(
        reaction.event,
        Event::Reaction(Reaction {
            target: reference("$some_event_id"),
            action: ReactionAction::Add,
            emoji: "👍".into(),
        })
    );
    let redaction = decode_one("redaction.json");
    assert_eq!(
        redaction.event,
        Event::Deletion(reference("$fukweghifu23:localhost"))
    );
    assert_eq!(
        extra(&redaction, "/events/0/content/reason"),
        Some("\"Spamming\"")
    );
    // Room versions before 11 put `redacts` on the event.
    let old = br#"{"events":[{"type":"m.room.redaction","event_id":"$r:x","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,"redacts":"$gone:x","content":{}}]}"#;
    assert_eq!(
        matrix_translator::decode(old).unwrap()[0].event,
        Event::Deletion(reference("$gone:x"))
    );
    // The quoted fallback of an old-style reply is not part of the text.
    let fallback = br#"{"events":[{"type":"m.room.message","event_id":"$f:x","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,"content":{"msgtype":"m.text","body":"> <@b:x> earlier\n> more\n\nmy answer","m.relates_to":{"m.in_reply_to":{"event_id":"$e:x"}}}}]}"#;
    let envelope = &matrix_translator::decode(fallback).unwrap()[0];
    assert_eq!(
        message_of(envelope).content,
        Content::Text(plain("my answer"))
    );
    // Our own sends come back as echoes.
    let echo = br#"{"events":[{"type":"m.room.message","event_id":"$o:x","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,"unsigned":{"transaction_id":"switchboard.00.0"},"content":{"msgtype":"m.text","body":"hi"}}]}"#;
    assert!(matrix_translator::decode(echo).unwrap()[0].echo);
}

#[test]
fn extras_that_identify_someone_are_declared_personal() {
    // The membership event names Alice (state key, display name, avatar);
    // the presence update names its user; `unsigned` may hold an earlier
    // display name.
    let envelopes = matrix_translator::decode(&fixture("transaction.json")).unwrap();
    let membership = &envelopes[0];
    assert_eq!(personal(membership, "/events/0/state_key"), Some(true));
    assert_eq!(personal(membership, "/events/0/content"), Some(true));
    assert!(
        extra(membership, "/events/0/content").is_some_and(|json| json.contains("displayname"))
    );
    assert_eq!(personal(membership, "/events/0/unsigned"), Some(true));
    let presence = envelopes
        .iter()
        .find(|envelope| extra(envelope, "/ephemeral/1").is_some())
        .expect("the presence update");
    assert_eq!(personal(presence, "/ephemeral/1"), Some(true));
    // Mentions list user ids; an encrypted event's content names a device.
    let body = br#"{"events":[{"type":"m.room.message","event_id":"$e:example.org","sender":"@bob:example.org","room_id":"!r:example.org","origin_server_ts":1,"content":{"msgtype":"m.text","body":"hi Alice","m.mentions":{"user_ids":["@alice:example.org"]}}}]}"#;
    let mentioning = &matrix_translator::decode(body).unwrap()[0];
    assert_eq!(
        personal(mentioning, "/events/0/content/m.mentions"),
        Some(true)
    );
    assert_eq!(
        personal(&decode_one("encrypted.json"), "/events/0/content"),
        Some(true)
    );
    // What names no one may cross: a notice's msgtype, a thumbnail.
    assert_eq!(
        personal(&decode_one("notice.json"), "/events/0/content/msgtype"),
        Some(false)
    );
    assert_eq!(
        personal(
            &decode_one("video.json"),
            "/events/0/content/info/thumbnail_info"
        ),
        Some(false)
    );
    // Across every fixture: nothing naming a user is shareable.
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        for envelope in matrix_translator::decode(&fixture(&name)).unwrap() {
            for extra in &envelope.extras {
                let identifying = ["@", "displayname", "sender", "user_id"]
                    .iter()
                    .any(|mark| extra.json.contains(mark));
                assert!(!identifying || extra.personal, "{name}: {}", extra.path);
            }
        }
    }
}

// --------------------------------------------------------------- malformed

fn field_error(body: &[u8]) -> (String, String) {
    match matrix_translator::decode(body) {
        Err(DecodeError::MissingField(error)) => ("missing".into(), error.path),
        Err(DecodeError::WrongType(error)) => ("type".into(), error.path),
        Err(DecodeError::InvalidValue(error)) => ("value".into(), error.path),
        other => panic!("expected a field error, got {other:?}"),
    }
}

fn event_with(members: &str) -> String {
    format!(
        r#"{{"events":[{{"type":"m.room.message","event_id":"$e:x","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,{members}}}]}}"#
    )
}

#[test]
fn malformed_input_is_a_typed_error_naming_the_field() {
    let text = fixture("transaction.json");
    assert!(matches!(
        matrix_translator::decode(&text[..text.len() / 2]),
        Err(DecodeError::Syntax(_))
    ));
    assert_eq!(field_error(b"{}"), ("missing".into(), "/events".into()));
    assert_eq!(
        field_error(br#"{"events":{}}"#),
        ("type".into(), "/events".into())
    );
    assert_eq!(
        field_error(br#"{"events":[{"type":"m.room.message"}]}"#),
        ("missing".into(), "/events/0/event_id".into())
    );
    assert_eq!(
        field_error(br#"{"events":[{"type":"m.room.message","event_id":"e","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,"content":{}}]}"#),
        ("value".into(), "/events/0/event_id".into())
    );
    assert_eq!(
        field_error(br#"{"events":[{"type":"m.room.message","event_id":"$e","room_id":"!r:x","sender":"@a:x","origin_server_ts":-5,"content":{}}]}"#),
        ("value".into(), "/events/0/origin_server_ts".into())
    );
    assert_eq!(
        field_error(br#"{"events":[{"type":"m.room.message","event_id":"$e","room_id":"!r:x","sender":"@a:x","origin_server_ts":99999999999999999999,"content":{}}]}"#),
        ("value".into(), "/events/0/origin_server_ts".into())
    );
    // A number beyond any float is a syntax error, still typed.
    assert!(matches!(
        matrix_translator::decode(br#"{"events":[{"origin_server_ts":1e999}]}"#),
        Err(DecodeError::Syntax(_))
    ));
    assert_eq!(
        field_error(event_with(r#""content":{"body":"x"}"#).as_bytes()),
        ("missing".into(), "/events/0/content/msgtype".into())
    );
    assert_eq!(
        field_error(event_with(r#""content":{"msgtype":"m.text","body":7}"#).as_bytes()),
        ("type".into(), "/events/0/content/body".into())
    );
    assert_eq!(
        field_error(
            event_with(r#""content":{"msgtype":"m.image","body":"x","url":"https://x/y"}"#)
                .as_bytes()
        ),
        ("value".into(), "/events/0/content/url".into())
    );
    assert_eq!(
        field_error(
            event_with(r#""content":{"msgtype":"m.location","body":"x","geo_uri":"geo:999,1"}"#)
                .as_bytes()
        ),
        ("value".into(), "/events/0/content/geo_uri".into())
    );
    assert_eq!(
        field_error(event_with(r#""content":{"msgtype":"m.text","body":"*","m.relates_to":{"rel_type":"m.replace","event_id":"$t:x"}}"#).as_bytes()),
        ("missing".into(), "/events/0/content/m.new_content".into())
    );
    assert_eq!(
        field_error(br#"{"events":[{"type":"m.reaction","event_id":"$e","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,"content":{"m.relates_to":{"rel_type":"m.reference","event_id":"$t"}}}]}"#),
        ("value".into(), "/events/0/content/m.relates_to/rel_type".into())
    );
    assert_eq!(
        field_error(br#"{"events":[],"ephemeral":[{"type":"m.receipt","content":{}}]}"#),
        ("missing".into(), "/ephemeral/0/room_id".into())
    );
    // Without the msgtype every m.room.message must have, the field is named.
    let mut broken: Value = serde_json::from_slice(&fixture("reply.json")).unwrap();
    broken["events"][0]["content"]["msgtype"] = json!(null);
    assert_eq!(
        field_error(broken.to_string().as_bytes()),
        ("missing".into(), "/events/0/content/msgtype".into())
    );
}

#[test]
fn size_depth_and_encoding_limits() {
    let mut huge = fixture("transaction.json");
    huge.resize(9 * 1024 * 1024, b' ');
    assert_eq!(
        matrix_translator::decode(&huge),
        Err(DecodeError::TooLarge(8 * 1024 * 1024))
    );
    let deep = format!("{}{}", "{\"a\":".repeat(100), "}".repeat(100));
    assert!(matches!(
        matrix_translator::decode(deep.as_bytes()),
        Err(DecodeError::TooDeep(_))
    ));
    assert_eq!(
        matrix_translator::decode(b"{\"events\":\"\xc3\"}"),
        Err(DecodeError::InvalidUtf8(11))
    );
}

// ---------------------------------------------------------------- encoding

const SENDER: &str = "@_switchboard_alice:example.org";

fn envelope(platform: &str, event: Event) -> Envelope {
    Envelope {
        id: format!("{platform}:m1"),
        platform: platform.to_string(),
        native_id: Some("m1".to_string()),
        conversation: Conversation {
            kind: ConversationKind::Direct,
            id: "u1".to_string(),
        },
        sender: Participant {
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

fn send(event: Event) -> Encoded {
    matrix_translator::encode(
        &envelope("whatsapp", event),
        &address(SENDER),
        &address(ROOM),
    )
    .unwrap_or_else(|error| panic!("{error:?}"))
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

const ROOM_SEGMENT: &str = "%21jEsUZKDJdhlrceRyVU%3Aexample.org";
const USER_QUERY: &str = "?user_id=%40_switchboard_alice%3Aexample.org";

/// Asserts the shape of every request and the documented limits.
fn assert_within_limits(encoded: &Encoded) {
    for (request, body) in encoded.requests.iter().zip(bodies(encoded)) {
        assert!(
            request
                .path
                .starts_with(&format!("/_matrix/client/v3/rooms/{ROOM_SEGMENT}/")),
            "{}",
            request.path
        );
        assert!(request.path.ends_with(USER_QUERY), "{}", request.path);
        assert_eq!(
            request.headers,
            vec![("Content-Type".to_string(), "application/json".to_string())]
        );
        assert!(body["body"].as_str().map_or(0, str::len) <= 16_000);
        assert!(body["formatted_body"].as_str().map_or(0, str::len) <= 32_000);
        assert!(request.body.len() < 65_536);
    }
}

/// The path segments of a send: event type and transaction id.
fn send_segments(path: &str) -> (String, String) {
    let path = path.strip_suffix(USER_QUERY).unwrap_or(path);
    let mut segments = path.rsplit('/');
    let txn = segments.next().unwrap().to_string();
    let event_type = segments.next().unwrap().to_string();
    assert_eq!(segments.next(), Some("send"), "{path}");
    (event_type, txn)
}

#[test]
fn text_and_html_round_trip() {
    let decoded = decode_one("text-html.json");
    let encoded = matrix_translator::encode(&decoded, &address(SENDER), &address(ROOM)).unwrap();
    assert_within_limits(&encoded);
    assert!(
        encoded.degradations.is_empty(),
        "{:?}",
        encoded.degradations
    );
    let request = &encoded.requests[0];
    assert_eq!(request.method, HttpMethod::Put);
    let (event_type, txn) = send_segments(&request.path);
    assert_eq!(event_type, "m.room.message");
    assert!(txn.starts_with("switchboard."), "{txn}");
    let sent = &bodies(&encoded)[0];
    let Content::Text(original) = &message_of(&decoded).content else {
        panic!("not text")
    };
    assert_eq!(sent["body"], original.body.as_str());
    assert_eq!(sent["format"], "org.matrix.custom.html");
    assert_eq!(
        sent["m.mentions"],
        json!({ "user_ids": ["@alice:example.org"] })
    );
    let html = sent["formatted_body"].as_str().unwrap();
    assert!(
        html.contains("<a href=\"https://matrix.to/#/@alice:example.org\">Alice</a>"),
        "{html}"
    );
    assert!(html.contains("<code>x &lt; y</code>"), "{html}");
    // Reading the sent HTML back gives the same text and formatting.
    let again = matrix_translator::html::parse(html);
    assert_eq!(again.body, original.body);
    assert_eq!(again.spans, original.spans);
    // Plain text carries no format.
    let encoded = send(message(Content::Text(plain("hello"))));
    assert_eq!(
        bodies(&encoded)[0],
        json!({ "msgtype": "m.text", "body": "hello" })
    );
}

#[test]
fn transaction_ids_are_deterministic_and_scoped() {
    let event = || message(Content::Text(plain("hello")));
    let first = send(event());
    let again = send(event());
    assert_eq!(first.requests[0].path, again.requests[0].path);
    let elsewhere = matrix_translator::encode(
        &envelope("whatsapp", event()),
        &address(SENDER),
        &address("!other:example.org"),
    )
    .unwrap();
    assert_ne!(
        send_segments(&first.requests[0].path).1,
        send_segments(&elsewhere.requests[0].path).1
    );
    let mut other_envelope = envelope("whatsapp", event());
    other_envelope.id = "whatsapp:m2".into();
    let other =
        matrix_translator::encode(&other_envelope, &address(SENDER), &address(ROOM)).unwrap();
    assert_ne!(first.requests[0].path, other.requests[0].path);
    // The appservice's own user needs no identity assertion.
    let own = matrix_translator::encode(
        &envelope("whatsapp", event()),
        &address("appservice"),
        &address(ROOM),
    )
    .unwrap();
    assert!(!own.requests[0].path.contains("user_id"));
    assert_eq!(
        matrix_translator::encode::txn_id("e", "!r", "@s", 1),
        matrix_translator::encode::txn_id("e", "!r", "@s", 1)
    );
}

#[test]
fn long_text_is_split_with_its_spans() {
    let body = "ééé ".repeat(3000);
    let body = body.trim_end();
    let length = body.chars().count() as u32;
    let encoded = send(message(Content::Text(FormattedText {
        body: body.to_string(),
        spans: vec![span(0, length, SpanStyle::Italic)],
    })));
    assert_within_limits(&encoded);
    assert_eq!(rules(&encoded), vec!["text-split"]);
    let sent = bodies(&encoded);
    assert_eq!(sent.len(), 2);
    let parts: Vec<&str> = sent
        .iter()
        .map(|body| body["body"].as_str().unwrap())
        .collect();
    assert_eq!(parts.join(" "), body);
    for part in &sent {
        assert_eq!(
            part["formatted_body"],
            format!("<i>{}</i>", part["body"].as_str().unwrap())
        );
    }
    // Transaction ids differ per part.
    assert_ne!(
        send_segments(&encoded.requests[0].path).1,
        send_segments(&encoded.requests[1].path).1
    );
    // A formatted body too large for an event is left out.
    let angles = "&".repeat(7000);
    let encoded = send(message(Content::Text(FormattedText {
        body: angles,
        spans: vec![span(0, 7000, SpanStyle::Bold)],
    })));
    assert_eq!(rules(&encoded), vec!["formatting-dropped"]);
    assert!(bodies(&encoded)[0].get("formatted_body").is_none());
}

fn media(kind: MediaKind, source: MediaSource, caption: Option<FormattedText>) -> Content {
    Content::Media(Media {
        kind,
        source,
        mime_type: Some("image/png".into()),
        size_bytes: Some(10),
        sha256: None,
        caption,
        filename: Some("a.png".into()),
        duration_ms: None,
        width: Some(4),
        height: Some(3),
    })
}

#[test]
fn media_round_trip_and_degrade() {
    let decoded = decode_one("image.json");
    let encoded = matrix_translator::encode(&decoded, &address(SENDER), &address(ROOM)).unwrap();
    assert!(encoded.degradations.is_empty());
    let sent = &bodies(&encoded)[0];
    assert_eq!(sent["msgtype"], "m.image");
    assert_eq!(sent["url"], "mxc://example.org/JWEIFJgwEIhweiWJE");
    assert_eq!(sent["body"], "filename.jpg");
    assert_eq!(
        sent["info"],
        json!({ "mimetype": "image/jpeg", "size": 31037, "w": 394, "h": 398 })
    );
    let mxc = || MediaSource::PlatformId("mxc://example.org/abc".into());
    for (kind, msgtype) in [
        (MediaKind::Video, "m.video"),
        (MediaKind::Audio, "m.audio"),
        (MediaKind::Document, "m.file"),
        (MediaKind::Animation, "m.image"),
    ] {
        let encoded = send(message(media(kind, mxc(), None)));
        assert!(encoded.degradations.is_empty());
        assert_eq!(bodies(&encoded)[0]["msgtype"], msgtype);
    }
    assert_eq!(
        bodies(&send(message(media(MediaKind::Animation, mxc(), None))))[0]["info"]["is_animated"],
        true
    );
    let voice = send(message(media(MediaKind::Voice, mxc(), None)));
    assert_eq!(rules(&voice), vec!["voice-as-audio"]);
    // A caption makes `body` the caption and keeps the file name.
    let captioned = send(message(media(
        MediaKind::Image,
        mxc(),
        Some(FormattedText {
            body: "so cute".into(),
            spans: vec![span(3, 7, SpanStyle::Bold)],
        }),
    )));
    let sent = &bodies(&captioned)[0];
    assert_eq!(sent["body"], "so cute");
    assert_eq!(sent["filename"], "a.png");
    assert_eq!(sent["formatted_body"], "so <b>cute</b>");
    let sticker = send(message(media(
        MediaKind::Sticker,
        mxc(),
        Some(plain("lol")),
    )));
    assert_eq!(rules(&sticker), vec!["caption-as-text"]);
    assert_eq!(send_segments(&sticker.requests[0].path).0, "m.sticker");
    assert_eq!(bodies(&sticker)[1]["body"], "lol");
    let link = send(message(media(
        MediaKind::Image,
        MediaSource::Url("https://cdn.example/a.png".into()),
        None,
    )));
    assert_eq!(rules(&link), vec!["media-as-link"]);
    assert_eq!(
        bodies(&link)[0]["formatted_body"],
        "<a href=\"https://cdn.example/a.png\">a.png</a>"
    );
    let foreign = send(message(media(
        MediaKind::Image,
        MediaSource::PlatformId("1003383421387256".into()),
        None,
    )));
    assert_eq!(rules(&foreign), vec!["media-without-url"]);
    assert_eq!(bodies(&foreign)[0]["body"], "[image]");
}

#[test]
fn locations_contacts_and_interactives() {
    let decoded = decode_one("location.json");
    let encoded = matrix_translator::encode(&decoded, &address(SENDER), &address(ROOM)).unwrap();
    assert_eq!(
        bodies(&encoded)[0],
        json!({ "msgtype": "m.location", "body": "Big Ben, London, UK", "geo_uri": "geo:51.5008,0.1247" })
    );
    let with_url = send(message(Content::Location(Location {
        latitude: 1.0,
        longitude: 2.0,
        name: None,
        address: None,
        url: Some("https://maps.example/x".into()),
    })));
    assert_eq!(rules(&with_url), vec!["location-url-as-text"]);
    let nowhere = send(message(Content::Location(Location {
        latitude: f64::INFINITY,
        longitude: 2.0,
        name: Some("Somewhere".into()),
        address: None,
        url: None,
    })));
    assert_eq!(rules(&nowhere), vec!["location-as-text"]);
    let contacts = send(message(Content::Contacts(vec![ContactCard {
        formatted_name: "Barbara J. Johnson".into(),
        first_name: None,
        last_name: None,
        organization: Some("Contoso".into()),
        phones: vec![LabeledValue {
            label: Some("WORK".into()),
            value: "+1 415 555 0829".into(),
        }],
        emails: Vec::new(),
        urls: Vec::new(),
        birthday: None,
    }])));
    assert_eq!(rules(&contacts), vec!["contacts-as-text"]);
    assert_eq!(
        bodies(&contacts)[0]["body"],
        "👤 Barbara J. Johnson\nContoso\nWORK: +1 415 555 0829"
    );

    let buttons = send(message(Content::Interactive(Interactive {
        header: Some("Booking".into()),
        body: plain("Pick a time"),
        footer: Some("Thanks".into()),
        action: InteractiveAction::Buttons(vec![
            Button {
                title: "Noon".into(),
                action: ButtonAction::Reply("slot-12".into()),
            },
            Button {
                title: "Site".into(),
                action: ButtonAction::OpenUrl("https://example.com".into()),
            },
            Button {
                title: "Call".into(),
                action: ButtonAction::Call("+15551234".into()),
            },
        ]),
    })));
    assert_eq!(
        rules(&buttons),
        vec!["header-footer-as-text", "buttons-to-numbered-text"]
    );
    assert_eq!(
        bodies(&buttons)[0]["body"],
        "Booking\nPick a time\n1. Noon\n2. Site: https://example.com\n3. Call: +15551234\nThanks"
    );
    assert_eq!(
        bodies(&buttons)[0]["formatted_body"]
            .as_str()
            .unwrap()
            .matches("<b>Booking</b>")
            .count(),
        1
    );
    let list = send(message(Content::Interactive(Interactive {
        header: None,
        body: plain("Choose"),
        footer: None,
        action: InteractiveAction::List(ListMenu {
            button_label: "Times".into(),
            sections: vec![ListSection {
                title: None,
                rows: vec![ListRow {
                    id: "r1".into(),
                    title: "Row".into(),
                    description: Some("first".into()),
                }],
            }],
        }),
    })));
    assert_eq!(rules(&list), vec!["list-to-numbered-text"]);
    assert_eq!(bodies(&list)[0]["body"], "Choose\n1. Row — first");
    let quick = send(message(Content::Interactive(Interactive {
        header: None,
        body: plain("Rate us"),
        footer: None,
        action: InteractiveAction::QuickReplies(vec![QuickReply {
            title: "Good".into(),
            payload: "g".into(),
            image_url: None,
        }]),
    })));
    assert_eq!(rules(&quick), vec!["quick-replies-to-numbered-text"]);
}

#[test]
fn choices_templates_sealed_unsupported_and_mentions() {
    let choice = send(message(Content::Choice(Choice {
        origin: ChoiceOrigin::ListRow,
        id: "r1".into(),
        title: "Row".into(),
    })));
    assert_eq!(rules(&choice), vec!["choice-as-text"]);
    let template = send(message(Content::Template(Template {
        name: "order_update".into(),
        language: "en_US".into(),
        parameters: Vec::new(),
        fallback_text: None,
    })));
    assert_eq!(rules(&template), vec!["template-as-text"]);
    assert_eq!(bodies(&template)[0]["body"], "[Template: order_update]");
    let sealed = SealedContent {
        scheme: SealingScheme::DoubleRatchetV1,
        sender_key_id: "k".into(),
        ephemeral_public_key: vec![1; 32],
        session_header: vec![0, 0, 0, 1],
        ciphertext: (0..=255).cycle().take(2000).collect(),
    };
    let encoded = send(message(Content::Sealed(sealed.clone())));
    assert_eq!(rules(&encoded), vec!["sealed-as-armored-text"]);
    let body = bodies(&encoded)[0]["body"].clone();
    let transaction = format!(
        r#"{{"events":[{{"type":"m.room.message","event_id":"$s:x","room_id":"!r:x","sender":"@a:x","origin_server_ts":1,"content":{{"msgtype":"m.text","body":{body}}}}}]}}"#
    );
    assert_eq!(
        message_of(&matrix_translator::decode(transaction.as_bytes()).unwrap()[0]).content,
        Content::Sealed(sealed.clone())
    );
    let too_big = SealedContent {
        ciphertext: vec![0; 20_000],
        ..sealed
    };
    assert!(matches!(
        matrix_translator::encode(
            &envelope("whatsapp", message(Content::Sealed(too_big))),
            &address(SENDER),
            &address(ROOM)
        ),
        Err(EncodeError::Unsupported(_))
    ));
    let unsupported = send(message(Content::Unsupported(UnsupportedContent {
        native_type: "order".into(),
        description: None,
    })));
    assert_eq!(rules(&unsupported), vec!["unsupported-as-notice"]);
    assert_eq!(bodies(&unsupported)[0]["msgtype"], "m.notice");
    let mention = send(message(Content::Text(FormattedText {
        body: "hi Sheena".into(),
        spans: vec![span(
            3,
            9,
            SpanStyle::Mention(Address {
                platform: "whatsapp".into(),
                id: "1650".into(),
            }),
        )],
    })));
    assert_eq!(rules(&mention), vec!["mention-as-text"]);
    assert_eq!(
        bodies(&mention)[0],
        json!({ "msgtype": "m.text", "body": "hi Sheena" })
    );
}

#[test]
fn replies_reactions_edits_redactions_receipts_typing() {
    let decoded = decode_one("reply.json");
    let encoded = matrix_translator::encode(&decoded, &address(SENDER), &address(ROOM)).unwrap();
    assert_eq!(
        bodies(&encoded)[0],
        json!({
            "msgtype": "m.text",
            "body": "That sounds like a great idea!",
            "m.relates_to": { "m.in_reply_to": { "event_id": "$another_event" } },
        })
    );
    let mut foreign = message(Content::Text(plain("sure")));
    if let Event::Message(inner) = &mut foreign {
        inner.reply_to = Some(MessageRef {
            platform: "telegram".into(),
            native_id: "1:2".into(),
        });
        inner.forwarded = Some(ForwardInfo {
            frequently_forwarded: false,
        });
        inner.story = Some(StoryRef {
            relation: StoryRelation::Mention,
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
    assert!(bodies(&encoded)[0].get("m.relates_to").is_none());

    let decoded = decode_one("reaction.json");
    let encoded = matrix_translator::encode(&decoded, &address(SENDER), &address(ROOM)).unwrap();
    assert_eq!(send_segments(&encoded.requests[0].path).0, "m.reaction");
    assert_eq!(
        bodies(&encoded)[0],
        json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": "$some_event_id", "key": "👍" } })
    );
    let removed = send(Event::Reaction(Reaction {
        target: reference("$x"),
        action: ReactionAction::Remove,
        emoji: String::new(),
    }));
    assert_eq!(rules(&removed), vec!["reaction-removal-dropped"]);
    assert!(removed.requests.is_empty());
    let foreign = send(Event::Reaction(Reaction {
        target: MessageRef {
            platform: "whatsapp".into(),
            native_id: "wamid.1".into(),
        },
        action: ReactionAction::Add,
        emoji: "👍".into(),
    }));
    assert_eq!(rules(&foreign), vec!["reaction-as-text"]);

    let decoded = decode_one("edit.json");
    let encoded = matrix_translator::encode(&decoded, &address(SENDER), &address(ROOM)).unwrap();
    assert!(encoded.degradations.is_empty());
    assert_eq!(
        bodies(&encoded)[0],
        json!({
            "msgtype": "m.text",
            "body": "* Hello! My name is bar",
            "m.new_content": { "msgtype": "m.text", "body": "Hello! My name is bar" },
            "m.relates_to": { "rel_type": "m.replace", "event_id": "$some_event_id" },
        })
    );
    let as_new = send(Event::Edit(Edit {
        target: MessageRef {
            platform: "whatsapp".into(),
            native_id: "wamid.1".into(),
        },
        content: Content::Text(plain("fixed")),
    }));
    assert_eq!(rules(&as_new), vec!["edit-as-new-message"]);
    assert_eq!(bodies(&as_new)[0]["body"], "✏️ Edited: fixed");

    let decoded = decode_one("redaction.json");
    let encoded = matrix_translator::encode(&decoded, &address(SENDER), &address(ROOM)).unwrap();
    let path = &encoded.requests[0].path;
    assert!(
        path.starts_with(&format!("/_matrix/client/v3/rooms/{ROOM_SEGMENT}/redact/%24fukweghifu23%3Alocalhost/switchboard.")),
        "{path}"
    );
    assert_eq!(encoded.requests[0].method, HttpMethod::Put);
    let notice = send(Event::Deletion(MessageRef {
        platform: "messenger".into(),
        native_id: "m_1".into(),
    }));
    assert_eq!(rules(&notice), vec!["deletion-as-notice"]);

    let read = send(Event::Receipt(Receipt {
        status: ReceiptStatus::Read,
        targets: vec![reference("$a:x"), reference("$b:x")],
        watermark_ms: None,
        failure: None,
    }));
    assert_eq!(read.requests[0].method, HttpMethod::Post);
    assert_eq!(
        read.requests[0].path,
        format!("/_matrix/client/v3/rooms/{ROOM_SEGMENT}/receipt/m.read/%24b%3Ax{USER_QUERY}")
    );
    let delivered = send(Event::Receipt(Receipt {
        status: ReceiptStatus::Delivered,
        targets: vec![reference("$a:x")],
        watermark_ms: None,
        failure: None,
    }));
    assert_eq!(rules(&delivered), vec!["receipt-dropped"]);
    let typing = send(Event::Typing(TypingState::Started));
    assert_eq!(
        typing.requests[0].path,
        format!(
            "/_matrix/client/v3/rooms/{ROOM_SEGMENT}/typing/%40_switchboard_alice%3Aexample.org{USER_QUERY}"
        )
    );
    assert_eq!(
        bodies(&typing)[0],
        json!({ "typing": true, "timeout": 30000 })
    );
    let stopped = matrix_translator::encode(
        &envelope("whatsapp", Event::Typing(TypingState::Stopped)),
        &address("appservice"),
        &address(ROOM),
    )
    .unwrap();
    assert_eq!(rules(&stopped), vec!["typing-dropped"]);
}

#[test]
fn bad_envelopes_are_refused() {
    let user = matrix_translator::encode(
        &envelope("whatsapp", message(Content::Text(plain("hi")))),
        &address(SENDER),
        &address("@bob:example.org"),
    );
    assert!(
        matches!(user, Err(EncodeError::InvalidEnvelope(error)) if error.path == "/recipient/id")
    );
    let empty = matrix_translator::encode(
        &envelope("whatsapp", message(Content::Text(plain(" ")))),
        &address(SENDER),
        &address(ROOM),
    );
    assert!(matches!(empty, Err(EncodeError::InvalidEnvelope(_))));
}

// ------------------------------------------------- responses, media, describe

#[test]
fn sent_message_id_reads_the_sample_responses() {
    let read =
        |name: &str| matrix_translator::sent_message_id(&fixture(&format!("responses/{name}")));
    assert_eq!(
        read("send.json").as_deref(),
        Some("$YUwRidLecu:example.com")
    );
    assert_eq!(
        read("redact.json").as_deref(),
        Some("$YUwQidLecu:example.com")
    );
    assert_eq!(read("error.json"), None);
    assert_eq!(matrix_translator::sent_message_id(b"{"), None);
}

#[test]
fn fetch_media_downloads_mxc_uris() {
    let MediaStep::Download(request) =
        matrix_translator::fetch_media("mxc://example.org/JWEIFJgwEIhweiWJE", None).unwrap()
    else {
        panic!("expected a download")
    };
    assert_eq!(
        request,
        MediaDownload {
            url: "/_matrix/client/v1/media/download/example.org/JWEIFJgwEIhweiWJE".into(),
            headers: Vec::new(),
            mime_type: None,
            size_bytes: None,
            sha256: None,
        }
    );
    let MediaStep::Download(port) =
        matrix_translator::fetch_media("mxc://localhost:8448/abc_1-2", None).unwrap()
    else {
        panic!("expected a download")
    };
    assert_eq!(
        port.url,
        "/_matrix/client/v1/media/download/localhost%3A8448/abc_1-2"
    );
    for bad in [
        "https://example.org/x",
        "mxc://example.org/",
        "mxc://example.org/../x",
        "mxc:///x",
    ] {
        assert!(
            matches!(
                matrix_translator::fetch_media(bad, None),
                Err(MediaError::InvalidId(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn describe_says_what_matrix_shows() {
    let capabilities = matrix_translator::describe();
    assert_eq!(capabilities.platform, "matrix");
    assert_eq!(
        capabilities.webhook_signature,
        WebhookSignature::BearerToken
    );
    assert_eq!(matrix_translator::api_auth(), ApiAuth::BearerHeader);
    assert_eq!(capabilities.api_auth, ApiAuth::BearerHeader);
    for kind in [
        ContentKind::Edit,
        ContentKind::Deletion,
        ContentKind::Receipt,
        ContentKind::Reply,
    ] {
        assert!(capabilities.native.contains(&kind), "{kind:?}");
    }
    assert!(!capabilities.native.contains(&ContentKind::Buttons));
    assert_eq!(capabilities.limits.max_buttons, 0);
}

#[test]
fn every_documented_rule_is_tested() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    let tests =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/matrix.rs")).unwrap();
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
