//! `backfill` end to end: every QALITA issue linked to exactly one GitLab issue, a second run
//! writing nothing, a dry run writing nothing, `--since`, GitLab's creation limit honoured through
//! its `Retry-After`, and a backfill interrupted (killed, or stopped by a wait longer than
//! `--max-wait`) then resumed from its checkpoint, still linking each issue exactly once. An
//! ignored test measures the rate at gitlab.com's limits.

mod commands_world;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use commands_world::*;
use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::link::LinkStatus;
use qalita_gitlab_sims::gitlab::{RateLimits, SimConfig};
use serde_json::json;

/// The first seeded QALITA issue id.
const FIRST: u64 = 10_001;

/// Adds `n` QALITA issues, one a minute from 2026-11-01 (all older than the fixture's 4821).
fn seed(world: &World, n: u64) {
    let start = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap().with_timezone(&Utc);
    for i in 0..n {
        let at = (start + TimeDelta::minutes(i as i64)).to_rfc3339();
        world.qalita.insert_issue(json!({
            "id": FIRST + i, "title": format!("Check {i}"), "status": "open", "source_id": 57,
            "created_at": at, "updated_at": at,
        }));
    }
}

/// Every QALITA issue of the world has exactly one GitLab issue, and no GitLab issue is extra.
fn each_linked_once(world: &World, seeded: u64) {
    let ids: Vec<u64> = std::iter::once(ISSUE).chain(FIRST..FIRST + seeded).collect();
    for id in &ids {
        assert_eq!(world.marked(*id), 1, "QALITA issue {id} has exactly one GitLab issue");
    }
    assert_eq!(world.gitlab_issues().len(), ids.len(), "no other GitLab issue exists");
}

fn rate_limited(window_ms: u64, creations: u32) -> SimConfig {
    SimConfig::default().with_rate_limits(RateLimits {
        window: Duration::from_millis(window_ms),
        api: None,
        issue_creation: Some(creations),
        note_creation: None,
    })
}

#[tokio::test]
async fn backfill_links_every_issue_once_and_a_second_run_writes_nothing() {
    let world = World::aws("").await;
    seed(&world, 20);
    let report = world.json(&["backfill"]).await.expect(0).json();
    assert_eq!(report["total"]["created"], 21, "{report}");
    assert_eq!(report["done"], true);
    each_linked_once(&world, 20);
    let status = world.run(&["status"]).await.expect(0);
    assert!(status.stdout.contains("backfill: finished"), "{}", status.stdout);

    let posts = world.gitlab.count("POST", "/projects/data%2Fquality/issues");
    let again = world.json(&["backfill"]).await.expect(0).json();
    assert_eq!((again["total"]["created"].as_u64(), again["total"]["unchanged"].as_u64()), (Some(0), Some(21)));
    assert_eq!(world.gitlab.count("POST", "/projects/data%2Fquality/issues"), posts, "a second run creates nothing");
    each_linked_once(&world, 20);
}

#[tokio::test]
async fn a_dry_run_shows_what_would_be_created_and_writes_nothing() {
    let world = World::aws("").await;
    seed(&world, 5);
    world.run(&["create-issue", "10003"]).await.expect(0);
    let writes = world.gitlab_writes();
    let report = world.json(&["backfill", "--dry-run"]).await.expect(0).json();
    let planned = report["planned"].as_array().unwrap();
    assert_eq!(planned.iter().filter(|p| p["would"] == "create").count(), 5, "{report}");
    assert_eq!(report["total"]["unchanged"], 1, "the linked one");
    assert_eq!(world.gitlab_writes(), writes, "nothing written");
    assert!(world.json(&["status"]).await.expect(0).json()["backfill"].is_null(), "no checkpoint");
    let text = world.run(&["backfill", "--dry-run"]).await.expect(0);
    assert!(
        text.stdout.contains("would create 5") && text.stdout.contains("Dry run: nothing was written."),
        "{}",
        text.stdout
    );
}

#[tokio::test]
async fn since_takes_only_the_issues_created_since_then() {
    let world = World::aws("").await;
    seed(&world, 10);
    // The seeded issues are a minute apart from midnight: 4 are at or after 00:06, plus 4821.
    let report = world.json(&["backfill", "--since", "2026-11-01T00:06:00Z"]).await.expect(0).json();
    assert_eq!(report["total"]["created"], 5, "{report}");
    assert_eq!(world.gitlab_issues().len(), 5);
    assert_eq!(world.marked(FIRST + 5), 0, "older issues are left alone");
    world.run(&["backfill", "--since", "someday"]).await.expect(2);
}

#[tokio::test]
async fn backfill_waits_for_gitlabs_creation_limit_and_links_each_issue_once() {
    // Five creations per 6 s window: twelve creations need two waits however slow each one is
    // (each is a marker search, then the `POST`), up to 1.2 s apiece.
    let limits = rate_limited(6_000, 5);
    let window = limits.rate_limits.clone();
    let world = World::aws_with(limits, "").await;
    seed(&world, 11);
    window.next_window().await;
    let report = world.json(&["backfill"]).await.expect(0).json();
    assert!(report["waits"].as_u64().unwrap() >= 2, "two windows were waited for: {report}");
    let refused = world.gitlab.requests().iter().filter(|r| r.method == "POST" && r.status == Some(429)).count();
    assert!(refused >= 2, "GitLab refused creations over its limit");
    each_linked_once(&world, 11);
}

