//! Is `spec/openapi.yaml` sound on its own: structure, references, components, examples.

use std::collections::{BTreeSet, VecDeque};
use std::path::Path;

use serde_json::{Map, Value};
use statsig_console_mock::schema::to_json_schema;

const SPEC: &str = "spec/openapi.yaml";
/// The HTTP methods an OpenAPI path item may hold, in its order.
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Reads the spec as JSON values (after checking it parses as OpenAPI 3.0.x).
pub fn load(root: &Path) -> Result<Value, String> {
    load_both(root).map(|(_, spec)| spec)
}

/// The spec as OpenAPI (for the generator's readers) and as JSON values.
pub fn load_both(root: &Path) -> Result<(openapiv3::OpenAPI, Value), String> {
    let path = root.join(SPEC);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{SPEC}: cannot read: {e}"))?;
    let openapi =
        statsig_console_codegen::parse_spec(Path::new(SPEC), &text).map_err(|e| e.to_string())?;
    let spec = serde_norway::from_str(&text).map_err(|e| format!("{SPEC}: not valid YAML: {e}"))?;
    Ok((openapi, spec))
}

pub fn check(root: &Path) -> Vec<String> {
    let (openapi, spec) = match load_both(root) {
        Ok(both) => both,
        Err(problem) => return vec![problem],
    };
    // What every client must read from the spec (`x-idempotent`, `info.x-rate-limits`), by
    // the generator's own reader, so the check and the build refuse the same specs.
    let mut problems: Vec<String> = match statsig_console_codegen::declared::read(&openapi) {
        Ok(_) => Vec::new(),
        Err(problems) => problems
            .into_iter()
            .map(|problem| format!("{SPEC}: {problem}"))
            .collect(),
    };
    check_operations(&spec, &mut problems);
    check_refs(&spec, &spec, "#", &mut problems);
    check_unused_components(&spec, &mut problems);
    check_examples(&spec, &mut problems);
    problems
}

fn operations(spec: &Value) -> Vec<(String, &Value)> {
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            if let Some(operation) = item.get(*method) {
                found.push((format!("{} {path}", method.to_uppercase()), operation));
            }
        }
    }
    found
}

fn check_operations(spec: &Value, problems: &mut Vec<String>) {
    let global_security = spec["security"].as_array().is_some_and(|s| !s.is_empty());
    for (name, operation) in operations(spec) {
        for field in ["operationId", "summary", "description"] {
            if operation[field].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{name}: no `{field}`"));
            }
        }
        if operation["tags"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!("{name}: no `tags`"));
        }
        let own_security = operation["security"].as_array();
        if own_security.is_some_and(Vec::is_empty) || (own_security.is_none() && !global_security) {
            problems.push(format!("{name}: no security requirement"));
        }
    }
}

fn check_refs(spec: &Value, node: &Value, at: &str, problems: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str)
                && resolve_pointer(spec, reference).is_none()
            {
                problems.push(format!("{at}: $ref {reference} does not resolve"));
            }
            for (key, child) in map {
                check_refs(spec, child, &format!("{at}/{key}"), problems);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                check_refs(spec, child, &format!("{at}/{index}"), problems);
            }
        }
        _ => {}
    }
}

fn resolve_pointer<'a>(spec: &'a Value, reference: &str) -> Option<&'a Value> {
    reference
        .strip_prefix('#')
        .and_then(|pointer| spec.pointer(pointer))
}

fn collect_refs(node: &Value, into: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                into.push(reference.to_string());
            }
            map.values().for_each(|child| collect_refs(child, into));
        }
        Value::Array(items) => items.iter().for_each(|child| collect_refs(child, into)),
        _ => {}
    }
}

fn check_unused_components(spec: &Value, problems: &mut Vec<String>) {
    let mut used = BTreeSet::new();
    let mut queue = VecDeque::new();
    // Everything outside `components` is a root of use.
    for (key, value) in spec.as_object().into_iter().flatten() {
        if key != "components" {
            let mut refs = Vec::new();
            collect_refs(value, &mut refs);
            queue.extend(refs);
        }
    }
    while let Some(reference) = queue.pop_front() {
        if used.insert(reference.clone())
            && let Some(target) = resolve_pointer(spec, &reference)
        {
            let mut refs = Vec::new();
            collect_refs(target, &mut refs);
            queue.extend(refs);
        }
    }
    // Security schemes are used by name from security requirements.
    let mut requirements: Vec<&Value> = spec["security"].as_array().into_iter().flatten().collect();
    for (_, operation) in operations(spec) {
        requirements.extend(operation["security"].as_array().into_iter().flatten());
    }
    for requirement in requirements {
        for name in requirement
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k)
        {
            used.insert(format!("#/components/securitySchemes/{name}"));
        }
    }
    for (kind, entries) in spec["components"].as_object().into_iter().flatten() {
        for name in entries.as_object().into_iter().flatten().map(|(k, _)| k) {
            let reference = format!("#/components/{kind}/{name}");
            if !used.contains(&reference) {
                problems.push(format!("components/{kind}/{name} is never used"));
            }
        }
    }
}

