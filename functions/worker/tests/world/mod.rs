//! The world the worker's end-to-end tests run in: moto (queue, table, secrets from the template),
//! the GitLab and QALITA simulators, the worker's batch handler, and, for the inbound sync, the
//! real webhook handler served on a loopback port as GitLab's webhook target.
#![allow(dead_code)]

mod front;

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsBatchResponse;
use chrono::TimeDelta;
use qalita_gitlab_core::adapters::dynamodb::DynamoLinkStore;
use qalita_gitlab_core::adapters::gitlab_http::GitlabClient;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::adapters::sqs::SqsQueue;
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::gitlab::GitlabIssue;
use qalita_gitlab_core::domain::link::LinkState;
use qalita_gitlab_core::domain::{QalitaIssueId, SecretString};
use qalita_gitlab_core::ports::{EventQueue, Links, OutgoingMessage, SystemClock};
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, DeliveryOutcome, GitlabSim, SimConfig, WebhookConfig};
use qalita_gitlab_sims::qalita::{QalitaSim, WebhookProof, WebhookTarget};
use qalita_gitlab_tests::local_aws::LocalAws;
use qalita_gitlab_tests::stack::TestStack;
use qalita_gitlab_worker::handler::{Deps, consume};
use qalita_gitlab_worker::wiring::{Places, Tokens};
use serde_json::{Value, json};

pub const QALITA_TOKEN: &str = "qalita-api-token-for-tests";
pub const ISSUE: u64 = 4821;

/// The webhook secret GitLab's hook is configured with.
pub const WEBHOOK_SECRET: &str = "inbound-webhook-secret";
/// A person's token in the GitLab simulator (Marie Durand, user 30, `mdurand`).
pub const MARIE_TOKEN: &str = "test-token-marie-durand";

pub struct World {
    pub aws: LocalAws,
    pub stack: TestStack,
    pub gitlab: GitlabSim,
    pub qalita: QalitaSim,
    pub queue: SqsQueue,
    pub store: Arc<DynamoLinkStore>,
    pub deps: Arc<Deps>,
    pub sent: std::sync::atomic::AtomicU32,
    /// Receipts of the messages the last worker run reported failed (invisible for a back-off).
    pub failed_receipts: std::sync::Mutex<Vec<String>>,
    /// The webhook handler on a loopback port, when GitLab's hook is set.
    pub front: Option<front::Front>,
}

impl World {
    pub async fn new(config_extra: &str) -> World {
        Self::with(SimConfig::default(), config_extra).await
    }

    pub async fn with(sim: SimConfig, config_extra: &str) -> World {
        let aws = LocalAws::connect().await;
        let stack = TestStack::create(&aws, "wk", WEBHOOK_SECRET).await;
        let sim = sim.with_user(30, "mdurand", "Marie Durand").with_user(31, "jroe", "John Roe");
        let gitlab = GitlabSim::start(sim.with_token(MARIE_TOKEN, 30)).await;
        gitlab.add_project(42, "data/quality");
        gitlab.add_project(43, "finance/billing");
        let qalita = QalitaSim::start(QALITA_TOKEN).await;
        qalita.insert_user(
            json!({"id": 12, "login": "m.durand", "name": "Marie Durand", "email": "marie.durand@example.com"}),
        );
        qalita.insert_user(json!({"id": 13, "login": "jroe", "name": "John Roe"}));
        qalita.insert_issue(issue_json("open"));

        // The fixture issue was raised in November 2026: this deployment creates what was raised
        // since January (the default, "since the first run", has tests of its own).
        let create = match config_extra.contains("[create]") {
            true => "",
            false => "[create]\ncreated_after = \"2026-01-01T00:00:00Z\"\n",
        };
        // Keys a test gives under a leading `[gitlab]` join the world's own `[gitlab]` table.
        let (gitlab_extra, config_extra) = match config_extra.strip_prefix("[gitlab]\n") {
            Some(rest) => rest.find("\n[").map_or((rest, ""), |at| (&rest[..=at], &rest[at + 1..])),
            None => ("", config_extra),
        };
        let document = format!(
            "[gitlab]\nbase_url = \"{}\"\ndefault_project = \"data/quality\"\n{gitlab_extra}[qalita]\nbase_url = \"{}\"\n[assignees]\n\"m.durand\" = \"mdurand\"\n{create}[[routing]]\ndomain = \"finance\"\nproject = 43\n{config_extra}",
            gitlab.url(),
            qalita.url()
        );
        let config = Arc::new(Config::from_document(&document, |_| None).unwrap());
        let store = Arc::new(DynamoLinkStore::new(aws.dynamodb(), stack.table_name.clone(), TimeDelta::days(1)));
        let settings = HttpSettings { total_timeout: Duration::from_secs(3), ..HttpSettings::default() };
        let queue = SqsQueue::new(aws.sqs(), stack.queue_url.clone());
        // The worker Lambda's builder, with the world's tokens and a short HTTP profile.
        let tokens = Tokens { gitlab: SecretString::new(DEFAULT_TOKEN), qalita: SecretString::new(QALITA_TOKEN) };
        let places = Places { store: store.clone(), queue: Arc::new(queue.clone()), clock: Arc::new(SystemClock) };
        let deps = Arc::new(Deps::build(config, tokens, &settings, places).unwrap());
        World {
            aws,
            stack,
            gitlab,
            qalita,
            queue,
            store,
            deps,
            sent: 0.into(),
            failed_receipts: Default::default(),
            front: None,
        }
    }

