//! What each command does, on the library's public API.

use serde_json::json;
use statsig_console::types::{ExperimentOverrides, TeamCreate};
use statsig_console::{Client, DEFAULT_CALL_TIMEOUT, RetryPolicy};
use statsig_console_mock::MockConsole;

use crate::cli::{
    AddArgs, ApplyArgs, Cli, Command, CreateTeamArgs, GlobalArgs, MockCommand, OverridesCommand,
    ServeArgs, TeamsCommand,
};
use crate::input::{self, IdsFile};
use crate::output::counted;
use crate::progress::ProgressDisplay;
use crate::report::{Failure, Outcome};

/// The key a dry run builds its client with when none is given: the client needs one to
/// exist, and a dry run sends nothing, so no key is ever used.
const DRY_RUN_KEY: &str = "console-dry-run-sends-nothing";

pub async fn run(cli: Cli) -> Result<Option<Outcome>, Failure> {
    let global = &cli.global;
    match cli.command {
        Command::Overrides(OverridesCommand::Add(args)) => {
            overrides_add(global, args).await.map(Some)
        }
        Command::Overrides(OverridesCommand::Apply(args)) => {
            overrides_apply(global, args).await.map(Some)
        }
        Command::Teams(TeamsCommand::Create(args)) => teams_create(global, args).await.map(Some),
        Command::Mock(MockCommand::Serve(args)) => mock_serve(global, args).await.map(|()| None),
        Command::Completions { shell } => {
            completions(shell);
            Ok(None)
        }
    }
}

/// Writes the completion script for `shell` on stdout; a closed stdout is not an error.
fn completions(shell: crate::cli::CompletionShell) {
    let mut command = crate::command();
    let mut script = Vec::new();
    clap_complete::generate(
        clap_complete::Shell::from(shell),
        &mut command,
        "statsig-console",
        &mut script,
    );
    crate::output::out(String::from_utf8_lossy(&script).trim_end());
}

/// A client from the global options. A dry run needs no key.
fn client(global: &GlobalArgs) -> Result<Client, Failure> {
    let key = match input::api_key(global.api_key_file.as_deref())? {
        Some(key) => key,
        None if global.dry_run => DRY_RUN_KEY.to_string(),
        None => {
            return Err(Failure::usage(format!(
                "no API key: set {} or pass --api-key-file PATH",
                input::API_KEY_ENV
            )));
        }
    };
    let mut builder = Client::builder()
        .api_key(key)
        .base_url(&global.base_url)
        .user_agent(format!("statsig-console-cli/{}", env!("CARGO_PKG_VERSION")));
    if let Some(timeout) = global.timeout {
        // The call's deadline must leave room for the attempts the timeout allows.
        builder = builder
            .timeout(timeout)
            .call_timeout(DEFAULT_CALL_TIMEOUT.max(timeout.saturating_mul(4)));
    }
    if global.no_retry {
        builder = builder.retry_policy(RetryPolicy::none());
    }
    Ok(builder.build()?)
}

async fn overrides_add(global: &GlobalArgs, args: AddArgs) -> Result<Outcome, Failure> {
    statsig_console::check::experiment_id(&args.experiment)?;
    if args.group.trim().is_empty() {
        return Err(Failure::usage("--group must not be empty"));
    }
    let mut read_error = None;
    let (ids, ids_total): (Box<dyn Iterator<Item = String> + Send>, Option<u64>) =
        match &args.ids_file {
            Some(path) => {
                let file = IdsFile::open(path)?;
                read_error = Some(file.read_error());
                let total = file.known_total();
                (Box::new(file), total)
            }
            None => {
                let ids = input::listed_ids(args.ids)?;
                let total = ids.len() as u64;
                (Box::new(ids.into_iter()), Some(total))
            }
        };
    let client = client(global)?;
    let mut update = client.add_user_ids(&args.experiment, &args.group, ids);
    if let Some(environment) = &args.environment {
        update = update.environment(environment);
    }
    if let Some(unit_type) = &args.unit_type {
        update = update.unit_type(unit_type);
    }
    if global.dry_run {
        let target = client
            .patch_experiment_overrides_target(&args.experiment)
            .await?;
        return Ok(dry_run(&target, update.requests()?));
    }
    let display = ProgressDisplay::new(global.quiet, ids_total);
    let result = update
        .on_progress(display.callback())
        .stop_when(interrupted())
        .await;
    let done = display.finish();
    let overrides = result?;
    if let Some(message) = read_error.and_then(|slot| {
        slot.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }) {
        return Err(Failure::Other(format!(
            "{message}; the {} read before it were applied",
            counted(done.ids_done, "id", "ids")
        )));
    }
    Ok(Outcome {
        text: format!(
            "added {} to group {} of {} in {}{}",
            counted(done.ids_done, "id", "ids"),
            args.group,
            args.experiment,
            counted(done.requests_done, "request", "requests"),
            duplicates_note(done.duplicate_ids_skipped)
        ),
        json: json!({
            "command": "overrides add",
            "experiment": args.experiment,
            "group": args.group,
            "requests": done.requests_done,
            "ids": done.ids_done,
            "duplicate_ids_skipped": done.duplicate_ids_skipped,
            "overrides": overrides,
        }),
    })
}

