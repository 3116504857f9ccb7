//! The webhook function's handler served on a loopback port, as API Gateway would run it: the
//! GitLab simulator's project hook POSTs to its GitLab route, the QALITA simulator's webhook to its
//! QALITA route, and deliveries reach the FIFO queue on moto.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use lambda_http::Body;
use qalita_gitlab_core::adapters::secrets_manager::SecretsManager;
use qalita_gitlab_core::adapters::sqs::SqsQueue;
use qalita_gitlab_core::ports::SystemClock;
use qalita_gitlab_core::webhook::qalita::auth::QalitaAuthenticator;
use qalita_gitlab_core::webhook::qalita::{QALITA_WEBHOOK_PATH, QalitaRoute};
use qalita_gitlab_core::webhook::verify::{CachePolicy, WebhookAuthenticator};
use qalita_gitlab_tests::local_aws::LocalAws;
use qalita_gitlab_tests::stack::{TestStack, ids};
use qalita_gitlab_webhook::handler::{Deps, QalitaDeps, handle};
use tokio::task::JoinHandle;

/// The path the deployed API routes to the webhook function.
pub const WEBHOOK_PATH: &str = "/api/v2/integrations/gitlab/webhook";

/// A running front; it stops when dropped.
pub struct Front {
    /// `http://127.0.0.1:<port>/api/v2/integrations/gitlab/webhook`.
    pub url: String,
    /// `http://127.0.0.1:<port>/api/v2/integrations/qalita/webhook`.
    pub qalita_url: String,
    /// Requests left to answer 503 without handling them (a receiver down).
    failing: Arc<AtomicU32>,
    task: JoinHandle<()>,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Front {
    /// The next `times` requests are answered 503 and not handled, as by a receiver that is down.
    pub fn fail_next(&self, times: u32) {
        self.failing.store(times, Ordering::SeqCst);
    }

    /// Serves the webhook handler with the real adapters on the local stack.
    pub async fn start(aws: &LocalAws, stack: &TestStack) -> Front {
        let clock = Arc::new(SystemClock);
        let secrets = Arc::new(SecretsManager::new(aws.secrets()));
        let route = QalitaRoute::default();
        let qalita = QalitaDeps {
            auth: QalitaAuthenticator::new(
                secrets.clone(),
                stack.secret(ids::QALITA_WEBHOOK_SECRET),
                clock.clone(),
                CachePolicy::default(),
                &route,
            ),
            route,
        };
        let deps = Arc::new(Deps {
            queue: Arc::new(SqsQueue::new(aws.sqs(), stack.queue_url.clone())),
            auth: WebhookAuthenticator::new(
                secrets,
                stack.secret(ids::WEBHOOK_SECRET),
                clock.clone(),
                CachePolicy::default(),
            ),
            clock,
            max_body_bytes: 6 * 1024 * 1024,
            qalita: Some(qalita),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let address = listener.local_addr().expect("address");
        let url = format!("http://{address}{WEBHOOK_PATH}");
        let qalita_url = format!("http://{address}{QALITA_WEBHOOK_PATH}");
        let failing = Arc::new(AtomicU32::new(0));
        let app = axum::Router::new().fallback(serve).with_state((deps, failing.clone()));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Front { url, qalita_url, failing, task }
    }
}

/// One request through the Lambda handler: the same request API Gateway's payload v2 makes.
async fn serve(State((deps, failing)): State<(Arc<Deps>, Arc<AtomicU32>)>, request: Request) -> Response {
    if failing.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_ok() {
        return Response::builder().status(503).body(AxumBody::empty()).unwrap_or_default();
    }
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let body = match String::from_utf8(bytes.to_vec()) {
        Ok(text) => Body::Text(text),
        Err(_) => Body::Binary(bytes.to_vec()),
    };
    let answer = handle(&deps, lambda_http::http::Request::from_parts(parts, body)).await;
    let (parts, body) = answer.into_parts();
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Response::from_parts(parts, AxumBody::from(bytes))
}
