//! The pipeline's stages that run as components — the router (policy and
//! routing over the directory) and the translators — behind traits, so that
//! the same pipeline runs them as WebAssembly or, for the comparison
//! benchmark only, as native code (`examples/native-pipeline.rs`). The
//! pipeline never asks which it has.

pub use crate::bindings::router::exports::switchboard::messaging::policy::{
    Rejection, RejectionReason, Verdict,
};
pub use crate::bindings::router::exports::switchboard::messaging::router::{
    Delivery, RouteError, UnmappedReference,
};
use crate::bindings::router::{PipelineRouter, PipelineRouterPre};
use crate::bindings::types::{Address, EncodeError, Envelope};
use crate::plugins::translator::{
    ApiAuth, CallError, Capabilities, Encoded, MediaError, MediaStep, Translator,
};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use switchboard_runtime::engine::Runtime;
use switchboard_runtime::http::BoxFuture;
use switchboard_runtime::instance::{Grants, InstanceState, link};
use switchboard_runtime::key_value::{EmbeddedStore, HeldWrites, KeyValueStores};
use switchboard_runtime::limits::Limits;
use switchboard_runtime::manifest::{Dependency, Manifest};
use wasmtime::Store;
use wasmtime::component::Linker;

/// The router stage: gives an instance for one routing pass.
pub trait RouterStage: Send + Sync {
    /// An instance whose directory writes (to `store`) are held in `writes`,
    /// for the pass to commit with its outbox entries.
    fn instantiate<'a>(
        &'a self,
        store: &'a Arc<EmbeddedStore>,
        writes: &'a Arc<HeldWrites>,
    ) -> BoxFuture<'a, Result<Box<dyn RouterInstance>>>;
}

/// One router instance: routes and judges envelopes. An `Err` is the
/// instance failing (a trap, its deadline); the pass then takes a new one.
pub trait RouterInstance: Send {
    /// Where `envelope` goes: one delivery per recipient.
    fn route<'a>(
        &'a mut self,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<Result<Vec<Delivery>, RouteError>>>;

    /// Whether `envelope` may go to `recipient`.
    fn check<'a>(
        &'a mut self,
        envelope: &'a Envelope,
        recipient: &'a Address,
    ) -> BoxFuture<'a, Result<Verdict>>;
}

/// Why an envelope could not be encoded for a recipient.
pub enum EncodeFailure {
    /// No translator for the recipient's platform.
    NotConnected,
    /// The translator failed on this envelope (a trap, its deadline).
    Failed(String),
    /// No translator instance could be had (the pool is exhausted, memory
    /// ran out): nothing is wrong with the envelope; try again later.
    Unavailable(String),
    /// The translator refused the envelope.
    Refused(EncodeError),
}

/// The translator stage: encoding for the target and reading send answers.
pub trait TranslatorStage: Send + Sync {
    /// `envelope` as `recipient`'s platform's send-API requests, from `sender`.
    fn encode(
        &self,
        envelope: &Envelope,
        sender: &Address,
        recipient: &Address,
    ) -> Result<Encoded, EncodeFailure>;

    /// The platform's id for a sent message, from its send API's answer.
    fn sent_message_id(&self, platform: &str, response_body: &[u8]) -> Option<String>;

    /// The platforms it can encode for.
    fn platforms(&self) -> Vec<String>;

    /// How `platform`'s API takes the access token (the translator's
    /// `api-auth`); `None` when no translator serves `platform` (Facebook
    /// Page stories), which the senders take as a bearer header.
    fn api_auth(&self, platform: &str) -> Option<ApiAuth>;
}

/// The import that marks a manifest component as a translator: the gateways
/// depend on translators under this name.
const TRANSLATOR_IMPORT: &str = "switchboard:messaging/translator@0.1.0";

/// The translator components the manifest's gateways depend on, by the
/// platform each describes. Each call gets a fresh instance.
pub struct ComponentTranslators {
    translators: BTreeMap<String, Translator>,
    /// The platform of the translator in each file.
    by_path: BTreeMap<PathBuf, String>,
}

/// What a manifest's translators offer for one platform
/// ([`ComponentTranslators::lookup`]).
pub struct PlatformLookup {
    /// The translator that describes the platform, if one does.
    pub translator: Option<Translator>,
    /// The platforms of the translators loaded on the way: all of the
    /// manifest's when none matched.
    pub platforms: Vec<String>,
    /// The translators that could not be loaded, each with why.
    pub unusable: Vec<String>,
}

