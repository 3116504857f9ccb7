//! The inbound sync's planner: a GitLab issue event on a linked issue → the QALITA write (one
//! [`Op::UpdateQalitaIssue`] with the fields to change, or none)
//! (DESIGN section 3). Pure, like the outbound planner: what it needs (the current QALITA issue, the
//! QALITA user a GitLab assignee maps to) is read before.
//!
//! Per field (status, assignee, title, description), in this order of tests:
//! 1. the GitLab value equals what GitLab holds as far as the link knows (what this service wrote,
//!    or what an earlier event showed): our own echo, or a field this event did not change;
//! 2. the event is older than the field's watermark: a late or replayed delivery, changes nothing;
//! 3. QALITA owns the field: the edit is recorded, not synced back (QALITA's next change of that
//!    field overwrites it);
//! 4. QALITA already holds the value: recorded, nothing to write;
//! 5. QALITA changed the field too since the last sync: a conflict, won by the newer provider
//!    timestamp where the field is two-way; the decision is logged;
//! 6. otherwise the value is written to QALITA.

#[cfg(test)]
pub(crate) mod tests;

use chrono::{DateTime, Utc};

use crate::config::{Config, Owner};
use crate::domain::digest::text_digest;
use crate::domain::gitlab::GitlabUser;
use crate::domain::gitlab::IssueState;
use crate::domain::link::{Field, LinkState, LinkStatus, LogLevel, ResolvedAssignee, Written};
use crate::domain::marker::Marker;
use crate::domain::qalita::{QalitaIssue, QalitaIssueUpdate, QalitaUser};
use crate::domain::sync::{Action, Decision, DecisionKind, Status};
use crate::events::facts::GitlabIssueFacts;
use crate::mapping::{Desired, Facts, INBOUND_FIELDS, field_name, owner_of, qalita_value};
use crate::plan::op::{Op, Plan};

/// The QALITA user a GitLab assignee maps to, resolved before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeBack {
    /// Found; `how` says by which means.
    Found {
        /// The QALITA user id.
        user: u64,
        /// The QALITA login, if known.
        login: Option<String>,
        /// How the user was found.
        how: String,
    },
    /// Nobody in QALITA matches: nothing changes, and the log says why.
    NotFound {
        /// Why.
        reason: String,
    },
    /// Not looked up (the assignee did not change, or nobody is assigned).
    NotNeeded,
}

/// What the inbound planner decided.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundPlan {
    /// The QALITA write (one [`Op::UpdateQalitaIssue`], or none), the link state with what the
    /// event showed (the engine completes it after the write with [`record_written`]), and the
    /// decisions.
    pub plan: Plan,
    /// The fields GitLab won (written to QALITA, or already there): the link records them as in sync.
    pub accepted: Vec<Field>,
    /// QALITA won a conflict, or GitLab's winning value was overwritten by a write of ours made
    /// after it: GitLab must be written (an outbound sync of the issue).
    pub push_to_gitlab: bool,
    /// Accepted fields whose GitLab value was overwritten after the event by a write of ours: the
    /// link must not record the event's value as what GitLab holds.
    pub overwritten: Vec<Field>,
}

impl InboundPlan {
    /// The QALITA fields to change, if any.
    pub fn update(&self) -> Option<&QalitaIssueUpdate> {
        self.plan.ops.iter().find_map(|op| match op {
            Op::UpdateQalitaIssue { update, .. } => Some(update),
            _ => None,
        })
    }

    /// What the sync did, for the log and the worker: QALITA won (its value goes to GitLab), a
    /// winning GitLab value is written again, GitLab's value was written to QALITA, or nothing.
    pub fn action(&self) -> Action {
        match (self.update().is_some(), self.push_to_gitlab) {
            (_, true) if self.overwritten.is_empty() => Action::QalitaWon,
            (_, true) => Action::Rewritten,
            (true, false) => Action::Synced,
            (false, false) => Action::Unchanged,
        }
    }

    /// The fields whose event value the link records as what GitLab holds: those GitLab won and
    /// no write of ours overwrote since.
    pub fn recorded(&self) -> Vec<Field> {
        self.accepted.iter().copied().filter(|f| !self.overwritten.contains(f)).collect()
    }
}

