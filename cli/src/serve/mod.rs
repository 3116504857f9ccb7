//! `qalita-gitlab serve`: the whole pipeline in one process, for a laptop or a small self-hosted
//! install. The webhook function's handler answers GitLab on a local port (same path as deployed),
//! deliveries go to the on-disk FIFO queue (`embedded::queue`, with its dead-letter queue), a worker
//! loop runs the worker function's batch handler on them, the worker's poll runs on an interval, and
//! links live in the embedded store. An HTTP 200 to GitLab means the delivery is committed to disk,
//! so a restart, or a crash, loses nothing that was acknowledged.
//!
//! The endpoint is fit for a network: request headers are checked before a body is read, reads
//! have time-outs, connections and the bodies held in memory are capped, TLS is optional, and a
//! storage failure shows on `/healthz` and heals without a restart.
//!
//! [`run`] is the command; [`Server`] is the pipeline, startable in-process with any stop signal.

mod args;
mod error;
mod front;
mod listen;
mod tls;
mod wiring;
mod worker;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::ports::{SecretSource, SystemClock};
use qalita_gitlab_core::webhook::verify::AuthMode;

pub use args::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_DATA_DIR, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_INFLIGHT_BODY_BYTES, LogFormat, ServeArgs, parse_duration, parse_size,
};
pub use error::{RunError, StartError, describe};
pub use front::{HEALTH_PATH, METRICS_PATH, QALITA_WEBHOOK_PATH, WEBHOOK_PATH};
pub use tls::{TlsError, TlsFiles};
pub use wiring::{
    ConfigFrom, GITLAB_TOKEN_ID, QALITA_TOKEN_ID, QALITA_WEBHOOK_SECRET_ID, WEBHOOK_SECRET_ID,
    WEBHOOK_SIGNING_SECRET_ID,
};
pub use worker::{PollerReport, WorkerReport};

use crate::embedded::queue::{EmbeddedQueue, QueueOptions};
use crate::embedded::secrets::{EnvSecrets, FileSecrets};
use crate::embedded::store::RedbLinkStore;
use crate::embedded::{DiskFaults, EmbeddedDb};
use wiring::SecretsPlace;
use worker::Stop;

use crate::local::LOG_TTL;
pub use crate::local::{DATABASE_FILE, EXIT_CANNOT_START, EXIT_STORAGE_LOST};
/// How long the endpoint waits for deliveries being answered when asked to stop.
const FRONT_DRAIN: Duration = Duration::from_secs(5);

/// The database file of a data folder.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DATABASE_FILE)
}

/// The environment lookup the configuration's defaults are read through.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where the secrets come from.
#[derive(Clone)]
pub enum SecretsFrom {
    /// Environment variables (`QALITA_GITLAB_GITLAB_TOKEN`, …; see [`EnvSecrets`]).
    Environment,
    /// A TOML file readable by its owner only (see [`FileSecrets`]).
    File(PathBuf),
    /// Any source (tests, the demo).
    Source(Arc<dyn SecretSource>),
}

impl std::fmt::Debug for SecretsFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretsFrom::Environment => f.write_str("Environment"),
            SecretsFrom::File(path) => f.debug_tuple("File").field(path).finish(),
            SecretsFrom::Source(_) => f.write_str("Source(..)"),
        }
    }
}

