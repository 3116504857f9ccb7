//! The outbound sync end to end: QALITA change events on the real FIFO queue (moto), the worker's
//! batch handler, the link store on DynamoDB (moto), and the GitLab and QALITA simulators. Every
//! assertion is on the final state of both sides and on the calls GitLab received.

mod world;

use std::time::Duration;

use chrono::TimeDelta;
use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::gitlab::IssueState;
use qalita_gitlab_core::domain::link::{LinkState, LinkStatus};
use qalita_gitlab_core::ports::{CallContext, EventQueue, Links, OutgoingMessage};
use qalita_gitlab_sims::gitlab::{FaultRule, RateLimits, SimConfig};
use qalita_gitlab_worker::poll::poll;
use serde_json::json;
use world::*;

#[tokio::test]
async fn a_new_qalita_issue_gets_one_gitlab_issue_with_its_fields_in_one_call() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    let (received, response) = world.run_worker().await;
    assert_eq!((received, response.batch_item_failures.len()), (1, 0));

    let issue = world.gitlab_issue();
    assert_eq!(issue.title, "[QALITA] billing.customer_sites: Invalid Latitude");
    assert!(issue.description.as_deref().unwrap().ends_with("<!-- qalita-issue:4821 -->"));
    let mut labels = issue.labels.clone();
    labels.sort();
    assert_eq!(labels, ["qalita", "severity:high"]);
    assert_eq!(issue.assignees.iter().map(|a| a.username.as_str()).collect::<Vec<_>>(), ["mdurand"]);
    assert_eq!(issue.state, IssueState::Opened);
    assert_eq!(world.gitlab.count("POST", "/projects/data%2Fquality/issues"), 1);
    assert_eq!(world.gitlab_writes(), 1, "creating costs one POST");

    let link = world.link().await;
    assert_eq!(link.status, LinkStatus::Linked);
    assert_eq!(link.gitlab.unwrap().iid, issue.iid);
}

#[tokio::test]
async fn each_qalita_change_costs_one_put_and_a_replay_costs_nothing() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    let iid = world.gitlab_issue().iid.get();

    let steps: Vec<(&str, Box<Edit>, Box<Check>)> = vec![
        (
            "resolve",
            Box::new(|i| i["status"] = "resolved".into()),
            Box::new(|g| assert_eq!(g.state, IssueState::Closed)),
        ),
        ("reopen", Box::new(|i| i["status"] = "Active".into()), Box::new(|g| assert_eq!(g.state, IssueState::Opened))),
        (
            "mute",
            Box::new(|i| i["status"] = "Muted".into()),
            Box::new(|g| assert!(g.labels.contains(&"ignored".to_string()) && g.state == IssueState::Opened)),
        ),
        (
            "unmute",
            Box::new(|i| i["status"] = "open".into()),
            Box::new(|g| assert!(!g.labels.contains(&"ignored".to_string()))),
        ),
        (
            "retitle",
            Box::new(|i| i["title"] = "Invalid Longitude".into()),
            Box::new(|g| assert!(g.title.ends_with("Invalid Longitude"))),
        ),
        (
            "reassign",
            Box::new(|i| i["assignee"] = 13.into()),
            Box::new(|g| assert_eq!(g.assignees[0].username, "jroe")),
        ),
    ];
    for (name, change, check) in steps {
        let writes_before = world.gitlab_writes();
        world.qalita.update_issue(ISSUE, |issue| change(issue));
        world.qalita_changed(json!({})).await;
        let (_, response) = world.run_worker().await;
        assert!(response.batch_item_failures.is_empty(), "{name}");
        check(&world.gitlab.issue(42, iid).unwrap());
        assert_eq!(world.gitlab_writes() - writes_before, 1, "{name} costs one PUT");
        assert_eq!(world.gitlab.count("PUT", &format!("/projects/42/issues/{iid}")), world.gitlab_writes() - 1);
    }

    // The same state again (a duplicate event from QALITA, a replay): zero GitLab writes.
    let writes_before = world.gitlab_writes();
    world.qalita_changed(json!({})).await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    assert_eq!(world.gitlab_writes(), writes_before);
}

