//! The QALITA client against the QALITA simulator: paging, 204 as "absent", authentication,
//! classification of rate limits, server errors and time-outs, configurable endpoints, and the
//! issue sample end to end. Each test has its own simulator on a free port.

use std::time::{Duration, Instant};

use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::adapters::qalita_http::{Endpoint, QalitaClient, QalitaPaths, UserFields};
use qalita_gitlab_core::domain::qalita::{QalitaIssue, QalitaIssueUpdate, QalitaUser};
use qalita_gitlab_core::domain::{QalitaIssueId, SecretString};
use qalita_gitlab_core::ports::{ApiError, QalitaApi, Service};
use qalita_gitlab_tests::qalita_sim::{Fault, ListEnvelope, QalitaSim, SimOptions};
use serde_json::{Value, json};

const TOKEN: &str = "qalita-api-token-4f9c2e";
const ISSUE_SAMPLE: &str = include_str!("../../fixtures/qalita/issue.json");
const USER_SAMPLE: &str = include_str!("../../fixtures/qalita/user.json");

fn settings() -> HttpSettings {
    HttpSettings { connect_timeout: Duration::from_secs(2), total_timeout: Duration::from_secs(5), ca_bundle: None }
}

fn client_with(sim: &QalitaSim, token: &str, paths: QalitaPaths, settings: &HttpSettings) -> QalitaClient {
    QalitaClient::new(&sim.url(), SecretString::new(token), paths, settings).expect("a QALITA client of the simulator")
}

fn client(sim: &QalitaSim) -> QalitaClient {
    client_with(sim, TOKEN, QalitaPaths::default(), &settings())
}

fn issue_id(raw: u64) -> QalitaIssueId {
    QalitaIssueId::new(raw).unwrap()
}

/// An issue QALITA raised on `day` of January 2026.
fn issue_raised_on(id: u64, day: u32) -> Value {
    json!({"id": id, "title": format!("rule {id}"), "status": "open", "created_at": format!("2026-01-{day:02}T08:00:00Z")})
}

fn ids(issues: &[QalitaIssue]) -> Vec<u64> {
    issues.iter().map(|issue| issue.id.get()).collect()
}

fn transient_class(error: &ApiError) -> &str {
    match error {
        ApiError::Transient { service: Service::Qalita, class, .. } => class,
        other => panic!("expected a transient QALITA error, got {other:?}"),
    }
}

#[tokio::test]
async fn issues_are_listed_newest_first_by_creation_across_pages() {
    let sim = QalitaSim::start(TOKEN).await;
    for (id, day) in [(1, 3), (2, 1), (3, 5), (4, 2), (5, 5)] {
        sim.insert_issue(issue_raised_on(id, day));
    }
    let client = client(&sim);

    let mut pages = Vec::new();
    for offset in [0, 2, 4, 6] {
        pages.push(ids(&client.list_issues(offset, 2).await.unwrap()));
    }

    assert_eq!(pages, vec![vec![5, 3], vec![1, 4], vec![2], vec![]]);
    let queries: Vec<_> = sim.requests().iter().map(|r| (r.path.clone(), r.query_pairs(), r.status)).collect();
    let page = |offset: &str| {
        let query = vec![("offset".to_owned(), offset.to_owned()), ("limit".to_owned(), "2".to_owned())];
        ("/api/v2/issues".to_owned(), query, Some(200))
    };
    assert_eq!(queries, vec![page("0"), page("2"), page("4"), page("6")]);
}

#[tokio::test]
async fn an_issue_is_read_by_its_id() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_issue(json!({"id": 77, "title": "Null emails", "status": "Active", "assignee": 12}));

    let issue = client(&sim).get_issue(issue_id(77)).await.unwrap().expect("issue 77 exists");

    assert_eq!((issue.title.as_str(), issue.status.as_str(), issue.assignee), ("Null emails", "Active", Some(12)));
    assert_eq!(sim.count("GET", "/api/v2/issues/77"), 1);
}

#[tokio::test]
async fn a_missing_issue_is_none_from_qalitas_204() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_issue(issue_raised_on(1, 1));

    let issue = client(&sim).get_issue(issue_id(2)).await;

    assert_eq!(issue, Ok(None));
    assert_eq!(sim.requests()[0].status, Some(204));
}

