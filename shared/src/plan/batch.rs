//! Which events of a batch a later one makes useless. The sync is state-based: of several QALITA
//! changes of one issue in a batch, only the last needs planning (it carries, or reads, the newest
//! state), so one GitLab write is made, not one per event.

use crate::events::qalita::IssueEventSummary;

/// Whether a later event of the same issue makes `earlier` useless: it names the issue only (the
/// newest state is read), or carries a state at least as new; and it loses nothing the earlier one
/// would have done (the context it says, the comment sweep it makes).
pub fn supersedes(earlier: &IssueEventSummary, later: &IssueEventSummary) -> bool {
    earlier.issue == later.issue
        && (later.has_context || !earlier.has_context)
        && (later.sweeps || !earlier.sweeps)
        && match (earlier.updated_at, later.updated_at) {
            (_, None) | (None, _) => true,
            (Some(earlier), Some(later)) => later >= earlier,
        }
}

/// For each event of a group, in order, whether a later event of the group supersedes it (`None`:
/// not an issue event, which supersedes nothing and is never superseded).
pub fn superseded(events: &[Option<IssueEventSummary>]) -> Vec<bool> {
    events
        .iter()
        .enumerate()
        .map(|(index, this)| {
            this.as_ref().is_some_and(|this| events[index + 1..].iter().flatten().any(|later| supersedes(this, later)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::QalitaIssueId;

    fn event(issue: u64, at: Option<i64>, has_context: bool, sweeps: bool) -> Option<IssueEventSummary> {
        let updated_at = at.map(|s| Utc.timestamp_opt(s, 0).unwrap());
        Some(IssueEventSummary { issue: QalitaIssueId::new(issue).unwrap(), updated_at, has_context, sweeps })
    }

    #[test]
    fn only_the_last_state_of_an_issue_is_planned() {
        let group = [event(1, Some(10), false, false), event(1, Some(20), false, false), event(1, None, false, false)];
        assert_eq!(superseded(&group), [true, true, false]);
    }

    #[test]
    fn an_older_state_later_in_the_batch_supersedes_nothing() {
        let group = [event(1, Some(20), false, false), event(1, Some(10), false, false)];
        assert_eq!(superseded(&group), [false, false]);
    }

    #[test]
    fn a_later_event_that_would_lose_the_context_or_the_sweep_does_not_supersede() {
        let group = [event(1, Some(10), true, false), event(1, Some(20), false, false)];
        assert_eq!(superseded(&group), [false, false], "the context would be lost");
        let group = [event(1, Some(10), false, true), event(1, Some(20), false, false)];
        assert_eq!(superseded(&group), [false, false], "the comment sweep would be lost");
        let group = [event(1, Some(10), false, false), event(1, Some(20), true, true)];
        assert_eq!(superseded(&group), [true, false]);
    }

    #[test]
    fn other_issues_and_other_messages_are_untouched() {
        let group = [event(1, Some(10), false, false), None, event(2, Some(20), false, false)];
        assert_eq!(superseded(&group), [false, false, false]);
    }
}
