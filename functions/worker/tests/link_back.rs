//! The GitLab issue's URL written back to QALITA (`[link_back]`), end to end on moto and the
//! simulators: one comment when the service creates the GitLab issue, none for a replay or a
//! retry, none copied to GitLab by the comment sweep, none with `mode = "none"`, and exactly one
//! after a crash at any point of its protocol or an adoption after a lost link table.

mod world;

use std::time::{Duration, Instant};

use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::gitlab::{GitlabProjectRef, NewIssue};
use qalita_gitlab_core::domain::link::{CommentKey, LinkBackDue, LinkStatus, Reservation};
use qalita_gitlab_core::domain::marker::Marker;
use qalita_gitlab_core::domain::sync::Action;
use qalita_gitlab_core::ports::{CallContext, CommentLinks, IntegrationLog, Links};
use qalita_gitlab_sims::qalita::Fault;
use qalita_gitlab_worker::poll::poll;
use serde_json::json;
use world::*;

fn issue_id() -> QalitaIssueId {
    QalitaIssueId::new(ISSUE).unwrap()
}

/// The QALITA comments of the issue, their texts.
fn comments(world: &World) -> Vec<String> {
    world.qalita.comments(ISSUE).iter().map(|c| c["content"].as_str().unwrap_or_default().to_owned()).collect()
}

/// The comment that shows the GitLab issue's URL.
fn link_back_text(world: &World) -> String {
    format!("[GitLab] Tracked in GitLab: {}", world.gitlab_issue().web_url)
}

fn qalita_writes(world: &World) -> usize {
    world.qalita.count_matching(|r| r.method != "GET")
}

/// The notes of the GitLab issue that are not GitLab's own (system) notes.
fn notes(world: &World) -> usize {
    let issue = world.gitlab_issue();
    world.gitlab.notes(issue.project_id.get(), issue.iid.get()).iter().filter(|n| !n.system).count()
}

async fn poll_and_drain(world: &World) {
    poll(&world.deps, Instant::now() + Duration::from_secs(20)).await;
    world.drain().await;
}

#[tokio::test]
async fn creating_the_gitlab_issue_writes_its_url_to_qalita_once_and_the_sweep_never_copies_it() {
    let world = World::new("").await;
    world.qalita_created().await;
    let (received, response) = world.run_worker().await;
    assert_eq!((received, response.batch_item_failures.len()), (1, 0));

    assert_eq!(comments(&world), [link_back_text(&world)], "one comment with the GitLab URL");
    assert_eq!(world.qalita.count("POST", &format!("/api/v2/issues/{ISSUE}/comments")), 1);
    assert_eq!(qalita_writes(&world), 1, "the link back is QALITA's only write");
    assert_eq!(notes(&world), 0, "the creation's comment sweep did not copy it to GitLab");
    let link = world.link().await;
    assert_eq!(link.link_back, None, "the link owes nothing any more");
    let gitlab = link.gitlab.unwrap();
    let written = world.store.comment_link(issue_id(), CommentKey::LinkBack(gitlab.issue_id)).await.unwrap();
    let comment = world.qalita.comments(ISSUE)[0]["id"].as_u64().unwrap();
    assert_eq!(written.and_then(|c| c.copy), Some(comment), "its comment link names the comment");
    let ours = world.store.comment_link(issue_id(), CommentKey::Comment(comment)).await.unwrap().unwrap();
    assert!(ours.ours, "the comment is known as this service's own");
    let log = world.store.log(issue_id()).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "linked-back" && e.message.contains(&gitlab.web_url)), "{log:?}");

    // The creation event again (a duplicate, a replay), a QALITA change, and the poll's sweeps.
    let (gitlab_writes, writes) = (world.gitlab_writes(), qalita_writes(&world));
    world.qalita_created().await;
    world.qalita_created().await;
    world.drain().await;
    world.qalita.update_issue(ISSUE, |i| {
        i["status"] = "resolved".into();
        i["updated_at"] = "2026-11-25T09:00:00Z".into();
    });
    poll_and_drain(&world).await;
    poll_and_drain(&world).await;
    assert_eq!(comments(&world).len(), 1, "no second link back: {:?}", comments(&world));
    assert_eq!(qalita_writes(&world), writes, "QALITA is not written again");
    assert_eq!(notes(&world), 0, "never copied to GitLab");
    assert_eq!(world.gitlab_writes(), gitlab_writes + 1, "only the close went to GitLab");
}

#[tokio::test]
async fn with_link_back_none_qalita_is_not_written() {
    let world = World::new("[link_back]\nmode = \"none\"").await;
    world.qalita_created().await;
    world.run_worker().await;
    world.gitlab_issue(); // exactly one GitLab issue, created
    assert_eq!(comments(&world), Vec::<String>::new());
    assert_eq!(qalita_writes(&world), 0);
    assert_eq!(world.link().await.link_back, None, "nothing is owed");
}

#[tokio::test]
async fn a_qalita_refusal_after_the_gitlab_creation_leaves_the_link_back_owed_and_the_retry_writes_it_once() {
    let world = World::new("").await;
    // QALITA refuses the comment: the GitLab issue is created and linked, the link back is not.
    world.qalita.fail_next_on(
        &format!("/api/v2/issues/{ISSUE}/comments"),
        1,
        Fault::RateLimited { retry_after_secs: 0 },
    );
    world.qalita_changed(json!({})).await;
    let (_, response) = world.run_worker().await;
    assert_eq!(response.batch_item_failures.len(), 1, "the message comes back");
    let link = world.link().await;
    assert_eq!((link.status, link.link_back), (LinkStatus::Linked, Some(LinkBackDue::Created)));
    assert!(comments(&world).is_empty());

    world.end_backoff().await;
    let (received, response) = world.run_worker().await;
    assert_eq!((received, response.batch_item_failures.len()), (1, 0));
    assert_eq!(comments(&world), [link_back_text(&world)]);
    assert_eq!(world.link().await.link_back, None);
    assert_eq!(world.gitlab_writes(), 1, "one GitLab issue, created once");
}

