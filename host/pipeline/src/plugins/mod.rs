//! Loading and calling the pure components the messaging service runs in a
//! sandbox: translators (one per app, first-party or plugin), the story
//! planner, and the sealer (the end-to-end encryption primitives, run as a
//! client in another language would run them). Their bindings are in
//! [`crate::bindings`].

pub mod planner;
pub mod sealer;
pub mod translator;
