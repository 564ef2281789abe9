//! Turning a platform's media id into bytes: the host side of a translator's
//! `fetch-media` hook.
//!
//! ```text
//! fetch-media(id, none) ─▶ request ─▶ run with the credential ─▶ 2xx body
//!   ─▶ fetch-media(id, body) ─▶ … ─▶ download ─▶ GET the bytes (size, sha256)
//! ```
//!
//! The translator only describes requests; [`MediaFetcher`] runs them with
//! the app's access token where its `api-auth` says ([`Credential`]). It
//! stops after [`MediaLimits::max_steps`] steps, refuses a file whose
//! announced or actual size is over [`MediaLimits::max_bytes`], checks the
//! announced size and SHA-256, and follows no redirect (a redirect could carry
//! a named header to another host). The token goes to an absolute download
//! URL only when its host is the `api_base`'s or one of the platform's
//! `media_hosts`, and never in its path. Every error is redacted.

use crate::credentials::{Credential, is_absolute};
use crate::plugins::translator::{HttpMethod, MediaDownload, MediaError, MediaStep, SendRequest};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How far a media fetch may go.
#[derive(Clone, Debug)]
pub struct MediaLimits {
    /// Calls of `fetch-media` (lookups plus the download) before giving up;
    /// every platform known needs two.
    pub max_steps: usize,
    /// The largest file fetched, in bytes.
    pub max_bytes: u64,
    /// The largest answer of a lookup request, in bytes.
    pub max_answer_bytes: u64,
    /// Time allowed for each request.
    pub timeout: Duration,
}

impl Default for MediaLimits {
    fn default() -> Self {
        MediaLimits {
            max_steps: 4,
            max_bytes: 100 << 20,
            max_answer_bytes: 1 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// One media file's bytes, as fetched.
#[derive(Clone, Debug)]
pub struct FetchedMedia {
    /// The file.
    pub bytes: Vec<u8>,
    /// The download answer's `Content-Type`, or else the type the platform
    /// announced.
    pub mime_type: Option<String>,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Calls of `fetch-media` it took.
    pub steps: usize,
}

/// Why a media id could not be turned into bytes; the message never holds
/// the token.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MediaFetchError(String);

/// One answer of a translator's `fetch-media`; the outer error is the
/// translator failing (missing, trapped, out of time).
pub type StepAnswer = Result<Result<MediaStep, MediaError>, String>;

/// Runs one platform's `fetch-media` steps with its credential.
pub struct MediaFetcher {
    agent: ureq::Agent,
    api_base: String,
    media_hosts: Vec<String>,
    credential: Credential,
    limits: MediaLimits,
}

/// The root certificates to trust instead of the built-in (Mozilla) ones.
pub type RootCertificates = Vec<ureq::tls::Certificate<'static>>;

/// The certificates of a PEM file (for a private CA or a test server).
pub fn root_certificates(pem: &[u8]) -> Result<RootCertificates, MediaFetchError> {
    let mut certificates = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(certificate)) => certificates.push(certificate),
            Ok(_) => {}
            Err(error) => return Err(MediaFetchError(format!("not a PEM file: {error}"))),
        }
    }
    if certificates.is_empty() {
        return Err(MediaFetchError("no certificate in the PEM file".into()));
    }
    Ok(certificates)
}

fn method_name(method: HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
    }
}

