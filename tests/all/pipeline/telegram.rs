//! Telegram and Matrix through `switchboard up`, with the plugins built with
//! the kit (`plugins/`) loaded from `spin.toml`: a Telegram user talks with a
//! WhatsApp and a Messenger user in a group (each way), a Matrix homeserver
//! pushes a transaction into a room that is in a group with a WhatsApp and a
//! Messenger user (what anyone writes in the room reaches both, and theirs
//! reach the room) — and the credentials go where each translator's
//! `api-auth` says and nowhere else.
//!
//! Telegram's updates do not name the bot they are for, so the decoded
//! recipient is the endpoint `bot`, and a Telegram user's account id is
//! their user id, which is also the chat id of their private chat with the
//! bot. Matrix's encoder addresses a room, so the Matrix member here is a
//! room id, and a room's events speak for it (the router's bridged chats):
//! the Matrix user who wrote (`@user:server`) is named to no other app.
//!
//! What it proves about secrets: the bot token is in the path of Telegram's
//! requests only; a Telegram send that fails (500, with an answer quoting the
//! URL) or is refused (400) leaves no token in the log (at the most verbose
//! level, the HTTP client's included), the metrics, the outbox, the dead letters or anything else in the
//! store; webhooks without the right secret token are 401, without the right
//! `hs_token` 401 or 403 with the Matrix errcode, and
//! store nothing.

use crate::pipeline::delivery::{converse, metric, wait_for_metric, whatsapp_text};
use crate::runtime::up::{
    Host, MATRIX_AS_TOKEN, MATRIX_HS_TOKEN, SECRET, TELEGRAM_SECRET, TELEGRAM_TOKEN, agent,
    host_config, state_dir,
};
use gateway::verify::hub_signature;
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_runtime::key_value::KeyValueStores;

const ADA_TG: &str = "123456789";
const ALICE_WA: &str = "16505558001";
const CARL_WA: &str = "16505558002";
/// A room id as room version 12 makes them (no server part); an older
/// version's `!id:server` works the same (account ids may hold `:`).
const KITCHEN_ROOM: &str = "!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM";
/// Messenger members of the two conversations, so each plugin talks with a
/// WhatsApp and a Messenger user.
const MIA_PSID: &str = "6000000881";
const MAX_PSID: &str = "6000000882";
/// Text in a WhatsApp message that the Telegram sink refuses (400).
const REFUSED: &str = "Telegram refuses this one";

/// One request the sink received.
#[derive(Clone, Debug)]
struct Call {
    method: String,
    url: String,
    authorization: Option<String>,
    body: Value,
    status: u16,
}

/// A local server playing WhatsApp's, Telegram's and Matrix's APIs. Telegram
/// calls fail with a 500 while `telegram_failures` is above zero, and a
/// message holding [`REFUSED`] is refused with a 400; both answers quote the
/// request's URL, as an error page might.
struct ApiSink {
    base: String,
    calls: Arc<Mutex<Vec<Call>>>,
    telegram_failures: Arc<AtomicU32>,
}

