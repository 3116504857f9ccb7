//! `create-issue` ("Create External Issue" of QALITA's guide) and `explain`: both run the worker's
//! own sync of one QALITA issue ([`Engine::sync_issue`], the link protocol of DESIGN section 4, so
//! never a duplicate); `explain` runs it on the dry-run ports and shows what it would write, and
//! why. A severed (or gone) link is replaced by a new one: the old GitLab issue's hidden marker is
//! retired first, so that nothing adopts or routes to the old issue again.

use std::sync::Arc;

use qalita_gitlab_core::control;
use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::gitlab::{IssueState, IssueUpdate, StateEvent};
use qalita_gitlab_core::domain::link::{LinkState, LinkStatus};
use qalita_gitlab_core::domain::qalita::{IssueContext, QalitaIssue};
use qalita_gitlab_core::domain::sync::{Action, Decision, DecisionKind};
use qalita_gitlab_core::engine::{Asked, Engine, Outcome as SyncOutcome, Ports, SyncError};
use qalita_gitlab_core::mapping::{Desired, Facts};
use qalita_gitlab_core::plan::Op;
use qalita_gitlab_core::plan::relink::may_relink;
use qalita_gitlab_core::ports::{CallContext, Clock, GitlabApi, QalitaApi, SystemClock};
use serde_json::{Value, json};

use super::global::GlobalArgs;
use super::outcome::{CommandError, Outcome};
use super::stack::Stack;

/// Creates (or updates) the GitLab issue of one QALITA issue now, through the sync's own link
/// protocol: running it twice, or while the worker handles the same issue, never makes a second
/// GitLab issue.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
A QALITA issue already linked is brought up to date instead (nothing is written if it already
agrees). A severed link is replaced by a new GitLab issue; the old one stays, its hidden marker
retired so that the sync never takes it back.

Exit codes: 0 linked (the GitLab URL is printed); 1 the QALITA issue does not exist for the token,
GitLab refused the issue, or the integration is disabled; 2 usage or configuration error; 3 GitLab,
QALITA or the store did not answer (or another worker is creating this issue right now): try again.")]
pub struct CreateIssueArgs {
    /// The QALITA issue id.
    #[arg(value_name = "QALITA_ID")]
    pub id: QalitaIssueId,
}

/// Shows which project the routing picks for one QALITA issue and why, and the title,
/// description, labels, state and assignee the mapping would write; writes nothing.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Reads the QALITA issue, its owner, the link, and GitLab where the sync would (a user lookup, a search
for the issue of an interrupted creation), then runs the sync with every write left out. The write
shown is exactly the one the worker would make now.

Exit codes: 0 explained; 1 the QALITA issue does not exist for the token; 2 usage or configuration
error; 3 a service did not answer.")]
pub struct ExplainArgs {
    /// The QALITA issue id.
    #[arg(value_name = "QALITA_ID")]
    pub id: QalitaIssueId,
}

/// What both commands need.
struct Session {
    stack: Stack,
    gitlab: Arc<dyn GitlabApi>,
    qalita: Arc<dyn QalitaApi>,
    config: Arc<qalita_gitlab_core::config::Config>,
    clock: Arc<dyn Clock>,
}

impl Session {
    async fn open(global: &GlobalArgs) -> Result<Session, CommandError> {
        let stack = Stack::open(global).await?;
        let config = stack.config().await?.config;
        let (gitlab, qalita) = stack.clients(&config).await?;
        Ok(Session { stack, gitlab, qalita, config, clock: Arc::new(SystemClock) })
    }

    /// The sync engine on the stack's store and this session's clients.
    fn engine(&self) -> Engine {
        let ports = Ports {
            gitlab: self.gitlab.clone(),
            qalita: self.qalita.clone(),
            store: self.stack.store(),
            clock: self.clock.clone(),
        };
        Engine::new(ports, self.config.clone())
    }

    async fn qalita_issue(&self, id: QalitaIssueId) -> Result<QalitaIssue, CommandError> {
        self.qalita.get_issue(id).await?.ok_or_else(|| {
            CommandError::Failure(format!(
                "QALITA has no issue {id}, or the token may not see it (QALITA answers both with 204 No Content)"
            ))
        })
    }
}

