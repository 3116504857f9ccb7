//! The poll's comment sweep (DESIGN section 6). A poll-only deployment hears of no QALITA comment,
//! and a new comment does not move its issue's `updated_at`, so every run sweeps the comments of a
//! fixed number of open linked issues (`sync.comment_sweep_per_run`), those swept longest ago
//! first ([`SweepPosition`](crate::domain::link::SweepPosition)). The position kept on each link is the sweep's cursor, in the table.
//!
//! The bound: every run moves the N links at the head of the line to its back, so a link with L
//! open links in line (itself included) is swept within ⌈L / N⌉ runs of any moment, and a QALITA
//! comment reaches GitLab within ⌈L / N⌉ runs (the links that open meanwhile count in L).

use chrono::{DateTime, Utc};

use crate::domain::link::{LinkState, LinkStatus};

/// The link once the poll has queued the sweep of its comments at `now`: at the back of the line.
pub fn swept(link: &LinkState, now: DateTime<Utc>) -> LinkState {
    LinkState { comments_swept_at: Some(now), updated_at: now, ..link.clone() }
}

/// The link written before the sweep existed, enrolled at the head of the line (its comments
/// were never swept); `None` for a link that is enrolled already, or not linked.
pub fn enrolled(link: &LinkState, now: DateTime<Utc>) -> Option<LinkState> {
    (link.status == LinkStatus::Linked && link.comments_swept_at.is_none()).then(|| LinkState {
        comments_swept_at: Some(DateTime::UNIX_EPOCH),
        updated_at: now,
        ..link.clone()
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::QalitaIssueId;

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    fn link(status: LinkStatus, swept: Option<i64>) -> LinkState {
        let mut link = LinkState::reserved(QalitaIssueId::new(7).unwrap(), "t".into(), at(0));
        link.status = status;
        link.comments_swept_at = swept.map(at);
        link
    }

    #[test]
    fn a_swept_link_goes_to_the_back_of_the_line() {
        let swept = swept(&link(LinkStatus::Linked, Some(5)), at(60));
        assert_eq!((swept.comments_swept_at, swept.updated_at), (Some(at(60)), at(60)));
    }

    #[test]
    fn a_link_older_than_the_sweep_is_enrolled_at_the_head_of_the_line_once() {
        let enrolled = enrolled(&link(LinkStatus::Linked, None), at(60)).expect("enrolled");
        assert_eq!(enrolled.comments_swept_at, Some(DateTime::UNIX_EPOCH));
        assert!(enrolled.comments_swept_at < link(LinkStatus::Linked, Some(0)).comments_swept_at, "ahead of any");
        assert_eq!(super::enrolled(&enrolled, at(61)), None, "once");
        assert_eq!(super::enrolled(&link(LinkStatus::Severed, None), at(60)), None, "never swept: not enrolled");
    }
}
