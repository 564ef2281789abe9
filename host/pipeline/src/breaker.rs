//! One circuit breaker per platform, so that a platform that is down does
//! not hold the senders or spend its messages' tries.
//!
//! After `breaker_failures` retryable failures in a row (timeouts, 408, 429,
//! 5xx) a platform's circuit opens: its deliveries wait, untried and with
//! their tries untouched. When the open period ends one delivery goes as the
//! probe while the others keep waiting: a success closes the circuit; a
//! failure opens it again for twice as long, up to `breaker_max_open_ms`. Any
//! answer that shows the platform is up (a success, or a refusal such as a
//! 400) closes it.

use crate::config::DeliveryConfig;
use std::collections::HashMap;
use std::sync::Mutex;

/// The state of one platform's circuit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Circuit {
    /// Retryable failures since the last success.
    failures: u32,
    /// Open until this time (ms since the epoch); 0 when closed.
    open_until_ms: u64,
    /// How long it was open last time (0: never since the last success).
    last_open_ms: u64,
    /// A probe is on its way: the others wait for its answer.
    probing: bool,
}

/// The circuits of every platform.
pub struct Breakers {
    config: DeliveryConfig,
    circuits: Mutex<HashMap<String, Circuit>>,
}

impl Breakers {
    /// Breakers with the thresholds of `config`.
    pub fn new(config: &DeliveryConfig) -> Breakers {
        Breakers {
            config: config.clone(),
            circuits: Mutex::new(HashMap::new()),
        }
    }

    fn circuits(&self) -> std::sync::MutexGuard<'_, HashMap<String, Circuit>> {
        self.circuits
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Until when a delivery to `platform` must wait, if it must: while the
    /// circuit is open, and after it, while the one probe it lets through is
    /// on its way. `None` lets the delivery go (and, after an open period,
    /// makes it the probe).
    pub fn open_until(&self, platform: &str, now_ms: u64) -> Option<u64> {
        let mut circuits = self.circuits();
        let circuit = circuits.get_mut(platform)?;
        if circuit.open_until_ms > now_ms {
            return Some(circuit.open_until_ms);
        }
        if circuit.open_until_ms == 0 {
            return None;
        }
        if circuit.probing {
            // Look again shortly: the probe's answer decides.
            return Some(now_ms.saturating_add(self.config.breaker_open_ms.clamp(1, 1_000)));
        }
        circuit.probing = true;
        None
    }

    /// The platform answered as a platform that is up does.
    pub fn success(&self, platform: &str) {
        let mut circuits = self.circuits();
        if let Some(circuit) = circuits.get_mut(platform) {
            if circuit.last_open_ms > 0 {
                tracing::info!(%platform, "circuit closed");
            }
            *circuit = Circuit::default();
        }
    }

    /// A send to `platform` failed in a way worth retrying. Returns how long
    /// the circuit opened for, when this failure opened it.
    pub fn failure(&self, platform: &str, now_ms: u64) -> Option<u64> {
        if self.config.breaker_failures == 0 {
            return None;
        }
        let mut circuits = self.circuits();
        let circuit = circuits.entry(platform.to_string()).or_default();
        circuit.failures = circuit.failures.saturating_add(1);
        circuit.probing = false;
        if circuit.failures < self.config.breaker_failures || circuit.open_until_ms > now_ms {
            return None;
        }
        let open_ms = if circuit.last_open_ms == 0 {
            self.config.breaker_open_ms
        } else {
            circuit.last_open_ms.saturating_mul(2)
        }
        .clamp(1, self.config.breaker_max_open_ms.max(1));
        circuit.last_open_ms = open_ms;
        circuit.open_until_ms = now_ms.saturating_add(open_ms);
        tracing::warn!(%platform, open_ms, failures = circuit.failures, "circuit open: deliveries wait");
        Some(open_ms)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn breakers() -> Breakers {
        Breakers::new(&DeliveryConfig {
            breaker_failures: 3,
            breaker_open_ms: 1_000,
            breaker_max_open_ms: 3_000,
            ..DeliveryConfig::default()
        })
    }

    #[test]
    fn a_platform_failing_in_a_row_is_left_alone_longer_each_time() {
        let breakers = breakers();
        assert_eq!(breakers.failure("messenger", 0), None);
        assert_eq!(breakers.failure("messenger", 0), None);
        assert_eq!(breakers.open_until("messenger", 0), None);
        assert_eq!(breakers.failure("messenger", 10), Some(1_000));
        assert_eq!(breakers.open_until("messenger", 500), Some(1_010));
        assert_eq!(breakers.open_until("whatsapp", 500), None, "per platform");
        // A failure while open (an entry that was already on its way) does
        // not extend it.
        assert_eq!(breakers.failure("messenger", 600), None);
        assert_eq!(
            breakers.open_until("messenger", 1_010),
            None,
            "closed on time"
        );
        // The probe fails: open again, twice as long, then capped.
        assert_eq!(breakers.failure("messenger", 1_100), Some(2_000));
        assert_eq!(breakers.failure("messenger", 3_200), Some(3_000));
        assert_eq!(breakers.failure("messenger", 6_300), Some(3_000));
        // A success closes it and forgets the history.
        breakers.success("messenger");
        assert_eq!(breakers.open_until("messenger", 6_400), None);
        assert_eq!(breakers.failure("messenger", 6_500), None);
    }

    #[test]
    fn zero_failures_turns_the_breaker_off() {
        let breakers = Breakers::new(&DeliveryConfig {
            breaker_failures: 0,
            ..DeliveryConfig::default()
        });
        for at in 0..100 {
            assert_eq!(breakers.failure("messenger", at), None);
        }
        assert_eq!(breakers.open_until("messenger", 100), None);
    }
}
