//! From the operations found to the settings: paths and verbs, how the token is sent, how lists
//! page and where they are, which field names the objects use, which keys the bodies take, and
//! which statuses mean "not found". A setting is written where the document proves it; what it
//! leaves open keeps its default, and a note says so.

use serde_json::{Map, Value};

use super::operations::{Found, LOGIN_NAMES, Op, TEXT_NAMES};
use super::schema::{ListShape, Schemas};
use super::{Discovery, Need, OperationReport, Section, Setting};
use crate::config::qalita_paths::Endpoint;

/// The names of the page style's parameters.
const PAGE_NAMES: &[&str] = &["page", "page_number", "pageNumber", "page_no"];
/// The names of a page's size, in either style.
const SIZE_NAMES: &[&str] = &["size", "per_page", "page_size", "pageSize", "limit"];
/// The names of the offset style's position.
const OFFSET_NAMES: &[&str] = &["offset", "skip", "start"];
/// The names of the offset style's count.
const LIMIT_NAMES: &[&str] = &["limit", "take", "count", "size", "max_results"];

/// The page size the poll asks for by default (`sync.poll_page_size`) and the user list's
/// (`qalita.paging.user_page_size`).
const DEFAULT_PAGE_SIZE: u64 = 100;
/// The page size of an issue's comments when the document allows more (or says nothing).
const DEFAULT_COMMENT_PAGE_SIZE: u64 = 100;

/// An issue's fields: (setting, default member name, other names an instance may use).
const ISSUE_FIELDS: &[(&str, &str, &[&str])] = &[
    ("id", "id", &[]),
    ("partner_id", "partner_id", &["tenant_id", "organization_id"]),
    ("title", "title", &["name", "summary"]),
    ("description", "description", &["body", "details"]),
    ("status", "status", &["state"]),
    ("source_id", "source_id", &["dataset_id"]),
    ("assignee", "assignee", &["assignee_id", "assigned_to", "assigned_to_id", "assignee_user_id", "owner_id"]),
    ("scope", "scope", &[]),
    ("due_date", "due_date", &["due", "due_on"]),
    ("author_id", "author_id", &["created_by", "creator_id", "reporter_id"]),
    ("updated_by", "updated_by", &["updated_by_id", "modified_by"]),
    ("closed_by", "closed_by", &["closed_by_id", "resolved_by"]),
    ("created_at", "created_at", &["created", "created_on", "creation_date"]),
    ("updated_at", "updated_at", &["updated", "updated_on", "modified_at", "last_modified"]),
    ("closed_at", "closed_at", &["closed", "resolved_at"]),
    ("url", "url", &["web_url", "html_url", "link"]),
];

/// A comment's fields besides its text: (setting, the names the default reads, other names).
const COMMENT_FIELDS: &[(&str, &[&str], &[&str])] = &[
    ("id", &["id"], &[]),
    ("issue_id", &["issue_id"], &[]),
    ("author_id", &["author_id", "user_id"], &["created_by", "creator_id"]),
    ("created_at", &["created_at"], &["created", "created_on"]),
    ("updated_at", &["updated_at"], &["updated", "updated_on", "modified_at"]),
];

/// A user's fields: (setting, default name, other names).
const USER_FIELDS: &[(&str, &str, &[&str])] = &[
    ("login", "login", LOGIN_NAMES),
    ("name", "name", &["full_name", "display_name", "displayName", "fullName"]),
    ("email", "email", &["mail", "email_address"]),
];

/// The update body's keys: (setting, names).
const WRITE_KEYS: &[(&str, &[&str])] = &[
    ("status", &["status", "state"]),
    ("title", &["title", "name", "summary"]),
    ("description", &["description", "body", "details"]),
    ("assignee", &["assignee", "assignee_id", "assigned_to", "assigned_to_id", "assignee_user_id", "owner_id"]),
];

/// A section being filled.
struct Builder {
    section: Section,
}

impl Builder {
    fn new(name: &'static str) -> Self {
        Builder { section: Section { name, settings: Vec::new(), notes: Vec::new() } }
    }

