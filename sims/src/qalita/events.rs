//! Change events, as QALITA's backend (or a bridge beside it) would put them on the sync's queue
//! (DESIGN section 6): after each stored change, one envelope per change, sent in the order the
//! changes were made by one task, each with its outcome kept so that a test sees a failed send.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use qalita_gitlab_core::ports::{EventQueue, OutgoingMessage};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::lock;

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitOutcome {
    /// Not sent yet (emission paused, or the send is under way).
    Pending,
    /// The queue took it.
    Sent,
    /// The queue refused it or could not be reached; the event is not sent again.
    Failed(String),
}

/// One change event and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmittedEvent {
    /// `issue.created`, `issue.updated` or `comment.created`.
    pub kind: String,
    /// The issue the event is about.
    pub issue_id: u64,
    /// The message: group `qalita:<issue id>`, deduplication id the envelope's key, the envelope.
    pub message: OutgoingMessage,
    /// Whether it was sent.
    pub outcome: EmitOutcome,
}

impl EmittedEvent {
    /// The envelope, as JSON.
    pub fn envelope(&self) -> Value {
        serde_json::from_str(&self.message.body).unwrap_or_default()
    }
}

#[derive(Default)]
struct State {
    queue: Option<Arc<dyn EventQueue>>,
    paused: bool,
    events: Vec<EmittedEvent>,
    /// The first event not handed to the queue yet.
    next: usize,
}

impl State {
    /// Whether every event that may be sent now has an outcome.
    fn settled(&self) -> bool {
        let unsent = self.events.get(self.next..).unwrap_or_default();
        (self.paused || unsent.is_empty())
            && self.events.iter().take(self.next).all(|e| e.outcome != EmitOutcome::Pending)
    }
}

/// The emitter: events are recorded at once (under the store's lock, so in the order of the
/// changes) and sent by [`Emitter::run`].
#[derive(Default)]
pub(super) struct Emitter {
    state: Mutex<State>,
    /// Wakes the sending task: a new event, or emission resumed.
    wake: Notify,
    /// Wakes those waiting for the sends to settle.
    progress: Notify,
}

impl Emitter {
    /// Sends the events of every later change to `queue`.
    pub fn connect(&self, queue: Arc<dyn EventQueue>) {
        lock(&self.state).queue = Some(queue);
    }

    /// Holds the events of later changes (and those not sent yet) until [`Self::resume`].
    pub fn pause(&self) {
        lock(&self.state).paused = true;
    }

    /// Sends the held events, in order, and the later ones as they come.
    pub fn resume(&self) {
        lock(&self.state).paused = false;
        self.wake.notify_one();
    }

    /// `issue.created` or `issue.updated` with the issue as stored.
    pub fn issue_changed(&self, created: bool, issue: &Value) {
        let Some(id) = issue.get("id").and_then(Value::as_u64) else { return };
        let kind = if created { "issue.created" } else { "issue.updated" };
        self.push(kind, id, json!({"issue": issue}));
    }

    /// `comment.created` with the comment as stored.
    pub fn comment_created(&self, issue_id: u64, comment: &Value) {
        self.push("comment.created", issue_id, json!({"issue_id": issue_id, "comment": comment}));
    }

    fn push(&self, kind: &str, issue_id: u64, payload: Value) {
        let mut state = lock(&self.state);
        if state.queue.is_none() {
            // No bridge: QALITA itself sends nothing.
            return;
        }
        let key = format!("qalita-evt-{}", new_uuid());
        let received_at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
        let envelope = json!({"v": 1, "source": "qalita", "kind": kind, "key": key, "received_at": received_at, "payload": payload});
        let message =
            OutgoingMessage { group_id: format!("qalita:{issue_id}"), dedup_id: key, body: envelope.to_string() };
        state.events.push(EmittedEvent { kind: kind.to_owned(), issue_id, message, outcome: EmitOutcome::Pending });
        drop(state);
        self.wake.notify_one();
    }

    pub fn events(&self) -> Vec<EmittedEvent> {
        lock(&self.state).events.clone()
    }

    /// Waits until every event that may be sent now has an outcome.
    ///
    /// # Panics
    /// When that takes longer than `limit` (a queue that never answers).
    pub async fn settle(&self, limit: Duration) {
        let wait = async {
            loop {
                let progress = self.progress.notified();
                tokio::pin!(progress);
                progress.as_mut().enable();
                if lock(&self.state).settled() {
                    return;
                }
                progress.await;
            }
        };
        if tokio::time::timeout(limit, wait).await.is_err() {
            panic!("the QALITA simulator's events were not all sent within {limit:?}");
        }
    }

    /// Sends the events one at a time, in order, for as long as the simulator runs.
    pub async fn run(&self) {
        loop {
            let next = {
                let mut state = lock(&self.state);
                match (&state.queue, state.events.get(state.next)) {
                    (Some(queue), Some(event)) if !state.paused => {
                        let taken = (state.next, queue.clone(), event.message.clone());
                        state.next += 1;
                        Some(taken)
                    }
                    _ => None,
                }
            };
            let Some((index, queue, message)) = next else {
                self.progress.notify_waiters();
                self.wake.notified().await;
                continue;
            };
            let outcome = match queue.send(&message).await {
                Ok(()) => EmitOutcome::Sent,
                Err(error) => EmitOutcome::Failed(error.to_string()),
            };
            if let Some(event) = lock(&self.state).events.get_mut(index) {
                event.outcome = outcome;
            }
            self.progress.notify_waiters();
        }
    }
}

/// A random version 4 UUID, as a bridge would name its events.
fn new_uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    // Each `RandomState` is seeded from the process's random keys: two of them make 128 random bits.
    let high = RandomState::new().hash_one((count, nanos));
    let low = RandomState::new().hash_one((nanos, count));
    let high = (high & !0xf000) | 0x4000;
    let low = (low & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_distinct_version_4_uuids() {
        let keys: Vec<_> = (0..1000).map(|_| new_uuid()).collect();
        for key in &keys {
            let groups: Vec<_> = key.split('-').map(str::len).collect();
            assert_eq!(groups, vec![8, 4, 4, 4, 12], "{key}");
            assert_eq!(&key[14..15], "4", "{key}");
            assert!(matches!(&key[19..20], "8" | "9" | "a" | "b"), "{key}");
        }
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len());
    }
}
