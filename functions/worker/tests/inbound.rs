//! The inbound sync end to end: a person changes the GitLab issue through GitLab's API (the
//! simulator, with the person's token), GitLab's project hook POSTs to the real webhook handler,
//! the delivery goes through the FIFO queue on moto to the worker, and QALITA (the simulator,
//! which sends its own change events back to the queue as QALITA's backend would) is written. Every
//! test runs until the system is quiet and then counts the calls each side received.

mod world;

use qalita_gitlab_core::domain::gitlab::{GitlabProjectRef, IssueState, IssueUpdate, StateEvent};
use qalita_gitlab_core::domain::{Iid, QalitaIssueId};
use qalita_gitlab_core::ports::{CallContext, CommentLinks, EventQueue, GitlabApi, IntegrationLog, Links, Settings};
use qalita_gitlab_sims::gitlab::{Fault, FaultRule};
use qalita_gitlab_worker::poll::{PollReport, poll};
use qalita_gitlab_worker::reconcile::{ReconcileReport, reconcile};
use serde_json::json;
use world::*;

fn project() -> GitlabProjectRef {
    GitlabProjectRef::Id(qalita_gitlab_core::domain::GitlabProjectId::new(42).unwrap())
}

/// A world with the QALITA issue linked to its GitLab issue, everything delivered.
async fn linked(config_extra: &str) -> (World, Iid) {
    let world = World::inbound(config_extra).await;
    world.qalita_changed(serde_json::json!({})).await;
    world.quiesce().await;
    let iid = world.gitlab_issue().iid;
    (world, iid)
}

async fn person_updates(world: &World, iid: Iid, update: IssueUpdate) {
    world.person().update_issue(&project(), iid, &update, &CallContext::default()).await.expect("the person's edit");
}

fn qalita_status(world: &World) -> String {
    world.qalita.issue(ISSUE).unwrap()["status"].as_str().unwrap_or_default().to_owned()
}

/// The calls each side received since `before`, the writes apart: (GitLab all, GitLab writes,
/// QALITA all, QALITA writes).
fn calls_since(world: &World, before: (usize, usize)) -> (usize, usize, usize, usize) {
    let gitlab = world.gitlab.requests();
    let qalita = world.qalita.requests();
    let gitlab_writes = gitlab[before.0..].iter().filter(|r| r.method != "GET").count();
    let qalita_writes = qalita[before.1..].iter().filter(|r| r.method != "GET").count();
    (gitlab.len() - before.0, gitlab_writes, qalita.len() - before.1, qalita_writes)
}

#[tokio::test]
async fn creating_the_gitlab_issue_echoes_back_nothing() {
    let world = World::inbound("").await;
    world.qalita_changed(json!({})).await;
    world.quiesce().await;
    let deliveries = world.gitlab.deliveries();
    assert_eq!(deliveries.len(), 1, "our POST fired one Issue Hook: {deliveries:?}");
    assert_eq!(deliveries[0].status(), Some(200), "the webhook handler queued it");
    assert_eq!(world.gitlab.requests().iter().filter(|r| r.method != "GET").count(), 1, "one POST, no echo write");
    let qalita_writes: Vec<_> = world.qalita.requests().into_iter().filter(|r| r.method != "GET").collect();
    assert_eq!(qalita_writes.len(), 1, "QALITA is written only the link back: {qalita_writes:?}");
    assert_eq!(
        (qalita_writes[0].method.as_str(), qalita_writes[0].path.as_str()),
        ("POST", "/api/v2/issues/4821/comments")
    );
    let comments = world.qalita.comments(ISSUE);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["content"], format!("[GitLab] Tracked in GitLab: {}", world.gitlab_issue().web_url));
}

/// A person closes the GitLab issue, then deletes it, while a QALITA change of the issue is queued
/// ahead of the close's delivery (seeds 1826, 6587 of the simulation). The QALITA change finds the
/// issue deleted; the recreation waits behind the close, which reaches QALITA first: the new issue
/// starts closed, as the person left it.
#[tokio::test]
async fn a_change_made_in_gitlab_before_deleting_the_issue_reaches_qalita_before_the_recreation() {
    let (world, iid) = linked("").await;
    world.qalita.update_issue(ISSUE, |i| i["title"] = "Invalid Longitude".into());
    world.qalita_changed(json!({})).await;
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    world.settle().await;
    assert!(world.gitlab.delete_issue(42, iid.get()));
    world.quiesce().await;
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert_eq!(qalita_status(&world), "resolved", "the close reached QALITA: {log:#?}");
    let recreated = world.gitlab_issue();
    assert_ne!(recreated.iid, iid);
    assert_eq!(recreated.state, IssueState::Closed, "recreated as the person left it");
    assert!(recreated.title.ends_with("Invalid Longitude"), "{}", recreated.title);
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    let (deleted, synced, recreated) = (
        kinds.iter().position(|k| *k == "deleted"),
        kinds.iter().position(|k| *k == "synced"),
        kinds.iter().position(|k| *k == "recreated"),
    );
    assert!(deleted < synced && synced < recreated && deleted.is_some(), "{kinds:?}");
}

#[tokio::test]
async fn a_person_closing_then_reopening_in_gitlab_resolves_then_reopens_qalita() {
    let (world, iid) = linked("").await;
    let before = world.calls();
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "resolved");
    let (gitlab, gitlab_writes, qalita, qalita_writes) = calls_since(&world, before);
    // The person's PUT, and the worker's one read of the GitLab issue before it writes (a delivery
    // may be older than GitLab's state); the worker's GET and PUT of the QALITA issue; QALITA's own
    // change event comes back without the dataset's name: its issue is read (as every event's),
    // the name looked up once (the issue's source, cached for an hour: the reopen below reads it
    // no more), and it plans nothing.
    assert_eq!((gitlab, gitlab_writes), (2, 1), "GitLab got the person's close and the worker's read of it");
    assert_eq!((qalita, qalita_writes), (4, 1), "QALITA got three reads (the issue twice, its source) and one write");
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "status-back" && e.message.contains("resolved")), "{log:?}");

    let before = world.calls();
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Reopen), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "open");
    // QALITA: the PUT, and the issue read twice: before it (for the inbound sync) and for QALITA's
    // own change event of that PUT, which plans nothing.
    assert_eq!(calls_since(&world, before), (2, 1, 3, 1), "the person's reopen, the worker's read of it");
    assert_eq!(world.gitlab_issue().state, IssueState::Opened);
}

