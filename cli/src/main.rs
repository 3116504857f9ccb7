//! `qalita-gitlab`: the operator CLI of the QALITA ↔ GitLab sync. It parses the command line and
//! hands each command to [`qalita_gitlab::commands`], which prints its outcome and gives the exit
//! code, or to [`qalita_gitlab::serve`], the local pipeline.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qalita_gitlab::commands::{
    self, BackfillArgs, ConfigCommand, CreateIssueArgs, DisableArgs, DlqCommand, EXIT_CODES_HELP, EnableArgs,
    ExplainArgs, GlobalArgs, HooksCommand, LinkCommand, LogsArgs, QalitaCommand, StatusArgs, TestConnectionArgs,
};

/// Keeps QALITA data-quality issues and GitLab issues in sync: operate the deployed stack (AWS
/// Lambda, SQS, DynamoDB, Secrets Manager), or the embedded one of `serve` with --local DIR.
#[derive(Debug, Parser)]
#[command(name = "qalita-gitlab", version, after_help = EXIT_CODES_HELP)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks, step by step, that GitLab, QALITA, the queues and the store are reachable and usable.
    TestConnection(TestConnectionArgs),
    /// Creates the GitLab issue of one QALITA issue now ("Create External Issue"); never a duplicate.
    CreateIssue(CreateIssueArgs),
    /// Shows where one QALITA issue would go and what would be written, without writing anything.
    Explain(ExplainArgs),
    /// Shows or severs the link between a QALITA issue and its GitLab issue, or rebuilds the links
    /// from the GitLab issues' markers.
    #[command(subcommand, visible_alias = "links")]
    Link(LinkCommand),
    /// Stops every write of the sync (events are acknowledged and logged as skipped).
    Disable(DisableArgs),
    /// Resumes the sync after `disable`.
    Enable(EnableArgs),
    /// Shows the service's health (switch, queues, last runs, hooks, token, 429s and errors of the
    /// last hour); exit code 1 when something needs an operator.
    Status(StatusArgs),
    /// Shows the integration log: of one QALITA issue, or of every issue (--errors --since 1h).
    Logs(LogsArgs),
    /// Installs, checks or removes the GitLab webhook of every configured project.
    #[command(subcommand)]
    Hooks(HooksCommand),
    /// Lists or replays the dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Links every existing QALITA issue to a GitLab issue, resumably, within GitLab's rate limits.
    Backfill(BackfillArgs),
    /// Validates, applies or shows the configuration document (mapping, routing, ownership).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Reads QALITA's own description of its API: `qalita discover` derives the [qalita] configuration.
    #[command(subcommand)]
    Qalita(QalitaCommand),
    /// Runs the whole sync on this machine (webhook endpoint, queue, worker, poll), or the demo.
    Serve(qalita_gitlab::serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let global = cli.global;
    match cli.command {
        Command::TestConnection(args) => commands::execute(&global, |g| commands::test_connection::run(g, args)),
        Command::CreateIssue(args) => commands::execute(&global, |g| commands::issue::create_issue(g, args)),
        Command::Explain(args) => commands::execute(&global, |g| commands::issue::explain(g, args)),
        Command::Link(command) => commands::execute(&global, |g| commands::link::run(g, command)),
        Command::Disable(_) => commands::execute(&global, |g| commands::switch::set(g, true)),
        Command::Enable(_) => commands::execute(&global, |g| commands::switch::set(g, false)),
        Command::Status(args) => commands::execute(&global, |g| commands::status::run(g, args)),
        Command::Logs(args) => commands::execute(&global, |g| commands::logs::run(g, args)),
        Command::Hooks(command) => commands::execute(&global, |g| commands::hooks::run(g, command)),
        Command::Dlq(command) => commands::execute(&global, |g| commands::dlq::run(g, command)),
        Command::Backfill(args) => commands::execute(&global, |g| commands::backfill::run(g, args)),
        Command::Config(command) => commands::execute(&global, |g| commands::config::run(g, command)),
        Command::Qalita(command) => commands::execute(&global, |g| commands::qalita::run(g, command)),
        Command::Serve(args) => match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(qalita_gitlab::serve_or_demo(args)),
            Err(error) => {
                eprintln!("error: cannot start the async runtime: {error}");
                ExitCode::from(qalita_gitlab::serve::EXIT_CANNOT_START)
            }
        },
    }
}
