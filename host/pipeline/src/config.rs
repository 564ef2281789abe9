//! `switchboard.toml`: what the host adds to a Spin application and Spin's
//! manifest has no place for — where each platform's send API is and how
//! delivery retries. The relay's accounts on each app (its endpoints) are the
//! manifest's `endpoints` variable, which the components read too.
//!
//! The file is optional (next to the manifest, or `--config`); every setting
//! has a default that works with the sample apps. Secrets stay Spin variables:
//! a platform's access token is read from the variable the file names.
//!
//! ```toml
//! [platforms.messenger]
//! api_base = "https://graph.facebook.com"   # tests point this at a local sink
//! access_token_variable = "messenger_access_token"
//!
//! [platforms.whatsapp]
//! # Hosts besides api_base's that may receive the access token, for media
//! # downloads at absolute URLs the API hands out (never in a URL's path).
//! media_hosts = ["lookaside.fbsbx.com"]
//! # The app's reply window (the rules and their sources are beside
//! # `default_reply_window_ms` below): free-form messages only within this many ms of the person's
//! # last message to the endpoint; 24 h for whatsapp, messenger and
//! # instagram unless set, none for other apps; 0 turns the rule off.
//! reply_window_ms = 86400000
//! # What goes to a person whose window has closed, instead of the message
//! # (which waits until they write): an approved template whose one body
//! # parameter is the writer's label. The default on whatsapp; an empty
//! # `template` sends nothing (the messages only wait).
//! reengagement = { template = "new_message", language = "en_US" }
//!
//! [delivery]               # the defaults keep a delivery about four hours
//! max_attempts = 40
//! backoff_base_ms = 500
//! backoff_max_ms = 600000
//! timeout_ms = 10000
//! workers = 8
//! breaker_failures = 5      # failures in a row that open a platform's circuit
//! breaker_open_ms = 5000    # first open period, doubling up to…
//! breaker_max_open_ms = 300000
//!
//! [pipeline]
//! router = "router"    # the manifest component that exports policy and router
//! hold_retry_ms = 500  # an event about a message not yet delivered everywhere
//! hold_tries = 40      # is tried again this often, this many times, then sent
//!                      # where that message did go (at once, once every
//!                      # delivery of that message has ended)
//! notice_interval_ms = 600000       # one "not delivered" notice per sender per…
//! unknown_senders_per_minute = 600  # strangers' messages kept on record a minute
//! rejected_bytes_per_minute = 16777216  # raw bodies no instance could process,
//!                      # kept a minute; past it only their hash and reason
//!
//! [retention]          # how long records are kept (ms); swept every minute
//! delivered_ms = 604800000
//! dead_letters_ms = 2592000000
//! statuses_ms = 2592000000
//! envelopes_ms = 2592000000
//! rejected_ms = 604800000
//! waiting_ms = 2592000000   # deliveries waiting for a reply window
//! seen_ms = 2592000000      # when each person last wrote to each endpoint
//!
//! [http]               # the front door (see switchboard_runtime::http::FrontDoor)
//! max_connections = 512
//! header_timeout_ms = 10000
//! body_timeout_ms = 15000
//! max_body_bytes = 4194304
//! max_concurrent_requests = 96
//!
//! [stories]
//! graph_version = "v21.0"          # the Graph API version in publishing paths
//! profiles = "story-profiles.json" # overrides merged over the built-in profiles
//! # A service that serves one segment of a video, for videos longer than a
//! # target's story segments ({url} percent-encoded, {start_ms}, {end_ms}).
//! segment_url = "https://media.example.com/cut?src={url}&start_ms={start_ms}&end_ms={end_ms}"
//! [stories.reply_platforms]
//! facebook = "messenger"           # where replies to a story platform's stories arrive
//! ```

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The host's own settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Per platform: send API, credentials and media hosts.
    #[serde(default)]
    pub platforms: BTreeMap<String, PlatformConfig>,
    /// Retries and timeouts of the outbox workers.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Which components make up the pipeline.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// Story cross-posting.
    #[serde(default)]
    pub stories: StoriesConfig,
    /// The HTTP front door's limits (connections, timeouts, sizes, load
    /// shedding).
    #[serde(default)]
    pub http: switchboard_runtime::http::FrontDoor,
    /// How long records are kept.
    #[serde(default)]
    pub retention: RetentionConfig,
}

