//! The story planner component: loading it and asking it for a plan.
//!
//! Like a translator, the planner is pure (it imports nothing but the canonical
//! types), so it runs under the same import check, memory limit and deadline.

use crate::runtime::{Runtime, Sandbox};
use crate::translator::ALLOWED_IMPORTS;
use anyhow::{Context, Result, anyhow};
use wasmtime::Store;
use wasmtime::component::Linker;

#[allow(missing_docs, clippy::all)]
mod bindings {
    wasmtime::component::bindgen!({
        world: "story-planner",
        path: "../wit",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

use bindings::StoryPlannerPre;
pub use bindings::exports::switchboard::messaging::stories::{
    CrossPostSettings, Story, StoryProfile, TargetOutcome,
};

/// The story profiles shipped with Switchboard (Instagram Stories, Facebook
/// Stories, WhatsApp Status), each value with its public source beside it in
/// `components/stories/profiles.sources.md`.
pub const DEFAULT_PROFILES: &str = include_str!("../../components/stories/profiles.json");

/// The default profiles, with any given in `overrides` (a JSON list) replacing
/// the default of the same platform.
pub fn profiles(overrides: Option<&str>) -> Result<Vec<StoryProfile>> {
    let mut profiles: Vec<StoryProfile> = serde_json::from_str(DEFAULT_PROFILES)
        .context("the built-in story profiles are invalid")?;
    if let Some(text) = overrides {
        let custom: Vec<StoryProfile> = serde_json::from_str(text)
            .context("story profiles must be a JSON list of story-profile records")?;
        for profile in custom {
            profiles.retain(|existing| existing.platform != profile.platform);
            profiles.push(profile);
        }
    }
    Ok(profiles)
}

/// A compiled, pre-linked story planner.
pub struct Planner {
    pre: StoryPlannerPre<Sandbox>,
    limits: crate::runtime::Limits,
    deadline_ticks: u64,
}

impl Planner {
    /// Compiles and links the planner component.
    pub fn load(runtime: &Runtime, wasm: &[u8]) -> Result<Planner> {
        let component = runtime.compile("stories", wasm)?;
        runtime.check_imports("story planner", "stories", &component, ALLOWED_IMPORTS)?;
        let mut linker = Linker::<Sandbox>::new(runtime.engine());
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(anyhow::Error::from)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(StoryPlannerPre::new)
            .map_err(anyhow::Error::from)
            .context("failed to link the story planner")?;
        Ok(Planner {
            pre,
            limits: runtime.limits().clone(),
            deadline_ticks: runtime.deadline_ticks(),
        })
    }

    /// Plans the cross-posts of `story` as of `now_ms`, in a fresh instance.
    pub fn plan(
        &self,
        story: &Story,
        settings: &CrossPostSettings,
        profiles: &[StoryProfile],
        now_ms: u64,
    ) -> Result<Vec<TargetOutcome>> {
        let mut store = Store::new(self.pre.engine(), Sandbox::new(&self.limits));
        store.limiter(|sandbox| sandbox.limiter());
        store.set_epoch_deadline(self.deadline_ticks);
        let planner = self
            .pre
            .instantiate(&mut store)
            .map_err(|error| anyhow!("cannot instantiate the story planner: {error:#}"))?;
        planner
            .switchboard_messaging_stories()
            .call_plan(&mut store, story, settings, profiles, now_ms)
            .map_err(|error| {
                anyhow!(
                    "the story planner failed: {error:#} {}",
                    store.data().stderr_text()
                )
            })
    }
}
