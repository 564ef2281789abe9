//! The ingress gateway: one instance per platform route, composed with that
//! platform's translator.
//!
//! For each webhook it:
//! 1. answers the `GET` subscribe handshake (`hub.challenge`) when the verify
//!    token matches;
//! 2. refuses a body over the translator's limit (413) and a bad or missing
//!    signature (401) before looking inside;
//! 3. decodes the body with the translator; a malformed body is answered 400
//!    with the translator's typed error, and the raw body is kept in the store
//!    under `rejected:<sha256>` (the error under `rejected:<sha256>:error`) for
//!    inspection;
//! 4. stores every envelope in the inbox (`inbox:<canonical id>`, which the
//!    host's pipeline drains) and its record (`envelope:<canonical id>`)
//!    before answering 200; both keys are `directory-schema`'s, which the
//!    host shares. Ids are deterministic, so a webhook the platform
//!    delivers twice is stored once (`duplicates` in the answer).
//!
//! Configuration comes from Spin variables: `app_secret` (the platform app's
//! secret, for signatures) and `verify_token` (for the handshake).

pub mod verify;

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "ingress-gateway",
        path: "../../wit",
        with: { "switchboard:messaging/types@0.1.0": switchboard_pdk::types },
    });
}

pub use directory_schema::{envelope_key, inbox_key};

/// Key-value key for a rejected body, by the hex SHA-256 of its bytes. The
/// translator's error is kept next to it, under [`rejected_error_key`].
pub fn rejected_key(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("rejected:{}", verify::hex(&Sha256::digest(body)))
}

/// Key-value key of the record (platform and translator error) of a rejected
/// body kept under `rejected_key`.
pub fn rejected_error_key(rejected_key: &str) -> String {
    format!("{rejected_key}:error")
}

#[cfg(target_arch = "wasm32")]
mod handler {
    use super::bindings::switchboard::messaging::translator;
    use super::{envelope_key, inbox_key, rejected_error_key, rejected_key, verify};
    use serde_json::json;
    use spin_sdk::http::{IntoResponse, Method, Request, Response};
    use spin_sdk::key_value::Store;
    use spin_sdk::{http_component, variables};
    use translator::WebhookSignature;

    fn reply(status: u16, body: serde_json::Value) -> Response {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.to_string())
            .build()
    }

    fn variable(name: &str) -> String {
        variables::get(name).unwrap_or_default()
    }

    #[http_component]
    fn handle(request: Request) -> anyhow::Result<impl IntoResponse> {
        let capabilities = translator::describe();
        match request.method() {
            Method::Get => {
                let challenge =
                    verify::subscribe_challenge(request.query(), &variable("verify_token"));
                Ok(match challenge {
                    Some(challenge) => Response::builder().status(200).body(challenge).build(),
                    None => reply(
                        403,
                        json!({ "error": "subscribe handshake refused: wrong mode or verify token" }),
                    ),
                })
            }
            Method::Post => ingest(&request, &capabilities),
            _ => Ok(reply(
                405,
                json!({ "error": "use POST for webhooks, GET for the subscribe handshake" }),
            )),
        }
    }

    fn ingest(
        request: &Request,
        capabilities: &translator::Capabilities,
    ) -> anyhow::Result<Response> {
        let body = request.body();
        let limit = capabilities.limits.max_webhook_bytes;
        if body.len() as u64 > limit {
            return Ok(reply(
                413,
                json!({ "error": format!("webhook body over the {limit}-byte limit") }),
            ));
        }
        if capabilities.webhook_signature == WebhookSignature::HubSignatureSha256 {
            let header = request
                .header("x-hub-signature-256")
                .and_then(|value| value.as_str());
            if let Err(error) = verify::verify_hub_signature(&variable("app_secret"), body, header)
            {
                return Ok(reply(401, json!({ "error": error.to_string() })));
            }
        }
        let store = Store::open_default()?;
        match translator::decode(body) {
            Err(error) => {
                let key = rejected_key(body);
                store.set(&key, body)?;
                let record = json!({ "platform": capabilities.platform, "error": error });
                store.set(&rejected_error_key(&key), record.to_string().as_bytes())?;
                Ok(reply(400, json!({ "error": error, "kept_as": key })))
            }
            Ok(envelopes) => {
                let (mut accepted, mut duplicates) = (0u32, 0u32);
                for envelope in &envelopes {
                    let key = envelope_key(&envelope.id);
                    if store.exists(&key)? {
                        duplicates += 1;
                        continue;
                    }
                    // Inbox first: a crash between the two writes leaves an
                    // inbox entry without a record, and the platform's retry
                    // rewrites the same inbox key rather than losing it.
                    let json = serde_json::to_vec(envelope)?;
                    store.set(&inbox_key(&envelope.id), &json)?;
                    store.set(&key, &json)?;
                    accepted += 1;
                }
                Ok(reply(
                    200,
                    json!({ "accepted": accepted, "duplicates": duplicates }),
                ))
            }
        }
    }
}
