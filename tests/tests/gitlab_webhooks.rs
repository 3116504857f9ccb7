//! The GitLab simulator's webhook: every change made through its API is POSTed to a receiver with
//! GitLab's headers and a body of the same shape as the real payloads in `fixtures/gitlab/`, which
//! the sync's own parser accepts; and the delivery faults a test arms. Each test starts its own
//! simulator and receiver on free ports.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use qalita_gitlab_core::adapters::gitlab_http::GitlabClient;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::domain::gitlab::{GitlabProjectRef, IssueUpdate, NewIssue, StateEvent};
use qalita_gitlab_core::domain::{Iid, SecretString};
use qalita_gitlab_core::ports::{CallContext, GitlabApi};
use qalita_gitlab_core::webhook::{DeliveryHeaders, Ingested, ingest};
use qalita_gitlab_sims::gitlab::{
    DEFAULT_TOKEN, Delivery, DeliveryOutcome, GitlabSim, SimConfig, WebhookConfig, WebhookEvents,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROJECT_ID: u64 = 42;
const PROJECT_PATH: &str = "data/quality/orders";
const SECRET: &str = "hook-secret";
const ANA: u64 = 7;
const ANA_TOKEN: &str = "test-token-person-ana";
const BOB: u64 = 8;
const BOB_TOKEN: &str = "test-token-person-bob";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

/// A receiver on a free loopback port that records every request and answers 200.
async fn receiver() -> (String, Inbox) {
    async fn record(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> StatusCode {
        inbox.lock().unwrap_or_else(|e| e.into_inner()).push(Received { headers, body });
        StatusCode::OK
    }
    let inbox = Inbox::default();
    let app = Router::new().fallback(record).with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the receiver");
    let address = listener.local_addr().expect("the receiver's address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/hooks/gitlab"), inbox)
}

fn received(inbox: &Inbox) -> Vec<Received> {
    inbox.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A simulator whose webhook posts to a fresh receiver.
async fn sim_with_receiver(events: WebhookEvents) -> (GitlabSim, Inbox) {
    let (url, inbox) = receiver().await;
    let hook = WebhookConfig::new(&url).with_secret(SECRET).with_events(events);
    let config = SimConfig::default()
        .with_user(ANA, "ana.lopez", "Ana López")
        .with_token(ANA_TOKEN, ANA)
        .with_user(BOB, "bob.martin", "Bob Martin")
        .with_token(BOB_TOKEN, BOB)
        .with_webhook(hook);
    let sim = GitlabSim::start(config).await;
    sim.add_project(PROJECT_ID, PROJECT_PATH);
    (sim, inbox)
}

fn client(sim: &GitlabSim) -> GitlabClient {
    GitlabClient::new(&sim.url(), SecretString::new(DEFAULT_TOKEN), &HttpSettings::default()).expect("a client")
}

fn project() -> GitlabProjectRef {
    GitlabProjectRef::parse(PROJECT_PATH).expect("a project path")
}

fn event(uuid: &str) -> CallContext {
    CallContext { gitlab_event_uuid: Some(uuid.into()), ..CallContext::default() }
}

/// Waits (in short steps, 5 s at most) until `count` requests have reached the receiver and every
/// delivery has an outcome.
async fn settle(sim: &GitlabSim, inbox: &Inbox, count: usize) {
    for _ in 0..500 {
        let pending = sim.deliveries().iter().any(|d| d.outcome == DeliveryOutcome::Pending);
        if received(inbox).len() >= count && !pending {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {count} deliveries, got {}: {:?}", received(inbox).len(), sim.deliveries());
}

/// Creates an issue, updates it, closes, reopens it and comments on it; returns its iid.
async fn life_of_an_issue(sim: &GitlabSim) -> Iid {
    let api = client(sim);
    let new = NewIssue {
        title: "Old title".into(),
        description: "Old description".into(),
        labels: vec!["triage".into()],
        ..NewIssue::default()
    };
    let created = api.create_issue(&project(), &new, &event("evt-create")).await.expect("create");
    let iid = created.iid;
    let edit = IssueUpdate {
        title: Some("New title".into()),
        description: Some("Updated description".into()),
        add_labels: vec!["bug".into()],
        remove_labels: vec!["triage".into()],
        assignee_ids: Some(vec![ANA]),
        ..IssueUpdate::default()
    };
    api.update_issue(&project(), iid, &edit, &CallContext::default()).await.expect("update");
    let close = IssueUpdate { state_event: Some(StateEvent::Close), ..IssueUpdate::default() };
    api.update_issue(&project(), iid, &close, &event("evt-close")).await.expect("close");
    let reopen = IssueUpdate { state_event: Some(StateEvent::Reopen), ..IssueUpdate::default() };
    api.update_issue(&project(), iid, &reopen, &event("evt-reopen")).await.expect("reopen");
    api.create_note(&project(), iid, "Looked into it", false, &event("evt-note")).await.expect("note");
    iid
}

/// A request sent as a person does, with their token and without the service's client: the
/// status and the JSON answer.
async fn send(sim: &GitlabSim, token: &str, method: &str, path: &str, content_type: &str, body: &str) -> (u16, Value) {
    let address = sim.url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect to the simulator");
    let request = format!(
        "{method} /api/v4{path} HTTP/1.1\r\nHost: {address}\r\nPRIVATE-TOKEN: {token}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send a request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read the answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("a JSON answer ({e}): {body}")))
}

async fn send_json(sim: &GitlabSim, token: &str, method: &str, path: &str, body: &Value) -> (u16, Value) {
    send(sim, token, method, path, "application/json", &body.to_string()).await
}

async fn get(sim: &GitlabSim, token: &str, path: &str) -> (u16, Value) {
    send(sim, token, "GET", path, "application/json", "").await
}

fn notes_path(iid: u64) -> String {
    format!("/projects/{PROJECT_ID}/issues/{iid}/notes")
}

fn note_path(iid: u64, note_id: u64) -> String {
    format!("/projects/{PROJECT_ID}/issues/{iid}/notes/{note_id}")
}

/// An issue opened by the service, and a comment on it by `token`'s person; the note's JSON.
async fn comment_as(sim: &GitlabSim, token: &str, confidential_issue: bool, internal: bool) -> (u64, Value) {
    let new =
        NewIssue { title: "Nulls in orders.amount".into(), confidential: confidential_issue, ..NewIssue::default() };
    let issue = client(sim).create_issue(&project(), &new, &CallContext::default()).await.expect("create");
    let iid = issue.iid.get();
    let body = json!({ "body": "First look: 12 rows", "internal": internal });
    let (status, note) = send_json(sim, token, "POST", &notes_path(iid), &body).await;
    assert_eq!(status, 201, "{note}");
    (iid, note)
}

/// A REST time (`2025-03-04T05:06:07.123Z`) as note hooks render times (`2025-03-04 05:06:07 UTC`).
fn hook_time(rest: &Value) -> String {
    let text = rest.as_str().expect("a time");
    let time = DateTime::parse_from_rfc3339(text).expect("an RFC 3339 time").with_timezone(&Utc);
    time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn header<'a>(request: &'a Received, name: &str) -> &'a str {
    request.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("header {name} missing"))
}

fn json(request: &Received) -> Value {
    serde_json::from_slice(&request.body).expect("a JSON body")
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/../fixtures/gitlab/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).expect("a JSON fixture")
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[tokio::test]
async fn every_change_through_the_api_is_delivered_in_order_with_gitlab_headers() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;

    life_of_an_issue(&sim).await;
    settle(&sim, &inbox, 5).await;

    let requests = received(&inbox);
    let kinds: Vec<(String, String)> = requests
        .iter()
        .map(|r| (header(r, "x-gitlab-event").to_owned(), json(r)["object_attributes"]["action"].to_string()))
        .collect();
    let expected = [
        ("Issue Hook", "\"open\""),
        ("Issue Hook", "\"update\""),
        ("Issue Hook", "\"close\""),
        ("Issue Hook", "\"reopen\""),
        ("Note Hook", "\"create\""),
    ];
    assert_eq!(kinds, expected.map(|(e, a)| (e.to_owned(), a.to_owned())));
    for request in &requests {
        assert_eq!(header(request, "content-type"), "application/json");
        assert_eq!(header(request, "x-gitlab-token"), SECRET);
        assert_eq!(header(request, "user-agent"), "GitLab/18.6.0");
        assert_eq!(header(request, "x-gitlab-instance"), sim.url());
        assert!(is_uuid(header(request, "x-gitlab-webhook-uuid")));
        assert!(is_uuid(header(request, "idempotency-key")));
    }
    let event_uuids: Vec<&str> = requests.iter().map(|r| header(r, "x-gitlab-event-uuid")).collect();
    assert_eq!(
        [event_uuids[0], event_uuids[2], event_uuids[3], event_uuids[4]],
        ["evt-create", "evt-close", "evt-reopen", "evt-note"]
    );
    assert!(is_uuid(event_uuids[1]), "a call without an event UUID gets a new one");
    let deliveries = sim.deliveries();
    assert_eq!(deliveries.len(), 5);
    assert!(deliveries.iter().all(|d| d.status() == Some(200) && d.header("x-gitlab-token").is_none()));
}

#[tokio::test]
async fn an_update_reports_previous_and_current_of_each_changed_field() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;

    life_of_an_issue(&sim).await;
    settle(&sim, &inbox, 5).await;

    let requests = received(&inbox);
    let update = json(&requests[1]);
    let changes = &update["changes"];
    assert_eq!(changes["title"]["previous"], "Old title");
    assert_eq!(changes["title"]["current"], "New title");
    assert_eq!(changes["description"]["current"], "Updated description");
    assert_eq!(changes["labels"]["previous"][0]["title"], "triage");
    assert_eq!(changes["labels"]["current"][0]["title"], "bug");
    assert_eq!(changes["assignees"]["previous"], Value::Array(Vec::new()));
    assert_eq!(changes["assignees"]["current"][0]["username"], "ana.lopez");
    assert_eq!(changes["assignees"]["current"][0]["email"], "[REDACTED]");
    assert!(changes.get("state_id").is_none(), "the state did not change");
    let close = json(&requests[2]);
    assert_eq!(close["changes"]["state_id"]["previous"], 1);
    assert_eq!(close["changes"]["state_id"]["current"], 2);
    assert_eq!(close["changes"]["closed_at"]["previous"], Value::Null);
    assert!(close["changes"]["closed_at"]["current"].is_string());
    assert_eq!(close["object_attributes"]["state"], "closed");
    assert_eq!(close["project"]["id"], PROJECT_ID);
    assert_eq!(close["project"]["path_with_namespace"], PROJECT_PATH);
    let reopen = json(&requests[3]);
    assert_eq!(reopen["changes"]["state_id"]["current"], 1);
    assert_eq!(reopen["changes"]["closed_at"]["current"], Value::Null);
    let note = json(&requests[4]);
    assert_eq!(note["object_attributes"]["note"], "Looked into it");
    assert_eq!(note["issue"]["iid"], close["object_attributes"]["iid"]);
}

/// Every key of `fixture` is in `actual` with the same JSON type, recursively (objects by key,
/// arrays by their first elements); null is accepted where the fixture has null or the key is
/// one of `optional`.
fn assert_same_shape(path: &str, fixture: &Value, actual: &Value, optional: &[&str]) {
    let key = path.rsplit('/').next().unwrap_or_default();
    match (fixture, actual) {
        (Value::Null, _) => {}
        (_, Value::Null) => assert!(optional.contains(&key), "{path} is null, the fixture has {fixture}"),
        (Value::Object(expected), Value::Object(found)) => {
            for (name, value) in expected {
                let inner = format!("{path}/{name}");
                let found = found.get(name).unwrap_or_else(|| panic!("{inner} is missing"));
                assert_same_shape(&inner, value, found, optional);
            }
        }
        (Value::Array(expected), Value::Array(found)) => {
            if let (Some(expected), Some(found)) = (expected.first(), found.first()) {
                assert_same_shape(&format!("{path}/0"), expected, found, optional);
            }
        }
        (Value::Bool(_), Value::Bool(_)) | (Value::String(_), Value::String(_)) => {}
        (Value::Number(expected), Value::Number(found)) => {
            assert_eq!(expected.is_f64(), found.is_f64(), "{path}: {found} is not like {expected}");
        }
        _ => panic!("{path} is {actual}, the fixture has {fixture}"),
    }
}

/// Fields a delivery may leave null where a fixture happens to have a value.
const OPTIONAL: &[&str] = &[
    "description",
    "closed_at",
    "assignee_id",
    "last_edited_at",
    "last_edited_by_id",
    "updated_by_id",
    "discussion_locked",
    "health_status",
    "escalation_status",
    "escalation_policy",
    "previous",
    "group_id",
];

#[tokio::test]
async fn deliveries_have_the_keys_and_json_types_of_real_gitlab_payloads() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;

    let iid = life_of_an_issue(&sim).await.get();
    let note_id = sim.notes(PROJECT_ID, iid).iter().rfind(|n| !n.system).expect("the comment").id;
    let edit = json!({ "body": "Looked into it: 12 rows" });
    let (status, _) = send_json(&sim, DEFAULT_TOKEN, "PUT", &note_path(iid, note_id), &edit).await;
    assert_eq!(status, 200);
    settle(&sim, &inbox, 6).await;

    let requests = received(&inbox);
    assert_eq!(json(&requests[5])["object_attributes"]["action"], "update");
    let cases = [
        (0, "issue_open.json", false),
        (1, "issue_update_synthetic.json", true),
        (2, "issue_close.json", true),
        (4, "note_on_issue.json", false),
        (5, "note_on_issue.json", false),
    ];
    for (index, name, strict_changes) in cases {
        let (fixture, actual) = (fixture(name), json(&requests[index]));
        for top in ["object_kind", "event_type", "object_attributes", "project", "user", "labels", "repository"] {
            if let Some(expected) = fixture.get(top) {
                let found = actual.get(top).unwrap_or_else(|| panic!("{name}: /{top} is missing"));
                assert_same_shape(&format!("{name}: /{top}"), expected, found, OPTIONAL);
            }
        }
        let empty = serde_json::Map::new();
        let expected_changes = fixture.get("changes").and_then(Value::as_object).unwrap_or(&empty);
        let found_changes = actual.get("changes").and_then(Value::as_object).unwrap_or(&empty);
        for (field, change) in expected_changes {
            match found_changes.get(field) {
                Some(found) => assert_same_shape(&format!("{name}: /changes/{field}"), change, found, OPTIONAL),
                None => assert!(!strict_changes, "{name}: /changes/{field} is missing"),
            }
        }
    }
    let (created, updated) = (json(&requests[4]), json(&requests[5]));
    assert_eq!(key_paths("", &updated), key_paths("", &created), "an edit's delivery has the keys of a creation's");
}

