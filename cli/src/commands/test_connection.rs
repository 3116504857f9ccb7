//! `qalita-gitlab test-connection`: a real round trip to everything the sync needs, one check at a
//! time, each with what was found and, when it fails, how to fix it: the link store and the queues,
//! the configuration, the tokens in the secret store, GitLab (the URL answers; the token is valid,
//! active, has scope `api`, and how long before it expires; each project exists and the token's
//! role can create and edit issues; the webhook is registered and healthy), and QALITA (the API
//! answers with the token; its OpenAPI document, when served, has every configured route and verb;
//! a real page of issues decodes, and which configured fields none of them has). Nothing is
//! written anywhere.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::adapters::qalita_http::{DocumentError, QalitaClient};
use qalita_gitlab_core::config::{Config, discover};
use qalita_gitlab_core::control;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::domain::gitlab::GitlabProjectRef;
use qalita_gitlab_core::ports::{ApiError, GitlabApi, QalitaApi, TransientKind};
use serde::Serialize;
use serde_json::json;

use super::global::GlobalArgs;
use super::outcome::{CommandError, Outcome};
use super::probe::{GitlabProbe, ProbeError, ProjectInfo, role_name};
use super::stack::Stack;

/// Days before a token's expiry from which the check warns.
const EXPIRY_WARNING_DAYS: i64 = 14;
/// The least access level that creates and edits issues with their labels and assignees (Planner;
/// Reporter and above also can).
const LEAST_ISSUE_ROLE: u8 = 15;

/// Checks, step by step, that the sync can reach and use everything it needs; writes nothing.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Checks, in order: the link store (table or data folder), the queues, the configuration, the tokens in
the secret store, GitLab (the URL answers; the token is valid, active, has scope api, and how many
days before it expires, with a warning under 14; the default project and each routed project exist
and the token's role can create and edit issues; the webhook is registered and healthy, with
--webhook-id), QALITA (the API answers with the token; when it serves its OpenAPI document, every
configured route and verb is in it; one real page of issues decodes with the configured pointers,
and the configured fields absent from every issue of it are listed), and whether the integration is
disabled.

Exit codes: 0 every check passed (warnings allowed); 1 a check failed (whatever the cause, an
unreachable service included); 2 the stack cannot be named (no --table nor --local).")]
pub struct TestConnectionArgs {
    /// The id of the GitLab webhook to check (Settings → Webhooks, the number in its edit link);
    /// without it the webhook is not checked.
    #[arg(long, value_name = "ID", env = "QALITA_GITLAB_WEBHOOK_ID")]
    pub webhook_id: Option<u64>,

    /// The project the webhook is on [default: the configuration's default project].
    #[arg(long, value_name = "PROJECT", env = "QALITA_GITLAB_WEBHOOK_PROJECT")]
    pub webhook_project: Option<String>,

    /// Where QALITA's OpenAPI document is, below qalita.base_url (checked against the configured
    /// routes when served).
    #[arg(long, value_name = "PATH", default_value = "/openapi.json")]
    pub openapi_path: String,
}

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
struct Check {
    name: String,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

#[derive(Default)]
struct Checks(Vec<Check>);

impl Checks {
    fn push(&mut self, name: impl Into<String>, status: Status, detail: impl Into<String>, fix: Option<String>) {
        self.0.push(Check { name: name.into(), status, detail: detail.into(), fix });
    }
    fn ok(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Status::Ok, detail, None);
    }
    fn warn(&mut self, name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(name, Status::Warn, detail, Some(fix.into()));
    }
    fn fail(&mut self, name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(name, Status::Fail, detail, Some(fix.into()));
    }
    fn skip(&mut self, name: impl Into<String>, detail: impl Into<String>) {
        self.push(name, Status::Skip, detail, None);
    }
}

