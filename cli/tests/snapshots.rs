//! What people read: the text each command prints on success, in a dry run and for each kind
//! of failure, pinned by snapshots (`cli/tests/snapshots/`), so that any change to it shows in
//! review. Update them with `INSTA_UPDATE=always cargo test -p statsig-console-cli --test
//! snapshots` (or `cargo insta review`) and read the diff.

mod common;

use std::process::Output;

use common::*;
use statsig_console_mock::{Fault, MockConsole, MockOperation};

/// What the binary wrote, stdout then stderr, with the fake's port and temporary paths
/// replaced by placeholders.
fn shown(console: &MockConsole, output: &Output, temporary: &[&std::path::Path]) -> String {
    let mut text = format!(
        "exit code: {}\n--- stdout\n{}--- stderr\n{}",
        code(output),
        stdout(output),
        stderr(output)
    );
    text = text.replace(&console.base_url(), "http://127.0.0.1:[PORT]");
    for path in temporary {
        text = text.replace(&path.display().to_string(), "[TEMPORARY FILE]");
    }
    text
}

const OVERRIDES_YAML: &str = "\
overrides:
  - type: gate
    id: employees_only
    groupID: Test
userIDOverrides:
  - groupID: Control
    ids: [user_1, user_2, user_1]
";

#[tokio::test]
async fn successes() {
    let console = fake().await;
    let one = run(
        &console,
        &[
            "overrides",
            "add",
            EXPERIMENT,
            "--group",
            "Test",
            "--ids",
            "u1",
        ],
    )
    .await;
    insta::assert_snapshot!("overrides_add_one_id", shown(&console, &one, &[]));
    let file = ids_file(2500);
    let many = run(&console, &add_ids_file(path(file.path()), &["--quiet"])).await;
    insta::assert_snapshot!("overrides_add_an_ids_file", shown(&console, &many, &[]));
    let repeated = run(
        &console,
        &[
            "overrides",
            "add",
            EXPERIMENT,
            "--group",
            "Control",
            "--ids",
            "u7,u8,u7,u8,u9",
        ],
    )
    .await;
    insta::assert_snapshot!(
        "overrides_add_repeated_ids",
        shown(&console, &repeated, &[])
    );
    let (_dir, yaml) = file_with("overrides.yaml", OVERRIDES_YAML);
    let applied = run(
        &console,
        &["overrides", "apply", EXPERIMENT, "--file", path(&yaml)],
    )
    .await;
    insta::assert_snapshot!("overrides_apply", shown(&console, &applied, &[]));
    let team = run(
        &console,
        &[
            "teams",
            "create",
            "--name",
            "Checkout",
            "--member",
            "ana@example.com",
            "--admin",
            "ana@example.com",
        ],
    )
    .await;
    insta::assert_snapshot!("teams_create", shown(&console, &team, &[]));
}

#[tokio::test]
async fn dry_runs() {
    let console = fake().await;
    let file = ids_file(2500);
    let add = run_with(
        &console,
        &add_ids_file(path(file.path()), &["--dry-run"]),
        None,
        None,
    )
    .await;
    insta::assert_snapshot!("dry_run_overrides_add", shown(&console, &add, &[]));
    let (_dir, yaml) = file_with("overrides.yaml", OVERRIDES_YAML);
    let apply = run_with(
        &console,
        &[
            "overrides",
            "apply",
            EXPERIMENT,
            "--file",
            path(&yaml),
            "--dry-run",
        ],
        None,
        None,
    )
    .await;
    insta::assert_snapshot!("dry_run_overrides_apply", shown(&console, &apply, &[]));
    let team = run_with(
        &console,
        &[
            "teams",
            "create",
            "--name",
            "Checkout",
            "--member",
            "ana@example.com",
            "--dry-run",
        ],
        None,
        None,
    )
    .await;
    insta::assert_snapshot!("dry_run_teams_create", shown(&console, &team, &[]));
    assert!(console.journal().is_empty());
}

