//! What the demo prints at the end: where to look, and how to point `serve` at a real GitLab and
//! QALITA instead of the simulators (the configuration keys, the secrets, GitLab's webhook).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::local::{DATABASE_FILE, GITLAB_TOKEN_ID, HEALTH_PATH, QALITA_TOKEN_ID, WEBHOOK_PATH, WEBHOOK_SECRET_ID};

/// A configuration document for a real GitLab and QALITA, as printed by the demo (a test checks
/// that it is valid).
pub const SAMPLE_CONFIG: &str = r#"[gitlab]
base_url = "https://gitlab.example.com"    # or https://gitlab.com
default_project = "data/quality"            # numeric id or group/subgroup/project
[qalita]
base_url = "https://qalita.example.com"
[assignees]                                 # QALITA login = GitLab username
"m.durand" = "mdurand"
[[routing]]                                 # first match wins; else the default project
scope = "finance.*"
project = "finance/data-quality"
"#;

/// Writes the closing guide. `database` is where the demo's database was, `kept` whether it stays.
pub(crate) fn write(
    out: &mut (dyn Write + Send),
    database: &Path,
    kept: bool,
    poll_interval: Duration,
) -> std::io::Result<()> {
    let variable = crate::embedded::secrets::EnvSecrets::variable;
    let where_db = if kept { "kept" } else { "a temporary folder, removed at the end" };
    writeln!(out, "\nWhere to look")?;
    writeln!(
        out,
        "  - The pipeline's own log: run it again with RUST_LOG=info (add --log-format json for JSON lines)."
    )?;
    writeln!(
        out,
        "  - Its database (links, queue, dead-letter queue, integration log): {} ({where_db}).",
        database.display()
    )?;
    writeln!(out, "  - The queue's depth, while serve runs: GET http://<listen address>{HEALTH_PATH}.")?;
    writeln!(out, "  - `serve --demo --keep-running` keeps everything up to try things by hand.")?;
    writeln!(out, "\nRun it against your GitLab and QALITA")?;
    writeln!(
        out,
        "  1. Write the configuration, e.g. qalita-gitlab.toml (every key: the README's \"Configuration document\"):"
    )?;
    for line in SAMPLE_CONFIG.lines() {
        writeln!(out, "       {line}")?;
    }
    writeln!(out, "  2. Give the three secrets as environment variables:")?;
    writeln!(out, "       export {}=…    # a GitLab access token with scope api", variable(GITLAB_TOKEN_ID))?;
    writeln!(out, "       export {}=…    # a QALITA API token", variable(QALITA_TOKEN_ID))?;
    writeln!(out, "       export {}=…  # a long random string, also given to GitLab", variable(WEBHOOK_SECRET_ID))?;
    writeln!(out, "     or in a file only you can read (chmod 600 secrets.toml), given with --secrets-file:")?;
    for id in [GITLAB_TOKEN_ID, QALITA_TOKEN_ID, WEBHOOK_SECRET_ID] {
        writeln!(out, "       \"{id}\" = \"…\"")?;
    }
    writeln!(out, "  3. Start it (the database goes to ./.qalita-gitlab/{DATABASE_FILE} unless --data-dir):")?;
    writeln!(
        out,
        "       qalita-gitlab serve --config qalita-gitlab.toml [--secrets-file secrets.toml] [--listen 127.0.0.1:8080]"
    )?;
    writeln!(out, "  4. In the GitLab project (or group): Settings → Webhooks → Add new webhook")?;
    writeln!(out, "       URL:           http://<this machine>:8080{WEBHOOK_PATH}")?;
    writeln!(out, "                      (through a TLS reverse proxy when GitLab is not on this machine)")?;
    writeln!(out, "       Secret token:  the webhook secret of step 2")?;
    writeln!(out, "       Trigger:       Issues events, Confidential issues events, Comments, Confidential comments")?;
    writeln!(
        out,
        "  QALITA sends no webhook: serve polls it every {} (--poll-interval) for new and changed issues, and copies",
        human(poll_interval)
    )?;
    writeln!(out, "  their new comments then. GitLab changes arrive at once through the webhook.")?;
    Ok(())
}

/// `5 min`, `90 s`.
pub(crate) fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0 => format!("{} ms", duration.as_millis()),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}
