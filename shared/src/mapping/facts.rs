//! What the mapping and the routing know about a QALITA issue, gathered from the issue, the
//! change event's context and the owner's user record.

use crate::domain::QalitaIssueId;
use crate::domain::qalita::{IssueContext, QalitaIssue, QalitaUser};

/// The values templates and routing rules can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The QALITA issue.
    pub issue_id: QalitaIssueId,
    /// The dataset: the source's name, else the dataset in the scope.
    pub dataset: Option<String>,
    /// The rule or metric: the issue's title, else the scope's value.
    pub rule: Option<String>,
    /// `info`, `warning`, `high`.
    pub severity: Option<String>,
    /// The data domain.
    pub domain: Option<String>,
    /// The source name (or `source <id>`).
    pub source: Option<String>,
    /// The scope's value and its parents' values, innermost first.
    pub scopes: Vec<String>,
    /// The owner's login.
    pub owner: Option<String>,
    /// The QALITA status word.
    pub status: String,
    /// The description: the current evidence.
    pub evidence: Option<String>,
    /// The issue's page in QALITA.
    pub qalita_url: Option<String>,
    /// The due date.
    pub due_date: Option<String>,
}

impl Facts {
    /// Gathers the facts. `owner` is the QALITA user the issue is assigned to, when known.
    pub fn of(issue: &QalitaIssue, context: &IssueContext, owner: Option<&QalitaUser>) -> Self {
        let mut scopes = Vec::new();
        let mut dataset_in_scope = None;
        let mut scope = issue.scope.as_ref();
        // Walk {perimeter, value, parent_scope} outwards; the depth is bounded against odd input.
        for _ in 0..8 {
            let Some(current) = scope else { break };
            if let Some(value) = current.get("value").and_then(|v| v.as_str()) {
                scopes.push(value.to_owned());
                if current.get("perimeter").and_then(|p| p.as_str()) == Some("dataset") && dataset_in_scope.is_none() {
                    dataset_in_scope = Some(value.to_owned());
                }
            }
            scope = current.get("parent_scope").filter(|p| p.is_object());
        }
        let source = context.source_name.clone().or_else(|| issue.source_id.map(|id| format!("source {id}")));
        let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        Facts {
            issue_id: issue.id,
            dataset: context.source_name.clone().or(dataset_in_scope).or_else(|| source.clone()),
            rule: non_empty(&issue.title).or_else(|| scopes.first().cloned()),
            severity: context.severity.as_deref().and_then(non_empty),
            domain: context.domain.as_deref().and_then(non_empty),
            source,
            scopes,
            owner: owner.and_then(|u| u.login.clone().or_else(|| u.name.clone())),
            status: issue.status.trim().to_owned(),
            evidence: issue.description.as_deref().and_then(non_empty),
            qalita_url: issue.url.clone(),
            due_date: issue.due_date.clone(),
        }
    }

    /// A template placeholder's value.
    pub fn value(&self, name: &str) -> Option<String> {
        match name {
            "dataset" => self.dataset.clone(),
            "rule" => self.rule.clone(),
            "severity" => self.severity.clone(),
            "domain" => self.domain.clone(),
            "source" => self.source.clone(),
            "status" => Some(self.status.clone()),
            "owner" => self.owner.clone(),
            "evidence" => self.evidence.clone(),
            "qalita_url" => self.qalita_url.clone(),
            "issue_id" => Some(self.issue_id.to_string()),
            "due_date" => self.due_date.clone(),
            "scope" => self.scopes.first().cloned(),
            _ => None,
        }
    }
}
