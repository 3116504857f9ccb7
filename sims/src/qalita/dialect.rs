//! The two HTTP faces of the one QALITA model the simulator keeps: how each dialect authenticates,
//! pages, wraps lists, names fields, answers a write and says "not found". The store keeps the
//! first dialect's field names; the second dialect renames at the edge, in and out.

use axum::Json;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fastapi::{Invalid, integer, not_found};
use super::{ListEnvelope, SimOptions};
use crate::kit::query;

/// Which QALITA API the simulator speaks. Both dialects serve the same issues, comments, users and
/// sources, emit the same change events (with the objects in the dialect's shape), meet the same
/// faults, and serve their OpenAPI document at `GET /openapi.json` without authentication. `{prefix}` is
/// [`SimOptions::api_prefix`], `/api/v2` by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    /// The QALITA the sync was written against (DESIGN section 6), the default:
    /// - authentication `Authorization: Bearer <token>`; a missing or wrong token gets 401
    ///   `{"detail": "Could not validate credentials"}` with `WWW-Authenticate: Bearer`
    ///   (security scheme `HTTPBearer`);
    /// - `GET {prefix}/issues?offset=&limit=`: `offset` from 0, `limit` in
    ///   1..=[`SimOptions::max_limit`] (default [`SimOptions::default_limit`]), newest first; the
    ///   list as [`SimOptions::list_envelope`] says (a bare array by default);
    /// - `GET {prefix}/issues/{issue_id}`; `PUT {prefix}/issues/{issue_id}` with any of `status`,
    ///   `title`, `description`, `assignee`, `due_date`, answered 200 with the issue;
    /// - the assignee as `assignee` (a user id);
    /// - comments: `GET`/`POST {prefix}/issues/{issue_id}/comments` (`POST` answered 200 with the
    ///   comment), `GET`/`PUT {prefix}/issues/{issue_id}/comments/{comment_id}` (the `PUT` only with
    ///   [`SimOptions::comment_updates`]); the text as `content`, in the body as in the answer;
    ///   the list unpaged;
    /// - users: `GET {prefix}/users?offset=&limit=`, `GET {prefix}/users/{user_id}`;
    /// - sources (the datasets issues are about): `GET {prefix}/sources?offset=&limit=` by id,
    ///   `GET {prefix}/sources/{source_id}`;
    /// - a missing issue, comment, user or source: `204 No Content`, empty.
    #[default]
    First,
    /// A QALITA that differs from the first in every shape the sync assumes:
    /// - authentication `X-API-Key: <token>` (no scheme; security scheme `APIKeyHeader`); a
    ///   missing key gets 401 `{"detail": "Not authenticated"}` with `WWW-Authenticate: APIKey`,
    ///   a wrong one 401 `{"detail": "Invalid API Key"}`; `Authorization: Bearer` is ignored
    ///   (so refused as a missing key);
    /// - every list paged by `page` (from 1, default 1) and `size` (1..=100, default 50), a bad
    ///   value refused with FastAPI's 422, and sent as `{"data": […], "total": n}` (a page past
    ///   the end has an empty `data`); [`SimOptions::list_envelope`], `default_limit` and
    ///   `max_limit` do not apply;
    /// - `GET {prefix}/issues?page=&size=`, newest first; `GET {prefix}/issues/{issue_id}`;
    ///   `PATCH {prefix}/issues/{issue_id}` with any of `status`, `title`, `description`,
    ///   `assignee_id`, `due_date`, answered `204 No Content` with an empty body once applied
    ///   (`PUT` gets 405);
    /// - the assignee as `assignee_id` (a user id), in the issue and in the update body;
    /// - comments ("notes"): `GET {prefix}/issues/{issue_id}/notes?page=&size=` oldest first,
    ///   `POST {prefix}/issues/{issue_id}/notes` answered `201 Created` with the note,
    ///   `GET`/`PATCH {prefix}/issues/{issue_id}/notes/{note_id}` (the `PATCH` answered 200 with
    ///   the note, only with [`SimOptions::comment_updates`]); the text as `text`, in the body as
    ///   in the answer;
    /// - users: `GET {prefix}/users?page=&size=`, `GET {prefix}/users/{user_id}`;
    /// - sources: `GET {prefix}/sources?page=&size=` by id, `GET {prefix}/sources/{source_id}`;
    /// - a missing issue, note, user or source: `404` with `{"detail": "Not Found"}`.
    Second,
}

