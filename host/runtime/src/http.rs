//! The HTTP trigger: serves the manifest's HTTP routes with its components.
//!
//! Each route's component is composed with its dependencies, compiled (or loaded
//! from the cache) and pre-instantiated once at start-up. Every request gets a
//! fresh instance from the pooling allocator, with its own memory limit and epoch
//! deadline, so a request that traps or loops fails alone (500) while the host
//! goes on. Components reach the outside only through what the manifest grants:
//! their variables and key-value labels.
//!
//! # The front door
//!
//! No client, and no crowd of clients, can take the host down or hold its
//! instances ([`FrontDoor`]): connections are capped (more wait in the
//! kernel's backlog) and an accept error is logged and retried, never fatal;
//! a client has a deadline for its request head (which is also how long an
//! idle keep-alive connection lasts) and, separately, for its body (408). A
//! body is read by the host, with its route's limit (413 from
//! `Content-Length` before a byte is read), before any instance is taken;
//! then the embedder's [`RouteGuard`]s may refuse it (a bad signature) still
//! without an instance. Component requests in flight are capped below the
//! instance pool: past the cap, or when the pool is exhausted anyway, the
//! answer is `503` with `Retry-After`, never a `500`.
//!
//! # Extension points
//!
//! The trigger knows no application. An embedder extends it with
//! [`NativeRoute`]s it serves with its own code ahead of the manifest's routes
//! (metrics, a key directory…), [`RouteGuard`]s that check a request before an
//! instance is taken and may answer for a component that failed, and
//! [`CommitHook`]s told when a component's request has been answered and its
//! writes committed (to wake work that reads them).

use crate::engine::Runtime;
use crate::instance::{Grants, InstanceState, capability_linker, link};
use crate::key_value::{HeldWrites, KeyValueStores, durable_write};
use crate::limits::Limits;
use crate::manifest::{Manifest, Route};
use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use serde::Deserialize;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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

/// The head of a request (method, URI, headers) as the guards see it.
pub type RequestHead = hyper::http::request::Parts;

/// What an embedder checks of a request to a component route before an
/// instance is taken for it, and what it makes of a component's failure.
pub trait RouteGuard: Send + Sync {
    /// The most body bytes a request to `component` may carry, where the
    /// embedder knows better than the front door's default (a gateway's
    /// translator declares its platform's webhook limit).
    fn body_limit(&self, _component: &str) -> Option<u64> {
        None
    }

    /// A refusal (status and one line) for a request whose credentials the
    /// embedder can check natively (a webhook signature); `None` lets it
    /// through to the component.
    fn check(&self, _component: &str, _head: &RequestHead, _body: &[u8]) -> Option<(u16, String)> {
        None
    }

    /// After `component` failed (trapped, ran out of memory or time) on a
    /// request: an answer instead of a `500` when the failure belongs to the
    /// request (a body no instance can process) and the embedder has kept it
    /// for inspection, so that the client stops retrying it.
    fn failed(
        &self,
        _component: &str,
        _head: &RequestHead,
        _body: &[u8],
        _reason: &str,
    ) -> Option<(u16, String)> {
        None
    }
}

/// The front door's limits (`[http]` in the host's settings). Times are in
/// milliseconds.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct FrontDoor {
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time a client has to send a request's head; also how long an idle
    /// keep-alive connection is kept.
    pub header_timeout_ms: u64,
    /// Largest request head (request line and headers), at least 8 KiB.
    pub max_header_bytes: usize,
    /// Time a client has to send a request's body once its head is in; past
    /// it the answer is 408 and the connection is closed.
    pub body_timeout_ms: u64,
    /// Largest body a component route takes, unless a guard gives the route
    /// its own limit.
    pub max_body_bytes: u64,
    /// Component requests running at once; past it, 503 with `Retry-After`.
    /// Keep it below what the instance pool holds (512 memories, a few per
    /// composed request) with room for the pipeline's own instances.
    pub max_concurrent_requests: usize,
    /// The `Retry-After` of a 503, in seconds.
    pub retry_after_s: u32,
}

