//! `qalita-gitlab serve --demo`: the whole sync in a few seconds on a fresh machine. It starts a
//! simulated GitLab and a simulated QALITA in this process, seeds QALITA with four open
//! data-quality issues, points a `serve` pipeline at them (on a temporary data folder), then shows
//! step by step, checking each result: the GitLab issues opened, a close in GitLab resolving the
//! QALITA issue, a comment crossing each way. It ends with where to look and how to point `serve`
//! at a real GitLab and QALITA.

mod guide;
mod steps;
mod world;

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qalita_gitlab_sims::gitlab::WebhookConfig;

pub use guide::SAMPLE_CONFIG;
pub use steps::STEPS;
pub use world::{PERSON_TOKEN, QALITA_TOKEN, WEBHOOK_SECRET};

use crate::embedded::queue::QueueOptions;
use crate::serve::{
    ConfigFrom, EXIT_CANNOT_START, HEALTH_PATH, Options, RunError, SecretsFrom, ServeArgs, Server, Signals, StartError,
    database_path, describe, init_tracing,
};
use world::World;

/// What the demo runs with.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The data folder (must hold no database yet); `None`: a temporary one, removed at the end.
    pub data_dir: Option<PathBuf>,
    /// The webhook endpoint's address; `None`: a free loopback port.
    pub listen: Option<SocketAddr>,
    /// How often QALITA is polled (it is also polled once at start, which opens the issues).
    pub poll_interval: Duration,
    /// The queue's options.
    pub queue: QueueOptions,
}

impl DemoOptions {
    /// The options of the command line.
    pub fn from_args(args: &ServeArgs) -> DemoOptions {
        DemoOptions {
            data_dir: args.data_dir.clone(),
            listen: args.listen,
            poll_interval: args.poll_interval,
            queue: QueueOptions {
                visibility_timeout: args.visibility_timeout,
                max_receive_count: args.max_receive_count,
            },
        }
    }
}

