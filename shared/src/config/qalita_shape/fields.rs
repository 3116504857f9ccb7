//! Where each field of an issue, a comment and a user is read in QALITA's answers (`[qalita.fields]`,
//! `[qalita.fields.comment]`, `[qalita.fields.user]`): one JSON pointer per field, the built-in
//! defaults being the field names QALITA is assumed to use (DESIGN section 6).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::pointer::FieldPointer;
use crate::config::qalita_paths::UserFields;

/// The pointers of an issue's fields. An id-like field (`id`, `assignee`, `source_id`, …) reads a
/// number, a numeric string, or an object whose `id` member is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QalitaFields {
    /// The issue's id (required in every issue).
    pub id: FieldPointer,
    /// The tenant.
    pub partner_id: FieldPointer,
    /// The title.
    pub title: FieldPointer,
    /// The description.
    pub description: FieldPointer,
    /// The status word.
    pub status: FieldPointer,
    /// The data source.
    pub source_id: FieldPointer,
    /// The assigned user.
    pub assignee: FieldPointer,
    /// The scope (any JSON value).
    pub scope: FieldPointer,
    /// The due date.
    pub due_date: FieldPointer,
    /// Who raised it.
    pub author_id: FieldPointer,
    /// Who changed it last.
    pub updated_by: FieldPointer,
    /// Who closed it.
    pub closed_by: FieldPointer,
    /// When it was created.
    pub created_at: FieldPointer,
    /// When it last changed.
    pub updated_at: FieldPointer,
    /// When it was closed.
    pub closed_at: FieldPointer,
    /// Its page in QALITA.
    pub url: FieldPointer,
    /// A comment's fields.
    pub comment: CommentFields,
    /// A user's fields.
    pub user: UserFieldPointers,
}

impl Default for QalitaFields {
    fn default() -> Self {
        let member = |name: &str| FieldPointer::members(&[name]);
        QalitaFields {
            id: member("id"),
            partner_id: member("partner_id"),
            title: member("title"),
            description: member("description"),
            status: member("status"),
            source_id: member("source_id"),
            assignee: member("assignee"),
            scope: member("scope"),
            due_date: member("due_date"),
            author_id: member("author_id"),
            updated_by: member("updated_by"),
            closed_by: member("closed_by"),
            created_at: member("created_at"),
            updated_at: member("updated_at"),
            closed_at: member("closed_at"),
            url: member("url"),
            comment: CommentFields::default(),
            user: UserFieldPointers::default(),
        }
    }
}

impl QalitaFields {
    /// Each issue field's setting name and pointers.
    pub fn issue_pointers(&self) -> [(&'static str, &FieldPointer); 16] {
        [
            ("id", &self.id),
            ("partner_id", &self.partner_id),
            ("title", &self.title),
            ("description", &self.description),
            ("status", &self.status),
            ("source_id", &self.source_id),
            ("assignee", &self.assignee),
            ("scope", &self.scope),
            ("due_date", &self.due_date),
            ("author_id", &self.author_id),
            ("updated_by", &self.updated_by),
            ("closed_by", &self.closed_by),
            ("created_at", &self.created_at),
            ("updated_at", &self.updated_at),
            ("closed_at", &self.closed_at),
            ("url", &self.url),
        ]
    }

    /// The issue fields that no pointer finds in any of `issues` (a `null` is found: the field is
    /// there, without a value). Empty when `issues` is: no issue proves anything absent.
    pub fn absent_from_all(&self, issues: &[Value]) -> Vec<(&'static str, &FieldPointer)> {
        if issues.is_empty() {
            return Vec::new();
        }
        let present = |field: &FieldPointer, issue: &Value| field.pointers().iter().any(|p| p.get(issue).is_some());
        let issue_pointers = self.issue_pointers();
        issue_pointers.into_iter().filter(|(_, field)| !issues.iter().any(|issue| present(field, issue))).collect()
    }
}

/// The pointers of a comment's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommentFields {
    /// The comment's id (required).
    pub id: FieldPointer,
    /// The issue it is on.
    pub issue_id: FieldPointer,
    /// Its author's user id (`author_id`, else `user_id`).
    pub author_id: FieldPointer,
    /// Its author's name or login.
    pub author: FieldPointer,
    /// Its text (`content`, else `body`, else `text`).
    pub content: FieldPointer,
    /// When it was written.
    pub created_at: FieldPointer,
    /// When it was last edited.
    pub updated_at: FieldPointer,
}

impl Default for CommentFields {
    fn default() -> Self {
        CommentFields {
            id: FieldPointer::members(&["id"]),
            issue_id: FieldPointer::members(&["issue_id"]),
            author_id: FieldPointer::members(&["author_id", "user_id"]),
            author: FieldPointer::members(&["author"]),
            content: FieldPointer::members(&["content", "body", "text"]),
            created_at: FieldPointer::members(&["created_at"]),
            updated_at: FieldPointer::members(&["updated_at"]),
        }
    }
}

/// The pointers of a user's fields. `login`, `name` and `email` left unset are read from the member
/// `qalita.paths.user_fields` names (`login`, `name`, `email` by default), which they replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserFieldPointers {
    /// The user's id (a user of the list without one is refused; one user read by id keeps it).
    pub id: FieldPointer,
    /// The login, matched against GitLab usernames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<FieldPointer>,
    /// The display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<FieldPointer>,
    /// The e-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<FieldPointer>,
}

impl Default for UserFieldPointers {
    fn default() -> Self {
        UserFieldPointers { id: FieldPointer::members(&["id"]), login: None, name: None, email: None }
    }
}

/// A user's pointers with nothing left unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPointers {
    /// The id.
    pub id: FieldPointer,
    /// The login.
    pub login: FieldPointer,
    /// The display name.
    pub name: FieldPointer,
    /// The e-mail address.
    pub email: FieldPointer,
}

impl UserFieldPointers {
    /// These pointers, the unset ones read from the member names `names`.
    pub fn resolve(&self, names: &UserFields) -> UserPointers {
        let or_name =
            |set: &Option<FieldPointer>, name: &str| set.clone().unwrap_or_else(|| FieldPointer::members(&[name]));
        UserPointers {
            id: self.id.clone(),
            login: or_name(&self.login, &names.login),
            name: or_name(&self.name, &names.name),
            email: or_name(&self.email, &names.email),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_field_is_absent_only_when_no_issue_of_the_page_has_it() {
        let fields = QalitaFields::default();
        let page = [
            json!({"id": 1, "title": "t", "status": "open", "assignee_id": 12, "closed_at": null}),
            json!({"id": 2, "title": "u", "status": "open", "url": "https://q/2"}),
        ];
        let absent: Vec<&str> = fields.absent_from_all(&page).iter().map(|(name, _)| *name).collect();
        assert!(absent.contains(&"assignee") && absent.contains(&"updated_at"), "{absent:?}");
        assert!(!absent.contains(&"closed_at"), "null is present");
        assert!(!absent.contains(&"url"), "one issue has it");
        assert!(fields.absent_from_all(&[]).is_empty(), "no issue proves nothing");
    }
}
