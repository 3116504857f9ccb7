//! The OpenAPI 3.1 document each dialect serves at `/openapi.json`, in the shape FastAPI generates
//! it (operation ids from the handler's name and path, tags, `422` with `HTTPValidationError`,
//! pydantic's schemas), built from the route table and field lists the router itself uses.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::SimOptions;
use super::api::{self, Action, Field, Route, Type};
use super::dialect::{API_KEY_HEADER, Dialect, Kind};

/// The path FastAPI serves its document at.
pub(super) const PATH: &str = "/openapi.json";

/// The document for the simulator under `options`.
pub(super) fn document(options: &SimOptions) -> Value {
    let mut paths = Map::new();
    for route in api::routes(options) {
        let operations = paths.entry(route.path.clone()).or_insert_with(|| json!({}));
        operations[route.method.as_str().to_ascii_lowercase()] = operation(options, &route);
    }
    let (scheme, definition) = security_scheme(options.dialect);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "QALITA", "version": "2.0.0"},
        "paths": paths,
        "components": {"schemas": schemas(options), "securitySchemes": {scheme: definition}},
    })
}

/// The name and definition of the dialect's security scheme, as FastAPI's security classes
/// declare them.
fn security_scheme(dialect: Dialect) -> (&'static str, Value) {
    match dialect {
        Dialect::First => ("HTTPBearer", json!({"type": "http", "scheme": "bearer"})),
        Dialect::Second => ("APIKeyHeader", json!({"type": "apiKey", "in": "header", "name": API_KEY_HEADER})),
    }
}

fn operation(options: &SimOptions, route: &Route) -> Value {
    let dialect = options.dialect;
    let action = route.action;
    let name = action.name(dialect);
    // FastAPI's `generate_unique_id`: the name and path with every non-word character as `_`.
    let id: String = format!("{name}{}", route.path)
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    let id = format!("{id}_{}", route.method.as_str().to_ascii_lowercase());
    let tag = match action.kind() {
        Kind::Issue => "issues".to_owned(),
        Kind::Comment => format!("{}s", dialect.comment_noun()),
        Kind::User => "users".to_owned(),
        Kind::Source => "sources".to_owned(),
    };
    let mut operation = json!({
        "tags": [tag],
        "summary": title(&name),
        "operationId": id,
        "security": [{security_scheme(dialect).0: []}],
        "parameters": parameters(options, route),
        "responses": responses(options, action, &id),
    });
    if let Some(body) = body_schema(action) {
        operation["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": reference(body)}}});
    }
    operation
}

/// The path parameters (from the template), then the paging parameters of a paged list.
fn parameters(options: &SimOptions, route: &Route) -> Vec<Value> {
    let in_path = route.path.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'));
    let mut parameters: Vec<_> = in_path
        .map(|name| {
            let schema = json!({"type": "integer", "minimum": 1, "title": title(name)});
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect();
    let dialect = options.dialect;
    let paged = match route.action {
        Action::ListComments => dialect.pages_comments(),
        action => action.lists_all(),
    };
    if paged {
        for (name, default, minimum, maximum) in dialect.paging_params(options) {
            let mut schema = json!({"type": "integer", "minimum": minimum, "default": default, "title": title(name)});
            if maximum < i64::MAX {
                schema["maximum"] = maximum.into();
            }
            parameters.push(json!({"name": name, "in": "query", "required": false, "schema": schema}));
        }
    }
    parameters
}

fn responses(options: &SimOptions, action: Action, id: &str) -> Value {
    let dialect = options.dialect;
    let statuses = dialect.statuses();
    let kind = action.kind();
    let object = reference(schema_name(kind));
    let (status, schema) = match action {
        _ if action.lists() => (StatusCode::OK, Some(list_schema(options, kind, id))),
        Action::UpdateIssue => (statuses.updated, (statuses.updated != StatusCode::NO_CONTENT).then_some(object)),
        Action::CreateComment => (statuses.created, Some(object)),
        _ => (StatusCode::OK, Some(object)),
    };
    let mut responses = json!({
        "422": {"description": "Validation Error", "content": {"application/json": {"schema": reference("HTTPValidationError")}}},
    });
    responses[status.as_str()] = match schema {
        Some(schema) => {
            json!({"description": "Successful Response", "content": {"application/json": {"schema": schema}}})
        }
        None => json!({"description": "Successful Response"}),
    };
    // Every route but the lists of all objects of a kind names an object that may be missing.
    if !action.lists_all() {
        let description =
            if statuses.missing == StatusCode::NO_CONTENT { "Not found or no access" } else { "Not Found" };
        responses[statuses.missing.as_str()] = json!({"description": description});
    }
    if action == Action::UpdateComment {
        responses["403"] = json!({"description": "Not the comment's author"});
    }
    responses
}

/// The schema of a list of `kind`: a bare array, or a reference to its wrapper.
fn list_schema(options: &SimOptions, kind: Kind, id: &str) -> Value {
    match wrapper(options) {
        Some(_) => reference(&format!("Page_{}_", schema_name(kind))),
        None => {
            json!({"type": "array", "items": reference(schema_name(kind)), "title": title(&format!("Response_{id}"))})
        }
    }
}

/// The list wrapper's fields (the list's own, and `total` when sent), `None` for a bare array.
fn wrapper(options: &SimOptions) -> Option<(&'static str, bool)> {
    use super::ListEnvelope;
    match (options.dialect, options.list_envelope) {
        (Dialect::Second, _) => Some(("data", true)),
        (Dialect::First, ListEnvelope::Bare) => None,
        (Dialect::First, ListEnvelope::Items) => Some(("items", true)),
        (Dialect::First, ListEnvelope::Data) => Some(("data", false)),
    }
}

fn body_schema(action: Action) -> Option<&'static str> {
    match action {
        Action::UpdateIssue => Some("IssueUpdate"),
        Action::CreateComment | Action::UpdateComment => Some("CommentBody"),
        _ => None,
    }
}

fn schema_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Issue => "Issue",
        Kind::Comment => "Comment",
        Kind::User => "User",
        Kind::Source => "Source",
    }
}

