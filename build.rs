//! Writes the Console API client (`$OUT_DIR/generated.rs`) and the spec's JSON twin
//! (`$OUT_DIR/openapi.json`).
//!
//! With the `codegen` feature (the default) it generates them from `spec/openapi.yaml` with
//! progenitor. Without it, it copies the committed snapshot, `spec/generated/client.rs` and
//! `spec/openapi.json` (what `cargo xtask generate` writes with the same function, and
//! `cargo xtask check` holds fresh), after checking that the spec beside them is the one they
//! were generated from: no generator crate is compiled at all.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const SPEC: &str = "spec/openapi.yaml";
#[cfg(not(feature = "codegen"))]
const SNAPSHOT: &str = "spec/generated/client.rs";
#[cfg(not(feature = "codegen"))]
const SPEC_JSON: &str = "spec/openapi.json";

fn main() -> ExitCode {
    // Without these lines Cargo reruns the script whenever any file in the package changes.
    println!("cargo:rerun-if-changed={SPEC}");
    println!("cargo:rerun-if-changed=build.rs");
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return fail("OUT_DIR is not set: build.rs must be run by Cargo");
    };
    let outputs = match client_and_spec_json() {
        Ok(outputs) => outputs,
        Err(message) => return fail(&message),
    };
    for (name, contents) in [("generated.rs", outputs.0), ("openapi.json", outputs.1)] {
        let out = out_dir.join(name);
        if let Err(e) = std::fs::write(&out, contents) {
            return fail(&format!("cannot write {}: {e}", out.display()));
        }
    }
    ExitCode::SUCCESS
}

/// The client's source and the spec as JSON (`OPENAPI_JSON`, which the fake Console and users'
/// tests check requests against), generated from the spec.
#[cfg(feature = "codegen")]
fn client_and_spec_json() -> Result<(String, String), String> {
    use statsig_console_codegen::{CodegenOptions, generate_client, spec_json};
    let spec = Path::new(SPEC);
    let options = CodegenOptions {
        derive_json_schema: std::env::var_os("CARGO_FEATURE_SCHEMARS").is_some(),
    };
    let source = generate_client(spec, options).map_err(|e| e.to_string())?;
    let json = spec_json(spec).map_err(|e| e.to_string())?;
    Ok((source, json))
}

/// The committed snapshot of the client and of the spec's JSON twin, once their provenance
/// line says they were made from the spec and JSON beside them.
#[cfg(not(feature = "codegen"))]
fn client_and_spec_json() -> Result<(String, String), String> {
    println!("cargo:rerun-if-changed={SNAPSHOT}");
    println!("cargo:rerun-if-changed={SPEC_JSON}");
    let read = |path: &str| {
        std::fs::read_to_string(Path::new(path)).map_err(|e| format!("cannot read {path}: {e}"))
    };
    let (spec, source, json) = (read(SPEC)?, read(SNAPSHOT)?, read(SPEC_JSON)?);
    let provenance = source
        .lines()
        .take(5)
        .find_map(|line| line.strip_prefix("// provenance: "))
        .ok_or_else(|| format!("{SNAPSHOT} has no provenance line: run `cargo xtask generate`"))?;
    let recorded = |file: &str| {
        provenance
            .split("; ")
            .find_map(|part| part.strip_prefix(file)?.strip_prefix(' '))
            .unwrap_or("nothing")
    };
    let stale = |file: &str, text: &str| {
        (recorded(file) != fingerprint(text)).then(|| {
            format!(
                "{file} is not the one {SNAPSHOT} was generated from (it records {}, the file \
                 is {}): enable the `codegen` feature to generate the client from it, or run \
                 `cargo xtask generate` and commit the result",
                recorded(file),
                fingerprint(text)
            )
        })
    };
    if let Some(problem) = stale(SPEC, &spec).or_else(|| stale(SPEC_JSON, &json)) {
        return Err(problem);
    }
    Ok((source, json))
}

/// The generator's `statsig_console_codegen::fingerprint`, written again here because this
/// path compiles no generator: 64-bit FNV-1a of the text with CRLF read as LF. Should the two
/// ever disagree, this build fails, and CI builds it.
#[cfg(not(feature = "codegen"))]
fn fingerprint(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.replace("\r\n", "\n").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{hash:016x}")
}

fn fail(message: &str) -> ExitCode {
    // `cargo::error` shows the message as the build error, without a backtrace.
    println!("cargo::error=statsig-console's build script failed: {message}");
    ExitCode::FAILURE
}
