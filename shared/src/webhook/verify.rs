//! Authentication of deliveries: `X-Gitlab-Token` against the webhook secret, and, when the hook
//! has a signing token, the Standard Webhooks signature over the exact body bytes (see
//! [`super::signature`]). Secrets are read from the secret store and cached; during a rotation both
//! the current and the previous value are accepted; on a mismatch a secret is re-read, at most once
//! per `refresh_after_mismatch`, to pick up a rotation that happened since it was cached.
//!
//! A secret that is empty once trimmed can never authenticate anything: it is refused when read
//! (the delivery gets `503`, the log says which secret to fix), never compared.
//!
//! The check runs in two steps so that an HTTP server can refuse a delivery before reading its
//! body: [`WebhookAuthenticator::check_headers`] (the token, the signature headers' presence and
//! the timestamp's window), then [`WebhookAuthenticator::check`] (all of it, with the body).

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::Mutex;

use super::DeliveryHeaders;
use super::signature::{SigningKey, TimestampProblem, check_timestamp};
use crate::domain::SecretString;
use crate::ports::{Clock, SecretError, SecretSource, SecretStage};

/// Which proofs a delivery must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// `X-Gitlab-Token` only (GitLab's secret token; every GitLab version).
    #[default]
    Token,
    /// The signature only (a hook with a signing token and no secret token).
    Signature,
    /// Both: the token and a valid signature.
    Both,
}

impl AuthMode {
    /// The setting's word: `token`, `signature` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Token => "token",
            AuthMode::Signature => "signature",
            AuthMode::Both => "both",
        }
    }

    /// Reads the setting's word (case and surrounding spaces ignored).
    pub fn parse(word: &str) -> Option<Self> {
        [AuthMode::Token, AuthMode::Signature, AuthMode::Both]
            .into_iter()
            .find(|mode| word.trim().eq_ignore_ascii_case(mode.as_str()))
    }

    /// Whether only the whole body can authenticate a delivery (a signature is required).
    pub fn requires_body(self) -> bool {
        self.needs_signature()
    }

    fn needs_token(self) -> bool {
        matches!(self, AuthMode::Token | AuthMode::Both)
    }

    fn needs_signature(self) -> bool {
        matches!(self, AuthMode::Signature | AuthMode::Both)
    }
}

/// Why a delivery is not authentic. Each says what was wrong, never with what value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No `X-Gitlab-Token` header.
    MissingToken,
    /// A token that is neither secret (an empty header included).
    WrongToken,
    /// `webhook-id`, `webhook-timestamp` or `webhook-signature` is absent.
    MissingSignature,
    /// `webhook-timestamp` is not a whole number of seconds.
    UnreadableTimestamp,
    /// `webhook-timestamp` is outside the window: a replay, or a clock far off.
    StaleTimestamp,
    /// No `v1,` entry of `webhook-signature` is the signature of this body.
    WrongSignature,
}

impl Rejection {
    /// The reason given to the sender and written to the log.
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::MissingToken => "missing X-Gitlab-Token header",
            Rejection::WrongToken => "X-Gitlab-Token does not match the webhook secret",
            Rejection::MissingSignature => "missing webhook-id, webhook-timestamp or webhook-signature header",
            Rejection::UnreadableTimestamp => "webhook-timestamp is not a Unix time in seconds",
            Rejection::StaleTimestamp => "webhook-timestamp is outside the accepted window",
            Rejection::WrongSignature => "webhook-signature does not match the body",
        }
    }

    /// A short word for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::MissingToken => "missing_token",
            Rejection::WrongToken => "wrong_token",
            Rejection::MissingSignature => "missing_signature",
            Rejection::UnreadableTimestamp => "unreadable_timestamp",
            Rejection::StaleTimestamp => "stale_timestamp",
            Rejection::WrongSignature => "wrong_signature",
        }
    }
}

/// The outcome of checking a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Authentic. `previous` when a proof matched only the previous secret (a rotation is in
    /// progress).
    Accepted {
        /// A proof matched the previous value of its secret.
        previous: bool,
    },
    /// Not authentic.
    Rejected(Rejection),
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

