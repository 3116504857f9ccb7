//! Context from QALITA's API (`[qalita.context]`) on a tenant that sends no change event: the poll
//! finds the issues, the worker maps each with the dataset, severity and domain its source says, at
//! one read per distinct source per cache lifetime (moto, both simulators).

mod world;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::domain::gitlab::GitlabIssue;
use qalita_gitlab_core::domain::qalita::IssueContext;
use qalita_gitlab_core::engine::Asked;
use qalita_gitlab_core::ports::{Clock, IntegrationLog, Settings};
use qalita_gitlab_sims::gitlab::DEFAULT_TOKEN;
use qalita_gitlab_sims::qalita::Fault;
use qalita_gitlab_worker::handler::Deps;
use qalita_gitlab_worker::poll::poll;
use qalita_gitlab_worker::wiring::{Places, Tokens};
use serde_json::json;
use world::{ISSUE, QALITA_TOKEN, World, issue_json};

/// Severity and domain read from the issue's source (the dataset is looked up by default).
const LOOKUPS: &str = r#"
[qalita.context.severity]
path = "/api/v2/sources/{source_id}"
pointer = "/meta/criticality"
[qalita.context.domain]
path = "/api/v2/sources/{source_id}"
pointer = ["/tags/domain", "/meta/domain"]
"#;

/// The fixture's issue (source 57), ten more on source 57, eight on 58, two on 59 (which QALITA
/// does not have), all raised after the creation policy's date and none announced by an event.
fn tenant(world: &World) -> Vec<u64> {
    world.qalita.insert_source(json!({
        "id": 57, "name": "billing.sites", "meta": {"criticality": "high"}, "tags": {"domain": ["finance", "eu"]}
    }));
    world.qalita.insert_source(json!({"id": 58, "name": "crm.contacts", "meta": {"criticality": "warning"}}));
    let mut ids = vec![ISSUE];
    for n in 0..20u64 {
        let id = 6000 + n;
        let mut issue = issue_json("open");
        issue["id"] = id.into();
        issue["title"] = format!("Rule {n}").into();
        issue["source_id"] = match n {
            0..10 => 57,
            10..18 => 58,
            _ => 59,
        }
        .into();
        issue["scope"] = serde_json::Value::Null;
        issue["url"] = format!("https://qalita.example.com/home/data-management/issues/{id}").into();
        issue["created_at"] = format!("2026-11-21T08:{n:02}:00Z").into();
        world.qalita.insert_issue(issue);
        ids.push(id);
    }
    ids
}

fn source_reads(world: &World) -> Vec<String> {
    world
        .qalita
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/api/v2/sources/"))
        .map(|r| r.path)
        .collect()
}

fn issue_titled<'a>(issues: &'a [GitlabIssue], title: &str) -> &'a GitlabIssue {
    issues.iter().find(|i| i.title.ends_with(title)).unwrap_or_else(|| panic!("no GitLab issue {title:?}: {issues:#?}"))
}

async fn poll_and_drain(world: &World) -> usize {
    let report = poll(&world.deps, Instant::now() + Duration::from_secs(60)).await;
    assert_eq!(report.failed, 0, "{report:?}");
    world.drain().await;
    report.enqueued
}

#[tokio::test]
async fn a_poll_only_tenant_gets_dataset_severity_and_domain_from_lookups_at_one_read_per_source() {
    let world = World::new(LOOKUPS).await;
    let ids = tenant(&world);
    world.qalita.clear_requests();

    assert_eq!(poll_and_drain(&world).await, 21);

    // Source 57 is finance: routed to project 43, with the source's name in the title (not the
    // scope's dataset) and its severity and domain as labels.
    let finance = world.gitlab.issues(43);
    assert_eq!(finance.len(), 11, "{finance:#?}");
    let fixture = issue_titled(&finance, "Invalid Latitude");
    assert_eq!(fixture.title, "[QALITA] billing.sites: Invalid Latitude");
    for issue in &finance {
        assert!(issue.title.starts_with("[QALITA] billing.sites: "), "{issue:#?}");
        for label in ["qalita", "severity:high", "domain:finance"] {
            assert!(issue.labels.iter().any(|l| l == label), "{label} on {issue:#?}");
        }
    }
    // Source 58 has no domain: the default project, its own severity, no domain label.
    let quality = world.gitlab.issues(42);
    assert_eq!(quality.len(), 10, "{quality:#?}");
    for n in 10..18 {
        let issue = issue_titled(&quality, &format!("Rule {n}"));
        assert_eq!(issue.title, format!("[QALITA] crm.contacts: Rule {n}"));
        assert!(issue.labels.iter().any(|l| l == "severity:warning"), "{issue:#?}");
        assert!(!issue.labels.iter().any(|l| l.starts_with("domain:")), "{issue:#?}");
    }
    // Source 59 is not in QALITA: nothing known, the sync goes on, the log says why.
    for n in 18..20 {
        let issue = issue_titled(&quality, &format!("Rule {n}"));
        assert_eq!(issue.title, format!("[QALITA] source 59: Rule {n}"));
        assert!(!issue.labels.iter().any(|l| l.starts_with("severity:") || l.starts_with("domain:")), "{issue:#?}");
    }
    let log = world.store.log(QalitaIssueId::new(6019).unwrap()).await.unwrap();
    let unknown: Vec<&str> = log.iter().filter(|e| e.kind == "context-unknown").map(|e| e.message.as_str()).collect();
    assert_eq!(unknown.len(), 3, "dataset, severity and domain: {log:#?}");
    assert!(unknown.iter().all(|m| m.contains("GET /api/v2/sources/59 does not exist")), "{unknown:#?}");

    // The cost: one read per distinct source for 21 issues, whatever the number of lookups on it.
    let mut reads = source_reads(&world);
    reads.sort();
    assert_eq!(reads, ["/api/v2/sources/57", "/api/v2/sources/58", "/api/v2/sources/59"]);

    // Every issue changes; the next run syncs all of them again without reading a source: the
    // answers are cached in the table for an hour.
    for id in &ids {
        world.qalita.update_issue(*id, |i| i["description"] = "Seen again tonight.".into());
    }
    assert_eq!(poll_and_drain(&world).await, 21);
    assert_eq!(source_reads(&world).len(), 3, "still three reads in all");
    for issue in &finance {
        let now = world.gitlab.issue(43, issue.iid.get()).unwrap();
        assert!(now.description.as_deref().unwrap_or_default().contains("Seen again"), "{now:#?}");
    }

    // A fresh process (a new Lambda container) finds the answers in the table, not in QALITA.
    let cold = worker_at(&world, Duration::ZERO);
    let issue = cold.qalita.get_issue(QalitaIssueId::new(6001).unwrap()).await.unwrap().unwrap();
    let preview = cold.engine.preview(&issue, &IssueContext::default(), Asked::ByItself).await.unwrap();
    assert_eq!(preview.desired.title, "[QALITA] billing.sites: Rule 1");
    assert_eq!(source_reads(&world).len(), 3, "a cold process reads the table's cache");

    // Past the cache's hour, each source is read once more, and a renamed source shows.
    world.qalita.update_source(57, |s| s["name"] = "billing.customer_sites".into());
    let later = worker_at(&world, Duration::from_secs(3601));
    for id in &ids[..11] {
        let issue = later.qalita.get_issue(QalitaIssueId::new(*id).unwrap()).await.unwrap().unwrap();
        let preview = later.engine.preview(&issue, &IssueContext::default(), Asked::ByItself).await.unwrap();
        assert!(preview.desired.title.starts_with("[QALITA] billing.customer_sites: "), "{}", preview.desired.title);
    }
    assert_eq!(source_reads(&world).len(), 4, "one more read of source 57 for eleven issues");
}

