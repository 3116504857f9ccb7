//! Delivery parsing for the webhook function (pure: headers + body bytes → a queue message or a
//! reason to ignore). Authentication is in [`verify`]; the trimmed payload types are in [`crate::events::gitlab`].

mod headers;
pub mod qalita;
mod secret_cache;
pub mod signature;

pub mod verify;

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::{GitlabProjectId, Iid, digest};
use crate::envelope::{ENVELOPE_VERSION, Envelope, Source};
use crate::events::gitlab::{Attributes, GitlabPayload, IssueEvent, NoteEvent, NoteIssue};
use crate::ports::OutgoingMessage;

pub use headers::DeliveryHeaders;

/// The GitLab events the sync consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `Issue Hook`.
    Issue,
    /// `Confidential Issue Hook`.
    ConfidentialIssue,
    /// `Note Hook` on an issue.
    Note,
    /// `Confidential Note Hook` on an issue (internal notes, notes on confidential issues).
    ConfidentialNote,
}

impl EventKind {
    /// GitLab's event name, as in `X-Gitlab-Event`; the envelope's `kind`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Issue => "Issue Hook",
            EventKind::ConfidentialIssue => "Confidential Issue Hook",
            EventKind::Note => "Note Hook",
            EventKind::ConfidentialNote => "Confidential Note Hook",
        }
    }

    /// Reads an envelope `kind` back.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Issue, Self::ConfidentialIssue, Self::Note, Self::ConfidentialNote]
            .into_iter()
            .find(|k| k.name() == name)
    }

    /// A form of the name that is valid in an SQS deduplication id (no spaces).
    fn slug(self) -> &'static str {
        match self {
            EventKind::Issue => "issue-hook",
            EventKind::ConfidentialIssue => "confidential-issue-hook",
            EventKind::Note => "note-hook",
            EventKind::ConfidentialNote => "confidential-note-hook",
        }
    }
}

/// Why an authentic delivery is acknowledged and not enqueued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoreReason {
    /// An event kind the sync does not use (merge request, push, pipeline, …).
    NotSynced {
        /// The payload's `object_kind`.
        object_kind: String,
    },
    /// A work item that is not an issue or incident (task, epic, …).
    WorkItem {
        /// The work item's type, when the payload says.
        work_item_type: Option<String>,
    },
    /// A note on a merge request, commit or snippet.
    NoteNotOnIssue {
        /// The payload's `noteable_type`.
        noteable_type: Option<String>,
    },
    /// A system note ("changed the description", …).
    SystemNote,
    /// Authentic, but larger than the sync can take: the body over the size limit, or a message
    /// that cannot fit the queue even without its long texts. A resend would be as large; the
    /// scheduled GitLab reconcile reads the issue from GitLab instead.
    TooLarge {
        /// The size that is over, in bytes.
        bytes: usize,
        /// The limit, in bytes.
        limit: usize,
        /// What was over: `body` or `message`.
        what: &'static str,
    },
}

impl fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IgnoreReason::NotSynced { object_kind } => {
                write!(f, "{object_kind} events are not synced")
            }
            IgnoreReason::WorkItem { work_item_type: Some(t) } => write!(f, "work items of type {t} are not synced"),
            IgnoreReason::WorkItem { work_item_type: None } => f.write_str("work items are not synced"),
            IgnoreReason::NoteNotOnIssue { noteable_type: Some(t) } => write!(f, "notes on a {t} are not synced"),
            IgnoreReason::NoteNotOnIssue { noteable_type: None } => f.write_str("notes not on an issue are not synced"),
            IgnoreReason::SystemNote => f.write_str("system notes are not synced"),
            IgnoreReason::TooLarge { bytes, limit, what: "body" } => write!(
                f,
                "the body of {bytes} bytes is over the limit of {limit} bytes; the scheduled reconcile reads the issue from GitLab"
            ),
            IgnoreReason::TooLarge { bytes, limit, what } => write!(
                f,
                "the {what} of {bytes} bytes cannot fit the queue's {limit} bytes even without its texts; the scheduled reconcile reads the issue from GitLab"
            ),
        }
    }
}

