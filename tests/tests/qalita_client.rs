//! The QALITA client against the QALITA simulator: paging, 204 as "absent", authentication,
//! classification of rate limits, server errors and time-outs, configurable endpoints, comments
//! (list, create, optional edit), users by login, the issue sample end to end, and the change
//! events the simulator sends to a queue as a QALITA bridge would. Each test has its own simulator
//! on a free port.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::adapters::memory::MemoryQueue;
use qalita_gitlab_core::adapters::qalita_http::{Endpoint, QalitaClient, QalitaPaths, UserFields};
use qalita_gitlab_core::domain::qalita::{QalitaComment, QalitaIssue, QalitaIssueUpdate, QalitaUser};
use qalita_gitlab_core::domain::{QalitaIssueId, SecretString};
use qalita_gitlab_core::envelope::{Envelope, Source};
use qalita_gitlab_core::ports::{ApiError, EventQueue, QalitaApi, ReceivedMessage, Service, SystemClock};
use qalita_gitlab_sims::qalita::{EmitOutcome, Fault, ListEnvelope, QalitaSim, SimOptions};
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

fn transient_class(error: &ApiError) -> String {
    match error {
        ApiError::Transient { service: Service::Qalita, kind, .. } => kind.to_string(),
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
        classes.push(transient_class(&client.list_issues(0, 10).await.unwrap_err()));
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

// Comments.

fn contents(comments: &[QalitaComment]) -> Vec<&str> {
    comments.iter().map(|comment| comment.content.as_str()).collect()
}

fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value.as_str().and_then(|text| text.parse().ok()).unwrap_or_else(|| panic!("not a time: {value}"))
}

#[tokio::test]
async fn comments_are_listed_oldest_first_with_their_authors() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    let first = sim.add_comment(id, 12, "Seen on the nightly load too.");
    let second = sim.add_comment(id, 13, "Upstream fix deployed.");
    let other = sim.insert_issue(issue_raised_on(5, 1));
    sim.add_comment(other, 12, "On another issue");

    let comments = client(&sim).list_comments(issue_id(id)).await.unwrap();

    assert_eq!(
        comments.iter().map(|c| (c.id, c.author_id, c.issue_id)).collect::<Vec<_>>(),
        [(first, Some(12), Some(id)), (second, Some(13), Some(id))]
    );
    assert_eq!(contents(&comments), ["Seen on the nightly load too.", "Upstream fix deployed."]);
    assert!(comments[0].created_at < comments[1].created_at);
    assert_eq!(sim.count("GET", &format!("/api/v2/issues/{id}/comments")), 1);
}

#[tokio::test]
async fn a_comment_list_wrapped_in_items_is_read() {
    let sim =
        QalitaSim::start_with(TOKEN, SimOptions { list_envelope: ListEnvelope::Items, ..Default::default() }).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    sim.add_comment(id, 12, "one");
    sim.add_comment(id, 12, "two");

    let comments = client(&sim).list_comments(issue_id(id)).await.unwrap();

    assert_eq!(contents(&comments), ["one", "two"]);
}

#[tokio::test]
async fn comments_under_other_field_names_are_read() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    sim.insert_comment(id, json!({"id": 70, "body": "as body", "user_id": 12, "created_at": "2026-01-02T00:00:00"}));
    sim.insert_comment(
        id,
        json!({"id": 71, "text": "as text", "author_id": null, "created_at": "2026-01-03T00:00:00Z"}),
    );

    let comments = client(&sim).list_comments(issue_id(id)).await.unwrap();

    assert_eq!(contents(&comments), ["as body", "as text"]);
    assert_eq!(
        comments.iter().map(|c| (c.id, c.author_id, c.issue_id)).collect::<Vec<_>>(),
        [(70, Some(12), None), (71, None, None)]
    );
}

