//! Telegram's `MessageEntity` lists to canonical spans and back.
//!
//! Telegram keeps formatting apart from the text, as the canonical model
//! does, but counts offsets and lengths in UTF-16 code units (an emoji
//! outside the Basic Multilingual Plane counts two), while canonical spans
//! count Unicode scalar values. Everything here converts between the two
//! (with the kit's [`utf16_to_scalar`] and [`scalar_to_utf16`]),
//! so that `👋 bold` keeps `bold` bold on both sides.

use crate::PLATFORM;
use switchboard_pdk::json::Node;
use switchboard_pdk::serde_json::{Value, json};
use switchboard_pdk::text::{char_len, scalar_to_utf16, utf16_to_scalar};
use switchboard_pdk::types::{Address, DecodeError, ExtraField, FormattedText, Span, SpanStyle};

/// Number of UTF-16 code units in `text` (how Telegram counts its limits).
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// The character offset of UTF-16 offset `unit` in `text`; an offset inside
/// a surrogate pair rounds down to its character. `None` past the end of the
/// text.
pub fn char_offset(text: &str, unit: u64) -> Option<u32> {
    let unit = usize::try_from(unit).ok()?;
    let index = utf16_to_scalar(text, unit).or_else(|| {
        // Between the halves of a pair, the unit before is the pair's start;
        // past the end, it is the end or past it, never a character's start.
        utf16_to_scalar(text, unit.checked_sub(1)?).filter(|&index| index < char_len(text))
    })?;
    u32::try_from(index).ok()
}

/// A Telegram address (user or chat id).
pub fn address(id: impl Into<String>) -> Address {
    Address {
        platform: PLATFORM.to_string(),
        id: id.into(),
    }
}

/// Entity types with no canonical style whose objects identify no one (the
/// text they cover travels as the text anyway).
const SHARED_ENTITIES: &[&str] = &[
    "underline",
    "spoiler",
    "bot_command",
    "hashtag",
    "cashtag",
    "email",
    "phone_number",
    "custom_emoji",
    "blockquote",
    "expandable_blockquote",
];

/// Reads `text` with its entity list at `entities` (may be absent) into
/// formatted text. Entities with no canonical style are kept whole in
/// `extras`; an entity outside the text is an invalid value naming it.
pub fn parse(
    text: &str,
    entities: Option<&Node<'_, '_>>,
    extras: &mut Vec<ExtraField>,
) -> Result<FormattedText, DecodeError> {
    let mut spans = Vec::new();
    if let Some(entities) = entities {
        let chars: Vec<char> = text.chars().collect();
        for entity in entities.items()? {
            let kind = entity.str("type")?;
            let offset_node = entity.field("offset")?;
            let length_node = entity.field("length")?;
            let offset = offset_node.as_u64()?;
            let length = length_node.as_u64()?;
            let start = char_offset(text, offset)
                .ok_or_else(|| offset_node.invalid("a UTF-16 offset inside the text"))?;
            let end = offset
                .checked_add(length)
                .and_then(|end| char_offset(text, end))
                .ok_or_else(|| length_node.invalid("a UTF-16 length inside the text"))?;
            let covered = || -> String { chars[start as usize..end as usize].iter().collect() };
            let style = match kind {
                "bold" => SpanStyle::Bold,
                "italic" => SpanStyle::Italic,
                "strikethrough" => SpanStyle::Strikethrough,
                "code" | "pre" => {
                    if entity.has("language") {
                        extras.push(entity.to_shared_extra());
                    }
                    SpanStyle::Monospace
                }
                "text_link" => SpanStyle::Link(entity.str("url")?.to_string()),
                "url" => SpanStyle::Link(covered()),
                "text_mention" => {
                    let user = entity.field("user")?;
                    SpanStyle::Mention(address(crate::integer(&user.field("id")?)?))
                }
                "mention" => SpanStyle::Mention(address(covered())),
                _ => {
                    // Entities of these types hold offsets (and an emoji id)
                    // only; an unknown type may name a user, as
                    // `text_mention` does.
                    extras.push(if SHARED_ENTITIES.contains(&kind) {
                        entity.to_shared_extra()
                    } else {
                        entity.to_personal_extra()
                    });
                    continue;
                }
            };
            spans.push(Span { start, end, style });
        }
    }
    spans.sort_by_key(|span| (span.start, std::cmp::Reverse(span.end)));
    Ok(FormattedText {
        body: text.to_string(),
        spans,
    })
}

