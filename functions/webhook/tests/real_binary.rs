//! The real `qalita-gitlab-webhook` binary, run as Lambda runs it: against an emulated Runtime
//! API, with the sample events of `events/` and the local stack. Also reports the process's peak
//! memory after one delivery, and checks that a misconfigured cold start fails with a clear message.

use std::process::{Command, Stdio};
use std::time::Duration;

use qalita_gitlab_tests::local_aws::LocalAws;
use qalita_gitlab_tests::runtime_api::{Running, RuntimeApi, peak_kib};
use qalita_gitlab_tests::stack::{TestStack, ids};
use serde_json::Value;

/// The binary under test: this build's, or another one (the release build, to measure its
/// memory) named by `WEBHOOK_BINARY`.
fn binary() -> String {
    std::env::var("WEBHOOK_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_qalita-gitlab-webhook").to_owned())
}

/// The secret the sample events carry (events/README.md).
const EXAMPLE_SECRET: &str = "example-webhook-secret";

fn lambda(runtime: &RuntimeApi) -> Command {
    let mut command = runtime.command(&binary(), "qalita-gitlab-webhook", 128);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

fn event(name: &str) -> Value {
    let path = qalita_gitlab_tests::repo_root().join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_binary_answers_each_sample_event_as_its_name_says() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "wh-bin", EXAMPLE_SECRET).await;
    let runtime = RuntimeApi::start().await;
    let child = lambda(&runtime)
        .env("EVENT_QUEUE_URL", &stack.queue_url)
        .env("WEBHOOK_SECRET_ID", stack.secret(ids::WEBHOOK_SECRET))
        .spawn()
        .expect("start the webhook binary");
    let child = Running(child);

    let first = runtime
        .invoke(event("webhook-issue-queued.json"), Duration::from_secs(20))
        .await
        .expect("the function answers");
    let peak = peak_kib(child.0.id());
    println!(
        "{}: peak resident memory after one delivery: {} KiB",
        binary(),
        peak.map_or("unknown".into(), |p| p.to_string())
    );
    assert_eq!(first["statusCode"], 200, "{first}");
    assert_eq!(serde_json::from_str::<Value>(first["body"].as_str().unwrap()).unwrap()["status"], "queued");

    let cases = [
        ("webhook-wrong-token-401.json", 401, "rejected"),
        ("webhook-mr-note-ignored.json", 200, "ignored"),
        ("webhook-malformed-400.json", 400, "rejected"),
    ];
    for (file, status, word) in cases {
        let answer = runtime.invoke(event(file), Duration::from_secs(20)).await.expect("the function answers");
        assert_eq!(answer["statusCode"], status, "{file}: {answer}");
        assert_eq!(serde_json::from_str::<Value>(answer["body"].as_str().unwrap()).unwrap()["status"], word, "{file}");
    }

    let messages =
        aws.sqs().receive_message().queue_url(&stack.queue_url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(messages.messages().len(), 1, "only the authentic issue event is queued");
}

#[tokio::test]
async fn a_cold_start_with_missing_configuration_fails_naming_the_variable() {
    let runtime = RuntimeApi::start().await;
    let output = lambda(&runtime)
        .env_remove("EVENT_QUEUE_URL")
        .env("WEBHOOK_SECRET_ID", "x")
        .output()
        .expect("run the webhook binary");
    assert!(!output.status.success());
    let printed = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("configuration: EVENT_QUEUE_URL: is not set"), "{printed}");
}