/// How stories are published.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoriesConfig {
    /// The Graph API version that publishing and deletion paths start with.
    pub graph_version: String,
    /// A JSON file of story profiles merged over the built-in ones (relative
    /// paths are relative to the working directory).
    pub profiles: Option<std::path::PathBuf>,
    /// A URL template for one segment of a video (`{url}`, percent-encoded,
    /// `{start_ms}`, `{end_ms}`): the platforms fetch story media by URL and
    /// the host does not cut video, so a video longer than a target's segment
    /// limit is refused for that target unless this is set.
    pub segment_url: Option<String>,
    /// The messaging platform that replies to a story platform's stories
    /// arrive on, where it is not the same name (Facebook Page stories are
    /// answered on Messenger).
    pub reply_platforms: BTreeMap<String, String>,
}

impl Default for StoriesConfig {
    fn default() -> Self {
        StoriesConfig {
            graph_version: "v21.0".into(),
            profiles: None,
            segment_url: None,
            reply_platforms: BTreeMap::from([("facebook".to_string(), "messenger".to_string())]),
        }
    }
}

impl StoriesConfig {
    /// The messaging platform replies to `story_platform`'s stories arrive on.
    pub fn reply_platform(&self, story_platform: &str) -> String {
        self.reply_platforms
            .get(story_platform)
            .cloned()
            .unwrap_or_else(|| story_platform.to_string())
    }
}

/// Where the pipeline sends on one platform.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformConfig {
    /// Base URL of the send API; request paths from the translator are
    /// appended to it.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// The Spin variable holding the access token (`<platform>_access_token`
    /// when unset); an empty token sends no `Authorization` header.
    #[serde(default)]
    pub access_token_variable: Option<String>,
    /// Hosts other than `api_base`'s that the access token may be sent to,
    /// for media downloads at absolute URLs the platform's API answers with
    /// (WhatsApp's `lookaside.fbsbx.com`): `host` (any port) or `host:port`.
    /// A URL on any other host is fetched without the token.
    #[serde(default)]
    pub media_hosts: Vec<String>,
    /// How long after a person's last message to one of the relay's
    /// endpoints that endpoint may send them free-form messages, in ms; past
    /// it their deliveries wait (the `window` module). Unset: the app's own
    /// rule ([`default_reply_window_ms`]); 0: no rule.
    #[serde(default)]
    pub reply_window_ms: Option<u64>,
    /// What is sent instead to a person whose window has closed. Unset: the
    /// app's default ([`default_reengagement`]).
    #[serde(default)]
    pub reengagement: Option<ReengagementConfig>,
}

/// The re-engagement form of an app: a pre-approved template (WhatsApp's
/// message templates), sent once per waiting period to a person whose reply
/// window has closed. Its one `body` parameter is the label of whoever
/// wrote; it must be approved under this name and language in the
/// business's WhatsApp Manager before it can be sent.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReengagementConfig {
    /// The template's name; empty: nothing is sent (the messages only wait).
    pub template: String,
    /// The template's language code.
    #[serde(default = "default_template_language")]
    pub language: String,
}

fn default_template_language() -> String {
    "en_US".into()
}

/// One day, the apps' reply window.
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The reply window an app sets, in ms (0: none known). Each rule's public
/// source is beside it; the pipeline keeps these windows in
/// the `window` module.
pub fn default_reply_window_ms(platform: &str) -> u64 {
    match platform {
        // WhatsApp Cloud API, "customer service windows": a business may send
        // free-form (non-template) messages to a user only within 24 hours of
        // the user's last message to that business phone number; outside it,
        // only approved message templates.
        // https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages#customer-service-windows
        "whatsapp" => DAY_MS,
        // Messenger Platform policy, "standard messaging": a Page may message
        // a person within 24 hours of their last message to the Page; past it
        // only with a message tag (HUMAN_AGENT and the others need Meta's
        // approval of the app, and each tag has its own use), which the relay
        // does not use. Page-scoped ids (PSIDs) exist only for that Page.
        // https://developers.facebook.com/docs/messenger-platform/policy/policy-overview/
        "messenger" => DAY_MS,
        // Instagram Messaging: an Instagram professional account may answer a
        // person within 24 hours of their last message to the account (the
        // HUMAN_AGENT tag, 7 days, needs approval too); Instagram-scoped ids
        // (IGSIDs) exist only for that account.
        // https://developers.facebook.com/docs/messenger-platform/instagram/features/send-message
        "instagram" => DAY_MS,
        _ => 0,
    }
}

