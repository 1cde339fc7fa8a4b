//! Every example in spec/openapi.yaml deserializes into its generated type and re-serializes
//! to an equal JSON value: the spec's examples and the generated types agree.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use statsig_console::types;

fn spec() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/spec/openapi.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn resolve<'a>(spec: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            resolve(
                spec,
                spec.pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling {reference}")),
            )
        }
        None => node,
    }
}

/// An absent optional field and an explicit `null` mean the same; the types omit both.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

fn round_trip<T: DeserializeOwned + Serialize>(where_: &str, example: &Value) {
    let typed: T = serde_json::from_value(example.clone())
        .unwrap_or_else(|e| panic!("{where_}: example does not decode into its type: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        back,
        without_nulls(example),
        "{where_}: round trip changed the example"
    );
}

fn check(schema_name: &str, where_: &str, example: &Value) {
    match schema_name {
        "ExperimentOverrides" => round_trip::<types::ExperimentOverrides>(where_, example),
        "ExperimentOverridesResponse" => {
            round_trip::<types::ExperimentOverridesResponse>(where_, example)
        }
        "TeamCreate" => round_trip::<types::TeamCreate>(where_, example),
        "CreateTeamResponse" => round_trip::<types::CreateTeamResponse>(where_, example),
        "ErrorResponse" => round_trip::<types::ErrorResponse>(where_, example),
        "ConditionalOverride" => round_trip::<types::ConditionalOverride>(where_, example),
        "UserIdOverride" => round_trip::<types::UserIdOverride>(where_, example),
        "Team" => round_trip::<types::Team>(where_, example),
        "TeamMember" => round_trip::<types::TeamMember>(where_, example),
        "MetricRef" => round_trip::<types::MetricRef>(where_, example),
        "OverrideType" => round_trip::<types::OverrideType>(where_, example),
        "ChangeTeamConfigs" => round_trip::<types::ChangeTeamConfigs>(where_, example),
        "ReviewApproval" => round_trip::<types::ReviewApproval>(where_, example),
        "ChangeTeamConfigsSetting" => {
            round_trip::<types::ChangeTeamConfigsSetting>(where_, example)
        }
        "ReviewApprovalSetting" => round_trip::<types::ReviewApprovalSetting>(where_, example),
        other => panic!("{where_}: no generated type is mapped for schema {other}; add it here"),
    }
}

/// Every (schema name, location, example) in media types and component schemas.
fn examples(spec: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    let mut media_types: Vec<(String, &Value)> = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if let Some(content) = operation.pointer("/requestBody/content") {
                for (mime, media) in content.as_object().unwrap() {
                    media_types.push((format!("{method} {path} request {mime}"), media));
                }
            }
            for (status, response) in operation["responses"].as_object().unwrap() {
                let response = resolve(spec, response);
                for (mime, media) in response["content"].as_object().into_iter().flatten() {
                    media_types.push((format!("{method} {path} {status} {mime}"), media));
                }
            }
        }
    }
    for (where_, media) in media_types {
        let reference = media["schema"]["$ref"]
            .as_str()
            .expect("media schemas are named components");
        let name = reference.rsplit('/').next().unwrap().to_string();
        if let Some(example) = media.get("example") {
            found.push((name.clone(), where_.clone(), example.clone()));
        }
        for (label, example) in media
            .get("examples")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            found.push((
                name.clone(),
                format!("{where_} examples.{label}"),
                resolve(spec, example)["value"].clone(),
            ));
        }
    }
    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        if let Some(example) = schema.get("example") {
            found.push((
                name.clone(),
                format!("components.schemas.{name}"),
                example.clone(),
            ));
        }
    }
    found
}

#[test]
fn every_example_round_trips_through_its_generated_type() {
    let spec = spec();
    let examples = examples(&spec);
    // Two operations, each with a request example, a 200 example and error examples.
    assert!(
        examples.len() >= 9,
        "only {} examples found",
        examples.len()
    );
    for (schema, where_, example) in &examples {
        check(schema, where_, example);
    }
}
