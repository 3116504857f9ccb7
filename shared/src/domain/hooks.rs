//! The GitLab objects the service administers besides issues: a project hook (its URL, events and
//! auto-disabling state), the settings the service registers its hook with, and the token's own
//! record (its expiry) with the value a rotation answers.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::SecretString;
use super::gitlab::GitlabProjectRef;

/// The trigger of the test delivery that re-enables our hook: an issue event, which the hook is
/// always enabled for.
pub const HEAL_TRIGGER: &str = "issues_events";

/// The path of the webhook function's GitLab route, on API Gateway and in `serve`: a hook posting
/// to a URL with this path is the service's.
pub const WEBHOOK_PATH: &str = "/api/v2/integrations/gitlab/webhook";

/// A GitLab group as the group hooks API names it: its numeric id or its full path (`data`,
/// `data/platform`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabGroupRef(String);

/// Why a group reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid GitLab group {given:?}: give its numeric id or its full path (`data`, `data/platform`)")]
pub struct InvalidGroupRef {
    /// What was given.
    pub given: String,
}

impl GitlabGroupRef {
    /// A group id or full path: not empty, no blank, no empty path segment.
    pub fn parse(given: &str) -> Result<Self, InvalidGroupRef> {
        let trimmed = given.trim();
        let valid = !trimmed.is_empty()
            && !trimmed.chars().any(char::is_whitespace)
            && trimmed.split('/').all(|segment| !segment.is_empty());
        match valid {
            true => Ok(Self(trimmed.to_owned())),
            false => Err(InvalidGroupRef { given: given.to_owned() }),
        }
    }

    /// The group as a path segment of the REST API: the id, or the URL-encoded full path.
    pub fn api_segment(&self) -> String {
        self.0.replace('/', "%2F")
    }
}

impl fmt::Display for GitlabGroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whose hooks: a project's, or a group's (a group hook fires on the events of every project of
/// the group and its subgroups; GitLab Premium). Shown as the bare id or path, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookOwner {
    /// `/projects/:id/hooks` (Maintainer).
    Project(GitlabProjectRef),
    /// `/groups/:id/hooks` (Owner).
    Group(GitlabGroupRef),
}

impl HookOwner {
    /// The REST path of the owner's hooks: `/projects/:id/hooks` or `/groups/:id/hooks`.
    pub fn hooks_path(&self) -> String {
        match self {
            Self::Project(project) => format!("/projects/{}/hooks", project.api_segment()),
            Self::Group(group) => format!("/groups/{}/hooks", group.api_segment()),
        }
    }

    /// `project` or `group`, for messages and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Project(_) => "project",
            Self::Group(_) => "group",
        }
    }
}

impl From<&GitlabProjectRef> for HookOwner {
    fn from(project: &GitlabProjectRef) -> Self {
        Self::Project(project.clone())
    }
}

impl fmt::Display for HookOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Project(project) => project.fmt(f),
            Self::Group(group) => group.fmt(f),
        }
    }
}

/// A project hook as `GET /projects/:id/hooks` shows it (a group hook, from `GET /groups/:id/hooks`,
/// has the same fields) (never its secret token).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProjectHook {
    /// GitLab's id of the hook.
    pub id: u64,
    /// Where it posts.
    pub url: String,
    /// `executable`, `temporarily_disabled` or `disabled` (absent before GitLab 15.7: taken as
    /// executable).
    #[serde(default)]
    pub alert_status: Option<String>,
    /// Until when it is temporarily disabled.
    #[serde(default)]
    pub disabled_until: Option<DateTime<Utc>>,
    /// Issue events.
    #[serde(default)]
    pub issues_events: bool,
    /// Confidential issue events.
    #[serde(default)]
    pub confidential_issues_events: bool,
    /// Comments.
    #[serde(default)]
    pub note_events: bool,
    /// Internal comments and comments on confidential issues.
    #[serde(default)]
    pub confidential_note_events: bool,
    /// Whether GitLab checks the receiver's certificate.
    #[serde(default)]
    pub enable_ssl_verification: bool,
}

impl ProjectHook {
    /// Whether the hook is ours: it posts to `url` (compared without a trailing slash).
    pub fn posts_to(&self, url: &str) -> bool {
        self.url.trim_end_matches('/') == url.trim_end_matches('/')
    }

