//! Text length rules shared by translators and the story planner: platforms
//! count limits in characters, and a cut must land on a word boundary where one
//! exists, never inside a character.
//!
//! Also the conversion between offsets in UTF-16 code units, which several
//! platforms use for their formatting entities (Telegram's `offset` and
//! `length`, JavaScript-based APIs), and the Unicode scalar values the
//! canonical model's `span`s count: an emoji outside the Basic Multilingual
//! Plane is two UTF-16 units but one scalar value, so a platform offset used
//! unconverted shifts every span after it.

/// Number of Unicode scalar values in `text` (how the apps count their limits).
pub fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// Byte offset just after the first `max_chars` characters of `text`.
fn byte_offset(text: &str, max_chars: usize) -> usize {
    text.char_indices()
        .nth(max_chars)
        .map_or(text.len(), |(offset, _)| offset)
}

/// The longest prefix of `text` of at most `max_chars` characters that ends on a
/// word boundary (falling back to a hard cut when one word is longer than the
/// limit), and the rest with its leading white space removed.
pub fn split_at_word(text: &str, max_chars: usize) -> (&str, &str) {
    let hard = byte_offset(text, max_chars);
    if hard == text.len() {
        return (text, "");
    }
    let head = &text[..hard];
    let cut = if text[hard..].starts_with(char::is_whitespace) {
        hard
    } else {
        head.rfind(char::is_whitespace)
            .filter(|&offset| offset > 0)
            .unwrap_or(hard)
    };
    (text[..cut].trim_end(), text[cut..].trim_start())
}

/// Splits `text` into chunks of at most `max_chars` characters on word
/// boundaries. Empty text gives no chunk, and no chunk is empty.
pub fn chunks(text: &str, max_chars: usize) -> Vec<&str> {
    chunks_within(text, max_chars, usize::MAX)
}

/// Like [`chunks`], with each chunk also at most `max_bytes` bytes of UTF-8,
/// for platforms that count their limit in bytes.
pub fn chunks_within(text: &str, max_chars: usize, max_bytes: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        // The characters of `rest` that fit both limits.
        let max = rest
            .char_indices()
            .take(max_chars)
            .take_while(|(offset, c)| offset + c.len_utf8() <= max_bytes)
            .count();
        if max == 0 {
            break;
        }
        let (head, tail) = split_at_word(rest, max);
        // A cut after leading white space leaves nothing to send.
        if !head.is_empty() {
            out.push(head);
        }
        rest = tail;
    }
    out
}

/// `text` cut to at most `max_chars` characters on a word boundary, ending with
/// an ellipsis when anything was cut. Returns whether it was cut.
pub fn truncate_at_word(text: &str, max_chars: usize) -> (String, bool) {
    if char_len(text) <= max_chars {
        return (text.to_string(), false);
    }
    let (head, _) = split_at_word(text, max_chars.saturating_sub(1));
    (format!("{head}…"), true)
}

/// The offset in Unicode scalar values (a `span` offset) of the UTF-16 offset
/// `utf16` in `text`; `None` when it lies past the end or between the two
/// halves of a surrogate pair, which no well-formed entity does.
pub fn utf16_to_scalar(text: &str, utf16: usize) -> Option<usize> {
    let mut units = 0;
    for (scalars, c) in text.chars().enumerate() {
        if units == utf16 {
            return Some(scalars);
        }
        units += c.len_utf16();
        if units > utf16 {
            return None;
        }
    }
    (units == utf16).then(|| char_len(text))
}

/// The UTF-16 offset of the offset in Unicode scalar values `scalar` in
/// `text`; `None` when it lies past the end.
pub fn scalar_to_utf16(text: &str, scalar: usize) -> Option<usize> {
    let mut units = 0;
    let mut chars = text.chars();
    for _ in 0..scalar {
        units += chars.next()?.len_utf16();
    }
    Some(units)
}

