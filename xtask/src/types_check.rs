//! Do the generated Rust types still say what the spec says? Each type's schemars schema is
//! compared with its component: property names, requiredness, types, enum values, nullability.
//! Descriptions, formats and bounds are not compared (the generator keeps them as docs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use statsig_console::types;
use statsig_console_codegen::OPEN_ENUMS;

/// The schemars schema of every generated type that stands for a spec component.
/// A component missing here is reported, so a new one cannot go unchecked.
fn rust_schemas() -> BTreeMap<&'static str, Value> {
    macro_rules! schemas {
        ($($name:ident),* $(,)?) => {
            BTreeMap::from([$((
                stringify!($name),
                serde_json::to_value(schemars::schema_for!(types::$name)).unwrap_or(Value::Null),
            )),*])
        };
    }
    schemas!(
        OverrideType,
        ConditionalOverride,
        UserIdOverride,
        ExperimentOverrides,
        ExperimentOverridesResponse,
        MetricRef,
        ChangeTeamConfigs,
        ReviewApproval,
        ChangeTeamConfigsSetting,
        ReviewApprovalSetting,
        TeamCreate,
        TeamMember,
        Team,
        CreateTeamResponse,
        ErrorResponse,
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    Ref(String),
    Scalar(String),
    Enum(String, BTreeSet<String>),
    Array(Box<Shape>),
    Object,
    Unknown(String),
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Ref(name) => write!(f, "{name}"),
            Shape::Scalar(kind) => write!(f, "{kind}"),
            Shape::Enum(kind, values) => write!(f, "{kind} enum {values:?}"),
            Shape::Array(items) => write!(f, "array of {items}"),
            Shape::Object => write!(f, "object"),
            Shape::Unknown(raw) => write!(f, "unrecognised schema {raw}"),
        }
    }
}

fn enum_values(schema: &Value) -> Option<BTreeSet<String>> {
    schema["enum"].as_array().map(|values| {
        values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect()
    })
}

/// (shape, nullable) of a schema in the spec.
fn spec_shape(schema: &Value) -> (Shape, bool) {
    let nullable = schema["nullable"] == Value::Bool(true);
    if let Some(reference) = schema["$ref"].as_str() {
        return (
            Shape::Ref(
                reference
                    .rsplit('/')
                    .next()
                    .unwrap_or(reference)
                    .to_string(),
            ),
            nullable,
        );
    }
    let kind = schema["type"].as_str().unwrap_or("any").to_string();
    let shape = match (kind.as_str(), enum_values(schema)) {
        ("array", _) => Shape::Array(Box::new(spec_shape(&schema["items"]).0)),
        ("object", _) => Shape::Object,
        (_, Some(values)) => Shape::Enum(kind, values),
        _ => Shape::Scalar(kind),
    };
    (shape, nullable)
}

/// (shape, nullable) of a schemars schema; `$ref`s to types the spec does not name
/// (typify's newtypes, such as a constrained string) are looked through.
fn rust_shape(schema: &Value, definitions: &Value, components: &BTreeSet<String>) -> (Shape, bool) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference
            .rsplit('/')
            .next()
            .unwrap_or(reference)
            .to_string();
        if components.contains(&name) {
            return (Shape::Ref(name), false);
        }
        return match definitions.get(&name) {
            Some(definition) => rust_shape(definition, definitions, components),
            None => (Shape::Unknown(reference.to_string()), false),
        };
    }
    if let Some(parts) = schema["allOf"].as_array().filter(|p| p.len() == 1) {
        return rust_shape(&parts[0], definitions, components);
    }
    if let Some(parts) = schema["anyOf"].as_array() {
        let non_null: Vec<&Value> = parts.iter().filter(|p| p["type"] != "null").collect();
        if non_null.len() == 1 {
            let (shape, _) = rust_shape(non_null[0], definitions, components);
            return (shape, non_null.len() < parts.len());
        }
    }
    let (kind, nullable) = match &schema["type"] {
        Value::String(kind) => (kind.clone(), false),
        Value::Array(kinds) => {
            let named: Vec<&str> = kinds
                .iter()
                .filter_map(Value::as_str)
                .filter(|k| *k != "null")
                .collect();
            (
                named.first().copied().unwrap_or("any").to_string(),
                named.len() < kinds.len(),
            )
        }
        _ => return (Shape::Unknown(schema.to_string()), false),
    };
    let shape = match (kind.as_str(), enum_values(schema)) {
        ("array", _) => Shape::Array(Box::new(
            rust_shape(&schema["items"], definitions, components).0,
        )),
        ("object", _) => Shape::Object,
        (_, Some(values)) => Shape::Enum(kind, values),
        _ => Shape::Scalar(kind),
    };
    (shape, nullable)
}