/// Every key path of a JSON value (objects by key, arrays by their first element).
fn key_paths(path: &str, value: &Value) -> Vec<String> {
    match value {
        Value::Object(fields) => fields
            .iter()
            .flat_map(|(name, inner)| {
                let inner_path = format!("{path}/{name}");
                std::iter::once(inner_path.clone()).chain(key_paths(&inner_path, inner))
            })
            .collect(),
        Value::Array(items) => items.first().map(|first| key_paths(&format!("{path}/0"), first)).unwrap_or_default(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn every_issue_and_note_delivery_is_queued_by_the_sync_parser() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;

    let iid = life_of_an_issue(&sim).await.get();
    let note_id = sim.notes(PROJECT_ID, iid).iter().rfind(|n| !n.system).expect("the comment").id;
    assert!(sim.edit_note(PROJECT_ID, iid, note_id, "Looked into it again"));
    settle(&sim, &inbox, 6).await;

    for request in received(&inbox) {
        let headers = DeliveryHeaders::from_map(&request.headers);
        let outcome = ingest(&headers, &request.body, Utc::now());
        assert!(matches!(outcome, Ok(Ingested::Queue { .. })), "{:?}: {outcome:?}", headers.event);
    }
}

#[tokio::test]
async fn confidential_issues_and_internal_notes_use_the_confidential_hooks() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;
    let api = client(&sim);

    let secret = NewIssue { title: "Secret".into(), confidential: true, ..NewIssue::default() };
    let confidential = api.create_issue(&project(), &secret, &CallContext::default()).await.expect("create");
    let public = NewIssue { title: "Public".into(), ..NewIssue::default() };
    let public = api.create_issue(&project(), &public, &CallContext::default()).await.expect("create");
    let public_iid = public.iid;
    api.create_note(&project(), public_iid, "internal", true, &CallContext::default()).await.expect("note");
    let confidential_iid = confidential.iid;
    api.create_note(&project(), confidential_iid, "on secret", false, &CallContext::default()).await.expect("note");
    settle(&sim, &inbox, 4).await;

    let seen: Vec<(String, String)> = received(&inbox)
        .iter()
        .map(|r| (header(r, "x-gitlab-event").to_owned(), json(r)["event_type"].as_str().unwrap_or_default().into()))
        .collect();
    let expected = [
        ("Confidential Issue Hook", "confidential_issue"),
        ("Issue Hook", "issue"),
        ("Confidential Note Hook", "confidential_note"),
        ("Confidential Note Hook", "confidential_note"),
    ];
    assert_eq!(seen, expected.map(|(e, t)| (e.to_owned(), t.to_owned())));
}

#[tokio::test]
async fn disabled_events_are_not_delivered() {
    let events = WebhookEvents { notes: false, confidential_issues: false, ..WebhookEvents::default() };
    let (sim, inbox) = sim_with_receiver(events).await;

    life_of_an_issue(&sim).await;
    let secret = NewIssue { title: "Secret".into(), confidential: true, ..NewIssue::default() };
    client(&sim).create_issue(&project(), &secret, &CallContext::default()).await.expect("create");
    settle(&sim, &inbox, 4).await;

    let events: Vec<Delivery> = sim.deliveries();
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|d| d.event == "Issue Hook"));
    assert_eq!(received(&inbox).len(), 4);
}

