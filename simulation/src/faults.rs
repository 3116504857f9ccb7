//! What goes wrong, decided by the seed: the remote calls' faults (an outage, a 429 with its
//! `Retry-After`, a 5xx, a time-out after the server did the write), the latency that moves the
//! simulated time, the yields that interleave concurrent workers, and a crash of a worker's
//! process at a port call. Every port of a worker process (GitLab, QALITA, the table, the queue)
//! goes through one [`Process`], which counts its calls: "crash after call k" stops the process
//! there, as a Lambda that dies does (the message's remaining work is lost; the message comes back).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use qalita_gitlab_core::adapters::http::{Exchange, NoAnswer};
use qalita_gitlab_core::adapters::memory::ManualClock;
use qalita_gitlab_core::ports::{Service, TransientKind};
use rand::RngExt;
use rand_pcg::Pcg64;
use tokio::sync::Notify;

use crate::trace::Trace;

/// The rates of the faults, per remote call (0 to 1000, per mille).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    /// 429 with a `Retry-After`.
    pub throttled: u32,
    /// A 5xx before the server did anything.
    pub server_error: u32,
    /// The server did the work, and the answer was lost: a time-out.
    pub lost_answer: u32,
}

/// The faults in force, changed by the scheduler as it goes.
#[derive(Debug, Default)]
pub struct Weather {
    /// GitLab unreachable.
    pub gitlab_down: bool,
    /// QALITA unreachable.
    pub qalita_down: bool,
    /// The per-call rates.
    pub rates: Rates,
    /// A worker process crashes at a port call with this probability (per mille).
    pub crash: u32,
}

/// The seeded randomness and the faults in force, shared by every port of the run.
pub struct Chaos {
    /// The one source of randomness of the run.
    pub rng: Mutex<Pcg64>,
    /// The faults in force.
    pub weather: Mutex<Weather>,
    /// The simulated time (calls take some).
    pub clock: Arc<ManualClock>,
    /// What happened, for a failing seed's report.
    pub trace: Arc<Trace>,
    /// Every write a worker made that reached a simulator, answered or not.
    pub writes: Mutex<Vec<Write>>,
    /// The processes that crashed.
    pub crashed: Mutex<std::collections::BTreeSet<String>>,
}

/// A write of the service that reached GitLab or QALITA.
#[derive(Debug, Clone)]
pub struct Write {
    /// The trace position.
    pub at: usize,
    /// Where.
    pub service: Service,
    /// `POST`, `PUT`.
    pub method: String,
    /// The URL's path.
    pub path: String,
    /// The JSON sent.
    pub request: Option<serde_json::Value>,
    /// The server's status.
    pub status: u16,
    /// The JSON answered.
    pub answer: Option<serde_json::Value>,
    /// The worker process that made it.
    pub process: String,
    /// Whether the worker got the answer (a time-out after the write loses it).
    pub answered: bool,
}

impl Chaos {
    /// A draw in `0..n`.
    pub fn below(&self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        crate::lock(&self.rng).random_range(0..n)
    }

    /// `true` with probability `per_mille / 1000`.
    pub fn chance(&self, per_mille: u32) -> bool {
        per_mille > 0 && self.below(1000) < per_mille
    }
}

/// One worker process: its calls counted, and the crash that ends it.
pub struct Process {
    /// Its name in the trace.
    pub name: String,
    chaos: Arc<Chaos>,
    calls: AtomicU64,
    /// Crash after this call (1-based), whatever the weather: the exhaustive enumeration.
    crash_after: Option<u64>,
    crashed: AtomicBool,
    /// Woken when the process crashes: the driver then drops its work.
    pub died: Notify,
    /// Whether its calls yield to the other workers (at random points).
    pub interleave: bool,
}

impl Process {
    /// A process that crashes as the weather says, or after call `crash_after`.
    pub fn new(name: String, chaos: Arc<Chaos>, crash_after: Option<u64>, interleave: bool) -> Arc<Self> {
        Arc::new(Process {
            name,
            chaos,
            calls: AtomicU64::new(0),
            crash_after,
            crashed: AtomicBool::new(false),
            died: Notify::new(),
            interleave,
        })
    }

    /// Whether it has crashed.
    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// How many port calls it made.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Before a port call: a dead process makes no call.
    pub async fn before(&self) {
        if self.crashed() {
            std::future::pending::<()>().await;
        }
        if self.interleave && self.chaos.chance(300) {
            tokio::task::yield_now().await;
        }
    }

    /// After a port call `what` (its effect done): the process may die here.
    pub async fn after(&self, what: &str) {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let weather = crate::lock(&self.chaos.weather).crash;
        let due = match self.crash_after {
            Some(k) => call == k,
            None => self.chaos.chance(weather),
        };
        if due {
            self.crashed.store(true, Ordering::SeqCst);
            crate::lock(&self.chaos.crashed).insert(self.name.clone());
            self.chaos.trace.note(format!("{} crashed after call {call} ({what})", self.name));
            self.died.notify_one();
            std::future::pending::<()>().await;
        }
    }
}

