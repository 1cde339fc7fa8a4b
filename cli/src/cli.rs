//! The command line: every command, option and its help, as clap derives.

use std::path::PathBuf;

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use statsig_console::types::{ChangeTeamConfigs, ReviewApproval};

/// The Statsig Console API for release pipelines: force ids into experiment groups, apply
/// override files of any size, create teams.
///
/// The key comes from the environment (STATSIG_CONSOLE_API_KEY) or a file (--api-key-file),
/// never from an argument: arguments end up in process lists and shell history.
#[derive(Debug, Parser)]
#[command(name = "statsig-console", version, after_help = crate::exit::help(), max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where to send requests.
    #[arg(
        long,
        global = true,
        env = "STATSIG_CONSOLE_BASE_URL",
        default_value = statsig_console::DEFAULT_BASE_URL,
        value_name = "URL"
    )]
    pub base_url: String,

    /// Read the Console API key from this file (its first line) instead of
    /// STATSIG_CONSOLE_API_KEY.
    #[arg(long, global = true, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,

    /// `text` for people, `json` for scripts: one JSON document on stdout with the result or
    /// the error.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// Check the input and print the requests that would be sent (method, URL, entries, ids),
    /// without sending anything. Needs no key.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// No progress and no messages on stderr; errors are still reported.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Each request's timeout, in seconds (default 30). Retries and rate-limit waits come on top.
    #[arg(long, global = true, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,

    /// Send each request once: no retries after errors or 429 answers.
    #[arg(long, global = true)]
    pub no_retry: bool,

    /// Log what the client does on stderr: -v requests, -vv retries and waits, -vvv bodies
    /// (the key is never logged).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Experiment overrides: force user ids into groups, apply whole override files.
    #[command(subcommand)]
    Overrides(OverridesCommand),
    /// Teams.
    #[command(subcommand)]
    Teams(TeamsCommand),
    /// The fake Console, for trying things out and for other tools' tests.
    #[command(subcommand)]
    Mock(MockCommand),
    /// Print the shell completion script for SHELL on stdout.
    #[command(after_help = "Install, for example:
  statsig-console completions bash > ~/.local/share/bash-completion/completions/statsig-console
  statsig-console completions zsh > ~/.zfunc/_statsig-console   # with fpath+=~/.zfunc
  statsig-console completions fish > ~/.config/fish/completions/statsig-console.fish
  statsig-console completions powershell >> $PROFILE")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

/// The shells completions are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

