//! Ordo's back office: server-rendered HTML over the same store and domain rules as the API,
//! so a change made here is validated exactly as the same change sent to `/api/v1`.
//!
//! Pages live at `/` and below; the API keeps `/api/*`, `/health` and `/metrics`.

mod bins;
mod catalog;
mod chart;
mod claims;
mod connectors;
mod csv;
mod dashboard;
mod error;
mod exports;
mod form;
mod fulfillment;
mod import;
mod inventory;
mod labels;
mod live;
mod manifests;
mod orders;
mod packing;
mod picking;
mod returns;
mod routing;
mod session;
mod settings;
mod shipments;
mod view;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use ordo_connectors::secrets::SecretBox;
use ordo_connectors::sync::Connectors;
use ordo_store::Store;
use tokio::sync::watch;

pub use session::{SESSION_COOKIE, SESSION_HOURS};

/// Forms are small; anything larger is not from these pages.
const MAX_FORM_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub(crate) struct WebState {
    pub store: Arc<dyn Store>,
    /// The sales-channel connectors (connections, SKU mappings, sync), shared with the API.
    pub connectors: Arc<Connectors>,
    /// Long-lived responses (the live event stream) end when this turns true, so a graceful
    /// shutdown does not wait on browsers that keep the stream open.
    pub shutdown: watch::Receiver<bool>,
    /// CSV imports running on their own tasks, polled by their pages.
    pub imports: Arc<import::ImportJobs>,
}

/// The back office, for a server that never asks its streams to stop early.
pub fn router(store: Arc<dyn Store>) -> Router {
    // With the sender gone the receiver keeps reading `false`: streams never stop early.
    let (_, rx) = watch::channel(false);
    router_with_shutdown(store, rx)
}

/// The back office; when `shutdown` turns true, open event streams end. Connections get a
/// key of their own that lives as long as the process (nothing sealed with it outlives it):
/// a server that keeps connections uses [`router_with_connectors`].
pub fn router_with_shutdown(store: Arc<dyn Store>, shutdown: watch::Receiver<bool>) -> Router {
    let connectors = Connectors::new(store.clone(), SecretBox::from_key(rand::random()));
    router_with_connectors(store, connectors, shutdown)
}

