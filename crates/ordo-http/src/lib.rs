//! Ordo's HTTP API. Handlers check permissions, turn the body into a domain command, call
//! one store method and shape the answer; the rules live in `ordo-domain`.

pub mod auth;
pub mod carriers;
pub mod documents;
pub mod error;
pub mod extract;
pub mod routes;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use ordo_store::Store;
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use routes::{
    access, catalog, claims, connectors, events, fulfillment, inventory, orders, packing, picking,
    reports, returns, routing, shipments, system,
};

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub auth: Arc<auth::KeyCache>,
    pub metrics: PrometheusHandle,
    /// The highest event sequence any consumer of `GET /api/v1/events` has been given.
    pub consumed_seq: Arc<AtomicI64>,
    /// Adapters of outside carriers shipments are booked with.
    pub carriers: Arc<carriers::Carriers>,
    /// Sales-channel connections, webhooks and sync.
    pub connectors: Arc<ordo_connectors::sync::Connectors>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, metrics: PrometheusHandle) -> Self {
        AppState {
            store: store.clone(),
            auth: Arc::new(auth::KeyCache::default()),
            metrics,
            consumed_seq: Arc::new(AtomicI64::new(0)),
            carriers: Arc::new(carriers::Carriers::default()),
            // A key for this process only; `ordo serve` installs the persistent one.
            connectors: ordo_connectors::sync::Connectors::new(
                store,
                ordo_connectors::secrets::SecretBox::from_key(rand::random()),
            ),
        }
    }

    pub fn with_connectors(mut self, connectors: Arc<ordo_connectors::sync::Connectors>) -> Self {
        self.connectors = connectors;
        self
    }

    /// Publishes the outbox's head and how far its consumers trail it
    /// (`ordo_outbox_head_seq`, `ordo_outbox_consumed_seq`, `ordo_outbox_lag_events`).
    pub fn spawn_outbox_metrics(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let (store, consumed) = (self.store.clone(), self.consumed_seq.clone());
        tokio::spawn(async move {
            loop {
                let head = match store.last_event_seq().await {
                    Ok(head) => head,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the outbox head");
                        tokio::time::sleep(every).await;
                        continue;
                    }
                };
                let consumed = consumed.load(Ordering::Relaxed);
                metrics::gauge!("ordo_outbox_head_seq").set(head as f64);
                metrics::gauge!("ordo_outbox_consumed_seq").set(consumed as f64);
                metrics::gauge!("ordo_outbox_lag_events").set((head - consumed).max(0) as f64);
                tokio::time::sleep(every).await;
            }
        })
    }
}

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key from `ordo apikey create`"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ordo",
        description = include_str!("../assets/api-description.md"),
    ),
    paths(
        system::health,
        catalog::list_products, catalog::get_product, catalog::post_product, catalog::put_product,
        catalog::list_locations, catalog::get_location, catalog::post_location, catalog::put_location,
        catalog::list_channels, catalog::get_channel, catalog::post_channel, catalog::put_channel, catalog::channel_availability,
        inventory::list_balances, inventory::list_movements, inventory::adjust, inventory::move_stock, inventory::count, inventory::verify,
        orders::capture, orders::list_orders, orders::get_order, orders::cancel, orders::hold, orders::release, orders::order_events, orders::map_line,
        events::list_events,
        fulfillment::list, fulfillment::get, fulfillment::move_to, fulfillment::split, fulfillment::merge,
        fulfillment::submit, fulfillment::accept, fulfillment::reject,
        shipments::create, shipments::list, shipments::get, shipments::void, shipments::tracking_event,
        shipments::label_pdf, shipments::label_zpl, shipments::list_services, shipments::put_services,
        shipments::close_manifest, shipments::list_manifests, shipments::manifest_pdf, shipments::manifest_csv,
        picking::get_layout, picking::put_layout, picking::put_bin, picking::get_sku_bins, picking::put_sku_bins,
        picking::create, picking::list, picking::get, picking::next, picking::tote, picking::pick, picking::print_pdf,
        packing::list_box_types, packing::put_box_type, packing::pack, packing::pack_plan, packing::pack_scan, packing::get_packing, packing::packing_slip,
        packing::get_policies, packing::put_policies, packing::get_location_policies, packing::put_location_policies,
        returns::create, returns::list, returns::get, returns::approve, returns::reject, returns::ship,
        returns::close, returns::receive, returns::grade, returns::issue_label, returns::label_pdf, returns::label_zpl, returns::get_policy, returns::put_policy,
        routing::simulate, routing::replay, routing::get_rules, routing::put_rules, routing::rules_history,
        routing::order_routing, routing::create_rule, routing::get_rule, routing::put_rule, routing::delete_rule, routing::reorder_rules,
        connectors::get_connection, connectors::put_connection, connectors::delete_connection,
        connectors::list_mappings, connectors::put_mapping, connectors::delete_mapping,
        connectors::list_attention, connectors::retry_attention, connectors::sync_status, connectors::run_sync,
        connectors::shopify_hook, connectors::woocommerce_hook, connectors::import_orders,
        access::list_keys, access::revoke_key, access::list_users,
        claims::create, claims::list, claims::export, reports::returns,
    ),
    modifiers(&SecurityAddon),
    tags(
        (name = "orders", description = "Capture and lifecycle"),
        (name = "inventory", description = "Stock in named states and its ledger"),
        (name = "catalog", description = "Products, locations, channels"),
        (name = "events", description = "The transactional outbox"),
        (name = "routing", description = "Which locations ship an order, and why"),
        (name = "fulfillment", description = "Fulfillment orders: what each location ships"),
        (name = "shipments", description = "Shipping, labels, tracking"),
        (name = "picking", description = "Bins, walk order, pick lists and scans"),
        (name = "packing", description = "Box types, the pack station, packing slips"),
        (name = "returns", description = "Returns: authorisation, receipt and inspection, refunds due"),
        (name = "connectors", description = "Shopify, WooCommerce, Amazon and eBay: connections, SKU mappings, sync, webhooks"),
        (name = "reports", description = "Figures computed from the records"),
        (name = "claims", description = "Delivery problems: reship, refund, carrier claim export"),
        (name = "access", description = "API keys and back-office users"),
        (name = "system", description = "Health"),
    )
)]
pub struct ApiDoc;