/// A delivery the webhook must answer with `400`: authentic, but not a payload GitLab would send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The body does not parse as JSON.
    #[error("body is not valid JSON: {detail}")]
    NotJson {
        /// The parser's message (position and problem; no content).
        detail: String,
    },
    /// Valid JSON, but an array, string, number, `true`/`false` or `null`.
    #[error("body must be a JSON object, got {found}")]
    NotAnObject {
        /// What the body is instead.
        found: &'static str,
    },
    /// No `object_kind`: not a GitLab webhook payload.
    #[error("body has no object_kind")]
    MissingObjectKind,
    /// A field the sync needs is absent.
    #[error("{path} is missing")]
    MissingField {
        /// The field, as a JSON pointer.
        path: &'static str,
    },
    /// A field has the wrong type or value.
    #[error("{path} is invalid: {detail}")]
    BadField {
        /// The field, as a JSON pointer.
        path: String,
        /// The parser's message.
        detail: String,
    },
}

/// What the log line of a delivery says about it, when the payload tells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// `project.id`.
    pub project: Option<u64>,
    /// The issue's iid.
    pub iid: Option<u64>,
}

/// The outcome of reading an authentic delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Put this message on the queue.
    Queue {
        /// Which event it is.
        kind: EventKind,
        /// The message, with its group and deduplication ids.
        message: OutgoingMessage,
        /// For the log line.
        summary: Summary,
    },
    /// Acknowledge and drop.
    Ignore {
        /// Why.
        reason: IgnoreReason,
        /// For the log line.
        summary: Summary,
    },
}

/// A delivery as the sync reads it, in one pass: the fields it keeps, typed; every other field is
/// skipped without being built.
#[derive(Deserialize)]
struct Delivery<'a> {
    #[serde(borrow, default, deserialize_with = "crate::events::gitlab::text::optional")]
    object_kind: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "crate::events::gitlab::text::optional")]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user: Option<crate::events::gitlab::User<'a>>,
    #[serde(default)]
    project_id: Option<u64>,
    #[serde(borrow, default)]
    project: Option<crate::events::gitlab::Project<'a>>,
    #[serde(borrow, default)]
    object_attributes: Option<Attributes<'a>>,
    #[serde(borrow, default)]
    labels: Option<Vec<crate::events::gitlab::Label<'a>>>,
    #[serde(borrow, default)]
    assignees: Option<Vec<crate::events::gitlab::User<'a>>>,
    #[serde(borrow, default)]
    changes: Option<crate::events::gitlab::IssueChanges<'a>>,
    #[serde(borrow, default)]
    issue: Option<NoteIssue<'a>>,
}

/// Only the kind of a delivery, for one whose other fields do not have the shapes the sync reads.
#[derive(Deserialize)]
struct KindOnly<'a> {
    #[serde(borrow, default, deserialize_with = "crate::events::gitlab::text::optional")]
    object_kind: Option<Cow<'a, str>>,
    #[serde(default)]
    project_id: Option<u64>,
}

/// Reads an authentic delivery: classifies it, trims it, and builds its queue message.
///
/// `body` must already be authenticated and within the size limit. Never panics, whatever the bytes.
pub fn ingest(headers: &DeliveryHeaders<'_>, body: &[u8], received_at: DateTime<Utc>) -> Result<Ingested, IngestError> {
    match read(headers, body, received_at) {
        // Some events (a group hook's member or project events) have no `object_kind`: when the
        // header names an event the sync does not use, the delivery is authentic and irrelevant.
        Err(IngestError::MissingObjectKind) => match headers.event {
            Some(event) if EventKind::from_name(event).is_none() => Ok(Ingested::Ignore {
                reason: IgnoreReason::NotSynced { object_kind: event.to_owned() },
                summary: Summary::default(),
            }),
            _ => Err(IngestError::MissingObjectKind),
        },
        other => other,
    }
}

