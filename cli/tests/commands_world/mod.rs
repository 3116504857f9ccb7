//! The world the operator commands' tests run in: the GitLab and QALITA simulators on loopback
//! ports, and either the local AWS stack (moto, `AWS_ENDPOINT_URL`, the template's resources under
//! a fresh name) or an embedded stack in a temporary data folder. Commands run as the built binary,
//! so that their output and exit codes are what is tested.
#![allow(dead_code, reason = "each test file uses a part of the world")]

pub mod status;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use chrono::TimeDelta;
use qalita_gitlab_core::adapters::dynamodb::DynamoLinkStore;
use qalita_gitlab_core::ports::LinkStore;
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, GitlabSim, SimConfig};
use qalita_gitlab_sims::qalita::{Dialect, QalitaSim};
use qalita_gitlab_tests::local_aws::LocalAws;
use qalita_gitlab_tests::stack::{TestStack, ids};
use serde_json::{Value, json};

/// QALITA's API token in the simulator.
pub const QALITA_TOKEN: &str = "qalita-api-token-for-cli-tests";
/// The QALITA issue of the fixture.
pub const ISSUE: u64 = 4821;
/// The default project.
pub const DEFAULT_PROJECT: u64 = 42;
/// The project the `finance` domain routes to.
pub const FINANCE_PROJECT: u64 = 43;
/// The sync's GitLab user.
pub const BOT_USER: u64 = 1;

/// The stack the commands act on.
pub enum Backend {
    /// moto, with the template's resources.
    Aws { aws: Box<LocalAws>, stack: TestStack },
    /// A data folder of `serve`.
    Local,
}

/// What a command printed and how it exited.
#[derive(Debug)]
pub struct Ran {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Ran {
    /// Standard output as JSON (the command ran with `--output json`).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// Asserts the exit code, showing everything otherwise.
    pub fn expect(self, code: i32) -> Ran {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        self
    }

    /// Asserts that no secret the world knows appears anywhere in the output.
    pub fn without_secrets(self) -> Ran {
        for secret in [DEFAULT_TOKEN, QALITA_TOKEN] {
            assert!(!self.stdout.contains(secret) && !self.stderr.contains(secret), "a token was printed: {self:#?}");
        }
        self
    }
}

/// The simulators and a stack.
pub struct World {
    pub gitlab: GitlabSim,
    pub qalita: QalitaSim,
    pub backend: Backend,
    /// The data folder (local) and the place of configuration files.
    pub dir: tempfile::TempDir,
    /// Extra environment of the binary.
    pub env: Vec<(String, String)>,
}

/// The fixture's QALITA issue with `status`.
pub fn issue_json(status: &str) -> Value {
    let mut issue: Value = serde_json::from_str(include_str!("../../../fixtures/qalita/issue.json")).unwrap();
    issue["status"] = status.into();
    issue
}

impl World {
    /// A world on moto.
    pub async fn aws(config_extra: &str) -> World {
        Self::aws_with(SimConfig::default(), config_extra).await
    }

    /// A world on moto with a GitLab simulator configured by `sim`.
    pub async fn aws_with(sim: SimConfig, config_extra: &str) -> World {
        let aws = LocalAws::connect().await;
        let stack = new_stack(&aws).await;
        Self::start(Backend::Aws { aws: Box::new(aws), stack }, sim, Dialect::First, config_extra).await
    }

    /// A world on an embedded stack, with the tokens in environment variables.
    pub async fn local(config_extra: &str) -> World {
        Self::local_with(SimConfig::default(), config_extra).await
    }

    /// A world on an embedded stack with a GitLab simulator configured by `sim`.
    pub async fn local_with(sim: SimConfig, config_extra: &str) -> World {
        Self::start(Backend::Local, sim, Dialect::First, config_extra).await
    }

    /// A world on an embedded stack whose QALITA speaks `dialect`; the document applied at the
    /// start has no `[qalita.*]` shape section (see [`World::discover`]).
    pub async fn local_in(dialect: Dialect, config_extra: &str) -> World {
        Self::start(Backend::Local, SimConfig::default(), dialect, config_extra).await
    }