#[tokio::test]
async fn reopening_can_set_another_open_status() {
    let (world, iid) = linked("[status]\nreopen_to = \"active\"").await;
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    world.quiesce().await;
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Reopen), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "active");
}

#[tokio::test]
async fn qalita_resolving_and_reopening_reach_gitlab_and_come_back_as_nothing() {
    let (world, _) = linked("").await;
    let before = world.calls();
    world.qalita.set_status(ISSUE, "resolved");
    world.quiesce().await;
    assert_eq!(world.gitlab_issue().state, IssueState::Closed);
    let (_, gitlab_writes, _, qalita_writes) = calls_since(&world, before);
    assert_eq!((gitlab_writes, qalita_writes), (1, 0), "one close; GitLab's Issue Hook of it is our echo");

    world.qalita.set_status(ISSUE, "open");
    world.quiesce().await;
    assert_eq!(world.gitlab_issue().state, IssueState::Opened);
    let (_, gitlab_writes, _, qalita_writes) = calls_since(&world, before);
    assert_eq!((gitlab_writes, qalita_writes), (2, 0));
}

#[tokio::test]
async fn the_ignored_label_mutes_and_its_removal_reopens() {
    let (world, iid) = linked("").await;
    let before = world.calls();
    person_updates(&world, iid, IssueUpdate { add_labels: vec!["ignored".into()], ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "muted");
    // QALITA: the issue, its source (the dataset's name, looked up once), the PUT, and the issue
    // again for QALITA's own change event of that PUT (which plans nothing).
    // GitLab: the person's edit and the worker's read before it writes QALITA.
    assert_eq!(calls_since(&world, before), (2, 1, 4, 1));
    // QALITA's event of our write plans nothing: the label stays, nothing else is written.
    let issue = world.gitlab_issue();
    assert!(issue.labels.contains(&"ignored".to_string()) && issue.state == IssueState::Opened);

    person_updates(&world, iid, IssueUpdate { remove_labels: vec!["ignored".into()], ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "open");
    // And QALITA muting again puts the label back (the label is managed again).
    world.qalita.set_status(ISSUE, "muted");
    world.quiesce().await;
    assert!(world.gitlab_issue().labels.contains(&"ignored".to_string()));
}

#[tokio::test]
async fn with_ownership_assignee_both_reassigning_in_gitlab_reassigns_in_qalita_and_back() {
    let (world, iid) = linked("[ownership]\nassignee = \"both\"").await;
    assert_eq!(world.gitlab_issue().assignees[0].username, "mdurand");
    let before = world.calls();
    // jroe in GitLab is the QALITA user whose login is jroe (13), found by the users API.
    person_updates(&world, iid, IssueUpdate { assignee_ids: Some(vec![31]), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(world.qalita.issue(ISSUE).unwrap()["assignee"], 13);
    let (_, gitlab_writes, qalita, qalita_writes) = calls_since(&world, before);
    assert_eq!(
        (qalita, qalita_writes),
        (5, 1),
        "GET the issue, GET the users, PUT, GET the issue's source once, GET the issue for QALITA's event of the PUT"
    );
    // The person's change, then the description, which names the owner: QALITA's new owner is
    // news to the description, not to the assignee (no assignee write: that would be an echo).
    assert_eq!(gitlab_writes, 2);
    let ours = world.gitlab.requests().into_iter().rfind(|r| r.method == "PUT").unwrap();
    let body = ours.body.unwrap();
    assert!(body.get("assignee_ids").is_none(), "{body}");
    assert!(body["description"].as_str().unwrap().contains("**Owner:** jroe"), "{body}");

    // QALITA reassigns to Marie (12): GitLab shows mdurand, through the explicit map.
    let before = world.calls();
    world.qalita.set_assignee(ISSUE, Some(12));
    world.quiesce().await;
    assert_eq!(world.gitlab_issue().assignees.iter().map(|a| a.id).collect::<Vec<_>>(), [30]);
    let (_, gitlab_writes, _, qalita_writes) = calls_since(&world, before);
    assert_eq!((gitlab_writes, qalita_writes), (1, 0));
}

#[tokio::test]
async fn a_gitlab_assignee_unknown_to_qalita_changes_nothing_and_the_log_says_why() {
    // Two-way, so that the GitLab assignee is looked up in QALITA at all.
    let (world, iid) = linked("[ownership]\nassignee = \"both\"").await;
    world.gitlab.add_user(32, "stranger", "A Stranger");
    person_updates(&world, iid, IssueUpdate { assignee_ids: Some(vec![32]), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(world.qalita.issue(ISSUE).unwrap()["assignee"], 12, "unchanged");
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(
        log.iter().any(|e| e.kind == "assignee-unknown" && e.message.contains("stranger")),
        "the log names the person: {log:?}"
    );
}

#[tokio::test]
async fn by_default_a_gitlab_reassignment_stays_in_gitlab_and_a_qalita_one_reaches_gitlab() {
    let (world, iid) = linked("").await;
    assert_eq!(world.gitlab_issue().assignees[0].username, "mdurand", "QALITA's owner, assigned at creation");
    world.gitlab.add_user(32, "ana", "Ana Lopez");
    let assignees = |world: &World| world.gitlab_issue().assignees.iter().map(|a| a.id).collect::<Vec<_>>();
    let before = world.calls();
    // A person assigns Ana in GitLab: QALITA owns the assignee, so nothing is read or written there.
    person_updates(&world, iid, IssueUpdate { assignee_ids: Some(vec![32]), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(world.qalita.issue(ISSUE).unwrap()["assignee"], 12, "QALITA's assignee is left alone");
    assert_eq!(assignees(&world), [32], "GitLab's stays");
    let (_, gitlab_writes, qalita, qalita_writes) = calls_since(&world, before);
    assert_eq!((gitlab_writes, qalita, qalita_writes), (1, 0, 0), "the person's edit only; QALITA never called");
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(
        log.iter().any(|e| e.kind == "not-synced-back" && e.message.contains("ownership.assignee")),
        "the log says why and how: {log:?}"
    );

    // A QALITA change of something else leaves GitLab's assignee as the person set it.
    world.qalita.set_status(ISSUE, "resolved");
    world.quiesce().await;
    assert_eq!((world.gitlab_issue().state, assignees(&world)), (IssueState::Closed, vec![32]));
    // QALITA's own reassignment, to John Roe (13), reaches GitLab.
    world.qalita.set_assignee(ISSUE, Some(13));
    world.quiesce().await;
    assert_eq!(assignees(&world), [31], "QALITA → GitLab");
    assert_eq!(world.qalita.issue(ISSUE).unwrap()["assignee"], 13);
}

#[tokio::test]
async fn with_ownership_assignee_gitlab_a_gitlab_reassignment_reaches_qalita_and_a_qalita_one_stays() {
    let (world, iid) = linked("[ownership]\nassignee = \"gitlab\"").await;
    let assignees = |world: &World| world.gitlab_issue().assignees.iter().map(|a| a.id).collect::<Vec<_>>();
    // A person assigns John Roe in GitLab: QALITA gets its user of the same login (13).
    person_updates(&world, iid, IssueUpdate { assignee_ids: Some(vec![31]), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(world.qalita.issue(ISSUE).unwrap()["assignee"], 13, "GitLab → QALITA");
    assert_eq!(assignees(&world), [31]);

    // QALITA reassigns to Marie (12): GitLab owns the assignee, so GitLab's stays.
    let before = world.gitlab.requests().len();
    world.qalita.set_assignee(ISSUE, Some(12));
    world.quiesce().await;
    assert_eq!(assignees(&world), [31], "GitLab's assignee is left alone");
    let assignee_writes = world
        .gitlab
        .requests()
        .into_iter()
        .skip(before)
        .filter(|r| r.method == "PUT" && r.body.as_ref().is_some_and(|b| b.get("assignee_ids").is_some()))
        .count();
    assert_eq!(assignee_writes, 0, "no GitLab write carries an assignee");
}

#[tokio::test]
async fn a_title_edit_in_gitlab_stays_in_gitlab_while_qalita_owns_the_title() {
    let (world, iid) = linked("").await;
    let title = "[QALITA] billing.customer_sites: Latitude out of range".to_owned();
    let before = world.calls();
    person_updates(&world, iid, IssueUpdate { title: Some(title.clone()), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(world.qalita.issue(ISSUE).unwrap()["title"], "Invalid Latitude", "not synced back");
    // GitLab: the person's edit and the worker's read of the issue (its state may be newer than
    // the delivery's); QALITA is not touched.
    assert_eq!(calls_since(&world, before), (2, 1, 0, 0), "QALITA owns the title: not even read");
    assert_eq!(world.gitlab_issue().title, title, "and not reverted either");
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "not-synced-back"), "{log:?}");
    // A QALITA change of another field leaves the edit alone; QALITA's own title change overwrites it.
    world.qalita.set_status(ISSUE, "resolved");
    world.quiesce().await;
    assert_eq!(world.gitlab_issue().title, title);
    world.qalita.set_title(ISSUE, "Latitude invalid");
    world.quiesce().await;
    assert_eq!(world.gitlab_issue().title, "[QALITA] billing.customer_sites: Latitude invalid");
}

#[tokio::test]
async fn with_two_way_titles_a_gitlab_title_edit_reaches_qalita_once() {
    let (world, iid) = linked("[ownership]\ntitle = \"both\"\ndescription = \"both\"").await;
    let before = world.calls();
    let title = "[QALITA] billing.customer_sites: Latitude out of range";
    person_updates(&world, iid, IssueUpdate { title: Some(title.into()), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(world.qalita.issue(ISSUE).unwrap()["title"], "Latitude out of range");
    assert_eq!(world.gitlab_issue().title, title);
    let (_, gitlab_writes, _, qalita_writes) = calls_since(&world, before);
    assert_eq!(qalita_writes, 1);
    // The person's edit, then the description, which names the rule (the title is not written back:
    // that would be an echo).
    assert_eq!(gitlab_writes, 2);
    let ours = world.gitlab.requests().into_iter().rfind(|r| r.method == "PUT").unwrap().body.unwrap();
    assert!(ours.get("title").is_none(), "{ours}");
    assert!(ours["description"].as_str().unwrap().contains("**Rule:** Latitude out of range"), "{ours}");

    let before = world.calls();
    let description = "Rows with a latitude outside [-90, 90] are rejected downstream.";
    person_updates(&world, iid, IssueUpdate { description: Some(description.into()), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(world.qalita.issue(ISSUE).unwrap()["description"], description);
    assert_eq!(world.gitlab_issue().description.as_deref(), Some(description), "the person's text stays");
    let (_, gitlab_writes, _, qalita_writes) = calls_since(&world, before);
    assert_eq!((gitlab_writes, qalita_writes), (1, 1));
}

#[tokio::test]
async fn a_refused_gitlab_token_while_reading_an_omitted_description_is_retried_and_asks_for_the_secrets_again() {
    let (world, iid) = linked("[ownership]\ndescription = \"both\"").await;
    // Twice in the delivery (the issue and its `changes`), it does not fit the queue: the webhook
    // leaves it out, and the worker reads it from GitLab.
    let description =
        "Rows with a latitude outside [-90, 90] are rejected downstream. ".repeat(9_000).trim_end().to_owned();
    let read = format!("/projects/42/issues/{}", iid.get());
    world.gitlab.inject(FaultRule::new(Fault::Unauthorized).on("GET", &read));
    let before = world.calls();
    person_updates(&world, iid, IssueUpdate { description: Some(description.clone()), ..Default::default() }).await;
    world.settle().await;

    let (received, response) = world.run_worker().await;

    assert_eq!(world.gitlab.deliveries().last().and_then(|d| d.status()), Some(200), "the delivery was queued");
    assert_eq!((received, response.batch_item_failures.len()), (1, 1), "retried, not dropped");
    assert!(
        world.deps.credentials_refused.load(std::sync::atomic::Ordering::SeqCst),
        "the refusal makes the function read its secrets again"
    );
    let reads = |world: &World| -> Vec<Option<u16>> {
        world.gitlab.requests().into_iter().filter(|r| r.method == "GET" && r.path == read).map(|r| r.status).collect()
    };
    assert_eq!(reads(&world), [Some(401)], "the worker read the description, and GitLab refused the token");
    assert_eq!(calls_since(&world, before).3, 0, "QALITA is not written");

    // The retry, with the token accepted again, reads the description and brings it to QALITA.
    world.end_backoff().await;
    world.quiesce().await;
    assert_eq!(world.qalita.issue(ISSUE).unwrap()["description"], description.as_str());
    assert_eq!(reads(&world).get(1), Some(&Some(200)), "read again on the retry");
    assert_eq!(world.gitlab_issue().description.as_deref(), Some(description.as_str()), "the person's text stays");
}

#[tokio::test]
async fn a_test_delivery_changes_nothing_that_is_in_sync() {
    let (world, _) = linked("").await;
    let before = world.calls();
    let delivery = world.gitlab.deliveries().into_iter().next().expect("the creation's delivery");
    let mut body = delivery.body.clone();
    body["object_attributes"].as_object_mut().unwrap().remove("action");
    body["changes"] = json!({});
    let front = world.front.as_ref().unwrap();
    let answer = reqwest::Client::new()
        .post(&front.url)
        .header("X-Gitlab-Event", "Issue Hook")
        .header("X-Gitlab-Token", WEBHOOK_SECRET)
        .header("X-Gitlab-Event-UUID", "test-delivery-uuid")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    world.quiesce().await;
    assert_eq!(calls_since(&world, before), (0, 0, 0, 0));
}

/// The QALITA comments after the link back, which the creation wrote first, and once.
fn qalita_comments(world: &World) -> Vec<String> {
    let mut all: Vec<String> =
        world.qalita.comments(ISSUE).iter().map(|c| c["content"].as_str().unwrap_or_default().to_owned()).collect();
    let link_back = format!("[GitLab] Tracked in GitLab: {}", world.gitlab_issue().web_url);
    assert_eq!(all.first(), Some(&link_back), "the creation's link back comes first: {all:?}");
    all.remove(0);
    assert!(!all.contains(&link_back), "the link back is written once: {all:?}");
    all
}

fn gitlab_notes(world: &World, iid: Iid) -> Vec<String> {
    world.gitlab.notes(42, iid.get()).into_iter().filter(|n| !n.system).map(|n| n.body).collect()
}

#[tokio::test]
async fn a_gitlab_comment_reaches_qalita_once_even_when_delivered_twice() {
    let (world, iid) = linked("").await;
    let before = world.calls();
    world.gitlab.duplicate_deliveries(1);
    world
        .person()
        .create_note(
            &project(),
            iid,
            "Checked: the upstream feed sends 0 for missing values.",
            false,
            &CallContext::default(),
        )
        .await
        .unwrap();
    world.quiesce().await;
    assert_eq!(qalita_comments(&world), ["[GitLab] mdurand: Checked: the upstream feed sends 0 for missing values."]);
    assert_eq!(world.gitlab.deliveries().iter().filter(|d| d.event == "Note Hook").count(), 2, "delivered twice");
    // The person's note; one QALITA write; QALITA's event of the copy and the second delivery: nothing.
    assert_eq!(
        calls_since(&world, before),
        (1, 1, 1, 1),
        "the person's note and one copy; QALITA's event of it is ours"
    );
    assert_eq!(gitlab_notes(&world, iid).len(), 1, "nothing is copied back");
}

#[tokio::test]
async fn a_qalita_comment_reaches_gitlab_once_with_its_author() {
    let (world, iid) = linked("").await;
    let before = world.calls();
    world.qalita.add_comment(ISSUE, 12, "Fixed in the loader; re-running the check.");
    world.quiesce().await;
    let notes = gitlab_notes(&world, iid);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("**[QALITA]** Marie Durand: Fixed in the loader; re-running the check."), "{notes:?}");
    assert_eq!(qalita_comments(&world).len(), 1, "GitLab's Note Hook of our note is not copied back");
    // One read of the author's name, one note; GitLab's hook of the note: nothing.
    assert_eq!(calls_since(&world, before), (1, 1, 1, 0));
    // The same event again (a redelivery by QALITA's bridge): nothing.
    let before = world.calls();
    let comment = world.qalita.comments(ISSUE)[1].clone(); // after the link back
    let body = json!({"v": 1, "source": "qalita", "kind": "comment.created", "key": "again", "received_at": "2026-11-25T10:00:00Z", "payload": {"issue_id": ISSUE, "comment": comment}});
    world
        .queue
        .send(&qalita_gitlab_core::ports::OutgoingMessage {
            group_id: format!("qalita:{ISSUE}"),
            dedup_id: "again".into(),
            body: body.to_string(),
        })
        .await
        .unwrap();
    world.quiesce().await;
    assert_eq!(calls_since(&world, before).1, 0, "no GitLab write");
    assert_eq!(gitlab_notes(&world, iid).len(), 1);
}

#[tokio::test]
async fn internal_notes_stay_internal_unless_enabled() {
    let (world, iid) = linked("").await;
    world
        .person()
        .create_note(&project(), iid, "Internal: customer name is in the sample.", true, &CallContext::default())
        .await
        .unwrap();
    world.quiesce().await;
    assert!(world.gitlab.deliveries().iter().any(|d| d.event == "Confidential Note Hook"));
    assert!(qalita_comments(&world).is_empty(), "an internal note is not copied");
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "comment" && e.message.contains("internal note stays internal")), "{log:?}");

    let (world, iid) = linked("[comments]\nsync_internal_notes = true").await;
    world.person().create_note(&project(), iid, "Internal but shared.", true, &CallContext::default()).await.unwrap();
    world.quiesce().await;
    assert_eq!(qalita_comments(&world), ["[GitLab] mdurand: Internal but shared."]);
}

#[tokio::test]
async fn each_comment_direction_can_be_switched_off() {
    let (world, iid) = linked("[comments]\nto_qalita = false\nto_gitlab = false").await;
    world.person().create_note(&project(), iid, "Not copied.", false, &CallContext::default()).await.unwrap();
    world.qalita.add_comment(ISSUE, 12, "Not copied either.");
    world.quiesce().await;
    assert!(qalita_comments(&world) == ["Not copied either."]);
    assert_eq!(gitlab_notes(&world, iid), ["Not copied."]);
}

/// Edits a note as its author, through GitLab's API.
async fn edit_note(world: &World, iid: Iid, note: u64, body: &str) {
    let url = format!("{}/api/v4/projects/42/issues/{}/notes/{note}", world.gitlab.url(), iid.get());
    let answer = reqwest::Client::new()
        .put(url)
        .header("PRIVATE-TOKEN", MARIE_TOKEN)
        .json(&json!({"body": body}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
}

#[tokio::test]
async fn an_edited_gitlab_note_updates_its_copy_where_qalita_allows_it() {
    let (world, iid) = linked("").await;
    let note =
        world.person().create_note(&project(), iid, "First version.", false, &CallContext::default()).await.unwrap();
    world.quiesce().await;
    edit_note(&world, iid, note.id, "Second version.").await;
    world.quiesce().await;
    assert_eq!(qalita_comments(&world), ["[GitLab] mdurand: Second version."]);
}

#[tokio::test]
async fn an_edited_gitlab_note_is_logged_as_not_propagated_where_qalita_cannot_edit() {
    let (world, iid) = linked("[qalita.paths]\nupdate_comment = \"none\"").await;
    let note =
        world.person().create_note(&project(), iid, "First version.", false, &CallContext::default()).await.unwrap();
    world.quiesce().await;
    edit_note(&world, iid, note.id, "Second version.").await;
    world.quiesce().await;
    assert_eq!(qalita_comments(&world), ["[GitLab] mdurand: First version."]);
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "not-propagated" || e.message.contains("cannot edit comments")), "{log:?}");
}

/// Posts a delivery GitLab sent before again, as "Resend request" does (with a key outside the
/// queue's five-minute deduplication window).
async fn resend(world: &World, delivery: &qalita_gitlab_sims::gitlab::Delivery, key: &str) {
    let front = world.front.as_ref().unwrap();
    let answer = reqwest::Client::new()
        .post(&front.url)
        .header("X-Gitlab-Event", delivery.event.as_str())
        .header("X-Gitlab-Token", WEBHOOK_SECRET)
        .header("Idempotency-Key", key)
        .json(&delivery.body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn replaying_an_old_close_after_a_newer_reopen_leaves_the_issue_open_on_both_sides() {
    let (world, iid) = linked("").await;
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    world.quiesce().await;
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Reopen), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "open");
    let close = world
        .gitlab
        .deliveries()
        .into_iter()
        .find(|d| d.body["object_attributes"]["action"] == "close")
        .expect("the close was delivered");
    let before = world.calls();
    resend(&world, &close, "resend-of-the-close").await;
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "open");
    assert_eq!(world.gitlab_issue().state, IssueState::Opened);
    assert_eq!(calls_since(&world, before), (0, 0, 0, 0), "a stale delivery costs no call");
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "stale"), "{log:?}");
}

#[tokio::test]
async fn deliveries_in_reverse_order_leave_the_newest_state_on_both_sides() {
    let (world, iid) = linked("").await;
    world.gitlab.hold_deliveries();
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Reopen), ..Default::default() }).await;
    let before = world.calls();
    world.gitlab.release_deliveries_reversed();
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "open");
    assert_eq!(world.gitlab_issue().state, IssueState::Opened);
    let (_, gitlab_writes, _, qalita_writes) = calls_since(&world, before);
    assert_eq!((gitlab_writes, qalita_writes), (0, 0), "the reopen came first and is what QALITA has");
}

#[tokio::test]
async fn a_gitlab_close_then_a_newer_qalita_mute_end_muted_on_both_sides() {
    let (world, iid) = linked("").await;
    world.gitlab.hold_deliveries();
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    world.qalita.set_status(ISSUE, "muted");
    world.qalita.settle_events().await;
    world.run_worker().await;
    world.gitlab.release_deliveries_reversed();
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "muted");
    let issue = world.gitlab_issue();
    assert_eq!(issue.state, IssueState::Opened, "QALITA's newer mute reopened it");
    assert!(issue.labels.contains(&"ignored".to_string()));
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "stale"), "the older close is stale: {log:?}");
}

#[tokio::test]
async fn a_qalita_mute_then_a_newer_gitlab_close_end_resolved_on_both_sides() {
    let (world, iid) = linked("").await;
    world.qalita.pause_events();
    world.qalita.set_status(ISSUE, "muted");
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    world.settle().await;
    world.run_worker().await;
    world.qalita.resume_events();
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "resolved");
    let issue = world.gitlab_issue();
    assert_eq!(issue.state, IssueState::Closed);
    assert!(!issue.labels.contains(&"ignored".to_string()));
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(
        log.iter().any(|e| e.kind == "conflict" && e.message.contains("GitLab wins")),
        "the decision is logged: {log:?}"
    );
}

