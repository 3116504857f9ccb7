//! The configuration document (TOML): where GitLab and QALITA are, how a QALITA issue maps to a
//! GitLab issue (templates, labels, status words), where it goes (routing rules), who owns which
//! field, and the sync's bounds. Loaded from the table's `CONFIG` item when present, else from
//! defaults and the environment; validated once at start, with errors that name the key.

pub mod discover;
pub mod qalita_context;
pub mod qalita_paths;
pub mod qalita_shape;
pub mod rate_limits;

pub use qalita_context::QalitaContext;
pub use qalita_paths::QalitaPaths;
pub use qalita_shape::QalitaShape;
pub use rate_limits::RateLimits;

mod template;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::domain::gitlab::GitlabProjectRef;
use crate::domain::hooks::GitlabGroupRef;
use crate::domain::sync::Status;
pub use template::{Template, TemplateError};

/// A configuration that cannot be used. `key` is the dotted path of the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The document is not TOML, or a value has the wrong type.
    #[error("configuration is not valid: {0}")]
    Syntax(String),
    /// A setting is missing or invalid.
    #[error("configuration: {key}: {problem}")]
    Invalid {
        /// The dotted path of the setting (`routing[2].project`).
        key: String,
        /// What is wrong.
        problem: String,
    },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), problem: problem.into() }
}

/// The whole configuration, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// GitLab connection and default project.
    pub gitlab: GitlabSettings,
    /// QALITA connection.
    pub qalita: QalitaSettings,
    /// QALITA issue → GitLab issue.
    pub mapping: Mapping,
    /// Which QALITA statuses open, close or mute.
    pub status: StatusMap,
    /// QALITA login → GitLab username, tried before the username lookup.
    pub assignees: BTreeMap<String, String>,
    /// Ordered rules choosing the GitLab project; the first match wins.
    pub routing: Vec<Route>,
    /// Which side owns each field.
    pub ownership: Ownership,
    /// Comments: which directions are copied, and their prefixes.
    pub comments: CommentSettings,
    /// Bounds and switches of the sync.
    pub sync: SyncSettings,
    /// Which QALITA issues get a GitLab issue without being asked for.
    pub create: CreatePolicy,
    /// How the GitLab issue's link is made visible in QALITA (`[link_back]`).
    pub link_back: LinkBackMode,
}

/// How the GitLab issue's link is made visible in QALITA (`link_back.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkBackMode {
    /// A QALITA comment with the GitLab issue's URL, written once when this service creates (or
    /// adopts) the GitLab issue, and never copied to GitLab.
    Comment,
    /// Nothing is written back.
    None,
}

impl LinkBackMode {
    /// The mode's word in the configuration document.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkBackMode::Comment => "comment",
            LinkBackMode::None => "none",
        }
    }

    /// The mode a word names (`comment` or `none`, case-insensitively).
    pub fn parse(word: &str) -> Option<Self> {
        [LinkBackMode::Comment, LinkBackMode::None].into_iter().find(|m| m.as_str().eq_ignore_ascii_case(word.trim()))
    }
}

/// Whether GitLab issues are created without being asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CreateMode {
    /// A QALITA issue the policy allows gets its GitLab issue from its event or the poll.
    Auto,
    /// Only `create-issue` and `backfill` create; linked issues still sync both ways.
    Manual,
}

impl CreateMode {
    /// The mode's word in the configuration document.
    pub fn as_str(self) -> &'static str {
        match self {
            CreateMode::Auto => "auto",
            CreateMode::Manual => "manual",
        }
    }
}

/// Which QALITA issues get a GitLab issue by themselves (`[create]`); `create-issue` and `backfill`
/// create whatever they are asked to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePolicy {
    /// `auto` or `manual`; a routing rule may say otherwise for its issues (`create`).
    pub mode: CreateMode,
    /// The QALITA statuses whose issues are created (default: the `status.open` words): a resolved
    /// or muted issue never gets a new GitLab issue by itself.
    pub statuses: Vec<String>,
    /// Only issues created after this time are created; `None`: after the moment the service first
    /// ran against its table (recorded there once), so a first deployment creates nothing for the
    /// tenant's history.
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
}

