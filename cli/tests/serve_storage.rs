//! `qalita-gitlab serve` through a storage failure, a full disk simulated under redb's file backend:
//! deliveries get `503` and `/healthz` says why while the disk is full, and once it has room again
//! deliveries are accepted without a restart and every delivery that got a `200` reaches QALITA
//! exactly once. A database file that vanished meanwhile stops `serve` with its own error.

mod serve_support;

use std::time::Duration;

use qalita_gitlab::embedded::DiskFaults;
use qalita_gitlab::serve::{ConfigFrom, EXIT_STORAGE_LOST, EndpointOptions, HEALTH_PATH, RunError, database_path};
use serde_json::Value;
use serve_support::*;

/// `/healthz`: its status and answer.
async fn health(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let answer = client.get(url).send().await.expect("an answer");
    (answer.status().as_u16(), answer.json().await.expect("health as JSON"))
}

#[tokio::test]
async fn a_full_disk_gets_503_and_shows_on_healthz_then_heals_without_a_restart_and_loses_no_acknowledged_delivery() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let faults = DiskFaults::new();
    let options = options(dir.path(), ConfigFrom::Document(sims.config_document()));
    let (serving, queue) = Serving::start_with(&sims, options, EndpointOptions::default(), faults.clone()).await;
    let health_url = serving.webhook_url.replace("/api/v2/integrations/gitlab/webhook", HEALTH_PATH);
    let client = reqwest::Client::new();
    wait_until("the GitLab issue", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    let iid = sims.gitlab_issue_of(ISSUE).expect("the GitLab issue").iid;
    wait_until_quiet(&sims, &queue).await;

    for text in ["Before the disk filled, 1.", "Before the disk filled, 2."] {
        sims.person_comments(iid, text).await;
    }
    wait_until("two notes acknowledged", || sims.notes_answered(200) == 2).await;
    // The worker is through with them (a message in hand when the disk fills would come back
    // after its visibility timeout, as from SQS).
    wait_until_quiet(&sims, &queue).await;

    faults.set_full(true);
    sims.person_comments(iid, "While the disk is full.").await;
    wait_until("the note answered 503", || sims.notes_answered(503) == 1).await;
    let (status, answer) = health(&client, &health_url).await;
    assert_eq!((status, answer["status"].as_str()), (503, Some("error")), "{answer}");
    assert!(answer["reason"].as_str().is_some_and(|r| r.contains("no space left on device")), "{answer}");

    faults.set_full(false);
    let mut healed = (0, Value::Null);
    for _ in 0..100 {
        healed = health(&client, &health_url).await;
        if healed.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!((healed.0, healed.1["status"].as_str()), (200, Some("ok")), "{}", healed.1);
    sims.person_comments(iid, "After the disk had room again.").await;
    wait_until("the third note acknowledged", || sims.notes_answered(200) == 3).await;
    wait_until_quiet(&sims, &queue).await;
    assert_copied_once_in_order(
        &sims,
        &["Before the disk filled, 1.", "Before the disk filled, 2.", "After the disk had room again."]
            .map(String::from),
    );
    serving.stop_within(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_database_file_that_vanished_while_failing_stops_serve_with_the_storage_lost_error() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let faults = DiskFaults::new();
    let options = options(dir.path(), ConfigFrom::Document(sims.config_document()));
    let (serving, queue) = Serving::start_with(&sims, options, EndpointOptions::default(), faults.clone()).await;
    wait_until("the GitLab issue", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    wait_until_quiet(&sims, &queue).await;
    let iid = sims.gitlab_issue_of(ISSUE).expect("the GitLab issue").iid;

    faults.set_full(true);
    sims.person_comments(iid, "While the disk is full.").await;
    wait_until("the note answered 503", || sims.notes_answered(503) == 1).await;
    std::fs::remove_file(database_path(dir.path())).expect("the database file removed");
    faults.set_full(false);

    // The worker's next try finds the file gone; `serve` stops by itself (exit code 4 for the binary).
    let ended = tokio::time::timeout(Duration::from_secs(15), serving.task).await.expect("serve stops by itself");
    let error = ended.expect("the task ends").expect_err("an error");
    assert!(matches!(&error, RunError::StorageLost { reason } if reason.contains("gone")), "{error:?}");
    assert_eq!(EXIT_STORAGE_LOST, 4);
    assert!(!database_path(dir.path()).exists(), "no empty database made in its place");
}
