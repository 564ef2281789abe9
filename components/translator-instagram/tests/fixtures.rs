//! Decodes every Instagram fixture (real payloads, see tests/fixtures/instagram/SOURCES),
//! checks the canonical values field by field, round-trips them through
//! `encode`, and feeds `decode` malformed input.

#[path = "../../../libs/meta-messaging/tests/support/translator.rs"]
mod support;

use serde_json::json;
use support::{address, bodies, decode_err, fixture, fixture_names, one, personal, raw};
use switchboard_pdk::types::{
    ChoiceOrigin, Content, DecodeError, Event, MediaKind, MediaSource, ReactionAction,
    ReceiptStatus, StoryRelation,
};
use translator_instagram as translator;
use translator_instagram::{
    ApiAuth, ContentKind, MediaError, WebhookSignature, decode, describe, fetch_media,
};

const PLATFORM: &str = "instagram";
/// The professional account.
const OWN: &str = "17841405309211844";
const USER: &str = "6459112574138410";
const MID: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1MzA5MjExODQ0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxNDQyNDc2MjY5NTAzMzozMTY2NjQ2NzU1NjQ1NjU3NjU4NjI2MjI0NjM0MjU2ODAwMAZDZD";

#[test]
fn every_fixture_decodes_and_encodes_within_limits() {
    let names = fixture_names();
    let count = names.len();
    for name in names {
        for envelope in fixture(&name) {
            assert_eq!(envelope.platform, "instagram");
            assert!(envelope.id.starts_with("instagram:"), "{name}");
            let (sent, _) = bodies(&envelope);
            for body in sent {
                if let Some(text) = body["message"]["text"].as_str() {
                    assert!(text.len() <= 1000);
                }
            }
        }
    }
    assert!(count >= 8, "only {count} fixtures");
}

#[test]
fn text_message_round_trips() {
    let envelope = one("text.json");
    assert_eq!(envelope.id, format!("instagram:{MID}"));
    assert_eq!(envelope.native_id.as_deref(), Some(MID));
    assert_eq!(envelope.sender.address, address(USER));
    assert_eq!(envelope.recipient, address(OWN));
    assert_eq!(envelope.conversation.id, USER);
    assert_eq!(envelope.timestamp_ms, 1_569_262_485_349);
    assert!(envelope.extras.is_empty());
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    let Content::Text(text) = &message.content else {
        unreachable!()
    };
    assert_eq!(text.body, "Hi! Do you ship to Canada?");
    let (sent, rules) = bodies(&envelope);
    assert_eq!(
        sent,
        vec![json!({"recipient":{"id":USER},"messaging_type":"RESPONSE",
                    "message":{"text":"Hi! Do you ship to Canada?"}})]
    );
    assert!(rules.is_empty());
}

#[test]
fn image_attachment_is_media() {
    let envelope = one("attachment.json");
    assert_eq!(envelope.id, "instagram:external_id");
    assert_eq!(envelope.sender.address.id, "5678");
    assert_eq!(envelope.recipient.id, "1234567890");
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    let Content::Media(media) = &message.content else {
        unreachable!()
    };
    assert_eq!(media.kind, MediaKind::Image);
    assert_eq!(
        media.source,
        MediaSource::Url("https://image-url/foo.png".into())
    );
    let (sent, _) = bodies(&envelope);
    assert_eq!(
        sent[0]["message"]["attachment"]["payload"]["url"],
        "https://image-url/foo.png"
    );
}

#[test]
fn story_mention_carries_the_story_url() {
    let envelope = one("story_mention.json");
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    let story = message
        .story
        .as_ref()
        .map(|s| (s.relation, s.url.as_deref()));
    assert_eq!(
        story,
        Some((StoryRelation::Mention, Some("https://story-url")))
    );
    let Content::Unsupported(content) = &message.content else {
        unreachable!()
    };
    assert_eq!(content.native_type, "story_mention");
    let (sent, rules) = bodies(&envelope);
    assert_eq!(
        sent[0]["message"]["text"],
        "Mentioned you in a story: https://story-url"
    );
    assert_eq!(rules, vec!["unsupported-as-notice", "story-as-text"]);
}

