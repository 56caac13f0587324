//! Amazon Selling Partner API as a connector sees it: the Login with Amazon token endpoint,
//! Orders v0 (`getOrders` with `LastUpdatedAfter`/`CreatedAfter` and `NextToken`,
//! `getOrderItems`, `confirmShipment`), and the listings `PATCH` that sets
//! `fulfillment_availability`; per-operation token buckets answering 429 with
//! `x-amzn-RateLimit-Limit`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Response, StatusCode};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::common::{Bucket, Fault, Faults, Running, Stats, cut_off, rfc3339, serve};

#[derive(Debug, Clone)]
pub struct AmazonConfig {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    pub seller_id: String,
    pub marketplace_id: String,
    /// Seconds an access token lives.
    pub token_lifetime: u64,
    /// Multiplies every operation's published rate (tests may speed the clock up; 1.0 is
    /// Amazon's own figures).
    pub rate_factor: f64,
}

impl Default for AmazonConfig {
    fn default() -> Self {
        Self {
            client_id: "amzn1.application-oa2-client.emulated".into(),
            client_secret: "emulated-client-secret".into(),
            refresh_token: "Atzr|emulated-refresh-token".into(),
            seller_id: "A2EMULATEDSELLER".into(),
            marketplace_id: "ATVPDKIKX0DER".into(),
            token_lifetime: 3600,
            rate_factor: 1.0,
        }
    }
}

/// Published rate and burst per operation.
fn published(operation: &str) -> (f64, f64) {
    match operation {
        "getOrders" => (0.0167, 20.0),
        "getOrderItems" => (0.5, 30.0),
        "confirmShipment" => (2.0, 10.0),
        "patchListingsItem" => (5.0, 5.0),
        _ => (1.0, 10.0),
    }
}

#[derive(Debug, Clone)]
pub struct ItemSpec {
    pub sku: String,
    pub quantity: i64,
    /// Unit price, a decimal string.
    pub unit_price: String,
}

#[derive(Default)]
struct Market {
    orders: BTreeMap<String, Value>,
    items: BTreeMap<String, Vec<Value>>,
    /// SKU → (ASIN, quantity last set).
    listings: BTreeMap<String, (String, Option<i64>)>,
    confirmations: Vec<(String, Value)>,
    tokens: BTreeMap<String, std::time::Instant>,
    next: u64,
}

struct Inner {
    config: AmazonConfig,
    market: Mutex<Market>,
    stats: Mutex<Stats>,
    buckets: Mutex<BTreeMap<String, Bucket>>,
    faults: Faults,
}

#[derive(Clone)]
pub struct AmazonEmulator {
    inner: Arc<Inner>,
    running: Arc<Running>,
}

type Answer = Response<Body>;

fn answer(status: StatusCode, body: &Value) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-RequestId", format!("{:016x}", body.to_string().len()))
        .body(Body::from(body.to_string()))
        .expect("static response")
}

fn error(status: StatusCode, code: &str, message: &str) -> Answer {
    answer(status, &json!({"errors": [{"code": code, "message": message, "details": ""}]}))
}

impl AmazonEmulator {
    pub async fn start(config: AmazonConfig) -> Self {
        let inner = Arc::new(Inner {
            config,
            market: Mutex::new(Market {
                next: 1,
                ..Default::default()
            }),
            stats: Mutex::default(),
            buckets: Mutex::default(),
            faults: Faults::default(),
        });
        let app = Router::new()
            .route("/auth/o2/token", post(token))
            .route("/orders/v0/orders", get(get_orders))
            .route("/orders/v0/orders/{id}/orderItems", get(get_items))
            .route("/orders/v0/orders/{id}/shipmentConfirmation", post(confirm))
            .route("/listings/2021-08-01/items/{seller}/{sku}", patch(patch_listing))
            .with_state(inner.clone());
        let running = Arc::new(serve(app).await);
        Self { inner, running }
    }

