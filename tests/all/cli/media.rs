//! `switchboard media fetch` against local servers playing the platforms'
//! APIs, with the translators of `spin.toml`: Telegram (`getFile`, then
//! `/file/bot<token>/<file_path>`) and WhatsApp (`GET /v21.0/<id>`, then its
//! `https://` URL, served here over TLS with a test CA). The right bytes
//! arrive; the token is in each request where the translator's `api-auth`
//! says (Telegram's path, WhatsApp's bearer header) and nowhere in the
//! command's output, also when a step fails; the token goes to a download
//! host only when the host settings allow it.

use crate::{fixtures_dir, repo_root};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

const TELEGRAM_TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const WHATSAPP_TOKEN: &str = "EAAG-test-whatsapp-media-token";
const FILE_ID: &str = "AgACAgIAAxkBAAIBZ2Y";
const WHATSAPP_MEDIA_ID: &str = "1037543291543636";

/// One request a test server received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

type Handler = Arc<dyn Fn(&Seen) -> (u16, Vec<u8>) + Send + Sync>;

/// A plain HTTP server on loopback answering with `handler`.
fn http_server(handler: Handler) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("listens");
    let base = format!("http://{}", server.server_addr().to_ip().expect("ip"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let request_seen = Seen {
                method: request.method().to_string(),
                url: request.url().to_string(),
                headers: request
                    .headers()
                    .iter()
                    .map(|header| (header.field.to_string(), header.value.to_string()))
                    .collect(),
            };
            let (status, body) = handler(&request_seen);
            log.lock().expect("log").push(request_seen);
            let _ = request.respond(tiny_http::Response::from_data(body).with_status_code(status));
        }
    });
    (base, seen)
}

/// An HTTPS server on loopback (the certificate in `tests/fixtures/tls`)
/// answering with `handler`, one request per connection.
fn https_server(handler: Handler) -> (String, Arc<Mutex<Vec<Seen>>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = fixtures_dir().join("tls");
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .expect("certificate")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").expect("listens");
    let base = format!("https://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Ok(connection) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(connection, stream);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                match tls.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let text = String::from_utf8_lossy(&head).to_string();
            let mut lines = text.split("\r\n");
            let mut first = lines.next().unwrap_or_default().split(' ');
            let request_seen = Seen {
                method: first.next().unwrap_or_default().to_string(),
                url: first.next().unwrap_or_default().to_string(),
                headers: lines
                    .filter_map(|line| line.split_once(':'))
                    .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
                    .collect(),
            };
            if request_seen.method.is_empty() {
                continue;
            }
            let (status, body) = handler(&request_seen);
            log.lock().expect("log").push(request_seen);
            let _ = write!(
                tls,
                "HTTP/1.1 {status} X\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = tls.write_all(&body);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (base, seen)
}

/// A file's bytes, recognisably not text.
fn photo() -> Vec<u8> {
    (0..=255u8).cycle().take(5000).collect()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// `switchboard media fetch` with the repository's manifest, `config`, the
/// tokens as Spin variables, and `extra` arguments.
fn media_fetch(config: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["media", "fetch", "--manifest"])
        .arg(repo_root().join("spin.toml"))
        .arg("--config")
        .arg(config)
        .args(extra)
        .env(
            "SWITCHBOARD_CACHE_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/cache"),
        )
        .env("SPIN_VARIABLE_TELEGRAM_ACCESS_TOKEN", TELEGRAM_TOKEN)
        .env("SPIN_VARIABLE_WHATSAPP_ACCESS_TOKEN", WHATSAPP_TOKEN)
        .output()
        .expect("switchboard runs")
}

fn assert_no_token(output: &Output, token: &str) {
    for stream in [&output.stdout, &output.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains(token), "the token is in the output:\n{text}");
        // Nor its distinctive part, percent-encoded or not.
        assert!(!text.contains(&token[token.len() - 12..]), "{text}");
    }
}