#[tokio::test]
async fn with_qalita_owning_the_status_a_gitlab_close_is_not_synced_back() {
    let (world, iid) = linked("[ownership]\nstatus = \"qalita\"").await;
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "open");
    // QALITA's next status change is written over the person's close.
    world.qalita.set_status(ISSUE, "resolved");
    world.quiesce().await;
    world.qalita.set_status(ISSUE, "open");
    world.quiesce().await;
    assert_eq!(world.gitlab_issue().state, IssueState::Opened);
}

/// One scheduled run: the QALITA poll, then the GitLab reconcile.
async fn scheduled(world: &World) -> (PollReport, ReconcileReport) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let poll = poll(&world.deps, deadline).await;
    let reconcile = reconcile(&world.deps, deadline).await;
    (poll, reconcile)
}

#[tokio::test]
async fn a_lost_delivery_is_made_up_by_the_gitlab_reconcile() {
    let (world, iid) = linked("").await;
    world.gitlab.drop_deliveries(1);
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "open", "GitLab dropped the delivery");
    let (_, report) = scheduled(&world).await;
    assert_eq!((report.projects, report.synced, report.failed), (2, 1, 0), "{report:?}");
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "resolved");
    let (_, again) = scheduled(&world).await;
    assert_eq!(again.synced, 0, "{again:?}");
}

