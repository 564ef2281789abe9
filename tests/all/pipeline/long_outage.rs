//! A platform down for half an hour (`#[ignore]`d: it takes that long), with
//! the sample configuration's delivery settings: every message accepted
//! during the outage arrives once the platform is back, none is
//! dead-lettered, and the platform sees few requests while it is down (its
//! circuit opens). Run it with
//! `cargo test -p switchboard --test all -- --ignored --nocapture long_outage`
//! (`SWITCHBOARD_OUTAGE_SECS` shortens the outage; default 1800).

use crate::pipeline::delivery::{Sink, converse, metric, post_signed, whatsapp_text};
use crate::runtime::up::{Host, SECRET, state_dir};
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const SENDERS: usize = 20;
const MESSAGES: usize = 600;

#[test]
#[ignore = "takes the length of the outage (30 minutes by default)"]
fn long_outage_loses_nothing_with_the_sample_delivery_settings() {
    let outage = Duration::from_secs(
        std::env::var("SWITCHBOARD_OUTAGE_SECS")
            .ok()
            .and_then(|secs| secs.parse().ok())
            .unwrap_or(1800),
    );
    let dir = state_dir("pipeline-long-outage");
    let sink = Sink::start();
    // The sample switchboard.toml's [delivery], every platform at the sink,
    // reply windows off (nobody here wrote first).
    let mut config = String::new();
    for platform in ["whatsapp", "messenger", "instagram"] {
        config.push_str(&format!(
            "[platforms.{platform}]\napi_base = \"{}\"\nreply_window_ms = 0\n",
            sink.base
        ));
    }
    config.push_str(
        "[delivery]\nmax_attempts = 40\nbackoff_base_ms = 500\nbackoff_max_ms = 600000\n\
         timeout_ms = 10000\nworkers = 8\nbreaker_failures = 5\nbreaker_open_ms = 5000\n\
         breaker_max_open_ms = 300000\n",
    );
    let config_path = dir.join("switchboard.toml");
    std::fs::write(&config_path, config).expect("config");
    let host = Host::start_with_env(
        &dir,
        &["--config".as_ref(), config_path.as_os_str()],
        &[("SPIN_VARIABLE_RATE_PER_MINUTE", "1000000")],
    );
    let senders: Vec<(String, String)> = (0..SENDERS)
        .map(|i| (format!("1655580{i:04}"), format!("69000{i:05}")))
        .collect();
    for (whatsapp, messenger) in &senders {
        converse(&host, &[("whatsapp", whatsapp), ("messenger", messenger)]);
    }

    // Messenger goes down, then the messages come.
    sink.failures.store(u32::MAX, Ordering::SeqCst);
    let down_at = Instant::now();
    for n in 0..MESSAGES {
        let (whatsapp, _) = &senders[n % SENDERS];
        let body = whatsapp_text(
            whatsapp,
            &format!("wamid.long{n:04}"),
            &format!("long outage {n}"),
        );
        let (status, reply) = post_signed(&host, "whatsapp", SECRET, &body);
        assert_eq!(status, 200, "{reply}");
    }
    let posted_in = down_at.elapsed();
    while down_at.elapsed() < outage {
        std::thread::sleep(Duration::from_secs(5));
    }
    let requests_while_down = sink.received.lock().expect("log").len();
    sink.failures.store(0, Ordering::SeqCst);
    let up_at = Instant::now();

    // Back: every message arrives, once, within the backoff cap and a bit.
    let delivered = || -> BTreeSet<String> {
        sink.received
            .lock()
            .expect("log")
            .iter()
            .filter(|request| {
                request.answered == 200 && request.body["recipient"]["id"].is_string()
            })
            .map(|request| request.idempotency_key.clone())
            .collect()
    };
    let deadline = up_at + Duration::from_secs(15 * 60);
    while delivered().len() < MESSAGES {
        assert!(
            Instant::now() < deadline,
            "{} of {MESSAGES} delivered 15 minutes after the platform came back",
            delivered().len()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let caught_up = up_at.elapsed();
    let dead = metric(
        &host,
        "switchboard_dead_letters_total{platform=\"messenger\"}",
    );
    let texts: Vec<String> = sink
        .received
        .lock()
        .expect("log")
        .iter()
        .filter(|request| request.answered == 200)
        .filter_map(|request| request.body["message"]["text"].as_str().map(str::to_string))
        .collect();
    let distinct: BTreeSet<&String> = texts.iter().collect();
    println!(
        "long outage: {outage:?} down, {MESSAGES} messages posted in {posted_in:?}, \
         {requests_while_down} requests reached the platform while down, all {} delivered \
         {caught_up:?} after it came back, {} accepted sends ({} distinct texts), dead letters {dead}",
        delivered().len(),
        texts.len(),
        distinct.len()
    );
    assert_eq!(dead, 0.0, "a message was given up on");
    assert_eq!(delivered().len(), MESSAGES);
    assert_eq!(
        texts.len(),
        MESSAGES,
        "a message was sent twice under another key"
    );
}
