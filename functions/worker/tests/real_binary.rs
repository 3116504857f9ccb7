//! The real `qalita-gitlab-worker` binary, run as Lambda runs it (emulated Runtime API) against
//! the local stack and the simulators: a batch of ten QALITA events, then a scheduled poll. Also
//! reports the process's peak memory after the batch.

use std::process::Stdio;
use std::time::Duration;

use chrono::TimeDelta;
use qalita_gitlab_core::adapters::dynamodb::DynamoLinkStore;
use qalita_gitlab_core::adapters::sqs::SqsQueue;
use qalita_gitlab_core::ports::{EventQueue, OutgoingMessage, Settings};
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, GitlabSim, SimConfig};
use qalita_gitlab_sims::qalita::QalitaSim;
use qalita_gitlab_tests::emf::{self, Lines};
use qalita_gitlab_tests::local_aws::LocalAws;
use qalita_gitlab_tests::runtime_api::{Running, RuntimeApi, peak_kib};
use qalita_gitlab_tests::stack::{TestStack, ids};
use serde_json::{Value, json};

const QALITA_TOKEN: &str = "qalita-api-token-for-tests";

/// This build's binary, or another one (the release build, to measure it) named by `WORKER_BINARY`.
fn binary() -> String {
    std::env::var("WORKER_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_qalita-gitlab-worker").to_owned())
}

#[tokio::test]
async fn the_worker_binary_syncs_a_batch_of_ten_events_and_runs_the_poll() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "wk-bin", "unused").await;
    let gitlab = GitlabSim::start(SimConfig::default()).await;
    gitlab.add_project(42, "data/quality");
    let qalita = QalitaSim::start(QALITA_TOKEN).await;
    let fixture: Value = serde_json::from_str(include_str!("../../../fixtures/qalita/issue.json")).unwrap();
    for id in 5001..=5010u64 {
        let mut issue = fixture.clone();
        issue["id"] = id.into();
        issue["assignee"] = Value::Null;
        issue["title"] = format!("Rule {id}").into();
        qalita.insert_issue(issue);
    }

    for (secret, value) in [(ids::GITLAB_TOKEN, DEFAULT_TOKEN), (ids::QALITA_TOKEN, QALITA_TOKEN)] {
        aws.secrets().put_secret_value().secret_id(stack.secret(secret)).secret_string(value).send().await.unwrap();
    }
    let document = format!(
        "[gitlab]\nbase_url = \"{}\"\ndefault_project = 42\n[qalita]\nbase_url = \"{}\"\n[create]\ncreated_after = \"2026-01-01T00:00:00Z\"\n",
        gitlab.url(),
        qalita.url()
    );
    DynamoLinkStore::new(aws.dynamodb(), stack.table_name.clone(), TimeDelta::days(1))
        .put_config_document(None, &document)
        .await
        .unwrap();

    let queue = SqsQueue::new(aws.sqs(), stack.queue_url.clone());
    for id in 5001..=5010u64 {
        let body = json!({"v": 1, "source": "qalita", "kind": "issue.created", "key": format!("e-{id}"), "received_at": "2026-11-25T10:00:00Z", "payload": {"issue_id": id}});
        let message =
            OutgoingMessage { group_id: format!("qalita:{id}"), dedup_id: format!("e-{id}"), body: body.to_string() };
        queue.send(&message).await.unwrap();
    }
    let mut records = Vec::new();
    while records.len() < 10 {
        let batch = queue.receive(10, Duration::ZERO).await.unwrap();
        assert!(!batch.is_empty(), "the ten messages are on the queue");
        records.extend(batch);
    }
    let event = json!({"Records": records.iter().map(|m| json!({
        "messageId": m.message_id, "receiptHandle": m.receipt, "body": m.body,
        "attributes": {"MessageGroupId": m.group_id, "ApproximateReceiveCount": m.receive_count.to_string()},
        "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": stack.queue_arn, "awsRegion": "us-east-1"
    })).collect::<Vec<_>>()});

    let runtime = RuntimeApi::start().await;
    let child = runtime
        .command(&binary(), "qalita-gitlab-worker", 256)
        .env("SYNC_TABLE_NAME", &stack.table_name)
        .env("EVENT_QUEUE_URL", &stack.queue_url)
        .env("GITLAB_TOKEN_SECRET_ID", stack.secret(ids::GITLAB_TOKEN))
        .env("QALITA_TOKEN_SECRET_ID", stack.secret(ids::QALITA_TOKEN))
        .env("METRICS_STACK", "wk-bin")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the worker binary");
    let mut child = Running(child);
    let stdout = Lines::collect(child.0.stdout.take().expect("the standard output is piped"));

    let answer = runtime.invoke(event, Duration::from_secs(60)).await.expect("the worker answers the batch");
    let peak = peak_kib(child.0.id());
    println!(
        "{}: peak resident memory after a batch of 10 events: {} KiB",
        binary(),
        peak.map_or("unknown".into(), |p| p.to_string())
    );
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    assert_eq!(gitlab.issues(42).len(), 10);

    let schedule = json!({"version": "0", "id": "poll", "detail-type": "Scheduled Event", "source": "aws.scheduler", "account": "123456789012", "time": "2026-11-25T10:05:00Z", "region": "us-east-1", "resources": [], "detail": {}});
    let report = runtime.invoke(schedule, Duration::from_secs(60)).await.expect("the worker answers the schedule");
    let poll = &report["poll"];
    assert_eq!((poll["read"].as_u64(), poll["enqueued"].as_u64()), (Some(10), Some(0)), "{report}");
    // The GitLab reconcile read the ten issues the batch made, and found them as the links know them.
    let reconcile = &report["reconcile"];
    assert_eq!((reconcile["read"].as_u64(), reconcile["synced"].as_u64()), (Some(10), Some(0)), "{report}");
    assert_eq!(gitlab.issues(42).len(), 10);

    // Each invocation wrote its figures as EMF lines, valid by the specification: the batch's ten
    // messages applied with their calls, then the schedule's poll and reconcile.
    let lines = stdout.wait_for(Duration::from_secs(5), |lines| {
        emf::read(lines).is_ok_and(|(_, totals)| totals.contains_key("ReconcileDuration"))
    });
    let (documents, totals) = emf::read(&lines).unwrap_or_else(|error| panic!("{error}"));
    // One line per invocation, and the schedule's line of the one configured project's hook gauge.
    assert_eq!(documents, 3, "{totals:?}");
    assert_eq!(totals.get("HookExecutable"), Some(&0.0), "no hook of ours on the project: {totals:?}");
    let figure = |name: &str| totals.get(name).copied().unwrap_or_default();
    assert_eq!(figure("MessagesApplied"), 10.0, "{totals:?}");
    assert_eq!((figure("PollIssuesRead"), figure("ReconcileIssuesRead")), (10.0, 10.0), "{totals:?}");
    // Ten creations at least, each after a QALITA read; no call failed.
    assert!(figure("GitlabCalls2xx") >= 10.0 && figure("QalitaCalls2xx") >= 10.0, "{totals:?}");
    assert!(!totals.keys().any(|name| name.contains("5xx") || name.ends_with("Calls429")), "{totals:?}");
}