/// Runs `create-issue`.
pub async fn create_issue(global: GlobalArgs, args: CreateIssueArgs) -> Result<Outcome, CommandError> {
    let session = Session::open(&global).await?;
    let store = session.stack.store();
    if control::is_disabled(store.as_ref()).await? {
        return Err(CommandError::Failure(
            "the integration is disabled, so nothing is written to GitLab: `qalita-gitlab enable` turns it back on"
                .into(),
        ));
    }
    let issue = session.qalita_issue(args.id).await?;
    let engine = session.engine();
    let mut replaced = None;
    if let Some(link) = store.get(args.id).await?.filter(may_relink) {
        replaced = link.gitlab.as_ref().map(|g| g.web_url.clone());
        engine.relink(&link, &CallContext::default()).await.map_err(|error| {
            CommandError::from(error).context("the severed GitLab issue's marker cannot be retired")
        })?;
    }
    let outcome =
        engine.sync_issue_as(&issue, &IssueContext::default(), &CallContext::default(), Asked::ByOperator).await?;
    Ok(render_created(args.id, &outcome, replaced))
}

fn render_created(id: QalitaIssueId, outcome: &SyncOutcome, replaced: Option<String>) -> Outcome {
    let gitlab = outcome.link.as_ref().and_then(|l| l.gitlab.as_ref());
    let url = gitlab.map_or_else(|| "(no GitLab issue)".to_owned(), |g| g.web_url.clone());
    let verb = match outcome.action {
        Action::Created | Action::Recreated => "created",
        Action::Adopted => "linked to the GitLab issue that already carried its marker",
        Action::Updated => "already linked; brought up to date",
        Action::Unchanged => "already linked and up to date",
        other => other.as_str(),
    };
    let mut human = format!("QALITA issue {id}: {verb}\n{url}\n");
    if let Some(old) = &replaced {
        human.push_str(&format!("(replaces the severed link to {old}, which stays as it is)\n"));
    }
    let json = json!({
        "qalita_issue": id.get(),
        "action": outcome.action.as_str(),
        "gitlab": gitlab.map(|g| json!({ "project_id": g.project_id.get(), "iid": g.iid.get(), "web_url": g.web_url })),
        "replaces": replaced,
        "decisions": decisions_json(&outcome.decisions),
    });
    match outcome.action {
        Action::Skipped | Action::Gone | Action::NotCreated => Outcome::failed(human, json),
        _ => Outcome::ok(human, json),
    }
}

/// Runs `explain`.
pub async fn explain(global: GlobalArgs, args: ExplainArgs) -> Result<Outcome, CommandError> {
    let session = Session::open(&global).await?;
    let issue = session.qalita_issue(args.id).await?;
    let stored = session.stack.store().get(args.id).await?;
    let severed = stored.as_ref().is_some_and(|l| matches!(l.status, LinkStatus::Severed | LinkStatus::Gone));
    // The planner itself, on what the sync would read: nothing is written, no port is faked.
    let engine = session.engine();
    let preview = engine.preview(&issue, &IssueContext::default(), Asked::ByItself).await;
    let not_created = preview.as_ref().ok().and_then(|p| p.not_created.as_ref()).map(|r| (r.rule(), r.message(&issue)));
    let (link, desired, decisions, writes, waiting) = match preview {
        // The creation policy keeps the service from creating it: it would write nothing by itself.
        Ok(preview) if preview.not_created.is_some() => (preview.link, preview.desired, Vec::new(), Vec::new(), None),
        Ok(preview) => (preview.link, preview.desired, preview.plan.decisions, preview.plan.ops, None),
        Err(SyncError::Reserved { age_seconds, stale_in }) => {
            let context = stored.as_ref().map(|l| l.context.clone()).unwrap_or_default();
            let owner = match issue.assignee {
                Some(user) => session.qalita.get_user(user).await.unwrap_or(None),
                None => None,
            };
            let desired = Desired::of(&session.config, &Facts::of(&issue, &context, owner.as_ref()));
            let waiting = format!(
                "another worker is creating the GitLab issue (reserved {age_seconds} s ago); in {} s the sync would take over and look for it first",
                stale_in.as_secs()
            );
            (stored, desired, Vec::new(), Vec::new(), Some(waiting))
        }
        Err(error) => return Err(error.into()),
    };
    let explained = Explained {
        issue: &issue,
        link: link.as_ref(),
        desired: &desired,
        decisions: &decisions,
        writes: &writes,
        waiting,
        severed,
        not_created,
    };
    Ok(Outcome::ok(explained.human(), explained.json()))
}

