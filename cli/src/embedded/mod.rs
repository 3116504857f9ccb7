//! Embedded adapters of the ports, for `qalita-gitlab serve` on one machine: the link store and the
//! event queue on a redb database file (with the semantics of DynamoDB and SQS FIFO), and secrets
//! from the environment or a private file. Every redb call runs on tokio's blocking pool.
//!
//! After a storage failure (a full disk, a failing device) redb refuses every later call until the
//! database is closed and opened again: [`EmbeddedDb`] then refuses calls itself (as unavailable,
//! with the reason, so that deliveries get `503` and [`EmbeddedDb::health`] tells why) and reopens
//! the file on a later call, with back-off, so that the pipeline heals without a restart once the
//! disk has room again. What was committed before the failure is still there after the reopen.

mod backend;
pub mod queue;
pub mod secrets;
pub mod store;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use redb::backends::FileBackend;
use redb::{Database, DatabaseError, StorageError};
use tokio::sync::{Notify, watch};

pub use backend::DiskFaults;

/// The first pause after a storage failure before the file is reopened; it doubles after each
/// reopen that fails, up to [`MAX_REOPEN_PAUSE`].
const FIRST_REOPEN_PAUSE: Duration = Duration::from_millis(200);
/// The longest pause between two reopens, so that a freed disk is noticed within seconds.
const MAX_REOPEN_PAUSE: Duration = Duration::from_secs(5);
/// The pause when a reopen is due but calls begun before the failure still hold the old file.
const BUSY_REOPEN_PAUSE: Duration = Duration::from_millis(20);
/// The least time between two warnings that the database still cannot be reopened.
const STILL_FAILING_WARNING: Duration = Duration::from_secs(60);

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

/// Whether the database works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// It works (as far as the last call knows).
    Ok,
    /// A call failed with a storage error: calls are refused (as unavailable) until the file is
    /// reopened, which later calls try, with back-off.
    Failing {
        /// The storage error, in words.
        reason: String,
        /// How long it has been failing.
        since: Duration,
    },
    /// The file cannot be reopened in this process (it is gone, corrupted, or another process
    /// took it while it was closed): every call is refused until the process is restarted.
    Lost {
        /// Why, in words.
        reason: String,
    },
}

/// One redb database file, shared by the link store and the event queue of a process. Cheap to
/// clone; the file is closed when the last clone (and every adapter built on it) is dropped.
#[derive(Clone)]
pub struct EmbeddedDb {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EmbeddedDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedDb").field("path", &self.shared.path).finish_non_exhaustive()
    }
}

struct Shared {
    path: PathBuf,
    faults: DiskFaults,
    state: Mutex<State>,
    /// Woken when a queue message may have become receivable, for every queue handle on the file,
    /// and when the database starts failing.
    changes: Arc<Notify>,
    /// What [`EmbeddedDb::health`] tells: kept apart from `state`, whose lock a reopen holds
    /// while it works on the file, so that a look at the health never waits for the disk.
    status: watch::Sender<Status>,
}

/// The database's state as [`Health`] shows it.
#[derive(Clone)]
enum Status {
    Ok,
    Failing { reason: String, since: Instant },
    Lost { reason: String },
}

struct State {
    /// `None` only while a reopen is under way, or after the file was lost.
    db: Option<Arc<Database>>,
    failure: Option<Failure>,
}

/// A storage failure not repaired yet.
struct Failure {
    reason: String,
    since: Instant,
    reopens: u32,
    retry_at: Instant,
    warned_at: Instant,
}

/// Why a reopen failed.
enum Reopen {
    /// It may work later (the disk is still full).
    Later(String),
    /// It cannot work in this process.
    Never(String),
}

impl EmbeddedDb {
    /// Opens the database at `path`, creating the file if it does not exist. Only one process may
    /// have it open at a time ([`OpenError::InUse`] otherwise).
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, OpenError> {
        Self::open_with(path, DiskFaults::new()).await
    }

    /// [`EmbeddedDb::open`], with writes failing while `faults` is on (tests of storage failures).
    pub async fn open_with(path: impl Into<PathBuf>, faults: DiskFaults) -> Result<Self, OpenError> {
        let path: PathBuf = path.into();
        let (opening, switch) = (path.clone(), faults.clone());
        let opened = tokio::task::spawn_blocking(move || open_file(&opening, &switch, true)).await;
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => return Err(OpenError::InUse { path }),
            Ok(Err(error)) => return Err(OpenError::Database { path, source: Box::new(error.into()) }),
            Err(join) => return Err(OpenError::Prepare { path, message: format!("the opening task failed: {join}") }),
        };
        let shared = Shared {
            path,
            faults,
            state: Mutex::new(State { db: Some(Arc::new(db)), failure: None }),
            changes: Arc::new(Notify::new()),
            status: watch::Sender::new(Status::Ok),
        };
        Ok(EmbeddedDb { shared: Arc::new(shared) })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Whether the database works, as the last call found it.
    pub fn health(&self) -> Health {
        match &*self.shared.status.borrow() {
            Status::Ok => Health::Ok,
            Status::Failing { reason, since } => Health::Failing { reason: reason.clone(), since: since.elapsed() },
            Status::Lost { reason } => Health::Lost { reason: reason.clone() },
        }
    }

