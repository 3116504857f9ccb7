//! The two-way sync under random interleavings: edits on both sides (status, mute, assignee,
//! comments), GitLab deliveries dropped, duplicated and held then released in reverse order,
//! QALITA's events held back, worker runs in between, then the scheduled poll and reconcile.
//! Whatever the order, both sides end with the same values, no comment is copied twice, and no
//! write of the service was an echo (every one of them changed something).

mod world;

use std::time::{Duration, Instant};

use proptest::prelude::*;
use qalita_gitlab_core::domain::gitlab::{GitlabProjectRef, IssueState, IssueUpdate, StateEvent};
use qalita_gitlab_core::domain::{GitlabProjectId, Iid};
use qalita_gitlab_core::ports::{CallContext, GitlabApi};
use qalita_gitlab_sims::gitlab::{ChangeKind, DEFAULT_USER_ID};
use world::*;

/// One step of a run.
#[derive(Debug, Clone)]
enum Step {
    /// A person closes (`true`) or reopens the GitLab issue.
    GitlabClosed(bool),
    /// A person adds (`true`) or removes the `ignored` label.
    GitlabMuted(bool),
    /// A person assigns GitLab user 30 (mdurand) or 31 (jroe).
    GitlabAssigned(u64),
    /// A person comments in GitLab.
    GitlabNote,
    /// A person sets the QALITA status.
    QalitaStatus(&'static str),
    /// A person assigns QALITA user 12 (m.durand) or 13 (jroe).
    QalitaAssigned(u64),
    /// A person comments in QALITA.
    QalitaComment,
    /// GitLab drops its next delivery.
    DropNext,
    /// GitLab sends its next delivery twice.
    DuplicateNext,
    /// GitLab holds its deliveries; they go out in reverse order at the next `Release` or at the end.
    Hold,
    /// GitLab sends what it holds, the last first.
    Release,
    /// QALITA's bridge holds its events until `ResumeQalita` or the end.
    PauseQalita,
    /// QALITA's bridge sends what it held.
    ResumeQalita,
    /// The worker takes one batch.
    Worker,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => any::<bool>().prop_map(Step::GitlabClosed),
        2 => any::<bool>().prop_map(Step::GitlabMuted),
        2 => prop_oneof![Just(30u64), Just(31u64)].prop_map(Step::GitlabAssigned),
        2 => Just(Step::GitlabNote),
        3 => prop_oneof![Just("open"), Just("resolved"), Just("muted"), Just("active")].prop_map(Step::QalitaStatus),
        2 => prop_oneof![Just(12u64), Just(13u64)].prop_map(Step::QalitaAssigned),
        2 => Just(Step::QalitaComment),
        1 => Just(Step::DropNext),
        1 => Just(Step::DuplicateNext),
        1 => Just(Step::Hold),
        1 => Just(Step::Release),
        1 => Just(Step::PauseQalita),
        1 => Just(Step::ResumeQalita),
        4 => Just(Step::Worker),
    ]
}

fn project() -> GitlabProjectRef {
    GitlabProjectRef::Id(GitlabProjectId::new(42).unwrap())
}

/// What a run did that the checks need.
#[derive(Default)]
struct Tally {
    person_puts: usize,
    gitlab_notes: Vec<String>,
    qalita_comments: Vec<String>,
}

