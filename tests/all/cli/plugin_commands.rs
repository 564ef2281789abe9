//! The plugin author's commands as one runs them: `plugin check` on the
//! built-in translators, the Telegram and Matrix plugins and components that
//! are not translators; `plugin new` from an empty directory to a checked
//! component; and the commands that load a plugin (`--translator`, a
//! manifest's gateways, a downloaded source).

use crate::{repo_root, switchboard, switchboard_in};
use std::path::{Path, PathBuf};
use std::process::Output;
use switchboard_pipeline::builtin::COMPONENTS_DIR;

fn component(file: &str) -> String {
    Path::new(COMPONENTS_DIR)
        .join(file)
        .to_string_lossy()
        .into_owned()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A new, empty directory outside the repository.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn check(plugin: &str, fixtures: Option<&Path>, extra: &[&str]) -> Output {
    let mut args = vec!["plugin", "check", plugin];
    let fixtures = fixtures.map(|dir| dir.to_string_lossy().into_owned());
    if let Some(dir) = &fixtures {
        args.extend(["--fixtures", dir.as_str()]);
    }
    args.extend(extra);
    switchboard(&args, b"")
}

fn assert_passes(output: &Output) {
    let report = text(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        text(&output.stderr)
    );
    assert!(!report.contains("FAIL"), "{report}");
    assert!(report.contains("passed: "), "{report}");
}

#[test]
fn plugin_check_passes_on_every_built_in_translator() {
    for (platform, file) in [
        ("whatsapp", "translator_whatsapp.wasm"),
        ("messenger", "translator_messenger.wasm"),
        ("instagram", "translator_instagram.wasm"),
    ] {
        let fixtures = repo_root().join("tests/fixtures").join(platform);
        let output = check(&component(file), Some(&fixtures), &[]);
        assert_passes(&output);
        let report = text(&output.stdout);
        assert!(
            report.contains(&format!("pass  platform: `{platform}`")),
            "{report}"
        );
        assert!(
            report.contains("pass  mutations: 2000 mutated inputs"),
            "{report}"
        );
        // Every webhook fixture was decoded.
        for entry in std::fs::read_dir(&fixtures).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                assert!(
                    report.contains(&format!("pass  decode {name}: ")),
                    "{name}: {report}"
                );
            }
        }
    }
}

#[test]
fn plugin_check_passes_on_the_telegram_and_matrix_plugins() {
    for (plugin, file, answer) in [
        ("telegram", "telegram_translator.wasm", "sendMessage.json"),
        ("matrix", "matrix_translator.wasm", "send.json"),
    ] {
        let fixtures = repo_root().join("plugins").join(plugin).join("fixtures");
        let output = check(&component(file), Some(&fixtures), &[]);
        assert_passes(&output);
        let report = text(&output.stdout);
        assert!(report.contains("pass  text limit: "), "{report}");
        assert!(
            report.contains(&format!("pass  sent-message-id responses/{answer}: `")),
            "{report}"
        );
        assert!(
            report.contains("pass  sent-message-id responses/error.json: no id"),
            "{report}"
        );
    }
}

#[test]
fn plugin_check_fails_the_rogue_translator_with_a_readable_report() {
    // Bodies on which the rogue translator loops, hoards memory and panics,
    // as a plugin author's fixtures would catch them.
    let fixtures = scratch("rogue-fixtures");
    for bug in ["loop", "grow", "panic"] {
        std::fs::write(fixtures.join(format!("{bug}.json")), bug).unwrap();
    }
    let output = check(
        &component("rogue_translator.wasm"),
        Some(&fixtures),
        &["--mutations", "100"],
    );
    assert!(!output.status.success());
    let report = text(&output.stdout);
    assert!(report.contains("pass  imports: "), "{report}");
    assert!(report.contains("note  webhook signature: none"), "{report}");
    assert!(
        report.contains(
            "FAIL  decode loop.json: translator `rogue` did not finish `decode` within its deadline"
        ),
        "{report}"
    );
    assert!(
        report.contains("FAIL  decode grow.json: translator `rogue` trapped in `decode`"),
        "{report}"
    );
    assert!(
        report.contains("FAIL  decode panic.json: translator `rogue` trapped in `decode`"),
        "{report}"
    );
    assert!(
        report.contains("rogue translator panicked on purpose"),
        "{report}"
    );
    assert!(report.contains("\nfailed: "), "{report}");
    let error = text(&output.stderr);
    assert!(error.contains("does not conform: "), "{error}");
    assert_eq!(error.trim().lines().count(), 1, "{error}");
}

