//! The worker function: SQS FIFO batches of change events (QALITA, GitLab) and the scheduled poll
//! of QALITA, turned into GitLab writes by the sync engine of the core crate. `main.rs` wires it;
//! [`handler`] and [`poll`] hold the logic, testable without AWS.

pub mod handler;
pub mod poll;
pub mod reconcile;
