//! Every derived artifact: those of the spec, rendered by the same code build.rs uses, and the
//! command-line tool's man pages, rendered from the command line its binary parses.

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

/// Where the man pages go.
const MAN_DIR: &str = "cli/man";

/// Every artifact with its fresh content: the table's, then one man page per command (the
/// tool's, then each subcommand's, `statsig-console-overrides-add.1` and so on).
fn rendered(root: &Path) -> Result<Vec<(String, String)>, String> {
    let mut all = Vec::new();
    for artifact in ARTIFACTS {
        all.push((
            artifact.path.to_string(),
            normalized((artifact.render)(root)?),
        ));
    }
    for (name, page) in man_pages(statsig_console_cli::command())? {
        all.push((format!("{MAN_DIR}/{name}.1"), normalized(page)));
    }
    Ok(all)
}

/// The man page of `command` and of each of its subcommands, by page name.
fn man_pages(command: clap::Command) -> Result<Vec<(String, String)>, String> {
    let mut command = command.disable_help_subcommand(true);
    // Built, so that each subcommand's page lists the global options it takes too.
    command.build();
    let mut pages = Vec::new();
    collect_pages(&command, command.get_name().to_string(), &mut pages)?;
    Ok(pages)
}

fn collect_pages(
    command: &clap::Command,
    name: String,
    pages: &mut Vec<(String, String)>,
) -> Result<(), String> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone().name(name.clone()))
        .render(&mut page)
        .map_err(|e| format!("cannot render the man page {name}: {e}"))?;
    let page = String::from_utf8(page).map_err(|e| format!("man page {name}: {e}"))?;
    pages.push((name.clone(), page));
    for sub in command.get_subcommands() {
        collect_pages(sub, format!("{name}-{}", sub.get_name()), pages)?;
    }
    Ok(())
}

/// Man pages in `cli/man` that no command renders any more.
fn orphaned_man_pages(root: &Path, fresh: &[(String, String)]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join(MAN_DIR)) else {
        return Vec::new();
    };
    let mut orphans: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| format!("{MAN_DIR}/{}", entry.file_name().to_string_lossy()))
        .filter(|path| path.ends_with(".1") && !fresh.iter().any(|(fresh, _)| fresh == path))
        .collect();
    orphans.sort();
    orphans
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
    let fresh = rendered(root)?;
    for orphan in orphaned_man_pages(root, &fresh) {
        std::fs::remove_file(root.join(&orphan))
            .map_err(|e| format!("cannot remove {orphan}: {e}"))?;
        report.push(format!("removed {orphan}"));
    }
    for (path, rendered) in fresh {
        let target = root.join(&path);
        if std::fs::read_to_string(&target).ok().as_deref() == Some(rendered.as_str()) {
            report.push(format!("unchanged {path}"));
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&target, rendered)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        report.push(format!("wrote {path}"));
    }
    Ok(report)
}

/// One problem per stale, missing or orphaned artifact, each stale one with a unified diff
/// (committed → fresh).
pub fn check(root: &Path) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    let fresh = rendered(root)?;
    for orphan in orphaned_man_pages(root, &fresh) {
        problems.push(format!("{orphan} is stale: no command renders it any more"));
    }
    for (path, rendered) in fresh {
        let committed = match std::fs::read_to_string(root.join(&path)) {
            Ok(text) => text,
            Err(_) => {
                problems.push(format!("{path} is missing"));
                continue;
            }
        };
        if committed != rendered {
            let diff = similar::TextDiff::from_lines(&committed, &rendered)
                .unified_diff()
                .context_radius(3)
                .header(
                    &format!("a/{path} (committed)"),
                    &format!("b/{path} (generated)"),
                )
                .to_string();
            problems.push(format!("{path} is stale:\n{diff}"));
        }
    }
    Ok(problems)
}
