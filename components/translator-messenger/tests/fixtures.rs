//! Decodes every Messenger fixture (real payloads, see tests/fixtures/messenger/SOURCES),
//! checks the canonical values field by field, round-trips them through
//! `encode`, and feeds `decode` malformed input.

#[path = "../../../libs/meta-messaging/tests/support/translator.rs"]
mod support;

use serde_json::json;
use support::{address, bodies, decode_err, extra, fixture, fixture_names, one, personal, raw};
use switchboard_pdk::types::{
    ChoiceOrigin, Content, ConversationKind, DecodeError, Event, MediaKind, MediaSource,
    MessageCategory, ReactionAction, ReceiptStatus,
};
use translator_messenger as translator;
use translator_messenger::{
    ApiAuth, ContentKind, MediaError, WebhookSignature, describe, fetch_media,
};

const PLATFORM: &str = "messenger";
/// The page.
const OWN: &str = "682498302938465";
const USER: &str = "1254459154682919";

#[test]
fn every_fixture_decodes_and_encodes_within_limits() {
    let names = fixture_names();
    let count = names.len();
    for name in names {
        for envelope in fixture(&name) {
            assert_eq!(envelope.platform, "messenger");
            assert!(envelope.id.starts_with("messenger:"), "{name}");
            assert!(envelope.timestamp_ms > 1_000_000_000_000, "{name}");
            let (sent, _) = bodies(&envelope);
            for body in sent {
                if let Some(text) = body["message"]["text"].as_str() {
                    assert!(text.chars().count() <= 2000);
                }
            }
        }
    }
    assert!(count >= 10, "only {count} fixtures");
}

#[test]
fn text_with_quick_reply_is_a_choice() {
    let envelope = one("text_quick_reply.json");
    assert_eq!(
        envelope.id,
        "messenger:mid.1457764197618:41d102a3e1ae206a38"
    );
    assert_eq!(
        envelope.native_id.as_deref(),
        Some("mid.1457764197618:41d102a3e1ae206a38")
    );
    assert_eq!(envelope.sender.address, address(USER));
    assert_eq!(envelope.recipient, address(OWN));
    assert_eq!(envelope.conversation.kind, ConversationKind::Direct);
    assert_eq!(envelope.conversation.id, USER);
    assert_eq!(envelope.timestamp_ms, 1_458_692_752_478);
    assert!(!envelope.echo);
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    assert_eq!(message.category, MessageCategory::Personal);
    let Content::Choice(choice) = &message.content else {
        unreachable!("{:?}", message.content)
    };
    assert_eq!(choice.origin, ChoiceOrigin::QuickReply);
    assert_eq!(choice.id, "DEVELOPER_DEFINED_PAYLOAD");
    assert_eq!(choice.title, "hello, world!");
    // Round trip: the choice goes back as its title.
    let (sent, rules) = bodies(&envelope);
    assert_eq!(sent[0]["message"]["text"], "hello, world!");
    assert_eq!(rules, vec!["choice-as-text"]);
}

#[test]
fn reply_keeps_the_replied_message() {
    let envelope = one("reply.json");
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    let reply_to = message.reply_to.as_ref().map(|r| r.native_id.as_str());
    assert_eq!(reply_to, Some("m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"));
    assert_eq!(
        message.reply_to.as_ref().map(|r| r.platform.as_str()),
        Some("messenger")
    );
    let Content::Text(text) = &message.content else {
        unreachable!()
    };
    assert_eq!(text.body, "hello, world!");
    assert_eq!(
        extra(
            &envelope,
            "/entry/0/messaging/0/message/reply_to/is_self_reply"
        ),
        Some("false")
    );
    let (sent, rules) = bodies(&envelope);
    assert_eq!(sent[0]["message"]["text"], "↩️ hello, world!");
    assert_eq!(sent[0]["messaging_type"], "RESPONSE");
    assert_eq!(rules, vec!["reply-as-prefix"]);
}

