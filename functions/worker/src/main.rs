//! Cold start: read the settings, the tokens and the configuration document, build the clients
//! once, then serve SQS batches and scheduled polls, writing each invocation's figures as EMF
//! lines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::TimeDelta;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use qalita_gitlab_core::adapters::dynamodb::DynamoLinkStore;
use qalita_gitlab_core::adapters::secrets_manager::SecretsManager;
use qalita_gitlab_core::adapters::sqs::SqsQueue;
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::ports::{LinkStore, SecretSource, SecretStage, SystemClock};
use qalita_gitlab_worker::config::Settings;
use qalita_gitlab_worker::handler::{Deps, handle_batch};
use qalita_gitlab_worker::poll::poll;
use qalita_gitlab_worker::upkeep::{self, TokenRotation, UpkeepReport};
use qalita_gitlab_worker::wiring::{self, Places, Tokens};
use serde_json::Value;

/// Time kept free at the end of an invocation, so that a poll stops cleanly.
const DEADLINE_MARGIN: Duration = Duration::from_secs(20);

async fn secret(source: &SecretsManager, id: &str) -> Result<qalita_gitlab_core::domain::SecretString, Error> {
    source.read(id, SecretStage::Current).await?.ok_or_else(|| format!("secret {id} has no current value").into())
}

async fn build() -> Result<Arc<Deps>, Error> {
    let settings = Settings::from_env()?;
    let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let store: Arc<dyn LinkStore> =
        Arc::new(DynamoLinkStore::new(aws_sdk_dynamodb::Client::new(&aws), settings.table_name, TimeDelta::days(90)));
    let env = |key: &str| std::env::var(key).ok();
    let document = store.config_document().await?.unwrap_or_default();
    let config = Arc::new(Config::from_document(&document, env)?);
    let secrets = SecretsManager::new(aws_sdk_secretsmanager::Client::new(&aws));
    let tokens = Tokens {
        gitlab: secret(&secrets, &settings.gitlab_token_secret_id).await?,
        qalita: secret(&secrets, &settings.qalita_token_secret_id).await?,
    };
    let queue = Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&aws), settings.queue_url));
    let places = Places { store, queue, clock: Arc::new(SystemClock) };
    let mut deps = Deps::build(config, tokens, &wiring::http_profile(), places)?;
    // Only where the template granted PutSecretValue on the token's secret.
    deps.token_rotation = settings.token_rotation.then(|| TokenRotation {
        store: Arc::new(secrets.clone()),
        secret_id: settings.gitlab_token_secret_id.clone(),
    });
    deps.max_receive_count = settings.max_receive_count;
    Ok(Arc::new(deps))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    qalita_gitlab_core::logs::init();
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
            // The invocation's figures, as EMF lines, once its work is done.
            qalita_gitlab_core::metrics::emf::flush();
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
    let LambdaEvent { mut payload, context } = event;
    if let Some(records) = payload.get_mut("Records").map(Value::take) {
        let Value::Array(records) = records else {
            return Err("an SQS event whose Records is not a list".into());
        };
        let batch = read_batch(records);
        let mut response = handle_batch(deps, batch.readable).await;
        batch.failed.into_iter().for_each(|id| response.add_failure(id));
        return Ok(serde_json::to_value(response)?);
    }
    // Anything else is the schedule (EventBridge "Scheduled Event").
    let remaining = context.deadline().duration_since(std::time::SystemTime::now()).unwrap_or_default();
    let deadline = Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN);
    let mut upkeep = UpkeepReport::default();
    upkeep::heal_hooks(&deps, &mut upkeep).await;
    let poll = poll(&deps, deadline).await;
    let reconcile = qalita_gitlab_worker::reconcile::reconcile(&deps, deadline).await;
    upkeep::check_token(&deps, &mut upkeep).await;
    let projects = deps.config.projects();
    qalita_gitlab_core::metrics::health::record_global(deps.store.as_ref(), &projects, deps.clock.now()).await;
    Ok(serde_json::json!({ "poll": poll, "reconcile": reconcile, "upkeep": upkeep }))
}

