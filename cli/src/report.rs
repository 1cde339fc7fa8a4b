//! How a command ends: its result or its failure, as text or one JSON document on stdout, and
//! the exit code a CI script branches on.

use std::fmt;
use std::process::ExitCode;

use serde_json::{Value, json};
use statsig_console::Error;

use crate::cli::OutputFormat;
use crate::exit::{self, Exit};

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// The input or the command line was refused before anything was sent.
    Usage(String),
    /// The client's error (it never holds the key).
    Api(Error),
    /// Anything else, for example standard input breaking off mid-way.
    Other(String),
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure::Usage(message.into())
    }

    pub fn exit(&self) -> Exit {
        match self {
            Failure::Usage(_) => exit::USAGE,
            Failure::Other(_) => exit::OTHER,
            Failure::Api(error) => match error {
                Error::InvalidConfig { .. } | Error::InvalidInput { .. } => exit::USAGE,
                Error::Stopped => exit::INTERRUPTED,
                Error::PartiallyApplied { cause, .. } if matches!(**cause, Error::Stopped) => {
                    exit::INTERRUPTED
                }
                Error::PartiallyApplied { .. } => exit::PARTIALLY_APPLIED,
                Error::Unauthorized { .. } => exit::UNAUTHORIZED,
                Error::NotFound { .. } => exit::NOT_FOUND,
                Error::RateLimited { .. } | Error::DeadlineExceeded { .. } => {
                    exit::RATE_LIMITED_OR_DEADLINE
                }
                _ => exit::OTHER,
            },
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.exit().code
    }

    /// A stable, machine-readable name for the kind of failure.
    fn kind(&self) -> &'static str {
        match self {
            Failure::Usage(_) => "usage",
            Failure::Other(_) => "other",
            Failure::Api(error) => kind_of(error),
        }
    }

    fn to_json(&self) -> Value {
        let mut error = json!({
            "kind": self.kind(),
            "message": self.to_string(),
        });
        if let Failure::Api(api) = self {
            error["status"] = json!(api.status().map(|s| s.as_u16()));
            error["server_message"] = json!(api.server_message());
            if let Error::PartiallyApplied {
                applied_requests,
                applied_ids,
                applied_overrides,
                cause,
            } = api
            {
                error["applied"] = json!({
                    "requests": applied_requests,
                    "ids": applied_ids,
                    "conditional_overrides": applied_overrides,
                });
                error["cause_kind"] = json!(kind_of(cause));
                error["rerun_is_safe"] = json!(true);
            }
        }
        json!({"ok": false, "exit_code": self.exit_code(), "error": error})
    }
}

/// A stable, machine-readable name for a client error.
fn kind_of(error: &Error) -> &'static str {
    match error {
        Error::InvalidConfig { .. } => "invalid_config",
        Error::InvalidInput { .. } => "invalid_input",
        Error::PartiallyApplied { .. } => "partially_applied",
        Error::BadRequest { .. } => "bad_request",
        Error::Unauthorized { .. } => "unauthorized",
        Error::NotFound { .. } => "not_found",
        Error::RateLimited { .. } => "rate_limited",
        Error::DeadlineExceeded { .. } => "deadline_exceeded",
        Error::Transport { .. } => "transport",
        Error::Decode { .. } => "decode",
        Error::ResponseTooLarge { .. } => "response_too_large",
        Error::Stopped => "interrupted",
        _ => "api",
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(message) | Failure::Other(message) => f.write_str(message),
            Failure::Api(error) => {
                write!(f, "{error}")?;
                // The causes a transport error carries ("connection refused"): a person needs
                // them, and the library's own message stops at the first.
                let mut shown = error.to_string();
                let mut cause = std::error::Error::source(error);
                while let Some(source) = cause {
                    let text = source.to_string();
                    if !shown.contains(&text) {
                        write!(f, ": {text}")?;
                        shown.push_str(&text);
                    }
                    cause = source.source();
                }
                Ok(())
            }
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Api(error)
    }
}

/// What a command that succeeded prints: a line for people, a JSON value for scripts.
pub struct Outcome {
    pub text: String,
    pub json: Value,
}

/// Prints the outcome on stdout (a failure's text on stderr; in JSON, on stdout too) and gives
/// the exit code. `None`: the command printed what it had to itself.
pub fn finish(result: Result<Option<Outcome>, Failure>, format: OutputFormat) -> ExitCode {
    match (result, format) {
        (Ok(None), _) => ExitCode::from(exit::DONE.code),
        (Ok(Some(outcome)), OutputFormat::Text) => {
            crate::output::out(outcome.text);
            ExitCode::from(exit::DONE.code)
        }
        (Ok(Some(outcome)), OutputFormat::Json) => {
            let mut document = json!({"ok": true});
            if let (Some(target), Value::Object(fields)) = (document.as_object_mut(), outcome.json)
            {
                target.extend(fields);
            }
            crate::output::out(document);
            ExitCode::from(exit::DONE.code)
        }
        (Err(failure), OutputFormat::Text) => {
            crate::output::err(format!("error: {failure}"));
            ExitCode::from(failure.exit_code())
        }
        (Err(failure), OutputFormat::Json) => {
            crate::output::out(failure.to_json());
            ExitCode::from(failure.exit_code())
        }
    }
}

/// A command line clap refused, as one JSON document (when `--output json` was asked for).
pub fn usage_error_json(message: &str) -> Value {
    json!({"ok": false, "exit_code": exit::USAGE.code, "error": {"kind": "usage", "message": message}})
}
