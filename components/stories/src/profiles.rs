//! Story surface profiles as data.
//!
//! What each app's story surface accepts (media types, lengths, sizes, widths,
//! caption length, lifetime, audiences, stickers, mentions) lives in
//! `profiles.json`, embedded at build time, so that a limit changed by a platform
//! is a data change with its source in `profiles.sources.md`, not a code change.
//! Deployments override single fields per platform with [`profiles_from_json`].

use crate::StoryProfile;
use serde_json::{Map, Value};

/// The embedded default profiles, in the canonical JSON of [`StoryProfile`].
const DEFAULT_PROFILES_JSON: &str = include_str!("../profiles.json");

/// The default profiles, or why the embedded file does not parse. A test covers
/// the embedded file, so the error cannot reach a release.
pub fn try_default_profiles() -> Result<Vec<StoryProfile>, String> {
    serde_json::from_str(DEFAULT_PROFILES_JSON)
        .map_err(|error| format!("embedded profiles.json: {error}"))
}

/// Instagram Stories, Facebook Stories and WhatsApp Status as their public
/// documentation describes them (see `profiles.sources.md`).
pub fn default_profiles() -> Vec<StoryProfile> {
    try_default_profiles().unwrap_or_default()
}

/// The default profiles with configuration overrides merged over them.
///
/// `text` is a JSON array of objects in the canonical shape of [`StoryProfile`].
/// Each object names its `platform`; the fields it gives replace that platform's
/// default fields and the others are kept. An object for a platform without a
/// default must give every field. Defaults not mentioned are kept unchanged.
pub fn profiles_from_json(text: &str) -> Result<Vec<StoryProfile>, String> {
    let overrides: Value =
        serde_json::from_str(text).map_err(|error| format!("profiles: {error}"))?;
    let Value::Array(overrides) = overrides else {
        return Err("profiles: expected a JSON array of profiles".to_string());
    };
    let mut profiles = try_default_profiles()?;
    for (index, item) in overrides.into_iter().enumerate() {
        let Value::Object(fields) = item else {
            return Err(format!("profiles[{index}]: expected an object"));
        };
        let Some(platform) = fields.get("platform").and_then(Value::as_str) else {
            return Err(format!(
                "profiles[{index}]: missing string field `platform`"
            ));
        };
        let platform = platform.to_string();
        let position = profiles.iter().position(|p| p.platform == platform);
        let mut merged = match position {
            Some(at) => match serde_json::to_value(&profiles[at]) {
                Ok(Value::Object(base)) => base,
                _ => Map::new(),
            },
            None => Map::new(),
        };
        merged.extend(fields);
        let profile: StoryProfile = serde_json::from_value(Value::Object(merged))
            .map_err(|error| format!("profiles[{index}] ({platform}): {error}"))?;
        match position {
            Some(at) => profiles[at] = profile,
            None => profiles.push(profile),
        }
    }
    Ok(profiles)
}
