//! Prometheus metrics of the pipeline, served at `/metrics` in the text
//! exposition format (the `prometheus-client` crate: the Prometheus project's
//! own Rust client, no global registry).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels naming a platform.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlatformLabel {
    /// `whatsapp`, `messenger`…
    pub platform: String,
}

/// Labels naming why something was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A stable reason code (`not-linked`, `no-consent`, `blocked`…).
    pub reason: String,
}

/// Every metric the host keeps.
pub struct Metrics {
    registry: Registry,
    /// Envelopes taken from the inbox, by the platform they came from.
    pub messages_in: Family<PlatformLabel, Counter>,
    /// Send requests a platform accepted, by target platform.
    pub messages_out: Family<PlatformLabel, Counter>,
    /// Seconds from the webhook's arrival to the platform accepting the send.
    pub delivery_latency: Histogram,
    /// Send attempts that failed and were scheduled again.
    pub retries: Family<PlatformLabel, Counter>,
    /// Deliveries given up on.
    pub dead_letters: Family<PlatformLabel, Counter>,
    /// Envelopes not delivered, by reason.
    pub rejections: Family<ReasonLabel, Counter>,
}

impl Metrics {
    /// A fresh set of metrics, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("switchboard");
        let messages_in = Family::<PlatformLabel, Counter>::default();
        let messages_out = Family::<PlatformLabel, Counter>::default();
        // 100 µs to ~100 s.
        let delivery_latency = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 20),
        );
        let retries = Family::<PlatformLabel, Counter>::default();
        let dead_letters = Family::<PlatformLabel, Counter>::default();
        let rejections = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "messages_in",
            "Envelopes routed from the inbox",
            messages_in.clone(),
        );
        registry.register(
            "messages_out",
            "Send requests accepted by the target platform",
            messages_out.clone(),
        );
        registry.register(
            "delivery_latency_seconds",
            "Time from stored envelope to accepted send",
            delivery_latency.clone(),
        );
        registry.register(
            "retries",
            "Failed send attempts scheduled again",
            retries.clone(),
        );
        registry.register(
            "dead_letters",
            "Deliveries given up after their last attempt",
            dead_letters.clone(),
        );
        registry.register(
            "rejections",
            "Envelopes refused by policy or routing",
            rejections.clone(),
        );
        Metrics {
            registry,
            messages_in,
            messages_out,
            delivery_latency,
            retries,
            dead_letters,
            rejections,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(%error, "cannot encode metrics");
        }
        out
    }

    /// Counts one refusal.
    pub fn reject(&self, reason: &str) {
        self.rejections
            .get_or_create(&ReasonLabel {
                reason: label_value(reason),
            })
            .inc();
    }

    /// The counter of `family` for `platform`.
    pub fn platform<'a>(
        family: &'a Family<PlatformLabel, Counter>,
        platform: &str,
    ) -> impl std::ops::Deref<Target = Counter> + 'a {
        family.get_or_create(&PlatformLabel {
            platform: label_value(platform),
        })
    }
}

/// A label value escaped as the text exposition format requires (`\`, `"`
/// and line feeds), which `prometheus-client` leaves to its caller: a value
/// that came from a request can then never end its label or its line.
fn label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn a_label_from_a_request_cannot_forge_a_line() {
        let metrics = Metrics::new();
        let forged = "x\"} 1\nswitchboard_dead_letters_total{platform=\"y\"} 999999\n#";
        Metrics::platform(&metrics.dead_letters, forged).inc();
        metrics.reject("bad\\reason");
        let text = metrics.render();
        assert!(
            !text.lines().any(|line| line.ends_with("999999")),
            "a forged sample line:\n{text}"
        );
        assert!(
            text.contains(r#"switchboard_dead_letters_total{platform="x\"} 1\nswitchboard_dead_letters_total{platform=\"y\"} 999999\n#"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"{reason="bad\\reason"} 1"#), "{text}");
    }
}
