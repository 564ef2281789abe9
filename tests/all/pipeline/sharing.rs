//! Notice before sharing, through `switchboard up`: the operator turns on
//! sharing WhatsApp profile names; every WhatsApp member is told on
//! WhatsApp; during the notice window names stay hidden; an opt-out
//! (`/private`) during the window is audited with the person and app as
//! actor and applies to their next message; after the window the others'
//! names cross.

use crate::pipeline::anyone::{alias_in, count_to, from_whatsapp, settle, text_of, to, whatsapp};
use crate::pipeline::delivery::{Sink, admin_json, converse};
use crate::runtime::up::{Host, host_config, state_dir};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NUMBER: &str = "106540352242922";
const ALICE_WA: &str = "16505558001";
const DAN_WA: &str = "16505558004";
const BOB_PSID: &str = "6000000801";
const CAROL_IGSID: &str = "17840000000000801";
/// The notice window the host runs with.
const NOTICE_MS: u64 = 5_000;
/// What the notice says, whatever the date.
const NOTICE: &str = "your profile name will be shown to the people you talk with on other apps. Send /private to keep it hidden.";

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

/// The audit log, oldest first.
fn audit(host: &Host) -> Vec<Value> {
    let (status, log) = admin_json(host, "GET", "/admin/audit?limit=1000", Value::Null);
    assert_eq!(status, 200, "{log}");
    log["records"].as_array().expect("records").clone()
}

#[test]
fn an_opt_out_during_the_notice_window_applies_to_the_next_message_and_is_audited() {
    let dir = state_dir("sharing-notice");
    let sink = Sink::start();
    let config = host_config(&dir, &sink.base, 5, "");
    let window = NOTICE_MS.to_string();
    let env = [
        ("SPIN_VARIABLE_SHARING_NOTICE_MS", window.as_str()),
        ("SPIN_VARIABLE_ADMIN_NAME", "ops-team"),
    ];
    let host = Host::start_with_env(&dir, &["--config".as_ref(), config.as_os_str()], &env);
    let with_bob = converse(&host, &[("whatsapp", ALICE_WA), ("messenger", BOB_PSID)]);
    let with_carol = converse(&host, &[("whatsapp", DAN_WA), ("instagram", CAROL_IGSID)]);
    let alice_alias = alias_in(&with_bob, ALICE_WA);
    let dan_alias = alias_in(&with_carol, DAN_WA);

    // The operator turns on sharing WhatsApp profile names.
    let (status, policy) = admin_json(
        &host,
        "POST",
        "/admin/sharing",
        json!({ "platform": "whatsapp", "attribute": "display-name", "enabled": true }),
    );
    assert_eq!(status, 200, "{policy}");
    let effective = policy["effective_at_ms"].as_u64().expect("effective_at_ms");
    assert!(
        effective >= now_ms() + NOTICE_MS - 2_000,
        "the window is the configured one"
    );

    // Every WhatsApp member is told, on WhatsApp, once; nobody else is.
    for who in [ALICE_WA, DAN_WA] {
        let notice = sink.wait_for("the sharing notice", |r| {
            to(r, who) && text_of(r).contains(NOTICE)
        });
        assert!(
            text_of(&notice).starts_with("From "),
            "{}",
            text_of(&notice)
        );
        assert!(notice.path.contains(NUMBER), "{}", notice.path);
    }

    // During the window, Dan opts out; Alice's message crosses under her
    // alias.
    whatsapp(
        &host,
        &from_whatsapp(DAN_WA, NUMBER, "wamid.s-dan1", "/private", None),
    );
    sink.wait_for("the answer to /private", |r| {
        to(r, DAN_WA) && text_of(r).contains("Private:")
    });
    whatsapp(
        &host,
        &from_whatsapp(
            ALICE_WA,
            NUMBER,
            "wamid.s-alice1",
            "Still in the window",
            None,
        ),
    );
    let during = sink.wait_for("Alice's message in the window", |r| {
        to(r, BOB_PSID) && text_of(r).contains("Still in the window")
    });
    assert!(
        now_ms() < effective,
        "the machine was too slow for the window of {NOTICE_MS} ms"
    );
    assert!(
        text_of(&during).contains(&format!("{alice_alias}\nStill in the window")),
        "{:?}",
        text_of(&during)
    );
    assert!(
        !text_of(&during).contains("Sheena"),
        "{:?}",
        text_of(&during)
    );

    let records = audit(&host);
    let dan_actor = format!("whatsapp:{DAN_WA} in chat");
    let opt_out = records
        .iter()
        .find(|record| {
            record["actor"] == dan_actor.as_str()
                && record["action"] == "consent"
                && record["details"]["scope"] == "share-display-name"
        })
        .unwrap_or_else(|| panic!("no opt-out by {dan_actor} in {records:#?}"));
    assert_eq!(opt_out["details"]["granted"], false);
    assert_eq!(opt_out["details"]["account"]["id"], DAN_WA);
    let turned_on = records
        .iter()
        .find(|record| record["action"] == "sharing")
        .expect("the policy is audited");
    assert_eq!(turned_on["actor"], "ops-team");
    assert_eq!(turned_on["details"]["platform"], "whatsapp");

    // After the window: Alice's name crosses, Dan's does not.
    while now_ms() <= effective {
        std::thread::sleep(Duration::from_millis(100));
    }
    whatsapp(
        &host,
        &from_whatsapp(ALICE_WA, NUMBER, "wamid.s-alice2", "After the window", None),
    );
    let after = sink.wait_for("Alice's message after the window", |r| {
        to(r, BOB_PSID) && text_of(r).contains("After the window")
    });
    assert!(
        text_of(&after).contains("Sheena Nelson · WhatsApp\nAfter the window"),
        "{:?}",
        text_of(&after)
    );
    whatsapp(
        &host,
        &from_whatsapp(DAN_WA, NUMBER, "wamid.s-dan2", "Dan after the window", None),
    );
    let from_dan = sink.wait_for("Dan's message after the window", |r| {
        to(r, CAROL_IGSID) && text_of(r).contains("Dan after the window")
    });
    assert!(
        text_of(&from_dan).contains(&dan_alias),
        "{:?}",
        text_of(&from_dan)
    );
    assert!(
        !text_of(&from_dan).contains("Sheena"),
        "{:?}",
        text_of(&from_dan)
    );

    // Bob and Carol were never told; each WhatsApp member once.
    settle();
    assert_eq!(count_to(&sink, BOB_PSID, "your profile name"), 0);
    assert_eq!(count_to(&sink, CAROL_IGSID, "your profile name"), 0);
    assert_eq!(count_to(&sink, ALICE_WA, NOTICE), 1);
    assert_eq!(count_to(&sink, DAN_WA, NOTICE), 1);
}
