//! Amazon Selling Partner API as a connector sees it: the Login with Amazon token endpoint,
//! Orders v0 (`getOrders` with `CreatedAfter`/`LastUpdatedAfter` and `NextToken`,
//! `getOrder`, `getOrderItems` with `NextToken`, `confirmShipment`), and the Listings Items
//! `PATCH` that sets `fulfillment_availability`; per-operation token buckets answering 429
//! with `x-amzn-RateLimit-Limit`; errors as `{"errors": [{code, message, details}]}`.
//!
//! The token endpoint (`POST /auth/o2/token`, really on `api.amazon.com`) is served on the
//! same address as the SP-API. Operation names in [`Stats`]: `token`, `getOrders`,
//! `getOrder`, `getOrderItems`, `confirmShipment`, `patchListingsItem`, `not_found`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use serde_json::{Value, json};
use time::OffsetDateTime;

pub use crate::seed::{Address, Customer, LineSpec, NewOrder};

use crate::common::{
    Answer, Bucket, Faults, Req, Running, Stats, decode_token, empty_answer, encode_token,
    json_answer, parse_time, random_hex, random_uuid, rfc3339, serve, with_header,
};
use crate::seed::{cents, money};

mod routes;

/// A token bucket: `rate` requests per second, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub rate: f64,
    pub burst: f64,
}

/// How the emulated seller account behaves.
#[derive(Debug, Clone)]
pub struct AmazonConfig {
    /// LWA app credentials and the seller's refresh token, all checked by `/auth/o2/token`.
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// The only seller id the listings API accepts in its path.
    pub seller_id: String,
    /// Marketplace of the orders placed (`ATVPDKIKX0DER`: US).
    pub marketplace_id: String,
    /// Seconds an access token lives (`expires_in`).
    pub token_lifetime: u64,
    /// Multiplies every operation's rate (not its burst); 1.0 is Amazon's published figures.
    pub rate_factor: f64,
    /// Per-operation limits replacing the published ones (before `rate_factor`), e.g.
    /// `getOrders` → `RateLimit { rate: 1.0, burst: 2.0 }`.
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// Items per `getOrderItems` page before a `NextToken` is given.
    pub order_items_page_size: usize,
    /// How long after a change an order shows in `getOrders` (the answer's
    /// `LastUpdatedBefore`/`CreatedBefore` is now minus this). Amazon lags about 2 minutes;
    /// the default 0 shows orders at once.
    pub visibility_delay: Duration,
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
            rate_limits: BTreeMap::new(),
            order_items_page_size: 100,
            visibility_delay: Duration::ZERO,
        }
    }
}

impl AmazonConfig {
    /// Replaces one operation's limit.
    pub fn with_rate(mut self, operation: &str, rate: f64, burst: f64) -> Self {
        self.rate_limits
            .insert(operation.to_string(), RateLimit { rate, burst });
        self
    }

    /// The limit `operation` gets: the override, else the published figure.
    pub fn rate_limit(&self, operation: &str) -> RateLimit {
        let published = match operation {
            "getOrders" => (0.0167, 20.0),
            "getOrder" | "getOrderItems" | "getOrderAddress" | "getOrderBuyerInfo" => (0.5, 30.0),
            "confirmShipment" => (2.0, 10.0),
            "patchListingsItem" => (5.0, 5.0),
            _ => (1.0, 10.0),
        };
        let base = self
            .rate_limits
            .get(operation)
            .copied()
            .unwrap_or(RateLimit {
                rate: published.0,
                burst: published.1,
            });
        RateLimit {
            rate: base.rate * self.rate_factor,
            burst: base.burst,
        }
    }
}

/// One item of an order to place (the older, Amazon-only form of [`LineSpec`]).
#[derive(Debug, Clone)]
pub struct ItemSpec {
    pub sku: String,
    pub quantity: i64,
    /// Unit price, a decimal string.
    pub unit_price: String,
}

struct Listing {
    asin: String,
    quantity: Option<i64>,
}

struct StoredOrder {
    /// Position in the order list (keyset for `NextToken`).
    seq: u64,
    json: Value,
    items: Vec<Value>,
}

