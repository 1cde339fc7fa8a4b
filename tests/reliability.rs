//! Retries, idempotency, deadlines and client-side rate limiting, against the fake Console.

mod common;

use std::time::{Duration, Instant};

use common::{sample_overrides, sample_team, team_response_json};
use statsig_console::{Client, Error, RateLimit, RetryPolicy};
use statsig_console_mock::{Fault, MockConsole, MockOperation};

const KEY: &str = "console-reliability-0123456789";

async fn console() -> MockConsole {
    MockConsole::builder()
        .api_key(KEY)
        .experiment("checkout_flow", ["Control", "Test"])
        .rate_limits(RateLimit::new())
        .start()
        .await
        .unwrap()
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy::default()
        .initial_backoff(Duration::from_millis(20))
        .max_backoff(Duration::from_millis(100))
}

/// A client of `console` with the default settings apart from short backoffs.
fn quick_client(console: &MockConsole) -> Client {
    console
        .client_builder()
        .retry_policy(quick_retries())
        .build()
        .unwrap()
}

#[tokio::test]
async fn patch_survives_two_503s_in_three_attempts() {
    // The client this crate builds, and one passed in: the latter gets the vendor headers on
    // each request rather than as its defaults, and its retries keep the URL up front.
    for passed_in in [false, true] {
        let console = console().await;
        console.inject(
            Fault::status(503, "Service Unavailable")
                .on(MockOperation::PatchExperimentOverrides)
                .times(2),
        );
        let mut builder = console.client_builder().retry_policy(quick_retries());
        if passed_in {
            builder = builder.reqwest_client(reqwest::Client::new());
        }
        let client = builder.build().unwrap();
        let all = client
            .patch_experiment_overrides("checkout_flow", sample_overrides())
            .await
            .unwrap();
        assert_eq!(all, sample_overrides());
        let journal = console.journal();
        assert_eq!(journal.len(), 3, "passed in: {passed_in}");
        // Each retry sends the first attempt's request again: the same line, headers and body.
        for retry in &journal[1..] {
            assert_eq!(retry.method, journal[0].method);
            assert_eq!(retry.path, journal[0].path);
            assert_eq!(retry.headers, journal[0].headers);
            assert_eq!(retry.body, journal[0].body);
        }
        assert!(
            journal[0]
                .headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("statsig-api-key")),
            "passed in: {passed_in}"
        );
        assert_eq!(
            console.overrides("checkout_flow").unwrap(),
            sample_overrides()
        );
    }
}

#[tokio::test]
async fn patch_retries_500_502_504_and_dropped_connections() {
    let console = console().await;
    for status in [500, 502, 504] {
        console.inject(Fault::status(status, "upstream trouble"));
    }
    console.inject(Fault::drop_connection());
    let client = console
        .client_builder()
        .retry_policy(quick_retries().max_retries(4))
        .build()
        .unwrap();
    client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
    assert_eq!(console.journal().len(), 5);
}

#[tokio::test]
async fn patch_gives_up_after_max_retries_with_the_last_error() {
    let console = console().await;
    console.inject(Fault::status(503, "down").times(10));
    let client = console
        .client_builder()
        .retry_policy(quick_retries().max_retries(2))
        .build()
        .unwrap();
    let err = client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert_eq!(console.journal().len(), 3);
}

#[tokio::test]
async fn patch_waits_for_retry_after_on_429() {
    let console = console().await;
    console.inject(Fault::status(429, "Too many requests.").header("Retry-After", "2"));
    let client = quick_client(&console);
    let started = Instant::now();
    client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
    let waited = started.elapsed();
    // The backoff alone is at most 100 ms here: only Retry-After explains two seconds.
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}"
    );
    assert!(waited < Duration::from_secs(10), "took {waited:?}");
    assert_eq!(console.journal().len(), 2);
}

