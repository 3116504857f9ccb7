//! The [`Links`] contract: links round-trip whole, every write is conditional (create only once,
//! update only at the stored version, one winner of a race), the reverse lookup, the comment
//! sweep's line, and refusal of what DynamoDB would refuse.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use qalita_gitlab_core::domain::gitlab::GitlabProjectRef;
use qalita_gitlab_core::domain::link::{
    Field, GitlabLink, LinkBackDue, LinkState, LinkStatus, PastIssue, RelinkReason, Reservation, ResolvedAssignee,
    Written,
};
use qalita_gitlab_core::domain::qalita::IssueContext;
use qalita_gitlab_core::ports::{Links, StoreError};

use super::{assert_refused, iid, issue, project, time};

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
        link_back: Some(LinkBackDue::Adopted),
        comments_swept_at: Some(time("2025-03-04T05:06:11.5Z")),
        resolved_at: Some(time("2025-01-02T03:04:05.678Z")),
        deleted_at: Some(time("2025-03-04T05:06:11.5Z")),
        history: vec![PastIssue {
            gitlab: GitlabLink {
                project_id: project(80_222_147),
                iid: iid(id + 1_000),
                issue_id: 171_500_000 + id,
                web_url: format!("https://gitlab.example/group/sub/project/-/issues/{}", id + 1_000),
            },
            retired_at: time("2025-03-01T00:00:00.000000001Z"),
            reason: RelinkReason::Regression,
        }],
        updated_at: time("2025-03-04T05:06:12.000000999Z"),
    }
}

/// Who decides two conditional writes that race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Races {
    /// The adapter itself (an in-process store and its own lock): two racing updates are run, and
    /// exactly one must win.
    DecidedByTheAdapter,
    /// The service behind the adapter: DynamoDB applies a conditional write atomically, but its
    /// local emulator (moto, a threaded server that checks the condition and writes in two steps)
    /// does not, and lets both racers win now and then. The race is not run there; the adapter's
    /// part, sending the version condition, is what the stale-version cases check.
    DecidedByTheService,
}

/// Runs the whole suite on an empty store that nothing else uses.
pub async fn run(store: &dyn Links, races: Races) {
    the_sweep_lists_the_open_links_swept_longest_ago_first(store).await;
    a_created_link_reads_back_with_every_field(store).await;
    a_second_create_of_the_same_issue_conflicts_and_changes_nothing(store).await;
    an_update_at_the_stored_version_stores_the_next_version(store).await;
    an_update_at_a_stale_version_conflicts_and_changes_nothing(store).await;
    an_update_of_a_link_never_created_conflicts_and_creates_nothing(store).await;
    if races == Races::DecidedByTheAdapter {
        of_two_concurrent_updates_from_one_read_exactly_one_wins(store).await;
    }
    a_link_is_found_by_its_gitlab_issue_only_once_linked(store).await;
    a_link_dynamodb_would_refuse_is_refused_for_good(store).await;
}

/// The ids of the links `next_to_sweep(limit)` lists, in its order.
async fn line(store: &dyn Links, limit: usize) -> Vec<u64> {
    store.next_to_sweep(limit).await.expect("the sweep's line").iter().map(|link| link.qalita_id.get()).collect()
}

