//! The Switchboard plugin development kit: everything a translator plugin for
//! a new messaging app needs, in one dependency.
//!
//! A translator turns one app's webhooks into the canonical model's envelopes
//! and envelopes into that app's send-API requests (see the `translator`
//! interface in the bundled WIT, whose doc comments are the plugin author's
//! manual). This crate gives a plugin:
//!
//! * the canonical model as Rust types ([`types`]), generated from the WIT
//!   package this crate bundles (`wit/`, the same files as the repository's),
//!   so a plugin crate needs no WIT files of its own;
//! * the translator interface's types ([`Capabilities`], [`Encoded`],
//!   [`SendRequest`], [`ApiAuth`], [`MediaStep`]…), and [`export_translator!`],
//!   which makes the plugin crate a `translator-plugin` component;
//! * the helpers every translator needs: typed JSON access whose errors name
//!   the field, and extras declared personal unless named shareable
//!   ([`json`]; see `extra-field.personal`), text limits and UTF-16 offsets ([`text`]), ids that
//!   are safe in request paths ([`ids`]), media hashes ([`media`]) and the
//!   sealed-content armor ([`armor`]);
//! * the files of a new plugin crate ([`template`]), which `switchboard plugin
//!   new` renders.
//!
//! # A plugin
//!
//! A plugin crate (`crate-type = ["cdylib"]`) defines five free functions and
//! calls the macro once:
//!
//! ```ignore
//! use switchboard_pdk::prelude::*;
//!
//! switchboard_pdk::export_translator!();
//!
//! pub fn describe() -> Capabilities { /* … */ }
//! pub fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError> { /* … */ }
//! pub fn encode(envelope: &Envelope, sender: &Address, recipient: &Address)
//!     -> Result<Encoded, EncodeError> { /* … */ }
//! pub fn sent_message_id(response_body: &[u8]) -> Option<String> { /* … */ }
//! pub fn fetch_media(media_id: &str, previous_response: Option<&[u8]>)
//!     -> Result<MediaStep, MediaError> { Err(MediaError::Unsupported) }
//! ```
//!
//! The functions are plain Rust, so the plugin's tests call them natively;
//! `cargo build --release --target wasm32-wasip2` makes the component. The
//! template's `src/lib.rs` is a complete, tested example.
//!
//! # First-party components
//!
//! Components written against other worlds of the package (the gateway, the
//! router…) generate their own bindings and reuse these types with
//! `wit_bindgen::generate!`'s `with` option, so every component speaks one set
//! of types:
//!
//! ```ignore
//! wit_bindgen::generate!({
//!     world: "ingress-gateway",
//!     path: "../../wit",
//!     with: { "switchboard:messaging/types@0.1.0": switchboard_pdk::types },
//! });
//! ```
//!
//! The generated types derive `serde` and `PartialEq`, so that native tests
//! and benchmarks can compare them and read and write the canonical JSON the
//! host prints.

#![deny(missing_docs)]

pub mod armor;
pub mod ids;
pub mod json;
pub mod media;
pub mod template;
pub mod text;

/// Generated bindings. Not part of the API: [`types`], the re-exports below
/// and [`export_translator!`] are.
#[doc(hidden)]
pub mod __private {
    /// The canonical model alone (`canonical-model` world).
    #[allow(missing_docs, clippy::all)]
    pub mod model {
        wit_bindgen::generate!({
            world: "canonical-model",
            path: "wit",
            additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
            generate_all,
        });
    }

    /// The `translator-plugin` world, with its export macro public so that a
    /// plugin crate can export a component without WIT or bindings of its own.
    #[allow(missing_docs, clippy::all)]
    pub mod translator {
        wit_bindgen::generate!({
            world: "translator-plugin",
            path: "wit",
            with: { "switchboard:messaging/types@0.1.0": crate::types },
            additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
            pub_export_macro: true,
            default_bindings_module: "::switchboard_pdk::__private::translator",
            export_macro_name: "export_translator_plugin",
        });
    }
}

pub use __private::model::switchboard::messaging::types;

/// The JSON library [`json`] parses with, so a plugin builds request bodies
/// with the same `serde_json` (`serde_json::json!`) without a dependency of
/// its own.
pub use serde_json;

/// The `translator` interface's own types, as the plugin's functions use them.
pub use __private::translator::exports::switchboard::messaging::translator::{
    ApiAuth, Capabilities, ContentKind, Degradation, Encoded, HttpMethod, Limits, MediaDownload,
    MediaError, MediaStep, SendRequest, WebhookSignature,
};

/// The trait a translator component implements; [`export_translator!`]
/// implements it over the plugin's free functions, so plugins rarely name it.
pub use __private::translator::exports::switchboard::messaging::translator::Guest as Translator;

/// One `use` for a translator's source file: the canonical model, the
/// translator interface's types and the helper modules.
pub mod prelude {
    pub use crate::types::*;
    pub use crate::{
        ApiAuth, Capabilities, ContentKind, Degradation, Encoded, HttpMethod, Limits,
        MediaDownload, MediaError, MediaStep, SendRequest, WebhookSignature,
    };
    pub use crate::{armor, ids, json, media, text};
}

/// Makes the calling crate a `translator-plugin` component over its free
/// functions, which it defines at its root with these signatures:
///
/// ```ignore
/// fn describe() -> Capabilities;
/// fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError>;
/// fn encode(envelope: &Envelope, sender: &Address, recipient: &Address)
///     -> Result<Encoded, EncodeError>;
/// fn sent_message_id(response_body: &[u8]) -> Option<String>;
/// fn fetch_media(media_id: &str, previous_response: Option<&[u8]>)
///     -> Result<MediaStep, MediaError>;
/// ```
///
/// Every export of the component forwards to the function of the same name
/// (borrowing what the WIT passes by value, so the functions are easy to call
/// from tests). The bindings live in this crate, generated from the WIT it
/// bundles, so the plugin crate needs neither WIT files nor a dependency on
/// `wit-bindgen`. The export exists only when compiling for WebAssembly: a
/// native build (tests, benchmarks) gets the plain functions and nothing
/// else.
///
/// Call it once, at the crate root, where the functions are in scope.
#[macro_export]
macro_rules! export_translator {
    () => {
        #[cfg(target_arch = "wasm32")]
        #[allow(clippy::all, missing_docs)]
        const _: () = {
            struct SwitchboardTranslator;

            impl $crate::Translator for SwitchboardTranslator {
                fn describe() -> $crate::Capabilities {
                    describe()
                }

                fn decode(
                    body: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<$crate::types::Envelope>,
                    $crate::types::DecodeError,
                > {
                    decode(&body)
                }

                fn encode(
                    envelope: $crate::types::Envelope,
                    sender: $crate::types::Address,
                    recipient: $crate::types::Address,
                ) -> ::std::result::Result<$crate::Encoded, $crate::types::EncodeError> {
                    encode(&envelope, &sender, &recipient)
                }

                fn sent_message_id(
                    response_body: ::std::vec::Vec<u8>,
                ) -> ::std::option::Option<::std::string::String> {
                    sent_message_id(&response_body)
                }

                fn fetch_media(
                    media_id: ::std::string::String,
                    previous_response: ::std::option::Option<::std::vec::Vec<u8>>,
                ) -> ::std::result::Result<$crate::MediaStep, $crate::MediaError> {
                    fetch_media(&media_id, previous_response.as_deref())
                }
            }

            $crate::__private::translator::export_translator_plugin!(
                SwitchboardTranslator with_types_in $crate::__private::translator
            );
        };
    };
}
