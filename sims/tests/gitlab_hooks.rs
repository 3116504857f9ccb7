//! The GitLab simulator's project hooks API and token rotation seen from outside, over HTTP: hooks
//! created, updated, listed and deleted per project with GitLab's fields (the token never shown),
//! deliveries to every matching hook of the project each with its own health, the test endpoint
//! that re-enables a hook and its 5-a-minute limit, and the rotation that revokes the old token.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, DeliveryOutcome, GitlabSim, SimConfig, WebhookConfig};
use reqwest::Method;
use serde_json::{Value, json};

const PROJECT: u64 = 42;
const OTHER_PROJECT: u64 = 43;

/// A receiver that answers the status it is set to and counts what it got.
#[derive(Clone, Default)]
struct Receiver {
    status: Arc<AtomicU16>,
    received: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(status: u16) -> (Receiver, String) {
        async fn answer(State(receiver): State<Receiver>) -> StatusCode {
            receiver.received.fetch_add(1, Ordering::SeqCst);
            StatusCode::from_u16(receiver.status.load(Ordering::SeqCst)).unwrap()
        }
        let receiver = Receiver::default();
        receiver.status.store(status, Ordering::SeqCst);
        let app = Router::new().fallback(answer).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks/gitlab", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (receiver, url)
    }

    fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

async fn sim() -> GitlabSim {
    let sim = GitlabSim::start(SimConfig::default()).await;
    sim.add_project(PROJECT, "data/quality/orders");
    sim.add_project(OTHER_PROJECT, "data/quality/billing");
    sim
}

/// A request with the default token; the status and the JSON body (`Null` when empty).
async fn call(sim: &GitlabSim, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    call_with(sim, DEFAULT_TOKEN, method, path, body).await
}

async fn call_with(sim: &GitlabSim, token: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request =
        reqwest::Client::new().request(method, format!("{}/api/v4{path}", sim.url())).header("PRIVATE-TOKEN", token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn our_hook(url: &str) -> Value {
    json!({
        "url": url,
        "token": "hook-secret-value",
        "issues_events": true,
        "confidential_issues_events": true,
        "note_events": true,
        "confidential_note_events": true,
        "push_events": false,
        "enable_ssl_verification": true,
    })
}

async fn create_hook(sim: &GitlabSim, project: u64, url: &str) -> u64 {
    let (status, hook) = call(sim, Method::POST, &format!("/projects/{project}/hooks"), Some(our_hook(url))).await;
    assert_eq!(status, 201, "{hook}");
    hook["id"].as_u64().unwrap()
}

async fn create_issue(sim: &GitlabSim, project: u64, title: &str) {
    let (status, _) =
        call(sim, Method::POST, &format!("/projects/{project}/issues"), Some(json!({ "title": title }))).await;
    assert_eq!(status, 201);
}

/// Waits until no delivery is pending any more.
async fn settled(sim: &GitlabSim) {
    for _ in 0..200 {
        if sim.deliveries().iter().all(|d| d.outcome != DeliveryOutcome::Pending) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("deliveries still pending: {:?}", sim.deliveries());
}

#[tokio::test]
async fn a_created_hook_is_listed_under_its_project_only_with_its_fields_and_never_its_token() {
    let sim = sim().await;
    let (status, created) =
        call(&sim, Method::POST, &format!("/projects/{PROJECT}/hooks"), Some(our_hook("https://sync.example/hook")))
            .await;
    assert_eq!(status, 201);
    assert_eq!(created["url"], "https://sync.example/hook");
    assert_eq!(created["project_id"], PROJECT);
    for field in ["issues_events", "confidential_issues_events", "note_events", "confidential_note_events"] {
        assert_eq!(created[field], true, "{field}");
    }
    assert_eq!(created["push_events"], false);
    assert_eq!(created["enable_ssl_verification"], true);
    assert_eq!(created["alert_status"], "executable");
    assert!(created.get("token").is_none(), "the token is write-only: {created}");
    assert!(!created.to_string().contains("hook-secret-value"));

    let (_, listed) = call(&sim, Method::GET, &format!("/projects/{PROJECT}/hooks"), None).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert!(!listed.to_string().contains("hook-secret-value"));
    let (_, other) = call(&sim, Method::GET, &format!("/projects/{OTHER_PROJECT}/hooks"), None).await;
    assert_eq!(other, json!([]), "a hook belongs to its project");
    let id = created["id"].as_u64().unwrap();
    let (status, _) = call(&sim, Method::GET, &format!("/projects/{OTHER_PROJECT}/hooks/{id}"), None).await;
    assert_eq!(status, 404);
    assert_eq!(sim.hooks(PROJECT)[0].config.secret.as_deref(), Some("hook-secret-value"));
}

#[tokio::test]
async fn a_hook_is_created_with_gitlabs_defaults_and_a_bad_url_is_refused_with_422() {
    let sim = sim().await;
    let path = format!("/projects/{PROJECT}/hooks");
    let (status, hook) = call(&sim, Method::POST, &path, Some(json!({ "url": "https://sync.example/a" }))).await;
    assert_eq!(status, 201);
    assert_eq!((hook["push_events"].clone(), hook["issues_events"].clone()), (json!(true), json!(false)));
    assert_eq!(hook["enable_ssl_verification"], true);
    let (status, body) = call(&sim, Method::POST, &path, Some(json!({ "url": "not a url" }))).await;
    assert_eq!((status, body), (422, json!({ "message": "Invalid url given" })));
    let (status, body) = call(&sim, Method::POST, &path, Some(json!({ "issues_events": true }))).await;
    assert_eq!((status, body), (400, json!({ "error": "url is missing" })));
}

#[tokio::test]
async fn an_update_changes_only_the_named_fields_and_a_delete_answers_204() {
    let sim = sim().await;
    let id = create_hook(&sim, PROJECT, "https://sync.example/hook").await;
    let path = format!("/projects/{PROJECT}/hooks/{id}");
    let (status, hook) = call(&sim, Method::PUT, &path, Some(json!({ "note_events": false, "token": "new" }))).await;
    assert_eq!(status, 200);
    assert_eq!(hook["note_events"], false);
    assert_eq!(hook["issues_events"], true, "unnamed fields keep their values");
    assert_eq!(sim.hooks(PROJECT)[0].config.secret.as_deref(), Some("new"));

    let (status, body) = call(&sim, Method::DELETE, &path, None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert!(sim.hooks(PROJECT).is_empty());
    let (status, _) = call(&sim, Method::DELETE, &path, None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn managing_hooks_needs_maintainer() {
    let sim = GitlabSim::start(SimConfig::default().with_user(7, "ana", "Ana").with_token("ana-token", 7)).await;
    sim.add_project(PROJECT, "data/quality/orders");
    sim.set_access_level(PROJECT, 7, qalita_gitlab_sims::gitlab::level::DEVELOPER);
    let body = Some(our_hook("https://sync.example/hook"));
    let (status, _) = call_with(&sim, "ana-token", Method::POST, &format!("/projects/{PROJECT}/hooks"), body).await;
    assert_eq!(status, 403);
    assert!(sim.hooks(PROJECT).is_empty());
}

#[tokio::test]
async fn a_change_is_delivered_to_every_matching_hook_of_its_project_each_with_its_own_health() {
    let sim = sim().await;
    let (healthy, healthy_url) = Receiver::start(200).await;
    let (failing, failing_url) = Receiver::start(500).await;
    let (elsewhere, elsewhere_url) = Receiver::start(200).await;
    let good = create_hook(&sim, PROJECT, &healthy_url).await;
    let bad = create_hook(&sim, PROJECT, &failing_url).await;
    create_hook(&sim, OTHER_PROJECT, &elsewhere_url).await;

    for n in 0..4 {
        create_issue(&sim, PROJECT, &format!("issue {n}")).await;
    }
    settled(&sim).await;

    assert_eq!((healthy.received(), failing.received(), elsewhere.received()), (4, 4, 0));
    let (_, good_hook) = call(&sim, Method::GET, &format!("/projects/{PROJECT}/hooks/{good}"), None).await;
    let (_, bad_hook) = call(&sim, Method::GET, &format!("/projects/{PROJECT}/hooks/{bad}"), None).await;
    assert_eq!(good_hook["alert_status"], "executable");
    assert_eq!(bad_hook["alert_status"], "temporarily_disabled", "4 failures in a row disable a hook");
    assert!(bad_hook["disabled_until"].is_string());

    create_issue(&sim, PROJECT, "while disabled").await;
    settled(&sim).await;
    assert_eq!((healthy.received(), failing.received()), (5, 4), "a disabled hook sends nothing");
    let last = sim.deliveries().into_iter().rfind(|d| d.hook == bad).unwrap();
    assert_eq!(last.outcome, DeliveryOutcome::HookDisabled);
}

#[tokio::test]
async fn a_successful_test_delivery_re_enables_a_disabled_hook_and_a_failed_one_answers_422() {
    let sim = sim().await;
    let (receiver, url) = Receiver::start(500).await;
    let id = create_hook(&sim, PROJECT, &url).await;
    for n in 0..4 {
        create_issue(&sim, PROJECT, &format!("issue {n}")).await;
    }
    settled(&sim).await;
    let hook_path = format!("/projects/{PROJECT}/hooks/{id}");
    assert_eq!(call(&sim, Method::GET, &hook_path, None).await.1["alert_status"], "temporarily_disabled");

    let test_path = format!("{hook_path}/test/issues_events");
    let (status, body) = call(&sim, Method::POST, &test_path, None).await;
    assert_eq!(status, 422, "the receiver still fails: {body}");
    assert_eq!(receiver.received(), 5, "a test is sent even to a disabled hook");
    assert_eq!(call(&sim, Method::GET, &hook_path, None).await.1["alert_status"], "temporarily_disabled");

    receiver.set_status(200);
    let (status, body) = call(&sim, Method::POST, &test_path, None).await;
    assert_eq!((status, body), (201, json!({ "message": "201 Created" })));
    let hook = call(&sim, Method::GET, &hook_path, None).await.1;
    assert_eq!(hook["alert_status"], "executable");
    assert_eq!(hook["disabled_until"], Value::Null);
    assert_eq!(sim.hooks(PROJECT)[0].health.recent_failures, 0);
    let test = sim.deliveries().into_iter().last().unwrap();
    assert_eq!((test.event.as_str(), test.outcome), ("Issue Hook", DeliveryOutcome::Answered(200)));
}

#[tokio::test]
async fn the_test_endpoint_needs_an_issue_a_known_trigger_and_allows_5_calls_a_minute() {
    let sim = sim().await;
    let (_receiver, url) = Receiver::start(200).await;
    let id = create_hook(&sim, PROJECT, &url).await;
    let test_path = format!("/projects/{PROJECT}/hooks/{id}/test/issues_events");
    let (status, body) = call(&sim, Method::POST, &test_path, None).await;
    assert_eq!((status, body), (422, json!({ "message": "Ensure the project has issues." })));
    let (status, _) = call(&sim, Method::POST, &format!("/projects/{PROJECT}/hooks/{id}/test/nonsense"), None).await;
    assert_eq!(status, 400);

    create_issue(&sim, PROJECT, "one").await;
    for _ in 0..4 {
        assert_eq!(call(&sim, Method::POST, &test_path, None).await.0, 201);
    }
    let (status, body) = call(&sim, Method::POST, &test_path, None).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["message"]["error"], "This endpoint has been requested too many times. Try again later.");
    let other = create_hook(&sim, OTHER_PROJECT, &url).await;
    create_issue(&sim, OTHER_PROJECT, "two").await;
    let other_path = format!("/projects/{OTHER_PROJECT}/hooks/{other}/test/issues_events");
    assert_eq!(call(&sim, Method::POST, &other_path, None).await.0, 201, "the limit is per project");
}

#[tokio::test]
async fn the_tests_webhook_still_shows_under_every_project() {
    let sim = sim().await;
    sim.set_webhook(Some(WebhookConfig::new("http://127.0.0.1:9/hook").with_id(7)));
    let (_, first) = call(&sim, Method::GET, &format!("/projects/{PROJECT}/hooks/7"), None).await;
    let (_, second) = call(&sim, Method::GET, &format!("/projects/{OTHER_PROJECT}/hooks/7"), None).await;
    assert_eq!((first["project_id"].clone(), second["project_id"].clone()), (json!(PROJECT), json!(OTHER_PROJECT)));
    let id = create_hook(&sim, PROJECT, "https://sync.example/hook").await;
    assert!(id > 7, "an API hook gets a new id");
    assert_eq!(sim.hooks(PROJECT).len(), 2);
}

#[tokio::test]
async fn rotating_a_token_answers_the_new_one_and_revokes_the_old_at_once() {
    let sim = sim().await;
    sim.set_token_expiry(DEFAULT_TOKEN, chrono::NaiveDate::from_ymd_opt(2099, 1, 10));
    let expires = (chrono::Utc::now().date_naive() + chrono::Days::new(30)).format("%Y-%m-%d").to_string();
    let (status, rotated) =
        call(&sim, Method::POST, "/personal_access_tokens/self/rotate", Some(json!({ "expires_at": expires }))).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["expires_at"], expires.as_str());
    assert_eq!(rotated["active"], true);
    assert_eq!(rotated["revoked"], false);
    let new_token = rotated["token"].as_str().unwrap().to_owned();
    assert!(!sim.token_active(DEFAULT_TOKEN), "the old token is revoked at once");
    assert!(sim.token_active(&new_token));
    let (status, _) = call(&sim, Method::GET, "/personal_access_tokens/self", None).await;
    assert_eq!(status, 401);
    let (status, own) = call_with(&sim, &new_token, Method::GET, "/personal_access_tokens/self", None).await;
    assert_eq!(status, 200);
    assert_eq!(own["id"], rotated["id"]);
    assert!(own.get("token").is_none(), "only the rotation shows the value");
}

#[tokio::test]
async fn a_rotation_without_a_date_expires_in_a_week_and_a_past_date_is_refused() {
    let sim = sim().await;
    let (status, _) =
        call(&sim, Method::POST, "/personal_access_tokens/self/rotate", Some(json!({ "expires_at": "2020-01-01" })))
            .await;
    assert_eq!(status, 400);
    assert!(sim.token_active(DEFAULT_TOKEN), "a refused rotation revokes nothing");
    let (status, rotated) = call(&sim, Method::POST, "/personal_access_tokens/self/rotate", None).await;
    assert_eq!(status, 200);
    let week = (chrono::Utc::now().date_naive() + chrono::Days::new(7)).format("%Y-%m-%d").to_string();
    assert_eq!(rotated["expires_at"], week.as_str());
}

#[tokio::test]
async fn a_hooks_recent_events_list_its_deliveries_newest_first_filtered_by_status_without_the_secret() {
    let sim = sim().await;
    let (receiver, url) = Receiver::start(503).await;
    let id = create_hook(&sim, PROJECT, &url).await;
    create_issue(&sim, PROJECT, "failed").await;
    settled(&sim).await;
    receiver.set_status(200);
    create_issue(&sim, PROJECT, "delivered").await;
    settled(&sim).await;

    let path = format!("/projects/{PROJECT}/hooks/{id}/events");
    let (status, events) = call(&sim, Method::GET, &path, None).await;
    assert_eq!(status, 200);
    let statuses: Vec<&str> =
        events.as_array().unwrap().iter().map(|e| e["response_status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["200", "503"], "newest first");
    assert_eq!(events[0]["trigger"], "issue_hooks");
    assert!(!events.to_string().contains("hook-secret-value"), "the secret token is never shown");
    let (_, failed) = call(&sim, Method::GET, &format!("{path}?status=server_failure"), None).await;
    assert_eq!(failed.as_array().map(Vec::len), Some(1));
    assert_eq!(failed[0]["response_status"], "503");
}
