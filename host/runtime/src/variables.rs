//! Spin variables: application variables resolved once at start-up, component
//! variables rendered from them, and `fermyon:spin/variables` for guests.
//!
//! Values come, as with Spin's environment provider, from `SPIN_VARIABLE_<NAME>`
//! (the name upper-cased), then the manifest default. A required variable with
//! no value stops start-up with the variable's name.

use crate::manifest::Manifest;
use anyhow::{Result, bail};
use std::collections::BTreeMap;

/// The resolved values of one component's variables.
#[derive(Clone, Debug, Default)]
pub struct ComponentVariables {
    values: BTreeMap<String, String>,
}

impl ComponentVariables {
    /// The value of `name`, if the component declares it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// Resolves every application variable, then renders `component`'s variables.
pub fn resolve(manifest: &Manifest, component: &str) -> Result<ComponentVariables> {
    let mut app_values = BTreeMap::new();
    for (name, variable) in &manifest.app.variables {
        let from_env = std::env::var(format!("SPIN_VARIABLE_{}", name.to_uppercase())).ok();
        match from_env.or_else(|| variable.default.clone()) {
            Some(value) => {
                app_values.insert(name.clone(), value);
            }
            None if variable.required => bail!(
                "variable `{name}` is required: set SPIN_VARIABLE_{} or give it a default",
                name.to_uppercase()
            ),
            None => {}
        }
    }
    let mut values = BTreeMap::new();
    for (name, template) in &manifest.component(component)?.variables {
        values.insert(
            name.clone(),
            render(template, &app_values, component, name)?,
        );
    }
    Ok(ComponentVariables { values })
}

/// The value of the application variable `name` (for settings the host itself
/// uses, such as the platforms' access tokens), from the environment or the
/// manifest default; `None` when it has neither.
pub fn app_value(manifest: &Manifest, name: &str) -> Option<String> {
    std::env::var(format!("SPIN_VARIABLE_{}", name.to_uppercase()))
        .ok()
        .or_else(|| manifest.app.variables.get(name)?.default.clone())
}

/// Renders `{{ name }}` references in a template.
fn render(
    template: &str,
    app_values: &BTreeMap<String, String>,
    component: &str,
    variable: &str,
) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            bail!("component `{component}` variable `{variable}`: unclosed `{{{{` in {template:?}");
        };
        let name = rest[start + 2..start + end].trim();
        let Some(value) = app_values.get(name) else {
            bail!(
                "component `{component}` variable `{variable}` refers to `{name}`, which has no value"
            );
        };
        out.push_str(value);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_templates_and_names_missing_values() {
        let values = BTreeMap::from([("secret".to_string(), "s3".to_string())]);
        assert_eq!(
            render("x-{{ secret }}-y", &values, "c", "v").unwrap(),
            "x-s3-y"
        );
        assert_eq!(render("plain", &values, "c", "v").unwrap(), "plain");
        let error = render("{{ other }}", &values, "c", "v")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`other`"), "{error}");
        assert!(render("{{ secret", &values, "c", "v").is_err());
    }
}
