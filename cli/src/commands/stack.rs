//! The stack a command acts on: the deployed one (the DynamoDB table, the SQS queues and Secrets
//! Manager) or the embedded one of `serve` (the redb database of a data folder, secrets from the
//! environment or a private file). Only wiring: each backend is opened once into the same ports
//! (the link store, the queue administration, the secret source), and the commands use those.

use std::path::Path;
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use qalita_gitlab_core::adapters::dynamodb::DynamoLinkStore;
use qalita_gitlab_core::adapters::qalita_http::QalitaClient;
use qalita_gitlab_core::adapters::secrets_manager::SecretsManager;
use qalita_gitlab_core::adapters::sqs_admin::{QueueLocation, SqsQueueAdmin};
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::ports::GitlabApi;
use qalita_gitlab_core::ports::{LinkStore, QueueAdmin, SecretSource, SecretStage, StoreError, SystemClock};

use super::global::GlobalArgs;
use super::outcome::CommandError;
use crate::embedded::EmbeddedDb;
use crate::embedded::queue::{EmbeddedQueue, QueueOptions};
use crate::embedded::secrets::{EnvSecrets, FileSecrets};
use crate::embedded::store::RedbLinkStore;
use qalita_gitlab_worker::wiring::{self, Tokens};

use crate::local::{DATABASE_FILE, GITLAB_TOKEN_ID, LOG_TTL, QALITA_TOKEN_ID, WEBHOOK_SECRET_ID};

/// The configuration a command works with, and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The stored document, if one was applied.
    pub document: Option<String>,
}

/// The stack a command acts on, as ports: the same commands run on either backend.
pub struct Stack {
    store: Arc<dyn LinkStore>,
    queues: Arc<dyn QueueAdmin>,
    secrets: Arc<dyn SecretSource>,
    gitlab_token: Token,
    qalita_token: Token,
    webhook_secret: Token,
    description: String,
    description_json: serde_json::Value,
    store_fix: &'static str,
    outputs: Outputs,
}

/// Where the stack's outputs (`WebhookUrl`, …) are read from: the deployed stack's in
/// CloudFormation, by `--stack-name`; the embedded stack has none.
enum Outputs {
    Cloudformation { client: aws_sdk_cloudformation::Client, stack_name: Option<String>, region: String },
    None,
}

/// A token of the stack: the id of its secret (or why it is not known), and where it is read from,
/// for people.
struct Token {
    id: Result<String, String>,
    shown: String,
}

fn usage(message: impl Into<String>) -> CommandError {
    CommandError::Usage(message.into())
}

impl Stack {
    /// Opens the stack the options name: `--local DIR`, else the deployed one (which needs a table).
    pub async fn open(global: &GlobalArgs) -> Result<Stack, CommandError> {
        match &global.local {
            Some(dir) => local(dir, global.local_secrets.as_deref()).await,
            None => aws(global).await,
        }
    }

    /// The link store.
    pub fn store(&self) -> Arc<dyn LinkStore> {
        self.store.clone()
    }

    /// The event queue's administration: depths, the dead-letter queue and its replay.
    pub fn queues(&self) -> &dyn QueueAdmin {
        self.queues.as_ref()
    }

    /// What the stack is, for people.
    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// What the stack is, for scripts.
    pub fn describe_json(&self) -> serde_json::Value {
        self.description_json.clone()
    }

