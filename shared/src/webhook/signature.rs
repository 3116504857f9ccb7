//! Signed webhooks, as the Standard Webhooks specification defines them and GitLab sends them when a
//! hook has a signing token: `webhook-id`, `webhook-timestamp` (Unix seconds) and
//! `webhook-signature: v1,<base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, several
//! space-separated entries during a key rotation. The key is the signing secret `whsec_<base64>`,
//! decoded. Pure: no clock, no store; the window check takes `now`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix of a Standard Webhooks signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// The version tag of an HMAC-SHA256 signature entry.
const VERSION: &str = "v1";

/// A signing key, decoded from its `whsec_<base64>` form. Never printed.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// Why a signing secret cannot be used. Says nothing of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Empty, or only whitespace.
    #[error("the signing secret is empty")]
    Empty,
    /// Not base64 after the optional `whsec_` prefix.
    #[error("the signing secret is not whsec_<base64> (GitLab's form)")]
    NotBase64,
    /// Decodes to fewer than 16 bytes: too weak to be a real signing key.
    #[error("the signing secret decodes to {0} bytes; at least 16 are needed (GitLab uses 32)")]
    TooShort(usize),
}

impl SigningKey {
    /// Reads a signing secret: `whsec_<base64>` (GitLab's form), or the bare base64 that other
    /// Standard Webhooks senders use. Surrounding whitespace (a file's final newline) is ignored.
    pub fn parse(secret: &str) -> Result<Self, KeyError> {
        let secret = secret.trim();
        let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
        if encoded.is_empty() {
            return Err(KeyError::Empty);
        }
        let key = STANDARD.decode(encoded).map_err(|_| KeyError::NotBase64)?;
        if key.len() < 16 {
            return Err(KeyError::TooShort(key.len()));
        }
        Ok(SigningKey(key))
    }

    /// A key of these bytes as they are (a sender's secret that is not base64).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        SigningKey(bytes.to_vec())
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length; this cannot fail.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value a sender puts on this delivery (`v1,<base64>`).
    pub fn sign(&self, id: &str, timestamp: &str, body: &[u8]) -> String {
        format!("{VERSION},{}", STANDARD.encode(self.mac(id, timestamp, body).finalize().into_bytes()))
    }

    /// Whether one of the header's `v1,` entries is this key's signature of the delivery. Every
    /// entry is compared in constant time; entries of other versions are skipped.
    pub fn verifies(&self, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
        let expected = self.mac(id, timestamp, body);
        let mut matched = false;
        for entry in header.split_ascii_whitespace() {
            let Some(signature) = entry.strip_prefix(VERSION).and_then(|rest| rest.strip_prefix(',')) else {
                continue;
            };
            let Ok(signature) = STANDARD.decode(signature) else {
                continue;
            };
            // No early return: the time taken does not tell which entry matched.
            matched |= expected.clone().verify_slice(&signature).is_ok();
        }
        matched
    }
}

/// Why the timestamp of a signed delivery is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampProblem {
    /// Not a whole number of seconds.
    Unreadable,
    /// Further from now than the window allows (a replay, or a clock far off).
    OutsideWindow,
}

/// Checks `webhook-timestamp` (Unix seconds) against `now`: within `tolerance` either way.
pub fn check_timestamp(timestamp: &str, now: DateTime<Utc>, tolerance: TimeDelta) -> Result<(), TimestampProblem> {
    let seconds: i64 = timestamp.trim().parse().map_err(|_| TimestampProblem::Unreadable)?;
    let sent = DateTime::<Utc>::from_timestamp(seconds, 0).ok_or(TimestampProblem::Unreadable)?;
    match (now - sent).abs() <= tolerance {
        true => Ok(()),
        false => Err(TimestampProblem::OutsideWindow),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// The example of the Standard Webhooks specification's reference implementations.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: &str = "1614265330";
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn key() -> SigningKey {
        SigningKey::parse(SPEC_SECRET).unwrap()
    }

    #[test]
    fn the_specifications_example_is_signed_and_verified() {
        assert_eq!(key().sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), SPEC_SIGNATURE);
        assert!(key().verifies(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE));
    }

    #[test]
    fn a_changed_body_id_or_timestamp_does_not_verify() {
        assert!(!key().verifies(SPEC_ID, SPEC_TIMESTAMP, br#"{"test": 2432232315}"#, SPEC_SIGNATURE));
        assert!(!key().verifies("msg_other", SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE));
        assert!(!key().verifies(SPEC_ID, "1614265331", SPEC_BODY, SPEC_SIGNATURE));
    }

    #[test]
    fn any_v1_entry_of_a_rotation_verifies_and_other_versions_are_skipped() {
        let header = format!("v1a,{} v1,bm90IHRoaXM= {SPEC_SIGNATURE}", &SPEC_SIGNATURE[3..]);
        assert!(key().verifies(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, &header));
        assert!(!key().verifies(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
        assert!(!key().verifies(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, "v1,"));
        assert!(!key().verifies(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, "v1,***"));
        assert!(!key().verifies(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, ""));
    }

    #[test]
    fn another_key_does_not_verify() {
        let other = SigningKey::parse("whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=").unwrap();
        assert!(!other.verifies(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE));
    }

    #[test]
    fn unusable_secrets_are_refused_with_the_reason_and_never_the_value() {
        assert_eq!(SigningKey::parse("").unwrap_err(), KeyError::Empty);
        assert_eq!(SigningKey::parse("  \n").unwrap_err(), KeyError::Empty);
        assert_eq!(SigningKey::parse("whsec_").unwrap_err(), KeyError::Empty);
        assert_eq!(SigningKey::parse("whsec_not base64!").unwrap_err(), KeyError::NotBase64);
        assert_eq!(SigningKey::parse("whsec_c2hvcnQ=").unwrap_err(), KeyError::TooShort(5));
        assert!(SigningKey::parse(&format!("{SPEC_SECRET}\n")).is_ok(), "a file's newline is ignored");
        assert_eq!(format!("{:?}", key()), "SigningKey([redacted])");
    }

    #[test]
    fn the_timestamp_must_be_within_the_window_either_way() {
        let now = Utc.timestamp_opt(1_614_265_330, 0).unwrap();
        let window = TimeDelta::minutes(5);
        assert_eq!(check_timestamp("1614265330", now, window), Ok(()));
        assert_eq!(check_timestamp("1614265030", now, window), Ok(()), "exactly 5 minutes old");
        assert_eq!(check_timestamp("1614265029", now, window), Err(TimestampProblem::OutsideWindow));
        assert_eq!(check_timestamp("1614265631", now, window), Err(TimestampProblem::OutsideWindow));
        assert_eq!(check_timestamp("soon", now, window), Err(TimestampProblem::Unreadable));
        assert_eq!(check_timestamp("99999999999999999", now, window), Err(TimestampProblem::Unreadable));
    }
}
