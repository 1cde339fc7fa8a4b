//! The client-side limiter for the vendor's mutation rate limits, shared by a client's clones:
//! the windows the client holds itself to, how it learns from 429s, and how it probes while
//! throttled.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::retry::{AttemptOutcome, random_unit};

// The vendor's limits, generated from the spec's `info.x-rate-limits` (see `build.rs`).
use crate::generated::declared::rate_limits as vendor;

// The limiter keeps a throttled attempt's slot for its whole window, as the vendor's limiter
// does: the spec says rejected attempts count. Should the spec say otherwise, this stops the
// build rather than leave the client spending a budget the server no longer charges.
const _: () = assert!(
    vendor::REJECTED_ATTEMPTS_COUNT,
    "spec/openapi.yaml's info.x-rate-limits says rejected attempts do not count; the limiter assumes they do"
);

/// The share of the vendor's figures the client allows itself by default: "about" 1,800 may
/// be a little less, and a request's count at the server and at the client start at slightly
/// different instants.
const DEFAULT_MARGIN: f64 = 0.95;

/// Mutation limits as sliding windows of at most `requests` per `period`: what the client
/// holds itself to, and what the fake Console (`statsig-console-mock`) enforces per project.
///
/// The vendor documents (docs.statsig.com/console-api, "Rate limiting", read 2026-12-01) one
/// quota per project, shared by all its Console keys: about 1,800 request attempts per
/// 15-minute window, with burst protection on top that can throttle a burst below it. Both
/// answer 429, and attempts the limiter rejects count toward the quota too. The vendor gives
/// no figure for burst protection; the client assumes its older documentation's 100 requests
/// per 10 s. [`RateLimit::vendor`] is exactly that; the default stays 5% under it:
/// 95 per 10 s and 1,710 per 15 minutes.
///
/// Every attempt counts, a throttled one included, as it does at the server. The limiter is
/// adaptive by default ([`RateLimit::adaptive`]): after a 429 the client and its clones slow
/// down together and learn a lower share of the windows; see the README's "Reliability".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    windows: Vec<(u32, Duration)>,
    adaptive: bool,
    probe_backoff: Option<(Duration, Duration)>,
}

impl Default for RateLimit {
    fn default() -> Self {
        let margin = |(requests, period): (u32, Duration)| {
            (
                (f64::from(requests) * DEFAULT_MARGIN).floor() as u32,
                period,
            )
        };
        let (burst, quota) = (margin(vendor::BURST), margin(vendor::QUOTA));
        Self::new()
            .window(burst.0, burst.1)
            .window(quota.0, quota.1)
    }
}

impl RateLimit {
    /// The vendor's limits exactly, as `spec/openapi.yaml` declares them (`info.x-rate-limits`,
    /// generated into the client): read from the vendor's documentation on 2026-12-01, a burst
    /// window of 100 requests per 10 s (the older documentation's figure: the current one gives
    /// none) and the project quota of 1,800 per 15 minutes. What the fake Console enforces by
    /// default.
    pub fn vendor() -> Self {
        Self::new()
            .window(vendor::BURST.0, vendor::BURST.1)
            .window(vendor::QUOTA.0, vendor::QUOTA.1)
    }

    /// No windows yet, so nothing is limited; add them with [`RateLimit::window`].
    pub fn new() -> Self {
        Self {
            windows: Vec::new(),
            adaptive: true,
            probe_backoff: None,
        }
    }

    /// Whether the client adapts its windows to throttling (default `true`).
    ///
    /// - A 429 to a request sent while nothing was throttled starts a *throttled spell*: the
    ///   client allows itself 70% of what the server accepted from it in the shortest window
    ///   (CUBIC's cut), and climbs back along CUBIC's curve while requests succeed, never
    ///   above the configured windows.
    /// - When 429s keep coming for a whole shortest window while this client's own rate in it
    ///   is under half the configured burst window, it is not the burst but a longer window (the project's
    ///   quota) that is exhausted: the longer window this client has used most of is lowered to
    ///   what the server accepted from it in that window, and climbs back along the same curve
    ///   in units of its own length. The configured windows stay the ceiling.
    ///
    /// With `false` the windows are a fixed limit. Either way, while throttled the client sends
    /// one probe at a time (see [`RateLimit::probe_backoff`]).
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

    /// How far apart probes are while throttled: after a 429 the client and its clones have
    /// at most one request in flight until one succeeds, the `n`th probe after a wait of
    /// between half and all of `initial × 2^(n − 1)` (jitter), capped at `max` (a server's
    /// `Retry-After` is waited out when it is longer). Default: a quarter of the shortest
    /// window, capped at four shortest windows (2.5 s to 40 s with the default windows).
    pub fn probe_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.probe_backoff = Some((initial, max.max(initial)));
        self
    }

    /// The probe backoff in force: (initial, max).
    pub fn probe_backoff_range(&self) -> (Duration, Duration) {
        self.probe_backoff.unwrap_or_else(|| {
            let shortest = self
                .windows
                .iter()
                .map(|(_, period)| *period)
                .min()
                .unwrap_or(vendor::BURST.1);
            (shortest / 4, shortest * 4)
        })
    }

    /// The same limits with time running `factor` times faster: every period (and a
    /// configured probe backoff) divided by it, the counts unchanged. For tests against the
    /// fake Console: `RateLimit::default().faster(100)` on the client against
    /// `RateLimit::vendor().faster(100)` on the fake behaves as the defaults do against the
    /// vendor, in a hundredth of the time.
    pub fn faster(mut self, factor: u32) -> Self {
        let factor = factor.max(1);
        for (_, period) in &mut self.windows {
            *period /= factor;
        }
        if let Some((initial, max)) = &mut self.probe_backoff {
            *initial /= factor;
            *max /= factor;
        }
        self
    }
}

