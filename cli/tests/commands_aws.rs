//! The operator commands end to end on the deployed stack's emulation: the built binary against
//! moto (table, FIFO queues, secrets from the template) and the GitLab and QALITA simulators. Each
//! test asserts the exit code, the output people and scripts read, and the final state of both
//! sides (including that nothing was written where nothing should be).

mod commands_world;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use commands_world::*;
use qalita_gitlab_core::adapters::sqs::SqsQueue;
use qalita_gitlab_core::ports::{EventQueue, OutgoingMessage};
use qalita_gitlab_sims::gitlab::level;
use qalita_gitlab_worker::handler::{Deps, handle_batch};
use serde_json::json;

fn stack(world: &World) -> (&qalita_gitlab_tests::local_aws::LocalAws, &qalita_gitlab_tests::stack::TestStack) {
    match &world.backend {
        Backend::Aws { aws, stack } => (aws, stack),
        Backend::Local => unreachable!("these tests run on moto"),
    }
}

/// The worker's batch handler wired to the world, as its Lambda wires it.
async fn worker(world: &World) -> Arc<Deps> {
    world.aws_worker("").0
}

/// A QALITA change event of `issue` as the worker's SQS batch carries it.
fn qalita_event(issue: serde_json::Value, domain: &str, key: &str) -> SqsEvent {
    let id = issue["id"].as_u64().unwrap();
    let body = json!({"v": 1, "source": "qalita", "kind": "issue.updated", "key": key,
        "received_at": "2026-11-25T10:00:00Z", "payload": {"issue": issue, "severity": "high", "domain": domain}});
    let mut record = SqsMessage::default();
    record.message_id = Some(format!("message-{key}"));
    record.body = Some(body.to_string());
    record.attributes.insert("MessageGroupId".into(), format!("qalita:{id}"));
    record.attributes.insert("ApproximateReceiveCount".into(), "1".into());
    let mut event = SqsEvent::default();
    event.records.push(record);
    event
}

#[tokio::test]
async fn create_issue_twice_makes_one_gitlab_issue_and_prints_its_url() {
    let world = World::aws("").await;
    let first = world.run(&["create-issue", "4821"]).await.expect(0);
    let issue = &world.gitlab.issues(DEFAULT_PROJECT)[0];
    assert!(first.stdout.contains("created") && first.stdout.contains(&issue.web_url), "{first:?}");
    assert_eq!(issue.title, "[QALITA] billing.customer_sites: Invalid Latitude");

    let second = world.json(&["create-issue", "4821"]).await.expect(0).json();
    assert_eq!(second["action"], "unchanged");
    assert_eq!(second["gitlab"]["web_url"], issue.web_url.as_str());
    assert_eq!(world.marked(ISSUE), 1, "one GitLab issue carries the marker");
    assert_eq!(world.gitlab.count("POST", "/projects/data%2Fquality/issues"), 1);
}

#[tokio::test]
async fn create_issue_of_an_issue_qalita_does_not_have_fails_with_exit_1_and_writes_nothing() {
    let world = World::aws("").await;
    let ran = world.run(&["create-issue", "999"]).await.expect(1);
    assert!(ran.stderr.contains("QALITA has no issue 999"), "{ran:?}");
    assert_eq!(world.gitlab_writes(), 0);
    world.run(&["create-issue", "0"]).await.expect(2);
}

