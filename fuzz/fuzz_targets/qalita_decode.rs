//! QALITA's answer decoders under both dialects' shapes, and the same bytes as a queued QALITA
//! change event.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use qalita_gitlab_core::fuzzing::{Dialect, check_answers, queue_envelope};

#[derive(Debug, Arbitrary)]
enum Status {
    Ok,
    NoContent,
    NotFound,
    Any(u16),
}

#[derive(Debug, Arbitrary)]
struct Answer {
    status: Status,
    json: bool,
    body: Vec<u8>,
}

fuzz_target!(|answer: Answer| {
    let status = match answer.status {
        Status::Ok => 200,
        Status::NoContent => 204,
        Status::NotFound => 404,
        Status::Any(code) => code,
    };
    let content_type = answer.json.then_some("application/json");
    for dialect in [Dialect::BuiltIn, Dialect::Second] {
        check_answers(dialect, status, content_type, &answer.body);
    }
    if let Ok(text) = std::str::from_utf8(&answer.body) {
        queue_envelope(text);
    }
});
