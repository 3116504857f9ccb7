//! `config validate`, `config apply` and `config show`: the configuration document (TOML) the
//! worker and `serve` read from the store's `CONFIG` item, checked by the same
//! [`Config::from_document`] as at their start.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use qalita_gitlab_core::config::Config;
use serde_json::{Value, json};

use super::diff;
use super::global::GlobalArgs;
use super::outcome::{CommandError, Outcome};
use super::stack::{Stack, env};

/// The configuration document.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConfigCommand {
    /// Checks a configuration document as the worker would at its start; stores nothing.
    #[command(after_help = "\
Keys the document leaves out are taken from GITLAB_BASE_URL, GITLAB_DEFAULT_PROJECT and
QALITA_BASE_URL, as the worker takes them from its environment.

Exit codes: 0 valid; 1 invalid (the message names the key); 2 the file cannot be read.")]
    Validate {
        /// The TOML document.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Stores a configuration document, after checking it and showing what changes; asks first
    /// unless --yes.
    #[command(after_help = "\
The worker reads the document at its next cold start (redeploy or wait); `serve` at its next start.
Without a terminal to ask on (a script, CI), --yes is required.

Exit codes: 0 applied (or nothing to change); 1 declined, or the stored document changed meanwhile;
2 the document is invalid or cannot be read, or no terminal to confirm on without --yes; 3 the store
did not answer.")]
    Apply {
        /// The TOML document.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Apply without asking.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Shows the stored configuration document and what it amounts to.
    #[command(
        after_help = "Exit codes: 0 shown; 2 usage or configuration error (an invalid stored document included); 3 the store did not answer."
    )]
    Show,
}

/// Runs a `config` command.
pub async fn run(global: GlobalArgs, command: ConfigCommand) -> Result<Outcome, CommandError> {
    match command {
        ConfigCommand::Validate { file } => validate(&file),
        ConfigCommand::Apply { file, yes } => apply(&global, &file, yes).await,
        ConfigCommand::Show => show(&global).await,
    }
}

fn read(file: &Path) -> Result<String, CommandError> {
    std::fs::read_to_string(file)
        .map_err(|error| CommandError::Usage(format!("cannot read {}: {error}", file.display())))
}

/// What a configuration amounts to, for people and scripts.
fn summary(config: &Config) -> (String, Value) {
    let routes: Vec<String> = config
        .routing
        .iter()
        .enumerate()
        .map(|(i, r)| format!("{} → {}", r.name.clone().unwrap_or_else(|| format!("routing[{i}]")), r.project))
        .collect();
    let mut human = format!(
        "  GitLab: {} (default project {})\n  QALITA: {}\n  routing: {}\n  labels: {}\n",
        config.gitlab.base_url,
        config.gitlab.default_project,
        config.qalita.base_url,
        if routes.is_empty() {
            "no rules (every issue goes to the default project)".to_owned()
        } else {
            routes.join("; ")
        },
        config.mapping.labels.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "),
    );
    human.push_str(&format!(
        "  comments: to GitLab {}, to QALITA {}\n",
        config.comments.to_gitlab, config.comments.to_qalita
    ));
    let json = json!({
        "gitlab": { "base_url": config.gitlab.base_url, "default_project": config.gitlab.default_project.to_string() },
        "qalita": { "base_url": config.qalita.base_url },
        "routing": routes,
        "assignees": config.assignees.len(),
    });
    (human, json)
}

fn validate(file: &Path) -> Result<Outcome, CommandError> {
    let text = read(file)?;
    match Config::from_document(&text, env) {
        Ok(config) => {
            let (details, json) = summary(&config);
            Ok(Outcome::ok(
                format!("✓ {} is a valid configuration:\n{details}", file.display()),
                json!({ "valid": true, "file": file, "summary": json }),
            ))
        }
        Err(error) => Ok(Outcome::failed(
            format!("✗ {}: {error}", file.display()),
            json!({ "valid": false, "file": file, "error": error.to_string() }),
        )),
    }
}

async fn apply(global: &GlobalArgs, file: &Path, yes: bool) -> Result<Outcome, CommandError> {
    let text = read(file)?;
    let config = Config::from_document(&text, env)
        .map_err(|error| CommandError::Usage(format!("{}: {error}; nothing was applied", file.display())))?;
    let stack = Stack::open(global).await?;
    let current = stack.config_document().await?;
    let changes = diff::render(current.as_deref().unwrap_or_default(), &text);
    if current.as_deref() == Some(text.as_str()) {
        return Ok(Outcome::ok(
            format!("The stored configuration is already {}: nothing to apply.", file.display()),
            json!({ "applied": false, "changed": false }),
        ));
    }
    let shown = match changes.is_empty() {
        true => "  (only whitespace at line ends differs)\n".to_owned(),
        false => changes.clone(),
    };
    let (details, summary_json) = summary(&config);
    if !yes {
        let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if !terminal {
            return Err(CommandError::Usage(format!(
                "refusing to apply {} without confirmation: there is no terminal to ask on; review the diff (`config apply` in a terminal) or pass --yes",
                file.display()
            )));
        }
        eprint!(
            "Changes to the stored configuration ({}):\n{shown}\nIt amounts to:\n{details}Apply? [y/N] ",
            stack.describe()
        );
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| CommandError::Usage(format!("cannot read the answer: {e}")))?;
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            return Ok(Outcome::failed("Not applied.", json!({ "applied": false, "changed": true, "declined": true })));
        }
    }
    stack.put_config_document(&text, current.as_deref()).await?;
    let human = format!(
        "Applied {} to the {}:\n{shown}It amounts to:\n{details}The worker uses it from its next cold start; `serve` from its next start.",
        file.display(),
        stack.describe()
    );
    Ok(Outcome::ok(human, json!({ "applied": true, "changed": true, "diff": changes, "summary": summary_json })))
}

async fn show(global: &GlobalArgs) -> Result<Outcome, CommandError> {
    let stack = Stack::open(global).await?;
    let document = stack.config_document().await?;
    let loaded = stack.config().await?;
    let (details, summary_json) = summary(&loaded.config);
    let human = match &document {
        Some(text) => {
            format!("Stored configuration ({}):\n{}\nIt amounts to:\n{details}", stack.describe(), redact(text))
        }
        None => format!(
            "No configuration document is stored in the {}: the worker uses the defaults and its environment (GITLAB_BASE_URL, GITLAB_DEFAULT_PROJECT, QALITA_BASE_URL).\nHere, that amounts to:\n{details}",
            stack.describe()
        ),
    };
    Ok(Outcome::ok(
        human,
        json!({ "stored": document.is_some(), "document": document.as_deref().map(redact), "summary": summary_json }),
    ))
}

/// The document with any credentials written into a URL (`https://user:password@host`) masked:
/// the configuration holds no secret by design, but a mistyped URL may.
fn redact(text: &str) -> String {
    text.lines()
        .map(|line| match (line.find("://"), line.find('@')) {
            (Some(scheme), Some(at)) if at > scheme && !line[scheme + 3..at].contains(['/', ' ', '"']) => {
                format!("{}://[redacted]@{}", &line[..scheme], &line[at + 1..])
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_are_masked() {
        assert_eq!(
            redact("base_url = \"https://bot:s3cret@gitlab.example.com\""),
            "base_url = \"https://[redacted]@gitlab.example.com\""
        );
        assert_eq!(
            redact("base_url = \"https://gitlab.example.com\"\n# a@b"),
            "base_url = \"https://gitlab.example.com\"\n# a@b"
        );
    }
}
