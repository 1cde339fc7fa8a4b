//! `cargo xtask check` outcomes, each on a temporary copy of the spec directory.

mod common;

use std::path::{Path, PathBuf};

use common::{copy_dir, repo, xtask};

/// A temporary repository holding a copy of `spec/` and of the man pages.
fn copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("spec"), &dir.path().join("spec"));
    copy_dir(&repo().join("cli/man"), &dir.path().join("cli/man"));
    dir
}

fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} does not contain {from:?}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
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

/// Serves `document` at `/openapi/20240601.json` on 127.0.0.1 and runs `check --upstream`
/// with its address; returns (exit code, output).
async fn check_against_served(dir: &Path, document: String) -> (i32, String) {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/openapi/20240601.json"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/json")
                .set_body_string(document),
        )
        .expect(1)
        .mount(&server)
        .await;
    let url = format!("{}/openapi/20240601.json", server.uri());
    let root = dir.to_path_buf();
    tokio::task::spawn_blocking(move || xtask(&root, &["check", "--upstream", &url]))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_is_checked_against_a_document_fetched_from_an_address() {
    let dir = copy();
    let upstream = std::fs::read_to_string(synthetic_upstream(dir.path())).unwrap();
    std::fs::write(
        dir.path().join("spec/upstream-deviations.yaml"),
        SYNTHETIC_DEVIATIONS,
    )
    .unwrap();
    let (code, out) = check_against_served(dir.path(), upstream.clone()).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("drift: 4 difference(s)"), "{out}");
    // The fetched document is compared as a file would be: an unlisted difference fails.
    let drifted = upstream.replace("\"maxItems\":1000", "\"maxItems\":999");
    assert_ne!(drifted, upstream);
    let (code, out) = check_against_served(dir.path(), drifted).await;
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("unlisted difference"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_deviations_hold_against_the_shared_copy_served_from_an_address() {
    let upstream = repo().join("../shared/upstream/statsig-console-openapi-20240601.json");
    let Ok(document) = std::fs::read_to_string(&upstream) else {
        eprintln!("skipped: {} is not here", upstream.display());
        return;
    };
    let dir = copy();
    let (code, out) = check_against_served(dir.path(), document).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ok: differences from the vendor's document"),
        "{out}"
    );
}

#[test]
fn an_address_that_does_not_answer_fails_with_a_clear_message() {
    let dir = copy();
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/openapi/20240601.json",
        silent.local_addr().unwrap()
    );
    let (code, out) = xtask(
        dir.path(),
        &["check", "--upstream", &url, "--upstream-timeout", "0.5"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "cannot fetch the vendor's document from {url}: no answer within 0.5 s"
        )),
        "{out}"
    );
    drop(silent);

    // Nothing listens at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/openapi/20240601.json",
        closed.local_addr().unwrap()
    );
    drop(closed);
    let (code, out) = xtask(dir.path(), &["check", "--upstream", &url]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "cannot fetch the vendor's document from {url}: cannot connect (Connection refused"
        )),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operation_missing_from_the_fetched_document_is_named_with_its_address() {
    let dir = copy();
    let mut upstream: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(synthetic_upstream(dir.path())).unwrap())
            .unwrap();
    upstream["paths"]
        .as_object_mut()
        .unwrap()
        .remove("/console/v1/users/teams");
    std::fs::write(
        dir.path().join("spec/upstream-deviations.yaml"),
        SYNTHETIC_DEVIATIONS,
    )
    .unwrap();
    let (code, out) = check_against_served(dir.path(), upstream.to_string()).await;
    assert_eq!(code, 5, "{out}");
    let line = out
        .lines()
        .find(|line| line.contains("POST /console/v1/users/teams is not in the document"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.trim_start_matches([' ', '-'])
            .starts_with("http://127.0.0.1:")
            && line.contains("/openapi/20240601.json: POST"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_that_answers_an_error_or_no_document_fails_naming_it() {
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(path("/gone.json"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(path("/page.json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>: [unclosed"))
        .mount(&server)
        .await;
    let dir = copy();
    for (file, expected) in [
        ("gone.json", "the server answered 404 Not Found"),
        ("page.json", "the answer is neither JSON nor YAML"),
    ] {
        let url = format!("{}/{file}", server.uri());
        let root = dir.path().to_path_buf();
        let (code, out) = tokio::task::spawn_blocking({
            let url = url.clone();
            move || xtask(&root, &["check", "--upstream", &url])
        })
        .await
        .unwrap();
        assert_eq!(code, 2, "{out}");
        assert!(
            out.contains(&format!(
                "cannot fetch the vendor's document from {url}: {expected}"
            )),
            "{out}"
        );
    }
}

#[test]
fn a_bad_upstream_timeout_is_a_usage_error() {
    let (code, out) = xtask(
        &repo(),
        &[
            "check",
            "--upstream",
            "https://example.invalid/x.json",
            "--upstream-timeout",
            "soon",
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("--upstream-timeout: \"soon\" is not a positive number of seconds"),
        "{out}"
    );
}
