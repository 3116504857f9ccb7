//! `[qalita.context]`: what the sync reads from QALITA's API about an issue when no change event
//! said it (the poll, an id-only event, `create-issue`, `explain`, `backfill`): the dataset's name,
//! the severity and the domain, each a lookup — a path built from the issue's fields, and a JSON
//! pointer into the answer. Answers are cached in the table for `cache_ttl_seconds`.
//!
//! ```toml
//! [qalita.context]
//! cache_ttl_seconds = 3600                      # 60 ..= 604800
//! [qalita.context.dataset]                      # on by default, as below
//! path = "/api/v2/sources/{source_id}"
//! pointer = "/name"
//! [qalita.context.severity]                     # off unless configured
//! path = "/api/v2/recommendations/{scope/recommendation_id}"
//! pointer = "/level"
//! [qalita.context.domain]
//! path = "/api/v2/sources/{source_id}"
//! pointer = ["/tags/domain", "/meta/domain"]
//! enabled = true
//! ```
//!
//! A placeholder names an issue field as the service reads it (after `[qalita.fields]`): `{source_id}`,
//! or a path into it such as `{scope/value}`.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::qalita_shape::{FieldPointer, JsonPointer};

/// The context lookups, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QalitaContext {
    /// How long a looked-up answer is kept in the table (and in memory) before it is read again.
    pub cache_ttl: Duration,
    /// The lookups in use, at most one per field.
    pub lookups: Vec<Lookup>,
}

impl Default for QalitaContext {
    fn default() -> Self {
        QalitaContext { cache_ttl: Duration::from_secs(DEFAULT_TTL_SECONDS), lookups: vec![Lookup::default_dataset()] }
    }
}

/// The cache's default lifetime: one hour.
pub const DEFAULT_TTL_SECONDS: u64 = 3600;
const TTL_RANGE: std::ops::RangeInclusive<u64> = 60..=604_800;
const DEFAULT_DATASET_PATH: &str = "/api/v2/sources/{source_id}";
const DEFAULT_DATASET_POINTER: &str = "/name";

/// What a lookup finds: a field of [`crate::domain::qalita::IssueContext`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ContextField {
    /// The dataset (source) name: `{dataset}` in the templates.
    Dataset,
    /// The severity: `{severity}`, and what a routing rule's `severity` matches.
    Severity,
    /// The domain: `{domain}`, and what a routing rule's `domain` matches.
    Domain,
}

impl ContextField {
    /// The lookup's name in `[qalita.context.<name>]`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContextField::Dataset => "dataset",
            ContextField::Severity => "severity",
            ContextField::Domain => "domain",
        }
    }
}

impl fmt::Display for ContextField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lookup: where to read, and where the value is in the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The context field it fills.
    pub field: ContextField,
    /// The path (and query) below the base URL, with the issue's fields in it.
    pub path: LookupPath,
    /// Where the value is in the answer; several pointers are tried in order.
    pub pointer: FieldPointer,
}

impl Lookup {
    fn default_dataset() -> Lookup {
        Lookup {
            field: ContextField::Dataset,
            path: LookupPath::parse(DEFAULT_DATASET_PATH).unwrap_or_else(|_| unreachable!("the default path parses")),
            pointer: FieldPointer::members(&["name"]),
        }
    }

    /// The text the answer holds where the pointer says: a string (trimmed, not empty), a number or
    /// a boolean as written, or the first such item of an array (a list of tags). `None` otherwise.
    pub fn value_in(&self, answer: &Value) -> Option<String> {
        fn text(value: &Value) -> Option<String> {
            match value {
                Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            }
        }
        match self.pointer.find(answer)? {
            Value::Array(items) => items.iter().find_map(text),
            value => text(value),
        }
    }
}

/// A lookup path such as `/api/v2/sources/{source_id}?with={scope/value}`: text and placeholders,
/// each placeholder a pointer into the issue as the service reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupPath {
    text: String,
    segments: Vec<Vec<Piece>>,
    query: Vec<(String, Vec<Piece>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(JsonPointer),
}

impl LookupPath {
    /// Checks a path template: it starts with `/`, has no `#`, every `{` is closed, each
    /// placeholder names a field (`{source_id}`, `{scope/value}`).
    pub fn parse(text: &str) -> Result<LookupPath, String> {
        if !text.starts_with('/') {
            return Err(format!("{text:?} must start with `/` (a path below the base URL)"));
        }
        if text.contains('#') || text.chars().any(char::is_whitespace) {
            return Err(format!("{text:?} must not contain `#` or spaces"));
        }
        let (path, query) = text.split_once('?').unwrap_or((text, ""));
        let segments = outside_braces(&path[1..], '/').into_iter().map(pieces).collect::<Result<Vec<_>, _>>()?;
        let query = outside_braces(query, '&')
            .into_iter()
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                Ok((key.to_owned(), pieces(value)?))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(LookupPath { text: text.to_owned(), segments, query })
    }

