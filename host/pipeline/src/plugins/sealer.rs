//! The sealing component run the way a client in another language would run
//! it (world `sealer`, no capabilities but WASI's clock and random source),
//! under the runtime's memory limit and deadline: one place that links and
//! instantiates it, for the sealing benchmark and the component's tests.

use crate::builtin;
use anyhow::Result;
use switchboard_runtime::engine::Runtime;
use switchboard_runtime::sandbox::Sandbox;
use wasmtime::Store;

pub use crate::bindings::sealer as bindings;
pub use bindings::Sealer;

/// A fresh instance of the built-in sealing component in a store of its own,
/// its deadline set to the runtime's.
pub fn instantiate(runtime: &Runtime) -> Result<(Store<Sandbox>, Sealer)> {
    let pre = runtime.link_pure(
        "sealing component",
        builtin::SEALING.name,
        builtin::SEALING.wasm,
        &["wasi:"],
    )?;
    let pre = bindings::SealerPre::new(pre)?;
    let mut store = Sandbox::store(runtime.engine(), runtime.limits(), runtime.deadline_ticks());
    let sealer = pre.instantiate(&mut store)?;
    Ok((store, sealer))
}
