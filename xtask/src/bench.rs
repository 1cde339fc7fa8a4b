//! `cargo xtask bench [--report]`: runs benches/compare.rs (release) and, with --report,
//! keeps its table as JSON in target/bench/report.json.

use std::path::Path;
use std::process::{Command, ExitCode};

pub fn run(root: &Path, report: bool, quick: bool) -> ExitCode {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["bench", "--locked", "--bench", "compare", "--"]);
    if quick {
        command.arg("--quick");
    }
    if report {
        command
            .arg("--json")
            .arg(root.join("target/bench/report.json"));
    }
    match command.status() {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("error: the benchmark failed ({status})");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: cannot run cargo: {e}");
            ExitCode::from(2)
        }
    }
}
