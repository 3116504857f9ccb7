//! One SQS batch: messages of different groups are processed concurrently, those of one group in
//! order; once a message of a group fails, the later messages of that group in the batch are
//! reported failed too, so that FIFO order holds. A transient failure goes back to the queue with
//! a back-off from its receive count (at least the wait the server asked for); a permanent one is
//! logged (and written to the integration log) and deleted, never retried forever.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};

use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::link::{LogEntry, LogLevel};
use qalita_gitlab_core::domain::sync::Action;
use qalita_gitlab_core::engine::{Engine, SyncError};
use qalita_gitlab_core::envelope::{Envelope, Source};
use qalita_gitlab_core::events::facts::{FactsError, GitlabIssueFacts, GitlabNoteFacts};
use qalita_gitlab_core::events::gitlab::{read_issue_event, read_note_event};
use qalita_gitlab_core::events::qalita::QalitaEvent;
use qalita_gitlab_core::metrics::{self, Figure, MessageOutcome, Origin};
use qalita_gitlab_core::ports::{CallContext, Clock, EventQueue, LinkStore, QalitaApi};
use qalita_gitlab_core::webhook::EventKind;
use serde_json::value::RawValue;
use tracing::Instrument;

/// What the handler needs, built once per cold start.
pub struct Deps {
    /// The sync engine.
    pub engine: Engine,
    /// QALITA, to fetch an issue an event names only by id.
    pub qalita: Arc<dyn QalitaApi>,
    /// The event queue, to set the back-off of a failed message.
    pub queue: Arc<dyn EventQueue>,
    /// The link store, for the integration log.
    pub store: Arc<dyn LinkStore>,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// The configuration.
    pub config: Arc<Config>,
    /// Set when GitLab or QALITA refused a token (401), or the token was rotated: the function
    /// then reads the secrets again.
    pub credentials_refused: std::sync::atomic::AtomicBool,
    /// GitLab's hooks and token administration (the scheduled run's upkeep).
    pub admin: Arc<dyn qalita_gitlab_core::ports::GitlabAdmin>,
    /// Where a rotated GitLab token is stored; `None` where the deployment may not rotate it.
    pub token_rotation: Option<TokenRotation>,
    /// The queue's receive count at which a failed message goes to the dead-letter queue (the
    /// redrive policy's `maxReceiveCount`), for the metrics; `None` when not known.
    pub max_receive_count: Option<u32>,
    /// What this process has added to the worker's activity record.
    pub noted: qalita_gitlab_core::activity::Noted,
}

/// Where the worker keeps its GitLab token, when the stack lets it rotate the token
/// (`GitlabTokenRotation=on` grants `PutSecretValue` on that secret).
#[derive(Clone)]
pub struct TokenRotation {
    /// The secret store.
    pub store: Arc<dyn qalita_gitlab_core::ports::SecretStore>,
    /// The GitLab token's secret.
    pub secret_id: String,
}

/// Why a message was not processed and must come back.
#[derive(Debug)]
struct Retry {
    /// The least wait.
    after: Option<Duration>,
    /// For the log.
    reason: String,
}

/// Handles one batch and reports the failed messages; then notes it in the worker's activity
/// record (the oldest message's age, the 429s), which `qalita-gitlab status` reads.
pub async fn handle_batch(deps: Arc<Deps>, event: SqsEvent) -> SqsBatchResponse {
    let now = deps.clock.now();
    let oldest = event.records.iter().filter_map(sent_at).min().and_then(|at| (now - at).to_std().ok());
    let response = process_batch(deps.clone(), event).await;
    qalita_gitlab_core::activity::note_batch(&deps.noted, deps.store.as_ref(), now, oldest).await;
    response
}

/// When a message was sent: SQS's `SentTimestamp`, else the envelope's `received_at`.
fn sent_at(message: &SqsMessage) -> Option<DateTime<Utc>> {
    let sent = message.attributes.get("SentTimestamp").and_then(|ms| ms.parse::<i64>().ok());
    sent.and_then(DateTime::from_timestamp_millis).or_else(|| {
        Envelope::<&RawValue>::parse(message.body.as_deref().unwrap_or_default()).ok().map(|e| e.received_at)
    })
}

