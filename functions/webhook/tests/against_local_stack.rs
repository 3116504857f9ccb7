//! The webhook handler with the real AWS adapters on the local stack (moto): deliveries reach the
//! real FIFO queue once, parse back, survive a rotation of the secret and an outage of SQS.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::http::{self, StatusCode};
use lambda_http::{Body, Request};
use qalita_gitlab_core::adapters::{secrets_manager::SecretsManager, sqs::SqsQueue};
use qalita_gitlab_core::envelope::{Envelope, Source};
use qalita_gitlab_core::events::gitlab::{read_issue_event, read_note_event};
use qalita_gitlab_core::ports::{EventQueue, SystemClock};
use qalita_gitlab_core::webhook::verify::{CachePolicy, WebhookAuthenticator};
use qalita_gitlab_tests::fault_proxy::{FaultProxy, socket_of};
use qalita_gitlab_tests::local_aws::LocalAws;
use qalita_gitlab_tests::stack::{TestStack, ids};
use qalita_gitlab_webhook::handler::{Deps, handle};
use serde_json::value::RawValue;

const TOKEN: &str = "local-stack-webhook-secret";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(qalita_gitlab_tests::repo_root().join(format!("fixtures/gitlab/{name}.json"))).unwrap()
}

fn delivery(event: &str, token: &str, idempotency_key: &str, body: String) -> Request {
    http::Request::builder()
        .method("POST")
        .uri("/api/v2/integrations/gitlab/webhook")
        .header("x-gitlab-event", event)
        .header("x-gitlab-token", token)
        .header("idempotency-key", idempotency_key)
        .header("x-gitlab-event-uuid", "5b0d2c1e-9f8a-4b7c-a6d5-e4f3a2b1c0d9")
        .body(Body::Text(body))
        .unwrap()
}

fn deps(aws: &LocalAws, stack: &TestStack, sqs: aws_sdk_sqs::Client) -> Deps {
    let clock = Arc::new(SystemClock);
    let secrets = Arc::new(SecretsManager::new(aws.secrets()));
    Deps {
        queue: Arc::new(SqsQueue::new(sqs, stack.queue_url.clone())),
        auth: WebhookAuthenticator::new(
            secrets,
            stack.secret(ids::WEBHOOK_SECRET),
            clock.clone(),
            CachePolicy::default(),
        ),
        clock,
        max_body_bytes: 6 * 1024 * 1024,
        qalita: None,
    }
}

/// The status the handler answers a delivery of fixture `name` with.
async fn status(deps: &Deps, token: &str, idempotency_key: &str, name: &str) -> StatusCode {
    handle(deps, delivery("Issue Hook", token, idempotency_key, fixture(name))).await.status()
}

async fn receive_all(queue: &SqsQueue) -> Vec<qalita_gitlab_core::ports::ReceivedMessage> {
    let mut all = Vec::new();
    loop {
        let batch = queue.receive(10, Duration::ZERO).await.unwrap();
        if batch.is_empty() {
            return all;
        }
        for message in &batch {
            queue.delete(&message.receipt).await.unwrap();
        }
        all.extend(batch);
    }
}

#[tokio::test]
async fn deliveries_land_in_the_fifo_queue_and_parse_back_into_envelopes() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "wh-send", TOKEN).await;
    let deps = deps(&aws, &stack, aws.sqs());

    let issue = handle(&deps, delivery("Issue Hook", TOKEN, "k-issue-1", fixture("issue_update_synthetic"))).await;
    assert_eq!(issue.status(), StatusCode::OK);
    let note = handle(&deps, delivery("Note Hook", TOKEN, "k-note-1", fixture("note_on_issue"))).await;
    assert_eq!(note.status(), StatusCode::OK);
    let ignored = handle(&deps, delivery("Note Hook", TOKEN, "k-mr-1", fixture("note_on_mr"))).await;
    assert_eq!(ignored.status(), StatusCode::OK);

    let queue = SqsQueue::new(aws.sqs(), stack.queue_url.clone());
    let mut messages = receive_all(&queue).await;
    messages.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    assert_eq!(messages.iter().map(|m| m.group_id.as_str()).collect::<Vec<_>>(), ["gitlab:42:12", "gitlab:5:17"]);

    let envelope: Envelope<&RawValue> = Envelope::parse(&messages[0].body).unwrap();
    assert_eq!(
        (envelope.source, envelope.kind.as_ref(), envelope.key.as_ref()),
        (Source::Gitlab, "Issue Hook", "k-issue-1")
    );
    let event = read_issue_event(envelope.payload).unwrap();
    assert_eq!(event.object_attributes.title.as_deref(), Some("New title"));
    assert_eq!(event.assignees.unwrap()[0].username.as_deref(), Some("jroe"));

    let envelope: Envelope<&RawValue> = Envelope::parse(&messages[1].body).unwrap();
    assert_eq!(envelope.delivery.unwrap().event_uuid.as_deref(), Some("5b0d2c1e-9f8a-4b7c-a6d5-e4f3a2b1c0d9"));
    let note = read_note_event(envelope.payload).unwrap();
    assert_eq!((note.object_attributes.id, note.issue.iid), (Some(1241), Some(17)));
}

