//! The FIFO event queue on a redb file (adapter of [`EventQueue`] and [`QueueAdmin`]), with SQS
//! FIFO's semantics: order and one message in flight per group, deduplication within five minutes
//! per group, visibility timeout, receive counts, and redrive to a dead-letter queue after
//! `max_receive_count` receives. Every message sent and not deleted survives a restart.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use qalita_gitlab_core::adapters::memory::DEDUP_WINDOW;
use qalita_gitlab_core::ports::{
    Clock, DeadMessage, EventQueue, OutgoingMessage, QueueAdmin, QueueDepths, QueueError, ReceivedMessage,
};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::{EmbeddedDb, Failing, OpenError, PortError, TxError, classify, from_json};

/// The queue by sequence number (the order of sending): each [`Stored`] message as JSON.
const MESSAGES: TableDefinition<u64, &str> = TableDefinition::new("queue/messages");
/// Deduplication ids by (message group, deduplication id), as the deployed queue scopes them
/// (`DeduplicationScope: messageGroup`): when they were sent, in epoch milliseconds.
const DEDUP: TableDefinition<(&str, &str), i64> = TableDefinition::new("queue/dedup");
/// The dead-letter queue by sequence number (the order of arrival): each [`DeadLetter`] as JSON.
const DEAD_LETTERS: TableDefinition<u64, &str> = TableDefinition::new("queue/dead-letters");
/// Counters that must survive a restart, by name.
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("queue/counters");
const SEQUENCE: &str = "sequence";

/// SQS's longest visibility timeout (12 hours).
pub const MAX_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);

fn create_tables(tx: &WriteTransaction) -> Result<(), redb::Error> {
    tx.open_table(MESSAGES)?;
    tx.open_table(DEDUP)?;
    tx.open_table(DEAD_LETTERS)?;
    tx.open_table(COUNTERS)?;
    Ok(())
}

/// How the queue redelivers and gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// How long a received message stays invisible unless its visibility is changed (at most
    /// [`MAX_VISIBILITY_TIMEOUT`]; a longer one counts as that).
    pub visibility_timeout: Duration,
    /// How many times a message may be received (at least once; 0 counts as 1); the next receive
    /// moves it to the dead-letter queue instead (the template's `MaxReceiveCount`).
    pub max_receive_count: u32,
}

impl Default for QueueOptions {
    /// A 60-second visibility timeout (the worker's time-out) and 5 receives (the template's default).
    fn default() -> Self {
        QueueOptions { visibility_timeout: Duration::from_secs(60), max_receive_count: 5 }
    }
}

/// A message as stored, in the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    message_id: String,
    group_id: String,
    dedup_id: String,
    body: String,
    sent_at: DateTime<Utc>,
    receive_count: u32,
    /// Before this time the message is in flight (received, not deleted): it and the rest of its
    /// group are not delivered.
    visible_at: DateTime<Utc>,
    /// The handle of the last receipt, `<sequence>.<receive count>`.
    receipt: Option<String>,
}

/// A message the queue gave up on after `max_receive_count` receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The queue's id of the message (kept when it is replayed).
    pub message_id: String,
    /// The message group it was sent with.
    pub group_id: String,
    /// The deduplication id it was sent with.
    pub dedup_id: String,
    /// The envelope as sent.
    pub body: String,
    /// How many times it was received.
    pub receive_count: u32,
    /// When it was first sent.
    pub sent_at: DateTime<Utc>,
    /// When it was moved to the dead-letter queue.
    pub dead_lettered_at: DateTime<Utc>,
}

/// How many messages the queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    /// Waiting to be received (some may wait behind an earlier message of their group).
    pub available: u64,
    /// Received and neither deleted nor visible again yet.
    pub in_flight: u64,
    /// In the dead-letter queue.
    pub dead_letters: u64,
}

/// The event queue in a redb database. Cheap to clone; every handle on one [`EmbeddedDb`] wakes
/// the others' waiting receives.
#[derive(Clone)]
pub struct EmbeddedQueue {
    db: EmbeddedDb,
    clock: Arc<dyn Clock>,
    options: QueueOptions,
    /// Woken when a message may have become receivable (sent, deleted, made visible, replayed).
    changed: Arc<Notify>,
}

impl std::fmt::Debug for EmbeddedQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedQueue").field("options", &self.options).finish_non_exhaustive()
    }
}

type Tx<T> = Result<T, TxError<QueueError>>;

fn invalid_receipt() -> TxError<QueueError> {
    TxError::Refused(QueueError::Rejected {
        class: "ReceiptHandleIsInvalid".into(),
        message: "no message holds this receipt (deleted, received again since, or dead-lettered)".into(),
    })
}

