//! Updates of any size: [`Client::apply_overrides`] and [`Client::add_user_ids`] split an
//! update into requests the Console accepts (see `split`), pace them under the client's rate
//! limiter, send them with the client's retries, report progress, and say exactly how far a
//! failed update got.
//!
//! Intermediate answers are checked for their status and drained, never decoded: each carries
//! the experiment's whole overrides, so decoding them all would cost time quadratic in the
//! number of requests. Only the last request's answer is decoded, and it is sent after every
//! other request has completed, so it holds the whole update.

mod split;

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tracing::Instrument;

use crate::reliability::{Limiter, Permit};
use crate::types::ExperimentOverrides;
use crate::validate::{self, MAX_OVERRIDE_ITEMS};
use crate::{Client, Error};
use split::{EntryKey, IdsPerRequest, PlannedRequest, Splitter};

/// How far a large update has got, passed to its `on_progress` callback after each request
/// the Console applied (in order; the last call reports the totals).
///
/// Ids are counted as given: at the end, `ids_done + duplicate_ids_skipped` equals the number
/// of ids in the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Requests applied so far.
    pub requests_done: u64,
    /// Requests the update takes, when known before it starts (always for
    /// [`Client::apply_overrides`]; for [`Client::add_user_ids`] when the iterator's length is
    /// known and duplicates are kept).
    pub requests_total: Option<u64>,
    /// User ids in applied requests.
    pub ids_done: u64,
    /// User ids in the input, duplicates included, when known before the update starts (for
    /// [`Client::add_user_ids`]: when the iterator's `size_hint` is exact).
    pub ids_total: Option<u64>,
    /// Ids not sent because the same id was already sent for the same group, environment and
    /// unit type.
    pub duplicate_ids_skipped: u64,
    /// Conditional overrides in applied requests.
    pub overrides_done: u64,
    /// Conditional overrides in the input.
    pub overrides_total: u64,
}

type ProgressCallback<'a> = Box<dyn FnMut(&Progress) + Send + 'a>;
/// What ends an update early on the caller's request (see `stop_when`).
type StopSignal<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The options both kinds of large update share.
#[derive(Default)]
struct UpdateOptions<'a> {
    ids_per_request: Option<usize>,
    concurrency: Option<usize>,
    on_progress: Option<ProgressCallback<'a>>,
    stop: Option<StopSignal<'a>>,
}

/// The latency the default concurrency is sized for: the Console's usual answer time for a
/// PATCH, rounded up.
const ASSUMED_LATENCY: Duration = Duration::from_millis(500);
/// Requests in flight when the client has no rate limiter.
const UNLIMITED_CONCURRENCY: usize = 8;

impl UpdateOptions<'_> {
    fn ids_per_request(&self) -> Result<IdsPerRequest, Error> {
        match self.ids_per_request {
            None => Ok(IdsPerRequest::default()),
            Some(n) if (1..=MAX_OVERRIDE_ITEMS).contains(&n) => Ok(IdsPerRequest::PerEntry(n)),
            Some(n) => Err(Error::invalid_input(
                "ids_per_request",
                format!(
                    "{n}: must be between 1 and {MAX_OVERRIDE_ITEMS} (the Console's cap per entry)"
                ),
            )),
        }
    }

    /// Requests in flight: as asked, or enough to reach the limiter's fastest window at
    /// [`ASSUMED_LATENCY`] (Little's law: in flight = rate × latency); never more than the
    /// smallest window admits. The fastest window, because the slower ones (1,710 per 15 minutes)
    /// bound how much is sent in all, not how fast a burst goes: their wait is the limiter's.
    fn concurrency(&self, limiter: Option<&Limiter>) -> Result<usize, Error> {
        if self.concurrency == Some(0) {
            return Err(Error::invalid_input("concurrency", "must be at least 1"));
        }
        let windows = limiter.map(Limiter::windows).unwrap_or_default();
        let admitted = windows.iter().map(|(requests, _)| *requests as usize).min();
        let wanted = self.concurrency.unwrap_or_else(|| {
            windows
                .iter()
                .map(|(requests, period)| {
                    let per_second = f64::from(*requests) / period.as_secs_f64().max(1e-9);
                    (per_second * ASSUMED_LATENCY.as_secs_f64()).ceil() as usize
                })
                .max()
                .unwrap_or(UNLIMITED_CONCURRENCY)
        });
        Ok(wanted.clamp(1, admitted.unwrap_or(usize::MAX)))
    }
}