    /// The SP-API root; the token endpoint is served on the same address.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    pub fn config(&self) -> &AmazonConfig {
        &self.inner.config
    }

    pub fn stats(&self) -> Stats {
        self.inner.stats.lock().unwrap().clone()
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub fn add_listing(&self, sku: &str, asin: &str) {
        self.inner
            .market
            .lock()
            .unwrap()
            .listings
            .insert(sku.to_string(), (asin.to_string(), None));
    }

    /// The quantity last set for a listing.
    pub fn listed_quantity(&self, sku: &str) -> Option<i64> {
        self.inner.market.lock().unwrap().listings.get(sku).and_then(|l| l.1)
    }

    /// A buyer's order. `fulfillment_channel` is `MFN` or `AFN`; returns its id.
    pub fn place_order(&self, items: &[ItemSpec], status: &str, fulfillment_channel: &str) -> String {
        let mut m = self.inner.market.lock().unwrap();
        let n = m.next;
        m.next += 1;
        let id = format!("902-{:07}-{:07}", 1_000_000 + n, 5_000_000 + n * 7 % 1_000_000);
        let now = rfc3339(OffsetDateTime::now_utc());
        let mut total = 0i64;
        let mut lines = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let asin = m
                .listings
                .get(&item.sku)
                .map(|l| l.0.clone())
                .unwrap_or_else(|| format!("B0EMU{:05}", i));
            let line_total = cents(&item.unit_price) * item.quantity;
            total += line_total;
            lines.push(json!({
                "ASIN": asin, "SellerSKU": item.sku, "OrderItemId": format!("{:014}", n * 100 + i as u64),
                "Title": item.sku, "QuantityOrdered": item.quantity, "QuantityShipped": 0,
                "ProductInfo": {"NumberOfItems": "1"},
                "ItemPrice": {"CurrencyCode": "USD", "Amount": money(line_total)},
                "ItemTax": {"CurrencyCode": "USD", "Amount": "0.00"},
                "ShippingPrice": {"CurrencyCode": "USD", "Amount": "0.00"},
                "PromotionDiscount": {"CurrencyCode": "USD", "Amount": "0.00"},
                "IsGift": "false",
            }));
        }
        let order = json!({
            "AmazonOrderId": id, "PurchaseDate": now, "LastUpdateDate": now, "OrderStatus": status,
            "FulfillmentChannel": fulfillment_channel, "SalesChannel": "Amazon.com", "ShipServiceLevel": "Std US D2D Dom",
            "OrderTotal": {"CurrencyCode": "USD", "Amount": money(total)},
            "NumberOfItemsShipped": 0, "NumberOfItemsUnshipped": items.iter().map(|i| i.quantity).sum::<i64>(),
            "PaymentMethod": "Other", "PaymentMethodDetails": ["Standard"], "MarketplaceId": self.inner.config.marketplace_id,
            "ShipmentServiceLevelCategory": "Standard", "OrderType": "StandardOrder", "IsPrime": false,
            "IsBusinessOrder": false, "IsPremiumOrder": false,
            "ShippingAddress": {"Name": "Pat Buyer", "AddressLine1": "410 Terry Ave N", "City": "Seattle",
                "StateOrRegion": "WA", "PostalCode": "98109", "CountryCode": "US", "AddressType": "Residential"},
            "BuyerInfo": {"BuyerEmail": format!("{}@marketplace.amazon.com", id.replace('-', ""))},
        });
        m.orders.insert(id.clone(), order);
        m.items.insert(id.clone(), lines);
        id
    }

    pub fn set_status(&self, id: &str, status: &str) {
        let mut m = self.inner.market.lock().unwrap();
        if let Some(o) = m.orders.get_mut(id) {
            o["OrderStatus"] = json!(status);
            o["LastUpdateDate"] = json!(rfc3339(OffsetDateTime::now_utc()));
        }
    }

    pub fn order(&self, id: &str) -> Option<Value> {
        self.inner.market.lock().unwrap().orders.get(id).cloned()
    }

    /// `(order id, packageDetail)` of each shipment confirmation received.
    pub fn confirmations(&self) -> Vec<(String, Value)> {
        self.inner.market.lock().unwrap().confirmations.clone()
    }
}

fn cents(price: &str) -> i64 {
    let (whole, frac) = price.split_once('.').unwrap_or((price, "0"));
    whole.parse::<i64>().unwrap_or(0) * 100 + format!("{frac:0<2}")[..2].parse::<i64>().unwrap_or(0)
}

