//! Adapters of the ports: AWS (SQS, Secrets Manager) for the deployed functions, and in-memory
//! ones with the same contracts for tests and the local pipeline.

pub mod aws_error;
pub mod memory;
pub mod secrets_manager;
pub mod sqs;
