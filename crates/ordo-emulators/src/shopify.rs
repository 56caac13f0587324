//! Shopify's REST Admin API as a connector sees it: orders (`status`, `updated_at_min`,
//! `since_id`, `Link` cursor pages), products with their variants' inventory items,
//! locations, inventory levels, the fulfillment-orders flow; the leaky-bucket limit with
//! `X-Shopify-Shop-Api-Call-Limit` and 429 + `Retry-After`; HMAC-signed webhooks.
//!
//! Operation names in [`Stats`]: `orders`, `orders/count`, `order`, `fulfillment_orders`,
//! `fulfillments`, `fulfillments/update_tracking`, `products`, `variant`, `locations`,
//! `inventory_levels`, `inventory_levels/set`, `inventory_levels/adjust`, `not_found`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use time::{OffsetDateTime, UtcOffset};

pub use crate::seed::{Address, Customer, LineSpec, NewOrder};

use crate::common::{
    Answer, Bucket, Faults, Req, Running, Stats, decode_token, deliver, encode_token, json_answer,
    parse_time, random_uuid, retry_after, serve, sign, with_header,
};
use crate::seed::{cents, money};

mod routes;

/// Ids of everything but orders (line items, fulfillment orders, fulfillments, customers,
/// shipping lines), products, variants and inventory items: all above 2^53
/// (9_007_199_254_740_992), so a client parsing them as f64 gets them wrong.
const FIRST_OTHER_ID: u64 = 9_100_000_000_000_001;
const FIRST_PRODUCT_ID: u64 = 9_200_000_000_000_001;
const FIRST_VARIANT_ID: u64 = 9_300_000_000_000_001;
const FIRST_INVENTORY_ITEM_ID: u64 = 9_400_000_000_000_001;

/// How the emulated shop behaves.
#[derive(Debug, Clone)]
pub struct ShopifyConfig {
    /// The admin API token expected in `X-Shopify-Access-Token`.
    pub access_token: String,
    /// The key webhooks are signed with (the app's client secret).
    pub webhook_secret: String,
    /// The `{version}` in `/admin/api/{version}/...`; other versions answer 404.
    pub api_version: String,
    /// Sent as `X-Shopify-Shop-Domain`; named in `Link` URLs' place of the loopback host.
    pub shop_domain: String,
    /// Leaky bucket size (standard plans: 40).
    pub bucket_size: f64,
    /// Requests leaked per second (standard plans: 2).
    pub leak_per_second: f64,
    /// The shop's time zone: every time in answers carries this offset, as Shopify's do.
    pub utc_offset: UtcOffset,
    /// Archive (close) an order once it is paid and fulfilled, Shopify's default setting:
    /// it then leaves `status=open` lists.
    pub auto_archive: bool,
    /// The first order's id (then +1 per order). The default, 5_000_000_000_000_001, is
    /// below 2^53; set e.g. 9_007_199_254_740_993 to make order ids lose precision as f64.
    pub first_order_id: u64,
}

impl Default for ShopifyConfig {
    fn default() -> Self {
        Self {
            access_token: "shpat_emulated_token".into(),
            webhook_secret: "emulated_webhook_secret".into(),
            api_version: "2025-07".into(),
            shop_domain: "ordo-demo.myshopify.com".into(),
            bucket_size: 40.0,
            leak_per_second: 2.0,
            utc_offset: UtcOffset::from_hms(-5, 0, 0).expect("valid offset"),
            auto_archive: true,
            first_order_id: 5_000_000_000_000_001,
        }
    }
}

/// One webhook delivery the emulator made.
#[derive(Debug, Clone)]
pub struct WebhookDelivery {
    /// `X-Shopify-Webhook-Id`: new per delivery, the same on a redelivery.
    pub webhook_id: String,
    /// `X-Shopify-Event-Id`: the same for every delivery of one event.
    pub event_id: String,
    pub topic: String,
    /// The exact bytes sent (and signed).
    pub body: Vec<u8>,
    /// The receiver's answer (0: unreachable).
    pub status: u16,
}

struct Variant {
    id: u64,
    sku: String,
    inventory_item_id: u64,
    price: String,
}

struct Product {
    id: u64,
    title: String,
    variants: Vec<Variant>,
    created_at: OffsetDateTime,
}

struct Location {
    id: u64,
    name: String,
}

