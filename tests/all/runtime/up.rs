//! `switchboard up` over real HTTP on loopback: the gateway components composed
//! with their translators from `spin.toml`, webhooks signed as Meta signs them,
//! envelopes in the embedded store on disk.

use crate::fixtures::webhooks;
use gateway::verify::hub_signature;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use switchboard_runtime::key_value::KeyValueStores;

pub const SECRET: &str = "test-whatsapp-secret";
pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const BUSINESS_TOKEN: &str = "test-business-token";
/// Telegram's webhook secret token (`secret_token` of `setWebhook`).
pub const TELEGRAM_SECRET: &str = "test-telegram-secret-token";
/// The bot token the pipeline sends to Telegram with (in the path).
pub const TELEGRAM_TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
/// The homeserver's token on Matrix transactions (`hs_token`).
pub const MATRIX_HS_TOKEN: &str = "test-matrix-hs-token";
/// The application service's token for the client-server API (`as_token`).
pub const MATRIX_AS_TOKEN: &str = "test-matrix-as-token";

/// A running `switchboard up`, killed when dropped.
pub struct Host {
    pub child: Child,
    pub base: String,
}

impl Host {
    pub fn start(state_dir: &Path) -> Host {
        Host::start_with(state_dir, &[])
    }

    /// Starts the host with more arguments for `up` (`--config …`).
    pub fn start_with(state_dir: &Path, extra: &[&std::ffi::OsStr]) -> Host {
        Host::start_logging(state_dir, extra, Stdio::inherit(), "warn")
    }

    /// Starts the host with more arguments for `up` and more environment
    /// (`SPIN_VARIABLE_…` to set a manifest variable).
    pub fn start_with_env(
        state_dir: &Path,
        extra: &[&std::ffi::OsStr],
        env: &[(&str, &str)],
    ) -> Host {
        Host::spawn(state_dir, extra, Stdio::inherit(), "warn", env)
    }

    /// Starts the host with its log (filtered by `log_filter`, as
    /// `RUST_LOG`) going to `stderr`.
    pub fn start_logging(
        state_dir: &Path,
        extra: &[&std::ffi::OsStr],
        stderr: Stdio,
        log_filter: &str,
    ) -> Host {
        Host::spawn(state_dir, extra, stderr, log_filter, &[])
    }

