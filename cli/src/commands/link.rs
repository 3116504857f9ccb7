//! `link show` and `link sever`: a link as the store holds it, and cutting it. Severing is one
//! conditional update of the link (status `severed`, on the version read): the GitLab issue stays
//! as it is, the worker ignores later events of either side for it, and `create-issue` can link a
//! new GitLab issue to the QALITA issue. `link rebuild` (also `links rebuild`) restores a lost
//! table from the GitLab issues' markers: see [`super::rebuild`].

use chrono::Utc;
use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::link::{LinkState, LinkStatus, LogEntry, LogLevel};
use qalita_gitlab_core::ports::StoreError;
use serde_json::{Value, json};

use super::global::GlobalArgs;
use super::outcome::{CommandError, Outcome};
use super::rebuild::{self, RebuildArgs};
use super::stack::Stack;

/// How many times a sever re-reads a link that changed under it.
const SEVER_ATTEMPTS: usize = 5;

/// The link between a QALITA issue and its GitLab issue.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum LinkCommand {
    /// Shows the link of a QALITA issue: its status, the GitLab issue, what the sync last wrote.
    #[command(
        after_help = "Exit codes: 0 shown; 1 the QALITA issue has no link; 2 usage or configuration error; 3 the store did not answer."
    )]
    Show {
        /// The QALITA issue id.
        #[arg(value_name = "QALITA_ID")]
        id: QalitaIssueId,
    },
    /// Cuts the link of a QALITA issue: the GitLab issue stays, later events for it are ignored,
    /// and `create-issue` can link a new one.
    #[command(
        after_help = "Exit codes: 0 severed (or already severed); 1 the QALITA issue has no link; 2 usage or configuration error; 3 the store did not answer."
    )]
    Sever {
        /// The QALITA issue id.
        #[arg(value_name = "QALITA_ID")]
        id: QalitaIssueId,
    },
    /// Restores the links of the configured projects from the hidden markers of their GitLab
    /// issues, after a lost or new link table; resumable, never replaces a link.
    Rebuild(RebuildArgs),
}

/// Runs a `link` command.
pub async fn run(global: GlobalArgs, command: LinkCommand) -> Result<Outcome, CommandError> {
    let stack = Stack::open(&global).await?;
    match command {
        LinkCommand::Show { id } => show(&stack, id).await,
        LinkCommand::Sever { id } => sever(&stack, id).await,
        LinkCommand::Rebuild(args) => rebuild::run(&stack, &global, args).await,
    }
}

fn no_link(id: QalitaIssueId) -> CommandError {
    CommandError::Failure(format!("QALITA issue {id} has no link (`qalita-gitlab create-issue {id}` creates one)"))
}

async fn show(stack: &Stack, id: QalitaIssueId) -> Result<Outcome, CommandError> {
    let link = stack.store().get(id).await?.ok_or_else(|| no_link(id))?;
    Ok(Outcome::ok(human(&link), link_json(&link)))
}

