//! The `switchboard` subcommands, one module each.

pub mod crypto;
pub mod deadletters;
pub mod load;
pub mod media;
pub mod plugin;
pub mod sink;
pub mod soak;
pub mod story;
pub mod translate;
pub mod up;
