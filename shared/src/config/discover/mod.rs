//! Discovery: the `[qalita.*]` configuration an instance's OpenAPI 3 document implies. Pure: it
//! reads the document (as JSON) and finds, by paths, verbs and schemas, the operations the sync
//! needs, then derives the paths, auth, paging, field pointers, written keys, "not found" and the
//! dataset lookup from them, each choice with its reason, each operation it could not find named with what the sync
//! loses. `qalita-gitlab qalita discover` fetches the document and prints [`Discovery::to_toml`].

mod derive;
mod operations;
mod render;
mod schema;

use serde_json::Value;

use self::operations::Op;
use self::schema::Schemas;
use crate::config::qalita_paths::QalitaPaths;

/// A document the discovery cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotOpenApi {
    /// The document is not a JSON object.
    #[error("the document is not a JSON object")]
    NotAnObject,
    /// A Swagger 2.0 document: only OpenAPI 3 is read.
    #[error("the document is Swagger {0}, not OpenAPI 3 (FastAPI serves OpenAPI 3 at /openapi.json)")]
    Swagger(String),
    /// No `openapi` member, or a version other than 3.x.
    #[error("the document is not an OpenAPI 3 document (its `openapi` member is {0})")]
    Version(String),
    /// No `paths` object.
    #[error("the OpenAPI document has no `paths` object")]
    NoPaths,
}

/// An operation the sync uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The issue list (`qalita.paths.list_issues`).
    ListIssues,
    /// One issue.
    GetIssue,
    /// An issue's update.
    UpdateIssue,
    /// An issue's comments.
    ListComments,
    /// A new comment.
    CreateComment,
    /// A comment's edit.
    UpdateComment,
    /// One user.
    GetUser,
    /// Every user.
    ListUsers,
    /// One source (the dataset an issue is about).
    GetSource,
}

impl Need {
    /// Every operation, in the order they are reported.
    pub const ALL: [Need; 9] = [
        Need::ListIssues,
        Need::GetIssue,
        Need::UpdateIssue,
        Need::ListComments,
        Need::CreateComment,
        Need::UpdateComment,
        Need::GetUser,
        Need::ListUsers,
        Need::GetSource,
    ];

    /// Its name for people.
    pub fn name(self) -> &'static str {
        match self {
            Need::ListIssues => "list issues",
            Need::GetIssue => "get issue",
            Need::UpdateIssue => "update issue",
            Need::ListComments => "list comments",
            Need::CreateComment => "create comment",
            Need::UpdateComment => "update comment",
            Need::GetUser => "get user",
            Need::ListUsers => "list users",
            Need::GetSource => "get source",
        }
    }

    /// Its key in `[qalita.paths]`, where it has one (the source is `[qalita.context.dataset]`'s).
    pub fn setting(self) -> Option<&'static str> {
        match self {
            Need::ListIssues => Some("list_issues"),
            Need::GetIssue => Some("get_issue"),
            Need::UpdateIssue => Some("update_issue"),
            Need::ListComments => Some("list_comments"),
            Need::CreateComment => Some("create_comment"),
            Need::UpdateComment => Some("update_comment"),
            Need::GetUser => Some("get_user"),
            Need::ListUsers => Some("list_users"),
            Need::GetSource => None,
        }
    }

    /// What the sync loses on an instance without it.
    pub fn loss(self) -> &'static str {
        match self {
            Need::ListIssues => {
                "the poll and `backfill`: QALITA issues reach GitLab only through change events, and the pages of the list cannot be checked"
            }
            Need::GetIssue => "every sync reads the issue before it writes: nothing is synced",
            Need::UpdateIssue => {
                "GitLab → QALITA: a status, title, description or assignee changed in GitLab is not written to QALITA"
            }
            Need::ListComments => {
                "QALITA comments are not copied to GitLab by the poll, and a comment created without an answer cannot be checked"
            }
            Need::CreateComment => {
                "GitLab notes are not copied to QALITA, and the link back (link_back.mode = \"comment\") cannot be written"
            }
            Need::UpdateComment => "an edited GitLab note is not propagated to its QALITA copy",
            Need::GetUser => "QALITA assignees cannot be named: GitLab issues get no assignee",
            Need::ListUsers => "a GitLab assignee cannot be mapped back to a QALITA user",
            Need::GetSource => {
                "an issue's dataset is unknown where no change event gives it (poll, create-issue, explain, backfill): no {dataset} in titles, no routing by source"
            }
        }
    }

    /// Whether the sync works at all without it (the others only lose what [`Self::loss`] says).
    pub fn essential(self) -> bool {
        matches!(self, Need::GetIssue)
    }
}

