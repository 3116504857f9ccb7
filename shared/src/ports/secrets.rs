//! Rotating secrets.

use async_trait::async_trait;

use crate::domain::SecretString;

/// Which version of a rotating secret to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretStage {
    /// The version in use (`AWSCURRENT`).
    Current,
    /// The version before the last rotation (`AWSPREVIOUS`), still accepted while senders catch up.
    Previous,
}

impl SecretStage {
    /// Secrets Manager's staging label for this stage.
    pub fn label(self) -> &'static str {
        match self {
            SecretStage::Current => "AWSCURRENT",
            SecretStage::Previous => "AWSPREVIOUS",
        }
    }
}

/// Why a secret could not be read. Never carries the secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The store could not be reached or throttled the call: try later.
    #[error("secret store unavailable ({class})")]
    Unavailable {
        /// A short class of the failure.
        class: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The secret does not exist, has no current value, or may not be read by this function.
    #[error("secret {id} cannot be read ({class}): {message}")]
    Unreadable {
        /// The secret's name or ARN (not its value).
        id: String,
        /// The AWS error code, or a short class.
        class: String,
        /// The service's message.
        message: String,
    },
}

impl SecretError {
    /// Whether the same read may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, SecretError::Unavailable { .. })
    }
}

/// A store of rotating secrets (Secrets Manager, or the environment for a local run).
///
/// Contract: `read(id, Current)` returns the value in use or an error; `read(id, Previous)` returns
/// `Ok(None)` when the secret was never rotated. Values are returned as [`SecretString`], which
/// never prints.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// Reads one stage of the secret `id`.
    async fn read(&self, id: &str, stage: SecretStage) -> Result<Option<SecretString>, SecretError>;
}

/// A store that takes a secret's new value (Secrets Manager's `PutSecretValue`), for the GitLab
/// token the service rotates itself.
///
/// Contract: after `Ok`, `read(id, Current)` answers `value`. Errors are [`SecretError`]s
/// (`Unavailable` worth retrying, `Unreadable` for a missing secret or a refused permission) and
/// never carry the value.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Makes `value` the current version of the secret `id`.
    async fn put(&self, id: &str, value: &SecretString) -> Result<(), SecretError>;
}
