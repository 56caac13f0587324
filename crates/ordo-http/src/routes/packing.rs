//! The pack station: box types, packing a fulfillment order, and its packing slips.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ordo_store::{
    PackInput, PackPlanInput, PackScanCheck, PackScanCheckInput, Packing, Permission,
};
use ordo_warehouse::cartonize::BoxType;
use serde::Deserialize;
use utoipa::IntoParams;

use super::outcome;
use crate::AppState;
use crate::documents::document_error;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

/// The pack bench's box types (a built-in set until any is saved).
#[utoipa::path(get, path = "/api/v1/box-types", tag = "packing",
    responses((status = 200, body = Vec<BoxType>)), security(("api_key" = [])))]
pub async fn list_box_types(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<BoxType>>> {
    caller.require(Permission::Read)?;
    Ok(Json(s.store.box_types().await?))
}

/// Create or change a box type (inner size, max weight, tare, cost, features such as
/// `insulated`). Once any is saved, only saved box types are offered.
#[utoipa::path(put, path = "/api/v1/box-types/{code}", tag = "packing", request_body = BoxType,
    responses((status = 200, body = BoxType), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn put_box_type(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    JsonBody(mut box_type): JsonBody<BoxType>,
) -> ApiResult<Json<BoxType>> {
    caller.require(Permission::ManageCatalog)?;
    box_type.code = code;
    let mut errors = Vec::new();
    let d = &box_type.inner;
    for (name, v) in [
        ("inner.length_mm", d.length_mm),
        ("inner.width_mm", d.width_mm),
        ("inner.height_mm", d.height_mm),
        ("max_weight_g", box_type.max_weight_g),
    ] {
        if v <= 0 {
            errors.push(ordo_domain::FieldError::new(name, "must be positive"));
        }
    }
    for (name, v) in [
        ("tare_g", box_type.tare_g),
        ("cost_minor", box_type.cost_minor),
    ] {
        if v < 0 {
            errors.push(ordo_domain::FieldError::new(name, "must not be negative"));
        }
    }
    if box_type.code.trim().is_empty() || box_type.code.len() > 32 {
        errors.push(ordo_domain::FieldError::new(
            "code",
            "must be 1 to 32 characters",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    s.store
        .put_box_type(box_type.clone(), &caller.context())
        .await?;
    Ok(Json(box_type))
}

/// Pack a fulfillment order: the scans (SKU or barcode) must be exactly its items — a wrong
/// or extra item is refused and nothing changes. Boxes are chosen by size and product class
/// (fragile padded and never with hazmat, perishable in an insulated box, hazmat alone) with
/// the packer's instructions; `boxes` overrides the choice. The fulfillment order becomes
/// `packed`, and a shipment without packages uses these.
#[utoipa::path(post, path = "/api/v1/fulfillment-orders/{id}/pack", tag = "packing", request_body = PackInput,
    responses((status = 200, body = Packing), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails),
        (status = 422, description = "Wrong, missing or extra items, or no box fits", body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn pack(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<PackInput>,
) -> ApiResult<Response> {
    caller.require(Permission::WriteStock)?;
    let result = s
        .store
        .pack_fulfillment_order(&id, input, &caller.context())
        .await?;
    Ok(outcome(result, |p| {
        (StatusCode::OK, Json(p)).into_response()
    }))
}

/// What the pack station reads to check or plan a fulfillment order: its order and the
/// products of the order's lines.
async fn pack_context(
    s: &AppState,
    id: &str,
) -> ApiResult<(
    ordo_domain::order::Order,
    std::collections::HashMap<String, ordo_domain::catalog::Product>,
)> {
    let fo = s
        .store
        .get_fulfillment_order(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("fulfillment order {id}")))?;
    let order = s
        .store
        .get_order(&fo.order)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("fulfillment order {id}")))?;
    let mut products = std::collections::HashMap::new();
    for l in &order.lines {
        if let Some(p) = s.store.get_product(&l.sku).await? {
            products.insert(l.sku.clone(), p);
        }
    }
    Ok((order, products))
}

/// The suggested packing of a fulfillment order, written nowhere: the cheapest boxes that
/// fit its items by size and product class, what goes in each, and the packer's
/// instructions from the packing policies — what `pack` would choose. `boxes` plans with
/// only those box types, to see whether another box works.
#[utoipa::path(post, path = "/api/v1/fulfillment-orders/{id}/pack-plan", tag = "packing", request_body = PackPlanInput,
    responses((status = 200, body = ordo_warehouse::cartonize::PackingPlan), (status = 404, body = ProblemDetails),
        (status = 409, description = "Not packable now (on hold, already packed or shipped)", body = ProblemDetails),
        (status = 422, description = "Unknown box type, or no box fits", body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn pack_plan(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<PackPlanInput>,
) -> ApiResult<Json<ordo_warehouse::cartonize::PackingPlan>> {
    caller.require(Permission::Read)?;
    let (order, products) = pack_context(&s, &id).await?;
    let location = ordo_store::fulfillment_location(&order, &id).unwrap_or_default();
    let policies = s.store.packing_policies(location).await?;
    let boxes = s.store.box_types().await?;
    Ok(Json(ordo_store::suggest_pack(
        &order,
        &id,
        input.boxes.as_deref(),
        &products,
        &boxes,
        &policies,
    )?))
}

/// Check one scan at the pack station, written nowhere: `scan` ({sku|barcode, quantity})
/// against the fulfillment order given what was `scanned` before. A wrong item, or one more
/// than ordered, is refused (422 on `scan.sku` / `scan.barcode`) naming what is still
/// expected; an accepted scan answers how many of that SKU are in and what is left.
#[utoipa::path(post, path = "/api/v1/fulfillment-orders/{id}/pack-scans", tag = "packing", request_body = PackScanCheckInput,
    responses((status = 200, body = PackScanCheck), (status = 404, body = ProblemDetails),
        (status = 409, description = "Not packable now", body = ProblemDetails),
        (status = 422, description = "Wrong or extra item, with what is expected", body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn pack_scan(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<PackScanCheckInput>,
) -> ApiResult<Json<PackScanCheck>> {
    caller.require(Permission::Read)?;
    let (order, products) = pack_context(&s, &id).await?;
    Ok(Json(ordo_store::check_pack_scan(
        &order, &id, &input, &products,
    )?))
}

/// What the pack station recorded for a fulfillment order.
#[utoipa::path(get, path = "/api/v1/fulfillment-orders/{id}/packing", tag = "packing",
    responses((status = 200, body = Packing), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get_packing(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Packing>> {
    caller.require(Permission::Read)?;
    s.store
        .get_packing(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("packing of {id}")))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SlipParams {
    /// Which package (1-based, default 1).
    pub package: Option<u32>,
}

/// The packing slip of one package as PDF.
#[utoipa::path(get, path = "/api/v1/fulfillment-orders/{id}/packing-slip.pdf", tag = "packing", params(SlipParams),
    responses((status = 200, content_type = "application/pdf", description = "A4 packing slip"),
        (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn packing_slip(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<SlipParams>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let slip =
        crate::documents::packing_slip(s.store.as_ref(), &id, p.package.unwrap_or(1)).await?;
    let pdf = slip.to_pdf().map_err(document_error)?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PoliciesInput {
    /// The policies as JSON.
    pub policies: Option<ordo_warehouse::packing::PackingPolicies>,
    /// Or as CSV text (the format `GET …?format=csv` returns).
    pub csv: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PoliciesParams {
    /// `csv` for the CSV form.
    pub format: Option<String>,
}

fn policies_response(
    p: ordo_warehouse::packing::PackingPolicies,
    format: Option<&str>,
) -> Response {
    if format == Some("csv") {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            p.to_csv(),
        )
            .into_response()
    } else {
        Json(p).into_response()
    }
}

async fn save_policies(
    s: &AppState,
    caller: &Caller,
    location: Option<&str>,
    input: PoliciesInput,
) -> ApiResult<ordo_warehouse::packing::PackingPolicies> {
    caller.require(Permission::ManageCatalog)?;
    let policies = match (input.policies, input.csv) {
        (Some(p), None) => {
            p.validate()?;
            p
        }
        (None, Some(csv)) => ordo_warehouse::packing::PackingPolicies::from_csv(&csv)?,
        _ => return Err(ApiError::field("policies", "give either policies or csv")),
    };
    s.store
        .put_packing_policies(location, policies.clone(), &caller.context())
        .await?;
    Ok(policies)
}

/// The shop-wide packing policies by handling class (fragile, perishable, hazmat by
/// default): materials, markings, padding, what may share a box, box features, allowed
/// service levels, weekend transit. JSON, or CSV with `?format=csv`.
#[utoipa::path(get, path = "/api/v1/packing-policies", tag = "packing", params(PoliciesParams),
    responses((status = 200, body = ordo_warehouse::packing::PackingPolicies)), security(("api_key" = [])))]
pub async fn get_policies(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<PoliciesParams>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    // Any location without its own policies reads the shop-wide ones.
    let policies = s.store.packing_policies("").await?;
    Ok(policies_response(policies, p.format.as_deref()))
}

/// Replace the shop-wide packing policies (JSON or CSV).
#[utoipa::path(put, path = "/api/v1/packing-policies", tag = "packing", request_body = PoliciesInput,
    responses((status = 200, body = ordo_warehouse::packing::PackingPolicies), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn put_policies(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<PoliciesInput>,
) -> ApiResult<Json<ordo_warehouse::packing::PackingPolicies>> {
    Ok(Json(save_policies(&s, &caller, None, input).await?))
}

/// The packing policies in force at one location (its own, else the shop-wide ones).
#[utoipa::path(get, path = "/api/v1/locations/{code}/packing-policies", tag = "packing", params(PoliciesParams),
    responses((status = 200, body = ordo_warehouse::packing::PackingPolicies), (status = 404, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn get_location_policies(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(p): Query<PoliciesParams>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    if s.store.get_location(&code).await?.is_none() {
        return Err(ApiError::not_found(format!("location {code}")));
    }
    let policies = s.store.packing_policies(&code).await?;
    Ok(policies_response(policies, p.format.as_deref()))
}

/// Give one location its own packing policies (JSON or CSV).
#[utoipa::path(put, path = "/api/v1/locations/{code}/packing-policies", tag = "packing", request_body = PoliciesInput,
    responses((status = 200, body = ordo_warehouse::packing::PackingPolicies), (status = 404, body = ProblemDetails),
        (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn put_location_policies(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    JsonBody(input): JsonBody<PoliciesInput>,
) -> ApiResult<Json<ordo_warehouse::packing::PackingPolicies>> {
    if s.store.get_location(&code).await?.is_none() {
        return Err(ApiError::not_found(format!("location {code}")));
    }
    Ok(Json(save_policies(&s, &caller, Some(&code), input).await?))
}
