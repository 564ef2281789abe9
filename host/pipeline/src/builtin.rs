//! The first-party components, compiled by `build.rs` and embedded in the binary
//! so that `switchboard` runs with no files beside it.

/// Where `build.rs` put the first-party components (and the test guests):
/// what tests load by file.
pub const COMPONENTS_DIR: &str = env!("SWITCHBOARD_COMPONENTS_DIR");

/// A component shipped inside the binary.
pub struct BuiltinComponent {
    /// The name it is known by (`whatsapp` for a translator).
    pub name: &'static str,
    /// The component's bytes.
    pub wasm: &'static [u8],
}

macro_rules! component {
    ($name:literal, $file:literal) => {
        BuiltinComponent {
            name: $name,
            wasm: include_bytes!(concat!(env!("SWITCHBOARD_COMPONENTS_DIR"), "/", $file)),
        }
    };
}

/// The built-in translators, one per platform.
pub const TRANSLATORS: &[BuiltinComponent] = &[
    component!("whatsapp", "translator_whatsapp.wasm"),
    component!("messenger", "translator_messenger.wasm"),
    component!("instagram", "translator_instagram.wasm"),
];

/// The story cross-posting planner.
pub const STORIES: BuiltinComponent = component!("stories", "stories.wasm");

/// The end-to-end encryption primitives, for clients without a native build.
pub const SEALING: BuiltinComponent = component!("sealing", "sealing.wasm");

/// The built-in translator for `platform`, if there is one.
pub fn translator(platform: &str) -> Option<&'static BuiltinComponent> {
    TRANSLATORS
        .iter()
        .find(|component| component.name == platform)
}

/// The names of the built-in translators, for error messages and help.
pub fn translator_names() -> Vec<&'static str> {
    TRANSLATORS.iter().map(|component| component.name).collect()
}