    fn spawn(
        state_dir: &Path,
        extra: &[&std::ffi::OsStr],
        stderr: Stdio,
        log_filter: &str,
        env: &[(&str, &str)],
    ) -> Host {
        let manifest = crate::repo_root().join("spin.toml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["up", "--listen", "127.0.0.1:0", "--manifest"])
            .arg(&manifest)
            .arg("--runtime-config-file")
            .arg(state_dir.join("runtime-config.toml"))
            .args(extra)
            .env(
                "SWITCHBOARD_CACHE_DIR",
                concat!(env!("CARGO_TARGET_TMPDIR"), "/cache"),
            )
            .env("SPIN_VARIABLE_WHATSAPP_APP_SECRET", SECRET)
            .env("SPIN_VARIABLE_VERIFY_TOKEN", "test-verify-token")
            .env("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SPIN_VARIABLE_BUSINESS_API_TOKEN", BUSINESS_TOKEN)
            .env(
                "SPIN_VARIABLE_MESSENGER_ACCESS_TOKEN",
                "test-messenger-token",
            )
            .env("SPIN_VARIABLE_TELEGRAM_APP_SECRET", TELEGRAM_SECRET)
            .env("SPIN_VARIABLE_TELEGRAM_ACCESS_TOKEN", TELEGRAM_TOKEN)
            .env("SPIN_VARIABLE_MATRIX_APP_SECRET", MATRIX_HS_TOKEN)
            .env("SPIN_VARIABLE_MATRIX_ACCESS_TOKEN", MATRIX_AS_TOKEN)
            .env("RUST_LOG", log_filter)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("switchboard up starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("a line");
        let base = line
            .trim()
            .strip_prefix("switchboard listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Host { child, base }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn state_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("state dir");
    std::fs::write(
        dir.join("runtime-config.toml"),
        format!(
            "[key_value_store.default]\ntype = \"spin\"\npath = \"{}\"\n",
            dir.join("kv.redb").display()
        ),
    )
    .expect("runtime config");
    dir
}

/// Writes a `switchboard.toml` into `dir` that points every platform's send
/// API at `api_base`, with fast retries and `max_attempts` tries, followed by `extra`; returns
/// its path. The apps' reply windows are off (`reply_window_ms = 0`): these
/// tests send to people who never wrote first; `pipeline/window.rs` turns
/// them on.
pub fn host_config(dir: &Path, api_base: &str, max_attempts: u32, extra: &str) -> PathBuf {
    let mut text = String::new();
    for platform in ["whatsapp", "messenger", "instagram", "facebook"] {
        text.push_str(&format!(
            "[platforms.{platform}]\napi_base = \"{api_base}\"\nreply_window_ms = 0\n"
        ));
    }
    text.push_str(&format!(
        "[delivery]\nbackoff_base_ms = 10\nbackoff_max_ms = 50\nmax_attempts = {max_attempts}\n{extra}"
    ));
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, text).expect("config");
    path
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub fn post(
    base: &str,
    path: &str,
    body: &[u8],
    signature: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut request = agent()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json");
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    let mut response = request.send(body).expect("request answered");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

#[test]
fn webhooks_are_verified_decoded_and_stored_once() {
    let dir = state_dir("up-ingress");
    let fixtures = webhooks("whatsapp");
    let mut expected_ids = Vec::new();
    {
        let host = Host::start(&dir);
        let health = agent()
            .get(format!("{}/healthz", host.base))
            .call()
            .expect("health");
        assert_eq!(health.status().as_u16(), 200);

        // The subscribe handshake.
        let mut ok = agent()
            .get(format!(
                "{}/ingress/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=test-verify-token",
                host.base
            ))
            .call()
            .expect("handshake");
        assert_eq!(ok.status().as_u16(), 200);
        assert_eq!(ok.body_mut().read_to_string().expect("body"), "1158201444");
        let refused = agent()
            .get(format!(
                "{}/ingress/whatsapp?hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong",
                host.base
            ))
            .call()
            .expect("handshake");
        assert_eq!(refused.status().as_u16(), 403);

        for (name, body) in &fixtures {
            // Unsigned and wrongly signed bodies are refused before decoding.
            let (status, _) = post(&host.base, "/ingress/whatsapp", body, None);
            assert_eq!(status, 401, "{name} unsigned");
            let wrong = hub_signature("not-the-secret", body);
            let (status, reply) = post(&host.base, "/ingress/whatsapp", body, Some(&wrong));
            assert_eq!(status, 401, "{name} wrong signature");
            assert!(
                reply["error"]
                    .as_str()
                    .unwrap_or("")
                    .contains("does not match"),
                "{reply}"
            );

            let signature = hub_signature(SECRET, body);
            let (status, reply) = post(&host.base, "/ingress/whatsapp", body, Some(&signature));
            assert_eq!(status, 200, "{name}: {reply}");
            let decoded = translator_whatsapp::decode(body).expect("decodes natively");
            let fresh = decoded
                .iter()
                .filter(|e| !expected_ids.contains(&e.id))
                .count() as u64;
            assert_eq!(reply["accepted"].as_u64(), Some(fresh), "{name}: {reply}");
            expected_ids.extend(decoded.into_iter().map(|envelope| envelope.id));
            expected_ids.dedup();

            // Platforms retry: the same webhook again is stored once.
            let (status, reply) = post(&host.base, "/ingress/whatsapp", body, Some(&signature));
            assert_eq!(status, 200);
            assert_eq!(reply["accepted"].as_u64(), Some(0), "{name}: {reply}");
        }

        // A malformed body is answered 400 with the typed error, and kept.
        let bad = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"1","phone_number_id":"2"},"messages":[{"id":"wamid.X","timestamp":"1","type":"text","text":{"body":"hi"}}]}}]}]}"#;
        let (status, reply) = post(
            &host.base,
            "/ingress/whatsapp",
            bad,
            Some(&hub_signature(SECRET, bad)),
        );
        assert_eq!(status, 400, "{reply}");
        assert_eq!(
            reply["error"]["MissingField"]["path"], "/entry/0/changes/0/value/messages/0/from",
            "{reply}"
        );
        let kept_as = reply["kept_as"].as_str().expect("kept_as").to_string();

        // Over the size limit: 413, whatever the signature.
        let huge = vec![b' '; 5 << 20];
        let (status, _) = post(
            &host.base,
            "/ingress/whatsapp",
            &huge,
            Some(&hub_signature(SECRET, &huge)),
        );
        assert_eq!(status, 413);

        drop(host);
        // Everything is on disk once the host is gone.
        let stores = KeyValueStores::open(Some(&dir.join("runtime-config.toml")), &dir)
            .expect("store opens");
        let store = stores.get("default").expect("default store");
        for id in &expected_ids {
            let stored = store
                .get(&gateway::envelope_key(id))
                .expect("read")
                .unwrap_or_else(|| panic!("{id} stored"));
            let envelope: serde_json::Value = serde_json::from_slice(&stored).expect("JSON");
            assert_eq!(envelope["id"], id.as_str());
        }
        assert_eq!(
            store.get(&kept_as).expect("read").as_deref(),
            Some(&bad[..])
        );
    }

    // After a restart, a redelivered webhook is still recognised.
    let host = Host::start(&dir);
    let (name, body) = &fixtures[0];
    let (status, reply) = post(
        &host.base,
        "/ingress/whatsapp",
        body,
        Some(&hub_signature(SECRET, body)),
    );
    assert_eq!(status, 200);
    assert_eq!(
        reply["accepted"].as_u64(),
        Some(0),
        "{name} after restart: {reply}"
    );
    assert!(reply["duplicates"].as_u64().unwrap_or(0) >= 1, "{reply}");
}

