//! Matrix's `org.matrix.custom.html` formatted bodies read into canonical
//! spans on decode and written back on encode.
//!
//! The reader knows the tags that carry a canonical style (`b`/`strong`,
//! `i`/`em`, `del`/`s`/`strike`, `code`/`pre`, `a href`, with
//! `https://matrix.to/#/@user:server` links as mentions), turns `br` and the
//! edges of block elements into line breaks, drops the content of
//! `mx-reply` (the deprecated reply fallback), decodes character references,
//! and keeps the text of every other tag. It never fails: markup it cannot
//! read stays literal text, as a client shows it. The writer escapes all
//! text and nests tags properly even when spans overlap.

use crate::PLATFORM;
use switchboard_pdk::types::{Address, FormattedText, Span, SpanStyle};

/// The prefix of a `matrix.to` link to a user, which clients show as a pill.
pub const MENTION_PREFIX: &str = "https://matrix.to/#/";

/// Block elements whose edges are line breaks.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "tr",
    "hr",
];

/// The canonical style a tag stands for.
fn tag_style(name: &str, href: Option<&str>) -> Option<SpanStyle> {
    Some(match name {
        "b" | "strong" => SpanStyle::Bold,
        "i" | "em" => SpanStyle::Italic,
        "del" | "s" | "strike" => SpanStyle::Strikethrough,
        "code" | "pre" => SpanStyle::Monospace,
        "a" => {
            let href = href?;
            match href.strip_prefix(MENTION_PREFIX) {
                Some(user) if user.starts_with('@') => SpanStyle::Mention(Address {
                    platform: PLATFORM.to_string(),
                    id: percent_decode(user),
                }),
                _ => SpanStyle::Link(href.to_string()),
            }
        }
        _ => return None,
    })
}

/// `text` with `%XX` escapes decoded (matrix.to links escape `:` and `@`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(hex) = text.get(index + 1..index + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes the character references of `text` (`&amp;`, `&#39;`, `&#x1F44B;`).
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let number = name.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, length)) => {
                out.push(c);
                rest = &rest[length..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A tag read from between `<` and `>`.
struct Tag<'a> {
    name: String,
    closing: bool,
    self_closing: bool,
    href: Option<String>,
    _source: &'a str,
}

/// Reads the inside of a tag (`a href="…"`, `/b`, `br/`).
fn read_tag(inside: &str) -> Option<Tag<'_>> {
    let trimmed = inside.trim();
    let (closing, rest) = match trimmed.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let self_closing = rest.ends_with('/');
    let rest = rest.trim_end_matches('/');
    let name_end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    let name = rest[..name_end].to_ascii_lowercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    let href = attribute(&rest[name_end..], "href").map(|value| unescape(&value));
    Some(Tag {
        name,
        closing,
        self_closing,
        href,
        _source: inside,
    })
}

/// The value of attribute `wanted` in a tag's attribute text.
fn attribute(attributes: &str, wanted: &str) -> Option<String> {
    let mut rest = attributes;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return None;
        }
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (value, tail) = match after.chars().next() {
                Some(quote @ ('"' | '\'')) => {
                    let body = &after[1..];
                    let end = body.find(quote).unwrap_or(body.len());
                    (&body[..end], body.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = after.find(char::is_whitespace).unwrap_or(after.len());
                    (&after[..end], &after[end..])
                }
            };
            rest = tail;
            value
        } else {
            ""
        };
        if name == wanted {
            return Some(value.to_string());
        }
    }
}

/// Parses a formatted body into plain text plus spans (offsets in
/// characters).
pub fn parse(html: &str) -> FormattedText {
    let mut body: Vec<char> = Vec::with_capacity(html.len());
    let mut spans = Vec::new();
    // Open styled tags: (name, start offset, style).
    let mut open: Vec<(String, usize, SpanStyle)> = Vec::new();
    let mut skipping = 0usize;
    let mut preformatted = 0usize;
    let mut rest = html;
    let break_line = |body: &mut Vec<char>| {
        if body.last().is_some_and(|&c| c != '\n') {
            body.push('\n');
        }
    };
    while !rest.is_empty() {
        let text_end = rest.find('<').unwrap_or(rest.len());
        if text_end > 0 {
            if skipping == 0 {
                let text = &rest[..text_end];
                // Source line breaks are layout outside `pre`, as HTML has it.
                let decoded = unescape(text);
                body.extend(decoded.chars().filter(|&c| preformatted > 0 || c != '\n'));
            }
            rest = &rest[text_end..];
            continue;
        }
        let Some(close) = rest.find('>') else {
            if skipping == 0 {
                body.extend(rest.chars());
            }
            break;
        };
        let inside = &rest[1..close];
        let Some(tag) = read_tag(inside) else {
            // Not a tag (`a < b`): literal text.
            if skipping == 0 {
                body.push('<');
            }
            rest = &rest[1..];
            continue;
        };
        rest = &rest[close + 1..];
        if tag.name == "mx-reply" {
            if tag.closing {
                skipping = skipping.saturating_sub(1);
            } else {
                skipping += 1;
            }
            continue;
        }
        if skipping > 0 {
            continue;
        }
        if tag.name == "br" {
            body.push('\n');
            continue;
        }
        if BLOCKS.contains(&tag.name.as_str()) {
            break_line(&mut body);
        }
        if tag.name == "pre" {
            if tag.closing {
                preformatted = preformatted.saturating_sub(1);
            } else {
                preformatted += 1;
            }
        }
        if tag.closing {
            if let Some(index) = open.iter().rposition(|(name, ..)| *name == tag.name) {
                let (_, start, style) = open.remove(index);
                // `<pre><code>` is one monospace run, not two.
                let nested_code = style == SpanStyle::Monospace
                    && open
                        .iter()
                        .any(|(_, _, outer)| *outer == SpanStyle::Monospace);
                if start < body.len() && !nested_code {
                    spans.push(Span {
                        start: offset(start),
                        end: offset(body.len()),
                        style,
                    });
                }
            }
        } else if !tag.self_closing
            && let Some(style) = tag_style(&tag.name, tag.href.as_deref())
        {
            open.push((tag.name, body.len(), style));
        }
    }
    // A block's closing edge leaves a line break at the very end.
    while body.last().is_some_and(|c| *c == '\n') {
        body.pop();
    }
    let length = body.len();
    for span in &mut spans {
        span.end = span.end.min(offset(length));
    }
    spans.retain(|span| span.start < span.end);
    spans.sort_by_key(|span| (span.start, std::cmp::Reverse(span.end)));
    FormattedText {
        body: body.into_iter().collect(),
        spans,
    }
}

