//! What the worker last did, kept in the table's settings for `qalita-gitlab status` (which reads
//! the table, not CloudWatch): the last poll and reconcile, and the worker's own record of its
//! batches: the age of the oldest message it took, and the GitLab and QALITA answers 429 it got,
//! in six ten-minute slots (the last hour).
//!
//! Settings keys: `activity:poll`, `activity:reconcile`, `activity:worker`, one JSON document
//! each. The worker record is read, added to and written back once per batch at most once a
//! minute per process (at once when a 429 came), so it costs two calls a minute at most; two
//! workers writing in the same instant can lose one's 429s (CloudWatch's `*Calls429` metrics are
//! exact, this is the operator's quick view).

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::health::{read, write};
use crate::metrics::{self, Figure, Origin, Registry, StatusClass};
use crate::ports::{Settings, StoreError};

/// The settings key of the last poll.
pub const POLL_KEY: &str = "activity:poll";
/// The settings key of the last reconcile.
pub const RECONCILE_KEY: &str = "activity:reconcile";
/// The settings key of the worker's record.
pub const WORKER_KEY: &str = "activity:worker";

/// The length of a 429 slot.
pub const SLOT: TimeDelta = TimeDelta::minutes(10);
/// The slots kept: one hour.
pub const SLOTS: usize = 6;
/// The least time between two writes of the worker record by one process without a new 429.
pub const WORKER_WRITE_INTERVAL: Duration = Duration::from_secs(60);

/// One scheduled run (poll or reconcile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub took_ms: u64,
    /// Issues read.
    pub read: u64,
    /// Issues queued (poll) or synced (reconcile).
    pub changed: u64,
    /// Issues that failed.
    pub failed: u64,
    /// Why it stopped early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// The 429s of one ten-minute slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitSlot {
    /// The slot's start.
    pub start: DateTime<Utc>,
    /// GitLab's answers 429.
    pub gitlab: u64,
    /// QALITA's answers 429.
    pub qalita: u64,
}

/// The worker's record of its batches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerRecord {
    /// When a batch was last recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The age of the oldest message of that batch when it was taken, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_message_age_s: Option<u64>,
    /// The last hour's 429s, newest slot last.
    #[serde(default)]
    pub rate_limited: Vec<RateLimitSlot>,
}

/// The start of the slot holding `at`.
fn slot_of(at: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = SLOT.num_seconds();
    DateTime::from_timestamp(at.timestamp().div_euclid(seconds) * seconds, 0).unwrap_or(at)
}

impl WorkerRecord {
    /// Adds a batch seen at `now`: the oldest message's age, and 429s.
    pub fn add(&mut self, now: DateTime<Utc>, oldest_message_age: Option<Duration>, gitlab: u64, qalita: u64) {
        self.at = Some(now);
        if let Some(age) = oldest_message_age {
            self.oldest_message_age_s = Some(age.as_secs());
        }
        let start = slot_of(now);
        self.rate_limited.retain(|slot| now - slot.start < SLOT * SLOTS as i32);
        if gitlab + qalita > 0 {
            match self.rate_limited.iter_mut().find(|slot| slot.start == start) {
                Some(slot) => {
                    slot.gitlab += gitlab;
                    slot.qalita += qalita;
                }
                None => self.rate_limited.push(RateLimitSlot { start, gitlab, qalita }),
            }
        }
        self.rate_limited.sort_by_key(|slot| slot.start);
    }

    /// The 429s (GitLab's, QALITA's) of the slots that overlap the hour before `now`.
    pub fn rate_limited_last_hour(&self, now: DateTime<Utc>) -> (u64, u64) {
        let since = now - TimeDelta::hours(1);
        self.rate_limited
            .iter()
            .filter(|slot| slot.start + SLOT > since && slot.start <= now)
            .fold((0, 0), |(g, q), slot| (g + slot.gitlab, q + slot.qalita))
    }
}

/// The last run recorded under `key` ([`POLL_KEY`], [`RECONCILE_KEY`]).
pub async fn run(store: &dyn Settings, key: &str) -> Result<Option<RunRecord>, StoreError> {
    read(store, key).await
}

/// A scheduled run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// The poll of QALITA.
    Poll,
    /// The reconcile of GitLab.
    Reconcile,
}

impl Run {
    /// Its settings key.
    pub fn key(self) -> &'static str {
        match self {
            Run::Poll => POLL_KEY,
            Run::Reconcile => RECONCILE_KEY,
        }
    }
}

/// Adds a finished run to the metrics (duration, issues read, changed, failed) and records it
/// for `qalita-gitlab status`.
pub async fn finish_run(store: &dyn Settings, run: Run, record: &RunRecord) {
    let (duration, read, changed, failed) = match run {
        Run::Poll => (Figure::PollDuration, Figure::PollRead, Figure::PollEnqueued, Figure::PollFailed),
        Run::Reconcile => {
            (Figure::ReconcileDuration, Figure::ReconcileRead, Figure::ReconcileSynced, Figure::ReconcileFailed)
        }
    };
    metrics::time(duration, Duration::from_millis(record.took_ms));
    metrics::count_n(read, record.read);
    metrics::count_n(changed, record.changed);
    metrics::count_n(failed, record.failed);
    set_run(store, run.key(), record).await;
}

