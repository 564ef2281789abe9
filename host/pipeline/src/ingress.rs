//! The ingress routes' checks, made by the host before a gateway instance is
//! taken ([`RouteGuard`]): each gateway route's body limit and webhook check
//! come from the translator it is composed with (its declared limit and
//! signature scheme) and the secret the manifest gives the gateway
//! (`app_secret`). The gateway checks again inside, so a Spin deployment,
//! which has no such guard, is as safe; here a flood of unsigned or oversized
//! bodies costs no instance.
//!
//! A webhook the gateway fails on (a trap: out of memory or time on a body
//! that passed the check) is kept under `rejected:<sha256>` with the reason
//! and answered 422: the platform stops retrying a body no instance can
//! process, and nothing is lost.

use crate::plugins::translator::WebhookSignature;
use crate::stages::ComponentTranslators;
use anyhow::Result;
use directory_schema::{rejected_error_key, rejected_key};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use switchboard_runtime::http::{RequestHead, RouteGuard};
use switchboard_runtime::key_value::{Change, EmbeddedStore, KeyValueStores, durable_write};
use switchboard_runtime::manifest::Manifest;
use switchboard_runtime::variables;
use webhook_signature::Scheme;

/// One gateway route, as its translator and manifest entry describe it.
struct IngressRoute {
    platform: String,
    max_webhook_bytes: u64,
    scheme: Scheme,
    secret: String,
}

/// The guard of every gateway route of the manifest.
pub struct IngressGuard {
    routes: BTreeMap<String, IngressRoute>,
    store: Option<Arc<EmbeddedStore>>,
    /// Bytes of unprocessable bodies kept a minute, and this minute's count
    /// (minute since the epoch, bytes).
    kept_per_minute: u64,
    kept: Mutex<(u64, u64)>,
}

/// The library's scheme for the one a translator declares.
pub fn scheme(signature: WebhookSignature) -> Scheme {
    match signature {
        WebhookSignature::HubSignatureSha256 => Scheme::Hub,
        WebhookSignature::SecretTokenHeader => Scheme::SecretToken,
        WebhookSignature::BearerToken => Scheme::Bearer,
        WebhookSignature::None => Scheme::None,
    }
}

impl IngressGuard {
    /// The guard for the gateways of `manifest`: every component composed
    /// with a translator of `translators`.
    pub fn load(
        manifest: &Manifest,
        stores: &KeyValueStores,
        translators: &ComponentTranslators,
        kept_per_minute: u64,
    ) -> Result<IngressGuard> {
        let mut routes = BTreeMap::new();
        for id in manifest.app.component.keys() {
            let Some(capabilities) = translators.of_gateway(manifest, id)? else {
                continue;
            };
            let secret = variables::resolve(manifest, id)?
                .get("app_secret")
                .unwrap_or_default()
                .to_string();
            routes.insert(
                id.clone(),
                IngressRoute {
                    platform: capabilities.platform.clone(),
                    max_webhook_bytes: capabilities.limits.max_webhook_bytes,
                    scheme: scheme(capabilities.webhook_signature),
                    secret,
                },
            );
        }
        Ok(IngressGuard {
            routes,
            store: stores.get("default"),
            kept_per_minute,
            kept: Mutex::new((0, 0)),
        })
    }

    /// Keeps a body the gateway failed on, with the reason: the bytes while
    /// this minute's budget lasts, else only the record (its key is the
    /// body's hash).
    fn keep(&self, route: &IngressRoute, body: &[u8], reason: &str) -> Result<String> {
        let key = rejected_key(body);
        if let Some(store) = &self.store {
            let now = crate::clock::now_ms();
            let body_kept = self.admit(body.len() as u64, now);
            let record = serde_json::json!({
                "platform": route.platform,
                "error": reason,
                "at_ms": now,
                "body_kept": body_kept,
            });
            let mut changes = vec![Change::Set(
                rejected_error_key(&key),
                record.to_string().into_bytes(),
            )];
            if body_kept {
                changes.push(Change::Set(key.clone(), body.to_vec()));
            } else {
                tracing::warn!(bytes = body.len(), platform = %route.platform, "an unprocessable body past this minute's budget: only its hash and reason are kept");
            }
            durable_write(|| store.apply(&changes))?;
        }
        Ok(key)
    }

