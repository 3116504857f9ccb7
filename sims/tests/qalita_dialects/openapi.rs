//! Each simulator's OpenAPI document checked against what it serves: every documented path and
//! verb answers with a documented status and a body its schema describes (the exact fields, of
//! the documented types), every route it serves is documented, each documented parameter is
//! validated as documented, and every operation asks for the documented credential.

use qalita_gitlab_sims::qalita::{Dialect, ListEnvelope, QalitaSim, SimOptions};
use serde_json::{Value, json};

use crate::support::{Credential, TOKEN, call, fixture_issue, fixture_user, keys, sample_source};

/// A simulator holding one issue with every field, one comment on it by the token's user, one
/// user, one source, and the document it serves.
struct World {
    sim: QalitaSim,
    issue: u64,
    comment: u64,
    user: u64,
    source: u64,
    document: Value,
}

async fn world(options: SimOptions) -> World {
    let sim = QalitaSim::start_with(TOKEN, options).await;
    let issue = sim.insert_issue(fixture_issue());
    let comment = sim.add_comment(issue, sim.api_user_id(), "a comment");
    let user = sim.insert_user(fixture_user());
    let source = sim.insert_source(sample_source());
    let answer = call(&sim, "GET", "/openapi.json", Credential::None, None).await;
    assert_eq!(answer.status, 200, "the document is served without a credential: {}", answer.text);
    assert_eq!(answer.json["openapi"], "3.1.0");
    World { sim, issue, comment, user, source, document: answer.json }
}

impl World {
    /// Every operation of the document: method (upper case), path template, operation.
    fn operations(&self) -> Vec<(String, String, Value)> {
        let paths = self.document["paths"].as_object().expect("the document has paths");
        let mut operations = Vec::new();
        for (path, verbs) in paths {
            for (verb, operation) in verbs.as_object().expect("a path holds operations") {
                operations.push((verb.to_ascii_uppercase(), path.clone(), operation.clone()));
            }
        }
        operations
    }

    /// A path template with the world's objects as its parameters.
    fn fill(&self, template: &str) -> String {
        template
            .replace("{issue_id}", &self.issue.to_string())
            .replace("{comment_id}", &self.comment.to_string())
            .replace("{note_id}", &self.comment.to_string())
            .replace("{user_id}", &self.user.to_string())
            .replace("{source_id}", &self.source.to_string())
    }

    /// `#/components/schemas/…` resolved.
    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.strip_prefix("#/components/schemas/").expect("a local reference");
                let resolved = &self.document["components"]["schemas"][name];
                assert!(resolved.is_object(), "{reference} is not in the document");
                resolved
            }
            None => schema,
        }
    }

    /// A body the operation's request schema accepts: its required fields, or else its first
    /// plain string field, each a string.
    fn body_for(&self, operation: &Value) -> Option<Value> {
        let schema = operation.get("requestBody")?["content"]["application/json"]["schema"].clone();
        let schema = self.resolve(&schema);
        let properties = schema["properties"].as_object().expect("a body model has properties");
        let mut names: Vec<&str> =
            schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        if names.is_empty() {
            let first = properties.iter().find(|(_, property)| property["type"] == "string");
            names.extend(first.map(|(name, _)| name.as_str()));
        }
        Some(Value::Object(names.into_iter().map(|name| (name.to_owned(), json!("from the document"))).collect()))
    }

    /// Fails unless `value` is what `schema` describes: an object has exactly the schema's
    /// properties, each of its type.
    fn conforms(&self, value: &Value, schema: &Value, at: &str) {
        let schema = self.resolve(schema);
        if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
            let fits = |branch: &Value| match branch["type"].as_str() {
                Some("null") => value.is_null(),
                _ => !value.is_null(),
            };
            let branch =
                branches.iter().find(|branch| fits(branch)).unwrap_or_else(|| panic!("{at}: {value} fits no branch"));
            return self.conforms(value, branch, at);
        }
        match schema["type"].as_str() {
            Some("integer") => assert!(value.is_i64() || value.is_u64(), "{at}: {value} is not an integer"),
            Some("string") => assert!(value.is_string(), "{at}: {value} is not a string"),
            Some("null") => assert!(value.is_null(), "{at}: {value} is not null"),
            Some("array") => {
                let items = value.as_array().unwrap_or_else(|| panic!("{at}: {value} is not an array"));
                for (index, item) in items.iter().enumerate() {
                    self.conforms(item, &schema["items"], &format!("{at}[{index}]"));
                }
            }
            Some("object") => {
                assert!(value.is_object(), "{at}: {value} is not an object");
                let Some(properties) = schema.get("properties") else { return };
                assert_eq!(keys(value), keys(properties), "{at}: the fields sent are the schema's properties");
                for (name, property) in properties.as_object().into_iter().flatten() {
                    self.conforms(&value[name], property, &format!("{at}.{name}"));
                }
            }
            other => panic!("{at}: a schema of type {other:?}: {schema}"),
        }
    }
}

