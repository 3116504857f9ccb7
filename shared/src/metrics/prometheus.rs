//! The Prometheus text exposition format (version 0.0.4) of the registry's running totals, for
//! `serve`'s `GET /metrics`: the same figures as the EMF lines, as families with labels (source,
//! outcome, status class, project), durations in seconds.

use std::fmt::Write;

use super::{Figure, Kind, Registry, Total};

/// The `Content-Type` of the answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A figure's family: its name, its help and its labels.
struct Family {
    name: &'static str,
    help: &'static str,
    labels: Vec<(&'static str, String)>,
}

fn family(figure: &Figure) -> Family {
    let (name, help, labels) = match figure {
        Figure::Delivery(origin, outcome) => (
            "qalita_gitlab_deliveries_total",
            "Webhook deliveries by source and outcome.",
            vec![("source", origin.as_str().to_owned()), ("outcome", outcome.as_str().to_owned())],
        ),
        Figure::Message(outcome) => (
            "qalita_gitlab_messages_total",
            "Queued messages by outcome.",
            vec![("outcome", outcome.as_str().to_owned())],
        ),
        Figure::SyncLag(origin) => (
            "qalita_gitlab_sync_lag_seconds",
            "From the provider's change time to the sync's write.",
            vec![("source", origin.as_str().to_owned())],
        ),
        Figure::Call(origin, class) => (
            "qalita_gitlab_api_calls_total",
            "GitLab and QALITA API calls by status class.",
            vec![("service", origin.as_str().to_owned()), ("status", class.as_str().to_owned())],
        ),
        Figure::Calls(origin) => (
            "qalita_gitlab_api_calls_all_total",
            "GitLab and QALITA API calls, every status class.",
            vec![("service", origin.as_str().to_owned())],
        ),
        Figure::RateLimitWait(origin) => (
            "qalita_gitlab_rate_limit_wait_seconds",
            "The waits 429 answers asked for.",
            vec![("service", origin.as_str().to_owned())],
        ),
        Figure::PollDuration => ("qalita_gitlab_poll_duration_seconds", "How long the QALITA polls took.", vec![]),
        Figure::PollRead => ("qalita_gitlab_poll_issues_read_total", "QALITA issues the polls read.", vec![]),
        Figure::PollEnqueued => ("qalita_gitlab_poll_issues_enqueued_total", "Issues the polls queued.", vec![]),
        Figure::PollFailed => {
            ("qalita_gitlab_poll_failures_total", "Issues the polls could not check or queue.", vec![])
        }
        Figure::ReconcileDuration => {
            ("qalita_gitlab_reconcile_duration_seconds", "How long the GitLab reconciles took.", vec![])
        }
        Figure::ReconcileRead => {
            ("qalita_gitlab_reconcile_issues_read_total", "GitLab issues the reconciles read.", vec![])
        }
        Figure::ReconcileSynced => {
            ("qalita_gitlab_reconcile_issues_synced_total", "Lost GitLab changes the reconciles made up.", vec![])
        }
        Figure::ReconcileFailed => {
            ("qalita_gitlab_reconcile_failures_total", "GitLab issues the reconciles could not sync.", vec![])
        }
        Figure::HookExecutable(project) => (
            "qalita_gitlab_hook_executable",
            "1 when the project's GitLab hook is executable, else 0.",
            vec![("project", project.clone())],
        ),
        Figure::HooksNotExecutable => {
            ("qalita_gitlab_hooks_not_executable", "Configured projects whose hook is not executable.", vec![])
        }
        Figure::TokenDaysLeft => ("qalita_gitlab_token_days_left", "Days before the GitLab token expires.", vec![]),
    };
    Family { name, help, labels }
}

/// The registry's figures in the exposition format: one `HELP` and `TYPE` per family, then its
/// samples (a timing is a summary: `_sum` in seconds and `_count`).
pub fn render(registry: &Registry) -> String {
    render_totals(&registry.totals())
}

fn render_totals(totals: &[(Figure, Total)]) -> String {
    let mut text = String::new();
    let mut last = "";
    for (figure, total) in totals {
        let family = family(figure);
        let kind = figure.kind();
        if family.name != last {
            let type_word = match kind {
                Kind::Counter => "counter",
                Kind::Timing => "summary",
                Kind::Gauge => "gauge",
            };
            let _ = writeln!(text, "# HELP {} {}", family.name, family.help);
            let _ = writeln!(text, "# TYPE {} {type_word}", family.name);
            last = family.name;
        }
        let labels = labels(&family.labels);
        match kind {
            Kind::Counter | Kind::Gauge => {
                let _ = writeln!(text, "{}{labels} {}", family.name, number(total.value));
            }
            Kind::Timing => {
                let _ = writeln!(text, "{}_sum{labels} {}", family.name, number(total.value / 1000.0));
                let _ = writeln!(text, "{}_count{labels} {}", family.name, total.count);
            }
        }
    }
    text
}

fn labels(pairs: &[(&'static str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs.iter().map(|(key, value)| format!("{key}=\"{}\"", escape(value))).collect();
    format!("{{{}}}", inner.join(","))
}

/// A label value's escapes: backslash, double quote and line feed.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{MessageOutcome, Origin, StatusClass};

    #[test]
    fn families_are_written_once_with_their_samples_and_label_values_escaped() {
        let registry = Registry::new();
        registry.count(Figure::Call(Origin::Gitlab, StatusClass::Success), 3);
        registry.count(Figure::Call(Origin::Gitlab, StatusClass::RateLimited), 1);
        registry.time(Figure::RateLimitWait(Origin::Gitlab), Duration::from_millis(1500));
        registry.count(Figure::Message(MessageOutcome::Applied), 1);
        registry.set(Figure::HookExecutable("a\"b".into()), 1.0);

        let text = render(&registry);

        assert_eq!(text.matches("# TYPE qalita_gitlab_api_calls_total counter").count(), 1, "{text}");
        assert!(text.contains("qalita_gitlab_api_calls_total{service=\"gitlab\",status=\"2xx\"} 3\n"), "{text}");
        assert!(text.contains("qalita_gitlab_api_calls_total{service=\"gitlab\",status=\"429\"} 1\n"), "{text}");
        assert!(text.contains("qalita_gitlab_rate_limit_wait_seconds_sum{service=\"gitlab\"} 1.5\n"), "{text}");
        assert!(text.contains("qalita_gitlab_rate_limit_wait_seconds_count{service=\"gitlab\"} 1\n"), "{text}");
        assert!(text.contains("qalita_gitlab_hook_executable{project=\"a\\\"b\"} 1\n"), "{text}");
    }
}
