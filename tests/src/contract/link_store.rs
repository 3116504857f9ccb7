//! The [`LinkStore`](qalita_gitlab_core::ports::LinkStore) contract.
