//! Least privilege, checked on what CloudFormation deploys: `template.yaml` after the SAM transform
//! (`scripts/sam_expand.py`), SAM's own roles and policies included. No role grants a wildcard or
//! carries a managed policy; each function's role grants exactly the calls its code makes, on its
//! own resources; each function reads only the secrets its code reads.

use std::collections::BTreeSet;

use qalita_gitlab_tests::stack::ids;
use qalita_gitlab_tests::template::Template;
use serde_json::{Value, json};

/// The webhook signing secret's logical id (GitLab's signed webhooks).
const WEBHOOK_SIGNING_SECRET: &str = "WebhookSigningSecret";

/// `Statement` of a policy document, as a list whether written as one statement or several.
fn statements(document: &Value) -> Vec<&Value> {
    match &document["Statement"] {
        Value::Array(list) => list.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// A string or a list of strings, as a list.
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        other => other.as_str().into_iter().collect(),
    }
}

/// A resource as one list entry: a list of them as several.
fn entries(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(list) => list.iter().collect(),
        one => vec![one],
    }
}

/// Names a resource reference: `X` for `!Ref X` and `!GetAtt X.Arn`, the text of a `!Sub`, else
/// the string or the JSON itself.
fn resource_name(value: &Value) -> String {
    if let Some(id) = value["Ref"].as_str() {
        return id.to_owned();
    }
    if let [id, attribute] = &strings(&value["Fn::GetAtt"])[..] {
        return if *attribute == "Arn" { (*id).to_owned() } else { format!("{id}.{attribute}") };
    }
    match &value["Fn::Sub"] {
        Value::String(text) => text.clone(),
        // SAM's policy templates: `!Sub ["${secretArn}", {secretArn: !Ref X}]` names X.
        Value::Array(parts) => {
            let text = parts.first().and_then(Value::as_str).unwrap_or_default();
            let variable = text.strip_prefix("${").and_then(|t| t.strip_suffix('}'));
            match variable.and_then(|name| parts.get(1).and_then(|vars| vars.get(name))) {
                Some(bound) => resource_name(bound),
                None => text.to_owned(),
            }
        }
        _ => value.as_str().map_or_else(|| value.to_string(), str::to_owned),
    }
}

/// Every `*` in a resource, other than the `:*` that ends a log group's ARN (its streams).
fn is_wildcard(resource: &Value) -> bool {
    fn texts<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::String(text) => out.push(text),
            Value::Array(items) => items.iter().for_each(|item| texts(item, out)),
            Value::Object(map) => map.values().for_each(|item| texts(item, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    texts(resource, &mut found);
    found.into_iter().any(|text| {
        let scoped_log_group =
            text.contains(":log-group:") && text.ends_with(":*") && !text[..text.len() - 2].contains('*');
        text.contains('*') && !scoped_log_group
    })
}

/// The policy documents that apply to a role: its inline policies and the `AWS::IAM::Policy` and
/// `AWS::IAM::ManagedPolicy` resources attached to it.
fn documents<'a>(template: &'a Template, role: &str) -> Vec<&'a Value> {
    let mut found: Vec<&Value> =
        template.properties(role)["Policies"].as_array().into_iter().flatten().map(|p| &p["PolicyDocument"]).collect();
    for kind in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"] {
        for id in template.resources_of_type(kind) {
            let properties = template.properties(id);
            if properties["Roles"].as_array().into_iter().flatten().any(|r| r == &json!({ "Ref": role })) {
                found.push(&properties["PolicyDocument"]);
            }
        }
    }
    found
}

/// The role a function runs as: the logical id its `Role` names.
fn role_of<'a>(template: &'a Template, function: &str) -> &'a str {
    let role = &template.properties(function)["Role"];
    match &strings(&role["Fn::GetAtt"])[..] {
        [id, "Arn"] => id,
        _ => panic!("{function}: its Role must be a role of this template (!GetAtt <role>.Arn), got {role}"),
    }
}

/// What a role allows: each (action, resource name) pair.
fn grants(template: &Template, role: &str) -> BTreeSet<(String, String)> {
    let mut pairs = BTreeSet::new();
    for document in documents(template, role) {
        for statement in statements(document).into_iter().filter(|s| s["Effect"] == "Allow") {
            for action in strings(&statement["Action"]) {
                for resource in entries(&statement["Resource"]) {
                    pairs.insert((action.to_owned(), resource_name(resource)));
                }
            }
        }
    }
    pairs
}

