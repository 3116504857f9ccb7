//! A stateful simulator of the GitLab REST v4 subset the sync uses, on a loopback port: issues,
//! notes and users the way GitLab serves them (its JSON, its errors, its pagination), its
//! rate limits (the `RateLimit-*` API budget and the hidden issue- and note-creation budgets),
//! and faults a test switches on (5xx, slow answers, connections closed without an answer).
//!
//! It also answers what an operator's connection test reads: the instance's version, the token's
//! own record (`/personal_access_tokens/self`: scopes, expiry, revocation, all enforced on every
//! request, and its rotation), a project with the caller's role, and the project hooks (created,
//! updated, deleted and tested through the hooks API) each with its auto-disabling state
//! (`alert_status`, `disabled_until`), which follows the hook's real delivery failures.
//!
//! It answers as GitLab does, never as a test would like: tests arrange state through its
//! switches (`add_project`, `delete_issue`, `edit_note`, `inject`, `revoke_token`,
//! `set_access_level`, `set_rate_limits`, `disable_webhook`) and read the outcome through its accessors. Every change is appended to one feed ([`GitlabSim::changes`]), from which the
//! webhook deliveries are built and sent to the configured URL ([`GitlabSim::deliveries`]).

mod access;
mod config;
mod faults;
mod group_hooks_api;
mod hook_payload;
mod hooks_api;
mod in_process;
pub(crate) use in_process::into_reqwest;
mod limits;
mod model;
mod params;
mod record;
mod render;
mod reply;
mod routes;
mod search;
mod server;
mod webhook;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use qalita_gitlab_core::domain::gitlab::{GitlabIssue, GitlabNote};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::kit::{Journal, Loopback, Server, TickClock};
pub use access::level;
pub use config::{DEFAULT_TOKEN, DEFAULT_USER_ID, DEFAULT_USERNAME, RateLimits, SimConfig, SimUser};
pub use faults::{Fault, FaultRule};
pub use model::{Change, ChangeKind};
pub use record::RecordedRequest;
pub use webhook::{Delivery, DeliveryOutcome, HookHealth, OutgoingDelivery, ProjectHook, WebhookConfig, WebhookEvents};

use faults::Faults;
use limits::Limits;
use model::{Actor, Model, NoteEdit};
use webhook::Hooks;

/// Everything the simulator holds, behind one lock so that every request sees and leaves a
/// consistent state.
struct SimState {
    model: Model,
    limits: Limits,
    faults: Faults,
    records: Journal<RecordedRequest>,
    hooks: Hooks,
    search_delay: TimeDelta,
    clock: TickClock,
}

impl SimState {
    /// A simulator's state from its configuration: deliveries go to `jobs`, time comes from `clock`.
    fn new(config: &SimConfig, jobs: tokio::sync::mpsc::UnboundedSender<webhook::Job>, clock: TickClock) -> Self {
        SimState {
            model: Model::new(config),
            limits: Limits::new(config.rate_limits.clone()),
            faults: Faults::default(),
            records: Journal::default(),
            hooks: Hooks::new(config.webhook.clone(), jobs),
            search_delay: TimeDelta::from_std(config.search_delay).unwrap_or(TimeDelta::MAX),
            clock,
        }
    }

    /// The server time of a request: the clock, but at least a millisecond after the previous
    /// request's, so that two changes never share an `updated_at` as GitLab renders it.
    fn tick(&mut self) -> DateTime<Utc> {
        self.clock.tick()
    }
}

