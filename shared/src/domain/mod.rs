//! Domain types: identifiers and secrets as newtypes, so an invalid or leaked value cannot pass the edge.

pub mod digest;
pub mod gitlab;
pub mod hooks;
mod ids;
pub mod link;
pub mod marker;
pub mod qalita;
mod secret;
pub mod sync;

pub use ids::{GitlabProjectId, Iid, InvalidId, QalitaIssueId};
pub use secret::SecretString;
