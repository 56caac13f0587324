//! Shopify's REST Admin API as a connector sees it: orders (with `Link` cursor pages,
//! `status`, `updated_at_min`), products and their variants' inventory items, locations,
//! `inventory_levels/set`, fulfillment orders and fulfillments; the leaky-bucket rate limit
//! with `X-Shopify-Shop-Api-Call-Limit` and 429 + `Retry-After`; signed webhooks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::common::{Bucket, Fault, Faults, Running, Stats, cut_off, rfc3339, serve, sign};

/// Ids above 2^53, as real shops have: clients must not parse them as floats.
const FIRST_ID: u64 = 5_000_000_000_000_001;

#[derive(Debug, Clone)]
pub struct ShopifyConfig {
    pub access_token: String,
    pub webhook_secret: String,
    pub api_version: String,
    pub shop_domain: String,
    /// Leaky bucket: size and drain per second (standard plans: 40 and 2).
    pub bucket_size: f64,
    pub leak_per_second: f64,
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
        }
    }
}

/// One line of an order to place.
#[derive(Debug, Clone)]
pub struct LineSpec {
    pub sku: String,
    pub quantity: i64,
    /// Unit price, a decimal string.
    pub price: String,
}

#[derive(Default)]
struct Shop {
    orders: BTreeMap<u64, Value>,
    next_id: u64,
    next_number: u64,
    /// SKU → (product id, variant id, inventory item id).
    variants: BTreeMap<String, (u64, u64, u64)>,
    locations: Vec<(u64, String)>,
    /// (inventory item, location) → available.
    levels: BTreeMap<(u64, u64), i64>,
    fulfillment_orders: BTreeMap<u64, Vec<Value>>,
    fulfillments: Vec<Value>,
    deliveries: Vec<(String, String, Vec<u8>)>,
}

struct Inner {
    config: ShopifyConfig,
    shop: Mutex<Shop>,
    stats: Mutex<Stats>,
    bucket: Mutex<Bucket>,
    faults: Faults,
}

#[derive(Clone)]
pub struct ShopifyEmulator {
    inner: Arc<Inner>,
    running: Arc<Running>,
}

type Answer = Response<Body>;

fn json_answer(status: StatusCode, body: &Value) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("static response")
}

