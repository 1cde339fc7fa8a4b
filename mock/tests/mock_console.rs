//! The fake Console's behaviour, driven through the facade (and raw HTTP where the facade
//! would refuse to send), asserting the journal and the stored state, not only statuses.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{sample_overrides, sample_team};
use serde_json::{Value, json};
use statsig_console::RateLimit;
use statsig_console::types::{ExperimentOverrides, OverrideType, UserIdOverride};
use statsig_console::{Error, RetryPolicy};
use statsig_console_mock::{Fault, MockConsole, MockOperation};

const KEY: &str = "console-mocktest-0123456789";

async fn console() -> MockConsole {
    MockConsole::builder()
        .api_key(KEY)
        .experiment("checkout_flow", ["Control", "Test"])
        .experiment("pricing", ["A", "B", "C"])
        .user("ana@example.com", "Ana", "Lopez")
        .rate_limits(RateLimit::new())
        .start()
        .await
        .unwrap()
}

/// Sends raw HTTP, for requests the facade would refuse to build.
async fn raw(
    console: &MockConsole,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .request(
            method.parse().unwrap(),
            format!("{}{path}", console.base_url()),
        )
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        request = request.header("STATSIG-API-KEY", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

const OVERRIDES: &str = "/console/v1/experiments/checkout_flow/overrides";
const TEAMS: &str = "/console/v1/users/teams";

fn ids(group: &str, list: &[&str]) -> UserIdOverride {
    UserIdOverride::builder()
        .group_id(group)
        .ids(list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .try_into()
        .unwrap()
}

#[tokio::test]
async fn missing_unknown_and_sdk_keys_are_401_and_change_nothing() {
    let console = console().await;
    let body = serde_json::to_string(&sample_overrides()).unwrap();
    for key in [
        None,
        Some("console-wrong"),
        Some("client-abc"),
        Some("secret-abc"),
    ] {
        let (status, answer, _) = raw(&console, "PATCH", OVERRIDES, key, &body).await;
        assert_eq!(status, 401, "{key:?}");
        assert_eq!(answer["status"], 401);
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .starts_with("This endpoint only accepts an active CONSOLE key")
        );
    }
    let wrong = console
        .client_builder()
        .api_key("console-not-this-one")
        .build()
        .unwrap();
    let err = wrong.create_team(sample_team()).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert!(console.teams().is_empty());
    assert!(
        console
            .overrides("checkout_flow")
            .unwrap()
            .overrides
            .is_empty()
    );
    assert_eq!(console.journal().len(), 5);
}

#[tokio::test]
async fn the_journal_records_requests_with_the_key_redacted() {
    let console = console().await;
    console
        .client()
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
    let journal = console.journal();
    assert_eq!(journal.len(), 1);
    let request = &journal[0];
    assert_eq!(request.method, "PATCH");
    assert_eq!(request.path, OVERRIDES);
    assert_eq!(request.header("statsig-api-key"), Some("[REDACTED]"));
    assert_eq!(request.header("statsig-api-version"), Some("20240601"));
    assert_eq!(
        request.body_json().unwrap(),
        serde_json::to_value(sample_overrides()).unwrap()
    );
    assert!(!format!("{journal:?}").contains(KEY));
}

#[tokio::test]
async fn unknown_experiment_is_404_and_unknown_path_is_404_json() {
    let console = console().await;
    let err = console
        .client()
        .patch_experiment_overrides("nope", sample_overrides())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotFound { message, .. } if message.contains("nope")),
        "{err:?}"
    );
    let (status, body, _) = raw(&console, "GET", "/console/v1/unknown", Some(KEY), "").await;
    assert_eq!((status, body["status"].as_i64()), (404, Some(404)));
}

#[tokio::test]
async fn undeclared_methods_are_405_with_allow() {
    let console = console().await;
    for (method, path, allow) in [
        ("GET", OVERRIDES, "PATCH"),
        ("POST", OVERRIDES, "PATCH"),
        ("DELETE", TEAMS, "POST"),
        ("PUT", TEAMS, "POST"),
    ] {
        let (status, _, headers) = raw(&console, method, path, Some(KEY), "{}").await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(headers["allow"], allow);
    }
}