#[test]
fn telegram_media_is_fetched_with_the_bot_token_in_the_path_only() {
    let dir = scratch("media-telegram");
    let bytes = photo();
    let size = bytes.len();
    let served = bytes.clone();
    let (base, seen) = http_server(Arc::new(move |request: &Seen| {
        let bot = format!("/bot{TELEGRAM_TOKEN}/");
        let file = format!("/file/bot{TELEGRAM_TOKEN}/");
        if request.url == format!("{bot}getFile?file_id={FILE_ID}") {
            let answer = json!({ "ok": true, "result": {
                "file_id": FILE_ID, "file_unique_id": "AQAD", "file_size": size,
                "file_path": "photos/file_12.jpg" } });
            (200, answer.to_string().into_bytes())
        } else if request.url == format!("{file}photos/file_12.jpg") {
            (200, served.clone())
        } else if request.url.contains("getFile") {
            // Telegram's error for an unknown file: the URL, token and all,
            // quoted back (as a proxy's error page might).
            let answer = json!({ "ok": false, "error_code": 400,
                                 "description": format!("Bad Request: wrong file_id in {}", request.url) });
            (400, answer.to_string().into_bytes())
        } else {
            (404, b"{\"ok\":false}".to_vec())
        }
    }));
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        format!("[platforms.telegram]\napi_base = \"{base}\"\n"),
    )
    .expect("config");
    let out = dir.join("photo.jpg");
    let output = media_fetch(
        &config,
        &[
            "--platform",
            "telegram",
            FILE_ID,
            "--out",
            out.to_str().expect("path"),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(std::fs::read(&out).expect("written"), bytes);
    let summary: Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    assert_eq!(summary["bytes"], size);
    assert_eq!(summary["sha256"], sha256(&bytes));
    assert_eq!(summary["steps"], 2);
    assert_no_token(&output, TELEGRAM_TOKEN);
    let requests = seen.lock().expect("log").clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for request in &requests {
        assert_eq!(request.method, "GET");
        assert!(
            request.url.contains(&format!("bot{TELEGRAM_TOKEN}/")),
            "{request:?}"
        );
        assert_eq!(request.header("authorization"), None, "{request:?}");
    }

    // A failed step is an error that names the URL, but not the token.
    let output = media_fetch(&config, &["--platform", "telegram", "no-such-file"]);
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("/bot[redacted]/getFile"), "{error}");
    assert_no_token(&output, TELEGRAM_TOKEN);
}

#[test]
fn whatsapp_media_is_looked_up_then_downloaded_with_the_token_only_on_an_allowed_host() {
    let dir = scratch("media-whatsapp");
    let bytes = photo();
    let digest = sha256(&bytes);
    let served = bytes.clone();
    let bearer = format!("Bearer {WHATSAPP_TOKEN}");
    let download_bearer = bearer.clone();
    let (download_base, downloads) = https_server(Arc::new(move |request: &Seen| {
        if request.header("authorization") == Some(download_bearer.as_str()) {
            (200, served.clone())
        } else {
            (401, b"no token".to_vec())
        }
    }));
    let (lookups_url, bad_digest) = (download_base.clone(), "ab".repeat(32));
    let size = bytes.len();
    let (base, lookups) = http_server(Arc::new(move |request: &Seen| {
        if request.header("authorization") != Some(bearer.as_str()) {
            return (401, b"{}".to_vec());
        }
        let id = request.url.trim_start_matches("/v21.0/");
        let sha = if id == WHATSAPP_MEDIA_ID {
            digest.clone()
        } else {
            bad_digest.clone()
        };
        let answer = json!({
            "messaging_product": "whatsapp",
            "url": format!("{lookups_url}/whatsapp_business/attachments/?mid={id}&ext=1"),
            "mime_type": "image/jpeg", "sha256": sha, "file_size": size, "id": id });
        (200, answer.to_string().into_bytes())
    }));
    let ca = fixtures_dir().join("tls/ca.pem");
    let ca = ca.to_str().expect("path");
    let allowed = dir.join("allowed.toml");
    std::fs::write(
        &allowed,
        format!("[platforms.whatsapp]\napi_base = \"{base}\"\nmedia_hosts = [\"127.0.0.1\"]\n"),
    )
    .expect("config");
    let out = dir.join("photo.jpg");
    let output = media_fetch(
        &allowed,
        &[
            "--platform",
            "whatsapp",
            WHATSAPP_MEDIA_ID,
            "--out",
            out.to_str().expect("path"),
            "--ca-cert",
            ca,
        ],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(std::fs::read(&out).expect("written"), bytes);
    let summary: Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    assert_eq!(summary["sha256"], sha256(&bytes));
    assert_eq!(summary["mime_type"], "image/jpeg");
    assert_no_token(&output, WHATSAPP_TOKEN);
    let lookup = lookups.lock().expect("log")[0].clone();
    assert_eq!(lookup.url, format!("/v21.0/{WHATSAPP_MEDIA_ID}"));
    let download = downloads.lock().expect("log")[0].clone();
    assert!(
        download
            .url
            .starts_with("/whatsapp_business/attachments/?mid=")
    );
    assert!(!download.url.contains(WHATSAPP_TOKEN));

    // Bytes that do not match the announced SHA-256 are refused.
    let output = media_fetch(
        &allowed,
        &[
            "--platform",
            "whatsapp",
            "1037543291543637",
            "--ca-cert",
            ca,
        ],
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("SHA-256"),
        "{output:?}"
    );
    assert!(output.stdout.is_empty(), "no bytes on a mismatch");

    // A download host the settings do not name gets no token.
    let not_allowed = dir.join("not-allowed.toml");
    std::fs::write(
        &not_allowed,
        format!("[platforms.whatsapp]\napi_base = \"{base}\"\n"),
    )
    .expect("config");
    let before = downloads.lock().expect("log").len();
    let output = media_fetch(
        &not_allowed,
        &["--platform", "whatsapp", WHATSAPP_MEDIA_ID, "--ca-cert", ca],
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("answered 401"),
        "{output:?}"
    );
    assert_no_token(&output, WHATSAPP_TOKEN);
    let downloads = downloads.lock().expect("log").clone();
    assert_eq!(downloads.len(), before + 1);
    assert_eq!(downloads[before].header("authorization"), None);
}
