//! A webhook secret as the ingress holds it: read from the secret store with both stages (during a
//! rotation the previous value still authenticates), cached for a TTL, re-read after a mismatch at
//! most once per `refresh_after_mismatch`, and kept in use while the store is unreachable. Shared by
//! the GitLab checks ([`super::verify`]) and the QALITA route's ([`super::qalita`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::signature::{KeyError, SigningKey};
use super::verify::CachePolicy;
use crate::domain::SecretString;
use crate::ports::{Clock, SecretError, SecretSource, SecretStage};

/// One secret's two values, usable as they are.
#[derive(Debug)]
pub(super) struct Values<T> {
    pub current: T,
    pub previous: Option<T>,
    read_at: DateTime<Utc>,
}

impl<T> Values<T> {
    /// Which value `proves` accepts: `Some(false)` the current one, `Some(true)` only the previous
    /// one, `None` neither. Both are always tried, so the time taken does not tell which matched.
    pub fn matching(&self, proves: impl Fn(&T) -> bool) -> Option<bool> {
        let current = proves(&self.current);
        let previous = self.previous.as_ref().is_some_and(&proves);
        match (current, previous) {
            (true, _) => Some(false),
            (false, true) => Some(true),
            (false, false) => None,
        }
    }
}

/// How a secret's text becomes a usable value (a token, a signing key), and why it cannot.
pub(super) trait SecretValue: Sized {
    fn read(text: &str) -> Result<Self, &'static str>;
}

impl SecretValue for SecretString {
    fn read(text: &str) -> Result<Self, &'static str> {
        // A secret stored from a file often ends with a newline that no header can carry.
        match text.trim() {
            "" => Err("the secret is empty or only whitespace; no delivery can be authenticated"),
            trimmed => Ok(SecretString::new(trimmed)),
        }
    }
}

impl SecretValue for SigningKey {
    fn read(text: &str) -> Result<Self, &'static str> {
        SigningKey::parse(text).map_err(|e| match e {
            KeyError::Empty => "the signing secret is empty or only whitespace",
            KeyError::NotBase64 => "the signing secret is not whsec_<base64> (GitLab's form)",
            KeyError::TooShort(_) => "the signing secret is shorter than 16 bytes",
        })
    }
}

/// One secret of the store, cached.
pub(super) struct CachedSecret<T> {
    source: Arc<dyn SecretSource>,
    clock: Arc<dyn Clock>,
    policy: CachePolicy,
    id: String,
    slot: Mutex<Slot<T>>,
}

#[derive(Debug)]
struct Slot<T> {
    values: Option<Values<T>>,
    last_mismatch_refresh: Option<DateTime<Utc>>,
}

impl<T: SecretValue> CachedSecret<T> {
    pub fn new(source: Arc<dyn SecretSource>, clock: Arc<dyn Clock>, policy: CachePolicy, id: String) -> Self {
        CachedSecret { source, clock, policy, id, slot: Mutex::new(Slot { values: None, last_mismatch_refresh: None }) }
    }

    /// The secret's id in the store.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The clock the cache runs on (for the callers' own time checks).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Runs `test` on the cached values (read when missing or older than the TTL); on a mismatch,
    /// re-reads them once if allowed and tests again. `Some(previous)` on a match.
    ///
    /// Fails only when the secret has never been read and cannot be read now (or is unusable);
    /// a value read before keeps being used while the store is unreachable.
    pub async fn matched(&self, test: impl Fn(&Values<T>) -> Option<bool>) -> Result<Option<bool>, SecretError> {
        let mut slot = self.slot.lock().await;
        let now = self.clock.now();
        let fresh = slot.values.as_ref().is_some_and(|v| now - v.read_at < self.policy.ttl);
        if !fresh {
            self.refresh(&mut slot, now).await?;
        }
        let outcome = slot.values.as_ref().and_then(&test);
        if outcome.is_some() {
            return Ok(outcome);
        }
        let may_refresh = slot.last_mismatch_refresh.is_none_or(|at| now - at >= self.policy.refresh_after_mismatch);
        if fresh && may_refresh {
            slot.last_mismatch_refresh = Some(now);
            self.refresh(&mut slot, now).await?;
            return Ok(slot.values.as_ref().and_then(&test));
        }
        Ok(outcome)
    }

    /// Reads both stages. When the store fails and a value was read before, the old value stays
    /// in use (logged); only a first read that fails is an error. An unusable value (empty,
    /// malformed) is an error like an unreadable one: it can never authenticate a delivery.
    async fn refresh(&self, slot: &mut Slot<T>, now: DateTime<Utc>) -> Result<(), SecretError> {
        let secret_id = self.id.as_str();
        let unusable = |problem: &'static str| SecretError::Unreadable {
            id: secret_id.to_owned(),
            class: "UnusableValue".into(),
            message: problem.into(),
        };
        let read = async {
            // Both stages at once: the delivery waits for one round trip, not two.
            let (current, previous) = tokio::join!(
                self.source.read(secret_id, SecretStage::Current),
                self.source.read(secret_id, SecretStage::Previous),
            );
            let current = current?.ok_or_else(|| SecretError::Unreadable {
                id: secret_id.to_owned(),
                class: "NoCurrentValue".into(),
                message: "the secret has no AWSCURRENT value".into(),
            })?;
            let current = T::read(current.expose()).map_err(unusable)?;
            // An unusable previous value is only ignored: the current one authenticates.
            let previous = previous?.and_then(|p| T::read(p.expose()).ok());
            Ok::<_, SecretError>(Values { current, previous, read_at: now })
        };
        match (read.await, slot.values.as_mut()) {
            (Ok(values), _) => {
                slot.values = Some(values);
                Ok(())
            }
            (Err(error), Some(values)) => {
                // Try the store again after another TTL, not on every delivery while it is down; a
                // rotation is still picked up through the re-read on a mismatch.
                values.read_at = now;
                tracing::error!(secret_id, error = %error, "webhook secret could not be re-read; using the cached value");
                Ok(())
            }
            (Err(error), None) => Err(error),
        }
    }
}
