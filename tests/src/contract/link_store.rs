//! The [`LinkStore`] contract: links round-trip whole, every write is conditional (create only
//! once, update only at the stored version, one winner of a race), the reverse lookup, delivery
//! records with expiry, cursors, the configuration document, the log in order, and refusal of
//! what DynamoDB would refuse.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use qalita_gitlab_core::domain::gitlab::GitlabProjectRef;
use qalita_gitlab_core::domain::link::{
    CommentKey, CommentLink, Field, GitlabLink, LinkState, LinkStatus, LogEntry, LogLevel, Reservation,
    ResolvedAssignee, Written,
};
use qalita_gitlab_core::domain::qalita::IssueContext;
use qalita_gitlab_core::domain::{GitlabProjectId, Iid, QalitaIssueId};
use qalita_gitlab_core::ports::{LinkStore, StoreError};

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

/// A link with every field set, at nanosecond precision.
fn full_link(id: u64) -> LinkState {
    let written = |value: &str, watermark: Option<&str>| Written::new(value, watermark.map(time));
    LinkState {
        qalita_id: issue(id),
        status: LinkStatus::Linked,
        version: 0,
        reservation: Some(Reservation {
            token: "token-ü-1".into(),
            at: time("2025-03-04T05:06:07.123456789Z"),
            project: Some(GitlabProjectRef::parse("group/sub/project").unwrap()),
        }),
        gitlab: Some(GitlabLink {
            project_id: project(80_222_147),
            iid: iid(id),
            issue_id: 171_000_000 + id,
            web_url: format!("https://gitlab.example/group/sub/project/-/issues/{id}"),
        }),
        to_gitlab: BTreeMap::from([
            (Field::Title, written("Null rate above 5 % on « orders »", Some("2025-03-04T05:06:08.000000001Z"))),
            (Field::Description, written(&format!("sha256:{}", "ab".repeat(32)), Some("2025-03-04T05:06:09Z"))),
            (Field::State, written("opened", None)),
            (Field::Assignee, written("4242", Some("2025-03-04T05:06:10.5+02:00"))),
        ]),
        from_gitlab: BTreeMap::from([(
            Field::Status,
            Written {
                at: Some(time("2025-03-04T05:06:10.25Z")),
                ..written("resolved", Some("2025-03-04T05:06:10.25Z"))
            },
        )]),
        to_qalita: BTreeMap::from([(
            Field::Assignee,
            Written { at: Some(time("2025-03-04T05:06:11Z")), ..written("12", Some("2025-03-04T05:06:11Z")) },
        )]),
        managed_labels: BTreeSet::from(["qalita".to_owned(), "severity::high".to_owned(), "dataset:orders".to_owned()]),
        context: IssueContext {
            severity: Some("high".into()),
            source_name: Some("orders".into()),
            domain: Some("sales".into()),
        },
        assignee: Some(ResolvedAssignee {
            qalita_user: 12,
            login: Some("m.durand".into()),
            gitlab_user: 4242,
            username: "mdurand".into(),
        }),
        qalita_watermark: Some(time("2025-03-04T05:06:11.987654321Z")),
        updated_at: time("2025-03-04T05:06:12.000000999Z"),
    }
}

fn entry(id: u64, at: DateTime<Utc>, kind: &str) -> LogEntry {
    LogEntry { issue: issue(id), at, level: LogLevel::Info, kind: kind.into(), message: format!("{kind} of {id}") }
}

fn assert_refused(result: Result<impl std::fmt::Debug, StoreError>, what: &str) {
    match result {
        Err(error @ StoreError::Rejected { .. }) => assert!(!error.is_transient(), "{what}: {error}"),
        other => panic!("{what}: expected Rejected, got {other:?}"),
    }
}

/// Runs the whole suite on an empty store that nothing else uses. `put_config` stores a
/// configuration document the way applying a configuration does.
pub async fn run<F>(store: &dyn LinkStore, put_config: F)
where
    F: AsyncFnOnce(&str),
{
    a_created_link_reads_back_with_every_field(store).await;
    a_second_create_of_the_same_issue_conflicts_and_changes_nothing(store).await;
    an_update_at_the_stored_version_stores_the_next_version(store).await;
    an_update_at_a_stale_version_conflicts_and_changes_nothing(store).await;
    an_update_of_a_link_never_created_conflicts_and_creates_nothing(store).await;
    of_two_concurrent_updates_from_one_read_exactly_one_wins(store).await;
    a_link_is_found_by_its_gitlab_issue_only_once_linked(store).await;
    a_delivery_is_seen_once_until_its_record_expires(store).await;
    cursors_read_back_what_was_last_set(store).await;
    the_configuration_document_is_absent_until_one_is_applied(store, put_config).await;
    the_log_comes_back_oldest_first_with_entries_of_one_instant_kept(store).await;
    a_comment_is_linked_once_and_changed_only_at_its_version(store).await;
    what_dynamodb_would_refuse_is_refused_for_good(store).await;
}

