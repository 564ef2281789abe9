//! Plans the cross-posting of a story to the author's accounts on other apps.
//!
//! The planner is pure: given a [`Story`], the author's [`CrossPostSettings`] and
//! the target apps' [`StoryProfile`]s, [`plan`] says per target what to publish
//! (segments, caption, mentions, stickers, audience, expiry) or why not, and
//! notes every change it made. It never widens the audience the author chose and
//! never lets a cross-post outlive the original.
//!
//! ```
//! use stories::{default_profiles, plan};
//! # use stories::{Audience, CrossPostSettings, Story};
//! # use switchboard_pdk::types::{Address, MediaKind, MediaSource};
//! # let story = Story {
//! #     id: "1".into(),
//! #     author: Address { platform: "instagram".into(), id: "17841400000000001".into() },
//! #     media_kind: MediaKind::Image,
//! #     source: MediaSource::Url("https://example.com/a.jpg".into()),
//! #     mime_type: "image/jpeg".into(),
//! #     duration_ms: None,
//! #     width: 1080,
//! #     height: 1920,
//! #     size_bytes: 900_000,
//! #     caption: None,
//! #     mentions: vec![],
//! #     stickers: vec![],
//! #     audience: Audience::Contacts,
//! #     created_ms: 0,
//! #     expires_ms: 86_400_000,
//! # };
//! let settings = CrossPostSettings {
//!     targets: vec![Address { platform: "whatsapp".into(), id: "15550001111".into() }],
//!     linked_mentions: vec![],
//! };
//! let outcomes = plan(&story, &settings, &default_profiles(), 1_000);
//! assert_eq!(outcomes.len(), 1);
//! ```
//!
//! The default profiles (Instagram Stories, Facebook Stories, WhatsApp Status)
//! are data, in `profiles.json` next to this crate, with each value's public
//! source in `profiles.sources.md`; [`profiles_from_json`] merges configuration
//! overrides over them.

pub mod planner;
pub mod profiles;
pub mod rules;

/// The generated bindings of the `story-planner` world. The stories types
/// derive serde so that stories, settings and profiles can be read from JSON.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "story-planner",
        path: "../../wit",
        with: { "switchboard:messaging/types@0.1.0": switchboard_pdk::types },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

pub use bindings::exports::switchboard::messaging::stories::{
    Audience, CrossPostSettings, LimitRange, PlannedPost, PollSticker, Sticker, Story,
    StoryMention, StoryProfile, TargetOutcome, TargetPlan,
};
pub use planner::plan;
pub use profiles::{default_profiles, profiles_from_json, try_default_profiles};

/// The component: the `stories` export forwards to [`plan`].
pub struct Component;

impl bindings::exports::switchboard::messaging::stories::Guest for Component {
    fn plan(
        story: Story,
        settings: CrossPostSettings,
        profiles: Vec<StoryProfile>,
        now_ms: u64,
    ) -> Vec<TargetOutcome> {
        planner::plan(&story, &settings, &profiles, now_ms)
    }
}

#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