/// Runs the checks.
pub async fn run(global: GlobalArgs, args: TestConnectionArgs) -> Result<Outcome, CommandError> {
    let stack = Stack::open(&global).await?;
    let mut checks = Checks::default();
    let config = check_stack(&stack, &mut checks).await;
    let gitlab_token =
        check_secret(&mut checks, "GitLab token secret", &stack.gitlab_secret_name(), stack.gitlab_token().await);
    let qalita_token =
        check_secret(&mut checks, "QALITA token secret", &stack.qalita_secret_name(), stack.qalita_token().await);
    match (&config, gitlab_token) {
        (Some(config), Some(token)) => check_gitlab(config, &token, &args, &stack, &mut checks).await,
        _ => checks.skip("GitLab", "not checked: the configuration or the token is missing (see above)"),
    }
    match (&config, qalita_token) {
        (Some(config), Some(token)) => check_qalita(config, token, &args, &stack, &mut checks).await,
        _ => checks.skip("QALITA", "not checked: the configuration or the token is missing (see above)"),
    }
    Ok(render(&stack, checks.0))
}

/// The store, the switch, the configuration and the queues.
async fn check_stack(stack: &Stack, checks: &mut Checks) -> Option<Arc<Config>> {
    let store = stack.store();
    match control::is_disabled(store.as_ref()).await {
        Ok(disabled) => {
            checks.ok("link store", format!("{} answers", stack.describe()));
            if disabled {
                checks.warn(
                    "integration",
                    "disabled: events are acknowledged and nothing is written",
                    "run `qalita-gitlab enable` when the sync should resume",
                );
            } else {
                checks.ok("integration", "enabled");
            }
        }
        Err(error) => {
            checks.fail("link store", format!("{} cannot be read: {error}", stack.describe()), stack.store_fix());
        }
    }
    match stack.queues().depths().await {
        Ok(depths) => checks.ok(
            "queues",
            format!(
                "event queue: {} waiting, {} in flight; dead-letter queue: {}",
                depths.waiting, depths.in_flight, depths.dead_letters
            ),
        ),
        Err(error) => checks.fail(
            "queues",
            format!("cannot be read: {error}"),
            "check --queue-url and --dlq-url (or --stack-name), the region and the credentials",
        ),
    }
    match stack.config().await {
        Ok(loaded) => {
            let origin = if loaded.document.is_some() { "stored document" } else { "defaults and environment" };
            let config = loaded.config;
            checks.ok(
                "configuration",
                format!(
                    "{origin}: GitLab {}, default project {}, {} routing rule(s), QALITA {}",
                    config.gitlab.base_url,
                    config.gitlab.default_project,
                    config.routing.len(),
                    config.qalita.base_url
                ),
            );
            Some(config)
        }
        Err(error) => {
            checks.fail(
                "configuration",
                error.to_string(),
                "fix the document (`qalita-gitlab config validate FILE`, then `config apply FILE`)",
            );
            None
        }
    }
}

fn check_secret(
    checks: &mut Checks,
    name: &str,
    secret: &str,
    value: Result<SecretString, CommandError>,
) -> Option<SecretString> {
    match value {
        Ok(value) if !value.expose().trim().is_empty() => {
            checks.ok(name, format!("{secret} is readable"));
            Some(value)
        }
        Ok(_) => {
            checks.fail(name, format!("{secret} is empty"), format!("put the token in {secret}"));
            None
        }
        Err(error) => {
            checks.fail(name, error.to_string(), format!("create {secret} with the token, or name the right secret"));
            None
        }
    }
}

