//! Secrets for a local run (adapters of [`SecretSource`]): from environment variables, or from a
//! TOML file that only its owner may read. Neither ever puts a value in an error.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::ports::{SecretError, SecretSource, SecretStage};
use serde::Deserialize;

/// The suffix of the variable holding a secret's value before its last rotation.
pub const PREVIOUS_SUFFIX: &str = "_PREVIOUS";

type Lookup = dyn Fn(&str) -> Option<OsString> + Send + Sync;

/// Secrets from environment variables. The secret `qalita-gitlab/webhook-secret` is the variable
/// `QALITA_GITLAB_WEBHOOK_SECRET` (see [`EnvSecrets::variable`]); its value before a rotation,
/// still accepted while senders catch up, is `QALITA_GITLAB_WEBHOOK_SECRET_PREVIOUS`. A variable
/// set to the empty string counts as unset; one holding only whitespace is refused (no sender can
/// present such a secret, and a check against it would accept an empty one).
pub struct EnvSecrets {
    lookup: Box<Lookup>,
}

impl std::fmt::Debug for EnvSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvSecrets").finish_non_exhaustive()
    }
}

impl Default for EnvSecrets {
    fn default() -> Self {
        Self::new()
    }
}

impl EnvSecrets {
    /// Reads the process environment at each read (so a restart is not needed after a change).
    pub fn new() -> Self {
        Self::with_lookup(|name| std::env::var_os(name))
    }

    /// Reads variables through `lookup` instead of the process environment (tests, or a caller
    /// that loaded them from elsewhere).
    pub fn with_lookup(lookup: impl Fn(&str) -> Option<OsString> + Send + Sync + 'static) -> Self {
        EnvSecrets { lookup: Box::new(lookup) }
    }

    /// The variable of the secret `id`: upper case, with every character other than an ASCII
    /// letter or digit turned into `_`.
    pub fn variable(id: &str) -> String {
        id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
    }

    fn value(&self, id: &str, variable: &str) -> Result<Found, SecretError> {
        let value = match (self.lookup)(variable) {
            None => return Ok(Found::Unset),
            Some(value) if value.is_empty() => return Ok(Found::Unset),
            Some(value) => value.into_string().map_err(|_| SecretError::Unreadable {
                id: id.to_owned(),
                class: "NotUnicode".into(),
                message: format!("the environment variable {variable} is not valid UTF-8"),
            })?,
        };
        Ok(match value.trim().is_empty() {
            true => Found::Blank,
            false => Found::Value(SecretString::new(value)),
        })
    }
}

/// The class of the error for a variable that is not set.
const NOT_SET: &str = "NotSet";
/// The class of the error for a secret the secrets file does not name.
const NOT_IN_FILE: &str = "NotFound";

/// Whether `error` says only that the secret was not given (no variable, no entry in the file),
/// for a secret that turns an optional feature on.
pub fn is_unset(error: &SecretError) -> bool {
    matches!(error, SecretError::Unreadable { class, .. } if class == NOT_SET || class == NOT_IN_FILE)
}

/// What a variable holds.
enum Found {
    Unset,
    /// Only whitespace.
    Blank,
    Value(SecretString),
}

#[async_trait]
impl SecretSource for EnvSecrets {
    async fn read(&self, id: &str, stage: SecretStage) -> Result<Option<SecretString>, SecretError> {
        let variable = Self::variable(id);
        match stage {
            SecretStage::Current => match self.value(id, &variable)? {
                Found::Value(value) => Ok(Some(value)),
                Found::Blank => Err(blank(
                    id,
                    format!("the environment variable {variable} holds only whitespace: set it to the secret"),
                )),
                Found::Unset => Err(SecretError::Unreadable {
                    id: id.to_owned(),
                    class: NOT_SET.into(),
                    message: format!("set the environment variable {variable}"),
                }),
            },
            // A blank previous value is no value: the current one still authenticates.
            SecretStage::Previous => match self.value(id, &format!("{variable}{PREVIOUS_SUFFIX}"))? {
                Found::Value(value) => Ok(Some(value)),
                Found::Blank | Found::Unset => Ok(None),
            },
        }
    }
}

/// The error of a secret whose value is empty or only whitespace: no sender can present it.
fn blank(id: &str, message: String) -> SecretError {
    SecretError::Unreadable { id: id.to_owned(), class: "Empty".into(), message }
}

/// Why a secrets file cannot be used. Never carries a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// Others than its owner may read or change the file.
    #[error(
        "the secrets file {path} is open to other users (mode {mode:04o}); it must be 0600 or stricter: run `chmod \
         600 {path}`",
        path = .path.display()
    )]
    InsecurePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not exist or cannot be read.
    #[error("cannot read the secrets file {path}", path = .path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The path names something other than a file.
    #[error("the secrets file {path} is not a regular file", path = .path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is not a table of secrets. Only the line is given: the text may hold a secret.
    #[error(
        "the secrets file {path} is not valid near line {line}: each line must be `\"<secret id>\" = \"<value>\"` or \
         `\"<secret id>\" = {{ current = \"<value>\", previous = \"<value>\" }}`",
        path = .path.display()
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line (from 1) where reading it failed.
        line: usize,
    },
}

