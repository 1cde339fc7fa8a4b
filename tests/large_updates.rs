//! Large updates (`Client::apply_overrides`, `Client::add_user_ids`) against the fake Console
//! and, where the answers must be shaped by hand, a wiremock server.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use statsig_console::types::{
    ConditionalOverride, ExperimentOverrides, OverrideType, UserIdOverride,
};
use statsig_console::{Error, Progress, RateLimit, RetryPolicy};
use statsig_console_mock::{Fault, MockConsole, MockOperation, RecordedRequest};

const EXPERIMENT: &str = "checkout_flow";

async fn fake() -> MockConsole {
    MockConsole::builder()
        .experiment(EXPERIMENT, ["Control", "Test"])
        .start()
        .await
        .expect("the fake starts on 127.0.0.1")
}

fn ids(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{prefix}{n}")).collect()
}

fn gate(n: usize) -> ConditionalOverride {
    ConditionalOverride {
        type_: OverrideType::Gate,
        id: format!("gate_{n}"),
        group_id: "Test".to_string(),
        environment: None,
    }
}

fn entry(group: &str, environment: Option<&str>, ids: Vec<String>) -> UserIdOverride {
    UserIdOverride {
        group_id: group.to_string(),
        environment: environment.map(str::to_string),
        unit_type: None,
        ids,
    }
}

/// The PATCH bodies the fake received.
fn patch_bodies(journal: &[RecordedRequest]) -> Vec<ExperimentOverrides> {
    journal
        .iter()
        .filter(|request| request.method == "PATCH")
        .map(|request| {
            serde_json::from_slice(&request.body).expect("every PATCH body is ExperimentOverrides")
        })
        .collect()
}

/// Every request the Console accepts: at most 1000 conditional overrides, at most 1000 ids in
/// total (the default), and one entry per (group, environment, unit type).
fn assert_within_the_consoles_limits(bodies: &[ExperimentOverrides]) {
    for (index, body) in bodies.iter().enumerate() {
        assert!(body.overrides.len() <= 1000, "request {index}: overrides");
        let total: usize = body.user_id_overrides.iter().map(|e| e.ids.len()).sum();
        assert!(total <= 1000, "request {index}: {total} ids");
        let mut keys = HashSet::new();
        for e in &body.user_id_overrides {
            assert!(
                keys.insert((&e.group_id, &e.environment, &e.unit_type)),
                "request {index}: two entries for {:?}",
                e.group_id
            );
        }
    }
}

/// The entry for (group, environment) holds exactly `expected`, in any order.
fn assert_same_ids(
    state: &ExperimentOverrides,
    group: &str,
    environment: Option<&str>,
    expected: &[String],
) {
    let entry = state
        .user_id_overrides
        .iter()
        .find(|e| e.group_id == group && e.environment.as_deref() == environment)
        .unwrap_or_else(|| panic!("no entry for {group} {environment:?}"));
    let actual: HashSet<&String> = entry.ids.iter().collect();
    assert_eq!(
        entry.ids.len(),
        expected.len(),
        "{group} {environment:?}: count"
    );
    assert!(
        expected.iter().all(|id| actual.contains(id)),
        "{group} {environment:?}: ids differ"
    );
}

/// The ids of one request are a run of the input in its order (`prefix0`, `prefix1`, ...).
fn assert_consecutive(ids: &[String]) {
    let numbers: Vec<u64> = ids
        .iter()
        .map(|id| {
            id.trim_start_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        numbers.windows(2).all(|pair| pair[1] == pair[0] + 1),
        "a request's ids keep the input's order"
    );
}

fn recorded_progress() -> (
    Arc<Mutex<Vec<Progress>>>,
    impl FnMut(&Progress) + Send + 'static,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    (seen, move |progress: &Progress| {
        sink.lock().unwrap().push(progress.clone())
    })
}

