//! `switchboard story plan` runs the planner component and prints what the
//! same planner, built natively, plans for the documented story fixtures; and
//! a profile override in configuration changes the plan.

use crate::{fixtures_dir, switchboard};
use serde_json::{Value, json};

/// An instant inside every fixture story's lifetime but the expired one's
/// (the fixtures' SOURCES: created 1732518000000, live for 24 h).
const NOW_MS: u64 = 1_732_518_600_000;

fn plan_with_cli(name: &str, profiles: Option<&std::path::Path>) -> Value {
    let dir = fixtures_dir().join("stories");
    let story_path = dir.join(format!("{name}.story.json"));
    let story: Value =
        serde_json::from_slice(&std::fs::read(&story_path).expect("story")).expect("json");
    let from = story["author"]["platform"]
        .as_str()
        .expect("author platform");
    let settings = dir.join(format!("{name}.settings.json"));
    let now = NOW_MS.to_string();
    let mut args = vec![
        "story",
        "plan",
        "--from",
        from,
        "--now-ms",
        &now,
        "--settings",
        settings.to_str().expect("utf-8 path"),
    ];
    if let Some(profiles) = profiles {
        args.extend(["--profiles", profiles.to_str().expect("utf-8 path")]);
    }
    args.push(story_path.to_str().expect("utf-8 path"));
    let output = switchboard(&args, b"");
    assert!(
        output.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn plan_natively(name: &str, profiles: &[::stories::StoryProfile]) -> Value {
    let dir = fixtures_dir().join("stories");
    let read =
        |suffix: &str| std::fs::read(dir.join(format!("{name}.{suffix}.json"))).expect("fixture");
    let story: ::stories::Story = serde_json::from_slice(&read("story")).expect("a story");
    let settings: ::stories::CrossPostSettings =
        serde_json::from_slice(&read("settings")).expect("settings");
    serde_json::to_value(::stories::plan(&story, &settings, profiles, NOW_MS)).expect("json")
}

#[test]
fn the_command_plans_as_the_native_planner_does() {
    let defaults = ::stories::default_profiles();
    for name in [
        "video-90s-instagram",
        "close-friends",
        "expired",
        "png-facebook",
    ] {
        let printed = plan_with_cli(name, None);
        assert_eq!(printed, plan_natively(name, &defaults), "{name}");
        assert!(!printed.as_array().expect("a list").is_empty(), "{name}");
    }
}

#[test]
fn a_profile_override_is_merged_over_the_defaults() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("story-profiles");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("profiles.json");
    // Only one field of WhatsApp Status changes; the rest keep their defaults.
    let overrides = json!([{ "platform": "whatsapp", "max_segment_ms": 10_000 }]);
    std::fs::write(&path, overrides.to_string()).expect("written");
    let merged = ::stories::profiles_from_json(&overrides.to_string()).expect("merges");
    let printed = plan_with_cli("video-90s-instagram", Some(&path));
    assert_eq!(printed, plan_natively("video-90s-instagram", &merged));
    assert_ne!(
        printed,
        plan_with_cli("video-90s-instagram", None),
        "the override must change the WhatsApp segments"
    );
}
