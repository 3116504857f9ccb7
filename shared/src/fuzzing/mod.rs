//! The four parser checks that the fuzz targets (`fuzz/`) and the smoke run (the normal tests)
//! share: each feeds one input to the real parser and asserts that its answer is one of the
//! documented ones, and that the answer keeps the promises its readers rely on. A violated promise
//! panics, which is what a fuzzer reports. Built for tests and with the `fuzzing` feature only.

use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::value::RawValue;

use crate::config::{Config, ConfigError};
use crate::envelope::{ENVELOPE_VERSION, Envelope, Source};
use crate::events::facts::{GitlabIssueFacts, GitlabNoteFacts};
use crate::events::gitlab::{read_issue_event, read_note_event};
use crate::events::qalita::{QalitaEvent, QalitaEventError};
use crate::ports::{MAX_MESSAGE_BYTES, is_fifo_id};
use crate::webhook::qalita::{self, QalitaHeaders, QalitaIngested, QalitaRoute};
use crate::webhook::{DeliveryHeaders, EventKind, IgnoreReason, IngestError, Ingested, ingest};

pub use crate::adapters::qalita_http::fuzzing::Found;
use crate::adapters::qalita_http::fuzzing::check_answers;
use crate::config::{QalitaPaths, QalitaShape};

/// The configuration document of QALITA's second dialect, as `discover` writes it: the API key,
/// page/size paging in `{data, total}`, `assignee_id`, comments as notes with `text`, 404.
pub const SECOND_DIALECT: &str = r#"
[gitlab]
default_project = 1
[qalita]
base_url = "https://qalita.example.com"
[qalita.auth]
header = "X-API-Key"
scheme = ""
[qalita.fields]
assignee = "/assignee_id"
[qalita.fields.comment]
content = ["/text", "/content"]
[qalita.write]
comment_text = "text"
[qalita.paging]
style = "page"
items = "/data"
comment_items = "/data"
total = "/total"
[qalita.not_found]
statuses = [404]
"#;

/// The second dialect's configuration, read once.
static SECOND: LazyLock<Config> = LazyLock::new(|| match Config::from_document(SECOND_DIALECT, |_| None) {
    Ok(config) => config,
    Err(error) => panic!("the second dialect's document must read: {error}"),
});

/// The `received_at` of every check: a fixed instant, so that two runs of one input compare equal.
fn received_at() -> DateTime<Utc> {
    Utc.timestamp_opt(1_796_000_000, 0).single().unwrap_or_default()
}

/// The header names that carry a credential: the answer must not depend on them.
const CREDENTIAL_HEADERS: [&str; 4] = ["x-gitlab-token", "authorization", "x-qalita-token", "x-qalita-signature"];

/// Builds a request's header map from raw pairs; a pair that is not valid HTTP is left out, as
/// the HTTP layer refuses it before the function runs.
pub fn header_map<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            map.append(name, value);
        }
    }
    map
}

/// A header's name and value, as bytes.
pub type HeaderPair<'a> = (&'a [u8], &'a [u8]);

/// Which instance's shape QALITA's answers are read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The built-in shape and paths.
    BuiltIn,
    /// The second dialect's, as `discover` writes them ([`SECOND_DIALECT`]).
    Second,
}

/// QALITA's answer decoders: one answer (`status`, `content_type`, `body`) read in every way the
/// client reads one, under `dialect`'s shape; what each reading found.
pub fn qalita_decode(dialect: Dialect, status: u16, content_type: Option<&str>, body: &[u8]) -> Found {
    match dialect {
        Dialect::BuiltIn => check_answers(&QalitaShape::default(), &QalitaPaths::default(), status, content_type, body),
        Dialect::Second => {
            let qalita = &SECOND.qalita;
            check_answers(&qalita.shape, &qalita.paths, status, content_type, body)
        }
    }
}

/// Reads a fuzz input as a request: header lines (`name: value`) up to the first empty line, then
/// the body. Without an empty line, the whole input is the body. Text, so that the corpus is
/// seeded from the fixtures and read by people.
pub fn request(data: &[u8]) -> (Vec<HeaderPair<'_>>, &[u8]) {
    let Some(end) = data.windows(2).position(|w| w == b"\n\n") else { return (Vec::new(), data) };
    let headers = data[..end]
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            Some((line[..colon].trim_ascii(), line[colon + 1..].trim_ascii()))
        })
        .collect();
    (headers, &data[end + 2..])
}

