//! `[gitlab.rate_limits]`: the budgets the rate governor keeps GitLab writes within, before GitLab
//! refuses them with 429. GitLab shows its API budget in `RateLimit-*` headers, but not the issue-
//! and note-creation budgets (gitlab.com: 200 issues and 60 notes a minute per user; a
//! self-managed instance's administrator sets its own under Settings → Network).
//!
//! ```toml
//! [gitlab.rate_limits]
//! issue_creations_per_minute = 200   # 0: no budget (GitLab's 429s are still honoured)
//! note_creations_per_minute = 60
//! api_reserve = 20                   # requests of the API budget left to others before pausing
//! max_wait_seconds = 20              # a longer pause sends the message back for that long instead
//! ```

use std::time::Duration;

use serde::Deserialize;

/// The governor's budgets, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimits {
    /// Issue creations a minute, shared by every worker; `None`: no budget.
    pub issue_creations_per_minute: Option<u32>,
    /// Note creations a minute, shared by every worker; `None`: no budget.
    pub note_creations_per_minute: Option<u32>,
    /// When GitLab's `RateLimit-Remaining` falls to this, calls wait for `RateLimit-Reset`.
    pub api_reserve: u32,
    /// The longest a call waits in the process; a longer wait is a transient error whose retry is
    /// that wait (the message comes back then).
    pub max_wait: Duration,
}

impl Default for RateLimits {
    /// gitlab.com's figures.
    fn default() -> Self {
        RateLimits {
            issue_creations_per_minute: Some(200),
            note_creations_per_minute: Some(60),
            api_reserve: 20,
            max_wait: Duration::from_secs(20),
        }
    }
}

/// `[gitlab.rate_limits]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RateLimitsDoc {
    issue_creations_per_minute: Option<u32>,
    note_creations_per_minute: Option<u32>,
    api_reserve: Option<u32>,
    max_wait_seconds: Option<u64>,
}

impl RateLimits {
    /// Reads the section; the error names the key (under `gitlab.rate_limits`) and the problem.
    pub(super) fn from_doc(doc: RateLimitsDoc) -> Result<RateLimits, (&'static str, String)> {
        let defaults = RateLimits::default();
        let budget = |value: Option<u32>, default: Option<u32>| match value {
            Some(0) => None,
            Some(n) => Some(n),
            None => default,
        };
        let max_wait = doc.max_wait_seconds.unwrap_or(defaults.max_wait.as_secs());
        if max_wait > 60 {
            return Err((
                "max_wait_seconds",
                format!("{max_wait} is more than 60: a worker must not spend its time-out waiting"),
            ));
        }
        let api_reserve = doc.api_reserve.unwrap_or(defaults.api_reserve);
        if api_reserve > 1000 {
            return Err(("api_reserve", format!("{api_reserve} is more than 1000 (gitlab.com allows 2000 a minute)")));
        }
        Ok(RateLimits {
            issue_creations_per_minute: budget(doc.issue_creations_per_minute, defaults.issue_creations_per_minute),
            note_creations_per_minute: budget(doc.note_creations_per_minute, defaults.note_creations_per_minute),
            api_reserve,
            max_wait: Duration::from_secs(max_wait),
        })
    }
}