/// The three option setters both update builders have.
macro_rules! update_options {
    () => {
        /// Calls `callback` after each request the Console applied, in order, with the counts
        /// so far; the last call reports the totals. It runs on the task awaiting the update,
        /// so it should return quickly.
        pub fn on_progress(mut self, callback: impl FnMut(&Progress) + Send + 'a) -> Self {
            self.options.on_progress = Some(Box::new(callback));
            self
        }

        /// Ids per user-ID entry in one request, 1 to 1000, letting entries for different
        /// (group, environment, unit type) share a request.
        ///
        /// Without it a request carries at most 1000 ids **in total**: the Console caps an
        /// entry at 1000 ids but documents no limit on a request's body, so the default keeps
        /// every request as small as the largest one its documentation shows. A request never
        /// holds two entries for the same group, environment and unit type (how the Console
        /// treats that is not documented either).
        pub fn ids_per_request(mut self, ids: usize) -> Self {
            self.options.ids_per_request = Some(ids);
            self
        }

        /// Requests in flight at once. The default is enough to reach the client's rate limit
        /// at the Console's usual latency (5 with the default limits; 8 without a limiter);
        /// it is never more than the smallest rate-limit window admits. The first request is
        /// always sent alone, so a wrong key or experiment id costs one request.
        pub fn concurrency(mut self, requests: usize) -> Self {
            self.options.concurrency = Some(requests);
            self
        }

        /// Stops the update when `signal` completes (Ctrl-C, a shutdown notice, a deadline of
        /// the caller's): no request is sent after it, the requests in flight are let finish,
        /// and the update ends with [`Error::Stopped`], inside [`Error::PartiallyApplied`]
        /// when some requests were applied. As after any partial failure, running the same
        /// update again is safe.
        pub fn stop_when(mut self, signal: impl Future<Output = ()> + Send + 'a) -> Self {
            self.options.stop = Some(Box::pin(signal));
            self
        }
    };
}

/// A large update of conditional and user-ID overrides; created by [`Client::apply_overrides`].
/// Configure it, then `.await` it.
#[must_use = "an update does nothing until it is awaited"]
pub struct ApplyOverrides<'a> {
    client: &'a Client,
    experiment_id: String,
    update: ExperimentOverrides,
    options: UpdateOptions<'a>,
}

impl<'a> ApplyOverrides<'a> {
    update_options!();

    /// The request bodies the update would send, in order, without sending anything: for dry
    /// runs and inspection. Fails as the update would before its first request.
    pub fn requests(self) -> Result<impl Iterator<Item = ExperimentOverrides> + Send, Error> {
        let ids_per_request = self.check()?;
        Ok(Splitter::whole(self.update, ids_per_request).map(|planned| planned.body))
    }

    /// The checks made before the first request; the splitting they allow.
    fn check(&self) -> Result<IdsPerRequest, Error> {
        validate::experiment_id(&self.experiment_id)?;
        validate::override_types(&self.update)?;
        self.options.ids_per_request()
    }