    /// A world whose GitLab project hook POSTs to the real webhook handler, which queues on moto:
    /// the whole inbound path.
    pub async fn inbound(config_extra: &str) -> World {
        let mut world = Self::new(config_extra).await;
        let front = front::Front::start(&world.aws, &world.stack).await;
        world.gitlab.set_webhook(Some(WebhookConfig::new(&front.url).with_secret(WEBHOOK_SECRET)));
        world.front = Some(front);
        // QALITA's backend sends a change event for every change, ours included.
        world.qalita.emit_events_to(Arc::new(world.queue.clone()));
        world
    }

    /// The inbound world, with QALITA's change events POSTed by QALITA's own webhook to the
    /// webhook function's QALITA route (proved as `proof` says) instead of put on the queue.
    pub async fn qalita_webhook(proof: WebhookProof) -> World {
        let world = Self::inbound("").await;
        let url = world.front.as_ref().map(|f| f.qalita_url.clone()).unwrap_or_default();
        world.qalita.emit_webhooks_to(WebhookTarget {
            url,
            secret: qalita_gitlab_tests::stack::QALITA_WEBHOOK_SECRET_VALUE.into(),
            proof,
        });
        world
    }

    /// GitLab's REST API as Marie Durand, a person (not the sync's token).
    pub fn person(&self) -> GitlabClient {
        let settings = HttpSettings { total_timeout: Duration::from_secs(3), ..HttpSettings::default() };
        GitlabClient::new(&self.gitlab.url(), SecretString::new(MARIE_TOKEN), &settings).unwrap()
    }

