//! The handler with in-memory adapters: every answer, the secret cache and rotation, the log line.

use std::io::Write;
use std::sync::Mutex;

use chrono::{TimeDelta, TimeZone, Utc};
use lambda_http::http;
use qalita_gitlab_core::adapters::memory::{ManualClock, MemoryQueue, MemorySecrets};
use qalita_gitlab_core::envelope::Envelope;
use qalita_gitlab_core::webhook::verify::CachePolicy;
use serde_json::Value;

use super::*;

const SECRET_ID: &str = "qalita-gitlab/webhook-secret";
const TOKEN: &str = "wh-secret-1f6c2d9e8b";
const PATH: &str = "/api/v2/integrations/gitlab/webhook";

struct Fixture {
    deps: Deps,
    queue: Arc<MemoryQueue>,
    secrets: Arc<MemorySecrets>,
    clock: Arc<ManualClock>,
}

fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::at(Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()));
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let secrets = Arc::new(MemorySecrets::new());
    secrets.put(SECRET_ID, TOKEN);
    let deps = Deps {
        queue: queue.clone(),
        auth: WebhookAuthenticator::new(secrets.clone(), SECRET_ID, clock.clone(), CachePolicy::default()),
        clock: clock.clone(),
        max_body_bytes: 64 * 1024,
    };
    Fixture { deps, queue, secrets, clock }
}

fn fixture_body(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../../fixtures/gitlab/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A delivery as GitLab sends it: its headers, and a fresh Idempotency-Key unless one is given.
fn delivery(event: &str, token: Option<&str>, body: impl Into<String>) -> Request {
    let mut builder = http::Request::builder()
        .method("POST")
        .uri(PATH)
        .header("content-type", "application/json")
        .header("user-agent", "GitLab/18.6.0")
        .header("x-gitlab-event", event)
        .header("x-gitlab-instance", "https://gitlab.example.com")
        .header("x-gitlab-webhook-uuid", "2f7e0b1c-3d4a-4b5c-8d6e-7f8091a2b3c4")
        .header("x-gitlab-event-uuid", "8d1b6a3e-4c2f-4e5d-9a7b-0c1d2e3f4a5b");
    if let Some(token) = token {
        builder = builder.header("x-gitlab-token", token);
    }
    builder.body(Body::Text(body.into())).unwrap()
}

async fn call(f: &Fixture, request: Request) -> (StatusCode, Value) {
    let response = handle(&f.deps, request).await;
    let status = response.status();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    (status, body)
}

async fn drain(queue: &MemoryQueue) -> Vec<qalita_gitlab_core::ports::ReceivedMessage> {
    queue.receive(10, std::time::Duration::ZERO).await.unwrap()
}

#[tokio::test]
async fn every_gitlab_fixture_gets_the_right_answer_and_only_issue_events_are_queued() {
    let cases = [
        ("issue_open", "Issue Hook", "queued", Some("gitlab:1:23")),
        ("issue_close", "Issue Hook", "queued", Some("gitlab:80222147:6")),
        ("confidential_issue", "Confidential Issue Hook", "queued", Some("gitlab:5:1")),
        ("issue_update_synthetic", "Issue Hook", "queued", Some("gitlab:42:12")),
        ("note_on_issue", "Note Hook", "queued", Some("gitlab:5:17")),
        ("note_on_mr", "Note Hook", "ignored", None),
        ("note_on_commit", "Note Hook", "ignored", None),
    ];
    for (name, event, status, group) in cases {
        let f = fixture();
        let (code, body) = call(&f, delivery(event, Some(TOKEN), fixture_body(name))).await;
        assert_eq!(code, StatusCode::OK, "{name}");
        assert_eq!(body["status"], status, "{name}: {body}");
        let messages = drain(&f.queue).await;
        assert_eq!(
            messages.iter().map(|m| m.group_id.as_str()).collect::<Vec<_>>(),
            group.into_iter().collect::<Vec<_>>(),
            "{name}"
        );
        if let Some(message) = messages.first() {
            let envelope: Envelope<Value> = Envelope::parse(&message.body).unwrap();
            assert_eq!(envelope.kind, event);
            let prefix =
                "8d1b6a3e-4c2f-4e5d-9a7b-0c1d2e3f4a5b:".to_owned() + &event.to_lowercase().replace(' ', "-") + ":";
            assert!(envelope.key.starts_with(&prefix), "{}", envelope.key);
            assert!(envelope.payload["project"]["id"].is_u64(), "{name}");
        } else {
            assert!(body["reason"].as_str().unwrap().starts_with("notes on a "), "{body}");
        }
    }
}

#[tokio::test]
async fn when_the_token_is_missing_or_wrong_the_delivery_is_rejected_with_401_and_not_queued() {
    let f = fixture();
    let (code, body) = call(&f, delivery("Issue Hook", None, fixture_body("issue_open"))).await;
    assert_eq!((code, body["reason"].as_str()), (StatusCode::UNAUTHORIZED, Some("missing X-Gitlab-Token header")));
    let (code, body) = call(&f, delivery("Issue Hook", Some("wh-secret-1f6c2d9e8c"), fixture_body("issue_open"))).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("X-Gitlab-Token does not match the webhook secret"))
    );
    let (code, _) = call(&f, delivery("Issue Hook", Some(""), fixture_body("issue_open"))).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(f.queue.is_empty());
}

