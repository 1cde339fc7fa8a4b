//! What `spec/openapi.yaml` declares for every client beyond the calls and types progenitor
//! generates: each operation's idempotency (`x-idempotent`) and the vendor's rate limits
//! (`info.x-rate-limits`). Read here once, for the generated `declared` module, for
//! `cargo xtask check` and for the reference page, so that no client keeps its own copy.

use serde::Deserialize;

/// The extension every operation must carry: whether repeating it is safe.
pub const IDEMPOTENT_EXTENSION: &str = "x-idempotent";
/// The extension of `info` that states the vendor's rate limits as data.
pub const RATE_LIMITS_EXTENSION: &str = "x-rate-limits";

/// One operation of the spec, with what clients need to know to send and retry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredOperation {
    /// The spec's `operationId`.
    pub operation_id: String,
    /// The name progenitor gives the operation's method and its `OperationInfo::operation_id`.
    pub generated_name: String,
    /// The HTTP method, upper case.
    pub method: String,
    /// The path template, as the spec writes it (`/console/v1/experiments/{id}/overrides`).
    pub path_template: String,
    /// The operation's `x-idempotent`.
    pub idempotent: bool,
}

/// One rate-limit window: at most `requests` in any `period_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeclaredWindow {
    /// Requests allowed in the window.
    pub requests: u32,
    /// The window's length in seconds.
    pub period_seconds: u64,
    /// What the figure rests on.
    pub basis: String,
}

/// `info.x-rate-limits`: the vendor's rate limits, where and when they were read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeclaredRateLimits {
    /// The page the figures were read from.
    pub source: String,
    /// The section of that page.
    pub section: String,
    /// The date they were read (YYYY-MM-DD).
    pub read: String,
    /// Who shares the budget (`project`: every Console key of a project).
    pub scope: String,
    /// Whether attempts the server rejects with 429 count toward the windows.
    pub rejected_attempts_count: bool,
    /// The short window that protects against bursts.
    pub burst: DeclaredWindow,
    /// The long window of the project's quota.
    pub quota: DeclaredWindow,
}

/// Everything the spec declares beyond progenitor's reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Every operation, in the spec's order.
    pub operations: Vec<DeclaredOperation>,
    /// The vendor's rate limits.
    pub rate_limits: DeclaredRateLimits,
}

/// Reads the declarations of `spec`; `Err` lists every problem found, each naming the
/// operation or the extension it is about.
pub fn read(spec: &openapiv3::OpenAPI) -> Result<Declared, Vec<String>> {
    let mut problems = Vec::new();
    let mut operations = Vec::new();
    for (template, item) in spec.paths.iter() {
        let Some(item) = item.as_item() else {
            continue;
        };
        for (method, operation) in item.iter() {
            let method = method.to_uppercase();
            let Some(operation_id) = operation.operation_id.clone() else {
                problems.push(format!(
                    "operation `{method} {template}` has no operationId"
                ));
                continue;
            };
            let idempotent = match operation.extensions.get(IDEMPOTENT_EXTENSION) {
                Some(serde_json::Value::Bool(idempotent)) => *idempotent,
                Some(other) => {
                    problems.push(format!(
                        "operation `{operation_id}` ({method} {template}): `{IDEMPOTENT_EXTENSION}` must be `true` or `false`, not `{other}`"
                    ));
                    continue;
                }
                None => {
                    problems.push(format!(
                        "operation `{operation_id}` ({method} {template}) has no `{IDEMPOTENT_EXTENSION}`: declare whether repeating it is safe (`true` or `false`)"
                    ));
                    continue;
                }
            };
            operations.push(DeclaredOperation {
                generated_name: heck::ToSnakeCase::to_snake_case(operation_id.as_str()),
                operation_id,
                method,
                path_template: template.clone(),
                idempotent,
            });
        }
    }
    let rate_limits = match spec.info.extensions.get(RATE_LIMITS_EXTENSION) {
        None => {
            problems.push(format!(
                "`info` has no `{RATE_LIMITS_EXTENSION}`: declare the vendor's burst and quota windows"
            ));
            None
        }
        Some(value) => match DeclaredRateLimits::deserialize(value) {
            Ok(limits) => {
                problems.extend(limits.problems());
                Some(limits)
            }
            Err(e) => {
                problems.push(format!("`info.{RATE_LIMITS_EXTENSION}`: {e}"));
                None
            }
        },
    };
    match rate_limits {
        Some(rate_limits) if problems.is_empty() => Ok(Declared {
            operations,
            rate_limits,
        }),
        _ => Err(problems),
    }
}