/// The inbound plan while it is made.
struct Draft {
    update: QalitaIssueUpdate,
    accepted: Vec<Field>,
    push_to_gitlab: bool,
    overwritten: Vec<Field>,
    next: LinkState,
    decisions: Vec<Decision>,
}

impl Draft {
    fn finish(self) -> InboundPlan {
        let ops = match self.update.is_empty() {
            true => Vec::new(),
            false => vec![Op::UpdateQalitaIssue { issue: self.next.qalita_id, update: self.update }],
        };
        InboundPlan {
            plan: Plan { ops, next: self.next, decisions: self.decisions },
            accepted: self.accepted,
            push_to_gitlab: self.push_to_gitlab,
            overwritten: self.overwritten,
        }
    }
}

/// The logical value of a field as GitLab shows it. A delivery's status is made of what it
/// shows (the state, as every hook carries it after the request), and the muted label the delivery
/// changed or, when it did not, the one the link knows: GitLab reports one request that closes and
/// labels as two hooks (the close first, with the old labels). An issue read from the API shows
/// its whole status.
pub fn gitlab_value(config: &Config, link: &LinkState, facts: &GitlabIssueFacts, field: Field) -> Option<String> {
    let muted_label = &config.mapping.muted_label;
    match field {
        // Read from the API (after the delivery, for a refreshed one): the whole status is there.
        Field::Status if facts.changed.is_none() || facts.refreshed => Some(facts.status(muted_label).as_str().into()),
        Field::Status => {
            // Every hook carries the state as it is after the request: GitLab changes the state
            // first. Only the labels of the close or reopen hook are the old ones: the muted label
            // is the delivery's when it changed it, else what the link knows.
            let known_muted = match known_gitlab_value(config, link, Field::Status).as_deref().map(Status::parse) {
                Some(Some(Status::Resolved)) => link.managed_labels.contains(muted_label),
                Some(Some(Status::Muted)) => true,
                Some(_) => false,
                None => facts.muted(muted_label),
            };
            let muted = if facts.muted_changed(muted_label) { facts.muted(muted_label) } else { known_muted };
            Some(Status::of(facts.state, muted).as_str().into())
        }
        Field::Assignee => facts.assignee.as_ref().map(|a| a.as_ref().map_or(String::new(), |u| u.id.to_string())),
        Field::Title => facts.title.clone(),
        Field::Description => facts.description.as_deref().map(text_digest),
        _ => None,
    }
}

/// The GitLab value of a field as the link knows it; for the status of a link written before the
/// status was recorded on its own, what its state and managed labels imply.
fn known_gitlab_value(config: &Config, link: &LinkState, field: Field) -> Option<String> {
    if let Some(written) = link.gitlab_value(field) {
        return Some(written.value.clone());
    }
    match field {
        Field::Status => link.to_gitlab.get(&Field::State).map(|state| {
            let state = IssueState::parse(&state.value).unwrap_or(IssueState::Opened);
            Status::of(state, link.managed_labels.contains(&config.mapping.muted_label)).as_str().to_owned()
        }),
        _ => None,
    }
}

/// Which inbound fields the event shows a change of (compared with what the link knows): the reads
/// the plan needs are made only for these.
pub fn changed_fields(config: &Config, link: &LinkState, facts: &GitlabIssueFacts) -> Vec<Field> {
    INBOUND_FIELDS
        .into_iter()
        .filter(|&field| differs(config, link, facts, field) && !is_stale(link, facts, field))
        .collect()
}

/// The decisions about fields whose value differs but whose event is older than their watermark
/// (a late or replayed delivery): it changes nothing, and costs no call.
pub fn stale_decisions(config: &Config, link: &LinkState, facts: &GitlabIssueFacts) -> Vec<Decision> {
    INBOUND_FIELDS
        .into_iter()
        .filter(|&field| differs(config, link, facts, field) && is_stale(link, facts, field))
        .map(|field| stale_decision(link, facts, field))
        .collect()
}

