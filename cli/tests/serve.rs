//! `qalita-gitlab serve` against the GitLab and QALITA simulators: a person's change in GitLab
//! reaches QALITA through the webhook endpoint, the on-disk queue and the worker; QALITA's changes
//! reach GitLab (change events and the poll); a stop finishes the batch in hand and a restart
//! applies every acknowledged delivery exactly once; a configuration or a secret that cannot be
//! used stops the start with a message that says what to fix and shows no secret.
//!
//! The tests named `the_binary_…` run the built binary (`QALITA_GITLAB_BINARY` overrides which
//! one) and send it real signals: they need `main.rs` to route `serve` to `qalita_gitlab::serve::run`.

mod serve_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use qalita_gitlab::embedded::EmbeddedDb;
use qalita_gitlab::embedded::queue::{EmbeddedQueue, QueueOptions};
use qalita_gitlab::embedded::store::RedbLinkStore;
use qalita_gitlab::serve::{
    ConfigFrom, GITLAB_TOKEN_ID, HEALTH_PATH, METRICS_PATH, QALITA_TOKEN_ID, QALITA_WEBHOOK_SECRET_ID, SecretsFrom,
    Server, WEBHOOK_SECRET_ID, database_path,
};
use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::gitlab::IssueState;
use qalita_gitlab_core::ports::Links;
use qalita_gitlab_core::ports::SystemClock;
use qalita_gitlab_sims::gitlab::WebhookConfig;
use qalita_gitlab_sims::qalita::{EmitOutcome, Fault, WebhookProof, WebhookTarget};
use serde_json::{Value, json};
use serve_support::*;

#[tokio::test]
async fn the_poll_opens_the_gitlab_issue_and_a_close_in_gitlab_resolves_the_qalita_issue() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (serving, queue) =
        Serving::start(&sims, options(dir.path(), ConfigFrom::Document(sims.config_document()))).await;

    wait_until("the GitLab issue of the poll", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    let opened = sims.gitlab_issue_of(ISSUE).expect("the GitLab issue");
    assert_eq!(opened.title, "[QALITA] billing.customer_sites: Invalid Latitude");
    assert_eq!(opened.assignees.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(), ["mdurand"]);

    sims.person_closes(opened.iid).await;
    wait_until("QALITA resolved", || sims.qalita_status(ISSUE) == "resolved").await;
    wait_until_quiet(&sims, &queue).await;
    assert_eq!(sims.gitlab_issues().len(), 1, "one GitLab issue, no duplicate");
    assert_eq!(sims.qalita_writes(), 2, "two QALITA writes: the link back, then the status");
    assert_eq!(sims.qalita_comments(ISSUE), [sims.link_back(ISSUE)], "the GitLab URL, written once");
    assert!(sims.gitlab.deliveries().iter().all(|d| d.status() == Some(200)), "{:?}", sims.gitlab.deliveries());

    let summary = serving.stop_within(Duration::from_secs(3)).await;
    assert_eq!(summary.poller.runs, 1, "the poll ran once at start (the next is in 5 minutes)");
    assert!(summary.worker.done >= 3, "the poll's event, the issue's and the close's hooks: {summary:?}");
    assert_eq!(summary.worker.retried, 0);
}

