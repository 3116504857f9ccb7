//! The ingress path of the webhook function without the network: token check (cached secret) +
//! parse + classify + trim + envelope, on a typical delivery and on ones with a 1 MiB and a 6 MiB
//! description (issue 14: "a 6 MiB body well under 50 ms in release"; the time per byte of the two
//! shows it is linear in the body: criterion's throughput line gives it).
//!
//! `cargo bench -p qalita-gitlab-core --bench ingress` (`-- MiB` for the large bodies only)

use std::hint::black_box;
use std::sync::Arc;

use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qalita_gitlab_core::adapters::memory::MemorySecrets;
use qalita_gitlab_core::ports::SystemClock;
use qalita_gitlab_core::webhook::verify::{CachePolicy, Verdict, WebhookAuthenticator};
use qalita_gitlab_core::webhook::{DeliveryHeaders, Ingested, ingest};

const ISSUE_OPEN: &str = include_str!("../../fixtures/gitlab/issue_open.json");
const NOTE_ON_ISSUE: &str = include_str!("../../fixtures/gitlab/note_on_issue.json");
const TOKEN: &[u8] = b"bench-webhook-secret-0123456789abcdefghij";

fn headers() -> DeliveryHeaders<'static> {
    DeliveryHeaders {
        event: Some("Issue Hook"),
        token: Some(TOKEN),
        event_uuid: Some("6a0bc4ef-2b0b-4a0a-9d8e-5a3b0a6e4c11"),
        webhook_uuid: Some("0f3b1e7c-8c49-4a58-9e3e-1f2d5c6b7a80"),
        idempotency_key: Some("e9f1b9a0-73c5-4c1f-8b2a-3c4d5e6f7a8b"),
        instance: Some("https://gitlab.example.com"),
        ..DeliveryHeaders::default()
    }
}

/// A description of `size` bytes of ordinary Markdown text (with quotes and newlines to escape).
fn large_description(size: usize) -> String {
    let line = "| column `lat` | 12.4% rows \\\"outside\\\" [-90, 90] | see run 4821 |\\n";
    line.repeat(size / line.len() + 1)[..size].trim_end_matches('\\').to_owned()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let secrets = Arc::new(MemorySecrets::new());
    secrets.put("webhook", std::str::from_utf8(TOKEN).expect("ascii"));
    let auth = WebhookAuthenticator::new(secrets, "webhook", Arc::new(SystemClock), CachePolicy::default());
    let now = Utc::now();

    // GitLab sends compact JSON; the documentation's sample is pretty-printed. Both are measured.
    let compact = |text: &str| {
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(text).expect("fixture")).expect("json")
    };
    let (issue_compact, note_compact) = (compact(ISSUE_OPEN), compact(NOTE_ON_ISSUE));
    // A real issue delivery whose description is `size` bytes. Neither large one's texts fit the
    // queue: both take the same path (trim the texts, encode twice), so their times compare per byte.
    let with_description = |size: usize| {
        ISSUE_OPEN.replace(
            "\"Create new API for manipulations with repository\"",
            &format!("\"{}\"", large_description(size)),
        )
    };
    let (big, huge) = (with_description(1024 * 1024), with_description(6 * 1024 * 1024));
    let mut group = c.benchmark_group("ingress");
    let cases = [
        ("issue_open", "Issue Hook", ISSUE_OPEN),
        ("issue_open_compact", "Issue Hook", issue_compact.as_str()),
        ("note_on_issue", "Note Hook", NOTE_ON_ISSUE),
        ("note_on_issue_compact", "Note Hook", note_compact.as_str()),
        ("issue_1MiB_description", "Issue Hook", big.as_str()),
        ("issue_6MiB_description", "Issue Hook", huge.as_str()),
    ];
    for (name, event, body) in cases {
        let headers = DeliveryHeaders { event: Some(event), ..headers() };
        assert!(matches!(ingest(&headers, body.as_bytes(), now), Ok(Ingested::Queue { .. })), "{name} must be queued");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| async {
                let check = auth.check(&headers, body.as_bytes()).await.expect("cached secret");
                assert!(matches!(check, Verdict::Accepted { .. }));
                black_box(ingest(&headers, black_box(body.as_bytes()), now))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
