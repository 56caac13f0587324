//! Channel connections (Shopify, WooCommerce, Amazon, eBay): settings with sealed secrets,
//! SKU mappings, orders waiting for attention, sync status, and the webhook receivers.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ordo_connectors::import::Imported;
use ordo_connectors::settings::{ConnectionInput, ConnectionView, ConnectorKind};
use ordo_connectors::sync::SyncFailure;
use ordo_connectors::webhook::{self, WebhookOutcome, WebhookRefusal};
use ordo_domain::catalog::Channel;
use ordo_store::Permission;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

fn failure(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "connector failure");
    ApiError::internal()
}

fn sync_failure(e: SyncFailure) -> ApiError {
    match e {
        SyncFailure::NotConnected(channel) => ApiError::new(
            StatusCode::CONFLICT,
            "not-connected",
            "Channel not connected",
            format!(
                "channel {channel} has no connection; PUT /api/v1/channels/{channel}/connection first"
            ),
        ),
        SyncFailure::Remote(remote) => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "channel-unavailable",
            "The channel's API failed",
            remote.to_string(),
        ),
        other => failure(other),
    }
}

async fn channel(s: &AppState, code: &str) -> ApiResult<Channel> {
    s.store
        .get_channel(code)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("channel {code}")))
}

fn retried_view(retried: Vec<(String, Imported)>) -> Vec<Value> {
    retried
        .into_iter()
        .map(|(id, outcome)| json!({"external_id": id, "result": outcome}))
        .collect()
}

async fn channel_of_kind(s: &AppState, code: &str) -> ApiResult<(Channel, ConnectorKind)> {
    let channel = channel(s, code).await?;
    let kind = ConnectorKind::parse(channel.kind.as_str()).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "not-connectable",
            "Channel cannot be connected",
            format!(
                "channel {code} is of kind {}; only shopify, woocommerce, amazon and ebay channels have connections",
                channel.kind.as_str()
            ),
        )
    })?;
    Ok((channel, kind))
}

/// The channel's connection, secrets masked.
#[utoipa::path(get, path = "/api/v1/channels/{code}/connection", tag = "connectors",
    responses((status = 200, body = Object), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get_connection(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    caller.require(Permission::Read)?;
    channel_of_kind(&s, &code).await?;
    let connection = s
        .connectors
        .state(&code)
        .connection()
        .await
        .map_err(failure)?
        .ok_or_else(|| ApiError::not_found(format!("connection of channel {code}")))?;
    Ok(Json(connection.view()))
}

/// Connects the channel (or changes its settings): base URL, credentials (sealed at rest,
/// never shown again; leave one out to keep the stored value), channel locations mapped to
/// Ordo locations, and switches for order import, stock push and tracking push.
#[utoipa::path(put, path = "/api/v1/channels/{code}/connection", tag = "connectors", request_body = Object,
    responses((status = 200, body = Object), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn put_connection(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    JsonBody(input): JsonBody<ConnectionInput>,
) -> ApiResult<Json<ConnectionView>> {
    caller.require(Permission::ManageCatalog)?;
    let (_, kind) = channel_of_kind(&s, &code).await?;
    let state = s.connectors.state(&code);
    let previous = state.connection().await.map_err(failure)?;
    let connection = input.validate(&code, kind, previous.as_ref())?;
    let mut errors = Vec::new();
    for (remote, local) in &connection.locations {
        if s.store.get_location(local).await?.is_none() {
            errors.push(ordo_domain::FieldError::new(
                format!("locations.{remote}"),
                format!("location {local} does not exist"),
            ));
        }
    }
    if let Some(local) = &connection.channel_fulfilment_location
        && s.store.get_location(local).await?.is_none()
    {
        errors.push(ordo_domain::FieldError::new(
            "channel_fulfilment_location",
            format!("location {local} does not exist"),
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    state.save_connection(&connection).await.map_err(failure)?;
    ordo_connectors::import::ensure_channel_fulfilment_rule(
        &state,
        connection.channel_fulfilment_location.as_deref(),
        &caller.context(),
    )
    .await
    .map_err(failure)?;
    Ok(Json(connection.view()))
}

/// Disconnects the channel: its settings and credentials are deleted; mappings stay.
#[utoipa::path(delete, path = "/api/v1/channels/{code}/connection", tag = "connectors",
    responses((status = 204), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn delete_connection(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::ManageCatalog)?;
    channel_of_kind(&s, &code).await?;
    s.connectors
        .state(&code)
        .delete_connection()
        .await
        .map_err(failure)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListParams {
    pub limit: Option<i64>,
    /// The last item's key from the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SkuMapping {
    pub channel_ref: String,
    pub sku: String,
}

/// The channel's SKU mappings (channel SKU or listing id → Ordo SKU), in channel-ref order.
#[utoipa::path(get, path = "/api/v1/channels/{code}/sku-mappings", tag = "connectors", params(ListParams),
    responses((status = 200, body = Object)), security(("api_key" = [])))]
pub async fn list_mappings(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Read)?;
    channel(&s, &code).await?;
    let limit = p.limit.unwrap_or(100).clamp(1, 500);
    let rows = s
        .connectors
        .state(&code)
        .mappings(p.after.as_deref(), limit)
        .await
        .map_err(failure)?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.0.clone()))
        .flatten();
    let items: Vec<SkuMapping> = rows
        .into_iter()
        .map(|(channel_ref, sku)| SkuMapping { channel_ref, sku })
        .collect();
    Ok(Json(json!({"items": items, "next_after": next})))
}

#[derive(Debug, Deserialize)]
pub struct MappingInput {
    pub sku: Option<String>,
}

/// Maps a channel SKU or listing id to an Ordo SKU; orders waiting for it are imported
/// at once (their outcomes are in the answer).
#[utoipa::path(put, path = "/api/v1/channels/{code}/sku-mappings/{channel_ref}", tag = "connectors", request_body = Object,
    responses((status = 200, body = Object), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn put_mapping(
    State(s): State<AppState>,
    caller: Caller,
    Path((code, channel_ref)): Path<(String, String)>,
    JsonBody(input): JsonBody<MappingInput>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::ManageCatalog)?;
    channel(&s, &code).await?;
    let sku = input.sku.unwrap_or_default();
    if sku.trim().is_empty() {
        return Err(ApiError::field("sku", "is required"));
    }
    if s.store.get_product(&sku).await?.is_none() {
        return Err(ApiError::field(
            "sku",
            format!("product {sku} does not exist"),
        ));
    }
    if channel_ref.trim().is_empty() || channel_ref.len() > 200 {
        return Err(ApiError::field(
            "channel_ref",
            "must be 1 to 200 characters",
        ));
    }
    let state = s.connectors.state(&code);
    state
        .set_mapping(&channel_ref, Some(&sku))
        .await
        .map_err(failure)?;
    let retried = ordo_connectors::import::retry_attention(&state)
        .await
        .map_err(failure)?;
    Ok(Json(json!({
        "channel_ref": channel_ref, "sku": sku,
        "retried": retried_view(retried),
    })))
}

/// Removes a mapping.
#[utoipa::path(delete, path = "/api/v1/channels/{code}/sku-mappings/{channel_ref}", tag = "connectors",
    responses((status = 204)), security(("api_key" = [])))]
