//! The [`CommentLinks`] contract: a comment is linked once, changed only at its stored version,
//! and a note and a QALITA comment of the same number are different links.

use qalita_gitlab_core::domain::link::{CommentKey, CommentLink, Reservation};
use qalita_gitlab_core::ports::{CommentLinks, StoreError};

use super::{issue, time};

/// Runs the whole suite on an empty store that nothing else uses.
pub async fn run(store: &dyn CommentLinks) {
    a_comment_is_linked_once_and_changed_only_at_its_version(store).await;
}

async fn a_comment_is_linked_once_and_changed_only_at_its_version(store: &dyn CommentLinks) {
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
