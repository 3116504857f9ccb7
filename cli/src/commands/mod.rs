//! The operator commands of `qalita-gitlab` (DESIGN section 1): test the connection, create the
//! external issue of one QALITA issue, explain a routing and mapping, show, sever and rebuild
//! links, switch the integration off and on, show the service's health, read the integration log, work the dead-letter queue,
//! backfill, and manage the configuration document. Each works on the deployed stack (DynamoDB, SQS, Secrets
//! Manager) or on the embedded one of `serve` (`--local DIR`), through the same ports and engine as
//! the worker: no sync decision is made here.
//!
//! Every command returns an [`Outcome`] (a text for people, a JSON document for scripts, and an
//! [`Exit`] code) or a [`CommandError`], which knows its exit code too.

pub mod backfill;
pub mod config;
mod diff;
pub mod dlq;
mod global;
pub mod hooks;
pub mod issue;
pub mod link;
pub mod logs;
mod outcome;
mod pacing;
mod probe;
pub mod qalita;
pub mod rebuild;
mod stack;
pub mod status;
pub mod switch;
pub mod test_connection;
mod time;

pub use backfill::BackfillArgs;
pub use config::ConfigCommand;
pub use dlq::DlqCommand;
pub use global::{GlobalArgs, OutputFormat};
pub use hooks::HooksCommand;
pub use issue::{CreateIssueArgs, ExplainArgs};
pub use link::LinkCommand;
pub use logs::LogsArgs;
pub use outcome::{CommandError, Exit, Outcome};
pub use qalita::QalitaCommand;
pub use rebuild::RebuildArgs;
pub use stack::Stack;
pub use status::StatusArgs;
pub use switch::{DisableArgs, EnableArgs};
pub use test_connection::TestConnectionArgs;

use std::future::Future;
use std::process::ExitCode;

/// The exit codes every command shares, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  done (for a check: everything passed)
  1  a failure was found, or the command hit one that retrying will not fix (a check failed, a
     refusal from GitLab or QALITA, no such link or issue)
  2  usage or configuration error (arguments, the configuration document, missing table, queue or
     secret names, a file that cannot be read)
  3  a remote service is unavailable (GitLab, QALITA, DynamoDB, SQS or Secrets Manager did not
     answer, or asked to wait): try again later";

/// Runs one command on a fresh runtime and prints its outcome: the text on standard output for
/// people (`--output human`), one JSON document for scripts (`--output json`); errors on standard
/// error (and as `{"error": …}` on standard output in JSON mode).
pub fn execute<F, Fut>(global: &GlobalArgs, command: F) -> ExitCode
where
    F: FnOnce(GlobalArgs) -> Fut,
    Fut: Future<Output = Result<Outcome, CommandError>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return Exit::Unavailable.into();
        }
    };
    let result = runtime.block_on(command(global.clone()));
    outcome::print(global.output, result)
}