#[tokio::test]
async fn a_malformed_comment_list_is_permanent_and_names_the_place() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    sim.add_comment(id, 12, "fine");
    sim.insert_comment(id, json!({"content": "bad date", "created_at": "2099-01-05T00:00:00Z", "updated_at": "soon"}));

    let error = client(&sim).list_comments(issue_id(id)).await.unwrap_err();

    let ApiError::Permanent { service: Service::Qalita, status: 200, message } = error else {
        panic!("expected a permanent error on a 200 answer, got {error:?}");
    };
    assert!(message.starts_with(&format!("the answer to GET /api/v2/issues/{id}/comments")), "{message}");
    assert!(message.contains("at `[1].updated_at`"), "{message}");
}

#[tokio::test]
async fn a_comment_created_through_the_api_is_the_tokens_users_and_leaves_the_issue_alone() {
    let sim = QalitaSim::start_with(TOKEN, SimOptions { api_user_id: 40, ..Default::default() }).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    let issue_before = sim.issue(id);
    let text = "**[GitLab]** jroe: the loader skips rows with `lat` = 999";

    let created = client(&sim).create_comment(issue_id(id), text).await.unwrap();

    assert_eq!((created.issue_id, created.author_id, created.content.as_str()), (Some(id), Some(40), text));
    assert!(created.created_at.is_some() && created.updated_at == created.created_at);
    assert_eq!(sim.comments(id).len(), 1);
    assert_eq!(sim.comment(created.id).unwrap()["content"], text);
    assert_eq!(sim.issue(id), issue_before, "a comment changes nothing on the issue");
    let post = &sim.requests()[0];
    assert_eq!(
        (post.method.as_str(), post.path.clone(), post.status),
        ("POST", format!("/api/v2/issues/{id}/comments"), Some(200))
    );
    assert_eq!(post.json(), Some(json!({"content": text})), "the client sends the text only");
}

#[tokio::test]
async fn an_edited_comment_comes_back_with_its_new_text_and_a_later_updated_at() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    let client = client(&sim);
    let created = client.create_comment(issue_id(id), "first words").await.unwrap();

    let edited = client.update_comment(issue_id(id), created.id, "second thoughts").await.unwrap();

    let edited = edited.expect("the default simulator edits comments");
    assert_eq!((edited.id, edited.content.as_str()), (created.id, "second thoughts"));
    assert_eq!(edited.created_at, created.created_at);
    assert!(edited.updated_at > created.updated_at, "{:?} then {:?}", created.updated_at, edited.updated_at);
    assert_eq!(contents(&client.list_comments(issue_id(id)).await.unwrap()), ["second thoughts"]);
    assert_eq!(sim.count("PUT", &format!("/api/v2/issues/{id}/comments/{}", created.id)), 1);
}

#[tokio::test]
async fn where_qalita_has_no_comment_edit_the_update_is_none_after_its_405() {
    let sim = QalitaSim::start_with(TOKEN, SimOptions { comment_updates: false, ..Default::default() }).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    let comment = sim.add_comment(id, sim.api_user_id(), "as written");

    let edited = client(&sim).update_comment(issue_id(id), comment, "as edited").await;

    assert_eq!(edited, Ok(None));
    let statuses: Vec<_> = sim.requests().iter().map(|r| (r.method.clone(), r.status)).collect();
    assert_eq!(statuses, [("PUT".to_owned(), Some(405))]);
    assert_eq!(sim.comment(comment).unwrap()["content"], "as written");
}

#[tokio::test]
async fn when_comment_edits_are_configured_off_no_request_is_sent() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    let comment = sim.add_comment(id, sim.api_user_id(), "as written");
    let paths: QalitaPaths = serde_json::from_value(json!({"update_comment": "none"})).unwrap();
    assert_eq!(paths.update_comment, None);

    let edited = client_with(&sim, TOKEN, paths, &settings()).update_comment(issue_id(id), comment, "x").await;

    assert_eq!(edited, Ok(None));
    assert_eq!(sim.request_count(), 0);
    assert_eq!(sim.comment(comment).unwrap()["content"], "as written");
}