/// The default window of `webhook-timestamp` (the Standard Webhooks recommendation).
pub const DEFAULT_SIGNATURE_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// Where the signing secret is and how old a signed delivery may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signing {
    /// Which proofs are required.
    pub mode: AuthMode,
    /// The signing secret's id in the secret store (`whsec_<base64>`).
    pub secret_id: String,
    /// How far `webhook-timestamp` may be from now, either way.
    pub tolerance: TimeDelta,
}

/// One secret's two values, usable as they are.
#[derive(Debug)]
struct Values<T> {
    current: T,
    previous: Option<T>,
    read_at: DateTime<Utc>,
}

/// One cached secret: its values, and when a mismatch last made it re-read.
#[derive(Debug)]
struct Slot<T> {
    values: Option<Values<T>>,
    last_mismatch_refresh: Option<DateTime<Utc>>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot { values: None, last_mismatch_refresh: None }
    }
}

/// How a secret's text becomes a usable value (a token, a signing key), and why it cannot.
trait SecretValue: Sized {
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
            super::signature::KeyError::Empty => "the signing secret is empty or only whitespace",
            super::signature::KeyError::NotBase64 => "the signing secret is not whsec_<base64> (GitLab's form)",
            super::signature::KeyError::TooShort(_) => "the signing secret is shorter than 16 bytes",
        })
    }
}

/// The webhook secrets, cached, and the checks against them.
pub struct WebhookAuthenticator {
    source: Arc<dyn SecretSource>,
    token_secret_id: String,
    clock: Arc<dyn Clock>,
    policy: CachePolicy,
    mode: AuthMode,
    signing: Option<Signing>,
    token: Mutex<Slot<SecretString>>,
    keys: Mutex<Slot<SigningKey>>,
}

impl WebhookAuthenticator {
    /// An authenticator checking `X-Gitlab-Token` against the secret `secret_id` of `source`.
    pub fn new(
        source: Arc<dyn SecretSource>,
        secret_id: impl Into<String>,
        clock: Arc<dyn Clock>,
        policy: CachePolicy,
    ) -> Self {
        WebhookAuthenticator {
            source,
            token_secret_id: secret_id.into(),
            clock,
            policy,
            mode: AuthMode::Token,
            signing: None,
            token: Mutex::new(Slot::default()),
            keys: Mutex::new(Slot::default()),
        }
    }

    /// The same, with signatures checked as `signing` says (its mode replaces token-only).
    pub fn with_signing(mut self, signing: Signing) -> Self {
        self.mode = signing.mode;
        self.signing = Some(signing);
        self
    }

    /// Which proofs are required.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// What the headers alone decide: the token, the presence of the signature headers and the
    /// timestamp's window. `Accepted` here means only "worth reading the body"; the signature is
    /// checked by [`Self::check`].
    ///
    /// Fails only when a secret has never been read and cannot be read now (or is unusable, an
    /// empty one included); a secret that was read before keeps being used while the store is
    /// unreachable.
    pub async fn check_headers(&self, headers: &DeliveryHeaders<'_>) -> Result<Verdict, SecretError> {
        let mut previous = false;
        if self.mode.needs_token() {
            match self.check_token(headers.token).await? {
                Verdict::Accepted { previous: p } => previous |= p,
                rejected => return Ok(rejected),
            }
        }
        if let Some(signing) = self.signing.as_ref().filter(|_| self.mode.needs_signature()) {
            let (Some(_), Some(timestamp), Some(_)) =
                (headers.webhook_id, headers.webhook_timestamp, headers.webhook_signature)
            else {
                return Ok(Verdict::Rejected(Rejection::MissingSignature));
            };
            match check_timestamp(timestamp, self.clock.now(), signing.tolerance) {
                Ok(()) => {}
                Err(TimestampProblem::Unreadable) => return Ok(Verdict::Rejected(Rejection::UnreadableTimestamp)),
                Err(TimestampProblem::OutsideWindow) => return Ok(Verdict::Rejected(Rejection::StaleTimestamp)),
            }
        }
        Ok(Verdict::Accepted { previous })
    }

