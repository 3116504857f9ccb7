//! The outbound planner: a pure function from (QALITA issue, what it should be in GitLab, the link
//! and its sync state, configuration) to the GitLab writes that make GitLab agree (a creation, and
//! its close when the issue is already resolved; or one update), the link state after them, and the
//! decisions taken, for the integration log (DESIGN section 3).
//!
//! State, not deltas: the desired value of each field is compared with the value this service
//! last wrote; only what differs is written, so a replayed or duplicated event plans nothing.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::config::{Config, LinkBackMode, Owner};
use crate::domain::digest::text_digest;
use crate::domain::gitlab::{GitlabProjectRef, GitlabUser, IssueState, IssueUpdate, NewIssue, StateEvent};
use crate::domain::link::{Field, LinkBackDue, LinkState, LinkStatus, LogLevel, Written};
use crate::domain::qalita::QalitaIssue;
use crate::domain::sync::{Decision, DecisionKind, Status};
use crate::mapping::{Desired, INBOUND_FIELDS, qalita_value};
use crate::plan::op::{Op, Plan};

/// The GitLab user the QALITA owner maps to, resolved before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeInput {
    /// Found; `how` says by which means (explicit map, username lookup).
    Found {
        /// The GitLab user to assign: its id goes into `assignee_ids`, its username into the log.
        user: GitlabUser,
        /// How the user was found.
        how: String,
    },
    /// The QALITA issue has no assignee: the GitLab assignee is left as it is.
    Unassigned,
    /// Nobody in GitLab matches: the GitLab assignee is left as it is, and the log says why.
    NotFound {
        /// Why (the QALITA user unreadable or without a login, no such GitLab username, a refused
        /// lookup), as the integration log shows it.
        reason: String,
    },
}

/// What the poll does with a QALITA issue it read from the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollVerdict {
    /// Queue it: new and created by the policy, or newer than its link's last sync.
    Sync,
    /// Nothing: linked and not changed since, or its link is severed or gone.
    Nothing,
    /// Unlinked, and the creation policy gives it no GitLab issue by itself.
    NotCreated(crate::plan::create::Refusal),
}

/// Whether a QALITA issue read from a list (the poll) needs a sync. An unlinked issue does when
/// the creation policy creates it (`first_run`: when the service first ran against its table); a
/// linked one when its state is newer than the one its link last synced, or its GitLab issue is
/// to be recreated. A severed or gone link is
/// never synced. An issue without `updated_at` cannot be compared, and is left to its events.
pub fn poll_verdict(
    config: &Config,
    link: Option<&LinkState>,
    issue: &QalitaIssue,
    first_run: DateTime<Utc>,
) -> PollVerdict {
    let yes = |sync: bool| if sync { PollVerdict::Sync } else { PollVerdict::Nothing };
    match (link, issue.updated_at) {
        (None, _) => {
            let route = crate::mapping::routing::route(
                config,
                &crate::mapping::Facts::of(issue, &crate::domain::qalita::IssueContext::default(), None),
            );
            match crate::plan::create::refusal(config, &route, issue, first_run) {
                Some(refused) => PollVerdict::NotCreated(refused),
                None => PollVerdict::Sync,
            }
        }
        (Some(link), _) if matches!(link.status, LinkStatus::Severed | LinkStatus::Gone) => PollVerdict::Nothing,
        // Its GitLab issue was found deleted, and its recreation is due.
        (Some(link), _) if link.deleted_at.is_some() => PollVerdict::Sync,
        (Some(link), Some(updated)) => yes(link.qalita_watermark.is_none_or(|w| updated > w)),
        (Some(_), None) => PollVerdict::Nothing,
    }
}

