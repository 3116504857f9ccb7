//! Core of the QALITA ↔ GitLab sync: everything but the wiring. The domain types and the sync's
//! vocabulary ([`domain`]), the configuration document ([`config`]), what arrives to be synced
//! ([`events`]: the queued GitLab payload, what a delivery says, QALITA's change events), the webhook
//! function's delivery parsing and the queue envelope ([`webhook`], [`envelope`]), the mapping and
//! routing ([`mapping`]), the pure planners ([`plan`]), the sync engine that runs them and makes
//! their writes through the ports, both ways and comments included ([`engine`]), the operator's
//! switch ([`control`]), the service's own figures ([`metrics`]) and what it last did ([`activity`], [`health`]), and the ports (traits) with their adapters (AWS, HTTP, in-memory).
//!
//! Binaries stay thin: they wire configuration and adapters, and call into this crate.

pub mod activity;
pub mod adapters;
pub mod config;
pub mod control;
pub mod domain;
pub mod engine;
pub mod envelope;
pub mod events;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod health;
pub mod logs;
pub mod mapping;
pub mod metrics;
pub mod plan;
pub mod ports;
pub mod webhook;