    async fn run(self) -> Result<ExperimentOverrides, Error> {
        let ids_per_request = self.check()?;
        let concurrency = self
            .options
            .concurrency(self.client.config().limiter.as_deref())?;
        let ids_total = self
            .update
            .user_id_overrides
            .iter()
            .map(|entry| entry.ids.len() as u64)
            .sum();
        let overrides_total = self.update.overrides.len() as u64;
        // Planned up front: the update is in memory already, and the totals are then exact.
        let mut splitter = Splitter::whole(self.update, ids_per_request);
        let planned: Vec<PlannedRequest> = splitter.by_ref().collect();
        let progress = Progress {
            requests_total: Some(planned.len() as u64),
            ids_total: Some(ids_total),
            overrides_total,
            duplicate_ids_skipped: splitter.duplicates(),
            ..Progress::default()
        };
        let run = Run {
            client: self.client,
            experiment_id: &self.experiment_id,
            concurrency,
            progress,
            on_progress: self.options.on_progress,
            stop: self.options.stop,
        };
        run.send(planned.into_iter()).await
    }
}

impl<'a> IntoFuture for ApplyOverrides<'a> {
    type Output = Result<ExperimentOverrides, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let span = tracing::info_span!(
            "statsig_console.apply_overrides",
            experiment_id = %self.experiment_id
        );
        Box::pin(self.run().instrument(span))
    }
}

/// Forcing a list of user ids of any length into one experiment group; created by
/// [`Client::add_user_ids`]. Configure it, then `.await` it.
#[must_use = "an update does nothing until it is awaited"]
pub struct AddUserIds<'a, I> {
    client: &'a Client,
    experiment_id: String,
    key: EntryKey,
    ids: I,
    dedupe: bool,
    options: UpdateOptions<'a>,
}

impl<'a, I> AddUserIds<'a, I>
where
    I: Iterator + Send + 'a,
    I::Item: Into<String>,
{
    update_options!();

    /// The environment the override applies to (for example `production`); all by default.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.key.environment = Some(environment.into());
        self
    }

    /// The unit type of the ids (for example `userID`, `stableID`); the experiment's own by
    /// default.
    pub fn unit_type(mut self, unit_type: impl Into<String>) -> Self {
        self.key.unit_type = Some(unit_type.into());
        self
    }

    /// Whether an id repeated in the input is sent only once (default `true`). Doing so keeps
    /// a 128-bit fingerprint of every distinct id until the update ends: about 36 bytes per
    /// id with the set's overhead (36 MB for a million ids), whatever the ids' length. Two
    /// different ids share a fingerprint with a probability of about 10^-27 for a million ids.
    /// With `false` the update holds only the requests in flight whatever the input's length,
    /// and a repeated id is sent again (the Console's merge makes that harmless, at the cost
    /// of the request room it takes).
    pub fn dedupe(mut self, dedupe: bool) -> Self {
        self.dedupe = dedupe;
        self
    }

    /// The request bodies the update would send, in order, reading the ids as the iterator is
    /// advanced and sending nothing: for dry runs and inspection. Fails as the update would
    /// before its first request.
    pub fn requests(self) -> Result<impl Iterator<Item = ExperimentOverrides> + Send + 'a, Error> {
        let (splitter, _) = self.split()?;
        Ok(splitter.map(|planned| planned.body))
    }

    fn split(self) -> Result<(Splitter<'a>, UpdateParts<'a>), Error> {
        validate::experiment_id(&self.experiment_id)?;
        if self.key.group_id.is_empty() {
            return Err(Error::invalid_input("group_id", "must not be empty"));
        }
        let ids_per_request = self.options.ids_per_request()?;
        let (lower, upper) = self.ids.size_hint();
        let ids_total = (upper == Some(lower)).then_some(lower as u64);
        let per_request = match ids_per_request {
            IdsPerRequest::Total(n) | IdsPerRequest::PerEntry(n) => n as u64,
        };
        let requests_total = ids_total
            .filter(|_| !self.dedupe)
            .map(|ids| ids.div_ceil(per_request).max(1));
        let splitter = Splitter::streamed(
            self.key,
            self.ids.map(Into::into),
            self.dedupe,
            ids_per_request,
        );
        let parts = UpdateParts {
            client: self.client,
            experiment_id: self.experiment_id,
            options: self.options,
            progress: Progress {
                requests_total,
                ids_total,
                ..Progress::default()
            },
        };
        Ok((splitter, parts))
    }

    async fn run(self) -> Result<ExperimentOverrides, Error> {
        let (splitter, parts) = self.split()?;
        let concurrency = parts
            .options
            .concurrency(parts.client.config().limiter.as_deref())?;
        let run = Run {
            client: parts.client,
            experiment_id: &parts.experiment_id,
            concurrency,
            progress: parts.progress,
            on_progress: parts.options.on_progress,
            stop: parts.options.stop,
        };
        run.send(splitter).await
    }
}

