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
//! match client.patch_experiment_overrides("checkout_flow", &update).await {
//!     Ok(all) => println!("{} user-ID override entries", all.user_id_overrides.len()),
//!     Err(statsig_console::Error::NotFound { message, .. }) => eprintln!("no such experiment: {message}"),
//!     Err(other) => return Err(other.into()),
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod error;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;
mod open_enum;
mod reliability;
mod transport;
mod validate;

/// The code progenitor generates from `spec/openapi.yaml` (see `build.rs`).
#[allow(missing_docs, unused_imports, clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/generated.rs"));
}

pub use client::{
    Client, ClientBuilder, DEFAULT_BASE_URL, DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT, ENV_API_KEY, ENV_BASE_URL,
};
pub use error::{BODY_EXCERPT_LIMIT, Error};
pub use reliability::{RateLimit, RetryPolicy};
/// Every request and response type, generated from the spec's components, with builders
/// (`Type::builder()`), plus the open enums the generator is told to use for response settings.
pub mod types {
    pub use crate::generated::types::*;
    pub use crate::open_enum::{ChangeTeamConfigsSetting, OverrideType, ReviewApprovalSetting};
}
pub use transport::API_VERSION;
pub use validate::MAX_OVERRIDE_ITEMS;

/// The generated client, for calls the facade does not wrap; obtain one with [`Client::raw`].
///
/// Requests made through it carry the same headers and use the same connection pool, but
/// return progenitor's error type ([`raw::Error`]) and the whole response envelope.
pub mod raw {
    pub use crate::generated::builder;
    pub use crate::generated::{Client, Error, ResponseValue};
    pub use crate::transport::CallContext;
}

/// Compiles the README's Rust examples as doctests, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
