//! The wasmtime engine every component runs on, and the sandbox each call gets.
//!
//! One [`Runtime`] per process. It owns:
//! * an [`Engine`] with the pooling allocator, so that instantiating a
//!   pre-linked component costs microseconds, not a fresh `mmap` per instance;
//! * wasmtime's compiled-code cache on disk, so a component is compiled by
//!   Cranelift once per version and loaded from the cache on later runs;
//! * an epoch ticker thread: each call gets a deadline in ticks, and a guest that
//!   loops forever traps at the deadline instead of holding a host thread.
//!
//! Pure components (translators, the story planner, the sealer) run in a
//! [`Sandbox`]; HTTP components and the services an embedder runs get an
//! `InstanceState` (the `instance` module, which builds on this one).

use crate::limits::Limits;
use crate::sandbox::Sandbox;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances. Deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Engine settings chosen at start-up.
#[derive(Clone, Debug, Default)]
pub struct RuntimeOptions {
    /// Where compiled code is cached; `None` turns the cache off.
    pub cache_dir: Option<PathBuf>,
    /// Per-instance limits.
    pub limits: Limits,
}

impl RuntimeOptions {
    /// The default: cache under `$SWITCHBOARD_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/switchboard`, else `~/.cache/switchboard`.
    pub fn from_env() -> Self {
        let cache_dir = std::env::var_os("SWITCHBOARD_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("switchboard"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/switchboard"))
            });
        RuntimeOptions {
            cache_dir,
            limits: Limits::default(),
        }
    }
}

/// The shared engine and its epoch ticker.
pub struct Runtime {
    engine: Engine,
    limits: Limits,
    ticker_stop: Arc<AtomicBool>,
}

/// How much of a freed instance's tables stays resident.
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;
/// How much of a freed instance's linear memory is reset in place and stays
/// resident when the kernel has `PAGEMAP_SCAN` (Linux 6.7+): then only the
/// pages the instance dirtied are reset, so this covers a whole small heap
/// for the cost of the pages it touched.
const MEMORY_KEEP_RESIDENT_WITH_PAGEMAP: usize = 2 << 20;
/// The same without `PAGEMAP_SCAN`, where this many bytes are reset every
/// time whether touched or not: only the low pages every instance uses.
const MEMORY_KEEP_RESIDENT_WITHOUT_PAGEMAP: usize = 64 << 10;

impl Runtime {
    /// Builds the engine. Fails only on an unusable cache directory or a host
    /// that cannot reserve the pool's address space.
    pub fn new(options: RuntimeOptions) -> Result<Runtime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(512)
            .total_core_instances(1024)
            .total_memories(512)
            .total_tables(512)
            .max_memory_size(options.limits.memory_bytes)
            .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES);
        // Every message takes fresh instances, so a freed slot's memory is
        // reset in place and stays resident rather than being returned to the
        // kernel (`madvise`, a TLB shootdown) and faulted back in page by page
        // by the next instance: that churn was a fifth of the host's CPU
        // under load (BENCHMARKS.md). Costs the touched pages per warm slot.
        let pagemap = PoolingAllocationConfig::is_pagemap_scan_available();
        if pagemap {
            pool.pagemap_scan(Enabled::Yes)
                .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT_WITH_PAGEMAP);
        } else {
            pool.linear_memory_keep_resident(MEMORY_KEEP_RESIDENT_WITHOUT_PAGEMAP);
        }
        tracing::debug!(pagemap_scan = pagemap, "instance pool configured");

        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        if let Some(dir) = &options.cache_dir {
            let mut cache_config = wasmtime::CacheConfig::new();
            cache_config.with_directory(dir.join("wasmtime"));
            let cache = wasmtime::Cache::new(cache_config)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot use compiled-code cache at {}", dir.display()))?;
            config.cache(Some(cache));
        }
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("cannot create the wasmtime engine")?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let weak_engine = engine.weak();
        let stop = ticker_stop.clone();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .context("cannot start the epoch ticker thread")?;
        Ok(Runtime {
            engine,
            limits: options.limits,
            ticker_stop,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The per-instance limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles (or loads from the cache) a component.
    pub fn compile(&self, name: &str, wasm: &[u8]) -> Result<Component> {
        Component::new(&self.engine, wasm)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("failed to compile component `{name}`"))
    }

    /// Refuses a component that imports anything outside `allowed` (import name
    /// prefixes): a pure component (a translator, the story planner) must not
    /// reach files, sockets, clocks or randomness.
    pub fn check_imports(
        &self,
        kind: &str,
        name: &str,
        component: &Component,
        allowed: &[&str],
    ) -> Result<()> {
        let refused: Vec<String> = component
            .component_type()
            .imports(&self.engine)
            .map(|(import, _)| import.to_string())
            .filter(|import| !allowed.iter().any(|prefix| import.starts_with(prefix)))
            .collect();
        if !refused.is_empty() {
            anyhow::bail!(
                "{kind} `{name}` imports {}; a {kind} may import only the canonical types (and the wasi:io/wasi:cli interfaces the Rust standard library needs), so that it cannot reach files, the network or the clock",
                refused.join(", ")
            );
        }
        Ok(())
    }

    /// Compiles a pure component, refuses it if it imports anything outside
    /// `allowed`, and links it with the WASI its standard library expects:
    /// what a translator and the story planner share.
    pub fn link_pure(
        &self,
        kind: &str,
        name: &str,
        wasm: &[u8],
        allowed: &[&str],
    ) -> Result<InstancePre<Sandbox>> {
        let component = self.compile(name, wasm)?;
        self.check_imports(kind, name, &component, allowed)?;
        let mut linker = Linker::<Sandbox>::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(anyhow::Error::from)?;
        linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("failed to link {kind} `{name}`"))
    }

    /// Ticks in one call's deadline.
    pub fn deadline_ticks(&self) -> u64 {
        (self.limits.call_deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn runtime(call_deadline: Duration) -> Runtime {
        Runtime::new(RuntimeOptions {
            cache_dir: None,
            limits: Limits {
                call_deadline,
                ..Limits::default()
            },
        })
        .unwrap()
    }

    #[test]
    fn a_deadline_is_counted_in_epoch_ticks_and_never_zero() {
        assert_eq!(runtime(Duration::from_secs(2)).deadline_ticks(), 400);
        assert_eq!(runtime(Duration::from_millis(12)).deadline_ticks(), 2);
        // Shorter than a tick: one tick, not an instant trap.
        assert_eq!(runtime(Duration::from_millis(1)).deadline_ticks(), 1);
    }

    #[test]
    fn bytes_that_are_not_a_component_are_refused_with_the_name() {
        let error = runtime(Duration::from_secs(1))
            .compile("translator-broken", b"not wasm")
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("failed to compile component `translator-broken`"),
            "{error:#}"
        );
    }
}
