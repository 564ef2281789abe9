//! Story cross-posting in `switchboard up`: the stories API, publishing
//! through the durable outbox, deletion, expiry and the platforms' story
//! webhooks.
//!
//! ```text
//! POST /stories/{platform}  {story, settings}
//!      └─ planner component ─▶ per target: publish (segments…) or refuse
//!         └─ one transaction ─▶ story:<platform>:<id>, storyauthor:…, outbox:story:…
//! outbox:story:… ──send──▶ the target's Graph API (each step filled in with
//!      │                   the ids earlier answers gave; checked before each
//!      │                   step: an expired or deleted story is dropped, with
//!      │                   its reason under dropped:…)
//!      └─ published ─▶ storypost:… (what deletion deletes),
//!                      storyorigin:<reply platform>:<native id> (how replies
//!                      reach the author: the router component reads it)
//! DELETE /stories/{platform}/{id} ─▶ story marked deleted, one DELETE per
//!      published cross-post through the outbox
//! POST /stories/{platform}/webhook ─▶ story_insights recorded (an original's
//!      insights mean it ended: nothing more is published for it)
//! ```
//!
//! | target | how a post is published | deleted with |
//! |---|---|---|
//! | `instagram` | `POST /{v}/{ig-user-id}/media` (`media_type=STORIES`, `image_url` or `video_url`), for a video `GET /{v}/{container}?fields=status_code` until `FINISHED`, then `POST /{v}/{ig-user-id}/media_publish` (`creation_id`) | `DELETE /{v}/{ig-media-id}` |
//! | `facebook` | photo: `POST /{v}/{page-id}/photos` (`url`, `published=false`) then `POST /{v}/{page-id}/photo_stories` (`photo_id`); video: `POST /{v}/{page-id}/video_stories` (`upload_phase=start`), `POST {upload_url}` (header `file_url`, `Authorization: OAuth`), `POST /{v}/{page-id}/video_stories` (`upload_phase=finish`, `video_id`) | `DELETE /{v}/{post-id}` |
//! | `whatsapp` | refused: WhatsApp Status has no publishing API | – |
//!
//! Sources: Instagram content publishing and IG User Media
//! (`media_type=STORIES`), Facebook Stories API for Pages; see
//! `components/stories/profiles.sources.md` ("Publishing and deleting").
//! The APIs publish to one audience
//! (Instagram: the account's followers; a Page: the public), so a plan for a
//! narrower audience is refused for that target: the audience is never
//! widened. The host does not cut video: a video longer than a target's
//! segment limit needs `stories.segment_url` (see [`crate::config`]).

use super::delivery::{PostRef, StoryAction, StoryDelivery, deletion, request};
use crate::clock::now_ms;
use crate::config::StoriesConfig;
use crate::outbox::{OutboxEntry, Queued};
use crate::pipeline::Pipeline;
use crate::plugins::planner::{
    Audience, CrossPostSettings, PlannedPost, Planner, Story, StoryProfile, TargetOutcome,
    TargetPlan,
};
use crate::plugins::translator::types::{Address, MediaKind, MediaSource};
use crate::plugins::translator::{Degradation, Encoded, HttpMethod, SendRequest};
use anyhow::{Context, Result};
use bytes::Bytes;
use directory_schema::{Account, story_author_key, story_key, story_post_key, story_posts_prefix};
use http_body_util::{BodyExt, Full, Limited};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use switchboard_runtime::engine::Runtime;
use switchboard_runtime::http::{BoxFuture, NativeRoute};
use switchboard_runtime::key_value::{Change, EmbeddedStore};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Largest request body the stories API reads.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Why there is nothing to publish on WhatsApp.
const WHATSAPP_REFUSAL: &str = "WhatsApp Status has no public publishing API (the WhatsApp Cloud API sends messages, not status updates), so nothing is published there";

/// The stored record of a story: `story:<platform>:<id>`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoryRecord {
    story: Story,
    settings: CrossPostSettings,
    /// `active`, `deleted` (the author deleted the original) or `ended` (its
    /// app said it ended: insights arrived).
    state: String,
    accepted_ms: u64,
    targets: Vec<TargetRecord>,
}