#[tokio::test]
async fn an_update_of_any_size_ends_with_exactly_that_state() {
    let console = fake().await;
    let client = console.client();
    let mut test_ids = ids("user_", 2500);
    // A repeated id is sent once.
    test_ids.push("user_7".to_string());
    let update = ExperimentOverrides {
        overrides: (0..1200).map(gate).collect(),
        user_id_overrides: vec![
            entry("Test", None, test_ids),
            entry("Control", Some("staging"), ids("staging_", 1001)),
        ],
    };
    let (seen, on_progress) = recorded_progress();

    let all = client
        .apply_overrides(EXPERIMENT, update)
        .on_progress(on_progress)
        .await
        .expect("the update completes");

    let state = console.overrides(EXPERIMENT).unwrap();
    assert!(
        all == state,
        "the answer is the experiment's state after the last request"
    );
    // Requests in flight together may arrive in any order: compare contents.
    assert_same_ids(&state, "Test", None, &ids("user_", 2500));
    assert_same_ids(&state, "Control", Some("staging"), &ids("staging_", 1001));
    assert_eq!(state.user_id_overrides.len(), 2);
    let mut gates: Vec<String> = state.overrides.iter().map(|o| o.id.clone()).collect();
    gates.sort();
    let mut expected: Vec<String> = (0..1200).map(|n| gate(n).id).collect();
    expected.sort();
    assert!(
        gates == expected,
        "all 1200 conditional overrides, once each"
    );

    let bodies = patch_bodies(&console.journal());
    assert_within_the_consoles_limits(&bodies);
    let mut sent = HashSet::new();
    let mut sent_count = 0;
    for e in bodies.iter().flat_map(|b| &b.user_id_overrides) {
        assert_consecutive(&e.ids);
        for id in &e.ids {
            sent_count += 1;
            assert!(
                sent.insert((e.environment.clone(), id.clone())),
                "{id} sent twice"
            );
        }
    }
    assert_eq!(sent_count, 3501, "every id exactly once");
    assert_eq!(
        bodies.iter().map(|b| b.overrides.len()).sum::<usize>(),
        1200
    );

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), bodies.len(), "one callback per applied request");
    for pair in seen.windows(2) {
        assert!(pair[0].requests_done < pair[1].requests_done);
        assert!(pair[0].ids_done <= pair[1].ids_done);
        assert!(pair[0].overrides_done <= pair[1].overrides_done);
    }
    let last = seen.last().unwrap();
    assert_eq!(last.requests_total, Some(last.requests_done));
    assert_eq!(last.requests_done, bodies.len() as u64);
    assert_eq!((last.ids_done, last.duplicate_ids_skipped), (3501, 1));
    assert_eq!(last.ids_total, Some(3502));
    assert_eq!((last.overrides_done, last.overrides_total), (1200, 1200));
}

#[tokio::test]
async fn an_update_completes_through_503_answers() {
    let console = fake().await;
    let client = console
        .client_builder()
        .retry_policy(RetryPolicy::default().initial_backoff(Duration::from_millis(5)))
        .build()
        .unwrap();
    // The first request answers, then two 503s hit whichever requests come next.
    console.inject(
        Fault::status(503, "Service temporarily unavailable.")
            .on(MockOperation::PatchExperimentOverrides)
            .after(1)
            .times(2),
    );

    let all = client
        .add_user_ids(EXPERIMENT, "Test", ids("u", 4200))
        .await
        .expect("503s are retried");

    assert_same_ids(&all, "Test", None, &ids("u", 4200));
    let bodies = patch_bodies(&console.journal());
    assert_eq!(bodies.len(), 5 + 2, "five requests, two of them sent twice");
    assert_within_the_consoles_limits(&bodies);
}