/// The GitLab webhook ingest and QALITA's change-event ingest, on one request. Checks: the answer
/// does not depend on any credential header (so it cannot carry one); a queued message is a valid
/// FIFO message whose envelope the worker reads back into the same event; an error says something.
pub fn webhook_ingest(headers: &HeaderMap, body: &[u8]) -> Result<Ingested, IngestError> {
    let mut without_credentials = headers.clone();
    for name in CREDENTIAL_HEADERS {
        without_credentials.remove(name);
    }
    let gitlab = gitlab_ingest(headers, body);
    assert_eq!(gitlab, gitlab_ingest(&without_credentials, body), "the GitLab ingest depends on the token");
    let qalita = qalita_ingest(headers, body);
    assert_eq!(qalita, qalita_ingest(&without_credentials, body), "the QALITA ingest depends on a credential");
    gitlab
}

fn gitlab_ingest(map: &HeaderMap, body: &[u8]) -> Result<Ingested, IngestError> {
    let headers = DeliveryHeaders::from_map(map);
    let answer = ingest(&headers, body, received_at());
    match &answer {
        Ok(Ingested::Queue { kind, message, summary }) => {
            assert!(message.body.len() <= MAX_MESSAGE_BYTES, "a queued message over SQS's limit");
            assert!(is_fifo_id(&message.dedup_id) && is_fifo_id(&message.group_id), "{message:?}");
            let (Some(project), Some(iid)) = (summary.project, summary.iid) else {
                panic!("a queued delivery without its project and iid: {summary:?}")
            };
            // The issue's own group, or its QALITA issue's when the description carries the marker.
            let own = format!("gitlab:{project}:{iid}");
            assert!(
                message.group_id == own
                    || message
                        .group_id
                        .strip_prefix("qalita:")
                        .is_some_and(|id| id.parse::<u64>().is_ok_and(|id| id > 0)),
                "group {} for GitLab issue {project}/{iid}",
                message.group_id
            );
            worker_reads_gitlab(*kind, &message.body, &message.dedup_id);
        }
        Ok(Ingested::Ignore { reason: IgnoreReason::TooLarge { bytes, limit, .. }, .. }) => {
            assert!(bytes > limit, "too large at {bytes} of {limit} bytes")
        }
        Ok(Ingested::Ignore { .. }) => {}
        Err(error) => assert!(!error.to_string().is_empty()),
    }
    answer
}

/// What the worker does with a message the webhook queued: it must read it whole.
fn worker_reads_gitlab(kind: EventKind, body: &str, key: &str) {
    let envelope = match Envelope::<&RawValue>::parse(body) {
        Ok(envelope) => envelope,
        Err(error) => panic!("the worker cannot read a queued message: {error}"),
    };
    assert_eq!((envelope.source, envelope.kind.as_ref(), envelope.key.as_ref()), (Source::Gitlab, kind.name(), key));
    assert_eq!(EventKind::from_name(&envelope.kind), Some(kind));
    match kind {
        EventKind::Issue | EventKind::ConfidentialIssue => match read_issue_event(envelope.payload) {
            Ok(event) => {
                if let Err(error) = GitlabIssueFacts::of_issue(&event) {
                    panic!("a queued issue event the worker drops: {error}")
                }
            }
            Err(error) => panic!("a queued issue event that does not read: {error}"),
        },
        EventKind::Note | EventKind::ConfidentialNote => match read_note_event(envelope.payload) {
            Ok(event) => match GitlabNoteFacts::of_note(&event) {
                Ok(Some(_)) => {}
                other => panic!("a queued note the worker does not take: {other:?}"),
            },
            Err(error) => panic!("a queued note event that does not read: {error}"),
        },
    }
}

/// QALITA's answer in a comparable form (its types hold no `PartialEq`).
#[derive(Debug, PartialEq, Eq)]
enum QalitaAnswer {
    Queue(crate::ports::OutgoingMessage, Option<u64>),
    Ignore,
    Error(String),
}

fn qalita_ingest(map: &HeaderMap, body: &[u8]) -> QalitaAnswer {
    let route = QalitaRoute::default();
    let headers = QalitaHeaders::from_map(&route, map);
    match qalita::ingest(&route, &headers, body, received_at()) {
        Ok(QalitaIngested::Queue { message, summary }) => {
            let Some(issue) = summary.issue else { panic!("a queued QALITA event without its issue") };
            assert_eq!(message.group_id, format!("qalita:{issue}"));
            assert!(message.body.len() <= MAX_MESSAGE_BYTES && !message.dedup_id.is_empty());
            let envelope = match Envelope::<&RawValue>::parse(&message.body) {
                Ok(envelope) => envelope,
                Err(error) => panic!("the worker cannot read a queued QALITA message: {error}"),
            };
            match QalitaEvent::parse(&envelope, &Default::default()) {
                Ok(Some(event @ QalitaEvent::IssueNamed { sweep: true, .. })) => {
                    assert_eq!(event.issue().get(), issue)
                }
                other => panic!("the worker reads a queued QALITA message as {other:?}"),
            }
            QalitaAnswer::Queue(message, summary.issue)
        }
        Ok(QalitaIngested::Ignore { .. }) => QalitaAnswer::Ignore,
        Err(error) => {
            let shown = error.to_string();
            assert!(!shown.is_empty());
            QalitaAnswer::Error(shown)
        }
    }
}

