//! Who may do what on the simulated instance: each token's own record (name, scopes, expiry,
//! revocation), as `GET /personal_access_tokens/self` shows it and as GitLab checks it on every
//! request (a revoked or expired token is refused with 401, a call outside the token's scopes with
//! 403), and each user's role in each project (GitLab's access levels).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::reply::Reply;

/// GitLab's access levels (`Gitlab::Access`).
pub mod level {
    /// Not a member.
    pub const NO_ACCESS: u8 = 0;
    /// Minimal access.
    pub const MINIMAL: u8 = 5;
    /// Guest: may open issues, but not set their labels or assignees, nor edit others' issues.
    pub const GUEST: u8 = 10;
    /// Planner: manages issues, labels and milestones.
    pub const PLANNER: u8 = 15;
    /// Reporter.
    pub const REPORTER: u8 = 20;
    /// Developer.
    pub const DEVELOPER: u8 = 30;
    /// Maintainer: may also read and manage the project's webhooks.
    pub const MAINTAINER: u8 = 40;
    /// Owner.
    pub const OWNER: u8 = 50;
}

/// The record of one token, as the personal access tokens API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TokenRecord {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) user_id: u64,
    pub(super) scopes: Vec<String>,
    /// The token stops working at the start of this day (UTC), as GitLab's `expires_at` does.
    pub(super) expires_at: Option<NaiveDate>,
    pub(super) revoked: bool,
    pub(super) created_at: DateTime<Utc>,
    pub(super) last_used_at: Option<DateTime<Utc>>,
}

impl TokenRecord {
    /// A token of `user_id` with scope `api`, never expiring, as a test's `with_token` gives it.
    pub(super) fn new(id: u64, user_id: u64) -> Self {
        TokenRecord {
            id,
            name: format!("token-{id}"),
            user_id,
            scopes: vec!["api".to_owned()],
            expires_at: None,
            revoked: false,
            created_at: DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            last_used_at: None,
        }
    }

    /// Whether the token has expired at `now`.
    pub(super) fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|day| day <= now.date_naive())
    }

    /// GitLab's `active`: neither revoked nor expired.
    pub(super) fn active(&self, now: DateTime<Utc>) -> bool {
        !self.revoked && !self.expired(now)
    }

    /// The refusal of a request made with this token, if it is refused before any endpoint runs:
    /// GitLab's OAuth-style 401 bodies for a revoked or expired token.
    pub(super) fn refusal(&self, now: DateTime<Utc>) -> Option<Reply> {
        let invalid =
            |description: &str| Reply::json(401, json!({ "error": "invalid_token", "error_description": description }));
        if self.revoked {
            return Some(invalid("Token was revoked. You have to re-authorize from the user."));
        }
        if self.expired(now) {
            return Some(invalid("Token has expired."));
        }
        None
    }

    /// Whether the token's scopes allow `method` on the route `segments`: `api` allows all,
    /// `read_api` every read, `read_user` the reads of users; `GET /personal_access_tokens/self`
    /// is allowed to any token (it is how a token learns its own scopes).
    pub(super) fn allows(&self, method: &str, segments: &[&str]) -> bool {
        let has = |scope: &str| self.scopes.iter().any(|s| s == scope);
        let read = matches!(method, "GET" | "HEAD");
        match segments {
            ["personal_access_tokens", "self"] if read => true,
            ["personal_access_tokens", "self", "rotate"] if method == "POST" && has("self_rotate") => true,
            _ if has("api") => true,
            _ if read && has("read_api") => true,
            ["user"] | ["users"] | ["users", ..] if read && has("read_user") => true,
            _ => false,
        }
    }

    /// The 403 GitLab answers a call outside the token's scopes.
    pub(super) fn insufficient_scope(read: bool) -> Reply {
        let needed = if read { "api read_api" } else { "api" };
        Reply::json(
            403,
            json!({
                "error": "insufficient_scope",
                "error_description": "The request requires higher privileges than provided by the access token.",
                "scope": needed
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_token_stops_working_at_the_start_of_its_expiry_day() {
        let mut token = TokenRecord::new(1, 1);
        token.expires_at = NaiveDate::from_ymd_opt(2026, 12, 1);
        assert!(token.active(at("2026-11-30T23:59:59Z")));
        assert!(token.expired(at("2026-12-01T00:00:00Z")));
        assert_eq!(token.refusal(at("2026-12-01T00:00:00Z")).map(|r| r.status), Some(401));
    }

    #[test]
    fn read_api_reads_but_does_not_write_and_self_is_always_readable() {
        let mut token = TokenRecord::new(1, 1);
        token.scopes = vec!["read_api".into()];
        assert!(token.allows("GET", &["projects", "42", "issues"]));
        assert!(!token.allows("POST", &["projects", "42", "issues"]));
        token.scopes = vec!["read_repository".into()];
        assert!(!token.allows("GET", &["projects", "42"]));
        assert!(token.allows("GET", &["personal_access_tokens", "self"]));
    }
}