#[tokio::test]
async fn a_failure_stops_the_update_and_says_what_was_applied() {
    let console = fake().await;
    let client = console.client();
    console.inject(
        Fault::status(404, "Experiment checkout_flow not found.")
            .on(MockOperation::PatchExperimentOverrides)
            .after(2)
            .times(100),
    );

    let error = client
        .add_user_ids(EXPERIMENT, "Test", ids("u", 5500))
        .concurrency(1)
        .await
        .expect_err("the third request fails");

    assert_eq!(
        console.journal().len(),
        3,
        "nothing is sent after the failure"
    );
    assert_eq!(error.status(), Some(reqwest::StatusCode::NOT_FOUND));
    assert!(matches!(error.cause(), Error::NotFound { .. }), "{error:?}");
    match &error {
        Error::PartiallyApplied {
            applied_requests,
            applied_ids,
            applied_overrides,
            ..
        } => assert_eq!(
            (*applied_requests, *applied_ids, *applied_overrides),
            (2, 2000, 0)
        ),
        other => panic!("expected PartiallyApplied, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("not found (404)"), "{message}");
    assert!(
        message.contains("2 requests of the update were applied (2000 ids"),
        "{message}"
    );
    assert!(
        message.contains("running the same update again is safe"),
        "{message}"
    );
    assert!(error.may_have_taken_effect());
}

#[tokio::test]
async fn a_stop_signal_sends_nothing_more_and_lets_the_requests_in_flight_finish() {
    let console = fake().await;
    // Slow answers: three requests are in flight whenever one completes.
    console.inject(
        Fault::delay(Duration::from_millis(100))
            .on(MockOperation::PatchExperimentOverrides)
            .times(1000),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut stop = Some(stop);
    let error = console
        .client()
        .add_user_ids(EXPERIMENT, "Test", ids("u", 50_000))
        .concurrency(3)
        .on_progress(move |progress| {
            if progress.requests_done == 4 {
                let _ = stop.take().map(|stop| stop.send(()));
            }
        })
        .stop_when(async move {
            let _ = stopped.await;
        })
        .await
        .expect_err("stopped after four requests");
    let Error::PartiallyApplied {
        cause,
        applied_requests,
        applied_ids,
        ..
    } = &error
    else {
        panic!("expected PartiallyApplied, got {error:?}");
    };
    assert!(matches!(**cause, Error::Stopped), "{cause:?}");
    // Every request sent was let finish, and applied; nothing went after the signal.
    let sent = console.journal().len() as u64;
    assert_eq!(*applied_requests, sent, "{error}");
    assert!((4..=4 + 3).contains(&sent), "{sent} sent");
    assert_eq!(*applied_ids, sent * 1000);
    assert_eq!(
        console.overrides(EXPERIMENT).unwrap().user_id_overrides[0]
            .ids
            .len() as u64,
        sent * 1000
    );
    assert!(error.to_string().contains("stopped on request"), "{error}");
    // Stopped before anything was applied: the plain error, nothing sent at all.
    let untouched = fake().await;
    let error = untouched
        .client()
        .add_user_ids(EXPERIMENT, "Test", ids("u", 5000))
        .stop_when(std::future::ready(()))
        .await
        .expect_err("stopped at once");
    assert!(matches!(error, Error::Stopped), "{error:?}");
    assert!(!error.may_have_taken_effect());
    assert_eq!(untouched.journal().len(), 0);
}

#[tokio::test]
async fn a_failure_of_the_first_request_is_the_plain_error() {
    let console = fake().await;
    let error = console
        .client()
        .add_user_ids("no_such_experiment", "Test", ids("u", 3000))
        .await
        .expect_err("unknown experiment");
    assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    assert_eq!(console.journal().len(), 1, "the first request goes alone");
}

#[tokio::test]
async fn fifty_thousand_ids_under_matching_limits_meet_no_429() {
    let limits = RateLimit::new()
        .window(10, Duration::from_millis(200))
        .window(40, Duration::from_secs(1));
    let console = MockConsole::builder()
        .experiment(EXPERIMENT, ["Control", "Test"])
        .rate_limits(limits.clone())
        .start()
        .await
        .unwrap();
    // No retries: a single 429 would fail the update.
    let client = console
        .client_builder()
        .rate_limit(limits)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();

    let all = client
        .add_user_ids(EXPERIMENT, "Test", ids("u", 50_000))
        .await
        .expect("paced under the limits, no request is throttled");

    assert_eq!(all.user_id_overrides[0].ids.len(), 50_000);
    assert_eq!(console.journal().len(), 50);
    assert_eq!(console.throttled(), 0, "no request met a full window");
}

#[tokio::test]
async fn intermediate_answers_beyond_max_response_bytes_do_not_fail_the_update() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    let huge = json!({
        "message": "Experiment overrides updated successfully.",
        "data": {"overrides": [], "userIDOverrides": [{"groupID": "Test", "ids": ids("x", 20_000)}]}
    });
    let small = json!({
        "message": "Experiment overrides updated successfully.",
        "data": {"overrides": [], "userIDOverrides": [{"groupID": "Test", "ids": ["u0"]}]}
    });
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&huge))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&small))
        .with_priority(2)
        .mount(&server)
        .await;
    let client = statsig_console::Client::builder()
        .api_key(common::TEST_KEY)
        .base_url(server.uri())
        .max_response_bytes(4096)
        .build()
        .unwrap();

    let all = client
        .add_user_ids(EXPERIMENT, "Test", ids("u", 2500))
        .concurrency(1)
        .await
        .expect("only the last answer is decoded");

    assert_eq!(all.user_id_overrides[0].ids, vec!["u0"]);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3);
    assert!(huge.to_string().len() > 4096 * 10);
}