/// An SQS event read record by record.
struct Batch {
    /// The records that read as SQS messages, in batch order, minus those held back.
    readable: SqsEvent,
    /// The ids to report failed without processing them: the unreadable records, and the later
    /// records of their message groups.
    failed: Vec<String>,
}

/// Reads an SQS event's records one by one, so that one that does not read as an SQS message
/// (SQS never sends one; a direct invocation can) fails alone rather than the whole batch: it is
/// reported failed and, after MaxReceiveCount tries, lands in the dead-letter queue. The later
/// records of its message group are reported failed too, so that none overtakes it (FIFO).
fn read_batch(records: Vec<Value>) -> Batch {
    let mut readable = SqsEvent::default();
    let mut failed = Vec::new();
    let mut held_groups = std::collections::HashSet::new();
    for record in records {
        let id = record.get("messageId").and_then(Value::as_str).map(str::to_owned);
        let group = record.get("attributes").and_then(|a| a.get("MessageGroupId")).and_then(Value::as_str);
        if let (Some(id), Some(group)) = (&id, group)
            && held_groups.contains(group)
        {
            tracing::warn!(message_id = %id, outcome = "held", "an earlier record of its message group is unreadable");
            failed.push(id.clone());
            continue;
        }
        let group = group.map(str::to_owned);
        match serde_json::from_value::<SqsMessage>(record) {
            Ok(message) => readable.records.push(message),
            // The record itself is never logged: it may hold an issue's text.
            Err(error) => match id {
                Some(id) => {
                    tracing::error!(message_id = %id, error_line = error.line(), outcome = "unreadable", "an SQS record that is not an SQS message: reported failed");
                    failed.push(id);
                    held_groups.extend(group);
                }
                // Nothing to report it failed by: nothing could be redelivered either.
                None => tracing::error!(outcome = "unreadable", "an SQS record without a message id: dropped"),
            },
        }
    }
    Batch { readable, failed }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(id: &str, group: &str) -> Value {
        json!({
            "messageId": id,
            "receiptHandle": format!("receipt-{id}"),
            "body": "{}",
            "attributes": { "MessageGroupId": group, "ApproximateReceiveCount": "1" },
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:stack-events.fifo",
            "awsRegion": "us-east-1"
        })
    }

    /// A record of `group` that does not read as an SQS message: its body is not a string.
    fn unreadable(id: &str, group: &str) -> Value {
        let mut record = record(id, group);
        record["body"] = json!({ "not": "a string" });
        record
    }

    fn ids(batch: &Batch) -> Vec<&str> {
        batch.readable.records.iter().filter_map(|m| m.message_id.as_deref()).collect()
    }

    #[test]
    fn an_unreadable_record_fails_alone_and_the_rest_of_the_batch_is_read() {
        let batch = read_batch(vec![record("a", "g1"), unreadable("b", "g2"), record("c", "g3")]);

        assert_eq!(ids(&batch), ["a", "c"]);
        assert_eq!(batch.failed, ["b"]);
    }

    #[test]
    fn the_later_records_of_an_unreadable_records_group_fail_too_and_the_earlier_ones_are_read() {
        let batch = read_batch(vec![record("a", "g1"), unreadable("b", "g1"), record("c", "g1"), record("d", "g2")]);

        assert_eq!(ids(&batch), ["a", "d"]);
        assert_eq!(batch.failed, ["b", "c"]);
    }

    #[test]
    fn a_record_with_an_undecodable_binary_attribute_fails_alone() {
        let mut hostile = record("b", "g2");
        hostile["messageAttributes"] = json!({ "k": { "binaryValue": "not base64!", "dataType": "Binary" } });

        let batch = read_batch(vec![record("a", "g1"), hostile]);

        assert_eq!(ids(&batch), ["a"]);
        assert_eq!(batch.failed, ["b"]);
    }

    #[test]
    fn an_unreadable_record_without_a_message_id_is_dropped_and_holds_nothing_back() {
        let mut nameless = unreadable("x", "g1");
        nameless.as_object_mut().unwrap().remove("messageId");

        let batch = read_batch(vec![nameless, record("a", "g1"), json!(42)]);

        assert_eq!(ids(&batch), ["a"]);
        assert!(batch.failed.is_empty(), "{:?}", batch.failed);
    }
}
