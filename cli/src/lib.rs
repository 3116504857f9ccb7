//! The operator CLI `qalita-gitlab` of the QALITA ↔ GitLab sync (DESIGN section 1), as a library:
//! the embedded adapters that let `qalita-gitlab serve` run the whole pipeline on one machine.

pub mod commands;
#[cfg(feature = "demo")]
pub mod demo;
pub mod embedded;
pub mod serve;
