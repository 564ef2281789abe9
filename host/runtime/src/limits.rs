//! The limits every component instance runs under: memory, time and the
//! output kept from it. Shared by the engine (deadlines in epoch ticks), the
//! sandbox and the instances of HTTP components.

use std::time::Duration;

/// Limits applied to every component instance.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
    /// Wall time one call may run before it traps.
    pub call_deadline: Duration,
    /// Bytes of stdout/stderr kept from a guest (for panic messages in errors).
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 << 20,
            call_deadline: Duration::from_secs(2),
            output_bytes: 16 << 10,
        }
    }
}
