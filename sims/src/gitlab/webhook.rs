//! The project webhooks of the simulator: after each change made through the API it POSTs the
//! matching `Issue Hook` or `Note Hook` to every hook of the project enabled for it, with GitLab's
//! headers, from one task that sends in order, waits 10 s and never retries; each hook's own
//! auto-disabling state; the record of every delivery; and the faults a test arms on deliveries
//! (drop, duplicate, delay, hold and release in reverse order). The hooks API is in `hooks_api.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use qalita_gitlab_core::webhook::signature::SigningKey;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::hook_payload::{IssueAction, NoteAction, issue_hook, note_hook};
use super::model::{ChangeKind, Model};
use super::{Shared, SimState};

/// How long GitLab waits for the receiver's answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The version GitLab names in `User-Agent`.
const USER_AGENT: &str = "GitLab/18.6.0";

/// Which events the hook is enabled for (all by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookEvents {
    /// `Issue Hook`.
    pub issues: bool,
    /// `Confidential Issue Hook`.
    pub confidential_issues: bool,
    /// `Note Hook`.
    pub notes: bool,
    /// `Confidential Note Hook`: internal notes and notes on confidential issues.
    pub confidential_notes: bool,
}

impl WebhookEvents {
    /// Whether a hook with these events fires on an `X-Gitlab-Event`.
    pub fn fires_on(&self, event: &str) -> bool {
        match event {
            "Issue Hook" => self.issues,
            "Confidential Issue Hook" => self.confidential_issues,
            "Note Hook" => self.notes,
            "Confidential Note Hook" => self.confidential_notes,
            _ => false,
        }
    }
}

impl Default for WebhookEvents {
    fn default() -> Self {
        WebhookEvents { issues: true, confidential_issues: true, notes: true, confidential_notes: true }
    }
}

/// A webhook: where to POST, the secret token, and the events it fires on. The one a test sets
/// with [`super::GitlabSim::set_webhook`] fires on the changes of every project and the hooks API
/// shows it under each project; those made through the hooks API belong to their project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The hook's id in the hooks API (1 unless set).
    pub id: u64,
    /// The target, `http://127.0.0.1:<port>/<path>`.
    pub url: String,
    /// Sent as `X-Gitlab-Token` when set.
    pub secret: Option<String>,
    /// The signing token (`whsec_<base64>`): when set, each delivery is signed as GitLab does
    /// (`webhook-id` = `Idempotency-Key`, `webhook-timestamp`, `webhook-signature: v1,<base64>`).
    pub signing_token: Option<String>,
    /// The enabled events.
    pub events: WebhookEvents,
}

impl WebhookConfig {
    /// A hook to `url` for every event, without a secret.
    pub fn new(url: &str) -> Self {
        WebhookConfig {
            id: 1,
            url: url.to_owned(),
            secret: None,
            signing_token: None,
            events: WebhookEvents::default(),
        }
    }

    /// Sets the hook's id.
    pub fn with_id(mut self, id: u64) -> Self {
        self.id = id;
        self
    }

    /// Sets the secret token.
    pub fn with_secret(mut self, secret: &str) -> Self {
        self.secret = Some(secret.to_owned());
        self
    }

    /// Sets the signing token (GitLab accepts only `whsec_<base64 of 32 bytes>`).
    pub fn with_signing_token(mut self, token: &str) -> Self {
        self.signing_token = Some(token.to_owned());
        self
    }

