//! Loading and calling the pure components the messaging service runs in a
//! sandbox: translators (one per app, first-party or plugin), the story
//! planner, and the sealer (the end-to-end encryption primitives, run as a
//! client in another language would run them). Their bindings are in
//! [`crate::bindings`]. [`conformance`] is the kit that checks a translator
//! plugin before it is deployed.

pub mod conformance;
pub mod planner;
pub mod sealer;
pub mod translator;
