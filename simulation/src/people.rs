//! The people: Marie Durand edits both sides at random (statuses, assignees, titles, labels,
//! comments and notes, new issues, a deleted GitLab issue), and the [`Ledger`] keeps what they did,
//! in the run's order, for the checker.

use std::collections::BTreeMap;

use qalita_gitlab_core::domain::gitlab::{GitlabIssue, GitlabProjectRef, IssueState, IssueUpdate, StateEvent};
use qalita_gitlab_core::ports::{CallContext, GitlabApi};
use serde_json::{Value, json};

use crate::world::World;

/// A synced field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// Open, resolved or muted.
    Status,
    /// Who it is assigned to.
    Assignee,
}

/// A side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// GitLab.
    Gitlab,
    /// QALITA.
    Qalita,
}

/// A person's change of a synced field's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The QALITA issue.
    pub issue: u64,
    /// Which field.
    pub field: Field,
    /// Its meaning after (`open`, `resolved`, `muted`; `marie`, `john`).
    pub value: &'static str,
    /// Where.
    pub side: Side,
    /// The trace position: the run's order.
    pub at: usize,
    /// The two sides disagreed on the field when it was made (a change of the other side not
    /// synced yet): a conflict, which may end either way, both sides agreeing.
    pub contested: bool,
}

/// A comment or note a person wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remark {
    /// The QALITA issue it is about.
    pub issue: u64,
    /// Its text.
    pub text: String,
    /// The trace position.
    pub at: usize,
}

/// What the people did.
#[derive(Debug, Default)]
pub struct Ledger {
    /// The QALITA issues, in order of creation.
    pub issues: Vec<u64>,
    /// Meaning-changing edits of the synced fields.
    pub edits: Vec<Edit>,
    /// Notes written in GitLab.
    pub notes: Vec<Remark>,
    /// Comments written in QALITA.
    pub comments: Vec<Remark>,
    /// GitLab issues deleted, by QALITA issue, when.
    pub deletions: BTreeMap<u64, Vec<usize>>,
    /// A counter for unique texts.
    pub written: usize,
}

/// What a GitLab issue's state and labels mean.
pub fn gitlab_status(issue: &GitlabIssue) -> &'static str {
    match (issue.state, issue.labels.iter().any(|l| l == "ignored")) {
        (IssueState::Closed, _) => "resolved",
        (_, true) => "muted",
        _ => "open",
    }
}

/// What a QALITA status means.
pub fn qalita_status(status: &str) -> &'static str {
    match status {
        "resolved" => "resolved",
        "muted" => "muted",
        _ => "open",
    }
}

/// Who a GitLab issue is assigned to.
pub fn gitlab_assignee(issue: &GitlabIssue) -> &'static str {
    match issue.assignees.first().map(|a| a.id) {
        Some(30) => "marie",
        Some(31) => "john",
        Some(_) => "someone else",
        None => "nobody",
    }
}

/// Who a QALITA issue is assigned to.
pub fn qalita_assignee(issue: &Value) -> &'static str {
    match issue["assignee"].as_u64() {
        Some(12) => "marie",
        Some(13) => "john",
        Some(_) => "someone else",
        None => "nobody",
    }
}

/// The hidden marker of a QALITA issue in its GitLab issue's description.
pub fn marker(issue: u64) -> String {
    format!("<!-- qalita-issue:{issue} -->")
}

/// The GitLab issues that carry `issue`'s marker, in either project.
pub fn gitlab_issues_of(world: &World, issue: u64) -> Vec<GitlabIssue> {
    let marker = marker(issue);
    [42, 43]
        .iter()
        .flat_map(|p| world.gitlab.issues(*p))
        .filter(|i| i.description.as_deref().unwrap_or_default().contains(&marker))
        .collect()
}

/// The QALITA issue a GitLab issue is about.
pub fn qalita_id_of(issue: &GitlabIssue) -> Option<u64> {
    let rest = issue.description.as_deref()?.split("<!-- qalita-issue:").nth(1)?;
    rest.split(" -->").next()?.trim().parse().ok()
}

/// One thing a person does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// A new QALITA issue.
    NewIssue,
    /// A QALITA status.
    QalitaStatus(&'static str),
    /// A QALITA assignee (user 12 or 13).
    QalitaAssignee(u64),
    /// A QALITA title.
    QalitaTitle,
    /// A QALITA comment.
    QalitaComment,
    /// Close or reopen in GitLab.
    GitlabClosed(bool),
    /// The `ignored` label added or removed in GitLab.
    GitlabIgnored(bool),
    /// A GitLab assignee (user 30 or 31).
    GitlabAssignee(u64),
    /// A GitLab note.
    GitlabNote,
    /// The GitLab issue deleted.
    GitlabDelete,
}

