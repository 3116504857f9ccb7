//! The link protocol of DESIGN section 4, in one place: a reservation is fresh for a while (its
//! holder may be alive), then taken over; it is released at once when a `POST` surely created
//! nothing; what a write changed is committed with a conditional write, merged onto a newer link
//! when the link changed meanwhile; an issue found by its marker is adopted, recording what it
//! holds as written.

use std::time::Duration;

use chrono::TimeDelta;

use super::outbound::{Engine, SyncError};
use crate::config::Config;
use crate::domain::digest::text_digest;
use crate::domain::gitlab::{GitlabIssue, GitlabProjectRef};
use crate::domain::link::{Field, GitlabLink, LinkState, LinkStatus, Written};
use crate::mapping::Desired;
use crate::ports::{ApiError, StoreError};

/// How many times a lost conditional write is retried at once (re-read, re-plan) before the
/// message goes back to the queue.
pub(crate) const CONFLICT_RETRIES: usize = 3;

/// Whether a failed `POST` surely created nothing: GitLab refused it (4xx) or was never reached.
pub(crate) fn surely_not_created(error: &ApiError) -> bool {
    match error {
        ApiError::Permanent { .. } | ApiError::NotFound { .. } => true,
        ApiError::Transient { kind, .. } => kind.surely_not_done(),
    }
}

impl Engine {
    /// Commits what `next` wrote over `base` onto the link as it is now, re-reading on each
    /// conflict.
    pub(super) async fn commit_over(&self, base: &LinkState, next: &LinkState) -> Result<LinkState, SyncError> {
        for _ in 0..CONFLICT_RETRIES {
            let Some(fresh) = self.store.get(base.qalita_id).await? else { break };
            if fresh.status != LinkStatus::Linked || fresh.gitlab != base.gitlab {
                break;
            }
            match self.store.update(&merge_written(base, next, fresh)).await {
                Ok(committed) => return Ok(committed),
                Err(StoreError::Conflict) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// [`SyncError::Reserved`] while a reservation taken at `at` is fresh (its holder may be
    /// alive); `Ok` once it is stale and may be taken over.
    pub(crate) fn unless_fresh(
        &self,
        at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), SyncError> {
        let stale = TimeDelta::from_std(self.config.sync.reservation_stale_after).unwrap_or(TimeDelta::MAX);
        if now - at < stale {
            let stale_in = (stale - (now - at)).to_std().unwrap_or_default() + Duration::from_secs(1);
            return Err(SyncError::Reserved { age_seconds: (now - at).num_seconds(), stale_in });
        }
        Ok(())
    }

    /// Marks our reservation stale after a failed `POST`, so that the retry takes it over at once.
    /// The retry then looks for the marked issue first: a `POST` that failed may still have
    /// created it (a 502 from a proxy after GitLab answered, a time-out).
    pub(super) async fn release(&self, link: &LinkState) {
        if link.status != LinkStatus::Reserved {
            return;
        }
        let mut released = link.clone();
        if let Some(reservation) = released.reservation.as_mut() {
            reservation.at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        }
        if let Err(error) = self.store.update(&released).await {
            tracing::warn!(qalita_issue = %link.qalita_id, error = %error, "reservation not released; the retry waits until it is stale");
        }
    }
}

/// `fresh` with what `next` changed over `base`: the GitLab fields written, the managed labels, what
/// QALITA was seen to hold, the watermark, the context and the owner's resolution.
pub(super) fn merge_written(base: &LinkState, next: &LinkState, mut fresh: LinkState) -> LinkState {
    for (field, written) in &next.to_gitlab {
        if base.to_gitlab.get(field) != Some(written) {
            fresh.to_gitlab.insert(*field, written.clone());
        }
    }
    for (field, seen) in &next.to_qalita {
        if base.to_qalita.get(field) != Some(seen)
            && fresh.to_qalita.get(field).is_none_or(|f| f.watermark <= seen.watermark)
        {
            fresh.to_qalita.insert(*field, seen.clone());
        }
    }
    if next.managed_labels != base.managed_labels {
        fresh.managed_labels = next.managed_labels.clone();
    }
    if next.context != base.context {
        fresh.context = next.context.clone();
    }
    if next.assignee != base.assignee {
        fresh.assignee = next.assignee.clone();
    }
    // GitLab now holds what we wrote, and we wrote last. When that came from an older QALITA state
    // than the link recorded meanwhile, the link's sync point goes back to ours, so that the poll
    // plans the newer state again (and writes what differs).
    fresh.qalita_watermark = match (next.qalita_watermark, fresh.qalita_watermark) {
        (Some(ours), Some(theirs)) if ours < theirs => Some(ours),
        (ours, theirs) => ours.max(theirs),
    };
    fresh.updated_at = next.updated_at;
    fresh
}

/// Stamps the fields `next` wrote (those that differ from `link`) with GitLab's time of the write,
/// so that the link knows they are newer than any earlier event's value.
pub(super) fn stamp_written(link: &LinkState, next: &mut LinkState, at: chrono::DateTime<chrono::Utc>) {
    for (field, written) in next.to_gitlab.iter_mut() {
        if link.to_gitlab.get(field) != Some(written) {
            written.at = Some(at);
        }
    }
}

/// Where the holder of a reservation was creating the issue, searched for its marker even if
/// routing changed since; `routed` for a reservation that recorded no project.
pub(super) fn reserved_in(link: &LinkState, routed: &GitlabProjectRef) -> GitlabProjectRef {
    link.reservation.as_ref().and_then(|r| r.project.clone()).unwrap_or_else(|| routed.clone())
}

pub(super) fn link_of(issue: &GitlabIssue) -> GitlabLink {
    GitlabLink { project_id: issue.project_id, iid: issue.iid, issue_id: issue.id, web_url: issue.web_url.clone() }
}

/// A link to an issue found by its marker, recording what that issue holds as "written", so the
/// plan writes only what differs.
pub(crate) fn adopt(
    mut link: LinkState,
    found: &GitlabIssue,
    desired: &Desired,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
) -> LinkState {
    let mut written = |field, value: String| {
        link.to_gitlab.insert(field, Written::new(value, None));
    };
    written(Field::Title, found.title.clone());
    written(Field::Description, text_digest(found.description.as_deref().unwrap_or_default()));
    // Ours: the labels desired now, and those shaped like our templates, which the dead attempt
    // wrote from an older state (`severity:high` when it is now `severity:warning`).
    let ours = |label: &String| {
        desired.labels.contains(label)
            || *label == config.mapping.muted_label
            || config.mapping.labels.iter().any(|t| t.could_render(label))
    };
    let managed: std::collections::BTreeSet<String> = found.labels.iter().filter(|l| ours(l)).cloned().collect();
    written(Field::Labels, managed.iter().cloned().collect::<Vec<_>>().join(","));
    written(Field::State, found.state.as_str().into());
    if let Some(user) = found.assignees.first() {
        written(Field::Assignee, user.id.to_string());
    }
    written(Field::Confidential, found.confidential.to_string());
    link.managed_labels = managed;
    link.gitlab = Some(link_of(found));
    link.status = LinkStatus::Linked;
    link.reservation = None;
    link.updated_at = now;
    link
}
