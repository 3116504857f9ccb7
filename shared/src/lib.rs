//! Core of the QALITA ↔ GitLab sync: the domain types, the delivery parsing of the webhook function,
//! the ports (traits) the functions talk through, and their adapters (AWS and in-memory).
//!
//! Binaries stay thin: they wire configuration and adapters, and call into this crate.

pub mod adapters;
pub mod apply;
pub mod config;
pub mod control;
pub mod domain;
pub mod envelope;
pub mod inbound;
pub mod mapping;
pub mod plan;
pub mod ports;
pub mod routing;
pub mod webhook;