/// The wait of a throttled call's `rejection`th retry when the client has no limiter to pace
/// it: exponential backoff with jitter, as for probes under [`RateLimit::vendor`].
pub(crate) fn unpaced_throttle_ceiling(rejection: u32) -> Duration {
    let (initial, max) = RateLimit::vendor().probe_backoff_range();
    backoff_ceiling(initial, max, rejection)
}

/// `initial × 2^(n − 1)`, capped at `max`.
fn backoff_ceiling(initial: Duration, max: Duration, n: u32) -> Duration {
    initial
        .saturating_mul(1u32 << n.saturating_sub(1).min(31))
        .min(max)
}

/// A wait of between half and all of `ceiling`: spread so that clients throttled together do
/// not come back together, yet never bunched near zero.
pub(crate) fn jittered(ceiling: Duration) -> Duration {
    ceiling.mul_f64(0.5 + 0.5 * random_unit())
}

/// Shared by a client and its clones. Each request counts from the moment it is sent until
/// its window has passed since it *completed*: the server saw it at some instant in between,
/// so however long the network takes, the server never sees more than the limit in a window.
#[derive(Debug)]
pub(crate) struct Limiter {
    windows: Vec<(u32, Duration)>,
    longest: Duration,
    /// The index in `windows` of the window with the shortest period: the burst window, whose
    /// share a first 429 cuts and whose period tells a burst from an exhausted quota.
    shortest: Option<usize>,
    adaptive: bool,
    probe_backoff: (Duration, Duration),
    /// Whether some window's share is below 1: lets every success in the common case (never
    /// throttled) skip the lock.
    climbing: AtomicBool,
    /// Whether a throttled spell is on: likewise.
    throttled: AtomicBool,
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
    /// When attempts were answered 429, oldest first; none older than the longest window.
    /// With it the limiter tells what the server accepted from what it merely counted.
    rejected: VecDeque<Instant>,
    /// How many completions were pruned from the front of `completed`: with it, positions in
    /// `window_starts` stay valid as the front is pruned.
    pruned: u64,
    /// For each window, in `Limiter::windows` order, the position of its first completion.
    /// Windows only move forward, so each is a cursor that steps over the completions that
    /// left it since the last call: no search over (and no cache misses in) a long deque.
    window_starts: Vec<u64>,
    /// The latest instant the windows were moved to; they never move back.
    moved_to: Option<Instant>,
    /// For each window, the share of it the client allows itself now.
    allowances: Vec<Allowance>,
    /// The throttled spell under way, if one is.
    spell: Option<Spell>,
    /// When the last throttled spell ended: a 429 to a request sent before then tells of a
    /// rate that spell already dealt with.
    last_spell_end: Option<Instant>,
}

/// The share of one window the client allows itself, and the CUBIC state it climbs by.
#[derive(Debug, Clone, Copy)]
struct Allowance {
    /// In (0, 1]; 1 unless adaptation lowered it.
    share: f64,
    /// When the share was last lowered.
    last_cut: Option<Instant>,
    /// The allowance (requests) just before, and just after, the last cut: growth is CUBIC's
    /// curve between them and beyond.
    before_cut: f64,
    after_cut: f64,
}

impl Allowance {
    const FULL: Allowance = Allowance {
        share: 1.0,
        last_cut: None,
        before_cut: 0.0,
        after_cut: 0.0,
    };
}

/// From the first 429 of requests sent while nothing was throttled until a request sent
/// during it is answered with anything else: one probe in flight at a time, spaced by an
/// exponential backoff with jitter.
#[derive(Debug)]
struct Spell {
    started: Instant,
    /// 429s to requests sent since the spell started, the one that started it included: the
    /// backoff's exponent.
    rejections: u32,
    probe_in_flight: bool,
    next_probe_at: Instant,
    /// Whether the spell already lowered a longer window: once per spell.
    quota_learned: bool,
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
/// The smallest share a cut leaves: with every attempt counted, a client whose first request
/// met a 429 would otherwise be cut to one request per window, and take many windows to climb
/// back (4 per 10 s with the default windows: still well under a twentieth of the burst).
const MIN_SHARE: f64 = 0.05;

impl LimiterState {
    /// Moves the windows to `now` (or to the latest instant they were moved to, if later):
    /// prunes the completions and rejections older than the longest window, and steps each
    /// window's start over the completions that left it. Returns the instant the windows are at.
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
            while self.rejected.front().is_some_and(|at| *at <= oldest_kept) {
                self.rejected.pop_front();
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

    /// Attempts completed in window `index`, as of the last move.
    fn completed_in_window(&self, index: usize) -> usize {
        self.completed.len() - self.first_in_window(index)
    }

    /// Attempts completed in window `index` that the server accepted (answered anything but
    /// 429), as of `now`, the instant of the last move.
    fn accepted_in_window(&self, index: usize, period: Duration, now: Instant) -> usize {
        let rejected = match now.checked_sub(period) {
            Some(start) => self
                .rejected
                .iter()
                .rev()
                .take_while(|at| **at > start)
                .count(),
            None => self.rejected.len(),
        };
        self.completed_in_window(index).saturating_sub(rejected)
    }
}

/// The requests a window of `requests` admits at `share`: at least one.
fn admitted(requests: u32, share: f64) -> usize {
    ((f64::from(requests) * share).floor() as usize).max(1)
}

thread_local! {
    /// The permit the transport's `pre` hook hands to `exec`: the generated code calls one
    /// right after the other in the same poll, so on the same thread, with nothing between.
    static HANDED_OVER: Cell<Option<Permit>> = const { Cell::new(None) };
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Arc<Self> {
        let window_count = limit.windows.len();
        let probe_backoff = limit.probe_backoff_range();
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
            probe_backoff,
            climbing: AtomicBool::new(false),
            throttled: AtomicBool::new(false),
            state: Mutex::new(LimiterState {
                in_flight: 0,
                completed: VecDeque::new(),
                rejected: VecDeque::new(),
                pruned: 0,
                window_starts: vec![0; window_count],
                moved_to: None,
                allowances: vec![Allowance::FULL; window_count],
                spell: None,
                last_spell_end: None,
            }),
            changed: Notify::new(),
            waiting: AtomicUsize::new(0),
        })
    }