#[tokio::test]
async fn a_429_is_retried_on_its_own_budget_when_error_retries_are_none_or_spent() {
    // (error retries, the faults before the success): a client allowed no error retry at
    // all, and one whose only error retry a 503 used up, both wait out two 429s.
    for (max_retries, faults) in [(0, vec![429, 429]), (1, vec![503, 429, 429])] {
        let console = console().await;
        for status in &faults {
            console.inject(
                Fault::status(*status, "Try again later.")
                    .on(MockOperation::PatchExperimentOverrides),
            );
        }
        let client = console
            .client_builder()
            .retry_policy(
                quick_retries()
                    .max_retries(max_retries)
                    .max_throttled_retries(2),
            )
            .rate_limit(
                RateLimit::new()
                    .window(100, Duration::from_millis(100))
                    .probe_backoff(Duration::from_millis(10), Duration::from_millis(20)),
            )
            .build()
            .unwrap();
        client
            .patch_experiment_overrides("checkout_flow", sample_overrides())
            .await
            .unwrap_or_else(|error| panic!("max_retries {max_retries}: {error:?}"));
        assert_eq!(console.journal().len(), faults.len() + 1, "{faults:?}");
        // A third 429 is one more than its budget.
        for _ in 0..3 {
            console.inject(Fault::status(429, "Slow down."));
        }
        let err = client
            .patch_experiment_overrides("checkout_flow", sample_overrides())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn an_error_is_retried_on_its_budget_when_the_throttled_budget_is_none() {
    let console = console().await;
    console.inject(
        Fault::status(503, "Service Unavailable").on(MockOperation::PatchExperimentOverrides),
    );
    let client = console
        .client_builder()
        .retry_policy(quick_retries().max_retries(1).max_throttled_retries(0))
        .build()
        .unwrap();
    client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .expect("the 503 is retried once");
    assert_eq!(console.journal().len(), 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_cap_is_returned_not_waited_for() {
    let console = console().await;
    console.inject(Fault::status(429, "Too many requests.").header("Retry-After", "3600"));
    let client = quick_client(&console);
    let err = client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(console.journal().len(), 1);
}

#[tokio::test]
async fn create_team_is_not_retried_after_a_timeout_once_the_body_was_sent() {
    let console = console().await;
    console.inject(Fault::delay(Duration::from_secs(2)).on(MockOperation::CreateTeam));
    let client = console
        .client_builder()
        .retry_policy(quick_retries())
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client.create_team(sample_team()).await.unwrap_err();
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
    assert_eq!(console.journal().len(), 1);
    assert_eq!(
        console.teams().len(),
        1,
        "exactly one team, never a second from a retry"
    );
}

#[tokio::test]
async fn create_team_is_not_retried_after_5xx_or_a_dropped_connection() {
    let console = console().await;
    console.inject(Fault::status(503, "down"));
    let client = quick_client(&console);
    let err = client.create_team(sample_team()).await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    console.inject(Fault::drop_connection());
    let err = client.create_team(sample_team()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Transport {
                connect_failed: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(console.journal().len(), 2);
    assert!(console.teams().is_empty());
}

#[tokio::test]
async fn create_team_is_retried_when_the_connection_was_never_made() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = statsig_console::Client::builder()
        .api_key(KEY)
        .base_url(format!("http://127.0.0.1:{port}"))
        .retry_policy(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(400))
                .max_retries(6),
        )
        .build()
        .unwrap();
    // The server comes up only after the first attempt was refused.
    let starter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        MockConsole::builder()
            .api_key(KEY)
            .port(port)
            .start()
            .await
            .unwrap()
    });
    let team = client.create_team(sample_team()).await.unwrap();
    let console = starter.await.unwrap();
    assert_eq!(console.teams(), vec![team]);
    assert_eq!(console.journal().len(), 1);
}

#[tokio::test]
async fn create_team_is_retried_after_429_and_creates_exactly_one_team() {
    let console = console().await;
    // A throttled request was refused before it was processed: repeating it is safe.
    console.inject(
        Fault::status(429, "Too many requests.")
            .on(MockOperation::CreateTeam)
            .times(2),
    );
    // Without Retry-After a 429 is waited out by the limiter's probes, a quarter of the
    // shortest window at first: a short window keeps the test quick.
    let client = console
        .client_builder()
        .retry_policy(quick_retries())
        .rate_limit(RateLimit::new().window(100, Duration::from_millis(100)))
        .build()
        .unwrap();
    let team = client.create_team(sample_team()).await.unwrap();
    let journal = console.journal();
    assert_eq!(journal.len(), 3, "429, 429, 200");
    assert!(journal.iter().all(|r| r.method == "POST"));
    assert_eq!(console.teams(), vec![team]);
}

#[tokio::test]
async fn raw_calls_get_the_same_retries_as_the_facade() {
    let console = console().await;
    console.inject(
        Fault::status(503, "Service Unavailable")
            .on(MockOperation::PatchExperimentOverrides)
            .times(2),
    );
    let client = quick_client(&console);
    let answer = client
        .raw()
        .patch_experiment_overrides()
        .id("checkout_flow")
        .body(sample_overrides())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert_eq!(answer.into_inner().data, sample_overrides());
    let journal = console.journal();
    assert_eq!(journal.len(), 3, "503, 503, 200");
    assert!(
        journal
            .iter()
            .all(|r| r.header("statsig-api-version") == Some("20240601")),
        "every attempt carries the vendor's headers"
    );
}

#[tokio::test]
async fn raw_calls_wait_for_the_rate_limiter_like_the_facade() {
    let console = console().await;
    let window = Duration::from_millis(600);
    let client = console
        .client_builder()
        .retry_policy(RetryPolicy::none())
        .rate_limit(RateLimit::new().window(2, window))
        .build()
        .unwrap();
    let started = Instant::now();
    // Two facade calls fill the window; the raw call after them must wait for it to pass.
    for _ in 0..2 {
        client
            .patch_experiment_overrides("checkout_flow", sample_overrides())
            .await
            .unwrap();
    }
    assert!(started.elapsed() < window, "{:?}", started.elapsed());
    client
        .raw()
        .create_team()
        .body(sample_team())
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() >= window,
        "the raw call went out after {:?}, inside the window",
        started.elapsed()
    );
    assert_eq!(console.journal().len(), 3);
}

#[tokio::test]
async fn a_deadline_that_passes_before_a_rate_limit_slot_frees_sends_nothing() {
    let console = console().await;
    let client = console
        .client_builder()
        .retry_policy(RetryPolicy::none())
        .rate_limit(RateLimit::new().window(1, Duration::from_secs(60)))
        .call_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    client.create_team(sample_team()).await.unwrap();
    let err = client.create_team(sample_team()).await.unwrap_err();
    assert!(
        matches!(err, Error::DeadlineExceeded { attempts: 0, .. }),
        "{err:?}"
    );
    assert!(!err.may_have_taken_effect());
    assert_eq!(console.journal().len(), 1, "the second call sent nothing");
    assert_eq!(console.teams().len(), 1);
}

#[tokio::test]
async fn the_call_deadline_covers_every_attempt() {
    let console = console().await;
    console.inject(Fault::status(503, "down").times(1000));
    let client = console
        .client_builder()
        .retry_policy(
            RetryPolicy::default()
                .max_retries(1000)
                .initial_backoff(Duration::from_millis(50))
                .max_backoff(Duration::from_millis(50)),
        )
        .call_timeout(Duration::from_millis(600))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The last attempt may also be one that started just before the deadline and was cut
    // short by it: its timeout is what was left of the call's deadline.
    assert!(
        matches!(&err, Error::DeadlineExceeded { .. })
            || err.status().map(|s| s.as_u16()) == Some(503)
            || matches!(
                &err,
                Error::Transport {
                    timed_out: true,
                    ..
                }
            ),
        "{err:?}"
    );
    assert!(console.journal().len() >= 2);
}

/// The earliest send times `count` requests can have under `windows` with instant answers.
fn ideal_finish(windows: &[(u32, Duration)], count: usize) -> Duration {
    let mut sent: Vec<Duration> = Vec::new();
    let mut now = Duration::ZERO;
    while sent.len() < count {
        let mut earliest = now;
        for (limit, period) in windows {
            let in_window: Vec<&Duration> = sent.iter().filter(|t| now < **t + *period).collect();
            if in_window.len() >= *limit as usize {
                let index = in_window.len() - *limit as usize;
                earliest = earliest.max(*in_window[index] + *period);
            }
        }
        now = earliest;
        let free = windows.iter().all(|(limit, period)| {
            sent.iter().filter(|t| now < **t + *period).count() < *limit as usize
        });
        if free {
            sent.push(now);
        }
    }
    *sent.last().unwrap_or(&Duration::ZERO)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_patches_through_clones_meet_no_429() {
    let windows = [
        (10, Duration::from_millis(250)),
        (40, Duration::from_millis(1250)),
    ];
    // The fake enforces, and the client holds itself to, the very same windows.
    let limits = windows
        .iter()
        .fold(RateLimit::new(), |limits, (requests, period)| {
            limits.window(*requests, *period)
        });
    let console = MockConsole::builder()
        .api_key(KEY)
        .experiment("checkout_flow", ["Control", "Test"])
        .rate_limits(limits.clone())
        .start()
        .await
        .unwrap();
    // No retries: a 429 would surface as an error instead of being hidden by a retry.
    let client = console
        .client_builder()
        .retry_policy(RetryPolicy::none())
        .rate_limit(limits)
        .build()
        .unwrap();
    let started = Instant::now();
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .patch_experiment_overrides("checkout_flow", sample_overrides())
                    .await
            })
        })
        .collect();
    let mut rate_limited = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => {}
            Err(Error::RateLimited { .. }) => rate_limited += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(rate_limited, 0);
    assert_eq!(console.journal().len(), 200);
    // How close to the windows' floor the limiter gets is the benchmarks' business
    // (`benches/large_update.rs` reports time / floor); a timed assertion here would only
    // measure how busy the machine is.
    let ideal = ideal_finish(&windows, 200);
    assert!(
        elapsed >= ideal,
        "took {elapsed:?}, faster than the limits allow ({ideal:?}): a window was overrun"
    );
    println!("200 calls in {elapsed:?}; the limits allow {ideal:?}");
}

#[tokio::test]
async fn unknown_response_enum_values_decode_and_round_trip() {
    use wiremock::matchers::any;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let mut answer = team_response_json();
    answer["data"]["changeTeamConfigs"] = "admin_only".into();
    answer["data"]["reviewApproval"] = "owners_only".into();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(answer.clone()))
        .mount(&server)
        .await;
    let team = common::client_for(&server.uri())
        .create_team(sample_team())
        .await
        .unwrap();
    assert_eq!(
        team.change_team_configs,
        statsig_console::types::ChangeTeamConfigsSetting::Unknown("admin_only".into())
    );
    assert_eq!(team.review_approval.as_str(), "owners_only");
    assert_eq!(serde_json::to_value(&team).unwrap(), answer["data"]);
}
