//! The `switchboard` command: run the pipeline from a Spin manifest (`up`), and
//! translate webhooks between apps with the translator components (`decode`,
//! `encode`, `translate`), from files or stdin.

use anyhow::{Context, Result, anyhow};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use switchboard::kv::KeyValueStores;
use switchboard::manifest::Manifest;
use switchboard::runtime::{Runtime, RuntimeOptions};
use switchboard::serve::{self, App};
use switchboard::translator::{self, Translator, types};
use switchboard::{builtin, io, stories};

mod crypto_cli;

/// Cross-app messaging on WebAssembly components.
#[derive(Parser)]
#[command(name = "switchboard", version, about)]
struct Cli {
    /// Turn off the compiled-code cache (components are compiled on every run).
    #[arg(long, global = true)]
    no_cache: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the application in a Spin manifest: serve its HTTP routes with its
    /// components, state in the embedded key-value store.
    Up {
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
    },
    /// Story cross-posting.
    Story {
        #[command(subcommand)]
        command: StoryCommand,
    },
    /// Stand in for the platforms' send APIs: print what the pipeline sends
    /// and answer with message ids (the sample `switchboard.toml` points
    /// every platform here).
    Sink {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3001")]
        listen: std::net::SocketAddr,
    },
    /// Load the whole pipeline with signed webhooks and a counting sink:
    /// throughput and latency from webhook to delivery.
    Load(switchboard::load::LoadArgs),
    /// Decode a platform's webhook body into canonical envelopes (JSON).
    Decode {
        /// The platform whose webhook it is.
        #[arg(long)]
        platform: String,
        /// The webhook body; `-` for stdin.
        file: PathBuf,
    },
    /// Encode canonical envelopes (JSON, as `decode` prints) as a platform's
    /// send-API requests.
    Encode {
        /// The platform to send on.
        #[arg(long)]
        platform: String,
        #[command(flatten)]
        accounts: Accounts,
        /// Canonical JSON: an envelope or a list of them; `-` for stdin.
        file: PathBuf,
    },
    /// Decode a webhook from one platform and encode it for another.
    Translate {
        /// The platform the webhook comes from.
        #[arg(long)]
        from: String,
        /// The platform to send on.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        accounts: Accounts,
        /// The webhook body; `-` for stdin.
        file: PathBuf,
    },
    // `keys`, `seal`, `open` and `hpke`: keys and HPKE sealing (crypto_cli.rs).
    #[command(flatten)]
    Crypto(crypto_cli::CryptoCommand),
}

