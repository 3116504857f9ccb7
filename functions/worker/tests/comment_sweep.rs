//! The poll alone keeps comments in sync: a QALITA comment moves no `updated_at` and, on a tenant
//! that sends no events, is heard of by nobody, so every scheduled run sweeps the comments of a
//! fixed number of open linked issues, those swept longest ago first, from a line kept in the
//! table (moto, the worker's handler, both simulators).

mod world;

use std::time::{Duration, Instant};

use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::gitlab::IssueState;
use qalita_gitlab_core::domain::link::LinkState;
use qalita_gitlab_core::ports::Links;
use qalita_gitlab_worker::poll::{PollReport, poll};
use world::*;

/// One scheduled run of the poll, then the worker until the queue is empty.
async fn scheduled(world: &World) -> PollReport {
    let report = poll(&world.deps, Instant::now() + Duration::from_secs(60)).await;
    world.drain().await;
    report
}

/// The QALITA ids of the sweep's line, head first.
async fn line(world: &World) -> Vec<u64> {
    let links = world.store.next_to_sweep(1000).await.unwrap();
    links.iter().map(|link| link.qalita_id.get()).collect()
}

async fn link_of(world: &World, id: u64) -> LinkState {
    world.store.get(QalitaIssueId::new(id).unwrap()).await.unwrap().expect("a link")
}

/// The GitLab notes of the issue linked to QALITA issue `id`, made by the sync.
async fn notes_of(world: &World, id: u64) -> Vec<String> {
    let gitlab = link_of(world, id).await.gitlab.expect("a GitLab issue");
    let notes = world.gitlab.notes(gitlab.project_id.get(), gitlab.iid.get());
    notes.into_iter().filter(|note| !note.system).map(|note| note.body).collect()
}

/// Adds open QALITA issues `ids` to the world's tenant (raised after the world's `created_after`).
fn raise(world: &World, ids: impl IntoIterator<Item = u64>) {
    for id in ids {
        let mut issue = issue_json("open");
        issue["id"] = id.into();
        world.qalita.insert_issue(issue);
    }
}

#[tokio::test]
async fn a_comment_that_moves_nothing_reaches_gitlab_within_open_links_over_per_run_runs() {
    // N = 3 a run.
    let world = World::new("[sync]\ncomment_sweep_per_run = 3").await;
    raise(&world, 7001..=7006);
    raise(&world, [7100]);
    let first = scheduled(&world).await;
    assert_eq!((first.enqueued, first.comments_swept), (8, 0), "eight links made, none to sweep before: {first:?}");
    world.qalita.set_status(7100, "resolved");
    scheduled(&world).await;
    assert_eq!(world.gitlab.issues(42).iter().filter(|i| i.state == IssueState::Closed).count(), 1);

    // L = 7 open links (the world's issue and six more); the resolved one is out of the line.
    let start = line(&world).await;
    assert_eq!(start.len(), 7, "{start:?}");
    assert!(!start.contains(&7100), "a resolved link is not swept: {start:?}");
    // A comment on the last of the line, and one on the resolved issue: neither moves its issue.
    let last = start[6];
    let before = world.qalita.issue(last).unwrap()["updated_at"].clone();
    world.qalita.add_comment(last, 12, "Checked the upstream feed: the nulls come from the new partner.");
    world.qalita.add_comment(7100, 12, "Seen again after the fix, to look at.");
    assert_eq!(world.qalita.issue(last).unwrap()["updated_at"], before, "a comment does not move its issue");
    world.qalita.clear_requests();

    // ⌈7 / 3⌉ = 3 runs. Each run sweeps the head of the line and puts it at the back: the line
    // turns by N, so the next run goes on where this one stopped.
    let mut runs = 0;
    while notes_of(&world, last).await.is_empty() {
        runs += 1;
        assert!(runs <= 3, "not in GitLab after {runs} runs: the bound is ⌈7 / 3⌉ = 3");
        let report = scheduled(&world).await;
        assert_eq!((report.enqueued, report.comments_swept, report.failed), (0, 3, 0), "{report:?}");
        let mut turned = start.clone();
        turned.rotate_left(3 * runs % start.len());
        assert_eq!(line(&world).await, turned, "after run {runs}");
    }
    assert_eq!(runs, 3, "the last of the line is swept by the third run, not before");
    let notes = notes_of(&world, last).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("Checked the upstream feed"), "{notes:?}");

    // Nine sweeps over seven open links, none of the resolved one: its comment stays in QALITA.
    let listed = |id: u64| world.qalita.count("GET", &format!("/api/v2/issues/{id}/comments"));
    assert_eq!(start.iter().map(|id| listed(*id)).sum::<usize>(), 9);
    assert_eq!(listed(7100), 0, "the resolved issue's comments are never read");
    assert!(notes_of(&world, 7100).await.is_empty());
}

#[tokio::test]
async fn a_link_made_before_the_sweep_existed_is_enrolled_by_the_poll_and_swept_the_run_after() {
    let world = World::new("").await;
    scheduled(&world).await;
    // The link as a version without the sweep wrote it.
    let link = world.link().await;
    let old = world.store.update(&LinkState { comments_swept_at: None, ..link }).await.unwrap();
    assert!(line(&world).await.is_empty(), "not in the line until enrolled");
    world.qalita.add_comment(ISSUE, 12, "Owner changed: finance now looks after this feed.");

    let enrolling = scheduled(&world).await;
    assert_eq!((enrolling.enrolled, enrolling.comments_swept), (1, 0), "{enrolling:?}");
    assert!(notes_of(&world, ISSUE).await.is_empty(), "enrolled while the poll read its issue, after the sweep");
    let enrolled = world.link().await;
    assert_eq!(enrolled.comments_swept_at, Some(chrono::DateTime::UNIX_EPOCH), "at the head of the line");
    assert_eq!(enrolled.version, old.version + 1, "one write");

    let sweeping = scheduled(&world).await;
    assert_eq!((sweeping.enrolled, sweeping.comments_swept), (0, 1), "{sweeping:?}");
    let notes = notes_of(&world, ISSUE).await;
    assert!(notes.len() == 1 && notes[0].contains("finance now looks after"), "{notes:?}");
}