fn expanded_or_skip() -> Option<Template> {
    let template = Template::expanded()?;
    for function in ["WebhookFunction", "WorkerFunction"] {
        assert_eq!(template.resource_type(function), Some("AWS::Lambda::Function"), "{function} after the transform");
    }
    Some(template)
}

#[test]
fn no_role_grants_a_wildcard_or_carries_a_managed_policy() {
    let Some(template) = expanded_or_skip() else { return };
    let roles = template.resources_of_type("AWS::IAM::Role");
    assert!(roles.len() >= 2, "the transform made roles: {roles:?}");
    let mut problems = Vec::new();
    for role in &roles {
        let managed = &template.properties(role)["ManagedPolicyArns"];
        if !managed.is_null() && managed != &json!([]) {
            problems.push(format!("{role}: managed policies attached: {managed}"));
        }
        for document in documents(&template, role) {
            for statement in statements(document).into_iter().filter(|s| s["Effect"] == "Allow") {
                for broad in ["NotAction", "NotResource"] {
                    if !statement[broad].is_null() {
                        problems.push(format!("{role}: {broad} allows everything else: {statement}"));
                    }
                }
                if statement["Resource"].is_null() {
                    problems.push(format!("{role}: a statement without Resource: {statement}"));
                }
                for action in strings(&statement["Action"]).into_iter().filter(|a| a.contains('*')) {
                    problems.push(format!("{role}: wildcard action {action}"));
                }
                for resource in entries(&statement["Resource"]).into_iter().filter(|r| is_wildcard(r)) {
                    problems.push(format!("{role}: wildcard resource {resource} in {statement}"));
                }
            }
        }
    }
    // Every function runs as a role of this template (checked above), none as an outside ARN.
    for function in template.resources_of_type("AWS::Lambda::Function") {
        role_of(&template, function);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The calls the worker's code makes, as IAM actions (the SDK's snake_case operation names found
/// in the adapters, each `.operation()` call mapped to `service:Operation`).
fn adapter_calls(file: &str, service: &str, operations: &[&str]) -> BTreeSet<String> {
    let path = qalita_gitlab_tests::repo_root().join("shared/src/adapters").join(file);
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let pascal = |op: &str| op.split('_').map(|w| w[..1].to_uppercase() + &w[1..]).collect::<String>();
    operations
        .iter()
        .filter(|op| source.contains(&format!(".{op}()")))
        .map(|op| format!("{service}:{}", pascal(op)))
        .collect()
}

#[test]
fn each_function_role_grants_exactly_the_calls_its_code_makes_on_its_own_resources() {
    let Some(template) = expanded_or_skip() else { return };
    let pairs = |list: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        list.iter().map(|(a, r)| ((*a).to_owned(), (*r).to_owned())).collect()
    };
    let webhook = pairs(&[
        ("logs:CreateLogStream", "WebhookLogGroup"),
        ("logs:PutLogEvents", "WebhookLogGroup"),
        // handler.rs: the queue's `send`.
        ("sqs:SendMessage", ids::QUEUE),
        // The authenticators: AWSCURRENT and AWSPREVIOUS of the GitLab route's two secrets and
        // the QALITA route's.
        ("secretsmanager:GetSecretValue", ids::WEBHOOK_SECRET),
        ("secretsmanager:GetSecretValue", WEBHOOK_SIGNING_SECRET),
        ("secretsmanager:GetSecretValue", ids::QALITA_WEBHOOK_SECRET),
    ]);
    let index = format!("${{{}.Arn}}/index/GSI1", ids::TABLE);
    let sweep_index = format!("${{{}.Arn}}/index/GSI2", ids::TABLE);
    let worker = pairs(&[
        ("logs:CreateLogStream", "WorkerLogGroup"),
        ("logs:PutLogEvents", "WorkerLogGroup"),
        // shared/src/adapters/dynamodb.rs: links, comment links, log, cursors, the switch, configuration.
        ("dynamodb:GetItem", ids::TABLE),
        ("dynamodb:PutItem", ids::TABLE),
        ("dynamodb:Query", ids::TABLE),
        // adapters/governor.rs: the creation budgets' counters.
        ("dynamodb:UpdateItem", ids::TABLE),
        ("dynamodb:Query", &index),
        // poll.rs: the comment sweep's line.
        ("dynamodb:Query", &sweep_index),
        // The event source mapping: receive, delete, read the queue's attributes.
        ("sqs:ReceiveMessage", ids::QUEUE),
        ("sqs:DeleteMessage", ids::QUEUE),
        ("sqs:GetQueueAttributes", ids::QUEUE),
        // handler.rs: the back-off of a failed message; poll.rs: the changes it finds.
        ("sqs:ChangeMessageVisibility", ids::QUEUE),
        ("sqs:SendMessage", ids::QUEUE),
        ("secretsmanager:GetSecretValue", ids::GITLAB_TOKEN),
        ("secretsmanager:GetSecretValue", ids::QALITA_TOKEN),
    ]);
    assert_eq!(grants(&template, role_of(&template, "WebhookFunction")), webhook, "the webhook function's role");
    assert_eq!(grants(&template, role_of(&template, "WorkerFunction")), worker, "the worker function's role");

    // A call added to an adapter without its permission fails here, not in production.
    let worker_actions: BTreeSet<String> = worker.iter().map(|(action, _)| action.clone()).collect();
    let dynamodb = [
        "get_item",
        "put_item",
        "update_item",
        "delete_item",
        "query",
        "scan",
        "batch_get_item",
        "batch_write_item",
        "transact_get_items",
        "transact_write_items",
        "describe_table",
        "execute_statement",
    ];
    let sqs = [
        "send_message",
        "send_message_batch",
        "receive_message",
        "delete_message",
        "delete_message_batch",
        "change_message_visibility",
        "change_message_visibility_batch",
        "get_queue_attributes",
        "get_queue_url",
        "purge_queue",
    ];
    let secrets = ["get_secret_value", "describe_secret", "list_secret_version_ids", "batch_get_secret_value"];
    let mut called = adapter_calls("dynamodb.rs", "dynamodb", &dynamodb);
    called.extend(adapter_calls("sqs.rs", "sqs", &sqs));
    called.extend(adapter_calls("secrets_manager.rs", "secretsmanager", &secrets));
    assert!(called.contains("dynamodb:Query") && called.contains("secretsmanager:GetSecretValue"), "{called:?}");
    for (action, method) in OPERATOR_ONLY {
        assert!(called.remove(*action), "{action} is no longer called: drop it from OPERATOR_ONLY");
        let callers = callers_in_the_functions(method);
        assert!(callers.is_empty(), "{method} ({action}) is for operators, yet called by {callers:?}");
    }
    let missing: Vec<_> = called.difference(&worker_actions).collect();
    assert!(missing.is_empty(), "the adapters call {missing:?}, which the worker's role does not allow");
}

/// Calls the store adapter makes only for the operator's CLI, which runs with the operator's
/// credentials and never with a function's role, with the port method that makes each: the scan
/// of the whole table behind `IntegrationLog::recent_log` (`qalita-gitlab logs --since`).
const OPERATOR_ONLY: &[(&str, &str)] = &[("dynamodb:Scan", "recent_log")];

/// The files of the functions' code (their crates, and the core crate outside its ports and
/// adapters) that call `method`.
fn callers_in_the_functions(method: &str) -> Vec<std::path::PathBuf> {
    let root = qalita_gitlab_tests::repo_root();
    let skipped = [root.join("shared/src/ports"), root.join("shared/src/adapters")];
    let mut folders =
        vec![root.join("shared/src"), root.join("functions/webhook/src"), root.join("functions/worker/src")];
    let mut callers = Vec::new();
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("read {}: {e}", folder.display()));
        for entry in entries {
            let path = entry.expect("a folder entry").path();
            if skipped.contains(&path) {
                continue;
            }
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs")
                && std::fs::read_to_string(&path).expect("a source file").contains(&format!(".{method}("))
            {
                callers.push(path);
            }
        }
    }
    callers
}