fn validate_example(
    spec: &Value,
    schema: &Value,
    example: &Value,
    at: &str,
    problems: &mut Vec<String>,
) {
    let definitions: Map<String, Value> = spec["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| (name.clone(), to_json_schema(s)))
        .collect();
    let mut root = to_json_schema(schema);
    if let Value::Object(map) = &mut root {
        map.insert("definitions".into(), Value::Object(definitions));
    } else {
        problems.push(format!("{at}: the schema is not an object"));
        return;
    }
    let validator = match jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&root)
    {
        Ok(validator) => validator,
        Err(e) => {
            problems.push(format!("{at}: the schema is not valid JSON Schema: {e}"));
            return;
        }
    };
    for error in validator.iter_errors(example) {
        let path = error.instance_path().to_string();
        let path = if path.is_empty() {
            "(root)".to_string()
        } else {
            path
        };
        problems.push(format!(
            "{at}: the example does not match its schema at {path}: {error}"
        ));
    }
}

/// Examples on schemas (any depth), media types, parameters and headers.
fn check_examples(spec: &Value, problems: &mut Vec<String>) {
    for (name, schema) in spec["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
    {
        schema_examples(
            spec,
            schema,
            &format!("components/schemas/{name}"),
            problems,
        );
    }
    for (kind, entries) in spec["components"].as_object().into_iter().flatten() {
        if kind == "schemas" {
            continue;
        }
        for (name, entry) in entries.as_object().into_iter().flatten() {
            holder_examples(spec, entry, &format!("components/{kind}/{name}"), problems);
        }
    }
    for (name, operation) in operations(spec) {
        for (index, parameter) in operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let label = parameter["name"]
                .as_str()
                .map_or_else(|| index.to_string(), str::to_string);
            holder_examples(
                spec,
                parameter,
                &format!("{name} parameter {label}"),
                problems,
            );
        }
        holder_examples(
            spec,
            &operation["requestBody"],
            &format!("{name} request body"),
            problems,
        );
        for (status, response) in operation["responses"].as_object().into_iter().flatten() {
            holder_examples(
                spec,
                response,
                &format!("{name} response {status}"),
                problems,
            );
        }
    }
}

/// Anything that may carry `schema` + `example(s)`, `content`, or `headers` (inline only:
/// referenced components are checked once, where they are defined).
fn holder_examples(spec: &Value, holder: &Value, at: &str, problems: &mut Vec<String>) {
    if holder.get("$ref").is_some() || !holder.is_object() {
        return;
    }
    if let Some(schema) = holder.get("schema") {
        schema_examples(spec, schema, &format!("{at} schema"), problems);
        if let Some(example) = holder.get("example") {
            validate_example(spec, schema, example, &format!("{at} example"), problems);
        }
        for (label, example) in holder["examples"].as_object().into_iter().flatten() {
            let example = if let Some(reference) = example["$ref"].as_str() {
                match resolve_pointer(spec, reference) {
                    Some(target) => target,
                    None => continue,
                }
            } else {
                example
            };
            match example.get("value") {
                Some(value) => validate_example(
                    spec,
                    schema,
                    value,
                    &format!("{at} examples.{label}"),
                    problems,
                ),
                None => problems.push(format!("{at} examples.{label}: no `value`")),
            }
        }
    }
    for (mime, media) in holder["content"].as_object().into_iter().flatten() {
        holder_examples(spec, media, &format!("{at} {mime}"), problems);
    }
    for (name, header) in holder["headers"].as_object().into_iter().flatten() {
        holder_examples(spec, header, &format!("{at} header {name}"), problems);
    }
}

fn schema_examples(spec: &Value, schema: &Value, at: &str, problems: &mut Vec<String>) {
    if schema.get("$ref").is_some() {
        return;
    }
    if let Some(example) = schema.get("example") {
        validate_example(spec, schema, example, &format!("{at} example"), problems);
    }
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        schema_examples(spec, property, &format!("{at}.{name}"), problems);
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = schema.get(key).filter(|c| c.is_object()) {
            schema_examples(spec, child, &format!("{at}.{key}"), problems);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for (index, child) in schema[key].as_array().into_iter().flatten().enumerate() {
            schema_examples(spec, child, &format!("{at}.{key}[{index}]"), problems);
        }
    }
}
