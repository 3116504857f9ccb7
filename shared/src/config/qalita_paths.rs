//! Where QALITA's endpoints are and what they are called. QALITA publishes no API reference, so the
//! paths, verbs and user field names beyond the documented list call are assumptions (DESIGN section
//! 6): each has a default and can be overridden by the configuration document.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The placeholder of the object id in a path template.
const ID: &str = "{id}";

/// The placeholder of a comment's id, in the comment update path.
const COMMENT_ID: &str = "{comment_id}";

/// The query parameters the client sets itself on the list call in the default paging style (the
/// configured ones are checked against the shape: `QalitaShape::validate`).
const PAGING_PARAMETERS: [&str; 2] = ["offset", "limit"];

/// A configuration value that cannot work; the message names the setting and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathConfigError {
    /// An endpoint is not `VERB /path`.
    #[error("a QALITA endpoint must be `VERB /path` (e.g. `GET /api/v2/issues/{{id}}`), got {got:?}")]
    NotVerbAndPath {
        /// What was found, shortened.
        got: String,
    },
    /// The verb is not one of GET, POST, PUT, PATCH, DELETE.
    #[error("unknown HTTP verb {got:?} in a QALITA endpoint (GET, POST, PUT, PATCH or DELETE)")]
    UnknownVerb {
        /// What was found, shortened.
        got: String,
    },
    /// A path template that does not start with `/`, carries a query, a fragment, a space, or a
    /// placeholder other than `{id}` and `{comment_id}`.
    #[error("invalid QALITA path template {template:?}: {reason}")]
    InvalidTemplate {
        /// The template, shortened.
        template: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An endpoint about one object has no `{id}`, or the list endpoint has one.
    #[error("the QALITA endpoint `{setting}` {reason} (got `{endpoint}`)")]
    Placeholder {
        /// The setting (`get_issue`, …).
        setting: &'static str,
        /// `must contain {id}` or `must not contain {id}`.
        reason: &'static str,
        /// The endpoint as configured.
        endpoint: String,
    },
    /// An extra list parameter with an empty name, or one that would override the paging.
    #[error("the extra list parameter {name:?} {reason}")]
    ExtraQuery {
        /// Its name.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A user field name that is empty.
    #[error("the QALITA user field name for `{setting}` is empty")]
    EmptyUserField {
        /// Which field (`login`, …).
        setting: &'static str,
    },
}

fn shorten(text: &str) -> String {
    text.chars().take(120).collect()
}

/// An HTTP verb an endpoint is called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl Verb {
    /// The verb as `reqwest` sends it.
    pub fn method(self) -> reqwest::Method {
        match self {
            Verb::Get => reqwest::Method::GET,
            Verb::Post => reqwest::Method::POST,
            Verb::Put => reqwest::Method::PUT,
            Verb::Patch => reqwest::Method::PATCH,
            Verb::Delete => reqwest::Method::DELETE,
        }
    }

    fn parse(text: &str) -> Result<Self, PathConfigError> {
        match text.to_ascii_uppercase().as_str() {
            "GET" => Ok(Verb::Get),
            "POST" => Ok(Verb::Post),
            "PUT" => Ok(Verb::Put),
            "PATCH" => Ok(Verb::Patch),
            "DELETE" => Ok(Verb::Delete),
            _ => Err(PathConfigError::UnknownVerb { got: shorten(text) }),
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.method().as_str())
    }
}

/// A path below the base URL, `/api/v2/issues/{id}`: it starts with `/`, has no query or fragment,
/// and its only placeholders are `{id}` and `{comment_id}` (the latter only where a comment is
/// named, which [`QalitaPaths::validate`] checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate(String);