fn differs(config: &Config, link: &LinkState, facts: &GitlabIssueFacts, field: Field) -> bool {
    facts.changes(field, &config.mapping.muted_label)
        && gitlab_value(config, link, facts, field)
            .is_some_and(|g| Some(&g) != known_gitlab_value(config, link, field).as_ref())
}

fn is_stale(link: &LinkState, facts: &GitlabIssueFacts, field: Field) -> bool {
    if matches!((link.watermark(field), facts.updated_at), (Some(watermark), Some(at)) if at < watermark) {
        return true;
    }
    // An issue read from the API (the reconcile) before one of our writes reached it is older than
    // what GitLab holds: it says nothing of this field.
    facts.changed.is_none()
        && matches!((link.to_gitlab.get(&field).and_then(|w| w.at), facts.updated_at), (Some(ours), Some(read)) if read < ours)
}

fn stale_decision(link: &LinkState, facts: &GitlabIssueFacts, field: Field) -> Decision {
    let (at, watermark) = (show(facts.updated_at), show(link.watermark(field)));
    Decision {
        level: LogLevel::Info,
        kind: DecisionKind::Stale,
        message: format!(
            "GitLab {} of {at} is older than the value already synced ({watermark}): ignored",
            field_name(field)
        ),
    }
}

/// The fields whose watermark the event moves although their value is what the link knows: the
/// delivery's `changes` name them (a person changed them, back to that value), the event is newer
/// than the watermark, and it is not the echo of our own write (whose time the link recorded).
pub fn watermark_bumps(config: &Config, link: &LinkState, facts: &GitlabIssueFacts) -> Vec<(Field, Written)> {
    let (Some(changed), Some(at)) = (&facts.changed, facts.updated_at) else { return Vec::new() };
    INBOUND_FIELDS
        .into_iter()
        .filter(|field| changed.contains(field) && facts.changes(*field, &config.mapping.muted_label))
        .filter_map(|field| {
            let value = gitlab_value(config, link, facts, field)?;
            let known = known_gitlab_value(config, link, field)?;
            let ours = link.to_gitlab.get(&field).is_some_and(|w| w.at == Some(at));
            let newer = link.watermark(field).is_none_or(|w| at > w);
            (value == known && newer && !ours).then_some((field, Written { value, watermark: Some(at), at: Some(at) }))
        })
        .collect()
}

/// What a GitLab issue event on a link needs, decided before anything is read: the first step of
/// the inbound sync.
#[derive(Debug, Clone, PartialEq)]
pub enum Triage {
    /// The link is severed or gone: the event is ignored, for this reason.
    Ignored(String),
    /// The link is still reserved: the marked issue is adopted first, then synced.
    AdoptReserved,
    /// A person changed fields back to what the link knows: nothing to write, but the link records
    /// the change's time (this link state), so that an older delivery of the change before cannot
    /// undo it.
    Bumped(Box<LinkState>),
    /// A late or replayed delivery: nothing changes; these decisions are logged.
    Stale(Vec<Decision>),
    /// Every field is as the link knows it: our own echo, or no synced field changed.
    Unchanged,
    /// Fields changed: the plan needs these reads.
    Changed(Reads),
}

/// What the inbound plan needs read, for the fields an event changed; nothing more is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Reads {
    /// The fields the event changed.
    pub fields: Vec<Field>,
    /// The QALITA issue as it is now: one of the fields can sync back.
    pub qalita_issue: bool,
    /// The GitLab assignee to map to a QALITA user: the assignee changed, syncs back, and someone
    /// is assigned.
    pub assignee: Option<GitlabUser>,
    /// The QALITA owner, for the title template: a text field changed and syncs back.
    pub owner: bool,
    /// Fields whose watermark the event moves although their value is what the link knows.
    pub bumps: Vec<(Field, Written)>,
}