async fn check_gitlab(
    config: &Config,
    token: &SecretString,
    args: &TestConnectionArgs,
    stack: &Stack,
    checks: &mut Checks,
) {
    let settings = HttpSettings { ca_bundle: config.gitlab.ca_bundle.clone(), ..HttpSettings::default() };
    let base = &config.gitlab.base_url;
    let probe = match GitlabProbe::new(base, token, &settings) {
        Ok(probe) => probe,
        Err(error) => {
            checks.fail("GitLab URL", error, "fix gitlab.base_url (or the token's value)");
            return;
        }
    };
    match probe.version().await {
        Ok(version) => checks.ok("GitLab URL", format!("{} answers (GitLab {version})", probe.api_root())),
        // Any HTTP answer of the API proves the URL; the token is checked next.
        Err(ProbeError::Refused { status, .. }) if status == 401 || status == 403 => {
            checks.ok("GitLab URL", format!("{} answers", probe.api_root()))
        }
        Err(error @ ProbeError::Unreachable(_)) => {
            checks.fail(
                "GitLab URL",
                format!("{} does not answer: {error}", probe.api_root()),
                "check gitlab.base_url, the network path (proxy, firewall) and, for a private CA, gitlab.ca_bundle",
            );
            return;
        }
        Err(error) => {
            checks.fail(
                "GitLab URL",
                format!("{} is not a GitLab API: {error}", probe.api_root()),
                "gitlab.base_url must be the instance's address (https://gitlab.example.com), without /api/v4 or a page path",
            );
            return;
        }
    }
    let secret = stack.gitlab_secret_name();
    if !check_token(&probe, &secret, checks).await {
        return;
    }
    let username = match qalita_gitlab_core::adapters::gitlab_http::GitlabClient::new(base, token.clone(), &settings) {
        Ok(client) => client.current_user().await.map(|user| user.username).ok(),
        Err(_) => None,
    };
    let who = username.as_deref().map_or_else(|| "the token's user".to_owned(), |name| format!("@{name}"));
    let mut projects: Vec<(&str, GitlabProjectRef)> = vec![("default project", config.gitlab.default_project.clone())];
    let mut seen = BTreeSet::from([config.gitlab.default_project.to_string()]);
    for route in &config.routing {
        if seen.insert(route.project.to_string()) {
            projects.push(("routed project", route.project.clone()));
        }
    }
    for (kind, project) in &projects {
        check_project(&probe, kind, project, &who, checks).await;
    }
    match args.webhook_id {
        Some(hook) => {
            let project = match &args.webhook_project {
                Some(text) => match GitlabProjectRef::parse(text) {
                    Ok(project) => project,
                    Err(error) => {
                        checks.fail("webhook", error.to_string(), "give --webhook-project as an id or group/project");
                        return;
                    }
                },
                None => config.gitlab.default_project.clone(),
            };
            check_hook(&probe, &project, hook, &who, checks).await;
        }
        None => checks.skip("webhook", "not checked: give --webhook-id (Settings → Webhooks) to check it"),
    }
}

/// The token: valid, active, scope `api`, expiry. False when the rest cannot be checked.
async fn check_token(probe: &GitlabProbe, secret: &str, checks: &mut Checks) -> bool {
    let renew = format!(
        "create a personal (or project/group) access token with scope api and put it in {secret}; the worker reads it again after a 401"
    );
    let token = match probe.token().await {
        Ok(token) => token,
        Err(ProbeError::Refused { status: 401, message }) => {
            checks.fail("GitLab token", format!("refused by GitLab (401): {message}"), renew);
            return false;
        }
        Err(ProbeError::Refused { status: 403, message }) => {
            checks.fail("GitLab token", format!("GitLab refuses to describe it (403): {message}"), renew);
            return false;
        }
        Err(error) => {
            checks.fail(
                "GitLab token",
                format!("cannot be checked: {error}"),
                "try again; if it persists, check GitLab's status",
            );
            return false;
        }
    };
    if token.revoked || !token.active {
        let why = if token.revoked { "revoked" } else { "inactive (expired)" };
        checks.fail("GitLab token", format!("{:?} is {why}", token.name), renew);
        return false;
    }
    let scopes = token.scopes.join(", ");
    if token.scopes.iter().any(|scope| scope == "api") {
        checks.ok("GitLab token scope", format!("{:?} is valid and active, with scope api ({scopes})", token.name));
    } else {
        checks.fail(
            "GitLab token scope",
            format!("{:?} has scopes [{scopes}] but not api: the sync cannot create or edit issues", token.name),
            renew.clone(),
        );
    }
    let today = Utc::now().date_naive();
    match token.expires_at {
        None => checks.ok("GitLab token expiry", "never expires"),
        Some(day) => {
            let days = (day - today).num_days();
            if days <= 0 {
                checks.fail("GitLab token expiry", format!("expired on {day}"), renew);
                return false;
            } else if days < EXPIRY_WARNING_DAYS {
                checks.warn(
                    "GitLab token expiry",
                    format!("expires in {days} day(s), on {day}"),
                    format!("rotate it before then: {renew}"),
                );
            } else {
                checks.ok("GitLab token expiry", format!("expires in {days} days, on {day}"));
            }
        }
    }
    true
}