/// One target of a story record.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TargetRecord {
    target: Address,
    /// `queued` or `refused`.
    state: String,
    reason: Option<String>,
    notes: Vec<String>,
    /// The outbox keys of its posts, in plan order.
    deliveries: Vec<String>,
    posts: Vec<PlannedPost>,
}

/// The stories API of a running app.
pub struct StoryService {
    pipeline: Arc<Pipeline>,
    planner: Planner,
    profiles: Vec<StoryProfile>,
    config: StoriesConfig,
    /// Bearer token of the API (`stories_api_token`, else `admin_token`);
    /// empty turns the API off.
    api_token: String,
    /// App secrets for the story webhooks, by platform.
    secrets: BTreeMap<String, String>,
    verify_token: String,
    /// Serialises changes to story records.
    records: Mutex<()>,
}

/// A JSON answer.
fn answer(status: u16, value: &Value) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(value.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// An error answer: `{"error": "…"}`.
fn error(status: u16, message: impl Into<String>) -> hyper::Response<HyperOutgoingBody> {
    answer(status, &json!({ "error": message.into() }))
}

/// Refuses ids that would break the key layout.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && !id.contains(':') && !id.chars().any(char::is_whitespace)
}

/// The audience a target's publishing API gives a story, or why there is
/// no API.
fn api_audience(platform: &str) -> Result<Audience, String> {
    match platform {
        // Content publishing puts a story before the account's followers.
        "instagram" => Ok(Audience::Followers),
        // A Page's story is public.
        "facebook" => Ok(Audience::Public),
        "whatsapp" => Err(WHATSAPP_REFUSAL.to_string()),
        other => Err(format!(
            "no story publishing API is known for {other}, so nothing is published there"
        )),
    }
}

fn audience_rank(audience: &Audience) -> u8 {
    match audience {
        Audience::CloseFriends => 0,
        Audience::Contacts => 1,
        Audience::Followers => 2,
        Audience::Public => 3,
    }
}

fn audience_name(audience: &Audience) -> &'static str {
    match audience {
        Audience::CloseFriends => "close friends",
        Audience::Contacts => "contacts",
        Audience::Followers => "followers",
        Audience::Public => "public",
    }
}

/// Percent-encodes a URL for a query parameter.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The requests that publish one post on `target`, with the template of the
/// published id, the steps to wait on and the `Authorization` schemes.
type Steps = (
    Vec<SendRequest>,
    String,
    Vec<(usize, String, String)>,
    Vec<(usize, String)>,
);

fn publishing_steps(version: &str, target: &Address, video: bool, media_url: &str) -> Steps {
    let account = &target.id;
    match (target.platform.as_str(), video) {
        ("instagram", false) => (
            vec![
                request(
                    HttpMethod::Post,
                    format!("/{version}/{account}/media"),
                    Some(json!({ "media_type": "STORIES", "image_url": media_url })),
                ),
                request(
                    HttpMethod::Post,
                    format!("/{version}/{account}/media_publish"),
                    Some(json!({ "creation_id": "{0.id}" })),
                ),
            ],
            "{1.id}".into(),
            Vec::new(),
            Vec::new(),
        ),
        ("instagram", true) => (
            vec![
                request(
                    HttpMethod::Post,
                    format!("/{version}/{account}/media"),
                    Some(json!({ "media_type": "STORIES", "video_url": media_url })),
                ),
                request(
                    HttpMethod::Get,
                    format!("/{version}/{{0.id}}?fields=status_code"),
                    None,
                ),
                request(
                    HttpMethod::Post,
                    format!("/{version}/{account}/media_publish"),
                    Some(json!({ "creation_id": "{0.id}" })),
                ),
            ],
            "{2.id}".into(),
            vec![(1, "status_code".into(), "FINISHED".into())],
            Vec::new(),
        ),
        (_, false) => (
            vec![
                request(
                    HttpMethod::Post,
                    format!("/{version}/{account}/photos"),
                    Some(json!({ "url": media_url, "published": false })),
                ),
                request(
                    HttpMethod::Post,
                    format!("/{version}/{account}/photo_stories"),
                    Some(json!({ "photo_id": "{0.id}" })),
                ),
            ],
            "{1.post_id}".into(),
            Vec::new(),
            Vec::new(),
        ),
        (_, true) => {
            let mut upload = request(HttpMethod::Post, "{0.upload_url}".into(), None);
            upload
                .headers
                .push(("file_url".to_string(), media_url.to_string()));
            (
                vec![
                    request(
                        HttpMethod::Post,
                        format!("/{version}/{account}/video_stories"),
                        Some(json!({ "upload_phase": "start" })),
                    ),
                    upload,
                    request(
                        HttpMethod::Post,
                        format!("/{version}/{account}/video_stories"),
                        Some(json!({ "upload_phase": "finish", "video_id": "{0.video_id}" })),
                    ),
                ],
                "{2.post_id}".into(),
                Vec::new(),
                vec![(1, "OAuth".into())],
            )
        }
    }
}