impl PathTemplate {
    /// Checks a template.
    pub fn parse(template: &str) -> Result<Self, PathConfigError> {
        let invalid = |reason| PathConfigError::InvalidTemplate { template: shorten(template), reason };
        if !template.starts_with('/') {
            return Err(invalid("it must start with `/`"));
        }
        // With every known placeholder removed, no brace may remain: any other one is a typo.
        let bare = template.replace(ID, "").replace(COMMENT_ID, "");
        if bare.contains(['{', '}']) {
            return Err(invalid("its only placeholders can be `{id}` and `{comment_id}`"));
        }
        if bare.contains(['?', '#']) {
            return Err(invalid("it cannot carry a query or a fragment (use `list_extra_query`)"));
        }
        if bare.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(invalid("it cannot contain spaces or non-ASCII characters (percent-encode them)"));
        }
        Ok(PathTemplate(template.to_owned()))
    }

    /// Whether the template names one object.
    pub fn has_id(&self) -> bool {
        self.0.contains(ID)
    }

    /// The path with `{id}` replaced by `id`.
    pub fn render(&self, id: u64) -> String {
        self.0.replace(ID, &id.to_string())
    }

    /// Whether the template names a comment.
    pub fn has_comment_id(&self) -> bool {
        self.0.contains(COMMENT_ID)
    }

    /// The path with `{id}` replaced by `id` and `{comment_id}` by `comment`.
    pub fn render_comment(&self, id: u64, comment: u64) -> String {
        self.render(id).replace(COMMENT_ID, &comment.to_string())
    }

    /// The template as configured.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One endpoint: a verb and a path template, written `VERB /path` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Endpoint {
    /// The verb.
    pub verb: Verb,
    /// The path below the base URL.
    pub path: PathTemplate,
}

impl Endpoint {
    /// Parses `VERB /path` (the verb is case-insensitive).
    pub fn parse(text: &str) -> Result<Self, PathConfigError> {
        let mut parts = text.split_whitespace();
        let (Some(verb), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(PathConfigError::NotVerbAndPath { got: shorten(text) });
        };
        Ok(Endpoint { verb: Verb::parse(verb)?, path: PathTemplate::parse(path)? })
    }

    /// The endpoint's path for the object `id`.
    pub fn path_for(&self, id: u64) -> String {
        self.path.render(id)
    }

    fn expect_id(&self, setting: &'static str, wanted: bool) -> Result<(), PathConfigError> {
        if self.path.has_comment_id() && setting != "update_comment" {
            let reason = "must not contain {comment_id}";
            return Err(PathConfigError::Placeholder { setting, reason, endpoint: self.to_string() });
        }
        if self.path.has_id() == wanted {
            return Ok(());
        }
        let reason = if wanted { "must contain {id}" } else { "must not contain {id}" };
        Err(PathConfigError::Placeholder { setting, reason, endpoint: self.to_string() })
    }

    /// A built-in default; a test proves each one parses back to itself.
    fn builtin(verb: Verb, path: &str) -> Self {
        Endpoint { verb, path: PathTemplate(path.to_owned()) }
    }
}

impl TryFrom<String> for Endpoint {
    type Error = PathConfigError;
    fn try_from(text: String) -> Result<Self, PathConfigError> {
        Endpoint::parse(&text)
    }
}

impl From<Endpoint> for String {
    fn from(endpoint: Endpoint) -> String {
        endpoint.to_string()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.path.as_str())
    }
}

/// The names of a user's fields in QALITA's answer (only `id` is known; the others are a guess).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserFields {
    /// The login, matched against GitLab usernames (`login`).
    pub login: String,
    /// The display name (`name`).
    pub name: String,
    /// The e-mail address (`email`).
    pub email: String,
}

impl Default for UserFields {
    fn default() -> Self {
        UserFields { login: "login".into(), name: "name".into(), email: "email".into() }
    }
}

/// QALITA's endpoints and field names, as the configuration document may override them. Missing
/// settings keep their defaults; an unknown setting is refused, so that a typo fails at start.
///
/// ```toml
/// get_issue = "GET /api/v3/issues/{id}"
/// list_extra_query = [["sort", "-created_at"]]
/// user_fields = { login = "username" }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QalitaPaths {
    /// The tenant's issues, newest first by creation; the client adds the paging parameters
    /// (`offset` and `limit` by default: `[qalita.paging]`).
    pub list_issues: Endpoint,
    /// One issue.
    pub get_issue: Endpoint,
    /// Change an issue with the changed fields.
    pub update_issue: Endpoint,
    /// An issue's comments.
    pub list_comments: Endpoint,
    /// Add a comment to an issue.
    pub create_comment: Endpoint,
    /// Change a comment's text (`{id}` the issue, `{comment_id}` the comment); `"none"` when the
    /// instance has no such call: edits of GitLab notes are then logged as not propagated.
    #[serde(with = "optional_endpoint")]
    pub update_comment: Option<Endpoint>,
    /// One user.
    pub get_user: Endpoint,
    /// Every user (searched by login when a GitLab assignee is mapped back to QALITA).
    pub list_users: Endpoint,
    /// Parameters added to every list call after the paging parameters: a sort or filter, where an
    /// instance offers one. Empty by default.
    pub list_extra_query: Vec<(String, String)>,
    /// The user's field names (a pointer set in `[qalita.fields.user]` replaces its name here).
    pub user_fields: UserFields,
}

