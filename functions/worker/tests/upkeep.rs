//! The scheduled run's care of the service itself, end to end on moto and the simulators: a hook
//! GitLab disabled after the receiver failed is re-enabled by the next run and what changed
//! meanwhile reaches QALITA; a heal refused by GitLab's rate limit is tried again; a missing hook is
//! recorded; the token's expiry is read once a day, and the optional rotation stores the new token
//! in its secret at once (or says loudly why it did not).

mod world;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use qalita_gitlab_core::adapters::secrets_manager::SecretsManager;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::domain::gitlab::{GitlabProjectRef, IssueUpdate, StateEvent};
use qalita_gitlab_core::domain::hooks::{GitlabGroupRef, HookOwner, HookSettings};
use qalita_gitlab_core::health::{self, HookState};
use qalita_gitlab_core::ports::{CallContext, GitlabAdmin, GitlabApi, SecretSource, SecretStage, Settings};
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, DeliveryOutcome};
use qalita_gitlab_tests::stack::ids;
use qalita_gitlab_worker::handler::Deps;
use qalita_gitlab_worker::poll::poll;
use qalita_gitlab_worker::reconcile::reconcile;
use qalita_gitlab_worker::upkeep::{self, TokenRotation, UpkeepReport};
use qalita_gitlab_worker::wiring::{Places, Tokens};
use world::*;

fn project(id: u64) -> GitlabProjectRef {
    GitlabProjectRef::parse(&id.to_string()).unwrap()
}

fn default_project() -> GitlabProjectRef {
    GitlabProjectRef::parse("data/quality").unwrap()
}

/// The inbound world with the hook registered on each project through GitLab's hooks API, as
/// `hooks install` does (instead of the simulator's test hook), and the QALITA issue linked.
async fn installed() -> World {
    let world = World::inbound("").await;
    world.gitlab.set_webhook(None);
    let url = world.front.as_ref().unwrap().url.clone();
    for id in [42, 43] {
        let settings = HookSettings { url: url.clone(), token: SecretString::new(WEBHOOK_SECRET) };
        world.deps.admin.create_hook(&(&project(id)).into(), &settings).await.unwrap();
    }
    world.qalita_changed(serde_json::json!({})).await;
    world.quiesce().await;
    world
}

/// One scheduled run as the worker's `main` makes it: heal the hooks, poll QALITA, reconcile
/// GitLab, check the token.
async fn scheduled(deps: &Deps) -> UpkeepReport {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut report = UpkeepReport::default();
    upkeep::heal_hooks(deps, &mut report).await;
    poll(deps, deadline).await;
    reconcile(deps, deadline).await;
    upkeep::check_token(deps, &mut report).await;
    report
}

/// The GitLab requests of `method` whose path ends with `suffix`.
fn calls(world: &World, method: &str, suffix: &str) -> usize {
    world.gitlab.requests().iter().filter(|r| r.method == method && r.path.ends_with(suffix)).count()
}

fn qalita_status(world: &World) -> String {
    world.qalita.issue(ISSUE).unwrap()["status"].as_str().unwrap_or_default().to_owned()
}

fn alert_status(world: &World, project_id: u64) -> String {
    let hook = &world.gitlab.hooks(project_id)[0];
    let now = Utc::now();
    match (hook.health.recent_failures, hook.health.disabled_until) {
        (40.., _) => "disabled".into(),
        (_, Some(until)) if until > now => "temporarily_disabled".into(),
        _ => "executable".into(),
    }
}

/// The receiver fails four deliveries in a row: GitLab disables the hook.
async fn disable_by_failures(world: &World) {
    world.front.as_ref().unwrap().fail_next(4);
    let iid = world.gitlab_issue().iid;
    for n in 0..4 {
        let update = IssueUpdate { title: Some(format!("Edited by hand {n}")), ..Default::default() };
        world.person().update_issue(&default_project(), iid, &update, &CallContext::default()).await.unwrap();
    }
    world.settle().await;
    assert_eq!(alert_status(world, 42), "temporarily_disabled");
}

