//! `switchboard up`: runs the application in a Spin manifest — the runtime's
//! HTTP trigger with the messaging service attached — until interrupted.

use anyhow::{Context, Result};
use std::path::PathBuf;
use switchboard_pipeline::config::HostConfig;
use switchboard_pipeline::service::MessagingService;
use switchboard_runtime::engine::Runtime;
use switchboard_runtime::http::HttpTrigger;
use switchboard_runtime::key_value::KeyValueStores;
use switchboard_runtime::manifest::Manifest;

/// Run the application in a Spin manifest: serve its HTTP routes with its
/// components, state in the embedded key-value store.
#[derive(clap::Args)]
pub struct UpArgs {
    /// The Spin manifest.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: std::net::SocketAddr,
    /// Run each component's build command first, as `spin build` does.
    #[arg(long)]
    build: bool,
    /// Spin runtime config (key-value backends), as for `spin up`.
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// The host's own settings (send APIs, retries); default
    /// `switchboard.toml` beside the manifest, if there is one.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Loads the manifest, its settings and stores, and serves it.
pub fn run(runtime: Runtime, args: UpArgs) -> Result<()> {
    let manifest = Manifest::load(&args.manifest)?;
    let config = match &args.config {
        Some(path) => HostConfig::load(path, true)?,
        None => HostConfig::load(&manifest.dir.join("switchboard.toml"), false)?,
    };
    if args.build {
        build_components(&manifest)?;
    }
    warn_about_sample_secrets(&manifest);
    let stores = KeyValueStores::open(args.runtime_config_file.as_deref(), &manifest.dir)?;
    let trigger = HttpTrigger::load(&runtime, &manifest, &stores)?;
    let service = MessagingService::load(&runtime, &manifest, &stores, config)?;
    service.run_until_stopped(trigger, args.listen)
}

/// A secret still at its manifest default is a sample value: say so.
fn warn_about_sample_secrets(manifest: &Manifest) {
    for (name, variable) in &manifest.app.variables {
        let overridden =
            std::env::var_os(format!("SPIN_VARIABLE_{}", name.to_uppercase())).is_some();
        if variable.secret
            && !overridden
            && variable.default.as_deref().is_some_and(|d| !d.is_empty())
        {
            tracing::warn!(variable = %name, "secret uses its sample default from the manifest: set SPIN_VARIABLE_{} in any real deployment", name.to_uppercase());
        }
    }
}

/// Runs every component's `build.command` once, in the manifest's directory, as
/// `spin build` does.
fn build_components(manifest: &Manifest) -> Result<()> {
    let mut done = std::collections::BTreeSet::new();
    for (id, component) in &manifest.app.component {
        let Some(build) = &component.build else {
            continue;
        };
        let workdir = manifest.dir.join(build.workdir.as_deref().unwrap_or("."));
        if !done.insert((workdir.clone(), build.command.clone())) {
            continue;
        }
        eprintln!("building `{id}`: {}", build.command);
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("cannot run the build command of `{id}`"))?;
        if !status.success() {
            anyhow::bail!("building `{id}` failed ({status}): {}", build.command);
        }
    }
    Ok(())
}