#[derive(Subcommand)]
enum StoryCommand {
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

/// Who sends and receives on the target platform. Without a directory the
/// command cannot know real addresses, so by default it sends from `me` (the
/// Graph API's name for the token's own page or number) to a pseudonym derived
/// from the original sender: never the original id.
#[derive(clap::Args)]
struct Accounts {
    /// The sending account on the target platform (page id, phone number id).
    #[arg(long, default_value = "me")]
    sender: String,
    /// The recipient's id on the target platform.
    #[arg(long)]
    recipient: Option<String>,
}

fn main() -> ExitCode {
    switchboard::init_logging();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    // Started only by the commands that run components: the key, sealing and
    // sink commands need no engine.
    let runtime = || {
        let mut options = RuntimeOptions::from_env();
        if cli.no_cache {
            options.cache_dir = None;
        }
        Runtime::new(options)
    };
    match cli.command {
        Command::Crypto(command) => crypto_cli::run(&command),
        Command::Up {
            manifest,
            listen,
            build,
            runtime_config_file,
            config,
        } => up(
            runtime()?,
            &manifest,
            listen,
            build,
            runtime_config_file.as_deref(),
            config.as_deref(),
        ),
        Command::Story {
            command:
                StoryCommand::Plan {
                    from,
                    settings,
                    profiles,
                    now_ms,
                    story,
                },
        } => story_plan(
            &runtime()?,
            &from,
            &settings,
            profiles.as_deref(),
            now_ms,
            &story,
        ),
        Command::Sink { listen } => tokio::runtime::Runtime::new()
            .context("cannot start the async runtime")?
            .block_on(switchboard::sink::run(listen)),
        Command::Load(args) => switchboard::load::run(args),
        Command::Decode { platform, file } => {
            // Kept alive while the translator runs: it drives the deadlines.
            let runtime = runtime()?;
            let translator = load_translator(&runtime, &platform)?;
            let envelopes = decode(&translator, &file)?;
            print_json(&envelopes)
        }
        Command::Encode {
            platform,
            accounts,
            file,
        } => {
            let runtime = runtime()?;
            let translator = load_translator(&runtime, &platform)?;
            let bytes = io::read_capped(&file, 64 << 20)?;
            let envelopes: Vec<types::Envelope> = io::parse_envelopes(&bytes)?;
            print_json(&encode(&translator, &envelopes, &accounts)?)
        }
        Command::Translate {
            from,
            to,
            accounts,
            file,
        } => {
            let runtime = runtime()?;
            let source = load_translator(&runtime, &from)?;
            let target = load_translator(&runtime, &to)?;
            let envelopes = decode(&source, &file)?;
            print_json(&encode(&target, &envelopes, &accounts)?)
        }
    }
}

fn up(
    runtime: Runtime,
    manifest_path: &Path,
    listen: std::net::SocketAddr,
    build: bool,
    runtime_config: Option<&Path>,
    config_path: Option<&Path>,
) -> Result<()> {
    let manifest = Manifest::load(manifest_path)?;
    let config = match config_path {
        Some(path) => switchboard::config::HostConfig::load(path, true)?,
        None => {
            switchboard::config::HostConfig::load(&manifest.dir.join("switchboard.toml"), false)?
        }
    };
    if build {
        build_components(&manifest)?;
    }
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
    let stores = KeyValueStores::open(runtime_config, &manifest.dir)?;
    let app = std::sync::Arc::new(App::load(&runtime, &manifest, &stores, config)?);
    serve::run_until_stopped(app, listen)
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

fn story_plan(
    runtime: &Runtime,
    from: &str,
    settings: &Path,
    profiles: Option<&Path>,
    now_ms: Option<u64>,
    story: &Path,
) -> Result<()> {
    let read_json = |path: &Path, what: &str| -> Result<serde_json::Value> {
        let bytes = io::read_capped(path, 1 << 20)?;
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
    let now_ms = match now_ms {
        Some(now) => now,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or_default(),
    };
    let planner = stories::Planner::load(runtime, builtin::STORIES.wasm)?;
    print_json(&planner.plan(&story, &settings, &profiles, now_ms)?)
}

fn load_translator(runtime: &Runtime, platform: &str) -> Result<Translator> {
    let component = builtin::translator(platform).ok_or_else(|| {
        anyhow!(
            "no translator for platform `{platform}` (built in: {})",
            builtin::translator_names().join(", ")
        )
    })?;
    Translator::load(runtime, component.name, component.wasm)
}

fn decode(translator: &Translator, file: &Path) -> Result<Vec<types::Envelope>> {
    let body = io::read_capped(file, translator.capabilities().limits.max_webhook_bytes)?;
    let platform = translator.platform();
    translator.instantiate()?.decode(&body)?.map_err(|error| {
        anyhow!(
            "cannot decode {} as a {platform} webhook: {}",
            file.display(),
            translator::describe_decode_error(&error)
        )
    })
}

fn encode(
    translator: &Translator,
    envelopes: &[types::Envelope],
    accounts: &Accounts,
) -> Result<Vec<serde_json::Value>> {
    let platform = translator.platform().to_string();
    let sender = types::Address {
        platform: platform.clone(),
        id: accounts.sender.clone(),
    };
    let mut instance = translator.instantiate()?;
    envelopes
        .iter()
        .map(|envelope| {
            let recipient = types::Address {
                platform: platform.clone(),
                // Without a directory the original sender stands in for the
                // link, so its handle is what the directory would give.
                id: accounts.recipient.clone().unwrap_or_else(|| {
                    let address = &envelope.sender.address;
                    directory_schema::handle_for(
                        &format!("{}:{}", address.platform, address.id),
                        &platform,
                    )
                }),
            };
            let encoded = instance
                .encode(envelope, &sender, &recipient)?
                .map_err(|error| {
                    anyhow!(
                        "cannot encode envelope `{}` for {platform}: {}",
                        envelope.id,
                        translator::describe_encode_error(&error)
                    )
                })?;
            Ok(io::encoded_json(&envelope.id, &platform, &encoded))
        })
        .collect()
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot render JSON")?;
    println!("{text}");
    Ok(())
}