impl Default for FrontDoor {
    fn default() -> Self {
        FrontDoor {
            max_connections: 512,
            header_timeout_ms: 10_000,
            max_header_bytes: 16 << 10,
            body_timeout_ms: 15_000,
            max_body_bytes: 4 << 20,
            max_concurrent_requests: 96,
            retry_after_s: 1,
        }
    }
}

/// Told when a component has answered a request and what it wrote up to its
/// answer has been committed.
pub trait CommitHook: Send + Sync {
    /// `path` was answered with `status`, its writes durable.
    fn committed(&self, path: &str, status: u16);
}

/// One served route.
struct RouteHandler {
    pattern: RoutePattern,
    component: String,
    pre: ProxyPre<InstanceState>,
    grants: Arc<Grants>,
}

/// A manifest route as Spin matches it: an exact path, or a prefix when the
/// route ends in `/...` (which also matches the prefix itself).
#[derive(Clone, Debug, PartialEq, Eq)]
struct RoutePattern {
    path: String,
    prefix: bool,
}

/// The route as the manifest writes it (`/admin/...`): what logs name,
/// never the path, which may carry an account id.
impl std::fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix {
            write!(f, "{}/...", self.path)
        } else {
            f.write_str(&self.path)
        }
    }
}

impl RoutePattern {
    fn parse(route: &str) -> RoutePattern {
        match route.strip_suffix("/...") {
            Some(prefix) => RoutePattern {
                path: prefix.to_string(),
                prefix: true,
            },
            None => RoutePattern {
                path: route.to_string(),
                prefix: false,
            },
        }
    }

