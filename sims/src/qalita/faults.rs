//! Faults a test switches on while the simulator runs: the next requests (all, or only those under
//! a path prefix) are rate limited, fail with a server error, are refused for want of permission
//! or because the token is no longer accepted, are answered late, or get the HTML page a web
//! front-end or a login proxy serves in front of the API.

use std::time::Duration;

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::dialect::{Dialect, Refused};
use crate::kit::FaultRule;

/// One way a request can go wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// `429 Too Many Requests` with `Retry-After: <seconds>`.
    RateLimited {
        /// The wait the answer asks for.
        retry_after_secs: u64,
    },
    /// A server error: 500 from the application, 502, 503 or 504 from the proxy in front of it.
    ServerError(u16),
    /// The request is served normally, after this delay.
    Slow(Duration),
    /// `200 OK` with an HTML page instead of JSON.
    HtmlPage,
    /// `403 Forbidden`: the token is valid but its user may not do this (a role without the
    /// permission, a read-only key).
    Forbidden,
    /// `401 Unauthorized`, as for a wrong token: the token was rotated or revoked between two
    /// requests.
    Unauthorized,
}

/// The rule of [`super::QalitaSim::fail_next_on`] (`prefix`) and [`super::QalitaSim::fail_next`]
/// (`None`, every request): `fault` for the next `count` requests under `prefix`, whatever their
/// method.
///
/// # Panics
/// When a server error is not a 5xx status.
pub(super) fn rule(prefix: Option<&str>, count: usize, fault: Fault) -> FaultRule<Fault> {
    if let Fault::ServerError(status) = fault {
        assert!((500..600).contains(&status), "a server error is a 5xx status, not {status}");
    }
    let rule = FaultRule::new(fault).times(u32::try_from(count).unwrap_or(u32::MAX));
    match prefix {
        Some(prefix) => rule.under(prefix),
        None => rule,
    }
}

/// The answer a fault gives instead of the application's (a refused token as `dialect` refuses
/// it); `None` for [`Fault::Slow`], which only delays the application's answer.
pub(super) fn answer(fault: &Fault, dialect: Dialect) -> Option<Response> {
    let response = match fault {
        Fault::RateLimited { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            Json(json!({"detail": "Rate limit exceeded"})),
        )
            .into_response(),
        Fault::ServerError(500) => (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response(),
        Fault::ServerError(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY);
            let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("Error"));
            let page = format!(
                "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n\
                 <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            );
            (status, [(header::CONTENT_TYPE, "text/html")], page).into_response()
        }
        Fault::HtmlPage => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!doctype html><html><head><title>QALITA</title></head><body><div id=\"root\"></div></body></html>",
        )
            .into_response(),
        Fault::Forbidden => (StatusCode::FORBIDDEN, Json(json!({"detail": "Not enough permissions"}))).into_response(),
        Fault::Unauthorized => dialect.refusal(Refused::Wrong),
        Fault::Slow(_) => return None,
    };
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::kit::FaultRules;

    #[test]
    fn a_fault_is_used_up_by_the_requests_it_matches() {
        let mut faults = FaultRules::default();
        faults.arm(rule(Some("/api/v2/users"), 1, Fault::ServerError(503)));
        faults.arm(rule(None, 2, Fault::HtmlPage));
        assert_eq!(faults.take("GET", "/api/v2/issues"), Some(Fault::HtmlPage));
        assert_eq!(faults.take("PUT", "/api/v2/users/12"), Some(Fault::ServerError(503)));
        assert_eq!(faults.take("GET", "/api/v2/users/12"), Some(Fault::HtmlPage));
        assert_eq!(faults.take("GET", "/api/v2/users/12"), None);
    }

    #[test]
    #[should_panic(expected = "a server error is a 5xx status, not 404")]
    fn a_server_error_is_a_5xx_status() {
        rule(None, 1, Fault::ServerError(404));
    }
}