#[tokio::test]
async fn with_every_field_two_way_one_change_makes_its_writes_and_then_everything_is_quiet() {
    let all_two_way = "[ownership]\ntitle = \"both\"\ndescription = \"both\"\nlabels = \"both\"\nstatus = \"both\"\nassignee = \"both\"";
    let (world, iid) = linked(all_two_way).await;
    // Settle what the link's first schedule reads, so that every later cycle is alike.
    scheduled(&world).await;
    world.quiesce().await;

    let quiet_cycles = |label: &'static str, swept: usize| {
        let world = &world;
        async move {
            let mut reads = Vec::new();
            for _ in 0..3 {
                let before = world.calls();
                let (poll, reconcile) = scheduled(world).await;
                assert_eq!((poll.enqueued, reconcile.synced), (0, 0), "{label}: {poll:?} {reconcile:?}");
                world.quiesce().await;
                let (gitlab, gitlab_writes, qalita, qalita_writes) = calls_since(world, before);
                assert_eq!((gitlab_writes, qalita_writes), (0, 0), "{label}: no write after the change");
                reads.push((gitlab, qalita));
            }
            // Only the schedule's own reads: one list per GitLab project (two), QALITA's newest page and
            // the sweep's next page, and the issue and its comments per open link the comment
            // sweep takes (`swept`), whose GitLab issue is read once (a deleted one is noticed
            // there); the first cycle after a change also reads the notes of the issue GitLab shows
            // changed (a note's delivery may have been lost).
            let (gitlab, qalita) = (2 + swept, 2 + 2 * swept);
            assert_eq!(reads, vec![(gitlab + 1, qalita), (gitlab, qalita), (gitlab, qalita)], "{label}");
        }
    };

    // A person's change in GitLab: one QALITA read and one QALITA write.
    let before = world.calls();
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    world.quiesce().await;
    // QALITA: the issue read before the write, the PUT, and the issue read for QALITA's own event
    // of the PUT (which plans nothing).
    assert_eq!(calls_since(&world, before), (2, 1, 3, 1), "GitLab → QALITA, GitLab read once before the write");
    // Closed: resolved in QALITA, out of the comment sweep's line.
    quiet_cycles("after the GitLab change", 0).await;

    // A change in QALITA: one QALITA read, one GitLab write, nothing back.
    let before = world.calls();
    world.qalita.set_status(ISSUE, "open");
    world.quiesce().await;
    let (gitlab, gitlab_writes, qalita, qalita_writes) = calls_since(&world, before);
    assert_eq!((gitlab, gitlab_writes, qalita_writes), (1, 1, 0), "QALITA → GitLab");
    assert_eq!(qalita, 1, "the event's issue is read: QALITA may have changed it since it was sent");
    // Open again: its comments are swept every run (one open link, 50 a run).
    quiet_cycles("after the QALITA change", 1).await;
    assert_eq!((world.gitlab_issue().state, qalita_status(&world).as_str()), (IssueState::Opened, "open"));
}