/// `components.schemas`: the objects, their list wrappers, the bodies, and FastAPI's errors.
fn schemas(options: &SimOptions) -> Value {
    let dialect = options.dialect;
    let mut schemas = Map::new();
    for kind in [Kind::Issue, Kind::Comment, Kind::User, Kind::Source] {
        let name = schema_name(kind);
        schemas.insert(name.into(), model(dialect, kind, name, api::fields(kind), true));
        if let Some((items, with_total)) = wrapper(options) {
            let page = format!("Page_{name}_");
            let mut properties = json!({items: {"type": "array", "items": reference(name), "title": title(items)}});
            let mut required = vec![items];
            if with_total {
                properties["total"] = json!({"type": "integer", "title": "Total"});
                required.push("total");
            }
            // pydantic names a generic model `Page[Issue]`, and FastAPI's key for it `Page_Issue_`.
            let title = format!("Page[{name}]");
            let wrapper = json!({"properties": properties, "type": "object", "required": required, "title": title});
            schemas.insert(page, wrapper);
        }
    }
    schemas.insert("IssueUpdate".into(), model(dialect, Kind::Issue, "IssueUpdate", api::UPDATABLE, false));
    schemas.insert("CommentBody".into(), model(dialect, Kind::Comment, "CommentBody", api::COMMENT_BODY, true));
    schemas.insert(
        "HTTPValidationError".into(),
        json!({
            "properties": {"detail": {"items": reference("ValidationError"), "type": "array", "title": "Detail"}},
            "type": "object", "title": "HTTPValidationError",
        }),
    );
    schemas.insert(
        "ValidationError".into(),
        json!({
            "properties": {
                "loc": {"items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "type": "array", "title": "Location"},
                "msg": {"type": "string", "title": "Message"},
                "type": {"type": "string", "title": "Error Type"},
            },
            "type": "object", "required": ["loc", "msg", "type"], "title": "ValidationError",
        }),
    );
    Value::Object(schemas)
}

/// A pydantic model's schema: each field under the dialect's name, `null` allowed where it may
/// be; with `required_when_set`, the fields that are not nullable are required.
fn model(dialect: Dialect, kind: Kind, title_: &str, fields: &[Field], required_when_set: bool) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        let name = dialect.field(kind, field.name);
        let mut schema = match field.kind {
            Type::Integer => json!({"type": "integer"}),
            Type::String => json!({"type": "string"}),
            Type::Date => json!({"type": "string", "format": "date"}),
            Type::DateTime => json!({"type": "string", "format": "date-time"}),
            Type::Object => json!({"type": "object", "additionalProperties": true}),
            Type::Strings => json!({"type": "array", "items": {"type": "string"}}),
        };
        if field.nullable {
            schema = json!({"anyOf": [schema, {"type": "null"}]});
        } else if required_when_set {
            required.push(name);
        }
        schema["title"] = title(name).into();
        properties.insert(name.to_owned(), schema);
    }
    let mut model = json!({"properties": properties, "type": "object", "title": title_});
    if !required.is_empty() {
        model["required"] = required.into();
    }
    model
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Python's `name.replace("_", " ").title()`, as FastAPI and pydantic title names.
fn title(name: &str) -> String {
    let mut title = String::with_capacity(name.len());
    let mut start = true;
    for c in name.chars() {
        let c = if c == '_' { ' ' } else { c };
        if c.is_alphabetic() {
            if start {
                title.extend(c.to_uppercase());
            } else {
                title.extend(c.to_lowercase());
            }
            start = false;
        } else {
            title.push(c);
            start = true;
        }
    }
    title
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_titled_as_python_titles_them() {
        assert_eq!(title("list_issues"), "List Issues");
        assert_eq!(title("issue_id"), "Issue Id");
        assert_eq!(title("Response_list_issues_api_v2_issues_get"), "Response List Issues Api V2 Issues Get");
    }

    #[test]
    fn operation_ids_follow_fastapis_unique_ids() {
        let document = document(&SimOptions::default());
        let get = &document["paths"]["/api/v2/issues/{issue_id}"]["get"];
        assert_eq!(get["operationId"], "get_issue_api_v2_issues__issue_id__get");
        assert_eq!(get["summary"], "Get Issue");
        assert_eq!(get["parameters"][0]["name"], "issue_id");
    }
}
