//! The native build of the same pipeline, for the load benchmark.
//!
//! `switchboard up` runs the gateways, the router (with the directory) and the
//! translators as WebAssembly components. This program starts the very same
//! host — HTTP server, embedded store, router loop, outbox, senders, retries,
//! metrics, from the same `spin.toml` and `switchboard.toml` — with those
//! stages compiled natively from the same crates instead, through
//! the stage traits. Put both under the same `switchboard load`, and the
//! difference is what running the stages as components costs.
//!
//! ```sh
//! cargo run --release -p switchboard-pipeline --example native-pipeline -- --listen 127.0.0.1:3000
//! switchboard load --target http://127.0.0.1:3000 --admin-token …
//! ```
//!
//! The admin API and the story and key routes are not native: they still run
//! as components or host code, as in `switchboard up`.

use anyhow::{Context, Result};
use clap::Parser;
use conversations::Endpoints;
use directory::{Directory, KeyValue};
use gateway::ingest;
use http_body_util::BodyExt;
use router::native::DirectoryFacts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::sync::Arc;
use switchboard_pdk::types as model;
use switchboard_pipeline::config::HostConfig;
use switchboard_pipeline::pipeline::{Pipeline, Stages};
use switchboard_pipeline::plugins::translator::types as host;
use switchboard_pipeline::plugins::translator::{
    ApiAuth, Degradation, Encoded, HttpMethod, SendRequest,
};
use switchboard_pipeline::service::MessagingService;
use switchboard_pipeline::stages::{
    self as host_native, EncodeFailure, RouterInstance, RouterStage, TranslatorStage,
};
use switchboard_runtime::engine::{Runtime, RuntimeOptions};
use switchboard_runtime::http::{self, BoxFuture, HttpTrigger, NativeRoute, Request, Response};
use switchboard_runtime::key_value::{
    EmbeddedStore, HeldWrites, KeyValueStores, KeyValueView, WriteBuffer, durable_write,
};
use switchboard_runtime::manifest::Manifest;

/// `native-pipeline`: the options of `switchboard up` that the benchmark uses.
#[derive(Parser)]
struct Options {
    /// The Spin manifest.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: std::net::SocketAddr,
    /// Spin runtime config (key-value backends).
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// The host's own settings; default `switchboard.toml` beside the manifest.
    #[arg(long)]
    config: Option<PathBuf>,
}

fn main() -> Result<()> {
    switchboard_runtime::init_logging();
    let options = Options::parse();
    let manifest = Manifest::load(&options.manifest)?;
    let config = match &options.config {
        Some(path) => HostConfig::load(path, true)?,
        None => HostConfig::load(&manifest.dir.join("switchboard.toml"), false)?,
    };
    let stores = KeyValueStores::open(options.runtime_config_file.as_deref(), &manifest.dir)?;
    let store = stores.get("default").context("no default store")?;
    let variable = |name: &str| switchboard_runtime::variables::app_value(&manifest, name);
    let settings = Arc::new(DirectorySettings {
        rate_per_minute: variable("rate_per_minute")
            .and_then(|value| value.parse().ok())
            .unwrap_or(directory::DEFAULT_RATE_PER_MINUTE),
        endpoints: Endpoints::parse(
            &variable("endpoints").unwrap_or_default(),
            &variable("scoped_apps").unwrap_or_default(),
        )
        .map_err(|error| anyhow::anyhow!("the endpoints variable: {error}"))?,
    });
    let secrets = ["whatsapp", "messenger", "instagram"]
        .map(|platform| variable(&format!("{platform}_app_secret")).unwrap_or_default());
    let runtime = Runtime::new(RuntimeOptions::from_env())?;
    let stages = Stages {
        router: Arc::new(NativeRouter { settings }),
        translators: Arc::new(NativeTranslators),
    };
    let service =
        MessagingService::with_stages(&runtime, &manifest, &stores, config, Some(stages))?;
    let gateways = NativeGateways {
        store,
        secrets,
        verify_token: variable("verify_token").unwrap_or_default(),
        pipeline: service.pipeline().cloned(),
    };
    let trigger =
        HttpTrigger::load(&runtime, &manifest, &stores)?.with_native_route(Arc::new(gateways));
    service.run_until_stopped(trigger, options.listen)
}

