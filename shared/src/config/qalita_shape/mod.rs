//! The shape of QALITA's API beyond its paths: how the token is sent (`[qalita.auth]`), where each
//! field is read (`[qalita.fields]`), the keys written (`[qalita.write]`), how lists page
//! (`[qalita.paging]`) and what "not found" is (`[qalita.not_found]`). QALITA publishes no API
//! reference, so each is an assumption with a default equal to the built-in behaviour.

mod fields;
mod pointer;
pub mod read;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use self::fields::{CommentFields, QalitaFields, UserFieldPointers, UserPointers};
pub use self::pointer::{FieldPointer, JsonPointer};
use crate::config::qalita_paths::QalitaPaths;

/// A setting that cannot work: `key` is its path below `qalita` (`fields.assignee`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("qalita.{key}: {problem}")]
pub struct ShapeError {
    /// The path below `qalita`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

fn refuse(key: impl Into<String>, problem: impl Into<String>) -> ShapeError {
    ShapeError { key: key.into(), problem: problem.into() }
}

/// Every shape setting, validated by [`QalitaShape::from_sections`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QalitaShape {
    /// How the token is sent.
    pub auth: QalitaAuth,
    /// Where fields are read.
    pub fields: QalitaFields,
    /// The keys of the bodies written.
    pub write: QalitaWrite,
    /// How lists page.
    pub paging: QalitaPaging,
    /// Which statuses of a read mean "not found".
    pub not_found: QalitaNotFound,
}

/// The `[qalita.*]` shape sections as the document gives them, each optional.
#[derive(Debug, Default)]
pub struct ShapeSections {
    /// `[qalita.auth]`.
    pub auth: Option<toml::Value>,
    /// `[qalita.fields]`.
    pub fields: Option<toml::Value>,
    /// `[qalita.write]`.
    pub write: Option<toml::Value>,
    /// `[qalita.paging]`.
    pub paging: Option<toml::Value>,
    /// `[qalita.not_found]`.
    pub not_found: Option<toml::Value>,
}

impl QalitaShape {
    /// Reads and checks the sections against the endpoints in use; an error names the key.
    pub fn from_sections(sections: ShapeSections, paths: &QalitaPaths) -> Result<Self, ShapeError> {
        let shape = QalitaShape {
            auth: section("auth", sections.auth)?,
            fields: section("fields", sections.fields)?,
            write: section("write", sections.write)?,
            paging: section("paging", sections.paging)?,
            not_found: section("not_found", sections.not_found)?,
        };
        shape.validate(paths)?;
        Ok(shape)
    }

    /// Checks what single values cannot: names that HTTP can carry, distinct keys and parameters.
    pub fn validate(&self, paths: &QalitaPaths) -> Result<(), ShapeError> {
        self.auth.validate()?;
        self.write.validate()?;
        self.paging.validate(paths)?;
        self.not_found.validate()
    }
}

/// One section read with the path of a wrong value kept for the message.
fn section<T: DeserializeOwned + Default>(name: &str, value: Option<toml::Value>) -> Result<T, ShapeError> {
    let Some(value) = value else { return Ok(T::default()) };
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let key = if path == "." { name.to_owned() } else { format!("{name}.{path}") };
        refuse(key, error.inner().message().trim().to_owned())
    })
}

/// How the token is sent (`[qalita.auth]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QalitaAuth {
    /// The header (`Authorization`).
    pub header: String,
    /// The word before the token (`Bearer`). Unset: `Bearer` in `Authorization`, nothing in any
    /// other header; `""`: nothing, the bare token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
}

impl Default for QalitaAuth {
    fn default() -> Self {
        QalitaAuth { header: "Authorization".into(), scheme: None }
    }
}

impl QalitaAuth {
    /// The scheme sent before the token, if any.
    pub fn scheme(&self) -> Option<&str> {
        match self.scheme.as_deref().map(str::trim) {
            Some("") => None,
            Some(scheme) => Some(scheme),
            None if self.header.trim().eq_ignore_ascii_case("authorization") => Some("Bearer"),
            None => None,
        }
    }

    /// The header's name, trimmed.
    pub fn header(&self) -> &str {
        self.header.trim()
    }

    fn validate(&self) -> Result<(), ShapeError> {
        if !is_token(self.header()) {
            return Err(refuse("auth.header", format!("{:?} is not an HTTP header name", shorten(&self.header))));
        }
        match self.scheme() {
            Some(scheme) if !is_token(scheme) => {
                Err(refuse("auth.scheme", format!("{:?} must be one word such as Bearer or Token", shorten(scheme))))
            }
            _ => Ok(()),
        }
    }
}

/// An HTTP token (RFC 9110 `tchar`s): what a header name or an auth scheme may be.
fn is_token(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn shorten(text: &str) -> String {
    text.chars().take(60).collect()
}

/// The keys of the bodies the client writes (`[qalita.write]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QalitaWrite {
    /// The update's status key.
    pub status: String,
    /// The update's assignee key (a user id).
    pub assignee: String,
    /// The update's title key.
    pub title: String,
    /// The update's description key.
    pub description: String,
    /// The text key of a comment created or edited.
    pub comment_text: String,
}

impl Default for QalitaWrite {
    fn default() -> Self {
        QalitaWrite {
            status: "status".into(),
            assignee: "assignee".into(),
            title: "title".into(),
            description: "description".into(),
            comment_text: "content".into(),
        }
    }
}

