//! What translation costs: a WhatsApp webhook decoded and encoded for Messenger,
//! three ways over the same Rust code — compiled natively, in a reused component
//! instance, and in a fresh component instance per message.
//!
//! Run with `cargo bench -p switchboard --bench translate`; figures are in
//! BENCHMARKS.md.

// Test code: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// `criterion_group!` generates public functions that cannot carry docs.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use switchboard::builtin;
use switchboard::runtime::{Runtime, RuntimeOptions};
use switchboard::translator::Translator;
use switchboard::translator::types::Address;

/// The two messages measured: a short text and an image with a caption.
const CASES: [(&str, &str); 2] = [("text", "text"), ("media", "image")];

fn fixture(part: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/whatsapp");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().contains(part))
        })
        .collect();
    names.sort();
    std::fs::read(names.first().expect("a fixture for each case")).expect("readable")
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
    let native_sender = switchboard_model::types::Address {
        platform: sender.platform.clone(),
        id: sender.id.clone(),
    };
    let native_recipient = switchboard_model::types::Address {
        platform: recipient.platform.clone(),
        id: recipient.id.clone(),
    };

    let mut group = c.benchmark_group("whatsapp-to-messenger");
    for (case, part) in CASES {
        let body = fixture(part);

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
                b.iter(|| {
                    let envelopes = decoder
                        .decode(black_box(body))
                        .expect("no trap")
                        .expect("decodes");
                    for envelope in &envelopes {
                        black_box(
                            encoder
                                .encode(envelope, &sender, &recipient)
                                .expect("no trap")
                                .expect("encodes"),
                        );
                    }
                })
            },
        );

        group.bench_with_input(
            BenchmarkId::new("wasm-fresh-instance", case),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut decoder = whatsapp.instantiate().expect("instance");
                    let mut encoder = messenger.instantiate().expect("instance");
                    let envelopes = decoder
                        .decode(black_box(body))
                        .expect("no trap")
                        .expect("decodes");
                    for envelope in &envelopes {
                        black_box(
                            encoder
                                .encode(envelope, &sender, &recipient)
                                .expect("no trap")
                                .expect("encodes"),
                        );
                    }
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