#[tokio::test]
async fn a_hook_disabled_by_failed_deliveries_is_re_enabled_by_the_next_run_and_the_changes_reach_qalita() {
    let world = installed().await;
    disable_by_failures(&world).await;
    // Closed while the hook is disabled: GitLab does not deliver it.
    let iid = world.gitlab_issue().iid;
    let close = IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() };
    world.person().update_issue(&default_project(), iid, &close, &CallContext::default()).await.unwrap();
    world.quiesce().await;
    assert_eq!(world.gitlab.deliveries().last().unwrap().outcome, DeliveryOutcome::HookDisabled);
    assert_eq!(qalita_status(&world), "open", "the change was dropped with the hook disabled");

    let report = scheduled(&world.deps).await;
    world.quiesce().await;

    assert_eq!((report.hooks_checked, report.hooks_healed, report.hooks_unhealthy), (2, 1, 0), "{report:?}");
    assert_eq!(alert_status(&world, 42), "executable");
    assert_eq!(world.gitlab.hooks(42)[0].health.recent_failures, 0);
    assert_eq!(qalita_status(&world), "resolved", "the change made while disabled reached QALITA");
    let record = health::hook(world.store.as_ref(), &(&default_project()).into()).await.unwrap().expect("a record");
    assert_eq!(record.state, HookState::Executable);
    let heal = record.last_heal.expect("the heal is recorded");
    assert!(heal.healed, "{heal:?}");
    assert_eq!(calls(&world, "POST", "/hooks/1/test/issues_events"), 1);
    assert_eq!(calls(&world, "POST", "/hooks/2/test/issues_events"), 0, "a healthy hook is left alone");

    // Delivering again: a reopen reaches QALITA through the hook.
    let reopen = IssueUpdate { state_event: Some(StateEvent::Reopen), ..Default::default() };
    world.person().update_issue(&default_project(), iid, &reopen, &CallContext::default()).await.unwrap();
    world.quiesce().await;
    assert_eq!(world.gitlab.deliveries().last().unwrap().status(), Some(200));
    assert_eq!(qalita_status(&world), "open");

    // Within the hour, the next run does not read the hooks again.
    let reads = calls(&world, "GET", "/hooks");
    let again = scheduled(&world.deps).await;
    assert_eq!(again.hooks_checked, 0, "{again:?}");
    assert_eq!(calls(&world, "GET", "/hooks"), reads);
}

#[tokio::test]
async fn a_heal_refused_by_the_rate_limit_is_recorded_and_tried_again_at_the_next_run() {
    let world = installed().await;
    disable_by_failures(&world).await;
    // Someone tested the hook five times this minute: GitLab's limit is spent.
    world.front.as_ref().unwrap().fail_next(5);
    for _ in 0..5 {
        let _ = world.deps.admin.test_hook(&(&project(42)).into(), 1, "issues_events").await;
    }

    let report = scheduled(&world.deps).await;
    assert_eq!((report.hooks_healed, report.hooks_unhealthy), (0, 1), "{report:?}");
    let record = health::hook(world.store.as_ref(), &(&default_project()).into()).await.unwrap().unwrap();
    assert_eq!(record.state, HookState::TemporarilyDisabled);
    assert!(record.last_heal.as_ref().unwrap().outcome.contains("rate limited"), "{record:?}");
    assert!(health::hook_check_due(Some(&record), Utc::now()), "tried again at the next run");

    let tests = calls(&world, "POST", "/test/issues_events");
    scheduled(&world.deps).await;
    assert_eq!(calls(&world, "POST", "/test/issues_events"), tests + 1, "the next run asks again");
}

#[tokio::test]
async fn a_project_without_our_hook_is_recorded_missing_and_nothing_is_tested() {
    let world = World::new("").await;
    let report = scheduled(&world.deps).await;
    assert_eq!((report.hooks_checked, report.hooks_unhealthy), (2, 2), "{report:?}");
    let record = health::hook(world.store.as_ref(), &(&default_project()).into()).await.unwrap().unwrap();
    assert_eq!((record.state, record.hook_id), (HookState::Missing, None));
    assert_eq!(world.gitlab_writes(), 0);
}

