//! The ingress gateway: one instance per platform route, composed with that
//! platform's translator.
//!
//! For each webhook it:
//! 1. answers the `GET` subscribe handshake (`hub.challenge`, as plain text)
//!    on routes whose platform signs the Meta way, when the mode, the verify
//!    token and the challenge are as Meta sends them;
//! 2. takes webhooks as `POST`, and on routes whose platform sends a bearer
//!    token (Matrix application services) transactions as `PUT`, answered
//!    `{}` as the application-service API wants;
//! 3. refuses a body over the translator's limit (413), then a request that
//!    fails the check its translator declares (`webhook-signature`: Meta's
//!    `X-Hub-Signature-256`, Telegram's secret token header, a Matrix bearer
//!    token; 401), before looking inside;
//! 4. decodes the body with the translator; a malformed body is answered 400
//!    with the translator's typed error, and the raw body is kept in the store
//!    under `rejected:<sha256>` (the error under `rejected:<sha256>:error`) for
//!    inspection;
//! 5. stores every envelope in the inbox (`inbox:<canonical id>`, which the
//!    host's pipeline drains) and its record (`envelope:<canonical id>`)
//!    before answering 200; both keys are `directory-schema`'s, which the
//!    host shares. Ids are deterministic, so a webhook the platform
//!    delivers twice is stored once (`duplicates` in the answer).
//!
//! All of that is [`ingest::handle`], plain Rust that native builds call too;
//! the component's HTTP handler only reads the request, the variables and the
//! translator, and writes the answer. The checks themselves are the
//! `webhook-signature` library's.
//!
//! Configuration comes from Spin variables: `app_secret` (the platform's app
//! secret, secret token or homeserver token, whichever its scheme uses) and
//! `verify_token` (for the handshake). An unset one refuses what needs it.

#![deny(missing_docs)]

pub mod ingest;
pub mod verify;

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "ingress-gateway",
        path: "../../wit",
        with: { "switchboard:messaging/types@0.1.0": switchboard_pdk::types },
    });
}

pub use directory_schema::{envelope_key, inbox_key, rejected_error_key, rejected_key};

/// The component's HTTP handler: reads the request, the variables and the
/// translator's capabilities, and hands them to [`ingest::handle`].
#[cfg(target_arch = "wasm32")]
mod handler {
    use super::bindings::switchboard::messaging::translator::{self, WebhookSignature};
    use super::ingest::{self, Request, Route, Secrets};
    use futures::StreamExt;
    use spin_sdk::http::{IncomingRequest, Response};
    use spin_sdk::{http_component, key_value, variables};
    use std::cell::OnceCell;
    use webhook_signature::Scheme;

    /// Spin's default store, opened on first use: a request refused before
    /// it reaches the store (413, 401, the handshake) never opens it.
    #[derive(Default)]
    struct SpinStore(OnceCell<key_value::Store>);

    impl SpinStore {
        fn store(&self) -> anyhow::Result<&key_value::Store> {
            if let Some(store) = self.0.get() {
                return Ok(store);
            }
            let store = key_value::Store::open_default()?;
            Ok(self.0.get_or_init(|| store))
        }
    }

    impl ingest::Store for SpinStore {
        fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
            Ok(self.store()?.get(key)?)
        }
        fn exists(&self, key: &str) -> anyhow::Result<bool> {
            Ok(self.store()?.exists(key)?)
        }
        fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
            Ok(self.store()?.set(key, value)?)
        }
    }

    /// The translator interface's enum as the library's.
    fn scheme(signature: WebhookSignature) -> Scheme {
        match signature {
            WebhookSignature::HubSignatureSha256 => Scheme::Hub,
            WebhookSignature::SecretTokenHeader => Scheme::SecretToken,
            WebhookSignature::BearerToken => Scheme::Bearer,
            WebhookSignature::None => Scheme::None,
        }
    }

    fn variable(name: &str) -> String {
        variables::get(name).unwrap_or_default()
    }

    /// The body, kept only until it passes `limit`: a body over the limit is
    /// answered 413 without being held in memory whole. The rest is still
    /// read and dropped, because an HTTP/1 server that answers before the
    /// body is read closes the connection with a reset, which the client
    /// may see instead of its 413; the host's deadline bounds how long.
    async fn read_body(request: IncomingRequest, limit: u64) -> anyhow::Result<Vec<u8>> {
        let mut chunks = request.into_body_stream();
        let mut body = Vec::new();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|error| {
                anyhow::anyhow!("cannot read the body: {}", error.to_debug_string())
            })?;
            if u64::try_from(body.len()).is_ok_and(|length| length <= limit) {
                body.extend_from_slice(&chunk);
            }
        }
        Ok(body)
    }

    #[http_component]
    async fn handle(request: IncomingRequest) -> anyhow::Result<Response> {
        let capabilities = translator::describe();
        let route = Route {
            platform: &capabilities.platform,
            max_webhook_bytes: capabilities.limits.max_webhook_bytes,
            scheme: scheme(capabilities.webhook_signature),
        };
        let method = request.method().to_string();
        let path_with_query = request.path_with_query().unwrap_or_default();
        let query = path_with_query
            .split_once('?')
            .map_or("", |(_, query)| query);
        let headers = request.headers().entries();
        let body = read_body(request, route.max_webhook_bytes).await?;
        let (secret, verify_token) = (variable("app_secret"), variable("verify_token"));
        let answer = ingest::handle(
            &route,
            &Secrets {
                secret: &secret,
                verify_token: &verify_token,
            },
            &Request {
                method: &method,
                query,
                headers: &headers,
                body: &body,
            },
            translator::decode,
            &SpinStore::default(),
        )?;
        let mut response = Response::builder();
        response
            .status(answer.status)
            .header("content-type", answer.content_type);
        if let Some(allow) = answer.allow {
            response.header("allow", allow);
        }
        Ok(response.body(answer.body).build())
    }
}
