//! The sync engine: reads what the planners need through the ports, runs the link protocol of
//! DESIGN section 4 (reserve, create with the hidden marker, commit conditionally; adopt what a
//! crashed attempt made), and makes the writes the planners ask for.
//!
//! - [`outbound`]: a QALITA issue → its GitLab issue;
//! - [`inbound`]: a GitLab issue event → the QALITA issue;
//! - [`comments`]: comments both ways;
//! - `link_protocol`: reserve, take over, release, commit, adopt.

pub mod comments;
pub mod inbound;
mod link_protocol;
pub mod outbound;

pub use comments::CommentOutcome;
pub use inbound::InboundOutcome;
pub use outbound::{Outcome, Preview, SyncError, Syncer};
