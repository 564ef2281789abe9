//! The announcer: tells each affected person, on their own app, that the
//! operator turned on sharing an identity attribute of that app's people
//! (`POST /admin/sharing`), before it applies.
//!
//! ```text
//! admin component ─▶ sharing:<app>:<attribute>            (the policy, effective after the notice window)
//!                 └─▶ announce:<app>:<attribute>:<when>    (work for the host)
//! announcer ─▶ membership:<app>:… a page at a time ─▶ one notice per account ─▶ outbox
//!          └─▶ the cursor (`after`) in the same transaction; the announcement removed with the last page
//! ```
//!
//! * Who is told: every account of the app with a `membership:` record
//!   naming at least one conversation (the people the relay talks with on
//!   that app), once each, whatever the number of their conversations or
//!   endpoints.
//! * Through which endpoint: the first (in key order) of the account's
//!   endpoints with a conversation whose reply window is open; when none is
//!   open, the notice is parked for the first one (`waiting:`, as a delivery
//!   is, [`crate::window`]) and goes when the person next writes there.
//! * What: "From <date, UTC>, your profile name will be shown to the people
//!   you talk with on other apps. Send /private to keep it hidden.", a
//!   service message built and encoded by the app's translator exactly as
//!   the "Not delivered" notices are ([`crate::routing::service_notice`]).
//! * Exactly once: each page's notices are committed with the announcement's
//!   cursor (the last `membership:` key told) in one transaction, and the
//!   outbox key of a notice is fixed by the announcement and the account; a
//!   restart resumes after the cursor, so nobody is told twice.
//! * Stopping: an announcement whose policy is no longer on, or was turned on
//!   again since (a newer announcement), is removed untold; so is an
//!   unreadable one.
//!
//! It runs in the background: at start-up, whenever the admin API changes a
//! sharing policy ([`Announcer::wake`], from the pipeline's commit hook), and
//! every [`POLL_MS`] in case an announcement was written by another host.

use crate::bindings::types::{Address, Conversation, ConversationKind};
use crate::config::HostConfig;
use crate::outbox::{Outbox, Queued};
use crate::routing::service_notice;
use crate::stages::TranslatorStage;
use crate::window::WindowPass;
use anyhow::Result;
use directory_schema::{
    ANNOUNCE_PREFIX, Announcement, Membership, SharingPolicy, membership_prefix, sharing_key,
};
use std::sync::Arc;
use std::time::Duration;
use switchboard_runtime::key_value::{Change, EmbeddedStore};
use tokio::sync::Notify;

/// Accounts told per page (one transaction).
pub const PAGE: usize = 256;

/// How often announcements are looked for without a wake-up.
pub const POLL_MS: u64 = 60_000;

/// Most announcements read in one round.
const MAX_ANNOUNCEMENTS: usize = 64;

/// The announcer of a running pipeline.
pub struct Announcer {
    store: Arc<EmbeddedStore>,
    outbox: Arc<Outbox>,
    translators: Arc<dyn TranslatorStage>,
    config: HostConfig,
    page: usize,
    signal: Notify,
}

impl Announcer {
    /// An announcer that queues notices in `outbox`, encoded by
    /// `translators`, within the reply windows of `config`.
    pub fn new(
        outbox: Arc<Outbox>,
        translators: Arc<dyn TranslatorStage>,
        config: HostConfig,
    ) -> Announcer {
        Announcer {
            store: outbox.store().clone(),
            outbox,
            translators,
            config,
            page: PAGE,
            signal: Notify::new(),
        }
    }

    /// The same announcer telling `page` accounts per transaction.
    pub fn with_page(mut self, page: usize) -> Announcer {
        self.page = page.max(1);
        self
    }

    /// Tells the announcer that a sharing policy may have changed.
    pub fn wake(&self) {
        self.signal.notify_one();
    }

