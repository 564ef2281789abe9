//! `switchboard media fetch`: one of a platform's media ids turned into bytes
//! through its translator's `fetch-media` hook, with the app's credential —
//! the translators and the access tokens of a Spin manifest, as `up` uses
//! them, and the platform's send API from the host settings.
//!
//! With `--out FILE` the bytes go to the file and a JSON summary (size,
//! media type, SHA-256, steps) to stdout; without, the bytes go to stdout
//! and the summary to stderr. Neither ever holds the token.

use anyhow::{Context, Result, bail};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use switchboard_pipeline::config::HostConfig;
use switchboard_pipeline::credentials::Credential;
use switchboard_pipeline::media::{MediaFetcher, MediaLimits, root_certificates};
use switchboard_pipeline::pipeline::access_token;
use switchboard_pipeline::stages::ComponentTranslators;
use switchboard_runtime::engine::Runtime;
use switchboard_runtime::manifest::Manifest;

/// Media of the platforms' own ids.
#[derive(clap::Subcommand)]
pub enum MediaCommand {
    /// Fetch the bytes of one media id, as the platform's translator says,
    /// with the app's access token.
    Fetch(FetchArgs),
}

/// `media fetch`.
#[derive(clap::Args)]
pub struct FetchArgs {
    /// The platform whose media id it is (`telegram`, `whatsapp`…).
    #[arg(long)]
    platform: String,
    /// The media id, as the platform's webhooks carry it.
    media_id: String,
    /// Write the bytes here (stdout when absent).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The Spin manifest whose translators and variables are used.
    #[arg(long, default_value = "spin.toml")]
    manifest: PathBuf,
    /// The host's settings (the platform's `api_base`, `media_hosts`);
    /// default `switchboard.toml` beside the manifest, if there is one.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The largest file to fetch, in bytes.
    #[arg(long, default_value_t = 100 << 20)]
    max_bytes: u64,
    /// Trust the certificates in this PEM file instead of the built-in
    /// roots (a private CA, a test server).
    #[arg(long)]
    ca_cert: Option<PathBuf>,
}

/// Runs a `media` subcommand.
pub fn run(runtime: &Runtime, command: MediaCommand) -> Result<()> {
    match command {
        MediaCommand::Fetch(args) => fetch(runtime, args),
    }
}

fn fetch(runtime: &Runtime, args: FetchArgs) -> Result<()> {
    let manifest = Manifest::load(&args.manifest)?;
    let config = match &args.config {
        Some(path) => HostConfig::load(path, true)?,
        None => HostConfig::load(&manifest.dir.join("switchboard.toml"), false)?,
    };
    let translators = ComponentTranslators::load(runtime, &manifest)?;
    let Some(capabilities) = translators.capabilities(&args.platform) else {
        bail!(
            "no translator for platform `{}` in {}",
            args.platform,
            args.manifest.display()
        );
    };
    let credential = Credential::new(
        capabilities.api_auth.clone(),
        access_token(&manifest, &config, &args.platform).unwrap_or_default(),
    );
    let roots = match &args.ca_cert {
        Some(path) => {
            let pem =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            Some(root_certificates(&pem).with_context(|| path.display().to_string())?)
        }
        None => None,
    };
    let platform = config.platform(&args.platform);
    let fetcher = MediaFetcher::new(
        &platform.api_base,
        &platform.media_hosts,
        credential,
        MediaLimits {
            max_bytes: args.max_bytes,
            timeout: Duration::from_millis(config.delivery.timeout_ms),
            ..MediaLimits::default()
        },
        roots,
    );
    let media = fetcher.fetch(&args.media_id, |previous| {
        translators.fetch_media(&args.platform, &args.media_id, previous)
    })?;
    let mut summary = json!({
        "platform": args.platform,
        "media_id": args.media_id,
        "bytes": media.bytes.len(),
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "steps": media.steps,
    });
    match &args.out {
        Some(path) => {
            std::fs::write(path, &media.bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            summary["out"] = json!(path.display().to_string());
            println!("{summary:#}");
        }
        None => {
            std::io::stdout()
                .lock()
                .write_all(&media.bytes)
                .context("cannot write the bytes to stdout")?;
            eprintln!("{summary:#}");
        }
    }
    Ok(())
}
