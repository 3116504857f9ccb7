//! The sync's planners: pure functions from what was read (an issue, an event, the link and its
//! sync state, the configuration) to what to write and why (DESIGN section 3). They make no call
//! and read no clock; the engine reads what they need before, and applies the [`Op`]s they return
//! through its one interpreter.
//!
//! - [`op`]: the remote writes ([`Op`]) and the planners' answer ([`Plan`]);
//! - [`outbound`]: a QALITA issue → the GitLab writes that make GitLab agree;
//! - [`inbound`]: a GitLab issue event on a linked issue → the QALITA write;
//! - [`comments`]: which comments are copied, what a copy says, the write a comment's copy needs;
//! - [`create`]: whether a QALITA issue gets a GitLab issue by itself;
//! - [`assignee`]: whom to look up for an assignee, both ways;
//! - [`link`]: what the link records after a write, an adoption, or a commit over a newer link;
//! - [`link_back`]: the QALITA comment that shows the GitLab issue's URL, written once;
//! - [`relink`]: a new GitLab issue for a severed link, the old one's marker retired;
//! - [`regression`]: a resolved issue opened again: reopen its GitLab issue, or a new one;
//! - [`rebuild`]: a lost link restored from the marker of its GitLab issue, and the walk that finds them;
//! - [`batch`]: which events of a batch a later one makes useless;
//! - [`sweep`]: the poll's comment sweep, its line and its cursor on each link.

pub mod assignee;
pub mod batch;
pub mod comments;
pub mod create;
pub mod inbound;
pub mod link;
pub mod link_back;
pub mod op;
pub mod outbound;
pub mod rebuild;
pub mod regression;
pub mod relink;
pub mod sweep;

pub use inbound::{AssigneeBack, InboundPlan, plan_inbound};
pub use op::{Op, Plan};
pub use outbound::{AssigneeInput, plan};
