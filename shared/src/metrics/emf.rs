//! The CloudWatch Embedded Metric Format writer: the figures recorded since the last flush, as
//! JSON log lines that CloudWatch Logs turns into metrics (no API call). One line per set of
//! dimension values: one for the stack's figures, and one per project for the hook gauges.
//!
//! Each line is `{"_aws": {"Timestamp", "CloudWatchMetrics": [{"Namespace", "Dimensions",
//! "Metrics": [{"Name", "Unit"}]}]}, "Stack": …, "<Name>": <number or numbers>}`, within the
//! specification's limits (at most 100 metrics per directive, 100 values per metric, 30
//! dimensions per set).

use std::io::Write;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use super::{Figure, Flushed, MAX_VALUES_PER_FLUSH, Registry, STACK_DIMENSION};

/// The namespace when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "QalitaGitlabSync";
/// The stack dimension's value when `METRICS_STACK` is not set.
pub const DEFAULT_STACK: &str = "qalita-gitlab";
/// The most metrics in one directive (the specification's limit).
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;

/// Where the figures go: the CloudWatch namespace and the stack dimension's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmfConfig {
    /// `METRICS_NAMESPACE` (the template's `MetricsNamespace`).
    pub namespace: String,
    /// `METRICS_STACK` (the template passes the stack's name).
    pub stack: String,
}

impl EmfConfig {
    /// Reads the settings through `lookup` (the environment, or a map in tests); blank is unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let read = |key: &str, default: &str| {
            lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
        };
        EmfConfig {
            namespace: read("METRICS_NAMESPACE", DEFAULT_NAMESPACE),
            stack: read("METRICS_STACK", DEFAULT_STACK),
        }
    }
}

static ENV_CONFIG: LazyLock<EmfConfig> = LazyLock::new(|| EmfConfig::from_lookup(|key| std::env::var(key).ok()));

/// A figure's dimensions besides the stack: (key, value).
type Dimensions = Vec<(&'static str, String)>;

/// The EMF lines of `figures`, stamped `timestamp_ms` (milliseconds since the Unix epoch).
pub fn lines(config: &EmfConfig, timestamp_ms: i64, figures: Vec<(Figure, Flushed)>) -> Vec<String> {
    // One document per set of dimension values: a directive's metrics share its root members.
    let mut groups: Vec<(Dimensions, Vec<(Figure, Flushed)>)> = Vec::new();
    for (figure, flushed) in figures {
        if matches!(&flushed, Flushed::Values(values) if values.is_empty()) {
            continue;
        }
        let dimensions = figure.dimensions();
        match groups.iter_mut().find(|(d, _)| *d == dimensions) {
            Some((_, members)) => members.push((figure, flushed)),
            None => groups.push((dimensions, vec![(figure, flushed)])),
        }
    }
    groups.into_iter().map(|(dimensions, members)| document(config, timestamp_ms, &dimensions, members)).collect()
}

fn document(config: &EmfConfig, timestamp_ms: i64, dimensions: &Dimensions, members: Vec<(Figure, Flushed)>) -> String {
    let mut root = Map::new();
    let mut keys = vec![Value::from(STACK_DIMENSION)];
    root.insert(STACK_DIMENSION.into(), config.stack.clone().into());
    for (key, value) in dimensions {
        keys.push((*key).into());
        root.insert((*key).into(), value.clone().into());
    }
    let mut definitions = Vec::new();
    for (figure, flushed) in members {
        let name = figure.name();
        definitions.push(json!({ "Name": name, "Unit": figure.unit().as_str() }));
        let value = match flushed {
            Flushed::Value(value) => json!(value),
            Flushed::Values(mut values) => {
                values.truncate(MAX_VALUES_PER_FLUSH);
                if values.len() == 1 { json!(values[0]) } else { json!(values) }
            }
        };
        root.insert(name, value);
    }
    let directives: Vec<Value> = definitions
        .chunks(MAX_METRICS_PER_DIRECTIVE)
        .map(|metrics| json!({ "Namespace": config.namespace, "Dimensions": [keys], "Metrics": metrics }))
        .collect();
    root.insert("_aws".into(), json!({ "Timestamp": timestamp_ms, "CloudWatchMetrics": directives }));
    Value::Object(root).to_string()
}

/// Writes what `registry` recorded since the last flush to `out`, one line per document.
pub fn flush_to(
    registry: &Registry,
    config: &EmfConfig,
    timestamp_ms: i64,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let figures = registry.take();
    if figures.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for line in lines(config, timestamp_ms, figures) {
        text.push_str(&line);
        text.push('\n');
    }
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Writes the process's figures since the last flush to standard output (CloudWatch Logs), with
/// the namespace and stack of the environment: once per Lambda invocation, after its work.
pub fn flush() {
    let now = chrono::Utc::now().timestamp_millis();
    if let Err(error) = flush_to(super::global(), &ENV_CONFIG, now, &mut std::io::stdout().lock()) {
        tracing::warn!(error = %error, "metrics not written");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{DeliveryOutcome, MessageOutcome, Origin};

    fn config() -> EmfConfig {
        EmfConfig { namespace: "Test/Sync".into(), stack: "prod".into() }
    }

    #[test]
    fn the_namespace_and_stack_come_from_the_environment_else_the_defaults() {
        let set = |key: &str| match key {
            "METRICS_NAMESPACE" => Some(" Ops/Sync ".to_owned()),
            "METRICS_STACK" => Some("  ".to_owned()),
            _ => None,
        };
        assert_eq!(
            EmfConfig::from_lookup(set),
            EmfConfig { namespace: "Ops/Sync".into(), stack: DEFAULT_STACK.into() }
        );
    }

    #[test]
    fn one_line_holds_the_stacks_figures_and_each_project_gets_its_own() {
        let registry = Registry::new();
        registry.count(Figure::Delivery(Origin::Gitlab, DeliveryOutcome::Queued), 1);
        registry.count(Figure::Message(MessageOutcome::Retried), 2);
        registry.time(Figure::SyncLag(Origin::Gitlab), Duration::from_millis(40));
        registry.time(Figure::SyncLag(Origin::Gitlab), Duration::from_millis(60));
        registry.set(Figure::HookExecutable("data/quality".into()), 0.0);

        let mut out = Vec::new();
        flush_to(&registry, &config(), 1_764_000_000_000, &mut out).unwrap();
        let lines: Vec<Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();

        assert_eq!(lines.len(), 2);
        let stack = &lines[0];
        assert_eq!(stack["_aws"]["Timestamp"], 1_764_000_000_000i64);
        assert_eq!(stack["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Test/Sync");
        assert_eq!(stack["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Stack"]]));
        assert_eq!(stack["Stack"], "prod");
        assert_eq!(stack["GitlabDeliveriesQueued"], 1.0);
        assert_eq!(stack["MessagesRetried"], 2.0);
        assert_eq!(stack["GitlabSyncLag"], json!([40.0, 60.0]));
        let project = &lines[1];
        assert_eq!(project["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Stack", "Project"]]));
        assert_eq!(
            (project["Project"].as_str(), project["HookExecutable"].as_f64()),
            (Some("data/quality"), Some(0.0))
        );

        let mut again = Vec::new();
        flush_to(&registry, &config(), 0, &mut again).unwrap();
        assert!(again.is_empty(), "a flush with nothing new writes nothing");
    }
}
