//! Authentication of QALITA deliveries by a shared secret of their own, in whichever of the usual
//! forms the sender can produce (QALITA documents none):
//!
//! - `Authorization: Bearer <secret>`, or the secret itself in the configured header;
//! - the hex HMAC-SHA256 of the body under the secret, in the configured header (`sha256=` prefix
//!   optional, GitHub's form);
//! - the Standard Webhooks form: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`
//!   with a replay window; the key is the secret as that specification reads it (base64, after an
//!   optional `whsec_`), or its bytes when it is not base64.
//!
//! The first proof present decides: a wrong one is refused even when another would match. Tokens
//! and signatures are compared in constant time; during a rotation the previous value is accepted.

use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{QalitaHeaders, QalitaRoute};
use crate::domain::SecretString;
use crate::ports::{Clock, SecretError, SecretSource};
use crate::webhook::secret_cache::{CachedSecret, SecretValue, Values};
use crate::webhook::signature::{SigningKey, TimestampProblem, check_timestamp};
use crate::webhook::verify::CachePolicy;

/// The shortest shared secret accepted: a shorter one is refused when read (`503`, and the log
/// says which secret to fix), never compared.
pub const MIN_SECRET_CHARS: usize = 16;

/// The shared secret and the keys derived from it.
struct SharedSecret {
    token: SecretString,
    /// The Standard Webhooks key.
    standard: SigningKey,
}

impl SecretValue for SharedSecret {
    fn read(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        if text.chars().count() < MIN_SECRET_CHARS {
            return Err("the QALITA webhook secret is shorter than 16 characters");
        }
        Ok(SharedSecret { token: SecretString::new(text), standard: standard_key(text) })
    }
}

impl SharedSecret {
    /// Whether `signature` (hex, any case, `sha256=` prefix optional) is the HMAC of `body`.
    fn signed(&self, body: &[u8], signature: &str) -> bool {
        let signature = signature.trim();
        let signature = match signature.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &signature[7..],
            _ => signature,
        };
        hmac_hex(self.token.expose(), body).as_bytes().ct_eq(signature.to_ascii_lowercase().as_bytes()).into()
    }
}

/// Why a QALITA delivery is not authentic. Each says what was wrong, never with what value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QalitaRejection {
    /// None of the accepted proofs is present.
    MissingCredentials,
    /// The bearer token or the token header is not the secret.
    WrongToken,
    /// The HMAC or the Standard Webhooks signature is not the body's.
    WrongSignature,
    /// `webhook-timestamp` is not a whole number of seconds.
    UnreadableTimestamp,
    /// `webhook-timestamp` is outside the window: a replay, or a clock far off.
    StaleTimestamp,
}

impl QalitaRejection {
    /// The reason given to the sender and written to the log.
    pub fn reason(self) -> &'static str {
        match self {
            QalitaRejection::MissingCredentials => {
                "no credentials: send the shared secret as Authorization: Bearer, in the token header, or sign the body"
            }
            QalitaRejection::WrongToken => "the token does not match the QALITA webhook secret",
            QalitaRejection::WrongSignature => "the signature does not match the body",
            QalitaRejection::UnreadableTimestamp => "webhook-timestamp is not a Unix time in seconds",
            QalitaRejection::StaleTimestamp => "webhook-timestamp is outside the accepted window",
        }
    }

    /// A short word for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            QalitaRejection::MissingCredentials => "missing_credentials",
            QalitaRejection::WrongToken => "wrong_token",
            QalitaRejection::WrongSignature => "wrong_signature",
            QalitaRejection::UnreadableTimestamp => "unreadable_timestamp",
            QalitaRejection::StaleTimestamp => "stale_timestamp",
        }
    }
}

/// What a check decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QalitaVerdict {
    /// Authentic; `previous` when only the previous secret matched (a rotation is under way).
    Accepted {
        /// The previous value matched.
        previous: bool,
    },
    /// From the headers alone: the proof is a signature over the body, worth reading.
    NeedsBody,
    /// Not authentic.
    Rejected(QalitaRejection),
}

/// The proof a delivery carries: the first present in this order.
enum Proof<'h> {
    Token(&'h [u8]),
    Standard { id: &'h str, timestamp: &'h str, signature: &'h str },
    Hmac(&'h str),
}

/// The QALITA webhook secret, cached, and the checks against it.
pub struct QalitaAuthenticator {
    secret: CachedSecret<SharedSecret>,
    tolerance: chrono::TimeDelta,
}

impl std::fmt::Debug for QalitaAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QalitaAuthenticator").field("secret_id", &self.secret.id()).finish()
    }
}

