//! The webhook function: API Gateway (HTTP API, payload v2) → authenticate → classify → SQS FIFO.
//! `main.rs` wires it; [`handler`] holds the request logic, testable without AWS.

pub mod config;
pub mod handler;