    /// Whether the hook posts to the service's webhook route (any host): how the scheduled run,
    /// which does not know the URL API Gateway gave the stack, finds its hook.
    pub fn posts_to_our_route(&self) -> bool {
        let without_query = self.url.split(['?', '#']).next().unwrap_or_default();
        without_query.trim_end_matches('/').ends_with(WEBHOOK_PATH)
    }

    /// Whether it fires on the four events the sync reads and checks certificates.
    pub fn has_our_settings(&self) -> bool {
        self.issues_events
            && self.confidential_issues_events
            && self.note_events
            && self.confidential_note_events
            && self.enable_ssl_verification
    }
}

/// One delivery of a hook, as GitLab's "Recent events" lists it (`GET …/hooks/:hook_id/events`,
/// GitLab 17.1 and later; the last 7 days).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HookEvent {
    /// GitLab's id of the delivery.
    pub id: u64,
    /// The receiver's status as text (`200`, `503`), or `internal error` when no answer came.
    pub response_status: String,
    /// When it was made.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

impl HookEvent {
    /// Whether GitLab counted it a failure: anything but a 2xx answer.
    pub fn failed(&self) -> bool {
        !self.response_status.trim().parse::<u16>().is_ok_and(|code| (200..300).contains(&code))
    }
}

/// What the service registers its hook with: the webhook's URL and secret, the four events the
/// sync reads (issues, confidential issues, comments, confidential comments), nothing else, and
/// certificate checks on.
#[derive(Debug, Clone)]
pub struct HookSettings {
    /// The webhook function's URL.
    pub url: String,
    /// Sent by GitLab as `X-Gitlab-Token`.
    pub token: SecretString,
}

/// The token's own record (`GET /personal_access_tokens/self`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenRecord {
    /// GitLab's id of the token.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Neither revoked nor expired.
    #[serde(default)]
    pub active: bool,
    /// The day it stops working (at the start of that day, UTC); `None`: never.
    #[serde(default)]
    pub expires_at: Option<NaiveDate>,
}

impl TokenRecord {
    /// When it stops working, as a time: midnight UTC of its expiry day.
    pub fn expires_at_time(&self) -> Option<DateTime<Utc>> {
        self.expires_at.and_then(|day| day.and_hms_opt(0, 0, 0)).map(|time| time.and_utc())
    }
}

/// What a rotation answers: the new token's record and its value (shown once, by this answer).
#[derive(Debug, Clone)]
pub struct RotatedToken {
    /// The new token's record.
    pub record: TokenRecord,
    /// The new token.
    pub token: SecretString,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(url: &str) -> ProjectHook {
        serde_json::from_value(serde_json::json!({ "id": 1, "url": url })).unwrap()
    }

    #[test]
    fn our_hook_is_the_one_posting_to_our_url_or_route() {
        let ours = hook("https://abc.execute-api.eu-west-1.amazonaws.com/api/v2/integrations/gitlab/webhook/");
        assert!(ours.posts_to("https://abc.execute-api.eu-west-1.amazonaws.com/api/v2/integrations/gitlab/webhook"));
        assert!(ours.posts_to_our_route());
        assert!(!hook("https://ci.example/hook").posts_to_our_route());
        assert!(!hook("https://ci.example/hook").posts_to(&ours.url));
    }

    #[test]
    fn a_group_is_named_by_id_or_full_path_and_encoded_for_the_api() {
        let group = GitlabGroupRef::parse("data/platform").unwrap();
        assert_eq!(HookOwner::Group(group).hooks_path(), "/groups/data%2Fplatform/hooks");
        assert!(GitlabGroupRef::parse("data//x").is_err());
        assert!(GitlabGroupRef::parse(" ").is_err());
        assert_eq!(GitlabGroupRef::parse("12").unwrap().to_string(), "12");
    }

    #[test]
    fn a_token_expires_at_midnight_utc_of_its_day() {
        let record: TokenRecord =
            serde_json::from_value(serde_json::json!({ "id": 3, "name": "sync", "expires_at": "2026-12-24" })).unwrap();
        assert_eq!(record.expires_at_time().map(|t| t.to_rfc3339()).as_deref(), Some("2026-12-24T00:00:00+00:00"));
    }
}
