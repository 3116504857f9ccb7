//! The scheduled poll of QALITA (DESIGN section 6): QALITA documents no issue webhook, and its
//! list is newest first by creation with no "updated since" filter. Every run reads the newest
//! page (a new issue is picked up within one interval) and sweeps older pages from a cursor kept in
//! the table (an update to an old issue is picked up within one sweep).
//!
//! The poll does not sync by itself: an issue whose `updated_at` is newer than its link's
//! watermark is put on the queue as an `issue.updated` event in the issue's own message group, so
//! that it is applied in order with the change events of that issue and never races them.
//!
//! A new QALITA comment does not move its issue's `updated_at`, so every run also queues the
//! comment sweep of a fixed number of open linked issues, those swept longest ago first
//! (`plan::sweep`): a comment reaches GitLab within ⌈open links / per run⌉ runs.

use std::time::Instant;

use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::link::LinkState;
use qalita_gitlab_core::domain::qalita::QalitaIssue;
use qalita_gitlab_core::events::qalita::{poll_key, sweep_key};
use qalita_gitlab_core::plan::outbound::{PollVerdict, poll_verdict};
use qalita_gitlab_core::plan::sweep;
use qalita_gitlab_core::ports::{QueueError, StoreError};
use serde_json::{Value, json};

use crate::handler::Deps;

/// The cursor of the sweep: the offset of the next older page to read.
pub const SWEEP_CURSOR: &str = "poll-sweep";

/// How many times a swept link is read again when it changed under the run (a sync meanwhile).
const MARK_ATTEMPTS: usize = 3;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PollReport {
    /// Issues read from QALITA.
    pub read: usize,
    /// Issues new or changed since their last sync, put on the queue.
    pub enqueued: usize,
    /// Unlinked issues the creation policy gives no GitLab issue by itself (`[create]`).
    pub not_created: usize,
    /// Issues that could not be checked or queued (logged); the next sweep tries them again.
    pub failed: usize,
    /// Open linked issues whose comment sweep was queued (`sync.comment_sweep_per_run` at most).
    pub comments_swept: usize,
    /// Links written before the comment sweep existed, put at the head of its line.
    pub enrolled: usize,
    /// Pages read.
    pub pages: usize,
    /// The sweep's next offset.
    pub next_offset: u64,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
}

impl PollReport {
    /// Adds the run to the metrics and records it for `qalita-gitlab status`.
    async fn record(&self, deps: &Deps, took: std::time::Duration) {
        use qalita_gitlab_core::activity::{self, Run, RunRecord};
        let record = RunRecord {
            finished_at: deps.clock.now(),
            took_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            read: self.read as u64,
            changed: self.enqueued as u64,
            failed: self.failed as u64,
            stopped: self.stopped.clone(),
        };
        activity::finish_run(deps.store.as_ref(), Run::Poll, &record).await;
    }
}

/// Runs one poll, stopping before `deadline` (the Lambda's, less a margin).
pub async fn poll(deps: &Deps, deadline: Instant) -> PollReport {
    let started = Instant::now();
    let mut report = PollReport::default();
    if let Some(reason) = qalita_gitlab_core::control::held(deps.store.as_ref()).await {
        report.stopped = Some(reason);
        return report;
    }
    let size = u64::from(deps.config.sync.poll_page_size);
    let start = match deps.store.cursor(SWEEP_CURSOR).await {
        Ok(cursor) => cursor.and_then(|c| c.parse::<u64>().ok()).unwrap_or(size).max(size),
        Err(error) => {
            report.stopped = Some(format!("cursor unreadable: {error}"));
            return report;
        }
    };
    report.next_offset = start;
    // Where the default creation policy starts: recorded by the first run against this table.
    let first_run = match deps.engine.first_run().await {
        Ok(at) => at,
        Err(error) => {
            report.stopped = Some(format!("first run unreadable: {error}"));
            return report;
        }
    };

    sweep_comments(deps, &mut report, deadline).await;
    // The newest page first: offset 0 is read every run, so the sweep starts after it.
    if !read_page(deps, 0, first_run, &mut report, deadline).await.is_some_and(|page| page.finished) {
        save_cursor(deps, &report).await;
        report.record(deps, started.elapsed()).await;
        return report;
    }
    let mut offset = start;
    for _ in 0..deps.config.sync.poll_sweep_pages {
        let Some(page) = read_page(deps, offset, first_run, &mut report, deadline).await else { break };
        if !page.finished {
            break;
        }
        // The cursor moves past a page only once every issue of it is checked; a short page is
        // the oldest, and the sweep starts again after the newest page.
        offset = if page.len < size { size } else { offset + size };
        report.next_offset = offset;
        save_cursor(deps, &report).await;
        if page.len < size {
            break;
        }
    }
    save_cursor(deps, &report).await;
    tracing::info!(read = report.read, enqueued = report.enqueued, not_created = report.not_created, failed = report.failed, comments_swept = report.comments_swept, enrolled = report.enrolled, pages = report.pages, next_offset = report.next_offset, stopped = ?report.stopped, "poll");
    report.record(deps, started.elapsed()).await;
    report
}

struct PageRead {
    len: u64,
    finished: bool,
}

