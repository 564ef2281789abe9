//! Integration tests of the sealing crate, linked as one binary: published test
//! vectors (RFC 9180, Project Wycheproof) and the session protocol end to end.

// Helpers outside `#[test]` functions panic on purpose: here a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod envelope;
mod hpke_vectors;
mod session;
mod wycheproof;

use std::path::PathBuf;

/// Reads and parses a JSON file from `tests/vectors/`.
pub fn load_vectors(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The hex string at `field` of a vector, decoded.
pub fn hex_field(value: &serde_json::Value, field: &str) -> Vec<u8> {
    let text = value[field]
        .as_str()
        .unwrap_or_else(|| panic!("missing hex field {field}"));
    sealing::parse_hex(field, text, None).unwrap()
}

/// A 32-byte hex field as an array.
pub fn key_field(value: &serde_json::Value, field: &str) -> [u8; 32] {
    let bytes = hex_field(value, field);
    <[u8; 32]>::try_from(bytes.as_slice()).unwrap_or_else(|_| panic!("{field} is not 32 bytes"))
}
