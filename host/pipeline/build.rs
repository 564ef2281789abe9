//! Builds the first-party WebAssembly components so that `cargo build`, `cargo
//! test` and `cargo run` need no manual step, the way wasmtime's test-programs
//! artifacts crate does.
//!
//! All components are built in one nested `cargo build --target wasm32-wasip2
//! --release` into `target/components` (its own target directory, so it never
//! waits on the lock the outer build holds, and is shared by debug, release and
//! clippy builds of the host). Cargo's own incremental build makes a rerun with
//! nothing changed take well under a second.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The component crates the host embeds, by package name.
const COMPONENTS: &[&str] = &[
    "translator-whatsapp",
    "translator-messenger",
    "translator-instagram",
    "stories",
    "sealing",
    "gateway",
    "admin",
    "business",
    "directory",
    "router",
    // Third-party translators built with the plugin kit, for the tests that
    // check them and run them in a pipeline.
    "telegram-translator",
    "matrix-translator",
    // Guests that misbehave on purpose, for the sandbox tests.
    "rogue-translator",
    "clock-translator",
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    // host/pipeline → the workspace root.
    let workspace = manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(Path::new("../.."))
        .to_path_buf();
    let target_dir = workspace.join("target").join("components");
    for watched in ["components", "libs", "plugins", "wit", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    for component in COMPONENTS {
        command.args(["-p", component]);
    }
    // The outer build's settings are for the host, not for the guests: flags,
    // wrappers (clippy-driver) and a forced target dir must not leak in.
    for variable in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(variable);
    }
    let status = command.status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!(
            "building the components failed ({status}); run `cargo build --release --target wasm32-wasip2 {}` to see why (is the target installed? `rustup target add wasm32-wasip2`)",
            COMPONENTS
                .iter()
                .map(|c| format!("-p {c}"))
                .collect::<Vec<_>>()
                .join(" ")
        )),
        Err(error) => fail(&format!(
            "could not run cargo to build the components: {error}"
        )),
    }
    let out = target_dir.join("wasm32-wasip2").join("release");
    println!(
        "cargo:rustc-env=SWITCHBOARD_COMPONENTS_DIR={}",
        out.display()
    );
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
