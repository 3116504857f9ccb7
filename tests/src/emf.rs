//! The CloudWatch Embedded Metric Format, as its specification states it, to check the lines a
//! real run of a function writes: a root object with an `_aws` object holding a numeric
//! `Timestamp` and a `CloudWatchMetrics` array of directives (`Namespace`, `Dimensions` as sets of
//! at most 30 keys, `Metrics` of at most 100 definitions with a `Name` and a `Unit` of the valid
//! list); every metric named has a number (or at most 100 numbers) at the root, every dimension
//! key a string. Also a reader that collects a child process's standard output.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The units the specification allows.
pub const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one EMF document against the specification; `Ok` gives the metric values it holds
/// (a list of values summed), by name.
pub fn check(document: &Value) -> Result<BTreeMap<String, f64>, String> {
    let root = document.as_object().ok_or("the document is not a JSON object")?;
    let aws = root.get("_aws").and_then(Value::as_object).ok_or("no _aws object")?;
    let timestamp = aws.get("Timestamp").ok_or("_aws has no Timestamp")?;
    if !timestamp.is_u64() && !timestamp.is_i64() {
        return Err(format!("Timestamp {timestamp} is not a whole number of milliseconds"));
    }
    let directives = aws.get("CloudWatchMetrics").and_then(Value::as_array).ok_or("no CloudWatchMetrics array")?;
    let mut values = BTreeMap::new();
    for directive in directives {
        let namespace = directive.get("Namespace").and_then(Value::as_str).ok_or("a directive has no Namespace")?;
        if namespace.trim().is_empty() || namespace.len() > 1024 {
            return Err(format!("namespace {namespace:?} is empty or too long"));
        }
        let sets = directive.get("Dimensions").and_then(Value::as_array).ok_or("a directive has no Dimensions")?;
        for set in sets {
            let keys = set.as_array().ok_or("a dimension set is not an array")?;
            if keys.len() > 30 {
                return Err(format!("a dimension set has {} keys, over 30", keys.len()));
            }
            for key in keys {
                let key = key.as_str().ok_or("a dimension key is not a string")?;
                match root.get(key) {
                    Some(Value::String(value)) if !value.is_empty() && value.len() <= 1024 => {}
                    other => return Err(format!("dimension {key} is not a string at the root: {other:?}")),
                }
            }
        }
        let metrics = directive.get("Metrics").and_then(Value::as_array).ok_or("a directive has no Metrics")?;
        if metrics.len() > 100 {
            return Err(format!("a directive has {} metrics, over 100", metrics.len()));
        }
        for metric in metrics {
            let name = metric.get("Name").and_then(Value::as_str).ok_or("a metric has no Name")?;
            if name.is_empty() || name.len() > 1024 {
                return Err(format!("metric name {name:?} is empty or too long"));
            }
            if let Some(unit) = metric.get("Unit") {
                let unit = unit.as_str().ok_or("a Unit is not a string")?;
                if !UNITS.contains(&unit) {
                    return Err(format!("{name}: unit {unit:?} is not one of the specification's"));
                }
            }
            let value = match root.get(name) {
                Some(Value::Number(n)) => n.as_f64().ok_or("not a finite number")?,
                Some(Value::Array(list)) if !list.is_empty() && list.len() <= 100 => {
                    let numbers: Option<Vec<f64>> = list.iter().map(Value::as_f64).collect();
                    numbers.ok_or(format!("{name}: a value of its list is not a number"))?.iter().sum()
                }
                other => {
                    return Err(format!("metric {name} has no number (or list of 1 to 100) at the root: {other:?}"));
                }
            };
            values.insert(name.to_owned(), value);
        }
    }
    Ok(values)
}

/// The EMF documents among `lines` (the JSON objects with an `_aws` member), each checked, and the
/// sum of each metric over them.
pub fn read(lines: &[String]) -> Result<(usize, BTreeMap<String, f64>), String> {
    let mut documents = 0;
    let mut totals = BTreeMap::new();
    for line in lines {
        let Ok(document) = serde_json::from_str::<Value>(line) else { continue };
        if document.get("_aws").is_none() {
            continue;
        }
        documents += 1;
        for (name, value) in check(&document).map_err(|e| format!("{e}: {line}"))? {
            *totals.entry(name).or_insert(0.0) += value;
        }
    }
    Ok((documents, totals))
}

/// The lines a child process writes on a pipe, read on a thread of their own (so that the pipe
/// never fills and blocks the child).
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// Starts reading `pipe`.
    pub fn collect(pipe: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let sink = lines.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        lines
    }

    /// The lines read so far.
    pub fn now(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits up to `within` until `done` holds of the lines read, and gives them.
    pub fn wait_for(&self, within: Duration, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let until = Instant::now() + within;
        loop {
            let lines = self.now();
            if done(&lines) || Instant::now() >= until {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn valid() -> Value {
        json!({
            "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["Stack"]], "Metrics": [{"Name": "A", "Unit": "Count"}]}]},
            "Stack": "s", "A": 2
        })
    }

    #[test]
    fn the_checker_refuses_what_the_specification_refuses() {
        assert_eq!(check(&valid()).unwrap().get("A"), Some(&2.0));
        let mut bad_unit = valid();
        bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = "Days".into();
        assert!(check(&bad_unit).unwrap_err().contains("unit"));
        let mut missing_value = valid();
        missing_value.as_object_mut().unwrap().remove("A");
        assert!(check(&missing_value).is_err());
        let mut string_value = valid();
        string_value["A"] = "2".into();
        assert!(check(&string_value).is_err());
        let mut numeric_dimension = valid();
        numeric_dimension["Stack"] = 3.into();
        assert!(check(&numeric_dimension).unwrap_err().contains("dimension"));
        let mut no_timestamp = valid();
        no_timestamp["_aws"].as_object_mut().unwrap().remove("Timestamp");
        assert!(check(&no_timestamp).is_err());
    }
}
