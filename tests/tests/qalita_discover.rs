//! Discovery on the simulator's two dialects: the OpenAPI document each serves, read by the client
//! as `qalita discover` reads it, gives a configuration that the document parser accepts unedited,
//! and with which the client reads, writes and comments on that dialect's simulator.

use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::adapters::qalita_http::{DocumentError, QalitaClient};
use qalita_gitlab_core::config::discover::{self, Discovery};
use qalita_gitlab_core::config::{Config, QalitaPaths};
use qalita_gitlab_core::domain::qalita::QalitaIssueUpdate;
use qalita_gitlab_core::domain::{QalitaIssueId, SecretString};
use qalita_gitlab_core::ports::QalitaApi;
use qalita_gitlab_sims::qalita::{Dialect, QalitaSim};
use serde_json::json;

const TOKEN: &str = "qalita-token-of-the-discovery-tests";

/// A simulator of `dialect` with a user and an issue assigned to nobody yet.
async fn sim(dialect: Dialect) -> QalitaSim {
    let sim = QalitaSim::start_with(TOKEN, dialect).await;
    sim.insert_user(json!({"id": 12, "login": "m.durand", "name": "Marie Durand", "email": "m@example.com"}));
    sim.insert_issue(json!({"id": 4821, "title": "Invalid Latitude", "status": "open", "source_id": 57}));
    sim
}

/// The dialect's document, as `discover` reads it: with a client of the built-in shape (the
/// document is open, whatever the API's own authentication).
async fn discovered(sim: &QalitaSim) -> Discovery {
    let client =
        QalitaClient::new(&sim.url(), SecretString::new(TOKEN), QalitaPaths::default(), &HttpSettings::default())
            .unwrap();
    let document = client.openapi_document("/openapi.json").await.unwrap();
    discover::discover(&document).unwrap()
}

