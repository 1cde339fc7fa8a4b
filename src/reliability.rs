//! Retries with backoff and a client-side limiter for the vendor's mutation rate limits.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// When and how often a failed call is tried again.
///
/// The default retries up to 3 times with exponential backoff and full jitter (a random wait
/// between zero and `initial_backoff × 2^(retry − 1)`, capped at `max_backoff`). What is retried
/// depends on the operation: see the README's "Reliability" section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// How many times a call may be retried after its first attempt (default 3).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The backoff cap of the first retry (default 500 ms); it doubles for each further retry.
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The largest backoff between two attempts (default 10 s).
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The longest `Retry-After` the client waits for (default 60 s). A server asking for
    /// longer gets its error returned at once instead.
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait;
        self
    }

    /// The maximum number of retries.
    pub fn retries(&self) -> u32 {
        self.max_retries
    }

    /// Full-jitter backoff before retry number `retry` (1-based).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff);
        ceiling.mul_f64(random_unit())
    }
}

/// A uniformly random number in [0, 1), from the standard library's randomly keyed hasher.
fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let bits = state.hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Mutation limits as sliding windows of at most `requests` per `period`: what the client
/// holds itself to, and (feature `mock`) what the fake Console enforces per API key.
///
/// The default stays a little under the vendor's documented limits of 100 requests per 10 s
/// and 900 per 15 minutes per project: 95 per 10 s and 850 per 15 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    windows: Vec<(u32, Duration)>,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::new()
            .window(95, Duration::from_secs(10))
            .window(850, Duration::from_secs(15 * 60))
    }
}

impl RateLimit {
    /// The vendor's documented limits exactly: 100 requests per 10 s and 900 per 15 minutes
    /// (what the fake Console enforces by default).
    pub fn vendor() -> Self {
        Self::new()
            .window(100, Duration::from_secs(10))
            .window(900, Duration::from_secs(15 * 60))
    }

    /// No windows yet, so nothing is limited; add them with [`RateLimit::window`].
    pub fn new() -> Self {
        Self {
            windows: Vec::new(),
        }
    }

    /// Adds a window: at most `requests` in any `period`.
    pub fn window(mut self, requests: u32, period: Duration) -> Self {
        self.windows.push((requests.max(1), period));
        self
    }

    /// The windows, as (requests, period).
    pub fn windows(&self) -> &[(u32, Duration)] {
        &self.windows
    }
}

/// Shared by a client and its clones. Each request counts from the moment it is sent until
/// its window has passed since it *completed*: the server saw it at some instant in between,
/// so however long the network takes, the server never sees more than the limit in a window.
#[derive(Debug)]
pub(crate) struct Limiter {
    windows: Vec<(u32, Duration)>,
    longest: Duration,
    state: Mutex<LimiterState>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct LimiterState {
    in_flight: u32,
    completed: VecDeque<Instant>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Arc<Self> {
        let longest = limit
            .windows
            .iter()
            .map(|(_, period)| *period)
            .max()
            .unwrap_or_default();
        Arc::new(Self {
            windows: limit.windows,
            longest,
            state: Mutex::new(LimiterState::default()),
            changed: Notify::new(),
        })
    }

    /// Waits until a request may be sent; the permit counts it until dropped.
    /// A permit now, if a slot is free, without registering as a waiter.
    pub(crate) fn try_acquire_now(self: &Arc<Self>) -> Option<Permit> {
        self.try_acquire(Instant::now()).ok().map(|()| Permit {
            limiter: Arc::clone(self),
        })
    }

    pub(crate) async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.try_acquire(Instant::now()) {
                Ok(()) => {
                    return Permit {
                        limiter: Arc::clone(self),
                    };
                }
                Err(Some(wait)) => {
                    tokio::select! {
                        _ = changed => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Err(None) => changed.await,
            }
        }
    }

    /// `Err(Some(wait))`: a slot frees after `wait`; `Err(None)`: only a completion frees one.
    fn try_acquire(&self, now: Instant) -> Result<(), Option<Duration>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while state
            .completed
            .front()
            .is_some_and(|done| now.duration_since(*done) >= self.longest)
        {
            state.completed.pop_front();
        }
        let mut wait: Option<Duration> = None;
        let mut blocked = false;
        for (limit, period) in &self.windows {
            // Completion times are pushed in order, so the window is a suffix: binary search.
            let first_in_window = state
                .completed
                .partition_point(|done| now.duration_since(*done) >= *period);
            let recent = state.completed.len() - first_in_window;
            let used = state.in_flight as usize + recent;
            if used < *limit as usize {
                continue;
            }
            blocked = true;
            // Completed entries age out oldest first; in-flight ones only after completing.
            let must_expire = used + 1 - *limit as usize;
            if must_expire > recent {
                return Err(None);
            }
            let done = state.completed[first_in_window + must_expire - 1];
            let frees_in = (done + *period).saturating_duration_since(now);
            wait = Some(wait.map_or(frees_in, |w| w.max(frees_in)));
        }
        if blocked {
            return Err(wait.map(|w| w.max(Duration::from_millis(1))));
        }
        state.in_flight += 1;
        Ok(())
    }

