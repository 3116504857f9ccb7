//! Which GitLab project a QALITA issue goes to, and why: the ordered rules of the configuration,
//! first match wins, else the default project (DESIGN section 7). Every decision is explainable.

use super::Facts;
use crate::config::{Config, Route};
use crate::domain::gitlab::GitlabProjectRef;

/// Where an issue goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecision {
    /// The project.
    pub project: GitlabProjectRef,
    /// Whether the GitLab issue is confidential.
    pub confidential: bool,
    /// The matching rule's creation mode, overriding `create.mode`.
    pub create: Option<crate::config::CreateMode>,
    /// Why, for the log and `explain`.
    pub reason: String,
}

/// Picks the project for an issue.
pub fn route(config: &Config, facts: &Facts) -> RouteDecision {
    for (index, rule) in config.routing.iter().enumerate() {
        if let Some(why) = matches(rule, facts) {
            let name = rule.name.clone().unwrap_or_else(|| format!("routing[{index}]"));
            return RouteDecision {
                project: rule.project.clone(),
                confidential: rule.confidential,
                create: rule.create,
                reason: format!("rule {name:?} matched ({why})"),
            };
        }
    }
    RouteDecision {
        project: config.gitlab.default_project.clone(),
        confidential: false,
        create: None,
        reason: match config.routing.len() {
            0 => "no routing rules: the default project".to_owned(),
            n => format!("none of the {n} routing rules matched: the default project"),
        },
    }
}

/// `Some(explanation)` when every condition of the rule holds.
fn matches(rule: &Route, facts: &Facts) -> Option<String> {
    let mut why = Vec::new();
    let mut check = |name: &str, wanted: &Option<String>, have: &[Option<&str>]| -> bool {
        let Some(wanted) = wanted else { return true };
        match have.iter().flatten().find(|v| pattern_matches(wanted, v)) {
            Some(v) => {
                why.push(format!("{name} {v:?} ~ {wanted:?}"));
                true
            }
            None => false,
        }
    };
    let scopes: Vec<Option<&str>> = facts.scopes.iter().map(|s| Some(s.as_str())).collect();
    let all = check("domain", &rule.domain, &[facts.domain.as_deref()])
        && check("source", &rule.source, &[facts.source.as_deref(), facts.dataset.as_deref()])
        && check("scope", &rule.scope, &scopes)
        && check("owner", &rule.owner, &[facts.owner.as_deref()])
        && check("severity", &rule.severity, &[facts.severity.as_deref()]);
    all.then(|| why.join(", "))
}

/// Case-insensitive equality; a trailing `*` matches any suffix.
fn pattern_matches(pattern: &str, value: &str) -> bool {
    let (pattern, value) = (pattern.trim().to_lowercase(), value.trim().to_lowercase());
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trailing_star_matches_a_prefix_and_case_is_ignored() {
        assert!(pattern_matches("billing.*", "Billing.Customer_Sites"));
        assert!(pattern_matches("HIGH", "high"));
        assert!(!pattern_matches("billing", "billing.sites"));
    }
}