    /// What to check when the store cannot be read.
    pub fn store_fix(&self) -> &'static str {
        self.store_fix
    }

    /// The stored configuration document, if one was applied.
    pub async fn config_document(&self) -> Result<Option<String>, CommandError> {
        Ok(self.store.config_document().await?)
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
        self.gitlab_token.shown.clone()
    }

    /// Where the QALITA token is read from, for people.
    pub fn qalita_secret_name(&self) -> String {
        self.qalita_token.shown.clone()
    }

    /// The value of the deployed stack's CloudFormation output `key` (stack `--stack-name`); a usage
    /// error naming `instead` (the option that gives the value directly) when there is no stack name,
    /// no such stack, or no such output (the message lists the outputs it has).
    pub async fn output(&self, key: &str, instead: &str) -> Result<String, CommandError> {
        let (client, name, region) = match &self.outputs {
            Outputs::Cloudformation { client, stack_name: Some(name), region } => (client, name, region),
            Outputs::Cloudformation { stack_name: None, .. } => {
                return Err(usage(format!(
                    "no stack name to read the output {key} from: pass {instead}, or --stack-name (or set QALITA_GITLAB_STACK)"
                )));
            }
            Outputs::None => {
                return Err(usage(format!("the embedded stack has no output {key}: pass {instead}")));
            }
        };
        let described = client.describe_stacks().stack_name(name).send().await.map_err(|error| {
            let shown = aws_sdk_cloudformation::error::DisplayErrorContext(&error).to_string();
            match error.as_service_error() {
                // CloudFormation answers a missing stack with a ValidationError "does not exist".
                Some(service) if service.message().is_some_and(|m| m.contains("does not exist")) => usage(format!(
                    "the stack {name} does not exist in CloudFormation (region {region}), so its output {key} cannot be read: check --stack-name and --region, or pass {instead}"
                )),
                Some(service) if service.code().is_some_and(|c| c.contains("Throttl")) => {
                    CommandError::Unavailable(format!("CloudFormation throttled the reading of the stack {name}: {shown}"))
                }
                Some(_) => usage(format!(
                    "CloudFormation refused to describe the stack {name} (the credentials need cloudformation:DescribeStacks on it; or pass {instead}): {shown}"
                )),
                None => CommandError::Unavailable(format!("CloudFormation did not answer (stack {name}): {shown}")),
            }
        })?;
        let Some(stack) = described.stacks().first() else {
            return Err(usage(format!(
                "the stack {name} does not exist in CloudFormation (region {region}), so its output {key} cannot be read: check --stack-name and --region, or pass {instead}"
            )));
        };
        let outputs = stack.outputs();
        if let Some(value) = outputs
            .iter()
            .find(|output| output.output_key() == Some(key))
            .and_then(|output| output.output_value())
            .filter(|value| !value.trim().is_empty())
        {
            return Ok(value.trim().to_owned());
        }
        let keys: Vec<&str> = outputs.iter().filter_map(|output| output.output_key()).collect();
        let has =
            if keys.is_empty() { "it has no outputs".to_owned() } else { format!("its outputs: {}", keys.join(", ")) };
        Err(usage(format!("the stack {name} has no output {key} ({has}): pass {instead}")))
    }

    /// The GitLab token.
    pub async fn gitlab_token(&self) -> Result<SecretString, CommandError> {
        self.read(&self.gitlab_token).await
    }

    /// The GitLab webhook secret (`given`, else the stack's: `<stack name>/gitlab-webhook-secret`,
    /// or the embedded stack's), and where it was read from, for people.
    pub async fn webhook_secret(&self, given: Option<&str>) -> Result<(SecretString, String), CommandError> {
        let token = match given {
            Some(id) => Token { id: Ok(id.to_owned()), shown: id.to_owned() },
            None => Token { id: self.webhook_secret.id.clone(), shown: self.webhook_secret.shown.clone() },
        };
        Ok((self.read(&token).await?, token.shown))
    }

    /// The QALITA API token.
    pub async fn qalita_token(&self) -> Result<SecretString, CommandError> {
        self.read(&self.qalita_token).await
    }

    async fn read(&self, token: &Token) -> Result<SecretString, CommandError> {
        let id = token.id.as_ref().map_err(usage)?;
        match self.secrets.read(id, SecretStage::Current).await? {
            Some(value) => Ok(value),
            None => Err(usage(format!("the secret {id} has no value"))),
        }
    }

    /// The GitLab and QALITA clients of the configuration, with the stack's tokens; GitLab's paced
    /// by the rate governor on the stack's counters, shared with the workers.
    pub async fn clients(&self, config: &Config) -> Result<(Arc<dyn GitlabApi>, Arc<QalitaClient>), CommandError> {
        // The worker's builder and HTTP profile: the commands that sync run the worker's code.
        let tokens = Tokens { gitlab: self.gitlab_token().await?, qalita: self.qalita_token().await? };
        let (gitlab, qalita) =
            wiring::clients(config, tokens, &wiring::http_profile()).map_err(|error| usage(error.to_string()))?;
        let counters: Arc<dyn qalita_gitlab_core::ports::Settings> = self.store();
        let gitlab = wiring::governed(config, gitlab, counters, Arc::new(qalita_gitlab_core::ports::SystemClock));
        Ok((gitlab, qalita))
    }

    /// The GitLab client of the configuration with the stack's token (no QALITA token needed).
    pub async fn gitlab_client(
        &self,
        config: &Config,
    ) -> Result<Arc<qalita_gitlab_core::adapters::gitlab_http::GitlabClient>, CommandError> {
        wiring::gitlab_client(config, self.gitlab_token().await?, &wiring::http_profile())
            .map_err(|error| usage(error.to_string()))
    }

    /// Stores the configuration document if the stored one is still `previous`, so that two
    /// operators do not overwrite each other.
    pub async fn put_config_document(&self, document: &str, previous: Option<&str>) -> Result<(), CommandError> {
        match self.store.put_config_document(previous, document).await {
            Err(StoreError::Conflict) => Err(CommandError::Failure(
                "the stored configuration changed while this one was being applied: run `config apply` again to see the new diff".into(),
            )),
            other => Ok(other?),
        }
    }
}