#[tokio::test]
async fn authentication_comes_before_any_reading_of_the_body() {
    let f = fixture();
    let (code, _) = call(&f, delivery("Issue Hook", Some("wrong"), "not json")).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, _) = call(&f, delivery("Issue Hook", None, "x".repeat(100_000))).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn during_a_rotation_the_previous_secret_is_still_accepted() {
    let f = fixture();
    f.secrets.put(SECRET_ID, "wh-secret-rotated");
    for token in [TOKEN, "wh-secret-rotated"] {
        let (code, body) = call(
            &f,
            delivery("Issue Hook", Some(token), fixture_body("issue_open").replace("\"iid\": 23", "\"iid\": 24")),
        )
        .await;
        assert_eq!((code, &body["status"]), (StatusCode::OK, &Value::from("queued")), "{token}");
    }
}

#[tokio::test]
async fn a_rotated_secret_is_picked_up_after_a_mismatch_and_at_most_once_a_minute() {
    let f = fixture();
    let (code, _) = call(&f, delivery("Issue Hook", Some(TOKEN), fixture_body("issue_open"))).await;
    assert_eq!(code, StatusCode::OK);
    let reads_after_first = f.secrets.reads();

    // Rotated twice: the cached secret knows neither new value.
    f.secrets.put(SECRET_ID, "second");
    f.secrets.put(SECRET_ID, "third");
    f.clock.advance(TimeDelta::seconds(10));
    let (code, _) = call(&f, delivery("Issue Hook", Some("third"), fixture_body("issue_close"))).await;
    assert_eq!(code, StatusCode::OK, "the mismatch re-reads the secret and finds the new value");
    assert_eq!(f.secrets.reads(), reads_after_first + 2, "one re-read: current and previous stages");

    // A flood of wrong tokens within the minute causes no further reads.
    for _ in 0..20 {
        let (code, _) = call(&f, delivery("Issue Hook", Some("forged"), fixture_body("issue_open"))).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(f.secrets.reads(), reads_after_first + 2);

    // After the minute, one more re-read is allowed.
    f.clock.advance(TimeDelta::seconds(61));
    let (code, _) = call(&f, delivery("Issue Hook", Some("forged"), fixture_body("issue_open"))).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(f.secrets.reads(), reads_after_first + 4);
}

#[tokio::test]
async fn the_secret_is_cached_and_read_again_after_its_ttl() {
    let f = fixture();
    for iid in 1..=5 {
        call(
            &f,
            delivery(
                "Issue Hook",
                Some(TOKEN),
                fixture_body("issue_open").replace("\"iid\": 23", &format!("\"iid\": {iid}")),
            ),
        )
        .await;
    }
    assert_eq!(f.secrets.reads(), 2, "read once (both stages) for five deliveries");
    f.clock.advance(TimeDelta::minutes(6));
    call(&f, delivery("Issue Hook", Some(TOKEN), fixture_body("issue_close"))).await;
    assert_eq!(f.secrets.reads(), 4);
}

#[tokio::test]
async fn when_the_secret_store_is_down_a_cached_secret_keeps_working_and_a_cold_start_answers_503() {
    let f = fixture();
    f.secrets.set_down(true);
    let (code, body) = call(&f, delivery("Issue Hook", Some(TOKEN), fixture_body("issue_open"))).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    f.secrets.set_down(false);
    let (code, _) = call(&f, delivery("Issue Hook", Some(TOKEN), fixture_body("issue_open"))).await;
    assert_eq!(code, StatusCode::OK);
    f.secrets.set_down(true);
    f.clock.advance(TimeDelta::minutes(10));
    let (code, _) = call(&f, delivery("Issue Hook", Some(TOKEN), fixture_body("issue_close"))).await;
    assert_eq!(code, StatusCode::OK, "the expired cached secret is used while the store is down");
}

#[tokio::test]
async fn bad_bodies_after_authentication_get_400_or_413_with_the_reason() {
    let f = fixture();
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("not json".into(), StatusCode::BAD_REQUEST, "body is not valid JSON: expected ident at line 1 column 2"),
        ("[{\"object_kind\":\"issue\"}]".into(), StatusCode::BAD_REQUEST, "body must be a JSON object, got an array"),
        ("{\"event_type\":\"issue\"}".into(), StatusCode::BAD_REQUEST, "body has no object_kind"),
        ("".into(), StatusCode::BAD_REQUEST, "body is not valid JSON: EOF while parsing a value at line 1 column 0"),
        (
            format!("{{\"object_kind\":\"issue\",\"x\":\"{}\"}}", "a".repeat(70_000)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body of 70030 bytes is over the limit of 65536 bytes",
        ),
    ];
    for (body, status, reason) in cases {
        let (code, answer) = call(&f, delivery("Issue Hook", Some(TOKEN), body)).await;
        assert_eq!((code, answer["reason"].as_str()), (status, Some(reason)));
    }
    assert!(f.queue.is_empty());
}

#[tokio::test]
async fn work_items_merge_request_notes_and_tests_of_other_events_are_acknowledged_and_ignored() {
    let f = fixture();
    let work_item = fixture_body("issue_open").replace("\"object_kind\": \"issue\"", "\"object_kind\": \"work_item\"");
    let (code, body) = call(&f, delivery("Issue Hook", Some(TOKEN), work_item)).await;
    assert_eq!((code, body["reason"].as_str()), (StatusCode::OK, Some("work items are not synced")));
    let test_of_push = r#"{"object_kind":"push","event_name":"push","before":"95790bf8","after":"da1560886","ref":"refs/heads/master","project_id":15,"project":{"id":15},"commits":[],"total_commits_count":0}"#;
    let (code, body) = call(&f, delivery("Push Hook", Some(TOKEN), test_of_push)).await;
    assert_eq!((code, body["reason"].as_str()), (StatusCode::OK, Some("push events are not synced")));
    assert!(f.queue.is_empty());
}

#[tokio::test]
async fn a_test_delivery_of_an_issue_is_queued() {
    let f = fixture();
    let mut test: Value = serde_json::from_str(&fixture_body("issue_open")).unwrap();
    test["object_attributes"].as_object_mut().unwrap().remove("action");
    test["changes"] = serde_json::json!({});
    let (code, body) = call(&f, delivery("Issue Hook", Some(TOKEN), test.to_string())).await;
    assert_eq!((code, &body["status"]), (StatusCode::OK, &Value::from("queued")));
    assert_eq!(drain(&f.queue).await.len(), 1);
}

#[tokio::test]
async fn a_redelivery_with_the_same_idempotency_key_reaches_the_queue_once() {
    let f = fixture();
    for _ in 0..3 {
        let mut request = delivery("Issue Hook", Some(TOKEN), fixture_body("issue_close"));
        request.headers_mut().insert("idempotency-key", "b2c7a1d4-0e3f-4a5b-8c6d-7e8f9a0b1c2d".parse().unwrap());
        let (code, _) = call(&f, request).await;
        assert_eq!(code, StatusCode::OK);
    }
    let messages = drain(&f.queue).await;
    assert_eq!(messages.len(), 1);
    let envelope: Envelope<Value> = Envelope::parse(&messages[0].body).unwrap();
    assert_eq!(envelope.key, "b2c7a1d4-0e3f-4a5b-8c6d-7e8f9a0b1c2d");
}

#[tokio::test]
async fn when_the_queue_is_down_the_answer_is_503_and_service_resumes_when_it_is_back() {
    let f = fixture();
    f.queue.set_down(true);
    let (code, body) = call(&f, delivery("Issue Hook", Some(TOKEN), fixture_body("issue_open"))).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("the event queue is unavailable; try again later"))
    );
    f.queue.set_down(false);
    let (code, _) = call(&f, delivery("Issue Hook", Some(TOKEN), fixture_body("issue_open"))).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(drain(&f.queue).await.len(), 1);
}

