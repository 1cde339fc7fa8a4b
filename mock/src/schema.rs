//! The spec's request schemas as JSON Schema, checked by a maintained validator (`jsonschema`).
//!
//! The spec is the one the client was generated from ([`statsig_console::OPENAPI_JSON`]), so the
//! fake accepts exactly what the spec allows. Refusals name the field the way the vendor's
//! documents do (`overrides[0].type`), in words a person reads rather than in schema paths.

use std::collections::HashMap;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::{Map, Value, json};

/// A validator for each operation's JSON request body, keyed by `operationId`.
pub(crate) struct Spec {
    request_validators: HashMap<String, Validator>,
}

impl Spec {
    /// The spec the `statsig-console` library was generated from.
    pub(crate) fn embedded() -> Result<Spec, String> {
        let spec: Value = serde_json::from_str(statsig_console::OPENAPI_JSON)
            .map_err(|e| format!("the embedded spec is not JSON: {e}"))?;
        Spec::from_openapi(&spec)
    }

    /// Builds the validators of `spec`, an OpenAPI 3.0 document as JSON.
    pub(crate) fn from_openapi(spec: &Value) -> Result<Spec, String> {
        let definitions: Map<String, Value> = spec["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, schema)| (name.clone(), to_json_schema(schema)))
            .collect();
        let mut request_validators = HashMap::new();
        let operations = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, item)| item.as_object())
            .flat_map(|item| item.values());
        for operation in operations {
            let (Some(operation_id), Some(schema)) = (
                operation["operationId"].as_str(),
                operation.pointer("/requestBody/content/application~1json/schema"),
            ) else {
                continue;
            };
            let mut root = json!({ "allOf": [to_json_schema(schema)] });
            root["definitions"] = Value::Object(definitions.clone());
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft7)
                .should_validate_formats(true)
                .build(&root)
                .map_err(|e| {
                    format!("the request schema of {operation_id} is not valid JSON Schema: {e}")
                })?;
            request_validators.insert(operation_id.to_string(), validator);
        }
        Ok(Spec { request_validators })
    }

    /// `Ok` when `body` is a valid request body of `operation_id`; otherwise what is wrong with
    /// it, naming the field.
    pub(crate) fn check(&self, operation_id: &str, body: &Value) -> Result<(), String> {
        let validator = self
            .request_validators
            .get(operation_id)
            .ok_or_else(|| format!("the spec has no JSON request body for {operation_id}"))?;
        match validator.iter_errors(body).next() {
            None => Ok(()),
            Some(error) => Err(describe(&error)),
        }
    }
}

/// An OpenAPI 3.0 schema as JSON Schema (draft 7): `nullable` becomes `null` among the allowed
/// types (or an `anyOf` with `null` where there is no `type`), component references point into
/// `definitions`, and keywords JSON Schema does not have are dropped.
///
/// Public so that tools checking documents against the same spec (the workspace's xtask, a
/// user's own tests) translate it the same way.
pub fn to_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match key.as_str() {
                    "nullable" | "example" | "examples" | "xml" | "externalDocs"
                    | "discriminator" | "readOnly" | "writeOnly" | "deprecated" => {}
                    "$ref" => {
                        let target = value
                            .as_str()
                            .unwrap_or_default()
                            .replace("#/components/schemas/", "#/definitions/");
                        out.insert(key.clone(), Value::String(target));
                    }
                    "properties" => {
                        let properties = value
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(name, property)| (name.clone(), to_json_schema(property)))
                            .collect();
                        out.insert(key.clone(), Value::Object(properties));
                    }
                    _ => {
                        out.insert(key.clone(), to_json_schema(value));
                    }
                }
            }
            if map.get("nullable") != Some(&Value::Bool(true)) {
                return Value::Object(out);
            }
            match out.get("type").cloned() {
                Some(Value::String(kind)) => {
                    out.insert("type".into(), json!([kind, "null"]));
                    if let Some(Value::Array(options)) = out.get_mut("enum") {
                        options.push(Value::Null);
                    }
                    Value::Object(out)
                }
                _ => json!({"anyOf": [Value::Object(out), {"type": "null"}]}),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

/// What a validation error says, in words, naming the field it is about.
fn describe(error: &ValidationError<'_>) -> String {
    let field = field_name(error.instance_path().as_str());
    let value = error.instance();
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            if field == THE_BODY {
                format!("`{name}` is required")
            } else {
                format!("`{field}.{name}` is required")
            }
        }
        ValidationErrorKind::Type { .. } if value.is_null() => {
            format!("`{field}` must not be null")
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(kind) => kind.as_str().to_string(),
                TypeKind::Multiple(kinds) => kinds
                    .iter()
                    .filter(|kind| kind.as_str() != "null")
                    .map(|kind| kind.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            let article = if expected.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            format!("`{field}` must be {article} {expected}")
        }
        ValidationErrorKind::Enum { options } => {
            let names: Vec<String> = options
                .as_array()
                .into_iter()
                .flatten()
                .filter(|option| !option.is_null())
                .map(|option| {
                    option
                        .as_str()
                        .map_or_else(|| option.to_string(), str::to_string)
                })
                .collect();
            format!("`{field}` must be one of: {}", names.join(", "))
        }
        ValidationErrorKind::MaxItems { limit } => format!(
            "`{field}` has {} items; at most {limit} are allowed",
            value.as_array().map_or(0, Vec::len)
        ),
        ValidationErrorKind::MinItems { limit } => format!(
            "`{field}` has {} items; at least {limit} are required",
            value.as_array().map_or(0, Vec::len)
        ),
        ValidationErrorKind::MinLength { limit } => {
            format!("`{field}` must be at least {limit} characters long")
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!("`{field}` must be at most {limit} characters long")
        }
        ValidationErrorKind::Format { format } if format == "email" => {
            format!("`{field}` must be an email address")
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            format!("`{field}` has unknown fields: {}", unexpected.join(", "))
        }
        // A nullable value that is not null and breaks its schema: what the schema says.
        ValidationErrorKind::AnyOf { context } if !value.is_null() => context
            .first()
            .and_then(|branch| branch.first())
            .map_or_else(|| format!("`{field}`: {error}"), describe),
        _ => format!("`{field}`: {error}"),
    }
}

