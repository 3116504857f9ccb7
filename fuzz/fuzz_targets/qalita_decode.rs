//! QALITA's answer decoders under both dialects' shapes (a `status:` line, a `content-type:`
//! line, an empty line, the body), and the body as a queued QALITA change event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qalita_gitlab_core::fuzzing::{Dialect, qalita_decode, queue_envelope, request};

fuzz_target!(|data: &[u8]| {
    let (headers, body) = request(data);
    let header = |name: &[u8]| {
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).and_then(|(_, v)| std::str::from_utf8(v).ok())
    };
    let status = header(b"status").and_then(|s| s.parse().ok()).unwrap_or(200);
    let content_type = header(b"content-type");
    for dialect in [Dialect::BuiltIn, Dialect::Second] {
        qalita_decode(dialect, status, content_type, body);
    }
    if let Ok(text) = std::str::from_utf8(body) {
        queue_envelope(text);
    }
});
