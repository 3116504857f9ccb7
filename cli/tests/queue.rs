//! What the embedded queue keeps beyond the contract: nothing sent and not deleted is lost across
//! a restart, redrive to the dead-letter queue and replay, the five-minute deduplication window,
//! one group in flight under concurrent receivers, and long polling without busy waiting.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use qalita_gitlab::embedded::EmbeddedDb;
use qalita_gitlab::embedded::queue::{EmbeddedQueue, QueueDepth, QueueOptions};
use qalita_gitlab::embedded::store::RedbLinkStore;
use qalita_gitlab_core::adapters::memory::ManualClock;
use qalita_gitlab_core::domain::link::LinkState;
use qalita_gitlab_core::ports::{Clock, EventQueue, Links, OutgoingMessage, QueueError, ReceivedMessage, SystemClock};

use common::{Scratch, issue};

/// A bound on every test, so that a lost wake-up fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(30);

fn message(group: &str, dedup: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage { group_id: group.into(), dedup_id: dedup.into(), body: body.into() }
}

async fn queue_on(db: &EmbeddedDb, clock: Arc<dyn Clock>, options: QueueOptions) -> EmbeddedQueue {
    EmbeddedQueue::open(db, clock, options).await.expect("open the queue")
}

async fn receive_now(queue: &EmbeddedQueue) -> Vec<ReceivedMessage> {
    queue.receive(10, Duration::ZERO).await.expect("receive")
}

fn bodies(messages: &[ReceivedMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.body.as_str()).collect()
}

#[tokio::test]
async fn unacknowledged_and_in_flight_messages_survive_a_restart() {
    let scratch = Scratch::new();
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let options = QueueOptions { visibility_timeout: Duration::from_secs(60), max_receive_count: 5 };
    let db = scratch.open().await;
    let queue = queue_on(&db, clock.clone(), options).await;
    for (group, body) in [("g1", "a"), ("g1", "b"), ("g2", "c"), ("g3", "d")] {
        queue.send(&message(group, body, body)).await.expect("send");
    }
    let first = queue.receive(1, Duration::ZERO).await.expect("receive");
    assert_eq!(bodies(&first), ["a"]);
    let second = queue.receive(1, Duration::ZERO).await.expect("receive");
    assert_eq!(bodies(&second), ["c"]);
    drop((queue, db));

    let db = scratch.open().await;
    let queue = queue_on(&db, clock.clone(), options).await;
    assert_eq!(queue.depth().await.expect("depth"), QueueDepth { available: 2, in_flight: 2, dead_letters: 0 });
    // A receipt from before the restart still deletes its message.
    queue.delete(&second[0].receipt).await.expect("delete with a receipt from before the restart");
    // `a` is still in flight: its group waits, the others go on.
    let others = receive_now(&queue).await;
    assert_eq!(bodies(&others), ["d"]);
    queue.delete(&others[0].receipt).await.expect("delete");

    clock.advance(TimeDelta::seconds(61));
    let again = queue.receive(1, Duration::ZERO).await.expect("receive");
    assert_eq!((again[0].body.as_str(), again[0].receive_count), ("a", 2), "visible again after its timeout");
    let stale = queue.delete(&first[0].receipt).await.expect_err("the receipt of an earlier receive");
    assert!(matches!(stale, QueueError::Rejected { .. }), "{stale}");
    queue.delete(&again[0].receipt).await.expect("delete");
    assert_eq!(bodies(&receive_now(&queue).await), ["b"]);
}

