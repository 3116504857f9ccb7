//! A simulator of the QALITA REST API subset the sync uses (DESIGN section 6), on a loopback port,
//! in one of two dialects ([`Dialect`]: the first, bearer authentication, offset paging, 204 No
//! Content for a missing object; the second, an API key, page/size paging, 404), each with its
//! OpenAPI document at `/openapi.json`: issues listed newest first by creation with no "updated
//! since" filter, comments, users, sources (the datasets issues are about), FastAPI's answers to invalid requests, faults switchable at run
//! time, a record of every request, and, once connected to a queue, the change events a QALITA
//! backend or bridge would send. Tests act on it as QALITA users would (insert, change, comment,
//! remove); what it answers follows from that state, never from what a test expects.

mod api;
mod comments;
mod dialect;
mod events;
mod fastapi;
mod faults;
mod in_process;
mod journal;
mod openapi;
mod routes;
mod store;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use qalita_gitlab_core::ports::EventQueue;
use serde_json::Value;
use tokio::task::JoinHandle;

use self::dialect::Kind;
pub use self::dialect::{Dialect, SECOND_DEFAULT_SIZE, SECOND_MAX_SIZE};
pub use self::events::{EmitOutcome, EmittedEvent, WebhookProof, WebhookTarget};
pub use self::faults::Fault;
pub use self::journal::RecordedRequest;
pub use self::store::QalitaJson;
use crate::kit::{FaultRules, Journal, Loopback, Server};

/// How the first dialect sends a list (of issues, comments or users): QALITA's own list is a bare
/// array; some instances or versions may wrap it. (The second dialect always sends `{"data": […],
/// "total": n}`.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListEnvelope {
    /// `[…]`.
    #[default]
    Bare,
    /// `{"items": […], "total": n}`.
    Items,
    /// `{"data": […]}`.
    Data,
}

/// What differs between QALITA instances. `SimOptions::from(Dialect::Second)` (or
/// `QalitaSim::start_with(token, Dialect::Second)`) is the default in the second dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOptions {
    /// The API's dialect: its authentication, paging, field names and answers.
    pub dialect: Dialect,
    /// The prefix of every route: `/api/v2` (platform 3.x also serves `/api/v3`).
    pub api_prefix: String,
    /// How lists are sent (first dialect only).
    pub list_envelope: ListEnvelope,
    /// The page size when the request names no `limit` (first dialect only; the second's is
    /// [`SECOND_DEFAULT_SIZE`]).
    pub default_limit: u32,
    /// The largest page size; a larger `limit` is refused with 422 (first dialect only; the
    /// second's is [`SECOND_MAX_SIZE`]).
    pub max_limit: u32,
    /// The user the API token belongs to: the author of comments created through the API, and
    /// `updated_by` of changes made through it. Insert a user with this id to make it readable.
    pub api_user_id: u64,
    /// Whether a comment can be edited (`PUT …/issues/{id}/comments/{comment_id}`, or `PATCH
    /// …/issues/{id}/notes/{note_id}` in the second dialect). Without it the path serves `GET`
    /// only, the edit gets FastAPI's 405 Method Not Allowed, and the OpenAPI document omits it.
    pub comment_updates: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            dialect: Dialect::First,
            api_prefix: "/api/v2".into(),
            list_envelope: ListEnvelope::Bare,
            default_limit: 100,
            max_limit: 1000,
            api_user_id: 1,
            comment_updates: true,
        }
    }
}

/// What the routes share.
struct Shared {
    /// The API token it accepts; replaced by [`QalitaSim::rotate_token`].
    token: Mutex<String>,
    options: SimOptions,
    store: Mutex<store::Store>,
    faults: Mutex<FaultRules<Fault>>,
    journal: Mutex<Journal<RecordedRequest>>,
    events: events::Emitter,
}

impl Shared {
    /// Stores an issue; its event is recorded under the store's lock, so events keep the order of
    /// the changes.
    /// The issue is in the dialect's shape.
    fn insert_issue(&self, issue: Value) -> u64 {
        let mut store = lock(&self.store);
        let stored = store.insert_issue(self.options.dialect.read(Kind::Issue, issue));
        self.issue_changed(stored.created, &stored.object);
        stored.id
    }

