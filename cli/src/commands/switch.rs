//! `disable`, `enable` and `status`: the operator's switch (`qalita_gitlab_core::control`, which
//! the worker reads once per batch and the poll once per run) and what the stack holds now, with
//! the service's first run (where the default creation policy starts) and the checkpoints of
//! `backfill` and `links rebuild`.

use qalita_gitlab_core::control;
use qalita_gitlab_core::engine::FIRST_RUN;
use serde_json::json;

use super::backfill::CHECKPOINT;
use super::global::GlobalArgs;
use super::outcome::{CommandError, Outcome};
use super::rebuild;
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

/// Shows whether the integration is enabled, the queues' depths and the checkpoints of the backfill
/// and of the links rebuild.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Exit codes: 0 shown; 2 usage or configuration error; 3 the store or a queue did not answer.")]
pub struct StatusArgs {}

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

/// Runs `status`.
pub async fn status(global: GlobalArgs) -> Result<Outcome, CommandError> {
    let stack = Stack::open(&global).await?;
    let store = stack.store();
    let disabled = control::is_disabled(store.as_ref()).await?;
    let depths = stack.queues().depths().await?;
    let document = stack.config_document().await?;
    let checkpoint = store.cursor(CHECKPOINT).await?;
    // Where the default creation policy starts (`[create]`): recorded once, by the first run.
    let first_run = store.cursor(FIRST_RUN).await?;
    let checkpoint_json = checkpoint.as_deref().and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok());
    // The rebuild's checkpoints are per configured project; a configuration that does not load
    // is not this command's to report.
    let mut rebuild_cursors = Vec::new();
    if let Ok(loaded) = stack.config().await {
        for project in loaded.config.projects() {
            rebuild_cursors.push((project.to_string(), store.cursor(&rebuild::cursor_name(&project)).await?));
        }
    }
    let rebuilt = rebuild::describe_checkpoints(&rebuild_cursors);
    let mut human = format!("{}\n", stack.describe());
    human.push_str(&format!(
        "  integration: {}\n",
        if disabled { "DISABLED (nothing is written; `qalita-gitlab enable` turns it on)" } else { "enabled" }
    ));
    human.push_str(&format!(
        "  event queue: {} waiting, {} in flight\n  dead-letter queue: {}{}\n",
        depths.waiting,
        depths.in_flight,
        depths.dead_letters,
        if depths.dead_letters > 0 { " (see `qalita-gitlab dlq list`)" } else { "" }
    ));
    human.push_str(&format!(
        "  configuration: {}\n",
        if document.is_some() {
            "stored document (`qalita-gitlab config show`)"
        } else {
            "defaults and the environment"
        }
    ));
    human.push_str(&format!(
        "  first run: {}\n",
        first_run.as_deref().map_or_else(
            || "not yet (QALITA issues raised before it are not created by themselves)".to_owned(),
            |at| format!(
                "{at} (QALITA issues raised before it are not created by themselves, unless [create] says otherwise)"
            )
        )
    ));
    human.push_str(&format!(
        "  backfill: {}\n",
        checkpoint_json.as_ref().map_or_else(|| "never run".to_owned(), super::backfill::describe_checkpoint)
    ));
    human.push_str(&format!(
        "  links rebuild: {}\n",
        rebuilt.as_ref().map_or("never run (`qalita-gitlab links rebuild` after a lost link table)", |(text, _)| text)
    ));
    let json = json!({
        "stack": stack.describe_json(),
        "disabled": disabled,
        "queue": depths,
        "config_stored": document.is_some(),
        "backfill": checkpoint_json,
        "links_rebuild": rebuilt.map(|(_, json)| json),
        "first_run": first_run,
    });
    Ok(Outcome::ok(human, json))
}
