//! `links rebuild`: restores the link table from the hidden markers of the GitLab issues, after
//! a lost link table or a new one (a fresh `serve --data-dir`, a new stack) against a GitLab that
//! already holds the service's issues. Every configured project's issues are walked, open and
//! closed, least recently updated first (`plan::rebuild::Walk`), and each marked issue goes through
//! `Engine::restore_link`: a missing link is restored with the store's conditional create, an
//! existing one is never replaced, duplicates and conflicts are reported. Nothing is written to
//! GitLab or QALITA. After each page the walk is checkpointed in the project's cursor
//! (`links-rebuild:<project>`), so that an interrupted run resumes where it stopped; GitLab's
//! rate limits are honoured as `backfill` honours them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use qalita_gitlab_core::domain::gitlab::{GitlabIssue, GitlabProjectRef};
use qalita_gitlab_core::domain::link::GitlabLink;
use qalita_gitlab_core::engine::{DryRun, Engine, Ports, SyncError};
use qalita_gitlab_core::plan::rebuild::{Verdict, Walk};
use qalita_gitlab_core::ports::{Clock, IssueQuery, LinkStore, Page, SystemClock};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::global::GlobalArgs;
use super::outcome::{CommandError, Exit, Outcome};
use super::pacing::{Pacer, progress_bar};
use super::stack::Stack;
use super::time::parse_duration;

/// The prefix of the projects' cursors: `links-rebuild:<project>`.
pub const CURSOR_PREFIX: &str = "links-rebuild:";

/// How many duplicates, conflicts and failures the text for people lists (all are in the JSON).
const LISTED: usize = 20;

/// Restores the links of the configured projects from the markers of their GitLab issues.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Every GitLab issue of the default project and of each routed project, open or closed, is read; one
whose description ends with a QALITA issue's hidden marker gets its link back when the table has
none for that QALITA issue (recorded as `create-issue` records an issue it adopts: the next sync
writes only what differs). An existing link is never replaced. A second GitLab issue carrying the
marker of a linked QALITA issue is reported as a duplicate; of two found by this run, the first
GitLab lists (the least recently updated, as the adoption of `create-issue` and `backfill` picks)
is linked. Nothing is written to GitLab or QALITA, and it works while the integration is disabled.

Each project's progress is checkpointed after every page (cursor links-rebuild:<project>); run the
same command again to resume an interrupted rebuild (--restart starts over). A 429 from GitLab waits
for its Retry-After.

Exit codes: 0 done; 1 GitLab refused a project or an issue (see the output); 2 usage or
configuration error; 3 GitLab or the store stayed unavailable, or asked to wait longer than
--max-wait: run it again to resume.")]
pub struct RebuildArgs {
    /// Show which links would be restored, and write nothing (no checkpoint either).
    #[arg(long)]
    pub dry_run: bool,

    /// Start every project from its first issue again, ignoring the checkpoints.
    #[arg(long)]
    pub restart: bool,

    /// GitLab issues read per page (GitLab serves at most 100).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub page_size: u32,

    /// The longest wait GitLab may ask for (Retry-After) before the rebuild stops, to be resumed.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub max_wait: Duration,
}

