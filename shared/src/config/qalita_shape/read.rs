//! One QALITA object (an API answer, or the issue or comment a change event carries) read into its
//! domain type by the configured JSON pointers
//! ([`crate::config::qalita_shape::QalitaFields`]): a pointer that finds nothing (or `null`) leaves
//! the field absent; a value of the wrong kind is a [`Misfit`] naming the field.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{CommentFields, FieldPointer, QalitaFields, UserPointers};
use crate::domain::QalitaIssueId;
use crate::domain::qalita::{QalitaComment, QalitaIssue, QalitaUser, parse_time};

/// A field whose value does not fit: the field's name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misfit {
    /// The field's name in the configuration (`created_at`).
    pub field: &'static str,
    /// What is wrong, with the pointer read.
    pub problem: String,
}

/// A field read from one object.
struct Reader<'a>(&'a Value);

impl Reader<'_> {
    fn misfit(&self, field: &'static str, pointer: &FieldPointer, found: &Value, expected: &str) -> Misfit {
        let shown: String = found.to_string().chars().take(60).collect();
        Misfit { field, problem: format!("`{pointer}` holds {shown}, which is not {expected}") }
    }

    /// A string; `null` or nothing is absent.
    fn text(&self, field: &'static str, pointer: &FieldPointer) -> Result<Option<String>, Misfit> {
        match pointer.find(self.0) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(self.misfit(field, pointer, other, "a string")),
        }
    }

    /// An id: a number, a numeric string, or an object whose `id` member is one of those; an empty
    /// string is absent.
    fn id(&self, field: &'static str, pointer: &FieldPointer) -> Result<Option<u64>, Misfit> {
        let Some(found) = pointer.find(self.0) else { return Ok(None) };
        let raw = match found {
            Value::Object(object) => match object.get("id") {
                None | Some(Value::Null) => return Ok(None),
                Some(id) => id,
            },
            other => other,
        };
        match raw {
            Value::Number(number) if number.as_u64().is_some() => Ok(number.as_u64()),
            Value::String(text) if text.trim().is_empty() => Ok(None),
            Value::String(text) if text.trim().parse::<u64>().is_ok() => Ok(text.trim().parse().ok()),
            _ => Err(self.misfit(
                field,
                pointer,
                found,
                "an id (a number, a numeric string, or an object with one as `id`)",
            )),
        }
    }

    /// A date and time, as [`parse_time`] reads it.
    fn time(&self, field: &'static str, pointer: &FieldPointer) -> Result<Option<DateTime<Utc>>, Misfit> {
        match pointer.find(self.0) {
            None => Ok(None),
            Some(Value::String(text)) => match parse_time(text) {
                Some(time) => Ok(Some(time)),
                None => {
                    Err(Misfit { field, problem: format!("`{pointer}` holds {text:?}, which is not a date and time") })
                }
            },
            Some(other) => Err(self.misfit(field, pointer, other, "a date and time")),
        }
    }

    /// The id that must be there.
    fn required_id(&self, field: &'static str, pointer: &FieldPointer) -> Result<u64, Misfit> {
        self.id(field, pointer)?
            .ok_or_else(|| Misfit { field, problem: format!("missing field `{field}` (read at `{pointer}`)") })
    }
}

/// An issue read from one object.
pub fn issue(value: &Value, fields: &QalitaFields) -> Result<QalitaIssue, Misfit> {
    let read = Reader(value);
    let raw = read.required_id("id", &fields.id)?;
    let id = QalitaIssueId::new(raw).map_err(|error| Misfit { field: "id", problem: error.to_string() })?;
    Ok(QalitaIssue {
        id,
        partner_id: read.id("partner_id", &fields.partner_id)?,
        title: read.text("title", &fields.title)?.unwrap_or_default(),
        description: read.text("description", &fields.description)?,
        status: read.text("status", &fields.status)?.unwrap_or_default(),
        source_id: read.id("source_id", &fields.source_id)?,
        assignee: read.id("assignee", &fields.assignee)?,
        scope: fields.scope.find(value).cloned(),
        due_date: read.text("due_date", &fields.due_date)?,
        author_id: read.id("author_id", &fields.author_id)?,
        updated_by: read.id("updated_by", &fields.updated_by)?,
        closed_by: read.id("closed_by", &fields.closed_by)?,
        created_at: read.time("created_at", &fields.created_at)?,
        updated_at: read.time("updated_at", &fields.updated_at)?,
        closed_at: read.time("closed_at", &fields.closed_at)?,
        url: read.text("url", &fields.url)?,
    })
}

/// A comment read from one object.
pub fn comment(value: &Value, fields: &CommentFields) -> Result<QalitaComment, Misfit> {
    let read = Reader(value);
    Ok(QalitaComment {
        id: read.required_id("id", &fields.id)?,
        issue_id: read.id("issue_id", &fields.issue_id)?,
        author_id: read.id("author_id", &fields.author_id)?,
        author: read.text("author", &fields.author)?,
        content: read.text("content", &fields.content)?.unwrap_or_default(),
        created_at: read.time("created_at", &fields.created_at)?,
        updated_at: read.time("updated_at", &fields.updated_at)?,
    })
}

