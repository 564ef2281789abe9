//! The Spin application manifest (`spin.toml`, manifest version 2), as far as
//! the switchboard host uses it.
//!
//! The same file runs on Spin, so this module reads Spin's documented schema and
//! adds no keys of its own: host-only settings go in the runtime config file.
//! Keys this host does not use are accepted and ignored, as Spin would have them.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
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

/// `source`: a local path (URL and registry sources are refused with a reason).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Source {
    /// A file relative to the manifest.
    Path(String),
    /// A download (`{ url, digest }`).
    Url {
        /// Where.
        url: String,
        /// Its checksum.
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

    /// The local file a component's source names.
    pub fn source_path(&self, id: &str) -> Result<PathBuf> {
        match &self.component(id)?.source {
            Source::Path(path) => Ok(self.dir.join(path)),
            Source::Url { url, .. } => {
                bail!(
                    "component `{id}` comes from {url}: download it and use a local `source` path"
                )
            }
        }
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