async fn process_batch(deps: Arc<Deps>, event: SqsEvent) -> SqsBatchResponse {
    // The operator's switch, read once per batch. Unreadable: the batch comes back later rather
    // than writing while the operator may have said stop.
    match qalita_gitlab_core::control::is_disabled(deps.store.as_ref()).await {
        Ok(false) => {}
        Ok(true) => {
            metrics::count_n(Figure::Message(MessageOutcome::NothingToDo), event.records.len() as u64);
            for record in &event.records {
                let id = record.message_id.as_deref().unwrap_or("-");
                tracing::info!(
                    message_id = id,
                    outcome = "skipped",
                    "the integration is disabled (qalita-gitlab enable turns it back on): acknowledged, nothing written"
                );
                // The issue's own log says so too, where the event names it (`qalita-gitlab logs`).
                if let Some(event) = qalita_event_of(record, &deps.config) {
                    let entry = LogEntry {
                        issue: event.issue(),
                        at: deps.clock.now(),
                        level: LogLevel::Warn,
                        kind: "skipped".into(),
                        message: "a QALITA change arrived while the integration was disabled: nothing was written (the poll brings it over once enabled)".into(),
                    };
                    if let Err(error) = deps.store.append_log(&entry).await {
                        tracing::warn!(error = %error, "integration log entry not written");
                    }
                }
            }
            return SqsBatchResponse::default();
        }
        Err(error) => {
            tracing::warn!(error = %error, "the integration switch is unreadable; the batch is retried");
            let mut all = SqsBatchResponse::default();
            event.records.iter().filter_map(|r| r.message_id.clone()).for_each(|id| all.add_failure(id));
            return all;
        }
    }
    // One list per message group, keyed by group id (a message without one is a group of its own),
    // each in batch order. The groups then run concurrently; a group's messages run one by one.
    let mut groups: BTreeMap<String, Vec<SqsMessage>> = BTreeMap::new();
    let all_ids: Vec<String> = event.records.iter().filter_map(|r| r.message_id.clone()).collect();
    for record in event.records {
        let group =
            record.attributes.get("MessageGroupId").cloned().or_else(|| record.message_id.clone()).unwrap_or_default();
        groups.entry(group).or_default().push(record);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (_, messages) in groups {
        let deps = deps.clone();
        tasks.spawn(async move { process_group(&deps, messages).await });
    }
    let mut response = SqsBatchResponse::default();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(failed) => failed.into_iter().for_each(|id| response.add_failure(id)),
            // A group whose task died cannot say which of its messages were done: the whole batch
            // comes back, which is safe since every sync is state-based and idempotent.
            Err(error) => {
                tracing::error!(error = %error, "a message group's task failed; the whole batch is retried");
                let mut all = SqsBatchResponse::default();
                all_ids.into_iter().for_each(|id| all.add_failure(id));
                return all;
            }
        }
    }
    response
}

/// The ids of the messages of a group that must come back.
async fn process_group(deps: &Deps, messages: Vec<SqsMessage>) -> Vec<String> {
    // The sync is state-based: of several QALITA changes of one issue in a batch, only the last
    // needs planning (it carries, or fetches, the newest state). One GitLab write, not one per event.
    let summaries: Vec<_> =
        messages.iter().map(|m| qalita_event_of(m, &deps.config).and_then(|e| e.summary())).collect();
    let superseded = qalita_gitlab_core::plan::batch::superseded(&summaries);
    let mut failed = Vec::new();
    for (index, message) in messages.into_iter().enumerate() {
        let id = message.message_id.clone().unwrap_or_default();
        if !failed.is_empty() {
            // An earlier message of the group failed: this one must not overtake it.
            failed.push(id);
            continue;
        }
        if superseded[index] {
            tracing::info!(message_id = %id, outcome = "superseded", "a later change of the same issue is in this batch");
            metrics::count(Figure::Message(MessageOutcome::NothingToDo));
            continue;
        }
        // Every log line of this message, from the handler or from inside the engine, carries its
        // id, its group and, once read, the issue it is about.
        let group = message.attributes.get("MessageGroupId").map_or("-", String::as_str);
        let span = tracing::info_span!(
            "message",
            message_id = %id,
            group = %group,
            qalita_issue = tracing::field::Empty,
            gitlab_project = tracing::field::Empty,
            gitlab_iid = tracing::field::Empty,
        );
        if let Err(retry) = process_message(deps, &message).instrument(span).await {
            let receive_count =
                message.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
            let wait = backoff(&deps.config, receive_count, retry.after);
            // On its last receive, SQS moves the message to the dead-letter queue instead.
            let last = deps.max_receive_count.is_some_and(|max| receive_count >= max);
            metrics::count(Figure::Message(if last { MessageOutcome::DeadLettered } else { MessageOutcome::Retried }));
            if let Some(receipt) = &message.receipt_handle
                && let Err(error) = deps.queue.change_visibility(receipt, wait).await
            {
                tracing::warn!(message_id = %id, error = %error, "back-off not set; the queue's visibility timeout applies");
            }
            tracing::warn!(message_id = %id, reason = %retry.reason, retry_in_s = wait.as_secs(), receive_count, "message will be retried");
            failed.push(id);
        }
    }
    failed
}