/// The secrets a function's code reads: those its `*_SECRET_ID` variables name.
fn secrets_named_by_environment(template: &Template, function: &str) -> BTreeSet<String> {
    let variables = template.properties(function)["Environment"]["Variables"].as_object().cloned().unwrap_or_default();
    variables.iter().filter(|(key, _)| key.ends_with("_SECRET_ID")).map(|(_, value)| resource_name(value)).collect()
}

#[test]
fn each_function_may_read_only_its_own_secrets() {
    let Some(template) = expanded_or_skip() else { return };
    let readable = |function: &str| -> BTreeSet<String> {
        let role = role_of(&template, function);
        let grants = grants(&template, role);
        let read = grants.iter().filter(|(action, _)| action.starts_with("secretsmanager:"));
        read.map(|(_, resource)| resource.clone()).collect()
    };
    let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<_>>();

    let webhook = readable("WebhookFunction");
    assert_eq!(
        webhook,
        set(&[ids::WEBHOOK_SECRET, WEBHOOK_SIGNING_SECRET, ids::QALITA_WEBHOOK_SECRET]),
        "the webhook function's secrets"
    );
    assert_eq!(webhook, secrets_named_by_environment(&template, "WebhookFunction"), "exactly those its code reads");
    let worker = readable("WorkerFunction");
    assert_eq!(worker, set(&[ids::GITLAB_TOKEN, ids::QALITA_TOKEN]), "the worker function's secrets");
    assert_eq!(worker, secrets_named_by_environment(&template, "WorkerFunction"), "exactly those its code reads");

    let webhook_role = grants(&template, role_of(&template, "WebhookFunction"));
    assert!(
        !webhook_role.iter().any(|(action, _)| action.starts_with("dynamodb:")),
        "the webhook function never touches the table: {webhook_role:?}"
    );
    let events = &template.properties("WorkerFunctionQueue");
    assert_eq!(events["FunctionResponseTypes"], json!(["ReportBatchItemFailures"]));
    assert_eq!(template.resource_type("WorkerFunctionPoll"), Some("AWS::Scheduler::Schedule"));
}

