//! Story steps at send time: the [`StoryHook`] the senders call around each
//! request of a story outbox entry.
//!
//! A story entry is checked just before each step (nothing is published after
//! the original expired or was deleted), its requests filled in with what
//! earlier answers gave (`{0.id}`), held while a video is processing, and its
//! published post recorded for deletion and replies.

use crate::clock::now_ms;
use crate::config::HostConfig;
use crate::outbox::{HookState, OutboxEntry, Queued};
use crate::plugins::translator::types::Address;
use crate::plugins::translator::{Encoded, HttpMethod, SendRequest};
use crate::sending::{DeliveryHook, Prepared};
use anyhow::Result;
use directory_schema::{Account, StoryOrigin, story_key, story_origin_key, story_post_key};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_runtime::key_value::{Change, EmbeddedStore};

/// Whether a story outbox entry publishes a cross-post or deletes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoryAction {
    /// Publishes one post (one segment) on the target.
    Publish,
    /// Deletes a published cross-post.
    Delete,
}

/// What a story outbox entry carries besides its requests.
///
/// Request paths, bodies and header values may name what an earlier answer
/// gave as `{<request index>.<field>}` (`{0.id}`, `{0.upload_url}`): the
/// platforms hand out container, photo and video ids one step at a time.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoryDelivery {
    /// Publish or delete.
    pub action: StoryAction,
    /// The original's app.
    pub story_platform: String,
    /// The original's id there.
    pub story_id: String,
    /// Which post of the plan (0 for a story that is not split).
    pub segment: usize,
    /// No step is sent at or after this time (ms since the epoch): the
    /// planned post's expiry, never after the original's.
    pub expires_ms: u64,
    /// The published post's id, as a template over the answers
    /// (`{1.id}`); it is recorded for deletion and replies.
    pub published_id: String,
    /// The app replies to the post arrive on (`messenger` for `facebook`).
    pub reply_platform: String,
    /// The author's account on the original's app, as the pipeline messages
    /// them (`messenger` for a Facebook Page).
    pub author: Account,
    /// Steps whose answer must have a field at a value before the next step
    /// (a video container's `status_code` = `FINISHED`): step index, field,
    /// value.
    pub wait_for: Vec<(usize, String, String)>,
    /// The `Authorization` scheme per step where it is not `Bearer` (Meta's
    /// upload host wants `OAuth`).
    pub auth_schemes: Vec<(usize, String)>,
    /// What the answers gave so far, by `<index>.<field>`.
    pub values: BTreeMap<String, String>,
}

impl StoryDelivery {
    /// The entry's hook state for this story step.
    pub fn hook_state(&self) -> HookState {
        HookState {
            name: StoryHook::NAME.to_string(),
            state: serde_json::to_value(self).unwrap_or(Value::Null),
        }
    }

    /// The story step an outbox entry carries, if it carries one.
    pub fn of(entry: &OutboxEntry) -> Option<StoryDelivery> {
        let hook = entry
            .hook
            .as_ref()
            .filter(|hook| hook.name == StoryHook::NAME)?;
        serde_json::from_value(hook.state.clone()).ok()
    }
}

/// The senders' hook for story entries.
pub struct StoryHook {
    store: Arc<EmbeddedStore>,
    graph_version: String,
}

impl StoryHook {
    /// The hook name story entries carry.
    pub const NAME: &'static str = "story";

    /// The hook over the pipeline's store, publishing with the Graph API
    /// version of the host settings.
    pub fn new(store: Arc<EmbeddedStore>, config: &HostConfig) -> StoryHook {
        StoryHook {
            store,
            graph_version: config.stories.graph_version.clone(),
        }
    }
}

fn unreadable() -> String {
    "the story step's state is not readable".to_string()
}

impl DeliveryHook for StoryHook {
    fn prepare(&self, entry: &OutboxEntry, index: usize, now_ms: u64) -> Result<Prepared, String> {
        let story = StoryDelivery::of(entry).ok_or_else(unreadable)?;
        let request = entry.encoded.requests.get(index).ok_or_else(unreadable)?;
        prepare(&self.store, &story, request, index, now_ms)
    }

    fn not_ready(&self, entry: &OutboxEntry, index: usize, response_body: &[u8]) -> Option<String> {
        not_ready(&StoryDelivery::of(entry)?, index, response_body)
    }

    fn accepted(
        &self,
        entry: &mut OutboxEntry,
        index: usize,
        response_body: &[u8],
    ) -> Result<(Option<String>, Vec<Change>)> {
        let Some(mut story) = StoryDelivery::of(entry) else {
            return Ok((None, Vec::new()));
        };
        let last = index + 1 == entry.encoded.requests.len();
        let outcome = accepted(&mut story, &entry.platform, last, index, response_body)?;
        entry.hook = Some(story.hook_state());
        Ok(outcome)
    }

    fn follow_up(&self, entry: &OutboxEntry, native_id: &str) -> Result<Option<Queued>> {
        let Some(story) = StoryDelivery::of(entry) else {
            return Ok(None);
        };
        delete_if_original_deleted(&self.store, &story, entry, native_id, &self.graph_version)
    }
}

