//! What the scheduled run learns about the service's own health, kept in the table's settings so
//! that `qalita-gitlab status`, the metrics and the next run read the same facts: each configured
//! project's GitLab hook (its state, the last heal), and the GitLab token's expiry.
//!
//! Settings keys: `health:hook:<project>` (the project as configured: id or path) and
//! `health:gitlab-token`, each one JSON document. A record that does not read is treated as absent
//! (and logged by the reader), never as an error of the sync.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::gitlab::GitlabProjectRef;
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

/// The settings key of `project`'s hook record.
pub fn hook_key(project: &GitlabProjectRef) -> String {
    format!("{HOOK_PREFIX}{project}")
}

/// The last record of `project`'s hook; `None` when never checked or unreadable.
pub async fn hook(store: &dyn Settings, project: &GitlabProjectRef) -> Result<Option<HookHealth>, StoreError> {
    read(store, &hook_key(project)).await
}

/// Records what a check of a hook found.
pub async fn set_hook(store: &dyn Settings, project: &GitlabProjectRef, health: &HookHealth) -> Result<(), StoreError> {
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
        let project = GitlabProjectRef::Path("data/quality".into());
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

    #[test]
    fn every_state_reads_back_from_its_word() {
        for state in [HookState::Executable, HookState::TemporarilyDisabled, HookState::Disabled, HookState::Missing] {
            assert_eq!(HookState::parse(state.as_str()), Some(state));
        }
        assert_eq!(HookState::parse("enabled"), None);
        assert!(!HookState::Executable.needs_operator() && HookState::Disabled.needs_operator());
    }
}
