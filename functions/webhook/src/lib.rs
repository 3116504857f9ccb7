//! The webhook function: API Gateway (HTTP API, payload v2) → authenticate → classify → SQS FIFO.
//! `main.rs` wires it; [`event`] turns the raw invocation into a request (answering `400` to one
//! that cannot be), and [`handler`] holds the request logic, testable without AWS.

pub mod config;
pub mod event;
pub mod handler;