#[test]
fn plugin_check_fails_a_component_that_is_not_a_translator() {
    let output = check(&component("sealing.wasm"), None, &[]);
    assert!(!output.status.success());
    let report = text(&output.stdout);
    assert!(report.contains("pass  component: "), "{report}");
    assert!(
        report.contains("FAIL  imports: translator `sealing` imports wasi:random"),
        "{report}"
    );
    assert!(
        report.contains("FAIL  exports: not a translator: it does not export `switchboard:messaging/translator@0.1.0`"),
        "{report}"
    );
}

#[test]
fn plugin_check_fails_a_file_that_is_not_wasm() {
    let dir = scratch("not-wasm");
    let file = dir.join("notes.wasm");
    std::fs::write(&file, "these are notes, not a component").unwrap();
    let output = check(&file.to_string_lossy(), None, &[]);
    assert!(!output.status.success());
    let report = text(&output.stdout);
    assert!(
        report.contains("FAIL  component: not a WebAssembly component: "),
        "{report}"
    );
    let missing = check("/nonexistent/plugin.wasm", None, &[]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).starts_with("error: cannot read /nonexistent/plugin.wasm"),
        "{}",
        text(&missing.stderr)
    );
}

#[test]
fn plugin_new_refuses_a_bad_name_and_a_non_empty_directory() {
    let dir = scratch("plugin-new-refusals");
    let output = switchboard_in(&dir, &["plugin", "new", "Tele Gram"], b"");
    assert!(!output.status.success());
    assert_eq!(
        text(&output.stderr).trim(),
        "error: `Tele Gram` is not a platform name: use lower-case letters, digits and `-`, starting with a letter"
    );
    std::fs::create_dir_all(dir.join("taken")).unwrap();
    std::fs::write(dir.join("taken/keep.txt"), "mine").unwrap();
    let output = switchboard_in(&dir, &["plugin", "new", "chat", "--dir", "taken"], b"");
    assert!(!output.status.success());
    assert_eq!(
        text(&output.stderr).trim(),
        "error: taken is not empty: give an empty or new directory with --dir"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("taken/keep.txt")).unwrap(),
        "mine"
    );
}