async fn overrides_apply(global: &GlobalArgs, args: ApplyArgs) -> Result<Outcome, Failure> {
    statsig_console::check::experiment_id(&args.experiment)?;
    let update: ExperimentOverrides = input::document(&args.file)?;
    let ids_total = update
        .user_id_overrides
        .iter()
        .map(|entry| entry.ids.len() as u64)
        .sum();
    let client = client(global)?;
    let update = client.apply_overrides(&args.experiment, update);
    if global.dry_run {
        let target = client
            .patch_experiment_overrides_target(&args.experiment)
            .await?;
        return Ok(dry_run(&target, update.requests()?));
    }
    let display = ProgressDisplay::new(global.quiet, Some(ids_total));
    let result = update
        .on_progress(display.callback())
        .stop_when(interrupted())
        .await;
    let done = display.finish();
    let overrides = result?;
    Ok(Outcome {
        text: format!(
            "applied {} and {} to {} in {}{}",
            counted(
                done.overrides_done,
                "conditional override",
                "conditional overrides"
            ),
            counted(done.ids_done, "id", "ids"),
            args.experiment,
            counted(done.requests_done, "request", "requests"),
            duplicates_note(done.duplicate_ids_skipped)
        ),
        json: json!({
            "command": "overrides apply",
            "experiment": args.experiment,
            "requests": done.requests_done,
            "ids": done.ids_done,
            "conditional_overrides": done.overrides_done,
            "duplicate_ids_skipped": done.duplicate_ids_skipped,
            "overrides": overrides,
        }),
    })
}

fn duplicates_note(duplicates: u64) -> String {
    match duplicates {
        0 => String::new(),
        n => format!(", {} skipped", counted(n, "repeated id", "repeated ids")),
    }
}

/// Completes on Ctrl-C; never when the handler cannot be installed (the default handler,
/// which ends the process, then stays).
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What a dry run prints: each request the update would send, to `target`.
fn dry_run(
    target: &statsig_console::RequestTarget,
    requests: impl Iterator<Item = ExperimentOverrides>,
) -> Outcome {
    let mut lines = Vec::new();
    let mut listed = Vec::new();
    let (mut total_ids, mut total_overrides) = (0u64, 0u64);
    for (index, request) in requests.enumerate() {
        let ids: u64 = request
            .user_id_overrides
            .iter()
            .map(|e| e.ids.len() as u64)
            .sum();
        let entries = request.user_id_overrides.len() as u64;
        let overrides = request.overrides.len() as u64;
        total_ids += ids;
        total_overrides += overrides;
        lines.push(format!(
            "{target}  #{}: {}, {}, {}",
            index + 1,
            counted(entries, "user-ID entry", "user-ID entries"),
            counted(ids, "id", "ids"),
            counted(overrides, "conditional override", "conditional overrides"),
        ));
        listed.push(json!({
            "method": target.method.as_str(), "url": target.url.as_str(),
            "user_id_entries": entries, "ids": ids, "conditional_overrides": overrides,
        }));
    }
    let count = listed.len() as u64;
    lines.push(format!(
        "dry run: {}, {}, {}; nothing was sent",
        counted(count, "request", "requests"),
        counted(total_ids, "id", "ids"),
        counted(
            total_overrides,
            "conditional override",
            "conditional overrides"
        ),
    ));
    Outcome {
        text: lines.join("\n"),
        json: json!({
            "dry_run": true,
            "requests": listed,
            "totals": {"requests": count, "ids": total_ids, "conditional_overrides": total_overrides},
        }),
    }
}