impl MediaFetcher {
    /// A fetcher for the API at `api_base`, sending `credential` to it and
    /// to `media_hosts`; `roots` replaces the built-in root certificates.
    pub fn new(
        api_base: &str,
        media_hosts: &[String],
        credential: Credential,
        limits: MediaLimits,
        roots: Option<RootCertificates>,
    ) -> MediaFetcher {
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(limits.timeout))
            .http_status_as_error(false)
            .max_redirects(0);
        if let Some(roots) = roots {
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
                    .build(),
            );
        }
        MediaFetcher {
            agent: config.build().into(),
            api_base: api_base.to_string(),
            media_hosts: media_hosts.to_vec(),
            credential,
            limits,
        }
    }

    /// The bytes of `media_id`: `next` is the translator's `fetch-media`
    /// (given the previous step's answer; its outer error is the translator
    /// failing), called until it answers a download.
    pub fn fetch(
        &self,
        media_id: &str,
        mut next: impl FnMut(Option<&[u8]>) -> StepAnswer,
    ) -> Result<FetchedMedia, MediaFetchError> {
        self.run(media_id, &mut next)
            .map_err(|reason| MediaFetchError(self.credential.redact(&reason)))
    }

    fn run(
        &self,
        media_id: &str,
        next: &mut dyn FnMut(Option<&[u8]>) -> StepAnswer,
    ) -> Result<FetchedMedia, String> {
        let mut previous: Option<Vec<u8>> = None;
        for step in 1..=self.limits.max_steps {
            let answer = next(previous.as_deref())
                .map_err(|error| format!("fetch-media failed: {error}"))?
                .map_err(|error| {
                    format!(
                        "media `{media_id}`: {}",
                        crate::plugins::translator::describe_media_error(&error)
                    )
                })?;
            match answer {
                MediaStep::Request(request) => {
                    previous = Some(
                        self.lookup(&request)
                            .map_err(|error| format!("step {step}: {error}"))?,
                    );
                }
                MediaStep::Download(download) => {
                    let (bytes, mime_type) = self
                        .download(&download)
                        .map_err(|error| format!("step {step} (download): {error}"))?;
                    let sha256 = hex(&Sha256::digest(&bytes));
                    if let Some(expected) = &download.sha256
                        && !expected.eq_ignore_ascii_case(&sha256)
                    {
                        return Err(format!(
                            "the bytes' SHA-256 is {sha256}, the platform announced {expected}"
                        ));
                    }
                    return Ok(FetchedMedia {
                        bytes,
                        mime_type,
                        sha256,
                        steps: step,
                    });
                }
            }
        }
        Err(format!(
            "no download after {} steps of fetch-media",
            self.limits.max_steps
        ))
    }

    /// Sends `request` (with `headers`) with the credential in place;
    /// returns the answer and the URL as it may be shown.
    fn send(
        &self,
        method: HttpMethod,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(ureq::http::Response<ureq::Body>, String), String> {
        if !is_absolute(path) && !path.starts_with('/') {
            return Err(format!("`{path}` is neither a path nor an http(s) URL"));
        }
        let authorized =
            self.credential
                .authorize(&self.api_base, path, &self.media_hosts, "Bearer");
        let mut builder = ureq::http::Request::builder()
            .method(method_name(method))
            .uri(&authorized.url);
        for (name, value) in headers.iter().chain(&authorized.headers) {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(body.to_vec())
            .map_err(|error| format!("cannot build the request: {error}"))?;
        let shown = authorized.shown_url;
        let response = self
            .agent
            .run(request)
            .map_err(|error| format!("{shown}: {error}"))?;
        if !response.status().is_success() {
            return Err(format!("{shown} answered {}", response.status().as_u16()));
        }
        Ok((response, shown))
    }

    /// A lookup step: its 2xx answer's body.
    fn lookup(&self, request: &SendRequest) -> Result<Vec<u8>, String> {
        let (mut response, shown) = self.send(
            request.method,
            &request.path,
            &request.headers,
            &request.body,
        )?;
        response
            .body_mut()
            .with_config()
            .limit(self.limits.max_answer_bytes)
            .read_to_vec()
            .map_err(|error| format!("{shown}: cannot read the answer: {error}"))
    }

    /// The download: the bytes, within the size cap and the announced size,
    /// and their media type.
    fn download(&self, download: &MediaDownload) -> Result<(Vec<u8>, Option<String>), String> {
        let max = self.limits.max_bytes;
        if let Some(size) = download.size_bytes
            && size > max
        {
            return Err(format!(
                "the file is {size} bytes, over the {max}-byte limit"
            ));
        }
        let (mut response, shown) =
            self.send(HttpMethod::Get, &download.url, &download.headers, &[])?;
        let mime_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
            .or_else(|| download.mime_type.clone());
        let bytes = response
            .body_mut()
            .with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|error| {
                format!("{shown}: cannot read the file (limit {max} bytes): {error}")
            })?;
        if let Some(size) = download.size_bytes
            && u64::try_from(bytes.len()).ok() != Some(size)
        {
            return Err(format!(
                "got {} bytes, the platform announced {size}",
                bytes.len()
            ));
        }
        Ok((bytes, mime_type))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
