//! The context lookups (`[qalita.context]`): what the sync reads from QALITA's API about an issue
//! when no change event said it — the dataset's name, the severity, the domain — so that the poll,
//! an id-only event, `create-issue`, `explain` and `backfill` map an issue as fully as an event
//! with context would.
//!
//! Cost: each answer is kept in the table (`context:<path>`, with its expiry) and in memory for
//! `cache_ttl_seconds`, and one process reads one path at a time, so a poll over N issues makes at
//! most one read per distinct looked-up object per TTL. A "not found" is cached the same way. A
//! failed read is remembered in memory for a minute (not in the table), so a QALITA that is down is
//! not asked again for every issue. A lookup that finds nothing never blocks a sync: the value stays
//! unknown (or what the link knew), and a `context-unknown` decision says why.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::outbound::Engine;
use crate::config::qalita_context::{ContextField, Lookup};
use crate::domain::link::LogLevel;
use crate::domain::qalita::{IssueContext, QalitaIssue};
use crate::domain::sync::{Decision, DecisionKind};

/// How long a failed read is not tried again, in memory only.
const FAILURE_MEMO_SECONDS: i64 = 60;
/// Past this many remembered paths, the expired ones are forgotten.
const MEMO_PRUNE_AT: usize = 10_000;
/// The settings key of a cached answer.
pub const CURSOR_PREFIX: &str = "context:";

/// What one process remembers of the lookups' answers, and the gates that make concurrent syncs
/// wait for one read of a path instead of each making it.
#[derive(Default)]
pub(crate) struct ContextCache {
    memo: Mutex<HashMap<String, Memo>>,
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

#[derive(Debug, Clone)]
struct Memo {
    until: DateTime<Utc>,
    answer: Answer,
}

/// What a path answered, reduced to the values the lookups on it need (keyed by their pointers).
#[derive(Debug, Clone)]
enum Answer {
    Found(BTreeMap<String, Option<String>>),
    NotFound,
    Failed(String),
}

impl Answer {
    /// Whether this answer serves lookups needing `keys`.
    fn serves(&self, keys: &[String]) -> bool {
        match self {
            Answer::Found(values) => keys.iter().all(|k| values.contains_key(k)),
            Answer::NotFound | Answer::Failed(_) => true,
        }
    }
}

/// A cached answer as the table keeps it.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    expires_at: DateTime<Utc>,
    found: bool,
    #[serde(default)]
    values: BTreeMap<String, Option<String>>,
}

/// The context an issue is mapped with: what the caller knew, completed by the lookups, and why a
/// looked-up value stayed unknown.
#[derive(Debug, Clone, Default)]
pub struct Looked {
    /// The context to map with.
    pub context: IssueContext,
    /// One `context-unknown` decision per lookup that found nothing.
    pub decisions: Vec<Decision>,
}

fn key_of(lookup: &Lookup) -> String {
    lookup.pointer.pointers().iter().map(|p| p.as_str()).collect::<Vec<_>>().join(" | ")
}

fn value(context: &IssueContext, field: ContextField) -> &Option<String> {
    match field {
        ContextField::Dataset => &context.source_name,
        ContextField::Severity => &context.severity,
        ContextField::Domain => &context.domain,
    }
}

fn slot(context: &mut IssueContext, field: ContextField) -> &mut Option<String> {
    match field {
        ContextField::Dataset => &mut context.source_name,
        ContextField::Severity => &mut context.severity,
        ContextField::Domain => &mut context.domain,
    }
}

impl Engine {
    /// `given` (what an event said), with each field it leaves unknown looked up as
    /// `[qalita.context]` says. `keep`: whether fresh answers are written to the table's cache
    /// (not by a preview, which writes nothing).
    pub async fn look_up_context(&self, issue: &QalitaIssue, given: &IssueContext, keep: bool) -> Looked {
        let mut looked = Looked { context: given.clone(), decisions: Vec::new() };
        let wanted: Vec<&Lookup> =
            self.config.qalita.context.lookups.iter().filter(|lookup| value(given, lookup.field).is_none()).collect();
        if wanted.is_empty() {
            return looked;
        }
        let issue_json = serde_json::to_value(issue).unwrap_or(Value::Null);
        // The lookups by the path they read, so that two fields read from one object cost one read.
        let mut by_path: BTreeMap<String, Vec<&Lookup>> = BTreeMap::new();
        for lookup in wanted {
            match lookup.path.render(&issue_json) {
                Ok(path) => by_path.entry(path).or_default().push(lookup),
                Err(why) => looked.decisions.push(unknown(lookup.field, &why)),
            }
        }
        for (path, lookups) in by_path {
            let answer = self.answer_of(&path, &lookups, keep).await;
            for lookup in lookups {
                match &answer {
                    Answer::Found(values) => match values.get(&key_of(lookup)).cloned().flatten() {
                        Some(value) => *slot(&mut looked.context, lookup.field) = Some(value),
                        None => looked.decisions.push(unknown(
                            lookup.field,
                            &format!("the answer to GET {path} has no text at `{}`", lookup.pointer),
                        )),
                    },
                    Answer::NotFound => {
                        looked.decisions.push(unknown(lookup.field, &format!("QALITA says GET {path} does not exist")))
                    }
                    Answer::Failed(why) => looked.decisions.push(unknown(lookup.field, why)),
                }
            }
        }
        looked
    }

