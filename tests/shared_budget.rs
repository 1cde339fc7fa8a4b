//! Several independent clients on one project's budget: throttling-aware waits and the
//! adaptive limiter let them all finish.

use std::time::Duration;

use statsig_console::types::{ExperimentOverrides, UserIdOverride};
use statsig_console::{Client, RateLimit};
use statsig_console_mock::MockConsole;

const EXPERIMENT: &str = "checkout_flow";

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

/// 40 calls, 4 in flight.
async fn forty_calls(client: Client, index: usize) -> Vec<Result<(), statsig_console::Error>> {
    use futures_util::StreamExt;
    futures_util::stream::iter(0..40)
        .map(|call| {
            let client = client.clone();
            async move {
                client
                    .patch_experiment_overrides(EXPERIMENT, one_id(index, call))
                    .await
                    .map(|_| ())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_on_one_budget_all_finish() {
    // The vendor's shape scaled down: the same windows on both sides.
    let windows = RateLimit::new()
        .window(10, Duration::from_millis(250))
        .window(60, Duration::from_secs(2));
    let console = MockConsole::builder()
        .experiment(EXPERIMENT, ["Control", "Test"])
        .rate_limits(windows.clone())
        .without_retry_after()
        .start()
        .await
        .unwrap();
    // Three independent clients, as three processes would have: default settings apart from
    // the windows.
    let clients: Vec<Client> = (0..3)
        .map(|_| {
            console
                .client_builder()
                .rate_limit(windows.clone())
                .build()
                .unwrap()
        })
        .collect();

    let runs = clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| tokio::spawn(forty_calls(client, index)));
    let mut failed = Vec::new();
    for run in runs {
        for result in run.await.unwrap() {
            if let Err(error) = result {
                failed.push(error.to_string());
            }
        }
    }

    let sent = console.journal().len();
    let throttled = console.throttled();
    println!(
        "{sent} requests sent, {throttled} answered 429, {} calls failed",
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
        120
    );
    assert!(
        throttled * 4 <= sent,
        "{throttled} of {sent} requests were answered 429 (at most 25% allowed)"
    );
}