fn required(schema: &Value) -> BTreeSet<String> {
    schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

pub fn check(root: &Path) -> Vec<String> {
    let spec = match crate::spec_check::load(root) {
        Ok(spec) => spec,
        Err(problem) => return vec![problem],
    };
    compare(&spec, &rust_schemas())
}

fn compare(spec: &Value, rust: &BTreeMap<&str, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    let spec_components = spec["components"]["schemas"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let names: BTreeSet<String> = spec_components.keys().cloned().collect();
    for name in rust.keys() {
        if !names.contains(*name) {
            problems.push(format!(
                "{name}: a generated type with no component in the spec"
            ));
        }
    }
    for (name, component) in &spec_components {
        let Some(rust_root) = rust.get(name.as_str()) else {
            problems.push(format!("components/schemas/{name}: no generated type is checked for it (add it to xtask/src/types_check.rs)"));
            continue;
        };
        let definitions = &rust_root["definitions"];
        let at = format!("components/schemas/{name}");
        if OPEN_ENUMS.iter().any(|(open, _)| open == name) {
            let (shape, _) = rust_shape(rust_root, definitions, &names);
            if shape != Shape::Scalar("string".into()) {
                problems.push(format!(
                    "{at}: the open Rust enum should accept any string, but its schema is {shape}"
                ));
            }
            if spec_shape(component).0 == Shape::Object {
                problems.push(format!(
                    "{at}: replaced by an open enum, but the spec makes it an object"
                ));
            }
            continue;
        }
        let (spec_kind, _) = spec_shape(component);
        let (rust_kind, _) = rust_shape(rust_root, definitions, &names);
        if spec_kind != rust_kind {
            problems.push(format!(
                "{at}: the spec says {spec_kind}, the Rust type is {rust_kind}"
            ));
            continue;
        }
        if spec_kind != Shape::Object {
            continue;
        }
        let spec_properties = component["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let rust_properties = rust_root["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let spec_required = required(component);
        let rust_required = required(rust_root);
        for property in spec_properties.keys() {
            if !rust_properties.contains_key(property) {
                problems.push(format!(
                    "{at}.{property}: in the spec, missing from the Rust type"
                ));
            }
        }
        for property in rust_properties.keys() {
            if !spec_properties.contains_key(property) {
                problems.push(format!(
                    "{at}.{property}: in the Rust type, not in the spec"
                ));
            }
        }
        for (property, spec_schema) in &spec_properties {
            let Some(rust_schema) = rust_properties.get(property) else {
                continue;
            };
            let is_required = spec_required.contains(property);
            if is_required != rust_required.contains(property) {
                problems.push(format!(
                    "{at}.{property}: required in the {} only",
                    if is_required { "spec" } else { "Rust type" }
                ));
            }
            let (spec_shape, spec_nullable) = spec_shape(spec_schema);
            let (rust_shape, rust_nullable) = rust_shape(rust_schema, definitions, &names);
            if spec_shape != rust_shape {
                problems.push(format!(
                    "{at}.{property}: the spec says {spec_shape}, the Rust type is {rust_shape}"
                ));
            }
            // An optional field is an Option in Rust, which also reads `null`; what must hold is
            // that `nullable` in the spec is nullable in Rust, and that a required field is
            // nullable in both or neither.
            if spec_nullable && !rust_nullable {
                problems.push(format!(
                    "{at}.{property}: nullable in the spec, not in the Rust type"
                ));
            }
            if is_required && rust_nullable && !spec_nullable {
                problems.push(format!("{at}.{property}: required and not nullable in the spec, nullable in the Rust type"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_types_match_the_real_spec() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(check(&root), Vec::<String>::new());
    }

    #[test]
    fn a_renamed_or_retyped_property_is_reported() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut spec = crate::spec_check::load(&root).unwrap();
        let team = &mut spec["components"]["schemas"]["TeamMember"];
        let user_id = team["properties"]
            .as_object_mut()
            .unwrap()
            .remove("userID")
            .unwrap();
        team["properties"]["userId"] = user_id;
        spec["components"]["schemas"]["MetricRef"]["properties"]["name"]["type"] = "integer".into();
        spec["components"]["schemas"]["ChangeTeamConfigs"]["enum"] =
            serde_json::json!(["anyone", "team_only", "nobody"]);
        let problems = compare(&spec, &rust_schemas());
        let text = problems.join("\n");
        assert!(
            text.contains("TeamMember.userId: in the spec, missing from the Rust type"),
            "{text}"
        );
        assert!(
            text.contains("TeamMember.userID: in the Rust type, not in the spec"),
            "{text}"
        );
        assert!(
            text.contains("MetricRef.name: the spec says integer, the Rust type is string"),
            "{text}"
        );
        assert!(
            text.contains("ChangeTeamConfigs: the spec says string enum"),
            "{text}"
        );
    }
}
