//! QALITA's own outbound webhook as a way in (`POST /api/v2/integrations/qalita/webhook`), pure:
//! headers + body bytes → the message to queue, or why not.
//!
//! QALITA documents neither the payload nor a signature, so nothing here trusts the payload's
//! shape beyond two facts read by configurable JSON pointers: the event's name and the id of the
//! issue it is about. The message queued is the id-only issue event in the issue's own group
//! (`qalita:<id>`): the worker reads the issue (and sweeps its comments) itself, so no payload
//! can make it write a value the issue does not hold. Authentication is in [`auth`].

pub mod auth;

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use http::HeaderMap;
use serde_json::{Value, json};

use crate::domain::{QalitaIssueId, digest};
use crate::envelope::{ENVELOPE_VERSION, Envelope, Source};
use crate::events::qalita::{ISSUE_CREATED, ISSUE_UPDATED};
use crate::ports::OutgoingMessage;

/// The route's path, on the HTTP API and on `serve`.
pub const QALITA_WEBHOOK_PATH: &str = "/api/v2/integrations/qalita/webhook";

/// Where a delivery's facts are read, and how it proves itself. Every field has a default that
/// accepts the obvious shapes; each is configurable because QALITA documents none of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QalitaRoute {
    /// JSON pointers tried in order for the event's name (then the `X-Qalita-Event` header).
    pub event_pointers: Vec<String>,
    /// JSON pointers tried in order for the issue id of an issue event.
    pub issue_pointers: Vec<String>,
    /// JSON pointers tried in order for the issue id of a comment event (its own `id` is the
    /// comment's, so `/id` is not among the defaults).
    pub comment_issue_pointers: Vec<String>,
    /// The header that may carry the shared secret itself (besides `Authorization: Bearer`).
    pub token_header: String,
    /// The header that may carry the hex HMAC-SHA256 of the body (`sha256=` prefix optional).
    pub signature_header: String,
    /// Headers tried in order for the delivery's id, which deduplicates a sender's retries.
    pub delivery_headers: Vec<String>,
    /// How far a Standard Webhooks `webhook-timestamp` may be from now, either way.
    pub tolerance: TimeDelta,
}

impl Default for QalitaRoute {
    fn default() -> Self {
        let list = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        QalitaRoute {
            event_pointers: list(&["/event", "/type", "/kind", "/event_type"]),
            issue_pointers: list(&["/issue/id", "/data/id", "/issue_id", "/id"]),
            comment_issue_pointers: list(&["/issue_id", "/comment/issue_id", "/data/issue_id", "/issue/id"]),
            token_header: "x-qalita-token".into(),
            signature_header: "x-qalita-signature".into(),
            delivery_headers: list(&["webhook-id", "x-qalita-delivery", "x-delivery-id", "idempotency-key"]),
            tolerance: TimeDelta::minutes(5),
        }
    }
}

/// A setting of the route that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RouteSettingError(pub String);

impl QalitaRoute {
    /// Reads a comma-separated list of JSON pointers (each empty, for the whole body, or starting
    /// with `/`).
    pub fn pointers(list: &str) -> Result<Vec<String>, RouteSettingError> {
        let pointers: Vec<String> =
            list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
        if pointers.is_empty() {
            return Err(RouteSettingError("must name at least one JSON pointer".into()));
        }
        match pointers.iter().find(|p| !p.starts_with('/')) {
            Some(bad) => Err(RouteSettingError(format!("{bad:?} is not a JSON pointer (it must start with /)"))),
            None => Ok(pointers),
        }
    }

    /// Reads a comma-separated list of header names.
    pub fn headers(list: &str) -> Result<Vec<String>, RouteSettingError> {
        let names: Vec<String> = list.split(',').map(str::trim).filter(|h| !h.is_empty()).map(header_name).collect();
        match names.iter().find(|n| http::HeaderName::from_bytes(n.as_bytes()).is_err()) {
            Some(bad) => Err(RouteSettingError(format!("{bad:?} is not a valid header name"))),
            None if names.is_empty() => Err(RouteSettingError("must name at least one header".into())),
            None => Ok(names),
        }
    }

    /// Reads one header name.
    pub fn header(name: &str) -> Result<String, RouteSettingError> {
        let name = header_name(name.trim());
        match http::HeaderName::from_bytes(name.as_bytes()) {
            Ok(_) => Ok(name),
            Err(_) => Err(RouteSettingError(format!("{name:?} is not a valid header name"))),
        }
    }
}

