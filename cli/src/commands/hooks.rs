//! `hooks install`, `hooks check` and `hooks remove`: the GitLab webhook of every configured
//! project, through GitLab's hooks API (Maintainer needed), or with `--group` one group hook
//! (Owner needed) that GitLab fires for every project of the group. Install is idempotent: a hook posting
//! to the URL is updated (its secret, the four events, certificate checks), never duplicated.
//! Check reads each hook's state with the last heal the scheduled run recorded. The secret is read
//! from the stack's secret store and never printed.

use qalita_gitlab_core::domain::hooks::{GitlabGroupRef, HookEvent, HookOwner, HookSettings, ProjectHook};
use qalita_gitlab_core::health::{self, HookState};
use qalita_gitlab_core::ports::GitlabAdmin;
use serde_json::{Value, json};

use super::global::GlobalArgs;
use super::outcome::{CommandError, Outcome};
use super::stack::Stack;

/// The GitLab webhook of each configured project.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum HooksCommand {
    /// Registers the webhook on every configured project, or updates the one posting to the URL.
    #[command(after_help = "\
The hook posts to --url, by default the output WebhookUrl of the CloudFormation stack --stack-name
(--local needs --url: for `serve`, http(s)://<this host>:<port>/api/v2/integrations/gitlab/webhook),
with the webhook secret (<stack name>/gitlab-webhook-secret, or QALITA_GITLAB_WEBHOOK_SECRET with
--local) as its secret token, on issue, confidential issue, comment and confidential comment events,
with SSL verification on. Run it again at will: a hook with that URL is updated, never duplicated.

With --group data (id or full path), one group hook is registered on that group instead (the token
needs Owner on it; GitLab Premium): GitLab fires it for every project of the group and its
subgroups. Set `[gitlab] webhook_group` to the same group so that the scheduled run checks and
heals that hook instead of looking for a hook on each project.

Exit codes: 0 every project has the hook; 1 a project refused (the token needs Maintainer on each
project); 2 usage or configuration error; 3 GitLab or the secret store did not answer.")]
    Install(TargetArgs),
    /// Shows each configured project's hook: its state, until when it is disabled, its settings,
    /// its recent failed deliveries, and the last attempt of the scheduled run to re-enable it.
    #[command(after_help = "\
Without --url, the hook is the one posting to the service's route (/api/v2/integrations/gitlab/webhook).

Exit codes: 0 every hook delivers; 1 a hook needs an operator (missing, disabled, temporarily
disabled, events or SSL verification off) or a project refused; 2 usage or configuration error;
3 GitLab did not answer.")]
    Check(CheckArgs),
    /// Deletes the hook posting to the URL from every configured project.
    #[command(
        after_help = "Exit codes: 0 removed (or there was none); 1 a project refused; 2 usage or configuration error; 3 GitLab did not answer."
    )]
    Remove(TargetArgs),
}

/// Where the hook posts, and its secret.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// One group hook on this group (id or full path; the token needs Owner) instead of a hook
    /// per configured project: GitLab fires it for every project of the group and its subgroups.
    #[arg(long, value_name = "ID_OR_PATH")]
    pub group: Option<String>,
    /// The webhook's URL [default: the output WebhookUrl of the CloudFormation stack --stack-name].
    #[arg(long, value_name = "URL", env = "QALITA_GITLAB_WEBHOOK_URL")]
    pub url: Option<String>,
    /// The secret holding the webhook secret [default: <stack name>/gitlab-webhook-secret].
    #[arg(long, value_name = "ID", env = "QALITA_GITLAB_WEBHOOK_SECRET_ID")]
    pub webhook_secret: Option<String>,
}

/// Which hook to check.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The group hook of this group (id or full path) instead of each configured project's hook.
    #[arg(long, value_name = "ID_OR_PATH")]
    pub group: Option<String>,
    /// The webhook's URL [default: any hook posting to the service's route].
    #[arg(long, value_name = "URL", env = "QALITA_GITLAB_WEBHOOK_URL")]
    pub url: Option<String>,
}

