//! Semantic drift between our two operations and the vendor's published OpenAPI document,
//! after resolving `$ref` and merging `allOf` on both sides. Every difference must be listed,
//! with a reason, in `spec/upstream-deviations.yaml`; an entry that no longer differs is stale.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::spec_check::METHODS;

const DEVIATIONS: &str = "spec/upstream-deviations.yaml";
const MAX_DEPTH: usize = 24;

/// One listed, explained difference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Deviation {
    location: String,
    difference: String,
    why: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviationFile {
    deviations: Vec<Deviation>,
}

/// location → (fact → value), and each location's parent.
#[derive(Default)]
struct Facts {
    facts: BTreeMap<String, BTreeMap<&'static str, String>>,
    parents: BTreeMap<String, Option<String>>,
}

impl Facts {
    fn add(
        &mut self,
        location: String,
        parent: Option<&str>,
        facts: BTreeMap<&'static str, String>,
    ) {
        self.parents
            .insert(location.clone(), parent.map(str::to_string));
        self.facts.insert(location, facts);
    }
}

fn resolve<'a>(doc: &'a Value, node: &'a Value, depth: usize) -> &'a Value {
    match node["$ref"].as_str() {
        Some(reference) if depth < MAX_DEPTH => {
            match reference.strip_prefix('#').and_then(|p| doc.pointer(p)) {
                Some(target) => resolve(doc, target, depth + 1),
                None => node,
            }
        }
        _ => node,
    }
}

/// The schema with `$ref`s resolved and `allOf` merged (properties and required united).
fn effective(doc: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(doc, schema, 0);
    let Some(parts) = schema["allOf"].as_array().filter(|_| depth < MAX_DEPTH) else {
        return schema.clone();
    };
    let mut merged = schema.clone();
    if let Value::Object(map) = &mut merged {
        map.remove("allOf");
    }
    for part in parts {
        merged = merge(doc, &merged, &effective(doc, part, depth + 1), depth + 1);
    }
    merged
}

fn merge(doc: &Value, a: &Value, b: &Value, depth: usize) -> Value {
    let (Some(a_map), Some(b_map)) = (a.as_object(), b.as_object()) else {
        return b.clone();
    };
    let mut out: Map<String, Value> = a_map.clone();
    for (key, value) in b_map {
        match (key.as_str(), out.get(key)) {
            ("properties", Some(Value::Object(existing))) => {
                let mut properties = existing.clone();
                for (name, property) in value.as_object().into_iter().flatten() {
                    let combined = match properties.get(name) {
                        Some(old) if depth < MAX_DEPTH => merge(
                            doc,
                            &effective(doc, old, depth + 1),
                            &effective(doc, property, depth + 1),
                            depth + 1,
                        ),
                        _ => property.clone(),
                    };
                    properties.insert(name.clone(), combined);
                }
                out.insert(key.clone(), Value::Object(properties));
            }
            ("required", Some(Value::Array(existing))) => {
                let mut names: Vec<Value> = existing.clone();
                for name in value.as_array().into_iter().flatten() {
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
                out.insert(key.clone(), Value::Array(names));
            }
            ("description", Some(_)) => {}
            (_, None) => {
                out.insert(key.clone(), value.clone());
            }
            // The later part of an allOf refines the earlier one.
            (_, Some(_)) => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

fn schema_facts(schema: &Value, required: bool) -> BTreeMap<&'static str, String> {
    let mut facts = BTreeMap::new();
    let kind = schema["type"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            if schema["properties"].is_object() {
                "object".into()
            } else {
                "unspecified".into()
            }
        });
    facts.insert("type", kind);
    facts.insert("required", required.to_string());
    facts.insert(
        "nullable",
        (schema["nullable"] == Value::Bool(true)).to_string(),
    );
    if let Some(values) = schema["enum"].as_array() {
        let mut values: Vec<String> = values.iter().map(Value::to_string).collect();
        values.sort();
        facts.insert("enum", format!("[{}]", values.join(", ")));
    }
    for key in ["maxItems", "format"] {
        if let Some(value) = schema.get(key) {
            facts.insert(
                if key == "format" {
                    "format"
                } else {
                    "maxItems"
                },
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_string),
            );
        }
    }
    facts
}

fn flatten(
    doc: &Value,
    schema: &Value,
    location: String,
    parent: Option<&str>,
    required: bool,
    facts: &mut Facts,
    depth: usize,
) {
    let schema = effective(doc, schema, 0);
    facts.add(location.clone(), parent, schema_facts(&schema, required));
    if depth >= MAX_DEPTH {
        return;
    }
    let required_names: BTreeSet<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let child = if location.ends_with(' ') {
            format!("{location}{name}")
        } else {
            format!("{location}.{name}")
        };
        flatten(
            doc,
            property,
            child,
            Some(&location),
            required_names.contains(name.as_str()),
            facts,
            depth + 1,
        );
    }
    if let Some(items) = schema.get("items") {
        flatten(
            doc,
            items,
            format!("{location}[]"),
            Some(&location),
            true,
            facts,
            depth + 1,
        );
    }
}

