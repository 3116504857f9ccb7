//! The scheduled run's care of the service itself: each configured project's GitLab hook (read at
//! most once an hour; when GitLab disabled it, a test delivery re-enables it, and the reconcile
//! makes up what was dropped meanwhile), and the GitLab token (its expiry read once a day, warnings
//! at 14, 7 and 1 days, and the optional rotation, whose new token is stored at once). Each finding
//! is recorded in the table's health records (`health::set_hook`, `health::set_token`) and logged
//! with its `log_kind`.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::domain::gitlab::GitlabProjectRef;
use qalita_gitlab_core::domain::hooks::{HEAL_TRIGGER, HookOwner, ProjectHook, RotatedToken};
use qalita_gitlab_core::health::{self, HealAttempt, HookHealth, HookState, LogKind, TokenHealth};
use qalita_gitlab_core::ports::{ApiError, TransientKind};

use crate::handler::Deps;

/// How long a rotated token asks to live; an instance whose policy allows less refuses it (400),
/// and the rotation is asked again with GitLab's default.
const ROTATED_LIFETIME: Days = Days::new(365);
/// Tries to store a rotated token: GitLab revoked the old one already, so a store that fails
/// leaves the service without a token.
const STORE_TRIES: u32 = 5;
/// The first wait between two tries, doubled after each.
const STORE_BACKOFF: Duration = Duration::from_millis(500);

pub use crate::handler::TokenRotation;

/// What one run's upkeep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UpkeepReport {
    /// Projects whose hook was read.
    pub hooks_checked: usize,
    /// Hooks a test delivery re-enabled.
    pub hooks_healed: usize,
    /// Hooks that need an operator after the run (missing, still disabled).
    pub hooks_unhealthy: usize,
    /// Whether the token's expiry was read.
    pub token_checked: bool,
    /// Whether the token was rotated (and the new one stored).
    pub token_rotated: bool,
}

/// Checks and heals the hooks of every configured project that is due (before the poll and the
/// reconcile, so that deliveries resume as soon as possible); with `[gitlab] webhook_group`, the
/// one group hook instead, which serves every project of the group.
pub async fn heal_hooks(deps: &Deps, report: &mut UpkeepReport) {
    for project in &hook_owners(deps) {
        let last = match health::hook(deps.store.as_ref(), project).await {
            Ok(last) => last,
            Err(error) => {
                tracing::warn!(project = %project, error = %error, "the hook's health record cannot be read; checked at the next run");
                continue;
            }
        };
        let now = deps.clock.now();
        if !health::hook_check_due(last.as_ref(), now) {
            continue;
        }
        let Some(found) = check_hook(deps, project, last, now).await else { continue };
        report.hooks_checked += 1;
        report.hooks_healed += usize::from(found.last_heal.as_ref().is_some_and(|heal| heal.healed && heal.at == now));
        report.hooks_unhealthy += usize::from(found.state.needs_operator());
        if let Err(error) = health::set_hook(deps.store.as_ref(), project, &found).await {
            tracing::warn!(project = %project, error = %error, "the hook's health record was not written");
        }
    }
}

/// Whose hooks the run looks after: the `webhook_group`'s alone, else each configured project's
/// (once each, however often the configuration names it).
fn hook_owners(deps: &Deps) -> Vec<HookOwner> {
    if let Some(group) = &deps.config.gitlab.webhook_group {
        return vec![HookOwner::Group(group.clone())];
    }
    let projects: BTreeSet<String> = deps.config.projects().iter().map(GitlabProjectRef::to_string).collect();
    projects.iter().filter_map(|project| GitlabProjectRef::parse(project).ok()).map(HookOwner::Project).collect()
}

/// Reads a project's (or the group's) hook and, when GitLab disabled it, asks for a test delivery. The record to
/// keep; `None` when GitLab could not be asked (checked again at the next run).
async fn check_hook(
    deps: &Deps,
    project: &HookOwner,
    last: Option<HookHealth>,
    now: DateTime<Utc>,
) -> Option<HookHealth> {
    let hook = match find_hook(deps, project).await {
        Ok(hook) => hook,
        Err(error) => {
            refused(deps, &error, "reading the project's hooks");
            tracing::warn!(project = %project, error = %error, "the {}'s hooks cannot be read (the token needs Maintainer on a project, Owner on a group); checked at the next run", project.kind());
            return None;
        }
    };
    let previous_heal = last.and_then(|last| last.last_heal);
    let Some(hook) = hook else {
        tracing::warn!(project = %project, log_kind = LogKind::HookMissing.as_str(), "no GitLab hook posts to the service on this {}: run `qalita-gitlab hooks install`", project.kind());
        return Some(record(project, now, None, HookState::Missing, previous_heal));
    };
    let state = state_of(&hook);
    if !state.needs_operator() {
        return Some(record(project, now, Some(&hook), state, previous_heal));
    }
    let (after, heal) = heal(deps, project, &hook, now).await;
    let hook = after.as_ref().unwrap_or(&hook);
    Some(record(project, now, Some(hook), state_of(hook), Some(heal)))
}

