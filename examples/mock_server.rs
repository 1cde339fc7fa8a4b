//! The fake Console as a standalone server, for people and other-language clients.
//!
//! ```sh
//! cargo run --example mock_server -- --port 8080 --api-key console-dev
//! ```
//!
//! Options: `--port N` (default 8080; 0 picks one), `--api-key KEY` (repeatable; default
//! `console-dev`), `--experiment ID=GROUP,GROUP` (repeatable; default `checkout_flow=Control,Test`),
//! `--no-rate-limit` (the vendor's limits are on by default). Prints its base URL and key,
//! then serves until Ctrl-C.

use std::process::ExitCode;

use statsig_console::RateLimit;
use statsig_console_mock::MockConsole;

#[tokio::main]
async fn main() -> ExitCode {
    let mut port: u16 = 8080;
    let mut keys = Vec::new();
    let mut experiments: Vec<(String, Vec<String>)> = Vec::new();
    let mut limits = RateLimit::vendor();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let parsed: Result<(), String> = match arg.as_str() {
            "--port" => value("--port").and_then(|v| v.parse().map(|p| port = p).map_err(|e| format!("--port: {e}"))),
            "--api-key" => value("--api-key").map(|k| keys.push(k)),
            "--experiment" => value("--experiment").and_then(|v| {
                let (id, groups) = v.split_once('=').ok_or("--experiment takes ID=GROUP,GROUP")?;
                experiments.push((id.to_string(), groups.split(',').map(str::to_string).collect()));
                Ok(())
            }),
            "--no-rate-limit" => {
                limits = RateLimit::new();
                Ok(())
            }
            "-h" | "--help" => Err("usage: mock_server [--port N] [--api-key KEY]... [--experiment ID=G1,G2]... [--no-rate-limit]".into()),
            other => Err(format!("unknown argument {other:?} (try --help)")),
        };
        if let Err(message) = parsed {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    }
    if keys.is_empty() {
        keys.push("console-dev".into());
    }
    if experiments.is_empty() {
        experiments.push((
            "checkout_flow".into(),
            vec!["Control".into(), "Test".into()],
        ));
    }
    let mut builder = MockConsole::builder()
        .port(port)
        .rate_limits(limits)
        .user("ana@example.com", "Ana", "Lopez")
        .user("li@example.com", "Li", "Wei");
    for key in &keys {
        builder = builder.api_key(key.clone());
    }
    for (id, groups) in experiments {
        builder = builder.experiment(id, groups);
    }
    let console = match builder.start().await {
        Ok(console) => console,
        Err(e) => {
            eprintln!("cannot start the fake Console on port {port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("fake Statsig Console listening on {}", console.base_url());
    println!("STATSIG_CONSOLE_BASE_URL={}", console.base_url());
    println!("STATSIG_CONSOLE_API_KEY={}", console.api_key());
    if tokio::signal::ctrl_c().await.is_err() {
        eprintln!("cannot listen for Ctrl-C; stopping");
    }
    println!("stopping after {} requests", console.journal().len());
    console.shutdown().await;
    ExitCode::SUCCESS
}