fn money(c: i64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

async fn admit(inner: &Inner, headers: &HeaderMap, operation: &str) -> Result<String, Answer> {
    inner.stats.lock().unwrap().record(operation);
    let token = headers.get("x-amz-access-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    let valid = inner
        .market
        .lock()
        .unwrap()
        .tokens
        .get(token)
        .is_some_and(|expires| *expires > std::time::Instant::now());
    if !valid {
        return Err(error(StatusCode::FORBIDDEN, "Unauthorized", "Access to requested resource is denied."));
    }
    let (rate, burst) = published(operation);
    let rate = rate * inner.config.rate_factor;
    let limited = inner
        .buckets
        .lock()
        .unwrap()
        .entry(operation.to_string())
        .or_insert_with(|| Bucket::new(rate, burst))
        .take()
        .is_err();
    let limit_header = format!("{rate}");
    if limited {
        inner.stats.lock().unwrap().throttled += 1;
        let mut a = error(StatusCode::TOO_MANY_REQUESTS, "QuotaExceeded", "You exceeded your quota for the requested resource.");
        a.headers_mut().insert("x-amzn-RateLimit-Limit", limit_header.parse().unwrap());
        return Err(a);
    }
    match inner.faults.take() {
        Some(Fault::Fail(status)) => {
            return Err(error(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "InternalFailure",
                "We encountered an internal error. Please try again.",
            ));
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Drop) => return Err(cut_off()),
        None => {}
    }
    Ok(limit_header)
}

fn limited(mut a: Answer, limit: &str) -> Answer {
    a.headers_mut().insert("x-amzn-RateLimit-Limit", limit.parse().unwrap());
    a
}

async fn token(State(inner): State<Arc<Inner>>, body: Bytes) -> Answer {
    inner.stats.lock().unwrap().record("token");
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let c = &inner.config;
    if form.get("grant_type").map(String::as_str) != Some("refresh_token")
        || form.get("client_id") != Some(&c.client_id)
        || form.get("client_secret") != Some(&c.client_secret)
        || form.get("refresh_token") != Some(&c.refresh_token)
    {
        return answer(
            StatusCode::BAD_REQUEST,
            &json!({"error": "invalid_grant", "error_description": "The request has an invalid grant parameter : refresh_token"}),
        );
    }
    let mut m = inner.market.lock().unwrap();
    let value = format!("Atza|emulated-{}", m.tokens.len() + 1);
    m.tokens.insert(
        value.clone(),
        std::time::Instant::now() + std::time::Duration::from_secs(c.token_lifetime),
    );
    answer(
        StatusCode::OK,
        &json!({"access_token": value, "token_type": "bearer", "expires_in": c.token_lifetime, "refresh_token": c.refresh_token}),
    )
}

const PAGE_TOKEN_PREFIX: &str = "emu-next-";

async fn get_orders(State(inner): State<Arc<Inner>>, headers: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Answer {
    let limit = match admit(&inner, &headers, "getOrders").await {
        Ok(l) => l,
        Err(a) => return a,
    };
    if q.get("MarketplaceIds").is_none_or(|m| m.is_empty()) {
        return error(StatusCode::BAD_REQUEST, "InvalidInput", "MarketplaceIds is required");
    }
    let per_page: usize = q.get("MaxResultsPerPage").and_then(|v| v.parse().ok()).unwrap_or(100).clamp(1, 100);
    let (offset, created, updated) = if let Some(token) = q.get("NextToken") {
        let Some(rest) = token.strip_prefix(PAGE_TOKEN_PREFIX) else {
            return error(StatusCode::BAD_REQUEST, "InvalidInput", "Invalid NextToken");
        };
        let mut parts = rest.splitn(3, '~');
        let offset = parts.next().and_then(|o| o.parse::<usize>().ok()).unwrap_or(0);
        (offset, parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string())
    } else {
        let created = q.get("CreatedAfter").cloned().unwrap_or_default();
        let updated = q.get("LastUpdatedAfter").cloned().unwrap_or_default();
        if created.is_empty() == updated.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidInput",
                "Exactly one of CreatedAfter and LastUpdatedAfter must be given",
            );
        }
        (0, created, updated)
    };
    let parse = |t: &str| OffsetDateTime::parse(t, &Rfc3339).ok();
    let (created_t, updated_t) = (parse(&created), parse(&updated));
    let m = inner.market.lock().unwrap();
    let matching: Vec<&Value> = m
        .orders
        .values()
        .filter(|o| created_t.is_none_or(|c| o["PurchaseDate"].as_str().and_then(parse).is_some_and(|p| p >= c)))
        .filter(|o| updated_t.is_none_or(|u| o["LastUpdateDate"].as_str().and_then(parse).is_some_and(|p| p >= u)))
        .collect();
    let page: Vec<Value> = matching.iter().skip(offset).take(per_page).map(|o| (*o).clone()).collect();
    let mut payload = json!({"Orders": page, "LastUpdatedBefore": rfc3339(OffsetDateTime::now_utc())});
    if offset + per_page < matching.len() {
        payload["NextToken"] = json!(format!("{PAGE_TOKEN_PREFIX}{}~{created}~{updated}", offset + per_page));
    }
    limited(answer(StatusCode::OK, &json!({"payload": payload})), &limit)
}

async fn get_items(State(inner): State<Arc<Inner>>, headers: HeaderMap, Path(id): Path<String>) -> Answer {
    let limit = match admit(&inner, &headers, "getOrderItems").await {
        Ok(l) => l,
        Err(a) => return a,
    };
    let m = inner.market.lock().unwrap();
    match m.items.get(&id) {
        Some(items) => limited(
            answer(StatusCode::OK, &json!({"payload": {"AmazonOrderId": id, "OrderItems": items}})),
            &limit,
        ),
        None => error(StatusCode::NOT_FOUND, "InvalidInput", "Invalid AmazonOrderId"),
    }
}

async fn confirm(State(inner): State<Arc<Inner>>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Answer {
    let limit = match admit(&inner, &headers, "confirmShipment").await {
        Ok(l) => l,
        Err(a) => return a,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "InvalidInput", "Malformed JSON");
    };
    let detail = body["packageDetail"].clone();
    if detail["trackingNumber"].as_str().is_none_or(str::is_empty) || detail["orderItems"].as_array().is_none_or(Vec::is_empty) {
        return error(StatusCode::BAD_REQUEST, "InvalidInput", "packageDetail needs trackingNumber and orderItems");
    }
    let mut m = inner.market.lock().unwrap();
    let Some(order) = m.orders.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, "InvalidInput", "Invalid AmazonOrderId");
    };
    order["OrderStatus"] = json!("Shipped");
    order["LastUpdateDate"] = json!(rfc3339(OffsetDateTime::now_utc()));
    m.confirmations.push((id, detail));
    limited(
        Response::builder().status(StatusCode::NO_CONTENT).body(Body::empty()).expect("static"),
        &limit,
    )
}

async fn patch_listing(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path((seller, sku)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let limit = match admit(&inner, &headers, "patchListingsItem").await {
        Ok(l) => l,
        Err(a) => return a,
    };
    if seller != inner.config.seller_id {
        return error(StatusCode::FORBIDDEN, "Unauthorized", "Access to requested resource is denied.");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "InvalidInput", "Malformed JSON");
    };
    let quantity = body["patches"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["path"] == "/attributes/fulfillment_availability")
        .and_then(|p| p["value"][0]["quantity"].as_i64());
    let Some(quantity) = quantity else {
        return error(StatusCode::BAD_REQUEST, "InvalidInput", "No fulfillment_availability quantity in patches");
    };
    let mut m = inner.market.lock().unwrap();
    let Some(listing) = m.listings.get_mut(&sku) else {
        return error(StatusCode::NOT_FOUND, "NotFound", &format!("SKU {sku} not found"));
    };
    listing.1 = Some(quantity);
    limited(
        answer(
            StatusCode::OK,
            &json!({"sku": sku, "status": "ACCEPTED", "submissionId": format!("sub-{}", m.confirmations.len() + m.orders.len()), "issues": []}),
        ),
        &limit,
    )
}