impl DeclaredRateLimits {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let at = format!("`info.{RATE_LIMITS_EXTENSION}`");
        for (name, window) in [("burst", &self.burst), ("quota", &self.quota)] {
            if window.requests == 0 || window.period_seconds == 0 {
                problems.push(format!(
                    "{at}.{name}: `requests` and `periodSeconds` must both be above zero"
                ));
            }
            if window.basis.trim().is_empty() {
                problems.push(format!(
                    "{at}.{name}: `basis` must say what the figure rests on"
                ));
            }
        }
        if self.burst.period_seconds >= self.quota.period_seconds {
            problems.push(format!(
                "{at}: the burst window must be shorter than the quota window"
            ));
        }
        let date = self.read.as_bytes();
        let is_date = date.len() == 10
            && date.iter().enumerate().all(|(i, byte)| match i {
                4 | 7 => *byte == b'-',
                _ => byte.is_ascii_digit(),
            });
        if !is_date {
            problems.push(format!(
                "{at}.read: `{}` is not a date (YYYY-MM-DD)",
                self.read
            ));
        }
        if !self.source.starts_with("https://") {
            problems.push(format!(
                "{at}.source: `{}` is not an https:// address",
                self.source
            ));
        }
        problems
    }
}

/// The generated `declared` module: the operation table the transport retries by, and the
/// vendor's rate limits `RateLimit::vendor()` is made of.
pub(crate) fn module(declared: &Declared) -> syn::Item {
    let operations = declared.operations.iter().map(|operation| {
        let DeclaredOperation {
            operation_id,
            generated_name,
            method,
            path_template,
            idempotent,
        } = operation;
        let idempotency = if *idempotent {
            quote::quote!(crate::operations::Idempotency::Idempotent)
        } else {
            quote::quote!(crate::operations::Idempotency::NotIdempotent)
        };
        quote::quote! {
            crate::operations::Operation {
                operation_id: #operation_id,
                generated_name: #generated_name,
                method: #method,
                path_template: #path_template,
                idempotency: #idempotency,
            }
        }
    });
    let limits = &declared.rate_limits;
    let rejected = limits.rejected_attempts_count;
    let (burst_requests, burst_period) = (limits.burst.requests, limits.burst.period_seconds);
    let (quota_requests, quota_period) = (limits.quota.requests, limits.quota.period_seconds);
    syn::parse_quote! {
        /// What `spec/openapi.yaml` declares beyond the calls: each operation's `x-idempotent`
        /// and the vendor's rate limits (`info.x-rate-limits`).
        pub mod declared {
            /// Every operation of the spec, in its order.
            pub const OPERATIONS: &[crate::operations::Operation] = &[#(#operations),*];

            /// `info.x-rate-limits`, the figures the client and its fake enforce (where and
            /// when they were read stays in the spec, for people).
            pub mod rate_limits {
                /// Whether attempts rejected with 429 count toward the windows.
                pub const REJECTED_ATTEMPTS_COUNT: bool = #rejected;
                /// The burst window: requests, period.
                pub const BURST: (u32, ::std::time::Duration) =
                    (#burst_requests, ::std::time::Duration::from_secs(#burst_period));
                /// The project's quota window: requests, period.
                pub const QUOTA: (u32, ::std::time::Duration) =
                    (#quota_requests, ::std::time::Duration::from_secs(#quota_period));
            }
        }
    }
}