impl From<CompletionShell> for clap_complete::Shell {
    fn from(shell: CompletionShell) -> Self {
        match shell {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
            CompletionShell::Powershell => clap_complete::Shell::PowerShell,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum OverridesCommand {
    /// Force any number of user ids into one experiment group.
    ///
    /// The ids are sent in requests of at most 1000, paced under the Console's rate limits
    /// (one quota per project of about 1,800 attempts per 15 minutes, and burst protection,
    /// assumed 100 per 10 s), each retried on
    /// transient errors. A repeated id is sent once. Re-running after a failure is safe: the
    /// Console merges overrides.
    #[command(after_help = "Example:
  STATSIG_CONSOLE_API_KEY=console-... statsig-console overrides add checkout_flow \\
      --group Test --environment production --ids-file qa-users.txt")]
    Add(AddArgs),

    /// Apply an ExperimentOverrides document (JSON or YAML) of any size.
    ///
    /// The document is `{overrides: [...], userIDOverrides: [...]}` as the Console's PATCH
    /// takes it, with no size limit: it is split into requests the Console accepts. The format
    /// is chosen by the extension (.json, .yaml, .yml), or by the content for other names and
    /// standard input (`-`).
    #[command(after_help = "Example:
  statsig-console overrides apply checkout_flow --file overrides.yaml")]
    Apply(ApplyArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The experiment's id.
    pub experiment: String,

    /// The group to force the ids into.
    #[arg(long, value_name = "GROUP")]
    pub group: String,

    /// Only in this environment (for example `production`).
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,

    /// The ids' unit type (for example `userID`, `stableID`).
    #[arg(long, value_name = "TYPE")]
    pub unit_type: Option<String>,

    /// The ids, comma-separated.
    #[arg(
        long,
        value_name = "ID,ID,...",
        value_delimiter = ',',
        conflicts_with = "ids_file",
        required_unless_present = "ids_file"
    )]
    pub ids: Vec<String>,

    /// A file of ids, one per line (`-`: standard input). Blank lines and lines starting with
    /// `#` are skipped. Read as the requests go, never whole.
    #[arg(long, value_name = "PATH")]
    pub ids_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The experiment's id.
    pub experiment: String,

    /// The ExperimentOverrides document (JSON or YAML; `-`: standard input).
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum TeamsCommand {
    /// Create a team, from a TeamCreate document or from flags; prints the new team's id.
    ///
    /// With flags, the settings the Console requires and the flags do not give are:
    /// no default metrics, no default target applications, team-config changes by the team
    /// only (`team_only`) and reviews approved by the team (`team_only`), unless
    /// --change-team-configs and --review-approval say otherwise. Create Team is never retried
    /// once it may have reached the Console, so a team is never created twice.
    #[command(after_help = "Examples:
  statsig-console teams create --name Checkout --member ana@example.com --admin ana@example.com
  statsig-console teams create --file team.yaml")]
    Create(CreateTeamArgs),
}

#[derive(Debug, Args)]
pub struct CreateTeamArgs {
    /// A TeamCreate document (JSON or YAML; `-`: standard input).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["name", "description", "members", "admins"], required_unless_present = "name")]
    pub file: Option<PathBuf>,

    /// The team's name.
    #[arg(long)]
    pub name: Option<String>,

    /// What the team does.
    #[arg(long)]
    pub description: Option<String>,

    /// A member's email address (repeat for more).
    #[arg(long = "member", value_name = "EMAIL")]
    pub members: Vec<String>,

    /// An admin's email address (repeat for more).
    #[arg(long = "admin", value_name = "EMAIL")]
    pub admins: Vec<String>,

    /// Who may change the team's settings.
    #[arg(
        long,
        default_value_t = ChangeTeamConfigs::TeamOnly,
        value_parser = one_of(&CHANGE_TEAM_CONFIGS),
        conflicts_with = "file"
    )]
    pub change_team_configs: ChangeTeamConfigs,

    /// Who approves reviews.
    #[arg(
        long,
        default_value_t = ReviewApproval::TeamOnly,
        value_parser = one_of(&REVIEW_APPROVALS),
        conflicts_with = "file"
    )]
    pub review_approval: ReviewApproval,
}

/// Every `changeTeamConfigs` value of the library (so of the spec), by its own names.
const CHANGE_TEAM_CONFIGS: [ChangeTeamConfigs; 2] =
    [ChangeTeamConfigs::Anyone, ChangeTeamConfigs::TeamOnly];
/// Every `reviewApproval` value of the library.
const REVIEW_APPROVALS: [ReviewApproval; 3] = [
    ReviewApproval::Anyone,
    ReviewApproval::TeamOnly,
    ReviewApproval::AdminOnly,
];

/// Fails to compile when the spec gives either enum a value the lists above lack.
#[allow(dead_code)]
fn lists_are_complete(configs: ChangeTeamConfigs, approval: ReviewApproval) {
    match configs {
        ChangeTeamConfigs::Anyone | ChangeTeamConfigs::TeamOnly => {}
    }
    match approval {
        ReviewApproval::Anyone | ReviewApproval::TeamOnly | ReviewApproval::AdminOnly => {}
    }
}

