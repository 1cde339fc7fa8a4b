//! The real `statsig-console` binary against a fake Console each test starts on 127.0.0.1.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use statsig_console_mock::{Fault, MockConsole, MockOperation};

mod common;

use common::*;

#[tokio::test]
async fn overrides_add_streams_an_ids_file_into_the_fake() {
    let console = fake().await;
    let file = ids_file(2500);
    let output = run(&console, &add_ids_file(path(file.path()), &[])).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(ids_in(&console, "Test"), 2500);
    assert!(
        stdout(&output).contains("added 2500 ids to group Test"),
        "{}",
        stdout(&output)
    );
    // Not a terminal: plain progress lines, no control characters.
    let err = stderr(&output);
    assert!(err.contains("progress: 2500/2500 ids"), "{err}");
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    assert_eq!(console.journal().len(), 3);
}

#[tokio::test]
async fn ids_can_come_from_standard_input_and_from_the_command_line() {
    let console = fake().await;
    let piped = run_with(
        &console,
        &[
            "overrides",
            "add",
            EXPERIMENT,
            "--group",
            "Control",
            "--ids-file",
            "-",
            "--quiet",
        ],
        Some(KEY),
        Some(b"a\n# comment\n\nb\nc\n".to_vec()),
    )
    .await;
    assert_eq!(code(&piped), 0, "{}", stderr(&piped));
    assert!(stderr(&piped).is_empty(), "--quiet: {}", stderr(&piped));
    let listed = run(
        &console,
        &[
            "overrides",
            "add",
            EXPERIMENT,
            "--group",
            "Test",
            "--ids",
            "d,e",
            "--environment",
            "staging",
        ],
    )
    .await;
    assert_eq!(code(&listed), 0, "{}", stderr(&listed));
    assert_eq!(ids_in(&console, "Control"), 3);
    let state = console.overrides(EXPERIMENT).unwrap();
    let staging = state
        .user_id_overrides
        .iter()
        .find(|e| e.environment.as_deref() == Some("staging"))
        .unwrap();
    assert_eq!(staging.ids, vec!["d", "e"]);
}

const OVERRIDES_YAML: &str = "\
# yaml-language-server: $schema=../spec/schemas/experiment-overrides.schema.json
overrides:
  - type: gate
    id: employees_only
    groupID: Test
userIDOverrides:
  - groupID: Control
    environment: production
    ids: [user_1, user_2, user_3]
";

#[tokio::test]
async fn overrides_apply_takes_yaml_and_json_files() {
    let console = fake().await;
    let (_dir, yaml) = file_with("overrides.yaml", OVERRIDES_YAML);
    let output = run(
        &console,
        &["overrides", "apply", EXPERIMENT, "--file", path(&yaml)],
    )
    .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("applied 1 conditional override and 3 ids"));

    let (_dir2, json) = file_with(
        "more.json",
        r#"{"overrides": [], "userIDOverrides": [{"groupID": "Test", "ids": ["user_9"]}]}"#,
    );
    let output = run(
        &console,
        &["overrides", "apply", EXPERIMENT, "--file", path(&json)],
    )
    .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));

    let state = console.overrides(EXPERIMENT).unwrap();
    assert_eq!(state.overrides.len(), 1);
    assert_eq!(ids_in(&console, "Control"), 3);
    assert_eq!(ids_in(&console, "Test"), 1);
}

