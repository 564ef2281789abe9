//! The files of a new translator plugin crate, for `switchboard plugin new`.
//!
//! The template is compiled into this crate ([`TEMPLATE_FILES`]), so the CLI
//! needs no files on disk and always renders the template of the PDK version
//! it was built with. [`render`] fills its three placeholders:
//!
//! | placeholder | value | example |
//! |---|---|---|
//! | `{{name}}` | the app's platform name: lower-case ASCII letters, digits and `-` | `telegram` |
//! | `{{crate_name}}` | the plugin crate's package name | `translator-telegram` |
//! | `{{pdk_dependency}}` | the whole dependency line on this crate | [`PUBLISHED_DEPENDENCY`], or [`path_dependency`] before publication |
//!
//! The rendered crate has an empty `[workspace]` table and
//! `crate-type = ["cdylib"]`, so in any directory `cargo build --release
//! --target wasm32-wasip2` makes the component, and `cargo test` runs its
//! tests natively. Its `src/lib.rs` is a complete example translator whose
//! tests decode and re-encode the sample files in `fixtures/`; the template is
//! tested as part of this crate's own tests.

use std::path::Path;

/// Every file of the template: its path in the new crate, and its text with
/// placeholders. (`Cargo.toml` is stored as `Cargo.toml.tmpl` and
/// `.gitignore` as `gitignore`, so that packaging this crate neither takes
/// the template for a nested package nor for ignore rules.)
pub const TEMPLATE_FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../template/Cargo.toml.tmpl")),
    (".gitignore", include_str!("../template/gitignore")),
    (
        "rust-toolchain.toml",
        include_str!("../template/rust-toolchain.toml"),
    ),
    ("README.md", include_str!("../template/README.md")),
    ("src/lib.rs", include_str!("../template/src/lib.rs")),
    (
        "fixtures/webhook.json",
        include_str!("../template/fixtures/webhook.json"),
    ),
    (
        "fixtures/responses/send.json",
        include_str!("../template/fixtures/responses/send.json"),
    ),
];

/// The placeholders the template uses, each with what it stands for.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("{{name}}", "the app's platform name (`telegram`)"),
    (
        "{{crate_name}}",
        "the plugin crate's package name (`translator-telegram`)",
    ),
    (
        "{{pdk_dependency}}",
        "the whole `[dependencies]` line on switchboard-pdk",
    ),
];

/// The dependency line once this crate is on crates.io.
pub const PUBLISHED_DEPENDENCY: &str = "switchboard-pdk = \"0.1\"";

/// The dependency line on a local checkout of this crate (the directory
/// holding its `Cargo.toml`), for use before it is published or to try
/// changes to it. The version requirement stays, so that publishing only has
/// to drop the path.
pub fn path_dependency(pdk_dir: &Path) -> String {
    let path = pdk_dir
        .to_string_lossy()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    format!("switchboard-pdk = {{ version = \"0.1\", path = \"{path}\" }}")
}

/// What fills the placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Values<'a> {
    /// `{{name}}`: the platform name.
    pub name: &'a str,
    /// `{{crate_name}}`: the package name.
    pub crate_name: &'a str,
    /// `{{pdk_dependency}}`: the dependency line.
    pub pdk_dependency: &'a str,
}

/// Why a value cannot fill the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// `{{name}}` must be lower-case ASCII letters, digits and `-`, starting
    /// with a letter: it becomes a platform name and a Rust string.
    InvalidName(String),
    /// `{{crate_name}}` must be ASCII letters, digits, `-` and `_`, starting
    /// with a letter, as cargo requires.
    InvalidCrateName(String),
    /// `{{pdk_dependency}}` must be one line starting `switchboard-pdk`.
    InvalidDependency(String),
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderError::InvalidName(name) => write!(
                f,
                "`{name}` is not a platform name: use lower-case letters, digits and `-`, starting with a letter"
            ),
            RenderError::InvalidCrateName(name) => write!(
                f,
                "`{name}` is not a crate name: use letters, digits, `-` and `_`, starting with a letter"
            ),
            RenderError::InvalidDependency(line) => {
                write!(f, "`{line}` is not one dependency line on switchboard-pdk")
            }
        }
    }
}

impl std::error::Error for RenderError {}

/// The template's files with every placeholder filled, as (path, text)
/// pairs in the order of [`TEMPLATE_FILES`]; the caller writes them under the
/// new crate's directory.
pub fn render(values: &Values<'_>) -> Result<Vec<(&'static str, String)>, RenderError> {
    let starts_with_letter = |text: &str| text.starts_with(|c: char| c.is_ascii_alphabetic());
    if !starts_with_letter(values.name)
        || !values
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(RenderError::InvalidName(values.name.to_string()));
    }
    if !starts_with_letter(values.crate_name)
        || !values
            .crate_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(RenderError::InvalidCrateName(values.crate_name.to_string()));
    }
    if values.pdk_dependency.contains('\n')
        || !values
            .pdk_dependency
            .trim_start()
            .starts_with("switchboard-pdk")
    {
        return Err(RenderError::InvalidDependency(
            values.pdk_dependency.to_string(),
        ));
    }
    Ok(TEMPLATE_FILES
        .iter()
        .map(|(path, text)| {
            let text = text
                .replace("{{pdk_dependency}}", values.pdk_dependency)
                .replace("{{crate_name}}", values.crate_name)
                .replace("{{name}}", values.name);
            (*path, text)
        })
        .collect())
}
