//! The GitLab client against the GitLab simulator: every call of the port, GitLab's answers to
//! bad tokens, missing projects and deleted issues, its rate limits, and the faults in front of it.
//! Each test starts its own simulator on a free port.

use std::collections::HashMap;
use std::time::Duration;

use qalita_gitlab_core::adapters::gitlab_http::GitlabClient;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::domain::gitlab::{GitlabProjectRef, IssueState, IssueUpdate, NewIssue, StateEvent};
use qalita_gitlab_core::domain::{Iid, SecretString};
use qalita_gitlab_core::ports::{ApiError, CallContext, GitlabApi, IssueQuery, Service, TransientKind};
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, DEFAULT_USERNAME, Fault, FaultRule, GitlabSim, RateLimits, SimConfig};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PROJECT_ID: u64 = 1;
const PROJECT_PATH: &str = "data/quality/orders";
const PERSON_TOKEN: &str = "test-token-person-ana";
const ANA: u64 = 7;

/// A simulator with the project and a person, Ana, who also has a token.
async fn sim_with(config: SimConfig) -> GitlabSim {
    let sim = GitlabSim::start(config.with_user(ANA, "ana.lopez", "Ana López").with_token(PERSON_TOKEN, ANA)).await;
    sim.add_project(PROJECT_ID, PROJECT_PATH);
    sim
}

async fn sim() -> GitlabSim {
    sim_with(SimConfig::default()).await
}

fn client_with(sim: &GitlabSim, token: &str, settings: &HttpSettings) -> GitlabClient {
    GitlabClient::new(&sim.url(), SecretString::new(token), settings).expect("a client of the simulator")
}

fn client(sim: &GitlabSim) -> GitlabClient {
    client_with(sim, DEFAULT_TOKEN, &HttpSettings::default())
}

fn by_path() -> GitlabProjectRef {
    GitlabProjectRef::parse(PROJECT_PATH).expect("a project path")
}

fn by_id() -> GitlabProjectRef {
    GitlabProjectRef::parse(&PROJECT_ID.to_string()).expect("a project id")
}

fn iid(raw: u64) -> Iid {
    Iid::new(raw).expect("an iid")
}

fn new_issue(qalita_id: u64) -> NewIssue {
    NewIssue {
        title: format!("[QALITA] orders: check {qalita_id}"),
        description: format!("Dataset orders\n\n<!-- qalita-issue:{qalita_id} -->"),
        labels: vec!["qalita".into(), "severity:high".into()],
        ..NewIssue::default()
    }
}

fn event(uuid: &str) -> CallContext {
    CallContext { gitlab_event_uuid: Some(uuid.into()), ..CallContext::default() }
}

fn no_event() -> CallContext {
    CallContext::default()
}

