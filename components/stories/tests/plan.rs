//! The story planner's rules and scenarios, on the fixtures in
//! `tests/fixtures/stories` and the default profiles.

// Test helpers fail the test loudly; the workspace lints aim at library code.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use serde::de::DeserializeOwned;
use stories::rules::{self, MappedMentions};
use stories::{
    Audience, CrossPostSettings, PlannedPost, PollSticker, Sticker, Story, StoryMention,
    StoryProfile, TargetOutcome, TargetPlan, default_profiles, plan, profiles_from_json,
    try_default_profiles,
};
use switchboard_pdk::types::{Address, MediaKind};

const CREATED: u64 = 1_732_518_000_000;
const EXPIRES: u64 = CREATED + 86_400_000;
const NOW: u64 = CREATED + 600_000;

fn fixture_text(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/stories/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn fixture<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&fixture_text(name)).unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn scenario(name: &str) -> (Story, CrossPostSettings) {
    (
        fixture(&format!("{name}.story.json")),
        fixture(&format!("{name}.settings.json")),
    )
}

fn address(platform: &str, id: &str) -> Address {
    Address {
        platform: platform.into(),
        id: id.into(),
    }
}

fn profile(platform: &str) -> StoryProfile {
    default_profiles()
        .into_iter()
        .find(|profile| profile.platform == platform)
        .unwrap_or_else(|| panic!("no default profile for {platform}"))
}

fn posts(outcome: &TargetOutcome) -> &[PlannedPost] {
    match &outcome.plan {
        TargetPlan::Publish(posts) => posts,
        TargetPlan::Refuse(reason) => panic!("{:?} refused: {reason}", outcome.target),
    }
}

fn refusal(outcome: &TargetOutcome) -> &str {
    match &outcome.plan {
        TargetPlan::Refuse(reason) => reason,
        TargetPlan::Publish(posts) => panic!("{:?} published {posts:?}", outcome.target),
    }
}

fn image_story(mime: &str, width: u32, size_bytes: u64) -> Story {
    let mut story: Story = fixture("close-friends.story.json");
    story.mime_type = mime.into();
    story.width = width;
    story.size_bytes = size_bytes;
    story
}

fn video_story(duration_ms: u32, size_bytes: u64) -> Story {
    let mut story: Story = fixture("video-90s-instagram.story.json");
    story.duration_ms = Some(duration_ms);
    story.size_bytes = size_bytes;
    story
}

// ---------------------------------------------------------------- profiles

#[test]
fn embedded_profiles_parse_and_cover_the_three_surfaces() {
    let profiles = try_default_profiles().expect("profiles.json parses");
    let platforms: Vec<&str> = profiles.iter().map(|p| p.platform.as_str()).collect();
    assert_eq!(platforms, ["instagram", "facebook", "whatsapp"]);
    for profile in &profiles {
        assert_eq!(profile.lifetime_ms, 86_400_000, "{}", profile.platform);
        assert!(
            profile.width.min < profile.width.max,
            "{}",
            profile.platform
        );
        assert!(profile.min_video_ms < profile.max_segment_ms);
    }
    let instagram = profile("instagram");
    assert_eq!(instagram.max_segment_ms, 60_000);
    assert_eq!(instagram.min_video_ms, 3_000);
    assert_eq!(instagram.max_image_bytes, 8_000_000);
    assert_eq!(instagram.max_video_bytes, 100_000_000);
    assert_eq!((instagram.width.min, instagram.width.max), (320, 1920));
    assert_eq!(
        instagram.accepted_types,
        vec![
            (MediaKind::Image, vec!["image/jpeg".to_string()]),
            (
                MediaKind::Video,
                vec!["video/mp4".to_string(), "video/quicktime".to_string()]
            ),
        ]
    );
    assert!(instagram.mentions);
    assert_eq!(
        profile("whatsapp").audiences,
        vec![Audience::CloseFriends, Audience::Contacts]
    );
}

