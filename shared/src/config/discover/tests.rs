//! Discovery on hand-made documents: both auth kinds, both paging styles, wrappers, `$ref`s at every
//! level, missing operations, and documents that are not OpenAPI 3. (The simulator's two dialects
//! are discovered end to end in `tests/tests/qalita_discover.rs`.)

use serde_json::{Value, json};

use super::*;
use crate::config::Config;
use crate::config::qalita_paths::Endpoint;

/// The parts of a hand-made document that vary.
struct Api {
    security: Value,
    paging: [(&'static str, Value); 2],
    /// The issue list's answer: `None` for a bare array, else the wrapper's member and total.
    wrapper: Option<(&'static str, Option<&'static str>)>,
    update: &'static str,
    assignee: &'static str,
    comments: &'static str,
    text: &'static str,
    missing: u16,
    with_comments: bool,
    with_users: bool,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            security: json!({"HTTPBearer": {"type": "http", "scheme": "bearer"}}),
            paging: [("offset", json!({"type": "integer", "minimum": 0})), ("limit", json!({"type": "integer"}))],
            wrapper: None,
            update: "put",
            assignee: "assignee",
            comments: "comments",
            text: "content",
            missing: 204,
            with_comments: true,
            with_users: true,
        }
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn list_of(api: &Api, name: &str) -> Value {
    let array = json!({"type": "array", "items": reference(name)});
    match api.wrapper {
        None => array,
        Some((items, total)) => {
            let mut properties = json!({items: array});
            if let Some(total) = total {
                properties[total] = json!({"type": "integer"});
            }
            json!({"type": "object", "properties": properties})
        }
    }
}

fn answer(schema: Value) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
}

/// A FastAPI-like document under `/api/v3`, its responses, parameters and bodies behind `$ref`s.
fn document(api: &Api) -> Value {
    let scheme = api.security.as_object().unwrap().keys().next().unwrap().clone();
    let missing = api.missing.to_string();
    let paging: Vec<Value> = api
        .paging
        .iter()
        .map(|(name, schema)| json!({"name": name, "in": "query", "required": false, "schema": schema}))
        .collect();
    let id = |name: &str| json!({"name": name, "in": "path", "required": true, "schema": {"type": "integer"}});
    let mut paths = json!({
        "/api/v3/issues": {"get": {"operationId": "list_issues", "security": [{&scheme: []}], "parameters": paging,
            "responses": {"200": answer(list_of(api, "Issue"))}}},
        "/api/v3/issues/{issue_id}": {
            "parameters": [{"$ref": "#/components/parameters/IssueId"}],
            "get": {"operationId": "get_issue", "responses": {"200": {"$ref": "#/components/responses/OneIssue"}, &missing: {"description": "Not Found"}}},
            api.update: {"operationId": "update_issue", "requestBody": {"$ref": "#/components/requestBodies/IssueUpdate"},
                "responses": {"200": {"$ref": "#/components/responses/OneIssue"}, &missing: {"description": "Not Found"}}},
        },
        "/api/v3/sources/{source_id}": {"get": {"parameters": [id("source_id")], "responses": {"200": answer(reference("Source"))}}},
        "/health": {"get": {"responses": {"200": answer(json!({"type": "object", "properties": {"status": {"type": "string"}}}))}}},
    });
    if api.with_comments {
        let comments = format!("/api/v3/issues/{{issue_id}}/{}", api.comments);
        let body = json!({"required": true, "content": {"application/json": {"schema": reference("CommentBody")}}});
        paths[&comments] = json!({
            "get": {"parameters": [id("issue_id")], "responses": {"200": answer(list_of(api, "Comment")), &missing: {"description": "Not Found"}}},
            "post": {"parameters": [id("issue_id")], "requestBody": body, "responses": {"201": answer(reference("Comment"))}},
        });
        paths[format!("{comments}/{{comment_id}}")] = json!({
            api.update: {"parameters": [id("issue_id"), id("comment_id")], "requestBody": body, "responses": {"200": answer(reference("Comment"))}},
        });
    }
    if api.with_users {
        paths["/api/v3/users"] =
            json!({"get": {"parameters": paging, "responses": {"200": answer(list_of(api, "User"))}}});
        paths["/api/v3/users/{user_id}"] = json!({"get": {"parameters": [id("user_id")], "responses": {"200": answer(reference("User")), &missing: {"description": "Not Found"}}}});
    }
    let string = json!({"type": "string"});
    let integer = json!({"anyOf": [{"type": "integer"}, {"type": "null"}]});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Hand-made QALITA", "version": "9"},
        "paths": paths,
        "components": {
            "securitySchemes": api.security,
            "parameters": {"IssueId": id("issue_id")},
            "responses": {"OneIssue": answer(reference("Issue"))},
            "requestBodies": {"IssueUpdate": {"content": {"application/json": {"schema": reference("IssueUpdate")}}}},
            "schemas": {
                "Base": {"properties": {"id": {"type": "integer"}, "created_at": string, "updated_at": string}},
                "Issue": {"allOf": [reference("Base"), {"properties": {
                    "title": string, "status": string, "description": string, api.assignee: integer, "source_id": integer}}]},
                "IssueUpdate": {"properties": {"status": string, "title": string, "description": string, api.assignee: integer}},
                "Comment": {"properties": {"id": {"type": "integer"}, "issue_id": {"type": "integer"}, "author_id": {"type": "integer"},
                    api.text: string, "created_at": string}},
                "CommentBody": {"properties": {api.text: string}, "required": [api.text]},
                "User": {"properties": {"id": {"type": "integer"}, "username": string, "email": string}},
                "Source": {"properties": {"id": {"type": "integer"}, "name": string}},
            },
        },
    })
}