#[test]
fn the_webhook_auth_mode_and_signing_secret_are_declared_and_wired() {
    let template = Template::load();
    let mode = &template.root()["Parameters"]["WebhookAuthMode"];
    assert_eq!(mode["AllowedValues"], json!(["token", "signature", "both"]));
    assert_eq!(mode["Default"], "token");

    assert_eq!(template.resource_type(WEBHOOK_SIGNING_SECRET), Some("AWS::SecretsManager::Secret"));
    let secret = template.properties(WEBHOOK_SIGNING_SECRET);
    // GitLab's form (whsec_ + base64) cannot be generated by CloudFormation: a placeholder no
    // signature can match, and the command that sets a real one.
    assert_eq!(secret["SecretString"], "unset");
    assert!(secret["GenerateSecretString"].is_null());
    let description = secret["Description"].as_str().unwrap_or_default();
    assert!(description.contains(r#"--secret-string "whsec_$(openssl rand -base64 32)""#), "{description}");

    let variables = &template.properties("WebhookFunction")["Environment"]["Variables"];
    assert_eq!(variables["WEBHOOK_AUTH_MODE"], json!({ "Ref": "WebhookAuthMode" }));
    assert_eq!(variables["WEBHOOK_SIGNING_SECRET_ID"], json!({ "Ref": WEBHOOK_SIGNING_SECRET }));
    assert_eq!(
        template.root()["Outputs"]["WebhookSigningSecretArn"]["Value"],
        json!({ "Ref": WEBHOOK_SIGNING_SECRET })
    );
}

#[test]
fn the_qalita_route_is_the_webhook_functions_with_a_generated_secret_of_its_own() {
    let template = Template::load();
    let events = &template.properties("WebhookFunction")["Events"];
    let route = &events["QalitaWebhook"]["Properties"];
    assert_eq!(route["Path"], "/api/v2/integrations/qalita/webhook");
    assert_eq!(route["Method"], "POST");
    assert_eq!(route["ApiId"], events["GitlabWebhook"]["Properties"]["ApiId"], "the same HTTP API");
    assert_eq!(template.resource_type(ids::QALITA_WEBHOOK_SECRET), Some("AWS::SecretsManager::Secret"));
    let secret = template.properties(ids::QALITA_WEBHOOK_SECRET);
    // Generated at least as long as the route requires (16 characters).
    assert!(secret["GenerateSecretString"]["PasswordLength"].as_u64().unwrap_or_default() >= 16);
    let variables = &template.properties("WebhookFunction")["Environment"]["Variables"];
    assert_eq!(variables["QALITA_WEBHOOK_SECRET_ID"], json!({ "Ref": ids::QALITA_WEBHOOK_SECRET }));
    let outputs = &template.root()["Outputs"];
    assert_eq!(outputs["QalitaWebhookSecretArn"]["Value"], json!({ "Ref": ids::QALITA_WEBHOOK_SECRET }));
    let url = outputs["QalitaWebhookUrl"]["Value"]["Fn::Sub"].as_str().unwrap_or_default();
    assert!(url.ends_with("/api/v2/integrations/qalita/webhook"), "{url}");
}
