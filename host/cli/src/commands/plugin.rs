//! `switchboard plugin new` and `plugin check`: for people writing a
//! translator for another app. `new` writes a translator crate from the
//! kit's template (`switchboard_pdk::template`); `check` runs the
//! conformance kit (`switchboard_pipeline::plugins::conformance`) on a built
//! component and prints its report.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use switchboard_pdk::template;
use switchboard_pipeline::plugins::conformance;
use switchboard_runtime::engine::Runtime;

/// Write and check translator plugins.
#[derive(clap::Subcommand)]
pub enum PluginCommand {
    /// Create a translator crate for the app NAME, from the template.
    New(NewArgs),
    /// Run the conformance kit on a translator component.
    Check(CheckArgs),
}

/// `plugin new`.
#[derive(clap::Args)]
pub struct NewArgs {
    /// The app's platform name: lower-case letters, digits and `-`, starting
    /// with a letter (`telegram`).
    name: String,
    /// Where to create the crate [default: ./NAME]; must be empty or absent.
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// `plugin check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The translator component (`.wasm`).
    plugin: PathBuf,
    /// Sample webhooks (`*.json`) and send-API answers (`responses/*.json`)
    /// [default: the `fixtures/` of the crate the component was built in,
    /// when there is one].
    #[arg(long, value_name = "DIR")]
    fixtures: Option<PathBuf>,
    /// How many mutated inputs to try.
    #[arg(long, value_name = "N", default_value_t = conformance::DEFAULT_MUTATIONS)]
    mutations: u32,
    /// The seed the mutated inputs derive from (to reproduce a failure).
    #[arg(long, default_value_t = conformance::DEFAULT_SEED)]
    seed: u64,
}

/// Runs a `plugin` subcommand; `runtime` is started only for `check`.
pub fn run(command: PluginCommand, runtime: impl FnOnce() -> Result<Runtime>) -> Result<()> {
    match command {
        PluginCommand::New(args) => new(args),
        PluginCommand::Check(args) => check(&runtime()?, args),
    }
}

/// The PDK of the switchboard this binary was built from: its source tree's
/// `libs/pdk`, while it exists.
fn local_pdk() -> Option<PathBuf> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../libs/pdk"))
        .canonicalize()
        .ok()?;
    dir.join("Cargo.toml").is_file().then_some(dir)
}

fn new(args: NewArgs) -> Result<()> {
    if args.name.len() > 32 {
        bail!(
            "`{}` is not a platform name: 32 characters at most",
            args.name
        );
    }
    let dir = args.dir.unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.is_file() {
        bail!(
            "{} is a file: give an empty or new directory",
            dir.display()
        );
    }
    if dir.is_dir()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} is not empty: give an empty or new directory with --dir",
            dir.display()
        );
    }
    let pdk = local_pdk();
    let dependency = match &pdk {
        Some(pdk) => template::path_dependency(pdk),
        None => template::PUBLISHED_DEPENDENCY.to_string(),
    };
    let crate_name = format!("{}-translator", args.name);
    let files = template::render(&template::Values {
        name: &args.name,
        crate_name: &crate_name,
        pdk_dependency: &dependency,
    })
    .map_err(anyhow::Error::from)?;
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }

    let wasm = format!(
        "target/wasm32-wasip2/release/{}.wasm",
        crate_name.replace('-', "_")
    );
    println!(
        "Created {crate_name} in {}: a translator for `{}`.",
        dir.display(),
        args.name
    );
    match &pdk {
        Some(pdk) => println!(
            "It uses the plugin kit at {} (one line in Cargo.toml; once switchboard-pdk is published, `{}`).",
            pdk.display(),
            template::PUBLISHED_DEPENDENCY
        ),
        None => println!(
            "The switchboard source this binary was built from is gone, so it uses the published `{}`.",
            template::PUBLISHED_DEPENDENCY
        ),
    }
    println!();
    println!("Next:");
    println!("  cd {}", dir.display());
    println!("  cargo test                                      # the example's tests, natively");
    println!("  cargo build --release --target wasm32-wasip2    # the component");
    println!("  switchboard plugin check {wasm}");
    println!();
    println!(
        "Then make src/lib.rs speak {}'s formats, with its real webhooks in fixtures/ and send-API answers in fixtures/responses/.",
        args.name
    );
    Ok(())
}

/// The `fixtures/` of the crate a component was built in:
/// `<crate>/target/wasm32-wasip2/release/x.wasm` → `<crate>/fixtures`.
fn crate_fixtures(plugin: &Path) -> Option<PathBuf> {
    let plugin = plugin.canonicalize().ok()?;
    plugin
        .ancestors()
        .skip(1)
        .take(5)
        .find(|dir| dir.join("Cargo.toml").is_file() || dir.join("fixtures").is_dir())
        .map(|dir| dir.join("fixtures"))
        .filter(|fixtures| fixtures.is_dir())
}

fn check(runtime: &Runtime, args: CheckArgs) -> Result<()> {
    let wasm = std::fs::read(&args.plugin)
        .with_context(|| format!("cannot read {}", args.plugin.display()))?;
    let fixtures = args.fixtures.or_else(|| crate_fixtures(&args.plugin));
    println!("checking {}", args.plugin.display());
    if let Some(fixtures) = &fixtures {
        println!("fixtures: {}", fixtures.display());
    }
    let name = args
        .plugin
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let options = conformance::Options {
        fixtures,
        mutations: args.mutations,
        seed: args.seed,
    };
    let report = conformance::check(runtime, &name, &wasm, &options);
    println!("{report}");
    if !report.passed() {
        bail!(
            "{} does not conform: {} check(s) failed",
            args.plugin.display(),
            report.failures()
        );
    }
    Ok(())
}