#[tokio::test]
async fn qalita_change_events_reach_gitlab_through_the_queue() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (serving, queue) =
        Serving::start(&sims, options(dir.path(), ConfigFrom::Document(sims.config_document()))).await;
    // QALITA's backend (or a bridge beside it) sends its change events to the queue.
    sims.qalita.emit_events_to(Arc::new(queue.clone()));
    wait_until("the GitLab issue", || sims.gitlab_issue_of(ISSUE).is_some()).await;

    sims.qalita.set_status(ISSUE, "resolved");
    wait_until("GitLab closed", || sims.gitlab_issue_of(ISSUE).is_some_and(|i| i.state == IssueState::Closed)).await;
    let newer = sims.qalita.insert_issue(issue(4900, "Negative amounts"));
    wait_until("the new issue's GitLab issue", || sims.gitlab_issue_of(newer).is_some()).await;
    sims.qalita.add_comment(newer, 12, "Seen in the March load only.");
    let iid = sims.gitlab_issue_of(newer).expect("the new GitLab issue").iid.get();
    wait_until("the comment as a note", || {
        sims.gitlab.notes(PROJECT, iid).iter().any(|n| n.body.contains("Seen in the March load only."))
    })
    .await;
    wait_until_quiet(&sims, &queue).await;
    assert_eq!(sims.gitlab_issues().len(), 2);
    assert_eq!(sims.qalita_writes(), 2, "the two link backs; nothing echoed back to QALITA");
    // The comment may come before or after the link back, which follows the GitLab issue's creation.
    let mut comments = sims.qalita_comments(newer);
    comments.sort();
    assert_eq!(comments, ["Seen in the March load only.".to_owned(), sims.link_back(newer)]);
    assert_eq!(sims.gitlab.notes(PROJECT, iid).iter().filter(|n| !n.system).count(), 1, "the link back is not copied");
    serving.stop_within(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn qalitas_own_webhook_reaches_gitlab_through_the_qalita_route() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (serving, queue) =
        Serving::start(&sims, options(dir.path(), ConfigFrom::Document(sims.config_document()))).await;
    wait_until("the GitLab issue of the poll", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    wait_until_quiet(&sims, &queue).await;
    // QALITA's outbound webhook, signed with the shared secret (hex HMAC of the body).
    sims.qalita.emit_webhooks_to(WebhookTarget {
        url: serving.qalita_webhook_url.clone(),
        secret: QALITA_WEBHOOK_SECRET.into(),
        proof: WebhookProof::Hmac("X-Qalita-Signature".into()),
    });

    sims.qalita.set_status(ISSUE, "resolved");
    wait_until("GitLab closed", || sims.gitlab_issue_of(ISSUE).is_some_and(|i| i.state == IssueState::Closed)).await;
    let newer = sims.qalita.insert_issue(issue(4900, "Negative amounts"));
    wait_until("the new issue's GitLab issue", || sims.gitlab_issue_of(newer).is_some()).await;
    sims.qalita.add_comment(newer, 12, "Seen in the March load only.");
    let iid = sims.gitlab_issue_of(newer).expect("the new GitLab issue").iid.get();
    wait_until("the comment as a note", || {
        sims.gitlab.notes(PROJECT, iid).iter().any(|n| n.body.contains("Seen in the March load only."))
    })
    .await;
    wait_until_quiet(&sims, &queue).await;
    let events = sims.qalita.events();
    assert!(events.iter().all(|e| e.outcome == EmitOutcome::Sent), "every delivery answered 2xx: {events:?}");
    assert_eq!(sims.gitlab_issues().len(), 2, "one GitLab issue each");

    // The route refuses what the secret did not sign, and says why.
    let client = reqwest::Client::new();
    let answer = client
        .post(&serving.qalita_webhook_url)
        .header("x-qalita-signature", "sha256=00")
        .body(r#"{"event":"issue.updated","issue_id":4821}"#)
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 401);
    let text = answer.text().await.expect("a body");
    assert!(text.contains("the signature does not match the body"), "{text}");
    serving.stop_within(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn without_the_qalita_webhook_secret_the_qalita_route_answers_404() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut options = options(dir.path(), ConfigFrom::Document(sims.config_document()));
    options.secrets = SecretsFrom::Source(secrets_without(Some(QALITA_WEBHOOK_SECRET_ID)));
    let (serving, _queue) = Serving::start(&sims, options).await;
    let answer = reqwest::Client::new()
        .post(&serving.qalita_webhook_url)
        .bearer_auth(QALITA_WEBHOOK_SECRET)
        .body(r#"{"event":"issue.updated","issue_id":4821}"#)
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status(), 404);
    serving.stop_within(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn the_poll_runs_again_after_its_interval() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut options = options(dir.path(), ConfigFrom::Document(sims.config_document()));
    options.poll_interval = Duration::from_secs(1);
    let (serving, _queue) = Serving::start(&sims, options).await;
    wait_until("the first issue", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    // No change event: only a later poll can find it.
    let later = sims.qalita.insert_issue(issue(4901, "Late load"));
    wait_until("the later issue, by a later poll", || sims.gitlab_issue_of(later).is_some()).await;
    // The first run may still be sweeping when the later issue appears and find it itself: give
    // the loop time for a run after its interval before counting.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let summary = serving.stop_within(Duration::from_secs(3)).await;
    assert!(summary.poller.runs >= 2, "{summary:?}");
}

#[tokio::test]
async fn without_events_a_comment_that_moves_nothing_reaches_gitlab_by_the_polls_comment_sweep() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut options = options(dir.path(), ConfigFrom::Document(sims.config_document()));
    options.poll_interval = Duration::from_secs(1);
    let (serving, queue) = Serving::start(&sims, options).await;
    wait_until("the GitLab issue of the poll", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    wait_until_quiet(&sims, &queue).await;
    let before = sims.qalita.issue(ISSUE).expect("the issue")["updated_at"].clone();
    // No change event, and the issue's `updated_at` stays: only the comment sweep can find it.
    sims.qalita.add_comment(ISSUE, 12, "The partner resent the file; checking the next load.");
    assert_eq!(sims.qalita.issue(ISSUE).expect("the issue")["updated_at"], before);
    let iid = sims.gitlab_issue_of(ISSUE).expect("the GitLab issue").iid.get();
    wait_until("the comment as a note, by a later poll", || {
        sims.gitlab.notes(PROJECT, iid).iter().any(|n| n.body.contains("The partner resent the file"))
    })
    .await;
    wait_until_quiet(&sims, &queue).await;
    let copies = sims.gitlab.notes(PROJECT, iid).iter().filter(|n| n.body.contains("The partner resent")).count();
    assert_eq!(copies, 1, "copied once, however many sweeps ran");
    serving.stop_within(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_restart_applies_every_acknowledged_delivery_exactly_once() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = ConfigFrom::Document(sims.config_document());
    let (first, queue) = Serving::start(&sims, options(dir.path(), config.clone())).await;
    wait_until("the GitLab issue", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    let iid = sims.gitlab_issue_of(ISSUE).expect("the GitLab issue").iid;
    wait_until_quiet(&sims, &queue).await;
    // The queue's handle keeps the database open: the restart must find it closed.
    drop(queue);

    // QALITA answers slowly: the worker is busy with the first comment while the others arrive.
    sims.qalita.fail_next(2, Fault::Slow(Duration::from_secs(2)));
    let texts: Vec<String> = (1..=5).map(|n| format!("Comment {n} from GitLab.")).collect();
    for text in &texts {
        sims.person_comments(iid, text).await;
    }
    wait_until("GitLab's five deliveries answered 200", || sims.notes_answered(200) == 5).await;
    first.stop_within(Duration::from_secs(5)).await;
    let copied_before_restart = sims.note_copies(ISSUE).len();
    assert!(copied_before_restart < 5, "the stop came before the worker was through: {copied_before_restart}");
    {
        let db = EmbeddedDb::open(database_path(dir.path())).await.expect("the database is closed after a stop");
        let queue = EmbeddedQueue::open(&db, Arc::new(SystemClock), QueueOptions::default()).await.expect("the queue");
        let depth = queue.depth().await.expect("the depth");
        assert_eq!(depth.available as usize, 5 - copied_before_restart, "the rest is on disk: {depth:?}");
        assert_eq!(depth.in_flight, 0, "nothing left half-done");
    }

    let (second, queue) = Serving::start(&sims, options(dir.path(), config)).await;
    wait_until("every comment in QALITA", || sims.note_copies(ISSUE).len() >= 5).await;
    wait_until_quiet(&sims, &queue).await;
    assert_copied_once_in_order(&sims, &texts);
    assert_eq!(sims.gitlab.notes(PROJECT, iid.get()).iter().filter(|n| !n.system).count(), 5, "none copied back");
    second.stop_within(Duration::from_secs(3)).await;
}

/// The default creation policy on `serve`: a first start on a tenant with history creates
/// nothing, whatever the status of the old issues; an issue raised after the first run is
/// created by the next poll.
#[tokio::test]
async fn a_first_start_creates_nothing_for_old_issues_and_creates_a_new_one() {
    let sims = Sims::start().await;
    for n in 0..30u64 {
        let mut old = issue(10_000 + n, &format!("Old check {n}"));
        old["status"] = ["open", "resolved", "muted"][(n % 3) as usize].into();
        old["created_at"] = "2025-03-01T08:00:00Z".into();
        sims.qalita.insert_issue(old);
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let document = sims.config_document().replace("[create]\ncreated_after = \"2026-01-01T00:00:00Z\"\n", "");
    assert!(!document.contains("[create]"), "the default policy");
    let mut options = options(dir.path(), ConfigFrom::Document(document));
    options.poll_interval = Duration::from_secs(1);
    let (serving, queue) = Serving::start(&sims, options).await;
    // Two polls read everything and create nothing.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    wait_until_quiet(&sims, &queue).await;
    assert_eq!(sims.gitlab.requests().iter().filter(|r| r.method != "GET").count(), 0, "no GitLab write");

    let mut new = issue(20_000, "New check");
    new["created_at"] = chrono::Utc::now().to_rfc3339().into();
    new["updated_at"] = new["created_at"].clone();
    sims.qalita.insert_issue(new);
    wait_until("the new issue's GitLab issue", || sims.gitlab_issue_of(20_000).is_some()).await;
    wait_until_quiet(&sims, &queue).await;
    assert_eq!(sims.gitlab_issues().len(), 1, "only the new one");
    drop(queue);
    let summary = serving.stop_within(Duration::from_secs(5)).await;
    assert!(summary.poller.runs >= 3, "{summary:?}");

    // `status` shows the recorded first run, where the policy starts.
    let status = std::process::Command::new(binary())
        .args(["status", "--output", "json", "--local"])
        .arg(dir.path())
        .output()
        .expect("run status");
    let status: Value = serde_json::from_slice(&status.stdout).expect("JSON");
    assert!(status["first_run"].as_str().is_some_and(|t| t < "2100"), "{status}");
}

/// The regression policy on `serve`: a QALITA issue resolved for longer than
/// `sync.new_issue_after_days` that opens again gets a new GitLab issue, linked to the old one by
/// a note on each, the old one kept in the link's history. The 40 days pass while `serve` is
/// stopped: the link's `resolved_at` is moved back in the database.
#[tokio::test]
async fn a_regression_after_a_long_resolution_gets_a_new_gitlab_issue_on_serve() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let document = sims.config_document() + "[sync]\non_regression = \"new_issue\"\nnew_issue_after_days = 30\n";
    let mut options = options(dir.path(), ConfigFrom::Document(document));
    options.poll_interval = Duration::from_secs(1);
    let (first, queue) = Serving::start(&sims, options.clone()).await;
    wait_until("the GitLab issue of the poll", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    let old = sims.gitlab_issue_of(ISSUE).expect("the GitLab issue");
    sims.qalita.update_issue(ISSUE, |i| i["status"] = "resolved".into());
    wait_until("the GitLab issue closed by a poll", || {
        sims.gitlab_issues().iter().any(|i| i.iid == old.iid && i.state == IssueState::Closed)
    })
    .await;
    wait_until_quiet(&sims, &queue).await;
    drop(queue);
    first.stop_within(Duration::from_secs(5)).await;
    {
        let db = EmbeddedDb::open(database_path(dir.path())).await.expect("the database is closed after a stop");
        let store = RedbLinkStore::open(&db, Arc::new(SystemClock), chrono::TimeDelta::days(1)).await.expect("store");
        let id = QalitaIssueId::new(ISSUE).unwrap();
        let mut link = store.get(id).await.expect("read").expect("the link");
        assert!(link.resolved_at.is_some(), "serve records when it saw the issue resolved");
        link.resolved_at = Some(chrono::Utc::now() - chrono::TimeDelta::days(40));
        store.update(&link).await.expect("moved back 40 days");
    }

    sims.qalita.update_issue(ISSUE, |i| i["status"] = "open".into());
    let (second, queue) = Serving::start(&sims, options).await;
    wait_until("a second GitLab issue", || sims.gitlab_issues().len() == 2).await;
    wait_until_quiet(&sims, &queue).await;
    let mut issues = sims.gitlab_issues();
    issues.sort_by_key(|i| i.iid);
    let [first_issue, second_issue] = issues.as_slice() else { panic!("two GitLab issues: {issues:?}") };
    assert_eq!((first_issue.iid, first_issue.state), (old.iid, IssueState::Closed), "the old one stays closed");
    assert_eq!(second_issue.state, IssueState::Opened);
    assert_eq!(sims.gitlab_issue_of(ISSUE).map(|i| i.iid), Some(second_issue.iid), "the marker moved");
    let notes = |iid: u64| {
        sims.gitlab.notes(PROJECT, iid).into_iter().filter(|n| !n.system).map(|n| n.body).collect::<Vec<_>>()
    };
    assert_eq!(notes(second_issue.iid.get()), [format!("**[QALITA]** Regression of {}", first_issue.web_url)]);
    assert_eq!(
        notes(first_issue.iid.get()),
        [format!("**[QALITA]** Regressed: continued in {}", second_issue.web_url)]
    );
    drop(queue);
    second.stop_within(Duration::from_secs(5)).await;

    // `link show` lists the old GitLab issue in the link's history.
    let shown = std::process::Command::new(binary())
        .args(["link", "show", "4821", "--local"])
        .arg(dir.path())
        .output()
        .expect("run link show");
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{stdout} {}", String::from_utf8_lossy(&shown.stderr));
    assert!(stdout.contains(&first_issue.web_url) && stdout.contains("regression"), "{stdout}");
}

#[tokio::test]
async fn a_message_that_failed_is_retried_after_its_back_off() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let document = format!("{}[sync]\nbackoff_min_seconds = 1\n", sims.config_document());
    let (serving, queue) = Serving::start(&sims, options(dir.path(), ConfigFrom::Document(document))).await;
    wait_until("the GitLab issue", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    wait_until_quiet(&sims, &queue).await;
    sims.qalita.fail_next(1, Fault::ServerError(503));
    let iid = sims.gitlab_issue_of(ISSUE).expect("the GitLab issue").iid;
    sims.person_closes(iid).await;
    wait_until("QALITA resolved after a retry", || sims.qalita_status(ISSUE) == "resolved").await;
    wait_until_quiet(&sims, &queue).await;
    assert!(queue.dlq_list().await.expect("the dead-letter queue").is_empty());
    let summary = serving.stop_within(Duration::from_secs(3)).await;
    assert_eq!(summary.worker.retried, 1, "{summary:?}");
}

#[tokio::test]
async fn an_idle_pipeline_does_not_write_to_its_database() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (serving, queue) =
        Serving::start(&sims, options(dir.path(), ConfigFrom::Document(sims.config_document()))).await;
    wait_until("the GitLab issue", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    wait_until_quiet(&sims, &queue).await;
    let modified = || std::fs::metadata(database_path(dir.path())).and_then(|m| m.modified()).expect("the file's time");
    let before = modified();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(modified(), before, "no write while nothing happens");
    serving.stop_within(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_stop_when_idle_is_prompt_and_the_endpoint_stops_accepting() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (serving, queue) =
        Serving::start(&sims, options(dir.path(), ConfigFrom::Document(sims.config_document()))).await;
    wait_until("the GitLab issue", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    wait_until_quiet(&sims, &queue).await;
    let url = serving.webhook_url.clone();
    let started = Instant::now();
    serving.stop_within(Duration::from_secs(2)).await;
    assert!(started.elapsed() < Duration::from_secs(2), "stopped in {:?}", started.elapsed());
    let refused = reqwest::Client::new().post(&url).body("{}").send().await;
    assert!(refused.is_err_and(|e| e.is_connect()), "nothing listens after the stop");
}

#[tokio::test]
async fn the_endpoint_answers_as_the_deployed_one_and_queues_only_authentic_deliveries() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (serving, queue) =
        Serving::start(&sims, options(dir.path(), ConfigFrom::Document(sims.config_document()))).await;
    wait_until("the GitLab issue", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    wait_until_quiet(&sims, &queue).await;
    let client = reqwest::Client::new();
    let body = include_str!("../../fixtures/gitlab/issue_open.json");

    let wrong = serving.deliver("not-the-secret", body).await;
    assert_eq!(wrong.status().as_u16(), 401);
    let get = client.get(&serving.webhook_url).send().await.expect("an answer");
    assert_eq!(get.status().as_u16(), 405);
    let elsewhere = serving.webhook_url.replace("/api/v2/integrations/gitlab/webhook", "/hooks");
    let missing = client.post(&elsewhere).body(body).send().await.expect("an answer");
    assert_eq!(missing.status().as_u16(), 404);
    assert!(missing.text().await.expect("a body").contains("/api/v2/integrations/gitlab/webhook"));
    let depth = queue.depth().await.expect("the depth");
    assert_eq!(depth.available + depth.in_flight, 0, "nothing queued");

    let right = serving.deliver(WEBHOOK_SECRET, body).await;
    assert_eq!(right.status().as_u16(), 200);
    assert_eq!(right.json::<Value>().await.expect("JSON"), json!({"status": "queued"}));

    let health_url = serving.webhook_url.replace("/api/v2/integrations/gitlab/webhook", HEALTH_PATH);
    let health: Value = client.get(&health_url).send().await.expect("an answer").json().await.expect("JSON");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["queue"]["dead_letters"], 0);
    serving.stop_within(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn get_metrics_gives_the_runs_figures_in_the_prometheus_text_format() {
    use qalita_gitlab_tests::prometheus_text::{parse, value};
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (serving, queue) =
        Serving::start(&sims, options(dir.path(), ConfigFrom::Document(sims.config_document()))).await;
    wait_until("the GitLab issue of the poll", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    wait_until_quiet(&sims, &queue).await;
    let refused = serving.deliver("not-the-secret", "{}").await;
    assert_eq!(refused.status().as_u16(), 401);
    let client = reqwest::Client::new();

    let url = serving.webhook_url.replace("/api/v2/integrations/gitlab/webhook", METRICS_PATH);
    let answer = client.get(&url).send().await.expect("an answer");
    assert_eq!(answer.status().as_u16(), 200);
    let content_type = answer.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = answer.text().await.expect("a body");
    let samples = parse(&text).unwrap_or_else(|error| panic!("{error}\n{text}"));

    // The registry is the process's: other tests of this binary may add to it, never take away.
    let at_least_one = |name: &str, labels: &[(&str, &str)]| {
        assert!(value(&samples, name, labels).is_some_and(|v| v >= 1.0), "{name} {labels:?}:\n{text}")
    };
    at_least_one("qalita_gitlab_deliveries_total", &[("source", "gitlab"), ("outcome", "rejected")]);
    at_least_one("qalita_gitlab_messages_total", &[("outcome", "applied")]);
    at_least_one("qalita_gitlab_api_calls_total", &[("service", "gitlab"), ("status", "2xx")]);
    at_least_one("qalita_gitlab_api_calls_total", &[("service", "qalita"), ("status", "2xx")]);
    at_least_one("qalita_gitlab_poll_duration_seconds_count", &[]);
    at_least_one("qalita_gitlab_reconcile_duration_seconds_count", &[]);
    assert!(!text.contains(WEBHOOK_SECRET), "no secret in the figures");
    serving.stop_within(Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_configuration_that_cannot_be_used_stops_the_start_naming_the_key() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let bad = ConfigFrom::Document(format!("[gitlab]\nbase_url = \"{}\"\n", sims.gitlab.url()));
    let text = start_error(options(dir.path(), bad)).await;
    assert!(text.contains("gitlab.default_project") && text.contains("is not set"), "{text}");

    let text = start_error(options(dir.path(), ConfigFrom::Stored)).await;
    assert!(text.contains("from the environment") && text.contains("--config FILE"), "{text}");

    let file = dir.path().join("absent.toml");
    let text = start_error(options(dir.path(), ConfigFrom::File(file))).await;
    assert!(text.contains("absent.toml") && text.contains("--config"), "{text}");
}

#[tokio::test]
async fn a_missing_secret_stops_the_start_naming_its_variable() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (id, variable) in [
        (QALITA_TOKEN_ID, "QALITA_GITLAB_QALITA_TOKEN"),
        (WEBHOOK_SECRET_ID, "QALITA_GITLAB_WEBHOOK_SECRET"),
        (GITLAB_TOKEN_ID, "QALITA_GITLAB_GITLAB_TOKEN"),
    ] {
        let mut options = options(dir.path(), ConfigFrom::Document(sims.config_document()));
        options.secrets = SecretsFrom::Source(secrets_without(Some(id)));
        let text = start_error(options).await;
        assert!(text.contains(variable), "{text}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_secrets_file_others_can_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = write_secrets_file(dir.path());
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut options = options(dir.path(), ConfigFrom::Document(sims.config_document()));
    options.secrets = SecretsFrom::File(file);
    let text = start_error(options).await;
    assert!(text.contains("chmod 600") && text.contains("--secrets-file"), "{text}");
}

#[tokio::test]
async fn a_second_serve_on_the_same_data_folder_or_address_is_refused() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = ConfigFrom::Document(sims.config_document());
    let server = Server::start(options(dir.path(), config.clone())).await.expect("the first one starts");
    let text = start_error(options(dir.path(), config.clone())).await;
    assert!(text.contains("already in use"), "{text}");

    let other = tempfile::tempdir().expect("a temporary folder");
    let mut same_port = options(other.path(), config);
    same_port.listen = server.local_addr();
    let text = start_error(same_port).await;
    assert!(text.contains("--listen") && text.contains(&server.local_addr().to_string()), "{text}");
}

#[tokio::test]
async fn the_binary_syncs_a_close_and_exits_0_promptly_on_ctrl_c() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (config, secrets, data) =
        (config_file(&sims, dir.path()), write_secrets_file(dir.path()), dir.path().join("data"));
    let mut serve = Process::serve(
        &[
            "--config",
            text(&config),
            "--secrets-file",
            text(&secrets),
            "--data-dir",
            text(&data),
            "--listen",
            "127.0.0.1:0",
        ],
        false,
    );
    let url = serve.webhook_url().await;
    sims.gitlab.set_webhook(Some(WebhookConfig::new(&url).with_secret(WEBHOOK_SECRET)));
    wait_until("the GitLab issue", || sims.gitlab_issue_of(ISSUE).is_some()).await;
    let iid = sims.gitlab_issue_of(ISSUE).expect("the GitLab issue").iid;
    sims.person_closes(iid).await;
    wait_until("QALITA resolved", || sims.qalita_status(ISSUE) == "resolved").await;

    let started = Instant::now();
    serve.interrupt();
    assert_eq!(serve.exit_code_within(Duration::from_secs(5)).await, Some(0), "{}", serve.stderr());
    assert!(started.elapsed() < Duration::from_secs(3), "stopped in {:?}", started.elapsed());
    let log = serve.stderr();
    assert!(log.contains("\"stopped\""), "{log}");
    assert!(database_path(&data).is_file(), "the database is in --data-dir");
    for (_, value) in secret_values() {
        assert!(!log.contains(value), "no secret in the log");
    }
}

#[tokio::test]
async fn the_binary_restarted_after_ctrl_c_applies_every_acknowledged_delivery_once() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (config, data) = (config_file(&sims, dir.path()), dir.path().join("data"));
    let args = ["--config", text(&config), "--data-dir", text(&data), "--listen", "127.0.0.1:0"];
    let mut first = Process::serve(&args, true);
    let iid = hooked_and_linked(&sims, &mut first).await;

    sims.qalita.fail_next(2, Fault::Slow(Duration::from_secs(2)));
    let texts: Vec<String> = (1..=4).map(|n| format!("Note {n} before the restart.")).collect();
    for text in &texts {
        sims.person_comments(iid, text).await;
    }
    wait_until("GitLab's deliveries answered 200", || sims.notes_answered(200) == texts.len()).await;
    first.interrupt();
    assert_eq!(first.exit_code_within(Duration::from_secs(5)).await, Some(0), "{}", first.stderr());
    assert!(sims.note_copies(ISSUE).len() < texts.len(), "the stop came before the worker was through");

    let mut second = Process::serve(&args, true);
    second.webhook_url().await;
    wait_until("every comment in QALITA", || sims.note_copies(ISSUE).len() >= texts.len()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_copied_once_in_order(&sims, &texts);
    stops_cleanly(&mut second).await;
}

#[tokio::test]
async fn the_binary_killed_right_after_acknowledging_loses_no_delivery() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (config, data) = (config_file(&sims, dir.path()), dir.path().join("data"));
    // A message in hand when the process dies comes back after the visibility timeout.
    let args =
        ["--config", text(&config), "--data-dir", text(&data), "--listen", "127.0.0.1:0", "--visibility-timeout", "1s"];
    let mut first = Process::serve(&args, true);
    let iid = hooked_and_linked(&sims, &mut first).await;

    // The close is in hand, its first QALITA call slow, when the process is killed; the notes of
    // the same issue wait behind it in the queue.
    sims.qalita.fail_next_on(&format!("/api/v2/issues/{ISSUE}"), 1, Fault::Slow(Duration::from_secs(2)));
    sims.person_closes(iid).await;
    let texts: Vec<String> = (1..=3).map(|n| format!("Note {n} before the crash.")).collect();
    for text in &texts {
        sims.person_comments(iid, text).await;
    }
    wait_until("GitLab's deliveries answered 200", || sims.notes_answered(200) == texts.len()).await;
    first.child.kill().expect("SIGKILL");
    assert_eq!(first.exit_code_within(Duration::from_secs(5)).await, None, "killed by a signal");
    assert_eq!(sims.qalita_comments(ISSUE), [sims.link_back(ISSUE)], "killed before the notes were processed");

    let mut second = Process::serve(&args, true);
    second.webhook_url().await;
    wait_until("QALITA resolved and every comment copied", || {
        sims.qalita_status(ISSUE) == "resolved" && sims.note_copies(ISSUE).len() >= texts.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_copied_once_in_order(&sims, &texts);
    stops_cleanly(&mut second).await;
}

#[tokio::test]
async fn the_binary_refuses_a_bad_configuration_with_exit_code_2_and_a_clear_message() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[gitlab]\ndefault_project = \"data/quality\"\n[qalita]\nbase_url = \"not a url\"\n")
        .expect("the configuration file");
    let data = dir.path().join("data");
    let mut serve =
        Process::serve(&["--config", text(&config), "--data-dir", text(&data), "--listen", "127.0.0.1:0"], true);
    assert_eq!(serve.exit_code_within(Duration::from_secs(5)).await, Some(2));
    let stderr = serve.stderr();
    assert!(stderr.contains("error: the configuration file") && stderr.contains("qalita.base_url"), "{stderr}");
    for (_, value) in secret_values() {
        assert!(!stderr.contains(value), "no secret in {stderr}");
    }
}