#[tokio::test]
async fn the_same_delivery_sent_twice_is_received_once() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "wh-dedup", TOKEN).await;
    let deps = deps(&aws, &stack, aws.sqs());
    for _ in 0..2 {
        assert_eq!(status(&deps, TOKEN, "same-key", "issue_close").await, StatusCode::OK);
    }
    let messages = receive_all(&SqsQueue::new(aws.sqs(), stack.queue_url.clone())).await;
    assert_eq!(messages.len(), 1);
}

#[tokio::test]
async fn a_secret_rotated_in_secrets_manager_is_accepted_old_and_new() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "wh-rotate", TOKEN).await;
    let deps = deps(&aws, &stack, aws.sqs());
    assert_eq!(status(&deps, TOKEN, "r-1", "issue_open").await, StatusCode::OK);

    aws.secrets()
        .put_secret_value()
        .secret_id(stack.secret(ids::WEBHOOK_SECRET))
        .secret_string("rotated-secret")
        .send()
        .await
        .unwrap();
    // The cached secret does not know the new value: the mismatch makes the handler re-read it.
    assert_eq!(status(&deps, "rotated-secret", "r-2", "issue_close").await, StatusCode::OK);
    // GitLab may still send the old one until the operator updates the hook: AWSPREVIOUS.
    assert_eq!(status(&deps, TOKEN, "r-3", "issue_update_synthetic").await, StatusCode::OK);
    assert_eq!(status(&deps, "neither", "r-4", "issue_open").await, StatusCode::UNAUTHORIZED);
    assert_eq!(receive_all(&SqsQueue::new(aws.sqs(), stack.queue_url.clone())).await.len(), 3);
}

#[tokio::test]
async fn when_sqs_is_unavailable_the_answer_is_503_and_service_resumes_when_it_is_back() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "wh-outage", TOKEN).await;
    let proxy = FaultProxy::start(socket_of(aws.endpoint())).await;
    let deps = deps(&aws, &stack, aws.sqs_via(&proxy.url()));

    assert_eq!(status(&deps, TOKEN, "o-1", "issue_open").await, StatusCode::OK);
    proxy.set_down(true);
    assert_eq!(status(&deps, TOKEN, "o-2", "issue_close").await, StatusCode::SERVICE_UNAVAILABLE);
    proxy.set_down(false);
    assert_eq!(status(&deps, TOKEN, "o-2", "issue_close").await, StatusCode::OK);

    let messages = receive_all(&SqsQueue::new(aws.sqs(), stack.queue_url.clone())).await;
    let mut groups: Vec<&str> = messages.iter().map(|m| m.group_id.as_str()).collect();
    groups.sort();
    assert_eq!(
        groups,
        ["gitlab:1:23", "gitlab:80222147:6"],
        "the delivery refused during the outage arrives once when GitLab sends it again"
    );
}

#[tokio::test]
async fn a_webhook_secret_of_only_whitespace_in_secrets_manager_answers_503_and_accepts_nothing() {
    let aws = LocalAws::connect().await;
    for (name, blank) in [("wh-blank", "   "), ("wh-newline", " \n")] {
        let stack = TestStack::create(&aws, name, blank).await;
        let deps = deps(&aws, &stack, aws.sqs());
        for token in ["", " ", "   "] {
            let answer = handle(&deps, delivery("Issue Hook", token, "k-blank", fixture("issue_open"))).await;
            assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE, "secret {blank:?}, token {token:?}");
        }
        let queue = SqsQueue::new(aws.sqs(), stack.queue_url.clone());
        assert!(receive_all(&queue).await.is_empty(), "nothing was queued");
    }
}
