//! Change events, as QALITA's backend (or a bridge beside it) would put them on the sync's queue
//! (DESIGN section 6), or as QALITA's own outbound webhook would POST them to the service's QALITA
//! route: after each stored change, one event per change, sent in the order the changes were made
//! by one task, each with its outcome kept so that a test sees a failed send.
//!
//! QALITA documents neither its webhook's payload nor a signature; the simulator sends the event's
//! name in `event`, the payload the queue envelope would carry beside it, a delivery id in
//! `X-Qalita-Delivery`, and the shared secret in the form the target asks for.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use qalita_gitlab_core::ports::{EventQueue, OutgoingMessage};
use qalita_gitlab_core::webhook::qalita::auth::{hmac_hex, standard_key};
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

/// How a webhook delivery proves itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookProof {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// The secret itself in this header.
    Header(String),
    /// The hex HMAC-SHA256 of the body, `sha256=` prefixed, in this header.
    Hmac(String),
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`.
    StandardWebhooks,
}

/// Where QALITA's outbound webhook sends its events.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// The service's QALITA route, `http://127.0.0.1:<port>/api/v2/integrations/qalita/webhook`.
    pub url: String,
    /// The shared secret.
    pub secret: String,
    /// How each delivery carries it.
    pub proof: WebhookProof,
}

/// Where the events go.
#[derive(Clone)]
enum Sink {
    Queue(Arc<dyn EventQueue>),
    Webhook(WebhookTarget, reqwest::Client),
}

impl Sink {
    /// Sends one event; `Err` says why it failed.
    async fn send(&self, event: &EmittedEvent) -> Result<(), String> {
        match self {
            Sink::Queue(queue) => queue.send(&event.message).await.map_err(|error| error.to_string()),
            Sink::Webhook(target, client) => {
                let envelope = event.envelope();
                let mut body = envelope["payload"].clone();
                body["event"] = envelope["kind"].clone();
                let body = body.to_string();
                let delivery = event.message.dedup_id.clone();
                let mut request = client
                    .post(&target.url)
                    .header("content-type", "application/json")
                    .header("x-qalita-delivery", &delivery);
                request = match &target.proof {
                    WebhookProof::Bearer => request.bearer_auth(&target.secret),
                    WebhookProof::Header(name) => request.header(name.as_str(), &target.secret),
                    WebhookProof::Hmac(name) => {
                        request.header(name.as_str(), format!("sha256={}", hmac_hex(&target.secret, body.as_bytes())))
                    }
                    WebhookProof::StandardWebhooks => {
                        let timestamp = Utc::now().timestamp().to_string();
                        let signature = standard_key(&target.secret).sign(&delivery, &timestamp, body.as_bytes());
                        request
                            .header("webhook-id", &delivery)
                            .header("webhook-timestamp", timestamp)
                            .header("webhook-signature", signature)
                    }
                };
                let response = request.body(body).send().await.map_err(|error| error.to_string())?;
                match response.status() {
                    status if status.is_success() => Ok(()),
                    status => {
                        Err(format!("the webhook answered {status}: {}", response.text().await.unwrap_or_default()))
                    }
                }
            }
        }
    }
}

#[derive(Default)]
struct State {
    sink: Option<Sink>,
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
        lock(&self.state).sink = Some(Sink::Queue(queue));
    }

    /// POSTs the events of every later change to QALITA's webhook route.
    pub fn connect_webhook(&self, target: WebhookTarget) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        lock(&self.state).sink = Some(Sink::Webhook(target, client));
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
        if state.sink.is_none() {
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
                match (&state.sink, state.events.get(state.next)) {
                    (Some(sink), Some(event)) if !state.paused => {
                        let taken = (state.next, sink.clone(), event.clone());
                        state.next += 1;
                        Some(taken)
                    }
                    _ => None,
                }
            };
            let Some((index, sink, event)) = next else {
                self.progress.notify_waiters();
                self.wake.notified().await;
                continue;
            };
            let outcome = match sink.send(&event).await {
                Ok(()) => EmitOutcome::Sent,
                Err(error) => EmitOutcome::Failed(error),
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
