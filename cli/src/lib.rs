//! `statsig-console`: the Statsig Console API for release pipelines.
//!
//! Force user ids into experiment groups (`overrides add`), apply override files of any size
//! (`overrides apply`), create teams (`teams create`), and run the fake Console (`mock serve`).
//! Every command takes `--output json`, `--dry-run` and `--quiet`, and ends with an exit code a
//! CI script can branch on (see `statsig-console --help`).
//!
//! The crate is the binary; this library half exists so that `cargo xtask` can render the man
//! pages from the very command line the binary parses ([`command`]).

#![deny(missing_docs)]

mod cli;
mod commands;
mod exit;
mod input;
mod output;
mod progress;
mod report;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::Cli;

/// The command line, as clap describes it: what `--help`, the completions and the man pages
/// are made from.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Runs the command the process was started with, and says how it ended.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return refused_command_line(error),
    };
    init_logging(cli.global.verbose);
    let format = cli.global.output;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            crate::output::err(format!("error: cannot start the async runtime: {error}"));
            return ExitCode::from(exit::OTHER.code);
        }
    };
    let result = runtime.block_on(commands::run(cli));
    report::finish(result, format)
}

/// Help and version go out as clap prints them. A refused command line exits 2, as one JSON
/// document when `--output json` was asked for, else as clap's own message.
fn refused_command_line(error: clap::Error) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return ExitCode::from(exit::DONE.code);
    }
    if wants_json(std::env::args()) {
        let message = error.kind().to_string();
        let detail = error
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_string();
        let text = if detail.is_empty() { message } else { detail };
        crate::output::out(report::usage_error_json(&text));
        return ExitCode::from(exit::USAGE.code);
    }
    // One line naming the problem, as for every other input error: clap's first line, with
    // the indented lines under it (the missing arguments, say) and without its usage block.
    let rendered = error.to_string();
    let mut lines = rendered.lines();
    let mut problem = lines
        .next()
        .unwrap_or("error: invalid command line")
        .to_string();
    for detail in lines.take_while(|line| line.starts_with("  ")) {
        problem.push(' ');
        problem.push_str(detail.trim());
    }
    crate::output::err(format!("{problem} (see --help)"));
    ExitCode::from(exit::USAGE.code)
}

fn wants_json(args: impl Iterator<Item = String>) -> bool {
    let args: Vec<String> = args.collect();
    args.iter().any(|arg| arg == "--output=json")
        || args
            .windows(2)
            .any(|pair| pair[0] == "--output" && pair[1] == "json")
}

/// `-v`: each call's span when it closes (operation, status, attempts, duration); `-vv`:
/// retries and waits; `-vvv`: request and response bodies. On stderr; the library never logs
/// the key.
fn init_logging(verbose: u8) {
    use tracing_subscriber::fmt::format::FmtSpan;
    let level = match verbose {
        0 => return,
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!("statsig_console={level}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_output_is_recognised_in_both_spellings() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wants_json(args(&["x", "--output", "json"]).into_iter()));
        assert!(wants_json(args(&["x", "--output=json"]).into_iter()));
        assert!(!wants_json(args(&["x", "--output", "text"]).into_iter()));
    }
}
