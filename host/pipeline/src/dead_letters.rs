//! Dead letters for operators: `GET /admin/deadletters` lists them a page at
//! a time, `POST /admin/deadletters/redrive` sends them again. Served by the
//! host, ahead of the admin component, because a redrive hands entries back
//! to the running senders; guarded by the same admin token.
//!
//! | request | what it does |
//! |---|---|
//! | `GET /admin/deadletters?platform=P&since_ms=T&after=KEY&limit=N` | `{"dead_letters": [{"key", "platform", "reason", "at_ms", "attempts"}], "next": KEY or null}`, oldest key first, at most `limit` (100 by default, 1,000 at most) |
//! | `POST /admin/deadletters/redrive` `{"platform"?, "since_ms"?}` | every matching dead letter back in the outbox, its tries reset: `{"redriven": n}`; audited |
//!
//! A redriven delivery keeps its key, so its requests go with the same
//! idempotency keys as before: a platform that accepted one before it was
//! dead-lettered recognises it.

use crate::clock::now_ms;
use crate::outbox::{Outbox, OutboxEntry};
use anyhow::Result;
use directory_schema::{EndedDelivery, ended_key};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use switchboard_runtime::http::{self, BoxFuture, NativeRoute, Request, Response};
use switchboard_runtime::key_value::{Change, durable_write};

/// Prefix of the dead letters in the store.
const PREFIX: &str = "deadletter:";
/// Most dead letters one listing returns.
const MAX_PAGE: usize = 1_000;

/// The dead-letter routes of a running pipeline.
pub struct DeadLetters {
    outbox: Arc<Outbox>,
    admin_token: String,
}

/// Which dead letters a listing or a redrive is about.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filter {
    platform: Option<String>,
    since_ms: Option<u64>,
}

/// One dead letter as stored: why, the entry, when.
#[derive(Deserialize)]
struct Record {
    reason: String,
    entry: Value,
    at_ms: u64,
}

impl Filter {
    fn matches(&self, record: &Record) -> bool {
        let platform = record.entry["platform"].as_str().unwrap_or_default();
        self.platform
            .as_deref()
            .is_none_or(|wanted| wanted == platform)
            && self.since_ms.is_none_or(|since| record.at_ms >= since)
    }
}

