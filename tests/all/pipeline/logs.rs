//! The host's log says nothing personal: a conversation through `switchboard
//! up` at the most verbose level of the host's own crates (and debug for
//! everything else) — a delivery, a send that fails and is retried, a
//! refusal with its notice, an admin call whose path names an account — and
//! then the whole log is searched for the phone numbers, the Messenger id,
//! the profile name and the message texts. What it proves: none of them is
//! in any line of that log; the log is not empty and names the events by
//! digest.

use crate::pipeline::delivery::{
    Sink, admin, converse, post_signed, wait_for_metric, whatsapp_text,
};
use crate::runtime::up::{Host, SECRET, host_config, state_dir};
use serde_json::json;
use std::process::Stdio;
use std::sync::atomic::Ordering;

const ALICE_WA: &str = "16505557001";
const BOB_PSID: &str = "6000000077";
const STRANGER_WA: &str = "16505557999";
const TEXT: &str = "Meet me at the blue door";
const REFUSED_TEXT: &str = "A message nobody may read";

#[test]
fn no_phone_number_name_or_text_reaches_the_log() {
    let dir = state_dir("pipeline-logs");
    let sink = Sink::start();
    let config = host_config(&dir, &sink.base, 5, "");
    let log_path = dir.join("host.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    {
        let host = Host::start_logging(
            &dir,
            &["--config".as_ref(), config.as_os_str()],
            Stdio::from(log),
            "debug,switchboard=trace,switchboard_pipeline=trace,switchboard_runtime=trace",
        );
        converse(&host, &[("whatsapp", ALICE_WA), ("messenger", BOB_PSID)]);
        // An admin call with the phone number in its path.
        admin(
            &host,
            "GET",
            &format!("/admin/accounts/whatsapp/{ALICE_WA}"),
            json!({}),
        );

        // Delivered after one failed try.
        sink.failures.store(1, Ordering::SeqCst);
        let body = whatsapp_text(ALICE_WA, "wamid.logs1", TEXT);
        assert_eq!(post_signed(&host, "whatsapp", SECRET, &body).0, 200);
        sink.wait_for("the delivery", |request| {
            request.body["recipient"]["id"] == BOB_PSID && request.answered == 200
        });
        // Refused (no link): the stranger gets a notice on WhatsApp.
        let body = whatsapp_text(STRANGER_WA, "wamid.logs2", REFUSED_TEXT);
        assert_eq!(post_signed(&host, "whatsapp", SECRET, &body).0, 200);
        sink.wait_for("the notice", |request| request.body["to"] == STRANGER_WA);
        wait_for_metric(
            &host,
            "switchboard_messages_out_total{platform=\"whatsapp\"}",
            1.0,
        );
    }
    let text = std::fs::read_to_string(&log_path).expect("log");
    assert!(text.lines().count() > 10, "the log is not empty:\n{text}");
    // The delivery is logged, naming its outbox key by digest.
    assert!(
        text.lines()
            .any(|line| line.contains("delivered") && line.contains('#')),
        "{text}"
    );
    for secret in [
        ALICE_WA,
        BOB_PSID,
        STRANGER_WA,
        "Sheena",
        "Nelson",
        TEXT,
        REFUSED_TEXT,
    ] {
        let found: Vec<&str> = text.lines().filter(|line| line.contains(secret)).collect();
        assert!(
            found.is_empty(),
            "`{secret}` is in the log:\n{}",
            found.join("\n")
        );
    }
}