/// `text` with every `{name}` that `values` holds replaced by its value.
fn fill(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// Whether `text` still names a value no answer gave.
fn unfilled(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let end = text[start..].find('}')?;
    let name = &text[start + 1..start + end];
    let (index, field) = name.split_once('.')?;
    (index.parse::<usize>().is_ok() && !field.is_empty()).then_some(name)
}

/// A JSON value with [`fill`] applied to every string in it.
fn fill_json(value: &Value, values: &BTreeMap<String, String>) -> Value {
    match value {
        Value::String(text) => Value::String(fill(text, values)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_json(v, values)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), fill_json(v, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Checks a story step before it is sent and fills it in: an error is why the
/// entry is dropped (the story expired, or its original was deleted or
/// ended). Deletions are always sent.
fn prepare(
    store: &EmbeddedStore,
    story: &StoryDelivery,
    request: &SendRequest,
    index: usize,
    now_ms: u64,
) -> Result<Prepared, String> {
    if story.action == StoryAction::Publish {
        if now_ms >= story.expires_ms {
            return Err(format!(
                "expired: the post was to end at {} ms and it is {now_ms} ms; nothing is published after the original expires",
                story.expires_ms
            ));
        }
        let key = story_key(&story.story_platform, &story.story_id);
        let record = store
            .get(&key)
            .map_err(|error| format!("cannot read {key}: {error:#}"))?
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
        match record.as_ref().and_then(|r| r["state"].as_str()) {
            Some("active") => {}
            Some("deleted") => {
                return Err("deleted: the author deleted the original story".to_string());
            }
            Some("ended") => {
                return Err(format!(
                    "ended: {} reported that the original story ended",
                    story.story_platform
                ));
            }
            _ => return Err(format!("the story record {key} is missing or unreadable")),
        }
    }
    let mut filled = request.clone();
    filled.path = fill(&request.path, &story.values);
    for (_, value) in &mut filled.headers {
        *value = fill(value, &story.values);
    }
    if !request.body.is_empty()
        && let Ok(body) = serde_json::from_slice::<Value>(&request.body)
    {
        filled.body = fill_json(&body, &story.values).to_string().into_bytes();
    }
    let texts = std::iter::once(filled.path.as_str())
        .chain(filled.headers.iter().map(|(_, value)| value.as_str()))
        .chain(std::str::from_utf8(&filled.body).ok());
    for text in texts {
        if let Some(name) = unfilled(text) {
            return Err(format!(
                "no earlier answer gave `{name}`, which this step needs"
            ));
        }
    }
    let auth_scheme = match story
        .auth_schemes
        .iter()
        .find(|(step, _)| *step == index)
        .map(|(_, scheme)| scheme.as_str())
    {
        Some("OAuth") => "OAuth",
        _ => "Bearer",
    };
    Ok(Prepared {
        request: filled,
        auth_scheme,
    })
}

/// The top-level strings and numbers of a JSON answer, by field.
fn answer_fields(body: &[u8]) -> BTreeMap<String, String> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
        return BTreeMap::new();
    };
    fields
        .into_iter()
        .filter_map(|(name, value)| match value {
            Value::String(text) => Some((name, text)),
            Value::Number(number) => Some((name, number.to_string())),
            Value::Bool(flag) => Some((name, flag.to_string())),
            _ => None,
        })
        .collect()
}

/// Why an accepted answer to step `index` does not let the next step go yet
/// (a video container still processing), if it does not.
fn not_ready(story: &StoryDelivery, index: usize, body: &[u8]) -> Option<String> {
    let (_, field, wanted) = story.wait_for.iter().find(|(step, _, _)| *step == index)?;
    let fields = answer_fields(body);
    let found = fields.get(field).map(String::as_str).unwrap_or("nothing");
    (found != wanted).then(|| format!("{field} is {found}, waiting for {wanted}"))
}

/// Records an accepted story step: what its answer gave, and, for the step
/// that publishes, the post's id (for deletion) and its origin (for
/// replies); for the last step of a deletion, those records go.
fn accepted(
    story: &mut StoryDelivery,
    platform: &str,
    last: bool,
    index: usize,
    body: &[u8],
) -> Result<(Option<String>, Vec<Change>)> {
    for (field, value) in answer_fields(body) {
        story.values.insert(format!("{index}.{field}"), value);
    }
    let mut changes = Vec::new();
    if !last {
        return Ok((None, changes));
    }
    let post_key = story_post_key(
        &story.story_platform,
        &story.story_id,
        platform,
        story.segment,
    );
    match story.action {
        StoryAction::Publish => {
            let native_id = fill(&story.published_id, &story.values);
            if native_id.is_empty() || unfilled(&native_id).is_some() {
                tracing::warn!(story = %story.story_id, %platform, "the publishing answer carried no post id; the cross-post cannot be deleted");
                return Ok((None, changes));
            }
            changes.push(Change::Set(post_key, native_id.as_bytes().to_vec()));
            let origin = StoryOrigin {
                story_id: story.story_id.clone(),
                author: story.author.clone(),
            };
            changes.push(Change::Set(
                story_origin_key(&story.reply_platform, &native_id),
                serde_json::to_vec(&origin)?,
            ));
            Ok((Some(native_id), changes))
        }
        StoryAction::Delete => {
            if let Some(native_id) = story.values.get("native_id").cloned() {
                changes.push(Change::Delete(story_origin_key(
                    &story.reply_platform,
                    &native_id,
                )));
            }
            changes.push(Change::Delete(post_key));
            Ok((None, changes))
        }
    }
}

/// The post a deletion is for.
pub(super) struct PostRef<'a> {
    pub(super) story_platform: &'a str,
    pub(super) story_id: &'a str,
    pub(super) segment: usize,
    pub(super) reply_platform: &'a str,
    pub(super) author: &'a Account,
}

/// The outbox entry that deletes the published post `native_id` on `target`.
pub(super) fn deletion(
    post: &PostRef<'_>,
    target: &Address,
    native_id: &str,
    version: &str,
    now: u64,
) -> Queued {
    let encoded = Encoded {
        requests: vec![request(
            HttpMethod::Delete,
            format!("/{version}/{native_id}"),
            None,
        )],
        degradations: Vec::new(),
    };
    let envelope_id = format!(
        "story:{}:{}#{}:delete",
        post.story_platform, post.story_id, post.segment
    );
    let mut entry = OutboxEntry::new(&envelope_id, target, encoded, now);
    entry.hook = Some(
        StoryDelivery {
            action: StoryAction::Delete,
            story_platform: post.story_platform.to_string(),
            story_id: post.story_id.to_string(),
            segment: post.segment,
            expires_ms: u64::MAX,
            published_id: String::new(),
            reply_platform: post.reply_platform.to_string(),
            author: post.author.clone(),
            wait_for: Vec::new(),
            auth_schemes: Vec::new(),
            values: BTreeMap::from([("native_id".to_string(), native_id.to_string())]),
        }
        .hook_state(),
    );
    entry.queued()
}

/// After a publish of `entry` was accepted and recorded as `native_id`: when
/// the original has been deleted meanwhile (the deletion read the published
/// posts before this one was recorded), the deletion of this post, to queue.
fn delete_if_original_deleted(
    store: &EmbeddedStore,
    story: &StoryDelivery,
    entry: &OutboxEntry,
    native_id: &str,
    version: &str,
) -> Result<Option<Queued>> {
    let state = store
        .get(&story_key(&story.story_platform, &story.story_id))?
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|record| record["state"].as_str().map(str::to_string));
    if state.as_deref() != Some("deleted") {
        return Ok(None);
    }
    let target = Address {
        platform: entry.platform.clone(),
        id: entry.recipient.clone(),
    };
    let post = PostRef {
        story_platform: &story.story_platform,
        story_id: &story.story_id,
        segment: story.segment,
        reply_platform: &story.reply_platform,
        author: &story.author,
    };
    tracing::info!(story = %story.story_id, platform = %entry.platform, post = %crate::redact::digest(native_id), "published after the original was deleted: deleting it");
    Ok(Some(deletion(&post, &target, native_id, version, now_ms())))
}

