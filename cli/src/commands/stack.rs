//! The stack a command acts on: the deployed one (the DynamoDB table, the SQS queues and Secrets
//! Manager, through the core crate's adapters) or the embedded one of `serve` (the redb database of
//! a data folder, secrets from the environment or a private file). What the ports do not cover
//! (queue depths, the dead-letter queue, the configuration item, a scan of the log) is done here,
//! once per backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use qalita_gitlab_core::adapters::aws_error::classify;
use qalita_gitlab_core::adapters::dynamodb::DynamoLinkStore;
use qalita_gitlab_core::adapters::gitlab_http::GitlabClient;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::adapters::qalita_http::QalitaClient;
use qalita_gitlab_core::adapters::secrets_manager::SecretsManager;
use qalita_gitlab_core::adapters::sqs::SqsQueue;
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::domain::link::{LogEntry, LogLevel};
use qalita_gitlab_core::ports::{
    EventQueue, LinkStore, OutgoingMessage, ReceivedMessage, SecretSource, SecretStage, SystemClock,
};
use serde::Serialize;

use super::global::GlobalArgs;
use super::outcome::CommandError;
use crate::embedded::EmbeddedDb;
use crate::embedded::queue::{DeadLetter, EmbeddedQueue, QueueOptions};
use crate::embedded::secrets::{EnvSecrets, FileSecrets};
use crate::embedded::store::RedbLinkStore;

/// The database file of a data folder (as `serve` names it).
pub const DATABASE_FILE: &str = "qalita-gitlab.redb";
/// The secret id of the GitLab token on the embedded stack (variable `QALITA_GITLAB_GITLAB_TOKEN`).
pub const LOCAL_GITLAB_TOKEN_ID: &str = "qalita-gitlab/gitlab-token";
/// The secret id of the QALITA token on the embedded stack (variable `QALITA_GITLAB_QALITA_TOKEN`).
pub const LOCAL_QALITA_TOKEN_ID: &str = "qalita-gitlab/qalita-token";
/// How long log entries written by a command are kept (as the deployed table's TTL).
const LOG_TTL: TimeDelta = TimeDelta::days(90);
/// Receives of the dead-letter queue in one listing, at most (10 messages each).
const MAX_DLQ_RECEIVES: usize = 100;

/// The configuration a command works with, and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The stored document, if one was applied.
    pub document: Option<String>,
}

/// A message of the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadMessage {
    /// The queue's id of the message.
    pub message_id: String,
    /// Its message group (`qalita:<id>`, `gitlab:<project>:<iid>`).
    pub group_id: String,
    /// How many times it was received before it was dead-lettered.
    pub receive_count: u32,
    /// The envelope as sent.
    pub body: String,
    /// When it was moved to the dead-letter queue, where the queue tells.
    pub dead_lettered_at: Option<DateTime<Utc>>,
}

/// How many messages the queues hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Depths {
    /// Waiting in the event queue.
    pub waiting: u64,
    /// Being processed (received, not yet deleted).
    pub in_flight: u64,
    /// In the dead-letter queue.
    pub dead_letters: u64,
}

/// The deployed stack.
pub struct AwsStack {
    dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    secrets: SecretsManager,
    store: Arc<DynamoLinkStore>,
    table: String,
    stack_name: Option<String>,
    queue_url: Option<String>,
    dlq_url: Option<String>,
    gitlab_secret: Option<String>,
    qalita_secret: Option<String>,
}

/// The embedded stack of a data folder.
pub struct LocalStack {
    dir: PathBuf,
    store: Arc<RedbLinkStore>,
    queue: EmbeddedQueue,
    secrets: Arc<dyn SecretSource>,
    secrets_from: String,
}

/// The stack a command acts on.
pub enum Stack {
    /// DynamoDB, SQS and Secrets Manager.
    Aws(Box<AwsStack>),
    /// The embedded stack of `serve`.
    Local(Box<LocalStack>),
}