/// Why the demo did not complete.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The data folder given already holds a database: the demo's simulators start empty, so old
    /// links would point at issues they do not have.
    #[error("the demo needs a fresh data folder, and {path} already holds a database: remove it, or leave out --data-dir", path = .path.display())]
    DataDirNotFresh {
        /// The database file.
        path: PathBuf,
    },
    /// No temporary folder could be made.
    #[error("cannot create a temporary data folder")]
    TempDir(#[source] std::io::Error),
    /// The pipeline did not start.
    #[error("the pipeline did not start")]
    Start(#[source] StartError),
    /// A step's result was not what it must be.
    #[error("step {step} ({title}) failed: {problem}")]
    Step {
        /// The step, from 1.
        step: usize,
        /// What the step shows.
        title: &'static str,
        /// What was found instead.
        problem: String,
    },
    /// The pipeline failed while running.
    #[error("the pipeline failed")]
    Run(#[source] RunError),
    /// The output could not be written.
    #[error("cannot write the demo's output")]
    Output(#[source] std::io::Error),
}

/// What the demo showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    /// From the start of the simulators to the last check.
    pub elapsed: Duration,
    /// The steps shown and verified.
    pub steps: usize,
}

/// A future that ends `--keep-running` (Ctrl-C in the command).
pub type KeepRunning = Pin<Box<dyn Future<Output = ()> + Send>>;

/// `qalita-gitlab serve --demo`: exit code 0 when every step was verified, 1 when one was not, 2
/// when it cannot start (a data folder that is not fresh).
pub async fn run(args: ServeArgs) -> ExitCode {
    // Warnings only: the demo's own output is on standard output; RUST_LOG shows the pipeline's log.
    init_tracing(args.log_format, "warn");
    let keep_running: Option<KeepRunning> = match args.keep_running {
        false => None,
        true => match Signals::install() {
            Ok(signals) => Some(Box::pin(signals.first())),
            Err(error) => {
                eprintln!("error: cannot listen for Ctrl-C: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    let mut out = std::io::stdout();
    match run_demo(DemoOptions::from_args(&args), &mut out, keep_running).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\ndemo failed: {}", describe(&error));
            match error {
                DemoError::DataDirNotFresh { .. } | DemoError::Start(_) => ExitCode::from(EXIT_CANNOT_START),
                _ => {
                    eprintln!("Run it again with RUST_LOG=info to see the pipeline's log.");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        writeln!($out, $($arg)*).map_err(DemoError::Output)?;
        $out.flush().map_err(DemoError::Output)?;
    }};
}

/// Runs the demo, writing what it shows to `out`. With `keep_running`, serves on after the steps
/// until that future resolves.
pub async fn run_demo(
    options: DemoOptions,
    out: &mut (dyn Write + Send),
    keep_running: Option<KeepRunning>,
) -> Result<DemoReport, DemoError> {
    let started = Instant::now();
    let (data_dir, temporary) = match &options.data_dir {
        Some(dir) => {
            let database = database_path(dir);
            if database.exists() {
                return Err(DemoError::DataDirNotFresh { path: database });
            }
            (dir.clone(), None)
        }
        None => {
            let temporary =
                tempfile::Builder::new().prefix("qalita-gitlab-demo-").tempdir().map_err(DemoError::TempDir)?;
            (temporary.path().to_path_buf(), Some(temporary))
        }
    };
    let world = World::start().await;
    let server = Server::start(Options {
        listen: options.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
        data_dir,
        config: ConfigFrom::Document(world.config_document()),
        env: Arc::new(|_| None),
        secrets: SecretsFrom::Source(World::secrets()),
        poll_interval: options.poll_interval,
        queue: options.queue,
    })
    .await
    .map_err(DemoError::Start)?;
    // QALITA's backend (or a bridge beside it) sends its change events to the queue.
    world.qalita.emit_events_to(Arc::new(server.queue()));
    world.gitlab.set_webhook(Some(WebhookConfig::new(&server.webhook_url()).with_secret(WEBHOOK_SECRET)));

    say!(out, "QALITA ↔ GitLab sync: demo, against a simulated GitLab and QALITA in this process");
    say!(out, "  GitLab (simulated)   {}", world.gitlab.url());
    say!(out, "  QALITA (simulated)   {}", world.qalita.url());
    say!(out, "  serve's webhook      {}", server.webhook_url());
    say!(out, "  database             {}", server.database().display());

    let config = server.config().clone();
    let (store, queue, database) = (server.store(), server.queue(), server.database().to_path_buf());
    let health = format!("http://{}{HEALTH_PATH}", server.local_addr());
    let webhook_url = server.webhook_url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let mut steps = steps::Steps { world: &world, store, queue, config: &config, out: &mut *out };
    let shown = steps.run().await;
    let elapsed = started.elapsed();
    let shown = shown.and_then(|()| {
        guide::write(out, &database, temporary.is_none(), options.poll_interval).map_err(DemoError::Output)
    });
    if shown.is_ok()
        && let Some(keep_running) = keep_running
    {
        let keeping = keep_serving(out, &world, &webhook_url, &health);
        if let Err(error) = keeping {
            let _ = stop.send(());
            return Err(error);
        }
        keep_running.await;
    }
    let _ = stop.send(());
    let ran = match serving.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(DemoError::Run(error)),
        Err(join) => Err(DemoError::Run(RunError::Task { task: "pipeline", source: join })),
    };
    shown?;
    ran?;
    say!(out, "\nDemo complete: {} steps shown and verified in {:.1} s.", STEPS.len(), elapsed.as_secs_f64());
    drop(world);
    drop(temporary);
    Ok(DemoReport { elapsed, steps: STEPS.len() })
}

/// What a person can poke at while `--keep-running` serves: a GitLab issue to close and reopen
/// through GitLab's API, and its QALITA issue to read and change through QALITA's.
fn keep_serving(out: &mut (dyn Write + Send), world: &World, webhook_url: &str, health: &str) -> Result<(), DemoError> {
    let (gitlab, qalita) = (world.gitlab.url(), world.qalita.url());
    let seed = world::SEEDS[2];
    let marker = format!("<!-- qalita-issue:{} -->", seed.id);
    let iid = world
        .gitlab
        .issues(seed.project.id)
        .into_iter()
        .find(|issue| issue.description.as_deref().is_some_and(|d| d.contains(&marker)))
        .map_or(1, |issue| issue.iid.get());
    let issue_url = format!("{gitlab}/api/v4/projects/{}/issues/{iid}", seed.project.id);
    let qalita_url = format!("{qalita}/api/v2/issues/{}", seed.id);
    say!(out, "\nStill serving (--keep-running); Ctrl-C stops. Try, from another terminal:");
    say!(out, "  curl {health}                                   # the queue's depth");
    say!(
        out,
        "  # close {}#{iid} in GitLab as Marie Durand, then see QALITA #{} resolved:",
        seed.project.path,
        seed.id
    );
    say!(out, "  curl -X PUT -H 'PRIVATE-TOKEN: {PERSON_TOKEN}' '{issue_url}?state_event=close'");
    say!(out, "  curl -H 'Authorization: Bearer {QALITA_TOKEN}' '{qalita_url}'");
    say!(out, "  # reopen it in QALITA, then see the GitLab issue reopened:");
    say!(
        out,
        "  curl -X PUT -H 'Authorization: Bearer {QALITA_TOKEN}' -H 'Content-Type: application/json' -d '{{\"status\": \"open\"}}' '{qalita_url}'"
    );
    say!(out, "  curl -H 'PRIVATE-TOKEN: {PERSON_TOKEN}' '{issue_url}'");
    say!(out, "  (GitLab's webhook posts to {webhook_url} with X-Gitlab-Token: {WEBHOOK_SECRET}.)");
    Ok(())
}