/// Records a run under `key`; a failure is logged (the run's work is done either way).
pub async fn set_run(store: &dyn Settings, key: &str, record: &RunRecord) {
    if let Err(error) = write(store, key, record).await {
        tracing::warn!(key, error = %error, "activity record not written");
    }
}

/// The worker's record.
pub async fn worker(store: &dyn Settings) -> Result<Option<WorkerRecord>, StoreError> {
    read(store, WORKER_KEY).await
}

/// What one worker process (a Lambda cold start) has added to the worker record: the 429s it
/// counted, and when it last wrote. Kept with the worker's dependencies, its time the worker's
/// clock: a process does the same whatever the wall clock says (the deterministic simulation runs
/// many such processes in one).
#[derive(Debug)]
pub struct Noted(Mutex<(u64, u64, Option<DateTime<Utc>>)>);

impl Noted {
    /// A new process: the 429s counted so far in this OS process were not its own.
    pub fn new() -> Self {
        let (gitlab, qalita) = rate_limited_totals(metrics::global());
        Noted(Mutex::new((gitlab, qalita, None)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, u64, Option<DateTime<Utc>>)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for Noted {
    fn default() -> Self {
        Self::new()
    }
}

/// The answers 429 of `registry` so far: GitLab's, QALITA's.
pub fn rate_limited_totals(registry: &Registry) -> (u64, u64) {
    let mut totals = (0, 0);
    for (figure, total) in registry.totals() {
        match figure {
            Figure::Call(Origin::Gitlab, StatusClass::RateLimited) => totals.0 = total.value as u64,
            Figure::Call(Origin::Qalita, StatusClass::RateLimited) => totals.1 = total.value as u64,
            _ => {}
        }
    }
    totals
}

/// Records a batch the worker took at `now` whose oldest message was `oldest_message_age` old,
/// with the 429s this process got since it last wrote: at most once a minute per process, at once
/// when there are new 429s. A store that fails is logged, never an error of the batch.
pub async fn note_batch(noted: &Noted, store: &dyn Settings, now: DateTime<Utc>, oldest_message_age: Option<Duration>) {
    let (gitlab, qalita) = rate_limited_totals(metrics::global());
    let (new_gitlab, new_qalita) = {
        let (seen_gitlab, seen_qalita, last) = *noted.lock();
        let (new_gitlab, new_qalita) = (gitlab.saturating_sub(seen_gitlab), qalita.saturating_sub(seen_qalita));
        let recently = last.is_some_and(|last| (now - last).to_std().is_ok_and(|gone| gone < WORKER_WRITE_INTERVAL));
        if new_gitlab + new_qalita == 0 && recently {
            return;
        }
        (new_gitlab, new_qalita)
    };
    let mut record = match worker(store).await {
        Ok(record) => record.unwrap_or_default(),
        Err(error) => {
            tracing::warn!(error = %error, "the worker's activity record is unreadable; not written this batch");
            return;
        }
    };
    record.add(now, oldest_message_age, new_gitlab, new_qalita);
    match write(store, WORKER_KEY, &record).await {
        Ok(()) => {
            *noted.lock() = (gitlab, qalita, Some(now));
        }
        Err(error) => tracing::warn!(error = %error, "the worker's activity record was not written"),
    }
}

/// Writes the worker record as it stands (tests, and a batch noted by another process).
pub async fn set_worker(store: &dyn Settings, record: &WorkerRecord) -> Result<(), StoreError> {
    write(store, WORKER_KEY, record).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_429s_fall_in_ten_minute_slots_and_leave_after_an_hour() {
        let mut record = WorkerRecord::default();
        record.add(at("2026-12-03T10:01:00Z"), Some(Duration::from_secs(42)), 2, 0);
        record.add(at("2026-12-03T10:09:59Z"), None, 1, 1);
        record.add(at("2026-12-03T10:35:00Z"), None, 0, 4);

        assert_eq!(record.rate_limited.len(), 2);
        assert_eq!(record.rate_limited[0], RateLimitSlot { start: at("2026-12-03T10:00:00Z"), gitlab: 3, qalita: 1 });
        assert_eq!(record.oldest_message_age_s, Some(42), "a batch without an age keeps the last one");
        assert_eq!(record.rate_limited_last_hour(at("2026-12-03T10:40:00Z")), (3, 5));
        assert_eq!(
            record.rate_limited_last_hour(at("2026-12-03T11:15:00Z")),
            (0, 4),
            "the 10:00 slot is over an hour old"
        );
        record.add(at("2026-12-03T11:30:00Z"), None, 0, 0);
        assert!(record.rate_limited.is_empty(), "old slots are dropped on the next write");
    }
}