/// What rendering spans as entities left out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The entity list, offsets in UTF-16 code units.
    pub entities: Vec<Value>,
    /// Mentions of addresses that are not Telegram users, sent as plain text.
    pub foreign_mentions: usize,
}

/// Renders the spans of `text` that fall in characters `[from, to)` as
/// entities of the part of the text that starts at character `from`. Spans
/// crossing the part's edges are clipped to it; empty ones are dropped.
pub fn render(text: &FormattedText, from: usize, to: usize) -> Rendered {
    let mut out = Rendered::default();
    if text.spans.is_empty() {
        return out;
    }
    let chars: Vec<char> = text.body.chars().collect();
    let to = to.min(chars.len());
    let from = from.min(to);
    let part: String = chars[from..to].iter().collect();
    for span in &text.spans {
        let start = (span.start as usize).clamp(from, to) - from;
        let end = (span.end as usize).clamp(from, to) - from;
        if start >= end {
            continue;
        }
        // Both lie within the part, so both convert.
        let (Some(offset), Some(stop)) =
            (scalar_to_utf16(&part, start), scalar_to_utf16(&part, end))
        else {
            continue;
        };
        let mut entity = match &span.style {
            SpanStyle::Bold => json!({ "type": "bold" }),
            SpanStyle::Italic => json!({ "type": "italic" }),
            SpanStyle::Strikethrough => json!({ "type": "strikethrough" }),
            SpanStyle::Monospace => {
                // Telegram shows `pre` as a block: keep it for runs of lines.
                let multiline = chars[from + start..from + end].contains(&'\n');
                json!({ "type": if multiline { "pre" } else { "code" } })
            }
            SpanStyle::Link(url) => json!({ "type": "text_link", "url": url }),
            SpanStyle::Mention(who) if who.platform == PLATFORM => {
                match who.id.parse::<i64>() {
                    Ok(id) => json!({
                        "type": "text_mention",
                        "user": { "id": id, "is_bot": false, "first_name": chars[from + start..from + end].iter().collect::<String>() },
                    }),
                    // `@username` mentions are recognised by Telegram in the
                    // text itself.
                    Err(_) => json!({ "type": "mention" }),
                }
            }
            SpanStyle::Mention(_) => {
                out.foreign_mentions += 1;
                continue;
            }
        };
        if let Value::Object(members) = &mut entity {
            members.insert("offset".into(), json!(offset));
            members.insert("length".into(), json!(stop - offset));
        }
        out.entities.push(entity);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_utf16_offsets_both_ways() {
        let text = "a👋b";
        assert_eq!(utf16_len(text), 4);
        let offsets: Vec<_> = (0..=3).map(|index| scalar_to_utf16(text, index)).collect();
        assert_eq!(offsets, vec![Some(0), Some(1), Some(3), Some(4)]);
        assert_eq!(char_offset(text, 3), Some(2));
        // Inside the surrogate pair: the emoji itself.
        assert_eq!(char_offset(text, 2), Some(1));
        assert_eq!(char_offset(text, 4), Some(3));
        assert_eq!(char_offset(text, 5), None);
    }

    #[test]
    fn renders_clipped_spans_in_utf16() {
        let text = FormattedText {
            body: "👋 bold tail".to_string(),
            spans: vec![Span {
                start: 2,
                end: 11,
                style: SpanStyle::Bold,
            }],
        };
        let whole = render(&text, 0, 11);
        assert_eq!(
            whole.entities,
            vec![json!({"type":"bold","offset":3,"length":9})]
        );
        // The part "tail" starts at character 7.
        let part = render(&text, 7, 11);
        assert_eq!(
            part.entities,
            vec![json!({"type":"bold","offset":0,"length":4})]
        );
    }
}