impl ApiSink {
    fn start() -> ApiSink {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("sink listens");
        let base = format!("http://{}", server.server_addr().to_ip().expect("ip"));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let telegram_failures = Arc::new(AtomicU32::new(0));
        let (log, failing) = (calls.clone(), telegram_failures.clone());
        std::thread::spawn(move || {
            for (count, mut request) in server.incoming_requests().enumerate() {
                let mut text = String::new();
                let _ = request.as_reader().read_to_string(&mut text);
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let url = request.url().to_string();
                let authorization = request
                    .headers()
                    .iter()
                    .find(|header| header.field.equiv("Authorization"))
                    .map(|header| header.value.to_string());
                let (status, answer) = if url.starts_with("/bot") {
                    let down = failing
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                            left.checked_sub(1)
                        })
                        .is_ok();
                    if down {
                        (
                            500,
                            json!({ "ok": false, "error_code": 500,
                                    "description": format!("Internal Server Error at {url}") }),
                        )
                    } else if text.contains(REFUSED) {
                        (
                            400,
                            json!({ "ok": false, "error_code": 400,
                                    "description": format!("Bad Request: cannot send to {url}") }),
                        )
                    } else {
                        (
                            200,
                            json!({ "ok": true, "result": {
                                "message_id": 5000 + count, "date": 1700000000,
                                "chat": { "id": body["chat_id"], "type": "private" },
                                "text": body["text"] } }),
                        )
                    }
                } else if url.starts_with("/_matrix/") {
                    (
                        200,
                        json!({ "event_id": format!("$sink{count}:example.org") }),
                    )
                } else {
                    (
                        200,
                        json!({ "messaging_product": "whatsapp",
                                "messages": [{ "id": format!("wamid.sink{count}") }] }),
                    )
                };
                log.lock().expect("log").push(Call {
                    method: request.method().to_string(),
                    url,
                    authorization,
                    body,
                    status,
                });
                let response = tiny_http::Response::from_string(answer.to_string())
                    .with_status_code(status)
                    .with_header(
                        tiny_http::Header::from_bytes("Content-Type", "application/json")
                            .expect("header"),
                    );
                let _ = request.respond(response);
            }
        });
        ApiSink {
            base,
            calls,
            telegram_failures,
        }
    }

    /// Waits until a request matching `wanted` was answered 200.
    fn wait_for(&self, what: &str, wanted: impl Fn(&Call) -> bool) -> Call {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = self
                .calls
                .lock()
                .expect("log")
                .iter()
                .find(|call| call.status == 200 && wanted(call))
            {
                return found.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {what} reached the sink; it saw {:#?}",
                self.calls.lock().expect("log")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A Telegram text update from Ada in her private chat with the bot.
fn telegram_text(update_id: u64, message_id: u64, text: &str) -> Vec<u8> {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": { "id": 123456789, "is_bot": false, "first_name": "Ada", "username": "ada" },
            "chat": { "id": 123456789, "first_name": "Ada", "username": "ada", "type": "private" },
            "date": 1441645532,
            "text": text,
        }
    })
    .to_string()
    .into_bytes()
}

