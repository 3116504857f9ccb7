//! The command line of `qalita-gitlab serve`: where to listen, where the data and the configuration
//! are, how often to poll, how the queue redelivers, how to log, and the demo switches.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::embedded::queue::MAX_VISIBILITY_TIMEOUT;

/// The address the webhook endpoint listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The data folder by default.
pub const DEFAULT_DATA_DIR: &str = "./.qalita-gitlab";

/// Runs the whole sync on this machine: the webhook endpoint, an on-disk queue, the worker and the
/// QALITA poll, on an embedded database.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Secrets come from environment variables (QALITA_GITLAB_GITLAB_TOKEN, QALITA_GITLAB_QALITA_TOKEN,
QALITA_GITLAB_WEBHOOK_SECRET, and *_PREVIOUS for a webhook secret being rotated) or from
--secrets-file, a TOML file of mode 0600:
    \"qalita-gitlab/gitlab-token\" = \"glpat-…\"
    \"qalita-gitlab/qalita-token\" = \"…\"
    \"qalita-gitlab/webhook-secret\" = \"…\"

Point the GitLab project's webhook (Settings → Webhooks) at
http://<this host>:<port>/api/v2/integrations/gitlab/webhook with the webhook secret as Secret token.

Exit codes (as the other commands'): 0 stopped by Ctrl-C or SIGTERM (--demo: every step verified);
1 failed while running (--demo: a step failed); 2 usage or configuration error, serve cannot start
(the configuration, a secret, the data folder, the address).")]
pub struct ServeArgs {
    /// Address and port of the webhook endpoint [default: 127.0.0.1:8080; with --demo, a free port].
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub listen: Option<SocketAddr>,

    /// Folder of the database (links, queue, integration log); created if missing [default:
    /// ./.qalita-gitlab; with --demo, a temporary folder removed at the end].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The configuration document (TOML) [default: the one stored by `config apply`, else
    /// GITLAB_BASE_URL, GITLAB_DEFAULT_PROJECT and QALITA_BASE_URL].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Read the secrets from this TOML file (mode 0600) instead of environment variables.
    #[arg(long, value_name = "FILE")]
    pub secrets_file: Option<PathBuf>,

    /// How often QALITA is polled for new and changed issues (also once at start): 90s, 5m, 1h.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_poll_interval)]
    pub poll_interval: Duration,

    /// How long a message being processed stays hidden from other receives before it is retried.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_visibility_timeout)]
    pub visibility_timeout: Duration,

    /// How many times a message is tried before it goes to the dead-letter queue.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_receive_count: u32,

    /// Log format (on standard error); RUST_LOG sets the level (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// Show the sync working in a few seconds, against simulated GitLab and QALITA servers
    /// started in this process.
    #[arg(long, conflicts_with_all = ["config", "secrets_file"])]
    pub demo: bool,

    /// With --demo: keep serving after the demo, until Ctrl-C.
    #[arg(long, requires = "demo")]
    pub keep_running: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

/// Reads `90`, `90s`, `500ms`, `5m`, `1h`: a whole number with an optional unit (seconds by default).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration (a whole number and ms, s, m or h)"))?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(number),
        "" | "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        "h" => Duration::from_secs(number.saturating_mul(3600)),
        other => return Err(format!("unknown unit {other:?} in {text:?}: use ms, s, m or h")),
    };
    Ok(duration)
}

fn within(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration < min || duration > max {
        return Err(format!("must be between {min:?} and {max:?}, got {duration:?}"));
    }
    Ok(duration)
}

fn parse_poll_interval(text: &str) -> Result<Duration, String> {
    within(text, Duration::from_secs(1), Duration::from_secs(24 * 3600))
}

fn parse_visibility_timeout(text: &str) -> Result<Duration, String> {
    within(text, Duration::from_secs(1), MAX_VISIBILITY_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_or_without_a_unit() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    }

    #[test]
    fn a_duration_that_is_not_one_says_what_is_expected() {
        assert!(parse_duration("soon").unwrap_err().contains("ms, s, m or h"));
        assert!(parse_duration("5d").unwrap_err().contains("unknown unit \"d\""));
        assert!(parse_poll_interval("0s").unwrap_err().contains("must be between"));
        assert!(parse_visibility_timeout("13h").unwrap_err().contains("must be between"));
    }
}