#[tokio::test]
async fn a_person_added_label_and_assignee_survive_qalita_changes() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    world.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    world.qalita_changed(json!({"severity": "warning"})).await;
    world.run_worker().await;
    let issue = world.gitlab_issue();
    assert!(
        issue.labels.contains(&"severity:warning".to_string()) && !issue.labels.contains(&"severity:high".to_string())
    );
    assert_eq!(issue.state, IssueState::Closed);
}

#[tokio::test]
async fn issues_are_routed_to_the_project_of_the_first_matching_rule() {
    let world = World::new("").await;
    world.qalita_changed(json!({"domain": "finance"})).await;
    world.run_worker().await;
    assert_eq!(world.gitlab.issues(43).len(), 1);
    assert!(world.gitlab.issues(42).is_empty());
}

#[tokio::test]
async fn a_gitlab_issue_deleted_behind_our_back_is_recreated_by_a_follow_up_in_its_group() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    let first = world.gitlab_issue();
    assert!(world.gitlab.delete_issue(42, first.iid.get()));
    world.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    world.qalita_changed(json!({})).await;
    // The write finds it deleted: the recreation is due, and queued behind the issue's group.
    world.run_worker().await;
    assert!(world.gitlab.issues(42).is_empty(), "nothing recreated by the message that found it deleted");
    assert!(world.link().await.deleted_at.is_some());
    // `explain` shows what the next sync does: the recreation.
    let issue: qalita_gitlab_core::domain::qalita::QalitaIssue =
        serde_json::from_value(world.qalita.issue(ISSUE).unwrap()).unwrap();
    let preview = world
        .deps
        .engine
        .preview(&issue, &Default::default(), qalita_gitlab_core::engine::Asked::ByItself)
        .await
        .unwrap();
    assert!(
        matches!(preview.plan.ops.first(), Some(qalita_gitlab_core::plan::Op::CreateIssue { .. })),
        "{:?}",
        preview.plan.ops
    );
    let (received, response) = world.run_worker().await;
    assert_eq!((received, response.batch_item_failures.len()), (1, 0), "the follow-up");
    let second = world.gitlab_issue();
    assert!(world.link().await.deleted_at.is_none(), "the recreation clears it");
    assert_ne!(second.iid, first.iid);
    assert_eq!(second.state, IssueState::Closed);
    assert_eq!(world.link().await.gitlab.unwrap().iid, second.iid);
}

#[tokio::test]
async fn with_recreation_off_a_deleted_issue_leaves_the_link_gone() {
    let world = World::new("[sync]\nrecreate_if_deleted = false").await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    world.gitlab.delete_issue(42, world.gitlab_issue().iid.get());
    world.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    assert_eq!(world.link().await.status, LinkStatus::Gone);
    assert!(world.gitlab.issues(42).is_empty());
}

#[tokio::test]
async fn an_event_with_only_an_issue_id_makes_the_worker_fetch_the_issue() {
    let world = World::new("").await;
    let body = json!({"v": 1, "source": "qalita", "kind": "issue.updated", "key": "id-only", "received_at": "2026-11-24T16:42:00Z", "payload": {"issue_id": ISSUE}});
    world
        .queue
        .send(&OutgoingMessage {
            group_id: format!("qalita:{ISSUE}"),
            dedup_id: "id-only".into(),
            body: body.to_string(),
        })
        .await
        .unwrap();
    world.run_worker().await;
    // One read: the worker reads every event's issue before syncing it, and the creation uses it.
    assert_eq!(world.qalita.count("GET", &format!("/api/v2/issues/{ISSUE}")), 1);
    assert_eq!(world.gitlab_issue().title, "[QALITA] billing.customer_sites: Invalid Latitude");
}

