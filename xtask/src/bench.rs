//! `cargo xtask bench [--report] [--quick]`: runs the benchmarks (release), one after the other
//! so that they never compete for the cores:
//! - benches/compare.rs, this crate against a hand-written client, per request;
//! - benches/large_update.rs, `add_user_ids` with 100 000 and 1 000 000 ids under scaled-down
//!   rate limits.
//!
//! With --report each keeps its table as JSON in target/bench/. `cargo xtask simulate` runs
//! benches/shared_budget.rs, several clients on one project's budget.

use std::path::Path;
use std::process::{Command, ExitCode};

/// Each benchmark and the JSON file its report goes to.
const BENCHES: [(&str, &str); 2] = [
    ("compare", "target/bench/report.json"),
    ("large_update", "target/bench/large_update.json"),
];

/// The simulation of several clients on one project's budget, and its report.
const SIMULATION: (&str, &str) = ("shared_budget", "target/bench/shared_budget.json");

pub fn run(root: &Path, report: bool, quick: bool) -> ExitCode {
    for bench in BENCHES {
        if let Err(code) = run_one(root, bench, report, quick) {
            return code;
        }
    }
    ExitCode::SUCCESS
}

/// `cargo xtask simulate`: benches/shared_budget.rs.
pub fn simulate(root: &Path, report: bool) -> ExitCode {
    match run_one(root, SIMULATION, report, false) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn run_one(
    root: &Path,
    (bench, json): (&str, &str),
    report: bool,
    quick: bool,
) -> Result<(), ExitCode> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .current_dir(root)
        .args(["bench", "--locked", "--bench", bench, "--"]);
    if quick {
        command.arg("--quick");
    }
    if report {
        command.arg("--json").arg(root.join(json));
    }
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => {
            eprintln!("error: the {bench} benchmark failed ({status})");
            Err(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
            Err(ExitCode::from(2))
        }
    }
}