#[test]
fn overrides_merge_over_the_defaults_by_platform() {
    let profiles = profiles_from_json(
        r#"[{"platform": "whatsapp", "max_segment_ms": 15000, "stickers": ["poll"]},
            {"platform": "telegram", "accepted_types": [["Image", ["image/jpeg"]]],
             "max_segment_ms": 60000, "min_video_ms": 1000, "max_image_bytes": 10000000,
             "max_video_bytes": 2000000000, "width": {"min": 1, "max": 4096},
             "max_caption_chars": 1024, "lifetime_ms": 86400000,
             "audiences": ["Contacts"], "stickers": [], "mentions": true}]"#,
    )
    .expect("valid overrides");
    assert_eq!(profiles.len(), 4);
    let whatsapp = &profiles[2];
    assert_eq!(whatsapp.platform, "whatsapp");
    assert_eq!(whatsapp.max_segment_ms, 15_000);
    assert_eq!(whatsapp.stickers, vec!["poll".to_string()]);
    // Untouched fields keep their defaults.
    assert_eq!(whatsapp.max_video_bytes, 16_000_000);
    assert_eq!(profiles[0], profile("instagram"));
    assert_eq!(profiles[3].platform, "telegram");
    assert_eq!(profiles[3].width.max, 4096);
}

