//! Independent clients on one project's quota, against the fake Console counting as the vendor
//! does: every attempt, the 429s included, per project across keys, and no `Retry-After`.
//! Throttled spells (one probe at a time per client) and the adaptive windows let every call
//! succeed while spending little of the quota on rejected attempts.

use std::time::Duration;

use futures_util::StreamExt;
use statsig_console::types::{ExperimentOverrides, UserIdOverride};
use statsig_console::{Client, RateLimit};
use statsig_console_mock::MockConsole;

const EXPERIMENT: &str = "checkout_flow";
/// Time runs this many times faster than at the vendor, on both sides.
const SPEED_UP: u32 = 40;

fn one_id(client: usize, call: usize) -> ExperimentOverrides {
    ExperimentOverrides {
        overrides: vec![],
        user_id_overrides: vec![UserIdOverride {
            group_id: "Test".to_string(),
            environment: None,
            unit_type: None,
            ids: vec![format!("client{client}_user{call}")],
        }],
    }
}

/// `calls` calls, 4 in flight; the errors of those that failed.
async fn run_calls(client: Client, index: usize, calls: usize) -> Vec<String> {
    futures_util::stream::iter(0..calls)
        .map(|call| {
            let client = client.clone();
            async move {
                client
                    .patch_experiment_overrides(EXPERIMENT, one_id(index, call))
                    .await
                    .err()
                    .map(|error| error.to_string())
            }
        })
        .buffer_unordered(4)
        .filter_map(std::future::ready)
        .collect()
        .await
}

/// A fake with `limits`, whose keys `keys` all belong to its one project.
async fn console(limits: RateLimit, keys: &[&str]) -> MockConsole {
    let mut builder = MockConsole::builder()
        .experiment(EXPERIMENT, ["Control", "Test"])
        .rate_limits(limits);
    for key in keys {
        builder = builder.api_key(*key);
    }
    builder.start().await.unwrap()
}

fn rejected_share(console: &MockConsole) -> (usize, usize) {
    let journal = console.journal();
    let rejected = journal.iter().filter(|r| r.was_throttled()).count();
    assert_eq!(
        rejected,
        console.throttled(),
        "the journal and the counter agree"
    );
    (rejected, journal.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_with_their_own_keys_share_one_project_quota() {
    // The vendor's windows and the default's, both at 40 times the speed: a burst window of
    // 250 ms and a quota window of 22.5 s.
    let server = RateLimit::vendor().faster(SPEED_UP);
    let keys = ["console-one", "console-two", "console-three"];
    let console = console(server, &keys).await;
    // Three independent clients, as three processes with three keys of one project would
    // have: default settings apart from the scaled windows.
    let runs: Vec<_> = keys
        .iter()
        .enumerate()
        .map(|(index, key)| {
            let client = Client::builder()
                .api_key(*key)
                .base_url(console.base_url())
                .rate_limit(RateLimit::default().faster(SPEED_UP))
                .build()
                .unwrap();
            // 900 calls in all: half the quota window's 1,800, so every client's burst meets
            // the others' and the quota is not what ends the test.
            tokio::spawn(run_calls(client, index, 300))
        })
        .collect();
    let mut failed = Vec::new();
    for run in runs {
        failed.extend(run.await.unwrap());
    }
    let (rejected, attempts) = rejected_share(&console);
    println!(
        "{attempts} attempts, {rejected} rejected, {} calls failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} calls failed: {failed:?}",
        failed.len()
    );
    assert_eq!(
        console.overrides(EXPERIMENT).unwrap().user_id_overrides[0]
            .ids
            .len(),
        900
    );
    assert!(
        rejected * 10 <= attempts,
        "{rejected} of {attempts} attempts were rejected (at most 10% allowed)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_configured_for_twice_the_quota_learns_the_real_one() {
    // A quota window of 200 per 2 s at the server, with its burst window of 100 per 250 ms;
    // the client believes in 400 per 2 s.
    let server = RateLimit::new()
        .window(100, Duration::from_millis(250))
        .window(200, Duration::from_secs(2));
    let console = console(server, &["console-only"]).await;
    let client = Client::builder()
        .api_key("console-only")
        .base_url(console.base_url())
        .rate_limit(
            RateLimit::new()
                .window(95, Duration::from_millis(250))
                .window(400, Duration::from_secs(2)),
        )
        .call_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // 700 calls: three and a half quota windows' worth.
    let failed = run_calls(client, 0, 700).await;
    let (rejected, attempts) = rejected_share(&console);
    println!(
        "{attempts} attempts, {rejected} rejected, {} calls failed",
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} calls failed: {failed:?}",
        failed.len()
    );
    assert!(
        rejected * 100 <= attempts * 15,
        "{rejected} of {attempts} attempts were rejected (at most 15% allowed)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_with_the_default_limits_bursts_a_thousand_calls_without_a_429() {
    // The defaults against the vendor's limits, at 100 times the speed.
    let console = console(RateLimit::vendor().faster(100), &["console-alone"]).await;
    let client = Client::builder()
        .api_key("console-alone")
        .base_url(console.base_url())
        .rate_limit(RateLimit::default().faster(100))
        .build()
        .unwrap();
    let calls: Vec<_> = (0..1000)
        .map(|call| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .patch_experiment_overrides(EXPERIMENT, one_id(0, call))
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(console.throttled(), 0);
    assert_eq!(console.journal().len(), 1000);
}

#[tokio::test]
async fn keys_of_other_projects_have_quotas_of_their_own() {
    let console = MockConsole::builder()
        .experiment(EXPERIMENT, ["Control", "Test"])
        .rate_limits(RateLimit::new().window(2, Duration::from_secs(60)))
        .api_key("console-a1")
        .api_key("console-a2")
        .api_key_in_project("console-b1", "other")
        .start()
        .await
        .unwrap();
    let no_retries = |key: &str| {
        Client::builder()
            .api_key(key)
            .base_url(console.base_url())
            .no_rate_limit()
            .retry_policy(statsig_console::RetryPolicy::none())
            .build()
            .unwrap()
    };
    let send = |key: &str| {
        let client = no_retries(key);
        async move {
            client
                .patch_experiment_overrides(EXPERIMENT, one_id(0, 0))
                .await
                .map(|_| ())
                // The status, and whether the answer said when to come back.
                .map_err(|error| (error.status().map(|s| s.as_u16()), error.retry_after()))
        }
    };
    assert_eq!(send("console-a1").await, Ok(()));
    assert_eq!(send("console-a2").await, Ok(()));
    // The project's two are spent, across its keys; the rejected attempt counts too.
    // No Retry-After, as the vendor documents none.
    assert_eq!(send("console-a1").await, Err((Some(429), None)));
    assert_eq!(send("console-a2").await, Err((Some(429), None)));
    assert_eq!(send("console-b1").await, Ok(()));
    assert_eq!(console.throttled(), 2);
    let statuses: Vec<Option<u16>> = console.journal().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [Some(200), Some(200), Some(429), Some(429), Some(200)]
    );
    assert!(console.journal()[2].was_throttled());
}
