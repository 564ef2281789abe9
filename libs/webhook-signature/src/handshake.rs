//! Meta's subscribe handshake: when a webhook URL is registered, Meta sends
//! `GET <url>?hub.mode=subscribe&hub.challenge=<int>&hub.verify_token=<token>`
//! and expects the challenge back, verbatim, only from the endpoint that knows
//! the verify token.
//!
//! Echoing is the risk: an endpoint that reflects whatever `hub.challenge`
//! says is a reflection point for anyone who can make a browser fetch it. So
//! the challenge is answered only when everything is as Meta sends it — mode
//! `subscribe`, the right token, and a challenge of digits only, no longer than
//! [`MAX_CHALLENGE_DIGITS`] — and every parameter comes once.

use crate::{configured, same_secret};

/// The longest `hub.challenge` answered. Meta's is a 32-bit-ish integer
/// (`1158201444` in its documentation); this leaves room for a longer one
/// without letting the endpoint echo arbitrary amounts.
pub const MAX_CHALLENGE_DIGITS: usize = 32;

/// Why a subscribe handshake was refused (answered 403). Messages name the
/// parameter and the rule, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The route has no verify token configured, so no one can subscribe.
    #[error("no verify token is configured for this route, so no subscription is accepted")]
    NoVerifyToken,
    /// A `hub.*` parameter came more than once.
    #[error("{0} is given more than once")]
    Duplicate(&'static str),
    /// `hub.mode` is missing or is not `subscribe`.
    #[error("hub.mode is not `subscribe`")]
    NotSubscribe,
    /// `hub.verify_token` is missing.
    #[error("hub.verify_token is missing")]
    MissingToken,
    /// `hub.verify_token` is not the configured verify token.
    #[error("hub.verify_token does not match the configured verify token")]
    TokenMismatch,
    /// `hub.challenge` is missing.
    #[error("hub.challenge is missing")]
    MissingChallenge,
    /// `hub.challenge` is not 1 to [`MAX_CHALLENGE_DIGITS`] ASCII digits.
    #[error("hub.challenge is not 1 to {MAX_CHALLENGE_DIGITS} digits")]
    MalformedChallenge,
}

/// The answer to a subscribe handshake: the `hub.challenge` to echo, when
/// `query` (the request's query string, without `?`) has `hub.mode=subscribe`,
/// a `hub.verify_token` equal to `verify_token` (compared in constant time)
/// and a challenge of digits only; why not otherwise.
///
/// Parameters are `application/x-www-form-urlencoded` (`+` and `%XX` decoded),
/// other parameters are ignored, and each `hub.*` one may come once.
pub fn subscribe_challenge(query: &str, verify_token: &str) -> Result<String, HandshakeError> {
    let verify_token = configured(verify_token).map_err(|_| HandshakeError::NoVerifyToken)?;
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, slot) = match form_decode(key).as_slice() {
            b"hub.mode" => ("hub.mode", &mut mode),
            b"hub.verify_token" => ("hub.verify_token", &mut token),
            b"hub.challenge" => ("hub.challenge", &mut challenge),
            _ => continue,
        };
        if slot.replace(form_decode(value)).is_some() {
            return Err(HandshakeError::Duplicate(name));
        }
    }
    if mode.as_deref() != Some(&b"subscribe"[..]) {
        return Err(HandshakeError::NotSubscribe);
    }
    let token = token.ok_or(HandshakeError::MissingToken)?;
    if !same_secret(&token, verify_token) {
        return Err(HandshakeError::TokenMismatch);
    }
    let challenge = challenge.ok_or(HandshakeError::MissingChallenge)?;
    let digits = (1..=MAX_CHALLENGE_DIGITS).contains(&challenge.len())
        && challenge.iter().all(u8::is_ascii_digit);
    if !digits {
        return Err(HandshakeError::MalformedChallenge);
    }
    String::from_utf8(challenge).map_err(|_| HandshakeError::MalformedChallenge)
}