/// The configuration document. Checks: a document that reads has both base URLs as `http(s)` URLs
/// without credentials, and reads the same twice; an error names the configuration.
pub fn config_document(text: &str) -> Result<Config, ConfigError> {
    let answer = Config::from_document(text, |_| None);
    match &answer {
        Ok(config) => {
            for url in [&config.gitlab.base_url, &config.qalita.base_url] {
                let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
                let Some(rest) = rest else { panic!("a base URL that is not http(s): {url:?}") };
                let authority = rest.split('/').next().unwrap_or_default();
                assert!(!authority.contains('@'), "a base URL with credentials: {url:?}");
            }
            assert!(!config.projects().is_empty(), "no project to write to");
            let again = Config::from_document(text, |_| None);
            assert_eq!(again.as_ref().ok(), Some(config), "the document reads differently twice");
        }
        Err(error) => assert!(error.to_string().starts_with("configuration"), "{error}"),
    }
    answer
}

/// What the worker makes of a queue message, as [`queue_envelope`] found it.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// Not an envelope: dropped.
    NotAnEnvelope,
    /// A GitLab event the worker syncs.
    Gitlab,
    /// A GitLab event it drops or ignores (unknown kind, unreadable, a note not on an issue).
    GitlabDropped,
    /// A QALITA event it syncs.
    Qalita,
    /// A QALITA event it drops (unknown kind, unreadable, no issue).
    QalitaDropped,
    /// A scheduled job's message (read by the schedule's own code).
    Schedule,
}

/// A queue message's body as the worker reads it: the envelope, then the GitLab payload and its
/// facts, or the QALITA event under both dialects' fields. Checks: what the borrowed reader refuses,
/// a reader of the payload as any JSON refuses too; a QALITA event names its issue.
pub fn queue_envelope(body: &str) -> Handled {
    let envelope = match Envelope::<&RawValue>::parse(body) {
        Ok(envelope) => envelope,
        Err(_) => {
            assert!(Envelope::<serde_json::Value>::parse(body).is_err(), "only the borrowed reader refuses it");
            return Handled::NotAnEnvelope;
        }
    };
    // The other way round is no promise: the raw payload is not read here, so a number out of
    // range in it is refused later, by the payload's reader.
    assert_eq!(envelope.v, ENVELOPE_VERSION);
    match envelope.source {
        Source::Gitlab => match EventKind::from_name(&envelope.kind) {
            Some(EventKind::Issue | EventKind::ConfidentialIssue) => {
                let facts = read_issue_event(envelope.payload).ok().map(|e| GitlabIssueFacts::of_issue(&e));
                match facts {
                    Some(Ok(_)) => Handled::Gitlab,
                    _ => Handled::GitlabDropped,
                }
            }
            Some(EventKind::Note | EventKind::ConfidentialNote) => {
                let facts = read_note_event(envelope.payload).ok().map(|e| GitlabNoteFacts::of_note(&e));
                match facts {
                    Some(Ok(Some(_))) => Handled::Gitlab,
                    _ => Handled::GitlabDropped,
                }
            }
            None => Handled::GitlabDropped,
        },
        Source::Qalita => {
            let built_in = qalita_event(&envelope, &Default::default());
            let second = qalita_event(&envelope, &SECOND.qalita.shape.fields);
            if built_in || second { Handled::Qalita } else { Handled::QalitaDropped }
        }
        Source::Schedule => Handled::Schedule,
    }
}

/// Reads a QALITA event as the worker does; whether it would be synced.
fn qalita_event(envelope: &Envelope<'_, &RawValue>, fields: &crate::config::qalita_shape::QalitaFields) -> bool {
    match QalitaEvent::parse(envelope, fields) {
        Ok(Some(event)) => {
            assert!(event.issue().get() > 0);
            if let Some(summary) = event.summary() {
                assert_eq!(summary.issue, event.issue());
            }
            true
        }
        Ok(None) => false,
        Err(error @ (QalitaEventError::Unreadable { .. } | QalitaEventError::Misfit { .. })) => {
            assert!(error.to_string().contains(envelope.kind.as_ref()), "{error}");
            false
        }
        Err(QalitaEventError::NoIssue { .. }) => false,
    }
}

#[cfg(test)]
mod tests;
