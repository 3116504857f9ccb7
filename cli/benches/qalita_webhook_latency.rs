//! How long a QALITA change takes to reach GitLab through QALITA's own webhook on `serve`: the
//! QALITA simulator POSTs each change to the QALITA route (Bearer secret), `serve` queues the
//! id-only event on its on-disk queue, its worker reads the issue and writes GitLab. Measured from
//! the change in QALITA to the moment the GitLab simulator holds the new title, over 200 changes
//! made one after the other; prints the median, the 95th percentile and the extremes.
//!
//! Run: `cargo bench -p qalita-gitlab --bench qalita_webhook_latency`.

#[path = "../tests/serve_support/mod.rs"]
mod serve_support;

use std::time::{Duration, Instant};

use qalita_gitlab::serve::ConfigFrom;
use qalita_gitlab_sims::qalita::{WebhookProof, WebhookTarget};
use serve_support::*;

const CHANGES: usize = 200;

#[tokio::main]
async fn main() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (serving, queue) =
        Serving::start(&sims, options(dir.path(), ConfigFrom::Document(sims.config_document()))).await;
    wait_until("the GitLab issue of the poll", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    wait_until_quiet(&sims, &queue).await;
    sims.qalita.emit_webhooks_to(WebhookTarget {
        url: serving.qalita_webhook_url.clone(),
        secret: QALITA_WEBHOOK_SECRET.into(),
        proof: WebhookProof::Bearer,
    });

    let mut latencies = Vec::with_capacity(CHANGES);
    for n in 0..CHANGES {
        let title = format!("Invalid latitude, change {n}");
        let started = Instant::now();
        sims.qalita.set_title(ISSUE, &title);
        loop {
            if sims.gitlab_issue_of(ISSUE).is_some_and(|issue| issue.title.ends_with(&title)) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "change {n} did not reach GitLab in 30 s");
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        latencies.push(started.elapsed());
    }
    serving.stop_within(Duration::from_secs(5)).await;

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "qalita webhook → GitLab write on serve, {CHANGES} changes: median {:.1} ms, p95 {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(latencies[0]),
        ms(latencies[latencies.len() - 1])
    );
}
