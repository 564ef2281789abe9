//! The messaging service of Switchboard, on the Spin runtime
//! ([`switchboard_runtime`]): plugins, routing, the outbox, sending, stories
//! and the key directory.
//!
//! The runtime serves the manifest's components and knows no messaging; this
//! crate plugs into its extension points ([`service::MessagingService`]).
//! One webhook's way through it:
//!
//! ```text
//! gateway component (runtime) ─▶ inbox:<id>
//!   ─▶ routing::Router ── stages::RouterStage (policy + routing) ── stages::TranslatorStage (encode)
//!   ─▶ outbox::Outbox (outbox:<id>:<platform>:<recipient>)
//!   ─▶ sending::Sender ─▶ the platform's send API ─▶ delivered:… / deadletter:…
//! ```
//!
//! Modules, each importing only the ones listed before it:
//!
//! * [`clock`], [`config`] (`switchboard.toml`), [`metrics`] (Prometheus),
//!   [`redact`] (what logs may say of ids that carry personal data),
//!   [`audit`] (the host's appends to the audit log).
//! * [`bindings`] — the one place that generates host bindings of the
//!   component worlds; [`builtin`], the first-party components embedded in
//!   the binary; [`plugins`], loading and calling translators, the story
//!   planner and the sealer in a sandbox.
//! * [`credentials`] — where a platform's access token goes on a request
//!   (its translator's `api-auth`), and its redaction.
//! * [`outbox`] — deliveries waiting to be sent, in the store.
//! * [`stages`] — the router and translator stages behind traits (component,
//!   or native for the comparison benchmark).
//! * [`window`] — the apps' reply windows: when a person last wrote to an
//!   endpoint, deliveries waiting for them, the re-engagement form.
//! * [`routing`] — the router stage: inbox to outbox.
//! * [`sending`] — the senders: outbox to platforms, with the credential
//!   each platform's translator declares ([`credentials`]), retries, a
//!   [`breaker`] per platform, and the [`sending::DeliveryHook`] that story
//!   steps use.
//! * [`media`] — a translator's `fetch-media` steps run with the app's
//!   credential: a platform's media id to bytes.
//! * [`retention`] — the sweeper of records past their retention.
//! * [`announcements`] — telling each person of an app that the operator
//!   turned on sharing an identity attribute, before it applies.
//! * [`pipeline`] — the two stages, the outbox, the sweeper and the
//!   announcer assembled.
//! * [`dead_letters`] — listing and redriving dead letters
//!   (`/admin/deadletters…`).
//! * [`stories`] — the stories API and the story delivery hook.
//! * [`ingress`] — the gateway routes' body limits and webhook checks, made
//!   before an instance is taken, and webhooks a gateway fails on kept.
//! * [`key_directory`] — public keys for end-to-end encryption, `/keys/…`.
//! * [`service`] — all of it attached to the runtime's HTTP trigger.

#![deny(missing_docs)]

pub mod announcements;
pub mod audit;
pub mod bindings;
pub mod breaker;
pub mod builtin;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod dead_letters;
pub mod ingress;
pub mod key_directory;
pub mod media;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod plugins;
pub mod redact;
pub mod retention;
pub mod routing;
pub mod sending;
pub mod service;
pub mod stages;
pub mod stories;
pub mod window;
