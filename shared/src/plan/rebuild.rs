//! `links rebuild`, pure: what a GitLab issue listed in a configured project says about the link
//! table (restore the lost link of the QALITA issue its marker names, already linked, a duplicate,
//! a conflict), and how a walk of a project's issues goes on from page to page so that it can stop
//! and resume anywhere without missing an issue.
//!
//! Of two GitLab issues carrying one QALITA issue's marker, the first listed is restored and the
//! other is a duplicate: GitLab lists issues least recently updated first, as the search that
//! `create-issue` and `backfill` adopt from does, so both keep the same one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::domain::QalitaIssueId;
use crate::domain::gitlab::GitlabIssue;
use crate::domain::link::{GitlabLink, LinkState, LinkStatus, LogLevel};
use crate::domain::marker::Marker;
use crate::domain::sync::{Decision, DecisionKind};
use crate::plan::link::restore;

/// What one GitLab issue says about the link table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It carries no marker (a person's issue, or one whose marker was retired): nothing to do.
    NoMarker,
    /// Its QALITA issue has no link: this one, to store only if still none exists.
    Restore(Box<LinkState>),
    /// The table already links its QALITA issue to it (whatever the link's status).
    AlreadyLinked {
        /// The QALITA issue.
        qalita: QalitaIssueId,
        /// The link's status.
        status: LinkStatus,
    },
    /// The link of its QALITA issue names no GitLab issue: a creation is running, or its worker
    /// died and the next sync takes the reservation over and adopts the marked issue. Left alone.
    Unresolved {
        /// The QALITA issue.
        qalita: QalitaIssueId,
        /// The link's status (a reservation, as a rule).
        status: LinkStatus,
    },
    /// The GitLab issue the table links its QALITA issue to carries the same marker: this one is
    /// a duplicate. The table's link stays.
    Duplicate {
        /// The QALITA issue.
        qalita: QalitaIssueId,
        /// The linked GitLab issue, which stays linked.
        kept: GitlabLink,
    },
    /// The table links its QALITA issue to a GitLab issue that does not carry its marker, or no
    /// longer exists: the table's link stays, and a person judges.
    Conflict {
        /// The QALITA issue.
        qalita: QalitaIssueId,
        /// The GitLab issue the table links it to.
        linked: GitlabLink,
        /// That issue no longer exists.
        gone: bool,
    },
}

/// The first look at a GitLab issue: a verdict, or the read that tells a duplicate from a conflict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Look {
    /// What the issue is to the table.
    Verdict(Verdict),
    /// The table links the issue's QALITA issue to another GitLab issue: read that one, then
    /// [`settle`].
    ReadLinked {
        /// The QALITA issue.
        qalita: QalitaIssueId,
        /// The GitLab issue the table links it to.
        linked: GitlabLink,
    },
}

/// The QALITA issue whose marker ends the description of `found`.
pub fn marked(found: &GitlabIssue) -> Option<QalitaIssueId> {
    found.description.as_deref().and_then(Marker::issue_of)
}

/// What `found` says about the table, given `link`, the stored link of the QALITA issue its marker
/// names (read by the caller). A missing link is restored as an adoption records the issue it
/// finds ([`restore`]); an existing one is never replaced.
pub fn look(found: &GitlabIssue, link: Option<&LinkState>, config: &Config, now: DateTime<Utc>) -> Look {
    let Some(qalita) = marked(found) else { return Look::Verdict(Verdict::NoMarker) };
    let Some(link) = link else {
        return Look::Verdict(Verdict::Restore(Box::new(restore(qalita, found, config, now))));
    };
    match &link.gitlab {
        Some(linked) if linked.project_id == found.project_id && linked.iid == found.iid => {
            Look::Verdict(Verdict::AlreadyLinked { qalita, status: link.status })
        }
        Some(linked) => Look::ReadLinked { qalita, linked: linked.clone() },
        None => Look::Verdict(Verdict::Unresolved { qalita, status: link.status }),
    }
}

/// A [`Look::ReadLinked`] once the linked issue was read (`None`: it no longer exists): a
/// duplicate when that issue carries the same marker, else a conflict.
pub fn settle(qalita: QalitaIssueId, linked: GitlabLink, linked_issue: Option<&GitlabIssue>) -> Verdict {
    let carries = |issue: &GitlabIssue| issue.description.as_deref().is_some_and(|d| Marker::Issue(qalita).ends(d));
    match linked_issue {
        Some(issue) if carries(issue) => Verdict::Duplicate { qalita, kept: linked },
        Some(_) => Verdict::Conflict { qalita, linked, gone: false },
        None => Verdict::Conflict { qalita, linked, gone: true },
    }
}

