//! The host killed with SIGKILL in the middle of a stream of messages, and
//! restarted on the same store: every message the ingress acknowledged is
//! delivered, and none is delivered twice as distinct deliveries.
//!
//! A send may be repeated after a crash (the platform accepted it, the host
//! died before committing that), but only with the same `Idempotency-Key`:
//! that is what a platform's API deduplicates on. So deliveries are unique per
//! message modulo that key; exact repeats are counted and reported.

use crate::fixtures::webhook;
use crate::runtime::up::{ADMIN_TOKEN, Host, SECRET, agent, host_config, state_dir};
use gateway::verify::hub_signature;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_runtime::key_value::KeyValueStores;

/// Messages in the stream.
const STREAM: usize = 200;
/// WhatsApp senders, each linked to a Messenger account; the stream is spread
/// over them so no sender reaches the sample rate limit (60 a minute).
const SENDERS: usize = 8;
/// The send the sink holds, unanswered, until the host is killed: the host
/// dies with that send (and those queued behind it) in flight.
const HOLD_AT: usize = 30;
/// Generous bounds for a loaded CI machine.
const PATIENCE: Duration = Duration::from_secs(90);

fn whatsapp_id(sender: usize) -> String {
    format!("1555020{sender:04}")
}

fn messenger_id(sender: usize) -> String {
    format!("6100000{sender:04}")
}

fn wamid(seq: usize) -> String {
    format!("wamid.CRASH{seq:04}")
}

/// Message `seq` of the stream: the WhatsApp text fixture from its sender,
/// with its own message id and the sequence number in the text.
fn message(seq: usize) -> Vec<u8> {
    let mut value: Value =
        serde_json::from_slice(&webhook("whatsapp", "text.json")).expect("fixture");
    let from = whatsapp_id(seq % SENDERS);
    let change = &mut value["entry"][0]["changes"][0]["value"];
    change["contacts"][0]["wa_id"] = json!(from);
    change["messages"][0]["from"] = json!(from);
    change["messages"][0]["id"] = json!(wamid(seq));
    change["messages"][0]["text"]["body"] = json!(format!("crash seq {seq}"));
    value.to_string().into_bytes()
}