/// How comments cross over (DESIGN section 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentSettings {
    /// QALITA comments become GitLab notes.
    pub to_gitlab: bool,
    /// GitLab notes become QALITA comments.
    pub to_qalita: bool,
    /// Internal GitLab notes are copied too (off: they stay internal).
    pub sync_internal_notes: bool,
    /// What a note copied from QALITA starts with (`**[QALITA]**`); such notes are never copied back.
    pub gitlab_prefix: String,
    /// What a comment copied from GitLab starts with (`[GitLab]`); such comments are never copied back.
    pub qalita_prefix: String,
}

/// Where GitLab is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabSettings {
    /// `https://gitlab.com` or a self-managed base URL.
    pub base_url: String,
    /// The project issues go to when no routing rule matches.
    pub default_project: GitlabProjectRef,
    /// A PEM bundle of extra CAs, for a self-managed GitLab behind a private CA.
    pub ca_bundle: Option<std::path::PathBuf>,
    /// `rotate_before_days`: the scheduled run rotates the GitLab token this many days (1 to 30)
    /// before it expires; `None` (the default): never.
    pub rotate_before_days: Option<u32>,
    /// `webhook_group`: the group (id or full path) whose one group hook serves every project, set
    /// by `hooks install --group`; the scheduled run then checks and heals that hook instead of a
    /// hook per project. `None` (the default): a hook per project.
    pub webhook_group: Option<GitlabGroupRef>,
    /// The budgets GitLab writes are paced within (`[gitlab.rate_limits]`).
    pub rate_limits: RateLimits,
}

/// Where QALITA is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QalitaSettings {
    /// `https://qalita.example.com` (the API is under `/api/v2`).
    pub base_url: String,
    /// The API's paths and verbs (assumed, hence configurable: DESIGN section 6).
    pub paths: QalitaPaths,
    /// The rest of the API's shape: auth header, field pointers, written keys, paging, "not found".
    pub shape: QalitaShape,
    /// What is read about an issue besides the issue (`[qalita.context]`): dataset, severity, domain.
    pub context: QalitaContext,
}

/// The templates of the GitLab issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The title; truncated to GitLab's 255 characters.
    pub title: Template,
    /// The description; the hidden marker is appended after it.
    pub description: Template,
    /// Label templates; a label whose placeholders have no value is left out.
    pub labels: Vec<Template>,
    /// The label that marks a muted issue.
    pub muted_label: String,
}

/// What a QALITA status means, matched case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMap {
    /// Statuses whose GitLab issue is open (reopened if closed).
    pub open: Vec<String>,
    /// Statuses whose GitLab issue is closed.
    pub resolved: Vec<String>,
    /// Statuses whose GitLab issue is open with the muted label.
    pub muted: Vec<String>,
    /// The status a GitLab reopen (or the muted label removed) sets in QALITA.
    pub reopen_to: String,
    /// The status a GitLab close sets in QALITA.
    pub resolve_to: String,
    /// The status the muted label added in GitLab sets in QALITA.
    pub mute_to: String,
}

impl StatusMap {
    /// What `status` means, or `None` for a word the map does not know.
    pub fn meaning(&self, status: &str) -> Option<Status> {
        let status = status.trim();
        let known = |words: &[String]| words.iter().any(|w| w.eq_ignore_ascii_case(status));
        if known(&self.resolved) {
            Some(Status::Resolved)
        } else if known(&self.muted) {
            Some(Status::Muted)
        } else if known(&self.open) {
            Some(Status::Open)
        } else {
            None
        }
    }
}

/// One routing rule: every condition given must match (case-insensitively; `*` at the end of a
/// value matches any suffix).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// A name for logs and `explain`.
    #[serde(default)]
    pub name: Option<String>,
    /// The issue's domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// The source (dataset) name.
    #[serde(default)]
    pub source: Option<String>,
    /// The scope value (column, table, …) or its parent's.
    #[serde(default)]
    pub scope: Option<String>,
    /// The QALITA login of the issue's owner (assignee).
    #[serde(default)]
    pub owner: Option<String>,
    /// The severity (`info`, `warning`, `high`).
    #[serde(default)]
    pub severity: Option<String>,
    /// Where matching issues go.
    pub project: GitlabProjectRef,
    /// Make the GitLab issue confidential.
    #[serde(default)]
    pub confidential: bool,
    /// Whether matching issues get a GitLab issue by themselves (overrides `create.mode`).
    #[serde(default)]
    pub create: Option<CreateMode>,
}

