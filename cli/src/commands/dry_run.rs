//! The engine with its writes left out (DESIGN section 3: `explain` and `--dry-run` are the same
//! function with the writes left out): a GitLab port that reads through to GitLab and records the
//! writes instead of making them, and a link store that reads the real links and keeps its writes
//! in memory. The [`qalita_gitlab_core::engine::Syncer`] runs on them unchanged.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use qalita_gitlab_core::adapters::memory_store::MemoryLinkStore;
use qalita_gitlab_core::domain::gitlab::{
    GitlabIssue, GitlabNote, GitlabProjectRef, GitlabUser, IssueState, IssueUpdate, NewIssue,
};
use qalita_gitlab_core::domain::link::{CommentKey, CommentLink, LinkState, LogEntry};
use qalita_gitlab_core::domain::{GitlabProjectId, Iid, QalitaIssueId};
use qalita_gitlab_core::ports::{
    ApiError, CallContext, Clock, CommentLinks, GitlabApi, IntegrationLog, IntegrationSwitch, IssueQuery, LinkStore,
    Links, Page, Settings, StoreError,
};

/// The iid a planned creation answers with: no real issue has it.
const PLANNED_IID: u64 = u64::MAX;

/// A GitLab write the engine asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedWrite {
    /// `POST /projects/:id/issues`.
    CreateIssue {
        /// Where.
        project: GitlabProjectRef,
        /// What.
        issue: NewIssue,
    },
    /// `PUT /projects/:id/issues/:iid`.
    UpdateIssue {
        /// The project.
        project: GitlabProjectRef,
        /// The issue; `None` for the issue the dry run would have created just before.
        iid: Option<Iid>,
        /// The fields.
        update: IssueUpdate,
    },
    /// `PUT /projects/:id/issues/:iid/notes/:note_id`.
    UpdateNote {
        /// The project.
        project: GitlabProjectRef,
        /// The issue.
        iid: Iid,
        /// The note.
        note: u64,
    },
    /// `POST /projects/:id/issues/:iid/notes`.
    CreateNote {
        /// The project.
        project: GitlabProjectRef,
        /// The issue.
        iid: Iid,
        /// The text.
        body: String,
    },
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// GitLab with its writes recorded, not made; reads go to GitLab.
pub struct DryRunGitlab {
    real: Arc<dyn GitlabApi>,
    clock: Arc<dyn Clock>,
    writes: Mutex<Vec<PlannedWrite>>,
}

impl DryRunGitlab {
    /// A dry run over `real`.
    pub fn new(real: Arc<dyn GitlabApi>, clock: Arc<dyn Clock>) -> Self {
        DryRunGitlab { real, clock, writes: Mutex::new(Vec::new()) }
    }

    /// The writes asked for, in order, and forgets them.
    pub fn take_writes(&self) -> Vec<PlannedWrite> {
        std::mem::take(&mut *lock(&self.writes))
    }

    fn planned_issue(&self, project: &GitlabProjectRef, issue: &NewIssue) -> Result<GitlabIssue, ApiError> {
        let project_id = match project {
            GitlabProjectRef::Id(id) => *id,
            GitlabProjectRef::Path(_) => planned_project(),
        };
        Ok(GitlabIssue {
            id: 0,
            iid: planned_iid(),
            project_id,
            title: issue.title.clone(),
            description: Some(issue.description.clone()),
            state: IssueState::Opened,
            labels: issue.labels.clone(),
            assignees: Vec::new(),
            confidential: issue.confidential,
            web_url: format!("(not created: dry run, in {project})"),
            updated_at: self.clock.now(),
        })
    }
}

fn planned_iid() -> Iid {
    Iid::new(PLANNED_IID).unwrap_or_else(|_| unreachable!("a positive constant"))
}

fn planned_project() -> GitlabProjectId {
    GitlabProjectId::new(u64::MAX).unwrap_or_else(|_| unreachable!("a positive constant"))
}

#[async_trait]
impl GitlabApi for DryRunGitlab {
    async fn create_issue(
        &self,
        project: &GitlabProjectRef,
        issue: &NewIssue,
        _context: &CallContext,
    ) -> Result<GitlabIssue, ApiError> {
        lock(&self.writes).push(PlannedWrite::CreateIssue { project: project.clone(), issue: issue.clone() });
        self.planned_issue(project, issue)
    }

    async fn get_issue(&self, project: &GitlabProjectRef, iid: Iid) -> Result<GitlabIssue, ApiError> {
        self.real.get_issue(project, iid).await
    }

    async fn update_issue(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        update: &IssueUpdate,
        _context: &CallContext,
    ) -> Result<GitlabIssue, ApiError> {
        let planned = iid.get() == PLANNED_IID;
        // A read tells whether the write would meet a deleted issue (and the engine recreate it).
        let mut current = match planned {
            true => self.planned_issue(project, &NewIssue::default())?,
            false => self.real.get_issue(project, iid).await?,
        };
        lock(&self.writes).push(PlannedWrite::UpdateIssue {
            project: project.clone(),
            iid: (!planned).then_some(iid),
            update: update.clone(),
        });
        current.updated_at = self.clock.now();
        Ok(current)
    }

    async fn list_issues(&self, project: &GitlabProjectRef, query: &IssueQuery) -> Result<Page<GitlabIssue>, ApiError> {
        self.real.list_issues(project, query).await
    }

