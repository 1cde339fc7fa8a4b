//! A simulation, not a benchmark of speed: independent clients on one project's quota, against
//! the fake Console counting as the vendor documents (docs.statsig.com/console-api, "Rate
//! limiting", read 2026-12-01): every attempt counts, the 429s included, per project across
//! keys, and a 429 carries no `Retry-After`.
//!
//! Time runs ten times faster than at the vendor: the fake's burst window is 100 per 1 s and
//! its quota window 1,800 per 90 s; the clients' defaults are scaled the same way
//! ([`RateLimit::faster`]). Each client makes PATCH calls, 4 in flight, for `RUN_FOR` (one and
//! a half quota windows). Rows: 1, 2, 4 and 8 clients with default settings; one client
//! configured for twice the server's quota; 4 clients against a server whose burst window is
//! half the configured one.
//!
//! Columns: calls ended in the run, failed calls, attempts the fake received, attempts it
//! rejected (and their share, over the run and after the first quota window), and throughput:
//! the calls that succeeded in the run over what the fake's windows admit in it.
//! Goals: no failed call; rejected attempts at most 3% for up to 4 clients and 8% for 8;
//! throughput at least 0.9; the last two rows at most 8% rejected after their first window.
//!
//! Run with `cargo xtask simulate` (or `cargo bench --bench shared_budget`).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use statsig_console::types::{ExperimentOverrides, UserIdOverride};
use statsig_console::{Client, RateLimit};
use statsig_console_mock::MockConsole;

const EXPERIMENT: &str = "checkout_flow";
/// Time at the vendor over time here.
const SPEED_UP: u32 = 10;
/// One and a half of the scaled quota windows.
const RUN_FOR: Duration = Duration::from_secs(135);
/// When the first quota window has passed.
const FIRST_WINDOW: Duration = Duration::from_secs(90);
const IN_FLIGHT: usize = 4;

/// The vendor's windows, scaled.
fn server_limits() -> RateLimit {
    RateLimit::vendor().faster(SPEED_UP)
}

/// The most attempts `limits` admit in `run_for`, sent as early as they allow: a sliding
/// window of `n` per `period` admits the next attempt once the `n`th latest has aged out.
fn admitted_in(limits: &RateLimit, run_for: Duration) -> usize {
    let mut sent: Vec<Duration> = Vec::new();
    loop {
        let next = limits
            .windows()
            .iter()
            .filter_map(|(requests, period)| {
                let requests = *requests as usize;
                (sent.len() >= requests).then(|| sent[sent.len() - requests] + *period)
            })
            .fold(sent.last().copied().unwrap_or_default(), Duration::max);
        if next >= run_for {
            return sent.len();
        }
        sent.push(next);
    }
}

struct Scenario {
    name: &'static str,
    clients: usize,
    server: RateLimit,
    client: RateLimit,
    /// Whether the goal is judged after the first quota window rather than over the run.
    judged_after_first_window: bool,
}

struct Row {
    name: &'static str,
    clients: usize,
    calls: usize,
    failed: usize,
    attempts: usize,
    rejected: usize,
    attempts_after_first: usize,
    rejected_after_first: usize,
    throughput: f64,
    judged_after_first_window: bool,
}

impl Row {
    fn rejected_share(&self) -> f64 {
        self.rejected as f64 / self.attempts.max(1) as f64
    }

    fn rejected_share_after_first(&self) -> f64 {
        self.rejected_after_first as f64 / self.attempts_after_first.max(1) as f64
    }

    fn meets_goals(&self) -> bool {
        let most_rejected = if self.clients <= 4 { 0.03 } else { 0.08 };
        let rejected_ok = if self.judged_after_first_window {
            self.rejected_share_after_first() <= 0.08
        } else {
            self.rejected_share() <= most_rejected
        };
        self.failed == 0 && rejected_ok && self.throughput >= 0.9
    }
}

