//! One run's world: the in-process GitLab and QALITA simulators on the simulated clock, the
//! in-memory queue (FIFO groups, visibility, a dead-letter queue after five receives) and table,
//! the real webhook handler in front of the queue, and worker processes built as the Lambda builds
//! them, each with its ports counted and faulted by its [`Process`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use qalita_gitlab_core::adapters::gitlab_http::GitlabClient;
use qalita_gitlab_core::adapters::http::{Exchange, HttpSettings};
use qalita_gitlab_core::adapters::memory::{ManualClock, MemoryQueue, MemorySecrets};
use qalita_gitlab_core::adapters::memory_store::MemoryLinkStore;
use qalita_gitlab_core::adapters::qalita_http::{QalitaClient, QalitaPaths};
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::ports::{Clock, EventQueue, LinkStore, OutgoingMessage, Service};
use qalita_gitlab_core::webhook::verify::{CachePolicy, WebhookAuthenticator};
use qalita_gitlab_sims::gitlab::{GitlabSim, OutgoingDelivery, SimConfig, WebhookConfig};
use qalita_gitlab_sims::qalita::{QalitaSim, SimOptions};
use qalita_gitlab_worker::handler::{Deps, consume};
use qalita_gitlab_worker::wiring::Places;
use serde_json::json;

use crate::faults::{Chaos, Faulty, Process};
use crate::ports::{ProcessQueue, ProcessStore};

/// Where the simulated GitLab says it is (never resolved: every call is answered in process).
pub const GITLAB_URL: &str = "https://gitlab.sim.invalid";
/// Where the simulated QALITA says it is.
pub const QALITA_URL: &str = "https://qalita.sim.invalid";
/// The service's GitLab token (the simulator's default user, the bot).
pub const SERVICE_TOKEN: &str = qalita_gitlab_sims::gitlab::DEFAULT_TOKEN;
/// A person's GitLab token: Marie Durand, user 30, `mdurand`.
pub const MARIE_TOKEN: &str = "sim-token-marie-durand";
/// The service's QALITA token.
pub const QALITA_TOKEN: &str = "sim-qalita-api-token";
/// The webhook secret GitLab's hook sends.
pub const WEBHOOK_SECRET: &str = "sim-inbound-webhook-secret";
/// The webhook's path.
pub const WEBHOOK_PATH: &str = "/api/v2/integrations/gitlab/webhook";
/// Receives before a message goes to the dead-letter queue (the template's default).
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// When every run starts.
pub const START: &str = "2026-12-01T09:00:00Z";

/// The clients, built once per OS process: building one loads the system's root certificates,
/// which costs more than a whole run. Each process gets clones over its own exchange.
struct Clients {
    service: GitlabClient,
    person: GitlabClient,
    qalita: QalitaClient,
}

static CLIENTS: std::sync::OnceLock<Result<Clients, String>> = std::sync::OnceLock::new();

fn clients(config: &Config) -> Result<&'static Clients, String> {
    let built = CLIENTS.get_or_init(|| {
        let settings = HttpSettings::default();
        let gitlab = |token: &str| GitlabClient::new(GITLAB_URL, SecretString::new(token), &settings);
        Ok(Clients {
            service: gitlab(SERVICE_TOKEN).map_err(|e| e.to_string())?,
            person: gitlab(MARIE_TOKEN).map_err(|e| e.to_string())?,
            qalita: QalitaClient::with_shape(
                QALITA_URL,
                SecretString::new(QALITA_TOKEN),
                QalitaPaths::default(),
                config.qalita.shape.clone(),
                &settings,
            )
            .map_err(|e| e.to_string())?,
        })
    });
    built.as_ref().map_err(Clone::clone)
}

/// The deployment's configuration: the project, the people's names, two-way assignees.
fn config() -> Result<Config, String> {
    let document = format!(
        "[gitlab]\nbase_url = \"{GITLAB_URL}\"\ndefault_project = \"data/quality\"\n\
         [qalita]\nbase_url = \"{QALITA_URL}\"\n\
         [assignees]\n\"m.durand\" = \"mdurand\"\n\
         [create]\ncreated_after = \"2026-01-01T00:00:00Z\"\n\
         [ownership]\nassignee = \"both\"\n"
    );
    Config::from_document(&document, |_| None).map_err(|error| error.to_string())
}