    /// Announces until the process stops.
    pub async fn run(self: Arc<Self>) {
        loop {
            let announcer = self.clone();
            let now = crate::clock::now_ms();
            match tokio::task::spawn_blocking(move || announcer.announce(now)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(told)) => tracing::info!(told, "sharing notices queued"),
                Ok(Err(error)) => {
                    tracing::warn!(error = %format!("{error:#}"), "announcing a sharing policy failed")
                }
                Err(error) => tracing::warn!(%error, "the announcer stopped"),
            }
            tokio::select! {
                _ = self.signal.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(POLL_MS)) => {}
            }
        }
    }

    /// Sends every announcement on record to its end; returns how many
    /// people were told.
    pub fn announce(&self, now_ms: u64) -> Result<usize> {
        let mut told = 0;
        while let Some(page) = self.step(now_ms)? {
            told += page;
        }
        Ok(told)
    }

    /// Tells one page of the oldest announcement's people (or removes an
    /// announcement that must not be sent); `None` when there is none left.
    pub fn step(&self, now_ms: u64) -> Result<Option<usize>> {
        let Some((key, value)) = self
            .store
            .scan_prefix(ANNOUNCE_PREFIX, MAX_ANNOUNCEMENTS)?
            .into_iter()
            .next()
        else {
            return Ok(None);
        };
        let Ok(mut announcement) = serde_json::from_slice::<Announcement>(&value) else {
            tracing::warn!(%key, "an unreadable announcement removed");
            self.store.apply(&[Change::Delete(key)])?;
            return Ok(Some(0));
        };
        if !self.still_on(&announcement)? {
            tracing::info!(%key, "the sharing policy changed: its announcement stops");
            self.store.apply(&[Change::Delete(key)])?;
            return Ok(Some(0));
        }
        let prefix = membership_prefix(&announcement.platform);
        let page =
            self.store
                .scan_prefix_after(&prefix, announcement.after.as_deref(), self.page)?;
        let done = page.len() < self.page;
        let text = notice_text(&announcement);
        let id = notice_id(&announcement);
        let mut windows = WindowPass::new(&self.store, &self.config, now_ms);
        let mut changes = Vec::new();
        let mut queued: Vec<Queued> = Vec::new();
        let mut told = 0;
        for (membership_key, value) in &page {
            let Some(account_id) = membership_key.strip_prefix(&prefix).map(unescape) else {
                continue;
            };
            let Ok(membership) = serde_json::from_slice::<Membership>(value) else {
                continue;
            };
            let recipient = Address {
                platform: announcement.platform.clone(),
                id: account_id,
            };
            let endpoints: Vec<&String> = membership
                .endpoints
                .iter()
                .filter(|(_, at)| !at.conversations.is_empty())
                .map(|(endpoint, _)| endpoint)
                .collect();
            let mut open = None;
            for endpoint in &endpoints {
                if windows.is_open(&recipient, endpoint)? {
                    open = Some(*endpoint);
                    break;
                }
            }
            let Some(endpoint) = open.or(endpoints.first().copied()) else {
                continue;
            };
            let conversation = Conversation {
                kind: ConversationKind::Direct,
                id: recipient.id.clone(),
            };
            let Some(notice) = service_notice(
                self.translators.as_ref(),
                &id,
                endpoint,
                &recipient,
                conversation,
                text.clone(),
                now_ms,
            ) else {
                continue;
            };
            if open.is_some() {
                queued.push(notice);
            } else {
                changes.push(windows.park(notice.entry, endpoint)?.change);
            }
            told += 1;
        }
        announcement.told += told as u64;
        if let Some((last, _)) = page.last() {
            announcement.after = Some(last.clone());
        }
        if done {
            tracing::info!(%key, told = announcement.told, "sharing policy announced");
            changes.push(Change::Delete(key));
        } else {
            changes.push(Change::Set(key, serde_json::to_vec(&announcement)?));
        }
        self.outbox.enqueue(changes, queued)?;
        Ok(Some(told))
    }

    /// Whether the policy `announcement` is about is still on, as announced.
    fn still_on(&self, announcement: &Announcement) -> Result<bool> {
        let key = sharing_key(&announcement.platform, announcement.attribute);
        let Some(bytes) = self.store.get(&key)? else {
            return Ok(false);
        };
        Ok(
            serde_json::from_slice::<SharingPolicy>(&bytes).is_ok_and(|policy| {
                policy.enabled && policy.announced_at_ms == announcement.announced_at_ms
            }),
        )
    }
}

/// The canonical id of an announcement's notices: one per policy turned on,
/// so the outbox key of each person's notice is fixed.
pub fn notice_id(announcement: &Announcement) -> String {
    format!(
        "sharing:{}:{}:{}",
        announcement.platform,
        announcement.attribute.as_str(),
        announcement.announced_at_ms
    )
}

