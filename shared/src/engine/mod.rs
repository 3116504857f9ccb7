//! The sync engine: reads what the planners need through the ports, runs the link protocol of
//! DESIGN section 4 (reserve, create with the hidden marker, commit conditionally; adopt what a
//! crashed attempt made), and applies the writes the planners return.
//!
//! - [`outbound`]: a QALITA issue → its GitLab issue;
//! - [`inbound`]: a GitLab issue event → the QALITA issue;
//! - [`comments`]: comments both ways;
//! - [`context`]: what QALITA's API says about an issue besides the issue (`[qalita.context]`);
//! - [`relink`]: a new GitLab issue for a severed or gone link;
//! - `link_back`: the GitLab issue's URL written back to QALITA, once;
//! - [`rebuild`]: a lost link restored from the marker of its GitLab issue (`links rebuild`);
//! - `link_protocol`: reserve, take over, release, commit, adopt;
//! - `interpreter`: the one place a planner's [`crate::plan::Op`] is written through the ports.

pub mod comments;
pub mod context;
pub mod inbound;
mod interpreter;
mod link_back;
mod link_protocol;
pub mod outbound;
pub mod rebuild;
pub mod relink;

pub use comments::CommentOutcome;
pub use inbound::InboundOutcome;
pub use outbound::{Asked, Engine, FIRST_RUN, Outcome, Ports, Preview, SyncError};
pub use rebuild::DryRun;