/// What was found so far, in a project or in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    /// GitLab issues read.
    scanned: u64,
    /// Links restored (with --dry-run: that would be).
    restored: u64,
    /// Marked issues the table already links.
    already_linked: u64,
    /// Marked issues whose QALITA issue's link names no GitLab issue yet (a reservation).
    unresolved: u64,
    /// Second issues carrying the marker of a linked QALITA issue.
    duplicates: u64,
    /// Marked issues whose QALITA issue is linked to an issue without its marker, or deleted.
    conflicts: u64,
    /// Issues without a marker (made by people, or a retired marker).
    without_marker: u64,
    /// Issues that could not be looked at (a refusal retrying will not fix).
    failed: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.scanned += other.scanned;
        self.restored += other.restored;
        self.already_linked += other.already_linked;
        self.unresolved += other.unresolved;
        self.duplicates += other.duplicates;
        self.conflicts += other.conflicts;
        self.without_marker += other.without_marker;
        self.failed += other.failed;
    }

    fn since(&self, before: &Counts) -> Counts {
        Counts {
            scanned: self.scanned - before.scanned,
            restored: self.restored - before.restored,
            already_linked: self.already_linked - before.already_linked,
            unresolved: self.unresolved - before.unresolved,
            duplicates: self.duplicates - before.duplicates,
            conflicts: self.conflicts - before.conflicts,
            without_marker: self.without_marker - before.without_marker,
            failed: self.failed - before.failed,
        }
    }

    fn summary(&self, dry_run: bool) -> String {
        let mut text = format!(
            "{} GitLab issue(s) scanned: {} {}, {} already linked, {} duplicate(s), {} conflict(s), {} without marker",
            self.scanned,
            self.restored,
            if dry_run { "to restore" } else { "restored" },
            self.already_linked,
            self.duplicates,
            self.conflicts,
            self.without_marker
        );
        if self.unresolved > 0 {
            text.push_str(&format!(", {} left to a creation in progress", self.unresolved));
        }
        if self.failed > 0 {
            text.push_str(&format!(", {} failed", self.failed));
        }
        text
    }
}

/// A project's checkpoint, in its cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    /// When the run this checkpoint belongs to started: a resumed run is the same run.
    run_started_at: DateTime<Utc>,
    /// When it was last written.
    updated_at: DateTime<Utc>,
    /// Where the walk of the project's issues goes on.
    walk: Walk,
    /// The whole project was walked.
    done: bool,
    /// What the run found in the project so far.
    counts: Counts,
}

impl Checkpoint {
    fn fresh(run_started_at: DateTime<Utc>) -> Self {
        Checkpoint {
            run_started_at,
            updated_at: run_started_at,
            walk: Walk::start(),
            done: false,
            counts: Counts::default(),
        }
    }
}

/// Why a project's walk stopped before its end.
enum Stop {
    /// GitLab refused the project's list (a token, a permission, a missing project): the other
    /// projects go on.
    Refused(CommandError),
    /// A service stayed unavailable, or the checkpoint could not be saved: the run stops.
    Run(CommandError),
}

/// One project of the run.
struct Project {
    reference: GitlabProjectRef,
    checkpoint: Checkpoint,
    /// Done by the run being resumed, before this invocation.
    done_before: bool,
    /// The counts when this invocation started.
    before: Counts,
    stopped: Option<CommandError>,
}

struct Run {
    engine: Engine,
    store: Arc<dyn LinkStore>,
    clock: Arc<dyn Clock>,
    args: RebuildArgs,
    bar: ProgressBar,
    pacer: Pacer,
    /// With --dry-run: the links it would have restored.
    dry: Option<DryRun>,
    duplicates: Vec<Value>,
    conflicts: Vec<Value>,
    failures: Vec<Value>,
    planned: Vec<Value>,
}

/// Runs `links rebuild`.
pub async fn run(stack: &Stack, global: &GlobalArgs, args: RebuildArgs) -> Result<Outcome, CommandError> {
    let config = stack.config().await?.config;
    let store = stack.store();
    let (gitlab, qalita) = stack.clients(&config).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ports = Ports { gitlab, qalita, store: store.clone(), clock: clock.clone() };
    let engine = Engine::new(ports, config.clone());

    let mut stored = Vec::new();
    for reference in config.projects() {
        let text = store.cursor(&cursor_name(&reference)).await?;
        stored.push((reference, text.and_then(|t| serde_json::from_str::<Checkpoint>(&t).ok())));
    }
    // A run is resumed while one of its projects is unfinished; its finished projects are not
    // walked again, and a project it did not reach (or one added since) is walked from the start.
    let resumed_run = match args.restart || args.dry_run {
        true => None,
        false => stored.iter().filter_map(|(_, c)| c.as_ref().filter(|c| !c.done)).map(|c| c.run_started_at).min(),
    };
    let run_started_at = resumed_run.unwrap_or_else(|| clock.now());
    let mut projects: Vec<Project> = stored
        .into_iter()
        .map(|(reference, checkpoint)| {
            let checkpoint = match checkpoint {
                Some(c) if Some(c.run_started_at) == resumed_run => c,
                _ => Checkpoint::fresh(run_started_at),
            };
            let before = checkpoint.counts;
            Project { reference, done_before: checkpoint.done, checkpoint, before, stopped: None }
        })
        .collect();

    let bar = progress_bar(global.output, "{spinner} {pos} GitLab issues [{elapsed_precise}] {per_sec} {msg}");
    let pacer = Pacer::new(args.max_wait);
    let dry = args.dry_run.then(DryRun::default);
    let mut run = Run {
        engine,
        store,
        clock,
        args,
        bar,
        pacer,
        dry,
        duplicates: Vec::new(),
        conflicts: Vec::new(),
        failures: Vec::new(),
        planned: Vec::new(),
    };
    let started = Instant::now();
    let mut stopped = None;
    for project in projects.iter_mut().filter(|p| !p.done_before) {
        match run.project(project).await {
            Ok(()) => {}
            Err(Stop::Refused(error)) => project.stopped = Some(error),
            Err(Stop::Run(error)) => {
                project.stopped = Some(error.clone());
                stopped = Some(error);
                break;
            }
        }
    }
    run.bar.finish_and_clear();
    Ok(run.report(resumed_run.is_some(), &projects, started.elapsed(), stopped))
}

