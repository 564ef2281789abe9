//! Fetching the bytes of a Telegram file.
//!
//! A `file_id` is resolved in two steps: `getFile` answers with a
//! `file_path`, valid for at least an hour, which is then downloaded from
//! `/file/bot{token}/<file_path>`. [`fetch_media`] is a pure function of the
//! previous step's response, so the host runs the requests with the bot's
//! token and the translator never sees it.

use crate::MAX_WEBHOOK_BYTES;
use switchboard_pdk::json::{self, Node};
use switchboard_pdk::{HttpMethod, MediaDownload, MediaError, MediaStep, SendRequest, ids};

/// A bodiless GET of `path`.
fn get(path: String) -> SendRequest {
    SendRequest {
        method: HttpMethod::Get,
        path,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// Whether a byte needs no percent-encoding in a query value (RFC 3986
/// unreserved characters).
fn unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~')
}

/// `text` percent-encoded for a query value (`getFile`'s `file_id`).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if unreserved(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The next step in fetching the file `media_id` (a `file_id`): `getFile`
/// first, then the download of the `file_path` it answered with, announcing
/// the `file_size` it gave. Each segment of the `file_path` must be a safe
/// path segment ([`ids::path_segment`]), so that no answer can point the
/// download, which carries the bot token, at another method.
pub fn fetch_media(
    media_id: &str,
    previous_response: Option<&[u8]>,
) -> Result<MediaStep, MediaError> {
    if media_id.is_empty() || media_id.len() > 256 {
        return Err(MediaError::InvalidId(media_id.chars().take(64).collect()));
    }
    let Some(response) = previous_response else {
        return Ok(MediaStep::Request(get(format!(
            "/bot{{token}}/getFile?file_id={}",
            percent_encode(media_id)
        ))));
    };
    let bad = |what: &str| MediaError::InvalidResponse(what.to_string());
    let value = json::parse(response, MAX_WEBHOOK_BYTES).map_err(|_| bad("not JSON"))?;
    let root = Node::root(&value);
    if root
        .opt_bool("ok")
        .map_err(|_| bad("`ok` is not a boolean"))?
        != Some(true)
    {
        let description = root
            .opt_str("description")
            .ok()
            .flatten()
            .unwrap_or("getFile failed");
        return Err(bad(description));
    }
    let (result, path) = root
        .get("result")
        .ok()
        .flatten()
        .and_then(|result| {
            let path = result.opt_str("file_path").ok().flatten()?;
            Some((result, path))
        })
        .ok_or_else(|| bad("no result.file_path (the file may be over 20 MB)"))?;
    let segments = path
        .split('/')
        .map(ids::path_segment)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|why| bad(&format!("an unsafe file_path: {why}")))?;
    let size_bytes = result
        .opt_u64("file_size")
        .map_err(|_| bad("result.file_size is not a byte count"))?;
    Ok(MediaStep::Download(MediaDownload {
        url: format!("/file/bot{{token}}/{}", segments.join("/")),
        headers: Vec::new(),
        // A `File` names no media type; the download's answer does.
        mime_type: None,
        size_bytes,
        sha256: None,
    }))
}
