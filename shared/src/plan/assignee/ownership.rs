//! `ownership.assignee` in each of its three modes, both ways: a QALITA reassignment (the outbound
//! planner) and a GitLab reassignment (the inbound planner). Each case says which side is written,
//! that the other is left alone, and that an unassignment never clears either side.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeZone, Utc};

use crate::config::{Config, Owner};
use crate::domain::gitlab::{GitlabUser, IssueState, IssueUpdate};
use crate::domain::link::{Field, LinkState};
use crate::domain::qalita::QalitaIssue;
use crate::domain::sync::DecisionKind;
use crate::events::facts::GitlabIssueFacts;
use crate::mapping::{Desired, Facts};
use crate::plan::inbound::tests::{context, linked};
use crate::plan::inbound::{Triage, triage};
use crate::plan::{AssigneeBack, AssigneeInput, InboundPlan, Op, Plan, plan, plan_inbound};

const MODES: [(&str, Owner); 3] = [("qalita", Owner::Qalita), ("gitlab", Owner::Gitlab), ("both", Owner::Both)];

fn config(mode: &str) -> Config {
    let text = format!(
        "[gitlab]\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"\n[ownership]\nassignee = \"{mode}\""
    );
    Config::from_document(&text, |_| None).unwrap()
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 16, minute, 0).unwrap()
}

/// The QALITA issue at `minute`, assigned to QALITA user `assignee`.
fn qalita(assignee: Option<u64>, minute: u32) -> QalitaIssue {
    let mut issue: QalitaIssue = serde_json::from_str(include_str!("../../../../fixtures/qalita/issue.json")).unwrap();
    issue.assignee = assignee;
    issue.updated_at = Some(at(minute));
    issue
}

fn gitlab_user(id: u64, username: &str) -> GitlabUser {
    GitlabUser { id, username: username.into(), name: String::new() }
}

fn found(id: u64, username: &str) -> AssigneeInput {
    AssigneeInput::Found { user: gitlab_user(id, username), how: "explicit map".into() }
}

fn desired(config: &Config, issue: &QalitaIssue) -> Desired {
    Desired::of(config, &Facts::of(issue, &context(), None))
}

/// QALITA's issue of minute 5, assigned to `assignee` (resolved in GitLab as `input`), planned.
fn qalita_reassigns(config: &Config, link: &LinkState, assignee: Option<u64>, input: &AssigneeInput) -> Plan {
    let issue = qalita(assignee, 5);
    plan(config, &issue, &desired(config, &issue), input, link, at(6))
}

/// The GitLab assignee ids the plan writes, if it writes them.
fn gitlab_assignee(plan: &Plan) -> Option<Vec<u64>> {
    plan.ops.iter().find_map(|op| match op {
        Op::UpdateIssue { update, .. } => update.assignee_ids.clone(),
        _ => None,
    })
}

/// A person sets the GitLab assignee (`None`: unassigns) at minute 5.
fn gitlab_event(config: &Config, link: &LinkState, assignee: Option<GitlabUser>) -> GitlabIssueFacts {
    let issue = qalita(Some(12), 1);
    let desired = desired(config, &issue);
    let gitlab = link.gitlab.as_ref().unwrap();
    GitlabIssueFacts {
        project_id: gitlab.project_id,
        iid: gitlab.iid,
        issue_id: Some(gitlab.issue_id),
        state: IssueState::Opened,
        labels: Some(desired.labels.clone()),
        assignee: Some(assignee),
        title: Some(desired.title.clone()),
        description: Some(desired.description.clone()),
        updated_at: Some(at(5)),
        action: Some("update".into()),
        marked: Some(link.qalita_id),
        by: Some("mdurand".into()),
        changed: Some(BTreeSet::from([Field::Assignee])),
        previous_state: None,
        previous_labels: None,
        refreshed: false,
    }
}

/// The inbound plan of `facts`, QALITA still at its minute-1 state, the GitLab user mapped to
/// QALITA user 13 where a lookup is made.
fn gitlab_reassigns(config: &Config, link: &LinkState, facts: &GitlabIssueFacts) -> InboundPlan {
    let issue = qalita(Some(12), 1);
    let known = Facts::of(&issue, &context(), None);
    let back = AssigneeBack::Found { user: 13, login: Some("ana".into()), how: "same login".into() };
    plan_inbound(config, link, facts, Some((&issue, &known)), &back, at(30))
}

#[test]
fn the_default_is_qalita_owned_one_way() {
    let text = "[gitlab]\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"\n";
    assert_eq!(Config::from_document(text, |_| None).unwrap().ownership.assignee, Owner::Qalita);
}