/// The cursor of a project's checkpoint.
pub fn cursor_name(project: &GitlabProjectRef) -> String {
    format!("{CURSOR_PREFIX}{project}")
}

/// The last rebuild for `status`, from the projects' cursors (`(project, cursor)`): one line and
/// the checkpoints; `None` when no rebuild left a checkpoint.
pub fn describe_checkpoints(cursors: &[(String, Option<String>)]) -> Option<(String, Value)> {
    let parsed: Vec<(&str, Checkpoint)> = cursors
        .iter()
        .filter_map(|(project, text)| Some((project.as_str(), serde_json::from_str(text.as_deref()?).ok()?)))
        .collect();
    let last = parsed.iter().map(|(_, c)| c.updated_at).max()?;
    let mut total = Counts::default();
    for (_, checkpoint) in &parsed {
        total.add(&checkpoint.counts);
    }
    let unfinished: Vec<&str> = parsed.iter().filter(|(_, c)| !c.done).map(|(project, _)| *project).collect();
    let text = match unfinished.is_empty() {
        true => format!("finished {} ({})", last.to_rfc3339(), total.summary(false)),
        false => format!(
            "interrupted in {} ({}; last checkpoint {}): `qalita-gitlab links rebuild` resumes",
            unfinished.join(", "),
            total.summary(false),
            last.to_rfc3339()
        ),
    };
    let projects: serde_json::Map<String, Value> = parsed
        .iter()
        .map(|(project, c)| ((*project).to_owned(), serde_json::to_value(c).unwrap_or(Value::Null)))
        .collect();
    Some((text, json!({ "done": unfinished.is_empty(), "projects": projects })))
}

impl Run {
    /// Walks one project's issues from its checkpoint to the end.
    async fn project(&mut self, project: &mut Project) -> Result<(), Stop> {
        self.bar.set_message(format!(
            "{}: {}",
            project.reference,
            project.checkpoint.counts.summary(self.args.dry_run)
        ));
        loop {
            let walk = project.checkpoint.walk.clone();
            let page = self.list(&project.reference, &walk).await?;
            for issue in page.items.iter().filter(|issue| !walk.read_before(issue)) {
                self.one(project, issue).await?;
            }
            match walk.next(&page.items, page.next_page.is_some()) {
                Some(next) => project.checkpoint.walk = next,
                None => project.checkpoint.done = true,
            }
            self.save(project).await?;
            if project.checkpoint.done {
                return Ok(());
            }
        }
    }

    /// One page of the project's issues, retried while GitLab is unavailable.
    async fn list(&mut self, project: &GitlabProjectRef, walk: &Walk) -> Result<Page<GitlabIssue>, Stop> {
        let query = IssueQuery {
            updated_after: walk.after,
            page: walk.page,
            per_page: self.args.page_size,
            ..IssueQuery::default()
        };
        let mut attempt = 0;
        loop {
            match self.engine.gitlab().list_issues(project, &query).await {
                Ok(page) => return Ok(page),
                Err(error) if error.is_transient() => {
                    self.pacer.wait(&SyncError::Api(error), &mut attempt, &self.bar).await.map_err(Stop::Run)?
                }
                Err(error) => {
                    return Err(Stop::Refused(CommandError::from(error).context(format!("the issues of {project}"))));
                }
            }
        }
    }