    async fn update_note(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        note: u64,
        body: &str,
        _context: &CallContext,
    ) -> Result<GitlabNote, ApiError> {
        lock(&self.writes).push(PlannedWrite::UpdateNote { project: project.clone(), iid, note });
        let author = GitlabUser { id: 0, username: String::new(), name: String::new() };
        Ok(GitlabNote {
            id: note,
            body: body.to_owned(),
            author,
            system: false,
            internal: false,
            created_at: self.clock.now(),
            updated_at: Some(self.clock.now()),
        })
    }

    async fn create_note(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        body: &str,
        internal: bool,
        _context: &CallContext,
    ) -> Result<GitlabNote, ApiError> {
        lock(&self.writes).push(PlannedWrite::CreateNote { project: project.clone(), iid, body: body.to_owned() });
        let author = GitlabUser { id: 0, username: String::new(), name: String::new() };
        Ok(GitlabNote {
            id: 0,
            body: body.to_owned(),
            author,
            system: false,
            internal,
            created_at: self.clock.now(),
            updated_at: None,
        })
    }

    async fn list_notes(
        &self,
        project: &GitlabProjectRef,
        iid: Iid,
        page: u32,
        per_page: u32,
    ) -> Result<Page<GitlabNote>, ApiError> {
        self.real.list_notes(project, iid, page, per_page).await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<GitlabUser>, ApiError> {
        self.real.user_by_username(username).await
    }

    async fn current_user(&self) -> Result<GitlabUser, ApiError> {
        self.real.current_user().await
    }
}

/// The link store with its writes kept in memory: links, cursors, the switch, the configuration
/// and comment links written by the dry run are read back by it, log entries are dropped; the real store is
/// only read.
pub struct DryRunStore {
    real: Arc<dyn LinkStore>,
    overlay: MemoryLinkStore,
    /// The switch as the dry run set it, if it did.
    switch: Mutex<Option<IntegrationSwitch>>,
}

impl DryRunStore {
    /// A dry run over `real`, holding a copy of the link of `issue` as it is now.
    pub async fn over(real: Arc<dyn LinkStore>, issue: QalitaIssueId) -> Result<(Self, Option<LinkState>), StoreError> {
        let overlay = MemoryLinkStore::new();
        let link = real.get(issue).await?;
        if let Some(link) = &link {
            overlay.create(link).await?;
        }
        Ok((DryRunStore { real, overlay, switch: Mutex::new(None) }, link))
    }
}

#[async_trait]
impl Links for DryRunStore {
    async fn get(&self, id: QalitaIssueId) -> Result<Option<LinkState>, StoreError> {
        self.overlay.get(id).await
    }

    async fn create(&self, link: &LinkState) -> Result<LinkState, StoreError> {
        self.overlay.create(link).await
    }

    async fn update(&self, link: &LinkState) -> Result<LinkState, StoreError> {
        self.overlay.update(link).await
    }

    async fn find_by_gitlab(&self, project: GitlabProjectId, iid: Iid) -> Result<Option<LinkState>, StoreError> {
        match self.overlay.find_by_gitlab(project, iid).await? {
            Some(link) => Ok(Some(link)),
            None => self.real.find_by_gitlab(project, iid).await,
        }
    }
}

#[async_trait]
impl CommentLinks for DryRunStore {
    async fn comment_link(&self, issue: QalitaIssueId, key: CommentKey) -> Result<Option<CommentLink>, StoreError> {
        match self.overlay.comment_link(issue, key).await? {
            Some(link) => Ok(Some(link)),
            None => self.real.comment_link(issue, key).await,
        }
    }

    async fn put_comment_link(&self, link: &CommentLink) -> Result<CommentLink, StoreError> {
        self.overlay.put_comment_link(link).await
    }
}

#[async_trait]
impl IntegrationLog for DryRunStore {
    /// Not written: the entries are the decisions the dry run reports itself.
    async fn append_log(&self, _entry: &LogEntry) -> Result<(), StoreError> {
        Ok(())
    }

    async fn log(&self, issue: QalitaIssueId) -> Result<Vec<LogEntry>, StoreError> {
        self.real.log(issue).await
    }

    async fn recent_log(&self, since: DateTime<Utc>, errors_only: bool) -> Result<Vec<LogEntry>, StoreError> {
        self.real.recent_log(since, errors_only).await
    }
}

#[async_trait]
impl Settings for DryRunStore {
    async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.overlay.cursor(name).await? {
            Some(value) => Ok(Some(value)),
            None => self.real.cursor(name).await,
        }
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.overlay.set_cursor(name, value).await
    }

    async fn switch(&self) -> Result<IntegrationSwitch, StoreError> {
        let set = *self.switch.lock().unwrap_or_else(PoisonError::into_inner);
        match set {
            Some(position) => Ok(position),
            None => self.real.switch().await,
        }
    }

    async fn set_switch(&self, position: IntegrationSwitch) -> Result<(), StoreError> {
        *self.switch.lock().unwrap_or_else(PoisonError::into_inner) = Some(position);
        Ok(())
    }

    async fn config_document(&self) -> Result<Option<String>, StoreError> {
        match self.overlay.config_document().await? {
            Some(document) => Ok(Some(document)),
            None => self.real.config_document().await,
        }
    }

    /// Kept in memory, on the same condition as the real store's.
    async fn put_config_document(&self, previous: Option<&str>, document: &str) -> Result<(), StoreError> {
        if self.config_document().await?.as_deref() != previous {
            return Err(StoreError::Conflict);
        }
        let kept = self.overlay.config_document().await?;
        self.overlay.put_config_document(kept.as_deref(), document).await
    }
}