fn operation_facts(doc: &Value, method: &str, path: &str) -> Result<Facts, String> {
    let item = resolve(doc, &doc["paths"][path], 0);
    let operation = item
        .get(method)
        .ok_or_else(|| format!("{} {path} is not in the document", method.to_uppercase()))?;
    let name = format!("{} {path}", method.to_uppercase());
    let mut facts = Facts::default();
    facts.add(name.clone(), None, BTreeMap::new());
    let parameters = item["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(operation["parameters"].as_array().into_iter().flatten());
    for parameter in parameters {
        let parameter = resolve(doc, parameter, 0);
        let location = format!(
            "{name} parameter {} {}",
            parameter["in"].as_str().unwrap_or("?"),
            parameter["name"].as_str().unwrap_or("?")
        );
        let required = parameter["required"] == Value::Bool(true);
        flatten(
            doc,
            &parameter["schema"],
            location,
            Some(&name),
            required,
            &mut facts,
            0,
        );
    }
    let body = resolve(doc, &operation["requestBody"], 0);
    if let Some(schema) = body.pointer("/content/application~1json/schema") {
        let required = body["required"] == Value::Bool(true);
        flatten(
            doc,
            schema,
            format!("{name} request "),
            Some(&name),
            required,
            &mut facts,
            0,
        );
    }
    for (status, response) in operation["responses"].as_object().into_iter().flatten() {
        let response = resolve(doc, response, 0);
        let location = format!("{name} response {status}");
        facts.add(location.clone(), Some(&name), BTreeMap::new());
        for (header, definition) in response["headers"].as_object().into_iter().flatten() {
            let definition = resolve(doc, definition, 0);
            let required = definition["required"] == Value::Bool(true);
            flatten(
                doc,
                &definition["schema"],
                format!("{location} header {header}"),
                Some(&location),
                required,
                &mut facts,
                0,
            );
        }
        if let Some(schema) = response.pointer("/content/application~1json/schema") {
            flatten(
                doc,
                schema,
                format!("{location} body "),
                Some(&location),
                true,
                &mut facts,
                0,
            );
        }
    }
    Ok(facts)
}

/// Every difference as (location, difference), parents before children, and a subtree that
/// exists on one side only reported once, at its top.
fn differences(ours: &Facts, upstream: &Facts) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let locations: BTreeSet<&String> = ours.facts.keys().chain(upstream.facts.keys()).collect();
    for location in locations {
        match (ours.facts.get(location), upstream.facts.get(location)) {
            (Some(_), None) => {
                let parent_only_ours = ours.parents[location]
                    .as_ref()
                    .is_some_and(|p| !upstream.facts.contains_key(p));
                if !parent_only_ours {
                    found.push((location.trim_end().to_string(), "only in ours".to_string()));
                }
            }
            (None, Some(_)) => {
                let parent_only_upstream = upstream.parents[location]
                    .as_ref()
                    .is_some_and(|p| !ours.facts.contains_key(p));
                if !parent_only_upstream {
                    found.push((location.trim_end().to_string(), "only upstream".to_string()));
                }
            }
            (Some(a), Some(b)) => {
                let keys: BTreeSet<&&str> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    let ours_value = a.get(*key).map_or("none", String::as_str);
                    let upstream_value = b.get(*key).map_or("none", String::as_str);
                    if ours_value != upstream_value {
                        found.push((
                            location.trim_end().to_string(),
                            format!("{key}: ours {ours_value}, upstream {upstream_value}"),
                        ));
                    }
                }
            }
            (None, None) => {}
        }
    }
    found
}