/// Triage of a GitLab issue event on `link`, at `now`.
pub fn triage(config: &Config, link: &LinkState, facts: &GitlabIssueFacts, now: DateTime<Utc>) -> Triage {
    match link.status {
        LinkStatus::Severed | LinkStatus::Gone => return Triage::Ignored(format!("the link is {:?}", link.status)),
        LinkStatus::Reserved => return Triage::AdoptReserved,
        LinkStatus::Linked => {}
    }
    let fields = changed_fields(config, link, facts);
    let bumps = watermark_bumps(config, link, facts);
    if fields.is_empty() {
        if !bumps.is_empty() {
            let mut next = link.clone();
            next.from_gitlab.extend(bumps);
            next.updated_at = now;
            return Triage::Bumped(Box::new(next));
        }
        let stale = stale_decisions(config, link, facts);
        return if stale.is_empty() { Triage::Unchanged } else { Triage::Stale(stale) };
    }
    let syncs_back = |field: Field| owner_of(config, field) != Owner::Qalita;
    let assignee = match &facts.assignee {
        Some(Some(user)) if fields.contains(&Field::Assignee) && syncs_back(Field::Assignee) => Some(user.clone()),
        _ => None,
    };
    Triage::Changed(Reads {
        qalita_issue: fields.iter().any(|f| syncs_back(*f)),
        owner: fields.iter().any(|f| matches!(f, Field::Title | Field::Description) && syncs_back(*f)),
        assignee,
        fields,
        bumps,
    })
}