/// The back office over the server's own connectors (the same ones the API and the sync
/// task use, so secrets sealed by one open with the others).
pub fn router_with_connectors(
    store: Arc<dyn Store>,
    connectors: Arc<Connectors>,
    shutdown: watch::Receiver<bool>,
) -> Router {
    let state = WebState {
        store,
        connectors,
        shutdown,
        imports: Arc::default(),
    };
    Router::new()
        .route("/", get(dashboard::show))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/events/stream", get(live::stream))
        .route("/orders", get(orders::list))
        .route("/orders/export.csv", get(orders::export_csv))
        .route("/orders/bulk", post(orders::bulk))
        .route("/orders/{number}", get(orders::detail))
        .route("/orders/{number}/returns", post(returns::create))
        .route("/orders/{number}/claims", post(claims::create))
        .route("/orders/{number}/{action}", post(orders::act))
        .route(
            "/orders/{number}/lines/{line_no}/sku",
            post(orders::map_line),
        )
        .route(
            "/orders/{number}/fulfillment/merge",
            post(fulfillment::merge),
        )
        .route(
            "/orders/{number}/fulfillment/{id}/{action}",
            post(fulfillment::act),
        )
        .route(
            "/orders/{number}/shipments/{id}/{action}",
            post(shipments::act),
        )
        .route("/fulfillment", get(fulfillment::list))
        .route("/picking", get(picking::list).post(picking::create))
        .route("/picking/{id}", get(picking::show))
        .route("/picking/{id}/scan", post(picking::scan))
        .route("/picking/{id}/short", post(picking::short))
        .route("/picking/{id}/print", get(picking::print))
        .route("/packing", get(packing::find))
        .route("/packing/{id}", get(packing::show))
        .route("/packing/{id}/scan", post(packing::scan))
        .route("/packing/{id}/pack", post(packing::pack))
        .route("/packing/{id}/label", post(packing::label))
        .route("/packing/{id}/packing-slip.pdf", get(packing::packing_slip))
        .route("/shipments", get(shipments::list))
        .route("/manifests", get(manifests::list).post(manifests::close))
        .route("/manifests/{id}/manifest.pdf", get(manifests::pdf))
        .route("/manifests/{id}/manifest.csv", get(manifests::csv))
        .route("/returns", get(returns::list))
        .route("/returns/{id}", get(returns::show))
        .route("/returns/{id}/label.pdf", get(returns::label_pdf))
        .route("/returns/{id}/{action}", post(returns::act))
        .route("/shipments/{id}/label.pdf", get(shipments::label_pdf))
        .route("/shipments/{id}/label.zpl", get(shipments::label_zpl))
        .route("/inventory", get(inventory::show))
        .route("/inventory/export.csv", get(exports::stock))
        .route("/inventory/adjust", post(inventory::adjust))
        .route("/inventory/move", post(inventory::move_stock))
        .route("/inventory/count", post(inventory::count))
        .route("/inventory/movements", get(inventory::movements))
        .route(
            "/inventory/import",
            get(import::form_stock).post(import::post_stock),
        )
        .route(
            "/inventory/counts/import",
            get(import::form_counts).post(import::post_counts),
        )
        .route("/imports/{id}", get(import::progress))
        .route(
            "/locations/bins/import",
            get(import::form_bins).post(import::post_bins),
        )
        .route("/products", get(catalog::products))
        .route("/products/export.csv", get(exports::products))
        .route(
            "/products/import",
            get(import::form_products).post(import::post_products),
        )
        .route("/locations", get(catalog::locations))
        .route("/locations/{code}", get(catalog::location))
        .route("/locations/{code}/bins.csv", get(exports::bins))
        .route(
            "/locations/{code}/routing",
            post(catalog::save_location_routing),
        )
        .route("/locations/{code}/sku-bins", post(bins::save))
        .route("/locations/{code}/layout", post(bins::save_layout))
        .route("/channels", get(catalog::channels))
        .route("/channels/{code}", get(catalog::channel))
        .route(
            "/channels/{code}/split-policy",
            post(catalog::save_split_policy),
        )
        .route(
            "/channels/{code}/connection",
            post(connectors::save_connection),
        )
        .route(
            "/channels/{code}/connection/delete",
            post(connectors::delete_connection),
        )
        .route("/channels/{code}/sync", post(connectors::run_sync))
        .route(
            "/channels/{code}/sku-mappings",
            post(connectors::add_mapping),
        )
        .route(
            "/channels/{code}/sku-mappings/delete",
            post(connectors::remove_mapping),
        )
        .route("/channels/{code}/attention/retry", post(connectors::retry))
        .route(
            "/channels/{code}/orders/import",
            post(connectors::import_orders),
        )
        .route("/routing", get(routing::show))
        .route("/routing/rules", post(routing::save_rules))
        .route("/routing/rules/order", post(routing::reorder))
        .route("/routing/replay", post(routing::replay))
        .route("/routing/simulate", post(routing::simulate))
        .route("/settings", get(settings::show))
        .route("/settings/users", post(settings::create_user))
        .route(
            "/settings/users/{username}/{action}",
            post(settings::user_state),
        )
        .route("/settings/api-keys", post(settings::create_key))
        .route("/settings/api-keys/{id}/revoke", post(settings::revoke_key))
        .route("/settings/carrier-services", post(settings::save_carriers))
        .route("/settings/box-types", post(settings::save_box))
        .route("/settings/locations", post(settings::save_location))
        .route("/settings/channels", post(settings::save_channel))
        .route("/settings/packing-policies", post(settings::save_policies))
        .route("/static/htmx.min.js", get(htmx_js))
        .route("/static/app.js", get(app_js))
        .route("/static/app.css", get(app_css))
        // Unknown back-office paths get a page; `/api/*` keeps the API's own answer. A
        // catch-all route rather than a fallback, since the API router has the fallback.
        .route("/{*path}", any(error::not_found))
        .layer(axum::middleware::map_response(security_headers))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(state)
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    // Scripts and styles come only from /static: injected markup cannot run code.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        // Pages show live stock and personal data: never from a shared or back-button cache.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn htmx_js() -> Response {
    asset(
        include_bytes!("../assets/htmx.min.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn app_js() -> Response {
    asset(
        include_bytes!("../assets/app.js"),
        "text/javascript; charset=utf-8",
    )
}

async fn app_css() -> Response {
    asset(
        include_bytes!("../assets/app.css"),
        "text/css; charset=utf-8",
    )
}
