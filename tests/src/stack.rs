//! The resources of `template.yaml` (table, FIFO queue and its dead-letter queue, secrets) created
//! on the local stack under a name of the test's own, so that tests run in parallel. Properties
//! are read from the template, never restated here.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ScalarAttributeType, SseSpecification,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::local_aws::LocalAws;
use crate::template::{Resolver, Template};

/// Logical ids in `template.yaml`.
pub mod ids {
    /// The FIFO event queue.
    pub const QUEUE: &str = "EventQueue";
    /// Its dead-letter queue.
    pub const DEAD_LETTER_QUEUE: &str = "EventDeadLetterQueue";
    /// The table.
    pub const TABLE: &str = "SyncTable";
    /// The GitLab webhook secret.
    pub const WEBHOOK_SECRET: &str = "WebhookSecret";
    /// The GitLab access token.
    pub const GITLAB_TOKEN: &str = "GitlabTokenSecret";
    /// The QALITA API token.
    pub const QALITA_TOKEN: &str = "QalitaTokenSecret";
    /// The QALITA webhook's shared secret.
    pub const QALITA_WEBHOOK_SECRET: &str = "QalitaWebhookSecret";
}

/// The value the local stack gives the QALITA webhook's shared secret (CloudFormation would
/// generate one).
pub const QALITA_WEBHOOK_SECRET_VALUE: &str = "qalita-webhook-secret-for-tests-4f9c";

/// One test's copy of the stack's resources.
#[derive(Debug, Clone)]
pub struct TestStack {
    /// The name standing for `AWS::StackName`.
    pub name: String,
    /// The event queue's URL.
    pub queue_url: String,
    /// The event queue's ARN.
    pub queue_arn: String,
    /// The dead-letter queue's URL.
    pub dead_letter_url: String,
    /// The dead-letter queue's ARN.
    pub dead_letter_arn: String,
    /// The table's name.
    pub table_name: String,
    /// Secret names by logical id.
    pub secrets: HashMap<String, String>,
}

#[derive(Default)]
struct Created {
    refs: HashMap<String, String>,
    arns: HashMap<String, String>,
}

impl Resolver for Created {
    fn reference(&self, logical_id: &str) -> Option<String> {
        self.refs.get(logical_id).cloned()
    }
    fn attribute(&self, logical_id: &str, attribute: &str) -> Option<String> {
        match attribute {
            "Arn" => self.arns.get(logical_id).cloned(),
            "QueueName" => self.refs.get(logical_id).and_then(|url| url.rsplit('/').next()).map(str::to_owned),
            _ => None,
        }
    }
}

impl TestStack {
    /// Creates the template's table, queues and secrets on the local stack, under a fresh name
    /// that starts with `prefix`. `webhook_secret` is the webhook secret's value (CloudFormation
    /// would generate one).
    ///
    /// # Panics
    /// When the local stack refuses a resource: the test cannot run without it.
    pub async fn create(aws: &LocalAws, prefix: &str, webhook_secret: &str) -> Self {
        let template = Template::load();
        let name = crate::unique_name(prefix);
        let mut created = Created::default();

        // The dead-letter queue first: the event queue's redrive policy names its ARN.
        for id in [ids::DEAD_LETTER_QUEUE, ids::QUEUE] {
            let properties = template.resolve(template.properties(id), &name, &created);
            let (url, arn) = create_queue(aws, &properties).await;
            created.refs.insert(id.to_owned(), url);
            created.arns.insert(id.to_owned(), arn);
        }

        let table_name = format!("{name}-table");
        let properties = template.resolve(template.properties(ids::TABLE), &name, &created);
        create_table(aws, &table_name, &properties).await;
        created.refs.insert(ids::TABLE.to_owned(), table_name.clone());

        let mut secrets = HashMap::new();
        for id in [ids::WEBHOOK_SECRET, ids::GITLAB_TOKEN, ids::QALITA_TOKEN, ids::QALITA_WEBHOOK_SECRET] {
            let properties = template.resolve(template.properties(id), &name, &created);
            let secret_name = properties["Name"].as_str().unwrap_or_else(|| panic!("{id} has no Name")).to_owned();
            let value = match id {
                ids::WEBHOOK_SECRET => webhook_secret.to_owned(),
                ids::QALITA_WEBHOOK_SECRET => QALITA_WEBHOOK_SECRET_VALUE.to_owned(),
                _ => format!("placeholder-for-{id}"),
            };
            let output = aws
                .secrets()
                .create_secret()
                .name(&secret_name)
                .set_description(properties["Description"].as_str().map(str::to_owned))
                .secret_string(value)
                .send()
                .await
                .unwrap_or_else(|e| {
                    panic!("create secret {secret_name}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
                });
            created.arns.insert(id.to_owned(), output.arn.unwrap_or_default());
            secrets.insert(id.to_owned(), secret_name);
        }

        TestStack {
            name,
            queue_url: created.refs[ids::QUEUE].clone(),
            queue_arn: created.arns[ids::QUEUE].clone(),
            dead_letter_url: created.refs[ids::DEAD_LETTER_QUEUE].clone(),
            dead_letter_arn: created.arns[ids::DEAD_LETTER_QUEUE].clone(),
            table_name,
            secrets,
        }
    }

    /// The name of the secret with this logical id.
    pub fn secret(&self, logical_id: &str) -> &str {
        &self.secrets[logical_id]
    }
}

/// SQS attributes that CloudFormation sets from a property of the same name.
const QUEUE_ATTRIBUTES: &[&str] = &[
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
];

async fn create_queue(aws: &LocalAws, properties: &Value) -> (String, String) {
    let name = properties["QueueName"].as_str().expect("every queue of the template has a QueueName");
    let mut request = aws.sqs().create_queue().queue_name(name);
    for attribute in QUEUE_ATTRIBUTES {
        if let Some(value) = properties.get(*attribute) {
            request = request.attributes(QueueAttributeName::from(*attribute), scalar(value));
        }
    }
    for policy in ["RedrivePolicy", "RedriveAllowPolicy"] {
        if let Some(value) = properties.get(policy) {
            request = request.attributes(QueueAttributeName::from(policy), value.to_string());
        }
    }
    let url = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("create queue {name}: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))
        .queue_url
        .unwrap_or_default();
    let attributes = aws
        .sqs()
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("queue {name} attributes: {}", aws_sdk_sqs::error::DisplayErrorContext(e)));
    let arn = attributes.attributes.and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned()).unwrap_or_default();
    (url, arn)
}