/// A character count as a span offset.
fn offset(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// Appends `c` to `out` escaped for HTML text and attribute values.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        '\n' => out.push_str("<br>"),
        c => out.push(c),
    }
}

/// `text` escaped for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// The opening and closing tags of a style, or `None` for a mention of
/// someone not on Matrix (shown as its text).
fn tags(style: &SpanStyle) -> Option<(String, &'static str)> {
    Some(match style {
        SpanStyle::Bold => ("<b>".to_string(), "</b>"),
        SpanStyle::Italic => ("<i>".to_string(), "</i>"),
        SpanStyle::Strikethrough => ("<del>".to_string(), "</del>"),
        SpanStyle::Monospace => ("<code>".to_string(), "</code>"),
        SpanStyle::Link(url) => (format!("<a href=\"{}\">", escape(url)), "</a>"),
        SpanStyle::Mention(who) if who.platform == PLATFORM => (
            format!("<a href=\"{MENTION_PREFIX}{}\">", escape(&who.id)),
            "</a>",
        ),
        SpanStyle::Mention(_) => return None,
    })
}

/// Renders formatted text as a formatted body. Spans are clipped to the
/// text; where two overlap without nesting, the inner one is closed and
/// reopened around the edge so the markup stays well formed.
pub fn render(text: &FormattedText) -> String {
    let chars: Vec<char> = text.body.chars().collect();
    let length = chars.len();
    let mut spans: Vec<(usize, usize, String, &'static str)> = text
        .spans
        .iter()
        .filter_map(|span| {
            let (open, close) = tags(&span.style)?;
            let end = (span.end as usize).min(length);
            let start = (span.start as usize).min(end);
            (start < end).then_some((start, end, open, close))
        })
        .collect();
    spans.sort_by_key(|&(start, end, ..)| (start, std::cmp::Reverse(end)));
    let mut out = String::with_capacity(text.body.len() + 16 * spans.len());
    // Indices into `spans` of the tags open now, outermost first.
    let mut stack: Vec<usize> = Vec::new();
    for (position, &c) in chars.iter().enumerate() {
        let active: Vec<usize> = (0..spans.len())
            .filter(|&index| spans[index].0 <= position && position < spans[index].1)
            .collect();
        // Keep the longest prefix of the stack that is still active.
        let keep = stack
            .iter()
            .take_while(|index| active.contains(index))
            .count();
        while stack.len() > keep {
            if let Some(index) = stack.pop() {
                out.push_str(spans[index].3);
            }
        }
        for index in active {
            if !stack.contains(&index) {
                out.push_str(&spans[index].2);
                stack.push(index);
            }
        }
        push_escaped(&mut out, c);
    }
    while let Some(index) = stack.pop() {
        out.push_str(spans[index].3);
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
    fn reads_styles_entities_and_breaks() {
        let text = parse("<p>Hi <b>b<i>bi</i></b> &amp; &#x1F44B;</p><p>x<br/>y</p>");
        assert_eq!(text.body, "Hi bbi & 👋\nx\ny");
        assert_eq!(
            text.spans,
            vec![span(3, 6, SpanStyle::Bold), span(4, 6, SpanStyle::Italic)]
        );
    }

    #[test]
    fn drops_reply_fallbacks_and_keeps_stray_brackets() {
        let text = parse("<mx-reply><blockquote>old <b>x</b></blockquote></mx-reply>new a < b");
        assert_eq!(text.body, "new a < b");
        assert!(text.spans.is_empty());
        let unclosed = parse("<b>never closed");
        assert_eq!(unclosed.body, "never closed");
        assert!(unclosed.spans.is_empty());
    }

    #[test]
    fn renders_nested_and_overlapping_spans_well_formed() {
        let text = FormattedText {
            body: "a<b & c".to_string(),
            spans: vec![span(0, 3, SpanStyle::Bold), span(2, 7, SpanStyle::Italic)],
        };
        let html = render(&text);
        assert_eq!(html, "<b>a&lt;<i>b</i></b><i> &amp; c</i>");
        let back = parse(&html);
        assert_eq!(back.body, text.body);
    }
}