/// Draws an act.
pub fn draw(world: &World) -> Act {
    let pick = |options: &[&'static str]| options[world.chaos.below(options.len() as u32) as usize];
    match world.chaos.below(100) {
        0..6 => Act::NewIssue,
        6..20 => Act::QalitaStatus(pick(&["open", "active", "resolved", "muted"])),
        20..28 => Act::QalitaAssignee(12 + u64::from(world.chaos.below(2))),
        28..33 => Act::QalitaTitle,
        33..45 => Act::QalitaComment,
        45..60 => Act::GitlabClosed(world.chaos.below(2) == 0),
        60..68 => Act::GitlabIgnored(world.chaos.below(2) == 0),
        68..76 => Act::GitlabAssignee(30 + u64::from(world.chaos.below(2))),
        76..98 => Act::GitlabNote,
        _ => Act::GitlabDelete,
    }
}

/// A new QALITA issue, open, on one of two sources.
pub fn new_issue(world: &World, ledger: &mut Ledger) -> u64 {
    let n = ledger.issues.len();
    let source = 57 + u64::from(world.chaos.below(2));
    let issue = json!({
        "partner_id": 3,
        "title": format!("Check {n} failed"),
        "description": format!("{n}: rows out of range"),
        "status": "open",
        "source_id": source,
        "assignee": 12,
        "scope": {"perimeter": "column", "value": "lat"},
        "author_id": 12,
        "updated_by": 12,
    });
    let id = world.qalita.insert_issue(issue);
    ledger.issues.push(id);
    id
}

/// Does `act` to one of the issues (chosen at random); what was done, for the trace.
pub async fn act(world: &World, ledger: &mut Ledger, act: Act) -> Result<String, String> {
    if act == Act::NewIssue || ledger.issues.is_empty() {
        let id = new_issue(world, ledger);
        return Ok(format!("person: new QALITA issue {id}"));
    }
    let issue = ledger.issues[world.chaos.below(ledger.issues.len() as u32) as usize];
    let at = world.chaos.trace.len();
    ledger.written += 1;
    let text = format!("remark {} on {issue}", ledger.written);
    let qalita_before = world.qalita.issue(issue).ok_or(format!("QALITA issue {issue} is missing"))?;
    let gitlab = gitlab_issues_of(world, issue).into_iter().next();
    // What the other side shows, for the conflict test.
    let shown = |field: Field, side: Side| -> Option<&'static str> {
        match (field, side) {
            (Field::Status, Side::Gitlab) => gitlab.as_ref().map(gitlab_status),
            (Field::Assignee, Side::Gitlab) => gitlab.as_ref().map(gitlab_assignee),
            (Field::Status, Side::Qalita) => Some(qalita_status(qalita_before["status"].as_str().unwrap_or_default())),
            (Field::Assignee, Side::Qalita) => Some(qalita_assignee(&qalita_before)),
        }
    };
    let mut edit = |field, value: &'static str, before: &'static str, side| {
        let other = match side {
            Side::Gitlab => shown(field, Side::Qalita),
            Side::Qalita => shown(field, Side::Gitlab),
        };
        let contested = other.is_some_and(|other| other != before);
        if value != before {
            ledger.edits.push(Edit { issue, field, value, side, at, contested });
        }
    };
    match act {
        Act::NewIssue => {}
        Act::QalitaStatus(status) => {
            let before = qalita_status(qalita_before["status"].as_str().unwrap_or_default());
            world.qalita.update_issue_as(issue, 12, |i| i["status"] = status.into());
            edit(Field::Status, qalita_status(status), before, Side::Qalita);
        }
        Act::QalitaAssignee(user) => {
            let before = qalita_assignee(&qalita_before);
            let after = world.qalita.update_issue_as(issue, 12, |i| i["assignee"] = user.into());
            edit(Field::Assignee, qalita_assignee(&after), before, Side::Qalita);
        }
        Act::QalitaTitle => {
            world.qalita.update_issue_as(issue, 12, |i| i["title"] = format!("Check of {text}").into());
        }
        Act::QalitaComment => {
            world.qalita.add_comment(issue, 12, &text);
            ledger.comments.push(Remark { issue, text: text.clone(), at });
        }
        Act::GitlabClosed(_) | Act::GitlabIgnored(_) | Act::GitlabAssignee(_) | Act::GitlabNote | Act::GitlabDelete => {
            let Some(found) = gitlab.clone() else {
                return Ok(format!("person: {act:?} on {issue}: no GitLab issue yet"));
            };
            let project = GitlabProjectRef::Id(found.project_id);
            let iid = found.iid;
            let call = CallContext::default();
            let update = async |u: IssueUpdate| world.person.update_issue(&project, iid, &u, &call).await;
            match act {
                Act::GitlabClosed(closed) => {
                    let event = if closed { StateEvent::Close } else { StateEvent::Reopen };
                    let after = update(IssueUpdate { state_event: Some(event), ..Default::default() })
                        .await
                        .map_err(|e| format!("person's edit: {e}"))?;
                    edit(Field::Status, gitlab_status(&after), gitlab_status(&found), Side::Gitlab);
                }
                Act::GitlabIgnored(add) => {
                    let labels = vec!["ignored".to_owned()];
                    let change = match add {
                        true => IssueUpdate { add_labels: labels, ..Default::default() },
                        false => IssueUpdate { remove_labels: labels, ..Default::default() },
                    };
                    let after = update(change).await.map_err(|e| format!("person's edit: {e}"))?;
                    edit(Field::Status, gitlab_status(&after), gitlab_status(&found), Side::Gitlab);
                }
                Act::GitlabAssignee(user) => {
                    let after = update(IssueUpdate { assignee_ids: Some(vec![user]), ..Default::default() })
                        .await
                        .map_err(|e| format!("person's edit: {e}"))?;
                    edit(Field::Assignee, gitlab_assignee(&after), gitlab_assignee(&found), Side::Gitlab);
                }
                Act::GitlabNote => {
                    world
                        .person
                        .create_note(&project, iid, &text, false, &call)
                        .await
                        .map_err(|e| format!("note: {e}"))?;
                    ledger.notes.push(Remark { issue, text: text.clone(), at });
                }
                _ => {
                    world.gitlab.delete_issue(found.project_id.get(), found.iid.get());
                    ledger.deletions.entry(issue).or_default().push(at);
                }
            }
        }
    }
    Ok(format!("person: {act:?} on QALITA issue {issue}"))
}