/// Where the vendor's document comes from: a file, or an address (the vendor publishes it at
/// `https://api.statsig.com/openapi/20240601.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// A JSON or YAML file.
    File(PathBuf),
    /// An `https://` (or, for local servers, `http://`) address, fetched with a timeout.
    Url { url: String, timeout: Duration },
}

impl Upstream {
    /// An address when `text` starts with `https://` or `http://`, a path otherwise.
    pub fn parse(text: &str, timeout: Duration) -> Self {
        if text.starts_with("https://") || text.starts_with("http://") {
            Upstream::Url {
                url: text.to_string(),
                timeout,
            }
        } else {
            Upstream::File(PathBuf::from(text))
        }
    }

    fn name(&self) -> String {
        match self {
            Upstream::File(path) => path.display().to_string(),
            Upstream::Url { url, .. } => url.clone(),
        }
    }

    fn read(&self) -> Result<Value, String> {
        match self {
            Upstream::File(path) => read_document(path),
            Upstream::Url { url, timeout } => fetch_document(url, *timeout),
        }
    }
}

/// Fetches the document at `url`; every failure says what went wrong and with what address.
fn fetch_document(url: &str, timeout: Duration) -> Result<Value, String> {
    let cannot = |why: String| {
        format!(
            "cannot fetch the vendor's document from {url}: {why} (check the address and the network, or pass a downloaded copy's path)"
        )
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("statsig-console-xtask/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| cannot(e.to_string()))?;
    let response = client.get(url).send().map_err(|e| {
        if e.is_timeout() {
            cannot(format!("no answer within {} s", timeout.as_secs_f64()))
        } else if e.is_connect() {
            cannot(format!("cannot connect ({})", root_cause(&e)))
        } else {
            cannot(root_cause(&e))
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(cannot(format!("the server answered {status}")));
    }
    let text = response.text().map_err(|e| {
        if e.is_timeout() {
            cannot(format!(
                "the body did not arrive within {} s",
                timeout.as_secs_f64()
            ))
        } else {
            cannot(root_cause(&e))
        }
    })?;
    // JSON is YAML too, but the JSON parser's errors are the clearer for the usual case.
    serde_json::from_str(&text)
        .or_else(|_| serde_norway::from_str(&text))
        .map_err(|e| cannot(format!("the answer is neither JSON nor YAML: {e}")))
}

/// The innermost cause of an error: reqwest's own message says only "error sending request".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

fn read_document(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))
    } else {
        serde_norway::from_str(&text).map_err(|e| format!("{}: not YAML: {e}", path.display()))
    }
}

/// Every operation of our spec as (method, path): the ones compared with the vendor's.
fn our_operations(ours: &Value) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for (path, item) in ours["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if item.get(*method).is_some() {
                found.push((*method, path.clone()));
            }
        }
    }
    found
}