#[tokio::test]
async fn a_message_received_max_times_goes_to_the_dead_letter_queue_and_replays_from_there() {
    let scratch = Scratch::new();
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let db = scratch.open().await;
    let options = QueueOptions { visibility_timeout: Duration::from_secs(60), max_receive_count: 2 };
    let queue = queue_on(&db, clock.clone(), options).await;
    queue.send(&message("g1", "poison", "poison")).await.expect("send");
    queue.send(&message("g1", "next", "next")).await.expect("send");
    queue.send(&message("g2", "other", "other")).await.expect("send");

    for count in 1..=2 {
        let received = queue.receive(1, Duration::ZERO).await.expect("receive");
        assert_eq!((received[0].body.as_str(), received[0].receive_count), ("poison", count));
        queue.change_visibility(&received[0].receipt, Duration::ZERO).await.expect("fail it");
    }
    // The third receive moves it to the dead-letter queue, and its group goes on.
    let received = receive_now(&queue).await;
    assert_eq!(bodies(&received), ["next", "other"]);
    for m in &received {
        queue.delete(&m.receipt).await.expect("delete");
    }
    let dead = queue.dlq_list().await.expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].group_id.as_str(), dead[0].body.as_str(), dead[0].receive_count), ("g1", "poison", 2));
    assert_eq!(queue.depth().await.expect("depth"), QueueDepth { available: 0, in_flight: 0, dead_letters: 1 });

    assert_eq!(queue.dlq_replay(None, true).await.expect("dry run"), dead, "a dry run names what it would move");
    assert!(queue.dlq_replay(Some("g2"), false).await.expect("replay").is_empty(), "another group");
    assert_eq!(queue.dlq_list().await.expect("list"), dead, "nothing moved");
    assert!(receive_now(&queue).await.is_empty());

    assert_eq!(queue.dlq_replay(Some("g1"), false).await.expect("replay"), dead);
    assert!(queue.dlq_list().await.expect("list").is_empty());
    let replayed = receive_now(&queue).await;
    assert_eq!((replayed[0].body.as_str(), replayed[0].receive_count), ("poison", 1), "a fresh start");
    assert_eq!(replayed[0].message_id, dead[0].message_id);
}

