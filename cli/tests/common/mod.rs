//! Helpers of the embedded adapters' tests: a database in a fresh temporary folder, ids, times.

#![allow(dead_code, reason = "each test file uses a part of the helpers")]

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use qalita_gitlab::embedded::EmbeddedDb;
use qalita_gitlab_core::domain::{GitlabProjectId, Iid, QalitaIssueId};

/// A temporary folder (removed when dropped) and the path of a database file in it.
pub struct Scratch {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("qalita-gitlab.redb");
        Scratch { _dir: dir, path }
    }

    pub async fn open(&self) -> EmbeddedDb {
        EmbeddedDb::open(&self.path).await.expect("open the database")
    }
}

pub fn issue(raw: u64) -> QalitaIssueId {
    QalitaIssueId::new(raw).expect("a positive id")
}

pub fn project(raw: u64) -> GitlabProjectId {
    GitlabProjectId::new(raw).expect("a positive id")
}

pub fn iid(raw: u64) -> Iid {
    Iid::new(raw).expect("a positive id")
}

pub fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("an RFC 3339 time").with_timezone(&Utc)
}
