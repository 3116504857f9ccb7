//! The QALITA route with in-memory adapters: every answer, each proof, the log line.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use lambda_http::http;
use lambda_http::http::header;
use qalita_gitlab_core::adapters::memory::{ManualClock, MemoryQueue, MemorySecrets};
use qalita_gitlab_core::ports::EventQueue;
use qalita_gitlab_core::webhook::qalita::QALITA_WEBHOOK_PATH;
use qalita_gitlab_core::webhook::qalita::QalitaRoute;
use qalita_gitlab_core::webhook::qalita::auth::{QalitaAuthenticator, hmac_hex, standard_key};
use qalita_gitlab_core::webhook::verify::{CachePolicy, WebhookAuthenticator};
use serde_json::Value;

use super::*;
use crate::handler::{handle, over_limit, screen};
use crate::test_log::Captured;

const GITLAB_SECRET_ID: &str = "qalita-gitlab/webhook-secret";
const SECRET_ID: &str = "qalita-gitlab/qalita-webhook-secret";
const SECRET: &str = "qw-7TnB2xLr9KpVz4Hs6Dm1Yc";

struct Fixture {
    deps: Deps,
    queue: Arc<MemoryQueue>,
    secrets: Arc<MemorySecrets>,
}

fn fixture() -> Fixture {
    let clock = Arc::new(ManualClock::at(Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap()));
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let secrets = Arc::new(MemorySecrets::new());
    secrets.put(GITLAB_SECRET_ID, "gitlab-side-secret");
    secrets.put(SECRET_ID, SECRET);
    let route = QalitaRoute::default();
    let deps = Deps {
        queue: queue.clone(),
        auth: WebhookAuthenticator::new(secrets.clone(), GITLAB_SECRET_ID, clock.clone(), CachePolicy::default()),
        qalita: Some(QalitaDeps {
            auth: QalitaAuthenticator::new(secrets.clone(), SECRET_ID, clock.clone(), CachePolicy::default(), &route),
            route,
        }),
        clock,
        max_body_bytes: 64 * 1024,
    };
    Fixture { deps, queue, secrets }
}

fn post(headers: &[(&str, &str)], body: &str) -> Request {
    let mut builder = http::Request::builder()
        .method("POST")
        .uri(format!("https://abc.execute-api.eu-west-1.amazonaws.com{QALITA_WEBHOOK_PATH}"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::Text(body.to_owned())).unwrap()
}

fn bearer() -> String {
    format!("Bearer {SECRET}")
}

async fn call(f: &Fixture, request: Request) -> (StatusCode, Value) {
    let response = handle(&f.deps, request).await;
    let status = response.status();
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    (status, serde_json::from_slice(response.body().as_ref()).unwrap())
}

async fn drain(queue: &MemoryQueue) -> Vec<qalita_gitlab_core::ports::ReceivedMessage> {
    queue.receive(10, std::time::Duration::ZERO).await.unwrap()
}

const UPDATED: &str = r#"{"event":"issue.updated","issue":{"id":42,"title":"Null rate above 5%","status":"resolved"}}"#;

#[tokio::test]
async fn an_authentic_issue_event_queues_the_id_only_event_of_the_issues_group() {
    let f = fixture();
    let (code, body) = call(&f, post(&[("authorization", &bearer())], UPDATED)).await;
    assert_eq!((code, body), (StatusCode::OK, serde_json::json!({"status": "queued"})));
    let messages = drain(&f.queue).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].group_id, "qalita:42");
    let envelope: Value = serde_json::from_str(&messages[0].body).unwrap();
    assert_eq!((envelope["source"].as_str(), envelope["kind"].as_str()), (Some("qalita"), Some("issue.updated")));
    assert_eq!(envelope["payload"], serde_json::json!({"issue_id": 42, "sweep": true}));
    assert!(!messages[0].body.contains("Null rate"), "no payload value travels but the id");
}

