//! statsig-console against a hand-written reqwest + serde baseline (benches/baseline.rs), in one
//! process and one run, against the same in-process loopback server with canned answers.
//!
//! The client side runs on one thread (a current-thread tokio runtime), so its CPU time
//! (CLOCK_THREAD_CPUTIME_ID) and allocated bytes (a thread-local counting allocator) are the
//! client's alone; the canned server runs on its own thread. Crate and baseline alternate
//! rounds, and each figure is the median of the rounds, so drift on a noisy machine hits both.
//!
//!     cargo bench --bench compare                         # table on stdout
//!     cargo bench --bench compare -- --json PATH          # also writes the report as JSON
//!     cargo bench --bench compare -- --quick              # fewer requests, for a smoke run

// Fields are decoded as a real client would, even where the benchmark reads none of them.
#[allow(dead_code)]
#[path = "baseline.rs"]
mod baseline;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use statsig_console::types::{
    ChangeTeamConfigs, ConditionalOverride, ExperimentOverrides, MetricRef, OverrideType,
    ReviewApproval, TeamCreate, UserIdOverride,
};
use statsig_console::{Client, RateLimit, RetryPolicy};

#[path = "support/canned_server.rs"]
mod canned_server;
use canned_server::start_server;

struct CountingAllocator;

thread_local! {
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size() as u64));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let grown = new_size.saturating_sub(layout.size()) as u64;
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + grown));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocated() -> u64 {
    ALLOCATED.with(Cell::get)
}

fn thread_cpu() -> Duration {
    let mut spec = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut spec) };
    Duration::new(spec.tv_sec as u64, spec.tv_nsec as u32)
}

const KEY: &str = "console-bench-key-0123456789";

// ---------------------------------------------------------------- the canned server

fn small_overrides_answer() -> Bytes {
    Bytes::from(
        json!({"message": "ok", "data": {"overrides": [{"type": "gate", "id": "employees", "groupID": "Test"}],
            "userIDOverrides": [{"groupID": "Test", "ids": ["u1", "u2"]}]}})
        .to_string(),
    )
}

fn team_answer(members: usize) -> Bytes {
    let member = |i: usize| {
        json!({"userID": format!("user{i:06}"), "email": format!("person{i}@example.com"),
        "firstName": "Person", "lastName": format!("Number{i}"), "role": "Member"})
    };
    Bytes::from(
        json!({"message": "Team created successfully.", "data": {
            "id": "6Rq1vKdR3C7fZ2bN0mYp4T", "name": "Checkout", "description": "Owns checkout.",
            "members": (0..members).map(member).collect::<Vec<_>>(),
            "admins": [member(0)],
            "defaultGateMetrics": [{"name": "checkout_completed", "type": "event_count"}],
            "defaultExperimentPrimaryMetrics": [], "defaultExperimentSecondaryMetrics": [], "defaultHoldoutMetrics": [],
            "changeTeamConfigs": "team_only", "reviewApproval": "admin_only", "defaultTargetApplications": ["web"],
            "requireReviews": true}})
        .to_string(),
    )
}

// ---------------------------------------------------------------- request bodies

fn small_overrides() -> ExperimentOverrides {
    ExperimentOverrides {
        overrides: vec![ConditionalOverride {
            type_: OverrideType::Gate,
            id: "employees".into(),
            group_id: "Test".into(),
            environment: None,
        }],
        user_id_overrides: vec![UserIdOverride {
            group_id: "Test".into(),
            ids: vec!["u1".into(), "u2".into()],
            environment: None,
            unit_type: None,
        }],
    }
}

fn big_overrides() -> ExperimentOverrides {
    ExperimentOverrides {
        overrides: (0..1000)
            .map(|i| ConditionalOverride {
                type_: OverrideType::Segment,
                id: format!("segment_{i:04}"),
                group_id: "Test".into(),
                environment: Some("production".into()),
            })
            .collect(),
        user_id_overrides: (0..100)
            .map(|entry| UserIdOverride {
                group_id: if entry % 2 == 0 {
                    "Test".into()
                } else {
                    "Control".into()
                },
                ids: (0..1000)
                    .map(|i| format!("user_{entry:03}_{i:04}"))
                    .collect(),
                environment: Some("production".into()),
                unit_type: Some("userID".into()),
            })
            .collect(),
    }
}