struct Explained<'a> {
    issue: &'a QalitaIssue,
    link: Option<&'a LinkState>,
    desired: &'a Desired,
    decisions: &'a [Decision],
    writes: &'a [Op],
    waiting: Option<String>,
    severed: bool,
    /// The creation policy's rule that keeps the service from creating the issue by itself, and
    /// what it says.
    not_created: Option<(&'static str, String)>,
}

impl Explained<'_> {
    fn assignee(&self) -> String {
        if let Some(decision) =
            self.decisions.iter().find(|d| matches!(d.kind, DecisionKind::Assignee | DecisionKind::AssigneeUnknown))
        {
            return decision.message.clone();
        }
        match (self.issue.assignee, self.link.and_then(|l| l.assignee.as_ref())) {
            (None, _) => "nobody in QALITA: the GitLab assignee is left as it is".into(),
            (Some(_), Some(resolved)) => format!("{} (as resolved before; already assigned)", resolved.username),
            (Some(user), None) => format!("QALITA user {user}: no change planned"),
        }
    }

    fn link_text(&self) -> String {
        match self.link {
            None => "none yet".into(),
            Some(link) => {
                let target =
                    link.gitlab.as_ref().map_or_else(|| "no GitLab issue yet".to_owned(), |g| g.web_url.clone());
                format!("{} ({target}, version {})", link.status.as_str(), link.version)
            }
        }
    }

    fn writes_text(&self) -> Vec<String> {
        if let Some(waiting) = &self.waiting {
            return vec![format!("nothing now: {waiting}")];
        }
        if let Some((_, message)) = &self.not_created {
            return vec![format!("nothing by itself: {message}")];
        }
        if self.writes.is_empty() {
            let why = match self.severed {
                true => {
                    "the link is severed, so QALITA changes are not synced (`create-issue` would link a new GitLab issue)"
                }
                false => "GitLab already has every value QALITA's state maps to",
            };
            return vec![format!("nothing: {why}")];
        }
        self.writes.iter().map(write_text).collect()
    }

    fn human(&self) -> String {
        let d = self.desired;
        let mut text = format!("QALITA issue {} → GitLab (explain: nothing was written)\n", self.issue.id);
        let lines = [
            ("Link", self.link_text()),
            ("Project", format!("{} ({})", d.route.project, d.route.reason)),
            ("Confidential", if d.route.confidential { "yes (by the routing rule)".into() } else { "no".into() }),
            ("Title", d.title.clone()),
            ("Labels", d.labels.iter().cloned().collect::<Vec<_>>().join(", ")),
            ("State", format!("{} ({})", d.state.map_or("left as it is", IssueState::as_str), d.status_reason)),
            ("Assignee", self.assignee()),
        ];
        for (name, value) in lines {
            text.push_str(&format!("{name:>12}: {value}\n"));
        }
        text.push_str("Description:\n");
        for line in d.description.lines() {
            text.push_str(&format!("  | {line}\n"));
        }
        text.push_str("Would write:\n");
        for write in self.writes_text() {
            text.push_str(&format!("  - {write}\n"));
        }
        if !self.decisions.is_empty() {
            text.push_str("Decisions:\n");
            for decision in self.decisions {
                text.push_str(&format!("  - {} [{}]: {}\n", decision.level.as_str(), decision.kind, decision.message));
            }
        }
        text
    }

    fn json(&self) -> Value {
        let d = self.desired;
        json!({
            "qalita_issue": self.issue.id.get(),
            "written": false,
            "link": self.link.map(|l| json!({
                "status": l.status.as_str(),
                "version": l.version,
                "gitlab": l.gitlab.as_ref().map(|g| json!({"project_id": g.project_id.get(), "iid": g.iid.get(), "web_url": g.web_url})),
            })),
            "route": { "project": d.route.project.to_string(), "confidential": d.route.confidential, "reason": d.route.reason },
            "title": d.title,
            "description": d.description,
            "labels": d.labels,
            "state": d.state.map(IssueState::as_str),
            "status_reason": d.status_reason,
            "assignee": self.assignee(),
            "would_write": self.writes.iter().map(write_json).collect::<Vec<_>>(),
            "waiting": self.waiting,
            "not_created": self.not_created.as_ref().map(|(rule, message)| json!({ "rule": rule, "message": message })),
            "decisions": decisions_json(self.decisions),
        })
    }
}