#[tokio::test]
async fn teams_are_created_from_a_file_and_from_flags() {
    let console = fake().await;
    let (_dir, team) = file_with(
        "team.yaml",
        "name: Checkout\nmembers: [ana@example.com]\nadmins: [ana@example.com]\n\
         defaultGateMetrics: []\ndefaultExperimentPrimaryMetrics: []\n\
         defaultExperimentSecondaryMetrics: []\ndefaultHoldoutMetrics: []\n\
         changeTeamConfigs: team_only\nreviewApproval: admin_only\ndefaultTargetApplications: []\n",
    );
    let from_file = run(&console, &["teams", "create", "--file", path(&team)]).await;
    assert_eq!(code(&from_file), 0, "{}", stderr(&from_file));
    let from_flags = run(
        &console,
        &[
            "teams",
            "create",
            "--name",
            "Search",
            "--description",
            "Owns search.",
            "--member",
            "li@example.com",
            "--admin",
            "li@example.com",
        ],
    )
    .await;
    assert_eq!(code(&from_flags), 0, "{}", stderr(&from_flags));

    let teams = console.teams();
    assert_eq!(teams.len(), 2);
    assert_eq!(
        stdout(&from_file).trim(),
        teams[0].id,
        "prints the new team's id"
    );
    assert_eq!(stdout(&from_flags).trim(), teams[1].id);
    assert_eq!(teams[1].name, "Search");
    assert_eq!(teams[1].members[0].email, "li@example.com");
}

#[tokio::test]
async fn a_dry_run_sends_nothing_and_needs_no_key() {
    let console = fake().await;
    let file = ids_file(2500);
    let output = run_with(
        &console,
        &add_ids_file(path(file.path()), &["--dry-run"]),
        None,
        None,
    )
    .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(text.matches("PATCH ").count(), 3, "{text}");
    assert!(
        text.contains("1000 ids") && text.contains("500 ids"),
        "{text}"
    );
    assert!(text.contains("nothing was sent"));

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
            "--output",
            "json",
        ],
        None,
        None,
    )
    .await;
    assert_eq!(code(&team), 0, "{}", stderr(&team));
    let document: Value = serde_json::from_str(&stdout(&team)).unwrap();
    assert_eq!(document["dry_run"], true);
    assert_eq!(document["requests"][0]["method"], "POST");

    assert!(console.journal().is_empty(), "a dry run sends nothing");
}

#[tokio::test]
async fn failures_exit_with_the_documented_codes() {
    let console = fake().await;
    let wrong_key = run_with(
        &console,
        &[
            "overrides",
            "add",
            EXPERIMENT,
            "--group",
            "Test",
            "--ids",
            "a",
        ],
        Some("console-not-a-key-the-fake-knows-000000"),
        None,
    )
    .await;
    assert_eq!(code(&wrong_key), 3, "{}", stderr(&wrong_key));

    let unknown = run(
        &console,
        &[
            "overrides",
            "add",
            "no_such_experiment",
            "--group",
            "Test",
            "--ids",
            "a",
        ],
    )
    .await;
    assert_eq!(code(&unknown), 4, "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("not found (404)"),
        "{}",
        stderr(&unknown)
    );

    let no_key = run_with(
        &console,
        &[
            "overrides",
            "add",
            EXPERIMENT,
            "--group",
            "Test",
            "--ids",
            "a",
        ],
        None,
        None,
    )
    .await;
    assert_eq!(code(&no_key), 2, "{}", stderr(&no_key));
}

#[tokio::test]
async fn a_fault_from_the_third_request_on_exits_6_with_the_applied_count() {
    let console = fake().await;
    console.inject(
        Fault::status(404, "Experiment checkout_flow not found.")
            .on(MockOperation::PatchExperimentOverrides)
            .after(2)
            .times(1000),
    );
    let file = ids_file(5000);
    let output = run(
        &console,
        &add_ids_file(path(file.path()), &["--output", "json"]),
    )
    .await;
    assert_eq!(code(&output), 6, "{}", stderr(&output));
    let document: Value = serde_json::from_str(&stdout(&output)).expect("one JSON document");
    assert_eq!(document["ok"], false);
    assert_eq!(document["error"]["kind"], "partially_applied");
    assert_eq!(document["error"]["applied"]["requests"], 2);
    assert_eq!(document["error"]["applied"]["ids"], 2000);
    assert_eq!(document["error"]["status"], 404);
    let message = document["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("2 requests of the update were applied"),
        "{message}"
    );
    assert!(
        message.contains("running the same update again is safe"),
        "{message}"
    );
    assert_eq!(ids_in(&console, "Test"), 2000);
}

