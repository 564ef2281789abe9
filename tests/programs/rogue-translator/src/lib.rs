//! A translator plugin with bugs on purpose. `decode` of the body `loop` spins
//! forever, `grow` allocates until memory runs out, `panic` panics; any other body
//! decodes to no envelopes. The host must fail those calls and keep serving.
// A component and nothing else: natively the exports would not link.
#![cfg(target_arch = "wasm32")]

use switchboard_pdk::prelude::*;

switchboard_pdk::export_translator!();

fn describe() -> Capabilities {
    Capabilities {
        platform: "rogue".into(),
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

fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError> {
    match body {
        b"loop" => {
            let mut counter = 0u64;
            loop {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        b"grow" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        b"panic" => panic!("rogue translator panicked on purpose"),
        _ => Ok(Vec::new()),
    }
}

fn encode(_: &Envelope, _: &Address, _: &Address) -> Result<Encoded, EncodeError> {
    Err(EncodeError::Unsupported(
        "the rogue translator encodes nothing".into(),
    ))
}

fn sent_message_id(_: &[u8]) -> Option<String> {
    None
}

fn fetch_media(_: &str, _: Option<&[u8]>) -> Result<MediaStep, MediaError> {
    Err(MediaError::Unsupported)
}
