//! `backfill`: links every existing QALITA issue to its GitLab issue, through the worker's own sync
//! (so an issue already linked is only brought up to date, and none is ever created twice), one at
//! a time in QALITA's list order, with a progress bar. After each issue a checkpoint (the list
//! offset reached) is written to the store's `backfill` cursor, so that an interrupted run resumes
//! where it stopped. GitLab's rate limits are honoured: a 429 (or a 5xx) waits for the
//! `Retry-After` GitLab gave before the same issue is tried again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::control;
use qalita_gitlab_core::domain::link::{LogEntry, LogLevel};
use qalita_gitlab_core::domain::qalita::{IssueContext, QalitaIssue};
use qalita_gitlab_core::domain::sync::Action;
use qalita_gitlab_core::engine::{Asked, Engine, Outcome as SyncOutcome, Ports, SyncError};
use qalita_gitlab_core::ports::{CallContext, Clock, GitlabApi, LinkStore, QalitaApi, SystemClock};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::global::GlobalArgs;
use super::outcome::{CommandError, Exit, Outcome};
use super::pacing::{Pacer, progress_bar};
use super::stack::Stack;
use super::time::{parse_date, parse_duration};
use qalita_gitlab_core::domain::link::LinkStatus;
use qalita_gitlab_core::plan::Op;

/// The store cursor holding the checkpoint.
pub const CHECKPOINT: &str = "backfill";

/// Links every existing QALITA issue to a GitLab issue, resumably, within GitLab's rate limits.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Issues are taken in QALITA's list order (newest first) and synced one at a time by the worker's own
sync: a new issue gets its GitLab issue (an open one, unless --all-statuses; one already carrying
its marker in GitLab is adopted, not created again), a linked one is brought up to date, a severed
one is left alone. The offset reached is checkpointed after each issue; run the same command again to resume an
interrupted backfill (--restart starts over). A 429 from GitLab waits for its Retry-After (gitlab.com
allows 200 issue creations a minute per user, shared with the worker).

Exit codes: 0 every issue linked; 1 some issues were refused (see `qalita-gitlab logs --errors`),
or the integration is disabled; 2 usage or configuration error; 3 GitLab, QALITA or the store stayed
unavailable, or asked to wait longer than --max-wait: run it again to resume.")]
pub struct BackfillArgs {
    /// Show what would be created or updated, and write nothing (no checkpoint either).
    #[arg(long)]
    pub dry_run: bool,

    /// Only the issues created since then: a day (2026-11-01), an RFC 3339 time, or a duration
    /// back from now (30d).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub since: Option<DateTime<Utc>>,

    /// Resolved and muted issues get a GitLab issue too (created, then closed); by default only the
    /// statuses the creation policy creates (`create.statuses`, the open words) do.
    #[arg(long)]
    pub all_statuses: bool,

    /// Start from the newest issue again, ignoring the checkpoint.
    #[arg(long)]
    pub restart: bool,

    /// QALITA issues read per page.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,

    /// The longest wait GitLab may ask for (Retry-After) before the backfill stops, to be resumed.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub max_wait: Duration,
}

/// What was done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    seen: u64,
    created: u64,
    adopted: u64,
    updated: u64,
    unchanged: u64,
    skipped: u64,
    failed: u64,
}

/// The checkpoint in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    /// The next offset in QALITA's list.
    offset: u64,
    since: Option<DateTime<Utc>>,
    started_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    done: bool,
    counts: Counts,
}

/// The checkpoint for `status`.
pub fn describe_checkpoint(value: &Value) -> String {
    match serde_json::from_value::<Checkpoint>(value.clone()) {
        Ok(c) if c.done => format!(
            "finished {} ({} issues: {} created, {} already linked, {} failed)",
            c.updated_at.to_rfc3339(),
            c.counts.seen,
            c.counts.created + c.counts.adopted,
            c.counts.updated + c.counts.unchanged,
            c.counts.failed
        ),
        Ok(c) => format!(
            "interrupted at offset {} ({} issues so far; last checkpoint {}): `qalita-gitlab backfill` resumes",
            c.offset,
            c.counts.seen,
            c.updated_at.to_rfc3339()
        ),
        Err(_) => "unreadable checkpoint (`backfill --restart` starts over)".to_owned(),
    }
}