    /// Changes an issue (see [`store::Store::update_issue`]), `change` seeing it in the dialect's
    /// shape, and records its event; `None` when there is no such issue. Returns the issue in the
    /// dialect's shape.
    fn update_issue(&self, id: u64, by: Option<u64>, change: impl FnOnce(&mut Value)) -> Option<Value> {
        let dialect = self.options.dialect;
        let mut store = lock(&self.store);
        let updated = store.update_issue(id, by, |issue| {
            let mut face = dialect.render(Kind::Issue, issue.take());
            change(&mut face);
            *issue = dialect.read(Kind::Issue, face);
        })?;
        self.issue_changed(false, &updated);
        Some(dialect.render(Kind::Issue, updated))
    }

    /// Adds a comment and records its event; `None` when there is no such issue. Returns the
    /// comment as the model keeps it.
    fn add_comment(&self, issue: u64, author: u64, content: &str) -> Option<Value> {
        let mut store = lock(&self.store);
        let stored = store.add_comment(issue, author, content)?;
        self.comment_created(issue, &stored.object);
        Some(stored.object)
    }

    /// Records `issue.created` or `issue.updated`, with the issue in the dialect's shape. Called
    /// under the store's lock, so that events keep the order of the changes.
    fn issue_changed(&self, created: bool, issue: &Value) {
        self.events.issue_changed(created, &self.options.dialect.render(Kind::Issue, issue.clone()));
    }

    /// Records `comment.created`, with the comment in the dialect's shape (under the store's lock).
    fn comment_created(&self, issue: u64, comment: &Value) {
        self.events.comment_created(issue, &self.options.dialect.render(Kind::Comment, comment.clone()));
    }

    /// The answer for one object of the model, in the dialect's shape, or the dialect's "not found".
    fn one(&self, kind: Kind, object: Option<Value>) -> axum::response::Response {
        let dialect = self.options.dialect;
        dialect.one(object.map(|object| dialect.render(kind, object)))
    }

    /// The answer for a page of objects of the model, `total` of them in all.
    fn list(&self, kind: Kind, items: Vec<Value>, total: usize) -> axum::response::Response {
        let dialect = self.options.dialect;
        let items = items.into_iter().map(|object| dialect.render(kind, object)).collect();
        dialect.list(&self.options, items, total)
    }

    /// An object of the model in the dialect's shape.
    fn render(&self, kind: Kind, object: Value) -> Value {
        self.options.dialect.render(kind, object)
    }
}

/// What every handler extracts.
type SimState = axum::extract::State<Arc<Shared>>;

/// A lock that a panicking test thread cannot poison for the others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long [`QalitaSim::settle_events`] waits at most.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// A running simulator; it stops when dropped.
pub struct QalitaSim {
    front: Front,
    shared: Arc<Shared>,
}

/// How requests reach the simulator.
enum Front {
    /// Served on a loopback port, with the task that sends its change events.
    Loopback { server: Server, sender: JoinHandle<()> },
    /// Answered in process by its router ([`QalitaSim::in_process`]), at `base`.
    InProcess { router: axum::Router, base: String },
}

