//! Where a platform's access token goes on a request, and what may be said
//! about a request that carried one.
//!
//! A translator declares how its platform's API is authenticated
//! (`api-auth`: a bearer header, a placeholder in the path, a query
//! parameter, a named header, or none) and never sees the token; the host
//! reads the token from the platform's secret variable and fills it in here,
//! at the last moment before a request goes out. The outbox keeps requests
//! as the translator wrote them (with the placeholder), so a token is never
//! stored; what a failed request's reason says about its URL, or what the
//! platform answered, goes through [`Credential::redact`] before it is
//! stored or logged.
//!
//! A token goes only where the platform's API is: to a path below its
//! `api_base`, or to an absolute URL whose host is the `api_base`'s host or
//! one of the platform's `media_hosts` — and even there never in the path,
//! so neither a plugin nor a forged API answer can send it to a host of its
//! choosing.

use crate::plugins::translator::ApiAuth;

/// What a token is replaced by wherever a request is described.
pub const REDACTED: &str = "[redacted]";

/// One platform's credential: how its API wants the token, and the token.
#[derive(Clone)]
pub struct Credential {
    auth: ApiAuth,
    token: String,
}

/// Debug output that never shows the token.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("auth", &self.auth)
            .field("token", &if self.token.is_empty() { "" } else { REDACTED })
            .finish()
    }
}

/// A request with its credential in place, ready for the wire.
#[derive(Debug)]
pub struct Authorized {
    /// The URL to send to (it may hold the token: never show it).
    pub url: String,
    /// The URL with the token replaced by [`REDACTED`], for reasons and logs.
    pub shown_url: String,
    /// The headers the credential adds (none, `Authorization`, or the named
    /// header).
    pub headers: Vec<(String, String)>,
}

/// Whether `path` is an absolute `http(s)://` URL rather than a path below
/// the API base.
pub fn is_absolute(path: &str) -> bool {
    path.starts_with("https://") || path.starts_with("http://")
}

/// The authority (`host[:port]`) of an absolute URL, in lower case; `None`
/// when it names a user (`https://user@host/`), which no API URL needs and
/// which could make a host look like another.
fn authority(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains(['@', '\\']) {
        return None;
    }
    Some(authority.to_ascii_lowercase())
}

/// The host of an authority, without its port.
fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        // An IPv6 literal: `[::1]:8080`.
        return rest.split_once(']').map_or(rest, |(host, _)| host);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// `text` percent-encoded except for RFC 3986's unreserved characters (and