/// Why the run stopped before the end.
struct Stop(CommandError);

struct Run {
    store: Arc<dyn LinkStore>,
    gitlab: Arc<dyn GitlabApi>,
    qalita: Arc<dyn QalitaApi>,
    config: Arc<Config>,
    clock: Arc<dyn Clock>,
    args: BackfillArgs,
    checkpoint: Checkpoint,
    bar: ProgressBar,
    pacer: Pacer,
    failures: Vec<Value>,
    planned: Vec<Value>,
}

/// Runs `backfill`.
pub async fn run(global: GlobalArgs, args: BackfillArgs) -> Result<Outcome, CommandError> {
    let stack = Stack::open(&global).await?;
    let config = stack.config().await?.config;
    let store = stack.store();
    if !args.dry_run && control::is_disabled(store.as_ref()).await? {
        return Err(CommandError::Failure(
            "the integration is disabled, so nothing is written to GitLab: `qalita-gitlab enable` first (or --dry-run)"
                .into(),
        ));
    }
    let (gitlab, qalita) = stack.clients(&config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let fresh = Checkpoint {
        offset: 0,
        since: args.since,
        started_at: now,
        updated_at: now,
        done: false,
        counts: Counts::default(),
    };
    let stored = store.cursor(CHECKPOINT).await?.and_then(|text| serde_json::from_str::<Checkpoint>(&text).ok());
    let (checkpoint, resumed) = match stored {
        Some(c) if !args.restart && !args.dry_run && !c.done && c.since == args.since => (c, true),
        _ => (fresh, false),
    };
    let bar = progress_bar(global.output, "{spinner} {pos} issues [{elapsed_precise}] {per_sec} {msg}");
    let pacer = Pacer::new(args.max_wait);
    let mut run = Run {
        store,
        gitlab,
        qalita,
        config,
        clock,
        args,
        checkpoint,
        bar,
        pacer,
        failures: Vec::new(),
        planned: Vec::new(),
    };
    let started = Instant::now();
    let before = run.checkpoint.counts;
    let result = run.all().await;
    run.bar.finish_and_clear();
    let elapsed = started.elapsed();
    Ok(run.report(resumed, before, elapsed, result.err()))
}

impl Run {
    async fn all(&mut self) -> Result<(), Stop> {
        let size = u64::from(self.args.page_size);
        'pages: loop {
            let offset = self.checkpoint.offset;
            let page = self.list(offset).await?;
            let length = page.len() as u64;
            // Within a page, resume at the checkpoint's offset exactly.
            for (index, issue) in page.into_iter().enumerate() {
                if let (Some(since), Some(created)) = (self.args.since, issue.created_at)
                    && created < since
                {
                    // Newest first by creation: every later issue is older still.
                    break 'pages;
                }
                self.one(&issue).await?;
                self.checkpoint.offset = offset + index as u64 + 1;
                self.save().await?;
            }
            if length < size {
                break;
            }
        }
        self.checkpoint.done = true;
        self.save().await
    }

    /// One page of QALITA's list, retried while QALITA is unavailable.
    async fn list(&mut self, offset: u64) -> Result<Vec<QalitaIssue>, Stop> {
        let mut attempt = 0;
        loop {
            match self.qalita.list_issues(offset, self.args.page_size).await {
                Ok(page) => return Ok(page),
                Err(error) if error.is_transient() => self.wait(&SyncError::Api(error), &mut attempt).await?,
                Err(error) => {
                    return Err(Stop(CommandError::from(error).context(format!("QALITA's list at offset {offset}"))));
                }
            }
        }
    }

    /// Waits before the same call is tried again (see [`Pacer::wait`]); stops the run when the
    /// wait is longer than --max-wait or the tries are used up.
    async fn wait(&mut self, error: &SyncError, attempt: &mut u32) -> Result<(), Stop> {
        self.pacer.wait(error, attempt, &self.bar).await.map_err(Stop)
    }

    async fn one(&mut self, issue: &QalitaIssue) -> Result<(), Stop> {
        let mut attempt = 0;
        loop {
            let result = match self.args.dry_run {
                true => self.dry(issue).await,
                false => self.sync(self.gitlab.clone(), self.store.clone(), issue).await,
            };
            match result {
                Ok(action) => {
                    self.count(action);
                    return Ok(());
                }
                // GitLab or QALITA busy, the store busy, or another worker creating the issue (its
                // reservation may be taken over once stale; the sync then looks for what it
                // created before creating anything): wait, then try again.
                Err(error) if error.is_transient() => self.wait(&error, &mut attempt).await?,
                Err(error) => {
                    self.failed(issue, &error).await;
                    return Ok(());
                }
            }
        }
    }

    async fn sync(
        &self,
        gitlab: Arc<dyn GitlabApi>,
        store: Arc<dyn LinkStore>,
        issue: &QalitaIssue,
    ) -> Result<Action, SyncError> {
        let ports = Ports { gitlab, qalita: self.qalita.clone(), store, clock: self.clock.clone() };
        Engine::new(ports, self.config.clone())
            .sync_issue_as(
                issue,
                &IssueContext::default(),
                &CallContext::default(),
                Asked::ByBackfill { all_statuses: self.args.all_statuses },
            )
            .await
            .map(|o: SyncOutcome| o.action)
    }

    /// What the sync would write, from the planner itself: nothing is written.
    async fn dry(&mut self, issue: &QalitaIssue) -> Result<Action, SyncError> {
        let ports = Ports {
            gitlab: self.gitlab.clone(),
            qalita: self.qalita.clone(),
            store: self.store.clone(),
            clock: self.clock.clone(),
        };
        let preview = Engine::new(ports, self.config.clone())
            .preview(issue, &IssueContext::default(), Asked::ByBackfill { all_statuses: self.args.all_statuses })
            .await?;
        if preview.not_created.is_some() {
            return Ok(Action::NotCreated);
        }
        // What it would do to GitLab (the link back to QALITA follows every creation or adoption).
        Ok(match (preview.plan.ops.iter().find(|op| op.to_gitlab()), &preview.adopted) {
            (Some(Op::CreateIssue { project, .. }), _) => {
                self.planned
                    .push(json!({ "qalita_issue": issue.id.get(), "would": "create", "project": project.to_string() }));
                Action::Created
            }
            (Some(op), _) => {
                let mut planned = json!({ "qalita_issue": issue.id.get(), "would": "update" });
                if let Op::UpdateIssue { project, iid, .. } = op {
                    planned["project"] = project.to_string().into();
                    planned["iid"] = iid.get().into();
                }
                self.planned.push(planned);
                Action::Updated
            }
            (None, Some(_)) => Action::Adopted,
            (None, None) if preview.link.as_ref().is_some_and(|l| l.status != LinkStatus::Linked) => Action::Skipped,
            (None, None) => Action::Unchanged,
        })
    }

    fn count(&mut self, action: Action) {
        let counts = &mut self.checkpoint.counts;
        counts.seen += 1;
        match action {
            Action::Created | Action::Recreated => counts.created += 1,
            Action::Adopted => counts.adopted += 1,
            Action::Updated => counts.updated += 1,
            Action::Unchanged => counts.unchanged += 1,
            _ => counts.skipped += 1,
        }
        self.bar.inc(1);
        self.bar.set_message(format!(
            "{} created, {} already linked, {} failed",
            counts.created + counts.adopted,
            counts.updated + counts.unchanged,
            counts.failed
        ));
    }

    /// A refusal retrying will not fix: counted, logged in the integration log, and the backfill
    /// goes on with the next issue.
    async fn failed(&mut self, issue: &QalitaIssue, error: &SyncError) {
        self.checkpoint.counts.seen += 1;
        self.checkpoint.counts.failed += 1;
        self.bar.inc(1);
        self.failures.push(json!({ "qalita_issue": issue.id.get(), "error": error.to_string() }));
        if self.args.dry_run {
            return;
        }
        let entry = LogEntry {
            issue: issue.id,
            at: self.clock.now(),
            level: LogLevel::Error,
            kind: "failed".into(),
            message: format!("backfill: {error}"),
        };
        if let Err(error) = self.store.append_log(&entry).await {
            tracing::warn!(qalita_issue = %issue.id, error = %error, "integration log entry not written");
        }
    }

    async fn save(&mut self) -> Result<(), Stop> {
        if self.args.dry_run {
            return Ok(());
        }
        self.checkpoint.updated_at = self.clock.now();
        let text = serde_json::to_string(&self.checkpoint)
            .map_err(|e| Stop(CommandError::Failure(format!("the checkpoint cannot be written: {e}"))))?;
        self.store.set_cursor(CHECKPOINT, &text).await.map_err(|error| {
            Stop(
                CommandError::from(error)
                    .context("the checkpoint cannot be saved; run the same command again to resume"),
            )
        })
    }

    fn report(&self, resumed: bool, before: Counts, elapsed: Duration, stop: Option<Stop>) -> Outcome {
        let c = self.checkpoint.counts;
        let this_run = c.seen - before.seen;
        let linked_now = (c.created + c.adopted) - (before.created + before.adopted);
        let seconds = elapsed.as_secs_f64();
        let rate = if seconds > 0.0 { this_run as f64 / seconds } else { 0.0 };
        let verb = if self.args.dry_run { "would create" } else { "created" };
        let mut human = String::new();
        if resumed {
            human.push_str(&format!("Resumed from the checkpoint ({} issues done before).\n", before.seen));
        }
        human.push_str(&format!(
            "{} issue(s) in {:.1} s ({rate:.2} issues/s): {verb} {}, adopted {}, updated {}, unchanged {}, skipped {}, failed {}.\n",
            this_run, seconds, c.created - before.created, c.adopted - before.adopted, c.updated - before.updated,
            c.unchanged - before.unchanged, c.skipped - before.skipped, c.failed - before.failed
        ));
        if self.pacer.waits() > 0 {
            human.push_str(&format!(
                "Waited {:.0} s in {} pause(s) for GitLab's rate limit or an outage.\n",
                self.pacer.waited().as_secs_f64(),
                self.pacer.waits()
            ));
        }
        for failure in &self.failures {
            human.push_str(&format!("  failed: {failure}\n"));
        }
        if self.args.dry_run {
            human.push_str("Dry run: nothing was written.\n");
        }
        let exit = match (&stop, self.failures.is_empty()) {
            (Some(stop), _) => {
                human.push_str(&format!(
                    "Stopped at offset {}: {}\nRun the same command again to resume from there.\n",
                    self.checkpoint.offset, stop.0
                ));
                stop.0.exit()
            }
            (None, false) => Exit::Failure,
            (None, true) => Exit::Ok,
        };
        let json = json!({
            "dry_run": self.args.dry_run,
            "resumed": resumed,
            "done": stop.is_none(),
            "offset": self.checkpoint.offset,
            "this_run": { "issues": this_run, "linked": linked_now, "elapsed_seconds": seconds, "issues_per_second": rate },
            "total": c,
            "waits": self.pacer.waits(),
            "waited_seconds": self.pacer.waited().as_secs_f64(),
            "failures": self.failures,
            "planned": self.planned,
            "stopped": stop.as_ref().map(|s| s.0.to_string()),
        });
        Outcome { human, json, exit }
    }
}
