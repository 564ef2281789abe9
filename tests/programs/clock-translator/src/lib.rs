//! A translator plugin that reads the wall clock, so its component imports
//! `wasi:clocks`. Translators must be pure: the host refuses to load it.
// A component and nothing else: natively the exports would not link.
#![cfg(target_arch = "wasm32")]

use switchboard_pdk::prelude::*;

switchboard_pdk::export_translator!();

fn describe() -> Capabilities {
    Capabilities {
        platform: "clock".into(),
        version: "0.0.0".into(),
        native: Vec::new(),
        limits: Limits {
            max_text_chars: 100,
            max_caption_chars: 100,
            max_buttons: 0,
            max_button_title_chars: 0,
            max_list_rows: 0,
            max_quick_replies: 0,
            max_webhook_bytes: 1 << 20,
        },
        webhook_signature: WebhookSignature::None,
        api_auth: ApiAuth::None,
    }
}

fn decode(_: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    let now = std::time::SystemTime::now();
    std::hint::black_box(now);
    Ok(Vec::new())
}

fn encode(_: &Envelope, _: &Address, _: &Address) -> Result<Encoded, EncodeError> {
    Err(EncodeError::Unsupported(
        "the clock translator encodes nothing".into(),
    ))
}

fn sent_message_id(_: &[u8]) -> Option<String> {
    None
}

fn fetch_media(_: &str, _: Option<&[u8]>) -> Result<MediaStep, MediaError> {
    Err(MediaError::Unsupported)
}
