//! Translator components: loading them, checking what they import, and calling
//! `describe`, `decode`, `encode`, `sent-message-id` and `fetch-media` in a
//! sandbox.
//!
//! A translator is compiled once and pre-instantiated ([`Translator`]); each
//! [`TranslatorInstance`] is one live instance that can be reused for many calls,
//! which is the fast path, or made fresh per message for isolation between
//! messages. A call that traps (a panic, a loop past its deadline, memory past its
//! limit) fails with a [`CallError`] and the instance is replaced on the next call;
//! the host carries on.
//!
//! A translator's world imports nothing but the canonical types. Components built
//! with Rust's standard library also import `wasi:io` and `wasi:cli` (for panic
//! messages); the host gives those an empty context and refuses any other import,
//! so a plugin cannot reach files, sockets, clocks or randomness.

use crate::bindings::translator as bindings;
use anyhow::{Context, Result};
use switchboard_runtime::engine::Runtime;
use switchboard_runtime::sandbox::Sandbox;
use wasmtime::Store;

pub use crate::bindings::types;
pub use bindings::exports::switchboard::messaging::translator::{
    ApiAuth, Capabilities, ContentKind, Degradation, Encoded, HttpMethod, Limits as PlatformLimits,
    MediaDownload, MediaError, MediaStep, SendRequest, WebhookSignature,
};
use bindings::{TranslatorPlugin, TranslatorPluginPre};
use types::{Address, DecodeError, EncodeError, Envelope, FieldError};

/// The interface a translator exports, by which the host calls it.
pub const TRANSLATOR_EXPORT: &str = "switchboard:messaging/translator@0.1.0";

/// Import name prefixes a translator may have. Anything else is refused at load.
pub const ALLOWED_IMPORTS: &[&str] = &["switchboard:messaging/types@", "wasi:io/", "wasi:cli/"];

/// A failed call into a component, as distinct from the component's own answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The component trapped (a panic, an out-of-bounds access, memory past its
    /// limit). `guest_output` is what it wrote to stderr, usually the panic.
    #[error("translator `{platform}` trapped in `{function}`: {reason}{}", if guest_output.is_empty() { String::new() } else { format!(" ({guest_output})") })]
    Trapped {
        /// The translator's platform.
        platform: String,
        /// The function that was called.
        function: &'static str,
        /// The trap.
        reason: String,
        /// The guest's stderr.
        guest_output: String,
    },
    /// The call ran past its deadline and was interrupted.
    #[error(
        "translator `{platform}` did not finish `{function}` within its deadline and was stopped"
    )]
    DeadlineExceeded {
        /// The translator's platform.
        platform: String,
        /// The function that was called.
        function: &'static str,
    },
    /// A new instance could not be created (the pool is exhausted, for one).
    #[error("translator `{platform}` could not be instantiated: {reason}")]
    Instantiation {
        /// The translator's platform.
        platform: String,
        /// Why.
        reason: String,
    },
}

/// A compiled, pre-linked translator, ready to instantiate.
pub struct Translator {
    pre: TranslatorPluginPre<Sandbox>,
    capabilities: Capabilities,
    limits: switchboard_runtime::limits::Limits,
    deadline_ticks: u64,
    engine: wasmtime::Engine,
}

