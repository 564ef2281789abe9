//! The messaging service on the runtime: what `switchboard up` adds to the
//! HTTP trigger of a Spin application.
//!
//! It loads the [`Pipeline`] (when the manifest has a router component), the
//! stories API and the key directory, and plugs them into the trigger at its
//! extension points: the front door's limits from the host settings, native
//! routes (`/metrics`, `/keys/…`, `/stories/…`, `/admin/deadletters…`), the
//! ingress guard (each
//! gateway's body limit and webhook check before an instance is taken) and a
//! commit hook that wakes the router when a webhook is in the inbox.

use crate::config::HostConfig;
use crate::dead_letters::DeadLetters;
use crate::ingress::IngressGuard;
use crate::key_directory::KeyDirectory;
use crate::pipeline::{Pipeline, Stages};
use crate::stages::ComponentTranslators;
use crate::stories::{StoryHook, StoryService};
use anyhow::Result;
use std::net::SocketAddr;
use std::sync::Arc;
use switchboard_runtime::engine::Runtime;
use switchboard_runtime::http::{
    self, BoxFuture, FrontDoor, HttpTrigger, NativeRoute, Request, Response,
};
use switchboard_runtime::key_value::KeyValueStores;
use switchboard_runtime::manifest::Manifest;

/// The messaging service of a running app.
pub struct MessagingService {
    front_door: FrontDoor,
    ingress: Option<Arc<IngressGuard>>,
    pipeline: Option<Arc<Pipeline>>,
    dead_letters: Option<Arc<DeadLetters>>,
    stories: Option<Arc<StoryService>>,
    keys: Arc<KeyDirectory>,
}

impl MessagingService {
    /// Loads the service for `manifest`, running the manifest's components as
    /// the pipeline's stages.
    pub fn load(
        runtime: &Runtime,
        manifest: &Manifest,
        stores: &KeyValueStores,
        config: HostConfig,
    ) -> Result<MessagingService> {
        let translators = Arc::new(ComponentTranslators::load(runtime, manifest)?);
        let ingress = IngressGuard::load(
            manifest,
            stores,
            &translators,
            config.pipeline.rejected_bytes_per_minute,
        )?;
        let stages = Stages::components(runtime, manifest, stores, &config, translators)?;
        let mut service = MessagingService::with_stages(runtime, manifest, stores, config, stages)?;
        service.ingress = Some(Arc::new(ingress));
        Ok(service)
    }

    /// Loads the service with the given pipeline stages (`None`: no
    /// pipeline; webhooks are stored but not routed).
    pub fn with_stages(
        runtime: &Runtime,
        manifest: &Manifest,
        stores: &KeyValueStores,
        config: HostConfig,
        stages: Option<Stages>,
    ) -> Result<MessagingService> {
        let front_door = config.http.clone();
        let pipeline = stages
            .map(|stages| {
                Pipeline::new(manifest, stores, config, stages, |outbox, config| {
                    vec![(
                        StoryHook::NAME.to_string(),
                        Arc::new(StoryHook::new(outbox.store().clone(), config))
                            as Arc<dyn crate::sending::DeliveryHook>,
                    )]
                })
            })
            .transpose()?
            .map(Arc::new);
        let stories = pipeline
            .as_ref()
            .map(|pipeline| StoryService::load(runtime, manifest, pipeline.clone()))
            .transpose()?
            .map(Arc::new);
        let admin_token =
            switchboard_runtime::variables::app_value(manifest, "admin_token").unwrap_or_default();
        let dead_letters = pipeline
            .as_ref()
            .map(|pipeline| Arc::new(DeadLetters::new(pipeline.outbox().clone(), admin_token)));
        Ok(MessagingService {
            front_door,
            ingress: None,
            dead_letters,
            pipeline,
            stories,
            keys: KeyDirectory::load(manifest, stores)?,
        })
    }

    /// The pipeline, when the manifest has one.
    pub fn pipeline(&self) -> Option<&Arc<Pipeline>> {
        self.pipeline.as_ref()
    }

    /// `trigger` with the service's front door, routes, guard and hook.
    pub fn attach(&self, mut trigger: HttpTrigger) -> HttpTrigger {
        trigger = trigger
            .with_front_door(self.front_door.clone())
            .with_native_route(Arc::new(MetricsRoute(self.pipeline.clone())))
            .with_native_route(self.keys.clone());
        trigger = match &self.stories {
            Some(stories) => trigger.with_native_route(stories.clone()),
            None => trigger.with_native_route(Arc::new(NoStories)),
        };
        if let Some(dead_letters) = &self.dead_letters {
            trigger = trigger.with_native_route(dead_letters.clone());
        }
        if let Some(ingress) = &self.ingress {
            trigger = trigger.with_guard(ingress.clone());
        }
        if let Some(pipeline) = &self.pipeline {
            trigger = trigger.with_commit_hook(pipeline.clone());
        }
        trigger
    }

    /// Serves `trigger` (with the service attached) on `listen`, and runs the
    /// pipeline, until the process is interrupted.
    pub fn run_until_stopped(self, trigger: HttpTrigger, listen: SocketAddr) -> Result<()> {
        let trigger = Arc::new(self.attach(trigger));
        let pipeline = self.pipeline.clone();
        http::run_until_stopped(trigger, listen, move || {
            if let Some(pipeline) = pipeline {
                tokio::spawn(pipeline.run());
            }
        })
    }
}

/// `GET /metrics`: the pipeline's metrics in Prometheus' text format.
struct MetricsRoute(Option<Arc<Pipeline>>);

impl NativeRoute for MetricsRoute {
    fn serves(&self, _method: &hyper::Method, path: &str) -> bool {
        path == "/metrics"
    }

    fn handle(&self, _request: Request) -> BoxFuture<'_, Response> {
        let text = match &self.0 {
            Some(pipeline) => pipeline.metrics.render(),
            None => String::new(),
        };
        Box::pin(async move { http::plain(200, &text) })
    }
}

/// `/stories/…` in an app without a pipeline.
struct NoStories;

impl NativeRoute for NoStories {
    fn serves(&self, _method: &hyper::Method, path: &str) -> bool {
        path == "/stories" || path.starts_with("/stories/")
    }

    fn handle(&self, _request: Request) -> BoxFuture<'_, Response> {
        Box::pin(async { http::plain(503, "stories need the pipeline (a router component)\n") })
    }
}
