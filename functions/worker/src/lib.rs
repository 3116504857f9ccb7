//! The worker function: SQS FIFO batches of change events (QALITA, GitLab) and the scheduled poll
//! of QALITA and reconcile of GitLab, turned into GitLab and QALITA writes by the sync engine of the
//! core crate. `main.rs` reads its [`config`] and builds its dependencies with [`wiring`] (as
//! `serve` and the tests do); [`handler`], [`poll`], [`reconcile`] and [`upkeep`] (the hooks'
//! and the token's health) hold the logic, testable without AWS; [`requeue`] the events the worker
//! queues itself.

pub mod config;
pub mod handler;
pub mod poll;
pub mod reconcile;
pub mod requeue;
pub mod upkeep;
pub mod wiring;
