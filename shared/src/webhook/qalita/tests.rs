//! The QALITA route: what each shape of delivery becomes, and each proof and refusal.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use http::{HeaderMap, HeaderValue};
use serde_json::Value;

use super::auth::{QalitaAuthenticator, QalitaRejection, QalitaVerdict, hmac_hex, standard_key};
use super::*;
use crate::adapters::memory::{ManualClock, MemorySecrets};
use crate::ports::Clock;
use crate::webhook::signature::SigningKey;
use crate::webhook::verify::CachePolicy;

const SECRET_ID: &str = "qalita-webhook-secret";
const SECRET: &str = "qw7TnB2xLr9KpVz4Hs6Dm1Yc";
const OLD_SECRET: &str = "old5Gh8Jk2Lm4Np6Qr8St0Uv";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap()
}

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    map
}

fn read(body: &str, pairs: &[(&str, &str)]) -> Result<QalitaIngested, QalitaIngestError> {
    let route = QalitaRoute::default();
    let map = map(pairs);
    ingest(&route, &QalitaHeaders::from_map(&route, &map), body.as_bytes(), now())
}

/// The queued message's group, kind and payload.
fn queued(body: &str) -> (String, String, Value) {
    match read(body, &[]).unwrap() {
        QalitaIngested::Queue { message, .. } => {
            let envelope: Value = serde_json::from_str(&message.body).unwrap();
            (message.group_id, envelope["kind"].as_str().unwrap().to_owned(), envelope["payload"].clone())
        }
        other => panic!("not queued: {other:?}"),
    }
}

