//! The QALITA client against instances shaped unlike the built-in assumptions, configured through
//! the document's `[qalita.*]` sections alone: an `X-API-Key` header, page/size paging with a
//! `{data, total}` wrapper, fields under other names, writes answered with an empty 204. Each test
//! runs its own scripted server on a free port, which records every request and answers by a rule.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::adapters::qalita_http::QalitaClient;
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::qalita::QalitaIssueUpdate;
use qalita_gitlab_core::domain::{QalitaIssueId, SecretString};
use qalita_gitlab_core::ports::{ApiError, QalitaApi, Service};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const TOKEN: &str = "qalita-api-key-7d1e90";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
    api_key: Option<String>,
    body: Option<Value>,
}

impl Seen {
    fn param(&self, name: &str) -> Option<u64> {
        self.query.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.parse().ok())
    }
}

type Rule = dyn Fn(&Seen) -> (u16, Option<Value>) + Send + Sync;

#[derive(Clone)]
struct Scripted {
    seen: Arc<Mutex<Vec<Seen>>>,
    rule: Arc<Rule>,
}

/// A server answering each request by `rule`: a status, and a JSON body or none.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(rule: impl Fn(&Seen) -> (u16, Option<Value>) + Send + Sync + 'static) -> Self {
        let scripted = Scripted { seen: Arc::default(), rule: Arc::new(rule) };
        let seen = scripted.seen.clone();
        let app = axum::Router::new().fallback(answer).with_state(scripted);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("the server's address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { url, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("the journal").clone()
    }

    /// A client of this server configured by the `[qalita.*]` sections `sections`.
    fn client(&self, sections: &str) -> QalitaClient {
        let document = format!("[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"{}\"\n{sections}", self.url);
        let config = Config::from_document(&document, |_| None).expect("a valid configuration");
        let settings = HttpSettings {
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(5),
            ca_bundle: None,
        };
        let (paths, shape) = (config.qalita.paths, config.qalita.shape);
        QalitaClient::with_shape(&config.qalita.base_url, SecretString::new(TOKEN), paths, shape, &settings)
            .expect("a client of the scripted server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(scripted): State<Scripted>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let query = parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query,
        authorization: header("authorization"),
        api_key: header("x-api-key"),
        body: serde_json::from_slice(&bytes).ok(),
    };
    let (status, body) = (scripted.rule)(&seen);
    scripted.seen.lock().expect("the journal").push(seen);
    let builder = Response::builder().status(StatusCode::from_u16(status).expect("a status"));
    match body {
        Some(body) => builder.header("content-type", "application/json").body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("an answer")
}

fn issue_id(raw: u64) -> QalitaIssueId {
    QalitaIssueId::new(raw).unwrap()
}

/// The second dialect's shape: an API key, page/size paging in `{data, total}`, the assignee as
/// `assignee_id`, comments' text as `text`, "not found" as 404 only.
const DIALECT: &str = r#"
[qalita.auth]
header = "X-API-Key"
[qalita.fields]
assignee = "/assignee_id"
[qalita.fields.comment]
content = "/text"
[qalita.write]
assignee = "assignee_id"
comment_text = "text"
[qalita.paging]
style = "page"
items = "/data"
total = "/total"
[qalita.not_found]
statuses = [404]
"#;

/// The issues 1..=`count`, paged by `page` (from 1) and `size` in `{data, total}`.
fn paged_issues(count: u64) -> impl Fn(&Seen) -> (u16, Option<Value>) + Send + Sync {
    move |seen| {
        let (page, size) = (seen.param("page").unwrap_or(1), seen.param("size").unwrap_or(50));
        let data: Vec<Value> = ((page - 1) * size + 1..=count)
            .take(size as usize)
            .map(|id| json!({"id": id, "title": format!("rule {id}"), "assignee_id": id * 10}))
            .collect();
        (200, Some(json!({"data": data, "total": count})))
    }
}

#[tokio::test]
async fn an_api_key_header_without_a_scheme_carries_the_bare_token_and_nothing_else() {
    let server = Server::start(|_| (200, Some(json!({"id": 7, "title": "Nulls"})))).await;

    let issue = server.client(DIALECT).get_issue(issue_id(7)).await.unwrap().unwrap();

    assert_eq!(issue.title, "Nulls");
    let seen = &server.seen()[0];
    assert_eq!((seen.api_key.as_deref(), seen.authorization.as_deref()), (Some(TOKEN), None));
}

#[tokio::test]
async fn the_built_in_shape_sends_a_bearer_token() {
    let server = Server::start(|_| (200, Some(json!({"id": 7})))).await;

    server.client("").get_issue(issue_id(7)).await.unwrap();

    let seen = &server.seen()[0];
    assert_eq!((seen.authorization.clone(), seen.api_key.clone()), (Some(format!("Bearer {TOKEN}")), None));
}

#[tokio::test]
async fn a_refused_api_key_never_shows_in_the_error_or_the_client() {
    let server = Server::start(|seen| (401, Some(json!({"detail": format!("invalid key {:?}", seen.api_key)})))).await;
    let client = server.client(DIALECT);

    let error = client.get_issue(issue_id(7)).await.unwrap_err();

    assert!(matches!(error, ApiError::Permanent { status: 401, .. }), "{error:?}");
    for shown in [error.to_string(), format!("{error:?}"), format!("{client:?}")] {
        assert!(!shown.contains(TOKEN), "{shown}");
    }
}

#[tokio::test]
async fn pages_are_asked_by_number_and_size_and_read_from_the_data_wrapper() {
    let server = Server::start(paged_issues(5)).await;
    let client = server.client(DIALECT);

    let mut pages = Vec::new();
    for offset in [0, 2, 4] {
        let page = client.list_issues(offset, 2).await.unwrap();
        pages.push(page.iter().map(|i| (i.id.get(), i.assignee)).collect::<Vec<_>>());
    }

    assert_eq!(pages, [vec![(1, Some(10)), (2, Some(20))], vec![(3, Some(30)), (4, Some(40))], vec![(5, Some(50))]]);
    let asked: Vec<_> = server.seen().iter().map(|s| (s.param("page"), s.param("size"))).collect();
    assert_eq!(asked, [(Some(1), Some(2)), (Some(2), Some(2)), (Some(3), Some(2))]);
    assert!(server.seen().iter().all(|s| s.param("offset").is_none() && s.param("limit").is_none()));
}

#[tokio::test]
async fn an_offset_inside_a_page_reads_two_pages_and_keeps_the_items_asked_for() {
    let server = Server::start(paged_issues(9)).await;

    let page = server.client(DIALECT).list_issues(3, 2).await.unwrap();

    assert_eq!(page.iter().map(|i| i.id.get()).collect::<Vec<_>>(), [4, 5]);
    let asked: Vec<_> = server.seen().iter().map(|s| s.param("page")).collect();
    assert_eq!(asked, [Some(2), Some(3)]);
}

#[tokio::test]
async fn a_short_page_that_the_total_contradicts_is_refused_rather_than_ending_the_list() {
    // The instance caps pages at 2 whatever the size asked.
    let capped = paged_issues(5);
    let server = Server::start(move |seen| {
        let mut two = seen.clone();
        two.query.retain(|(name, _)| name != "size");
        two.query.push(("size".into(), "2".into()));
        capped(&two)
    })
    .await;

    let error = server.client(DIALECT).list_issues(0, 3).await.unwrap_err();

    let ApiError::Permanent { message, .. } = error else { panic!("expected a permanent error, got {error:?}") };
    assert!(message.contains("holds 2 of the 3 items asked from 0, although its total is 5"), "{message}");
    assert!(message.contains("lower sync.poll_page_size"), "{message}");
}

#[tokio::test]
async fn a_list_nested_under_a_pointer_reads_assignees_given_as_objects() {
    let server = Server::start(|_| {
        let items = json!([{"id": 1, "owner": {"id": 12}}, {"id": 2, "owner": "13"}, {"id": 3}]);
        (200, Some(json!({"results": {"items": items}})))
    })
    .await;
    let client = server.client("[qalita.fields]\nassignee = \"/owner\"\n[qalita.paging]\nitems = \"/results/items\"");

    let issues = client.list_issues(0, 10).await.unwrap();

    assert_eq!(issues.iter().map(|i| i.assignee).collect::<Vec<_>>(), [Some(12), Some(13), None]);
}

/// An instance whose writes answer an empty 204: `PATCH` changes the issue, `GET` reads it.
fn empty_writes(issue: Arc<Mutex<Value>>) -> impl Fn(&Seen) -> (u16, Option<Value>) + Send + Sync {
    move |seen| match (seen.method.as_str(), seen.path.as_str()) {
        ("PUT", "/api/v2/issues/7") => {
            let mut issue = issue.lock().unwrap();
            for (key, value) in seen.body.as_ref().and_then(Value::as_object).into_iter().flatten() {
                issue[key] = value.clone();
            }
            (204, None)
        }
        ("GET", "/api/v2/issues/7") => (200, Some(issue.lock().unwrap().clone())),
        _ => (404, Some(json!({"detail": "Not Found"}))),
    }
}

#[tokio::test]
async fn an_update_answered_with_an_empty_204_returns_the_issue_read_again() {
    let issue = Arc::new(Mutex::new(json!({"id": 7, "status": "open", "assignee_id": null})));
    let server = Server::start(empty_writes(issue.clone())).await;
    let update = QalitaIssueUpdate { status: Some("resolved".into()), assignee: Some(12), ..Default::default() };

    let after = server.client(DIALECT).update_issue(issue_id(7), &update).await.unwrap();

    assert_eq!((after.status.as_str(), after.assignee), ("resolved", Some(12)));
    let seen = server.seen();
    assert_eq!(seen[0].body, Some(json!({"status": "resolved", "assignee_id": 12})), "the configured keys");
    assert_eq!(seen.iter().map(|s| s.method.as_str()).collect::<Vec<_>>(), ["PUT", "GET"]);
}

#[tokio::test]
async fn an_update_is_not_found_only_when_the_read_after_it_says_so() {
    let server = Server::start(|seen| match seen.method.as_str() {
        "PUT" => (204, None),
        _ => (404, Some(json!({"detail": "Issue not found"}))),
    })
    .await;

    let update = QalitaIssueUpdate { status: Some("resolved".into()), ..Default::default() };
    let error = server.client(DIALECT).update_issue(issue_id(9), &update).await.unwrap_err();

    assert!(matches!(error, ApiError::NotFound { service: Service::Qalita, .. }), "{error:?}");
    assert_eq!(server.seen().iter().map(|s| s.method.as_str()).collect::<Vec<_>>(), ["PUT", "GET"]);
}

#[tokio::test]
async fn a_404_to_the_update_of_an_issue_that_reads_is_a_wrong_path_not_a_missing_issue() {
    let server = Server::start(|seen| match seen.method.as_str() {
        "PUT" => (404, Some(json!({"detail": "Not Found"}))),
        _ => (200, Some(json!({"id": 7, "status": "open"}))),
    })
    .await;

    let update = QalitaIssueUpdate { status: Some("resolved".into()), ..Default::default() };
    let error = server.client("").update_issue(issue_id(7), &update).await.unwrap_err();

    let ApiError::Permanent { status: 404, message, .. } = error else {
        panic!("expected a permanent 404, got {error:?}")
    };
    assert!(message.contains("PUT /api/v2/issues/7 answered 404 although the issue reads"), "{message}");
}

#[tokio::test]
async fn a_comment_created_with_an_empty_answer_is_found_among_the_issues_comments() {
    let server = Server::start(|seen| match seen.method.as_str() {
        "POST" => (204, None),
        _ => (200, Some(json!([{"id": 3, "text": "hello"}, {"id": 4, "text": "hello"}, {"id": 5, "text": "other"}]))),
    })
    .await;

    let comment = server.client(DIALECT).create_comment(issue_id(7), "hello").await.unwrap();

    assert_eq!((comment.id, comment.content.as_str()), (4, "hello"));
    assert_eq!(server.seen()[0].body, Some(json!({"text": "hello"})), "the configured text key");
}

#[tokio::test]
async fn a_comment_edit_answered_with_an_empty_204_the_instance_gives_on_success_is_read_back() {
    let server = Server::start(|seen| match seen.method.as_str() {
        "PUT" => (204, None),
        _ => (200, Some(json!([{"id": 3, "text": "edited"}]))),
    })
    .await;
    let client = server.client(DIALECT);

    let edited = client.update_comment(issue_id(7), 3, "edited").await.unwrap();
    let missing = client.update_comment(issue_id(7), 4, "edited").await.unwrap_err();

    assert_eq!(edited.map(|c| (c.id, c.content)), Some((3, "edited".to_owned())));
    assert!(matches!(missing, ApiError::NotFound { .. }), "{missing:?}");
    assert_eq!(server.seen()[0].body, Some(json!({"text": "edited"})), "the configured text key");
}

#[tokio::test]
async fn a_204_read_that_the_configuration_does_not_count_as_not_found_is_an_error() {
    let server = Server::start(|_| (204, None)).await;

    let error = server.client(DIALECT).get_issue(issue_id(7)).await.unwrap_err();

    let ApiError::Permanent { status: 204, message, .. } = error else {
        panic!("expected a permanent 204, got {error:?}")
    };
    assert!(message.contains("qalita.not_found.statuses does not count"), "{message}");
    assert_eq!(server.client("").get_issue(issue_id(7)).await, Ok(None), "counted by default");
}

#[tokio::test]
async fn a_404_read_that_the_configuration_does_not_count_as_not_found_is_an_error() {
    let server = Server::start(|_| (404, Some(json!({"detail": "Not Found"})))).await;

    let error = server.client("[qalita.not_found]\nstatuses = [204]").get_issue(issue_id(7)).await.unwrap_err();

    assert!(matches!(error, ApiError::Permanent { status: 404, .. }), "{error:?}");
}

#[tokio::test]
async fn a_login_is_searched_page_by_page_and_the_total_ends_the_search() {
    let server = Server::start(|seen| {
        let page = seen.param("page").unwrap_or(1);
        let users: Vec<Value> = match page {
            1 => vec![json!({"id": 1, "username": "a"}), json!({"id": 2, "username": "b"})],
            _ => vec![json!({"id": 3, "username": "c"}), json!({"id": 4, "username": "d"})],
        };
        (200, Some(json!({"data": users, "total": 4})))
    })
    .await;
    let dialect = DIALECT.replace("total = \"/total\"", "total = \"/total\"\nuser_page_size = 2");
    let client = server.client(&format!("{dialect}[qalita.fields.user]\nlogin = \"/username\""));

    let found = client.user_by_login("D").await.unwrap();
    let missing = client.user_by_login("zed").await.unwrap();

    assert_eq!(found.map(|u| u.id), Some(4));
    assert_eq!(missing, None);
    let asked: Vec<_> = server.seen().iter().map(|s| (s.param("page"), s.param("size"))).collect();
    assert_eq!(asked, [(Some(1), Some(2)), (Some(2), Some(2)), (Some(1), Some(2)), (Some(2), Some(2))]);
}
