//! What a run did, in order: the scheduler's steps, every remote call of a worker with its answer,
//! the crashes. A failing seed prints its tail; two runs of one seed must leave the same trace
//! (the determinism check hashes it).

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

/// The lines of a run.
#[derive(Debug, Default)]
pub struct Trace {
    lines: Mutex<Vec<String>>,
}

impl Trace {
    /// Adds a line.
    pub fn note(&self, line: String) {
        crate::lock(&self.lines).push(line);
    }

    /// How many lines so far: the position of the next one, a total order of everything the run
    /// did.
    pub fn len(&self) -> usize {
        crate::lock(&self.lines).len()
    }

    /// Whether nothing happened yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last `n` lines.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let lines = crate::lock(&self.lines);
        lines[lines.len().saturating_sub(n)..].to_vec()
    }

    /// A hash of every line: equal for two runs that did the same.
    pub fn digest(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        crate::lock(&self.lines).hash(&mut hasher);
        hasher.finish()
    }
}
