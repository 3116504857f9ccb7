//! What the API is made of, in one table per dialect: every path and verb served and what each
//! does, and the fields of the objects and of the update body. The router and the OpenAPI document
//! are both built from it, so that the document cannot drift from what the simulator serves.

use axum::http::Method;
use serde_json::Value;

use super::SimOptions;
use super::dialect::{Dialect, Kind};

/// What a route does; one handler serves it in both dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    ListIssues,
    GetIssue,
    UpdateIssue,
    ListComments,
    CreateComment,
    GetComment,
    UpdateComment,
    ListUsers,
    GetUser,
    ListSources,
    GetSource,
}

impl Action {
    /// The handler's name in the dialect, from which FastAPI makes the operation id and summary.
    pub fn name(self, dialect: Dialect) -> String {
        let note = dialect.comment_noun();
        match self {
            Action::ListIssues => "list_issues".into(),
            Action::GetIssue => "get_issue".into(),
            Action::UpdateIssue => "update_issue".into(),
            Action::ListComments => format!("list_{note}s"),
            Action::CreateComment => format!("create_{note}"),
            Action::GetComment => format!("get_{note}"),
            Action::UpdateComment => format!("update_{note}"),
            Action::ListUsers => "list_users".into(),
            Action::GetUser => "get_user".into(),
            Action::ListSources => "list_sources".into(),
            Action::GetSource => "get_source".into(),
        }
    }

    /// The kind of object the route answers with.
    pub fn kind(self) -> Kind {
        match self {
            Action::ListIssues | Action::GetIssue | Action::UpdateIssue => Kind::Issue,
            Action::ListComments | Action::CreateComment | Action::GetComment | Action::UpdateComment => Kind::Comment,
            Action::ListUsers | Action::GetUser => Kind::User,
            Action::ListSources | Action::GetSource => Kind::Source,
        }
    }

    /// Whether the route answers with a list.
    pub fn lists(self) -> bool {
        self.lists_all() || self == Action::ListComments
    }

    /// Whether the route lists every object of its kind (always paged; no parent object that
    /// may be missing).
    pub fn lists_all(self) -> bool {
        matches!(self, Action::ListIssues | Action::ListUsers | Action::ListSources)
    }
}

/// One path and verb.
#[derive(Debug, Clone)]
pub(super) struct Route {
    pub method: Method,
    /// The path template, parameters in braces: `/api/v2/issues/{issue_id}` (axum's syntax and
    /// OpenAPI's alike).
    pub path: String,
    pub action: Action,
}

/// Every route the simulator serves under these options, in the order of the document.
pub(super) fn routes(options: &SimOptions) -> Vec<Route> {
    let dialect = options.dialect;
    let prefix = options.api_prefix.trim_end_matches('/');
    let issue = format!("{prefix}/issues/{{issue_id}}");
    let comments = format!("{issue}/{}s", dialect.comment_noun());
    let comment = format!("{comments}/{{{}}}", dialect.comment_param());
    let update = dialect.update_method();
    let mut routes = vec![
        (Method::GET, format!("{prefix}/issues"), Action::ListIssues),
        (Method::GET, issue.clone(), Action::GetIssue),
        (update.clone(), issue, Action::UpdateIssue),
        (Method::GET, comments.clone(), Action::ListComments),
        (Method::POST, comments, Action::CreateComment),
        (Method::GET, comment.clone(), Action::GetComment),
    ];
    if options.comment_updates {
        routes.push((update, comment, Action::UpdateComment));
    }
    routes.push((Method::GET, format!("{prefix}/users"), Action::ListUsers));
    routes.push((Method::GET, format!("{prefix}/users/{{user_id}}"), Action::GetUser));
    routes.push((Method::GET, format!("{prefix}/sources"), Action::ListSources));
    routes.push((Method::GET, format!("{prefix}/sources/{{source_id}}"), Action::GetSource));
    routes.into_iter().map(|(method, path, action)| Route { method, path, action }).collect()
}