/// How a refusal names the whole body.
const THE_BODY: &str = "the body";

/// A JSON pointer (`/overrides/0/type`) as the vendor's documents name fields
/// (`overrides[0].type`).
fn field_name(pointer: &str) -> String {
    if pointer.is_empty() {
        return THE_BODY.to_string();
    }
    let mut name = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.parse::<usize>().is_ok() {
            name.push_str(&format!("[{segment}]"));
        } else {
            if !name.is_empty() {
                name.push('.');
            }
            name.push_str(&segment);
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch_check(body: Value) -> Result<(), String> {
        Spec::embedded()
            .unwrap()
            .check("patchExperimentOverrides", &body)
    }

    #[test]
    fn a_valid_body_passes() {
        patch_check(json!({"overrides": [{"type": "gate", "id": "g", "groupID": "Test", "environment": null}], "userIDOverrides": []})).unwrap();
    }

    #[test]
    fn each_violation_names_its_field() {
        let cases = [
            (json!([]), "`the body` must be an object"),
            (json!({"userIDOverrides": []}), "`overrides` is required"),
            (
                json!({"overrides": [{"type": "flag", "id": "g", "groupID": "T"}], "userIDOverrides": []}),
                "`overrides[0].type` must be one of: gate, segment",
            ),
            (
                json!({"overrides": [{"type": "gate", "id": 7, "groupID": "T"}], "userIDOverrides": []}),
                "`overrides[0].id` must be a string",
            ),
            (
                json!({"overrides": [{"type": "gate", "id": "g", "groupID": null}], "userIDOverrides": []}),
                "`overrides[0].groupID` must not be null",
            ),
            (
                json!({"overrides": [{"type": "gate", "id": "g", "groupID": "T", "environment": 3}], "userIDOverrides": []}),
                "`overrides[0].environment` must be a string",
            ),
            (
                json!({"overrides": [], "userIDOverrides": [{"groupID": "T", "ids": "a"}]}),
                "`userIDOverrides[0].ids` must be an array",
            ),
            (
                json!({"overrides": [], "userIDOverrides": [{"groupID": "T", "ids": vec!["a"; 1001]}]}),
                "`userIDOverrides[0].ids` has 1001 items; at most 1000 are allowed",
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                patch_check(body.clone()),
                Err(expected.to_string()),
                "{body}"
            );
        }
    }

    #[test]
    fn team_emails_are_checked() {
        let spec = Spec::embedded().unwrap();
        let mut team = json!({
            "name": "n", "members": ["not-an-email"], "admins": [],
            "defaultGateMetrics": [], "defaultExperimentPrimaryMetrics": [],
            "defaultExperimentSecondaryMetrics": [], "defaultHoldoutMetrics": [],
            "changeTeamConfigs": "anyone", "reviewApproval": "anyone", "defaultTargetApplications": []
        });
        assert_eq!(
            spec.check("createTeam", &team),
            Err("`members[0]` must be an email address".into())
        );
        team["members"] = json!(["a@example.com"]);
        spec.check("createTeam", &team).unwrap();
    }

    /// Rules the hand-written checker this replaced never knew, from a test copy of the spec:
    /// the validator enforces whatever the spec says, not a chosen subset.
    #[test]
    fn rules_added_to_the_spec_are_enforced() {
        let mut spec: Value = serde_json::from_str(statsig_console::OPENAPI_JSON).unwrap();
        let conditional = &mut spec["components"]["schemas"]["ConditionalOverride"];
        conditional["additionalProperties"] = json!(false);
        conditional["properties"]["id"]["minLength"] = json!(3);
        conditional["properties"]["id"]["pattern"] = json!("^[a-z_]+$");
        let spec = Spec::from_openapi(&spec).unwrap();
        let body = |conditional: Value| json!({"overrides": [conditional], "userIDOverrides": []});
        assert_eq!(
            spec.check(
                "patchExperimentOverrides",
                &body(json!({"type": "gate", "id": "employees", "groupID": "T", "colour": "red"}))
            ),
            Err("`overrides[0]` has unknown fields: colour".into())
        );
        assert_eq!(
            spec.check(
                "patchExperimentOverrides",
                &body(json!({"type": "gate", "id": "ab", "groupID": "T"}))
            ),
            Err("`overrides[0].id` must be at least 3 characters long".into())
        );
        let refusal = spec
            .check(
                "patchExperimentOverrides",
                &body(json!({"type": "gate", "id": "Not-Snake", "groupID": "T"})),
            )
            .unwrap_err();
        assert!(refusal.starts_with("`overrides[0].id`"), "{refusal}");
        spec.check(
            "patchExperimentOverrides",
            &body(json!({"type": "gate", "id": "employees", "groupID": "T"})),
        )
        .unwrap();
    }

    #[test]
    fn pointers_become_field_names() {
        assert_eq!(field_name(""), "the body");
        assert_eq!(field_name("/overrides/0/type"), "overrides[0].type");
        assert_eq!(
            field_name("/userIDOverrides/2/ids/10"),
            "userIDOverrides[2].ids[10]"
        );
        assert_eq!(field_name("/a~1b/c~0d"), "a/b.c~d");
    }
}