#[test]
fn image_attachment_is_media_by_url_and_round_trips() {
    let envelope = one("attachment_image.json");
    assert_eq!(envelope.id, "messenger:mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c");
    assert_eq!(envelope.timestamp_ms, 1_518_479_195_308);
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    let Content::Media(media) = &message.content else {
        unreachable!()
    };
    assert_eq!(media.kind, MediaKind::Image);
    let url = "https://scontent.xx.fbcdn.net/v/t1.15752-9/image.jpg";
    assert_eq!(media.source, MediaSource::Url(url.into()));
    assert_eq!(media.caption, None);
    let (sent, rules) = bodies(&envelope);
    assert_eq!(
        sent[0]["message"],
        json!({"attachment":{"type":"image","payload":{"url":url,"is_reusable":true}}})
    );
    assert!(rules.is_empty());
}

#[test]
fn echo_is_marked_and_keeps_app_id_and_metadata() {
    let envelope = one("echo.json");
    assert!(envelope.echo);
    assert_eq!(envelope.sender.address, address(OWN));
    assert_eq!(envelope.recipient, address(USER));
    assert_eq!(envelope.conversation.id, USER);
    assert_eq!(
        extra(&envelope, "/entry/0/messaging/0/message/app_id"),
        Some("1517776481860111")
    );
    assert_eq!(
        extra(&envelope, "/entry/0/messaging/0/message/metadata"),
        Some("\"DEVELOPER_DEFINED_METADATA_STRING\"")
    );
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    assert_eq!(message.category, MessageCategory::Service);
}

#[test]
fn read_is_a_watermark_receipt() {
    let envelope = one("read.json");
    assert_eq!(envelope.id, format!("messenger:read:{USER}:1458668856253"));
    assert_eq!(envelope.timestamp_ms, 1_458_668_856_463);
    let Event::Receipt(receipt) = &envelope.event else {
        unreachable!()
    };
    assert_eq!(receipt.status, ReceiptStatus::Read);
    assert!(receipt.targets.is_empty());
    assert_eq!(receipt.watermark_ms, Some(1_458_668_856_253));
    let (sent, _) = bodies(&envelope);
    assert_eq!(
        sent[0],
        json!({"recipient":{"id":USER},"sender_action":"mark_seen"})
    );
}

#[test]
fn delivery_without_timestamp_uses_the_watermark() {
    let envelope = one("delivery.json");
    assert_eq!(
        envelope.id,
        format!("messenger:delivered:{USER}:1458668856253")
    );
    // The documented example has no timestamp; entry.time stands in.
    assert_eq!(envelope.timestamp_ms, 1_458_668_856_500);
    let Event::Receipt(receipt) = &envelope.event else {
        unreachable!()
    };
    assert_eq!(receipt.status, ReceiptStatus::Delivered);
    assert_eq!(receipt.targets.len(), 1);
    assert_eq!(
        receipt.targets[0].native_id,
        "mid.1458668856218:ed81099e15d3f4f233"
    );
    assert_eq!(receipt.watermark_ms, Some(1_458_668_856_253));
    let (sent, rules) = bodies(&envelope);
    assert!(sent.is_empty());
    assert_eq!(rules, vec!["receipt-not-sent"]);
}

#[test]
fn reaction_round_trips_as_a_react_sender_action() {
    let envelope = one("reaction.json");
    let Event::Reaction(reaction) = &envelope.event else {
        unreachable!()
    };
    assert_eq!(reaction.action, ReactionAction::Add);
    assert_eq!(reaction.emoji, "❤️");
    assert_eq!(
        reaction.target.native_id,
        "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"
    );
    assert_eq!(
        extra(&envelope, "/entry/0/messaging/0/reaction/reaction"),
        Some("\"love\"")
    );
    assert_eq!(
        envelope.id,
        format!(
            "messenger:reaction:{USER}:m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU:react:1458668856463"
        )
    );
    let (sent, rules) = bodies(&envelope);
    assert!(rules.is_empty());
    assert_eq!(
        sent[0],
        json!({"recipient":{"id":USER},"sender_action":"react",
               "payload":{"message_id":"m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU","reaction":"❤️"}})
    );
}

#[test]
fn postback_in_changes_form() {
    let envelope = one("postback.json");
    assert_eq!(envelope.id, "messenger:m_MESSAGE-ID");
    assert_eq!(envelope.sender.address.id, "USER-REF-ID");
    assert_eq!(envelope.timestamp_ms, 1_527_459_824_000);
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    let Content::Choice(choice) = &message.content else {
        unreachable!()
    };
    assert_eq!(choice.origin, ChoiceOrigin::Postback);
    assert_eq!(choice.id, "USER-DEFINED-PAYLOAD");
    assert_eq!(choice.title, "TITLE-FOR-THE-CTA");
    assert_eq!(
        extra(&envelope, "/entry/0/changes/0/field"),
        Some("\"messaging_postbacks\"")
    );
    let referral = extra(&envelope, "/entry/0/changes/0/value/postback/referral");
    assert!(referral.is_some_and(|r| r.contains("OPEN_THREAD")));
}