#[tokio::test]
async fn a_comment_edit_on_a_configured_path_reaches_it() {
    let sim = QalitaSim::start_with(TOKEN, SimOptions { api_prefix: "/api/v3".into(), ..Default::default() }).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    let comment = sim.add_comment(id, sim.api_user_id(), "as written");
    let paths = QalitaPaths {
        update_comment: Some(Endpoint::parse("PUT /api/v3/issues/{id}/comments/{comment_id}").unwrap()),
        ..Default::default()
    };

    let edited = client_with(&sim, TOKEN, paths, &settings()).update_comment(issue_id(id), comment, "x").await;

    assert_eq!(edited.unwrap().map(|c| c.content), Some("x".to_owned()));
    assert_eq!(sim.count("PUT", &format!("/api/v3/issues/{id}/comments/{comment}")), 1);
}

#[tokio::test]
async fn comments_of_a_missing_issue_are_not_found_and_nothing_is_written() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    let client = client(&sim);

    let listed = client.list_comments(issue_id(99)).await.unwrap_err();
    let created = client.create_comment(issue_id(99), "hello?").await.unwrap_err();
    let edited = client.update_comment(issue_id(id), 5, "no such comment").await.unwrap_err();

    for error in [&listed, &created, &edited] {
        assert!(matches!(error, ApiError::NotFound { service: Service::Qalita, .. }), "{error:?}");
        assert!(!error.is_transient());
    }
    assert_eq!(listed.to_string(), "QALITA: QALITA issue 99 not found");
    assert!(sim.requests().iter().all(|r| r.status == Some(204)), "{:?}", sim.requests());
    assert!(sim.comments(id).is_empty() && sim.comments(99).is_empty());
}

#[tokio::test]
async fn a_rate_limit_on_any_comment_or_user_call_is_transient_with_the_wait() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    let comment = sim.add_comment(id, sim.api_user_id(), "kept");
    let client = client(&sim);
    let issue = issue_id(id);

    let mut errors = Vec::new();
    for wait in 1..=4 {
        sim.fail_next(1, Fault::RateLimited { retry_after_secs: wait });
        let error = match wait {
            1 => client.list_comments(issue).await.map(|_| ()),
            2 => client.create_comment(issue, "dropped").await.map(|_| ()),
            3 => client.update_comment(issue, comment, "dropped").await.map(|_| ()),
            _ => client.user_by_login("m.durand").await.map(|_| ()),
        };
        errors.push(error.unwrap_err());
    }

    for (wait, error) in (1..).zip(&errors) {
        assert_eq!(transient_class(error), "http-429");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(wait)));
    }
    assert_eq!(sim.comments(id).len(), 1, "a limited call writes nothing");
    assert_eq!(sim.comment(comment).unwrap()["content"], "kept");
    assert_eq!(sim.request_count(), 4, "retrying is the worker's decision, not the client's");
}

#[tokio::test]
async fn server_errors_on_comment_and_user_calls_are_transient() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    let client = client(&sim);
    sim.fail_next_on(&format!("/api/v2/issues/{id}/comments"), 2, Fault::ServerError(503));
    sim.fail_next_on("/api/v2/users", 1, Fault::ServerError(502));

    let listed = client.list_comments(issue_id(id)).await.unwrap_err();
    let created = client.create_comment(issue_id(id), "lost?").await.unwrap_err();
    let user = client.user_by_login("m.durand").await.unwrap_err();

    assert_eq!(
        [transient_class(&listed), transient_class(&created), transient_class(&user)],
        ["http-503", "http-503", "http-502"]
    );
    assert!(sim.comments(id).is_empty(), "the proxy answered; the application stored nothing");
    assert_eq!(contents(&client.list_comments(issue_id(id)).await.unwrap()), Vec::<&str>::new());
}