/// A user read from one object; `asked` is the id it was read by, kept when the answer has none.
/// The login, name and e-mail are read leniently: a value that is not a string is absent.
pub fn user(value: &Value, fields: &UserPointers, asked: Option<u64>) -> Result<QalitaUser, Misfit> {
    let id = match Reader(value).id("id", &fields.id) {
        Ok(id) => id.or(asked),
        Err(_) => {
            let found = fields.id.find(value).map(Value::to_string).unwrap_or_default();
            return Err(Misfit { field: "id", problem: format!("an `id` of {found}") });
        }
    };
    let id = id.ok_or_else(|| Misfit { field: "id", problem: format!("a user without an id at `{}`", fields.id) })?;
    let text = |pointer: &FieldPointer| pointer.find(value).and_then(Value::as_str).map(str::to_owned);
    Ok(QalitaUser { id, login: text(&fields.login), name: text(&fields.name), email: text(&fields.email) })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::qalita_paths::UserFields;
    use crate::config::qalita_shape::UserFieldPointers;

    const ISSUE: &str = include_str!("../../../../fixtures/qalita/issue.json");

    fn pointer(text: &str) -> FieldPointer {
        serde_json::from_value(json!(text)).unwrap()
    }

    #[test]
    fn the_default_pointers_read_the_sample_as_serde_does() {
        let sample: Value = serde_json::from_str(ISSUE).unwrap();
        let expected: QalitaIssue = serde_json::from_value(sample.clone()).unwrap();
        assert_eq!(issue(&sample, &QalitaFields::default()), Ok(expected));
    }

    #[test]
    fn an_assignee_reads_as_a_number_a_numeric_string_or_an_objects_id() {
        let fields = QalitaFields::default();
        for assignee in [json!(12), json!("12"), json!({"id": 12, "login": "m.durand"}), json!({"id": "12"})] {
            let read = issue(&json!({"id": 1, "assignee": assignee}), &fields).unwrap();
            assert_eq!(read.assignee, Some(12), "{assignee}");
        }
        for absent in [json!(null), json!(""), json!({"login": "nobody"})] {
            assert_eq!(issue(&json!({"id": 1, "assignee": absent}), &fields).unwrap().assignee, None, "{absent}");
        }
        let error = issue(&json!({"id": 1, "assignee": "m.durand"}), &fields).unwrap_err();
        assert_eq!(error.field, "assignee");
        assert!(error.problem.starts_with("`/assignee` holds \"m.durand\", which is not an id"), "{}", error.problem);
    }

    #[test]
    fn a_pointer_into_a_nested_object_reads_it_and_a_missing_one_is_absent() {
        let fields = QalitaFields {
            assignee: pointer("/assignee_id"),
            title: pointer("/attributes/name"),
            source_id: pointer("/source/id"),
            url: pointer("/links/self"),
            ..QalitaFields::default()
        };
        let value = json!({"id": 4, "assignee_id": "7", "attributes": {"name": "Nulls"}, "title": "ignored"});
        let read = issue(&value, &fields).unwrap();
        assert_eq!((read.assignee, read.title.as_str()), (Some(7), "Nulls"));
        assert_eq!((read.source_id, read.url), (None, None), "a pointer to nothing is absent");
    }

    #[test]
    fn a_missing_id_or_a_date_that_does_not_read_names_the_field() {
        let fields = QalitaFields::default();
        let error = issue(&json!({"title": "no id"}), &fields).unwrap_err();
        assert_eq!((error.field, error.problem.as_str()), ("id", "missing field `id` (read at `/id`)"));
        let error = issue(&json!({"id": 5, "updated_at": "yesterday"}), &fields).unwrap_err();
        assert_eq!(error.field, "updated_at");
        let read = issue(&json!({"id": 5, "updated_at": "2026-11-20 08:16:00", "title": null}), &fields).unwrap();
        assert_eq!(read.updated_at.unwrap().to_rfc3339(), "2026-11-20T08:16:00+00:00");
        assert_eq!(read.title, "", "null is empty");
    }

    #[test]
    fn a_comment_reads_its_aliases_in_order_and_configured_pointers() {
        let fields = CommentFields::default();
        let read = comment(&json!({"id": 3, "body": "b", "text": "t", "user_id": 12}), &fields).unwrap();
        assert_eq!((read.content.as_str(), read.author_id), ("b", Some(12)));
        let fields = CommentFields {
            content: pointer("/message/text"),
            author_id: pointer("/author"),
            author: pointer("/author/login"),
            ..CommentFields::default()
        };
        let read = comment(&json!({"id": 3, "message": {"text": "hi"}, "author": {"id": 9, "login": "jdoe"}}), &fields)
            .unwrap();
        assert_eq!((read.content.as_str(), read.author_id, read.author.as_deref()), ("hi", Some(9), Some("jdoe")));
    }

    #[test]
    fn a_user_reads_by_pointers_and_keeps_the_asked_id() {
        let pointers = UserFieldPointers { login: Some(pointer("/profile/username")), ..Default::default() }
            .resolve(&UserFields::default());
        let read = user(&json!({"profile": {"username": "jdoe"}, "name": 3}), &pointers, Some(7)).unwrap();
        assert_eq!(read, QalitaUser { id: 7, login: Some("jdoe".into()), name: None, email: None });
        assert_eq!(user(&json!({"id": "8"}), &pointers, Some(7)).unwrap().id, 8);
        assert_eq!(user(&json!({"login": "x"}), &pointers, None).unwrap_err().field, "id");
    }
}
