//! `hooks install`, `hooks check` and `hooks remove` against the GitLab simulator: the hook
//! registered on every configured project with the stack's webhook secret, the four events and
//! SSL verification, updated rather than duplicated on a second install; a hook disabled by its
//! failing deliveries reported with exit 1; ours removed and the others left; and the secret never
//! printed; with `--group`, one group hook instead.

mod commands_world;

use std::time::Duration;

use commands_world::*;
use qalita_gitlab_core::adapters::gitlab_http::GitlabClient;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::domain::gitlab::{GitlabProjectRef, NewIssue};
use qalita_gitlab_core::ports::{CallContext, GitlabApi};
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, DeliveryOutcome, level};
use serde_json::json;

/// The webhook secret the world's AWS stack holds.
const STACK_WEBHOOK_SECRET: &str = "webhook-secret-for-cli-tests";
/// The group `data`, which holds the world's project data/quality.
const GROUP: u64 = 5;
const URL: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/api/v2/integrations/gitlab/webhook";

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn assert_no_secret(ran: &Ran, secret: &str) {
    assert!(!ran.stdout.contains(secret) && !ran.stderr.contains(secret), "the webhook secret was printed: {ran:#?}");
}

#[tokio::test]
async fn install_registers_the_hook_on_every_project_once_with_the_stacks_secret() {
    let world = World::aws("").await;
    let ran = world.run(&["hooks", "install", "--url", URL]).await.expect(0);
    assert_no_secret(&ran, STACK_WEBHOOK_SECRET);
    assert!(ran.stdout.contains("data/quality: created"), "{}", ran.stdout);
    for project in [DEFAULT_PROJECT, FINANCE_PROJECT] {
        let hooks = world.gitlab.hooks(project);
        assert_eq!(hooks.len(), 1, "{hooks:?}");
        let hook = &hooks[0];
        assert_eq!(hook.config.url, URL);
        assert_eq!(hook.config.secret.as_deref(), Some(STACK_WEBHOOK_SECRET));
        let events = hook.config.events;
        assert!(events.issues && events.confidential_issues && events.notes && events.confidential_notes);
        assert!(hook.enable_ssl_verification && !hook.push_events);
    }

    let again = world.json(&["hooks", "install", "--url", URL]).await.expect(0);
    assert_no_secret(&again, STACK_WEBHOOK_SECRET);
    let report = again.json();
    let actions: Vec<&str> =
        report["installed"].as_array().unwrap().iter().map(|i| i["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["updated", "updated"]);
    assert_eq!(world.gitlab.hooks(DEFAULT_PROJECT).len(), 1, "never duplicated");
    assert_eq!(world.gitlab.hooks(FINANCE_PROJECT).len(), 1);
}

#[tokio::test]
async fn install_without_a_url_is_a_usage_error_and_registers_nothing() {
    let world = World::aws("").await;
    let ran = world.run(&["hooks", "install"]).await.expect(2);
    assert!(ran.stderr.contains("--url") && ran.stderr.contains("WebhookUrl"), "{ran:#?}");
    assert!(world.gitlab.hooks(DEFAULT_PROJECT).is_empty());
}

#[tokio::test]
async fn a_project_that_refuses_is_reported_and_the_others_are_installed() {
    let world = World::aws("").await;
    world.gitlab.set_access_level(FINANCE_PROJECT, BOT_USER, level::DEVELOPER);
    let report = world.json(&["hooks", "install", "--url", URL]).await.expect(1).json();
    let installed = report["installed"].as_array().unwrap();
    assert_eq!(installed[0]["action"], "created");
    assert!(installed[1]["error"].as_str().unwrap().contains("403"), "{report}");
    assert_eq!(world.gitlab.hooks(DEFAULT_PROJECT).len(), 1);
    assert!(world.gitlab.hooks(FINANCE_PROJECT).is_empty());
}

#[tokio::test]
async fn check_passes_on_healthy_hooks_and_fails_on_a_disabled_or_missing_one() {
    let world = World::aws("").await;
    let unreachable = format!("http://127.0.0.1:{}/api/v2/integrations/gitlab/webhook", closed_port());
    world.run(&["hooks", "install", "--url", &unreachable]).await.expect(0);
    let healthy = world.json(&["hooks", "check"]).await.expect(0).json();
    assert_eq!(healthy["needs_operator"], false);
    assert_eq!(healthy["hooks"][0]["state"], "executable");

    // Four deliveries to an address where nothing listens disable the default project's hook.
    let settings = HttpSettings { total_timeout: Duration::from_secs(3), ..HttpSettings::default() };
    let person = GitlabClient::new(&world.gitlab.url(), SecretString::new(DEFAULT_TOKEN), &settings).unwrap();
    let project = GitlabProjectRef::parse("data/quality").unwrap();
    for n in 0..4 {
        let issue = NewIssue { title: format!("by hand {n}"), ..NewIssue::default() };
        person.create_issue(&project, &issue, &CallContext::default()).await.unwrap();
    }
    for _ in 0..200 {
        if world.gitlab.deliveries().iter().all(|d| d.outcome != DeliveryOutcome::Pending) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let ran = world.run(&["hooks", "check"]).await.expect(1);
    assert!(
        ran.stdout.contains("data/quality: hook") && ran.stdout.contains("temporarily_disabled until"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("43: hook") && ran.stdout.contains("executable"), "{}", ran.stdout);
    let report = world.json(&["hooks", "check"]).await.expect(1).json();
    assert_eq!(report["hooks"][0]["state"], "temporarily_disabled");
    assert_eq!(report["hooks"][0]["needs_operator"], true);
    let failures = report["hooks"][0]["recent_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 4, "{report}");
    assert_eq!(failures[0]["status"], "internal error", "nothing listens: no answer");
    assert!(ran.stdout.contains("4 of its last 4 deliveries failed"), "{}", ran.stdout);
    assert_eq!(report["hooks"][1]["needs_operator"], false);

    world.run(&["hooks", "remove", "--url", &unreachable]).await.expect(0);
    let missing = world.json(&["hooks", "check"]).await.expect(1).json();
    assert_eq!(missing["hooks"][1]["state"], "missing");
}

#[tokio::test]
async fn remove_deletes_only_our_hook() {
    let world = World::aws("").await;
    let other = "https://ci.example/hook";
    world.run(&["hooks", "install", "--url", other]).await.expect(0);
    world.run(&["hooks", "install", "--url", URL]).await.expect(0);
    assert_eq!(world.gitlab.hooks(DEFAULT_PROJECT).len(), 2);

    let report = world.json(&["hooks", "remove", "--url", URL]).await.expect(0).json();
    assert_eq!(report["removed"][0]["action"], "removed");
    for project in [DEFAULT_PROJECT, FINANCE_PROJECT] {
        let left: Vec<String> = world.gitlab.hooks(project).into_iter().map(|h| h.config.url).collect();
        assert_eq!(left, [other]);
    }
    let again = world.json(&["hooks", "remove", "--url", URL]).await.expect(0).json();
    assert_eq!(again["removed"][0]["action"], "none");
}

#[tokio::test]
async fn the_embedded_stack_installs_with_its_webhook_secret_from_the_environment() {
    let mut world = World::local("").await;
    let secret = "local-webhook-secret-for-hooks-test";
    world.env.push(("QALITA_GITLAB_WEBHOOK_SECRET".into(), secret.into()));
    let url = "https://sync.example.org/api/v2/integrations/gitlab/webhook";
    let ran = world.run(&["hooks", "install", "--url", url]).await.expect(0);
    assert_no_secret(&ran, secret);
    assert_eq!(world.gitlab.hooks(DEFAULT_PROJECT)[0].config.secret.as_deref(), Some(secret));
}

#[tokio::test]
async fn with_group_one_group_hook_is_installed_checked_and_removed_and_no_project_hook() {
    let world = World::aws("").await;
    world.gitlab.add_group(GROUP, "data");

    let ran = world.run(&["hooks", "install", "--group", "data", "--url", URL]).await.expect(0);
    assert_no_secret(&ran, STACK_WEBHOOK_SECRET);
    assert!(ran.stdout.contains("group data: created"), "{}", ran.stdout);
    let again = world.json(&["hooks", "install", "--group", "data", "--url", URL]).await.expect(0).json();
    assert_eq!(again["installed"][0]["action"], "updated", "{again}");
    assert_eq!(again["installed"][0]["group"], "data", "{again}");
    let hooks = world.gitlab.group_hooks(GROUP);
    assert_eq!(hooks.len(), 1, "never duplicated: {hooks:?}");
    assert_eq!(hooks[0].config.secret.as_deref(), Some(STACK_WEBHOOK_SECRET));
    let events = hooks[0].config.events;
    assert!(events.issues && events.confidential_issues && events.notes && events.confidential_notes);
    assert!(world.gitlab.hooks(DEFAULT_PROJECT).is_empty() && world.gitlab.hooks(FINANCE_PROJECT).is_empty());

    let checked = world.json(&["hooks", "check", "--group", "data"]).await.expect(0).json();
    let shown = checked["hooks"].as_array().unwrap();
    assert_eq!(shown.len(), 1, "{checked}");
    assert_eq!((shown[0]["group"].clone(), shown[0]["state"].clone()), (json!("data"), json!("executable")));

    let removed = world.json(&["hooks", "remove", "--group", "data", "--url", URL]).await.expect(0).json();
    assert_eq!(removed["removed"][0]["action"], "removed", "{removed}");
    assert!(world.gitlab.group_hooks(GROUP).is_empty());
    world.run(&["hooks", "check", "--group", "data"]).await.expect(1);
}

#[tokio::test]
async fn a_group_the_token_does_not_own_is_reported_with_exit_1() {
    let world = World::aws("").await;
    world.gitlab.add_group(GROUP, "data");
    world.gitlab.set_group_access_level(GROUP, BOT_USER, level::MAINTAINER);
    let report = world.json(&["hooks", "install", "--group", "data", "--url", URL]).await.expect(1).json();
    assert!(report["installed"][0]["error"].as_str().unwrap().contains("403"), "{report}");
    assert!(world.gitlab.group_hooks(GROUP).is_empty());
    world.run(&["hooks", "install", "--group", "a//b", "--url", URL]).await.expect(2);
}
