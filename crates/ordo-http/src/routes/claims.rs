//! Delivery claims: missing items, damage in transit, lost parcels, late deliveries — put
//! right by reshipping (a zero-price order routed like any other), a refund, or nothing.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ordo_domain::claims::{ClaimInput, ClaimType, format_refund, paid_for};
use ordo_store::{Claim, Permission};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

/// Open a claim on a shipped order: `type` missing_items, damaged_in_transit, lost (names its
/// shipment, which is marked lost) or late; `resolution` reship (default; only the named
/// lines, at zero price, routed like any order), refund (`claim.refund_due` with the amount
/// paid for those units) or no_action.
#[utoipa::path(post, path = "/api/v1/orders/{id}/claims", tag = "claims", request_body = ClaimInput,
    responses((status = 201, body = Claim), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails),
        (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ClaimInput>,
) -> ApiResult<Response> {
    caller.require(Permission::ManageOrders)?;
    let claim = ordo_store::open_claim(s.store.as_ref(), &id, input, &caller.context()).await?;
    Ok((StatusCode::CREATED, Json(claim)).into_response())
}

/// An order's claims, newest first.
#[utoipa::path(get, path = "/api/v1/orders/{id}/claims", tag = "claims",
    responses((status = 200, body = Vec<Claim>), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Claim>>> {
    caller.require(Permission::Read)?;
    let order = s
        .store
        .get_order(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {id}")))?;
    let out = ordo_store::order_claims(s.store.as_ref(), &order).await?;
    Ok(Json(out))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ExportParams {
    /// Only claims of these types, comma-separated (default: lost and damaged_in_transit,
    /// the ones a carrier pays for).
    pub types: Option<String>,
    /// Newest claims first; at most this many (default 10,000).
    pub limit: Option<i64>,
}

fn field(v: &str) -> String {
    let defused = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// Carrier claims as CSV: claim, order, type, shipment, carrier, tracking number, declared
/// value (what the customer paid for the units), currency, date.
#[utoipa::path(get, path = "/api/v1/claims.csv", tag = "claims", params(ExportParams),
    responses((status = 200, content_type = "text/csv", body = String)), security(("api_key" = [])))]
pub async fn export(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<ExportParams>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let mut types = Vec::new();
    for t in p
        .types
        .as_deref()
        .unwrap_or("lost,damaged_in_transit")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        types.push(ClaimType::parse(t).ok_or_else(|| {
            ApiError::field("types", format!("must list of {}", ClaimType::list()))
        })?);
    }
    let claims = s
        .store
        .list_claims(None, p.limit.unwrap_or(10_000).clamp(1, 100_000))
        .await?;
    let mut csv = String::from(
        "claim,order,type,resolution,shipment,carrier,tracking_number,value,currency,created_at\n",
    );
    for c in claims.into_iter().filter(|c| types.contains(&c.kind)) {
        let order = s.store.get_order(&c.order).await?;
        let shipment = match &c.shipment {
            Some(id) => s.store.get_shipment(id).await?,
            None => None,
        };
        let value = order
            .as_ref()
            .map(|o| format_refund(o, paid_for(o, &c.lines)))
            .unwrap_or_default();
        let created = c
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let row = [
            c.id.as_str(),
            c.order.as_str(),
            c.kind.as_str(),
            c.resolution.as_str(),
            c.shipment.as_deref().unwrap_or(""),
            shipment.as_ref().map_or("", |s| s.carrier.as_str()),
            shipment.as_ref().map_or("", |s| s.tracking_number.as_str()),
            value.as_str(),
            c.currency.as_str(),
            created.as_str(),
        ];
        csv.push_str(&row.iter().map(|v| field(v)).collect::<Vec<_>>().join(","));
        csv.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}