/// The world's worker with `[gitlab] rotate_before_days` and where it may store a new token.
fn rotating_deps(world: &World, rotate_before_days: Option<u32>, rotation: Option<TokenRotation>) -> Deps {
    let mut config = (*world.deps.config).clone();
    config.gitlab.rotate_before_days = rotate_before_days;
    let tokens = Tokens { gitlab: SecretString::new(DEFAULT_TOKEN), qalita: SecretString::new(QALITA_TOKEN) };
    let places = Places {
        store: world.store.clone(),
        queue: Arc::new(world.queue.clone()),
        clock: Arc::new(qalita_gitlab_core::ports::SystemClock),
    };
    let settings = qalita_gitlab_core::adapters::http::HttpSettings::default();
    let mut deps = Deps::build(Arc::new(config), tokens, &settings, places).unwrap();
    deps.token_rotation = rotation;
    deps
}

fn in_days(days: u64) -> chrono::NaiveDate {
    Utc::now().date_naive().checked_add_days(Days::new(days)).unwrap()
}

#[tokio::test]
async fn the_tokens_expiry_is_read_once_a_day_and_recorded() {
    let world = World::new("").await;
    world.gitlab.set_token_expiry(DEFAULT_TOKEN, Some(in_days(5)));
    let report = scheduled(&world.deps).await;
    assert!(report.token_checked && !report.token_rotated);
    let record = health::token(world.store.as_ref()).await.unwrap().expect("a token record");
    assert_eq!(record.days_left(Utc::now()), Some(4), "{record:?}");
    assert_eq!(record.problem, None);
    assert!(world.gitlab.token_active(DEFAULT_TOKEN), "rotation is off by default");
    assert_eq!(world.gitlab.count("POST", "/personal_access_tokens/self/rotate"), 0);

    let again = scheduled(&world.deps).await;
    assert!(!again.token_checked);
    assert_eq!(world.gitlab.count("GET", "/personal_access_tokens/self"), 1, "once a day");
}

#[tokio::test]
async fn a_token_within_its_rotation_lead_time_is_rotated_and_the_new_one_stored_at_once() {
    let world = World::new("").await;
    world.gitlab.set_token_expiry(DEFAULT_TOKEN, Some(in_days(5)));
    let secrets = SecretsManager::new(world.aws.secrets());
    let secret_id = world.stack.secret(ids::GITLAB_TOKEN).to_owned();
    let rotation = TokenRotation { store: Arc::new(secrets.clone()), secret_id: secret_id.clone() };
    let deps = rotating_deps(&world, Some(10), Some(rotation));

    let report = scheduled(&deps).await;

    assert!(report.token_rotated, "{report:?}");
    assert!(!world.gitlab.token_active(DEFAULT_TOKEN), "GitLab revoked the old token");
    let stored = secrets.read(&secret_id, SecretStage::Current).await.unwrap().unwrap();
    assert!(world.gitlab.token_active(stored.expose()), "the secret holds the new, working token");
    let record = health::token(world.store.as_ref()).await.unwrap().unwrap();
    assert!(record.rotated_at.is_some() && record.problem.is_none(), "{record:?}");
    assert!(record.days_left(Utc::now()).unwrap() > 300, "the new token lives a year: {record:?}");
    assert!(deps.credentials_refused.load(Ordering::SeqCst), "the function reads its secrets again");
    let rebuilt = rotating_deps(&world, Some(10), None);
    let fresh = qalita_gitlab_core::adapters::gitlab_http::GitlabClient::new(
        &world.gitlab.url(),
        stored,
        &qalita_gitlab_core::adapters::http::HttpSettings::default(),
    )
    .unwrap();
    assert!(fresh.token().await.unwrap().active);
    assert!(rebuilt.admin.token().await.is_err(), "the old token no longer works");
}

#[tokio::test]
async fn rotation_without_the_stacks_permission_does_not_rotate_and_says_why() {
    let world = World::new("").await;
    world.gitlab.set_token_expiry(DEFAULT_TOKEN, Some(in_days(5)));
    let deps = rotating_deps(&world, Some(10), None);
    let report = scheduled(&deps).await;
    assert!(!report.token_rotated);
    assert!(world.gitlab.token_active(DEFAULT_TOKEN), "nothing revoked");
    assert_eq!(world.gitlab.count("POST", "/personal_access_tokens/self/rotate"), 0);
    let record = health::token(world.store.as_ref()).await.unwrap().unwrap();
    assert!(record.problem.as_deref().unwrap().contains("GitlabTokenRotation=on"), "{record:?}");
}

