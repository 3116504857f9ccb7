//! The local stack is built from `template.yaml`: what moto holds after `TestStack::create` must be
//! what the template declares, and the template must have the shape DESIGN section 4 and 5 give.

use aws_sdk_dynamodb::types::{KeyType, ProjectionType, ScalarAttributeType, TimeToLiveStatus};
use aws_sdk_sqs::types::QueueAttributeName;
use qalita_gitlab_tests::local_aws::LocalAws;
use qalita_gitlab_tests::stack::{TestStack, ids};
use qalita_gitlab_tests::template::Template;
use serde_json::{Value, json};

#[test]
fn the_template_declares_the_table_and_queues_of_the_design() {
    let template = Template::load();
    let table = template.properties(ids::TABLE);
    assert_eq!(template.resource_type(ids::TABLE), Some("AWS::DynamoDB::Table"));
    assert_eq!(
        table["KeySchema"],
        json!([{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    );
    let mut definitions = table["AttributeDefinitions"].as_array().unwrap().clone();
    definitions.sort_by_key(|d| d["AttributeName"].as_str().unwrap().to_owned());
    assert_eq!(
        Value::Array(definitions),
        json!([
            {"AttributeName": "gsi1pk", "AttributeType": "S"},
            {"AttributeName": "gsi2pk", "AttributeType": "S"},
            {"AttributeName": "gsi2sk", "AttributeType": "S"},
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"}
        ])
    );
    assert_eq!(table["GlobalSecondaryIndexes"][0]["IndexName"], "GSI1");
    assert_eq!(
        table["GlobalSecondaryIndexes"][0]["KeySchema"],
        json!([{"AttributeName": "gsi1pk", "KeyType": "HASH"}])
    );
    // The comment sweep's line: sparse, ordered, keys only.
    assert_eq!(table["GlobalSecondaryIndexes"][1]["IndexName"], "GSI2");
    assert_eq!(
        table["GlobalSecondaryIndexes"][1]["KeySchema"],
        json!([{"AttributeName": "gsi2pk", "KeyType": "HASH"}, {"AttributeName": "gsi2sk", "KeyType": "RANGE"}])
    );
    assert_eq!(table["GlobalSecondaryIndexes"][1]["Projection"], json!({"ProjectionType": "KEYS_ONLY"}));
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["TimeToLiveSpecification"], json!({"AttributeName": "expires_at", "Enabled": true}));
    assert_eq!(table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(table["SSESpecification"]["SSEEnabled"], true);

    for id in [ids::QUEUE, ids::DEAD_LETTER_QUEUE] {
        let queue = template.properties(id);
        assert_eq!(queue["FifoQueue"], true, "{id} is FIFO");
        assert_eq!(queue["ContentBasedDeduplication"], false, "{id}: deduplication ids come from the deliveries");
        assert!(queue["QueueName"]["Fn::Sub"].as_str().unwrap().ends_with(".fifo"));
    }
    let redrive = &template.properties(ids::QUEUE)["RedrivePolicy"];
    assert_eq!(redrive["deadLetterTargetArn"], json!({"Fn::GetAtt": [ids::DEAD_LETTER_QUEUE, "Arn"]}));
    assert_eq!(redrive["maxReceiveCount"], json!({"Ref": "MaxReceiveCount"}));
    assert!(template.parameter_default("MaxReceiveCount").and_then(Value::as_u64).is_some_and(|n| n >= 2));
}

#[tokio::test]
async fn the_local_stack_holds_exactly_what_the_template_declares() {
    let aws = LocalAws::connect().await;
    let stack = TestStack::create(&aws, "tpl", "secret-value").await;
    let template = Template::load();

    // The table: keys, attribute types, the index, billing, TTL, recovery.
    let declared = template.properties(ids::TABLE);
    let table = aws.dynamodb().describe_table().table_name(&stack.table_name).send().await.unwrap().table.unwrap();
    let keys: Vec<(String, KeyType)> =
        table.key_schema().iter().map(|k| (k.attribute_name().to_owned(), k.key_type().clone())).collect();
    let declared_keys: Vec<(String, KeyType)> = declared["KeySchema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["AttributeName"].as_str().unwrap().to_owned(), KeyType::from(k["KeyType"].as_str().unwrap())))
        .collect();
    assert_eq!(keys, declared_keys);
    let mut types: Vec<(String, ScalarAttributeType)> = table
        .attribute_definitions()
        .iter()
        .map(|d| (d.attribute_name().to_owned(), d.attribute_type().clone()))
        .collect();
    types.sort_by(|a, b| a.0.cmp(&b.0));
    let mut declared_types: Vec<(String, ScalarAttributeType)> = declared["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["AttributeName"].as_str().unwrap().to_owned(),
                ScalarAttributeType::from(d["AttributeType"].as_str().unwrap()),
            )
        })
        .collect();
    declared_types.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(types, declared_types);
    let indexes = table.global_secondary_indexes();
    assert_eq!(indexes.len(), declared["GlobalSecondaryIndexes"].as_array().unwrap().len());
    let gsi = &indexes[0];
    assert_eq!(gsi.index_name(), declared["GlobalSecondaryIndexes"][0]["IndexName"].as_str());
    let gsi_keys: Vec<&str> = gsi.key_schema().iter().map(|k| k.attribute_name()).collect();
    assert_eq!(gsi_keys, ["gsi1pk"]);
    assert_eq!(gsi.projection().and_then(|p| p.projection_type()), Some(&ProjectionType::All));
    let ttl = aws
        .dynamodb()
        .describe_time_to_live()
        .table_name(&stack.table_name)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), declared["TimeToLiveSpecification"]["AttributeName"].as_str());
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    let backups = aws.dynamodb().describe_continuous_backups().table_name(&stack.table_name).send().await.unwrap();
    let pitr = backups.continuous_backups_description.unwrap().point_in_time_recovery_description.unwrap();
    assert_eq!(pitr.point_in_time_recovery_status().map(|s| s.as_str()), Some("ENABLED"));

    // The queues: FIFO, deduplication, timeouts, and the redrive to the dead-letter queue.
    for (id, url) in [(ids::QUEUE, &stack.queue_url), (ids::DEAD_LETTER_QUEUE, &stack.dead_letter_url)] {
        let declared = template.properties(id);
        let attributes = aws
            .sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let attributes = attributes.attributes.unwrap();
        let get = |name: QueueAttributeName| attributes.get(&name).cloned().unwrap_or_default();
        assert_eq!(get(QueueAttributeName::FifoQueue), declared["FifoQueue"].to_string(), "{id}");
        assert_eq!(
            get(QueueAttributeName::ContentBasedDeduplication),
            declared["ContentBasedDeduplication"].to_string(),
            "{id}"
        );
        assert_eq!(
            get(QueueAttributeName::MessageRetentionPeriod),
            declared["MessageRetentionPeriod"].to_string(),
            "{id}"
        );
        if let Some(timeout) = declared.get("VisibilityTimeout") {
            assert_eq!(get(QueueAttributeName::VisibilityTimeout), timeout.to_string(), "{id}");
        }
    }
    let attributes = aws
        .sqs()
        .get_queue_attributes()
        .queue_url(&stack.queue_url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap();
    let redrive: Value =
        serde_json::from_str(&attributes.attributes.unwrap()[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], stack.dead_letter_arn.as_str());
    let max_receive = redrive["maxReceiveCount"]
        .as_u64()
        .or_else(|| redrive["maxReceiveCount"].as_str().and_then(|s| s.parse().ok()));
    assert_eq!(max_receive, template.parameter_default("MaxReceiveCount").and_then(Value::as_u64));

    // The secrets, under the template's names.
    for id in [ids::WEBHOOK_SECRET, ids::GITLAB_TOKEN, ids::QALITA_TOKEN] {
        let described = aws.secrets().describe_secret().secret_id(stack.secret(id)).send().await.unwrap();
        assert_eq!(described.name(), Some(stack.secret(id)));
        assert!(stack.secret(id).starts_with(&stack.name), "{id} is named after the stack");
    }
}
