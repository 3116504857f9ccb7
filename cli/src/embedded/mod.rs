//! Embedded adapters of the ports, for `qalita-gitlab serve` on one machine: the link store and the
//! event queue on a redb database file (with the semantics of DynamoDB and SQS FIFO), and secrets
//! from the environment or a private file. Every redb call runs on tokio's blocking pool.

pub mod queue;
pub mod secrets;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::Database;
use tokio::sync::Notify;

/// Why the embedded database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (or another handle in this one) holds the file.
    #[error("the database {path} is already in use (is another qalita-gitlab running?): stop it, or use another file")]
    InUse {
        /// The database file.
        path: PathBuf,
    },
    /// The file could not be created, read, or is not a database of a redb version this build reads.
    #[error("cannot open the database {path}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What redb said.
        #[source]
        source: Box<redb::Error>,
    },
    /// The database tables could not be created.
    #[error("cannot prepare the database {path}: {message}")]
    Prepare {
        /// The database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// One redb database file, shared by the link store and the event queue of a process. Cheap to
/// clone; the file is closed when the last clone (and every adapter built on it) is dropped.
#[derive(Clone)]
pub struct EmbeddedDb {
    db: Arc<Database>,
    path: Arc<Path>,
    /// Woken when a queue message may have become receivable, for every queue handle on the file.
    changes: Arc<Notify>,
}

impl std::fmt::Debug for EmbeddedDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedDb").field("path", &self.path).finish_non_exhaustive()
    }
}

impl EmbeddedDb {
    /// Opens the database at `path`, creating the file if it does not exist. Only one process may
    /// have it open at a time ([`OpenError::InUse`] otherwise).
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, OpenError> {
        let path: PathBuf = path.into();
        let opening = path.clone();
        let opened = tokio::task::spawn_blocking(move || Database::create(&opening)).await;
        match opened {
            Ok(Ok(db)) => Ok(EmbeddedDb { db: Arc::new(db), path: path.into(), changes: Arc::new(Notify::new()) }),
            Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => Err(OpenError::InUse { path }),
            Ok(Err(error)) => Err(OpenError::Database { path, source: Box::new(error.into()) }),
            Err(join) => Err(OpenError::Prepare { path, message: format!("the opening task failed: {join}") }),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database, for the adapters of this module.
    pub(crate) fn database(&self) -> Arc<Database> {
        self.db.clone()
    }

    /// The notification of changes that may make a queue message receivable.
    pub(crate) fn changes(&self) -> Arc<Notify> {
        self.changes.clone()
    }

    /// Creates the tables an adapter uses, so that reads never meet a missing table.
    pub(crate) async fn prepare(
        &self,
        tables: fn(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), OpenError> {
        let db = self.database();
        let prepared = tokio::task::spawn_blocking(move || -> Result<(), redb::Error> {
            let tx = db.begin_write()?;
            tables(&tx)?;
            tx.commit()?;
            Ok(())
        })
        .await;
        let path = self.path.to_path_buf();
        match prepared {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(OpenError::Prepare { path, message: error.to_string() }),
            Err(join) => Err(OpenError::Prepare { path, message: format!("the task failed: {join}") }),
        }
    }
}

/// A failure inside a unit of blocking work: of the database, or a refusal the adapter decided
/// (a conflict, an invalid request), already in the port's error type.
pub(crate) enum TxError<E> {
    /// redb failed.
    Db(Box<redb::Error>),
    /// The adapter refuses the request.
    Refused(E),
}

macro_rules! from_redb {
    ($($error:ty),+) => {
        $(impl<E> From<$error> for TxError<E> {
            fn from(error: $error) -> Self {
                TxError::Db(Box::new(error.into()))
            }
        })+
    };
}

from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// How a port's error type is made from what can go wrong around redb.
pub(crate) trait PortError: Send + 'static {
    /// A database failure: transient ones (I/O, a closed database) are worth retrying.
    fn from_db(error: Box<redb::Error>) -> Self;
    /// A stored record this code cannot read: no retry will help.
    fn corrupt(what: String) -> Self;
    /// The blocking task did not finish (it panicked, or the runtime is shutting down).
    fn interrupted(error: tokio::task::JoinError) -> Self;
}

/// Runs `work` on tokio's blocking pool and maps its failure into the port's error.
pub(crate) async fn blocking<T, E>(work: impl FnOnce() -> Result<T, TxError<E>> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: PortError,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(TxError::Db(error))) => Err(E::from_db(error)),
        Ok(Err(TxError::Refused(error))) => Err(error),
        Err(join) => Err(E::interrupted(join)),
    }
}

/// A short, stable class of a redb failure, and whether the same call may succeed later: I/O
/// failures (a full disk, a flaky device) and a database closing under the call are transient;
/// corruption, a file format or table layout this build does not read, are not.
pub(crate) fn classify(error: &redb::Error) -> (&'static str, bool) {
    match error {
        redb::Error::Io(_) | redb::Error::Backend(_) => ("redb-io", true),
        redb::Error::PreviousIo => ("redb-previous-io", true),
        redb::Error::DatabaseClosed => ("redb-closed", true),
        redb::Error::TransactionInProgress | redb::Error::WouldBlock => ("redb-busy", true),
        redb::Error::Corrupted(_) => ("redb-corrupted", false),
        redb::Error::UpgradeRequired(_) => ("redb-upgrade-required", false),
        redb::Error::ValueTooLarge(_) => ("redb-value-too-large", false),
        _ => ("redb", false),
    }
}

/// Reads a JSON record back; `what` names it in the error.
pub(crate) fn from_json<T: serde::de::DeserializeOwned, E: PortError>(
    json: &str,
    what: impl FnOnce() -> String,
) -> Result<T, TxError<E>> {
    serde_json::from_str(json).map_err(|e| TxError::Refused(E::corrupt(format!("{} is not readable: {e}", what()))))
}
