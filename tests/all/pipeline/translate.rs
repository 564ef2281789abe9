//! Every fixture, decoded and re-encoded by the components running in wasmtime,
//! gives the same answer as the native build of the same translator, and every
//! platform pair translates.

use crate::fixtures::webhooks;
use crate::{PLATFORMS, translator};
use switchboard_pipeline::plugins::translator::types::{Address, Envelope};

fn native_decode(platform: &str, body: &[u8]) -> serde_json::Value {
    let decoded = match platform {
        "whatsapp" => serde_json::to_value(translator_whatsapp::decode(body)),
        "messenger" => serde_json::to_value(translator_messenger::decode(body)),
        "instagram" => serde_json::to_value(translator_instagram::decode(body)),
        other => panic!("no native build of {other}"),
    };
    decoded.expect("serialisable")
}

#[test]
fn component_decodes_like_the_native_build() {
    for platform in PLATFORMS {
        let mut instance = translator(platform).instantiate().expect("instance");
        for (name, body) in webhooks(platform) {
            let in_wasm = instance.decode(&body).expect("no trap");
            let envelopes = in_wasm
                .as_ref()
                .unwrap_or_else(|error| panic!("{platform}/{name}: {error:?}"));
            assert!(
                !envelopes.is_empty(),
                "{platform}/{name} decoded to nothing"
            );
            for envelope in envelopes {
                assert_eq!(envelope.platform, platform, "{name}");
                assert!(
                    envelope.id.starts_with(platform),
                    "{name}: id {}",
                    envelope.id
                );
                assert!(
                    envelope.timestamp_ms > 1_000_000_000_000,
                    "{name}: timestamp in ms"
                );
            }
            // The canonical JSON printed by the host is the same document the
            // native build produces: same model, same logic, same bytes.
            let wasm_json = serde_json::to_value(&in_wasm).expect("serialisable");
            assert_eq!(
                wasm_json,
                native_decode(platform, &body),
                "{platform}/{name}"
            );
        }
    }
}

#[test]
fn every_platform_pair_translates() {
    for from in PLATFORMS {
        let mut source = translator(from).instantiate().expect("instance");
        let envelopes: Vec<Envelope> = webhooks(from)
            .into_iter()
            .flat_map(|(_, body)| source.decode(&body).expect("no trap").expect("decodes"))
            .collect();
        for to in PLATFORMS {
            let mut target = translator(to).instantiate().expect("instance");
            let sender = Address {
                platform: to.into(),
                id: "100200300".into(),
            };
            let recipient = Address {
                platform: to.into(),
                id: "sb-recipient-1".into(),
            };
            for envelope in envelopes.iter().filter(|envelope| !envelope.echo) {
                let encoded = target
                    .encode(envelope, &sender, &recipient)
                    .expect("no trap")
                    .unwrap_or_else(|error| panic!("{from} → {to}, {}: {error:?}", envelope.id));
                for request in &encoded.requests {
                    let body: serde_json::Value = serde_json::from_slice(&request.body)
                        .unwrap_or_else(|error| {
                            panic!("{from} → {to}, {}: body not JSON: {error}", envelope.id)
                        });
                    let text = body.to_string();
                    assert!(
                        text.contains("sb-recipient-1"),
                        "{from} → {to}, {}: no recipient in {text}",
                        envelope.id
                    );
                    assert!(
                        request.path.contains("100200300"),
                        "{from} → {to}: path {}",
                        request.path
                    );
                    // Nothing of the original sender's identity crosses: the
                    // WhatsApp sender id is a phone number.
                    if from != to {
                        assert!(
                            !text.contains(&envelope.sender.address.id),
                            "{from} → {to}, {}: sender id leaked into {text}",
                            envelope.id
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn reused_and_fresh_instances_agree() {
    let whatsapp = translator("whatsapp");
    let mut reused = whatsapp.instantiate().expect("instance");
    for (name, body) in webhooks("whatsapp") {
        let first = reused.decode(&body).expect("no trap");
        let again = reused.decode(&body).expect("no trap");
        let fresh = whatsapp
            .instantiate()
            .expect("instance")
            .decode(&body)
            .expect("no trap");
        assert_eq!(
            first, again,
            "{name}: a reused instance keeps no state between calls"
        );
        assert_eq!(first, fresh, "{name}");
    }
}