#[tokio::test]
async fn schema_violations_are_400_naming_the_field_and_change_nothing() {
    let console = console().await;
    let team = serde_json::to_value(sample_team()).unwrap();
    let with = |mut value: Value, pointer: &str, replacement: Value| {
        *value.pointer_mut(pointer).unwrap() = replacement;
        value.to_string()
    };
    let without = |mut value: Value, field: &str| {
        value.as_object_mut().unwrap().remove(field);
        value.to_string()
    };
    let overrides = serde_json::to_value(sample_overrides()).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (OVERRIDES, "{not json".into(), "not valid JSON"),
        (
            OVERRIDES,
            without(overrides.clone(), "userIDOverrides"),
            "`userIDOverrides` is required",
        ),
        (
            OVERRIDES,
            with(overrides.clone(), "/overrides/0/id", json!(5)),
            "`overrides[0].id` must be a string",
        ),
        (
            OVERRIDES,
            with(overrides.clone(), "/overrides/0/type", json!("flag")),
            "`overrides[0].type` must be one of: gate, segment",
        ),
        (
            OVERRIDES,
            with(overrides.clone(), "/overrides/1/groupID", Value::Null),
            "`overrides[1].groupID` must not be null",
        ),
        (
            OVERRIDES,
            with(
                overrides.clone(),
                "/userIDOverrides/0/ids",
                json!(vec!["x"; 1001]),
            ),
            "`userIDOverrides[0].ids` has 1001 items",
        ),
        (
            OVERRIDES,
            with(
                overrides.clone(),
                "/overrides",
                json!(vec![
                    json!({"type": "gate", "id": "g", "groupID": "Test"});
                    1001
                ]),
            ),
            "`overrides` has 1001 items",
        ),
        (
            OVERRIDES,
            with(
                overrides.clone(),
                "/overrides/0/groupID",
                json!("Treatment"),
            ),
            "`overrides[0].groupID`: group \"Treatment\" does not exist",
        ),
        (
            TEAMS,
            with(team.clone(), "/members/1", json!("li at example.com")),
            "`members[1]` must be an email address",
        ),
        (
            TEAMS,
            with(team.clone(), "/reviewApproval", json!("owners")),
            "`reviewApproval` must be one of",
        ),
        (
            TEAMS,
            with(team.clone(), "/requireReviews", json!("yes")),
            "`requireReviews` must be a boolean",
        ),
        (
            TEAMS,
            with(team.clone(), "/name", json!("")),
            "`name` must be at least 1 characters long",
        ),
        (
            TEAMS,
            without(team.clone(), "defaultHoldoutMetrics"),
            "`defaultHoldoutMetrics` is required",
        ),
    ];
    for (path, body, expected) in &cases {
        let method = if *path == TEAMS { "POST" } else { "PATCH" };
        let (status, answer, _) = raw(&console, method, path, Some(KEY), body).await;
        assert_eq!(status, 400, "{expected}");
        assert_eq!(answer["status"], 400);
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "expected {expected:?} in {message:?}"
        );
    }
    assert!(console.teams().is_empty());
    assert_eq!(
        console.overrides("checkout_flow").unwrap(),
        ExperimentOverrides {
            overrides: vec![],
            user_id_overrides: vec![]
        }
    );
    assert_eq!(console.journal().len(), cases.len());
}

