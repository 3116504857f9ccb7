//! QALITA's side: issues, users and comments as its REST API is expected to return them (DESIGN
//! section 6). QALITA publishes no reference: unknown fields are ignored, absent ones are `None`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::QalitaIssueId;

/// A QALITA issue, as the issue calls return it or a change event carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QalitaIssue {
    /// QALITA's id of the issue: the key of its link, and the id in its hidden marker.
    pub id: QalitaIssueId,
    /// The tenant (QALITA partner) the issue belongs to; read, not used by the sync.
    #[serde(default)]
    pub partner_id: Option<u64>,
    /// The title (a rule or metric name, e.g. `Invalid Latitude`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub title: String,
    /// The description: the current evidence.
    #[serde(default)]
    pub description: Option<String>,
    /// A free string; matched case-insensitively against the configured status words.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub status: String,
    /// The data source the issue is on.
    #[serde(default)]
    pub source_id: Option<u64>,
    /// The assigned user's id.
    #[serde(default)]
    pub assignee: Option<u64>,
    /// `{perimeter, value, parent_scope}`: the column, dataset, … the issue is about.
    #[serde(default)]
    pub scope: Option<serde_json::Value>,
    /// The due date, `YYYY-MM-DD` as QALITA sends it: the `{due_date}` placeholder.
    #[serde(default)]
    pub due_date: Option<String>,
    /// The id of the QALITA user who raised it.
    #[serde(default)]
    pub author_id: Option<u64>,
    /// Who changed it last.
    #[serde(default)]
    pub updated_by: Option<u64>,
    /// The id of the QALITA user who closed it, once closed.
    #[serde(default)]
    pub closed_by: Option<u64>,
    /// When it was created, by QALITA's clock (a time without an offset is read as UTC).
    #[serde(default, deserialize_with = "lenient_time")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last change: the watermark of QALITA-owned fields.
    #[serde(default, deserialize_with = "lenient_time")]
    pub updated_at: Option<DateTime<Utc>>,
    /// When it was closed, once closed, by QALITA's clock.
    #[serde(default, deserialize_with = "lenient_time")]
    pub closed_at: Option<DateTime<Utc>>,
    /// The issue's page in QALITA.
    #[serde(default)]
    pub url: Option<String>,
}

/// A string that QALITA may send as `null`.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// A time as QALITA may send it: RFC 3339 with an offset, or without one (a Python backend's
/// naive `2026-11-20T08:15:02.123456`), which is taken as UTC.
fn lenient_time<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else { return Ok(None) };
    parse_time(&text).map(Some).ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a date and time")))
}

/// Reads a time as QALITA may send it: RFC 3339 with an offset, or without one (taken as UTC), with
/// a `T` or a space between the date and the time.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

/// What a change event knows beyond the issue: severity (from the recommendation), the source's
/// name and the domain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueContext {
    /// The severity word (`info`, `warning`, `high`), from the event's recommendation: the
    /// `{severity}` placeholder, and what a routing rule's `severity` matches.
    #[serde(default)]
    pub severity: Option<String>,
    /// The source (dataset) name.
    #[serde(default)]
    pub source_name: Option<String>,
    /// The data domain (`finance`): the `{domain}` placeholder, and what a routing rule's `domain`
    /// matches.
    #[serde(default)]
    pub domain: Option<String>,
}

impl IssueContext {
    /// Whether the event knew nothing beyond the issue.
    pub fn is_empty(&self) -> bool {
        self == &IssueContext::default()
    }

    /// This context, completed with what `known` holds where this one knows nothing.
    pub fn or(&self, known: &IssueContext) -> IssueContext {
        IssueContext {
            severity: self.severity.clone().or_else(|| known.severity.clone()),
            source_name: self.source_name.clone().or_else(|| known.source_name.clone()),
            domain: self.domain.clone().or_else(|| known.domain.clone()),
        }
    }
}

