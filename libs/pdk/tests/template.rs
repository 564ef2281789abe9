//! The plugin template: it renders completely, its `Cargo.toml` makes a
//! standalone component crate, and its example translator passes its own
//! tests, which run here as a module so the template cannot rot unnoticed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The template's `src/lib.rs`, compiled against this crate as a plugin would
/// be; its `#[cfg(test)]` tests run with this file's.
#[path = "../template/src/lib.rs"]
mod plugin;

use std::path::Path;
use switchboard_pdk::template::{
    PLACEHOLDERS, PUBLISHED_DEPENDENCY, RenderError, TEMPLATE_FILES, Values, path_dependency,
    render,
};

fn values(dependency: &str) -> Values<'_> {
    Values {
        name: "telegram",
        crate_name: "translator-telegram",
        pdk_dependency: dependency,
    }
}

#[test]
fn every_placeholder_is_listed_and_filled() {
    let all: String = TEMPLATE_FILES.iter().map(|(_, text)| *text).collect();
    for (placeholder, _) in PLACEHOLDERS {
        assert!(all.contains(placeholder), "{placeholder} is unused");
    }
    for (path, text) in render(&values(PUBLISHED_DEPENDENCY)).unwrap() {
        assert!(!text.contains("{{"), "{path} keeps a placeholder");
    }
}

#[test]
fn the_manifest_is_a_standalone_component_crate() {
    let dependency = path_dependency(Path::new("/opt/switch \"board\"/libs/pdk"));
    let files = render(&values(&dependency)).unwrap();
    let manifest = &files
        .iter()
        .find(|(path, _)| *path == "Cargo.toml")
        .unwrap()
        .1;
    let manifest: toml::Table = toml::from_str(manifest).unwrap();
    assert_eq!(
        manifest["package"]["name"].as_str(),
        Some("translator-telegram")
    );
    assert!(manifest["workspace"].as_table().unwrap().is_empty());
    assert_eq!(
        manifest["lib"]["crate-type"].as_array().unwrap(),
        &vec![toml::Value::from("cdylib")]
    );
    let pdk = &manifest["dependencies"]["switchboard-pdk"];
    assert_eq!(pdk["version"].as_str(), Some("0.1"));
    assert_eq!(pdk["path"].as_str(), Some("/opt/switch \"board\"/libs/pdk"));

    let published = render(&values(PUBLISHED_DEPENDENCY)).unwrap();
    let manifest: toml::Table = toml::from_str(&published[0].1).unwrap();
    assert_eq!(
        manifest["dependencies"]["switchboard-pdk"].as_str(),
        Some("0.1")
    );
}

#[test]
fn the_platform_name_reaches_the_code() {
    let files = render(&values(PUBLISHED_DEPENDENCY)).unwrap();
    let lib = &files
        .iter()
        .find(|(path, _)| *path == "src/lib.rs")
        .unwrap()
        .1;
    assert!(lib.contains(r#"pub const PLATFORM: &str = "telegram";"#));
    assert_eq!(plugin::PLATFORM, "{{name}}");
}

#[test]
fn values_that_would_break_the_crate_are_refused() {
    let dependency = PUBLISHED_DEPENDENCY;
    for name in ["", "Telegram", "tele\"gram", "9gag", "tele gram"] {
        let values = Values {
            name,
            ..values(dependency)
        };
        assert_eq!(
            render(&values),
            Err(RenderError::InvalidName(name.to_string()))
        );
    }
    let values_bad_crate = Values {
        crate_name: "translator telegram",
        ..values(dependency)
    };
    assert!(matches!(
        render(&values_bad_crate),
        Err(RenderError::InvalidCrateName(_))
    ));
    let values_bad_dependency = Values {
        pdk_dependency: "serde = \"1\"\nswitchboard-pdk = \"0.1\"",
        ..values(dependency)
    };
    assert!(matches!(
        render(&values_bad_dependency),
        Err(RenderError::InvalidDependency(_))
    ));
}
