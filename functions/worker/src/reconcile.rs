//! The scheduled reconcile of GitLab: GitLab never retries a failed delivery, drops events while a
//! hook is disabled, and a receiver can be down. Every run lists, in each project the sync writes
//! to, the issues GitLab changed since the last run (`updated_after`, from a cursor per project),
//! and puts each one that carries our marker through the inbound sync as GitLab has it now. An
//! issue whose fields are what the link knows costs nothing more; a change whose delivery was
//! lost is applied as if it had arrived.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use qalita_gitlab_core::domain::gitlab::GitlabProjectRef;
use qalita_gitlab_core::domain::marker::Marker;
use qalita_gitlab_core::events::facts::GitlabIssueFacts;
use qalita_gitlab_core::ports::{CallContext, IssueQuery};

use crate::handler::Deps;

/// The cursors' names: one per project.
pub const CURSOR_PREFIX: &str = "gitlab-reconcile:";

/// How far back each run looks before its cursor: GitLab's clock and the cursor's may differ a
/// little, and a change at the cursor's own second must not be missed.
const OVERLAP: TimeDelta = TimeDelta::seconds(60);

/// On the first run of a project, how far back to look.
const FIRST_LOOK_BACK: TimeDelta = TimeDelta::hours(1);

/// Pages of 100 read per project and run, at most.
const MAX_PAGES: u32 = 20;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReconcileReport {
    /// Projects listed.
    pub projects: usize,
    /// GitLab issues read.
    pub read: usize,
    /// Issues whose GitLab state was synced to QALITA (a change whose delivery was lost).
    pub synced: usize,
    /// Notes copied to QALITA whose delivery was lost.
    pub notes_copied: usize,
    /// Issues refused for good (logged); looked at again when they next change.
    pub failed: usize,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
}

impl ReconcileReport {
    /// Adds the run to the metrics and records it for `qalita-gitlab status`.
    async fn record(&self, deps: &Deps, took: std::time::Duration) {
        use qalita_gitlab_core::activity::{self, Run, RunRecord};
        let record = RunRecord {
            finished_at: deps.clock.now(),
            took_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            read: self.read as u64,
            changed: self.synced as u64,
            failed: self.failed as u64,
            stopped: self.stopped.clone(),
        };
        activity::finish_run(deps.store.as_ref(), Run::Reconcile, &record).await;
    }
}

/// Reconciles every project the configuration routes to, stopping before `deadline`.
pub async fn reconcile(deps: &Deps, deadline: Instant) -> ReconcileReport {
    let started = Instant::now();
    let mut report = ReconcileReport::default();
    if let Some(reason) = qalita_gitlab_core::control::held(deps.store.as_ref()).await {
        report.stopped = Some(reason);
        return report;
    }
    let config = &deps.config;
    let projects: BTreeSet<String> = config.projects().iter().map(GitlabProjectRef::to_string).collect();
    for project in projects {
        if Instant::now() >= deadline {
            report.stopped = Some("out of time".into());
            break;
        }
        let Ok(project_ref) = GitlabProjectRef::parse(&project) else { continue };
        report.projects += 1;
        if let Err(reason) = reconcile_project(deps, &project_ref, &mut report, deadline).await {
            tracing::warn!(project = %project, reason = %reason, "GitLab reconcile stopped for this project; the next run resumes from its cursor");
            report.stopped = Some(reason);
        }
    }
    tracing::info!(projects = report.projects, read = report.read, synced = report.synced, failed = report.failed, stopped = ?report.stopped, "GitLab reconcile");
    report.record(deps, started.elapsed()).await;
    report
}