/// A parser taking exactly the names the library gives `values` (their `Display`, which its
/// `FromStr` reads back), listed in `--help`.
fn one_of<T>(values: &[T]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::fmt::Display + std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Display,
{
    use clap::builder::TypedValueParser as _;
    let names: Vec<String> = values.iter().map(ToString::to_string).collect();
    clap::builder::PossibleValuesParser::new(names)
        .try_map(|name| name.parse::<T>().map_err(|error| error.to_string()))
}

#[derive(Debug, Subcommand)]
pub enum MockCommand {
    /// Serve the fake Console on 127.0.0.1 until Ctrl-C (or SIGTERM).
    ///
    /// It checks every request against the spec, keeps experiments and teams in memory,
    /// enforces the vendor's rate limits as the vendor documents them (one burst window and
    /// one quota window for all its keys, every attempt counted, the 429s included; no
    /// `Retry-After` unless --retry-after), and answers as the Console does. It prints its URL and key as `STATSIG_CONSOLE_BASE_URL=...` and
    /// `STATSIG_CONSOLE_API_KEY=...` lines.
    #[command(after_help = "Example:
  statsig-console mock serve --port 8080 --api-key console-dev --experiment checkout_flow=Control,Test")]
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The port (0: any free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,

    /// A key the fake accepts (repeat for more; default `console-mock-key`). A test key, not a
    /// secret, so an argument is fine.
    #[arg(long = "api-key", value_name = "KEY")]
    pub api_keys: Vec<String>,

    /// An experiment and its groups (repeat for more; default `checkout_flow=Control,Test`).
    #[arg(long = "experiment", value_name = "ID=GROUP,GROUP", value_parser = parse_experiment)]
    pub experiments: Vec<(String, Vec<String>)>,

    /// Accept any number of requests (the vendor's limits are enforced by default).
    #[arg(long, conflicts_with_all = ["burst", "quota"])]
    pub no_rate_limit: bool,

    /// The burst window, as REQUESTS/SECONDS (default 100/10: the vendor's older figure, as
    /// its current documentation gives none).
    #[arg(long, value_name = "REQUESTS/SECONDS", value_parser = parse_window)]
    pub burst: Option<(u32, Duration)>,

    /// The project's quota window, as REQUESTS/SECONDS (default 1800/900: about 1,800 attempts
    /// per 15 minutes, as the vendor documents).
    #[arg(long, value_name = "REQUESTS/SECONDS", value_parser = parse_window)]
    pub quota: Option<(u32, Duration)>,

    /// Say in a `Retry-After` header how long until a window has room (the vendor sends none).
    #[arg(long)]
    pub retry_after: bool,
}

/// A positive number of seconds, with a fraction if wanted; at most a day.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{text:?} is not a number of seconds (0 to 86400)"))
}

/// `100/10`: 100 requests per 10 seconds (the seconds may have a fraction).
fn parse_window(text: &str) -> Result<(u32, Duration), String> {
    let (requests, seconds) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not REQUESTS/SECONDS"))?;
    let requests: u32 = requests
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{requests:?} is not a positive number of requests"))?;
    Ok((requests, parse_seconds(seconds)?))
}

fn parse_experiment(text: &str) -> Result<(String, Vec<String>), String> {
    let (id, groups) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not ID=GROUP,GROUP"))?;
    let groups: Vec<String> = groups
        .split(',')
        .map(str::trim)
        .filter(|group| !group.is_empty())
        .map(str::to_string)
        .collect();
    if id.is_empty() || groups.is_empty() {
        return Err(format!("{text:?} needs an id and at least one group"));
    }
    Ok((id.to_string(), groups))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn experiments_parse() {
        assert_eq!(
            parse_experiment("exp=A, B").unwrap(),
            ("exp".to_string(), vec!["A".to_string(), "B".to_string()])
        );
        assert!(parse_experiment("exp").is_err());
        assert!(parse_experiment("exp=").is_err());
    }

    #[test]
    fn timeouts_are_positive_seconds() {
        assert_eq!(parse_seconds("2.5"), Ok(Duration::from_millis(2500)));
        for bad in ["0", "-1", "NaN", "inf", "soon", "86401"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_parse() {
        assert_eq!(parse_window("100/10"), Ok((100, Duration::from_secs(10))));
        assert_eq!(parse_window("5/0.5"), Ok((5, Duration::from_millis(500))));
        for bad in [
            "100",
            "0/10",
            "x/10",
            "10/0",
            "10/-1",
            "10/inf",
            "10/100000",
        ] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }
}