    /// Sets the enabled events.
    pub fn with_events(mut self, events: WebhookEvents) -> Self {
        self.events = events;
        self
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Queued, delayed or held: not answered yet.
    Pending,
    /// The receiver answered this status (4xx and 5xx are failures to GitLab).
    Answered(u16),
    /// No answer: connection refused, closed, or 10 s passed.
    Failed(String),
    /// Dropped by a fault: never sent.
    Dropped,
    /// Not sent: the hook was disabled (temporarily or for good) when its turn came.
    HookDisabled,
}

impl DeliveryOutcome {
    /// Whether GitLab counts it a success: a 2xx answer.
    pub fn succeeded(&self) -> bool {
        matches!(self, DeliveryOutcome::Answered(status) if (200..300).contains(status))
    }
}

/// How GitLab's auto-disabling sees the hook: 4 consecutive failed deliveries (any 4xx or 5xx, or
/// no answer) disable it for a minute, then twice as long after each further failure, up to a day;
/// 40 consecutive failures disable it until a person enables it again. A success resets it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookHealth {
    /// Failed deliveries since the last success.
    pub recent_failures: u32,
    /// How many times the hook was temporarily disabled in this run of failures.
    pub backoff_count: u32,
    /// Until when the hook is temporarily disabled.
    pub disabled_until: Option<DateTime<Utc>>,
}

/// Failures after which a hook is temporarily disabled.
const FAILURES_BEFORE_BACKOFF: u32 = 4;
/// Failures after which a hook is disabled for good.
const FAILURES_BEFORE_DISABLED: u32 = 40;

impl HookHealth {
    /// GitLab's `alert_status`: `executable`, `temporarily_disabled` or `disabled`.
    pub fn alert_status(&self, now: DateTime<Utc>) -> &'static str {
        if self.recent_failures >= FAILURES_BEFORE_DISABLED {
            "disabled"
        } else if self.disabled_until.is_some_and(|until| until > now) {
            "temporarily_disabled"
        } else {
            "executable"
        }
    }

    /// Whether a delivery may be sent at `now`.
    pub fn executable(&self, now: DateTime<Utc>) -> bool {
        self.alert_status(now) == "executable"
    }

    /// `disabled_until` as the API shows it: only while temporarily disabled.
    pub fn shown_disabled_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.disabled_until.filter(|_| self.alert_status(now) == "temporarily_disabled")
    }

    /// Records the outcome of a delivery sent at `now`.
    fn record(&mut self, success: bool, now: DateTime<Utc>) {
        if success {
            *self = HookHealth::default();
            return;
        }
        self.recent_failures = self.recent_failures.saturating_add(1);
        if self.recent_failures >= FAILURES_BEFORE_BACKOFF && self.recent_failures < FAILURES_BEFORE_DISABLED {
            let minutes = 1_i64 << self.backoff_count.min(11);
            self.disabled_until = Some(now + TimeDelta::minutes(minutes).min(TimeDelta::hours(24)));
            self.backoff_count += 1;
        }
    }
}

/// One delivery, as GitLab's "Recent events" shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The id of the hook it was made by.
    pub hook: u64,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// `X-Gitlab-Event`.
    pub event: String,
    /// The headers sent, except `X-Gitlab-Token`.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Value,
    /// What became of it.
    pub outcome: DeliveryOutcome,
}

impl Delivery {
    /// A header sent, by name without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(known, _)| known.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The status answered, if any.
    pub fn status(&self) -> Option<u16> {
        match self.outcome {
            DeliveryOutcome::Answered(status) => Some(status),
            _ => None,
        }
    }
}

/// A delivery an in-process simulator made ([`super::GitlabSim::take_deliveries`]): the request
/// GitLab would POST to the hook's URL, headers (secret and signature included) and body as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingDelivery {
    /// The id of the hook that sends it.
    pub hook: u64,
    /// The hook's URL.
    pub url: String,
    /// The request's headers.
    pub headers: Vec<(String, String)>,
    /// The request's body.
    pub body: Vec<u8>,
}

impl From<Job> for OutgoingDelivery {
    fn from(job: Job) -> Self {
        OutgoingDelivery { hook: job.hook, url: job.url, headers: job.headers, body: job.body }
    }
}

/// A delivery to send: the index of its record and the request.
pub(super) struct Job {
    record: usize,
    /// The id of the hook it is a delivery of.
    hook: u64,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
}

