//! The messaging service: translators in the sandbox, and the whole pipeline
//! through a running host — routing, delivery, conversations (one person in
//! several at once, groups, in-chat commands), references over three apps,
//! crashes, stories, and the Telegram and Matrix plugins with their
//! credentials; the apps' reply windows; sharing policies announced before
//! they apply.

pub(crate) mod anyone;
pub(crate) mod conversation;
pub(crate) mod crash;
pub(crate) mod delivery;
pub(crate) mod logs;
pub(crate) mod long_outage;
pub(crate) mod malformed;
pub(crate) mod outage;
pub(crate) mod sharing;
pub(crate) mod story_service;
pub(crate) mod telegram;
pub(crate) mod translate;
pub(crate) mod window;