/// Seed 2686 of the simulation: an event's issue, seconds old, was written to GitLab over a status
/// QALITA had changed since, and GitLab edits made meanwhile were then judged against the wrong
/// value. The worker reads every event's issue before syncing it.
#[tokio::test]
async fn an_event_carrying_an_issue_qalita_changed_since_syncs_the_newer_state() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    world.qalita.update_issue(ISSUE, |i| i["title"] = "Invalid Longitude".into());
    world.qalita_changed(json!({})).await;
    // Changed again before the worker took the event: the event still carries "open".
    world.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    world.run_worker().await;
    let issue = world.gitlab_issue();
    assert!(issue.title.ends_with("Invalid Longitude"));
    assert_eq!(issue.state, IssueState::Closed, "QALITA's state when the worker synced it");
}

#[tokio::test]
async fn a_refused_qalita_token_on_an_id_only_event_is_retried_and_asks_for_the_secrets_again() {
    let world = World::new("").await;
    world.qalita.rotate_token("a-token-the-worker-does-not-have-yet");
    let body = json!({"v": 1, "source": "qalita", "kind": "issue.updated", "key": "id-only-refused", "received_at": "2026-11-24T16:42:00Z", "payload": {"issue_id": ISSUE}});
    let message = OutgoingMessage {
        group_id: format!("qalita:{ISSUE}"),
        dedup_id: "id-only-refused".into(),
        body: body.to_string(),
    };
    world.queue.send(&message).await.unwrap();
    let (received, response) = world.run_worker().await;
    assert_eq!(received, 1);
    assert_eq!(response.batch_item_failures.len(), 1, "retried, not dropped");
    assert!(
        world.deps.credentials_refused.load(std::sync::atomic::Ordering::SeqCst),
        "the refusal makes the function read its secrets again"
    );
    assert_eq!(world.gitlab_writes(), 0);
}

#[tokio::test]
async fn a_refused_qalita_token_during_the_comment_sweep_is_retried_and_asks_for_the_secrets_again() {
    let world = World::new("").await;
    // Made before the issue is linked: no comment event carries it, the creation's sweep finds it.
    world.qalita.add_comment(ISSUE, 12, "Seen again in last night's load.");
    let comments = format!("/api/v2/issues/{ISSUE}/comments");
    world.qalita.fail_next_on(&comments, 1, qalita_gitlab_sims::qalita::Fault::Unauthorized);
    world.qalita_created().await;

    let (received, response) = world.run_worker().await;

    assert_eq!((received, response.batch_item_failures.len()), (1, 1), "retried, not dropped");
    assert!(
        world.deps.credentials_refused.load(std::sync::atomic::Ordering::SeqCst),
        "the refusal makes the function read its secrets again"
    );
    let listed: Vec<Option<u16>> =
        world.qalita.requests().into_iter().filter(|r| r.path == comments).map(|r| r.status).collect();
    assert_eq!(listed, [Some(401)], "the sweep ran, and QALITA refused the token");
    let iid = world.gitlab_issue().iid.get();
    assert_eq!(world.link().await.status, LinkStatus::Linked, "the issue was synced before the sweep");
    assert!(world.gitlab.notes(42, iid).iter().all(|n| n.system), "no comment copied yet");

    // The retry, with the token accepted again, copies the comment and creates nothing more.
    world.end_backoff().await;
    let (received, response) = world.run_worker().await;
    assert_eq!((received, response.batch_item_failures.len()), (1, 0));
    let notes: Vec<String> = world.gitlab.notes(42, iid).into_iter().filter(|n| !n.system).map(|n| n.body).collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("Seen again in last night's load."), "{notes:?}");
    assert_eq!(world.gitlab.count("POST", "/projects/data%2Fquality/issues"), 1, "one GitLab issue");
}

