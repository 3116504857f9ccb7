//! The link store in memory (adapter of [`crate::ports::LinkStore`]).
