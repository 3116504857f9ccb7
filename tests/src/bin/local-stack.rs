//! Creates the resources of `template.yaml` (queues, table, secrets) on a local moto server and
//! prints the environment the webhook function needs, for running it locally with
//! `cargo lambda watch`:
//!
//! ```sh
//! eval "$(cargo run -q -p qalita-gitlab-tests --bin local-stack)"
//! ```
//!
//! Requires `AWS_ENDPOINT_URL` to name the moto server on loopback (see the README).

use qalita_gitlab_tests::local_aws::LocalAws;
use qalita_gitlab_tests::stack::{TestStack, ids};

/// The webhook secret the sample events in `events/` carry.
const EXAMPLE_SECRET: &str = "example-webhook-secret";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "local", EXAMPLE_SECRET).await;
    println!("export EVENT_QUEUE_URL='{}'", stack.queue_url);
    println!("export WEBHOOK_SECRET_ID='{}'", stack.secret(ids::WEBHOOK_SECRET));
    println!("export SYNC_TABLE_NAME='{}'", stack.table_name);
    println!("export DEAD_LETTER_QUEUE_URL='{}'", stack.dead_letter_url);
}
