//! The client and its operations: input checks, the generated request builders, and the
//! mapping of their results to [`Error`].

use std::fmt;
use std::sync::Arc;

use progenitor_client::{ClientInfo, ResponseValue};

use crate::config::ClientConfig;
use crate::config::{ClientBuilder, ENV_API_KEY, ENV_BASE_URL};
use crate::error::{self, ErrorContext, LastResponse};
use crate::reliability::Permit;
use crate::transport::{CallRecord, RequestTarget};
use crate::types::{
    ErrorResponse, ExperimentOverrides, ExperimentOverridesResponse, Team, TeamCreate,
};
use crate::{Error, generated, transport, validate};

/// A client for the Statsig Console API.
///
/// Cheap to clone (one `Arc`); clones share the connection pool, the settings and the rate
/// limiter. `Send + Sync`, so one client can serve a whole program.
///
/// ```no_run
/// # async fn run() -> Result<(), statsig_console::Error> {
/// use statsig_console::Client;
///
/// let client = Client::builder().api_key("console-...").build()?;
/// # let _ = client;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    generated: Arc<generated::Client>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url())
            .field("api_key", &"[REDACTED]")
            .field("timeout", &self.generated.inner().timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Checks the configuration and builds the client. Fails with [`Error::InvalidConfig`].
    pub fn build(self) -> Result<Client, Error> {
        let resolved = self.resolve()?;
        Ok(Client {
            generated: Arc::new(generated::Client::new_with_client(
                &resolved.base_url,
                resolved.http,
                resolved.config,
            )),
        })
    }
}

impl Client {
    /// Starts configuring a client. [`ClientBuilder::api_key`] is required.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from `STATSIG_CONSOLE_API_KEY` and, when set,
    /// `STATSIG_CONSOLE_BASE_URL`.
    pub fn from_env() -> Result<Client, Error> {
        let key = std::env::var(ENV_API_KEY).map_err(|_| {
            Error::invalid_config(format!(
                "{ENV_API_KEY} is not set (or not valid UTF-8); set it to a Console API key"
            ))
        })?;
        let mut builder = Client::builder().api_key(key);
        if let Ok(url) = std::env::var(ENV_BASE_URL) {
            builder = builder.base_url(url);
        }
        builder.build()
    }

