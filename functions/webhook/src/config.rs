//! The function's settings, read from the environment once per cold start and validated there, so
//! that a mistake fails the deployment's first call with a message naming the variable.

use std::sync::Arc;

use chrono::TimeDelta;
use qalita_gitlab_core::ports::{Clock, SecretSource};
use qalita_gitlab_core::webhook::qalita::QalitaRoute;
use qalita_gitlab_core::webhook::qalita::auth::QalitaAuthenticator;
use qalita_gitlab_core::webhook::verify::{AuthMode, CachePolicy, Signing, WebhookAuthenticator};

/// The most API Gateway passes to a Lambda function synchronously (6 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// A setting that is missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {key}: {problem}")]
pub struct ConfigError {
    /// The environment variable.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// The webhook function's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `EVENT_QUEUE_URL`: the FIFO queue deliveries go to.
    pub queue_url: String,
    /// `WEBHOOK_SECRET_ID`: name or ARN of the webhook secret in Secrets Manager.
    pub webhook_secret_id: String,
    /// `MAX_BODY_BYTES`: larger deliveries get `413` (default 6 MiB).
    pub max_body_bytes: usize,
    /// `SECRET_CACHE_SECONDS` (default 300) and `SECRET_MISMATCH_REFRESH_SECONDS` (default 60).
    pub cache: CachePolicy,
    /// `WEBHOOK_AUTH_MODE` (`token`, the default; `signature`; `both`) with
    /// `WEBHOOK_SIGNING_SECRET_ID` (required unless `token`) and
    /// `WEBHOOK_SIGNATURE_TOLERANCE_SECONDS` (default 300): `None` in token mode.
    pub signing: Option<Signing>,
    /// The QALITA route: `QALITA_WEBHOOK_SECRET_ID` (unset: the route answers `404`) and the
    /// route's settings (see [`qalita_route`]).
    pub qalita: Option<QalitaSettings>,
}

/// Where the QALITA route's secret is and how it reads deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QalitaSettings {
    /// The shared secret's id in the secret store.
    pub secret_id: String,
    /// The pointers, header names and replay window.
    pub route: QalitaRoute,
}

impl Config {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |key: &'static str| {
            lookup(key)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError { key, problem: "is not set".into() })
        };
        let number = |key, default, range| number(&lookup, key, default, range);

        let queue_url = required("EVENT_QUEUE_URL")?;
        if !queue_url.starts_with("http") || !queue_url.ends_with(".fifo") {
            return Err(ConfigError {
                key: "EVENT_QUEUE_URL",
                problem: format!("must be the URL of a FIFO queue (ending in .fifo), got {queue_url:?}"),
            });
        }
        let webhook_secret_id = required("WEBHOOK_SECRET_ID")?;
        let max_body_bytes = number("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES as u64, 1024..=10 * 1024 * 1024)?;
        let ttl = number("SECRET_CACHE_SECONDS", 300, 1..=3600)?;
        let refresh = number("SECRET_MISMATCH_REFRESH_SECONDS", 60, 1..=3600)?;
        let mode = match lookup("WEBHOOK_AUTH_MODE").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            None => AuthMode::Token,
            Some(word) => AuthMode::parse(&word).ok_or_else(|| ConfigError {
                key: "WEBHOOK_AUTH_MODE",
                problem: format!("must be token, signature or both, got {word:?}"),
            })?,
        };
        let tolerance = number("WEBHOOK_SIGNATURE_TOLERANCE_SECONDS", 300, 1..=3600)?;
        let signing = match mode {
            AuthMode::Token => None,
            mode => Some(Signing {
                mode,
                secret_id: required("WEBHOOK_SIGNING_SECRET_ID").map_err(|e| ConfigError {
                    problem: format!("{} (WEBHOOK_AUTH_MODE is {})", e.problem, mode.as_str()),
                    ..e
                })?,
                tolerance: seconds(tolerance),
            }),
        };
        let qalita = match lookup("QALITA_WEBHOOK_SECRET_ID").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            None => None,
            Some(secret_id) => Some(QalitaSettings { secret_id, route: qalita_route(&lookup)? }),
        };
        Ok(Config {
            queue_url,
            webhook_secret_id,
            max_body_bytes: usize::try_from(max_body_bytes).unwrap_or(DEFAULT_MAX_BODY_BYTES),
            cache: CachePolicy { ttl: seconds(ttl), refresh_after_mismatch: seconds(refresh) },
            signing,
            qalita,
        })
    }

    /// The QALITA route's checks, when the route is configured.
    pub fn qalita_authenticator(
        &self,
        source: Arc<dyn SecretSource>,
        clock: Arc<dyn Clock>,
    ) -> Option<(QalitaAuthenticator, QalitaRoute)> {
        self.qalita.as_ref().map(|q| {
            (QalitaAuthenticator::new(source, q.secret_id.clone(), clock, self.cache, &q.route), q.route.clone())
        })
    }

    /// The delivery checks these settings describe, reading secrets from `source`.
    pub fn authenticator(&self, source: Arc<dyn SecretSource>, clock: Arc<dyn Clock>) -> WebhookAuthenticator {
        let auth = WebhookAuthenticator::new(source, self.webhook_secret_id.clone(), clock, self.cache);
        match &self.signing {
            Some(signing) => auth.with_signing(signing.clone()),
            None => auth,
        }
    }
}

