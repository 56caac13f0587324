//! Shipments: shipping a fulfillment order, its labels, voiding and tracking.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ordo_domain::shipment::{Shipment, ShipmentInput, ShipmentStatus, TrackingEventInput};
use ordo_store::{Page, PageRequest, Permission, ShipmentFilter};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::IntoParams;

use super::outcome;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

/// Ship a fulfillment order: every unit leaves `on_hand` and `allocated` in the same
/// transaction (ledger reason `shipped`, reference the shipment), the fulfillment order
/// becomes `shipped` and the order `partially_shipped` or `shipped`. Own-fleet shipments get
/// a check-digited tracking number; `manual` carriers pass theirs (this is also how a 3PL
/// confirms what it shipped, once its request was accepted).
#[utoipa::path(post, path = "/api/v1/shipments", tag = "shipments", request_body = ShipmentInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request return the first answer")),
    responses((status = 201, body = Shipment), (status = 404, body = ProblemDetails),
        (status = 409, description = "Not shippable now (on hold, not accepted, already shipped), named in `current`", body = ProblemDetails),
        (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<ShipmentInput>,
) -> ApiResult<Response> {
    caller.require(Permission::WriteStock)?;
    let mut input = input.validate_with(|c| s.carriers.get(c).is_some())?;
    if input.auto {
        choose_service(&s, &mut input).await?;
    }
    if input.tracking_number.is_none()
        && let Some(adapter) = s.carriers.get(&input.carrier).cloned()
    {
        book(&s, adapter.as_ref(), &mut input).await?;
    }
    let result = s.store.create_shipment(input, &caller.context()).await?;
    Ok(outcome(result, super::created))
}

/// With no carrier and service given and services configured, the cheapest one that fits
/// the parcels, the classes inside and the order's service level, recorded with its
/// alternatives. Without configured services, Ordo's own fleet ships at `standard`.
async fn choose_service(
    s: &AppState,
    input: &mut ordo_domain::shipment::NewShipment,
) -> ApiResult<()> {
    Ok(auto_service(s.store.as_ref(), |c| s.carriers.get(c).is_some(), input).await?)
}

/// The automatic service choice of `POST /api/v1/shipments`, for every front end that
/// ships: `booked` says which carriers have an adapter that returns the tracking number.
/// A chosen carrier without one is refused at `tracking_number`, since nobody else can
/// number its parcels.
pub async fn auto_service(
    store: &dyn ordo_store::Store,
    booked: impl Fn(&str) -> bool,
    input: &mut ordo_domain::shipment::NewShipment,
) -> Result<(), ordo_store::StoreError> {
    use ordo_domain::Problem;
    let services = store.carrier_services().await?;
    if services.is_empty() {
        return Ok(());
    }
    let fo = store
        .get_fulfillment_order(&input.fulfillment_order)
        .await?
        .ok_or_else(|| {
            Problem::NotFound(format!("fulfillment order {}", input.fulfillment_order))
        })?;
    let order = store
        .get_order(&fo.order)
        .await?
        .ok_or_else(|| Problem::NotFound(format!("order {}", fo.order)))?;
    let location = store
        .get_location(&fo.location)
        .await?
        .ok_or_else(|| Problem::NotFound(format!("location {}", fo.location)))?;
    let packing = store.get_packing(&fo.id).await?;
    let mut products = std::collections::HashMap::new();
    for l in &fo.lines {
        if let Some(p) = store.get_product(&l.sku).await? {
            products.insert(l.sku.clone(), p);
        }
    }
    let parcels = ordo_store::parcels_for(&input.packages, packing.as_ref(), &fo.lines, &products);
    let policies = store.packing_policies(&location.code).await?;
    let constraints =
        ordo_store::service_constraints(packing.as_ref(), &fo.lines, &products, &policies);
    let (carrier, service, recorded) = ordo_store::choose_rate(
        &order,
        &location,
        &parcels,
        constraints,
        &services,
        OffsetDateTime::now_utc(),
    )?;
    if carrier != ordo_domain::shipment::OWN_FLEET
        && input.tracking_number.is_none()
        && !booked(&carrier)
    {
        return Err(Problem::invalid(
            "tracking_number",
            format!(
                "{carrier} {service} is the best service; give its tracking number (no {carrier} connection is set up)"
            ),
        )
        .into());
    }
    input.carrier = carrier;
    input.service = service;
    input.rate_choice = Some(recorded);
    Ok(())
}

/// Books the shipment with the carrier's adapter and takes its tracking number.
async fn book(
    s: &AppState,
    adapter: &dyn crate::carriers::CarrierAdapter,
    input: &mut ordo_domain::shipment::NewShipment,
) -> ApiResult<()> {
    let fo = s
        .store
        .get_fulfillment_order(&input.fulfillment_order)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("fulfillment order {}", input.fulfillment_order))
        })?;
    let order = s
        .store
        .get_order(&fo.order)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("order {}", fo.order)))?;
    let location = s
        .store
        .get_location(&fo.location)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("location {}", fo.location)))?;
    let packing = s.store.get_packing(&fo.id).await?;
    let mut products = std::collections::HashMap::new();
    for l in &fo.lines {
        if let Some(p) = s.store.get_product(&l.sku).await? {
            products.insert(l.sku.clone(), p);
        }
    }
    let parcels = ordo_store::parcels_for(&input.packages, packing.as_ref(), &fo.lines, &products);
    let booking = adapter
        .book(&crate::carriers::BookingRequest {
            reference: fo.id.clone(),
            service: input.service.clone(),
            from: crate::documents::label_address(&location.address, &location.name),
            to: crate::documents::label_address(&order.shipping_address, &order.customer.email),
            parcels: parcels.clone(),
        })
        .await?;
    input.tracking_number = Some(booking.tracking_number);
    if input.packages.is_empty() {
        input.packages = parcels;
    }
    Ok(())
}

