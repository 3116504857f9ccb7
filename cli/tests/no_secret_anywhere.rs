//! No secret anywhere: the real `serve` binary, at debug log level, runs the end-to-end flows (the
//! creation by the poll, a close and comments from GitLab, title changes and comments from QALITA
//! through QALITA's signed webhook, a delivery with a wrong token, a QALITA that refuses its token
//! once, a GitLab that fails once), then the operator's commands run on its data, human and JSON.
//! Every place a value could leak to is then scanned for the four secrets (GitLab's token, QALITA's
//! token, the GitLab and QALITA webhook secrets): each log line, every byte of the data folder (the
//! queue's messages and the table's items), every GitLab issue and note, every QALITA issue and
//! comment, every request body the service sent, and each command's output. Zero occurrences.

mod serve_support;

use std::path::Path;

use qalita_gitlab_sims::gitlab::{DEFAULT_TOKEN, Fault as GitlabFault, FaultRule};
use qalita_gitlab_sims::qalita::{Fault, WebhookProof, WebhookTarget};
use serve_support::*;

/// Where each secret was found, if anywhere.
fn leaks(place: &str, text: &str) -> Vec<String> {
    secret_values()
        .into_iter()
        .filter(|(_, value)| text.contains(value))
        .map(|(id, _)| format!("{id} in {place}"))
        .collect()
}

/// Every file under `dir`, read as bytes (the database is binary: a secret would sit in it as its
/// UTF-8 bytes).
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the data folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push((path.display().to_string(), std::fs::read(&path).expect("a data file")));
        }
    }
    found
}

#[tokio::test]
async fn the_flows_leave_no_secret_in_logs_data_remote_objects_or_command_output() {
    let sims = Sims::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (config, data) = (config_file(&sims, dir.path()), dir.path().join("data"));
    // Failures come back within a second or two.
    let document = format!("{}[sync]\nbackoff_min_seconds = 1\nbackoff_max_seconds = 2\n", sims.config_document());
    std::fs::write(&config, document).expect("the configuration file");
    let args = ["--config", text(&config), "--data-dir", text(&data), "--listen", "127.0.0.1:0"];
    let mut serve = Process::serve_with_env(&args, true, &[("RUST_LOG", "debug")]);
    let iid = hooked_and_linked(&sims, &mut serve).await;
    let webhook_url = serve.webhook_url().await;
    let qalita_route =
        webhook_url.replace(qalita_gitlab::serve::WEBHOOK_PATH, qalita_gitlab::serve::QALITA_WEBHOOK_PATH);
    assert_ne!(qalita_route, webhook_url);

    // GitLab: a comment, then a close; a delivery with a wrong token is refused.
    sims.person_comments(iid, "Looked at it: the loader changed.").await;
    sims.person_closes(iid).await;
    wait_until("QALITA resolved", || sims.qalita_status(ISSUE) == "resolved").await;
    let refused = reqwest::Client::new()
        .post(&webhook_url)
        .header("X-Gitlab-Event", "Issue Hook")
        .header("X-Gitlab-Token", "not-the-webhook-secret")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("the refused delivery");
    assert_eq!(refused.status(), 401);

    // QALITA: its signed webhook; a token refused once; a comment; GitLab failing once.
    sims.qalita.emit_webhooks_to(WebhookTarget {
        url: qalita_route,
        secret: QALITA_WEBHOOK_SECRET.into(),
        proof: WebhookProof::Hmac("X-Qalita-Signature".into()),
    });
    sims.qalita.fail_next(1, Fault::Unauthorized);
    sims.gitlab.inject(FaultRule::new(GitlabFault::ServerError(502)).times(1));
    sims.qalita.set_title(ISSUE, "Invalid Latitude, seen again");
    sims.qalita.add_comment(ISSUE, 12, "Re-run after the fix.");
    sims.qalita.set_status(ISSUE, "open");
    wait_until("the new title in GitLab", || {
        sims.gitlab_issue_of(ISSUE).is_some_and(|issue| issue.title.ends_with("Invalid Latitude, seen again"))
    })
    .await;
    wait_until("the QALITA comment in GitLab", || {
        sims.gitlab.notes(PROJECT, iid.get()).iter().any(|note| note.body.contains("Re-run after the fix."))
    })
    .await;
    wait_until_serve_is_idle(&sims, &webhook_url).await;
    stops_cleanly(&mut serve).await;

    let mut found = leaks("serve's log", &serve.stderr());
    assert!(serve.stderr().lines().count() > 50, "the debug log was read: {}", serve.stderr());
    let data_files = files(&data);
    assert!(!data_files.is_empty(), "the data folder holds the queue and the table");
    for (name, bytes) in &data_files {
        found.extend(leaks(name, &String::from_utf8_lossy(bytes)));
    }
    for issue in sims.gitlab_issues() {
        let notes: Vec<String> = sims.gitlab.notes(PROJECT, issue.iid.get()).into_iter().map(|n| n.body).collect();
        found.extend(leaks("a GitLab issue", &format!("{issue:?}")));
        found.extend(leaks("a GitLab note", &notes.join("\n")));
    }
    for request in sims.gitlab.requests() {
        found.extend(leaks("a request to GitLab", &format!("{} {} {:?}", request.path, request.query, request.body)));
    }
    found.extend(leaks("a QALITA issue", &sims.qalita.issue(ISSUE).map(|i| i.to_string()).unwrap_or_default()));
    found.extend(leaks("a QALITA comment", &sims.qalita_comments(ISSUE).join("\n")));
    for request in sims.qalita.requests() {
        found.extend(leaks("a request to QALITA", &format!("{} {:?} {:?}", request.path, request.query, request.body)));
    }

    // The operator's commands on the same data, with the tokens in their environment.
    let local = text(&data);
    let commands: [&[&str]; 9] = [
        &["status"],
        &["logs", "4821"],
        &["logs", "--errors", "--since", "1h"],
        &["link", "show", "4821"],
        &["explain", "4821"],
        &["config", "show"],
        &["dlq", "list"],
        &["test-connection"],
        &["create-issue", "4821"],
    ];
    let mut ran = 0;
    for command in commands {
        for output in ["human", "json"] {
            let ran_output = std::process::Command::new(binary())
                .args(command)
                .args(["--local", local, "--output", output])
                .env("QALITA_GITLAB_GITLAB_TOKEN", DEFAULT_TOKEN)
                .env("QALITA_GITLAB_QALITA_TOKEN", QALITA_TOKEN)
                .env_remove("QALITA_GITLAB_OUTPUT")
                .env_remove("QALITA_GITLAB_LOCAL")
                .output()
                .expect("run the command");
            let shown = format!(
                "{}{}",
                String::from_utf8_lossy(&ran_output.stdout),
                String::from_utf8_lossy(&ran_output.stderr)
            );
            assert!(!shown.trim().is_empty(), "{command:?} --output {output} said something");
            found.extend(leaks(&format!("`{}` --output {output}", command.join(" ")), &shown));
            ran += 1;
        }
    }
    assert_eq!(ran, 18);
    assert!(found.is_empty(), "secrets found: {found:#?}");
    // The faults happened (their errors went through the log), and the scan finds what it looks for.
    assert!(sims.qalita.requests().iter().any(|r| r.status == Some(401)), "QALITA refused the token once");
    assert!(sims.gitlab.requests().iter().any(|r| r.status == Some(502)), "GitLab failed once");
    assert_eq!(leaks("a probe", &format!("token={QALITA_TOKEN}; secret={WEBHOOK_SECRET}")).len(), 2);
}