/// The re-engagement form an app allows outside its window, if the relay
/// has one for it: on WhatsApp the approved template `new_message`
/// ("New message from {{1}} — reply to read it", `en_US`), a message
/// template being what the customer service window allows (source above).
/// Messenger and Instagram allow nothing the relay may send without Meta's
/// approval of a message tag, so their deliveries only wait.
pub fn default_reengagement(platform: &str) -> Option<ReengagementConfig> {
    (platform == "whatsapp").then(|| ReengagementConfig {
        template: "new_message".into(),
        language: default_template_language(),
    })
}

fn default_api_base() -> String {
    "https://graph.facebook.com".into()
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            api_base: default_api_base(),
            access_token_variable: None,
            media_hosts: Vec::new(),
            reply_window_ms: None,
            reengagement: None,
        }
    }
}

/// How the outbox retries. The defaults keep a delivery for hours
/// (exponential backoff from half a second to ten minutes, 40 tries: about
/// four hours with jitter), and a platform that keeps failing is left alone
/// for a while (its circuit opens) so that it does not hold the workers or
/// spend its messages' tries.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Tries before a delivery is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; it doubles each try, with jitter.
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_max_ms: u64,
    /// Time allowed for one send request.
    pub timeout_ms: u64,
    /// Concurrent senders.
    pub workers: usize,
    /// Failed sends in a row (timeouts, 408, 429, 5xx) after which a
    /// platform's circuit opens: its deliveries wait, untried, until it
    /// closes. 0 turns the breaker off.
    pub breaker_failures: u32,
    /// How long a circuit first stays open; it doubles each time it opens
    /// again without a success in between.
    pub breaker_open_ms: u64,
    /// The longest a circuit stays open.
    pub breaker_max_open_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: 40,
            backoff_base_ms: 500,
            backoff_max_ms: 600_000,
            timeout_ms: 10_000,
            workers: 8,
            breaker_failures: 5,
            breaker_open_ms: 5_000,
            breaker_max_open_ms: 300_000,
        }
    }
}

/// The pipeline's components, by manifest id.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// The component exporting `policy` and `router` (composed with its
    /// dependencies from the manifest).
    pub router: String,
    /// How often an event about a message that has not reached every app yet
    /// (a reaction, an edit…) is tried again, in ms.
    pub hold_retry_ms: u64,
    /// How many tries it gets before it goes only where the message went
    /// (it goes sooner once every delivery of the message has ended).
    pub hold_tries: u32,
    /// At most one "not delivered" notice to the same sender in this many
    /// ms: a webhook with thousands of refused messages makes one notice.
    pub notice_interval_ms: u64,
    /// Messages a minute from senders the directory does not know that are
    /// kept on record (status and envelope). Past it they are refused with no
    /// record at all, so a flood of strangers cannot grow the store.
    pub unknown_senders_per_minute: u32,
    /// Bytes a minute of raw webhook bodies that no instance could process
    /// (a trap, a deadline) kept under `rejected:` for inspection. Past it a
    /// body is still answered 4xx and its hash and reason are kept, not its
    /// bytes: signed bodies that cannot be processed cannot grow the store
    /// faster than this.
    pub rejected_bytes_per_minute: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            router: "router".into(),
            hold_retry_ms: 500,
            hold_tries: 40,
            notice_interval_ms: 600_000,
            unknown_senders_per_minute: 600,
            rejected_bytes_per_minute: 16 * 1024 * 1024,
        }
    }
}