#[test]
fn the_obvious_shapes_become_the_id_only_event_of_the_issues_group() {
    let cases = [
        (r#"{"event":"issue.updated","issue":{"id":42,"status":"resolved"}}"#, "issue.updated"),
        (r#"{"type":"issue.created","data":{"id":42,"title":"t"}}"#, "issue.created"),
        (r#"{"kind":"IssueUpdated","issue_id":"42"}"#, "issue.updated"),
        (r#"{"event_type":"issue_status_changed","id":42}"#, "issue.updated"),
        (r#"{"event":"comment.created","issue_id":42,"comment":{"id":7,"content":"x"}}"#, "issue.updated"),
        (r#"{"event":"issue.comment.updated","comment":{"id":7,"issue_id":42}}"#, "issue.updated"),
        (r#"{"event":"comment_created","data":{"id":7,"issue_id":42}}"#, "issue.updated"),
    ];
    for (body, kind) in cases {
        let (group, found_kind, payload) = queued(body);
        assert_eq!(group, "qalita:42", "{body}");
        assert_eq!(found_kind, kind, "{body}");
        // Nothing of the payload travels but the id: the worker reads the issue itself.
        assert_eq!(payload, serde_json::json!({"issue_id": 42, "sweep": true}), "{body}");
    }
}

#[test]
fn the_queued_envelope_is_one_the_worker_reads_as_an_id_only_event_that_sweeps() {
    let QalitaIngested::Queue { message, .. } = read(r#"{"event":"issue.updated","issue_id":42}"#, &[]).unwrap() else {
        panic!("not queued")
    };
    let envelope: Envelope<'_, &serde_json::value::RawValue> = Envelope::parse(&message.body).unwrap();
    let event = crate::events::qalita::QalitaEvent::parse(&envelope, &Default::default()).unwrap().unwrap();
    match event {
        crate::events::qalita::QalitaEvent::IssueNamed { id, sweep, context } => {
            assert_eq!(id.get(), 42);
            assert!(sweep, "a webhook event sweeps the issue's comments");
            assert!(context.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(message.validate().is_ok());
}

#[test]
fn a_comment_events_own_id_is_never_taken_for_the_issues() {
    // `/data/id` and `/id` are the comment's: a comment event reads only the issue pointers.
    let err = read(r#"{"event":"comment.created","id":7,"data":{"id":7}}"#, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the comment.created event names no issue at /issue_id, /comment/issue_id, /data/issue_id, /issue/id"
    );
}

#[test]
fn events_about_neither_an_issue_nor_a_comment_are_ignored() {
    for body in [r#"{"event":"quality_score_changed","id":3}"#, r#"{"type":"source.created","data":{"id":9}}"#] {
        assert!(matches!(read(body, &[]).unwrap(), QalitaIngested::Ignore { .. }), "{body}");
    }
}

#[test]
fn the_event_may_come_from_the_header_and_the_pointers_are_configurable() {
    let (group, ..) = match read(r#"{"issue_id":5}"#, &[("x-qalita-event", "issue.updated")]).unwrap() {
        QalitaIngested::Queue { message, .. } => (message.group_id, ()),
        other => panic!("{other:?}"),
    };
    assert_eq!(group, "qalita:5");
    let route = QalitaRoute {
        event_pointers: QalitaRoute::pointers("/meta/name").unwrap(),
        issue_pointers: QalitaRoute::pointers(" /payload/issue/key , /x").unwrap(),
        ..QalitaRoute::default()
    };
    let body = br#"{"meta":{"name":"issue.updated"},"payload":{"issue":{"key":77}}}"#;
    let map = HeaderMap::new();
    match ingest(&route, &QalitaHeaders::from_map(&route, &map), body, now()).unwrap() {
        QalitaIngested::Queue { message, summary } => {
            assert_eq!(message.group_id, "qalita:77");
            assert_eq!(summary, QalitaSummary { event: Some("issue.updated".into()), issue: Some(77) });
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        QalitaRoute::pointers("event, type").unwrap_err().to_string(),
        "\"event\" is not a JSON pointer (it must start with /)"
    );
    assert!(QalitaRoute::pointers(" , ").is_err());
    assert!(QalitaRoute::header("X Bad").is_err());
    assert_eq!(QalitaRoute::header("X-Qalita-Token").unwrap(), "x-qalita-token");
}

#[test]
fn malformed_bodies_get_an_exact_reason() {
    let cases = [
        ("not json", "body is not valid JSON"),
        ("[1,2]", "body is an array, not a JSON object"),
        ("\"x\"", "body is a string, not a JSON object"),
        ("{}", "no event name at /event, /type, /kind, /event_type nor in the X-Qalita-Event header"),
        (r#"{"event":"issue.updated","issue":{"title":"x"}}"#, "the issue.updated event names no issue at"),
        (r#"{"event":"issue.updated","issue_id":0}"#, "the issue id at /issue_id is not a positive integer"),
        (r#"{"event":"issue.updated","issue_id":-3}"#, "the issue id at /issue_id is not a positive integer"),
        (r#"{"event":"issue.updated","issue_id":"abc"}"#, "the issue id at /issue_id is not a positive integer"),
        (r#"{"event":"issue.updated","issue_id":{"a":1}}"#, "the issue id at /issue_id is not a positive integer"),
    ];
    for (body, reason) in cases {
        let err = read(body, &[]).unwrap_err().to_string();
        assert!(err.starts_with(reason), "{body}: {err}");
    }
}

#[test]
fn a_senders_retry_shares_its_delivery_id_and_without_one_the_body_is_the_key() {
    let key = |body: &str, pairs: &[(&str, &str)]| match read(body, pairs).unwrap() {
        QalitaIngested::Queue { message, .. } => message.dedup_id,
        other => panic!("{other:?}"),
    };
    let a = r#"{"event":"issue.updated","issue_id":1,"at":"10:00"}"#;
    let b = r#"{"event":"issue.updated","issue_id":1,"at":"10:01"}"#;
    assert_eq!(key(a, &[("x-qalita-delivery", "d-1")]), key(b, &[("x-qalita-delivery", "d-1")]));
    assert_ne!(key(a, &[("x-qalita-delivery", "d-1")]), key(a, &[("x-qalita-delivery", "d-2")]));
    assert_eq!(key(a, &[]), key(a, &[]));
    assert_ne!(key(a, &[]), key(b, &[]));
    for k in [key(a, &[("webhook-id", &"x".repeat(500))]), key(a, &[])] {
        assert!(crate::ports::is_fifo_id(&k), "{k}");
    }
}

#[test]
fn log_names_are_tame() {
    let summary = |body: &str| match read(body, &[]).unwrap() {
        QalitaIngested::Ignore { summary } | QalitaIngested::Queue { summary, .. } => summary,
    };
    assert_eq!(summary(r#"{"event":"score changed <script>"}"#).event.as_deref(), Some("other"));
    assert_eq!(summary(&format!(r#"{{"event":"{}"}}"#, "a".repeat(65))).event.as_deref(), Some("other"));
    assert_eq!(summary(r#"{"event":"quality_score_changed"}"#).event.as_deref(), Some("quality_score_changed"));
}

struct World {
    secrets: Arc<MemorySecrets>,
    clock: Arc<ManualClock>,
    auth: QalitaAuthenticator,
}

fn world() -> World {
    let secrets = Arc::new(MemorySecrets::new());
    secrets.put(SECRET_ID, SECRET);
    let clock = Arc::new(ManualClock::at(now()));
    let auth = QalitaAuthenticator::new(
        secrets.clone(),
        SECRET_ID,
        clock.clone(),
        CachePolicy::default(),
        &QalitaRoute::default(),
    );
    World { secrets, clock, auth }
}

async fn verdict(w: &World, pairs: &[(&str, &str)], body: &[u8]) -> (QalitaVerdict, QalitaVerdict) {
    let route = QalitaRoute::default();
    let map = map(pairs);
    let headers = QalitaHeaders::from_map(&route, &map);
    (w.auth.check_headers(&headers).await.unwrap(), w.auth.check(&headers, body).await.unwrap())
}

const BODY: &[u8] = br#"{"event":"issue.updated","issue_id":42}"#;
const ACCEPTED: QalitaVerdict = QalitaVerdict::Accepted { previous: false };

#[tokio::test]
async fn the_secret_is_accepted_as_a_bearer_token_or_in_the_token_header() {
    let w = world();
    let bearer = format!("Bearer {SECRET}");
    assert_eq!(verdict(&w, &[("authorization", &bearer)], BODY).await, (ACCEPTED, ACCEPTED));
    let lower = format!("bearer {SECRET}");
    assert_eq!(verdict(&w, &[("authorization", &lower)], BODY).await, (ACCEPTED, ACCEPTED));
    assert_eq!(verdict(&w, &[("x-qalita-token", SECRET)], BODY).await, (ACCEPTED, ACCEPTED));
    let wrong = QalitaVerdict::Rejected(QalitaRejection::WrongToken);
    assert_eq!(verdict(&w, &[("authorization", "Bearer nope")], BODY).await, (wrong, wrong));
    assert_eq!(verdict(&w, &[("x-qalita-token", &SECRET[1..])], BODY).await, (wrong, wrong));
    // A Basic header is no proof at all.
    let missing = QalitaVerdict::Rejected(QalitaRejection::MissingCredentials);
    assert_eq!(verdict(&w, &[("authorization", &format!("Basic {SECRET}"))], BODY).await, (missing, missing));
    assert_eq!(verdict(&w, &[], BODY).await, (missing, missing));
}

#[tokio::test]
async fn an_hmac_of_the_body_is_accepted_in_hex_with_or_without_its_prefix() {
    let w = world();
    let hex = hmac_hex(SECRET, BODY);
    assert_eq!(hex.len(), 64);
    for value in [hex.clone(), format!("sha256={hex}"), hex.to_uppercase()] {
        assert_eq!(verdict(&w, &[("x-qalita-signature", &value)], BODY).await, (QalitaVerdict::NeedsBody, ACCEPTED));
    }
    let wrong = QalitaVerdict::Rejected(QalitaRejection::WrongSignature);
    let tampered = br#"{"event":"issue.updated","issue_id":43}"#;
    assert_eq!(verdict(&w, &[("x-qalita-signature", &hex)], tampered).await.1, wrong);
    assert_eq!(verdict(&w, &[("x-qalita-signature", &hmac_hex(OLD_SECRET, BODY))], BODY).await.1, wrong);
}

#[tokio::test]
async fn the_standard_webhooks_form_is_checked_with_its_replay_window() {
    let w = world();
    let timestamp = now().timestamp().to_string();
    let signature = standard_key(SECRET).sign("msg_1", &timestamp, BODY);
    let headers =
        [("webhook-id", "msg_1"), ("webhook-timestamp", timestamp.as_str()), ("webhook-signature", &signature)];
    assert_eq!(verdict(&w, &headers, BODY).await, (QalitaVerdict::NeedsBody, ACCEPTED));
    let wrong = QalitaVerdict::Rejected(QalitaRejection::WrongSignature);
    assert_eq!(verdict(&w, &headers, b"{}").await.1, wrong);
    let other_id = [("webhook-id", "msg_2"), headers[1], headers[2]];
    assert_eq!(verdict(&w, &other_id, BODY).await.1, wrong);
    // Six minutes later the same delivery is a replay.
    w.clock.advance(chrono::TimeDelta::minutes(6));
    let stale = QalitaVerdict::Rejected(QalitaRejection::StaleTimestamp);
    assert_eq!(verdict(&w, &headers, BODY).await, (stale, stale));
    let unreadable = QalitaVerdict::Rejected(QalitaRejection::UnreadableTimestamp);
    let bad_time = [headers[0], ("webhook-timestamp", "soon"), headers[2]];
    assert_eq!(verdict(&w, &bad_time, BODY).await.0, unreadable);
}

#[tokio::test]
async fn a_whsec_secret_signs_with_its_decoded_key_as_the_specification_says() {
    let w = world();
    let whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    w.secrets.put(SECRET_ID, whsec);
    w.clock.advance(chrono::TimeDelta::minutes(10));
    let timestamp = w.clock.now().timestamp().to_string();
    let signature = SigningKey::parse(whsec).unwrap().sign("m", &timestamp, BODY);
    let headers = [("webhook-id", "m"), ("webhook-timestamp", timestamp.as_str()), ("webhook-signature", &signature)];
    assert_eq!(verdict(&w, &headers, BODY).await.1, ACCEPTED);
}

#[tokio::test]
async fn during_a_rotation_the_previous_secret_still_authenticates_and_says_so() {
    let w = world();
    w.secrets.put(SECRET_ID, OLD_SECRET);
    w.secrets.put(SECRET_ID, SECRET);
    let old = format!("Bearer {OLD_SECRET}");
    let previous = QalitaVerdict::Accepted { previous: true };
    assert_eq!(verdict(&w, &[("authorization", &old)], BODY).await, (previous, previous));
}

#[tokio::test]
async fn a_short_secret_is_refused_when_read_and_named_without_its_value() {
    let w = world();
    w.secrets.put(SECRET_ID, "short");
    w.clock.advance(chrono::TimeDelta::minutes(10));
    let route = QalitaRoute::default();
    let map = map(&[("authorization", "Bearer short")]);
    let error = w.auth.check_headers(&QalitaHeaders::from_map(&route, &map)).await.unwrap_err().to_string();
    assert!(error.contains(SECRET_ID) && error.contains("shorter than 16"), "{error}");
    assert!(!error.contains("short\""), "{error}");
}

#[test]
fn debug_shows_no_credential() {
    let route = QalitaRoute::default();
    let bearer = format!("Bearer {SECRET}");
    let hex = hmac_hex(SECRET, BODY);
    let map = map(&[("authorization", &bearer), ("x-qalita-token", SECRET), ("x-qalita-signature", &hex)]);
    let shown = format!("{:?}", QalitaHeaders::from_map(&route, &map));
    assert!(!shown.contains(SECRET) && !shown.contains(&hex), "{shown}");
    assert!(shown.contains("[present]"));
}
