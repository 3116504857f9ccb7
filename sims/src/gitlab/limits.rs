//! Rate limiting as gitlab.com does it: fixed windows aligned on the Unix epoch (Rack::Attack and
//! GitLab's `ApplicationRateLimiter` key a count by `now / period`, so every client sees the same
//! window turn at the same time); the API budget counted for every request,
//! refused ones included, with `RateLimit-*` headers on every answer and "Retry later" in plain
//! text when over; the issue- and note-creation budgets checked by the endpoints, refused with
//! a JSON message and a `Retry-After` of the whole interval, and never shown in headers.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

use super::config::RateLimits;
use super::reply::Reply;

/// What a budget is spent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Budget {
    /// Any API request of a user (`None`: requests without a valid token).
    Api(Option<u64>),
    /// Issue creations of a user.
    IssueCreation(u64),
    /// Note creations of a user.
    NoteCreation(u64),
}

/// The counters of the current window.
pub(super) struct Limits {
    config: RateLimits,
    window: u128,
    counts: HashMap<Budget, u32>,
}

/// The state of the API budget after a request, for the headers.
pub(super) struct ApiUse {
    limit: u32,
    observed: u32,
    reset: Duration,
}

impl Limits {
    pub(super) fn new(config: RateLimits) -> Self {
        Limits { config, window: 0, counts: HashMap::new() }
    }

    fn window_length(&self) -> Duration {
        self.config.window.max(Duration::from_millis(1))
    }

    /// Counts one use of `budget` in the current window; returns the count and the time left.
    fn spend(&mut self, budget: Budget) -> (u32, Duration) {
        let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let length = self.window_length();
        let window = elapsed.as_nanos() / length.as_nanos();
        if window != self.window {
            self.window = window;
            self.counts.clear();
        }
        let count = self.counts.entry(budget).or_default();
        *count = count.saturating_add(1);
        let end = Duration::from_nanos(u64::try_from((window + 1) * length.as_nanos()).unwrap_or(u64::MAX));
        (*count, end.saturating_sub(elapsed))
    }

    /// Counts a request against the API budget: the use for the headers, or the 429 to answer.
    pub(super) fn spend_api(&mut self, user: Option<u64>) -> Result<Option<ApiUse>, Reply> {
        let Some(limit) = self.config.api else { return Ok(None) };
        let (observed, reset) = self.spend(Budget::Api(user));
        let usage = ApiUse { limit, observed, reset };
        if observed > limit {
            let reply = Reply::text(429, "text/plain", "Retry later\n")
                .with_header("retry-after", whole_seconds(reset))
                .with_header("ratelimit-name", "throttle_authenticated_api");
            return Err(usage.headers(reply, self.window_length()));
        }
        Ok(Some(usage))
    }

    /// Counts a creation against its hidden budget; the 429 GitLab's endpoint answers when over.
    pub(super) fn spend_creation(&mut self, budget: Budget) -> Result<(), Reply> {
        let limit = match budget {
            Budget::IssueCreation(_) => self.config.issue_creation,
            Budget::NoteCreation(_) => self.config.note_creation,
            Budget::Api(_) => self.config.api,
        };
        let Some(limit) = limit else { return Ok(()) };
        if self.spend(budget).0 <= limit {
            return Ok(());
        }
        let body = serde_json::json!({
            "message": { "error": "This endpoint has been requested too many times. Try again later." }
        });
        Err(Reply::json(429, body).with_header("retry-after", whole_seconds(self.window_length())))
    }

    /// The headers of the API budget on an answer.
    pub(super) fn decorate(&self, reply: Reply, usage: Option<&ApiUse>) -> Reply {
        match usage {
            Some(usage) => usage.headers(reply, self.window_length()),
            None => reply,
        }
    }
}

impl ApiUse {
    /// `RateLimit-Limit` is per minute, as GitLab rounds it; `Remaining` and `Observed` are of the
    /// window; `Reset` is the window's end in Unix seconds.
    fn headers(&self, reply: Reply, window: Duration) -> Reply {
        let per_minute = (f64::from(self.limit) * 60.0 / window.as_secs_f64()).ceil() as u64;
        let reset_at = SystemTime::now() + self.reset;
        let reset_unix = whole_seconds(reset_at.duration_since(UNIX_EPOCH).unwrap_or_default());
        let reset_time = DateTime::<Utc>::from(reset_at).format("%a, %d %b %Y %H:%M:%S GMT");
        reply
            .with_header("ratelimit-limit", per_minute)
            .with_header("ratelimit-observed", self.observed)
            .with_header("ratelimit-remaining", self.limit.saturating_sub(self.observed))
            .with_header("ratelimit-reset", reset_unix)
            .with_header("ratelimit-resettime", reset_time)
    }
}

/// Seconds, rounded up, at least 1 (a `Retry-After` of 0 would invite an immediate retry).
fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs_f64().ceil().max(1.0) as u64
}