/// How long each kind of record is kept (ms), swept in the background. A
/// record that is still needed is never swept: the inbox and the outbox are
/// work to do and have no retention.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// `delivered:…`: what each delivery got (native ids, degradations).
    pub delivered_ms: u64,
    /// `deadletter:…`: given-up deliveries, kept to be redriven.
    pub dead_letters_ms: u64,
    /// `dropped:…`: story steps that were not sent any more.
    pub dropped_ms: u64,
    /// `status:…`: how each envelope was routed.
    pub statuses_ms: u64,
    /// `envelope:…`: the canonical record of each webhook event (what
    /// recognises a redelivered webhook, and what replies refer to), with
    /// the message's maps (`message:`, `canonical:`, `native:`).
    pub envelopes_ms: u64,
    /// `rejected:…`: raw bodies that could not be processed.
    pub rejected_ms: u64,
    /// `waiting:…`: deliveries waiting for their recipient to write again
    /// (reply windows), by when they were routed: a person who never
    /// answers does not grow the store forever.
    pub waiting_ms: u64,
    /// `seen:…`: when each person last wrote to each endpoint, by that
    /// time; past every reply window a record means nothing (keep this
    /// longer than the longest `reply_window_ms`).
    pub seen_ms: u64,
    /// How often the sweeper runs.
    pub sweep_interval_ms: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            delivered_ms: 7 * DAY_MS,
            dead_letters_ms: 30 * DAY_MS,
            dropped_ms: 7 * DAY_MS,
            statuses_ms: 30 * DAY_MS,
            envelopes_ms: 30 * DAY_MS,
            rejected_ms: 7 * DAY_MS,
            waiting_ms: 30 * DAY_MS,
            seen_ms: 30 * DAY_MS,
            sweep_interval_ms: 60_000,
        }
    }
}

impl HostConfig {
    /// Reads `path`; a missing file at the default place means all defaults.
    pub fn load(path: &Path, explicit: bool) -> Result<HostConfig> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if !explicit && error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(HostConfig::default());
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let config: HostConfig =
            toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))?;
        if config.delivery.max_attempts == 0 {
            bail!(
                "{}: delivery.max_attempts must be at least 1",
                path.display()
            );
        }
        if config.delivery.workers == 0 {
            bail!("{}: delivery.workers must be at least 1", path.display());
        }
        Ok(config)
    }

    /// The settings of `platform` (defaults when the file has none).
    pub fn platform(&self, platform: &str) -> PlatformConfig {
        self.platforms.get(platform).cloned().unwrap_or_default()
    }

    /// `platform`'s reply window in ms, 0 for none: the file's, else the
    /// app's own rule.
    pub fn reply_window_ms(&self, platform: &str) -> u64 {
        self.platforms
            .get(platform)
            .and_then(|config| config.reply_window_ms)
            .unwrap_or_else(|| default_reply_window_ms(platform))
    }

    /// `platform`'s re-engagement template, if it has one: the file's, else
    /// the app's default.
    pub fn reengagement(&self, platform: &str) -> Option<ReengagementConfig> {
        self.platforms
            .get(platform)
            .and_then(|config| config.reengagement.clone())
            .or_else(|| default_reengagement(platform))
            .filter(|reengagement| !reengagement.template.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_settings_and_names_unknown_keys() {
        let config: HostConfig = toml::from_str(
            "[platforms.messenger]\napi_base = \"http://127.0.0.1:9\"\n[delivery]\nmax_attempts = 3\n",
        )
        .unwrap();
        assert_eq!(config.platform("messenger").api_base, "http://127.0.0.1:9");
        assert_eq!(config.platform("whatsapp").api_base, default_api_base());
        assert_eq!(config.delivery.max_attempts, 3);
        assert_eq!(config.delivery.workers, 8);
        assert_eq!(config.reply_window_ms("messenger"), 24 * 60 * 60 * 1000);
        let error = toml::from_str::<HostConfig>("[delivery]\nretries = 3\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("retries"), "{error}");
    }

    #[test]
    fn reply_windows_default_by_app_and_turn_off_with_zero() {
        let config: HostConfig = toml::from_str(
            "[platforms.whatsapp]\napi_base = \"http://127.0.0.1:9\"\n\
             [platforms.instagram]\nreply_window_ms = 0\n\
             [platforms.messenger]\nreengagement = { template = \"hello\" }\n",
        )
        .unwrap();
        assert_eq!(config.reply_window_ms("whatsapp"), DAY_MS);
        assert_eq!(config.reply_window_ms("instagram"), 0);
        assert_eq!(config.reply_window_ms("telegram"), 0);
        let template = config.reengagement("whatsapp").unwrap();
        assert_eq!(template.template, "new_message");
        assert_eq!(template.language, "en_US");
        assert_eq!(config.reengagement("messenger").unwrap().template, "hello");
        assert_eq!(config.reengagement("instagram"), None);
        let off: HostConfig =
            toml::from_str("[platforms.whatsapp]\nreengagement = { template = \"\" }\n").unwrap();
        assert_eq!(off.reengagement("whatsapp"), None);
    }
}
