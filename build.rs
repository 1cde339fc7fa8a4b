//! Generates the Console API client from `spec/openapi.yaml` into `$OUT_DIR/generated.rs`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use statsig_console_codegen::{CodegenOptions, generate_client};

fn main() -> ExitCode {
    let spec = Path::new("spec/openapi.yaml");
    // Without these lines Cargo reruns the script whenever any file in the package changes.
    println!("cargo:rerun-if-changed={}", spec.display());
    println!("cargo:rerun-if-changed=build.rs");

    let options = CodegenOptions {
        derive_json_schema: std::env::var_os("CARGO_FEATURE_SCHEMARS").is_some(),
    };
    let source = match generate_client(spec, options) {
        Ok(source) => source,
        Err(e) => return fail(&e.to_string()),
    };
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        return fail("OUT_DIR is not set: build.rs must be run by Cargo");
    };
    // `OPENAPI_JSON`: the spec as JSON, which the fake Console (statsig-console-mock) and users'
    // tests check requests against.
    let spec_json = match statsig_console_codegen::spec_json(spec) {
        Ok(json) => json,
        Err(e) => return fail(&e.to_string()),
    };
    for (name, contents) in [("generated.rs", source), ("openapi.json", spec_json)] {
        let out = out_dir.join(name);
        if let Err(e) = std::fs::write(&out, contents) {
            return fail(&format!("cannot write {}: {e}", out.display()));
        }
    }
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    // `cargo::error` shows the message as the build error, without a backtrace.
    println!("cargo::error=statsig-console code generation failed: {message}");
    ExitCode::FAILURE
}