#[tokio::test]
async fn a_dropped_delivery_is_recorded_and_never_sent() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;
    sim.drop_deliveries(2);

    life_of_an_issue(&sim).await;
    settle(&sim, &inbox, 3).await;

    let outcomes: Vec<DeliveryOutcome> = sim.deliveries().into_iter().map(|d| d.outcome).collect();
    assert_eq!(outcomes[..2], [DeliveryOutcome::Dropped, DeliveryOutcome::Dropped]);
    assert!(outcomes[2..].iter().all(|o| *o == DeliveryOutcome::Answered(200)));
    let actions: Vec<String> =
        received(&inbox).iter().map(|r| json(r)["object_attributes"]["action"].to_string()).collect();
    assert_eq!(actions, ["\"close\"", "\"reopen\"", "\"create\""]);
}

#[tokio::test]
async fn a_duplicated_delivery_arrives_twice_with_the_same_idempotency_key() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;
    sim.duplicate_deliveries(1);

    life_of_an_issue(&sim).await;
    settle(&sim, &inbox, 6).await;

    let requests = received(&inbox);
    assert_eq!(requests.len(), 6);
    assert_eq!(requests[0].body, requests[1].body);
    assert_eq!(header(&requests[0], "idempotency-key"), header(&requests[1], "idempotency-key"));
    assert_ne!(header(&requests[0], "x-gitlab-webhook-uuid"), header(&requests[1], "x-gitlab-webhook-uuid"));
    assert_ne!(header(&requests[1], "idempotency-key"), header(&requests[2], "idempotency-key"));
}