/// What the pipeline runs with.
#[derive(Clone)]
pub struct Options {
    /// The webhook endpoint's address (port 0: any free port).
    pub listen: SocketAddr,
    /// The folder of the database; created if missing.
    pub data_dir: PathBuf,
    /// The configuration document.
    pub config: ConfigFrom,
    /// The configuration's defaults from the environment (`GITLAB_BASE_URL`, …).
    pub env: EnvLookup,
    /// The secrets.
    pub secrets: SecretsFrom,
    /// How often QALITA is polled (also once at start).
    pub poll_interval: Duration,
    /// The queue's visibility timeout and receive limit.
    pub queue: QueueOptions,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("config", &self.config)
            .field("secrets", &self.secrets)
            .field("poll_interval", &self.poll_interval)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// How the webhook endpoint faces the network: what authenticates a delivery, the limits that
/// keep a slow or hostile client from holding the process, and TLS. Apart from [`Options`] so that
/// code building `Options` field by field keeps compiling; [`Server::start`] takes the defaults.
#[derive(Debug, Clone, Default)]
pub struct EndpointOptions {
    /// What authenticates a delivery (`--webhook-auth-mode`; token by default).
    pub auth_mode: AuthMode,
    /// Time-outs and caps.
    pub limits: Limits,
    /// Serve HTTPS with these files (`--tls-cert`, `--tls-key`); plain HTTP if `None`.
    pub tls: Option<TlsFiles>,
}

/// The endpoint's time-outs and caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most connections open at once; more are closed as soon as accepted.
    pub max_connections: usize,
    /// The most bytes of request bodies held at once; a delivery that does not fit gets `503`.
    pub max_inflight_body_bytes: usize,
    /// How long a client has to send a request's headers (also how long an idle kept-alive
    /// connection stays open, and how long a TLS handshake may take).
    pub header_read_timeout: Duration,
    /// How long a client has to send a request's body, from the end of its headers.
    pub body_read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_inflight_body_bytes: DEFAULT_MAX_INFLIGHT_BODY_BYTES,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
        }
    }
}

impl EndpointOptions {
    /// The endpoint's options of the command line.
    pub fn from_args(args: &ServeArgs) -> EndpointOptions {
        EndpointOptions {
            auth_mode: args.webhook_auth_mode,
            limits: Limits {
                max_connections: args.max_connections,
                max_inflight_body_bytes: args.max_inflight_body_bytes,
                header_read_timeout: args.header_read_timeout,
                body_read_timeout: args.body_read_timeout,
            },
            tls: match (&args.tls_cert, &args.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone() }),
                _ => None,
            },
        }
    }
}

impl Options {
    /// The options of the command line (the process environment for the rest).
    pub fn from_args(args: &ServeArgs) -> Options {
        Options {
            listen: args.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir: args.data_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            config: args.config.clone().map_or(ConfigFrom::Stored, ConfigFrom::File),
            env: Arc::new(|key| std::env::var(key).ok()),
            secrets: args.secrets_file.clone().map_or(SecretsFrom::Environment, SecretsFrom::File),
            poll_interval: args.poll_interval,
            queue: QueueOptions {
                visibility_timeout: args.visibility_timeout,
                max_receive_count: args.max_receive_count,
            },
        }
    }
}

/// What the pipeline did while it ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// The worker loop.
    pub worker: WorkerReport,
    /// The poll loop.
    pub poller: PollerReport,
}

/// The pipeline, started: its database open, its configuration and secrets read, its address
/// bound. [`Server::run`] serves until told to stop.
pub struct Server {
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
    /// `https` with TLS, else `http`.
    scheme: &'static str,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    db: EmbeddedDb,
    database: PathBuf,
    config: Arc<Config>,
    config_origin: String,
    poll_interval: Duration,
    queue_options: QueueOptions,
    wiring: wiring::Wiring,
    current: Arc<wiring::CurrentDeps>,
    /// Woken by every change of the queue, from any of its handles.
    changes: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("database", &self.database)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Opens the database, reads and checks the configuration and the secrets, builds the clients
    /// and binds the address: everything that can be wrong is found here, before serving. The
    /// endpoint takes the [`EndpointOptions`] defaults (token authentication, plain HTTP).
    pub async fn start(options: Options) -> Result<Server, StartError> {
        Self::start_with(options, EndpointOptions::default(), DiskFaults::new()).await
    }