    fn set(&mut self, key: &'static str, value: impl Into<toml::Value>, why: impl Into<String>) {
        self.section.settings.push(Setting { key, value: value.into(), why: why.into() });
    }

    fn note(&mut self, note: impl Into<String>) {
        self.section.notes.push(note.into());
    }
}

/// The whole derivation.
pub(super) fn discovery(document: &Value, schemas: Schemas<'_>, found: &Found<'_>, described: String) -> Discovery {
    let mut paths = Builder::new("qalita.paths");
    let operations = endpoints(found, &mut paths);
    let sections = vec![
        paths.section,
        auth(document, found),
        paging(schemas, found),
        issue_fields(schemas, found),
        comment_fields(schemas, found),
        user_fields(schemas, found),
        write(schemas, found),
        not_found(schemas, found),
        dataset(schemas, found),
    ];
    Discovery { described, operations, sections }
}

/// The document's template with its parameters renamed, in order, to `names`.
fn template(path: &str, names: &[&str]) -> String {
    let mut names = names.iter();
    path.split('/')
        .map(|segment| match segment.starts_with('{') && segment.ends_with('}') {
            true => names.next().map_or_else(|| segment.to_owned(), |name| format!("{{{name}}}")),
            false => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The names of an endpoint's parameters, in order.
type Names = &'static [&'static str];

fn endpoints<'a>(found: &Found<'a>, paths: &mut Builder) -> Vec<OperationReport> {
    let one = |op: Option<Op<'a>>| -> Option<(Op<'a>, Names)> { op.map(|op| (op, &["id"][..])) };
    let list = |op: Option<&(Op<'a>, ListShape<'a>)>| -> Option<(Op<'a>, Names)> { op.map(|(op, _)| (*op, &[][..])) };
    let located: [(Need, Option<(Op<'a>, Names)>); 9] = [
        (Need::ListIssues, list(found.list_issues.as_ref())),
        (Need::GetIssue, one(found.get_issue)),
        (Need::UpdateIssue, one(found.update_issue)),
        (Need::ListComments, list(found.list_comments.as_ref()).map(|(op, _)| (op, &["id"][..]))),
        (Need::CreateComment, one(found.create_comment)),
        (Need::UpdateComment, found.update_comment.map(|op| (op, &["id", "comment_id"][..]))),
        (Need::GetUser, one(found.get_user)),
        (Need::ListUsers, list(found.list_users.as_ref())),
        (Need::GetSource, one(found.get_source)),
    ];
    let mut reports = Vec::new();
    for (need, op) in located {
        let endpoint = op.and_then(|(op, names)| {
            let text = format!("{} {}", op.verb, template(op.path, names));
            match Endpoint::parse(&text) {
                Ok(endpoint) => Some((op, endpoint)),
                Err(error) => {
                    paths.note(format!("{} at {} {} cannot be configured: {error}", need.name(), op.verb, op.path));
                    None
                }
            }
        });
        if let (Some((op, endpoint)), Some(key)) = (&endpoint, need.setting()) {
            let why = match need {
                Need::UpdateIssue if found.update_both => {
                    format!(
                        "{}: PATCH and PUT are both declared; PATCH, as the sync sends only the changed fields",
                        need.name()
                    )
                }
                _ => format!("{}: {} {} ({})", need.name(), op.verb, op.path, summary(op)),
            };
            paths.set(key, endpoint.to_string(), why);
        }
        if endpoint.is_none() {
            match need {
                Need::UpdateComment => {
                    paths.set("update_comment", "none", format!("update comment: not in the document; {}", need.loss()))
                }
                Need::GetSource => {}
                _ if need.setting().is_some() => {
                    paths.note(format!("{}: NOT FOUND, the default is kept; without it: {}", need.name(), need.loss()))
                }
                _ => {}
            }
        }
        reports.push(OperationReport {
            need,
            endpoint: endpoint.as_ref().map(|(_, endpoint)| endpoint.to_string()),
            documented: endpoint.as_ref().map(|(op, _)| format!("{} {}", op.verb, op.path)),
        });
    }
    for other in &found.other_issue_lists {
        paths.note(format!("another issue list, not used: {} {}", other.verb, other.path));
    }
    reports
}

/// The operation's id or summary, for the comment.
fn summary(op: &Op<'_>) -> String {
    ["operationId", "summary"]
        .iter()
        .find_map(|key| op.operation.get(*key).and_then(Value::as_str))
        .map_or_else(|| "no operation id".to_owned(), |text| format!("operation {text}"))
}

fn auth(document: &Value, found: &Found<'_>) -> Section {
    let mut section = Builder::new("qalita.auth");
    let schemes = document.pointer("/components/securitySchemes").and_then(Value::as_object);
    let Some(schemes) = schemes.filter(|schemes| !schemes.is_empty()) else {
        section.note("the document declares no security scheme: the default (Authorization: Bearer) is kept");
        return section.section;
    };
    // The scheme the issue list requires, else the document's, else the only one declared.
    let required = |on: Option<&Value>| -> Vec<String> {
        let requirements = on.and_then(|on| on.get("security")).and_then(Value::as_array);
        requirements.into_iter().flatten().filter_map(Value::as_object).flat_map(|r| r.keys().cloned()).collect()
    };
    let list = found.list_issues.as_ref().map(|(op, _)| op.operation);
    let mut names = required(list);
    if names.is_empty() {
        names = required(Some(document));
    }
    if names.is_empty() {
        names = schemes.keys().cloned().collect();
    }
    for name in &names {
        let Some(scheme) = schemes.get(name) else { continue };
        let field = |key: &str| scheme.get(key).and_then(Value::as_str).unwrap_or_default();
        match (field("type"), field("in")) {
            ("http", _) if field("scheme").eq_ignore_ascii_case("bearer") => {
                let why = format!("security scheme {name} is HTTP bearer: `Authorization: Bearer <token>`");
                section.set("header", "Authorization", why.clone());
                section.set("scheme", "Bearer", why);
                return section.section;
            }
            ("apiKey", "header") => {
                let header = field("name");
                let why = format!("security scheme {name} is an API key in the header {header}, sent bare");
                section.set("header", header, why.clone());
                section.set("scheme", "", why);
                return section.section;
            }
            ("oauth2" | "openIdConnect", _) => {
                let why = format!("security scheme {name} is {}: its tokens are sent as bearer tokens", field("type"));
                section.set("header", "Authorization", why.clone());
                section.set("scheme", "Bearer", why);
                return section.section;
            }
            (kind, place) => section.note(format!(
                "security scheme {name} ({kind}{}) cannot be configured: the client sends the token in a header",
                if place.is_empty() { String::new() } else { format!(" in {place}") }
            )),
        }
    }
    section.note("no security scheme the client can use: the default (Authorization: Bearer) is kept");
    section.section
}

/// The first of `names` among the parameters, with its schema.
fn param<'a>(params: &[(&'a str, &'a Value)], names: &[&str]) -> Option<(&'a str, &'a Value)> {
    names.iter().find_map(|name| params.iter().find(|(p, _)| p == name).copied())
}

fn paging(schemas: Schemas<'_>, found: &Found<'_>) -> Section {
    let mut section = Builder::new("qalita.paging");
    let Some((list, shape)) = &found.list_issues else {
        section.note("no issue list found: the default paging (offset and limit, bare array) is kept");
        return section.section;
    };
    let params = list.query_params(schemas);
    let where_ = format!("{} {}", list.verb, list.path);
    let number = |schema: &Value, key: &str| schemas.unwrap(schema).get(key).and_then(Value::as_u64);
    let size = if let Some((page, page_schema)) = param(&params, PAGE_NAMES) {
        let size = param(&params, SIZE_NAMES);
        set_style(&mut section, &where_, ("page", "page_param", page), ("size_param", size));
        let first = number(page_schema, "minimum").or_else(|| number(page_schema, "default")).unwrap_or(1).min(1);
        let from = match number(page_schema, "minimum") {
            Some(minimum) => format!("`{page}` has a minimum of {minimum}"),
            None => format!("`{page}` declares no minimum: pages are taken to count from 1"),
        };
        section.set("first_page", toml::Value::Integer(i64::try_from(first).unwrap_or(1)), from);
        size
    } else if let Some((offset, _)) = param(&params, OFFSET_NAMES) {
        let limit = param(&params, LIMIT_NAMES);
        set_style(&mut section, &where_, ("offset", "offset_param", offset), ("limit_param", limit));
        limit
    } else {
        section.note(format!(
            "{where_} declares no paging parameter: the default (offset and limit) is kept; if the instance ignores it, only its first answer is ever read"
        ));
        None
    };
    if let Some(maximum) = size.and_then(|(_, schema)| number(schema, "maximum")).filter(|m| *m < DEFAULT_PAGE_SIZE) {
        section.note(format!("pages hold at most {maximum} issues: set sync.poll_page_size to {maximum} or less"));
    }
    list_pointers(&mut section, "items", "total", shape, &where_);
    if let Some((comments, comment_shape)) = &found.list_comments {
        let where_ = format!("{} {}", comments.verb, comments.path);
        match &comment_shape.items {
            Some(items) => {
                section.set("comment_items", format!("/{items}"), format!("{where_} answers its list in `{items}`"))
            }
            None => section.note(format!("{where_} answers a bare array (the default)")),
        }
        let comment_params = comments.query_params(schemas);
        if !comment_params.is_empty() {
            match param(&comment_params, SIZE_NAMES).or_else(|| param(&comment_params, LIMIT_NAMES)) {
                Some((_, schema)) => {
                    let size = number(schema, "maximum")
                        .map_or(DEFAULT_COMMENT_PAGE_SIZE, |m| m.min(DEFAULT_COMMENT_PAGE_SIZE));
                    let why = format!("{where_} is paged: its comments are read page by page, {size} a page");
                    section.set("comment_page_size", toml::Value::Integer(i64::try_from(size).unwrap_or(1)), why);
                }
                None => section.note(format!(
                    "{where_} takes query parameters but none is a page size: the client reads one answer"
                )),
            }
        }
    }
    if let Some((users, user_shape)) = &found.list_users {
        let user_params = users.query_params(schemas);
        let maximum = param(&user_params, SIZE_NAMES).and_then(|(_, schema)| number(schema, "maximum"));
        if let Some(maximum) = maximum.filter(|m| *m < DEFAULT_PAGE_SIZE) {
            let why = format!("{} {} pages hold at most {maximum} users", users.verb, users.path);
            section.set("user_page_size", toml::Value::Integer(i64::try_from(maximum).unwrap_or(1)), why);
        }
        if user_shape.items != shape.items {
            section.note(format!(
                "{} {} answers its list in {}, the issue list in {}: one pointer (items) serves both",
                users.verb,
                users.path,
                user_shape.items.as_deref().map_or("a bare array".into(), |i| format!("`{i}`")),
                shape.items.as_deref().map_or("a bare array".into(), |i| format!("`{i}`")),
            ));
        }
    }
    section.section
}

/// The paging style and its two parameters, proven by the list at `at` taking them.
fn set_style(
    section: &mut Builder,
    at: &str,
    (style, position_key, position): (&'static str, &'static str, &str),
    (count_key, count): (&'static str, Option<(&str, &Value)>),
) {
    let why = format!("{at} takes `{position}`{}", count.map(|(c, _)| format!(" and `{c}`")).unwrap_or_default());
    section.set("style", style, why.clone());
    section.set(position_key, position, why.clone());
    if let Some((count, _)) = count {
        section.set(count_key, count, why);
    }
}

fn list_pointers(
    section: &mut Builder,
    items_key: &'static str,
    total_key: &'static str,
    shape: &ListShape<'_>,
    at: &str,
) {
    match &shape.items {
        Some(items) => section.set(items_key, format!("/{items}"), format!("{at} answers its list in `{items}`")),
        None => section.note(format!("{at} answers a bare array (the default)")),
    }
    if let Some(total) = &shape.total {
        section.set(total_key, format!("/{total}"), format!("{at} gives the list's total in `{total}`"));
    }
}

/// The object schema an operation answers (or the item of the list it answers).
fn answered<'a>(schemas: Schemas<'a>, op: Option<&Op<'a>>, list: Option<&ListShape<'a>>) -> Option<Map<String, Value>> {
    let from_op =
        op.and_then(|op| op.success(schemas)).and_then(|(_, schema)| schema).and_then(|s| schemas.properties(s));
    from_op.or_else(|| list.and_then(|list| schemas.properties(list.item)))
}

/// The name `default` in camelCase (`created_at` → `createdAt`).
fn camel(default: &str) -> String {
    let mut parts = default.split('_');
    let first = parts.next().unwrap_or_default().to_owned();
    parts.fold(first, |mut name, part| {
        let mut chars = part.chars();
        if let Some(c) = chars.next() {
            name.extend(c.to_uppercase());
            name.push_str(chars.as_str());
        }
        name
    })
}

/// The member of `properties` a field is read from: the first of `defaults` present (`None`: the
/// default holds), else the first other name present (`Some(Some(name))`), else absent.
fn member(properties: &Map<String, Value>, defaults: &[&str], others: &[&str]) -> Option<Option<String>> {
    if defaults.iter().any(|name| properties.contains_key(*name)) {
        return Some(None);
    }
    let camels = defaults.iter().map(|name| camel(name));
    let candidates = others.iter().map(|name| (*name).to_owned()).chain(camels);
    candidates.into_iter().find(|name| properties.contains_key(name)).map(Some)
}

fn issue_fields(schemas: Schemas<'_>, found: &Found<'_>) -> Section {
    let mut section = Builder::new("qalita.fields");
    let Some(properties) = answered(schemas, found.get_issue.as_ref(), found.list_issues.as_ref().map(|(_, s)| s))
    else {
        section.note("no issue schema found: every field keeps its default name");
        return section.section;
    };
    let mut absent = Vec::new();
    for (key, default, others) in ISSUE_FIELDS {
        match member(&properties, &[default], others) {
            Some(None) => {}
            Some(Some(name)) => {
                section.set(key, format!("/{name}"), format!("the issue has `{name}`, not `{default}`"))
            }
            None => absent.push(*key),
        }
    }
    if !absent.is_empty() {
        section.note(format!("not in the issue's schema, read as unknown: {}", absent.join(", ")));
    }
    if absent.contains(&"updated_at") {
        section.note("without updated_at the poll cannot tell a changed issue from an unchanged one");
    }
    section.section
}

fn comment_fields(schemas: Schemas<'_>, found: &Found<'_>) -> Section {
    let mut section = Builder::new("qalita.fields.comment");
    let list = found.list_comments.as_ref();
    let Some(properties) = answered(schemas, found.create_comment.as_ref(), list.map(|(_, s)| s)) else {
        section.note("no comment schema found: every field keeps its default name");
        return section.section;
    };
    match TEXT_NAMES.iter().find(|name| properties.contains_key(**name)) {
        Some(text) => section.set("content", format!("/{text}"), format!("a comment's text is `{text}`")),
        None => {
            section.note("no text field found in the comment's schema: the default (content, body or text) is kept")
        }
    }
    let mut absent = Vec::new();
    for (key, defaults, others) in COMMENT_FIELDS {
        match member(&properties, defaults, others) {
            Some(None) => {}
            Some(Some(name)) => section.set(key, format!("/{name}"), format!("the comment has `{name}`")),
            None => absent.push(*key),
        }
    }
    if !absent.is_empty() {
        section.note(format!("not in the comment's schema, read as unknown: {}", absent.join(", ")));
    }
    section.section
}

fn user_fields(schemas: Schemas<'_>, found: &Found<'_>) -> Section {
    let mut section = Builder::new("qalita.fields.user");
    let Some(properties) = answered(schemas, found.get_user.as_ref(), found.list_users.as_ref().map(|(_, s)| s)) else {
        section.note("no user schema found: every field keeps its default name");
        return section.section;
    };
    for (key, default, others) in USER_FIELDS {
        match member(&properties, &[default], others) {
            Some(None) => {}
            Some(Some(name)) => section.set(key, format!("/{name}"), format!("the user has `{name}`, not `{default}`")),
            None if *key == "login" => {
                section.note("the user has no login field: GitLab assignees are matched by the [assignees] table only")
            }
            None => section.note(format!("the user has no {key} field")),
        }
    }
    section.section
}

fn write(schemas: Schemas<'_>, found: &Found<'_>) -> Section {
    let mut section = Builder::new("qalita.write");
    match found.update_issue.as_ref().and_then(|op| Some((op, schemas.properties(op.body(schemas)?)?))) {
        Some((op, properties)) => {
            let at = format!("{} {}", op.verb, op.path);
            for (key, names) in WRITE_KEYS {
                match names.iter().find(|name| properties.contains_key(**name)) {
                    Some(name) => section.set(key, *name, format!("{at} takes `{name}`")),
                    None => section.note(format!("{at} takes no {key} key: a {key} changed in GitLab is not written")),
                }
            }
        }
        None if found.update_issue.is_some() => {
            section.note("the issue update declares no JSON body: the default keys are kept")
        }
        None => {}
    }
    let create = found.create_comment.as_ref().and_then(|op| Some((op, schemas.properties(op.body(schemas)?)?)));
    if let Some((op, properties)) = create {
        let strings: Vec<&String> = properties
            .iter()
            .filter(|(_, schema)| schemas.kind(schema) == Some("string"))
            .map(|(name, _)| name)
            .collect();
        let text = TEXT_NAMES.iter().find(|name| properties.contains_key(**name)).map(|name| (*name).to_owned());
        let text = text.or_else(|| match strings.as_slice() {
            [only] => Some((*only).clone()),
            _ => None,
        });
        match text {
            Some(text) => section.set("comment_text", text.clone(), format!("{} {} takes `{text}`", op.verb, op.path)),
            None => section
                .note("the comment's body has no text key the discovery recognises: the default (content) is kept"),
        }
    }
    section.section
}

fn not_found(schemas: Schemas<'_>, found: &Found<'_>) -> Section {
    let mut section = Builder::new("qalita.not_found");
    let reads = [found.get_issue.as_ref(), found.list_comments.as_ref().map(|(op, _)| op), found.get_user.as_ref()];
    let mut statuses = Vec::new();
    let mut told = Vec::new();
    for op in reads.into_iter().flatten() {
        let success = op.success(schemas).map(|(status, _)| status);
        for status in op.statuses() {
            // A 204 beside a 200 answers "nothing"; a 204 as the only success is the answer itself.
            let counted = status == 404 || (status == 204 && success.is_some_and(|s| s < 204));
            if counted && !statuses.contains(&status) {
                statuses.push(status);
                told.push(format!("{status} ({} {})", op.verb, op.path));
            }
        }
    }
    statuses.sort_unstable();
    if statuses.is_empty() {
        section.note("no read declares 204 or 404: both are kept as \"not found\" (the default)");
    } else {
        let values = statuses.iter().map(|s| toml::Value::Integer(i64::from(*s))).collect::<Vec<_>>();
        section.set("statuses", values, format!("the reads declare {}", told.join(", ")));
    }
    section.section
}

/// The dataset lookup (`[qalita.context.dataset]`): the source an issue names, and its name.
fn dataset(schemas: Schemas<'_>, found: &Found<'_>) -> Section {
    let mut section = Builder::new("qalita.context.dataset");
    let Some(source) = &found.get_source else {
        section.note(format!(
            "get source: NOT FOUND, the default lookup is kept (it fails quietly); without it: {}",
            Need::GetSource.loss()
        ));
        return section.section;
    };
    let why = format!("get source: {} {} ({}), its `name`", source.verb, source.path, summary(source));
    section.set("path", template(source.path, &["source_id"]), why.clone());
    let has_name = answered(schemas, Some(source), None).is_some_and(|properties| properties.contains_key("name"));
    if has_name {
        section.set("pointer", "/name", why);
    }
    section.section
}