/// A change to a QALITA issue, as the update call sends it: only the fields set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QalitaIssueUpdate {
    /// A new status word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A new assignee (user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<u64>,
    /// The title to write, when GitLab's title goes back (`ownership.title = "both"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The description to write, without the hidden marker, when GitLab's description goes back
    /// (`ownership.description = "both"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl QalitaIssueUpdate {
    /// Whether the update changes nothing (and must not be sent).
    pub fn is_empty(&self) -> bool {
        self == &QalitaIssueUpdate::default()
    }
}

/// A comment on a QALITA issue. The field names are assumed (DESIGN section 6): the text is read
/// from `content`, `body` or `text`, the author from `author_id` or `user_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QalitaComment {
    /// QALITA's id of the comment: its comment link is keyed `COMMENT#<id>`.
    pub id: u64,
    /// The issue it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_id: Option<u64>,
    /// The id of the QALITA user who wrote it: read for the author's name when `author` is absent.
    #[serde(default, alias = "user_id", skip_serializing_if = "Option::is_none")]
    pub author_id: Option<u64>,
    /// The author's name or login, when the answer carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The text; a copy the sync made of a GitLab note starts with `comments.qalita_prefix`.
    #[serde(default, alias = "body", alias = "text", deserialize_with = "null_as_empty")]
    pub content: String,
    /// When it was written, by QALITA's clock.
    #[serde(default, deserialize_with = "lenient_time", skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it was last edited, when the answer says.
    #[serde(default, deserialize_with = "lenient_time", skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// A QALITA user, as the user calls return it (the field names are configurable on the client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QalitaUser {
    /// QALITA's id of the user, as an issue's `assignee` and a comment's `author_id` give it.
    pub id: u64,
    /// The login (field name configurable on the client).
    #[serde(default)]
    pub login: Option<String>,
    /// The display name: how a copied comment names its author (else the login).
    #[serde(default)]
    pub name: Option<String>,
    /// The e-mail address; read, not used by the sync.
    #[serde(default)]
    pub email: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qalita_issue_sample_reads_with_every_field() {
        let issue: QalitaIssue = serde_json::from_str(include_str!("../../../fixtures/qalita/issue.json")).unwrap();
        assert_eq!(issue.id.get(), 4821);
        assert_eq!(issue.status, "open");
        assert_eq!(issue.assignee, Some(12));
        assert_eq!(issue.scope.unwrap()["parent_scope"]["value"], "billing.customer_sites");
        assert_eq!(issue.updated_at.unwrap().to_rfc3339(), "2026-11-24T16:41:37+00:00");
    }

    #[test]
    fn an_issue_with_only_an_id_still_reads() {
        let issue: QalitaIssue =
            serde_json::from_str(r#"{"id": 9, "extra": {"x": 1}, "title": null, "status": null}"#).unwrap();
        assert_eq!((issue.id.get(), issue.title.as_str(), issue.assignee), (9, "", None));
    }

    #[test]
    fn times_without_an_offset_are_read_as_utc() {
        let issue: QalitaIssue =
            serde_json::from_str(r#"{"id": 9, "created_at": "2026-11-20T08:15:02.123456", "updated_at": "2026-11-20 08:16:00", "closed_at": null}"#)
                .unwrap();
        assert_eq!(issue.created_at.unwrap().to_rfc3339(), "2026-11-20T08:15:02.123456+00:00");
        assert_eq!(issue.updated_at.unwrap().to_rfc3339(), "2026-11-20T08:16:00+00:00");
        assert!(serde_json::from_str::<QalitaIssue>(r#"{"id": 9, "updated_at": "yesterday"}"#).is_err());
    }

    #[test]
    fn the_user_sample_reads() {
        let user: QalitaUser = serde_json::from_str(include_str!("../../../fixtures/qalita/user.json")).unwrap();
        assert_eq!((user.id, user.login.as_deref()), (12, Some("m.durand")));
    }
}