    /// [`Server::start`] with the endpoint's options, and the database's writes failing while
    /// `faults` is on (a fresh switch, never turned on, outside tests of storage failures).
    pub async fn start_with(
        options: Options,
        endpoint: EndpointOptions,
        faults: DiskFaults,
    ) -> Result<Server, StartError> {
        let tls = endpoint.tls.as_ref().map(tls::acceptor).transpose().map_err(StartError::Tls)?;
        std::fs::create_dir_all(&options.data_dir)
            .map_err(|source| StartError::DataDir { path: options.data_dir.clone(), source })?;
        let database = database_path(&options.data_dir);
        let db = EmbeddedDb::open_with(&database, faults).await?;
        let clock = Arc::new(SystemClock);
        let store = RedbLinkStore::open(&db, clock.clone(), LOG_TTL).await?;
        let queue = EmbeddedQueue::open(&db, clock.clone(), options.queue).await?;
        let changes = db.changes();
        let (config, config_origin) = wiring::load_config(&options.config, &store, options.env.as_ref()).await?;
        let (secrets, secrets_hint, secrets_place): (Arc<dyn SecretSource>, &'static str, _) = match &options.secrets {
            SecretsFrom::Environment => {
                (Arc::new(EnvSecrets::new()), " (or give --secrets-file FILE)", SecretsPlace::Environment)
            }
            SecretsFrom::File(path) => (
                Arc::new(FileSecrets::open(path).await.map_err(StartError::SecretsFile)?),
                " (--secrets-file)",
                SecretsPlace::File(path.clone()),
            ),
            SecretsFrom::Source(source) => (source.clone(), "", SecretsPlace::Given),
        };
        let config = Arc::new(config);
        let mut wiring = wiring::Wiring {
            config: config.clone(),
            secrets,
            secrets_hint,
            secrets_place,
            auth_mode: endpoint.auth_mode,
            store,
            queue,
            clock: clock.clone(),
            qalita_route: None,
        };
        wiring.check_webhook_secret().await?;
        wiring.qalita_route = wiring.qalita_webhook().await?;
        let current = Arc::new(wiring::CurrentDeps::build(wiring.clone()).await?);
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| StartError::Listen { address: options.listen, source })?;
        let local_addr =
            listener.local_addr().map_err(|source| StartError::Listen { address: options.listen, source })?;
        warn_if_few_file_descriptors(endpoint.limits.max_connections);
        Ok(Server {
            listener,
            local_addr,
            scheme: if tls.is_some() { "https" } else { "http" },
            tls,
            limits: endpoint.limits,
            db,
            database,
            config,
            config_origin,
            poll_interval: options.poll_interval,
            queue_options: options.queue,
            wiring,
            current,
            changes,
        })
    }

    /// The address the webhook endpoint listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URL to give GitLab as the webhook's URL (from this machine; another host reaches it by
    /// this machine's name): `https://…` when TLS is on.
    pub fn webhook_url(&self) -> String {
        format!("{}://{}{WEBHOOK_PATH}", self.scheme, self.local_addr)
    }

    /// The URL of QALITA's webhook route (answered `404` unless the QALITA webhook secret is set).
    pub fn qalita_webhook_url(&self) -> String {
        format!("{}://{}{QALITA_WEBHOOK_PATH}", self.scheme, self.local_addr)
    }

    /// The database file.
    pub fn database(&self) -> &Path {
        &self.database
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A handle on the event queue (a QALITA bridge in the same process sends its events here).
    /// The database stays open while a handle lives, also after [`Server::run`] returned.
    pub fn queue(&self) -> EmbeddedQueue {
        self.wiring.queue.clone()
    }

    /// A handle on the link store (it, too, keeps the database open while it lives).
    pub fn store(&self) -> RedbLinkStore {
        self.wiring.store.clone()
    }

    /// Serves until `stop` resolves (or the endpoint fails), then stops cleanly: no new delivery is
    /// accepted, deliveries being answered are finished, the batch in hand is finished and nothing
    /// unfinished is deleted, the poll stops where it is. The database is closed on return.
    pub async fn run(self, stop: impl Future<Output = ()> + Send + 'static) -> Result<RunSummary, RunError> {
        let Server {
            listener,
            local_addr,
            scheme,
            tls,
            limits,
            db,
            database,
            config,
            config_origin,
            poll_interval,
            queue_options,
            wiring,
            current,
            changes,
        } = self;
        if !local_addr.ip().is_loopback() && tls.is_none() {
            tracing::warn!(listen = %local_addr, "the webhook endpoint is reachable from other hosts in plain HTTP: give --tls-cert and --tls-key, or put a TLS reverse proxy in front of it");
        }
        let (switch, signal) = Stop::new();
        let app = front::router(front::Front {
            deps: wiring.webhook_deps(),
            queue: wiring.queue.clone(),
            db: db.clone(),
            bodies: Arc::new(tokio::sync::Semaphore::new(limits.max_inflight_body_bytes)),
            body_read_timeout: limits.body_read_timeout,
        });
        let listening = listen::Listening {
            max_connections: limits.max_connections,
            header_read_timeout: limits.header_read_timeout,
            tls,
        };
        let mut front = tokio::spawn(listen::serve(listener, app, listening, signal.clone()));
        let mut worker = tokio::spawn(worker::work(current.clone(), wiring.queue.clone(), changes, signal.clone()));
        let mut poller = tokio::spawn(worker::poll_loop(current, wiring.store.clone(), poll_interval, signal.clone()));
        tracing::info!(
            webhook_url = %format!("{scheme}://{local_addr}{WEBHOOK_PATH}"),
            listen = %local_addr,
            auth_mode = wiring.auth_mode.as_str(),
            max_connections = limits.max_connections,
            max_inflight_body_bytes = limits.max_inflight_body_bytes,
            header_read_timeout_ms = limits.header_read_timeout.as_millis() as u64,
            body_read_timeout_ms = limits.body_read_timeout.as_millis() as u64,
            database = %database.display(),
            config = %config_origin,
            gitlab = %config.gitlab.base_url,
            qalita = %config.qalita.base_url,
            default_project = %config.gitlab.default_project,
            poll_interval_s = poll_interval.as_secs(),
            visibility_timeout_s = queue_options.visibility_timeout.as_secs(),
            max_receive_count = queue_options.max_receive_count,
            "serving"
        );
        drop(wiring);

        let mut failure = None;
        // The worker and the poll run until a stop: one that ends first (a panic) stops the
        // whole process, rather than deliveries piling up on disk unprocessed behind a 200.
        let (mut worker_ended, mut poller_ended) = (None, None);
        tokio::select! {
            () = stop => tracing::info!("stopping: no new deliveries; the batch in hand is finished"),
            reason = db.lost() => {
                tracing::error!(reason = %reason, "stopping: the database cannot be reopened in this process");
                failure = Some(RunError::StorageLost { reason });
            }
            ended = &mut front => {
                failure = Some(match ended {
                    Ok(Ok(())) => RunError::Front(std::io::Error::other("the server ended by itself")),
                    Ok(Err(error)) => RunError::Front(error),
                    Err(source) => RunError::Task { task: "webhook endpoint", source },
                });
            }
            ended = &mut worker => {
                tracing::error!("the worker stopped unexpectedly; stopping");
                failure = Some(RunError::Ended { task: "worker" });
                worker_ended = Some(ended);
            }
            ended = &mut poller => {
                tracing::error!("the poll stopped unexpectedly; stopping");
                failure = Some(RunError::Ended { task: "poll" });
                poller_ended = Some(ended);
            }
        }
        let _ = switch.send(true);
        if failure.is_none() {
            match tokio::time::timeout(FRONT_DRAIN, &mut front).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => failure = Some(RunError::Front(error)),
                Ok(Err(source)) => failure = Some(RunError::Task { task: "webhook endpoint", source }),
                Err(_) => {
                    tracing::warn!(
                        "deliveries still open after {FRONT_DRAIN:?} were cut; GitLab sees no answer for them"
                    );
                    front.abort();
                }
            }
        }
        let mut summary = RunSummary::default();
        let worker = match worker_ended {
            Some(ended) => ended,
            None => worker.await,
        };
        match worker {
            Ok(report) => summary.worker = report,
            Err(source) => failure = failure.or(Some(RunError::Task { task: "worker", source })),
        }
        let poller = match poller_ended {
            Some(ended) => ended,
            None => poller.await,
        };
        match poller {
            Ok(report) => summary.poller = report,
            Err(source) => failure = failure.or(Some(RunError::Task { task: "poll", source })),
        }
        tracing::info!(
            batches = summary.worker.batches,
            done = summary.worker.done,
            retried = summary.worker.retried,
            polls = summary.poller.runs,
            "stopped"
        );
        match failure {
            Some(error) => Err(error),
            None => Ok(summary),
        }
    }
}