/// The QALITA event a message carries, when it is one this service reads.
fn qalita_event_of(message: &SqsMessage, config: &Config) -> Option<QalitaEvent> {
    let envelope = Envelope::<&RawValue>::parse(message.body.as_deref().unwrap_or_default()).ok()?;
    // The same parse as processing uses: an event that will not be processed supersedes nothing.
    QalitaEvent::parse(&envelope, &config.qalita.shape.fields).ok().flatten()
}

/// Exponential back-off from the receive count, within the configured bounds, and at least what
/// the server asked for.
pub fn backoff(config: &Config, receive_count: u32, server_asked: Option<Duration>) -> Duration {
    let exponent = receive_count.saturating_sub(1).min(20);
    let grown = config.sync.backoff_min.saturating_mul(1u32 << exponent).min(config.sync.backoff_max);
    grown.max(server_asked.unwrap_or_default())
}

/// Processes one message. `Ok` deletes it (done, or refused for good and logged); `Err` brings it
/// back after a back-off.
async fn process_message(deps: &Deps, message: &SqsMessage) -> Result<(), Retry> {
    let started = Instant::now();
    let id = message.message_id.as_deref().unwrap_or("-");
    let body = message.body.as_deref().unwrap_or_default();
    let envelope = match Envelope::<&RawValue>::parse(body) {
        Ok(envelope) => envelope,
        Err(error) => {
            // Retrying cannot fix a message that does not parse: log it (not its body) and drop it.
            tracing::error!(message_id = id, error = %error, outcome = "dropped", "message is not an envelope");
            return dropped();
        }
    };
    let kind = envelope.kind.as_ref();
    match envelope.source {
        Source::Qalita => match QalitaEvent::parse(&envelope, &deps.config.qalita.shape.fields).inspect(|event| {
            if let Some(event) = event {
                tracing::Span::current().record("qalita_issue", event.issue().get());
            }
        }) {
            Ok(Some(QalitaEvent::Comment { issue, comment })) => {
                let result = deps.engine.sync_qalita_comment(issue, &comment, &CallContext::default()).await;
                finish(deps, id, kind, Some(issue), result.map(|o| (o.action, o.reason)), started).await
            }
            Ok(Some(event)) => sync_qalita(deps, id, kind, event, envelope.received_at, started).await,
            Ok(None) => {
                tracing::warn!(
                    message_id = id,
                    kind,
                    outcome = "dropped",
                    "QALITA event kind the worker does not handle"
                );
                dropped()
            }
            Err(error) => {
                // Retrying cannot fix an event that does not say what it is about.
                tracing::error!(message_id = id, kind, error = %error, outcome = "dropped", "QALITA event not readable");
                dropped()
            }
        },
        Source::Gitlab => {
            let call = CallContext {
                gitlab_event_uuid: envelope.delivery.as_ref().and_then(|d| d.event_uuid.as_deref().map(str::to_owned)),
                received_at: Some(envelope.received_at),
            };
            match EventKind::from_name(kind) {
                Some(EventKind::Issue | EventKind::ConfidentialIssue) => {
                    let facts = read_issue_event(envelope.payload)
                        .map_err(|e| FactsError(e.to_string()))
                        .and_then(|event| GitlabIssueFacts::of_issue(&event));
                    let mut facts = match facts {
                        Ok(facts) => {
                            record_gitlab_issue(facts.project_id, facts.iid);
                            facts
                        }
                        Err(error) => {
                            tracing::error!(message_id = id, kind, error = %error, outcome = "dropped", "GitLab issue event is not readable");
                            return dropped();
                        }
                    };
                    let omitted = envelope.delivery.as_ref().is_some_and(|d| d.texts_omitted);
                    if omitted && let Err(retry) = complete_texts(deps, &mut facts).await {
                        return Err(retry);
                    }
                    let result = deps.engine.sync_gitlab_issue(&facts, &call).await;
                    if let Ok(outcome) = &result {
                        record_lag(Origin::Gitlab, facts.updated_at, outcome.action, deps.clock.now());
                    }
                    let issue = match &result {
                        Ok(outcome) => outcome.issue,
                        // A failure is written to the linked issue's log, when there is one.
                        Err(_) => linked_issue(deps, facts.project_id, facts.iid, facts.marked).await,
                    };
                    finish(deps, id, kind, issue, result.map(|o| (o.action, o.reason)), started).await
                }
                Some(EventKind::Note | EventKind::ConfidentialNote) => {
                    let facts = read_note_event(envelope.payload)
                        .map_err(|e| FactsError(e.to_string()))
                        .and_then(|event| GitlabNoteFacts::of_note(&event));
                    let note = match facts {
                        Ok(Some(note)) => {
                            record_gitlab_issue(note.project_id, note.iid);
                            note
                        }
                        Ok(None) => {
                            tracing::info!(
                                message_id = id,
                                kind,
                                outcome = "ignored",
                                "a note on something else than an issue"
                            );
                            metrics::count(Figure::Message(MessageOutcome::NothingToDo));
                            return Ok(());
                        }
                        Err(error) => {
                            tracing::error!(message_id = id, kind, error = %error, outcome = "dropped", "GitLab note event is not readable");
                            return dropped();
                        }
                    };
                    let result = deps.engine.sync_gitlab_note(&note, &call).await;
                    let issue = match &result {
                        Ok(_) => None,
                        Err(_) => linked_issue(deps, note.project_id, note.iid, note.marked).await,
                    };
                    finish(deps, id, kind, issue, result.map(|o| (o.action, o.reason)), started).await
                }
                None => {
                    tracing::warn!(message_id = id, kind, outcome = "dropped", "unknown GitLab event kind");
                    dropped()
                }
            }
        }
        Source::Schedule => {
            tracing::warn!(message_id = id, kind, outcome = "dropped", "event kind the worker does not handle");
            dropped()
        }
    }
}

