//! A seam for running the pipeline's component stages as native code.
//!
//! The host runs ingress, routing and translation as WebAssembly components.
//! To know what that isolation costs end to end, the same pipeline — the same
//! HTTP server, store, outbox, senders and retries — can be started with
//! these stages compiled natively instead (`cargo run --release -p switchboard
//! --example native-pipeline`, which links the components' crates), and put
//! under the same load (`switchboard load --target …`). Nothing else in the
//! host changes between the two builds, so the difference is the components'.
//! `switchboard up` never uses this: it knows no messaging app.

use crate::kv::KeyValueView;
use crate::translator::Encoded;
use crate::translator::types::{Address, EncodeError, Envelope};

pub use crate::pipeline::{
    Delivery, Rejection, RejectionReason, RouteError, UnmappedReference, Verdict,
};

/// The component stages of the pipeline, as native code.
pub trait NativeStages: Send + Sync {
    /// Answers a `POST` to an ingress `path` (`/ingress/…`) as that route's
    /// gateway component would (verify, decode, store in the inbox), or
    /// `None` when this build has no native gateway for it.
    fn ingest(&self, path: &str, signature: Option<&str>, body: &[u8]) -> Option<(u16, String)>;

    /// The router component's `route`, with the directory over `store` (as
    /// the component's directory reads and writes the default store).
    fn route(
        &self,
        store: &dyn KeyValueView,
        envelope: &Envelope,
    ) -> Result<Vec<Delivery>, RouteError>;

    /// The router component's `check` (policy) for one recipient.
    fn check(
        &self,
        store: &dyn KeyValueView,
        envelope: &Envelope,
        recipient: &Address,
        now_ms: u64,
    ) -> Verdict;

    /// The target translator's `encode`, or `None` without a translator for
    /// the recipient's platform.
    fn encode(
        &self,
        envelope: &Envelope,
        sender: &Address,
        recipient: &Address,
    ) -> Option<Result<Encoded, EncodeError>>;

    /// The translator's `sent-message-id` for a send API's answer.
    fn sent_message_id(&self, platform: &str, response_body: &[u8]) -> Option<String>;
}