fn to_baseline(overrides: &ExperimentOverrides) -> baseline::Overrides {
    serde_json::from_value(serde_json::to_value(overrides).expect("serializes"))
        .expect("same wire format")
}

fn team() -> TeamCreate {
    TeamCreate::builder()
        .name("Checkout")
        .members(vec!["ana@example.com".to_string()])
        .admins(vec!["ana@example.com".to_string()])
        .default_gate_metrics(vec![MetricRef {
            name: "checkout_completed".into(),
            type_: "event_count".into(),
        }])
        .default_experiment_primary_metrics(vec![])
        .default_experiment_secondary_metrics(vec![])
        .default_holdout_metrics(vec![])
        .change_team_configs(ChangeTeamConfigs::TeamOnly)
        .review_approval(ReviewApproval::AdminOnly)
        .default_target_applications(vec!["web".to_string()])
        .try_into()
        .expect("a complete team")
}

fn baseline_team() -> baseline::NewTeam {
    baseline::NewTeam {
        name: "Checkout".into(),
        description: None,
        members: vec!["ana@example.com".into()],
        admins: vec!["ana@example.com".into()],
        default_gate_metrics: vec![baseline::Metric {
            name: "checkout_completed".into(),
            kind: "event_count".into(),
        }],
        default_experiment_primary_metrics: vec![],
        default_experiment_secondary_metrics: vec![],
        default_holdout_metrics: vec![],
        change_team_configs: "team_only".into(),
        review_approval: "admin_only".into(),
        default_target_applications: vec!["web".into()],
    }
}

// ---------------------------------------------------------------- measuring

#[derive(Clone, Copy, Default)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    bytes: u64,
    requests: u64,
}

impl Sample {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64()
    }
    fn cpu_per_request_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.requests as f64
    }
    fn wall_per_request_us(&self) -> f64 {
        self.wall.as_secs_f64() * 1e6 / self.requests as f64
    }
    fn bytes_per_request(&self) -> f64 {
        self.bytes as f64 / self.requests as f64
    }
}

/// Runs `requests` calls of `call`, `concurrency` at a time, on the current thread.
async fn measure<F, Fut>(requests: u64, concurrency: u64, call: F) -> Sample
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let (wall, cpu, bytes) = (Instant::now(), thread_cpu(), allocated());
    if concurrency <= 1 {
        for _ in 0..requests {
            call().await;
        }
    } else {
        let mut in_flight = futures_util::stream::FuturesUnordered::new();
        let mut started = 0;
        use futures_util::StreamExt;
        while started < requests || !in_flight.is_empty() {
            while started < requests && (in_flight.len() as u64) < concurrency {
                in_flight.push(call());
                started += 1;
            }
            in_flight.next().await;
        }
    }
    Sample {
        wall: wall.elapsed(),
        cpu: thread_cpu() - cpu,
        bytes: allocated() - bytes,
        requests,
    }
}

/// Each figure's own median over the rounds: a round slowed by the machine's other work moves
/// its wall time and its CPU time apart, so one round's figures together are not the typical
/// ones.
fn median(samples: Vec<Sample>) -> Sample {
    fn middle<T: Ord + Copy>(mut values: Vec<T>) -> T {
        values.sort_unstable();
        values[values.len() / 2]
    }
    Sample {
        wall: middle(samples.iter().map(|sample| sample.wall).collect()),
        cpu: middle(samples.iter().map(|sample| sample.cpu).collect()),
        bytes: middle(samples.iter().map(|sample| sample.bytes).collect()),
        requests: samples[0].requests,
    }
}

struct Row {
    case: String,
    unit: &'static str,
    crate_value: f64,
    baseline_value: f64,
    crate_sample: Sample,
    baseline_sample: Sample,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.crate_value / self.baseline_value
    }
}

struct Config {
    quick: bool,
    json: Option<std::path::PathBuf>,
}

