//! The event queue on SQS FIFO.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageSystemAttributeName;

use super::aws_error::classify;
use crate::ports::{EventQueue, OutgoingMessage, QueueError, ReceivedMessage};

/// A FIFO queue, by URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    /// The queue at `url`, reached through `client` (whose endpoint comes from the AWS config).
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue { client, url: url.into() }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Maps an SDK error: throttling, 5xx, no answer or a time-out is worth retrying; anything else is
/// refused for good.
pub(crate) fn queue_error<E, R>(error: aws_sdk_sqs::error::SdkError<E, R>) -> QueueError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: super::aws_error::HttpStatus + std::fmt::Debug + Send + Sync + 'static,
{
    let classified = classify(&error);
    match classified.transient {
        true => QueueError::Unavailable { class: classified.class, source: Box::new(error) },
        false => QueueError::Rejected { class: classified.class, message: classified.message },
    }
}

#[async_trait]
impl EventQueue for SqsQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), QueueError> {
        // Checked here too: a local emulator accepts ids that SQS refuses.
        message.validate()?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_group_id(&message.group_id)
            .message_deduplication_id(&message.dedup_id)
            .message_body(&message.body)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }

    async fn receive(&self, max: u8, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::from(max))
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20).min(20))
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(queue_error)?;
        let messages = output.messages.unwrap_or_default();
        Ok(messages
            .into_iter()
            .map(|m| {
                let attributes = m.attributes.unwrap_or_default();
                ReceivedMessage {
                    message_id: m.message_id.unwrap_or_default(),
                    receipt: m.receipt_handle.unwrap_or_default(),
                    group_id: attributes.get(&MessageSystemAttributeName::MessageGroupId).cloned().unwrap_or_default(),
                    receive_count: attributes
                        .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                        .and_then(|c| c.parse().ok())
                        .unwrap_or(1),
                    body: m.body.unwrap_or_default(),
                }
            })
            .collect())
    }

    async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client.delete_message().queue_url(&self.url).receipt_handle(receipt).send().await.map_err(queue_error)?;
        Ok(())
    }

    async fn change_visibility(&self, receipt: &str, timeout: Duration) -> Result<(), QueueError> {
        // SQS caps a message's visibility at 12 hours.
        let seconds = i32::try_from(timeout.as_secs()).unwrap_or(43_200).min(43_200);
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}