async fn track(State(_): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("ordo_http_requests_total", &labels).increment(1);
    metrics::histogram!("ordo_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The body limit answers before any handler runs, in plain text; clients get the same
/// problem+json as for every other error.
async fn too_large_as_problem(response: Response) -> Response {
    use axum::response::IntoResponse;
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return error::ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "Payload too large",
            "the body exceeds 1 MiB",
        )
        .into_response();
    }
    response
}

async fn not_found() -> error::ApiError {
    error::ApiError::not_found("route")
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/api/v1/products",
            get(catalog::list_products).post(catalog::post_product),
        )
        .route(
            "/api/v1/products/{sku}",
            get(catalog::get_product).put(catalog::put_product),
        )
        .route(
            "/api/v1/locations",
            get(catalog::list_locations).post(catalog::post_location),
        )
        .route(
            "/api/v1/locations/{code}",
            get(catalog::get_location).put(catalog::put_location),
        )
        .route(
            "/api/v1/channels",
            get(catalog::list_channels).post(catalog::post_channel),
        )
        .route(
            "/api/v1/channels/{code}",
            get(catalog::get_channel).put(catalog::put_channel),
        )
        .route(
            "/api/v1/channels/{code}/availability",
            get(catalog::channel_availability),
        )
        .route("/api/v1/inventory", get(inventory::list_balances))
        .route("/api/v1/inventory/adjustments", post(inventory::adjust))
        .route("/api/v1/inventory/moves", post(inventory::move_stock))
        .route("/api/v1/inventory/counts", post(inventory::count))
        .route(
            "/api/v1/inventory/movements",
            get(inventory::list_movements),
        )
        .route("/api/v1/inventory/verify", get(inventory::verify))
        .route(
            "/api/v1/orders",
            get(orders::list_orders).post(orders::capture),
        )
        .route("/api/v1/orders/{id}", get(orders::get_order))
        .route("/api/v1/orders/{id}/cancel", post(orders::cancel))
        .route("/api/v1/orders/{id}/hold", post(orders::hold))
        .route(
            "/api/v1/orders/{id}/lines/{line_no}/sku",
            axum::routing::put(orders::map_line),
        )
        .route("/api/v1/orders/{id}/release", post(orders::release))
        .route("/api/v1/orders/{id}/events", get(orders::order_events))
        .route("/api/v1/events", get(events::list_events))
        .route("/api/v1/fulfillment-orders", get(fulfillment::list))
        .route("/api/v1/fulfillment-orders/merge", post(fulfillment::merge))
        .route("/api/v1/fulfillment-orders/{id}", get(fulfillment::get))
        .route(
            "/api/v1/fulfillment-orders/{id}/move",
            post(fulfillment::move_to),
        )
        .route(
            "/api/v1/fulfillment-orders/{id}/split",
            post(fulfillment::split),
        )
        .route(
            "/api/v1/fulfillment-orders/{id}/submit",
            post(fulfillment::submit),
        )
        .route(
            "/api/v1/fulfillment-orders/{id}/accept",
            post(fulfillment::accept),
        )
        .route(
            "/api/v1/fulfillment-orders/{id}/reject",
            post(fulfillment::reject),
        )
        .route(
            "/api/v1/locations/{code}/layout",
            get(picking::get_layout).put(picking::put_layout),
        )
        .route(
            "/api/v1/locations/{code}/bins/{bin}",
            axum::routing::put(picking::put_bin),
        )
        .route(
            "/api/v1/locations/{code}/sku-bins",
            get(picking::get_sku_bins).put(picking::put_sku_bins),
        )
        .route(
            "/api/v1/pick-lists",
            get(picking::list).post(picking::create),
        )
        .route("/api/v1/pick-lists/{id}", get(picking::get))
        .route("/api/v1/pick-lists/{id}/next", get(picking::next))
        .route("/api/v1/pick-lists/{id}/totes/{tote}", get(picking::tote))
        .route("/api/v1/box-types", get(packing::list_box_types))
        .route(
            "/api/v1/packing-policies",
            get(packing::get_policies).put(packing::put_policies),
        )
        .route(
            "/api/v1/locations/{code}/packing-policies",
            get(packing::get_location_policies).put(packing::put_location_policies),
        )
        .route(
            "/api/v1/box-types/{code}",
            axum::routing::put(packing::put_box_type),
        )
        .route("/api/v1/fulfillment-orders/{id}/pack", post(packing::pack))
        .route(
            "/api/v1/fulfillment-orders/{id}/pack-plan",
            post(packing::pack_plan),
        )
        .route(
            "/api/v1/fulfillment-orders/{id}/pack-scans",
            post(packing::pack_scan),
        )
        .route(
            "/api/v1/fulfillment-orders/{id}/packing",
            get(packing::get_packing),
        )
        .route(
            "/api/v1/fulfillment-orders/{id}/packing-slip.pdf",
            get(packing::packing_slip),
        )
        .route("/api/v1/pick-lists/{id}/picks", post(picking::pick))
        .route("/api/v1/pick-lists/{id}/print.pdf", get(picking::print_pdf))
        .route(
            "/api/v1/shipments",
            get(shipments::list).post(shipments::create),
        )
        .route("/api/v1/shipments/{id}", get(shipments::get))
        .route(
            "/api/v1/manifests",
            get(shipments::list_manifests).post(shipments::close_manifest),
        )
        .route(
            "/api/v1/manifests/{id}/manifest.pdf",
            get(shipments::manifest_pdf),
        )
        .route(
            "/api/v1/manifests/{id}/manifest.csv",
            get(shipments::manifest_csv),
        )
        .route(
            "/api/v1/carrier-services",
            get(shipments::list_services).put(shipments::put_services),
        )
        .route("/api/v1/shipments/{id}/void", post(shipments::void))
        .route(
            "/api/v1/shipments/{id}/tracking-events",
            post(shipments::tracking_event),
        )
        .route(
            "/api/v1/shipments/{id}/label.pdf",
            get(shipments::label_pdf),
        )
        .route(
            "/api/v1/shipments/{id}/label.zpl",
            get(shipments::label_zpl),
        )
        .route("/api/v1/returns", get(returns::list).post(returns::create))
        .route("/api/v1/returns/{id}", get(returns::get))
        .route("/api/v1/returns/{id}/approve", post(returns::approve))
        .route("/api/v1/returns/{id}/reject", post(returns::reject))
        .route("/api/v1/returns/{id}/ship", post(returns::ship))
        .route("/api/v1/returns/{id}/close", post(returns::close))
        .route("/api/v1/returns/{id}/receive", post(returns::receive))
        .route("/api/v1/returns/{id}/grade", post(returns::grade))
        .route("/api/v1/returns/{id}/label", post(returns::issue_label))
        .route("/api/v1/returns/{id}/label.pdf", get(returns::label_pdf))
        .route("/api/v1/returns/{id}/label.zpl", get(returns::label_zpl))
        .route(
            "/api/v1/channels/{code}/return-policy",
            get(returns::get_policy).put(returns::put_policy),
        )
        .route(
            "/api/v1/channels/{code}/connection",
            get(connectors::get_connection)
                .put(connectors::put_connection)
                .delete(connectors::delete_connection),
        )
        .route(
            "/api/v1/channels/{code}/sku-mappings",
            get(connectors::list_mappings),
        )
        .route(
            "/api/v1/channels/{code}/sku-mappings/{channel_ref}",
            axum::routing::put(connectors::put_mapping).delete(connectors::delete_mapping),
        )
        .route(
            "/api/v1/channels/{code}/attention",
            get(connectors::list_attention),
        )
        .route(
            "/api/v1/channels/{code}/attention/retry",
            post(connectors::retry_attention),
        )
        .route(
            "/api/v1/channels/{code}/sync",
            get(connectors::sync_status).post(connectors::run_sync),
        )
        .route(
            "/api/v1/channels/{code}/orders/import",
            post(connectors::import_orders),
        )
        .route("/hooks/shopify/{channel}", post(connectors::shopify_hook))
        .route(
            "/hooks/woocommerce/{channel}",
            post(connectors::woocommerce_hook),
        )
        .route(
            "/api/v1/orders/{id}/claims",
            get(claims::list).post(claims::create),
        )
        .route("/api/v1/claims.csv", get(claims::export))
        .route("/api/v1/reports/returns", get(reports::returns))
        .route("/api/v1/api-keys", get(access::list_keys))
        .route(
            "/api/v1/api-keys/{id}",
            axum::routing::delete(access::revoke_key),
        )
        .route("/api/v1/users", get(access::list_users))
        .route("/api/v1/orders/{id}/routing", get(routing::order_routing))
        .route("/api/v1/routing/simulate", post(routing::simulate))
        .route("/api/v1/routing/replay", post(routing::replay))
        .route(
            "/api/v1/routing/rules",
            get(routing::get_rules)
                .put(routing::put_rules)
                .post(routing::create_rule),
        )
        .route("/api/v1/routing/rules/history", get(routing::rules_history))
        .route(
            "/api/v1/routing/rules/reorder",
            post(routing::reorder_rules),
        )
        .route(
            "/api/v1/routing/rules/{name}",
            get(routing::get_rule)
                .put(routing::put_rule)
                .delete(routing::delete_rule),
        )
        .route("/api/openapi.json", get(system::openapi))
        .route("/api/docs", get(system::docs))
        .route("/api/docs/swagger-ui-bundle.js", get(system::swagger_js))
        .route("/api/docs/swagger-ui.css", get(system::swagger_css))
        .route("/health", get(system::health))
        .route("/metrics", get(system::metrics))
        .fallback(not_found);
    api.layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware::map_response(too_large_as_problem))
        .with_state(state)
}