/// The gateways' work for the three built-in platforms, as a native route.
struct NativeGateways {
    store: Arc<EmbeddedStore>,
    /// App secrets of WhatsApp, Messenger and Instagram, in that order.
    secrets: [String; 3],
    verify_token: String,
    pipeline: Option<Arc<Pipeline>>,
}

/// What the directory component reads from its variables.
struct DirectorySettings {
    rate_per_minute: u32,
    endpoints: Endpoints,
}

/// The router and directory crates as the router stage.
struct NativeRouter {
    settings: Arc<DirectorySettings>,
}

/// One routing pass of the native router: its directory writes go to the
/// pass's held writes, as the component's do.
struct NativeRouterInstance {
    writes: Arc<WriteBuffer>,
    settings: Arc<DirectorySettings>,
}

/// The translator crates as the translator stage.
struct NativeTranslators;

/// One value of the host's bindings as the same value of the crates' (or the
/// other way): both are the canonical model with the same serde form.
// Both bindings are generated from the same WIT: a value that does not
// convert is a build that mixes versions, not bad input.
#[allow(clippy::expect_used)]
fn convert<T: Serialize, U: DeserializeOwned>(value: &T) -> U {
    serde_json::from_value(serde_json::to_value(value).expect("serialisable"))
        .expect("the two bindings of the canonical model agree")
}

/// A delivery of the router crate's as the host's.
fn delivery(delivery: &router::Delivery) -> host_native::Delivery {
    host_native::Delivery {
        platform: delivery.platform.clone(),
        recipient: convert(&delivery.recipient),
        endpoint: delivery.endpoint.clone(),
        envelope: convert(&delivery.envelope),
    }
}

type Decode = fn(&[u8]) -> Result<Vec<model::Envelope>, model::DecodeError>;

/// The directory as the router's facts: what the directory component and
/// its composition with the router do, as plain calls.
fn directory<'a>(
    store: &'a dyn KeyValueView,
    settings: &DirectorySettings,
) -> DirectoryFacts<StoreKeyValue<'a>> {
    DirectoryFacts {
        directory: Directory::new(
            StoreKeyValue(store),
            settings.rate_per_minute,
            settings.endpoints.clone(),
        ),
        now_ms: switchboard_pipeline::clock::now_ms,
    }
}

impl NativeGateways {
    /// A request to `path`, as that route's gateway component answers it
    /// (the same `gateway::ingest` code, with the translator crate's
    /// `decode`), its writes committed in one transaction as the host commits
    /// a component's.
    fn ingest(
        &self,
        path: &str,
        request: &ingest::Request<'_, [(String, Vec<u8>)]>,
    ) -> ingest::Answer {
        let (index, platform, limit, decode): (usize, &str, u64, Decode) = match path {
            "/ingress/whatsapp" => (
                0,
                "whatsapp",
                translator_whatsapp::describe().limits.max_webhook_bytes,
                translator_whatsapp::decode,
            ),
            "/ingress/messenger" => (
                1,
                "messenger",
                translator_messenger::describe().limits.max_webhook_bytes,
                translator_messenger::decode,
            ),
            "/ingress/instagram" => (
                2,
                "instagram",
                translator_instagram::describe().limits.max_webhook_bytes,
                translator_instagram::decode,
            ),
            _ => {
                return ingest::Answer {
                    status: 404,
                    content_type: ingest::TEXT,
                    allow: None,
                    body: "no native route\n".into(),
                };
            }
        };
        let route = ingest::Route {
            platform,
            max_webhook_bytes: limit,
            scheme: webhook_signature::Scheme::Hub,
        };
        let secrets = ingest::Secrets {
            secret: &self.secrets[index],
            verify_token: &self.verify_token,
        };
        let writes = WriteBuffer::new(self.store.clone());
        let answer = ingest::handle(&route, &secrets, request, decode, &BufferStore(&writes))
            .and_then(|answer| {
                writes.commit_and_write_through()?;
                Ok(answer)
            });
        answer.unwrap_or_else(|error| ingest::Answer {
            status: 500,
            content_type: ingest::TEXT,
            allow: None,
            body: format!("store failed: {error:#}\n"),
        })
    }
}

