//! Both link stores keep the [`LinkStore`](qalita_gitlab_core::ports::LinkStore) contract: the
//! DynamoDB one on the local stack, with the item layout of DESIGN section 4, and the in-memory
//! one on a manual clock. Then what is particular to each.

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, Utc};
use qalita_gitlab_core::adapters::dynamodb::DynamoLinkStore;
use qalita_gitlab_core::adapters::memory::ManualClock;
use qalita_gitlab_core::adapters::memory_store::MemoryLinkStore;
use qalita_gitlab_core::domain::link::{GitlabLink, LinkState, LogEntry, LogLevel};
use qalita_gitlab_core::domain::{GitlabProjectId, Iid, QalitaIssueId};
use qalita_gitlab_core::ports::{Clock, LinkStore, StoreError};
use qalita_gitlab_tests::contract;
use qalita_gitlab_tests::local_aws::LocalAws;
use qalita_gitlab_tests::stack::TestStack;

const LOG_TTL: TimeDelta = TimeDelta::days(90);

async fn dynamo_store(aws: &LocalAws) -> DynamoLinkStore {
    let stack = TestStack::create(aws, "ls", "unused").await;
    DynamoLinkStore::new(aws.dynamodb(), stack.table_name, LOG_TTL)
}

fn issue(raw: u64) -> QalitaIssueId {
    QalitaIssueId::new(raw).expect("a positive id")
}

#[tokio::test]
async fn the_dynamodb_store_keeps_the_link_store_contract() {
    let aws = LocalAws::connect().await;
    let store = dynamo_store(&aws).await;
    let client = aws.dynamodb();
    let put_config = async |document: &str| {
        client
            .put_item()
            .table_name(store.table())
            .item("pk", AttributeValue::S("CONFIG".into()))
            .item("sk", AttributeValue::S("CURRENT".into()))
            .item("document", AttributeValue::S(document.into()))
            .send()
            .await
            .expect("put the configuration item");
    };
    contract::link_store::run(&store, put_config).await;
}

#[tokio::test]
async fn the_memory_store_keeps_the_link_store_contract() {
    let store = MemoryLinkStore::new(Arc::new(ManualClock::at(Utc::now())));
    contract::link_store::run(&store, async |document: &str| store.put_config_document(document)).await;
}

#[tokio::test]
async fn dynamodb_items_follow_the_layout_of_the_design() {
    let aws = LocalAws::connect().await;
    let store = dynamo_store(&aws).await;
    let reserved = store.create(&LinkState::reserved(issue(1), "t".into(), Utc::now())).await.expect("create");
    store.mark_seen("gitlab", "d-1", Utc::now() + TimeDelta::hours(1)).await.expect("mark");
    store
        .append_log(&LogEntry {
            issue: issue(1),
            at: Utc::now(),
            level: LogLevel::Info,
            kind: "k".into(),
            message: "m".into(),
        })
        .await
        .expect("append");
    let raw = |pk: &str, sk: &str| {
        let (client, table) = (aws.dynamodb(), store.table().to_owned());
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        async move {
            let key = [("pk", pk), ("sk", sk)].map(|(k, v)| (k.to_owned(), AttributeValue::S(v)));
            let output = client.get_item().table_name(table).set_key(Some(key.into())).send().await.expect("get item");
            output.item.expect("the item exists")
        }
    };

    let link = raw("QALITA#1", "LINK").await;
    assert_eq!(link["version"], AttributeValue::N("1".into()));
    assert_eq!(link["status"], AttributeValue::S("reserved".into()));
    assert!(!link.contains_key("gsi1pk"), "a reservation is not in the reverse index");
    let mut linked = reserved;
    linked.gitlab = Some(GitlabLink {
        project_id: GitlabProjectId::new(12).expect("positive"),
        iid: Iid::new(34).expect("positive"),
        issue_id: 5678,
        web_url: "https://gitlab.example/p/-/issues/34".into(),
    });
    store.update(&linked).await.expect("link");
    let link = raw("QALITA#1", "LINK").await;
    assert_eq!(link["gsi1pk"], AttributeValue::S("GITLAB#12#34".into()));
    assert_eq!(link["version"], AttributeValue::N("2".into()));

    let seen = raw("EVENT#gitlab#d-1", "EVENT").await;
    assert!(seen["expires_at"].as_n().is_ok(), "the TTL attribute is a number: {seen:?}");

    let logs = aws
        .dynamodb()
        .query()
        .table_name(store.table())
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("LOG#1".into()))
        .send()
        .await
        .expect("query");
    let log = &logs.items()[0];
    let expires: i64 = log["expires_at"].as_n().expect("a number").parse().expect("epoch seconds");
    let expected = (Utc::now() + LOG_TTL).timestamp();
    assert!((expected - 60..=expected).contains(&expires), "a log entry expires after the log TTL: {expires}");
}

