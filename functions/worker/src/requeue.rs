//! The QALITA issue events the worker queues itself: the poll's and the comment sweep's,
//! and the recreation of a GitLab issue found deleted. Each goes to the issue's own message group,
//! behind what is queued there already.

use chrono::{DateTime, Utc};
use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::envelope::{ENVELOPE_VERSION, Envelope, Source, issue_group};
use qalita_gitlab_core::events::qalita::{ISSUE_UPDATED, recreate_key};
use qalita_gitlab_core::ports::{EventQueue, OutgoingMessage, QueueError};
use serde_json::{Value, json};

/// Puts an `issue.updated` event about `issue`, received `now`, on `queue`, in the issue's own
/// group, under `key` (its deduplication id).
pub async fn send(
    queue: &dyn EventQueue,
    now: DateTime<Utc>,
    issue: QalitaIssueId,
    key: String,
    payload: Value,
) -> Result<(), QueueError> {
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        source: Source::Qalita,
        kind: ISSUE_UPDATED.into(),
        received_at: now,
        key: key.as_str().into(),
        delivery: None,
        payload,
    };
    let body = serde_json::to_string(&envelope)
        .map_err(|e| QueueError::Rejected { class: "encode".into(), message: e.to_string() })?;
    queue.send(&OutgoingMessage { group_id: issue_group(issue), dedup_id: key, body }).await
}

/// Queues the recreation of the GitLab issue of `issue`, found deleted at `now`: an id-only event,
/// which the worker reads the issue for, syncs (the link says the recreation is due), and sweeps
/// the comments of, into the new issue.
pub async fn recreation(queue: &dyn EventQueue, now: DateTime<Utc>, issue: QalitaIssueId) -> Result<(), QueueError> {
    send(queue, now, issue, recreate_key(issue, now), json!({ "issue_id": issue })).await
}
