//! When a failed attempt is tried again: the policy users configure, and the decision itself
//! as one pure function ([`decide`]) of the operation's idempotency (declared in the spec, see
//! `crate::operations`) and the attempt's outcome, table-tested below.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::HeaderValue;

use super::limiter::{jittered, unpaced_throttle_ceiling};
use crate::operations::Idempotency;

/// When and how often a failed call is tried again.
///
/// The default retries up to 3 times with exponential backoff and full jitter (a random wait
/// between zero and `initial_backoff × 2^(retry − 1)`, capped at `max_backoff`). What is retried
/// depends on the operation: see the README's "Reliability" section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) max_throttled_retries: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            max_throttled_retries: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never retry, not even after a 429.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            max_throttled_retries: 0,
            ..Self::default()
        }
    }

    /// How many times a call may be retried after its first attempt (default 3).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// How many times a call may be retried after 429 answers (default 8), counted apart from
    /// [`RetryPolicy::max_retries`]: a throttled request was not processed, so repeating it is
    /// safe for every operation, and waiting out a shared project quota can take several
    /// tries. With a rate limiter, a throttled call waits for the limiter's probes (one at a
    /// time for the client and its clones, see [`crate::RateLimit::probe_backoff`]), and only
    /// a 429 to its own attempt counts here; without one, each retry waits as the server's
    /// `Retry-After` says, or an exponential backoff with jitter (see the README's
    /// "Reliability").
    pub fn max_throttled_retries(mut self, retries: u32) -> Self {
        self.max_throttled_retries = retries;
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

    /// The maximum number of retries after errors.
    pub fn retries(&self) -> u32 {
        self.max_retries
    }

    /// The maximum number of retries after 429 answers.
    pub fn throttled_retries(&self) -> u32 {
        self.max_throttled_retries
    }

    /// The ceiling of the full-jitter backoff before retry number `retry` (1-based).
    pub(crate) fn backoff_ceiling(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff)
    }
}

/// What one attempt came to, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptOutcome {
    /// No connection could be made: the request provably never reached the server.
    ConnectFailed,
    /// The request was sent but no complete answer came (timeout, reset, broken body).
    NoAnswer,
    /// The server answered with this status (and `Retry-After`, when it sent one).
    Answered {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryDecision {
    /// Hand the attempt's result to the caller.
    Return,
    /// Send the request again after the wait.
    Retry(RetryWait),
}

/// How long to wait before a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryWait {
    /// A random time below this ceiling (full jitter).
    Backoff { ceiling: Duration },
    /// Exactly what the server asked for with `Retry-After`.
    ServerAsked(Duration),
    /// After a 429 that did not say when, with no limiter to pace the retry: a random time
    /// between half of `ceiling` and all of it (exponential in the call's 429s), so that
    /// clients throttled together do not come back together.
    Throttled { ceiling: Duration },
    /// After a 429 that did not say when: no wait of the call's own. The limiter's probes,
    /// shared by the client and its clones, say when it goes.
    Paced,
}

/// How a throttled call's retries are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Throttling {
    /// By the client's limiter: one probe at a time for all its calls.
    Paced,
    /// By each call's own backoff: the client has no limiter.
    Unpaced,
}

/// How many attempts of a call failed so far, by budget: 429s have their own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RetryCounts {
    pub(crate) errors: u32,
    pub(crate) throttled: u32,
}

impl RetryCounts {
    /// Counts an attempt's outcome (a success counts as neither).
    pub(crate) fn record(&mut self, outcome: AttemptOutcome) {
        match outcome {
            AttemptOutcome::Answered { status, .. } if status == StatusCode::TOO_MANY_REQUESTS => {
                self.throttled += 1;
            }
            AttemptOutcome::Answered { status, .. } if status.is_success() => {}
            _ => self.errors += 1,
        }
    }