#[test]
fn message_edit_is_an_edit() {
    let envelope = one("message_edit.json");
    assert_eq!(
        envelope.id,
        "messenger:m_1457764197618:41d102a3e1ae206a38:edit:1"
    );
    let Event::Edit(edit) = &envelope.event else {
        unreachable!()
    };
    assert_eq!(edit.target.native_id, "m_1457764197618:41d102a3e1ae206a38");
    let Content::Text(text) = &edit.content else {
        unreachable!()
    };
    assert_eq!(text.body, "hello, edited world!");
    assert_eq!(
        extra(&envelope, "/entry/0/messaging/0/message_edit/num_edit"),
        Some("1")
    );
    let (sent, rules) = bodies(&envelope);
    assert_eq!(
        sent[0]["message"]["text"],
        "✏️ Edited: hello, edited world!"
    );
    assert_eq!(rules, vec!["edit-as-new-message"]);
}

#[test]
fn location_attachment_is_a_location() {
    let envelope = one("location.json");
    assert_eq!(envelope.id, "messenger:external_id");
    assert_eq!(envelope.sender.address.id, "5678");
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    let Content::Location(location) = &message.content else {
        unreachable!()
    };
    assert_eq!(location.latitude, 1.2);
    assert_eq!(location.longitude, -1.3);
    let (sent, rules) = bodies(&envelope);
    assert_eq!(
        sent[0]["message"]["text"],
        "https://maps.google.com/?q=1.2,-1.3"
    );
    assert_eq!(rules, vec!["location-to-map-link"]);
}

#[test]
fn sticker_keeps_its_id_in_extras() {
    let envelope = one("sticker.json");
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    let Content::Media(media) = &message.content else {
        unreachable!()
    };
    assert_eq!(media.kind, MediaKind::Sticker);
    assert_eq!(
        media.source,
        MediaSource::Url("https://scontent.xx.fbcdn.net/v/arst".into())
    );
    assert_eq!(
        extra(
            &envelope,
            "/entry/0/messaging/0/message/attachments/0/payload/sticker_id"
        ),
        Some("369239263222822")
    );
}

#[test]
fn referral_is_kept_as_unsupported_with_extras() {
    let envelope = one("referral.json");
    assert_eq!(envelope.id, "messenger:referral:5678:1459991487970");
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    let Content::Unsupported(unsupported) = &message.content else {
        unreachable!()
    };
    assert_eq!(unsupported.native_type, "referral");
    let referral = extra(&envelope, "/entry/0/messaging/0/referral");
    assert!(referral.is_some_and(|r| r.contains("\"ad_id\":\"ad id\"")));
    assert_eq!(
        extra(&envelope, "/entry/0/messaging/0/sender/user_ref"),
        Some("\"5678\"")
    );
    // Both name the person (a ref they followed, their user ref): they stay
    // on Messenger.
    assert_eq!(
        personal(&envelope, "/entry/0/messaging/0/sender/user_ref"),
        Some(true)
    );
    assert_eq!(
        personal(&envelope, "/entry/0/messaging/0/referral"),
        Some(true)
    );
}

#[test]
fn extras_that_identify_someone_are_declared_personal() {
    // The marketing postback names its person by `user_ref` only.
    let postback = one("postback.json");
    assert_eq!(
        personal(&postback, "/entry/0/changes/0/value/sender/user_ref"),
        Some(true)
    );
    assert_eq!(
        personal(&postback, "/entry/0/changes/0/value/postback/referral"),
        Some(true)
    );
    assert_eq!(personal(&postback, "/entry/0/changes/0/field"), Some(false));
    // An echo's app id and developer metadata are not declared harmless.
    let echo = one("echo.json");
    assert_eq!(
        personal(&echo, "/entry/0/messaging/0/message/metadata"),
        Some(true)
    );
    // What is known to name no one may cross with the message.
    assert_eq!(
        personal(
            &one("sticker.json"),
            "/entry/0/messaging/0/message/attachments/0/payload/sticker_id"
        ),
        Some(false)
    );
    assert_eq!(
        personal(
            &one("message_edit.json"),
            "/entry/0/messaging/0/message_edit/num_edit"
        ),
        Some(false)
    );
    // Across every fixture: anything under a sender or recipient is personal.
    for name in fixture_names() {
        for envelope in fixture(&name) {
            for extra in &envelope.extras {
                if extra.path.contains("/sender/") || extra.path.contains("/recipient/") {
                    assert!(extra.personal, "{name}: {}", extra.path);
                }
            }
        }
    }
}

