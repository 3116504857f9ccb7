//! `status`: the one screen of the service's health, from the table's settings and the queues
//! (no CloudWatch call): the switch, the queues and the oldest message the worker took, the last
//! poll and reconcile, each configured project's hook and the GitLab token (the scheduled run's
//! health records), the 429s (the worker's activity record) and the errors (the integration
//! log) of the last hour, and the checkpoints of `backfill` and `links rebuild`. Exit code 1 when
//! something needs an operator; [`attention`] says what, as a pure function of what was read.

use chrono::{DateTime, TimeDelta, Utc};
use qalita_gitlab_core::activity::{self, RunRecord, WorkerRecord};
use qalita_gitlab_core::control;
use qalita_gitlab_core::domain::hooks::HookOwner;
use qalita_gitlab_core::engine::FIRST_RUN;
use qalita_gitlab_core::health::{self, HookHealth, HookState, TokenHealth};
use qalita_gitlab_core::ports::QueueDepths;
use serde_json::{Value, json};

use super::backfill::CHECKPOINT;
use super::global::GlobalArgs;
use super::outcome::{CommandError, Outcome};
use super::rebuild;
use super::stack::Stack;

/// Below this many days before its expiry, the GitLab token needs an operator (the template's
/// alarm says the same).
pub const TOKEN_WARNING_DAYS: i64 = 14;
/// A poll or reconcile that has not finished for this long, while the integration is enabled,
/// needs an operator: the schedule is not running, or every run fails.
pub const RUN_STALE_AFTER: TimeDelta = TimeDelta::hours(1);

/// Shows the service's health; exit code 1 when something needs an operator.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Needs an operator (exit code 1): dead letters; a configured project's hook that is not
executable; the GitLab token expiring within 14 days, or a problem its check met; a message that
waited longer than --max-message-age while messages still wait; errors in the integration log in the last hour; no poll or
reconcile finished in the last hour while the integration is enabled.

Exit codes: 0 nothing needs an operator; 1 something does (listed under \"needs an operator\");
2 usage or configuration error; 3 the store or a queue did not answer.")]
pub struct StatusArgs {
    /// The age, in seconds, above which the oldest message the worker took needs an operator (the
    /// template's OldestMessageAlarmSeconds).
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub max_message_age: u64,
}

/// What `status` read.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// When it was read.
    pub now: DateTime<Utc>,
    /// Whether the operator switched the integration off.
    pub disabled: bool,
    /// The queues.
    pub queue: QueueDepths,
    /// The worker's record (oldest message, 429s).
    pub worker: Option<WorkerRecord>,
    /// The last poll.
    pub poll: Option<RunRecord>,
    /// The last reconcile.
    pub reconcile: Option<RunRecord>,
    /// Each configured project and its hook record (`None`: never checked).
    pub hooks: Vec<(String, Option<HookHealth>)>,
    /// The token record.
    pub token: Option<TokenHealth>,
    /// Errors in the integration log in the last hour.
    pub errors_last_hour: usize,
    /// The age above which a message needs an operator.
    pub max_message_age: u64,
}

/// What needs an operator, each said with what to do; empty: nothing.
pub fn attention(facts: &Facts) -> Vec<String> {
    let mut needs = Vec::new();
    if facts.queue.dead_letters > 0 {
        needs.push(format!(
            "{} message(s) in the dead-letter queue: `qalita-gitlab dlq list`, fix the cause, then `qalita-gitlab dlq replay`",
            facts.queue.dead_letters
        ));
    }
    for (project, hook) in &facts.hooks {
        if let Some(hook) = hook.as_ref().filter(|h| h.state.needs_operator()) {
            needs.push(format!(
                "the GitLab hook of {project} is {}: GitLab drops its events meanwhile (`qalita-gitlab hooks check`)",
                hook.state.as_str()
            ));
        }
    }
    if let Some(token) = &facts.token {
        match token.days_left(facts.now) {
            Some(days) if days < 0 => needs.push("the GitLab token has expired: put a new one in its secret".into()),
            Some(days) if days < TOKEN_WARNING_DAYS => {
                needs.push(format!("the GitLab token expires in {days} day(s): put a new one in its secret"))
            }
            _ => {}
        }
        if let Some(problem) = &token.problem {
            needs.push(format!("the GitLab token's check: {problem}"));
        }
    }
    // An old message the worker took matters while messages still wait: an empty queue has none.
    let queued = facts.queue.waiting + facts.queue.in_flight > 0;
    if let Some(age) =
        facts.worker.as_ref().and_then(|w| w.oldest_message_age_s).filter(|a| queued && *a > facts.max_message_age)
    {
        needs.push(format!(
            "the oldest message the worker last took had waited {} (over {}): the worker is behind or failing",
            human_duration(age),
            human_duration(facts.max_message_age)
        ));
    }
    if facts.errors_last_hour > 0 {
        needs.push(format!(
            "{} error(s) in the integration log in the last hour: `qalita-gitlab logs --errors --since 1h`",
            facts.errors_last_hour
        ));
    }
    if !facts.disabled {
        for (what, run) in [("poll", &facts.poll), ("reconcile", &facts.reconcile)] {
            if let Some(run) = run.as_ref().filter(|r| facts.now - r.finished_at > RUN_STALE_AFTER) {
                needs.push(format!(
                    "no {what} finished for {}: is the schedule running? (the worker's log)",
                    human_duration(age_s(facts.now, run.finished_at))
                ));
            }
        }
    }
    needs
}

