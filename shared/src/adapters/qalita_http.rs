//! The QALITA REST client (adapter of [`crate::ports::QalitaApi`]).