#[tokio::test]
async fn failures() {
    let console = fake().await;
    let add = [
        "overrides",
        "add",
        EXPERIMENT,
        "--group",
        "Test",
        "--ids",
        "u1",
    ];
    let add_once = [add.as_slice(), &["--no-retry"]].concat();
    let no_key = run_with(&console, &add, None, None).await;
    insta::assert_snapshot!("failure_no_key", shown(&console, &no_key, &[]));
    let (_dir, hidden) = file_with("ids.txt", "u1\nu\u{200b}2\n");
    let invisible = run(&console, &add_ids_file(path(&hidden), &[])).await;
    insta::assert_snapshot!(
        "failure_invisible_character",
        shown(&console, &invisible, &[&hidden])
    );
    let (_dir, broken) = file_with("overrides.yaml", "overrides:\n  - type: gate\n    id: g\n");
    let schema = run(
        &console,
        &["overrides", "apply", EXPERIMENT, "--file", path(&broken)],
    )
    .await;
    insta::assert_snapshot!(
        "failure_document_breaks_its_schema",
        shown(&console, &schema, &[&broken])
    );
    let wrong_key = run_with(&console, &add, Some("console-not-this-one"), None).await;
    insta::assert_snapshot!("failure_unauthorized", shown(&console, &wrong_key, &[]));
    let missing = run(
        &console,
        &[
            "overrides",
            "add",
            "no_such_experiment",
            "--group",
            "Test",
            "--ids",
            "u1",
        ],
    )
    .await;
    insta::assert_snapshot!("failure_not_found", shown(&console, &missing, &[]));
    console.inject(Fault::status(429, "Too many requests.").times(1));
    let throttled = run(&console, &add_once).await;
    insta::assert_snapshot!("failure_rate_limited", shown(&console, &throttled, &[]));
    console.inject(Fault::status(500, "Internal error.").times(1));
    let server = run(&console, &add_once).await;
    insta::assert_snapshot!("failure_server_error", shown(&console, &server, &[]));
    console.inject(
        Fault::status(404, "Experiment checkout_flow not found.")
            .on(MockOperation::PatchExperimentOverrides)
            .after(2)
            .times(100),
    );
    let file = ids_file(5500);
    let partial = run(&console, &add_ids_file(path(file.path()), &["--quiet"])).await;
    insta::assert_snapshot!("failure_partially_applied", shown(&console, &partial, &[]));
    let refused = run(&console, &["overrides", "add", EXPERIMENT, "--ids", "u1"]).await;
    insta::assert_snapshot!("failure_command_line", shown(&console, &refused, &[]));
}

#[tokio::test]
async fn no_server_to_answer() {
    // A port nothing listens on: the fake is stopped, its port kept for the message.
    let console = fake().await;
    let closed = MockConsole::builder().start().await.unwrap();
    let address = closed.base_url();
    closed.shutdown().await;
    let output = assert_cmd::Command::cargo_bin("statsig-console")
        .unwrap()
        .args([
            "overrides",
            "add",
            EXPERIMENT,
            "--group",
            "Test",
            "--ids",
            "u1",
            "--no-retry",
            "--timeout",
            "2",
        ])
        .env("STATSIG_CONSOLE_BASE_URL", &address)
        .env("STATSIG_CONSOLE_API_KEY", KEY)
        .output()
        .unwrap();
    let text = shown(&console, &output, &[]).replace(&address, "http://127.0.0.1:[PORT]");
    insta::assert_snapshot!("failure_transport", text);
}

#[test]
fn help() {
    let output = assert_cmd::Command::cargo_bin("statsig-console")
        .unwrap()
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    insta::assert_snapshot!("help", stdout(&output));
}

#[test]
fn mock_serve_says_where_it_listens_and_how_much_it_served() {
    use std::io::BufRead;
    let binary = assert_cmd::cargo::cargo_bin("statsig-console");
    let mut server = std::process::Command::new(binary)
        .args(["mock", "serve", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = std::io::BufReader::new(server.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .take(3)
        .collect();
    let base_url = lines
        .iter()
        .find_map(|line| line.strip_prefix("STATSIG_CONSOLE_BASE_URL="))
        .expect("the fake prints its URL")
        .to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let output = server.wait_with_output().unwrap();
    let text = format!(
        "exit code: {}\n--- stdout\n{}\n--- stderr\n{}",
        code(&output),
        lines.join("\n"),
        stderr(&output)
    )
    .replace(&base_url, "http://127.0.0.1:[PORT]");
    insta::assert_snapshot!("mock_serve", text);
}
