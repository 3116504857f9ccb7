//! `test-connection` end to end: every check passing, and each failure it reports, produced the
//! way it happens (a token expired, revoked or without scope `api`, a Guest role, a project the
//! token cannot see, a webhook disabled by GitLab after failing deliveries, QALITA down or refusing
//! its token, GitLab unreachable), each with its ✗ line, its fix, and exit code 1.

mod commands_world;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use commands_world::*;
use qalita_gitlab_core::adapters::gitlab_http::GitlabClient;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::domain::gitlab::{GitlabProjectRef, NewIssue};
use qalita_gitlab_core::ports::{CallContext, GitlabApi};
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, DeliveryOutcome, WebhookConfig, level};
use serde_json::Value;

/// The check named `name` in a JSON report, else the first whose name starts so.
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    let checks = report["checks"].as_array().unwrap();
    checks
        .iter()
        .find(|c| c["name"] == name)
        .or_else(|| checks.iter().find(|c| c["name"].as_str().unwrap().starts_with(name)))
        .unwrap_or_else(|| panic!("no check {name:?} in {report:#}"))
}

fn status<'a>(report: &'a Value, name: &str) -> &'a str {
    check(report, name)["status"].as_str().unwrap()
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn everything_reachable_and_usable_passes_with_exit_0() {
    let world = World::aws("").await;
    world.gitlab.set_webhook(Some(WebhookConfig::new("http://127.0.0.1:9/hook").with_id(7)));
    let ran = world.run(&["test-connection", "--webhook-id", "7"]).await.expect(0);
    for line in [
        "✓ link store",
        "✓ queues",
        "✓ configuration",
        "✓ GitLab token secret",
        "✓ QALITA token secret",
        "✓ GitLab URL",
        "✓ GitLab token scope",
        "✓ GitLab token expiry",
        "✓ default project data/quality",
        "is Maintainer and can create and edit issues",
        "✓ routed project 43",
        "✓ webhook 7 of data/quality",
        "✓ QALITA API",
        "Everything the sync needs is reachable and usable.",
    ] {
        assert!(ran.stdout.contains(line), "{line:?} missing from\n{}", ran.stdout);
    }
    let report = world.json(&["test-connection", "--webhook-id", "7"]).await.expect(0).json();
    assert_eq!((report["ok"].as_bool(), report["failed"].as_u64()), (Some(true), Some(0)));
    assert_eq!(world.gitlab_writes() + world.qalita_writes(), 0, "the test writes nothing");
    assert_eq!(status(&report, "webhook"), "ok");
}

#[tokio::test]
async fn the_embedded_stack_passes_too() {
    let world = World::local("").await;
    let report = world.json(&["test-connection"]).await.expect(0).json();
    assert_eq!(report["stack"]["kind"], "local");
    assert_eq!(status(&report, "link store"), "ok");
    assert_eq!(status(&report, "webhook"), "skip");
    assert!(check(&report, "GitLab token secret")["detail"].as_str().unwrap().contains("environment variables"));
}