#[tokio::test]
async fn a_delayed_delivery_arrives_late_and_still_in_order() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;
    sim.delay_deliveries(1, Duration::from_millis(800));

    life_of_an_issue(&sim).await;
    assert!(received(&inbox).is_empty(), "the first delivery waits, and the others behind it");
    settle(&sim, &inbox, 5).await;

    let actions: Vec<String> =
        received(&inbox).iter().map(|r| json(r)["object_attributes"]["action"].to_string()).collect();
    assert_eq!(actions, ["\"open\"", "\"update\"", "\"close\"", "\"reopen\"", "\"create\""]);
}

#[tokio::test]
async fn held_deliveries_are_released_in_reverse_order() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;
    sim.hold_deliveries();

    life_of_an_issue(&sim).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(received(&inbox).is_empty());
    assert!(sim.deliveries().iter().all(|d| d.outcome == DeliveryOutcome::Pending));
    sim.release_deliveries_reversed();
    settle(&sim, &inbox, 5).await;

    let actions: Vec<String> =
        received(&inbox).iter().map(|r| json(r)["object_attributes"]["action"].to_string()).collect();
    assert_eq!(actions, ["\"create\"", "\"reopen\"", "\"close\"", "\"update\"", "\"open\""]);
}

#[tokio::test]
async fn a_delivery_to_a_closed_port_is_recorded_as_failed_and_not_retried() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    drop(listener);
    let sim = GitlabSim::start(SimConfig::default()).await;
    sim.add_project(PROJECT_ID, PROJECT_PATH);
    sim.set_webhook(Some(WebhookConfig::new(&url)));

    let new = NewIssue { title: "Nobody listens".into(), ..NewIssue::default() };
    client(&sim).create_issue(&project(), &new, &CallContext::default()).await.expect("create");
    for _ in 0..100 {
        if sim.deliveries().iter().all(|d| d.outcome != DeliveryOutcome::Pending) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let deliveries = sim.deliveries();
    assert_eq!(deliveries.len(), 1);
    assert!(matches!(deliveries[0].outcome, DeliveryOutcome::Failed(_)), "{:?}", deliveries[0].outcome);
}