#[test]
fn a_rogue_plugin_fails_its_own_request_and_the_host_serves_on() {
    let dir = state_dir("up-rogue");
    let components = switchboard_pipeline::builtin::COMPONENTS_DIR;
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"spin_manifest_version = 2
[application]
name = "rogue"
[[trigger.http]]
route = "/ingress/rogue"
component = "ingress"
[component.ingress]
source = "{components}/gateway.wasm"
key_value_stores = ["default"]
[component.ingress.dependencies]
"switchboard:messaging/translator@0.1.0" = {{ path = "{components}/rogue_translator.wasm" }}
"#
        ),
    )
    .expect("manifest");
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["up", "--listen", "127.0.0.1:0", "--manifest"])
        .arg(&manifest)
        .arg("--runtime-config-file")
        .arg(dir.join("runtime-config.toml"))
        .env(
            "SWITCHBOARD_CACHE_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/cache"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("switchboard up starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a line");
    let base = line
        .trim()
        .trim_start_matches("switchboard listening on ")
        .to_string();
    let host = Host { child, base };

    for (body, expected) in [
        ("loop", "ran past its deadline"),
        ("panic", "unreachable"),
        ("grow", ""),
    ] {
        // The body is the cause (the plugin fails on it every time): it is
        // kept under `rejected:` and answered 4xx, so the platform stops
        // sending it, and nothing is lost.
        let (status, reply) = post(&host.base, "/ingress/rogue", body.as_bytes(), None);
        assert_eq!(status, 422, "{body}: {reply}");
        assert!(
            reply["kept_as"]
                .as_str()
                .is_some_and(|key| key.starts_with("rejected:")),
            "{body}: {reply}"
        );
        let text = reply["error"].as_str().unwrap_or_default();
        assert!(
            text.starts_with("component `ingress` failed"),
            "{body}: {text}"
        );
        assert!(text.contains(expected), "{body}: {text}");
        assert_eq!(
            text.trim().lines().count(),
            1,
            "one line for the client: {text}"
        );
        // The host still serves.
        let (status, reply) = post(&host.base, "/ingress/rogue", b"fine", None);
        assert_eq!(status, 200, "after {body}: {reply}");
    }
}

#[test]
fn the_admin_api_needs_its_token_and_audits_every_change() {
    let dir = state_dir("up-admin");
    let host = Host::start(&dir);
    let agent = agent();
    let alice = serde_json::json!({ "platform": "whatsapp", "id": "16315551181" });
    let bob = serde_json::json!({ "platform": "messenger", "id": "6315551182" });
    let conversation = serde_json::json!({ "kind": "direct", "members": [alice, bob] });

    let refused = agent
        .post(format!("{}/admin/conversations", host.base))
        .header("authorization", "Bearer wrong")
        .send(conversation.to_string())
        .expect("answered");
    assert_eq!(refused.status().as_u16(), 401);

    let call = |method: &str, path: &str, body: &serde_json::Value| {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", host.base))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            // Whoever calls cannot name the actor of the audit record.
            .header("x-switchboard-actor", "someone-else")
            .body(body.to_string())
            .expect("request");
        let mut response = agent.run(request).expect("answered");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("body");
        (
            status,
            serde_json::from_str::<serde_json::Value>(&text).expect("JSON"),
        )
    };
    let (status, reply) = call("POST", "/admin/conversations", &conversation);
    assert_eq!(status, 409, "no consent yet: {reply}");
    for account in [&alice, &bob] {
        let consent = serde_json::json!({ "account": account, "scope": "cross-app-messaging", "granted": true });
        assert_eq!(call("POST", "/admin/consents", &consent).0, 200);
    }
    let (status, created) = call("POST", "/admin/conversations", &conversation);
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["kind"], "direct");
    assert_eq!(created["members"][0]["endpoint"], "106540352242922");
    assert_eq!(created["members"][1]["state"], "active");
    let id = created["id"].as_str().expect("id");
    let (status, read) = call(
        "GET",
        &format!("/admin/conversations/{id}"),
        &serde_json::Value::Null,
    );
    assert_eq!(status, 200);
    assert_eq!(read["members"], created["members"]);

    let (status, log) = call("GET", "/admin/audit?limit=2", &serde_json::Value::Null);
    assert_eq!(status, 200);
    let actions: Vec<&str> = log["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|record| record["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, ["consent", "consent"], "{log}");
    assert_eq!(
        log["records"][0]["actor"], "admin",
        "the configured name, not the header"
    );
    let next = log["next"].as_u64().expect("a next page");
    let (_, rest) = call(
        "GET",
        &format!("/admin/audit?after={next}"),
        &serde_json::Value::Null,
    );
    assert_eq!(rest["records"][0]["action"], "conversation", "{rest}");
    assert!(rest["next"].is_null(), "{rest}");
}
