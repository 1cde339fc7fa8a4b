//! The client-side limiter for the vendor's mutation rate limits, shared by a client's clones.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::retry::AttemptOutcome;
use tokio::time::Instant;

/// The vendor's shortest documented window (100 requests per 10 s): what a 429 without
/// `Retry-After` is waited out for when the client has no limiter of its own.
pub(crate) const VENDOR_SHORT_WINDOW: Duration = Duration::from_secs(10);

/// Mutation limits as sliding windows of at most `requests` per `period`: what the client
/// holds itself to, and what the fake Console (`statsig-console-mock`) enforces per API key.
///
/// The default stays a little under the vendor's documented limits of 100 requests per 10 s
/// and 900 per 15 minutes per project: 95 per 10 s and 850 per 15 minutes.
///
/// The limiter is adaptive by default: when the server answers 429 anyway (another process on
/// the same project is using the budget), the client lowers the share of these windows it
/// allows itself, and climbs back to them while requests succeed. See
/// [`RateLimit::adaptive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    windows: Vec<(u32, Duration)>,
    adaptive: bool,
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
            adaptive: true,
        }
    }

    /// Whether the client adapts to throttling (default `true`): after a 429 it allows itself
    /// 70% of its current share of the windows (at most once per round of requests: a 429
    /// counts only for a request sent after the last cut), and while requests succeed it
    /// climbs back by about one request per window for every window's worth of successes,
    /// never above the windows themselves. With `false` the windows are a fixed limit.
    pub fn adaptive(mut self, adaptive: bool) -> Self {
        self.adaptive = adaptive;
        self
    }

    /// Whether the client adapts to throttling.
    pub fn is_adaptive(&self) -> bool {
        self.adaptive
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
    /// The index in `windows` of the window with the shortest period: its count is what
    /// adaptation steps in, and its period what a 429 without `Retry-After` is waited out for.
    shortest: Option<usize>,
    adaptive: bool,
    /// Whether the share is below 1 after a cut: lets every success in the common case (never
    /// throttled) skip the lock.
    climbing: AtomicBool,
    state: Mutex<LimiterState>,
    changed: Notify,
    /// How many `acquire` calls are waiting: a release with none waiting skips `Notify`, whose
    /// `notify_waiters` takes a lock of its own on every call.
    waiting: AtomicUsize,
}

#[derive(Debug)]
struct LimiterState {
    in_flight: u32,
    /// Completion times, oldest first; none older than the longest window.
    completed: VecDeque<Instant>,
    /// How many completions were pruned from the front of `completed`: with it, positions in
    /// `window_starts` stay valid as the front is pruned.
    pruned: u64,
    /// For each window, in `Limiter::windows` order, the position of its first completion.
    /// Windows only move forward, so each is a cursor that steps over the completions that
    /// left it since the last call: no search over (and no cache misses in) a long deque.
    window_starts: Vec<u64>,
    /// The latest instant the windows were moved to; they never move back.
    moved_to: Option<Instant>,
    /// The share of the shortest window the client allows itself, in (0, 1]; 1 unless adaptive.
    share: f64,
    /// When the share was last cut after a 429.
    last_cut: Option<Instant>,
    /// The shortest window's allowance (requests) just before, and just after, the last cut:
    /// growth is CUBIC's curve between them and beyond.
    before_cut: f64,
    after_cut: f64,
}

/// What a 429 leaves of the allowance: CUBIC's multiplicative decrease, which aws-sdk-rust's
/// adaptive retry mode also uses. As TCP cuts from the data actually in flight rather than
/// from its window (RFC 5681), the cut is from the requests the server accepted from this
/// client in the last window when that is less than the allowance: several clients starting
/// together on one budget then find their shares in one round instead of many.
const CUT: f64 = 0.7;
/// CUBIC's scaling constant (as in aws-sdk-rust's adaptive mode), in requests per window per
/// window cubed: after a cut from W to 0.7 W the allowance is back at W after
/// cbrt(0.3 W / 0.4) windows (4 windows for W = 95), then probes above it, slowly at first.
const CUBIC_C: f64 = 0.4;
/// The smallest share; a window still admits at least one request.
const MIN_SHARE: f64 = 0.01;