fn decisions_json(decisions: &[Decision]) -> Value {
    decisions
        .iter()
        .map(|d| json!({ "level": d.level.as_str(), "kind": d.kind.as_str(), "message": d.message }))
        .collect()
}

/// The fields an update sets, for people.
fn update_fields(update: &IssueUpdate) -> Vec<String> {
    let mut fields = Vec::new();
    if let Some(title) = &update.title {
        fields.push(format!("title {title:?}"));
    }
    if update.description.is_some() {
        fields.push("description".into());
    }
    if !update.add_labels.is_empty() {
        fields.push(format!("add labels {}", update.add_labels.join(", ")));
    }
    if !update.remove_labels.is_empty() {
        fields.push(format!("remove labels {}", update.remove_labels.join(", ")));
    }
    match update.state_event {
        Some(StateEvent::Close) => fields.push("close".into()),
        Some(StateEvent::Reopen) => fields.push("reopen".into()),
        None => {}
    }
    if let Some(ids) = &update.assignee_ids {
        fields.push(format!("assignees {ids:?}"));
    }
    if let Some(confidential) = update.confidential {
        fields.push(format!("confidential {confidential}"));
    }
    fields
}

fn write_text(write: &Op) -> String {
    match write {
        Op::CreateIssue { project, issue } => format!(
            "create an issue in {project} (title, description with the marker, labels {}{}{})",
            issue.labels.join(", "),
            if issue.assignee_ids.is_empty() { String::new() } else { format!(", assignees {:?}", issue.assignee_ids) },
            if issue.confidential { ", confidential" } else { "" },
        ),
        Op::CloseCreated => "then close it (GitLab creates issues open)".into(),
        Op::NoteRegression { old } => format!("then link it and {} with a note on each (a regression)", old.web_url),
        Op::UpdateIssue { project, iid, update } => {
            format!("update issue #{iid} of project {project}: {}", update_fields(update).join("; "))
        }
        Op::CreateNote { project, iid, .. } => format!("add a note to issue #{iid} of project {project}"),
        Op::UpdateNote { project, iid, note, .. } => format!("edit note {note} of issue #{iid} of project {project}"),
        Op::UpdateQalitaIssue { issue, update } => {
            format!("update QALITA issue {issue}: {}", serde_json::to_string(update).unwrap_or_default())
        }
        Op::CreateComment { issue, .. } => format!("add a comment to QALITA issue {issue}"),
        Op::UpdateComment { issue, comment, .. } => format!("edit comment {comment} of QALITA issue {issue}"),
    }
}

fn write_json(write: &Op) -> Value {
    match write {
        Op::CreateIssue { project, issue } => json!({
            "write": "create_issue",
            "project": project.to_string(),
            "title": issue.title,
            "labels": issue.labels,
            "assignee_ids": issue.assignee_ids,
            "confidential": issue.confidential,
        }),
        Op::CloseCreated => json!({ "write": "close_created" }),
        Op::NoteRegression { old } => json!({ "write": "note_regression", "old": old.web_url }),
        Op::UpdateIssue { project, iid, update } => json!({
            "write": "update_issue",
            "project": project.to_string(),
            "iid": iid.get(),
            "update": update,
        }),
        Op::CreateNote { project, iid, body } => {
            json!({ "write": "create_note", "project": project.to_string(), "iid": iid.get(), "body": body })
        }
        Op::UpdateNote { project, iid, note, body } => json!({
            "write": "update_note", "project": project.to_string(), "iid": iid.get(), "note": note, "body": body,
        }),
        Op::UpdateQalitaIssue { issue, update } => {
            json!({ "write": "update_qalita_issue", "qalita_issue": issue.get(), "update": update })
        }
        Op::CreateComment { issue, content } => {
            json!({ "write": "create_comment", "qalita_issue": issue.get(), "content": content })
        }
        Op::UpdateComment { issue, comment, content } => json!({
            "write": "update_comment", "qalita_issue": issue.get(), "comment": comment, "content": content,
        }),
    }
}
