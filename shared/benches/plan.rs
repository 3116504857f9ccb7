//! The planners. Outbound: mapping a QALITA issue to its desired GitLab issue, then planning
//! against the link, for a first sight (a creation), a change of one field (one update), and a
//! replay (nothing). Inbound: reading a queued GitLab close and planning the QALITA write; reading
//! our own echo and finding nothing to do.
//!
//! `cargo bench -p qalita-gitlab-core --bench plan`

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use qalita_gitlab_core::config::Config;
use qalita_gitlab_core::domain::gitlab::GitlabUser;
use qalita_gitlab_core::domain::link::Field;
use qalita_gitlab_core::domain::link::{GitlabLink, LinkState};
use qalita_gitlab_core::domain::qalita::{IssueContext, QalitaIssue};
use qalita_gitlab_core::domain::{GitlabProjectId, Iid};
use qalita_gitlab_core::events::facts::GitlabIssueFacts;
use qalita_gitlab_core::events::gitlab::read_issue_event;
use qalita_gitlab_core::mapping::{Desired, Facts};
use qalita_gitlab_core::plan::inbound::{AssigneeBack, changed_fields, plan_inbound};
use qalita_gitlab_core::plan::{AssigneeInput, Op, plan};
use serde_json::value::RawValue;

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
    assert!(matches!(created.ops.first(), Some(Op::CreateIssue { .. })));
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
            assert!(matches!(planned.ops.as_slice(), [Op::UpdateIssue { .. }]));
            black_box(planned)
        })
    });
    group.bench_function("map_and_replay", |b| {
        b.iter(|| {
            let desired = Desired::of(&config, &Facts::of(black_box(&issue), &context, None));
            let planned = plan(&config, &issue, &desired, &assignee, &linked, now);
            assert!(planned.ops.is_empty());
            black_box(planned)
        })
    });
    group.finish();

    // Inbound: a person's close, as the worker reads it from the queue, against the linked issue.
    // The fixture's close, made after the link's last sync (its time is the fixture's own).
    let mut close: serde_json::Value =
        serde_json::from_str(include_str!("../../fixtures/gitlab/issue_close.json")).expect("payload");
    close["object_attributes"]["updated_at"] = "2026-11-25T10:00:00.000Z".into();
    let close = close.to_string();
    let mut inbound = c.benchmark_group("inbound");
    inbound.bench_function("read_and_plan_a_close", |b| {
        b.iter(|| {
            let raw: &RawValue = serde_json::from_str(black_box(&close)).expect("payload");
            let facts = GitlabIssueFacts::of_issue(&read_issue_event(raw).expect("event")).expect("facts");
            assert_eq!(changed_fields(&config, &linked, &facts), [Field::Status]);
            let known = Facts::of(&issue, &context, None);
            let planned = plan_inbound(&config, &linked, &facts, Some((&issue, &known)), &AssigneeBack::NotNeeded, now);
            assert!(planned.update().is_some_and(|u| u.status.is_some()));
            black_box(planned)
        })
    });
    let mut echo: serde_json::Value = serde_json::from_str(&close).expect("payload");
    echo["object_attributes"]["state"] = "opened".into();
    echo["changes"] = serde_json::json!({ "state_id": { "previous": 2, "current": 1 } });
    let echo = echo.to_string();
    inbound.bench_function("read_our_own_echo", |b| {
        b.iter(|| {
            let raw: &RawValue = serde_json::from_str(black_box(&echo)).expect("payload");
            let facts = GitlabIssueFacts::of_issue(&read_issue_event(raw).expect("event")).expect("facts");
            assert!(changed_fields(&config, &linked, &facts).is_empty());
            black_box(facts)
        })
    });
    inbound.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