#[tokio::test]
async fn a_refused_token_or_permission_on_comments_is_permanent() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    let wrong = client_with(&sim, "wrong-token-0c5e", QalitaPaths::default(), &settings());

    let unauthorized = wrong.list_comments(issue_id(id)).await.unwrap_err();
    sim.fail_next_on(&format!("/api/v2/issues/{id}/comments"), 1, Fault::Forbidden);
    let forbidden = client(&sim).create_comment(issue_id(id), "not allowed").await.unwrap_err();
    let user = wrong.user_by_login("m.durand").await.unwrap_err();

    let refused = |status: u16, message: &str| ApiError::Permanent {
        service: Service::Qalita,
        status,
        message: message.to_owned(),
    };
    assert_eq!(unauthorized, refused(401, "Could not validate credentials"));
    assert_eq!(forbidden, refused(403, "Not enough permissions"));
    assert_eq!(user, refused(401, "Could not validate credentials"));
    assert!(sim.comments(id).is_empty());
}

#[tokio::test]
async fn editing_someone_elses_comment_is_refused_permanently() {
    let sim = QalitaSim::start(TOKEN).await;
    let id = sim.insert_issue(issue_raised_on(4, 1));
    let theirs = sim.add_comment(id, 12, "written by a person");

    let error = client(&sim).update_comment(issue_id(id), theirs, "overwritten").await.unwrap_err();

    assert!(matches!(error, ApiError::Permanent { status: 403, .. }), "{error:?}");
    assert_eq!(sim.comment(theirs).unwrap()["content"], "written by a person");
}

// Users by login.

#[tokio::test]
async fn a_user_is_found_by_login_whatever_its_case() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_user(json!({"id": 12, "login": "M.Durand", "name": "Marie Durand"}));
    sim.insert_user(json!({"id": 13, "login": "jroe"}));
    sim.insert_user(json!({"id": 14}));
    let client = client(&sim);

    let marie = client.user_by_login("m.durand").await.unwrap();
    let john = client.user_by_login(" JRoe ").await.unwrap();
    let nobody = client.user_by_login("m.duran").await.unwrap();

    assert_eq!(marie.map(|u| (u.id, u.name)), Some((12, Some("Marie Durand".to_owned()))));
    assert_eq!(john.map(|u| u.id), Some(13));
    assert_eq!(nobody, None);
    assert_eq!(sim.count("GET", "/api/v2/users"), 3);
}

#[tokio::test]
async fn a_user_is_found_by_login_under_the_configured_field_name() {
    let sim = QalitaSim::start(TOKEN).await;
    sim.insert_user(json!({"id": 4, "username": "J.Martin", "login": "someone-else"}));
    sim.insert_user(json!({"id": 5, "username": "someone-else"}));
    let paths = QalitaPaths {
        user_fields: UserFields { login: "username".into(), ..Default::default() },
        ..Default::default()
    };
    let client = client_with(&sim, TOKEN, paths, &settings());

    let found = client.user_by_login("j.martin").await.unwrap();
    let by_the_other_field = client.user_by_login("someone-else").await.unwrap();

    assert_eq!(found.map(|u| (u.id, u.login)), Some((4, Some("J.Martin".to_owned()))));
    assert_eq!(by_the_other_field.map(|u| u.id), Some(5), "the `login` field is not read");
}

#[tokio::test]
async fn a_user_list_wrapped_in_data_is_read() {
    let sim =
        QalitaSim::start_with(TOKEN, SimOptions { list_envelope: ListEnvelope::Data, ..Default::default() }).await;
    sim.insert_user(serde_json::from_str::<Value>(USER_SAMPLE).unwrap());

    let user = client(&sim).user_by_login("M.DURAND").await.unwrap();

    assert_eq!(user.and_then(|u| u.email).as_deref(), Some("marie.durand@example.com"));
}

// Change events, as a QALITA backend or bridge sends them.