fn age_s(now: DateTime<Utc>, at: DateTime<Utc>) -> u64 {
    u64::try_from((now - at).num_seconds()).unwrap_or(0)
}

/// `42 s`, `3 min`, `2 h 5 min`, `3 d`.
fn human_duration(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d", s / 86_400),
    }
}

fn run_line(now: DateTime<Utc>, run: Option<&RunRecord>, changed: &str) -> String {
    match run {
        None => "never".into(),
        Some(run) => format!(
            "{} ({} ago), took {}, {} read, {} {changed}, {} failed{}",
            run.finished_at.format("%Y-%m-%d %H:%M:%SZ"),
            human_duration(age_s(now, run.finished_at)),
            human_duration(run.took_ms / 1000),
            run.read,
            run.changed,
            run.failed,
            run.stopped.as_deref().map(|s| format!(" (stopped: {s})")).unwrap_or_default()
        ),
    }
}

fn hook_line(now: DateTime<Utc>, hook: Option<&HookHealth>) -> String {
    let Some(hook) = hook else { return "not checked yet".into() };
    let mut line = match hook.state {
        HookState::Executable => "executable".to_owned(),
        other => other.as_str().to_uppercase(),
    };
    if let Some(until) = hook.disabled_until {
        line.push_str(&format!(" until {}", until.format("%Y-%m-%d %H:%M:%SZ")));
    }
    line.push_str(&format!(" (checked {} ago", human_duration(age_s(now, hook.checked_at))));
    if let Some(heal) = &hook.last_heal {
        line.push_str(&format!("; last heal {} ago: {}", human_duration(age_s(now, heal.at)), heal.outcome));
    }
    line.push(')');
    line
}

fn token_line(now: DateTime<Utc>, token: Option<&TokenHealth>) -> String {
    let Some(token) = token else { return "not checked yet".into() };
    let mut line = match (token.expires_at, token.days_left(now)) {
        (Some(at), Some(days)) => format!("expires {} ({days} days)", at.format("%Y-%m-%d")),
        _ => "never expires".to_owned(),
    };
    line.push_str(&format!(", checked {} ago", human_duration(age_s(now, token.checked_at))));
    if let Some(problem) = &token.problem {
        line.push_str(&format!("; problem: {problem}"));
    }
    line
}

/// What people read: the lines of the facts, then what needs an operator.
pub fn human(facts: &Facts, needs: &[String]) -> String {
    format!("{}{}", lines(facts), verdict(needs))
}

/// What needs an operator, for people.
fn verdict(needs: &[String]) -> String {
    match needs {
        [] => "\nNothing needs an operator.\n".into(),
        needs => {
            let mut text = "\nNeeds an operator:\n".to_owned();
            needs.iter().for_each(|need| text.push_str(&format!("  - {need}\n")));
            text
        }
    }
}

/// One line of the screen: a label and its value.
fn line(text: &mut String, label: &str, value: &str) {
    text.push_str(&format!("  {label}: {value}\n"));
}

/// The facts' lines.
fn lines(facts: &Facts) -> String {
    let now = facts.now;
    let mut text = String::new();
    let mut line = |label: &str, value: String| line(&mut text, label, &value);
    line(
        "integration",
        if facts.disabled { "DISABLED (nothing is written; `qalita-gitlab enable`)".into() } else { "enabled".into() },
    );
    line("event queue", format!("{} waiting, {} in flight", facts.queue.waiting, facts.queue.in_flight));
    line(
        "oldest message",
        match facts.worker.as_ref().and_then(|w| Some((w.oldest_message_age_s?, w.at?))) {
            Some((age, at)) => {
                format!("{} old when the worker took it, {} ago", human_duration(age), human_duration(age_s(now, at)))
            }
            None => "no batch recorded yet".into(),
        },
    );
    line("dead letters", facts.queue.dead_letters.to_string());
    line("last poll", run_line(now, facts.poll.as_ref(), "queued"));
    line("last reconcile", run_line(now, facts.reconcile.as_ref(), "synced"));
    if facts.hooks.is_empty() {
        line("GitLab hooks", "no project configured".into());
    }
    for (project, hook) in &facts.hooks {
        line(&format!("hook of {project}"), hook_line(now, hook.as_ref()));
    }
    line("GitLab token", token_line(now, facts.token.as_ref()));
    let (gitlab, qalita) = facts.worker.as_ref().map_or((0, 0), |w| w.rate_limited_last_hour(now));
    line(
        "last hour",
        format!(
            "{} answers 429 (GitLab {gitlab}, QALITA {qalita}), {} error(s) logged",
            gitlab + qalita,
            facts.errors_last_hour
        ),
    );
    text
}

