//! Adapters of the ports: AWS (SQS and its administration, Secrets Manager, DynamoDB) and HTTP (GitLab, QALITA) for the
//! deployed functions, and in-memory ones with the same contracts for tests and the local pipeline.

pub mod aws_error;
pub mod dynamodb;
pub mod gitlab_http;
pub mod governor;
pub mod http;
pub mod memory;
pub mod memory_store;
pub mod qalita_http;
pub mod secrets_manager;
pub mod sqs;
pub mod sqs_admin;
