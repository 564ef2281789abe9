//! The story planner component: loading it and asking it for a plan.
//!
//! Like a translator, the planner is pure (it imports nothing but the canonical
//! types), so it runs under the same import check, memory limit and deadline.

use crate::bindings::planner as bindings;
use crate::plugins::translator::ALLOWED_IMPORTS;
use anyhow::{Context, Result, anyhow};
use switchboard_runtime::engine::Runtime;
use switchboard_runtime::sandbox::Sandbox;

use bindings::StoryPlannerPre;
pub use bindings::exports::switchboard::messaging::stories::{
    Audience, CrossPostSettings, PlannedPost, Story, StoryProfile, TargetOutcome, TargetPlan,
};

/// The story profiles shipped with Switchboard (Instagram Stories, Facebook
/// Stories, WhatsApp Status; sources in `components/stories/profiles.sources.md`),
/// with `overrides` (a JSON list) merged over them field by field, by the
/// stories crate's own rules.
pub fn profiles(overrides: Option<&str>) -> Result<Vec<StoryProfile>> {
    let merged = match overrides {
        Some(text) => ::stories::profiles_from_json(text),
        None => ::stories::try_default_profiles(),
    }
    .map_err(anyhow::Error::msg)?;
    // The same WIT record on both sides of the component boundary, generated
    // twice: its serde form is the bridge.
    serde_json::from_value(serde_json::to_value(merged)?)
        .context("the story profiles do not fit the planner's interface")
}

/// A compiled, pre-linked story planner.
pub struct Planner {
    pre: StoryPlannerPre<Sandbox>,
    limits: switchboard_runtime::limits::Limits,
    deadline_ticks: u64,
}

impl Planner {
    /// Compiles and links the planner component.
    pub fn load(runtime: &Runtime, wasm: &[u8]) -> Result<Planner> {
        let pre = runtime
            .link_pure("story planner", "stories", wasm, ALLOWED_IMPORTS)
            .and_then(|pre| StoryPlannerPre::new(pre).map_err(anyhow::Error::from))?;
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
        let mut store = Sandbox::store(self.pre.engine(), &self.limits, self.deadline_ticks);
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