impl Translator {
    /// Compiles `wasm` (or loads it from the cache), checks its imports, links it
    /// and asks it to `describe` itself.
    pub fn load(runtime: &Runtime, name: &str, wasm: &[u8]) -> Result<Translator> {
        let pre = runtime.link_pure("translator", name, wasm, ALLOWED_IMPORTS)?;
        let pre = TranslatorPluginPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("`{name}` is not a translator (it must export `switchboard:messaging/translator@0.1.0`)"))?;
        let limits = runtime.limits().clone();
        let deadline_ticks = runtime.deadline_ticks();
        let engine = runtime.engine().clone();
        let mut store = Sandbox::store(&engine, &limits, deadline_ticks);
        let capabilities = pre
            .instantiate(&mut store)
            .and_then(|plugin| {
                plugin
                    .switchboard_messaging_translator()
                    .call_describe(&mut store)
            })
            .map_err(anyhow::Error::from)
            .with_context(|| format!("translator `{name}` failed to describe itself"))?;
        Ok(Translator {
            pre,
            capabilities,
            limits,
            deadline_ticks,
            engine,
        })
    }

    /// What the translator said about itself when it was loaded.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// The platform it translates.
    pub fn platform(&self) -> &str {
        &self.capabilities.platform
    }

    /// A live instance for one or many calls.
    pub fn instantiate(&self) -> Result<TranslatorInstance<'_>, CallError> {
        let (store, plugin) = self.new_store()?;
        Ok(TranslatorInstance {
            translator: self,
            live: Some((store, plugin)),
        })
    }

    fn new_store(&self) -> Result<(Store<Sandbox>, TranslatorPlugin), CallError> {
        let mut store = Sandbox::store(&self.engine, &self.limits, self.deadline_ticks);
        let plugin =
            self.pre
                .instantiate(&mut store)
                .map_err(|error| CallError::Instantiation {
                    platform: self.capabilities.platform.clone(),
                    reason: format!("{error:#}"),
                })?;
        Ok((store, plugin))
    }
}

/// One live translator instance. Reuse it for many calls; after a trap it is
/// replaced by a fresh one on the next call.
pub struct TranslatorInstance<'t> {
    translator: &'t Translator,
    live: Option<(Store<Sandbox>, TranslatorPlugin)>,
}

impl TranslatorInstance<'_> {
    fn call<R>(
        &mut self,
        function: &'static str,
        run: impl FnOnce(&TranslatorPlugin, &mut Store<Sandbox>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        let (mut store, plugin) = match self.live.take() {
            Some(live) => live,
            None => self.translator.new_store()?,
        };
        store.set_epoch_deadline(self.translator.deadline_ticks);
        match run(&plugin, &mut store) {
            Ok(value) => {
                self.live = Some((store, plugin));
                Ok(value)
            }
            Err(error) => {
                let platform = self.translator.capabilities.platform.clone();
                if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
                    return Err(CallError::DeadlineExceeded { platform, function });
                }
                let reason = match error.downcast_ref::<wasmtime::Trap>() {
                    Some(trap) => trap.to_string(),
                    None => format!("{error:#}"),
                };
                Err(CallError::Trapped {
                    platform,
                    function,
                    reason,
                    guest_output: store.data().stderr_text(),
                })
            }
        }
    }

    /// Calls `describe`.
    pub fn describe(&mut self) -> Result<Capabilities, CallError> {
        self.call("describe", |plugin, store| {
            plugin
                .switchboard_messaging_translator()
                .call_describe(store)
        })
    }

    /// Calls `decode` on a webhook body.
    pub fn decode(&mut self, body: &[u8]) -> Result<Result<Vec<Envelope>, DecodeError>, CallError> {
        self.call("decode", |plugin, store| {
            plugin
                .switchboard_messaging_translator()
                .call_decode(store, body)
        })
    }

    /// Calls `encode` for one envelope.
    pub fn encode(
        &mut self,
        envelope: &Envelope,
        sender: &Address,
        recipient: &Address,
    ) -> Result<Result<Encoded, EncodeError>, CallError> {
        self.call("encode", |plugin, store| {
            plugin
                .switchboard_messaging_translator()
                .call_encode(store, envelope, sender, recipient)
        })
    }

    /// Calls `fetch-media` for one media id, with the previous step's answer.
    pub fn fetch_media(
        &mut self,
        media_id: &str,
        previous_response: Option<&[u8]>,
    ) -> Result<Result<MediaStep, MediaError>, CallError> {
        self.call("fetch-media", |plugin, store| {
            plugin.switchboard_messaging_translator().call_fetch_media(
                store,
                media_id,
                previous_response,
            )
        })
    }

    /// Calls `sent-message-id` on a send-API response body.
    pub fn sent_message_id(&mut self, response_body: &[u8]) -> Result<Option<String>, CallError> {
        self.call("sent-message-id", |plugin, store| {
            plugin
                .switchboard_messaging_translator()
                .call_sent_message_id(store, response_body)
        })
    }
}

