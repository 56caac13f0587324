//! Who may use Ordo: API keys (listed without their tokens, revocable) and back-office users.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ordo_store::{ApiKey, Permission, User};

use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::Caller;

/// Every API key: id, name, role, creation time. Tokens are never stored, only hashes.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "access",
    responses((status = 200, body = Vec<ApiKey>), (status = 403, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn list_keys(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ApiKey>>> {
    caller.require(Permission::ManageKeys)?;
    Ok(Json(s.store.list_api_keys().await?))
}

/// Revokes a key at once on this node (other nodes within the key cache's lifetime). A
/// key cannot revoke itself: that would lock an automation out halfway through.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "access",
    responses((status = 204), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn revoke_key(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::ManageKeys)?;
    if caller.key.id == id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "own-key",
            "A key cannot revoke itself",
            "revoke this key with another admin key or from the back office",
        ));
    }
    if !s.store.delete_api_key(id).await? {
        return Err(ApiError::not_found(format!("API key {id}")));
    }
    s.auth.forget_all();
    Ok(StatusCode::NO_CONTENT)
}

/// Every back-office user and role.
#[utoipa::path(get, path = "/api/v1/users", tag = "access",
    responses((status = 200, body = Vec<User>), (status = 403, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn list_users(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<User>>> {
    caller.require(Permission::ManageKeys)?;
    Ok(Json(s.store.list_users().await?))
}
