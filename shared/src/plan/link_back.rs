//! The link back (DESIGN section 7), pure: the GitLab issue's URL made visible where QALITA's users
//! look, as one QALITA comment per GitLab issue (`[link_back] mode = "comment"`, the default).
//!
//! - It is owed when this service creates or adopts the GitLab issue: the link records it
//!   ([`LinkState::link_back`]) in the same write that links the two issues, so a crash before
//!   the comment leaves it owed, and the retry writes it.
//! - It is written through a comment link keyed by the GitLab issue ([`CommentKey::LinkBack`]):
//!   reserve, create, commit, as every copied comment, so a retry or a replayed event never writes
//!   a second one; a reservation whose worker died is taken over after looking for the comment it
//!   may have made.
//! - Its text starts with the prefix of the comments this service writes in QALITA, and its own
//!   comment is recorded as `ours`: the sweep of QALITA comments never copies it to GitLab.

use chrono::{DateTime, Utc};

use crate::config::{CommentSettings, Config, LinkBackMode};
use crate::domain::link::{CommentKey, CommentLink, LinkBackDue, LinkState, LinkStatus, LogLevel};
use crate::domain::sync::{Decision, DecisionKind};
use crate::plan::comments::{CopyStep, CopyTo};
use crate::plan::op::Plan;

/// The QALITA comment that shows the GitLab issue's URL: `[GitLab] Tracked in GitLab: <url>`.
pub fn text(settings: &CommentSettings, url: &str) -> String {
    format!("{} Tracked in GitLab: {url}", settings.qalita_prefix)
}

/// What a link owes QALITA, decided before anything is read or reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// Nothing: no link back is owed, or the link is not (or no longer) linked to a GitLab issue.
    Nothing,
    /// One is owed, but `link_back.mode = "none"`: the link forgets it, and nothing is written.
    Dropped(Box<Plan>),
    /// One is owed: claim the comment link `key`, then plan with [`plan`].
    Write {
        /// The comment link of the GitLab issue's link back.
        key: CommentKey,
        /// The comment's text.
        text: String,
        /// Whether QALITA may show the URL already (an adopted GitLab issue): its comments are
        /// looked at before one is written.
        look_first: bool,
    },
}

/// What `link` owes QALITA at `now`.
pub fn due(config: &Config, link: &LinkState, now: DateTime<Utc>) -> Due {
    let Some(owed) = link.link_back else { return Due::Nothing };
    let Some(gitlab) = link.gitlab.as_ref().filter(|_| link.status == LinkStatus::Linked) else {
        return Due::Nothing;
    };
    match config.link_back {
        LinkBackMode::None => {
            let decision = Decision::new(
                LogLevel::Info,
                DecisionKind::LinkBack,
                "link_back.mode is \"none\": the GitLab issue's URL is not written to QALITA",
            );
            Due::Dropped(Box::new(Plan::nothing(settled(link, now), vec![decision])))
        }
        LinkBackMode::Comment => Due::Write {
            key: CommentKey::LinkBack(gitlab.issue_id),
            text: text(&config.comments, &gitlab.web_url),
            look_first: owed == LinkBackDue::Adopted,
        },
    }
}

/// Where the link back's comment stands, from its comment link as the claim found it (`None`:
/// none existed, and the engine reserved it now): to be written, after looking for it in QALITA
/// when it may exist already (an adopted issue, a dead worker's reservation taken over); or
/// written already.
pub fn step(found: Option<&CommentLink>, look_first: bool) -> CopyStep {
    match found {
        None if look_first => CopyStep::FindThenCreate,
        None => CopyStep::Create,
        Some(link) if link.ours => CopyStep::Ours,
        Some(link) if link.copy.is_some() => CopyStep::Unchanged,
        Some(_) => CopyStep::FindThenCreate,
    }
}

/// The link back of `link` once its comment link is claimed: the comment to write (for
/// [`CopyStep::FindThenCreate`], unless the search finds it), or none; the link no longer owing it.
pub fn plan(link: &LinkState, text: String, step: &CopyStep, now: DateTime<Utc>) -> Plan {
    let url = link.gitlab.as_ref().map_or("", |g| g.web_url.as_str());
    let (ops, message) = match step.op(&CopyTo::Qalita(link.qalita_id), text) {
        Some(op) if *step == CopyStep::FindThenCreate => (
            vec![op],
            format!("the GitLab issue's URL goes to QALITA as a comment, unless QALITA shows it already: {url}"),
        ),
        Some(op) => (vec![op], format!("the GitLab issue's URL goes to QALITA as a comment: {url}")),
        None => (Vec::new(), format!("QALITA already has the comment with the GitLab issue's URL: {url}")),
    };
    Plan {
        ops,
        next: settled(link, now),
        decisions: vec![Decision::new(LogLevel::Info, DecisionKind::LinkBack, message)],
    }
}

/// `link`, owing nothing any more.
fn settled(link: &LinkState, now: DateTime<Utc>) -> LinkState {
    let mut next = link.clone();
    next.link_back = None;
    next.updated_at = now;
    next
}

#[cfg(test)]
mod tests;
