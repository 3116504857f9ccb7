//! A new GitLab issue for a severed or gone link (`create-issue` on it), as [`crate::plan::relink`]
//! plans it: the old issue is read, its marker retired, the link released as a reservation; the
//! sync that follows creates the new issue through the link protocol.

use super::outbound::{Engine, SyncError};
use crate::domain::gitlab::GitlabProjectRef;
use crate::domain::link::{LinkState, LogEntry, RelinkReason};
use crate::plan::relink::plan_relink;
use crate::ports::{ApiError, CallContext, StoreError};

impl Engine {
    /// Prepares `link` (severed or gone) for a new GitLab issue: retires the old issue's marker
    /// (a deleted old issue needs nothing), then releases the link, so that the next
    /// [`Engine::sync_issue`] creates the new issue. A link another process moved meanwhile is
    /// left to that sync, which reads it again.
    pub async fn relink(&self, link: &LinkState, call: &CallContext) -> Result<(), SyncError> {
        self.relink_for(link, RelinkReason::Operator, call).await
    }

    /// Prepares `link` for a new GitLab issue, for `why` (an operator's `create-issue`, or a
    /// regression): as [`Engine::relink`], the old issue added to the link's history.
    pub(crate) async fn relink_for(
        &self,
        link: &LinkState,
        why: RelinkReason,
        call: &CallContext,
    ) -> Result<(), SyncError> {
        let old = match &link.gitlab {
            Some(old) => match self.gitlab.get_issue(&GitlabProjectRef::Id(old.project_id), old.iid).await {
                Ok(found) => Some(found),
                Err(ApiError::NotFound { .. }) => None,
                Err(error) => return Err(error.into()),
            },
            None => None,
        };
        let now = self.clock.now();
        let plan = plan_relink(link, old.as_ref(), uuid::Uuid::new_v4().to_string(), why, now);
        for op in &plan.ops {
            self.apply(op, None, call).await?;
        }
        match self.store.update(&plan.next).await {
            Ok(_) | Err(StoreError::Conflict) => {}
            Err(error) => return Err(error.into()),
        }
        for decision in &plan.decisions {
            let entry = LogEntry {
                issue: link.qalita_id,
                at: now,
                level: decision.level,
                kind: decision.kind.as_str().to_owned(),
                message: decision.message.clone(),
            };
            self.store.append_log(&entry).await?;
        }
        Ok(())
    }
}