#[tokio::test]
async fn a_dry_run_lists_the_requests_and_sends_nothing() {
    let console = fake().await;
    let client = console.client();
    let requests: Vec<ExperimentOverrides> = client
        .add_user_ids(EXPERIMENT, "Test", ids("u", 2001))
        .environment("staging")
        .requests()
        .unwrap()
        .collect();
    assert_eq!(
        requests
            .iter()
            .map(|r| r.user_id_overrides[0].ids.len())
            .collect::<Vec<_>>(),
        vec![1000, 1000, 1]
    );
    assert!(
        requests
            .iter()
            .all(|r| r.user_id_overrides[0].environment.as_deref() == Some("staging"))
    );
    assert!(console.journal().is_empty());
}

#[tokio::test]
async fn bad_options_and_input_are_refused_before_sending() {
    let console = fake().await;
    let client = console.client();
    let cases: Vec<(Error, &str)> = vec![
        (
            client
                .add_user_ids(EXPERIMENT, "", ids("u", 3))
                .await
                .unwrap_err(),
            "group_id",
        ),
        (
            client
                .add_user_ids(EXPERIMENT, "Test", ids("u", 3))
                .ids_per_request(1001)
                .await
                .unwrap_err(),
            "ids_per_request",
        ),
        (
            client
                .add_user_ids("", "Test", ids("u", 3))
                .await
                .unwrap_err(),
            "experiment_id",
        ),
        (
            client
                .apply_overrides(
                    EXPERIMENT,
                    serde_json::from_value::<ExperimentOverrides>(json!({
                        "overrides": [{"type": "holdout", "id": "h", "groupID": "Test"}],
                        "userIDOverrides": []
                    }))
                    .unwrap(),
                )
                .await
                .unwrap_err(),
            "overrides[0].type",
        ),
    ];
    for (error, field) in cases {
        match error {
            Error::InvalidInput { field: actual, .. } => assert_eq!(actual, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(console.journal().is_empty());
}

#[tokio::test]
async fn an_oversized_single_patch_points_to_apply_overrides() {
    let console = fake().await;
    let error = console
        .client()
        .patch_experiment_overrides(
            EXPERIMENT,
            ExperimentOverrides {
                overrides: vec![],
                user_id_overrides: vec![entry("Test", None, ids("u", 1001))],
            },
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("apply_overrides"), "{error}");
}
