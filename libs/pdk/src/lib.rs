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
//! Translators get that call, and the component forwarding to their native
//! functions, from [`translator_component!`].
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

/// Makes the calling crate a `translator-plugin` component over its native
/// functions, which it defines itself with these signatures:
///
/// ```ignore
/// pub fn describe() -> Capabilities;
/// pub fn decode(body: &[u8]) -> Result<Vec<Envelope>, DecodeError>;
/// pub fn encode(envelope: &Envelope, sender: &Address, recipient: &Address)
///     -> Result<Encoded, EncodeError>;
/// pub fn sent_message_id(body: &[u8]) -> Option<String>;
/// ```
///
/// The macro generates the world's bindings (in a private `bindings` module,
/// with the WIT at `../../wit` as for every crate in `components/`), re-exports
/// the translator interface's types (`Capabilities`, `Encoded`…) for the
/// native functions to use, and exports a component whose every export
/// forwards to the native function of the same name. The caller depends on
/// `wit-bindgen` and on this crate as `switchboard_model`.
#[macro_export]
macro_rules! translator_component {
    () => {
        /// The generated bindings of the `translator-plugin` world.
        #[allow(missing_docs, clippy::all)]
        mod bindings {
            wit_bindgen::generate!({
                world: "translator-plugin",
                path: "../../wit",
                with: { "switchboard:messaging/types@0.1.0": switchboard_model::types },
            });
        }

        pub use bindings::exports::switchboard::messaging::translator::{
            Capabilities, ContentKind, Degradation, Encoded, HttpMethod, Limits, SendRequest,
            WebhookSignature,
        };

        /// The component: forwards every export to the native functions.
        struct Component;

        impl bindings::exports::switchboard::messaging::translator::Guest for Component {
            fn describe() -> Capabilities {
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
            ) -> ::std::result::Result<Encoded, $crate::types::EncodeError> {
                encode(&envelope, &sender, &recipient)
            }

            fn sent_message_id(
                response_body: ::std::vec::Vec<u8>,
            ) -> ::std::option::Option<::std::string::String> {
                sent_message_id(&response_body)
            }
        }

        #[cfg(target_arch = "wasm32")]
        bindings::export!(Component with_types_in bindings);
    };
}