/// One line saying why a media id cannot be turned into bytes, for people.
pub fn describe_media_error(error: &MediaError) -> String {
    match error {
        MediaError::Unsupported => "this platform's media cannot be fetched by id".to_string(),
        MediaError::InvalidId(why) => format!("not a media id of this platform: {why}"),
        MediaError::InvalidResponse(why) => format!("the platform's answer is not usable: {why}"),
        MediaError::Other(why) => why.clone(),
    }
}

/// One line saying what is wrong with a webhook body, for people.
pub fn describe_decode_error(error: &DecodeError) -> String {
    match error {
        DecodeError::InvalidUtf8(offset) => {
            format!("body is not valid UTF-8 (first bad byte at offset {offset})")
        }
        DecodeError::Syntax(error) => format!(
            "body is not valid JSON at line {}, column {}: {}",
            error.line, error.column, error.message
        ),
        DecodeError::TooLarge(limit) => format!("body is larger than the {limit}-byte limit"),
        DecodeError::TooDeep(limit) => format!("JSON nests deeper than {limit} levels"),
        DecodeError::MissingField(error) => describe_field_error("missing field", error),
        DecodeError::WrongType(error) => describe_field_error("wrong type", error),
        DecodeError::InvalidValue(error) => describe_field_error("invalid value", error),
        DecodeError::WrongPlatform(error) => {
            describe_field_error("webhook is for another platform", error)
        }
    }
}

/// One line saying why an envelope cannot be encoded, for people.
pub fn describe_encode_error(error: &EncodeError) -> String {
    match error {
        EncodeError::InvalidEnvelope(error) => describe_field_error("invalid envelope", error),
        EncodeError::Unsupported(why) => format!("cannot be shown on this platform: {why}"),
    }
}

fn describe_field_error(what: &str, error: &FieldError) -> String {
    let path = if error.path.is_empty() {
        "(document)"
    } else {
        &error.path
    };
    let mut line = format!("{what} at {path}: expected {}", error.expected);
    if let Some(found) = &error.found {
        line.push_str(&format!(", found {found}"));
    }
    line
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn field(path: &str, expected: &str, found: Option<&str>) -> FieldError {
        FieldError {
            path: path.into(),
            expected: expected.into(),
            found: found.map(str::to_string),
        }
    }

    #[test]
    fn errors_read_as_one_line_naming_the_field() {
        assert_eq!(
            describe_decode_error(&DecodeError::MissingField(field(
                "/entry/0/changes/0/value/messages/0/from",
                "a string",
                None
            ))),
            "missing field at /entry/0/changes/0/value/messages/0/from: expected a string"
        );
        assert_eq!(
            describe_decode_error(&DecodeError::WrongType(field(
                "/entry",
                "a list",
                Some("a number")
            ))),
            "wrong type at /entry: expected a list, found a number"
        );
        assert_eq!(
            describe_encode_error(&EncodeError::InvalidEnvelope(field(
                "",
                "a text message",
                None
            ))),
            "invalid envelope at (document): expected a text message"
        );
        assert_eq!(
            describe_decode_error(&DecodeError::TooLarge(4096)),
            "body is larger than the 4096-byte limit"
        );
    }

    #[test]
    fn a_component_that_is_not_a_translator_is_refused_at_load() {
        let runtime = Runtime::new(switchboard_runtime::engine::RuntimeOptions::default()).unwrap();
        let error = match Translator::load(&runtime, "sealing", crate::builtin::SEALING.wasm) {
            Ok(_) => panic!("the sealing component loaded as a translator"),
            Err(error) => format!("{error:#}"),
        };
        // The sealer imports WASI's random source, which no translator may.
        assert!(error.contains("translator `sealing` imports"), "{error}");
        assert!(error.contains("wasi:random"), "{error}");
    }
}