/// Plans the sync of one QALITA issue. `link` is the stored link: `Reserved` by this worker for a
/// creation, or `Linked`.
pub fn plan(
    config: &Config,
    issue: &QalitaIssue,
    desired: &Desired,
    assignee: &AssigneeInput,
    link: &LinkState,
    now: DateTime<Utc>,
) -> Plan {
    let mut decisions = Vec::new();
    let mut note = |level, kind, message: String| decisions.push(Decision { level, kind, message });
    let mut next = link.clone();
    next.updated_at = now;

    match link.status {
        LinkStatus::Severed | LinkStatus::Gone => {
            note(
                LogLevel::Info,
                DecisionKind::Skipped,
                format!("the link is {:?}: QALITA changes are not synced", link.status),
            );
            return Plan::nothing(link.clone(), decisions);
        }
        LinkStatus::Reserved | LinkStatus::Linked => {}
    }
    if let (Some(watermark), Some(updated)) = (link.qalita_watermark, issue.updated_at)
        && updated < watermark
    {
        note(
            LogLevel::Info,
            DecisionKind::Stale,
            format!("QALITA state of {updated} is older than the one already synced ({watermark})"),
        );
        return Plan::nothing(link.clone(), decisions);
    }
    let watermark = issue.updated_at;
    next.qalita_watermark = link.qalita_watermark.max(watermark);
    // How long it stays resolved decides the regression policy: from the first sync that sees it
    // resolved, until one sees it open again.
    match desired.status {
        Some(Status::Resolved) => next.resolved_at = link.resolved_at.or(Some(now)),
        Some(Status::Open | Status::Muted) => next.resolved_at = None,
        None => {}
    }
    if let Some(regressed) = crate::plan::regression::regression(config, link, desired, now) {
        let Decision { level, kind, message } = regressed.decision;
        note(level, kind, message);
    }
    let written = |field: Field| link.to_gitlab.get(&field).map(|w| w.value.as_str());
    let record = |next: &mut LinkState, field: Field, value: String| {
        next.to_gitlab.insert(field, Written::new(value, watermark));
    };
    let owns = |owner: Owner| owner != Owner::Gitlab;
    let ownership = config.ownership;

    let Some(gitlab) = &link.gitlab else {
        // Creation: everything desired is written at once.
        note(LogLevel::Info, DecisionKind::Route, format!("{} → {}", desired.route.reason, desired.route.project));
        note(LogLevel::Info, DecisionKind::Status, desired.status_reason.clone());
        let assignee_ids = match assignee {
            AssigneeInput::Found { user, how } => {
                note(LogLevel::Info, DecisionKind::Assignee, format!("assigned to {} ({how})", user.username));
                record(&mut next, Field::Assignee, user.id.to_string());
                vec![user.id]
            }
            AssigneeInput::Unassigned => Vec::new(),
            AssigneeInput::NotFound { reason } => {
                note(LogLevel::Warn, DecisionKind::AssigneeUnknown, format!("left unassigned: {reason}"));
                Vec::new()
            }
        };
        record(&mut next, Field::Title, desired.title.clone());
        record(&mut next, Field::Description, text_digest(&desired.description));
        record(&mut next, Field::Labels, join(&desired.labels));
        record(&mut next, Field::State, desired.state.unwrap_or(IssueState::Opened).as_str().into());
        if let Some(status) = desired.status {
            record(&mut next, Field::Status, status.as_str().into());
        }
        for field in INBOUND_FIELDS {
            if let Some(value) = qalita_value(config, issue, field) {
                next.to_qalita.insert(field, Written { value, watermark, at: watermark });
            }
        }
        record(&mut next, Field::Confidential, desired.route.confidential.to_string());
        next.managed_labels = desired.labels.clone();
        next.status = LinkStatus::Linked;
        next.reservation = None;
        // Owed with the link itself, so that a crash before the comment leaves it owed.
        next.link_back = (config.link_back == LinkBackMode::Comment).then_some(LinkBackDue::Created);
        let issue = NewIssue {
            title: desired.title.clone(),
            description: desired.description.clone(),
            labels: desired.labels.iter().cloned().collect(),
            assignee_ids,
            confidential: desired.route.confidential,
        };
        let mut ops = vec![Op::CreateIssue { project: desired.route.project.clone(), issue }];
        if let Some(past) = crate::plan::regression::continues(link) {
            note(LogLevel::Info, DecisionKind::Regression, format!("continues {}, left closed", past.gitlab.web_url));
            ops.push(Op::NoteRegression { old: past.gitlab.clone() });
        }
        if desired.state == Some(IssueState::Closed) {
            ops.push(Op::CloseCreated);
        }
        return Plan { ops, next, decisions };
    };

    let mut update = IssueUpdate::default();
    if GitlabProjectRef::Id(gitlab.project_id) != desired.route.project {
        note(
            LogLevel::Info,
            DecisionKind::Route,
            format!(
                "routing now picks {} ({}); the issue stays in project {}",
                desired.route.project, desired.route.reason, gitlab.project_id
            ),
        );
    }
    if owns(ownership.title) && written(Field::Title) != Some(desired.title.as_str()) {
        update.title = Some(desired.title.clone());
        record(&mut next, Field::Title, desired.title.clone());
    }
    let digest = text_digest(&desired.description);
    if owns(ownership.description) && written(Field::Description) != Some(digest.as_str()) {
        update.description = Some(desired.description.clone());
        record(&mut next, Field::Description, digest);
    }
    // The muted label is the status's: it is written with the status only (below). A person may
    // close an issue and leave it on, or mute it by hand; a sync of QALITA's other fields leaves
    // it as it is, for the status the issue has in GitLab is theirs until QALITA's status changes.
    let muted = &config.mapping.muted_label;
    let without_muted = |labels: &BTreeSet<String>| -> BTreeSet<String> {
        labels.iter().filter(|label| *label != muted).cloned().collect()
    };
    let (managed, wanted) = (without_muted(&link.managed_labels), without_muted(&desired.labels));
    if owns(ownership.labels) && managed != wanted {
        update.add_labels = wanted.difference(&managed).cloned().collect();
        update.remove_labels = managed.difference(&wanted).cloned().collect();
        next.managed_labels = wanted;
        if link.managed_labels.contains(muted) {
            next.managed_labels.insert(muted.clone());
        }
        let labels = join(&next.managed_labels);
        record(&mut next, Field::Labels, labels);
    }
    // The status GitLab was last known to have: as written, or (an adopted issue) as its state
    // and the muted label show it.
    let known_status = written(Field::Status).map(str::to_owned).or_else(|| {
        let state = IssueState::parse(written(Field::State)?)?;
        Some(Status::of(state, link.managed_labels.contains(muted)).as_str().to_owned())
    });
    match (desired.state, desired.status) {
        (Some(state), Some(status))
            if owns(ownership.status)
                && (written(Field::State) != Some(state.as_str())
                    || known_status.as_deref().is_some_and(|known| known != status.as_str())) =>
        {
            // The whole status is written, state and muted label together, even where the link
            // believes GitLab already has one part: GitLab may have changed it since (an event
            // still on its way), and QALITA's change is the newer.
            update.state_event = Some(match state {
                IssueState::Closed => StateEvent::Close,
                IssueState::Opened => StateEvent::Reopen,
            });
            // The muted label is the status's, whoever put it there: a person's `ignored` on an
            // issue QALITA reopens would leave it muted in GitLab, and the next read of GitLab
            // would mute it in QALITA again.
            let (add, remove) = match status {
                Status::Muted => (&mut update.add_labels, &mut update.remove_labels),
                Status::Open | Status::Resolved => (&mut update.remove_labels, &mut update.add_labels),
            };
            remove.retain(|label| label != muted);
            if !add.contains(muted) {
                add.push(muted.clone());
            }
            match status {
                Status::Muted => next.managed_labels.insert(muted.clone()),
                Status::Open | Status::Resolved => next.managed_labels.remove(muted),
            };
            let labels = join(&next.managed_labels);
            record(&mut next, Field::Labels, labels);
            note(LogLevel::Info, DecisionKind::Status, desired.status_reason.clone());
            record(&mut next, Field::State, state.as_str().into());
            record(&mut next, Field::Status, status.as_str().into());
        }
        (None, _) | (_, None) => note(LogLevel::Warn, DecisionKind::StatusUnknown, desired.status_reason.clone()),
        _ => {}
    }
    // What QALITA holds now, for the inbound sync's echo and conflict tests.
    for field in INBOUND_FIELDS {
        if let Some(value) = qalita_value(config, issue, field) {
            next.to_qalita.insert(field, Written { value, watermark, at: watermark });
        }
    }
    if owns(ownership.assignee) {
        match assignee {
            AssigneeInput::Found { user, how } if written(Field::Assignee) != Some(user.id.to_string().as_str()) => {
                update.assignee_ids = Some(vec![user.id]);
                note(LogLevel::Info, DecisionKind::Assignee, format!("assigned to {} ({how})", user.username));
                record(&mut next, Field::Assignee, user.id.to_string());
            }
            AssigneeInput::NotFound { reason } => note(
                LogLevel::Warn,
                DecisionKind::AssigneeUnknown,
                format!("the GitLab assignee is left as it is: {reason}"),
            ),
            _ => {}
        }
    }
    let confidential = desired.route.confidential.to_string();
    if written(Field::Confidential) != Some(confidential.as_str()) && desired.route.confidential {
        // Only ever made confidential by a rule: a person may have made it confidential by hand,
        // and the service never exposes an issue that someone hid.
        update.confidential = Some(true);
        record(&mut next, Field::Confidential, confidential);
    }

    if update.is_empty() {
        note(
            LogLevel::Info,
            DecisionKind::Unchanged,
            "the GitLab issue already has every value QALITA's state maps to".into(),
        );
        return Plan::nothing(next, decisions);
    }
    let op = Op::UpdateIssue { project: GitlabProjectRef::Id(gitlab.project_id), iid: gitlab.iid, update };
    Plan { ops: vec![op], next, decisions }
}

fn join(labels: &BTreeSet<String>) -> String {
    labels.iter().cloned().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests;