#[tokio::test]
async fn json_output_is_one_document_in_success_and_in_failure() {
    let console = fake().await;
    let ok = run(
        &console,
        &[
            "overrides",
            "add",
            EXPERIMENT,
            "--group",
            "Test",
            "--ids",
            "a,b",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(code(&ok), 0);
    let document: Value = serde_json::from_str(&stdout(&ok)).expect("one JSON document");
    assert_eq!(document["ok"], true);
    assert_eq!(document["ids"], 2);
    assert_eq!(document["overrides"]["userIDOverrides"][0]["ids"][1], "b");

    let failed = run(
        &console,
        &[
            "overrides",
            "add",
            "nope",
            "--group",
            "Test",
            "--ids",
            "a",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(code(&failed), 4);
    let document: Value = serde_json::from_str(&stdout(&failed)).expect("one JSON document");
    assert_eq!(document["ok"], false);
    assert_eq!(document["exit_code"], 4);
    assert_eq!(document["error"]["kind"], "not_found");

    let usage = run(
        &console,
        &["overrides", "add", EXPERIMENT, "--output", "json"],
    )
    .await;
    assert_eq!(code(&usage), 2);
    let document: Value = serde_json::from_str(&stdout(&usage)).expect("one JSON document");
    assert_eq!(document["error"]["kind"], "usage");
}

#[tokio::test]
async fn the_key_never_appears_in_any_output_at_any_verbosity() {
    let console = fake().await;
    let (_dir, key_file) = file_with("key", &format!("{KEY}\n"));
    for verbosity in [None, Some("-v"), Some("-vv"), Some("-vvv")] {
        for experiment in [EXPERIMENT, "no_such_experiment"] {
            let mut args = vec![
                "overrides",
                "add",
                experiment,
                "--group",
                "Test",
                "--ids",
                "a",
            ];
            args.extend(["--api-key-file", path(&key_file)]);
            args.extend(verbosity);
            let output = run_with(&console, &args, None, None).await;
            let everything = format!("{}{}", stdout(&output), stderr(&output));
            assert!(
                !everything.contains(KEY) && !everything.contains("CLITESTKEY"),
                "{verbosity:?} {experiment}: the key leaked"
            );
            if verbosity == Some("-vvv") && experiment == EXPERIMENT {
                assert!(
                    everything.contains("statsig_console"),
                    "-vvv logs: {everything}"
                );
            }
        }
    }
}

#[tokio::test]
async fn input_errors_exit_2_with_one_line_and_send_nothing() {
    let console = fake().await;
    let (_dir, broken) = file_with(
        "broken.yaml",
        "overrides: []\nuserIDOverrides:\n  - ids: [a]\n",
    );
    let file = ids_file(3);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "overrides",
                "apply",
                EXPERIMENT,
                "--file",
                "/nonexistent/overrides.yaml",
            ],
            "cannot open",
        ),
        (
            vec!["overrides", "apply", EXPERIMENT, "--file", path(&broken)],
            "userIDOverrides[0]",
        ),
        (
            vec!["overrides", "add", EXPERIMENT, "--group", "", "--ids", "a"],
            "--group",
        ),
        (
            vec![
                "overrides",
                "add",
                EXPERIMENT,
                "--group",
                "Test",
                "--ids",
                "a",
                "--ids-file",
                path(file.path()),
            ],
            "cannot be used with",
        ),
        (
            vec!["teams", "create", "--name", "X", "--member", "not-an-email"],
            "members[0]",
        ),
    ];
    for (args, expected) in cases {
        let output = run(&console, &args).await;
        let err = stderr(&output);
        assert_eq!(code(&output), 2, "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line: {err}"
        );
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
    assert!(console.journal().is_empty(), "nothing was sent");
}

/// Runs the binary under a pseudo-terminal (`script` from util-linux) and reads what it drew.
#[tokio::test]
async fn a_terminal_gets_a_progress_bar_on_stderr() {
    let console = fake().await;
    // Slow answers, so that the bar is drawn before the update ends.
    console.inject(
        Fault::delay(Duration::from_millis(400))
            .on(MockOperation::PatchExperimentOverrides)
            .times(10),
    );
    let file = ids_file(3000);
    let binary = assert_cmd::cargo::cargo_bin("statsig-console");
    let command_line = format!(
        "{} overrides add {EXPERIMENT} --group Test --ids-file {} 2>&1",
        binary.display(),
        path(file.path())
    );
    let base_url = console.base_url();
    let output = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command_line, "/dev/null"])
        .env("STATSIG_CONSOLE_BASE_URL", base_url)
        .env("STATSIG_CONSOLE_API_KEY", KEY)
        .env("TERM", "xterm")
        .output()
        .expect("`script` (util-linux) runs the binary under a pseudo-terminal");
    let drawn = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{drawn}");
    assert!(drawn.contains("ids ("), "the bar's counter: {drawn:?}");
    assert!(
        drawn.contains('\r') || drawn.contains('\x1b'),
        "redrawn in place: {drawn:?}"
    );
    assert!(drawn.contains("added 3000 ids"), "{drawn:?}");
    assert_eq!(ids_in(&console, "Test"), 3000);
}

