//! Identifiers of GitLab objects. GitLab ids are positive integers; zero never names an object.

use std::fmt;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

/// An identifier that was absent, zero, or not a positive integer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be a positive integer, got {got:?}")]
pub struct InvalidId {
    /// Which identifier was being parsed (`project id`, `iid`).
    pub what: &'static str,
    /// What was found instead, shortened for the message.
    pub got: String,
}

macro_rules! positive_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "u64", into = "u64")]
        pub struct $name(NonZeroU64);

        impl $name {
            /// Builds the identifier from a raw number; zero is refused.
            pub fn new(raw: u64) -> Result<Self, InvalidId> {
                NonZeroU64::new(raw).map(Self).ok_or_else(|| InvalidId { what: $what, got: raw.to_string() })
            }

            /// The raw number, as GitLab's API takes it.
            pub fn get(self) -> u64 {
                self.0.get()
            }
        }

        impl TryFrom<u64> for $name {
            type Error = InvalidId;
            fn try_from(raw: u64) -> Result<Self, InvalidId> {
                Self::new(raw)
            }
        }

        impl From<$name> for u64 {
            fn from(id: $name) -> u64 {
                id.get()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

positive_id!(
    /// The numeric id of a GitLab project (`project.id` of a webhook payload).
    GitlabProjectId,
    "project id"
);
positive_id!(
    /// The project-scoped number of a GitLab issue (`iid`, the `#23` users see).
    Iid,
    "iid"
);
positive_id!(
    /// The id of a QALITA issue.
    QalitaIssueId,
    "QALITA issue id"
);

impl std::str::FromStr for QalitaIssueId {
    type Err = InvalidId;
    fn from_str(text: &str) -> Result<Self, InvalidId> {
        let raw = text
            .trim()
            .parse::<u64>()
            .map_err(|_| InvalidId { what: "QALITA issue id", got: text.chars().take(40).collect() })?;
        Self::new(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_not_an_identifier() {
        let err = Iid::new(0).unwrap_err();
        assert_eq!(err.to_string(), "iid must be a positive integer, got \"0\"");
    }

    #[test]
    fn identifiers_round_trip_through_json_as_plain_numbers() {
        let id: GitlabProjectId = serde_json::from_str("80222147").unwrap();
        assert_eq!(id.get(), 80_222_147);
        assert_eq!(serde_json::to_string(&id).unwrap(), "80222147");
        assert!(serde_json::from_str::<GitlabProjectId>("0").is_err());
    }
}