struct Shop {
    orders: BTreeMap<u64, Value>,
    next_order: u64,
    next_number: u64,
    next_other: u64,
    products: Vec<Product>,
    locations: Vec<Location>,
    /// (inventory item, location) → (available, updated at).
    levels: BTreeMap<(u64, u64), (i64, OffsetDateTime)>,
    /// Order id → its fulfillment orders.
    fulfillment_orders: BTreeMap<u64, Vec<Value>>,
    fulfillments: Vec<Value>,
    deliveries: Vec<WebhookDelivery>,
}

impl Shop {
    fn other_id(&mut self) -> u64 {
        self.next_other += 1;
        self.next_other - 1
    }

    fn variant_by_sku(&self, sku: &str) -> Option<(&Product, &Variant)> {
        self.products
            .iter()
            .find_map(|p| p.variants.iter().find(|v| v.sku == sku).map(|v| (p, v)))
    }

    fn sku_of_item(&self, item: u64) -> Option<&str> {
        self.products
            .iter()
            .flat_map(|p| &p.variants)
            .find(|v| v.inventory_item_id == item)
            .map(|v| v.sku.as_str())
    }
}

struct Inner {
    config: ShopifyConfig,
    shop: Mutex<Shop>,
    stats: Mutex<Stats>,
    bucket: Mutex<Bucket>,
    faults: Faults,
}

/// An emulated Shopify store. Clones share the store; the server stops when the last clone
/// is dropped.
#[derive(Clone)]
pub struct ShopifyEmulator {
    inner: Arc<Inner>,
    running: Arc<Running>,
}

impl ShopifyEmulator {
    /// Starts the store on a random loopback port, with no locations and no products.
    pub async fn start(config: ShopifyConfig) -> Self {
        let inner = Arc::new(Inner {
            bucket: Mutex::new(Bucket::new(config.leak_per_second, config.bucket_size)),
            shop: Mutex::new(Shop {
                orders: BTreeMap::new(),
                next_order: config.first_order_id,
                next_number: 1001,
                next_other: FIRST_OTHER_ID,
                products: Vec::new(),
                locations: Vec::new(),
                levels: BTreeMap::new(),
                fulfillment_orders: BTreeMap::new(),
                fulfillments: Vec::new(),
                deliveries: Vec::new(),
            }),
            config,
            stats: Mutex::default(),
            faults: Faults::default(),
        });
        let app = routes::router(inner.clone());
        let running = Arc::new(serve(app).await);
        Self { inner, running }
    }

