//! The [`QueueAdmin`] contract: depths count what waits, what is in flight and what is
//! dead-lettered; the dead-letter queue is listed without moving anything, and replayed by group,
//! back to the event queue in order, without being dropped as a duplicate of its first sending.

use std::time::Duration;

use qalita_gitlab_core::ports::{EventQueue, OutgoingMessage, QueueAdmin, QueueDepths, ReceivedMessage};

fn message(group: &str, dedup: &str) -> OutgoingMessage {
    OutgoingMessage { group_id: group.into(), dedup_id: dedup.into(), body: format!(r#"{{"key":"{dedup}","é":1}}"#) }
}

/// Receives and deletes every message the queue gives, in the order given.
async fn drain(queue: &dyn EventQueue) -> Vec<ReceivedMessage> {
    let mut all = Vec::new();
    for _ in 0..20 {
        let batch = queue.receive(10, Duration::ZERO).await.expect("receive");
        if batch.is_empty() {
            break;
        }
        for message in batch {
            queue.delete(&message.receipt).await.expect("delete");
            all.push(message);
        }
    }
    all
}

/// Sends `message` and receives it again and again, never deleting it, until the queue gives up
/// on it and moves it to the dead-letter queue (as a worker failing every time would).
async fn dead_letter(queue: &dyn EventQueue, message: &OutgoingMessage) {
    queue.send(message).await.expect("send");
    for _ in 0..20 {
        let batch = queue.receive(10, Duration::ZERO).await.expect("receive");
        if batch.is_empty() {
            return;
        }
        for received in batch {
            queue.change_visibility(&received.receipt, Duration::ZERO).await.expect("fail it");
        }
    }
    panic!("the queue never gave up on {message:?}: it needs a redrive policy of at most 19 receives");
}

fn bodies_of<'a>(messages: impl IntoIterator<Item = (&'a str, &'a str)>, group: &str) -> Vec<&'a str> {
    messages.into_iter().filter(|(g, _)| *g == group).map(|(_, body)| body).collect()
}

/// Runs the whole suite on `admin`, the administration of the empty event queue `queue` (whose
/// redrive policy gives up on a message after at most 19 receives) and its empty dead-letter queue.
pub async fn run(admin: &dyn QueueAdmin, queue: &dyn EventQueue) {
    empty_queues_have_no_depth_and_nothing_to_replay(admin).await;
    depths_count_the_messages_waiting_and_in_flight(admin, queue).await;
    dead_letters_are_listed_without_moving_them_and_replayed_by_group_in_order(admin, queue).await;
}

async fn empty_queues_have_no_depth_and_nothing_to_replay(admin: &dyn QueueAdmin) {
    assert_eq!(admin.depths().await.expect("depths"), QueueDepths::default());
    assert!(admin.dead_letters().await.expect("list").is_empty());
    assert!(admin.replay_dead_letters(None).await.expect("replay").is_empty());
}

async fn depths_count_the_messages_waiting_and_in_flight(admin: &dyn QueueAdmin, queue: &dyn EventQueue) {
    queue.send(&message("qalita:1", "w-1")).await.expect("send");
    queue.send(&message("qalita:2", "w-2")).await.expect("send");
    assert_eq!(admin.depths().await.expect("depths"), QueueDepths { waiting: 2, in_flight: 0, dead_letters: 0 });

    let taken = queue.receive(1, Duration::ZERO).await.expect("receive");
    assert_eq!(taken.len(), 1);
    assert_eq!(admin.depths().await.expect("depths"), QueueDepths { waiting: 1, in_flight: 1, dead_letters: 0 });

    queue.delete(&taken[0].receipt).await.expect("delete");
    assert_eq!(drain(queue).await.len(), 1);
    assert_eq!(admin.depths().await.expect("depths"), QueueDepths::default());
}

async fn dead_letters_are_listed_without_moving_them_and_replayed_by_group_in_order(
    admin: &dyn QueueAdmin,
    queue: &dyn EventQueue,
) {
    let (first, second, other) = (message("qalita:7", "d-1"), message("qalita:7", "d-2"), message("gitlab:3:4", "d-3"));
    for m in [&first, &second, &other] {
        dead_letter(queue, m).await;
    }
    assert_eq!(admin.depths().await.expect("depths"), QueueDepths { waiting: 0, in_flight: 0, dead_letters: 3 });

    let listed = admin.dead_letters().await.expect("list");
    let pairs = || listed.iter().map(|m| (m.group_id.as_str(), m.body.as_str()));
    assert_eq!(bodies_of(pairs(), "qalita:7"), [first.body.as_str(), second.body.as_str()], "{listed:?}");
    assert_eq!(bodies_of(pairs(), "gitlab:3:4"), [other.body.as_str()], "{listed:?}");
    assert_eq!(admin.dead_letters().await.expect("list").len(), 3, "listing moves nothing");
    assert!(drain(queue).await.is_empty(), "nor sends anything");

    assert!(admin.replay_dead_letters(Some("qalita:9")).await.expect("replay").is_empty(), "a group with none");
    let moved = admin.replay_dead_letters(Some("qalita:7")).await.expect("replay");
    let moved_bodies: Vec<&str> = moved.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(moved_bodies, [first.body.as_str(), second.body.as_str()]);
    let left = admin.dead_letters().await.expect("list");
    assert_eq!(left.iter().map(|m| m.group_id.as_str()).collect::<Vec<_>>(), ["gitlab:3:4"]);

    // Back in the event queue, in order, although their deduplication ids were sent minutes ago.
    let replayed = drain(queue).await;
    let replayed_pairs: Vec<(&str, &str)> = replayed.iter().map(|m| (m.group_id.as_str(), m.body.as_str())).collect();
    assert_eq!(replayed_pairs, [("qalita:7", first.body.as_str()), ("qalita:7", second.body.as_str())]);

    let moved = admin.replay_dead_letters(None).await.expect("replay the rest");
    assert_eq!(moved.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), [other.body.as_str()]);
    assert!(admin.dead_letters().await.expect("list").is_empty());
    assert_eq!(admin.depths().await.expect("depths"), QueueDepths { waiting: 1, in_flight: 0, dead_letters: 0 });
    assert_eq!(drain(queue).await.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), [other.body.as_str()]);
}