async fn apply(world: &World, iid: Iid, step: &Step, held: &mut bool, paused: &mut bool, tally: &mut Tally) {
    let person = world.person();
    let mut update = |u: IssueUpdate| {
        tally.person_puts += 1;
        let person = person.clone();
        async move { person.update_issue(&project(), iid, &u, &CallContext::default()).await.expect("person's edit") }
    };
    let n = tally.gitlab_notes.len() + tally.qalita_comments.len();
    match step {
        Step::GitlabClosed(closed) => {
            let event = if *closed { StateEvent::Close } else { StateEvent::Reopen };
            update(IssueUpdate { state_event: Some(event), ..Default::default() }).await;
        }
        Step::GitlabMuted(true) => {
            update(IssueUpdate { add_labels: vec!["ignored".into()], ..Default::default() }).await;
        }
        Step::GitlabMuted(false) => {
            update(IssueUpdate { remove_labels: vec!["ignored".into()], ..Default::default() }).await;
        }
        Step::GitlabAssigned(user) => {
            update(IssueUpdate { assignee_ids: Some(vec![*user]), ..Default::default() }).await;
        }
        Step::GitlabNote => {
            let body = format!("GitLab note {n}");
            person.create_note(&project(), iid, &body, false, &CallContext::default()).await.expect("note");
            tally.gitlab_notes.push(body);
        }
        Step::QalitaStatus(status) => {
            world.qalita.update_issue_as(ISSUE, 12, |i| i["status"] = (*status).into());
        }
        Step::QalitaAssigned(user) => {
            world.qalita.update_issue_as(ISSUE, 12, |i| i["assignee"] = (*user).into());
        }
        Step::QalitaComment => {
            let body = format!("QALITA comment {n}");
            world.qalita.add_comment(ISSUE, 12, &body);
            tally.qalita_comments.push(body);
        }
        Step::DropNext => world.gitlab.drop_deliveries(1),
        Step::DuplicateNext => world.gitlab.duplicate_deliveries(1),
        Step::Hold if !*held => {
            world.gitlab.hold_deliveries();
            *held = true;
        }
        Step::Release if *held => {
            world.gitlab.release_deliveries_reversed();
            *held = false;
        }
        Step::PauseQalita if !*paused => {
            world.qalita.pause_events();
            *paused = true;
        }
        Step::ResumeQalita if *paused => {
            world.qalita.resume_events();
            *paused = false;
        }
        Step::Worker => {
            if !*paused {
                world.qalita.settle_events().await;
            }
            // Let the sent deliveries reach the queue (held ones stay held).
            tokio::time::sleep(Duration::from_millis(30)).await;
            world.run_worker().await;
        }
        Step::Hold | Step::Release | Step::PauseQalita | Step::ResumeQalita => {}
    }
}

/// The status both sides should agree on, from each side.
fn gitlab_status(state: IssueState, labels: &[String]) -> &'static str {
    match (state, labels.iter().any(|l| l == "ignored")) {
        (IssueState::Closed, _) => "resolved",
        (_, true) => "muted",
        _ => "open",
    }
}

fn qalita_meaning(status: &str) -> &'static str {
    match status {
        "resolved" => "resolved",
        "muted" => "muted",
        _ => "open",
    }
}