fn usage(message: impl Into<String>) -> CommandError {
    CommandError::Usage(message.into())
}

impl Stack {
    /// Opens the stack the options name: `--local DIR`, else the deployed one (which needs a table).
    pub async fn open(global: &GlobalArgs) -> Result<Stack, CommandError> {
        match &global.local {
            Some(dir) => Ok(Stack::Local(Box::new(LocalStack::open(dir, global.local_secrets.as_deref()).await?))),
            None => Ok(Stack::Aws(Box::new(AwsStack::open(global).await?))),
        }
    }

    /// The link store.
    pub fn store(&self) -> Arc<dyn LinkStore> {
        match self {
            Stack::Aws(aws) => aws.store.clone(),
            Stack::Local(local) => local.store.clone(),
        }
    }

    /// What the stack is, for people.
    pub fn describe(&self) -> String {
        match self {
            Stack::Aws(aws) => format!("DynamoDB table {}", aws.table),
            Stack::Local(local) => format!("embedded stack in {}", local.dir.display()),
        }
    }

    /// What the stack is, for scripts.
    pub fn describe_json(&self) -> serde_json::Value {
        match self {
            Stack::Aws(aws) => serde_json::json!({ "kind": "aws", "table": aws.table }),
            Stack::Local(local) => serde_json::json!({ "kind": "local", "data_dir": local.dir }),
        }
    }

    /// The stored configuration document, if one was applied.
    pub async fn config_document(&self) -> Result<Option<String>, CommandError> {
        Ok(self.store().config_document().await?)
    }

    /// The configuration the worker would use: the stored document, else defaults and the
    /// environment (`GITLAB_BASE_URL`, `GITLAB_DEFAULT_PROJECT`, `QALITA_BASE_URL`), validated.
    pub async fn config(&self) -> Result<LoadedConfig, CommandError> {
        let document = self.config_document().await?;
        let config = Config::from_document(document.as_deref().unwrap_or_default(), env).map_err(|error| {
            let origin = match document {
                Some(_) => "the stored configuration document (see `qalita-gitlab config show`)",
                None => "no configuration document is stored and the environment does not complete the defaults",
            };
            usage(format!("{error} ({origin})"))
        })?;
        Ok(LoadedConfig { config: Arc::new(config), document })
    }

    /// Where the GitLab token is read from, for people.
    pub fn gitlab_secret_name(&self) -> String {
        match self {
            Stack::Aws(aws) => {
                aws.secret_id(&aws.gitlab_secret, "gitlab-token").unwrap_or_else(|_| "(not given)".into())
            }
            Stack::Local(local) => format!("{LOCAL_GITLAB_TOKEN_ID} ({})", local.secrets_from),
        }
    }

    /// Where the QALITA token is read from, for people.
    pub fn qalita_secret_name(&self) -> String {
        match self {
            Stack::Aws(aws) => {
                aws.secret_id(&aws.qalita_secret, "qalita-token").unwrap_or_else(|_| "(not given)".into())
            }
            Stack::Local(local) => format!("{LOCAL_QALITA_TOKEN_ID} ({})", local.secrets_from),
        }
    }

    /// The GitLab token.
    pub async fn gitlab_token(&self) -> Result<SecretString, CommandError> {
        match self {
            Stack::Aws(aws) => aws.read_secret(&aws.gitlab_secret, "gitlab-token", "--gitlab-token-secret").await,
            Stack::Local(local) => read(local.secrets.as_ref(), LOCAL_GITLAB_TOKEN_ID).await,
        }
    }

    /// The QALITA API token.
    pub async fn qalita_token(&self) -> Result<SecretString, CommandError> {
        match self {
            Stack::Aws(aws) => aws.read_secret(&aws.qalita_secret, "qalita-token", "--qalita-token-secret").await,
            Stack::Local(local) => read(local.secrets.as_ref(), LOCAL_QALITA_TOKEN_ID).await,
        }
    }

