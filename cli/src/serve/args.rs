//! The command line of `qalita-gitlab serve`: where to listen, where the data and the configuration
//! are, how deliveries are authenticated, the endpoint's limits and TLS, how often to poll, how the
//! queue redelivers, how to log, and the demo switches.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use qalita_gitlab_core::webhook::verify::AuthMode;
use qalita_gitlab_webhook::config::DEFAULT_MAX_BODY_BYTES;

use crate::embedded::queue::MAX_VISIBILITY_TIMEOUT;

/// The address the webhook endpoint listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The data folder by default.
pub const DEFAULT_DATA_DIR: &str = "./.qalita-gitlab";
/// The most connections open at once by default: far more than GitLab opens (one per delivery,
/// a few at a time), far fewer than the usual limit of 1,024 open files.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// The most bytes of request bodies held at once by default: ten deliveries of the largest size.
pub const DEFAULT_MAX_INFLIGHT_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How long a client has by default to send a request's headers (GitLab sends them at once).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client has by default to send a request's body after its headers: 6 MiB at 200 kB/s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the whole sync on this machine: the webhook endpoint, an on-disk queue, the worker and the
/// QALITA poll, on an embedded database.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Secrets come from environment variables (QALITA_GITLAB_GITLAB_TOKEN, QALITA_GITLAB_QALITA_TOKEN,
QALITA_GITLAB_WEBHOOK_SECRET, QALITA_GITLAB_WEBHOOK_SIGNING_SECRET, and *_PREVIOUS for a secret
being rotated) or from --secrets-file, a TOML file of mode 0600:
    \"qalita-gitlab/gitlab-token\" = \"glpat-…\"
    \"qalita-gitlab/qalita-token\" = \"…\"
    \"qalita-gitlab/webhook-secret\" = \"…\"
    \"qalita-gitlab/webhook-signing-secret\" = \"whsec_…\"   (with --webhook-auth-mode signature or both)
    \"qalita-gitlab/qalita-webhook-secret\" = \"…\"   (optional: turns QALITA's webhook route on)

Point the GitLab project's webhook (Settings → Webhooks) at
http(s)://<this host>:<port>/api/v2/integrations/gitlab/webhook with the webhook secret as Secret
token (and the signing secret as Signing token, if signatures are on). Point QALITA's webhook
(Settings → Integration → Webhooks) at http(s)://<this host>:<port>/api/v2/integrations/qalita/webhook
with the QALITA webhook secret (QALITA_GITLAB_QALITA_WEBHOOK_SECRET, at least 16 characters) as a
Bearer token, in X-Qalita-Token, or as the key of an HMAC-SHA256 body signature; the QALITA_WEBHOOK_*
variables of the Lambda function set its pointers and headers here too.

Exit codes (as the other commands'): 0 stopped by Ctrl-C or SIGTERM (--demo: every step verified);
1 failed while running (--demo: a step failed); 2 usage or configuration error, serve cannot start
(the configuration, a secret, the data folder, the address, the TLS files); 4 the database failed
in a way this process cannot repair (its file is gone, corrupted, or was taken by another process):
look before restarting.")]
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

    /// What authenticates a delivery: token (X-Gitlab-Token, the webhook secret), signature (the
    /// hook's signing token: webhook-signature over the body, the webhook signing secret), or both.
    #[arg(
        long,
        env = "QALITA_GITLAB_WEBHOOK_AUTH_MODE",
        value_name = "token|signature|both",
        default_value = "token",
        value_parser = parse_auth_mode
    )]
    pub webhook_auth_mode: AuthMode,

    /// Serve HTTPS with this certificate chain (PEM, the server's certificate first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The most connections open at once; more are closed as soon as accepted (and logged).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = parse_max_connections)]
    pub max_connections: usize,

    /// The most bytes of request bodies held at once, over all deliveries: 64MiB, 512KiB, or
    /// bytes. A delivery that does not fit is answered 503 without being read.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_inflight_body_bytes)]
    pub max_inflight_body_bytes: usize,

    /// How long a client has to send a request's headers, from the connection's start or from the
    /// previous answer on a kept-alive connection (so also how long an idle connection stays open).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_read_timeout)]
    pub header_read_timeout: Duration,

    /// How long a client has to send a request's body, from the end of its headers.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_read_timeout)]
    pub body_read_timeout: Duration,

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
    /// started in this process (in builds with the `demo` feature, the default).
    #[arg(long, conflicts_with_all = ["config", "secrets_file", "tls_cert"])]
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

fn parse_read_timeout(text: &str) -> Result<Duration, String> {
    within(text, Duration::from_millis(100), Duration::from_secs(600))
}

fn parse_auth_mode(text: &str) -> Result<AuthMode, String> {
    AuthMode::parse(text).ok_or_else(|| format!("{text:?} is not token, signature or both"))
}

fn parse_max_connections(text: &str) -> Result<usize, String> {
    let number: usize = text.trim().parse().map_err(|_| format!("{text:?} is not a whole number"))?;
    match (1..=100_000).contains(&number) {
        true => Ok(number),
        false => Err(format!("must be between 1 and 100000, got {number}")),
    }
}

/// Reads `64MiB`, `512KiB`, `1GiB` or a number of bytes.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize =
        number.parse().map_err(|_| format!("{text:?} is not a size (a whole number and B, KiB, MiB or GiB)"))?;
    let unit = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => return Err(format!("unknown unit {other:?} in {text:?}: use B, KiB, MiB or GiB")),
    };
    number.checked_mul(unit).ok_or_else(|| format!("{text:?} is too large"))
}

fn parse_inflight_body_bytes(text: &str) -> Result<usize, String> {
    let bytes = parse_size(text)?;
    // Less than one delivery of the largest size would refuse such a delivery for ever.
    let (min, max) = (DEFAULT_MAX_BODY_BYTES, 16usize << 30);
    match (min..=max).contains(&bytes) {
        true => Ok(bytes),
        false => Err(format!("must be between {min} bytes (the largest delivery) and 16GiB, got {bytes} bytes")),
    }
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

    #[test]
    fn sizes_read_with_or_without_a_unit_and_the_body_bound_fits_the_largest_delivery() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert!(parse_size("5MB").unwrap_err().contains("unknown unit"));
        assert_eq!(parse_inflight_body_bytes("64MiB"), Ok(DEFAULT_MAX_INFLIGHT_BODY_BYTES));
        assert!(parse_inflight_body_bytes("1MiB").unwrap_err().contains("the largest delivery"));
    }

    #[test]
    fn the_auth_mode_is_one_of_three_words() {
        assert_eq!(parse_auth_mode("Both"), Ok(AuthMode::Both));
        assert!(parse_auth_mode("hmac").unwrap_err().contains("token, signature or both"));
        assert!(parse_max_connections("0").unwrap_err().contains("between 1"));
    }
}