/// The request's write buffer as the gateway's store.
struct BufferStore<'a>(&'a WriteBuffer);

impl ingest::Store for BufferStore<'_> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.0.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.0.set(key, value)
    }
}

impl NativeRoute for NativeGateways {
    fn serves(&self, _method: &hyper::Method, path: &str) -> bool {
        path.starts_with("/ingress/")
    }

    fn handle(&self, request: Request) -> BoxFuture<'_, Response> {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let path = parts.uri.path().to_string();
            let headers: Vec<(String, Vec<u8>)> = parts
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
                .collect();
            // Well over any translator's webhook limit, so that the gateway
            // itself answers 413 with its own limit.
            let body = match http_body_util::Limited::new(body, 16 << 20).collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => return http::plain(413, "body too large\n"),
            };
            let request = ingest::Request {
                method: parts.method.as_str(),
                query: parts.uri.query().unwrap_or_default(),
                headers: headers.as_slice(),
                body: &body,
            };
            let answer = durable_write(|| self.ingest(&path, &request));
            if let Some(pipeline) = &self.pipeline
                && (200..300).contains(&answer.status)
            {
                pipeline.wake();
            }
            let mut response = http::plain(answer.status, &answer.body);
            if let Ok(value) = hyper::header::HeaderValue::from_str(answer.content_type) {
                response
                    .headers_mut()
                    .insert(hyper::header::CONTENT_TYPE, value);
            }
            response
        })
    }
}

impl RouterStage for NativeRouter {
    fn instantiate<'a>(
        &'a self,
        store: &'a Arc<EmbeddedStore>,
        writes: &'a Arc<HeldWrites>,
    ) -> BoxFuture<'a, Result<Box<dyn RouterInstance>>> {
        let instance = NativeRouterInstance {
            writes: writes.buffer_for(store),
            settings: self.settings.clone(),
        };
        Box::pin(async move { Ok(Box::new(instance) as Box<dyn RouterInstance>) })
    }
}

impl RouterInstance for NativeRouterInstance {
    fn route<'a>(
        &'a mut self,
        envelope: &'a host::Envelope,
    ) -> BoxFuture<'a, Result<Result<Vec<host_native::Delivery>, host_native::RouteError>>> {
        let envelope: model::Envelope = convert(envelope);
        let facts = directory(self.writes.as_ref(), &self.settings);
        let now_ms = switchboard_pipeline::clock::now_ms();
        let routed = match router::route(&facts, &envelope, now_ms) {
            Ok(deliveries) => Ok(deliveries.iter().map(delivery).collect()),
            Err(router::RouteError::NoConversation(address)) => {
                Err(host_native::RouteError::NoConversation(convert(&address)))
            }
            Err(router::RouteError::UnknownRecipient(address)) => {
                Err(host_native::RouteError::UnknownRecipient(convert(&address)))
            }
            Err(router::RouteError::UnknownMessage(unmapped)) => Err(
                host_native::RouteError::UnknownMessage(host_native::UnmappedReference {
                    native_id: unmapped.native_id,
                    deliverable: unmapped.deliverable.iter().map(delivery).collect(),
                }),
            ),
        };
        Box::pin(async move { Ok(routed) })
    }

    fn check<'a>(
        &'a mut self,
        envelope: &'a host::Envelope,
        recipient: &'a host::Address,
    ) -> BoxFuture<'a, Result<host_native::Verdict>> {
        let envelope: model::Envelope = convert(envelope);
        let recipient: model::Address = convert(recipient);
        let facts = directory(self.writes.as_ref(), &self.settings);
        let now_ms = switchboard_pipeline::clock::now_ms();
        let verdict = match router::check(&facts, &envelope, &recipient, now_ms) {
            router::Verdict::Deliver => host_native::Verdict::Deliver,
            router::Verdict::Hold(reason) => host_native::Verdict::Hold(reason),
            router::Verdict::Reject(rejection) => {
                host_native::Verdict::Reject(host_native::Rejection {
                    reason: match rejection.reason {
                        router::RejectionReason::NoConversation => {
                            host_native::RejectionReason::NoConversation
                        }
                        router::RejectionReason::NoConsent => {
                            host_native::RejectionReason::NoConsent
                        }
                        router::RejectionReason::Blocked => host_native::RejectionReason::Blocked,
                        router::RejectionReason::MarketingWithoutOptIn => {
                            host_native::RejectionReason::MarketingWithoutOptIn
                        }
                        router::RejectionReason::OptedOut => host_native::RejectionReason::OptedOut,
                        router::RejectionReason::RateLimited => {
                            host_native::RejectionReason::RateLimited
                        }
                    },
                    detail: rejection.detail,
                })
            }
        };
        Box::pin(async move { Ok(verdict) })
    }
}