/// How one operation was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationReport {
    /// Which operation.
    pub need: Need,
    /// `VERB /path` as the configuration writes it (`{id}`, `{comment_id}`), when found.
    pub endpoint: Option<String>,
    /// The path as the document writes it, when found.
    pub documented: Option<String>,
}

/// One setting written, with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The key in its section.
    pub key: &'static str,
    /// The value.
    pub value: toml::Value,
    /// Why, for the `#` comment above it.
    pub why: String,
}

/// One `[qalita.*]` section: its settings and remarks that are not settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// `qalita.paths`, `qalita.fields.comment`, …
    pub name: &'static str,
    /// The settings, in order.
    pub settings: Vec<Setting>,
    /// Remarks written as comments after the settings.
    pub notes: Vec<String>,
}

/// What the document implies.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// `info.title` and `info.version`, and the OpenAPI version.
    pub described: String,
    /// Each operation the sync uses, found or not.
    pub operations: Vec<OperationReport>,
    /// The sections, in the order they are written.
    pub sections: Vec<Section>,
}

impl Discovery {
    /// The operations not found.
    pub fn missing(&self) -> impl Iterator<Item = Need> + '_ {
        self.operations.iter().filter(|report| report.endpoint.is_none()).map(|report| report.need)
    }

    /// The configuration as TOML text, every choice explained by a comment.
    pub fn to_toml(&self) -> String {
        render::toml(self)
    }
}

/// Checks the document is OpenAPI 3 with paths.
fn check(document: &Value) -> Result<(), NotOpenApi> {
    let object = document.as_object().ok_or(NotOpenApi::NotAnObject)?;
    if let Some(swagger) = object.get("swagger") {
        return Err(NotOpenApi::Swagger(swagger.as_str().unwrap_or("?").to_owned()));
    }
    match object.get("openapi") {
        Some(Value::String(version)) if version.starts_with("3.") => {}
        Some(other) => return Err(NotOpenApi::Version(other.to_string())),
        None => return Err(NotOpenApi::Version("missing".into())),
    }
    match object.get("paths") {
        Some(Value::Object(_)) => Ok(()),
        _ => Err(NotOpenApi::NoPaths),
    }
}

/// Reads `document` and derives the configuration it implies.
pub fn discover(document: &Value) -> Result<Discovery, NotOpenApi> {
    check(document)?;
    let schemas = Schemas { root: document };
    let all = operations::all(document);
    let found = operations::find(schemas, &all);
    let info = |key: &str| document.pointer(&format!("/info/{key}")).and_then(Value::as_str).unwrap_or("?");
    let openapi = document.get("openapi").and_then(Value::as_str).unwrap_or("3");
    let described = format!("{} {} (OpenAPI {openapi})", info("title"), info("version"));
    Ok(derive::discovery(document, schemas, &found, described))
}

/// A configured endpoint the document does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undocumented {
    /// The setting (`update_issue`).
    pub setting: &'static str,
    /// The endpoint as configured.
    pub endpoint: String,
    /// The verbs the document has on that path (none: the path is not in it).
    pub documented_verbs: Vec<String>,
}

/// The configured endpoints the document has no operation for (path parameters compared by place,
/// not by name).
pub fn undocumented(document: &Value, paths: &QalitaPaths) -> Result<Vec<Undocumented>, NotOpenApi> {
    check(document)?;
    let all = operations::all(document);
    let shape = |path: &str| -> Vec<String> {
        path.split('/')
            .filter(|s| !s.is_empty())
            .map(|s| if s.starts_with('{') && s.ends_with('}') { "{}".to_owned() } else { s.to_owned() })
            .collect()
    };
    let configured = [
        ("list_issues", Some(&paths.list_issues)),
        ("get_issue", Some(&paths.get_issue)),
        ("update_issue", Some(&paths.update_issue)),
        ("list_comments", Some(&paths.list_comments)),
        ("create_comment", Some(&paths.create_comment)),
        ("update_comment", paths.update_comment.as_ref()),
        ("get_user", Some(&paths.get_user)),
        ("list_users", Some(&paths.list_users)),
    ];
    let mut missing = Vec::new();
    for (setting, endpoint) in configured {
        let Some(endpoint) = endpoint else { continue };
        let wanted = shape(endpoint.path.as_str());
        let at_path: Vec<&Op<'_>> = all.iter().filter(|op| shape(op.path) == wanted).collect();
        if !at_path.iter().any(|op| op.verb == endpoint.verb) {
            let documented_verbs = at_path.iter().map(|op| op.verb.to_string()).collect();
            missing.push(Undocumented { setting, endpoint: endpoint.to_string(), documented_verbs });
        }
    }
    Ok(missing)
}

#[cfg(test)]
mod tests;
