//! Secret values (tokens, webhook secrets). They never print: `Debug` and `Display` show `[redacted]`,
//! and comparison with an untrusted value runs in constant time.

use std::fmt;

use subtle::ConstantTimeEq;

/// A secret string: a GitLab token, the webhook secret, the QALITA API token.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` equals this secret. The time taken does not depend on where the two
    /// differ, so a caller cannot learn the secret byte by byte from response times.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        // `ct_eq` on slices of different lengths returns false at once; that leaks only the length,
        // which the attacker cannot use to learn the content.
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_its_value() {
        let secret = SecretString::new("hunter2-webhook");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
    }

    #[test]
    fn only_the_exact_value_matches() {
        let secret = SecretString::new("s3cret");
        assert!(secret.matches(b"s3cret"));
        assert!(!secret.matches(b"s3cre"));
        assert!(!secret.matches(b"s3cret "));
        assert!(!secret.matches(b"S3cret"));
        assert!(!secret.matches(b""));
    }
}