    /// Resolves once the file is lost to this process (see [`Health::Lost`]), with the reason.
    pub async fn lost(&self) -> String {
        let mut receiver = self.shared.status.subscribe();
        let lost =
            receiver.wait_for(|status| matches!(status, Status::Lost { .. })).await.map(|status| match &*status {
                Status::Lost { reason } => reason.clone(),
                Status::Ok | Status::Failing { .. } => String::new(),
            });
        match lost {
            Ok(reason) => reason,
            // The sender lives in `shared`, which this handle keeps alive.
            Err(_) => std::future::pending().await,
        }
    }

    /// The notification of changes that may make a queue message receivable.
    pub(crate) fn changes(&self) -> Arc<Notify> {
        self.shared.changes.clone()
    }

    /// Creates the tables an adapter uses, so that reads never meet a missing table.
    pub(crate) async fn prepare(
        &self,
        tables: fn(&redb::WriteTransaction) -> Result<(), redb::Error>,
    ) -> Result<(), OpenError> {
        let prepared = self
            .run(move |db| -> Result<(), TxError<PrepareError>> {
                let tx = db.begin_write()?;
                tables(&tx)?;
                tx.commit()?;
                Ok(())
            })
            .await;
        prepared.map_err(|PrepareError(message)| OpenError::Prepare { path: self.shared.path.clone(), message })
    }

