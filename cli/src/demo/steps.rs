//! The demo's steps. Each one acts as a person would (in GitLab through its API with a person's
//! token, in QALITA as its user), waits until the other side shows the result, and checks it in
//! the simulators' state and the sync's store: nothing is printed that was not verified.

use std::io::Write;
use std::time::{Duration, Instant};

use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::gitlab::{GitlabIssue, GitlabProjectRef, IssueState, IssueUpdate, StateEvent};
use qalita_gitlab_core::domain::link::LinkStatus;
use qalita_gitlab_core::domain::{GitlabProjectId, QalitaIssueId};
use qalita_gitlab_core::plan::link_back;
use qalita_gitlab_core::ports::{CallContext, GitlabApi, Links};
use qalita_gitlab_sims::gitlab::DeliveryOutcome;
use qalita_gitlab_sims::qalita::EmitOutcome;
use serde_json::Value;

use super::DemoError;
use super::world::{DATA_QUALITY, FINANCE, SEEDS, Seed, World};
use crate::embedded::queue::EmbeddedQueue;
use crate::embedded::store::RedbLinkStore;

/// How long a step may take before the demo gives up on it (a step takes well under a second).
const STEP_LIMIT: Duration = Duration::from_secs(15);
/// How often a step looks at the other side.
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// The titles of the steps, as printed and as named in an error.
pub const STEPS: [&str; 4] = [
    "the sync opens one GitLab issue per QALITA issue",
    "a person closing a GitLab issue resolves the QALITA issue",
    "a comment in GitLab reaches QALITA",
    "a comment in QALITA reaches GitLab",
];

/// What the steps act on and look at.
pub(crate) struct Steps<'a> {
    pub world: &'a World,
    pub store: RedbLinkStore,
    pub queue: EmbeddedQueue,
    pub config: &'a Config,
    pub out: &'a mut (dyn Write + Send),
}

/// A GitLab issue the sync opened for a seeded QALITA issue.
#[derive(Debug, Clone)]
struct Opened {
    seed: Seed,
    issue: GitlabIssue,
}

macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        writeln!($out, $($arg)*).map_err(DemoError::Output)?;
        $out.flush().map_err(DemoError::Output)?;
    }};
}

fn failed(step: usize, problem: impl Into<String>) -> DemoError {
    DemoError::Step { step: step + 1, title: STEPS[step], problem: problem.into() }
}

/// Looks every [`LOOK_EVERY`] until `check` gives a value, for at most [`STEP_LIMIT`].
async fn wait_for<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + STEP_LIMIT;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

fn marker(id: u64) -> String {
    format!("<!-- qalita-issue:{id} -->")
}

fn project_ref(id: GitlabProjectId) -> GitlabProjectRef {
    GitlabProjectRef::Id(id)
}

