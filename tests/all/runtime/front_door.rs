//! The front door of `switchboard up` under hostile clients, at the smallest
//! scale that shows each rule: idle connections past the cap and slow bodies
//! do not take the host down or hold its routes; an oversized body is refused
//! before it is read; an unsigned webhook is refused before an instance is
//! taken; with no request slot free the answer is 503 with `Retry-After`; and a
//! signed body no instance can process is kept and answered 4xx, never 500.

use crate::runtime::up::{Host, SECRET, host_config, post, state_dir};
use gateway::verify::hub_signature;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use switchboard_runtime::key_value::KeyValueStores;

/// Starts a host whose `[http]` settings are `http` (no send API needed).
fn host_with(name: &str, http: &str) -> (Host, std::path::PathBuf) {
    let dir = state_dir(name);
    let config = host_config(&dir, "http://127.0.0.1:9", 1, &format!("[http]\n{http}"));
    let host = Host::start_with(&dir, &["--config".as_ref(), config.as_os_str()]);
    (host, dir)
}

fn address(host: &Host) -> String {
    host.base.trim_start_matches("http://").to_string()
}

/// Sends `head` (and nothing more) on a new connection and reads the answer
/// until the server closes it or `wait` passes; returns the status line.
fn answer_to(host: &Host, head: &str, wait: Duration) -> String {
    let mut stream = TcpStream::connect(address(host)).expect("connects");
    stream.set_read_timeout(Some(wait)).expect("timeout");
    stream.write_all(head.as_bytes()).expect("head sent");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn healthz_answers_within(host: &Host, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        let line = answer_to(
            host,
            "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            Duration::from_secs(2),
        );
        if line.starts_with("HTTP/1.1 200") {
            return true;
        }
    }
    false
}

#[test]
fn idle_connections_past_the_cap_neither_stop_the_host_nor_hold_it() {
    let (mut host, _dir) = host_with(
        "front-door-idle",
        "max_connections = 32\nheader_timeout_ms = 400\n",
    );
    // Ten times the cap, each sending nothing at all.
    let idle: Vec<TcpStream> = (0..320)
        .filter_map(|_| TcpStream::connect(address(&host)).ok())
        .collect();
    assert!(idle.len() >= 300, "only {} connections opened", idle.len());
    // The idle ones are closed at the header deadline, so a real client gets
    // through; the host is still running.
    assert!(healthz_answers_within(&host, Duration::from_secs(20)));
    assert!(
        host.child.try_wait().expect("status").is_none(),
        "host exited"
    );
    drop(idle);
}

#[test]
fn a_slow_body_is_cut_off_with_408_and_an_oversized_one_refused_unread() {
    let (host, _dir) = host_with("front-door-slow", "body_timeout_ms = 300\n");
    let started = Instant::now();
    let line = answer_to(
        &host,
        "POST /ingress/whatsapp HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"object\":",
        Duration::from_secs(10),
    );
    assert!(line.starts_with("HTTP/1.1 408"), "{line}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // 100 MB announced, over WhatsApp's 4 MiB: refused before a byte of it.
    let line = answer_to(
        &host,
        "POST /ingress/whatsapp HTTP/1.1\r\nhost: x\r\ncontent-length: 100000000\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(line.starts_with("HTTP/1.1 413"), "{line}");
    // The same for a route without a translator: the front door's default.
    let line = answer_to(
        &host,
        "POST /admin/consents HTTP/1.1\r\nhost: x\r\ncontent-length: 15000000\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(line.starts_with("HTTP/1.1 413"), "{line}");
    assert!(healthz_answers_within(&host, Duration::from_secs(5)));
}

#[test]
fn unsigned_webhooks_are_refused_before_an_instance_and_busy_is_503() {
    // No request slot at all: every component request would be shed, so a
    // 401 can only come from the check made before an instance is taken.
    let (host, _dir) = host_with("front-door-busy", "max_concurrent_requests = 0\n");
    let body = crate::fixtures::webhook("whatsapp", "text.json");
    let (status, answer) = post(&host.base, "/ingress/whatsapp", &body, None);
    assert_eq!(status, 401, "{answer}");
    let wrong = hub_signature("not-the-secret", &body);
    let (status, answer) = post(&host.base, "/ingress/whatsapp", &body, Some(&wrong));
    assert_eq!(status, 401, "{answer}");
    assert!(answer.to_string().contains("does not match"), "{answer}");

    // Signed: it passes the check and meets a full house.
    let response = crate::runtime::up::agent()
        .post(format!("{}/ingress/whatsapp", host.base))
        .header("x-hub-signature-256", &hub_signature(SECRET, &body))
        .send(&body[..])
        .expect("answered");
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok()),
        Some("1")
    );
}

#[test]
fn a_signed_body_no_instance_can_process_is_kept_and_answered_4xx() {
    let dir = state_dir("front-door-kept");
    let host = Host::start(&dir);
    // 2^20 numbers in one JSON array: 2.1 MB, under WhatsApp's 4 MiB limit.
    let mut body = String::with_capacity(2_200_000);
    body.push('[');
    for i in 0..(1 << 20) {
        if i > 0 {
            body.push(',');
        }
        body.push('1');
    }
    body.push(']');
    let body = body.into_bytes();
    let (status, answer) = post(
        &host.base,
        "/ingress/whatsapp",
        &body,
        Some(&hub_signature(SECRET, &body)),
    );
    assert!(
        status == 400 || status == 422,
        "a body that can never be processed is a 4xx, not {status}: {answer}"
    );
    let kept = answer["kept_as"].as_str().expect("kept_as").to_string();
    drop(host);
    let stores = KeyValueStores::open(Some(&dir.join("runtime-config.toml")), &dir).expect("store");
    let store = stores.get("default").expect("default store");
    assert_eq!(store.get(&kept).expect("read").as_deref(), Some(&body[..]));
}