/// A JSON request.
pub(super) fn request(method: HttpMethod, path: String, body: Option<Value>) -> SendRequest {
    let (headers, body) = match body {
        Some(body) => (
            vec![("Content-Type".to_string(), "application/json".to_string())],
            body.to_string().into_bytes(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    SendRequest {
        method,
        path,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    #[test]
    fn fills_values_and_names_what_is_missing() {
        let values = BTreeMap::from([("0.id".to_string(), "C1".to_string())]);
        assert_eq!(
            fill("/v21.0/{0.id}?fields=status_code", &values),
            "/v21.0/C1?fields=status_code"
        );
        assert_eq!(unfilled("/v21.0/{1.id}"), Some("1.id"));
        assert_eq!(
            unfilled("{\"a\":1}"),
            None,
            "JSON braces are not placeholders"
        );
        let body = fill_json(&json!({ "creation_id": "{0.id}", "n": 1 }), &values);
        assert_eq!(body, json!({ "creation_id": "C1", "n": 1 }));
    }

    #[test]
    fn waits_for_a_field_value() {
        let story = StoryDelivery {
            action: StoryAction::Publish,
            story_platform: "facebook".into(),
            story_id: "1".into(),
            segment: 0,
            expires_ms: 10,
            published_id: "{2.id}".into(),
            reply_platform: "instagram".into(),
            author: Account {
                platform: "messenger".into(),
                id: "1".into(),
            },
            wait_for: vec![(1, "status_code".into(), "FINISHED".into())],
            auth_schemes: Vec::new(),
            values: BTreeMap::new(),
        };
        assert_eq!(
            not_ready(&story, 1, br#"{"status_code":"IN_PROGRESS"}"#).as_deref(),
            Some("status_code is IN_PROGRESS, waiting for FINISHED")
        );
        assert_eq!(not_ready(&story, 1, br#"{"status_code":"FINISHED"}"#), None);
        assert_eq!(not_ready(&story, 0, b"{}"), None);
    }
}
