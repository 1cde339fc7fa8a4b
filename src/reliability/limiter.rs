//! The client-side limiter for the vendor's mutation rate limits, shared by a client's clones.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Mutation limits as sliding windows of at most `requests` per `period`: what the client
/// holds itself to, and what the fake Console (`statsig-console-mock`) enforces per API key.
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

    /// A permit now, if a slot is free, without registering as a waiter or arming a timer:
    /// the common case stays cheap.
    pub(crate) fn try_acquire_now(self: &Arc<Self>) -> Option<Permit> {
        self.try_acquire(Instant::now()).ok().map(|()| Permit {
            limiter: Arc::clone(self),
        })
    }

    /// Waits until a request may be sent, or until `deadline` (then `None`); the permit counts
    /// the request until it is dropped.
    pub(crate) async fn acquire_until(self: &Arc<Self>, deadline: Instant) -> Option<Permit> {
        if let Some(permit) = self.try_acquire_now() {
            return Some(permit);
        }
        // Boxed: the wait (timer and waiter registration) is the rare path, and its state would
        // otherwise enlarge the future of every call.
        Box::pin(tokio::time::timeout_at(deadline, self.acquire()))
            .await
            .ok()
    }

    /// Waits as long as it takes for a slot. Cancel-safe: a slot is taken only in the poll
    /// that returns its permit.
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

    /// The windows, as (requests, period).
    pub(crate) fn windows(&self) -> &[(u32, Duration)] {
        &self.windows
    }

    /// Takes over the slot a [`Permit::hand_over`] left counted, as a permit again.
    ///
    /// The transport's `pre` hook waits for the first attempt's slot (only a hook that runs
    /// before sending can end a call with an error of its own when the deadline passes), and
    /// the generated code calls `exec` right after it returns, in the same poll: the slot
    /// cannot be lost in between.
    pub(crate) fn claim_handed_over(self: &Arc<Self>) -> Permit {
        Permit {
            limiter: Arc::clone(self),
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

impl Permit {
    /// Leaves the slot counted without a permit owning it, for [`Limiter::claim_handed_over`].
    pub(crate) fn hand_over(self) {
        std::mem::forget(self);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limiter.release();
    }
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
            let permit = limiter
                .acquire_until(Instant::now() + Duration::from_secs(60))
                .await
                .unwrap();
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

    #[tokio::test(start_paused = true)]
    async fn waiting_stops_at_the_deadline() {
        let limiter = Limiter::new(RateLimit::new().window(1, Duration::from_secs(10)));
        let deadline = Instant::now() + Duration::from_secs(60);
        drop(limiter.acquire_until(deadline).await.unwrap());
        let started = Instant::now();
        let short = started + Duration::from_secs(3);
        assert!(limiter.acquire_until(short).await.is_none());
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        assert!(limiter.acquire_until(deadline).await.is_some());
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_handed_over_slot_stays_counted_until_claimed_and_dropped() {
        let limiter = Limiter::new(RateLimit::new().window(1, Duration::from_secs(1)));
        let soon = Instant::now() + Duration::from_millis(1);
        limiter.acquire_until(soon).await.unwrap().hand_over();
        assert!(
            limiter.acquire_until(soon).await.is_none(),
            "the slot is taken"
        );
        let claimed = limiter.claim_handed_over();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(limiter.try_acquire_now().is_none(), "still in flight");
        drop(claimed);
        let later = Instant::now() + Duration::from_secs(2);
        assert!(limiter.acquire_until(later).await.is_some());
    }
}