fn config() -> Config {
    let mut config = Config {
        quick: false,
        json: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => config.quick = true,
            "--json" => config.json = args.next().map(Into::into),
            _ => {} // cargo bench passes --bench
        }
    }
    config
}

fn main() {
    let config = config();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    runtime.block_on(run(config));
}

async fn run(config: Config) {
    let rounds = if config.quick { 3 } else { 9 };
    let per_round: u64 = if config.quick { 300 } else { 2000 };
    let payload_calls: u64 = if config.quick { 2 } else { 6 };

    let small = start_server(small_overrides_answer(), team_answer(2));
    let big_team = start_server(small_overrides_answer(), team_answer(10_000));
    let base = |address: SocketAddr| format!("http://{address}");
    let plain = |address: SocketAddr| {
        Client::builder()
            .api_key(KEY)
            .base_url(base(address))
            .retry_policy(RetryPolicy::none())
            .no_rate_limit()
            .build()
            .expect("client")
    };
    // Reliability on but never triggered: default retries, and windows far above the load.
    let reliable = |address: SocketAddr| {
        Client::builder()
            .api_key(KEY)
            .base_url(base(address))
            .rate_limit(
                RateLimit::new()
                    .window(u32::MAX, Duration::from_secs(10))
                    .window(u32::MAX, Duration::from_secs(900)),
            )
            .build()
            .expect("client")
    };
    let baseline_small = baseline::Baseline::new(&base(small), KEY);
    let baseline_big = baseline::Baseline::new(&base(big_team), KEY);

    // The crate takes each request by value, as a caller that builds it for the call would pass
    // it; so that both sides do the same caller work, each request on either side gets its own
    // clone of the body.
    let small_body = small_overrides();
    let small_baseline_body = to_baseline(&small_body);
    let big_body = big_overrides();
    let big_baseline_body = to_baseline(&big_body);
    let team_body = team();
    let baseline_team_body = baseline_team();

    let mut rows = Vec::new();
    for (label, crate_client) in [("", plain(small)), (" +retries+limits", reliable(small))] {
        for (operation, concurrency) in [
            ("PATCH", 1),
            ("PATCH", 64),
            ("Create Team", 1),
            ("Create Team", 64),
        ] {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            // One extra first round, not counted: it opens the connections the others reuse.
            for _ in 0..=rounds {
                // One closure per operation: a closure that could make either call would give
                // every call a future the size of the larger one.
                if operation == "PATCH" {
                    ours.push(
                        measure(per_round, concurrency, || async {
                            crate_client
                                .patch_experiment_overrides("checkout_flow", small_body.clone())
                                .await
                                .map(drop)
                                .expect("crate patch");
                        })
                        .await,
                    );
                    theirs.push(
                        measure(per_round, concurrency, || async {
                            baseline_small
                                .patch_overrides("checkout_flow", &small_baseline_body.clone())
                                .await
                                .map(drop)
                                .expect("baseline patch");
                        })
                        .await,
                    );
                } else {
                    ours.push(
                        measure(per_round, concurrency, || async {
                            crate_client
                                .create_team(team_body.clone())
                                .await
                                .map(drop)
                                .expect("crate team");
                        })
                        .await,
                    );
                    theirs.push(
                        measure(per_round, concurrency, || async {
                            baseline_small
                                .create_team(&baseline_team_body.clone())
                                .await
                                .map(drop)
                                .expect("baseline team");
                        })
                        .await,
                    );
                }
            }
            ours.remove(0);
            theirs.remove(0);
            let (ours, theirs) = (median(ours), median(theirs));
            let case = format!(
                "{operation} {}{label}",
                if concurrency == 1 {
                    "sequential".to_string()
                } else {
                    format!("{concurrency} concurrent")
                }
            );
            rows.push(Row {
                case: format!("{case}: CPU per request"),
                unit: "µs",
                crate_value: ours.cpu_per_request_us(),
                baseline_value: theirs.cpu_per_request_us(),
                crate_sample: ours,
                baseline_sample: theirs,
            });
            rows.push(Row {
                case: format!("{case}: requests per second"),
                unit: "req/s",
                crate_value: ours.rps(),
                baseline_value: theirs.rps(),
                crate_sample: ours,
                baseline_sample: theirs,
            });
            rows.push(Row {
                case: format!("{case}: allocated bytes per request"),
                unit: "B",
                crate_value: ours.bytes_per_request(),
                baseline_value: theirs.bytes_per_request(),
                crate_sample: ours,
                baseline_sample: theirs,
            });
        }
    }

    for (label, crate_client) in [
        ("", plain(big_team)),
        (" +retries+limits", reliable(big_team)),
    ] {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        let mut ours_team = Vec::new();
        let mut theirs_team = Vec::new();
        for _ in 0..rounds {
            ours.push(
                measure(payload_calls, 1, || async {
                    crate_client
                        .patch_experiment_overrides("checkout_flow", big_body.clone())
                        .await
                        .map(drop)
                        .expect("big patch");
                })
                .await,
            );
            theirs.push(
                measure(payload_calls, 1, || async {
                    baseline_big
                        .patch_overrides("checkout_flow", &big_baseline_body.clone())
                        .await
                        .map(drop)
                        .expect("big baseline patch");
                })
                .await,
            );
            ours_team.push(
                measure(payload_calls, 1, || async {
                    crate_client
                        .create_team(team_body.clone())
                        .await
                        .map(drop)
                        .expect("big team");
                })
                .await,
            );
            theirs_team.push(
                measure(payload_calls, 1, || async {
                    baseline_big
                        .create_team(&baseline_team_body.clone())
                        .await
                        .map(drop)
                        .expect("big baseline team");
                })
                .await,
            );
        }
        for (case, ours, theirs) in [
            (
                format!("PATCH 1000 overrides + 100×1000 ids{label}"),
                median(ours),
                median(theirs),
            ),
            (
                format!("Create Team answer with 10 000 members{label}"),
                median(ours_team),
                median(theirs_team),
            ),
        ] {
            rows.push(Row {
                case: format!("{case}: time per call"),
                unit: "µs",
                crate_value: ours.wall_per_request_us(),
                baseline_value: theirs.wall_per_request_us(),
                crate_sample: ours,
                baseline_sample: theirs,
            });
            rows.push(Row {
                case: format!("{case}: allocated bytes per call"),
                unit: "B",
                crate_value: ours.bytes_per_request(),
                baseline_value: theirs.bytes_per_request(),
                crate_sample: ours,
                baseline_sample: theirs,
            });
        }
    }

    print_table(&rows, rounds, per_round);
    if let Some(path) = config.json {
        write_json(&path, &rows, rounds, per_round);
    }
}