fn read(headers: &DeliveryHeaders<'_>, body: &[u8], received_at: DateTime<Utc>) -> Result<Ingested, IngestError> {
    let delivery = match parse(body)? {
        Ok(delivery) => delivery,
        Err(ignored) => return Ok(ignored),
    };
    let object_kind = delivery.object_kind.as_deref().ok_or(IngestError::MissingObjectKind)?;
    let project_id = delivery.project.as_ref().and_then(|p| p.id).or(delivery.project_id);
    let mut summary = Summary { project: project_id, iid: None };

    // `event_type` says `confidential_issue` / `confidential_note`; a work item's says only
    // `work_item`, and payloads before GitLab 9 have none: then the header tells.
    let confidential = match delivery.event_type.as_deref() {
        Some(t) if t.starts_with("confidential_") => Some(true),
        Some("issue" | "note") => Some(false),
        _ => None,
    };
    let (kind, payload, iid, marked) = match object_kind {
        // Current GitLab sends work items (an incident's creation and updates among them) as
        // `work_item` under the issue hooks; of those, only issues and incidents are issues.
        "issue" | "work_item" => {
            let attributes =
                delivery.object_attributes.ok_or(IngestError::MissingField { path: "/object_attributes" })?;
            summary.iid = attributes.iid;
            // GitLab before 8.x-era `project.id` keyed the project only in the attributes.
            summary.project = summary.project.or(attributes.project_id);
            match (object_kind, attributes.issue_type.as_deref()) {
                ("issue", None) | (_, Some("Issue" | "Incident")) => {}
                (_, other) => {
                    let reason = IgnoreReason::WorkItem { work_item_type: other.map(str::to_owned) };
                    return Ok(Ingested::Ignore { reason, summary });
                }
            }
            let iid = attributes.iid.ok_or(IngestError::MissingField { path: "/object_attributes/iid" })?;
            let kind = match confidential.unwrap_or(headers.event == Some(EventKind::ConfidentialIssue.name())) {
                true => EventKind::ConfidentialIssue,
                false => EventKind::Issue,
            };
            let project = with_project_id(delivery.project, summary.project);
            let marked = marked_by(attributes.description);
            let event = IssueEvent {
                object_kind: Cow::Borrowed("issue"),
                event_type: delivery.event_type,
                user: delivery.user,
                project,
                object_attributes: attributes,
                labels: delivery.labels,
                assignees: delivery.assignees,
                changes: delivery.changes,
            };
            (kind, GitlabPayload::Issue(event), iid, marked)
        }
        "note" => {
            let attributes =
                delivery.object_attributes.ok_or(IngestError::MissingField { path: "/object_attributes" })?;
            summary.iid = delivery.issue.as_ref().and_then(|i| i.iid);
            if attributes.noteable_type.as_deref() != Some("Issue") {
                let reason =
                    IgnoreReason::NoteNotOnIssue { noteable_type: attributes.noteable_type.map(Cow::into_owned) };
                return Ok(Ingested::Ignore { reason, summary });
            }
            if attributes.system == Some(true) {
                return Ok(Ingested::Ignore { reason: IgnoreReason::SystemNote, summary });
            }
            let issue = delivery.issue.ok_or(IngestError::MissingField { path: "/issue" })?;
            summary.project = summary.project.or(attributes.project_id).or(issue.project_id);
            attributes.id.ok_or(IngestError::MissingField { path: "/object_attributes/id" })?;
            let iid = issue.iid.ok_or(IngestError::MissingField { path: "/issue/iid" })?;
            let marked = marked_by(issue.description);
            let kind = match confidential.unwrap_or(headers.event == Some(EventKind::ConfidentialNote.name())) {
                true => EventKind::ConfidentialNote,
                false => EventKind::Note,
            };
            let event = NoteEvent {
                object_kind: Cow::Borrowed("note"),
                event_type: delivery.event_type,
                user: delivery.user,
                project_id: delivery.project_id,
                project: with_project_id(delivery.project, summary.project),
                object_attributes: attributes,
                issue,
            };
            (kind, GitlabPayload::Note(event), iid, marked)
        }
        other => {
            return Ok(Ingested::Ignore { reason: ignore_reason(other), summary });
        }
    };

    let project_id = summary.project.ok_or(IngestError::MissingField { path: "/project/id" })?;
    let project_id = GitlabProjectId::new(project_id).map_err(|e| bad("/project/id", e))?;
    let iid = Iid::new(iid).map_err(|e| bad("/object_attributes/iid", e))?;
    let key = dedup_id(headers, kind, body);
    let mut envelope = Envelope {
        v: ENVELOPE_VERSION,
        source: Source::Gitlab,
        kind: Cow::Borrowed(kind.name()),
        received_at,
        key: Cow::Borrowed(&key),
        delivery: Some(headers.meta()),
        payload,
    };
    let mut message_body = encode(&envelope, body.len())?;
    if message_body.len() > MESSAGE_BUDGET {
        // Descriptions and note bodies can each approach GitLab's 1 MB: without them the message
        // fits SQS's limit, and the worker reads the texts from GitLab when it needs them.
        envelope.payload.omit_texts();
        if let Some(delivery) = envelope.delivery.as_mut() {
            delivery.texts_omitted = true;
        }
        message_body = encode(&envelope, body.len())?;
    }
    drop(envelope);
    if message_body.len() > MESSAGE_BUDGET {
        // A huge title, tens of thousands of labels or a huge user name: a resend would be as
        // large, so a 5xx would only count toward disabling the hook.
        let reason = IgnoreReason::TooLarge { bytes: message_body.len(), limit: MESSAGE_BUDGET, what: "message" };
        return Ok(Ingested::Ignore { reason, summary });
    }
    let group_id = crate::envelope::gitlab_group(project_id, iid, marked);
    let message = OutgoingMessage { group_id, dedup_id: key, body: message_body };
    Ok(Ingested::Queue { kind, message, summary })
}