#[tokio::test]
async fn the_poll_picks_up_a_new_issue_and_then_a_change() {
    let world = World::new("").await;
    let report = poll(&world.deps, std::time::Instant::now() + Duration::from_secs(20)).await;
    assert_eq!((report.enqueued, report.failed), (1, 0), "{report:?}");
    world.drain().await;
    assert_eq!(world.gitlab_issue().state, IssueState::Opened);
    let quiet = poll(&world.deps, std::time::Instant::now() + Duration::from_secs(20)).await;
    assert_eq!(quiet.enqueued, 0, "nothing changed: nothing queued");
    world.qalita.update_issue(ISSUE, |i| {
        i["status"] = "resolved".into();
        i["updated_at"] = "2026-11-25T09:00:00Z".into();
    });
    let report = poll(&world.deps, std::time::Instant::now() + Duration::from_secs(20)).await;
    assert_eq!(report.enqueued, 1);
    world.drain().await;
    assert_eq!(world.gitlab_issue().state, IssueState::Closed);
}

#[tokio::test]
async fn a_worker_that_died_after_the_post_leaves_an_issue_that_is_adopted_not_duplicated() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    let created = world.gitlab_issue();
    // Rewind the link to "reserved long ago", as a worker that died between the POST and the commit leaves it.
    let mut link = world.link().await;
    let mut dead =
        LinkState::reserved(link.qalita_id, "dead-worker".into(), chrono::Utc::now() - TimeDelta::minutes(5));
    dead.version = link.version;
    link = world.store.update(&dead).await.unwrap();
    assert_eq!(link.status, LinkStatus::Reserved);

    world.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    let adopted = world.gitlab_issue();
    assert_eq!(adopted.iid, created.iid, "the marked issue is adopted");
    assert_eq!(adopted.state, IssueState::Closed);
    assert_eq!(world.gitlab.requests().iter().filter(|r| r.method == "POST").count(), 1, "no second POST");
    assert_eq!(world.link().await.status, LinkStatus::Linked);
    assert_eq!(world.qalita.comments(ISSUE).len(), 1, "the link back of the first run, not written twice");
}

#[tokio::test]
async fn a_worker_that_died_after_reserving_leaves_a_reservation_that_is_taken_over() {
    let world = World::new("").await;
    let dead = LinkState::reserved(
        QalitaIssueId::new(ISSUE).unwrap(),
        "dead".into(),
        chrono::Utc::now() - TimeDelta::minutes(5),
    );
    world.store.create(&dead).await.unwrap();
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    world.gitlab_issue();
    assert_eq!(world.link().await.status, LinkStatus::Linked);
}

#[tokio::test]
async fn a_fresh_reservation_of_another_worker_sends_the_message_back() {
    let world = World::new("").await;
    let busy = LinkState::reserved(QalitaIssueId::new(ISSUE).unwrap(), "busy".into(), chrono::Utc::now());
    world.store.create(&busy).await.unwrap();
    world.qalita_changed(json!({})).await;
    let (_, response) = world.run_worker().await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(world.gitlab_writes(), 0);
}

