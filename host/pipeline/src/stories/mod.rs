//! Story cross-posting in `switchboard up`: the stories API
//! ([`StoryService`], served at `/stories/…`) and the hook the senders call
//! around each story step ([`StoryHook`]). The plan itself comes from the
//! story planner component ([`crate::plugins::planner`]).

mod delivery;
mod service;

pub use delivery::{StoryAction, StoryDelivery, StoryHook};
pub use service::StoryService;
