//! The Instagram Messaging translator: a thin `translator-plugin` component over the
//! shared Messenger Platform logic in `meta-messaging` (its module docs list
//! the mapping and every degradation rule), with the `instagram` flavor.
//!
//! [`meta_messaging::translator!`] defines the native functions the component
//! exports (`describe`, `decode`, `encode`, `sent_message_id`, `fetch_media`); the host's
//! benchmarks and the integration tests call them directly.

#![deny(missing_docs)]

meta_messaging::translator!(meta_messaging::INSTAGRAM);
