//! QALITA issue → the GitLab issue it should be: title, description (with the hidden marker),
//! managed labels, state, confidentiality, and the project routing picks (DESIGN section 7).

mod facts;
mod fields;
pub mod routing;

use std::collections::BTreeSet;

use crate::config::Config;
use crate::domain::gitlab::IssueState;
use crate::domain::marker::Marker;
use crate::domain::sync::Status;
pub use facts::Facts;
pub use fields::{INBOUND_FIELDS, field_name, owner_of, qalita_value};
use routing::{RouteDecision, route};

/// GitLab's limit on a title, in characters.
pub const MAX_TITLE_CHARS: usize = 255;
/// The description is kept well under GitLab's limit of 1,048,576 characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1_000_000;

/// The GitLab issue a QALITA issue should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired {
    /// The title.
    pub title: String,
    /// The description, ending with the marker.
    pub description: String,
    /// The labels this service manages, muted label included when muted.
    pub labels: BTreeSet<String>,
    /// Open or closed; `None` when the QALITA status is a word the configuration does not know
    /// (the state is then left as it is).
    pub state: Option<IssueState>,
    /// The status as both sides understand it (`None` when the word is unknown).
    pub status: Option<Status>,
    /// The routing decision: project, confidentiality, and why.
    pub route: RouteDecision,
    /// Why the state is what it is, for the log.
    pub status_reason: String,
}

impl Desired {
    /// Computes the desired GitLab issue.
    pub fn of(config: &Config, facts: &Facts) -> Self {
        let value = |name: &str| facts.value(name);
        let title = truncate(config.mapping.title.render(value, "unknown").replace(['\n', '\r'], " "), MAX_TITLE_CHARS);
        let body = truncate(config.mapping.description.render(value, "—"), MAX_DESCRIPTION_CHARS);
        let description = format!("{body}\n\n{}", Marker::Issue(facts.issue_id).text());
        let meaning = config.status.meaning(&facts.status);
        let mut labels: BTreeSet<String> = config
            .mapping
            .labels
            .iter()
            .filter_map(|t| t.render_strict(value))
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty() && !l.contains(','))
            .collect();
        if meaning == Some(Status::Muted) {
            labels.insert(config.mapping.muted_label.clone());
        }
        let (state, status_reason) = match meaning {
            Some(Status::Open) => (Some(IssueState::Opened), format!("QALITA status {:?} is open", facts.status)),
            Some(Status::Resolved) => {
                (Some(IssueState::Closed), format!("QALITA status {:?} is resolved", facts.status))
            }
            Some(Status::Muted) => (
                Some(IssueState::Opened),
                format!("QALITA status {:?} is muted: open, labelled {}", facts.status, config.mapping.muted_label),
            ),
            None => (
                None,
                format!("QALITA status {:?} is not in the status map: the GitLab state is left as it is", facts.status),
            ),
        };
        Desired { title, description, labels, state, status: meaning, route: route(config, facts), status_reason }
    }
}

fn truncate(text: String, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text,
        Some((cut, _)) => {
            let mut short = text[..cut].to_owned();
            short.pop();
            short.push('…');
            short
        }
    }
}

#[cfg(test)]
mod tests;
