//! WhatsApp's text markup (`*bold*`, `_italic_`, `~strikethrough~`,
//! ```` ```monospace``` ````) read into canonical spans on decode and written
//! back on encode, so formatting survives a trip through another app.
//!
//! The rules follow how the WhatsApp clients render markup: a marker opens a
//! style only when it is followed by a non-space character and is not glued to
//! a letter or digit before it, and it closes on the same line at the next
//! same marker preceded by a non-space character and not followed by a letter
//! or digit. Styles nest (`*_both_*`); monospace content is taken literally.
//! Anything that does not match these rules stays as literal characters.

use switchboard_pdk::types::{FormattedText, Span, SpanStyle};

/// The triple backtick that opens and closes a monospace run.
const MONO: &str = "```";

/// Parses WhatsApp markup into plain text plus spans (offsets in characters).
pub fn parse(input: &str) -> FormattedText {
    let chars: Vec<char> = input.chars().collect();
    // The body as characters while parsing, so that span offsets are its length.
    let mut body = Vec::with_capacity(chars.len());
    let mut spans = Vec::new();
    parse_into(&chars, &mut body, &mut spans);
    spans.sort_by_key(|span| (span.start, std::cmp::Reverse(span.end)));
    FormattedText {
        body: body.into_iter().collect(),
        spans,
    }
}

/// The style a single-character marker stands for.
fn marker_style(marker: char) -> Option<SpanStyle> {
    match marker {
        '*' => Some(SpanStyle::Bold),
        '_' => Some(SpanStyle::Italic),
        '~' => Some(SpanStyle::Strikethrough),
        _ => None,
    }
}

/// Whether `chars[at..]` starts with three backticks.
fn is_mono(chars: &[char], at: usize) -> bool {
    chars.len() >= at + 3 && chars[at..at + 3].iter().all(|&c| c == '`')
}

/// Appends the plain text of `chars` to `body` and the spans found in it,
/// offset by the characters already in `body`.
fn parse_into(chars: &[char], body: &mut Vec<char>, spans: &mut Vec<Span>) {
    let mut index = 0;
    while index < chars.len() {
        let before = index.checked_sub(1).map(|at| chars[at]);
        let glued = before.is_some_and(char::is_alphanumeric);
        if !glued
            && is_mono(chars, index)
            && let Some(close) = find_mono_close(chars, index + 3)
        {
            let start = offset(body);
            body.extend_from_slice(&chars[index + 3..close]);
            spans.push(Span {
                start,
                end: offset(body),
                style: SpanStyle::Monospace,
            });
            index = close + 3;
            continue;
        }
        let current = chars[index];
        if let Some(style) = marker_style(current).filter(|_| !glued)
            && let Some(close) = find_close(chars, index, current)
        {
            let start = offset(body);
            // The outer span goes before the spans found inside it.
            let slot = spans.len();
            parse_into(&chars[index + 1..close], body, spans);
            spans.insert(
                slot,
                Span {
                    start,
                    end: offset(body),
                    style,
                },
            );
            index = close + 1;
            continue;
        }
        body.push(current);
        index += 1;
    }
}

/// The closing marker for an opener at `open`, on the same line.
fn find_close(chars: &[char], open: usize, marker: char) -> Option<usize> {
    let first = *chars.get(open + 1)?;
    if first.is_whitespace() || first == marker {
        return None;
    }
    (open + 2..chars.len())
        .take_while(|&at| chars[at] != '\n')
        .find(|&at| {
            chars[at] == marker
                && !chars[at - 1].is_whitespace()
                && !chars.get(at + 1).is_some_and(|c| c.is_alphanumeric())
        })
}

/// The start of the closing triple backtick of a monospace run with content.
fn find_mono_close(chars: &[char], from: usize) -> Option<usize> {
    (from + 1..chars.len()).find(|&at| is_mono(chars, at))
}

/// The end of the body so far, as a span offset.
fn offset(body: &[char]) -> u32 {
    u32::try_from(body.len()).unwrap_or(u32::MAX)
}

/// The marker WhatsApp uses for a style, when it has one.
fn marker(style: &SpanStyle) -> Option<&'static str> {
    match style {
        SpanStyle::Bold => Some("*"),
        SpanStyle::Italic => Some("_"),
        SpanStyle::Strikethrough => Some("~"),
        SpanStyle::Monospace => Some(MONO),
        SpanStyle::Link(_) | SpanStyle::Mention(_) => None,
    }
}

