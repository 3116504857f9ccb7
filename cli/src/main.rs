//! `qalita-gitlab`: the operator CLI. Its commands come with the local pipeline; for now it only
//! answers `--help` and `--version`.

use clap::Parser;

/// Keeps QALITA data-quality issues and GitLab issues in sync, from one machine.
#[derive(Debug, Parser)]
#[command(name = "qalita-gitlab", version)]
struct Cli {}

fn main() {
    Cli::parse();
}
