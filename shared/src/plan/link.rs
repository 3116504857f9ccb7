//! What a link records, pure: after a write (GitLab's time stamped on what was written), after
//! an adoption or a restore (what the found issue holds, as if written, and which of its labels
//! are ours), and when a write is committed over a link that changed meanwhile (merged, never
//! undoing the newer link's knowledge). The engine's link protocol (`engine::link_protocol`) and
//! `links rebuild` (`engine::rebuild`) store what these say.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::config::{Config, LinkBackMode};
use crate::domain::QalitaIssueId;
use crate::domain::digest::text_digest;
use crate::domain::gitlab::{GitlabIssue, GitlabProjectRef};
use crate::domain::link::{Field, GitlabLink, LinkBackDue, LinkState, LinkStatus, Written};
use crate::mapping::Desired;

/// `fresh` with what `next` changed over `base`: the GitLab fields written, the managed labels, what
/// QALITA was seen to hold, the watermark, the context and the owner's resolution.
pub fn merge_written(base: &LinkState, next: &LinkState, mut fresh: LinkState) -> LinkState {
    for (field, written) in &next.to_gitlab {
        if base.to_gitlab.get(field) != Some(written) {
            fresh.to_gitlab.insert(*field, written.clone());
        }
    }
    for (field, seen) in &next.to_qalita {
        if base.to_qalita.get(field) != Some(seen)
            && fresh.to_qalita.get(field).is_none_or(|f| f.watermark <= seen.watermark)
        {
            fresh.to_qalita.insert(*field, seen.clone());
        }
    }
    if next.managed_labels != base.managed_labels {
        fresh.managed_labels = next.managed_labels.clone();
    }
    if next.context != base.context {
        fresh.context = next.context.clone();
    }
    if next.assignee != base.assignee {
        fresh.assignee = next.assignee.clone();
    }
    // GitLab now holds what we wrote, and we wrote last. When that came from an older QALITA state
    // than the link recorded meanwhile, the link's sync point goes back to ours, so that the poll
    // plans the newer state again (and writes what differs).
    fresh.qalita_watermark = match (next.qalita_watermark, fresh.qalita_watermark) {
        (Some(ours), Some(theirs)) if ours < theirs => Some(ours),
        (ours, theirs) => ours.max(theirs),
    };
    fresh.updated_at = next.updated_at;
    fresh
}

/// Stamps the fields `next` wrote (those that differ from `link`) with GitLab's time of the write,
/// so that the link knows they are newer than any earlier event's value.
pub fn stamp_written(link: &LinkState, next: &mut LinkState, at: DateTime<Utc>) {
    for (field, written) in next.to_gitlab.iter_mut() {
        if link.to_gitlab.get(field) != Some(written) {
            written.at = Some(at);
        }
    }
}

/// Where the holder of a reservation was creating the issue, searched for its marker even if
/// routing changed since; `routed` for a reservation that recorded no project.
pub fn reserved_in(link: &LinkState, routed: &GitlabProjectRef) -> GitlabProjectRef {
    link.reservation.as_ref().and_then(|r| r.project.clone()).unwrap_or_else(|| routed.clone())
}

/// The link's record of a GitLab issue.
pub fn link_of(issue: &GitlabIssue) -> GitlabLink {
    GitlabLink { project_id: issue.project_id, iid: issue.iid, issue_id: issue.id, web_url: issue.web_url.clone() }
}

/// A link to an issue found by its marker, recording what that issue holds as "written", so the
/// plan writes only what differs.
pub fn adopt(
    link: LinkState,
    found: &GitlabIssue,
    desired: &Desired,
    config: &Config,
    now: DateTime<Utc>,
) -> LinkState {
    // Ours: the labels desired now, and those shaped like our templates, which the dead attempt
    // wrote from an older state (`severity:high` when it is now `severity:warning`).
    record_found(link, found, config, |label| desired.labels.contains(label) || ours_by_shape(config, label), now)
}

