//! `dlq list` and `dlq replay`: the messages the worker gave up on after the last try, and moving
//! them back to the event queue once the cause is fixed (as new messages of their own group, so
//! that they are processed in order with that other events).

use serde_json::{Value, json};

use super::global::GlobalArgs;
use super::outcome::{CommandError, Outcome};
use qalita_gitlab_core::ports::DeadMessage;

use super::stack::Stack;

/// The dead-letter queue.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DlqCommand {
    /// Lists the messages of the dead-letter queue, oldest first; moves nothing.
    #[command(after_help = "\
On SQS the messages are received (and made visible again at once): a FIFO queue gives at most the
first ten messages of each group until the earlier ones are replayed.

Exit codes: 0 listed (even when empty); 2 usage or configuration error; 3 the queue did not answer.")]
    List,
    /// Moves the messages of the dead-letter queue back to the event queue, once their cause is fixed.
    #[command(after_help = "\
Find the cause first: `qalita-gitlab logs --errors --since 1d` and `qalita-gitlab test-connection`.

Exit codes: 0 replayed (or nothing to replay); 2 usage or configuration error; 3 a queue did not
answer (the messages not moved stay in the dead-letter queue).")]
    Replay {
        /// Only the messages of this group (`qalita:<issue id>` or `gitlab:<project id>:<iid>`).
        #[arg(long, value_name = "GROUP")]
        group: Option<String>,
        /// Show what would be moved, and move nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a `dlq` command.
pub async fn run(global: GlobalArgs, command: DlqCommand) -> Result<Outcome, CommandError> {
    let stack = Stack::open(&global).await?;
    match command {
        DlqCommand::List => {
            let messages = stack.queues().dead_letters().await?;
            let mut human = match messages.len() {
                0 => "The dead-letter queue is empty.\n".to_owned(),
                n => format!("{n} message(s) in the dead-letter queue:\n"),
            };
            messages.iter().for_each(|m| human.push_str(&line(m)));
            Ok(Outcome::ok(human, json!({ "messages": messages.iter().map(message_json).collect::<Vec<_>>() })))
        }
        DlqCommand::Replay { group, dry_run } => {
            let moved = match dry_run {
                true => {
                    let all = stack.queues().dead_letters().await?;
                    all.into_iter().filter(|m| group.as_deref().is_none_or(|g| g == m.group_id)).collect()
                }
                false => stack.queues().replay_dead_letters(group.as_deref()).await?,
            };
            let which = group.as_deref().map_or_else(String::new, |g| format!(" of group {g}"));
            let mut human = match (moved.len(), dry_run) {
                (0, _) => format!("No message{which} in the dead-letter queue: nothing to replay.\n"),
                (n, true) => {
                    format!("Would move {n} message(s){which} back to the event queue (dry run: nothing moved):\n")
                }
                (n, false) => format!("Moved {n} message(s){which} back to the event queue:\n"),
            };
            moved.iter().for_each(|m| human.push_str(&line(m)));
            let json = json!({
                "dry_run": dry_run,
                "group": group,
                "moved": if dry_run { 0 } else { moved.len() },
                "messages": moved.iter().map(message_json).collect::<Vec<_>>(),
            });
            Ok(Outcome::ok(human, json))
        }
    }
}

/// The envelope's fields a person recognises a message by.
fn summary(message: &DeadMessage) -> (String, String, String) {
    let envelope: Value = serde_json::from_str(&message.body).unwrap_or(Value::Null);
    let text = |key: &str| envelope.get(key).and_then(Value::as_str).unwrap_or("?").to_owned();
    (text("source"), text("kind"), text("received_at"))
}

fn line(message: &DeadMessage) -> String {
    let (source, kind, received) = summary(message);
    format!(
        "  {}  group {}  {source} {kind}, received {received}, tried {} time(s){}\n",
        message.message_id,
        message.group_id,
        message.receive_count,
        message.dead_lettered_at.map_or_else(String::new, |at| format!(", dead-lettered {}", at.to_rfc3339()))
    )
}

fn message_json(message: &DeadMessage) -> Value {
    let (source, kind, received) = summary(message);
    json!({
        "message_id": message.message_id,
        "group_id": message.group_id,
        "receive_count": message.receive_count,
        "source": source,
        "kind": kind,
        "received_at": received,
        "dead_lettered_at": message.dead_lettered_at.map(|at| at.to_rfc3339()),
        "body": message.body,
    })
}
