//! `switchboard soak` against a host of its own for a few seconds, every
//! attack at a small intensity: no legitimate message is lost or answered
//! 5xx, and each attack gets the answer the front door promises
//! (`runtime/front_door.rs`): 408 for a body that does not come, the
//! connection closed for a head that does not, 413 for a body over the
//! route's limit, 400/422 for a signed body no instance can process, 401 for
//! a bad or missing signature, 200 (and one notice) for a stranger.

use crate::{repo_root, switchboard_with_env};
use serde_json::Value;

/// Answers of `kind` in the report that are one of `statuses`.
fn answered(report: &Value, kind: &str, statuses: &[&str]) -> u64 {
    statuses
        .iter()
        .map(|status| {
            report["kinds"][kind]["answers"][status]
                .as_u64()
                .unwrap_or(0)
        })
        .sum()
}

#[test]
fn a_short_soak_loses_nothing_and_every_attack_gets_its_promised_answer() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-soak");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let json = dir.join("soak.json");
    let manifest = repo_root().join("spin.toml");
    let state = dir.join("state");
    let output = switchboard_with_env(
        &[
            "soak",
            "--manifest",
            manifest.to_str().expect("utf-8"),
            "--state-dir",
            state.to_str().expect("utf-8"),
            "--duration",
            "5s",
            "--rate",
            "10",
            "--concurrency",
            "2",
            "--senders",
            "4",
            "--slow-headers",
            "3",
            "--slow-bodies",
            "3",
            "--idle",
            "3",
            "--drip-ms",
            "200",
            "--oversized",
            "2",
            "--huge",
            "0.4",
            "--malformed",
            "8",
            "--strangers",
            "6",
            "--header-timeout-ms",
            "1000",
            "--body-timeout-ms",
            "1000",
            "--drain-secs",
            "20",
            "--progress-secs",
            "2",
            "--json",
            json.to_str().expect("utf-8"),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: Value =
        serde_json::from_slice(&std::fs::read(&json).expect("the JSON report")).expect("JSON");
    let context = format!("{report:#}\n{stdout}");

    // Conversations flowed through it all.
    let legitimate = &report["legitimate"];
    assert_eq!(legitimate["webhooks"], 50, "{context}");
    assert_eq!(legitimate["lost"], 0, "{context}");
    assert_eq!(legitimate["accepted"], 50, "{context}");
    assert_eq!(legitimate["delivered"], 50, "{context}");
    assert_eq!(legitimate["resent_new_key"], 0, "{context}");
    assert_eq!(answered(&report, "legitimate", &["200"]), 50, "{context}");
    assert_eq!(report["kinds"]["legitimate"]["5xx"], 0, "{context}");
    assert_eq!(report["server_errors"], 0, "{context}");

    // Each attack met its rule at least once, and nothing else.
    for (kind, promised) in [
        ("slow-headers", &["closed", "408"][..]),
        ("slow-body", &["408"]),
        ("idle", &["closed"]),
        ("oversized-announced", &["413"]),
        ("oversized-chunked", &["413"]),
        ("huge-under-limit", &["400", "422"]),
        ("bad-json", &["400"]),
        ("wrong-types", &["400"]),
        ("bad-signature", &["401"]),
        ("unsigned", &["401"]),
        ("strangers", &["200"]),
    ] {
        assert!(
            answered(&report, kind, promised) >= 1,
            "{kind}: no {promised:?}\n{context}"
        );
        assert_eq!(
            report["kinds"][kind]["unexpected"], 0,
            "{kind}: answers the front door does not promise\n{context}"
        );
    }

    // Strangers were told once each; the people in conversations never.
    let notices = &report["notices"];
    assert!(
        notices["strangers_notified"].as_u64() >= Some(1),
        "{context}"
    );
    assert_eq!(notices["most_to_one"], 1, "{context}");
    assert_eq!(notices["to_legitimate"], 0, "{context}");
    assert!(
        report["host"]["peak_rss_kib"].as_u64() > Some(0),
        "{context}"
    );
    assert!(
        report["host"]["store_after_bytes"].as_u64()
            >= report["host"]["store_before_bytes"].as_u64(),
        "{context}"
    );
}
