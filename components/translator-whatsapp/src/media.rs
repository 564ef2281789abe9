//! Fetching a WhatsApp media id's bytes, as the Cloud API documents it
//! (<https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media>):
//!
//! 1. `GET /v21.0/{media-id}` answers JSON with a download `url` (valid for
//!    five minutes), `mime_type`, `sha256` and `file_size`;
//! 2. a `GET` of that `url` with the same bearer token answers the bytes.
//!
//! The host runs both with the app's token (`api-auth::bearer-header`). The
//! URL is on `lookaside.fbsbx.com`, not the Graph API host: the app's
//! configuration must allow that host for the token to be sent there.
//! Media ids (all digits) are checked before they go into the path, so a
//! forged id cannot turn the lookup into another Graph API call.

use crate::{MAX_WEBHOOK_BYTES, encode::API_VERSION};
use switchboard_pdk::json::{self, Node};
use switchboard_pdk::{HttpMethod, MediaDownload, MediaError, MediaStep, SendRequest, media};

/// The next step towards the bytes of `media_id`: the lookup first, then,
/// from the lookup's answer, the download.
pub fn fetch_media(
    media_id: &str,
    previous_response: Option<&[u8]>,
) -> Result<MediaStep, MediaError> {
    if media_id.is_empty() || !media_id.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(MediaError::InvalidId(format!(
            "`{media_id}` is not a WhatsApp media id (digits only)"
        )));
    }
    match previous_response {
        None => Ok(MediaStep::Request(SendRequest {
            method: HttpMethod::Get,
            path: format!("/{API_VERSION}/{media_id}"),
            headers: Vec::new(),
            body: Vec::new(),
        })),
        Some(body) => download(media_id, body).map(MediaStep::Download),
    }
}

/// The download described by a `GET /{media-id}` answer.
fn download(media_id: &str, body: &[u8]) -> Result<MediaDownload, MediaError> {
    let invalid = |error| MediaError::InvalidResponse(format!("media URL answer: {error:?}"));
    let value = json::parse(body, MAX_WEBHOOK_BYTES).map_err(invalid)?;
    let root = Node::root(&value);
    // An answer about another media id is never downloaded as this one.
    if let Some(id) = root.opt_str("id").map_err(invalid)?
        && id != media_id
    {
        return Err(MediaError::InvalidResponse(format!(
            "media URL answer is for media {id}, not {media_id}"
        )));
    }
    let url = root.str("url").map_err(invalid)?;
    if !url.starts_with("https://") {
        return Err(MediaError::InvalidResponse(format!(
            "media URL answer: `url` is not an https URL: {url}"
        )));
    }
    Ok(MediaDownload {
        url: url.to_string(),
        headers: Vec::new(),
        mime_type: root.opt_string("mime_type").map_err(invalid)?,
        // The reference shows a string of digits, other examples a number.
        size_bytes: root.opt_u64("file_size").map_err(invalid)?,
        sha256: root
            .opt_str("sha256")
            .map_err(invalid)?
            .and_then(media::sha256_hex),
    })
}
