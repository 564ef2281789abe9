//! The HTTP trigger: serves the manifest's HTTP routes with its components.
//!
//! Each route's component is composed with its dependencies, compiled (or loaded
//! from the cache) and pre-instantiated once at start-up. Every request gets a
//! fresh instance from the pooling allocator, with its own memory limit and epoch
//! deadline, so a request that traps or loops fails alone (500) while the host
//! goes on. Components reach the outside only through what the manifest grants:
//! their variables and key-value labels.
//!
//! The trigger knows no application. An embedder extends it at two points:
//! [`NativeRoute`]s it serves with its own code ahead of the manifest's routes
//! (metrics, a key directory…), and [`CommitHook`]s told when a component's
//! request has been answered and its writes committed (to wake work that
//! reads them).

use crate::engine::{Limits, Runtime};
use crate::instance::{Grants, InstanceState, capability_linker, link};
use crate::key_value::{HeldWrites, KeyValueStores, durable_write};
use crate::manifest::{Manifest, Route};
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpListener;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
pub use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A request as the trigger receives it.
pub type Request = hyper::Request<hyper::body::Incoming>;
/// A response as the trigger sends it.
pub type Response = hyper::Response<HyperOutgoingBody>;
/// A boxed future, for the extension traits' async methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A route the embedder serves with its own code, ahead of the manifest's
/// routes.
pub trait NativeRoute: Send + Sync {
    /// Whether this route answers a request for `method` and `path`.
    fn serves(&self, method: &hyper::Method, path: &str) -> bool;
    /// Answers the request.
    fn handle(&self, request: Request) -> BoxFuture<'_, Response>;
}

/// Told when a component has answered a request and what it wrote up to its
/// answer has been committed.
pub trait CommitHook: Send + Sync {
    /// `path` was answered with `status`, its writes durable.
    fn committed(&self, path: &str, status: u16);
}

/// One served route.
struct RouteHandler {
    /// An exact path, or a prefix when the route ended in `/...`.
    path: String,
    prefix: bool,
    component: String,
    pre: ProxyPre<InstanceState>,
    grants: Arc<Grants>,
}

/// The HTTP trigger of a running application: its routes, its extensions
/// and the limits each request's instance gets.
pub struct HttpTrigger {
    routes: Vec<RouteHandler>,
    native_routes: Vec<Arc<dyn NativeRoute>>,
    hooks: Vec<Arc<dyn CommitHook>>,
    limits: Limits,
    deadline_ticks: u64,
}

impl HttpTrigger {
    /// Loads every HTTP route of the manifest: composes, compiles and links each
    /// component. Any problem stops start-up with the component's name.
    pub fn load(
        runtime: &Runtime,
        manifest: &Manifest,
        stores: &KeyValueStores,
    ) -> Result<HttpTrigger> {
        let linker = capability_linker(runtime)?;
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
        Ok(HttpTrigger {
            routes,
            native_routes: Vec::new(),
            hooks: Vec::new(),
            limits: runtime.limits().clone(),
            deadline_ticks: runtime.deadline_ticks(),
        })
    }

    /// Serves `route` natively, ahead of the manifest's routes and of the
    /// native routes added after it.
    pub fn with_native_route(mut self, route: Arc<dyn NativeRoute>) -> HttpTrigger {
        self.native_routes.push(route);
        self
    }

    /// Tells `hook` about every committed component request.
    pub fn with_commit_hook(mut self, hook: Arc<dyn CommitHook>) -> HttpTrigger {
        self.hooks.push(hook);
        self
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

    /// Serves requests on `listener` until the process is stopped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> Result<()> {
        loop {
            let (client, peer) = listener.accept().await.context("accept failed")?;
            let trigger = self.clone();
            tokio::task::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let trigger = trigger.clone();
                    async move { Ok::<_, std::convert::Infallible>(trigger.handle(request).await) }
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

    async fn handle(&self, request: Request) -> Response {
        let path = request.uri().path().to_string();
        if path == "/healthz" {
            return plain(200, "ok\n");
        }
        if let Some(native) = self
            .native_routes
            .iter()
            .find(|route| route.serves(request.method(), &path))
        {
            return native.handle(request).await;
        }
        let Some(route) = self.route(&path) else {
            return plain(404, "no route\n");
        };
        let started = std::time::Instant::now();
        let method = request.method().clone();
        match self.call(route, request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                for hook in &self.hooks {
                    hook.committed(&path, status);
                }
                tracing::info!(%method, %path, component = %route.component, status, elapsed_us = started.elapsed().as_micros() as u64, "request");
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

    async fn call(&self, route: &RouteHandler, request: Request) -> Result<Response> {
        let mut state = InstanceState::new(route.grants.clone(), &self.limits);
        let writes = Arc::new(HeldWrites::default());
        state.hold_writes(writes.clone());
        let mut store = Store::new(route.pre.engine(), state);
        store.limiter(|state| state.limiter());
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

/// A plain-text answer.
pub fn plain(status: u16, text: &str) -> Response {
    let body = Full::new(Bytes::from(text.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// Serves `trigger` on `listen` until the process is interrupted. `start`
/// runs first, inside the async runtime, to spawn the embedder's background
/// work.
pub fn run_until_stopped(
    trigger: Arc<HttpTrigger>,
    listen: SocketAddr,
    start: impl FnOnce(),
) -> Result<()> {
    let tokio = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    tokio.block_on(async move {
        start();
        let listener = bind(listen).await?;
        tokio::select! {
            result = trigger.serve(listener) => result,
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
