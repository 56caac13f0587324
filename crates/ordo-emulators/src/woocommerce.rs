//! WooCommerce REST API v3 as a connector sees it: orders (`modified_after`, `page`,
//! `per_page`, `X-WP-Total`/`X-WP-TotalPages`/`Link`), order updates and notes, products
//! with `sku`/`manage_stock`/`stock_quantity` and the batch endpoint, the Shipment Tracking
//! extension (`/wp-json/wc-shipment-tracking/v3/orders/{id}/shipment-trackings`); Basic or
//! query-string key auth; WordPress error bodies `{code, message, data: {status}}`; signed
//! webhooks and the unsigned creation ping.
//!
//! Times: `date_*` are site-local without an offset (the site's offset is
//! [`WooConfig::utc_offset`]), `date_*_gmt` are UTC. Operation names in [`Stats`]:
//! `orders`, `order`, `order_update`, `order_notes`, `order_note_create`, `products`,
//! `product`, `product_update`, `products_batch`, `shipment_trackings`,
//! `shipment_tracking_create`, `not_found`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

pub use crate::seed::{Address, Customer, LineSpec, NewOrder};

use crate::common::{
    Answer, Faults, Req, Running, SimpleLimit, Stats, deliver, json_answer, parse_time, random_hex,
    retry_after, serve, sign, urlencode, with_header,
};
use crate::seed::{cents, money};

mod routes;

const ORDER_STATUSES: &[&str] = &[
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
    "trash",
];

/// How the emulated store behaves.
#[derive(Debug, Clone)]
pub struct WooConfig {
    /// REST API keys (HTTP Basic user/password, or `consumer_key`/`consumer_secret` query
    /// parameters).
    pub consumer_key: String,
    pub consumer_secret: String,
    /// The webhook's secret: the key of `X-WC-Webhook-Signature`.
    pub webhook_secret: String,
    /// The webhook's post id (`X-WC-Webhook-ID`, the ping's `webhook_id`).
    pub webhook_id: u64,
    /// Sent as `X-WC-Webhook-Source` (with its trailing `/`).
    pub site_url: String,
    /// The site's time zone: `date_*` fields are local time at this offset.
    pub utc_offset: UtcOffset,
    /// WooCommerce has no API limit of its own; set one to get 429s (with `Retry-After`).
    pub requests_per_second: Option<f64>,
    /// The most objects `products/batch` accepts (WooCommerce's default: 100).
    pub batch_limit: usize,
}

impl Default for WooConfig {
    fn default() -> Self {
        Self {
            consumer_key: "ck_emulated0000000000000000000000000000000".into(),
            consumer_secret: "cs_emulated0000000000000000000000000000000".into(),
            webhook_secret: "emulated-woo-webhook-secret".into(),
            webhook_id: 7,
            site_url: "https://shop.example.com/".into(),
            utc_offset: UtcOffset::from_hms(1, 0, 0).expect("valid offset"),
            requests_per_second: None,
            batch_limit: 100,
        }
    }
}

/// One webhook delivery the emulator made.
#[derive(Debug, Clone)]
pub struct WooDelivery {
    /// `X-WC-Webhook-Delivery-ID`.
    pub delivery_id: String,
    pub topic: String,
    /// The exact bytes sent (and signed).
    pub body: Vec<u8>,
    /// The receiver's answer (0: unreachable).
    pub status: u16,
}

struct Store {
    /// Orders and products share WordPress's post ids.
    next_post: u64,
    next_item: u64,
    next_note: u64,
    orders: BTreeMap<u64, Value>,
    products: BTreeMap<u64, Value>,
    notes: BTreeMap<u64, Vec<Value>>,
    trackings: BTreeMap<u64, Vec<Value>>,
    deliveries: Vec<WooDelivery>,
}

impl Store {
    fn post_id(&mut self) -> u64 {
        self.next_post += 1;
        self.next_post - 1
    }

