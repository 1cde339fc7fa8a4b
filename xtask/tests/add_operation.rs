//! Adding an operation to the spec, as a maintainer would, needs no Rust edit for the client
//! to send and retry it right: a copy of the library with Get Experiment Overrides added to
//! its spec (`x-idempotent: true`) is generated, checked and compiled in a scratch workspace,
//! and a scratch program built against it prints the generated operation table and calls the
//! new operation through `Client::raw` against a local server that fails once with 503.
//! The same copy with `x-idempotent: false` sends it once; without `x-idempotent` the build
//! fails naming the spec and the operation.
//!
//! The scratch workspace builds in `target/scratch-add-operation`, which later runs reuse.

mod common;

use std::path::Path;
use std::process::Command;

use common::{copy_dir, repo};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The vendor's Get Experiment Overrides, as a maintainer adds it to the path item the
/// partial update already has.
const GET_OPERATION: &str = r##"    get:
      operationId: getExperimentOverrides
      # Reading changes nothing: safe to repeat.
      x-idempotent: true
      tags:
        - Experiments
      summary: Get Experiment Overrides
      description: Reads an experiment's conditional and user-ID overrides.
      security:
        - STATSIG-API-KEY: []
      parameters:
        - name: id
          in: path
          required: true
          description: The experiment's id (its name in the Console).
          schema:
            type: string
          example: checkout_flow
      responses:
        "200":
          description: The experiment's overrides.
          content:
            application/json:
              schema:
                $ref: "#/components/schemas/ExperimentOverridesResponse"
              example:
                message: Experiment overrides read successfully.
                data:
                  overrides: []
                  userIDOverrides:
                    - groupID: Test
                      ids:
                        - user_1842
        "401":
          $ref: "#/components/responses/Unauthorized"
        "429":
          $ref: "#/components/responses/TooManyRequests"
"##;

const PATH_ITEM: &str = "  /console/v1/experiments/{id}/overrides:\n";

/// The program built against the copied library: the operation table, then one call of the
/// new operation through the generated client.
const PROBE_MAIN: &str = r#"use statsig_console::{Client, RetryPolicy};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base_url = std::env::args().nth(1).ok_or("usage: probe BASE_URL")?;
    for operation in statsig_console::operations() {
        println!(
            "operation {} {} {} {} idempotent={}",
            operation.operation_id(),
            operation.method(),
            operation.path_template(),
            operation.generated_name(),
            operation.is_idempotent()
        );
    }
    let client = Client::builder()
        .api_key("console-scratch-0123456789")
        .base_url(base_url)
        .retry_policy(RetryPolicy::default().initial_backoff(Duration::from_millis(20)))
        .build()?;
    let answer = client
        .raw()
        .get_experiment_overrides()
        .id("checkout_flow")
        .send()
        .await;
    match answer {
        Ok(answer) => println!(
            "answered {} with {} user-ID override entries",
            answer.status(),
            answer.into_inner().data.user_id_overrides.len()
        ),
        Err(error) => println!("failed: {error}"),
    }
    Ok(())
}
"#;

/// The library's manifest for the scratch workspace: its own workspace of the library and the
/// probe, the code generator by absolute path, without the benches and dev-dependencies (the
/// fake Console and the benches are not copied).
fn scratch_manifest(manifest: &str, codegen: &Path) -> String {
    let mut out = String::new();
    let mut keep = true;
    for line in manifest.lines() {
        if line.starts_with('[') {
            keep = !matches!(line.trim(), "[[bench]]" | "[dev-dependencies]");
        }
        if !keep {
            continue;
        }
        let line = if line.starts_with("members = ") {
            "members = [\".\", \"probe\"]".to_string()
        } else {
            line.replace(
                "path = \"codegen\"",
                &format!("path = {:?}", codegen.display().to_string()),
            )
        };
        out.push_str(&line);
        out.push('\n');
    }
    assert!(out.contains("members = [\".\", \"probe\"]"), "{out}");
    assert!(
        out.contains(&codegen.display().to_string()),
        "the codegen dependency moved: {out}"
    );
    out
}

/// The library (manifest, build script, `src/`, `spec/`, lockfile) and the probe, in `dir`.
fn scratch_workspace(dir: &Path) {
    let repo = repo();
    let manifest = std::fs::read_to_string(repo.join("Cargo.toml")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        scratch_manifest(&manifest, &repo.join("codegen")),
    )
    .unwrap();
    for file in ["build.rs", "Cargo.lock", "README.md"] {
        std::fs::copy(repo.join(file), dir.join(file)).unwrap();
    }
    copy_dir(&repo.join("src"), &dir.join("src"));
    copy_dir(&repo.join("spec"), &dir.join("spec"));
    std::fs::create_dir_all(dir.join("probe/src")).unwrap();
    std::fs::write(
        dir.join("probe/Cargo.toml"),
        "[package]\nname = \"probe\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\n\
         statsig-console = { path = \"..\", default-features = false, features = [\"codegen\"] }\n\
         tokio = { version = \"1.47\", features = [\"rt\", \"macros\"] }\n",
    )
    .unwrap();
    std::fs::write(dir.join("probe/src/main.rs"), PROBE_MAIN).unwrap();
}