/// The largest message body kept whole: SQS's limit, less room for the queue's own attributes.
const MESSAGE_BUDGET: usize = crate::ports::MAX_MESSAGE_BYTES - 16 * 1024;

fn encode(envelope: &Envelope<'_, GitlabPayload<'_>>, delivery_len: usize) -> Result<String, IngestError> {
    // The trimmed message is smaller than the delivery: one allocation, no regrowth.
    let mut buffer = Vec::with_capacity(delivery_len.min(crate::ports::MAX_MESSAGE_BYTES) + 512);
    serde_json::to_writer(&mut buffer, envelope).map_err(|e| bad("/", e))?;
    String::from_utf8(buffer).map_err(|e| bad("/", e))
}

/// The project of a trimmed payload, with its id filled in from where older GitLab versions put it
/// (`object_attributes.project_id`), so that the worker reads one place whatever the version.
fn with_project_id<'a>(
    project: Option<crate::events::gitlab::Project<'a>>,
    id: Option<u64>,
) -> crate::events::gitlab::Project<'a> {
    let mut project =
        project.unwrap_or(crate::events::gitlab::Project { id: None, path_with_namespace: None, web_url: None });
    project.id = project.id.or(id);
    project
}

fn ignore_reason(object_kind: &str) -> IgnoreReason {
    match object_kind {
        "work_item" => IgnoreReason::WorkItem { work_item_type: None },
        other => IgnoreReason::NotSynced { object_kind: other.to_owned() },
    }
}

/// The QALITA issue whose hidden marker ends a delivery's issue description, if it does: the
/// delivery is queued in that issue's message group. A description that is not a JSON string, or
/// ends with no marker, names none (the checks of the rest of the payload are the worker's).
fn marked_by(description: Option<crate::events::gitlab::RawText<'_>>) -> Option<crate::domain::QalitaIssueId> {
    let raw = description?.get();
    // Descriptions reach 1 MB: only one that holds the marker's words is decoded.
    if !raw.contains("qalita-issue:") {
        return None;
    }
    let text: std::borrow::Cow<'_, str> = serde_json::from_str(raw).ok()?;
    crate::domain::marker::Marker::issue_of(&text)
}