#[tokio::test]
async fn an_issue_removed_in_qalita_reads_as_none() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(9, 1));
    let client = client(&sim);
    assert!(client.get_issue(issue_id(id)).await.unwrap().is_some());

    sim.remove_issue(id);

    assert_eq!(client.get_issue(issue_id(id)).await, Ok(None));
}

#[tokio::test]
async fn a_change_made_in_qalita_is_read_with_a_later_updated_at() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(3, 1));
    let client = client(&sim);
    let before = client.get_issue(issue_id(id)).await.unwrap().unwrap();

    sim.update_issue(id, |issue| issue["status"] = json!("Resolved"));
    let after = client.get_issue(issue_id(id)).await.unwrap().unwrap();

    assert_eq!((before.status.as_str(), after.status.as_str()), ("open", "Resolved"));
    assert!(after.updated_at > before.updated_at, "{:?} then {:?}", before.updated_at, after.updated_at);
}

#[tokio::test]
async fn a_user_is_read_and_a_missing_user_is_none() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_user(serde_json::from_str::<Value>(USER_SAMPLE).unwrap());
    let client = client(&sim);

    let user = client.get_user(12).await.unwrap();
    let missing = client.get_user(13).await.unwrap();

    let expected = QalitaUser {
        id: 12,
        login: Some("m.durand".into()),
        name: Some("Marie Durand".into()),
        email: Some("marie.durand@example.com".into()),
    };
    assert_eq!(user, Some(expected));
    assert_eq!(missing, None);
    assert_eq!(sim.requests().iter().map(|r| r.status).collect::<Vec<_>>(), vec![Some(200), Some(204)]);
}

#[tokio::test]
async fn a_user_login_is_read_under_the_configured_field_name() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_user(json!({"id": 4, "username": "j.martin", "login": null}));
    let paths = QalitaPaths {
        user_fields: UserFields { login: "username".into(), ..Default::default() },
        ..Default::default()
    };

    let user = client_with(&sim, TOKEN, paths, &settings()).get_user(4).await.unwrap().unwrap();

    assert_eq!(user.login.as_deref(), Some("j.martin"));
}

#[tokio::test]
async fn a_wrong_token_is_permanent_with_qalitas_message_and_never_shows_the_token() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_issue(issue_raised_on(1, 1));
    let wrong = "wrong-token-d41d8cd98f";
    let client = client_with(&sim, wrong, QalitaPaths::default(), &settings());

    let error = client.list_issues(0, 10).await.unwrap_err();

    assert_eq!(
        error,
        ApiError::Permanent { service: Service::Qalita, status: 401, message: "Could not validate credentials".into() }
    );
    assert!(!error.is_transient());
    let shown = format!("{error} {error:?} {client:?}");
    assert!(!shown.contains(wrong) && !shown.contains(TOKEN), "{shown}");
    assert_eq!(sim.request_count(), 1, "the client does not retry a refused call");
}

#[tokio::test]
async fn a_rate_limit_is_transient_with_the_wait_qalita_asked_for() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_issue(issue_raised_on(1, 1));
    let client = client(&sim);
    sim.fail_next(1, Fault::RateLimited { retry_after_secs: 7 });

    let limited = client.get_issue(issue_id(1)).await.unwrap_err();
    assert_eq!(sim.request_count(), 1, "retrying is the worker's decision, not the client's");
    let later = client.get_issue(issue_id(1)).await;

    assert_eq!(transient_class(&limited), "http-429");
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(7)));
    assert!(later.unwrap().is_some());
}

#[tokio::test]
async fn server_errors_are_transient() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_issue(issue_raised_on(1, 1));
    let client = client(&sim);

    let mut classes = Vec::new();
    for status in [500, 502, 503] {
        sim.fail_next(1, Fault::ServerError(status));
        classes.push(transient_class(&client.list_issues(0, 10).await.unwrap_err()).to_owned());
    }

    assert_eq!(classes, ["http-500", "http-502", "http-503"]);
    assert_eq!(ids(&client.list_issues(0, 10).await.unwrap()), vec![1]);
}

