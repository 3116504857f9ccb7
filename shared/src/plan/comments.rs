//! The comment rules (DESIGN sections 4 and 7), pure: which comments are copied, what a copy says,
//! and what to do with a comment given where its copy stands. The engine reads (the comment link,
//! the comments already there) and writes; every decision is here.
//!
//! - A copy starts with its prefix (`[GitLab]` in QALITA, `**[QALITA]**` in GitLab) and is never
//!   copied back; its comment link is marked `ours` too.
//! - A GitLab note is copied unless comments to QALITA are off, it is a system note, or it is
//!   internal and internal notes stay internal.
//! - A comment whose copy exists is copied again only when its text changed (its digest).

use crate::config::CommentSettings;
use crate::domain::gitlab::GitlabProjectRef;
use crate::domain::link::CommentLink;
use crate::domain::marker::Marker;
use crate::domain::{Iid, QalitaIssueId};
use crate::plan::op::Op;

/// What a comment's copy needs, given where its comment link stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyStep {
    /// The comment is itself a copy this service made: nothing.
    Ours,
    /// Its copy holds this text already: nothing.
    Unchanged,
    /// Its copy is there but holds an older text: edit the copy.
    Edit {
        /// The copy's id (a QALITA comment or a GitLab note).
        copy: u64,
    },
    /// A dead worker's reservation, taken over: look for the copy it may have made, else make it.
    FindThenCreate,
    /// Reserved now: make the copy.
    Create,
}

/// Where a comment's copy is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyTo {
    /// A QALITA comment on this issue (the copy of a GitLab note).
    Qalita(QalitaIssueId),
    /// A note on this GitLab issue (the copy of a QALITA comment).
    Gitlab {
        /// The issue's project.
        project: GitlabProjectRef,
        /// The issue's iid.
        iid: Iid,
    },
}

impl CopyTo {
    /// The write that makes a copy saying `text`.
    pub fn create(&self, text: String) -> Op {
        match self {
            CopyTo::Qalita(issue) => Op::CreateComment { issue: *issue, content: text },
            CopyTo::Gitlab { project, iid } => Op::CreateNote { project: project.clone(), iid: *iid, body: text },
        }
    }

    /// The write that makes the copy `copy` say `text`.
    pub fn edit(&self, copy: u64, text: String) -> Op {
        match self {
            CopyTo::Qalita(issue) => Op::UpdateComment { issue: *issue, comment: copy, content: text },
            CopyTo::Gitlab { project, iid } => {
                Op::UpdateNote { project: project.clone(), iid: *iid, note: copy, body: text }
            }
        }
    }
}

impl CopyStep {
    /// The write this step makes on `to`, the copy saying `text`: an edit, a creation (for
    /// [`CopyStep::FindThenCreate`], when the search finds no copy), or none.
    pub fn op(&self, to: &CopyTo, text: String) -> Option<Op> {
        match self {
            CopyStep::Ours | CopyStep::Unchanged => None,
            CopyStep::Edit { copy } => Some(to.edit(*copy, text)),
            CopyStep::FindThenCreate | CopyStep::Create => Some(to.create(text)),
        }
    }
}

/// Why a GitLab note is not copied to QALITA, before anything is read: `None` when it is.
pub fn note_not_copied(settings: &CommentSettings, system: bool, internal: bool) -> Option<&'static str> {
    if !settings.to_qalita {
        Some("comments.to_qalita is off")
    } else if system {
        Some("a system note")
    } else if internal && !settings.sync_internal_notes {
        Some("an internal note stays internal (comments.sync_internal_notes)")
    } else {
        None
    }
}

/// Whether a GitLab note is a copy this service made of a QALITA comment.
pub fn is_our_note(settings: &CommentSettings, body: &str) -> bool {
    body.trim_start().starts_with(&settings.gitlab_prefix)
}

/// Whether a QALITA comment is a copy this service made of a GitLab note.
pub fn is_our_comment(settings: &CommentSettings, content: &str) -> bool {
    content.trim_start().starts_with(&settings.qalita_prefix)
}

/// The QALITA comment a GitLab note becomes: `[GitLab] <username>: <body>`.
pub fn qalita_text(settings: &CommentSettings, username: &str, body: &str) -> String {
    format!("{} {username}: {body}", settings.qalita_prefix)
}

/// The GitLab note a QALITA comment becomes: `**[QALITA]** <author>: <text>`, and the hidden
/// marker that finds it again after a crash.
pub fn gitlab_text(settings: &CommentSettings, author: &str, comment: u64, content: &str) -> String {
    format!("{} {author}: {content}\n\n{}", settings.gitlab_prefix, Marker::Comment(comment).text())
}

