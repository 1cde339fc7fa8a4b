//! The README's main job: both operations end to end against the embedded fake Console.
//!
//! ```sh
//! cargo run --example quickstart                      # fake Console on 127.0.0.1, no network
//! cargo run --example quickstart -- --live            # the real API, STATSIG_CONSOLE_API_KEY
//! ```
//!
//! `--live` changes a real project: it creates a team and adds overrides to the experiment
//! named by `--experiment` (default `quickstart_experiment`, groups `--groups Control,Test`).

use std::process::ExitCode;

use statsig_console::RateLimit;
use statsig_console::types::{
    ChangeTeamConfigs, ConditionalOverride, ExperimentOverrides, MetricRef, OverrideType,
    ReviewApproval, Team, TeamCreate, UserIdOverride,
};
use statsig_console::{Client, Error};
use statsig_console_mock::MockConsole;

struct Options {
    live: bool,
    experiment: String,
    groups: (String, String),
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        live: false,
        experiment: "checkout_flow".into(),
        groups: ("Control".into(), "Test".into()),
    };
    let mut experiment_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--live" => options.live = true,
            "--experiment" => {
                options.experiment = args.next().ok_or("--experiment needs a value")?;
                experiment_given = true;
            }
            "--groups" => {
                let value = args
                    .next()
                    .ok_or("--groups needs a value like Control,Test")?;
                let (a, b) = value
                    .split_once(',')
                    .ok_or("--groups takes two names: Control,Test")?;
                options.groups = (a.to_string(), b.to_string());
            }
            "-h" | "--help" => {
                return Err(
                    "usage: quickstart [--live [--experiment ID] [--groups CONTROL,TEST]]".into(),
                );
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if options.live && !experiment_given {
        options.experiment = "quickstart_experiment".into();
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("quickstart failed: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), String> {
    let (control, test) = (options.groups.0.as_str(), options.groups.1.as_str());
    // The fake lives until the end of `run`; `None` in live mode.
    let (client, console) = if options.live {
        let client =
            Client::from_env().map_err(|e| format!("--live needs the real API's settings: {e}"))?;
        println!(
            "statsig-console quickstart against {} (live)",
            client.base_url()
        );
        (client, None)
    } else {
        let console = MockConsole::builder()
            .api_key("console-quickstart-demo-key")
            .experiment(&options.experiment, [control, test])
            .user("ana@example.com", "Ana", "Lopez")
            .user("li@example.com", "Li", "Wei")
            .rate_limits(RateLimit::vendor())
            .start()
            .await
            .map_err(|e| format!("cannot start the fake Console: {e}"))?;
        println!(
            "statsig-console quickstart against the embedded fake Console at {}",
            console.base_url()
        );
        (console.client(), Some(console))
    };

    println!("\n1. Create Team");
    let team = client
        .create_team(team_request())
        .await
        .map_err(|e| e.to_string())?;
    print_team(&team);

    println!(
        "\n2. Patch overrides of {:?}: gate employees_only -> {test}; user_1, user_2 -> {test}",
        options.experiment
    );
    let first = ExperimentOverrides {
        overrides: vec![conditional(OverrideType::Gate, "employees_only", test)?],
        user_id_overrides: vec![user_ids(test, &["user_1", "user_2"])?],
    };
    let after = client
        .patch_experiment_overrides(&options.experiment, first)
        .await
        .map_err(|e| e.to_string())?;
    print_overrides(&after);

    println!(
        "\n3. Patch again (additive): segment beta_testers -> {control}; user_2, user_3 -> {control}"
    );
    let second = ExperimentOverrides {
        overrides: vec![conditional(OverrideType::Segment, "beta_testers", control)?],
        user_id_overrides: vec![user_ids(control, &["user_2", "user_3"])?],
    };
    let after = client
        .patch_experiment_overrides(&options.experiment, second.clone())
        .await
        .map_err(|e| e.to_string())?;
    print_overrides(&after);
    println!("   user_2 moved from {test} to {control}: an id is forced into one group at a time");

    println!("\n4. A typed error: patching an experiment that does not exist");
    match client
        .patch_experiment_overrides("no_such_experiment_42", second)
        .await
    {
        Err(Error::NotFound { message, .. }) => println!("   Error::NotFound (404): {message}"),
        Err(other) => return Err(format!("expected a 404, got: {other}")),
        Ok(_) => return Err("expected a 404, but the call succeeded".into()),
    }

    if let Some(console) = console {
        let journal = console.journal();
        let versioned = journal
            .iter()
            .filter(|r| r.header("statsig-api-version") == Some("20240601"))
            .count();
        println!(
            "\nThe fake received {} requests; {versioned} carried STATSIG-API-VERSION: 20240601, and its journal shows the key as {:?}.",
            journal.len(),
            journal
                .first()
                .and_then(|r| r.header("statsig-api-key"))
                .unwrap_or("(none)"),
        );
        console.shutdown().await;
    }
    println!("\nDone.");
    Ok(())
}

fn team_request() -> TeamCreate {
    let metric = |name: &str, kind: &str| MetricRef {
        name: name.into(),
        type_: kind.into(),
    };
    TeamCreate::builder()
        .name("Checkout")
        .description(Some(
            "Owns the checkout funnel and its experiments.".to_string(),
        ))
        .members(vec![
            "ana@example.com".to_string(),
            "li@example.com".to_string(),
        ])
        .admins(vec!["ana@example.com".to_string()])
        .default_gate_metrics(vec![metric("checkout_completed", "event_count")])
        .default_experiment_primary_metrics(vec![metric("checkout_completed", "event_count")])
        .default_experiment_secondary_metrics(vec![metric("cart_value", "sum")])
        .default_holdout_metrics(vec![])
        .change_team_configs(ChangeTeamConfigs::TeamOnly)
        .review_approval(ReviewApproval::AdminOnly)
        .default_target_applications(vec!["web".to_string()])
        .try_into()
        .unwrap_or_else(|e| unreachable!("every required field is set: {e}"))
}

fn conditional(kind: OverrideType, id: &str, group: &str) -> Result<ConditionalOverride, String> {
    ConditionalOverride::builder()
        .type_(kind)
        .id(id)
        .group_id(group)
        .try_into()
        .map_err(|e| format!("{e}"))
}

fn user_ids(group: &str, ids: &[&str]) -> Result<UserIdOverride, String> {
    UserIdOverride::builder()
        .group_id(group)
        .ids(ids.iter().map(|id| id.to_string()).collect::<Vec<_>>())
        .try_into()
        .map_err(|e| format!("{e}"))
}

fn print_team(team: &Team) {
    let people = |list: &[statsig_console::types::TeamMember]| {
        list.iter()
            .map(|m| {
                format!(
                    "{} {} <{}> ({})",
                    m.first_name, m.last_name, m.email, m.role
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("   created {:?} with id {}", team.name, team.id);
    println!("   members: {}", people(&team.members));
    println!("   admins:  {}", people(&team.admins));
    println!(
        "   changeTeamConfigs: {}, reviewApproval: {}",
        team.change_team_configs, team.review_approval
    );
}

fn print_overrides(all: &ExperimentOverrides) {
    println!("   the experiment now has:");
    for o in &all.overrides {
        println!("     {} {} -> {}", o.type_, o.id, o.group_id);
    }
    for entry in &all.user_id_overrides {
        println!(
            "     user ids -> {}: {}",
            entry.group_id,
            entry.ids.join(", ")
        );
    }
}
