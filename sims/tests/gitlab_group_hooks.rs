//! The GitLab simulator's group hooks API seen from outside, over HTTP: one group hook created,
//! listed, updated and deleted by its group (Owner only) with the group fields, delivered the
//! events of every project of the group and its subgroups and of no other, with its own health,
//! and re-enabled by a successful test delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, DeliveryOutcome, GitlabSim, SimConfig};
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

const GROUP: u64 = 9;
/// A project outside the group `data` (whose path only starts with the same letters).
const OUTSIDE: u64 = 44;

async fn sim() -> GitlabSim {
    let sim = GitlabSim::start(SimConfig::default()).await;
    sim.add_group(GROUP, "data");
    sim.add_group(10, "data/quality");
    sim.add_project(PROJECT, "data/quality/orders");
    sim.add_project(OTHER_PROJECT, "data/billing");
    sim.add_project(OUTSIDE, "database/legacy");
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

async fn create_group_hook(sim: &GitlabSim, group: &str, url: &str) -> u64 {
    let (status, hook) = call(sim, Method::POST, &format!("/groups/{group}/hooks"), Some(our_hook(url))).await;
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
async fn a_group_hook_is_managed_by_path_or_id_with_group_fields_and_no_project_lists_it() {
    let sim = sim().await;
    let id = create_group_hook(&sim, "data", "https://sync.example/hook").await;

    let (status, listed) = call(&sim, Method::GET, &format!("/groups/{GROUP}/hooks"), None).await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let hook = &listed[0];
    assert_eq!((hook["id"].as_u64(), hook["group_id"].as_u64()), (Some(id), Some(GROUP)));
    assert_eq!((hook["issues_events"].clone(), hook["subgroup_events"].clone()), (json!(true), json!(false)));
    assert!(hook.get("token").is_none() && hook.get("project_id").is_none(), "{hook}");
    assert_eq!(call(&sim, Method::GET, &format!("/projects/{PROJECT}/hooks"), None).await.1, json!([]));
    assert_eq!(call(&sim, Method::GET, "/groups/data%2Fquality/hooks", None).await.1, json!([]));

    let path = format!("/groups/data/hooks/{id}");
    let (status, updated) = call(&sim, Method::PUT, &path, Some(json!({ "note_events": false }))).await;
    assert_eq!(
        (status, updated["note_events"].clone(), updated["issues_events"].clone()),
        (200, json!(false), json!(true))
    );
    assert_eq!(sim.group_hooks(GROUP)[0].config.secret.as_deref(), Some("hook-secret-value"));
    assert_eq!(call(&sim, Method::DELETE, &path, None).await.0, 204);
    assert!(sim.group_hooks(GROUP).is_empty());
    assert_eq!(call(&sim, Method::GET, &path, None).await.0, 404);
    assert_eq!(call(&sim, Method::GET, "/groups/nowhere/hooks", None).await.0, 404);
}

#[tokio::test]
async fn managing_group_hooks_needs_owner() {
    let sim = GitlabSim::start(SimConfig::default().with_user(7, "ana", "Ana").with_token("ana-token", 7)).await;
    sim.add_group(GROUP, "data");
    sim.set_group_access_level(GROUP, 7, qalita_gitlab_sims::gitlab::level::MAINTAINER);
    let body = Some(our_hook("https://sync.example/hook"));
    let (status, _) = call_with(&sim, "ana-token", Method::POST, "/groups/data/hooks", body.clone()).await;
    assert_eq!(status, 403);
    sim.set_group_access_level(GROUP, 7, qalita_gitlab_sims::gitlab::level::NO_ACCESS);
    assert_eq!(call_with(&sim, "ana-token", Method::GET, "/groups/data/hooks", None).await.0, 404);
    assert!(sim.group_hooks(GROUP).is_empty());
}

#[tokio::test]
async fn a_group_hook_gets_the_events_of_the_groups_projects_only_and_has_its_own_health() {
    let sim = sim().await;
    let (group_receiver, group_url) = Receiver::start(500).await;
    let (project_receiver, project_url) = Receiver::start(200).await;
    let id = create_group_hook(&sim, "data", &group_url).await;
    let (status, _) =
        call(&sim, Method::POST, &format!("/projects/{PROJECT}/hooks"), Some(our_hook(&project_url))).await;
    assert_eq!(status, 201);

    create_issue(&sim, OUTSIDE, "not in the group").await;
    settled(&sim).await;
    assert_eq!(group_receiver.received(), 0, "database/legacy is not in data");

    for n in 0..2 {
        create_issue(&sim, PROJECT, &format!("subgroup {n}")).await;
        create_issue(&sim, OTHER_PROJECT, &format!("group {n}")).await;
    }
    settled(&sim).await;
    assert_eq!((group_receiver.received(), project_receiver.received()), (4, 2));
    let path = format!("/groups/{GROUP}/hooks/{id}");
    let hook = call(&sim, Method::GET, &path, None).await.1;
    assert_eq!(hook["alert_status"], "temporarily_disabled", "4 failures in a row disable a group hook");
    let project_hook = &call(&sim, Method::GET, &format!("/projects/{PROJECT}/hooks"), None).await.1[0];
    assert_eq!(project_hook["alert_status"], "executable", "the project's own hook keeps its health");

    create_issue(&sim, OTHER_PROJECT, "while disabled").await;
    settled(&sim).await;
    assert_eq!(group_receiver.received(), 4, "a disabled group hook sends nothing");
    let (_, events) = call(&sim, Method::GET, &format!("{path}/events"), None).await;
    assert_eq!(events.as_array().map(Vec::len), Some(4));
}

#[tokio::test]
async fn a_successful_group_hook_test_re_enables_it_and_a_group_without_issues_answers_422() {
    let sim = sim().await;
    let (receiver, url) = Receiver::start(500).await;
    let id = create_group_hook(&sim, "data", &url).await;
    let test_path = format!("/groups/{GROUP}/hooks/{id}/test/issues_events");
    assert_eq!(call(&sim, Method::POST, &test_path, None).await.0, 422, "no project of the group has an issue");

    for n in 0..4 {
        create_issue(&sim, OTHER_PROJECT, &format!("issue {n}")).await;
    }
    settled(&sim).await;
    let path = format!("/groups/{GROUP}/hooks/{id}");
    assert_eq!(call(&sim, Method::GET, &path, None).await.1["alert_status"], "temporarily_disabled");

    receiver.set_status(200);
    let (status, body) = call(&sim, Method::POST, &test_path, None).await;
    assert_eq!((status, body), (201, json!({ "message": "201 Created" })));
    assert_eq!(call(&sim, Method::GET, &path, None).await.1["alert_status"], "executable");
    assert_eq!(sim.group_hooks(GROUP)[0].health.recent_failures, 0);
    assert_eq!(call(&sim, Method::POST, &format!("/groups/{GROUP}/hooks/{id}/test/nothing"), None).await.0, 400);
}
