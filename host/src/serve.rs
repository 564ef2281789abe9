//! `switchboard up`: serves the manifest's HTTP routes with its components.
//!
//! Each route's component is composed with its dependencies, compiled (or loaded
//! from the cache) and pre-instantiated once at start-up. Every request gets a
//! fresh instance from the pooling allocator, with its own memory limit and epoch
//! deadline, so a request that traps or loops fails alone (500) while the host
//! goes on. Components reach the outside only through what the manifest grants:
//! their variables and key-value labels.

use crate::compose::compose;
use crate::kv::{HeldWrites, KeyValueStores, KeyValueView};
use crate::manifest::{Manifest, Route};
use crate::runtime::{Limits, Runtime};
use crate::variables::{self, ComponentVariables};
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use wasmtime::component::{HasSelf, InstancePre, Linker, Resource, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Host bindings of Spin's interfaces (shared with the pipeline's router).
#[allow(missing_docs, clippy::all)]
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        world: "switchboard:host/spin-capabilities",
        path: ["../wit", "wit"],
        with: { "fermyon:spin/key-value.store": super::OpenStore },
    });
}

use bindings::fermyon::spin::{key_value, variables as spin_variables};

/// A key-value store a guest has opened.
pub struct OpenStore(Arc<dyn KeyValueView>);

/// Per-request store data for an HTTP component.
pub struct HttpState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    limits: StoreLimits,
    grants: Arc<Grants>,
    /// When set, the guest's writes are held there for the host to commit
    /// (a request's when it is answered, a routing pass's with its outbox).
    held_writes: Option<Arc<HeldWrites>>,
}

/// What the manifest lets one component use.
pub struct Grants {
    variables: ComponentVariables,
    stores: KeyValueStores,
    allowed_stores: Vec<String>,
}

impl HttpState {
    /// Fresh state for one instance of a component with `grants`: stderr goes
    /// to the host's, memory is capped at the runtime's limit.
    pub fn new(grants: Arc<Grants>, limits: &Limits) -> HttpState {
        HttpState {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            grants,
            held_writes: None,
        }
    }

    /// Holds the guest's writes in `writes`, for the host to commit.
    pub fn hold_writes(&mut self, writes: Arc<HeldWrites>) {
        self.held_writes = Some(writes);
    }

    /// The memory limiter, for `Store::limiter`.
    pub fn limiter(&mut self) -> &mut StoreLimits {
        &mut self.limits
    }
}

impl Grants {
    /// What the manifest grants component `id`: its variables and key-value
    /// labels.
    pub fn for_component(
        manifest: &Manifest,
        id: &str,
        stores: &KeyValueStores,
    ) -> Result<Arc<Grants>> {
        let definition = manifest.component(id)?;
        Ok(Arc::new(Grants {
            variables: variables::resolve(manifest, id)?,
            stores: stores.clone(),
            allowed_stores: definition.key_value_stores.clone(),
        }))
    }
}

/// Composes component `id` with the dependencies the manifest gives it,
/// compiles it (or loads it from the cache) and links it against `linker`.
pub fn link(
    runtime: &Runtime,
    linker: &Linker<HttpState>,
    manifest: &Manifest,
    id: &str,
) -> Result<InstancePre<HttpState>> {
    let component = runtime.compile(id, &compose(manifest, id)?)?;
    linker
        .instantiate_pre(&component)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("component `{id}` needs something the host does not provide"))
}