#[tokio::test]
async fn patch_is_additive_with_upserts_merges_and_moves() {
    let console = console().await;
    let client = console.client();
    let gate = |id: &str, group: &str| {
        statsig_console::types::ConditionalOverride::builder()
            .type_(OverrideType::Gate)
            .id(id)
            .group_id(group)
            .try_into()
            .unwrap()
    };
    let first = ExperimentOverrides {
        overrides: vec![gate("employees", "Test")],
        user_id_overrides: vec![ids("Test", &["u1", "u2", "u1"])],
    };
    let answer = client
        .patch_experiment_overrides("checkout_flow", first)
        .await
        .unwrap();
    assert_eq!(answer.user_id_overrides, vec![ids("Test", &["u1", "u2"])]);

    let second = ExperimentOverrides {
        overrides: vec![gate("employees", "Control"), gate("vips", "Test")],
        user_id_overrides: vec![ids("Control", &["u2", "u3"])],
    };
    let answer = client
        .patch_experiment_overrides("checkout_flow", second)
        .await
        .unwrap();
    assert_eq!(
        answer.overrides,
        vec![gate("employees", "Control"), gate("vips", "Test")]
    );
    assert_eq!(
        answer.user_id_overrides,
        vec![ids("Test", &["u1"]), ids("Control", &["u2", "u3"])]
    );
    // The answer is the stored state, and other experiments are untouched.
    assert_eq!(console.overrides("checkout_flow").unwrap(), answer);
    assert_eq!(
        console.overrides("pricing").unwrap(),
        ExperimentOverrides {
            overrides: vec![],
            user_id_overrides: vec![]
        }
    );

    // Scoped by environment: the same id in production does not move the default-scope one.
    let mut production = ids("Test", &["u3"]);
    production.environment = Some("production".into());
    let third = ExperimentOverrides {
        overrides: vec![],
        user_id_overrides: vec![production.clone()],
    };
    let answer = client
        .patch_experiment_overrides("checkout_flow", third)
        .await
        .unwrap();
    assert_eq!(
        answer.user_id_overrides,
        vec![
            ids("Test", &["u1"]),
            ids("Control", &["u2", "u3"]),
            production
        ]
    );
}

#[tokio::test]
async fn create_team_resolves_users_and_refuses_duplicates() {
    let console = console().await;
    let client = console.client();
    let team = client.create_team(sample_team()).await.unwrap();
    assert_eq!(team.name, "Checkout");
    assert_eq!(team.id.len(), 22);
    let ana = &team.members[0];
    assert_eq!(
        (
            ana.email.as_str(),
            ana.first_name.as_str(),
            ana.last_name.as_str()
        ),
        ("ana@example.com", "Ana", "Lopez")
    );
    // li@example.com was not seeded: derived from the address, deterministically.
    assert_eq!(team.members[1].first_name, "Li");
    assert_eq!(team.admins, vec![ana.clone()]);
    assert_eq!(console.teams(), vec![team.clone()]);

    let err = client.create_team(sample_team()).await.unwrap_err();
    assert!(
        matches!(&err, Error::BadRequest { message, .. } if message.contains("already exists")),
        "{err:?}"
    );
    assert_eq!(console.teams().len(), 1);
}

