//! `cargo xtask`: regenerates what is derived from `spec/openapi.yaml` and checks that the
//! spec, its artifacts, the generated Rust types and the vendor's published document agree.

mod artifacts;
mod bench;
mod docs;
mod drift;
mod lint;
mod spec_check;
mod types_check;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// How long `--upstream URL` waits for the vendor's server by default.
const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

const HELP: &str = "\
cargo xtask: keep everything derived from spec/openapi.yaml honest

USAGE:
    cargo xtask generate [--root DIR]
    cargo xtask check [--root DIR] [--upstream PATH|URL [--upstream-timeout SECONDS]]
    cargo xtask lint [--root DIR]
    cargo xtask docs [--root DIR] [--browser-test]
    cargo xtask bench [--report] [--quick]
    cargo xtask simulate [--report]

COMMANDS:
    generate   Write every derived artifact (deterministic bytes, LF, trailing newline):
                 spec/openapi.json          the JSON twin of spec/openapi.yaml
                 spec/generated/client.rs   the Rust code build.rs generates (same function)
                 spec/schemas/*.schema.json the JSON Schemas of the command-line tool's file
                                            formats (ExperimentOverrides, TeamCreate), from
                                            the library's types (schemars), for editors
                 cli/man/*.1                the command-line tool's man pages, one per
                                            command, from its clap definition (clap_mangen)
    check      Change nothing; verify that
                 - the artifacts are fresh, byte for byte (else a unified diff);
                 - the spec is sound: OpenAPI 3.0.x, every operation has operationId, tags,
                   summary, description and security; every $ref resolves; no component is
                   unused; every example validates against its schema (JSON Schema);
                 - the generated Rust types match the spec's components (property names,
                   requiredness, types, enum values, nullability), via their schemars schemas;
                 - every operation declares x-idempotent and info declares x-rate-limits, as
                   the generator reads them;
                 - with --upstream PATH|URL: our operations differ from the vendor's published
                   document only where spec/upstream-deviations.yaml says so, and every entry
                   there still differs. A URL (https://api.statsig.com/openapi/20240601.json,
                   or http:// for a local server) is fetched with a timeout.
    lint       Run Redocly CLI (recommended-strict) and Spectral (spectral:oas) on the spec;
               any error or warning fails. Needs npm; installs the pinned versions under
               target/lint-tools.
    docs       Render the spec to one static HTML page for other teams,
               target/reference/index.html (Redocly CLI's build-docs, Redoc inlined: it
               loads nothing from the network), with each operation's x-idempotent and the
               x-rate-limits written out as prose. --browser-test then opens it in headless
               Chromium (playwright-core, installed under target/reference-tools; Chromium at
               $CHROMIUM or /usr/bin/chromium) and checks that both operations, their
               examples, the 429 response with its Retry-After header, the rate limits and
               the idempotency are shown; it writes screenshots beside the page.
    bench      Run benches/compare.rs: this crate against a hand-written reqwest + serde
               baseline, per request (sequential, 64 concurrent), per payload (a PATCH of
               100 000 ids, a team of 10 000 members), with and without retries and rate
               limiting; prints one row per case (crate, baseline, ratio). Then
               benches/large_update.rs: add_user_ids with 100 000 and 1 000 000 ids under
               the default limits ten times faster, 95 per 1 s and 1710 per 90 s (time
               against the floor the limits allow, peak heap). --report also writes the tables to
               target/bench/report.json and target/bench/large_update.json; --quick runs
               fewer requests and skips the million.
    simulate   Run benches/shared_budget.rs: independent clients on one project against the
               fake counting every attempt (429s included) with no Retry-After, time ten
               times faster (burst 100 per 1 s, quota 1800 per 90 s), for 135 s: 1, 2, 4 and
               8 clients with default settings, one configured for twice the quota, 4
               against a burst window half the configured one. For each: calls, failed
               calls, attempts, rejected attempts (over the run and after the first quota
               window), throughput as a fraction of what the quota admits, and whether the
               goals are met. --report also writes target/bench/shared_budget.json.

OPTIONS:
    --root DIR        The repository to work on (default: this workspace)
    --upstream PATH|URL  The vendor's OpenAPI document (JSON or YAML), a file or an
                      address, for the drift check
    --upstream-timeout SECONDS
                      How long to wait for the address to answer (default 30)
    -h, --help        This text

EXIT CODES (check):
    0     everything holds
    4     an artifact is stale: run `cargo xtask generate` and review the diff
    5     the spec drifted from the vendor's document (unlisted or stale deviation)
    100   the spec itself is wrong (structure, $refs, examples, or generated types disagree)
    2     usage error, a file could not be read or written, or the --upstream URL could
          not be fetched

WORKFLOW:
    edit spec/openapi.yaml -> cargo xtask generate -> review the diff -> cargo xtask check
";

/// Exit codes, most severe last.
const EXIT_STALE: u8 = 4;
const EXIT_DRIFT: u8 = 5;
const EXIT_SPEC: u8 = 100;
const EXIT_USAGE: u8 = 2;

struct Options {
    command: String,
    root: PathBuf,
    upstream: Option<drift::Upstream>,
    report: bool,
    quick: bool,
    browser_test: bool,
}

fn parse_args() -> Result<Option<Options>, String> {
    let mut args = std::env::args().skip(1);
    let mut command = None;
    let mut root = default_root();
    let mut upstream = None;
    let mut timeout = DEFAULT_UPSTREAM_TIMEOUT;
    let (mut report, mut quick, mut browser_test) = (false, false, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--report" => report = true,
            "--quick" => quick = true,
            "--browser-test" => browser_test = true,
            "-h" | "--help" | "help" => return Ok(None),
            "--root" => root = PathBuf::from(args.next().ok_or("--root needs a directory")?),
            "--upstream" => upstream = Some(args.next().ok_or("--upstream needs a path or a URL")?),
            "--upstream-timeout" => {
                let seconds = args
                    .next()
                    .ok_or("--upstream-timeout needs a number of seconds")?;
                timeout = seconds
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| {
                        format!(
                            "--upstream-timeout: {seconds:?} is not a positive number of seconds"
                        )
                    })?;
            }
            "generate" | "check" | "lint" | "docs" | "bench" | "simulate" if command.is_none() => {
                command = Some(arg)
            }
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let command = command.ok_or("no command given")?;
    Ok(Some(Options {
        command,
        root,
        upstream: upstream.map(|text| drift::Upstream::parse(&text, timeout)),
        report,
        quick,
        browser_test,
    }))
}

fn default_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{HELP}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match options.command.as_str() {
        "generate" => generate(&options.root),
        "check" => check(&options.root, options.upstream.as_ref()),
        "lint" => lint::run(&options.root),
        "docs" => docs::run(&options.root, options.browser_test),
        "bench" => bench::run(&options.root, options.report, options.quick),
        "simulate" => bench::simulate(&options.root, options.report),
        _ => ExitCode::from(EXIT_USAGE),
    }
}

fn generate(root: &Path) -> ExitCode {
    match artifacts::generate(root) {
        Ok(written) => {
            for line in written {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn check(root: &Path, upstream: Option<&drift::Upstream>) -> ExitCode {
    let mut exit = 0u8;
    let mut fail = |code: u8, title: &str, problems: &[String]| {
        if problems.is_empty() {
            println!("ok: {title}");
            return;
        }
        println!("FAILED: {title}");
        for problem in problems {
            println!("  - {}", problem.replace('\n', "\n    "));
        }
        exit = exit.max(code);
    };

    let spec_problems = spec_check::check(root);
    fail(
        EXIT_SPEC,
        "the spec is sound (structure, $refs, components, examples)",
        &spec_problems,
    );
    fail(
        EXIT_SPEC,
        "the generated Rust types match the spec",
        &types_check::check(root),
    );

    match artifacts::check(root) {
        Ok(stale) => {
            let mut problems = stale;
            if !problems.is_empty() {
                problems.push("run `cargo xtask generate` and review the diff".to_string());
            }
            fail(EXIT_STALE, "derived artifacts are fresh", &problems);
        }
        Err(message) => fail(EXIT_SPEC, "derived artifacts are fresh", &[message]),
    }

    match upstream {
        None => {
            println!("skipped: drift against the vendor's document (no --upstream PATH|URL given)")
        }
        Some(path) => match drift::check(root, path) {
            Ok(problems) => fail(
                EXIT_DRIFT,
                "differences from the vendor's document are all listed in spec/upstream-deviations.yaml",
                &problems,
            ),
            Err(message) => {
                eprintln!("error: {message}");
                exit = exit.max(EXIT_USAGE);
            }
        },
    }
    ExitCode::from(exit)
}
