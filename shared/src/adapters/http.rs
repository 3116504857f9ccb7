//! What the GitLab and QALITA clients share: building a `reqwest` client with time-outs and an
//! optional private CA, and classifying every HTTP answer into success, "not found", "try later"
//! (429, 5xx, time-out, no connection) and "will not work" (other 4xx), keeping the server's
//! message and the wait it asked for.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use reqwest::{Response, StatusCode, header};

use crate::ports::{ApiError, Service, TransientKind};

/// Connection settings of one remote API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Time to establish a connection.
    pub connect_timeout: Duration,
    /// Time for a whole request and its answer.
    pub total_timeout: Duration,
    /// A PEM bundle of extra trusted CAs (a self-managed server behind a private CA).
    pub ca_bundle: Option<PathBuf>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout: Duration::from_secs(3),
            total_timeout: Duration::from_secs(20),
            ca_bundle: None,
        }
    }
}

/// A client that cannot be built (an unreadable or invalid CA bundle).
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    /// The CA bundle file cannot be read.
    #[error("cannot read the CA bundle {path}: {source}")]
    CaBundleUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The CA bundle is not PEM certificates, or the client cannot be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Builds a client: TLS verified (system roots, plus the CA bundle when given), time-outs set,
/// redirects not followed (a 3xx is answered as an error the caller classifies as permanent).
pub fn build_client(settings: &HttpSettings, user_agent: &str) -> Result<reqwest::Client, HttpSetupError> {
    let mut builder = reqwest::Client::builder()
        // Never follow a redirect: reqwest drops `Authorization` on a cross-host redirect, but
        // not GitLab's `PRIVATE-TOKEN`, which would then reach whatever host the redirect names.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.total_timeout)
        .user_agent(user_agent);
    if let Some(path) = &settings.ca_bundle {
        let pem =
            std::fs::read(path).map_err(|source| HttpSetupError::CaBundleUnreadable { path: path.clone(), source })?;
        for certificate in reqwest::Certificate::from_pem_bundle(&pem)? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder.build()?)
}

/// Where a client's requests go when not to the network: a function that answers in process.
/// The deterministic simulation (`simulation/`) gives the real clients one over the simulators'
/// own request pipelines, so that every call keeps the client's encoding, classification and
/// decoding, and no socket, thread or timer is involved.
#[async_trait::async_trait]
pub trait Exchange: Send + Sync {
    /// Answers `request`, or says why there is no answer (the request may or may not have been
    /// acted on: a time-out after the server wrote is [`TransientKind::Timeout`]).
    async fn exchange(&self, request: reqwest::Request) -> Result<Response, NoAnswer>;
}

/// Why an [`Exchange`] gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoAnswer {
    /// Time-out, no connection, or a connection cut.
    pub kind: TransientKind,
    /// What happened, for the log.
    pub message: String,
}

/// Sends `request` over the network, or through `exchange` when one is set; a request that got
/// no answer is a transient [`ApiError`] of `service`.
pub async fn send(
    exchange: Option<&dyn Exchange>,
    request: reqwest::RequestBuilder,
    service: Service,
) -> Result<Response, ApiError> {
    let Some(exchange) = exchange else {
        return request.send().await.map_err(|error| transport_error(service, error));
    };
    let request = request.build().map_err(|error| transport_error(service, error))?;
    exchange.exchange(request).await.map_err(|no| ApiError::Transient {
        service,
        kind: no.kind,
        retry_after: None,
        message: no.message,
    })
}

/// Counts one answer in the metrics: its status class and, for a 429, the wait it asked for.
pub fn record_answer(service: Service, response: &Response) {
    let status = response.status();
    let wait = (status == StatusCode::TOO_MANY_REQUESTS).then(|| retry_after(response.headers())).flatten();
    crate::metrics::api_call(service, Some(status.as_u16()), wait);
}

