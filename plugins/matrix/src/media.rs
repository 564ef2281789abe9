//! Fetching the bytes of Matrix media, and percent-encoding of path
//! segments.
//!
//! Matrix media are named by `mxc://<server-name>/<media-id>` URIs; since
//! Matrix 1.11 they are downloaded with the application service's token
//! from the authenticated `GET /_matrix/client/v1/media/download/{serverName}/{mediaId}`,
//! one step with no lookup first.

use switchboard_pdk::{MediaDownload, MediaError, MediaStep};

/// Whether a byte needs no percent-encoding in a query value or path
/// segment (RFC 3986 unreserved characters).
fn unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~')
}

/// `text` percent-encoded for a URL path segment or query value.
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

/// The server name and media id of an `mxc://` URI, when it is one: both
/// must be non-empty, and the media id is `[A-Za-z0-9_-]+` as the spec says.
pub fn parse_mxc(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("mxc://")?;
    let (server, media) = rest.split_once('/')?;
    let valid_media = !media.is_empty()
        && media
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-'));
    let valid_server = !server.is_empty()
        && server.bytes().all(|byte| {
            byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b':' | b'[' | b']')
        });
    (valid_media && valid_server).then_some((server, media))
}

/// The step that fetches `media_id` (an `mxc://` URI): a download at once,
/// since the media repository needs no lookup. `previous_response` is
/// unused; it is there for the shape every translator shares.
pub fn fetch_media(
    media_id: &str,
    previous_response: Option<&[u8]>,
) -> Result<MediaStep, MediaError> {
    let _ = previous_response;
    let (server, media) = parse_mxc(media_id)
        .ok_or_else(|| MediaError::InvalidId(media_id.chars().take(64).collect()))?;
    Ok(MediaStep::Download(MediaDownload {
        url: format!(
            "/_matrix/client/v1/media/download/{}/{}",
            percent_encode(server),
            percent_encode(media)
        ),
        headers: Vec::new(),
        // The URI alone says nothing of the file; the download's answer does.
        mime_type: None,
        size_bytes: None,
        sha256: None,
    }))
}
