//! What needs an operator, decided from what `status` read, and both outputs.

use chrono::{DateTime, Utc};
use qalita_gitlab_core::activity::{RunRecord, WorkerRecord};
use qalita_gitlab_core::health::{HealAttempt, HookHealth, HookState, TokenHealth};
use qalita_gitlab_core::ports::QueueDepths;

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn run(finished: &str) -> RunRecord {
    RunRecord { finished_at: at(finished), took_ms: 1_400, read: 250, changed: 3, failed: 0, stopped: None }
}

fn hook(state: HookState) -> HookHealth {
    HookHealth {
        project: "data/quality".into(),
        checked_at: at("2026-12-03T09:55:00Z"),
        hook_id: Some(7),
        state,
        disabled_until: None,
        last_heal: None,
    }
}

/// A healthy stack at 10:00.
fn healthy() -> Facts {
    let mut worker = WorkerRecord::default();
    worker.add(at("2026-12-03T09:58:00Z"), Some(std::time::Duration::from_secs(4)), 0, 0);
    Facts {
        now: at("2026-12-03T10:00:00Z"),
        disabled: false,
        queue: QueueDepths { waiting: 2, in_flight: 1, dead_letters: 0 },
        worker: Some(worker),
        poll: Some(run("2026-12-03T09:57:00Z")),
        reconcile: Some(run("2026-12-03T09:57:10Z")),
        hooks: vec![("data/quality".into(), Some(hook(HookState::Executable))), ("42".into(), None)],
        token: Some(TokenHealth {
            checked_at: at("2026-12-03T06:00:00Z"),
            expires_at: Some(at("2027-03-01T00:00:00Z")),
            rotated_at: None,
            problem: None,
        }),
        errors_last_hour: 0,
        max_message_age: 900,
    }
}

#[test]
fn a_healthy_stack_needs_no_operator_and_says_so() {
    let facts = healthy();
    assert!(attention(&facts).is_empty(), "{:?}", attention(&facts));
    let text = human(&facts, &[]);
    assert!(text.contains("hook of data/quality: executable (checked 5 min ago)"), "{text}");
    assert!(text.contains("hook of 42: not checked yet"), "{text}");
    assert!(text.contains("expires 2027-03-01 (87 days)"), "{text}");
    assert!(text.ends_with("\nNothing needs an operator.\n"), "{text}");
    let document = json(&facts, &[]);
    assert_eq!(document["needs_operator"], serde_json::json!([]));
    assert_eq!(document["oldest_message"]["age_s"], 4);
    assert_eq!(document["hooks"][1], serde_json::json!({"project": "42", "state": null, "record": null}));
    assert_eq!(document["token"]["days_left"], 87);
}

#[test]
fn each_condition_that_needs_an_operator_is_named() {
    let mut facts = healthy();
    facts.queue.dead_letters = 2;
    let mut disabled = hook(HookState::TemporarilyDisabled);
    disabled.disabled_until = Some(at("2026-12-03T10:05:00Z"));
    disabled.last_heal =
        Some(HealAttempt { at: at("2026-12-03T09:56:00Z"), healed: false, outcome: "rate limited".into() });
    facts.hooks[0].1 = Some(disabled);
    facts.token.as_mut().unwrap().expires_at = Some(at("2026-12-10T00:00:00Z"));
    facts.worker.as_mut().unwrap().add(at("2026-12-03T09:59:00Z"), Some(std::time::Duration::from_secs(1_800)), 3, 1);
    facts.errors_last_hour = 1;
    facts.poll = Some(run("2026-12-03T08:30:00Z"));

    let needs = attention(&facts);

    let all = needs.join("\n");
    assert_eq!(needs.len(), 6, "{all}");
    for expected in [
        "2 message(s) in the dead-letter queue",
        "the GitLab hook of data/quality is temporarily_disabled",
        "the GitLab token expires in 6 day(s)",
        "had waited 30 min (over 15 min)",
        "1 error(s) in the integration log",
        "no poll finished for 90 min",
    ] {
        assert!(all.contains(expected), "{expected:?} in:\n{all}");
    }
    let text = human(&facts, &needs);
    assert!(text.contains("TEMPORARILY_DISABLED until 2026-12-03 10:05:00Z"), "{text}");
    assert!(text.contains("last heal 4 min ago: rate limited"), "{text}");
    assert!(text.contains("4 answers 429 (GitLab 3, QALITA 1), 1 error(s) logged"), "{text}");
    assert!(text.contains("\nNeeds an operator:\n  - 2 message(s)"), "{text}");
    assert_eq!(json(&facts, &needs)["last_hour"]["rate_limited"], serde_json::json!({"gitlab": 3, "qalita": 1}));
}

#[test]
fn a_disabled_integration_does_not_expect_runs_and_an_expired_token_is_said_so() {
    let mut facts = healthy();
    facts.disabled = true;
    facts.poll = Some(run("2026-12-01T08:30:00Z"));
    facts.token.as_mut().unwrap().expires_at = Some(at("2026-12-01T00:00:00Z"));
    assert_eq!(attention(&facts), ["the GitLab token has expired: put a new one in its secret"]);
}

#[test]
fn an_old_message_needs_an_operator_only_while_messages_wait() {
    let mut facts = healthy();
    facts.worker.as_mut().unwrap().add(facts.now, Some(std::time::Duration::from_secs(3_600)), 0, 0);
    assert_eq!(attention(&facts).len(), 1);
    facts.queue = QueueDepths::default();
    assert!(attention(&facts).is_empty(), "the queue is empty: the old message was the last");
}