#[tokio::test]
async fn a_backfill_stopped_by_a_long_wait_resumes_from_its_checkpoint() {
    let world = World::aws_with(rate_limited(3_000, 4), "").await;
    seed(&world, 9);
    let stopped = world.json(&["backfill", "--max-wait", "1s"]).await.expect(3).json();
    assert_eq!(stopped["done"], false);
    // GitLab's windows turn on the epoch, so the first one may turn during the run: at least
    // its 4 creations, and the run stops at the first issue over a limit.
    let offset = stopped["offset"].as_u64().unwrap();
    assert!((4..10).contains(&offset), "stopped at the first issue over the limit: {stopped}");
    assert_eq!(stopped["total"]["created"], offset, "{stopped}");
    assert!(stopped["stopped"].as_str().unwrap().contains("--max-wait"), "{stopped}");
    let status = world.run(&["status"]).await.expect(0);
    assert!(status.stdout.contains(&format!("interrupted at offset {offset}")), "{}", status.stdout);

    let resumed = world.json(&["backfill"]).await.expect(0).json();
    assert_eq!(resumed["resumed"], true);
    assert_eq!(resumed["this_run"]["issues"], 10 - offset, "only the rest: {resumed}");
    assert_eq!(resumed["total"]["created"], 10);
    each_linked_once(&world, 9);
}

#[tokio::test]
async fn a_killed_backfill_resumes_and_links_every_issue_exactly_once() {
    // A kill between a reservation and its commit leaves a reservation that a resumed run takes
    // over once stale (the shortest staleness allowed) and resolves by adopting the issue.
    let world = World::aws("[sync]\nreservation_stale_seconds = 90\n").await;
    seed(&world, 40);
    let mut child =
        world.command(&["backfill", "--output", "json"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while world.gitlab_issues().len() < 8 {
        assert!(started.elapsed() < Duration::from_secs(60), "the backfill did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let interrupted = world.json(&["status"]).await.expect(0).json();
    assert_eq!(interrupted["backfill"]["done"], false, "{interrupted}");
    let linked_before = world.gitlab_issues().len();
    assert!(linked_before < 41, "killed before the end");

    let resumed = world.json(&["backfill"]).await.expect(0).json();
    assert_eq!(resumed["resumed"], true, "{resumed}");
    each_linked_once(&world, 40);
    let store = world.dynamo_store();
    for id in std::iter::once(ISSUE).chain(FIRST..FIRST + 40) {
        let link = store.get(QalitaIssueId::new(id).unwrap()).await.unwrap().expect("a link");
        assert_eq!(link.status, LinkStatus::Linked, "QALITA issue {id}");
    }
}

#[tokio::test]
async fn backfill_on_the_embedded_stack() {
    let world = World::local("").await;
    seed(&world, 6);
    let report = world.json(&["backfill"]).await.expect(0).json();
    assert_eq!(report["total"]["created"], 7, "{report}");
    each_linked_once(&world, 6);
    let status = world.json(&["status"]).await.expect(0).json();
    assert_eq!(status["backfill"]["done"], true);
}

/// The rate at gitlab.com's limits (the simulator's defaults: 200 issue creations a minute):
/// `cargo test -p qalita-gitlab --test commands_backfill -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "takes over two minutes: it measures the backfill rate at gitlab.com's limits"]
async fn backfill_rate_at_gitlab_com_limits() {
    const SEEDED: u64 = 449;
    let world = World::aws("").await;
    seed(&world, SEEDED);
    let started = Instant::now();
    let report = world.json(&["backfill"]).await.expect(0).json();
    let elapsed = started.elapsed().as_secs_f64();
    let linked = SEEDED + 1;
    println!(
        "backfill: {linked} issues in {elapsed:.1} s = {:.2} issues/s at gitlab.com's limits ({} pauses, {:.0} s waited)",
        linked as f64 / elapsed,
        report["waits"],
        report["waited_seconds"].as_f64().unwrap_or_default()
    );
    each_linked_once(&world, SEEDED);
    let refused = world.gitlab.requests().iter().filter(|r| r.method == "POST" && r.status == Some(429)).count();
    assert!(refused >= 1, "the limit was reached and honoured");
    // 450 creations at 200 a minute need at least two full windows after the first.
    assert!(elapsed >= 120.0, "faster than GitLab allows: {elapsed} s");
}

/// A tenant's history: `backfill --since` links its open issues only (resolved and muted ones stay
/// history); `--all-statuses` brings them in too, created then closed.
#[tokio::test]
async fn backfill_links_the_open_issues_only_unless_told_all_statuses() {
    let world = World::aws("").await;
    let start = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap().with_timezone(&Utc);
    let statuses = ["open", "resolved", "muted"];
    for i in 0..9u64 {
        let at = (start + TimeDelta::minutes(i as i64)).to_rfc3339();
        world.qalita.insert_issue(json!({
            "id": FIRST + i, "title": format!("Check {i}"), "status": statuses[(i % 3) as usize], "source_id": 57,
            "created_at": at, "updated_at": at,
        }));
    }
    let report = world.json(&["backfill", "--since", "2026-11-01T00:00:00Z"]).await.expect(0).json();
    assert_eq!(
        (report["total"]["created"].as_u64(), report["total"]["skipped"].as_u64()),
        (Some(4), Some(6)),
        "{report}"
    );
    assert_eq!(world.gitlab_issues().len(), 4, "the three open ones and 4821");
    assert_eq!(world.marked(FIRST + 1), 0, "a resolved one is left alone");
    let all = world.json(&["backfill", "--restart", "--all-statuses"]).await.expect(0).json();
    assert_eq!((all["total"]["created"].as_u64(), all["total"]["unchanged"].as_u64()), (Some(6), Some(4)), "{all}");
    each_linked_once(&world, 9);
}
