//! What the scheduled run learns about the service's own health, kept in the table's settings so
//! that `qalita-gitlab status`, the metrics and the next run read the same facts: each configured
//! project's GitLab hook (its state, the last heal), and the GitLab token's expiry.
//!
//! Settings keys: `health:hook:<project>` (the project as configured: id or path) and
//! `health:gitlab-token`, each one JSON document. A record that does not read is treated as absent
//! (and logged by the reader), never as an error of the sync.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::hooks::HookOwner;
use crate::ports::{Settings, StoreError};

/// The settings key prefix of the hook records.
pub const HOOK_PREFIX: &str = "health:hook:";
/// The settings key of the token record.
pub const TOKEN_KEY: &str = "health:gitlab-token";

/// GitLab's `alert_status` of a hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookState {
    /// Delivering.
    Executable,
    /// Disabled for a while after 4 failed deliveries in a row (`disabled_until`).
    TemporarilyDisabled,
    /// Disabled for good after 40 failures, until someone enables it (or a test delivery succeeds).
    Disabled,
    /// No hook of ours (with the stack's URL) on the project.
    Missing,
}

impl HookState {
    /// GitLab's word (`executable`, `temporarily_disabled`, `disabled`), or `missing`.
    pub fn as_str(self) -> &'static str {
        match self {
            HookState::Executable => "executable",
            HookState::TemporarilyDisabled => "temporarily_disabled",
            HookState::Disabled => "disabled",
            HookState::Missing => "missing",
        }
    }

    /// Reads GitLab's `alert_status`; an unknown word is `None`.
    pub fn parse(word: &str) -> Option<HookState> {
        match word {
            "executable" => Some(HookState::Executable),
            "temporarily_disabled" => Some(HookState::TemporarilyDisabled),
            "disabled" => Some(HookState::Disabled),
            "missing" => Some(HookState::Missing),
            _ => None,
        }
    }

    /// Whether deliveries are lost while the hook is in this state.
    pub fn needs_operator(self) -> bool {
        self != HookState::Executable
    }
}

/// What the last check of one project's hook found, and the last attempt to heal it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookHealth {
    /// The project as configured.
    pub project: String,
    /// When the hook was last checked.
    pub checked_at: DateTime<Utc>,
    /// GitLab's id of the hook, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_id: Option<u64>,
    /// Its state at the check (after a heal, the state the heal left).
    pub state: HookState,
    /// Until when GitLab disabled it, while temporarily disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_until: Option<DateTime<Utc>>,
    /// The last test delivery asked of GitLab to re-enable it: when, and what came of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heal: Option<HealAttempt>,
}

/// One test delivery asked of GitLab to re-enable a disabled hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealAttempt {
    /// When it was asked.
    pub at: DateTime<Utc>,
    /// Whether the hook was executable afterwards.
    pub healed: bool,
    /// What happened, for people (`re-enabled`, `the test delivery failed: 502`, `rate limited`).
    pub outcome: String,
}

/// What the last check of the GitLab token found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenHealth {
    /// When the token was last checked.
    pub checked_at: DateTime<Utc>,
    /// When it expires (GitLab gives a date; kept as midnight UTC of that day); `None`: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When the service last rotated it (`[gitlab] rotate_before_days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<DateTime<Utc>>,
    /// A problem the check met (a refused token, a rotation that failed), for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl TokenHealth {
    /// Whole days left before expiry at `now` (negative once expired); `None` when it never expires.
    pub fn days_left(&self, now: DateTime<Utc>) -> Option<i64> {
        self.expires_at.map(|at| (at - now).num_days())
    }
}

/// How often the scheduled run reads a project's hook.
pub const HOOK_CHECK_EVERY: TimeDelta = TimeDelta::hours(1);
/// How often it reads the token's expiry.
pub const TOKEN_CHECK_EVERY: TimeDelta = TimeDelta::days(1);
/// How soon a token check that met a problem is made again.
const TOKEN_RETRY_AFTER: TimeDelta = TimeDelta::hours(1);
/// The days before expiry at which the log warns (the last one crossed is named).
pub const EXPIRY_WARNINGS: [i64; 3] = [1, 7, 14];
/// The outcome of a heal GitLab's rate limit refused (5 tests a minute): tried again next run.
const RATE_LIMITED: &str = "rate limited: tried again at the next run";