impl QalitaWrite {
    fn validate(&self) -> Result<(), ShapeError> {
        let keys = [
            ("status", &self.status),
            ("assignee", &self.assignee),
            ("title", &self.title),
            ("description", &self.description),
            ("comment_text", &self.comment_text),
        ];
        if let Some((name, _)) = keys.iter().find(|(_, key)| key.trim().is_empty()) {
            return Err(refuse(format!("write.{name}"), "must not be empty"));
        }
        // The update's keys share one body; the comment's text is alone in its own.
        let update = &keys[..4];
        for (at, (name, key)) in update.iter().enumerate() {
            if let Some((other, _)) = update[..at].iter().find(|(_, k)| k.trim() == key.trim()) {
                return Err(refuse(format!("write.{name}"), format!("{key:?} is also write.{other}")));
            }
        }
        Ok(())
    }
}

/// How a list is asked for page by page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PagingStyle {
    /// `offset` and `limit`: the position of the first item and how many.
    #[default]
    Offset,
    /// `page` and `size`: the page number (from `first_page`) and the page's size.
    Page,
}

/// How lists page (`[qalita.paging]`), for the issue list and the user list alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QalitaPaging {
    /// `offset` (the default) or `page`.
    pub style: PagingStyle,
    /// The offset style's position parameter.
    pub offset_param: String,
    /// The offset style's count parameter.
    pub limit_param: String,
    /// The page style's page-number parameter.
    pub page_param: String,
    /// The page style's size parameter.
    pub size_param: String,
    /// The number of the first page in the page style (1; some APIs count from 0).
    pub first_page: u64,
    /// Where the list is in the body of a page of issues or users; unset: the body itself when it is
    /// an array, else its `items` or `data` member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<JsonPointer>,
    /// The same for an issue's comments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment_items: Option<JsonPointer>,
    /// When set, an issue's comments are read page by page in the paging style, this many a page,
    /// until a page comes back short; unset: one answer holds them all (no paging parameter sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment_page_size: Option<u32>,
    /// Where the total count of the list is in the body, when the instance says it; unset: unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<JsonPointer>,
    /// The page size of the user list, searched when a GitLab assignee is mapped back (the issue
    /// list's is `sync.poll_page_size`).
    pub user_page_size: u32,
}

impl Default for QalitaPaging {
    fn default() -> Self {
        QalitaPaging {
            style: PagingStyle::Offset,
            offset_param: "offset".into(),
            limit_param: "limit".into(),
            page_param: "page".into(),
            size_param: "size".into(),
            first_page: 1,
            items: None,
            comment_items: None,
            comment_page_size: None,
            total: None,
            user_page_size: 100,
        }
    }
}

impl QalitaPaging {
    /// The two query parameters of the style in use: position, then count.
    pub fn parameters(&self) -> [(&'static str, &str); 2] {
        match self.style {
            PagingStyle::Offset => [("offset_param", &self.offset_param), ("limit_param", &self.limit_param)],
            PagingStyle::Page => [("page_param", &self.page_param), ("size_param", &self.size_param)],
        }
    }

    fn validate(&self, paths: &QalitaPaths) -> Result<(), ShapeError> {
        let [(position_key, position), (count_key, count)] = self.parameters();
        for (key, name) in [(position_key, position), (count_key, count)] {
            if name.trim().is_empty() {
                return Err(refuse(format!("paging.{key}"), "must not be empty"));
            }
        }
        if position.trim() == count.trim() {
            return Err(refuse(format!("paging.{count_key}"), format!("{count:?} is also paging.{position_key}")));
        }
        if let Some((name, _)) = paths
            .list_extra_query
            .iter()
            .find(|(name, _)| [position, count].iter().any(|p| p.trim().eq_ignore_ascii_case(name.trim())))
        {
            return Err(refuse(
                "paths.list_extra_query",
                format!("{name:?} would override the paging parameter the client sets"),
            ));
        }
        if self.first_page > 1 {
            return Err(refuse("paging.first_page", format!("must be 0 or 1, got {}", self.first_page)));
        }
        if let Some(size) = self.comment_page_size.filter(|size| !(1..=1000).contains(size)) {
            return Err(refuse("paging.comment_page_size", format!("must be between 1 and 1000, got {size}")));
        }
        if !(1..=1000).contains(&self.user_page_size) {
            return Err(refuse(
                "paging.user_page_size",
                format!("must be between 1 and 1000, got {}", self.user_page_size),
            ));
        }
        Ok(())
    }
}

/// Which statuses of a read mean "not found (or not visible to the token)" (`[qalita.not_found]`).
/// A write is never taken as "gone" on its own: the client reads the object again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QalitaNotFound {
    /// `204`, `404`, or both (the default).
    pub statuses: Vec<u16>,
}

impl Default for QalitaNotFound {
    fn default() -> Self {
        QalitaNotFound { statuses: vec![204, 404] }
    }
}

impl QalitaNotFound {
    /// Whether `status` means "not found".
    pub fn means_not_found(&self, status: u16) -> bool {
        self.statuses.contains(&status)
    }

    fn validate(&self) -> Result<(), ShapeError> {
        if self.statuses.is_empty() {
            return Err(refuse("not_found.statuses", "must name 204, 404 or both"));
        }
        match self.statuses.iter().find(|s| !matches!(s, 204 | 404)) {
            Some(other) => Err(refuse("not_found.statuses", format!("can hold only 204 and 404, got {other}"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