impl Steps<'_> {
    /// Runs the four steps and the final checks.
    pub async fn run(&mut self) -> Result<(), DemoError> {
        let opened = self.issues_are_opened().await?;
        self.closing_resolves(&opened).await?;
        self.gitlab_comment_crosses(&opened).await?;
        self.qalita_comment_crosses(&opened).await?;
        self.nothing_more_happens(&opened).await
    }

    fn heading(&mut self, step: usize, doing: &str) -> Result<(), DemoError> {
        say!(self.out, "\nStep {}/{}: {}", step + 1, STEPS.len(), STEPS[step]);
        say!(self.out, "  {doing}");
        Ok(())
    }

    /// The GitLab issue carrying a seed's marker in the project the routing must pick.
    fn gitlab_issue_of(&self, seed: &Seed) -> Option<GitlabIssue> {
        let marker = marker(seed.id);
        self.world
            .gitlab
            .issues(seed.project.id)
            .into_iter()
            .find(|issue| issue.description.as_deref().is_some_and(|d| d.contains(&marker)))
    }

    /// Waits for the GitLab issue of a seed and its committed link (the link is committed after
    /// the issue is created: the last step of the creation protocol).
    async fn linked_issue_of(&self, seed: &Seed) -> Result<Option<GitlabIssue>, DemoError> {
        let id = QalitaIssueId::new(seed.id).map_err(|e| failed(0, e.to_string()))?;
        let deadline = Instant::now() + STEP_LIMIT;
        while Instant::now() < deadline {
            if let Some(issue) = self.gitlab_issue_of(seed) {
                let link = self.store.get(id).await.map_err(|e| failed(0, format!("the link store: {e}")))?;
                let linked = link.filter(|l| l.status == LinkStatus::Linked).and_then(|l| l.gitlab);
                if linked.is_some_and(|g| g.iid == issue.iid && g.project_id == issue.project_id) {
                    return Ok(Some(issue));
                }
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        Ok(None)
    }

    async fn issues_are_opened(&mut self) -> Result<Vec<Opened>, DemoError> {
        self.heading(
            0,
            &format!(
                "QALITA has {} open issues; the poll at start finds them and queues them for the worker.",
                SEEDS.len()
            ),
        )?;
        let mut opened = Vec::new();
        for seed in SEEDS {
            let Some(issue) = self.linked_issue_of(&seed).await? else {
                return Err(failed(
                    0,
                    format!(
                        "no GitLab issue linked to QALITA issue {} in {} after {STEP_LIMIT:?}",
                        seed.id, seed.project.path
                    ),
                ));
            };
            let assignee = issue.assignees.first().map_or_else(|| "nobody".to_owned(), |u| format!("@{}", u.username));
            say!(
                self.out,
                "  ✓ QALITA #{} {:?} → {}#{}: {}",
                seed.id,
                seed.title,
                seed.project.path,
                issue.iid,
                issue.title
            );
            say!(self.out, "      {}", issue.web_url);
            say!(self.out, "      labels: {}; assigned to {assignee}", issue.labels.join(", "));
            opened.push(Opened { seed, issue });
        }
        if let Some(finance) = opened.iter().find(|o| o.seed.project.id == FINANCE.id) {
            say!(
                self.out,
                "  ✓ #{} went to {} by the routing rule `scope = \"finance.*\"`; the others to the default project.",
                finance.seed.id,
                finance.seed.project.path
            );
        }
        Ok(opened)
    }

    async fn closing_resolves(&mut self, opened: &[Opened]) -> Result<(), DemoError> {
        let target = &opened[1];
        let person = World::person_username();
        self.heading(
            1,
            &format!(
                "@{person} closes {}#{} in GitLab; GitLab's webhook reaches serve, the worker updates QALITA.",
                target.seed.project.path, target.issue.iid
            ),
        )?;
        let client = self.world.person().map_err(|e| failed(1, format!("the person's GitLab client: {e}")))?;
        let update = IssueUpdate { state_event: Some(StateEvent::Close), ..IssueUpdate::default() };
        client
            .update_issue(&project_ref(target.issue.project_id), target.issue.iid, &update, &CallContext::default())
            .await
            .map_err(|e| failed(1, format!("GitLab refused the close: {e}")))?;
        let resolved = &self.config.status.resolved;
        let id = target.seed.id;
        let status = wait_for(|| {
            let status = qalita_status(self.world, id)?;
            resolved.iter().any(|r| r.eq_ignore_ascii_case(&status)).then_some(status)
        })
        .await;
        let Some(status) = status else {
            let now = qalita_status(self.world, id).unwrap_or_default();
            return Err(failed(1, format!("QALITA issue {id} is still {now:?} after {STEP_LIMIT:?}")));
        };
        say!(self.out, "  ✓ QALITA #{id} {:?}: status open → {status}", target.seed.title);
        Ok(())
    }

    async fn gitlab_comment_crosses(&mut self, opened: &[Opened]) -> Result<(), DemoError> {
        let target = &opened[0];
        let text = "Checked: the geocoder swaps lat and lon for these rows; the fix is in review.";
        self.heading(
            2,
            &format!(
                "@{} comments on {}#{} in GitLab: {text:?}",
                World::person_username(),
                target.seed.project.path,
                target.issue.iid
            ),
        )?;
        let client = self.world.person().map_err(|e| failed(2, format!("the person's GitLab client: {e}")))?;
        client
            .create_note(&project_ref(target.issue.project_id), target.issue.iid, text, false, &CallContext::default())
            .await
            .map_err(|e| failed(2, format!("GitLab refused the note: {e}")))?;
        let prefix = &self.config.comments.qalita_prefix;
        let id = target.seed.id;
        let copied = wait_for(|| {
            comment_texts(self.world, id).into_iter().find(|c| c.starts_with(prefix.as_str()) && c.contains(text))
        })
        .await;
        let Some(copied) = copied else {
            return Err(failed(2, format!("QALITA issue {id} has no copy of the GitLab comment after {STEP_LIMIT:?}")));
        };
        say!(self.out, "  ✓ QALITA #{id} now has the comment: {copied:?}");
        Ok(())
    }

    async fn qalita_comment_crosses(&mut self, opened: &[Opened]) -> Result<(), DemoError> {
        let target = &opened[2];
        let author = 13;
        let text = "The CRM export drops customer_id for guest checkouts; I asked the CRM team.";
        self.heading(
            3,
            &format!("{} comments on QALITA #{} in QALITA: {text:?}", World::name_of(author), target.seed.id),
        )?;
        self.world.qalita.add_comment(target.seed.id, author, text);
        let prefix = &self.config.comments.gitlab_prefix;
        let (project, iid) = (target.issue.project_id.get(), target.issue.iid.get());
        let copied = wait_for(|| {
            gitlab_note_texts(self.world, project, iid)
                .into_iter()
                .find(|n| n.starts_with(prefix.as_str()) && n.contains(text))
        })
        .await;
        let Some(copied) = copied else {
            return Err(failed(
                3,
                format!("{}#{iid} has no copy of the QALITA comment after {STEP_LIMIT:?}", target.seed.project.path),
            ));
        };
        // The note ends with the sync's hidden marker, which GitLab does not show.
        let shown = copied.split("\n\n<!--").next().unwrap_or_default();
        say!(self.out, "  ✓ {}#{iid} now has the note: {shown:?}", target.seed.project.path);
        Ok(())
    }

    /// Waits until nothing moves (every webhook delivered, every QALITA event sent, the queue
    /// empty), then checks that nothing was duplicated or echoed back.
    async fn nothing_more_happens(&mut self, opened: &[Opened]) -> Result<(), DemoError> {
        let last = STEPS.len() - 1;
        self.wait_until_quiet().await.map_err(|problem| failed(last, problem))?;
        let mut problems = Vec::new();
        let total: usize = [DATA_QUALITY, FINANCE].iter().map(|p| self.world.gitlab.issues(p.id).len()).sum();
        if total != SEEDS.len() {
            problems.push(format!("{total} GitLab issues for {} QALITA issues", SEEDS.len()));
        }
        let (commented, closed, noted) = (&opened[0], &opened[1], &opened[2]);
        let notes_on = |o: &Opened| gitlab_note_texts(self.world, o.issue.project_id.get(), o.issue.iid.get()).len();
        // Each QALITA issue shows its GitLab issue's URL in one comment (`[link_back]`), beside
        // the copies.
        let link_back = |o: &Opened| link_back::text(&self.config.comments, &o.issue.web_url);
        for o in opened {
            let shown = comment_texts(self.world, o.seed.id).iter().filter(|c| **c == link_back(o)).count();
            if shown != 1 {
                problems.push(format!("QALITA #{} shows its GitLab URL in {shown} comments (1 expected)", o.seed.id));
            }
        }
        let comments_on =
            |o: &Opened| comment_texts(self.world, o.seed.id).iter().filter(|c| **c != link_back(o)).count();
        if (notes_on(commented), comments_on(commented)) != (1, 1) {
            problems.push(format!(
                "GitLab → QALITA comment: {} GitLab notes and {} QALITA comments (1 and 1 expected)",
                notes_on(commented),
                comments_on(commented)
            ));
        }
        if (notes_on(noted), comments_on(noted)) != (1, 1) {
            problems.push(format!(
                "QALITA → GitLab comment: {} GitLab notes and {} QALITA comments (1 and 1 expected)",
                notes_on(noted),
                comments_on(noted)
            ));
        }
        let closed_state =
            self.world.gitlab.issue(closed.issue.project_id.get(), closed.issue.iid.get()).map(|i| i.state);
        if closed_state != Some(IssueState::Closed) {
            problems.push(format!("the closed GitLab issue is {closed_state:?} now"));
        }
        let dead = self.queue.dlq_list().await.map_err(|e| failed(last, format!("the dead-letter queue: {e}")))?;
        if !dead.is_empty() {
            problems.push(format!("{} messages in the dead-letter queue", dead.len()));
        }
        if !problems.is_empty() {
            return Err(failed(last, problems.join("; ")));
        }
        say!(
            self.out,
            "\nChecked once everything settled: {} GitLab issues for {} QALITA issues (no duplicate), each GitLab URL \
             written back to QALITA once, each comment copied once and not echoed back, the closed issue still \
             closed, the queue and the dead-letter queue empty.",
            SEEDS.len(),
            SEEDS.len()
        );
        Ok(())
    }

    async fn wait_until_quiet(&self) -> Result<(), String> {
        let deadline = Instant::now() + STEP_LIMIT;
        let mut quiet_looks = 0;
        while quiet_looks < 3 {
            if Instant::now() >= deadline {
                return Err(format!("the sync was still busy after {STEP_LIMIT:?}"));
            }
            let delivering = self.world.gitlab.deliveries().iter().any(|d| d.outcome == DeliveryOutcome::Pending);
            let emitting = self.world.qalita.events().iter().any(|e| e.outcome == EmitOutcome::Pending);
            let depth = self.queue.depth().await.map_err(|e| format!("the queue: {e}"))?;
            let busy = delivering || emitting || depth.available > 0 || depth.in_flight > 0;
            quiet_looks = if busy { 0 } else { quiet_looks + 1 };
            tokio::time::sleep(LOOK_EVERY * 5).await;
        }
        Ok(())
    }
}

fn qalita_status(world: &World, id: u64) -> Option<String> {
    world.qalita.issue(id)?.get("status").and_then(Value::as_str).map(str::to_owned)
}

fn comment_texts(world: &World, issue: u64) -> Vec<String> {
    world
        .qalita
        .comments(issue)
        .iter()
        .filter_map(|c| c.get("content").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// The notes people (or the sync) wrote, without GitLab's system notes.
fn gitlab_note_texts(world: &World, project: u64, iid: u64) -> Vec<String> {
    world.gitlab.notes(project, iid).into_iter().filter(|n| !n.system).map(|n| n.body).collect()
}