impl QalitaSim {
    /// Starts a simulator of the first dialect, which accepts `Authorization: Bearer <token>`,
    /// with the default options.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(token: &str) -> Self {
        Self::start_with(token, SimOptions::default()).await
    }

    /// Starts a simulator with `options`, or with the default options of a [`Dialect`]
    /// (`QalitaSim::start_with(token, Dialect::Second)`: `X-API-Key: <token>`).
    ///
    /// # Panics
    /// When no loopback port can be bound, or the API prefix does not start with `/`.
    pub async fn start_with(token: &str, options: impl Into<SimOptions>) -> Self {
        let options = options.into();
        assert!(options.api_prefix.starts_with('/'), "the API prefix starts with `/`: {:?}", options.api_prefix);
        let shared = Arc::new(Shared {
            token: Mutex::new(token.to_owned()),
            options,
            store: Mutex::default(),
            faults: Mutex::default(),
            journal: Mutex::default(),
            events: events::Emitter::default(),
        });
        let server = Loopback::bind("QALITA").await.serve(routes::router(shared.clone()));
        let emitter = shared.clone();
        let sender = tokio::spawn(async move { emitter.events.run().await });
        QalitaSim { front: Front::Loopback { server, sender }, shared }
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        match &self.front {
            Front::Loopback { server, .. } => server.url(),
            Front::InProcess { base, .. } => base.clone(),
        }
    }

    /// Replaces the accepted API token, as a rotation in QALITA's settings does: the old one is
    /// refused with `401` from now on.
    pub fn rotate_token(&self, token: &str) {
        *self.shared.token.lock().unwrap_or_else(|e| e.into_inner()) = token.to_owned();
    }

    /// The dialect it speaks.
    pub fn dialect(&self) -> Dialect {
        self.shared.options.dialect
    }

    /// The user id the API token belongs to ([`SimOptions::api_user_id`]).
    pub fn api_user_id(&self) -> u64 {
        self.shared.options.api_user_id
    }

    /// Stores (or replaces) an issue and returns its id. A missing `id` is the next free one, a
    /// missing `created_at` is now, a missing `updated_at` is `created_at`; other fields are kept
    /// as given, unknown ones included. The issue is in the dialect's shape (`assignee_id` in the
    /// second) or the model's (`assignee`, as the domain types write it). Emits `issue.created`
    /// (`issue.updated` when it replaces one).
    ///
    /// # Panics
    /// When the issue is not a JSON object, or its `id` is not a positive integer.
    pub fn insert_issue(&self, issue: impl QalitaJson) -> u64 {
        self.shared.insert_issue(issue.into_json())
    }

    /// Changes an issue as a QALITA user would and returns it; `updated_at` moves forward unless
    /// `change` sets it, and a move to or from `resolved` sets or clears `closed_at`. `change` sees,
    /// and the answer is, the issue in the dialect's shape. Emits `issue.updated`.
    ///
    /// # Panics
    /// When there is no such issue, or `change` alters its id.
    pub fn update_issue(&self, id: u64, change: impl FnOnce(&mut Value)) -> Value {
        self.update(id, None, change)
    }

    /// [`Self::update_issue`] by the user `user`, who becomes `updated_by` (and `closed_by` when
    /// the change resolves the issue).
    ///
    /// # Panics
    /// When there is no such issue, or `change` alters its id.
    pub fn update_issue_as(&self, id: u64, user: u64, change: impl FnOnce(&mut Value)) -> Value {
        self.update(id, Some(user), change)
    }

    fn update(&self, id: u64, user: Option<u64>, change: impl FnOnce(&mut Value)) -> Value {
        match self.shared.update_issue(id, user, change) {
            Some(issue) => issue,
            None => panic!("no QALITA issue {id} to update in the simulator"),
        }
    }

    /// Sets an issue's status as a QALITA user would (see [`Self::update_issue`]).
    ///
    /// # Panics
    /// When there is no such issue.
    pub fn set_status(&self, id: u64, status: &str) -> Value {
        self.update_issue(id, |issue| issue["status"] = status.into())
    }

    /// Assigns an issue to a user, or to nobody.
    ///
    /// # Panics
    /// When there is no such issue.
    pub fn set_assignee(&self, id: u64, assignee: Option<u64>) -> Value {
        let field = self.dialect().field(Kind::Issue, "assignee");
        self.update_issue(id, |issue| issue[field] = assignee.into())
    }

    /// Sets an issue's title.
    ///
    /// # Panics
    /// When there is no such issue.
    pub fn set_title(&self, id: u64, title: &str) -> Value {
        self.update_issue(id, |issue| issue["title"] = title.into())
    }

    /// Sets an issue's description.
    ///
    /// # Panics
    /// When there is no such issue.
    pub fn set_description(&self, id: u64, description: &str) -> Value {
        self.update_issue(id, |issue| issue["description"] = description.into())
    }

    /// Deletes an issue and its comments (from then on, asking for it is answered "not found");
    /// returns it if it existed. Emits nothing: no deletion event is known.
    pub fn remove_issue(&self, id: u64) -> Option<Value> {
        let removed = lock(&self.shared.store).remove_issue(id);
        removed.map(|issue| self.shared.render(Kind::Issue, issue))
    }

    /// An issue as QALITA holds it now, in the dialect's shape.
    pub fn issue(&self, id: u64) -> Option<Value> {
        let issue = lock(&self.shared.store).issue(id);
        issue.map(|issue| self.shared.render(Kind::Issue, issue))
    }

    /// Comments an issue as the user `author` would, now, and returns the comment's id. The issue
    /// is left as it is. Emits `comment.created`.
    ///
    /// # Panics
    /// When there is no such issue.
    pub fn add_comment(&self, issue: u64, author: u64, content: &str) -> u64 {
        match self.shared.add_comment(issue, author, content) {
            Some(comment) => comment["id"].as_u64().unwrap_or_default(),
            None => panic!("no QALITA issue {issue} to comment on in the simulator"),
        }
    }

    /// Stores (or replaces) a comment of `issue` as given, for answers of another shape (`body`,
    /// `user_id`, no `issue_id`, unreadable dates …); returns its id. A missing `id` is the next
    /// free one, a missing `created_at` is now, a missing `updated_at` is `created_at`. The
    /// dialect's name for the text (`text` in the second) is read as the model's `content`.
    /// Emits `comment.created` for a new comment.
    ///
    /// # Panics
    /// When there is no such issue, or the comment is not an object with a positive integer `id`.
    pub fn insert_comment(&self, issue: u64, comment: impl QalitaJson) -> u64 {
        let mut store = lock(&self.shared.store);
        let stored = store.insert_comment(issue, self.dialect().read(Kind::Comment, comment.into_json()));
        if stored.created {
            self.shared.comment_created(issue, &stored.object);
        }
        stored.id
    }

    /// Changes a comment's text as its author would; `updated_at` moves forward. Returns the
    /// comment. The issue is left as it is, and no event is sent (none is known for an edit).
    ///
    /// # Panics
    /// When there is no such comment.
    pub fn edit_comment(&self, comment: u64, content: &str) -> Value {
        let edited = lock(&self.shared.store).edit_comment(comment, content);
        match edited {
            Some(comment) => self.shared.render(Kind::Comment, comment),
            None => panic!("no QALITA comment {comment} to edit in the simulator"),
        }
    }

    /// An issue's comments as QALITA holds them, in the dialect's shape, oldest first (empty when
    /// there is no such issue).
    pub fn comments(&self, issue: u64) -> Vec<Value> {
        let comments = lock(&self.shared.store).comments_of(issue).unwrap_or_default();
        comments.into_iter().map(|comment| self.shared.render(Kind::Comment, comment)).collect()
    }

    /// One comment as QALITA holds it, in the dialect's shape.
    pub fn comment(&self, id: u64) -> Option<Value> {
        let comment = lock(&self.shared.store).comment(id);
        comment.map(|(_, comment)| self.shared.render(Kind::Comment, comment))
    }

    /// Stores (or replaces) a user (shape of `fixtures/qalita/user.json`; any field names) and
    /// returns its id.
    ///
    /// # Panics
    /// When the user has no positive integer `id`.
    pub fn insert_user(&self, user: impl QalitaJson) -> u64 {
        lock(&self.shared.store).insert_user(user.into_json())
    }

    /// Stores (or replaces) a source, the dataset an issue's `source_id` names (fields `id`,
    /// `name`, `type`, `description`, `owner_id`, `tags`, `created_at`, `updated_at`; any others
    /// kept as given), and returns its id. A missing `id` is the next free one, a missing
    /// `created_at` is now, a missing `updated_at` is `created_at`.
    ///
    /// # Panics
    /// When the source is not a JSON object, or its `id` is not a positive integer.
    pub fn insert_source(&self, source: impl QalitaJson) -> u64 {
        let source = self.dialect().read(Kind::Source, source.into_json());
        lock(&self.shared.store).insert_source(source)
    }

    /// Changes a source as a QALITA user would (renamed, retagged …) and returns it; `updated_at`
    /// moves forward unless `change` sets it. Emits nothing: no source event is known.
    ///
    /// # Panics
    /// When there is no such source, or `change` alters its id.
    pub fn update_source(&self, id: u64, change: impl FnOnce(&mut Value)) -> Value {
        let dialect = self.dialect();
        let updated = lock(&self.shared.store).update_source(id, |source| {
            let mut face = dialect.render(Kind::Source, source.take());
            change(&mut face);
            *source = dialect.read(Kind::Source, face);
        });
        match updated {
            Some(source) => self.shared.render(Kind::Source, source),
            None => panic!("no QALITA source {id} to update in the simulator"),
        }
    }

    /// Deletes a source (from then on, asking for it is answered "not found"; issues naming it
    /// keep their `source_id`); returns it if it existed.
    pub fn remove_source(&self, id: u64) -> Option<Value> {
        let removed = lock(&self.shared.store).remove_source(id);
        removed.map(|source| self.shared.render(Kind::Source, source))
    }

    /// A source as QALITA holds it now, in the dialect's shape.
    pub fn source(&self, id: u64) -> Option<Value> {
        let source = lock(&self.shared.store).source(id);
        source.map(|source| self.shared.render(Kind::Source, source))
    }

    /// From now on, sends a change event to `queue` after every change to an issue and every new
    /// comment, through the API or the helpers above: `issue.created`, `issue.updated` with
    /// `payload.issue`, `comment.created` with `payload.issue_id` and `payload.comment` (the
    /// objects in the dialect's shape, as its API sends them); group
    /// `qalita:<issue id>`, deduplication id the envelope's `key` (`qalita-evt-<uuid>`). The
    /// events are sent in the order of the changes, by one task; see [`Self::events`] for their
    /// outcomes. Calling it again changes the queue.
    pub fn emit_events_to(&self, queue: Arc<dyn EventQueue>) {
        self.shared.events.connect(queue);
    }

    /// From now on, POSTs the same events to QALITA's webhook route, as QALITA's own outbound
    /// webhook would (`Settings → Integration → Webhooks`): the event's name in `event` beside its
    /// payload, `X-Qalita-Delivery`, and the shared secret as `target.proof` says. A delivery
    /// answered other than 2xx is failed (see [`Self::failed_events`]) and not sent again.
    pub fn emit_webhooks_to(&self, target: WebhookTarget) {
        self.shared.events.connect_webhook(target);
    }

    /// Holds the events (as a bridge that is down would) until [`Self::resume_events`]; changes
    /// still record theirs.
    pub fn pause_events(&self) {
        self.shared.events.pause();
    }

    /// Sends the held events, in order, and the later ones as they come.
    pub fn resume_events(&self) {
        self.shared.events.resume();
    }

    /// Every event since [`Self::emit_events_to`], in the order of the changes, with its outcome.
    pub fn events(&self) -> Vec<EmittedEvent> {
        self.shared.events.events()
    }

    /// How many events the queue took.
    pub fn events_sent(&self) -> usize {
        self.events().iter().filter(|event| event.outcome == EmitOutcome::Sent).count()
    }

    /// The events whose send failed.
    pub fn failed_events(&self) -> Vec<EmittedEvent> {
        self.events().into_iter().filter(|event| matches!(event.outcome, EmitOutcome::Failed(_))).collect()
    }

    /// Waits until every event not held by a pause is sent or failed.
    ///
    /// # Panics
    /// When that takes more than 10 s (a queue that never answers).
    pub async fn settle_events(&self) {
        self.shared.events.settle(SETTLE_LIMIT).await;
    }

    /// Makes the next `count` requests meet `fault`.
    ///
    /// # Panics
    /// When a [`Fault::ServerError`] is not a 5xx status.
    pub fn fail_next(&self, count: usize, fault: Fault) {
        lock(&self.shared.faults).arm(faults::rule(None, count, fault));
    }

    /// Makes the next `count` requests whose path starts with `path_prefix` meet `fault`.
    ///
    /// # Panics
    /// When a [`Fault::ServerError`] is not a 5xx status.
    pub fn fail_next_on(&self, path_prefix: &str, count: usize, fault: Fault) {
        lock(&self.shared.faults).arm(faults::rule(Some(path_prefix), count, fault));
    }

    /// Drops every fault not used up yet.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.journal).entries()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.journal).len()
    }

    /// How many requests had this method and exactly this path.
    pub fn count(&self, method: &str, path: &str) -> usize {
        lock(&self.shared.journal).count(method, path)
    }

    /// How many requests `predicate` accepts.
    pub fn count_matching(&self, predicate: impl Fn(&RecordedRequest) -> bool) -> usize {
        lock(&self.shared.journal).count_matching(predicate)
    }

    /// Forgets the requests received so far (after a test's arrange step).
    pub fn clear_requests(&self) {
        lock(&self.shared.journal).clear();
    }
}

