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
            tracing::info!(route = %route, component = %id, "route ready");
            routes.push(RouteHandler {
                pattern: RoutePattern::parse(route),
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
        let patterns: Vec<&RoutePattern> = self.routes.iter().map(|route| &route.pattern).collect();
        best_match(&patterns, path).map(|index| &self.routes[index])
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
