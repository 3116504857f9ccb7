//! Contract suites: one per port, run against every adapter of that port (the AWS adapter on the
//! local stack, the in-memory one), so that the two cannot drift apart.

pub mod event_queue;
pub mod link_store;
pub mod secret_source;