/// What to do with a comment whose link the engine just claimed: `claimed` is the link as it was
/// found (`None`: none existed, and the engine reserved it), `digest` the digest of the comment's
/// text now. A link that is neither ours nor copied is a reservation the engine took over.
pub fn copy_step(claimed: Option<&CommentLink>, digest: &str) -> CopyStep {
    match claimed {
        None => CopyStep::Create,
        Some(link) if link.ours => CopyStep::Ours,
        Some(link) => match link.copy {
            Some(_) if link.digest.as_deref() == Some(digest) => CopyStep::Unchanged,
            Some(copy) => CopyStep::Edit { copy },
            None => CopyStep::FindThenCreate,
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::domain::QalitaIssueId;
    use crate::domain::link::CommentKey;

    fn settings() -> CommentSettings {
        CommentSettings {
            to_gitlab: true,
            to_qalita: true,
            sync_internal_notes: false,
            gitlab_prefix: "**[QALITA]**".into(),
            qalita_prefix: "[GitLab]".into(),
        }
    }

    fn link(copy: Option<u64>, digest: &str, ours: bool) -> CommentLink {
        CommentLink {
            issue: QalitaIssueId::new(1).unwrap(),
            key: CommentKey::Note(5),
            copy,
            reservation: None,
            digest: Some(digest.into()),
            ours,
            version: 1,
            updated_at: Utc.with_ymd_and_hms(2026, 11, 24, 16, 0, 0).unwrap(),
        }
    }

    #[test]
    fn system_and_internal_notes_stay_and_the_switch_wins() {
        let mut s = settings();
        assert_eq!(note_not_copied(&s, false, false), None);
        assert_eq!(note_not_copied(&s, true, false), Some("a system note"));
        assert!(note_not_copied(&s, false, true).is_some_and(|r| r.contains("internal")));
        s.sync_internal_notes = true;
        assert_eq!(note_not_copied(&s, false, true), None);
        s.to_qalita = false;
        assert_eq!(note_not_copied(&s, false, false), Some("comments.to_qalita is off"));
    }

    #[test]
    fn each_step_makes_its_write_on_the_copy_side() {
        let issue = QalitaIssueId::new(1).unwrap();
        let to_qalita = CopyTo::Qalita(issue);
        let to_gitlab = CopyTo::Gitlab {
            project: GitlabProjectRef::Id(crate::domain::GitlabProjectId::new(7).unwrap()),
            iid: crate::domain::Iid::new(3).unwrap(),
        };
        assert_eq!(CopyStep::Ours.op(&to_qalita, "t".into()), None);
        assert_eq!(CopyStep::Unchanged.op(&to_gitlab, "t".into()), None);
        assert_eq!(
            CopyStep::Edit { copy: 9 }.op(&to_qalita, "t".into()),
            Some(Op::UpdateComment { issue, comment: 9, content: "t".into() })
        );
        assert!(matches!(CopyStep::Edit { copy: 9 }.op(&to_gitlab, "t".into()), Some(Op::UpdateNote { note: 9, .. })));
        assert_eq!(CopyStep::Create.op(&to_qalita, "t".into()), Some(Op::CreateComment { issue, content: "t".into() }));
        assert!(matches!(CopyStep::FindThenCreate.op(&to_gitlab, "t".into()), Some(Op::CreateNote { .. })));
    }

    #[test]
    fn the_step_follows_the_link() {
        assert_eq!(copy_step(None, "d1"), CopyStep::Create);
        assert_eq!(copy_step(Some(&link(Some(9), "d1", true)), "d1"), CopyStep::Ours);
        assert_eq!(copy_step(Some(&link(Some(9), "d1", false)), "d1"), CopyStep::Unchanged);
        assert_eq!(copy_step(Some(&link(Some(9), "d1", false)), "d2"), CopyStep::Edit { copy: 9 });
        assert_eq!(copy_step(Some(&link(None, "d1", false)), "d1"), CopyStep::FindThenCreate);
    }

    /// A model of both sides' comments: the steps applied as the engine applies them.
    #[derive(Default)]
    struct Model {
        links: std::collections::BTreeMap<u64, CommentLink>,
        copies: Vec<(u64, String)>,
        edits: usize,
    }

    impl Model {
        fn deliver(&mut self, settings: &CommentSettings, note: u64, username: &str, body: &str) {
            if is_our_note(settings, body) {
                return;
            }
            let text = qalita_text(settings, username, body);
            let digest = crate::domain::digest::text_digest(body);
            match copy_step(self.links.get(&note), &digest) {
                CopyStep::Create | CopyStep::FindThenCreate => {
                    let copy = self.copies.len() as u64 + 1000;
                    self.copies.push((note, text));
                    let mut made = link(Some(copy), &digest, false);
                    made.key = CommentKey::Note(note);
                    self.links.insert(note, made);
                }
                CopyStep::Edit { copy } => {
                    self.copies.iter_mut().filter(|(n, _)| *n == note).for_each(|(_, t)| *t = text.clone());
                    self.edits += 1;
                    let mut edited = link(Some(copy), &digest, false);
                    edited.key = CommentKey::Note(note);
                    self.links.insert(note, edited);
                }
                CopyStep::Ours | CopyStep::Unchanged => {}
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        /// A copy's text is always recognised as ours on the side it lands on, so it is never
        /// copied back, whatever the author and the text.
        #[test]
        fn a_copy_is_never_copied_back(author in "[a-z ._-]{0,12}", text in ".{0,40}", comment in 1u64..1_000_000) {
            let s = settings();
            prop_assert!(is_our_comment(&s, &qalita_text(&s, &author, &text)));
            prop_assert!(is_our_note(&s, &gitlab_text(&s, &author, comment, &text)));
            prop_assert!(Marker::Comment(comment).ends(&gitlab_text(&s, &author, comment, &text)));
        }

        /// The deliveries of a few notes, each possibly many times, in any order: one copy per
        /// note, never an edit for a replay, and nothing for our own notes.
        #[test]
        fn duplicates_and_replays_make_one_copy_per_note(
            order in prop::collection::vec((0u64..4, any::<bool>()), 1..30),
        ) {
            let s = settings();
            let mut model = Model::default();
            for (note, ours) in &order {
                let body = if *ours { format!("{} ana: from QALITA", s.gitlab_prefix) } else { format!("note {note}") };
                model.deliver(&s, *note, "marie", &body);
            }
            let people: std::collections::BTreeSet<u64> = order.iter().filter(|(_, ours)| !ours).map(|(n, _)| *n).collect();
            prop_assert_eq!(model.copies.len(), people.len());
            prop_assert_eq!(model.edits, 0, "a replay is never an edit");
            prop_assert!(model.copies.iter().all(|(_, text)| is_our_comment(&s, text)));
        }
    }
}