/// Asks GitLab for a test delivery of `hook`, then reads the hook again: its state after, if read,
/// and the attempt.
async fn heal(
    deps: &Deps,
    project: &HookOwner,
    hook: &ProjectHook,
    now: DateTime<Utc>,
) -> (Option<ProjectHook>, HealAttempt) {
    let was = state_of(hook).as_str();
    match deps.admin.test_hook(project, hook.id, HEAL_TRIGGER).await {
        Ok(()) => {
            let after = find_hook(deps, project).await.ok().flatten();
            let healed = after.as_ref().is_some_and(|hook| !state_of(hook).needs_operator());
            let outcome = match healed {
                true => "re-enabled by a test delivery".to_owned(),
                false => "the test delivery succeeded but GitLab still shows the hook disabled".to_owned(),
            };
            let kind = if healed { LogKind::HookHealed } else { LogKind::HookNotHealed };
            tracing::info!(project = %project, hook_id = hook.id, was, log_kind = kind.as_str(), outcome = %outcome, "GitLab hook heal");
            (after, HealAttempt { at: now, healed, outcome })
        }
        Err(ApiError::Transient { kind: TransientKind::Http(429), .. }) => {
            tracing::warn!(project = %project, hook_id = hook.id, was, log_kind = LogKind::HookNotHealed.as_str(), "GitLab's limit of 5 hook tests a minute refused the heal; tried again at the next run");
            (None, health::rate_limited_heal(now))
        }
        Err(error) => {
            refused(deps, &error, "testing the hook");
            let outcome = format!("the test delivery failed: {error}");
            tracing::warn!(project = %project, hook_id = hook.id, was, log_kind = LogKind::HookNotHealed.as_str(), outcome = %outcome, "GitLab hook heal");
            (None, HealAttempt { at: now, healed: false, outcome })
        }
    }
}

/// The project's (or group's) hook posting to the service's webhook route, if any.
async fn find_hook(deps: &Deps, project: &HookOwner) -> Result<Option<ProjectHook>, ApiError> {
    Ok(deps.admin.hooks(project).await?.into_iter().find(ProjectHook::posts_to_our_route))
}

/// GitLab's `alert_status` (absent before GitLab 15.7: executable).
fn state_of(hook: &ProjectHook) -> HookState {
    hook.alert_status.as_deref().and_then(HookState::parse).unwrap_or(HookState::Executable)
}

fn record(
    project: &HookOwner,
    now: DateTime<Utc>,
    hook: Option<&ProjectHook>,
    state: HookState,
    last_heal: Option<HealAttempt>,
) -> HookHealth {
    HookHealth {
        project: project.to_string(),
        checked_at: now,
        hook_id: hook.map(|hook| hook.id),
        state,
        disabled_until: hook.and_then(|hook| hook.disabled_until),
        last_heal,
    }
}

/// A 401 of GitLab or QALITA met by the scheduled run is its own log kind, and makes the function
/// read its secrets again.
pub fn refused(deps: &Deps, error: &ApiError, doing: &str) {
    if matches!(error, ApiError::Permanent { status: 401, .. }) {
        deps.credentials_refused.store(true, Ordering::SeqCst);
        tracing::error!(log_kind = LogKind::CredentialsRefused.as_str(), doing, error = %error, "a token was refused (401): put a valid token in its secret");
    }
}

