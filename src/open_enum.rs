//! Open enums for values the Console reports back: every known value is a variant, and a
//! value a later API version adds is kept as `Unknown(String)` and re-serialized unchanged,
//! instead of failing the whole call. The code generator substitutes these for the spec's
//! `ChangeTeamConfigsSetting`, `ReviewApprovalSetting` and `OverrideType`. Requests stay strict:
//! Create Team takes the closed `ChangeTeamConfigs` and `ReviewApproval` (conversions between
//! the two kinds live beside the generated types, in `crate::types`), and the client refuses an
//! `OverrideType::Unknown` before sending.
//!
//! This module names no generated type, since the generated code names these.

use std::fmt;
use std::str::FromStr;

/// Reads a string into an open enum without allocating for a known value (serde's `Cow<str>`
/// always allocates; a visitor sees the borrowed or transient text).
struct OpenEnumVisitor<T>(std::marker::PhantomData<T>);

impl<T: FromStr<Err = std::convert::Infallible>> serde::de::Visitor<'_> for OpenEnumVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        let Ok(value) = text.parse();
        Ok(value)
    }
}

/// An open string enum: the listed values as variants, anything else as `Unknown(String)`.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident, { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version of the crate does not know, kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// The value as sent on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Unknown(other) => other,
                }
            }

            /// True for a value this version of the crate does not know.
            pub fn is_unknown(&self) -> bool {
                matches!(self, Self::Unknown(_))
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Ok(match text {
                    $($wire => Self::$variant,)+
                    other => Self::Unknown(other.to_string()),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(OpenEnumVisitor(std::marker::PhantomData::<$name>))
            }
        }

        #[cfg(feature = "schemars")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_string()
            }

            fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
                schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    ..Default::default()
                }
                .into()
            }
        }
    };
}

open_enum! {
    /// Who can change team configurations, as the Console reports it.
    ChangeTeamConfigsSetting, {
        /// `anyone`
        Anyone = "anyone",
        /// `team_only`
        TeamOnly = "team_only",
    }
}

open_enum! {
    /// What a conditional override is keyed on. Sending `Unknown` is refused before the
    /// request leaves; answers may carry values added after this crate was written.
    OverrideType, {
        /// `gate`: everyone passing the feature gate.
        Gate = "gate",
        /// `segment`: everyone in the segment.
        Segment = "segment",
    }
}

open_enum! {
    /// Who can review and approve changes, as the Console reports it.
    ReviewApprovalSetting, {
        /// `anyone`
        Anyone = "anyone",
        /// `team_only`
        TeamOnly = "team_only",
        /// `admin_only`
        AdminOnly = "admin_only",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_round_trip_unchanged() {
        let value: ChangeTeamConfigsSetting = serde_json::from_str("\"admin_only\"").unwrap();
        assert_eq!(
            value,
            ChangeTeamConfigsSetting::Unknown("admin_only".into())
        );
        assert_eq!(serde_json::to_string(&value).unwrap(), "\"admin_only\"");
        let value: ReviewApprovalSetting = serde_json::from_str("\"owners_only\"").unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), "\"owners_only\"");
        assert!(value.is_unknown());
    }

    #[test]
    fn non_strings_are_still_refused() {
        assert!(serde_json::from_str::<ChangeTeamConfigsSetting>("3").is_err());
        assert!(serde_json::from_str::<ChangeTeamConfigsSetting>("null").is_err());
    }
}