/// Posts message `seq`, signed; `None` when the host did not answer.
fn try_post(base: &str, seq: usize) -> Option<(u16, Value)> {
    let body = message(seq);
    let mut response = agent()
        .post(format!("{base}/ingress/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", hub_signature(SECRET, &body))
        .send(&body[..])
        .ok()?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// The ingress' answer to each message of the stream, when it gave one.
type Answers = Arc<Mutex<Vec<Option<(u16, Value)>>>>;

/// One send the sink received.
#[derive(Clone, Debug)]
struct Received {
    /// The stream's sequence number, read from the text.
    seq: Option<usize>,
    idempotency_key: String,
    body: Value,
}

/// The platforms' send APIs on loopback: records every request before
/// answering it (a host killed before reading the answer still counts as a
/// send), one at a time. It holds send number `HOLD_AT` unanswered until
/// `release` is set.
struct Sink {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    holding: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
}

impl Sink {
    fn start() -> Sink {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("sink listens");
        let base = format!("http://{}", server.server_addr().to_ip().expect("ip"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let holding = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let (log, held, released) = (received.clone(), holding.clone(), release.clone());
        std::thread::spawn(move || {
            for (count, mut request) in server.incoming_requests().enumerate() {
                let mut text = String::new();
                let _ = request.as_reader().read_to_string(&mut text);
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let seq = body["message"]["text"]
                    .as_str()
                    .and_then(|text| text.split_once("crash seq "))
                    .and_then(|(_, rest)| {
                        let digits: String =
                            rest.chars().take_while(char::is_ascii_digit).collect();
                        digits.parse().ok()
                    });
                let idempotency_key = request
                    .headers()
                    .iter()
                    .find(|header| header.field.equiv("Idempotency-Key"))
                    .map(|header| header.value.to_string())
                    .unwrap_or_default();
                let answer = if body["messaging_product"] == "whatsapp" {
                    json!({ "messaging_product": "whatsapp",
                            "messages": [{ "id": format!("wamid.crashsink{count}") }] })
                } else {
                    json!({ "recipient_id": body["recipient"]["id"],
                            "message_id": format!("m_crashsink{count}") })
                };
                log.lock().expect("log").push(Received {
                    seq,
                    idempotency_key,
                    body,
                });
                if count + 1 == HOLD_AT {
                    held.store(true, Ordering::SeqCst);
                    while !released.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                let response = tiny_http::Response::from_string(answer.to_string()).with_header(
                    tiny_http::Header::from_bytes("Content-Type", "application/json")
                        .expect("header"),
                );
                let _ = request.respond(response);
            }
        });
        Sink {
            base,
            received,
            holding,
            release,
        }
    }

    fn snapshot(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }

    /// Sequence numbers delivered at least once.
    fn delivered(&self) -> BTreeSet<usize> {
        self.snapshot()
            .iter()
            .filter_map(|request| request.seq)
            .collect()
    }
}

fn admin(host: &Host, path: &str, body: Value) -> u16 {
    agent()
        .post(format!("{}/admin/{path}", host.base))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .expect("admin answers")
        .status()
        .as_u16()
}

/// Polls `done` every 20 ms until it holds; fails with `what` after `PATIENCE`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_host_killed_mid_stream_delivers_every_acknowledged_message_once() {
    let dir = state_dir("crash");
    let sink = Sink::start();
    let config = host_config(&dir, &sink.base, 50, "");
    let start = || Host::start_with(&dir, &["--config".as_ref(), config.as_os_str()]);

    let mut host = start();
    for sender in 0..SENDERS {
        let members = [
            ("whatsapp", whatsapp_id(sender)),
            ("messenger", messenger_id(sender)),
        ]
        .map(|(platform, id)| json!({ "platform": platform, "id": id }));
        for account in &members {
            let consent =
                json!({ "account": account, "scope": "cross-app-messaging", "granted": true });
            assert_eq!(admin(&host, "consents", consent), 200);
        }
        let conversation = json!({ "kind": "direct", "members": members });
        assert_eq!(admin(&host, "conversations", conversation), 201);
    }

    // The stream, posted in order as a platform posts webhooks, until the host
    // dies. `acked[seq]` is the ingress' answer when it gave one.
    let acked: Answers = Arc::new(Mutex::new(vec![None; STREAM]));
    let killed = Arc::new(AtomicBool::new(false));
    let poster = {
        let (base, acked, killed) = (host.base.clone(), acked.clone(), killed.clone());
        std::thread::spawn(move || {
            for seq in 0..STREAM {
                if killed.load(Ordering::SeqCst) {
                    return;
                }
                let Some(answer) = try_post(&base, seq) else {
                    return;
                };
                acked.lock().expect("acked")[seq] = Some(answer);
            }
        })
    };
    let acked_count = |acked: &Answers| {
        acked
            .lock()
            .expect("acked")
            .iter()
            .filter(|answer| matches!(answer, Some((200, _))))
            .count()
    };

    // Kill while the sink holds a send, once more messages are queued behind.
    wait_until("deliveries are in flight", || {
        sink.holding.load(Ordering::SeqCst)
            && (acked_count(&acked) >= HOLD_AT + 20 || poster.is_finished())
    });
    killed.store(true, Ordering::SeqCst);
    host.child.kill().expect("SIGKILL");
    host.child.wait().expect("the host is gone");
    let seen_at_kill = sink.delivered().len();
    sink.release.store(true, Ordering::SeqCst);
    poster.join().expect("poster");
    let acked_at_kill = acked_count(&acked);
    assert!(
        seen_at_kill > 0 && seen_at_kill < acked_at_kill,
        "the kill came with deliveries in flight: {seen_at_kill} delivered of {acked_at_kill} acknowledged"
    );
    drop(host);

    // Restarted on the same store: what was not acknowledged is posted again,
    // as the platform would; some acknowledged messages are posted again too.
    let host = start();
    let mut acked = acked.lock().expect("acked").clone();
    let mut reposted_acked = 0;
    for (seq, answer) in acked.iter_mut().enumerate() {
        match answer {
            Some((200, reply)) => {
                if seq % 5 == 0 {
                    let (status, again) = try_post(&host.base, seq).expect("answered");
                    assert_eq!(status, 200, "{again}");
                    assert_eq!(again["accepted"], 0, "seq {seq} stored twice: {again}");
                    assert_eq!(again["duplicates"], 1, "{again}");
                    reposted_acked += 1;
                }
                assert_eq!(reply["accepted"], 1, "seq {seq} first answer: {reply}");
            }
            _ => {
                let (status, reply) = try_post(&host.base, seq).expect("answered");
                assert_eq!(status, 200, "seq {seq} after the restart: {reply}");
                *answer = Some((status, reply));
            }
        }
    }
    assert!(reposted_acked > 0);

    wait_until("every message reached the sink", || {
        sink.delivered().len() == STREAM
    });
    // Then until the sink has been idle for a second: any resend comes first.
    let mut last = (sink.snapshot().len(), Instant::now());
    wait_until("the pipeline is idle", || {
        let now = sink.snapshot().len();
        if now != last.0 {
            last = (now, Instant::now());
        }
        last.1.elapsed() > Duration::from_secs(1)
    });
    drop(host);

    let received = sink.snapshot();
    let mut keys: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for request in &received {
        let seq = request
            .seq
            .unwrap_or_else(|| panic!("a send that is no message of the stream: {request:?}"));
        let sender = seq % SENDERS;
        assert_eq!(
            request.body["recipient"]["id"],
            messenger_id(sender),
            "{request:?}"
        );
        assert!(request.idempotency_key.contains(&wamid(seq)), "{request:?}");
        keys.entry(seq)
            .or_default()
            .insert(request.idempotency_key.clone());
    }
    assert_eq!(keys.len(), STREAM, "every message delivered");
    for (seq, keys) in &keys {
        assert_eq!(
            keys.len(),
            1,
            "message {seq} delivered as distinct deliveries: {keys:?}"
        );
    }
    let resends = received.len() - STREAM;
    println!(
        "crash: killed with {seen_at_kill} of {acked_at_kill} acknowledged messages delivered; \
         {} re-posted after the restart; {resends} resends with the same idempotency key",
        STREAM - acked_at_kill
    );
    // The held send is repeated, with its key; only sends in flight at the
    // kill are: at most one per worker (8), plus one whose webhook was being
    // stored.
    assert!((1..=9).contains(&resends), "{resends} resends");

    let stores =
        KeyValueStores::open(Some(&dir.join("runtime-config.toml")), &dir).expect("store opens");
    let keys = stores
        .get("default")
        .expect("default store")
        .keys()
        .expect("keys");
    let left: Vec<&String> = keys
        .iter()
        .filter(|key| {
            key.starts_with("inbox:")
                || key.starts_with("outbox:")
                || key.starts_with("deadletter:")
        })
        .collect();
    assert!(left.is_empty(), "work left behind: {left:?}");
    let delivered = keys
        .iter()
        .filter(|key| key.starts_with("delivered:whatsapp:wamid.CRASH"))
        .count();
    assert_eq!(delivered, STREAM);
}