    /// The answer of `path` for `lookups`: remembered, cached in the table, or read now.
    async fn answer_of(&self, path: &str, lookups: &[&Lookup], keep: bool) -> Answer {
        let keys: Vec<String> = lookups.iter().map(|l| key_of(l)).collect();
        if let Some(answer) = self.remembered(path, &keys) {
            return answer;
        }
        let gate = {
            let mut gates = self.context_cache.gates.lock().unwrap_or_else(PoisonError::into_inner);
            gates.entry(path.to_owned()).or_default().clone()
        };
        let _held = gate.lock().await;
        // Another sync may have read it while this one waited.
        if let Some(answer) = self.remembered(path, &keys) {
            return answer;
        }
        let now = self.clock.now();
        let cursor = format!("{CURSOR_PREFIX}{path}");
        match self.store.cursor(&cursor).await {
            Ok(Some(text)) => match serde_json::from_str::<Stored>(&text) {
                Ok(stored) if stored.expires_at > now => {
                    let answer = if stored.found { Answer::Found(stored.values) } else { Answer::NotFound };
                    if answer.serves(&keys) {
                        self.remember(path, stored.expires_at, answer.clone());
                        return answer;
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%path, %error, "a cached context lookup does not read; reading again"),
            },
            Ok(None) => {}
            Err(error) => tracing::warn!(%path, %error, "the context cache is unreadable; reading QALITA"),
        }
        let ttl =
            chrono::Duration::from_std(self.config.qalita.context.cache_ttl).unwrap_or(chrono::Duration::hours(1));
        let (answer, until) = match self.qalita.get_object(path).await {
            Ok(Some(value)) => {
                let values = lookups.iter().map(|l| (key_of(l), l.value_in(&value))).collect();
                (Answer::Found(values), now + ttl)
            }
            Ok(None) => (Answer::NotFound, now + ttl),
            Err(error) => {
                tracing::warn!(%path, %error, "a context lookup failed; the value stays unknown");
                let why = format!("GET {path} failed: {error}");
                (Answer::Failed(why), now + chrono::Duration::seconds(FAILURE_MEMO_SECONDS))
            }
        };
        self.remember(path, until, answer.clone());
        if keep {
            let stored = match &answer {
                Answer::Found(values) => Some(Stored { expires_at: until, found: true, values: values.clone() }),
                Answer::NotFound => Some(Stored { expires_at: until, found: false, values: BTreeMap::new() }),
                Answer::Failed(_) => None,
            };
            if let Some(stored) = stored {
                let text = serde_json::to_string(&stored).unwrap_or_default();
                if let Err(error) = self.store.set_cursor(&cursor, &text).await {
                    tracing::warn!(%path, %error, "a context lookup could not be cached in the table");
                }
            }
        }
        answer
    }

    fn remembered(&self, path: &str, keys: &[String]) -> Option<Answer> {
        let memo = self.context_cache.memo.lock().unwrap_or_else(PoisonError::into_inner);
        let found = memo.get(path)?;
        (found.until > self.clock.now() && found.answer.serves(keys)).then(|| found.answer.clone())
    }

    fn remember(&self, path: &str, until: DateTime<Utc>, answer: Answer) {
        let mut memo = self.context_cache.memo.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.len() >= MEMO_PRUNE_AT {
            let now = self.clock.now();
            memo.retain(|_, m| m.until > now);
        }
        memo.insert(path.to_owned(), Memo { until, answer });
    }
}

fn unknown(field: ContextField, why: &str) -> Decision {
    Decision::new(
        LogLevel::Info,
        DecisionKind::ContextUnknown,
        format!(
            "{field} not read from QALITA ({why}): what the link knew is kept, else the labels and routing rules that need it are skipped"
        ),
    )
}