/// A hook as a test reads it back ([`super::GitlabSim::hooks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectHook {
    /// Its id, URL, secret token and events.
    pub config: WebhookConfig,
    /// `push_events`.
    pub push_events: bool,
    /// `enable_ssl_verification`.
    pub enable_ssl_verification: bool,
    /// Its auto-disabling state.
    pub health: HookHealth,
}

/// One hook of the instance, as the hooks API holds it.
#[derive(Debug, Clone)]
pub(super) struct Hook {
    pub(super) config: WebhookConfig,
    /// The project it belongs to; `None` for the test's hook of [`Hooks::configure`], which every
    /// project shows and fires.
    pub(super) project: Option<u64>,
    /// The group it belongs to, for a group hook: it fires on the events of every project of the
    /// group and its subgroups, and no project's hooks list shows it.
    pub(super) group: Option<u64>,
    /// `push_events` (GitLab's default is on; the simulator has no repository to push to).
    pub(super) push_events: bool,
    /// `enable_ssl_verification` (GitLab's default is on).
    pub(super) enable_ssl_verification: bool,
    pub(super) name: String,
    pub(super) description: String,
    /// Its own auto-disabling state.
    pub(super) health: HookHealth,
    pub(super) created_at: DateTime<Utc>,
}

impl Hook {
    /// A hook as GitLab creates it: push events and SSL verification on.
    pub(super) fn new(config: WebhookConfig, project: Option<u64>, now: DateTime<Utc>) -> Self {
        Hook {
            config,
            project,
            group: None,
            push_events: true,
            enable_ssl_verification: true,
            name: String::new(),
            description: String::new(),
            health: HookHealth::default(),
            created_at: now,
        }
    }

    /// Whether the hook is one of `project`'s own hooks (or the test's hook, which every project
    /// shows): what the project hooks API shows.
    pub(super) fn serves(&self, project: u64) -> bool {
        self.group.is_none() && self.project.is_none_or(|own| own == project)
    }

    /// Whether the hook fires on the changes of `project`: one of its own, or a hook of a group
    /// the project is in.
    pub(super) fn fires_for(&self, model: &Model, project: u64) -> bool {
        self.serves(project) || self.group.is_some_and(|group| model.in_group(project, group))
    }

    /// The test's hook of [`Hooks::configure`].
    fn is_configured(&self) -> bool {
        self.project.is_none() && self.group.is_none()
    }
}

/// A test delivery waiting to be sent once the state's lock is released (GitLab makes it while
/// the API request waits).
pub(super) struct TestDelivery {
    pub(super) job: Job,
}

/// Whose hook a test call tested, for the limit of test calls (per user and project or group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TestScope {
    Project(u64),
    Group(u64),
}

/// The hooks, the record of deliveries and the armed faults.
pub(super) struct Hooks {
    pub(super) hooks: Vec<Hook>,
    pub(super) deliveries: Vec<Delivery>,
    /// When each user tested a hook of each project, for the 5-a-minute limit.
    pub(super) tests: Vec<(u64, TestScope, DateTime<Utc>)>,
    /// The test delivery the current request asked for.
    pub(super) pending_test: Option<TestDelivery>,
    drop_next: u32,
    duplicate_next: u32,
    delay_next: (u32, Duration),
    holding: bool,
    held: Vec<Job>,
    sender: UnboundedSender<Job>,
}

impl Hooks {
    pub(super) fn new(config: Option<WebhookConfig>, sender: UnboundedSender<Job>) -> Self {
        Hooks {
            hooks: config.into_iter().map(|config| Hook::new(config, None, Utc::now())).collect(),
            deliveries: Vec::new(),
            tests: Vec::new(),
            pending_test: None,
            drop_next: 0,
            duplicate_next: 0,
            delay_next: (0, Duration::ZERO),
            holding: false,
            held: Vec::new(),
            sender,
        }
    }