/// Character ranges (scalar offsets, end exclusive) of the parts of `text`
/// that fit `max` each, cut on word boundaries, where `size` measures one
/// character in the unit the platform limits (`char::len_utf8` for bytes,
/// `char::len_utf16` for UTF-16 code units). No part is empty; the split stops
/// at a character that alone is larger than `max`. Ranges (rather than
/// slices) let a translator cut the text's spans along with it.
pub fn part_ranges(text: &str, max: usize, size: fn(char) -> usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut used = 0;
        let fits = rest
            .chars()
            .take_while(|&c| {
                used += size(c);
                used <= max
            })
            .count();
        if fits == 0 {
            break;
        }
        let (head, tail) = split_at_word(rest, fits);
        // `rest` is a suffix of `text`, and `head` starts where it does.
        let start = text.len() - rest.len();
        if !head.is_empty() {
            let from = text[..start].chars().count();
            out.push((from, from + head.chars().count()));
        }
        rest = tail;
    }
    out
}

/// The text a translator sends in place of content its app cannot show
/// (degradation rule `unsupported-as-notice`), the same on every app:
/// `[Unsupported message: <native type> — <description>]`.
pub fn unsupported_notice(unsupported: &crate::types::UnsupportedContent) -> String {
    match &unsupported.description {
        Some(description) => format!(
            "[Unsupported message: {} — {description}]",
            unsupported.native_type
        ),
        None => format!("[Unsupported message: {}]", unsupported.native_type),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_utf16_offsets_around_astral_characters() {
        // "a😀b": the emoji is two UTF-16 units, one scalar value.
        let text = "a😀bé";
        assert_eq!(utf16_to_scalar(text, 0), Some(0));
        assert_eq!(utf16_to_scalar(text, 1), Some(1));
        assert_eq!(utf16_to_scalar(text, 2), None, "inside the surrogate pair");
        assert_eq!(utf16_to_scalar(text, 3), Some(2));
        assert_eq!(utf16_to_scalar(text, 5), Some(4));
        assert_eq!(utf16_to_scalar(text, 6), None);
        assert_eq!(scalar_to_utf16(text, 2), Some(3));
        assert_eq!(scalar_to_utf16(text, 4), Some(5));
        assert_eq!(scalar_to_utf16(text, 5), None);
        for scalar in 0..=4 {
            let units = scalar_to_utf16(text, scalar);
            assert_eq!(
                units.and_then(|units| utf16_to_scalar(text, units)),
                Some(scalar)
            );
        }
        assert_eq!(utf16_to_scalar("", 0), Some(0));
    }

    #[test]
    fn splits_on_words_and_counts_characters() {
        assert_eq!(
            split_at_word("hello brave world", 11),
            ("hello brave", "world")
        );
        assert_eq!(
            split_at_word("hello brave world", 8),
            ("hello", "brave world")
        );
        assert_eq!(split_at_word("abcdefghij", 4), ("abcd", "efghij"));
        assert_eq!(chunks("ééé ééé ééé", 7), vec!["ééé ééé", "ééé"]);
        assert!(chunks("", 5).is_empty());
        assert!(chunks("abc", 0).is_empty());
        // Leading white space before a long word gives no empty chunk.
        assert_eq!(chunks("  abcdefgh", 4), vec!["abcd", "efgh"]);
        // Two-byte characters: four fit in 9 bytes.
        assert_eq!(chunks_within("éééééé", 5, 9), vec!["éééé", "éé"]);
        assert_eq!(chunks_within("ab cd", 10, 3), vec!["ab", "cd"]);
        let (cut, was_cut) = truncate_at_word("one two three", 9);
        assert_eq!((cut.as_str(), was_cut), ("one two…", true));
        assert!(char_len(&cut) <= 9);
        assert_eq!(truncate_at_word("short", 9), ("short".to_string(), false));
    }

    #[test]
    fn parts_fit_the_unit_the_platform_counts() {
        // "😀" is 4 bytes of UTF-8 but 2 UTF-16 units.
        let text = "😀😀 ab 😀😀";
        assert_eq!(
            part_ranges(text, 8, char::len_utf8),
            vec![(0, 2), (3, 5), (6, 8)]
        );
        assert_eq!(part_ranges(text, 8, char::len_utf16), vec![(0, 5), (6, 8)]);
        // A character larger than the limit stops the split, no empty part.
        assert_eq!(
            part_ranges("😀", 1, char::len_utf16),
            Vec::<(usize, usize)>::new()
        );
    }
}
