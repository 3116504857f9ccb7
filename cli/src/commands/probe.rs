//! The GitLab calls only `test-connection` makes, beyond the sync's port: the instance's version,
//! the token's own record (`GET /personal_access_tokens/self`), a project with the caller's role
//! (`GET /projects/:id`) and a project hook (`GET /projects/:id/hooks/:hook_id`). They share the
//! core crate's HTTP settings (time-outs, CA bundle, no redirects) and never show the token.

use chrono::NaiveDate;
use qalita_gitlab_core::adapters::gitlab_http::GitlabClient;
use qalita_gitlab_core::adapters::http::{HttpSettings, build_client, transport_error};
use qalita_gitlab_core::domain::SecretString;
use qalita_gitlab_core::domain::gitlab::GitlabProjectRef;
use qalita_gitlab_core::domain::hooks::ProjectHook;
use qalita_gitlab_core::ports::Service;
use reqwest::header::HeaderValue;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// How a probe failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// No answer: connection refused, time-out, TLS.
    Unreachable(String),
    /// An HTTP error status, with GitLab's message (`error_description` of an OAuth-style
    /// refusal, else `message` or `error`).
    Refused {
        /// The status.
        status: u16,
        /// GitLab's message.
        message: String,
    },
    /// A success whose body is not what GitLab documents.
    Unreadable(String),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Unreachable(message) => write!(f, "no answer: {message}"),
            ProbeError::Refused { status, message } => write!(f, "HTTP {status}: {message}"),
            ProbeError::Unreadable(message) => write!(f, "unexpected answer: {message}"),
        }
    }
}

/// The token's own record.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// Its scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Neither revoked nor expired.
    #[serde(default)]
    pub active: bool,
    /// Revoked.
    #[serde(default)]
    pub revoked: bool,
    /// The day it stops working, if it expires.
    #[serde(default)]
    pub expires_at: Option<NaiveDate>,
}

#[derive(Debug, Clone, Deserialize)]
struct Access {
    access_level: u8,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Permissions {
    #[serde(default)]
    project_access: Option<Access>,
    #[serde(default)]
    group_access: Option<Access>,
}

/// A project as the caller sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectInfo {
    /// Its id.
    pub id: u64,
    /// `group/project`.
    pub path_with_namespace: String,
    /// Archived projects take no new issues.
    #[serde(default)]
    pub archived: bool,
    /// Whether the issue tracker is on (absent on some versions: taken as on).
    #[serde(default)]
    pub issues_enabled: Option<bool>,
    #[serde(default)]
    permissions: Option<Permissions>,
}

impl ProjectInfo {
    /// The caller's access level: the higher of its project and group memberships.
    pub fn access_level(&self) -> Option<u8> {
        let permissions = self.permissions.as_ref()?;
        let levels = [&permissions.project_access, &permissions.group_access];
        levels.iter().filter_map(|access| access.as_ref().map(|a| a.access_level)).max()
    }
}

/// The name of a GitLab access level.
pub fn role_name(level: u8) -> &'static str {
    match level {
        50.. => "Owner",
        40.. => "Maintainer",
        30.. => "Developer",
        20.. => "Reporter",
        15.. => "Planner",
        10.. => "Guest",
        5.. => "Minimal access",
        _ => "no access",
    }
}

/// The probes of one GitLab instance and token.
pub struct GitlabProbe {
    http: reqwest::Client,
    api_root: String,
    token: HeaderValue,
}

impl GitlabProbe {
    /// The probes of the instance at `base_url`, with the settings the sync uses.
    pub fn new(base_url: &str, token: &SecretString, settings: &HttpSettings) -> Result<Self, String> {
        // The sync's client checks the URL and the token the same way; its API root is reused.
        let client = GitlabClient::new(base_url, token.clone(), settings).map_err(|e| e.to_string())?;
        let mut header = HeaderValue::from_str(token.expose().trim())
            .map_err(|_| "the GitLab token is not a valid header value".to_owned())?;
        header.set_sensitive(true);
        let http = build_client(settings, concat!("qalita-gitlab-cli/", env!("CARGO_PKG_VERSION")))
            .map_err(|e| e.to_string())?;
        Ok(GitlabProbe { http, api_root: client.api_root().to_owned(), token: header })
    }

    /// The API root, `<base>/api/v4`.
    pub fn api_root(&self) -> &str {
        &self.api_root
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ProbeError> {
        let request = self.http.get(format!("{}{path}", self.api_root)).header("private-token", self.token.clone());
        let response = request
            .send()
            .await
            .map_err(|e| ProbeError::Unreachable(transport_error(Service::Gitlab, e).to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| ProbeError::Unreachable(transport_error(Service::Gitlab, e).to_string()))?;
        if !(200..300).contains(&status) {
            return Err(ProbeError::Refused { status, message: message_of(&text) });
        }
        serde_json::from_str(&text).map_err(|e| ProbeError::Unreadable(e.to_string()))
    }

    /// `GET /version`: the instance's version (any answer proves the URL reaches a GitLab API).
    pub async fn version(&self) -> Result<String, ProbeError> {
        #[derive(Deserialize)]
        struct Version {
            version: String,
        }
        self.get::<Version>("/version").await.map(|v| v.version)
    }

    /// `GET /personal_access_tokens/self`.
    pub async fn token(&self) -> Result<TokenInfo, ProbeError> {
        self.get("/personal_access_tokens/self").await
    }

    /// `GET /projects/:id`.
    pub async fn project(&self, project: &GitlabProjectRef) -> Result<ProjectInfo, ProbeError> {
        self.get(&format!("/projects/{}", project.api_segment())).await
    }

    /// `GET /projects/:id/hooks/:hook_id`.
    pub async fn hook(&self, project: &GitlabProjectRef, hook_id: u64) -> Result<ProjectHook, ProbeError> {
        self.get(&format!("/projects/{}/hooks/{hook_id}", project.api_segment())).await
    }
}

/// GitLab's message in an error body, at most 300 characters.
fn message_of(text: &str) -> String {
    let message = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json) => ["error_description", "message", "error"]
            .iter()
            .find_map(|key| json.get(key))
            .map(|value| value.as_str().map_or_else(|| value.to_string(), str::to_owned))
            .unwrap_or_else(|| text.to_owned()),
        Err(_) => text.trim().to_owned(),
    };
    message.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oauth_refusal_shows_its_description() {
        let body = r#"{"error":"invalid_token","error_description":"Token has expired."}"#;
        assert_eq!(message_of(body), "Token has expired.");
        assert_eq!(message_of(r#"{"message":"404 Project Not Found"}"#), "404 Project Not Found");
        assert_eq!(message_of("Retry later\n"), "Retry later");
    }

    #[test]
    fn the_role_is_the_higher_of_project_and_group_access() {
        let project: ProjectInfo = serde_json::from_str(
            r#"{"id":1,"path_with_namespace":"a/b","permissions":{"project_access":{"access_level":10},"group_access":{"access_level":30}}}"#,
        )
        .unwrap();
        assert_eq!(project.access_level(), Some(30));
        assert_eq!(role_name(30), "Developer");
        let none: ProjectInfo = serde_json::from_str(
            r#"{"id":1,"path_with_namespace":"a/b","permissions":{"project_access":null,"group_access":null}}"#,
        )
        .unwrap();
        assert_eq!(none.access_level(), None);
    }
}