#[test]
fn redelivery_gives_the_same_ids() {
    let first: Vec<String> = fixture("reaction.json").into_iter().map(|e| e.id).collect();
    let again: Vec<String> = fixture("reaction.json").into_iter().map(|e| e.id).collect();
    assert_eq!(first, again);
}

#[test]
fn describe_names_the_platform_and_limits() {
    let capabilities = describe();
    assert_eq!(capabilities.platform, "messenger");
    assert_eq!(capabilities.limits.max_text_chars, 2000);
    assert_eq!(capabilities.limits.max_buttons, 3);
    assert_eq!(capabilities.limits.max_quick_replies, 13);
    assert_eq!(capabilities.limits.max_webhook_bytes, 4 * 1024 * 1024);
    assert_eq!(
        capabilities.webhook_signature,
        WebhookSignature::HubSignatureSha256
    );
    assert_eq!(capabilities.api_auth, ApiAuth::BearerHeader);
    assert!(capabilities.native.contains(&ContentKind::Buttons));
    assert!(!capabilities.native.contains(&ContentKind::Location));
}

#[test]
fn sent_message_id_reads_the_send_api_response() {
    let body = br#"{"recipient_id":"1254477777772919","message_id":"AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"}"#;
    assert_eq!(
        translator_messenger::sent_message_id(body).as_deref(),
        Some(
            "AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"
        )
    );
    assert_eq!(translator_messenger::sent_message_id(b"{}"), None);
}

#[test]
fn malformed_input_gives_typed_errors() {
    let body = raw("text_quick_reply.json");
    // Truncated JSON.
    assert!(matches!(
        decode_err(&body[..body.len() / 2]),
        DecodeError::Syntax(_)
    ));
    // Wrong type, with the pointer.
    let text = String::from_utf8_lossy(&body)
        .replace("\"timestamp\": 1458692752478", "\"timestamp\": {\"ms\": 1}");
    let DecodeError::WrongType(error) = decode_err(text.as_bytes()) else {
        unreachable!()
    };
    assert_eq!(error.path, "/entry/0/messaging/0/timestamp");
    assert_eq!(error.expected, "integer");
    // Missing field.
    let DecodeError::MissingField(error) = decode_err(br#"{"object":"page"}"#) else {
        unreachable!()
    };
    assert_eq!(error.path, "/entry");
    let DecodeError::WrongType(error) = decode_err(br#"{"object":"page","entry":{}}"#) else {
        unreachable!()
    };
    assert_eq!(error.path, "/entry");
    // Another product.
    let DecodeError::WrongPlatform(error) = decode_err(br#"{"object":"instagram","entry":[]}"#)
    else {
        unreachable!()
    };
    assert_eq!(error.path, "/object");
    // Too large, too deep, not UTF-8.
    let big = vec![b' '; 10 * 1024 * 1024];
    assert_eq!(decode_err(&big), DecodeError::TooLarge(4 * 1024 * 1024));
    let deep = "[".repeat(10_000);
    assert!(matches!(
        decode_err(deep.as_bytes()),
        DecodeError::TooDeep(_)
    ));
    assert_eq!(
        decode_err(b"{\"object\":\"pa\xffge\"}"),
        DecodeError::InvalidUtf8(13)
    );
}

#[test]
fn media_is_not_fetched_by_id() {
    // The webhooks carry attachment URLs (`media-source::url`): there is no
    // media id to resolve, so the host is told so instead of being sent
    // somewhere.
    assert_eq!(fetch_media("1234", None), Err(MediaError::Unsupported));
    assert_eq!(
        fetch_media("1234", Some(b"{}")),
        Err(MediaError::Unsupported)
    );
}
