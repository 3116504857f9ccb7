//! Whether a QALITA issue gets a GitLab issue by itself (`[create]`), pure. On a tenant with years
//! of history, the poll sees thousands of unlinked issues: none of them may become a GitLab issue
//! unless the policy says so. `create-issue` and `backfill` create whatever they are asked to.
//!
//! In order: the mode (`create.mode`, or the matching routing rule's `create`), the status (one of
//! `create.statuses`), the creation time (after `create.created_after`, or after the moment the
//! service first ran against its table).

use chrono::{DateTime, Utc};

use crate::config::{Config, CreateMode};
use crate::domain::link::LogLevel;
use crate::domain::qalita::QalitaIssue;
use crate::domain::sync::{Decision, DecisionKind};
use crate::mapping::routing::RouteDecision;

/// Why a QALITA issue gets no GitLab issue by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Creation is manual (for every issue, or for the routing rule that matched).
    Manual {
        /// The routing rule that says so, if it is one.
        rule: Option<String>,
    },
    /// The issue's status is not one of `create.statuses`.
    Status {
        /// The issue's status.
        status: String,
        /// The statuses that are created.
        allowed: Vec<String>,
    },
    /// The issue is older than the creation policy's start (`None`: QALITA gives no creation time).
    Before {
        /// The issue's creation time.
        created_at: Option<DateTime<Utc>>,
        /// Where the policy starts.
        since: DateTime<Utc>,
        /// Whether `since` is the service's first run (else `create.created_after`).
        first_run: bool,
    },
}

impl Refusal {
    /// The rule's name, as `explain` and the log show it.
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::Manual { .. } => "create.mode",
            Refusal::Status { .. } => "create.statuses",
            Refusal::Before { .. } => "create.created_after",
        }
    }

    /// What the rule says of the issue, and how to create it anyway.
    pub fn message(&self, issue: &QalitaIssue) -> String {
        let why = match self {
            Refusal::Manual { rule: Some(rule) } => format!("creation is manual for routing rule {rule}"),
            Refusal::Manual { rule: None } => "creation is manual (create.mode = \"manual\")".to_owned(),
            Refusal::Status { status, allowed } => {
                format!("its status {status:?} is not one that is created (create.statuses = {allowed:?})")
            }
            Refusal::Before { created_at: None, .. } => {
                "QALITA gives no creation time, so it may be history: it is not created by itself".to_owned()
            }
            Refusal::Before { created_at: Some(at), since, first_run: true } => format!(
                "it was created at {} , before the service first ran against this table ({}): history is brought in by `backfill --since`",
                at.to_rfc3339(),
                since.to_rfc3339()
            ),
            Refusal::Before { created_at: Some(at), since, first_run: false } => {
                format!("it was created at {}, before create.created_after ({})", at.to_rfc3339(), since.to_rfc3339())
            }
        };
        format!(
            "no GitLab issue is created by itself: {why}; `qalita-gitlab create-issue {}` creates it anyway",
            issue.id
        )
    }

    /// The decision for the integration log.
    pub fn decision(&self, issue: &QalitaIssue) -> Decision {
        Decision::new(LogLevel::Info, DecisionKind::NotCreated, self.message(issue))
    }
}

/// Where the policy starts: `create.created_after`, else the service's first run (`first_run`, read
/// from the table). The flag says which.
pub fn since(config: &Config, first_run: DateTime<Utc>) -> (DateTime<Utc>, bool) {
    match config.create.created_after {
        Some(at) => (at, false),
        None => (first_run, true),
    }
}

/// Why `issue` gets no GitLab issue from `backfill`: its status is not one of `create.statuses`
/// (a resolved or muted issue is history; `backfill --all-statuses` brings it in too).
pub fn status_refusal(config: &Config, issue: &QalitaIssue) -> Option<Refusal> {
    let allowed = &config.create.statuses;
    let status = issue.status.trim();
    match allowed.iter().any(|s| s.eq_ignore_ascii_case(status)) {
        true => None,
        false => Some(Refusal::Status { status: issue.status.clone(), allowed: allowed.clone() }),
    }
}

