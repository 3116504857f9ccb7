//! The fields both sides have: which ones the inbound sync reads, who owns each, its name in the
//! log and the configuration, and its value as QALITA holds it, in the words the link records.

use crate::config::{Config, Owner};
use crate::domain::digest::text_digest;
use crate::domain::link::Field;
use crate::domain::qalita::QalitaIssue;

/// The fields the inbound sync looks at, in the order they are planned.
pub const INBOUND_FIELDS: [Field; 4] = [Field::Status, Field::Assignee, Field::Title, Field::Description];

/// The logical value of a field as QALITA holds it (`None`: the status word is unknown).
pub fn qalita_value(config: &Config, issue: &QalitaIssue, field: Field) -> Option<String> {
    match field {
        Field::Status => config.status.meaning(&issue.status).map(|s| s.as_str().to_owned()),
        Field::Assignee => Some(issue.assignee.map_or(String::new(), |a| a.to_string())),
        Field::Title => Some(issue.title.clone()),
        Field::Description => Some(text_digest(issue.description.as_deref().unwrap_or_default())),
        _ => None,
    }
}

/// Who owns an inbound field.
pub fn owner_of(config: &Config, field: Field) -> Owner {
    match field {
        Field::Status => config.ownership.status,
        Field::Assignee => config.ownership.assignee,
        Field::Title => config.ownership.title,
        Field::Description => config.ownership.description,
        _ => Owner::Qalita,
    }
}

/// The field's name in the log and in the configuration's `ownership` table.
pub fn field_name(field: Field) -> &'static str {
    match field {
        Field::Status => "status",
        Field::Assignee => "assignee",
        Field::Title => "title",
        Field::Description => "description",
        Field::Labels => "labels",
        Field::State => "state",
        Field::Confidential => "confidentiality",
    }
}
