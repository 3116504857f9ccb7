//! The sync's planners: pure functions from what was read (an issue, an event, the link and its
//! sync state, the configuration) to what to write and why (DESIGN section 3). They make no call
//! and read no clock; the engine reads what they need before, and executes what they return.
//!
//! - [`outbound`]: a QALITA issue → the GitLab write that makes GitLab agree;
//! - [`inbound`]: a GitLab issue event on a linked issue → the QALITA fields to change;
//! - [`comments`]: which comments are copied, what a copy says, what a comment's copy needs;
//! - [`batch`]: which events of a batch a later one makes useless.

pub mod batch;
pub mod comments;
pub mod inbound;
pub mod outbound;

pub use inbound::{AssigneeBack, InboundPlan, plan_inbound};
pub use outbound::{AssigneeInput, Op, Plan, plan};