fn setting<'a>(discovery: &'a Discovery, section: &str, key: &str) -> Option<&'a toml::Value> {
    let section = discovery.sections.iter().find(|s| s.name == section)?;
    section.settings.iter().find(|s| s.key == key).map(|s| &s.value)
}

fn text(discovery: &Discovery, section: &str, key: &str) -> Option<String> {
    setting(discovery, section, key).map(|value| match value {
        toml::Value::String(text) => text.clone(),
        other => other.to_string(),
    })
}

/// The configuration a document with the discovered sections gives.
fn accepted(discovery: &Discovery) -> Config {
    let document = format!(
        "[gitlab]\ndefault_project = \"data/quality\"\n[qalita]\nbase_url = \"https://qalita.example.com\"\n{}",
        discovery.to_toml()
    );
    Config::from_document(&document, |_| None).unwrap_or_else(|e| panic!("{e}\n{document}"))
}

#[test]
fn a_bearer_offset_api_with_bare_lists_and_204_is_discovered_and_accepted() {
    let discovery = discover(&document(&Api::default())).unwrap();
    assert_eq!(discovery.missing().count(), 0, "{discovery:#?}");
    assert_eq!(text(&discovery, "qalita.paths", "list_issues").as_deref(), Some("GET /api/v3/issues"));
    assert_eq!(text(&discovery, "qalita.paths", "update_issue").as_deref(), Some("PUT /api/v3/issues/{id}"));
    assert_eq!(
        text(&discovery, "qalita.paths", "update_comment").as_deref(),
        Some("PUT /api/v3/issues/{id}/comments/{comment_id}")
    );
    assert_eq!(text(&discovery, "qalita.auth", "header").as_deref(), Some("Authorization"));
    assert_eq!(text(&discovery, "qalita.auth", "scheme").as_deref(), Some("Bearer"));
    assert_eq!(text(&discovery, "qalita.paging", "style").as_deref(), Some("offset"));
    assert_eq!(setting(&discovery, "qalita.paging", "items"), None, "a bare array is the default");
    assert_eq!(text(&discovery, "qalita.not_found", "statuses").as_deref(), Some("[204]"));
    assert_eq!(text(&discovery, "qalita.fields.user", "login").as_deref(), Some("/username"));
    assert_eq!(setting(&discovery, "qalita.fields", "assignee"), None, "the default name holds");

    let config = accepted(&discovery);
    assert_eq!(config.qalita.paths.get_issue.to_string(), "GET /api/v3/issues/{id}");
    assert_eq!(config.qalita.shape.not_found.statuses, [204]);
    let toml = discovery.to_toml();
    assert!(toml.contains("# list issues: GET /api/v3/issues (operation list_issues)\nlist_issues = "), "{toml}");
    assert!(toml.contains("get source      GET /api/v3/sources/{source_id}"), "{toml}");
    assert_eq!(text(&discovery, "qalita.context.dataset", "path").as_deref(), Some("/api/v3/sources/{source_id}"));
    assert_eq!(text(&discovery, "qalita.context.dataset", "pointer").as_deref(), Some("/name"));
    let dataset = config.qalita.context.lookups.iter().find(|l| l.field.as_str() == "dataset").expect("the lookup");
    assert_eq!(dataset.path.as_str(), "/api/v3/sources/{source_id}");
}