/// Runs a `hooks` command.
pub async fn run(global: GlobalArgs, command: HooksCommand) -> Result<Outcome, CommandError> {
    let stack = Stack::open(&global).await?;
    let config = stack.config().await?.config;
    let gitlab = stack.gitlab_client(&config).await?;
    let projects = config.projects();
    let group = match &command {
        HooksCommand::Install(args) | HooksCommand::Remove(args) => args.group.as_deref(),
        HooksCommand::Check(args) => args.group.as_deref(),
    };
    let owners: Vec<HookOwner> = match group {
        Some(group) => vec![HookOwner::Group(
            GitlabGroupRef::parse(group).map_err(|error| CommandError::Usage(error.to_string()))?,
        )],
        None => projects.iter().map(HookOwner::from).collect(),
    };
    match command {
        HooksCommand::Install(args) => {
            let url = webhook_url(&stack, args.url).await?;
            let (token, secret_from) = stack.webhook_secret(args.webhook_secret.as_deref()).await?;
            let settings = HookSettings { url, token };
            let mut results = Vec::new();
            for project in &owners {
                results.push(install(gitlab.as_ref(), project, &settings).await?);
            }
            Ok(report("installed", &results, json!({ "url": settings.url, "secret": secret_from })))
        }
        HooksCommand::Remove(args) => {
            let url = webhook_url(&stack, args.url).await?;
            let mut results = Vec::new();
            for project in &owners {
                results.push(remove(gitlab.as_ref(), project, &url).await?);
            }
            Ok(report("removed", &results, json!({ "url": url })))
        }
        HooksCommand::Check(args) => {
            let mut results = Vec::new();
            for project in &owners {
                let hooks = gitlab.hooks(project).await.map_err(CommandError::from);
                let found = hooks.map(|hooks| ours(hooks, args.url.as_deref()));
                // Older GitLab versions have no list of a hook's deliveries: then not shown.
                let events = match &found {
                    Ok(Some(hook)) => gitlab.hook_events(project, hook.id).await.ok(),
                    _ => None,
                };
                let record = health::hook(stack.store().as_ref(), project).await?;
                results.push(Checked {
                    owner: project.clone(),
                    hook: found.map_err(|e| e.to_string()),
                    events,
                    record,
                });
            }
            Ok(check_report(&results, args.url.as_deref()))
        }
    }
}

/// The deployed stack's output holding the webhook's URL (the template's `Outputs`).
const WEBHOOK_URL_OUTPUT: &str = "WebhookUrl";

/// The hook's URL: `given` (`--url`), else the deployed stack's output `WebhookUrl`.
async fn webhook_url(stack: &Stack, given: Option<String>) -> Result<String, CommandError> {
    match given.map(|url| url.trim().to_owned()).filter(|url| !url.is_empty()) {
        Some(url) => Ok(url),
        None => stack.output(WEBHOOK_URL_OUTPUT, "--url (or set QALITA_GITLAB_WEBHOOK_URL)").await,
    }
}

/// The hook of a project that is ours: posting to `url`, else to the service's route.
fn ours(hooks: Vec<ProjectHook>, url: Option<&str>) -> Option<ProjectHook> {
    hooks.into_iter().find(|hook| url.map_or_else(|| hook.posts_to_our_route(), |url| hook.posts_to(url)))
}

/// What a command did on one project: a result, or the refusal that stopped it there.
struct ProjectResult {
    owner: HookOwner,
    outcome: Result<(String, Option<u64>), String>,
}

/// What was done on one project; a refusal of one project (403, 404) is reported with the
/// others, an unavailable GitLab stops the command (exit 3).
fn per_project(
    project: &HookOwner,
    done: Result<(String, Option<u64>), CommandError>,
) -> Result<ProjectResult, CommandError> {
    let outcome = match done {
        Ok(outcome) => Ok(outcome),
        Err(CommandError::Failure(message)) => Err(message),
        Err(other) => return Err(other.context(format!("{} {project}", project.kind()))),
    };
    Ok(ProjectResult { owner: project.clone(), outcome })
}

async fn install(
    gitlab: &dyn GitlabAdmin,
    project: &HookOwner,
    settings: &HookSettings,
) -> Result<ProjectResult, CommandError> {
    let done = async {
        let existing = ours(gitlab.hooks(project).await?, Some(&settings.url));
        let (action, hook) = match existing {
            Some(hook) => ("updated", gitlab.update_hook(project, hook.id, settings).await?),
            None => ("created", gitlab.create_hook(project, settings).await?),
        };
        Ok::<_, CommandError>((action.to_owned(), Some(hook.id)))
    };
    per_project(project, done.await)
}

async fn remove(gitlab: &dyn GitlabAdmin, project: &HookOwner, url: &str) -> Result<ProjectResult, CommandError> {
    let done = async {
        let mut removed = None;
        // Every hook posting to the URL, should an older tool have registered it twice.
        for hook in gitlab.hooks(project).await?.into_iter().filter(|hook| hook.posts_to(url)) {
            gitlab.delete_hook(project, hook.id).await?;
            removed = Some(hook.id);
        }
        let action = if removed.is_some() { "removed" } else { "none" };
        Ok::<_, CommandError>((action.to_owned(), removed))
    };
    per_project(project, done.await)
}