#[tokio::test]
async fn a_person_editing_their_note_delivers_one_note_hook_with_action_update_and_the_new_body() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;
    let (iid, note) = comment_as(&sim, ANA_TOKEN, false, false).await;
    let note_id = note["id"].as_u64().expect("a note id");
    settle(&sim, &inbox, 2).await;
    let issue_before = sim.issue(PROJECT_ID, iid).expect("the issue");

    let edit = json!({ "body": "First look: 12 rows, all from one import" });
    let (status, edited) = send_json(&sim, ANA_TOKEN, "PUT", &note_path(iid, note_id), &edit).await;
    settle(&sim, &inbox, 3).await;

    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["body"], "First look: 12 rows, all from one import");
    assert_eq!(edited["created_at"], note["created_at"]);
    assert!(edited["updated_at"].as_str() > note["updated_at"].as_str(), "the edit is the note's new updated_at");
    let requests = received(&inbox);
    assert_eq!(requests.len(), 3, "one delivery for the edit");
    let delivery = &requests[2];
    assert_eq!(header(delivery, "x-gitlab-event"), "Note Hook");
    let body = json(delivery);
    let attributes = &body["object_attributes"];
    assert_eq!(attributes["action"], "update");
    assert_eq!(attributes["id"], note_id);
    assert_eq!(attributes["note"], "First look: 12 rows, all from one import");
    assert_eq!(attributes["created_at"], hook_time(&note["created_at"]));
    assert_eq!(attributes["updated_at"], hook_time(&edited["updated_at"]));
    assert_eq!(attributes["updated_by_id"], ANA);
    assert_eq!(body["user"]["username"], "ana.lopez");
    assert_eq!(body["event_type"], "note");
    assert_eq!(body["issue"]["iid"], iid);
    let notes = sim.notes(PROJECT_ID, iid);
    assert_eq!(notes.iter().map(|n| n.body.as_str()).collect::<Vec<_>>(), ["First look: 12 rows, all from one import"]);
    let issue_after = sim.issue(PROJECT_ID, iid).expect("the issue");
    assert_eq!((&issue_after.title, issue_after.state), (&issue_before.title, issue_before.state));
    assert!(issue_after.updated_at > issue_before.updated_at, "saving a note touches its issue, as in GitLab");
}

