//! The per-instance state of a component that runs with Spin's capabilities,
//! and the host side of those capabilities: WASI, `wasi:http`, and Spin's
//! `key-value` and `variables` interfaces, each reaching only what the
//! manifest grants the component ([`Grants`]).
//!
//! [`capability_linker`] is the one place that wires them into a linker;
//! [`link`] composes a manifest component with its dependencies and
//! pre-instantiates it against that linker.

use crate::compose::compose;
use crate::engine::Runtime;
use crate::key_value::{HeldWrites, KeyValueStores, KeyValueView, durable_write};
use crate::limits::Limits;
use crate::manifest::Manifest;
use crate::variables::{self, ComponentVariables};
use anyhow::{Context, Result};
use std::sync::Arc;
use wasmtime::component::{HasSelf, InstancePre, Linker, Resource, ResourceTable};
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Host bindings of Spin's interfaces (shared with the pipeline's router).
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "switchboard:runtime/spin-capabilities",
        path: "wit",
        with: { "fermyon:spin/key-value.store": super::OpenStore },
    });
}

use bindings::fermyon::spin::{key_value, variables as spin_variables};

/// A key-value store a guest has opened.
pub struct OpenStore(Arc<dyn KeyValueView>);

/// The store data of one component instance that runs with the capabilities
/// Spin gives: an HTTP request's component, or a service component the
/// embedder runs (the pipeline's router).
pub struct InstanceState {
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

impl InstanceState {
    /// Fresh state for one instance of a component with `grants`: stderr goes
    /// to the host's, memory is capped at the runtime's limit.
    pub fn new(grants: Arc<Grants>, limits: &Limits) -> InstanceState {
        InstanceState {
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
    linker: &Linker<InstanceState>,
    manifest: &Manifest,
    id: &str,
) -> Result<InstancePre<InstanceState>> {
    let component = runtime.compile(id, &compose(manifest, id)?)?;
    linker
        .instantiate_pre(&component)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("component `{id}` needs something the host does not provide"))
}

/// A linker with everything the host gives components: WASI, `wasi:http`
/// and Spin's key-value and variables.
pub fn capability_linker(runtime: &Runtime) -> Result<Linker<InstanceState>> {
    let mut linker = Linker::<InstanceState>::new(runtime.engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(anyhow::Error::from)?;
    bindings::SpinCapabilities::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)
        .map_err(anyhow::Error::from)?;
    Ok(linker)
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

fn kv_error(error: anyhow::Error) -> key_value::Error {
    key_value::Error::Other(format!("{error:#}"))
}

impl key_value::Host for InstanceState {}

impl key_value::HostStore for InstanceState {
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

impl InstanceState {
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

impl spin_variables::Host for InstanceState {
    fn get(&mut self, name: String) -> Result<String, spin_variables::Error> {
        self.grants
            .variables
            .get(&name)
            .map(str::to_string)
            .ok_or(spin_variables::Error::Undefined(name))
    }
}
