//! The discovery as TOML text: a header listing each operation found or missing, then each
//! `[qalita.*]` section with a `#` comment above every setting and the section's remarks after it.
//! Values are written by the `toml` crate; the comments are lines of their own.

use std::fmt::Write;

use super::{Discovery, Setting};

/// The text, parsable as TOML, every line of explanation a comment.
pub(super) fn toml(discovery: &Discovery) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# [qalita] settings discovered from the OpenAPI document of {}.", discovery.described);
    out.push_str("# Review each choice, add these sections to the configuration document, then `config apply` it.\n");
    out.push_str("#\n# Operations the sync uses:\n");
    let width = discovery.operations.iter().map(|r| r.need.name().len()).max().unwrap_or(0);
    for report in &discovery.operations {
        let name = report.need.name();
        match &report.documented {
            Some(documented) => {
                let _ = writeln!(out, "#   {name:width$}  {documented}");
            }
            None => {
                let _ = writeln!(out, "#   {name:width$}  NOT FOUND: without it, {}", report.need.loss());
            }
        }
    }
    for section in &discovery.sections {
        if section.settings.is_empty() && section.notes.is_empty() {
            continue;
        }
        let _ = write!(out, "\n[{}]\n", section.name);
        let mut said = None;
        for setting in &section.settings {
            // Settings proven by one fact (a scheme's header and word) share its comment.
            if said != Some(&setting.why) {
                comment(&mut out, &setting.why);
            }
            said = Some(&setting.why);
            out.push_str(&line(setting));
        }
        for note in &section.notes {
            comment(&mut out, note);
        }
    }
    out
}

/// `# text`, one comment line per line of text.
fn comment(out: &mut String, text: &str) {
    for line in text.lines() {
        let _ = writeln!(out, "# {line}");
    }
}

/// `key = value` as the `toml` crate writes it.
fn line(setting: &Setting) -> String {
    let mut table = toml::Table::new();
    table.insert(setting.key.to_owned(), setting.value.clone());
    toml::to_string(&table).unwrap_or_else(|_| format!("# {} could not be written\n", setting.key))
}