#[tokio::test]
async fn another_users_token_cannot_edit_a_note_and_nothing_is_delivered() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;
    let (iid, note) = comment_as(&sim, ANA_TOKEN, false, false).await;
    let note_id = note["id"].as_u64().expect("a note id");
    settle(&sim, &inbox, 2).await;
    let changes_before = sim.changes().len();

    let edit = json!({ "body": "Not yours to change" });
    let by_bob = send_json(&sim, BOB_TOKEN, "PUT", &note_path(iid, note_id), &edit).await;
    let by_service = send_json(&sim, DEFAULT_TOKEN, "PUT", &note_path(iid, note_id), &edit).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let forbidden = (403, json!({ "message": "403 Forbidden" }));
    assert_eq!(by_bob, forbidden);
    assert_eq!(by_service, forbidden);
    assert_eq!(sim.notes(PROJECT_ID, iid)[0].body, "First look: 12 rows");
    assert_eq!(sim.changes().len(), changes_before);
    assert_eq!(sim.deliveries().len(), 2);
    assert_eq!(received(&inbox).len(), 2);
}

#[tokio::test]
async fn an_edit_with_the_same_body_changes_nothing_and_delivers_nothing() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;
    let (iid, note) = comment_as(&sim, ANA_TOKEN, false, false).await;
    let note_id = note["id"].as_u64().expect("a note id");
    settle(&sim, &inbox, 2).await;
    let (changes_before, issue_before) = (sim.changes().len(), sim.issue_json(PROJECT_ID, iid));

    let same = send(
        &sim,
        ANA_TOKEN,
        "PUT",
        &note_path(iid, note_id),
        "application/x-www-form-urlencoded",
        "body=First+look%3A+12+rows",
    )
    .await;
    let without_body = send_json(&sim, ANA_TOKEN, "PUT", &note_path(iid, note_id), &json!({})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    assert_eq!(same, (200, note.clone()), "the same body (as a form) answers the note unchanged");
    assert_eq!(without_body, (200, note), "GitLab's body is optional: without one nothing is edited");
    assert_eq!(sim.changes().len(), changes_before);
    assert_eq!(sim.issue_json(PROJECT_ID, iid), issue_before, "the issue is not touched either");
    assert_eq!(sim.deliveries().len(), 2);
    assert_eq!(received(&inbox).len(), 2);
}

