//! Core of the QALITA ↔ GitLab sync: the domain types, the delivery parsing of the webhook function,
//! the ports (traits) the functions talk through, and their adapters (AWS and in-memory).
//!
//! Binaries stay thin: they wire configuration and adapters, and call into this crate.

pub mod adapters;
pub mod config;
pub mod control;
pub mod domain;
pub mod engine;
pub mod envelope;
pub mod events;
pub mod mapping;
pub mod plan;
pub mod ports;
pub mod webhook;