#[test]
fn story_reply_has_a_story_reference_and_no_reply_to() {
    let envelope = one("story_reply.json");
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    assert_eq!(message.reply_to, None);
    let Some(story) = &message.story else {
        unreachable!()
    };
    assert_eq!(story.relation, StoryRelation::Reply);
    assert_eq!(story.story_id.as_deref(), Some("17954170374002653"));
    assert_eq!(
        story.url.as_deref(),
        Some(
            "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17954170374002653&signature=abc"
        )
    );
    let Content::Text(text) = &message.content else {
        unreachable!()
    };
    assert_eq!(text.body, "Love this look!");
    let (sent, _) = bodies(&envelope);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["message"]["text"], "Love this look!");
}

#[test]
fn reactions_add_and_remove() {
    let envelope = one("reaction.json");
    let Event::Reaction(reaction) = &envelope.event else {
        unreachable!()
    };
    assert_eq!(reaction.action, ReactionAction::Add);
    assert_eq!(reaction.emoji, "❤️");
    assert_eq!(reaction.target.native_id, MID);
    assert_eq!(reaction.target.platform, "instagram");
    let (sent, _) = bodies(&envelope);
    assert_eq!(
        sent[0],
        json!({"recipient":{"id":USER},"sender_action":"react",
               "payload":{"message_id":MID,"reaction":"❤️"}})
    );
    let removed = one("unreaction.json");
    let Event::Reaction(reaction) = &removed.event else {
        unreachable!()
    };
    assert_eq!(reaction.action, ReactionAction::Remove);
    assert_eq!(reaction.emoji, "");
    assert_ne!(removed.id, envelope.id);
    let (sent, _) = bodies(&removed);
    assert_eq!(
        sent[0],
        json!({"recipient":{"id":USER},"sender_action":"unreact","payload":{"message_id":MID}})
    );
}

#[test]
fn extras_that_identify_someone_are_declared_personal() {
    // A `comments` change, in the shape of Meta's Instagram webhooks
    // reference: the commenter's id and username travel in `from`.
    let body = br#"{"object":"instagram","entry":[{"id":"17841405309211844","time":1569262486,
        "changes":[{"field":"comments","value":{"from":{"id":"232323232","username":"test"},
        "media":{"id":"123123123","media_product_type":"FEED"},"id":"17865799348089039",
        "parent_id":"1231231234","text":"This is an example."}}]}]}"#;
    let envelopes = match decode(body) {
        Ok(envelopes) => envelopes,
        Err(error) => unreachable!("{error:?}"),
    };
    assert_eq!(envelopes.len(), 1);
    assert_eq!(
        personal(&envelopes[0], "/entry/0/changes/0/value"),
        Some(true)
    );
    assert_eq!(
        personal(&envelopes[0], "/entry/0/changes/0/field"),
        Some(false)
    );
    // A reaction's name identifies no one.
    for envelope in fixture("reaction.json") {
        assert_eq!(
            personal(&envelope, "/entry/0/messaging/0/reaction/reaction"),
            Some(false)
        );
    }
}

#[test]
fn postback_is_a_choice() {
    let envelope = one("postback.json");
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    let Content::Choice(choice) = &message.content else {
        unreachable!()
    };
    assert_eq!(choice.origin, ChoiceOrigin::Postback);
    assert_eq!(choice.id, "DEVELOPER_DEFINED_PAYLOAD");
    assert_eq!(choice.title, "Start Chatting");
    assert_eq!(envelope.timestamp_ms, 1_502_905_976_377);
}

#[test]
fn seen_is_a_read_receipt_of_one_message() {
    let envelope = one("seen.json");
    let Event::Receipt(receipt) = &envelope.event else {
        unreachable!()
    };
    assert_eq!(receipt.status, ReceiptStatus::Read);
    assert_eq!(receipt.watermark_ms, None);
    assert_eq!(receipt.targets.len(), 1);
    assert!(receipt.targets[0].native_id.ends_with("ODAwNQZDZD"));
    assert!(envelope.id.starts_with(&format!("instagram:read:{USER}:")));
    let (sent, _) = bodies(&envelope);
    assert_eq!(sent[0]["sender_action"], "mark_seen");
}

