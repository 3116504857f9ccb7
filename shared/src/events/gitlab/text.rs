//! Strings borrowed from the delivery when they hold no escape sequence, so that reading a payload
//! does not allocate for every title, URL and timestamp. (`Cow<str>` alone always allocates
//! when wrapped in an `Option`.)

use std::borrow::Cow;
use std::fmt;

use serde::de::{Error, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// Deserialises an optional string, borrowing it from the input when it can.
pub fn optional<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    struct Optional;
    impl<'de> Visitor<'de> for Optional {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_str(Text).map(Some)
        }
    }
    deserializer.deserialize_option(Optional)
}

/// Deserialises an optional text kept raw (a description, a note's body): a string, or null for
/// absent. Anything else is refused here, so that the webhook refuses a delivery the worker could
/// not read (`"description": 5` was queued, then dropped: found by the fuzz checks' promise that
/// every message the webhook queues is one the worker syncs).
pub fn raw<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'a RawValue>, D::Error> {
    let raw: Option<&'a RawValue> = Option::deserialize(deserializer)?;
    let Some(text) = raw else { return Ok(None) };
    let found = match text.get().as_bytes().first() {
        Some(b'"') => return Ok(raw),
        Some(b'{') => Unexpected::Map,
        Some(b'[') => Unexpected::Seq,
        Some(b't' | b'f') => Unexpected::Other("a boolean"),
        _ => Unexpected::Other("a number"),
    };
    Err(D::Error::invalid_type(found, &"a string or null"))
}

struct Text;

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: Error>(self, value: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(value))
    }
    fn visit_str<E: Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value.to_owned()))
    }
    fn visit_string<E: Error>(self, value: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(value))
    }
}
