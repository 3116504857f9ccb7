//! How the long commands (`backfill`, `links rebuild`) wait for a remote service and show their
//! progress. A transient failure waits what the server asked for (`Retry-After`), else 1, 2, 4, 8
//! and 16 s, and stops the command, to be resumed from its checkpoint, when a wait would be longer
//! than `--max-wait` or the tries are used up. The progress bar is drawn on standard error only
//! when it is a terminal and the output is for people.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use qalita_gitlab_core::engine::SyncError;

use super::global::OutputFormat;
use super::outcome::CommandError;

/// Tries of one call that failed without saying when to try again (1, 2, 4, 8, 16 s apart).
const UNTIMED_RETRIES: u32 = 5;
/// Tries of one call in all, waits asked by the server included.
const MAX_TRIES: u32 = 50;

/// The waits of one run.
#[derive(Debug)]
pub struct Pacer {
    max_wait: Duration,
    waited: Duration,
    waits: u32,
}

impl Pacer {
    /// No wait may be longer than `max_wait`.
    pub fn new(max_wait: Duration) -> Self {
        Pacer { max_wait, waited: Duration::ZERO, waits: 0 }
    }

    /// Waits before the call that failed with `error` is tried again (`attempt`: the tries so far
    /// of that call, counted here): what the server (or a reservation) asked for, else a doubling
    /// wait for a few tries. The error to stop with when the wait is too long or the tries are
    /// used up.
    pub async fn wait(&mut self, error: &SyncError, attempt: &mut u32, bar: &ProgressBar) -> Result<(), CommandError> {
        let gave_up = |why: String| CommandError::Unavailable(error.to_string()).context(why);
        if *attempt >= MAX_TRIES {
            return Err(gave_up(format!("still refused after {MAX_TRIES} tries")));
        }
        let wait = match error.retry_after() {
            Some(asked) => asked.max(Duration::from_millis(200)),
            None if *attempt < UNTIMED_RETRIES => Duration::from_secs(1 << *attempt),
            None => return Err(gave_up(format!("still failing after {UNTIMED_RETRIES} tries"))),
        };
        *attempt += 1;
        if wait > self.max_wait {
            return Err(CommandError::Unavailable(format!(
                "{error}: the server asked to wait {} s, more than --max-wait ({} s); run the same command later to resume",
                wait.as_secs(),
                self.max_wait.as_secs()
            )));
        }
        bar.set_message(format!("waiting {} s: {error}", wait.as_secs()));
        tokio::time::sleep(wait).await;
        self.waited += wait;
        self.waits += 1;
        Ok(())
    }

    /// The time waited so far.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// The waits so far.
    pub fn waits(&self) -> u32 {
        self.waits
    }
}

/// A progress bar drawn with `template` (indicatif's), visible only for people on a terminal.
pub fn progress_bar(output: OutputFormat, template: &str) -> ProgressBar {
    let visible = output == OutputFormat::Human && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = ProgressBar::with_draw_target(
        None,
        match visible {
            true => ProgressDrawTarget::stderr(),
            false => ProgressDrawTarget::hidden(),
        },
    );
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
