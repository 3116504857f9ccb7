//! Authentication of deliveries: `X-Gitlab-Token` against the webhook secret, read from the secret
//! store and cached. During a rotation both the current and the previous secret are accepted; on a
//! mismatch the secret is re-read, at most once per `refresh_after_mismatch`, to pick up a rotation
//! that happened since it was cached.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Mutex;

use crate::domain::SecretString;
use crate::ports::{Clock, SecretError, SecretSource, SecretStage};

/// The outcome of checking a delivery's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// The token is the current secret.
    Current,
    /// The token is the previous secret (a rotation is in progress).
    Previous,
    /// No `X-Gitlab-Token` header.
    Missing,
    /// A token that is neither secret.
    Wrong,
}

impl TokenCheck {
    /// Whether the delivery may proceed.
    pub fn accepted(self) -> bool {
        matches!(self, TokenCheck::Current | TokenCheck::Previous)
    }
}

/// How long secrets are trusted, and how often a mismatch may trigger a re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// How long a read secret is used before it is read again.
    pub ttl: TimeDelta,
    /// The least time between two re-reads caused by a wrong token: a flood of forged deliveries
    /// must not become a flood of Secrets Manager calls.
    pub refresh_after_mismatch: TimeDelta,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy { ttl: TimeDelta::minutes(5), refresh_after_mismatch: TimeDelta::minutes(1) }
    }
}

#[derive(Debug)]
struct Cached {
    current: SecretString,
    previous: Option<SecretString>,
    read_at: DateTime<Utc>,
}

impl Cached {
    fn check(&self, token: &[u8]) -> TokenCheck {
        // Both comparisons always run, so the time taken does not tell which secret matched.
        let current = self.current.matches(token);
        let previous = self.previous.as_ref().is_some_and(|p| p.matches(token));
        match (current, previous) {
            (true, _) => TokenCheck::Current,
            (false, true) => TokenCheck::Previous,
            (false, false) => TokenCheck::Wrong,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    cached: Option<Cached>,
    last_mismatch_refresh: Option<DateTime<Utc>>,
}

/// The webhook secret, cached, and the token check against it.
pub struct WebhookAuthenticator {
    source: Arc<dyn SecretSource>,
    secret_id: String,
    clock: Arc<dyn Clock>,
    policy: CachePolicy,
    state: Mutex<State>,
}

impl WebhookAuthenticator {
    /// An authenticator reading the secret `secret_id` from `source`.
    pub fn new(
        source: Arc<dyn SecretSource>,
        secret_id: impl Into<String>,
        clock: Arc<dyn Clock>,
        policy: CachePolicy,
    ) -> Self {
        WebhookAuthenticator { source, secret_id: secret_id.into(), clock, policy, state: Mutex::new(State::default()) }
    }

    /// Checks a delivery's `X-Gitlab-Token`.
    ///
    /// Fails only when the secret has never been read and cannot be read now; a secret that was
    /// read before keeps being used while the store is unreachable.
    pub async fn check(&self, token: Option<&[u8]>) -> Result<TokenCheck, SecretError> {
        let Some(token) = token else {
            return Ok(TokenCheck::Missing);
        };
        let mut state = self.state.lock().await;
        let now = self.clock.now();
        let fresh = state.cached.as_ref().is_some_and(|c| now - c.read_at < self.policy.ttl);
        if !fresh {
            self.refresh(&mut state, now).await?;
        }
        let outcome = state.cached.as_ref().map_or(TokenCheck::Wrong, |c| c.check(token));
        if outcome.accepted() {
            return Ok(outcome);
        }
        let may_refresh = state.last_mismatch_refresh.is_none_or(|at| now - at >= self.policy.refresh_after_mismatch);
        if fresh && may_refresh {
            state.last_mismatch_refresh = Some(now);
            self.refresh(&mut state, now).await?;
            return Ok(state.cached.as_ref().map_or(TokenCheck::Wrong, |c| c.check(token)));
        }
        Ok(outcome)
    }

    /// Reads both stages. When the store fails and a value was read before, the old value stays
    /// in use (a warning is logged); only a first read that fails is an error.
    async fn refresh(&self, state: &mut State, now: DateTime<Utc>) -> Result<(), SecretError> {
        let read = async {
            // Both stages at once: the delivery waits for one round trip, not two.
            let (current, previous) = tokio::join!(
                self.source.read(&self.secret_id, SecretStage::Current),
                self.source.read(&self.secret_id, SecretStage::Previous),
            );
            let current = current?.ok_or_else(|| SecretError::Unreadable {
                id: self.secret_id.clone(),
                class: "NoCurrentValue".into(),
                message: "the secret has no AWSCURRENT value".into(),
            })?;
            // A secret stored from a file often ends with a newline that no header can carry.
            let trimmed = |s: SecretString| SecretString::new(s.expose().trim());
            Ok::<_, SecretError>(Cached { current: trimmed(current), previous: previous?.map(trimmed), read_at: now })
        };
        match (read.await, state.cached.as_mut()) {
            (Ok(cached), _) => {
                state.cached = Some(cached);
                Ok(())
            }
            (Err(error), Some(cached)) => {
                // Try the store again after another TTL, not on every delivery while it is down; a
                // rotation is still picked up through the re-read on a mismatch.
                cached.read_at = now;
                tracing::warn!(secret_id = %self.secret_id, error = %error, "webhook secret could not be re-read; using the cached value");
                Ok(())
            }
            (Err(error), None) => Err(error),
        }
    }
}