impl Verdict {
    /// What the integration log of the QALITA issue says about `found`, when it says anything.
    pub fn decision(&self, found: &GitlabIssue) -> Option<Decision> {
        let url = &found.web_url;
        match self {
            Verdict::Restore(_) => Some(Decision::new(
                LogLevel::Info,
                DecisionKind::Restored,
                format!("link restored from the marker of {url} (`links rebuild`)"),
            )),
            Verdict::Duplicate { kept, .. } => Some(Decision::new(
                LogLevel::Warn,
                DecisionKind::Duplicate,
                format!(
                    "{url} carries this issue's marker too; the link keeps {}: close the duplicate, or remove its marker",
                    kept.web_url
                ),
            )),
            Verdict::Conflict { linked, gone, .. } => Some(Decision::new(
                LogLevel::Warn,
                DecisionKind::MarkerConflict,
                format!(
                    "{url} carries this issue's marker, but the link names {}, which {}; the link stays (`link sever`, then `create-issue`, adopts the marked issue instead)",
                    linked.web_url,
                    if *gone { "no longer exists" } else { "does not carry it" }
                ),
            )),
            Verdict::NoMarker | Verdict::AlreadyLinked { .. } | Verdict::Unresolved { .. } => None,
        }
    }
}

/// How far the walk of one project's issues went. GitLab lists them least recently updated first,
/// open and closed alike; pages are read by key (`updated_after` the last time read) rather than by
/// number, as the reconcile does: an issue changed during the walk moves to the end instead of
/// shifting the pages under the reader, a deleted one shifts nothing, and so a walk stopped
/// anywhere and resumed misses no issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Walk {
    /// The issues updated at or after this time are still to read (`None`: all of them).
    pub after: Option<DateTime<Utc>>,
    /// The page of that query to read next (from 1): more than 1 only when a whole page had
    /// issues of the one instant `after`.
    pub page: u32,
    /// The issues updated exactly at `after` that were already read (GitLab ids): `updated_after`
    /// includes its own instant, so the next query lists them again.
    #[serde(default)]
    pub read_at_after: Vec<u64>,
}

impl Default for Walk {
    fn default() -> Self {
        Walk::start()
    }
}

impl Walk {
    /// A walk from the least recently updated issue.
    pub fn start() -> Self {
        Walk { after: None, page: 1, read_at_after: Vec::new() }
    }

    /// Whether `issue`, listed by this walk's query, was read before it.
    pub fn read_before(&self, issue: &GitlabIssue) -> bool {
        self.after == Some(issue.updated_at) && self.read_at_after.contains(&issue.id)
    }