impl ShopifyEmulator {
    pub async fn start(config: ShopifyConfig) -> Self {
        let inner = Arc::new(Inner {
            bucket: Mutex::new(Bucket::new(config.leak_per_second, config.bucket_size)),
            config,
            shop: Mutex::new(Shop {
                next_id: FIRST_ID,
                next_number: 1001,
                ..Default::default()
            }),
            stats: Mutex::default(),
            faults: Faults::default(),
        });
        let base = format!("/admin/api/{}", inner.config.api_version);
        let app = Router::new()
            .route(&format!("{base}/orders.json"), get(list_orders))
            .route(&format!("{base}/orders/{{id}}"), get(get_order))
            .route(
                &format!("{base}/orders/{{id}}/fulfillment_orders.json"),
                get(list_fulfillment_orders),
            )
            .route(&format!("{base}/products.json"), get(list_products))
            .route(&format!("{base}/locations.json"), get(list_locations))
            .route(
                &format!("{base}/inventory_levels/set.json"),
                post(set_level),
            )
            .route(
                &format!("{base}/fulfillments.json"),
                post(create_fulfillment),
            )
            .with_state(inner.clone());
        let running = Arc::new(serve(app).await);
        Self { inner, running }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    pub fn config(&self) -> &ShopifyConfig {
        &self.inner.config
    }

    pub fn stats(&self) -> Stats {
        self.inner.stats.lock().unwrap().clone()
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub fn add_location(&self, id: u64, name: &str) {
        self.inner
            .shop
            .lock()
            .unwrap()
            .locations
            .push((id, name.to_string()));
    }

    /// A product with one variant of this SKU; returns its variant id.
    pub fn add_product(&self, sku: &str) -> u64 {
        let mut shop = self.inner.shop.lock().unwrap();
        if let Some((_, variant, _)) = shop.variants.get(sku) {
            return *variant;
        }
        let n = shop.variants.len() as u64;
        let ids = (
            7_000_000_000_000_000 + n,
            8_000_000_000_000_000 + n,
            9_000_000_000_000_000 + n,
        );
        shop.variants.insert(sku.to_string(), ids);
        ids.1
    }

    /// What the shop shows as available for the SKU at the location (`None` if never set).
    pub fn available(&self, sku: &str, location: u64) -> Option<i64> {
        let shop = self.inner.shop.lock().unwrap();
        let (_, _, item) = shop.variants.get(sku)?;
        shop.levels.get(&(*item, location)).copied()
    }

    /// Places an order as a customer would; returns its JSON (the webhook payload).
    pub fn place_order(&self, email: &str, lines: &[LineSpec], financial_status: &str) -> Value {
        let mut shop = self.inner.shop.lock().unwrap();
        let id = shop.next_id;
        shop.next_id += 1;
        let number = shop.next_number;
        shop.next_number += 1;
        let now = rfc3339(OffsetDateTime::now_utc());
        let mut line_items = Vec::new();
        let mut fo_lines = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let variant = shop.variants.get(&l.sku).map(|v| v.1);
            let line_id = id * 10 + i as u64;
            line_items.push(json!({
                "id": line_id, "variant_id": variant, "sku": l.sku, "title": l.sku, "name": l.sku,
                "quantity": l.quantity, "current_quantity": l.quantity, "fulfillable_quantity": l.quantity,
                "fulfillment_status": null, "fulfillment_service": "manual", "price": l.price,
                "total_discount": "0.00", "requires_shipping": true, "taxable": true, "grams": 300,
                "tax_lines": [], "properties": [],
            }));
            fo_lines.push(
                json!({"id": line_id + 1, "line_item_id": line_id, "quantity": l.quantity,
                "fulfillable_quantity": l.quantity, "variant_id": variant}),
            );
        }
        let total: i64 = lines
            .iter()
            .map(|l| cents(&l.price) * l.quantity)
            .sum::<i64>()
            + 490;
        let location = shop.locations.first().map(|l| l.0);
        let order = json!({
            "id": id, "admin_graphql_api_id": format!("gid://shopify/Order/{id}"),
            "name": format!("#{number}"), "order_number": number, "number": number - 1000,
            "email": email, "contact_email": email, "phone": null,
            "created_at": now, "updated_at": now, "processed_at": now, "cancelled_at": null, "closed_at": null,
            "currency": "USD", "presentment_currency": "USD",
            "financial_status": financial_status, "fulfillment_status": null,
            "total_price": format_cents(total), "subtotal_price": format_cents(total - 490),
            "total_tax": "0.00", "total_discounts": "0.00", "tags": "", "note": null, "test": false,
            "customer": {"id": id + 1, "email": email, "first_name": "Alex", "last_name": "Buyer"},
            "shipping_address": {"first_name": "Alex", "last_name": "Buyer", "name": "Alex Buyer",
                "address1": "350 Fifth Avenue", "address2": null, "city": "New York", "province": "New York",
                "province_code": "NY", "zip": "10118", "country": "United States", "country_code": "US",
                "phone": "+12125550100", "latitude": 40.7484, "longitude": -73.9857, "company": null},
            "line_items": line_items,
            "shipping_lines": [{"id": id + 2, "title": "Standard", "code": "standard", "price": "4.90",
                "source": "shopify", "tax_lines": [], "discount_allocations": []}],
            "payment_gateway_names": ["shopify_payments"], "fulfillments": [], "refunds": [],
        });
        shop.fulfillment_orders.insert(
            id,
            vec![json!({"id": id + 3, "order_id": id, "assigned_location_id": location, "status": "open",
                "request_status": "unsubmitted", "line_items": fo_lines})],
        );
        shop.orders.insert(id, order.clone());
        order
    }

    fn change(&self, id: u64, f: impl FnOnce(&mut Value)) -> Option<Value> {
        let mut shop = self.inner.shop.lock().unwrap();
        let order = shop.orders.get_mut(&id)?;
        f(order);
        order["updated_at"] = json!(rfc3339(OffsetDateTime::now_utc()));
        Some(order.clone())
    }

    pub fn cancel_order(&self, id: u64) -> Option<Value> {
        self.change(id, |o| {
            o["cancelled_at"] = json!(rfc3339(OffsetDateTime::now_utc()));
            o["cancel_reason"] = json!("customer");
        })
    }

    pub fn mark_paid(&self, id: u64) -> Option<Value> {
        self.change(id, |o| o["financial_status"] = json!("paid"))
    }

    pub fn order(&self, id: u64) -> Option<Value> {
        self.inner.shop.lock().unwrap().orders.get(&id).cloned()
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

    /// Fulfillments created by the client.
    pub fn fulfillments(&self) -> Vec<Value> {
        self.inner.shop.lock().unwrap().fulfillments.clone()
    }

    /// Delivers `topic` for the order to `url`, signed; returns the receiver's status.
    pub async fn send_webhook(&self, url: &str, topic: &str, order_id: u64) -> u16 {
        let body = self
            .order(order_id)
            .map(|o| o.to_string())
            .unwrap_or_default()
            .into_bytes();
        let id = {
            let shop = self.inner.shop.lock().unwrap();
            format!("b{:08x}-{}", shop.deliveries.len() + 1, shop.next_id)
        };
        self.inner.shop.lock().unwrap().deliveries.push((
            id.clone(),
            topic.to_string(),
            body.clone(),
        ));
        let signature = sign(&self.inner.config.webhook_secret, &body);
        self.deliver(url, topic, &id, &body, &signature).await
    }

    /// Sends the last delivery again, with the same webhook id (Shopify's retry).
    pub async fn redeliver_last(&self, url: &str) -> u16 {
        let Some((id, topic, body)) = self.inner.shop.lock().unwrap().deliveries.last().cloned()
        else {
            return 0;
        };
        let signature = sign(&self.inner.config.webhook_secret, &body);
        self.deliver(url, &topic, &id, &body, &signature).await
    }

    /// A delivery signed with the wrong secret.
    pub async fn send_forged_webhook(&self, url: &str, topic: &str, order_id: u64) -> u16 {
        let body = self
            .order(order_id)
            .map(|o| o.to_string())
            .unwrap_or_default()
            .into_bytes();
        let signature = sign("not-the-secret", &body);
        self.deliver(url, topic, "forged-1", &body, &signature)
            .await
    }

    async fn deliver(&self, url: &str, topic: &str, id: &str, body: &[u8], signature: &str) -> u16 {
        let client = reqwest::Client::new();
        match client
            .post(url)
            .header("content-type", "application/json")
            .header("X-Shopify-Topic", topic)
            .header("X-Shopify-Hmac-Sha256", signature)
            .header("X-Shopify-Shop-Domain", &self.inner.config.shop_domain)
            .header("X-Shopify-API-Version", &self.inner.config.api_version)
            .header("X-Shopify-Webhook-Id", id)
            .header("X-Shopify-Triggered-At", rfc3339(OffsetDateTime::now_utc()))
            .body(body.to_vec())
            .send()
            .await
        {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }
}

fn cents(price: &str) -> i64 {
    let (whole, frac) = price.split_once('.').unwrap_or((price, "0"));
    whole.parse::<i64>().unwrap_or(0) * 100 + format!("{frac:0<2}")[..2].parse::<i64>().unwrap_or(0)
}

fn format_cents(c: i64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

/// Authentication, rate limit, statistics and faults, before any handler runs.
async fn admit(inner: &Inner, headers: &HeaderMap, operation: &str) -> Result<String, Answer> {
    inner.stats.lock().unwrap().record(operation);
    if headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        != Some(inner.config.access_token.as_str())
    {
        return Err(json_answer(
            StatusCode::UNAUTHORIZED,
            &json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
        ));
    }
    let limit = {
        let mut bucket = inner.bucket.lock().unwrap();
        match bucket.take() {
            Ok(()) => format!("{}/{}", bucket.used(), bucket.burst as u64),
            Err(wait) => {
                inner.stats.lock().unwrap().throttled += 1;
                let mut answer = json_answer(
                    StatusCode::TOO_MANY_REQUESTS,
                    &json!({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}),
                );
                answer.headers_mut().insert(
                    "retry-after",
                    format!("{:.1}", wait.max(0.1)).parse().unwrap(),
                );
                return Err(answer);
            }
        }
    };
    match inner.faults.take() {
        Some(Fault::Fail(status)) => {
            return Err(json_answer(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                &json!({"errors": "Internal Server Error"}),
            ));
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Drop) => return Err(cut_off()),
        None => {}
    }
    Ok(limit)
}

fn with_limit(mut answer: Answer, limit: &str) -> Answer {
    answer
        .headers_mut()
        .insert("x-shopify-shop-api-call-limit", limit.parse().unwrap());
    answer
}

fn page_token(offset: usize, status: &str, since: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{offset}|{status}|{since}"))
}

async fn list_orders(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let limit_header = match admit(&inner, &headers, "orders").await {
        Ok(l) => l,
        Err(a) => return a,
    };
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50)
        .clamp(1, 250);
    let (offset, status, since) = if let Some(token) = q.get("page_info") {
        if let Some(other) = q
            .keys()
            .find(|k| !matches!(k.as_str(), "page_info" | "limit" | "fields"))
        {
            return json_answer(
                StatusCode::BAD_REQUEST,
                &json!({"errors": {"page_info": [format!("{other} cannot be passed when page_info is present")]}}),
            );
        }
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let mut parts = decoded.splitn(3, '|');
        let offset = parts.next().and_then(|o| o.parse().ok());
        let Some(offset) = offset else {
            return json_answer(
                StatusCode::BAD_REQUEST,
                &json!({"errors": {"page_info": ["Invalid value."]}}),
            );
        };
        (
            offset,
            parts.next().unwrap_or("open").to_string(),
            parts.next().unwrap_or("").to_string(),
        )
    } else {
        (
            0,
            q.get("status").cloned().unwrap_or_else(|| "open".into()),
            q.get("updated_at_min").cloned().unwrap_or_default(),
        )
    };
    let since_t = (!since.is_empty())
        .then(|| OffsetDateTime::parse(&since, &time::format_description::well_known::Rfc3339).ok())
        .flatten();
    let shop = inner.shop.lock().unwrap();
    let matching: Vec<&Value> = shop
        .orders
        .values()
        .filter(|o| match status.as_str() {
            "any" => true,
            "cancelled" => !o["cancelled_at"].is_null(),
            "closed" => !o["closed_at"].is_null(),
            _ => o["cancelled_at"].is_null() && o["closed_at"].is_null(),
        })
        .filter(|o| {
            since_t.is_none_or(|s| {
                o["updated_at"]
                    .as_str()
                    .and_then(|u| {
                        OffsetDateTime::parse(u, &time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .is_some_and(|u| u >= s)
            })
        })
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|o| (*o).clone())
        .collect();
    let base = format!(
        "https://{}/admin/api/{}/orders.json",
        inner.config.shop_domain, inner.config.api_version
    );
    let mut links = Vec::new();
    if offset > 0 {
        links.push(format!(
            "<{base}?limit={limit}&page_info={}>; rel=\"previous\"",
            page_token(offset.saturating_sub(limit), &status, &since)
        ));
    }
    if offset + limit < matching.len() {
        links.push(format!(
            "<{base}?limit={limit}&page_info={}>; rel=\"next\"",
            page_token(offset + limit, &status, &since)
        ));
    }
    let mut answer = with_limit(
        json_answer(StatusCode::OK, &json!({"orders": page})),
        &limit_header,
    );
    if !links.is_empty() {
        // Real pages name the shop's own host; the emulator answers on loopback.
        let local = format!(
            "http://{}",
            headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default()
        );
        let text = links
            .join(", ")
            .replace(&format!("https://{}", inner.config.shop_domain), &local);
        answer.headers_mut().insert("link", text.parse().unwrap());
    }
    answer
}

async fn get_order(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Answer {
    let limit = match admit(&inner, &headers, "order").await {
        Ok(l) => l,
        Err(a) => return a,
    };
    let id = file.trim_end_matches(".json").parse::<u64>().unwrap_or(0);
    match inner.shop.lock().unwrap().orders.get(&id) {
        Some(o) => with_limit(json_answer(StatusCode::OK, &json!({"order": o})), &limit),
        None => json_answer(StatusCode::NOT_FOUND, &json!({"errors": "Not Found"})),
    }
}

async fn list_fulfillment_orders(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Answer {
    let limit = match admit(&inner, &headers, "fulfillment_orders").await {
        Ok(l) => l,
        Err(a) => return a,
    };
    match inner.shop.lock().unwrap().fulfillment_orders.get(&id) {
        Some(fos) => with_limit(
            json_answer(StatusCode::OK, &json!({"fulfillment_orders": fos})),
            &limit,
        ),
        None => json_answer(StatusCode::NOT_FOUND, &json!({"errors": "Not Found"})),
    }
}

async fn list_products(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Answer {
    let limit = match admit(&inner, &headers, "products").await {
        Ok(l) => l,
        Err(a) => return a,
    };
    let shop = inner.shop.lock().unwrap();
    let products: Vec<Value> = shop
        .variants
        .iter()
        .map(|(sku, (product, variant, item))| {
            json!({"id": product, "title": sku, "variants": [{"id": variant, "product_id": product, "sku": sku,
                "inventory_item_id": item, "inventory_management": "shopify"}]})
        })
        .collect();
    with_limit(
        json_answer(StatusCode::OK, &json!({"products": products})),
        &limit,
    )
}

async fn list_locations(State(inner): State<Arc<Inner>>, headers: HeaderMap) -> Answer {
    let limit = match admit(&inner, &headers, "locations").await {
        Ok(l) => l,
        Err(a) => return a,
    };
    let shop = inner.shop.lock().unwrap();
    let locations: Vec<Value> = shop
        .locations
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name, "active": true}))
        .collect();
    with_limit(
        json_answer(StatusCode::OK, &json!({"locations": locations})),
        &limit,
    )
}

async fn set_level(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Answer {
    let limit = match admit(&inner, &headers, "inventory_levels/set").await {
        Ok(l) => l,
        Err(a) => return a,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return json_answer(StatusCode::BAD_REQUEST, &json!({"errors": "Invalid JSON"}));
    };
    let (Some(location), Some(item), Some(available)) = (
        body["location_id"].as_u64(),
        body["inventory_item_id"].as_u64(),
        body["available"].as_i64(),
    ) else {
        return json_answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"errors": {"base": ["location_id, inventory_item_id and available are required"]}}),
        );
    };
    let mut shop = inner.shop.lock().unwrap();
    if !shop.locations.iter().any(|l| l.0 == location)
        || !shop.variants.values().any(|v| v.2 == item)
    {
        return json_answer(StatusCode::NOT_FOUND, &json!({"errors": "Not Found"}));
    }
    shop.levels.insert((item, location), available);
    with_limit(
        json_answer(
            StatusCode::OK,
            &json!({"inventory_level": {"inventory_item_id": item, "location_id": location, "available": available,
                "updated_at": rfc3339(OffsetDateTime::now_utc())}}),
        ),
        &limit,
    )
}

async fn create_fulfillment(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let limit = match admit(&inner, &headers, "fulfillments").await {
        Ok(l) => l,
        Err(a) => return a,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return json_answer(StatusCode::BAD_REQUEST, &json!({"errors": "Invalid JSON"}));
    };
    let f = &body["fulfillment"];
    let mut shop = inner.shop.lock().unwrap();
    let mut order_id = None;
    for group in f["line_items_by_fulfillment_order"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let fo_id = group["fulfillment_order_id"].as_u64().unwrap_or(0);
        let Some((oid, fos)) = shop
            .fulfillment_orders
            .iter_mut()
            .find(|(_, fos)| fos.iter().any(|fo| fo["id"].as_u64() == Some(fo_id)))
        else {
            return json_answer(StatusCode::NOT_FOUND, &json!({"errors": "Not Found"}));
        };
        order_id = Some(*oid);
        let fo = fos
            .iter_mut()
            .find(|fo| fo["id"].as_u64() == Some(fo_id))
            .expect("found above");
        for item in group["fulfillment_order_line_items"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let (id, q) = (item["id"].as_u64(), item["quantity"].as_i64().unwrap_or(0));
            let Some(line) = fo["line_items"]
                .as_array_mut()
                .into_iter()
                .flatten()
                .find(|l| l["id"].as_u64() == id)
            else {
                return json_answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({"errors": ["Invalid fulfillment order line item"]}),
                );
            };
            let left = line["fulfillable_quantity"].as_i64().unwrap_or(0);
            if q > left {
                return json_answer(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({"errors": ["Quantity exceeds fulfillable quantity"]}),
                );
            }
            line["fulfillable_quantity"] = json!(left - q);
        }
        let done = fo["line_items"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|l| l["fulfillable_quantity"].as_i64() == Some(0));
        fo["status"] = json!(if done { "closed" } else { "in_progress" });
    }
    let Some(order_id) = order_id else {
        return json_answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"errors": ["line_items_by_fulfillment_order is required"]}),
        );
    };
    let id = 6_000_000_000_000_000 + shop.fulfillments.len() as u64;
    let fulfillment = json!({
        "id": id, "order_id": order_id, "status": "success",
        "tracking_company": f["tracking_info"]["company"], "tracking_number": f["tracking_info"]["number"],
        "tracking_numbers": [f["tracking_info"]["number"]], "tracking_url": f["tracking_info"]["url"],
        "line_items_by_fulfillment_order": f["line_items_by_fulfillment_order"],
        "created_at": rfc3339(OffsetDateTime::now_utc()),
    });
    shop.fulfillments.push(fulfillment.clone());
    let all_done = shop.fulfillment_orders[&order_id]
        .iter()
        .all(|fo| fo["status"] == "closed");
    if let Some(order) = shop.orders.get_mut(&order_id) {
        order["fulfillment_status"] = json!(if all_done { "fulfilled" } else { "partial" });
        order["updated_at"] = json!(rfc3339(OffsetDateTime::now_utc()));
    }
    with_limit(
        json_answer(StatusCode::CREATED, &json!({"fulfillment": fulfillment})),
        &limit,
    )
}