/// A request sent without the client, to read the answer's headers.
async fn raw_get(sim: &GitlabSim, path_and_query: &str, token: &str) -> (u16, HashMap<String, String>, String) {
    let address = sim.url().trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect to the simulator");
    let request = format!(
        "GET /api/v4{path_and_query} HTTP/1.1\r\nHost: {address}\r\nPRIVATE-TOKEN: {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send a request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read the answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let mut lines = head.lines();
    let status = lines.next().and_then(|line| line.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

fn number(headers: &HashMap<String, String>, name: &str) -> u64 {
    headers.get(name).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("header {name} in {headers:?}"))
}

#[tokio::test]
async fn an_issue_is_created_with_every_field_and_reads_back_the_same() {
    let sim = sim().await;
    let gitlab = client(&sim);
    let issue = NewIssue { assignee_ids: vec![ANA], confidential: true, ..new_issue(12) };

    let created = gitlab.create_issue(&by_path(), &issue, &event("uuid-1")).await.unwrap();

    assert_eq!((created.iid.get(), created.project_id.get()), (1, PROJECT_ID));
    assert_eq!(created.title, issue.title);
    assert_eq!(created.description.as_deref(), Some(issue.description.as_str()));
    assert_eq!(created.labels, ["qalita", "severity:high"]);
    assert_eq!(created.assignees.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["ana.lopez"]);
    assert!(created.confidential);
    assert_eq!(created.state, IssueState::Opened);
    assert_eq!(created.web_url, format!("{}/{PROJECT_PATH}/-/issues/1", sim.url()));
    assert_eq!(gitlab.get_issue(&by_id(), iid(1)).await.unwrap(), created);
    assert_eq!(sim.issue(PROJECT_ID, 1), Some(created));
    assert_eq!(sim.labels(PROJECT_ID), ["qalita", "severity:high"]);
    let post = &sim.requests()[0];
    assert_eq!(
        post.body,
        Some(json!({
            "title": issue.title, "description": issue.description, "labels": "qalita,severity:high",
            "assignee_ids": [ANA], "confidential": true
        }))
    );
}

#[tokio::test]
async fn a_project_is_reached_by_its_encoded_path_or_its_id() {
    let sim = sim().await;
    let gitlab = client(&sim);

    gitlab.create_issue(&by_path(), &new_issue(1), &no_event()).await.unwrap();
    gitlab.create_issue(&by_id(), &new_issue(2), &no_event()).await.unwrap();

    assert_eq!(sim.count("POST", "/projects/data%2Fquality%2Forders/issues"), 1);
    assert_eq!(sim.count("POST", "/projects/1/issues"), 1);
    assert_eq!(sim.issues(PROJECT_ID).iter().map(|i| i.iid.get()).collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test]
async fn each_field_of_an_update_changes_alone() {
    let sim = sim().await;
    let gitlab = client(&sim);
    let created = gitlab.create_issue(&by_path(), &new_issue(3), &no_event()).await.unwrap();
    let update = |change: IssueUpdate| {
        let gitlab = gitlab.clone();
        async move { gitlab.update_issue(&by_path(), iid(1), &change, &no_event()).await.unwrap() }
    };

    let titled = update(IssueUpdate { title: Some("New title".into()), ..IssueUpdate::default() }).await;
    assert_eq!(titled.title, "New title");
    assert_eq!(
        (titled.description.clone(), titled.labels.clone()),
        (created.description.clone(), created.labels.clone())
    );
    assert!(titled.updated_at > created.updated_at);

    let described = update(IssueUpdate { description: Some("New text".into()), ..IssueUpdate::default() }).await;
    assert_eq!((described.title.as_str(), described.description.as_deref()), ("New title", Some("New text")));

    let assigned = update(IssueUpdate { assignee_ids: Some(vec![ANA]), ..IssueUpdate::default() }).await;
    assert_eq!(assigned.assignees.iter().map(|u| u.id).collect::<Vec<_>>(), [ANA]);

    let confidential = update(IssueUpdate { confidential: Some(true), ..IssueUpdate::default() }).await;
    assert!(confidential.confidential);
    assert_eq!(confidential.assignees, assigned.assignees);
    assert_eq!(sim.issue(PROJECT_ID, 1), Some(confidential));
}

#[tokio::test]
async fn adding_and_removing_labels_leaves_a_persons_labels_alone() {
    let sim = sim().await;
    let gitlab = client(&sim);
    let person = client_with(&sim, PERSON_TOKEN, &HttpSettings::default());
    gitlab.create_issue(&by_path(), &new_issue(4), &no_event()).await.unwrap();
    let triage = IssueUpdate { add_labels: vec!["triaged".into()], ..IssueUpdate::default() };
    person.update_issue(&by_id(), iid(1), &triage, &no_event()).await.unwrap();

    let relabel = IssueUpdate {
        add_labels: vec!["severity:low".into()],
        remove_labels: vec!["severity:high".into()],
        ..IssueUpdate::default()
    };
    let updated = gitlab.update_issue(&by_path(), iid(1), &relabel, &no_event()).await.unwrap();

    assert_eq!(updated.labels, ["qalita", "severity:low", "triaged"]);
    let put = sim.requests().into_iter().last().unwrap();
    assert_eq!(put.body, Some(json!({"add_labels": "severity:low", "remove_labels": "severity:high"})));
}

#[tokio::test]
async fn closing_and_reopening_changes_the_state_only() {
    let sim = sim().await;
    let gitlab = client(&sim);
    gitlab.create_issue(&by_path(), &new_issue(5), &no_event()).await.unwrap();
    let state = |event: StateEvent| IssueUpdate { state_event: Some(event), ..IssueUpdate::default() };

    let closed = gitlab.update_issue(&by_path(), iid(1), &state(StateEvent::Close), &no_event()).await.unwrap();
    assert_eq!(closed.state, IssueState::Closed);
    assert_eq!(sim.issue_json(PROJECT_ID, 1).unwrap()["closed_by"]["username"], DEFAULT_USERNAME);

    let reopened = gitlab.update_issue(&by_path(), iid(1), &state(StateEvent::Reopen), &no_event()).await.unwrap();
    assert_eq!(reopened.state, IssueState::Opened);
    assert_eq!(sim.issue_json(PROJECT_ID, 1).unwrap()["closed_at"], json!(null));
    assert_eq!(reopened.labels, closed.labels);
}

#[tokio::test]
async fn an_update_that_changes_nothing_is_not_a_change() {
    let sim = sim().await;
    let gitlab = client(&sim);
    let created = gitlab.create_issue(&by_path(), &new_issue(6), &no_event()).await.unwrap();

    let same_title = IssueUpdate { title: Some(created.title.clone()), ..IssueUpdate::default() };
    let unchanged = gitlab.update_issue(&by_path(), iid(1), &same_title, &no_event()).await.unwrap();
    let empty = gitlab.update_issue(&by_path(), iid(1), &IssueUpdate::default(), &no_event()).await.unwrap();

    assert_eq!(unchanged, created);
    assert_eq!(empty, created);
    assert_eq!(sim.count("PUT", "/projects/data%2Fquality%2Forders/issues/1"), 1, "the empty update is not sent");
    assert_eq!(sim.changes().len(), 1, "only the creation changed anything");
}

#[tokio::test]
async fn issues_are_listed_page_by_page_least_recently_updated_first() {
    let sim = sim().await;
    let gitlab = client(&sim);
    for qalita_id in 1..=5 {
        gitlab.create_issue(&by_path(), &new_issue(qalita_id), &no_event()).await.unwrap();
    }
    let touch = IssueUpdate { title: Some("touched".into()), ..IssueUpdate::default() };
    gitlab.update_issue(&by_path(), iid(2), &touch, &no_event()).await.unwrap();

    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut page = 1;
    loop {
        let query = IssueQuery { page, per_page: 2, ..IssueQuery::default() };
        let listed = gitlab.list_issues(&by_path(), &query).await.unwrap();
        seen.extend(listed.items.iter().map(|issue| issue.iid.get()));
        pages.push(listed.next_page);
        match listed.next_page {
            Some(next) => page = next,
            None => break,
        }
    }

    assert_eq!(seen, [1, 3, 4, 5, 2]);
    assert_eq!(pages, [Some(2), Some(3), None]);
}

#[tokio::test]
async fn a_list_answer_carries_gitlabs_pagination_headers() {
    let sim = sim().await;
    let gitlab = client(&sim);
    for qalita_id in 1..=3 {
        gitlab.create_issue(&by_path(), &new_issue(qalita_id), &no_event()).await.unwrap();
    }

    let (status, headers, body) =
        raw_get(&sim, "/projects/1/issues?state=opened&per_page=2&page=2", DEFAULT_TOKEN).await;

    assert_eq!(status, 200);
    let shown: Vec<(&str, &str)> = ["x-page", "x-per-page", "x-next-page", "x-prev-page", "x-total", "x-total-pages"]
        .into_iter()
        .map(|name| (name, headers.get(name).map_or("absent", String::as_str)))
        .collect();
    let expected = [
        ("x-page", "2"),
        ("x-per-page", "2"),
        ("x-next-page", ""),
        ("x-prev-page", "1"),
        ("x-total", "3"),
        ("x-total-pages", "2"),
    ];
    assert_eq!(shown, expected);
    let link = format!("{}/api/v4/projects/1/issues?state=opened&page=1&per_page=2", sim.url());
    assert_eq!(
        headers["link"],
        format!(
            "<{link}>; rel=\"prev\", <{link}>; rel=\"first\", <{}>; rel=\"last\"",
            link.replace("page=1&", "page=2&")
        )
    );
    let items: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(items.as_array().map(Vec::len), Some(1), "newest first by default: the oldest is alone on page 2");
    assert_eq!(items[0]["iid"], 1);
}

#[tokio::test]
async fn updated_after_keeps_only_the_issues_changed_since() {
    let sim = sim().await;
    let gitlab = client(&sim);
    for qalita_id in 1..=3 {
        gitlab.create_issue(&by_path(), &new_issue(qalita_id), &no_event()).await.unwrap();
    }
    let close = IssueUpdate { state_event: Some(StateEvent::Close), ..IssueUpdate::default() };
    let closed = gitlab.update_issue(&by_path(), iid(1), &close, &no_event()).await.unwrap();
    let third = sim.issue(PROJECT_ID, 3).unwrap();

    let since_close = IssueQuery { updated_after: Some(closed.updated_at), per_page: 100, ..IssueQuery::default() };
    let listed = gitlab.list_issues(&by_path(), &since_close).await.unwrap();
    let since_third = IssueQuery { updated_after: Some(third.updated_at), ..since_close.clone() };
    let later = gitlab.list_issues(&by_path(), &since_third).await.unwrap();

    assert_eq!(listed.items, [closed], "closed issues are listed too");
    assert_eq!(later.items.iter().map(|i| i.iid.get()).collect::<Vec<_>>(), [3, 1]);
    let sent = sim.requests().into_iter().last().and_then(|r| r.query_param("updated_after"));
    assert_eq!(sent, Some(third.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
}

#[tokio::test]
async fn a_description_search_finds_the_marker_and_every_longer_id_that_contains_it() {
    let sim = sim().await;
    let gitlab = client(&sim);
    for qalita_id in [12, 123, 7] {
        gitlab.create_issue(&by_path(), &new_issue(qalita_id), &no_event()).await.unwrap();
    }
    let titled =
        NewIssue { title: "<!-- qalita-issue:12 -->".into(), description: "none".into(), ..NewIssue::default() };
    gitlab.create_issue(&by_path(), &titled, &no_event()).await.unwrap();
    let query = IssueQuery {
        search: Some("<!-- qalita-issue:12 -->".into()),
        search_in_description: true,
        ..IssueQuery::default()
    };

    let found = gitlab.list_issues(&by_path(), &query).await.unwrap();

    // GitLab matches words as substrings: the caller must check the exact marker.
    assert_eq!(found.items.iter().map(|i| i.iid.get()).collect::<Vec<_>>(), [1, 2]);
    let request = sim.requests().into_iter().last().unwrap();
    assert_eq!(request.query_param("in").as_deref(), Some("description"));
}

#[tokio::test]
async fn notes_are_created_and_listed_oldest_first_with_system_notes_among_them() {
    let sim = sim().await;
    let gitlab = client(&sim);
    let created = gitlab.create_issue(&by_path(), &new_issue(8), &no_event()).await.unwrap();
    let first = gitlab.create_note(&by_path(), iid(1), "**[QALITA]** ana: first", false, &event("u-n1")).await.unwrap();
    let retitle = IssueUpdate { title: Some("Retitled".into()), ..IssueUpdate::default() };
    gitlab.update_issue(&by_path(), iid(1), &retitle, &no_event()).await.unwrap();
    let internal = gitlab.create_note(&by_id(), iid(1), "internal remark", true, &no_event()).await.unwrap();

    let page_one = gitlab.list_notes(&by_path(), iid(1), 1, 2).await.unwrap();
    let page_two = gitlab.list_notes(&by_path(), iid(1), 2, 2).await.unwrap();

    assert_eq!((first.author.username.as_str(), first.system, first.internal), (DEFAULT_USERNAME, false, false));
    assert!(internal.internal);
    assert_eq!(page_one.next_page, Some(2));
    assert_eq!(page_two.next_page, None);
    let bodies: Vec<(String, bool)> =
        page_one.items.iter().chain(&page_two.items).map(|n| (n.body.clone(), n.system)).collect();
    assert_eq!(
        bodies,
        [
            ("**[QALITA]** ana: first".to_owned(), false),
            (format!("changed title from **{}** to **Retitled**", created.title), true),
            ("internal remark".to_owned(), false),
        ]
    );
    assert!(sim.issue(PROJECT_ID, 1).unwrap().updated_at >= internal.created_at, "a note touches its issue");
    assert_eq!(sim.notes(PROJECT_ID, 1).len(), 3);
}

#[tokio::test]
async fn users_are_found_by_username_and_the_token_names_its_user() {
    let sim = sim().await;
    let gitlab = client(&sim);

    let ana = gitlab.user_by_username("Ana.Lopez").await.unwrap();
    let nobody = gitlab.user_by_username("nobody").await.unwrap();
    let me = gitlab.current_user().await.unwrap();

    assert_eq!(ana.map(|u| (u.id, u.username, u.name)), Some((ANA, "ana.lopez".into(), "Ana López".into())));
    assert_eq!(nobody, None);
    assert_eq!(me.username, DEFAULT_USERNAME);
    assert_eq!(sim.requests()[0].query_param("username").as_deref(), Some("Ana.Lopez"));
}

#[tokio::test]
async fn writes_send_back_the_event_uuid_and_reads_send_none() {
    let sim = sim().await;
    let gitlab = client(&sim);

    gitlab.create_issue(&by_path(), &new_issue(9), &event("e-1")).await.unwrap();
    let close = IssueUpdate { state_event: Some(StateEvent::Close), ..IssueUpdate::default() };
    gitlab.update_issue(&by_path(), iid(1), &close, &event("e-2")).await.unwrap();
    gitlab.create_note(&by_path(), iid(1), "hello", false, &event("e-3")).await.unwrap();
    gitlab.create_note(&by_path(), iid(1), "no event", false, &no_event()).await.unwrap();
    gitlab.get_issue(&by_path(), iid(1)).await.unwrap();

    let sent: Vec<(String, Option<String>)> = sim.requests().into_iter().map(|r| (r.method, r.event_uuid)).collect();
    let expected = [("POST", Some("e-1")), ("PUT", Some("e-2")), ("POST", Some("e-3")), ("POST", None), ("GET", None)];
    assert_eq!(sent, expected.map(|(m, u)| (m.to_owned(), u.map(str::to_owned))));
    let change_uuids: Vec<Option<String>> = sim.changes().into_iter().map(|c| c.event_uuid).collect();
    assert_eq!(change_uuids, [Some("e-1".into()), Some("e-2".into()), Some("e-3".into()), None]);
}

#[tokio::test]
async fn a_wrong_token_is_permanent_with_gitlabs_message_and_never_shown() {
    let sim = sim().await;
    let secret = "test-token-wrong-and-secret";
    let gitlab = client_with(&sim, secret, &HttpSettings::default());

    let error = gitlab.create_issue(&by_path(), &new_issue(10), &no_event()).await.unwrap_err();

    assert_eq!(
        error,
        ApiError::Permanent { service: Service::Gitlab, status: 401, message: "401 Unauthorized".into() }
    );
    let shown = format!("{error} {error:?} {gitlab:?} {:?}", sim.requests());
    assert!(!shown.contains(secret), "{shown}");
    assert!(sim.issues(PROJECT_ID).is_empty());
}

#[tokio::test]
async fn a_missing_project_is_permanent_whatever_the_call() {
    let sim = sim().await;
    let gitlab = client(&sim);
    let missing = GitlabProjectRef::parse("data/quality/gone").unwrap();
    let expected =
        ApiError::Permanent { service: Service::Gitlab, status: 404, message: "404 Project Not Found".into() };

    assert_eq!(gitlab.create_issue(&missing, &new_issue(11), &no_event()).await.unwrap_err(), expected);
    assert_eq!(gitlab.get_issue(&missing, iid(1)).await.unwrap_err(), expected);
    assert_eq!(gitlab.list_issues(&missing, &IssueQuery::default()).await.unwrap_err(), expected);
    assert_eq!(gitlab.create_note(&missing, iid(1), "x", false, &no_event()).await.unwrap_err(), expected);
}

#[tokio::test]
async fn an_issue_deleted_behind_the_services_back_is_not_found() {
    let sim = sim().await;
    let gitlab = client(&sim);
    gitlab.create_issue(&by_path(), &new_issue(12), &no_event()).await.unwrap();
    assert!(sim.delete_issue(PROJECT_ID, 1));
    let not_found = ApiError::NotFound { service: Service::Gitlab, what: format!("issue 1 of {PROJECT_PATH}") };
    let close = IssueUpdate { state_event: Some(StateEvent::Close), ..IssueUpdate::default() };

    assert_eq!(gitlab.get_issue(&by_path(), iid(1)).await.unwrap_err(), not_found);
    assert_eq!(gitlab.update_issue(&by_path(), iid(1), &close, &no_event()).await.unwrap_err(), not_found);
    assert_eq!(gitlab.create_note(&by_path(), iid(1), "x", false, &no_event()).await.unwrap_err(), not_found);
    assert_eq!(gitlab.list_notes(&by_path(), iid(1), 1, 20).await.unwrap_err(), not_found);
    let next = gitlab.create_issue(&by_path(), &new_issue(13), &no_event()).await.unwrap();
    assert_eq!(next.iid.get(), 2, "an iid is never given twice");
}

#[tokio::test]
async fn the_api_budget_counts_down_in_the_headers_then_refuses_with_retry_after() {
    let limits = RateLimits { window: Duration::from_secs(60), api: Some(3), ..RateLimits::default() };
    let sim = sim_with(SimConfig::default().with_rate_limits(limits.clone())).await;
    let gitlab = client(&sim);
    // GitLab's windows turn on the epoch's minutes: start clear of a turn, so that the six calls
    // below fall in one window.
    if limits.until_next_window() < Duration::from_secs(5) {
        limits.next_window().await;
    }

    let (_, first, _) = raw_get(&sim, "/user", DEFAULT_TOKEN).await;
    let (_, second, _) = raw_get(&sim, "/user", DEFAULT_TOKEN).await;
    gitlab.current_user().await.unwrap();
    let refused = gitlab.current_user().await.unwrap_err();
    let (status, over, body) = raw_get(&sim, "/user", DEFAULT_TOKEN).await;
    let (other_status, _, _) = raw_get(&sim, "/user", PERSON_TOKEN).await;

    assert_eq!((number(&first, "ratelimit-observed"), number(&first, "ratelimit-remaining")), (1, 2));
    assert_eq!((number(&second, "ratelimit-observed"), number(&second, "ratelimit-remaining")), (2, 1));
    assert_eq!(number(&first, "ratelimit-limit"), 3);
    let ApiError::Transient { kind, retry_after: Some(wait), message, .. } = &refused else { panic!("{refused:?}") };
    assert_eq!((*kind, message.trim()), (TransientKind::Http(429), "Retry later"));
    assert!(*wait > Duration::ZERO && *wait <= Duration::from_secs(60), "until the minute turns: {wait:?}");
    assert_eq!((status, body.as_str(), number(&over, "ratelimit-remaining")), (429, "Retry later\n", 0));
    assert!(number(&over, "retry-after") <= 60 && number(&over, "ratelimit-reset") > 1_700_000_000);
    assert_eq!(other_status, 200, "each user has a budget of its own");
}

#[tokio::test]
async fn the_budget_comes_back_after_the_wait_gitlab_asked_for() {
    let limits = RateLimits { window: Duration::from_secs(1), api: Some(2), ..RateLimits::default() };
    let sim = sim_with(SimConfig::default().with_rate_limits(limits)).await;
    let gitlab = client(&sim);
    // Spend the budget, whichever window the first calls fall in.
    let mut refused = None;
    for _ in 0..10 {
        if let Err(error) = gitlab.current_user().await {
            refused = Some(error);
            break;
        }
    }
    let wait = refused.and_then(|error| error.retry_after()).expect("a refusal with a wait");
    assert!(wait <= Duration::from_secs(1), "{wait:?}");

    tokio::time::sleep(wait + Duration::from_millis(50)).await;

    assert_eq!(gitlab.current_user().await.unwrap().username, DEFAULT_USERNAME);
}

#[tokio::test]
async fn the_issue_creation_budget_is_enforced_without_showing_in_the_headers() {
    let limits =
        RateLimits { window: Duration::from_secs(60), api: Some(100), issue_creation: Some(2), note_creation: Some(1) };
    let sim = sim_with(SimConfig::default().with_rate_limits(limits.clone())).await;
    let gitlab = client(&sim);
    if limits.until_next_window() < Duration::from_secs(5) {
        limits.next_window().await;
    }
    gitlab.create_issue(&by_path(), &new_issue(1), &no_event()).await.unwrap();
    gitlab.create_issue(&by_path(), &new_issue(2), &no_event()).await.unwrap();

    let refused = gitlab.create_issue(&by_path(), &new_issue(3), &no_event()).await.unwrap_err();
    let (_, headers, _) = raw_get(&sim, "/user", DEFAULT_TOKEN).await;
    gitlab.create_note(&by_path(), iid(1), "one", false, &no_event()).await.unwrap();
    let note_refused = gitlab.create_note(&by_path(), iid(1), "two", false, &no_event()).await.unwrap_err();
    let updated = gitlab
        .update_issue(
            &by_path(),
            iid(1),
            &IssueUpdate { title: Some("still".into()), ..Default::default() },
            &no_event(),
        )
        .await;

    let ApiError::Transient { kind, retry_after, message, .. } = &refused else { panic!("{refused:?}") };
    assert_eq!((*kind, *retry_after), (TransientKind::Http(429), Some(Duration::from_secs(60))));
    assert!(message.contains("requested too many times"), "{message}");
    assert_eq!(note_refused.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(sim.issues(PROJECT_ID).len(), 2);
    assert_eq!(sim.notes(PROJECT_ID, 1).iter().filter(|n| !n.system).count(), 1);
    assert_eq!(number(&headers, "ratelimit-remaining"), 96, "the headers show the API budget only");
    assert!(updated.is_ok(), "other writes go on");
}

#[tokio::test]
async fn a_5xx_is_transient_and_writes_nothing() {
    let sim = sim().await;
    let gitlab = client(&sim);
    for status in [500, 502, 503, 504] {
        sim.inject(FaultRule::new(Fault::ServerError(status)).on("POST", "/projects/"));

        let error = gitlab.create_issue(&by_path(), &new_issue(status.into()), &no_event()).await.unwrap_err();

        assert!(
            matches!(&error, ApiError::Transient { kind: TransientKind::Http(s), .. } if *s == status),
            "{error:?}"
        );
    }
    assert!(sim.issues(PROJECT_ID).is_empty());
    assert!(gitlab.create_issue(&by_path(), &new_issue(1), &no_event()).await.is_ok(), "the faults are used up");
    let statuses: Vec<Option<u16>> = sim.requests().into_iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(500), Some(502), Some(503), Some(504), Some(201)]);
}

#[tokio::test]
async fn a_fault_only_hits_the_requests_it_matches() {
    let sim = sim().await;
    let gitlab = client(&sim);
    sim.inject(FaultRule::new(Fault::ServerError(503)).times(2).on("POST", "/projects/1/issues/1/notes"));
    gitlab.create_issue(&by_id(), &new_issue(1), &no_event()).await.unwrap();

    let first = gitlab.create_note(&by_id(), iid(1), "a", false, &no_event()).await;
    let read = gitlab.get_issue(&by_id(), iid(1)).await;
    let second = gitlab.create_note(&by_id(), iid(1), "b", false, &no_event()).await;
    let third = gitlab.create_note(&by_id(), iid(1), "c", false, &no_event()).await;

    assert!(first.unwrap_err().is_transient() && second.unwrap_err().is_transient());
    assert!(read.is_ok() && third.is_ok());
    assert_eq!(sim.notes(PROJECT_ID, 1).iter().map(|n| n.body.as_str()).collect::<Vec<_>>(), ["c"]);
}

#[tokio::test]
async fn a_slow_answer_past_the_time_out_is_transient_though_the_write_happened() {
    let sim = sim().await;
    let settings = HttpSettings { total_timeout: Duration::from_millis(300), ..HttpSettings::default() };
    let gitlab = client_with(&sim, DEFAULT_TOKEN, &settings);
    sim.inject(FaultRule::new(Fault::Slow(Duration::from_secs(2))).on("POST", "/projects/"));

    let error = gitlab.create_issue(&by_path(), &new_issue(14), &no_event()).await.unwrap_err();

    assert!(matches!(&error, ApiError::Transient { kind: TransientKind::Timeout, .. }), "{error:?}");
    // The simulator processes the request before it waits; on a busy machine that may come after
    // the client gave up, so look a few times.
    let mut created = sim.issues(PROJECT_ID).len();
    for _ in 0..100 {
        if created > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        created = sim.issues(PROJECT_ID).len();
    }
    assert_eq!(created, 1, "GitLab created it: only a marker search can tell");
}

#[tokio::test]
async fn a_connection_closed_without_an_answer_is_transient() {
    let sim = sim().await;
    let gitlab = client(&sim);
    sim.inject(FaultRule::new(Fault::DropConnection).on("POST", "/projects/"));
    sim.inject(FaultRule::new(Fault::DropAfterProcessing).on("POST", "/projects/"));

    let before = gitlab.create_issue(&by_path(), &new_issue(15), &no_event()).await.unwrap_err();
    assert!(sim.issues(PROJECT_ID).is_empty());
    let after = gitlab.create_issue(&by_path(), &new_issue(16), &no_event()).await.unwrap_err();

    assert!(matches!(&before, ApiError::Transient { kind: TransientKind::Transport, .. }), "{before:?}");
    assert!(after.is_transient(), "{after:?}");
    assert_eq!(sim.issues(PROJECT_ID).len(), 1);
    assert_eq!(sim.requests().iter().map(|r| r.status).collect::<Vec<_>>(), [None, None]);
    assert!(gitlab.get_issue(&by_path(), iid(1)).await.is_ok(), "the next request gets a new connection");
}

#[tokio::test]
async fn gitlab_refuses_a_blank_title_with_its_validation_message() {
    let sim = sim().await;
    let gitlab = client(&sim);

    let error = gitlab.create_issue(&by_path(), &NewIssue { title: " ".into(), ..new_issue(17) }, &no_event()).await;

    assert_eq!(
        error.unwrap_err(),
        ApiError::Permanent {
            service: Service::Gitlab,
            status: 400,
            message: r#"{"title":["can't be blank"]}"#.into()
        }
    );
}

#[tokio::test]
async fn the_simulators_issue_has_the_keys_and_types_of_gitlabs() {
    let sim = sim().await;
    let gitlab = client(&sim);
    let issue = NewIssue { assignee_ids: vec![ANA], ..new_issue(18) };
    gitlab.create_issue(&by_path(), &issue, &no_event()).await.unwrap();

    let json = sim.issue_json(PROJECT_ID, 1).unwrap();

    let kinds = [
        ("id", "number"),
        ("iid", "number"),
        ("project_id", "number"),
        ("title", "string"),
        ("description", "string"),
        ("state", "string"),
        ("created_at", "string"),
        ("updated_at", "string"),
        ("closed_at", "null"),
        ("closed_by", "null"),
        ("labels", "array"),
        ("milestone", "null"),
        ("assignees", "array"),
        ("author", "object"),
        ("assignee", "object"),
        ("user_notes_count", "number"),
        ("upvotes", "number"),
        ("downvotes", "number"),
        ("due_date", "null"),
        ("confidential", "bool"),
        ("discussion_locked", "null"),
        ("issue_type", "string"),
        ("web_url", "string"),
        ("time_stats", "object"),
        ("_links", "object"),
        ("references", "object"),
        ("task_completion_status", "object"),
        ("subscribed", "bool"),
    ];
    for (key, kind) in kinds {
        let value = &json[key];
        let actual = match value {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "bool",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::String(_) => "string",
            serde_json::Value::Array(_) => "array",
            serde_json::Value::Object(_) => "object",
        };
        assert_eq!(actual, kind, "{key}: {value}");
    }
    let mut user_keys: Vec<&str> = json["assignees"][0].as_object().unwrap().keys().map(String::as_str).collect();
    user_keys.sort_unstable();
    assert_eq!(user_keys, ["avatar_url", "id", "locked", "name", "state", "username", "web_url"]);
    let updated_at = json["updated_at"].as_str().unwrap();
    assert!(updated_at.ends_with('Z') && updated_at.len() == "2025-01-01T00:00:00.000Z".len(), "{updated_at}");
}