/// Reads the token's expiry when due (once a day), warns as it nears, and rotates it when
/// `[gitlab] rotate_before_days` says (after the poll and the reconcile, which still use the old
/// token: the function reads its secrets again before its next call).
pub async fn check_token(deps: &Deps, report: &mut UpkeepReport) {
    let last = match health::token(deps.store.as_ref()).await {
        Ok(last) => last,
        Err(error) => {
            tracing::warn!(error = %error, "the token's health record cannot be read; checked at the next run");
            return;
        }
    };
    let now = deps.clock.now();
    if !health::token_check_due(last.as_ref(), now) {
        return;
    }
    let mut found = TokenHealth {
        checked_at: now,
        expires_at: last.as_ref().and_then(|last| last.expires_at),
        rotated_at: last.as_ref().and_then(|last| last.rotated_at),
        problem: None,
    };
    match deps.admin.token().await {
        Ok(record) => {
            found.expires_at = record.expires_at_time();
            let days_left = found.days_left(now);
            if let (Some(days_left), Some(threshold)) = (days_left, days_left.and_then(health::expiry_warning)) {
                tracing::warn!(log_kind = LogKind::TokenExpiring.as_str(), days_left, threshold, token = %record.name, expires_at = ?record.expires_at, "the GitLab token expires soon: rotate it (or set [gitlab] rotate_before_days)");
            }
            if health::rotation_due(days_left, deps.config.gitlab.rotate_before_days) {
                rotate(deps, &mut found, report).await;
            }
        }
        Err(error) => {
            refused(deps, &error, "reading the token's expiry");
            tracing::warn!(error = %error, "the GitLab token's record cannot be read; tried again in an hour");
            found.problem = Some(format!("the token's record cannot be read: {error}"));
        }
    }
    report.token_checked = true;
    if let Err(error) = health::set_token(deps.store.as_ref(), &found).await {
        tracing::warn!(error = %error, "the token's health record was not written");
    }
}

/// Rotates the token and stores the new one at once, retrying the store: GitLab revoked the old
/// token when it answered.
async fn rotate(deps: &Deps, found: &mut TokenHealth, report: &mut UpkeepReport) {
    let Some(rotation) = &deps.token_rotation else {
        let problem = "[gitlab] rotate_before_days is set but this deployment may not store a new token (set the stack parameter GitlabTokenRotation=on): not rotated";
        tracing::error!(log_kind = LogKind::TokenRotationFailed.as_str(), "{problem}");
        found.problem = Some(problem.to_owned());
        return;
    };
    let today = deps.clock.now().date_naive();
    let rotated = match deps.admin.rotate_token(today.checked_add_days(ROTATED_LIFETIME)).await {
        // An instance whose policy allows a shorter lifetime refuses the date and revokes nothing.
        Err(ApiError::Permanent { status: 400, .. }) => deps.admin.rotate_token(None).await,
        other => other,
    };
    let RotatedToken { record, token } = match rotated {
        Ok(rotated) => rotated,
        Err(error) => {
            refused(deps, &error, "rotating the token");
            tracing::error!(log_kind = LogKind::TokenRotationFailed.as_str(), error = %error, "GitLab did not rotate the token; the old one still works and the rotation is tried again in an hour");
            found.problem = Some(format!("the rotation failed: {error}"));
            return;
        }
    };
    match store_token(rotation, &token).await {
        Ok(()) => {
            found.rotated_at = Some(deps.clock.now());
            found.expires_at = record.expires_at_time();
            report.token_rotated = true;
            // The clients still hold the revoked token: the function reads its secrets again.
            deps.credentials_refused.store(true, Ordering::SeqCst);
            tracing::info!(log_kind = LogKind::TokenRotated.as_str(), secret = %rotation.secret_id, expires_at = ?record.expires_at, "the GitLab token was rotated and the new one stored");
        }
        Err(error) => {
            let problem = format!(
                "the GitLab token was rotated (GitLab revoked the old one) but the new one could not be stored in {}: {error}; create a new token with scope api and put it in that secret",
                rotation.secret_id
            );
            tracing::error!(log_kind = LogKind::TokenRotationFailed.as_str(), secret = %rotation.secret_id, "{problem}");
            found.problem = Some(problem);
        }
    }
}

async fn store_token(
    rotation: &TokenRotation,
    token: &SecretString,
) -> Result<(), qalita_gitlab_core::ports::SecretError> {
    let mut wait = STORE_BACKOFF;
    let mut tries = 1;
    loop {
        match rotation.store.put(&rotation.secret_id, token).await {
            Ok(()) => return Ok(()),
            Err(error) if tries >= STORE_TRIES => return Err(error),
            Err(error) => {
                tracing::warn!(secret = %rotation.secret_id, tries, error = %error, "the rotated GitLab token was not stored; trying again");
                tokio::time::sleep(wait).await;
                wait *= 2;
                tries += 1;
            }
        }
    }
}