    /// Configures (or removes) the test's hook, which every project shows and fires; another hook
    /// than the one configured starts healthy.
    pub(super) fn configure(&mut self, config: Option<WebhookConfig>) {
        let previous = self.hooks.iter().position(Hook::is_configured);
        let kept = previous.map(|index| self.hooks.remove(index));
        let Some(config) = config else { return };
        let hook = match kept {
            Some(mut hook) if hook.config.id == config.id => {
                hook.config = config;
                hook
            }
            _ => Hook::new(config, None, Utc::now()),
        };
        self.hooks.push(hook);
    }

    /// The test's hook of [`Hooks::configure`].
    pub(super) fn configured_mut(&mut self) -> Option<&mut Hook> {
        self.hooks.iter_mut().find(|hook| hook.is_configured())
    }

    /// A hook of `project` by id.
    pub(super) fn of_project(&self, project: u64, id: u64) -> Option<&Hook> {
        self.hooks.iter().find(|hook| hook.config.id == id && hook.serves(project))
    }

    /// A hook by id.
    pub(super) fn by_id_mut(&mut self, id: u64) -> Option<&mut Hook> {
        self.hooks.iter_mut().find(|hook| hook.config.id == id)
    }

    /// The id the next hook gets.
    pub(super) fn next_id(&self) -> u64 {
        self.hooks.iter().map(|hook| hook.config.id).max().unwrap_or(0) + 1
    }

    /// The next `times` deliveries are recorded as dropped and never sent.
    pub(super) fn drop_next(&mut self, times: u32) {
        self.drop_next = times;
    }

    /// The next `times` deliveries are sent twice, with the same `Idempotency-Key` (a redelivery).
    pub(super) fn duplicate_next(&mut self, times: u32) {
        self.duplicate_next = times;
    }

    /// The next `times` deliveries wait `delay` before they are sent (and hold up those behind).
    pub(super) fn delay_next(&mut self, times: u32, delay: Duration) {
        self.delay_next = (times, delay);
    }

    /// Keeps deliveries back until [`Hooks::release_reversed`].
    pub(super) fn hold(&mut self) {
        self.holding = true;
    }

    /// Sends the held deliveries, last first, and stops holding.
    pub(super) fn release_reversed(&mut self) {
        self.holding = false;
        for job in std::mem::take(&mut self.held).into_iter().rev() {
            self.send(job);
        }
    }

    fn send(&mut self, job: Job) {
        let record = job.record;
        if self.sender.send(job).is_err() {
            self.deliveries[record].outcome = DeliveryOutcome::Failed("the delivery task has stopped".into());
        }
    }