#[tokio::test]
async fn a_fault_on_one_path_leaves_the_others_alone() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_issue(issue_raised_on(1, 1));
    sim.insert_user(json!({"id": 12, "login": "m.durand"}));
    let client = client(&sim);
    sim.fail_next_on("/api/v2/users", 1, Fault::ServerError(503));

    let issue = client.get_issue(issue_id(1)).await;
    let user = client.get_user(12).await;

    assert!(issue.unwrap().is_some());
    assert_eq!(transient_class(&user.unwrap_err()), "http-503");
}

#[tokio::test]
async fn an_answer_slower_than_the_time_out_is_transient() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_issue(issue_raised_on(1, 1));
    let quick = HttpSettings { total_timeout: Duration::from_millis(300), ..settings() };
    let client = client_with(&sim, TOKEN, QalitaPaths::default(), &quick);
    sim.fail_next(1, Fault::Slow(Duration::from_secs(30)));

    let started = Instant::now();
    let error = client.get_issue(issue_id(1)).await.unwrap_err();

    assert_eq!(transient_class(&error), "timeout");
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after {:?}", started.elapsed());
    assert!(client.get_issue(issue_id(1)).await.unwrap().is_some());
}

#[tokio::test]
async fn an_unreachable_qalita_is_transient() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = QalitaClient::new(&url, SecretString::new(TOKEN), QalitaPaths::default(), &settings()).unwrap();

    let error = client.list_issues(0, 10).await.unwrap_err();

    assert_eq!(transient_class(&error), "connect");
    assert!(!format!("{error:?}").contains(TOKEN));
}

#[tokio::test]
async fn endpoints_under_another_prefix_are_reached_by_configuring_the_paths() {
    let sim = QalitaSim::start_with(TOKEN, SimOptions { api_prefix: "/api/v3".into(), ..Default::default() }).await;
    sim.insert_issue(issue_raised_on(5, 1));
    sim.insert_user(json!({"id": 12, "login": "m.durand"}));
    let v3 = QalitaPaths {
        list_issues: Endpoint::parse("GET /api/v3/issues").unwrap(),
        get_issue: Endpoint::parse("GET /api/v3/issues/{id}").unwrap(),
        get_user: Endpoint::parse("GET /api/v3/users/{id}").unwrap(),
        ..Default::default()
    };

    let unconfigured = client(&sim).list_issues(0, 10).await.unwrap_err();
    let configured = client_with(&sim, TOKEN, v3, &settings());

    assert_eq!(
        unconfigured,
        ApiError::Permanent { service: Service::Qalita, status: 404, message: "Not Found".into() }
    );
    assert_eq!(ids(&configured.list_issues(0, 10).await.unwrap()), vec![5]);
    assert!(configured.get_issue(issue_id(5)).await.unwrap().is_some());
    assert_eq!(configured.get_user(12).await.unwrap().and_then(|u| u.login).as_deref(), Some("m.durand"));
    assert_eq!(sim.count_matching(|r| r.path.starts_with("/api/v3/")), 3);
}

#[tokio::test]
async fn the_extra_list_parameter_is_sent_after_the_paging() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_issue(issue_raised_on(1, 1));
    let paths = QalitaPaths { list_extra_query: vec![("sort".into(), "-created_at".into())], ..Default::default() };

    let issues = client_with(&sim, TOKEN, paths, &settings()).list_issues(20, 50).await.unwrap();

    assert!(issues.is_empty());
    let sent = sim.requests()[0].query_pairs();
    let expected = [("offset", "20"), ("limit", "50"), ("sort", "-created_at")];
    assert_eq!(sent, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
}

#[tokio::test]
async fn a_list_wrapped_in_items_or_data_is_read() {
    for list_envelope in [ListEnvelope::Items, ListEnvelope::Data] {
        let sim = QalitaSim::start_with(TOKEN, SimOptions { list_envelope, ..Default::default() }).await;
        sim.insert_issue(issue_raised_on(1, 1));
        sim.insert_issue(issue_raised_on(2, 2));

        let issues = client(&sim).list_issues(0, 10).await;

        assert_eq!(issues.as_deref().map(ids), Ok(vec![2, 1]), "{list_envelope:?}");
    }
}

