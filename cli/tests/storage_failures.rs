//! The embedded database after a storage failure, a full disk simulated by `DiskFaults` under
//! redb's own file backend: calls fail as unavailable (worth retrying) with the reason, the health
//! says why, and once the disk has room again the file is reopened without a restart and nothing
//! committed before the failure is lost. A file that vanished meanwhile is lost for good.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use qalita_gitlab::embedded::queue::{EmbeddedQueue, QueueOptions};
use qalita_gitlab::embedded::store::RedbLinkStore;
use qalita_gitlab::embedded::{DiskFaults, EmbeddedDb, Health};
use qalita_gitlab_core::ports::{EventQueue, OutgoingMessage, Settings, SystemClock};

use common::Scratch;

/// How long a test waits for the database to be reopened (the back-off is at most 5 s).
const PATIENCE: Duration = Duration::from_secs(15);

fn message(group: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage { group_id: group.into(), dedup_id: body.into(), body: body.into() }
}

async fn open(scratch: &Scratch, faults: &DiskFaults) -> (EmbeddedDb, EmbeddedQueue, RedbLinkStore) {
    let db = EmbeddedDb::open_with(&scratch.path, faults.clone()).await.expect("open the database");
    let options = QueueOptions { visibility_timeout: Duration::from_secs(1), max_receive_count: 5 };
    let queue = EmbeddedQueue::open(&db, Arc::new(SystemClock), options).await.expect("open the queue");
    let store = RedbLinkStore::open(&db, Arc::new(SystemClock), chrono::TimeDelta::days(1)).await.expect("the store");
    (db, queue, store)
}

/// Until a read succeeds again (each call after the back-off tries a reopen).
async fn until_it_works(queue: &EmbeddedQueue) {
    let deadline = Instant::now() + PATIENCE;
    while queue.depth().await.is_err() {
        assert!(Instant::now() < deadline, "the database was not reopened within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_full_disk_fails_calls_with_the_reason_until_it_has_room_and_loses_nothing_committed() {
    let scratch = Scratch::new();
    let faults = DiskFaults::new();
    let (db, queue, store) = open(&scratch, &faults).await;
    queue.send(&message("issue-a", "a-1")).await.expect("sent before the disk filled");
    queue.send(&message("issue-b", "b-1")).await.expect("sent before the disk filled");
    let in_hand = queue.receive(1, Duration::ZERO).await.expect("a receive");
    assert_eq!(in_hand.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["a-1"]);

    faults.set_full(true);
    let refused = queue.send(&message("issue-c", "c-1")).await.expect_err("no room");
    assert!(refused.is_transient(), "worth retrying: {refused}");
    let Health::Failing { reason, .. } = db.health() else {
        panic!("the health tells the failure: {:?}", db.health());
    };
    assert!(reason.contains("no space left on device"), "{reason}");
    let deleted = queue.delete(&in_hand[0].receipt).await.expect_err("no room to delete");
    assert!(deleted.is_transient(), "{deleted}");
    let stored = store.set_cursor("poll", "7").await.expect_err("the store shares the file");
    assert!(stored.is_transient(), "{stored}");
    let read = queue.depth().await.expect_err("refused while failing, reads included");
    assert!(read.is_transient(), "{read}");

    faults.set_full(false);
    until_it_works(&queue).await;
    assert_eq!(db.health(), Health::Ok);
    queue.send(&message("issue-d", "d-1")).await.expect("sent after the disk has room again");
    store.set_cursor("poll", "8").await.expect("the store works again");

    // Everything committed is there once: the message in hand comes back after its visibility
    // timeout (its delete failed), the others in order; the refused one was never acknowledged.
    let mut received = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while received.len() < 3 {
        assert!(Instant::now() < deadline, "received only {received:?}");
        for message in queue.receive(10, Duration::from_millis(200)).await.expect("a receive") {
            queue.delete(&message.receipt).await.expect("a delete");
            received.push(message.body);
        }
    }
    received.sort();
    assert_eq!(received, ["a-1", "b-1", "d-1"]);
    assert_eq!(store.cursor("poll").await.expect("the cursor"), Some("8".to_owned()));
    assert!(queue.receive(10, Duration::from_millis(1200)).await.expect("a receive").is_empty(), "nothing twice");
}

#[tokio::test]
async fn a_database_file_that_vanished_while_failing_is_lost_to_the_process() {
    let scratch = Scratch::new();
    let faults = DiskFaults::new();
    let (db, queue, _store) = open(&scratch, &faults).await;
    faults.set_full(true);
    queue.send(&message("issue-a", "a-1")).await.expect_err("no room");
    std::fs::remove_file(&scratch.path).expect("the file removed");
    faults.set_full(false);

    // Never an empty database in its place: the process is told it is lost.
    let lost = tokio::time::timeout(PATIENCE, async {
        loop {
            let _ = queue.depth().await;
            if let Health::Lost { reason } = db.health() {
                return reason;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the loss is found");
    assert!(lost.contains("gone"), "{lost}");
    assert_eq!(tokio::time::timeout(PATIENCE, db.lost()).await.expect("told"), lost);
    assert!(!scratch.path.exists(), "no new file was made");
    assert!(queue.send(&message("issue-b", "b-1")).await.is_err());
}