fn header_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// The headers of a QALITA delivery, read once. `Debug` shows no credential.
#[derive(Clone, Copy, Default)]
pub struct QalitaHeaders<'a> {
    /// The token of `Authorization: Bearer <token>`.
    pub bearer: Option<&'a [u8]>,
    /// The configured token header.
    pub token: Option<&'a [u8]>,
    /// The configured signature header (hex HMAC-SHA256 of the body).
    pub signature: Option<&'a str>,
    /// `webhook-id` (Standard Webhooks).
    pub webhook_id: Option<&'a str>,
    /// `webhook-timestamp` (Standard Webhooks).
    pub webhook_timestamp: Option<&'a str>,
    /// `webhook-signature` (Standard Webhooks).
    pub webhook_signature: Option<&'a str>,
    /// The delivery's id, from the first configured delivery header present.
    pub delivery_id: Option<&'a str>,
    /// `X-Qalita-Event`.
    pub event: Option<&'a str>,
}

impl fmt::Debug for QalitaHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present = |v: bool| if v { "[present]" } else { "-" };
        f.debug_struct("QalitaHeaders")
            .field("bearer", &present(self.bearer.is_some()))
            .field("token", &present(self.token.is_some()))
            .field("signature", &present(self.signature.is_some()))
            .field("webhook_id", &self.webhook_id)
            .field("webhook_timestamp", &self.webhook_timestamp)
            .field("webhook_signature", &present(self.webhook_signature.is_some()))
            .field("delivery_id", &self.delivery_id)
            .field("event", &self.event)
            .finish()
    }
}

impl<'a> QalitaHeaders<'a> {
    /// Reads the headers the route uses (names are case-insensitive).
    pub fn from_map(route: &QalitaRoute, map: &'a HeaderMap) -> Self {
        let text = |name: &str| map.get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
        let bearer = map.get(http::header::AUTHORIZATION).and_then(|value| {
            let bytes = value.as_bytes();
            let scheme = bytes.get(..7)?;
            scheme.eq_ignore_ascii_case(b"bearer ").then(|| trim_ascii(&bytes[7..]))
        });
        QalitaHeaders {
            bearer,
            token: map.get(route.token_header.as_str()).map(|v| trim_ascii(v.as_bytes())),
            signature: text(&route.signature_header),
            webhook_id: text("webhook-id"),
            webhook_timestamp: text("webhook-timestamp"),
            webhook_signature: text("webhook-signature"),
            delivery_id: route.delivery_headers.iter().find_map(|name| text(name)),
            event: text("x-qalita-event"),
        }
    }
}

fn trim_ascii(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// What a QALITA event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClass {
    /// An issue was created.
    IssueCreated,
    /// An issue changed (or anything else said about an issue).
    Issue,
    /// A comment was made or edited.
    Comment,
    /// Not about an issue or a comment (`quality_score_changed`, …).
    Other,
}

impl EventClass {
    /// Classifies an event name by its words, whatever the separator or case: `issue.created`,
    /// `issue_updated`, `IssueUpdated`, `comment.created`, `issue.comment.updated`.
    pub fn of(name: &str) -> Self {
        let words = words(name);
        let has = |word: &str| words.iter().any(|w| w == word || w.strip_suffix('s') == Some(word));
        if has("comment") {
            EventClass::Comment
        } else if has("issue") && has("created") {
            EventClass::IssueCreated
        } else if has("issue") {
            EventClass::Issue
        } else {
            EventClass::Other
        }
    }
}

/// The lowercase words of a name: split at every non-alphanumeric character and before each
/// capital that follows a lowercase letter.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        previous_lower = c.is_lowercase();
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// What a delivery is, for the log line: never a payload value beyond the issue id and a tame
/// event name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QalitaSummary {
    /// The event's name, when it is a tame one (at most 64 letters, digits, `.`, `_`, `-`).
    pub event: Option<String>,
    /// The issue it is about.
    pub issue: Option<u64>,
}

impl QalitaSummary {
    fn named(event: &str) -> Self {
        let tame = event.len() <= 64 && event.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b));
        QalitaSummary { event: Some(if tame { event.to_owned() } else { "other".to_owned() }), issue: None }
    }
}

/// What the route does with an authentic delivery.
#[derive(Debug)]
pub enum QalitaIngested {
    /// Put the message on the queue.
    Queue {
        /// The id-only issue event, in the issue's group.
        message: OutgoingMessage,
        /// For the log.
        summary: QalitaSummary,
    },
    /// Acknowledge it and queue nothing: the event is about neither an issue nor a comment.
    Ignore {
        /// For the log.
        summary: QalitaSummary,
    },
}