#[tokio::test]
async fn an_issue_not_linked_is_acknowledged_and_ignored() {
    let (world, _) = linked("").await;
    let before = world.calls();
    let new = qalita_gitlab_core::domain::gitlab::NewIssue {
        title: "A person's own issue".into(),
        description: "Nothing to do with QALITA.".into(),
        ..Default::default()
    };
    world.person().create_issue(&project(), &new, &CallContext::default()).await.unwrap();
    world.quiesce().await;
    let deliveries = world.gitlab.deliveries();
    assert_eq!(deliveries.last().unwrap().status(), Some(200));
    let (gitlab, gitlab_writes, qalita, _) = calls_since(&world, before);
    assert_eq!((gitlab, gitlab_writes, qalita), (1, 1, 0), "only the person's POST; nothing read or written");
}

#[tokio::test]
async fn a_marked_issue_whose_link_is_still_reserved_is_adopted_from_its_event() {
    let world = World::inbound("").await;
    // A worker reserved QALITA issue 4821 and made its GitLab issue, then died before committing.
    let id = QalitaIssueId::new(ISSUE).unwrap();
    let mut reserved =
        qalita_gitlab_core::domain::link::LinkState::reserved(id, "dead-worker".into(), chrono::Utc::now());
    reserved.reserve_in(project());
    world.store.create(&reserved).await.unwrap();
    let bot = qalita_gitlab_core::adapters::gitlab_http::GitlabClient::new(
        &world.gitlab.url(),
        qalita_gitlab_core::domain::SecretString::new(qalita_gitlab_sims::gitlab::DEFAULT_TOKEN),
        &qalita_gitlab_core::adapters::http::HttpSettings::default(),
    )
    .unwrap();
    let new = qalita_gitlab_core::domain::gitlab::NewIssue {
        title: "[QALITA] billing.customer_sites: Invalid Latitude".into(),
        description: format!(
            "Made by a worker that died.\n\n{}",
            qalita_gitlab_core::domain::marker::Marker::Issue(id).text()
        ),
        labels: vec!["qalita".into()],
        ..Default::default()
    };
    let made = bot.create_issue(&project(), &new, &CallContext::default()).await.unwrap();
    world.quiesce().await;
    let link = world.link().await;
    assert_eq!(link.status, qalita_gitlab_core::domain::link::LinkStatus::Linked);
    assert_eq!(link.gitlab.as_ref().unwrap().iid, made.iid, "the marked issue is adopted");
    // The QALITA event that follows finds the link and writes only what differs: no second issue.
    world.qalita_changed(json!({})).await;
    world.quiesce().await;
    let issue = world.gitlab_issue();
    assert_eq!(issue.iid, made.iid);
    assert!(issue.description.unwrap().starts_with("**Dataset:** billing.customer_sites"), "brought up to date");
    let log = world.store.log(id).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "adopted"), "{log:?}");
}

