//! Third-party linters on the spec: Redocly CLI (recommended-strict) and Spectral (spectral:oas).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const REDOCLY: &str = "@redocly/cli@2.77.0";
const SPECTRAL: &str = "@stoplight/spectral-cli@6.16.3";

/// The directory of the pinned tools' executables (`target/lint-tools/node_modules/.bin`),
/// installing Redocly CLI and Spectral with npm first when they are not there. `cargo xtask
/// docs` renders the reference page with the same Redocly CLI.
pub fn tools(root: &Path) -> Result<PathBuf, String> {
    let tools = root.join("target/lint-tools");
    let bin = tools.join("node_modules/.bin");
    if !bin.join("redocly").exists() || !bin.join("spectral").exists() {
        npm_install(&tools, &[REDOCLY, SPECTRAL])?;
    }
    Ok(bin)
}

/// Installs the pinned npm `packages` under `prefix` (a folder of `target/`).
pub fn npm_install(prefix: &Path, packages: &[&str]) -> Result<(), String> {
    println!(
        "installing {} under {}",
        packages.join(" and "),
        prefix.display()
    );
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
        .arg(prefix)
        .args(packages)
        .status();
    if status.is_ok_and(|s| s.success()) {
        Ok(())
    } else {
        Err(format!("npm could not install {}", packages.join(" and ")))
    }
}

pub fn run(root: &Path) -> ExitCode {
    let bin = match tools(root) {
        Ok(bin) => bin,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
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