/// A template scalar as SQS wants it: `true`, `180`, `messageGroup`.
fn scalar(value: &Value) -> String {
    value.as_str().map(str::to_owned).unwrap_or_else(|| value.to_string())
}

fn key_schema(value: &Value) -> Vec<KeySchemaElement> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().unwrap_or_default())
                .key_type(KeyType::from(k["KeyType"].as_str().unwrap_or_default()))
                .build()
                .expect("a key schema element has a name and a type")
        })
        .collect()
}

async fn create_table(aws: &LocalAws, table_name: &str, properties: &Value) {
    let definitions = properties["AttributeDefinitions"].as_array().into_iter().flatten().map(|d| {
        AttributeDefinition::builder()
            .attribute_name(d["AttributeName"].as_str().unwrap_or_default())
            .attribute_type(ScalarAttributeType::from(d["AttributeType"].as_str().unwrap_or_default()))
            .build()
            .expect("an attribute definition has a name and a type")
    });
    let indexes = properties["GlobalSecondaryIndexes"].as_array().into_iter().flatten().map(|g| {
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(g["Projection"]["ProjectionType"].as_str().unwrap_or("ALL")))
            .set_non_key_attributes(
                g["Projection"]["NonKeyAttributes"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()),
            )
            .build();
        GlobalSecondaryIndex::builder()
            .index_name(g["IndexName"].as_str().unwrap_or_default())
            .set_key_schema(Some(key_schema(&g["KeySchema"])))
            .projection(projection)
            .build()
            .expect("an index has a name, keys and a projection")
    });
    aws.dynamodb()
        .create_table()
        .table_name(table_name)
        .set_attribute_definitions(Some(definitions.collect()))
        .set_key_schema(Some(key_schema(&properties["KeySchema"])))
        .set_global_secondary_indexes(Some(indexes.collect()))
        .billing_mode(BillingMode::from(properties["BillingMode"].as_str().unwrap_or("PAY_PER_REQUEST")))
        .sse_specification(
            SseSpecification::builder()
                .enabled(properties["SSESpecification"]["SSEEnabled"].as_bool().unwrap_or(false))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create table {table_name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)));

    if let Some(ttl) = properties.get("TimeToLiveSpecification") {
        let specification = TimeToLiveSpecification::builder()
            .attribute_name(ttl["AttributeName"].as_str().unwrap_or_default())
            .enabled(ttl["Enabled"].as_bool().unwrap_or(false))
            .build()
            .expect("a TTL specification has an attribute and a switch");
        aws.dynamodb()
            .update_time_to_live()
            .table_name(table_name)
            .time_to_live_specification(specification)
            .send()
            .await
            .unwrap_or_else(|e| panic!("TTL of {table_name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)));
    }
    if let Some(pitr) = properties.get("PointInTimeRecoverySpecification") {
        let specification = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(pitr["PointInTimeRecoveryEnabled"].as_bool().unwrap_or(false))
            .build()
            .expect("a recovery specification has a switch");
        aws.dynamodb()
            .update_continuous_backups()
            .table_name(table_name)
            .point_in_time_recovery_specification(specification)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("recovery of {table_name}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e))
            });
    }
}
