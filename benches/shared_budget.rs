//! A simulation, not a benchmark of speed: N independent clients (1, 2, 4, 8), as N processes
//! on one project would be, share one scaled-down project budget enforced by the fake Console,
//! which answers 429 without `Retry-After` as the vendor has been seen to.
//!
//! Each client has default settings apart from the windows (the same on both sides, as every
//! process would configure the vendor's documented limits) and makes PATCH calls, 4 in flight,
//! for 8 seconds. For each N it reports the calls that failed, the share of requests answered
//! 429, and the aggregate throughput: the calls done in the 8 seconds as a fraction of what the
//! budget admits in them.
//! Goals: no failed call, at most 10% of requests throttled, throughput at least 0.8.
//!
//! Run with `cargo xtask simulate` (or `cargo bench --bench shared_budget`).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use statsig_console::types::{ExperimentOverrides, UserIdOverride};
use statsig_console::{Client, RateLimit};
use statsig_console_mock::MockConsole;

const EXPERIMENT: &str = "checkout_flow";
/// How long the clients keep calling.
const RUN_FOR: Duration = Duration::from_secs(8);
const IN_FLIGHT: usize = 4;

/// The vendor's two windows (100 per 10 s, 900 per 15 minutes) with time running ten times
/// faster: the same counts, so each client adapts in steps of the same size as against the
/// vendor, in a tenth of the time.
fn budget() -> RateLimit {
    RateLimit::new()
        .window(100, Duration::from_secs(1))
        .window(900, Duration::from_secs(90))
}

/// The most requests the budget admits in `elapsed`: a sliding window of `n` per `period`
/// admits `n` in every started period.
fn admitted_in(limit: &RateLimit, elapsed: Duration) -> f64 {
    limit
        .windows()
        .iter()
        .map(|(n, period)| f64::from(*n) * (elapsed.as_secs_f64() / period.as_secs_f64()).ceil())
        .fold(f64::INFINITY, f64::min)
}

struct Row {
    clients: usize,
    calls: usize,
    failed: usize,
    requests: usize,
    throttled: usize,
    seconds: f64,
    throughput: f64,
}

async fn simulate(clients: usize) -> Row {
    let console = MockConsole::builder()
        .experiment(EXPERIMENT, ["Control", "Test"])
        .rate_limits(budget())
        .without_retry_after()
        .start()
        .await
        .expect("the fake starts on 127.0.0.1");
    let started = Instant::now();
    let stop = started + RUN_FOR;
    let runs: Vec<_> = (0..clients)
        .map(|index| {
            let client: Client = console
                .client_builder()
                .rate_limit(budget())
                .build()
                .expect("a loopback client");
            tokio::spawn(async move {
                // Calls start until the run's end; each reports whether it succeeded and when
                // it ended.
                futures_util::stream::iter(0..)
                    .take_while(|_| std::future::ready(Instant::now() < stop))
                    .map(|call| {
                        let client = client.clone();
                        async move {
                            let update = ExperimentOverrides {
                                overrides: vec![],
                                user_id_overrides: vec![UserIdOverride {
                                    group_id: "Test".to_string(),
                                    environment: None,
                                    unit_type: None,
                                    ids: vec![format!("client{index}_user{call}")],
                                }],
                            };
                            let ok = client
                                .patch_experiment_overrides(EXPERIMENT, update)
                                .await
                                .is_ok();
                            (ok, Instant::now())
                        }
                    })
                    .buffer_unordered(IN_FLIGHT)
                    .collect::<Vec<(bool, Instant)>>()
                    .await
            })
        })
        .collect();
    let mut calls = 0;
    let mut failed = 0;
    let mut done_in_time = 0;
    for run in runs {
        for (ok, ended) in run.await.expect("a client's task ends") {
            calls += 1;
            failed += usize::from(!ok);
            done_in_time += usize::from(ok && ended <= stop);
        }
    }
    Row {
        clients,
        calls,
        failed,
        requests: console.journal().len(),
        throttled: console.throttled(),
        seconds: RUN_FOR.as_secs_f64(),
        throughput: done_in_time as f64 / admitted_in(&budget(), RUN_FOR),
    }
}

fn main() {
    let json_path = std::env::args()
        .skip_while(|arg| arg != "--json")
        .nth(1)
        .map(std::path::PathBuf::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let rows: Vec<Row> = runtime.block_on(async {
        let mut rows = Vec::new();
        for clients in [1, 2, 4, 8] {
            rows.push(simulate(clients).await);
        }
        rows
    });
    println!(
        "N clients calling for {} s, {IN_FLIGHT} calls in flight each, budget 100 per 1 s and 900 per 90 s shared by all\n\
         (the vendor's windows, time ten times faster), 429 without Retry-After; every client configured\n\
         with the same windows; throughput: calls done in the time / what the budget admits in it\n",
        RUN_FOR.as_secs()
    );
    println!(
        "{:>7}  {:>6}  {:>6}  {:>8}  {:>9}  {:>9}  {:>8}  {:>10}",
        "clients", "calls", "failed", "requests", "throttled", "share 429", "seconds", "throughput"
    );
    for row in &rows {
        println!(
            "{:>7}  {:>6}  {:>6}  {:>8}  {:>9}  {:>8.1}%  {:>8.2}  {:>10.2}",
            row.clients,
            row.calls,
            row.failed,
            row.requests,
            row.throttled,
            100.0 * row.throttled as f64 / row.requests.max(1) as f64,
            row.seconds,
            row.throughput
        );
    }
    if let Some(path) = json_path {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({"clients": r.clients, "calls": r.calls, "failed": r.failed,
                       "requests": r.requests, "throttled": r.throttled, "seconds": r.seconds,
                       "throughput_of_budget": r.throughput})
            })
            .collect();
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(error) = std::fs::write(&path, json!({"shared_budget": rows}).to_string()) {
            eprintln!("cannot write {}: {error}", path.display());
        }
    }
}