#[tokio::test]
async fn a_missing_table_is_refused_for_good_with_the_aws_code() {
    let aws = LocalAws::connect().await;
    let store = DynamoLinkStore::new(aws.dynamodb(), "no-such-table-anywhere", LOG_TTL);
    match store.get(issue(1)).await {
        Err(StoreError::Rejected { class, .. }) => assert_eq!(class, "ResourceNotFoundException"),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_dynamodb_is_unavailable() {
    let aws = LocalAws::connect().await;
    let config = aws_sdk_dynamodb::config::Builder::from(aws.config())
        .endpoint_url("http://127.0.0.1:9")
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .build();
    let store = DynamoLinkStore::new(aws_sdk_dynamodb::Client::from_conf(config), "t", LOG_TTL);
    let error = store.cursor("poll").await.expect_err("nothing listens on port 9");
    assert!(matches!(error, StoreError::Unavailable { .. }) && error.is_transient(), "{error}");
}

#[tokio::test]
async fn a_memory_store_switched_down_fails_every_call_as_unavailable() {
    let store = MemoryLinkStore::new(Arc::new(ManualClock::at(Utc::now())));
    let link = store.create(&LinkState::reserved(issue(1), "t".into(), Utc::now())).await.expect("create");
    store.set_down(true);
    let unavailable = |result: Result<(), StoreError>| matches!(result, Err(StoreError::Unavailable { .. }));
    assert!(unavailable(store.get(issue(1)).await.map(drop)));
    assert!(unavailable(store.create(&link).await.map(drop)));
    assert!(unavailable(store.update(&link).await.map(drop)));
    assert!(unavailable(
        store
            .find_by_gitlab(GitlabProjectId::new(12).expect("positive"), Iid::new(34).expect("positive"))
            .await
            .map(drop)
    ));
    assert!(unavailable(store.mark_seen("gitlab", "k", Utc::now()).await.map(drop)));
    assert!(unavailable(store.cursor("poll").await.map(drop)));
    assert!(unavailable(store.set_cursor("poll", "v").await));
    assert!(unavailable(store.config_document().await.map(drop)));
    assert!(unavailable(store.log(issue(1)).await.map(drop)));

    store.set_down(false);
    assert_eq!(store.get(issue(1)).await.expect("up again"), Some(link), "nothing was lost");
}

#[tokio::test]
async fn a_delivery_record_of_the_memory_store_expires_by_its_clock() {
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let store = MemoryLinkStore::new(clock.clone());
    let expires_at = clock.now() + TimeDelta::minutes(10);
    assert!(store.mark_seen("gitlab", "k", expires_at).await.expect("mark"));
    clock.advance(TimeDelta::minutes(10));
    assert!(!store.mark_seen("gitlab", "k", expires_at).await.expect("mark"), "not expired at its expiry");
    clock.advance(TimeDelta::seconds(1));
    assert!(store.mark_seen("gitlab", "k", clock.now() + TimeDelta::minutes(10)).await.expect("mark"));
}
