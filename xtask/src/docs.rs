//! `cargo xtask docs`: the spec as one static HTML page for other teams, rendered by Redocly
//! CLI's `build-docs` (the lint toolchain's), with what the spec declares as data
//! (`x-idempotent`, `info.x-rate-limits`) written out as prose, since Redoc shows no
//! extensions of operations or of `info`. `--browser-test` then opens the page in headless
//! Chromium (playwright-core) and checks what a reader must find on it.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use serde_json::Value;
use statsig_console_codegen::declared::{self, Declared};

const PLAYWRIGHT: &str = "playwright-core@1.64.1";
/// Where the page and what it is rendered from go.
const OUT: &str = "target/reference";
const TITLE: &str = "Statsig Console API: the statsig-console subset";

/// The spec as the page shows it: the declarations added to the descriptions.
pub fn reference_spec(root: &Path) -> Result<Value, String> {
    let (openapi, mut spec) = crate::spec_check::load_both(root)?;
    let declared = declared::read(&openapi)
        .map_err(|problems| format!("spec/openapi.yaml: {}", problems.join("; ")))?;
    describe_rate_limits(&mut spec, &declared);
    for operation in &declared.operations {
        let description = spec
            .pointer_mut(&format!(
                "/paths/{}/{}/description",
                operation
                    .path_template
                    .replace('~', "~0")
                    .replace('/', "~1"),
                operation.method.to_lowercase()
            ))
            .ok_or_else(|| {
                format!(
                    "spec/openapi.yaml: operation `{}` has no description",
                    operation.operation_id
                )
            })?;
        let prose = if operation.idempotent {
            "**Safe to repeat** (`x-idempotent: true`): sending it again after it may have \
             reached the server leaves the same state, so clients retry it when no answer came \
             and after 500, 502, 503 and 504, as well as after 429."
        } else {
            "**Not safe to repeat** (`x-idempotent: false`): a second request could act twice, \
             so clients retry it only when it provably never reached the server (no \
             connection was made) or was refused with 429."
        };
        *description = Value::String(format!(
            "{}\n\n{prose}",
            description.as_str().unwrap_or_default()
        ));
    }
    Ok(spec)
}

/// Appends the rate limits, as a table, to `info.description`.
fn describe_rate_limits(spec: &mut Value, declared: &Declared) {
    let limits = &declared.rate_limits;
    let period = |seconds: u64| match seconds {
        s if s >= 60 && s % 60 == 0 => format!("{s} s ({} min)", s / 60),
        s => format!("{s} s"),
    };
    let counted = if limits.rejected_attempts_count {
        "yes: an attempt refused with 429 uses up the budget too, so immediate retries make \
         throttling last longer"
    } else {
        "no: an attempt refused with 429 does not count"
    };
    let table = format!(
        "## Rate limits\n\n\
         As `info.x-rate-limits` declares them:\n\n\
         | Window | Requests | Period | Basis |\n\
         | --- | --- | --- | --- |\n\
         | burst | {} | {} | {} |\n\
         | quota | {} | {} | {} |\n\n\
         - Shared by: every Console key of one {}.\n\
         - Rejected attempts count: {counted}.\n\
         - Source: [{}]({}), \"{}\", read {}.\n",
        limits.burst.requests,
        period(limits.burst.period_seconds),
        limits.burst.basis.trim(),
        limits.quota.requests,
        period(limits.quota.period_seconds),
        limits.quota.basis.trim(),
        limits.scope,
        limits.source,
        limits.source,
        limits.section,
        limits.read,
    );
    let description = spec["info"]["description"].as_str().unwrap_or_default();
    spec["info"]["description"] = Value::String(format!("{description}\n\n{table}"));
}

