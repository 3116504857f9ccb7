//! Reading an OpenAPI 3 document's schemas as the discovery needs them: `$ref`s followed into the
//! document, `allOf` merged, a nullable `anyOf`/`oneOf` unwrapped, a list found bare or in a wrapper.

use serde_json::{Map, Value};

/// How many `$ref`s are followed in a row before a schema is taken as unknown (a cycle).
const MAX_REFS: usize = 32;

/// The names a list's total may have in its wrapper.
const TOTAL_NAMES: &[&str] = &["total", "count", "total_count", "totalCount", "total_items", "totalItems"];

/// The document, to resolve references against.
#[derive(Clone, Copy)]
pub(super) struct Schemas<'a> {
    pub root: &'a Value,
}

/// Where a list's items are in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ListShape<'a> {
    /// The wrapper's member holding the array; `None`: the answer is the array.
    pub items: Option<String>,
    /// The wrapper's member holding the total count, when it has one.
    pub total: Option<String>,
    /// The schema of one item.
    pub item: &'a Value,
}

impl<'a> Schemas<'a> {
    /// `value` with its `$ref`s followed; `Null` when one cannot be.
    pub fn resolve(&self, mut value: &'a Value) -> &'a Value {
        for _ in 0..MAX_REFS {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else { return value };
            let Some(found) = reference.strip_prefix('#').and_then(|pointer| self.root.pointer(pointer)) else {
                return &Value::Null;
            };
            value = found;
        }
        &Value::Null
    }

    /// The schema itself, a nullable `anyOf`/`oneOf` of one schema unwrapped to it.
    pub fn unwrap(&self, schema: &'a Value) -> &'a Value {
        let schema = self.resolve(schema);
        for key in ["anyOf", "oneOf"] {
            if let Some(variants) = schema.get(key).and_then(Value::as_array) {
                let real: Vec<&Value> = variants
                    .iter()
                    .map(|v| self.resolve(v))
                    .filter(|v| v.get("type") != Some(&"null".into()))
                    .collect();
                if let [one] = real.as_slice() {
                    return self.unwrap(one);
                }
            }
        }
        schema
    }

    /// The properties of an object schema (those of its `allOf` members merged), if it has any.
    pub fn properties(&self, schema: &'a Value) -> Option<Map<String, Value>> {
        let schema = self.unwrap(schema);
        let mut found = Map::new();
        if let Some(own) = schema.get("properties").and_then(Value::as_object) {
            found.extend(own.iter().map(|(name, value)| (name.clone(), value.clone())));
        }
        for member in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            if let Some(more) = self.properties(member) {
                found.extend(more);
            }
        }
        (!found.is_empty()).then_some(found)
    }

    /// The JSON type a schema declares (`integer`, `array`, …), after unwrapping.
    pub fn kind(&self, schema: &'a Value) -> Option<&'a str> {
        let schema = self.unwrap(schema);
        match schema.get("type") {
            Some(Value::String(kind)) => Some(kind),
            // OpenAPI 3.1: `type: ["integer", "null"]`.
            Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).find(|kind| *kind != "null"),
            _ if schema.get("properties").is_some() => Some("object"),
            _ if schema.get("items").is_some() => Some("array"),
            _ => None,
        }
    }

    /// The item schema of an array schema.
    pub fn array_item(&self, schema: &'a Value) -> Option<&'a Value> {
        let schema = self.unwrap(schema);
        match self.kind(schema) {
            Some("array") => schema.get("items").map(|item| self.unwrap(item)),
            _ => None,
        }
    }

    /// Where the list is in an answer of this schema: the array itself, or the one array member of
    /// an object (with its total, when the object has one), of items that `fits`.
    pub fn list(&self, schema: &'a Value, fits: impl Fn(&Value) -> bool) -> Option<ListShape<'a>> {
        let schema = self.unwrap(schema);
        if let Some(item) = self.array_item(schema) {
            return fits(item).then_some(ListShape { items: None, total: None, item });
        }
        let properties = schema.get("properties").and_then(Value::as_object)?;
        let (name, item) = properties
            .iter()
            .filter_map(|(name, member)| Some((name, self.array_item(member)?)))
            .find(|(_, item)| fits(item))?;
        let total = TOTAL_NAMES
            .iter()
            .find(|total| properties.get(**total).is_some_and(|member| self.kind(member) == Some("integer")))
            .map(|total| (*total).to_owned());
        Some(ListShape { items: Some(name.clone()), total, item })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn references_nullable_unions_and_all_of_are_read_through() {
        let root = json!({"components": {"schemas": {
            "Base": {"properties": {"id": {"type": "integer"}}},
            "Issue": {"allOf": [{"$ref": "#/components/schemas/Base"}, {"properties": {"title": {"type": "string"}}}]},
            "Loop": {"$ref": "#/components/schemas/Loop"},
        }}});
        let schemas = Schemas { root: &root };
        let nullable = json!({"anyOf": [{"$ref": "#/components/schemas/Issue"}, {"type": "null"}]});
        let properties = schemas.properties(&nullable).unwrap();
        assert_eq!(properties.keys().collect::<Vec<_>>(), ["id", "title"]);
        assert_eq!(schemas.resolve(&json!({"$ref": "#/components/schemas/Loop"})), &Value::Null);
        assert_eq!(schemas.resolve(&json!({"$ref": "other.json#/x"})), &Value::Null);
        assert_eq!(schemas.kind(&json!({"type": ["integer", "null"]})), Some("integer"));
    }

    #[test]
    fn a_list_is_found_bare_or_in_its_wrapper_with_its_total() {
        let root = json!({});
        let schemas = Schemas { root: &root };
        let item = json!({"properties": {"id": {"type": "integer"}}});
        let bare = json!({"type": "array", "items": item});
        assert_eq!(schemas.list(&bare, |_| true).unwrap().items, None);
        let wrapped = json!({"type": "object", "properties": {
            "data": {"type": "array", "items": item}, "total": {"type": "integer"}}});
        let shape = schemas.list(&wrapped, |_| true).unwrap();
        assert_eq!((shape.items.as_deref(), shape.total.as_deref()), (Some("data"), Some("total")));
        assert!(schemas.list(&wrapped, |_| false).is_none());
    }
}
