//! QALITA change events as the worker reads them off the queue (DESIGN section 6), parsed once into
//! [`QalitaEvent`]: the kinds and the poll's key prefix are written here and nowhere else.
//!
//! An issue event carries the issue's state (`issue`) or only its id (`issue_id`, the worker then
//! reads the newest state), and what the issue itself does not hold (severity, source, domain). A
//! comment event carries the comment and names its issue.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::qalita_shape::QalitaFields;
use crate::config::qalita_shape::read;
use crate::domain::QalitaIssueId;
use crate::domain::qalita::{IssueContext, QalitaComment, QalitaIssue};
use crate::envelope::{Envelope, Source};

/// The kind of an event about a new QALITA issue.
pub const ISSUE_CREATED: &str = "issue.created";
/// The kind of an event about a changed QALITA issue (the poll's events too).
pub const ISSUE_UPDATED: &str = "issue.updated";
/// The kind of an event about a new QALITA comment.
pub const COMMENT_CREATED: &str = "comment.created";
/// The kind of an event about an edited QALITA comment.
pub const COMMENT_UPDATED: &str = "comment.updated";

/// The prefix of the key of an event the poll queued (`poll:{issue}:{updated_at µs}`).
const POLL_KEY_PREFIX: &str = "poll:";

/// The key, and so the queue's deduplication id, of the poll's event for one state of an issue:
/// two runs that see the same state queue it once.
pub fn poll_key(issue: QalitaIssueId, updated_at: Option<DateTime<Utc>>) -> String {
    let stamp = updated_at.map_or_else(|| "none".to_owned(), |t| t.timestamp_micros().to_string());
    format!("{POLL_KEY_PREFIX}{issue}:{stamp}")
}

/// The key, and so the queue's deduplication id, of the comment sweep's event for an issue, queued
/// by the run of `at`: a poll key (its handling sweeps the comments) that names the run, so that a
/// sweep is never taken for a duplicate of the one before.
pub fn sweep_key(issue: QalitaIssueId, at: DateTime<Utc>) -> String {
    format!("{POLL_KEY_PREFIX}{issue}:sweep-{}", at.timestamp_micros())
}

/// The key, and so the queue's deduplication id, of the event that recreates the GitLab issue of
/// `issue`, found deleted at `at`: a poll key (its handling sweeps the comments into the new issue).
pub fn recreate_key(issue: QalitaIssueId, at: DateTime<Utc>) -> String {
    format!("{POLL_KEY_PREFIX}{issue}:recreate-{}", at.timestamp_micros())
}

/// A QALITA change event, read.
#[derive(Debug, Clone, PartialEq)]
pub enum QalitaEvent {
    /// An issue event carrying the issue's state.
    IssueChanged {
        /// The issue as the event says it is.
        issue: Box<QalitaIssue>,
        /// What the event says beyond the issue.
        context: IssueContext,
        /// Whether handling it sweeps the issue's comments (a creation, or the poll's event).
        sweep: bool,
    },
    /// An issue event naming the issue only: its newest state is read from QALITA.
    IssueNamed {
        /// The issue.
        id: QalitaIssueId,
        /// What the event says beyond the issue.
        context: IssueContext,
        /// Whether handling it sweeps the issue's comments.
        sweep: bool,
    },
    /// A comment made or edited.
    Comment {
        /// The issue the comment is on.
        issue: QalitaIssueId,
        /// The comment.
        comment: QalitaComment,
    },
}