/// Renders the page; with `browser_test`, checks it in headless Chromium.
pub fn run(root: &Path, browser_test: bool) -> ExitCode {
    match render(root).and_then(|page| {
        println!("wrote {}", page.display());
        if browser_test {
            check_in_browser(root, &page)
        } else {
            Ok(())
        }
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

fn render(root: &Path) -> Result<PathBuf, String> {
    let out = root.join(OUT);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {OUT}: {e}"))?;
    let spec = reference_spec(root)?;
    let source = out.join("openapi.json");
    let json = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
    std::fs::write(&source, json).map_err(|e| format!("cannot write {OUT}/openapi.json: {e}"))?;
    let page = out.join("index.html");
    let bin = crate::lint::tools(root)?;
    // `--inlineBundle`: the page carries Redoc itself and loads nothing from a CDN, so it
    // opens anywhere, offline included.
    let status = Command::new(bin.join("redocly"))
        .current_dir(root)
        .arg("build-docs")
        .arg(&source)
        .arg("--output")
        .arg(&page)
        .args(["--title", TITLE, "--inlineBundle"])
        .status()
        .map_err(|e| format!("cannot run Redocly CLI: {e}"))?;
    if !status.success() {
        return Err(format!("Redocly CLI's build-docs failed ({status})"));
    }
    Ok(page)
}

/// Runs `xtask/reference-page/check.cjs` on the page with playwright-core (installed under
/// `target/reference-tools`) and the Chromium at `$CHROMIUM` or `/usr/bin/chromium`.
fn check_in_browser(root: &Path, page: &Path) -> Result<(), String> {
    let tools = root.join("target/reference-tools");
    if !tools.join("node_modules/playwright-core").exists() {
        crate::lint::npm_install(&tools, &[PLAYWRIGHT])?;
    }
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!(
            "no Chromium at {} (install Debian's `chromium`, or set CHROMIUM)",
            chromium.display()
        ));
    }
    let status = Command::new("node")
        .current_dir(root)
        .arg("xtask/reference-page/check.cjs")
        .arg(page)
        .arg(&tools)
        .arg(&chromium)
        .arg(root.join(OUT))
        .status()
        .map_err(|e| format!("cannot run node: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the reference page's browser test failed ({status})"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    #[test]
    fn the_page_says_what_the_declarations_say() {
        let spec = reference_spec(&root()).unwrap();
        let info = spec["info"]["description"].as_str().unwrap();
        assert!(info.contains("| burst | 100 | 10 s |"), "{info}");
        assert!(info.contains("| quota | 1800 | 900 s (15 min) |"), "{info}");
        assert!(info.contains("Rejected attempts count: yes"), "{info}");
        assert!(info.contains("every Console key of one project"), "{info}");
        assert!(info.contains("read 2026-12-01"), "{info}");
        let patch = spec["paths"]["/console/v1/experiments/{id}/overrides"]["patch"]["description"]
            .as_str()
            .unwrap();
        assert!(patch.ends_with("so clients retry it when no answer came and after 500, 502, 503 and 504, as well as after 429."), "{patch}");
        assert!(patch.contains("**Safe to repeat** (`x-idempotent: true`)"));
        let create = spec["paths"]["/console/v1/users/teams"]["post"]["description"]
            .as_str()
            .unwrap();
        assert!(create.contains("**Not safe to repeat** (`x-idempotent: false`)"));
    }

    #[test]
    fn periods_read_in_minutes_when_whole() {
        let mut spec = serde_json::json!({"info": {"description": "Intro."}});
        let (openapi, _) = crate::spec_check::load_both(&root()).unwrap();
        let mut declared = declared::read(&openapi).unwrap();
        declared.rate_limits.burst.period_seconds = 90;
        declared.rate_limits.rejected_attempts_count = false;
        describe_rate_limits(&mut spec, &declared);
        let info = spec["info"]["description"].as_str().unwrap();
        assert!(info.starts_with("Intro.\n\n## Rate limits"), "{info}");
        assert!(info.contains("| burst | 100 | 90 s |"), "{info}");
        assert!(info.contains("Rejected attempts count: no"), "{info}");
    }
}
