//! The operations of an OpenAPI 3 document, and the ones the sync needs found among them by shape:
//! the issue list is a `GET` without path parameters answering a list of objects with a title and a
//! status; one issue is that list's path plus one parameter; comments are a list under one issue of
//! objects with a text; users are a list of objects with a login, a user name or an e-mail address.

use serde_json::{Map, Value};

use super::schema::{ListShape, Schemas};
use crate::config::qalita_paths::Verb;

/// The verbs an operation may be declared under, in the document's lower case.
const VERBS: [(&str, Verb); 5] =
    [("get", Verb::Get), ("post", Verb::Post), ("put", Verb::Put), ("patch", Verb::Patch), ("delete", Verb::Delete)];

/// The names a comment's text may have.
pub(super) const TEXT_NAMES: &[&str] = &["content", "text", "body", "message", "note", "comment"];

/// The names a user's login may have.
pub(super) const LOGIN_NAMES: &[&str] = &["login", "username", "user_name", "userName", "handle"];

/// One operation: a verb on a path template.
#[derive(Debug, Clone, Copy)]
pub(super) struct Op<'a> {
    pub verb: Verb,
    /// The template as the document writes it (`/api/v2/issues/{issue_id}`).
    pub path: &'a str,
    pub operation: &'a Value,
    /// The path item, for the parameters it declares for all its operations.
    pub item: &'a Value,
}

impl<'a> Op<'a> {
    /// The path's segments.
    pub fn segments(&self) -> Vec<&'a str> {
        self.path.split('/').filter(|segment| !segment.is_empty()).collect()
    }

    /// How many `{parameters}` the path has.
    pub fn path_params(&self) -> usize {
        self.segments().iter().filter(|segment| is_param(segment)).count()
    }

    /// The query parameters: (name, schema), the operation's and the path item's.
    pub fn query_params(&self, schemas: Schemas<'a>) -> Vec<(&'a str, &'a Value)> {
        let declared = [self.operation, self.item].into_iter().filter_map(|on| on.get("parameters")?.as_array());
        declared
            .flatten()
            .map(|parameter| schemas.resolve(parameter))
            .filter(|parameter| parameter.get("in").and_then(Value::as_str) == Some("query"))
            .filter_map(|parameter| {
                Some((parameter.get("name")?.as_str()?, parameter.get("schema").unwrap_or(&Value::Null)))
            })
            .collect()
    }

    /// The statuses the operation declares.
    pub fn statuses(&self) -> Vec<u16> {
        let responses = self.operation.get("responses").and_then(Value::as_object);
        responses.into_iter().flatten().filter_map(|(status, _)| status.parse().ok()).collect()
    }

    /// The lowest success status declared, and the JSON schema of its answer when it has one.
    pub fn success(&self, schemas: Schemas<'a>) -> Option<(u16, Option<&'a Value>)> {
        let responses = self.operation.get("responses")?.as_object()?;
        let (status, response) = responses
            .iter()
            .filter_map(|(status, response)| Some((status.parse::<u16>().ok()?, response)))
            .filter(|(status, _)| (200..300).contains(status))
            .min_by_key(|(status, _)| *status)?;
        Some((status, json_schema(schemas.resolve(response))))
    }

    /// The JSON schema of the request body.
    pub fn body(&self, schemas: Schemas<'a>) -> Option<&'a Value> {
        json_schema(schemas.resolve(self.operation.get("requestBody")?))
    }

    /// Whether the path is `parent` plus `extra` more segments, the last of them a parameter when
    /// `ends_with_param`, the others literal.
    pub fn extends(&self, parent: &Op<'_>, extra: usize, ends_with_param: bool) -> bool {
        let (mine, theirs) = (self.segments(), parent.segments());
        if mine.len() != theirs.len() + extra || !mine.starts_with(&theirs) {
            return false;
        }
        let added = &mine[theirs.len()..];
        added.iter().enumerate().all(|(at, segment)| is_param(segment) == (ends_with_param && at == extra - 1))
    }
}

/// The JSON schema of a response or request body (`content` of a JSON media type).
fn json_schema(holder: &Value) -> Option<&Value> {
    let content = holder.get("content")?.as_object()?;
    content.iter().find(|(media, _)| media.contains("json")).and_then(|(_, media)| media.get("schema"))
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// Every operation of the document, in its order.
pub(super) fn all(document: &Value) -> Vec<Op<'_>> {
    let Some(paths) = document.get("paths").and_then(Value::as_object) else { return Vec::new() };
    let mut operations = Vec::new();
    for (path, item) in paths {
        for (name, verb) in VERBS {
            if let Some(operation) = item.get(name).filter(|o| o.is_object()) {
                operations.push(Op { verb, path, operation, item });
            }
        }
    }
    operations
}

/// What an object schema's properties say it is.
pub(super) fn is_issue(properties: &Map<String, Value>) -> bool {
    properties.contains_key("title") && (properties.contains_key("status") || properties.contains_key("state"))
}

pub(super) fn is_comment(properties: &Map<String, Value>) -> bool {
    !is_issue(properties) && TEXT_NAMES.iter().any(|name| properties.contains_key(*name))
}

pub(super) fn is_user(properties: &Map<String, Value>) -> bool {
    !is_issue(properties)
        && !is_comment(properties)
        && (LOGIN_NAMES.iter().any(|name| properties.contains_key(*name)) || properties.contains_key("email"))
}

