//! The representative flows on both QALITA dialects, one body for both: `qalita discover` runs
//! against the simulator and its output, unedited, completes the configuration document; then
//! `serve` creates the GitLab issue from the poll, carries each field (status, title, description,
//! assignee) both ways and comments both ways, the reconcile makes up a GitLab change whose
//! delivery was lost, and `explain` and `create-issue` map a new issue on the data folder. On the
//! second dialect (API key, page/size in `{data, total}`, empty 204 PATCHes, `assignee_id`, notes
//! with `text`, 404) that configuration is the only thing that differs.

mod serve_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use qalita_gitlab::embedded::secrets::EnvSecrets;
use qalita_gitlab::serve::ConfigFrom;
use qalita_gitlab_core::domain::Iid;
use qalita_gitlab_core::domain::gitlab::{GitlabIssue, IssueState, IssueUpdate, StateEvent};
use qalita_gitlab_core::ports::{CallContext, GitlabApi};
use qalita_gitlab_sims::qalita::Dialect;
use serde_json::{Value, json};
use serve_support::*;

/// How long a step of the flow may take: each goes through the queue, the worker and both
/// simulators (a second or two; more on a loaded machine).
const STEP: Duration = Duration::from_secs(30);

/// Title, description and assignee both ways (status is two-way by default).
const TWO_WAY: &str = "[ownership]\ntitle = \"both\"\ndescription = \"both\"\nassignee = \"both\"\n";

