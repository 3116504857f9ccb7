//! `qalita-gitlab qalita discover`: reads the QALITA instance's OpenAPI document (at the configured
//! base URL, with the QALITA token sent as configured) and prints, or writes to a file, the
//! `[qalita.*]` configuration it implies, each choice explained, each operation it could not find
//! named with what the sync loses. The derivation is the core's (`config::discover`).

use std::path::PathBuf;

use qalita_gitlab_core::adapters::http::HttpSettings;
use qalita_gitlab_core::adapters::qalita_http::{DocumentError, QalitaClient};
use qalita_gitlab_core::config::discover::{self, Discovery};
use serde_json::json;

use super::global::GlobalArgs;
use super::outcome::{CommandError, Outcome};
use super::stack::Stack;

/// What QALITA's own API says about itself.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum QalitaCommand {
    /// Reads QALITA's OpenAPI document and prints the [qalita] configuration it implies.
    #[command(after_help = "\
The document is read from qalita.base_url (the stored configuration, else QALITA_BASE_URL) with the
QALITA token, sent as [qalita.auth] says (FastAPI serves the document without authentication).
Review the output, add it to the configuration document, `config apply` it, then run
`test-connection`, which checks the configuration against the same document and a real page of
issues.

Exit codes: 0 a configuration was derived (operations it could not find are named); 1 the document
is not served, not JSON or not OpenAPI 3, or has no single-issue read (nothing could sync); 2 usage
or configuration error (no base URL, no token, a file that cannot be written); 3 QALITA did not
answer.")]
    Discover(DiscoverArgs),
}

/// The options of `qalita discover`.
#[derive(Debug, Clone, clap::Args)]
pub struct DiscoverArgs {
    /// Write the configuration to FILE (replacing it) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub write: Option<PathBuf>,

    /// Where the document is, below qalita.base_url.
    #[arg(long, value_name = "PATH", default_value = "/openapi.json")]
    pub openapi_path: String,
}

/// Runs a `qalita` command.
pub async fn run(global: GlobalArgs, command: QalitaCommand) -> Result<Outcome, CommandError> {
    match command {
        QalitaCommand::Discover(args) => discover(&global, args).await,
    }
}

async fn discover(global: &GlobalArgs, args: DiscoverArgs) -> Result<Outcome, CommandError> {
    let stack = Stack::open(global).await?;
    let config = stack.config().await?.config;
    let token = stack.qalita_token().await?;
    let qalita = &config.qalita;
    let client = QalitaClient::with_shape(
        &qalita.base_url,
        token,
        qalita.paths.clone(),
        qalita.shape.clone(),
        &HttpSettings::default(),
    )
    .map_err(|error| CommandError::Usage(error.to_string()))?;
    let url = format!("{}{}", client.base_url(), args.openapi_path);
    let document = client.openapi_document(&args.openapi_path).await.map_err(document_error)?;
    let discovery = discover::discover(&document).map_err(|error| {
        CommandError::Failure(format!("{url}: {error}; give the document's path with --openapi-path"))
    })?;
    let toml = discovery.to_toml();
    if let Some(file) = &args.write {
        std::fs::write(file, &toml)
            .map_err(|error| CommandError::Usage(format!("cannot write {}: {error}", file.display())))?;
    }
    Ok(render(&url, &discovery, &toml, args.write.as_ref()))
}

fn document_error(error: DocumentError) -> CommandError {
    let message = error.to_string();
    match error {
        DocumentError::InvalidPath(_) => CommandError::Usage(message),
        _ if error.is_transient() => CommandError::Unavailable(format!(
            "{message} (check qalita.base_url, that QALITA is up, and the network path; try again)"
        )),
        DocumentError::Refused { .. } => CommandError::Failure(format!(
            "{message}; set [qalita.auth] (e.g. header = \"X-API-Key\" and scheme = \"\") and run again, or check the token"
        )),
        _ => CommandError::Failure(format!(
            "{message}: give its path with --openapi-path, or write the [qalita] sections by hand (README, \"Connecting to your QALITA instance\")"
        )),
    }
}

fn render(url: &str, discovery: &Discovery, toml: &str, written: Option<&PathBuf>) -> Outcome {
    let mut human = format!("QALITA's OpenAPI document at {url}: {}\n", discovery.described);
    let width = discovery.operations.iter().map(|r| r.need.name().len()).max().unwrap_or(0);
    let mut operations = Vec::new();
    for report in &discovery.operations {
        let name = report.need.name();
        match &report.documented {
            Some(documented) => human.push_str(&format!("  ✓ {name:width$}  {documented}\n")),
            None => human.push_str(&format!("  ✗ {name:width$}  not found: without it, {}\n", report.need.loss())),
        }
        operations.push(json!({
            "operation": name,
            "found": report.endpoint.is_some(),
            "endpoint": report.endpoint,
            "documented": report.documented,
            "without_it": report.endpoint.is_none().then(|| report.need.loss()),
        }));
    }
    let missing = discovery.missing().count();
    match written {
        Some(file) => human.push_str(&format!(
            "Wrote the [qalita] configuration to {}: review it, add it to the configuration document, \
             `config apply` it, then run `test-connection`.\n",
            file.display()
        )),
        None => {
            human.push_str(
                "\nReview it, add it to the configuration document, `config apply` it, then run `test-connection`:\n\n",
            );
            human.push_str(toml);
        }
    }
    let json = json!({
        "url": url,
        "document": discovery.described,
        "operations": operations,
        "missing": missing,
        "toml": toml,
        "written": written,
    });
    match discovery.missing().any(|need| need.essential()) {
        true => Outcome::failed(human, json),
        false => Outcome::ok(human, json),
    }
}
