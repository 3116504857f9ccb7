//! The worker loop and the poll loop of `serve`: what Lambda's SQS event source and EventBridge
//! schedule do for the deployed worker. The worker receives batches of up to ten messages, hands
//! them to the worker function's handler and deletes what it did not report failed (a failed one
//! comes back after the back-off the handler set). A request to stop is honoured between batches:
//! the batch in hand is finished, and nothing unfinished is deleted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use qalita_gitlab_core::ports::{EventQueue, ReceivedMessage};
use qalita_gitlab_worker::handler::consume;
use qalita_gitlab_worker::poll::poll;
use qalita_gitlab_worker::reconcile::reconcile;
use qalita_gitlab_worker::upkeep::{self, UpkeepReport};
use tokio::sync::{Notify, watch};

use super::wiring::CurrentDeps;
use crate::embedded::queue::EmbeddedQueue;
use crate::embedded::store::RedbLinkStore;

/// The most messages in a batch (SQS's and the event source's limit).
const BATCH: u8 = 10;
/// While messages are in flight (being retried after a back-off, or held by a worker that died),
/// how often the worker looks whether one became visible again: that happens by time alone, with
/// no change to wake it.
const IN_FLIGHT_LOOK: Duration = Duration::from_secs(1);
/// The pause after the queue failed, before trying again; it doubles while the queue keeps
/// failing, up to [`MAX_QUEUE_ERROR_PAUSE`]. A change of the queue (a delivery accepted: the
/// database works again) ends a pause early.
const QUEUE_ERROR_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between two tries of a failing queue.
const MAX_QUEUE_ERROR_PAUSE: Duration = Duration::from_secs(5);
/// The least time between two log lines saying the queue still fails.
const QUEUE_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// A request to stop, shared by the pipeline's tasks.
#[derive(Debug, Clone)]
pub(crate) struct Stop(watch::Receiver<bool>);