    /// One GitLab issue: its verdict (and its link restored), retried while a service is busy.
    async fn one(&mut self, project: &mut Project, issue: &GitlabIssue) -> Result<(), Stop> {
        let mut attempt = 0;
        let verdict = loop {
            match self.engine.restore_link(issue, self.dry.as_mut()).await {
                Ok(verdict) => break verdict,
                Err(error) if error.is_transient() => {
                    self.pacer.wait(&error, &mut attempt, &self.bar).await.map_err(Stop::Run)?
                }
                Err(error) => {
                    project.checkpoint.counts.scanned += 1;
                    project.checkpoint.counts.failed += 1;
                    self.failures.push(json!({ "gitlab_issue": issue.web_url, "error": error.to_string() }));
                    self.bar.inc(1);
                    return Ok(());
                }
            }
        };
        let counts = &mut project.checkpoint.counts;
        counts.scanned += 1;
        match &verdict {
            Verdict::NoMarker => counts.without_marker += 1,
            Verdict::Restore(link) => {
                counts.restored += 1;
                if self.args.dry_run {
                    self.planned.push(json!({
                        "qalita_issue": link.qalita_id.get(),
                        "would": "restore",
                        "gitlab_issue": issue.web_url,
                        "project_id": issue.project_id.get(),
                        "iid": issue.iid.get(),
                    }));
                }
            }
            Verdict::AlreadyLinked { .. } => counts.already_linked += 1,
            Verdict::Unresolved { .. } => counts.unresolved += 1,
            Verdict::Duplicate { qalita, kept } => {
                counts.duplicates += 1;
                self.duplicates.push(found_json(qalita.get(), issue, "kept", kept));
            }
            Verdict::Conflict { qalita, linked, gone } => {
                counts.conflicts += 1;
                let mut conflict = found_json(qalita.get(), issue, "linked", linked);
                conflict["linked_exists"] = (!gone).into();
                self.conflicts.push(conflict);
            }
        }
        self.bar.inc(1);
        self.bar.set_message(format!("{}: {}", project.reference, counts.summary(self.args.dry_run)));
        Ok(())
    }

    async fn save(&mut self, project: &mut Project) -> Result<(), Stop> {
        if self.args.dry_run {
            return Ok(());
        }
        project.checkpoint.updated_at = self.clock.now();
        let text = serde_json::to_string(&project.checkpoint)
            .map_err(|e| Stop::Run(CommandError::Failure(format!("the checkpoint cannot be written: {e}"))))?;
        self.store.set_cursor(&cursor_name(&project.reference), &text).await.map_err(|error| {
            Stop::Run(
                CommandError::from(error)
                    .context("the checkpoint cannot be saved; run the same command again to resume"),
            )
        })
    }