    /// The walk after `items`, the page this walk's query listed, were read; `None` when that was
    /// the last page (`has_next`: GitLab named a next page).
    pub fn next(&self, items: &[GitlabIssue], has_next: bool) -> Option<Walk> {
        let last = items.last().map(|issue| issue.updated_at).filter(|_| has_next)?;
        match self.after {
            // A whole page of one instant: the next page of that instant.
            Some(after) if last <= after => Some(Walk { page: self.page + 1, ..self.clone() }),
            _ => Some(Walk {
                after: Some(last),
                page: 1,
                read_at_after: items.iter().filter(|issue| issue.updated_at == last).map(|issue| issue.id).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::link::Field;

    fn at(second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, second).unwrap()
    }

    fn config() -> Config {
        let text = "[gitlab]\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"\n";
        Config::from_document(text, |_| None).unwrap()
    }

    fn qalita(id: u64) -> QalitaIssueId {
        QalitaIssueId::new(id).unwrap()
    }

    /// GitLab issue `iid` of project 42, updated at `second`, whose description is `description`.
    fn issue(iid: u64, second: u32, description: &str) -> GitlabIssue {
        serde_json::from_value(serde_json::json!({
            "id": 7000 + iid, "iid": iid, "project_id": 42, "title": format!("Issue {iid}"),
            "description": description, "state": "opened",
            "labels": ["qalita", "severity:high", "triage"], "assignees": [], "confidential": false,
            "web_url": format!("https://gitlab.example.com/g/p/-/issues/{iid}"), "updated_at": at(second),
        }))
        .unwrap()
    }

    fn marked_issue(iid: u64, id: u64) -> GitlabIssue {
        issue(iid, 0, &format!("Nulls in orders.\n\n{}", Marker::Issue(qalita(id)).text()))
    }

    fn linked_to(found: &GitlabIssue, status: LinkStatus) -> LinkState {
        let mut link = restore(marked(found).unwrap(), found, &config(), at(0));
        link.version = 3;
        link.status = status;
        link
    }

    #[test]
    fn a_marked_issue_without_a_link_is_restored_as_an_adoption_records_it() {
        let found = marked_issue(7, 4821);
        let Look::Verdict(Verdict::Restore(link)) = look(&found, None, &config(), at(9)) else { panic!("restored") };
        assert_eq!((link.qalita_id, link.status, link.version), (qalita(4821), LinkStatus::Linked, 0));
        assert_eq!(link.reservation, None, "no creation is running");
        assert_eq!(link.gitlab.as_ref().map(|g| (g.project_id.get(), g.iid.get(), g.issue_id)), Some((42, 7, 7007)));
        assert_eq!(link.to_gitlab[&Field::Title].value, "Issue 7", "what GitLab holds, as if written");
        let managed: Vec<&str> = link.managed_labels.iter().map(String::as_str).collect();
        assert_eq!(managed, ["qalita", "severity:high"], "a person's label is never ours");
        assert_eq!(link.updated_at, at(9));
    }

    #[test]
    fn an_issue_without_a_marker_or_with_a_retired_one_restores_nothing() {
        let retired = Marker::Issue(qalita(5)).retire(&format!("x\n\n{}", Marker::Issue(qalita(5)).text())).unwrap();
        for description in ["made by a person", "quoting <!-- qalita-issue:5 --> inside", retired.as_str()] {
            let found = issue(1, 0, description);
            assert_eq!(look(&found, None, &config(), at(0)), Look::Verdict(Verdict::NoMarker), "{description}");
        }
    }

    #[test]
    fn an_issue_the_table_links_already_is_left_as_it_is_whatever_the_status() {
        let found = marked_issue(7, 4821);
        for status in [LinkStatus::Linked, LinkStatus::Severed, LinkStatus::Gone] {
            let link = linked_to(&found, status);
            assert_eq!(
                look(&found, Some(&link), &config(), at(9)),
                Look::Verdict(Verdict::AlreadyLinked { qalita: qalita(4821), status })
            );
        }
    }

    #[test]
    fn a_reservation_is_left_to_the_sync_that_takes_it_over() {
        let found = marked_issue(7, 4821);
        let reserved = LinkState::reserved(qalita(4821), "t".into(), at(0));
        assert_eq!(
            look(&found, Some(&reserved), &config(), at(9)),
            Look::Verdict(Verdict::Unresolved { qalita: qalita(4821), status: LinkStatus::Reserved })
        );
    }

    #[test]
    fn a_second_issue_with_the_marker_of_a_linked_one_is_a_duplicate_and_the_link_stays() {
        let kept = marked_issue(7, 4821);
        let second = marked_issue(9, 4821);
        let link = linked_to(&kept, LinkStatus::Linked);
        let Look::ReadLinked { qalita: id, linked } = look(&second, Some(&link), &config(), at(9)) else {
            panic!("the linked issue is read first")
        };
        let settled = settle(id, linked.clone(), Some(&kept));
        assert_eq!(settled, Verdict::Duplicate { qalita: qalita(4821), kept: linked });
        let decision = settled.decision(&second).unwrap();
        assert_eq!((decision.level, decision.kind), (LogLevel::Warn, DecisionKind::Duplicate));
        assert!(
            decision.message.contains("/issues/9")
                && decision.message.contains("keeps https://gitlab.example.com/g/p/-/issues/7")
        );
    }

    #[test]
    fn a_link_to_an_issue_without_the_marker_or_deleted_is_a_conflict_and_stays() {
        let found = marked_issue(9, 4821);
        let other = issue(7, 0, "the marker was removed by hand");
        let link = linked_to(&marked_issue(7, 4821), LinkStatus::Linked);
        let linked = link.gitlab.clone().unwrap();
        assert_eq!(
            settle(qalita(4821), linked.clone(), Some(&other)),
            Verdict::Conflict { qalita: qalita(4821), linked: linked.clone(), gone: false }
        );
        let gone = settle(qalita(4821), linked.clone(), None);
        assert_eq!(gone, Verdict::Conflict { qalita: qalita(4821), linked, gone: true });
        assert!(gone.decision(&found).unwrap().message.contains("no longer exists"));
        let wrong_marker = issue(7, 0, &format!("x\n\n{}", Marker::Issue(qalita(482)).text()));
        assert!(matches!(settle(qalita(4821), link.gitlab.unwrap(), Some(&wrong_marker)), Verdict::Conflict { .. }));
    }

    #[test]
    fn only_a_restore_a_duplicate_and_a_conflict_are_logged() {
        let found = marked_issue(7, 4821);
        let Look::Verdict(restored) = look(&found, None, &config(), at(0)) else { panic!("a verdict") };
        assert_eq!(restored.decision(&found).map(|d| d.kind), Some(DecisionKind::Restored));
        assert_eq!(Verdict::NoMarker.decision(&found), None);
        let already = Verdict::AlreadyLinked { qalita: qalita(1), status: LinkStatus::Linked };
        assert_eq!(already.decision(&found), None);
    }

    fn page(items: &[(u64, u32)]) -> Vec<GitlabIssue> {
        items.iter().map(|(iid, second)| issue(*iid, *second, "")).collect()
    }

    #[test]
    fn a_walk_goes_on_after_the_last_time_read_and_skips_what_it_read_at_that_instant() {
        let walk = Walk::start();
        let first = page(&[(1, 1), (2, 2), (3, 3), (4, 3)]);
        let next = walk.next(&first, true).expect("a next page");
        assert_eq!(next, Walk { after: Some(at(3)), page: 1, read_at_after: vec![7003, 7004] });
        // The next query lists issues 3 and 4 again (`updated_after` includes its instant).
        let relisted = page(&[(3, 3), (4, 3), (5, 3), (6, 8)]);
        let fresh: Vec<u64> = relisted.iter().filter(|i| !next.read_before(i)).map(|i| i.iid.get()).collect();
        assert_eq!(fresh, [5, 6]);
        assert_eq!(next.next(&relisted, false), None, "GitLab named no next page: the walk is done");
    }

    #[test]
    fn a_whole_page_of_one_instant_is_followed_by_the_next_page_of_that_instant() {
        let walk = Walk { after: Some(at(3)), page: 1, read_at_after: vec![7003] };
        let same = page(&[(3, 3), (4, 3), (5, 3)]);
        let next = walk.next(&same, true).unwrap();
        assert_eq!((next.after, next.page), (Some(at(3)), 2));
        assert_eq!(next.next(&page(&[(6, 3), (7, 4)]), true).map(|w| (w.after, w.page)), Some((Some(at(4)), 1)));
    }

    #[test]
    fn an_issue_changed_during_the_walk_is_read_again_later_and_none_is_missed() {
        // Issues 1..=6, one a second; the walk reads two a page. After the first page, issue 1
        // (read) and issue 4 (not yet read) change: both move to the end.
        let mut updated: Vec<(u64, u32)> = (1..=6).map(|i| (i, i as u32)).collect();
        let list = |updated: &[(u64, u32)], walk: &Walk| {
            let mut listed: Vec<(u64, u32)> =
                updated.iter().copied().filter(|(_, s)| walk.after.is_none_or(|a| at(*s) >= a)).collect();
            listed.sort_by_key(|(iid, s)| (*s, *iid));
            let start = (walk.page as usize - 1) * 2;
            let shown: Vec<(u64, u32)> = listed.iter().copied().skip(start).take(2).collect();
            (page(&shown), listed.len() > start + 2)
        };
        let mut walk = Walk::start();
        let mut read = Vec::new();
        loop {
            let (items, has_next) = list(&updated, &walk);
            read.extend(items.iter().filter(|i| !walk.read_before(i)).map(|i| i.iid.get()));
            if read.len() == 2 {
                updated[0].1 = 30;
                updated[3].1 = 31;
            }
            match walk.next(&items, has_next) {
                Some(next) => walk = next,
                None => break,
            }
        }
        let mut distinct = read.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct, [1, 2, 3, 4, 5, 6], "every issue read: {read:?}");
        assert_eq!(read.iter().filter(|&&iid| iid == 1).count(), 2, "the changed one read again: {read:?}");
    }

    #[test]
    fn a_walk_is_kept_as_json_in_a_cursor() {
        let walk = Walk { after: Some(at(3)), page: 2, read_at_after: vec![1, 2] };
        let text = serde_json::to_string(&walk).unwrap();
        assert_eq!(serde_json::from_str::<Walk>(&text).unwrap(), walk);
    }
}
