//! The GitLab webhook ingest and QALITA's change-event ingest: a small structured request (the
//! event header chosen among GitLab's names or free bytes, a token, the id headers, any other
//! headers) and a body of any bytes.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use qalita_gitlab_core::fuzzing::{header_map, webhook_ingest};

#[derive(Debug, Arbitrary)]
enum Event {
    Issue,
    ConfidentialIssue,
    Note,
    ConfidentialNote,
    Push,
    Other(Vec<u8>),
    Absent,
}

#[derive(Debug, Arbitrary)]
struct Request {
    event: Event,
    token: Option<Vec<u8>>,
    event_uuid: Option<Vec<u8>>,
    idempotency_key: Option<Vec<u8>>,
    webhook_id: Option<Vec<u8>>,
    /// Other headers, as name and value bytes (QALITA's `x-qalita-event`, `authorization`, …).
    extra: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

fuzz_target!(|request: Request| {
    let event: Option<&[u8]> = match &request.event {
        Event::Issue => Some(b"Issue Hook"),
        Event::ConfidentialIssue => Some(b"Confidential Issue Hook"),
        Event::Note => Some(b"Note Hook"),
        Event::ConfidentialNote => Some(b"Confidential Note Hook"),
        Event::Push => Some(b"Push Hook"),
        Event::Other(bytes) => Some(bytes),
        Event::Absent => None,
    };
    let named = [
        (&b"x-gitlab-event"[..], event),
        (b"x-gitlab-token", request.token.as_deref()),
        (b"x-gitlab-event-uuid", request.event_uuid.as_deref()),
        (b"idempotency-key", request.idempotency_key.as_deref()),
        (b"webhook-id", request.webhook_id.as_deref()),
    ];
    let pairs = named
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .chain(request.extra.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
    let headers = header_map(pairs);
    let _ = webhook_ingest(&headers, &request.body);
});
