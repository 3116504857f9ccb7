//! Why `serve` could not start, or stopped: each error says what to fix, and none carries a secret
//! (secrets errors carry the secret's name and where it was looked for, never a value).

use std::error::Error;
use std::path::PathBuf;

use qalita_gitlab_core::adapters::gitlab_http::GitlabClientError;
use qalita_gitlab_core::adapters::qalita_http::QalitaClientError;
use qalita_gitlab_core::config::ConfigError;
use qalita_gitlab_core::ports::{SecretError, StoreError};

use super::tls::TlsError;
use crate::embedded::OpenError;
use crate::embedded::secrets::SecretFileError;

/// Why the pipeline cannot start. Each names the setting or file to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data folder cannot be created.
    #[error("cannot create the data folder {path} (--data-dir)", path = .path.display())]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The database cannot be opened (in use by another process, unreadable).
    #[error(transparent)]
    Database(#[from] OpenError),
    /// The database opened but a read failed.
    #[error("cannot read the database")]
    Store(#[source] StoreError),
    /// The configuration file cannot be read.
    #[error("cannot read the configuration file {path} (--config)", path = .path.display())]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is not valid.
    #[error("the configuration {origin} is not valid{hint}")]
    Config {
        /// Where it came from: the file, the database, or the environment alone.
        origin: String,
        /// A hint when no configuration was given at all.
        hint: &'static str,
        /// What is wrong, naming the key.
        #[source]
        source: ConfigError,
    },
    /// The secrets file cannot be used.
    #[error("the secrets file cannot be used (--secrets-file)")]
    SecretsFile(#[source] SecretFileError),
    /// A secret cannot be read.
    #[error("the {what} cannot be read{hint}")]
    Secret {
        /// Which secret, in words.
        what: &'static str,
        /// Where secrets can be given.
        hint: &'static str,
        /// Why (names the secret id or the variable, never a value).
        #[source]
        source: SecretError,
    },
    /// A secret was read but cannot be used (a signing secret not of GitLab's form).
    #[error("the {what} ({id}) cannot be used: {problem}; set {place}")]
    UnusableSecret {
        /// Which secret, in words.
        what: &'static str,
        /// Its id.
        id: &'static str,
        /// What is wrong with it (never its value).
        problem: String,
        /// Where to set it.
        place: String,
    },
    /// A setting of the QALITA webhook route (`QALITA_WEBHOOK_*`) is not valid.
    #[error("the QALITA webhook route cannot be set up")]
    QalitaRoute(#[source] qalita_gitlab_webhook::config::ConfigError),
    /// The TLS certificate or key cannot be used.
    #[error("cannot serve HTTPS")]
    Tls(#[source] TlsError),
    /// The GitLab client cannot be built (a bad base URL, CA bundle or token format).
    #[error("cannot set up the GitLab client (gitlab.base_url, gitlab.ca_bundle, the GitLab token)")]
    Gitlab(#[source] GitlabClientError),
    /// The QALITA client cannot be built.
    #[error("cannot set up the QALITA client (qalita.base_url, qalita.paths, the QALITA token)")]
    Qalita(#[source] QalitaClientError),
    /// The webhook endpoint cannot listen.
    #[error("cannot listen on {address} (--listen): is another program using that port?")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// Why the pipeline stopped other than by a request to stop.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The webhook endpoint failed.
    #[error("the webhook endpoint stopped")]
    Front(#[source] std::io::Error),
    /// A task of the pipeline died.
    #[error("the {task} stopped unexpectedly")]
    Task {
        /// Which task.
        task: &'static str,
        /// How.
        #[source]
        source: tokio::task::JoinError,
    },
    /// The database failed in a way this process cannot repair (its file is gone, corrupted, or
    /// another process took it while it was being reopened).
    #[error("the database is lost to this process: {reason}")]
    StorageLost {
        /// Why.
        reason: String,
    },
    /// A task of the pipeline returned although no stop was asked (it must run until one is).
    #[error("the {task} ended before any stop was asked")]
    Ended {
        /// Which task.
        task: &'static str,
    },
}

/// The error and its causes on one line: `what: why: deeper why`.
pub fn describe(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        // `#[error(transparent)]` and wrappers that repeat their source would say it twice.
        if !text.ends_with(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}
