//! Request parameters as GitLab's API (Grape) reads them: from the query string, a JSON body or a
//! form body, merged; typed with Grape's coercions (comma-separated lists, `"true"`/`"1"`
//! booleans) and its error messages (`{"error": "title is missing"}`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::reply::Reply;
pub(super) use crate::kit::query::decode;

/// The parameters of one request.
#[derive(Debug, Default)]
pub(super) struct Params(BTreeMap<String, Value>);

impl Params {
    /// Reads the query string and the body (JSON when it is a JSON object, else a form).
    pub(super) fn read(query: &str, body: &[u8], json_body: Option<&Value>) -> Self {
        let mut params = Params::default();
        params.add_form(query);
        match json_body {
            Some(Value::Object(object)) => params.0.extend(object.clone()),
            Some(_) => {}
            None => params.add_form(&String::from_utf8_lossy(body)),
        }
        params
    }

    fn add_form(&mut self, text: &str) {
        for pair in text.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (key, value) = (decode(key), Value::String(decode(value)));
            // `labels[]=a&labels[]=b`, as Rails clients send arrays.
            if let Some(name) = key.strip_suffix("[]") {
                match self.0.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new())) {
                    Value::Array(items) => items.push(value),
                    other => *other = Value::Array(vec![value]),
                }
            } else {
                self.0.insert(key, value);
            }
        }
    }

    /// Whether the parameter was given at all.
    pub(super) fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// A string parameter (`null` is absent).
    pub(super) fn string(&self, name: &str) -> Result<Option<String>, Reply> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(Value::Bool(flag)) => Ok(Some(flag.to_string())),
            Some(_) => Err(invalid(name)),
        }
    }

    /// A required string parameter.
    pub(super) fn required_string(&self, name: &str) -> Result<String, Reply> {
        self.string(name)?.ok_or_else(|| Reply::error(400, &format!("{name} is missing")))
    }

    /// A boolean with Grape's coercion.
    pub(super) fn boolean(&self, name: &str) -> Result<Option<bool>, Reply> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(flag)) => Ok(Some(*flag)),
            Some(Value::String(text)) => match text.to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "yes" | "y" | "on" => Ok(Some(true)),
                "false" | "f" | "0" | "no" | "n" | "off" => Ok(Some(false)),
                _ => Err(invalid(name)),
            },
            Some(Value::Number(number)) => match number.as_u64() {
                Some(1) => Ok(Some(true)),
                Some(0) => Ok(Some(false)),
                _ => Err(invalid(name)),
            },
            Some(_) => Err(invalid(name)),
        }
    }

    /// A positive integer (`page`, `per_page`).
    pub(super) fn integer(&self, name: &str) -> Result<Option<i64>, Reply> {
        match self.string(name)? {
            None => Ok(None),
            Some(text) => text.trim().parse().map(Some).map_err(|_| invalid(name)),
        }
    }

    /// A list of integers: a JSON array, or a comma-separated string.
    pub(super) fn integers(&self, name: &str) -> Result<Option<Vec<u64>>, Reply> {
        let items = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(items)) => items.iter().map(scalar_text).collect::<Option<Vec<_>>>(),
            Some(other) => scalar_text(other).map(|text| text.split(',').map(str::to_owned).collect()),
        };
        let items = items.ok_or_else(|| invalid(name))?;
        items
            .iter()
            .map(|item| item.trim())
            .filter(|item| !item.is_empty())
            .map(|item| item.parse::<u64>().map_err(|_| invalid(name)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Label names: a comma-separated string or an array (whose items are split on commas too),
    /// trimmed, blanks dropped, first occurrence kept.
    pub(super) fn labels(&self, name: &str) -> Result<Option<Vec<String>>, Reply> {
        let texts = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(items)) => items.iter().map(scalar_text).collect::<Option<Vec<_>>>(),
            Some(other) => scalar_text(other).map(|text| vec![text]),
        };
        let mut labels: Vec<String> = Vec::new();
        for label in texts.ok_or_else(|| invalid(name))?.iter().flat_map(|text| text.split(',')) {
            let label = label.trim();
            if !label.is_empty() && !labels.iter().any(|known| known == label) {
                labels.push(label.to_owned());
            }
        }
        Ok(Some(labels))
    }

    /// A time (ISO 8601 with an offset, a naive date-time taken as UTC, or a date).
    pub(super) fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, Reply> {
        let Some(text) = self.string(name)? else { return Ok(None) };
        let text = text.trim();
        if let Ok(time) = DateTime::parse_from_rfc3339(text) {
            return Ok(Some(time.with_timezone(&Utc)));
        }
        for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
                return Ok(Some(time.and_utc()));
            }
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(|time| Some(time.and_utc()))
            .ok_or_else(|| invalid(name))
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn invalid(name: &str) -> Reply {
    Reply::error(400, &format!("{name} is invalid"))
}

/// Percent-decoding of a path segment (`+` stays).
pub(super) fn decode_segment(text: &str) -> String {
    decode(&text.replace('+', "%2B"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_form_components_are_percent_decoded() {
        assert_eq!(decode("a%2Fb+c%3A%zz%"), "a/b c:%zz%");
        assert_eq!(decode_segment("group%2Fsub+x"), "group/sub+x");
    }

    #[test]
    fn lists_read_from_commas_or_arrays_like_grape() {
        let json = serde_json::json!({"labels": ["a, b", "a", " "], "assignee_ids": "3,4", "confidential": "1"});
        let params = Params::read("", b"", Some(&json));
        assert_eq!(params.labels("labels").unwrap(), Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(params.integers("assignee_ids").unwrap(), Some(vec![3, 4]));
        assert_eq!(params.boolean("confidential").unwrap(), Some(true));
        let form = Params::read("labels[]=x&labels[]=y", b"", None);
        assert_eq!(form.labels("labels").unwrap(), Some(vec!["x".to_owned(), "y".to_owned()]));
    }
}