/// Why an authentic delivery cannot be read: `400`, and the sender is told exactly what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QalitaIngestError {
    /// Not JSON (or not UTF-8).
    #[error("body is not valid JSON: {detail}")]
    NotJson {
        /// The parser's message.
        detail: String,
    },
    /// JSON, but not an object.
    #[error("body is {found}, not a JSON object")]
    NotAnObject {
        /// What it is.
        found: &'static str,
    },
    /// No event name at any of the pointers, nor in `X-Qalita-Event`.
    #[error("no event name at {tried} nor in the X-Qalita-Event header")]
    NoEvent {
        /// The pointers tried.
        tried: String,
    },
    /// An issue or comment event naming no issue.
    #[error("the {event} event names no issue at {tried}")]
    NoIssue {
        /// The event's name.
        event: String,
        /// The pointers tried.
        tried: String,
    },
    /// The value at the pointer is not a positive integer (nor a string of one).
    #[error("the issue id at {pointer} is not a positive integer")]
    BadIssueId {
        /// Where it was read.
        pointer: String,
    },
}

/// Reads an authentic delivery. `now` is the envelope's `received_at`.
pub fn ingest(
    route: &QalitaRoute,
    headers: &QalitaHeaders<'_>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<QalitaIngested, QalitaIngestError> {
    let value = parse(body)?;
    let event = route
        .event_pointers
        .iter()
        .find_map(|p| value.pointer(p).and_then(Value::as_str).map(str::trim).filter(|e| !e.is_empty()))
        .or(headers.event)
        .ok_or_else(|| QalitaIngestError::NoEvent { tried: route.event_pointers.join(", ") })?;
    let mut summary = QalitaSummary::named(event);
    let class = EventClass::of(event);
    let pointers = match class {
        EventClass::Other => return Ok(QalitaIngested::Ignore { summary }),
        EventClass::Comment => &route.comment_issue_pointers,
        EventClass::Issue | EventClass::IssueCreated => &route.issue_pointers,
    };
    let id = issue_id(&value, pointers)?.ok_or_else(|| QalitaIngestError::NoIssue {
        event: summary.event.clone().unwrap_or_default(),
        tried: pointers.join(", "),
    })?;
    summary.issue = Some(id.get());
    let kind = match class {
        EventClass::IssueCreated => ISSUE_CREATED,
        _ => ISSUE_UPDATED,
    };
    let key = dedup_id(headers, body);
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        source: Source::Qalita,
        kind: kind.into(),
        received_at: now,
        key: key.as_str().into(),
        delivery: None,
        // The issue is read by the worker; its comments are swept (QALITA may announce a comment by
        // an issue event, or not at all).
        payload: json!({ "issue_id": id, "sweep": true }),
    };
    let body = serde_json::to_string(&envelope).unwrap_or_default();
    Ok(QalitaIngested::Queue {
        message: OutgoingMessage { group_id: crate::envelope::issue_group(id), dedup_id: key, body },
        summary,
    })
}

fn parse(body: &[u8]) -> Result<Value, QalitaIngestError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| QalitaIngestError::NotJson { detail: e.to_string() })?;
    match value {
        Value::Object(_) => Ok(value),
        Value::Array(_) => Err(QalitaIngestError::NotAnObject { found: "an array" }),
        Value::String(_) => Err(QalitaIngestError::NotAnObject { found: "a string" }),
        Value::Null => Err(QalitaIngestError::NotAnObject { found: "null" }),
        Value::Bool(_) => Err(QalitaIngestError::NotAnObject { found: "a boolean" }),
        Value::Number(_) => Err(QalitaIngestError::NotAnObject { found: "a number" }),
    }
}

/// The id at the first pointer that holds a value: a positive integer, or a string of one.
fn issue_id(value: &Value, pointers: &[String]) -> Result<Option<QalitaIssueId>, QalitaIngestError> {
    let Some((pointer, found)) =
        pointers.iter().find_map(|p| value.pointer(p).filter(|v| !v.is_null()).map(|v| (p, v)))
    else {
        return Ok(None);
    };
    let raw = match found {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    raw.and_then(|raw| QalitaIssueId::new(raw).ok())
        .map(Some)
        .ok_or_else(|| QalitaIngestError::BadIssueId { pointer: pointer.clone() })
}

/// The delivery's id when the sender gives one (its retries share it), else the body's hash.
fn dedup_id(headers: &QalitaHeaders<'_>, body: &[u8]) -> String {
    let mut key = String::from("qalita-wh:");
    match headers.delivery_id {
        Some(id) => digest::push_hex(&mut key, id.as_bytes()),
        None => {
            key.push_str("body:");
            digest::push_hex(&mut key, body);
        }
    }
    key
}

#[cfg(test)]
mod tests;