    /// The share of window `index` the client allows itself now, in (0, 1].
    #[cfg(test)]
    fn share(&self, index: usize) -> f64 {
        self.lock().allowances[index].share
    }

    /// Whether a throttled spell is on.
    #[cfg(test)]
    fn is_throttled(&self) -> bool {
        self.throttled.load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the limiter how the server took an attempt sent at `sent_at`.
    pub(crate) fn observe(&self, outcome: AttemptOutcome, sent_at: Instant) {
        if let AttemptOutcome::Answered {
            status,
            retry_after,
        } = outcome
        {
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                self.throttled(sent_at, retry_after);
            } else {
                // Any other answer got past the server's rate limiter.
                self.admitted_by_server(sent_at, status.is_success());
            }
        }
    }

    /// The server answered 429 to a request sent at `sent_at`, asking for `retry_after` or
    /// not. Starts a throttled spell, or counts the probe's rejection in the one under way.
    fn throttled(&self, sent_at: Instant, retry_after: Option<Duration>) {
        let mut state = self.lock();
        let now = state.move_windows(Instant::now(), &self.windows, self.longest);
        self.spell_rejection(&mut state, now, sent_at, retry_after.unwrap_or_default());
        // Counted after the spell's decisions: those weigh what the server accepted among the
        // attempts already completed, which this one is not yet.
        state.rejected.push_back(now);
    }

    /// Starts a throttled spell with a 429 to a request sent at `sent_at`, or counts the
    /// probe's rejection in the one under way.
    fn spell_rejection(
        &self,
        state: &mut LimiterState,
        now: Instant,
        sent_at: Instant,
        asked: Duration,
    ) {
        match &mut state.spell {
            Some(spell) if sent_at < spell.started => {
                // In flight when the spell began: it says nothing new, but a server's
                // `Retry-After` is heeded all the same.
                spell.next_probe_at = spell.next_probe_at.max(now + asked);
            }
            Some(spell) => {
                spell.rejections += 1;
                let ceiling =
                    backoff_ceiling(self.probe_backoff.0, self.probe_backoff.1, spell.rejections);
                spell.next_probe_at = now + jittered(ceiling).max(asked);
                let persisted = self
                    .shortest_window()
                    .is_some_and(|(_, _, period)| now.duration_since(spell.started) >= period);
                if self.adaptive
                    && persisted
                    && !spell.quota_learned
                    && self.learn_quota(state, now)
                    && let Some(spell) = &mut state.spell
                {
                    spell.quota_learned = true;
                }
            }
            None => {
                if state.last_spell_end.is_some_and(|end| sent_at < end) {
                    return;
                }
                let ceiling = backoff_ceiling(self.probe_backoff.0, self.probe_backoff.1, 1);
                state.spell = Some(Spell {
                    started: now,
                    rejections: 1,
                    probe_in_flight: false,
                    next_probe_at: now + jittered(ceiling).max(asked),
                    quota_learned: false,
                });
                self.throttled.store(true, Ordering::SeqCst);
                tracing::debug!(
                    first_probe_in_ms = ceiling.as_millis() as u64,
                    "throttled by the server: one probe at a time until a request succeeds"
                );
                if self.adaptive {
                    self.cut_burst(state, now);
                }
            }
        }
    }

    /// A spell's first 429: the shortest window's share goes to 70% of what the server
    /// accepted from this client in it (or of the allowance, when that is less).
    fn cut_burst(&self, state: &mut LimiterState, now: Instant) {
        let Some((index, requests, period)) = self.shortest_window() else {
            return;
        };
        let accepted = state.accepted_in_window(index, period, now) as f64;
        let Some(allowance) = state.allowances.get_mut(index) else {
            return;
        };
        let before = allowance.share;
        let peak = (before * f64::from(requests)).min(accepted).max(1.0);
        // CUBIC's fast convergence: a client cut again below its last peak gives way.
        allowance.before_cut = if peak < allowance.before_cut {
            peak * (1.0 + CUT) / 2.0
        } else {
            peak
        };
        allowance.after_cut = peak * CUT;
        allowance.share = (allowance.after_cut / f64::from(requests)).max(MIN_SHARE);
        allowance.last_cut = Some(now);
        self.climbing.store(true, Ordering::Relaxed);
        tracing::debug!(
            window_ms = period.as_millis() as u64,
            requests_per_window = admitted(requests, allowance.share),
            share = allowance.share,
            previous_share = before,
            reason = "a 429 while nothing was throttled: the burst window is cut to 70% of what the server accepted in it",
            "the client's rate limit goes down"
        );
    }