impl SecretFileError {
    /// A short class, for [`SecretError::Unreadable`].
    pub fn class(&self) -> &'static str {
        match self {
            SecretFileError::InsecurePermissions { .. } => "InsecurePermissions",
            SecretFileError::Unreadable { .. } => "FileUnreadable",
            SecretFileError::NotAFile { .. } => "NotAFile",
            SecretFileError::Invalid { .. } => "InvalidFile",
        }
    }
}

/// One secret in the file: its value, or its current and previous values.
#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    Value(String),
    Rotated {
        current: String,
        #[serde(default)]
        previous: Option<String>,
    },
}

/// Secrets from a TOML file readable by its owner only (mode 0600 or stricter), one entry per
/// secret id:
///
/// ```toml
/// "qalita-gitlab/gitlab-token" = "glpat-…"
/// "qalita-gitlab/webhook-secret" = { current = "…", previous = "…" }
/// ```
///
/// The file is read again (and its permissions checked again) at each read, so that a rotation
/// needs no restart.
#[derive(Debug, Clone)]
pub struct FileSecrets {
    path: PathBuf,
}

impl FileSecrets {
    /// The secrets in `path`, checked now (permissions and syntax) so that a bad file stops the
    /// start with a clear message rather than the first event.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, SecretFileError> {
        let secrets = FileSecrets { path: path.into() };
        secrets.load().await?;
        Ok(secrets)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn load(&self) -> Result<BTreeMap<String, Entry>, SecretFileError> {
        let path = self.path.clone();
        let loaded = tokio::task::spawn_blocking(move || load(&path)).await;
        loaded.unwrap_or_else(|join| {
            Err(SecretFileError::Unreadable { path: self.path.clone(), source: std::io::Error::other(join) })
        })
    }
}

fn load(path: &Path) -> Result<BTreeMap<String, Entry>, SecretFileError> {
    let unreadable = |source| SecretFileError::Unreadable { path: path.to_owned(), source };
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(SecretFileError::NotAFile { path: path.to_owned() });
    }
    check_permissions(path, &metadata)?;
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    toml::from_str(&text).map_err(|error| {
        let at = error.span().map_or(0, |span| span.start);
        let line = text.get(..at).map_or(0, |before| before.matches('\n').count()) + 1;
        SecretFileError::Invalid { path: path.to_owned(), line }
    })
}

#[cfg(unix)]
fn check_permissions(path: &Path, metadata: &std::fs::Metadata) -> Result<(), SecretFileError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretFileError::InsecurePermissions { path: path.to_owned(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_: &Path, _: &std::fs::Metadata) -> Result<(), SecretFileError> {
    Ok(())
}

#[async_trait]
impl SecretSource for FileSecrets {
    async fn read(&self, id: &str, stage: SecretStage) -> Result<Option<SecretString>, SecretError> {
        let mut secrets = self.load().await.map_err(|error| SecretError::Unreadable {
            id: id.to_owned(),
            class: error.class().into(),
            message: error.to_string(),
        })?;
        let Some(entry) = secrets.remove(id) else {
            return Err(SecretError::Unreadable {
                id: id.to_owned(),
                class: NOT_IN_FILE.into(),
                message: format!("the secrets file {} has no entry {id:?}", self.path.display()),
            });
        };
        let (current, previous) = match entry {
            Entry::Value(current) => (current, None),
            Entry::Rotated { current, previous } => (current, previous),
        };
        if current.trim().is_empty() {
            let message =
                format!("the entry {id:?} of the secrets file {} is empty or only whitespace", self.path.display());
            return Err(blank(id, message));
        }
        Ok(match stage {
            SecretStage::Current => Some(SecretString::new(current)),
            SecretStage::Previous => previous.filter(|value| !value.trim().is_empty()).map(SecretString::new),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> EnvSecrets {
        EnvSecrets::with_lookup(|name| pairs.iter().find(|(key, _)| *key == name).map(|(_, value)| value.into()))
    }

    #[tokio::test]
    async fn a_variable_of_only_whitespace_is_refused_naming_it_and_a_blank_previous_value_is_no_value() {
        let secrets = env(&[("QALITA_GITLAB_WEBHOOK_SECRET", " \n"), ("QALITA_GITLAB_WEBHOOK_SECRET_PREVIOUS", "  ")]);
        let error = secrets.read("qalita-gitlab/webhook-secret", SecretStage::Current).await.expect_err("refused");
        assert!(error.to_string().contains("QALITA_GITLAB_WEBHOOK_SECRET holds only whitespace"), "{error}");
        let previous = secrets.read("qalita-gitlab/webhook-secret", SecretStage::Previous).await;
        assert!(matches!(previous, Ok(None)), "{previous:?}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_entry_of_only_whitespace_is_refused_naming_the_entry_and_the_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("secrets.toml");
        std::fs::write(&path, "\"qalita-gitlab/webhook-secret\" = \"   \"\n").expect("the file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
        let secrets = FileSecrets::open(&path).await.expect("a valid file");
        let error = secrets.read("qalita-gitlab/webhook-secret", SecretStage::Current).await.expect_err("refused");
        let text = error.to_string();
        assert!(text.contains("\"qalita-gitlab/webhook-secret\"") && text.contains("only whitespace"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
    }
}
