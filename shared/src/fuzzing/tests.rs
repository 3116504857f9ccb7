//! The smoke run of the four fuzz targets in the normal tests: the real fixtures as they are, then
//! arbitrary bytes and the fixtures mutated (bytes flipped, cut, spliced, deleted), each through
//! the same checks the fuzzer runs. Bounded by the case counts, a few seconds in debug.

use proptest::prelude::*;

use super::*;

/// A GitLab fixture, its `X-Gitlab-Event` header, and whether it is queued (else ignored).
const GITLAB: &[(&str, &str, bool)] = &[
    (include_str!("../../../fixtures/gitlab/issue_open.json"), "Issue Hook", true),
    (include_str!("../../../fixtures/gitlab/issue_close.json"), "Issue Hook", true),
    (include_str!("../../../fixtures/gitlab/issue_update_synthetic.json"), "Issue Hook", true),
    (include_str!("../../../fixtures/gitlab/confidential_issue.json"), "Confidential Issue Hook", true),
    (include_str!("../../../fixtures/gitlab/note_on_issue.json"), "Note Hook", true),
    (include_str!("../../../fixtures/gitlab/note_on_mr.json"), "Note Hook", false),
    (include_str!("../../../fixtures/gitlab/note_on_commit.json"), "Note Hook", false),
    (include_str!("../../../fixtures/gitlab/constructed/work_item_incident_open.json"), "Issue Hook", true),
    (include_str!("../../../fixtures/gitlab/constructed/work_item_task_update.json"), "Issue Hook", false),
    (include_str!("../../../fixtures/gitlab/constructed/work_item_epic_update.json"), "Issue Hook", false),
    (include_str!("../../../fixtures/gitlab/constructed/issue_hook_2016.json"), "Issue Hook", true),
    (include_str!("../../../fixtures/gitlab/constructed/issue_hook_2016_test.json"), "Push Hook", false),
    (include_str!("../../../fixtures/gitlab/constructed/internal_note_old.json"), "Confidential Note Hook", true),
];

const QALITA_ISSUE: &str = include_str!("../../../fixtures/qalita/issue.json");
const QALITA_USER: &str = include_str!("../../../fixtures/qalita/user.json");
const QALITA_EVENTS: [&str; 2] = [
    include_str!("../../../fixtures/qalita/event_issue_updated.json"),
    include_str!("../../../fixtures/qalita/event_id_only.json"),
];

/// A full configuration document (every section the operator writes).
const FULL_DOCUMENT: &str = r#"
[gitlab]
base_url = "https://gitlab.example.com/gitlab/"
default_project = 42
[qalita]
base_url = "https://qalita.example.com"
[mapping]
labels = ["qalita", "severity::{severity}"]
[status]
open = ["new", "open"]
[assignees]
"m.durand" = "marie"
[[routing]]
domain = "billing"
project = "finance/billing-data"
confidential = true
[ownership]
title = "both"
[sync]
poll_page_size = 50
"#;

const TOKEN: &[u8] = b"smoke-token-7f3a9c0e5b1d";

fn gitlab_headers(event: &str) -> HeaderMap {
    header_map([
        (&b"x-gitlab-event"[..], event.as_bytes()),
        (b"x-gitlab-token", TOKEN),
        (b"x-gitlab-event-uuid", b"6a0bc4ef-2b0b-4a0a-9d8e-5a3b0a6e4c11"),
    ])
}

/// One change to a fixture's bytes; positions are fractions of the length, so any fixture takes them.
#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: f64, bits: u8 },
    Truncate { at: f64 },
    Delete { at: f64, len: usize },
    Splice { from: usize, start: f64, len: usize, at: f64 },
    Insert { at: f64, bytes: Vec<u8> },
}

fn mutation(sources: usize) -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        (at.clone(), 1..=255u8).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        at.clone().prop_map(|at| Mutation::Truncate { at }),
        (at.clone(), 1..64usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (0..sources, at.clone(), 1..256usize, at.clone()).prop_map(|(from, start, len, at)| Mutation::Splice {
            from,
            start,
            len,
            at
        }),
        (at, prop::collection::vec(prop::sample::select(b"{}[]\":,0-1en\\u\x00 \xff".to_vec()), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
    ]
}

fn place(len: usize, at: f64) -> usize {
    ((len as f64 * at) as usize).min(len)
}

/// Applies the mutations to `base`, splicing from `sources`.
fn mutate(base: &[u8], mutations: &[Mutation], sources: &[&[u8]]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for m in mutations {
        match m {
            Mutation::Flip { at, bits } => {
                let i = place(bytes.len(), *at);
                if let Some(b) = bytes.get_mut(i) {
                    *b ^= bits;
                }
            }
            Mutation::Truncate { at } => bytes.truncate(place(bytes.len(), *at)),
            Mutation::Delete { at, len } => {
                let i = place(bytes.len(), *at);
                bytes.drain(i..(i + len).min(bytes.len()));
            }
            Mutation::Splice { from, start, len, at } => {
                let source = sources[*from % sources.len()];
                let s = place(source.len(), *start);
                let piece = source[s..(s + len).min(source.len())].to_vec();
                let i = place(bytes.len(), *at);
                bytes.splice(i..i, piece);
            }
            Mutation::Insert { at, bytes: new } => {
                let i = place(bytes.len(), *at);
                bytes.splice(i..i, new.iter().copied());
            }
        }
    }
    bytes
}

fn mutations(sources: usize) -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(sources), 1..4)
}