    /// Whether `bytes` more fit in the budget of the minute of `now_ms`; if
    /// so they are counted.
    fn admit(&self, bytes: u64, now_ms: u64) -> bool {
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let minute = now_ms / 60_000;
        if kept.0 != minute {
            *kept = (minute, 0);
        }
        if kept.1.saturating_add(bytes) > self.kept_per_minute {
            return false;
        }
        kept.1 += bytes;
        true
    }
}

impl IngressRoute {
    /// Whether a request with `method` carries a webhook the gateway checks
    /// and decodes: a `POST`, or a `PUT` on a bearer route (a Matrix
    /// homeserver's transaction). Anything else (the subscribe handshake,
    /// wrong methods) is the gateway's to answer.
    fn takes(&self, method: &hyper::Method) -> bool {
        *method == hyper::Method::POST
            || (*method == hyper::Method::PUT && self.scheme == Scheme::Bearer)
    }
}

impl RouteGuard for IngressGuard {
    fn body_limit(&self, component: &str) -> Option<u64> {
        self.routes
            .get(component)
            .map(|route| route.max_webhook_bytes)
    }

    fn check(&self, component: &str, head: &RequestHead, body: &[u8]) -> Option<(u16, String)> {
        let route = self.routes.get(component)?;
        if !route.takes(&head.method) {
            // The subscribe handshake and wrong methods: the gateway answers.
            return None;
        }
        let values: Vec<&[u8]> = match route.scheme.header() {
            Some(header) => head
                .headers
                .get_all(header.name())
                .iter()
                .map(|value| value.as_bytes())
                .collect(),
            None => Vec::new(),
        };
        let error = route.scheme.verify(&route.secret, body, &values).err()?;
        Some((error.status(), error.body().to_string()))
    }

    fn failed(
        &self,
        component: &str,
        head: &RequestHead,
        body: &[u8],
        reason: &str,
    ) -> Option<(u16, String)> {
        let route = self.routes.get(component)?;
        if !route.takes(&head.method) {
            return None;
        }
        match self.keep(route, body, reason) {
            Ok(key) => Some((
                422,
                serde_json::json!({ "error": reason, "kept_as": key }).to_string(),
            )),
            // Not kept: a 5xx, so that the platform sends it again.
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "cannot keep a rejected webhook");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::outbox::tests::scratch_store;

    #[test]
    fn unprocessable_bodies_past_the_minutes_budget_keep_only_their_hash_and_reason() {
        let store = scratch_store("ingress-keep");
        let guard = IngressGuard {
            routes: BTreeMap::new(),
            store: Some(store.clone()),
            kept_per_minute: 10,
            kept: Mutex::new((0, 0)),
        };
        let route = IngressRoute {
            platform: "whatsapp".into(),
            max_webhook_bytes: 1024,
            scheme: Scheme::None,
            secret: String::new(),
        };
        let first = guard.keep(&route, b"[1,2,3,4]", "trapped").unwrap();
        let second = guard.keep(&route, b"[5,6,7,8]", "trapped").unwrap();
        assert_eq!(
            store.get(&first).unwrap().as_deref(),
            Some(&b"[1,2,3,4]"[..])
        );
        assert!(
            store.get(&second).unwrap().is_none(),
            "over the budget: no bytes"
        );
        let record: serde_json::Value =
            serde_json::from_slice(&store.get(&rejected_error_key(&second)).unwrap().unwrap())
                .unwrap();
        assert_eq!(record["body_kept"], false);
        assert_eq!(record["error"], "trapped");
        // A new minute, a new budget.
        assert!(guard.admit(9, 120_000));
        assert!(!guard.admit(2, 120_001));
    }
}