/// The next value of a persistent counter.
fn next(tx: &WriteTransaction, name: &str) -> Tx<u64> {
    let mut counters = tx.open_table(COUNTERS)?;
    let value = counters.get(name)?.map_or(0, |n| n.value()) + 1;
    counters.insert(name, value)?;
    Ok(value)
}

/// A duration of at most [`MAX_VISIBILITY_TIMEOUT`] as a [`TimeDelta`].
fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

fn to_json(value: &impl Serialize) -> Tx<String> {
    serde_json::to_string(value).map_err(|e| TxError::Refused(QueueError::corrupt(e.to_string())))
}

fn message_at(sequence: u64, json: &str) -> Tx<Stored> {
    from_json(json, || format!("queued message {sequence}"))
}

/// Appends the message `make` builds from its sequence number to the end of the queue.
fn enqueue(tx: &WriteTransaction, make: impl FnOnce(u64) -> Stored) -> Tx<()> {
    let sequence = next(tx, SEQUENCE)?;
    tx.open_table(MESSAGES)?.insert(sequence, to_json(&make(sequence))?.as_str())?;
    Ok(())
}

/// The message a receipt was given for, with its sequence number, if it still holds that receipt.
fn by_receipt(tx: &WriteTransaction, receipt: &str) -> Tx<(u64, Stored)> {
    let sequence: u64 =
        receipt.split_once('.').and_then(|(sequence, _)| sequence.parse().ok()).ok_or_else(invalid_receipt)?;
    let messages = tx.open_table(MESSAGES)?;
    let Some(json) = messages.get(sequence)? else {
        return Err(invalid_receipt());
    };
    let stored = message_at(sequence, json.value())?;
    if stored.receipt.as_deref() != Some(receipt) {
        return Err(invalid_receipt());
    }
    Ok((sequence, stored))
}

/// What one pass over the queue gave: the messages received, and when the earliest message in
/// flight becomes visible again (the next time a receive may find something without a send).
struct Pass {
    received: Vec<ReceivedMessage>,
    next_visible: Option<DateTime<Utc>>,
}

impl EmbeddedQueue {
    /// The queue in `db`, creating its tables if needed; what it held before is still there.
    pub async fn open(db: &EmbeddedDb, clock: Arc<dyn Clock>, options: QueueOptions) -> Result<Self, OpenError> {
        db.prepare(create_tables).await?;
        Ok(EmbeddedQueue { db: db.clone(), clock, options, changed: db.changes() })
    }

    /// The messages in the dead-letter queue, in the order they arrived there.
    pub async fn dlq_list(&self) -> Result<Vec<DeadLetter>, QueueError> {
        self.db
            .run(move |db| {
                let tx = db.begin_read()?;
                let dead = tx.open_table(DEAD_LETTERS)?;
                let mut all = Vec::new();
                for row in dead.iter()? {
                    let (sequence, json) = row?;
                    all.push(from_json(json.value(), || format!("dead letter {}", sequence.value()))?);
                }
                Ok(all)
            })
            .await
    }

    /// Moves the dead letters of `group` (all of them if `None`) back to the end of the queue, as
    /// new messages (receive count 0, not deduplicated), in the order they arrived in the
    /// dead-letter queue. With `dry_run`, moves nothing. Returns the messages moved (or that would be).
    pub async fn dlq_replay(&self, group: Option<&str>, dry_run: bool) -> Result<Vec<DeadLetter>, QueueError> {
        let group = group.map(str::to_owned);
        let now = self.clock.now();
        let replayed = self
            .db
            .run(move |db| {
                let tx = db.begin_write()?;
                let mut chosen = Vec::new();
                {
                    let dead = tx.open_table(DEAD_LETTERS)?;
                    for row in dead.iter()? {
                        let (sequence, json) = row?;
                        let letter: DeadLetter =
                            from_json(json.value(), || format!("dead letter {}", sequence.value()))?;
                        if group.as_deref().is_none_or(|group| group == letter.group_id) {
                            chosen.push((sequence.value(), letter));
                        }
                    }
                }
                if dry_run {
                    return Ok(chosen.into_iter().map(|(_, letter)| letter).collect());
                }
                for (sequence, letter) in &chosen {
                    tx.open_table(DEAD_LETTERS)?.remove(sequence)?;
                    enqueue(&tx, |_| Stored {
                        message_id: letter.message_id.clone(),
                        group_id: letter.group_id.clone(),
                        dedup_id: letter.dedup_id.clone(),
                        body: letter.body.clone(),
                        sent_at: letter.sent_at,
                        receive_count: 0,
                        visible_at: now,
                        receipt: None,
                    })?;
                }
                tx.commit()?;
                Ok(chosen.into_iter().map(|(_, letter)| letter).collect::<Vec<_>>())
            })
            .await?;
        if !dry_run && !replayed.is_empty() {
            self.changed.notify_waiters();
        }
        Ok(replayed)
    }