fn gitlab_sources() -> Vec<&'static [u8]> {
    GITLAB.iter().map(|(text, _, _)| text.as_bytes()).collect()
}

#[test]
fn every_gitlab_fixture_is_queued_or_ignored_as_its_readme_says() {
    for (index, (body, event, queued)) in GITLAB.iter().enumerate() {
        let answer = webhook_ingest(&gitlab_headers(event), body.as_bytes());
        match answer {
            Ok(Ingested::Queue { .. }) => assert!(queued, "fixture {index} ({event}) must be ignored"),
            Ok(Ingested::Ignore { reason, .. }) => assert!(!queued, "fixture {index} ({event}) ignored: {reason}"),
            Err(error) => panic!("fixture {index} ({event}) refused: {error}"),
        }
    }
}

#[test]
fn every_message_the_webhook_queues_is_synced_by_the_worker() {
    for (body, event, queued) in GITLAB.iter().filter(|(_, _, queued)| *queued) {
        let Ok(Ingested::Queue { message, .. }) = webhook_ingest(&gitlab_headers(event), body.as_bytes()) else {
            panic!("{event} fixture not queued ({queued})")
        };
        assert_eq!(queue_envelope(&message.body), Handled::Gitlab, "{event}");
    }
    for event in QALITA_EVENTS {
        assert_eq!(queue_envelope(event), Handled::Qalita);
    }
}

