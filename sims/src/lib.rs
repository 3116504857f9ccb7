//! Simulators of the two services the sync talks to, each on its own loopback port: GitLab's REST
//! v4 subset with its webhook ([`gitlab`]) and QALITA's REST API with its change events
//! ([`qalita`]). They answer as the services do, never as a test would like. The tests drive them,
//! and `qalita-gitlab serve --demo` runs them in-process; [`kit`] holds what both are made of.

pub mod gitlab;
pub mod kit;
pub mod qalita;