    /// 429s have kept coming for a whole shortest window. When this client's own rate in that
    /// window is under half of it (as configured), the burst is not what the server refuses: the
    /// longer window this client has used most of is lowered to what the server accepted from
    /// it in that window, if that is lower than its allowance. Returns whether a window was
    /// lowered.
    fn learn_quota(&self, state: &mut LimiterState, now: Instant) -> bool {
        let Some((shortest, short_requests, _)) = self.shortest_window() else {
            return false;
        };
        // Against the configured burst window, the one the server enforces: the spell's own
        // cut of it says nothing of the server.
        let short_used = state.completed_in_window(shortest) + state.in_flight as usize;
        if short_used * 2 >= short_requests as usize {
            return false;
        }
        let fullest = self
            .windows
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != shortest)
            .map(|(index, (requests, period))| {
                let allowance = admitted(*requests, state.allowances[index].share);
                let used = state.completed_in_window(index) + state.in_flight as usize;
                (index, *requests, *period, used as f64 / allowance as f64)
            })
            .max_by(|a, b| a.3.total_cmp(&b.3));
        let Some((index, requests, period, _)) = fullest else {
            return false;
        };
        let accepted = state.accepted_in_window(index, period, now).max(1) as f64;
        let allowance = &mut state.allowances[index];
        let before = allowance.share;
        if accepted >= before * f64::from(requests) {
            return false;
        }
        allowance.before_cut = accepted;
        allowance.after_cut = accepted;
        allowance.share = (accepted / f64::from(requests)).max(MIN_SHARE);
        allowance.last_cut = Some(now);
        self.climbing.store(true, Ordering::Relaxed);
        tracing::debug!(
            window_ms = period.as_millis() as u64,
            requests_per_window = admitted(requests, allowance.share),
            share = allowance.share,
            previous_share = before,
            reason = "429s for a whole burst window while this client's burst rate was low: this window (the project's quota) is lowered to what the server accepted in it",
            "the client's rate limit goes down"
        );
        true
    }

    /// The server got a request sent at `sent_at` past its rate limiter: a spell it was sent
    /// in ends; a success also lets the windows climb back.
    fn admitted_by_server(&self, sent_at: Instant, success: bool) {
        if self.throttled.load(Ordering::SeqCst) {
            let mut state = self.lock();
            let now = Instant::now();
            if state
                .spell
                .as_ref()
                .is_some_and(|spell| sent_at >= spell.started)
            {
                state.spell = None;
                state.last_spell_end = Some(now);
                self.throttled.store(false, Ordering::SeqCst);
                drop(state);
                tracing::debug!("a request got through: the throttled spell is over");
                self.notify_waiting();
            }
        }
        if success {
            self.accepted();
        }
    }

    /// The server accepted a request: each lowered window climbs back along CUBIC's curve in
    /// time since its cut, measured in its own periods (fast while far below the allowance
    /// that was cut, flat near it, then probing above), never above the window itself.
    fn accepted(&self) {
        if !self.adaptive || !self.climbing.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        let mut raised = false;
        {
            let mut state = self.lock();
            let mut still_climbing = false;
            for ((requests, period), allowance) in self.windows.iter().zip(&mut state.allowances) {
                if allowance.share >= 1.0 {
                    continue;
                }
                let Some(cut_at) = allowance.last_cut else {
                    continue;
                };
                let requests = f64::from(*requests);
                let windows =
                    now.duration_since(cut_at).as_secs_f64() / period.as_secs_f64().max(1e-9);
                // CUBIC's curve, scaled by the allowance that was cut: a client holding a small
                // part of the window probes by a small part, so N clients together probe about
                // as fast as one holding it all (plain CUBIC would probe N times as fast, and
                // throttle each other N times as often).
                let scale = CUBIC_C * allowance.before_cut / requests;
                let k = ((allowance.before_cut - allowance.after_cut).max(0.0) / scale.max(1e-9))
                    .cbrt();
                let curve = scale * (windows - k).powi(3) + allowance.before_cut;
                let before = admitted(requests as u32, allowance.share);
                allowance.share = (curve / requests).clamp(allowance.share, 1.0);
                still_climbing |= allowance.share < 1.0;
                let after = admitted(requests as u32, allowance.share);
                if after != before {
                    raised = true;
                    tracing::debug!(
                        window_ms = period.as_millis() as u64,
                        requests_per_window = after,
                        share = allowance.share,
                        reason = "requests succeed",
                        "the client's rate limit goes up"
                    );
                }
            }
            self.climbing.store(still_climbing, Ordering::Relaxed);
        }
        if raised {
            self.notify_waiting();
        }
    }

    /// The shortest window: its index in `windows`, its requests and its period.
    fn shortest_window(&self) -> Option<(usize, u32, Duration)> {
        let index = self.shortest?;
        let (requests, period) = *self.windows.get(index)?;
        Some((index, requests, period))
    }

    /// A permit now, if a slot is free, without registering as a waiter or arming a timer:
    /// the common case stays cheap.
    pub(crate) fn try_acquire_now(self: &Arc<Self>) -> Option<Permit> {
        self.try_acquire(Instant::now())
            .ok()
            .map(|probe| Permit::new(self, probe))
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
                Ok(probe) => {
                    return Permit::new(self, probe);
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

    /// Takes the permit [`Permit::hand_over`] left on this thread.
    ///
    /// The transport's `pre` hook waits for the first attempt's slot (only a hook that runs
    /// before sending can end a call with an error of its own when the deadline passes), and
    /// the generated code calls `exec` right after it returns, in the same poll: the permit
    /// cannot be lost, nor taken by another call, in between.
    pub(crate) fn claim_handed_over() -> Option<Permit> {
        HANDED_OVER.with(Cell::take)
    }

    /// `Ok(probe)`: a slot, and whether it is a throttled spell's probe. `Err(Some(wait))`: a
    /// slot frees after `wait`; `Err(None)`: only a completion frees one.
    fn try_acquire(&self, now: Instant) -> Result<bool, Option<Duration>> {
        let mut state = self.lock();
        let now = state.move_windows(now, &self.windows, self.longest);
        if let Some(spell) = &state.spell {
            if spell.probe_in_flight {
                return Err(None);
            }
            if now < spell.next_probe_at {
                return Err(Some(spell.next_probe_at - now));
            }
        }
        let mut wait: Option<Duration> = None;
        let mut blocked = false;
        for (index, (requests, period)) in self.windows.iter().enumerate() {
            let limit = admitted(*requests, state.allowances[index].share);
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
        let probe = match &mut state.spell {
            Some(spell) => {
                spell.probe_in_flight = true;
                true
            }
            None => false,
        };
        Ok(probe)
    }

    fn release(&self, probe: bool) {
        {
            let mut state = self.lock();
            state.in_flight = state.in_flight.saturating_sub(1);
            state.completed.push_back(Instant::now());
            if probe && let Some(spell) = &mut state.spell {
                spell.probe_in_flight = false;
            }
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

/// One request's place in the windows; dropping it marks the request completed. Every attempt
/// keeps its place for the window's length, whatever its answer: the server counts throttled
/// attempts too.
#[derive(Debug)]
pub(crate) struct Permit {
    limiter: Option<Arc<Limiter>>,
    /// Whether this is the one probe a throttled spell lets through.
    probe: bool,
}

impl Permit {
    fn new(limiter: &Arc<Limiter>, probe: bool) -> Self {
        Self {
            limiter: Some(Arc::clone(limiter)),
            probe,
        }
    }

    /// Leaves the permit on this thread for [`Limiter::claim_handed_over`].
    pub(crate) fn hand_over(self) {
        HANDED_OVER.with(|slot| slot.set(Some(self)));
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(limiter) = self.limiter.take() {
            limiter.release(self.probe);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn answered(status: u16, retry_after: Option<Duration>) -> AttemptOutcome {
        AttemptOutcome::Answered {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after,
        }
    }

    /// Sends one request now and tells the limiter the server answered `status`.
    fn send(limiter: &Arc<Limiter>, status: u16) {
        let permit = limiter.try_acquire_now().expect("a free slot");
        let sent_at = Instant::now();
        limiter.observe(answered(status, None), sent_at);
        drop(permit);
    }

    /// Sends `count` requests the server accepts, one after the other.
    fn accept(limiter: &Arc<Limiter>, count: usize) {
        for _ in 0..count {
            send(limiter, 200);
        }
    }

    /// `info.x-rate-limits` as the spec the client was generated from writes it.
    fn declared_in_spec() -> serde_json::Value {
        let spec: serde_json::Value = serde_json::from_str(crate::OPENAPI_JSON).unwrap();
        spec["info"]["x-rate-limits"].clone()
    }

    #[test]
    fn the_vendor_limits_are_what_the_spec_declares() {
        let declared = declared_in_spec();
        let window = |name: &str| {
            (
                u32::try_from(declared[name]["requests"].as_u64().unwrap()).unwrap(),
                Duration::from_secs(declared[name]["periodSeconds"].as_u64().unwrap()),
            )
        };
        assert_eq!(
            RateLimit::vendor().windows(),
            [window("burst"), window("quota")]
        );
        // The default is the documented margin under exactly those figures.
        let under = |(requests, period): (u32, Duration)| {
            (
                (f64::from(requests) * DEFAULT_MARGIN).floor() as u32,
                period,
            )
        };
        assert_eq!(
            RateLimit::default().windows(),
            [under(window("burst")), under(window("quota"))]
        );
        assert_eq!(
            declared["rejectedAttemptsCount"].as_bool(),
            Some(vendor::REJECTED_ATTEMPTS_COUNT)
        );
        assert_eq!(declared["scope"].as_str(), Some("project"));
    }

    #[test]
    fn defaults_sit_just_under_the_vendors_current_limits() {
        // docs.statsig.com/console-api, read 2026-12-01: about 1,800 attempts per 15 minutes
        // per project; burst protection without a number (the older 100 per 10 s kept).
        assert_eq!(
            RateLimit::vendor().windows(),
            [
                (100, Duration::from_secs(10)),
                (1_800, Duration::from_secs(900))
            ]
        );
        assert_eq!(
            RateLimit::default().windows(),
            [
                (95, Duration::from_secs(10)),
                (1_710, Duration::from_secs(900))
            ]
        );
        assert!(RateLimit::default().is_adaptive());
        assert_eq!(
            RateLimit::default().probe_backoff_range(),
            (Duration::from_millis(2_500), Duration::from_secs(40))
        );
    }

    #[test]
    fn faster_divides_every_period_and_keeps_the_counts() {
        let fast = RateLimit::vendor()
            .probe_backoff(Duration::from_secs(1), Duration::from_secs(20))
            .faster(10);
        assert_eq!(
            fast.windows(),
            [
                (100, Duration::from_secs(1)),
                (1_800, Duration::from_secs(90))
            ]
        );
        assert_eq!(
            fast.probe_backoff_range(),
            (Duration::from_millis(100), Duration::from_secs(2))
        );
        assert_eq!(
            RateLimit::default().faster(10).probe_backoff_range(),
            (Duration::from_millis(250), Duration::from_secs(4)),
            "the derived backoff follows the windows"
        );
        assert_eq!(RateLimit::vendor().faster(0), RateLimit::vendor());
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
            state.completed_in_window(0),
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
        let claimed = Limiter::claim_handed_over().expect("left on this thread");
        assert!(Limiter::claim_handed_over().is_none(), "claimed once");
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

    #[tokio::test(start_paused = true)]
    async fn a_throttled_attempt_keeps_its_slot_for_the_window() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(1, Duration::from_secs(10))
                .probe_backoff(Duration::from_millis(10), Duration::from_millis(10)),
        );
        send(&limiter, 429);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(
            limiter.try_acquire_now().is_none(),
            "the server counted the throttled attempt, and so does the client"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        let probe = limiter.try_acquire_now().expect("the window has passed");
        assert!(
            probe.probe,
            "the first request after a 429 is the spell's probe"
        );
        drop(probe);
        assert_eq!(Arc::strong_count(&limiter), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_429_one_request_is_in_flight_until_one_succeeds() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(1_000, Duration::from_secs(1))
                .probe_backoff(Duration::from_millis(100), Duration::from_millis(100)),
        );
        // Four in flight; the first answer is a 429.
        let mut in_flight: Vec<(Permit, Instant)> = (0..4)
            .map(|_| (limiter.try_acquire_now().unwrap(), Instant::now()))
            .collect();
        tokio::time::advance(Duration::from_millis(5)).await;
        let (first, sent_at) = in_flight.remove(0);
        limiter.observe(answered(429, None), sent_at);
        drop(first);
        assert!(limiter.is_throttled());
        assert!(
            limiter.try_acquire_now().is_none(),
            "no probe before its backoff"
        );
        // The others were sent before the spell: their 429s start nothing new.
        for (permit, sent_at) in in_flight {
            limiter.observe(answered(429, None), sent_at);
            drop(permit);
        }
        // Twenty calls wait: until one succeeds, one at a time.
        let answers = Arc::new(AtomicUsize::new(0));
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let (limiter, answers) = (Arc::clone(&limiter), Arc::clone(&answers));
                tokio::spawn(async move {
                    let permit = limiter.acquire().await;
                    let sent_at = Instant::now();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    // The first three probes are throttled, then the server lets them through.
                    let status = if answers.fetch_add(1, Ordering::SeqCst) < 3 {
                        429
                    } else {
                        200
                    };
                    limiter.observe(answered(status, None), sent_at);
                    drop(permit);
                    (status, sent_at, Instant::now())
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for call in calls {
            outcomes.push(call.await.unwrap());
        }
        outcomes.sort_by_key(|(_, sent_at, _)| *sent_at);
        let statuses: Vec<u16> = outcomes
            .iter()
            .take(4)
            .map(|(status, ..)| *status)
            .collect();
        assert_eq!(statuses, [429, 429, 429, 200], "one probe after another");
        for pair in outcomes[..4].windows(2) {
            assert!(
                pair[1].1 >= pair[0].2,
                "a probe went before the last one was answered: {outcomes:?}"
            );
        }
        let succeeded_at = outcomes[3].2;
        assert!(
            outcomes[4..]
                .iter()
                .all(|(_, sent_at, _)| *sent_at >= succeeded_at),
            "the rest went after the success"
        );
        assert!(
            outcomes[4..]
                .iter()
                .filter(|(_, sent_at, _)| *sent_at == succeeded_at)
                .count()
                > 1,
            "several at once, as the windows allow"
        );
        assert!(!limiter.is_throttled());
    }

    #[tokio::test(start_paused = true)]
    async fn probes_back_off_exponentially_with_jitter_up_to_the_cap() {
        let mut gaps_by_probe: Vec<Vec<Duration>> = vec![Vec::new(); 6];
        for _ in 0..20 {
            let limiter = Limiter::new(
                RateLimit::new()
                    .window(1_000, Duration::from_secs(1))
                    .probe_backoff(Duration::from_millis(100), Duration::from_millis(800)),
            );
            send(&limiter, 429);
            let mut rejected_at = Instant::now();
            for gaps in &mut gaps_by_probe {
                let permit = limiter.acquire().await;
                assert!(permit.probe);
                gaps.push(Instant::now().duration_since(rejected_at));
                limiter.observe(answered(429, None), Instant::now());
                drop(permit);
                rejected_at = Instant::now();
            }
        }
        for (index, gaps) in gaps_by_probe.iter().enumerate() {
            // The wait before probe n + 1 follows the (n + 1)th 429: 100, 200, 400, 800, 800…
            let ceiling = Duration::from_millis(100 << index.min(3));
            assert!(
                gaps.iter()
                    .all(|gap| *gap >= ceiling / 2 && *gap <= ceiling),
                "probe {index}: {gaps:?} not within [{:?}, {ceiling:?}]",
                ceiling / 2
            );
            let distinct: std::collections::BTreeSet<Duration> = gaps.iter().copied().collect();
            assert!(distinct.len() > 10, "jittered: {gaps:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_429s_of_requests_in_flight_when_a_spell_began_do_not_lengthen_its_backoff() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(1_000, Duration::from_secs(1))
                .probe_backoff(Duration::from_millis(100), Duration::from_secs(10)),
        );
        let sent_together = Instant::now();
        tokio::time::advance(Duration::from_millis(5)).await;
        // Four requests sent together are throttled: one spell, one rejection for its backoff.
        for _ in 0..4 {
            limiter.observe(answered(429, None), sent_together);
        }
        let started = Instant::now();
        drop(limiter.acquire().await);
        assert!(
            started.elapsed() <= Duration::from_millis(100),
            "the first probe waits the first backoff, not the fourth: {:?}",
            started.elapsed()
        );
        // A `Retry-After` on such an answer is still heeded.
        let asked = Limiter::new(
            RateLimit::new()
                .window(1_000, Duration::from_secs(1))
                .probe_backoff(Duration::from_millis(100), Duration::from_secs(10)),
        );
        let sent_together = Instant::now();
        tokio::time::advance(Duration::from_millis(5)).await;
        asked.observe(answered(429, None), sent_together);
        asked.observe(answered(429, Some(Duration::from_secs(3))), sent_together);
        let started = Instant::now();
        drop(asked.acquire().await);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_servers_retry_after_holds_the_next_probe_back() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(1_000, Duration::from_secs(1))
                .probe_backoff(Duration::from_millis(100), Duration::from_millis(100)),
        );
        let permit = limiter.try_acquire_now().unwrap();
        limiter.observe(answered(429, Some(Duration::from_secs(3))), Instant::now());
        drop(permit);
        let started = Instant::now();
        drop(limiter.acquire().await);
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn the_burst_share_falls_after_a_429_and_climbs_back_to_the_windows() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(20, Duration::from_secs(1))
                .window(100, Duration::from_secs(60))
                .probe_backoff(Duration::from_millis(1), Duration::from_millis(1)),
        );
        accept(&limiter, 19);
        send(&limiter, 429);
        assert!(
            (limiter.share(0) - CUT * 19.0 / 20.0).abs() < 1e-9,
            "{}",
            limiter.share(0)
        );
        assert_eq!(
            limiter.share(1),
            1.0,
            "a burst leaves the quota window alone"
        );
        // The probe succeeds once the window has passed, and the spell is over.
        tokio::time::advance(Duration::from_millis(1001)).await;
        send(&limiter, 200);
        assert!(!limiter.is_throttled());
        // As many as the share admits fit in a window, and no more.
        tokio::time::advance(Duration::from_millis(1001)).await;
        let fit = admitted(20, limiter.share(0));
        assert!(fit < 20, "{fit}");
        let mut permits = Vec::new();
        for _ in 0..fit {
            permits.push(limiter.try_acquire_now().expect("they fit"));
        }
        assert!(limiter.try_acquire_now().is_none(), "one more waits");
        drop(permits);
        // Successes climb back along CUBIC's curve: fast at first, flat near the old peak,
        // then above it, and never above the configured windows.
        let mut shares = vec![limiter.share(0)];
        for _ in 0..40 {
            tokio::time::advance(Duration::from_millis(250)).await;
            limiter.accepted();
            shares.push(limiter.share(0));
        }
        assert!(
            shares.windows(2).all(|pair| pair[1] >= pair[0]),
            "never down on success"
        );
        assert!(shares[4] < 1.0, "{shares:?}");
        assert_eq!(*shares.last().unwrap(), 1.0, "{shares:?}");
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
    async fn a_spell_cuts_once_and_a_later_spell_cuts_again() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(20, Duration::from_secs(1))
                .probe_backoff(Duration::from_millis(1), Duration::from_millis(1)),
        );
        // Ten accepted in this window: the cut is from them, not from the allowance of 20.
        accept(&limiter, 10);
        let sent_together = Instant::now();
        tokio::time::advance(Duration::from_millis(10)).await;
        for _ in 0..5 {
            limiter.observe(answered(429, None), sent_together);
        }
        assert!(
            (limiter.share(0) - 0.35).abs() < 1e-9,
            "one cut for one round: {}",
            limiter.share(0)
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        send(&limiter, 429);
        assert!(
            (limiter.share(0) - 0.35).abs() < 1e-9,
            "a probe's 429 only backs off: {}",
            limiter.share(0)
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        send(&limiter, 200);
        assert!(!limiter.is_throttled());
        let before = limiter.share(0);
        send(&limiter, 429);
        assert!(limiter.share(0) < before, "a new spell cuts again");
        let cut = limiter.share(0);
        // A 429 to a request sent before that spell ended tells nothing new.
        tokio::time::advance(Duration::from_secs(1)).await;
        send(&limiter, 200);
        limiter.observe(answered(429, None), sent_together);
        assert!(limiter.share(0) >= cut);
        assert!(!limiter.is_throttled());
        for _ in 0..50 {
            tokio::time::advance(Duration::from_secs(2)).await;
            send(&limiter, 200);
            tokio::time::advance(Duration::from_millis(1001)).await;
            send(&limiter, 429);
        }
        assert!(
            (limiter.share(0) - MIN_SHARE).abs() < 1e-9,
            "{}",
            limiter.share(0)
        );
        assert_eq!(
            admitted(20, limiter.share(0)),
            1,
            "a window still admits one"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_spell_cuts_from_the_allowance_and_gives_way_below_the_last_peak() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(20, Duration::from_secs(1))
                .probe_backoff(Duration::from_millis(1), Duration::from_millis(1)),
        );
        accept(&limiter, 19);
        send(&limiter, 429);
        // 0.7 of the 19 accepted.
        assert!(
            (limiter.share(0) - 0.665).abs() < 1e-9,
            "{}",
            limiter.share(0)
        );
        tokio::time::advance(Duration::from_millis(2)).await;
        // A request that got through ends the spell; the next 429 starts another at once, while
        // the 19 accepted are still in the window: the cut is from the allowance (13.3 and a
        // hair of climbing), not from them.
        limiter.observe(answered(200, None), Instant::now());
        limiter.observe(answered(429, None), Instant::now());
        assert!(
            (limiter.share(0) - 0.7 * 0.6655).abs() < 1e-3,
            "{}",
            limiter.share(0)
        );
        // Cut again below its last peak (19), the client gives way: it climbs back towards
        // 0.85 of the new peak, about 11.3 of 20, reached after cbrt((11.3 - 9.3) / 0.226) ≈ 2.07
        // windows, not towards the peak itself.
        tokio::time::advance(Duration::from_millis(2065)).await;
        limiter.accepted();
        let share = limiter.share(0);
        assert!((0.55..0.58).contains(&share), "{share}");
    }

    /// Calls that wait through a spell: the probe, then every request, as the backoff allows.
    async fn probe_until_rejected_for(limiter: &Arc<Limiter>, how_long: Duration) {
        let started = Instant::now();
        while started.elapsed() < how_long {
            let permit = limiter.acquire().await;
            limiter.observe(answered(429, None), Instant::now());
            drop(permit);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn persistent_429s_below_the_burst_allowance_lower_the_quota_window() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(10, Duration::from_secs(1))
                .window(200, Duration::from_secs(60))
                .probe_backoff(Duration::from_millis(100), Duration::from_millis(400)),
        );
        // 60 accepted over 30 s, well under the burst window; then the project's quota (shared
        // with others) is gone.
        for _ in 0..60 {
            accept(&limiter, 1);
            tokio::time::advance(Duration::from_millis(500)).await;
        }
        send(&limiter, 429);
        assert_eq!(limiter.share(1), 1.0, "one 429 could be a burst");
        probe_until_rejected_for(&limiter, Duration::from_millis(1500)).await;
        // Lowered to what the server accepted in the quota window: 60 of 200.
        assert!(
            (limiter.share(1) - 0.3).abs() < 1e-9,
            "{}",
            limiter.share(1)
        );
        // The window holds 60 accepted and the rejected attempts: nothing fits until enough
        // of them have aged out.
        assert!(limiter.try_acquire_now().is_none());
        // Lowered only from what was accepted, whatever the window's allowance.
        let generous = Limiter::new(
            RateLimit::new()
                .window(10, Duration::from_secs(1))
                .window(30, Duration::from_secs(60))
                .probe_backoff(Duration::from_millis(100), Duration::from_millis(400)),
        );
        for _ in 0..19 {
            accept(&generous, 1);
            tokio::time::advance(Duration::from_millis(500)).await;
        }
        send(&generous, 429);
        tokio::time::advance(Duration::from_secs(20)).await;
        probe_until_rejected_for(&generous, Duration::from_millis(1500)).await;
        assert!(
            (generous.share(1) - 19.0 / 30.0).abs() < 1e-9,
            "lowered to the 19 accepted: {}",
            generous.share(1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn of_several_longer_windows_the_one_this_client_used_most_is_lowered() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(10, Duration::from_secs(1))
                .window(1_000, Duration::from_secs(20))
                .window(50, Duration::from_secs(60))
                .probe_backoff(Duration::from_millis(100), Duration::from_millis(400)),
        );
        // 40 accepted over 20 s: 4% of the 20 s window, 80% of the 60 s one.
        for _ in 0..40 {
            accept(&limiter, 1);
            tokio::time::advance(Duration::from_millis(500)).await;
        }
        send(&limiter, 429);
        probe_until_rejected_for(&limiter, Duration::from_millis(1500)).await;
        assert_eq!(
            limiter.share(1),
            1.0,
            "the 20 s window is not the one exhausted"
        );
        assert!(
            (limiter.share(2) - 40.0 / 50.0).abs() < 1e-9,
            "{}",
            limiter.share(2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lowered_quota_climbs_back_slowly_and_never_above_the_window() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(10, Duration::from_secs(1))
                .window(200, Duration::from_secs(60))
                .probe_backoff(Duration::from_millis(100), Duration::from_millis(400)),
        );
        for _ in 0..100 {
            accept(&limiter, 1);
            tokio::time::advance(Duration::from_millis(200)).await;
        }
        send(&limiter, 429);
        probe_until_rejected_for(&limiter, Duration::from_millis(1500)).await;
        let learned = limiter.share(1);
        assert!((learned - 0.5).abs() < 1e-9, "{learned}");
        tokio::time::advance(Duration::from_secs(61)).await;
        send(&limiter, 200);
        assert!(!limiter.is_throttled());
        let mut shares = vec![limiter.share(1)];
        for _ in 0..40 {
            tokio::time::advance(Duration::from_secs(30)).await;
            limiter.accepted();
            shares.push(limiter.share(1));
        }
        assert!(
            shares.windows(2).all(|pair| pair[1] >= pair[0]),
            "{shares:?}"
        );
        assert!(
            shares[2] < 0.6,
            "slowly over the first quota window: {shares:?}"
        );
        assert_eq!(*shares.last().unwrap(), 1.0, "{shares:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn without_adaptation_the_windows_are_fixed_but_probes_still_go_one_at_a_time() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(20, Duration::from_secs(1))
                .adaptive(false)
                .probe_backoff(Duration::from_millis(100), Duration::from_millis(100)),
        );
        accept(&limiter, 10);
        send(&limiter, 429);
        assert_eq!(limiter.share(0), 1.0);
        assert!(limiter.is_throttled());
        tokio::time::advance(Duration::from_millis(100)).await;
        let probe = limiter.try_acquire_now().expect("the probe");
        assert!(limiter.try_acquire_now().is_none());
        limiter.observe(answered(200, None), Instant::now());
        drop(probe);
        assert!(!limiter.is_throttled());
        assert_eq!(limiter.share(0), 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn any_answer_but_429_ends_a_spell_and_a_lost_probe_frees_the_turn() {
        let limiter = Limiter::new(
            RateLimit::new()
                .window(100, Duration::from_secs(1))
                .probe_backoff(Duration::from_millis(100), Duration::from_millis(100)),
        );
        accept(&limiter, 50);
        send(&limiter, 429);
        tokio::time::advance(Duration::from_secs(1)).await;
        // A probe that got no answer: the next may go at once.
        let lost = limiter.try_acquire_now().unwrap();
        limiter.observe(AttemptOutcome::NoAnswer, Instant::now());
        drop(lost);
        assert!(limiter.is_throttled());
        let probe = limiter.try_acquire_now().expect("the turn is free again");
        // A 404 got past the server's rate limiter.
        limiter.observe(answered(404, None), Instant::now());
        drop(probe);
        assert!(!limiter.is_throttled());
        let permits: Vec<Permit> = (0..5).map(|_| limiter.try_acquire_now().unwrap()).collect();
        assert!(permits.iter().all(|permit| !permit.probe));
    }
}