async fn check_project(probe: &GitlabProbe, kind: &str, project: &GitlabProjectRef, who: &str, checks: &mut Checks) {
    let name = format!("{kind} {project}");
    let found: ProjectInfo = match probe.project(project).await {
        Ok(found) => found,
        Err(ProbeError::Refused { status: 404, .. }) => {
            checks.fail(
                name,
                "not found, or not visible to the token (a private project of which the token's user is no member)",
                format!("check the project's id or full path in the configuration, and add {who} to it as Reporter (Manage → Members)"),
            );
            return;
        }
        Err(error) => {
            checks.fail(name, format!("cannot be read: {error}"), "try again; if it persists, check GitLab's status");
            return;
        }
    };
    if found.archived {
        checks.fail(
            name,
            format!("{} is archived: it takes no new issues", found.path_with_namespace),
            "unarchive it, or route to another project",
        );
        return;
    }
    if found.issues_enabled == Some(false) {
        checks.fail(
            name,
            format!("{} has its issue tracker turned off", found.path_with_namespace),
            "turn Issues on (Settings → General → Visibility, project features, permissions)",
        );
        return;
    }
    match found.access_level() {
        Some(level) if level >= LEAST_ISSUE_ROLE => checks.ok(
            name,
            format!(
                "{} (id {}): {who} is {} and can create and edit issues",
                found.path_with_namespace,
                found.id,
                role_name(level)
            ),
        ),
        Some(level) => checks.fail(
            name,
            format!(
                "{} (id {}): {who} is {}, which cannot set labels or assignees nor edit issues it did not open",
                found.path_with_namespace,
                found.id,
                role_name(level)
            ),
            format!("give {who} the Reporter role (or Planner) in {} (Manage → Members)", found.path_with_namespace),
        ),
        None => checks.fail(
            name,
            format!("{} (id {}): {who} is not a member", found.path_with_namespace, found.id),
            format!("add {who} to {} as Reporter (Manage → Members)", found.path_with_namespace),
        ),
    }
}