/// What each person is told.
pub fn notice_text(announcement: &Announcement) -> String {
    format!(
        "From {}, your {} will be shown to the people you talk with on other apps. Send /private to keep it hidden.",
        utc_date(announcement.effective_at_ms),
        announcement.attribute.in_words()
    )
}

/// An account id from its key part (`%3A` → `:`, `%25` → `%`).
fn unescape(part: &str) -> String {
    part.replace("%3A", ":").replace("%25", "%")
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `ms` since the epoch as `14 March 2025, 09:30 UTC` (the proleptic
/// Gregorian calendar, days from the epoch by Howard Hinnant's
/// `civil_from_days`).
pub fn utc_date(ms: u64) -> String {
    let seconds = ms / 1000;
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX);
    let minute_of_day = (seconds % 86_400) / 60;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let month_name = usize::try_from(month - 1)
        .ok()
        .and_then(|index| MONTHS.get(index))
        .copied()
        .unwrap_or("?");
    format!(
        "{day} {month_name} {year}, {:02}:{:02} UTC",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::metrics::Metrics;
    use crate::outbox::OutboxEntry;
    use crate::outbox::tests::scratch_store;
    use crate::routing::tests::{EchoText, without_windows};
    use directory_schema::{
        Account, EndpointConversations, SharedAttribute, announcement_key, membership_key,
    };

    const ANNOUNCED: u64 = 1_700_000_000_000;
    const EFFECTIVE: u64 = ANNOUNCED + 3_000;

    fn put(store: &EmbeddedStore, key: String, value: &impl serde::Serialize) {
        store
            .apply(&[Change::Set(key, serde_json::to_vec(value).unwrap())])
            .unwrap();
    }

    /// `account` is in conversation `c-<n>` through each of `endpoints`.
    fn member_of(store: &EmbeddedStore, platform: &str, id: &str, endpoints: &[&str]) {
        let mut membership = Membership::default();
        for (n, endpoint) in endpoints.iter().enumerate() {
            membership.endpoints.insert(
                endpoint.to_string(),
                EndpointConversations {
                    current: None,
                    conversations: vec![format!("c-{n}")],
                },
            );
        }
        let account = Account {
            platform: platform.into(),
            id: id.into(),
        };
        put(store, membership_key(&account), &membership);
    }

    /// The operator turned display-name sharing of WhatsApp on at
    /// [`ANNOUNCED`].
    fn turned_on(store: &EmbeddedStore) {
        put(
            store,
            sharing_key("whatsapp", SharedAttribute::DisplayName),
            &SharingPolicy {
                enabled: true,
                announced_at_ms: ANNOUNCED,
                effective_at_ms: EFFECTIVE,
            },
        );
        put(
            store,
            announcement_key("whatsapp", SharedAttribute::DisplayName, ANNOUNCED),
            &Announcement {
                platform: "whatsapp".into(),
                attribute: SharedAttribute::DisplayName,
                announced_at_ms: ANNOUNCED,
                effective_at_ms: EFFECTIVE,
                after: None,
                told: 0,
            },
        );
    }

    fn announcer(store: &Arc<EmbeddedStore>, page: usize) -> Announcer {
        let outbox = Arc::new(Outbox::new(store.clone(), Arc::new(Metrics::new())));
        Announcer::new(outbox, Arc::new(EchoText), without_windows()).with_page(page)
    }

    /// The outbox entries, as (recipient, the text sent, from).
    fn outbox(store: &EmbeddedStore) -> Vec<(String, String, String)> {
        store
            .scan_prefix("outbox:", 1000)
            .unwrap()
            .into_iter()
            .map(|(_, value)| {
                let entry: OutboxEntry = serde_json::from_slice(&value).unwrap();
                let body: serde_json::Value =
                    serde_json::from_slice(&entry.encoded.requests[0].body).unwrap();
                (
                    format!("{}:{}", entry.platform, entry.recipient),
                    body["text"].as_str().unwrap().to_string(),
                    body["from"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn each_member_account_of_the_app_is_told_once() {
        let store = scratch_store("announce-once");
        member_of(&store, "whatsapp", "111", &["wa-1"]);
        member_of(&store, "whatsapp", "222", &["wa-1", "wa-2"]);
        member_of(&store, "whatsapp", "333", &[]);
        member_of(&store, "messenger", "444", &["page-1"]);
        turned_on(&store);

        assert_eq!(announcer(&store, 256).announce(ANNOUNCED).unwrap(), 2);
        let sent = outbox(&store);
        let text = "From 14 November 2023, 22:13 UTC, your profile name will be shown to the people you talk with on other apps. Send /private to keep it hidden.";
        assert_eq!(
            sent,
            [
                ("whatsapp:111".into(), text.into(), "wa-1".into()),
                ("whatsapp:222".into(), text.into(), "wa-1".into()),
            ],
            "one notice per account of the app with a conversation, from one of its endpoints"
        );
        assert!(
            store.scan_prefix(ANNOUNCE_PREFIX, 10).unwrap().is_empty(),
            "the announcement is removed when done"
        );
        assert_eq!(announcer(&store, 256).announce(ANNOUNCED + 1).unwrap(), 0);
    }

    #[test]
    fn a_restart_resumes_after_the_cursor_without_telling_anyone_twice() {
        let store = scratch_store("announce-resume");
        for id in ["101", "102", "103", "104", "105"] {
            member_of(&store, "whatsapp", id, &["wa-1"]);
        }
        turned_on(&store);

        // One page of two, then the host stops; the senders send those two.
        assert_eq!(announcer(&store, 2).step(ANNOUNCED).unwrap(), Some(2));
        let first: Vec<String> = outbox(&store).into_iter().map(|(to, ..)| to).collect();
        assert_eq!(first, ["whatsapp:101", "whatsapp:102"]);
        let sent: Vec<Change> = store
            .scan_prefix("outbox:", 100)
            .unwrap()
            .into_iter()
            .map(|(key, _)| Change::Delete(key))
            .collect();
        store.apply(&sent).unwrap();
        let stored: Announcement =
            serde_json::from_slice(&store.scan_prefix(ANNOUNCE_PREFIX, 1).unwrap().remove(0).1)
                .unwrap();
        assert_eq!(stored.after.as_deref(), Some("membership:whatsapp:102"));
        assert_eq!(stored.told, 2);

        // A new host resumes after the cursor.
        assert_eq!(announcer(&store, 2).announce(ANNOUNCED + 10).unwrap(), 3);
        let rest: Vec<String> = outbox(&store).into_iter().map(|(to, ..)| to).collect();
        assert_eq!(rest, ["whatsapp:103", "whatsapp:104", "whatsapp:105"]);
        assert!(store.scan_prefix(ANNOUNCE_PREFIX, 10).unwrap().is_empty());
    }

    #[test]
    fn a_policy_turned_off_or_on_again_stops_its_old_announcement() {
        let store = scratch_store("announce-off");
        member_of(&store, "whatsapp", "111", &["wa-1"]);
        turned_on(&store);
        put(
            &store,
            sharing_key("whatsapp", SharedAttribute::DisplayName),
            &SharingPolicy {
                enabled: false,
                announced_at_ms: ANNOUNCED + 5,
                effective_at_ms: ANNOUNCED + 5,
            },
        );
        assert_eq!(announcer(&store, 256).announce(ANNOUNCED + 6).unwrap(), 0);
        assert!(outbox(&store).is_empty());
        assert!(store.scan_prefix(ANNOUNCE_PREFIX, 10).unwrap().is_empty());
    }

    #[test]
    fn a_closed_reply_window_parks_the_notice() {
        let store = scratch_store("announce-window");
        member_of(&store, "whatsapp", "111", &["wa-1"]);
        turned_on(&store);
        let outbox_ = Arc::new(Outbox::new(store.clone(), Arc::new(Metrics::new())));
        let announcer = Announcer::new(outbox_, Arc::new(EchoText), HostConfig::default());
        assert_eq!(announcer.announce(ANNOUNCED).unwrap(), 1);
        assert!(
            outbox(&store).is_empty(),
            "never wrote: the window is closed"
        );
        let parked = store.scan_prefix("waiting:", 10).unwrap();
        assert_eq!(parked.len(), 1);
        assert!(
            parked[0]
                .0
                .starts_with("waiting:whatsapp:111:wa-1:sharing:")
        );
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc_date(0), "1 January 1970, 00:00 UTC");
        assert_eq!(utc_date(951_782_400_000), "29 February 2000, 00:00 UTC");
        assert_eq!(utc_date(1_700_000_003_000), "14 November 2023, 22:13 UTC");
    }
}
