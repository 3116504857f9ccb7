//! The [`EventQueue`] contract: FIFO order per group, one message of a group in flight at a
//! time, deduplication, visibility, receive counts, and refusal of invalid ids.

use std::time::Duration;

use qalita_gitlab_core::ports::{EventQueue, OutgoingMessage, ReceivedMessage};

fn message(group: &str, dedup: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage { group_id: group.into(), dedup_id: dedup.into(), body: body.into() }
}

/// Receives until `want` messages came or the queue has nothing more to give.
async fn receive_all(queue: &dyn EventQueue, want: usize) -> Vec<ReceivedMessage> {
    let mut all = Vec::new();
    for _ in 0..5 {
        let batch = queue.receive(10, Duration::ZERO).await.expect("receive");
        let empty = batch.is_empty();
        all.extend(batch);
        if all.len() >= want || empty {
            break;
        }
    }
    all
}

/// Runs the whole suite on an empty queue that nothing else uses.
pub async fn run(queue: &dyn EventQueue) {
    sent_messages_come_back_as_sent(queue).await;
    a_second_message_with_the_same_deduplication_id_is_dropped(queue).await;
    messages_of_a_group_come_in_order_and_one_in_flight_blocks_its_group(queue).await;
    a_message_made_visible_again_comes_back_with_a_higher_receive_count(queue).await;
    invalid_ids_are_refused_for_good(queue).await;
}

async fn sent_messages_come_back_as_sent(queue: &dyn EventQueue) {
    queue.send(&message("gitlab:1:1", "c-1", r#"{"v":1,"é":"ü"}"#)).await.expect("send");
    let received = receive_all(queue, 1).await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].body, r#"{"v":1,"é":"ü"}"#);
    assert_eq!(received[0].group_id, "gitlab:1:1");
    assert_eq!(received[0].receive_count, 1);
    queue.delete(&received[0].receipt).await.expect("delete");
    assert!(receive_all(queue, 1).await.is_empty(), "a deleted message never comes back");
}

async fn a_second_message_with_the_same_deduplication_id_is_dropped(queue: &dyn EventQueue) {
    queue.send(&message("gitlab:1:2", "d-1", "first")).await.expect("send");
    queue.send(&message("gitlab:1:2", "d-1", "second")).await.expect("a duplicate is accepted, not refused");
    // Deduplication is only promised within a group: the deployed queue scopes it by group, while
    // a local emulator may scope it by queue; no caller relies on either across groups.
    let received = receive_all(queue, 2).await;
    assert_eq!(received.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["first"]);
    queue.delete(&received[0].receipt).await.expect("delete");
}

async fn messages_of_a_group_come_in_order_and_one_in_flight_blocks_its_group(queue: &dyn EventQueue) {
    for (group, n) in [("gitlab:2:1", 1), ("gitlab:2:1", 2), ("gitlab:2:1", 3), ("qalita:7", 1)] {
        queue.send(&message(group, &format!("o-{group}-{n}"), &format!("{group}#{n}"))).await.expect("send");
    }
    let first = queue.receive(1, Duration::ZERO).await.expect("receive");
    assert_eq!(first.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["gitlab:2:1#1"]);
    // The first message of gitlab:2:1 is in flight: the rest of its group must wait.
    let others = receive_all(queue, 1).await;
    assert_eq!(others.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["qalita:7#1"]);
    queue.delete(&others[0].receipt).await.expect("delete");
    queue.delete(&first[0].receipt).await.expect("delete");
    let rest = receive_all(queue, 2).await;
    assert_eq!(rest.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["gitlab:2:1#2", "gitlab:2:1#3"]);
    for m in rest {
        queue.delete(&m.receipt).await.expect("delete");
    }
}

async fn a_message_made_visible_again_comes_back_with_a_higher_receive_count(queue: &dyn EventQueue) {
    queue.send(&message("gitlab:3:1", "v-1", "retry me")).await.expect("send");
    let first = receive_all(queue, 1).await;
    assert_eq!(first.len(), 1);
    assert!(receive_all(queue, 1).await.is_empty(), "invisible while in flight");
    queue.change_visibility(&first[0].receipt, Duration::ZERO).await.expect("change visibility");
    let again = receive_all(queue, 1).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].body.as_str(), again[0].receive_count), ("retry me", 2));
    queue.delete(&again[0].receipt).await.expect("delete");
}

async fn invalid_ids_are_refused_for_good(queue: &dyn EventQueue) {
    for bad in [message("has space", "x-1", "b"), message("gitlab:4:1", &"k".repeat(129), "b"), message("", "x-2", "b")]
    {
        let error = queue.send(&bad).await.expect_err("an invalid id is refused");
        assert!(!error.is_transient(), "{error}: retrying will not help");
    }
}