#[test]
fn echo_is_the_accounts_own_message() {
    let envelope = one("echo.json");
    assert!(envelope.echo);
    assert_eq!(envelope.sender.address.id, OWN);
    assert_eq!(envelope.conversation.id, USER);
}

#[test]
fn unsent_message_is_a_deletion() {
    let envelope = one("unsent.json");
    assert_eq!(envelope.id, "instagram:external_id:deleted");
    let Event::Deletion(target) = &envelope.event else {
        unreachable!()
    };
    assert_eq!(target.native_id, "external_id");
    let (sent, rules) = bodies(&envelope);
    assert_eq!(
        sent[0]["message"]["text"],
        "🗑️ The sender deleted a message."
    );
    assert_eq!(rules, vec!["deletion-as-notice"]);
}

#[test]
fn unknown_attachment_is_unsupported() {
    let envelope = one("like_heart.json");
    let Event::Message(message) = &envelope.event else {
        unreachable!()
    };
    let Content::Unsupported(content) = &message.content else {
        unreachable!()
    };
    assert_eq!(content.native_type, "like_heart");
}

#[test]
fn the_documented_array_wrapper_is_accepted() {
    let body = raw("text.json");
    let wrapped = format!("[{}]", String::from_utf8_lossy(&body));
    let envelopes = decode(wrapped.as_bytes());
    assert_eq!(envelopes.map(|e| e.len()), Ok(1));
}

#[test]
fn describe_names_the_platform_and_limits() {
    let capabilities = describe();
    assert_eq!(capabilities.platform, "instagram");
    assert_eq!(capabilities.limits.max_text_chars, 1000);
    assert_eq!(capabilities.limits.max_quick_replies, 13);
    assert_eq!(
        capabilities.webhook_signature,
        WebhookSignature::HubSignatureSha256
    );
    assert_eq!(capabilities.api_auth, ApiAuth::BearerHeader);
    assert!(capabilities.native.contains(&ContentKind::QuickReplies));
    assert!(!capabilities.native.contains(&ContentKind::Buttons));
    assert!(!capabilities.native.contains(&ContentKind::Document));
}

#[test]
fn sent_message_id_reads_the_send_api_response() {
    let body =
        br#"{"recipient_id":"6459112574138410","message_id":"aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE"}"#;
    assert_eq!(
        translator_instagram::sent_message_id(body).as_deref(),
        Some("aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE")
    );
}

#[test]
fn malformed_input_gives_typed_errors() {
    let body = raw("reaction.json");
    assert!(matches!(
        decode_err(&body[..body.len() - 20]),
        DecodeError::Syntax(_)
    ));
    let text = String::from_utf8_lossy(&body).replace("\"action\": \"react\"", "\"action\": 1");
    let DecodeError::WrongType(error) = decode_err(text.as_bytes()) else {
        unreachable!()
    };
    assert_eq!(error.path, "/entry/0/messaging/0/reaction/action");
    let text = String::from_utf8_lossy(&body).replace("\"mid\":", "\"xmid\":");
    let DecodeError::MissingField(error) = decode_err(text.as_bytes()) else {
        unreachable!()
    };
    assert_eq!(error.path, "/entry/0/messaging/0/reaction/mid");
    let DecodeError::WrongPlatform(error) = decode_err(br#"{"object":"page","entry":[]}"#) else {
        unreachable!()
    };
    assert_eq!(error.expected, "instagram");
    let big = vec![b' '; 10 * 1024 * 1024];
    assert_eq!(decode_err(&big), DecodeError::TooLarge(4 * 1024 * 1024));
    let deep = "{\"a\":".repeat(10_000);
    assert!(matches!(
        decode_err(deep.as_bytes()),
        DecodeError::TooDeep(_)
    ));
    assert_eq!(decode_err(b"\xc3\x28"), DecodeError::InvalidUtf8(0));
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
