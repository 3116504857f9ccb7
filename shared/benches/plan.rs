//! The planner: mapping a QALITA issue to its desired GitLab issue, then planning against the link,
//! for a first sight (a creation), a change of one field (one update), and a replay (nothing).
//!
//! `cargo bench -p qalita-gitlab-core --bench plan`

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::gitlab::GitlabUser;
use qalita_gitlab_core::domain::link::{GitlabLink, LinkState};
use qalita_gitlab_core::domain::qalita::{IssueContext, QalitaIssue};
use qalita_gitlab_core::domain::{GitlabProjectId, Iid};
use qalita_gitlab_core::mapping::{Desired, Facts};
use qalita_gitlab_core::plan::{AssigneeInput, Op, plan};

const ISSUE: &str = include_str!("../../fixtures/qalita/issue.json");
const CONFIG: &str = r#"
[gitlab]
default_project = "data/quality"
[qalita]
base_url = "https://qalita.example.com"
[[routing]]
domain = "finance"
project = 43
[[routing]]
severity = "high"
source = "billing.*"
project = "billing/quality"
"#;

fn bench(c: &mut Criterion) {
    let config = Config::from_document(CONFIG, |_| None).expect("config");
    let issue: QalitaIssue = serde_json::from_str(ISSUE).expect("issue");
    let context = IssueContext {
        severity: Some("high".into()),
        source_name: Some("billing.customer_sites".into()),
        domain: None,
    };
    let assignee = AssigneeInput::Found {
        user: GitlabUser { id: 8, username: "jroe".into(), name: String::new() },
        how: "map".into(),
    };
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
    let reserved = LinkState::reserved(issue.id, "token".into(), now);
    let desired = Desired::of(&config, &Facts::of(&issue, &context, None));
    let created = plan(&config, &issue, &desired, &assignee, &reserved, now);
    assert!(matches!(created.op, Some(Op::Create { .. })));
    let mut linked = created.next;
    linked.gitlab = Some(GitlabLink {
        project_id: GitlabProjectId::new(7).unwrap(),
        iid: Iid::new(3).unwrap(),
        issue_id: 70,
        web_url: "https://gitlab.example.com/billing/quality/-/issues/3".into(),
    });
    let mut resolved = issue.clone();
    resolved.status = "resolved".into();
    resolved.updated_at = Some(now);

    let mut group = c.benchmark_group("plan");
    group.bench_function("map_and_create", |b| {
        b.iter(|| {
            let desired = Desired::of(&config, &Facts::of(black_box(&issue), &context, None));
            black_box(plan(&config, &issue, &desired, &assignee, &reserved, now))
        })
    });
    group.bench_function("map_and_update_one_field", |b| {
        b.iter(|| {
            let desired = Desired::of(&config, &Facts::of(black_box(&resolved), &context, None));
            let planned = plan(&config, &resolved, &desired, &assignee, &linked, now);
            assert!(matches!(planned.op, Some(Op::Update { .. })));
            black_box(planned)
        })
    });
    group.bench_function("map_and_replay", |b| {
        b.iter(|| {
            let desired = Desired::of(&config, &Facts::of(black_box(&issue), &context, None));
            let planned = plan(&config, &issue, &desired, &assignee, &linked, now);
            assert!(planned.op.is_none());
            black_box(planned)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