/// A new link to an issue found by its marker when no QALITA state is at hand (`links rebuild`
/// after a lost link table): recorded as [`adopt`] records it, our labels known by their shape
/// alone (every label the mapping desires is a rendering of one of its templates, or the muted
/// label). Not stored yet (version 0).
pub fn restore(qalita_id: QalitaIssueId, found: &GitlabIssue, config: &Config, now: DateTime<Utc>) -> LinkState {
    // The reservation a new link starts with is dropped by the recording: no creation is running.
    let fresh = LinkState::reserved(qalita_id, String::new(), now);
    record_found(fresh, found, config, |label| ours_by_shape(config, label), now)
}

/// Whether `label` has the shape of a label this service writes: the muted label, or a rendering
/// of one of the `mapping.labels` templates.
fn ours_by_shape(config: &Config, label: &str) -> bool {
    label == config.mapping.muted_label || config.mapping.labels.iter().any(|t| t.could_render(label))
}

/// `link`, linked to `found`, with what `found` holds recorded as written and the labels `ours`
/// says are ours managed; the link back owed (looked for first) when `config` writes one.
fn record_found(
    mut link: LinkState,
    found: &GitlabIssue,
    config: &Config,
    ours: impl Fn(&str) -> bool,
    now: DateTime<Utc>,
) -> LinkState {
    let mut written = |field, value: String| {
        link.to_gitlab.insert(field, Written::new(value, None));
    };
    written(Field::Title, found.title.clone());
    written(Field::Description, text_digest(found.description.as_deref().unwrap_or_default()));
    let managed: BTreeSet<String> = found.labels.iter().filter(|l| ours(l)).cloned().collect();
    written(Field::Labels, managed.iter().cloned().collect::<Vec<_>>().join(","));
    written(Field::State, found.state.as_str().into());
    if let Some(user) = found.assignees.first() {
        written(Field::Assignee, user.id.to_string());
    }
    written(Field::Confidential, found.confidential.to_string());
    link.managed_labels = managed;
    link.gitlab = Some(link_of(found));
    link.status = LinkStatus::Linked;
    link.reservation = None;
    // The issue existed before this link: QALITA may show its URL already (looked at first).
    link.link_back = (config.link_back == LinkBackMode::Comment).then_some(LinkBackDue::Adopted);
    link.updated_at = now;
    link
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::qalita::{IssueContext, QalitaIssue};
    use crate::mapping::Facts;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 16, minute, 0).unwrap()
    }

    fn config() -> Config {
        let text = "[gitlab]\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"\n";
        Config::from_document(text, |_| None).unwrap()
    }

    fn found(labels: &[&str]) -> GitlabIssue {
        serde_json::from_value(serde_json::json!({
            "id": 700, "iid": 7, "project_id": 42, "title": "Old title", "description": "text",
            "state": "closed", "labels": labels, "assignees": [{"id": 8, "username": "jroe", "name": "J"}],
            "confidential": false, "web_url": "https://gitlab.example.com/g/p/-/issues/7",
            "updated_at": "2026-11-24T16:03:00Z"
        }))
        .unwrap()
    }

    fn desired(config: &Config, severity: &str) -> Desired {
        let issue: QalitaIssue = serde_json::from_str(include_str!("../../../fixtures/qalita/issue.json")).unwrap();
        let context = IssueContext { severity: Some(severity.into()), source_name: None, domain: None };
        Desired::of(config, &Facts::of(&issue, &context, None))
    }

    #[test]
    fn an_adopted_issue_is_recorded_as_it_is_and_only_our_labels_are_managed() {
        let config = config();
        let reserved = LinkState::reserved(QalitaIssueId::new(4821).unwrap(), "t".into(), at(0));
        // A dead attempt wrote `severity:high`; QALITA now says warning; a person added `triage`.
        let issue = found(&["qalita", "severity:high", "triage"]);
        let link = adopt(reserved, &issue, &desired(&config, "warning"), &config, at(5));
        assert_eq!(link.status, LinkStatus::Linked);
        assert_eq!(link.reservation, None);
        assert_eq!(link.gitlab.as_ref().map(|g| g.iid.get()), Some(7));
        let managed: Vec<&str> = link.managed_labels.iter().map(String::as_str).collect();
        assert_eq!(managed, ["qalita", "severity:high"], "a person's label is never ours");
        assert_eq!(link.to_gitlab[&Field::Title].value, "Old title");
        assert_eq!(link.to_gitlab[&Field::State].value, "closed");
        assert_eq!(link.to_gitlab[&Field::Assignee].value, "8");
        assert_eq!(link.to_gitlab[&Field::Description].value, text_digest("text"));
        assert_eq!(link.link_back, Some(LinkBackDue::Adopted), "QALITA may show its URL already: looked at first");
    }

    #[test]
    fn a_write_is_stamped_only_on_the_fields_it_changed() {
        let mut link = LinkState::reserved(QalitaIssueId::new(1).unwrap(), "t".into(), at(0));
        let written =
            |value: &str, minute| Written { value: value.into(), watermark: Some(at(minute)), at: Some(at(minute)) };
        link.to_gitlab.insert(Field::Title, written("A", 1));
        link.to_gitlab.insert(Field::Labels, written("qalita", 1));
        let mut next = link.clone();
        next.to_gitlab.insert(Field::Title, Written::new("B", Some(at(2))));
        stamp_written(&link, &mut next, at(9));
        assert_eq!(next.to_gitlab[&Field::Title].at, Some(at(9)));
        assert_eq!(next.to_gitlab[&Field::Labels].at, Some(at(1)), "unchanged, so not stamped");
    }

    #[test]
    fn a_commit_over_a_newer_link_keeps_its_knowledge_and_rewinds_the_sync_point() {
        let mut base = LinkState::reserved(QalitaIssueId::new(1).unwrap(), "t".into(), at(0));
        base.status = LinkStatus::Linked;
        base.qalita_watermark = Some(at(1));
        base.to_gitlab.insert(Field::Title, Written::new("A", Some(at(1))));
        let mut next = base.clone();
        next.to_gitlab.insert(Field::Title, Written::new("B", Some(at(2))));
        next.to_qalita.insert(Field::Status, Written::new("open", Some(at(2))));
        next.qalita_watermark = Some(at(2));
        next.updated_at = at(6);
        // Meanwhile an inbound event recorded a newer QALITA status and a newer sync point.
        let mut fresh = base.clone();
        fresh.version = 5;
        fresh.to_qalita.insert(Field::Status, Written::new("resolved", Some(at(4))));
        fresh.qalita_watermark = Some(at(4));
        let merged = merge_written(&base, &next, fresh);
        assert_eq!(merged.version, 5, "committed on the newer link");
        assert_eq!(merged.to_gitlab[&Field::Title].value, "B", "what we wrote is recorded");
        assert_eq!(merged.to_qalita[&Field::Status].value, "resolved", "the newer knowledge stays");
        assert_eq!(merged.qalita_watermark, Some(at(2)), "the poll plans the newer QALITA state again");
        assert_eq!(merged.updated_at, at(6));
    }

    #[test]
    fn a_reservation_is_searched_where_its_holder_created() {
        let mut link = LinkState::reserved(QalitaIssueId::new(1).unwrap(), "t".into(), at(0));
        let routed = GitlabProjectRef::Path("g/now".into());
        assert_eq!(reserved_in(&link, &routed), routed, "no project recorded: where routing says now");
        link.reserve_in(GitlabProjectRef::Path("g/then".into()));
        assert_eq!(reserved_in(&link, &routed), GitlabProjectRef::Path("g/then".into()));
    }
}
