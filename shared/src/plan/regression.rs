//! The regression policy (`sync.on_regression`), pure: a QALITA issue that goes from resolved
//! back to open reopens its GitLab issue, or, under `new_issue` and when it stayed resolved longer
//! than `sync.new_issue_after_days`, gets a new one (the engine relinks it, [`crate::plan::relink`]).

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::{Config, OnRegression};
use crate::domain::link::{LinkState, LinkStatus, LogLevel, RelinkReason};
use crate::domain::sync::{Decision, DecisionKind, Status};
use crate::mapping::Desired;

/// What a regression gets in GitLab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regression {
    /// A new GitLab issue (else the old one is reopened).
    pub new_issue: bool,
    /// Why, for the integration log.
    pub decision: Decision,
}

/// Whether syncing `desired` onto `link` is a regression (the link's issue was resolved as QALITA
/// last said, and QALITA now says open), and what it gets. `None` when it is not one.
pub fn regression(config: &Config, link: &LinkState, desired: &Desired, now: DateTime<Utc>) -> Option<Regression> {
    let regressed = link.status == LinkStatus::Linked
        && link.gitlab.is_some()
        && !link.is_open()
        && desired.status == Some(Status::Open);
    if !regressed {
        return None;
    }
    let days = config.sync.new_issue_after_days;
    let resolved_for = link.resolved_at.map(|at| now - at);
    let new_issue = config.sync.on_regression == OnRegression::NewIssue
        && resolved_for.is_some_and(|long| long > TimeDelta::days(i64::from(days)));
    let how_long = match resolved_for {
        Some(long) => format!("resolved for {} days", long.num_days()),
        None => "resolved for an unknown time (before the service recorded it)".to_owned(),
    };
    let message = match (config.sync.on_regression, new_issue) {
        (OnRegression::Reopen, _) => {
            format!("opened again ({how_long}): sync.on_regression = \"reopen\" reopens the GitLab issue")
        }
        (OnRegression::NewIssue, false) => format!(
            "opened again ({how_long}, not more than sync.new_issue_after_days = {days}): the GitLab issue is reopened"
        ),
        (OnRegression::NewIssue, true) => format!(
            "opened again ({how_long}, more than sync.new_issue_after_days = {days}): a new GitLab issue is created"
        ),
    };
    Some(Regression { new_issue, decision: Decision::new(LogLevel::Info, DecisionKind::Regression, message) })
}

/// The texts of the two notes that link the GitLab issues of a regression: on the new issue, and
/// on the old one. They start with `comments.gitlab_prefix`, as the service's own notes do, so
/// that the comment sync never copies them to QALITA.
pub fn notes(prefix: &str, old_url: &str, new_url: &str) -> (String, String) {
    (format!("{prefix} Regression of {old_url}"), format!("{prefix} Regressed: continued in {new_url}"))
}

/// Whether a link being created continues an issue left for a regression: its last past issue.
pub fn continues(link: &LinkState) -> Option<&crate::domain::link::PastIssue> {
    link.history.last().filter(|past| past.reason == RelinkReason::Regression)
}

#[cfg(test)]
mod tests {
    use chrono::{Days, TimeZone};

    use super::*;
    use crate::domain::gitlab::StateEvent;
    use crate::domain::link::{GitlabLink, PastIssue};
    use crate::domain::qalita::{IssueContext, QalitaIssue};
    use crate::domain::{GitlabProjectId, Iid, QalitaIssueId};
    use crate::mapping::Facts;
    use crate::plan::op::Op;
    use crate::plan::{AssigneeInput, plan};

    fn config(sync: &str) -> Config {
        let text =
            format!("[gitlab]\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"\n[sync]\n{sync}");
        Config::from_document(&text, |_| None).unwrap()
    }

    fn day(n: u64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 10, 1, 12, 0, 0).unwrap() + Days::new(n)
    }

    fn issue(status: &str, at: DateTime<Utc>) -> QalitaIssue {
        let mut issue: QalitaIssue = serde_json::from_str(include_str!("../../../fixtures/qalita/issue.json")).unwrap();
        issue.status = status.into();
        issue.updated_at = Some(at);
        issue
    }

    fn desired(config: &Config, issue: &QalitaIssue) -> Desired {
        Desired::of(config, &Facts::of(issue, &IssueContext::default(), None))
    }

    fn old_issue() -> GitlabLink {
        GitlabLink {
            project_id: GitlabProjectId::new(42).unwrap(),
            iid: Iid::new(7).unwrap(),
            issue_id: 700,
            web_url: "https://gitlab.example.com/g/p/-/issues/7".into(),
        }
    }

    /// A link created open on day 0, then synced resolved on `resolved_on`.
    fn resolved_link(config: &Config, resolved_on: u64) -> LinkState {
        let reserved = LinkState::reserved(QalitaIssueId::new(4821).unwrap(), "t".into(), day(0));
        let open = issue("open", day(0));
        let mut link = plan(config, &open, &desired(config, &open), &AssigneeInput::Unassigned, &reserved, day(0)).next;
        link.gitlab = Some(old_issue());
        let resolved = issue("resolved", day(resolved_on));
        let closed =
            plan(config, &resolved, &desired(config, &resolved), &AssigneeInput::Unassigned, &link, day(resolved_on));
        assert_eq!(closed.next.resolved_at, Some(day(resolved_on)), "recorded when the sync first sees it resolved");
        closed.next
    }