#[tokio::test]
async fn only_post_is_accepted() {
    let f = fixture();
    let mut request = delivery("Issue Hook", Some(TOKEN), fixture_body("issue_open"));
    *request.method_mut() = Method::GET;
    let (code, _) = call(&f, request).await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
    assert!(f.queue.is_empty());
}

/// Captures the JSON log lines written while it is installed on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_delivery_logs_one_json_line_without_payload_headers_or_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let f = fixture();
    call(&f, delivery("Issue Hook", Some(TOKEN), fixture_body("issue_close"))).await;
    call(&f, delivery("Note Hook", Some(TOKEN), fixture_body("note_on_mr"))).await;
    call(&f, delivery("Issue Hook", Some("forged-token-value"), fixture_body("issue_open"))).await;
    call(
        &f,
        delivery("Issue Hook", Some(TOKEN), "{\"object_kind\":\"issue\",\"object_attributes\":\"secret-ish text\"}"),
    )
    .await;
    f.queue.set_down(true);
    call(&f, delivery("Issue Hook", Some(TOKEN), fixture_body("issue_open"))).await;

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 5, "{output}");
    let field = |i: usize, name: &str| lines[i]["fields"][name].clone();
    assert_eq!(
        (field(0, "outcome"), field(0, "event"), field(0, "project"), field(0, "iid")),
        ("queued".into(), "Issue Hook".into(), 80222147.into(), 6.into())
    );
    assert_eq!(field(1, "outcome"), "ignored");
    assert_eq!(field(2, "outcome"), "unauthorized");
    assert_eq!(
        (field(3, "outcome"), field(3, "reason")),
        ("bad_request".into(), "/object_attributes is invalid".into())
    );
    assert_eq!((field(4, "outcome"), field(4, "error_class")), ("enqueue_failed".into(), "memory-queue-down".into()));
    assert!(lines.iter().all(|l| l["fields"]["latency_ms"].is_f64()));
    for forbidden in [
        TOKEN,
        "forged-token-value",
        "secret-ish text",
        "Incident was observed",
        "sathwikshetty33",
        "GitLab/18.6.0",
        "application/json",
    ] {
        assert!(!output.to_lowercase().contains(&forbidden.to_lowercase()), "log contains {forbidden:?}: {output}");
    }
}