#[tokio::test]
async fn each_proof_is_accepted_and_a_wrong_or_missing_one_is_401() {
    let f = fixture();
    let hex = hmac_hex(SECRET, UPDATED.as_bytes());
    let timestamp = Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap().timestamp().to_string();
    let standard = standard_key(SECRET).sign("msg_9", &timestamp, UPDATED.as_bytes());
    let accepted: [&[(&str, &str)]; 4] = [
        &[("authorization", &bearer())],
        &[("x-qalita-token", SECRET)],
        &[("x-qalita-signature", &format!("sha256={hex}"))],
        &[("webhook-id", "msg_9"), ("webhook-timestamp", &timestamp), ("webhook-signature", &standard)],
    ];
    for headers in accepted {
        let (code, body) = call(&f, post(headers, UPDATED)).await;
        assert_eq!((code, &body["status"]), (StatusCode::OK, &Value::from("queued")), "{headers:?}");
    }
    let refused: [(&[(&str, &str)], &str); 4] = [
        (&[], "no credentials"),
        (&[("authorization", "Bearer qw-7TnB2xLr9KpVz4Hs6Dm1Yd")], "the token does not match"),
        (&[("x-qalita-signature", &hmac_hex("another-secret-of-16+", UPDATED.as_bytes()))], "the signature does not"),
        (
            &[("webhook-id", "msg_9"), ("webhook-timestamp", "1"), ("webhook-signature", &standard)],
            "webhook-timestamp is outside",
        ),
    ];
    for (headers, reason) in refused {
        let (code, body) = call(&f, post(headers, UPDATED)).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert!(body["reason"].as_str().unwrap().starts_with(reason), "{body}");
    }
    // The GitLab route's token is not the QALITA route's.
    let (code, _) = call(&f, post(&[("authorization", "Bearer gitlab-side-secret")], UPDATED)).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn other_events_are_200_ignored_and_malformed_bodies_400_with_the_reason() {
    let f = fixture();
    let auth = [("authorization", bearer())];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (code, body) = call(&f, post(&auth, r#"{"event":"quality_score_changed","score":0.93}"#)).await;
    assert_eq!((code, body["status"].as_str()), (StatusCode::OK, Some("ignored")));
    for (payload, reason) in [
        ("{not json", "body is not valid JSON"),
        ("[]", "body is an array, not a JSON object"),
        (r#"{"issue_id":4}"#, "no event name at /event"),
        (r#"{"event":"issue.updated"}"#, "the issue.updated event names no issue"),
    ] {
        let (code, body) = call(&f, post(&auth, payload)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{payload}");
        assert!(body["reason"].as_str().unwrap().starts_with(reason), "{payload}: {body}");
    }
    assert!(f.queue.is_empty());
}

#[tokio::test]
async fn without_its_secret_the_route_is_404_and_the_gitlab_route_is_untouched() {
    let mut f = fixture();
    f.deps.qalita = None;
    let (code, body) = call(&f, post(&[("authorization", &bearer())], UPDATED)).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert!(body["reason"].as_str().unwrap().contains("not configured"), "{body}");
    assert!(f.queue.is_empty());
}

#[tokio::test]
async fn the_secret_or_the_queue_unavailable_is_503_so_the_sender_retries() {
    let f = fixture();
    f.queue.set_down(true);
    let (code, body) = call(&f, post(&[("authorization", &bearer())], UPDATED)).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("the event queue is unavailable; try again later"))
    );
    let f = fixture();
    f.secrets.set_down(true);
    let (code, body) = call(&f, post(&[("authorization", &bearer())], UPDATED)).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test]
async fn a_retry_with_the_same_delivery_id_is_queued_once() {
    let f = fixture();
    for _ in 0..3 {
        let (code, _) = call(&f, post(&[("authorization", &bearer()), ("x-qalita-delivery", "dlv-77")], UPDATED)).await;
        assert_eq!(code, StatusCode::OK);
    }
    assert_eq!(drain(&f.queue).await.len(), 1);
}

#[tokio::test]
async fn the_headers_alone_refuse_a_wrong_token_and_let_a_signature_read_the_body() {
    let f = fixture();
    let wrong = post(&[("authorization", "Bearer nope-nope-nope-nope")], UPDATED);
    let answer = screen(&f.deps, QALITA_WEBHOOK_PATH, wrong.method(), wrong.headers()).await.expect("refused");
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let signed = post(&[("x-qalita-signature", "00")], UPDATED);
    assert!(screen(&f.deps, QALITA_WEBHOOK_PATH, signed.method(), signed.headers()).await.is_none());
    let good = post(&[("authorization", &bearer())], UPDATED);
    assert!(screen(&f.deps, QALITA_WEBHOOK_PATH, good.method(), good.headers()).await.is_none());
    let answer = screen(&f.deps, QALITA_WEBHOOK_PATH, &Method::GET, good.headers()).await.expect("refused");
    assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
    let answer = over_limit(&f.deps, QALITA_WEBHOOK_PATH, good.headers(), 7_000_000).await;
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn each_delivery_logs_one_line_without_payload_or_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let f = fixture();
    call(&f, post(&[("authorization", &bearer())], UPDATED)).await;
    call(&f, post(&[("authorization", "Bearer forged-secret-value-1")], UPDATED)).await;
    call(&f, post(&[("authorization", &bearer())], r#"{"event":"issue.updated","issue_id":"Null rate"}"#)).await;
    call(&f, post(&[("authorization", &bearer())], r#"{"event":"quality_score_changed"}"#)).await;

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "{output}");
    let field = |i: usize, name: &str| lines[i]["fields"][name].clone();
    assert_eq!(
        (field(0, "route"), field(0, "outcome"), field(0, "event"), field(0, "issue")),
        ("qalita".into(), "queued".into(), "issue.updated".into(), 42.into())
    );
    assert_eq!((field(1, "outcome"), field(1, "reason")), ("unauthorized".into(), "wrong_token".into()));
    assert_eq!(
        (field(2, "outcome"), field(2, "reason")),
        ("bad_request".into(), "issue id is not a positive integer".into())
    );
    assert_eq!((field(3, "outcome"), field(3, "event")), ("ignored".into(), "quality_score_changed".into()));
    for forbidden in [SECRET, "forged-secret-value-1", "Null rate"] {
        assert!(!output.contains(forbidden), "{forbidden} in {output}");
    }
}