/// Why `issue`, routed as `route`, gets no GitLab issue by itself; `None` when the policy creates
/// it. `first_run` is when the service first ran against its table.
pub fn refusal(
    config: &Config,
    route: &RouteDecision,
    issue: &QalitaIssue,
    first_run: DateTime<Utc>,
) -> Option<Refusal> {
    let policy = &config.create;
    match (route.create, policy.mode) {
        (Some(CreateMode::Manual), _) => return Some(Refusal::Manual { rule: Some(route.reason.clone()) }),
        (None, CreateMode::Manual) => return Some(Refusal::Manual { rule: None }),
        (Some(CreateMode::Auto), _) | (None, CreateMode::Auto) => {}
    }
    if let Some(refused) = status_refusal(config, issue) {
        return Some(refused);
    }
    let (since, first_run) = since(config, first_run);
    match issue.created_at {
        Some(at) if at >= since => None,
        created_at => Some(Refusal::Before { created_at, since, first_run }),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::GitlabProjectId;
    use crate::domain::gitlab::GitlabProjectRef;

    fn config(extra: &str) -> Config {
        let text = format!("[gitlab]\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"\n{extra}");
        Config::from_document(&text, |_| None).unwrap()
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 9, 0, 0).unwrap()
    }

    fn issue(status: &str, created: Option<u32>) -> QalitaIssue {
        let mut issue: QalitaIssue = serde_json::from_str(include_str!("../../../fixtures/qalita/issue.json")).unwrap();
        issue.status = status.into();
        issue.created_at = created.map(at);
        issue
    }

    fn route(create: Option<CreateMode>) -> RouteDecision {
        RouteDecision {
            project: GitlabProjectRef::Id(GitlabProjectId::new(42).unwrap()),
            confidential: false,
            create,
            reason: "rule \"billing\" matched (domain = billing)".into(),
        }
    }

    #[test]
    fn by_default_only_open_issues_created_after_the_first_run_are_created() {
        let config = config("");
        let first_run = at(10);
        assert_eq!(refusal(&config, &route(None), &issue("open", Some(11)), first_run), None);
        assert_eq!(refusal(&config, &route(None), &issue("Active", Some(11)), first_run), None, "any open word");
        for status in ["resolved", "muted"] {
            let refused = refusal(&config, &route(None), &issue(status, Some(11)), first_run).unwrap();
            assert_eq!(refused.rule(), "create.statuses", "{status}");
        }
        let history = refusal(&config, &route(None), &issue("open", Some(9)), first_run).unwrap();
        assert_eq!(history, Refusal::Before { created_at: Some(at(9)), since: at(10), first_run: true });
        assert!(history.message(&issue("open", Some(9))).contains("backfill --since"));
        let unknown = refusal(&config, &route(None), &issue("open", None), first_run).unwrap();
        assert_eq!(unknown.rule(), "create.created_after", "no creation time: treated as history");
    }

    #[test]
    fn a_manual_mode_or_rule_creates_nothing_and_says_how_to_create_anyway() {
        let manual = config("[create]\nmode = \"manual\"");
        let refused = refusal(&manual, &route(None), &issue("open", Some(11)), at(10)).unwrap();
        assert_eq!(refused, Refusal::Manual { rule: None });
        let message = refused.message(&issue("open", Some(11)));
        assert!(message.contains("create-issue 4821"), "{message}");
        assert_eq!(
            refusal(&manual, &route(Some(CreateMode::Auto)), &issue("open", Some(11)), at(10)),
            None,
            "the rule wins"
        );
        let auto = config("");
        let by_rule = refusal(&auto, &route(Some(CreateMode::Manual)), &issue("open", Some(11)), at(10)).unwrap();
        assert!(matches!(by_rule, Refusal::Manual { rule: Some(rule) } if rule.contains("billing")));
    }

    #[test]
    fn the_configured_statuses_and_start_replace_the_defaults() {
        let config = config("[create]\nstatuses = [\"open\", \"Muted\"]\ncreated_after = \"2026-11-05T00:00:00Z\"");
        assert_eq!(config.create.statuses, ["open", "muted"], "spelled as the status lists spell them");
        assert_eq!(
            refusal(&config, &route(None), &issue("muted", Some(6)), at(20)),
            None,
            "the first run does not count"
        );
        let early = refusal(&config, &route(None), &issue("open", Some(4)), at(20)).unwrap();
        assert!(matches!(early, Refusal::Before { first_run: false, .. }));
    }

    #[test]
    fn a_wrong_policy_is_refused_naming_its_key() {
        let text = "[gitlab]\ndefault_project = 42\n[qalita]\nbase_url = \"https://q.example.com\"\n";
        for (extra, key) in [
            ("[create]\nstatuses = [\"pending\"]", "create.statuses"),
            ("[create]\ncreated_after = \"yesterday\"", "create.created_after"),
            ("[create]\nmode = \"sometimes\"", "mode"),
        ] {
            let error = Config::from_document(&format!("{text}{extra}"), |_| None).unwrap_err().to_string();
            assert!(error.contains(key), "{extra}: {error}");
        }
    }
}
