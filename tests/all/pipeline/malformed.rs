//! Bad webhook bodies give typed errors from inside the component, never a trap,
//! and the same instance goes on to decode good input.

use crate::fixtures::{webhook, webhooks};
use crate::{PLATFORMS, translator};
use switchboard_pipeline::plugins::translator::types::DecodeError;

fn bad_bodies() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "truncated",
            br#"{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"#.to_vec(),
        ),
        ("invalid utf-8", b"{\"object\":\"\xff\xfe\"}".to_vec()),
        ("ten thousand deep", "[".repeat(10_000).into_bytes()),
        ("ten megabytes", {
            let mut body = br#"{"object":"page","entry":[],"padding":""#.to_vec();
            body.extend(std::iter::repeat_n(b'a', 10 << 20));
            body.extend_from_slice(b"\"}");
            body
        }),
        // Not `[..]`: Meta wraps Instagram notifications in an array at times.
        ("not an object", b"\"hello\"".to_vec()),
        ("wrong object", br#"{"object":"user","entry":[]}"#.to_vec()),
        (
            "entry of wrong type",
            br#"{"object":"whatsapp_business_account","entry":"x"}"#.to_vec(),
        ),
    ]
}

#[test]
fn bad_bodies_give_typed_errors() {
    for platform in PLATFORMS {
        let mut instance = translator(platform).instantiate().expect("instance");
        for (what, body) in bad_bodies() {
            let result = instance.decode(&body).expect("a bad body never traps");
            let error = result.expect_err(&format!("{platform}: {what} must fail"));
            match (what, &error) {
                ("truncated", DecodeError::Syntax(_)) => {}
                ("invalid utf-8", DecodeError::InvalidUtf8(offset)) => assert_eq!(*offset, 11),
                ("ten thousand deep", DecodeError::TooDeep(_)) => {}
                ("ten megabytes", DecodeError::TooLarge(limit)) => assert!(*limit < 10 << 20),
                (
                    "not an object",
                    DecodeError::WrongType(field) | DecodeError::WrongPlatform(field),
                ) => {
                    assert_eq!(field.path, "", "{platform}")
                }
                ("wrong object", DecodeError::WrongPlatform(field)) => {
                    assert_eq!(field.path, "/object")
                }
                ("entry of wrong type", DecodeError::WrongPlatform(_))
                    if platform != "whatsapp" => {}
                ("entry of wrong type", DecodeError::WrongType(field)) => {
                    assert_eq!(field.path, "/entry")
                }
                _ => panic!("{platform}: {what} gave {error:?}"),
            }
        }
        // The instance is still healthy.
        let (name, good) = &webhooks(platform)[0];
        let envelopes = instance.decode(good).expect("no trap").expect("decodes");
        assert!(!envelopes.is_empty(), "{platform}/{name}");
    }
}

#[test]
fn missing_and_mistyped_fields_are_named() {
    let mut whatsapp = translator("whatsapp").instantiate().expect("instance");
    let body = webhook("whatsapp", "text.json");
    let mut value: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let message = &mut value["entry"][0]["changes"][0]["value"]["messages"][0];
    message["from"] = serde_json::json!(15551234567u64);
    let error = whatsapp
        .decode(value.to_string().as_bytes())
        .expect("no trap")
        .expect_err("a numeric sender must fail");
    let DecodeError::WrongType(field) = error else {
        panic!("{error:?}")
    };
    assert_eq!(field.path, "/entry/0/changes/0/value/messages/0/from");
    assert_eq!(field.expected, "string");

    let message = &mut value["entry"][0]["changes"][0]["value"]["messages"][0];
    message.as_object_mut().expect("object").remove("from");
    let error = whatsapp
        .decode(value.to_string().as_bytes())
        .expect("no trap")
        .expect_err("a missing sender must fail");
    let DecodeError::MissingField(field) = error else {
        panic!("{error:?}")
    };
    assert_eq!(field.path, "/entry/0/changes/0/value/messages/0/from");
}
