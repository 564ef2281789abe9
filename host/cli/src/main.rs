//! The `switchboard` command: run the pipeline from a Spin manifest (`up`),
//! translate webhooks between apps (`decode`, `encode`, `translate`), plan
//! story cross-posts (`story plan`), fetch a platform's media by id (`media
//! fetch`), keys and sealing (`keys`, `seal`, `open`, `hpke`), dead letters of
//! a running host (`deadletters`), a stand-in for the platforms (`sink`), a
//! load generator (`load`), hostile traffic while conversations flow
//! (`soak`), and the plugin author's kit (`plugin new`, `plugin check`). One
//! file per command under `commands/`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;
use switchboard_runtime::engine::{Runtime, RuntimeOptions};

mod commands;
mod io;

use commands::{crypto, deadletters, load, media, plugin, sink, soak, story, translate, up};

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
    Up(up::UpArgs),
    /// Story cross-posting.
    Story {
        #[command(subcommand)]
        command: story::StoryCommand,
    },
    /// Stand in for the platforms' send APIs: print what the pipeline sends
    /// and answer with message ids (the sample `switchboard.toml` points
    /// every platform here).
    Sink(sink::SinkArgs),
    /// Load the whole pipeline with signed webhooks and a counting sink:
    /// throughput and latency from webhook to delivery.
    Load(load::LoadArgs),
    /// Attack the front door (slowloris, oversized and malformed bodies,
    /// floods of strangers) while conversations flow: what was lost,
    /// duplicated or answered 5xx, peak memory and the store's growth.
    Soak(soak::SoakArgs),
    /// The dead letters of a running host: list them, send them again.
    Deadletters {
        #[command(subcommand)]
        command: deadletters::DeadLettersCommand,
    },
    /// A platform's media ids: fetch one's bytes through its translator.
    Media {
        #[command(subcommand)]
        command: media::MediaCommand,
    },
    /// Write a translator plugin (`plugin new`) and check one against the
    /// conformance kit (`plugin check`).
    Plugin {
        #[command(subcommand)]
        command: plugin::PluginCommand,
    },
    /// Decode a platform's webhook body into canonical envelopes (JSON).
    Decode(translate::DecodeArgs),
    /// Encode canonical envelopes (JSON, as `decode` prints) as a platform's
    /// send-API requests.
    Encode(translate::EncodeArgs),
    /// Decode a webhook from one platform and encode it for another.
    Translate(translate::TranslateArgs),
    // `keys`, `seal`, `open` and `hpke`: keys and HPKE sealing (crypto.rs).
    #[command(flatten)]
    Crypto(crypto::CryptoCommand),
}

fn main() -> ExitCode {
    switchboard_runtime::init_logging();
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
        Command::Crypto(command) => crypto::run(&command),
        Command::Up(args) => up::run(runtime()?, args),
        Command::Story { command } => story::run(&runtime()?, command),
        Command::Sink(args) => sink::run(args),
        Command::Load(args) => load::run(args),
        Command::Soak(args) => soak::run(args),
        Command::Deadletters { command } => deadletters::run(command),
        Command::Media { command } => media::run(&runtime()?, command),
        Command::Plugin { command } => plugin::run(command, runtime),
        // The runtime is kept alive while a translator runs: it drives the
        // deadlines.
        Command::Decode(args) => translate::decode_command(&runtime()?, args),
        Command::Encode(args) => translate::encode_command(&runtime()?, args),
        Command::Translate(args) => translate::translate_command(&runtime()?, args),
    }
}
