//! In-memory adapters with the same contracts as the AWS ones: a FIFO queue, a secret store with
//! rotation, and a clock that tests move by hand. Used by unit tests and the contract suites; each
//! can be switched "down" to test how callers handle an unavailable dependency.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Notify;

use crate::domain::SecretString;
use crate::ports::{
    Clock, EventQueue, OutgoingMessage, QueueError, ReceivedMessage, SecretError, SecretSource, SecretStage,
};

/// SQS FIFO's deduplication window.
pub const DEDUP_WINDOW: TimeDelta = TimeDelta::minutes(5);

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn at(start: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(start))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: TimeDelta) {
        *lock(&self.0) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.0)
    }
}

/// Locks a mutex, recovering the data if a panicking test thread poisoned it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
struct Stored {
    message_id: String,
    group_id: String,
    body: String,
    receive_count: u32,
    visible_at: DateTime<Utc>,
    receipt: Option<String>,
}

#[derive(Debug, Default)]
struct QueueState {
    messages: VecDeque<Stored>,
    /// Deduplication ids by message group, as the deployed queue scopes them (`messageGroup`).
    seen: HashMap<(String, String), DateTime<Utc>>,
}

/// An in-memory FIFO queue with SQS FIFO semantics: group order, one group in flight at a time,
/// five-minute deduplication, visibility timeout, receive count, and a dead-letter queue after
/// `max_receive_count` receives.
pub struct MemoryQueue {
    clock: Arc<dyn Clock>,
    visibility_timeout: TimeDelta,
    dead_letter: Option<(Arc<MemoryQueue>, u32)>,
    state: Mutex<QueueState>,
    sequence: AtomicU64,
    down: AtomicBool,
    arrived: Notify,
}

impl MemoryQueue {
    /// An empty queue with SQS's default visibility timeout of 30 s.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryQueue {
            clock,
            visibility_timeout: TimeDelta::seconds(30),
            dead_letter: None,
            state: Mutex::new(QueueState::default()),
            sequence: AtomicU64::new(0),
            down: AtomicBool::new(false),
            arrived: Notify::new(),
        }
    }

    /// Moves a message to `queue` instead of delivering it a `max_receive_count + 1`-th time.
    pub fn with_dead_letter(mut self, queue: Arc<MemoryQueue>, max_receive_count: u32) -> Self {
        self.dead_letter = Some((queue, max_receive_count));
        self
    }

    /// Makes every call fail as an unreachable queue would (`true`), or work again (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many messages the queue holds, in flight or not.
    pub fn len(&self) -> usize {
        lock(&self.state).messages.len()
    }

    /// Whether the queue holds no message.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check_up(&self) -> Result<(), QueueError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable {
                class: "memory-queue-down".into(),
                source: "the in-memory queue is switched down".into(),
            });
        }
        Ok(())
    }

    fn next_id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.sequence.fetch_add(1, Ordering::SeqCst))
    }

    fn take_visible(&self, max: u8) -> Vec<ReceivedMessage> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        let mut blocked: Vec<String> = Vec::new();
        let mut taken = Vec::new();
        let mut index = 0;
        while index < state.messages.len() && taken.len() < usize::from(max) {
            let stored = &state.messages[index];
            if blocked.contains(&stored.group_id) {
                index += 1;
                continue;
            }
            if stored.visible_at > now {
                // An earlier message of this group is in flight: the rest of the group waits.
                blocked.push(stored.group_id.clone());
                index += 1;
                continue;
            }
            if let Some((dead_letter, max_receives)) = &self.dead_letter
                && stored.receive_count >= *max_receives
            {
                let Some(dead) = state.messages.remove(index) else {
                    break;
                };
                let message =
                    OutgoingMessage { group_id: dead.group_id, dedup_id: dead.message_id.clone(), body: dead.body };
                dead_letter.push(message, now);
                continue;
            }
            let receipt = self.next_id("receipt");
            let stored = &mut state.messages[index];
            stored.receive_count += 1;
            stored.visible_at = now + self.visibility_timeout;
            stored.receipt = Some(receipt.clone());
            taken.push(ReceivedMessage {
                message_id: stored.message_id.clone(),
                receipt,
                group_id: stored.group_id.clone(),
                receive_count: stored.receive_count,
                body: stored.body.clone(),
            });
            index += 1;
        }
        taken
    }

    /// Adds a message unless its deduplication id was seen within the window. Returns whether it
    /// was added.
    fn push(&self, message: OutgoingMessage, now: DateTime<Utc>) -> bool {
        let mut state = lock(&self.state);
        state.seen.retain(|_, at| now - *at < DEDUP_WINDOW);
        let scope = (message.group_id.clone(), message.dedup_id);
        if state.seen.contains_key(&scope) {
            return false;
        }
        state.seen.insert(scope, now);
        let message_id = self.next_id("message");
        state.messages.push_back(Stored {
            message_id,
            group_id: message.group_id,
            body: message.body,
            receive_count: 0,
            visible_at: now,
            receipt: None,
        });
        drop(state);
        self.arrived.notify_waiters();
        true
    }

    fn with_receipt<T>(&self, receipt: &str, f: impl FnOnce(&mut QueueState, usize) -> T) -> Result<T, QueueError> {
        let mut state = lock(&self.state);
        let index = state.messages.iter().position(|m| m.receipt.as_deref() == Some(receipt)).ok_or_else(|| {
            QueueError::Rejected {
                class: "ReceiptHandleIsInvalid".into(),
                message: "no message holds this receipt (deleted, or received again since)".into(),
            }
        })?;
        Ok(f(&mut state, index))
    }
}