/// Adds the GitLab issue to the message's span.
fn record_gitlab_issue(project: qalita_gitlab_core::domain::GitlabProjectId, iid: qalita_gitlab_core::domain::Iid) {
    let span = tracing::Span::current();
    span.record("gitlab_project", project.get());
    span.record("gitlab_iid", iid.get());
}

/// The QALITA issue a GitLab issue is linked to, if it can be read.
async fn linked_issue(
    deps: &Deps,
    project: qalita_gitlab_core::domain::GitlabProjectId,
    iid: qalita_gitlab_core::domain::Iid,
    marked: Option<QalitaIssueId>,
) -> Option<QalitaIssueId> {
    deps.engine.link_of_gitlab(project, iid, marked).await.ok().flatten().map(|link| link.qalita_id)
}

/// Reads the description a delivery left out to fit the queue (a very large one) from GitLab:
/// the marker that finds the link is in it, and a two-way description edit must not be missed.
async fn complete_texts(deps: &Deps, facts: &mut GitlabIssueFacts) -> Result<(), Retry> {
    let project = qalita_gitlab_core::domain::gitlab::GitlabProjectRef::Id(facts.project_id);
    match deps.engine.gitlab().get_issue(&project, facts.iid).await {
        Ok(issue) => {
            *facts = facts.clone().with_description_read(issue.description.unwrap_or_default());
            Ok(())
        }
        // Deleted since: nothing to sync.
        Err(qalita_gitlab_core::ports::ApiError::NotFound { .. }) => Ok(()),
        Err(error) => {
            let error = SyncError::from(error);
            match retry_of(deps, &error) {
                Some(retry) => Err(retry),
                None => {
                    tracing::warn!(error = %error, "the description left out of a large delivery cannot be read; the other fields are synced");
                    Ok(())
                }
            }
        }
    }
}