async fn a_comment_is_linked_once_and_changed_only_at_its_version(store: &dyn LinkStore) {
    let reserved = CommentLink {
        issue: issue(10),
        key: CommentKey::Note(7001),
        copy: None,
        reservation: Some(Reservation { token: "c-1".into(), at: time("2025-03-04T05:06:07Z"), project: None }),
        digest: Some(format!("sha256:{}", "cd".repeat(32))),
        ours: false,
        version: 0,
        updated_at: time("2025-03-04T05:06:07.5Z"),
    };
    assert_eq!(store.comment_link(issue(10), CommentKey::Note(7001)).await.expect("read"), None);
    let stored = store.put_comment_link(&reserved).await.expect("create");
    assert_eq!(stored, CommentLink { version: 1, ..reserved.clone() });
    assert!(matches!(store.put_comment_link(&reserved).await, Err(StoreError::Conflict)), "a second create");

    let linked = CommentLink { copy: Some(88), reservation: None, ..stored.clone() };
    let linked = store.put_comment_link(&linked).await.expect("update at the stored version");
    assert_eq!(linked.version, 2);
    assert!(matches!(store.put_comment_link(&stored).await, Err(StoreError::Conflict)), "a stale version");
    assert_eq!(store.comment_link(issue(10), CommentKey::Note(7001)).await.expect("read"), Some(linked));

    // The other side's id space and another issue are other items.
    assert_eq!(store.comment_link(issue(10), CommentKey::Comment(7001)).await.expect("read"), None);
    assert_eq!(store.comment_link(issue(11), CommentKey::Note(7001)).await.expect("read"), None);
    let never = CommentLink { key: CommentKey::Comment(5), version: 3, ..reserved };
    assert!(matches!(store.put_comment_link(&never).await, Err(StoreError::Conflict)), "an update of nothing");
    assert_eq!(store.comment_link(issue(10), CommentKey::Comment(5)).await.expect("read"), None);
}

async fn a_created_link_reads_back_with_every_field(store: &dyn LinkStore) {
    let link = full_link(1);
    let created = store.create(&link).await.expect("create");
    assert_eq!(created, LinkState { version: 1, ..link.clone() });
    assert_eq!(store.get(issue(1)).await.expect("get"), Some(created));
    assert_eq!(store.get(issue(999)).await.expect("get"), None, "no link for an issue never created");
}

async fn a_second_create_of_the_same_issue_conflicts_and_changes_nothing(store: &dyn LinkStore) {
    let before = store.get(issue(1)).await.expect("get");
    let again = LinkState::reserved(issue(1), "another-token".into(), Utc::now());
    assert!(matches!(store.create(&again).await, Err(StoreError::Conflict)));
    assert_eq!(store.get(issue(1)).await.expect("get"), before);
}

async fn an_update_at_the_stored_version_stores_the_next_version(store: &dyn LinkStore) {
    let mut link = store.get(issue(1)).await.expect("get").expect("created before");
    link.status = LinkStatus::Severed;
    link.reservation = None;
    link.managed_labels.remove("qalita");
    let updated = store.update(&link).await.expect("update");
    assert_eq!(updated, LinkState { version: 2, ..link });
    assert_eq!(store.get(issue(1)).await.expect("get"), Some(updated.clone()));
    let next = store.update(&updated).await.expect("update at the returned version");
    assert_eq!(next.version, 3);
}

async fn an_update_at_a_stale_version_conflicts_and_changes_nothing(store: &dyn LinkStore) {
    let before = store.get(issue(1)).await.expect("get").expect("created before");
    for stale in [before.version - 1, before.version + 1, 0] {
        let link = LinkState { version: stale, status: LinkStatus::Gone, ..before.clone() };
        assert!(matches!(store.update(&link).await, Err(StoreError::Conflict)), "version {stale}");
    }
    assert_eq!(store.get(issue(1)).await.expect("get"), Some(before));
}

async fn an_update_of_a_link_never_created_conflicts_and_creates_nothing(store: &dyn LinkStore) {
    for version in [0, 1] {
        let link = LinkState { version, ..full_link(2) };
        assert!(matches!(store.update(&link).await, Err(StoreError::Conflict)), "version {version}");
    }
    assert_eq!(store.get(issue(2)).await.expect("get"), None);
}

async fn of_two_concurrent_updates_from_one_read_exactly_one_wins(store: &dyn LinkStore) {
    let read = store.create(&full_link(3)).await.expect("create");
    let mut left = read.clone();
    left.managed_labels.insert("left".into());
    let mut right = read.clone();
    right.managed_labels.insert("right".into());

    let (left_result, right_result) = tokio::join!(store.update(&left), store.update(&right));

    let winner = match (left_result, right_result) {
        (Ok(won), Err(StoreError::Conflict)) | (Err(StoreError::Conflict), Ok(won)) => won,
        other => panic!("exactly one update must win, the other conflict: {other:?}"),
    };
    assert_eq!(winner.version, 2);
    assert_eq!(store.get(issue(3)).await.expect("get"), Some(winner));
}

