//! The configuration document, as text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qalita_gitlab_core::fuzzing::config_document;

fuzz_target!(|text: &str| {
    let _ = config_document(text);
});
