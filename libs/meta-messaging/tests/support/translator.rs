//! Fixture-test helpers shared by the Messenger and Instagram translators,
//! whose tests differ only in the translator, its fixtures and two ids. Each
//! `tests/fixtures.rs` includes this file with `#[path]`, names its translator
//! crate `translator` and defines `PLATFORM` (also the fixture directory under
//! `tests/fixtures`), `OWN` (the page or professional account) and `USER`.

// Each includer uses only some of the helpers.
#![allow(dead_code)]

use crate::translator::{HttpMethod, decode, encode};
use crate::{OWN, PLATFORM, USER};
use serde_json::Value;
use std::path::PathBuf;
use switchboard_pdk::types::{Address, DecodeError, Envelope};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(PLATFORM)
}

/// The names of the `.json` fixtures.
pub fn fixture_names() -> Vec<String> {
    std::fs::read_dir(fixture_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().to_string())
        .filter(|name| name.ends_with(".json"))
        .collect()
}

/// The bytes of a fixture (empty when it cannot be read, which no decode
/// accepts).
pub fn raw(name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir().join(name)).unwrap_or_default()
}

/// The envelopes of a fixture, which must decode.
pub fn fixture(name: &str) -> Vec<Envelope> {
    match decode(&raw(name)) {
        Ok(envelopes) => envelopes,
        Err(error) => unreachable!("{name}: {error:?}"),
    }
}

/// The one envelope of a fixture.
pub fn one(name: &str) -> Envelope {
    let mut envelopes = fixture(name);
    assert_eq!(envelopes.len(), 1, "{name}");
    envelopes.remove(0)
}

/// The error of a body that must not decode.
pub fn decode_err(body: &[u8]) -> DecodeError {
    match decode(body) {
        Ok(envelopes) => unreachable!("{envelopes:?}"),
        Err(error) => error,
    }
}

/// The JSON of the extra at `path`.
pub fn extra<'e>(envelope: &'e Envelope, path: &str) -> Option<&'e str> {
    envelope
        .extras
        .iter()
        .find(|extra| extra.path == path)
        .map(|extra| extra.json.as_str())
}

/// Whether the extra at `path` is declared personal (`None`: no such extra).
pub fn personal(envelope: &Envelope, path: &str) -> Option<bool> {
    envelope
        .extras
        .iter()
        .find(|extra| extra.path == path)
        .map(|extra| extra.personal)
}

/// An address on the platform.
pub fn address(id: &str) -> Address {
    Address {
        platform: PLATFORM.into(),
        id: id.into(),
    }
}

/// Encodes as `OWN` answering `USER`, checks every request's method, path
/// and headers, and returns the JSON bodies and the degradation rules.
pub fn bodies(envelope: &Envelope) -> (Vec<Value>, Vec<String>) {
    let encoded = match encode(envelope, &address(OWN), &address(USER)) {
        Ok(encoded) => encoded,
        Err(error) => unreachable!("{error:?}"),
    };
    let mut out = Vec::new();
    for request in &encoded.requests {
        assert_eq!(request.method, HttpMethod::Post);
        assert_eq!(request.path, format!("/v21.0/{OWN}/messages"));
        assert_eq!(
            request.headers,
            vec![("Content-Type".to_string(), "application/json".to_string())]
        );
        out.push(serde_json::from_slice(&request.body).unwrap_or(Value::Null));
    }
    let rules = encoded.degradations.into_iter().map(|d| d.rule).collect();
    (out, rules)
}