async fn check_hook(probe: &GitlabProbe, project: &GitlabProjectRef, hook_id: u64, who: &str, checks: &mut Checks) {
    let name = format!("webhook {hook_id} of {project}");
    let hook = match probe.hook(project, hook_id).await {
        Ok(hook) => hook,
        Err(ProbeError::Refused { status: 403, .. }) => {
            checks.warn(
                name,
                format!("not checked: reading webhooks needs the Maintainer role, and {who} does not have it"),
                "look at Settings → Webhooks in GitLab, or run the check with a Maintainer's token",
            );
            return;
        }
        Err(ProbeError::Refused { status: 404, .. }) => {
            checks.fail(
                name,
                "no such webhook in the project",
                "add it (Settings → Webhooks → Add new webhook, with the stack's WebhookUrl and the webhook secret) and give its id",
            );
            return;
        }
        Err(error) => {
            checks.fail(name, format!("cannot be read: {error}"), "try again; if it persists, check GitLab's status");
            return;
        }
    };
    let events = [
        ("Issues events", hook.issues_events),
        ("Confidential issues events", hook.confidential_issues_events),
        ("Comments", hook.note_events),
        ("Confidential comments", hook.confidential_note_events),
    ];
    let missing: Vec<&str> = events.iter().filter(|(_, on)| !on).map(|(name, _)| *name).collect();
    let recent_events = "Settings → Webhooks → Edit → Recent events shows each failed delivery's status (401: the hook's Secret token differs from the webhook secret; 5xx or no answer: the endpoint is down)";
    match hook.alert_status.as_deref() {
        Some("temporarily_disabled") => {
            let until = hook.disabled_until.unwrap_or_else(|| "a time GitLab did not give".into());
            checks.fail(
                name,
                format!("temporarily disabled by GitLab after failing deliveries, until {until}: changes made meanwhile are not delivered"),
                format!("{recent_events}; fix the cause, then it re-enables itself at {until} (the poll catches up QALITA's side, and `backfill` re-links)"),
            );
        }
        Some("disabled") => checks.fail(
            name,
            "disabled by GitLab after repeated failing deliveries: nothing is delivered",
            format!("{recent_events}; fix the cause, then enable the hook again in Settings → Webhooks"),
        ),
        _ if !missing.is_empty() => checks.warn(
            name,
            format!("posts to {}, healthy, but these triggers are off: {}", hook.url, missing.join(", ")),
            "tick Issues events, Confidential issues events, Comments and Confidential comments in the webhook's settings",
        ),
        _ => checks.ok(name, format!("posts to {}, healthy (executable), every trigger the sync uses is on", hook.url)),
    }
}

async fn check_qalita(
    config: &Config,
    token: SecretString,
    args: &TestConnectionArgs,
    stack: &Stack,
    checks: &mut Checks,
) {
    let base = &config.qalita.base_url;
    let (paths, shape) = (config.qalita.paths.clone(), config.qalita.shape.clone());
    let client = match QalitaClient::with_shape(base, token, paths, shape, &HttpSettings::default()) {
        Ok(client) => client,
        Err(error) => {
            checks.fail("QALITA API", error.to_string(), "fix qalita.base_url, or the token's value");
            return;
        }
    };
    let secret = stack.qalita_secret_name();
    match client.list_issues(0, 1).await {
        Ok(issues) => checks.ok(
            "QALITA API",
            format!("{base} answers with the token ({} issue(s) on the first page of 1)", issues.len()),
        ),
        Err(ApiError::Transient {
            kind: kind @ (TransientKind::Connect | TransientKind::Timeout | TransientKind::Transport),
            message,
            ..
        }) => {
            checks.fail(
                "QALITA API",
                format!("{base} does not answer ({kind}): {message}"),
                "check qalita.base_url (QALITA's API listens on port 3080 by default), that QALITA is up, and the network path",
            );
            return;
        }
        Err(ApiError::Permanent { status: status @ (401 | 403), message, .. }) => {
            checks.fail(
                "QALITA API",
                format!("{base} refuses the token (HTTP {status}): {message}"),
                format!("create an API token in QALITA (it lasts a year by default) and put it in {secret}; if the instance takes it in another header, set [qalita.auth] (`qalita-gitlab qalita discover` reads it from the instance)"),
            );
            return;
        }
        Err(error) => {
            checks.fail("QALITA API", error.to_string(), "check qalita.base_url and qalita.paths in the configuration");
            return;
        }
    }
    check_openapi(&client, config, &args.openapi_path, checks).await;
    check_issue_page(&client, config, checks).await;
}

