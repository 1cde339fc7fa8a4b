//! The operations of `spec/openapi.yaml` as the client knows them: their identity and whether
//! each is safe to repeat (`x-idempotent`). The table itself is generated from the spec
//! (`build.rs`); nothing here lists an operation.

/// Whether an operation may be sent again after it may have reached the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Repeating it leaves the same state (`x-idempotent: true`, the additive override merge).
    Idempotent,
    /// Repeating it could act twice (`x-idempotent: false`: Create Team would create a second
    /// team).
    NotIdempotent,
}

/// One operation of the spec this client was generated from.
///
/// ```
/// let safe: Vec<&str> = statsig_console::operations()
///     .iter()
///     .filter(|operation| operation.is_idempotent())
///     .map(|operation| operation.operation_id())
///     .collect();
/// assert!(safe.contains(&"patchExperimentOverrides"));
/// assert!(!safe.contains(&"createTeam"));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Operation {
    pub(crate) operation_id: &'static str,
    pub(crate) generated_name: &'static str,
    pub(crate) method: &'static str,
    pub(crate) path_template: &'static str,
    pub(crate) idempotency: Idempotency,
}

impl Operation {
    /// The spec's `operationId` (`patchExperimentOverrides`); also the tracing span's
    /// `operation_id`.
    pub fn operation_id(&self) -> &'static str {
        self.operation_id
    }

    /// The name of the generated client's method for it (`patch_experiment_overrides`, see
    /// [`crate::raw::Client`]).
    pub fn generated_name(&self) -> &'static str {
        self.generated_name
    }

    /// The HTTP method, upper case.
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// The path template as the spec writes it, `{parameters}` included.
    pub fn path_template(&self) -> &'static str {
        self.path_template
    }

    /// The spec's `x-idempotent`: whether sending it again after it may have reached the
    /// server leaves the same state. The client retries an attempt that may have been
    /// processed (no answer, 500, 502, 503, 504) only when this is `true`; see the README's
    /// "Reliability".
    pub fn is_idempotent(&self) -> bool {
        self.idempotency == Idempotency::Idempotent
    }

    /// The operation progenitor calls `generated_name`.
    pub(crate) fn by_generated_name(generated_name: &str) -> Option<&'static Operation> {
        operations()
            .iter()
            .find(|operation| operation.generated_name == generated_name)
    }
}

/// Every operation of the spec this client was generated from, in the spec's order: what
/// `cargo xtask generate` and `build.rs` read from `spec/openapi.yaml`, for tools that must
/// treat operations as the client does.
pub fn operations() -> &'static [Operation] {
    crate::generated::declared::OPERATIONS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's operations as (operationId, method, path, x-idempotent), read from the JSON
    /// the client was generated from.
    fn in_spec() -> Vec<(String, String, String, bool)> {
        let spec: serde_json::Value = serde_json::from_str(crate::OPENAPI_JSON).unwrap();
        let mut found = Vec::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                found.push((
                    operation["operationId"].as_str().unwrap().to_string(),
                    method.to_uppercase(),
                    path.clone(),
                    operation["x-idempotent"].as_bool().unwrap(),
                ));
            }
        }
        found
    }

    #[test]
    fn the_table_is_the_spec_s_operations_in_order() {
        let table: Vec<(String, String, String, bool)> = operations()
            .iter()
            .map(|operation| {
                (
                    operation.operation_id().to_string(),
                    operation.method().to_string(),
                    operation.path_template().to_string(),
                    operation.is_idempotent(),
                )
            })
            .collect();
        assert_eq!(table, in_spec());
    }

    #[test]
    fn the_two_documented_operations_are_classified_as_the_spec_says() {
        let by_id = |id: &str| {
            operations()
                .iter()
                .find(|operation| operation.operation_id() == id)
                .unwrap()
        };
        let patch = by_id("patchExperimentOverrides");
        assert!(patch.is_idempotent());
        assert_eq!(patch.method(), "PATCH");
        assert_eq!(patch.generated_name(), "patch_experiment_overrides");
        let create = by_id("createTeam");
        assert!(!create.is_idempotent());
        assert_eq!(create.idempotency, Idempotency::NotIdempotent);
        assert_eq!(create.method(), "POST");
    }

    #[test]
    fn operations_are_found_by_the_name_progenitor_gives_them() {
        for operation in operations() {
            let found = Operation::by_generated_name(operation.generated_name()).unwrap();
            assert_eq!(found.operation_id(), operation.operation_id());
        }
        assert!(Operation::by_generated_name("get_everything").is_none());
    }
}