/// A QALITA event that cannot be handled: retrying cannot fix it.
#[derive(Debug, thiserror::Error)]
pub enum QalitaEventError {
    /// The payload is not the event's shape.
    #[error("the QALITA {kind} payload is not readable: {source}")]
    Unreadable {
        /// The event kind.
        kind: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The issue or comment it carries does not read with the configured pointers
    /// (`[qalita.fields]`).
    #[error("the QALITA {kind} payload's {object} does not read: {problem}")]
    Misfit {
        /// The event kind.
        kind: String,
        /// `issue` or `comment`.
        object: &'static str,
        /// The field and why.
        problem: String,
    },
    /// The event names no issue.
    #[error("the QALITA {kind} event names no issue")]
    NoIssue {
        /// The event kind.
        kind: String,
    },
}

/// What an issue event is about, for deciding which events of a batch a later one makes useless
/// (the batch planner's input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueEventSummary {
    /// The issue.
    pub issue: QalitaIssueId,
    /// The `updated_at` of the state it carries (`None`: it names the issue only, and the newest
    /// state is read).
    pub updated_at: Option<DateTime<Utc>>,
    /// It says what the issue does not hold (severity, source name, domain).
    pub has_context: bool,
    /// Its handling sweeps the issue's comments.
    pub sweeps: bool,
}

#[derive(Debug, Deserialize)]
struct IssuePayload {
    /// Read with `[qalita.fields]`, as the API's answers are.
    #[serde(default)]
    issue: Option<serde_json::Value>,
    #[serde(default)]
    issue_id: Option<QalitaIssueId>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    source: Option<SourceRef>,
    #[serde(default)]
    domain: Option<String>,
    /// Set by the QALITA webhook route: sweep the issue's comments (QALITA may announce a comment
    /// by an issue event, or not at all).
    #[serde(default)]
    sweep: bool,
}

#[derive(Debug, Deserialize)]
struct SourceRef {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CommentPayload {
    #[serde(default)]
    issue_id: Option<QalitaIssueId>,
    /// Read with `[qalita.fields.comment]`.
    comment: serde_json::Value,
}

impl QalitaEvent {
    /// Reads a queued event, its issue or comment by the configured pointers (`fields`, as for
    /// the API's answers): `Ok(None)` when it is not a QALITA event of a kind this service handles
    /// (the caller drops it, saying so).
    pub fn parse(
        envelope: &Envelope<'_, &RawValue>,
        fields: &QalitaFields,
    ) -> Result<Option<QalitaEvent>, QalitaEventError> {
        if envelope.source != Source::Qalita {
            return Ok(None);
        }
        let kind = envelope.kind.as_ref();
        let unreadable = |source| QalitaEventError::Unreadable { kind: kind.to_owned(), source };
        match kind {
            ISSUE_CREATED | ISSUE_UPDATED => {
                let payload: IssuePayload = serde_json::from_str(envelope.payload.get()).map_err(unreadable)?;
                let context = IssueContext {
                    severity: payload.severity,
                    source_name: payload.source.and_then(|s| s.name),
                    domain: payload.domain,
                };
                let sweep = payload.sweep || envelope.key.starts_with(POLL_KEY_PREFIX) || kind == ISSUE_CREATED;
                match (payload.issue.filter(|issue| !issue.is_null()), payload.issue_id) {
                    (Some(value), _) => {
                        // The poll queues the issue as this service holds it, under its own field
                        // names; only what QALITA (or a bridge) sends is in the instance's shape.
                        let built_in = QalitaFields::default();
                        let fields = if envelope.key.starts_with(POLL_KEY_PREFIX) { &built_in } else { fields };
                        let issue = read::issue(&value, fields).map_err(|misfit| QalitaEventError::Misfit {
                            kind: kind.to_owned(),
                            object: "issue",
                            problem: misfit.problem,
                        })?;
                        Ok(Some(QalitaEvent::IssueChanged { issue: Box::new(issue), context, sweep }))
                    }
                    (None, Some(id)) => Ok(Some(QalitaEvent::IssueNamed { id, context, sweep })),
                    (None, None) => Err(QalitaEventError::NoIssue { kind: kind.to_owned() }),
                }
            }
            COMMENT_CREATED | COMMENT_UPDATED => {
                let payload: CommentPayload = serde_json::from_str(envelope.payload.get()).map_err(unreadable)?;
                let comment = read::comment(&payload.comment, &fields.comment).map_err(|misfit| {
                    QalitaEventError::Misfit { kind: kind.to_owned(), object: "comment", problem: misfit.problem }
                })?;
                let issue = payload
                    .issue_id
                    .or(comment.issue_id.and_then(|i| QalitaIssueId::new(i).ok()))
                    .ok_or_else(|| QalitaEventError::NoIssue { kind: kind.to_owned() })?;
                Ok(Some(QalitaEvent::Comment { issue, comment }))
            }
            _ => Ok(None),
        }
    }