#[async_trait]
impl EventQueue for MemoryQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), QueueError> {
        self.check_up()?;
        message.validate()?;
        self.push(message.clone(), self.clock.now());
        Ok(())
    }

    async fn receive(&self, max: u8, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        self.check_up()?;
        if !(1..=10).contains(&max) {
            return Err(QueueError::Rejected {
                class: "InvalidParameterValue".into(),
                message: format!("max must be 1 to 10, got {max}"),
            });
        }
        let arrived = self.arrived.notified();
        let taken = self.take_visible(max);
        if !taken.is_empty() || wait.is_zero() {
            return Ok(taken);
        }
        // Long polling: the clock of a test does not move by itself, so only new messages wake us.
        let _ = tokio::time::timeout(wait, arrived).await;
        Ok(self.take_visible(max))
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.check_up()?;
        self.with_receipt(receipt, |state, index| {
            state.messages.remove(index);
        })
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        self.check_up()?;
        let timeout = TimeDelta::from_std(timeout)
            .map_err(|e| QueueError::Rejected { class: "InvalidParameterValue".into(), message: e.to_string() })?;
        let now = self.clock.now();
        self.with_receipt(receipt, |state, index| state.messages[index].visible_at = now + timeout)?;
        self.arrived.notify_waiters();
        Ok(())
    }
}

/// An in-memory secret store with rotation, and a switch to make it unreachable.
#[derive(Default)]
pub struct MemorySecrets {
    secrets: Mutex<HashMap<String, (SecretString, Option<SecretString>)>>,
    down: AtomicBool,
    reads: AtomicU64,
}

impl MemorySecrets {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores a new current value of `id`; the old current value becomes the previous one, as
    /// Secrets Manager does on `PutSecretValue`.
    pub fn put(&self, id: &str, value: &str) {
        let mut secrets = lock(&self.secrets);
        let previous = secrets.remove(id).map(|(current, _)| current);
        secrets.insert(id.to_owned(), (SecretString::new(value), previous));
    }

    /// Makes reads fail as an unreachable store would (`true`), or work again (`false`).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many reads were made, for tests of caching.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl SecretSource for MemorySecrets {
    async fn read(&self, id: &str, stage: SecretStage) -> Result<Option<SecretString>, SecretError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(SecretError::Unavailable {
                class: "memory-secrets-down".into(),
                source: "the in-memory secret store is switched down".into(),
            });
        }
        let secrets = lock(&self.secrets);
        let Some((current, previous)) = secrets.get(id) else {
            return Err(SecretError::Unreadable {
                id: id.to_owned(),
                class: "ResourceNotFoundException".into(),
                message: "no such secret".into(),
            });
        };
        Ok(match stage {
            SecretStage::Current => Some(current.clone()),
            SecretStage::Previous => previous.clone(),
        })
    }
}
