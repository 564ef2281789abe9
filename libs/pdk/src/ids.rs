//! Ids: the canonical envelope id, and the check that keeps an id from
//! steering a request somewhere else.
//!
//! Envelope ids must be the same every time a platform redelivers a webhook
//! (the host de-duplicates and delivers idempotently by them), so they are
//! built from the platform's own ids, never from a clock or a counter.
//!
//! Ids arrive from webhooks and are spliced into API paths
//! (`/v21.0/{media-id}`), which the host runs with the app's credential. An id
//! such as `../me/accounts` or `x?fields=access_token` would make that request
//! a different one: [`path_segment`] lets through only ids that stay one path
//! segment.

/// The canonical id of an event the platform gave an id of its own:
/// `<platform>:<native id>` (`whatsapp:wamid.HBgL…`).
pub fn envelope_id(platform: &str, native_id: &str) -> String {
    format!("{platform}:{native_id}")
}

/// Longest id [`path_segment`] accepts, in bytes: far above any platform's
/// ids (Telegram's file ids, the longest known, are under 100 characters).
pub const MAX_PATH_SEGMENT_BYTES: usize = 512;

/// `id` when it is safe as one segment of a request path: not empty, not `.`
/// or `..`, at most [`MAX_PATH_SEGMENT_BYTES`], and made only of the
/// characters RFC 3986 leaves unreserved (`A–Z a–z 0–9 - . _ ~`), which every
/// platform's ids use and which need no escaping. Otherwise why not, in words
/// suitable for `media-error::invalid-id` or an encode error.
pub fn path_segment(id: &str) -> Result<&str, String> {
    if id.is_empty() {
        return Err("the id is empty".to_string());
    }
    if id.len() > MAX_PATH_SEGMENT_BYTES {
        return Err(format!(
            "the id is longer than {MAX_PATH_SEGMENT_BYTES} bytes"
        ));
    }
    if id == "." || id == ".." {
        return Err(format!("`{id}` is not an id"));
    }
    match id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')))
    {
        Some(c) => Err(format!(
            "the id contains {c:?}, which a path cannot carry as it is"
        )),
        None => Ok(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_ids_join_platform_and_native_id() {
        assert_eq!(envelope_id("telegram", "42"), "telegram:42");
    }

    #[test]
    fn only_single_unreserved_segments_pass() {
        assert_eq!(path_segment("1037543291543636"), Ok("1037543291543636"));
        assert_eq!(
            path_segment("AgACAgIAAxkBAAIB-_x~1.2"),
            Ok("AgACAgIAAxkBAAIB-_x~1.2")
        );
        for bad in [
            "", ".", "..", "../me", "a/b", "a?b", "a#b", "a%2Fb", "a b", "é",
        ] {
            assert!(path_segment(bad).is_err(), "{bad:?} passed");
        }
        assert!(path_segment(&"a".repeat(MAX_PATH_SEGMENT_BYTES)).is_ok());
        assert!(path_segment(&"a".repeat(MAX_PATH_SEGMENT_BYTES + 1)).is_err());
    }
}
