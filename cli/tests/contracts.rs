//! The embedded adapters keep the same contracts as the AWS and in-memory ones: every capability
//! of the redb link store, the queue and its administration, and both local secret sources.

mod common;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};

use chrono::{TimeDelta, Utc};
use qalita_gitlab::embedded::queue::{EmbeddedQueue, QueueOptions};
use qalita_gitlab::embedded::secrets::{EnvSecrets, FileSecrets};
use qalita_gitlab::embedded::store::RedbLinkStore;
use qalita_gitlab_core::adapters::memory::ManualClock;
use qalita_gitlab_tests::contract;

use common::Scratch;

async fn redb_store(scratch: &Scratch) -> RedbLinkStore {
    let db = scratch.open().await;
    let clock = Arc::new(ManualClock::at(Utc::now()));
    RedbLinkStore::open(&db, clock, TimeDelta::days(90)).await.expect("open the store")
}

#[tokio::test]
async fn the_redb_store_keeps_the_links_contract() {
    let scratch = Scratch::new();
    contract::links::run(&redb_store(&scratch).await, contract::links::Races::DecidedByTheAdapter).await;
}

#[tokio::test]
async fn the_redb_store_keeps_the_comment_links_contract() {
    let scratch = Scratch::new();
    contract::comment_links::run(&redb_store(&scratch).await).await;
}

#[tokio::test]
async fn the_redb_store_keeps_the_integration_log_contract() {
    let scratch = Scratch::new();
    contract::integration_log::run(&redb_store(&scratch).await).await;
}

#[tokio::test]
async fn the_redb_store_keeps_the_settings_contract() {
    let scratch = Scratch::new();
    contract::settings::run(&redb_store(&scratch).await).await;
}

#[tokio::test]
async fn the_embedded_queue_keeps_the_event_queue_contract() {
    let scratch = Scratch::new();
    let db = scratch.open().await;
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let queue = EmbeddedQueue::open(&db, clock, QueueOptions::default()).await.expect("open the queue");
    contract::event_queue::run(&queue).await;
}

#[tokio::test]
async fn the_embedded_queue_keeps_the_queue_admin_contract() {
    let scratch = Scratch::new();
    let db = scratch.open().await;
    let clock = Arc::new(ManualClock::at(Utc::now()));
    let queue = EmbeddedQueue::open(&db, clock, QueueOptions::default()).await.expect("open the queue");
    contract::queue_admin::run(&queue, &queue).await;
}

#[tokio::test]
async fn environment_secrets_keep_the_secret_source_contract() {
    let variables = Arc::new(Mutex::new(HashMap::from([("LOCAL_SECRET".to_owned(), "first".to_owned())])));
    let lookup = variables.clone();
    let secrets =
        EnvSecrets::with_lookup(move |name| lookup.lock().expect("the variables").get(name).map(OsString::from));
    let rotate = async |value: &str| {
        let mut variables = variables.lock().expect("the variables");
        let previous = variables.insert("LOCAL_SECRET".into(), value.into()).expect("a current value");
        variables.insert("LOCAL_SECRET_PREVIOUS".into(), previous);
    };
    contract::secret_source::run(&secrets, "local/secret", "missing/secret", rotate).await;
}

#[tokio::test]
async fn file_secrets_keep_the_secret_source_contract() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("secrets.toml");
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).expect("create");
    file.write_all(b"\"local/secret\" = \"first\"\n").expect("write");
    drop(file);
    let secrets = FileSecrets::open(&path).await.expect("a private, valid file");
    let rotate = async |value: &str| {
        let text = format!("\"local/secret\" = {{ current = \"{value}\", previous = \"first\" }}\n");
        std::fs::write(&path, text).expect("rewrite the file, keeping its mode");
    };
    contract::secret_source::run(&secrets, "local/secret", "missing/secret", rotate).await;
}