fn edit(dir: &Path, from: &str, to: &str) {
    let path = dir.join("spec/openapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "the spec does not contain {from:?}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// Runs a command; returns (success, stdout + stderr).
fn run(command: &mut Command) -> (bool, String) {
    let output = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn xtask(dir: &Path, command: &str) -> (bool, String) {
    let (code, out) = common::xtask(dir, &[command]);
    (code == 0, out)
}

/// Builds and runs the probe against `base_url` (no `--locked`: the copied lockfile loses the
/// fake Console, the CLI and the xtask, and gains the probe; every version stays as locked).
fn cargo_run_probe(dir: &Path, base_url: &str) -> (bool, String) {
    run(Command::new(env!("CARGO"))
        .current_dir(dir)
        .env(
            "CARGO_TARGET_DIR",
            repo().join("target/scratch-add-operation"),
        )
        .env_remove("RUSTFLAGS")
        .args(["run", "--offline", "--quiet", "--package", "probe", "--"])
        .arg(base_url))
}

/// A server that fails the first Get Experiment Overrides with 503 and answers the next.
async fn flaky_console() -> MockServer {
    let server = MockServer::start().await;
    let overrides = "/console/v1/experiments/checkout_flow/overrides";
    Mock::given(method("GET"))
        .and(path(overrides))
        .respond_with(
            ResponseTemplate::new(503)
                .set_body_string(r#"{"status":503,"message":"Service Unavailable"}"#),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(overrides))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"message":"Experiment overrides read successfully.","data":{"overrides":[],"userIDOverrides":[{"groupID":"Test","ids":["user_1842"]}]}}"#,
        ))
        .mount(&server)
        .await;
    server
}

/// Runs the probe against a fresh [`flaky_console`]: (its output, the requests the server got).
async fn probe_against_flaky_console(dir: &Path) -> (String, usize) {
    let server = flaky_console().await;
    let (ran, out) = tokio::task::spawn_blocking({
        let (dir, url) = (dir.to_path_buf(), server.uri());
        move || cargo_run_probe(&dir, &url)
    })
    .await
    .unwrap();
    assert!(ran, "{out}");
    let received = server.received_requests().await.unwrap_or_default().len();
    (out, received)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operation_added_to_the_spec_is_generated_classified_and_retried_without_rust_edits() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    scratch_workspace(dir);
    edit(dir, PATH_ITEM, &format!("{PATH_ITEM}{GET_OPERATION}"));

    // The maintainer's steps: generate, then check (the snapshot is fresh, the new
    // operation's example validates, it declares x-idempotent).
    let (generated, out) = xtask(dir, "generate");
    assert!(generated, "{out}");
    assert!(out.contains("wrote spec/generated/client.rs"), "{out}");
    let snapshot = std::fs::read_to_string(dir.join("spec/generated/client.rs")).unwrap();
    assert!(snapshot.contains("pub fn get_experiment_overrides(&self)"));
    let (checked, out) = xtask(dir, "check");
    assert!(checked, "{out}");

    // Idempotent: the scratch program lists it so, and its 503 is retried.
    let (out, received) = probe_against_flaky_console(dir).await;
    assert!(
        out.contains("operation getExperimentOverrides GET /console/v1/experiments/{id}/overrides get_experiment_overrides idempotent=true"),
        "{out}"
    );
    assert!(
        out.contains("operation patchExperimentOverrides PATCH /console/v1/experiments/{id}/overrides patch_experiment_overrides idempotent=true"),
        "{out}"
    );
    assert!(
        out.contains(
            "operation createTeam POST /console/v1/users/teams create_team idempotent=false"
        ),
        "{out}"
    );
    assert!(
        out.contains("answered 200 OK with 1 user-ID override entries"),
        "{out}"
    );
    assert_eq!(received, 2, "a 503 and its retry");

    // Declared not idempotent, the same 503 is returned after one attempt.
    edit(
        dir,
        "      x-idempotent: true\n      tags:\n        - Experiments\n      summary: Get Experiment Overrides",
        "      x-idempotent: false\n      tags:\n        - Experiments\n      summary: Get Experiment Overrides",
    );
    let (out, received) = probe_against_flaky_console(dir).await;
    assert!(
        out.contains("getExperimentOverrides GET /console/v1/experiments/{id}/overrides get_experiment_overrides idempotent=false"),
        "{out}"
    );
    assert!(out.contains("failed: "), "{out}");
    assert_eq!(received, 1, "no retry");

    // Undeclared: the build fails, naming the spec file and the operation.
    edit(
        dir,
        "      x-idempotent: false\n      tags:\n        - Experiments\n      summary: Get Experiment Overrides",
        "      tags:\n        - Experiments\n      summary: Get Experiment Overrides",
    );
    let (ran, out) = cargo_run_probe(dir, "http://127.0.0.1:9");
    assert!(!ran, "{out}");
    assert!(
        out.contains("statsig-console's build script failed: spec/openapi.yaml: operation `getExperimentOverrides` (GET /console/v1/experiments/{id}/overrides) has no `x-idempotent`"),
        "{out}"
    );
}
