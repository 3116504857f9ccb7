//! A simulator of the QALITA REST API subset the sync uses (DESIGN section 6), on a loopback port:
//! bearer authentication, issues listed newest first by creation with offset paging and no
//! "updated since" filter, 204 No Content for a missing issue or user, faults switchable at run
//! time, and a record of every request. Tests act on it as a QALITA user would (insert, update,
//! remove issues); what it answers follows from that state, never from what a test expects.

mod faults;
mod journal;
mod routes;
mod store;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::Value;
use tokio::task::JoinHandle;

pub use self::faults::Fault;
pub use self::journal::RecordedRequest;
pub use self::store::QalitaJson;

/// How a list of issues is sent: QALITA's own list is a bare array; some instances or versions may
/// wrap it.
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

/// What differs between QALITA instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOptions {
    /// The prefix of every route: `/api/v2` (platform 3.x also serves `/api/v3`).
    pub api_prefix: String,
    /// How lists are sent.
    pub list_envelope: ListEnvelope,
    /// The page size when the request names none.
    pub default_limit: u32,
    /// The largest page size; a larger `limit` is refused with 422.
    pub max_limit: u32,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            api_prefix: "/api/v2".into(),
            list_envelope: ListEnvelope::Bare,
            default_limit: 100,
            max_limit: 1000,
        }
    }
}

/// What the routes share.
struct Shared {
    token: String,
    options: SimOptions,
    store: Mutex<store::Store>,
    faults: Mutex<faults::Faults>,
    journal: Mutex<Vec<RecordedRequest>>,
}

/// A lock that a panicking test thread cannot poison for the others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running simulator; it stops when dropped.
pub struct QalitaSim {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl QalitaSim {
    /// Starts a simulator that accepts `Authorization: Bearer <token>`, with the default options.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(token: &str) -> Self {
        Self::start_with(token, SimOptions::default()).await
    }

    /// Starts a simulator with `options`.
    ///
    /// # Panics
    /// When no loopback port can be bound, or the API prefix does not start with `/`.
    pub async fn start_with(token: &str, options: SimOptions) -> Self {
        assert!(options.api_prefix.starts_with('/'), "the API prefix starts with `/`: {:?}", options.api_prefix);
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            options,
            store: Mutex::default(),
            faults: Mutex::default(),
            journal: Mutex::default(),
        });
        let app = routes::router(shared.clone());
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port for the QALITA simulator");
        let address = listener.local_addr().expect("the QALITA simulator's address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        QalitaSim { address, shared, task }
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stores (or replaces) an issue and returns its id. A missing `id` is the next free one, a
    /// missing `created_at` is now, a missing `updated_at` is `created_at`; other fields are kept
    /// as given, unknown ones included.
    ///
    /// # Panics
    /// When the issue is not a JSON object, or its `id` is not a positive integer.
    pub fn insert_issue(&self, issue: impl QalitaJson) -> u64 {
        lock(&self.shared.store).insert_issue(issue.into_json())
    }

    /// Changes an issue as a QALITA user would and returns it; `updated_at` moves forward unless
    /// `change` sets it.
    ///
    /// # Panics
    /// When there is no such issue, or `change` alters its id.
    pub fn update_issue(&self, id: u64, change: impl FnOnce(&mut Value)) -> Value {
        lock(&self.shared.store).update_issue(id, change)
    }

    /// Deletes an issue (from then on, asking for it gets 204); returns it if it existed.
    pub fn remove_issue(&self, id: u64) -> Option<Value> {
        lock(&self.shared.store).remove_issue(id)
    }

    /// An issue as QALITA holds it now.
    pub fn issue(&self, id: u64) -> Option<Value> {
        lock(&self.shared.store).issue(id)
    }

    /// Stores (or replaces) a user (shape of `fixtures/qalita/user.json`; any field names) and
    /// returns its id.
    ///
    /// # Panics
    /// When the user has no positive integer `id`.
    pub fn insert_user(&self, user: impl QalitaJson) -> u64 {
        lock(&self.shared.store).insert_user(user.into_json())
    }

    /// Makes the next `count` requests meet `fault`.
    ///
    /// # Panics
    /// When a [`Fault::ServerError`] is not a 5xx status.
    pub fn fail_next(&self, count: usize, fault: Fault) {
        lock(&self.shared.faults).add(None, count, fault);
    }

    /// Makes the next `count` requests whose path starts with `path_prefix` meet `fault`.
    ///
    /// # Panics
    /// When a [`Fault::ServerError`] is not a 5xx status.
    pub fn fail_next_on(&self, path_prefix: &str, count: usize, fault: Fault) {
        lock(&self.shared.faults).add(Some(path_prefix), count, fault);
    }

    /// Drops every fault not used up yet.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.journal).clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.journal).len()
    }

    /// How many requests had this method and exactly this path.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.count_matching(|request| request.method.eq_ignore_ascii_case(method) && request.path == path)
    }

    /// How many requests `predicate` accepts.
    pub fn count_matching(&self, predicate: impl Fn(&RecordedRequest) -> bool) -> usize {
        lock(&self.shared.journal).iter().filter(|request| predicate(request)).count()
    }

    /// Forgets the requests received so far (after a test's arrange step).
    pub fn clear_requests(&self) {
        lock(&self.shared.journal).clear();
    }
}

impl Drop for QalitaSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Sends a bare HTTP/1.1 request and returns the whole answer as text.
    async fn raw(sim: &QalitaSim, request_line: &str, authorization: Option<&str>) -> String {
        let mut stream = tokio::net::TcpStream::connect(sim.address).await.unwrap();
        let header = authorization.map(|value| format!("Authorization: {value}\r\n")).unwrap_or_default();
        let request = format!("{request_line} HTTP/1.1\r\nHost: qalita\r\n{header}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
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
    async fn an_unknown_route_or_a_bad_id_gets_fastapis_answer() {
        let sim = QalitaSim::start("t").await;

        let unknown = raw(&sim, "GET /api/v1/issues", None).await;
        let bad_id = raw(&sim, "GET /api/v2/issues/abc", Some("Bearer t")).await;
        let bad_offset = raw(&sim, "GET /api/v2/issues?offset=-1", Some("Bearer t")).await;

        assert!(unknown.starts_with("HTTP/1.1 404") && unknown.ends_with(r#"{"detail":"Not Found"}"#), "{unknown}");
        assert!(bad_id.starts_with("HTTP/1.1 422") && bad_id.contains(r#""loc":["path","issue_id"]"#), "{bad_id}");
        assert!(bad_offset.contains(r#""type":"greater_than_equal""#), "{bad_offset}");
    }
}