#[tokio::test]
async fn a_rotated_token_that_cannot_be_stored_is_reported_loudly_without_its_value() {
    let world = World::new("").await;
    world.gitlab.set_token_expiry(DEFAULT_TOKEN, Some(in_days(2)));
    let secrets = SecretsManager::new(world.aws.secrets());
    let missing = format!("{}/no-such-secret", world.stack.name);
    let deps = rotating_deps(&world, Some(10), Some(TokenRotation { store: Arc::new(secrets), secret_id: missing }));

    let report = scheduled(&deps).await;

    assert!(!report.token_rotated);
    assert_eq!(world.gitlab.count("POST", "/personal_access_tokens/self/rotate"), 1);
    let record = health::token(world.store.as_ref()).await.unwrap().unwrap();
    let problem = record.problem.expect("the failure is recorded");
    assert!(problem.contains("could not be stored") && problem.contains("no-such-secret"), "{problem}");
    assert!(!problem.contains("glpat-"), "the new token is never shown: {problem}");
}

#[tokio::test]
async fn a_token_refused_during_the_scheduled_run_is_flagged_and_recorded() {
    let world = World::new("").await;
    let deps = rotating_deps(&world, None, None);
    world.gitlab.revoke_token(DEFAULT_TOKEN);

    let report = scheduled(&deps).await;

    assert!(deps.credentials_refused.load(Ordering::SeqCst), "the function reads its secrets again");
    assert!(report.token_checked);
    let record = health::token(world.store.as_ref()).await.unwrap().unwrap();
    assert!(record.problem.as_deref().unwrap().contains("401"), "{record:?}");
    assert!(
        health::hook(world.store.as_ref(), &(&default_project()).into()).await.unwrap().is_none(),
        "no hook record without an answer"
    );
}

#[tokio::test]
async fn with_a_webhook_group_the_run_heals_the_disabled_group_hook_and_looks_for_no_project_hook() {
    let world = World::inbound("[gitlab]\nwebhook_group = \"data\"\n").await;
    world.gitlab.set_webhook(None);
    world.gitlab.add_group(5, "data");
    let group = HookOwner::Group(GitlabGroupRef::parse("data").unwrap());
    let url = world.front.as_ref().unwrap().url.clone();
    let settings = HookSettings { url, token: SecretString::new(WEBHOOK_SECRET) };
    world.deps.admin.create_hook(&group, &settings).await.unwrap();
    world.qalita_changed(serde_json::json!({})).await;
    world.quiesce().await;
    // Four failed deliveries of data/quality's changes disable the group hook.
    world.front.as_ref().unwrap().fail_next(4);
    let iid = world.gitlab_issue().iid;
    for n in 0..4 {
        let update = IssueUpdate { title: Some(format!("Edited by hand {n}")), ..Default::default() };
        world.person().update_issue(&default_project(), iid, &update, &CallContext::default()).await.unwrap();
    }
    world.settle().await;
    assert!(world.gitlab.group_hooks(5)[0].health.disabled_until.is_some(), "the group hook is disabled");

    let report = scheduled(&world.deps).await;
    world.quiesce().await;

    assert_eq!((report.hooks_checked, report.hooks_healed, report.hooks_unhealthy), (1, 1, 0), "{report:?}");
    let hook = &world.gitlab.group_hooks(5)[0];
    assert_eq!((hook.health.recent_failures, hook.health.disabled_until), (0, None));
    assert_eq!(calls(&world, "POST", "/groups/data/hooks/1/test/issues_events"), 1);
    assert_eq!(
        world
            .gitlab
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/projects/") && r.path.ends_with("/hooks"))
            .count(),
        0,
        "no project's hooks are looked for"
    );
    let record = health::hook(world.store.as_ref(), &group).await.unwrap().expect("the group's record");
    assert_eq!(record.state, HookState::Executable);
    assert!(record.last_heal.is_some_and(|heal| heal.healed));
    assert!(world.store.cursor("health:hook:data").await.unwrap().is_some());
    assert!(health::hook(world.store.as_ref(), &(&default_project()).into()).await.unwrap().is_none());
}