fn print_table(rows: &[Row], rounds: usize, per_round: u64) {
    println!(
        "\nstatsig-console vs hand-written reqwest + serde baseline (median of {rounds} alternating rounds, {per_round} requests per round)"
    );
    println!(
        "{:<72} {:>14} {:>14} {:>8}",
        "case", "crate", "baseline", "ratio"
    );
    for row in rows {
        let format = |v: f64| {
            if v >= 1e5 {
                format!("{:.0} {}", v, row.unit)
            } else {
                format!("{:.1} {}", v, row.unit)
            }
        };
        println!(
            "{:<72} {:>14} {:>14} {:>8.3}",
            row.case,
            format(row.crate_value),
            format(row.baseline_value),
            row.ratio()
        );
    }
    println!(
        "(ratio = crate / baseline; for requests per second, higher is better, elsewhere lower is better)"
    );
}

fn write_json(path: &std::path::Path, rows: &[Row], rounds: usize, per_round: u64) {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            json!({"case": row.case, "unit": row.unit, "crate": row.crate_value, "baseline": row.baseline_value, "ratio": row.ratio(),
                "crate_wall_s": row.crate_sample.wall.as_secs_f64(), "baseline_wall_s": row.baseline_sample.wall.as_secs_f64(),
                "requests": row.crate_sample.requests})
        })
        .collect();
    let report = json!({"rounds": rounds, "requests_per_round": per_round, "rows": rows});
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    match std::fs::write(
        path,
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    ) {
        Ok(()) => println!("report written to {}", path.display()),
        Err(e) => eprintln!("cannot write {}: {e}", path.display()),
    }
}