struct Shared {
    state: Mutex<SimState>,
    base: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A test that panicked while holding the lock must not hide the state from the others.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running simulator; it stops when dropped.
pub struct GitlabSim {
    shared: Arc<Shared>,
    front: Front,
}

/// How requests reach the simulator and its deliveries leave it.
enum Front {
    /// Served on a loopback port; a task POSTs the deliveries.
    Loopback { _server: Server, hook_task: JoinHandle<()> },
    /// Answered in process ([`GitlabSim::in_process`]); the deliveries wait for
    /// [`GitlabSim::take_deliveries`].
    InProcess { outbox: Mutex<tokio::sync::mpsc::UnboundedReceiver<webhook::Job>> },
}

impl GitlabSim {
    /// Starts a simulator on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(config: SimConfig) -> Self {
        let loopback = Loopback::bind("GitLab").await;
        let (jobs, queue) = tokio::sync::mpsc::unbounded_channel();
        let state = SimState::new(&config, jobs, TickClock::new(TimeDelta::milliseconds(1)));
        let shared = Arc::new(Shared { state: Mutex::new(state), base: format!("http://{}", loopback.address()) });
        let server = loopback.serve(Router::new().fallback(server::handle).with_state(shared.clone()));
        let hook_task = tokio::spawn(webhook::run(shared.clone(), queue));
        GitlabSim { shared, front: Front::Loopback { _server: server, hook_task } }
    }

    /// The instance URL to give the client (`http://127.0.0.1:<port>`; the API is under `/api/v4`).
    pub fn url(&self) -> String {
        self.shared.base.clone()
    }

    /// Adds a project with its id and full path (`group/sub/project`).
    ///
    /// # Panics
    /// When the id or the path is already taken.
    pub fn add_project(&self, id: u64, path: &str) {
        self.shared.lock().model.add_project(id, path);
    }

    /// Adds a group by its full path (`data`, `data/platform`): the projects whose paths start with
    /// it and a slash are its projects, whose events its group hooks receive.
    ///
    /// # Panics
    /// When the id or the path is taken: a mistake in the test.
    pub fn add_group(&self, id: u64, path: &str) {
        let mut state = self.shared.lock();
        assert!(
            !state.model.groups.contains_key(&id) && state.model.group_by_segment(path).is_none(),
            "the simulator already has group {id} or {path}"
        );
        state.model.groups.insert(id, path.to_owned());
    }

    /// Sets a user's role in a group ([`level`]; `level::NO_ACCESS`: not a member, to whom the
    /// group does not exist). Everyone is Owner of every group unless set otherwise.
    pub fn set_group_access_level(&self, group_id: u64, user_id: u64, access: u8) {
        self.shared.lock().model.set_group_access_level(group_id, user_id, access);
    }

    /// The hooks of a group, with their secret and state, by id.
    pub fn group_hooks(&self, group_id: u64) -> Vec<ProjectHook> {
        let state = self.shared.lock();
        let mut hooks: Vec<ProjectHook> = state
            .hooks
            .hooks
            .iter()
            .filter(|hook| hook.group == Some(group_id))
            .map(|hook| ProjectHook {
                config: hook.config.clone(),
                push_events: hook.push_events,
                enable_ssl_verification: hook.enable_ssl_verification,
                health: hook.health.clone(),
            })
            .collect();
        hooks.sort_by_key(|hook| hook.config.id);
        hooks
    }

    /// Adds a user (or renames the user of that id).
    pub fn add_user(&self, id: u64, username: &str, name: &str) {
        self.shared.lock().model.add_user(SimUser::new(id, username, name));
    }