impl Drop for QalitaSim {
    fn drop(&mut self) {
        if let Front::Loopback { sender, .. } = &self.front {
            sender.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Sends a bare HTTP/1.1 request and returns the whole answer as text.
    async fn raw(sim: &QalitaSim, request_line: &str, authorization: Option<&str>) -> String {
        send(sim, request_line, authorization.map(|value| format!("Authorization: {value}\r\n")), "").await
    }

    /// Sends a request with the right token, extra header lines and a body.
    async fn with_body(sim: &QalitaSim, request_line: &str, headers: &str, body: &str) -> String {
        let headers = format!("Authorization: Bearer t\r\n{headers}Content-Length: {}\r\n", body.len());
        send(sim, request_line, Some(headers), body).await
    }

    async fn send(sim: &QalitaSim, request_line: &str, headers: Option<String>, body: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(sim.url().trim_start_matches("http://")).await.unwrap();
        let headers = headers.unwrap_or_default();
        let request = format!("{request_line} HTTP/1.1\r\nHost: qalita\r\n{headers}Connection: close\r\n\r\n{body}");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    /// The body of an answer, as JSON.
    fn json_of(answer: &str) -> Value {
        let (_, body) = answer.split_once("\r\n\r\n").unwrap();
        serde_json::from_str(body).unwrap()
    }

    #[tokio::test]
    async fn a_request_without_the_right_token_is_refused_and_recorded_without_it() {
        let sim = QalitaSim::start("right").await;

        let missing = raw(&sim, "GET /api/v2/issues", None).await;
        let wrong = raw(&sim, "GET /api/v2/issues/1", Some("Bearer wrong")).await;
        let right = raw(&sim, "GET /api/v2/issues/1", Some("bearer right")).await;

        for answer in [&missing, &wrong] {
            assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
            assert!(answer.ends_with(r#"{"detail":"Could not validate credentials"}"#), "{answer}");
        }
        assert!(right.starts_with("HTTP/1.1 204"), "{right}");
        let statuses: Vec<_> = sim.requests().into_iter().map(|r| (r.path, r.status)).collect();
        assert_eq!(statuses[0], ("/api/v2/issues".to_owned(), Some(401)));
        assert!(!format!("{:?}", sim.requests()).contains("right"));
    }

    #[tokio::test]
    async fn an_unauthorized_fault_refuses_the_right_token_as_a_wrong_one_is_refused_then_wears_off() {
        let sim = QalitaSim::start("right").await;
        let issue = sim.insert_issue(json!({"title": "t"}));
        let comments = format!("GET /api/v2/issues/{issue}/comments");
        sim.fail_next_on(&format!("/api/v2/issues/{issue}/comments"), 1, Fault::Unauthorized);

        let elsewhere = raw(&sim, &format!("GET /api/v2/issues/{issue}"), Some("Bearer right")).await;
        let refused = raw(&sim, &comments, Some("Bearer right")).await;
        let wrong = raw(&sim, &comments, Some("Bearer wrong")).await;
        let again = raw(&sim, &comments, Some("Bearer right")).await;

        assert!(elsewhere.starts_with("HTTP/1.1 200"), "another path is served: {elsewhere}");
        let (refused_head, refused_body) = refused.split_once("\r\n\r\n").unwrap();
        let (wrong_head, wrong_body) = wrong.split_once("\r\n\r\n").unwrap();
        assert!(refused_head.starts_with("HTTP/1.1 401"), "{refused}");
        assert!(refused_head.to_ascii_lowercase().contains("\r\nwww-authenticate: bearer"), "{refused}");
        assert!(wrong_head.to_ascii_lowercase().contains("\r\nwww-authenticate: bearer"), "{wrong}");
        assert_eq!(refused_body, wrong_body);
        assert!(again.starts_with("HTTP/1.1 200"), "used up by one request: {again}");
    }

    #[tokio::test]
    async fn an_unknown_route_or_a_bad_id_gets_fastapis_answer() {
        let sim = QalitaSim::start("t").await;

        let unknown = raw(&sim, "GET /api/v1/issues", None).await;
        let bad_id = raw(&sim, "GET /api/v2/issues/abc", Some("Bearer t")).await;
        let bad_offset = raw(&sim, "GET /api/v2/issues?offset=-1", Some("Bearer t")).await;

        assert!(unknown.starts_with("HTTP/1.1 404") && unknown.ends_with(r#"{"detail":"Not Found"}"#), "{unknown}");
        assert!(bad_id.starts_with("HTTP/1.1 422") && bad_id.contains(r#""loc":["path","issue_id"]"#), "{bad_id}");
        assert!(bad_offset.contains(r#""type":"greater_than_equal""#), "{bad_offset}");
    }

    #[tokio::test]
    async fn every_comment_and_user_route_asks_for_the_token() {
        let sim = QalitaSim::start("t").await;
        let issue = sim.insert_issue(json!({"title": "t"}));
        let comment = sim.add_comment(issue, 1, "hello");

        for request in [
            format!("GET /api/v2/issues/{issue}/comments"),
            format!("POST /api/v2/issues/{issue}/comments"),
            format!("GET /api/v2/issues/{issue}/comments/{comment}"),
            format!("PUT /api/v2/issues/{issue}/comments/{comment}"),
            "GET /api/v2/users".to_owned(),
        ] {
            let answer = raw(&sim, &request, Some("Bearer wrong")).await;
            assert!(answer.starts_with("HTTP/1.1 401"), "{request}: {answer}");
        }
        assert_eq!(sim.comments(issue).len(), 1);
    }

    #[tokio::test]
    async fn a_comment_body_that_does_not_validate_gets_fastapis_422_and_stores_nothing() {
        let sim = QalitaSim::start("t").await;
        let issue = sim.insert_issue(json!({"title": "t"}));
        let post = format!("POST /api/v2/issues/{issue}/comments");
        let json_type = "Content-Type: application/json\r\n";

        let missing = json_of(&with_body(&sim, &post, json_type, r#"{"text": "hi"}"#).await);
        let number = json_of(&with_body(&sim, &post, json_type, r#"{"content": 5}"#).await);
        let empty = json_of(&with_body(&sim, &post, json_type, "").await);
        let broken = json_of(&with_body(&sim, &post, json_type, r#"{"content": "#).await);
        let array = json_of(&with_body(&sim, &post, json_type, r#"["hi"]"#).await);
        let form = json_of(&with_body(&sim, &post, "Content-Type: text/plain\r\n", r#"{"content": "hi"}"#).await);

        assert_eq!(
            missing["detail"][0],
            json!({"type": "missing", "loc": ["body", "content"], "msg": "Field required", "input": {"text": "hi"}})
        );
        assert_eq!(number["detail"][0]["type"], "string_type");
        assert_eq!(number["detail"][0]["loc"], json!(["body", "content"]));
        assert_eq!(empty["detail"][0]["loc"], json!(["body"]));
        assert_eq!(
            (&broken["detail"][0]["type"], &broken["detail"][0]["loc"]),
            (&json!("json_invalid"), &json!(["body", 12]))
        );
        assert_eq!(array["detail"][0]["type"], "model_attributes_type");
        assert_eq!(form["detail"][0]["type"], "model_attributes_type", "FastAPI does not parse a text body");
        assert!(sim.comments(issue).is_empty());
        assert!(sim.requests().iter().all(|r| r.status == Some(422)));
    }

    #[tokio::test]
    async fn without_comment_updates_a_put_gets_405_and_the_comment_stays() {
        let options = SimOptions { comment_updates: false, ..SimOptions::default() };
        let sim = QalitaSim::start_with("t", options).await;
        let issue = sim.insert_issue(json!({"title": "t"}));
        let comment = sim.add_comment(issue, 1, "hello");
        let path = format!("/api/v2/issues/{issue}/comments/{comment}");

        let put = with_body(&sim, &format!("PUT {path}"), "", r#"{"content": "bye"}"#).await;
        let get = raw(&sim, &format!("GET {path}"), Some("Bearer t")).await;

        assert!(put.starts_with("HTTP/1.1 405"), "{put}");
        assert!(put.to_ascii_lowercase().contains("\r\nallow: get"), "{put}");
        assert_eq!(json_of(&put), json!({"detail": "Method Not Allowed"}));
        assert_eq!(json_of(&get)["content"], "hello");
        assert_eq!(sim.comment(comment).unwrap()["content"], "hello");
    }

    #[tokio::test]
    async fn a_comment_is_edited_only_by_its_author_and_only_under_its_issue() {
        let sim = QalitaSim::start("t").await;
        let issue = sim.insert_issue(json!({"title": "t"}));
        let other_issue = sim.insert_issue(json!({"title": "u"}));
        let own = sim.add_comment(issue, sim.api_user_id(), "mine");
        let someone_elses = sim.add_comment(issue, 12, "theirs");
        let body = r#"{"content": "edited"}"#;

        let edited = with_body(&sim, &format!("PUT /api/v2/issues/{issue}/comments/{own}"), "", body).await;
        let refused = with_body(&sim, &format!("PUT /api/v2/issues/{issue}/comments/{someone_elses}"), "", body).await;
        let elsewhere = with_body(&sim, &format!("PUT /api/v2/issues/{other_issue}/comments/{own}"), "", body).await;

        assert_eq!(json_of(&edited)["content"], "edited");
        assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
        assert_eq!(sim.comment(someone_elses).unwrap()["content"], "theirs");
        assert!(elsewhere.starts_with("HTTP/1.1 204"), "{elsewhere}");
    }

    #[tokio::test]
    async fn an_update_through_the_api_records_its_author_and_a_no_op_changes_nothing() {
        let sim = QalitaSim::start_with("t", SimOptions { api_user_id: 40, ..SimOptions::default() }).await;
        let issue = sim.insert_issue(json!({"title": "t", "status": "open", "updated_at": "2026-01-01T00:00:00Z"}));
        let path = format!("PUT /api/v2/issues/{issue}");

        let same = json_of(&with_body(&sim, &path, "", r#"{"status": "open", "closed_by": 3}"#).await);
        let resolved = json_of(&with_body(&sim, &path, "", r#"{"status": "resolved"}"#).await);

        assert_eq!(same["updated_at"], "2026-01-01T00:00:00Z", "nothing to write, nothing written");
        assert_eq!(same.get("updated_by"), None);
        assert_eq!((&resolved["updated_by"], &resolved["closed_by"]), (&json!(40), &json!(40)));
        assert_eq!(resolved["closed_at"], resolved["updated_at"]);
        assert_eq!(sim.issue(issue), Some(resolved));
    }

    #[tokio::test]
    async fn users_are_listed_by_id_with_offset_paging() {
        let sim =
            QalitaSim::start_with("t", SimOptions { list_envelope: ListEnvelope::Items, ..SimOptions::default() })
                .await;
        for id in [3, 1, 2] {
            sim.insert_user(json!({"id": id, "login": format!("user{id}")}));
        }

        let page = json_of(&raw(&sim, "GET /api/v2/users?offset=1&limit=5", Some("Bearer t")).await);

        assert_eq!(page, json!({"items": [{"id": 2, "login": "user2"}, {"id": 3, "login": "user3"}], "total": 3}));
        assert_eq!(sim.requests()[0].query_value("offset").as_deref(), Some("1"));
    }
}
