//! A typed, dependable client for the [Statsig Console API](https://docs.statsig.com/console-api/introduction).
//!
//! The client is generated at build time from the hand-written OpenAPI document
//! `spec/openapi.yaml` (by [progenitor](https://docs.rs/progenitor)); this crate adds what the
//! generated code lacks: configuration, the `STATSIG-API-KEY` and `STATSIG-API-VERSION`
//! headers, input checks, and one error type that keeps the HTTP status and the server's
//! message.
//!
//! ```no_run
//! use statsig_console::Client;
//! use statsig_console::types::{ExperimentOverrides, UserIdOverride};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::from_env()?; // STATSIG_CONSOLE_API_KEY
//! let update = ExperimentOverrides {
//!     overrides: vec![],
//!     user_id_overrides: vec![UserIdOverride::builder()
//!         .group_id("Test")
//!         .ids(vec!["user_1842".to_string()])
//!         .try_into()?],
//! };
//! match client.patch_experiment_overrides("checkout_flow", update).await {
//!     Ok(all) => println!("{} user-ID override entries", all.user_id_overrides.len()),
//!     Err(statsig_console::Error::NotFound { message, .. }) => eprintln!("no such experiment: {message}"),
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Modules from the bottom up; each imports only those above it (and `generated`, whose
// inner value is `config::ClientConfig` and whose hooks `transport` implements).
mod client;
mod config;
mod error;
mod large_update;
mod open_enum;
mod operations;
mod reliability;
mod secret;
mod transport;
mod validate;

/// The code progenitor generates from `spec/openapi.yaml` (see `build.rs`).
// `unused_mut`: the header maps codegen empties of progenitor's `api-version` stay `mut`.
#[allow(
    missing_docs,
    unused_imports,
    unused_mut,
    clippy::all,
    clippy::pedantic
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/generated.rs"));
}

pub use client::Client;
pub use config::{
    API_VERSION, ClientBuilder, DEFAULT_BASE_URL, DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, ENV_API_KEY, ENV_BASE_URL,
};
pub use error::{BODY_EXCERPT_LIMIT, Error};
pub use large_update::{AddUserIds, ApplyOverrides, Progress};
pub use operations::{Operation, operations};
pub use reliability::{RateLimit, RetryPolicy};
pub use transport::RequestTarget;
/// Every request and response type, generated from the spec's components, with builders
/// (`Type::builder()`), plus the open enums the generator is told to use for response settings.
pub mod types {
    pub use crate::generated::types::*;
    pub use crate::open_enum::{ChangeTeamConfigsSetting, OverrideType, ReviewApprovalSetting};

    /// Conversions between an open answer enum and the closed request enum of the same values.
    /// Both matches are exhaustive, so a value added to one side only fails to compile.
    macro_rules! open_closed_conversions {
        ($open:ident <=> $closed:ident { $($variant:ident),+ $(,)? }) => {
            impl $open {
                /// The closed request-side value, when this one is known.
                pub fn known(&self) -> Option<$closed> {
                    match self {
                        $(Self::$variant => Some($closed::$variant),)+
                        Self::Unknown(_) => None,
                    }
                }
            }

            impl From<$closed> for $open {
                fn from(value: $closed) -> Self {
                    match value {
                        $($closed::$variant => Self::$variant,)+
                    }
                }
            }
        };
    }

    open_closed_conversions!(ChangeTeamConfigsSetting <=> ChangeTeamConfigs { Anyone, TeamOnly });
    open_closed_conversions!(ReviewApprovalSetting <=> ReviewApproval { Anyone, TeamOnly, AdminOnly });

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn known_values_map_to_variants_and_back() {
            let value: ReviewApprovalSetting = serde_json::from_str("\"admin_only\"").unwrap();
            assert_eq!(value, ReviewApprovalSetting::AdminOnly);
            assert_eq!(value.known(), Some(ReviewApproval::AdminOnly));
            let unknown: ReviewApprovalSetting = serde_json::from_str("\"owners_only\"").unwrap();
            assert_eq!(unknown.known(), None);
            assert_eq!(
                ChangeTeamConfigsSetting::from(ChangeTeamConfigs::TeamOnly).as_str(),
                "team_only"
            );
        }
    }
}
pub use validate::MAX_OVERRIDE_ITEMS;

/// The checks the client makes before sending, for tools that check input without sending
/// anything (dry runs). Each fails with [`Error::InvalidInput`] naming the field, exactly as
/// the call would. Updates check themselves the same way in their `requests()`.
pub mod check {
    pub use crate::validate::{experiment_id, team_create};
}

/// The spec this client was generated from, as JSON (`spec/openapi.yaml`, converted by
/// `build.rs`): for tools and tests that must check requests against exactly this version.
pub const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The generated client, for calls the facade does not wrap; obtain it with [`Client::raw`].
///
/// Its calls go through the same hooks as the facade's: the same headers, connection pool,
/// timeouts, retries and rate limiter. They return progenitor's error type ([`raw::Error`])
/// and the whole response envelope.
pub mod raw {
    pub use crate::config::ClientConfig;
    pub use crate::generated::builder;
    pub use crate::generated::{Client, Error, ResponseValue};
}

/// Compiles the README's Rust examples as doctests, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