/// Whether a failure may work later, decided here and nowhere else: a transient failure, or a
/// refused token (fixed by a rotation: the function then reads its secrets again), comes back after
/// a back-off; anything else never will.
fn retry_of(deps: &Deps, error: &SyncError) -> Option<Retry> {
    if error.is_auth_failure() {
        deps.credentials_refused.store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::error!(log_kind = qalita_gitlab_core::health::LogKind::CredentialsRefused.as_str(), error = %error, "a token was refused (401): the secrets are read again; put a valid token in the secret if this goes on");
    }
    (error.is_transient() || error.is_auth_failure())
        .then(|| Retry { after: error.retry_after(), reason: error.to_string() })
}

/// Logs the result of a sync: done; back to the queue when it may work later ([`retry_of`]);
/// logged and dropped when it cannot.
async fn finish(
    deps: &Deps,
    id: &str,
    kind: &str,
    issue: Option<QalitaIssueId>,
    result: Result<(Action, String), SyncError>,
    started: Instant,
) -> Result<(), Retry> {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok((action, reason)) => {
            tracing::info!(message_id = id, kind, qalita_issue = ?issue.map(|i| i.get()), outcome = action.as_str(), reason = %reason, latency_ms, "synced");
            metrics::count(Figure::Message(done(action)));
            Ok(())
        }
        Err(error) => {
            if let Some(retry) = retry_of(deps, &error) {
                return Err(retry);
            }
            tracing::error!(message_id = id, kind, error = %error, outcome = "failed", latency_ms, "sync refused for good");
            metrics::count(Figure::Message(MessageOutcome::Failed));
            if let Some(issue) = issue {
                log_failure(deps, issue, &error).await;
            }
            Ok(())
        }
    }
}

/// Syncs the issue of a QALITA issue event. The issue is read first, whether the event carries it
/// or names it only: an event's issue is QALITA's state when it was sent, and people may have
/// changed it since (while the message waited behind others of its group, a back-off or an
/// outage); writing it would undo their change. Its context (source, severity) is the event's.
async fn sync_qalita(
    deps: &Deps,
    id: &str,
    kind: &str,
    event: QalitaEvent,
    received_at: chrono::DateTime<chrono::Utc>,
    started: Instant,
) -> Result<(), Retry> {
    let (issue_id, context, sweep_comments) = match event {
        QalitaEvent::IssueChanged { issue, context, sweep } => (issue.id, context, sweep),
        QalitaEvent::IssueNamed { id, context, sweep } => (id, context, sweep),
        QalitaEvent::Comment { issue, .. } => {
            tracing::error!(message_id = id, kind, qalita_issue = %issue, outcome = "dropped", "a comment event is not an issue event");
            return dropped();
        }
    };
    let issue = match deps.qalita.get_issue(issue_id).await {
        Ok(Some(issue)) => issue,
        Ok(None) => {
            tracing::warn!(message_id = id, kind, qalita_issue = %issue_id, outcome = "dropped", "QALITA says the issue does not exist or is not visible to the token");
            metrics::count(Figure::Message(MessageOutcome::NothingToDo));
            return Ok(());
        }
        // Retry or drop is decided in `finish`, as for every other failure: a refused token
        // is retried after the tokens are read again (a rotation), not dropped.
        Err(error) => return finish(deps, id, kind, Some(issue_id), Err(error.into()), started).await,
    };
    let call = CallContext { received_at: Some(received_at), ..CallContext::default() };
    let result = deps.engine.sync_issue(&issue, &context, &call).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(outcome) => {
            let gitlab =
                outcome.link.as_ref().and_then(|l| l.gitlab.as_ref()).map(|g| g.web_url.clone()).unwrap_or_default();
            tracing::info!(message_id = id, kind, qalita_issue = %issue.id, outcome = outcome.action.as_str(), gitlab = %gitlab, latency_ms, "synced");
            record_lag(Origin::Qalita, issue.updated_at, outcome.action, deps.clock.now());
            if outcome.action == Action::Deleted {
                // The recreation goes behind the changes already queued in the issue's group,
                // the deleted issue's deliveries among them; it sweeps the comments too.
                if let Err(error) = crate::requeue::recreation(deps.queue.as_ref(), deps.clock.now(), issue.id).await {
                    tracing::warn!(message_id = id, qalita_issue = %issue.id, error = %error, "recreation not queued: the next poll queues it");
                }
                metrics::count(Figure::Message(done(outcome.action)));
                return Ok(());
            }
            // Comments QALITA gave no event for (made before the link, or by an instance that
            // sends issue events only) are found when the issue is created or polled.
            if sweep_comments
                && outcome
                    .link
                    .as_ref()
                    .is_some_and(|l| l.status == qalita_gitlab_core::domain::link::LinkStatus::Linked)
            {
                match deps.engine.sync_qalita_comments(issue.id, &CallContext::default()).await {
                    Ok(copied) => {
                        let copied = copied.iter().filter(|o| o.action == Action::Copied).count();
                        tracing::info!(message_id = id, qalita_issue = %issue.id, copied, "comments swept");
                    }
                    Err(error) => {
                        // A refused token retries the message (and the secrets are read again), as
                        // for the issue itself; the issue's sync is state-based, so it costs nothing.
                        if let Some(retry) = retry_of(deps, &error) {
                            return Err(retry);
                        }
                        tracing::error!(message_id = id, qalita_issue = %issue.id, error = %error, "comments not swept");
                        log_failure(deps, issue.id, &error).await;
                    }
                }
            }
            metrics::count(Figure::Message(done(outcome.action)));
            Ok(())
        }
        Err(error) => finish(deps, id, kind, Some(issue.id), Err(error), started).await,
    }
}