#[test]
fn an_api_key_page_api_with_wrappers_patch_and_404_is_discovered_and_accepted() {
    let api = Api {
        security: json!({"APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Token"}}),
        paging: [
            ("page_number", json!({"type": "integer", "minimum": 0, "default": 0})),
            ("per_page", json!({"type": "integer", "maximum": 50})),
        ],
        wrapper: Some(("results", Some("count"))),
        update: "patch",
        assignee: "assigned_to",
        comments: "notes",
        text: "message",
        missing: 404,
        ..Api::default()
    };
    let discovery = discover(&document(&api)).unwrap();
    assert_eq!(text(&discovery, "qalita.auth", "header").as_deref(), Some("X-Token"));
    assert_eq!(text(&discovery, "qalita.auth", "scheme").as_deref(), Some(""));
    assert_eq!(text(&discovery, "qalita.paging", "style").as_deref(), Some("page"));
    assert_eq!(text(&discovery, "qalita.paging", "page_param").as_deref(), Some("page_number"));
    assert_eq!(text(&discovery, "qalita.paging", "size_param").as_deref(), Some("per_page"));
    assert_eq!(text(&discovery, "qalita.paging", "first_page").as_deref(), Some("0"));
    assert_eq!(text(&discovery, "qalita.paging", "items").as_deref(), Some("/results"));
    assert_eq!(text(&discovery, "qalita.paging", "total").as_deref(), Some("/count"));
    assert_eq!(text(&discovery, "qalita.paging", "comment_items").as_deref(), Some("/results"));
    assert_eq!(text(&discovery, "qalita.paging", "user_page_size").as_deref(), Some("50"));
    assert_eq!(text(&discovery, "qalita.paths", "update_issue").as_deref(), Some("PATCH /api/v3/issues/{id}"));
    assert_eq!(text(&discovery, "qalita.paths", "list_comments").as_deref(), Some("GET /api/v3/issues/{id}/notes"));
    assert_eq!(text(&discovery, "qalita.fields", "assignee").as_deref(), Some("/assigned_to"));
    assert_eq!(text(&discovery, "qalita.fields.comment", "content").as_deref(), Some("/message"));
    assert_eq!(text(&discovery, "qalita.write", "assignee").as_deref(), Some("assigned_to"));
    assert_eq!(text(&discovery, "qalita.write", "comment_text").as_deref(), Some("message"));
    assert_eq!(text(&discovery, "qalita.not_found", "statuses").as_deref(), Some("[404]"));
    assert!(discovery.to_toml().contains("set sync.poll_page_size to 50 or less"), "{}", discovery.to_toml());

    let shape = accepted(&discovery).qalita.shape;
    assert_eq!((shape.auth.header(), shape.auth.scheme()), ("X-Token", None));
    assert_eq!(shape.paging.first_page, 0);
    assert_eq!(shape.write.comment_text, "message");
}

#[test]
fn patch_is_preferred_when_an_issue_declares_both_put_and_patch() {
    let mut document = document(&Api::default());
    let put = document["paths"]["/api/v3/issues/{issue_id}"]["put"].clone();
    document["paths"]["/api/v3/issues/{issue_id}"]["patch"] = put;
    let discovery = discover(&document).unwrap();
    assert_eq!(text(&discovery, "qalita.paths", "update_issue").as_deref(), Some("PATCH /api/v3/issues/{id}"));
    assert!(discovery.to_toml().contains("PATCH and PUT are both declared"));
}