    /// The path for `issue` (the issue as JSON, with the service's field names), each value
    /// percent-encoded; `Err` names the placeholder the issue has no value for.
    pub fn render(&self, issue: &Value) -> Result<String, String> {
        let mut url = reqwest::Url::parse("http://qalita.invalid/").map_err(|e| e.to_string())?;
        {
            let mut path = url.path_segments_mut().map_err(|()| "no path".to_owned())?;
            path.clear();
            for segment in &self.segments {
                let rendered = render(segment, issue)?;
                if rendered == "." || rendered == ".." {
                    return Err(format!("a placeholder gave {rendered:?}, which is not a path segment"));
                }
                path.push(&rendered);
            }
        }
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in &self.query {
                pairs.append_pair(key, &render(value, issue)?);
            }
        }
        Ok(match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `text` split at each `separator` that is not inside a placeholder (`{scope/value}` stays whole).
fn outside_braces(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    for (at, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if c == separator && depth == 0 => {
                parts.push(&text[start..at]);
                start = at + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn pieces(text: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| format!("a `{{` in {text:?} is not closed"))?;
        let name = &after[..close];
        if name.is_empty() || name.contains('{') {
            return Err(format!("{{{name}}} in {text:?} does not name a field (e.g. {{source_id}})"));
        }
        let pointer = if name.starts_with('/') { name.to_owned() } else { format!("/{name}") };
        out.push(Piece::Field(JsonPointer::parse(&pointer)?));
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("a `}}` in {text:?} has no `{{`"));
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_owned()));
    }
    Ok(out)
}

fn render(pieces: &[Piece], issue: &Value) -> Result<String, String> {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Field(pointer) => {
                let value = match pointer.get(issue) {
                    Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return Err(format!("the issue has no `{}`", pointer.as_str().trim_start_matches('/'))),
                };
                out.push_str(&value);
            }
        }
    }
    Ok(out)
}

/// `[qalita.context]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextDoc {
    cache_ttl_seconds: Option<u64>,
    dataset: Option<LookupDoc>,
    severity: Option<LookupDoc>,
    domain: Option<LookupDoc>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupDoc {
    path: Option<String>,
    pointer: Option<FieldPointer>,
    enabled: Option<bool>,
}

/// A wrong value in `[qalita.context]`: the key under `qalita.context`, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextError {
    /// The key, such as `dataset.path`.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

impl QalitaContext {
    /// Reads and checks `[qalita.context]`; absent, the defaults (the dataset from the issue's
    /// source, one hour of cache).
    pub fn from_section(value: Option<toml::Value>) -> Result<QalitaContext, ContextError> {
        let Some(value) = value else { return Ok(QalitaContext::default()) };
        let doc: ContextDoc = serde_path_to_error::deserialize(value).map_err(|error| {
            let path = error.path().to_string();
            ContextError {
                key: if path == "." { String::new() } else { path },
                problem: error.inner().message().trim().to_owned(),
            }
        })?;
        let ttl = doc.cache_ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS);
        if !TTL_RANGE.contains(&ttl) {
            return Err(ContextError {
                key: "cache_ttl_seconds".into(),
                problem: format!("{ttl} is outside {}..={} (one minute to a week)", TTL_RANGE.start(), TTL_RANGE.end()),
            });
        }
        let mut lookups = Vec::new();
        for (field, doc) in [
            (ContextField::Dataset, doc.dataset),
            (ContextField::Severity, doc.severity),
            (ContextField::Domain, doc.domain),
        ] {
            if let Some(lookup) = lookup(field, doc)? {
                lookups.push(lookup);
            }
        }
        Ok(QalitaContext { cache_ttl: Duration::from_secs(ttl), lookups })
    }

    /// The lookup of `field`, when one is in use.
    pub fn lookup(&self, field: ContextField) -> Option<&Lookup> {
        self.lookups.iter().find(|l| l.field == field)
    }
}

