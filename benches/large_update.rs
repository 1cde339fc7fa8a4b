//! Large updates at scale: `Client::add_user_ids` with 100 000 and 1 000 000 ids against a
//! canned loopback server, under the client's default limits with time running ten times
//! faster (`RateLimit::default().faster(10)`: 95 per 1 s and 1,710 per 90 s instead of 95 per
//! 10 s and 1,710 per 15 minutes), as `cargo xtask simulate` scales them.
//!
//! For each size it reports the total time against the floor the limits allow (the send time
//! of the last request when every request goes as early as the windows let it), the same time
//! at the vendor's pace (ten times longer), and the peak of live heap bytes during the update:
//! the ids are generated lazily, so a streamed update should hold the same memory whatever the
//! number of ids. The run with duplicates dropped (the default) is shown beside it: that set
//! grows with the ids, as documented. Goals for the million: at most 1.05 × the floor with
//! `.dedupe(false)`, 1.10 × with the default.
//!
//! Run with `cargo xtask bench` (or `cargo bench --bench large_update`); `--quick` skips the
//! million.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use statsig_console::{Client, RateLimit};

/// Counts live heap bytes and their peak, across all threads (the server's are small and
/// bounded: one request body per connection).
struct PeakAllocator;

static LIVE: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);

fn grew(bytes: i64) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for PeakAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as i64);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: PeakAllocator = PeakAllocator;

#[path = "support/canned_server.rs"]
mod canned_server;
use canned_server::start_server;

const KEY: &str = "console-bench-key-0123456789";

/// How many times faster than at the vendor time runs here.
const SPEED_UP: u32 = 10;

fn limits() -> RateLimit {
    RateLimit::default().faster(SPEED_UP)
}

/// The earliest time the last of `requests` requests can be sent under `limit` when each goes
/// as early as every window allows (request i waits for request i − n of each n-request window
/// to be a period old), counting requests as instantaneous.
fn minimum_time(requests: usize, limit: &RateLimit) -> Duration {
    let mut sent: Vec<Duration> = Vec::with_capacity(requests);
    for i in 0..requests {
        let at = limit
            .windows()
            .iter()
            .filter_map(|(n, period)| {
                let n = *n as usize;
                (i >= n).then(|| sent[i - n] + *period)
            })
            .max()
            .unwrap_or_default();
        sent.push(at);
    }
    sent.last().copied().unwrap_or_default()
}

/// The canned server, answering every PATCH with a small answer: what the update's last
/// request decodes.
fn start_patch_server() -> SocketAddr {
    let answer = Bytes::from(
        json!({"message": "Experiment overrides updated successfully.",
               "data": {"overrides": [], "userIDOverrides": [{"groupID": "Test", "ids": ["user_0000000"]}]}})
        .to_string(),
    );
    start_server(answer, Bytes::new())
}

struct Outcome {
    ids: usize,
    dedupe: bool,
    requests: u64,
    elapsed: Duration,
    minimum: Duration,
    peak_bytes: i64,
}

async fn run_case(client: &Client, ids: usize, dedupe: bool) -> Outcome {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let mut requests = 0;
    let started = Instant::now();
    client
        .add_user_ids(
            "checkout_flow",
            "Test",
            (0..ids).map(|n| format!("user_{n:07}")),
        )
        .dedupe(dedupe)
        .on_progress(|progress| requests = progress.requests_done)
        .await
        .expect("the canned server accepts every request");
    let elapsed = started.elapsed();
    Outcome {
        ids,
        dedupe,
        requests,
        elapsed,
        minimum: minimum_time(requests as usize, &limits()),
        peak_bytes: PEAK.load(Ordering::Relaxed) - before,
    }
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let json_path = std::env::args()
        .skip_while(|arg| arg != "--json")
        .nth(1)
        .map(std::path::PathBuf::from);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let outcomes = runtime.block_on(async {
        let address = start_patch_server();
        let sizes: &[usize] = if quick {
            &[100_000]
        } else {
            &[100_000, 1_000_000]
        };
        let client_for_case = || {
            Client::builder()
                .api_key(KEY)
                .base_url(format!("http://{address}"))
                .rate_limit(limits())
                .build()
                .expect("a loopback client")
        };
        // Uncounted: the process's one-time allocations (the runtime's, the HTTP stack's) are
        // made here, so that no case's peak includes them.
        let _ = run_case(&client_for_case(), 100_000, false).await;
        let mut outcomes = Vec::new();
        for &dedupe in &[false, true] {
            for &ids in sizes {
                // A client of its own for every case, so that each starts with empty windows
                // rather than waiting out the quota window the one before used.
                outcomes.push(run_case(&client_for_case(), ids, dedupe).await);
            }
        }
        outcomes
    });
    print_table(&outcomes);
    if let Some(path) = json_path {
        write_json(&path, &outcomes);
    }
}

fn ratio(outcome: &Outcome) -> Option<f64> {
    (!outcome.minimum.is_zero())
        .then(|| outcome.elapsed.as_secs_f64() / outcome.minimum.as_secs_f64())
}

fn print_table(outcomes: &[Outcome]) {
    println!(
        "add_user_ids against a canned loopback server, the default limits ten times faster\n\
         (95 per 1 s, 1710 per 90 s); 'at the vendor' is the time at the real windows' pace\n"
    );
    println!(
        "{:>9}  {:>7}  {:>8}  {:>9}  {:>9}  {:>14}  {:>13}  {:>11}",
        "ids", "dedupe", "requests", "time", "floor", "time / floor", "at the vendor", "peak heap"
    );
    for outcome in outcomes {
        let ratio = ratio(outcome).map_or_else(
            || "n/a (1 window)".to_string(),
            |ratio| format!("{ratio:.3}"),
        );
        println!(
            "{:>9}  {:>7}  {:>8}  {:>8.3}s  {:>8.3}s  {:>14}  {:>12.1}s  {:>8.2} MB",
            outcome.ids,
            outcome.dedupe,
            outcome.requests,
            outcome.elapsed.as_secs_f64(),
            outcome.minimum.as_secs_f64(),
            ratio,
            outcome.elapsed.as_secs_f64() * f64::from(SPEED_UP),
            outcome.peak_bytes as f64 / 1e6,
        );
    }
    for outcome in outcomes.iter().filter(|o| o.ids == 1_000_000) {
        let goal = if outcome.dedupe { 1.10 } else { 1.05 };
        let met = ratio(outcome).is_some_and(|ratio| ratio <= goal);
        println!(
            "goal for a million ids, dedupe {}: time / floor <= {goal:.2}: {}",
            outcome.dedupe,
            if met { "met" } else { "MISSED" }
        );
    }
    let streamed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.dedupe).collect();
    if let [small, large] = streamed.as_slice() {
        println!(
            "\nstreamed (dedupe off): peak heap at {} ids / at {} ids = {:.3}",
            large.ids,
            small.ids,
            large.peak_bytes as f64 / small.peak_bytes as f64
        );
    }
}

fn write_json(path: &std::path::Path, outcomes: &[Outcome]) {
    let rows: Vec<_> = outcomes
        .iter()
        .map(|o| {
            json!({"ids": o.ids, "dedupe": o.dedupe, "requests": o.requests,
                   "seconds": o.elapsed.as_secs_f64(), "minimum_seconds": o.minimum.as_secs_f64(),
                   "time_over_minimum": ratio(o), "peak_heap_bytes": o.peak_bytes})
        })
        .collect();
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Err(error) = std::fs::write(path, json!({"large_update": rows}).to_string()) {
        eprintln!("cannot write {}: {error}", path.display());
    }
}