pub async fn delete_mapping(
    State(s): State<AppState>,
    caller: Caller,
    Path((code, channel_ref)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Permission::ManageCatalog)?;
    s.connectors
        .state(&code)
        .set_mapping(&channel_ref, None)
        .await
        .map_err(failure)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Orders kept back from import: items with no Ordo SKU, or data Ordo refuses (the reason
/// says which). Nothing is lost: each keeps the channel's order as received.
#[utoipa::path(get, path = "/api/v1/channels/{code}/attention", tag = "connectors", params(ListParams),
    responses((status = 200, body = Object)), security(("api_key" = [])))]
pub async fn list_attention(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Read)?;
    let limit = p.limit.unwrap_or(100).clamp(1, 500);
    let items = s
        .connectors
        .state(&code)
        .attention(p.after.as_deref(), limit)
        .await
        .map_err(failure)?;
    let view: Vec<Value> = items
        .iter()
        .map(|a| json!({"external_id": a.external_id, "order": a.number, "unmapped": a.unmapped, "reason": a.reason, "since": a.since.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()}))
        .collect();
    Ok(Json(json!({"items": view})))
}

/// Tries every waiting order again (after products were created or data fixed).
#[utoipa::path(post, path = "/api/v1/channels/{code}/attention/retry", tag = "connectors",
    responses((status = 200, body = Object)), security(("api_key" = [])))]
pub async fn retry_attention(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::CaptureOrders)?;
    let state = s.connectors.state(&code);
    let retried = ordo_connectors::import::retry_attention(&state)
        .await
        .map_err(failure)?;
    Ok(Json(json!({
        "retried": retried_view(retried),
    })))
}

/// Sync status: last successful import and pushes, backlog, recent errors with the
/// channel's own message.
#[utoipa::path(get, path = "/api/v1/channels/{code}/sync", tag = "connectors",
    responses((status = 200, body = Object)), security(("api_key" = [])))]