/// `:`, which bot tokens contain and paths allow).
fn percent_encode(text: &str, keep_colon: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (keep_colon && byte == b':')
        {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Credential {
    /// `token` put on requests as `auth` says. An empty token (the sample
    /// apps) puts nothing on a request but a path token's placeholder is
    /// still replaced, with nothing.
    pub fn new(auth: ApiAuth, token: impl Into<String>) -> Credential {
        Credential {
            auth,
            token: token.into(),
        }
    }

    /// How the token is put on requests.
    pub fn auth(&self) -> &ApiAuth {
        &self.auth
    }

    /// Whether an absolute `url` may carry the token: its host is
    /// `api_base`'s (same host and port) or one of `allowed_hosts` (a host,
    /// any port, or `host:port`).
    pub fn may_carry_token(url: &str, api_base: &str, allowed_hosts: &[String]) -> bool {
        let Some(target) = authority(url) else {
            return false;
        };
        if authority(api_base).is_some_and(|base| base == target) {
            return true;
        }
        let host = host_of(&target);
        allowed_hosts.iter().any(|allowed| {
            let allowed = allowed.trim().to_ascii_lowercase();
            !allowed.is_empty() && (allowed == target || allowed == host)
        })
    }

    /// `path` (below `api_base`, or an absolute URL) with the credential in
    /// place. `bearer_scheme` is the `Authorization` scheme of a bearer
    /// header (`Bearer`, or `OAuth` where an API wants that). An absolute URL
    /// gets the token only when [`may_carry_token`](Self::may_carry_token)
    /// says so, and never as a path token.
    pub fn authorize(
        &self,
        api_base: &str,
        path: &str,
        allowed_hosts: &[String],
        bearer_scheme: &str,
    ) -> Authorized {
        let absolute = is_absolute(path);
        let mut url = if absolute {
            path.to_string()
        } else {
            format!("{}{}", api_base.trim_end_matches('/'), path)
        };
        let mut headers = Vec::new();
        let trusted = !absolute || Credential::may_carry_token(path, api_base, allowed_hosts);
        match &self.auth {
            ApiAuth::None => {}
            // Only a path the translator wrote below the API base: an
            // absolute URL's placeholder stays as it is.
            ApiAuth::PathToken(placeholder) if !absolute && !placeholder.is_empty() => {
                let (route, query) = match path.split_once('?') {
                    Some((route, query)) => (route, Some(query)),
                    None => (path, None),
                };
                let filled =
                    route.replace(placeholder.as_str(), &percent_encode(&self.token, true));
                url = format!("{}{}", api_base.trim_end_matches('/'), filled);
                if let Some(query) = query {
                    url.push('?');
                    url.push_str(query);
                }
            }
            ApiAuth::PathToken(_) => {}
            _ if self.token.is_empty() || !trusted => {}
            ApiAuth::BearerHeader => {
                headers.push((
                    "Authorization".to_string(),
                    format!("{bearer_scheme} {}", self.token),
                ));
            }
            ApiAuth::QueryParameter(name) => {
                let (before, fragment) = match url.split_once('#') {
                    Some((before, fragment)) => (before.to_string(), Some(fragment.to_string())),
                    None => (url.clone(), None),
                };
                let separator = if before.contains('?') { '&' } else { '?' };
                url = format!(
                    "{before}{separator}{}={}",
                    percent_encode(name, false),
                    percent_encode(&self.token, false)
                );
                if let Some(fragment) = fragment {
                    url.push('#');
                    url.push_str(&fragment);
                }
            }
            ApiAuth::Header(name) => headers.push((name.clone(), self.token.clone())),
        }
        let shown_url = self.redact(&url);
        Authorized {
            url,
            shown_url,
            headers,
        }
    }

    /// `text` with every form of the token in it (as is, and
    /// percent-encoded as a path or a query would carry it) replaced by
    /// [`REDACTED`]: for reasons that name a URL or quote an answer.
    pub fn redact(&self, text: &str) -> String {
        redact_token(&self.token, text)
    }
}

/// `text` with `token` (as is, and percent-encoded) replaced by
/// [`REDACTED`]; an empty token redacts nothing.
pub fn redact_token(token: &str, text: &str) -> String {
    if token.is_empty() {
        return text.to_string();
    }
    let mut text = text.replace(token, REDACTED);
    for encoded in [percent_encode(token, true), percent_encode(token, false)] {
        if encoded != token {
            text = text.replace(&encoded, REDACTED);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const TOKEN: &str = "123456:ABC-def/ghi+jk";
    const BASE: &str = "http://127.0.0.1:3001/";

    fn header<'a>(authorized: &'a Authorized, name: &str) -> Option<&'a str> {
        authorized
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    #[test]
    fn each_api_auth_puts_the_token_where_it_says() {
        let bearer = Credential::new(ApiAuth::BearerHeader, TOKEN).authorize(
            BASE,
            "/v21.0/me/messages",
            &[],
            "Bearer",
        );
        assert_eq!(bearer.url, "http://127.0.0.1:3001/v21.0/me/messages");
        assert_eq!(
            header(&bearer, "authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );

        let path = Credential::new(ApiAuth::PathToken("{token}".into()), TOKEN).authorize(
            BASE,
            "/bot{token}/getFile?file_id=%7Btoken%7D{token}",
            &[],
            "Bearer",
        );
        assert_eq!(
            path.url,
            "http://127.0.0.1:3001/bot123456:ABC-def%2Fghi%2Bjk/getFile?file_id=%7Btoken%7D{token}",
            "the path only, the token percent-encoded"
        );
        assert!(path.headers.is_empty());
        assert_eq!(
            path.shown_url,
            "http://127.0.0.1:3001/bot[redacted]/getFile?file_id=%7Btoken%7D{token}"
        );

        let query = Credential::new(ApiAuth::QueryParameter("key".into()), TOKEN).authorize(
            BASE,
            "/v1/send?to=a#frag",
            &[],
            "Bearer",
        );
        assert_eq!(
            query.url,
            "http://127.0.0.1:3001/v1/send?to=a&key=123456%3AABC-def%2Fghi%2Bjk#frag"
        );
        assert_eq!(
            query.shown_url,
            "http://127.0.0.1:3001/v1/send?to=a&key=[redacted]#frag"
        );

        let named = Credential::new(ApiAuth::Header("X-Api-Key".into()), TOKEN).authorize(
            BASE,
            "/send",
            &[],
            "Bearer",
        );
        assert_eq!(header(&named, "x-api-key"), Some(TOKEN));

        let none = Credential::new(ApiAuth::None, TOKEN).authorize(BASE, "/send", &[], "Bearer");
        assert!(none.headers.is_empty());
        assert!(!none.url.contains("123456"));

        let empty = Credential::new(ApiAuth::BearerHeader, "").authorize(BASE, "/s", &[], "Bearer");
        assert!(empty.headers.is_empty(), "an empty token sends no header");
    }

    #[test]
    fn an_absolute_url_gets_the_token_only_on_an_allowed_host_and_never_in_its_path() {
        let bearer = Credential::new(ApiAuth::BearerHeader, TOKEN);
        let allowed = vec!["lookaside.fbsbx.com".to_string()];
        for (url, carries) in [
            ("https://lookaside.fbsbx.com/whatsapp/?mid=1", true),
            ("https://LOOKASIDE.fbsbx.com:443/x", true),
            ("http://127.0.0.1:3001/media/1", true),
            ("http://127.0.0.1:3002/media/1", false),
            ("https://evil.example/x?lookaside.fbsbx.com", false),
            ("https://lookaside.fbsbx.com@evil.example/x", false),
            ("https://lookaside.fbsbx.com.evil.example/x", false),
        ] {
            let authorized = bearer.authorize(BASE, url, &allowed, "Bearer");
            assert_eq!(authorized.url, url);
            assert_eq!(
                header(&authorized, "authorization").is_some(),
                carries,
                "{url}"
            );
        }
        let path = Credential::new(ApiAuth::PathToken("{token}".into()), TOKEN);
        let authorized = path.authorize(BASE, "http://127.0.0.1:3001/bot{token}/x", &[], "Bearer");
        assert_eq!(authorized.url, "http://127.0.0.1:3001/bot{token}/x");
    }

    #[test]
    fn redaction_covers_every_form_of_the_token_and_debug_shows_none() {
        let credential = Credential::new(ApiAuth::BearerHeader, TOKEN);
        let text = format!(
            "{TOKEN} and 123456:ABC-def%2Fghi%2Bjk and 123456%3AABC-def%2Fghi%2Bjk and Bearer {TOKEN}"
        );
        let redacted = credential.redact(&text);
        assert!(!redacted.contains("ABC-def"), "{redacted}");
        assert_eq!(redacted.matches(REDACTED).count(), 4);
        assert!(!format!("{credential:?}").contains("ABC"));
        assert_eq!(redact_token("", "text"), "text");
    }
}
