//! The JSON log lines a test's handler calls write, for the tests of both routes.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Captures the JSON log lines written while it is installed on this thread.
#[derive(Clone, Default)]
pub(crate) struct Captured(pub(crate) Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