    fn matches(&self, path: &str) -> bool {
        if self.prefix {
            path == self.path
                || path
                    .strip_prefix(self.path.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        } else {
            path == self.path
        }
    }
}

/// Which of `patterns` serves `path`: an exact route first, else the longest
/// matching prefix (as Spin's router chooses).
fn best_match(patterns: &[&RoutePattern], path: &str) -> Option<usize> {
    let exact = patterns
        .iter()
        .position(|pattern| !pattern.prefix && pattern.matches(path));
    exact.or_else(|| {
        patterns
            .iter()
            .enumerate()
            .filter(|(_, pattern)| pattern.prefix && pattern.matches(path))
            .max_by_key(|(_, pattern)| pattern.path.len())
            .map(|(index, _)| index)
    })
}

/// The HTTP trigger of a running application: its routes, its extensions
/// and the limits each request's instance gets.
pub struct HttpTrigger {
    routes: Vec<RouteHandler>,
    native_routes: Vec<Arc<dyn NativeRoute>>,
    guards: Vec<Arc<dyn RouteGuard>>,
    hooks: Vec<Arc<dyn CommitHook>>,
    front_door: FrontDoor,
    /// Permits for component requests in flight.
    requests: Arc<Semaphore>,
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
            tracing::info!(route = %route, component = %id, "route ready");
            routes.push(RouteHandler {
                pattern: RoutePattern::parse(route),
                component: id.clone(),
                pre,
                grants,
            });
        }
        let front_door = FrontDoor::default();
        Ok(HttpTrigger {
            routes,
            native_routes: Vec::new(),
            guards: Vec::new(),
            hooks: Vec::new(),
            requests: Arc::new(Semaphore::new(front_door.max_concurrent_requests)),
            front_door,
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

    /// Serves with `front_door`'s limits instead of the defaults.
    pub fn with_front_door(mut self, front_door: FrontDoor) -> HttpTrigger {
        self.requests = Arc::new(Semaphore::new(front_door.max_concurrent_requests));
        self.front_door = front_door;
        self
    }

    /// Asks `guard` about every request to a component route.
    pub fn with_guard(mut self, guard: Arc<dyn RouteGuard>) -> HttpTrigger {
        self.guards.push(guard);
        self
    }

    /// Tells `hook` about every committed component request.
    pub fn with_commit_hook(mut self, hook: Arc<dyn CommitHook>) -> HttpTrigger {
        self.hooks.push(hook);
        self
    }

    fn route(&self, path: &str) -> Option<&RouteHandler> {
        let patterns: Vec<&RoutePattern> = self.routes.iter().map(|route| &route.pattern).collect();
        best_match(&patterns, path).map(|index| &self.routes[index])
    }

    /// Serves requests on `listener` until the process is stopped. An
    /// accept error (out of file descriptors, say) is logged and retried.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> Result<()> {
        let connections = Arc::new(Semaphore::new(self.front_door.max_connections.max(1)));
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_millis(self.front_door.header_timeout_ms))
            .max_buf_size(self.front_door.max_header_bytes.max(8 << 10))
            .keep_alive(true);
        loop {
            let Ok(permit) = connections.clone().acquire_owned().await else {
                return Ok(());
            };
            let (client, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let trigger = self.clone();
            let connection = builder.clone();
            tokio::task::spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |request| {
                    let trigger = trigger.clone();
                    async move { Ok::<_, std::convert::Infallible>(trigger.handle(request).await) }
                });
                if let Err(error) = connection
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
        let (head, body) = request.into_parts();
        let body = match self.read_body(route, &head, body).await {
            Ok(body) => body,
            Err(refusal) => return refusal,
        };
        for guard in &self.guards {
            if let Some((status, line)) = guard.check(&route.component, &head, &body) {
                tracing::info!(method = %head.method, route = %route.pattern, component = %route.component, status, "refused before an instance");
                return plain(status, &format!("{line}\n"));
            }
        }
        let Ok(permit) = self.requests.clone().try_acquire_owned() else {
            tracing::warn!(method = %head.method, route = %route.pattern, component = %route.component, "busy: every request slot is taken");
            return self.busy();
        };
        match self.call(route, &head, body.clone(), permit).await {
            Ok(response) => {
                let status = response.status().as_u16();
                for hook in &self.hooks {
                    hook.committed(&path, status);
                }
                tracing::info!(method = %head.method, route = %route.pattern, component = %route.component, status, elapsed_us = started.elapsed().as_micros() as u64, "request");
                response
            }
            Err(CallFailure::Busy) => {
                tracing::warn!(method = %head.method, route = %route.pattern, component = %route.component, "busy: the instance pool is exhausted");
                self.busy()
            }
            Err(CallFailure::Host(error)) => {
                tracing::error!(method = %head.method, route = %route.pattern, component = %route.component, error = %format!("{error:#}"), "request failed in the host");
                plain(
                    500,
                    &format!(
                        "the host could not serve this request: {}\n",
                        error.root_cause()
                    ),
                )
            }
            Err(CallFailure::Guest(error)) => {
                tracing::error!(method = %head.method, route = %route.pattern, component = %route.component, error = %format!("{error:#}"), "component failed");
                // The client gets one line (the trap, not the guest's backtrace);
                // the log has the whole chain.
                let reason = match error.downcast_ref::<wasmtime::Trap>() {
                    Some(wasmtime::Trap::Interrupt) => "ran past its deadline".to_string(),
                    Some(trap) => trap.to_string(),
                    None => error.root_cause().to_string(),
                };
                let reason = format!("component `{}` failed: {reason}", route.component);
                // The request's own doing (out of memory or time on its
                // body): a guard may keep it and answer for it.
                for guard in &self.guards {
                    if let Some((status, line)) =
                        guard.failed(&route.component, &head, &body, &reason)
                    {
                        return plain(status, &format!("{line}\n"));
                    }
                }
                plain(500, &format!("{reason}\n"))
            }
        }
    }

    /// Reads a component route's body in the host: refused with 413 over the
    /// route's limit (from `Content-Length`, before reading, when it is
    /// given) and with 408 when it does not arrive within the body deadline.
    async fn read_body(
        &self,
        route: &RouteHandler,
        head: &RequestHead,
        body: hyper::body::Incoming,
    ) -> Result<Bytes, Response> {
        let limit = self
            .guards
            .iter()
            .filter_map(|guard| guard.body_limit(&route.component))
            .min()
            .unwrap_or(self.front_door.max_body_bytes);
        let too_large = || plain(413, &format!("request body over the {limit}-byte limit\n"));
        let declared = head
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if let Some(length) = declared.filter(|length| *length > limit) {
            // Read to the end and dropped, when that is cheap, so that the
            // client can finish sending and read its 413 rather than a reset.
            if length <= limit.saturating_mul(2).clamp(1 << 20, MAX_DRAINED_BYTES) {
                let drained = tokio::time::timeout(
                    Duration::from_millis(self.front_door.body_timeout_ms),
                    drain(body),
                )
                .await;
                if drained.is_ok() {
                    return Err(too_large());
                }
            }
            return Err(closing(too_large()));
        }
        let deadline = Duration::from_millis(self.front_door.body_timeout_ms);
        let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
        match tokio::time::timeout(deadline, limited.collect()).await {
            Err(_) => {
                tracing::info!(route = %route.pattern, "request body not received in time");
                Err(closing(plain(
                    408,
                    &format!(
                        "request body not received within {} ms\n",
                        deadline.as_millis()
                    ),
                )))
            }
            Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
                Err(closing(too_large()))
            }
            Ok(Err(error)) => Err(closing(plain(
                400,
                &format!("cannot read the request body: {error}\n"),
            ))),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
        }
    }