async fn sever(stack: &Stack, id: QalitaIssueId) -> Result<Outcome, CommandError> {
    let store = stack.store();
    for _ in 0..SEVER_ATTEMPTS {
        let link = store.get(id).await?.ok_or_else(|| no_link(id))?;
        if link.status == LinkStatus::Severed {
            let text = format!("QALITA issue {id}: the link was already severed\n{}", human(&link));
            return Ok(Outcome::ok(text, json!({ "severed": true, "already": true, "link": link_json(&link) })));
        }
        let now = Utc::now();
        let severed = LinkState { status: LinkStatus::Severed, reservation: None, updated_at: now, ..link.clone() };
        match store.update(&severed).await {
            Ok(stored) => {
                let target = link.gitlab.as_ref().map_or_else(|| "no GitLab issue".to_owned(), |g| g.web_url.clone());
                let entry = LogEntry {
                    issue: id,
                    at: now,
                    level: LogLevel::Info,
                    kind: "severed".into(),
                    message: format!(
                        "link severed by the operator; the GitLab issue stays ({target}) and its events are ignored"
                    ),
                };
                store.append_log(&entry).await?;
                let text = format!(
                    "QALITA issue {id}: link severed. The GitLab issue stays ({target}); later events are ignored.\n\
                     `qalita-gitlab create-issue {id}` links a new GitLab issue.\n"
                );
                return Ok(Outcome::ok(text, json!({ "severed": true, "already": false, "link": link_json(&stored) })));
            }
            // The worker changed the link since it was read: read it again.
            Err(StoreError::Conflict) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(CommandError::Unavailable(format!(
        "the link of QALITA issue {id} kept changing while it was being severed: try again"
    )))
}

/// The link status with what it means for the sync, for people.
fn status_word(status: LinkStatus) -> &'static str {
    match status {
        LinkStatus::Reserved => "reserved (a GitLab issue is being created)",
        LinkStatus::Linked => "linked",
        LinkStatus::Severed => "severed (events are ignored)",
        LinkStatus::Gone => "gone (the GitLab issue was deleted)",
    }
}

fn human(link: &LinkState) -> String {
    let mut text = format!("QALITA issue {}: {}\n", link.qalita_id, status_word(link.status));
    if let Some(gitlab) = &link.gitlab {
        text.push_str(&format!(
            "  GitLab issue: {} (project {}, #{})\n",
            gitlab.web_url, gitlab.project_id, gitlab.iid
        ));
    }
    for past in &link.history {
        text.push_str(&format!(
            "  earlier GitLab issue: {} (project {}, #{}), left {} ({})\n",
            past.gitlab.web_url,
            past.gitlab.project_id,
            past.gitlab.iid,
            past.retired_at.to_rfc3339(),
            past.reason.as_str()
        ));
    }
    if let Some(resolved) = link.resolved_at {
        text.push_str(&format!("  resolved since: {}\n", resolved.to_rfc3339()));
    }
    if let Some(reservation) = &link.reservation {
        text.push_str(&format!("  reserved at: {}\n", reservation.at.to_rfc3339()));
    }
    text.push_str(&format!("  version: {}, last written {}\n", link.version, link.updated_at.to_rfc3339()));
    if !link.managed_labels.is_empty() {
        let labels: Vec<&str> = link.managed_labels.iter().map(String::as_str).collect();
        text.push_str(&format!("  managed labels: {}\n", labels.join(", ")));
    }
    if let Some(watermark) = link.qalita_watermark {
        text.push_str(&format!("  QALITA state synced up to: {}\n", watermark.to_rfc3339()));
    }
    match link.comments_swept_at {
        Some(swept) if swept == chrono::DateTime::UNIX_EPOCH => {
            text.push_str("  comments swept by the poll: not yet (at the head of its line)\n");
        }
        Some(swept) => text.push_str(&format!("  comments last swept by the poll: {}\n", swept.to_rfc3339())),
        None => {}
    }
    if let Some(assignee) = &link.assignee {
        text.push_str(&format!("  assignee: QALITA user {} → GitLab @{}\n", assignee.qalita_user, assignee.username));
    }
    for (field, written) in &link.to_gitlab {
        let value: String = written.value.chars().take(80).collect();
        text.push_str(&format!("  written to GitLab, {field:?}: {value}\n"));
    }
    text
}

fn link_json(link: &LinkState) -> Value {
    serde_json::to_value(link).unwrap_or_else(|_| json!({ "qalita_id": link.qalita_id.get() }))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use qalita_gitlab_core::domain::link::{GitlabLink, PastIssue, RelinkReason};
    use qalita_gitlab_core::domain::{GitlabProjectId, Iid};

    use super::*;

    #[test]
    fn link_show_lists_the_earlier_gitlab_issues_in_text_and_json() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let mut link = LinkState::reserved(QalitaIssueId::new(12).unwrap(), "t".into(), at);
        link.history.push(PastIssue {
            gitlab: GitlabLink {
                project_id: GitlabProjectId::new(42).unwrap(),
                iid: Iid::new(3).unwrap(),
                issue_id: 300,
                web_url: "https://gitlab.example/g/p/-/issues/3".into(),
            },
            retired_at: at,
            reason: RelinkReason::Regression,
        });
        let text = human(&link);
        assert!(
            text.contains(
                "earlier GitLab issue: https://gitlab.example/g/p/-/issues/3 (project 42, #3), left 2026-12-01T09:00:00+00:00 (regression)"
            ),
            "{text}"
        );
        let json = link_json(&link);
        assert_eq!(json["history"][0]["gitlab"]["iid"], 3);
        assert_eq!(json["history"][0]["reason"], "regression");
    }
}
