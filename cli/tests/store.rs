//! What the redb link store keeps beyond the contracts: everything survives a restart, expiry
//! follows the injected clock, the reverse index follows relinks, every link can be listed, and
//! the recent log keeps the order of appending across issues.

mod common;

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use qalita_gitlab::embedded::OpenError;
use qalita_gitlab::embedded::store::RedbLinkStore;
use qalita_gitlab_core::adapters::memory::ManualClock;
use qalita_gitlab_core::domain::link::{
    CommentKey, CommentLink, GitlabLink, LinkState, LinkStatus, LogEntry, LogLevel,
};
use qalita_gitlab_core::ports::{Clock, CommentLinks, IntegrationLog, IntegrationSwitch, Links, Settings};

use common::{Scratch, iid, issue, project, time};

const LOG_TTL: TimeDelta = TimeDelta::days(30);

async fn store_on(scratch: &Scratch, clock: Arc<ManualClock>) -> RedbLinkStore {
    RedbLinkStore::open(&scratch.open().await, clock, LOG_TTL).await.expect("open the store")
}

fn linked(id: u64, gitlab_project: u64, gitlab_iid: u64, at: DateTime<Utc>) -> LinkState {
    LinkState {
        status: LinkStatus::Linked,
        reservation: None,
        gitlab: Some(GitlabLink {
            project_id: project(gitlab_project),
            iid: iid(gitlab_iid),
            issue_id: 1_000 + gitlab_iid,
            web_url: format!("https://gitlab.example/p/-/issues/{gitlab_iid}"),
        }),
        ..LinkState::reserved(issue(id), format!("t-{id}"), at)
    }
}

fn entry(id: u64, at: DateTime<Utc>, level: LogLevel, kind: &str) -> LogEntry {
    LogEntry { issue: issue(id), at, level, kind: kind.into(), message: format!("{kind} of {id}") }
}