fn lookup(field: ContextField, doc: Option<LookupDoc>) -> Result<Option<Lookup>, ContextError> {
    let refuse = |key: &str, problem: String| ContextError { key: format!("{field}.{key}"), problem };
    let doc = match (field, doc) {
        (ContextField::Dataset, None) => return Ok(Some(Lookup::default_dataset())),
        (_, None) => return Ok(None),
        (_, Some(doc)) => doc,
    };
    if doc.enabled == Some(false) {
        return Ok(None);
    }
    let defaults = field == ContextField::Dataset;
    let path = match (doc.path, defaults) {
        (Some(path), _) => path,
        (None, true) => DEFAULT_DATASET_PATH.to_owned(),
        (None, false) => {
            return Err(refuse("path", format!("is not set: a {field} lookup needs a path and a pointer")));
        }
    };
    let pointer = match (doc.pointer, defaults) {
        (Some(pointer), _) => pointer,
        (None, true) => FieldPointer::members(&[DEFAULT_DATASET_POINTER.trim_start_matches('/')]),
        (None, false) => {
            return Err(refuse("pointer", format!("is not set: where the {field} is in the answer (e.g. \"/level\")")));
        }
    };
    let path = LookupPath::parse(&path).map_err(|problem| refuse("path", problem))?;
    Ok(Some(Lookup { field, path, pointer }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(text: &str) -> Result<QalitaContext, ContextError> {
        let table: toml::Table = toml::from_str(text).expect("test TOML");
        QalitaContext::from_section(Some(toml::Value::Table(table)))
    }

    #[test]
    fn absent_the_dataset_is_looked_up_from_the_source_for_an_hour() {
        let context = QalitaContext::from_section(None).expect("defaults");
        assert_eq!(context.cache_ttl, Duration::from_secs(3600));
        assert_eq!(context.lookups.len(), 1);
        let dataset = context.lookup(ContextField::Dataset).expect("dataset on by default");
        assert_eq!(dataset.path.as_str(), "/api/v2/sources/{source_id}");
        assert_eq!(dataset.path.render(&json!({"source_id": 57})).as_deref(), Ok("/api/v2/sources/57"));
        assert_eq!(dataset.value_in(&json!({"id": 57, "name": " billing.sites "})).as_deref(), Some("billing.sites"));
        assert!(context.lookup(ContextField::Severity).is_none());
        assert!(context.lookup(ContextField::Domain).is_none());
    }

    #[test]
    fn lookups_are_configured_or_turned_off() {
        let context = read(
            r#"
            cache_ttl_seconds = 600
            [dataset]
            enabled = false
            [severity]
            path = "/api/v2/recommendations?issue={id}&scope={scope/value}"
            pointer = "/0/level"
            [domain]
            path = "/api/v2/sources/{source_id}"
            pointer = ["/tags/domain", "/meta/domain"]
            "#,
        )
        .expect("valid");
        assert_eq!(context.cache_ttl, Duration::from_secs(600));
        assert!(context.lookup(ContextField::Dataset).is_none());
        let severity = context.lookup(ContextField::Severity).expect("severity");
        let issue = json!({"id": 7, "scope": {"value": "a b/c"}});
        assert_eq!(severity.path.render(&issue).as_deref(), Ok("/api/v2/recommendations?issue=7&scope=a+b%2Fc"));
        assert_eq!(severity.value_in(&json!([{"level": "high"}])).as_deref(), Some("high"));
        let domain = context.lookup(ContextField::Domain).expect("domain");
        assert_eq!(domain.value_in(&json!({"meta": {"domain": "finance"}})).as_deref(), Some("finance"));
        assert_eq!(domain.value_in(&json!({"tags": {"domain": ["sales", "eu"]}})).as_deref(), Some("sales"));
        assert_eq!(domain.value_in(&json!({"tags": {"domain": {"x": 1}}})), None);
    }

    #[test]
    fn a_placeholder_value_is_one_encoded_segment_and_a_missing_one_is_named() {
        let path = LookupPath::parse("/api/v2/datasets/{scope/parent_scope/value}/meta").expect("valid");
        let issue = json!({"scope": {"parent_scope": {"value": "billing/../x?y"}}});
        assert_eq!(path.render(&issue).as_deref(), Ok("/api/v2/datasets/billing%2F..%2Fx%3Fy/meta"));
        assert_eq!(path.render(&json!({"scope": null})), Err("the issue has no `scope/parent_scope/value`".to_owned()));
        assert!(LookupPath::parse("/x/{a}").expect("valid").render(&json!({"a": ".."})).is_err());
    }

    #[test]
    fn wrong_values_name_their_key() {
        let cases = [
            ("cache_ttl_seconds = 5", "cache_ttl_seconds", "outside"),
            ("cache_ttl_seconds = 900000", "cache_ttl_seconds", "outside"),
            ("[severity]\npointer = \"/level\"", "severity.path", "not set"),
            ("[domain]\npath = \"/api/v2/sources/{source_id}\"", "domain.pointer", "not set"),
            ("[dataset]\npath = \"api/v2/sources\"", "dataset.path", "start with"),
            ("[dataset]\npath = \"/api/v2/sources/{source_id\"", "dataset.path", "not closed"),
            ("[dataset]\npath = \"/api/v2/sources/{}\"", "dataset.path", "does not name"),
            ("[dataset]\npointer = \"name\"", "dataset.pointer", "JSON pointer"),
            ("[owner]\npath = \"/x\"", "owner", "unknown field `owner`"),
            ("[dataset]\nurl = \"/x\"", "dataset.url", "unknown field `url`"),
        ];
        for (text, key, problem) in cases {
            let error = read(text).expect_err(text);
            assert_eq!(error.key, key, "{text}: {error:?}");
            assert!(error.problem.contains(problem), "{text}: {error:?}");
        }
    }
}
