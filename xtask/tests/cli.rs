//! `cargo xtask check` outcomes, each on a temporary copy of the spec directory.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A temporary repository holding a copy of `spec/` and of the man pages.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("spec"), &dir.path().join("spec"));
    copy_dir(&repo().join("cli/man"), &dir.path().join("cli/man"));
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} does not contain {from:?}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// Runs the xtask; returns (exit code, stdout + stderr).
fn xtask(root: &Path, args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn a_clean_copy_passes() {
    let dir = copy();
    let (code, out) = xtask(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("skipped: drift"), "{out}");
}

#[test]
fn an_edited_description_without_regenerating_is_stale_with_a_diff() {
    let dir = copy();
    edit(
        dir.path(),
        "spec/openapi.yaml",
        "description: The name of the metric.",
        "description: The metric's name.",
    );
    let (code, out) = xtask(dir.path(), &["check"]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("spec/openapi.json is stale"), "{out}");
    let diff_line = |sign: char, text: &str| {
        out.lines()
            .any(|l| l.trim_start().starts_with(sign) && l.contains(text))
    };
    assert!(
        diff_line('-', "\"description\": \"The name of the metric.\""),
        "{out}"
    );
    assert!(
        diff_line('+', "\"description\": \"The metric's name.\""),
        "{out}"
    );
    assert!(out.contains("spec/generated/client.rs is stale"), "{out}");
    assert!(out.contains("@@"), "{out}");
    assert!(out.contains("run `cargo xtask generate`"), "{out}");

    // generate makes it fresh again, and is idempotent.
    let (code, out) = xtask(dir.path(), &["generate"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("wrote spec/openapi.json"), "{out}");
    let (_, out) = xtask(dir.path(), &["generate"]);
    assert!(
        out.contains("unchanged spec/openapi.json")
            && out.contains("unchanged spec/generated/client.rs"),
        "{out}"
    );
    let (code, out) = xtask(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn an_invalid_example_is_a_spec_error_naming_the_example() {
    let dir = copy();
    // The Create Team request example gets a review setting outside the enum.
    edit(
        dir.path(),
        "spec/openapi.yaml",
        "              reviewApproval: admin_only\n",
        "              reviewApproval: owners_only\n",
    );
    let (code, out) = xtask(dir.path(), &["check"]);
    assert_eq!(code, 100, "{out}");
    assert!(
        out.contains("POST /console/v1/users/teams request body application/json example"),
        "{out}"
    );
    assert!(out.contains("/reviewApproval"), "{out}");
}

#[test]
fn structural_problems_are_spec_errors() {
    let dir = copy();
    edit(
        dir.path(),
        "spec/openapi.yaml",
        "      summary: Create Team\n",
        "",
    );
    edit(
        dir.path(),
        "spec/openapi.yaml",
        "$ref: \"#/components/schemas/MetricRef\"",
        "$ref: \"#/components/schemas/MetricReff\"",
    );
    let (code, out) = xtask(dir.path(), &["check"]);
    assert_eq!(code, 100, "{out}");
    assert!(
        out.contains("POST /console/v1/users/teams: no `summary`"),
        "{out}"
    );
    assert!(
        out.contains("$ref #/components/schemas/MetricReff does not resolve"),
        "{out}"
    );
}

#[test]
fn an_operation_without_x_idempotent_is_a_spec_error_naming_it() {
    let dir = copy();
    edit(
        dir.path(),
        "spec/openapi.yaml",
        "      x-idempotent: false\n",
        "",
    );
    let (code, out) = xtask(dir.path(), &["check"]);
    assert_eq!(code, 100, "{out}");
    assert!(
        out.contains("spec/openapi.yaml: operation `createTeam` (POST /console/v1/users/teams) has no `x-idempotent`"),
        "{out}"
    );
    // The operation that kept its declaration is not named.
    assert!(!out.contains("`patchExperimentOverrides` (PATCH"), "{out}");
}

#[test]
fn malformed_rate_limits_are_a_spec_error() {
    let dir = copy();
    edit(
        dir.path(),
        "spec/openapi.yaml",
        "      periodSeconds: 900\n",
        "      periodSeconds: 0\n",
    );
    let (code, out) = xtask(dir.path(), &["check"]);
    assert_eq!(code, 100, "{out}");
    assert!(
        out.contains(
            "`info.x-rate-limits`.quota: `requests` and `periodSeconds` must both be above zero"
        ),
        "{out}"
    );
}

#[test]
fn an_unused_component_is_a_spec_error() {
    let dir = copy();
    edit(
        dir.path(),
        "spec/openapi.yaml",
        "  schemas:\n    OverrideType:",
        "  schemas:\n    Orphan:\n      type: string\n    OverrideType:",
    );
    let (code, out) = xtask(dir.path(), &["check"]);
    assert_eq!(code, 100, "{out}");
    assert!(
        out.contains("components/schemas/Orphan is never used"),
        "{out}"
    );
}

/// An "upstream" made from our own spec with known differences, so the test needs nothing
/// outside the repository.
fn synthetic_upstream(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(dir.join("spec/openapi.yaml")).unwrap();
    let mut doc: serde_json::Value = serde_norway::from_str(&text).unwrap();
    let member = &mut doc["components"]["schemas"]["TeamMember"];
    member["properties"]
        .as_object_mut()
        .unwrap()
        .remove("userID");
    let required = member["required"].as_array_mut().unwrap();
    required.retain(|name| name != "userID");
    doc["components"]["schemas"]["UserIdOverride"]["properties"]["ids"]["maxItems"] = 500.into();
    let path = dir.join("upstream.json");
    std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();
    path
}

const SYNTHETIC_DEVIATIONS: &str = r#"deviations:
  - location: "PATCH /console/v1/experiments/{id}/overrides request userIDOverrides[].ids"
    difference: "maxItems: ours 1000, upstream 500"
    why: test
  - location: "PATCH /console/v1/experiments/{id}/overrides response 200 body data.userIDOverrides[].ids"
    difference: "maxItems: ours 1000, upstream 500"
    why: test
  - location: "POST /console/v1/users/teams response 200 body data.admins[].userID"
    difference: "only in ours"
    why: test
  - location: "POST /console/v1/users/teams response 200 body data.members[].userID"
    difference: "only in ours"
    why: test
"#;

#[test]
fn drift_passes_when_every_difference_is_listed_and_fails_when_one_is_not() {
    let dir = copy();
    let upstream = synthetic_upstream(dir.path());
    let upstream = upstream.to_str().unwrap();
    std::fs::write(
        dir.path().join("spec/upstream-deviations.yaml"),
        SYNTHETIC_DEVIATIONS,
    )
    .unwrap();
    let (code, out) = xtask(dir.path(), &["check", "--upstream", upstream]);
    assert_eq!(code, 0, "{out}");

    let without_one = SYNTHETIC_DEVIATIONS.replace(
        "  - location: \"PATCH /console/v1/experiments/{id}/overrides request userIDOverrides[].ids\"\n    difference: \"maxItems: ours 1000, upstream 500\"\n    why: test\n",
        "",
    );
    std::fs::write(
        dir.path().join("spec/upstream-deviations.yaml"),
        without_one,
    )
    .unwrap();
    let (code, out) = xtask(dir.path(), &["check", "--upstream", upstream]);
    assert_eq!(code, 5, "{out}");
    assert!(
        out.contains("unlisted difference: PATCH /console/v1/experiments/{id}/overrides request userIDOverrides[].ids: maxItems: ours 1000, upstream 500"),
        "{out}"
    );
}

#[test]
fn a_listed_difference_that_no_longer_differs_is_stale() {
    let dir = copy();
    let upstream = synthetic_upstream(dir.path());
    let stale = format!(
        "{SYNTHETIC_DEVIATIONS}  - location: \"POST /console/v1/users/teams request name\"\n    difference: \"type: ours string, upstream integer\"\n    why: test\n"
    );
    std::fs::write(dir.path().join("spec/upstream-deviations.yaml"), stale).unwrap();
    let (code, out) = xtask(
        dir.path(),
        &["check", "--upstream", upstream.to_str().unwrap()],
    );
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("stale entry in spec/upstream-deviations.yaml: POST /console/v1/users/teams request name"), "{out}");
}

#[test]
fn the_real_deviations_hold_against_the_vendors_document_when_it_is_here() {
    let upstream = repo().join("../shared/upstream/statsig-console-openapi-20240601.json");
    if !upstream.exists() {
        eprintln!("skipped: {} is not here", upstream.display());
        return;
    }
    let dir = copy();
    let (code, out) = xtask(
        dir.path(),
        &["check", "--upstream", upstream.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    // Removing any one real entry names that difference.
    let deviations =
        std::fs::read_to_string(dir.path().join("spec/upstream-deviations.yaml")).unwrap();
    let entry = "  - location: \"POST /console/v1/users/teams response 200 body data.members[].userID\"\n    difference: \"only in ours\"\n";
    let start = deviations.find(entry).expect("the userID entry is listed");
    let end = deviations[start + entry.len()..]
        .find("  - location:")
        .map_or(deviations.len(), |i| start + entry.len() + i);
    let without = format!("{}{}", &deviations[..start], &deviations[end..]);
    std::fs::write(dir.path().join("spec/upstream-deviations.yaml"), without).unwrap();
    let (code, out) = xtask(
        dir.path(),
        &["check", "--upstream", upstream.to_str().unwrap()],
    );
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("unlisted difference: POST /console/v1/users/teams response 200 body data.members[].userID: only in ours"), "{out}");
}

#[test]
fn help_documents_the_commands_and_exit_codes() {
    let (code, out) = xtask(&repo(), &["--help"]);
    assert_eq!(code, 0);
    for needle in ["generate", "check", "lint", "--upstream", "100", "WORKFLOW"] {
        assert!(out.contains(needle), "{needle} missing from --help");
    }
}

#[test]
fn a_stale_or_orphaned_man_page_fails_the_check_and_generate_mends_it() {
    let dir = copy();
    edit(
        dir.path(),
        "cli/man/statsig-console-overrides-add.1",
        "Force any number of user ids",
        "Force some user ids",
    );
    std::fs::write(
        dir.path().join("cli/man/statsig-console-gone.1"),
        ".TH gone 1\n",
    )
    .unwrap();
    let (code, out) = xtask(dir.path(), &["check"]);
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("cli/man/statsig-console-overrides-add.1 is stale"),
        "{out}"
    );
    assert!(
        out.contains("cli/man/statsig-console-gone.1 is stale"),
        "{out}"
    );
    let (code, out) = xtask(dir.path(), &["generate"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("removed cli/man/statsig-console-gone.1"),
        "{out}"
    );
    let (code, out) = xtask(dir.path(), &["check"]);
    assert_eq!(code, 0, "{out}");
}