/// A linker with everything the host gives components: WASI, `wasi:http`
/// and Spin's key-value and variables.
pub fn capability_linker(runtime: &Runtime) -> Result<Linker<HttpState>> {
    let mut linker = Linker::<HttpState>::new(runtime.engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(anyhow::Error::from)?;
    bindings::SpinCapabilities::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
        .map_err(anyhow::Error::from)?;
    Ok(linker)
}

impl WasiView for HttpState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HttpState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

/// Runs a write that waits for its commit's flush without holding up the
/// async worker it was called on: the worker's other requests move to
/// another thread meanwhile, so that many requests can wait for the same
/// (group) commit rather than one per worker.
pub(crate) fn durable_write<T>(write: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(write)
}

fn kv_error(error: anyhow::Error) -> key_value::Error {
    key_value::Error::Other(format!("{error:#}"))
}

impl key_value::Host for HttpState {}

impl key_value::HostStore for HttpState {
    fn open(&mut self, label: String) -> Result<Resource<OpenStore>, key_value::Error> {
        if !self.grants.allowed_stores.contains(&label) {
            return Err(key_value::Error::AccessDenied);
        }
        let store = self
            .grants
            .stores
            .get(&label)
            .ok_or(key_value::Error::NoSuchStore)?;
        let store: Arc<dyn KeyValueView> = match &self.held_writes {
            Some(writes) => writes.buffer_for(&store),
            None => store,
        };
        self.table
            .push(OpenStore(store))
            .map_err(|_| key_value::Error::StoreTableFull)
    }

    fn get(
        &mut self,
        this: Resource<OpenStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, key_value::Error> {
        self.store(&this)?.get(&key).map_err(kv_error)
    }

    fn set(
        &mut self,
        this: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), key_value::Error> {
        let store = self.store(&this)?;
        durable_write(|| store.set(&key, &value)).map_err(kv_error)
    }

    fn delete(&mut self, this: Resource<OpenStore>, key: String) -> Result<(), key_value::Error> {
        let store = self.store(&this)?;
        durable_write(|| store.delete(&key)).map_err(kv_error)
    }

    fn exists(&mut self, this: Resource<OpenStore>, key: String) -> Result<bool, key_value::Error> {
        Ok(self.store(&this)?.get(&key).map_err(kv_error)?.is_some())
    }

    fn get_keys(&mut self, this: Resource<OpenStore>) -> Result<Vec<String>, key_value::Error> {
        self.store(&this)?.keys().map_err(kv_error)
    }

    fn drop(&mut self, this: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl HttpState {
    fn store(
        &self,
        handle: &Resource<OpenStore>,
    ) -> Result<Arc<dyn KeyValueView>, key_value::Error> {
        self.table
            .get(handle)
            .map(|open| open.0.clone())
            .map_err(|error| key_value::Error::Other(error.to_string()))
    }
}

impl spin_variables::Host for HttpState {
    fn get(&mut self, name: String) -> Result<String, spin_variables::Error> {
        self.grants
            .variables
            .get(&name)
            .map(str::to_string)
            .ok_or(spin_variables::Error::Undefined(name))
    }
}

/// One served route.
struct RouteHandler {
    /// An exact path, or a prefix when the route ended in `/...`.
    path: String,
    prefix: bool,
    component: String,
    pre: ProxyPre<HttpState>,
    grants: Arc<Grants>,
}

/// The running application: its routes and limits.
pub struct App {
    routes: Vec<RouteHandler>,
    /// Native builds of the ingress stages, for the comparison benchmark only.
    native: Option<Arc<dyn crate::native::NativeStages>>,
    pipeline: Option<Arc<crate::pipeline::Pipeline>>,
    keys: Arc<crate::keydir::KeyDirectory>,
    /// The stories API (`/stories/…`), when the app has a pipeline.
    stories: Option<Arc<crate::story_service::StoryService>>,
    limits: Limits,
    deadline_ticks: u64,
}

impl App {
    /// Loads every HTTP route of the manifest: composes, compiles and links each
    /// component. Any problem stops start-up with the component's name.
    pub fn load(
        runtime: &Runtime,
        manifest: &Manifest,
        stores: &KeyValueStores,
        config: crate::config::HostConfig,
    ) -> Result<App> {
        App::load_with(runtime, manifest, stores, config, None)
    }

    /// [`App::load`], with the ingress, router and translator stages run by
    /// `native` instead of their components: the native build of the same
    /// pipeline that the load benchmark compares against ([`crate::native`]).
    pub fn load_with(
        runtime: &Runtime,
        manifest: &Manifest,
        stores: &KeyValueStores,
        config: crate::config::HostConfig,
        native: Option<Arc<dyn crate::native::NativeStages>>,
    ) -> Result<App> {
        let linker = capability_linker(runtime)?;
        let pipeline = crate::pipeline::Pipeline::load(
            runtime,
            manifest,
            stores,
            &linker,
            config,
            native.clone(),
        )?
        .map(Arc::new);
        let mut routes = Vec::new();
        for trigger in &manifest.app.trigger.http {
            let Route::Path(route) = &trigger.route else {
                continue;
            };
            let id = &trigger.component;
            let pre = link(runtime, &linker, manifest, id)?;
            let pre = ProxyPre::new(pre)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("component `{id}` is not an HTTP component (no wasi:http incoming-handler export)"))?;
            let grants = Grants::for_component(manifest, id, stores)?;
            let (path, prefix) = match route.strip_suffix("/...") {
                Some(prefix) => (prefix.to_string(), true),
                None => (route.clone(), false),
            };
            tracing::info!(route = %route, component = %id, "route ready");
            routes.push(RouteHandler {
                path,
                prefix,
                component: id.clone(),
                pre,
                grants,
            });
        }
        let stories = pipeline
            .as_ref()
            .map(|pipeline| {
                crate::story_service::StoryService::load(runtime, manifest, pipeline.clone())
            })
            .transpose()?
            .map(Arc::new);
        Ok(App {
            routes,
            native,
            stories,
            pipeline,
            keys: crate::keydir::KeyDirectory::load(manifest, stores)?,
            limits: runtime.limits().clone(),
            deadline_ticks: runtime.deadline_ticks(),
        })
    }

    fn route(&self, path: &str) -> Option<&RouteHandler> {
        let exact = self
            .routes
            .iter()
            .find(|route| !route.prefix && route.path == path);
        exact.or_else(|| {
            self.routes
                .iter()
                .filter(|route| {
                    route.prefix
                        && (path == route.path || path.starts_with(&format!("{}/", route.path)))
                })
                .max_by_key(|route| route.path.len())
        })
    }

    /// Serves requests on `listener`, and runs the pipeline, until the
    /// process is stopped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> Result<()> {
        if let Some(pipeline) = &self.pipeline {
            tokio::spawn(pipeline.clone().run());
        }
        loop {
            let (client, peer) = listener.accept().await.context("accept failed")?;
            let app = self.clone();
            tokio::task::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let app = app.clone();
                    async move { Ok::<_, std::convert::Infallible>(app.handle(request).await) }
                });
                if let Err(error) = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(client), service)
                    .await
                {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
            });
        }
    }

    async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<HyperOutgoingBody> {
        let path = request.uri().path().to_string();
        if path == "/healthz" {
            return plain(200, "ok\n");
        }
        if path == "/metrics" {
            let text = match &self.pipeline {
                Some(pipeline) => pipeline.metrics.render(),
                None => String::new(),
            };
            return plain(200, &text);
        }
        if path == "/keys" || path.starts_with("/keys/") {
            return self.keys.handle(request).await;
        }
        if path == "/stories" || path.starts_with("/stories/") {
            return match &self.stories {
                Some(stories) => stories.handle(request).await,
                None => plain(503, "stories need the pipeline (a router component)\n"),
            };
        }
        if let Some(native) = &self.native
            && request.method() == hyper::Method::POST
            && path.starts_with("/ingress/")
        {
            return self.ingest_natively(native.as_ref(), request).await;
        }
        let Some(route) = self.route(&path) else {
            return plain(404, "no route\n");
        };
        let started = std::time::Instant::now();
        let method = request.method().clone();
        match self.call(route, request).await {
            Ok(response) => {
                if let Some(pipeline) = &self.pipeline
                    && response.status().is_success()
                    && (path.starts_with("/ingress/") || path.starts_with("/business/"))
                {
                    pipeline.wake();
                }
                tracing::info!(%method, %path, component = %route.component, status = response.status().as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
                response
            }
            Err(error) => {
                tracing::error!(%method, %path, component = %route.component, error = %format!("{error:#}"), "component failed");
                // The client gets one line (the trap, not the guest's backtrace);
                // the log has the whole chain.
                let reason = match error.downcast_ref::<wasmtime::Trap>() {
                    Some(wasmtime::Trap::Interrupt) => "ran past its deadline".to_string(),
                    Some(trap) => trap.to_string(),
                    None => error.root_cause().to_string(),
                };
                plain(
                    500,
                    &format!("component `{}` failed: {reason}\n", route.component),
                )
            }
        }
    }

    /// A `POST` for the native build of the pipeline ([`crate::native`]).
    async fn ingest_natively(
        &self,
        native: &dyn crate::native::NativeStages,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<HyperOutgoingBody> {
        let path = request.uri().path().to_string();
        let signature = request
            .headers()
            .get("x-hub-signature-256")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string);
        // Well over any translator's webhook limit, so that the stage itself
        // answers 413 with its own limit.
        let body = match http_body_util::Limited::new(request.into_body(), 16 << 20)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(_) => return plain(413, "body too large\n"),
        };
        match durable_write(|| native.ingest(&path, signature.as_deref(), &body)) {
            Some((status, answer)) => {
                if let Some(pipeline) = &self.pipeline
                    && (200..300).contains(&status)
                {
                    pipeline.wake();
                }
                plain(status, &answer)
            }
            None => plain(404, "no native route\n"),
        }
    }

    async fn call(
        &self,
        route: &RouteHandler,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let mut state = HttpState::new(route.grants.clone(), &self.limits);
        let writes = Arc::new(HeldWrites::default());
        state.hold_writes(writes.clone());
        let mut store = Store::new(route.pre.engine(), state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(self.deadline_ticks);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(anyhow::Error::from)?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(anyhow::Error::from)?;
        let pre = route.pre.clone();
        let task = tokio::task::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
        });
        match receiver.await {
            // Durable before it is answered: what the component wrote up to
            // its answer, in one commit per store.
            Ok(Ok(response)) => {
                durable_write(|| writes.commit()).context("cannot commit the request's writes")?;
                Ok(response)
            }
            Ok(Err(code)) => Err(anyhow::anyhow!(
                "component answered with an error: {code:?}"
            )),
            Err(_) => {
                let error = match task.await {
                    Ok(Ok(())) => anyhow::anyhow!("the component never set a response"),
                    Ok(Err(error)) => anyhow::Error::from(error),
                    Err(join) => anyhow::Error::from(join),
                };
                Err(error)
            }
        }
    }
}

fn plain(status: u16, text: &str) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(text.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// Serves `app` on `listen` until the process is interrupted: `switchboard
/// up` once its app is loaded.
pub fn run_until_stopped(app: Arc<App>, listen: SocketAddr) -> Result<()> {
    let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    tokio.block_on(async move {
        let listener = bind(listen).await?;
        tokio::select! {
            result = app.serve(listener) => result,
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("stopping");
                Ok(())
            }
        }
    })
}

/// Binds `listen` and prints where it listens (tests read this line).
pub async fn bind(listen: SocketAddr) -> Result<TcpListener> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    println!("switchboard listening on http://{local}");
    Ok(listener)
}