    /// The GitLab and QALITA clients of the configuration, with the stack's tokens.
    pub async fn clients(&self, config: &Config) -> Result<(Arc<GitlabClient>, Arc<QalitaClient>), CommandError> {
        let http = HttpSettings::default();
        let gitlab_settings = HttpSettings { ca_bundle: config.gitlab.ca_bundle.clone(), ..http.clone() };
        let gitlab = GitlabClient::new(&config.gitlab.base_url, self.gitlab_token().await?, &gitlab_settings)
            .map_err(|error| usage(error.to_string()))?;
        let qalita =
            QalitaClient::new(&config.qalita.base_url, self.qalita_token().await?, config.qalita.paths.clone(), &http)
                .map_err(|error| usage(error.to_string()))?;
        Ok((Arc::new(gitlab), Arc::new(qalita)))
    }

    /// How many messages the queues hold.
    pub async fn depths(&self) -> Result<Depths, CommandError> {
        match self {
            Stack::Aws(aws) => aws.depths().await,
            Stack::Local(local) => {
                let depth = local.queue.depth().await?;
                Ok(Depths { waiting: depth.available, in_flight: depth.in_flight, dead_letters: depth.dead_letters })
            }
        }
    }

    /// The messages of the dead-letter queue, oldest first.
    pub async fn dlq_list(&self) -> Result<Vec<DeadMessage>, CommandError> {
        match self {
            Stack::Aws(aws) => aws.dlq_replay(None, true).await,
            Stack::Local(local) => Ok(local.queue.dlq_list().await?.into_iter().map(dead_message).collect()),
        }
    }

    /// Moves the dead letters of `group` (all if `None`) back to the event queue, as new messages;
    /// with `dry_run`, moves nothing. The messages moved (or that would be).
    pub async fn dlq_replay(&self, group: Option<&str>, dry_run: bool) -> Result<Vec<DeadMessage>, CommandError> {
        match self {
            Stack::Aws(aws) => aws.dlq_replay(group, dry_run).await,
            Stack::Local(local) => {
                Ok(local.queue.dlq_replay(group, dry_run).await?.into_iter().map(dead_message).collect())
            }
        }
    }

    /// The log entries of every issue since `since` (errors only if asked), oldest first. On
    /// DynamoDB this is a scan of the table: every item is read (and billed).
    pub async fn recent_log(&self, since: DateTime<Utc>, errors_only: bool) -> Result<Vec<LogEntry>, CommandError> {
        match self {
            Stack::Aws(aws) => aws.scan_log(since, errors_only).await,
            Stack::Local(local) => Ok(local.store.recent_log(since, errors_only).await?),
        }
    }

    /// Stores the configuration document. On DynamoDB the write is conditional on the stored
    /// document still being `previous`, so that two operators do not overwrite each other.
    pub async fn put_config_document(&self, document: &str, previous: Option<&str>) -> Result<(), CommandError> {
        match self {
            Stack::Aws(aws) => aws.put_config(document, previous).await,
            Stack::Local(local) => Ok(local.store.put_config_document(document).await?),
        }
    }
}

/// The process environment, as the worker reads its defaults.
pub fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|value| !value.trim().is_empty())
}

async fn read(source: &dyn SecretSource, id: &str) -> Result<SecretString, CommandError> {
    match source.read(id, SecretStage::Current).await? {
        Some(value) => Ok(value),
        None => Err(usage(format!("the secret {id} has no value"))),
    }
}

fn dead_message(letter: DeadLetter) -> DeadMessage {
    DeadMessage {
        message_id: letter.message_id,
        group_id: letter.group_id,
        receive_count: letter.receive_count,
        body: letter.body,
        dead_lettered_at: Some(letter.dead_lettered_at),
    }
}