    /// The base URL requests go to, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.generated.baseurl()
    }

    /// The generated (progenitor) client this facade calls, for anything it does not wrap.
    ///
    /// Its calls run through the same hooks as the facade's: the same key, version and
    /// user-agent headers, connection pool, timeouts, retries and rate limiter. They return
    /// progenitor's own error type ([`crate::raw::Error`]) and the whole response envelope,
    /// and skip the facade's input checks.
    pub fn raw(&self) -> &generated::Client {
        &self.generated
    }

    /// Partially Update Experiment Overrides: `PATCH /console/v1/experiments/{id}/overrides`.
    ///
    /// Adds the given conditional and user-ID overrides to the experiment and returns all of
    /// the experiment's overrides after the update. One request: at most
    /// [`crate::MAX_OVERRIDE_ITEMS`] conditional overrides, and as many ids per entry.
    ///
    /// ```no_run
    /// # async fn run(client: statsig_console::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use statsig_console::types::{ConditionalOverride, ExperimentOverrides, OverrideType, UserIdOverride};
    ///
    /// let update = ExperimentOverrides {
    ///     overrides: vec![ConditionalOverride::builder()
    ///         .type_(OverrideType::Gate)
    ///         .id("employees_only")
    ///         .group_id("Test")
    ///         .try_into()?],
    ///     user_id_overrides: vec![UserIdOverride::builder()
    ///         .group_id("Control")
    ///         .ids(vec!["user_1842".to_string()])
    ///         .try_into()?],
    /// };
    /// let all = client.patch_experiment_overrides("checkout_flow", update).await?;
    /// println!("{} conditional overrides", all.overrides.len());
    /// # Ok(()) }
    /// ```
    pub fn patch_experiment_overrides(
        &self,
        experiment_id: &str,
        update: ExperimentOverrides,
    ) -> impl Future<Output = Result<ExperimentOverrides, Error>> + Send + '_ {
        let refused = validate::experiment_id(experiment_id)
            .and_then(|()| validate::experiment_overrides(&update))
            .err();
        self.patch(experiment_id, update, CallRecord::default(), refused)
    }

    /// Where [`Client::patch_experiment_overrides`] for `experiment_id` would go: the method
    /// and the exact URL, built by the generated client as for sending (the id
    /// percent-encoded). Sends nothing and takes no rate-limit slot: for dry runs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), statsig_console::Error> {
    /// let client = statsig_console::Client::builder().api_key("console-dry-run").build()?;
    /// let target = client.patch_experiment_overrides_target("a b/c").await?;
    /// assert_eq!(
    ///     target.to_string(),
    ///     "PATCH https://statsigapi.net/console/v1/experiments/a%20b%2Fc/overrides"
    /// );
    /// # Ok(()) }
    /// ```
    pub async fn patch_experiment_overrides_target(
        &self,
        experiment_id: &str,
    ) -> Result<RequestTarget, Error> {
        validate::experiment_id(experiment_id)?;
        // The URL does not depend on the body.
        let empty = ExperimentOverrides {
            overrides: Vec::new(),
            user_id_overrides: Vec::new(),
        };
        self.describe(self.patch_call(experiment_id, empty)).await
    }

    /// Where [`Client::create_team`] would go, as
    /// [`Client::patch_experiment_overrides_target`] says for its operation.
    pub async fn create_team_target(&self, team: &TeamCreate) -> Result<RequestTarget, Error> {
        validate::team_create(team)?;
        self.describe(self.generated.create_team().body(team.clone()).send())
            .await
    }

    /// Runs `call` only as far as the transport's `pre` hook, which records where it goes.
    async fn describe<F, T>(&self, call: F) -> Result<RequestTarget, Error>
    where
        F: Future<Output = Result<ResponseValue<T>, progenitor_client::Error<ErrorResponse>>>,
    {
        transport::record_call(
            CallRecord::describing(),
            call,
            None,
            |result, record| match record.described {
                Some(target) => Ok(*target),
                // The request could not be built; the generated client says why.
                None => Err(self
                    .finish(result, record.last_response)
                    .err()
                    .unwrap_or_else(|| {
                        Error::invalid_input("request", "the generated client built no request")
                    })),
            },
        )
        .await
    }

    /// The generated client's PATCH call, built and not yet run.
    fn patch_call(
        &self,
        experiment_id: &str,
        update: ExperimentOverrides,
    ) -> impl Future<
        Output = Result<
            ResponseValue<ExperimentOverridesResponse>,
            progenitor_client::Error<ErrorResponse>,
        >,
    > + Send
    + '_ {
        self.generated
            .patch_experiment_overrides()
            .id(experiment_id)
            .body(update)
            .send()
    }

    /// The PATCH call of the generated client, run under `record`, its answer decoded.
    fn patch(
        &self,
        experiment_id: &str,
        update: ExperimentOverrides,
        record: CallRecord,
        refused: Option<Error>,
    ) -> impl Future<Output = Result<ExperimentOverrides, Error>> + Send + '_ {
        let call = self.patch_call(experiment_id, update);
        transport::record_call(record, call, refused, |result, record| {
            self.finish(result, record.last_response)
                .map(|response| response.data)
        })
    }

    /// Create Team: `POST /console/v1/users/teams`. Returns the created team.
    ///
    /// Create Team is not idempotent: after an error whose
    /// [`Error::may_have_taken_effect`] is `true`, look for the team before creating it again.
    ///
    /// ```no_run
    /// # async fn run(client: statsig_console::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use statsig_console::types::{ChangeTeamConfigs, ReviewApproval, TeamCreate};
    ///
    /// let team: TeamCreate = TeamCreate::builder()
    ///     .name("Checkout")
    ///     .members(vec!["ana@example.com".to_string()])
    ///     .admins(vec!["ana@example.com".to_string()])
    ///     .default_gate_metrics(vec![])
    ///     .default_experiment_primary_metrics(vec![])
    ///     .default_experiment_secondary_metrics(vec![])
    ///     .default_holdout_metrics(vec![])
    ///     .change_team_configs(ChangeTeamConfigs::TeamOnly)
    ///     .review_approval(ReviewApproval::AdminOnly)
    ///     .default_target_applications(vec![])
    ///     .try_into()?;
    /// let created = client.create_team(team).await?;
    /// println!("team {} has id {}", created.name, created.id);
    /// # Ok(()) }
    /// ```
    pub fn create_team(
        &self,
        team: TeamCreate,
    ) -> impl Future<Output = Result<Team, Error>> + Send + '_ {
        let refused = validate::team_create(&team).err();
        let call = self.generated.create_team().body(team).send();
        transport::record_call(CallRecord::default(), call, refused, |result, record| {
            self.finish(result, record.last_response)
                .map(|response| response.data)
        })
    }

    /// One request of a large update, decoded: a PATCH whose first attempt uses
    /// `reserved_slot`. The update was checked as a whole, and its requests are valid by
    /// construction.
    pub(crate) fn patch_paced(
        &self,
        experiment_id: &str,
        update: ExperimentOverrides,
        reserved_slot: Option<Permit>,
    ) -> impl Future<Output = Result<ExperimentOverrides, Error>> + Send + '_ {
        self.patch(
            experiment_id,
            update,
            CallRecord::paced(reserved_slot, false),
            None,
        )
    }

    /// As [`Client::patch_paced`], but the success answer is only checked for its status and
    /// drained, never decoded: intermediate answers of a large update grow with the experiment.
    pub(crate) fn patch_paced_discarding_answer(
        &self,
        experiment_id: &str,
        update: ExperimentOverrides,
        reserved_slot: Option<Permit>,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        let call = self.patch_call(experiment_id, update);
        let record = CallRecord::paced(reserved_slot, true);
        transport::record_call(record, call, None, |result, record| {
            if record.answer_discarded {
                return Ok(());
            }
            self.finish(result, record.last_response).map(|_| ())
        })
    }

    /// The settings the client was built with.
    pub(crate) fn config(&self) -> &ClientConfig {
        self.generated.inner()
    }

    /// Maps a generated call's result, with the last response the transport saw for it.
    fn finish<T>(
        &self,
        result: Result<ResponseValue<T>, progenitor_client::Error<ErrorResponse>>,
        last_response: Option<LastResponse>,
    ) -> Result<T, Error> {
        result.map(ResponseValue::into_inner).map_err(|generated| {
            let config = self.config();
            error::from_generated(
                generated,
                last_response,
                &ErrorContext {
                    api_key: &config.api_key,
                    max_response_bytes: config.max_response_bytes,
                    call_timeout: config.call_timeout,
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_clone_send_sync() {
        fn assert_traits<T: Clone + Send + Sync + 'static>() {}
        assert_traits::<Client>();
    }

    #[test]
    fn clones_share_one_generated_client() {
        let client = Client::builder()
            .api_key("console-0123456789")
            .build()
            .unwrap();
        let clone = client.clone();
        assert!(std::ptr::eq(client.raw(), clone.raw()));
    }
}