#[tokio::test]
async fn explain_shows_the_route_and_the_mapping_and_writes_nothing() {
    let world = World::aws("").await;
    let ran = world.run(&["explain", "4821"]).await.expect(0);
    for expected in [
        "nothing was written",
        "data/quality (none of the 1 routing rules matched: the default project)",
        "[QALITA] billing.customer_sites: Invalid Latitude",
        "qalita",
        "opened (QALITA status \"open\" is open)",
        "mdurand",
        "create an issue in data/quality",
        "<!-- qalita-issue:4821 -->",
    ] {
        assert!(ran.stdout.contains(expected), "{expected:?} missing from {}", ran.stdout);
    }
    assert_eq!((world.gitlab_writes(), world.qalita_writes()), (0, 0), "explain writes nothing");
    world.run(&["link", "show", "4821"]).await.expect(1);

    // Linked, then resolved in QALITA: explain shows the one update the worker would make.
    world.run(&["create-issue", "4821"]).await.expect(0);
    let writes = world.gitlab_writes();
    world.qalita.set_status(ISSUE, "resolved");
    let json = world.json(&["explain", "4821"]).await.expect(0).json();
    assert_eq!(json["written"], false);
    assert_eq!(json["state"], "closed");
    assert_eq!(json["would_write"][0]["write"], "update_issue");
    assert_eq!(json["would_write"][0]["update"]["state_event"], "close");
    assert_eq!(world.gitlab_writes(), writes, "explain wrote nothing to GitLab");
    let link = world.json(&["link", "show", "4821"]).await.expect(0).json();
    // Reserved (1), linked (2), its link back written (3); explain wrote no fourth.
    assert_eq!(link["version"], 3, "the link was not touched by explain");
}

#[tokio::test]
async fn a_severed_link_ignores_events_and_create_issue_links_a_new_gitlab_issue() {
    let world = World::aws("").await;
    world.run(&["link", "sever", "4821"]).await.expect(1);
    world.run(&["create-issue", "4821"]).await.expect(0);
    let old = world.gitlab.issues(DEFAULT_PROJECT)[0].clone();

    let severed = world.run(&["link", "sever", "4821"]).await.expect(0);
    assert!(severed.stdout.contains("link severed") && severed.stdout.contains(&old.web_url), "{severed:?}");
    let shown = world.json(&["link", "show", "4821"]).await.expect(0).json();
    assert_eq!(shown["status"], "severed");
    world.run(&["link", "sever", "4821"]).await.expect(0);

    // Later QALITA changes are not synced to the severed issue.
    world.qalita.set_status(ISSUE, "resolved");
    let deps = worker(&world).await;
    let before = world.gitlab_writes();
    let response = handle_batch(deps, qalita_event(world.qalita.issue(ISSUE).unwrap(), "", "after-sever")).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(world.gitlab_writes(), before, "a severed link is not synced");
    let explained = world.run(&["explain", "4821"]).await.expect(0);
    assert!(explained.stdout.contains("the link is severed"), "{}", explained.stdout);

    let relinked = world.json(&["create-issue", "4821"]).await.expect(0).json();
    assert_eq!(relinked["action"], "created");
    assert_eq!(relinked["replaces"], old.web_url.as_str());
    let issues = world.gitlab.issues(DEFAULT_PROJECT);
    assert_eq!(issues.len(), 2, "the old GitLab issue stays");
    assert_eq!(world.marked(ISSUE), 1, "only the new issue carries the marker");
    let new = issues.iter().find(|i| i.iid != old.iid).unwrap();
    assert_eq!(relinked["gitlab"]["iid"], new.iid.get());
    let kept = world.gitlab.issue(DEFAULT_PROJECT, old.iid.get()).unwrap();
    assert!(kept.description.unwrap().contains("<!-- qalita-issue-severed:4821 -->"));
    assert_eq!(kept.state, old.state, "the old issue is otherwise left as it was");
    let logs = world.run(&["logs", "4821"]).await.expect(0);
    assert!(logs.stdout.contains("severed") && logs.stdout.contains("relink"), "{}", logs.stdout);
}

#[tokio::test]
async fn disable_stops_the_worker_and_create_issue_until_enable() {
    let world = World::aws("").await;
    let status = world.json(&["status"]).await.expect(0).json();
    assert_eq!(status["disabled"], false);
    assert_eq!(status["config_stored"], true);

    let disabled = world.run(&["disable"]).await.expect(0);
    assert!(disabled.stdout.contains("disabled"), "{disabled:?}");
    let status = world.run(&["status"]).await.expect(0);
    assert!(status.stdout.contains("integration: DISABLED"), "{}", status.stdout);
    assert_eq!(world.json(&["status"]).await.expect(0).json()["disabled"], true);

    let deps = worker(&world).await;
    let response = handle_batch(deps.clone(), qalita_event(issue_json("open"), "", "while-disabled")).await;
    assert!(response.batch_item_failures.is_empty(), "acknowledged");
    assert_eq!(world.gitlab_writes(), 0, "nothing written while disabled");
    let refused = world.run(&["create-issue", "4821"]).await.expect(1);
    assert!(refused.stderr.contains("disabled"), "{refused:?}");

    world.run(&["enable"]).await.expect(0);
    assert_eq!(world.json(&["status"]).await.expect(0).json()["disabled"], false);
    let response = handle_batch(deps, qalita_event(issue_json("open"), "", "after-enable")).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(world.marked(ISSUE), 1, "the worker writes again");
}

