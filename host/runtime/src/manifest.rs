//! The Spin application manifest (`spin.toml`, manifest version 2), as far as
//! the switchboard host uses it.
//!
//! The same file runs on Spin, so this module reads Spin's documented schema and
//! adds no keys of its own: host-only settings go in the runtime config file.
//! Keys this host does not use are accepted and ignored, as Spin would have them.
//!
//! A component's `source` may be a download, `{ url, digest = "sha256:…" }`,
//! as in Spin: the file is fetched once into `.switchboard/downloads/` beside
//! the manifest (next to the default key-value store), named by its digest,
//! and used only when its SHA-256 matches; a cached file is checked again on
//! every load, so a corrupted one is fetched anew.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A parsed manifest and the directory its relative paths start from.
#[derive(Debug)]
pub struct Manifest {
    /// The directory containing the manifest.
    pub dir: PathBuf,
    /// The parsed document.
    pub app: AppManifest,
}

/// The document itself.
#[derive(Debug, Deserialize)]
pub struct AppManifest {
    /// Must be 2.
    pub spin_manifest_version: u32,
    /// Name, version, description.
    pub application: Application,
    /// Application variables, by name.
    #[serde(default)]
    pub variables: BTreeMap<String, AppVariable>,
    /// Triggers by type; only `http` is served.
    #[serde(default)]
    pub trigger: Triggers,
    /// Components by id.
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDef>,
}

/// `[application]`.
#[derive(Debug, Deserialize)]
pub struct Application {
    /// The application's name.
    pub name: String,
    /// Its version.
    #[serde(default)]
    pub version: Option<String>,
    /// What it is.
    #[serde(default)]
    pub description: Option<String>,
}

/// An entry of `[variables]`.
#[derive(Debug, Deserialize)]
pub struct AppVariable {
    /// The value when no provider supplies one.
    #[serde(default)]
    pub default: Option<String>,
    /// Whether a value must be supplied.
    #[serde(default)]
    pub required: bool,
    /// Whether the value is a secret (never logged).
    #[serde(default)]
    pub secret: bool,
}

/// `[[trigger.*]]` tables.
#[derive(Debug, Default, Deserialize)]
pub struct Triggers {
    /// `[[trigger.http]]`.
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
}

/// One HTTP route.
#[derive(Debug, Deserialize)]
pub struct HttpTrigger {
    /// The route: an exact path, or a prefix ending in `/...`.
    pub route: Route,
    /// The component that serves it.
    pub component: String,
}

/// A route: a path, or `{ private = true }` for components reached only by
/// local service chaining.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Route {
    /// A public path.
    Path(String),
    /// Not exposed.
    Private {
        /// Always true.
        private: bool,
    },
}

/// `[component.<id>]`.
#[derive(Debug, Deserialize)]
pub struct ComponentDef {
    /// Where the Wasm comes from.
    pub source: Source,
    /// Values for the component's variables (templates over app variables).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Key-value store labels the component may open.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// Hosts the component may call.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// How `spin build` (and `switchboard up --build`) builds it.
    #[serde(default)]
    pub build: Option<BuildDef>,
    /// Imports satisfied by other components.
    #[serde(default)]
    pub dependencies: BTreeMap<String, Dependency>,
    /// Whether dependencies get this component's configuration.
    #[serde(default)]
    pub dependencies_inherit_configuration: bool,
}

/// `source`: a local path, or a download checked by its digest.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Source {
    /// A file relative to the manifest.
    Path(String),
    /// A download (`{ url, digest }`).
    Url {
        /// Where: an `https://` (or `http://`) URL.
        url: String,
        /// Its checksum, `sha256:<64 hex digits>`.
        digest: String,
    },
}

/// `[component.<id>.build]`.
#[derive(Debug, Deserialize)]
pub struct BuildDef {
    /// The shell command.
    pub command: String,
    /// Directory to run it in, relative to the manifest.
    #[serde(default)]
    pub workdir: Option<String>,
}