/// The discovered sections under a document with the other required sections, unedited.
fn config(sim: &QalitaSim, discovery: &Discovery) -> Config {
    let text = format!(
        "[gitlab]\ndefault_project = \"data/quality\"\n[qalita]\nbase_url = \"{}\"\n{}",
        sim.url(),
        discovery.to_toml()
    );
    Config::from_document(&text, |_| None).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

fn client(config: &Config) -> QalitaClient {
    let qalita = &config.qalita;
    let token = SecretString::new(TOKEN);
    QalitaClient::with_shape(
        &qalita.base_url,
        token,
        qalita.paths.clone(),
        qalita.shape.clone(),
        &HttpSettings::default(),
    )
    .unwrap()
}

/// Every operation the sync uses, through the discovered configuration, on the simulator.
async fn round_trip(sim: &QalitaSim, client: &QalitaClient) {
    let id = QalitaIssueId::new(4821).unwrap();
    let listed = client.list_issues(0, 10).await.unwrap();
    assert_eq!(listed.iter().map(|i| i.id.get()).collect::<Vec<_>>(), [4821]);
    let update = QalitaIssueUpdate { status: Some("resolved".into()), assignee: Some(12), ..Default::default() };
    let updated = client.update_issue(id, &update).await.unwrap();
    assert_eq!((updated.status.as_str(), updated.assignee), ("resolved", Some(12)));
    assert_eq!(client.get_issue(id).await.unwrap().unwrap().assignee, Some(12));
    let created = client.create_comment(id, "[GitLab] mdurand: checked").await.unwrap();
    assert_eq!(created.content, "[GitLab] mdurand: checked");
    let edited = client.update_comment(id, created.id, "[GitLab] mdurand: checked twice").await.unwrap();
    assert_eq!(edited.map(|c| c.content), Some("[GitLab] mdurand: checked twice".to_owned()));
    let comments = client.list_comments(id).await.unwrap();
    assert_eq!(comments.iter().map(|c| c.content.as_str()).collect::<Vec<_>>(), ["[GitLab] mdurand: checked twice"]);
    assert_eq!(client.get_user(12).await.unwrap().and_then(|u| u.login), Some("m.durand".into()));
    assert_eq!(client.user_by_login("M.Durand").await.unwrap().map(|u| u.id), Some(12));
    assert_eq!(client.get_issue(QalitaIssueId::new(9999).unwrap()).await.unwrap(), None, "missing reads as absent");
    assert_eq!(sim.issue(4821).unwrap()["status"], "resolved");
}

/// A simulator of `dialect`, what discover finds in its document (every operation), and the
/// configuration that gives.
async fn discovered_in(dialect: Dialect) -> (QalitaSim, Discovery, Config) {
    let sim = sim(dialect).await;
    let discovery = discovered(&sim).await;
    assert_eq!(discovery.missing().count(), 0, "{}", discovery.to_toml());
    let config = config(&sim, &discovery);
    (sim, discovery, config)
}

#[tokio::test]
async fn the_first_dialects_document_gives_the_built_in_shape_and_the_client_works_with_it() {
    let (sim, discovery, config) = discovered_in(Dialect::First).await;
    assert_eq!(config.qalita.paths, QalitaPaths::default(), "the default paths, each proven");
    let shape = &config.qalita.shape;
    assert_eq!((shape.auth.header(), shape.auth.scheme()), ("Authorization", Some("Bearer")));
    assert_eq!(shape.not_found.statuses, [204]);
    assert_eq!((shape.paging.items.as_ref(), shape.paging.total.as_ref()), (None, None));
    let toml = discovery.to_toml();
    assert!(toml.contains("# security scheme HTTPBearer is HTTP bearer"), "{toml}");
    assert!(toml.contains("get source      GET /api/v2/sources/{source_id}"), "{toml}");
    round_trip(&sim, &client(&config)).await;
}

#[tokio::test]
async fn the_second_dialects_document_gives_its_whole_shape_and_the_client_works_with_it() {
    let (sim, _, config) = discovered_in(Dialect::Second).await;
    let paths = &config.qalita.paths;
    assert_eq!(paths.update_issue.to_string(), "PATCH /api/v2/issues/{id}");
    assert_eq!(paths.list_comments.to_string(), "GET /api/v2/issues/{id}/notes");
    assert_eq!(paths.create_comment.to_string(), "POST /api/v2/issues/{id}/notes");
    let update_comment = paths.update_comment.as_ref().map(ToString::to_string);
    assert_eq!(update_comment.as_deref(), Some("PATCH /api/v2/issues/{id}/notes/{comment_id}"));
    let shape = &config.qalita.shape;
    assert_eq!((shape.auth.header(), shape.auth.scheme()), ("X-API-Key", None));
    assert_eq!(shape.paging.parameters(), [("page_param", "page"), ("size_param", "size")]);
    assert_eq!(shape.paging.items.as_ref().map(|p| p.as_str()), Some("/data"));
    assert_eq!(shape.paging.total.as_ref().map(|p| p.as_str()), Some("/total"));
    assert_eq!(shape.paging.comment_items.as_ref().map(|p| p.as_str()), Some("/data"));
    assert_eq!(shape.fields.assignee.to_string(), "/assignee_id");
    assert_eq!(shape.fields.comment.content.to_string(), "/text");
    assert_eq!((shape.write.assignee.as_str(), shape.write.comment_text.as_str()), ("assignee_id", "text"));
    assert_eq!(shape.not_found.statuses, [404]);
    assert_eq!(shape.paging.comment_page_size, Some(100), "the notes are paged up to 100");
    round_trip(&sim, &client(&config)).await;
}

#[tokio::test]
async fn an_issue_with_more_comments_than_a_page_is_read_whole_on_the_second_dialect() {
    let (sim, _, config) = discovered_in(Dialect::Second).await;
    for n in 0..230 {
        sim.add_comment(4821, 12, &format!("note {n}"));
    }
    let comments = client(&config).list_comments(QalitaIssueId::new(4821).unwrap()).await.unwrap();
    let texts: Vec<String> = comments.into_iter().map(|c| c.content).collect();
    assert_eq!(texts, (0..230).map(|n| format!("note {n}")).collect::<Vec<_>>(), "every note once, oldest first");
    let pages: Vec<Option<String>> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v2/issues/4821/notes")
        .map(|r| r.query)
        .collect();
    assert_eq!(
        pages,
        [Some("page=1&size=100".to_owned()), Some("page=2&size=100".to_owned()), Some("page=3&size=100".to_owned())]
    );
    // Paging by the built-in shape would have read the first page only.
    let unpaged = QalitaClient::with_shape(
        &config.qalita.base_url,
        SecretString::new(TOKEN),
        config.qalita.paths.clone(),
        qalita_gitlab_core::config::QalitaShape {
            paging: qalita_gitlab_core::config::qalita_shape::QalitaPaging {
                comment_page_size: None,
                ..config.qalita.shape.paging.clone()
            },
            ..config.qalita.shape.clone()
        },
        &HttpSettings::default(),
    )
    .unwrap();
    assert_eq!(unpaged.list_comments(QalitaIssueId::new(4821).unwrap()).await.unwrap().len(), 50);
}

#[tokio::test]
async fn each_dialects_configured_routes_are_all_in_its_document_and_the_other_dialects_are_not() {
    let (first, second) = (sim(Dialect::First).await, sim(Dialect::Second).await);
    let http = HttpSettings::default();
    let fetch = |sim: &QalitaSim| {
        let client = QalitaClient::new(&sim.url(), SecretString::new(TOKEN), QalitaPaths::default(), &http).unwrap();
        async move { client.openapi_document("/openapi.json").await.unwrap() }
    };
    let (first_document, second_document) = (fetch(&first).await, fetch(&second).await);
    let second_paths = config(&second, &discovered(&second).await).qalita.paths;
    assert_eq!(discover::undocumented(&second_document, &second_paths).unwrap(), []);
    assert_eq!(discover::undocumented(&first_document, &QalitaPaths::default()).unwrap(), []);
    let wrong: Vec<&str> =
        discover::undocumented(&second_document, &QalitaPaths::default()).unwrap().iter().map(|m| m.setting).collect();
    assert_eq!(wrong, ["update_issue", "list_comments", "create_comment", "update_comment"]);
}

#[tokio::test]
async fn a_path_the_instance_does_not_serve_is_said_with_its_status() {
    let sim = sim(Dialect::Second).await;
    let client =
        QalitaClient::new(&sim.url(), SecretString::new(TOKEN), QalitaPaths::default(), &HttpSettings::default())
            .unwrap();
    let error = client.openapi_document("/docs/openapi.json").await.unwrap_err();
    assert_eq!(error, DocumentError::NotServed { url: format!("{}/docs/openapi.json", sim.url()), status: 404 });
    let error = client.openapi_document("openapi.json?x=1").await.unwrap_err();
    assert!(matches!(error, DocumentError::InvalidPath(_)), "{error}");
    // A route that needs the key, asked with the built-in bearer token: refused, and said so.
    let error = client.openapi_document("/api/v2/issues").await.unwrap_err();
    assert!(matches!(error, DocumentError::Refused { status: 401, .. }), "{error}");
    assert!(!error.to_string().contains(TOKEN));
}