/// The JSON type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Type {
    Integer,
    String,
    /// A string, `2026-12-05`.
    Date,
    /// A string, RFC 3339.
    DateTime,
    Object,
    /// An array of strings.
    Strings,
}

/// One field of an object or of a body, by its name in the model.
#[derive(Debug, Clone, Copy)]
pub(super) struct Field {
    pub name: &'static str,
    pub kind: Type,
    /// Whether `null` is a value of it (in an object, the fields that are not nullable are the
    /// required ones).
    pub nullable: bool,
}

const fn field(name: &'static str, kind: Type, nullable: bool) -> Field {
    Field { name, kind, nullable }
}

impl Field {
    /// Whether `value` is one this field accepts in a body.
    pub fn accepts(&self, value: &Value) -> bool {
        match self.kind {
            _ if value.is_null() => self.nullable,
            Type::Integer => value.is_u64(),
            Type::String | Type::Date | Type::DateTime => value.is_string(),
            Type::Object => value.is_object(),
            Type::Strings => value.as_array().is_some_and(|items| items.iter().all(Value::is_string)),
        }
    }
}

/// The fields of an issue (those of `fixtures/qalita/issue.json`).
pub(super) const ISSUE: &[Field] = &[
    field("id", Type::Integer, false),
    field("partner_id", Type::Integer, true),
    field("title", Type::String, false),
    field("description", Type::String, true),
    field("status", Type::String, false),
    field("source_id", Type::Integer, true),
    field("assignee", Type::Integer, true),
    field("scope", Type::Object, true),
    field("due_date", Type::Date, true),
    field("author_id", Type::Integer, true),
    field("updated_by", Type::Integer, true),
    field("closed_by", Type::Integer, true),
    field("created_at", Type::DateTime, false),
    field("updated_at", Type::DateTime, false),
    field("closed_at", Type::DateTime, true),
    field("url", Type::String, true),
];

/// The fields of a comment created through the API.
pub(super) const COMMENT: &[Field] = &[
    field("id", Type::Integer, false),
    field("issue_id", Type::Integer, false),
    field("author_id", Type::Integer, false),
    field("content", Type::String, false),
    field("created_at", Type::DateTime, false),
    field("updated_at", Type::DateTime, false),
];

/// The fields of a user (those of `fixtures/qalita/user.json`).
pub(super) const USER: &[Field] = &[
    field("id", Type::Integer, false),
    field("login", Type::String, false),
    field("name", Type::String, true),
    field("email", Type::String, true),
];

/// The fields of a source, the dataset an issue is about (QALITA's `type` is the connector:
/// `postgresql`, `file` …; `tags` are free words such as `domain:finance` or `pii`).
pub(super) const SOURCE: &[Field] = &[
    field("id", Type::Integer, false),
    field("name", Type::String, false),
    field("type", Type::String, false),
    field("description", Type::String, true),
    field("owner_id", Type::Integer, true),
    field("tags", Type::Strings, false),
    field("created_at", Type::DateTime, false),
    field("updated_at", Type::DateTime, false),
];

/// The fields an issue update may set; none is required, and a field of another type is refused
/// with 422 naming it. Other fields (id, dates, authors) are ignored, as pydantic ignores them.
pub(super) const UPDATABLE: &[Field] = &[
    field("status", Type::String, false),
    field("title", Type::String, false),
    field("description", Type::String, true),
    field("assignee", Type::Integer, true),
    field("due_date", Type::Date, true),
];

/// The body of a comment created or edited: its text, required.
pub(super) const COMMENT_BODY: &[Field] = &[field("content", Type::String, false)];

/// The fields of an object of `kind`.
pub(super) fn fields(kind: Kind) -> &'static [Field] {
    match kind {
        Kind::Issue => ISSUE,
        Kind::Comment => COMMENT,
        Kind::User => USER,
        Kind::Source => SOURCE,
    }
}
