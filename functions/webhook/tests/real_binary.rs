//! The real `qalita-gitlab-webhook` binary, run as Lambda runs it: against an emulated Runtime
//! API, with the sample events of `events/` and the local stack. Also reports the process's peak
//! memory after one delivery, checks that hostile events each get an answer without taking the
//! process down, and that a misconfigured cold start fails with a clear message.

use std::process::{Command, Stdio};
use std::time::Duration;

use qalita_gitlab_tests::emf::{self, Lines};
use qalita_gitlab_tests::local_aws::LocalAws;
use qalita_gitlab_tests::runtime_api::{Running, RuntimeApi, peak_kib};
use qalita_gitlab_tests::stack::{TestStack, ids};
use qalita_gitlab_webhook::event::MAX_HEADERS;
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

/// The webhook binary running on the emulated Runtime API, with its own stack on moto.
async fn started(name: &str) -> (LocalAws, TestStack, RuntimeApi, Running, Lines) {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, name, EXAMPLE_SECRET).await;
    let runtime = RuntimeApi::start().await;
    let mut child = lambda(&runtime)
        .env("EVENT_QUEUE_URL", &stack.queue_url)
        .env("WEBHOOK_SECRET_ID", stack.secret(ids::WEBHOOK_SECRET))
        .env("METRICS_NAMESPACE", "Test/Webhook")
        .env("METRICS_STACK", name)
        .spawn()
        .expect("start the webhook binary");
    let stdout = Lines::collect(child.stdout.take().expect("the standard output is piped"));
    (aws, stack, runtime, Running(child), stdout)
}

#[tokio::test]
async fn the_binary_answers_each_sample_event_as_its_name_says() {
    let (aws, stack, runtime, child, stdout) = started("wh-bin").await;

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

    // One EMF line per invocation, each valid, counting each delivery under its outcome.
    let lines = stdout.wait_for(Duration::from_secs(5), |lines| emf::read(lines).is_ok_and(|(n, _)| n >= 4));
    let (documents, totals) = emf::read(&lines).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(documents, 4, "{lines:#?}");
    let count = |name: &str| totals.get(name).copied();
    assert_eq!(
        [
            count("GitlabDeliveriesQueued"),
            count("GitlabDeliveriesRejected"),
            count("GitlabDeliveriesIgnored"),
            count("GitlabDeliveriesMalformed")
        ],
        [Some(1.0); 4],
        "{totals:?}"
    );
    let document: Value =
        lines.iter().find_map(|l| serde_json::from_str::<Value>(l).ok().filter(|d| d.get("_aws").is_some())).unwrap();
    assert_eq!(document["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Test/Webhook");
    assert_eq!(document["Stack"], "wh-bin");
}

#[tokio::test]
async fn the_binary_answers_qalitas_webhook_on_its_route() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "wh-bin-q", EXAMPLE_SECRET).await;
    // The sample carries the example QALITA webhook secret: put it in the stack's secret.
    aws.secrets()
        .put_secret_value()
        .secret_id(stack.secret(ids::QALITA_WEBHOOK_SECRET))
        .secret_string("example-qalita-webhook-secret")
        .send()
        .await
        .unwrap();
    let runtime = RuntimeApi::start().await;
    let mut child = Running(
        lambda(&runtime)
            .env("EVENT_QUEUE_URL", &stack.queue_url)
            .env("WEBHOOK_SECRET_ID", stack.secret(ids::WEBHOOK_SECRET))
            .env("QALITA_WEBHOOK_SECRET_ID", stack.secret(ids::QALITA_WEBHOOK_SECRET))
            .spawn()
            .expect("start the webhook binary"),
    );
    let stdout = Lines::collect(child.0.stdout.take().expect("the standard output is piped"));
    let answer = runtime
        .invoke(event("qalita-webhook-queued.json"), Duration::from_secs(20))
        .await
        .expect("the function answers");
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(serde_json::from_str::<Value>(answer["body"].as_str().unwrap()).unwrap()["status"], "queued");
    // The GitLab route's token does not open the QALITA route.
    let mut forged = event("qalita-webhook-queued.json");
    forged["headers"]["authorization"] = format!("Bearer {EXAMPLE_SECRET}").into();
    let answer = runtime.invoke(forged, Duration::from_secs(20)).await.expect("the function answers");
    assert_eq!(answer["statusCode"], 401, "{answer}");

    let received = aws
        .sqs()
        .receive_message()
        .queue_url(&stack.queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1, "one message: {messages:?}");
    let body: Value = serde_json::from_str(messages[0].body().unwrap_or_default()).unwrap();
    assert_eq!(body["payload"], serde_json::json!({"issue_id": 4821, "sweep": true}));
    let group = messages[0]
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
        .cloned();
    assert_eq!(group.as_deref(), Some("qalita:4821"));

    // The QALITA route's deliveries are counted under their own source.
    let lines = stdout.wait_for(Duration::from_secs(5), |lines| emf::read(lines).is_ok_and(|(n, _)| n >= 2));
    let (_, totals) = emf::read(&lines).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        (
            totals.get("QalitaDeliveriesQueued"),
            totals.get("QalitaDeliveriesRejected"),
            totals.get("GitlabDeliveriesRejected")
        ),
        (Some(&1.0), Some(&1.0), None),
        "{totals:?}"
    );
}