/// The requests of an update, in order, and how many duplicate ids were dropped so far when
/// that is still changing (ids read lazily).
trait Requests: Iterator<Item = PlannedRequest> {
    fn duplicates_so_far(&self) -> Option<u64>;
}

impl Requests for Splitter<'_> {
    fn duplicates_so_far(&self) -> Option<u64> {
        Some(self.duplicates())
    }
}

/// Requests planned up front, whose duplicates were counted then.
impl Requests for std::vec::IntoIter<PlannedRequest> {
    fn duplicates_so_far(&self) -> Option<u64> {
        None
    }
}

/// What an [`AddUserIds`] hands its run, besides the splitter.
struct UpdateParts<'a> {
    client: &'a Client,
    experiment_id: String,
    options: UpdateOptions<'a>,
    progress: Progress,
}

impl<'a, I> IntoFuture for AddUserIds<'a, I>
where
    I: Iterator + Send + 'a,
    I::Item: Into<String>,
{
    type Output = Result<ExperimentOverrides, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let span = tracing::info_span!(
            "statsig_console.add_user_ids",
            experiment_id = %self.experiment_id,
            group_id = %self.key.group_id
        );
        Box::pin(self.run().instrument(span))
    }
}

impl Client {
    /// Applies an update of any size to an experiment's overrides: split into requests the
    /// Console accepts, paced under the client's rate limiter, each sent with the client's
    /// retries. Awaiting it returns the experiment's overrides after the last request.
    ///
    /// Each request carries at most 1000 conditional overrides and, by default, at most 1000
    /// ids in total, with one entry per (group, environment, unit type); entries of the same
    /// key are merged, an id repeated under one key is sent once, and ids keep their order.
    /// See [`ApplyOverrides`] for the options, and [`Error::PartiallyApplied`] for what a
    /// failure after some requests were applied looks like. The Console merges overrides
    /// additively, so running the same update again after a failure is safe.
    ///
    /// ```no_run
    /// # async fn run(client: statsig_console::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use statsig_console::types::{ExperimentOverrides, UserIdOverride};
    ///
    /// let beta_cohort: Vec<String> = (0..25_000).map(|n| format!("user_{n}")).collect();
    /// let update = ExperimentOverrides {
    ///     overrides: vec![],
    ///     user_id_overrides: vec![UserIdOverride::builder()
    ///         .group_id("Test")
    ///         .ids(beta_cohort)
    ///         .try_into()?],
    /// };
    /// let all = client
    ///     .apply_overrides("checkout_flow", update)
    ///     .on_progress(|p| eprintln!("{} of {:?} requests", p.requests_done, p.requests_total))
    ///     .await?;
    /// println!("{} user-ID entries now", all.user_id_overrides.len());
    /// # Ok(()) }
    /// ```
    pub fn apply_overrides(
        &self,
        experiment_id: impl Into<String>,
        update: ExperimentOverrides,
    ) -> ApplyOverrides<'_> {
        ApplyOverrides {
            client: self,
            experiment_id: experiment_id.into(),
            update,
            options: UpdateOptions::default(),
        }
    }

    /// Forces any number of user ids into one experiment group. The ids are read lazily, a
    /// request's worth at a time, so an iterator over a file or a database cursor is never
    /// held whole; see [`AddUserIds`] for the environment, unit type and other options.
    ///
    /// The iterator is advanced on the task that awaits the update: one that blocks (a slow
    /// pipe) holds that task while it does, so prefer a multi-threaded runtime for such input.
    ///
    /// ```no_run
    /// # async fn run(client: statsig_console::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::BufRead;
    ///
    /// let file = std::io::BufReader::new(std::fs::File::open("qa-users.txt")?);
    /// let ids = file.lines().map_while(Result::ok).filter(|line| !line.trim().is_empty());
    /// client
    ///     .add_user_ids("checkout_flow", "Test", ids)
    ///     .environment("staging")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn add_user_ids<I>(
        &self,
        experiment_id: impl Into<String>,
        group_id: impl Into<String>,
        ids: I,
    ) -> AddUserIds<'_, I::IntoIter>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        AddUserIds {
            client: self,
            experiment_id: experiment_id.into(),
            key: EntryKey {
                group_id: group_id.into(),
                environment: None,
                unit_type: None,
            },
            ids: ids.into_iter(),
            dedupe: true,
            options: UpdateOptions::default(),
        }
    }
}

