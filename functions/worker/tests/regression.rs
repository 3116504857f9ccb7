//! The regression policy end to end (moto and the simulators): a QALITA issue that was resolved
//! for longer than `sync.new_issue_after_days` and opens again gets a new GitLab issue, linked to
//! the old one by a note on each, the old one kept in the link's history; by default, or under
//! the threshold, its GitLab issue is reopened.

mod world;

use chrono::{TimeDelta, Utc};
use qalita_gitlab_core::domain::gitlab::IssueState;
use qalita_gitlab_core::domain::link::{LinkStatus, RelinkReason};
use qalita_gitlab_core::ports::{IntegrationLog, Links};
use serde_json::json;
use world::*;

/// Creates the issue, resolves it in QALITA, then makes the link say it was resolved `days` ago.
async fn resolved_days_ago(world: &World, days: i64) {
    world.qalita_changed(json!({})).await;
    world.drain().await;
    world.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    world.qalita_changed(json!({})).await;
    world.drain().await;
    assert_eq!(world.gitlab_issue().state, IssueState::Closed);
    let mut link = world.link().await;
    assert!(link.resolved_at.is_some(), "the sync records when it saw the issue resolved");
    link.resolved_at = Some(Utc::now() - TimeDelta::days(days));
    world.store.update(&link).await.unwrap();
}

async fn reopen(world: &World) {
    world.qalita.update_issue(ISSUE, |i| i["status"] = "Active".into());
    world.qalita_changed(json!({})).await;
    world.drain().await;
}

#[tokio::test]
async fn a_regression_after_a_long_resolution_gets_a_new_gitlab_issue_linked_to_the_old_one() {
    let world = World::new("[sync]\non_regression = \"new_issue\"\nnew_issue_after_days = 30").await;
    resolved_days_ago(&world, 40).await;
    let old = world.gitlab_issue();
    reopen(&world).await;

    let mut issues = world.gitlab.issues(42);
    issues.sort_by_key(|i| i.iid);
    let [first, second] = issues.as_slice() else { panic!("two GitLab issues: {issues:?}") };
    assert_eq!((first.iid, first.state), (old.iid, IssueState::Closed), "the old issue stays closed");
    assert_eq!(second.state, IssueState::Opened);
    assert!(second.description.as_deref().unwrap().ends_with("<!-- qalita-issue:4821 -->"));
    assert!(!first.description.as_deref().unwrap_or_default().contains("<!-- qalita-issue:4821 -->"), "retired");
    let notes =
        |iid: u64| world.gitlab.notes(42, iid).into_iter().filter(|n| !n.system).map(|n| n.body).collect::<Vec<_>>();
    assert_eq!(notes(second.iid.get()), [format!("**[QALITA]** Regression of {}", first.web_url)]);
    assert_eq!(notes(first.iid.get()), [format!("**[QALITA]** Regressed: continued in {}", second.web_url)]);

    let link = world.link().await;
    assert_eq!(link.status, LinkStatus::Linked);
    assert_eq!(link.gitlab.as_ref().unwrap().iid, second.iid);
    assert_eq!(link.resolved_at, None);
    let [past] = link.history.as_slice() else { panic!("{:?}", link.history) };
    assert_eq!(
        (past.gitlab.iid, past.reason, &past.gitlab.web_url),
        (first.iid, RelinkReason::Regression, &first.web_url)
    );
    let logged = world.store.log(link.qalita_id).await.unwrap();
    assert!(
        logged.iter().any(|e| e.kind == "relink" && e.message.contains("longer than sync.new_issue_after_days")),
        "{logged:?}"
    );

    // The same change again (a replay, the poll): nothing more.
    let writes = world.gitlab_writes();
    world.qalita_changed(json!({})).await;
    world.drain().await;
    assert_eq!(world.gitlab.issues(42).len(), 2);
    assert_eq!(world.gitlab_writes(), writes, "a replay writes nothing");
}

#[tokio::test]
async fn under_the_threshold_or_by_default_a_regression_reopens_the_gitlab_issue() {
    for (config, days) in [("[sync]\non_regression = \"new_issue\"\nnew_issue_after_days = 30", 20), ("", 400)] {
        let world = World::new(config).await;
        resolved_days_ago(&world, days).await;
        reopen(&world).await;
        let issue = world.gitlab_issue();
        assert_eq!(issue.state, IssueState::Opened, "{config}");
        assert!(world.gitlab.notes(42, issue.iid.get()).iter().all(|n| n.system), "{config}");
        assert!(world.link().await.history.is_empty(), "{config}");
    }
}