/// The outcome of `install` or `remove`: exit 1 when a project refused.
fn report(verb: &str, results: &[ProjectResult], extra: Value) -> Outcome {
    let mut human = String::new();
    let mut items = Vec::new();
    for result in results {
        match &result.outcome {
            Ok((action, hook_id)) => {
                let hook = hook_id.map_or_else(String::new, |id| format!(" (hook {id})"));
                let shown = if action == "none" { "no hook posting to the URL" } else { action.as_str() };
                human.push_str(&format!("{}: {shown}{hook}\n", shown_owner(&result.owner)));
                items.push(
                    json!({ result.owner.kind(): result.owner.to_string(), "action": action, "hook_id": hook_id }),
                );
            }
            Err(message) => {
                human.push_str(&format!("{}: FAILED: {message}\n", shown_owner(&result.owner)));
                items.push(json!({ result.owner.kind(): result.owner.to_string(), "error": message }));
            }
        }
    }
    let mut json = json!({ verb: items });
    if let (Some(target), Value::Object(more)) = (json.as_object_mut(), extra) {
        target.extend(more);
    }
    match results.iter().any(|result| result.outcome.is_err()) {
        true => Outcome::failed(human, json),
        false => Outcome::ok(human, json),
    }
}

/// A project as configured; a group named as such.
fn shown_owner(owner: &HookOwner) -> String {
    match owner {
        HookOwner::Project(project) => project.to_string(),
        HookOwner::Group(group) => format!("group {group}"),
    }
}

/// One project's (or the group's) hook as `check` shows it.
struct Checked {
    owner: HookOwner,
    /// The hook, or why it could not be read.
    hook: Result<Option<ProjectHook>, String>,
    /// Its latest deliveries, when GitLab lists them.
    events: Option<Vec<HookEvent>>,
    record: Option<health::HookHealth>,
}

impl Checked {
    fn state(&self) -> Option<HookState> {
        let hook = self.hook.as_ref().ok()?;
        Some(match hook {
            None => HookState::Missing,
            Some(hook) => hook.alert_status.as_deref().and_then(HookState::parse).unwrap_or(HookState::Executable),
        })
    }

    fn needs_operator(&self) -> bool {
        let settings_off = matches!(&self.hook, Ok(Some(hook)) if !hook.has_our_settings());
        self.state().is_none_or(HookState::needs_operator) || settings_off
    }
}

fn check_report(results: &[Checked], url: Option<&str>) -> Outcome {
    let mut human = String::new();
    let mut items = Vec::new();
    for checked in results {
        let state = checked.state();
        let mut line = format!("{}: ", shown_owner(&checked.owner));
        match (&checked.hook, state) {
            (Err(message), _) => line.push_str(&format!("cannot be read: {message}")),
            (Ok(None), _) => line.push_str("NO HOOK: run `qalita-gitlab hooks install --url …`"),
            (Ok(Some(hook)), Some(state)) => {
                line.push_str(&format!("hook {} {}", hook.id, state.as_str()));
                if let Some(until) = hook.disabled_until {
                    line.push_str(&format!(" until {}", until.to_rfc3339()));
                }
                if !hook.has_our_settings() {
                    line.push_str("; events or SSL verification off: run `hooks install` again");
                }
            }
            (Ok(Some(_)), None) => {}
        }
        let failures: Option<Vec<&HookEvent>> =
            checked.events.as_ref().map(|events| events.iter().filter(|event| event.failed()).collect());
        if let (Some(failures), Some(events)) = (&failures, &checked.events)
            && !failures.is_empty()
        {
            line.push_str(&format!("; {} of its last {} deliveries failed", failures.len(), events.len()));
            if let Some(last) = failures.first() {
                let at = last.created_at.map(|at| format!(" at {}", at.to_rfc3339())).unwrap_or_default();
                line.push_str(&format!(" (latest: {}{at})", last.response_status));
            }
        }
        if let Some(heal) = checked.record.as_ref().and_then(|record| record.last_heal.as_ref()) {
            line.push_str(&format!("; last re-enable attempt {}: {}", heal.at.to_rfc3339(), heal.outcome));
        }
        human.push_str(&line);
        human.push('\n');
        let hook = checked.hook.as_ref().ok().and_then(Option::as_ref);
        items.push(json!({
            checked.owner.kind(): checked.owner.to_string(),
            "hook_id": hook.map(|hook| hook.id),
            "state": state.map(HookState::as_str),
            "disabled_until": hook.and_then(|hook| hook.disabled_until),
            "settings_ok": hook.map(ProjectHook::has_our_settings),
            "recent_deliveries": checked.events.as_ref().map(Vec::len),
            "recent_failures": failures.as_ref().map(|failures| failures.iter().map(|event| json!({
                "status": event.response_status,
                "at": event.created_at,
            })).collect::<Vec<_>>()),
            "error": checked.hook.as_ref().err(),
            "last_heal": checked.record.as_ref().and_then(|record| record.last_heal.as_ref()),
            "needs_operator": checked.needs_operator(),
        }));
    }
    let needs_operator = results.iter().any(Checked::needs_operator);
    let json = json!({ "hooks": items, "url": url, "needs_operator": needs_operator });
    match needs_operator {
        true => Outcome::failed(human, json),
        false => Outcome::ok(human, json),
    }
}