/// The world of one run.
pub struct World {
    /// The run's randomness, weather and clock.
    pub chaos: Arc<Chaos>,
    /// GitLab.
    pub gitlab: GitlabSim,
    /// QALITA.
    pub qalita: QalitaSim,
    /// The FIFO queue.
    pub queue: Arc<MemoryQueue>,
    /// Its dead-letter queue.
    pub dead_letters: Arc<MemoryQueue>,
    /// The table.
    pub store: Arc<MemoryLinkStore>,
    /// The configuration.
    pub config: Arc<Config>,
    /// The webhook function.
    pub webhook: qalita_gitlab_webhook::handler::Deps,
    /// Marie Durand's GitLab client.
    pub person: GitlabClient,
    /// How many worker processes were started (their names).
    started: std::sync::atomic::AtomicU64,
}

impl World {
    /// A world with no issue yet, its clock at [`START`].
    pub fn new(chaos_of: impl FnOnce(Arc<ManualClock>) -> Arc<Chaos>) -> Result<World, String> {
        let start = DateTime::parse_from_rfc3339(START).map_err(|e| e.to_string())?.with_timezone(&Utc);
        let clock = Arc::new(ManualClock::at(start));
        let chaos = chaos_of(clock.clone());
        let time: Arc<dyn Clock> = clock.clone();
        let hook = WebhookConfig::new(&format!("https://hooks.sim.invalid{WEBHOOK_PATH}")).with_secret(WEBHOOK_SECRET);
        let sim = SimConfig::default()
            .with_user(30, "mdurand", "Marie Durand")
            .with_user(31, "jroe", "John Roe")
            .with_token(MARIE_TOKEN, 30)
            .with_webhook(hook);
        let gitlab = GitlabSim::in_process(sim, GITLAB_URL, time.clone());
        gitlab.add_project(42, "data/quality");
        gitlab.add_project(43, "finance/billing");
        let qalita = QalitaSim::in_process(QALITA_TOKEN, SimOptions::default(), QALITA_URL, time.clone());
        qalita.insert_user(
            json!({"id": 12, "login": "m.durand", "name": "Marie Durand", "email": "marie.durand@example.com"}),
        );
        qalita.insert_user(json!({"id": 13, "login": "jroe", "name": "John Roe"}));
        qalita.insert_source(json!({"id": 57, "name": "billing.customer_sites"}));
        qalita.insert_source(json!({"id": 58, "name": "finance.ledger"}));
        let dead_letters = Arc::new(MemoryQueue::new(time.clone()));
        let queue = Arc::new(MemoryQueue::new(time.clone()).with_dead_letter(dead_letters.clone(), MAX_RECEIVE_COUNT));
        let secrets = Arc::new(MemorySecrets::new());
        secrets.put("webhook-secret", WEBHOOK_SECRET);
        let webhook = qalita_gitlab_webhook::handler::Deps {
            queue: queue.clone(),
            auth: WebhookAuthenticator::new(secrets, "webhook-secret", time.clone(), CachePolicy::default()),
            clock: time,
            max_body_bytes: 6 * 1024 * 1024,
            qalita: None,
        };
        let config = Arc::new(config()?);
        let person = clients(&config)?.person.clone().with_exchange(gitlab.exchange());
        Ok(World {
            chaos,
            gitlab,
            qalita,
            queue,
            dead_letters,
            store: Arc::new(MemoryLinkStore::new()),
            config,
            webhook,
            person,
            started: 0.into(),
        })
    }

    /// The simulated time.
    pub fn now(&self) -> DateTime<Utc> {
        self.chaos.clock.now()
    }

    /// Lets time pass.
    pub fn advance(&self, by: TimeDelta) {
        self.chaos.clock.advance(by);
    }

    /// A new worker process (a Lambda cold start): the worker's dependencies as the Lambda builds
    /// them, every port through the process. `crash_after` forces a crash after that call.
    pub fn process(&self, crash_after: Option<u64>, interleave: bool) -> Result<(Arc<Process>, Arc<Deps>), String> {
        let n = self.started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let process = Process::new(format!("worker-{n}"), self.chaos.clone(), crash_after, interleave);
        let faulty = |inner: Arc<dyn Exchange>, service| -> Arc<dyn Exchange> {
            Arc::new(Faulty { inner, service, chaos: self.chaos.clone(), process: Some(process.clone()) })
        };
        let clients = clients(&self.config)?;
        let gitlab = clients.service.clone().with_exchange(faulty(self.gitlab.exchange(), Service::Gitlab));
        let qalita_exchange = self.qalita.exchange().ok_or("the QALITA simulator is not in process")?;
        let qalita = clients.qalita.clone().with_exchange(faulty(qalita_exchange, Service::Qalita));
        let gitlab = Arc::new(gitlab);
        let places = Places {
            store: Arc::new(ProcessStore { inner: self.store.clone() as Arc<dyn LinkStore>, process: process.clone() }),
            queue: Arc::new(ProcessQueue {
                inner: self.queue.clone() as Arc<dyn EventQueue>,
                process: process.clone(),
            }),
            clock: self.chaos.clock.clone(),
        };
        let mut deps = Deps::over(self.config.clone(), gitlab.clone(), gitlab, Arc::new(qalita), places);
        deps.max_receive_count = Some(MAX_RECEIVE_COUNT);
        Ok((process, Arc::new(deps)))
    }