impl LimiterState {
    /// Moves the windows to `now` (or to the latest instant they were moved to, if later):
    /// prunes the completions older than the longest window, and steps each window's start
    /// over the completions that left it. Returns the instant the windows are at.
    fn move_windows(
        &mut self,
        now: Instant,
        windows: &[(u32, Duration)],
        longest: Duration,
    ) -> Instant {
        let now = self.moved_to.map_or(now, |moved_to| moved_to.max(now));
        self.moved_to = Some(now);
        if let Some(oldest_kept) = now.checked_sub(longest) {
            while self
                .completed
                .front()
                .is_some_and(|done| *done <= oldest_kept)
            {
                self.completed.pop_front();
                self.pruned += 1;
            }
        }
        for (start, (_, period)) in self.window_starts.iter_mut().zip(windows) {
            let mut position = (*start).max(self.pruned);
            if let Some(window_start) = now.checked_sub(*period) {
                while self
                    .completed
                    .get((position - self.pruned) as usize)
                    .is_some_and(|done| *done <= window_start)
                {
                    position += 1;
                }
            }
            *start = position;
        }
        now
    }

    /// The index in `completed` of the first completion in window `index`, as of the last
    /// [`LimiterState::move_windows`].
    fn first_in_window(&self, index: usize) -> usize {
        self.window_starts
            .get(index)
            .map_or(0, |start| (start.saturating_sub(self.pruned)) as usize)
    }
}

