//! The planner's rules, one small function each, so that each can be tested
//! and read on its own. A rule that refuses returns the reason as `Err(String)`
//! in words the author can act on: it names what the story has and what the
//! target accepts. A rule that changes something returns the notes saying what.

use crate::{Audience, Sticker, Story, StoryMention, StoryProfile};
use switchboard_pdk::text::{char_len, truncate_at_word};
use switchboard_pdk::types::{Address, MediaKind};

/// The WIT name of an audience, for reasons and notes.
pub fn audience_name(audience: &Audience) -> &'static str {
    match audience {
        Audience::CloseFriends => "close-friends",
        Audience::Contacts => "contacts",
        Audience::Followers => "followers",
        Audience::Public => "public",
    }
}

/// Where an audience sits from narrowest (0) to widest.
fn audience_rank(audience: &Audience) -> u8 {
    match audience {
        Audience::CloseFriends => 0,
        Audience::Contacts => 1,
        Audience::Followers => 2,
        Audience::Public => 3,
    }
}

/// The WIT name of a media kind, for reasons and notes.
pub fn kind_name(kind: &MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Voice => "voice",
        MediaKind::Document => "document",
        MediaKind::Sticker => "sticker",
        MediaKind::Animation => "animation",
    }
}

/// The WIT name of a sticker's kind, as profiles list them.
pub fn sticker_kind(sticker: &Sticker) -> &'static str {
    match sticker {
        Sticker::Poll(_) => "poll",
        Sticker::Question(_) => "question",
        Sticker::Link(_) => "link",
        Sticker::Location(_) => "location",
        Sticker::Hashtag(_) => "hashtag",
    }
}

/// Nothing is published after the original expired: refuses when `now_ms` is at
/// or past the original's expiry.
pub fn check_not_expired(story: &Story, now_ms: u64) -> Result<(), String> {
    if now_ms >= story.expires_ms {
        return Err(format!(
            "the original story expired at {} ms (now {now_ms} ms); nothing is published after the original expired",
            story.expires_ms
        ));
    }
    Ok(())
}

/// The profile of the target's platform, or a refusal naming the platform.
pub fn find_profile<'p>(
    profiles: &'p [StoryProfile],
    platform: &str,
) -> Result<&'p StoryProfile, String> {
    profiles
        .iter()
        .find(|profile| profile.platform == platform)
        .ok_or_else(|| format!("no story profile for platform `{platform}`"))
}

