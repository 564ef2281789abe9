//! The Switchboard host: runs the messaging components on wasmtime.
//!
//! The host knows nothing about any messaging app. It loads components (the
//! first-party ones built into the binary by `build.rs`, or any plugin built
//! against `wit/`), runs each call under a memory limit and a deadline, and moves
//! canonical envelopes between them.
//!
//! * [`runtime`] — the wasmtime engine: pooling allocator, compiled-code cache,
//!   epoch deadlines.
//! * [`translator`] — loading translator components and calling them.
//! * [`builtin`] — the components compiled into this binary; [`sealer`], the
//!   sealing component run as a client would run it.
//! * [`io`] — reading inputs with a size cap, and printing canonical JSON.
//! * [`manifest`], [`variables`], [`kv`], [`compose`], [`serve`] — `switchboard
//!   up`: the Spin manifest, its variables, the embedded key-value store,
//!   composition of components with their dependencies, and the HTTP server.
//! * [`pipeline`], [`config`], [`metrics`] — what the host adds to Spin: routing,
//!   policy and durable delivery behind the ingress, its settings
//!   (`switchboard.toml`) and its Prometheus metrics; [`sink`], a stand-in
//!   for the platforms' send APIs when trying it on one machine.
//! * [`native`] — the seam through which the load benchmark runs the same
//!   pipeline with its component stages built natively, for comparison.
//! * [`stories`], [`story_service`] — the story planner component, and the
//!   stories API of `switchboard up`: publishing cross-posts through the
//!   outbox, deleting them with the original, story webhooks.

#![deny(missing_docs)]

pub mod builtin;
pub mod compose;
pub mod config;
pub mod io;
pub mod keydir;
pub mod kv;
pub mod load;
pub mod manifest;
pub mod metrics;
pub mod native;
pub mod pipeline;
pub mod runtime;
pub mod sealer;
pub mod serve;
pub mod sink;
pub mod stories;
pub mod story_service;
pub mod translator;
pub mod variables;

/// Structured logs to stderr, filtered by `RUST_LOG` (`warn` by default):
/// what the `switchboard` binary and the native build of the pipeline both
/// start with, so their logs read alike.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
}