/// One large update on its way: the requests in flight, the counts, the first failure.
struct Run<'a, 'o> {
    client: &'a Client,
    experiment_id: &'a str,
    concurrency: usize,
    progress: Progress,
    on_progress: Option<ProgressCallback<'o>>,
    stop: Option<StopSignal<'o>>,
}

/// Completes when the caller's stop signal does, and never without one.
async fn stop_signalled(stop: &mut Option<StopSignal<'_>>) {
    match stop {
        Some(signal) => signal.as_mut().await,
        None => std::future::pending().await,
    }
}

/// What an intermediate request came to, with what it carried.
type Settled = (u64, u64, Result<(), Error>);

/// Notes a request that failed after the update's first failure: the update reports the first.
fn also_failed(error: &Error) {
    tracing::debug!(%error, "a request in flight also failed after the update's first failure");
}

impl Run<'_, '_> {
    /// Sends `requests` in order: each after a rate-limit slot is free, up to the concurrency
    /// in flight (one until the first has been applied), and the last one alone after all the
    /// others completed, its answer decoded. Stops sending at the first failure.
    async fn send(mut self, mut requests: impl Requests) -> Result<ExperimentOverrides, Error> {
        let limiter = self.client.config().limiter.clone();
        let mut in_flight = FuturesUnordered::new();
        let mut failure: Option<Error> = None;
        let mut stop = self.stop.take();
        // One request ahead: whether a request is the last decides how it is sent. An update
        // always has one (the splitter yields an empty request for an empty update, whose
        // answer is the experiment's overrides), and the loop ends only by returning or with
        // the error that stopped it.
        let mut planned = requests.next().unwrap_or_else(PlannedRequest::empty);
        let cause: Error = loop {
            let following = requests.next();
            if let Some(skipped) = requests.duplicates_so_far() {
                self.progress.duplicate_ids_skipped = skipped;
            }
            let last = following.is_none();
            // The last request waits for all others; the others for room in flight.
            loop {
                let room = match (last, self.progress.requests_done) {
                    (true, _) => 1,
                    (false, 0) => 1,
                    (false, _) => self.concurrency,
                };
                if in_flight.len() < room || failure.is_some() {
                    break;
                }
                tokio::select! {
                    biased;
                    Some(settled) = in_flight.next() => self.settle(settled, &mut failure),
                    () = stop_signalled(&mut stop) => failure = Some(Error::Stopped),
                }
            }
            // A signal that came while nothing was awaited is seen before the next send.
            if failure.is_none()
                && futures_util::FutureExt::now_or_never(stop_signalled(&mut stop)).is_some()
            {
                failure = Some(Error::Stopped);
            }
            if let Some(cause) = failure.take() {
                break cause;
            }
            let slot = match &limiter {
                Some(limiter) => {
                    match self
                        .next_slot(limiter, &mut in_flight, &mut failure, &mut stop)
                        .await
                    {
                        Ok(slot) => Some(slot),
                        Err(cause) => break cause,
                    }
                }
                None => None,
            };
            let PlannedRequest {
                body,
                ids,
                overrides,
            } = planned;
            let Some(following) = following else {
                match self
                    .client
                    .patch_paced(self.experiment_id, body, slot)
                    .await
                {
                    Ok(all) => {
                        self.settle((ids, overrides, Ok(())), &mut failure);
                        return Ok(all);
                    }
                    Err(cause) => break cause,
                }
            };
            let client = self.client;
            let experiment_id = self.experiment_id;
            in_flight.push(async move {
                let result = client
                    .patch_paced_discarding_answer(experiment_id, body, slot)
                    .await;
                (ids, overrides, result)
            });
            planned = following;
        };
        // Requests already sent are let finish: each may be applied, and the report counts it.
        while let Some((ids, overrides, result)) = in_flight.next().await {
            match result {
                Ok(()) => self.applied(ids, overrides),
                Err(error) => also_failed(&error),
            }
        }
        Err(self.partial_failure(cause))
    }

