//! Every fixture folder has its sources written down, and every fixture is
//! listed there: a payload whose origin is unknown is not a test of anything.

use crate::{PLATFORMS, fixtures_dir};

#[test]
fn every_fixture_has_a_source() {
    for platform in PLATFORMS {
        let dir = fixtures_dir().join(platform);
        let sources = std::fs::read_to_string(dir.join("SOURCES"))
            .unwrap_or_else(|error| panic!("{platform}: SOURCES missing: {error}"));
        let mut count = 0;
        for entry in std::fs::read_dir(&dir).expect("fixture folder") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if name.ends_with(".json") {
                count += 1;
                assert!(
                    sources.contains(&name),
                    "{platform}/{name} is not listed in SOURCES"
                );
            }
        }
        assert!(count >= 8, "{platform}: only {count} fixtures");
    }
}

/// One webhook fixture, by platform and file name.
pub fn webhook(platform: &str, file: &str) -> Vec<u8> {
    let path = fixtures_dir().join(platform).join(file);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The webhook fixtures of a platform, by file name, with their bytes.
pub fn webhooks(platform: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fixtures_dir().join(platform);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("fixture folder")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read(&path).expect("fixture readable"))
        })
        .collect();
    out.sort();
    out
}