/// Every documented operation, with the right credential, answers with one of its documented
/// statuses and a body its schema describes; the lists are not empty, so their items are checked.
async fn every_documented_operation_answers_as_documented(world: &World) {
    let operations = world.operations();
    assert!(!operations.is_empty());
    for (method, template, operation) in operations {
        let path = world.fill(&template);
        let body = world.body_for(&operation);
        let answer = call(&world.sim, &method, &path, Credential::Right, body.as_ref()).await;
        let at = format!("{method} {template}");
        assert!(![404, 405].contains(&answer.status), "{at} is documented but not served: {}", answer.text);
        let documented = &operation["responses"][answer.status.to_string()];
        assert!(documented.is_object(), "{at} answered {}, which is not documented: {}", answer.status, answer.text);
        match documented["content"]["application/json"].get("schema") {
            Some(schema) => {
                assert!(answer.json.as_array().is_none_or(|items| !items.is_empty()), "{at}: an empty list");
                world.conforms(&answer.json, schema, &at);
            }
            None => assert_eq!(answer.text, "", "{at}: a response without content"),
        }
    }
}

/// Every path and verb the simulator answers other than 404 or 405, among those either dialect
/// could serve and a few no dialect serves, is documented, and every documented one is among
/// them: the two sets are equal.
async fn every_route_served_is_documented(world: &World, prefix: &str) {
    let templates = [
        "/issues",
        "/issues/{issue_id}",
        "/issues/{issue_id}/comments",
        "/issues/{issue_id}/comments/{comment_id}",
        "/issues/{issue_id}/notes",
        "/issues/{issue_id}/notes/{note_id}",
        "/issues/{issue_id}/assignee",
        "/users",
        "/users/{user_id}",
        "/users/{user_id}/issues",
        "/sources",
        "/sources/{source_id}",
        "/sources/{source_id}/issues",
    ];
    let mut served = Vec::new();
    for template in templates.map(|template| format!("{prefix}{template}")) {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            let answer = call(&world.sim, method, &world.fill(&template), Credential::Right, Some(&json!({}))).await;
            if ![404, 405].contains(&answer.status) {
                served.push((method.to_owned(), template.clone()));
            }
        }
    }
    let mut documented: Vec<_> = world.operations().into_iter().map(|(method, path, _)| (method, path)).collect();
    served.sort();
    documented.sort();
    assert_eq!(served, documented);
    let outside = call(&world.sim, "GET", "/api/v1/issues", Credential::Right, None).await;
    assert_eq!((outside.status, &outside.json), (404, &json!({"detail": "Not Found"})));
}

/// Each documented parameter is refused with FastAPI's 422 naming it when out of its documented
/// bounds, and each operation that declares a security requirement refuses a request without a
/// credential with 401.
async fn parameters_and_security_are_enforced_as_documented(world: &World) {
    for (method, template, operation) in world.operations() {
        let path = world.fill(&template);
        let body = world.body_for(&operation);
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let name = parameter["name"].as_str().unwrap();
            let schema = &parameter["schema"];
            let mut wrong = Vec::new();
            if let Some(minimum) = schema["minimum"].as_i64() {
                wrong.push((minimum - 1).to_string());
            }
            if let Some(maximum) = schema["maximum"].as_i64() {
                wrong.push((maximum + 1).to_string());
            }
            wrong.push("abc".to_owned());
            for value in wrong {
                let request = match parameter["in"].as_str() {
                    Some("path") => world.fill(&template.replace(&format!("{{{name}}}"), &value)),
                    _ => format!("{path}?{name}={value}"),
                };
                let answer = call(&world.sim, &method, &request, Credential::Right, body.as_ref()).await;
                assert_eq!(answer.status, 422, "{method} {request}: {}", answer.text);
                assert_eq!(answer.json["detail"][0]["loc"], json!([parameter["in"], name]), "{method} {request}");
            }
        }
        if operation["security"].as_array().is_some_and(|requirements| !requirements.is_empty()) {
            let answer = call(&world.sim, &method, &path, Credential::None, body.as_ref()).await;
            assert_eq!(answer.status, 401, "{method} {template} without a credential: {}", answer.text);
        }
    }
}

async fn check(options: SimOptions) {
    let prefix = options.api_prefix.clone();
    let world = world(options).await;
    every_documented_operation_answers_as_documented(&world).await;
    every_route_served_is_documented(&world, &prefix).await;
    parameters_and_security_are_enforced_as_documented(&world).await;
}

#[tokio::test]
async fn the_first_dialects_document_describes_exactly_what_it_serves() {
    check(SimOptions::default()).await;
}

#[tokio::test]
async fn the_first_dialects_document_follows_its_options() {
    let options = SimOptions {
        api_prefix: "/api/v3".into(),
        list_envelope: ListEnvelope::Items,
        comment_updates: false,
        ..SimOptions::default()
    };
    check(options).await;
}

#[tokio::test]
async fn the_second_dialects_document_describes_exactly_what_it_serves() {
    check(Dialect::Second.into()).await;
}

#[tokio::test]
async fn each_dialect_documents_its_own_credential() {
    let first = world(SimOptions::default()).await;
    let second = world(Dialect::Second.into()).await;

    assert_eq!(
        first.document["components"]["securitySchemes"],
        json!({"HTTPBearer": {"type": "http", "scheme": "bearer"}})
    );
    assert_eq!(
        second.document["components"]["securitySchemes"],
        json!({"APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"}})
    );
    let update = &second.document["paths"]["/api/v2/issues/{issue_id}"]["patch"];
    assert_eq!(update["operationId"], "update_issue_api_v2_issues__issue_id__patch");
    assert_eq!(update["security"], json!([{"APIKeyHeader": []}]));
    let properties = &second.document["components"]["schemas"]["IssueUpdate"]["properties"];
    assert!(properties.get("assignee_id").is_some() && properties.get("assignee").is_none(), "{properties}");
}