/// The essence of a MIME type (`video/mp4; codecs=…` → `video/mp4`), lower-case.
fn mime_essence(mime: &str) -> String {
    mime.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Everything a profile accepts, as `image (image/jpeg), video (video/mp4)`.
fn accepted_list(profile: &StoryProfile) -> String {
    let kinds: Vec<String> = profile
        .accepted_types
        .iter()
        .map(|(kind, types)| format!("{} ({})", kind_name(kind), types.join(", ")))
        .collect();
    if kinds.is_empty() {
        "no media".to_string()
    } else {
        kinds.join(", ")
    }
}

/// Refuses a media kind or MIME type the target does not accept, naming the
/// type and what the target accepts (the planner does not convert media, and
/// never drops it silently).
pub fn check_media_type(story: &Story, profile: &StoryProfile) -> Result<(), String> {
    let kind = kind_name(&story.media_kind);
    let Some((_, types)) = profile
        .accepted_types
        .iter()
        .find(|(accepted, _)| *accepted == story.media_kind)
    else {
        return Err(format!(
            "{kind} stories are not accepted by {}; it accepts {}",
            profile.platform,
            accepted_list(profile)
        ));
    };
    let essence = mime_essence(&story.mime_type);
    if !types
        .iter()
        .any(|accepted| mime_essence(accepted) == essence)
    {
        return Err(format!(
            "{kind} type {} is not accepted by {}; it accepts {} for {kind}",
            story.mime_type,
            profile.platform,
            types.join(", ")
        ));
    }
    Ok(())
}

/// Refuses a story whose width is outside the target's range.
pub fn check_width(story: &Story, profile: &StoryProfile) -> Result<(), String> {
    let range = &profile.width;
    if story.width < range.min || story.width > range.max {
        return Err(format!(
            "width {} px is outside {}'s range of {}–{} px",
            story.width, profile.platform, range.min, range.max
        ));
    }
    Ok(())
}

/// Refuses a video without a duration or shorter than the target's minimum.
pub fn check_min_duration(story: &Story, profile: &StoryProfile) -> Result<(), String> {
    if story.media_kind != MediaKind::Video {
        return Ok(());
    }
    match story.duration_ms {
        None => Err(format!(
            "the video has no duration; {} needs at least {} ms",
            profile.platform, profile.min_video_ms
        )),
        Some(duration) if duration < profile.min_video_ms => Err(format!(
            "video is {duration} ms, shorter than {}'s minimum of {} ms",
            profile.platform, profile.min_video_ms
        )),
        Some(_) => Ok(()),
    }
}

/// Refuses media over the target's size limit, with the sizes. A video that is
/// split is judged by its largest segment, whose size is estimated in proportion
/// to its share of the duration (each segment is published as its own file).
pub fn check_size(
    story: &Story,
    profile: &StoryProfile,
    segments: &[(u32, u32)],
) -> Result<(), String> {
    let kind = kind_name(&story.media_kind);
    let is_video = story.media_kind == MediaKind::Video;
    let duration = story.duration_ms.unwrap_or(0);
    if is_video && segments.len() > 1 && duration > 0 {
        let longest = segments
            .iter()
            .map(|(start, end)| end.saturating_sub(*start))
            .max()
            .unwrap_or(0);
        let estimate =
            (u128::from(story.size_bytes) * u128::from(longest)).div_ceil(u128::from(duration));
        if estimate > u128::from(profile.max_video_bytes) {
            return Err(format!(
                "video segments of up to {longest} ms would be about {estimate} bytes (the whole video is {} bytes), over {}'s limit of {} bytes",
                story.size_bytes, profile.platform, profile.max_video_bytes
            ));
        }
        return Ok(());
    }
    let limit = if is_video {
        profile.max_video_bytes
    } else {
        profile.max_image_bytes
    };
    if story.size_bytes > limit {
        return Err(format!(
            "{kind} is {} bytes, over {}'s limit of {limit} bytes",
            story.size_bytes, profile.platform
        ));
    }
    Ok(())
}

/// Splits `duration_ms` into consecutive `[start, end)` segments of at most
/// `max_segment_ms` each, the last one the remainder (90 s at 60 s: 60 + 30).
///
/// When the remainder would be shorter than `min_ms` (which the target would
/// refuse), the segment before it gives up the difference, provided it stays at
/// least `min_ms` long itself. A `max_segment_ms` of 0 means no limit.
pub fn segments(duration_ms: u32, max_segment_ms: u32, min_ms: u32) -> Vec<(u32, u32)> {
    if max_segment_ms == 0 || duration_ms <= max_segment_ms {
        return vec![(0, duration_ms)];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < duration_ms {
        let end = start.saturating_add(max_segment_ms).min(duration_ms);
        out.push((start, end));
        start = end;
    }
    let count = out.len();
    if count >= 2 {
        let (last_start, last_end) = out[count - 1];
        let (before_start, _) = out[count - 2];
        let short = min_ms.saturating_sub(last_end - last_start);
        if short > 0
            && let Some(cut) = last_start.checked_sub(short)
            && cut
                .checked_sub(before_start)
                .is_some_and(|kept| kept >= min_ms)
        {
            out[count - 2].1 = cut;
            out[count - 1].0 = cut;
        }
    }
    out
}

/// The audience on the target: the widest one it offers that is not wider than
/// the original (so close-friends stays close-friends where offered), or a
/// refusal when it offers nothing that narrow. An audience is never widened.
pub fn map_audience(original: &Audience, profile: &StoryProfile) -> Result<Audience, String> {
    let limit = audience_rank(original);
    profile
        .audiences
        .iter()
        .filter(|offered| audience_rank(offered) <= limit)
        .max_by_key(|offered| audience_rank(offered))
        .cloned()
        .ok_or_else(|| {
            let offered: Vec<&str> = profile.audiences.iter().map(audience_name).collect();
            format!(
                "the story is for {} and {} offers only {}; the audience is never widened",
                audience_name(original),
                profile.platform,
                if offered.is_empty() {
                    "no audience".to_string()
                } else {
                    offered.join(", ")
                }
            )
        })
}

/// A cross-post's expiry: never after the original's, nor after the target's own
/// lifetime counted from `now_ms` (when it is published).
pub fn expiry(story: &Story, profile: &StoryProfile, now_ms: u64) -> u64 {
    story
        .expires_ms
        .min(now_ms.saturating_add(profile.lifetime_ms))
}

/// Mentions as the target can show them.
#[derive(Debug, Default, PartialEq)]
pub struct MappedMentions {
    /// Linked, consenting accounts on the target platform.
    pub addresses: Vec<Address>,
    /// Names to render as plain text (`display`) in the caption.
    pub plain_names: Vec<String>,
    /// What changed and why.
    pub notes: Vec<String>,
}

/// Keeps a mention only for an account linked on the target's platform (mapped
/// to its address there) and only where the target has mentions; every other
/// mention becomes its plain `display` name.
pub fn map_mentions(
    mentions: &[StoryMention],
    linked: &[(String, Address)],
    profile: &StoryProfile,
) -> MappedMentions {
    let mut out = MappedMentions::default();
    for mention in mentions {
        let note = if !profile.mentions {
            format!(
                "{} has no mentions: {} kept as a plain name",
                profile.platform, mention.display
            )
        } else if let Some((_, address)) = linked
            .iter()
            .find(|(id, address)| *id == mention.account.id && address.platform == profile.platform)
        {
            out.addresses.push(address.clone());
            continue;
        } else {
            format!(
                "{} is not linked on {}: kept as a plain name",
                mention.display, profile.platform
            )
        };
        out.notes.push(note);
        out.plain_names.push(mention.display.clone());
    }
    out
}

/// A sticker as caption text (poll → `Poll: question — a / b`, question →
/// `Question: …`, link → the URL, location → `📍 name`, hashtag → `#tag`), or
/// `None` when it has nothing to say as text.
pub fn sticker_text(sticker: &Sticker) -> Option<String> {
    /// The trimmed text, or `None` when nothing is left.
    fn non_empty(text: &str) -> Option<&str> {
        Some(text.trim()).filter(|text| !text.is_empty())
    }
    Some(match sticker {
        Sticker::Poll(poll) => {
            let question = non_empty(&poll.question);
            let options: Vec<&str> = poll.options.iter().filter_map(|o| non_empty(o)).collect();
            match (question, options.is_empty()) {
                (None, true) => return None,
                (Some(question), true) => format!("Poll: {question}"),
                (None, false) => format!("Poll: {}", options.join(" / ")),
                (Some(question), false) => format!("Poll: {question} — {}", options.join(" / ")),
            }
        }
        Sticker::Question(question) => format!("Question: {}", non_empty(question)?),
        Sticker::Link(url) => non_empty(url)?.to_string(),
        Sticker::Location(name) => format!("📍 {}", non_empty(name)?),
        Sticker::Hashtag(tag) => {
            let tag = tag.trim().trim_start_matches('#');
            if tag.is_empty() || tag.contains(char::is_whitespace) {
                return None;
            }
            format!("#{tag}")
        }
    })
}

/// Stickers as the target can show them.
#[derive(Debug, Default, PartialEq)]
pub struct MappedStickers {
    /// Stickers the target shows, kept as they are.
    pub kept: Vec<Sticker>,
    /// Caption lines for stickers the target lacks.
    pub texts: Vec<String>,
    /// What changed and why.
    pub notes: Vec<String>,
}

/// Keeps the stickers the target shows; the others become caption text, or are
/// dropped with a note when they cannot be text.
pub fn map_stickers(stickers: &[Sticker], profile: &StoryProfile) -> MappedStickers {
    let mut out = MappedStickers::default();
    for sticker in stickers {
        let kind = sticker_kind(sticker);
        if profile.stickers.iter().any(|shown| shown == kind) {
            out.kept.push(sticker.clone());
            continue;
        }
        match sticker_text(sticker) {
            Some(text) => {
                out.notes.push(format!(
                    "{} shows no {kind} sticker: added to the caption as \"{text}\"",
                    profile.platform
                ));
                out.texts.push(text);
            }
            None => out.notes.push(format!(
                "{} shows no {kind} sticker and this one has no text: dropped",
                profile.platform
            )),
        }
    }
    out
}

/// The caption for the target: the original, then the plain names of mentions
/// it does not already contain, then sticker lines, cut to the target's
/// `max-caption-chars` on a word boundary. When it must be cut, the original
/// text is cut first so that names and sticker texts survive where they fit.
pub fn compose_caption(
    caption: Option<&str>,
    plain_names: &[String],
    sticker_texts: &[String],
    profile: &StoryProfile,
) -> (Option<String>, Vec<String>) {
    let mut notes = Vec::new();
    let base = caption.unwrap_or_default().trim();
    let names: Vec<&str> = plain_names
        .iter()
        .map(String::as_str)
        .filter(|name| !name.is_empty() && !base.contains(name))
        .collect();
    let mut tail = String::new();
    if !names.is_empty() {
        if !base.is_empty() {
            tail.push(' ');
        }
        tail.push_str(&names.join(" "));
    }
    for line in sticker_texts {
        if !base.is_empty() || !tail.is_empty() {
            tail.push('\n');
        }
        tail.push_str(line);
    }
    let full = format!("{base}{tail}");
    if full.is_empty() {
        return (None, notes);
    }
    let max = usize::try_from(profile.max_caption_chars).unwrap_or(usize::MAX);
    let length = char_len(&full);
    if length <= max {
        return (Some(full), notes);
    }
    if max == 0 {
        notes.push(format!(
            "{} shows no caption: caption of {length} characters dropped",
            profile.platform
        ));
        return (None, notes);
    }
    let tail_length = char_len(&tail);
    let cut = if !base.is_empty() && tail_length + 2 <= max {
        let (head, _) = truncate_at_word(base, max - tail_length);
        format!("{head}{tail}")
    } else {
        truncate_at_word(&full, max).0
    };
    notes.push(format!(
        "caption cut from {length} to {} characters at a word boundary ({}'s limit is {max})",
        char_len(&cut),
        profile.platform
    ));
    (Some(cut), notes)
}
