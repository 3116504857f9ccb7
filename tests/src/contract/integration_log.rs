//! The [`IntegrationLog`] contract: an issue's log in order, entries of one instant kept in the
//! order appended, the recent log of every issue from a time (and only its errors), and refusal of
//! what DynamoDB would refuse.

use chrono::{DateTime, TimeDelta, Utc};
use qalita_gitlab_core::domain::link::{LogEntry, LogLevel};
use qalita_gitlab_core::ports::IntegrationLog;

use super::{assert_refused, issue, time};

fn entry(id: u64, at: DateTime<Utc>, kind: &str) -> LogEntry {
    LogEntry { issue: issue(id), at, level: LogLevel::Info, kind: kind.into(), message: format!("{kind} of {id}") }
}

fn kinds(entries: &[LogEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.kind.as_str()).collect()
}

/// Runs the whole suite on an empty store that nothing else uses.
pub async fn run(store: &dyn IntegrationLog) {
    the_log_comes_back_oldest_first_with_entries_of_one_instant_kept(store).await;
    the_recent_log_spans_every_issue_from_a_time_and_can_keep_only_errors(store).await;
    a_log_entry_dynamodb_would_refuse_is_refused_for_good(store).await;
}

async fn the_log_comes_back_oldest_first_with_entries_of_one_instant_kept(store: &dyn IntegrationLog) {
    let t1 = time("2025-03-04T05:06:07.000000001Z");
    let t2 = time("2025-03-04T05:06:07.000000002Z");
    let t3 = time("2025-03-04T05:06:08Z");
    let appended =
        [entry(5, t2, "second"), entry(5, t1, "first"), entry(6, t1, "other-issue"), entry(5, t3, "third-a")];
    for e in &appended {
        store.append_log(e).await.expect("append");
    }
    store.append_log(&LogEntry { level: LogLevel::Error, ..entry(5, t3, "third-b") }).await.expect("append");

    let log = store.log(issue(5)).await.expect("log");
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["first", "second", "third-a", "third-b"]);
    assert_eq!(log[0], entry(5, t1, "first"), "entries round-trip whole");
    assert_eq!(log[3].level, LogLevel::Error);
    assert_eq!(store.log(issue(6)).await.expect("log").len(), 1);
    assert!(store.log(issue(7)).await.expect("log").is_empty());
}

async fn the_recent_log_spans_every_issue_from_a_time_and_can_keep_only_errors(store: &dyn IntegrationLog) {
    // Years after the entries of the other cases, so that those are all before `since`.
    let t1 = time("2031-01-01T00:00:00.000000001Z");
    let t2 = time("2031-01-01T00:00:00.000000002Z");
    let (t3, t4) = (time("2031-01-01T01:00:00Z"), time("2031-01-01T02:00:00Z"));
    let error = |e: LogEntry| LogEntry { level: LogLevel::Error, ..e };
    for e in [
        error(entry(22, t4, "late-error")),
        error(entry(21, t1, "too-old")),
        entry(21, t2, "first-of-an-instant"),
        error(entry(21, t2, "second-of-an-instant")),
        entry(23, t3, "other-issue"),
    ] {
        store.append_log(&e).await.expect("append");
    }

    let all = store.recent_log(t2, false).await.expect("recent log");
    assert_eq!(kinds(&all), ["first-of-an-instant", "second-of-an-instant", "other-issue", "late-error"]);
    assert_eq!(all[3], error(entry(22, t4, "late-error")), "entries round-trip whole");
    let errors = store.recent_log(t2, true).await.expect("recent errors");
    assert_eq!(kinds(&errors), ["second-of-an-instant", "late-error"]);
    assert_eq!(kinds(&store.recent_log(t4, false).await.expect("recent log")), ["late-error"], "`since` is included");
    assert!(store.recent_log(t4 + TimeDelta::nanoseconds(1), false).await.expect("recent log").is_empty());
}

async fn a_log_entry_dynamodb_would_refuse_is_refused_for_good(store: &dyn IntegrationLog) {
    let long_entry = LogEntry { message: "y".repeat(401 * 1024), ..entry(9, Utc::now(), "huge") };
    assert_refused(store.append_log(&long_entry).await, "a log entry over 400 KB");
    assert!(store.log(issue(9)).await.expect("log").is_empty());
}
