//! Administration of the event queue and its dead-letter queue: what an operator needs to see
//! and undo (`qalita-gitlab status`, `dlq list`, `dlq replay`). The worker never uses it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::QueueError;

/// How many messages the queues hold (approximate on SQS, exact on the embedded queue).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepths {
    /// Waiting in the event queue.
    pub waiting: u64,
    /// Being processed (received, not yet deleted).
    pub in_flight: u64,
    /// In the dead-letter queue.
    pub dead_letters: u64,
}

/// A message of the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadMessage {
    /// The queue's id of the message.
    pub message_id: String,
    /// Its message group (`qalita:<id>`, `gitlab:<project>:<iid>`).
    pub group_id: String,
    /// How many times it was received before it was dead-lettered.
    pub receive_count: u32,
    /// The envelope as sent.
    pub body: String,
    /// When it was moved to the dead-letter queue, where the queue tells (SQS does not).
    pub dead_lettered_at: Option<DateTime<Utc>>,
}

/// The operator's view of the event queue and its dead-letter queue.
///
/// Contract: `depths` counts the messages waiting, in flight and dead-lettered. `dead_letters`
/// lists the dead-letter queue, each group's messages in the order they arrived, and moves
/// nothing. `replay_dead_letters` moves the dead letters of `group` (all if `None`) back to the
/// event queue as new messages of their own group (so never dropped as duplicates of their first
/// sending), each group in order, and returns those moved; a message it could not move stays in
/// the dead-letter queue. A queue that is not named or does not exist is
/// [`QueueError::Rejected`].
#[async_trait]
pub trait QueueAdmin: Send + Sync {
    /// How many messages the queues hold.
    async fn depths(&self) -> Result<QueueDepths, QueueError>;
    /// The messages of the dead-letter queue; moves nothing.
    async fn dead_letters(&self) -> Result<Vec<DeadMessage>, QueueError>;
    /// Moves the dead letters of `group` (all if `None`) back to the event queue.
    async fn replay_dead_letters(&self, group: Option<&str>) -> Result<Vec<DeadMessage>, QueueError>;
}
