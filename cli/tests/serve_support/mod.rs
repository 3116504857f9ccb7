//! Helpers of the `serve` tests: the GitLab and QALITA simulators set up for the sync, a pipeline
//! serving in the test's process, and a `qalita-gitlab serve` process whose log is read as it comes.

#![allow(dead_code, reason = "each test file uses a part of the helpers")]

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qalita_gitlab::embedded::DiskFaults;
use qalita_gitlab::embedded::queue::{EmbeddedQueue, QueueOptions};
use qalita_gitlab::embedded::secrets::EnvSecrets;
use qalita_gitlab::serve::{
    ConfigFrom, EndpointOptions, GITLAB_TOKEN_ID, HEALTH_PATH, Options, QALITA_TOKEN_ID, QALITA_WEBHOOK_SECRET_ID,
    RunError, RunSummary, SecretsFrom, Server, StartError, WEBHOOK_SECRET_ID, describe,
};
use qalita_gitlab_core::adapters::gitlab_http::GitlabClient;
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::domain::gitlab::{GitlabIssue, GitlabProjectRef, IssueUpdate, StateEvent};
use qalita_gitlab_core::domain::{GitlabProjectId, Iid, SecretString};
use qalita_gitlab_core::ports::{CallContext, GitlabApi, SecretSource};
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, DeliveryOutcome, GitlabSim, SimConfig, WebhookConfig};
use qalita_gitlab_sims::qalita::{Dialect, QalitaSim};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub const QALITA_TOKEN: &str = "qalita-token-of-the-serve-tests";
pub const WEBHOOK_SECRET: &str = "webhook-secret-of-the-serve-tests";
pub const QALITA_WEBHOOK_SECRET: &str = "qalita-webhook-secret-of-the-serve-tests";
pub const MARIE_TOKEN: &str = "test-token-marie-of-the-serve-tests";
pub const ISSUE: u64 = 4821;
pub const PROJECT: u64 = 42;
/// How long a test waits for the sync to show a result (it takes milliseconds).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The simulators: GitLab with project `data/quality` and Marie Durand, QALITA with Marie and the
/// open issue 4821 (the fixture) assigned to her.
pub struct Sims {
    pub gitlab: GitlabSim,
    pub qalita: QalitaSim,
}

impl Sims {
    pub async fn start() -> Sims {
        Self::start_in(Dialect::First).await
    }

    /// [`Sims::start`] with QALITA speaking `dialect`.
    pub async fn start_in(dialect: Dialect) -> Sims {
        let gitlab =
            GitlabSim::start(SimConfig::default().with_user(30, "mdurand", "Marie Durand").with_token(MARIE_TOKEN, 30))
                .await;
        gitlab.add_project(PROJECT, "data/quality");
        let qalita = QalitaSim::start_with(QALITA_TOKEN, dialect).await;
        qalita.insert_user(json!({"id": 12, "login": "m.durand", "name": "Marie Durand"}));
        qalita.insert_issue(issue(ISSUE, "Invalid Latitude"));
        Sims { gitlab, qalita }
    }

    pub fn config_document(&self) -> String {
        format!(
            "[gitlab]\nbase_url = \"{}\"\ndefault_project = \"data/quality\"\n[qalita]\nbase_url = \"{}\"\n\
             [assignees]\n\"m.durand\" = \"mdurand\"\n[create]\ncreated_after = \"2026-01-01T00:00:00Z\"\n",
            self.gitlab.url(),
            self.qalita.url()
        )
    }

    /// The GitLab issues of the project.
    pub fn gitlab_issues(&self) -> Vec<GitlabIssue> {
        self.gitlab.issues(PROJECT)
    }

    /// The one GitLab issue of a QALITA issue, once it exists.
    pub fn gitlab_issue_of(&self, qalita_id: u64) -> Option<GitlabIssue> {
        let marker = format!("<!-- qalita-issue:{qalita_id} -->");
        self.gitlab_issues().into_iter().find(|i| i.description.as_deref().is_some_and(|d| d.contains(&marker)))
    }

    pub fn qalita_status(&self, id: u64) -> String {
        self.qalita.issue(id).and_then(|i| i["status"].as_str().map(str::to_owned)).unwrap_or_default()
    }

