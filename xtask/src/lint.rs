//! Third-party linters on the spec: Redocly CLI (recommended-strict) and Spectral (spectral:oas).

use std::path::Path;
use std::process::{Command, ExitCode};

const REDOCLY: &str = "@redocly/cli@2.77.0";
const SPECTRAL: &str = "@stoplight/spectral-cli@6.16.3";

pub fn run(root: &Path) -> ExitCode {
    let tools = root.join("target/lint-tools");
    let installed = |bin: &str| tools.join("node_modules/.bin").join(bin).exists();
    if !installed("redocly") || !installed("spectral") {
        println!("installing {REDOCLY} and {SPECTRAL} under target/lint-tools");
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&tools)
            .args([REDOCLY, SPECTRAL])
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("error: npm could not install the linters");
            return ExitCode::from(2);
        }
    }
    let bin = tools.join("node_modules/.bin");
    let spec = root.join("spec/openapi.yaml");
    let redocly = Command::new(bin.join("redocly"))
        .current_dir(root)
        .args([
            "lint",
            "--config",
            "lint/redocly.yaml",
            "--max-problems",
            "1000",
        ])
        .arg(&spec)
        .status();
    let spectral = Command::new(bin.join("spectral"))
        .current_dir(root)
        .args([
            "lint",
            "--ruleset",
            "lint/spectral.yaml",
            "--fail-severity",
            "warn",
        ])
        .arg(&spec)
        .status();
    let passed = |result: std::io::Result<std::process::ExitStatus>, name: &str| match result {
        Ok(status) if status.success() => {
            println!("ok: {name}");
            true
        }
        Ok(status) => {
            println!("FAILED: {name} ({status})");
            false
        }
        Err(e) => {
            println!("FAILED: {name} could not run: {e}");
            false
        }
    };
    let redocly_ok = passed(
        redocly,
        "Redocly CLI, recommended-strict: no errors, no warnings",
    );
    let spectral_ok = passed(spectral, "Spectral, spectral:oas: no errors, no warnings");
    if redocly_ok && spectral_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(100)
    }
}
