//! The [`Settings`] contract: cursors read back what was last set, the operator's switch
//! round-trips, the configuration document is written only over the document the writer read (a
//! stale write is a conflict and changes nothing, one of two racing writes wins), a rate budget gives
//! exactly its limit in each window, and refusal of what DynamoDB would refuse.

use qalita_gitlab_core::ports::{IntegrationSwitch, Settings, StoreError};

use super::assert_refused;

/// Runs the whole suite on an empty store that nothing else uses.
pub async fn run(store: &dyn Settings) {
    cursors_read_back_what_was_last_set(store).await;
    the_switch_is_enabled_until_disabled_and_reads_back_what_was_last_set(store).await;
    the_configuration_document_is_absent_until_one_is_applied(store).await;
    a_configuration_write_over_a_stale_document_conflicts_and_changes_nothing(store).await;
    of_two_configuration_writes_from_one_read_exactly_one_wins(store).await;
    settings_dynamodb_would_refuse_are_refused_for_good(store).await;
    a_budget_gives_exactly_its_limit_in_each_window(store).await;
}

async fn cursors_read_back_what_was_last_set(store: &dyn Settings) {
    assert_eq!(store.cursor("poll").await.expect("cursor"), None);
    store.set_cursor("poll", "2025-03-04T05:06:07Z").await.expect("set");
    store.set_cursor("backfill/project-1", "page=3").await.expect("set");
    store.set_cursor("poll", "2025-03-04T06:00:00Z").await.expect("set again");
    assert_eq!(store.cursor("poll").await.expect("cursor").as_deref(), Some("2025-03-04T06:00:00Z"));
    assert_eq!(store.cursor("backfill/project-1").await.expect("cursor").as_deref(), Some("page=3"));
}

async fn the_switch_is_enabled_until_disabled_and_reads_back_what_was_last_set(store: &dyn Settings) {
    assert_eq!(store.switch().await.expect("switch"), IntegrationSwitch::Enabled, "never switched");
    store.set_switch(IntegrationSwitch::Disabled).await.expect("disable");
    assert_eq!(store.switch().await.expect("switch"), IntegrationSwitch::Disabled);
    store.set_switch(IntegrationSwitch::Disabled).await.expect("disable again");
    assert_eq!(store.switch().await.expect("switch"), IntegrationSwitch::Disabled);
    store.set_switch(IntegrationSwitch::Enabled).await.expect("enable");
    assert_eq!(store.switch().await.expect("switch"), IntegrationSwitch::Enabled);
}

const FIRST: &str = "[routing]\ndefault_project = \"group/sub/project\"\n# é\n";
const SECOND: &str = "[sync]\npoll_page_size = 50\n";

async fn the_configuration_document_is_absent_until_one_is_applied(store: &dyn Settings) {
    assert_eq!(store.config_document().await.expect("read"), None);
    let over_nothing = store.put_config_document(Some(FIRST), SECOND).await;
    assert!(
        matches!(over_nothing, Err(StoreError::Conflict)),
        "a write over a document never stored: {over_nothing:?}"
    );
    assert_eq!(store.config_document().await.expect("read"), None, "nothing was stored");

    store.put_config_document(None, FIRST).await.expect("the first document");
    assert_eq!(store.config_document().await.expect("read").as_deref(), Some(FIRST));
}

async fn a_configuration_write_over_a_stale_document_conflicts_and_changes_nothing(store: &dyn Settings) {
    let current = store.config_document().await.expect("read").expect("applied before");
    for stale in [None, Some("[routing]\n"), Some("")] {
        let result = store.put_config_document(stale, SECOND).await;
        assert!(matches!(result, Err(StoreError::Conflict)), "over {stale:?}: {result:?}");
        assert_eq!(store.config_document().await.expect("read").as_deref(), Some(current.as_str()), "over {stale:?}");
    }
    store.put_config_document(Some(&current), SECOND).await.expect("over the document read");
    assert_eq!(store.config_document().await.expect("read").as_deref(), Some(SECOND));
    store.put_config_document(Some(SECOND), SECOND).await.expect("the same document again");
}

async fn of_two_configuration_writes_from_one_read_exactly_one_wins(store: &dyn Settings) {
    let read = store.config_document().await.expect("read");
    let (left, right) = ("# left\n", "# right\n");
    let (left_result, right_result) = tokio::join!(
        store.put_config_document(read.as_deref(), left),
        store.put_config_document(read.as_deref(), right)
    );
    let winner = match (left_result, right_result) {
        (Ok(()), Err(StoreError::Conflict)) => left,
        (Err(StoreError::Conflict), Ok(())) => right,
        other => panic!("exactly one write must win, the other conflict: {other:?}"),
    };
    assert_eq!(store.config_document().await.expect("read").as_deref(), Some(winner));
}

async fn settings_dynamodb_would_refuse_are_refused_for_good(store: &dyn Settings) {
    assert_refused(store.set_cursor("", "v").await, "an empty cursor name");
    assert_refused(store.cursor(&"c".repeat(3000)).await, "a cursor name over DynamoDB's key length");
    let before = store.config_document().await.expect("read");
    let huge = "#".repeat(401 * 1024);
    assert_refused(store.put_config_document(before.as_deref(), &huge).await, "a document over 400 KB");
    assert_eq!(store.config_document().await.expect("read"), before, "nothing was changed");
}

async fn a_budget_gives_exactly_its_limit_in_each_window(store: &dyn Settings) {
    let window = 1_764_000_000;
    let mut taken = Vec::new();
    for _ in 0..5 {
        taken.push(store.take_budget("gitlab:issue-creations", window, 3).await.expect("take"));
    }
    assert_eq!(taken, [true, true, true, false, false], "three uses, then none");
    assert!(store.take_budget("gitlab:note-creations", window, 1).await.expect("take"), "budgets are apart");
    assert!(!store.take_budget("gitlab:note-creations", window, 1).await.expect("take"));
    assert!(store.take_budget("gitlab:issue-creations", window + 60, 3).await.expect("take"), "a new window");
    assert!(store.take_budget("gitlab:issue-creations", window + 60, 3).await.expect("take"));
    assert!(store.take_budget("gitlab:issue-creations", window + 60, 3).await.expect("take"));
    assert!(!store.take_budget("gitlab:issue-creations", window + 60, 3).await.expect("take"), "spent again");
    assert!(
        !store.take_budget("gitlab:issue-creations", window, 3).await.expect("take"),
        "a past window gives nothing"
    );
    let refused = store.take_budget("", window, 3).await;
    assert!(matches!(refused, Err(StoreError::Rejected { .. })), "an empty name: {refused:?}");
}