    fn release(&self) {
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.in_flight = state.in_flight.saturating_sub(1);
            state.completed.push_back(Instant::now());
        }
        self.changed.notify_waiters();
    }
}

/// One request's place in the windows; dropping it marks the request completed.
#[derive(Debug)]
pub(crate) struct Permit {
    limiter: Arc<Limiter>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limiter.release();
    }
}

/// Whether an operation may be sent again after it may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Repeating it leaves the same state (additive override merges).
    Idempotent,
    /// Repeating it could act twice (Create Team would create a second team).
    NotIdempotent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_sit_just_under_the_vendor_limits() {
        // The vendor documents 100 mutations per 10 s and 900 per 15 min per project.
        let windows = RateLimit::default().windows().to_vec();
        assert_eq!(windows.len(), 2);
        let (short, long) = (windows[0], windows[1]);
        assert_eq!(short.1, Duration::from_secs(10));
        assert_eq!(long.1, Duration::from_secs(900));
        assert!(short.0 < 100 && short.0 >= 90, "{short:?}");
        assert!(long.0 < 900 && long.0 >= 800, "{long:?}");
    }

    #[test]
    fn default_retry_policy() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.retries(), 3);
        assert_eq!(RetryPolicy::none().retries(), 0);
    }

    #[test]
    fn backoff_is_jittered_below_an_exponential_cap() {
        let policy = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(350));
        for _ in 0..200 {
            assert!(policy.backoff(1) < Duration::from_millis(100));
            assert!(policy.backoff(2) < Duration::from_millis(200));
            assert!(policy.backoff(3) < Duration::from_millis(350));
            assert!(policy.backoff(40) < Duration::from_millis(350));
        }
        let spread: std::collections::BTreeSet<u128> =
            (0..50).map(|_| policy.backoff(3).as_micros()).collect();
        assert!(spread.len() > 10, "jitter should spread waits: {spread:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_limiter_holds_requests_to_the_windows() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(2, Duration::from_secs(1))
                .window(3, Duration::from_secs(10)),
        );
        let start = Instant::now();
        let mut sent = Vec::new();
        for _ in 0..5 {
            let permit = limiter.acquire().await;
            sent.push(start.elapsed());
            drop(permit);
        }
        let secs: Vec<u64> = sent.iter().map(|d| d.as_secs()).collect();
        // Two at once, the third a second later, then the 10 s window binds.
        assert_eq!(secs, vec![0, 0, 1, 10, 10]);
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_requests_count_until_they_complete() {
        let limiter = Limiter::new(RateLimit::new().window(1, Duration::from_secs(1)));
        let first = limiter.acquire().await;
        let waiter = {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move {
                let _second = limiter.acquire().await;
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        let released_at = Instant::now();
        drop(first);
        let admitted_at = waiter.await.unwrap();
        assert_eq!(
            admitted_at.duration_since(released_at),
            Duration::from_secs(1)
        );
    }
}
