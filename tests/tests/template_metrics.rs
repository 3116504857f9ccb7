//! The alarms and the dashboard of `template.yaml` watch the figures the code writes: every metric
//! of the functions' namespace they name is one `shared/src/metrics` declares, with the
//! dimensions it is written with; the dashboard shows every figure; the functions are told the
//! namespace and the stack; each alarm notifies the optional topic.

use std::collections::BTreeSet;

use qalita_gitlab_core::metrics::emf::DEFAULT_NAMESPACE;
use qalita_gitlab_core::metrics::{Figure, STACK_DIMENSION};
use qalita_gitlab_tests::template::Template;
use serde_json::{Value, json};

fn declared() -> BTreeSet<String> {
    Figure::catalog().iter().map(Figure::name).collect()
}

/// The metrics an alarm reads: its own, or those of its metric math.
fn alarm_metrics(properties: &Value) -> Vec<Value> {
    match properties["Metrics"].as_array() {
        Some(queries) => queries.iter().filter_map(|q| q.pointer("/MetricStat/Metric").cloned()).collect(),
        None => vec![json!({
            "Namespace": properties["Namespace"],
            "MetricName": properties["MetricName"],
            "Dimensions": properties["Dimensions"],
        })],
    }
}

#[test]
fn every_alarm_reads_a_metric_the_code_writes_with_its_dimensions() {
    let template = Template::load();
    let alarms = template.resources_of_type("AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 7, "{alarms:?}");
    let declared = declared();
    let mut ours = BTreeSet::new();
    for alarm in &alarms {
        let properties = template.properties(alarm);
        let metrics = alarm_metrics(properties);
        assert!(!metrics.is_empty(), "{alarm} reads no metric");
        for metric in metrics {
            let name = metric["MetricName"].as_str().unwrap_or_else(|| panic!("{alarm}: no MetricName"));
            if metric["Namespace"] == json!({"Ref": "MetricsNamespace"}) {
                assert!(declared.contains(name), "{alarm}: {name} is not a figure of shared/src/metrics");
                assert_eq!(
                    metric["Dimensions"],
                    json!([{"Name": STACK_DIMENSION, "Value": {"Ref": "AWS::StackName"}}]),
                    "{alarm}: {name} is written with the dimension Stack only"
                );
                ours.insert(name.to_owned());
            } else {
                let namespace = metric["Namespace"].as_str().unwrap_or_default();
                assert!(["AWS/SQS", "AWS/Lambda"].contains(&namespace), "{alarm}: namespace {namespace}");
            }
        }
        assert_eq!(
            properties["AlarmActions"],
            json!({"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]}),
            "{alarm} notifies the topic when there is one"
        );
    }
    // The alarms on the code's figures: refusals, a hook, the token, 429s, refused messages.
    for name in ["GitlabDeliveriesRejected", "HooksNotExecutable", "TokenDaysLeft", "GitlabCalls429", "MessagesFailed"]
    {
        assert!(ours.contains(name), "no alarm reads {name}: {ours:?}");
    }
    assert_eq!(template.root()["Resources"]["AlarmTopic"]["Condition"], "HasAlarmTopic");
    assert_eq!(template.properties("AlarmTopic")["Subscription"][0]["Endpoint"], json!({"Ref": "AlarmEmail"}));
}

#[test]
fn the_dashboard_shows_every_figure_under_its_written_name() {
    let template = Template::load();
    let body = template.properties("SyncDashboard")["DashboardBody"]["Fn::Sub"]
        .as_str()
        .expect("the dashboard body is a !Sub string");
    let body: Value = serde_json::from_str(body).expect("the dashboard body is JSON");
    let mut shown = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        for row in widget["properties"]["metrics"].as_array().expect("metrics") {
            let row = row.as_array().expect("a metric row is a list");
            if row[0] != "${MetricsNamespace}" {
                continue;
            }
            let name = row[1].as_str().expect("a metric name");
            assert_eq!(row[2..4], [json!(STACK_DIMENSION), json!("${AWS::StackName}")], "{name}");
            assert!(row.len() == 4 || row[4].is_object(), "{name}: no other dimension");
            shown.insert(name.to_owned());
        }
    }
    assert_eq!(shown, declared(), "the dashboard shows exactly the declared figures");
}

#[test]
fn both_functions_are_told_the_namespace_and_the_stack() {
    let template = Template::load();
    assert_eq!(template.parameter_default("MetricsNamespace"), Some(&json!(DEFAULT_NAMESPACE)));
    for function in ["WebhookFunction", "WorkerFunction"] {
        let variables = &template.properties(function)["Environment"]["Variables"];
        assert_eq!(variables["METRICS_NAMESPACE"], json!({"Ref": "MetricsNamespace"}), "{function}");
        assert_eq!(variables["METRICS_STACK"], json!({"Ref": "AWS::StackName"}), "{function}");
    }
    let worker = &template.properties("WorkerFunction")["Environment"]["Variables"];
    assert_eq!(worker["MAX_RECEIVE_COUNT"], json!({"Ref": "MaxReceiveCount"}));
}