async fn reconcile_project(
    deps: &Deps,
    project: &GitlabProjectRef,
    report: &mut ReconcileReport,
    deadline: Instant,
) -> Result<(), String> {
    let name = format!("{CURSOR_PREFIX}{project}");
    let started = deps.clock.now();
    let stored = deps
        .store
        .cursor(&name)
        .await
        .map_err(|e| format!("cursor unreadable: {e}"))?
        .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
        .map(|t| t.with_timezone(&Utc));
    // GitLab lists by `updated_at`, oldest first. Pages are read by key (`updated_after` the last
    // time seen) rather than by number: a write made meanwhile moves an issue to the end instead
    // of shifting the pages under the reader, and the cursor moves after every page, so a burst
    // of changes is read over several runs, never re-read from the start.
    let mut after = stored.unwrap_or(started - FIRST_LOOK_BACK) - OVERLAP;
    let mut query = IssueQuery { updated_after: Some(after), page: 1, per_page: 100, ..IssueQuery::default() };
    let mut cursor = stored;
    for _ in 0..MAX_PAGES {
        if Instant::now() >= deadline {
            return Err("out of time; the next run goes on from the cursor".into());
        }
        let page = deps.engine.gitlab().list_issues(project, &query).await.map_err(|error| {
            crate::upkeep::refused(deps, &error, "listing GitLab's changed issues");
            error.to_string()
        })?;
        report.read += page.items.len();
        for issue in &page.items {
            reconcile_issue(deps, issue, stored, report).await?;
        }
        let full = page.items.len() >= query.per_page as usize && page.next_page.is_some();
        match page.items.last().map(|issue| issue.updated_at) {
            Some(last) => {
                cursor = cursor.max(Some(last));
                save(deps, &name, last.max(cursor.unwrap_or(last))).await?;
                if !full {
                    return Ok(());
                }
                // Many issues of one instant fill a page: the next page of that instant, else the
                // next instant.
                if last > after {
                    after = last;
                    query = IssueQuery { updated_after: Some(after), page: 1, ..query };
                } else {
                    query.page += 1;
                }
            }
            None => {
                // Nothing changed since the cursor, as far as GitLab's clock and ours agree.
                if cursor.is_none() {
                    save(deps, &name, started - OVERLAP).await?;
                }
                return Ok(());
            }
        }
    }
    Err(format!("more than {MAX_PAGES} pages changed; the next run goes on from the cursor"))
}

async fn save(deps: &Deps, name: &str, at: DateTime<Utc>) -> Result<(), String> {
    deps.store.set_cursor(name, &at.to_rfc3339()).await.map_err(|e| format!("cursor not saved: {e}"))
}

/// One changed GitLab issue through the inbound sync, and its notes swept when it changed after
/// the last run's cursor (an issue seen again only for the overlap had them read already).
async fn reconcile_issue(
    deps: &Deps,
    issue: &qalita_gitlab_core::domain::gitlab::GitlabIssue,
    stored: Option<DateTime<Utc>>,
    report: &mut ReconcileReport,
) -> Result<(), String> {
    // Only the issues this service made carry the marker; the rest cost nothing.
    if issue.description.as_deref().and_then(Marker::issue_of).is_none() {
        return Ok(());
    }
    let facts = GitlabIssueFacts::of_api(issue);
    let call = CallContext::default();
    match deps.engine.sync_gitlab_issue(&facts, &call).await {
        Ok(outcome) => {
            if !outcome.action.is_quiet() {
                report.synced += 1;
            }
        }
        Err(error) if error.is_transient() => return Err(error.to_string()),
        Err(error) => {
            report.failed += 1;
            tracing::warn!(gitlab_issue = %issue.web_url, error = %error, "GitLab issue not reconciled");
            return Ok(());
        }
    }
    if stored.is_some_and(|cursor| issue.updated_at <= cursor) {
        return Ok(());
    }
    // A note changes the issue's `updated_at` too: its delivery may be the one lost.
    let copied = match deps.engine.link_of_gitlab(facts.project_id, facts.iid, facts.marked).await {
        Ok(Some(link)) => deps.engine.sync_gitlab_notes(&link, &call).await,
        Ok(None) => Ok(0),
        Err(error) => Err(error.into()),
    };
    match copied {
        Ok(copied) => report.notes_copied += copied,
        Err(error) if error.is_transient() => return Err(error.to_string()),
        Err(error) => {
            report.failed += 1;
            tracing::warn!(gitlab_issue = %issue.web_url, error = %error, "GitLab notes not reconciled");
        }
    }
    Ok(())
}