/// The requests a window of `requests` admits at `share`: at least one.
fn admitted(requests: u32, share: f64) -> usize {
    ((f64::from(requests) * share).floor() as usize).max(1)
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Arc<Self> {
        let window_count = limit.windows.len();
        let longest = limit
            .windows
            .iter()
            .map(|(_, period)| *period)
            .max()
            .unwrap_or_default();
        let shortest = limit
            .windows
            .iter()
            .enumerate()
            .min_by_key(|(_, (_, period))| *period)
            .map(|(index, _)| index);
        Arc::new(Self {
            windows: limit.windows,
            longest,
            shortest,
            adaptive: limit.adaptive,
            climbing: AtomicBool::new(false),
            state: Mutex::new(LimiterState {
                in_flight: 0,
                completed: VecDeque::new(),
                pruned: 0,
                window_starts: vec![0; window_count],
                moved_to: None,
                share: 1.0,
                last_cut: None,
                before_cut: 0.0,
                after_cut: 0.0,
            }),
            changed: Notify::new(),
            waiting: AtomicUsize::new(0),
        })
    }

    /// The shortest window's period: what a 429 without `Retry-After` is waited out for.
    pub(crate) fn shortest_period(&self) -> Option<Duration> {
        self.shortest_window().map(|(_, _, period)| period)
    }

    /// The shortest window: its index in `windows`, its requests and its period.
    fn shortest_window(&self) -> Option<(usize, u32, Duration)> {
        let index = self.shortest?;
        let (requests, period) = *self.windows.get(index)?;
        Some((index, requests, period))
    }

    /// The share of the windows the client allows itself now, in (0, 1].
    #[cfg(test)]
    fn share(&self) -> f64 {
        self.lock().share
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server answered 429 to a request sent at `sent_at`: cut the share, unless the
    /// request was sent before the last cut (its 429 tells of the rate before it, which was
    /// already cut for).
    pub(crate) fn throttled(&self, sent_at: Instant) {
        if !self.adaptive {
            return;
        }
        let Some((shortest, requests, period)) = self.shortest_window() else {
            return;
        };
        let mut state = self.lock();
        let now = state.move_windows(Instant::now(), &self.windows, self.longest);
        if state.last_cut.is_some_and(|cut| sent_at < cut) {
            return;
        }
        let before = state.share;
        // Throttled requests free their slot uncounted, so what the window holds is what the
        // server accepted (or is still answering).
        let accepted = (state.completed.len() - state.first_in_window(shortest)) as f64;
        let allowance = before * f64::from(requests);
        let peak = allowance.min(accepted).max(1.0);
        // CUBIC's fast convergence: a client cut again below its last peak gives way.
        state.before_cut = if peak < state.before_cut {
            peak * (1.0 + CUT) / 2.0
        } else {
            peak
        };
        state.after_cut = peak * CUT;
        state.share = (state.after_cut / f64::from(requests)).max(MIN_SHARE);
        state.last_cut = Some(now);
        self.climbing.store(state.share < 1.0, Ordering::Relaxed);
        tracing::debug!(
            share = state.share,
            requests_per_window = admitted(requests, state.share),
            window_ms = period.as_millis() as u64,
            previous_share = before,
            "throttled by the server: the client's rate limit goes down"
        );
    }

    /// The server accepted a request: climb back towards the configured windows along CUBIC's
    /// curve in time since the last cut (fast while far below the allowance that was cut, flat
    /// near it, then probing above), never above the windows themselves.
    pub(crate) fn accepted(&self) {
        if !self.adaptive || !self.climbing.load(Ordering::Relaxed) {
            return;
        }
        let Some((_, requests, period)) = self.shortest_window() else {
            return;
        };
        let now = Instant::now();
        let raised = {
            let mut state = self.lock();
            if state.share >= 1.0 {
                return;
            }
            let Some(cut_at) = state.last_cut else {
                return;
            };
            let windows = now.duration_since(cut_at).as_secs_f64() / period.as_secs_f64().max(1e-9);
            // CUBIC's curve, scaled by the allowance that was cut: a client holding a small part
            // of the window probes by a small part, so N clients together probe about as fast
            // as one holding it all (plain CUBIC would probe N times as fast, and throttle
            // each other N times as often).
            let scale = CUBIC_C * state.before_cut / f64::from(requests);
            let k = ((state.before_cut - state.after_cut).max(0.0) / scale.max(1e-9)).cbrt();
            let allowance = scale * (windows - k).powi(3) + state.before_cut;
            let before = admitted(requests, state.share);
            state.share = (allowance / f64::from(requests)).clamp(state.share, 1.0);
            self.climbing.store(state.share < 1.0, Ordering::Relaxed);
            let after = admitted(requests, state.share);
            (after != before).then_some((after, state.share))
        };
        if let Some((requests_per_window, share)) = raised {
            tracing::debug!(
                share,
                requests_per_window,
                window_ms = period.as_millis() as u64,
                "requests succeed: the client's rate limit goes up"
            );
            self.notify_waiting();
        }
    }

    /// A permit now, if a slot is free, without registering as a waiter or arming a timer:
    /// the common case stays cheap.
    pub(crate) fn try_acquire_now(self: &Arc<Self>) -> Option<Permit> {
        self.try_acquire(Instant::now())
            .ok()
            .map(|()| Permit::new(self))
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
        // Counted before the first check of the windows: a release that the check misses then
        // sees the count, and notifies.
        let _waiting = Waiting::count(&self.waiting);
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.try_acquire(Instant::now()) {
                Ok(()) => {
                    return Permit::new(self);
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

    /// Wakes the `acquire` calls waiting for a slot, if any.
    fn notify_waiting(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
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
        Permit::new(self)
    }

    /// `Err(Some(wait))`: a slot frees after `wait`; `Err(None)`: only a completion frees one.
    fn try_acquire(&self, now: Instant) -> Result<(), Option<Duration>> {
        let mut state = self.lock();
        let now = state.move_windows(now, &self.windows, self.longest);
        let mut wait: Option<Duration> = None;
        let mut blocked = false;
        for (index, (requests, period)) in self.windows.iter().enumerate() {
            // The share is of the shortest window, the rate: the longer ones bound the total,
            // and cutting them would hold a throttled client back for their whole length.
            let limit = if self.shortest == Some(index) {
                admitted(*requests, state.share)
            } else {
                *requests as usize
            };
            let first_in_window = state.first_in_window(index);
            let recent = state.completed.len() - first_in_window;
            let used = state.in_flight as usize + recent;
            if used < limit {
                continue;
            }
            blocked = true;
            // Completed entries age out oldest first; in-flight ones only after completing.
            let must_expire = used + 1 - limit;
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

    fn release_uncounted(&self) {
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
        }
        self.notify_waiting();
    }

    fn release(&self) {
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            state.completed.push_back(Instant::now());
        }
        self.notify_waiting();
    }
}

/// One waiting `acquire` in [`Limiter::waiting`], uncounted when it returns or is cancelled.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::SeqCst);
        Self(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One request's place in the windows; dropping it marks the request completed.
#[derive(Debug)]
pub(crate) struct Permit {
    /// `None` once the slot is no longer this permit's to complete: handed over, or freed
    /// uncounted. The reference to the limiter is dropped either way.
    limiter: Option<Arc<Limiter>>,
}

impl Permit {
    fn new(limiter: &Arc<Limiter>) -> Self {
        Self {
            limiter: Some(Arc::clone(limiter)),
        }
    }

    /// Leaves the slot counted without a permit owning it, for [`Limiter::claim_handed_over`].
    pub(crate) fn hand_over(mut self) {
        self.limiter = None;
    }

    /// Ends the request's place in the windows after the attempt came to `outcome`. A request
    /// the server throttled frees its slot at once: the server refused it without counting it,
    /// and counting it here would hold the client back for a whole window for nothing.
    pub(crate) fn release(mut self, outcome: AttemptOutcome) {
        let throttled = matches!(outcome, AttemptOutcome::Answered { status, .. } if status == reqwest::StatusCode::TOO_MANY_REQUESTS);
        if throttled && let Some(limiter) = self.limiter.take() {
            limiter.release_uncounted();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(limiter) = self.limiter.take() {
            limiter.release();
        }
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

    /// The windows' cursors against a direct count: over a long irregular run through three
    /// windows, no admission finds a window full, and the completions kept are exactly those
    /// of the longest window.
    #[tokio::test(start_paused = true)]
    async fn every_window_holds_over_a_long_irregular_run() {
        let windows = [
            (3, Duration::from_secs(1)),
            (7, Duration::from_secs(5)),
            (20, Duration::from_secs(30)),
        ];
        let limiter = Limiter::new(windows.iter().fold(RateLimit::new(), |limit, (n, period)| {
            limit.window(*n, *period)
        }));
        let mut admitted: Vec<Instant> = Vec::new();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..300 {
            let permit = limiter
                .acquire_until(Instant::now() + Duration::from_secs(600))
                .await
                .unwrap();
            let now = Instant::now();
            for (requests, period) in windows {
                let in_window = admitted
                    .iter()
                    .filter(|at| now.duration_since(**at) < period)
                    .count();
                assert!(in_window < requests as usize, "{period:?} full at {now:?}");
            }
            admitted.push(now);
            drop(permit);
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            tokio::time::sleep(Duration::from_millis(seed % 700)).await;
        }
        let now = Instant::now();
        let in_longest = admitted
            .iter()
            .filter(|at| now.duration_since(**at) < Duration::from_secs(30))
            .count();
        let mut state = limiter.lock();
        state.move_windows(now, &limiter.windows, limiter.longest);
        assert_eq!(state.completed.len(), in_longest);
        assert_eq!(
            state.completed.len() - state.first_in_window(0),
            admitted
                .iter()
                .filter(|at| now.duration_since(**at) < Duration::from_secs(1))
                .count()
        );
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
        assert_eq!(
            Arc::strong_count(&limiter),
            1,
            "no permit keeps the limiter alive"
        );
    }

    /// Sends `count` requests the server accepts, one after the other.
    fn accept(limiter: &Arc<Limiter>, count: usize) {
        for _ in 0..count {
            let permit = limiter.try_acquire_now().expect("a free slot");
            limiter.accepted();
            drop(permit);
        }
    }

    fn throttled_outcome() -> AttemptOutcome {
        AttemptOutcome::Answered {
            status: reqwest::StatusCode::TOO_MANY_REQUESTS,
            retry_after: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_falls_after_a_429_and_climbs_back_to_the_windows() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(20, Duration::from_secs(1))
                .window(100, Duration::from_secs(60)),
        );
        accept(&limiter, 20);
        limiter.throttled(Instant::now());
        assert!((limiter.share() - CUT).abs() < 1e-9, "{}", limiter.share());
        // 14 of 20 now: once the window has passed, the fifteenth request in a second waits.
        tokio::time::advance(Duration::from_millis(1001)).await;
        let mut permits = Vec::new();
        for _ in 0..14 {
            permits.push(limiter.try_acquire_now().expect("14 fit"));
        }
        assert!(limiter.try_acquire_now().is_none(), "the 15th waits");
        drop(permits);
        // Successes climb back along CUBIC's curve: fast at first, flat near the old peak,
        // then above it, and never above the configured windows.
        let mut shares = vec![limiter.share()];
        for _ in 0..40 {
            tokio::time::advance(Duration::from_millis(250)).await;
            limiter.accepted();
            shares.push(limiter.share());
        }
        assert!(
            shares.windows(2).all(|pair| pair[1] >= pair[0]),
            "never down on success"
        );
        // k = cbrt((20 − 14) / 0.4) ≈ 2.5 windows to regain the 20 it was cut from: most of
        // it in the first window and a quarter, the rest as it nears the old peak.
        assert!(shares[1] > 0.9 && shares[1] < 1.0, "{shares:?}");
        assert!(shares[4] < 1.0, "{shares:?}");
        assert_eq!(shares[8], 1.0, "{shares:?}");
        assert_eq!(limiter.share(), 1.0);
        tokio::time::advance(Duration::from_secs(61)).await;
        let mut permits = Vec::new();
        for _ in 0..20 {
            permits.push(limiter.try_acquire_now().expect("20 fit again"));
        }
        assert!(
            limiter.try_acquire_now().is_none(),
            "never more than configured"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_cuts_once_for_the_requests_sent_before_the_cut_and_from_what_was_accepted() {
        let limiter = Limiter::new(RateLimit::new().window(20, Duration::from_secs(1)));
        // Ten accepted in this window: the cut is from them, not from the allowance of 20.
        accept(&limiter, 10);
        let sent_together = Instant::now();
        tokio::time::advance(Duration::from_millis(10)).await;
        for _ in 0..5 {
            limiter.throttled(sent_together);
        }
        assert!(
            (limiter.share() - 0.35).abs() < 1e-9,
            "one cut for one round"
        );
        tokio::time::advance(Duration::from_millis(10)).await;
        limiter.throttled(Instant::now());
        assert!(
            (limiter.share() - 0.7 * 0.35).abs() < 1e-9,
            "a later request cuts again, from the allowance now smaller than what was accepted"
        );
        for _ in 0..50 {
            limiter.throttled(Instant::now());
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert!(limiter.share() >= MIN_SHARE);
        assert_eq!(
            admitted(20, limiter.share()),
            1,
            "a window still admits one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_request_frees_its_slot_uncounted() {
        let limiter = Limiter::new(RateLimit::new().window(1, Duration::from_secs(10)));
        limiter
            .try_acquire_now()
            .expect("one slot")
            .release(throttled_outcome());
        let permit = limiter
            .try_acquire_now()
            .expect("the server did not count the throttled one, nor does the client");
        permit.release(AttemptOutcome::NoAnswer);
        assert!(
            limiter.try_acquire_now().is_none(),
            "any other outcome counts"
        );
        assert_eq!(
            Arc::strong_count(&limiter),
            1,
            "no permit keeps the limiter alive"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_adaptation_the_windows_are_fixed() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(20, Duration::from_secs(1))
                .adaptive(false),
        );
        limiter.throttled(Instant::now());
        limiter.accepted();
        assert_eq!(limiter.share(), 1.0);
        assert!(RateLimit::default().is_adaptive());
    }
}