/// What the function must answer to a hostile event.
enum Expected {
    /// `400 {"status":"rejected","reason":…}`, with this reason when given.
    Rejected(Option<String>),
    /// The runtime's own error report (API Gateway answers 500): the event is not JSON the
    /// runtime can read.
    RuntimeError,
}

/// Events no API Gateway sends but anyone allowed to invoke the function can, each with the
/// answer it must get: none may take the process down (the release build aborts on a panic).
fn hostile_events() -> Vec<(&'static str, Value, Expected)> {
    let rejected = |reason: &str| Expected::Rejected(Some(reason.to_owned()));
    let not_http_api = "the event is not an API Gateway HTTP API request (payload format 2.0)";
    let bad_url = "the request's host, scheme, path or query do not make a valid URL";
    let mut cases = Vec::new();

    let mut invalid_base64 = event("webhook-issue-queued.json");
    invalid_base64["isBase64Encoded"] = true.into();
    invalid_base64["body"] = "{not base64!}".into();
    cases.push(("invalid base64", invalid_base64, rejected("the body is marked base64 but is not valid base64")));

    let mut no_context = event("webhook-issue-queued.json");
    no_context.as_object_mut().unwrap().remove("requestContext");
    cases.push(("no requestContext", no_context, rejected(not_http_api)));

    let mut number_body = event("webhook-issue-queued.json");
    number_body["body"] = 42.into();
    cases.push(("a body that is not a string", number_body, rejected(not_http_api)));

    cases.push(("an event that is not an object", Value::from("hello"), rejected(not_http_api)));

    let mut many_headers = event("webhook-issue-queued.json");
    let headers = many_headers["headers"].as_object_mut().unwrap();
    for n in 0..40_000 {
        headers.insert(format!("x-h-{n}"), "v".into());
    }
    let count = headers.len();
    let too_many = format!("the request has {count} headers, over the limit of {MAX_HEADERS}");
    cases.push(("40 000 headers", many_headers, Expected::Rejected(Some(too_many))));

    let mut bad_host = event("webhook-issue-queued.json");
    bad_host["headers"]["host"] = "not a host".into();
    cases.push(("a host with a space", bad_host, rejected(bad_url)));

    let mut bad_port = event("webhook-issue-queued.json");
    bad_port["rawPath"] = ":99999".into();
    cases.push(("a path that makes a port", bad_port, rejected(bad_url)));

    let mut bad_query = event("webhook-issue-queued.json");
    bad_query["rawQueryString"] = "a=b c".into();
    cases.push(("a query with a space", bad_query, rejected(bad_url)));

    // Decodes, but to bytes that are not UTF-8 (nor JSON): the handler's own 400.
    let mut not_utf8 = event("webhook-issue-queued.json");
    not_utf8["isBase64Encoded"] = true.into();
    not_utf8["body"] = "//4AgA==".into();
    cases.push(("a base64 body that is not UTF-8", not_utf8, Expected::Rejected(None)));

    // Deeper than the 128 levels serde_json reads: the runtime cannot even read it as JSON.
    let mut deep = event("webhook-issue-queued.json");
    let mut nested = Value::Array(Vec::new());
    for _ in 0..200 {
        nested = Value::Array(vec![nested]);
    }
    deep["requestContext"]["authorizer"] = nested;
    cases.push(("JSON nested 200 deep", deep, Expected::RuntimeError));
    cases
}

#[tokio::test]
async fn hostile_events_get_an_answer_and_the_process_then_serves_a_normal_delivery() {
    let (aws, stack, runtime, mut child, _stdout) = started("wh-hostile").await;

    for (name, hostile, expected) in hostile_events() {
        let answer = runtime.invoke(hostile, Duration::from_secs(20)).await;
        match expected {
            Expected::Rejected(reason) => {
                let answer = answer.unwrap_or_else(|error| panic!("{name}: an answer, not the error {error}"));
                assert_eq!(answer["statusCode"], 400, "{name}: {answer}");
                let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
                assert_eq!(body["status"], "rejected", "{name}: {answer}");
                if let Some(reason) = reason {
                    assert_eq!(body["reason"], reason.as_str(), "{name}");
                }
            }
            Expected::RuntimeError => {
                let error = answer.expect_err(name);
                assert!(error.to_string().contains("recursion limit"), "{name}: {error}");
            }
        }
        assert!(child.0.try_wait().unwrap().is_none(), "{name}: the process is still running");
    }

    let normal = runtime
        .invoke(event("webhook-issue-queued.json"), Duration::from_secs(20))
        .await
        .expect("the function answers a normal delivery after the hostile events");
    assert_eq!(normal["statusCode"], 200, "{normal}");
    assert_eq!(serde_json::from_str::<Value>(normal["body"].as_str().unwrap()).unwrap()["status"], "queued");
    let messages =
        aws.sqs().receive_message().queue_url(&stack.queue_url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(messages.messages().len(), 1, "only the normal delivery is queued");
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