/// The operations the sync needs, as found.
#[derive(Debug, Default)]
pub(super) struct Found<'a> {
    pub list_issues: Option<(Op<'a>, ListShape<'a>)>,
    /// Other issue lists the document has, for the reader.
    pub other_issue_lists: Vec<Op<'a>>,
    pub get_issue: Option<Op<'a>>,
    pub update_issue: Option<Op<'a>>,
    /// Both `PUT` and `PATCH` were declared on one issue.
    pub update_both: bool,
    pub list_comments: Option<(Op<'a>, ListShape<'a>)>,
    pub create_comment: Option<Op<'a>>,
    pub update_comment: Option<Op<'a>>,
    pub list_users: Option<(Op<'a>, ListShape<'a>)>,
    pub get_user: Option<Op<'a>>,
    pub get_source: Option<Op<'a>>,
}

/// Finds each operation the sync needs in `operations`.
pub(super) fn find<'a>(schemas: Schemas<'a>, operations: &[Op<'a>]) -> Found<'a> {
    let mut found = Found::default();
    let answers = |op: &Op<'a>| op.success(schemas).and_then(|(_, schema)| schema);
    let props = |schema: &Value| schemas.properties(schema);
    let list_of = |op: &Op<'a>, fits: fn(&Map<String, Value>) -> bool| {
        let schema = answers(op)?;
        schemas.list(schema, |item| props(item).is_some_and(|p| fits(&p)))
    };
    let object_is =
        |op: &Op<'a>, fits: fn(&Map<String, Value>) -> bool| answers(op).and_then(&props).is_some_and(|p| fits(&p));
    let gets = || operations.iter().filter(|op| op.verb == Verb::Get);

    // The issue lists; where there are several (`/api/v1/issues`, `/api/v2/issues`), the one with
    // the most of its companions wins, then the last in the document's order (the newest version).
    let lists: Vec<(Op<'a>, ListShape<'a>)> =
        gets().filter(|op| op.path_params() == 0).filter_map(|op| Some((*op, list_of(op, is_issue)?))).collect();
    let companions = |list: &Op<'a>| operations.iter().filter(|op| op.extends(list, 1, true)).count();
    let best = lists.iter().enumerate().max_by_key(|(at, (op, _))| (companions(op), *at)).map(|(at, _)| at);
    if let Some(best) = best {
        found.other_issue_lists =
            lists.iter().enumerate().filter(|(at, _)| *at != best).map(|(_, (op, _))| *op).collect();
        found.list_issues = Some(lists[best].clone());
    }

    // One object: the list's path plus a parameter, else any path with one parameter answering one.
    let one_of = |list: Option<Op<'a>>, fits: fn(&Map<String, Value>) -> bool| {
        let under = |op: &&Op<'a>| list.is_some_and(|list| op.extends(&list, 1, true));
        gets()
            .filter(under)
            .find(|op| object_is(op, fits))
            .or_else(|| gets().filter(|op| op.path_params() == 1).find(|op| object_is(op, fits)))
            .copied()
    };
    let list_op = found.list_issues.as_ref().map(|(op, _)| *op);
    found.get_issue = one_of(list_op, is_issue);

    if let Some(issue) = found.get_issue {
        let on_issue = |verb| operations.iter().find(|op| op.verb == verb && op.path == issue.path).copied();
        let (patch, put) = (on_issue(Verb::Patch), on_issue(Verb::Put));
        found.update_both = patch.is_some() && put.is_some();
        // The client sends only the fields that changed: a partial update, which is PATCH's meaning.
        found.update_issue = patch.or(put);

        // Comments: a list under one issue (one more literal segment) of objects with a text.
        let lists = gets().filter(|op| op.extends(&issue, 1, false));
        found.list_comments = lists.filter_map(|op| Some((*op, list_of(op, is_comment)?))).next();
        if let Some((comments, _)) = &found.list_comments {
            found.create_comment =
                operations.iter().find(|op| op.verb == Verb::Post && op.path == comments.path).copied();
            let edits = operations.iter().filter(|op| op.extends(comments, 1, true));
            let edit = |verb| edits.clone().find(|op| op.verb == verb).copied();
            found.update_comment = edit(Verb::Patch).or_else(|| edit(Verb::Put));
        }
    }

    found.list_users =
        gets().filter(|op| op.path_params() == 0).filter_map(|op| Some((*op, list_of(op, is_user)?))).next();
    found.get_user = one_of(found.list_users.as_ref().map(|(op, _)| *op), is_user);

    found.get_source = find_source(schemas, operations, found.get_issue.as_ref().or(list_op.as_ref()));
    found
}

/// One source: the object an issue's `source_id` names, read by a `GET` on `…/sources/{id}` (the
/// collection named as the field, in the plural) answering an object with a `name`.
fn find_source<'a>(schemas: Schemas<'a>, operations: &[Op<'a>], issue: Option<&Op<'a>>) -> Option<Op<'a>> {
    let issue_schema = issue.and_then(|op| op.success(schemas)).and_then(|(_, schema)| schema)?;
    let issue_props = schemas
        .properties(issue_schema)
        .or_else(|| schemas.list(issue_schema, |_| true).and_then(|list| schemas.properties(list.item)))?;
    let noun =
        ["source_id", "dataset_id"].iter().find(|name| issue_props.contains_key(**name))?.trim_end_matches("_id");
    operations.iter().copied().find(|op| {
        let segments = op.segments();
        let named = segments.len() >= 2 && {
            let collection = segments[segments.len() - 2];
            collection == format!("{noun}s") || collection == noun
        };
        op.verb == Verb::Get
            && op.path_params() == 1
            && segments.last().is_some_and(|s| is_param(s))
            && named
            && op
                .success(schemas)
                .and_then(|(_, s)| s)
                .and_then(|s| schemas.properties(s))
                .is_some_and(|p| p.contains_key("name"))
    })
}
