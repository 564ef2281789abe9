//! Fetching the bytes of a Telegram file, and how the host authenticates.
//!
//! A `file_id` is resolved in two steps: `getFile` answers with a
//! `file_path`, valid for at least an hour, which is then downloaded from
//! `/file/bot{token}/<file_path>`. [`fetch_media`] is a pure function of the
//! previous step's response, so the host runs the requests with the bot's
//! token and the translator never sees it.
//!
//! The types here mirror the plugin kit's coming `fetch-media` and
//! `api-auth` WIT types case for case; when the kit exports them, these
//! definitions give way to the kit's and the functions stay as they are.

use crate::{HttpMethod, MAX_WEBHOOK_BYTES, SendRequest};
use switchboard_model::json::{self, Node};

/// How the host adds the platform credentials to every API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAuth {
    /// No credentials.
    None,
    /// `Authorization: Bearer <token>`.
    BearerHeader,
    /// The token replaces this placeholder in the request path.
    PathToken(String),
    /// The token is added as this query parameter.
    QueryParameter(String),
    /// The token is sent in this header.
    Header(String),
}

/// The next step in fetching a media item.
#[derive(Debug, Clone)]
pub enum MediaStep {
    /// Run this request with the app's credentials and call `fetch_media`
    /// again with its response body.
    Request(SendRequest),
    /// Run this request: its response body is the media's bytes.
    Download(SendRequest),
}

/// Why a media item cannot be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    /// The media id is not one this platform issues.
    InvalidId(String),
    /// The platform's answer to the previous step was not what was expected,
    /// or was an error (its description).
    BadResponse(String),
}

/// A bodiless GET of `path`.
fn get(path: String) -> SendRequest {
    SendRequest {
        method: HttpMethod::Get,
        path,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

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

/// The next step in fetching the file `media_id` (a `file_id`): `getFile`
/// first, then the download of the `file_path` it answered with.
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
    let bad = |what: &str| MediaError::BadResponse(what.to_string());
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
    let path = root
        .get("result")
        .ok()
        .flatten()
        .and_then(|result| result.opt_string("file_path").ok().flatten())
        .ok_or_else(|| bad("no result.file_path (the file may be over 20 MB)"))?;
    if path.is_empty() || path.split('/').any(|segment| segment == "..") {
        return Err(bad("an unsafe file_path"));
    }
    let encoded: Vec<String> = path.split('/').map(percent_encode).collect();
    Ok(MediaStep::Download(get(format!(
        "/file/bot{{token}}/{}",
        encoded.join("/")
    ))))
}