#[tokio::test]
async fn logs_shows_an_issue_and_every_error_since_a_time() {
    let world = World::aws("").await;
    world.run(&["create-issue", "4821"]).await.expect(0);
    let issue_log = world.run(&["logs", "4821"]).await.expect(0);
    assert!(issue_log.stdout.contains("created http"), "{}", issue_log.stdout);
    let none = world.run(&["logs", "--errors", "--since", "1h"]).await.expect(0);
    assert!(none.stdout.contains("No errors"), "{}", none.stdout);

    // The worker meets a project the token cannot see: it logs the error and drops the event.
    world.gitlab.set_access_level(FINANCE_PROJECT, BOT_USER, level::NO_ACCESS);
    let mut other = issue_json("open");
    other["id"] = 4822.into();
    world.qalita.insert_issue(other.clone());
    handle_batch(worker(&world).await, qalita_event(other, "finance", "finance-4822")).await;

    let errors = world.json(&["logs", "--errors", "--since", "1h"]).await.expect(0).json();
    let entries = errors["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{errors}");
    assert_eq!((entries[0]["issue"].as_u64(), entries[0]["level"].as_str()), (Some(4822), Some("error")));
    assert!(entries[0]["message"].as_str().unwrap().contains("404"), "{errors}");
    let text = world.run(&["logs", "--errors", "--since", "1h"]).await.expect(0);
    assert!(text.stdout.contains("4822") && !text.stdout.contains("created http"), "{}", text.stdout);
    let later = world.json(&["logs", "--errors", "--since", "2099-01-01"]).await.expect(0).json();
    assert_eq!(later["entries"].as_array().unwrap().len(), 0);
    world.run(&["logs", "--since", "yesterday"]).await.expect(2);
}

#[tokio::test]
async fn dlq_list_shows_the_dead_letters_and_replay_moves_them_back_by_group() {
    let world = World::aws("").await;
    let (aws, stack) = stack(&world);
    let dlq = SqsQueue::new(aws.sqs(), stack.dead_letter_url.clone());
    for (group, key) in [("qalita:1", "dead-1"), ("qalita:2", "dead-2")] {
        let body = json!({"v": 1, "source": "qalita", "kind": "issue.updated", "key": key, "received_at": "2026-11-25T10:00:00Z", "payload": {"issue_id": 1}});
        dlq.send(&OutgoingMessage { group_id: group.into(), dedup_id: key.into(), body: body.to_string() })
            .await
            .unwrap();
    }
    let empty = world.run(&["dlq", "replay", "--group", "qalita:9"]).await.expect(0);
    assert!(empty.stdout.contains("nothing to replay"), "{empty:?}");

    let listed = world.json(&["dlq", "list"]).await.expect(0).json();
    assert_eq!(listed["messages"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["messages"][0]["kind"], "issue.updated");
    let again = world.run(&["dlq", "list"]).await.expect(0);
    assert!(again.stdout.contains("2 message(s)"), "listing moves nothing: {again:?}");

    let dry = world.run(&["dlq", "replay", "--group", "qalita:1", "--dry-run"]).await.expect(0);
    assert!(dry.stdout.contains("Would move 1"), "{dry:?}");
    assert_eq!(world.json(&["dlq", "list"]).await.expect(0).json()["messages"].as_array().unwrap().len(), 2);

    let moved = world.json(&["dlq", "replay", "--group", "qalita:1"]).await.expect(0).json();
    assert_eq!(moved["moved"], 1);
    let main = SqsQueue::new(aws.sqs(), stack.queue_url.clone());
    let received = main.receive(10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].group_id, "qalita:1");
    assert!(received[0].body.contains("dead-1"));
    let left = world.json(&["dlq", "list"]).await.expect(0).json();
    assert_eq!(left["messages"][0]["group_id"], "qalita:2");
    assert_eq!(left["messages"].as_array().unwrap().len(), 1);

    world.run(&["dlq", "replay"]).await.expect(0);
    let status = world.json(&["status"]).await.expect(0).json();
    assert_eq!(status["queue"]["dead_letters"], 0, "{status}");
    let empty = world.run(&["dlq", "list"]).await.expect(0);
    assert!(empty.stdout.contains("empty"), "{empty:?}");
}

