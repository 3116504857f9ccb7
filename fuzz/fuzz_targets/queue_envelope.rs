//! A queue message's body, as the worker reads it (SQS bodies are text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use qalita_gitlab_core::fuzzing::queue_envelope;

fuzz_target!(|body: &str| {
    queue_envelope(body);
});