/// The translator each gateway of the manifest imports: the dependency's
/// name (component id or path) and the file, or why there is none.
fn translator_dependencies(manifest: &Manifest) -> Vec<(String, Result<PathBuf>)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut found = Vec::new();
    for (owner, component) in &manifest.app.component {
        let Some(dependency) = component.dependencies.get(TRANSLATOR_IMPORT) else {
            continue;
        };
        let name = match dependency {
            Dependency::Component { component } => component.clone(),
            Dependency::Path { path } => path.clone(),
            Dependency::Registry(_) => owner.clone(),
        };
        if seen.insert(name.clone()) {
            found.push((
                name,
                manifest.dependency_path(owner, TRANSLATOR_IMPORT, dependency),
            ));
        }
    }
    found
}

fn load_file(runtime: &Runtime, path: &std::path::Path) -> Result<Translator> {
    let wasm = std::fs::read(path)
        .with_context(|| format!("cannot read translator {}", path.display()))?;
    let name = path.file_stem().unwrap_or_default().to_string_lossy();
    Translator::load(runtime, &name, &wasm)
}

impl ComponentTranslators {
    /// The manifest's translator for `platform`, found as `load` finds them
    /// all, for the commands that need one (`switchboard decode --platform`).
    /// Files whose name mentions the platform are tried first, so usually
    /// only one is compiled; a translator that cannot be loaded is skipped
    /// and named in [`PlatformLookup::unusable`].
    pub fn lookup(runtime: &Runtime, manifest: &Manifest, platform: &str) -> PlatformLookup {
        let mut dependencies = translator_dependencies(manifest);
        let mentions = |name: &str, path: &Result<PathBuf>| {
            name.contains(platform)
                || path.as_ref().is_ok_and(|path| {
                    path.file_stem()
                        .is_some_and(|stem| stem.to_string_lossy().contains(platform))
                })
        };
        dependencies.sort_by_key(|(name, path)| !mentions(name, path));
        let mut lookup = PlatformLookup {
            translator: None,
            platforms: Vec::new(),
            unusable: Vec::new(),
        };
        for (name, path) in dependencies {
            match path.and_then(|path| load_file(runtime, &path)) {
                Ok(translator) if translator.platform() == platform => {
                    lookup.platforms.push(platform.to_string());
                    lookup.translator = Some(translator);
                    break;
                }
                Ok(translator) => lookup.platforms.push(translator.platform().to_string()),
                Err(error) => lookup.unusable.push(format!("`{name}`: {error:#}")),
            }
        }
        lookup
    }

    /// Loads every translator the manifest's components import as
    /// `translator` (the same file may serve several gateways).
    pub fn load(runtime: &Runtime, manifest: &Manifest) -> Result<ComponentTranslators> {
        let mut paths = std::collections::BTreeSet::new();
        for (_, path) in translator_dependencies(manifest) {
            paths.insert(path?);
        }
        let mut translators = BTreeMap::new();
        let mut by_path = BTreeMap::new();
        for path in paths {
            let translator = load_file(runtime, &path)?;
            let platform = translator.platform().to_string();
            tracing::info!(path = %path.display(), %platform, "translator ready");
            translators.insert(platform.clone(), translator);
            by_path.insert(path, platform);
        }
        Ok(ComponentTranslators {
            translators,
            by_path,
        })
    }

    /// What the translator that manifest component `id` is composed with
    /// says about itself, when `id` is a gateway (it imports `translator`).
    pub fn of_gateway(&self, manifest: &Manifest, id: &str) -> Result<Option<&Capabilities>> {
        let Some(dependency) = manifest.component(id)?.dependencies.get(TRANSLATOR_IMPORT) else {
            return Ok(None);
        };
        let path = manifest.dependency_path(id, TRANSLATOR_IMPORT, dependency)?;
        Ok(self
            .by_path
            .get(&path)
            .and_then(|platform| self.translators.get(platform))
            .map(Translator::capabilities))
    }

    /// What `platform`'s translator says about itself, if there is one.
    pub fn capabilities(&self, platform: &str) -> Option<&Capabilities> {
        self.translators.get(platform).map(Translator::capabilities)
    }

    /// The next step towards the bytes of `platform`'s media `media_id`
    /// (`fetch-media`), given the previous step's response body; the outer
    /// error is a translator that is missing, trapped or out of time.
    pub fn fetch_media(
        &self,
        platform: &str,
        media_id: &str,
        previous_response: Option<&[u8]>,
    ) -> Result<Result<MediaStep, MediaError>, String> {
        let translator = self
            .translators
            .get(platform)
            .ok_or_else(|| format!("no translator for platform `{platform}`"))?;
        translator
            .instantiate()
            .and_then(|mut instance| instance.fetch_media(media_id, previous_response))
            .map_err(|error| error.to_string())
    }
}