/// Who owns a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// QALITA's value wins; GitLab edits are not synced back.
    Qalita,
    /// GitLab's value wins; QALITA's changes are not synced out.
    Gitlab,
    /// Two-way: the newer provider timestamp wins.
    Both,
}

/// Field ownership and the two-way switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ownership {
    /// The title.
    pub title: Owner,
    /// The description.
    pub description: Owner,
    /// The managed labels.
    pub labels: Owner,
    /// Open / resolved / muted.
    pub status: Owner,
    /// The assignee: QALITA's by default (one-way: QALITA's owner is assigned in GitLab, a GitLab
    /// reassignment stays in GitLab); `both` syncs a GitLab reassignment back.
    pub assignee: Owner,
}

impl Default for Ownership {
    fn default() -> Self {
        Ownership {
            title: Owner::Qalita,
            description: Owner::Qalita,
            labels: Owner::Qalita,
            status: Owner::Both,
            // One-way, as the guide says: QALITA's owner is assigned in GitLab, and a GitLab
            // reassignment stays in GitLab (`"both"` syncs it back).
            assignee: Owner::Qalita,
        }
    }
}

/// Bounds and switches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// Recreate a GitLab issue that was deleted (else the link becomes `gone`).
    pub recreate_if_deleted: bool,
    /// Smallest wait before a failed message is retried.
    pub backoff_min: Duration,
    /// Largest wait before a failed message is retried.
    pub backoff_max: Duration,
    /// A reservation older than this is taken over (its worker died).
    pub reservation_stale_after: Duration,
    /// Page size of the QALITA poll.
    pub poll_page_size: u32,
    /// Older pages swept per poll run.
    pub poll_sweep_pages: u32,
    /// Open linked issues whose comments each poll run sweeps, those swept longest ago first: a
    /// QALITA comment reaches GitLab within ⌈open links / this⌉ runs.
    pub comment_sweep_per_run: u32,
    /// What a QALITA issue that opens again after being resolved gets in GitLab.
    pub on_regression: OnRegression,
    /// With [`OnRegression::NewIssue`]: how many days resolved before a reopen gets a new issue
    /// rather than reopening the old one.
    pub new_issue_after_days: u32,
}

/// What a QALITA issue that goes from resolved back to open gets in GitLab (`sync.on_regression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnRegression {
    /// Its GitLab issue is reopened (the default).
    Reopen,
    /// A new GitLab issue, when it stayed resolved longer than `sync.new_issue_after_days`; the old
    /// one stays closed, and a note on each links them.
    NewIssue,
}

impl OnRegression {
    /// `reopen` or `new_issue`, as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            OnRegression::Reopen => "reopen",
            OnRegression::NewIssue => "new_issue",
        }
    }

    /// Reads the configuration's word.
    pub fn parse(word: &str) -> Option<Self> {
        [OnRegression::Reopen, OnRegression::NewIssue].into_iter().find(|p| p.as_str() == word)
    }
}

