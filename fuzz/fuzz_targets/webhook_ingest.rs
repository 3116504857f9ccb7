//! The GitLab webhook ingest and QALITA's change-event ingest, on one request: header lines
//! (`X-Gitlab-Event`, `X-Gitlab-Token`, the id headers, QALITA's, any other), an empty line, the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qalita_gitlab_core::fuzzing::{header_map, request, webhook_ingest};

fuzz_target!(|data: &[u8]| {
    let (headers, body) = request(data);
    let _ = webhook_ingest(&header_map(headers), body);
});