/// Four attempts against a window of 3 per 30 s; the error of the fourth.
async fn fourth_attempt_in_a_window_of_three(console: &MockConsole) -> Error {
    let client = console
        .client_builder()
        .retry_policy(RetryPolicy::none())
        .no_rate_limit()
        .build()
        .unwrap();
    for _ in 0..3 {
        client
            .patch_experiment_overrides("checkout_flow", sample_overrides())
            .await
            .unwrap();
    }
    client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn rate_limits_answer_429_without_retry_after_as_the_vendor_does() {
    let console = MockConsole::builder()
        .api_key(KEY)
        .experiment("checkout_flow", ["Control", "Test"])
        .rate_limits(RateLimit::new().window(3, Duration::from_secs(30)))
        .start()
        .await
        .unwrap();
    let err = fourth_attempt_in_a_window_of_three(&console).await;
    assert!(
        matches!(
            err,
            Error::RateLimited {
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(console.throttled(), 1);
    let journal = console.journal();
    assert_eq!(journal.len(), 4);
    assert_eq!(
        journal
            .iter()
            .map(|r| r.was_throttled())
            .collect::<Vec<_>>(),
        [false, false, false, true]
    );
    console.set_rate_limits(RateLimit::new());
    console
        .client()
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
}

#[tokio::test]
async fn with_retry_after_a_429_says_when_a_window_has_room() {
    let console = MockConsole::builder()
        .api_key(KEY)
        .experiment("checkout_flow", ["Control", "Test"])
        .rate_limits(RateLimit::new().window(3, Duration::from_secs(30)))
        .with_retry_after()
        .start()
        .await
        .unwrap();
    match fourth_attempt_in_a_window_of_three(&console).await {
        Error::RateLimited {
            retry_after: Some(wait),
            ..
        } => assert!(
            wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
            "{wait:?}"
        ),
        other => panic!("expected a 429 with Retry-After, got {other:?}"),
    }
}

#[tokio::test]
async fn the_default_limits_are_the_vendor_limits_the_spec_declares() {
    let console = MockConsole::builder().start().await.unwrap();
    assert_eq!(console.rate_limits(), RateLimit::vendor());
    let spec: Value = serde_json::from_str(statsig_console::OPENAPI_JSON).unwrap();
    let declared = &spec["info"]["x-rate-limits"];
    let window = |name: &str| {
        (
            u32::try_from(declared[name]["requests"].as_u64().unwrap()).unwrap(),
            Duration::from_secs(declared[name]["periodSeconds"].as_u64().unwrap()),
        )
    };
    assert_eq!(
        console.rate_limits().windows(),
        &[window("burst"), window("quota")]
    );
    console.set_rate_limits(RateLimit::new().window(1, Duration::from_secs(1)));
    assert_eq!(
        console.rate_limits(),
        RateLimit::new().window(1, Duration::from_secs(1))
    );
}

#[tokio::test]
async fn scripted_status_faults_apply_to_the_next_matching_requests() {
    let console = console().await;
    console.inject(
        Fault::status(503, "Service Unavailable")
            .on(MockOperation::CreateTeam)
            .times(2),
    );
    let client = console.client();
    // A PATCH is not matched by a Create Team fault.
    client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
    for _ in 0..2 {
        let err = client.create_team(sample_team()).await.unwrap_err();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(503), "{err:?}");
    }
    assert!(
        console.teams().is_empty(),
        "a scripted answer does not process the request"
    );
    client.create_team(sample_team()).await.unwrap();
    assert_eq!(console.teams().len(), 1);
    assert_eq!(console.journal().len(), 4);
}

#[tokio::test]
async fn a_fault_after_n_lets_that_many_matching_requests_through_first() {
    let console = console().await;
    console.inject(
        Fault::status(404, "Experiment checkout_flow not found.")
            .on(MockOperation::PatchExperimentOverrides)
            .after(2)
            .times(1),
    );
    let client = console.client();
    // A Create Team does not count towards a PATCH fault's `after`.
    client.create_team(sample_team()).await.unwrap();
    for _ in 0..2 {
        client
            .patch_experiment_overrides("checkout_flow", sample_overrides())
            .await
            .unwrap();
    }
    let err = client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404), "{err:?}");
    client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_delay_fault_processes_then_answers_late() {
    let console = console().await;
    console.inject(Fault::delay(Duration::from_secs(2)));
    let impatient = console
        .client_builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = impatient.create_team(sample_team()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Transport {
                timed_out: true,
                ..
            }
        ),
        "{err:?}"
    );
    // The team exists although the client gave up waiting.
    assert_eq!(console.teams().len(), 1);
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error_and_nothing_is_processed() {
    let console = console().await;
    console.inject(Fault::drop_connection());
    let err = console
        .client()
        .create_team(sample_team())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transport { status: None, .. }),
        "{err:?}"
    );
    assert!(console.teams().is_empty());
    assert_eq!(console.journal().len(), 1);
}

#[tokio::test]
async fn a_truncated_body_is_an_error_that_knows_the_status() {
    let console = console().await;
    console.inject(Fault::truncate_body());
    let once = console
        .client_builder()
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = once
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(200), "{err:?}");
    assert!(matches!(&err, Error::Transport { .. }), "{err:?}");
    // Processed before the answer was cut.
    assert_eq!(
        console.overrides("checkout_flow").unwrap(),
        sample_overrides()
    );
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let console = console().await;
    let client = console.client();
    client.create_team(sample_team()).await.unwrap();
    console.shutdown().await;
    let err = client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Transport {
                connect_failed: true,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let console = console().await;
    let client = console.client();
    drop(console);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = client.create_team(sample_team()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Transport {
                connect_failed: true,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_sdk_key_as_the_fakes_key_fails_at_start_not_later() {
    let err = MockConsole::builder()
        .api_key("client-abc123")
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("Console API key"), "{err}");
}