    /// `http://127.0.0.1:PORT`; the API lives under `/admin/api/{version}/`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    pub fn config(&self) -> &ShopifyConfig {
        &self.inner.config
    }

    /// A snapshot of the requests seen so far.
    pub fn stats(&self) -> Stats {
        self.inner.stats.lock().unwrap().clone()
    }

    /// Faults for the next requests; 4xx/5xx bodies are Shopify's `{"errors": "..."}`.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Adds a location (orders placed afterwards are assigned the first one added).
    pub fn add_location(&self, id: u64, name: &str) {
        self.inner.shop.lock().unwrap().locations.push(Location {
            id,
            name: name.to_string(),
        });
    }

    /// A product with one variant of this SKU (priced 10.00); returns the variant id. Adding
    /// a SKU again returns the existing variant.
    pub fn add_product(&self, sku: &str) -> u64 {
        self.add_product_with_variants(sku, &[sku])[0]
    }

    /// A product with one variant per SKU; returns the variant ids in order.
    pub fn add_product_with_variants(&self, title: &str, skus: &[&str]) -> Vec<u64> {
        let mut shop = self.inner.shop.lock().unwrap();
        if let Some(ids) = skus
            .iter()
            .map(|s| shop.variant_by_sku(s).map(|(_, v)| v.id))
            .collect::<Option<Vec<_>>>()
        {
            return ids;
        }
        let n = shop.products.len() as u64;
        let first_variant = shop
            .products
            .iter()
            .map(|p| p.variants.len() as u64)
            .sum::<u64>();
        let variants: Vec<Variant> = skus
            .iter()
            .enumerate()
            .map(|(i, sku)| Variant {
                id: FIRST_VARIANT_ID + first_variant + i as u64,
                sku: sku.to_string(),
                inventory_item_id: FIRST_INVENTORY_ITEM_ID + first_variant + i as u64,
                price: "10.00".into(),
            })
            .collect();
        let ids = variants.iter().map(|v| v.id).collect();
        shop.products.push(Product {
            id: FIRST_PRODUCT_ID + n,
            title: title.to_string(),
            variants,
            created_at: OffsetDateTime::now_utc(),
        });
        ids
    }

    /// The inventory item behind a SKU's variant.
    pub fn inventory_item_id(&self, sku: &str) -> Option<u64> {
        let shop = self.inner.shop.lock().unwrap();
        shop.variant_by_sku(sku).map(|(_, v)| v.inventory_item_id)
    }

    /// Seeds the available quantity of a SKU at a location; false if either is unknown.
    pub fn set_available(&self, sku: &str, location: u64, available: i64) -> bool {
        let mut shop = self.inner.shop.lock().unwrap();
        let Some(item) = shop.variant_by_sku(sku).map(|(_, v)| v.inventory_item_id) else {
            return false;
        };
        if !shop.locations.iter().any(|l| l.id == location) {
            return false;
        }
        shop.levels
            .insert((item, location), (available, OffsetDateTime::now_utc()));
        true
    }

    /// What the shop shows as available for the SKU at the location (`None` if never set).
    pub fn available(&self, sku: &str, location: u64) -> Option<i64> {
        let shop = self.inner.shop.lock().unwrap();
        let (_, v) = shop.variant_by_sku(sku)?;
        shop.levels
            .get(&(v.inventory_item_id, location))
            .map(|l| l.0)
    }

    /// Every level set: SKU → location → available.
    pub fn stock(&self) -> BTreeMap<String, BTreeMap<u64, i64>> {
        let shop = self.inner.shop.lock().unwrap();
        let mut out: BTreeMap<String, BTreeMap<u64, i64>> = BTreeMap::new();
        for ((item, location), (available, _)) in &shop.levels {
            if let Some(sku) = shop.sku_of_item(*item) {
                out.entry(sku.to_string())
                    .or_default()
                    .insert(*location, *available);
            }
        }
        out
    }

    /// Places an order as a buyer would; returns its JSON (the `orders/create` payload).
    /// `status` is the `financial_status` (default `paid`).
    pub fn place(&self, order: NewOrder) -> Value {
        let mut shop = self.inner.shop.lock().unwrap();
        let json = render_order(&mut shop, &self.inner.config, &order);
        shop.orders
            .insert(json["id"].as_u64().expect("id"), json.clone());
        json
    }

    /// Shorthand for [`ShopifyEmulator::place`]: lines, buyer email and financial status.
    pub fn place_order(&self, email: &str, lines: &[LineSpec], financial_status: &str) -> Value {
        self.place(
            NewOrder::new()
                .lines(lines)
                .email(email)
                .status(financial_status),
        )
    }

    fn change(&self, id: u64, f: impl FnOnce(&mut Shop, &str)) -> Option<Value> {
        let mut shop = self.inner.shop.lock().unwrap();
        shop.orders.get(&id)?;
        let now = self.now();
        f(&mut shop, &now);
        let order = shop.orders.get_mut(&id)?;
        order["updated_at"] = json!(now);
        Some(order.clone())
    }

    fn now(&self) -> String {
        shop_time(OffsetDateTime::now_utc(), &self.inner.config)
    }

    /// The buyer cancels: `cancelled_at`, `cancel_reason: customer`, the order closed, its
    /// open fulfillment orders cancelled. Returns the order's JSON.
    pub fn cancel_order(&self, id: u64) -> Option<Value> {
        self.change(id, |shop, now| {
            let o = shop.orders.get_mut(&id).expect("checked");
            o["cancelled_at"] = json!(now);
            o["closed_at"] = json!(now);
            o["cancel_reason"] = json!("customer");
            if o["financial_status"] == "pending" || o["financial_status"] == "authorized" {
                o["financial_status"] = json!("voided");
            }
            for fo in shop.fulfillment_orders.get_mut(&id).into_iter().flatten() {
                if fo["status"] != "closed" {
                    fo["status"] = json!("cancelled");
                    fo["supported_actions"] = json!([]);
                }
            }
        })
    }

    /// Payment captured: `financial_status: paid`, nothing outstanding.
    pub fn mark_paid(&self, id: u64) -> Option<Value> {
        self.set_financial_status(id, "paid")
    }

    /// Sets `financial_status` (`pending`, `authorized`, `paid`, `refunded`, ...).
    pub fn set_financial_status(&self, id: u64, status: &str) -> Option<Value> {
        self.change(id, |shop, _| {
            let o = shop.orders.get_mut(&id).expect("checked");
            o["financial_status"] = json!(status);
            let outstanding = if status == "paid" || status == "refunded" {
                "0.00".to_string()
            } else {
                o["total_price"].as_str().unwrap_or("0.00").to_string()
            };
            o["total_outstanding"] = json!(outstanding);
        })
    }

    /// Archives the order (`closed_at` set): it leaves `status=open` lists.
    pub fn close_order(&self, id: u64) -> Option<Value> {
        self.change(id, |shop, now| {
            shop.orders.get_mut(&id).expect("checked")["closed_at"] = json!(now);
        })
    }

    /// An order as the API shows it.
    pub fn order(&self, id: u64) -> Option<Value> {
        self.inner.shop.lock().unwrap().orders.get(&id).cloned()
    }

    /// Every order, by id.
    pub fn orders(&self) -> Vec<Value> {
        self.inner
            .shop
            .lock()
            .unwrap()
            .orders
            .values()
            .cloned()
            .collect()
    }

    pub fn order_ids(&self) -> Vec<u64> {
        self.inner
            .shop
            .lock()
            .unwrap()
            .orders
            .keys()
            .copied()
            .collect()
    }

    /// An order's fulfillment orders as the API shows them.
    pub fn fulfillment_orders(&self, order_id: u64) -> Vec<Value> {
        let shop = self.inner.shop.lock().unwrap();
        shop.fulfillment_orders
            .get(&order_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Fulfillments created by clients (the `fulfillment` objects answered), in order.
    pub fn fulfillments(&self) -> Vec<Value> {
        self.inner.shop.lock().unwrap().fulfillments.clone()
    }

    /// Every webhook delivery made, in order.
    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.inner.shop.lock().unwrap().deliveries.clone()
    }

    /// The payload of `topic` for an order: the order JSON (`{"id": N}` for
    /// `orders/delete`). Panics if the order is unknown.
    pub fn webhook_body(&self, topic: &str, order_id: u64) -> Vec<u8> {
        let order = self
            .order(order_id)
            .unwrap_or_else(|| panic!("no Shopify order {order_id}"));
        let body = if topic == "orders/delete" {
            json!({"id": order_id})
        } else {
            order
        };
        body.to_string().into_bytes()
    }

    /// Delivers `topic` (e.g. `orders/create`, `orders/updated`, `orders/paid`,
    /// `orders/cancelled`, `orders/fulfilled`) for the order to `url`, signed, with a new
    /// webhook id; returns the receiver's status (0: unreachable). Panics if the order is
    /// unknown.
    pub async fn send_webhook(&self, url: &str, topic: &str, order_id: u64) -> u16 {
        let body = self.webhook_body(topic, order_id);
        let signature = sign(&self.inner.config.webhook_secret, &body);
        let (webhook_id, event_id) = (random_uuid(), random_uuid());
        let status = self
            .post_webhook(url, topic, &webhook_id, &event_id, &body, &signature)
            .await;
        self.record(WebhookDelivery {
            webhook_id,
            event_id,
            topic: topic.to_string(),
            body,
            status,
        });
        status
    }

    /// Sends a past delivery again with the same webhook id, body and signature (Shopify's
    /// retry); 0 if no delivery has that id.
    pub async fn redeliver(&self, url: &str, webhook_id: &str) -> u16 {
        let past = self
            .inner
            .shop
            .lock()
            .unwrap()
            .deliveries
            .iter()
            .find(|d| d.webhook_id == webhook_id)
            .cloned();
        let Some(d) = past else { return 0 };
        let signature = sign(&self.inner.config.webhook_secret, &d.body);
        let status = self
            .post_webhook(
                url,
                &d.topic,
                &d.webhook_id,
                &d.event_id,
                &d.body,
                &signature,
            )
            .await;
        self.record(WebhookDelivery { status, ..d });
        status
    }

    /// Sends the last delivery again, with the same webhook id; 0 if none was made.
    pub async fn redeliver_last(&self, url: &str) -> u16 {
        let last = self
            .inner
            .shop
            .lock()
            .unwrap()
            .deliveries
            .last()
            .map(|d| d.webhook_id.clone());
        match last {
            Some(id) => self.redeliver(url, &id).await,
            None => 0,
        }
    }

    /// A delivery signed with the wrong key (otherwise like [`Self::send_webhook`]); not
    /// recorded in [`Self::deliveries`].
    pub async fn send_forged_webhook(&self, url: &str, topic: &str, order_id: u64) -> u16 {
        let body = self.webhook_body(topic, order_id);
        let signature = sign("not-the-secret", &body);
        self.post_webhook(
            url,
            topic,
            &random_uuid(),
            &random_uuid(),
            &body,
            &signature,
        )
        .await
    }

    fn record(&self, d: WebhookDelivery) {
        self.inner.shop.lock().unwrap().deliveries.push(d);
    }

    async fn post_webhook(
        &self,
        url: &str,
        topic: &str,
        webhook_id: &str,
        event_id: &str,
        body: &[u8],
        signature: &str,
    ) -> u16 {
        let c = &self.inner.config;
        let headers = [
            ("X-Shopify-Topic", topic.to_string()),
            ("X-Shopify-Hmac-Sha256", signature.to_string()),
            ("X-Shopify-Shop-Domain", c.shop_domain.clone()),
            ("X-Shopify-API-Version", c.api_version.clone()),
            ("X-Shopify-Webhook-Id", webhook_id.to_string()),
            ("X-Shopify-Event-Id", event_id.to_string()),
            (
                "X-Shopify-Triggered-At",
                crate::common::rfc3339(OffsetDateTime::now_utc()),
            ),
            ("X-Shopify-Test", "false".to_string()),
        ];
        deliver(url, &headers, "application/json", body.to_vec()).await
    }
}