/// Starts `statsig-console mock serve` with `extra` options; the child and its base URL.
async fn serve_mock(extra: &[&str]) -> (std::process::Child, String) {
    let binary = assert_cmd::cargo::cargo_bin("statsig-console");
    let mut server = std::process::Command::new(binary)
        .args([
            "mock",
            "serve",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--experiment",
            "exp=A,B",
        ])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let base_url = {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.strip_prefix("STATSIG_CONSOLE_BASE_URL=")
                    .map(str::to_string)
            })
    }
    .expect("the fake prints its URL");
    (server, base_url)
}

#[tokio::test]
async fn mock_serve_serves_the_fake_console() {
    let (mut server, base_url) = serve_mock(&[]).await;
    let client = statsig_console::Client::builder()
        .api_key(KEY)
        .base_url(&base_url)
        .build()
        .unwrap();
    let result = client.add_user_ids("exp", "B", ["u1", "u2"]).await;
    let _ = server.kill();
    let _ = server.wait();
    let all = result.expect("the standalone fake answers");
    assert_eq!(all.user_id_overrides[0].ids, vec!["u1", "u2"]);
}

#[tokio::test]
async fn mock_serve_takes_the_windows_and_retry_after_it_is_given() {
    let (mut server, base_url) = serve_mock(&["--burst", "2/60", "--retry-after"]).await;
    let client = statsig_console::Client::builder()
        .api_key(KEY)
        .base_url(&base_url)
        .no_rate_limit()
        .retry_policy(statsig_console::RetryPolicy::none())
        .build()
        .unwrap();
    let mut results = Vec::new();
    for id in ["u1", "u2", "u3"] {
        results.push(client.add_user_ids("exp", "B", [id]).await);
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    let throttled = results[2].as_ref().unwrap_err();
    assert_eq!(throttled.status().map(|s| s.as_u16()), Some(429));
    let wait = throttled.retry_after().expect("--retry-after sends one");
    assert!(
        wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
}

/// A plain synchronous test: the fake started without any runtime, the binary run to its end.
#[test]
fn a_synchronous_test_drives_the_binary_against_the_fake() {
    let console = MockConsole::builder()
        .api_key(KEY)
        .experiment(EXPERIMENT, ["Control", "Test"])
        .start_blocking()
        .expect("the fake starts on 127.0.0.1");
    let output = Command::cargo_bin("statsig-console")
        .expect("the binary is built")
        .args([
            "overrides",
            "add",
            EXPERIMENT,
            "--group",
            "Test",
            "--ids",
            "u1,u2",
        ])
        .env("STATSIG_CONSOLE_BASE_URL", console.base_url())
        .env("STATSIG_CONSOLE_API_KEY", KEY)
        .output()
        .expect("the binary runs");
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(ids_in(&console, "Test"), 2);
    console.shutdown_blocking();
}

/// Runs the binary with its standard output a pipe whose reader is already gone, as in
/// `statsig-console … | true`.
fn run_into_a_closed_pipe(console: &MockConsole, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let binary = assert_cmd::cargo::cargo_bin("statsig-console");
    std::process::Command::new(binary)
        .args(args)
        .env("STATSIG_CONSOLE_BASE_URL", console.base_url())
        .env("STATSIG_CONSOLE_API_KEY", KEY)
        .env("RUST_BACKTRACE", "1")
        .stdout(writer)
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn a_closed_stdout_changes_nothing_but_who_reads_the_report() {
    let console = fake().await;
    let add = [
        "overrides",
        "add",
        EXPERIMENT,
        "--group",
        "Test",
        "--ids",
        "u1,u2",
    ];
    for extra in [&[][..], &["--output", "json"][..]] {
        let args: Vec<&str> = add.iter().chain(extra).copied().collect();
        let output = run_into_a_closed_pipe(&console, &args);
        assert_eq!(code(&output), 0, "{args:?}: {}", stderr(&output));
        assert!(
            !stderr(&output).contains("panicked"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(
        ids_in(&console, "Test"),
        2,
        "applied, and reported to nobody"
    );
    // A failure keeps its own exit code.
    let failed = run_into_a_closed_pipe(
        &console,
        &[
            "overrides",
            "add",
            "no_such_experiment",
            "--group",
            "Test",
            "--ids",
            "u1",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&failed), 4, "{}", stderr(&failed));
    assert!(!stderr(&failed).contains("panicked"), "{}", stderr(&failed));
    // A closed standard error too: the failure's message goes nowhere, its code stays.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let binary = assert_cmd::cargo::cargo_bin("statsig-console");
    let quiet_failure = std::process::Command::new(binary)
        .args([
            "overrides",
            "add",
            "no_such_experiment",
            "--group",
            "Test",
            "--ids",
            "u1",
        ])
        .env("STATSIG_CONSOLE_BASE_URL", console.base_url())
        .env("STATSIG_CONSOLE_API_KEY", KEY)
        .stderr(writer)
        .status()
        .expect("the binary runs");
    assert_eq!(quiet_failure.code(), Some(4));
    // A reader that stops after ten bytes, as `| head -c 10` does.
    let binary = assert_cmd::cargo::cargo_bin("statsig-console");
    let mut child = std::process::Command::new(binary)
        .args(add.iter().chain(&["--output", "json"]))
        .env("STATSIG_CONSOLE_BASE_URL", console.base_url())
        .env("STATSIG_CONSOLE_API_KEY", KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 10];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(first[0], b'{', "the start of the JSON document");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[tokio::test]
async fn ctrl_c_during_an_update_sends_nothing_more_and_exits_130_with_the_account() {
    let console = fake().await;
    // Slow answers: each round of requests takes half a second.
    console.inject(
        Fault::delay(Duration::from_millis(500))
            .on(MockOperation::PatchExperimentOverrides)
            .times(1000),
    );
    let file = ids_file(40_000);
    let binary = assert_cmd::cargo::cargo_bin("statsig-console");
    let child = std::process::Command::new(binary)
        .args([
            "overrides",
            "add",
            EXPERIMENT,
            "--group",
            "Test",
            "--ids-file",
        ])
        .arg(file.path())
        .env("STATSIG_CONSOLE_BASE_URL", console.base_url())
        .env("STATSIG_CONSOLE_API_KEY", KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first request goes alone, then five at a time: signal once the second round is
    // in flight and has settled.
    let started = std::time::Instant::now();
    while console.journal().len() < 6 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the update never got going"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(150));
    let sent_before_the_signal = console.journal().len();
    let signalled = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert_eq!(
        console.journal().len(),
        sent_before_the_signal,
        "nothing was sent after the signal"
    );
    let applied = ids_in(&console, "Test");
    let message = stderr(&output);
    assert!(message.contains("stopped on request"), "{message}");
    assert!(
        message.contains(&format!(
            "{sent_before_the_signal} requests of the update were applied ({applied} ids"
        )),
        "the requests in flight finished and are counted: {message}"
    );
    assert!(
        message.contains("running the same update again is safe"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

#[tokio::test]
async fn an_ids_file_as_windows_tools_write_it_lands_exactly_its_ids() {
    let console = fake().await;
    let (_dir, bom) = file_with("ids.txt", "\u{feff}u1\r\nu2\r\n");
    let output = run(&console, &add_ids_file(path(&bom), &[])).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let ids: Vec<String> = console.overrides(EXPERIMENT).unwrap().user_id_overrides[0]
        .ids
        .clone();
    assert_eq!(ids, ["u1", "u2"]);
    console.clear_journal();
    let (_dir, hidden) = file_with("ids.txt", "u3\nu\u{200b}4\n");
    let output = run(&console, &add_ids_file(path(&hidden), &[])).await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("line 2"), "{}", stderr(&output));
    assert!(stderr(&output).contains("U+200B"), "{}", stderr(&output));
    assert!(console.journal().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_dry_run_prints_the_url_that_goes_on_the_wire() {
    let id = "a b/c%d";
    let console = MockConsole::builder()
        .api_key(KEY)
        .experiment(id, ["Control", "Test"])
        .start()
        .await
        .unwrap();
    let args = ["overrides", "add", id, "--group", "Test", "--ids", "u1"];
    let dry: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--dry-run", "--output", "json"])
        .collect();
    let planned = run(&console, &dry).await;
    assert_eq!(code(&planned), 0, "{}", stderr(&planned));
    let document: Value = serde_json::from_str(&stdout(&planned)).unwrap();
    let url = document["requests"][0]["url"].as_str().unwrap().to_string();
    assert_eq!(
        url,
        format!(
            "{}/console/v1/experiments/a%20b%2Fc%25d/overrides",
            console.base_url()
        )
    );
    assert!(console.journal().is_empty());
    let sent = run(&console, &args).await;
    assert_eq!(code(&sent), 0, "{}", stderr(&sent));
    let journal = console.journal();
    assert_eq!(format!("{}{}", console.base_url(), journal[0].path), url);
    assert_eq!(
        document["requests"][0]["method"],
        journal[0].method.as_str()
    );
    let text = run(
        &console,
        &args
            .iter()
            .copied()
            .chain(["--dry-run"])
            .collect::<Vec<_>>(),
    )
    .await;
    assert!(
        stdout(&text).starts_with(&format!(
            "PATCH {url}  #1: 1 user-ID entry, 1 id, 0 conditional overrides"
        )),
        "{}",
        stdout(&text)
    );
}

/// An exit-code table, as (code, meaning) rows.
type ExitTable = Vec<(u8, String)>;

/// The rows of README's exit-code table, and the `Exit codes:` lines of `--help`.
fn exit_code_tables() -> (ExitTable, ExitTable) {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md beside the workspace");
    let in_readme: ExitTable = readme
        .lines()
        .skip_while(|line| *line != "| exit code | meaning |")
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            (cells[0].parse().expect("a code"), cells[1].to_string())
        })
        .collect();
    let help = Command::cargo_bin("statsig-console")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    let in_help: ExitTable = stdout(&help)
        .lines()
        .skip_while(|line| *line != "Exit codes:")
        .skip(1)
        .map(|line| {
            let (code, meaning) = line.trim().split_once("  ").expect("code, then meaning");
            (code.parse().expect("a code"), meaning.trim().to_string())
        })
        .collect();
    (in_readme, in_help)
}

#[test]
fn readme_help_and_the_code_give_one_exit_code_table() {
    let (in_readme, in_help) = exit_code_tables();
    assert_eq!(in_help.len(), 8, "{in_help:?}");
    assert_eq!(in_readme, in_help, "README.md's table differs from --help");
    assert!(
        in_help
            .iter()
            .any(|(code, meaning)| *code == 2 && meaning.contains("no key")),
        "a missing key exits 2: {in_help:?}"
    );
}

#[test]
fn completions_are_written_for_four_shells() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef statsig-console"),
        ("fish", "complete -c statsig-console"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let output = Command::cargo_bin("statsig-console")
            .unwrap()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(code(&output), 0, "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["overrides", "ids-file", "dry-run"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    let refused = Command::cargo_bin("statsig-console")
        .unwrap()
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(code(&refused), 2);
}