/// `qalita-gitlab serve`: runs until Ctrl-C or SIGTERM. Exit status 0 when stopped that way,
/// [`EXIT_CANNOT_START`] when it cannot start, 1 when it failed while running. (`serve --demo` is
/// dispatched by [`crate::serve_or_demo`].)
pub async fn run(args: ServeArgs) -> ExitCode {
    init_tracing(args.log_format, "info");
    // Installed before anything else, so that a signal sent as soon as `serving` is logged is seen.
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(error) => {
            eprintln!("error: cannot listen for Ctrl-C and SIGTERM: {error}");
            return ExitCode::from(EXIT_CANNOT_START);
        }
    };
    let server =
        match Server::start_with(Options::from_args(&args), EndpointOptions::from_args(&args), DiskFaults::new()).await
        {
            Ok(server) => server,
            Err(error) => {
                eprintln!("error: {}", describe(&error));
                return ExitCode::from(EXIT_CANNOT_START);
            }
        };
    match server.run(signals.first()).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            match error {
                RunError::StorageLost { .. } => ExitCode::from(EXIT_STORAGE_LOST),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// Warns when the process may open fewer files than `--max-connections` needs (Linux; elsewhere
/// nothing is said): the cap then no longer protects the database and the outgoing calls.
fn warn_if_few_file_descriptors(max_connections: usize) {
    // The database, the log, the calls to GitLab and QALITA, the listener: a generous allowance.
    const OTHER_FILES: usize = 64;
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse::<usize>().ok());
    if let Some(soft) = soft
        && soft < max_connections.saturating_add(OTHER_FILES)
    {
        tracing::warn!(
            open_files_limit = soft,
            max_connections,
            "the process may open too few files for --max-connections: lower it, or raise the limit (ulimit -n, LimitNOFILE=)"
        );
    }
}

