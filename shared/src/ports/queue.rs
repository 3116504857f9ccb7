//! The FIFO event queue.

use std::time::Duration;

use async_trait::async_trait;

/// A message to put on the FIFO event queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Orders the messages of one issue: `gitlab:<project id>:<iid>` or `qalita:<issue id>`.
    pub group_id: String,
    /// A second message with the same id within the deduplication window is accepted and dropped.
    pub dedup_id: String,
    /// The JSON envelope ([`crate::envelope::Envelope`]).
    pub body: String,
}

/// SQS's limit on a message body.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Whether SQS takes `value` as a message group or deduplication id: 1 to 128 ASCII letters,
/// digits or punctuation.
pub fn is_fifo_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation())
}

impl OutgoingMessage {
    /// The checks SQS makes on a FIFO message (ids of 1 to 128 ASCII letters, digits or
    /// punctuation; a body of 1 byte to 1 MiB), so that every adapter refuses what SQS refuses.
    pub fn validate(&self) -> Result<(), QueueError> {
        let fifo_id = |name: &str, value: &str| match is_fifo_id(value) {
            true => Ok(()),
            false => Err(QueueError::Rejected {
                class: "InvalidParameterValue".into(),
                message: format!("{name} must be 1 to 128 ASCII letters, digits or punctuation"),
            }),
        };
        fifo_id("MessageGroupId", &self.group_id)?;
        fifo_id("MessageDeduplicationId", &self.dedup_id)?;
        if self.body.is_empty() || self.body.len() > MAX_MESSAGE_BYTES {
            return Err(QueueError::Rejected {
                class: "InvalidParameterValue".into(),
                message: "message body must be 1 byte to 1 MiB".into(),
            });
        }
        Ok(())
    }
}

/// A message taken from the queue; it stays invisible to other consumers until its visibility
/// timeout runs out, and comes back unless it is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The queue's id of the message.
    pub message_id: String,
    /// The handle that deletes this receipt or changes its visibility.
    pub receipt: String,
    /// The message group it was sent with.
    pub group_id: String,
    /// How many times the message has been received, this time included.
    pub receive_count: u32,
    /// The envelope as sent.
    pub body: String,
}

/// Why the queue did not take or give a message.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or asked to slow down (network, 5xx, throttling): try later.
    #[error("queue unavailable ({class})")]
    Unavailable {
        /// A short, secret-free class of the failure (an AWS error code, `dispatch`, `timeout`).
        class: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The queue refused the request for a reason retrying will not fix (no such queue, access
    /// denied, an invalid group or deduplication id).
    #[error("queue refused the request ({class}): {message}")]
    Rejected {
        /// The AWS error code, or a short class.
        class: String,
        /// The service's message.
        message: String,
    },
}

impl QueueError {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, QueueError::Unavailable { .. })
    }

    /// The secret-free class of the failure, for a log line.
    pub fn class(&self) -> &str {
        match self {
            QueueError::Unavailable { class, .. } | QueueError::Rejected { class, .. } => class,
        }
    }
}

/// The FIFO event queue between the webhook function, the QALITA side and the worker.
///
/// Contract: messages of one group are delivered in the order they were sent, and a later message
/// of a group is not delivered while an earlier one is in flight; a message whose `dedup_id` was
/// already sent within the deduplication window (five minutes) is accepted and not delivered again;
/// a received message is invisible until its visibility timeout ends, then comes back with a higher
/// `receive_count` unless deleted.
#[async_trait]
pub trait EventQueue: Send + Sync {
    /// Puts one message on the queue.
    async fn send(&self, message: &OutgoingMessage) -> Result<(), QueueError>;

    /// Takes up to `max` (1 to 10) visible messages, waiting up to `wait` for the first one.
    async fn receive(&self, max: u8, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError>;

    /// Removes a received message for good.
    async fn delete(&self, receipt: &str) -> Result<(), QueueError>;

    /// Makes a received message visible again after `timeout` (zero: at once).
    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError>;
}
