//! A translator plugin with bugs on purpose. `decode` of the body `loop` spins
//! forever, `grow` allocates until memory runs out, `panic` panics; any other body
//! decodes to no envelopes. The host must fail those calls and keep serving.
// A component and nothing else: natively the exports would not link.
#![cfg(target_arch = "wasm32")]

mod bindings {
    wit_bindgen::generate!({
        world: "translator-plugin",
        path: "../../../wit",
        with: { "switchboard:messaging/types@0.1.0": switchboard_model::types },
    });
}

use bindings::exports::switchboard::messaging::translator::{
    Capabilities, Encoded, Guest, Limits, WebhookSignature,
};
use switchboard_model::types::{Address, DecodeError, EncodeError, Envelope};

struct Component;

impl Guest for Component {
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
        }
    }

    fn decode(body: Vec<u8>) -> Result<Vec<Envelope>, DecodeError> {
        match body.as_slice() {
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

    fn encode(_: Envelope, _: Address, _: Address) -> Result<Encoded, EncodeError> {
        Err(EncodeError::Unsupported(
            "the rogue translator encodes nothing".into(),
        ))
    }

    fn sent_message_id(_: Vec<u8>) -> Option<String> {
        None
    }
}

bindings::export!(Component with_types_in bindings);