    /// Records one delivery of `body` by the hook `config` with its outcome so far, and returns the
    /// request that makes it (headers signed and the secret added).
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        config: &WebhookConfig,
        event: &str,
        (idempotency_key, event_uuid): (&str, &str),
        instance: &str,
        body: &Value,
        outcome: DeliveryOutcome,
        delay: Duration,
    ) -> Job {
        let bytes = body.to_string().into_bytes();
        let headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("User-Agent".to_owned(), USER_AGENT.to_owned()),
            ("Idempotency-Key".to_owned(), idempotency_key.to_owned()),
            ("X-Gitlab-Event".to_owned(), event.to_owned()),
            ("X-Gitlab-Webhook-UUID".to_owned(), new_uuid()),
            ("X-Gitlab-Instance".to_owned(), instance.to_owned()),
            ("X-Gitlab-Event-UUID".to_owned(), event_uuid.to_owned()),
        ];
        let record = self.deliveries.len();
        self.deliveries.push(Delivery {
            hook: config.id,
            at: Utc::now(),
            event: event.to_owned(),
            headers: headers.clone(),
            body: body.clone(),
            outcome,
        });
        let mut sent = headers;
        if let Some(key) = config.signing_token.as_deref().and_then(|t| SigningKey::parse(t).ok()) {
            // Signed when the delivery is made, over the exact bytes sent.
            let timestamp = Utc::now().timestamp().to_string();
            let signature = key.sign(idempotency_key, &timestamp, &bytes);
            sent.push(("webhook-id".to_owned(), idempotency_key.to_owned()));
            sent.push(("webhook-timestamp".to_owned(), timestamp));
            sent.push(("webhook-signature".to_owned(), signature));
        }
        if let Some(secret) = &config.secret {
            sent.push(("X-Gitlab-Token".to_owned(), secret.clone()));
        }
        Job { record, hook: config.id, url: config.url.clone(), headers: sent, body: bytes, delay }
    }

    /// Records a test delivery of `body` by the hook `config`, to be sent by
    /// [`send_test`] once the request's lock is released (never dropped, held or delayed: a test
    /// is sent at once).
    pub(super) fn test(&mut self, config: &WebhookConfig, event: &str, instance: &str, body: &Value) {
        let key = new_uuid();
        let job =
            self.record(config, event, (&key, &new_uuid()), instance, body, DeliveryOutcome::Pending, Duration::ZERO);
        self.pending_test = Some(TestDelivery { job });
    }

    /// Records one delivery and sends it, or not, as the armed faults say.
    fn deliver(&mut self, config: &WebhookConfig, event: &str, event_uuid: String, instance: &str, body: Value) {
        let idempotency_key = new_uuid();
        let copies = if self.duplicate_next > 0 {
            self.duplicate_next -= 1;
            2
        } else {
            1
        };
        let dropped = self.drop_next > 0;
        self.drop_next = self.drop_next.saturating_sub(1);
        let delay = if self.delay_next.0 > 0 {
            self.delay_next.0 -= 1;
            self.delay_next.1
        } else {
            Duration::ZERO
        };
        for _ in 0..copies {
            let outcome = if dropped { DeliveryOutcome::Dropped } else { DeliveryOutcome::Pending };
            let job = self.record(config, event, (&idempotency_key, &event_uuid), instance, &body, outcome, delay);
            if dropped {
                continue;
            }
            if self.holding {
                self.held.push(job);
            } else {
                self.send(job);
            }
        }
    }
}

/// Delivers the changes from index `from` on to every hook of their project enabled for them.
pub(super) fn dispatch(state: &mut SimState, from: usize, base: &str) {
    for index in from..state.model.changes.len() {
        let change = state.model.changes[index].clone();
        let Some(user) = change.by else { continue };
        let model = &state.model;
        let Some(project) = model.projects.get(&change.project_id) else { continue };
        let Some(issue) = project.issues.get(&change.iid) else { continue };
        let (event, body) = match &change.kind {
            ChangeKind::IssueCreated | ChangeKind::IssueUpdated { .. } => {
                let action = match model.previous.get(&index) {
                    Some(before) => IssueAction::Changed(before),
                    None => IssueAction::Open,
                };
                let midway = model.rendered.get(&index).map(|fields| issue.as_of(fields));
                let body = issue_hook(model, project, midway.as_ref().unwrap_or(issue), action, user, base);
                match issue.confidential {
                    true => ("Confidential Issue Hook", body),
                    false => ("Issue Hook", body),
                }
            }
            ChangeKind::NoteCreated { note_id, internal } | ChangeKind::NoteUpdated { note_id, internal } => {
                let Some(note) = issue.notes.iter().find(|note| note.id == *note_id) else { continue };
                let action = match change.kind {
                    ChangeKind::NoteUpdated { .. } => NoteAction::Update,
                    _ => NoteAction::Create,
                };
                let body = note_hook(model, project, issue, note, action, base);
                match *internal || issue.confidential {
                    true => ("Confidential Note Hook", body),
                    false => ("Note Hook", body),
                }
            }
            // GitLab fires no issue hook when an issue is deleted.
            ChangeKind::IssueDeleted => continue,
        };
        let event_uuid = change.event_uuid.clone().unwrap_or_else(new_uuid);
        let targets: Vec<WebhookConfig> = state
            .hooks
            .hooks
            .iter()
            .filter(|hook| hook.fires_for(&state.model, change.project_id) && hook.config.events.fires_on(event))
            .map(|hook| hook.config.clone())
            .collect();
        for config in targets {
            state.hooks.deliver(&config, event, event_uuid.clone(), base, body.clone());
        }
    }
}