#[derive(Default)]
struct Market {
    orders: BTreeMap<String, StoredOrder>,
    listings: BTreeMap<String, Listing>,
    /// (order id, request body) of each shipment confirmation accepted.
    confirmations: Vec<(String, Value)>,
    /// (SKU, request body) of each listings patch accepted.
    patches: Vec<(String, Value)>,
    tokens: BTreeMap<String, Instant>,
    next: u64,
}

struct Inner {
    config: AmazonConfig,
    market: Mutex<Market>,
    stats: Mutex<Stats>,
    buckets: Mutex<BTreeMap<String, Bucket>>,
    faults: Faults,
}

/// An emulated seller account on SP-API. Clones share it; the server stops when the last
/// clone is dropped.
#[derive(Clone)]
pub struct AmazonEmulator {
    inner: Arc<Inner>,
    running: Arc<Running>,
}

fn errors(status: StatusCode, code: &str, message: &str, details: &str) -> Answer {
    json_answer(
        status,
        &json!({"errors": [{"code": code, "message": message, "details": details}]}),
    )
}

fn invalid(message: &str) -> Answer {
    errors(StatusCode::BAD_REQUEST, "InvalidInput", message, "")
}

fn not_found(message: &str) -> Answer {
    errors(StatusCode::NOT_FOUND, "NotFound", message, "")
}

/// SP-API's answer to a failed request of this status.
fn fault_answer(status: StatusCode) -> Answer {
    let (code, message) = match status.as_u16() {
        400 => ("InvalidInput", "Invalid input."),
        403 => ("Unauthorized", "Access to requested resource is denied."),
        404 => ("NotFound", "The requested resource was not found."),
        429 => (
            "QuotaExceeded",
            "You exceeded your quota for the requested resource.",
        ),
        503 => (
            "ServiceUnavailable",
            "Service temporarily unavailable. Please try again.",
        ),
        _ => (
            "InternalFailure",
            "We encountered an internal error. Please try again.",
        ),
    };
    errors(status, code, message, "")
}

fn asin_for(sku: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(sku.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02X}")).collect();
    format!("B0{hex}")
}

fn amount(currency: &str, cents: i64) -> Value {
    json!({"CurrencyCode": currency, "Amount": money(cents)})
}

fn now_text() -> String {
    rfc3339(
        OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("0 ns is valid"),
    )
}

/// Statuses whose orders carry a shipping address (Orders v0 leaves it out otherwise).
fn has_address(status: &str) -> bool {
    matches!(
        status,
        "Unshipped" | "PartiallyShipped" | "Shipped" | "InvoiceUnconfirmed"
    )
}

impl AmazonEmulator {
    /// Starts the account on a random loopback port, with no listings and no orders.
    pub async fn start(config: AmazonConfig) -> Self {
        let buckets = [
            "getOrders",
            "getOrder",
            "getOrderItems",
            "confirmShipment",
            "patchListingsItem",
        ]
        .iter()
        .map(|op| {
            let l = config.rate_limit(op);
            (op.to_string(), Bucket::new(l.rate, l.burst))
        })
        .collect();
        let inner = Arc::new(Inner {
            config,
            market: Mutex::new(Market {
                next: 1,
                ..Default::default()
            }),
            stats: Mutex::default(),
            buckets: Mutex::new(buckets),
            faults: Faults::default(),
        });
        let app = routes::router(inner.clone());
        let running = Arc::new(serve(app).await);
        Self { inner, running }
    }

