//! Administration of the SQS FIFO event queue and its dead-letter queue (adapter of
//! [`QueueAdmin`]): depths from the queues' attributes, the dead-letter queue listed by receiving
//! it, dead letters moved back by sending and deleting.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::Utc;

use super::sqs::{SqsQueue, queue_error};
use crate::ports::{DeadMessage, EventQueue, OutgoingMessage, QueueAdmin, QueueDepths, QueueError, ReceivedMessage};

/// Receives of the dead-letter queue in one listing, at most (10 messages each).
const MAX_DLQ_RECEIVES: usize = 100;

/// Where a queue is: its URL, or its name (looked up when first needed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueLocation {
    /// The queue's URL.
    Url(String),
    /// The queue's name in the account and region.
    Name(String),
}

/// The event queue and its dead-letter queue on SQS. Either may be left unnamed: the operations
/// that need it are then [`QueueError::Rejected`] (class `NotSet`).
#[derive(Debug, Clone)]
pub struct SqsQueueAdmin {
    client: Client,
    queue: Option<QueueLocation>,
    dead_letters: Option<QueueLocation>,
}

impl SqsQueueAdmin {
    /// The queues at `queue` and `dead_letters`, reached through `client`.
    pub fn new(client: Client, queue: Option<QueueLocation>, dead_letters: Option<QueueLocation>) -> Self {
        SqsQueueAdmin { client, queue, dead_letters }
    }

    /// The URL of a queue, looked up by name if need be; `what` names it in errors.
    async fn url(&self, location: Option<&QueueLocation>, what: &str) -> Result<String, QueueError> {
        match location {
            Some(QueueLocation::Url(url)) => Ok(url.clone()),
            Some(QueueLocation::Name(name)) => {
                let found = self.client.get_queue_url().queue_name(name).send().await.map_err(queue_error)?;
                found.queue_url.ok_or_else(|| QueueError::Rejected {
                    class: "NoQueueUrl".into(),
                    message: format!("SQS gave no URL for the {what} {name}"),
                })
            }
            None => Err(QueueError::Rejected {
                class: "NotSet".into(),
                message: format!("no URL or name was given for the {what}"),
            }),
        }
    }

    async fn event_queue(&self) -> Result<SqsQueue, QueueError> {
        Ok(SqsQueue::new(self.client.clone(), self.url(self.queue.as_ref(), "event queue").await?))
    }

    async fn dead_letter_queue(&self) -> Result<SqsQueue, QueueError> {
        Ok(SqsQueue::new(self.client.clone(), self.url(self.dead_letters.as_ref(), "dead-letter queue").await?))
    }

    /// The approximate numbers of visible and not visible messages of the queue at `url`.
    async fn counts(&self, url: &str) -> Result<(u64, u64), QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(queue_error)?;
        let attributes = output.attributes.unwrap_or_default();
        let count = |name: QueueAttributeName| attributes.get(&name).and_then(|n| n.parse().ok()).unwrap_or(0);
        Ok((
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    /// Receives the whole dead-letter queue (each message stays invisible while the listing runs),
    /// moves those of `group` back to the event queue if `to` is given, and makes the others
    /// visible again at once. A FIFO queue gives the later messages of a group only once the
    /// earlier ones are deleted: a listing shows the first ten of each group at most.
    async fn sweep(dlq: &SqsQueue, group: Option<&str>, to: Option<&SqsQueue>) -> Result<Vec<DeadMessage>, QueueError> {
        let mut chosen = Vec::new();
        let mut kept: Vec<ReceivedMessage> = Vec::new();
        let result = move_dead_letters(dlq, to, group, &mut chosen, &mut kept).await;
        // Whatever happened, what was received and not moved is made visible again at once.
        for message in &kept {
            if let Err(error) = dlq.change_visibility(&message.receipt, Duration::ZERO).await {
                tracing::warn!(message_id = %message.message_id, error = %error, "dead letter not made visible again; it is after the queue's visibility timeout");
            }
        }
        result.map(|()| chosen)
    }
}

async fn move_dead_letters(
    dlq: &SqsQueue,
    to: Option<&SqsQueue>,
    group: Option<&str>,
    chosen: &mut Vec<DeadMessage>,
    kept: &mut Vec<ReceivedMessage>,
) -> Result<(), QueueError> {
    let mut seen = HashSet::new();
    for _ in 0..MAX_DLQ_RECEIVES {
        let batch = dlq.receive(10, Duration::from_secs(1)).await?;
        if batch.is_empty() {
            break;
        }
        for message in batch {
            if !seen.insert(message.message_id.clone()) {
                kept.push(message);
                continue;
            }
            let wanted = group.is_none_or(|group| group == message.group_id);
            let dead = DeadMessage {
                message_id: message.message_id.clone(),
                group_id: message.group_id.clone(),
                // This receive counted too.
                receive_count: message.receive_count.saturating_sub(1),
                body: message.body.clone(),
                dead_lettered_at: None,
            };
            match (wanted, to) {
                (true, Some(to)) => {
                    // A new deduplication id: the original one may still be in SQS's window.
                    let dedup_id = format!("replay-{}-{}", Utc::now().timestamp_millis(), message.message_id);
                    let dedup_id: String = dedup_id.chars().filter(|c| c.is_ascii_graphic()).take(128).collect();
                    let outgoing =
                        OutgoingMessage { group_id: message.group_id.clone(), dedup_id, body: message.body.clone() };
                    if let Err(error) = to.send(&outgoing).await {
                        kept.push(message);
                        return Err(error);
                    }
                    dlq.delete(&message.receipt).await?;
                    chosen.push(dead);
                }
                (true, None) => {
                    chosen.push(dead);
                    kept.push(message);
                }
                (false, _) => kept.push(message),
            }
        }
    }
    Ok(())
}

#[async_trait]
impl QueueAdmin for SqsQueueAdmin {
    /// The dead letters count both the visible and the in-flight messages of the dead-letter
    /// queue (a listing running elsewhere holds them in flight).
    async fn depths(&self) -> Result<QueueDepths, QueueError> {
        let queue = self.url(self.queue.as_ref(), "event queue").await?;
        let dlq = self.url(self.dead_letters.as_ref(), "dead-letter queue").await?;
        let (waiting, in_flight) = self.counts(&queue).await?;
        let (dead, dead_in_flight) = self.counts(&dlq).await?;
        Ok(QueueDepths { waiting, in_flight, dead_letters: dead + dead_in_flight })
    }

    async fn dead_letters(&self) -> Result<Vec<DeadMessage>, QueueError> {
        Self::sweep(&self.dead_letter_queue().await?, None, None).await
    }

    async fn replay_dead_letters(&self, group: Option<&str>) -> Result<Vec<DeadMessage>, QueueError> {
        let dlq = self.dead_letter_queue().await?;
        let to = self.event_queue().await?;
        Self::sweep(&dlq, group, Some(&to)).await
    }
}
