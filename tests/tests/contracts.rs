//! Every adapter of a port passes the same contract suite: the AWS adapters on the local stack,
//! the in-memory ones on a manual clock.

use std::sync::Arc;

use chrono::Utc;
use qalita_gitlab_core::adapters::memory::{ManualClock, MemoryQueue, MemorySecrets};
use qalita_gitlab_core::adapters::secrets_manager::SecretsManager;
use qalita_gitlab_core::adapters::sqs::SqsQueue;
use qalita_gitlab_core::adapters::sqs_admin::{QueueLocation, SqsQueueAdmin};
use qalita_gitlab_core::ports::{QueueAdmin, QueueDepths, QueueError};
use qalita_gitlab_tests::contract;
use qalita_gitlab_tests::local_aws::LocalAws;
use qalita_gitlab_tests::stack::TestStack;

#[tokio::test]
async fn the_sqs_queue_keeps_the_event_queue_contract() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "cq", "unused").await;
    contract::event_queue::run(&SqsQueue::new(aws.sqs(), stack.queue_url)).await;
}

#[tokio::test]
async fn the_memory_queue_keeps_the_event_queue_contract() {
    let clock = Arc::new(ManualClock::at(Utc::now()));
    contract::event_queue::run(&MemoryQueue::new(clock)).await;
}

#[tokio::test]
async fn sqs_keeps_the_queue_admin_contract() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "qa", "unused").await;
    let admin = SqsQueueAdmin::new(
        aws.sqs(),
        Some(QueueLocation::Url(stack.queue_url.clone())),
        Some(QueueLocation::Url(stack.dead_letter_url.clone())),
    );
    contract::queue_admin::run(&admin, &SqsQueue::new(aws.sqs(), stack.queue_url.clone())).await;
}

#[tokio::test]
async fn sqs_queue_admin_finds_the_queues_by_name_and_refuses_a_queue_not_named() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "qn", "unused").await;
    let name = |url: &str| url.rsplit('/').next().expect("a queue URL ends with its name").to_owned();
    let by_name = SqsQueueAdmin::new(
        aws.sqs(),
        Some(QueueLocation::Name(name(&stack.queue_url))),
        Some(QueueLocation::Name(name(&stack.dead_letter_url))),
    );
    assert_eq!(by_name.depths().await.expect("depths"), QueueDepths::default());

    let unnamed = SqsQueueAdmin::new(aws.sqs(), None, Some(QueueLocation::Url(stack.dead_letter_url.clone())));
    assert!(unnamed.dead_letters().await.expect("the dead-letter queue alone is enough to list").is_empty());
    for error in [unnamed.depths().await.map(drop), unnamed.replay_dead_letters(None).await.map(drop)] {
        match error {
            Err(QueueError::Rejected { class, .. }) => assert_eq!(class, "NotSet"),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
    let missing = SqsQueueAdmin::new(aws.sqs(), None, Some(QueueLocation::Name("no-such-queue-anywhere.fifo".into())));
    match missing.dead_letters().await {
        Err(error @ QueueError::Rejected { .. }) => assert!(!error.is_transient(), "{error}"),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn secrets_manager_keeps_the_secret_source_contract() {
    let aws = LocalAws::connect().await;
    let name = qalita_gitlab_tests::unique_name("contract/secret");
    aws.secrets().create_secret().name(&name).secret_string("first").send().await.unwrap();
    let client = aws.secrets();
    let rotate = async |value: &str| {
        client.put_secret_value().secret_id(&name).secret_string(value).send().await.unwrap();
    };
    contract::secret_source::run(&SecretsManager::new(aws.secrets()), &name, "no-such-secret-anywhere", rotate).await;
}

#[tokio::test]
async fn memory_secrets_keep_the_secret_source_contract() {
    let secrets = MemorySecrets::new();
    secrets.put("s", "first");
    contract::secret_source::run(&secrets, "s", "missing", async |value: &str| secrets.put("s", value)).await;
}