/// The race runs on the in-memory store, whose conditional writes are atomic as DynamoDB's are.
/// moto's are not under concurrent requests (its `put_item` checks the condition and writes
/// without a lock): on moto, both reservations succeeded in about one run in ten, and both workers
/// created a GitLab issue, which real DynamoDB cannot do. The DynamoDB adapter's conditions are
/// proved by the store's contract suite.
#[tokio::test]
async fn two_workers_racing_on_one_issue_make_one_gitlab_issue() {
    use qalita_gitlab_core::adapters::http::HttpSettings;
    use qalita_gitlab_core::adapters::memory_store::MemoryLinkStore;
    use qalita_gitlab_core::domain::SecretString;
    use qalita_gitlab_core::ports::SystemClock;
    use qalita_gitlab_worker::handler::Deps;
    use qalita_gitlab_worker::wiring::{Places, Tokens};

    let world = World::new("").await;
    let store = std::sync::Arc::new(MemoryLinkStore::new());
    let tokens = Tokens {
        gitlab: SecretString::new(qalita_gitlab_sims::gitlab::DEFAULT_TOKEN),
        qalita: SecretString::new(QALITA_TOKEN),
    };
    let places = Places {
        store: store.clone(),
        queue: std::sync::Arc::new(world.queue.clone()),
        clock: std::sync::Arc::new(SystemClock),
    };
    let http = HttpSettings { total_timeout: Duration::from_secs(3), ..HttpSettings::default() };
    let deps = Deps::build(world.deps.config.clone(), tokens, &http, places).unwrap();
    let issue: qalita_gitlab_core::domain::qalita::QalitaIssue = serde_json::from_value(issue_json("open")).unwrap();
    let (context, call) = (Default::default(), CallContext::default());
    let (a, b) =
        tokio::join!(deps.engine.sync_issue(&issue, &context, &call), deps.engine.sync_issue(&issue, &context, &call));
    let outcomes = [
        a.as_ref().map(|o| o.action.as_str()).map_err(|e| e.to_string()),
        b.as_ref().map(|o| o.action.as_str()).map_err(|e| e.to_string()),
    ];
    // The loser waits for the winner's reservation, or finds the link made; either may meet the
    // other's claim on the link back and end in a conflict, which its message's retry settles.
    for result in [&a, &b] {
        if let Err(error) = result {
            assert!(error.is_transient(), "{outcomes:?}");
        }
    }
    assert!(a.is_ok() || b.is_ok(), "{outcomes:?}");
    let retried = deps.engine.sync_issue(&issue, &context, &call).await.expect("the retry");
    assert_eq!(retried.action.as_str(), "unchanged", "{outcomes:?}");
    assert_eq!(
        world.gitlab.requests().iter().filter(|r| r.method == "POST").count(),
        1,
        "one GitLab issue: {outcomes:?}"
    );
    world.gitlab_issue();
    let link_back = |c: &&serde_json::Value| c["content"].as_str().is_some_and(|t| t.contains("Tracked in GitLab"));
    assert_eq!(world.qalita.comments(ISSUE).iter().filter(link_back).count(), 1, "the link back written once");
    let link = store.get(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap().expect("the link");
    assert_eq!((link.status, link.gitlab.map(|g| g.iid)), (LinkStatus::Linked, Some(world.gitlab_issue().iid)));
}

impl World {
    /// Ages the reservation of the issue as time would, so that it is stale now.
    async fn age_reservation(&self) {
        let mut link = self.link().await;
        assert_eq!(link.status, LinkStatus::Reserved, "{link:?}");
        if let Some(reservation) = link.reservation.as_mut() {
            reservation.at -= TimeDelta::minutes(5);
        }
        self.store.update(&link).await.unwrap();
    }
}

#[tokio::test]
async fn a_gitlab_5xx_on_the_post_sends_the_message_back_and_the_retry_creates_one_issue() {
    let world = World::new("").await;
    world.gitlab.inject(FaultRule::new(qalita_gitlab_sims::gitlab::Fault::ServerError(503)).on("POST", "/projects"));
    world.qalita_changed(json!({})).await;
    let (_, response) = world.run_worker().await;
    assert_eq!(response.batch_item_failures.len(), 1, "the 503 brings the message back");
    assert!(world.gitlab.issues(42).is_empty());
    let (received, _) = world.run_worker().await;
    assert_eq!(received, 0, "the message waits until the reservation may be taken over");

    // A 5xx may come after GitLab created the issue: the reservation is left to go stale, and the
    // retry looks for the marked issue before creating one.
    world.age_reservation().await;
    world.end_backoff().await;
    let (received, response) = world.run_worker().await;
    assert_eq!((received, response.batch_item_failures.len()), (1, 0));
    world.gitlab_issue();
    let searches =
        world.gitlab.requests().iter().filter(|r| r.method == "GET" && r.query_param("search").is_some()).count();
    assert_eq!(searches, 1, "one search for the marked issue, then the POST");
}

#[tokio::test]
async fn a_post_that_timed_out_after_gitlab_created_the_issue_is_adopted_not_duplicated() {
    let world = World::new("").await;
    // GitLab creates the issue but answers after the client has given up (3 s).
    world.gitlab.inject(
        FaultRule::new(qalita_gitlab_sims::gitlab::Fault::Slow(Duration::from_secs(4))).on("POST", "/projects"),
    );
    world.qalita_changed(json!({})).await;
    let (_, response) = world.run_worker().await;
    assert_eq!(response.batch_item_failures.len(), 1, "the time-out brings the message back");
    assert_eq!(world.gitlab.issues(42).len(), 1, "GitLab did create it");

    world.age_reservation().await;
    world.end_backoff().await;
    world.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    world.qalita_changed(json!({"severity": "warning"})).await;
    world.drain().await;
    let issue = world.gitlab_issue();
    assert_eq!(issue.state, IssueState::Closed, "the adopted issue carries the latest state");
    assert!(issue.labels.contains(&"severity:warning".to_string()), "{:?}", issue.labels);
    assert!(
        !issue.labels.contains(&"severity:high".to_string()),
        "the dead attempt's label is ours, and goes: {:?}",
        issue.labels
    );
    assert_eq!(world.gitlab.requests().iter().filter(|r| r.method == "POST").count(), 1, "no second POST");
}

#[tokio::test]
async fn several_changes_of_one_issue_in_one_batch_cost_one_put() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    let writes_before = world.gitlab_writes();
    world.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    world.qalita_changed(json!({})).await;
    world.qalita.update_issue(ISSUE, |i| i["title"] = "Invalid Longitude".into());
    world.qalita_changed(json!({})).await;
    world.qalita.update_issue(ISSUE, |i| i["assignee"] = 13.into());
    world.qalita_changed(json!({})).await;
    let (received, response) = world.run_worker().await;
    assert_eq!((received, response.batch_item_failures.len()), (3, 0));
    assert_eq!(world.gitlab_writes() - writes_before, 1, "one PUT for the three changes");
    let issue = world.gitlab_issue();
    assert_eq!(issue.state, IssueState::Closed);
    assert!(issue.title.ends_with("Invalid Longitude"));
    assert_eq!(issue.assignees[0].username, "jroe");
}