    /// Waits until GitLab has sent every delivery it has to send (the hook sends from a task).
    pub async fn settle(&self) {
        self.qalita.settle_events().await;
        for _ in 0..400 {
            if !self.gitlab.deliveries().iter().any(|d| d.outcome == DeliveryOutcome::Pending) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("GitLab's deliveries did not settle: {:?}", self.gitlab.deliveries());
    }

    /// Delivers and processes until nothing moves: every delivery sent, the queue empty. Returns
    /// the number of worker runs that found messages.
    pub async fn quiesce(&self) -> usize {
        for busy in 0..30 {
            self.settle().await;
            if self.run_worker().await.0 == 0 {
                self.settle().await;
                if self.run_worker().await.0 == 0 {
                    return busy;
                }
            }
        }
        panic!("the system did not become quiet");
    }

    /// The requests each simulator has received so far: (GitLab, QALITA).
    pub fn calls(&self) -> (usize, usize) {
        (self.gitlab.requests().len(), self.qalita.request_count())
    }

    /// Sends a QALITA change event carrying the issue as QALITA has it now, as QALITA's backend would.
    pub async fn qalita_changed(&self, extra: Value) {
        self.qalita_changed_issue(ISSUE, extra).await;
    }

    pub async fn qalita_changed_issue(&self, id: u64, extra: Value) {
        self.qalita_issue_event("issue.updated", id, extra).await;
    }

    /// Sends the event QALITA's backend sends for a new issue: its handling sweeps the comments.
    pub async fn qalita_created(&self) {
        self.qalita_issue_event("issue.created", ISSUE, json!({})).await;
    }

    async fn qalita_issue_event(&self, kind: &str, id: u64, extra: Value) {
        let issue = self.qalita.issue(id).unwrap();
        let n = self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut payload =
            json!({ "issue": issue, "severity": "high", "source": {"id": 57, "name": "billing.customer_sites"} });
        if let (Some(payload), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
            payload.extend(extra.clone());
        }
        let body = json!({"v": 1, "source": "qalita", "kind": kind, "key": format!("evt-{n}"), "received_at": chrono::Utc::now().to_rfc3339(), "payload": payload});
        let message =
            OutgoingMessage { group_id: format!("qalita:{id}"), dedup_id: format!("evt-{n}"), body: body.to_string() };
        self.queue.send(&message).await.unwrap();
    }

    /// One invocation of the worker, as Lambda's SQS event source makes it: receive a batch, hand
    /// it to the handler, delete what the handler did not report failed.
    pub async fn run_worker(&self) -> (usize, SqsBatchResponse) {
        let received = self.queue.receive(10, Duration::ZERO).await.unwrap();
        let response = consume(self.deps.clone(), &self.queue, &received).await;
        for message in &received {
            if response.batch_item_failures.iter().any(|f| f.item_identifier == message.message_id) {
                self.failed_receipts.lock().unwrap().push(message.receipt.clone());
            }
        }
        (received.len(), response)
    }

    /// Makes the messages the last runs reported failed visible again, as the end of their back-off
    /// would.
    pub async fn end_backoff(&self) {
        let receipts = std::mem::take(&mut *self.failed_receipts.lock().unwrap());
        for receipt in receipts {
            self.queue.change_visibility(&receipt, Duration::ZERO).await.unwrap();
        }
    }

    /// Runs the worker until the queue has nothing visible.
    pub async fn drain(&self) {
        for _ in 0..20 {
            if self.run_worker().await.0 == 0 {
                return;
            }
        }
        panic!("the queue did not drain");
    }

    /// Deletes the items of the issue's partition named by their sort keys (`LINK`, comment links),
    /// as a lost or new link table would have lost them.
    pub async fn lose(&self, sort_keys: &[String]) {
        for sort_key in sort_keys {
            self.aws
                .dynamodb()
                .delete_item()
                .table_name(&self.stack.table_name)
                .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("QALITA#{ISSUE}")))
                .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sort_key.clone()))
                .send()
                .await
                .unwrap();
        }
    }

    /// `create-issue` by an operator: the issue as QALITA has it now, synced as asked by a person.
    pub async fn operator_creates(&self) -> qalita_gitlab_core::engine::Outcome {
        let id = QalitaIssueId::new(ISSUE).unwrap();
        let issue = self.deps.qalita.get_issue(id).await.unwrap().unwrap();
        let (context, call) = (Default::default(), qalita_gitlab_core::ports::CallContext::default());
        self.deps
            .engine
            .sync_issue_as(&issue, &context, &call, qalita_gitlab_core::engine::Asked::ByOperator)
            .await
            .unwrap()
    }

    pub async fn link(&self) -> LinkState {
        self.store.get(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap().expect("a link")
    }

    pub fn gitlab_issue(&self) -> GitlabIssue {
        let mut all: Vec<GitlabIssue> = [42, 43].iter().flat_map(|p| self.gitlab.issues(*p)).collect();
        assert_eq!(all.len(), 1, "exactly one GitLab issue exists: {all:?}");
        all.remove(0)
    }

    pub fn gitlab_writes(&self) -> usize {
        self.gitlab.requests().iter().filter(|r| r.method != "GET").count()
    }
}

/// A change a person makes in QALITA, and what GitLab must show after it.
pub type Edit = dyn Fn(&mut Value);
pub type Check = dyn Fn(&GitlabIssue);

pub fn issue_json(status: &str) -> Value {
    let mut issue: Value = serde_json::from_str(include_str!("../../../../fixtures/qalita/issue.json")).unwrap();
    issue["status"] = status.into();
    issue
}
