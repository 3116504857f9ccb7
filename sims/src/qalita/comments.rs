//! The comment routes: an issue's comments oldest first, a new comment by the token's user, one
//! comment, and (where the instance offers it) an edit of one's own comment. A missing issue or
//! comment, or a comment of another issue, is QALITA's 204 "not found or no access".

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::fastapi::{Invalid, found, model_body, path_id, required_string};
use super::lock;
use super::routes::{SimState, list};

pub(super) async fn list_comments(State(shared): SimState, Path(id): Path<String>) -> Result<Response, Invalid> {
    let id = path_id(&id, "issue_id")?;
    let comments = lock(&shared.store).comments_of(id);
    Ok(match comments {
        Some(comments) => {
            let total = comments.len();
            list(&shared, comments, total)
        }
        None => found(None),
    })
}

/// `POST …/issues/{id}/comments` with `{"content": "…"}`: the comment, written by the token's user.
pub(super) async fn create_comment(
    State(shared): SimState,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Invalid> {
    let id = path_id(&id, "issue_id")?;
    let content = content_of(&headers, &body)?;
    Ok(found(shared.add_comment(id, shared.options.api_user_id, &content)))
}

pub(super) async fn get_comment(
    State(shared): SimState,
    Path((id, comment)): Path<(String, String)>,
) -> Result<Response, Invalid> {
    let (id, comment) = (path_id(&id, "issue_id")?, path_id(&comment, "comment_id")?);
    let comment = lock(&shared.store).comment(comment);
    Ok(found(comment.filter(|(on, _)| *on == id).map(|(_, comment)| comment)))
}

/// `PUT …/issues/{id}/comments/{comment_id}` with `{"content": "…"}`. Only the author may edit a
/// comment (403 otherwise, as a backend that checks ownership answers).
pub(super) async fn update_comment(
    State(shared): SimState,
    Path((id, comment)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Invalid> {
    let (id, comment) = (path_id(&id, "issue_id")?, path_id(&comment, "comment_id")?);
    let content = content_of(&headers, &body)?;
    let mut store = lock(&shared.store);
    let Some((_, current)) = store.comment(comment).filter(|(on, _)| *on == id) else { return Ok(found(None)) };
    let author = current.get("author_id").or_else(|| current.get("user_id")).and_then(Value::as_u64);
    if author != Some(shared.options.api_user_id) {
        return Ok((StatusCode::FORBIDDEN, Json(json!({"detail": "Not enough permissions"}))).into_response());
    }
    Ok(found(store.edit_comment(comment, &content)))
}

/// The `content` of a comment body.
fn content_of(headers: &HeaderMap, body: &Bytes) -> Result<String, Invalid> {
    required_string(&model_body(headers, body)?, "content")
}