#[tokio::test]
async fn the_reconcile_reads_every_changed_issue_page_by_page_and_keeps_its_cursor() {
    let world = World::new("").await;
    let bot = qalita_gitlab_core::adapters::gitlab_http::GitlabClient::new(
        &world.gitlab.url(),
        qalita_gitlab_core::domain::SecretString::new(qalita_gitlab_sims::gitlab::DEFAULT_TOKEN),
        &qalita_gitlab_core::adapters::http::HttpSettings::default(),
    )
    .unwrap();
    for n in 0..130u64 {
        let id = QalitaIssueId::new(90_000 + n).unwrap();
        let new = qalita_gitlab_core::domain::gitlab::NewIssue {
            title: format!("issue {n}"),
            description: qalita_gitlab_core::domain::marker::Marker::Issue(id).text(),
            ..Default::default()
        };
        bot.create_issue(&project(), &new, &CallContext::default()).await.unwrap();
    }
    let (_, report) = scheduled(&world).await;
    // Two pages by key; `updated_after` includes its bound, so the last issue of the first page is
    // read again at the top of the second.
    assert_eq!((report.read, report.stopped.as_deref()), (131, None), "{report:?}");
    let newest = world.gitlab.issues(42).iter().map(|i| i.updated_at).max().unwrap();
    let cursor = world.store.cursor("gitlab-reconcile:data/quality").await.unwrap().expect("the cursor");
    assert_eq!(chrono::DateTime::parse_from_rfc3339(&cursor).unwrap(), newest, "the last issue read");
    // Issues nobody linked cost a list and nothing else.
    assert_eq!(world.qalita.request_count() - world.qalita.count("GET", "/api/v2/issues"), 0);
}