/// `plugin new` → plain `cargo build` → `plugin check`, outside the
/// repository, as a plugin author does it.
#[test]
fn a_new_plugin_builds_and_passes_the_check_as_generated() {
    let dir = scratch("plugin-new");
    let output = switchboard_in(&dir, &["plugin", "new", "acme-chat"], b"");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let printed = text(&output.stdout);
    assert!(
        printed.contains("Created acme-chat-translator in acme-chat"),
        "{printed}"
    );
    let pdk = repo_root().join("libs/pdk").canonicalize().unwrap();
    assert!(printed.contains(&pdk.display().to_string()), "{printed}");
    let crate_dir = dir.join("acme-chat");
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains(&format!("path = \"{}\"", pdk.display())),
        "{manifest}"
    );

    // A plain build: none of this test's cargo settings leak into it.
    let mut build = std::process::Command::new("cargo");
    build
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(&crate_dir);
    for (variable, _) in std::env::vars_os() {
        let name = variable.to_string_lossy();
        let cargo_setting = name.starts_with("CARGO_") && name != "CARGO_HOME";
        let toolchain = name == "RUSTUP_TOOLCHAIN" || name.starts_with("RUSTC");
        if cargo_setting || toolchain || name.contains("RUSTFLAGS") {
            build.env_remove(&variable);
        }
    }
    let status = build.status().unwrap();
    assert!(status.success(), "cargo build failed: {status}");

    let wasm = crate_dir.join("target/wasm32-wasip2/release/acme_chat_translator.wasm");
    // The crate's own fixtures are found beside its target directory.
    let output = switchboard_in(
        &crate_dir,
        &["plugin", "check", &wasm.to_string_lossy()],
        b"",
    );
    assert_passes(&output);
    let report = text(&output.stdout);
    assert!(
        report.contains("pass  decode webhook.json: 2 envelope(s)"),
        "{report}"
    );
    assert!(
        report.contains("pass  sent-message-id responses/send.json: `out-2001`"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn telegram_fixture() -> Vec<u8> {
    std::fs::read(repo_root().join("plugins/telegram/fixtures/text-entities.json")).unwrap()
}

#[test]
fn decode_and_translate_load_a_plugin_given_by_path() {
    let plugin = component("telegram_translator.wasm");
    let output = switchboard(
        &["decode", "--translator", &plugin, "-"],
        &telegram_fixture(),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let envelopes: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(envelopes[0]["platform"], "telegram");
    assert!(
        envelopes[0]["event"]["Message"]["content"]["Text"]["spans"]
            .as_array()
            .is_some_and(|spans| !spans.is_empty()),
        "{envelopes}"
    );

    let output = switchboard(
        &[
            "translate",
            "--translator",
            &plugin,
            "--from",
            "telegram",
            "--to",
            "whatsapp",
            "-",
        ],
        &telegram_fixture(),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed[0]["platform"], "whatsapp");
    assert_eq!(printed[0]["requests"][0]["method"], "POST");
}

/// A directory with a `spin.toml` whose gateway uses `translator` (a
/// component `source`: a path or a download).
fn app_with_gateway(name: &str, source: &str) -> PathBuf {
    let dir = scratch(name);
    let gateway = component("gateway.wasm");
    std::fs::write(
        dir.join("spin.toml"),
        format!(
            r#"spin_manifest_version = 2
[application]
name = "plugins"

[[trigger.http]]
route = "/ingress/chat"
component = "ingress-chat"

[component.ingress-chat]
source = "{gateway}"
[component.ingress-chat.dependencies]
"switchboard:messaging/translator@0.1.0" = {{ component = "translator-chat" }}

[component.translator-chat]
source = {source}
"#
        ),
    )
    .unwrap();
    dir
}

#[test]
fn decode_finds_a_platform_through_the_manifest_and_names_what_there_is() {
    let plugin = component("telegram_translator.wasm");
    let dir = app_with_gateway("decode-manifest", &format!("\"{plugin}\""));
    let output = switchboard_in(
        &dir,
        &["decode", "--platform", "telegram", "-"],
        &telegram_fixture(),
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let envelopes: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(envelopes[0]["platform"], "telegram");

    // The built-in translators are still there.
    let whatsapp = crate::fixtures::webhook("whatsapp", "text.json");
    let output = switchboard_in(&dir, &["decode", "--platform", "whatsapp", "-"], &whatsapp);
    assert!(output.status.success(), "{}", text(&output.stderr));

    let output = switchboard_in(&dir, &["decode", "--platform", "signal", "-"], b"{}");
    assert!(!output.status.success());
    assert_eq!(
        text(&output.stderr).trim(),
        "error: no translator for platform `signal` (in spin.toml: telegram; built in: whatsapp, messenger, instagram)"
    );
}

/// Serves `body` over HTTP until the test ends.
fn serve(body: Vec<u8>) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}/matrix_translator.wasm", server.server_addr());
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let _ = request.respond(tiny_http::Response::from_data(body.clone()));
        }
    });
    url
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn a_plugin_downloaded_by_url_is_used_only_with_its_digest() {
    let wasm = std::fs::read(component("matrix_translator.wasm")).unwrap();
    let digest = sha256_hex(&wasm);
    let url = serve(wasm);
    let event =
        std::fs::read(repo_root().join("plugins/matrix/fixtures/transaction.json")).unwrap();

    let dir = app_with_gateway(
        "decode-download",
        &format!("{{ url = \"{url}\", digest = \"sha256:{digest}\" }}"),
    );
    let output = switchboard_in(&dir, &["decode", "--platform", "matrix", "-"], &event);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let envelopes: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(envelopes[0]["platform"], "matrix");
    assert!(
        dir.join(format!(".switchboard/downloads/{digest}.wasm"))
            .is_file()
    );

    let wrong = "0".repeat(64);
    let dir = app_with_gateway(
        "decode-download-wrong",
        &format!("{{ url = \"{url}\", digest = \"sha256:{wrong}\" }}"),
    );
    let output = switchboard_in(&dir, &["decode", "--platform", "matrix", "-"], &event);
    assert!(!output.status.success());
    let error = text(&output.stderr);
    assert!(
        error.contains(&format!(
            "digest mismatch: the manifest says sha256:{wrong}, the download is sha256:{digest}"
        )),
        "{error}"
    );
    assert!(
        !dir.join(format!(".switchboard/downloads/{wrong}.wasm"))
            .exists()
    );
}