impl LocalStack {
    async fn open(dir: &Path, secrets_file: Option<&Path>) -> Result<LocalStack, CommandError> {
        if !dir.is_dir() {
            return Err(usage(format!(
                "{} is not a folder: give the data folder of `qalita-gitlab serve --data-dir`",
                dir.display()
            )));
        }
        let db = EmbeddedDb::open(dir.join(DATABASE_FILE)).await.map_err(|error| match error {
            crate::embedded::OpenError::InUse { .. } => CommandError::Unavailable(error.to_string()),
            other => CommandError::Failure(other.to_string()),
        })?;
        let clock = Arc::new(SystemClock);
        let open_failed = |error: crate::embedded::OpenError| CommandError::Failure(error.to_string());
        let store = RedbLinkStore::open(&db, clock.clone(), LOG_TTL).await.map_err(open_failed)?;
        let queue = EmbeddedQueue::open(&db, clock, QueueOptions::default()).await.map_err(open_failed)?;
        let (secrets, secrets_from): (Arc<dyn SecretSource>, String) = match secrets_file {
            Some(path) => (
                Arc::new(FileSecrets::open(path).await.map_err(|error| usage(error.to_string()))?),
                format!("the file {}", path.display()),
            ),
            None => (Arc::new(EnvSecrets::new()), "environment variables".to_owned()),
        };
        Ok(LocalStack { dir: dir.to_owned(), store: Arc::new(store), queue, secrets, secrets_from })
    }
}

fn aws_error<E, R>(what: &str, error: SdkError<E, R>) -> CommandError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
    R: qalita_gitlab_core::adapters::aws_error::HttpStatus,
{
    let classified = classify(&error);
    let detail = match classified.message.is_empty() {
        true => classified.class.clone(),
        false => format!("{}: {}", classified.class, classified.message),
    };
    let message = format!("{what} ({detail})");
    if classified.transient {
        CommandError::Unavailable(message)
    } else if classified.class.contains("NonExistentQueue")
        || classified.class.contains("ResourceNotFound")
        || classified.class.contains("AccessDenied")
        || classified.class.contains("UnrecognizedClient")
        || classified.class.contains("InvalidClientTokenId")
    {
        CommandError::Usage(message)
    } else {
        CommandError::Failure(message)
    }
}

