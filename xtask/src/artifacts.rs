//! Every artifact derived from the spec, rendered by the same code build.rs uses.

use std::path::Path;

use statsig_console_codegen::{CodegenOptions, generate_client, spec_json};

const SPEC: &str = "spec/openapi.yaml";

/// A derived file and how to render it from the repository at `root`.
struct Artifact {
    path: &'static str,
    render: fn(&Path) -> Result<String, String>,
}

/// Register new derived artifacts here; `generate` writes and `check` compares them all.
const ARTIFACTS: &[Artifact] = &[
    Artifact {
        path: "spec/openapi.json",
        render: |root| spec_json(&root.join(SPEC)).map_err(|e| e.to_string()),
    },
    Artifact {
        // The library with default features: what users compile.
        path: "spec/generated/client.rs",
        render: |root| {
            generate_client(&root.join(SPEC), CodegenOptions::default()).map_err(|e| e.to_string())
        },
    },
    Artifact {
        // For editors: `# yaml-language-server: $schema=...` in an `overrides apply` file.
        path: "spec/schemas/experiment-overrides.schema.json",
        render: |_| {
            let mut schema = schemars::schema_for!(statsig_console::types::ExperimentOverrides);
            close_override_type(&mut schema)?;
            file_schema(schema)
        },
    },
    Artifact {
        // For editors: a `teams create --file` document.
        path: "spec/schemas/team-create.schema.json",
        render: |_| file_schema(schemars::schema_for!(statsig_console::types::TeamCreate)),
    },
];

/// `OverrideType` is open in the library, so that an answer with a type added later still
/// decodes; a request takes only the known types (the client refuses others before sending),
/// so a file's schema lists them, and an editor completes them.
fn close_override_type(schema: &mut schemars::schema::RootSchema) -> Result<(), String> {
    use statsig_console::types::OverrideType;
    let definition = schema
        .definitions
        .get_mut("OverrideType")
        .ok_or("the ExperimentOverrides schema has no OverrideType definition")?;
    let schemars::schema::Schema::Object(object) = definition else {
        return Err("OverrideType's schema is not an object schema".to_string());
    };
    object.enum_values = Some(
        [OverrideType::Gate, OverrideType::Segment]
            .iter()
            .map(|known| serde_json::Value::from(known.as_str()))
            .collect(),
    );
    Ok(())
}

/// A JSON Schema of one of the library's types (its `schemars` derive), as the command-line
/// tool's file formats are exactly those types.
fn file_schema(schema: schemars::schema::RootSchema) -> Result<String, String> {
    serde_json::to_string_pretty(&schema).map_err(|e| format!("cannot render a file schema: {e}"))
}

/// LF line endings and exactly one trailing newline, on every machine.
fn normalized(text: String) -> String {
    let mut text = text.replace("\r\n", "\n");
    while text.ends_with("\n\n") {
        text.pop();
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

pub fn generate(root: &Path) -> Result<Vec<String>, String> {
    let mut report = Vec::new();
    for artifact in ARTIFACTS {
        let rendered = normalized((artifact.render)(root)?);
        let target = root.join(artifact.path);
        if std::fs::read_to_string(&target).ok().as_deref() == Some(rendered.as_str()) {
            report.push(format!("unchanged {}", artifact.path));
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, rendered)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        report.push(format!("wrote {}", artifact.path));
    }
    Ok(report)
}

/// One problem per stale or missing artifact, each with a unified diff (committed → fresh).
pub fn check(root: &Path) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    for artifact in ARTIFACTS {
        let rendered = normalized((artifact.render)(root)?);
        let committed = match std::fs::read_to_string(root.join(artifact.path)) {
            Ok(text) => text,
            Err(_) => {
                problems.push(format!("{} is missing", artifact.path));
                continue;
            }
        };
        if committed != rendered {
            let diff = similar::TextDiff::from_lines(&committed, &rendered)
                .unified_diff()
                .context_radius(3)
                .header(
                    &format!("a/{} (committed)", artifact.path),
                    &format!("b/{} (from the spec)", artifact.path),
                )
                .to_string();
            problems.push(format!("{} is stale:\n{diff}", artifact.path));
        }
    }
    Ok(problems)
}