async fn teams_create(global: &GlobalArgs, args: CreateTeamArgs) -> Result<Outcome, Failure> {
    let team: TeamCreate = match &args.file {
        Some(path) => input::document(path)?,
        None => team_from_flags(&args)?,
    };
    statsig_console::check::team_create(&team)?;
    let client = client(global)?;
    if global.dry_run {
        let target = client.create_team_target(&team).await?;
        return Ok(Outcome {
            text: format!(
                "{target}  team {:?}, {}, {}\ndry run: 1 request; nothing was sent",
                team.name.as_str(),
                counted(team.members.len() as u64, "member", "members"),
                counted(team.admins.len() as u64, "admin", "admins"),
            ),
            json: json!({
                "dry_run": true,
                "requests": [{"method": target.method.as_str(), "url": target.url.as_str(), "team": team}],
            }),
        });
    }
    let created = client.create_team(team).await?;
    Ok(Outcome {
        text: created.id.clone(),
        json: json!({"command": "teams create", "team": created}),
    })
}

fn team_from_flags(args: &CreateTeamArgs) -> Result<TeamCreate, Failure> {
    let name = args.name.clone().unwrap_or_default();
    let team: Result<TeamCreate, _> = TeamCreate::builder()
        .name(name)
        .description(args.description.clone())
        .members(args.members.clone())
        .admins(args.admins.clone())
        .default_gate_metrics(vec![])
        .default_experiment_primary_metrics(vec![])
        .default_experiment_secondary_metrics(vec![])
        .default_holdout_metrics(vec![])
        .default_target_applications(vec![])
        .change_team_configs(args.change_team_configs)
        .review_approval(args.review_approval)
        .try_into();
    team.map_err(|error| Failure::usage(format!("invalid team: {error}")))
}

async fn mock_serve(global: &GlobalArgs, args: ServeArgs) -> Result<(), Failure> {
    let mut builder = MockConsole::builder()
        .port(args.port)
        .user("ana@example.com", "Ana", "Lopez")
        .user("li@example.com", "Li", "Wei");
    if args.no_rate_limit {
        builder = builder.rate_limits(statsig_console::RateLimit::new());
    } else if args.burst.is_some() || args.quota.is_some() {
        // The vendor's windows, burst then quota, each replaced when given.
        let asked = [args.burst, args.quota];
        let limits = statsig_console::RateLimit::vendor()
            .windows()
            .iter()
            .zip(asked)
            .fold(
                statsig_console::RateLimit::new(),
                |limits, (vendor, asked)| {
                    let (requests, period) = asked.unwrap_or(*vendor);
                    limits.window(requests, period)
                },
            );
        builder = builder.rate_limits(limits);
    }
    if args.retry_after {
        builder = builder.with_retry_after();
    }
    let keys = if args.api_keys.is_empty() {
        vec![statsig_console_mock::DEFAULT_MOCK_KEY.to_string()]
    } else {
        args.api_keys
    };
    for key in keys {
        builder = builder.api_key(key);
    }
    let experiments = if args.experiments.is_empty() {
        vec![(
            "checkout_flow".to_string(),
            vec!["Control".to_string(), "Test".to_string()],
        )]
    } else {
        args.experiments
    };
    for (id, groups) in experiments {
        builder = builder.experiment(id, groups);
    }
    let stopped = stop_signal();
    let console = builder.start().await.map_err(|error| {
        Failure::Other(format!(
            "cannot start the fake Console on port {}: {error}",
            args.port
        ))
    })?;
    match global.output {
        crate::cli::OutputFormat::Text => {
            crate::output::out(format!(
                "fake Statsig Console listening on {}",
                console.base_url()
            ));
            crate::output::out(format!("STATSIG_CONSOLE_BASE_URL={}", console.base_url()));
            crate::output::out(format!("STATSIG_CONSOLE_API_KEY={}", console.api_key()));
        }
        crate::cli::OutputFormat::Json => crate::output::out(
            json!({"ok": true, "base_url": console.base_url(), "api_key": console.api_key()}),
        ),
    }
    stopped.await;
    if !global.quiet {
        crate::output::err(format!(
            "stopping after {}",
            counted(console.journal().len() as u64, "request", "requests")
        ));
    }
    console.shutdown().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM where there is one (what `kill` and CI runners send). The handlers are
/// installed when this is called, not when the future is first polled: a script that reads
/// the URL lines and then signals must find them in place.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate()).and_then(|terminate| {
            signal(SignalKind::interrupt()).map(|interrupt| (terminate, interrupt))
        })
    };
    async move {
        #[cfg(unix)]
        if let Ok((mut terminate, mut interrupt)) = signals {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        if tokio::signal::ctrl_c().await.is_err() {
            crate::output::err("cannot listen for Ctrl-C; stopping");
        }
    }
}