#[tokio::test]
async fn an_expired_token_fails_and_one_about_to_expire_warns() {
    let world = World::aws("").await;
    world.gitlab.set_token_expiry(DEFAULT_TOKEN, Some((Utc::now() + TimeDelta::days(10)).date_naive()));
    let soon = world.json(&["test-connection"]).await.expect(0).json();
    assert_eq!(status(&soon, "GitLab token expiry"), "warn");
    assert!(check(&soon, "GitLab token expiry")["detail"].as_str().unwrap().contains("expires in 10 day(s)"));

    world.gitlab.set_token_expiry(DEFAULT_TOKEN, Some(Utc::now().date_naive()));
    let ran = world.run(&["test-connection"]).await.expect(1);
    assert!(ran.stdout.contains("✗ GitLab token") && ran.stdout.contains("Token has expired."), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("fix: create a personal (or project/group) access token with scope api"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("/gitlab-token"), "the fix names the secret: {}", ran.stdout);
}

#[tokio::test]
async fn a_revoked_token_fails() {
    let world = World::aws("").await;
    world.gitlab.revoke_token(DEFAULT_TOKEN);
    let report = world.json(&["test-connection"]).await.expect(1).json();
    let token = check(&report, "GitLab token");
    assert_eq!(token["status"], "fail");
    assert!(token["detail"].as_str().unwrap().contains("revoked"), "{token}");
    assert_eq!(status(&report, "QALITA API"), "ok", "the other checks still run");
}

#[tokio::test]
async fn a_token_without_scope_api_fails() {
    let world = World::aws("").await;
    world.gitlab.set_token_scopes(DEFAULT_TOKEN, &["read_api"]);
    let report = world.json(&["test-connection"]).await.expect(1).json();
    let scope = check(&report, "GitLab token scope");
    assert_eq!(scope["status"], "fail");
    assert!(scope["detail"].as_str().unwrap().contains("[read_api] but not api"), "{scope}");
    // The projects are still readable with read_api, and shown.
    assert_eq!(status(&report, "default project"), "ok");
}

#[tokio::test]
async fn a_guest_role_and_a_project_the_token_cannot_see_fail() {
    let world = World::aws("").await;
    world.gitlab.set_access_level(DEFAULT_PROJECT, BOT_USER, level::GUEST);
    world.gitlab.set_access_level(FINANCE_PROJECT, BOT_USER, level::NO_ACCESS);
    let ran = world.run(&["test-connection"]).await.expect(1);
    assert!(ran.stdout.contains("✗ default project data/quality"), "{}", ran.stdout);
    assert!(ran.stdout.contains("@qalita-sync-bot is Guest"), "{}", ran.stdout);
    assert!(ran.stdout.contains("give @qalita-sync-bot the Reporter role"), "{}", ran.stdout);
    assert!(ran.stdout.contains("✗ routed project 43"), "{}", ran.stdout);
    assert!(ran.stdout.contains("not found, or not visible to the token"), "{}", ran.stdout);
    assert!(ran.stdout.contains("2 check(s) failed"), "{}", ran.stdout);
}

#[tokio::test]
async fn a_webhook_disabled_by_its_failing_deliveries_fails_with_its_date() {
    let world = World::aws("").await;
    // GitLab's hook points at an address where nothing listens: four deliveries fail.
    world.gitlab.set_webhook(Some(WebhookConfig::new(&format!("http://127.0.0.1:{}/hook", closed_port())).with_id(3)));
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
    let health = world.gitlab.webhook_health();
    assert_eq!(health.recent_failures, 4, "{health:?}");
    let until = health.disabled_until.expect("temporarily disabled");

    let report = world.json(&["test-connection", "--webhook-id", "3"]).await.expect(1).json();
    let hook = check(&report, "webhook 3");
    assert_eq!(hook["status"], "fail");
    let detail = hook["detail"].as_str().unwrap();
    assert!(
        detail.contains("temporarily disabled") && detail.contains(&until.format("%Y-%m-%dT%H:%M").to_string()),
        "{hook}"
    );
    assert!(hook["fix"].as_str().unwrap().contains("Recent events"), "{hook}");

    // A change made now is not delivered while the hook is disabled.
    let issue = NewIssue { title: "while disabled".into(), ..NewIssue::default() };
    person.create_issue(&project, &issue, &CallContext::default()).await.unwrap();
    for _ in 0..200 {
        if world.gitlab.deliveries().last().is_some_and(|d| d.outcome != DeliveryOutcome::Pending) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(world.gitlab.deliveries().last().unwrap().outcome, DeliveryOutcome::HookDisabled);
}

#[tokio::test]
async fn a_webhook_disabled_for_good_or_missing_fails_and_one_unreadable_warns() {
    let world = World::aws("").await;
    world.gitlab.set_webhook(Some(WebhookConfig::new("http://127.0.0.1:9/hook").with_id(5)));
    world.gitlab.disable_webhook(None);
    let ran = world.run(&["test-connection", "--webhook-id", "5"]).await.expect(1);
    assert!(
        ran.stdout.contains("✗ webhook 5 of data/quality") && ran.stdout.contains("disabled by GitLab after repeated"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("enable the hook again"), "{}", ran.stdout);

    let until = Utc::now() + TimeDelta::hours(2);
    world.gitlab.disable_webhook(Some(until));
    let report = world.json(&["test-connection", "--webhook-id", "5"]).await.expect(1).json();
    assert!(check(&report, "webhook 5")["detail"].as_str().unwrap().contains("temporarily disabled"));

    let missing = world.json(&["test-connection", "--webhook-id", "6"]).await.expect(1).json();
    assert!(check(&missing, "webhook 6")["detail"].as_str().unwrap().contains("no such webhook"));

    // Reading hooks needs Maintainer: a Reporter's token cannot tell, which is a warning.
    world.gitlab.set_access_level(DEFAULT_PROJECT, BOT_USER, level::REPORTER);
    let unreadable = world.json(&["test-connection", "--webhook-id", "5"]).await.expect(0).json();
    assert_eq!(status(&unreadable, "webhook 5"), "warn");
    assert_eq!(status(&unreadable, "default project"), "ok", "Reporter can create and edit issues");
}

#[tokio::test]
async fn qalita_down_or_refusing_its_token_fails() {
    let world = World::aws("").await;
    let down = world.document("").replace(&world.qalita.url(), &format!("http://127.0.0.1:{}", closed_port()));
    let file = world.write_config("down.toml", &down);
    world.run(&["config", "apply", path(&file), "--yes"]).await.expect(0);
    let ran = world.run(&["test-connection"]).await.expect(1);
    assert!(ran.stdout.contains("✗ QALITA API") && ran.stdout.contains("does not answer (connect)"), "{}", ran.stdout);
    assert!(ran.stdout.contains("port 3080 by default"), "{}", ran.stdout);
    assert!(ran.stdout.contains("✓ GitLab token scope"), "GitLab is still checked: {}", ran.stdout);

    let good = world.write_config("good.toml", &world.document(""));
    world.run(&["config", "apply", path(&good), "--yes"]).await.expect(0);
    if let Backend::Aws { aws, stack } = &world.backend {
        let secret = stack.secret(qalita_gitlab_tests::stack::ids::QALITA_TOKEN);
        aws.secrets().put_secret_value().secret_id(secret).secret_string("a-wrong-token").send().await.unwrap();
    }
    let refused = world.json(&["test-connection"]).await.expect(1).json();
    let qalita = check(&refused, "QALITA API");
    assert!(qalita["detail"].as_str().unwrap().contains("refuses the token (HTTP 401)"), "{qalita}");
    assert!(!refused.to_string().contains("a-wrong-token"), "the token is never shown");
}

#[tokio::test]
async fn gitlab_unreachable_fails_and_skips_what_depends_on_it() {
    let world = World::aws("").await;
    let down = world.document("").replace(&world.gitlab.url(), &format!("http://127.0.0.1:{}", closed_port()));
    let file = world.write_config("down.toml", &down);
    world.run(&["config", "apply", path(&file), "--yes"]).await.expect(0);
    let report = world.json(&["test-connection"]).await.expect(1).json();
    let url = check(&report, "GitLab URL");
    assert_eq!(url["status"], "fail");
    assert!(url["detail"].as_str().unwrap().contains("does not answer"), "{url}");
    assert!(report["checks"].as_array().unwrap().iter().all(|c| c["name"] != "GitLab token scope"));
    assert_eq!(status(&report, "QALITA API"), "ok");
}
