//! The versioned message envelope that every queue message carries (DESIGN section 5):
//! `{ "v": 1, "source", "kind", "received_at", "key", "delivery"?, "payload" }`.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The envelope version this code writes and reads.
pub const ENVELOPE_VERSION: u8 = 1;

/// Where an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A GitLab webhook delivery, enqueued by the webhook function.
    Gitlab,
    /// A QALITA change event (sent by QALITA's backend or a bridge, or found by the poll).
    Qalita,
    /// The scheduled poll and reconcile.
    Schedule,
}

/// The GitLab delivery headers the worker needs, copied from the request. No token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMeta<'a> {
    /// `X-Gitlab-Event` as received (`Issue Hook`, `Confidential Note Hook`, …).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub event: Option<Cow<'a, str>>,
    /// `X-Gitlab-Event-UUID`: shared by every hook of one event chain; sent back to GitLab on the
    /// writes this event causes, so GitLab can stop recursive hooks.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub event_uuid: Option<Cow<'a, str>>,
    /// `X-Gitlab-Webhook-UUID`: new on every delivery.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub webhook_uuid: Option<Cow<'a, str>>,
    /// `Idempotency-Key`: the same across GitLab's retries and "Resend request".
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<Cow<'a, str>>,
    /// `X-Gitlab-Instance`: the GitLab base URL that sent it.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<Cow<'a, str>>,
    /// The descriptions and note body were left out to fit the queue: read them from GitLab.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub texts_omitted: bool,
}

/// One queue message. `P` is the payload: a typed, borrowed payload when writing, any
/// deserialisable type (or `serde_json::Value`) when reading. Text borrows from the message body
/// where it can.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<'a, P> {
    /// Always [`ENVELOPE_VERSION`]; a reader refuses other versions.
    pub v: u8,
    /// Which side the event comes from.
    pub source: Source,
    /// The event kind: for GitLab the event name (`Issue Hook`, …), for QALITA `issue.updated`, ….
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
    /// When this service received the event.
    pub received_at: DateTime<Utc>,
    /// The event's idempotency key, the queue's deduplication id. Past the queue's five-minute
    /// window the worker does not remember it: a replay is harmless because each event is compared
    /// with the link's recorded state.
    #[serde(borrow)]
    pub key: Cow<'a, str>,
    /// The delivery headers, for GitLab events.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryMeta<'a>>,
    /// The event itself, trimmed to what the sync uses.
    pub payload: P,
}

/// A message body that is not a readable envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON, or not the envelope's shape.
    #[error("message body is not an envelope: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Written by a newer or older version of this service.
    #[error("envelope version {found} is not supported (this build reads version {ENVELOPE_VERSION})")]
    UnsupportedVersion {
        /// The version found in the message.
        found: u8,
    },
}

impl<'de, P: Deserialize<'de>> Envelope<'de, P> {
    /// Reads an envelope from a message body, refusing unknown versions.
    pub fn parse(body: &'de str) -> Result<Self, EnvelopeError> {
        let envelope: Envelope<'de, P> = serde_json::from_str(body)?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion { found: envelope.v });
        }
        Ok(envelope)
    }
}

/// The FIFO message group of a QALITA issue. The events of its linked GitLab issue are put in the
/// same group ([`gitlab_group`]), so that one issue's changes from both sides are synced one at a
/// time, in the order they arrived: a sync never plans on a state the other direction is about to
/// change.
pub fn issue_group(issue: crate::domain::QalitaIssueId) -> String {
    format!("qalita:{issue}")
}

/// The FIFO message group of a GitLab issue event: its QALITA issue's group when the description
/// ends with that issue's hidden marker (every GitLab issue the sync created does), else the GitLab
/// issue's own (`gitlab:<project id>:<iid>`).
pub fn gitlab_group(
    project: crate::domain::GitlabProjectId,
    iid: crate::domain::Iid,
    marked: Option<crate::domain::QalitaIssueId>,
) -> String {
    match marked {
        Some(issue) => issue_group(issue),
        None => format!("gitlab:{project}:{iid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qalita_event_samples_are_envelopes() {
        for sample in [
            include_str!("../../fixtures/qalita/event_issue_updated.json"),
            include_str!("../../fixtures/qalita/event_id_only.json"),
        ] {
            let envelope: Envelope<serde_json::Value> = Envelope::parse(sample).unwrap();
            assert_eq!(envelope.source, Source::Qalita);
            assert_eq!(envelope.kind, "issue.updated");
            assert!(envelope.key.starts_with("qalita-evt-"));
            assert!(envelope.delivery.is_none());
        }
    }

    #[test]
    fn an_envelope_of_another_version_is_refused() {
        let body = r#"{"v":2,"source":"gitlab","kind":"Issue Hook","received_at":"2026-11-24T16:42:00Z","key":"k","payload":{}}"#;
        let err = Envelope::<serde_json::Value>::parse(body).unwrap_err();
        assert!(matches!(err, EnvelopeError::UnsupportedVersion { found: 2 }), "{err}");
    }
}
