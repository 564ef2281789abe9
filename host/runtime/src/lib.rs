//! Runs Spin applications on wasmtime, and knows no messaging.
//!
//! This crate is the platform under the messaging service: what Spin gives an
//! application, as far as Switchboard uses it, and where later Spin features
//! (outbound HTTP, service chaining, SQLite, other triggers) grow.
//!
//! * [`limits`] — what every instance runs under; [`sandbox`], the store
//!   data of a pure component (no capabilities but an empty WASI);
//!   [`engine`] — the wasmtime engine: pooling allocator, compiled-code
//!   cache, epoch deadlines.
//! * [`manifest`], [`variables`], [`compose`] — the Spin manifest (`spin.toml`),
//!   its variables, and composing a component with its dependencies.
//! * [`key_value`] — the key-value stores (embedded redb, chosen by the
//!   runtime config file as Spin chooses backends), with grouped commits and
//!   held writes.
//! * [`instance`] — the state of an instance that has Spin's capabilities, and
//!   the host side of WASI, `wasi:http`, key-value and variables.
//! * [`http`] — the HTTP trigger: the manifest's routes, with extension
//!   points for an embedder (native routes, a hook on committed requests).
//!
//! Each module imports only the ones listed before it.

#![deny(missing_docs)]

pub mod compose;
pub mod engine;
pub mod http;
pub mod instance;
pub mod key_value;
pub mod limits;
pub mod manifest;
pub mod sandbox;
pub mod variables;

pub use engine::{Runtime, RuntimeOptions};
pub use limits::Limits;

/// Structured logs to stderr, filtered by `RUST_LOG` (`warn` by default):
/// what the `switchboard` binary and the native build of the pipeline both
/// start with, so their logs read alike.
///
/// The HTTP client's own trace level is never on, whatever `RUST_LOG` asks:
/// at trace, `ureq` writes request paths and raw header lines, where an API's
/// credential is (a bot token in the path, an `Authorization` header); up to
/// debug it masks both.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let no_client_trace = tracing_subscriber::filter::filter_fn(|metadata| {
        let target = metadata.target();
        let client =
            target == "ureq" || target.starts_with("ureq::") || target.starts_with("ureq_proto");
        !(client && *metadata.level() == tracing::Level::TRACE)
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .finish()
        .with(no_client_trace)
        .init();
}