/// The process environment, as the worker reads its defaults.
pub fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|value| !value.trim().is_empty())
}

/// The embedded stack of the data folder `dir`.
async fn local(dir: &Path, secrets_file: Option<&Path>) -> Result<Stack, CommandError> {
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
    let token = |id: &str| Token { id: Ok(id.to_owned()), shown: format!("{id} ({secrets_from})") };
    Ok(Stack {
        store: Arc::new(store),
        queues: Arc::new(queue),
        gitlab_token: token(GITLAB_TOKEN_ID),
        qalita_token: token(QALITA_TOKEN_ID),
        webhook_secret: token(WEBHOOK_SECRET_ID),
        secrets,
        description: format!("embedded stack in {}", dir.display()),
        description_json: serde_json::json!({ "kind": "local", "data_dir": dir }),
        store_fix: "check --local DIR (the data folder of `serve`), and stop `serve` if it is running",
        outputs: Outputs::None,
    })
}

/// The deployed stack: its table, its queues (by URL, else by the names the template gives them
/// under `--stack-name`) and its secrets.
async fn aws(global: &GlobalArgs) -> Result<Stack, CommandError> {
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
    let stack_name = global.stack_name.as_deref();
    let queue = |given: &Option<String>, suffix: &str| match (given, stack_name) {
        (Some(url), _) => Some(QueueLocation::Url(url.clone())),
        (None, Some(stack)) => Some(QueueLocation::Name(format!("{stack}-{suffix}"))),
        (None, None) => None,
    };
    let queues = SqsQueueAdmin::new(
        aws_sdk_sqs::Client::new(&sdk),
        queue(&global.queue_url, "events.fifo"),
        queue(&global.dlq_url, "events-dlq.fifo"),
    );
    // A secret's id: as given, else `<stack name>/<suffix>` as the template names it.
    let token = |given: &Option<String>, suffix: &str, flag: &str| {
        let id = match (given, stack_name) {
            (Some(id), _) => Ok(id.clone()),
            (None, Some(stack)) => Ok(format!("{stack}/{suffix}")),
            (None, None) => Err(format!(
                "{flag} is not set: no secret for the {suffix}: pass --stack-name, or the secret's id (the stack outputs GitlabTokenSecretArn, QalitaTokenSecretArn)"
            )),
        };
        let shown = id.clone().unwrap_or_else(|_| "(not given)".into());
        Token { id, shown }
    };
    Ok(Stack {
        store: Arc::new(DynamoLinkStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone(), LOG_TTL)),
        queues: Arc::new(queues),
        secrets: Arc::new(SecretsManager::new(aws_sdk_secretsmanager::Client::new(&sdk))),
        gitlab_token: token(&global.gitlab_token_secret, "gitlab-token", "--gitlab-token-secret"),
        qalita_token: token(&global.qalita_token_secret, "qalita-token", "--qalita-token-secret"),
        webhook_secret: token(&None, "gitlab-webhook-secret", "--webhook-secret"),
        description: format!("DynamoDB table {table}"),
        description_json: serde_json::json!({ "kind": "aws", "table": table }),
        store_fix: "check --table (the stack output SyncTableName), the region, the credentials, and that the role may read the table",
        outputs: Outputs::Cloudformation {
            client: aws_sdk_cloudformation::Client::new(&sdk),
            stack_name: stack_name.map(str::to_owned),
            region: sdk.region().map(|region| region.to_string()).unwrap_or_default(),
        },
    })
}