    /// Waits for a rate-limit slot, settling the requests that complete meanwhile; the error
    /// when one of them failed or the stop signal came.
    async fn next_slot<F>(
        &mut self,
        limiter: &Arc<Limiter>,
        in_flight: &mut FuturesUnordered<F>,
        failure: &mut Option<Error>,
        stop: &mut Option<StopSignal<'_>>,
    ) -> Result<Permit, Error>
    where
        F: Future<Output = Settled>,
    {
        loop {
            if let Some(cause) = failure.take() {
                return Err(cause);
            }
            tokio::select! {
                biased;
                Some(settled) = in_flight.next() => self.settle(settled, failure),
                () = stop_signalled(stop) => return Err(Error::Stopped),
                slot = limiter.acquire() => return Ok(slot),
            }
        }
    }

    fn settle(&mut self, (ids, overrides, result): Settled, failure: &mut Option<Error>) {
        match result {
            Ok(()) => self.applied(ids, overrides),
            Err(error) if failure.is_none() => *failure = Some(error),
            Err(error) => also_failed(&error),
        }
    }

    /// Counts a request the Console applied, and reports the progress.
    fn applied(&mut self, ids: u64, overrides: u64) {
        self.progress.requests_done += 1;
        self.progress.ids_done += ids;
        self.progress.overrides_done += overrides;
        if let Some(callback) = &mut self.on_progress {
            callback(&self.progress);
        }
    }

    /// The error to return for `cause`: itself when nothing was applied, otherwise wrapped with
    /// what was.
    fn partial_failure(&self, cause: Error) -> Error {
        if self.progress.requests_done == 0 {
            return cause;
        }
        Error::PartiallyApplied {
            cause: Box::new(cause),
            applied_requests: self.progress.requests_done,
            applied_ids: self.progress.ids_done,
            applied_overrides: self.progress.overrides_done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RateLimit;

    fn concurrency(limit: Option<RateLimit>, asked: Option<usize>) -> Result<usize, Error> {
        let limiter = limit.map(Limiter::new);
        UpdateOptions {
            concurrency: asked,
            ..UpdateOptions::default()
        }
        .concurrency(limiter.as_deref())
    }

    #[test]
    fn default_concurrency_reaches_the_rate_limit_and_never_passes_a_window() {
        // 95 per 10 s at 500 ms a request: 5 in flight.
        assert_eq!(concurrency(Some(RateLimit::default()), None).unwrap(), 5);
        assert_eq!(concurrency(None, None).unwrap(), UNLIMITED_CONCURRENCY);
        let tight = RateLimit::new().window(3, Duration::from_millis(10));
        assert_eq!(concurrency(Some(tight.clone()), None).unwrap(), 3);
        assert_eq!(concurrency(Some(tight), Some(50)).unwrap(), 3);
        assert_eq!(concurrency(None, Some(50)).unwrap(), 50);
        assert!(matches!(
            concurrency(None, Some(0)),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn ids_per_request_is_checked() {
        for bad in [0, 1001] {
            let options = UpdateOptions {
                ids_per_request: Some(bad),
                ..UpdateOptions::default()
            };
            assert!(matches!(
                options.ids_per_request(),
                Err(Error::InvalidInput { .. })
            ));
        }
    }
}