impl TranslatorStage for ComponentTranslators {
    fn encode(
        &self,
        envelope: &Envelope,
        sender: &Address,
        recipient: &Address,
    ) -> Result<Encoded, EncodeFailure> {
        let translator = self
            .translators
            .get(&recipient.platform)
            .ok_or(EncodeFailure::NotConnected)?;
        let failed = |error: CallError| match error {
            CallError::Instantiation { .. } => EncodeFailure::Unavailable(error.to_string()),
            error => EncodeFailure::Failed(error.to_string()),
        };
        translator
            .instantiate()
            .map_err(failed)?
            .encode(envelope, sender, recipient)
            .map_err(failed)?
            .map_err(EncodeFailure::Refused)
    }

    fn sent_message_id(&self, platform: &str, response_body: &[u8]) -> Option<String> {
        let mut instance = self.translators.get(platform)?.instantiate().ok()?;
        instance.sent_message_id(response_body).ok().flatten()
    }

    fn platforms(&self) -> Vec<String> {
        self.translators.keys().cloned().collect()
    }

    fn api_auth(&self, platform: &str) -> Option<ApiAuth> {
        self.capabilities(platform)
            .map(|capabilities| capabilities.api_auth.clone())
    }
}

/// The composed router component, ready to instantiate.
pub struct ComponentRouter {
    pre: PipelineRouterPre<InstanceState>,
    grants: Arc<Grants>,
    limits: Limits,
    deadline_ticks: u64,
}

impl ComponentRouter {
    /// Composes component `id` of the manifest (the router, with the
    /// directory it depends on) and links it with Spin's capabilities.
    pub fn load(
        runtime: &Runtime,
        manifest: &Manifest,
        stores: &KeyValueStores,
        id: &str,
    ) -> Result<ComponentRouter> {
        let mut linker: Linker<InstanceState> =
            switchboard_runtime::instance::capability_linker(runtime)?;
        // The canonical types are an interface of types only: an empty instance.
        linker
            .instance("switchboard:messaging/types@0.1.0")
            .map_err(anyhow::Error::from)?;
        let pre = link(runtime, &linker, manifest, id)?;
        let pre = PipelineRouterPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("component `{id}` does not export `policy` and `router`"))?;
        Ok(ComponentRouter {
            pre,
            grants: Grants::for_component(manifest, id, stores)?,
            limits: runtime.limits().clone(),
            deadline_ticks: runtime.deadline_ticks(),
        })
    }
}

impl RouterStage for ComponentRouter {
    fn instantiate<'a>(
        &'a self,
        _store: &'a Arc<EmbeddedStore>,
        writes: &'a Arc<HeldWrites>,
    ) -> BoxFuture<'a, Result<Box<dyn RouterInstance>>> {
        Box::pin(async move {
            let mut state = InstanceState::new(self.grants.clone(), &self.limits);
            state.hold_writes(writes.clone());
            let mut store = Store::new(self.pre.engine(), state);
            store.limiter(|state| state.limiter());
            store.set_epoch_deadline(self.deadline_ticks);
            let bindings = self.pre.instantiate_async(&mut store).await?;
            Ok(Box::new(ComponentRouterInstance {
                store,
                bindings,
                deadline_ticks: self.deadline_ticks,
            }) as Box<dyn RouterInstance>)
        })
    }
}

/// One instance of the router component, with its store.
struct ComponentRouterInstance {
    store: Store<InstanceState>,
    bindings: PipelineRouter,
    deadline_ticks: u64,
}

impl RouterInstance for ComponentRouterInstance {
    fn route<'a>(
        &'a mut self,
        envelope: &'a Envelope,
    ) -> BoxFuture<'a, Result<Result<Vec<Delivery>, RouteError>>> {
        Box::pin(async move {
            self.store.set_epoch_deadline(self.deadline_ticks);
            self.bindings
                .switchboard_messaging_router()
                .call_route(&mut self.store, envelope)
                .await
                .map_err(anyhow::Error::from)
        })
    }

    fn check<'a>(
        &'a mut self,
        envelope: &'a Envelope,
        recipient: &'a Address,
    ) -> BoxFuture<'a, Result<Verdict>> {
        Box::pin(async move {
            self.store.set_epoch_deadline(self.deadline_ticks);
            self.bindings
                .switchboard_messaging_policy()
                .call_check(&mut self.store, envelope, recipient)
                .await
                .map_err(anyhow::Error::from)
        })
    }
}
