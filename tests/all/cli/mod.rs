//! The `switchboard` command as a user runs it: translating, keys and
//! sealing, story plans.

pub(crate) mod crypto_commands;
pub(crate) mod story_plan;
pub(crate) mod translate_commands;