/// A message refused for good before any sync (unreadable, of a kind not handled): counted failed
/// and deleted.
fn dropped() -> Result<(), Retry> {
    metrics::count(Figure::Message(MessageOutcome::Failed));
    Ok(())
}

/// The outcome the metrics count of a sync that completed.
fn done(action: Action) -> MessageOutcome {
    if action.is_quiet() { MessageOutcome::NothingToDo } else { MessageOutcome::Applied }
}

/// The sync lag of a write: from the provider's change time (`changed_at`) to `now`.
fn record_lag(origin: Origin, changed_at: Option<DateTime<Utc>>, action: Action, now: DateTime<Utc>) {
    if action.is_quiet() {
        return;
    }
    if let Some(lag) = changed_at.and_then(|at| (now - at).to_std().ok()) {
        metrics::time(Figure::SyncLag(origin), lag);
    }
}

async fn log_failure(deps: &Deps, issue: QalitaIssueId, error: &SyncError) {
    let entry = LogEntry {
        issue,
        at: deps.clock.now(),
        level: LogLevel::Error,
        kind: "failed".into(),
        message: error.to_string(),
    };
    if let Err(store_error) = deps.store.append_log(&entry).await {
        tracing::error!(qalita_issue = %issue, error = %store_error, "integration log entry not written");
    }
}

/// The event Lambda's SQS source makes of received messages (their group and receive count in
/// the attributes the handler reads).
pub fn sqs_event(received: &[qalita_gitlab_core::ports::ReceivedMessage]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for message in received {
        let mut record = SqsMessage::default();
        record.message_id = Some(message.message_id.clone());
        record.receipt_handle = Some(message.receipt.clone());
        record.body = Some(message.body.clone());
        record.attributes.insert("MessageGroupId".into(), message.group_id.clone());
        record.attributes.insert("ApproximateReceiveCount".into(), message.receive_count.to_string());
        event.records.push(record);
    }
    event
}

/// What Lambda's SQS source does with a batch, for a process that polls a queue itself (the local
/// pipeline, the tests): hands the messages to [`handle_batch`], then deletes every message not
/// reported failed (the failed ones come back after the back-off the handler set).
pub async fn consume(
    deps: Arc<Deps>,
    queue: &dyn EventQueue,
    received: &[qalita_gitlab_core::ports::ReceivedMessage],
) -> SqsBatchResponse {
    let response = handle_batch(deps, sqs_event(received)).await;
    for message in received {
        if response.batch_item_failures.iter().any(|f| f.item_identifier == message.message_id) {
            continue;
        }
        if let Err(error) = queue.delete(&message.receipt).await {
            // Not deleted: it comes back and is planned again, which changes nothing (state-based).
            tracing::warn!(message_id = %message.message_id, error = %error, "processed message not deleted");
        }
    }
    response
}