fn answer(status: u16, value: &Value) -> Response {
    let mut response = http::plain(status, &value.to_string());
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn refuse(status: u16, error: impl std::fmt::Display) -> Response {
    answer(status, &json!({ "error": error.to_string() }))
}

impl DeadLetters {
    /// The routes over `outbox`, open to callers with `admin_token` (none
    /// when it is empty).
    pub fn new(outbox: Arc<Outbox>, admin_token: String) -> DeadLetters {
        DeadLetters {
            outbox,
            admin_token,
        }
    }

    /// A page of the dead letters matching `filter`, after the key `after`.
    fn list(&self, filter: &Filter, after: Option<&str>, limit: usize) -> Result<Value> {
        let store = self.outbox.store();
        let mut found = Vec::new();
        let mut cursor = after.map(str::to_string);
        let mut next = None;
        'pages: loop {
            let page = store.scan_prefix_after(PREFIX, cursor.as_deref(), MAX_PAGE)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            cursor = Some(last.clone());
            let exhausted = page.len() < MAX_PAGE;
            for (key, value) in page {
                let Ok(record) = serde_json::from_slice::<Record>(&value) else {
                    continue;
                };
                if !filter.matches(&record) {
                    continue;
                }
                if found.len() == limit {
                    next = found
                        .last()
                        .and_then(|last: &Value| last["key"].as_str().map(str::to_string));
                    break 'pages;
                }
                found.push(json!({
                    "key": key,
                    "platform": record.entry["platform"],
                    "reason": record.reason,
                    "at_ms": record.at_ms,
                    "attempts": record.entry["attempts"],
                }));
            }
            if exhausted {
                break;
            }
        }
        Ok(json!({ "dead_letters": found, "next": next }))
    }

    /// Puts every dead letter matching `filter` back in the outbox, tries
    /// reset, and records the redrive in the audit log.
    fn redrive(&self, filter: &Filter) -> Result<usize> {
        let store = self.outbox.store();
        let now = now_ms();
        let mut redriven = 0;
        let mut cursor: Option<String> = None;
        loop {
            let page = store.scan_prefix_after(PREFIX, cursor.as_deref(), MAX_PAGE)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            cursor = Some(last.clone());
            let exhausted = page.len() < MAX_PAGE;
            for (key, value) in page {
                let Ok(record) = serde_json::from_slice::<Record>(&value) else {
                    continue;
                };
                if !filter.matches(&record) {
                    continue;
                }
                let Ok(mut entry) = serde_json::from_value::<OutboxEntry>(record.entry) else {
                    continue;
                };
                entry.attempts = 0;
                entry.last_error = None;
                entry.next_at_ms = now;
                let queued = entry.queued();
                // The dead letter was the end of this very delivery.
                if ended_key(EndedDelivery::DeadLetter, &queued.key) != key {
                    continue;
                }
                self.outbox
                    .enqueue(vec![Change::Delete(key)], vec![queued])?;
                redriven += 1;
            }
            if exhausted {
                break;
            }
        }
        let details = json!({
            "platform": filter.platform,
            "since_ms": filter.since_ms,
            "redriven": redriven,
        });
        store.apply(&crate::audit::append(
            store, "admin", "redrive", details, now,
        )?)?;
        tracing::info!(redriven, platform = ?filter.platform, "dead letters redriven");
        Ok(redriven)
    }

    async fn serve(&self, request: Request) -> Response {
        let values: Vec<Vec<u8>> = request
            .headers()
            .get_all(hyper::header::AUTHORIZATION)
            .iter()
            .map(|value| value.as_bytes().to_vec())
            .collect();
        let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        if self.admin_token.is_empty() {
            return refuse(
                403,
                "the admin API is off until a token is set (SPIN_VARIABLE_ADMIN_TOKEN)",
            );
        }
        if let Err(error) = webhook_signature::verify_bearer_token(&self.admin_token, &values) {
            return refuse(401, error);
        }
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or_default().to_string();
        match (method, path.as_str()) {
            (hyper::Method::GET, "/admin/deadletters") => {
                let parameters: Vec<(String, String)> = query
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect();
                let get = |name: &str| {
                    parameters
                        .iter()
                        .find(|(key, _)| key == name)
                        .map(|(_, value)| value.clone())
                };
                let filter = Filter {
                    platform: get("platform"),
                    since_ms: get("since_ms").and_then(|value| value.parse().ok()),
                };
                let limit = get("limit")
                    .and_then(|value| value.parse().ok())
                    .unwrap_or(100)
                    .clamp(1, MAX_PAGE);
                let after = get("after");
                match durable_write(|| self.list(&filter, after.as_deref(), limit)) {
                    Ok(page) => answer(200, &page),
                    Err(error) => refuse(500, format!("cannot read the dead letters: {error}")),
                }
            }
            (hyper::Method::POST, "/admin/deadletters/redrive") => {
                let body = match Limited::new(request.into_body(), 16 << 10).collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(_) => return refuse(413, "the body is over 16 KiB"),
                };
                let filter: Filter = if body.iter().all(u8::is_ascii_whitespace) {
                    Filter::default()
                } else {
                    match serde_json::from_slice(&body) {
                        Ok(filter) => filter,
                        Err(error) => return refuse(400, format!("bad request body: {error}")),
                    }
                };
                match durable_write(|| self.redrive(&filter)) {
                    Ok(redriven) => answer(200, &json!({ "redriven": redriven })),
                    Err(error) => refuse(500, format!("cannot redrive: {error}")),
                }
            }
            _ => refuse(
                405,
                "GET /admin/deadletters or POST /admin/deadletters/redrive",
            ),
        }
    }
}

