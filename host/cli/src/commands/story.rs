//! `switchboard story plan`: what the story planner component would publish
//! on each of the author's other apps, as JSON.

use crate::io::{print_json, read_capped};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use switchboard_pipeline::builtin;
use switchboard_pipeline::clock;
use switchboard_pipeline::plugins::planner as stories;
use switchboard_runtime::engine::Runtime;

/// Story cross-posting.
#[derive(clap::Subcommand)]
pub enum StoryCommand {
    /// Print, as JSON, what to publish on each target app for a story.
    Plan {
        /// The platform the story was posted on.
        #[arg(long)]
        from: String,
        /// The author's cross-posting settings (JSON `cross-post-settings`).
        #[arg(long)]
        settings: PathBuf,
        /// Story profiles (JSON list) replacing the built-in ones per platform.
        #[arg(long)]
        profiles: Option<PathBuf>,
        /// Plan as of this time, ms since the epoch (default: now).
        #[arg(long)]
        now_ms: Option<u64>,
        /// The story (JSON `story`); `-` for stdin.
        story: PathBuf,
    },
}

/// Runs a story command.
pub fn run(runtime: &Runtime, command: StoryCommand) -> Result<()> {
    let StoryCommand::Plan {
        from,
        settings,
        profiles,
        now_ms,
        story,
    } = command;
    plan(
        runtime,
        &from,
        &settings,
        profiles.as_deref(),
        now_ms,
        &story,
    )
}

fn plan(
    runtime: &Runtime,
    from: &str,
    settings: &Path,
    profiles: Option<&Path>,
    now_ms: Option<u64>,
    story: &Path,
) -> Result<()> {
    let read_json = |path: &Path, what: &str| -> Result<serde_json::Value> {
        let bytes = read_capped(path, 1 << 20)?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not valid JSON ({what})", path.display()))
    };
    let story: stories::Story = serde_json::from_value(read_json(story, "a story")?)
        .context("the story file is not a canonical story")?;
    if story.author.platform != from {
        anyhow::bail!(
            "the story's author is on `{}`, not `{from}`",
            story.author.platform
        );
    }
    let settings: stories::CrossPostSettings =
        serde_json::from_value(read_json(settings, "settings")?)
            .context("the settings file is not canonical cross-post settings")?;
    let overrides = profiles
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        })
        .transpose()?;
    let profiles = stories::profiles(overrides.as_deref())?;
    let now_ms = now_ms.unwrap_or_else(clock::now_ms);
    let planner = stories::Planner::load(runtime, builtin::STORIES.wasm)?;
    print_json(&planner.plan(&story, &settings, &profiles, now_ms)?)
}
