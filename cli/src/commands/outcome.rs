//! What a command gives back: its output in both forms and its exit code, or an error that knows
//! its exit code. Errors are classified here once, from the ports' own classification (transient or
//! not), so that every command maps the same failure to the same code.

use std::process::ExitCode;

use qalita_gitlab_core::engine::SyncError;
use qalita_gitlab_core::ports::{ApiError, QueueError, SecretError, StoreError};
use serde_json::{Value, json};

use super::global::OutputFormat;

/// The exit codes scripts rely on (see [`super::EXIT_CODES_HELP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done; every check passed.
    Ok = 0,
    /// A failure was found or hit that retrying will not fix.
    Failure = 1,
    /// Usage or configuration error.
    Usage = 2,
    /// A remote service is unavailable: try again later.
    Unavailable = 3,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A command's result: the text for people, the document for scripts, the exit code.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What `--output human` prints (a trailing newline is added when missing).
    pub human: String,
    /// What `--output json` prints.
    pub json: Value,
    /// The exit code.
    pub exit: Exit,
}

impl Outcome {
    /// A successful outcome.
    pub fn ok(human: impl Into<String>, json: Value) -> Self {
        Outcome { human: human.into(), json, exit: Exit::Ok }
    }

    /// An outcome that reports a failure found (exit 1) with its full output.
    pub fn failed(human: impl Into<String>, json: Value) -> Self {
        Outcome { human: human.into(), json, exit: Exit::Failure }
    }
}

/// Why a command did not complete. The message never holds a secret: the ports' errors carry none,
/// and the command's own messages name secrets by id only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A failure retrying will not fix (exit 1).
    #[error("{0}")]
    Failure(String),
    /// Usage or configuration error (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A remote service is unavailable (exit 3).
    #[error("{0}")]
    Unavailable(String),
}

impl CommandError {
    /// The exit code.
    pub fn exit(&self) -> Exit {
        match self {
            CommandError::Failure(_) => Exit::Failure,
            CommandError::Usage(_) => Exit::Usage,
            CommandError::Unavailable(_) => Exit::Unavailable,
        }
    }

    /// The same error with `context` in front of its message.
    pub fn context(self, context: impl std::fmt::Display) -> Self {
        match self {
            CommandError::Failure(m) => CommandError::Failure(format!("{context}: {m}")),
            CommandError::Usage(m) => CommandError::Usage(format!("{context}: {m}")),
            CommandError::Unavailable(m) => CommandError::Unavailable(format!("{context}: {m}")),
        }
    }
}

/// AWS error codes that say the resource named is missing or may not be used: a configuration
/// mistake (a wrong table name, queue URL, secret id, region or credentials), not an outage.
const CONFIGURATION_CLASSES: &[&str] = &[
    "ResourceNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "NotFound",
    "NotSet",
    "InvalidAddress",
];

fn is_configuration(class: &str) -> bool {
    CONFIGURATION_CLASSES.contains(&class)
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::Unavailable { .. } | StoreError::Conflict => {
                CommandError::Unavailable(format!("{error}: try again"))
            }
            StoreError::Rejected { class, .. } if is_configuration(class) => CommandError::Usage(format!(
                "{error} (check --table / QALITA_GITLAB_TABLE, the region and the credentials)"
            )),
            StoreError::Rejected { .. } => CommandError::Failure(error.to_string()),
        }
    }
}

impl From<QueueError> for CommandError {
    fn from(error: QueueError) -> Self {
        match &error {
            QueueError::Unavailable { .. } => CommandError::Unavailable(error.to_string()),
            QueueError::Rejected { class, .. } if is_configuration(class) => CommandError::Usage(format!(
                "{error} (check --queue-url / --dlq-url or --stack-name, the region and the credentials)"
            )),
            QueueError::Rejected { .. } => CommandError::Failure(error.to_string()),
        }
    }
}

impl From<SecretError> for CommandError {
    fn from(error: SecretError) -> Self {
        match &error {
            SecretError::Unavailable { .. } => CommandError::Unavailable(error.to_string()),
            SecretError::Unreadable { .. } => CommandError::Usage(error.to_string()),
        }
    }
}

impl From<ApiError> for CommandError {
    fn from(error: ApiError) -> Self {
        match &error {
            ApiError::Transient { retry_after: Some(wait), .. } => {
                CommandError::Unavailable(format!("{error} (the server asked to wait {} s)", wait.as_secs()))
            }
            ApiError::Transient { .. } => CommandError::Unavailable(error.to_string()),
            ApiError::NotFound { .. } | ApiError::Permanent { .. } => CommandError::Failure(error.to_string()),
        }
    }
}

impl From<SyncError> for CommandError {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::Api(error) => error.into(),
            SyncError::Store(error) => error.into(),
            SyncError::Reserved { age_seconds, stale_in } => CommandError::Unavailable(format!(
                "another worker is creating this GitLab issue (reserved {age_seconds} s ago); try again in {} s",
                stale_in.as_secs()
            )),
        }
    }
}

/// Prints a command's result in the chosen format and gives its exit code.
pub(super) fn print(format: OutputFormat, result: Result<Outcome, CommandError>) -> ExitCode {
    match (format, result) {
        (OutputFormat::Human, Ok(outcome)) => {
            let text = outcome.human;
            if text.ends_with('\n') || text.is_empty() {
                print!("{text}");
            } else {
                println!("{text}");
            }
            outcome.exit.into()
        }
        (OutputFormat::Json, Ok(outcome)) => {
            println!("{}", pretty(&outcome.json));
            outcome.exit.into()
        }
        (format, Err(error)) => {
            eprintln!("error: {error}");
            if format == OutputFormat::Json {
                let exit = error.exit() as u8;
                println!("{}", pretty(&json!({ "error": { "message": error.to_string(), "exit_code": exit } })));
            }
            error.exit().into()
        }
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use qalita_gitlab_core::ports::Service;

    use super::*;

    #[test]
    fn errors_map_to_the_documented_exit_codes() {
        let transient = ApiError::Transient {
            service: Service::Gitlab,
            kind: qalita_gitlab_core::ports::TransientKind::Http(429),
            retry_after: Some(Duration::from_secs(30)),
            message: String::new(),
        };
        let error = CommandError::from(transient);
        assert_eq!(error.exit(), Exit::Unavailable);
        assert!(error.to_string().contains("wait 30 s"), "{error}");
        let refused = ApiError::Permanent { service: Service::Gitlab, status: 403, message: "403 Forbidden".into() };
        assert_eq!(CommandError::from(refused).exit(), Exit::Failure);
        let missing_table = StoreError::Rejected { class: "ResourceNotFoundException".into(), message: "no".into() };
        assert_eq!(CommandError::from(missing_table).exit(), Exit::Usage);
        assert_eq!(CommandError::from(StoreError::Conflict).exit(), Exit::Unavailable);
    }
}