    /// Arms a fault.
    pub fn inject(&self, rule: FaultRule) {
        self.shared.lock().faults.arm(rule);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Replaces the rate limits, as an administrator changing them does; the windows count from
    /// now.
    pub fn set_rate_limits(&self, rate_limits: RateLimits) {
        self.shared.lock().limits = Limits::new(rate_limits);
    }

    /// Deletes an issue behind the service's back (as a person with the rights would); false when
    /// there was none.
    pub fn delete_issue(&self, project_id: u64, iid: u64) -> bool {
        let mut state = self.shared.lock();
        let now = state.tick();
        state.model.delete_issue(project_id, iid, now)
    }

    /// Edits a note's body as its author does on GitLab's page, behind the service's back: the
    /// change is recorded and delivered (a `Note Hook` with action `update`) as an edit through
    /// the API is. False when the body is the same: nothing changes and nothing is delivered.
    ///
    /// # Panics
    /// When there is no such note, it is a system note, or the body is blank: a mistake in the test.
    pub fn edit_note(&self, project_id: u64, iid: u64, note_id: u64, body: &str) -> bool {
        let mut state = self.shared.lock();
        let now = state.tick();
        let author = match state.model.note(project_id, iid, note_id) {
            Ok(note) => note.author,
            Err(reply) => panic!("no note {note_id} on issue {project_id}#{iid} to edit: {reply:?}"),
        };
        let actor = Actor { user: author, event_uuid: None, now };
        let edit = NoteEdit { body: Some(body.to_owned()), confidential: None };
        let changes_before = state.model.changes.len();
        let changed = state
            .model
            .update_note(project_id, iid, note_id, edit, &actor)
            .unwrap_or_else(|reply| panic!("the simulator refuses to edit note {note_id}: {reply:?}"));
        webhook::dispatch(&mut state, changes_before, &self.shared.base);
        changed
    }

    /// An issue as `GET /projects/:id/issues/:iid` renders it.
    pub fn issue_json(&self, project_id: u64, iid: u64) -> Option<Value> {
        let state = self.shared.lock();
        let project = state.model.projects.get(&project_id)?;
        let issue = project.issues.get(&iid)?;
        Some(render::issue(&state.model, project, issue, &self.shared.base, true))
    }

    /// An issue.
    pub fn issue(&self, project_id: u64, iid: u64) -> Option<GitlabIssue> {
        self.issue_json(project_id, iid).map(read_issue)
    }

    /// The issues of a project, by iid.
    pub fn issues(&self, project_id: u64) -> Vec<GitlabIssue> {
        let state = self.shared.lock();
        let Some(project) = state.model.projects.get(&project_id) else { return Vec::new() };
        project
            .issues
            .values()
            .map(|issue| read_issue(render::issue(&state.model, project, issue, &self.shared.base, false)))
            .collect()
    }

    /// The notes of an issue, oldest first, system notes included.
    pub fn notes(&self, project_id: u64, iid: u64) -> Vec<GitlabNote> {
        let state = self.shared.lock();
        let Some(project) = state.model.projects.get(&project_id) else { return Vec::new() };
        let Some(issue) = project.issues.get(&iid) else { return Vec::new() };
        issue
            .notes
            .iter()
            .map(|note| read_note(render::note(&state.model, project, issue, note, &self.shared.base)))
            .collect()
    }

    /// The label names of a project (created on the fly by issue writes).
    pub fn labels(&self, project_id: u64) -> Vec<String> {
        let state = self.shared.lock();
        state.model.projects.get(&project_id).map(|project| project.labels.clone()).unwrap_or_default()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().records.entries()
    }

    /// How many requests had this method and exactly this path (after `/api/v4`, as sent).
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.shared.lock().records.count(method, path)
    }

    /// Sets or removes the test's webhook, which every project shows in its hooks and fires on
    /// its changes (as if it had been created on each); changes made from now on are delivered to
    /// it. A hook of another id than the current one starts healthy. Hooks created through the API
    /// belong to their project and are not touched.
    pub fn set_webhook(&self, webhook: Option<WebhookConfig>) {
        self.shared.lock().hooks.configure(webhook);
    }

    /// The auto-disabling state of the test's webhook (healthy when there is none).
    pub fn webhook_health(&self) -> HookHealth {
        let mut state = self.shared.lock();
        state.hooks.configured_mut().map(|hook| hook.health.clone()).unwrap_or_default()
    }

    /// Disables the test's webhook as GitLab's auto-disabling would have: until `until` (after
    /// four failures), or for good (`None`, after forty).
    pub fn disable_webhook(&self, until: Option<DateTime<Utc>>) {
        let mut state = self.shared.lock();
        if let Some(hook) = state.hooks.configured_mut() {
            hook.health = match until {
                Some(until) => HookHealth { recent_failures: 4, backoff_count: 1, disabled_until: Some(until) },
                None => HookHealth { recent_failures: 40, backoff_count: 0, disabled_until: None },
            };
        }
    }

