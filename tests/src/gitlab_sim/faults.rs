//! Faults a test switches on at run time, as the infrastructure in front of GitLab produces them:
//! 5xx answers, slow answers and connections closed without an answer, for the next N requests
//! that match a method and a path prefix.

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
}

/// A fault for the next `times` requests that match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    fault: Fault,
    times: u32,
    method: Option<String>,
    path_prefix: Option<String>,
}

impl FaultRule {
    /// `fault` for the next request, whatever it is.
    pub fn new(fault: Fault) -> Self {
        FaultRule { fault, times: 1, method: None, path_prefix: None }
    }

    /// For the next `times` matching requests instead of one.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Only for requests of `method` whose path after `/api/v4`, as sent, starts with
    /// `path_prefix` (`"POST"`, `"/projects/1/issues"`).
    pub fn on(mut self, method: &str, path_prefix: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self.path_prefix = Some(path_prefix.to_owned());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && self.method.as_deref().is_none_or(|m| m == method)
            && self.path_prefix.as_deref().is_none_or(|prefix| path.starts_with(prefix))
    }
}

/// The armed rules, first armed first used.
#[derive(Debug, Default)]
pub(super) struct Faults(Vec<FaultRule>);

impl Faults {
    pub(super) fn arm(&mut self, rule: FaultRule) {
        self.0.push(rule);
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    /// The fault for this request, if a rule matches; it uses up one of the rule's times.
    pub(super) fn take(&mut self, method: &str, path: &str) -> Option<Fault> {
        let rule = self.0.iter_mut().find(|rule| rule.matches(method, path))?;
        rule.times -= 1;
        let fault = rule.fault;
        self.0.retain(|rule| rule.times > 0);
        Some(fault)
    }
}
