//! The operator commands end to end on the embedded stack of `serve` (`--local DIR`): the built
//! binary on a data folder's redb database, against the GitLab and QALITA simulators. The same
//! behaviours as on the deployed stack: one GitLab issue however often it is asked for, explain
//! writes nothing, a severed link is replaced, the switch stops the worker, the log, the
//! dead-letter queue, and the configuration.

mod commands_world;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::TimeDelta;
use commands_world::*;
use qalita_gitlab::embedded::EmbeddedDb;
use qalita_gitlab::embedded::queue::{EmbeddedQueue, QueueOptions};
use qalita_gitlab::embedded::store::RedbLinkStore;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::ports::{EventQueue, OutgoingMessage, SystemClock};
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, level};
use qalita_gitlab_worker::handler::{Deps, handle_batch};
use qalita_gitlab_worker::wiring::{Places, Tokens};
use serde_json::json;

async fn open(world: &World) -> (EmbeddedDb, RedbLinkStore, EmbeddedQueue) {
    let db = EmbeddedDb::open(world.data_dir().join("qalita-gitlab.redb")).await.unwrap();
    let clock = Arc::new(SystemClock);
    let store = RedbLinkStore::open(&db, clock.clone(), TimeDelta::days(1)).await.unwrap();
    let options = QueueOptions { visibility_timeout: Duration::ZERO, max_receive_count: 1 };
    let queue = EmbeddedQueue::open(&db, clock, options).await.unwrap();
    (db, store, queue)
}

/// Runs one QALITA change event through the worker's batch handler on the embedded stack, then
/// closes the database (the binary needs it).
async fn work(world: &World, issue: serde_json::Value, domain: &str, key: &str) -> usize {
    let (db, store, queue) = open(world).await;
    let config = Arc::new(Config::from_document(&world.document(""), |_| None).unwrap());
    let settings = HttpSettings { total_timeout: Duration::from_secs(3), ..HttpSettings::default() };
    let tokens = Tokens { gitlab: SecretString::new(DEFAULT_TOKEN), qalita: SecretString::new(QALITA_TOKEN) };
    let places = Places { store: Arc::new(store), queue: Arc::new(queue), clock: Arc::new(SystemClock) };
    let deps = Arc::new(Deps::build(config, tokens, &settings, places).unwrap());
    let id = issue["id"].as_u64().unwrap();
    let body = json!({"v": 1, "source": "qalita", "kind": "issue.updated", "key": key,
        "received_at": "2026-11-25T10:00:00Z", "payload": {"issue": issue, "severity": "high", "domain": domain}});
    let mut record = SqsMessage::default();
    record.message_id = Some(key.to_owned());
    record.body = Some(body.to_string());
    record.attributes.insert("MessageGroupId".into(), format!("qalita:{id}"));
    let mut event = SqsEvent::default();
    event.records.push(record);
    let failed = handle_batch(deps, event).await.batch_item_failures.len();
    drop(db);
    failed
}

/// On a first deployment the fixture issue (raised before the service first ran) is history:
/// `explain` says which rule keeps it and how to create it anyway, `create-issue` creates it all the
/// same, and `status` shows where the policy starts once the service ran.
#[tokio::test]
async fn explain_names_the_creation_rule_that_keeps_an_old_issue_and_create_issue_creates_it_anyway() {
    let world = World::local("[create]\nmode = \"auto\"").await;
    let status = world.json(&["status"]).await.expect(0).json();
    assert_eq!(status["first_run"], serde_json::Value::Null, "explain and status record nothing");
    let explained = world.json(&["explain", "4821"]).await.expect(0).json();
    assert_eq!(explained["not_created"]["rule"], "create.created_after", "{explained}");
    assert!(explained["not_created"]["message"].as_str().unwrap().contains("create-issue 4821"));
    assert_eq!(explained["would_write"], serde_json::json!([]));
    assert_eq!(world.gitlab_writes() + world.qalita_writes(), 0, "explain writes nothing");
    assert_eq!(world.json(&["status"]).await.expect(0).json()["first_run"], serde_json::Value::Null);
    let created = world.json(&["create-issue", "4821"]).await.expect(0).json();
    assert_eq!(created["action"], "created", "an operator creates what they ask for");
}