    pub fn qalita_comments(&self, id: u64) -> Vec<String> {
        self.qalita.comments(id).iter().filter_map(|c| c["content"].as_str().map(str::to_owned)).collect()
    }

    /// The comment that shows the URL of the GitLab issue of QALITA issue `id` (`[link_back]`).
    pub fn link_back(&self, id: u64) -> String {
        let issue = self.gitlab_issue_of(id).expect("the GitLab issue");
        format!("[GitLab] Tracked in GitLab: {}", issue.web_url)
    }

    /// The QALITA comments of `id` that copy GitLab notes (the link back left out).
    pub fn note_copies(&self, id: u64) -> Vec<String> {
        let link_back = self.link_back(id);
        self.qalita_comments(id).into_iter().filter(|c| *c != link_back).collect()
    }

    pub fn qalita_writes(&self) -> usize {
        self.qalita.requests().iter().filter(|r| r.method != "GET").count()
    }

    pub fn notes_answered(&self, status: u16) -> usize {
        self.gitlab.deliveries().iter().filter(|d| d.event == "Note Hook" && d.status() == Some(status)).count()
    }

    pub fn deliveries_pending(&self) -> bool {
        self.gitlab.deliveries().iter().any(|d| d.outcome == DeliveryOutcome::Pending)
    }

    /// GitLab's API as Marie Durand, a person.
    pub fn person(&self) -> GitlabClient {
        let settings = HttpSettings { total_timeout: Duration::from_secs(5), ..HttpSettings::default() };
        GitlabClient::new(&self.gitlab.url(), SecretString::new(MARIE_TOKEN), &settings).expect("a GitLab client")
    }

    pub async fn person_closes(&self, iid: Iid) {
        let update = IssueUpdate { state_event: Some(StateEvent::Close), ..IssueUpdate::default() };
        self.person()
            .update_issue(&project(), iid, &update, &CallContext::default())
            .await
            .expect("the person's close");
    }

    pub async fn person_comments(&self, iid: Iid, text: &str) {
        self.person()
            .create_note(&project(), iid, text, false, &CallContext::default())
            .await
            .expect("the person's note");
    }
}

pub fn issue(id: u64, title: &str) -> Value {
    json!({
        "id": id, "partner_id": 3, "title": title, "description": "12.4% of rows in column `lat` are outside [-90, 90].",
        "status": "open", "source_id": 57, "assignee": 12,
        "scope": {"perimeter": "column", "value": "lat", "parent_scope": {"perimeter": "dataset", "value": "billing.customer_sites"}},
        "author_id": 12, "updated_by": 12, "closed_by": null, "closed_at": null,
    })
}

pub fn project() -> GitlabProjectRef {
    GitlabProjectRef::Id(GitlabProjectId::new(PROJECT).expect("a project id"))
}

pub fn secret_values() -> [(&'static str, &'static str); 4] {
    [
        (GITLAB_TOKEN_ID, DEFAULT_TOKEN),
        (QALITA_TOKEN_ID, QALITA_TOKEN),
        (WEBHOOK_SECRET_ID, WEBHOOK_SECRET),
        (QALITA_WEBHOOK_SECRET_ID, QALITA_WEBHOOK_SECRET),
    ]
}

/// The secrets as environment variables would give them, without touching this process's environment.
pub fn secrets_without(missing: Option<&str>) -> Arc<dyn SecretSource> {
    let values: Vec<(String, OsString)> = secret_values()
        .into_iter()
        .filter(|(id, _)| Some(*id) != missing)
        .map(|(id, value)| (EnvSecrets::variable(id), OsString::from(value)))
        .collect();
    Arc::new(EnvSecrets::with_lookup(move |variable| {
        values.iter().find(|(name, _)| name == variable).map(|(_, value)| value.clone())
    }))
}

pub fn options(data_dir: &Path, config: ConfigFrom) -> Options {
    Options {
        listen: "127.0.0.1:0".parse().expect("an address"),
        data_dir: data_dir.to_path_buf(),
        config,
        env: Arc::new(|_| None),
        secrets: SecretsFrom::Source(secrets_without(None)),
        poll_interval: Duration::from_secs(300),
        queue: QueueOptions { visibility_timeout: Duration::from_secs(60), max_receive_count: 5 },
    }
}

