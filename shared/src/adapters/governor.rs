//! The rate governor: GitLab writes paced within GitLab's budgets before GitLab refuses them.
//!
//! - **The API budget** GitLab shows on every answer (`RateLimit-Limit`, `RateLimit-Remaining`,
//!   `RateLimit-Reset`): the client records the last one seen ([`RateSeen`]); when the remaining
//!   requests fall to `api_reserve`, calls wait for the reset.
//! - **The creation budgets** GitLab does not show (gitlab.com: 200 issues and 60 notes a minute per
//!   user): counted per minute in the table ([`Settings::take_budget`], a conditional `ADD`), so
//!   every worker, `serve` and the CLI share one count of the one token's creations. A per-minute
//!   counter rather than the queue's maximum concurrency: concurrency bounds calls in flight, not
//!   calls per minute (ten workers each creating an issue every 50 ms make 12,000 a minute), and
//!   the CLI's `backfill` writes outside the queue.
//!
//! A wait up to `max_wait` is made in the process; a longer one is a transient error
//! ([`TransientKind::Paced`], nothing sent) whose retry is the wait: the worker's message comes
//! back then, `backfill` waits it out. A counter that cannot be read lets the write through:
//! GitLab's own 429 still stops it, and is honoured.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

use crate::config::RateLimits;
use crate::domain::Iid;
use crate::domain::gitlab::{GitlabIssue, GitlabNote, GitlabProjectRef, GitlabUser, IssueUpdate, NewIssue};
use crate::ports::{ApiError, CallContext, Clock, GitlabApi, IssueQuery, Page, Service, Settings, TransientKind};

/// GitLab's API budget as its last answer showed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiBudget {
    /// Requests allowed in the window (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests left (`RateLimit-Remaining`).
    pub remaining: u32,
    /// When the window ends (`RateLimit-Reset`, a Unix time).
    pub reset_at: DateTime<Utc>,
}

/// The last API budget a client was shown, shared between the client (which records it) and the
/// governor (which reads it).
#[derive(Debug, Default)]
pub struct RateSeen(Mutex<Option<ApiBudget>>);

impl RateSeen {
    /// Records the budget an answer's headers show; an answer without them changes nothing.
    pub fn observe(&self, headers: &HeaderMap) {
        let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<i64>().ok();
        let (Some(limit), Some(remaining), Some(reset)) =
            (number("ratelimit-limit"), number("ratelimit-remaining"), number("ratelimit-reset"))
        else {
            return;
        };
        let Some(reset_at) = DateTime::from_timestamp(reset, 0) else { return };
        let budget = ApiBudget {
            limit: u32::try_from(limit).unwrap_or(0),
            remaining: u32::try_from(remaining.max(0)).unwrap_or(0),
            reset_at,
        };
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(budget);
    }

    /// The last budget seen.
    pub fn last(&self) -> Option<ApiBudget> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a call spends besides the API budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spends {
    Api,
    IssueCreation,
    NoteCreation,
}

/// The table counters' names.
pub const ISSUE_CREATIONS: &str = "gitlab-issue-creations";
/// See [`ISSUE_CREATIONS`].
pub const NOTE_CREATIONS: &str = "gitlab-note-creations";

/// A [`GitlabApi`] whose calls are paced as the module says.
pub struct Governed {
    inner: Arc<dyn GitlabApi>,
    seen: Arc<RateSeen>,
    counters: Arc<dyn Settings>,
    clock: Arc<dyn Clock>,
    limits: RateLimits,
    window: Duration,
}

impl Governed {
    /// `inner`, paced by `limits`, reading the budget its client records in `seen` and counting
    /// creations in `counters`, per minute.
    pub fn new(
        inner: Arc<dyn GitlabApi>,
        seen: Arc<RateSeen>,
        counters: Arc<dyn Settings>,
        clock: Arc<dyn Clock>,
        limits: RateLimits,
    ) -> Governed {
        Governed { inner, seen, counters, clock, limits, window: Duration::from_secs(60) }
    }

    /// The same, with the creation budgets counted per `window` instead of per minute (a
    /// simulator whose time runs faster than GitLab's).
    pub fn with_window(mut self, window: Duration) -> Governed {
        self.window = window.max(Duration::from_secs(1));
        self
    }

