//! Ports: the small traits through which the functions reach the outside world (the queue and its
//! administration, the secret store, the clock, GitLab, QALITA, the link store's capabilities).
//! Each has a real adapter and an in-memory or embedded one; the store, queue, queue
//! administration and secret ports have one contract suite that every adapter passes, while the
//! GitLab and QALITA clients (GitLab's hooks and token administration included) are tested against
//! the simulators. The secret store's writer (`SecretStore`, for a rotated GitLab token) has only
//! its Secrets Manager adapter, tested on moto: `serve` reads its tokens from the environment or a
//! file and does not rotate them.

mod api;
mod gitlab_admin;
mod queue;
mod queue_admin;
mod secrets;
mod store;

pub use api::*;
pub use gitlab_admin::*;
pub use queue::*;
pub use queue_admin::*;
pub use secrets::*;
pub use store::*;

use chrono::{DateTime, Utc};

/// The time, injectable so that caches, windows and back-offs can be tested without sleeping.
pub trait Clock: Send + Sync {
    /// The current UTC time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
