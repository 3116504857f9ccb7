//! The scheduled poll of QALITA (DESIGN section 6): QALITA documents no issue webhook, and its
//! list is newest first by creation with no "updated since" filter. Every run reads the newest
//! page (a new issue is picked up within one interval) and sweeps a few older pages from a cursor
//! kept in the table (an update to an old issue is picked up within one sweep). Only issues whose
//! `updated_at` is newer than their link's watermark are synced.

use std::time::Instant;

use qalita_gitlab_core::domain::qalita::{IssueContext, QalitaIssue};
use qalita_gitlab_core::ports::{ApiError, CallContext};

use crate::handler::Deps;

/// The cursor of the sweep: the offset of the next older page to read.
pub const SWEEP_CURSOR: &str = "poll-sweep";

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PollReport {
    /// Issues read from QALITA.
    pub read: usize,
    /// Issues synced (changed or new).
    pub synced: usize,
    /// Issues whose sync failed (logged).
    pub failed: usize,
    /// Pages read.
    pub pages: usize,
    /// The sweep's next offset.
    pub next_offset: u64,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
}

/// Runs one poll, stopping before `deadline` (the Lambda's, less a margin).
pub async fn poll(deps: &Deps, deadline: Instant) -> PollReport {
    let mut report = PollReport::default();
    let size = deps.config.sync.poll_page_size;
    let start = match deps.store.cursor(SWEEP_CURSOR).await {
        Ok(cursor) => cursor.and_then(|c| c.parse::<u64>().ok()).unwrap_or(u64::from(size)),
        Err(error) => {
            report.stopped = Some(format!("cursor unreadable: {error}"));
            return report;
        }
    };
    // The newest page, then the sweep: offset 0 is read every run, so the sweep skips it.
    let mut offsets = vec![0u64];
    let mut offset = start.max(u64::from(size));
    for _ in 0..deps.config.sync.poll_sweep_pages {
        offsets.push(offset);
        offset += u64::from(size);
    }
    report.next_offset = start.max(u64::from(size));
    for (index, offset) in offsets.into_iter().enumerate() {
        if Instant::now() >= deadline {
            report.stopped = Some("out of time".into());
            break;
        }
        let page = match deps.qalita.list_issues(offset, size).await {
            Ok(page) => page,
            Err(error) => {
                report.stopped = Some(error.to_string());
                break;
            }
        };
        report.pages += 1;
        report.read += page.len();
        let full = page.len() == size as usize;
        if let Err(error) = sync_page(deps, &page, &mut report, deadline).await {
            report.stopped = Some(error.to_string());
            break;
        }
        if index > 0 {
            // A short page is the oldest: the sweep starts again after the newest page.
            report.next_offset = if full { offset + u64::from(size) } else { u64::from(size) };
        }
        if index > 0 && !full {
            break;
        }
    }
    if let Err(error) = deps.store.set_cursor(SWEEP_CURSOR, &report.next_offset.to_string()).await {
        tracing::error!(error = %error, "poll cursor not saved; the next run sweeps the same pages again");
    }
    tracing::info!(read = report.read, synced = report.synced, failed = report.failed, pages = report.pages, next_offset = report.next_offset, stopped = ?report.stopped, "poll");
    report
}

/// Syncs the issues of a page that changed since their link's watermark. A transient failure
/// (rate limit, outage) ends the run: the next run retries; a permanent one is logged.
async fn sync_page(
    deps: &Deps,
    page: &[QalitaIssue],
    report: &mut PollReport,
    deadline: Instant,
) -> Result<(), ApiError> {
    for issue in page {
        if Instant::now() >= deadline {
            return Ok(());
        }
        let link = match deps.store.get(issue.id).await {
            Ok(link) => link,
            Err(error) => {
                tracing::warn!(qalita_issue = %issue.id, error = %error, "link unreadable; skipped this run");
                continue;
            }
        };
        let changed = match (&link, issue.updated_at) {
            (None, _) => true,
            (Some(link), Some(updated)) => link.qalita_watermark.is_none_or(|w| updated > w),
            (Some(_), None) => false,
        };
        if !changed {
            continue;
        }
        match deps.syncer.sync_issue(issue, &IssueContext::default(), &CallContext::default()).await {
            Ok(outcome) => {
                report.synced += 1;
                tracing::info!(qalita_issue = %issue.id, outcome = outcome.action, "polled");
            }
            Err(qalita_gitlab_core::apply::SyncError::Api(error)) if error.is_transient() => return Err(error),
            Err(error) => {
                report.failed += 1;
                tracing::error!(qalita_issue = %issue.id, error = %error, "poll sync failed");
            }
        }
    }
    Ok(())
}
