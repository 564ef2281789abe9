//! The `switchboard` command as a user runs it: translating, keys and
//! sealing, story plans, fetching media by id, and the plugin author's
//! commands.

pub(crate) mod crypto_commands;
pub(crate) mod media;
pub(crate) mod plugin_commands;
pub(crate) mod story_plan;
pub(crate) mod translate_commands;
