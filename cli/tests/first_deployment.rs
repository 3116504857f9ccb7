//! The first deployment on a tenant with years of history, end to end on moto and the simulators:
//! the deployed worker's scheduled runs (poll and reconcile, as its Lambda runs them) over 5,000
//! old QALITA issues write nothing to GitLab; an issue raised afterwards gets its GitLab issue
//! within one run; then the operator's `backfill --since` (the built binary) brings in the old
//! open issues raised since that day, and nothing else.

mod commands_world;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use commands_world::*;
use qalita_gitlab_core::adapters::sqs::SqsQueue;
use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::link::LinkStatus;
use qalita_gitlab_core::ports::EventQueue;
use qalita_gitlab_worker::handler::{Deps, consume};

/// The tenant's history: issues 100,000 to 104,999, one every two hours from 2024-01-01
/// (the last raised in February 2025), open, resolved and muted in turn.
const OLD: u64 = 5_000;
const FIRST_OLD: u64 = 100_000;
const STATUSES: [&str; 3] = ["open", "resolved", "muted"];

fn raised(n: u64) -> DateTime<Utc> {
    let start = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
    start + TimeDelta::hours(2 * n as i64)
}

/// One scheduled run (the poll, then the GitLab reconcile), then the queue consumed to its end.
async fn scheduled_run(deps: &Arc<Deps>, queue: &SqsQueue) -> qalita_gitlab_worker::poll::PollReport {
    let deadline = Instant::now() + Duration::from_secs(120);
    let poll = qalita_gitlab_worker::poll::poll(deps, deadline).await;
    let reconcile = qalita_gitlab_worker::reconcile::reconcile(deps, deadline).await;
    assert_eq!((poll.failed, reconcile.failed), (0, 0), "{poll:?} {reconcile:?}");
    for _ in 0..50 {
        let received = queue.receive(10, Duration::ZERO).await.unwrap();
        if received.is_empty() {
            return poll;
        }
        let response = consume(deps.clone(), queue, &received).await;
        assert!(response.batch_item_failures.is_empty(), "nothing fails");
    }
    panic!("the queue did not drain");
}

#[tokio::test]
async fn five_thousand_old_issues_create_nothing_then_backfill_since_links_the_old_open_ones_only() {
    // The default creation policy: open issues raised after the service first ran.
    let extra = "[create]\nmode = \"auto\"";
    let world = World::aws(extra).await;
    for n in 0..OLD {
        let mut issue = issue_json(STATUSES[(n % 3) as usize]);
        issue["id"] = (FIRST_OLD + n).into();
        issue["created_at"] = raised(n).to_rfc3339().into();
        issue["updated_at"] = "2026-11-24T16:41:37Z".into();
        world.qalita.insert_issue(issue);
    }
    let (deps, queue) = world.aws_worker(extra);

    // Several scheduled runs: every issue read, none created, not one GitLab write.
    let mut kept = 0;
    for _ in 0..3 {
        let report = scheduled_run(&deps, &queue).await;
        assert_eq!(report.enqueued, 0, "{report:?}");
        kept += report.not_created;
    }
    assert!(kept > OLD as usize, "every old issue (and the fixture's) was read and kept: {kept}");
    assert_eq!(world.gitlab_writes(), 0, "no GitLab write at all");
    let status = world.json(&["status"]).await.expect(0).json();
    let first_run = status["first_run"].as_str().expect("status shows the recorded first run").to_owned();
    let first_run = DateTime::parse_from_rfc3339(&first_run).unwrap().with_timezone(&Utc);

    // An issue raised now gets its GitLab issue within one run.
    let mut new = issue_json("open");
    new["id"] = 200_000.into();
    new["created_at"] = (first_run + TimeDelta::minutes(1)).to_rfc3339().into();
    new["updated_at"] = new["created_at"].clone();
    world.qalita.insert_issue(new);
    let report = scheduled_run(&deps, &queue).await;
    assert_eq!(report.enqueued, 1, "{report:?}");
    assert_eq!(world.marked(200_000), 1, "created within one run");
    assert_eq!(world.gitlab_issues().len(), 1, "and nothing else");

    // The operator brings in the history since 2025-02-01: the open issues raised since then
    // (and the fixture's, raised in November 2026), nothing resolved or muted, nothing older.
    let since = DateTime::parse_from_rfc3339("2025-02-01T00:00:00Z").unwrap().with_timezone(&Utc);
    let report = world.json(&["backfill", "--since", "2025-02-01"]).await.expect(0).json();
    let brought: Vec<u64> = (0..OLD)
        .filter(|n| raised(*n) >= since && STATUSES[(n % 3) as usize] == "open")
        .map(|n| FIRST_OLD + n)
        .collect();
    assert_eq!(report["total"]["created"], brought.len() + 1, "{report}");
    for n in 0..OLD {
        let id = FIRST_OLD + n;
        let expected = usize::from(brought.contains(&id));
        assert_eq!(world.marked(id), expected, "QALITA issue {id}, raised {}", raised(n));
    }
    assert_eq!(world.marked(ISSUE), 1);
    assert_eq!(world.gitlab_issues().len(), brought.len() + 2, "no other GitLab issue");
    let store = world.dynamo_store();
    for id in brought.iter().chain([&ISSUE, &200_000]) {
        let link = store.get(QalitaIssueId::new(*id).unwrap()).await.unwrap().expect("linked");
        assert_eq!(link.status, LinkStatus::Linked, "{id}");
    }

    // The next scheduled run finds everything in sync: no GitLab write.
    let writes = world.gitlab_writes();
    scheduled_run(&deps, &queue).await;
    assert_eq!(world.gitlab_writes(), writes, "a run after the backfill writes nothing to GitLab");
}