#[tokio::test]
async fn a_deduplication_id_is_dropped_within_five_minutes_of_its_group_only() {
    let scratch = Scratch::new();
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let db = scratch.open().await;
    let queue = queue_on(&db, clock.clone(), QueueOptions::default()).await;
    let consume = async |want: &[&str]| {
        let received = receive_now(&queue).await;
        assert_eq!(bodies(&received), want);
        for m in &received {
            queue.delete(&m.receipt).await.expect("delete");
        }
    };

    queue.send(&message("g1", "d-1", "first")).await.expect("send");
    consume(&["first"]).await;
    clock.advance(TimeDelta::minutes(5) - TimeDelta::seconds(1));
    queue.send(&message("g1", "d-1", "within the window")).await.expect("a duplicate is accepted");
    queue.send(&message("g2", "d-1", "another group")).await.expect("send");
    consume(&["another group"]).await;

    clock.advance(TimeDelta::seconds(1));
    queue.send(&message("g1", "d-1", "after the window")).await.expect("send");
    consume(&["after the window"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_receivers_never_hold_two_messages_of_a_group_and_see_each_group_in_order() {
    const GROUPS: usize = 4;
    const PER_GROUP: usize = 12;
    let scratch = Scratch::new();
    let db = scratch.open().await;
    let queue = queue_on(&db, Arc::new(SystemClock), QueueOptions::default()).await;
    for n in 0..PER_GROUP {
        for g in 0..GROUPS {
            queue.send(&message(&format!("g{g}"), &format!("{g}-{n}"), &n.to_string())).await.expect("send");
        }
    }
    let holders: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen: Arc<Mutex<BTreeMap<String, Vec<usize>>>> = Arc::default();
    let done = Arc::new(AtomicUsize::new(0));

    let receivers = (0..4).map(|receiver| {
        let (queue, holders, seen, done) = (queue.clone(), holders.clone(), seen.clone(), done.clone());
        tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < GROUPS * PER_GROUP {
                let batch = queue.receive(3, Duration::from_millis(100)).await.expect("receive");
                for m in &batch {
                    let holder = *holders.lock().expect("holders").entry(m.group_id.clone()).or_insert(receiver);
                    assert_eq!(holder, receiver, "{} is held by two receivers", m.group_id);
                }
                tokio::task::yield_now().await;
                for m in &batch {
                    let n = m.body.parse().expect("a number");
                    seen.lock().expect("seen").entry(m.group_id.clone()).or_default().push(n);
                }
                // Released before the deletes, which let the next message of the group out.
                for m in &batch {
                    holders.lock().expect("holders").remove(&m.group_id);
                }
                for m in &batch {
                    queue.delete(&m.receipt).await.expect("delete");
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
    });
    let all = join_all(receivers.collect());
    tokio::time::timeout(LIMIT, all).await.expect("every message is processed in time");

    let seen = seen.lock().expect("seen");
    assert_eq!(seen.len(), GROUPS);
    for (group, order) in seen.iter() {
        assert_eq!(*order, (0..PER_GROUP).collect::<Vec<_>>(), "{group} in the order sent, each once");
    }
}

/// Waits for every task, failing on a panic in any.
async fn join_all(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        task.await.expect("a receiver failed");
    }
}

#[tokio::test]
async fn a_waiting_receive_wakes_on_a_send_and_on_a_message_becoming_visible() {
    let scratch = Scratch::new();
    let db = scratch.open().await;
    let options = QueueOptions { visibility_timeout: Duration::from_millis(300), max_receive_count: 5 };
    let queue = queue_on(&db, Arc::new(SystemClock), options).await;

    let started = tokio::time::Instant::now();
    assert!(queue.receive(1, Duration::from_millis(200)).await.expect("receive").is_empty());
    assert!(started.elapsed() >= Duration::from_millis(200), "it waited for the whole wait");

    let waiting = tokio::spawn({
        let queue = queue.clone();
        async move { queue.receive(1, LIMIT).await.expect("receive") }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = tokio::time::Instant::now();
    queue.send(&message("g1", "d-1", "hello")).await.expect("send");
    let received = tokio::time::timeout(LIMIT, waiting).await.expect("woken").expect("the receive task");
    assert_eq!(bodies(&received), ["hello"]);
    assert!(started.elapsed() < Duration::from_secs(5), "woken by the send, not by the end of its wait");

    // Not deleted: it comes back once its visibility timeout ends, with nothing else happening.
    let again = tokio::time::timeout(LIMIT, queue.receive(1, LIMIT)).await.expect("in time").expect("receive");
    assert_eq!((again[0].body.as_str(), again[0].receive_count), ("hello", 2));
    assert!(started.elapsed() >= Duration::from_millis(300), "not before its timeout");
}

#[tokio::test]
async fn out_of_range_requests_are_refused_for_good() {
    let scratch = Scratch::new();
    let db = scratch.open().await;
    let queue = queue_on(&db, Arc::new(SystemClock), QueueOptions::default()).await;
    for max in [0, 11] {
        let error = queue.receive(max, Duration::ZERO).await.expect_err("max is 1 to 10");
        assert!(!error.is_transient(), "{error}");
    }
    queue.send(&message("g1", "d-1", "b")).await.expect("send");
    let received = receive_now(&queue).await;
    let error = queue.change_visibility(&received[0].receipt, Duration::from_secs(12 * 3600 + 1)).await;
    assert!(matches!(error, Err(QueueError::Rejected { .. })), "{error:?}");
    for receipt in ["", "nonsense", "99.1"] {
        let error = queue.delete(receipt).await.expect_err("no such receipt");
        assert!(!error.is_transient(), "{error}");
    }
    let oversized = message("g1", "d-2", &"x".repeat(1024 * 1024 + 1));
    assert!(matches!(queue.send(&oversized).await, Err(QueueError::Rejected { .. })));
}

#[tokio::test]
async fn the_link_store_and_the_queue_share_one_file_across_a_restart() {
    let scratch = Scratch::new();
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let open_both = async || {
        let db = scratch.open().await;
        let store = RedbLinkStore::open(&db, clock.clone(), TimeDelta::days(1)).await.expect("open the store");
        (store, queue_on(&db, clock.clone(), QueueOptions::default()).await)
    };
    let (store, queue) = open_both().await;
    let link = store.create(&LinkState::reserved(issue(1), "t".into(), clock.now())).await.expect("create");
    queue.send(&message("qalita:1", "e-1", "event")).await.expect("send");
    drop((store, queue));

    let (store, queue) = open_both().await;
    assert_eq!(store.get(issue(1)).await.expect("get"), Some(link));
    assert_eq!(bodies(&receive_now(&queue).await), ["event"]);
}