#[test]
fn a_qalita_reassignment_reaches_gitlab_unless_gitlab_owns_the_assignee() {
    for (mode, owner) in MODES {
        let config = config(mode);
        let link = linked(&config);
        let plan = qalita_reassigns(&config, &link, Some(13), &found(9, "ana"));
        assert!(plan.ops.iter().all(Op::to_gitlab), "{mode}: QALITA is never written: {plan:?}");
        match owner {
            Owner::Qalita | Owner::Both => {
                let update = IssueUpdate { assignee_ids: Some(vec![9]), ..IssueUpdate::default() };
                assert!(
                    matches!(&plan.ops[..], [Op::UpdateIssue { update: u, .. }] if *u == update),
                    "{mode}: {plan:?}"
                );
                assert_eq!(plan.next.to_gitlab[&Field::Assignee].value, "9", "{mode}");
            }
            Owner::Gitlab => {
                assert_eq!(plan.ops, [], "{mode}: GitLab's assignee is left alone");
                assert_eq!(plan.next.to_gitlab[&Field::Assignee].value, "8", "{mode}: nothing recorded as written");
            }
        }
        // QALITA unassigned: GitLab's assignee is never cleared, whoever owns it.
        let cleared = qalita_reassigns(&config, &link, None, &AssigneeInput::Unassigned);
        assert_eq!(cleared.ops, [], "{mode}");
    }
}

#[test]
fn a_gitlab_reassignment_reaches_qalita_unless_qalita_owns_the_assignee() {
    for (mode, owner) in MODES {
        let config = config(mode);
        let link = linked(&config);
        let facts = gitlab_event(&config, &link, Some(gitlab_user(9, "ana")));
        let Triage::Changed(reads) = triage(&config, &link, &facts, at(30)) else { panic!("{mode}: a change") };
        let plan = gitlab_reassigns(&config, &link, &facts);
        assert!(plan.plan.ops.iter().all(|op| !op.to_gitlab()), "{mode}: GitLab is not written: {plan:?}");
        assert!(!plan.push_to_gitlab, "{mode}: the person's GitLab assignee stays");
        assert_eq!(plan.plan.next.from_gitlab[&Field::Assignee].value, "9", "{mode}: the edit is recorded");
        match owner {
            Owner::Qalita => {
                assert_eq!((reads.assignee, reads.qalita_issue), (None, false), "{mode}: nothing is looked up");
                assert_eq!(plan.update(), None, "{mode}: QALITA's assignee is left alone");
                assert!(
                    plan.plan.decisions.iter().any(|d| d.kind == DecisionKind::NotSyncedBack
                        && d.message.contains("ownership.assignee = \"both\"")),
                    "{mode}: the log says how to sync it back: {:?}",
                    plan.plan.decisions
                );
            }
            Owner::Gitlab | Owner::Both => {
                assert_eq!(reads.assignee.map(|u| u.id), Some(9), "{mode}: the GitLab user is looked up");
                assert_eq!(plan.update().and_then(|u| u.assignee), Some(13), "{mode}: QALITA gets GitLab's assignee");
                assert_eq!(plan.accepted, [Field::Assignee], "{mode}");
            }
        }
        // GitLab unassigned: QALITA's assignee is never cleared, whoever owns it.
        let unassigned = gitlab_event(&config, &link, None);
        let plan = gitlab_reassigns(&config, &link, &unassigned);
        assert_eq!(plan.update(), None, "{mode}: {plan:?}");
        assert!(plan.plan.ops.is_empty(), "{mode}");
    }
}

#[test]
fn while_qalita_owns_it_a_gitlab_reassignment_stays_until_qalitas_own_assignee_changes() {
    let config = config("qalita");
    let link = linked(&config);
    let facts = gitlab_event(&config, &link, Some(gitlab_user(9, "ana")));
    let after_edit = gitlab_reassigns(&config, &link, &facts).plan.next;
    // A QALITA change of something else (the same assignee): GitLab's assignee is not overwritten.
    let status_only = {
        let mut issue = qalita(Some(12), 7);
        issue.status = "resolved".into();
        plan(&config, &issue, &desired(&config, &issue), &found(8, "jroe"), &after_edit, at(8))
    };
    assert!(status_only.writes(), "the status goes to GitLab: {status_only:?}");
    assert_eq!(gitlab_assignee(&status_only), None, "{status_only:?}");
    // QALITA's own reassignment: it wins, as the owner's.
    let reassigned = qalita_reassigns(&config, &after_edit, Some(13), &found(10, "carla"));
    assert_eq!(gitlab_assignee(&reassigned), Some(vec![10]));
}
