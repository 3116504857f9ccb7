//! The record of every request a simulator received, for tests to assert on the calls made (and not
//! made). A simulator records an entry on arrival and can fill in its answer later through the
//! entry's [`Ticket`], even after the journal was cleared in between.

/// What the journal needs to know of a recorded request to count calls.
pub trait JournalEntry {
    /// `GET`, `POST`, …
    fn method(&self) -> &str;
    /// The path as the simulator records it.
    fn path(&self) -> &str;
}

/// Where an entry was recorded: it names the same entry however many were cleared since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(usize);

/// The requests received, oldest first.
#[derive(Debug)]
pub struct Journal<R> {
    entries: Vec<R>,
    /// How many entries were cleared before the first one held.
    cleared: usize,
}

impl<R> Default for Journal<R> {
    fn default() -> Self {
        Journal { entries: Vec::new(), cleared: 0 }
    }
}

impl<R: Clone> Journal<R> {
    /// Records a request.
    pub fn push(&mut self, entry: R) -> Ticket {
        self.entries.push(entry);
        Ticket(self.cleared + self.entries.len() - 1)
    }

    /// The entry recorded under `ticket`; `None` once it was cleared.
    pub fn get_mut(&mut self, ticket: Ticket) -> Option<&mut R> {
        let index = ticket.0.checked_sub(self.cleared)?;
        self.entries.get_mut(index)
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Vec<R> {
        self.entries.clone()
    }

    /// How many entries are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many entries `predicate` accepts.
    pub fn count_matching(&self, predicate: impl Fn(&R) -> bool) -> usize {
        self.entries.iter().filter(|entry| predicate(entry)).count()
    }

    /// Forgets every entry held (a test's arrange step); later tickets stay valid.
    pub fn clear(&mut self) {
        self.cleared += self.entries.len();
        self.entries.clear();
    }
}

impl<R: Clone + JournalEntry> Journal<R> {
    /// How many requests had this method (any case) and exactly this path.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.count_matching(|entry| entry.method().eq_ignore_ascii_case(method) && entry.path() == path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Entry(&'static str, &'static str, Option<u16>);

    impl JournalEntry for Entry {
        fn method(&self) -> &str {
            self.0
        }
        fn path(&self) -> &str {
            self.1
        }
    }

    #[test]
    fn calls_are_counted_by_method_in_any_case_and_exact_path() {
        let mut journal = Journal::default();
        journal.push(Entry("GET", "/issues", None));
        journal.push(Entry("GET", "/issues/1", None));
        journal.push(Entry("POST", "/issues", None));

        assert_eq!(journal.count("get", "/issues"), 1);
        assert_eq!(journal.count("POST", "/issues"), 1);
        assert_eq!(journal.count("PUT", "/issues"), 0);
    }

    #[test]
    fn an_answer_recorded_after_a_clear_lands_on_its_own_request_or_nowhere() {
        let mut journal = Journal::default();
        let cleared = journal.push(Entry("GET", "/a", None));
        journal.clear();
        let kept = journal.push(Entry("GET", "/b", None));

        assert!(journal.get_mut(cleared).is_none());
        if let Some(entry) = journal.get_mut(kept) {
            entry.2 = Some(200);
        }
        assert_eq!(journal.entries(), vec![Entry("GET", "/b", Some(200))]);
    }
}