/// The QALITA route's settings, each optional (the defaults accept the obvious shapes):
/// `QALITA_WEBHOOK_EVENT_POINTERS`, `QALITA_WEBHOOK_ISSUE_POINTERS`,
/// `QALITA_WEBHOOK_COMMENT_ISSUE_POINTERS` (comma-separated JSON pointers, tried in order),
/// `QALITA_WEBHOOK_TOKEN_HEADER`, `QALITA_WEBHOOK_SIGNATURE_HEADER`,
/// `QALITA_WEBHOOK_DELIVERY_HEADERS` (comma-separated) and
/// `QALITA_WEBHOOK_SIGNATURE_TOLERANCE_SECONDS` (default 300). `serve` reads the same variables.
pub fn qalita_route(lookup: impl Fn(&str) -> Option<String>) -> Result<QalitaRoute, ConfigError> {
    let mut route = QalitaRoute::default();
    let set = |key: &'static str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let named = |key: &'static str| {
        move |e: qalita_gitlab_core::webhook::qalita::RouteSettingError| ConfigError { key, problem: e.0 }
    };
    if let Some(list) = set("QALITA_WEBHOOK_EVENT_POINTERS") {
        route.event_pointers = QalitaRoute::pointers(&list).map_err(named("QALITA_WEBHOOK_EVENT_POINTERS"))?;
    }
    if let Some(list) = set("QALITA_WEBHOOK_ISSUE_POINTERS") {
        route.issue_pointers = QalitaRoute::pointers(&list).map_err(named("QALITA_WEBHOOK_ISSUE_POINTERS"))?;
    }
    if let Some(list) = set("QALITA_WEBHOOK_COMMENT_ISSUE_POINTERS") {
        route.comment_issue_pointers =
            QalitaRoute::pointers(&list).map_err(named("QALITA_WEBHOOK_COMMENT_ISSUE_POINTERS"))?;
    }
    if let Some(name) = set("QALITA_WEBHOOK_TOKEN_HEADER") {
        route.token_header = QalitaRoute::header(&name).map_err(named("QALITA_WEBHOOK_TOKEN_HEADER"))?;
    }
    if let Some(name) = set("QALITA_WEBHOOK_SIGNATURE_HEADER") {
        route.signature_header = QalitaRoute::header(&name).map_err(named("QALITA_WEBHOOK_SIGNATURE_HEADER"))?;
    }
    if let Some(list) = set("QALITA_WEBHOOK_DELIVERY_HEADERS") {
        route.delivery_headers = QalitaRoute::headers(&list).map_err(named("QALITA_WEBHOOK_DELIVERY_HEADERS"))?;
    }
    route.tolerance = seconds(number(&lookup, "QALITA_WEBHOOK_SIGNATURE_TOLERANCE_SECONDS", 300, 1..=3600)?);
    Ok(route)
}