/// The page size of the second dialect when the request names none.
pub const SECOND_DEFAULT_SIZE: u32 = 50;
/// The largest page size the second dialect accepts.
pub const SECOND_MAX_SIZE: u32 = 100;

/// The kinds of object the API serves, for the field names each dialect gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Issue,
    Comment,
    User,
    Source,
}

impl From<Dialect> for SimOptions {
    /// The default options in `dialect`.
    fn from(dialect: Dialect) -> Self {
        SimOptions { dialect, ..SimOptions::default() }
    }
}

impl Dialect {
    /// The fields this dialect names differently from the model: (model's name, dialect's name).
    fn renames(self, kind: Kind) -> &'static [(&'static str, &'static str)] {
        match (self, kind) {
            (Dialect::Second, Kind::Issue) => &[("assignee", "assignee_id")],
            (Dialect::Second, Kind::Comment) => &[("content", "text")],
            _ => &[],
        }
    }

    /// The dialect's name for the model's field `name`.
    pub(super) fn field(self, kind: Kind, name: &'static str) -> &'static str {
        self.renames(kind).iter().find(|(model, _)| *model == name).map_or(name, |(_, face)| face)
    }

    /// An object of the model as this dialect sends it.
    pub(super) fn render(self, kind: Kind, object: Value) -> Value {
        rename(object, self.renames(kind).iter().map(|(model, face)| (*model, *face)))
    }

    /// An object in this dialect's shape as the model keeps it.
    pub(super) fn read(self, kind: Kind, object: Value) -> Value {
        rename(object, self.renames(kind).iter().map(|(model, face)| (*face, *model)))
    }

    /// What the API calls a comment, in its paths (`…/{noun}s/{{noun}_id}`) and operations.
    pub(super) fn comment_noun(self) -> &'static str {
        match self {
            Dialect::First => "comment",
            Dialect::Second => "note",
        }
    }

    /// The path parameter that names one comment.
    pub(super) fn comment_param(self) -> String {
        format!("{}_id", self.comment_noun())
    }

    /// The method that changes an issue or a comment.
    pub(super) fn update_method(self) -> Method {
        match self {
            Dialect::First => Method::PUT,
            Dialect::Second => Method::PATCH,
        }
    }

    /// The query parameters of a paged list: (name, default, minimum, maximum).
    pub(super) fn paging_params(self, options: &SimOptions) -> [(&'static str, i64, i64, i64); 2] {
        match self {
            Dialect::First => {
                [("offset", 0, 0, i64::MAX), ("limit", options.default_limit.into(), 1, options.max_limit.into())]
            }
            Dialect::Second => {
                [("page", 1, 1, i64::MAX), ("size", SECOND_DEFAULT_SIZE.into(), 1, SECOND_MAX_SIZE.into())]
            }
        }
    }

    /// Whether the comments list is paged (the first dialect sends all of an issue's comments).
    pub(super) fn pages_comments(self) -> bool {
        self == Dialect::Second
    }

    /// The (offset, limit) a list request asks for, as FastAPI reads its query, or its 422.
    pub(super) fn paging(self, options: &SimOptions, query: Option<&str>) -> Result<(usize, usize), Invalid> {
        let pairs = query.map(query::pairs).unwrap_or_default();
        let [first, second] = self.paging_params(options).map(|(name, default, min, max)| {
            let text = pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
            integer(text, name, default, min, max)
        });
        let (first, size) = (as_index(first?), as_index(second?));
        let offset = match self {
            Dialect::First => first,
            Dialect::Second => first.saturating_sub(1).saturating_mul(size),
        };
        Ok((offset, size))
    }

    /// A list of objects already in this dialect's shape, `total` of them in all.
    pub(super) fn list(self, options: &SimOptions, items: Vec<Value>, total: usize) -> Response {
        let body = match (self, options.list_envelope) {
            (Dialect::Second, _) => json!({"data": items, "total": total}),
            (Dialect::First, ListEnvelope::Bare) => Value::from(items),
            (Dialect::First, ListEnvelope::Items) => json!({"items": items, "total": total}),
            (Dialect::First, ListEnvelope::Data) => json!({"data": items}),
        };
        Json(body).into_response()
    }

    /// The answer for one object already in this dialect's shape, or for its absence.
    pub(super) fn one(self, object: Option<Value>) -> Response {
        match object {
            Some(object) => Json(object).into_response(),
            None => self.missing(),
        }
    }

    /// "Not found (or no access)": the first dialect's empty 204, the second's 404.
    pub(super) fn missing(self) -> Response {
        match self.statuses().missing {
            StatusCode::NO_CONTENT => StatusCode::NO_CONTENT.into_response(),
            _ => not_found(),
        }
    }

    /// The answer to an applied issue update: the issue (first), or an empty 204 (second).
    pub(super) fn updated(self, issue: Value) -> Response {
        match self.statuses().updated {
            StatusCode::NO_CONTENT => StatusCode::NO_CONTENT.into_response(),
            status => (status, Json(issue)).into_response(),
        }
    }

    /// The answer to a comment created: 200 (first) or 201 (second) with the comment.
    pub(super) fn created(self, comment: Value) -> Response {
        (self.statuses().created, Json(comment)).into_response()
    }

    /// The statuses of an applied issue update, of a comment created, and of a missing object:
    /// what [`Self::updated`], [`Self::created`] and [`Self::missing`] answer, and what the OpenAPI
    /// document declares.
    pub(super) fn statuses(self) -> Statuses {
        match self {
            Dialect::First => {
                Statuses { updated: StatusCode::OK, created: StatusCode::OK, missing: StatusCode::NO_CONTENT }
            }
            Dialect::Second => Statuses {
                updated: StatusCode::NO_CONTENT,
                created: StatusCode::CREATED,
                missing: StatusCode::NOT_FOUND,
            },
        }
    }

    /// Whether these headers carry `token` as this dialect expects it; otherwise why not.
    pub(super) fn authenticate(self, headers: &HeaderMap, token: &str) -> Result<(), Refused> {
        let value = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        match self {
            Dialect::First => {
                let given = value(header::AUTHORIZATION.as_str())
                    .and_then(|value| value.split_once(' '))
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map(|(_, token)| token);
                if given == Some(token) { Ok(()) } else { Err(Refused::Wrong) }
            }
            Dialect::Second => match value(API_KEY_HEADER) {
                Some(given) if given == token => Ok(()),
                Some(given) if !given.is_empty() => Err(Refused::Wrong),
                _ => Err(Refused::Missing),
            },
        }
    }

    /// The 401 for a credential that is not accepted or missing.
    pub(super) fn refusal(self, refused: Refused) -> Response {
        let (scheme, detail) = match (self, refused) {
            (Dialect::First, _) => ("Bearer", "Could not validate credentials"),
            (Dialect::Second, Refused::Wrong) => ("APIKey", "Invalid API Key"),
            (Dialect::Second, Refused::Missing) => ("APIKey", "Not authenticated"),
        };
        (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, scheme)], Json(json!({"detail": detail})))
            .into_response()
    }
}

