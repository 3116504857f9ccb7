//! `links rebuild`, one GitLab issue at a time: the link of the QALITA issue its marker names is
//! read, [`crate::plan::rebuild`] says what the issue is to the table, and a lost link is restored
//! with the store's conditional create, so that a link stored meanwhile (by the worker, or an
//! earlier duplicate of the same walk) is never replaced. Nothing is written to GitLab or QALITA.

use std::collections::HashMap;

use super::link_protocol::CONFLICT_RETRIES;
use super::outbound::{Engine, SyncError};
use crate::domain::QalitaIssueId;
use crate::domain::gitlab::{GitlabIssue, GitlabProjectRef};
use crate::domain::link::{LinkState, LogEntry};
use crate::plan::rebuild::{Look, Verdict, look, marked, settle};
use crate::ports::{ApiError, StoreError};

/// The links a dry run would have restored so far: the table as the real run would see it, so that
/// a second issue carrying the same marker is a duplicate there too.
#[derive(Debug, Default)]
pub struct DryRun {
    restored: HashMap<QalitaIssueId, LinkState>,
}

impl Engine {
    /// What `found` (an issue listed in a configured project) is to the link table, its QALITA
    /// issue's lost link restored, unless `dry_run` (which only remembers it). A duplicate or a
    /// conflict is written to the QALITA issue's integration log and left as it is.
    pub async fn restore_link(&self, found: &GitlabIssue, dry_run: Option<&mut DryRun>) -> Result<Verdict, SyncError> {
        let Some(qalita) = marked(found) else { return Ok(Verdict::NoMarker) };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut link = self.store.get(qalita).await?;
            if let Some(dry) = &dry_run
                && link.is_none()
            {
                link = dry.restored.get(&qalita).cloned();
            }
            let verdict = match look(found, link.as_ref(), &self.config, self.clock.now()) {
                Look::Verdict(verdict) => verdict,
                Look::ReadLinked { qalita, linked } => {
                    let project = GitlabProjectRef::Id(linked.project_id);
                    let linked_issue = match self.gitlab.get_issue(&project, linked.iid).await {
                        Ok(issue) => Some(issue),
                        Err(ApiError::NotFound { .. }) => None,
                        Err(error) => return Err(error.into()),
                    };
                    settle(qalita, linked, linked_issue.as_ref())
                }
            };
            if let Some(dry) = dry_run {
                if let Verdict::Restore(link) = &verdict {
                    dry.restored.insert(qalita, (**link).clone());
                }
                return Ok(verdict);
            }
            let verdict = match verdict {
                Verdict::Restore(link) => match self.store.create(&link).await {
                    Ok(stored) => Verdict::Restore(Box::new(stored)),
                    // A link was stored since it was read: what is it to this issue?
                    Err(StoreError::Conflict) if attempt < CONFLICT_RETRIES => continue,
                    Err(error) => return Err(error.into()),
                },
                other => other,
            };
            if let Some(decision) = verdict.decision(found) {
                let entry = LogEntry {
                    issue: qalita,
                    at: self.clock.now(),
                    level: decision.level,
                    kind: decision.kind.as_str().to_owned(),
                    message: decision.message,
                };
                tracing::info!(qalita_issue = %qalita, gitlab_issue = %found.web_url, kind = %entry.kind, "links rebuild");
                if let Err(error) = self.store.append_log(&entry).await {
                    tracing::error!(qalita_issue = %qalita, error = %error, "integration log entry not written");
                }
            }
            return Ok(verdict);
        }
    }
}