#[tokio::test]
async fn a_qalita_change_to_a_field_that_maps_to_nothing_costs_no_gitlab_call_and_one_qalita_read() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    let (gitlab_before, qalita_before) = (world.gitlab.requests().len(), world.qalita.request_count());
    world.qalita.update_issue(ISSUE, |i| i["due_date"] = "2027-01-31".into());
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    let calls = &world.gitlab.requests()[gitlab_before..];
    assert!(calls.is_empty(), "no GitLab call at all, not even a user lookup: {calls:?}");
    // The event's issue is read (an event may be older than QALITA's state); the owner was
    // resolved before, and is not looked up again.
    assert_eq!(world.qalita.request_count(), qalita_before + 1, "one QALITA call");
    assert_eq!(world.qalita.count("GET", &format!("/api/v2/issues/{ISSUE}")), 2, "the creation's event and this one");
}

#[tokio::test]
async fn a_gitlab_429_brings_the_message_back_no_earlier_than_gitlab_asked() {
    let limits = RateLimits { window: Duration::from_secs(4), api: None, issue_creation: Some(1), note_creation: None };
    let world = World::with(
        SimConfig::default().with_rate_limits(limits.clone()),
        "[sync]\nbackoff_min_seconds = 1\nbackoff_max_seconds = 1",
    )
    .await;
    let mut second = issue_json("open");
    second["id"] = 4822.into();
    world.qalita.insert_issue(second);
    world.qalita_changed_issue(ISSUE, json!({})).await;
    world.qalita_changed_issue(4822, json!({})).await;

    limits.next_window().await;
    let (received, response) = world.run_worker().await;
    let calls: Vec<(String, String, Option<u16>)> =
        world.gitlab.requests().iter().map(|r| (r.method.clone(), r.path.clone(), r.status)).collect();
    assert_eq!(
        (received, response.batch_item_failures.len()),
        (2, 1),
        "one creation fits the budget, the other gets 429: {calls:?}"
    );
    assert_eq!(world.gitlab.issues(42).len(), 1);
    // The back-off is 1 s, GitLab asked for the whole 4 s window: the message comes back no earlier.
    let refused_at = std::time::Instant::now();
    let reappeared = loop {
        let (received, response) = world.run_worker().await;
        if received > 0 {
            assert_eq!(response.batch_item_failures.len(), 0, "the retry succeeds in the next window");
            break refused_at.elapsed();
        }
        assert!(refused_at.elapsed() < Duration::from_secs(8), "the message never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(reappeared >= Duration::from_secs(3), "came back after {reappeared:?}, before GitLab's Retry-After");
    assert_eq!(world.gitlab.issues(42).len(), 2, "nothing lost, nothing duplicated");
}

#[tokio::test]
async fn the_poll_reads_the_newest_page_every_run_and_sweeps_older_pages_from_its_cursor() {
    let world = World::new("[sync]\npoll_page_size = 5\npoll_sweep_pages = 2").await;
    for n in 0..23u64 {
        let mut issue = issue_json("open");
        issue["id"] = (6000 + n).into();
        issue["created_at"] = format!("2026-10-{:02}T08:00:00Z", n + 1).into();
        world.qalita.insert_issue(issue);
    }
    // 24 issues, 5 a page: a run reads the newest page and two older ones.
    let first = poll(&world.deps, std::time::Instant::now() + Duration::from_secs(30)).await;
    assert_eq!((first.pages, first.enqueued, first.next_offset), (3, 15, 15), "{first:?}");
    world.drain().await;
    let second = poll(&world.deps, std::time::Instant::now() + Duration::from_secs(30)).await;
    assert_eq!(
        (second.enqueued, second.next_offset),
        (9, 5),
        "the sweep reached the oldest page and starts over: {second:?}"
    );
    world.drain().await;
    let linked: usize = [42, 43].iter().map(|p| world.gitlab.issues(*p).len()).sum();
    assert_eq!(linked, 24, "every issue is linked once");

    // A change to the oldest issue is found within one sweep.
    world.qalita.update_issue(6000, |i| i["status"] = "resolved".into());
    let mut runs = 0;
    while runs < 3 {
        runs += 1;
        if poll(&world.deps, std::time::Instant::now() + Duration::from_secs(30)).await.enqueued == 1 {
            break;
        }
    }
    assert!(runs <= 2, "found in {runs} runs");
    world.drain().await;
    let closed = world.gitlab.issues(42).into_iter().filter(|i| i.state == IssueState::Closed).count();
    assert_eq!(closed, 1);
}

#[tokio::test]
async fn two_workers_finding_the_issue_deleted_recreate_it_once() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    world.gitlab.delete_issue(42, world.gitlab_issue().iid.get());
    world.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    let issue: qalita_gitlab_core::domain::qalita::QalitaIssue =
        serde_json::from_value(world.qalita.issue(ISSUE).unwrap()).unwrap();
    let (context, call) = (Default::default(), CallContext::default());
    let (a, b) = tokio::join!(
        world.deps.engine.sync_issue(&issue, &context, &call),
        world.deps.engine.sync_issue(&issue, &context, &call),
    );
    // Either may be the one that recreates; the other then finds the new link and plans on it,
    // or finds the fresh reservation and is sent back to the queue (a transient failure).
    assert!(a.is_ok() || b.is_ok(), "{a:?} {b:?}");
    for result in [&a, &b] {
        if let Err(error) = result {
            assert!(error.is_transient(), "{error}");
        }
    }
    assert_eq!(world.gitlab_issue().state, IssueState::Closed, "one new issue, closed");
    assert_eq!(
        world.gitlab.requests().iter().filter(|r| r.method == "POST").count(),
        2,
        "the first creation and one recreation"
    );
}

#[tokio::test]
async fn an_unreadable_later_event_does_not_swallow_an_earlier_one() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.qalita_changed(json!({"severity": 3})).await;
    let (received, response) = world.run_worker().await;
    assert_eq!((received, response.batch_item_failures.len()), (2, 0), "the unreadable event is dropped, not retried");
    assert_eq!(world.gitlab_issue().state, IssueState::Opened, "the readable one was applied");
}