    /// How many messages are waiting, in flight, and dead-lettered.
    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let now = self.clock.now();
        self.db
            .run(move |db| {
                let tx = db.begin_read()?;
                let mut depth =
                    QueueDepth { dead_letters: tx.open_table(DEAD_LETTERS)?.len()?, ..QueueDepth::default() };
                for row in tx.open_table(MESSAGES)?.iter()? {
                    let (sequence, json) = row?;
                    match message_at(sequence.value(), json.value())?.visible_at > now {
                        true => depth.in_flight += 1,
                        false => depth.available += 1,
                    }
                }
                Ok(depth)
            })
            .await
    }

    /// One pass over the queue in one write transaction: receives up to `max` messages, moving to
    /// the dead-letter queue those received `max_receive_count` times already.
    async fn take_visible(&self, max: u8) -> Result<Pass, QueueError> {
        let now = self.clock.now();
        let options = self.options;
        let visibility = delta(options.visibility_timeout.min(MAX_VISIBILITY_TIMEOUT));
        self.db
            .run(move |db| {
                let tx = db.begin_write()?;
                let mut pass = Pass { received: Vec::new(), next_visible: None };
                let mut blocked: Vec<String> = Vec::new();
                let mut dead = Vec::new();
                {
                    let mut messages = tx.open_table(MESSAGES)?;
                    let mut updates = Vec::new();
                    for row in messages.iter()? {
                        if pass.received.len() >= usize::from(max) {
                            break;
                        }
                        let (sequence, json) = row?;
                        let sequence = sequence.value();
                        let mut stored = message_at(sequence, json.value())?;
                        if blocked.contains(&stored.group_id) {
                            continue;
                        }
                        if stored.visible_at > now {
                            // An earlier message of this group is in flight: the rest of the group waits.
                            pass.next_visible =
                                Some(pass.next_visible.map_or(stored.visible_at, |t| t.min(stored.visible_at)));
                            blocked.push(stored.group_id);
                            continue;
                        }
                        if stored.receive_count >= options.max_receive_count.max(1) {
                            // As SQS's redrive: the group goes on without it.
                            dead.push((sequence, stored));
                            continue;
                        }
                        stored.receive_count += 1;
                        stored.visible_at = now + visibility;
                        let receipt = format!("{sequence}.{}", stored.receive_count);
                        stored.receipt = Some(receipt.clone());
                        pass.received.push(ReceivedMessage {
                            message_id: stored.message_id.clone(),
                            receipt,
                            group_id: stored.group_id.clone(),
                            receive_count: stored.receive_count,
                            body: stored.body.clone(),
                        });
                        updates.push((sequence, to_json(&stored)?));
                    }
                    for (sequence, json) in updates {
                        messages.insert(sequence, json.as_str())?;
                    }
                    for (sequence, _) in &dead {
                        messages.remove(sequence)?;
                    }
                }
                for (_, stored) in dead {
                    let letter = DeadLetter {
                        message_id: stored.message_id,
                        group_id: stored.group_id,
                        dedup_id: stored.dedup_id,
                        body: stored.body,
                        receive_count: stored.receive_count,
                        sent_at: stored.sent_at,
                        dead_lettered_at: now,
                    };
                    let sequence = next(&tx, SEQUENCE)?;
                    tx.open_table(DEAD_LETTERS)?.insert(sequence, to_json(&letter)?.as_str())?;
                }
                tx.commit()?;
                Ok(pass)
            })
            .await
    }

    /// Runs `work` on the message holding `receipt` in a write transaction, then wakes waiting receives.
    async fn with_receipt(
        &self,
        receipt: &str,
        work: impl FnOnce(&WriteTransaction, u64, Stored) -> Tx<()> + Send + 'static,
    ) -> Result<(), QueueError> {
        let receipt = receipt.to_owned();
        self.db
            .run(move |db| {
                let tx = db.begin_write()?;
                let (sequence, stored) = by_receipt(&tx, &receipt)?;
                work(&tx, sequence, stored)?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        self.changed.notify_waiters();
        Ok(())
    }
}

impl PortError for QueueError {
    fn from_db(error: Box<redb::Error>) -> Self {
        match classify(&error) {
            (class, true) => QueueError::Unavailable { class: class.into(), source: error },
            (class, false) => QueueError::Rejected { class: class.into(), message: error.to_string() },
        }
    }

    fn corrupt(what: String) -> Self {
        QueueError::Rejected { class: "CorruptMessage".into(), message: what }
    }

    fn failing(reason: String) -> Self {
        QueueError::Unavailable { class: "storage-failing".into(), source: Box::new(Failing { reason }) }
    }

    fn interrupted(error: tokio::task::JoinError) -> Self {
        QueueError::Unavailable { class: "interrupted".into(), source: Box::new(error) }
    }
}

#[async_trait]
impl EventQueue for EmbeddedQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), QueueError> {
        message.validate()?;
        let now = self.clock.now();
        let message = message.clone();
        let added = self
            .db
            .run(move |db| {
                let tx = db.begin_write()?;
                let added = {
                    let mut dedup = tx.open_table(DEDUP)?;
                    let window_start = (now - DEDUP_WINDOW).timestamp_millis();
                    dedup.retain(|_, sent_at| sent_at > window_start)?;
                    let scope = (message.group_id.as_str(), message.dedup_id.as_str());
                    let duplicate = dedup.get(scope)?.is_some();
                    if !duplicate {
                        dedup.insert(scope, now.timestamp_millis())?;
                    }
                    !duplicate
                };
                if added {
                    enqueue(&tx, |sequence| Stored {
                        message_id: format!("m-{sequence}"),
                        group_id: message.group_id,
                        dedup_id: message.dedup_id,
                        body: message.body,
                        sent_at: now,
                        receive_count: 0,
                        visible_at: now,
                        receipt: None,
                    })?;
                }
                tx.commit()?;
                Ok(added)
            })
            .await?;
        if added {
            self.changed.notify_waiters();
        }
        Ok(())
    }

    /// Waits on sends, deletes and visibility changes of this queue's handles, and on the time the
    /// earliest message in flight becomes visible again (by the real time left on the clock).
    async fn receive(&self, max: u8, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        if !(1..=10).contains(&max) {
            return Err(QueueError::Rejected {
                class: "InvalidParameterValue".into(),
                message: format!("max must be 1 to 10, got {max}"),
            });
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before the pass, so that a change made during it is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let pass = self.take_visible(max).await?;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if !pass.received.is_empty() || left.is_zero() {
                return Ok(pass.received);
            }
            let until_visible = pass.next_visible.map(|at| (at - self.clock.now()).to_std().unwrap_or(Duration::ZERO));
            let nap = until_visible.map_or(left, |d| d.max(Duration::from_millis(1)).min(left));
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        // The next message of its group may be delivered now.
        self.with_receipt(receipt, |tx, sequence, _| {
            tx.open_table(MESSAGES)?.remove(sequence)?;
            Ok(())
        })
        .await
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        if timeout > MAX_VISIBILITY_TIMEOUT {
            return Err(QueueError::Rejected {
                class: "InvalidParameterValue".into(),
                message: format!("a visibility timeout is at most 12 hours, got {} s", timeout.as_secs()),
            });
        }
        let visible_at = self.clock.now() + delta(timeout);
        self.with_receipt(receipt, move |tx, sequence, mut stored| {
            stored.visible_at = visible_at;
            tx.open_table(MESSAGES)?.insert(sequence, to_json(&stored)?.as_str())?;
            Ok(())
        })
        .await
    }
}

impl From<DeadLetter> for DeadMessage {
    fn from(letter: DeadLetter) -> Self {
        DeadMessage {
            message_id: letter.message_id,
            group_id: letter.group_id,
            receive_count: letter.receive_count,
            body: letter.body,
            dead_lettered_at: Some(letter.dead_lettered_at),
        }
    }
}

/// The operator's view of the embedded queue: exact depths, and the dead-letter queue listed and
/// replayed in one transaction each.
#[async_trait]
impl QueueAdmin for EmbeddedQueue {
    async fn depths(&self) -> Result<QueueDepths, QueueError> {
        let depth = self.depth().await?;
        Ok(QueueDepths { waiting: depth.available, in_flight: depth.in_flight, dead_letters: depth.dead_letters })
    }

    async fn dead_letters(&self) -> Result<Vec<DeadMessage>, QueueError> {
        Ok(self.dlq_list().await?.into_iter().map(DeadMessage::from).collect())
    }

    async fn replay_dead_letters(&self, group: Option<&str>) -> Result<Vec<DeadMessage>, QueueError> {
        Ok(self.dlq_replay(group, false).await?.into_iter().map(DeadMessage::from).collect())
    }
}