/// The document as written; every field optional, defaults applied by [`Config::from_document`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    gitlab: GitlabDoc,
    #[serde(default)]
    qalita: QalitaDoc,
    #[serde(default)]
    mapping: MappingDoc,
    #[serde(default)]
    status: StatusDoc,
    #[serde(default)]
    assignees: BTreeMap<String, String>,
    #[serde(default)]
    routing: Vec<toml::Value>,
    #[serde(default)]
    ownership: Ownership,
    #[serde(default)]
    comments: CommentsDoc,
    #[serde(default)]
    sync: SyncDoc,
    #[serde(default)]
    create: CreateDoc,
    #[serde(default)]
    link_back: LinkBackDoc,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBackDoc {
    mode: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateDoc {
    mode: Option<CreateMode>,
    statuses: Option<Vec<String>>,
    created_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentsDoc {
    to_gitlab: Option<bool>,
    to_qalita: Option<bool>,
    sync_internal_notes: Option<bool>,
    gitlab_prefix: Option<String>,
    qalita_prefix: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GitlabDoc {
    base_url: Option<String>,
    default_project: Option<toml::Value>,
    ca_bundle: Option<std::path::PathBuf>,
    rotate_before_days: Option<i64>,
    webhook_group: Option<toml::Value>,
    #[serde(default)]
    rate_limits: rate_limits::RateLimitsDoc,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QalitaDoc {
    base_url: Option<String>,
    paths: Option<QalitaPaths>,
    auth: Option<toml::Value>,
    fields: Option<toml::Value>,
    write: Option<toml::Value>,
    paging: Option<toml::Value>,
    not_found: Option<toml::Value>,
    context: Option<toml::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingDoc {
    title: Option<String>,
    description: Option<String>,
    labels: Option<Vec<String>>,
    muted_label: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusDoc {
    open: Option<Vec<String>>,
    resolved: Option<Vec<String>>,
    muted: Option<Vec<String>>,
    reopen_to: Option<String>,
    resolve_to: Option<String>,
    mute_to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncDoc {
    recreate_if_deleted: Option<bool>,
    backoff_min_seconds: Option<u64>,
    backoff_max_seconds: Option<u64>,
    reservation_stale_seconds: Option<u64>,
    poll_page_size: Option<u32>,
    poll_sweep_pages: Option<u32>,
    comment_sweep_per_run: Option<u32>,
    on_regression: Option<String>,
    new_issue_after_days: Option<u32>,
}

/// The default title template.
pub const DEFAULT_TITLE: &str = "[QALITA] {dataset}: {rule}";
/// The default description template.
pub const DEFAULT_DESCRIPTION: &str = "**Dataset:** {dataset}\n\n**Rule:** {rule}\n\n**Severity:** {severity}\n\n\
**Owner:** {owner}\n\n### Evidence\n\n{evidence}\n\n[Open the issue in QALITA]({qalita_url})";
/// The default label templates.
pub const DEFAULT_LABELS: &[&str] = &["qalita", "severity:{severity}", "domain:{domain}"];

impl Config {
    /// Reads and validates a document. `env` supplies what the document leaves out
    /// (`GITLAB_BASE_URL`, `GITLAB_DEFAULT_PROJECT`, `QALITA_BASE_URL`).
    pub fn from_document(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let doc: Document = toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string().trim().to_owned()))?;
        let gitlab_url =
            doc.gitlab.base_url.or_else(|| env("GITLAB_BASE_URL")).unwrap_or_else(|| "https://gitlab.com".into());
        let base_url = |key: &str, url: String| -> Result<String, ConfigError> {
            let trimmed = url.trim().trim_end_matches('/').to_owned();
            let authority = trimmed.split("://").nth(1).map(|rest| rest.split('/').next().unwrap_or_default());
            // A token must never sit in the URL: the document is stored, shown and logged.
            if authority.is_some_and(|a| a.contains('@')) {
                return Err(invalid(key, "must not carry credentials (user:password@): tokens go in their secrets"));
            }
            let valid = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
                && !trimmed.contains('?')
                && authority.is_some_and(|a| !a.is_empty());
            match valid {
                true => Ok(trimmed),
                false => {
                    let shown: String = trimmed.chars().take(80).collect();
                    Err(invalid(key, format!("must be an http(s) URL without a query, got {shown:?}")))
                }
            }
        };
        let default_project = match doc.gitlab.default_project {
            Some(value) => project_from(&value, "gitlab.default_project")?,
            None => {
                let raw = env("GITLAB_DEFAULT_PROJECT")
                    .ok_or_else(|| invalid("gitlab.default_project", "is not set (nor GITLAB_DEFAULT_PROJECT)"))?;
                GitlabProjectRef::parse(&raw).map_err(|e| invalid("gitlab.default_project", e.to_string()))?
            }
        };
        let qalita_url = doc
            .qalita
            .base_url
            .or_else(|| env("QALITA_BASE_URL"))
            .ok_or_else(|| invalid("qalita.base_url", "is not set (nor QALITA_BASE_URL)"))?;

        let qalita_paths = doc.qalita.paths.unwrap_or_default();
        qalita_paths.validate().map_err(|e| invalid("qalita.paths", e.to_string()))?;
        let sections = qalita_shape::ShapeSections {
            auth: doc.qalita.auth,
            fields: doc.qalita.fields,
            write: doc.qalita.write,
            paging: doc.qalita.paging,
            not_found: doc.qalita.not_found,
        };
        let qalita_shape = QalitaShape::from_sections(sections, &qalita_paths)
            .map_err(|e| invalid(format!("qalita.{}", e.key), e.problem))?;
        let qalita_context = QalitaContext::from_section(doc.qalita.context).map_err(|e| {
            let key = if e.key.is_empty() { "qalita.context".to_owned() } else { format!("qalita.context.{}", e.key) };
            invalid(key, e.problem)
        })?;

        let template = |key: &str, text: &str| Template::parse(text).map_err(|e| invalid(key, e.to_string()));
        let labels = doc.mapping.labels.unwrap_or_else(|| DEFAULT_LABELS.iter().map(|l| l.to_string()).collect());
        let labels = labels
            .iter()
            .enumerate()
            .map(|(i, l)| match l.contains(',') {
                true => Err(invalid(format!("mapping.labels[{i}]"), "a GitLab label cannot contain a comma")),
                false => template(&format!("mapping.labels[{i}]"), l),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let muted_label = doc.mapping.muted_label.unwrap_or_else(|| "ignored".into());
        if muted_label.trim().is_empty() || muted_label.contains(',') {
            return Err(invalid("mapping.muted_label", "must be a label name without commas"));
        }
        let mapping = Mapping {
            title: template("mapping.title", doc.mapping.title.as_deref().unwrap_or(DEFAULT_TITLE))?,
            description: template(
                "mapping.description",
                doc.mapping.description.as_deref().unwrap_or(DEFAULT_DESCRIPTION),
            )?,
            labels,
            muted_label,
        };

        let words = |given: Option<Vec<String>>, default: &[&str]| {
            given
                .unwrap_or_else(|| default.iter().map(|w| w.to_string()).collect())
                .into_iter()
                .map(|w| w.trim().to_owned())
                .collect::<Vec<_>>()
        };
        let (open, resolved, muted) = (
            words(doc.status.open, &["open", "active"]),
            words(doc.status.resolved, &["resolved", "closed"]),
            words(doc.status.muted, &["muted", "ignored"]),
        );
        // What a GitLab change writes back: the first word of each list unless told otherwise, and
        // it must mean what it is used for, or the sync would flip the status back.
        let target =
            |key: &str, given: Option<String>, list: &[String], meaning: &str| -> Result<String, ConfigError> {
                let word = given.map(|w| w.trim().to_owned()).or_else(|| list.first().cloned()).unwrap_or_default();
                match list.iter().any(|w| w.eq_ignore_ascii_case(&word)) {
                    true => Ok(word),
                    false => Err(invalid(key, format!("{word:?} is not one of the {meaning} statuses {list:?}"))),
                }
            };
        let status = StatusMap {
            reopen_to: target("status.reopen_to", doc.status.reopen_to, &open, "open")?,
            resolve_to: target("status.resolve_to", doc.status.resolve_to, &resolved, "resolved")?,
            mute_to: target("status.mute_to", doc.status.mute_to, &muted, "muted")?,
            open,
            resolved,
            muted,
        };
        let mut seen = BTreeMap::new();
        for (list, name) in [(&status.open, "open"), (&status.resolved, "resolved"), (&status.muted, "muted")] {
            for word in list {
                if word.is_empty() {
                    return Err(invalid(format!("status.{name}"), "contains an empty word"));
                }
                if let Some(other) = seen.insert(word.to_lowercase(), name) {
                    return Err(invalid(
                        format!("status.{name}"),
                        format!("{word:?} is also listed in status.{other}"),
                    ));
                }
            }
        }

        let routing = doc
            .routing
            .into_iter()
            .enumerate()
            .map(|(i, value)| {
                let key = format!("routing[{i}]");
                let route: Route = value.try_into().map_err(|e: toml::de::Error| invalid(&key, e.message().to_owned()))?;
                let conditions = [&route.domain, &route.source, &route.scope, &route.owner, &route.severity];
                if conditions.iter().all(|c| c.is_none()) {
                    return Err(invalid(&key, "has no condition (domain, source, scope, owner or severity): it would catch every issue; set gitlab.default_project instead"));
                }
                Ok(route)
            })
            .collect::<Result<Vec<_>, _>>()?;

        let seconds = |key: &str, value: Option<u64>, default: u64, range: std::ops::RangeInclusive<u64>| match value {
            None => Ok(Duration::from_secs(default)),
            Some(v) if range.contains(&v) => Ok(Duration::from_secs(v)),
            Some(v) => {
                Err(invalid(key, format!("must be between {} and {} seconds, got {v}", range.start(), range.end())))
            }
        };
        let sync = SyncSettings {
            recreate_if_deleted: doc.sync.recreate_if_deleted.unwrap_or(true),
            backoff_min: seconds("sync.backoff_min_seconds", doc.sync.backoff_min_seconds, 5, 1..=3600)?,
            backoff_max: seconds("sync.backoff_max_seconds", doc.sync.backoff_max_seconds, 900, 1..=43_200)?,
            reservation_stale_after: seconds(
                "sync.reservation_stale_seconds",
                doc.sync.reservation_stale_seconds,
                120,
                // Longer than a worker can live (the function's time-out), so that a live holder is
                // never taken over.
                90..=86_400,
            )?,
            poll_page_size: doc.sync.poll_page_size.unwrap_or(100),
            poll_sweep_pages: doc.sync.poll_sweep_pages.unwrap_or(20),
            comment_sweep_per_run: doc.sync.comment_sweep_per_run.unwrap_or(50),
            on_regression: match doc.sync.on_regression.as_deref() {
                None => OnRegression::Reopen,
                Some(word) => OnRegression::parse(word).ok_or_else(|| {
                    invalid("sync.on_regression", format!("must be \"reopen\" or \"new_issue\", got {word:?}"))
                })?,
            },
            new_issue_after_days: doc.sync.new_issue_after_days.unwrap_or(30),
        };
        if !(1..=3650).contains(&sync.new_issue_after_days) {
            return Err(invalid(
                "sync.new_issue_after_days",
                format!("must be between 1 and 3650, got {}", sync.new_issue_after_days),
            ));
        }
        if sync.backoff_min > sync.backoff_max {
            return Err(invalid("sync.backoff_min_seconds", "must not exceed sync.backoff_max_seconds"));
        }
        if !(1..=1000).contains(&sync.poll_page_size) {
            return Err(invalid(
                "sync.poll_page_size",
                format!("must be between 1 and 1000, got {}", sync.poll_page_size),
            ));
        }
        if !(1..=100).contains(&sync.poll_sweep_pages) {
            return Err(invalid(
                "sync.poll_sweep_pages",
                format!("must be between 1 and 100, got {}", sync.poll_sweep_pages),
            ));
        }
        // Each sweep is a queued message, a QALITA read and a link write: a run must finish them
        // well within the function's time-out.
        if !(1..=1000).contains(&sync.comment_sweep_per_run) {
            return Err(invalid(
                "sync.comment_sweep_per_run",
                format!("must be between 1 and 1000, got {}", sync.comment_sweep_per_run),
            ));
        }

        let prefix = |key: &str, given: Option<String>, default: &str| -> Result<String, ConfigError> {
            let prefix = given.unwrap_or_else(|| default.to_owned());
            match prefix.trim().is_empty() {
                true => Err(invalid(key, "must not be empty: it is how copies are told from originals (no loop)")),
                false => Ok(prefix.trim().to_owned()),
            }
        };
        let comments = CommentSettings {
            to_gitlab: doc.comments.to_gitlab.unwrap_or(true),
            to_qalita: doc.comments.to_qalita.unwrap_or(true),
            sync_internal_notes: doc.comments.sync_internal_notes.unwrap_or(false),
            gitlab_prefix: prefix("comments.gitlab_prefix", doc.comments.gitlab_prefix, "**[QALITA]**")?,
            qalita_prefix: prefix("comments.qalita_prefix", doc.comments.qalita_prefix, "[GitLab]")?,
        };

        let create = CreatePolicy {
            mode: doc.create.mode.unwrap_or(CreateMode::Auto),
            statuses: match doc.create.statuses {
                None => status.open.clone(),
                Some(words) => {
                    let known: Vec<&String> = status.open.iter().chain(&status.resolved).chain(&status.muted).collect();
                    let mut kept = Vec::new();
                    for word in words.iter().map(|w| w.trim()) {
                        match known.iter().find(|k| k.eq_ignore_ascii_case(word)) {
                            Some(k) => kept.push((*k).clone()),
                            None => {
                                return Err(invalid(
                                    "create.statuses",
                                    format!("{word:?} is not one of the configured statuses {known:?}"),
                                ));
                            }
                        }
                    }
                    kept
                }
            },
            created_after: match doc.create.created_after {
                None => None,
                Some(text) => Some(
                    chrono::DateTime::parse_from_rfc3339(text.trim())
                        .map_err(|e| {
                            invalid(
                                "create.created_after",
                                format!("must be an RFC 3339 time such as 2026-12-01T00:00:00Z ({e})"),
                            )
                        })?
                        .with_timezone(&chrono::Utc),
                ),
            },
        };

        let link_back = match doc.link_back.mode {
            None => LinkBackMode::Comment,
            Some(word) => LinkBackMode::parse(&word).ok_or_else(|| {
                let shown: String = word.chars().take(40).collect();
                invalid("link_back.mode", format!("must be \"comment\" or \"none\", got {shown:?}"))
            })?,
        };

        Ok(Config {
            create,
            link_back,
            gitlab: GitlabSettings {
                base_url: base_url("gitlab.base_url", gitlab_url)?,
                default_project,
                ca_bundle: doc.gitlab.ca_bundle,
                rotate_before_days: match doc.gitlab.rotate_before_days {
                    None => None,
                    Some(days @ 1..=30) => u32::try_from(days).ok(),
                    Some(other) => {
                        return Err(invalid(
                            "gitlab.rotate_before_days",
                            format!("must be 1 to 30 (days before the token expires), got {other}"),
                        ));
                    }
                },
                webhook_group: match doc.gitlab.webhook_group {
                    None => None,
                    Some(value) => Some(group_from(&value)?),
                },
                rate_limits: RateLimits::from_doc(doc.gitlab.rate_limits)
                    .map_err(|(key, problem)| invalid(format!("gitlab.rate_limits.{key}"), problem))?,
            },
            qalita: QalitaSettings {
                base_url: base_url("qalita.base_url", qalita_url)?,
                paths: qalita_paths,
                shape: qalita_shape,
                context: qalita_context,
            },
            mapping,
            status,
            assignees: doc.assignees,
            routing,
            ownership: doc.ownership,
            comments,
            sync,
        })
    }

    /// Every GitLab project the sync writes to: the default one, then each routing rule's, once
    /// each, in that order (the reconcile and `links rebuild` walk them).
    pub fn projects(&self) -> Vec<GitlabProjectRef> {
        let mut projects: Vec<GitlabProjectRef> = Vec::new();
        for project in std::iter::once(&self.gitlab.default_project).chain(self.routing.iter().map(|r| &r.project)) {
            if !projects.contains(project) {
                projects.push(project.clone());
            }
        }
        projects
    }
}

fn project_from(value: &toml::Value, key: &str) -> Result<GitlabProjectRef, ConfigError> {
    let text = match value {
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::String(s) => s.clone(),
        other => return Err(invalid(key, format!("must be a project id or path, got {other}"))),
    };
    GitlabProjectRef::parse(&text).map_err(|e| invalid(key, e.to_string()))
}

/// `gitlab.webhook_group`: a positive group id, or a full path.
fn group_from(value: &toml::Value) -> Result<GitlabGroupRef, ConfigError> {
    const KEY: &str = "gitlab.webhook_group";
    let text = match value {
        toml::Value::Integer(i) if *i > 0 => i.to_string(),
        toml::Value::String(s) => s.clone(),
        other => return Err(invalid(KEY, format!("must be a group id or full path, got {other}"))),
    };
    GitlabGroupRef::parse(&text).map_err(|e| invalid(KEY, e.to_string()))
}

#[cfg(test)]
mod tests;
