//! Every adapter of a port passes the same contract suite: the AWS adapters on the local stack,
//! the in-memory ones on a manual clock.

use std::sync::Arc;

use chrono::Utc;
use qalita_gitlab_core::adapters::memory::{ManualClock, MemoryQueue, MemorySecrets};
use qalita_gitlab_core::adapters::secrets_manager::SecretsManager;
use qalita_gitlab_core::adapters::sqs::SqsQueue;
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