/// Renders formatted text as WhatsApp markup. Styles WhatsApp has no markup
/// for are rendered as text: a link whose URL is not already the linked text
/// gets the URL after it in parentheses; a mention keeps its text.
pub fn render(text: &FormattedText) -> String {
    // Most text has no formatting: nothing to walk.
    if text.spans.is_empty() {
        return text.body.clone();
    }
    let chars: Vec<char> = text.body.chars().collect();
    let len = chars.len();
    // Marker spans, shrunk so that markers touch non-space characters (the
    // clients ignore `* bold *`); ranges outside the body are ignored.
    let mut marked: Vec<(usize, usize, &'static str)> = text
        .spans
        .iter()
        .filter_map(|span| {
            let symbol = marker(&span.style)?;
            let (mut start, mut end) = (span.start as usize, (span.end as usize).min(len));
            while start < end && chars[start].is_whitespace() {
                start += 1;
            }
            while end > start && chars[end - 1].is_whitespace() {
                end -= 1;
            }
            (start < end).then_some((start, end, symbol))
        })
        .collect();
    marked.sort_by_key(|&(start, end, _)| (start, std::cmp::Reverse(end)));
    let links: Vec<(usize, String)> = text
        .spans
        .iter()
        .filter_map(|span| match &span.style {
            SpanStyle::Link(url) => {
                let end = (span.end as usize).min(len);
                let start = (span.start as usize).min(end);
                let shown: String = chars[start..end].iter().collect();
                (shown.trim() != url.trim()).then(|| (end, format!(" ({url})")))
            }
            _ => None,
        })
        .collect();
    let mut out = String::with_capacity(text.body.len() + 8 * marked.len());
    let mut open: Vec<(usize, &'static str)> = Vec::new();
    // `marked` is sorted by start: the next ones to open are at its front.
    let mut to_open = marked.iter().peekable();
    for position in 0..=len {
        // Close what ends here, innermost first.
        while let Some(&(end, symbol)) = open.last() {
            if end > position {
                break;
            }
            out.push_str(symbol);
            open.pop();
        }
        for (at, suffix) in &links {
            if *at == position {
                out.push_str(suffix);
            }
        }
        while let Some(&(_, end, symbol)) = to_open.next_if(|(start, ..)| *start == position) {
            out.push_str(symbol);
            open.push((end, symbol));
        }
        if let Some(&c) = chars.get(position) {
            out.push(c);
        }
    }
    // Spans that overlap without nesting close at the end of the text.
    while let Some((_, symbol)) = open.pop() {
        out.push_str(symbol);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u32, end: u32, style: SpanStyle) -> Span {
        Span { start, end, style }
    }

    #[test]
    fn parses_each_style_with_character_offsets() {
        let text = parse("Hé *bold* _it_ ~no~ ```co*de```");
        assert_eq!(text.body, "Hé bold it no co*de");
        assert_eq!(
            text.spans,
            vec![
                span(3, 7, SpanStyle::Bold),
                span(8, 10, SpanStyle::Italic),
                span(11, 13, SpanStyle::Strikethrough),
                span(14, 19, SpanStyle::Monospace),
            ]
        );
    }

    #[test]
    fn nests_and_leaves_non_markup_alone() {
        let text = parse("*_both_* 2*3*4 snake_case_name * not * a_b");
        assert_eq!(text.body, "both 2*3*4 snake_case_name * not * a_b");
        assert_eq!(
            text.spans,
            vec![span(0, 4, SpanStyle::Bold), span(0, 4, SpanStyle::Italic)]
        );
        let unclosed = parse("*open\nclose*");
        assert_eq!(unclosed.body, "*open\nclose*");
        assert!(unclosed.spans.is_empty());
    }

    #[test]
    fn renders_back_what_it_parsed() {
        for input in [
            "Hé *bold* _it_ ~no~ ```co*de```",
            "*_both_* and plain",
            "line one\n*line two*",
        ] {
            assert_eq!(render(&parse(input)), input);
        }
    }

    #[test]
    fn renders_links_and_shrinks_spaces() {
        let text = FormattedText {
            body: "see docs now".to_string(),
            spans: vec![
                span(4, 8, SpanStyle::Link("https://example.com".to_string())),
                span(3, 9, SpanStyle::Bold),
            ],
        };
        assert_eq!(render(&text), "see *docs* (https://example.com) now");
        let beyond = FormattedText {
            body: "ab".to_string(),
            spans: vec![span(1, 40, SpanStyle::Italic)],
        };
        assert_eq!(render(&beyond), "a_b_");
    }
}