/// Sends the deliveries one after the other, and records what became of each; a hook that is
/// disabled when a delivery's turn comes does not send it, and each outcome moves the hook's
/// auto-disabling state.
pub(super) async fn run(shared: Arc<Shared>, mut jobs: UnboundedReceiver<Job>) {
    while let Some(job) = jobs.recv().await {
        if !job.delay.is_zero() {
            tokio::time::sleep(job.delay).await;
        }
        let executable = {
            let mut state = shared.lock();
            state.hooks.by_id_mut(job.hook).is_none_or(|hook| hook.health.executable(Utc::now()))
        };
        if !executable {
            if let Some(delivery) = shared.lock().hooks.deliveries.get_mut(job.record) {
                delivery.outcome = DeliveryOutcome::HookDisabled;
            }
            continue;
        }
        let outcome = match tokio::time::timeout(TIMEOUT, post(&job)).await {
            Ok(Ok(status)) => DeliveryOutcome::Answered(status),
            Ok(Err(error)) => DeliveryOutcome::Failed(error),
            Err(_) => DeliveryOutcome::Failed("no answer within 10 s".into()),
        };
        let mut state = shared.lock();
        if let Some(hook) = state.hooks.by_id_mut(job.hook) {
            hook.health.record(outcome.succeeded(), Utc::now());
        }
        if let Some(delivery) = state.hooks.deliveries.get_mut(job.record) {
            delivery.outcome = outcome;
        }
    }
}

/// Sends a test delivery (outside the state's lock, as the API request waits for it), records it
/// and moves its hook's state: a success re-enables the hook, as GitLab's test does. The outcome.
pub(super) async fn send_test(shared: &Shared, test: TestDelivery) -> DeliveryOutcome {
    let outcome = match tokio::time::timeout(TIMEOUT, post(&test.job)).await {
        Ok(Ok(status)) => DeliveryOutcome::Answered(status),
        Ok(Err(error)) => DeliveryOutcome::Failed(error),
        Err(_) => DeliveryOutcome::Failed("no answer within 10 s".into()),
    };
    let mut state = shared.lock();
    if let Some(hook) = state.hooks.by_id_mut(test.job.hook) {
        hook.health.record(outcome.succeeded(), Utc::now());
    }
    if let Some(delivery) = state.hooks.deliveries.get_mut(test.job.record) {
        delivery.outcome = outcome.clone();
    }
    outcome
}

/// The message of GitLab's 422 to a failed test delivery.
pub(super) fn failure_message(outcome: &DeliveryOutcome) -> String {
    match outcome {
        DeliveryOutcome::Answered(status) => format!("[{status}] the receiver answered {status}"),
        DeliveryOutcome::Failed(error) => format!("[EXCEPTION] {error}"),
        _ => "[EXCEPTION] not sent".to_owned(),
    }
}

/// One HTTP/1.1 POST on its own connection; the status of the answer.
async fn post(job: &Job) -> Result<u16, String> {
    let rest = job.url.strip_prefix("http://").ok_or_else(|| format!("not an http:// URL: {}", job.url))?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n",
        job.body.len()
    );
    for (name, value) in &job.headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(authority).await.map_err(|e| e.to_string())?;
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    stream.write_all(&job.body).await.map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let mut chunk = [0_u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let read = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("connection closed without an answer".into());
        }
        answer.extend_from_slice(&chunk[..read]);
    }
    let line = String::from_utf8_lossy(&answer);
    line.split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: {}", line.lines().next().unwrap_or_default()))
}

/// A UUID-shaped id (8-4-4-4-12 hex, version 4 and variant bits set), unique in the process:
/// the clock in nanoseconds and a counter.
pub(super) fn new_uuid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        nanos >> 32,
        (nanos >> 16) & 0xffff,
        nanos & 0xfff,
        0x8000 | ((count >> 48) & 0x3fff),
        count & 0xffff_ffff_ffff
    )
}