#[tokio::test]
async fn a_blank_body_is_refused_by_grape_and_a_system_note_by_gitlabs_policy() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;
    let (iid, note) = comment_as(&sim, DEFAULT_TOKEN, false, false).await;
    let note_id = note["id"].as_u64().expect("a note id");
    let retitle = IssueUpdate { title: Some("Nulls in orders.amount (import)".into()), ..IssueUpdate::default() };
    client(&sim)
        .update_issue(&project(), Iid::new(iid).expect("an iid"), &retitle, &CallContext::default())
        .await
        .expect("update");
    let system_id = sim.notes(PROJECT_ID, iid).iter().find(|n| n.system).expect("the title's system note").id;
    settle(&sim, &inbox, 3).await;

    let blank = send_json(&sim, DEFAULT_TOKEN, "PUT", &note_path(iid, note_id), &json!({ "body": "  " })).await;
    let system = send_json(&sim, DEFAULT_TOKEN, "PUT", &note_path(iid, system_id), &json!({ "body": "x" })).await;
    let confidential =
        send_json(&sim, DEFAULT_TOKEN, "PUT", &note_path(iid, note_id), &json!({ "body": "x", "confidential": true }))
            .await;

    assert_eq!(blank, (400, json!({ "error": "body is empty" })));
    assert_eq!(
        system,
        (403, json!({ "message": "403 Forbidden" })),
        "the service wrote it, but no one edits a system note"
    );
    let refusal = "400 Bad request - Note {:confidential=>[\"can not be changed for existing notes\"]}";
    assert_eq!(confidential, (400, json!({ "message": refusal })));
    assert_eq!(sim.notes(PROJECT_ID, iid)[0].body, "First look: 12 rows");
    assert_eq!(sim.deliveries().len(), 3);
}

#[tokio::test]
async fn editing_an_internal_note_or_a_note_on_a_confidential_issue_delivers_a_confidential_note_hook() {
    let (sim, inbox) = sim_with_receiver(WebhookEvents::default()).await;
    let (public_iid, internal) = comment_as(&sim, ANA_TOKEN, false, true).await;
    let (secret_iid, on_secret) = comment_as(&sim, ANA_TOKEN, true, false).await;
    settle(&sim, &inbox, 4).await;

    let edit = json!({ "body": "Edited in private" });
    let internal_path = note_path(public_iid, internal["id"].as_u64().expect("a note id"));
    let (first, _) = send_json(&sim, ANA_TOKEN, "PUT", &internal_path, &edit).await;
    let secret_path = note_path(secret_iid, on_secret["id"].as_u64().expect("a note id"));
    let (second, _) = send_json(&sim, ANA_TOKEN, "PUT", &secret_path, &edit).await;
    settle(&sim, &inbox, 6).await;

    assert_eq!((first, second), (200, 200));
    for delivery in &received(&inbox)[4..] {
        assert_eq!(header(delivery, "x-gitlab-event"), "Confidential Note Hook");
        let body = json(delivery);
        assert_eq!(body["event_type"], "confidential_note");
        assert_eq!(body["object_attributes"]["action"], "update");
        assert_eq!(body["object_attributes"]["note"], "Edited in private");
    }
    assert_eq!(json(&received(&inbox)[4])["object_attributes"]["internal"], true);
}

