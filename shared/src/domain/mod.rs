//! Domain types: identifiers and secrets as newtypes, so an invalid or leaked value cannot pass the edge.

mod ids;
mod secret;

pub use ids::{GitlabProjectId, Iid, InvalidId};
pub use secret::SecretString;
