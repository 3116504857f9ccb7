//! The comment routes (the first dialect's `comments`, the second's `notes`): an issue's comments
//! oldest first, a new comment by the token's user, one comment, and (where the instance offers
//! it) an edit of one's own comment. A missing issue or comment, or a comment of another issue, is
//! the dialect's "not found".

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::dialect::Kind;
use super::fastapi::{Invalid, model_body, path_id, required_string};
use super::{Shared, SimState, lock};

/// An issue's comments, oldest first: all of them in the first dialect, one page in the second.
pub(super) async fn list_comments(
    State(shared): SimState,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Invalid> {
    let dialect = shared.options.dialect;
    let id = path_id(&id, "issue_id")?;
    let paging = if dialect.pages_comments() { Some(dialect.paging(&shared.options, query.as_deref())?) } else { None };
    let Some(comments) = lock(&shared.store).comments_of(id) else { return Ok(dialect.missing()) };
    let total = comments.len();
    let page = match paging {
        Some((offset, limit)) => comments.into_iter().skip(offset).take(limit).collect(),
        None => comments,
    };
    Ok(shared.list(Kind::Comment, page, total))
}

/// `POST …/issues/{id}/comments` (or `…/notes`) with the text: the comment, written by the
/// token's user.
pub(super) async fn create_comment(
    State(shared): SimState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Invalid> {
    let dialect = shared.options.dialect;
    let id = path_id(&id, "issue_id")?;
    let content = text_of(&shared, &headers, &body)?;
    Ok(match shared.add_comment(id, shared.options.api_user_id, &content) {
        Some(comment) => dialect.created(dialect.render(Kind::Comment, comment)),
        None => dialect.missing(),
    })
}

pub(super) async fn get_comment(
    State(shared): SimState,
    Path((id, comment)): Path<(String, String)>,
) -> Result<Response, Invalid> {
    let (id, comment) = (path_id(&id, "issue_id")?, path_id(&comment, &shared.options.dialect.comment_param())?);
    let comment = lock(&shared.store).comment(comment);
    Ok(shared.one(Kind::Comment, comment.filter(|(on, _)| *on == id).map(|(_, comment)| comment)))
}

/// The edit of a comment's text (`PUT …/comments/{comment_id}` or `PATCH …/notes/{note_id}`).
/// Only the author may edit a comment (403 otherwise, as a backend that checks ownership answers).
pub(super) async fn update_comment(
    State(shared): SimState,
    Path((id, comment)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Invalid> {
    let dialect = shared.options.dialect;
    let (id, comment) = (path_id(&id, "issue_id")?, path_id(&comment, &dialect.comment_param())?);
    let content = text_of(&shared, &headers, &body)?;
    let mut store = lock(&shared.store);
    let Some((_, current)) = store.comment(comment).filter(|(on, _)| *on == id) else { return Ok(dialect.missing()) };
    let author = current.get("author_id").or_else(|| current.get("user_id")).and_then(Value::as_u64);
    if author != Some(shared.options.api_user_id) {
        return Ok((StatusCode::FORBIDDEN, Json(json!({"detail": "Not enough permissions"}))).into_response());
    }
    let edited = store.edit_comment(comment, &content);
    Ok(shared.one(Kind::Comment, edited))
}

/// The text of a comment body, under the dialect's name for it.
fn text_of(shared: &Shared, headers: &HeaderMap, body: &Bytes) -> Result<String, Invalid> {
    required_string(&model_body(headers, body)?, shared.options.dialect.field(Kind::Comment, "content"))
}
