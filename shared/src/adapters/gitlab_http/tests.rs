//! The GitLab client without a server: URLs, paths, request bodies, headers, answer decoding.

use chrono::{TimeZone, Utc};
use reqwest::Request;

use super::*;
use crate::domain::gitlab::StateEvent;

const TOKEN: &str = "test-token-unit-test-secret";

fn client(base: &str) -> GitlabClient {
    GitlabClient::new(base, SecretString::new(TOKEN), &HttpSettings::default()).expect("a valid client")
}

fn project(text: &str) -> GitlabProjectRef {
    GitlabProjectRef::parse(text).expect("a valid project")
}

fn iid(raw: u64) -> Iid {
    Iid::new(raw).expect("a valid iid")
}

fn built(request: RequestBuilder) -> Request {
    request.build().expect("a request that builds")
}

fn json_body(request: &Request) -> serde_json::Value {
    let bytes = request.body().and_then(|body| body.as_bytes()).expect("a buffered body");
    serde_json::from_slice(bytes).expect("a JSON body")
}

fn with_uuid(uuid: &str) -> CallContext {
    CallContext { gitlab_event_uuid: Some(uuid.into()), ..CallContext::default() }
}

#[test]
fn the_api_root_is_the_instance_url_plus_api_v4_even_under_a_path() {
    let cases = [
        ("https://gitlab.com", "https://gitlab.com/api/v4"),
        ("https://gitlab.com/", "https://gitlab.com/api/v4"),
        ("  https://gitlab.example.com/gitlab/ ", "https://gitlab.example.com/gitlab/api/v4"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v4"),
        ("https://gitlab.example.com/api/v4/", "https://gitlab.example.com/api/v4"),
    ];
    for (base, root) in cases {
        assert_eq!(client(base).api_root(), root, "{base}");
    }
}

#[test]
fn an_unusable_instance_url_is_refused_with_the_reason() {
    let cases = [
        ("gitlab.com", "not an absolute URL"),
        ("ftp://gitlab.com", "scheme"),
        ("https://gitlab.com/?private_token=x", "query"),
        ("https://gitlab.com/#top", "fragment"),
        ("", "not an absolute URL"),
    ];
    for (base, reason) in cases {
        let error = GitlabClient::new(base, SecretString::new(TOKEN), &HttpSettings::default()).unwrap_err();
        assert!(error.to_string().contains(reason), "{base}: {error}");
    }
}

#[test]
fn credentials_in_the_instance_url_are_refused_and_not_repeated() {
    let error =
        GitlabClient::new("https://oauth2:hunter2@gitlab.com", SecretString::new(TOKEN), &HttpSettings::default())
            .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(text.contains("credentials"), "{text}");
    assert!(!text.contains("hunter2") && !text.contains("oauth2"), "{text}");
}

#[test]
fn an_empty_or_unsendable_token_is_refused_without_showing_it() {
    for token in ["", "   ", "test-token-with\nnewline"] {
        let error =
            GitlabClient::new("https://gitlab.com", SecretString::new(token), &HttpSettings::default()).unwrap_err();
        assert!(matches!(error, GitlabClientError::InvalidToken(_)), "{token:?}");
        assert!(!error.to_string().contains("glpat"), "{error}");
    }
}

#[test]
fn the_token_never_shows_in_debug_output() {
    let client = client("https://gitlab.com");
    let request = built(client.request(Method::GET, "/user"));
    assert!(!format!("{client:?}").contains(TOKEN));
    assert!(!format!("{request:?}").contains(TOKEN));
    let header = request.headers().get("PRIVATE-TOKEN").expect("the token header");
    assert!(header.is_sensitive());
    assert_eq!(header.to_str().unwrap(), TOKEN);
}

#[test]
fn a_project_path_is_one_url_encoded_segment_and_an_id_is_plain() {
    let client = client("https://gitlab.example.com/gitlab");
    let by_path = built(client.request(Method::GET, &wire::issue_path(&project("group/sub.g/my-project"), iid(7))));
    assert_eq!(
        by_path.url().as_str(),
        "https://gitlab.example.com/gitlab/api/v4/projects/group%2Fsub.g%2Fmy-project/issues/7"
    );
    let by_id = built(client.request(Method::GET, &wire::notes_path(&project("42"), iid(3))));
    assert_eq!(by_id.url().as_str(), "https://gitlab.example.com/gitlab/api/v4/projects/42/issues/3/notes");
}

#[test]
fn a_new_issue_sends_labels_comma_joined_and_the_event_uuid() {
    let issue = NewIssue {
        title: "[QALITA] orders: freshness".into(),
        description: "body <!-- qalita-issue:12 -->".into(),
        labels: vec!["qalita".into(), "severity:high".into()],
        assignee_ids: vec![5],
        confidential: true,
    };
    let request = built(client("https://gitlab.com").create_issue_request(&project("1"), &issue, &with_uuid("u-1")));
    assert_eq!(request.method(), Method::POST);
    assert_eq!(request.url().path(), "/api/v4/projects/1/issues");
    assert_eq!(request.headers()["x-gitlab-event-uuid"], "u-1");
    assert_eq!(
        json_body(&request),
        serde_json::json!({
            "title": "[QALITA] orders: freshness",
            "description": "body <!-- qalita-issue:12 -->",
            "labels": "qalita,severity:high",
            "assignee_ids": [5],
            "confidential": true
        })
    );
}

#[test]
fn a_new_issue_without_labels_or_assignees_leaves_them_out() {
    let issue = NewIssue { title: "t".into(), ..NewIssue::default() };
    let request =
        built(client("https://gitlab.com").create_issue_request(&project("1"), &issue, &CallContext::default()));
    assert!(request.headers().get("x-gitlab-event-uuid").is_none());
    assert_eq!(json_body(&request), serde_json::json!({"title": "t", "description": "", "confidential": false}));
}

#[test]
fn an_update_sends_only_the_fields_it_sets() {
    let update = IssueUpdate {
        add_labels: vec!["a".into(), "b".into()],
        remove_labels: vec!["c".into()],
        state_event: Some(StateEvent::Reopen),
        ..IssueUpdate::default()
    };
    let request =
        built(client("https://gitlab.com").update_issue_request(&project("g/p"), iid(9), &update, &with_uuid("u-2")));
    assert_eq!(request.method(), Method::PUT);
    assert_eq!(request.url().path(), "/api/v4/projects/g%2Fp/issues/9");
    assert_eq!(request.headers()["x-gitlab-event-uuid"], "u-2");
    assert_eq!(
        json_body(&request),
        serde_json::json!({"add_labels": "a,b", "remove_labels": "c", "state_event": "reopen"})
    );
}

#[test]
fn an_update_of_every_field_names_each_once() {
    let update = IssueUpdate {
        title: Some("T".into()),
        description: Some("D".into()),
        state_event: Some(StateEvent::Close),
        assignee_ids: Some(vec![3, 4]),
        confidential: Some(false),
        ..IssueUpdate::default()
    };
    let request = built(client("https://gitlab.com").update_issue_request(
        &project("1"),
        iid(1),
        &update,
        &CallContext::default(),
    ));
    assert_eq!(
        json_body(&request),
        serde_json::json!({"title": "T", "description": "D", "state_event": "close", "assignee_ids": [3, 4], "confidential": false})
    );
}

#[test]
fn unassigning_everybody_sends_gitlabs_documented_zero() {
    let update = IssueUpdate { assignee_ids: Some(vec![]), ..IssueUpdate::default() };
    let request = built(client("https://gitlab.com").update_issue_request(
        &project("1"),
        iid(1),
        &update,
        &CallContext::default(),
    ));
    assert_eq!(json_body(&request), serde_json::json!({"assignee_ids": [0]}));
}

#[test]
fn an_issue_list_asks_oldest_update_first_with_the_filters_encoded() {
    let query = IssueQuery {
        updated_after: Some(Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap()),
        search: Some("<!-- qalita-issue:12 -->".into()),
        search_in_description: true,
        page: 2,
        per_page: 50,
    };
    let request = built(client("https://gitlab.com").list_issues_request(&project("g/p"), &query));
    assert_eq!(request.method(), Method::GET);
    assert!(request.headers().get("x-gitlab-event-uuid").is_none());
    let pairs: Vec<(String, String)> = request.url().query_pairs().into_owned().collect();
    let expected = [
        ("order_by", "updated_at"),
        ("sort", "asc"),
        ("updated_after", "2025-03-04T05:06:07.000Z"),
        ("search", "<!-- qalita-issue:12 -->"),
        ("in", "description"),
        ("page", "2"),
        ("per_page", "50"),
    ];
    assert_eq!(pairs, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    assert!(request.url().query().unwrap().contains("search=%3C%21--+qalita-issue%3A12+--%3E"), "{:?}", request.url());
}

#[test]
fn a_list_without_filters_pages_within_gitlabs_bounds() {
    let request = built(client("https://gitlab.com").list_issues_request(&project("1"), &IssueQuery::default()));
    assert_eq!(request.url().query(), Some("order_by=updated_at&sort=asc&page=1&per_page=20"));
    let query = IssueQuery { search: Some("x".into()), per_page: 500, ..IssueQuery::default() };
    let request = built(client("https://gitlab.com").list_issues_request(&project("1"), &query));
    assert_eq!(request.url().query(), Some("order_by=updated_at&sort=asc&search=x&page=1&per_page=100"));
}

#[test]
fn notes_are_listed_oldest_first_and_created_with_the_internal_flag() {
    let client = client("https://gitlab.com");
    let list = built(client.list_notes_request(&project("1"), iid(2), 3, 10));
    assert_eq!(list.url().query(), Some("sort=asc&order_by=created_at&page=3&per_page=10"));
    let create =
        built(client.create_note_request(&project("1"), iid(2), "**[QALITA]** ana: hi", true, &with_uuid("u-3")));
    assert_eq!(create.url().path(), "/api/v4/projects/1/issues/2/notes");
    assert_eq!(create.headers()["x-gitlab-event-uuid"], "u-3");
    assert_eq!(json_body(&create), serde_json::json!({"body": "**[QALITA]** ana: hi", "internal": true}));
}

#[test]
fn a_username_is_looked_up_as_an_encoded_query() {
    let request = built(client("https://gitlab.com").user_by_username_request("ana.b+c"));
    assert_eq!(request.url().path(), "/api/v4/users");
    assert_eq!(request.url().query(), Some("username=ana.b%2Bc"));
}

#[test]
fn an_unsendable_event_uuid_is_left_out_rather_than_failing_the_write() {
    let request = built(client("https://gitlab.com").write(Method::POST, "/x", &with_uuid("bad\nuuid")));
    assert!(request.headers().get("x-gitlab-event-uuid").is_none());
}

#[test]
fn the_next_page_comes_from_x_next_page_and_is_none_when_empty() {
    let mut headers = reqwest::header::HeaderMap::new();
    assert_eq!(next_page(&headers), None);
    headers.insert("x-next-page", HeaderValue::from_static(""));
    assert_eq!(next_page(&headers), None);
    headers.insert("x-next-page", HeaderValue::from_static("3"));
    assert_eq!(next_page(&headers), Some(3));
}

fn answer(status: u16, body: &str) -> Response {
    Response::from(http::Response::builder().status(status).body(body.to_owned()).expect("a response"))
}

#[tokio::test]
async fn a_404_of_an_issue_is_not_found_but_a_404_of_its_project_is_permanent() {
    let issue = issue_what(&project("g/p"), iid(4));
    let missing_issue = classify(answer(404, r#"{"message":"404 Issue Not Found"}"#), issue.clone(), "").await;
    assert_eq!(missing_issue, ApiError::NotFound { service: Service::Gitlab, what: "issue 4 of g/p".into() });
    let missing_project = classify(answer(404, r#"{"message":"404 Project Not Found"}"#), issue, "").await;
    assert_eq!(
        missing_project,
        ApiError::Permanent { service: Service::Gitlab, status: 404, message: "404 Project Not Found".into() }
    );
    let on_create = classify(answer(404, r#"{"message":"404 Not found"}"#), None, "").await;
    assert!(matches!(on_create, ApiError::Permanent { status: 404, .. }), "{on_create:?}");
}

#[tokio::test]
async fn an_answer_of_another_shape_is_an_error_that_says_where() {
    let login_page = read::<GitlabIssue>(answer(200, "<html>Sign in</html>"), "an issue").await.unwrap_err();
    assert!(
        matches!(&login_page, ApiError::Permanent { status: 200, message, .. } if message.contains("reading an issue"))
    );
    let body = r#"{"id": 1, "iid": 2, "project_id": 3, "title": "t", "state": "opened", "web_url": "u",
        "updated_at": "2025-01-01T00:00:00.000Z", "assignees": [{"id": "x", "username": "a"}]}"#;
    let error = read::<GitlabIssue>(answer(200, body), "an issue").await.unwrap_err();
    assert!(error.to_string().contains("at `assignees[0].id`"), "{error}");
    assert!(!error.is_transient());
}