/// An event about an old issue (QALITA's own webhook, or an operator's replay) creates nothing by
/// itself either, and the integration log says which rule kept it and how to create it anyway.
#[tokio::test]
async fn an_event_about_an_issue_the_policy_keeps_creates_nothing_and_says_why() {
    let world = World::new("[create]\nstatuses = [\"open\"]").await;
    world.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    world.qalita_changed(json!({})).await;
    world.drain().await;
    assert_eq!(world.gitlab_writes(), 0);
    use qalita_gitlab_core::ports::IntegrationLog;
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    let kept = log.iter().find(|e| e.kind == "not-created").expect("logged");
    assert!(kept.message.contains("create.statuses") && kept.message.contains("create-issue 4821"), "{}", kept.message);
}

/// A lost link table never duplicates: an operator's creation adopts the GitLab issue that
/// already carries the QALITA issue's marker.
#[tokio::test]
async fn an_operators_creation_after_a_lost_link_adopts_the_marked_issue() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.drain().await;
    let posts = || world.gitlab.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts(), 1, "created once");
    world.lose(&["LINK".into()]).await;
    assert!(world.store.get(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap().is_none(), "the link is lost");
    let outcome = world.operator_creates().await;
    assert_eq!(outcome.action, qalita_gitlab_core::domain::sync::Action::Adopted);
    assert_eq!(posts(), 1, "no second issue");
    assert_eq!(world.gitlab_issue().iid.get(), outcome.link.and_then(|l| l.gitlab).unwrap().iid.get());
}