#[test]
fn each_missing_operation_is_named_with_what_the_sync_loses_and_the_rest_still_works() {
    let api = Api { with_comments: false, with_users: false, ..Api::default() };
    let discovery = discover(&document(&api)).unwrap();
    let missing: Vec<Need> = discovery.missing().collect();
    assert_eq!(missing, [Need::ListComments, Need::CreateComment, Need::UpdateComment, Need::GetUser, Need::ListUsers]);
    let toml = discovery.to_toml();
    assert!(
        toml.contains("#   create comment  NOT FOUND: without it, GitLab notes are not copied to QALITA"),
        "{toml}"
    );
    assert!(
        toml.contains("# get user: NOT FOUND, the default is kept; without it: QALITA assignees cannot be named"),
        "{toml}"
    );
    assert!(toml.contains("update_comment = \"none\""), "{toml}");
    assert_eq!(accepted(&discovery).qalita.paths.update_comment, None);
}

#[test]
fn without_a_source_id_on_issues_no_source_is_looked_for() {
    let mut document = document(&Api::default());
    let issue = document.pointer_mut("/components/schemas/Issue/allOf/1/properties").unwrap();
    issue.as_object_mut().unwrap().remove("source_id");
    let discovery = discover(&document).unwrap();
    assert_eq!(discovery.missing().collect::<Vec<_>>(), [Need::GetSource]);
    let toml = discovery.to_toml();
    assert!(toml.contains("get source      NOT FOUND: without it, an issue's dataset is unknown"), "{toml}");
    assert!(toml.contains("[qalita.context.dataset]\n# get source: NOT FOUND, the default lookup is kept"), "{toml}");
}

#[test]
fn a_security_scheme_the_client_cannot_send_is_said_and_the_default_kept() {
    let api =
        Api { security: json!({"Cookie": {"type": "apiKey", "in": "cookie", "name": "session"}}), ..Api::default() };
    let discovery = discover(&document(&api)).unwrap();
    assert_eq!(setting(&discovery, "qalita.auth", "header"), None);
    let toml = discovery.to_toml();
    assert!(toml.contains("security scheme Cookie (apiKey in cookie) cannot be configured"), "{toml}");
    assert!(toml.contains("the default (Authorization: Bearer) is kept"), "{toml}");
    accepted(&discovery);
}

#[test]
fn a_list_without_paging_parameters_keeps_the_default_and_says_so() {
    let mut document = document(&Api::default());
    document["paths"]["/api/v3/issues"]["get"]["parameters"] = json!([]);
    let discovery = discover(&document).unwrap();
    assert_eq!(setting(&discovery, "qalita.paging", "style"), None);
    assert!(discovery.to_toml().contains("declares no paging parameter"));
}

#[test]
fn what_is_not_an_openapi_3_document_is_refused_with_the_reason() {
    let cases = [
        (json!([1]), NotOpenApi::NotAnObject),
        (json!({"swagger": "2.0", "paths": {}}), NotOpenApi::Swagger("2.0".into())),
        (json!({"paths": {}}), NotOpenApi::Version("missing".into())),
        (json!({"openapi": "2.1", "paths": {}}), NotOpenApi::Version("\"2.1\"".into())),
        (json!({"openapi": "3.0.3"}), NotOpenApi::NoPaths),
    ];
    for (document, expected) in cases {
        assert_eq!(discover(&document).unwrap_err(), expected, "{document}");
    }
    assert!(NotOpenApi::Swagger("2.0".into()).to_string().contains("not OpenAPI 3"));
}

#[test]
fn configured_endpoints_the_document_lacks_are_listed_with_the_verbs_it_has() {
    let api = Api { update: "patch", comments: "notes", ..Api::default() };
    let paths = QalitaPaths::default();
    let missing = undocumented(&document(&api), &paths).unwrap();
    let settings: Vec<&str> = missing.iter().map(|m| m.setting).collect();
    // The default prefix is /api/v2: nothing matches, every route is reported.
    assert_eq!(settings.len(), 8, "{missing:?}");
    let discovered = accepted(&discover(&document(&api)).unwrap()).qalita.paths;
    assert_eq!(undocumented(&document(&api), &discovered).unwrap(), []);
    let put = QalitaPaths { update_issue: Endpoint::parse("PUT /api/v3/issues/{id}").unwrap(), ..discovered };
    assert_eq!(
        undocumented(&document(&api), &put).unwrap(),
        [Undocumented {
            setting: "update_issue",
            endpoint: "PUT /api/v3/issues/{id}".into(),
            documented_verbs: vec!["GET".into(), "PATCH".into()],
        }]
    );
}
