//! Switchboard's integration tests, one binary for the whole repository.
//!
//! The first-party components run here as WebAssembly inside the host, exactly
//! as `switchboard` runs them; the same translators are also linked natively, so
//! each test can hold the component's answer against the native build's.

// Test code: a failed expectation is the test failing, with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod fixtures;
mod keys;
mod pipeline;
mod runtime;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use switchboard_pipeline::builtin;
use switchboard_pipeline::plugins::translator::Translator;
use switchboard_runtime::engine::{Runtime, RuntimeOptions};

/// The platforms with a first-party translator.
pub const PLATFORMS: [&str; 3] = ["whatsapp", "messenger", "instagram"];

/// One runtime for the whole test binary, with its compiled-code cache in the
/// test's scratch directory.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let options = RuntimeOptions {
            cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache")),
            ..RuntimeOptions::default()
        };
        Runtime::new(options).expect("the runtime starts")
    })
}

/// The built-in translator for `platform`, loaded once.
pub fn translator(platform: &str) -> &'static Translator {
    static TRANSLATORS: OnceLock<Vec<Translator>> = OnceLock::new();
    TRANSLATORS
        .get_or_init(|| {
            PLATFORMS
                .iter()
                .map(|name| {
                    let component = builtin::translator(name).expect("built in");
                    Translator::load(runtime(), name, component.wasm).expect("translator loads")
                })
                .collect()
        })
        .iter()
        .find(|translator| translator.platform() == platform)
        .expect("a translator for every platform")
}

/// Runs the `switchboard` binary with `args`, feeding `stdin`.
pub fn switchboard(args: &[&str], stdin: &[u8]) -> Output {
    switchboard_running(Path::new("."), args, stdin, &[])
}

/// Runs the `switchboard` binary in the directory `dir`.
pub fn switchboard_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    switchboard_running(dir, args, stdin, &[])
}

/// Runs the `switchboard` binary with `args` and the environment variables
/// `envs`, with no input.
pub fn switchboard_with_env(args: &[&str], envs: &[(&str, &str)]) -> Output {
    switchboard_running(Path::new("."), args, b"", envs)
}

fn switchboard_running(dir: &Path, args: &[&str], stdin: &[u8], envs: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .current_dir(dir)
        .args(args)
        .envs(envs.iter().copied())
        .env(
            "SWITCHBOARD_CACHE_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/cache"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("switchboard runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("stdin written");
    child.wait_with_output().expect("switchboard finishes")
}

/// The repository's root (this binary belongs to `host/cli`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The repository's `tests/fixtures` folder.
pub fn fixtures_dir() -> PathBuf {
    repo_root().join("tests/fixtures")
}

/// A test guest component built by the host's build script.
pub fn test_program(file: &str) -> Vec<u8> {
    let path = Path::new(switchboard_pipeline::builtin::COMPONENTS_DIR).join(file);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}