/// Reads one page and queues its changed issues. `None` when the page could not be read (the
/// reason is in the report).
async fn read_page(
    deps: &Deps,
    offset: u64,
    first_run: chrono::DateTime<chrono::Utc>,
    report: &mut PollReport,
    deadline: Instant,
) -> Option<PageRead> {
    if Instant::now() >= deadline {
        report.stopped = Some("out of time".into());
        return None;
    }
    let size = deps.config.sync.poll_page_size;
    let page = match deps.qalita.list_issues(offset, size).await {
        Ok(page) => page,
        // A page QALITA refuses for good (an issue that does not read) must not stop every later
        // run at the same place: it is logged and passed over.
        Err(error) if !error.is_transient() => {
            crate::upkeep::refused(deps, &error, "listing QALITA's issues");
            tracing::error!(offset, error = %error, "QALITA page refused; passed over until the next sweep");
            report.failed += 1;
            return Some(PageRead { len: u64::from(size), finished: true });
        }
        Err(error) => {
            tracing::warn!(offset, error = %error, "QALITA page unreadable; the poll stops here and tries again next run");
            report.stopped = Some(error.to_string());
            return None;
        }
    };
    report.pages += 1;
    report.read += page.len();
    for issue in &page {
        if Instant::now() >= deadline {
            report.stopped = Some("out of time".into());
            return Some(PageRead { len: page.len() as u64, finished: false });
        }
        match verdict(deps, issue, first_run, report).await {
            Ok(PollVerdict::Nothing) => {}
            Ok(PollVerdict::NotCreated(_)) => report.not_created += 1,
            Ok(PollVerdict::Sync) => match enqueue(deps, issue).await {
                Ok(()) => report.enqueued += 1,
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(qalita_issue = %issue.id, error = %error, "change not queued");
                }
            },
            Err(error) => {
                report.failed += 1;
                tracing::warn!(qalita_issue = %issue.id, error = %error, "link unreadable");
            }
        }
    }
    Some(PageRead { len: page.len() as u64, finished: true })
}

/// Whether the issue needs a sync: new and created by the policy, or changed since its last sync.
/// A link written before the comment sweep existed is enrolled in its line on the way (once).
async fn verdict(
    deps: &Deps,
    issue: &QalitaIssue,
    first_run: chrono::DateTime<chrono::Utc>,
    report: &mut PollReport,
) -> Result<PollVerdict, StoreError> {
    let link = deps.store.get(issue.id).await?;
    if let Some(enrolled) = link.as_ref().and_then(|link| sweep::enrolled(link, deps.clock.now())) {
        match deps.store.update(&enrolled).await {
            Ok(_) => report.enrolled += 1,
            // Enrolled when the poll next reads the issue.
            Err(error) => {
                tracing::warn!(qalita_issue = %issue.id, error = %error, "link not enrolled in the comment sweep")
            }
        }
    }
    Ok(poll_verdict(&deps.config, link.as_ref(), issue, first_run))
}

/// Puts the issue on the queue as a change event of its own group. The deduplication id names
/// the state, so two runs that see the same state queue it once.
async fn enqueue(deps: &Deps, issue: &QalitaIssue) -> Result<(), QueueError> {
    send(deps, issue.id, poll_key(issue.id, issue.updated_at), json!({ "issue": issue })).await
}

/// Puts an `issue.updated` event about `issue` on the queue, in the issue's own group, under `key`
/// (its deduplication id).
async fn send(deps: &Deps, issue: QalitaIssueId, key: String, payload: Value) -> Result<(), QueueError> {
    crate::requeue::send(deps.queue.as_ref(), deps.clock.now(), issue, key, payload).await
}

/// Queues the comment sweep of the next open links of the line (`sync.comment_sweep_per_run`,
/// those swept longest ago first), each as an id-only poll event in its issue's group (the worker
/// reads the issue and copies its new comments, as for any poll event), and moves each link to the
/// back of the line. A link whose event is not queued stays at the head, for the next run.
async fn sweep_comments(deps: &Deps, report: &mut PollReport, deadline: Instant) {
    if !deps.config.comments.to_gitlab {
        return;
    }
    let limit = usize::try_from(deps.config.sync.comment_sweep_per_run).unwrap_or(usize::MAX);
    let line = match deps.store.next_to_sweep(limit).await {
        Ok(line) => line,
        Err(error) => {
            report.failed += 1;
            tracing::warn!(error = %error, "the comment sweep's line is unreadable; the next run sweeps from the same place");
            return;
        }
    };
    for link in line {
        if Instant::now() >= deadline {
            report.stopped = Some("out of time".into());
            return;
        }
        let (id, now) = (link.qalita_id, deps.clock.now());
        if let Err(error) = send(deps, id, sweep_key(id, now), json!({ "issue_id": id })).await {
            report.failed += 1;
            tracing::warn!(qalita_issue = %id, error = %error, "comment sweep not queued");
            continue;
        }
        report.comments_swept += 1;
        // A mark not written costs a second sweep of this issue next run, which copies nothing.
        if let Err(error) = mark_swept(deps, link, now).await {
            tracing::warn!(qalita_issue = %id, error = %error, "comment sweep queued but not recorded on the link");
        }
    }
}

/// Moves the link to the back of the comment sweep's line, reading it again if a sync changed it
/// since it was listed.
async fn mark_swept(deps: &Deps, mut link: LinkState, now: chrono::DateTime<chrono::Utc>) -> Result<(), StoreError> {
    for _ in 0..MARK_ATTEMPTS {
        match deps.store.update(&sweep::swept(&link, now)).await {
            Err(StoreError::Conflict) => match deps.store.get(link.qalita_id).await? {
                Some(fresh) => link = fresh,
                None => return Ok(()),
            },
            result => return result.map(drop),
        }
    }
    Err(StoreError::Conflict)
}

async fn save_cursor(deps: &Deps, report: &PollReport) {
    if let Err(error) = deps.store.set_cursor(SWEEP_CURSOR, &report.next_offset.to_string()).await {
        tracing::error!(error = %error, "poll cursor not saved; the next run sweeps the same pages again");
    }
}