impl TranslatorStage for NativeTranslators {
    fn encode(
        &self,
        envelope: &host::Envelope,
        sender: &host::Address,
        recipient: &host::Address,
    ) -> Result<Encoded, EncodeFailure> {
        let envelope: model::Envelope = convert(envelope);
        let sender: model::Address = convert(sender);
        let to: model::Address = convert(recipient);
        // Each translator crate has its own bindings of the `translator`
        // interface: the same fields under different type names.
        macro_rules! encode_with {
            ($translator:ident) => {
                $translator::encode(&envelope, &sender, &to).map(|encoded| Encoded {
                    requests: encoded
                        .requests
                        .into_iter()
                        .map(|request| SendRequest {
                            method: match request.method {
                                $translator::HttpMethod::Get => HttpMethod::Get,
                                $translator::HttpMethod::Post => HttpMethod::Post,
                                $translator::HttpMethod::Put => HttpMethod::Put,
                                $translator::HttpMethod::Delete => HttpMethod::Delete,
                            },
                            path: request.path,
                            headers: request.headers,
                            body: request.body,
                        })
                        .collect(),
                    degradations: encoded
                        .degradations
                        .into_iter()
                        .map(|degradation| Degradation {
                            rule: degradation.rule,
                            detail: degradation.detail,
                        })
                        .collect(),
                })
            };
        }
        let encoded = match recipient.platform.as_str() {
            "whatsapp" => encode_with!(translator_whatsapp),
            "messenger" => encode_with!(translator_messenger),
            "instagram" => encode_with!(translator_instagram),
            _ => return Err(EncodeFailure::NotConnected),
        };
        encoded.map_err(|error| EncodeFailure::Refused(convert(&error)))
    }

    fn sent_message_id(&self, platform: &str, response_body: &[u8]) -> Option<String> {
        match platform {
            "whatsapp" => translator_whatsapp::sent_message_id(response_body),
            "messenger" => translator_messenger::sent_message_id(response_body),
            "instagram" => translator_instagram::sent_message_id(response_body),
            _ => None,
        }
    }

    fn platforms(&self) -> Vec<String> {
        ["whatsapp", "messenger", "instagram"]
            .map(String::from)
            .to_vec()
    }

    /// Meta's Graph API takes the token as a bearer header, as the
    /// components' `describe` says.
    fn api_auth(&self, platform: &str) -> Option<ApiAuth> {
        matches!(platform, "whatsapp" | "messenger" | "instagram").then_some(ApiAuth::BearerHeader)
    }
}

/// The host's store as the directory's key-value store.
struct StoreKeyValue<'a>(&'a dyn KeyValueView);

impl KeyValue for StoreKeyValue<'_> {
    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        self.0.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.0.set(key, value)
    }
    fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.0.delete(key)
    }
}
