//! The hidden markers that tie a GitLab text to what it stands for in QALITA: an issue's
//! description ends with `<!-- qalita-issue:{id} -->`, a note copied from a QALITA comment with
//! `<!-- qalita-comment:{id} -->`. They are how a crashed creation is found again and adopted, and
//! how an event whose link the reverse index does not know yet is routed (DESIGN section 4).
//!
//! One type writes, finds, strips and retires both, so the format lives in one place.

use super::QalitaIssueId;

/// What a marker points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// A QALITA issue: ends the description of its GitLab issue.
    Issue(QalitaIssueId),
    /// A QALITA comment: ends the GitLab note that copies it.
    Comment(u64),
}

const ISSUE_OPEN: &str = "<!-- qalita-issue:";
const COMMENT_OPEN: &str = "<!-- qalita-comment:";
const RETIRED_OPEN: &str = "<!-- qalita-issue-severed:";
const CLOSE: &str = " -->";

impl Marker {
    /// The marker's text.
    pub fn text(self) -> String {
        match self {
            Marker::Issue(id) => format!("{ISSUE_OPEN}{id}{CLOSE}"),
            Marker::Comment(id) => format!("{COMMENT_OPEN}{id}{CLOSE}"),
        }
    }

    /// Whether `text` ends with this very marker (trailing white space aside): a marker quoted
    /// inside a text, or the marker of issue 10 when this is issue 1, does not count.
    pub fn ends(self, text: &str) -> bool {
        text.trim_end().ends_with(&self.text())
    }

    /// The QALITA issue of the issue marker that ends `description`, if it ends with one.
    pub fn issue_of(description: &str) -> Option<QalitaIssueId> {
        let trimmed = description.trim_end().strip_suffix("-->")?.trim_end();
        let start = trimmed.rfind(ISSUE_OPEN)?;
        let id = trimmed[start + ISSUE_OPEN.len()..].trim();
        id.parse::<u64>().ok().and_then(|id| QalitaIssueId::new(id).ok())
    }

    /// `description` without the issue marker that ends it (and the blank lines before it); the
    /// text unchanged, trailing white space aside, when it ends with none.
    pub fn strip(description: &str) -> String {
        let trimmed = description.trim_end();
        match trimmed.rfind(ISSUE_OPEN) {
            Some(at) if trimmed.ends_with("-->") => trimmed[..at].trim_end().to_owned(),
            _ => trimmed.to_owned(),
        }
    }

    /// `description` with this issue marker replaced by an inert one, which no search for a
    /// crashed creation adopts and no event is routed by; `None` when the description does not
    /// end with this marker (nothing to retire). A comment marker is never retired.
    pub fn retire(self, description: &str) -> Option<String> {
        let Marker::Issue(id) = self else { return None };
        if Marker::issue_of(description) != Some(id) {
            return None;
        }
        let marker = self.text();
        let at = description.rfind(&marker)?;
        Some(format!("{}{RETIRED_OPEN}{id}{CLOSE}{}", &description[..at], &description[at + marker.len()..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(id: u64) -> QalitaIssueId {
        QalitaIssueId::new(id).unwrap()
    }

    #[test]
    fn a_description_ending_with_a_marker_names_its_issue() {
        let text = format!("Nulls in orders.\n\n{}\n", Marker::Issue(issue(42)).text());
        assert_eq!(Marker::issue_of(&text), Some(issue(42)));
        assert!(Marker::Issue(issue(42)).ends(&text));
        assert!(!Marker::Issue(issue(4)).ends(&text), "issue 4's marker is not a suffix of issue 42's");
        assert_eq!(Marker::strip(&text), "Nulls in orders.");
    }

    #[test]
    fn a_quoted_marker_is_not_a_marker() {
        let text = format!("see {} above, then more text", Marker::Issue(issue(7)).text());
        assert_eq!(Marker::issue_of(&text), None);
        assert_eq!(Marker::strip(&text), text);
        assert_eq!(Marker::Issue(issue(7)).retire(&text), None);
    }

    #[test]
    fn a_retired_marker_names_no_issue_and_is_not_retired_twice() {
        let text = format!("Body\n\n{}", Marker::Issue(issue(9)).text());
        let retired = Marker::Issue(issue(9)).retire(&text).expect("retired");
        assert_eq!(retired, "Body\n\n<!-- qalita-issue-severed:9 -->");
        assert_eq!(Marker::issue_of(&retired), None);
        assert_eq!(Marker::Issue(issue(9)).retire(&retired), None);
        assert_eq!(Marker::Issue(issue(8)).retire(&text), None, "only its own marker is retired");
    }

    #[test]
    fn a_comment_marker_ends_its_note_only() {
        let note = format!("**[QALITA]** ana: fixed\n\n{}", Marker::Comment(12).text());
        assert!(Marker::Comment(12).ends(&note));
        assert!(!Marker::Comment(2).ends(&note));
        assert_eq!(Marker::issue_of(&note), None);
        assert_eq!(Marker::Comment(12).retire(&note), None);
    }
}
