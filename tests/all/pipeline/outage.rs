//! A platform that is down for a while, through `switchboard up`: its
//! deliveries wait (its circuit opens, so they are not hammered and do not
//! spend their tries) and all arrive once it is back; and deliveries given up
//! on are listed and redriven with `switchboard deadletters` once the
//! platform is back. What the tests prove: no accepted message is lost, and
//! while the circuit is open the platform sees few requests; each message
//! arrives under one idempotency key (a redrive reuses the same key).

use crate::pipeline::delivery::{Sink, converse, post_signed, whatsapp_text};
use crate::runtime::up::{ADMIN_TOKEN, Host, SECRET, host_config, state_dir};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const MESSAGES: usize = 30;

/// The idempotency keys of the deliveries to Messenger the sink accepted.
fn delivered_keys(sink: &Sink) -> BTreeSet<String> {
    sink.received
        .lock()
        .expect("log")
        .iter()
        .filter(|request| request.answered == 200 && request.body["recipient"]["id"].is_string())
        .map(|request| request.idempotency_key.clone())
        .collect()
}

fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "{what} did not happen in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_platform_down_for_a_while_gets_every_message_once_it_is_back() {
    let dir = state_dir("pipeline-outage");
    let sink = Sink::start();
    let config = host_config(
        &dir,
        &sink.base,
        40,
        "breaker_failures = 3\nbreaker_open_ms = 400\nbreaker_max_open_ms = 800\n",
    );
    let host = Host::start_with(&dir, &["--config".as_ref(), config.as_os_str()]);
    converse(
        &host,
        &[("whatsapp", "16505558001"), ("messenger", "6000000801")],
    );

    // Messenger is down: every request fails until it is back.
    sink.failures.store(u32::MAX, Ordering::SeqCst);
    for n in 0..MESSAGES {
        let body = whatsapp_text("16505558001", &format!("wamid.outage{n}"), &format!("m{n}"));
        assert_eq!(post_signed(&host, "whatsapp", SECRET, &body).0, 200);
    }
    std::thread::sleep(Duration::from_secs(4));
    let tried_while_down = sink.received.lock().expect("log").len();
    // Without the breaker each of the 30 deliveries would be retried every
    // 10–50 ms for these four seconds; with it, a few failures open the
    // circuit and then only its probes go: fewer requests than there are
    // messages.
    assert!(
        tried_while_down < MESSAGES,
        "{tried_while_down} requests reached a platform that was down"
    );
    sink.failures.store(0, Ordering::SeqCst);
    wait_until("every delivery", Duration::from_secs(30), || {
        delivered_keys(&sink).len() == MESSAGES
    });
    // Nothing was given up on.
    let reply = dead_letters(&host);
    assert_eq!(reply.as_array().map(Vec::len), Some(0), "{reply}");
}

fn dead_letters(host: &Host) -> Value {
    let output = crate::switchboard_with_env(
        &["deadletters", "list", "--target", &host.base],
        &[("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn dead_letters_are_listed_and_redriven_once_the_platform_is_back() {
    let dir = state_dir("pipeline-redrive");
    let sink = Sink::start();
    // Two tries and no breaker: the deliveries are given up on quickly.
    let config = host_config(&dir, &sink.base, 2, "breaker_failures = 0\n");
    let host = Host::start_with(&dir, &["--config".as_ref(), config.as_os_str()]);
    converse(
        &host,
        &[("whatsapp", "16505558002"), ("messenger", "6000000802")],
    );
    sink.failures.store(u32::MAX, Ordering::SeqCst);
    for n in 0..3 {
        let body = whatsapp_text(
            "16505558002",
            &format!("wamid.redrive{n}"),
            &format!("r{n}"),
        );
        assert_eq!(post_signed(&host, "whatsapp", SECRET, &body).0, 200);
    }
    wait_until("three dead letters", Duration::from_secs(20), || {
        dead_letters(&host).as_array().map(Vec::len) == Some(3)
    });
    let listed = dead_letters(&host);
    assert!(
        listed[0]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("gave up after 2 tries")
    );
    let keys_tried: BTreeSet<String> = sink
        .received
        .lock()
        .expect("log")
        .iter()
        .map(|request| request.idempotency_key.clone())
        .collect();

    // Without the token: refused.
    let output = crate::switchboard_with_env(
        &["deadletters", "redrive", "--target", &host.base],
        &[("SPIN_VARIABLE_ADMIN_TOKEN", "wrong")],
    );
    assert!(!output.status.success());

    sink.failures.store(0, Ordering::SeqCst);
    let output = crate::switchboard_with_env(
        &[
            "deadletters",
            "redrive",
            "--target",
            &host.base,
            "--platform",
            "messenger",
        ],
        &[("SPIN_VARIABLE_ADMIN_TOKEN", ADMIN_TOKEN)],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "3 redriven");
    wait_until("the redriven deliveries", Duration::from_secs(20), || {
        delivered_keys(&sink).len() == 3
    });
    // The same idempotency keys as before they were given up on.
    assert!(delivered_keys(&sink).is_subset(&keys_tried));
    assert_eq!(dead_letters(&host).as_array().map(Vec::len), Some(0));
}
