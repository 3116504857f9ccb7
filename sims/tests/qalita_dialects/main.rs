//! The QALITA simulator's two dialects seen from outside, over HTTP: each one's OpenAPI document
//! against the routes it serves, and the second dialect's behaviour.

mod openapi;
mod second;
mod support;