    fn report(&self, resumed: bool, projects: &[Project], elapsed: Duration, stopped: Option<CommandError>) -> Outcome {
        let dry_run = self.args.dry_run;
        let (mut total, mut before) = (Counts::default(), Counts::default());
        for project in projects {
            total.add(&project.checkpoint.counts);
            before.add(&project.before);
        }
        let this_run = total.since(&before);
        let seconds = elapsed.as_secs_f64();
        let rate = if seconds > 0.0 { this_run.scanned as f64 / seconds } else { 0.0 };
        let mut human = String::new();
        if resumed {
            human.push_str(&format!(
                "Resumed the interrupted rebuild ({} GitLab issues scanned before).\n",
                before.scanned
            ));
        }
        for project in projects {
            let state = match (&project.stopped, project.done_before, project.checkpoint.done) {
                (Some(_), _, _) => "stopped",
                (None, true, _) => "done before",
                (None, false, true) => "done",
                (None, false, false) => "not reached",
            };
            human.push_str(&format!(
                "{} ({state}): {}.\n",
                project.reference,
                project.checkpoint.counts.summary(dry_run)
            ));
        }
        human.push_str(&format!("This run: {} in {seconds:.1} s ({rate:.1} issues/s).\n", this_run.summary(dry_run)));
        if self.pacer.waits() > 0 {
            human.push_str(&format!(
                "Waited {:.0} s in {} pause(s) for GitLab's rate limit or an outage.\n",
                self.pacer.waited().as_secs_f64(),
                self.pacer.waits()
            ));
        }
        list(&mut human, "duplicate", &self.duplicates, |d| {
            format!(
                "{} carries the marker of QALITA issue {}; the link keeps {}",
                text(&d["gitlab_issue"]),
                d["qalita_issue"],
                text(&d["kept"])
            )
        });
        list(&mut human, "conflict", &self.conflicts, |c| {
            format!(
                "{} carries the marker of QALITA issue {}, which is linked to {}{}",
                text(&c["gitlab_issue"]),
                c["qalita_issue"],
                text(&c["linked"]),
                if c["linked_exists"] == true { " (without that marker)" } else { " (deleted)" }
            )
        });
        list(&mut human, "failed", &self.failures, |f| format!("{}: {}", text(&f["gitlab_issue"]), text(&f["error"])));
        if !self.duplicates.is_empty() || !self.conflicts.is_empty() {
            human.push_str(
                "The links stay as they are; each finding is in the QALITA issue's log (`qalita-gitlab logs <id>`).\n",
            );
        }
        if dry_run {
            human.push_str("Dry run: nothing was written.\n");
        }
        let refused: Vec<&Project> = projects.iter().filter(|p| p.stopped.is_some()).collect();
        for project in &refused {
            if let Some(error) = &project.stopped {
                human.push_str(&format!("Stopped in {}: {error}\n", project.reference));
            }
        }
        if !refused.is_empty() {
            human.push_str("Run the same command again to resume from there.\n");
        }
        let exit = match (&stopped, refused.is_empty() && self.failures.is_empty()) {
            (Some(error), _) => error.exit(),
            (None, false) => Exit::Failure,
            (None, true) => Exit::Ok,
        };
        let projects_json: Vec<Value> = projects
            .iter()
            .map(|p| {
                json!({
                    "project": p.reference.to_string(),
                    "done": p.checkpoint.done,
                    "done_before": p.done_before,
                    "counts": p.checkpoint.counts,
                    "this_run": p.checkpoint.counts.since(&p.before),
                    "stopped": p.stopped.as_ref().map(ToString::to_string),
                })
            })
            .collect();
        let json = json!({
            "dry_run": dry_run,
            "resumed": resumed,
            "done": projects.iter().all(|p| p.checkpoint.done),
            "projects": projects_json,
            "total": total,
            "this_run": { "counts": this_run, "elapsed_seconds": seconds, "issues_per_second": rate },
            "waits": self.pacer.waits(),
            "waited_seconds": self.pacer.waited().as_secs_f64(),
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "failures": self.failures,
            "planned": self.planned,
            "stopped": stopped.as_ref().map(ToString::to_string),
        });
        Outcome { human, json, exit }
    }
}

/// A marked issue found with the GitLab issue the table keeps for its QALITA issue.
fn found_json(qalita: u64, issue: &GitlabIssue, role: &str, linked: &GitlabLink) -> Value {
    let mut value = json!({
        "qalita_issue": qalita,
        "gitlab_issue": issue.web_url,
        "project_id": issue.project_id.get(),
        "iid": issue.iid.get(),
    });
    value[role] = linked.web_url.clone().into();
    value
}

/// Appends up to [`LISTED`] items, one a line, and how many more the JSON holds.
fn list(human: &mut String, label: &str, items: &[Value], line: impl Fn(&Value) -> String) {
    for item in items.iter().take(LISTED) {
        human.push_str(&format!("  {label}: {}\n", line(item)));
    }
    if items.len() > LISTED {
        human.push_str(&format!("  … and {} more {label} (all in --output json)\n", items.len() - LISTED));
    }
}

/// A JSON string without its quotes.
fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}