    /// Runs `work` in `process` until it ends or the process crashes; `None` when it crashed.
    pub async fn in_process<T>(process: &Process, work: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            () = process.died.notified() => None,
            done = work => Some(done),
        }
    }

    /// One batch of up to ten visible messages for each of `workers` processes, run concurrently
    /// (their calls interleaved at random); returns how many messages were received.
    pub async fn run_workers(&self, workers: usize, crash_after: Option<u64>) -> Result<usize, String> {
        let mut set = tokio::task::JoinSet::new();
        let mut received = 0;
        for _ in 0..workers {
            let batch = self.queue.receive(10, Duration::ZERO).await.map_err(|e| e.to_string())?;
            if batch.is_empty() {
                break;
            }
            received += batch.len();
            let (process, deps) = self.process(crash_after, workers > 1)?;
            let ids: Vec<&str> = batch.iter().map(|m| m.group_id.as_str()).collect();
            self.chaos.trace.note(format!("{} takes {} messages of {ids:?}", process.name, batch.len()));
            let queue = ProcessQueue { inner: self.queue.clone(), process: process.clone() };
            set.spawn(async move {
                let outcome = World::in_process(&process, consume(deps, &queue, &batch)).await;
                (process, outcome.map(|response| response.batch_item_failures.len()))
            });
        }
        while let Some(joined) = set.join_next().await {
            let (process, outcome) = joined.map_err(|e| format!("a worker task failed: {e}"))?;
            let line = match outcome {
                Some(failed) => format!("{} done, {failed} failed", process.name),
                None => format!("{} died after {} calls", process.name, process.calls()),
            };
            self.chaos.trace.note(line);
        }
        Ok(received)
    }

    /// The scheduled run (the QALITA poll, then the GitLab reconcile) in a process of its own.
    pub async fn run_schedule(&self, crash_after: Option<u64>) -> Result<(), String> {
        let (process, deps) = self.process(crash_after, false)?;
        let deadline = Instant::now() + Duration::from_secs(600);
        let work = async {
            let poll = qalita_gitlab_worker::poll::poll(&deps, deadline).await;
            let reconcile = qalita_gitlab_worker::reconcile::reconcile(&deps, deadline).await;
            (poll, reconcile)
        };
        match World::in_process(&process, work).await {
            Some((poll, reconcile)) => {
                self.chaos.trace.note(format!("{}: schedule done: {poll:?} {reconcile:?}", process.name))
            }
            None => self.chaos.trace.note(format!("{}: schedule died after {} calls", process.name, process.calls())),
        }
        Ok(())
    }

    /// The GitLab deliveries made since the last call.
    pub fn new_deliveries(&self) -> Vec<OutgoingDelivery> {
        self.gitlab.take_deliveries()
    }

    /// POSTs a delivery to the real webhook handler, as GitLab does; the status it answered.
    pub async fn deliver(&self, delivery: &OutgoingDelivery) -> u16 {
        let mut request = lambda_http::http::Request::builder().method("POST").uri(WEBHOOK_PATH);
        for (name, value) in &delivery.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let body = lambda_http::Body::Text(String::from_utf8_lossy(&delivery.body).into_owned());
        let Ok(request) = request.body(body) else { return 0 };
        let answer = qalita_gitlab_webhook::handler::handle(&self.webhook, request).await;
        answer.status().as_u16()
    }

    /// Moves every dead letter back to the queue, as `qalita-gitlab dlq replay` does; how many.
    pub async fn replay_dead_letters(&self) -> Result<usize, String> {
        let mut moved = 0;
        loop {
            let batch = self.dead_letters.receive(10, Duration::ZERO).await.map_err(|e| e.to_string())?;
            if batch.is_empty() {
                return Ok(moved);
            }
            for message in batch {
                let again = OutgoingMessage {
                    group_id: message.group_id.clone(),
                    dedup_id: format!("replay-{}", message.message_id),
                    body: message.body.clone(),
                };
                self.queue.send(&again).await.map_err(|e| e.to_string())?;
                self.dead_letters.delete(&message.receipt).await.map_err(|e| e.to_string())?;
                moved += 1;
            }
        }
    }
}
