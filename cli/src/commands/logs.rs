//! `logs`: the integration log (DESIGN section 4), every decision and every remote call's outcome,
//! of one QALITA issue (one query) or of every issue since a time (`--since`, `--errors`).

use chrono::Utc;
use qalita_gitlab_core::domain::QalitaIssueId;
use qalita_gitlab_core::domain::link::{LogEntry, LogLevel};
use serde_json::json;

use super::global::GlobalArgs;
use super::outcome::{CommandError, Outcome};
use super::stack::Stack;
use super::time::parse_since;

/// The integration log: of one QALITA issue, or of every issue since a time.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Examples:
  qalita-gitlab logs 4821                  every entry of QALITA issue 4821
  qalita-gitlab logs --errors --since 1h   the errors of every issue in the last hour

Cost: with an issue id, one DynamoDB query. Without one, on the deployed stack, the whole table is
scanned (every item read is billed, about 1 read unit per 4 KB); the embedded stack reads an index.
Entries expire after 90 days.

Exit codes: 0 shown (even when there is none); 2 usage or configuration error; 3 the store did not
answer.")]
pub struct LogsArgs {
    /// The QALITA issue; without it, the entries of every issue since --since.
    #[arg(value_name = "QALITA_ID")]
    pub id: Option<QalitaIssueId>,

    /// Only the errors.
    #[arg(long)]
    pub errors: bool,

    /// Only the entries since then: 90s, 30m, 1h, 2d, 1w, a day (2026-11-01) or an RFC 3339 time
    /// [default without an issue id: 1h].
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
}

/// Runs `logs`.
pub async fn run(global: GlobalArgs, args: LogsArgs) -> Result<Outcome, CommandError> {
    let now = Utc::now();
    let since = match &args.since {
        Some(text) => Some(parse_since(text, now).map_err(CommandError::Usage)?),
        None => None,
    };
    let stack = Stack::open(&global).await?;
    let entries: Vec<LogEntry> = match args.id {
        Some(id) => stack
            .store()
            .log(id)
            .await?
            .into_iter()
            .filter(|entry| since.is_none_or(|since| entry.at >= since))
            .filter(|entry| !args.errors || entry.level == LogLevel::Error)
            .collect(),
        None => stack.store().recent_log(since.unwrap_or(now - chrono::TimeDelta::hours(1)), args.errors).await?,
    };
    let scope = match args.id {
        Some(id) => format!("QALITA issue {id}"),
        None => "every issue".to_owned(),
    };
    let mut human = match entries.is_empty() {
        true => format!(
            "No {} in the integration log of {scope}{}.\n",
            if args.errors { "errors" } else { "entries" },
            since.map_or(String::new(), |s| format!(" since {}", s.to_rfc3339()))
        ),
        false => String::new(),
    };
    for entry in &entries {
        human.push_str(&format!(
            "{}  {:>8}  {:<5}  {:<18} {}\n",
            entry.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            entry.issue,
            entry.level.as_str(),
            entry.kind,
            entry.message
        ));
    }
    let json = json!({
        "issue": args.id.map(|id| id.get()),
        "since": since.map(|s| s.to_rfc3339()),
        "errors_only": args.errors,
        "entries": entries.iter().map(|e| json!({
            "at": e.at.to_rfc3339(),
            "issue": e.issue.get(),
            "level": e.level.as_str(),
            "kind": e.kind,
            "message": e.message,
        })).collect::<Vec<_>>(),
    });
    Ok(Outcome::ok(human, json))
}