/// Sends `body` with `method` to `path` with the given headers.
fn send(
    host: &Host,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut request = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", host.base))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = agent()
        .run(request.body(body.to_vec()).expect("request"))
        .expect("answered");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn post_whatsapp(host: &Host, body: &[u8]) -> u16 {
    let signature = hub_signature(SECRET, body);
    send(
        host,
        "POST",
        "/ingress/whatsapp",
        &[("x-hub-signature-256", signature.as_str())],
        body,
    )
    .0
}

#[test]
fn telegram_and_whatsapp_users_talk_and_no_token_leaks() {
    let dir = state_dir("pipeline-telegram");
    let sink = ApiSink::start();
    let extra = format!(
        "[platforms.telegram]\napi_base = \"{0}\"\n\
         [platforms.matrix]\napi_base = \"{0}\"\n",
        sink.base
    );
    let config = host_config(&dir, &sink.base, 3, &extra);
    let log_path = dir.join("host.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let metrics_text;
    {
        let host = Host::start_logging(
            &dir,
            &["--config".as_ref(), config.as_os_str()],
            Stdio::from(log),
            // The HTTP client asked for at trace too, which would write
            // request paths: the host keeps it at debug.
            "debug,switchboard=trace,switchboard_pipeline=trace,switchboard_runtime=trace,ureq=trace,ureq_proto=trace",
        );
        converse(
            &host,
            &[
                ("telegram", ADA_TG),
                ("whatsapp", ALICE_WA),
                ("messenger", MIA_PSID),
            ],
        );
        converse(
            &host,
            &[
                ("whatsapp", CARL_WA),
                ("matrix", KITCHEN_ROOM),
                ("messenger", MAX_PSID),
            ],
        );

        // Telegram → WhatsApp, with the right secret token.
        let update = telegram_text(900001, 1401, "Hello from Telegram");
        let (status, reply) = send(
            &host,
            "POST",
            "/ingress/telegram",
            &[("x-telegram-bot-api-secret-token", TELEGRAM_SECRET)],
            &update,
        );
        assert_eq!(status, 200, "{reply}");
        let delivered = sink.wait_for("Ada's message on WhatsApp", |call| {
            call.body["to"] == ALICE_WA
                && call.body["text"]["body"]
                    .as_str()
                    .is_some_and(|text| text.contains("Hello from Telegram"))
        });
        assert_eq!(delivered.url, "/v21.0/106540352242922/messages");
        sink.wait_for("Ada's message on Messenger", |call| {
            call.body["recipient"]["id"] == MIA_PSID
                && call.body["message"]["text"]
                    .as_str()
                    .is_some_and(|text| text.ends_with("\nHello from Telegram"))
        });

        // No secret, or a wrong one: 401, and nothing is stored.
        let forged = telegram_text(900002, 1402, "forged");
        for headers in [
            &[][..],
            &[("x-telegram-bot-api-secret-token", "not-the-secret")][..],
        ] {
            let (status, reply) = send(&host, "POST", "/ingress/telegram", headers, &forged);
            assert_eq!(status, 401, "{reply}");
        }

        // WhatsApp → Telegram: the bot token in the path, no Authorization;
        // Telegram fails once (500, quoting the URL), then takes it.
        sink.telegram_failures.store(1, Ordering::SeqCst);
        let body = whatsapp_text(ALICE_WA, "wamid.tg1", "Hi Ada, from WhatsApp");
        assert_eq!(post_whatsapp(&host, &body), 200);
        let sent = sink.wait_for("Alice's message on Telegram", |call| {
            call.url.contains("/sendMessage")
                && call.body["text"]
                    .as_str()
                    .is_some_and(|text| text.contains("Hi Ada, from WhatsApp"))
        });
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.url, format!("/bot{TELEGRAM_TOKEN}/sendMessage"));
        assert_eq!(sent.authorization, None);
        assert_eq!(sent.body["chat_id"].to_string().trim_matches('"'), ADA_TG);
        let tries = sink
            .calls
            .lock()
            .expect("log")
            .iter()
            .filter(|call| call.url.contains("/sendMessage"))
            .count();
        assert_eq!(tries, 2, "one failed try, then the one that got through");
        assert!(metric(&host, "switchboard_retries_total{platform=\"telegram\"}") >= 1.0);

        // Refused by Telegram (400, quoting the URL): dead-lettered.
        let body = whatsapp_text(ALICE_WA, "wamid.tg2", REFUSED);
        assert_eq!(post_whatsapp(&host, &body), 200);
        wait_for_metric(
            &host,
            "switchboard_dead_letters_total{platform=\"telegram\"}",
            1.0,
        );

        // A Matrix transaction: the hs_token as a bearer token, answered `{}`.
        let transaction = json!({ "events": [{
            "type": "m.room.message", "event_id": "$tx1ev:example.org",
            "room_id": KITCHEN_ROOM, "sender": "@carol:example.org",
            "origin_server_ts": 1700000000000u64,
            "content": { "msgtype": "m.text", "body": "hello from Matrix" } }] })
        .to_string()
        .into_bytes();
        let path = "/ingress/matrix/_matrix/app/v1/transactions/txn1";
        // As the application service API asks: no token 401 M_UNAUTHORIZED,
        // a wrong one 403 M_FORBIDDEN.
        for (headers, want, errcode) in [
            (&[][..], 401, "M_UNAUTHORIZED"),
            (
                &[("authorization", "Bearer not-the-hs-token")][..],
                403,
                "M_FORBIDDEN",
            ),
        ] {
            let (status, reply) = send(&host, "PUT", path, headers, &transaction);
            assert_eq!(status, want, "{reply}");
            assert_eq!(reply["errcode"], errcode, "{reply}");
        }
        let bearer = format!("Bearer {MATRIX_HS_TOKEN}");
        let (status, reply) = send(
            &host,
            "PUT",
            path,
            &[("authorization", bearer.as_str())],
            &transaction,
        );
        assert_eq!((status, reply), (200, json!({})));
        // The room is Carl's conversation partner (a bridged room speaks as
        // its member): what Carol writes there reaches Carl on WhatsApp,
        // under the room's alias, naming no one in the room.
        let from_room = sink.wait_for("the Matrix message on WhatsApp", |call| {
            call.body["to"] == CARL_WA
                && call.body["text"]["body"]
                    .as_str()
                    .is_some_and(|text| text.ends_with("\nhello from Matrix"))
        });
        assert!(
            !from_room.body.to_string().contains("carol"),
            "{:?}",
            from_room.body
        );
        sink.wait_for("the Matrix message on Messenger", |call| {
            call.body["recipient"]["id"] == MAX_PSID
                && call.body["message"]["text"]
                    .as_str()
                    .is_some_and(|text| text.ends_with("\nhello from Matrix"))
        });

        // WhatsApp → a Matrix room: a PUT with the as_token as a bearer.
        let body = whatsapp_text(CARL_WA, "wamid.mx1", "Dinner at eight");
        assert_eq!(post_whatsapp(&host, &body), 200);
        let in_room = sink.wait_for("Carl's message in the Matrix room", |call| {
            call.url.starts_with("/_matrix/")
                && call.body["body"]
                    .as_str()
                    .is_some_and(|body| body.ends_with("\nDinner at eight"))
        });
        assert_eq!(in_room.method, "PUT");
        assert!(
            in_room
                .url
                .starts_with("/_matrix/client/v3/rooms/%2131hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM/send/m.room.message/"),
            "{}",
            in_room.url
        );
        let as_bearer = format!("Bearer {MATRIX_AS_TOKEN}");
        assert_eq!(in_room.authorization.as_deref(), Some(as_bearer.as_str()));

        metrics_text = agent()
            .get(format!("{}/metrics", host.base))
            .call()
            .expect("metrics")
            .body_mut()
            .read_to_string()
            .expect("text");
    }

    let secrets = [
        TELEGRAM_TOKEN,
        // The token's secret half, in case it was cut or encoded.
        "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        TELEGRAM_SECRET,
        MATRIX_AS_TOKEN,
        MATRIX_HS_TOKEN,
    ];
    let log = std::fs::read_to_string(&log_path).expect("log");
    assert!(log.lines().count() > 10, "the log is not empty:\n{log}");
    assert!(log.contains("send failed; will retry"), "{log}");
    assert!(log.contains("dead-lettered"), "{log}");
    for secret in secrets {
        let found: Vec<&str> = log.lines().filter(|line| line.contains(secret)).collect();
        assert!(
            found.is_empty(),
            "`{secret}` is in the log:\n{}",
            found.join("\n")
        );
        assert!(
            !metrics_text.contains(secret),
            "`{secret}` is in the metrics"
        );
    }

    // Nothing in the store holds a token: not the outbox, not the dead
    // letter (whose reason names the URL, redacted), not anything else.
    let stores =
        KeyValueStores::open(Some(&dir.join("runtime-config.toml")), &dir).expect("store opens");
    let store = stores.get("default").expect("default store");
    let everything = store.scan_prefix("", usize::MAX).expect("scan");
    assert!(everything.len() > 10);
    for (key, value) in &everything {
        let value = String::from_utf8_lossy(value);
        for secret in secrets {
            assert!(
                !key.contains(secret) && !value.contains(secret),
                "`{secret}` is stored under {key}: {value}"
            );
        }
    }
    let dead: Vec<Value> = everything
        .iter()
        .filter(|(key, _)| key.starts_with("deadletter:"))
        .map(|(_, value)| serde_json::from_slice(value).expect("JSON"))
        .collect();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let reason = dead[0]["reason"].as_str().expect("reason");
    assert!(
        reason.contains("/bot[redacted]/sendMessage answered 400"),
        "{reason}"
    );
    // The forged update (message 1402) was never stored; Ada's and the
    // Matrix transaction's events were.
    let envelopes: Vec<&String> = everything
        .iter()
        .map(|(key, _)| key)
        .filter(|key| key.starts_with("envelope:"))
        .collect();
    assert!(
        envelopes
            .iter()
            .any(|key| key.contains("telegram:123456789:1401")),
        "{envelopes:?}"
    );
    assert!(
        !envelopes.iter().any(|key| key.contains("1402")),
        "{envelopes:?}"
    );
    assert!(
        envelopes
            .iter()
            .any(|key| key.contains("$tx1ev:example.org")),
        "{envelopes:?}"
    );
}