    /// Whether another attempt may still follow, whatever the next outcome.
    pub(crate) fn may_retry(&self, policy: &RetryPolicy) -> bool {
        self.errors < policy.max_retries || self.throttled < policy.max_throttled_retries
    }
}

/// The retry decision after an attempt, given the failures counted so far (this attempt's
/// included) and how throttled retries are spaced.
///
/// - 429 is retried for every operation, up to `policy.max_throttled_retries`: a throttled
///   request was refused before it was processed. It waits for `Retry-After` when the server
///   sent one (a wait longer than `policy.max_retry_after` returns the error instead), and
///   otherwise for the limiter's next probe, or without a limiter for an exponential backoff
///   with jitter (at most `policy.max_retry_after`).
/// - Everything else is retried up to `policy.max_retries`, and a success is returned.
/// - A connection that was never made is retried for every operation: nothing reached the server.
/// - Only idempotent operations retry what may have reached the application: no answer
///   (timeout, reset), 503, and 500/502/504.
/// - 503 waits for `Retry-After` when the server sent it, otherwise the jittered backoff.
pub(crate) fn decide(
    policy: &RetryPolicy,
    idempotency: Idempotency,
    outcome: AttemptOutcome,
    counts: RetryCounts,
    throttling: Throttling,
) -> RetryDecision {
    let throttled = matches!(outcome, AttemptOutcome::Answered { status, .. } if status == StatusCode::TOO_MANY_REQUESTS);
    if throttled && counts.throttled > policy.max_throttled_retries
        || !throttled && counts.errors > policy.max_retries
    {
        return RetryDecision::Return;
    }
    let backoff = RetryDecision::Retry(RetryWait::Backoff {
        ceiling: policy.backoff_ceiling(counts.errors),
    });
    let server_asked = |retry_after: Option<Duration>, otherwise: RetryDecision| match retry_after {
        Some(wait) if wait > policy.max_retry_after => RetryDecision::Return,
        Some(wait) => RetryDecision::Retry(RetryWait::ServerAsked(wait)),
        None => otherwise,
    };
    let idempotent = idempotency == Idempotency::Idempotent;
    match outcome {
        AttemptOutcome::ConnectFailed => backoff,
        AttemptOutcome::NoAnswer if idempotent => backoff,
        AttemptOutcome::NoAnswer => RetryDecision::Return,
        AttemptOutcome::Answered {
            status,
            retry_after,
        } => match status.as_u16() {
            429 => server_asked(
                retry_after,
                RetryDecision::Retry(match throttling {
                    Throttling::Paced => RetryWait::Paced,
                    Throttling::Unpaced => RetryWait::Throttled {
                        ceiling: unpaced_throttle_ceiling(counts.throttled)
                            .min(policy.max_retry_after),
                    },
                }),
            ),
            503 if idempotent => server_asked(retry_after, backoff),
            500 | 502 | 504 if idempotent => backoff,
            _ => RetryDecision::Return,
        },
    }
}

impl RetryWait {
    /// The wait itself: the server's, or a uniformly random share of the backoff ceiling.
    pub(crate) fn duration(self) -> Duration {
        match self {
            RetryWait::Backoff { ceiling } => ceiling.mul_f64(random_unit()),
            RetryWait::ServerAsked(wait) => wait,
            RetryWait::Throttled { ceiling } => jittered(ceiling),
            RetryWait::Paced => Duration::ZERO,
        }
    }
}