#[test]
fn the_qalita_samples_decode_under_both_dialects() {
    let issue = qalita_decode(Dialect::BuiltIn, 200, Some("application/json"), QALITA_ISSUE.as_bytes());
    assert!(issue.issue && issue.user, "{issue:?}");
    let page = format!(r#"{{"data": [{QALITA_ISSUE}, {QALITA_ISSUE}], "total": 2}}"#);
    let second = qalita_decode(Dialect::Second, 200, None, page.as_bytes());
    assert_eq!((second.issues, second.users, second.issue), (2, 2, false), "{second:?}");
    let users = qalita_decode(Dialect::BuiltIn, 200, None, format!("[{QALITA_USER}]").as_bytes());
    assert_eq!(users.users, 1, "{users:?}");
    assert_eq!(qalita_decode(Dialect::Second, 204, None, b""), Found::default());
}

#[test]
fn the_sample_documents_are_read() {
    for document in [FULL_DOCUMENT, SECOND_DIALECT] {
        if let Err(error) = config_document(document) {
            panic!("{error}\n{document}")
        }
    }
}

/// Found by the queue_envelope fuzz target (a payload holding `37e84850171`): the envelope is read
/// with its payload raw, so a number out of range is left to the payload's own reader, which
/// refuses it, and the worker drops the message.
#[test]
fn a_number_out_of_range_in_a_payload_is_left_to_its_reader_and_the_message_dropped() {
    let body = r#"{"v":1,"source":"gitlab","kind":"Issue Hook","received_at":"2026-11-24T16:42:00Z","key":"k","payload":{"object_kind":"issue","project":{"id":1},"object_attributes":{"iid":2,"updated_by_id":37e84850171}}}"#;
    assert!(Envelope::<serde_json::Value>::parse(body).is_err());
    assert_eq!(queue_envelope(body), Handled::GitlabDropped);
    let in_range = body.replace("37e84850171", "37");
    assert_eq!(queue_envelope(&in_range), Handled::Gitlab);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn the_webhook_ingest_keeps_its_promises_on_arbitrary_requests(
        event in prop::sample::select(vec!["Issue Hook", "Confidential Issue Hook", "Note Hook", "Push Hook", "\u{7f}"]),
        token in prop::collection::vec(any::<u8>(), 0..40),
        extra in prop::collection::vec((prop::sample::select(vec!["x-qalita-event", "idempotency-key", "webhook-id", "authorization", "x-gitlab-event-uuid"]), "[ -~]{0,40}"), 0..3),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut pairs: Vec<(&[u8], &[u8])> = vec![(b"x-gitlab-event", event.as_bytes()), (b"x-gitlab-token", &token)];
        pairs.extend(extra.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        let _ = webhook_ingest(&header_map(pairs), &body);
    }

    #[test]
    fn the_webhook_ingest_keeps_its_promises_on_mutated_fixtures(
        fixture in 0..GITLAB.len(),
        changes in mutations(GITLAB.len()),
        token in "[a-zA-Z0-9]{8,40}",
    ) {
        let (body, event, _) = GITLAB[fixture];
        let body = mutate(body.as_bytes(), &changes, &gitlab_sources());
        let headers = header_map([(&b"x-gitlab-event"[..], event.as_bytes()), (b"x-gitlab-token", token.as_bytes())]);
        let _ = webhook_ingest(&headers, &body);
        let qalita = header_map([(&b"authorization"[..], format!("Bearer {token}").as_bytes()), (b"x-qalita-event", b"issue.updated")]);
        let _ = webhook_ingest(&qalita, &body);
    }

    #[test]
    fn the_qalita_decoders_keep_their_promises_on_mutated_answers(
        status in prop::sample::select(vec![200u16, 201, 204, 404]),
        wrap in 0..3usize,
        changes in mutations(2),
    ) {
        let base = match wrap {
            0 => QALITA_ISSUE.to_owned(),
            1 => format!(r#"{{"items": [{QALITA_ISSUE}], "data": [{QALITA_USER}], "total": 1}}"#),
            _ => format!("[{QALITA_USER}, {QALITA_ISSUE}]"),
        };
        let body = mutate(base.as_bytes(), &changes, &[QALITA_ISSUE.as_bytes(), QALITA_USER.as_bytes()]);
        for dialect in [Dialect::BuiltIn, Dialect::Second] {
            qalita_decode(dialect, status, Some("application/json"), &body);
        }
    }

    #[test]
    fn the_qalita_decoders_keep_their_promises_on_arbitrary_bytes(
        status in 100..600u16,
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        qalita_decode(Dialect::BuiltIn, status, None, &body);
        qalita_decode(Dialect::Second, status, None, &body);
    }

    #[test]
    fn the_configuration_document_keeps_its_promises_when_mutated(
        document in 0..2usize,
        changes in mutations(2),
    ) {
        let sources = [FULL_DOCUMENT.as_bytes(), SECOND_DIALECT.as_bytes()];
        let text = mutate(sources[document], &changes, &sources);
        let _ = config_document(&String::from_utf8_lossy(&text));
    }

    #[test]
    fn the_configuration_document_keeps_its_promises_on_arbitrary_text(
        text in "(\\[[a-z.]{1,12}\\]\n|[a-z_]{1,12} = |\"[ -~]{0,12}\"|[0-9]{1,4}|\\PC){0,40}",
    ) {
        let _ = config_document(&text);
    }

    #[test]
    fn a_base_url_with_credentials_is_refused_without_showing_them(
        user in "[a-z]{1,8}",
        password in "[A-Za-z0-9]{12,24}",
        host in "[a-z]{1,10}\\.[a-z]{2,3}",
        which in prop::sample::select(vec!["gitlab", "qalita"]),
    ) {
        let url = format!("https://{user}:{password}@{host}/");
        let document = format!("[gitlab]\ndefault_project = 1\n[qalita]\nbase_url = \"https://q.example.com\"\n[{which}]\nbase_url = \"{url}\"\n");
        let document = document.replacen("[qalita]\nbase_url = \"https://q.example.com\"\n", if which == "qalita" { "" } else { "[qalita]\nbase_url = \"https://q.example.com\"\n" }, 1);
        let error = config_document(&document).expect_err("credentials in a base URL");
        prop_assert!(!error.to_string().contains(&password), "{error}");
    }

    #[test]
    fn the_worker_keeps_its_promises_on_mutated_envelopes(
        source in 0..3usize,
        changes in mutations(3),
    ) {
        let queued = match webhook_ingest(&gitlab_headers("Note Hook"), GITLAB[4].0.as_bytes()) {
            Ok(Ingested::Queue { message, .. }) => message.body,
            other => panic!("{other:?}"),
        };
        let sources = [QALITA_EVENTS[0].as_bytes(), QALITA_EVENTS[1].as_bytes(), queued.as_bytes()];
        let body = mutate(sources[source], &changes, &sources);
        queue_envelope(&String::from_utf8_lossy(&body));
    }

    #[test]
    fn the_worker_keeps_its_promises_on_arbitrary_text(body in "\\PC{0,200}") {
        queue_envelope(&body);
    }
}
