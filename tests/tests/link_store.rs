//! Both link stores keep the contract of every capability of the
//! [`LinkStore`](qalita_gitlab_core::ports::LinkStore): the DynamoDB one on the local stack, with
//! the item layout of DESIGN section 4, and the in-memory one. Then what is particular to each.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{TimeDelta, Utc};
use qalita_gitlab_core::adapters::dynamodb::DynamoLinkStore;
use qalita_gitlab_core::adapters::memory_store::MemoryLinkStore;
use qalita_gitlab_core::domain::link::{GitlabLink, LinkState, LogEntry, LogLevel};
use qalita_gitlab_core::domain::{GitlabProjectId, Iid, QalitaIssueId};
use qalita_gitlab_core::ports::{IntegrationLog, IntegrationSwitch, Links, Settings, StoreError};
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
async fn the_dynamodb_store_keeps_the_links_contract() {
    let aws = LocalAws::connect().await;
    contract::links::run(&dynamo_store(&aws).await, contract::links::Races::DecidedByTheService).await;
}

#[tokio::test]
async fn the_dynamodb_store_keeps_the_comment_links_contract() {
    let aws = LocalAws::connect().await;
    contract::comment_links::run(&dynamo_store(&aws).await).await;
}

#[tokio::test]
async fn the_dynamodb_store_keeps_the_integration_log_contract() {
    let aws = LocalAws::connect().await;
    contract::integration_log::run(&dynamo_store(&aws).await).await;
}

#[tokio::test]
async fn the_dynamodb_store_keeps_the_settings_contract() {
    let aws = LocalAws::connect().await;
    contract::settings::run(&dynamo_store(&aws).await).await;
}

#[tokio::test]
async fn the_memory_store_keeps_the_links_contract() {
    contract::links::run(&MemoryLinkStore::new(), contract::links::Races::DecidedByTheAdapter).await;
}

#[tokio::test]
async fn the_memory_store_keeps_the_comment_links_contract() {
    contract::comment_links::run(&MemoryLinkStore::new()).await;
}

#[tokio::test]
async fn the_memory_store_keeps_the_integration_log_contract() {
    contract::integration_log::run(&MemoryLinkStore::new()).await;
}

#[tokio::test]
async fn the_memory_store_keeps_the_settings_contract() {
    contract::settings::run(&MemoryLinkStore::new()).await;
}

#[tokio::test]
async fn dynamodb_items_follow_the_layout_of_the_design() {
    let aws = LocalAws::connect().await;
    let store = dynamo_store(&aws).await;
    let reserved = store.create(&LinkState::reserved(issue(1), "t".into(), Utc::now())).await.expect("create");
    store.put_config_document(None, "[sync]\n").await.expect("apply a configuration");
    store.put_config_document(Some("[sync]\n"), "[routing]\n").await.expect("apply another");
    store.set_switch(IntegrationSwitch::Disabled).await.expect("disable");
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

    let config = raw("CONFIG", "CURRENT").await;
    assert_eq!(config["document"], AttributeValue::S("[routing]\n".into()));
    assert_eq!(config["version"], AttributeValue::N("2".into()), "the count of documents applied");
    let applied_at = config["applied_at"].as_s().expect("a string");
    assert!(chrono::DateTime::parse_from_rfc3339(applied_at).is_ok(), "{applied_at}");
    let switch = raw("CURSOR#integration-state", "CURSOR").await;
    assert_eq!(switch["value"], AttributeValue::S("disabled".into()), "where every version kept the switch");

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
    let store = MemoryLinkStore::new();
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
    assert!(unavailable(store.cursor("poll").await.map(drop)));
    assert!(unavailable(store.set_cursor("poll", "v").await));
    assert!(unavailable(store.switch().await.map(drop)));
    assert!(unavailable(store.set_switch(IntegrationSwitch::Disabled).await));
    assert!(unavailable(store.config_document().await.map(drop)));
    assert!(unavailable(store.put_config_document(None, "[sync]\n").await));
    assert!(unavailable(store.log(issue(1)).await.map(drop)));
    assert!(unavailable(store.recent_log(Utc::now(), false).await.map(drop)));

    store.set_down(false);
    assert_eq!(store.get(issue(1)).await.expect("up again"), Some(link), "nothing was lost");
}