/// Classifies a failure to get any answer (connection refused, time-out, TLS).
pub fn transport_error(service: Service, error: reqwest::Error) -> ApiError {
    let kind = if error.is_timeout() {
        TransientKind::Timeout
    } else if error.is_connect() {
        TransientKind::Connect
    } else {
        TransientKind::Transport
    };
    // The URL is left out: it may carry a query, and the message says enough.
    ApiError::Transient { service, kind, retry_after: None, message: error.without_url().to_string() }
}

/// Turns a non-success answer into an [`ApiError`]; `what` names the object for a 404 that means
/// "this object does not exist" (pass `None` where a 404 means a missing project or route).
pub async fn error_from(service: Service, response: Response, what: Option<String>) -> ApiError {
    error_from_scrubbed(service, response, what, &[]).await
}

/// [`error_from`], with every occurrence of `secrets` in the server's message replaced by
/// `[redacted]`: a proxy or a debug page may echo the request's token back.
pub async fn error_from_scrubbed(
    service: Service,
    response: Response,
    what: Option<String>,
    secrets: &[&str],
) -> ApiError {
    let error = error_from_unscrubbed(service, response, what).await;
    if secrets.iter().all(|s| s.len() < 8) {
        return error;
    }
    let scrub = |message: String| {
        secrets.iter().filter(|s| s.len() >= 8).fold(message, |text, secret| text.replace(secret, "[redacted]"))
    };
    match error {
        ApiError::Transient { service, kind, retry_after, message } => {
            ApiError::Transient { service, kind, retry_after, message: scrub(message) }
        }
        ApiError::Permanent { service, status, message } => {
            ApiError::Permanent { service, status, message: scrub(message) }
        }
        other => other,
    }
}

async fn error_from_unscrubbed(service: Service, response: Response, what: Option<String>) -> ApiError {
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let message = message_of(response).await;
    match status {
        StatusCode::NOT_FOUND if what.is_some() => ApiError::NotFound { service, what: what.unwrap_or_default() },
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => {
            ApiError::Transient { service, kind: TransientKind::Http(status.as_u16()), retry_after, message }
        }
        s if s.is_server_error() => {
            ApiError::Transient { service, kind: TransientKind::Http(s.as_u16()), retry_after, message }
        }
        s => ApiError::Permanent { service, status: s.as_u16(), message },
    }
}

/// The wait a server asked for: `Retry-After` (seconds or an HTTP date), else `RateLimit-Reset`
/// (a Unix time, as GitLab sends it).
pub fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(value) = text("retry-after") {
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(date) = chrono::DateTime::parse_from_rfc2822(value) {
            return Some((date.with_timezone(&Utc) - Utc::now()).to_std().unwrap_or_default());
        }
    }
    let reset = text("ratelimit-reset")?.parse::<i64>().ok()?;
    let now = Utc::now().timestamp();
    Some(Duration::from_secs(u64::try_from(reset - now).unwrap_or(0)))
}

/// GitLab's error bodies are `{"message": …}` or `{"error": …}` (the message may be an object of
/// field errors); others are text. At most 500 characters are kept.
async fn message_of(response: Response) -> String {
    let text = response.text().await.unwrap_or_default();
    let message = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(json) => match json.get("message").or_else(|| json.get("error")).or_else(|| json.get("detail")) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => text,
        },
        Err(_) => text,
    };
    message.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response::from(http::Response::builder().status(status).body(body.to_owned()).unwrap())
    }

    #[tokio::test]
    async fn a_token_the_server_echoes_back_never_reaches_the_error() {
        let token = "test-token-0123456789abcdef";
        let echoed = format!(r#"{{"message": "401 Unauthorized: bad PRIVATE-TOKEN {token}"}}"#);
        let error = error_from_scrubbed(Service::Gitlab, answer(401, &echoed), None, &[token]).await;
        let text = format!("{error} {error:?}");
        assert!(!text.contains(token), "{text}");
        assert!(text.contains("401 Unauthorized: bad PRIVATE-TOKEN [redacted]"), "{text}");
        let proxy = format!("<html>upstream said Bearer {token}</html>");
        let error = error_from_scrubbed(Service::Qalita, answer(502, &proxy), None, &[token]).await;
        assert!(error.is_transient() && !error.to_string().contains(token), "{error}");
    }
}