    /// The hooks a project's hooks list shows (the test's webhook included), with their secret
    /// and state, by id.
    pub fn hooks(&self, project_id: u64) -> Vec<ProjectHook> {
        let state = self.shared.lock();
        let mut hooks: Vec<ProjectHook> = state
            .hooks
            .hooks
            .iter()
            .filter(|hook| hook.serves(project_id))
            .map(|hook| ProjectHook {
                config: hook.config.clone(),
                push_events: hook.push_events,
                enable_ssl_verification: hook.enable_ssl_verification,
                health: hook.health.clone(),
            })
            .collect();
        hooks.sort_by_key(|hook| hook.config.id);
        hooks
    }

    /// Whether a token still authenticates (known, neither revoked nor expired).
    pub fn token_active(&self, token: &str) -> bool {
        let mut state = self.shared.lock();
        let now = state.tick();
        state.model.token(token).is_some_and(|(_, record)| record.active(now))
    }

    /// Sets the scopes of a token (`api`, `read_api`, `read_user`, …).
    ///
    /// # Panics
    /// When the simulator does not know the token.
    pub fn set_token_scopes(&self, token: &str, scopes: &[&str]) {
        self.shared.lock().model.token_mut(token).scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// Sets the day a token expires (it stops working at the start of that day, UTC), or none.
    ///
    /// # Panics
    /// When the simulator does not know the token.
    pub fn set_token_expiry(&self, token: &str, expires_at: Option<NaiveDate>) {
        self.shared.lock().model.token_mut(token).expires_at = expires_at;
    }

    /// Revokes a token: every request made with it is refused from now on.
    ///
    /// # Panics
    /// When the simulator does not know the token.
    pub fn revoke_token(&self, token: &str) {
        self.shared.lock().model.token_mut(token).revoked = true;
    }

    /// Sets a user's role in a project ([`level`]; `level::NO_ACCESS` makes the user a
    /// non-member, to whom the private project does not exist). Everyone is Maintainer of every
    /// project unless set otherwise.
    pub fn set_access_level(&self, project_id: u64, user_id: u64, access: u8) {
        self.shared.lock().model.set_access_level(project_id, user_id, access);
    }

    /// Every webhook delivery, in the order they were made (a duplicate follows its original).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.lock().hooks.deliveries.clone()
    }

    /// The next `times` deliveries are recorded as [`DeliveryOutcome::Dropped`] and never sent.
    pub fn drop_deliveries(&self, times: u32) {
        self.shared.lock().hooks.drop_next(times);
    }

    /// The next `times` deliveries are each sent twice, with the same `Idempotency-Key` and a new
    /// `X-Gitlab-Webhook-UUID`, as "Resend request" does.
    pub fn duplicate_deliveries(&self, times: u32) {
        self.shared.lock().hooks.duplicate_next(times);
    }

    /// The next `times` deliveries wait `delay` before they are sent; the ones behind them wait too.
    pub fn delay_deliveries(&self, times: u32, delay: Duration) {
        self.shared.lock().hooks.delay_next(times, delay);
    }

    /// Holds deliveries back until [`GitlabSim::release_deliveries_reversed`].
    pub fn hold_deliveries(&self) {
        self.shared.lock().hooks.hold();
    }

    /// Sends the held deliveries, the last one first, and stops holding.
    pub fn release_deliveries_reversed(&self) {
        self.shared.lock().hooks.release_reversed();
    }

    /// Every change made, in order: issues created, updated, deleted; notes created, edited.
    pub fn changes(&self) -> Vec<Change> {
        self.shared.lock().model.changes.clone()
    }
}

impl Drop for GitlabSim {
    fn drop(&mut self) {
        if let Front::Loopback { hook_task, .. } = &self.front {
            hook_task.abort();
        }
    }
}

// The accessors read the rendered JSON back with the domain types: that the two agree is checked on
// every access. A disagreement is a bug of one or the other, hence the panics.

fn read_issue(value: Value) -> GitlabIssue {
    serde_json::from_value(value).expect("the simulator renders issues that the domain type reads")
}

fn read_note(value: Value) -> GitlabNote {
    serde_json::from_value(value).expect("the simulator renders notes that the domain type reads")
}
