//! Contract suites: one per port (and one per capability of the link store), run against every
//! adapter of that port (the AWS adapter on the local stack, the in-memory one, the embedded one),
//! so that they cannot drift apart.

pub mod comment_links;
pub mod event_queue;
pub mod integration_log;
pub mod links;
pub mod queue_admin;
pub mod secret_source;
pub mod settings;

use chrono::{DateTime, Utc};
use qalita_gitlab_core::domain::{GitlabProjectId, Iid, QalitaIssueId};
use qalita_gitlab_core::ports::StoreError;

fn issue(raw: u64) -> QalitaIssueId {
    QalitaIssueId::new(raw).expect("a positive id")
}

fn project(raw: u64) -> GitlabProjectId {
    GitlabProjectId::new(raw).expect("a positive id")
}

fn iid(raw: u64) -> Iid {
    Iid::new(raw).expect("a positive id")
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("an RFC 3339 time").with_timezone(&Utc)
}

/// A store's refusal of what DynamoDB would refuse: for good, never worth a retry.
fn assert_refused(result: Result<impl std::fmt::Debug, StoreError>, what: &str) {
    match result {
        Err(error @ StoreError::Rejected { .. }) => assert!(!error.is_transient(), "{what}: {error}"),
        other => panic!("{what}: expected Rejected, got {other:?}"),
    }
}
