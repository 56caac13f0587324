//! Products, locations and channels.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use ordo_domain::catalog::{Channel, ChannelInput, Location, LocationInput, Product, ProductInput};
use ordo_store::{ChannelAvailability, Page, PageRequest, Permission};
use serde::Deserialize;
use utoipa::IntoParams;

use super::created;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

fn same_key(path: &str, body: &mut Option<String>, field: &str) -> ApiResult<()> {
    match body {
        Some(b) if b != path => Err(ApiError::field(
            field,
            format!("'{b}' differs from '{path}' in the URL"),
        )),
        _ => {
            *body = Some(path.to_string());
            Ok(())
        }
    }
}

/// List products, ordered by SKU.
#[utoipa::path(get, path = "/api/v1/products", tag = "catalog", params(PageParams),
    responses((status = 200, body = inline(Page<Product>)), (status = 401, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn list_products(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<PageParams>,
) -> ApiResult<Json<Page<Product>>> {
    caller.require(Permission::Read)?;
    Ok(Json(s.store.list_products(&p.into()).await?))
}

/// Get one product.
#[utoipa::path(get, path = "/api/v1/products/{sku}", tag = "catalog",
    responses((status = 200, body = Product), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get_product(
    State(s): State<AppState>,
    caller: Caller,
    Path(sku): Path<String>,
) -> ApiResult<Json<Product>> {
    caller.require(Permission::Read)?;
    s.store
        .get_product(&sku)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("product {sku}")))
}

/// Create a product (the SKU in the body).
#[utoipa::path(post, path = "/api/v1/products", tag = "catalog", request_body = ProductInput,
    responses((status = 201, body = Product), (status = 200, description = "Replaced an existing product", body = Product), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn post_product(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<ProductInput>,
) -> ApiResult<Response> {
    caller.require(Permission::ManageCatalog)?;
    let product = input.validate()?;
    Ok(created(
        s.store.put_product(product, &caller.context()).await?,
    ))
}

/// Create or replace a product.
#[utoipa::path(put, path = "/api/v1/products/{sku}", tag = "catalog", request_body = ProductInput,
    responses((status = 201, body = Product), (status = 200, body = Product), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn put_product(
    State(s): State<AppState>,
    caller: Caller,
    Path(sku): Path<String>,
    JsonBody(mut input): JsonBody<ProductInput>,
) -> ApiResult<Response> {
    caller.require(Permission::ManageCatalog)?;
    same_key(&sku, &mut input.sku, "sku")?;
    let product = input.validate()?;
    Ok(created(
        s.store.put_product(product, &caller.context()).await?,
    ))
}

/// List locations, in shipping priority order.
#[utoipa::path(get, path = "/api/v1/locations", tag = "catalog", responses((status = 200, body = Vec<Location>)), security(("api_key" = [])))]
pub async fn list_locations(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Location>>> {
    caller.require(Permission::Read)?;
    Ok(Json(s.store.list_locations().await?))
}

/// Get one location.
#[utoipa::path(get, path = "/api/v1/locations/{code}", tag = "catalog",
    responses((status = 200, body = Location), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get_location(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> ApiResult<Json<Location>> {
    caller.require(Permission::Read)?;
    s.store
        .get_location(&code)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("location {code}")))
}

/// Create a location (the code in the body).
#[utoipa::path(post, path = "/api/v1/locations", tag = "catalog", request_body = LocationInput,
    responses((status = 201, body = Location), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn post_location(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<LocationInput>,
) -> ApiResult<Response> {
    caller.require(Permission::ManageCatalog)?;
    Ok(created(
        s.store
            .put_location(input.validate()?, &caller.context())
            .await?,
    ))
}

/// Create or replace a location.
#[utoipa::path(put, path = "/api/v1/locations/{code}", tag = "catalog", request_body = LocationInput,
    responses((status = 201, body = Location), (status = 200, body = Location), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn put_location(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    JsonBody(mut input): JsonBody<LocationInput>,
) -> ApiResult<Response> {
    caller.require(Permission::ManageCatalog)?;
    same_key(&code, &mut input.code, "code")?;
    Ok(created(
        s.store
            .put_location(input.validate()?, &caller.context())
            .await?,
    ))
}

/// List channels.
#[utoipa::path(get, path = "/api/v1/channels", tag = "catalog", responses((status = 200, body = Vec<Channel>)), security(("api_key" = [])))]
pub async fn list_channels(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<Channel>>> {
    caller.require(Permission::Read)?;
    Ok(Json(s.store.list_channels().await?))
}

/// Get one channel.
#[utoipa::path(get, path = "/api/v1/channels/{code}", tag = "catalog",
    responses((status = 200, body = Channel), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get_channel(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> ApiResult<Json<Channel>> {
    caller.require(Permission::Read)?;
    s.store
        .get_channel(&code)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("channel {code}")))
}

/// Create a channel (the code in the body).
#[utoipa::path(post, path = "/api/v1/channels", tag = "catalog", request_body = ChannelInput,
    responses((status = 201, body = Channel), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn post_channel(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<ChannelInput>,
) -> ApiResult<Response> {
    caller.require(Permission::ManageCatalog)?;
    Ok(created(
        s.store
            .put_channel(input.validate()?, &caller.context())
            .await?,
    ))
}

/// Create or replace a channel. Its locations must exist.
#[utoipa::path(put, path = "/api/v1/channels/{code}", tag = "catalog", request_body = ChannelInput,
    responses((status = 201, body = Channel), (status = 200, body = Channel), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn put_channel(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    JsonBody(mut input): JsonBody<ChannelInput>,
) -> ApiResult<Response> {
    caller.require(Permission::ManageCatalog)?;
    same_key(&code, &mut input.code, "code")?;
    Ok(created(
        s.store
            .put_channel(input.validate()?, &caller.context())
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageParams {
    /// 1–500, default 50.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl From<PageParams> for PageRequest {
    fn from(p: PageParams) -> Self {
        PageRequest {
            limit: p.limit,
            cursor: p.cursor,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AvailabilityParams {
    /// One SKU; without it, a page of all active SKUs.
    pub sku: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Available-to-sell per SKU for a channel: the sum of `available` over the channel's
/// locations, minus its buffer, capped by its max-listed quantity, never below zero.
#[utoipa::path(get, path = "/api/v1/channels/{code}/availability", tag = "catalog", params(AvailabilityParams),
    responses((status = 200, body = inline(Page<ChannelAvailability>)), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn channel_availability(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    Query(p): Query<AvailabilityParams>,
) -> ApiResult<Json<Page<ChannelAvailability>>> {
    caller.require(Permission::Read)?;
    let page = PageRequest {
        limit: p.limit,
        cursor: p.cursor,
    };
    Ok(Json(
        s.store
            .channel_availability(&code, p.sku.as_deref(), &page)
            .await?,
    ))
}