/// A pipeline serving in this process.
pub struct Serving {
    pub webhook_url: String,
    pub qalita_webhook_url: String,
    pub task: JoinHandle<Result<RunSummary, RunError>>,
    pub stop: tokio::sync::oneshot::Sender<()>,
}

impl Serving {
    /// Sends an issue delivery with `token` to the GitLab route, and gives the answer.
    pub async fn deliver(&self, token: &str, body: &'static str) -> reqwest::Response {
        reqwest::Client::new()
            .post(&self.webhook_url)
            .header("X-Gitlab-Event", "Issue Hook")
            .header("X-Gitlab-Token", token)
            .body(body)
            .send()
            .await
            .expect("an answer")
    }

    pub async fn start(sims: &Sims, options: Options) -> (Serving, EmbeddedQueue) {
        Self::start_with(sims, options, EndpointOptions::default(), DiskFaults::new()).await
    }

    /// [`Serving::start`] with the endpoint's options and the database's writes failing while
    /// `faults` is on.
    pub async fn start_with(
        sims: &Sims,
        options: Options,
        endpoint: EndpointOptions,
        faults: DiskFaults,
    ) -> (Serving, EmbeddedQueue) {
        let server = Server::start_with(options, endpoint, faults).await.expect("serve starts");
        let webhook_url = server.webhook_url();
        let qalita_webhook_url = server.qalita_webhook_url();
        sims.gitlab.set_webhook(Some(WebhookConfig::new(&webhook_url).with_secret(WEBHOOK_SECRET)));
        let queue = server.queue();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        (Serving { webhook_url, qalita_webhook_url, task, stop }, queue)
    }

    /// Asks it to stop and waits; fails the test if that takes more than `limit`.
    pub async fn stop_within(self, limit: Duration) -> RunSummary {
        let _ = self.stop.send(());
        let ran = tokio::time::timeout(limit, self.task).await.expect("stops in time").expect("the task ends");
        ran.expect("stops without an error")
    }
}

pub async fn wait_until(what: &str, check: impl FnMut() -> bool) {
    wait_until_within(what, PATIENCE, check).await;
}