/// `Ok(problems)`; `Err` only when a file cannot be read at all.
pub fn check(root: &Path, upstream_source: &Upstream) -> Result<Vec<String>, String> {
    let ours = read_document(&root.join("spec/openapi.yaml"))?;
    let upstream = upstream_source.read()?;
    let upstream_name = upstream_source.name();
    let deviations: DeviationFile = {
        let text = std::fs::read_to_string(root.join(DEVIATIONS))
            .map_err(|e| format!("cannot read {DEVIATIONS}: {e}"))?;
        match serde_norway::from_str(&text) {
            Ok(file) => file,
            Err(e) => return Ok(vec![format!("{DEVIATIONS}: {e}")]),
        }
    };
    let mut problems = Vec::new();
    let mut found = Vec::new();
    for (method, path) in our_operations(&ours) {
        let (method, path) = (method, path.as_str());
        match (
            operation_facts(&ours, method, path),
            operation_facts(&upstream, method, path),
        ) {
            (Ok(a), Ok(b)) => found.extend(differences(&a, &b)),
            (Err(e), _) => problems.push(format!("spec/openapi.yaml: {e}")),
            (_, Err(e)) => problems.push(format!("{upstream_name}: {e}")),
        }
    }
    let listed: BTreeSet<(&str, &str)> = deviations
        .deviations
        .iter()
        .map(|d| (d.location.as_str(), d.difference.as_str()))
        .collect();
    for (location, difference) in &found {
        if !listed.contains(&(location.as_str(), difference.as_str())) {
            problems.push(format!(
                "unlisted difference: {location}: {difference}\n(list it in {DEVIATIONS} with why, or make the spec match the vendor)"
            ));
        }
    }
    let found_set: BTreeSet<(&str, &str)> = found
        .iter()
        .map(|(l, d)| (l.as_str(), d.as_str()))
        .collect();
    for deviation in &deviations.deviations {
        if !found_set.contains(&(deviation.location.as_str(), deviation.difference.as_str())) {
            problems.push(format!(
                "stale entry in {DEVIATIONS}: {}: {} no longer differs",
                deviation.location, deviation.difference
            ));
        }
        if deviation.why.trim().is_empty() {
            problems.push(format!(
                "{DEVIATIONS}: {}: {} has no `why`",
                deviation.location, deviation.difference
            ));
        }
    }
    println!(
        "drift: {} difference(s) from the vendor's document, {} listed in {DEVIATIONS}",
        found.len(),
        deviations.deviations.len()
    );
    Ok(problems)
}

/// All differences, for writing or reviewing the deviations file.
#[cfg(test)]
pub fn report(root: &Path, upstream_path: &Path) -> Vec<(String, String)> {
    let ours = read_document(&root.join("spec/openapi.yaml")).unwrap();
    let upstream = read_document(upstream_path).unwrap();
    our_operations(&ours)
        .iter()
        .flat_map(|(method, path)| {
            differences(
                &operation_facts(&ours, method, path).unwrap(),
                &operation_facts(&upstream, method, path).unwrap(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_of_and_refs_are_resolved_before_comparing() {
        let doc: Value = serde_json::json!({
            "components": {"schemas": {
                "Base": {"type": "object", "properties": {"message": {"type": "string"}, "data": {"type": "object"}}, "required": ["message", "data"]},
                "Payload": {"type": "object", "properties": {"id": {"type": "string", "nullable": true}}, "required": ["id"]}
            }},
            "paths": {"/x": {"post": {"responses": {"200": {"content": {"application/json": {"schema": {
                "allOf": [{"$ref": "#/components/schemas/Base"}, {"properties": {"data": {"$ref": "#/components/schemas/Payload"}}}]
            }}}}}}}}
        });
        let plain: Value = serde_json::json!({
            "paths": {"/x": {"post": {"responses": {"200": {"content": {"application/json": {"schema": {
                "type": "object", "required": ["message", "data"],
                "properties": {"message": {"type": "string"}, "data": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string", "nullable": true}}}}
            }}}}}}}}
        });
        let a = operation_facts(&doc, "post", "/x").unwrap();
        let b = operation_facts(&plain, "post", "/x").unwrap();
        assert_eq!(differences(&a, &b), Vec::<(String, String)>::new());
    }

    #[test]
    #[ignore = "prints the drift report against ../shared/upstream; run by hand when editing the deviations"]
    fn print_report() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let upstream = root.join("../shared/upstream/statsig-console-openapi-20240601.json");
        for (location, difference) in report(&root, &upstream) {
            println!("- location: \"{location}\"\n  difference: \"{difference}\"\n  why: \"\"");
        }
    }
}