#[tokio::test]
async fn one_note_is_read_by_id_as_the_list_renders_it_and_a_missing_one_is_gitlabs_404() {
    let (sim, _inbox) = sim_with_receiver(WebhookEvents::default()).await;
    let (iid, note) = comment_as(&sim, ANA_TOKEN, false, false).await;
    let note_id = note["id"].as_u64().expect("a note id");

    let (status, one) = get(&sim, BOB_TOKEN, &note_path(iid, note_id)).await;
    let (_, list) = get(&sim, BOB_TOKEN, &notes_path(iid)).await;
    let missing_note = get(&sim, BOB_TOKEN, &note_path(iid, note_id + 1000)).await;
    let missing_issue = get(&sim, BOB_TOKEN, &note_path(iid + 1, note_id)).await;
    let edit_missing =
        send_json(&sim, ANA_TOKEN, "PUT", &note_path(iid, note_id + 1000), &json!({ "body": "x" })).await;
    let bad_id = get(&sim, BOB_TOKEN, &format!("{}/abc", notes_path(iid))).await;

    assert_eq!(status, 200);
    assert_eq!(one, note, "the same note as the creation answered");
    assert_eq!(list[0], one, "and as the list renders it");
    // `noteable.notes.find` raises RecordNotFound, which GitLab's API answers with its generic 404.
    let not_found = (404, json!({ "message": "404 Not found" }));
    assert_eq!(missing_note, not_found);
    assert_eq!(edit_missing, not_found);
    assert_eq!(missing_issue, (404, json!({ "message": "404 Issue Not Found" })));
    assert_eq!(bad_id, (400, json!({ "error": "note_id is invalid" })));
}

#[tokio::test]
async fn with_a_signing_token_every_delivery_is_signed_as_standard_webhooks_say_over_the_bytes_sent() {
    use qalita_gitlab_core::adapters::memory::MemorySecrets;
    use qalita_gitlab_core::ports::SystemClock;
    use qalita_gitlab_core::webhook::verify::{
        AuthMode, CachePolicy, DEFAULT_SIGNATURE_TOLERANCE, Rejection, Signing, Verdict, WebhookAuthenticator,
    };

    const KEY: &str = "whsec_c2ltdWxhdG9yLXNpZ25pbmcta2V5LTMyLWJ5dGVzIQ==";
    let (url, inbox) = receiver().await;
    let hook = WebhookConfig::new(&url).with_signing_token(KEY);
    let sim = GitlabSim::start(
        SimConfig::default()
            .with_user(ANA, "ana.lopez", "Ana López")
            .with_token(ANA_TOKEN, ANA)
            .with_user(BOB, "bob.martin", "Bob Martin")
            .with_token(BOB_TOKEN, BOB)
            .with_webhook(hook),
    )
    .await;
    sim.add_project(PROJECT_ID, PROJECT_PATH);
    life_of_an_issue(&sim).await;
    settle(&sim, &inbox, 4).await;

    let secrets = Arc::new(MemorySecrets::new());
    secrets.put("token", "unused-in-signature-mode");
    secrets.put("signing", KEY);
    let auth = WebhookAuthenticator::new(secrets, "token", Arc::new(SystemClock), CachePolicy::default()).with_signing(
        Signing { mode: AuthMode::Signature, secret_id: "signing".into(), tolerance: DEFAULT_SIGNATURE_TOLERANCE },
    );
    let deliveries = received(&inbox);
    assert!(deliveries.len() >= 4, "{} deliveries", deliveries.len());
    for request in deliveries {
        let headers = DeliveryHeaders::from_map(&request.headers);
        assert!(headers.token.is_none(), "no secret token was configured");
        assert_eq!(headers.webhook_id, headers.idempotency_key, "webhook-id is the Idempotency-Key");
        assert_eq!(auth.check(&headers, &request.body).await.unwrap(), Verdict::Accepted { previous: false });
        let mut tampered = request.body.to_vec();
        tampered.push(b' ');
        assert_eq!(auth.check(&headers, &tampered).await.unwrap(), Verdict::Rejected(Rejection::WrongSignature));
    }
}