/// `update_comment` may be `"none"`: the instance cannot edit comments.
mod optional_endpoint {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Endpoint;

    pub fn serialize<S: Serializer>(endpoint: &Option<Endpoint>, serializer: S) -> Result<S::Ok, S::Error> {
        match endpoint {
            Some(endpoint) => serializer.serialize_str(&endpoint.to_string()),
            None => serializer.serialize_str("none"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Endpoint>, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        Endpoint::parse(&text).map(Some).map_err(serde::de::Error::custom)
    }
}

impl Default for QalitaPaths {
    fn default() -> Self {
        QalitaPaths {
            list_issues: Endpoint::builtin(Verb::Get, "/api/v2/issues"),
            get_issue: Endpoint::builtin(Verb::Get, "/api/v2/issues/{id}"),
            update_issue: Endpoint::builtin(Verb::Put, "/api/v2/issues/{id}"),
            list_comments: Endpoint::builtin(Verb::Get, "/api/v2/issues/{id}/comments"),
            create_comment: Endpoint::builtin(Verb::Post, "/api/v2/issues/{id}/comments"),
            update_comment: Some(Endpoint::builtin(Verb::Put, "/api/v2/issues/{id}/comments/{comment_id}")),
            get_user: Endpoint::builtin(Verb::Get, "/api/v2/users/{id}"),
            list_users: Endpoint::builtin(Verb::Get, "/api/v2/users"),
            list_extra_query: Vec::new(),
            user_fields: UserFields::default(),
        }
    }
}

impl QalitaPaths {
    /// Checks what single settings cannot: the endpoints about one object name it with `{id}`,
    /// the list does not, the extra parameters leave the paging alone, no field name is empty.
    pub fn validate(&self) -> Result<(), PathConfigError> {
        self.list_issues.expect_id("list_issues", false)?;
        self.get_issue.expect_id("get_issue", true)?;
        self.update_issue.expect_id("update_issue", true)?;
        self.list_comments.expect_id("list_comments", true)?;
        self.create_comment.expect_id("create_comment", true)?;
        self.get_user.expect_id("get_user", true)?;
        self.list_users.expect_id("list_users", false)?;
        if let Some(update) = &self.update_comment {
            update.expect_id("update_comment", true)?;
            if !update.path.has_comment_id() {
                let reason = "must contain {comment_id}";
                return Err(PathConfigError::Placeholder {
                    setting: "update_comment",
                    reason,
                    endpoint: update.to_string(),
                });
            }
        }
        for (name, _) in &self.list_extra_query {
            let refuse = |reason| Err(PathConfigError::ExtraQuery { name: shorten(name), reason });
            if name.trim().is_empty() {
                return refuse("has an empty name");
            }
            if PAGING_PARAMETERS.iter().any(|p| p.eq_ignore_ascii_case(name.trim())) {
                return refuse("would override the paging the client sets");
            }
        }
        let fields = &self.user_fields;
        for (setting, name) in [("login", &fields.login), ("name", &fields.name), ("email", &fields.email)] {
            if name.trim().is_empty() {
                return Err(PathConfigError::EmptyUserField { setting });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_documented_and_assumed_endpoints() {
        let paths = QalitaPaths::default();
        let update_comment = paths.update_comment.as_ref().expect("comment edits are on by default");
        for endpoint in [
            &paths.list_issues,
            &paths.get_issue,
            &paths.update_issue,
            &paths.list_comments,
            &paths.create_comment,
            update_comment,
            &paths.get_user,
            &paths.list_users,
        ] {
            assert_eq!(Endpoint::parse(&endpoint.to_string()).as_ref(), Ok(endpoint));
        }
        assert_eq!(paths.list_issues.to_string(), "GET /api/v2/issues");
        assert_eq!(paths.get_issue.to_string(), "GET /api/v2/issues/{id}");
        assert_eq!(paths.update_issue.to_string(), "PUT /api/v2/issues/{id}");
        assert_eq!(paths.list_comments.to_string(), "GET /api/v2/issues/{id}/comments");
        assert_eq!(paths.create_comment.to_string(), "POST /api/v2/issues/{id}/comments");
        assert_eq!(update_comment.to_string(), "PUT /api/v2/issues/{id}/comments/{comment_id}");
        assert_eq!(paths.get_user.to_string(), "GET /api/v2/users/{id}");
        assert_eq!(paths.list_users.to_string(), "GET /api/v2/users");
        assert_eq!(paths.user_fields.login, "login");
        assert!(paths.list_extra_query.is_empty());
        assert_eq!(paths.validate(), Ok(()));
    }

    #[test]
    fn a_template_renders_every_id_placeholder() {
        let endpoint = Endpoint::parse("post /x/{id}/y/{id}").unwrap();
        assert_eq!(endpoint.verb, Verb::Post);
        assert_eq!(endpoint.path_for(4821), "/x/4821/y/4821");
    }

    #[test]
    fn a_configuration_overrides_only_what_it_names() {
        let paths: QalitaPaths = serde_json::from_value(serde_json::json!({
            "get_issue": "GET /api/v3/issues/{id}",
            "list_extra_query": [["sort", "-created_at"]],
            "user_fields": { "login": "username" }
        }))
        .unwrap();
        assert_eq!(paths.get_issue.path_for(7), "/api/v3/issues/7");
        assert_eq!(paths.list_issues, QalitaPaths::default().list_issues);
        assert_eq!(paths.list_extra_query, vec![("sort".to_owned(), "-created_at".to_owned())]);
        assert_eq!((paths.user_fields.login.as_str(), paths.user_fields.email.as_str()), ("username", "email"));
    }

    #[test]
    fn a_misspelt_setting_is_refused() {
        let error = serde_json::from_value::<QalitaPaths>(serde_json::json!({"get_isue": "GET /x/{id}"})).unwrap_err();
        assert!(error.to_string().contains("get_isue"), "{error}");
    }

    #[test]
    fn malformed_endpoints_are_refused_with_the_reason() {
        let cases = [
            ("/api/v2/issues", "must be `VERB /path`"),
            ("FETCH /api/v2/issues", "unknown HTTP verb"),
            ("GET api/v2/issues", "must start with `/`"),
            ("GET /api/v2/issues/{issue_id}", "only placeholder"),
            ("GET /api/v2/issues#top", "query or a fragment"),
            ("GET /api/v2/issues?sort=id", "query or a fragment"),
            ("GET /api/v2/issues/é", "non-ASCII"),
            ("GET /a /b", "must be `VERB /path`"),
        ];
        for (text, reason) in cases {
            let error = Endpoint::parse(text).unwrap_err().to_string();
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn an_endpoint_about_one_object_needs_its_id() {
        let paths = QalitaPaths { get_user: Endpoint::parse("GET /api/v2/users/me").unwrap(), ..Default::default() };
        let error = paths.validate().unwrap_err().to_string();
        assert_eq!(error, "the QALITA endpoint `get_user` must contain {id} (got `GET /api/v2/users/me`)");
        let paths = QalitaPaths { list_issues: Endpoint::parse("GET /issues/{id}").unwrap(), ..Default::default() };
        assert!(paths.validate().unwrap_err().to_string().contains("must not contain {id}"));
    }

    #[test]
    fn extra_list_parameters_cannot_override_the_paging() {
        let paths = QalitaPaths { list_extra_query: vec![("Limit".into(), "5".into())], ..Default::default() };
        assert!(paths.validate().unwrap_err().to_string().contains("override the paging"));
        let paths = QalitaPaths { list_extra_query: vec![(" ".into(), "5".into())], ..Default::default() };
        assert!(paths.validate().unwrap_err().to_string().contains("empty name"));
    }

    #[test]
    fn an_empty_user_field_name_is_refused() {
        let paths = QalitaPaths {
            user_fields: UserFields { login: String::new(), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(paths.validate(), Err(PathConfigError::EmptyUserField { setting: "login" }));
    }

    #[test]
    fn comment_edits_can_be_configured_off_with_none() {
        for text in ["none", "None", " NONE "] {
            let paths: QalitaPaths = toml::from_str(&format!("update_comment = {text:?}")).unwrap();
            assert_eq!(paths.update_comment, None, "{text:?}");
            assert_eq!(paths.validate(), Ok(()));
        }
        let unset: QalitaPaths = toml::from_str("").unwrap();
        assert_eq!(unset.update_comment, QalitaPaths::default().update_comment);
    }

    #[test]
    fn the_comment_edit_setting_round_trips_through_the_configuration() {
        let patch = Endpoint::parse("patch /c/{id}/{comment_id}").unwrap();
        for update_comment in [None, Some(patch)] {
            let paths = QalitaPaths { update_comment, ..Default::default() };
            let text = toml::to_string(&paths).unwrap();
            assert_eq!(toml::from_str::<QalitaPaths>(&text).unwrap(), paths, "{text}");
            let expected = match &paths.update_comment {
                None => r#"update_comment = "none""#,
                Some(_) => r#"update_comment = "PATCH /c/{id}/{comment_id}""#,
            };
            assert!(text.contains(expected), "{text}");
        }
    }

    #[test]
    fn a_malformed_comment_edit_endpoint_fails_the_configuration() {
        let error = toml::from_str::<QalitaPaths>(r#"update_comment = "PUT""#).unwrap_err().to_string();
        assert!(error.contains("must be `VERB /path`"), "{error}");
        let error = toml::from_str::<QalitaPaths>(r#"update_comment = "PUT /c/{comment}""#).unwrap_err().to_string();
        assert!(error.contains("only placeholders"), "{error}");
    }

    #[test]
    fn the_comment_edit_needs_both_the_issue_and_the_comment_id() {
        let with =
            |text: &str| QalitaPaths { update_comment: Some(Endpoint::parse(text).unwrap()), ..Default::default() };
        assert_eq!(
            with("PUT /api/v2/issues/{id}/comments").validate().unwrap_err().to_string(),
            "the QALITA endpoint `update_comment` must contain {comment_id} (got `PUT /api/v2/issues/{id}/comments`)"
        );
        assert_eq!(
            with("PUT /api/v2/comments/{comment_id}").validate().unwrap_err().to_string(),
            "the QALITA endpoint `update_comment` must contain {id} (got `PUT /api/v2/comments/{comment_id}`)"
        );
        assert_eq!(with("PUT /api/v2/issues/{id}/notes/{comment_id}").validate(), Ok(()));
    }

    #[test]
    fn a_comment_id_is_refused_outside_the_comment_edit() {
        let comment_path = "/api/v2/issues/{id}/comments/{comment_id}";
        type Set = fn(&mut QalitaPaths, Endpoint);
        let cases: [(&str, Set); 4] = [
            ("get_issue", |paths, e| paths.get_issue = e),
            ("list_comments", |paths, e| paths.list_comments = e),
            ("create_comment", |paths, e| paths.create_comment = e),
            ("get_user", |paths, e| paths.get_user = e),
        ];
        for (setting, set) in cases {
            let mut paths = QalitaPaths::default();
            set(&mut paths, Endpoint::parse(&format!("GET {comment_path}")).unwrap());
            let error = paths.validate().unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("the QALITA endpoint `{setting}` must not contain {{comment_id}}")),
                "{error}"
            );
        }
        let paths = QalitaPaths {
            list_users: Endpoint::parse("GET /api/v2/users/{comment_id}").unwrap(),
            ..Default::default()
        };
        assert!(paths.validate().unwrap_err().to_string().contains("must not contain {comment_id}"));
    }

    #[test]
    fn the_user_list_is_configurable_and_names_no_user() {
        let paths: QalitaPaths =
            toml::from_str("list_users = \"GET /api/v3/users\"\nuser_fields = { login = \"username\" }").unwrap();
        assert_eq!((paths.list_users.verb, paths.list_users.path.as_str()), (Verb::Get, "/api/v3/users"));
        assert_eq!(paths.user_fields.login, "username");
        assert_eq!(paths.validate(), Ok(()));
        let paths =
            QalitaPaths { list_users: Endpoint::parse("GET /api/v2/users/{id}").unwrap(), ..Default::default() };
        assert_eq!(
            paths.validate().unwrap_err().to_string(),
            "the QALITA endpoint `list_users` must not contain {id} (got `GET /api/v2/users/{id}`)"
        );
    }

    #[test]
    fn a_comment_path_renders_both_ids() {
        let template = PathTemplate::parse("/api/v2/issues/{id}/comments/{comment_id}").unwrap();
        assert!(template.has_id() && template.has_comment_id());
        assert_eq!(template.render_comment(4821, 77), "/api/v2/issues/4821/comments/77");
        assert!(!PathTemplate::parse("/api/v2/issues/{id}").unwrap().has_comment_id());
    }
}
