//! The mapping and the routing, table-driven over the sample issue.

use super::*;
use crate::domain::digest::text_digest;
use crate::domain::qalita::{IssueContext, QalitaIssue, QalitaUser};

const CONFIG: &str = r#"
[gitlab]
default_project = "data/quality"
[qalita]
base_url = "https://qalita.example.com"
[[routing]]
name = "billing"
domain = "billing"
project = "finance/billing-data"
[[routing]]
name = "critical"
severity = "high"
project = 99
confidential = true
[[routing]]
name = "geo columns"
scope = "lat*"
project = "geo/quality"
[[routing]]
name = "marie"
owner = "m.durand"
project = "team/marie"
"#;

fn config() -> Config {
    Config::from_document(CONFIG, |_| None).unwrap()
}

fn issue() -> QalitaIssue {
    serde_json::from_str(include_str!("../../../fixtures/qalita/issue.json")).unwrap()
}

fn context(severity: Option<&str>, domain: Option<&str>) -> IssueContext {
    IssueContext {
        severity: severity.map(str::to_owned),
        source_name: Some("billing.customer_sites".into()),
        domain: domain.map(str::to_owned),
    }
}

fn desired(issue: &QalitaIssue, context: &IssueContext, owner: Option<&QalitaUser>) -> Desired {
    Desired::of(&config(), &Facts::of(issue, context, owner))
}

#[test]
fn the_default_mapping_of_the_sample_issue() {
    let d = desired(&issue(), &context(Some("high"), Some("billing")), None);
    assert_eq!(d.title, "[QALITA] billing.customer_sites: Invalid Latitude");
    assert!(d.description.contains("12.4% of rows in column `lat`"));
    assert!(
        d.description
            .contains("[Open the issue in QALITA](https://qalita.example.com/home/data-management/issues/4821)")
    );
    assert!(d.description.ends_with("\n\n<!-- qalita-issue:4821 -->"));
    assert_eq!(d.labels.iter().map(String::as_str).collect::<Vec<_>>(), ["domain:billing", "qalita", "severity:high"]);
    assert_eq!(d.state, Some(IssueState::Opened));
}

#[test]
fn labels_whose_value_is_unknown_are_left_out() {
    let d = desired(&issue(), &context(None, None), None);
    assert_eq!(d.labels.iter().map(String::as_str).collect::<Vec<_>>(), ["qalita"]);
    assert!(d.description.contains("**Severity:** —"));
}

#[test]
fn statuses_map_to_states_and_the_muted_label() {
    let cases = [
        ("Open", Some(IssueState::Opened), false),
        ("ACTIVE", Some(IssueState::Opened), false),
        ("resolved", Some(IssueState::Closed), false),
        ("Muted", Some(IssueState::Opened), true),
        ("ignored", Some(IssueState::Opened), true),
        ("in review", None, false),
    ];
    for (status, state, muted) in cases {
        let mut issue = issue();
        issue.status = status.into();
        let d = desired(&issue, &context(None, None), None);
        assert_eq!(d.state, state, "{status}");
        assert_eq!(d.labels.contains("ignored"), muted, "{status}");
    }
}

#[test]
fn the_dataset_comes_from_the_scope_when_the_event_has_no_source_name() {
    let d = desired(&issue(), &IssueContext::default(), None);
    assert_eq!(d.title, "[QALITA] billing.customer_sites: Invalid Latitude");
    let mut bare = issue();
    bare.scope = None;
    bare.title = String::new();
    let d = desired(&bare, &IssueContext::default(), None);
    assert_eq!(d.title, "[QALITA] source 57: unknown");
}

#[test]
fn a_long_title_is_cut_to_gitlabs_limit_and_newlines_removed() {
    let mut long = issue();
    long.title = format!("{}\nsecond line", "é".repeat(400));
    let d = desired(&long, &context(None, None), None);
    assert_eq!(d.title.chars().count(), MAX_TITLE_CHARS);
    assert!(d.title.ends_with('…') && !d.title.contains('\n'));
}

#[test]
fn routing_takes_the_first_matching_rule_and_says_why() {
    let marie = QalitaUser { id: 12, login: Some("m.durand".into()), name: None, email: None };
    let cases: Vec<(IssueContext, Option<&QalitaUser>, &str, bool, &str)> = vec![
        (
            context(Some("high"), Some("billing")),
            None,
            "finance/billing-data",
            false,
            "rule \"billing\" matched (domain \"billing\" ~ \"billing\")",
        ),
        (
            context(Some("HIGH"), Some("sales")),
            None,
            "99",
            true,
            "rule \"critical\" matched (severity \"HIGH\" ~ \"high\")",
        ),
        (context(None, None), None, "geo/quality", false, "rule \"geo columns\" matched (scope \"lat\" ~ \"lat*\")"),
    ];
    for (context, owner, project, confidential, reason) in cases {
        let d = desired(&issue(), &context, owner);
        assert_eq!(
            (d.route.project.to_string().as_str(), d.route.confidential, d.route.reason.as_str()),
            (project, confidential, reason)
        );
    }
    let mut elsewhere = issue();
    elsewhere.scope = None;
    let d = desired(&elsewhere, &context(None, None), Some(&marie));
    assert_eq!(d.route.project.to_string(), "team/marie");
    let d = desired(&elsewhere, &context(None, None), None);
    assert_eq!(
        (d.route.project.to_string().as_str(), d.route.reason.as_str()),
        ("data/quality", "none of the 4 routing rules matched: the default project")
    );
}

#[test]
fn the_description_digest_is_stable_and_short() {
    let digest = text_digest("abc");
    assert_eq!(digest, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(text_digest(&"x".repeat(1_000_000)).len(), 71);
}