#[tokio::test]
async fn a_limit_above_qalitas_maximum_is_refused_permanently() {
    let sim = QalitaSim::start(TOKEN).await;

    let error = client(&sim).list_issues(0, 5000).await.unwrap_err();

    let ApiError::Permanent { status: 422, message, .. } = error else {
        panic!("expected a permanent 422, got {error:?}");
    };
    assert!(message.contains("less than or equal to 1000"), "{message}");
}

#[tokio::test]
async fn an_html_page_instead_of_json_is_a_permanent_error_that_says_so() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_issue(issue_raised_on(1, 1));
    sim.fail_next(1, Fault::HtmlPage);

    let error = client(&sim).get_issue(issue_id(1)).await.unwrap_err();

    let ApiError::Permanent { status: 200, message, .. } = error else {
        panic!("expected a permanent error on a 200 answer, got {error:?}");
    };
    assert!(
        message.starts_with("the answer to GET /api/v2/issues/1 should be JSON, got a body of text/html"),
        "{message}"
    );
}

#[tokio::test]
async fn an_issue_whose_dates_do_not_read_is_a_permanent_error_naming_the_field() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_issue(json!({"id": 8, "created_at": "2026-01-01T00:00:00Z", "updated_at": "yesterday"}));

    let error = client(&sim).list_issues(0, 10).await.unwrap_err();

    let ApiError::Permanent { message, .. } = error else { panic!("expected a permanent error, got {error:?}") };
    assert!(message.contains("at `[0].updated_at`"), "{message}");
}

#[tokio::test]
async fn the_issue_sample_round_trips_through_the_simulator_and_the_client() {
    let sim = QalitaSim::start(TOKEN).await;
    let sample: Value = serde_json::from_str(ISSUE_SAMPLE).unwrap();
    let expected: QalitaIssue = serde_json::from_value(sample.clone()).unwrap();
    let id = sim.insert_issue(sample.clone());
    let client = client(&sim);

    let read = client.get_issue(issue_id(id)).await.unwrap();
    let listed = client.list_issues(0, 1).await.unwrap();

    assert_eq!(sim.issue(id), Some(sample), "the simulator keeps the sample as given");
    assert_eq!(read.as_ref(), Some(&expected));
    assert_eq!(listed, vec![expected.clone()]);
    sim.insert_issue(&expected);
    assert_eq!(
        client.get_issue(issue_id(id)).await.unwrap(),
        Some(expected),
        "a domain issue stored reads back the same"
    );
}

#[tokio::test]
async fn an_update_changes_only_the_fields_it_names_and_moves_updated_at() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(serde_json::from_str::<Value>(include_str!("../../fixtures/qalita/issue.json")).unwrap());
    let before = sim.issue(id).unwrap();
    let client = client(&sim);
    let update = QalitaIssueUpdate { status: Some("Resolved".into()), ..QalitaIssueUpdate::default() };
    let after = client.update_issue(QalitaIssueId::new(id).unwrap(), &update).await.unwrap();
    assert_eq!(after.status, "Resolved");
    assert_eq!(after.title, before["title"].as_str().unwrap(), "other fields are left alone");
    let before_time: chrono::DateTime<chrono::Utc> = before["updated_at"].as_str().unwrap().parse().unwrap();
    assert!(after.updated_at.unwrap() > before_time, "QALITA moves updated_at on every change");
    assert_eq!(sim.issue(id).unwrap()["status"], "Resolved");
    let put = sim.requests().into_iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.path, format!("/api/v2/issues/{id}"));
}

#[tokio::test]
async fn updating_a_missing_issue_is_not_found() {
    let sim = QalitaSim::start(TOKEN).await;
    let update = QalitaIssueUpdate { assignee: Some(12), ..QalitaIssueUpdate::default() };
    let error = client(&sim).update_issue(QalitaIssueId::new(999).unwrap(), &update).await.unwrap_err();
    assert!(matches!(error, ApiError::NotFound { .. }), "{error}");
}