/// The kinds of log line the service writes about its own health, one field (`log_kind`) that
/// the metrics and alarms filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    /// GitLab or QALITA refused a token (401).
    CredentialsRefused,
    /// A disabled hook was re-enabled by a test delivery.
    HookHealed,
    /// A disabled hook could not be re-enabled.
    HookNotHealed,
    /// No hook of the service on a configured project.
    HookMissing,
    /// The GitLab token expires within 14 days.
    TokenExpiring,
    /// The GitLab token was rotated and the new one stored.
    TokenRotated,
    /// A rotation failed; after GitLab revoked the old token, the new one could not be stored.
    TokenRotationFailed,
}

impl LogKind {
    /// The word logged as `log_kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::CredentialsRefused => "credentials-refused",
            LogKind::HookHealed => "hook-healed",
            LogKind::HookNotHealed => "hook-not-healed",
            LogKind::HookMissing => "hook-missing",
            LogKind::TokenExpiring => "token-expiring",
            LogKind::TokenRotated => "token-rotated",
            LogKind::TokenRotationFailed => "token-rotation-failed",
        }
    }
}

/// Whether a project's hook is due for a check at `now`: never checked, checked an hour ago or
/// more, or its last heal was refused by the rate limit.
pub fn hook_check_due(last: Option<&HookHealth>, now: DateTime<Utc>) -> bool {
    match last {
        None => true,
        Some(last) => {
            last.checked_at + HOOK_CHECK_EVERY <= now
                || last.last_heal.as_ref().is_some_and(|heal| heal.outcome == RATE_LIMITED)
        }
    }
}

/// A heal GitLab's rate limit refused.
pub fn rate_limited_heal(at: DateTime<Utc>) -> HealAttempt {
    HealAttempt { at, healed: false, outcome: RATE_LIMITED.to_owned() }
}

/// Whether the token is due for a check at `now`: never checked, a day since, or an hour since a
/// check that met a problem.
pub fn token_check_due(last: Option<&TokenHealth>, now: DateTime<Utc>) -> bool {
    match last {
        None => true,
        Some(last) if last.problem.is_some() => last.checked_at + TOKEN_RETRY_AFTER <= now,
        Some(last) => last.checked_at + TOKEN_CHECK_EVERY <= now,
    }
}

/// The warning threshold (14, 7 or 1 days) a token with `days_left` has crossed, if any.
pub fn expiry_warning(days_left: i64) -> Option<i64> {
    EXPIRY_WARNINGS.into_iter().find(|threshold| days_left <= *threshold)
}

/// Whether a token with `days_left` is rotated now, under `rotate_before_days`.
pub fn rotation_due(days_left: Option<i64>, rotate_before_days: Option<u32>) -> bool {
    match (days_left, rotate_before_days) {
        (Some(left), Some(before)) => left <= i64::from(before),
        _ => false,
    }
}

/// The settings key of `project`'s hook record.
pub fn hook_key(owner: &HookOwner) -> String {
    format!("{HOOK_PREFIX}{owner}")
}

/// The last record of `project`'s hook; `None` when never checked or unreadable.
pub async fn hook(store: &dyn Settings, project: &HookOwner) -> Result<Option<HookHealth>, StoreError> {
    read(store, &hook_key(project)).await
}

/// Records what a check of a hook found.
pub async fn set_hook(store: &dyn Settings, project: &HookOwner, health: &HookHealth) -> Result<(), StoreError> {
    write(store, &hook_key(project), health).await
}

/// The last record of the GitLab token; `None` when never checked or unreadable.
pub async fn token(store: &dyn Settings) -> Result<Option<TokenHealth>, StoreError> {
    read(store, TOKEN_KEY).await
}

/// Records what a check of the token found.
pub async fn set_token(store: &dyn Settings, health: &TokenHealth) -> Result<(), StoreError> {
    write(store, TOKEN_KEY, health).await
}

/// A JSON record of the settings; one that does not read is logged and taken as absent.
pub(crate) async fn read<T: for<'de> Deserialize<'de>>(
    store: &dyn Settings,
    key: &str,
) -> Result<Option<T>, StoreError> {
    let Some(text) = store.cursor(key).await? else { return Ok(None) };
    match serde_json::from_str(&text) {
        Ok(value) => Ok(Some(value)),
        Err(error) => {
            tracing::warn!(key, %error, "a health record does not read; taken as absent");
            Ok(None)
        }
    }
}