/// What the binary printed.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn expect(self, code: i32) -> Ran {
        assert_eq!(self.code, Some(code), "stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        for (_, secret) in secret_values() {
            assert!(!self.stdout.contains(secret) && !self.stderr.contains(secret), "a secret was printed");
        }
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// The binary on the data folder `data`, with the tokens in its environment and `env` added.
async fn cli(args: &[&str], data: &Path, env: &[(&str, &str)]) -> Ran {
    let mut command = Command::new(binary());
    for name in [
        "QALITA_GITLAB_OUTPUT",
        "QALITA_GITLAB_SECRETS_FILE",
        "GITLAB_BASE_URL",
        "GITLAB_DEFAULT_PROJECT",
        "QALITA_BASE_URL",
    ] {
        command.env_remove(name);
    }
    command.args(args).arg("--local").arg(data);
    for (id, value) in secret_values() {
        command.env(EnvSecrets::variable(id), value);
    }
    command.envs(env.iter().copied());
    let output =
        tokio::task::spawn_blocking(move || command.output()).await.expect("joined").expect("run qalita-gitlab");
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A comment's text in the dialect's shape (`content`, or `text` in the second).
fn comment_texts(sims: &Sims, id: u64) -> Vec<String> {
    let text = |c: &Value| c.get("content").or_else(|| c.get("text")).and_then(Value::as_str).map(str::to_owned);
    sims.qalita.comments(id).iter().filter_map(text).collect()
}

/// An issue's assignee in the dialect's shape.
fn qalita_assignee(sims: &Sims, id: u64) -> Option<u64> {
    let issue = sims.qalita.issue(id)?;
    issue.get("assignee").or_else(|| issue.get("assignee_id")).and_then(Value::as_u64)
}

fn usernames(issue: &GitlabIssue) -> Vec<&str> {
    issue.assignees.iter().map(|user| user.username.as_str()).collect()
}

async fn flows(dialect: Dialect) {
    let sims = Sims::start_in(dialect).await;
    // A second person, known to both sides by one login.
    sims.gitlab.add_user(31, "jroe", "Jo Roe");
    sims.qalita.insert_user(json!({"id": 13, "login": "jroe", "name": "Jo Roe"}));
    let dir = tempfile::tempdir().expect("a temporary folder");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("the data folder");

    // discover against the simulator (its base URL from the environment, as on a first start),
    // and its output appended unedited to the document.
    let discovered = dir.path().join("discovered.toml");
    let qalita_url = sims.qalita.url();
    let env = [("QALITA_BASE_URL", qalita_url.as_str()), ("GITLAB_DEFAULT_PROJECT", "data/quality")];
    cli(&["qalita", "discover", "--write", text(&discovered)], &data, &env).await.expect(0);
    let discovered = std::fs::read_to_string(&discovered).expect("the discovered configuration");
    let document = dir.path().join("config.toml");
    std::fs::write(&document, format!("{}{TWO_WAY}{discovered}", sims.config_document())).expect("the document");
    cli(&["config", "apply", text(&document), "--yes"], &data, &[]).await.expect(0);
    cli(&["test-connection"], &data, &[]).await.expect(0);

    let mut options = options(&data, ConfigFrom::Stored);
    options.poll_interval = Duration::from_secs(1);
    let (serving, queue) = Serving::start(&sims, options).await;

    // Creation, by the poll: the title names the dataset, QALITA's assignee is assigned.
    wait_until_within("the GitLab issue of the poll", STEP, || sims.gitlab_issue_of(ISSUE).is_some()).await;
    let created = sims.gitlab_issue_of(ISSUE).expect("the GitLab issue");
    let iid = created.iid;
    assert_eq!(created.title, "[QALITA] billing.customer_sites: Invalid Latitude");
    assert_eq!(usernames(&created), ["mdurand"]);
    wait_until_within("the link back", STEP, || comment_texts(&sims, ISSUE).contains(&sims.link_back(ISSUE))).await;
    let gitlab = || sims.gitlab_issues().into_iter().find(|issue| issue.iid == iid).expect("the GitLab issue");

    // QALITA → GitLab, every field, by the poll.
    sims.qalita.set_title(ISSUE, "Latitude out of range");
    sims.qalita.set_description(ISSUE, "Rows beyond ±90° are rejected downstream.");
    sims.qalita.set_assignee(ISSUE, Some(13));
    sims.qalita.set_status(ISSUE, "resolved");
    wait_until_within("QALITA's title, description, assignee and status in GitLab", STEP, || {
        let issue = gitlab();
        issue.title == "[QALITA] billing.customer_sites: Latitude out of range"
            && issue.description.as_deref().is_some_and(|d| d.contains("Rows beyond ±90° are rejected downstream."))
            && usernames(&issue) == ["jroe"]
            && issue.state == IssueState::Closed
    })
    .await;

    // A QALITA comment becomes a GitLab note (the poll's comment sweep).
    sims.qalita.add_comment(ISSUE, 12, "Seen in the March load only.");
    let note_of = |text: &str| sims.gitlab.notes(PROJECT, iid.get()).iter().filter(|n| n.body.contains(text)).count();
    wait_until_within("the comment as a note", STEP, || note_of("Seen in the March load only.") == 1).await;

    // GitLab → QALITA, every field, by the webhook.
    let update = IssueUpdate {
        title: Some("[QALITA] billing.customer_sites: Latitude outside [-90, 90]".into()),
        // A person edits the text above the marker, which stays.
        description: Some(format!("Checked with the partner: the March load only.\n\n<!-- qalita-issue:{ISSUE} -->")),
        assignee_ids: Some(vec![30]),
        state_event: Some(StateEvent::Reopen),
        ..IssueUpdate::default()
    };
    sims.person().update_issue(&project(), iid, &update, &CallContext::default()).await.expect("the person's edit");
    wait_until_within("GitLab's title, description, assignee and status in QALITA", STEP, || {
        let issue = sims.qalita.issue(ISSUE).expect("the QALITA issue");
        issue["title"] == "Latitude outside [-90, 90]"
            && issue["description"] == "Checked with the partner: the March load only."
            && issue["status"] == "open"
            && qalita_assignee(&sims, ISSUE) == Some(12)
    })
    .await;

    // A GitLab note becomes a QALITA comment.
    sims.person_comments(iid, "Fixed in the loader.").await;
    let copy = "[GitLab] mdurand: Fixed in the loader.".to_owned();
    wait_until_within("the note as a comment", STEP, || comment_texts(&sims, ISSUE).contains(&copy)).await;

    // The reconcile: a note and a close whose deliveries are lost still reach QALITA (only the
    // reconcile copies GitLab notes without a delivery; the close may come by the poll's merge too).
    sims.gitlab.set_webhook(None);
    let delivered = sims.gitlab.deliveries().len();
    sims.person_comments(iid, "Reloaded on the 4th.").await;
    sims.person_closes(iid).await;
    let lost = "[GitLab] mdurand: Reloaded on the 4th.".to_owned();
    wait_until_within("the lost note, by the reconcile", STEP, || comment_texts(&sims, ISSUE).contains(&lost)).await;
    wait_until_within("QALITA resolved", STEP, || sims.qalita_status(ISSUE) == "resolved").await;
    assert_eq!(sims.gitlab.deliveries().len(), delivered, "nothing was delivered");
    wait_until_quiet(&sims, &queue).await;
    serving.stop_within(Duration::from_secs(5)).await;
    // The embedded queue holds the database open; the commands below need it.
    drop(queue);
    assert_eq!(sims.gitlab_issues().len(), 1, "one GitLab issue, no duplicate");
    let comments = comment_texts(&sims, ISSUE);
    for once in [sims.link_back(ISSUE), copy, lost, "Seen in the March load only.".into()] {
        assert_eq!(comments.iter().filter(|c| **c == once).count(), 1, "{once:?} once in {comments:?}");
    }
    assert_eq!(note_of("Seen in the March load only."), 1, "the comment copied once");
    assert_eq!(note_of("Fixed in the loader."), 1, "the note is not echoed back as a note");

    // explain and create-issue map a new issue on the data folder, with the same configuration.
    let newer = sims.qalita.insert_issue(issue(4900, "Negative amounts"));
    let explained = cli(&["explain", "4900", "--output", "json"], &data, &[]).await.expect(0).json();
    assert_eq!(explained["title"], "[QALITA] billing.customer_sites: Negative amounts", "{explained}");
    assert_eq!(explained["would_write"][0]["write"], "create_issue", "{explained}");
    assert_eq!(sims.gitlab_issues().len(), 1, "explain writes nothing");
    let made = cli(&["create-issue", "4900", "--output", "json"], &data, &[]).await.expect(0).json();
    assert_eq!(made["action"], "created", "{made}");
    let iid = Iid::new(made["gitlab"]["iid"].as_u64().expect("an iid")).expect("a positive iid");
    let new = sims.gitlab_issues().into_iter().find(|issue| issue.iid == iid).expect("the new GitLab issue");
    assert_eq!(new.title, "[QALITA] billing.customer_sites: Negative amounts");
    assert_eq!(usernames(&new), ["mdurand"], "QALITA's assignee read as the dialect names it");
    assert!(comment_texts(&sims, newer).contains(&sims.link_back(newer)), "the link back, in the dialect's shape");
}

#[tokio::test]
async fn the_flows_run_on_the_first_dialect_with_what_discover_writes() {
    flows(Dialect::First).await;
}

#[tokio::test]
async fn the_flows_run_on_the_second_dialect_with_what_discover_writes() {
    flows(Dialect::Second).await;
}