    fn reopened(config: &Config, link: &LinkState, on: u64) -> (Option<Regression>, crate::plan::Plan) {
        let open = issue("open", day(on));
        let desired = desired(config, &open);
        let verdict = regression(config, link, &desired, day(on));
        (verdict, plan(config, &open, &desired, &AssigneeInput::Unassigned, link, day(on)))
    }

    #[test]
    fn by_default_a_regression_reopens_the_gitlab_issue_however_long_it_stayed_resolved() {
        let config = config("");
        let link = resolved_link(&config, 1);
        let (verdict, plan) = reopened(&config, &link, 400);
        let verdict = verdict.expect("a regression");
        assert!(!verdict.new_issue);
        assert!(verdict.decision.message.contains("sync.on_regression = \"reopen\""), "{}", verdict.decision.message);
        let [Op::UpdateIssue { update, .. }] = plan.ops.as_slice() else { panic!("{:?}", plan.ops) };
        assert_eq!(update.state_event, Some(StateEvent::Reopen));
        assert!(plan.decisions.iter().any(|d| d.kind == DecisionKind::Regression), "explained in the log");
        assert_eq!(plan.next.resolved_at, None, "open again: the next resolution starts a new count");
    }

    #[test]
    fn under_new_issue_a_short_resolution_still_reopens() {
        let config = config("on_regression = \"new_issue\"\nnew_issue_after_days = 30");
        let link = resolved_link(&config, 10);
        let (verdict, plan) = reopened(&config, &link, 40);
        let verdict = verdict.expect("a regression");
        assert!(!verdict.new_issue, "30 days resolved is not more than 30");
        assert!(verdict.decision.message.contains("resolved for 30 days"), "{}", verdict.decision.message);
        assert!(matches!(plan.ops.as_slice(), [Op::UpdateIssue { .. }]), "{:?}", plan.ops);
    }

    #[test]
    fn under_new_issue_a_long_resolution_gets_a_new_issue_and_says_why() {
        let config = config("on_regression = \"new_issue\"\nnew_issue_after_days = 30");
        let link = resolved_link(&config, 10);
        let verdict = reopened(&config, &link, 51).0.expect("a regression");
        assert!(verdict.new_issue);
        assert_eq!(verdict.decision.kind, DecisionKind::Regression);
        assert!(verdict.decision.message.contains("resolved for 41 days"), "{}", verdict.decision.message);
        assert!(verdict.decision.message.contains("new_issue_after_days = 30"), "{}", verdict.decision.message);
    }

    #[test]
    fn only_resolved_to_open_is_a_regression_and_an_unknown_resolution_time_reopens() {
        let config = config("on_regression = \"new_issue\"\nnew_issue_after_days = 1");
        let link = resolved_link(&config, 1);
        let still = issue("resolved", day(90));
        assert_eq!(regression(&config, &link, &desired(&config, &still), day(90)), None, "still resolved");
        let open_link = LinkState { resolved_at: None, ..reopened(&config, &link, 2).1.next };
        assert_eq!(reopened(&config, &open_link, 90).0, None, "already open");
        let before_the_record = LinkState { resolved_at: None, ..link };
        let verdict = reopened(&config, &before_the_record, 90).0.expect("a regression");
        assert!(!verdict.new_issue, "resolved for an unknown time: reopened");
    }

    #[test]
    fn the_new_issue_of_a_regression_is_created_with_the_notes_that_link_the_two() {
        let config = config("on_regression = \"new_issue\"");
        let mut released = LinkState::reserved(QalitaIssueId::new(4821).unwrap(), "t".into(), day(0));
        released.history.push(PastIssue { gitlab: old_issue(), retired_at: day(50), reason: RelinkReason::Regression });
        let open = issue("open", day(50));
        let plan = plan(&config, &open, &desired(&config, &open), &AssigneeInput::Unassigned, &released, day(50));
        let [Op::CreateIssue { .. }, Op::NoteRegression { old }] = plan.ops.as_slice() else {
            panic!("{:?}", plan.ops)
        };
        assert_eq!(old, &old_issue());
        assert_eq!(plan.next.history.len(), 1, "the old issue stays in the history");
        assert_eq!(
            notes("**[QALITA]**", &old.web_url, "https://gitlab.example.com/g/p/-/issues/8"),
            (
                "**[QALITA]** Regression of https://gitlab.example.com/g/p/-/issues/7".to_owned(),
                "**[QALITA]** Regressed: continued in https://gitlab.example.com/g/p/-/issues/8".to_owned()
            )
        );
        released.history[0].reason = RelinkReason::Operator;
        let plan =
            crate::plan::plan(&config, &open, &desired(&config, &open), &AssigneeInput::Unassigned, &released, day(50));
        assert!(matches!(plan.ops.as_slice(), [Op::CreateIssue { .. }]), "an operator's relink notes nothing");
    }
}