/// Seed 1518 of a 150-step simulation run: a creation that closes its new issue (QALITA already
/// resolved) commits the link before the close. When the close failed, the link said "resolved"
/// while GitLab showed the issue open, and the reconcile, reading the open issue, took it for a
/// person's reopen and wrote "open" to QALITA over the person's "resolved". The link records what
/// GitLab holds until the close is made.
#[tokio::test]
async fn a_creation_whose_close_failed_is_not_read_back_as_a_reopen() {
    use qalita_gitlab_core::domain::qalita::QalitaIssue;
    use qalita_gitlab_core::engine::Asked;
    use qalita_gitlab_core::events::facts::GitlabIssueFacts;
    let world = World::new("").await;
    world.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    let issue: QalitaIssue = serde_json::from_value(world.qalita.issue(ISSUE).unwrap()).unwrap();
    let (context, call) = (Default::default(), CallContext::default());
    world
        .gitlab
        .inject(FaultRule::new(qalita_gitlab_sims::gitlab::Fault::ServerError(503)).on("PUT", "/projects").times(10));
    let failed = world.deps.engine.sync_issue_as(&issue, &context, &call, Asked::ByOperator).await;
    assert!(failed.as_ref().is_err_and(|e| e.is_transient()), "{failed:?}");
    let created = world.gitlab_issue();
    assert_eq!(created.state, IssueState::Opened, "created, not closed yet");
    // The reconcile reads the open issue.
    let facts = GitlabIssueFacts::of_api(&created);
    world.deps.engine.sync_gitlab_issue(&facts, &call).await.unwrap();
    assert_eq!(world.qalita.issue(ISSUE).unwrap()["status"], "resolved", "not taken for a reopen");
    // The retry closes it.
    world.gitlab.clear_faults();
    world.deps.engine.sync_issue_as(&issue, &context, &call, Asked::ByOperator).await.unwrap();
    assert_eq!(world.gitlab_issue().state, IssueState::Closed);
}
