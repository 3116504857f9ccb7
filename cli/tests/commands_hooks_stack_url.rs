//! `hooks install` and `hooks remove` without `--url`: the URL is the deployed stack's
//! CloudFormation output `WebhookUrl` (a CloudFormation stack on moto under the world's stack
//! name), read through `--endpoint-url`; a stack without that output, a missing stack and the
//! embedded stack are usage errors (exit 2) that say what to pass, and register nothing.

mod commands_world;

use aws_sdk_cloudformation::types::Capability;
use commands_world::*;
use serde_json::json;

const URL: &str = "https://stack42.execute-api.eu-west-1.amazonaws.com/api/v2/integrations/gitlab/webhook";

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Creates, on moto, the CloudFormation stack named as the world's stack, with one queue and
/// `outputs` (literal values).
async fn create_cloudformation_stack(world: &World, outputs: &[(&str, &str)]) {
    let Backend::Aws { aws, stack } = &world.backend else { panic!("CloudFormation is on moto") };
    let outputs: serde_json::Map<String, serde_json::Value> =
        outputs.iter().map(|(key, value)| ((*key).to_owned(), json!({ "Value": value }))).collect();
    let template = json!({
        "Resources": { "Marker": { "Type": "AWS::SQS::Queue" } },
        "Outputs": outputs,
    });
    aws_sdk_cloudformation::Client::new(aws.config())
        .create_stack()
        .stack_name(&stack.name)
        .template_body(template.to_string())
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .expect("moto creates the stack");
}

fn hook_urls(world: &World, project: u64) -> Vec<String> {
    world.gitlab.hooks(project).into_iter().map(|hook| hook.config.url).collect()
}

#[tokio::test]
async fn install_and_remove_without_a_url_use_the_stack_output_webhook_url() {
    let mut world = World::aws("").await;
    create_cloudformation_stack(&world, &[("SyncTableName", "elsewhere"), ("WebhookUrl", URL)]).await;
    // The environment's endpoint leads nowhere: CloudFormation is reached through --endpoint-url.
    world.env.push(("AWS_ENDPOINT_URL".into(), format!("http://127.0.0.1:{}", closed_port())));

    let report = world.json(&["hooks", "install"]).await.expect(0).json();
    assert_eq!(report["url"], URL);
    for project in [DEFAULT_PROJECT, FINANCE_PROJECT] {
        assert_eq!(hook_urls(&world, project), [URL]);
    }

    let other = "https://ci.example/hook";
    world.run(&["hooks", "install", "--url", other]).await.expect(0);
    let removed = world.json(&["hooks", "remove"]).await.expect(0).json();
    assert_eq!(removed["url"], URL);
    assert_eq!(removed["removed"][0]["action"], "removed");
    for project in [DEFAULT_PROJECT, FINANCE_PROJECT] {
        assert_eq!(hook_urls(&world, project), [other], "only the stack's hook is removed");
    }
}

#[tokio::test]
async fn a_stack_without_the_output_webhook_url_is_a_usage_error_naming_its_outputs() {
    let world = World::aws("").await;
    create_cloudformation_stack(&world, &[("SyncTableName", "t"), ("EventQueueUrl", "q")]).await;

    let ran = world.run(&["hooks", "install"]).await.expect(2);
    assert!(ran.stderr.contains("no output WebhookUrl"), "{ran:#?}");
    assert!(ran.stderr.contains("SyncTableName") && ran.stderr.contains("EventQueueUrl"), "{ran:#?}");
    assert!(ran.stderr.contains("--url"), "{ran:#?}");
    world.run(&["hooks", "remove"]).await.expect(2);
    assert!(world.gitlab.hooks(DEFAULT_PROJECT).is_empty() && world.gitlab.hooks(FINANCE_PROJECT).is_empty());
}

#[tokio::test]
async fn a_missing_stack_is_a_usage_error_that_names_it_and_registers_nothing() {
    let world = World::aws("").await;
    let Backend::Aws { stack, .. } = &world.backend else { unreachable!() };

    let ran = world.run(&["hooks", "install"]).await.expect(2);
    assert!(ran.stderr.contains(&format!("the stack {} does not exist", stack.name)), "{ran:#?}");
    assert!(ran.stderr.contains("--url") && ran.stderr.contains("WebhookUrl"), "{ran:#?}");
    assert!(world.gitlab.hooks(DEFAULT_PROJECT).is_empty());
}

#[tokio::test]
async fn the_embedded_stack_still_needs_a_url() {
    let mut world = World::local("").await;
    world.env.push(("QALITA_GITLAB_WEBHOOK_SECRET".into(), "local-webhook-secret".into()));

    let ran = world.run(&["hooks", "install"]).await.expect(2);
    assert!(ran.stderr.contains("--url") && ran.stderr.contains("embedded stack"), "{ran:#?}");
    assert!(world.gitlab.hooks(DEFAULT_PROJECT).is_empty());
}
