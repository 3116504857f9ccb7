//! The webhook function: API Gateway (HTTP API, payload v2) → authenticate → classify → SQS FIFO,
//! for GitLab's deliveries and QALITA's. `main.rs` wires it; [`event`] turns the raw invocation
//! into a request (answering `400` to one that cannot be), [`handler`] holds the request logic,
//! testable without AWS, and [`qalita`] the QALITA route's.

pub mod config;
pub mod deps;
pub mod event;
pub mod handler;
pub mod qalita;

#[cfg(test)]
mod test_log;