/// A remote API as a worker process reaches it: the weather's faults, then the simulator.
pub struct Faulty {
    /// The in-process simulator.
    pub inner: Arc<dyn Exchange>,
    /// Which one.
    pub service: Service,
    /// The run's randomness and weather.
    pub chaos: Arc<Chaos>,
    /// The process making the calls (`None`: a person's or an operator's calls, never faulted).
    pub process: Option<Arc<Process>>,
}

#[async_trait]
impl Exchange for Faulty {
    async fn exchange(&self, request: reqwest::Request) -> Result<reqwest::Response, NoAnswer> {
        let Some(process) = &self.process else { return self.inner.exchange(request).await };
        process.before().await;
        // A call takes 5 to 120 ms of simulated time.
        let latency = 5 + i64::from(self.chaos.below(116));
        self.chaos.clock.advance(TimeDelta::milliseconds(latency));
        let sent_text = match request.method().as_str() {
            "GET" => String::new(),
            _ => request.body().and_then(reqwest::Body::as_bytes).map(shown_body).unwrap_or_default(),
        };
        let what = format!("{} {} {} {sent_text}", self.service, request.method(), request.url().path());
        let (down, rates) = {
            let weather = crate::lock(&self.chaos.weather);
            let down = match self.service {
                Service::Gitlab => weather.gitlab_down,
                Service::Qalita => weather.qalita_down,
            };
            (down, weather.rates)
        };
        let answer = if down {
            Err(NoAnswer { kind: TransientKind::Connect, message: format!("{} is down", self.service) })
        } else if self.chaos.chance(rates.throttled) {
            let wait = 1 + self.chaos.below(60);
            Ok(refusal(429, Some(wait)))
        } else if self.chaos.chance(rates.server_error) {
            Ok(refusal(if self.chaos.below(2) == 0 { 502 } else { 503 }, None))
        } else {
            let method = request.method().as_str().to_owned();
            let path = request.url().path().to_owned();
            let sent = request.body().and_then(reqwest::Body::as_bytes).and_then(|b| serde_json::from_slice(b).ok());
            let mut answer = self.inner.exchange(request).await;
            let lost = self.chaos.chance(rates.lost_answer);
            if method != "GET"
                && let Ok(response) = answer
            {
                let (response, status, body) = snapshot(response).await;
                let write = Write {
                    at: self.chaos.trace.len(),
                    service: self.service,
                    method,
                    path,
                    request: sent,
                    status,
                    answer: body,
                    process: process.name.clone(),
                    answered: !lost,
                };
                crate::lock(&self.chaos.writes).push(write);
                answer = Ok(response);
            }
            match lost {
                true => Err(NoAnswer { kind: TransientKind::Timeout, message: "no answer in time".into() }),
                false => answer,
            }
        };
        let shown = match &answer {
            Ok(response) => response.status().as_u16().to_string(),
            Err(no) => no.kind.to_string(),
        };
        self.chaos.trace.note(format!("{}: {what} -> {shown}", process.name));
        process.after(&what).await;
        answer
    }
}

/// Reads an answer's JSON and gives back an equal answer for the client.
async fn snapshot(response: reqwest::Response) -> (reqwest::Response, u16, Option<serde_json::Value>) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    let json = serde_json::from_slice(&bytes).ok();
    let mut again = lambda_http::http::Response::builder().status(status);
    for (name, value) in &headers {
        again = again.header(name.as_str(), value.as_bytes());
    }
    let again = again.body(bytes).unwrap_or_else(|_| lambda_http::http::Response::new(Vec::new()));
    (reqwest::Response::from(again), status, json)
}

/// An answer made by the faults, as GitLab's and QALITA's front ends send them.
fn refusal(status: u16, retry_after: Option<u32>) -> reqwest::Response {
    let mut answer = http_response(status);
    if let Some(seconds) = retry_after {
        answer = answer.header("Retry-After", seconds.to_string());
    }
    let body = match status {
        429 => "Retry later\n",
        _ => "<html><body><h1>502 Bad Gateway</h1></body></html>",
    };
    match answer.body(body.as_bytes().to_vec()) {
        Ok(answer) => reqwest::Response::from(answer),
        // The parts above are all valid: an unreachable branch, answered as no answer would be.
        Err(_) => reqwest::Response::from(lambda_http::http::Response::new(Vec::new())),
    }
}

fn http_response(status: u16) -> lambda_http::http::response::Builder {
    lambda_http::http::Response::builder().status(status).header("Content-Type", "text/plain")
}

/// How long a back-off the scheduler lets pass at once, at most.
pub const LONGEST_STEP: Duration = Duration::from_secs(15 * 60);

/// A request body as the trace shows it: a description (kilobytes of template) by its length, so
/// that the fields beside it can be read; the whole cut at 400 characters.
fn shown_body(body: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut fields)) => {
            if let Some(serde_json::Value::String(description)) = fields.get("description") {
                let shown = format!("({} chars)", description.chars().count());
                fields.insert("description".into(), serde_json::Value::String(shown));
            }
            serde_json::Value::Object(fields).to_string()
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    text.chars().take(400).collect()
}
