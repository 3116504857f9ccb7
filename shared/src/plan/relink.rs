//! A new GitLab issue for a severed or gone link (`create-issue` on it), pure: the old issue's
//! hidden marker is retired, so that the search for an interrupted creation never adopts it and
//! its events are never routed back by the marker; the link becomes a released reservation, as a
//! failed creation leaves it, so that the sync takes it over and creates the new issue through the
//! link protocol.

use chrono::{DateTime, Utc};

use crate::domain::gitlab::{GitlabIssue, GitlabProjectRef, IssueUpdate};
use crate::domain::link::{LinkState, LinkStatus, LogLevel, PastIssue, RelinkReason};
use crate::domain::marker::Marker;
use crate::domain::sync::{Decision, DecisionKind};
use crate::plan::op::{Op, Plan};

/// Whether a link may be given a new GitLab issue: it is severed or gone.
pub fn may_relink(link: &LinkState) -> bool {
    matches!(link.status, LinkStatus::Severed | LinkStatus::Gone)
}

/// Plans the relink of `link`: `old` is its GitLab issue as read now (`None`: deleted, or the link
/// never had one), `token` the new reservation's token. The write retires the old marker (none
/// when the old description no longer ends with it); `next` is the released reservation, with the
/// old issue added to its history for `why`.
pub fn plan_relink(
    link: &LinkState,
    old: Option<&GitlabIssue>,
    token: String,
    why: RelinkReason,
    now: DateTime<Utc>,
) -> Plan {
    let ops = old
        .and_then(|found| {
            let retired = Marker::Issue(link.qalita_id).retire(found.description.as_deref().unwrap_or_default())?;
            let update = IssueUpdate { description: Some(retired), ..IssueUpdate::default() };
            Some(Op::UpdateIssue { project: GitlabProjectRef::Id(found.project_id), iid: found.iid, update })
        })
        .into_iter()
        .collect();
    let mut next = LinkState::reserved(link.qalita_id, token, DateTime::<Utc>::UNIX_EPOCH);
    next.version = link.version;
    next.context = link.context.clone();
    next.assignee = link.assignee.clone();
    next.updated_at = now;
    next.history = link.history.clone();
    next.history.extend(link.gitlab.clone().map(|gitlab| PastIssue { gitlab, retired_at: now, reason: why }));
    let previous = link.gitlab.as_ref().map_or_else(|| "none".to_owned(), |g| g.web_url.clone());
    let message = match why {
        RelinkReason::Operator => {
            format!("a new GitLab issue was asked for by the operator (the {:?} link's issue: {previous})", link.status)
        }
        RelinkReason::Regression => format!(
            "the QALITA issue opened again after staying resolved longer than sync.new_issue_after_days: \
             a new GitLab issue continues {previous}, which stays closed"
        ),
    };
    let decision = Decision::new(LogLevel::Info, DecisionKind::Relink, message);
    Plan { ops, next, decisions: vec![decision] }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::link::GitlabLink;
    use crate::domain::{GitlabProjectId, Iid, QalitaIssueId};

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 16, minute, 0).unwrap()
    }

    fn severed() -> LinkState {
        let mut link = LinkState::reserved(QalitaIssueId::new(4821).unwrap(), "old".into(), at(0));
        link.status = LinkStatus::Severed;
        link.version = 7;
        link.gitlab = Some(GitlabLink {
            project_id: GitlabProjectId::new(42).unwrap(),
            iid: Iid::new(3).unwrap(),
            issue_id: 300,
            web_url: "https://gitlab.example.com/g/p/-/issues/3".into(),
        });
        link
    }

    fn old_issue(description: &str) -> GitlabIssue {
        serde_json::from_value(serde_json::json!({
            "id": 300, "iid": 3, "project_id": 42, "title": "t", "description": description,
            "state": "opened", "labels": [], "assignees": [], "confidential": false,
            "web_url": "https://gitlab.example.com/g/p/-/issues/3", "updated_at": "2026-11-24T16:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn the_old_marker_is_retired_and_the_link_released_at_its_version() {
        let link = severed();
        let marked = format!("text\n\n{}", Marker::Issue(link.qalita_id).text());
        let plan = plan_relink(&link, Some(&old_issue(&marked)), "new".into(), RelinkReason::Operator, at(5));
        let [Op::UpdateIssue { iid, update, .. }] = plan.ops.as_slice() else { panic!("{:?}", plan.ops) };
        assert_eq!(iid.get(), 3);
        let retired = update.description.as_deref().unwrap();
        assert!(!Marker::Issue(link.qalita_id).ends(retired), "{retired}");
        assert_eq!(Marker::issue_of(retired), None, "no longer routes events back");
        assert_eq!((plan.next.status, plan.next.version), (LinkStatus::Reserved, 7));
        assert_eq!(plan.next.reservation.as_ref().map(|r| r.at), Some(DateTime::<Utc>::UNIX_EPOCH), "released");
        assert_eq!(plan.decisions[0].kind, DecisionKind::Relink);
        let [past] = plan.next.history.as_slice() else { panic!("{:?}", plan.next.history) };
        assert_eq!((past.gitlab.iid.get(), past.reason, past.retired_at), (3, RelinkReason::Operator, at(5)));
    }

    #[test]
    fn a_deleted_or_unmarked_old_issue_needs_no_write() {
        let link = severed();
        assert!(plan_relink(&link, None, "new".into(), RelinkReason::Operator, at(5)).ops.is_empty());
        assert!(
            plan_relink(&link, Some(&old_issue("edited by hand")), "new".into(), RelinkReason::Operator, at(5))
                .ops
                .is_empty()
        );
        assert!(may_relink(&link) && !may_relink(&LinkState { status: LinkStatus::Linked, ..link }));
    }
}
