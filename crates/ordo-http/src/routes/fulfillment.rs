//! Fulfillment orders: the part of an order one location ships, and what operators and
//! outside fulfillers do with them.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ordo_domain::fulfillment::{
    FulfillmentOrder, FulfillmentStatus, LineQuantityInput, RequestAction,
};
use ordo_domain::order::Order;
use ordo_store::{FulfillmentChange, FulfillmentFilter, Page, PageRequest, Permission};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::outcome;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

#[derive(Debug, Deserialize, IntoParams)]
pub struct FulfillmentParams {
    pub location: Option<String>,
    /// open, on_hold, in_progress, picked, packed, shipped or cancelled.
    pub status: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// List fulfillment orders across orders, oldest order first.
#[utoipa::path(get, path = "/api/v1/fulfillment-orders", tag = "fulfillment", params(FulfillmentParams),
    responses((status = 200, body = inline(Page<FulfillmentOrder>)), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<FulfillmentParams>,
) -> ApiResult<Json<Page<FulfillmentOrder>>> {
    caller.require(Permission::Read)?;
    let status = p
        .status
        .map(|v| {
            FulfillmentStatus::parse(&v).ok_or_else(|| {
                ApiError::field(
                    "status",
                    "must be one of open, on_hold, in_progress, picked, packed, shipped, cancelled",
                )
            })
        })
        .transpose()?;
    let filter = FulfillmentFilter {
        location: p.location.filter(|l| !l.is_empty()),
        status,
    };
    let page = PageRequest {
        limit: p.limit,
        cursor: p.cursor,
    };
    Ok(Json(s.store.list_fulfillment_orders(&filter, &page).await?))
}

/// One fulfillment order by id (`SO-000123-2`).
#[utoipa::path(get, path = "/api/v1/fulfillment-orders/{id}", tag = "fulfillment",
    responses((status = 200, body = FulfillmentOrder), (status = 404, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<FulfillmentOrder>> {
    caller.require(Permission::Read)?;
    s.store
        .get_fulfillment_order(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("fulfillment order {id}")))
}

async fn apply(
    s: AppState,
    caller: Caller,
    permission: Permission,
    change: FulfillmentChange,
) -> ApiResult<Response> {
    caller.require(permission)?;
    let result = s
        .store
        .change_fulfillment(change, &caller.context())
        .await?;
    Ok(outcome(result, |o: Order| {
        (StatusCode::OK, Json(o)).into_response()
    }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MoveInput {
    /// The location to ship from instead.
    pub location: Option<String>,
    /// Only these lines (by `line_no` or `sku`, all units unless `quantity`); without
    /// them, the whole fulfillment order moves.
    pub lines: Option<Vec<LineQuantityInput>>,
}

/// Move a fulfillment order, or some of its lines, to another location. The reservation
/// moves with it in the same transaction; 409 when the new location lacks the stock.
#[utoipa::path(post, path = "/api/v1/fulfillment-orders/{id}/move", tag = "fulfillment", request_body = MoveInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request return the first answer")),
    responses((status = 200, description = "The order after the move", body = Order),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn move_to(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<MoveInput>,
) -> ApiResult<Response> {
    let location = input
        .location
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| ApiError::field("location", "is required"))?;
    apply(
        s,
        caller,
        Permission::ManageOrders,
        FulfillmentChange::Move {
            id,
            location,
            lines: input.lines,
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SplitInput {
    /// The lines (and quantities) that go into the new fulfillment order.
    #[serde(default)]
    pub lines: Vec<LineQuantityInput>,
}

/// Split some lines off into a new fulfillment order at the same location (to ship them
/// separately, or to move only them).
#[utoipa::path(post, path = "/api/v1/fulfillment-orders/{id}/split", tag = "fulfillment", request_body = SplitInput,
    responses((status = 200, body = Order), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails),
        (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn split(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<SplitInput>,
) -> ApiResult<Response> {
    apply(
        s,
        caller,
        Permission::ManageOrders,
        FulfillmentChange::Split {
            id,
            lines: input.lines,
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MergeInput {
    /// Two or more fulfillment orders of one order at one location; they merge into the
    /// first created.
    #[serde(default)]
    pub fulfillment_orders: Vec<String>,
}

/// Merge fulfillment orders of one order at one location into one.
#[utoipa::path(post, path = "/api/v1/fulfillment-orders/merge", tag = "fulfillment", request_body = MergeInput,
    responses((status = 200, body = Order), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails),
        (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn merge(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<MergeInput>,
) -> ApiResult<Response> {
    if input.fulfillment_orders.len() < 2 {
        return Err(ApiError::field(
            "fulfillment_orders",
            "name two or more fulfillment orders",
        ));
    }
    apply(
        s,
        caller,
        Permission::ManageOrders,
        FulfillmentChange::Merge {
            ids: input.fulfillment_orders,
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RejectInput {
    /// Why the location cannot fulfil it (required).
    pub reason: Option<String>,
}

async fn request(
    s: AppState,
    caller: Caller,
    id: String,
    action: RequestAction,
    reason: Option<String>,
) -> ApiResult<Response> {
    apply(
        s,
        caller,
        Permission::AnswerFulfillment,
        FulfillmentChange::Request { id, action, reason },
    )
    .await
}

/// Send the request to the 3PL or marketplace location (`unsubmitted` → `submitted`).
#[utoipa::path(post, path = "/api/v1/fulfillment-orders/{id}/submit", tag = "fulfillment",
    responses((status = 200, body = Order), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn submit(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    request(s, caller, id, RequestAction::Submit, None).await
}

/// The 3PL or marketplace accepts the request (`submitted` → `accepted`).
#[utoipa::path(post, path = "/api/v1/fulfillment-orders/{id}/accept", tag = "fulfillment",
    responses((status = 200, body = Order), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn accept(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    request(s, caller, id, RequestAction::Accept, None).await
}

/// The 3PL or marketplace rejects the request: its reservation is released and the routing
/// engine sends the units elsewhere, never back to a location that rejected this order.
/// Units no other location has wait as backorders.
#[utoipa::path(post, path = "/api/v1/fulfillment-orders/{id}/reject", tag = "fulfillment", request_body = RejectInput,
    responses((status = 200, description = "The order after re-routing", body = Order),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn reject(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<RejectInput>,
) -> ApiResult<Response> {
    if input.reason.as_ref().is_some_and(|r| r.len() > 500) {
        return Err(ApiError::field("reason", "must be at most 500 characters"));
    }
    request(s, caller, id, RequestAction::Reject, input.reason).await
}