#[tokio::test]
async fn create_issue_twice_and_explain_make_one_gitlab_issue_on_the_embedded_stack() {
    let world = World::local("").await;
    let explained = world.json(&["explain", "4821"]).await.expect(0).json();
    assert_eq!(explained["would_write"][0]["write"], "create_issue");
    assert_eq!(explained["would_write"][1]["write"], "create_comment", "then the link back: {explained}");
    assert!(explained["would_write"][1]["content"].as_str().unwrap().starts_with("[GitLab] Tracked in GitLab: "));
    assert_eq!(explained["route"]["project"], "data/quality");
    assert_eq!(world.gitlab_writes() + world.qalita_writes(), 0, "explain writes nothing");

    let first = world.json(&["create-issue", "4821"]).await.expect(0).json();
    assert_eq!(first["action"], "created");
    let link_back = format!("[GitLab] Tracked in GitLab: {}", first["gitlab"]["web_url"].as_str().unwrap());
    let comments = || world.qalita.comments(ISSUE).iter().map(|c| c["content"].clone()).collect::<Vec<_>>();
    assert_eq!(comments(), [serde_json::json!(link_back)], "the GitLab URL, in QALITA");
    let second = world.json(&["create-issue", "4821"]).await.expect(0).json();
    assert_eq!(second["action"], "unchanged");
    assert_eq!(comments().len(), 1, "not written twice");
    let explained = world.json(&["explain", "4821"]).await.expect(0).json();
    assert_eq!(explained["would_write"], serde_json::json!([]), "linked, its URL in QALITA: {explained}");
    assert_eq!(world.marked(ISSUE), 1);
    assert_eq!(world.gitlab.count("POST", "/projects/data%2Fquality/issues"), 1);
    let link = world.json(&["link", "show", "4821"]).await.expect(0).json();
    assert_eq!(link["status"], "linked");
    assert_eq!(link["gitlab"]["web_url"], first["gitlab"]["web_url"]);
}

#[tokio::test]
async fn sever_then_create_issue_links_a_new_gitlab_issue_on_the_embedded_stack() {
    let world = World::local("").await;
    world.run(&["create-issue", "4821"]).await.expect(0);
    world.run(&["link", "sever", "4821"]).await.expect(0);
    assert_eq!(world.json(&["link", "show", "4821"]).await.expect(0).json()["status"], "severed");
    world.qalita.set_status(ISSUE, "resolved");
    let writes = world.gitlab_writes();
    assert_eq!(work(&world, world.qalita.issue(ISSUE).unwrap(), "", "after-sever").await, 0);
    assert_eq!(world.gitlab_writes(), writes, "the severed link is not synced");

    let relinked = world.json(&["create-issue", "4821"]).await.expect(0).json();
    assert_eq!(relinked["action"], "created");
    assert_eq!(world.gitlab.issues(DEFAULT_PROJECT).len(), 2);
    assert_eq!(world.marked(ISSUE), 1);
}

#[tokio::test]
async fn the_switch_the_log_and_the_status_on_the_embedded_stack() {
    let world = World::local("").await;
    world.run(&["disable"]).await.expect(0);
    let status = world.json(&["status"]).await.expect(0).json();
    assert_eq!((status["disabled"].as_bool(), status["stack"]["kind"].as_str()), (Some(true), Some("local")));
    assert_eq!(work(&world, issue_json("open"), "", "while-disabled").await, 0);
    assert_eq!(world.gitlab_writes(), 0, "the worker writes nothing while disabled");
    world.run(&["create-issue", "4821"]).await.expect(1);
    world.run(&["enable"]).await.expect(0);
    assert_eq!(work(&world, issue_json("open"), "", "enabled").await, 0);
    assert_eq!(world.marked(ISSUE), 1);

    world.gitlab.set_access_level(FINANCE_PROJECT, BOT_USER, level::NO_ACCESS);
    let mut other = issue_json("open");
    other["id"] = 4822.into();
    world.qalita.insert_issue(other.clone());
    work(&world, other, "finance", "finance").await;
    let errors = world.json(&["logs", "--errors", "--since", "1h"]).await.expect(0).json();
    let entries = errors["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{errors}");
    assert_eq!(entries[0]["issue"], 4822);
    let all = world.run(&["logs", "--since", "1h"]).await.expect(0);
    assert!(all.stdout.contains("4821") && all.stdout.contains("4822"), "{}", all.stdout);
    let one = world.run(&["logs", "4821"]).await.expect(0);
    assert!(one.stdout.contains("created http") && !one.stdout.contains("4822"), "{}", one.stdout);
}