#[tokio::test]
async fn config_is_validated_diffed_applied_and_shown() {
    let world = World::aws("").await;
    let good = world.write_config("good.toml", &world.document("[sync]\npoll_page_size = 50\n"));
    let valid = world.run(&["config", "validate", path(&good)]).await.expect(0);
    assert!(valid.stdout.contains("valid configuration") && valid.stdout.contains("finance → 43"), "{valid:?}");
    let bad = world.write_config("bad.toml", &world.document("[[routing]]\ndomain = \"x\"\nproject = \"nope\"\n"));
    let invalid = world.json(&["config", "validate", path(&bad)]).await.expect(1).json();
    assert!(invalid["error"].as_str().unwrap().contains("routing[1]"), "{invalid}");
    world.run(&["config", "validate", "/no/such/file.toml"]).await.expect(2);

    // Without a terminal and without --yes, apply refuses and stores nothing.
    let refused = world.run(&["config", "apply", path(&good)]).await.expect(2);
    assert!(refused.stderr.contains("no terminal") && refused.stderr.contains("--yes"), "{refused:?}");
    assert!(!world.run(&["config", "show"]).await.expect(0).stdout.contains("poll_page_size"));
    world.run(&["config", "apply", path(&bad), "--yes"]).await.expect(2);

    let applied = world.run(&["config", "apply", path(&good), "--yes"]).await.expect(0);
    assert!(applied.stdout.contains("+ poll_page_size = 50") && applied.stdout.contains("+ [sync]"), "{applied:?}");
    let same = world.run(&["config", "apply", path(&good), "--yes"]).await.expect(0);
    assert!(same.stdout.contains("nothing to apply"), "{same:?}");
    let shown = world.json(&["config", "show"]).await.expect(0).json();
    assert_eq!(shown["stored"], true);
    assert!(shown["document"].as_str().unwrap().contains("poll_page_size = 50"));
    assert_eq!(shown["summary"]["gitlab"]["default_project"], "data/quality");
}

#[tokio::test]
async fn the_stack_must_be_named_and_reachable() {
    let world = World::aws("").await;
    let (_, stack) = stack(&world);
    let mut bare = std::process::Command::new(env!("CARGO_BIN_EXE_qalita-gitlab"));
    bare.args(["status"]).env_remove("QALITA_GITLAB_TABLE").env_remove("QALITA_GITLAB_LOCAL");
    let output = bare.output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--table"));

    let mut missing = std::process::Command::new(env!("CARGO_BIN_EXE_qalita-gitlab"));
    missing.args(["link", "show", "4821", "--table", "no-such-table"]);
    let output = missing.output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("ResourceNotFoundException"), "{output:?}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut down = std::process::Command::new(env!("CARGO_BIN_EXE_qalita-gitlab"));
    down.args(["status", "--table", &stack.table_name, "--endpoint-url", &format!("http://127.0.0.1:{port}")]);
    let output = down.output().unwrap();
    assert_eq!(output.status.code(), Some(3), "an unreachable AWS endpoint is exit 3: {output:?}");
}

#[tokio::test]
async fn status_shows_the_health_records_and_exits_1_when_an_operator_is_needed() {
    let world = World::aws("").await;
    commands_world::status::status_shows_the_health_records_and_exits_1_when_an_operator_is_needed(&world).await;
}