/// Reads the body in one pass. `Ok(Err(_))` is an event of a kind we do not sync whose fields do
/// not have the shapes the sync reads (GitLab's other events may have any shape): it is ignored,
/// not refused.
fn parse(body: &[u8]) -> Result<Result<Delivery<'_>, Ingested>, IngestError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if first != Some(b'{') {
        // Tell "not JSON" from "JSON, but not an object", so the reason is exact.
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Err(e) => IngestError::NotJson { detail: e.to_string() },
            Ok(_) => IngestError::NotAnObject {
                found: match first {
                    Some(b'[') => "an array",
                    Some(b'"') => "a string",
                    Some(b'n') => "null",
                    Some(b't' | b'f') => "a boolean",
                    _ => "a number",
                },
            },
        });
    }
    // One UTF-8 check of the whole body (vectorised) instead of one per string.
    let text =
        std::str::from_utf8(body).map_err(|e| IngestError::NotJson { detail: format!("body is not UTF-8: {e}") })?;
    let error = match serde_json::from_str::<Delivery<'_>>(text) {
        Ok(delivery) => return Ok(Ok(delivery)),
        Err(e) if e.classify() != serde_json::error::Category::Data => {
            return Err(IngestError::NotJson { detail: e.to_string() });
        }
        Err(e) => e,
    };
    let kind: KindOnly<'_> = serde_json::from_str(text).map_err(|e| bad("/object_kind", e))?;
    match kind.object_kind.as_deref() {
        None => Err(IngestError::MissingObjectKind),
        Some("issue" | "note") => {
            // Read again, only on this error path, to name the field that is wrong.
            let mut deserializer = serde_json::Deserializer::from_str(text);
            let path = match serde_path_to_error::deserialize::<_, Delivery<'_>>(&mut deserializer) {
                Err(e) => format!("/{}", e.path().to_string().replace('.', "/")),
                Ok(_) => "/".to_owned(),
            };
            Err(IngestError::BadField { path, detail: error.to_string() })
        }
        Some(other) => {
            let summary = Summary { project: kind.project_id, iid: None };
            Ok(Err(Ingested::Ignore { reason: ignore_reason(other), summary }))
        }
    }
}

fn bad(path: &str, error: impl fmt::Display) -> IngestError {
    IngestError::BadField { path: path.to_owned(), detail: error.to_string() }
}

/// `Idempotency-Key` (the same across GitLab's retries and resends), else `webhook-id` (its
/// Standard Webhooks twin, signed with the body when the hook has a signing token), else the event UUID with the
/// event kind and a hash of the body (one request can fire several hooks of one kind under the same
/// UUID, and a resend carries the same body), else the hash of the body alone.
fn dedup_id(headers: &DeliveryHeaders<'_>, kind: EventKind, body: &[u8]) -> String {
    if let Some(key) = headers.idempotency_key.or(headers.webhook_id).filter(|k| !k.is_empty()) {
        return fifo_safe(key);
    }
    if let Some(uuid) = headers.event_uuid.filter(|u| !u.is_empty()) {
        let mut key = format!("{uuid}:{}:", kind.slug());
        digest::push_hex(&mut key, body);
        return fifo_safe(&key);
    }
    digest::sha256_tagged(body)
}

/// SQS takes at most 128 characters of ASCII letters, digits and punctuation as a deduplication
/// id; any other key is replaced by its hash, which keeps it unique.
fn fifo_safe(key: &str) -> String {
    if crate::ports::is_fifo_id(key) { key.to_owned() } else { digest::sha256_tagged(key.as_bytes()) }
}

#[cfg(test)]
mod tests;