#[tokio::test]
async fn dlq_list_and_replay_on_the_embedded_stack() {
    let world = World::local("").await;
    {
        let (_db, _store, queue) = open(&world).await;
        for (group, key) in [("qalita:1", "dead-1"), ("qalita:2", "dead-2")] {
            let body = json!({"v": 1, "source": "qalita", "kind": "issue.updated", "key": key, "received_at": "2026-11-25T10:00:00Z", "payload": {"issue_id": 1}});
            queue
                .send(&OutgoingMessage { group_id: group.into(), dedup_id: key.into(), body: body.to_string() })
                .await
                .unwrap();
        }
        // Received once each (the most this queue allows), then dead-lettered by the next receive.
        assert_eq!(queue.receive(10, Duration::ZERO).await.unwrap().len(), 2);
        assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
    }
    let listed = world.json(&["dlq", "list"]).await.expect(0).json();
    assert_eq!(listed["messages"].as_array().unwrap().len(), 2, "{listed}");
    assert!(listed["messages"][0]["dead_lettered_at"].is_string());
    let dry = world.json(&["dlq", "replay", "--dry-run"]).await.expect(0).json();
    assert_eq!((dry["moved"].as_u64(), dry["messages"].as_array().unwrap().len()), (Some(0), 2));
    let moved = world.json(&["dlq", "replay", "--group", "qalita:2"]).await.expect(0).json();
    assert_eq!(moved["moved"], 1);
    // A dead letter needs an operator: exit code 1.
    let status = world.json(&["status"]).await.expect(1).json();
    assert_eq!((status["queue"]["dead_letters"].as_u64(), status["queue"]["waiting"].as_u64()), (Some(1), Some(1)));
    let (_db, _store, queue) = open(&world).await;
    let back = queue.receive(10, Duration::ZERO).await.unwrap();
    assert_eq!(back.iter().map(|m| m.group_id.as_str()).collect::<Vec<_>>(), ["qalita:2"]);
}

#[tokio::test]
async fn secrets_from_a_private_file_a_held_database_and_a_missing_folder() {
    let world = World::local("").await;
    let secrets = world.dir.path().join("secrets.toml");
    std::fs::write(
        &secrets,
        format!("\"qalita-gitlab/gitlab-token\" = \"{DEFAULT_TOKEN}\"\n\"qalita-gitlab/qalita-token\" = \"{QALITA_TOKEN}\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&secrets, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let no_env = World { env: Vec::new(), ..world };
    let missing = no_env.run(&["create-issue", "4821"]).await.expect(2);
    assert!(missing.stderr.contains("QALITA_GITLAB_GITLAB_TOKEN"), "{missing:?}");
    let created = no_env.run(&["create-issue", "4821", "--local-secrets", path(&secrets)]).await.expect(0);
    assert!(created.stdout.contains("created"), "{created:?}");
    std::fs::set_permissions(&secrets, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let open_file = no_env.run(&["status", "--local-secrets", path(&secrets)]).await.expect(2);
    assert!(open_file.stderr.contains("chmod 600"), "{open_file:?}");

    let held = open(&no_env).await;
    let busy = no_env.run(&["status"]).await.expect(3);
    assert!(busy.stderr.contains("already in use"), "{busy:?}");
    drop(held);
    let gone = no_env.dir.path().join("no-such-folder");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_qalita-gitlab"));
    command.args(["status", "--local", path(&gone)]);
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a folder"));
}

/// Runs `args` on a pseudo-terminal (util-linux `script`), answering `answer` to its prompt.
fn on_a_terminal(world: &World, args: &[&str], answer: &str) -> (i32, String) {
    use std::io::Write;
    let mut line = vec![env!("CARGO_BIN_EXE_qalita-gitlab").to_owned()];
    line.extend(args.iter().map(|a| a.to_string()));
    line.extend(world.stack_args());
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux script runs a command on a pseudo-terminal");
    child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[tokio::test]
async fn config_apply_shows_the_diff_on_a_terminal_and_applies_only_when_told_yes() {
    let world = World::local("").await;
    let file = world.write_config("new.toml", &world.document("[comments]\nto_qalita = false\n"));
    let (code, screen) = on_a_terminal(&world, &["config", "apply", path(&file)], "n\n");
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("+ [comments]") && screen.contains("+ to_qalita = false"), "{screen}");
    assert!(screen.contains("Apply? [y/N]") && screen.contains("Not applied."), "{screen}");
    assert!(!world.run(&["config", "show"]).await.expect(0).stdout.contains("to_qalita"));

    let (code, screen) = on_a_terminal(&world, &["config", "apply", path(&file)], "y\n");
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Applied"), "{screen}");
    let shown = world.run(&["config", "show"]).await.expect(0);
    assert!(shown.stdout.contains("to_qalita = false") && shown.stdout.contains("to QALITA false"), "{}", shown.stdout);
}

#[tokio::test]
async fn status_shows_the_health_records_and_exits_1_when_an_operator_is_needed() {
    let world = World::local("").await;
    commands_world::status::status_shows_the_health_records_and_exits_1_when_an_operator_is_needed(&world).await;
}