    /// Waits until the call may be made, or says how long it must wait when that is too long.
    async fn pace(&self, spends: Spends) -> Result<(), ApiError> {
        loop {
            let wait = match self.api_wait() {
                Some(wait) => Some(wait),
                None => self.creation_wait(spends).await,
            };
            let Some(wait) = wait else { return Ok(()) };
            if wait > self.limits.max_wait {
                return Err(ApiError::Transient {
                    service: Service::Gitlab,
                    kind: TransientKind::Paced,
                    retry_after: Some(wait),
                    message: format!(
                        "held by the rate governor for {} s: {}",
                        wait.as_secs_f64().ceil(),
                        self.why(spends)
                    ),
                });
            }
            tracing::debug!(
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                why = self.why(spends),
                "paced"
            );
            tokio::time::sleep(wait).await;
        }
    }

    fn why(&self, spends: Spends) -> String {
        match (spends, self.api_wait()) {
            (_, Some(_)) => format!("GitLab's API budget is down to its reserve of {}", self.limits.api_reserve),
            (Spends::IssueCreation, None) => format!(
                "the budget of {} issue creations a minute is spent",
                self.limits.issue_creations_per_minute.unwrap_or_default()
            ),
            (Spends::NoteCreation, None) => format!(
                "the budget of {} note creations a minute is spent",
                self.limits.note_creations_per_minute.unwrap_or_default()
            ),
            (Spends::Api, None) => "GitLab's API budget is spent".into(),
        }
    }

    /// How long until GitLab's API budget is above the reserve again; `None`: now.
    fn api_wait(&self) -> Option<Duration> {
        let budget = self.seen.last()?;
        if budget.remaining > self.limits.api_reserve {
            return None;
        }
        (budget.reset_at - self.clock.now()).to_std().ok().filter(|wait| !wait.is_zero())
    }

    /// Takes one use of the call's creation budget; how long until the next window when spent.
    async fn creation_wait(&self, spends: Spends) -> Option<Duration> {
        let (name, per_minute) = match spends {
            Spends::Api => return None,
            Spends::IssueCreation => (ISSUE_CREATIONS, self.limits.issue_creations_per_minute?),
            Spends::NoteCreation => (NOTE_CREATIONS, self.limits.note_creations_per_minute?),
        };
        let now = self.clock.now();
        let length = i64::try_from(self.window.as_secs()).unwrap_or(60);
        let window = now.timestamp().div_euclid(length) * length;
        match self.counters.take_budget(name, window, per_minute).await {
            Ok(true) => None,
            Ok(false) => {
                let next = DateTime::from_timestamp(window + length, 0).unwrap_or(now);
                // A little after the window turns, so that clocks a little apart agree it did.
                Some((next - now).to_std().unwrap_or_default() + Duration::from_millis(50))
            }
            Err(error) => {
                tracing::warn!(%error, budget = name, "the rate budget is unreadable; the call goes ahead");
                None
            }
        }
    }
}

#[async_trait]
impl GitlabApi for Governed {
    async fn create_issue(
        &self,
        project: &GitlabProjectRef,
        issue: &NewIssue,
        context: &CallContext,
    ) -> Result<GitlabIssue, ApiError> {
        self.pace(Spends::IssueCreation).await?;
        self.inner.create_issue(project, issue, context).await
    }

    async fn get_issue(&self, project: &GitlabProjectRef, iid: Iid) -> Result<GitlabIssue, ApiError> {
        self.pace(Spends::Api).await?;
        self.inner.get_issue(project, iid).await
    }

    async fn update_issue(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        update: &IssueUpdate,
        context: &CallContext,
    ) -> Result<GitlabIssue, ApiError> {
        self.pace(Spends::Api).await?;
        self.inner.update_issue(project, iid, update, context).await
    }

    async fn list_issues(&self, project: &GitlabProjectRef, query: &IssueQuery) -> Result<Page<GitlabIssue>, ApiError> {
        self.pace(Spends::Api).await?;
        self.inner.list_issues(project, query).await
    }

    async fn create_note(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        body: &str,
        internal: bool,
        context: &CallContext,
    ) -> Result<GitlabNote, ApiError> {
        self.pace(Spends::NoteCreation).await?;
        self.inner.create_note(project, iid, body, internal, context).await
    }

    async fn update_note(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        note: u64,
        body: &str,
        context: &CallContext,
    ) -> Result<GitlabNote, ApiError> {
        self.pace(Spends::Api).await?;
        self.inner.update_note(project, iid, note, body, context).await
    }

    async fn list_notes(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        page: u32,
        per_page: u32,
    ) -> Result<Page<GitlabNote>, ApiError> {
        self.pace(Spends::Api).await?;
        self.inner.list_notes(project, iid, page, per_page).await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<GitlabUser>, ApiError> {
        self.pace(Spends::Api).await?;
        self.inner.user_by_username(username).await
    }

    async fn current_user(&self) -> Result<GitlabUser, ApiError> {
        self.pace(Spends::Api).await?;
        self.inner.current_user().await
    }
}