/// The configured routes against the instance's OpenAPI document, when it serves one.
async fn check_openapi(client: &QalitaClient, config: &Config, path: &str, checks: &mut Checks) {
    const NAME: &str = "QALITA routes";
    let url = format!("{}{path}", client.base_url());
    let document = match client.openapi_document(path).await {
        Ok(document) => document,
        Err(error @ (DocumentError::NotServed { .. } | DocumentError::Refused { .. })) => {
            checks.skip(NAME, format!("not checked: {error}"));
            return;
        }
        Err(error) => {
            checks.warn(
                NAME,
                format!("not checked: {error}"),
                "give the document's path with --openapi-path, or try again",
            );
            return;
        }
    };
    match discover::undocumented(&document, &config.qalita.paths) {
        Ok(missing) if missing.is_empty() => {
            checks.ok(NAME, format!("every configured route and verb is in the OpenAPI document at {url}"))
        }
        Ok(missing) => {
            let each: Vec<String> = missing
                .iter()
                .map(|m| match m.documented_verbs.as_slice() {
                    [] => format!("{} `{}`: no such path", m.setting, m.endpoint),
                    verbs => format!("{} `{}`: the path has only {}", m.setting, m.endpoint, verbs.join(", ")),
                })
                .collect();
            checks.fail(
                NAME,
                format!(
                    "the OpenAPI document at {url} lacks {} configured route(s): {}",
                    missing.len(),
                    each.join("; ")
                ),
                "set qalita.paths as the instance serves them (`qalita-gitlab qalita discover` shows them)",
            );
        }
        Err(error) => {
            checks.warn(NAME, format!("not checked: {url}: {error}"), "give the document's path with --openapi-path")
        }
    }
}

/// One real page of the issue list, decoded with the configured pointers: which fields no issue has.
async fn check_issue_page(client: &QalitaClient, config: &Config, checks: &mut Checks) {
    const NAME: &str = "QALITA issue fields";
    let size = config.sync.poll_page_size;
    let issues = match client.issue_page_json(size).await {
        Ok(issues) => issues,
        Err(error) => {
            checks.fail(
                NAME,
                format!("the first page of {size} issue(s) cannot be read: {error}"),
                "set [qalita.paging] (style, parameters, items) as the instance pages (`qalita-gitlab qalita discover` shows it)",
            );
            return;
        }
    };
    if let Err(error) = client.list_issues(0, size).await {
        checks.fail(
            NAME,
            format!(
                "the first page of {} issue(s) does not decode with the configured pointers: {error}",
                issues.len()
            ),
            "point [qalita.fields] at the instance's field names (`qalita-gitlab qalita discover` shows them)",
        );
        return;
    }
    if issues.is_empty() {
        checks.skip(NAME, "not checked: the first page of the issue list is empty");
        return;
    }
    let absent = config.qalita.shape.fields.absent_from_all(&issues);
    if absent.is_empty() {
        checks.ok(
            NAME,
            format!("the {} issue(s) of the first page decode, and every configured field is found", issues.len()),
        );
        return;
    }
    let each: Vec<String> = absent.iter().map(|(name, pointer)| format!("{name} (`{pointer}`)")).collect();
    checks.warn(
        NAME,
        format!("absent from every one of the {} issue(s) of the first page, read as unknown: {}", issues.len(), each.join(", ")),
        "point [qalita.fields] at the instance's names (`qalita-gitlab qalita discover` shows them); a field the instance never sends stays unknown",
    );
}

fn render(stack: &Stack, checks: Vec<Check>) -> Outcome {
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    let mut human = format!("Connection test ({})\n", stack.describe());
    let width = checks.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
    for check in &checks {
        let mark = match check.status {
            Status::Ok => "✓",
            Status::Warn => "⚠",
            Status::Fail => "✗",
            Status::Skip => "–",
        };
        human.push_str(&format!("  {mark} {:width$}  {}\n", check.name, check.detail));
        if let Some(fix) = &check.fix {
            human.push_str(&format!("      fix: {fix}\n"));
        }
    }
    human.push_str(&match (failed, warned) {
        (0, 0) => "Everything the sync needs is reachable and usable.".to_owned(),
        (0, warned) => format!("Usable, with {warned} warning(s)."),
        (failed, warned) => format!("{failed} check(s) failed, {warned} warning(s)."),
    });
    let json = json!({ "ok": failed == 0, "stack": stack.describe_json(), "failed": failed, "warnings": warned, "checks": checks });
    match failed {
        0 => Outcome::ok(human, json),
        _ => Outcome::failed(human, json),
    }
}
