//! The rate governor at gitlab.com's limits: 1,000 new QALITA issues, found by one poll, created
//! by four workers consuming one FIFO queue, against the GitLab simulator's budgets (200 issue
//! creations, 60 notes and 2,000 API requests a window, refused with 429 as gitlab.com does).
//! Time runs ten times faster than GitLab's (6 s windows, the same counts per window), so that a
//! run takes about half a minute. Runs twice: without the governor (GitLab's 429s and the
//! back-off only), then with it (`[gitlab.rate_limits]`'s defaults). Prints, for each, the
//! creations in each whole window as a share of the limit and the share of GitLab requests
//! answered 429.
//!
//! Run: `cargo bench -p qalita-gitlab-worker --bench governor`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use qalita_gitlab_core::adapters::governor::Governed;
use qalita_gitlab_core::adapters::memory::MemoryQueue;
use qalita_gitlab_core::adapters::memory_store::MemoryLinkStore;
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::ports::{EventQueue, GitlabApi, SystemClock};
use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, GitlabSim, RateLimits, SimConfig};
use qalita_gitlab_sims::qalita::QalitaSim;
use qalita_gitlab_worker::handler::{Deps, consume};
use qalita_gitlab_worker::poll::poll;
use qalita_gitlab_worker::wiring::{self, Places};
use serde_json::json;

const ISSUES: u64 = 1_000;
const WORKERS: usize = 4;
const WINDOW: Duration = Duration::from_secs(6);
const ISSUE_LIMIT: u32 = 200;
const QALITA_TOKEN: &str = "qalita-bench-token";
const PROJECT: &str = "/projects/data%2Fquality/issues";

struct Run {
    label: &'static str,
    elapsed: Duration,
    per_window: Vec<u64>,
    requests: usize,
    refused: usize,
    created: usize,
}

async fn run(label: &'static str, governed: bool) -> Run {
    let limits =
        RateLimits { window: WINDOW, api: Some(2_000), issue_creation: Some(ISSUE_LIMIT), note_creation: Some(60) };
    let gitlab = Arc::new(GitlabSim::start(SimConfig::default().with_rate_limits(limits)).await);
    gitlab.add_project(42, "data/quality");
    let qalita = QalitaSim::start(QALITA_TOKEN).await;
    for n in 0..ISSUES {
        let at = format!("2026-11-{:02}T{:02}:{:02}:00Z", 1 + n / 1440 % 28, n / 60 % 24, n % 60);
        qalita.insert_issue(json!({
            "id": 10_000 + n, "title": format!("Check {n}"), "status": "open",
            "description": "Rows out of range.", "created_at": at, "updated_at": at,
            "url": format!("https://qalita.example.com/home/data-management/issues/{}", 10_000 + n),
        }));
    }
    let document = format!(
        "[gitlab]\nbase_url = \"{}\"\ndefault_project = \"data/quality\"\n[qalita]\nbase_url = \"{}\"\n\
         [create]\ncreated_after = \"2026-01-01T00:00:00Z\"\n[sync]\npoll_page_size = 100\npoll_sweep_pages = 20\n",
        gitlab.url(),
        qalita.url()
    );
    let config = Arc::new(Config::from_document(&document, |_| None).expect("the bench's configuration"));
    let store = Arc::new(MemoryLinkStore::new());
    let clock = Arc::new(SystemClock);
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let tokens = wiring::Tokens { gitlab: SecretString::new(DEFAULT_TOKEN), qalita: SecretString::new(QALITA_TOKEN) };
    let (client, qalita_api) = wiring::clients(&config, tokens, &wiring::http_profile()).expect("the clients");
    let admin = client.clone();
    let gitlab_api: Arc<dyn GitlabApi> = match governed {
        true => {
            let limits = config.gitlab.rate_limits.clone();
            let governor = Governed::new(client.clone(), client.rate_seen(), store.clone(), clock.clone(), limits);
            Arc::new(governor.with_window(WINDOW))
        }
        false => client,
    };
    let places = Places { store: store.clone(), queue: queue.clone(), clock };
    let deps = Arc::new(Deps::over(config, gitlab_api, admin, qalita_api, places));

    let report = poll(&deps, Instant::now() + Duration::from_secs(60)).await;
    assert_eq!(report.enqueued as u64, ISSUES, "{report:?}");
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    // The creations counted at each window's turn, to tell whole windows from the partial first
    // and last.
    let sampler = {
        let (gitlab, done) = (gitlab.clone(), done.clone());
        tokio::spawn(async move {
            let mut samples = vec![created(&gitlab)];
            while !done.load(Ordering::SeqCst) {
                tokio::time::sleep(until_next_window() + Duration::from_millis(5)).await;
                samples.push(created(&gitlab));
            }
            samples
        })
    };
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (deps, queue, gitlab, done) = (deps.clone(), queue.clone(), gitlab.clone(), done.clone());
            tokio::spawn(async move {
                while !done.load(Ordering::SeqCst) {
                    let received = queue.receive(10, Duration::ZERO).await.expect("the in-memory queue answers");
                    if received.is_empty() {
                        if created(&gitlab) as u64 >= ISSUES && queue.is_empty() {
                            done.store(true, Ordering::SeqCst);
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    consume(deps.clone(), queue.as_ref() as &dyn EventQueue, &received).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("a bench worker panicked: its message is above");
    }
    let elapsed = started.elapsed();
    let samples = sampler.await.expect("the sampler panicked: its message is above");
    // Whole windows: between the first turn and the last turn before the end.
    let per_window: Vec<u64> = samples.windows(2).map(|pair| (pair[1] - pair[0]) as u64).collect();
    let whole = per_window.len().saturating_sub(1);
    let requests = gitlab.requests();
    Run {
        label,
        elapsed,
        per_window: per_window.get(1..whole).map(<[u64]>::to_vec).unwrap_or_default(),
        requests: requests.len(),
        refused: requests.iter().filter(|r| r.status == Some(429)).count(),
        created: created(&gitlab),
    }
}

fn created(gitlab: &GitlabSim) -> usize {
    gitlab.requests().iter().filter(|r| r.method == "POST" && r.path == PROJECT && r.status == Some(201)).count()
}

fn until_next_window() -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let length = WINDOW.as_nanos();
    let next = (now.as_nanos() / length + 1) * length;
    Duration::from_nanos(u64::try_from(next - now.as_nanos()).unwrap_or(0))
}

fn print(run: &Run) {
    let shares: Vec<String> =
        run.per_window.iter().map(|n| format!("{:.0} %", *n as f64 * 100.0 / f64::from(ISSUE_LIMIT))).collect();
    let mean = match run.per_window.len() {
        0 => 0.0,
        n => run.per_window.iter().sum::<u64>() as f64 / n as f64 * 100.0 / f64::from(ISSUE_LIMIT),
    };
    println!(
        "{:<18} {} issues in {:.1} s ({:.1} windows of {} s); creations per whole window: [{}] = {:.1} % of the limit on average; \
         {} of {} GitLab requests answered 429 ({:.2} %)",
        run.label,
        run.created,
        run.elapsed.as_secs_f64(),
        run.elapsed.as_secs_f64() / WINDOW.as_secs_f64(),
        WINDOW.as_secs(),
        shares.join(", "),
        mean,
        run.refused,
        run.requests,
        run.refused as f64 * 100.0 / run.requests.max(1) as f64,
    );
}

#[tokio::main]
async fn main() {
    let before = run("without governor", false).await;
    print(&before);
    let after = run("with governor", true).await;
    print(&after);
}
