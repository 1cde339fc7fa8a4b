//! Checks request bodies against the schemas in `spec/openapi.yaml` (embedded at build time),
//! so the fake accepts exactly what the spec allows and names the field when it refuses.

use serde_json::Value;

use crate::validate::is_email_address;

/// The spec as JSON, written by build.rs from `spec/openapi.yaml`.
const SPEC_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The parsed spec, with lookups of request schemas by operation id.
pub(crate) struct Spec {
    root: Value,
}

impl Spec {
    pub(crate) fn embedded() -> Result<Spec, String> {
        let root = serde_json::from_str(SPEC_JSON)
            .map_err(|e| format!("the embedded spec is not JSON: {e}"))?;
        Ok(Spec { root })
    }

    /// The JSON schema of `operation_id`'s request body.
    pub(crate) fn request_schema(&self, operation_id: &str) -> Result<&Value, String> {
        let paths = self.root["paths"]
            .as_object()
            .ok_or("the spec has no paths")?;
        paths
            .values()
            .filter_map(Value::as_object)
            .flat_map(|item| item.values())
            .find(|operation| operation["operationId"] == operation_id)
            .and_then(|operation| {
                operation.pointer("/requestBody/content/application~1json/schema")
            })
            .ok_or_else(|| format!("the spec has no JSON request body for {operation_id}"))
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> Result<&'a Value, String> {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let target = reference
                    .strip_prefix('#')
                    .and_then(|pointer| self.root.pointer(pointer))
                    .ok_or_else(|| format!("unresolvable $ref {reference}"))?;
                self.resolve(target)
            }
            None => Ok(schema),
        }
    }

    /// `Ok` when `value` satisfies `schema`; otherwise what is wrong, naming the field at `at`.
    pub(crate) fn check(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let schema = self.resolve(schema)?;
        let field = if at.is_empty() { "the body" } else { at };
        if value.is_null() {
            return if schema["nullable"] == true {
                Ok(())
            } else {
                Err(format!("`{field}` must not be null"))
            };
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            let names: Vec<String> = options
                .iter()
                .map(|o| o.as_str().map_or_else(|| o.to_string(), str::to_string))
                .collect();
            return Err(format!("`{field}` must be one of: {}", names.join(", ")));
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("object") => self.check_object(schema, value, at, field),
            Some("array") => self.check_array(schema, value, at, field),
            Some("string") => check_string(schema, value, field),
            Some("integer") => match value.as_i64().or_else(|| value.as_u64().map(|_| i64::MAX)) {
                Some(n) => check_bounds(schema, n as f64, field),
                None => Err(format!("`{field}` must be an integer")),
            },
            Some("number") => match value.as_f64() {
                Some(n) => check_bounds(schema, n, field),
                None => Err(format!("`{field}` must be a number")),
            },
            Some("boolean") if value.is_boolean() => Ok(()),
            Some("boolean") => Err(format!("`{field}` must be a boolean")),
            Some(other) => Err(format!(
                "the spec uses unsupported type `{other}` at `{field}`"
            )),
            None => Ok(()),
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        field: &str,
    ) -> Result<(), String> {
        let Some(object) = value.as_object() else {
            return Err(format!("`{field}` must be an object"));
        };
        for name in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                return Err(format!("`{}` is required", join(at, name)));
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            for (name, property_schema) in properties {
                if let Some(property) = object.get(name) {
                    self.check(property_schema, property, &join(at, name))?;
                }
            }
        }
        Ok(())
    }

    fn check_array(
        &self,
        schema: &Value,
        value: &Value,
        at: &str,
        field: &str,
    ) -> Result<(), String> {
        let Some(items) = value.as_array() else {
            return Err(format!("`{field}` must be an array"));
        };
        if let Some(max) = schema["maxItems"].as_u64()
            && items.len() as u64 > max
        {
            return Err(format!(
                "`{field}` has {} items; at most {max} are allowed",
                items.len()
            ));
        }
        if let Some(min) = schema["minItems"].as_u64()
            && (items.len() as u64) < min
        {
            return Err(format!(
                "`{field}` has {} items; at least {min} are required",
                items.len()
            ));
        }
        if let Some(item_schema) = schema.get("items") {
            for (index, item) in items.iter().enumerate() {
                self.check(item_schema, item, &format!("{at}[{index}]"))?;
            }
        }
        Ok(())
    }
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

fn check_string(schema: &Value, value: &Value, field: &str) -> Result<(), String> {
    let Some(text) = value.as_str() else {
        return Err(format!("`{field}` must be a string"));
    };
    let length = text.chars().count() as u64;
    if let Some(min) = schema["minLength"].as_u64()
        && length < min
    {
        return Err(format!("`{field}` must be at least {min} characters long"));
    }
    if let Some(max) = schema["maxLength"].as_u64()
        && length > max
    {
        return Err(format!("`{field}` must be at most {max} characters long"));
    }
    if schema["format"] == "email" && !is_email_address(text) {
        return Err(format!("`{field}` must be an email address"));
    }
    Ok(())
}

fn check_bounds(schema: &Value, n: f64, field: &str) -> Result<(), String> {
    if let Some(min) = schema["minimum"].as_f64()
        && n < min
    {
        return Err(format!("`{field}` must be at least {min}"));
    }
    if let Some(max) = schema["maximum"].as_f64()
        && n > max
    {
        return Err(format!("`{field}` must be at most {max}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch_check(body: Value) -> Result<(), String> {
        let spec = Spec::embedded().unwrap();
        let schema = spec
            .request_schema("patchExperimentOverrides")
            .unwrap()
            .clone();
        spec.check(&schema, &body, "")
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
        let schema = spec.request_schema("createTeam").unwrap().clone();
        let mut team = json!({
            "name": "n", "members": ["not-an-email"], "admins": [],
            "defaultGateMetrics": [], "defaultExperimentPrimaryMetrics": [],
            "defaultExperimentSecondaryMetrics": [], "defaultHoldoutMetrics": [],
            "changeTeamConfigs": "anyone", "reviewApproval": "anyone", "defaultTargetApplications": []
        });
        assert_eq!(
            spec.check(&schema, &team, ""),
            Err("`members[0]` must be an email address".into())
        );
        team["members"] = json!(["a@example.com"]);
        spec.check(&schema, &team, "").unwrap();
    }
}
