//! A simulator of the QALITA REST API subset the sync uses.