/// Sets up the log on standard error: `RUST_LOG` if set, else `default` (a level or directives).
pub fn init_tracing(format: LogFormat, default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // Already set (a test, or a caller that set its own): that one is kept.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

/// Ctrl-C (SIGINT) and SIGTERM, listened to from the moment they are installed.
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening.
    pub fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }

    /// Resolves at the first signal. A second one ends the process at once (exit status 130):
    /// messages in hand then come back after the visibility timeout, nothing acknowledged is lost.
    pub async fn first(mut self) {
        self.next().await;
        tokio::spawn(async move {
            self.next().await;
            eprintln!("second signal: stopping now; messages in hand come back after the visibility timeout");
            std::process::exit(130);
        });
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn the_command_line_defaults_are_the_endpoint_defaults() {
        let parsed = Command::try_parse_from(["serve"]).expect("no argument is needed");
        let endpoint = EndpointOptions::from_args(&parsed.serve);
        assert_eq!(endpoint.limits, Limits::default());
        assert_eq!(endpoint.tls, None);
    }

    #[test]
    fn tls_needs_both_files_and_limits_are_read_from_the_command_line() {
        assert!(Command::try_parse_from(["serve", "--tls-cert", "cert.pem"]).is_err());
        let parsed = Command::try_parse_from([
            "serve",
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
            "--max-connections",
            "32",
            "--max-inflight-body-bytes",
            "12MiB",
            "--header-read-timeout",
            "5s",
            "--body-read-timeout",
            "1m",
        ])
        .expect("valid arguments");
        let endpoint = EndpointOptions::from_args(&parsed.serve);
        assert_eq!(endpoint.tls, Some(TlsFiles { cert: "cert.pem".into(), key: "key.pem".into() }));
        let limits = Limits {
            max_connections: 32,
            max_inflight_body_bytes: 12 << 20,
            header_read_timeout: Duration::from_secs(5),
            body_read_timeout: Duration::from_secs(60),
        };
        assert_eq!(endpoint.limits, limits);
    }
}