#[tokio::test]
async fn a_description_too_large_for_the_queue_is_read_from_gitlab() {
    let (world, iid) = linked("[ownership]\ndescription = \"both\"").await;
    // Twice in the delivery (the issue and `changes`), it is left out of the queued message.
    let description = "Latitude out of range. ".repeat(26_000);
    person_updates(&world, iid, IssueUpdate { description: Some(description.clone()), ..Default::default() }).await;
    world.quiesce().await;
    let delivery = world.gitlab.deliveries().into_iter().last().unwrap();
    assert_eq!(delivery.status(), Some(200));
    assert_eq!(world.qalita.issue(ISSUE).unwrap()["description"], description.trim_end());
    // One read for the description the queue could not hold, one before the write (GitLab's state
    // may be newer than the delivery's).
    assert_eq!(world.gitlab.count("GET", &format!("/projects/42/issues/{}", iid.get())), 2, "two reads of it");
}

#[tokio::test]
async fn a_gitlab_change_qalita_refuses_for_good_is_written_to_the_issues_log_and_not_retried() {
    let (world, iid) = linked("").await;
    world.qalita.fail_next_on(&format!("/api/v2/issues/{ISSUE}"), 1, qalita_gitlab_sims::qalita::Fault::Forbidden);
    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "open");
    assert!(world.failed_receipts.lock().unwrap().is_empty(), "a refusal for good is not retried");
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "failed" && e.message.contains("403")), "{log:?}");
}

#[tokio::test]
async fn qalita_muting_a_resolved_issue_reopens_and_labels_it_and_gitlabs_two_hooks_are_our_echo() {
    let (world, _) = linked("").await;
    world.qalita.set_status(ISSUE, "resolved");
    world.quiesce().await;
    let before = world.calls();
    world.qalita.set_status(ISSUE, "muted");
    world.quiesce().await;
    let issue = world.gitlab_issue();
    assert_eq!(issue.state, IssueState::Opened);
    assert!(issue.labels.contains(&"ignored".to_string()));
    assert_eq!(qalita_status(&world), "muted", "not undone by GitLab's reopen hook");
    let hooks: Vec<String> = world
        .gitlab
        .deliveries()
        .iter()
        .rev()
        .take(2)
        .map(|d| d.body["object_attributes"]["action"].to_string())
        .collect();
    assert_eq!(hooks, ["\"update\"", "\"reopen\""], "GitLab reports the request as a reopen, then an update");
    let (_, gitlab_writes, _, qalita_writes) = calls_since(&world, before);
    assert_eq!((gitlab_writes, qalita_writes), (1, 0));
}