/// Decodes one `application/x-www-form-urlencoded` component to bytes: `+` is
/// a space, `%XX` a byte; a `%` not followed by two hex digits stays as it is.
fn form_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&byte, tail)) = rest.split_first() {
        rest = tail;
        match byte {
            b'+' => out.push(b' '),
            b'%' => match tail {
                [high, low, after @ ..] if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                    out.push((hex_value(*high) << 4) | hex_value(*low));
                    rest = after;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
    }
    out
}

/// The value of an ASCII hex digit (callers check it is one).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &str = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";

    #[test]
    fn metas_documented_handshake_is_answered() {
        assert_eq!(
            subscribe_challenge(META, "meatyhamhock"),
            Ok("1158201444".to_string())
        );
        // Order and unrelated parameters do not matter.
        assert_eq!(
            subscribe_challenge(
                "x=1&hub.verify_token=meatyhamhock&&hub.challenge=7&hub.mode=subscribe",
                "meatyhamhock"
            ),
            Ok("7".to_string())
        );
    }

    #[test]
    fn the_verify_token_must_match() {
        assert_eq!(
            subscribe_challenge(META, "other"),
            Err(HandshakeError::TokenMismatch)
        );
        assert_eq!(
            subscribe_challenge(META, "meatyhamhoc"),
            Err(HandshakeError::TokenMismatch)
        );
        assert_eq!(
            subscribe_challenge("hub.mode=subscribe&hub.challenge=1", "t"),
            Err(HandshakeError::MissingToken)
        );
        assert_eq!(
            subscribe_challenge("hub.mode=subscribe&hub.challenge=1&hub.verify_token=", "t"),
            Err(HandshakeError::TokenMismatch)
        );
        // Encoded tokens are compared decoded.
        assert_eq!(
            subscribe_challenge(
                "hub.mode=subscribe&hub.challenge=12&hub.verify_token=t%21+x",
                "t! x"
            ),
            Ok("12".to_string())
        );
    }

    #[test]
    fn an_empty_verify_token_fails_closed() {
        assert_eq!(
            subscribe_challenge(META, ""),
            Err(HandshakeError::NoVerifyToken)
        );
        assert_eq!(
            subscribe_challenge("hub.mode=subscribe&hub.challenge=1&hub.verify_token=", ""),
            Err(HandshakeError::NoVerifyToken)
        );
    }

    #[test]
    fn only_subscribe_is_answered() {
        for query in [
            "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=t",
            "hub.mode=Subscribe&hub.challenge=1&hub.verify_token=t",
            "hub.mode=subscribe%20&hub.challenge=1&hub.verify_token=t",
            "hub.challenge=1&hub.verify_token=t",
            "",
        ] {
            assert_eq!(
                subscribe_challenge(query, "t"),
                Err(HandshakeError::NotSubscribe),
                "{query}"
            );
        }
    }

    #[test]
    fn the_challenge_is_digits_only_and_bounded() {
        let longest = "9".repeat(MAX_CHALLENGE_DIGITS);
        assert_eq!(
            subscribe_challenge(
                &format!("hub.mode=subscribe&hub.verify_token=t&hub.challenge={longest}"),
                "t"
            ),
            Ok(longest.clone())
        );
        assert_eq!(
            subscribe_challenge("hub.mode=subscribe&hub.verify_token=t", "t"),
            Err(HandshakeError::MissingChallenge)
        );
        for challenge in [
            String::new(),
            format!("{longest}9"),
            "12a".into(),
            "-1".into(),
            "+1".into(),
            "1%200".into(),
            "%3Cscript%3E".into(),
            "<script>alert(1)</script>".into(),
            "%31%FF".into(),
            "１２".into(), // full-width digits
        ] {
            assert_eq!(
                subscribe_challenge(
                    &format!("hub.mode=subscribe&hub.verify_token=t&hub.challenge={challenge}"),
                    "t"
                ),
                Err(HandshakeError::MalformedChallenge),
                "{challenge}"
            );
        }
        // Percent-encoded digits are digits.
        assert_eq!(
            subscribe_challenge(
                "hub.mode=subscribe&hub.verify_token=t&hub.challenge=%31%32",
                "t"
            ),
            Ok("12".to_string())
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        for (query, name) in [
            (
                "hub.mode=subscribe&hub.mode=subscribe&hub.challenge=1&hub.verify_token=t",
                "hub.mode",
            ),
            (
                "hub.mode=subscribe&hub.challenge=1&hub.verify_token=x&hub.verify_token=t",
                "hub.verify_token",
            ),
            (
                "hub.mode=subscribe&hub.challenge=1&hub.challenge=2&hub.verify_token=t",
                "hub.challenge",
            ),
            (
                "hub.mode=subscribe&hub%2Echallenge=1&hub.challenge=2&hub.verify_token=t",
                "hub.challenge",
            ),
        ] {
            assert_eq!(
                subscribe_challenge(query, "t"),
                Err(HandshakeError::Duplicate(name)),
                "{query}"
            );
        }
    }

    #[test]
    fn errors_do_not_echo_values() {
        let error = subscribe_challenge(
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=guess",
            "secret",
        )
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
        assert!(
            !error.contains("guess") && !error.contains("secret"),
            "{error}"
        );
    }

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("a+b%21%zz%4"), b"a b!%zz%4");
        assert_eq!(form_decode("%e2%82%ac"), "€".as_bytes());
    }
}
