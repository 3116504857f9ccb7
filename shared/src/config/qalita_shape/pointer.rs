//! JSON pointers (RFC 6901) into QALITA's answers: where a field is read from. One field may name
//! several pointers, tried in order, so that the built-in defaults keep the aliases QALITA has been
//! seen to use (`content`, `body` or `text` for a comment's text).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A pointer that is `""` (the whole value) or starts with `/`, every `~` followed by `0` or `1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JsonPointer(String);

impl JsonPointer {
    /// Checks a pointer; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.is_empty() && !text.starts_with('/') {
            return Err(format!(
                "{:?} is not a JSON pointer: it must be \"\" or start with `/` (e.g. \"/assignee/id\")",
                shorten(text)
            ));
        }
        let mut after_tilde = text.split('~').skip(1);
        if after_tilde.any(|rest| !rest.starts_with(['0', '1'])) {
            return Err(format!("{:?} is not a JSON pointer: `~` must be followed by 0 or 1", shorten(text)));
        }
        Ok(JsonPointer(text.to_owned()))
    }

    /// The pointer to the member `name` of the top-level object (`/` and `~` escaped).
    pub fn member(name: &str) -> Self {
        JsonPointer(format!("/{}", name.replace('~', "~0").replace('/', "~1")))
    }

    /// The value it points to in `value`, if any.
    pub fn get<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        value.pointer(&self.0)
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JsonPointer {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        JsonPointer::parse(&text)
    }
}

impl From<JsonPointer> for String {
    fn from(pointer: JsonPointer) -> String {
        pointer.0
    }
}

impl fmt::Display for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where one field is read: a pointer, or several tried in order (`"/content"` or
/// `["/content", "/body"]` in the document); the first that holds a value other than `null` wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "OneOrMany", into = "OneOrMany")]
pub struct FieldPointer(Vec<JsonPointer>);

impl FieldPointer {
    /// The field read from the members `names` of the top-level object, in order.
    pub fn members(names: &[&str]) -> Self {
        FieldPointer(names.iter().map(|name| JsonPointer::member(name)).collect())
    }

    /// The first value other than `null` the pointers find in `value`.
    pub fn find<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.0.iter().filter_map(|pointer| pointer.get(value)).find(|found| !found.is_null())
    }

    /// The pointers, in the order they are tried.
    pub fn pointers(&self) -> &[JsonPointer] {
        &self.0
    }
}

impl fmt::Display for FieldPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<&str> = self.0.iter().map(JsonPointer::as_str).collect();
        write!(f, "{}", shown.join("` or `"))
    }
}

/// A field's pointers as the document writes them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One pointer.
    One(String),
    /// Several, tried in order.
    Many(Vec<String>),
}

impl TryFrom<OneOrMany> for FieldPointer {
    type Error = String;
    fn try_from(written: OneOrMany) -> Result<Self, String> {
        let texts = match written {
            OneOrMany::One(text) => vec![text],
            OneOrMany::Many(texts) if texts.is_empty() => return Err("needs at least one JSON pointer".into()),
            OneOrMany::Many(texts) => texts,
        };
        texts.iter().map(|text| JsonPointer::parse(text)).collect::<Result<_, _>>().map(FieldPointer)
    }
}

impl From<FieldPointer> for OneOrMany {
    fn from(field: FieldPointer) -> OneOrMany {
        match field.0.as_slice() {
            [one] => OneOrMany::One(one.as_str().to_owned()),
            many => OneOrMany::Many(many.iter().map(|p| p.as_str().to_owned()).collect()),
        }
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pointer_is_empty_or_starts_with_a_slash() {
        assert!(JsonPointer::parse("").is_ok() && JsonPointer::parse("/assignee/id").is_ok());
        let error = JsonPointer::parse("assignee").unwrap_err();
        assert!(error.contains("must be \"\" or start with `/`"), "{error}");
        assert!(JsonPointer::parse("/a~2b").unwrap_err().contains("`~` must be followed by 0 or 1"));
        assert!(JsonPointer::parse("/a~").is_err());
        assert!(JsonPointer::parse("/a~1b/c~0d").is_ok());
    }

    #[test]
    fn a_member_pointer_escapes_slashes_and_tildes() {
        let value = json!({"a/b": 1, "c~d": 2});
        assert_eq!(JsonPointer::member("a/b").get(&value), Some(&json!(1)));
        assert_eq!(JsonPointer::member("c~d").get(&value), Some(&json!(2)));
    }

    #[test]
    fn the_first_pointer_holding_a_value_other_than_null_wins() {
        let field = FieldPointer::members(&["content", "body", "text"]);
        assert_eq!(field.find(&json!({"content": null, "body": "b", "text": "t"})), Some(&json!("b")));
        assert_eq!(field.find(&json!({"other": 1})), None);
    }

    #[test]
    fn a_field_is_written_as_one_pointer_or_a_list() {
        let one: FieldPointer = serde_json::from_value(json!("/assignee/id")).unwrap();
        assert_eq!(one.pointers(), [JsonPointer::parse("/assignee/id").unwrap()]);
        let many: FieldPointer = serde_json::from_value(json!(["/a", "/b"])).unwrap();
        assert_eq!(many.pointers().len(), 2);
        assert!(serde_json::from_value::<FieldPointer>(json!([])).unwrap_err().to_string().contains("at least one"));
        assert!(serde_json::from_value::<FieldPointer>(json!("a")).is_err());
        assert_eq!(serde_json::to_value(&many).unwrap(), json!(["/a", "/b"]));
    }
}