/// Why a request's credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// None was sent in the dialect's header.
    Missing,
    /// One was sent and is not the accepted token.
    Wrong,
}

/// The header of the second dialect's API key (HTTP reads header names in any case).
pub(super) const API_KEY_HEADER: &str = "X-API-Key";

/// The statuses a dialect answers with, for its OpenAPI document.
#[derive(Debug, Clone, Copy)]
pub(super) struct Statuses {
    pub updated: StatusCode,
    pub created: StatusCode,
    pub missing: StatusCode,
}

/// `object` with each field `from` renamed `to` (an existing `to` is replaced).
fn rename<'a>(mut object: Value, pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    if let Some(fields) = object.as_object_mut() {
        for (from, to) in pairs {
            if let Some(value) = fields.remove(from) {
                fields.insert(to.to_owned(), value);
            }
        }
    }
    object
}

fn as_index(value: i64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_dialect_renames_at_the_edge_and_back() {
        let model = json!({"id": 1, "assignee": 12, "title": "t"});
        let face = Dialect::Second.render(Kind::Issue, model.clone());
        assert_eq!(face, json!({"id": 1, "assignee_id": 12, "title": "t"}));
        assert_eq!(Dialect::Second.read(Kind::Issue, face), model);
        assert_eq!(Dialect::First.render(Kind::Issue, model.clone()), model);
        assert_eq!(Dialect::Second.render(Kind::Comment, json!({"content": "c"})), json!({"text": "c"}));
    }

    #[test]
    fn pages_count_from_one_and_sizes_are_bounded() {
        let options = SimOptions::from(Dialect::Second);
        assert_eq!(Dialect::Second.paging(&options, None).unwrap(), (0, 50));
        assert_eq!(Dialect::Second.paging(&options, Some("page=3&size=10")).unwrap(), (20, 10));
        for bad in ["page=0", "size=0", "size=101", "size=x"] {
            assert!(Dialect::Second.paging(&options, Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(Dialect::First.paging(&options, Some("offset=3&limit=10")).unwrap(), (3, 10));
    }
}