async fn a_link_is_found_by_its_gitlab_issue_only_once_linked(store: &dyn LinkStore) {
    let (gitlab_project, gitlab_iid) = (project(555), iid(77));
    let reserved = store.create(&LinkState::reserved(issue(4), "t-4".into(), Utc::now())).await.expect("create");
    assert_eq!(store.find_by_gitlab(gitlab_project, gitlab_iid).await.expect("find"), None, "a reservation");

    let linked = LinkState {
        status: LinkStatus::Linked,
        reservation: None,
        gitlab: Some(GitlabLink {
            project_id: gitlab_project,
            iid: gitlab_iid,
            issue_id: 9_000_001,
            web_url: "https://gitlab.example/p/-/issues/77".into(),
        }),
        ..reserved
    };
    let linked = store.update(&linked).await.expect("link");
    // On DynamoDB the index is eventually consistent; the local stack answers at once.
    assert_eq!(store.find_by_gitlab(gitlab_project, gitlab_iid).await.expect("find"), Some(linked));
    assert_eq!(store.find_by_gitlab(gitlab_project, iid(78)).await.expect("find"), None, "another iid");
    assert_eq!(store.find_by_gitlab(project(556), gitlab_iid).await.expect("find"), None, "another project");
}

async fn a_delivery_is_seen_once_until_its_record_expires(store: &dyn LinkStore) {
    let later = Utc::now() + TimeDelta::days(1);
    let earlier = Utc::now() - TimeDelta::hours(1);
    assert!(store.mark_seen("gitlab", "delivery-1", later).await.expect("mark"), "first time");
    assert!(!store.mark_seen("gitlab", "delivery-1", later).await.expect("mark"), "second time");
    assert!(store.mark_seen("qalita", "delivery-1", later).await.expect("mark"), "another source, another key");

    // A record whose expiry has passed counts as absent, whether or not it was deleted yet.
    assert!(store.mark_seen("gitlab", "delivery-2", earlier).await.expect("mark"), "first time");
    assert!(store.mark_seen("gitlab", "delivery-2", later).await.expect("mark"), "its record had expired");
    assert!(!store.mark_seen("gitlab", "delivery-2", later).await.expect("mark"), "and is current again");
}

async fn cursors_read_back_what_was_last_set(store: &dyn LinkStore) {
    assert_eq!(store.cursor("poll").await.expect("cursor"), None);
    store.set_cursor("poll", "2025-03-04T05:06:07Z").await.expect("set");
    store.set_cursor("backfill/project-1", "page=3").await.expect("set");
    store.set_cursor("poll", "2025-03-04T06:00:00Z").await.expect("set again");
    assert_eq!(store.cursor("poll").await.expect("cursor").as_deref(), Some("2025-03-04T06:00:00Z"));
    assert_eq!(store.cursor("backfill/project-1").await.expect("cursor").as_deref(), Some("page=3"));
}

async fn the_configuration_document_is_absent_until_one_is_applied<F>(store: &dyn LinkStore, put_config: F)
where
    F: AsyncFnOnce(&str),
{
    assert_eq!(store.config_document().await.expect("read"), None);
    let document = "[routing]\ndefault_project = \"group/sub/project\"\n# é\n";
    put_config(document).await;
    assert_eq!(store.config_document().await.expect("read").as_deref(), Some(document));
}

async fn the_log_comes_back_oldest_first_with_entries_of_one_instant_kept(store: &dyn LinkStore) {
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

async fn what_dynamodb_would_refuse_is_refused_for_good(store: &dyn LinkStore) {
    // A description is stored as a hash; a caller that forgot would exceed DynamoDB's 400 KB item.
    let mut huge = full_link(8);
    huge.to_gitlab.insert(Field::Description, Written::new("x".repeat(410 * 1024), None));
    assert_refused(store.create(&huge).await, "a link over 400 KB");
    assert_eq!(store.get(issue(8)).await.expect("get"), None, "nothing was stored");

    let stored = store.create(&full_link(8)).await.expect("create");
    assert_refused(store.update(&LinkState { version: stored.version, ..huge }).await, "an update over 400 KB");
    assert_eq!(store.get(issue(8)).await.expect("get"), Some(stored), "nothing was changed");

    let long_entry = LogEntry { message: "y".repeat(401 * 1024), ..entry(9, Utc::now(), "huge") };
    assert_refused(store.append_log(&long_entry).await, "a log entry over 400 KB");
    assert!(store.log(issue(9)).await.expect("log").is_empty());

    assert_refused(store.set_cursor("", "v").await, "an empty cursor name");
    assert_refused(store.cursor(&"c".repeat(3000)).await, "a cursor name over DynamoDB's key length");
    assert_refused(store.mark_seen("gitlab", "", Utc::now()).await, "an empty event key");
    assert_refused(store.mark_seen("", "k", Utc::now()).await, "an empty event source");
}
