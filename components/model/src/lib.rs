//! The canonical model (`switchboard:messaging/types`) as Rust types, shared by
//! every guest component so that they all speak the same generated types.
//!
//! Components written against other interfaces of the package reuse these with
//! `wit_bindgen::generate!`'s `with` option:
//!
//! ```ignore
//! wit_bindgen::generate!({
//!     world: "translator-plugin",
//!     path: "../../wit",
//!     with: { "switchboard:messaging/types@0.1.0": switchboard_model::types },
//! });
//! ```
//!
//! The types derive `serde` so that native tests and benchmarks can read and write
//! the same canonical JSON the host prints. The [`json`] module is the typed,
//! path-tracking JSON access that translators use to turn bad input into a
//! [`types::DecodeError`] naming the offending field.

#![deny(missing_docs)]

#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "canonical-model",
        path: "../../wit",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        generate_all,
    });
}

pub use bindings::switchboard::messaging::types;

pub mod armor;
pub mod json;
pub mod text;