impl NativeRoute for StoryService {
    fn serves(&self, _method: &hyper::Method, path: &str) -> bool {
        path == "/stories" || path.starts_with("/stories/")
    }

    fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> BoxFuture<'_, hyper::Response<HyperOutgoingBody>> {
        Box::pin(StoryService::handle(self, request))
    }
}

impl StoryService {
    /// The stories API over `pipeline`: the planner component, the profiles
    /// (with `stories.profiles` merged over the built-in ones), the API token
    /// and the platforms' app secrets from the manifest's variables.
    pub fn load(
        runtime: &Runtime,
        manifest: &switchboard_runtime::manifest::Manifest,
        pipeline: Arc<Pipeline>,
    ) -> Result<StoryService> {
        let config = pipeline.config().stories.clone();
        let overrides = config
            .profiles
            .as_ref()
            .map(|path| {
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read story profiles {}", path.display()))
            })
            .transpose()?;
        let profiles = crate::plugins::planner::profiles(overrides.as_deref())?;
        let planner = Planner::load(runtime, crate::builtin::STORIES.wasm)?;
        let value = |name: &str| {
            switchboard_runtime::variables::app_value(manifest, name).unwrap_or_default()
        };
        let api_token = Some(value("stories_api_token"))
            .filter(|token| !token.is_empty())
            .unwrap_or_else(|| value("admin_token"));
        let secrets = ["instagram", "facebook", "messenger", "whatsapp"]
            .into_iter()
            .map(|platform| {
                (
                    platform.to_string(),
                    value(&format!("{platform}_app_secret")),
                )
            })
            .filter(|(_, secret)| !secret.is_empty())
            .collect();
        Ok(StoryService {
            pipeline,
            planner,
            profiles,
            config,
            api_token,
            secrets,
            verify_token: value("verify_token"),
            records: Mutex::new(()),
        })
    }

    fn store(&self) -> &EmbeddedStore {
        self.pipeline.outbox().store()
    }