impl AwsStack {
    async fn open(global: &GlobalArgs) -> Result<AwsStack, CommandError> {
        let table = global.table.clone().ok_or_else(|| {
            usage("no table given: pass --table (or set QALITA_GITLAB_TABLE) with the stack output SyncTableName, or use --local DIR for the embedded stack")
        })?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(url) = &global.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(region) = &global.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(usage("no AWS region: pass --region or set AWS_REGION"));
        }
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let store = Arc::new(DynamoLinkStore::new(dynamodb.clone(), table.clone(), LOG_TTL));
        Ok(AwsStack {
            dynamodb,
            sqs: aws_sdk_sqs::Client::new(&sdk),
            secrets: SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk)),
            store,
            table,
            stack_name: global.stack_name.clone(),
            queue_url: global.queue_url.clone(),
            dlq_url: global.dlq_url.clone(),
            gitlab_secret: global.gitlab_token_secret.clone(),
            qalita_secret: global.qalita_token_secret.clone(),
        })
    }

    /// A secret's id: as given, else `<stack name>/<suffix>` as the template names it.
    fn secret_id(&self, given: &Option<String>, suffix: &str) -> Result<String, CommandError> {
        match (given, &self.stack_name) {
            (Some(id), _) => Ok(id.clone()),
            (None, Some(stack)) => Ok(format!("{stack}/{suffix}")),
            (None, None) => Err(usage(format!(
                "no secret for the {suffix}: pass --stack-name, or the secret's id (the stack outputs GitlabTokenSecretArn, QalitaTokenSecretArn)"
            ))),
        }
    }

    async fn read_secret(
        &self,
        given: &Option<String>,
        suffix: &str,
        flag: &str,
    ) -> Result<SecretString, CommandError> {
        let id = self.secret_id(given, suffix).map_err(|e| e.context(format!("{flag} is not set")))?;
        read(&self.secrets, &id).await
    }

    /// A queue's URL: as given, else found by the name the template gives it.
    async fn queue(&self, given: &Option<String>, suffix: &str, flag: &str) -> Result<String, CommandError> {
        if let Some(url) = given {
            return Ok(url.clone());
        }
        let Some(stack) = &self.stack_name else {
            return Err(usage(format!("no {flag} given (and no --stack-name to find the queue by its name)")));
        };
        let name = format!("{stack}-{suffix}");
        let found = self.sqs.get_queue_url().queue_name(&name).send().await;
        match found {
            Ok(output) => output.queue_url.ok_or_else(|| CommandError::Failure(format!("SQS gave no URL for {name}"))),
            Err(error) => Err(aws_error(&format!("the queue {name} of stack {stack} cannot be found"), error)),
        }
    }

    async fn queue_counts(&self, url: &str) -> Result<(u64, u64), CommandError> {
        let output = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|error| aws_error(&format!("the queue {url} cannot be read"), error))?;
        let attributes = output.attributes.unwrap_or_default();
        let count = |name: QueueAttributeName| attributes.get(&name).and_then(|n| n.parse().ok()).unwrap_or(0);
        Ok((
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    async fn depths(&self) -> Result<Depths, CommandError> {
        let queue = self.queue(&self.queue_url, "events.fifo", "--queue-url").await?;
        let dlq = self.queue(&self.dlq_url, "events-dlq.fifo", "--dlq-url").await?;
        let (waiting, in_flight) = self.queue_counts(&queue).await?;
        let (dead, dead_in_flight) = self.queue_counts(&dlq).await?;
        Ok(Depths { waiting, in_flight, dead_letters: dead + dead_in_flight })
    }

    /// Receives the whole dead-letter queue (each message stays invisible while the listing runs),
    /// moves the chosen ones back to the event queue unless `dry_run`, and makes the others visible
    /// again at once. A FIFO queue gives the later messages of a group only once the earlier ones
    /// are deleted: a dry run (or `dlq list`) shows the first ten of each group at most.
    async fn dlq_replay(&self, group: Option<&str>, dry_run: bool) -> Result<Vec<DeadMessage>, CommandError> {
        let dlq_url = self.queue(&self.dlq_url, "events-dlq.fifo", "--dlq-url").await?;
        let dlq = SqsQueue::new(self.sqs.clone(), dlq_url);
        let main = match dry_run {
            true => None,
            false => {
                Some(SqsQueue::new(self.sqs.clone(), self.queue(&self.queue_url, "events.fifo", "--queue-url").await?))
            }
        };
        let mut chosen = Vec::new();
        let mut kept: Vec<ReceivedMessage> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let result = self.move_dead_letters(&dlq, main.as_ref(), group, &mut chosen, &mut kept, &mut seen).await;
        // Whatever happened, what was received and not moved is made visible again at once.
        for message in &kept {
            if let Err(error) = dlq.change_visibility(&message.receipt, Duration::ZERO).await {
                tracing::warn!(message_id = %message.message_id, error = %error, "dead letter not made visible again; it is after the queue's visibility timeout");
            }
        }
        result.map(|()| chosen)
    }

    async fn move_dead_letters(
        &self,
        dlq: &SqsQueue,
        main: Option<&SqsQueue>,
        group: Option<&str>,
        chosen: &mut Vec<DeadMessage>,
        kept: &mut Vec<ReceivedMessage>,
        seen: &mut std::collections::HashSet<String>,
    ) -> Result<(), CommandError> {
        for _ in 0..MAX_DLQ_RECEIVES {
            let batch = dlq.receive(10, Duration::from_secs(1)).await?;
            if batch.is_empty() {
                break;
            }
            for message in batch {
                if !seen.insert(message.message_id.clone()) {
                    kept.push(message);
                    continue;
                }
                let wanted = group.is_none_or(|group| group == message.group_id);
                let dead = DeadMessage {
                    message_id: message.message_id.clone(),
                    group_id: message.group_id.clone(),
                    // This receive counted too.
                    receive_count: message.receive_count.saturating_sub(1),
                    body: message.body.clone(),
                    dead_lettered_at: None,
                };
                match (wanted, main) {
                    (true, Some(main)) => {
                        // A new deduplication id: the original one may still be in SQS's window.
                        let dedup_id = format!("replay-{}-{}", Utc::now().timestamp_millis(), message.message_id);
                        let dedup_id: String = dedup_id.chars().filter(|c| c.is_ascii_graphic()).take(128).collect();
                        let outgoing = OutgoingMessage {
                            group_id: message.group_id.clone(),
                            dedup_id,
                            body: message.body.clone(),
                        };
                        if let Err(error) = main.send(&outgoing).await {
                            kept.push(message);
                            return Err(error.into());
                        }
                        dlq.delete(&message.receipt).await?;
                        chosen.push(dead);
                    }
                    (true, None) => {
                        chosen.push(dead);
                        kept.push(message);
                    }
                    (false, _) => kept.push(message),
                }
            }
        }
        Ok(())
    }

    /// Every log entry since `since`: a scan of the whole table, filtered on `LOG#` items whose
    /// sort key (the entry's time, RFC 3339 to the nanosecond) is not earlier.
    async fn scan_log(&self, since: DateTime<Utc>, errors_only: bool) -> Result<Vec<LogEntry>, CommandError> {
        let now = Utc::now().timestamp();
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(#pk, :log) AND #sk >= :since")
                .expression_attribute_names("#pk", "pk")
                .expression_attribute_names("#sk", "sk")
                .expression_attribute_values(":log", AttributeValue::S("LOG#".into()))
                .expression_attribute_values(
                    ":since",
                    AttributeValue::S(since.to_rfc3339_opts(SecondsFormat::Nanos, true)),
                )
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|error| aws_error(&format!("the table {} cannot be scanned", self.table), error))?;
            for item in page.items.unwrap_or_default() {
                let expired = item
                    .get("expires_at")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i64>().ok())
                    .is_some_and(|expires_at| expires_at < now);
                let Some(Ok(entry)) =
                    item.get("entry").and_then(|v| v.as_s().ok()).map(|json| serde_json::from_str::<LogEntry>(json))
                else {
                    let key = item.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                    return Err(CommandError::Failure(format!("the log item {key} is not readable")));
                };
                if !expired && (!errors_only || entry.level == LogLevel::Error) {
                    entries.push(entry);
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        entries.sort_by_key(|entry| entry.at);
        Ok(entries)
    }

    /// Writes the `CONFIG`/`CURRENT` item (attribute `document`, as the DynamoDB adapter reads it),
    /// with a version and the time it was applied.
    async fn put_config(&self, document: &str, previous: Option<&str>) -> Result<(), CommandError> {
        let current = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S("CONFIG".into()))
            .key("sk", AttributeValue::S("CURRENT".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| aws_error(&format!("the table {} cannot be read", self.table), error))?;
        let version: u64 = current
            .item
            .as_ref()
            .and_then(|item| item.get("version"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let request = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S("CONFIG".into()))
            .item("sk", AttributeValue::S("CURRENT".into()))
            .item("document", AttributeValue::S(document.to_owned()))
            .item("version", AttributeValue::N((version + 1).to_string()))
            .item("applied_at", AttributeValue::S(Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)));
        let request = match previous {
            None => request.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", "pk"),
            Some(previous) => request
                .condition_expression("#document = :previous")
                .expression_attribute_names("#document", "document")
                .expression_attribute_values(":previous", AttributeValue::S(previous.to_owned())),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(CommandError::Failure(
                    "the stored configuration changed while this one was being applied: run `config apply` again to see the new diff".into(),
                ))
            }
            Err(error) => Err(aws_error(&format!("the configuration cannot be written to {}", self.table), error)),
        }
    }
}
