//! The `switchboard` command as a user runs it: translating, keys and
//! sealing, story plans, fetching media by id, the plugin author's
//! commands, and a short soak of the front door.

pub(crate) mod crypto_commands;
pub(crate) mod media;
pub(crate) mod plugin_commands;
pub(crate) mod soak;
pub(crate) mod story_plan;
pub(crate) mod translate_commands;