/// The carrier services shipments choose among.
#[utoipa::path(get, path = "/api/v1/carrier-services", tag = "shipments",
    responses((status = 200, body = Vec<ordo_warehouse::shipping::CarrierService>)), security(("api_key" = [])))]
pub async fn list_services(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ordo_warehouse::shipping::CarrierService>>> {
    caller.require(Permission::Read)?;
    Ok(Json(s.store.carrier_services().await?))
}

/// Replace the carrier services: levels, transit days, weekend delivery, size and weight
/// limits, prices by weight band and destination zone (ISO country), cut-off per location.
#[utoipa::path(put, path = "/api/v1/carrier-services", tag = "shipments", request_body = Vec<ordo_warehouse::shipping::CarrierService>,
    responses((status = 200, body = Vec<ordo_warehouse::shipping::CarrierService>), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn put_services(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(services): JsonBody<Vec<ordo_warehouse::shipping::CarrierService>>,
) -> ApiResult<Json<Vec<ordo_warehouse::shipping::CarrierService>>> {
    caller.require(Permission::ManageCatalog)?;
    let mut errors = Vec::new();
    for (i, svc) in services.iter().enumerate() {
        if !ordo_domain::shipment::is_carrier_code(&svc.carrier) {
            errors.push(ordo_domain::FieldError::new(
                format!("[{i}].carrier"),
                "must be a lowercase carrier code",
            ));
        }
        if svc.code.trim().is_empty() {
            errors.push(ordo_domain::FieldError::new(
                format!("[{i}].code"),
                "is required",
            ));
        }
        if svc.max_weight_g <= 0 {
            errors.push(ordo_domain::FieldError::new(
                format!("[{i}].max_weight_g"),
                "must be positive",
            ));
        }
        if svc.rates.is_empty() {
            errors.push(ordo_domain::FieldError::new(
                format!("[{i}].rates"),
                "give at least one rate band",
            ));
        }
        if services[..i]
            .iter()
            .any(|o| o.carrier == svc.carrier && o.code == svc.code)
        {
            errors.push(ordo_domain::FieldError::new(
                format!("[{i}].code"),
                "is listed twice for this carrier",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    s.store
        .put_carrier_services(services.clone(), &caller.context())
        .await?;
    Ok(Json(services))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ShipmentParams {
    /// An order number (`SO-000123`).
    pub order: Option<String>,
    pub location: Option<String>,
    /// label_created, in_transit, out_for_delivery, delivered, exception, returned_to_sender or voided.
    pub status: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// List shipments, newest first.
#[utoipa::path(get, path = "/api/v1/shipments", tag = "shipments", params(ShipmentParams),
    responses((status = 200, body = inline(Page<Shipment>)), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<ShipmentParams>,
) -> ApiResult<Json<Page<Shipment>>> {
    caller.require(Permission::Read)?;
    let status = p
        .status
        .map(|v| {
            ShipmentStatus::parse(&v).ok_or_else(|| {
                ApiError::field(
                    "status",
                    "must be one of label_created, in_transit, out_for_delivery, delivered, exception, returned_to_sender, voided",
                )
            })
        })
        .transpose()?;
    let filter = ShipmentFilter {
        order: p.order.filter(|o| !o.is_empty()),
        location: p.location.filter(|l| !l.is_empty()),
        status,
    };
    let page = PageRequest {
        limit: p.limit,
        cursor: p.cursor,
    };
    Ok(Json(s.store.list_shipments(&filter, &page).await?))
}

/// One shipment by id (`SH-000001`).
#[utoipa::path(get, path = "/api/v1/shipments/{id}", tag = "shipments",
    responses((status = 200, body = Shipment), (status = 404, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Shipment>> {
    caller.require(Permission::Read)?;
    s.store
        .get_shipment(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("shipment {id}")))
}

/// Void a label not yet handed to the carrier: the units go back on the shelf and into
/// the fulfillment order's reservation, which is open again. A label booked through a
/// carrier connection is cancelled with the carrier first; if the carrier refuses, nothing
/// changes.
#[utoipa::path(post, path = "/api/v1/shipments/{id}/void", tag = "shipments",
    responses((status = 200, body = Shipment), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn void(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Permission::WriteStock)?;
    // Only a label Ordo would void goes to the carrier; a retry of a finished void
    // finds it voided and does not ask again.
    if let Some(shipment) = s.store.get_shipment(&id).await?
        && shipment.status == ShipmentStatus::LabelCreated
        && let Some(adapter) = s.carriers.get(&shipment.carrier).cloned()
    {
        adapter.void(&shipment.tracking_number).await?;
    }
    let result = s.store.void_shipment(&id, &caller.context()).await?;
    Ok(outcome(result, |v| {
        (StatusCode::OK, Json(v)).into_response()
    }))
}

/// A tracking event, as a carrier webhook or poller reports it. `delivered` on every
/// shipment of a fully shipped order makes the order `delivered`; `exception` flags the
/// order for after-sale follow-up in the same transaction (tag `delivery_exception`, event
/// `order.flagged`), and a later `delivered` leaves the flag.
#[utoipa::path(post, path = "/api/v1/shipments/{id}/tracking-events", tag = "shipments", request_body = TrackingEventInput,
    responses((status = 200, body = Shipment), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails),
        (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn tracking_event(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<TrackingEventInput>,
) -> ApiResult<Response> {
    caller.require(Permission::WriteStock)?;
    let event = input.validate(OffsetDateTime::now_utc())?;
    let result = s
        .store
        .add_tracking_event(&id, event, &caller.context())
        .await?;
    Ok(outcome(result, |v| {
        (StatusCode::OK, Json(v)).into_response()
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LabelParams {
    /// Which package (1-based, default 1).
    pub package: Option<u32>,
}

/// The 4×6 in shipping label as PDF.
#[utoipa::path(get, path = "/api/v1/shipments/{id}/label.pdf", tag = "shipments", params(LabelParams),
    responses((status = 200, content_type = "application/pdf", description = "One 288×432 pt page"),
        (status = 404, body = ProblemDetails), (status = 422, description = "The addresses lack what a courier needs", body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn label_pdf(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<LabelParams>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let label =
        crate::documents::shipping_label(s.store.as_ref(), &id, p.package.unwrap_or(1)).await?;
    let pdf = label.to_pdf().map_err(crate::documents::document_error)?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}

/// The 4×6 in shipping label as ZPL II for 203-dpi thermal printers.
#[utoipa::path(get, path = "/api/v1/shipments/{id}/label.zpl", tag = "shipments", params(LabelParams),
    responses((status = 200, content_type = "text/plain", description = "From ^XA to ^XZ"),
        (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn label_zpl(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<LabelParams>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let label =
        crate::documents::shipping_label(s.store.as_ref(), &id, p.package.unwrap_or(1)).await?;
    let zpl = label.to_zpl().map_err(crate::documents::document_error)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], zpl).into_response())
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ManifestInput {
    pub location: Option<String>,
    /// Default `own_fleet`.
    pub carrier: Option<String>,
}

/// Close the end-of-day manifest for one carrier at one location: every labelled shipment
/// not yet on a manifest is handed over (`in_transit`, no more voids).
#[utoipa::path(post, path = "/api/v1/manifests", tag = "shipments", request_body = ManifestInput,
    responses((status = 201, body = ordo_store::Manifest), (status = 422, description = "Unknown location or nothing to hand over", body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn close_manifest(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<ManifestInput>,
) -> ApiResult<Response> {
    caller.require(Permission::WriteStock)?;
    let location = input
        .location
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| ApiError::field("location", "is required"))?;
    let carrier = input
        .carrier
        .unwrap_or_else(|| ordo_domain::shipment::OWN_FLEET.into());
    let result = s
        .store
        .close_manifest(&location, &carrier, &caller.context())
        .await?;
    Ok(outcome(result, super::created))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ManifestParams {
    pub location: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Manifests, newest first.
#[utoipa::path(get, path = "/api/v1/manifests", tag = "shipments", params(ManifestParams),
    responses((status = 200, body = inline(Page<ordo_store::Manifest>))), security(("api_key" = [])))]
pub async fn list_manifests(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<ManifestParams>,
) -> ApiResult<Json<Page<ordo_store::Manifest>>> {
    caller.require(Permission::Read)?;
    let page = PageRequest {
        limit: p.limit,
        cursor: p.cursor,
    };
    Ok(Json(
        s.store
            .list_manifests(p.location.as_deref().filter(|l| !l.is_empty()), &page)
            .await?,
    ))
}

/// The manifest as PDF, for the driver to sign.
#[utoipa::path(get, path = "/api/v1/manifests/{id}/manifest.pdf", tag = "shipments",
    responses((status = 200, content_type = "application/pdf", description = "Manifest"), (status = 404, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn manifest_pdf(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let doc = crate::documents::manifest(s.store.as_ref(), &id).await?;
    let pdf = doc.to_pdf().map_err(crate::documents::document_error)?;
    Ok(([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}

/// The manifest as CSV: one row per package and a total row.
#[utoipa::path(get, path = "/api/v1/manifests/{id}/manifest.csv", tag = "shipments",
    responses((status = 200, content_type = "text/csv", description = "Manifest"), (status = 404, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn manifest_csv(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let doc = crate::documents::manifest(s.store.as_ref(), &id).await?;
    let csv = doc.to_csv().map_err(crate::documents::document_error)?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}