#[tokio::test]
async fn a_failed_lookup_never_blocks_the_sync_and_is_tried_again_a_minute_later() {
    let world = World::new(LOOKUPS).await;
    world.qalita.insert_source(json!({"id": 57, "name": "billing.sites", "meta": {"domain": "finance"}}));
    world.qalita.fail_next_on("/api/v2/sources", 1, Fault::ServerError(503));
    world.qalita.clear_requests();

    assert_eq!(poll_and_drain(&world).await, 1);

    // Created without what the source would have said: the scope's dataset, no severity, no
    // domain (so the default project); the log says why.
    let created = world.gitlab_issue();
    assert_eq!(created.title, "[QALITA] billing.customer_sites: Invalid Latitude");
    assert!(!created.labels.iter().any(|l| l.starts_with("domain:")), "{created:#?}");
    let log = world.store.log(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap();
    assert!(
        log.iter().any(|e| e.kind == "context-unknown" && e.message.contains("GET /api/v2/sources/57 failed")),
        "{log:#?}"
    );
    assert_eq!(source_reads(&world).len(), 1);
    // Nothing failed is cached in the table.
    assert_eq!(world.store.cursor("context:/api/v2/sources/57").await.unwrap(), None);

    // A minute later the lookup is made again and the link's issue gets the source's name.
    let later = worker_at(&world, Duration::from_secs(61));
    let issue = later.qalita.get_issue(QalitaIssueId::new(ISSUE).unwrap()).await.unwrap().unwrap();
    later.engine.sync_issue(&issue, &IssueContext::default(), &Default::default()).await.unwrap();
    assert_eq!(world.gitlab_issue().title, "[QALITA] billing.sites: Invalid Latitude");
    assert!(world.gitlab_issue().labels.iter().any(|l| l == "domain:finance"));
    assert_eq!(source_reads(&world).len(), 2);
    assert!(world.store.cursor("context:/api/v2/sources/57").await.unwrap().is_some(), "cached once read");
}

#[tokio::test]
async fn an_event_with_context_makes_no_lookup() {
    let world = World::new(LOOKUPS).await;
    world.qalita.insert_source(json!({"id": 57, "name": "billing.sites"}));
    world.qalita.clear_requests();
    world.qalita_changed(json!({"domain": "billing"})).await;
    world.drain().await;
    assert_eq!(world.gitlab_issue().title, "[QALITA] billing.customer_sites: Invalid Latitude");
    assert!(source_reads(&world).is_empty(), "{:?}", world.qalita.requests());
}

/// A clock `ahead` of the system's.
struct Ahead(chrono::TimeDelta);

impl Clock for Ahead {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.0
    }
}

/// The worker as another process would build it, on the world's stack, with its clock `ahead`.
fn worker_at(world: &World, ahead: Duration) -> Arc<Deps> {
    let tokens = Tokens { gitlab: SecretString::new(DEFAULT_TOKEN), qalita: SecretString::new(QALITA_TOKEN) };
    let clock = Arc::new(Ahead(chrono::TimeDelta::from_std(ahead).unwrap()));
    let places = Places { store: world.store.clone(), queue: Arc::new(world.queue.clone()), clock };
    let settings = HttpSettings { total_timeout: Duration::from_secs(3), ..HttpSettings::default() };
    Arc::new(Deps::build(world.deps.config.clone(), tokens, &settings, places).unwrap())
}