fn kinds(entries: &[LogEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test]
async fn links_comments_cursors_the_switch_configuration_and_the_log_survive_a_restart() {
    let scratch = Scratch::new();
    let now = Utc::now();
    let clock = Arc::new(ManualClock::at(now));
    let store = store_on(&scratch, clock.clone()).await;
    let link = store.create(&linked(1, 10, 20, now)).await.expect("create");
    let comment = CommentLink {
        issue: issue(1),
        key: CommentKey::Comment(5),
        copy: Some(77),
        reservation: None,
        digest: None,
        ours: false,
        version: 0,
        updated_at: now,
    };
    let comment = store.put_comment_link(&comment).await.expect("link a comment");
    store.set_cursor("poll", "page=2").await.expect("set a cursor");
    store.set_switch(IntegrationSwitch::Disabled).await.expect("disable");
    store.put_config_document(None, "[routing]\n").await.expect("put the configuration");
    store.append_log(&entry(1, now, LogLevel::Info, "before-a")).await.expect("append");
    store.append_log(&entry(1, now, LogLevel::Info, "before-b")).await.expect("append");
    drop(store);

    let store = store_on(&scratch, clock).await;
    assert_eq!(store.get(issue(1)).await.expect("get"), Some(link.clone()));
    assert_eq!(store.find_by_gitlab(project(10), iid(20)).await.expect("find"), Some(link));
    assert_eq!(store.comment_link(issue(1), CommentKey::Comment(5)).await.expect("read"), Some(comment));
    assert_eq!(store.cursor("poll").await.expect("cursor").as_deref(), Some("page=2"));
    assert_eq!(store.config_document().await.expect("read").as_deref(), Some("[routing]\n"));
    assert_eq!(store.switch().await.expect("switch"), IntegrationSwitch::Disabled);
    // Entries of one instant appended after the restart still come after those appended before.
    store.append_log(&entry(1, now, LogLevel::Info, "after")).await.expect("append");
    assert_eq!(kinds(&store.log(issue(1)).await.expect("log")), ["before-a", "before-b", "after"]);
}

#[tokio::test]
async fn a_second_open_of_the_same_file_is_refused_with_the_file_named() {
    let scratch = Scratch::new();
    let _held = scratch.open().await;
    let error = qalita_gitlab::embedded::EmbeddedDb::open(&scratch.path).await.expect_err("the file is held");
    assert!(matches!(error, OpenError::InUse { .. }), "{error:?}");
    assert!(error.to_string().contains(&scratch.path.display().to_string()), "{error}");
}

#[tokio::test]
async fn the_reverse_index_follows_a_relink_and_forgets_a_severed_link() {
    let scratch = Scratch::new();
    let now = Utc::now();
    let store = store_on(&scratch, Arc::new(ManualClock::at(now))).await;
    let first = store.create(&linked(1, 10, 20, now)).await.expect("create");

    let moved = store.update(&LinkState { gitlab: linked(1, 11, 21, now).gitlab, ..first }).await.expect("relink");
    assert_eq!(store.find_by_gitlab(project(10), iid(20)).await.expect("find"), None, "the old GitLab issue");
    assert_eq!(store.find_by_gitlab(project(11), iid(21)).await.expect("find"), Some(moved.clone()));

    let severed = LinkState { status: LinkStatus::Severed, gitlab: None, ..moved };
    store.update(&severed).await.expect("sever");
    assert_eq!(store.find_by_gitlab(project(11), iid(21)).await.expect("find"), None);

    // Two links naming one GitLab issue (which the creation protocol prevents): the lowest id wins.
    store.create(&linked(9, 12, 22, now)).await.expect("create");
    let lowest = store.create(&linked(3, 12, 22, now)).await.expect("create");
    assert_eq!(store.find_by_gitlab(project(12), iid(22)).await.expect("find"), Some(lowest));
}

#[tokio::test]
async fn every_link_is_listed_by_qalita_id() {
    let scratch = Scratch::new();
    let now = Utc::now();
    let store = store_on(&scratch, Arc::new(ManualClock::at(now))).await;
    assert!(store.links().await.expect("links").is_empty());
    for id in [3, 1, 2] {
        store.create(&linked(id, 10, id, now)).await.expect("create");
    }
    let ids: Vec<u64> = store.links().await.expect("links").iter().map(|l| l.qalita_id.get()).collect();
    assert_eq!(ids, [1, 2, 3]);
}

#[tokio::test]
async fn the_recent_log_spans_every_issue_from_a_time_and_can_keep_only_errors() {
    let scratch = Scratch::new();
    let store = store_on(&scratch, Arc::new(ManualClock::at(Utc::now()))).await;
    let (t1, t2, t3) = (time("2025-03-04T05:00:00Z"), time("2025-03-04T06:00:00Z"), time("2025-03-04T07:00:00Z"));
    for e in [
        entry(2, t3, LogLevel::Error, "late-error"),
        entry(1, t1, LogLevel::Error, "too-old"),
        entry(1, t2, LogLevel::Info, "info"),
        entry(3, t2, LogLevel::Error, "error"),
        entry(2, t2, LogLevel::Warn, "warn"),
    ] {
        store.append_log(&e).await.expect("append");
    }

    assert_eq!(kinds(&store.recent_log(t2, false).await.expect("log")), ["info", "error", "warn", "late-error"]);
    assert_eq!(kinds(&store.recent_log(t2, true).await.expect("log")), ["error", "late-error"]);
    assert!(store.recent_log(t3 + TimeDelta::nanoseconds(1), false).await.expect("log").is_empty());
}

#[tokio::test]
async fn log_entries_expire_by_the_clock_and_are_purged() {
    let scratch = Scratch::new();
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let store = store_on(&scratch, clock.clone()).await;
    let at = clock.now();
    store.append_log(&entry(1, at, LogLevel::Error, "old")).await.expect("append");

    clock.advance(TimeDelta::minutes(10) + TimeDelta::seconds(1));
    assert_eq!(store.purge_expired().await.expect("purge"), 0, "nothing expired yet");

    store.append_log(&entry(1, clock.now(), LogLevel::Info, "new")).await.expect("append");
    clock.advance(LOG_TTL - TimeDelta::minutes(10));
    assert_eq!(kinds(&store.log(issue(1)).await.expect("log")), ["new"], "the first entry expired");
    assert_eq!(kinds(&store.recent_log(at, false).await.expect("log")), ["new"]);
    assert_eq!(store.purge_expired().await.expect("purge"), 1, "the expired log entry");
    assert_eq!(store.purge_expired().await.expect("purge"), 0, "nothing more");
    assert_eq!(kinds(&store.log(issue(1)).await.expect("log")), ["new"]);
}
