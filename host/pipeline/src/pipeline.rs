//! The pipeline behind the ingress, assembled: the [`Router`] stage drains
//! the inbox into the [`Outbox`], the [`Sender`]s drain the outbox into the
//! platforms' send APIs, the [`Sweeper`] removes records past their
//! retention, and the [`Announcer`] tells people of sharing policies — what
//! the messaging service adds to a Spin application.
//!
//! ```text
//! gateway component ─▶ inbox:<id> ─▶ Router (routing.rs) ─▶ outbox:… ─▶ Sender (sending.rs) ─▶ platform
//! ```
//!
//! Every hand-over is one redb transaction; a restart resumes from the store.

use crate::announcements::Announcer;
use crate::config::HostConfig;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::retention::Sweeper;
use crate::routing::Router;
use crate::sending::{DeliveryHook, Sender};
use crate::stages::{ComponentRouter, ComponentTranslators, RouterStage, TranslatorStage};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use switchboard_runtime::engine::Runtime;
use switchboard_runtime::http::CommitHook;
use switchboard_runtime::key_value::{EmbeddedStore, KeyValueStores};
use switchboard_runtime::manifest::Manifest;
use switchboard_runtime::variables;

/// The stages a pipeline runs: the components of the manifest, or (for the
/// comparison benchmark) native builds of them.
pub struct Stages {
    /// Policy and routing.
    pub router: Arc<dyn RouterStage>,
    /// Encoding and reading send answers.
    pub translators: Arc<dyn TranslatorStage>,
}

impl Stages {
    /// The manifest's components: the router (`pipeline.router` in the host
    /// settings) and the translators the gateways depend on. `None` when the
    /// manifest has no router component.
    pub fn components(
        runtime: &Runtime,
        manifest: &Manifest,
        stores: &KeyValueStores,
        config: &HostConfig,
        translators: Arc<ComponentTranslators>,
    ) -> Result<Option<Stages>> {
        let router_id = &config.pipeline.router;
        if !manifest.app.component.contains_key(router_id) {
            tracing::warn!(component = %router_id, "no router component in the manifest: webhooks are stored but not routed");
            return Ok(None);
        }
        Ok(Some(Stages {
            router: Arc::new(ComponentRouter::load(runtime, manifest, stores, router_id)?),
            translators,
        }))
    }
}

/// The pipeline of a running app.
pub struct Pipeline {
    router: Arc<Router>,
    sweeper: Arc<Sweeper>,
    announcer: Arc<Announcer>,
    sender: Arc<Sender>,
    outbox: Arc<Outbox>,
    config: HostConfig,
    /// The metrics, also served at `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl Pipeline {
    /// The pipeline of `manifest` with `stages`, over its `default` store,
    /// with `hooks` for the outbox entries that need one (by hook name).
    pub fn new(
        manifest: &Manifest,
        stores: &KeyValueStores,
        config: HostConfig,
        stages: Stages,
        hooks: impl FnOnce(&Arc<Outbox>, &HostConfig) -> Vec<(String, Arc<dyn DeliveryHook>)>,
    ) -> Result<Pipeline> {
        let store: Arc<EmbeddedStore> = stores
            .get("default")
            .context("the pipeline needs the `default` key-value store")?;
        let metrics = Arc::new(Metrics::new());
        let outbox = Arc::new(Outbox::new(store, metrics.clone()));
        let tokens = access_tokens(manifest, &config, stages.translators.platforms());
        let mut sender = Sender::new(
            outbox.clone(),
            stages.translators.clone(),
            config.clone(),
            tokens,
            metrics.clone(),
        );
        for (name, hook) in hooks(&outbox, &config) {
            sender = sender.with_hook(&name, hook);
        }
        let announcer = Announcer::new(outbox.clone(), stages.translators.clone(), config.clone());
        let router = Router::new(
            stages.router,
            stages.translators,
            config.clone(),
            metrics.clone(),
            outbox.clone(),
        );
        let sweeper = Sweeper::new(outbox.store().clone(), config.retention.clone());
        Ok(Pipeline {
            router: Arc::new(router),
            sweeper: Arc::new(sweeper),
            announcer: Arc::new(announcer),
            sender: Arc::new(sender),
            outbox,
            config,
            metrics,
        })
    }

    /// The outbox, for work that does not come through the inbox.
    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// The host settings the pipeline runs with.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Tells the router stage that the inbox has something new.
    pub fn wake(&self) {
        self.router.wake();
    }

    /// Runs both stages until the process stops. What the outbox held when
    /// the host stopped is sent first.
    pub async fn run(self: Arc<Self>) {
        let Some(receiver) = self.outbox.take_receiver() else {
            tracing::error!("the pipeline is already running");
            return;
        };
        if let Err(error) = self.outbox.resume() {
            tracing::error!(error = %format!("{error:#}"), "cannot read the outbox");
        }
        let senders = tokio::spawn(self.sender.clone().run(receiver));
        let sweeper = tokio::spawn(self.sweeper.clone().run());
        let announcer = tokio::spawn(self.announcer.clone().run());
        self.router.run().await;
        senders.abort();
        sweeper.abort();
        announcer.abort();
    }
}

/// A webhook or business send the gateway or business component committed
/// is in the inbox: wake the router. A sharing policy the admin API changed
/// may need announcing: wake the announcer.
impl CommitHook for Pipeline {
    fn committed(&self, path: &str, status: u16) {
        if !(200..300).contains(&status) {
            return;
        }
        if path.starts_with("/ingress/") || path.starts_with("/business/") {
            self.wake();
        } else if path.starts_with("/admin/sharing") {
            self.announcer.wake();
        }
    }
}

/// The access token of each platform the pipeline sends to, from the Spin
/// variable the host settings name (`<platform>_access_token` by default).
/// Platforms without a translator (Facebook Stories) send with a token too.
fn access_tokens(
    manifest: &Manifest,
    config: &HostConfig,
    translator_platforms: Vec<String>,
) -> BTreeMap<String, String> {
    let platforms: BTreeSet<String> = translator_platforms
        .into_iter()
        .chain(config.platforms.keys().cloned())
        .collect();
    let mut tokens = BTreeMap::new();
    for platform in platforms {
        if let Some(token) = access_token(manifest, config, &platform) {
            tokens.insert(platform, token);
        }
    }
    tokens
}

/// `platform`'s access token: the value of the Spin variable the host
/// settings name (`<platform>_access_token` by default), if it has one.
pub fn access_token(manifest: &Manifest, config: &HostConfig, platform: &str) -> Option<String> {
    let variable = config
        .platform(platform)
        .access_token_variable
        .unwrap_or_else(|| format!("{platform}_access_token"));
    variables::app_value(manifest, &variable)
}
