//! The planner: applies the [`rules`](crate::rules) per target and assembles
//! each target's outcome, with a note for every change it made.

use crate::rules;
use crate::{CrossPostSettings, PlannedPost, Story, StoryProfile, TargetOutcome, TargetPlan};
use switchboard_pdk::types::{Address, MediaKind};

/// Plans the cross-posts of `story` as of `now_ms`: one outcome per target in
/// `settings.targets`, in order, each keeping its target address.
pub fn plan(
    story: &Story,
    settings: &CrossPostSettings,
    profiles: &[StoryProfile],
    now_ms: u64,
) -> Vec<TargetOutcome> {
    settings
        .targets
        .iter()
        .map(|target| plan_target(story, settings, profiles, target, now_ms))
        .collect()
}

/// An outcome refusing `target` for `reason`.
fn refuse(target: &Address, reason: String) -> TargetOutcome {
    TargetOutcome {
        target: target.clone(),
        plan: TargetPlan::Refuse(reason),
        notes: Vec::new(),
    }
}

/// The outcome for one target. Every refusal reason found is given at once,
/// joined by `; `, so the author sees all of them.
fn plan_target(
    story: &Story,
    settings: &CrossPostSettings,
    profiles: &[StoryProfile],
    target: &Address,
    now_ms: u64,
) -> TargetOutcome {
    if let Err(reason) = rules::check_not_expired(story, now_ms) {
        return refuse(target, reason);
    }
    let profile = match rules::find_profile(profiles, &target.platform) {
        Ok(profile) => profile,
        Err(reason) => return refuse(target, reason),
    };

    let mut reasons = Vec::new();
    let audience = match rules::map_audience(&story.audience, profile) {
        Ok(audience) => Some(audience),
        Err(reason) => {
            reasons.push(reason);
            None
        }
    };
    for check in [
        rules::check_media_type(story, profile),
        rules::check_width(story, profile),
        rules::check_min_duration(story, profile),
    ] {
        if let Err(reason) = check {
            reasons.push(reason);
        }
    }
    let duration = story.duration_ms.unwrap_or(0);
    let segments = if story.media_kind == MediaKind::Video {
        rules::segments(duration, profile.max_segment_ms, profile.min_video_ms)
    } else {
        vec![(0, duration)]
    };
    if let Err(reason) = rules::check_size(story, profile, &segments) {
        reasons.push(reason);
    }
    let Some(audience) = audience.filter(|_| reasons.is_empty()) else {
        return refuse(target, reasons.join("; "));
    };

    let mut notes = Vec::new();
    if audience != story.audience {
        notes.push(format!(
            "audience {} narrowed to {}, the widest {} offers that is not wider",
            rules::audience_name(&story.audience),
            rules::audience_name(&audience),
            profile.platform
        ));
    }
    if segments.len() > 1 {
        let lengths: Vec<String> = segments
            .iter()
            .map(|(start, end)| (end - start).to_string())
            .collect();
        notes.push(format!(
            "video of {duration} ms split into {} segments of at most {} ms ({} ms); caption, mentions and stickers are on the first",
            segments.len(),
            profile.max_segment_ms,
            lengths.join(" + ")
        ));
    }
    let mentions = rules::map_mentions(&story.mentions, &settings.linked_mentions, profile);
    notes.extend(mentions.notes);
    let stickers = rules::map_stickers(&story.stickers, profile);
    notes.extend(stickers.notes);
    let (caption, caption_notes) = rules::compose_caption(
        story.caption.as_deref(),
        &mentions.plain_names,
        &stickers.texts,
        profile,
    );
    notes.extend(caption_notes);
    let expires_ms = rules::expiry(story, profile, now_ms);
    if expires_ms < now_ms.saturating_add(profile.lifetime_ms) {
        notes.push(format!(
            "expires at {expires_ms} ms with the original, before {}'s own lifetime of {} ms ends",
            profile.platform, profile.lifetime_ms
        ));
    }

    let mut first = Some((caption, mentions.addresses, stickers.kept));
    let posts = segments
        .iter()
        .map(|&(segment_start_ms, segment_end_ms)| {
            let (caption, mentions, stickers) = first.take().unwrap_or_default();
            PlannedPost {
                segment_start_ms,
                segment_end_ms,
                caption,
                mentions,
                stickers,
                audience,
                expires_ms,
            }
        })
        .collect();
    TargetOutcome {
        target: target.clone(),
        plan: TargetPlan::Publish(posts),
        notes,
    }
}