/// Every message on the queue, taken and deleted, in the order received.
async fn drain(queue: &MemoryQueue) -> Vec<ReceivedMessage> {
    let mut all = Vec::new();
    loop {
        let batch = queue.receive(10, Duration::ZERO).await.unwrap();
        if batch.is_empty() {
            return all;
        }
        for message in batch {
            queue.delete(&message.receipt).await.unwrap();
            all.push(message);
        }
    }
}

fn memory_queue() -> Arc<MemoryQueue> {
    Arc::new(MemoryQueue::new(Arc::new(SystemClock)))
}

#[tokio::test]
async fn every_change_sends_its_event_to_the_queue_in_order() {
    let sim = QalitaSim::start(TOKEN).await;
    let before_connect = sim.insert_issue(issue_raised_on(1, 1));
    let queue = memory_queue();
    sim.emit_events_to(queue.clone());
    let client = client(&sim);

    let id = sim.insert_issue(issue_raised_on(2, 2));
    let update = QalitaIssueUpdate { status: Some("Resolved".into()), ..Default::default() };
    client.update_issue(issue_id(id), &update).await.unwrap();
    client.update_issue(issue_id(id), &update).await.unwrap();
    let by_api = client.create_comment(issue_id(id), "from GitLab").await.unwrap();
    let by_person = sim.add_comment(id, 12, "from a person");
    client.update_comment(issue_id(id), by_api.id, "edited").await.unwrap();
    sim.set_status(before_connect, "Muted");
    sim.settle_events().await;
    let received = drain(&queue).await;

    let envelopes: Vec<Envelope<Value>> = received.iter().map(|m| Envelope::parse(&m.body).unwrap()).collect();
    let kinds: Vec<_> = envelopes.iter().map(|e| e.kind.as_ref()).collect();
    assert_eq!(kinds, ["issue.created", "issue.updated", "comment.created", "comment.created", "issue.updated"]);
    let groups: Vec<_> = received.iter().map(|m| m.group_id.as_str()).collect();
    let group = format!("qalita:{id}");
    assert_eq!(groups, [&group, &group, &group, &group, &format!("qalita:{before_connect}")]);
    assert!(envelopes.iter().all(|e| e.source == Source::Qalita && e.delivery.is_none()));
    let keys: HashSet<_> = envelopes.iter().map(|e| e.key.to_string()).collect();
    assert_eq!(keys.len(), 5);
    assert!(keys.iter().all(|key| key.starts_with("qalita-evt-") && key.len() == "qalita-evt-".len() + 36), "{keys:?}");
    let events = sim.events();
    assert!(events.iter().all(|e| e.message.dedup_id == e.envelope()["key"] && e.outcome == EmitOutcome::Sent));
    assert_eq!(sim.events_sent(), 5);

    assert_eq!(envelopes[0].payload["issue"]["status"], "open");
    assert_eq!(envelopes[1].payload["issue"]["status"], "Resolved");
    assert_eq!(envelopes[1].payload["issue"]["updated_at"], sim.issue(id).unwrap()["updated_at"]);
    let comments = sim.comments(id);
    assert_eq!(
        envelopes[2].payload,
        json!({"issue_id": id, "comment": {
            "id": by_api.id, "issue_id": id, "author_id": sim.api_user_id(), "content": "from GitLab",
            "created_at": comments[0]["created_at"], "updated_at": comments[0]["created_at"],
        }})
    );
    assert_eq!(envelopes[3].payload["comment"], comments[1]);
    assert_eq!(envelopes[3].payload["comment"]["id"], by_person);
    assert_eq!(envelopes[4].payload["issue"], sim.issue(before_connect).unwrap());
    for envelope in &envelopes {
        assert!(envelope.received_at <= chrono::Utc::now());
        let issue = serde_json::from_value::<QalitaIssue>(envelope.payload["issue"].clone());
        assert!(envelope.kind.starts_with("comment.") || issue.is_ok(), "{issue:?}");
    }
}