    fn item_id(&mut self) -> u64 {
        self.next_item += 1;
        self.next_item - 1
    }

    fn product_by_sku(&self, sku: &str) -> Option<&Value> {
        self.products.values().find(|p| p["sku"] == sku)
    }
}

struct Inner {
    config: WooConfig,
    store: Mutex<Store>,
    stats: Mutex<Stats>,
    limit: Mutex<SimpleLimit>,
    faults: Faults,
}

/// An emulated WooCommerce store. Clones share it; the server stops when the last clone is
/// dropped.
#[derive(Clone)]
pub struct WooEmulator {
    inner: Arc<Inner>,
    running: Arc<Running>,
}

fn local(t: OffsetDateTime, offset: UtcOffset) -> String {
    t.to_offset(offset)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .expect("formats")
}

fn gmt(t: OffsetDateTime) -> String {
    local(t, UtcOffset::UTC)
}

/// Sets `date_{name}` and `date_{name}_gmt`.
fn set_date(v: &mut Value, name: &str, t: Option<OffsetDateTime>, offset: UtcOffset) {
    v[format!("date_{name}")] = json!(t.map(|t| local(t, offset)));
    v[format!("date_{name}_gmt")] = json!(t.map(gmt));
}

/// A `_gmt` field as a time.
fn gmt_field(v: &Value, field: &str) -> Option<OffsetDateTime> {
    let text = v[field].as_str()?;
    PrimitiveDateTime::parse(
        text,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()
    .map(|t| t.assume_utc())
}

/// A date parameter: with an offset as given; without one, GMT if `dates_are_gmt`, else
/// site-local (as WordPress reads it).
fn date_param(text: &str, as_gmt: bool, offset: UtcOffset) -> Option<OffsetDateTime> {
    if let Some(t) = parse_time(text) {
        return Some(t);
    }
    let text = text.trim().replace(' ', "T");
    let text = text.split('.').next().unwrap_or("");
    let naive = PrimitiveDateTime::parse(
        text,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()?;
    Some(if as_gmt {
        naive.assume_utc()
    } else {
        naive.assume_offset(offset)
    })
}

fn wp_error(status: StatusCode, code: &str, message: &str) -> Answer {
    json_answer(
        status,
        &json!({"code": code, "message": message, "data": {"status": status.as_u16()}}),
    )
}

/// WordPress's answer to a parameter that fails validation.
fn invalid_param(name: &str, why: &str) -> Answer {
    json_answer(
        StatusCode::BAD_REQUEST,
        &json!({"code": "rest_invalid_param", "message": format!("Invalid parameter(s): {name}"),
            "data": {"status": 400, "params": {name: why}}}),
    )
}

fn invalid_order() -> Answer {
    wp_error(
        StatusCode::NOT_FOUND,
        "woocommerce_rest_shop_order_invalid_id",
        "Invalid ID.",
    )
}

fn invalid_product() -> Answer {
    wp_error(
        StatusCode::NOT_FOUND,
        "woocommerce_rest_product_invalid_id",
        "Invalid ID.",
    )
}

/// A failed request: WordPress's fatal-error JSON for 500, a proxy's HTML page for
/// 502/503/504 (what sits in front of real stores), WordPress JSON otherwise.
fn fault_answer(status: StatusCode) -> Answer {
    let reason = status.canonical_reason().unwrap_or("Error");
    match status.as_u16() {
        500 => json_answer(
            status,
            &json!({"code": "internal_server_error",
                "message": "<p>There has been a critical error on this website.</p>",
                "data": {"status": 500}, "additional_errors": []}),
        ),
        502..=504 => axum::http::Response::builder()
            .status(status)
            .header("content-type", "text/html; charset=UTF-8")
            .body(axum::body::Body::from(format!(
                "<html><head><title>{code} {reason}</title></head><body><h1>{code} {reason}</h1></body></html>",
                code = status.as_u16()
            )))
            .expect("static response"),
        429 => with_header(
            wp_error(status, "rate_limit_exceeded", "Too many requests. Please wait 1 seconds before trying again."),
            "retry-after",
            "1",
        ),
        _ => wp_error(status, &format!("http_{}", status.as_u16()), reason),
    }
}

impl WooEmulator {
    /// Starts the store on a random loopback port, with no products and no orders.
    pub async fn start(config: WooConfig) -> Self {
        let inner = Arc::new(Inner {
            limit: Mutex::new(SimpleLimit::new(config.requests_per_second, None)),
            config,
            store: Mutex::new(Store {
                next_post: 1000,
                next_item: 1,
                next_note: 1,
                orders: BTreeMap::new(),
                products: BTreeMap::new(),
                notes: BTreeMap::new(),
                trackings: BTreeMap::new(),
                deliveries: Vec::new(),
            }),
            stats: Mutex::default(),
            faults: Faults::default(),
        });
        let app = routes::router(inner.clone());
        let running = Arc::new(serve(app).await);
        Self { inner, running }
    }

    /// `http://127.0.0.1:PORT`; the API lives under `/wp-json/wc/v3/`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    pub fn config(&self) -> &WooConfig {
        &self.inner.config
    }

    /// A snapshot of the requests seen so far.
    pub fn stats(&self) -> Stats {
        self.inner.stats.lock().unwrap().clone()
    }

    /// Faults for the next requests.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// A simple product with this SKU; `stock` `Some(n)` manages stock at `n`, `None` leaves
    /// it unmanaged (`manage_stock: false`, `stock_quantity: null`). Returns its id; an
    /// existing SKU returns the existing product's id.
    pub fn add_product(&self, sku: &str, stock: Option<i64>) -> u64 {
        let mut store = self.inner.store.lock().unwrap();
        if let Some(p) = store.product_by_sku(sku) {
            return p["id"].as_u64().unwrap_or(0);
        }
        let id = store.post_id();
        let product = product_json(id, sku, stock, &self.inner.config);
        store.products.insert(id, product);
        id
    }

    /// A product as the API shows it.
    pub fn product(&self, id: u64) -> Option<Value> {
        self.inner.store.lock().unwrap().products.get(&id).cloned()
    }

    /// Every product, by id.
    pub fn products(&self) -> Vec<Value> {
        self.inner
            .store
            .lock()
            .unwrap()
            .products
            .values()
            .cloned()
            .collect()
    }

    /// `stock_quantity` of the product with this SKU (`None`: unknown or not managed).
    pub fn stock(&self, sku: &str) -> Option<i64> {
        let store = self.inner.store.lock().unwrap();
        store
            .product_by_sku(sku)
            .and_then(|p| p["stock_quantity"].as_i64())
    }

    /// Places an order as a shopper would; returns its JSON (the `order.created` payload).
    /// `status` is the order status (default `processing`: paid). Stock is not changed.
    pub fn place(&self, spec: NewOrder) -> Value {
        let mut store = self.inner.store.lock().unwrap();
        let order = order_json(&mut store, &spec, &self.inner.config);
        store
            .orders
            .insert(order["id"].as_u64().expect("id"), order.clone());
        order
    }

    fn change(&self, id: u64, f: impl FnOnce(&mut Value, &WooConfig)) -> Option<Value> {
        let mut store = self.inner.store.lock().unwrap();
        let order = store.orders.get_mut(&id)?;
        f(order, &self.inner.config);
        Some(order.clone())
    }

    /// Sets the status as the shop admin would (dates follow: `date_paid` on
    /// processing/completed, `date_completed` on completed).
    pub fn set_status(&self, id: u64, status: &str) -> Option<Value> {
        self.change(id, |o, c| apply_status(o, status, c))
    }

    /// `cancelled`.
    pub fn cancel_order(&self, id: u64) -> Option<Value> {
        self.set_status(id, "cancelled")
    }

    /// Payment received: `processing`.
    pub fn mark_paid(&self, id: u64) -> Option<Value> {
        self.set_status(id, "processing")
    }

    /// An order as the API shows it.
    pub fn order(&self, id: u64) -> Option<Value> {
        self.inner.store.lock().unwrap().orders.get(&id).cloned()
    }

    /// Every order, by id.
    pub fn orders(&self) -> Vec<Value> {
        self.inner
            .store
            .lock()
            .unwrap()
            .orders
            .values()
            .cloned()
            .collect()
    }

    /// An order's notes, newest first (status changes add system notes).
    pub fn notes(&self, order_id: u64) -> Vec<Value> {
        let store = self.inner.store.lock().unwrap();
        let mut notes = store.notes.get(&order_id).cloned().unwrap_or_default();
        notes.reverse();
        notes
    }

    /// Shipment trackings added to an order, oldest first.
    pub fn trackings(&self, order_id: u64) -> Vec<Value> {
        let store = self.inner.store.lock().unwrap();
        store.trackings.get(&order_id).cloned().unwrap_or_default()
    }

    /// Every tracking added: (order id, tracking).
    pub fn all_trackings(&self) -> Vec<(u64, Value)> {
        let store = self.inner.store.lock().unwrap();
        store
            .trackings
            .iter()
            .flat_map(|(id, t)| t.iter().map(move |t| (*id, t.clone())))
            .collect()
    }

    /// Every webhook delivery made, in order.
    pub fn deliveries(&self) -> Vec<WooDelivery> {
        self.inner.store.lock().unwrap().deliveries.clone()
    }

    /// The payload of `topic` for an order: the order JSON (`{"id": N}` for
    /// `order.deleted`). Panics if the order is unknown.
    pub fn webhook_body(&self, topic: &str, order_id: u64) -> Vec<u8> {
        let order = self
            .order(order_id)
            .unwrap_or_else(|| panic!("no WooCommerce order {order_id}"));
        let body = if topic.ends_with(".deleted") {
            json!({"id": order_id})
        } else {
            order
        };
        body.to_string().into_bytes()
    }

    /// Delivers `topic` (`order.created`, `order.updated`, `order.deleted`, ...) for the
    /// order to `url`, signed; returns the receiver's status (0: unreachable). Panics if the
    /// order is unknown.
    pub async fn send_webhook(&self, url: &str, topic: &str, order_id: u64) -> u16 {
        let body = self.webhook_body(topic, order_id);
        let signature = sign(&self.inner.config.webhook_secret, &body);
        let delivery_id = random_hex(32);
        let status = self.post(url, topic, &delivery_id, &body, &signature).await;
        self.inner
            .store
            .lock()
            .unwrap()
            .deliveries
            .push(WooDelivery {
                delivery_id,
                topic: topic.to_string(),
                body,
                status,
            });
        status
    }

    /// A delivery signed with the wrong secret; not recorded.
    pub async fn send_forged_webhook(&self, url: &str, topic: &str, order_id: u64) -> u16 {
        let body = self.webhook_body(topic, order_id);
        let signature = sign("not-the-secret", &body);
        self.post(url, topic, &random_hex(32), &body, &signature)
            .await
    }

    /// The ping WooCommerce sends when a webhook is created: form body `webhook_id=N`, no
    /// signature or topic headers. WooCommerce wants a 2xx (or 301/302) back.
    pub async fn send_ping(&self, url: &str) -> u16 {
        let body = format!("webhook_id={}", self.inner.config.webhook_id).into_bytes();
        let headers = [("User-Agent", user_agent())];
        deliver(url, &headers, "application/x-www-form-urlencoded", body).await
    }

    async fn post(
        &self,
        url: &str,
        topic: &str,
        delivery_id: &str,
        body: &[u8],
        signature: &str,
    ) -> u16 {
        let c = &self.inner.config;
        let (resource, event) = topic.split_once('.').unwrap_or((topic, ""));
        let headers = [
            ("User-Agent", user_agent()),
            ("X-WC-Webhook-Source", c.site_url.clone()),
            ("X-WC-Webhook-Topic", topic.to_string()),
            ("X-WC-Webhook-Resource", resource.to_string()),
            ("X-WC-Webhook-Event", event.to_string()),
            ("X-WC-Webhook-Signature", signature.to_string()),
            ("X-WC-Webhook-ID", c.webhook_id.to_string()),
            ("X-WC-Webhook-Delivery-ID", delivery_id.to_string()),
        ];
        deliver(url, &headers, "application/json", body.to_vec()).await
    }
}

fn user_agent() -> String {
    "WooCommerce/9.4.0 Hookshot (WordPress/6.7.1)".to_string()
}

fn product_json(id: u64, sku: &str, stock: Option<i64>, config: &WooConfig) -> Value {
    let now = OffsetDateTime::now_utc();
    let slug = sku.to_lowercase();
    let mut p = json!({
        "id": id, "name": sku, "slug": slug,
        "permalink": format!("{}product/{slug}/", config.site_url),
        "type": "simple", "status": "publish", "featured": false, "catalog_visibility": "visible",
        "description": "", "short_description": "", "sku": sku, "price": "10.00",
        "regular_price": "10.00", "sale_price": "", "on_sale": false, "purchasable": true,
        "total_sales": 0, "virtual": false, "downloadable": false, "tax_status": "taxable",
        "tax_class": "", "manage_stock": stock.is_some(), "stock_quantity": stock,
        "backorders": "no", "backorders_allowed": false, "backordered": false,
        "low_stock_amount": null, "sold_individually": false, "weight": "",
        "dimensions": {"length": "", "width": "", "height": ""}, "shipping_required": true,
        "parent_id": 0, "categories": [], "tags": [], "images": [], "attributes": [],
        "variations": [], "meta_data": [],
        "_links": {"self": [{"href": format!("{}wp-json/wc/v3/products/{id}", config.site_url)}],
            "collection": [{"href": format!("{}wp-json/wc/v3/products", config.site_url)}]},
    });
    set_date(&mut p, "created", Some(now), config.utc_offset);
    set_date(&mut p, "modified", Some(now), config.utc_offset);
    p["stock_status"] = json!(stock_status(&p));
    p
}

fn stock_status(p: &Value) -> &'static str {
    match (p["manage_stock"].as_bool(), p["stock_quantity"].as_i64()) {
        (Some(true), Some(q)) if q <= 0 => "outofstock",
        _ => "instock",
    }
}

