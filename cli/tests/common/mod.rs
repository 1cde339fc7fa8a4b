//! What the command-line tests share: the fake each starts, and running the real binary.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use statsig_console_mock::MockConsole;

pub const EXPERIMENT: &str = "checkout_flow";
pub const KEY: &str = "console-CLITESTKEY0123456789abcdefXYZ";

pub async fn fake() -> MockConsole {
    MockConsole::builder()
        .api_key(KEY)
        .experiment(EXPERIMENT, ["Control", "Test"])
        .start()
        .await
        .expect("the fake starts on 127.0.0.1")
}

/// Runs the binary with the fake's URL and key in the environment. It blocks the test's one
/// thread while the binary runs: the fake serves from a thread of its own.
pub async fn run(console: &MockConsole, args: &[&str]) -> Output {
    run_with(console, args, Some(KEY), None).await
}

pub async fn run_with(
    console: &MockConsole,
    args: &[&str],
    key: Option<&str>,
    stdin: Option<Vec<u8>>,
) -> Output {
    let mut command = Command::cargo_bin("statsig-console").expect("the binary is built");
    command
        .args(args)
        .env("STATSIG_CONSOLE_BASE_URL", console.base_url())
        .env_remove("STATSIG_CONSOLE_API_KEY");
    if let Some(key) = key {
        command.env("STATSIG_CONSOLE_API_KEY", key);
    }
    if let Some(input) = stdin {
        command.write_stdin(input);
    }
    command.output().expect("the binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

/// `overrides add EXPERIMENT --group Test --ids-file FILE`, then `more`.
pub fn add_ids_file<'a>(file: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "overrides",
        "add",
        EXPERIMENT,
        "--group",
        "Test",
        "--ids-file",
        file,
    ];
    args.extend_from_slice(more);
    args
}

pub fn ids_file(count: usize) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "# beta cohort, exported for the test").unwrap();
    for n in 0..count {
        writeln!(file, "user_{n}").unwrap();
        if n % 500 == 0 {
            writeln!(file).unwrap();
        }
    }
    file
}

pub fn file_with(name: &str, content: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    (dir, path)
}

pub fn ids_in(console: &MockConsole, group: &str) -> usize {
    console
        .overrides(EXPERIMENT)
        .unwrap()
        .user_id_overrides
        .iter()
        .filter(|entry| entry.group_id == group)
        .map(|entry| entry.ids.len())
        .sum()
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}