/// Writes a JSON record of the settings.
pub(crate) async fn write<T: Serialize>(store: &dyn Settings, key: &str, value: &T) -> Result<(), StoreError> {
    let text = serde_json::to_string(value)
        .map_err(|e| StoreError::Rejected { class: "health-record".into(), message: e.to_string() })?;
    store.set_cursor(key, &text).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory_store::MemoryLinkStore;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[tokio::test]
    async fn records_round_trip_through_the_settings_and_a_bad_one_reads_as_absent() {
        let store = MemoryLinkStore::default();
        let project = HookOwner::Project(crate::domain::gitlab::GitlabProjectRef::Path("data/quality".into()));
        assert_eq!(hook(&store, &project).await.unwrap(), None);
        let health = HookHealth {
            project: project.to_string(),
            checked_at: at("2026-12-02T10:00:00Z"),
            hook_id: Some(7),
            state: HookState::TemporarilyDisabled,
            disabled_until: Some(at("2026-12-02T10:01:00Z")),
            last_heal: Some(HealAttempt {
                at: at("2026-12-02T10:00:01Z"),
                healed: false,
                outcome: "rate limited".into(),
            }),
        };
        set_hook(&store, &project, &health).await.unwrap();
        assert_eq!(hook(&store, &project).await.unwrap(), Some(health));
        assert!(store.cursor("health:hook:data/quality").await.unwrap().is_some());

        let token_health = TokenHealth {
            checked_at: at("2026-12-02T10:00:00Z"),
            expires_at: Some(at("2026-12-12T00:00:00Z")),
            rotated_at: None,
            problem: None,
        };
        set_token(&store, &token_health).await.unwrap();
        assert_eq!(token(&store).await.unwrap().unwrap().days_left(at("2026-12-02T10:00:00Z")), Some(9));

        store.set_cursor(TOKEN_KEY, "{not json").await.unwrap();
        assert_eq!(token(&store).await.unwrap(), None);
    }

    fn checked(at_: &str, heal: Option<HealAttempt>) -> HookHealth {
        HookHealth {
            project: "data/quality".into(),
            checked_at: at(at_),
            hook_id: Some(1),
            state: HookState::Executable,
            disabled_until: None,
            last_heal: heal,
        }
    }

    #[test]
    fn a_hook_is_checked_at_most_once_an_hour_unless_the_rate_limit_refused_its_heal() {
        let now = at("2026-12-02T11:00:00Z");
        assert!(hook_check_due(None, now));
        assert!(!hook_check_due(Some(&checked("2026-12-02T10:30:00Z", None)), now));
        assert!(hook_check_due(Some(&checked("2026-12-02T10:00:00Z", None)), now));
        let limited = checked("2026-12-02T10:59:00Z", Some(rate_limited_heal(at("2026-12-02T10:59:00Z"))));
        assert!(hook_check_due(Some(&limited), now));
    }

    #[test]
    fn the_token_is_read_daily_and_an_hour_after_a_problem() {
        let now = at("2026-12-02T11:00:00Z");
        let mut last =
            TokenHealth { checked_at: at("2026-12-02T09:00:00Z"), expires_at: None, rotated_at: None, problem: None };
        assert!(token_check_due(None, now));
        assert!(!token_check_due(Some(&last), now));
        last.problem = Some("GitLab did not answer".into());
        assert!(token_check_due(Some(&last), now));
    }

    #[test]
    fn expiry_warnings_name_the_threshold_crossed_and_rotation_follows_its_lead_time() {
        let warnings: Vec<Option<i64>> = [30, 14, 8, 7, 2, 1, 0, -1].into_iter().map(expiry_warning).collect();
        assert_eq!(warnings, [None, Some(14), Some(14), Some(7), Some(7), Some(1), Some(1), Some(1)]);
        assert!(rotation_due(Some(10), Some(10)) && !rotation_due(Some(11), Some(10)));
        assert!(!rotation_due(Some(1), None), "off by default");
        assert!(!rotation_due(None, Some(10)), "a token that never expires is not rotated");
    }

    #[test]
    fn every_state_reads_back_from_its_word() {
        for state in [HookState::Executable, HookState::TemporarilyDisabled, HookState::Disabled, HookState::Missing] {
            assert_eq!(HookState::parse(state.as_str()), Some(state));
        }
        assert_eq!(HookState::parse("enabled"), None);
        assert!(!HookState::Executable.needs_operator() && HookState::Disabled.needs_operator());
    }
}
