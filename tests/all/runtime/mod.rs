//! The runtime layer: `switchboard up` serving the manifest's components over
//! real HTTP, and the sandbox every component call runs in.

pub(crate) mod front_door;
pub(crate) mod sandbox;
pub(crate) mod up;
