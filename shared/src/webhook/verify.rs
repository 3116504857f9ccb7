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

use chrono::TimeDelta;

use super::DeliveryHeaders;
use super::secret_cache::{CachedSecret, Values};
use super::signature::{SigningKey, TimestampProblem, check_timestamp};
use crate::domain::SecretString;
use crate::ports::{Clock, SecretError, SecretSource};

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

/// The webhook secrets, cached, and the checks against them.
pub struct WebhookAuthenticator {
    source: Arc<dyn SecretSource>,
    clock: Arc<dyn Clock>,
    policy: CachePolicy,
    mode: AuthMode,
    signing: Option<Signing>,
    token: CachedSecret<SecretString>,
    keys: Option<CachedSecret<SigningKey>>,
}

impl std::fmt::Debug for WebhookAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAuthenticator").field("mode", &self.mode).field("signing", &self.signing).finish()
    }
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
            token: CachedSecret::new(source.clone(), clock.clone(), policy, secret_id.into()),
            source,
            clock,
            policy,
            mode: AuthMode::Token,
            signing: None,
            keys: None,
        }
    }

    /// The same, with signatures checked as `signing` says (its mode replaces token-only).
    pub fn with_signing(mut self, signing: Signing) -> Self {
        self.mode = signing.mode;
        self.keys =
            Some(CachedSecret::new(self.source.clone(), self.clock.clone(), self.policy, signing.secret_id.clone()));
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
        let Some(keys) = &self.keys else {
            return Ok(Verdict::Rejected(Rejection::WrongSignature));
        };
        let test = |values: &Values<SigningKey>| values.matching(|key| key.verifies(id, timestamp, body, header));
        Ok(match keys.matched(test).await? {
            Some(old) => Verdict::Accepted { previous: previous || old },
            None => Verdict::Rejected(Rejection::WrongSignature),
        })
    }

    async fn check_token(&self, token: Option<&[u8]>) -> Result<Verdict, SecretError> {
        let Some(token) = token else {
            return Ok(Verdict::Rejected(Rejection::MissingToken));
        };
        let test = |values: &Values<SecretString>| values.matching(|secret| secret.matches(token));
        Ok(match self.token.matched(test).await? {
            Some(previous) => Verdict::Accepted { previous },
            None => Verdict::Rejected(Rejection::WrongToken),
        })
    }
}

#[cfg(test)]
mod tests;
