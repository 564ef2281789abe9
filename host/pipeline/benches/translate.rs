//! What translation costs: a WhatsApp webhook decoded and encoded for Messenger,
//! three ways over the same Rust code — compiled natively, in a reused component
//! instance, and in a fresh component instance per message.
//!
//! Run with `cargo bench -p switchboard-pipeline --bench translate`; figures are in
//! BENCHMARKS.md.

// Test code: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `criterion_group!` generates public functions that cannot carry docs.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use switchboard_pipeline::builtin;
use switchboard_pipeline::plugins::translator::types::Address;
use switchboard_pipeline::plugins::translator::{Translator, TranslatorInstance};
use switchboard_runtime::engine::{Runtime, RuntimeOptions};

/// The two messages measured, by fixture file: a short text and an image
/// with a caption.
const CASES: [(&str, &str); 2] = [("text", "text.json"), ("media", "image.json")];

fn fixture(file: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/whatsapp")
        .join(file);
    std::fs::read(path).expect("the fixture is readable")
}

/// Decodes `body` with one instance and encodes every envelope with the other.
fn translate_with(
    decoder: &mut TranslatorInstance<'_>,
    encoder: &mut TranslatorInstance<'_>,
    body: &[u8],
    sender: &Address,
    recipient: &Address,
) {
    let envelopes = decoder
        .decode(black_box(body))
        .expect("no trap")
        .expect("decodes");
    for envelope in &envelopes {
        black_box(
            encoder
                .encode(envelope, sender, recipient)
                .expect("no trap")
                .expect("encodes"),
        );
    }
}

fn translate(c: &mut Criterion) {
    let runtime = Runtime::new(RuntimeOptions::from_env()).expect("runtime");
    let load = |name: &str| {
        let component = builtin::translator(name).expect("built in");
        Translator::load(&runtime, name, component.wasm).expect("loads")
    };
    let whatsapp = load("whatsapp");
    let messenger = load("messenger");
    let sender = Address {
        platform: "messenger".into(),
        id: "1122334455".into(),
    };
    let recipient = Address {
        platform: "messenger".into(),
        id: "sb-5566778899".into(),
    };
    // The same addresses as the native crates' own binding type.
    let native_sender = switchboard_pdk::types::Address {
        platform: sender.platform.clone(),
        id: sender.id.clone(),
    };
    let native_recipient = switchboard_pdk::types::Address {
        platform: recipient.platform.clone(),
        id: recipient.id.clone(),
    };

    let mut group = c.benchmark_group("whatsapp-to-messenger");
    for (case, file) in CASES {
        let body = fixture(file);

        group.bench_with_input(BenchmarkId::new("native", case), &body, |b, body| {
            b.iter(|| {
                let envelopes = translator_whatsapp::decode(black_box(body)).expect("decodes");
                for envelope in &envelopes {
                    black_box(
                        translator_messenger::encode(envelope, &native_sender, &native_recipient)
                            .expect("encodes"),
                    );
                }
            })
        });

        let mut decoder = whatsapp.instantiate().expect("instance");
        let mut encoder = messenger.instantiate().expect("instance");
        group.bench_with_input(
            BenchmarkId::new("wasm-reused-instance", case),
            &body,
            |b, body| {
                b.iter(|| translate_with(&mut decoder, &mut encoder, body, &sender, &recipient))
            },
        );

        group.bench_with_input(
            BenchmarkId::new("wasm-fresh-instance", case),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut decoder = whatsapp.instantiate().expect("instance");
                    let mut encoder = messenger.instantiate().expect("instance");
                    translate_with(&mut decoder, &mut encoder, body, &sender, &recipient)
                })
            },
        );
    }
    group.finish();

    // Instantiation alone, to separate it from the translation work.
    c.bench_function("instantiate-translator", |b| {
        b.iter(|| black_box(whatsapp.instantiate().expect("instance")))
    });
}

criterion_group!(benches, translate);
criterion_main!(benches);
