//! Stock: balances, the three kinds of write, the ledger and its verification.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ordo_domain::inventory::Reason;
use ordo_domain::inventory::{AdjustmentInput, CountInput, MoveInput, StockWrite};
use ordo_store::{
    BalanceFilter, BalanceRow, Movement, MovementFilter, Page, PageRequest, Permission,
    StockWriteResult, VerifyReport,
};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;

use super::outcome;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

#[derive(Debug, Deserialize, IntoParams)]
pub struct InventoryParams {
    pub sku: Option<String>,
    pub location: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl InventoryParams {
    fn split(self) -> (BalanceFilter, PageRequest) {
        (
            BalanceFilter {
                sku: self.sku,
                location: self.location,
            },
            PageRequest {
                limit: self.limit,
                cursor: self.cursor,
            },
        )
    }
}

/// Balances per (SKU, location) in every state, with `available`.
#[utoipa::path(get, path = "/api/v1/inventory", tag = "inventory", params(InventoryParams),
    responses((status = 200, body = inline(Page<BalanceRow>))), security(("api_key" = [])))]
pub async fn list_balances(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<InventoryParams>,
) -> ApiResult<Json<Page<BalanceRow>>> {
    caller.require(Permission::Read)?;
    let (filter, page) = p.split();
    Ok(Json(s.store.list_balances(&filter, &page).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MovementParams {
    pub sku: Option<String>,
    pub location: Option<String>,
    /// One reason: received, cycle_count, correction, damage, shrinkage, return_restock,
    /// transfer, quality_control, safety_stock, other, allocation, deallocation, shipped,
    /// shipment_voided or return_in_transit.
    pub reason: Option<String>,
    /// RFC 3339, inclusive.
    pub after: Option<String>,
    /// RFC 3339, exclusive.
    pub before: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn movement_time(field: &str, v: Option<String>) -> ApiResult<Option<OffsetDateTime>> {
    v.filter(|v| !v.trim().is_empty())
        .map(|v| {
            OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339)
                .map_err(|_| ApiError::field(field, "must be an RFC 3339 timestamp"))
        })
        .transpose()
}

/// The stock ledger, newest first, filtered by SKU, location, reason and time.
#[utoipa::path(get, path = "/api/v1/inventory/movements", tag = "inventory", params(MovementParams),
    responses((status = 200, body = inline(Page<Movement>)), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn list_movements(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<MovementParams>,
) -> ApiResult<Json<Page<Movement>>> {
    caller.require(Permission::Read)?;
    let reason = match p.reason.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(r) => Some(
            Reason::parse(r)
                .ok_or_else(|| ApiError::field("reason", "must be a stock movement reason"))?
                .as_str()
                .to_string(),
        ),
    };
    let filter = MovementFilter {
        sku: p.sku.filter(|v| !v.trim().is_empty()),
        location: p.location.filter(|v| !v.trim().is_empty()),
        reason,
        after: movement_time("after", p.after)?,
        before: movement_time("before", p.before)?,
    };
    let page = PageRequest {
        limit: p.limit,
        cursor: p.cursor,
    };
    Ok(Json(s.store.list_movements(&filter, &page).await?))
}

async fn write(s: AppState, caller: Caller, w: StockWrite) -> ApiResult<Response> {
    caller.require(Permission::WriteStock)?;
    let result = s.store.write_stock(w, &caller.context()).await?;
    metrics::counter!("ordo_stock_writes_total").increment(1);
    Ok(outcome(result, |r| {
        (StatusCode::CREATED, Json(r)).into_response()
    }))
}

/// Adjust one state by a signed delta (e.g. +24 on_hand, reason received).
/// Freed units are given to waiting orders in the same transaction.
#[utoipa::path(post, path = "/api/v1/inventory/adjustments", tag = "inventory", request_body = AdjustmentInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request return the first answer")),
    responses((status = 201, body = StockWriteResult), (status = 409, description = "Would leave a state negative or over-promise stock", body = ProblemDetails),
        (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn adjust(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<AdjustmentInput>,
) -> ApiResult<Response> {
    let w = input.validate()?;
    write(s, caller, w).await
}

/// Move units between states (e.g. available → damaged, incoming → available).
#[utoipa::path(post, path = "/api/v1/inventory/moves", tag = "inventory", request_body = MoveInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request return the first answer")),
    responses((status = 201, body = StockWriteResult), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn move_stock(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<MoveInput>,
) -> ApiResult<Response> {
    let w = input.validate()?;
    write(s, caller, w).await
}

/// Set on_hand from a physical count. With `expected_on_hand` the count only applies if
/// nothing changed since the scanner read the balance (else 409 with the current value).
/// A count below what is promised takes units back from the newest, lowest-priority orders.
#[utoipa::path(post, path = "/api/v1/inventory/counts", tag = "inventory", request_body = CountInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request return the first answer")),
    responses((status = 201, body = StockWriteResult), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn count(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<CountInput>,
) -> ApiResult<Response> {
    let w = input.validate()?;
    write(s, caller, w).await
}

/// Recomputes every balance from the ledger and every reservation from open orders.
#[utoipa::path(get, path = "/api/v1/inventory/verify", tag = "inventory",
    responses((status = 200, body = VerifyReport)), security(("api_key" = [])))]
pub async fn verify(State(s): State<AppState>, caller: Caller) -> ApiResult<Json<VerifyReport>> {
    caller.require(Permission::Read)?;
    Ok(Json(s.store.verify().await?))
}