#[test]
fn bad_overrides_are_errors_naming_the_entry() {
    let missing = profiles_from_json(r#"[{"platform": "telegram", "mentions": true}]"#)
        .expect_err("a new platform needs every field");
    assert!(
        missing.starts_with("profiles[0] (telegram): missing field"),
        "{missing}"
    );
    let wrong = profiles_from_json(r#"[{"platform": "instagram", "max_segment_ms": "long"}]"#)
        .expect_err("a string is not a number");
    assert!(
        wrong.starts_with("profiles[0] (instagram): invalid type"),
        "{wrong}"
    );
    assert_eq!(
        profiles_from_json(r#"{"platform": "instagram"}"#),
        Err("profiles: expected a JSON array of profiles".to_string())
    );
    assert_eq!(
        profiles_from_json(r#"[{"max_segment_ms": 1}]"#),
        Err("profiles[0]: missing string field `platform`".to_string())
    );
    assert!(profiles_from_json("[").is_err());
}

#[test]
fn fixtures_are_the_canonical_json_of_the_generated_types() {
    for name in [
        "video-90s-instagram",
        "close-friends",
        "expired",
        "png-facebook",
    ] {
        let (story, settings) = scenario(name);
        let story_json: serde_json::Value =
            serde_json::from_str(&fixture_text(&format!("{name}.story.json"))).expect("json");
        let settings_json: serde_json::Value =
            serde_json::from_str(&fixture_text(&format!("{name}.settings.json"))).expect("json");
        assert_eq!(
            serde_json::to_value(&story).expect("story"),
            story_json,
            "{name}"
        );
        assert_eq!(
            serde_json::to_value(&settings).expect("settings"),
            settings_json,
            "{name}"
        );
    }
}

// ---------------------------------------------------------------- rules

#[test]
fn an_expired_original_refuses() {
    let (story, _) = scenario("expired");
    assert_eq!(
        rules::check_not_expired(&story, NOW),
        Err("the original story expired at 1732518000000 ms (now 1732518600000 ms); nothing is published after the original expired".to_string())
    );
    assert_eq!(rules::check_not_expired(&story, CREATED - 1), Ok(()));
}

#[test]
fn a_missing_profile_refuses() {
    let profiles = default_profiles();
    assert_eq!(
        rules::find_profile(&profiles, "telegram").map(|p| p.platform.clone()),
        Err("no story profile for platform `telegram`".to_string())
    );
    let (story, _) = scenario("close-friends");
    let settings = CrossPostSettings {
        targets: vec![address("telegram", "42")],
        linked_mentions: vec![],
    };
    let outcomes = plan(&story, &settings, &profiles, NOW);
    assert_eq!(outcomes[0].target, address("telegram", "42"));
    assert_eq!(
        refusal(&outcomes[0]),
        "no story profile for platform `telegram`"
    );
}

#[test]
fn media_kinds_and_types_the_target_lacks_are_refused_with_what_it_accepts() {
    let instagram = profile("instagram");
    let mut audio = image_story("audio/mpeg", 1080, 1_000);
    audio.media_kind = MediaKind::Audio;
    assert_eq!(
        rules::check_media_type(&audio, &instagram),
        Err("audio stories are not accepted by instagram; it accepts image (image/jpeg), video (video/mp4, video/quicktime)".to_string())
    );
    assert_eq!(
        rules::check_media_type(&image_story("image/png", 1080, 1_000), &instagram),
        Err(
            "image type image/png is not accepted by instagram; it accepts image/jpeg for image"
                .to_string()
        )
    );
    let mut mov = video_story(20_000, 5_000_000);
    mov.mime_type = "video/quicktime".into();
    assert_eq!(rules::check_media_type(&mov, &instagram), Ok(()));
    assert_eq!(
        rules::check_media_type(&mov, &profile("facebook")),
        Err("video type video/quicktime is not accepted by facebook; it accepts video/mp4 for video".to_string())
    );
    // Parameters and case do not matter.
    mov.mime_type = "Video/MP4; codecs=\"avc1.64001F\"".into();
    assert_eq!(rules::check_media_type(&mov, &profile("facebook")), Ok(()));
}

#[test]
fn oversized_media_is_refused_with_the_sizes() {
    let instagram = profile("instagram");
    assert_eq!(
        rules::check_size(
            &image_story("image/jpeg", 1080, 9_000_000),
            &instagram,
            &[(0, 0)]
        ),
        Err("image is 9000000 bytes, over instagram's limit of 8000000 bytes".to_string())
    );
    assert_eq!(
        rules::check_size(
            &image_story("image/jpeg", 1080, 8_000_000),
            &instagram,
            &[(0, 0)]
        ),
        Ok(())
    );
    assert_eq!(
        rules::check_size(
            &video_story(30_000, 120_000_000),
            &instagram,
            &[(0, 30_000)]
        ),
        Err("video is 120000000 bytes, over instagram's limit of 100000000 bytes".to_string())
    );
    // A split video is judged by its largest segment's share of the bytes.
    let whatsapp = profile("whatsapp");
    let segments = [(0, 60_000), (60_000, 90_000)];
    assert_eq!(
        rules::check_size(&video_story(90_000, 30_000_000), &whatsapp, &segments),
        Err("video segments of up to 60000 ms would be about 20000000 bytes (the whole video is 30000000 bytes), over whatsapp's limit of 16000000 bytes".to_string())
    );
    assert_eq!(
        rules::check_size(&video_story(90_000, 24_000_000), &whatsapp, &segments),
        Ok(())
    );
}

#[test]
fn widths_outside_the_range_are_refused() {
    let facebook = profile("facebook");
    assert_eq!(
        rules::check_width(&image_story("image/jpeg", 480, 1_000), &facebook),
        Err("width 480 px is outside facebook's range of 540–1920 px".to_string())
    );
    assert_eq!(
        rules::check_width(&image_story("image/jpeg", 2160, 1_000), &facebook),
        Err("width 2160 px is outside facebook's range of 540–1920 px".to_string())
    );
    assert_eq!(
        rules::check_width(&image_story("image/jpeg", 540, 1_000), &facebook),
        Ok(())
    );
}

#[test]
fn videos_shorter_than_the_minimum_or_without_duration_are_refused() {
    let instagram = profile("instagram");
    assert_eq!(
        rules::check_min_duration(&video_story(2_000, 1_000), &instagram),
        Err("video is 2000 ms, shorter than instagram's minimum of 3000 ms".to_string())
    );
    assert_eq!(
        rules::check_min_duration(&video_story(3_000, 1_000), &instagram),
        Ok(())
    );
    let mut unknown = video_story(3_000, 1_000);
    unknown.duration_ms = None;
    assert_eq!(
        rules::check_min_duration(&unknown, &instagram),
        Err("the video has no duration; instagram needs at least 3000 ms".to_string())
    );
    // Images have no duration to check.
    assert_eq!(
        rules::check_min_duration(&image_story("image/jpeg", 1080, 1), &instagram),
        Ok(())
    );
}

#[test]
fn long_videos_split_into_consecutive_segments() {
    assert_eq!(
        rules::segments(90_000, 60_000, 3_000),
        vec![(0, 60_000), (60_000, 90_000)]
    );
    assert_eq!(
        rules::segments(90_000, 15_000, 1_000),
        vec![
            (0, 15_000),
            (15_000, 30_000),
            (30_000, 45_000),
            (45_000, 60_000),
            (60_000, 75_000),
            (75_000, 90_000)
        ]
    );
    assert_eq!(rules::segments(60_000, 60_000, 3_000), vec![(0, 60_000)]);
    assert_eq!(rules::segments(45_500, 0, 3_000), vec![(0, 45_500)]);
    // A remainder shorter than the minimum borrows from the segment before it.
    assert_eq!(
        rules::segments(61_000, 60_000, 3_000),
        vec![(0, 58_000), (58_000, 61_000)]
    );
    assert_eq!(
        rules::segments(121_500, 60_000, 3_000),
        vec![(0, 60_000), (60_000, 118_500), (118_500, 121_500)]
    );
}

#[test]
fn audiences_map_to_the_narrowest_equivalent_and_never_widen() {
    let facebook = profile("facebook");
    for (original, platform, mapped) in [
        (Audience::CloseFriends, "whatsapp", Audience::CloseFriends),
        (Audience::Public, "whatsapp", Audience::Contacts),
        (Audience::Followers, "facebook", Audience::Contacts),
        (Audience::Contacts, "instagram", Audience::CloseFriends),
        (Audience::Followers, "instagram", Audience::Followers),
    ] {
        assert_eq!(
            rules::map_audience(&original, &profile(platform)),
            Ok(mapped),
            "{original:?} on {platform}"
        );
    }
    let mut public_only = facebook.clone();
    public_only.audiences = vec![Audience::Contacts, Audience::Public];
    assert_eq!(
        rules::map_audience(&Audience::CloseFriends, &public_only),
        Err("the story is for close-friends and facebook offers only contacts, public; the audience is never widened".to_string())
    );
}

#[test]
fn expiry_is_never_later_than_the_original() {
    let (story, _) = scenario("close-friends");
    let whatsapp = profile("whatsapp");
    assert_eq!(rules::expiry(&story, &whatsapp, NOW), EXPIRES);
    let mut long = story.clone();
    long.expires_ms = CREATED + 7 * 86_400_000;
    assert_eq!(rules::expiry(&long, &whatsapp, NOW), NOW + 86_400_000);
}

#[test]
fn mentions_are_kept_only_when_linked_on_a_target_with_mentions() {
    let (story, settings) = scenario("png-facebook");
    let instagram = profile("instagram");
    assert_eq!(
        rules::map_mentions(&story.mentions, &settings.linked_mentions, &instagram),
        MappedMentions {
            addresses: vec![address("instagram", "17841400000000002")],
            plain_names: vec!["@Tom Kerr".into()],
            notes: vec!["@Tom Kerr is not linked on instagram: kept as a plain name".into()],
        }
    );
    let whatsapp = profile("whatsapp");
    assert_eq!(
        rules::map_mentions(&story.mentions, &settings.linked_mentions, &whatsapp),
        MappedMentions {
            addresses: vec![],
            plain_names: vec!["@Maya Lind".into(), "@Tom Kerr".into()],
            notes: vec![
                "whatsapp has no mentions: @Maya Lind kept as a plain name".into(),
                "whatsapp has no mentions: @Tom Kerr kept as a plain name".into(),
            ],
        }
    );
    // A link to another platform does not count for this one.
    let mut linked_elsewhere = instagram.clone();
    linked_elsewhere.platform = "messenger".into();
    let mapped = rules::map_mentions(
        &[StoryMention {
            account: address("facebook", "100004123456789"),
            display: "@Maya Lind".into(),
        }],
        &settings.linked_mentions,
        &linked_elsewhere,
    );
    assert!(mapped.addresses.is_empty());
    assert_eq!(mapped.plain_names, vec!["@Maya Lind".to_string()]);
}

#[test]
fn stickers_become_text_or_are_dropped_with_a_note() {
    let poll = Sticker::Poll(PollSticker {
        question: "Join next week?".into(),
        options: vec!["Yes".into(), "Maybe".into()],
    });
    let empty_poll = Sticker::Poll(PollSticker {
        question: " ".into(),
        options: vec![],
    });
    for (sticker, text) in [
        (poll.clone(), Some("Poll: Join next week? — Yes / Maybe")),
        (
            Sticker::Question("Where next?".into()),
            Some("Question: Where next?"),
        ),
        (
            Sticker::Link("https://example.com/menu".into()),
            Some("https://example.com/menu"),
        ),
        (
            Sticker::Location("Harbour Café".into()),
            Some("📍 Harbour Café"),
        ),
        (Sticker::Hashtag("morningrun".into()), Some("#morningrun")),
        (empty_poll.clone(), None),
        (Sticker::Hashtag("two words".into()), None),
    ] {
        assert_eq!(
            rules::sticker_text(&sticker).as_deref(),
            text,
            "{sticker:?}"
        );
    }

    let mut shows_polls = profile("whatsapp");
    shows_polls.stickers = vec!["poll".into()];
    let mapped = rules::map_stickers(
        &[poll.clone(), Sticker::Hashtag("morningrun".into())],
        &shows_polls,
    );
    assert_eq!(mapped.kept, vec![poll]);
    assert_eq!(mapped.texts, vec!["#morningrun".to_string()]);
    assert_eq!(
        mapped.notes,
        vec![
            "whatsapp shows no hashtag sticker: added to the caption as \"#morningrun\""
                .to_string(),
        ]
    );
    let dropped = rules::map_stickers(&[empty_poll], &profile("facebook"));
    assert_eq!(
        dropped.notes,
        vec!["facebook shows no poll sticker and this one has no text: dropped".to_string()]
    );
    assert!(dropped.kept.is_empty() && dropped.texts.is_empty());
}

#[test]
fn captions_are_cut_on_a_word_boundary_with_a_note() {
    let mut short = profile("whatsapp");
    short.max_caption_chars = 30;
    let caption = "Sunrise run along the harbour with the crew";
    assert_eq!(
        rules::compose_caption(Some(caption), &[], &[], &short),
        (
            Some("Sunrise run along the harbour…".to_string()),
            vec![
                "caption cut from 43 to 30 characters at a word boundary (whatsapp's limit is 30)"
                    .to_string()
            ]
        )
    );
    // Names and sticker text survive; the original text gives way.
    short.max_caption_chars = 40;
    assert_eq!(
        rules::compose_caption(Some(caption), &[], &["#morningrun".into()], &short),
        (
            Some("Sunrise run along the…\n#morningrun".to_string()),
            vec![
                "caption cut from 55 to 34 characters at a word boundary (whatsapp's limit is 40)"
                    .to_string()
            ]
        )
    );
    // A name already in the caption is not repeated.
    assert_eq!(
        rules::compose_caption(
            Some("Coffee with @tom_k"),
            &["@tom_k".into(), "@maya.runs".into()],
            &[],
            &profile("whatsapp")
        ),
        (Some("Coffee with @tom_k @maya.runs".to_string()), vec![])
    );
    assert_eq!(
        rules::compose_caption(None, &[], &[], &profile("whatsapp")),
        (None, vec![])
    );
}

// ---------------------------------------------------------------- scenarios

#[test]
fn a_90_second_instagram_video_goes_to_facebook_and_whatsapp_in_two_segments() {
    let (story, settings) = scenario("video-90s-instagram");
    let outcomes = plan(&story, &settings, &default_profiles(), NOW);
    assert_eq!(outcomes.len(), 2);
    let caption = "Sunrise run along the harbour with the crew @maya.runs @tom_k\nPoll: Join next week? — Yes / Maybe\n#morningrun";
    for (outcome, platform, id) in [
        (&outcomes[0], "facebook", "109876543210987"),
        (&outcomes[1], "whatsapp", "15551234567"),
    ] {
        assert_eq!(outcome.target, address(platform, id));
        assert_eq!(
            posts(outcome),
            [
                PlannedPost {
                    segment_start_ms: 0,
                    segment_end_ms: 60_000,
                    caption: Some(caption.to_string()),
                    mentions: vec![],
                    stickers: vec![],
                    audience: Audience::Contacts,
                    expires_ms: EXPIRES,
                },
                PlannedPost {
                    segment_start_ms: 60_000,
                    segment_end_ms: 90_000,
                    caption: None,
                    mentions: vec![],
                    stickers: vec![],
                    audience: Audience::Contacts,
                    expires_ms: EXPIRES,
                },
            ]
        );
        assert_eq!(
            outcome.notes,
            vec![
                format!("audience followers narrowed to contacts, the widest {platform} offers that is not wider"),
                "video of 90000 ms split into 2 segments of at most 60000 ms (60000 + 30000 ms); caption, mentions and stickers are on the first".to_string(),
                format!("{platform} has no mentions: @maya.runs kept as a plain name"),
                format!("{platform} has no mentions: @tom_k kept as a plain name"),
                format!("{platform} shows no poll sticker: added to the caption as \"Poll: Join next week? — Yes / Maybe\""),
                format!("{platform} shows no hashtag sticker: added to the caption as \"#morningrun\""),
                format!("expires at {EXPIRES} ms with the original, before {platform}'s own lifetime of 86400000 ms ends"),
            ]
        );
    }
}

#[test]
fn a_15_second_segment_limit_gives_six_segments() {
    let (story, settings) = scenario("video-90s-instagram");
    let profiles =
        profiles_from_json(r#"[{"platform": "whatsapp", "max_segment_ms": 15000}]"#).expect("ok");
    let outcomes = plan(&story, &settings, &profiles, NOW);
    let segments: Vec<(u32, u32)> = posts(&outcomes[1])
        .iter()
        .map(|post| (post.segment_start_ms, post.segment_end_ms))
        .collect();
    assert_eq!(
        segments,
        [
            (0, 15_000),
            (15_000, 30_000),
            (30_000, 45_000),
            (45_000, 60_000),
            (60_000, 75_000),
            (75_000, 90_000)
        ]
    );
    assert!(
        posts(&outcomes[1])[1..]
            .iter()
            .all(|post| post.caption.is_none())
    );
    assert_eq!(posts(&outcomes[0]).len(), 2);
}

#[test]
fn a_close_friends_story_never_becomes_contacts_or_public() {
    let (story, settings) = scenario("close-friends");
    let outcomes = plan(&story, &settings, &default_profiles(), NOW);
    for outcome in &outcomes {
        assert_eq!(
            posts(outcome),
            [PlannedPost {
                segment_start_ms: 0,
                segment_end_ms: 0,
                caption: Some("Only for you lot".into()),
                mentions: vec![],
                stickers: vec![],
                audience: Audience::CloseFriends,
                expires_ms: EXPIRES,
            }]
        );
    }
    // A target without a close-friends audience refuses instead of widening.
    let profiles = profiles_from_json(
        r#"[{"platform": "facebook", "audiences": ["Contacts", "Public"]},
            {"platform": "whatsapp", "audiences": ["Contacts"]}]"#,
    )
    .expect("ok");
    let outcomes = plan(&story, &settings, &profiles, NOW);
    assert_eq!(
        refusal(&outcomes[0]),
        "the story is for close-friends and facebook offers only contacts, public; the audience is never widened"
    );
    assert_eq!(
        refusal(&outcomes[1]),
        "the story is for close-friends and whatsapp offers only contacts; the audience is never widened"
    );
    assert!(outcomes.iter().all(|outcome| outcome.notes.is_empty()));
}

#[test]
fn an_expired_story_is_refused_everywhere() {
    let (story, settings) = scenario("expired");
    let outcomes = plan(&story, &settings, &default_profiles(), NOW);
    assert_eq!(outcomes.len(), 3);
    for (outcome, target) in outcomes.iter().zip(&settings.targets) {
        assert_eq!(&outcome.target, target);
        assert_eq!(
            refusal(outcome),
            "the original story expired at 1732518000000 ms (now 1732518600000 ms); nothing is published after the original expired"
        );
    }
    // Exactly at expiry is too late as well.
    let outcomes = plan(&story, &settings, &default_profiles(), CREATED);
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.plan, TargetPlan::Refuse(_)))
    );
}

#[test]
fn unsupported_media_is_refused_for_one_target_and_published_on_the_other() {
    let (story, settings) = scenario("png-facebook");
    let outcomes = plan(&story, &settings, &default_profiles(), NOW);
    assert_eq!(
        outcomes[0].target,
        address("instagram", "17841405822304914")
    );
    assert_eq!(
        refusal(&outcomes[0]),
        "image type image/png is not accepted by instagram; it accepts image/jpeg for image"
    );
    assert_eq!(outcomes[1].target, address("whatsapp", "15551234567"));
    assert_eq!(
        posts(&outcomes[1]),
        [PlannedPost {
            segment_start_ms: 0,
            segment_end_ms: 0,
            caption: Some(
                "Today's menu: soup, bread and a slice of apple pie @Maya Lind @Tom Kerr\n📍 Harbour Café\nhttps://example.com/menu".into()
            ),
            mentions: vec![],
            stickers: vec![],
            audience: Audience::Contacts,
            expires_ms: EXPIRES,
        }]
    );
    assert_eq!(
        outcomes[1].notes[0],
        "audience public narrowed to contacts, the widest whatsapp offers that is not wider"
    );
}

#[test]
fn every_refusal_reason_is_given_at_once() {
    let (mut story, settings) = scenario("png-facebook");
    story.width = 200;
    let outcomes = plan(&story, &settings, &default_profiles(), NOW);
    assert_eq!(
        refusal(&outcomes[0]),
        "image type image/png is not accepted by instagram; it accepts image/jpeg for image; width 200 px is outside instagram's range of 320–1920 px"
    );
    assert_eq!(
        refusal(&outcomes[1]),
        "width 200 px is outside whatsapp's range of 320–1920 px"
    );
}

#[test]
fn linked_mentions_are_kept_and_the_others_become_names() {
    let (mut story, settings) = scenario("png-facebook");
    story.mime_type = "image/jpeg".into();
    let outcomes = plan(&story, &settings, &default_profiles(), NOW);
    let instagram = posts(&outcomes[0]);
    assert_eq!(instagram.len(), 1);
    assert_eq!(
        instagram[0].mentions,
        vec![address("instagram", "17841400000000002")]
    );
    assert_eq!(
        instagram[0].caption.as_deref(),
        Some(
            "Today's menu: soup, bread and a slice of apple pie @Tom Kerr\n📍 Harbour Café\nhttps://example.com/menu"
        )
    );
    assert_eq!(instagram[0].audience, Audience::Public);
    assert_eq!(
        outcomes[0].notes,
        vec![
            "@Tom Kerr is not linked on instagram: kept as a plain name".to_string(),
            "instagram shows no location sticker: added to the caption as \"📍 Harbour Café\""
                .to_string(),
            "instagram shows no link sticker: added to the caption as \"https://example.com/menu\""
                .to_string(),
            format!(
                "expires at {EXPIRES} ms with the original, before instagram's own lifetime of 86400000 ms ends"
            ),
        ]
    );
}

#[test]
fn a_caption_too_long_for_the_target_is_cut_in_the_plan() {
    let (mut story, settings) = scenario("close-friends");
    story.caption = Some("Sunrise run along the harbour with the crew".into());
    let profiles =
        profiles_from_json(r#"[{"platform": "facebook", "max_caption_chars": 30}]"#).expect("ok");
    let outcomes = plan(&story, &settings, &profiles, NOW);
    assert_eq!(
        posts(&outcomes[0])[0].caption.as_deref(),
        Some("Sunrise run along the harbour…")
    );
    assert_eq!(
        outcomes[0].notes,
        vec![
            "caption cut from 43 to 30 characters at a word boundary (facebook's limit is 30)"
                .to_string(),
            format!(
                "expires at {EXPIRES} ms with the original, before facebook's own lifetime of 86400000 ms ends"
            ),
        ]
    );
    assert_eq!(
        posts(&outcomes[1])[0].caption.as_deref(),
        Some("Sunrise run along the harbour with the crew")
    );
}

#[test]
fn the_guest_export_forwards_to_the_native_planner() {
    use stories::bindings::exports::switchboard::messaging::stories::Guest;
    let (story, settings) = scenario("video-90s-instagram");
    let native = plan(&story, &settings, &default_profiles(), NOW);
    let exported = stories::Component::plan(story, settings, default_profiles(), NOW);
    assert_eq!(exported, native);
}