    /// The whole check of a delivery: [`Self::check_headers`], then the signature over the exact
    /// body bytes when one is required.
    pub async fn check(&self, headers: &DeliveryHeaders<'_>, body: &[u8]) -> Result<Verdict, SecretError> {
        let verdict = self.check_headers(headers).await?;
        let Verdict::Accepted { previous } = verdict else {
            return Ok(verdict);
        };
        if !self.mode.needs_signature() {
            return Ok(verdict);
        }
        let (Some(id), Some(timestamp), Some(header)) =
            (headers.webhook_id, headers.webhook_timestamp, headers.webhook_signature)
        else {
            return Ok(Verdict::Rejected(Rejection::MissingSignature));
        };
        let test = |values: &Values<SigningKey>| {
            let current = values.current.verifies(id, timestamp, body, header);
            let old = values.previous.as_ref().is_some_and(|k| k.verifies(id, timestamp, body, header));
            match (current, old) {
                (true, _) => Some(false),
                (false, true) => Some(true),
                (false, false) => None,
            }
        };
        let secret_id = self.signing.as_ref().map_or("", |s| s.secret_id.as_str());
        Ok(match self.matched(&self.keys, secret_id, test).await? {
            Some(old) => Verdict::Accepted { previous: previous || old },
            None => Verdict::Rejected(Rejection::WrongSignature),
        })
    }

    async fn check_token(&self, token: Option<&[u8]>) -> Result<Verdict, SecretError> {
        let Some(token) = token else {
            return Ok(Verdict::Rejected(Rejection::MissingToken));
        };
        let test = |values: &Values<SecretString>| {
            // Both comparisons always run, so the time taken does not tell which secret matched.
            let current = values.current.matches(token);
            let previous = values.previous.as_ref().is_some_and(|p| p.matches(token));
            match (current, previous) {
                (true, _) => Some(false),
                (false, true) => Some(true),
                (false, false) => None,
            }
        };
        Ok(match self.matched(&self.token, &self.token_secret_id, test).await? {
            Some(previous) => Verdict::Accepted { previous },
            None => Verdict::Rejected(Rejection::WrongToken),
        })
    }

    /// Runs `test` on the cached values of a secret (read when missing or older than the TTL);
    /// on a mismatch, re-reads it once if allowed and tests again. `Some(previous)` on a match.
    async fn matched<T: SecretValue>(
        &self,
        slot: &Mutex<Slot<T>>,
        secret_id: &str,
        test: impl Fn(&Values<T>) -> Option<bool>,
    ) -> Result<Option<bool>, SecretError> {
        let mut slot = slot.lock().await;
        let now = self.clock.now();
        let fresh = slot.values.as_ref().is_some_and(|v| now - v.read_at < self.policy.ttl);
        if !fresh {
            self.refresh(&mut slot, secret_id, now).await?;
        }
        let outcome = slot.values.as_ref().and_then(&test);
        if outcome.is_some() {
            return Ok(outcome);
        }
        let may_refresh = slot.last_mismatch_refresh.is_none_or(|at| now - at >= self.policy.refresh_after_mismatch);
        if fresh && may_refresh {
            slot.last_mismatch_refresh = Some(now);
            self.refresh(&mut slot, secret_id, now).await?;
            return Ok(slot.values.as_ref().and_then(&test));
        }
        Ok(outcome)
    }

    /// Reads both stages. When the store fails and a value was read before, the old value stays
    /// in use (logged); only a first read that fails is an error. An unusable value (empty,
    /// malformed) is an error like an unreadable one: it can never authenticate a delivery.
    async fn refresh<T: SecretValue>(
        &self,
        slot: &mut Slot<T>,
        secret_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SecretError> {
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

#[cfg(test)]
mod tests;