    /// `http://127.0.0.1:PORT`: both the SP-API root and the LWA root (`/auth/o2/token`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    pub fn config(&self) -> &AmazonConfig {
        &self.inner.config
    }

    /// A snapshot of the requests seen so far (`token` counts LWA exchanges).
    pub fn stats(&self) -> Stats {
        self.inner.stats.lock().unwrap().clone()
    }

    /// Faults for the next SP-API requests. The token endpoint only suffers faults scoped to
    /// it: `faults().on("token")`.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Every access token issued so far expires now (the next SP-API call answers 403).
    pub fn expire_tokens(&self) {
        let mut m = self.inner.market.lock().unwrap();
        let now = Instant::now();
        for expiry in m.tokens.values_mut() {
            *expiry = now;
        }
    }

    /// Lists a SKU (merchant-fulfilled) under an ASIN; no quantity set yet.
    pub fn add_listing(&self, sku: &str, asin: &str) {
        self.inner.market.lock().unwrap().listings.insert(
            sku.to_string(),
            Listing {
                asin: asin.to_string(),
                quantity: None,
            },
        );
    }

    /// The quantity last set for a listing (`None`: unknown SKU or never set).
    pub fn listed_quantity(&self, sku: &str) -> Option<i64> {
        self.inner
            .market
            .lock()
            .unwrap()
            .listings
            .get(sku)
            .and_then(|l| l.quantity)
    }

    /// Quantities set, per SKU (listings never set are left out).
    pub fn stock(&self) -> BTreeMap<String, i64> {
        let m = self.inner.market.lock().unwrap();
        m.listings
            .iter()
            .filter_map(|(sku, l)| l.quantity.map(|q| (sku.clone(), q)))
            .collect()
    }

    /// `(SKU, request body)` of each listings patch accepted (previews excluded).
    pub fn listing_patches(&self) -> Vec<(String, Value)> {
        self.inner.market.lock().unwrap().patches.clone()
    }

    /// Places a buyer's order; returns its `AmazonOrderId`. `status` is the `OrderStatus`
    /// (default `Unshipped`); [`NewOrder::fulfilled_by_marketplace`] makes it AFN.
    pub fn place(&self, spec: NewOrder) -> String {
        let mut m = self.inner.market.lock().unwrap();
        let n = m.next;
        m.next += 1;
        let id = format!(
            "902-{:07}-{:07}",
            1_000_000 + n,
            (n * 7_919_333 + 4_000_000) % 10_000_000
        );
        let when = rfc3339(spec.when());
        let currency = spec.currency.as_str();
        let shipping = cents(&spec.shipping_price);
        let mut items = Vec::new();
        for (i, l) in spec.lines.iter().enumerate() {
            let asin = m
                .listings
                .get(&l.sku)
                .map(|x| x.asin.clone())
                .unwrap_or_else(|| asin_for(&l.sku));
            let zero = amount(currency, 0);
            items.push(json!({
                "ASIN": asin, "SellerSKU": l.sku,
                "OrderItemId": format!("{:014}", 10_000_000_000_000 + n * 1000 + i as u64),
                "Title": l.sku, "QuantityOrdered": l.quantity, "QuantityShipped": 0,
                "ProductInfo": {"NumberOfItems": "1"},
                "ItemPrice": amount(currency, cents(&l.price) * l.quantity),
                "ItemTax": zero, "ShippingPrice": amount(currency, if i == 0 { shipping } else { 0 }),
                "ShippingTax": zero, "ShippingDiscount": zero, "ShippingDiscountTax": zero,
                "PromotionDiscount": zero, "PromotionDiscountTax": zero, "PromotionIds": [],
                "IsGift": "false", "ConditionId": "New", "ConditionSubtypeId": "New",
                "IsTransparency": false, "SerialNumberRequired": false,
                "BuyerRequestedCancel": {"IsBuyerRequestedCancel": "false", "BuyerCancelReason": ""},
            }));
        }
        let status = spec.status.clone().unwrap_or_else(|| "Unshipped".into());
        let channel = if spec.fulfilled_by_marketplace {
            "AFN"
        } else {
            "MFN"
        };
        let (c, a) = (&spec.customer, &spec.ship_to);
        let mut order = json!({
            "AmazonOrderId": id, "SellerOrderId": id, "PurchaseDate": when, "LastUpdateDate": when,
            "OrderStatus": status, "FulfillmentChannel": channel, "SalesChannel": "Amazon.com",
            "ShipServiceLevel": "Std US D2D Dom",
            "OrderTotal": amount(currency, spec.subtotal_cents() + shipping),
            "NumberOfItemsShipped": 0,
            "NumberOfItemsUnshipped": spec.lines.iter().map(|l| l.quantity).sum::<i64>(),
            "PaymentMethod": "Other", "PaymentMethodDetails": ["Standard"],
            "MarketplaceId": self.inner.config.marketplace_id,
            "ShipmentServiceLevelCategory": "Standard", "OrderType": "StandardOrder",
            "EarliestShipDate": when, "LatestShipDate": when,
            "IsBusinessOrder": false, "IsPrime": false, "IsPremiumOrder": false,
            "IsGlobalExpressEnabled": false, "IsReplacementOrder": false, "IsSoldByAB": false,
            "IsISPU": false, "IsAccessPointOrder": false, "HasRegulatedItems": false,
            "BuyerInfo": {"BuyerEmail": format!("{}@marketplace.amazon.com", random_hex(16))},
            "ShippingAddress": {
                "Name": format!("{} {}", c.first_name, c.last_name), "CompanyName": a.company,
                "AddressLine1": a.line1, "AddressLine2": a.line2, "City": a.city,
                "StateOrRegion": a.region_code, "PostalCode": a.postal_code,
                "CountryCode": a.country_code, "Phone": a.phone,
                "AddressType": if a.company.is_some() { "Commercial" } else { "Residential" },
            },
        });
        strip_nulls(&mut order["ShippingAddress"]);
        m.orders.insert(
            id.clone(),
            StoredOrder {
                seq: n,
                json: order,
                items,
            },
        );
        id
    }

    /// Older form of [`Self::place`]: items, `OrderStatus` and `MFN`/`AFN`.
    pub fn place_order(
        &self,
        items: &[ItemSpec],
        status: &str,
        fulfillment_channel: &str,
    ) -> String {
        let mut spec = NewOrder::new().status(status).shipping("0.00");
        for i in items {
            spec = spec.line(&i.sku, i.quantity, &i.unit_price);
        }
        if fulfillment_channel == "AFN" {
            spec = spec.fulfilled_by_marketplace();
        }
        self.place(spec)
    }

    /// Sets `OrderStatus` (`Pending`, `Unshipped`, `Canceled`, ...) and `LastUpdateDate`.
    pub fn set_status(&self, id: &str, status: &str) {
        let mut m = self.inner.market.lock().unwrap();
        if let Some(o) = m.orders.get_mut(id) {
            o.json["OrderStatus"] = json!(status);
            o.json["LastUpdateDate"] = json!(now_text());
        }
    }

    /// The buyer cancels (`Canceled`).
    pub fn cancel_order(&self, id: &str) {
        self.set_status(id, "Canceled");
    }

    /// Payment authorised: a `Pending` order becomes `Unshipped`.
    pub fn mark_paid(&self, id: &str) {
        self.set_status(id, "Unshipped");
    }

    /// An order as `getOrder` shows it.
    pub fn order(&self, id: &str) -> Option<Value> {
        let m = self.inner.market.lock().unwrap();
        m.orders.get(id).map(shown)
    }

    /// Every order, in the order placed.
    pub fn orders(&self) -> Vec<Value> {
        let m = self.inner.market.lock().unwrap();
        let mut all: Vec<&StoredOrder> = m.orders.values().collect();
        all.sort_by_key(|o| o.seq);
        all.into_iter().map(shown).collect()
    }

    /// An order's items as `getOrderItems` shows them.
    pub fn order_items(&self, id: &str) -> Vec<Value> {
        let m = self.inner.market.lock().unwrap();
        m.orders
            .get(id)
            .map(|o| o.items.clone())
            .unwrap_or_default()
    }

    /// `(order id, packageDetail)` of each shipment confirmation accepted.
    pub fn confirmations(&self) -> Vec<(String, Value)> {
        let m = self.inner.market.lock().unwrap();
        m.confirmations
            .iter()
            .map(|(id, body)| (id.clone(), body["packageDetail"].clone()))
            .collect()
    }

    /// `(order id, whole request body)` of each shipment confirmation accepted.
    pub fn confirmation_requests(&self) -> Vec<(String, Value)> {
        self.inner.market.lock().unwrap().confirmations.clone()
    }
}

fn strip_nulls(v: &mut Value) {
    if let Value::Object(map) = v {
        map.retain(|_, x| !x.is_null());
    }
}

/// The order as answered: without `ShippingAddress` in statuses that have none.
fn shown(o: &StoredOrder) -> Value {
    let mut json = o.json.clone();
    if !has_address(json["OrderStatus"].as_str().unwrap_or(""))
        && let Value::Object(map) = &mut json
    {
        map.remove("ShippingAddress");
    }
    json
}