/// A whole number setting within `range`, `default` when unset.
fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(raw) = lookup(key) else {
        return Ok(default);
    };
    let value: u64 =
        raw.trim().parse().map_err(|_| ConfigError { key, problem: format!("must be a whole number, got {raw:?}") })?;
    match range.contains(&value) {
        true => Ok(value),
        false => Err(ConfigError {
            key,
            problem: format!("must be between {} and {}, got {value}", range.start(), range.end()),
        }),
    }
}

fn seconds(value: u64) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(value).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| vars.get(k).cloned())
    }

    const QUEUE: (&str, &str) =
        ("EVENT_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/sync-events.fifo");
    const SECRET: (&str, &str) = ("WEBHOOK_SECRET_ID", "qalita-gitlab/webhook-secret");

    #[test]
    fn defaults_apply_when_only_the_required_settings_are_given() {
        let config = config(&[QUEUE, SECRET]).unwrap();
        assert_eq!(config.max_body_bytes, 6 * 1024 * 1024);
        assert_eq!(config.cache, CachePolicy::default());
        assert_eq!(config.signing, None, "token only");
    }

    #[test]
    fn signatures_are_turned_on_by_the_mode_and_need_the_signing_secret() {
        let signing = ("WEBHOOK_SIGNING_SECRET_ID", "qalita-gitlab/webhook-signing-secret");
        let config = config(&[QUEUE, SECRET, ("WEBHOOK_AUTH_MODE", "both"), signing]).unwrap();
        let expected = Signing {
            mode: AuthMode::Both,
            secret_id: "qalita-gitlab/webhook-signing-secret".into(),
            tolerance: TimeDelta::minutes(5),
        };
        assert_eq!(config.signing, Some(expected));
        let config = config_with(&[
            QUEUE,
            SECRET,
            ("WEBHOOK_AUTH_MODE", "signature"),
            signing,
            ("WEBHOOK_SIGNATURE_TOLERANCE_SECONDS", "60"),
        ]);
        assert_eq!(config.signing.map(|s| (s.mode, s.tolerance)), Some((AuthMode::Signature, TimeDelta::minutes(1))));
        let token_only = config_with(&[QUEUE, SECRET, ("WEBHOOK_AUTH_MODE", "token"), signing]);
        assert_eq!(token_only.signing, None, "a signing secret alone does not turn signatures on");
    }

    fn config_with(vars: &[(&str, &str)]) -> Config {
        config(vars).unwrap()
    }

    #[test]
    fn each_mistake_names_the_variable_and_the_problem() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[SECRET], "configuration: EVENT_QUEUE_URL: is not set"),
            (
                &[("EVENT_QUEUE_URL", "https://sqs/q"), SECRET],
                "configuration: EVENT_QUEUE_URL: must be the URL of a FIFO queue (ending in .fifo), got \"https://sqs/q\"",
            ),
            (&[QUEUE], "configuration: WEBHOOK_SECRET_ID: is not set"),
            (&[QUEUE, ("WEBHOOK_SECRET_ID", "  ")], "configuration: WEBHOOK_SECRET_ID: is not set"),
            (
                &[QUEUE, SECRET, ("MAX_BODY_BYTES", "6MB")],
                "configuration: MAX_BODY_BYTES: must be a whole number, got \"6MB\"",
            ),
            (
                &[QUEUE, SECRET, ("MAX_BODY_BYTES", "0")],
                "configuration: MAX_BODY_BYTES: must be between 1024 and 10485760, got 0",
            ),
            (
                &[QUEUE, SECRET, ("SECRET_CACHE_SECONDS", "-1")],
                "configuration: SECRET_CACHE_SECONDS: must be a whole number, got \"-1\"",
            ),
            (
                &[QUEUE, SECRET, ("WEBHOOK_AUTH_MODE", "hmac")],
                "configuration: WEBHOOK_AUTH_MODE: must be token, signature or both, got \"hmac\"",
            ),
            (
                &[QUEUE, SECRET, ("WEBHOOK_AUTH_MODE", "signature")],
                "configuration: WEBHOOK_SIGNING_SECRET_ID: is not set (WEBHOOK_AUTH_MODE is signature)",
            ),
        ];
        for (vars, expected) in cases {
            assert_eq!(config(vars).unwrap_err().to_string(), *expected);
        }
    }
}