/// Runs first, on the empty store: the line holds only its links.
async fn the_sweep_lists_the_open_links_swept_longest_ago_first(store: &dyn Links) {
    let swept = |id: u64, at: Option<&str>| LinkState { comments_swept_at: at.map(time), ..full_link(id) };
    store.create(&swept(101, Some("2025-05-01T10:00:30Z"))).await.expect("create");
    let tie_low = store.create(&swept(102, Some("2025-05-01T10:00:10Z"))).await.expect("create");
    store.create(&swept(103, Some("2025-05-01T10:00:10Z"))).await.expect("create");
    store.create(&swept(104, None)).await.expect("create a link written before the sweep existed");
    let mut resolved = swept(105, Some("2025-05-01T10:00:00Z"));
    resolved.to_qalita.insert(Field::Status, Written::new("resolved", None));
    store.create(&resolved).await.expect("create");
    store
        .create(&LinkState { status: LinkStatus::Severed, ..swept(106, Some("2025-05-01T10:00:00Z")) })
        .await
        .expect("create");
    let reserved = store
        .create(&LinkState::reserved(issue(107), "t-107".into(), time("2025-05-01T09:00:00Z")))
        .await
        .expect("create");

    let listed = store.next_to_sweep(10).await.expect("the sweep's line");
    assert_eq!(listed.first(), Some(&tie_low), "each link listed as stored, at its version");
    assert_eq!(line(store, 10).await, [102, 103, 101], "swept longest ago first, then the lowest id; open linked only");
    assert_eq!(line(store, 2).await, [102, 103], "at most the limit, from the head");
    assert!(line(store, 0).await.is_empty());

    // Swept: to the back of the line, listed once.
    store
        .update(&LinkState { comments_swept_at: Some(time("2025-05-01T10:01:00Z")), ..tie_low })
        .await
        .expect("update");
    assert_eq!(line(store, 10).await, [103, 101, 102]);
    // Resolved: out of the line; open again: back in its place.
    let mut closing = store.get(issue(101)).await.expect("get").expect("created");
    closing.to_qalita.insert(Field::Status, Written::new("resolved", None));
    let closed = store.update(&closing).await.expect("update");
    assert_eq!(line(store, 10).await, [103, 102]);
    let mut reopening = closed;
    reopening.to_qalita.insert(Field::Status, Written::new("open", None));
    store.update(&reopening).await.expect("update");
    assert_eq!(line(store, 10).await, [103, 101, 102]);
    // A reservation joins the line once linked, at the time it was reserved.
    let linked = LinkState { status: LinkStatus::Linked, reservation: None, gitlab: full_link(107).gitlab, ..reserved };
    store.update(&linked).await.expect("link");
    assert_eq!(line(store, 10).await, [107, 103, 101, 102]);
    // Written before the sweep existed, then enrolled: at the head.
    let old = store.get(issue(104)).await.expect("get").expect("created");
    store.update(&LinkState { comments_swept_at: Some(chrono::DateTime::UNIX_EPOCH), ..old }).await.expect("enrol");
    assert_eq!(line(store, 10).await, [104, 107, 103, 101, 102]);
}

async fn a_created_link_reads_back_with_every_field(store: &dyn Links) {
    let link = full_link(1);
    let created = store.create(&link).await.expect("create");
    assert_eq!(created, LinkState { version: 1, ..link.clone() });
    assert_eq!(store.get(issue(1)).await.expect("get"), Some(created));
    assert_eq!(store.get(issue(999)).await.expect("get"), None, "no link for an issue never created");
}

async fn a_second_create_of_the_same_issue_conflicts_and_changes_nothing(store: &dyn Links) {
    let before = store.get(issue(1)).await.expect("get");
    let again = LinkState::reserved(issue(1), "another-token".into(), Utc::now());
    assert!(matches!(store.create(&again).await, Err(StoreError::Conflict)));
    assert_eq!(store.get(issue(1)).await.expect("get"), before);
}

async fn an_update_at_the_stored_version_stores_the_next_version(store: &dyn Links) {
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

async fn an_update_at_a_stale_version_conflicts_and_changes_nothing(store: &dyn Links) {
    let before = store.get(issue(1)).await.expect("get").expect("created before");
    for stale in [before.version - 1, before.version + 1, 0] {
        let link = LinkState { version: stale, status: LinkStatus::Gone, ..before.clone() };
        assert!(matches!(store.update(&link).await, Err(StoreError::Conflict)), "version {stale}");
    }
    assert_eq!(store.get(issue(1)).await.expect("get"), Some(before));
}

async fn an_update_of_a_link_never_created_conflicts_and_creates_nothing(store: &dyn Links) {
    for version in [0, 1] {
        let link = LinkState { version, ..full_link(2) };
        assert!(matches!(store.update(&link).await, Err(StoreError::Conflict)), "version {version}");
    }
    assert_eq!(store.get(issue(2)).await.expect("get"), None);
}

async fn of_two_concurrent_updates_from_one_read_exactly_one_wins(store: &dyn Links) {
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

async fn a_link_is_found_by_its_gitlab_issue_only_once_linked(store: &dyn Links) {
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

async fn a_link_dynamodb_would_refuse_is_refused_for_good(store: &dyn Links) {
    // A description is stored as a hash; a caller that forgot would exceed DynamoDB's 400 KB item.
    let mut huge = full_link(8);
    huge.to_gitlab.insert(Field::Description, Written::new("x".repeat(410 * 1024), None));
    assert_refused(store.create(&huge).await, "a link over 400 KB");
    assert_eq!(store.get(issue(8)).await.expect("get"), None, "nothing was stored");

    let stored = store.create(&full_link(8)).await.expect("create");
    assert_refused(store.update(&LinkState { version: stored.version, ..huge }).await, "an update over 400 KB");
    assert_eq!(store.get(issue(8)).await.expect("get"), Some(stored), "nothing was changed");
}