/// One dependency: another component of the app, a local file, or a registry
/// package (refused with a reason).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Dependency {
    /// `{ component = "id" }`.
    Component {
        /// The component id.
        component: String,
    },
    /// `{ path = "file.wasm" }`.
    Path {
        /// Relative to the manifest.
        path: String,
    },
    /// `"1.0"` or `{ version, registry, package }`.
    Registry(toml::Value),
}

/// Largest component a URL source may download.
const MAX_DOWNLOAD_BYTES: u64 = 512 << 20;

/// Lower-case hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The file for `url` in `dir`: the cached one when its SHA-256 is `digest`,
/// else a fresh download, kept only if its digest matches.
pub fn download(dir: &Path, url: &str, digest: &str) -> Result<PathBuf> {
    let expected = digest
        .strip_prefix("sha256:")
        .map(str::to_ascii_lowercase)
        .filter(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .with_context(|| {
            format!("digest `{digest}` is not `sha256:` followed by 64 hexadecimal digits")
        })?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        bail!("only http:// and https:// URLs can be downloaded");
    }
    let path = dir.join(format!("{expected}.wasm"));
    if let Ok(cached) = std::fs::read(&path) {
        if sha256_hex(&cached) == expected {
            return Ok(path);
        }
        tracing::warn!(path = %path.display(), "cached download does not match its digest: fetching it again");
    }
    tracing::info!(%url, "downloading component");
    let mut response = ureq::get(url)
        .call()
        .with_context(|| format!("cannot download {url}"))?;
    let mut bytes = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(MAX_DOWNLOAD_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read the download of {url}"))?;
    if bytes.len() as u64 > MAX_DOWNLOAD_BYTES {
        bail!("{url} is larger than {MAX_DOWNLOAD_BYTES} bytes");
    }
    let actual = sha256_hex(&bytes);
    if actual != expected {
        bail!(
            "digest mismatch: the manifest says sha256:{expected}, the download is sha256:{actual}"
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Written aside and renamed, so a cut-short write is never taken for the file.
    let partial = dir.join(format!("{expected}.wasm.partial"));
    std::fs::write(&partial, &bytes)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, &path)
        .with_context(|| format!("cannot move the download to {}", path.display()))?;
    Ok(path)
}

impl Manifest {
    /// Reads and checks a manifest: version 2, every trigger names a defined
    /// component, every dependency resolves.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let app: AppManifest = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid Spin manifest", path.display()))?;
        if app.spin_manifest_version != 2 {
            bail!(
                "{}: spin_manifest_version is {}, only 2 is supported",
                path.display(),
                app.spin_manifest_version
            );
        }
        for trigger in &app.trigger.http {
            if !app.component.contains_key(&trigger.component) {
                bail!(
                    "trigger for route {:?} names component `{}`, which is not defined",
                    trigger.route,
                    trigger.component
                );
            }
        }
        for (id, component) in &app.component {
            for (import, dependency) in &component.dependencies {
                if let Dependency::Component { component: target } = dependency
                    && !app.component.contains_key(target)
                {
                    bail!(
                        "component `{id}` depends on component `{target}` for `{import}`, which is not defined"
                    );
                }
            }
        }
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Manifest { dir, app })
    }

    /// The component with id `id`.
    pub fn component(&self, id: &str) -> Result<&ComponentDef> {
        self.app
            .component
            .get(id)
            .with_context(|| format!("component `{id}` is not defined in the manifest"))
    }

    /// The local file a component's source names: the path, or for a URL
    /// source the downloaded file (fetched now unless already cached with
    /// the right digest).
    pub fn source_path(&self, id: &str) -> Result<PathBuf> {
        match &self.component(id)?.source {
            Source::Path(path) => Ok(self.dir.join(path)),
            Source::Url { url, digest } => download(&self.downloads_dir(), url, digest)
                .with_context(|| format!("component `{id}`: cannot use its source {url}")),
        }
    }

    /// Where URL sources are kept: `.switchboard/downloads` beside the
    /// manifest, one `<sha256>.wasm` file per digest.
    pub fn downloads_dir(&self) -> PathBuf {
        self.dir.join(".switchboard").join("downloads")
    }

    /// The local file that satisfies a dependency.
    pub fn dependency_path(
        &self,
        owner: &str,
        import: &str,
        dependency: &Dependency,
    ) -> Result<PathBuf> {
        match dependency {
            Dependency::Component { component } => self.source_path(component),
            Dependency::Path { path } => Ok(self.dir.join(path)),
            Dependency::Registry(_) => bail!(
                "component `{owner}` takes `{import}` from a registry; switchboard composes only local dependencies (`component` or `path`)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The smallest WebAssembly component: the preamble of an empty one.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    /// Serves `body` at any path until the test ends; counts the requests.
    fn serve(body: &'static [u8]) -> (String, Arc<AtomicUsize>) {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let url = format!("http://{}/translator.wasm", server.server_addr());
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        std::thread::spawn(move || {
            for request in server.incoming_requests() {
                count.fetch_add(1, Ordering::SeqCst);
                let _ = request.respond(tiny_http::Response::from_data(body));
            }
        });
        (url, served)
    }

    fn manifest_with(dir_name: &str, url: &str, digest: &str) -> Manifest {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-manifest-{dir_name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("spin.toml");
        std::fs::write(
            &path,
            format!(
                r#"spin_manifest_version = 2
[application]
name = "downloads"
[component.translator-remote]
source = {{ url = "{url}", digest = "{digest}" }}
"#
            ),
        )
        .unwrap();
        Manifest::load(&path).unwrap()
    }

    #[test]
    fn a_url_source_is_downloaded_once_and_checked_by_its_digest() {
        let (url, served) = serve(EMPTY_COMPONENT);
        let digest = format!("sha256:{}", sha256_hex(EMPTY_COMPONENT));
        let manifest = manifest_with("right", &url, &digest);
        let path = manifest.source_path("translator-remote").unwrap();
        assert_eq!(
            path,
            manifest
                .downloads_dir()
                .join(format!("{}.wasm", sha256_hex(EMPTY_COMPONENT)))
        );
        assert_eq!(std::fs::read(&path).unwrap(), EMPTY_COMPONENT);
        let runtime =
            crate::engine::Runtime::new(crate::engine::RuntimeOptions::default()).unwrap();
        runtime
            .compile("translator-remote", &std::fs::read(&path).unwrap())
            .unwrap();
        // The second load reuses the cached file.
        assert_eq!(manifest.source_path("translator-remote").unwrap(), path);
        assert_eq!(served.load(Ordering::SeqCst), 1);
        // A cached file that no longer matches is fetched again.
        std::fs::write(&path, b"tampered").unwrap();
        manifest.source_path("translator-remote").unwrap();
        assert_eq!(served.load(Ordering::SeqCst), 2);
        assert_eq!(std::fs::read(&path).unwrap(), EMPTY_COMPONENT);
    }

    #[test]
    fn a_download_with_another_digest_is_refused_naming_both() {
        let (url, _) = serve(EMPTY_COMPONENT);
        let wrong = "ab".repeat(32);
        let manifest = manifest_with("wrong", &url, &format!("sha256:{wrong}"));
        let error = format!(
            "{:#}",
            manifest.source_path("translator-remote").unwrap_err()
        );
        assert!(error.contains("component `translator-remote`"), "{error}");
        assert!(
            error.contains(&format!("the manifest says sha256:{wrong}")),
            "{error}"
        );
        assert!(
            error.contains(&format!(
                "the download is sha256:{}",
                sha256_hex(EMPTY_COMPONENT)
            )),
            "{error}"
        );
        assert!(
            !manifest
                .downloads_dir()
                .join(format!("{wrong}.wasm"))
                .exists()
        );
    }

    #[test]
    fn a_digest_that_is_not_sha256_is_refused_before_downloading() {
        let manifest = manifest_with("malformed", "http://127.0.0.1:9/x.wasm", "md5:1234");
        let error = format!(
            "{:#}",
            manifest.source_path("translator-remote").unwrap_err()
        );
        assert!(
            error.contains("is not `sha256:` followed by 64 hexadecimal digits"),
            "{error}"
        );
    }
}