    /// `503` with `Retry-After`: the request may be sent again shortly.
    fn busy(&self) -> Response {
        let mut response = plain(503, "busy: try again shortly\n");
        response.headers_mut().insert(
            hyper::header::RETRY_AFTER,
            hyper::header::HeaderValue::from(self.front_door.retry_after_s),
        );
        response
    }

    /// Runs `route`'s component on the request, holding `permit` until the
    /// instance is done (which may be after it has answered).
    async fn call(
        &self,
        route: &RouteHandler,
        head: &RequestHead,
        body: Bytes,
        permit: OwnedSemaphorePermit,
    ) -> Result<Response, CallFailure> {
        let mut request = hyper::Request::new(Full::new(body));
        *request.method_mut() = head.method.clone();
        *request.uri_mut() = head.uri.clone();
        *request.version_mut() = head.version;
        *request.headers_mut() = head.headers.clone();
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
            .map_err(|error| CallFailure::Host(error.into()))?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|error| CallFailure::Host(error.into()))?;
        let pre = route.pre.clone();
        let task = tokio::task::spawn(async move {
            let _permit = permit;
            let proxy = pre
                .instantiate_async(&mut store)
                .await
                .map_err(|error| CallFailure::instantiation(error.into()))?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
                .map_err(|error| CallFailure::Guest(error.into()))
        });
        match receiver.await {
            // Durable before it is answered: what the component wrote up to
            // its answer, in one commit per store.
            Ok(Ok(response)) => {
                durable_write(|| writes.commit())
                    .context("cannot commit the request's writes")
                    .map_err(CallFailure::Host)?;
                Ok(response)
            }
            Ok(Err(code)) => Err(CallFailure::Guest(anyhow::anyhow!(
                "component answered with an error: {code:?}"
            ))),
            Err(_) => Err(match task.await {
                Ok(Ok(())) => {
                    CallFailure::Guest(anyhow::anyhow!("the component never set a response"))
                }
                Ok(Err(failure)) => failure,
                Err(join) => CallFailure::Host(anyhow::Error::from(join)),
            }),
        }
    }
}

/// Why a component request got no answer from its component.
enum CallFailure {
    /// No instance could be had: the pool is full. Nobody's fault; retry.
    Busy,
    /// The host failed (an instance it could not create for another
    /// reason, a commit that failed): a 5xx, the client retries.
    Host(anyhow::Error),
    /// The component failed on the request: a trap, memory past its limit,
    /// its deadline, no answer.
    Guest(anyhow::Error),
}

