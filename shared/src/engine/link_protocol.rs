//! The link protocol of DESIGN section 4, in one place: a reservation is fresh for a while (its
//! holder may be alive), then taken over; it is released at once when a `POST` surely created
//! nothing; what a write changed is committed with a conditional write, merged onto a newer link
//! when the link changed meanwhile. What the link records (after a write, an adoption, a merge) is
//! decided in [`crate::plan::link`].

use std::time::Duration;

use chrono::TimeDelta;

use super::outbound::{Engine, SyncError};
use crate::domain::link::{LinkState, LinkStatus};
use crate::plan::link::merge_written;
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
