//! The store data of a pure component instance: an empty WASI context (no
//! environment, no arguments, no files, no network, stdout and stderr captured
//! with a size cap) and a memory limit. Translators, the story planner and the
//! sealer run in one; they import nothing else.

use crate::limits::Limits;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Store data for one sandboxed component instance.
pub struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    stderr: MemoryOutputPipe,
}

impl Sandbox {
    /// An empty sandbox under `limits`.
    pub fn new(limits: &Limits) -> Sandbox {
        let stderr = MemoryOutputPipe::new(limits.output_bytes);
        let wasi = WasiCtx::builder()
            .stdout(MemoryOutputPipe::new(limits.output_bytes))
            .stderr(stderr.clone())
            .build();
        Sandbox {
            wasi,
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(64)
                .trap_on_grow_failure(true)
                .build(),
            stderr,
        }
    }

    /// The memory limiter, for `Store::limiter`.
    pub fn limiter(&mut self) -> &mut StoreLimits {
        &mut self.limits
    }

    /// A store for one sandboxed instance: a fresh sandbox, its memory
    /// limit enforced, its deadline `deadline_ticks` epochs away.
    pub fn store(engine: &Engine, limits: &Limits, deadline_ticks: u64) -> Store<Sandbox> {
        let mut store = Store::new(engine, Sandbox::new(limits));
        store.limiter(|sandbox| sandbox.limiter());
        store.set_epoch_deadline(deadline_ticks);
        store
    }

    /// What the guest wrote to stderr (a panic message, usually), lossily decoded.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
