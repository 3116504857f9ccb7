//! `status` on a world's stack, with health and activity records written here as the scheduled
//! run and the worker write them: nothing to do, then a hook and the token that need an operator.

use chrono::{TimeDelta, Utc};
use qalita_gitlab_core::activity::{self, RunRecord, WorkerRecord};
use qalita_gitlab_core::domain::gitlab::GitlabProjectRef;
use qalita_gitlab_core::health::{self, HookHealth, HookState, TokenHealth};
use qalita_gitlab_core::ports::Settings;

use super::World;

fn hook(project: &str, state: HookState) -> HookHealth {
    HookHealth {
        project: project.into(),
        checked_at: Utc::now() - TimeDelta::minutes(5),
        hook_id: Some(1),
        state,
        disabled_until: None,
        last_heal: None,
    }
}

/// Writes the records of a run at `state` for both configured projects, a token with `days` left.
async fn write(store: &dyn Settings, state: HookState, days: i64) {
    let now = Utc::now();
    for project in ["data/quality", "43"] {
        let reference = GitlabProjectRef::parse(project).unwrap();
        health::set_hook(store, &(&reference).into(), &hook(project, state)).await.unwrap();
    }
    let token = TokenHealth {
        checked_at: now,
        expires_at: Some(now + TimeDelta::days(days) + TimeDelta::hours(1)),
        rotated_at: None,
        problem: None,
    };
    health::set_token(store, &token).await.unwrap();
    let run = RunRecord { finished_at: now, took_ms: 1200, read: 1, changed: 0, failed: 0, stopped: None };
    activity::set_run(store, activity::POLL_KEY, &run).await;
    activity::set_run(store, activity::RECONCILE_KEY, &run).await;
    let mut worker = WorkerRecord::default();
    worker.add(now, Some(std::time::Duration::from_secs(3)), 2, 0);
    activity::set_worker(store, &worker).await.unwrap();
}

/// The scenario, on either backend.
pub async fn status_shows_the_health_records_and_exits_1_when_an_operator_is_needed(world: &World) {
    let fresh = world.json(&["status"]).await.expect(0).json();
    assert_eq!(fresh["needs_operator"], serde_json::json!([]), "{fresh}");
    assert_eq!(fresh["hooks"].as_array().map(Vec::len), Some(2), "{fresh}");
    assert_eq!(fresh["poll"], serde_json::Value::Null);

    world.with_store(|store| async move { write(store.as_ref(), HookState::Executable, 60).await }).await;
    let healthy = world.run(&["status"]).await.expect(0);
    for expected in
        ["hook of data/quality: executable (checked 5 min ago)", "(60 days)", "2 answers 429 (GitLab 2, QALITA 0)"]
    {
        assert!(healthy.stdout.contains(expected), "{expected:?} in:\n{}", healthy.stdout);
    }
    assert!(healthy.stdout.contains("Nothing needs an operator."), "{}", healthy.stdout);

    world.with_store(|store| async move { write(store.as_ref(), HookState::Disabled, 5).await }).await;
    let needed = world.json(&["status"]).await.expect(1).json();
    let needs: Vec<&str> = needed["needs_operator"].as_array().unwrap().iter().filter_map(|n| n.as_str()).collect();
    assert_eq!(needs.len(), 3, "two hooks and the token: {needs:?}");
    assert!(needs[0].starts_with("the GitLab hook of data/quality is disabled"), "{needs:?}");
    assert!(needs[2].starts_with("the GitLab token expires in 5 day(s)"), "{needs:?}");
    assert_eq!(
        (needed["hooks"][1]["project"].as_str(), needed["hooks"][1]["state"].as_str()),
        (Some("43"), Some("disabled"))
    );
    assert_eq!(needed["token"]["days_left"], 5);
    let text = world.run(&["status"]).await.expect(1);
    assert!(
        text.stdout.contains("Needs an operator:\n  - the GitLab hook of data/quality is disabled"),
        "{}",
        text.stdout
    );
}