/// Plans the inbound sync of one GitLab issue event on a linked issue. `qalita` is the QALITA
/// issue as it is now and its facts, read for this event unless every changed field is QALITA's
/// own (then `None`: nothing can sync back); `assignee` what the GitLab assignee maps to.
pub fn plan_inbound(
    config: &Config,
    link: &LinkState,
    facts: &GitlabIssueFacts,
    qalita: Option<(&QalitaIssue, &Facts)>,
    assignee: &AssigneeBack,
    now: DateTime<Utc>,
) -> InboundPlan {
    let mut plan = Draft {
        update: QalitaIssueUpdate::default(),
        accepted: Vec::new(),
        push_to_gitlab: false,
        overwritten: Vec::new(),
        next: link.clone(),
        decisions: Vec::new(),
    };
    plan.next.updated_at = now;
    let note = |plan: &mut Draft, level, kind, message: String| plan.decisions.push(Decision { level, kind, message });
    let event_time = facts.updated_at;
    let qalita_time = qalita.and_then(|(issue, _)| issue.updated_at);
    for field in INBOUND_FIELDS {
        let name = field_name(field);
        let Some(value) = gitlab_value(config, link, facts, field) else { continue };
        if !differs(config, link, facts, field) {
            continue;
        }
        if is_stale(link, facts, field) {
            plan.decisions.push(stale_decision(link, facts, field));
            continue;
        }
        plan.next.from_gitlab.insert(field, Written { value: value.clone(), watermark: event_time, at: event_time });
        let owner = owner_of(config, field);
        if owner == Owner::Qalita {
            note(
                &mut plan,
                LogLevel::Info,
                DecisionKind::NotSyncedBack,
                format!(
                    "the GitLab {name} was edited, but QALITA owns it: not synced back (set ownership.{name} = \"both\" to sync it); QALITA's next change of it overwrites the edit"
                ),
            );
            continue;
        }
        // Only what can sync back needed QALITA read.
        let Some((qalita, known)) = qalita else { continue };
        // What QALITA should get, in QALITA's words.
        let target = match field {
            Field::Status => Some(value.clone()),
            Field::Assignee => match (value.is_empty(), assignee) {
                (true, _) => {
                    note(
                        &mut plan,
                        LogLevel::Info,
                        DecisionKind::AssigneeCleared,
                        "the GitLab issue was unassigned: the QALITA assignee is kept (an assignee is never cleared)"
                            .into(),
                    );
                    None
                }
                (false, AssigneeBack::Found { user, how, .. }) => {
                    note(
                        &mut plan,
                        LogLevel::Info,
                        DecisionKind::AssigneeBack,
                        format!("GitLab assignee → QALITA user {user} ({how})"),
                    );
                    Some(user.to_string())
                }
                (false, AssigneeBack::NotFound { reason }) => {
                    note(
                        &mut plan,
                        LogLevel::Warn,
                        DecisionKind::AssigneeUnknown,
                        format!("the QALITA assignee is left as it is: {reason}"),
                    );
                    None
                }
                (false, AssigneeBack::NotNeeded) => None,
            },
            Field::Title => facts.title.as_ref().map(|t| title_back(config, known, t)),
            Field::Description => facts.description.as_ref().map(|d| description_back(d)),
            _ => None,
        };
        let Some(target) = target else { continue };
        let target_value = match field {
            Field::Description => text_digest(&target),
            _ => target.clone(),
        };
        let now_in_qalita = qalita_value(config, qalita, field);
        // GitLab shows the description QALITA's state renders to: the two sides agree (the
        // service's own write, read before its link recorded it), and the rendering is not a
        // person's text to copy back.
        let renders_qalita = field == Field::Description
            && facts
                .description
                .as_deref()
                .is_some_and(|d| text_digest(d) == text_digest(&Desired::of(config, known).description));
        if now_in_qalita.as_ref() == Some(&target_value) || renders_qalita {
            plan.accepted.push(field);
            let value = now_in_qalita.clone().unwrap_or(target_value);
            plan.next.to_qalita.insert(field, Written { value, watermark: qalita_time, at: qalita_time });
            continue;
        }
        // QALITA changed the field since the last sync (its value is neither what it held then nor
        // GitLab's): a conflict.
        let known = link.to_qalita.get(&field);
        let qalita_changed = known.is_some_and(|k| Some(&k.value) != now_in_qalita.as_ref())
            && qalita_time.is_some_and(|t| known.and_then(|k| k.watermark).is_none_or(|w| t > w));
        if qalita_changed && owner == Owner::Both {
            let qalita_newer = match (qalita_time, event_time) {
                (Some(q), Some(g)) => q > g,
                _ => false,
            };
            let shown = now_in_qalita.clone().unwrap_or_else(|| format!("{:?}", qalita.status));
            if qalita_newer {
                note(
                    &mut plan,
                    LogLevel::Warn,
                    DecisionKind::Conflict,
                    format!(
                        "{name} changed on both sides: QALITA's {shown:?} ({}) is newer than GitLab's {value:?} ({}): QALITA wins",
                        show(qalita_time),
                        show(event_time)
                    ),
                );
                plan.push_to_gitlab = true;
                // GitLab's value lost: the link must not take it for what GitLab holds, so that
                // this delivery, retried after a failed push, decides the same again.
                match link.from_gitlab.get(&field) {
                    Some(seen) => plan.next.from_gitlab.insert(field, seen.clone()),
                    None => plan.next.from_gitlab.remove(&field),
                };
                continue;
            }
            note(
                &mut plan,
                LogLevel::Warn,
                DecisionKind::Conflict,
                format!(
                    "{name} changed on both sides: GitLab's {value:?} ({}) is newer than QALITA's {shown:?} ({}): GitLab wins",
                    show(event_time),
                    show(qalita_time)
                ),
            );
        }
        match field {
            Field::Status => {
                let word = match Status::parse(&value) {
                    Some(Status::Resolved) => &config.status.resolve_to,
                    Some(Status::Muted) => &config.status.mute_to,
                    Some(Status::Open) | None => &config.status.reopen_to,
                };
                note(
                    &mut plan,
                    LogLevel::Info,
                    DecisionKind::StatusBack,
                    format!("GitLab issue is {value}: QALITA status → {word:?}"),
                );
                plan.update.status = Some(word.clone());
            }
            Field::Assignee => plan.update.assignee = target.parse().ok(),
            Field::Title => {
                note(&mut plan, LogLevel::Info, DecisionKind::TitleBack, "GitLab title → QALITA".into());
                plan.update.title = Some(target);
            }
            Field::Description => {
                note(&mut plan, LogLevel::Info, DecisionKind::DescriptionBack, "GitLab description → QALITA".into());
                plan.update.description = Some(target);
            }
            _ => {}
        }
        plan.accepted.push(field);
        // A write of ours reached GitLab after this edit (an older QALITA change, processed while
        // this event was on its way): GitLab no longer shows the winning value; it is written again.
        if link.to_gitlab.get(&field).is_some_and(|w| w.at.zip(event_time).is_some_and(|(ours, edit)| ours > edit)) {
            note(
                &mut plan,
                LogLevel::Info,
                DecisionKind::Rewrite,
                format!("GitLab's {name} was overwritten by an older QALITA value after this edit: written again"),
            );
            plan.overwritten.push(field);
            plan.push_to_gitlab = true;
        }
    }
    plan.finish()
}