impl Stop {
    /// A stop signal and the switch that raises it.
    pub fn new() -> (watch::Sender<bool>, Stop) {
        let (sender, receiver) = watch::channel(false);
        (sender, Stop(receiver))
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once a stop is requested (or the switch is gone).
    pub async fn wait(self) {
        let mut receiver = self.0;
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

/// What the worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Batches handed to the handler.
    pub batches: u64,
    /// Messages done (deleted).
    pub done: u64,
    /// Messages reported failed (they come back).
    pub retried: u64,
}

/// Receives and processes batches until a stop is requested. A receive is one pass over the queue
/// that is never abandoned half-way (its messages would stay hidden until the visibility timeout);
/// between passes the worker sleeps until the queue changes (a send, a delete, a visibility change,
/// a replay: `changes`), a stop is requested, or, while messages are in flight, a second passed.
/// An idle pipeline so makes no write to the database.
pub(crate) async fn work(
    current: Arc<CurrentDeps>,
    queue: EmbeddedQueue,
    changes: Arc<Notify>,
    stop: Stop,
) -> WorkerReport {
    let mut report = WorkerReport::default();
    let mut failing = Failing::default();
    while !stop.requested() {
        // Registered before the pass, so that a change made during it is not missed.
        let changed = changes.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let received = match queue.receive(BATCH, Duration::ZERO).await {
            Ok(received) => {
                failing.recovered();
                received
            }
            Err(error) => {
                let pause = failing.failed(&error);
                tokio::select! {
                    () = stop.clone().wait() => break,
                    () = &mut changed => continue,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        if !received.is_empty() {
            let deps = current.get().await;
            let (done, retried) = process(deps, &queue, received).await;
            report.batches += 1;
            report.done += done;
            report.retried += retried;
            current.refresh_if_refused().await;
            continue;
        }
        // Nothing receivable. Without a message in flight, only a change can make one receivable.
        let in_flight = match queue.depth().await {
            Ok(depth) => depth.in_flight > 0,
            Err(error) => {
                tracing::warn!(error = %error, "the queue's depth is unreadable; looking again in a second");
                true
            }
        };
        tokio::select! {
            () = stop.clone().wait() => break,
            () = &mut changed => {}
            () = tokio::time::sleep(IN_FLIGHT_LOOK), if in_flight => {}
        }
    }
    report
}

/// A queue that keeps failing: logged when it starts failing, then at most once per
/// [`QUEUE_ERROR_LOG_INTERVAL`], and when it works again; tried again after a growing pause.
#[derive(Default)]
struct Failing {
    since: Option<Instant>,
    tries: u32,
    logged_at: Option<Instant>,
}

impl Failing {
    /// Counts a failure; the pause before the next try.
    fn failed(&mut self, error: &qalita_gitlab_core::ports::QueueError) -> Duration {
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        self.tries = self.tries.saturating_add(1);
        if self.logged_at.is_none_or(|at| now.duration_since(at) >= QUEUE_ERROR_LOG_INTERVAL) {
            self.logged_at = Some(now);
            let error = super::error::describe(error);
            let failing_for_s = now.duration_since(since).as_secs();
            tracing::error!(error = %error, tries = self.tries, failing_for_s, "the queue cannot be read; trying again");
        }
        QUEUE_ERROR_PAUSE
            .saturating_mul(2u32.saturating_pow(self.tries.saturating_sub(1).min(8)))
            .min(MAX_QUEUE_ERROR_PAUSE)
    }

    /// The queue answered.
    fn recovered(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!(failed_for_s = since.elapsed().as_secs(), tries = self.tries, "the queue can be read again");
            *self = Failing::default();
        }
    }
}

/// One batch through the handler, as Lambda's event source runs it (the worker's `consume`:
/// processed messages are deleted, failed ones come back after their back-off). Returns (done,
/// retried).
async fn process(
    deps: Arc<qalita_gitlab_worker::handler::Deps>,
    queue: &EmbeddedQueue,
    received: Vec<ReceivedMessage>,
) -> (u64, u64) {
    let response = consume(deps, queue, &received).await;
    let retried = response.batch_item_failures.len() as u64;
    (received.len() as u64 - retried, retried)
}

/// How long a stop waits for a GitLab reconcile in progress.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What the poll loop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollerReport {
    /// Poll runs finished.
    pub runs: u64,
    /// Issues put on the queue by them.
    pub enqueued: u64,
    /// GitLab issues whose lost change the reconcile applied.
    pub reconciled: u64,
}

/// Polls QALITA now and then every `interval`, and deletes expired records of the store, until a
/// stop is requested. A run stopped half-way loses nothing: the poll moves its cursor only past
/// pages it finished, and the next run reads them again.
pub(crate) async fn poll_loop(
    current: Arc<CurrentDeps>,
    store: RedbLinkStore,
    interval: Duration,
    stop: Stop,
) -> PollerReport {
    let mut report = PollerReport::default();
    loop {
        let deps = current.get().await;
        // A run never overlaps the next one.
        let deadline = Instant::now() + interval;
        // The hooks' health first (at most an hourly read per project), so deliveries resume soon.
        let mut upkeep = UpkeepReport::default();
        upkeep::heal_hooks(&deps, &mut upkeep).await;
        tokio::select! {
            biased;
            () = stop.clone().wait() => return report,
            outcome = poll(&deps, deadline) => {
                report.runs += 1;
                report.enqueued += outcome.enqueued as u64;
            }
        }
        // Then GitLab: what its hook did not deliver (a hook disabled, `serve` down) is made up.
        // It writes, so a stop lets the issue in hand finish (a few seconds) before giving up.
        let run = reconcile(&deps, deadline);
        tokio::pin!(run);
        tokio::select! {
            biased;
            outcome = &mut run => report.reconciled += outcome.synced as u64,
            () = stop.clone().wait() => {
                match tokio::time::timeout(STOP_GRACE, &mut run).await {
                    Ok(outcome) => report.reconciled += outcome.synced as u64,
                    Err(_) => tracing::warn!("the GitLab reconcile was cut by the stop; the next run goes on from its cursor"),
                }
                return report;
            }
        }
        upkeep::check_token(&deps, &mut upkeep).await;
        // The health gauges of `GET /metrics`, from the records the scheduled checks keep.
        let now = chrono::Utc::now();
        qalita_gitlab_core::metrics::health::record_global(&store, &deps.config.projects(), now).await;
        match store.purge_expired().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired log entries deleted"),
            Err(error) => {
                tracing::warn!(error = %error, "expired records not deleted; tried again after the next poll")
            }
        }
        tokio::select! {
            () = stop.clone().wait() => return report,
            () = tokio::time::sleep(interval) => {}
        }
    }
}
