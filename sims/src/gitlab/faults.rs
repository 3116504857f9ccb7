//! Faults a test switches on at run time, as the infrastructure in front of GitLab produces them:
//! 5xx answers, slow answers and connections closed without an answer, and a token refused between
//! two requests, for the next N requests that match a method and a path prefix.

use std::time::Duration;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer this 5xx status (GitLab's JSON for 500 and 503, the proxy's HTML page for 502 and
    /// 504) without processing the request.
    ServerError(u16),
    /// Process the request, then wait this long before answering: a client that gives up first
    /// does not learn that its write happened.
    Slow(Duration),
    /// Close the connection without an answer, without processing the request.
    DropConnection,
    /// Process the request, then close the connection without an answer.
    DropAfterProcessing,
    /// Answer GitLab's `401 Unauthorized` for a token it does not know, without processing the
    /// request: the token was rotated or revoked between two requests.
    Unauthorized,
}

/// A fault for the next `times` requests that match: [`FaultRule::on`] takes a method and the
/// path after `/api/v4`, as sent (`"POST"`, `"/projects/1/issues"`).
pub type FaultRule = crate::kit::FaultRule<Fault>;

/// The armed rules, first armed first used.
pub(super) type Faults = crate::kit::FaultRules<Fault>;
