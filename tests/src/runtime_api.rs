//! An emulator of the Lambda Runtime API (`/2018-06-01/runtime/...`) on a loopback port, so that
//! the real function binaries run in tests as Lambda runs them: the binary polls for the next
//! invocation, and posts its response or its error.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>>;

#[derive(Clone)]
struct Shared {
    next: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    pending: Pending,
    init_error: watch::Sender<Option<Value>>,
}

/// A running emulator; it stops when dropped.
pub struct RuntimeApi {
    address: SocketAddr,
    events: mpsc::Sender<(String, Value)>,
    shared: Shared,
    counter: std::sync::atomic::AtomicU64,
    task: JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts the emulator on a free loopback port.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start() -> Self {
        let (events, receiver) = mpsc::channel(16);
        let shared = Shared {
            next: Arc::new(Mutex::new(receiver)),
            pending: Pending::default(),
            init_error: watch::channel(None).0,
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener =
            tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port for the runtime API");
        let address = listener.local_addr().expect("the runtime API's address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RuntimeApi { address, events, shared, counter: 0.into(), task }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API` for the function.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Invokes the function with `event` and waits up to `timeout` for its answer: `Ok` with the
    /// response, or `Err` with the error (invocation or initialisation) it reported.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Result<Value, Value> {
        let id = format!("req-{}", self.counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let (sender, receiver) = oneshot::channel();
        self.shared.pending.lock().await.insert(id.clone(), sender);
        self.events.send((id, event)).await.map_err(|_| Value::from("runtime API stopped"))?;
        let mut init = self.shared.init_error.subscribe();
        let outcome = async {
            tokio::select! {
                answer = receiver => answer.unwrap_or_else(|_| Err(Value::from("runtime API stopped"))),
                _ = init.wait_for(Option::is_some) => Err(self.shared.init_error.borrow().clone().unwrap_or_default()),
            }
        };
        tokio::time::timeout(timeout, outcome)
            .await
            .unwrap_or_else(|_| Err(Value::from("the function did not answer in time")))
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn next(State(shared): State<Shared>) -> impl IntoResponse {
    let Some((id, event)) = shared.next.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), Bytes::new());
    };
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + Duration::from_secs(30);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put("lambda-runtime-aws-request-id", id);
    put("lambda-runtime-deadline-ms", deadline.as_millis().to_string());
    put("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:test".into());
    put("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0".into());
    (StatusCode::OK, headers, Bytes::from(event.to_string()))
}

async fn response(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value =
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&body).into_owned()));
    finish(&shared, &id, Ok(value)).await
}

async fn error(State(shared): State<Shared>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value =
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&body).into_owned()));
    finish(&shared, &id, Err(value)).await
}

async fn init_error(State(shared): State<Shared>, Json(body): Json<Value>) -> StatusCode {
    shared.init_error.send_replace(Some(body));
    StatusCode::ACCEPTED
}

async fn finish(shared: &Shared, id: &str, outcome: Result<Value, Value>) -> StatusCode {
    match shared.pending.lock().await.remove(id) {
        Some(sender) => {
            let _ = sender.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

/// A function binary started against a [`RuntimeApi`]; killed when dropped.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl RuntimeApi {
    /// A command running `binary` as Lambda would: the Runtime API's address and the function's
    /// environment set, JSON logs, no standard input.
    pub fn command(&self, binary: &str, function_name: &str, memory_mb: u32) -> std::process::Command {
        let mut command = std::process::Command::new(binary);
        command
            .env("AWS_LAMBDA_RUNTIME_API", self.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdin(std::process::Stdio::null());
        command
    }
}

/// Peak resident memory of a process, in KiB (`VmHWM` of `/proc/<pid>/status`).
pub fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