#[tokio::test]
async fn an_event_has_the_fields_of_the_qalita_event_sample() {
    let sim = QalitaSim::start(TOKEN).await;
    let queue = memory_queue();
    sim.emit_events_to(queue.clone());
    let sample: Value = serde_json::from_str(include_str!("../../fixtures/qalita/event_issue_updated.json")).unwrap();
    let issue = sim.insert_issue(serde_json::from_str::<Value>(ISSUE_SAMPLE).unwrap());

    sim.update_issue_as(issue, 12, |issue| issue["status"] = "resolved".into());
    sim.settle_events().await;
    let received = drain(&queue).await;

    let sent: Value = serde_json::from_str(&received[1].body).unwrap();
    let names = |value: &Value| value.as_object().unwrap().keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(names(&sent), names(&sample));
    assert_eq!(names(&sent["payload"]["issue"]), names(&serde_json::from_str(ISSUE_SAMPLE).unwrap()));
    assert_eq!((&sent["v"], &sent["source"], &sent["kind"]), (&sample["v"], &sample["source"], &sample["kind"]));
    let issue = &sent["payload"]["issue"];
    assert_eq!(
        (&issue["status"], &issue["updated_by"], &issue["closed_by"]),
        (&json!("resolved"), &json!(12), &json!(12))
    );
    assert_eq!(issue["closed_at"], issue["updated_at"], "as in the sample, resolving closes the issue");
    assert!(time(&issue["updated_at"]) > time(&json!("2026-11-24T16:41:37Z")));
}

#[tokio::test]
async fn events_held_by_a_pause_are_sent_in_order_on_resume() {
    let sim = QalitaSim::start(TOKEN).await;
    let queue = memory_queue();
    sim.emit_events_to(queue.clone());
    let id = sim.insert_issue(issue_raised_on(2, 2));
    sim.settle_events().await;
    sim.pause_events();

    sim.set_title(id, "first");
    sim.set_assignee(id, Some(12));
    sim.settle_events().await;
    let while_paused = drain(&queue).await.len();
    sim.resume_events();
    sim.settle_events().await;
    let after = drain(&queue).await;

    assert_eq!(while_paused, 1, "only the event sent before the pause");
    let issues: Vec<Value> =
        after.iter().map(|m| Envelope::<Value>::parse(&m.body).unwrap().payload["issue"].clone()).collect();
    assert_eq!(
        issues.iter().map(|i| (i["title"].clone(), i["assignee"].clone())).collect::<Vec<_>>(),
        [(json!("first"), json!(null)), (json!("first"), json!(12))]
    );
    assert!(time(&issues[0]["updated_at"]) < time(&issues[1]["updated_at"]));
    assert_eq!(sim.events_sent(), 3);
}

#[tokio::test]
async fn a_send_that_fails_is_recorded_and_later_changes_still_go() {
    let sim = QalitaSim::start(TOKEN).await;
    let queue = memory_queue();
    sim.emit_events_to(queue.clone());
    let id = sim.insert_issue(issue_raised_on(2, 2));
    sim.settle_events().await;

    queue.set_down(true);
    sim.set_description(id, "while the queue is down");
    sim.settle_events().await;
    queue.set_down(false);
    sim.add_comment(id, 12, "after");
    sim.settle_events().await;

    let failed = sim.failed_events();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].kind, "issue.updated");
    assert_eq!(failed[0].envelope()["payload"]["issue"]["description"], "while the queue is down");
    let EmitOutcome::Failed(reason) = &failed[0].outcome else { unreachable!("filtered on failures") };
    assert!(reason.contains("unavailable"), "{reason}");
    let kinds: Vec<_> =
        drain(&queue).await.iter().map(|m| Envelope::<Value>::parse(&m.body).unwrap().kind.into_owned()).collect();
    assert_eq!(kinds, ["issue.created", "comment.created"]);
    assert_eq!(sim.events_sent(), 2);
}