async fn simulate(scenario: Scenario) -> Row {
    let console = MockConsole::builder()
        .experiment(EXPERIMENT, ["Control", "Test"])
        .rate_limits(scenario.server.clone())
        .start()
        .await
        .expect("the fake starts on 127.0.0.1");
    let started = Instant::now();
    let stop = started + RUN_FOR;
    let runs: Vec<_> = (0..scenario.clients)
        .map(|index| {
            let client: Client = console
                .client_builder()
                .rate_limit(scenario.client.clone())
                .build()
                .expect("a loopback client");
            tokio::spawn(async move {
                // Each call reports whether it succeeded; calls start until the run's end, and
                // those not ended by then are dropped uncounted.
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
                            let call = client.patch_experiment_overrides(EXPERIMENT, update);
                            tokio::time::timeout_at(stop.into(), call)
                                .await
                                .ok()
                                .map(|result| result.is_ok())
                        }
                    })
                    .buffer_unordered(IN_FLIGHT)
                    .filter_map(std::future::ready)
                    .collect::<Vec<bool>>()
                    .await
            })
        })
        .collect();
    tokio::time::sleep_until((started + FIRST_WINDOW).into()).await;
    let (attempts_at_first, rejected_at_first) = (console.journal().len(), console.throttled());
    tokio::time::sleep_until(stop.into()).await;
    let (attempts, rejected) = (console.journal().len(), console.throttled());
    let mut calls = 0;
    let mut failed = 0;
    let mut succeeded = 0;
    for run in runs {
        for ok in run.await.expect("a client's task ends") {
            calls += 1;
            failed += usize::from(!ok);
            succeeded += usize::from(ok);
        }
    }
    Row {
        name: scenario.name,
        clients: scenario.clients,
        calls,
        failed,
        attempts,
        rejected,
        attempts_after_first: attempts - attempts_at_first,
        rejected_after_first: rejected - rejected_at_first,
        throughput: succeeded as f64 / admitted_in(&scenario.server, RUN_FOR) as f64,
        judged_after_first_window: scenario.judged_after_first_window,
    }
}

fn scenarios() -> Vec<Scenario> {
    let defaults = RateLimit::default().faster(SPEED_UP);
    let mut rows: Vec<Scenario> = [1, 2, 4, 8]
        .into_iter()
        .map(|clients| Scenario {
            name: "default settings",
            clients,
            server: server_limits(),
            client: defaults.clone(),
            judged_after_first_window: false,
        })
        .collect();
    let quota = server_limits().windows()[1];
    rows.push(Scenario {
        name: "configured for twice the quota",
        clients: 1,
        server: server_limits(),
        client: RateLimit::new()
            .window(defaults.windows()[0].0, defaults.windows()[0].1)
            .window(quota.0 * 2, quota.1),
        judged_after_first_window: true,
    });
    let burst = server_limits().windows()[0];
    rows.push(Scenario {
        name: "server burst half the configured",
        clients: 4,
        server: RateLimit::new()
            .window(burst.0 / 2, burst.1)
            .window(quota.0, quota.1),
        client: defaults,
        judged_after_first_window: true,
    });
    rows
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
    // The scenarios run side by side, each with a fake of its own: they share nothing but the
    // machine, and the whole simulation takes one run's time.
    let rows: Vec<Row> = runtime.block_on(async {
        let runs: Vec<_> = scenarios()
            .into_iter()
            .map(|scenario| tokio::spawn(simulate(scenario)))
            .collect();
        let mut rows = Vec::new();
        for run in runs {
            rows.push(run.await.expect("a scenario's task ends"));
        }
        rows
    });
    println!(
        "Clients calling for {} s ({IN_FLIGHT} in flight each) on one project, against the fake counting every\n\
         attempt (429s included) with no Retry-After; time ten times faster than the vendor's: burst 100 per 1 s,\n\
         quota 1800 per 90 s. Throughput: calls that succeeded in the run / what the fake's windows admit in it.\n",
        RUN_FOR.as_secs()
    );
    println!(
        "{:<34}  {:>7}  {:>6}  {:>6}  {:>8}  {:>8}  {:>6}  {:>14}  {:>10}  {:>5}",
        "scenario",
        "clients",
        "calls",
        "failed",
        "attempts",
        "rejected",
        "share",
        "after 1st win.",
        "throughput",
        "goals"
    );
    for row in &rows {
        println!(
            "{:<34}  {:>7}  {:>6}  {:>6}  {:>8}  {:>8}  {:>5.1}%  {:>13.1}%  {:>10.2}  {:>5}",
            row.name,
            row.clients,
            row.calls,
            row.failed,
            row.attempts,
            row.rejected,
            100.0 * row.rejected_share(),
            100.0 * row.rejected_share_after_first(),
            row.throughput,
            if row.meets_goals() { "met" } else { "MISSED" }
        );
    }
    if let Some(path) = json_path {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({"scenario": r.name, "clients": r.clients, "calls": r.calls,
                       "failed": r.failed, "attempts": r.attempts, "rejected": r.rejected,
                       "attempts_after_first_window": r.attempts_after_first,
                       "rejected_after_first_window": r.rejected_after_first,
                       "throughput_of_quota": r.throughput, "goals_met": r.meets_goals()})
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
