//! Cold start: read the settings, the tokens and the configuration document, build the clients
//! once, then serve SQS batches and scheduled polls.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_lambda_events::event::sqs::SqsEvent;
use chrono::TimeDelta;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use qalita_gitlab_core::adapters::dynamodb::DynamoLinkStore;
use qalita_gitlab_core::adapters::gitlab_http::GitlabClient;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::adapters::qalita_http::QalitaClient;
use qalita_gitlab_core::adapters::secrets_manager::SecretsManager;
use qalita_gitlab_core::adapters::sqs::SqsQueue;
use qalita_gitlab_core::apply::Syncer;
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::ports::{LinkStore, SecretSource, SecretStage, SystemClock};
use qalita_gitlab_worker::handler::{Deps, handle_batch};
use qalita_gitlab_worker::poll::poll;
use serde_json::Value;

/// Time kept free at the end of an invocation, so that a poll stops cleanly.
const DEADLINE_MARGIN: Duration = Duration::from_secs(20);

fn required(key: &str) -> Result<String, Error> {
    std::env::var(key)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("configuration: {key}: is not set").into())
}

async fn secret(source: &SecretsManager, id: &str) -> Result<qalita_gitlab_core::domain::SecretString, Error> {
    source.read(id, SecretStage::Current).await?.ok_or_else(|| format!("secret {id} has no current value").into())
}

async fn build() -> Result<Arc<Deps>, Error> {
    let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let table = required("SYNC_TABLE_NAME")?;
    let store: Arc<dyn LinkStore> =
        Arc::new(DynamoLinkStore::new(aws_sdk_dynamodb::Client::new(&aws), table, TimeDelta::days(90)));
    let env = |key: &str| std::env::var(key).ok();
    let document = store.config_document().await?.unwrap_or_default();
    let config = Arc::new(Config::from_document(&document, env)?);
    let secrets = SecretsManager::new(aws_sdk_secretsmanager::Client::new(&aws));
    // Several calls per sync must fit in the function's time-out (60 s).
    let http = HttpSettings { total_timeout: Duration::from_secs(10), ..HttpSettings::default() };
    let settings = HttpSettings { ca_bundle: config.gitlab.ca_bundle.clone(), ..http.clone() };
    let gitlab = Arc::new(GitlabClient::new(
        &config.gitlab.base_url,
        secret(&secrets, &required("GITLAB_TOKEN_SECRET_ID")?).await?,
        &settings,
    )?);
    let qalita = Arc::new(QalitaClient::new(
        &config.qalita.base_url,
        secret(&secrets, &required("QALITA_TOKEN_SECRET_ID")?).await?,
        config.qalita.paths.clone(),
        &http,
    )?);
    let clock = Arc::new(SystemClock);
    let queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&aws), required("EVENT_QUEUE_URL")?));
    let syncer =
        Syncer { gitlab, qalita: qalita.clone(), store: store.clone(), clock: clock.clone(), config: config.clone() };
    Ok(Arc::new(Deps { syncer, qalita, queue, store, clock, config, credentials_refused: false.into() }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let deps = match build().await {
        Ok(deps) => deps,
        Err(error) => {
            tracing::error!(error = %error, "cold start failed");
            return Err(error.to_string().into());
        }
    };
    // Rebuilt (secrets and configuration read again) after a token was refused, at most once a
    // minute: a rotated token is picked up without waiting for a cold start.
    let current = Arc::new(tokio::sync::RwLock::new((deps, Instant::now())));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let current = current.clone();
        async move {
            let deps = current.read().await.0.clone();
            let answer = invoke(deps.clone(), event).await;
            if deps.credentials_refused.load(std::sync::atomic::Ordering::SeqCst) {
                let mut guard = current.write().await;
                if guard.1.elapsed() >= REFRESH_AFTER_REFUSAL {
                    match build().await {
                        Ok(fresh) => *guard = (fresh, Instant::now()),
                        Err(error) => tracing::error!(error = %error, "secrets could not be read again"),
                    }
                }
            }
            answer
        }
    }))
    .await
}

/// The least time between two rebuilds caused by a refused token.
const REFRESH_AFTER_REFUSAL: Duration = Duration::from_secs(60);

async fn invoke(deps: Arc<Deps>, event: LambdaEvent<Value>) -> Result<Value, Error> {
    if event.payload.get("Records").is_some() {
        let batch: SqsEvent = serde_json::from_value(event.payload)?;
        return Ok(serde_json::to_value(handle_batch(deps, batch).await)?);
    }
    // Anything else is the schedule (EventBridge "Scheduled Event").
    let remaining = event.context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
    let deadline = Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN);
    let poll = poll(&deps, deadline).await;
    let reconcile = qalita_gitlab_worker::reconcile::reconcile(&deps, deadline).await;
    Ok(serde_json::json!({ "poll": poll, "reconcile": reconcile }))
}