/// A uniformly random number in [0, 1), from the standard library's randomly keyed hasher.
/// Jitter needs no cryptographic quality, so this avoids a `rand` dependency.
pub(crate) fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    let bits = state.hash_one(COUNTER.fetch_add(1, Ordering::Relaxed));
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// `Retry-After` is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptOutcome::*;
    use Idempotency::*;

    fn answered(status: u16, retry_after: Option<u64>) -> AttemptOutcome {
        Answered {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    const RETRY: &str = "backoff";
    const THROTTLED: &str = "throttled";

    /// The counts after `number` attempts that all came to `outcome`.
    fn after(outcome: AttemptOutcome, number: u32) -> RetryCounts {
        let mut counts = RetryCounts::default();
        for _ in 0..number {
            counts.record(outcome);
        }
        counts
    }

    /// The decision after the `number`th attempt in a row that came to `outcome`.
    fn decide_after(
        policy: &RetryPolicy,
        idempotency: Idempotency,
        outcome: AttemptOutcome,
        number: u32,
    ) -> RetryDecision {
        decide(
            policy,
            idempotency,
            outcome,
            after(outcome, number),
            Throttling::Paced,
        )
    }
    const RETURN: &str = "return";

    /// Reads a decision as the table below writes it: `return`, `backoff` or `after Ns`.
    fn describe(decision: RetryDecision) -> String {
        match decision {
            RetryDecision::Return => RETURN.to_string(),
            RetryDecision::Retry(RetryWait::Backoff { .. }) => RETRY.to_string(),
            RetryDecision::Retry(RetryWait::Paced) => THROTTLED.to_string(),
            RetryDecision::Retry(RetryWait::Throttled { .. }) => {
                panic!("a client with a limiter leaves the wait to its probes")
            }
            RetryDecision::Retry(RetryWait::ServerAsked(wait)) => {
                format!("after {}s", wait.as_secs())
            }
        }
    }

    /// Every idempotency class with every kind of outcome, and the decision on the first
    /// attempt (like async-stripe's strategy tests). The spec's `x-idempotent` puts each
    /// operation in a class; `every_operation_of_the_spec_has_its_class_in_the_table` holds
    /// every generated operation to it.
    fn table() -> Vec<(Idempotency, AttemptOutcome, &'static str)> {
        vec![
            (Idempotent, ConnectFailed, RETRY),
            (Idempotent, NoAnswer, RETRY),
            (Idempotent, answered(200, None), RETURN),
            (Idempotent, answered(400, None), RETURN),
            (Idempotent, answered(401, None), RETURN),
            (Idempotent, answered(404, None), RETURN),
            (Idempotent, answered(429, None), THROTTLED),
            (Idempotent, answered(429, Some(2)), "after 2s"),
            (Idempotent, answered(429, Some(61)), RETURN),
            (Idempotent, answered(500, None), RETRY),
            (Idempotent, answered(502, None), RETRY),
            (Idempotent, answered(503, None), RETRY),
            (Idempotent, answered(503, Some(5)), "after 5s"),
            (Idempotent, answered(503, Some(3600)), RETURN),
            (Idempotent, answered(504, None), RETRY),
            (Idempotent, answered(501, None), RETURN),
            (Idempotent, answered(302, None), RETURN),
            (NotIdempotent, ConnectFailed, RETRY),
            (NotIdempotent, NoAnswer, RETURN),
            (NotIdempotent, answered(200, None), RETURN),
            (NotIdempotent, answered(400, None), RETURN),
            (NotIdempotent, answered(401, None), RETURN),
            (NotIdempotent, answered(404, None), RETURN),
            (NotIdempotent, answered(429, None), THROTTLED),
            (NotIdempotent, answered(429, Some(2)), "after 2s"),
            (NotIdempotent, answered(429, Some(61)), RETURN),
            (NotIdempotent, answered(500, None), RETURN),
            (NotIdempotent, answered(502, None), RETURN),
            (NotIdempotent, answered(503, None), RETURN),
            (NotIdempotent, answered(503, Some(1)), RETURN),
            (NotIdempotent, answered(504, None), RETURN),
            (NotIdempotent, answered(501, None), RETURN),
            (NotIdempotent, answered(302, None), RETURN),
        ]
    }

    #[test]
    fn every_idempotency_class_and_outcome() {
        let policy = RetryPolicy::default();
        let table = table();
        for (idempotency, outcome, expected) in &table {
            let got = describe(decide_after(&policy, *idempotency, *outcome, 1));
            assert_eq!(&got, expected, "{idempotency:?} after {outcome:?}");
        }
        // Each class has a row for every kind of outcome.
        for class in [Idempotent, NotIdempotent] {
            let rows: Vec<_> = table.iter().filter(|(c, _, _)| *c == class).collect();
            assert!(rows.iter().any(|(_, o, _)| *o == ConnectFailed));
            assert!(rows.iter().any(|(_, o, _)| *o == NoAnswer));
            for status in [200, 302, 400, 401, 404, 429, 500, 501, 502, 503, 504] {
                assert!(
                    rows.iter().any(
                        |(_, o, _)| matches!(o, Answered { status: s, .. } if s.as_u16() == status)
                    ),
                    "{class:?} lacks a row for {status}"
                );
            }
        }
    }

    #[test]
    fn every_operation_of_the_spec_has_its_class_in_the_table() {
        // Adding an operation to the spec adds it to the generated table with the class its
        // `x-idempotent` gives; the decision table covers every class, so its retries are
        // decided without any edit here.
        assert!(!crate::operations::operations().is_empty());
        let table = table();
        for operation in crate::operations::operations() {
            let class = if operation.is_idempotent() {
                Idempotent
            } else {
                NotIdempotent
            };
            assert_eq!(operation.idempotency, class, "{}", operation.operation_id());
            assert!(
                table.iter().any(|(c, _, _)| *c == class),
                "{} is {class:?}, which the table lacks",
                operation.operation_id()
            );
            // What may have reached the application is repeated exactly when the spec says
            // repeating is safe.
            let repeated =
                decide_after(&RetryPolicy::default(), class, NoAnswer, 1) != RetryDecision::Return;
            assert_eq!(
                repeated,
                operation.is_idempotent(),
                "{}",
                operation.operation_id()
            );
        }
    }

    #[test]
    fn nothing_is_retried_past_max_retries() {
        let policy = RetryPolicy::default().max_retries(2);
        for idempotency in [Idempotent, NotIdempotent] {
            assert_ne!(
                decide_after(&policy, idempotency, ConnectFailed, 2),
                RetryDecision::Return
            );
            assert_eq!(
                decide_after(&policy, idempotency, ConnectFailed, 3),
                RetryDecision::Return
            );
            assert_eq!(
                decide_after(&RetryPolicy::none(), idempotency, answered(429, None), 1),
                RetryDecision::Return
            );
        }
    }

    #[test]
    fn throttled_attempts_have_their_own_budget() {
        let policy = RetryPolicy::default()
            .max_retries(1)
            .max_throttled_retries(3);
        let throttled = answered(429, None);
        // Three 429s are waited out even though errors allow one retry...
        assert_ne!(
            decide_after(&policy, Idempotent, throttled, 3),
            RetryDecision::Return
        );
        assert_eq!(
            decide_after(&policy, Idempotent, throttled, 4),
            RetryDecision::Return
        );
        // ...and 429s do not use up the error budget, nor errors the 429 budget.
        let mut counts = after(throttled, 3);
        counts.record(answered(503, None));
        assert_ne!(
            decide(
                &policy,
                Idempotent,
                answered(503, None),
                counts,
                Throttling::Paced
            ),
            RetryDecision::Return
        );
        counts.record(answered(503, None));
        assert_eq!(
            decide(
                &policy,
                Idempotent,
                answered(503, None),
                counts,
                Throttling::Paced
            ),
            RetryDecision::Return
        );
        assert!(after(throttled, 3).may_retry(&policy.clone().max_throttled_retries(4)));
        assert!(!RetryCounts::default().may_retry(&RetryPolicy::none()));
    }

    #[test]
    fn unpaced_waits_after_a_429_back_off_exponentially_with_jitter_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let ceiling = |rejections: u32| match decide(
            &policy,
            Idempotent,
            answered(429, None),
            after(answered(429, None), rejections),
            Throttling::Unpaced,
        ) {
            RetryDecision::Retry(RetryWait::Throttled { ceiling }) => ceiling,
            other => panic!("{other:?}"),
        };
        // The vendor's burst window is 10 s: a quarter of it first, doubling, capped at 40 s.
        let ceilings: Vec<u64> = (1..=6).map(|n| ceiling(n).as_millis() as u64).collect();
        assert_eq!(ceilings, [2_500, 5_000, 10_000, 20_000, 40_000, 40_000]);
        let wait = RetryWait::Throttled {
            ceiling: Duration::from_secs(10),
        };
        let waits: Vec<Duration> = (0..200).map(|_| wait.duration()).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_secs(5) && *w < Duration::from_secs(10)),
            "between half the ceiling and the ceiling"
        );
        let distinct: std::collections::BTreeSet<u128> =
            waits.iter().map(Duration::as_millis).collect();
        assert!(distinct.len() > 50, "spread by jitter: {}", distinct.len());
        // Never longer than max_retry_after.
        let short = RetryPolicy::default().max_retry_after(Duration::from_secs(3));
        match decide(
            &short,
            Idempotent,
            answered(429, None),
            after(answered(429, None), 4),
            Throttling::Unpaced,
        ) {
            RetryDecision::Retry(RetryWait::Throttled { ceiling }) => {
                assert_eq!(ceiling, Duration::from_secs(3));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(RetryWait::Paced.duration(), Duration::ZERO);
    }

    #[test]
    fn a_retry_after_of_exactly_the_longest_wait_is_waited_out() {
        let policy = RetryPolicy::default().max_retry_after(Duration::from_secs(30));
        for status in [429, 503] {
            assert_eq!(
                decide_after(&policy, Idempotent, answered(status, Some(30)), 1),
                RetryDecision::Retry(RetryWait::ServerAsked(Duration::from_secs(30))),
                "{status}"
            );
            assert_eq!(
                decide_after(&policy, Idempotent, answered(status, Some(31)), 1),
                RetryDecision::Return,
                "{status}"
            );
        }
    }

    #[test]
    fn backoff_ceilings_grow_exponentially_to_the_cap() {
        let policy = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(350));
        let ceiling = |attempt| match decide_after(&policy, Idempotent, NoAnswer, attempt) {
            RetryDecision::Retry(RetryWait::Backoff { ceiling }) => ceiling,
            other => panic!("{other:?}"),
        };
        assert_eq!(ceiling(1), Duration::from_millis(100));
        assert_eq!(ceiling(2), Duration::from_millis(200));
        assert_eq!(ceiling(3), Duration::from_millis(350));
        assert_eq!(policy.backoff_ceiling(40), Duration::from_millis(350));
    }

    #[test]
    fn backoff_is_jittered_below_its_ceiling() {
        let wait = RetryWait::Backoff {
            ceiling: Duration::from_millis(350),
        };
        for _ in 0..200 {
            assert!(wait.duration() < Duration::from_millis(350));
        }
        let spread: std::collections::BTreeSet<u128> =
            (0..50).map(|_| wait.duration().as_micros()).collect();
        assert!(spread.len() > 10, "jitter should spread waits: {spread:?}");
        let asked = RetryWait::ServerAsked(Duration::from_secs(2));
        assert_eq!(asked.duration(), Duration::from_secs(2));
    }

    #[test]
    fn default_retry_policy() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.retries(), 3);
        assert_eq!(policy.throttled_retries(), 8);
        assert_eq!(RetryPolicy::none().retries(), 0);
        assert_eq!(RetryPolicy::none().throttled_retries(), 0);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let secs = HeaderValue::from_static("2");
        assert_eq!(parse_retry_after(&secs), Some(Duration::from_secs(2)));
        let past = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let wait = parse_retry_after(&HeaderValue::try_from(future).unwrap()).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }
}