/// Records on the link what both sides hold after an inbound write, so that neither side's
/// echo plans anything: QALITA's values (and its new `updated_at` as the watermark the poll
/// and the QALITA events compare with), and, as "written to GitLab", what QALITA's new state
/// maps to for each field GitLab won.
pub fn record_written(
    config: &Config,
    next: &mut LinkState,
    facts: &GitlabIssueFacts,
    accepted: &[Field],
    after: &QalitaIssue,
    owner: Option<&QalitaUser>,
    assignee: &AssigneeBack,
) {
    if accepted.is_empty() {
        return;
    }
    let at = facts.updated_at;
    next.qalita_watermark = next.qalita_watermark.max(after.updated_at);
    let desired = accepted
        .iter()
        .any(|f| matches!(f, Field::Title | Field::Description))
        .then(|| Desired::of(config, &Facts::of(after, &next.context, owner)));
    for &field in accepted {
        if let Some(value) = qalita_value(config, after, field) {
            next.to_qalita.insert(field, Written { value, watermark: after.updated_at, at: after.updated_at });
        }
        let gitlab = |value: String| Written { value, watermark: at, at };
        match field {
            Field::Status => {
                let status =
                    next.from_gitlab.get(&Field::Status).and_then(|w| Status::parse(&w.value)).unwrap_or(Status::Open);
                next.to_gitlab.insert(Field::Status, gitlab(status.as_str().into()));
                next.to_gitlab.insert(Field::State, gitlab(status.state().as_str().into()));
                // The muted label is managed as GitLab shows it: a person may close an issue
                // and leave the label on; QALITA's next status then removes it.
                let muted = config.mapping.muted_label.clone();
                if facts.muted_changed(&muted) {
                    match facts.muted(&muted) {
                        true => next.managed_labels.insert(muted),
                        false => next.managed_labels.remove(&muted),
                    };
                }
                let labels = next.managed_labels.iter().cloned().collect::<Vec<_>>().join(",");
                next.to_gitlab.insert(Field::Labels, gitlab(labels));
            }
            Field::Assignee => {
                if let (Some(Some(user)), AssigneeBack::Found { user: qalita_user, login, .. }) =
                    (&facts.assignee, assignee)
                {
                    next.to_gitlab.insert(Field::Assignee, gitlab(user.id.to_string()));
                    next.assignee = Some(ResolvedAssignee {
                        qalita_user: *qalita_user,
                        login: login.clone(),
                        gitlab_user: user.id,
                        username: user.username.clone(),
                    });
                }
            }
            Field::Title => {
                if let Some(desired) = &desired {
                    next.to_gitlab.insert(Field::Title, gitlab(desired.title.clone()));
                }
            }
            Field::Description => {
                if let Some(desired) = &desired {
                    next.to_gitlab.insert(Field::Description, gitlab(text_digest(&desired.description)));
                }
            }
            _ => {}
        }
    }
}

fn show(time: Option<DateTime<Utc>>) -> String {
    time.map_or_else(|| "unknown time".into(), |t| t.to_rfc3339())
}

/// The QALITA title a GitLab title stands for: the part the title template puts `{rule}` in, when
/// the GitLab title still has the template's text around it (rendered from `known`, the QALITA
/// issue's facts); else the whole title.
pub fn title_back(config: &Config, known: &Facts, title: &str) -> String {
    const HOLE: &str = "\u{1}";
    let rendered = config.mapping.title.render(
        |name| match name {
            "rule" => Some(HOLE.to_owned()),
            other => known.value(other),
        },
        "unknown",
    );
    if let Some((prefix, suffix)) = rendered.split_once(HOLE)
        && let Some(inner) = title.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(suffix))
    {
        return inner.trim().to_owned();
    }
    title.trim().to_owned()
}

/// The QALITA description a GitLab description stands for: without the hidden marker.
pub fn description_back(description: &str) -> String {
    Marker::strip(description)
}
