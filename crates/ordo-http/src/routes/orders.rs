//! Order capture and lifecycle.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ordo_domain::order::{HoldReason, Order, OrderInput, OrderStatus, Transition};
use ordo_store::{
    Event, OrderChange, OrderFilter, OrderSort, OrderSummary, Page, PageRequest, Permission,
};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::outcome;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

/// Capture an order from any channel. Stock is reserved in the same transaction that stores
/// the order, and the response is sent only after it is on disk.
///
/// Idempotent: the same `(channel, external_id)` again returns the stored order with 200;
/// a repeated `Idempotency-Key` returns the first response.
#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", request_body = OrderInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request return the first answer")),
    responses(
        (status = 201, description = "Captured", body = Order),
        (status = 200, description = "Already captured: the stored order", body = Order),
        (status = 400, description = "Unparseable JSON", body = ProblemDetails),
        (status = 413, description = "Body over 1 MiB", body = ProblemDetails),
        (status = 422, description = "Invalid field(s), named in `errors`", body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn capture(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<OrderInput>,
) -> ApiResult<Response> {
    caller.require(Permission::CaptureOrders)?;
    let order = input.validate(OffsetDateTime::now_utc())?;
    let result = s.store.capture_order(order, &caller.context()).await?;
    Ok(outcome(result, |c| {
        if c.created {
            metrics::counter!("ordo_orders_captured_total").increment(1);
        }
        super::created(c)
    }))
}

/// Get an order by id (UUID) or number (`SO-000123`). While a routing rule holds it,
/// `hold_rule` and `hold_note` say which rule and why.
#[utoipa::path(get, path = "/api/v1/orders/{id}", tag = "orders",
    responses((status = 200, body = Order), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get_order(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Order>> {
    caller.require(Permission::Read)?;
    let mut order = s
        .store
        .get_order(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {id}")))?;
    super::routing::name_rule_hold(s.store.as_ref(), &mut order).await?;
    Ok(Json(order))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OrderParams {
    /// allocated, partially_allocated, backordered, on_hold or cancelled.
    pub status: Option<String>,
    pub channel: Option<String>,
    /// Orders with a line for this SKU.
    pub sku: Option<String>,
    /// RFC 3339, inclusive.
    pub placed_after: Option<String>,
    /// RFC 3339, exclusive.
    pub placed_before: Option<String>,
    /// An order number, customer email or external id.
    pub q: Option<String>,
    /// Orders with a fulfillment order (not cancelled) at this location code.
    pub location: Option<String>,
    /// Comma-separated tags; orders carrying every one of them.
    pub tags: Option<String>,
    /// `true`: only late orders, not shipped yet (allocated, partially allocated,
    /// backordered, on hold or partially shipped) and promised for delivery before today
    /// (UTC), as counted on the dashboard.
    pub late: Option<String>,
    /// number (newest captured first, the default), placed_desc, placed_asc, total_desc or
    /// total_asc (totals compared in minor units). A cursor continues only the sort it came from.
    pub sort: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

fn parse_time(field: &str, v: Option<String>) -> ApiResult<Option<OffsetDateTime>> {
    v.map(|v| {
        OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339)
            .map_err(|_| ApiError::field(field, "must be an RFC 3339 timestamp"))
    })
    .transpose()
}

/// List orders, newest captured first unless `sort` says otherwise.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", params(OrderParams),
    responses((status = 200, body = inline(Page<OrderSummary>)), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn list_orders(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<OrderParams>,
) -> ApiResult<Json<Page<OrderSummary>>> {
    caller.require(Permission::Read)?;
    let status = p
        .status
        .map(|v| OrderStatus::parse(&v).ok_or_else(|| ApiError::field("status", "must be one of allocated, partially_allocated, backordered, on_hold, cancelled")))
        .transpose()?;
    let filter = OrderFilter {
        status,
        channel: p.channel,
        sku: p.sku,
        placed_after: parse_time("placed_after", p.placed_after)?,
        placed_before: parse_time("placed_before", p.placed_before)?,
        q: p.q.filter(|q| !q.trim().is_empty()),
        location: p.location.filter(|l| !l.trim().is_empty()),
        tags: p
            .tags
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        late_on: match p.late.as_deref().map(str::trim) {
            None | Some("" | "false") => None,
            Some("true") => Some(OffsetDateTime::now_utc().date()),
            Some(_) => return Err(ApiError::field("late", "must be true or false")),
        },
        sort: match p.sort.as_deref().map(str::trim) {
            None | Some("") => OrderSort::Number,
            Some(v) => OrderSort::parse(v).ok_or_else(|| {
                ApiError::field(
                    "sort",
                    "must be one of number, placed_desc, placed_asc, total_desc, total_asc",
                )
            })?,
        },
    };
    Ok(Json(
        s.store
            .list_orders(
                &filter,
                &PageRequest {
                    limit: p.limit,
                    cursor: p.cursor,
                },
            )
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CancelInput {
    /// Why the order is cancelled (free text).
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct HoldInput {
    /// payment_pending, fraud_review, address_invalid, customer_request, stock_shortage or manual (default).
    pub reason: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReleaseInput {
    pub note: Option<String>,
}

async fn change(
    s: AppState,
    caller: Caller,
    id: String,
    change: OrderChange,
) -> ApiResult<Response> {
    caller.require(Permission::ManageOrders)?;
    let result = s
        .store
        .transition_order(&id, change, &caller.context())
        .await?;
    Ok(outcome(result, |o| {
        (StatusCode::OK, Json(o)).into_response()
    }))
}

fn optional_body<T: Default + serde::de::DeserializeOwned>(
    body: axum::body::Bytes,
) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        crate::extract::parse_json(&body)
    }
}

/// Cancel an order: every allocation is released (and re-offered to waiting orders).
#[utoipa::path(post, path = "/api/v1/orders/{id}/cancel", tag = "orders", request_body = CancelInput,
    responses((status = 200, body = Order), (status = 409, description = "Illegal in the current state, named in `current`", body = ProblemDetails),
        (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn cancel(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let input: CancelInput = optional_body(body)?;
    if input.reason.as_ref().is_some_and(|r| r.len() > 500) {
        return Err(ApiError::field("reason", "must be at most 500 characters"));
    }
    change(
        s,
        caller,
        id,
        OrderChange {
            transition: Transition::Cancel,
            hold_reason: None,
            note: input.reason,
        },
    )
    .await
}

/// Put an order on hold. It keeps its reservations.
#[utoipa::path(post, path = "/api/v1/orders/{id}/hold", tag = "orders", request_body = HoldInput,
    responses((status = 200, body = Order), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn hold(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let input: HoldInput = optional_body(body)?;
    let reason = match input.reason.as_deref() {
        None => HoldReason::Manual,
        Some(r) => HoldReason::parse(r).ok_or_else(|| {
            ApiError::field("reason", "must be one of payment_pending, fraud_review, address_invalid, customer_request, stock_shortage, manual")
        })?,
    };
    change(
        s,
        caller,
        id,
        OrderChange {
            transition: Transition::Hold,
            hold_reason: Some(reason),
            note: input.note,
        },
    )
    .await
}

/// Release a held order back to its allocation state.
#[utoipa::path(post, path = "/api/v1/orders/{id}/release", tag = "orders", request_body = ReleaseInput,
    responses((status = 200, body = Order), (status = 409, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn release(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let input: ReleaseInput = optional_body(body)?;
    change(
        s,
        caller,
        id,
        OrderChange {
            transition: Transition::Release,
            hold_reason: None,
            note: input.note,
        },
    )
    .await
}

/// The order's timeline: every event with time and actor.
#[utoipa::path(get, path = "/api/v1/orders/{id}/events", tag = "orders",
    responses((status = 200, body = Vec<Event>), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn order_events(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Event>>> {
    caller.require(Permission::Read)?;
    s.store
        .order_events(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("order {id}")))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineSkuInput {
    /// The Ordo SKU the channel's item is.
    pub sku: String,
}

/// Names the Ordo SKU of a line a channel sent with an item no SKU is mapped to (the order
/// is on hold `unmapped_sku`, the line listed in `unmapped_lines`). The line then waits for
/// stock like any backorder; the order is released when its last such line is mapped. To
/// map the item for every future order too, add a SKU mapping on the channel.
#[utoipa::path(put, path = "/api/v1/orders/{id}/lines/{line_no}/sku", tag = "orders", request_body = LineSkuInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request return the first answer")),
    responses((status = 200, body = Order), (status = 404, body = ProblemDetails),
        (status = 409, description = "The line already names a SKU, or the order is cancelled", body = ProblemDetails),
        (status = 422, description = "Unknown or inactive SKU, or one already on the order", body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn map_line(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, line_no)): Path<(String, i32)>,
    JsonBody(input): JsonBody<LineSkuInput>,
) -> ApiResult<Response> {
    caller.require(Permission::ManageOrders)?;
    let sku = input.sku.trim().to_string();
    if let Err(e) = ordo_domain::catalog::check_sku(&sku) {
        return Err(ApiError::field("sku", e));
    }
    let result = s
        .store
        .map_order_line(&id, line_no, &sku, &caller.context())
        .await?;
    if let ordo_store::Outcome::Done(order) = &result {
        let state = s.connectors.state(&order.channel);
        ordo_connectors::import::forget_attention_once_mapped(&state, order).await;
    }
    Ok(outcome(result, |o| {
        (StatusCode::OK, Json(o)).into_response()
    }))
}
