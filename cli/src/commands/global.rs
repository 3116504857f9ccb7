//! The options every command takes: the output format, and where the stack is (the deployed one,
//! reached through the default AWS credential chain or `--endpoint-url`, or the embedded one of
//! `serve` with `--local DIR`). Each has an environment variable, so that a script sets them once.

use std::path::PathBuf;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// Text for people.
    #[default]
    Human,
    /// One JSON document on standard output, for scripts.
    Json,
}

/// Where the stack is, and how to print.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalArgs {
    /// Output format: text for people, or one JSON document for scripts.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human, env = "QALITA_GITLAB_OUTPUT")]
    pub output: OutputFormat,

    /// Act on the embedded stack that `serve --data-dir DIR` runs on, instead of the deployed one
    /// (the AWS options are then ignored). Stop `serve` first: its database is held open.
    #[arg(long, global = true, value_name = "DIR", env = "QALITA_GITLAB_LOCAL")]
    pub local: Option<PathBuf>,

    /// With --local: read the tokens from this TOML file (mode 0600), as `serve --secrets-file`,
    /// instead of QALITA_GITLAB_GITLAB_TOKEN and QALITA_GITLAB_QALITA_TOKEN.
    #[arg(long, global = true, value_name = "FILE", env = "QALITA_GITLAB_SECRETS_FILE")]
    pub local_secrets: Option<PathBuf>,

    /// The AWS endpoint (a local stack such as moto); by default the AWS configuration chain's
    /// (AWS_ENDPOINT_URL, else AWS itself).
    #[arg(long, global = true, value_name = "URL", env = "QALITA_GITLAB_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,

    /// The AWS region; by default the AWS configuration chain's (AWS_REGION, the profile).
    #[arg(long, global = true, value_name = "REGION", env = "QALITA_GITLAB_REGION")]
    pub region: Option<String>,

    /// The deployed stack's name: the queues (<NAME>-events.fifo, <NAME>-events-dlq.fifo) and the
    /// secrets (<NAME>/gitlab-token, <NAME>/qalita-token) are found by it unless given.
    #[arg(long, global = true, value_name = "NAME", env = "QALITA_GITLAB_STACK")]
    pub stack_name: Option<String>,

    /// The DynamoDB table (the stack output SyncTableName).
    #[arg(long, global = true, value_name = "NAME", env = "QALITA_GITLAB_TABLE")]
    pub table: Option<String>,

    /// The event queue's URL (the stack output EventQueueUrl).
    #[arg(long, global = true, value_name = "URL", env = "QALITA_GITLAB_QUEUE_URL")]
    pub queue_url: Option<String>,

    /// The dead-letter queue's URL (the stack output EventDeadLetterQueueUrl).
    #[arg(long, global = true, value_name = "URL", env = "QALITA_GITLAB_DLQ_URL")]
    pub dlq_url: Option<String>,

    /// The secret holding the GitLab token (the stack output GitlabTokenSecretArn).
    #[arg(long, global = true, value_name = "ID", env = "QALITA_GITLAB_GITLAB_TOKEN_SECRET")]
    pub gitlab_token_secret: Option<String>,

    /// The secret holding the QALITA API token (the stack output QalitaTokenSecretArn).
    #[arg(long, global = true, value_name = "ID", env = "QALITA_GITLAB_QALITA_TOKEN_SECRET")]
    pub qalita_token_secret: Option<String>,
}