async fn run(steps: Vec<Step>) {
    // Every field two-way: convergence is about edits on both sides.
    let world = World::inbound("[ownership]\nassignee = \"both\"").await;
    world.qalita_changed(serde_json::json!({})).await;
    world.quiesce().await;
    let iid = world.gitlab_issue().iid;
    let (mut held, mut paused, mut tally) = (false, false, Tally::default());
    for step in &steps {
        apply(&world, iid, step, &mut held, &mut paused, &mut tally).await;
    }
    if held {
        world.gitlab.release_deliveries_reversed();
    }
    if paused {
        world.qalita.resume_events();
    }
    world.quiesce().await;
    // The final reconcile: what was dropped is found by the schedule.
    for _ in 0..2 {
        let deadline = Instant::now() + Duration::from_secs(20);
        qalita_gitlab_worker::poll::poll(&world.deps, deadline).await;
        qalita_gitlab_worker::reconcile::reconcile(&world.deps, deadline).await;
        world.quiesce().await;
    }

    // Both sides agree.
    let gitlab = world.gitlab_issue();
    let qalita = world.qalita.issue(ISSUE).unwrap();
    let qalita_status = qalita["status"].as_str().unwrap_or_default();
    assert_eq!(gitlab_status(gitlab.state, &gitlab.labels), qalita_meaning(qalita_status), "status: {steps:?}");
    let gitlab_assignee = gitlab.assignees.first().map(|a| a.id);
    let expected = match qalita["assignee"].as_u64() {
        Some(12) => Some(30),
        Some(13) => Some(31),
        other => panic!("unexpected QALITA assignee {other:?}"),
    };
    assert_eq!(gitlab_assignee, expected, "assignee: {steps:?}");

    // Every comment crossed over exactly once; the link back is written once and never copied.
    let notes: Vec<String> =
        world.gitlab.notes(42, iid.get()).into_iter().filter(|n| !n.system).map(|n| n.body).collect();
    let mut comments: Vec<String> =
        world.qalita.comments(ISSUE).iter().map(|c| c["content"].as_str().unwrap_or_default().to_owned()).collect();
    let link_back = format!("[GitLab] Tracked in GitLab: {}", gitlab.web_url);
    assert_eq!(comments.iter().filter(|c| **c == link_back).count(), 1, "the link back: {comments:?}");
    comments.retain(|c| *c != link_back);
    for body in &tally.gitlab_notes {
        let copies = comments.iter().filter(|c| **c == format!("[GitLab] mdurand: {body}")).count();
        assert_eq!(copies, 1, "GitLab note {body:?} copied {copies} times: {steps:?}");
    }
    for body in &tally.qalita_comments {
        let copies = notes.iter().filter(|n| n.starts_with(&format!("**[QALITA]** Marie Durand: {body}\n"))).count();
        assert_eq!(copies, 1, "QALITA comment {body:?} copied {copies} times: {steps:?}");
    }
    assert_eq!(notes.len(), tally.gitlab_notes.len() + tally.qalita_comments.len(), "{notes:?}");
    assert_eq!(comments.len(), tally.gitlab_notes.len() + tally.qalita_comments.len(), "{comments:?}");

    // No write of ours was an echo. A GitLab write that changed nothing is allowed only where a
    // person had just made the same change by hand, and its delivery was still on its way.
    let changes = world.gitlab.changes();
    let mut previous_bot_write = changes.first().map(|c| c.at).unwrap_or_default();
    let requests = world.gitlab.requests();
    let issue_path = format!("/projects/42/issues/{}", iid.get());
    let person_puts = tally.person_puts;
    let bot_puts: Vec<_> = requests.iter().filter(|r| r.method == "PUT" && r.path.ends_with(&issue_path)).collect();
    // GitLab reports one request that changes the state and more as two changes of one instant.
    let bot_changes = changes
        .iter()
        .filter(|c| c.by == Some(DEFAULT_USER_ID) && matches!(c.kind, ChangeKind::IssueUpdated { .. }))
        .map(|c| c.at)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let no_ops = bot_puts.len() - person_puts - bot_changes;
    let concurrent = changes
        .iter()
        .filter(|c| {
            let concurrent =
                c.by == Some(30) && matches!(c.kind, ChangeKind::IssueUpdated { .. }) && c.at >= previous_bot_write;
            if c.by == Some(DEFAULT_USER_ID) {
                previous_bot_write = c.at;
            }
            concurrent
        })
        .count();
    assert!(
        no_ops <= concurrent,
        "{no_ops} GitLab writes changed nothing, with {concurrent} concurrent edits by a person: {steps:?}\n{:#?}",
        bot_puts.iter().map(|r| format!("{} {}", r.path, r.body.clone().unwrap_or_default())).collect::<Vec<_>>()
    );
    let qalita_puts = world.qalita.count_matching(|r| r.method == "PUT");
    let qalita_changes = world
        .qalita
        .events()
        .iter()
        .filter(|e| {
            e.kind == "issue.updated" && e.envelope()["payload"]["issue"]["updated_by"] == world.qalita.api_user_id()
        })
        .count();
    assert_eq!(qalita_puts, qalita_changes, "a QALITA write changed nothing: {steps:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 32, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn both_sides_converge_whatever_the_order(steps in proptest::collection::vec(step(), 1..14)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(run(steps));
    }
}
