//! Routing dry runs: what the engine would decide for an order, and why, without
//! reserving anything.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use ordo_domain::order::OrderInput;
use ordo_routing::adapt::{request_for_new_order, request_for_order};
use ordo_routing::{
    CostModel, LocationProfile, RoutingPlan, Rule, SplitPolicy, route, validate_rules,
};
use ordo_store::{BalanceFilter, PageRequest, Permission};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

/// Either an order body (as for `POST /api/v1/orders`) or the id or number of a stored
/// order, and optionally a set of rules to try instead of none.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SimulateInput {
    pub order: Option<OrderInput>,
    /// A stored order's id or number (`SO-000123`), routed as if it arrived now.
    pub order_id: Option<String>,
    /// Routing rules to apply, top to bottom.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// Dry run: the plan and the explanation for every candidate location (chosen, or why
/// not), against current stock. Nothing is reserved or written.
#[utoipa::path(post, path = "/api/v1/routing/simulate", tag = "routing", request_body = SimulateInput,
    responses((status = 200, body = RoutingPlan), (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn simulate(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<SimulateInput>,
) -> ApiResult<Json<RoutingPlan>> {
    caller.require(Permission::Read)?;
    let locations = s.store.list_locations().await?;
    let codes: Vec<&str> = locations.iter().map(|l| l.code.as_str()).collect();
    validate_rules(&input.rules, &codes).map_err(|errors| {
        ApiError::invalid(
            errors
                .into_iter()
                .map(|mut e| {
                    e.field = format!(
                        "rules{}",
                        if e.field.starts_with('[') {
                            e.field.clone()
                        } else {
                            format!(".{}", e.field)
                        }
                    );
                    e
                })
                .collect(),
        )
    })?;
    let (channel_code, skus): (String, Vec<String>) = match (&input.order, &input.order_id) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(ApiError::field("order", "give either order or order_id"));
        }
        (Some(o), None) => (
            o.channel.clone().unwrap_or_default(),
            o.lines.iter().filter_map(|l| l.sku.clone()).collect(),
        ),
        (None, Some(id)) => {
            let order = s
                .store
                .get_order(id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("order {id}")))?;
            (
                order.channel.clone(),
                order.lines.iter().map(|l| l.sku.clone()).collect(),
            )
        }
    };
    let channel = s.store.get_channel(&channel_code).await?.ok_or_else(|| {
        ApiError::field(
            if input.order.is_some() {
                "order.channel"
            } else {
                "order_id"
            },
            format!("unknown channel '{channel_code}'"),
        )
    })?;
    let mut products = HashMap::new();
    let mut stock: HashMap<(String, String), i64> = HashMap::new();
    for sku in &skus {
        if let Some(p) = s.store.get_product(sku).await? {
            products.insert(sku.clone(), p);
        }
        let balances = s
            .store
            .list_balances(
                &BalanceFilter {
                    sku: Some(sku.clone()),
                    location: None,
                },
                &PageRequest {
                    limit: Some(500),
                    cursor: None,
                },
            )
            .await?;
        for b in balances.items {
            stock.insert((b.sku, b.location), b.available);
        }
    }
    let product = |sku: &str| products.get(sku).cloned();
    let request = match (input.order, input.order_id) {
        (Some(o), _) => {
            let order = o.validate(OffsetDateTime::now_utc())?;
            request_for_new_order(&order, &channel, SplitPolicy::Allow, product)
        }
        (None, Some(id)) => {
            let order = s
                .store
                .get_order(&id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("order {id}")))?;
            request_for_order(&order, &channel, SplitPolicy::Allow, product)
        }
        (None, None) => return Err(ApiError::field("order", "give either order or order_id")),
    };
    let profiles: Vec<LocationProfile> = locations
        .iter()
        .map(LocationProfile::from_location)
        .collect();
    Ok(Json(route(
        &request,
        &profiles,
        &stock,
        &input.rules,
        &CostModel::default(),
    )))
}
