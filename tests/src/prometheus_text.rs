//! The Prometheus text exposition format (0.0.4), as its specification states it, to read what
//! `serve` answers on `GET /metrics`: `# HELP` and `# TYPE` lines (a `TYPE` before the family's
//! samples, once), each family's samples together, metric and label names of the allowed
//! characters, label values quoted with `\\`, `\"` and `\n` escapes, and a float value.

use std::collections::{BTreeMap, BTreeSet};

/// One sample: its name (with the `_sum`/`_count` suffix of a summary), labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name.
    pub name: String,
    /// Its labels, by name.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The family a sample belongs to, given the families declared.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_sum", "_count", "_bucket"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types.get(base).is_some_and(|t| t == "summary" || t == "histogram")
        {
            return base;
        }
    }
    name
}

/// Parses `{a="x",b="y"}` (the braces included) into labels; `rest` is what follows.
fn labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let Some(mut rest) = text.strip_prefix('{') else { return Ok((labels, text)) };
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("a label without =")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("label name {name:?}"));
        }
        rest = rest[eq + 1..].strip_prefix('"').ok_or("a label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("escape {other:?} in a label value")),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("an unterminated label value".into()),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses and checks an exposition; `Err` says which line breaks which rule.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    let mut samples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", number + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.trim_start().splitn(3, ' ').collect();
            match words.as_slice() {
                ["TYPE", name, kind] => {
                    if !is_metric_name(name) {
                        return Err(at(format!("metric name {name:?}")));
                    }
                    if !["counter", "gauge", "summary", "histogram", "untyped"].contains(kind) {
                        return Err(at(format!("type {kind:?}")));
                    }
                    if types.insert((*name).to_owned(), (*kind).to_owned()).is_some() {
                        return Err(at("a second TYPE for the family".into()));
                    }
                }
                ["HELP", name, ..] if !is_metric_name(name) => return Err(at(format!("metric name {name:?}"))),
                _ => {}
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(at(format!("metric name {name:?}")));
        }
        let (labels, rest) = labels(&line[name_end..]).map_err(at)?;
        let mut parts = rest.split_whitespace();
        let value = parts.next().ok_or_else(|| at("no value".into()))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            other => other.parse().map_err(|_| at(format!("value {other:?}")))?,
        };
        if let Some(timestamp) = parts.next() {
            timestamp.parse::<i64>().map_err(|_| at(format!("timestamp {timestamp:?}")))?;
        }
        let family = family_of(name, &types).to_owned();
        if !types.contains_key(&family) {
            return Err(at(format!("a sample of {family} before its TYPE")));
        }
        if current.as_deref() != Some(family.as_str()) {
            if finished.contains(&family) {
                return Err(at(format!("the samples of {family} are not together")));
            }
            if let Some(previous) = current.replace(family.clone()) {
                finished.insert(previous);
            }
        }
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    Ok(samples)
}

/// The value of the sample `name` with exactly `labels`.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    samples.iter().find(|s| s.name == name && s.labels == wanted).map(|s| s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_reads_the_format_and_refuses_its_faults() {
        let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\n\"} 3\n# TYPE d summary\nd_sum 1.5\nd_count 2\n";
        let samples = parse(good).unwrap();
        assert_eq!(value(&samples, "a_total", &[("x", "q\"\n")]), Some(3.0));
        assert_eq!(value(&samples, "d_count", &[]), Some(2.0));
        assert!(parse("a_total 1\n").unwrap_err().contains("before its TYPE"));
        assert!(parse("# TYPE a counter\n# TYPE b counter\na 1\nb 1\na 2\n").unwrap_err().contains("not together"));
        assert!(parse("# TYPE a counter\na{1x=\"v\"} 1\n").is_err());
        assert!(parse("# TYPE a counter\na one\n").is_err());
    }
}
