//! End-to-end encryption: the key directory, a sealed conversation through a
//! running host, and the sealing component as clients run it.

pub(crate) mod directory;
pub(crate) mod sealed;
pub(crate) mod sealing_component;