impl NativeRoute for DeadLetters {
    fn serves(&self, _method: &hyper::Method, path: &str) -> bool {
        path == "/admin/deadletters" || path.starts_with("/admin/deadletters/")
    }

    fn handle(&self, request: Request) -> BoxFuture<'_, Response> {
        Box::pin(self.serve(request))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::metrics::Metrics;
    use crate::outbox::tests::scratch_store;
    use crate::plugins::translator::types::Address;
    use crate::plugins::translator::{Encoded, HttpMethod, SendRequest};

    fn dead(outbox: &Outbox, platform: &str, recipient: &str, at_ms: u64) -> String {
        let encoded = Encoded {
            requests: vec![SendRequest {
                method: HttpMethod::Post,
                path: "/send".into(),
                headers: Vec::new(),
                body: Vec::new(),
            }],
            degradations: Vec::new(),
        };
        let to = Address {
            platform: platform.into(),
            id: recipient.into(),
        };
        let mut entry = OutboxEntry::new("whatsapp:wamid.1", &to, encoded, 0);
        entry.attempts = 40;
        let key = entry.key();
        let record = json!({ "reason": "gave up", "entry": entry, "at_ms": at_ms });
        outbox
            .store()
            .apply(&[Change::Set(
                ended_key(EndedDelivery::DeadLetter, &key),
                record.to_string().into_bytes(),
            )])
            .unwrap();
        key
    }

    #[test]
    fn dead_letters_are_listed_by_page_and_redriven_by_platform() {
        let outbox = Arc::new(Outbox::new(scratch_store("dead"), Arc::new(Metrics::new())));
        let mut receiver = outbox.take_receiver().unwrap();
        for (recipient, at) in [("a", 10), ("b", 20), ("c", 30)] {
            dead(&outbox, "messenger", recipient, at);
        }
        let telegram = dead(&outbox, "telegram", "t", 40);
        let routes = DeadLetters::new(outbox.clone(), "t0ken".into());

        let first = routes.list(&Filter::default(), None, 2).unwrap();
        assert_eq!(first["dead_letters"].as_array().unwrap().len(), 2);
        let next = first["next"].as_str().unwrap().to_string();
        let rest = routes.list(&Filter::default(), Some(&next), 2).unwrap();
        assert_eq!(rest["dead_letters"].as_array().unwrap().len(), 2);
        assert!(rest["next"].is_null());
        let since = Filter {
            platform: None,
            since_ms: Some(25),
        };
        assert_eq!(
            routes.list(&since, None, 10).unwrap()["dead_letters"]
                .as_array()
                .unwrap()
                .len(),
            2
        );

        let messenger = Filter {
            platform: Some("messenger".into()),
            since_ms: None,
        };
        assert_eq!(routes.redrive(&messenger).unwrap(), 3);
        let mut queued = Vec::new();
        while let Ok(next) = receiver.try_recv() {
            assert_eq!(next.entry.attempts, 0, "tries reset");
            queued.push(next.entry.recipient);
        }
        queued.sort();
        assert_eq!(queued, ["a", "b", "c"]);
        let store = outbox.store();
        assert!(
            store
                .get("outbox:whatsapp:wamid.1:messenger:a")
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .get("deadletter:whatsapp:wamid.1:messenger:a")
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .get(&ended_key(EndedDelivery::DeadLetter, &telegram))
                .unwrap()
                .is_some(),
            "another platform's dead letter stays"
        );
        let record = store
            .get(&directory_schema::audit_record_key(1))
            .unwrap()
            .expect("the first audit record");
        let record: Value = serde_json::from_slice(&record).unwrap();
        assert_eq!(record["action"], "redrive");
        assert_eq!(record["details"]["redriven"], 3);
    }
}
