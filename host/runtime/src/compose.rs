//! Composing a component with the dependencies its manifest entry declares,
//! the way Spin does at load time: each dependency is instantiated and its
//! export of the same name plugs the importing component's import. The result
//! is one self-contained component (what `spin registry push` would publish).

use crate::manifest::Manifest;
use anyhow::{Context, Result};
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

/// Reads component `id` and composes it with its dependencies. A component with
/// no dependencies is returned as it is.
pub fn compose(manifest: &Manifest, id: &str) -> Result<Vec<u8>> {
    let definition = manifest.component(id)?;
    let source = manifest.source_path(id)?;
    let main_bytes = std::fs::read(&source).with_context(|| {
        format!(
            "cannot read component `{id}` from {} (build it with `switchboard up --build`, or `spin build`)",
            source.display()
        )
    })?;
    if definition.dependencies.is_empty() {
        return Ok(main_bytes);
    }
    let mut graph = CompositionGraph::new();
    let main = Package::from_bytes(&format!("app:{id}"), None, main_bytes, graph.types_mut())
        .with_context(|| format!("component `{id}` is not a valid component"))?;
    let main = graph.register_package(main)?;
    let exports: Vec<String> = graph.types()[graph[main].ty()]
        .exports
        .keys()
        .cloned()
        .collect();
    let main_instance = graph.instantiate(main);
    for (index, (import, dependency)) in definition.dependencies.iter().enumerate() {
        let path = manifest.dependency_path(id, import, dependency)?;
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "cannot read dependency `{import}` of `{id}` from {}",
                path.display()
            )
        })?;
        let package = Package::from_bytes(&format!("dep:d{index}"), None, bytes, graph.types_mut())
            .with_context(|| {
                format!(
                    "dependency {} of `{id}` is not a valid component",
                    path.display()
                )
            })?;
        let package = graph.register_package(package)?;
        let instance = graph.instantiate(package);
        let export = graph
            .alias_instance_export(instance, import)
            .with_context(|| {
                format!(
                    "dependency {} of `{id}` does not export `{import}`",
                    path.display()
                )
            })?;
        graph
            .set_instantiation_argument(main_instance, import, export)
            .with_context(|| {
                format!(
                    "`{import}` from {} does not fit `{id}`'s import",
                    path.display()
                )
            })?;
    }
    for name in exports {
        let export = graph.alias_instance_export(main_instance, &name)?;
        graph.export(export, &name)?;
    }
    graph
        .encode(EncodeOptions::default())
        .with_context(|| format!("cannot compose component `{id}` with its dependencies"))
}
