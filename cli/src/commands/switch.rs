//! `disable` and `enable`: the operator's switch (`qalita_gitlab_core::control`, which the worker
//! reads once per batch and the poll once per run); `status` shows it.

use qalita_gitlab_core::control;
use serde_json::json;

use super::global::GlobalArgs;
use super::outcome::{CommandError, Outcome};
use super::stack::Stack;

/// Stops outbound writes: the worker acknowledges every event and writes nothing, logging each as
/// skipped; the poll stops queuing. `enable` resumes.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Events that arrive while the integration is disabled are acknowledged and not replayed: once it is
enabled again, the poll brings QALITA's changes over (and `backfill` links issues created meanwhile).

Exit codes: 0 disabled; 2 usage or configuration error; 3 the store did not answer.")]
pub struct DisableArgs {}

/// Resumes outbound writes after `disable`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Exit codes: 0 enabled; 2 usage or configuration error; 3 the store did not answer.")]
pub struct EnableArgs {}

/// Runs `disable` (`true`) or `enable` (`false`).
pub async fn set(global: GlobalArgs, disabled: bool) -> Result<Outcome, CommandError> {
    let stack = Stack::open(&global).await?;
    control::set_disabled(stack.store().as_ref(), disabled).await?;
    let human = match disabled {
        true => {
            "The integration is disabled: the worker acknowledges every event and writes nothing (each is logged as skipped), and the poll stops.\n`qalita-gitlab enable` turns it back on."
        }
        false => "The integration is enabled: the worker and the poll write again.",
    };
    Ok(Outcome::ok(human, json!({ "disabled": disabled, "stack": stack.describe_json() })))
}
