//! The `switchboard` command as a user runs it.

use crate::fixtures::webhook;
use crate::switchboard;

fn text_fixture() -> Vec<u8> {
    webhook("whatsapp", "text.json")
}

#[test]
fn translate_whatsapp_to_messenger_prints_send_api_bodies() {
    let input = text_fixture();
    let output = switchboard(
        &["translate", "--from", "whatsapp", "--to", "messenger", "-"],
        &input,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    let webhook: serde_json::Value = serde_json::from_slice(&input).expect("fixture is JSON");
    let message = &webhook["entry"][0]["changes"][0]["value"]["messages"][0];
    let request = &printed[0]["requests"][0];
    assert_eq!(request["method"], "POST");
    assert_eq!(request["path"], "/v21.0/me/messages");
    assert_eq!(request["body"]["message"]["text"], message["text"]["body"]);
    let recipient = request["body"]["recipient"]["id"]
        .as_str()
        .expect("recipient id");
    assert!(
        recipient.starts_with("sb-"),
        "a pseudonym, not the phone number: {recipient}"
    );
    assert_ne!(recipient, message["from"].as_str().expect("from"));
}

#[test]
fn decode_then_encode_equals_translate() {
    let input = text_fixture();
    let decoded = switchboard(&["decode", "--platform", "whatsapp", "-"], &input);
    assert!(decoded.status.success());
    let encoded = switchboard(&["encode", "--platform", "instagram", "-"], &decoded.stdout);
    assert!(
        encoded.status.success(),
        "{}",
        String::from_utf8_lossy(&encoded.stderr)
    );
    let translated = switchboard(
        &["translate", "--from", "whatsapp", "--to", "instagram", "-"],
        &input,
    );
    assert_eq!(encoded.stdout, translated.stdout);
}

#[test]
fn bad_input_exits_non_zero_with_one_line_naming_the_field() {
    let mut webhook: serde_json::Value = serde_json::from_slice(&text_fixture()).expect("JSON");
    webhook["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] =
        serde_json::json!(true);
    let output = switchboard(
        &["decode", "--platform", "whatsapp", "-"],
        webhook.to_string().as_bytes(),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("/entry/0/changes/0/value/messages/0/timestamp"),
        "{stderr}"
    );

    let output = switchboard(&["decode", "--platform", "telegram", "-"], b"{}");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no translator for platform `telegram`")
    );
}