    /// Runs `work` on the database on tokio's blocking pool, and maps its failure into the port's
    /// error. A storage failure marks the database failing; while it is, `work` does not run.
    pub(crate) async fn run<T, E>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, TxError<E>> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: PortError,
    {
        let shared = self.shared.clone();
        match tokio::task::spawn_blocking(move || shared.with_db(work)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(TxError::Db(error))) => Err(E::from_db(error)),
            Ok(Err(TxError::Refused(error))) => Err(error),
            Ok(Err(TxError::Failing(reason))) => Err(E::failing(reason)),
            Err(join) => Err(E::interrupted(join)),
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while the lock was held leaves a state that is still consistent: take it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `work` (on a blocking thread), reopening the file first if it failed and a reopen is due.
    fn with_db<T, E>(&self, work: impl FnOnce(&Database) -> Result<T, TxError<E>>) -> Result<T, TxError<E>> {
        let db = self.acquire().map_err(TxError::Failing)?;
        let result = work(&db);
        drop(db);
        if let Err(TxError::Db(error)) = &result
            && fails_storage(error)
        {
            self.failed(error);
        }
        result
    }

    /// The database to use now, or why there is none.
    fn acquire(&self) -> Result<Arc<Database>, String> {
        if let Status::Lost { reason } = &*self.status.borrow() {
            return Err(reason.clone());
        }
        let mut state = self.lock();
        let now = Instant::now();
        let State { db, failure } = &mut *state;
        let Some(failing) = failure.as_mut() else {
            return db.clone().ok_or_else(|| "the database is closed".to_owned());
        };
        if now < failing.retry_at {
            return Err(failing.reason.clone());
        }
        // redb needs a close and an open after a storage error; the close waits for calls begun
        // before it (they fail fast) to let go of the old handle.
        if let Some(old) = db.take() {
            match Arc::try_unwrap(old) {
                Ok(old) => {
                    if let Err(error) = old.close() {
                        tracing::debug!(error = %error, "closing the failed database");
                    }
                }
                Err(old) => {
                    *db = Some(old);
                    failing.retry_at = now + BUSY_REOPEN_PAUSE;
                    return Err(failing.reason.clone());
                }
            }
        }
        match reopen(&self.path, &self.faults) {
            Ok(reopened) => {
                tracing::info!(
                    database = %self.path.display(),
                    failed_for_ms = failing.since.elapsed().as_millis() as u64,
                    reopens = failing.reopens + 1,
                    "the database was reopened and works again"
                );
                let reopened = Arc::new(reopened);
                *db = Some(reopened.clone());
                *failure = None;
                self.status.send_replace(Status::Ok);
                Ok(reopened)
            }
            Err(Reopen::Later(reason)) => {
                failing.reopens = failing.reopens.saturating_add(1);
                failing.retry_at = now + reopen_pause(failing.reopens);
                failing.reason = reason;
                self.status.send_replace(Status::Failing { reason: failing.reason.clone(), since: failing.since });
                if now.duration_since(failing.warned_at) >= STILL_FAILING_WARNING {
                    failing.warned_at = now;
                    tracing::warn!(
                        database = %self.path.display(),
                        reason = %failing.reason,
                        failing_for_s = failing.since.elapsed().as_secs(),
                        reopens = failing.reopens,
                        "the database still cannot be reopened; deliveries are still answered 503"
                    );
                }
                Err(failing.reason.clone())
            }
            Err(Reopen::Never(reason)) => {
                tracing::error!(database = %self.path.display(), reason = %reason, "the database is lost to this process");
                self.status.send_replace(Status::Lost { reason: reason.clone() });
                *failure = None;
                Err(reason)
            }
        }
    }

    /// Marks the database failing after `error`, unless it already is.
    fn failed(&self, error: &redb::Error) {
        let mut state = self.lock();
        if state.failure.is_some() {
            return;
        }
        let now = Instant::now();
        let reason = format!("the database failed: {error}");
        tracing::error!(
            database = %self.path.display(),
            reason = %reason,
            "storage failure: deliveries are answered 503 and the worker waits until the database can be reopened"
        );
        self.status.send_replace(Status::Failing { reason: reason.clone(), since: now });
        state.failure =
            Some(Failure { reason, since: now, reopens: 0, retry_at: now + FIRST_REOPEN_PAUSE, warned_at: now });
        // Wakes an idle worker: its tries, with their back-off, then reopen the file when it can be.
        self.changes.notify_waiters();
    }
}

fn reopen_pause(reopens: u32) -> Duration {
    FIRST_REOPEN_PAUSE.saturating_mul(2u32.saturating_pow(reopens.min(16))).min(MAX_REOPEN_PAUSE)
}

/// Opens the database file through the [`backend::Backend`]; creates the file if `create`.
fn open_file(path: &Path, faults: &DiskFaults, create: bool) -> Result<Database, DatabaseError> {
    let file = OpenOptions::new().read(true).write(true).create(create).truncate(false).open(path)?;
    let backend = backend::Backend::new(FileBackend::new(file)?, faults.clone());
    Database::builder().create_with_backend(backend)
}

/// Opens the file again after a failure. Never creates it: an empty database in place of a
/// vanished one would lose every message and link without a word.
fn reopen(path: &Path, faults: &DiskFaults) -> Result<Database, Reopen> {
    match open_file(path, faults, false) {
        Ok(db) => Ok(db),
        Err(DatabaseError::Storage(StorageError::Io(error))) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(Reopen::Never("the database file is gone".to_owned()))
        }
        Err(DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch) => {
            Err(Reopen::Never("another process opened the database file while it was being reopened".to_owned()))
        }
        Err(error @ (DatabaseError::UpgradeRequired(_) | DatabaseError::Storage(StorageError::Corrupted(_)))) => {
            Err(Reopen::Never(format!("the database cannot be reopened: {error}")))
        }
        Err(error) => Err(Reopen::Later(format!("the database cannot be reopened yet: {error}"))),
    }
}

/// Whether `error` leaves redb refusing every later call until the file is reopened.
fn fails_storage(error: &redb::Error) -> bool {
    matches!(
        error,
        redb::Error::Io(_)
            | redb::Error::Backend(_)
            | redb::Error::PreviousIo
            | redb::Error::Corrupted(_)
            | redb::Error::LockPoisoned(_)
    )
}

/// The failure of preparing the tables, in words.
struct PrepareError(String);

impl PortError for PrepareError {
    fn from_db(error: Box<redb::Error>) -> Self {
        PrepareError(error.to_string())
    }

    fn corrupt(what: String) -> Self {
        PrepareError(what)
    }

    fn failing(reason: String) -> Self {
        PrepareError(reason)
    }

    fn interrupted(error: tokio::task::JoinError) -> Self {
        PrepareError(format!("the task failed: {error}"))
    }
}

/// A failure inside a unit of blocking work: of the database, or a refusal the adapter decided
/// (a conflict, an invalid request), already in the port's error type.
pub(crate) enum TxError<E> {
    /// redb failed.
    Db(Box<redb::Error>),
    /// The adapter refuses the request.
    Refused(E),
    /// The database is failing and was not reopened yet: the work did not run.
    Failing(String),
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
    /// The database is failing (see [`Health::Failing`]) and the call was not tried.
    fn failing(reason: String) -> Self;
    /// The blocking task did not finish (it panicked, or the runtime is shutting down).
    fn interrupted(error: tokio::task::JoinError) -> Self;
}

/// Why a call was not tried: the database is failing, or lost.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct Failing {
    /// The storage error, in words.
    pub reason: String,
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