pub async fn sync_status(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::Read)?;
    channel(&s, &code).await?;
    let overview = s.connectors.overview(&code).await.map_err(sync_failure)?;
    Ok(Json(serde_json::to_value(overview).map_err(failure)?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RunParams {
    /// `orders` (poll now), `stock` (push changed figures), `tracking`, or `reconcile`
    /// (send every SKU's figure again).
    pub what: Option<String>,
}

/// Runs one part of the sync now, instead of waiting for the next round.
#[utoipa::path(post, path = "/api/v1/channels/{code}/sync", tag = "connectors", params(RunParams),
    responses((status = 200, body = Object), (status = 409, body = ProblemDetails), (status = 502, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn run_sync(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(p): Query<RunParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Permission::ManageCatalog)?;
    let c = &s.connectors;
    let result = match p.what.as_deref().unwrap_or("orders") {
        "orders" => serde_json::to_value(c.poll_orders(&code).await.map_err(sync_failure)?),
        "stock" => serde_json::to_value(c.push_stock(&code).await.map_err(sync_failure)?),
        "reconcile" => serde_json::to_value(c.reconcile_stock(&code).await.map_err(sync_failure)?),
        "tracking" => {
            Ok(json!({"trackings_pushed": c.push_tracking(&code).await.map_err(sync_failure)?}))
        }
        _ => {
            return Err(ApiError::field(
                "what",
                "must be one of orders, stock, tracking, reconcile",
            ));
        }
    }
    .map_err(failure)?;
    Ok(Json(result))
}

async fn hook(
    s: AppState,
    kind: ConnectorKind,
    channel: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    match webhook::receive(&s.connectors, kind, &channel, header, &body).await {
        Ok(WebhookOutcome::Ping) => (StatusCode::OK, Json(json!({"ping": true}))).into_response(),
        Ok(WebhookOutcome::Duplicate) => {
            (StatusCode::OK, Json(json!({"duplicate": true}))).into_response()
        }
        Ok(WebhookOutcome::Ignored { topic }) => {
            (StatusCode::OK, Json(json!({"ignored": topic}))).into_response()
        }
        Ok(WebhookOutcome::Imported(imported)) => {
            let status = if matches!(imported, Imported::Created { .. }) {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(imported)).into_response()
        }
        Err(WebhookRefusal::BadSignature) => {
            ApiError::unauthorized("the webhook signature is missing or does not match the body")
                .into_response()
        }
        Err(e @ WebhookRefusal::NotConnected(..)) => {
            ApiError::not_found(e.to_string()).into_response()
        }
        Err(WebhookRefusal::Malformed(m)) => ApiError::bad_request(m).into_response(),
        Err(WebhookRefusal::Failed(m)) => failure(m).into_response(),
    }
}

/// Shopify webhook deliveries (`orders/create`, `orders/updated`, `orders/paid`,
/// `orders/cancelled`): `X-Shopify-Hmac-Sha256` must sign the raw body; a repeated
/// `X-Shopify-Webhook-Id` is answered 200 and changes nothing.
#[utoipa::path(post, path = "/hooks/shopify/{channel}", tag = "connectors", request_body = Object,
    responses((status = 201), (status = 200), (status = 401, body = ProblemDetails)))]
pub async fn shopify_hook(
    State(s): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    hook(s, ConnectorKind::Shopify, channel, headers, body).await
}

/// WooCommerce webhook deliveries (`order.created`, `order.updated`):
/// `X-WC-Webhook-Signature` must sign the raw body; the unsigned `webhook_id=N` ping sent
/// when the webhook is created is answered 200.
#[utoipa::path(post, path = "/hooks/woocommerce/{channel}", tag = "connectors", request_body = Object,
    responses((status = 201), (status = 200), (status = 401, body = ProblemDetails)))]
pub async fn woocommerce_hook(
    State(s): State<AppState>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    hook(s, ConnectorKind::Woocommerce, channel, headers, body).await
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ImportParams {
    /// `shopify` (orders export), `amazon` (tab-separated order report) or `ordo`;
    /// recognised from the header row when left out.
    pub format: Option<String>,
}

/// Imports orders from a CSV file sent as the body (up to 1 MiB; `ordo import orders`
/// takes any size). Valid orders are imported through the same path as the API; refused
/// rows are listed with their line, column and reason. Sending the same file again
/// imports nothing new.
#[utoipa::path(post, path = "/api/v1/channels/{code}/orders/import", tag = "connectors", params(ImportParams),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = Object), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn import_orders(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(p): Query<ImportParams>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    use ordo_connectors::csv_import::CsvFormat;
    caller.require(Permission::CaptureOrders)?;
    channel(&s, &code).await?;
    let format = match p.format.as_deref() {
        Some(f) => CsvFormat::parse(f)
            .ok_or_else(|| ApiError::field("format", "must be shopify, amazon or ordo"))?,
        None => CsvFormat::detect(&body).ok_or_else(|| {
            ApiError::field("format", "the header row matches no known format; name one")
        })?,
    };
    let state = s.connectors.state(&code);
    let report = ordo_connectors::import::import_file(&state, &body, format, |_, _| {})
        .await
        .map_err(failure)?;
    Ok(Json(serde_json::to_value(report).map_err(failure)?))
}
