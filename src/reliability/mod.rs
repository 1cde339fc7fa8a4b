//! Retries and client-side rate limiting: what users configure ([`RetryPolicy`],
//! [`RateLimit`]) and the machinery the transport runs on every attempt.

mod limiter;
mod retry;

pub use limiter::RateLimit;
pub(crate) use limiter::{Limiter, Permit};
pub use retry::RetryPolicy;
pub(crate) use retry::{
    AttemptOutcome, RetryCounts, RetryDecision, Throttling, decide, parse_retry_after,
};