    async fn start(backend: Backend, sim: SimConfig, dialect: Dialect, config_extra: &str) -> World {
        let gitlab = GitlabSim::start(sim.with_user(30, "mdurand", "Marie Durand")).await;
        gitlab.add_project(DEFAULT_PROJECT, "data/quality");
        gitlab.add_project(FINANCE_PROJECT, "finance/billing");
        let qalita = QalitaSim::start_with(QALITA_TOKEN, dialect).await;
        qalita.insert_user(json!({"id": 12, "login": "m.durand", "name": "Marie Durand"}));
        qalita.insert_issue(issue_json("open"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let env = match backend {
            Backend::Local => vec![
                ("QALITA_GITLAB_GITLAB_TOKEN".to_owned(), DEFAULT_TOKEN.to_owned()),
                ("QALITA_GITLAB_QALITA_TOKEN".to_owned(), QALITA_TOKEN.to_owned()),
            ],
            Backend::Aws { .. } => Vec::new(),
        };
        let world = World { gitlab, qalita, backend, dir, env };
        let config = world.write_config("config.toml", &world.document(config_extra));
        world.run(&["config", "apply", path(&config), "--yes"]).await.expect(0);
        world
    }

    /// Loses the link table, as a new deployment or a restored machine would: a new stack (a new
    /// table, queues and secrets) on moto, a new database file in the data folder; the same
    /// configuration document (`extra` as given at the start) is applied to it. The simulators
    /// keep what they hold.
    pub async fn lose_table(&mut self, config_extra: &str) {
        match &mut self.backend {
            Backend::Aws { aws, stack } => *stack = new_stack(aws).await,
            Backend::Local => std::fs::remove_file(self.data_dir().join("qalita-gitlab.redb")).unwrap(),
        }
        let config = self.write_config("config.toml", &self.document(config_extra));
        self.run(&["config", "apply", path(&config), "--yes"]).await.expect(0);
    }

    /// The configuration document of the world, with `extra` appended.
    pub fn document(&self, extra: &str) -> String {
        // The fixture issue was raised in November 2026: this deployment creates what was raised
        // since January, unless `extra` says its own creation policy.
        let create = match extra.contains("[create]") {
            true => "",
            false => "[create]\ncreated_after = \"2026-01-01T00:00:00Z\"\n",
        };
        format!(
            "[gitlab]\nbase_url = \"{}\"\ndefault_project = \"data/quality\"\n[qalita]\nbase_url = \"{}\"\n[assignees]\n\"m.durand\" = \"mdurand\"\n{create}[[routing]]\nname = \"finance\"\ndomain = \"finance\"\nproject = 43\n{extra}",
            self.gitlab.url(),
            self.qalita.url()
        )
    }

    /// Runs `qalita discover --write` against the world's QALITA and returns what it wrote, unedited.
    pub async fn discover(&self) -> String {
        let file = self.dir.path().join("discovered.toml");
        self.run(&["qalita", "discover", "--write", path(&file)]).await.expect(0);
        std::fs::read_to_string(&file).expect("the discovered configuration")
    }

    /// Applies the world's document with `extra` appended.
    pub async fn apply(&self, extra: &str) {
        let config = self.write_config("config.toml", &self.document(extra));
        self.run(&["config", "apply", path(&config), "--yes"]).await.expect(0);
    }

    /// Writes a file in the world's folder.
    pub fn write_config(&self, name: &str, text: &str) -> PathBuf {
        let file = self.dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        file
    }

    /// The arguments that name the stack.
    pub fn stack_args(&self) -> Vec<String> {
        match &self.backend {
            Backend::Aws { aws, stack } => vec![
                "--endpoint-url".into(),
                aws.endpoint().to_owned(),
                "--stack-name".into(),
                stack.name.clone(),
                "--table".into(),
                stack.table_name.clone(),
            ],
            Backend::Local => vec!["--local".into(), self.data_dir().display().to_string()],
        }
    }

    /// The embedded stack's data folder.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The binary with the stack's arguments and environment, and nothing of the caller's
    /// `QALITA_GITLAB_*` settings.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_qalita-gitlab"));
        for name in [
            "QALITA_GITLAB_OUTPUT",
            "QALITA_GITLAB_LOCAL",
            "QALITA_GITLAB_TABLE",
            "QALITA_GITLAB_STACK",
            "QALITA_GITLAB_QUEUE_URL",
            "QALITA_GITLAB_DLQ_URL",
            "QALITA_GITLAB_SECRETS_FILE",
            "QALITA_GITLAB_WEBHOOK_URL",
            "GITLAB_BASE_URL",
            "GITLAB_DEFAULT_PROJECT",
            "QALITA_BASE_URL",
        ] {
            command.env_remove(name);
        }
        command.args(args).args(self.stack_args());
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }

    /// Runs the binary to its end, off the runtime's threads (the simulators answer meanwhile).
    pub async fn run(&self, args: &[&str]) -> Ran {
        let mut command = self.command(args);
        let output: Output =
            tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("run qalita-gitlab");
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
        .without_secrets()
    }

    /// Runs the binary with `--output json`.
    pub async fn json(&self, args: &[&str]) -> Ran {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        self.run(&all).await
    }

    /// The link store, in this process: DynamoDB on moto. (The embedded stack's database is held
    /// by one process at a time: use [`World::with_store`].)
    pub fn dynamo_store(&self) -> Arc<dyn LinkStore> {
        match &self.backend {
            Backend::Aws { aws, stack } => {
                Arc::new(DynamoLinkStore::new(aws.dynamodb(), stack.table_name.clone(), TimeDelta::days(1)))
            }
            Backend::Local => panic!("the embedded stack's store is opened with with_local_store"),
        }
    }

    /// Runs `act` on the world's link store in this process: DynamoDB on moto, or the embedded
    /// stack's database, opened for `act` and closed after (the binary needs it).
    pub async fn with_store<F, Fut>(&self, act: F)
    where
        F: FnOnce(Arc<dyn LinkStore>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        match &self.backend {
            Backend::Aws { .. } => act(self.dynamo_store()).await,
            Backend::Local => {
                let db = qalita_gitlab::embedded::EmbeddedDb::open(self.data_dir().join("qalita-gitlab.redb"))
                    .await
                    .unwrap();
                let clock = Arc::new(qalita_gitlab_core::ports::SystemClock);
                let store =
                    qalita_gitlab::embedded::store::RedbLinkStore::open(&db, clock, TimeDelta::days(1)).await.unwrap();
                act(Arc::new(store)).await;
                drop(db);
            }
        }
    }

    /// The worker's dependencies as its Lambda builds them, on the world's table and queue (moto),
    /// under the document the world applied with `config_extra`.
    pub fn aws_worker(
        &self,
        config_extra: &str,
    ) -> (Arc<qalita_gitlab_worker::handler::Deps>, qalita_gitlab_core::adapters::sqs::SqsQueue) {
        use qalita_gitlab_core::adapters::http::HttpSettings;
        use qalita_gitlab_core::domain::SecretString;
        use qalita_gitlab_worker::wiring::{Places, Tokens};
        let Backend::Aws { aws, stack } = &self.backend else { panic!("the worker is wired on moto") };
        let document = self.document(config_extra);
        let config = Arc::new(qalita_gitlab_core::config::Config::from_document(&document, |_| None).unwrap());
        let queue = qalita_gitlab_core::adapters::sqs::SqsQueue::new(aws.sqs(), stack.queue_url.clone());
        let tokens = Tokens { gitlab: SecretString::new(DEFAULT_TOKEN), qalita: SecretString::new(QALITA_TOKEN) };
        let clock = Arc::new(qalita_gitlab_core::ports::SystemClock);
        let places = Places { store: self.dynamo_store(), queue: Arc::new(queue.clone()), clock };
        let http = HttpSettings { total_timeout: std::time::Duration::from_secs(5), ..HttpSettings::default() };
        (Arc::new(qalita_gitlab_worker::handler::Deps::build(config, tokens, &http, places).unwrap()), queue)
    }

    /// The GitLab write requests made so far (anything but GET).
    pub fn gitlab_writes(&self) -> usize {
        self.gitlab.requests().iter().filter(|r| r.method != "GET").count()
    }

    /// The QALITA write requests made so far.
    pub fn qalita_writes(&self) -> usize {
        self.qalita.requests().iter().filter(|r| r.method != "GET").count()
    }

    /// Every GitLab issue of both projects.
    pub fn gitlab_issues(&self) -> Vec<qalita_gitlab_core::domain::gitlab::GitlabIssue> {
        [DEFAULT_PROJECT, FINANCE_PROJECT].iter().flat_map(|p| self.gitlab.issues(*p)).collect()
    }

    /// How many GitLab issues carry the marker of QALITA issue `id`.
    pub fn marked(&self, id: u64) -> usize {
        let marker = format!("<!-- qalita-issue:{id} -->");
        self.gitlab_issues()
            .iter()
            .filter(|issue| issue.description.as_deref().is_some_and(|d| d.trim_end().ends_with(&marker)))
            .count()
    }
}

/// The template's resources under a fresh name on moto, with the tokens in their secrets.
async fn new_stack(aws: &LocalAws) -> TestStack {
    let stack = TestStack::create(aws, "cli", "webhook-secret-for-cli-tests").await;
    for (id, value) in [(ids::GITLAB_TOKEN, DEFAULT_TOKEN), (ids::QALITA_TOKEN, QALITA_TOKEN)] {
        aws.secrets().put_secret_value().secret_id(stack.secret(id)).secret_string(value).send().await.unwrap();
    }
    stack
}

/// A path as an argument.
pub fn path(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 temporary path")
}