#[tokio::test]
async fn while_disabled_events_are_acknowledged_logged_and_the_poll_brings_them_over_once_enabled() {
    let (world, iid) = linked("").await;
    qalita_gitlab_core::control::set_disabled(world.store.as_ref(), true).await.unwrap();
    let before = world.calls();
    world.qalita.set_status(ISSUE, "resolved");
    person_updates(&world, iid, IssueUpdate { add_labels: vec!["needs-triage".into()], ..Default::default() }).await;
    world.quiesce().await;
    let (_, gitlab_writes, _, qalita_writes) = calls_since(&world, before);
    assert_eq!((gitlab_writes, qalita_writes), (1, 0), "only the person's own edit");
    assert_eq!(world.gitlab_issue().state, IssueState::Opened);
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "skipped" && e.message.contains("disabled")), "{log:?}");
    let (poll, _) = scheduled(&world).await;
    assert_eq!(poll.stopped.as_deref(), Some("the integration is disabled"));

    qalita_gitlab_core::control::set_disabled(world.store.as_ref(), false).await.unwrap();
    scheduled(&world).await;
    world.quiesce().await;
    assert_eq!(world.gitlab_issue().state, IssueState::Closed, "the poll brought the change over");
}

#[tokio::test]
async fn a_note_whose_copy_a_dead_worker_made_is_adopted_not_copied_twice() {
    let (world, iid) = linked("").await;
    world.gitlab.hold_deliveries();
    let note =
        world.person().create_note(&project(), iid, "Upstream fixed.", false, &CallContext::default()).await.unwrap();
    // A worker reserved the copy, made it in QALITA, and died before committing.
    let id = QalitaIssueId::new(ISSUE).unwrap();
    let dead = qalita_gitlab_core::domain::link::CommentLink {
        issue: id,
        key: qalita_gitlab_core::domain::link::CommentKey::Note(note.id),
        copy: None,
        reservation: Some(qalita_gitlab_core::domain::link::Reservation {
            token: "dead-worker".into(),
            at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            project: None,
        }),
        digest: None,
        ours: false,
        version: 0,
        updated_at: chrono::Utc::now(),
    };
    world.store.put_comment_link(&dead).await.unwrap();
    // The copy the dead worker made, as the service's QALITA account.
    world.qalita.add_comment(ISSUE, world.qalita.api_user_id(), "[GitLab] mdurand: Upstream fixed.");
    world.gitlab.release_deliveries_reversed();
    world.quiesce().await;
    assert_eq!(qalita_comments(&world), ["[GitLab] mdurand: Upstream fixed."], "one copy, not two");
    let log = world.store.log(id).await.unwrap();
    assert!(log.iter().any(|e| e.kind == "adopted"), "{log:?}");
}

#[tokio::test]
async fn an_edited_qalita_comment_updates_its_gitlab_copy() {
    let (world, iid) = linked("").await;
    let comment = world.qalita.add_comment(ISSUE, 12, "Re-running the check tonight.");
    world.quiesce().await;
    let edited = world.qalita.edit_comment(comment, "Re-ran the check: 0 rows out of range.");
    // QALITA's bridge reports the edit (the simulator sends no event of its own for it).
    let body = json!({"v": 1, "source": "qalita", "kind": "comment.updated", "key": "edit-1", "received_at": "2026-11-25T10:00:00Z", "payload": {"issue_id": ISSUE, "comment": edited}});
    world
        .queue
        .send(&qalita_gitlab_core::ports::OutgoingMessage {
            group_id: format!("qalita:{ISSUE}"),
            dedup_id: "edit-1".into(),
            body: body.to_string(),
        })
        .await
        .unwrap();
    let before = world.calls();
    world.quiesce().await;
    let notes = gitlab_notes(&world, iid);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("**[QALITA]** Marie Durand: Re-ran the check: 0 rows out of range.\n"), "{notes:?}");
    let (_, gitlab_writes, _, qalita_writes) = calls_since(&world, before);
    assert_eq!((gitlab_writes, qalita_writes), (1, 0), "one PUT of the note; its Note Hook (update) is ours");
}

/// A person changes the issue's type through GitLab's API (`issue_type`, not in the sync's own
/// client: the sync never changes it).
async fn person_sets_issue_type(world: &World, iid: Iid, issue_type: &str) {
    let url = format!("{}/api/v4/projects/42/issues/{iid}", world.gitlab.url());
    let answer = reqwest::Client::new()
        .put(url)
        .header("PRIVATE-TOKEN", MARIE_TOKEN)
        .json(&json!({ "issue_type": issue_type }))
        .send()
        .await
        .expect("GitLab answers");
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn an_incident_whose_updates_arrive_as_work_items_syncs_both_ways_like_an_issue() {
    let (world, iid) = linked("").await;
    person_sets_issue_type(&world, iid, "incident").await;
    world.quiesce().await;

    person_updates(&world, iid, IssueUpdate { add_labels: vec!["ignored".into()], ..Default::default() }).await;
    world.quiesce().await;
    let deliveries = world.gitlab.deliveries();
    let muted = deliveries.last().expect("the label's delivery");
    assert_eq!(
        (muted.body["object_kind"].as_str(), muted.body["object_attributes"]["type"].as_str(), muted.status()),
        (Some("work_item"), Some("Incident"), Some(200)),
        "current GitLab reports an incident's update as a work item"
    );
    assert_eq!(qalita_status(&world), "muted", "the work item delivery reached QALITA");

    person_updates(&world, iid, IssueUpdate { remove_labels: vec!["ignored".into()], ..Default::default() }).await;
    world.quiesce().await;
    assert_eq!(qalita_status(&world), "open");

    person_updates(&world, iid, IssueUpdate { state_event: Some(StateEvent::Close), ..Default::default() }).await;
    world.quiesce().await;
    let closed = world.gitlab.deliveries().last().cloned().expect("the close's delivery");
    assert_eq!(closed.body["object_kind"], "issue", "its close still comes as an issue");
    assert_eq!(qalita_status(&world), "resolved");

    world.qalita.set_status(ISSUE, "open");
    world.quiesce().await;
    assert_eq!(world.gitlab_issue().state, IssueState::Opened, "QALITA → GitLab works on the incident too");
    assert!(world.gitlab.deliveries().iter().all(|d| d.status() == Some(200)), "every delivery was answered 200");
}