impl CallFailure {
    fn instantiation(error: anyhow::Error) -> CallFailure {
        if is_pool_exhausted(&error) {
            CallFailure::Busy
        } else {
            CallFailure::Host(error)
        }
    }
}

/// Most bytes of an oversized body read and dropped so that its client gets
/// its 413; beyond it the connection is closed at once.
const MAX_DRAINED_BYTES: u64 = 16 << 20;

/// Reads a body to its end, keeping nothing.
async fn drain(mut body: hyper::body::Incoming) {
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            return;
        }
    }
}

/// Whether `error` is the instance pool having no free slot: the request may
/// be retried, it did nothing wrong.
fn is_pool_exhausted(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
            .is_some()
            || cause.to_string().contains("maximum concurrent limit")
    })
}

/// `response`, with the connection closed after it: what is left of the
/// request's body is not worth reading.
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::engine::RuntimeOptions;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn an_exact_route_wins_then_the_longest_prefix() {
        let routes = [
            RoutePattern::parse("/admin/..."),
            RoutePattern::parse("/admin/audit"),
            RoutePattern::parse("/..."),
            RoutePattern::parse("/admin/keys/..."),
        ];
        let patterns: Vec<&RoutePattern> = routes.iter().collect();
        assert_eq!(best_match(&patterns, "/admin/audit"), Some(1));
        assert_eq!(best_match(&patterns, "/admin/audit/x"), Some(0));
        assert_eq!(best_match(&patterns, "/admin"), Some(0));
        assert_eq!(best_match(&patterns, "/admin/keys/1"), Some(3));
        assert_eq!(best_match(&patterns, "/other"), Some(2));
        // A prefix matches at a path segment, not inside one.
        assert_eq!(best_match(&patterns[..2], "/administrator"), None);
    }

    /// Answers `GET /hello` natively and counts nothing else.
    struct Hello;

    impl NativeRoute for Hello {
        fn serves(&self, method: &hyper::Method, path: &str) -> bool {
            method == hyper::Method::GET && path == "/hello"
        }
        fn handle(&self, _request: Request) -> BoxFuture<'_, Response> {
            Box::pin(async { plain(200, "native\n") })
        }
    }

    /// Counts what it is told.
    #[derive(Default)]
    struct Counting(AtomicUsize);

    impl CommitHook for Counting {
        fn committed(&self, _path: &str, _status: u16) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A manifest with no HTTP components: what is left is the trigger's own
    /// routes and the embedder's.
    fn empty_app() -> (Runtime, Manifest, KeyValueStores) {
        let dir = std::env::temp_dir().join(format!("switchboard-http-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("spin.toml"),
            "spin_manifest_version = 2\n[application]\nname = \"empty\"\n",
        )
        .unwrap();
        let manifest = Manifest::load(&dir.join("spin.toml")).unwrap();
        let stores = KeyValueStores::open(None, &dir).unwrap();
        let options = RuntimeOptions {
            cache_dir: None,
            ..RuntimeOptions::default()
        };
        (Runtime::new(options).unwrap(), manifest, stores)
    }

    async fn get(address: SocketAddr, path: &str) -> (u16, String) {
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header("host", "localhost")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn native_routes_answer_and_unknown_paths_are_404() {
        let (runtime, manifest, stores) = empty_app();
        let hook = Arc::new(Counting::default());
        let trigger = HttpTrigger::load(&runtime, &manifest, &stores)
            .unwrap()
            .with_native_route(Arc::new(Hello))
            .with_commit_hook(hook.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(Arc::new(trigger).serve(listener));
        assert_eq!(get(address, "/healthz").await, (200, "ok\n".into()));
        assert_eq!(get(address, "/hello").await, (200, "native\n".into()));
        assert_eq!(get(address, "/nowhere").await.0, 404);
        // Hooks are for committed component requests: none ran here.
        assert_eq!(hook.0.load(Ordering::SeqCst), 0);
    }
}