impl QalitaAuthenticator {
    /// Checks deliveries against the secret `secret_id` of `source`.
    pub fn new(
        source: Arc<dyn SecretSource>,
        secret_id: impl Into<String>,
        clock: Arc<dyn Clock>,
        policy: CachePolicy,
        route: &QalitaRoute,
    ) -> Self {
        QalitaAuthenticator {
            secret: CachedSecret::new(source, clock, policy, secret_id.into()),
            tolerance: route.tolerance,
        }
    }

    fn proof<'h>(headers: &QalitaHeaders<'h>) -> Option<Proof<'h>> {
        if let Some(token) = headers.bearer.or(headers.token) {
            return Some(Proof::Token(token));
        }
        if let (Some(id), Some(timestamp), Some(signature)) =
            (headers.webhook_id, headers.webhook_timestamp, headers.webhook_signature)
        {
            return Some(Proof::Standard { id, timestamp, signature });
        }
        headers.signature.map(Proof::Hmac)
    }

    /// What the headers alone decide: a token is checked; a signature's timestamp is checked and
    /// the body is worth reading; no proof at all is refused.
    ///
    /// Fails only when the secret has never been read and cannot be read now (or is unusable).
    pub async fn check_headers(&self, headers: &QalitaHeaders<'_>) -> Result<QalitaVerdict, SecretError> {
        match Self::proof(headers) {
            None => Ok(QalitaVerdict::Rejected(QalitaRejection::MissingCredentials)),
            Some(Proof::Token(token)) => self.token(token).await,
            Some(Proof::Standard { timestamp, .. }) => Ok(match self.window(timestamp) {
                Some(rejection) => QalitaVerdict::Rejected(rejection),
                None => QalitaVerdict::NeedsBody,
            }),
            Some(Proof::Hmac(_)) => Ok(QalitaVerdict::NeedsBody),
        }
    }

    /// The whole check of a delivery, with its exact body bytes. Never answers `NeedsBody`.
    pub async fn check(&self, headers: &QalitaHeaders<'_>, body: &[u8]) -> Result<QalitaVerdict, SecretError> {
        let test = |values: &Values<SharedSecret>, proof: &Proof<'_>| match proof {
            Proof::Token(token) => values.matching(|s| s.token.matches(token)),
            Proof::Standard { id, timestamp, signature } => {
                values.matching(|s| s.standard.verifies(id, timestamp, body, signature))
            }
            Proof::Hmac(signature) => values.matching(|s| s.signed(body, signature)),
        };
        let proof = match Self::proof(headers) {
            None => return Ok(QalitaVerdict::Rejected(QalitaRejection::MissingCredentials)),
            Some(proof) => proof,
        };
        let wrong = match &proof {
            Proof::Token(_) => QalitaRejection::WrongToken,
            Proof::Standard { timestamp, .. } => match self.window(timestamp) {
                Some(rejection) => return Ok(QalitaVerdict::Rejected(rejection)),
                None => QalitaRejection::WrongSignature,
            },
            Proof::Hmac(_) => QalitaRejection::WrongSignature,
        };
        Ok(match self.secret.matched(|values| test(values, &proof)).await? {
            Some(previous) => QalitaVerdict::Accepted { previous },
            None => QalitaVerdict::Rejected(wrong),
        })
    }

    async fn token(&self, token: &[u8]) -> Result<QalitaVerdict, SecretError> {
        Ok(match self.secret.matched(|values| values.matching(|s| s.token.matches(token))).await? {
            Some(previous) => QalitaVerdict::Accepted { previous },
            None => QalitaVerdict::Rejected(QalitaRejection::WrongToken),
        })
    }

    fn window(&self, timestamp: &str) -> Option<QalitaRejection> {
        match check_timestamp(timestamp, self.secret.now(), self.tolerance) {
            Ok(()) => None,
            Err(TimestampProblem::Unreadable) => Some(QalitaRejection::UnreadableTimestamp),
            Err(TimestampProblem::OutsideWindow) => Some(QalitaRejection::StaleTimestamp),
        }
    }
}

/// What a sender puts on a delivery, for the simulator and the tests: the hex HMAC-SHA256 of
/// `body` under `secret` (without prefix).
pub fn hmac_hex(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.trim().as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The Standard Webhooks key a sender derives from the shared secret, as the route reads it.
pub fn standard_key(secret: &str) -> SigningKey {
    let secret = secret.trim();
    SigningKey::parse(secret).unwrap_or_else(|_| SigningKey::from_bytes(secret.as_bytes()))
}