/// [`wait_until`] with its own patience, for a step that goes through several hops.
pub async fn wait_until_within(what: &str, patience: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + patience;
    while !check() {
        assert!(Instant::now() < deadline, "waited {patience:?} for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Until every delivery is answered and the queue is empty, three looks in a row.
pub async fn wait_until_quiet(sims: &Sims, queue: &EmbeddedQueue) {
    let deadline = Instant::now() + PATIENCE;
    let mut quiet = 0;
    while quiet < 3 {
        assert!(Instant::now() < deadline, "the sync was still busy after {PATIENCE:?}");
        let depth = queue.depth().await.expect("the queue's depth");
        let busy = sims.deliveries_pending() || depth.available + depth.in_flight > 0;
        quiet = if busy { 0 } else { quiet + 1 };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn start_error(options: Options) -> String {
    let error: StartError = Server::start(options).await.expect_err("refused");
    let text = describe(&error);
    for (_, value) in secret_values() {
        assert!(!text.contains(value), "no secret in {text:?}");
    }
    text
}

/// The secrets in a file readable by its owner only.
pub fn write_secrets_file(dir: &Path) -> PathBuf {
    let path = dir.join("secrets.toml");
    let text: String = secret_values().iter().map(|(id, value)| format!("\"{id}\" = \"{value}\"\n")).collect();
    std::fs::write(&path, text).expect("the secrets file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    }
    path
}

/// The `qalita-gitlab` binary under test.
pub fn binary() -> String {
    std::env::var("QALITA_GITLAB_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_qalita-gitlab").to_owned())
}

/// A `qalita-gitlab serve` process, its standard error read line by line as it comes.
pub struct Process {
    pub child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `serve` with JSON logs and the simulators' secrets in its environment.
    pub fn serve(args: &[&str], secrets_in_env: bool) -> Process {
        Self::serve_with_env(args, secrets_in_env, &[])
    }

    /// [`Process::serve`], with more variables in its environment (set after the secrets, so
    /// that they may replace one).
    pub fn serve_with_env(args: &[&str], secrets_in_env: bool, env: &[(&str, &str)]) -> Process {
        let mut command = Command::new(binary());
        command.arg("serve").args(args).args(["--log-format", "json"]).env("RUST_LOG", "info");
        for key in [
            "GITLAB_BASE_URL",
            "GITLAB_DEFAULT_PROJECT",
            "QALITA_BASE_URL",
            "QALITA_GITLAB_WEBHOOK_AUTH_MODE",
            "QALITA_GITLAB_WEBHOOK_SIGNING_SECRET",
        ] {
            command.env_remove(key);
        }
        for (id, value) in secret_values() {
            let variable = EnvSecrets::variable(id);
            match secrets_in_env {
                true => command.env(variable, value),
                false => command.env_remove(variable),
            };
        }
        command.envs(env.iter().copied());
        let mut child =
            command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start qalita-gitlab serve");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line);
            }
        });
        Process { child, stderr }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(std::sync::PoisonError::into_inner).join("\n")
    }

    /// The webhook URL from the `serving` log line, once it is written.
    pub async fn webhook_url(&mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found = self.stderr.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().find_map(|line| {
                let line: Value = serde_json::from_str(line).ok()?;
                (line["fields"]["message"] == "serving")
                    .then(|| line["fields"]["webhook_url"].as_str().map(str::to_owned))?
            });
            if let Some(url) = found {
                return url;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("serve exited with {status} before serving: {}", self.stderr());
            }
            assert!(Instant::now() < deadline, "no `serving` line after {PATIENCE:?}: {}", self.stderr());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn interrupt(&self) {
        let status = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -INT");
    }

    /// Waits for the exit, at most `limit`.
    pub async fn exit_code_within(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("the process's status") {
                return status.code();
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("serve did not exit within {limit:?}: {}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Until every delivery is answered and the queue of the `serve` at `webhook_url` is empty (as its
/// health endpoint tells), three looks in a row.
pub async fn wait_until_serve_is_idle(sims: &Sims, webhook_url: &str) {
    let health = webhook_url.replace("/api/v2/integrations/gitlab/webhook", HEALTH_PATH);
    let client = reqwest::Client::new();
    let deadline = Instant::now() + PATIENCE;
    let mut quiet = 0;
    while quiet < 3 {
        assert!(Instant::now() < deadline, "serve was still busy after {PATIENCE:?}");
        let answer: Value = client.get(&health).send().await.expect("an answer").json().await.expect("JSON");
        let queued =
            answer["queue"]["available"].as_u64().unwrap_or(1) + answer["queue"]["in_flight"].as_u64().unwrap_or(1);
        quiet = if sims.deliveries_pending() || queued > 0 { 0 } else { quiet + 1 };
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Points GitLab's hook at a running `serve`, waits for the QALITA issue's GitLab issue and for the
/// pipeline to be idle; the GitLab issue's number.
pub async fn hooked_and_linked(sims: &Sims, serve: &mut Process) -> Iid {
    let url = serve.webhook_url().await;
    sims.gitlab.set_webhook(Some(WebhookConfig::new(&url).with_secret(WEBHOOK_SECRET)));
    wait_until("the GitLab issue", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    let iid = sims.gitlab_issue_of(ISSUE).expect("the GitLab issue").iid;
    wait_until_serve_is_idle(sims, &url).await;
    iid
}

/// Every note became one QALITA comment, in order, after the one link back of the creation.
pub fn assert_copied_once_in_order(sims: &Sims, texts: &[String]) {
    let mut expected = vec![sims.link_back(ISSUE)];
    expected.extend(texts.iter().map(|t| format!("[GitLab] mdurand: {t}")));
    assert_eq!(sims.qalita_comments(ISSUE), expected, "each once, in order");
}

/// Ctrl-C, and a clean exit within 5 s.
pub async fn stops_cleanly(serve: &mut Process) {
    serve.interrupt();
    assert_eq!(serve.exit_code_within(Duration::from_secs(5)).await, Some(0), "{}", serve.stderr());
}

pub fn config_file(sims: &Sims, dir: &Path) -> PathBuf {
    let path = dir.join("qalita-gitlab.toml");
    std::fs::write(&path, sims.config_document()).expect("the configuration file");
    path
}

pub fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}