#[tokio::test]
async fn a_worker_that_died_after_writing_the_comment_leaves_a_reservation_whose_comment_is_found_not_written_again() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    assert_eq!(comments(&world).len(), 1);
    // Rewind to what a worker that died between QALITA's answer and its commits leaves: the link
    // still owes the link back, its comment link is a reservation long ago, with no copy.
    let link = world.link().await;
    let gitlab = link.gitlab.clone().unwrap();
    let key = CommentKey::LinkBack(gitlab.issue_id);
    let committed = world.store.comment_link(issue_id(), key).await.unwrap().unwrap();
    let dead = Reservation {
        token: "dead-worker".into(),
        at: chrono::Utc::now() - chrono::TimeDelta::hours(1),
        project: None,
    };
    let rewound = qalita_gitlab_core::domain::link::CommentLink { copy: None, reservation: Some(dead), ..committed };
    world.store.put_comment_link(&rewound).await.unwrap();
    let owing = qalita_gitlab_core::domain::link::LinkState { link_back: Some(LinkBackDue::Created), ..link };
    world.store.update(&owing).await.unwrap();

    let writes = qalita_writes(&world);
    world.qalita_changed(json!({})).await;
    let (_, response) = world.run_worker().await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(comments(&world).len(), 1, "found, not written again");
    assert_eq!(qalita_writes(&world), writes);
    assert_eq!(world.link().await.link_back, None);
    let comment = world.qalita.comments(ISSUE)[0]["id"].as_u64().unwrap();
    assert_eq!(world.store.comment_link(issue_id(), key).await.unwrap().and_then(|c| c.copy), Some(comment));
}

#[tokio::test]
async fn an_adoption_after_a_lost_table_finds_the_link_back_qalita_shows_and_writes_none() {
    let world = World::new("").await;
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    assert_eq!(comments(&world).len(), 1);
    let link = world.link().await;
    let comment = world.qalita.comments(ISSUE)[0]["id"].as_u64().unwrap();
    let link_back = CommentKey::LinkBack(link.gitlab.unwrap().issue_id).sort_key();
    world.lose(&["LINK".into(), link_back, CommentKey::Comment(comment).sort_key()]).await;

    let writes = qalita_writes(&world);
    assert_eq!(world.operator_creates().await.action, Action::Adopted);
    assert_eq!(comments(&world).len(), 1, "QALITA's comment is found: {:?}", comments(&world));
    assert_eq!(qalita_writes(&world), writes);
    assert_eq!(world.link().await.link_back, None);
    assert_eq!(world.operator_creates().await.action, Action::Unchanged, "and again: nothing");
    assert_eq!(comments(&world).len(), 1);
}

#[tokio::test]
async fn an_adopted_issue_whose_url_qalita_does_not_show_gets_its_link_back_once() {
    let world = World::new("").await;
    // A GitLab issue made for the QALITA issue before this service wrote links back (or while
    // link_back.mode was none), with its marker; the link table knows nothing of it.
    let project = GitlabProjectRef::Path("data/quality".into());
    let new = NewIssue {
        title: "[QALITA] billing.customer_sites: Invalid Latitude".into(),
        description: format!("Made earlier.\n\n{}", Marker::Issue(issue_id()).text()),
        labels: vec!["qalita".into()],
        assignee_ids: Vec::new(),
        confidential: false,
    };
    let made = world.deps.engine.gitlab().create_issue(&project, &new, &CallContext::default()).await.unwrap();

    assert_eq!(world.operator_creates().await.action, Action::Adopted);
    assert_eq!(world.gitlab_issue().iid, made.iid, "adopted, not duplicated");
    assert_eq!(comments(&world), [format!("[GitLab] Tracked in GitLab: {}", made.web_url)]);
    assert_eq!(world.operator_creates().await.action, Action::Unchanged, "linked: nothing to write");
    world.qalita_changed(json!({})).await;
    world.drain().await;
    assert_eq!(comments(&world).len(), 1, "never twice");
}

#[tokio::test]
async fn a_link_back_qalita_refuses_for_good_does_not_fail_the_creation_and_comes_at_the_next_sync() {
    let world = World::new("").await;
    world.qalita.fail_next_on(&format!("/api/v2/issues/{ISSUE}/comments"), 1, Fault::Forbidden);
    world.qalita_changed(json!({})).await;
    let (_, response) = world.run_worker().await;
    assert!(response.batch_item_failures.is_empty(), "the GitLab issue is made: the message is done");
    world.gitlab_issue();
    assert!(comments(&world).is_empty());
    assert_eq!(world.link().await.link_back, Some(LinkBackDue::Created), "still owed");
    let log = world.store.log(issue_id()).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "link-back" && e.message.contains("refused")), "{log:?}");

    world.qalita.set_status(ISSUE, "resolved");
    world.qalita_changed(json!({})).await;
    world.run_worker().await;
    assert_eq!(comments(&world), [link_back_text(&world)], "written at the next sync, once");
    assert_eq!(world.link().await.link_back, None);
}