/// A time as the shop shows it: seconds, in the shop's offset (`2026-01-10T11:00:00-05:00`).
fn shop_time(t: OffsetDateTime, config: &ShopifyConfig) -> String {
    crate::common::rfc3339(
        t.to_offset(config.utc_offset)
            .replace_nanosecond(0)
            .expect("0 ns is valid"),
    )
}

fn money_set(amount: &str, currency: &str) -> Value {
    json!({"shop_money": {"amount": amount, "currency_code": currency},
        "presentment_money": {"amount": amount, "currency_code": currency}})
}

fn address_json(a: &crate::seed::Address, c: &crate::seed::Customer) -> Value {
    json!({
        "first_name": c.first_name, "last_name": c.last_name,
        "name": format!("{} {}", c.first_name, c.last_name), "company": a.company,
        "address1": a.line1, "address2": a.line2, "city": a.city, "province": a.region,
        "province_code": a.region_code, "zip": a.postal_code, "country": a.country,
        "country_code": a.country_code, "phone": a.phone, "latitude": null, "longitude": null,
    })
}

/// An order and its fulfillment order, as Shopify's REST API (2024-04 and later) shows them.
fn render_order(shop: &mut Shop, config: &ShopifyConfig, spec: &NewOrder) -> Value {
    let id = shop.next_order;
    shop.next_order += 1;
    let number = shop.next_number;
    shop.next_number += 1;
    let when = shop_time(spec.when(), config);
    let currency = spec.currency.as_str();
    let location = shop.locations.first().map(|l| (l.id, l.name.clone()));
    let fo_id = shop.other_id();
    let mut line_items = Vec::new();
    let mut fo_lines = Vec::new();
    for l in &spec.lines {
        let line_id = shop.other_id();
        let fo_line_id = shop.other_id();
        let found = shop
            .variant_by_sku(&l.sku)
            .map(|(p, v)| (p.id, v.id, v.inventory_item_id, p.title.clone()));
        let (product, variant, item) = match &found {
            Some((p, v, i, _)) => (json!(p), json!(v), json!(i)),
            None => (Value::Null, Value::Null, Value::Null),
        };
        let title = found
            .as_ref()
            .map(|f| f.3.clone())
            .unwrap_or_else(|| l.sku.clone());
        let discount = money_set("0.00", currency);
        line_items.push(json!({
            "id": line_id, "admin_graphql_api_id": format!("gid://shopify/LineItem/{line_id}"),
            "variant_id": variant, "product_id": product, "sku": l.sku, "title": title,
            "variant_title": null, "name": title, "vendor": "Ordo Demo",
            "quantity": l.quantity, "current_quantity": l.quantity,
            "fulfillable_quantity": l.quantity, "fulfillment_status": null,
            "fulfillment_service": "manual", "price": l.price, "price_set": money_set(&l.price, currency),
            "total_discount": "0.00", "total_discount_set": discount, "grams": 300,
            "requires_shipping": true, "taxable": true, "gift_card": false,
            "product_exists": found.is_some(), "properties": [], "tax_lines": [],
            "discount_allocations": [], "duties": [],
            "variant_inventory_management": if found.is_some() { json!("shopify") } else { Value::Null },
        }));
        fo_lines.push(json!({
            "id": fo_line_id, "shop_id": 1, "fulfillment_order_id": fo_id, "quantity": l.quantity,
            "line_item_id": line_id, "inventory_item_id": item, "fulfillable_quantity": l.quantity,
            "variant_id": variant,
        }));
    }
    let subtotal = spec.subtotal_cents();
    let shipping = cents(&spec.shipping_price);
    let total = money(subtotal + shipping);
    let paid = matches!(spec.status.as_deref(), None | Some("paid"));
    let financial_status = spec.status.clone().unwrap_or_else(|| "paid".into());
    let customer_id = shop.other_id();
    let shipping_line_id = shop.other_id();
    let c = &spec.customer;
    let address = address_json(&spec.ship_to, c);
    let order = json!({
        "id": id, "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
        "name": format!("#{number}"), "order_number": number, "number": number - 1000,
        "email": c.email, "contact_email": c.email, "phone": c.phone,
        "created_at": when, "updated_at": when, "processed_at": when,
        "cancelled_at": null, "cancel_reason": null, "closed_at": null,
        "currency": currency, "presentment_currency": currency,
        "financial_status": financial_status, "fulfillment_status": null, "confirmed": true,
        "test": false, "tags": "", "note": spec.note, "note_attributes": [], "source_name": "web",
        "taxes_included": false, "buyer_accepts_marketing": false,
        "total_price": total, "total_price_set": money_set(&total, currency),
        "subtotal_price": money(subtotal), "subtotal_price_set": money_set(&money(subtotal), currency),
        "total_line_items_price": money(subtotal),
        "total_line_items_price_set": money_set(&money(subtotal), currency),
        "total_tax": "0.00", "total_tax_set": money_set("0.00", currency),
        "total_discounts": "0.00", "total_discounts_set": money_set("0.00", currency),
        "total_shipping_price_set": money_set(&money(shipping), currency),
        "current_total_price": total, "current_subtotal_price": money(subtotal),
        "current_total_tax": "0.00",
        "total_outstanding": if paid { "0.00".to_string() } else { total.clone() },
        "total_weight": 300 * spec.lines.iter().map(|l| l.quantity).sum::<i64>(),
        "customer": {
            "id": customer_id, "admin_graphql_api_id": format!("gid://shopify/Customer/{customer_id}"),
            "email": c.email, "first_name": c.first_name, "last_name": c.last_name, "phone": c.phone,
            "state": "enabled", "tags": "", "currency": currency, "tax_exempt": false,
            "verified_email": true, "created_at": when, "updated_at": when,
            "default_address": address,
        },
        "shipping_address": address, "billing_address": address,
        "line_items": line_items,
        "shipping_lines": [{
            "id": shipping_line_id, "title": "Standard", "code": "standard",
            "price": spec.shipping_price, "price_set": money_set(&spec.shipping_price, currency),
            "discounted_price": spec.shipping_price,
            "discounted_price_set": money_set(&spec.shipping_price, currency),
            "source": "shopify", "carrier_identifier": null,
            "requested_fulfillment_service_id": null, "phone": null,
            "tax_lines": [], "discount_allocations": [],
        }],
        "tax_lines": [], "discount_codes": [], "discount_applications": [],
        "payment_gateway_names": ["shopify_payments"], "fulfillments": [], "refunds": [],
        "location_id": null,
    });
    let a = &spec.ship_to;
    let fo = json!({
        "id": fo_id, "shop_id": 1, "order_id": id,
        "assigned_location_id": location.as_ref().map(|l| l.0),
        "request_status": "unsubmitted", "status": "open",
        "supported_actions": ["create_fulfillment", "move"],
        "destination": {
            "id": shipping_line_id + 1, "address1": a.line1, "address2": a.line2, "city": a.city,
            "company": a.company, "country": a.country, "email": c.email,
            "first_name": c.first_name, "last_name": c.last_name, "phone": a.phone,
            "province": a.region, "zip": a.postal_code,
        },
        "line_items": fo_lines, "fulfill_at": when, "fulfill_by": null,
        "international_duties": null, "fulfillment_holds": [],
        "delivery_method": {"id": fo_id + 1, "method_type": "shipping"},
        "assigned_location": {
            "location_id": location.as_ref().map(|l| l.0), "name": location.as_ref().map(|l| l.1.clone()),
            "address1": null, "address2": null, "city": null, "country_code": "US", "phone": null,
            "province": null, "zip": null,
        },
        "merchant_requests": [], "created_at": when, "updated_at": when,
    });
    shop.fulfillment_orders.insert(id, vec![fo]);
    order
}