fn order_json(store: &mut Store, spec: &NewOrder, config: &WooConfig) -> Value {
    let id = store.post_id();
    let when = spec.when();
    let currency = spec.currency.as_str();
    let offset = config.utc_offset;
    let mut lines = Vec::new();
    for l in &spec.lines {
        let item = store.item_id();
        let total = money(cents(&l.price) * l.quantity);
        let product = store
            .product_by_sku(&l.sku)
            .and_then(|p| p["id"].as_u64())
            .unwrap_or(0);
        lines.push(json!({
            "id": item, "name": if l.sku.is_empty() { "Custom item" } else { l.sku.as_str() },
            "product_id": product, "variation_id": 0, "quantity": l.quantity, "tax_class": "",
            "subtotal": total, "subtotal_tax": "0.00", "total": total, "total_tax": "0.00",
            "taxes": [], "meta_data": [], "sku": l.sku,
            "price": cents(&l.price) as f64 / 100.0,
            "image": {"id": "", "src": ""}, "parent_name": null,
        }));
    }
    let shipping = cents(&spec.shipping_price);
    let shipping_item = store.item_id();
    let (c, a) = (&spec.customer, &spec.ship_to);
    let status = spec.status.clone().unwrap_or_else(|| "processing".into());
    let mut order = json!({
        "id": id, "parent_id": 0, "number": id.to_string(),
        "order_key": format!("wc_order_{}", random_hex(13)), "created_via": "checkout",
        "version": "9.4.0", "status": status, "currency": currency, "currency_symbol": "$",
        "discount_total": "0.00", "discount_tax": "0.00", "shipping_total": money(shipping),
        "shipping_tax": "0.00", "cart_tax": "0.00",
        "total": money(spec.subtotal_cents() + shipping), "total_tax": "0.00",
        "prices_include_tax": false, "customer_id": 0, "customer_ip_address": "203.0.113.7",
        "customer_user_agent": "Mozilla/5.0", "customer_note": spec.note.clone().unwrap_or_default(),
        "billing": {
            "first_name": c.first_name, "last_name": c.last_name,
            "company": a.company.clone().unwrap_or_default(), "address_1": a.line1,
            "address_2": a.line2.clone().unwrap_or_default(), "city": a.city,
            "state": a.region_code, "postcode": a.postal_code, "country": a.country_code,
            "email": c.email, "phone": c.phone.clone().unwrap_or_default(),
        },
        "shipping": {
            "first_name": c.first_name, "last_name": c.last_name,
            "company": a.company.clone().unwrap_or_default(), "address_1": a.line1,
            "address_2": a.line2.clone().unwrap_or_default(), "city": a.city,
            "state": a.region_code, "postcode": a.postal_code, "country": a.country_code,
            "phone": a.phone.clone().unwrap_or_default(),
        },
        "payment_method": "stripe", "payment_method_title": "Credit Card (Stripe)",
        "transaction_id": "", "cart_hash": random_hex(32), "meta_data": [],
        "line_items": lines, "tax_lines": [],
        "shipping_lines": [{
            "id": shipping_item, "method_title": "Flat rate", "method_id": "flat_rate",
            "instance_id": "1", "total": money(shipping), "total_tax": "0.00", "taxes": [],
            "meta_data": [],
        }],
        "fee_lines": [], "coupon_lines": [], "refunds": [],
        "payment_url": format!("{}checkout/order-pay/{id}/", config.site_url),
        "is_editable": false, "needs_payment": false, "needs_processing": true,
        "_links": {"self": [{"href": format!("{}wp-json/wc/v3/orders/{id}", config.site_url)}],
            "collection": [{"href": format!("{}wp-json/wc/v3/orders", config.site_url)}]},
    });
    set_date(&mut order, "created", Some(when), offset);
    set_date(&mut order, "modified", Some(when), offset);
    set_date(&mut order, "paid", None, offset);
    set_date(&mut order, "completed", None, offset);
    if matches!(status.as_str(), "processing" | "completed") {
        set_date(&mut order, "paid", Some(when), offset);
        order["transaction_id"] = json!(format!("ch_{}", random_hex(24)));
    }
    if status == "completed" {
        set_date(&mut order, "completed", Some(when), offset);
    }
    order["needs_payment"] = json!(matches!(status.as_str(), "pending" | "failed"));
    order
}

/// Changes the status with WooCommerce's side effects on dates.
fn apply_status(o: &mut Value, status: &str, config: &WooConfig) {
    let now = OffsetDateTime::now_utc();
    let offset = config.utc_offset;
    if matches!(status, "processing" | "completed") && o["date_paid_gmt"].is_null() {
        set_date(o, "paid", Some(now), offset);
        if o["transaction_id"] == "" {
            o["transaction_id"] = json!(format!("ch_{}", random_hex(24)));
        }
    }
    if status == "completed" {
        set_date(o, "completed", Some(now), offset);
    }
    o["status"] = json!(status);
    o["needs_payment"] = json!(matches!(status, "pending" | "failed"));
    set_date(o, "modified", Some(now), offset);
}

fn capitalised(status: &str) -> String {
    let mut c = status.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
