//! The QALITA simulator's two dialects seen from outside, over HTTP: each one's OpenAPI document
//! against the routes it serves, the second dialect's behaviour, and the sources in both.

mod openapi;
mod second;
mod sources;
mod support;