/// What scripts read.
pub fn json(facts: &Facts, needs: &[String]) -> Value {
    let now = facts.now;
    let (gitlab, qalita) = facts.worker.as_ref().map_or((0, 0), |w| w.rate_limited_last_hour(now));
    let run = |run: Option<&RunRecord>| {
        run.map(|r| json!({ "record": r, "age_s": age_s(now, r.finished_at) })).unwrap_or(Value::Null)
    };
    json!({
        "checked_at": now,
        "disabled": facts.disabled,
        "queue": facts.queue,
        "oldest_message": facts.worker.as_ref().and_then(|w| Some(json!({
            "age_s": w.oldest_message_age_s?,
            "taken_at": w.at?,
        }))),
        "poll": run(facts.poll.as_ref()),
        "reconcile": run(facts.reconcile.as_ref()),
        "hooks": facts.hooks.iter().map(|(project, hook)| json!({
            "project": project,
            "state": hook.as_ref().map(|h| h.state.as_str()),
            "record": hook,
        })).collect::<Vec<_>>(),
        "token": facts.token.as_ref().map(|t| json!({ "record": t, "days_left": t.days_left(now) })),
        "last_hour": { "rate_limited": { "gitlab": gitlab, "qalita": qalita }, "errors": facts.errors_last_hour },
        "needs_operator": needs,
    })
}

/// Runs `status`.
pub async fn run(global: GlobalArgs, args: StatusArgs) -> Result<Outcome, CommandError> {
    let stack = Stack::open(&global).await?;
    let store = stack.store();
    let now = Utc::now();
    let disabled = control::is_disabled(store.as_ref()).await?;
    let queue = stack.queues().depths().await?;
    let document = stack.config_document().await?;
    let checkpoint = store.cursor(CHECKPOINT).await?;
    // Where the default creation policy starts (`[create]`): recorded once, by the first run.
    let first_run = store.cursor(FIRST_RUN).await?;
    let checkpoint_json = checkpoint.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok());
    // The configured projects (their hooks, the rebuild's checkpoints); a configuration that
    // does not load is not this command's to report.
    // With `[gitlab] webhook_group`, the one group hook stands for the projects' hooks.
    let (projects, group) = stack
        .config()
        .await
        .map(|loaded| (loaded.config.projects(), loaded.config.gitlab.webhook_group.clone()))
        .unwrap_or_default();
    let mut hooks = Vec::new();
    let per_project = group.is_none();
    if let Some(group) = group {
        let owner = HookOwner::Group(group);
        hooks.push((format!("group {owner}"), health::hook(store.as_ref(), &owner).await?));
    }
    let mut rebuild_cursors = Vec::new();
    for project in &projects {
        if per_project {
            hooks.push((project.to_string(), health::hook(store.as_ref(), &project.into()).await?));
        }
        rebuild_cursors.push((project.to_string(), store.cursor(&rebuild::cursor_name(project)).await?));
    }
    let facts = Facts {
        now,
        disabled,
        queue,
        worker: activity::worker(store.as_ref()).await?,
        poll: activity::run(store.as_ref(), activity::POLL_KEY).await?,
        reconcile: activity::run(store.as_ref(), activity::RECONCILE_KEY).await?,
        hooks,
        token: health::token(store.as_ref()).await?,
        // On DynamoDB a scan of the table (for operators; the worker never does it).
        errors_last_hour: store.recent_log(now - TimeDelta::hours(1), true).await?.len(),
        max_message_age: args.max_message_age,
    };
    let needs = attention(&facts);
    let rebuilt = rebuild::describe_checkpoints(&rebuild_cursors);

    let mut human_text = format!("{}\n{}", stack.describe(), lines(&facts));
    let mut more = |label: &str, value: String| line(&mut human_text, label, &value);
    more(
        "configuration",
        if document.is_some() {
            "stored document (`qalita-gitlab config show`)"
        } else {
            "defaults and the environment"
        }
        .into(),
    );
    more(
        "first run",
        first_run.as_deref().map_or_else(
            || "not yet (QALITA issues raised before it are not created by themselves)".to_owned(),
            |at| format!("{at} (earlier QALITA issues are not created by themselves, unless [create] says otherwise)"),
        ),
    );
    more(
        "backfill",
        checkpoint_json.as_ref().map_or_else(|| "never run".to_owned(), super::backfill::describe_checkpoint),
    );
    more(
        "links rebuild",
        rebuilt
            .as_ref()
            .map_or("never run (`qalita-gitlab links rebuild` after a lost link table)", |(text, _)| text)
            .to_owned(),
    );
    human_text.push_str(&verdict(&needs));

    let mut document_json = json(&facts, &needs);
    document_json["stack"] = stack.describe_json();
    document_json["config_stored"] = document.is_some().into();
    document_json["backfill"] = checkpoint_json.unwrap_or(Value::Null);
    document_json["links_rebuild"] = rebuilt.map(|(_, json)| json).unwrap_or(Value::Null);
    document_json["first_run"] = first_run.map(Value::from).unwrap_or(Value::Null);
    Ok(match needs.is_empty() {
        true => Outcome::ok(human_text, document_json),
        false => Outcome::failed(human_text, document_json),
    })
}

#[cfg(test)]
mod tests;