    /// Serves `/stories/…`.
    pub async fn handle(
        &self,
        request: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<HyperOutgoingBody> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or_default().to_string();
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string)
        };
        let authorization = header("authorization");
        // Every value: a request with two signatures is refused, not judged
        // by its first.
        let signatures: Vec<Vec<u8>> = request
            .headers()
            .get_all(webhook_signature::Header::HubSignature.name())
            .iter()
            .map(|value| value.as_bytes().to_vec())
            .collect();
        let parts: Vec<&str> = path
            .trim_start_matches("/stories")
            .split('/')
            .filter(|part| !part.is_empty())
            .collect();
        let parts: Vec<String> = parts.into_iter().map(str::to_string).collect();
        let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(error) => return error_for_body(&error.to_string()),
        };
        let outcome = match (&method, parts.as_slice()) {
            (&hyper::Method::GET, [platform, hook]) if hook == "webhook" => {
                Ok(self.subscribe(platform, &query))
            }
            (&hyper::Method::POST, [platform, hook]) if hook == "webhook" => {
                self.webhook(platform, &body, &signatures)
            }
            _ if !self.authorised(authorization.as_deref()) => Ok(error(
                401,
                if self.api_token.is_empty() {
                    "the stories API is off until a token is set (SPIN_VARIABLE_STORIES_API_TOKEN or SPIN_VARIABLE_ADMIN_TOKEN)"
                } else {
                    "missing or wrong bearer token"
                },
            )),
            (&hyper::Method::POST, [platform]) => self.accept(platform, &body),
            (&hyper::Method::GET, [platform, id]) => self.status(platform, id),
            (&hyper::Method::DELETE, [platform, id]) => self.delete(platform, id),
            _ => Ok(error(
                404,
                "no such stories route (POST /stories/{platform}, GET or DELETE /stories/{platform}/{id}, /stories/{platform}/webhook)",
            )),
        };
        outcome.unwrap_or_else(|failure| {
            tracing::error!(%method, %path, error = %format!("{failure:#}"), "stories API failed");
            error(500, format!("{failure:#}"))
        })
    }

    fn authorised(&self, header: Option<&str>) -> bool {
        !self.api_token.is_empty()
            && header
                .and_then(|value| value.strip_prefix("Bearer "))
                .is_some_and(|token| token == self.api_token)
    }

    /// `POST /stories/{platform}`: plans the story and queues what is to be
    /// published, in one transaction. A story already accepted is answered
    /// with its record (200) and nothing is queued again.
    fn accept(&self, platform: &str, body: &[u8]) -> Result<hyper::Response<HyperOutgoingBody>> {
        #[derive(Deserialize)]
        struct Submission {
            story: Story,
            settings: CrossPostSettings,
        }
        let submission: Submission = match serde_json::from_slice(body) {
            Ok(submission) => submission,
            Err(failure) => {
                return Ok(error(
                    400,
                    format!(
                        "expected {{\"story\": <canonical story>, \"settings\": <cross-post settings>}}: {failure}"
                    ),
                ));
            }
        };
        let Submission { story, settings } = submission;
        if story.author.platform != platform {
            return Ok(error(
                400,
                format!(
                    "the story's author is on `{}`, not `{platform}`",
                    story.author.platform
                ),
            ));
        }
        let ids = std::iter::once(&story.id)
            .chain(std::iter::once(&story.author.id))
            .chain(settings.targets.iter().map(|target| &target.id));
        for id in ids {
            if !valid_id(id) {
                return Ok(error(
                    400,
                    format!("id {id:?} must be non-empty, without ':' or white space"),
                ));
            }
        }
        let _guard = self
            .records
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let key = story_key(platform, &story.id);
        if let Some(existing) = self.store().get(&key)? {
            let record: Value = serde_json::from_slice(&existing)?;
            return Ok(answer(200, &record));
        }
        let now = now_ms();
        let outcomes = self.planner.plan(&story, &settings, &self.profiles, now)?;
        let author = self.messaging_account(&story.author);
        let mut targets = Vec::new();
        let mut entries = Vec::new();
        let mut changes = Vec::new();
        for outcome in outcomes {
            let (record, queued) = self.target(&story, author.clone(), outcome, now);
            if !queued.is_empty() {
                let target = self.messaging_account(&record.target);
                changes.push(Change::Set(
                    story_author_key(&target),
                    serde_json::to_vec(&author)?,
                ));
            }
            targets.push(record);
            entries.extend(queued);
        }
        let record = StoryRecord {
            story,
            settings,
            state: "active".into(),
            accepted_ms: now,
            targets,
        };
        changes.push(Change::Set(key, serde_json::to_vec(&record)?));
        let queued = entries.len();
        self.pipeline.outbox().enqueue(changes, entries)?;
        tracing::info!(story = %record.story.id, %platform, queued, "story accepted");
        Ok(answer(202, &serde_json::to_value(&record)?))
    }

    /// An account as the pipeline messages it: on the app that carries its
    /// story replies (a Facebook Page on Messenger).
    fn messaging_account(&self, address: &Address) -> Account {
        Account {
            platform: self.config.reply_platform(&address.platform),
            id: address.id.clone(),
        }
    }

    /// One target's record and outbox entries. The planner's refusals stand;
    /// the host refuses further what the target's API cannot publish as
    /// planned.
    fn target(
        &self,
        story: &Story,
        author: Account,
        outcome: TargetOutcome,
        now: u64,
    ) -> (TargetRecord, Vec<Queued>) {
        let TargetOutcome {
            target,
            plan,
            notes,
        } = outcome;
        let refuse = |reason: String, posts: Vec<PlannedPost>| TargetRecord {
            target: target.clone(),
            state: "refused".into(),
            reason: Some(reason),
            notes: notes.clone(),
            deliveries: Vec::new(),
            posts,
        };
        let posts = match plan {
            TargetPlan::Refuse(reason) => return (refuse(reason, Vec::new()), Vec::new()),
            TargetPlan::Publish(posts) => posts,
        };
        let api = match api_audience(&target.platform) {
            Ok(api) => api,
            Err(reason) => return (refuse(reason, posts), Vec::new()),
        };
        if let Some(post) = posts
            .iter()
            .find(|post| audience_rank(&api) > audience_rank(&post.audience))
        {
            let reason = format!(
                "the story is for {} and {}'s publishing API can only publish to {}; the audience is never widened",
                audience_name(&post.audience),
                target.platform,
                audience_name(&api)
            );
            return (refuse(reason, posts), Vec::new());
        }
        let MediaSource::Url(url) = &story.source else {
            let reason = format!(
                "{} fetches story media by URL, and this story's media is a platform media id",
                target.platform
            );
            return (refuse(reason, posts), Vec::new());
        };
        let video = story.media_kind == MediaKind::Video;
        let whole = |post: &PlannedPost| {
            post.segment_start_ms == 0 && Some(post.segment_end_ms) == story.duration_ms
        };
        let needs_cutting = video && posts.iter().any(|post| !whole(post));
        if needs_cutting && self.config.segment_url.is_none() {
            let reason = format!(
                "the video must be published on {} as {} segments and no segment service is configured (stories.segment_url in switchboard.toml)",
                target.platform,
                posts.len()
            );
            return (refuse(reason, posts), Vec::new());
        }
        let version = &self.config.graph_version;
        let reply_platform = self.config.reply_platform(&target.platform);
        let mut queued = Vec::new();
        for (segment, post) in posts.iter().enumerate() {
            let media_url = match (&self.config.segment_url, needs_cutting) {
                (Some(template), true) => template
                    .replace("{url}", &percent_encode(url))
                    .replace("{start_ms}", &post.segment_start_ms.to_string())
                    .replace("{end_ms}", &post.segment_end_ms.to_string()),
                _ => url.clone(),
            };
            let (requests, published_id, wait_for, auth_schemes) =
                publishing_steps(version, &target, video, &media_url);
            let mut degradations: Vec<Degradation> = notes
                .iter()
                .map(|note| Degradation {
                    rule: "story-plan".into(),
                    detail: note.clone(),
                })
                .collect();
            if post.caption.is_some() || !post.mentions.is_empty() || !post.stickers.is_empty() {
                degradations.push(Degradation {
                    rule: "story-caption-not-published".into(),
                    detail: format!(
                        "{}'s story publishing API takes the media only: the planned caption, mentions and stickers are kept in the story record",
                        target.platform
                    ),
                });
            }
            let encoded = Encoded {
                requests,
                degradations,
            };
            let envelope_id = format!("story:{}:{}#{segment}", story.author.platform, story.id);
            let mut entry = OutboxEntry::new(&envelope_id, &target, encoded, now);
            entry.hook = Some(
                StoryDelivery {
                    action: StoryAction::Publish,
                    story_platform: story.author.platform.clone(),
                    story_id: story.id.clone(),
                    segment,
                    expires_ms: post.expires_ms,
                    published_id,
                    reply_platform: reply_platform.clone(),
                    author: author.clone(),
                    wait_for,
                    auth_schemes,
                    values: BTreeMap::new(),
                }
                .hook_state(),
            );
            queued.push(entry.queued());
        }
        let record = TargetRecord {
            target: target.clone(),
            state: "queued".into(),
            reason: None,
            notes: notes.clone(),
            deliveries: queued.iter().map(|queued| queued.key.clone()).collect(),
            posts,
        };
        (record, queued)
    }

    fn record(&self, platform: &str, id: &str) -> Result<Option<StoryRecord>> {
        self.store()
            .get(&story_key(platform, id))?
            .map(|bytes| serde_json::from_slice(&bytes).context("unreadable story record"))
            .transpose()
    }

    /// `GET /stories/{platform}/{id}`: the record, with each post's progress
    /// (`pending`, `published` with its id, `dropped` or `failed` with why)
    /// and the insights the platforms sent.
    fn status(&self, platform: &str, id: &str) -> Result<hyper::Response<HyperOutgoingBody>> {
        let Some(record) = self.record(platform, id)? else {
            return Ok(error(404, format!("no story {platform}:{id}")));
        };
        let store = self.store();
        let mut value = serde_json::to_value(&record)?;
        for (index, target) in record.targets.iter().enumerate() {
            let mut progress = Vec::new();
            for (segment, key) in target.deliveries.iter().enumerate() {
                let rest = key.strip_prefix("outbox:").unwrap_or(key);
                let read = |prefix: &str| -> Result<Option<Value>> {
                    Ok(store
                        .get(&format!("{prefix}{rest}"))?
                        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
                };
                let native_id = store
                    .get(&story_post_key(
                        platform,
                        id,
                        &target.target.platform,
                        segment,
                    ))?
                    .and_then(|bytes| String::from_utf8(bytes).ok());
                let insights = match &native_id {
                    Some(native) => store
                        .get(&directory_schema::story_insights_key(
                            &target.target.platform,
                            native,
                        ))?
                        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok()),
                    None => None,
                };
                let state = if let Some(dropped) = read("dropped:")? {
                    json!({ "state": "dropped", "reason": dropped["reason"] })
                } else if let Some(dead) = read("deadletter:")? {
                    json!({ "state": "failed", "reason": dead["reason"] })
                } else if read("outbox:")?.is_some() {
                    json!({ "state": "pending" })
                } else if read("delivered:")?.is_some() {
                    json!({ "state": if native_id.is_some() { "published" } else { "deleted" } })
                } else {
                    json!({ "state": "unknown" })
                };
                let mut state = state;
                state["native_id"] = json!(native_id);
                state["insights"] = json!(insights);
                progress.push(state);
            }
            value["targets"][index]["progress"] = Value::Array(progress);
        }
        value["insights"] = store
            .get(&directory_schema::story_insights_key(platform, id))?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null);
        Ok(answer(200, &value))
    }

    /// `DELETE /stories/{platform}/{id}`: the original is gone, so are its
    /// cross-posts: the story is marked deleted (posts not yet published are
    /// dropped when their turn comes) and every published post gets a
    /// DELETE through the outbox.
    fn delete(&self, platform: &str, id: &str) -> Result<hyper::Response<HyperOutgoingBody>> {
        let _guard = self
            .records
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let Some(mut record) = self.record(platform, id)? else {
            return Ok(error(404, format!("no story {platform}:{id}")));
        };
        // Marked deleted (committed) before the published posts are read: a
        // publish accepted after this read finds the mark and deletes its
        // own post ([`delete_if_original_deleted`]), so none is left behind.
        record.state = "deleted".into();
        self.store()
            .set(&story_key(platform, id), &serde_json::to_vec(&record)?)?;
        let prefix = story_posts_prefix(platform, id);
        let now = now_ms();
        let version = &self.config.graph_version;
        let mut entries = Vec::new();
        let mut deleting = Vec::new();
        for (key, value) in self.store().scan_prefix(&prefix, usize::MAX)? {
            let Some((target_platform, segment)) = key[prefix.len()..].split_once(':') else {
                continue;
            };
            let Ok(segment) = segment.parse::<usize>() else {
                continue;
            };
            let native_id = String::from_utf8_lossy(&value).to_string();
            let Some(target) = record
                .targets
                .iter()
                .find(|target| target.target.platform == target_platform)
            else {
                continue;
            };
            let post = PostRef {
                story_platform: platform,
                story_id: id,
                segment,
                reply_platform: &self.config.reply_platform(target_platform),
                author: &self.messaging_account(&record.story.author),
            };
            entries.push(deletion(&post, &target.target, &native_id, version, now));
            deleting.push(json!({ "platform": target_platform, "native_id": native_id }));
        }
        self.pipeline.outbox().enqueue(Vec::new(), entries)?;
        tracing::info!(story = %id, %platform, deletions = deleting.len(), "story deleted");
        Ok(answer(
            202,
            &json!({ "story": format!("{platform}:{id}"), "state": "deleted", "deleting": deleting }),
        ))
    }

    /// `GET /stories/{platform}/webhook`: Meta's subscribe handshake.
    fn subscribe(&self, platform: &str, query: &str) -> hyper::Response<HyperOutgoingBody> {
        match webhook_signature::subscribe_challenge(query, &self.verify_token) {
            Ok(challenge) => {
                tracing::info!(%platform, "story webhook subscribed");
                let body = Full::new(Bytes::from(challenge))
                    .map_err(|never| match never {})
                    .boxed_unsync();
                let mut response = hyper::Response::new(body);
                response.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                response
            }
            Err(reason) => error(403, format!("subscribe handshake refused: {reason}")),
        }
    }

    /// `POST /stories/{platform}/webhook`: a signed story webhook. Instagram's
    /// `story_insights` (sent when a story ends) is recorded by media id; for
    /// an original it also ends the story, so nothing more is published for
    /// it. Other fields are acknowledged and counted as ignored.
    fn webhook(
        &self,
        platform: &str,
        body: &[u8],
        signatures: &[Vec<u8>],
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let secret = self.secrets.get(platform).map(String::as_str).unwrap_or("");
        let signatures: Vec<&[u8]> = signatures.iter().map(Vec::as_slice).collect();
        if let Err(reason) = webhook_signature::verify_hub_signature(secret, body, &signatures) {
            return Ok(error(401, reason.to_string()));
        }
        let payload: Value = match serde_json::from_slice(body) {
            Ok(payload) => payload,
            Err(failure) => return Ok(error(400, format!("body is not JSON: {failure}"))),
        };
        // Meta's samples show both one object and a list of them.
        let payloads = match payload {
            Value::Array(items) => items,
            single => vec![single],
        };
        let _guard = self
            .records
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let (mut recorded, mut ignored) = (Vec::new(), 0);
        let mut changes = Vec::new();
        for payload in &payloads {
            let Some(entries) = payload["entry"].as_array() else {
                return Ok(error(400, "missing field at /entry: expected a list"));
            };
            for entry in entries {
                for change in entry["changes"].as_array().into_iter().flatten() {
                    if change["field"] != "story_insights" {
                        ignored += 1;
                        continue;
                    }
                    let media_id = match &change["value"]["media_id"] {
                        Value::String(id) => id.clone(),
                        Value::Number(id) => id.to_string(),
                        _ => {
                            return Ok(error(
                                400,
                                "missing field at /entry/changes/value/media_id: expected a string",
                            ));
                        }
                    };
                    if !valid_id(&media_id) {
                        return Ok(error(400, format!("media id {media_id:?} is not valid")));
                    }
                    let insights = json!({
                        "account": entry["id"],
                        "metrics": change["value"],
                        "received_ms": now_ms(),
                    });
                    changes.push(Change::Set(
                        directory_schema::story_insights_key(platform, &media_id),
                        insights.to_string().into_bytes(),
                    ));
                    if let Some(mut record) = self.record(platform, &media_id)?
                        && record.state == "active"
                    {
                        record.state = "ended".into();
                        changes.push(Change::Set(
                            story_key(platform, &media_id),
                            serde_json::to_vec(&record)?,
                        ));
                    }
                    recorded.push(media_id);
                }
            }
        }
        self.store().apply(&changes)?;
        Ok(answer(
            200,
            &json!({ "recorded": recorded, "ignored": ignored }),
        ))
    }
}

fn error_for_body(reason: &str) -> hyper::Response<HyperOutgoingBody> {
    error(
        413,
        format!("cannot read the body (at most {MAX_BODY_BYTES} bytes): {reason}"),
    )
}