    /// The QALITA issue the event is about.
    pub fn issue(&self) -> QalitaIssueId {
        match self {
            QalitaEvent::IssueChanged { issue, .. } => issue.id,
            QalitaEvent::IssueNamed { id, .. } => *id,
            QalitaEvent::Comment { issue, .. } => *issue,
        }
    }

    /// What an issue event is about; `None` for a comment event.
    pub fn summary(&self) -> Option<IssueEventSummary> {
        match self {
            QalitaEvent::IssueChanged { issue, context, sweep } => Some(IssueEventSummary {
                issue: issue.id,
                updated_at: issue.updated_at,
                has_context: !context.is_empty(),
                sweeps: *sweep,
            }),
            QalitaEvent::IssueNamed { id, context, sweep } => Some(IssueEventSummary {
                issue: *id,
                updated_at: None,
                has_context: !context.is_empty(),
                sweeps: *sweep,
            }),
            QalitaEvent::Comment { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::ENVELOPE_VERSION;

    fn read(kind: &str, key: &str, payload: serde_json::Value) -> Result<Option<QalitaEvent>, QalitaEventError> {
        let body = serde_json::json!({
            "v": ENVELOPE_VERSION, "source": "qalita", "kind": kind, "received_at": "2026-11-02T10:00:00Z",
            "key": key, "payload": payload,
        })
        .to_string();
        let envelope = Envelope::<&RawValue>::parse(&body).expect("envelope");
        QalitaEvent::parse(&envelope, &QalitaFields::default())
    }

    #[test]
    fn an_issue_event_with_its_state_carries_it_and_its_context() {
        let event = read(
            ISSUE_UPDATED,
            "evt-1",
            serde_json::json!({"issue": {"id": 7, "title": "Nulls", "status": "open", "updated_at": "2026-11-02T09:00:00Z"},
                "severity": "high", "source": {"name": "orders"}}),
        )
        .unwrap()
        .unwrap();
        let QalitaEvent::IssueChanged { issue, context, sweep } = &event else { panic!("{event:?}") };
        assert_eq!(issue.id.get(), 7);
        assert_eq!(context.severity.as_deref(), Some("high"));
        assert_eq!(context.source_name.as_deref(), Some("orders"));
        assert!(!sweep, "an update from QALITA does not sweep comments");
        let summary = event.summary().unwrap();
        assert!(summary.has_context && summary.updated_at.is_some());
    }

    #[test]
    fn a_creation_and_the_polls_events_sweep_comments() {
        let created = read(ISSUE_CREATED, "evt-2", serde_json::json!({"issue_id": 8})).unwrap().unwrap();
        assert!(matches!(created, QalitaEvent::IssueNamed { sweep: true, .. }));
        let id = QalitaIssueId::new(8).unwrap();
        let polled = read(ISSUE_UPDATED, &poll_key(id, None), serde_json::json!({"issue_id": 8})).unwrap().unwrap();
        assert_eq!(polled.summary().map(|s| s.sweeps), Some(true));
        assert_eq!(polled.issue(), id);
        let at = DateTime::parse_from_rfc3339("2026-11-02T10:00:00Z").unwrap().with_timezone(&Utc);
        let swept = read(ISSUE_UPDATED, &sweep_key(id, at), serde_json::json!({"issue_id": 8})).unwrap().unwrap();
        assert!(matches!(swept, QalitaEvent::IssueNamed { sweep: true, .. }), "{swept:?}");
        assert_ne!(sweep_key(id, at), sweep_key(id, at + chrono::TimeDelta::minutes(5)), "one per run");
    }

    #[test]
    fn a_comment_event_names_its_issue_from_the_payload_or_the_comment() {
        let event =
            read(COMMENT_CREATED, "c-1", serde_json::json!({"comment": {"id": 3, "issue_id": 9, "content": "hi"}}))
                .unwrap()
                .unwrap();
        assert_eq!(event.issue().get(), 9);
        assert_eq!(event.summary(), None);
        let orphan = read(COMMENT_UPDATED, "c-2", serde_json::json!({"comment": {"id": 3, "content": "hi"}}));
        assert!(matches!(orphan, Err(QalitaEventError::NoIssue { .. })));
    }

    #[test]
    fn an_unknown_kind_is_not_an_event_and_a_bad_payload_is_an_error() {
        assert!(read("issue.deleted", "x", serde_json::json!({})).unwrap().is_none());
        assert!(matches!(read(ISSUE_UPDATED, "x", serde_json::json!({})), Err(QalitaEventError::NoIssue { .. })));
        let bad = read(ISSUE_UPDATED, "x", serde_json::json!({"issue": {"id": "seven"}}));
        assert!(matches!(bad, Err(QalitaEventError::Misfit { object: "issue", .. })), "{bad:?}");
        let bad = read(COMMENT_CREATED, "x", serde_json::json!({"issue_id": 3, "comment": {"content": "hi"}}));
        assert!(matches!(bad, Err(QalitaEventError::Misfit { object: "comment", .. })), "{bad:?}");
        let bad = read(ISSUE_UPDATED, "x", serde_json::json!({"issue_id": "seven"}));
        assert!(matches!(bad, Err(QalitaEventError::Unreadable { .. })), "{bad:?}");
    }

    #[test]
    fn an_event_reads_its_issue_and_comment_with_the_configured_pointers() {
        let fields: QalitaFields =
            toml::from_str("assignee = \"/assignee_id\"\nupdated_at = \"/modified\"\n[comment]\ncontent = \"/text\"")
                .expect("fields");
        let body = |payload: serde_json::Value, kind: &str| {
            serde_json::json!({"v": ENVELOPE_VERSION, "source": "qalita", "kind": kind,
                "received_at": "2026-11-02T10:00:00Z", "key": "k", "payload": payload})
            .to_string()
        };
        let text = body(
            serde_json::json!({"issue": {"id": 7, "status": "open", "assignee_id": 12, "assignee": 99,
                "modified": "2026-11-02T09:00:00"}}),
            ISSUE_UPDATED,
        );
        let envelope = Envelope::<&RawValue>::parse(&text).expect("envelope");
        let Some(QalitaEvent::IssueChanged { issue, .. }) = QalitaEvent::parse(&envelope, &fields).unwrap() else {
            panic!("an issue event")
        };
        assert_eq!(issue.assignee, Some(12));
        assert_eq!(issue.updated_at.map(|t| t.to_rfc3339()).as_deref(), Some("2026-11-02T09:00:00+00:00"));
        let text = body(
            serde_json::json!({"issue_id": 7, "comment": {"id": 3, "text": "hi", "content": "no"}}),
            COMMENT_CREATED,
        );
        let envelope = Envelope::<&RawValue>::parse(&text).expect("envelope");
        let Some(QalitaEvent::Comment { comment, .. }) = QalitaEvent::parse(&envelope, &fields).unwrap() else {
            panic!("a comment event")
        };
        assert_eq!(comment.content, "hi");
    }

    #[test]
    fn the_polls_own_event_is_read_under_the_services_field_names_whatever_the_instance_uses() {
        let fields: QalitaFields = toml::from_str("assignee = \"/assignee_id\"").expect("fields");
        let id = QalitaIssueId::new(7).expect("an id");
        let text = serde_json::json!({"v": ENVELOPE_VERSION, "source": "qalita", "kind": ISSUE_UPDATED,
            "received_at": "2026-11-02T10:00:00Z", "key": poll_key(id, None),
            "payload": {"issue": {"id": 7, "status": "open", "assignee": 12}}})
        .to_string();
        let envelope = Envelope::<&RawValue>::parse(&text).expect("envelope");
        let Some(QalitaEvent::IssueChanged { issue, .. }) = QalitaEvent::parse(&envelope, &fields).unwrap() else {
            panic!("an issue event")
        };
        assert_eq!(issue.assignee, Some(12), "the poll wrote `assignee`, as the service names it");
    }
}
