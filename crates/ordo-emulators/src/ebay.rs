//! eBay's Sell APIs as a connector sees them: Fulfillment `getOrders` (the `filter`
//! grammar, `limit`/`offset` pages with `href`/`next`/`prev`/`total`), `getOrder`,
//! `createShippingFulfillment` (201 + `Location`) and its reads; Inventory
//! `bulkUpdatePriceQuantity` (≤ 25 requests, 200 or 207 with per-SKU `statusCode`) and
//! `getInventoryItem`; the OAuth refresh-token endpoint. Bearer user tokens; errors as
//! `{"errors": [{errorId, domain, category, message}]}`.
//!
//! eBay's limits are daily quotas; [`EbayConfig`] can add a per-second and a per-day limit
//! answering 429 (errorId 2001). Operation names in [`Stats`]: `token`, `getOrders`,
//! `getOrder`, `createShippingFulfillment`, `getShippingFulfillments`,
//! `getShippingFulfillment`, `bulkUpdatePriceQuantity`, `getInventoryItem`, `not_found`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

pub use crate::seed::{Address, Customer, LineSpec, NewOrder};

use crate::common::{
    Answer, Faults, Req, Running, SimpleLimit, Stats, json_answer, parse_time, random_hex, serve,
    urlencode, with_header,
};
use crate::seed::{cents, money};

mod routes;

/// How the emulated seller account behaves.
#[derive(Debug, Clone)]
pub struct EbayConfig {
    /// A user access token that is always valid (`Authorization: Bearer ...`).
    pub access_token: String,
    /// App credentials (`Authorization: Basic` on the token endpoint) and the seller's
    /// refresh token, for `POST /identity/v1/oauth2/token`.
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
    /// Seconds a token from the token endpoint lives (`expires_in`).
    pub token_lifetime: u64,
    /// The seller's user name (`sellerId` on orders).
    pub seller_id: String,
    /// `listingMarketplaceId`/`purchaseMarketplaceId` of orders placed.
    pub marketplace_id: String,
    /// Optional limits (none by default): 429 with errorId 2001 beyond them.
    pub requests_per_second: Option<f64>,
    pub requests_per_day: Option<u64>,
    /// The most requests `bulkUpdatePriceQuantity` takes at once (eBay: 25).
    pub bulk_limit: usize,
}

impl Default for EbayConfig {
    fn default() -> Self {
        Self {
            access_token: "v^1.1#i^1#emulated-user-token".into(),
            client_id: "Emulated-Ordo-PRD-0123456789-abcdef01".into(),
            client_secret: "PRD-emulated-client-secret".into(),
            refresh_token: "v^1.1#i^1#emulated-refresh-token".into(),
            token_lifetime: 7200,
            seller_id: "ordo_demo_seller".into(),
            marketplace_id: "EBAY_US".into(),
            requests_per_second: None,
            requests_per_day: None,
            bulk_limit: 25,
        }
    }
}

struct InventoryItem {
    quantity: Option<i64>,
    offer_id: String,
    legacy_item_id: String,
    price: Option<Value>,
}

struct StoredOrder {
    seq: u64,
    json: Value,
    /// Line item id → quantity shipped so far.
    shipped: BTreeMap<String, i64>,
    fulfillments: Vec<Value>,
}

#[derive(Default)]
struct Account {
    orders: BTreeMap<String, StoredOrder>,
    inventory: BTreeMap<String, InventoryItem>,
    /// Token → (expiry, is a user token).
    tokens: BTreeMap<String, (Instant, bool)>,
    next: u64,
    next_line: u64,
}

struct Inner {
    config: EbayConfig,
    account: Mutex<Account>,
    stats: Mutex<Stats>,
    limit: Mutex<SimpleLimit>,
    faults: Faults,
}

/// An emulated eBay seller account. Clones share it; the server stops when the last clone
/// is dropped.
#[derive(Clone)]
pub struct EbayEmulator {
    inner: Arc<Inner>,
    running: Arc<Running>,
}

/// eBay's times: UTC with milliseconds (`2026-01-02T10:00:00.000Z`).
fn ebay_time(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .expect("formats")
}

fn amount(value: i64, currency: &str) -> Value {
    json!({"value": money(value), "currency": currency})
}

fn error_body(status: StatusCode, id: u32, domain: &str, category: &str, message: &str) -> Answer {
    json_answer(
        status,
        &json!({"errors": [{"errorId": id, "domain": domain, "category": category, "message": message}]}),
    )
}

/// A request error of the Fulfillment API.
fn fulfillment_error(status: StatusCode, id: u32, message: &str) -> Answer {
    error_body(status, id, "API_FULFILLMENT", "REQUEST", message)
}

/// A request error of the Inventory API.
fn inventory_error(status: StatusCode, id: u32, message: &str) -> Answer {
    error_body(status, id, "API_INVENTORY", "REQUEST", message)
}

/// eBay's answer to a failed request of this status, in the operation's API domain.
fn fault_answer(op: &str) -> impl FnOnce(StatusCode) -> Answer + '_ {
    move |status| {
        let inventory = op.contains("Inventory") || op.contains("PriceQuantity");
        match status.as_u16() {
            429 => error_body(
                status,
                2001,
                "ACCESS",
                "REQUEST",
                "Too many requests. The request limit has been reached for the resource.",
            ),
            401 => error_body(status, 1001, "OAuth", "REQUEST", "Invalid access token"),
            _ if inventory => error_body(
                status,
                25001,
                "API_INVENTORY",
                "APPLICATION",
                "A system error has occurred. Please try again.",
            ),
            _ => error_body(
                status,
                30500,
                "API_FULFILLMENT",
                "APPLICATION",
                "System error. Please try again later.",
            ),
        }
    }
}

fn legacy_item_for(sku: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(sku.as_bytes());
    let n = digest.iter().take(4).fold(0u64, |a, b| a * 256 + *b as u64) % 100_000_000;
    format!("1105{n:08}")
}

impl EbayEmulator {
    /// Starts the account on a random loopback port, with no inventory and no orders.
    pub async fn start(config: EbayConfig) -> Self {
        let inner = Arc::new(Inner {
            limit: Mutex::new(SimpleLimit::new(
                config.requests_per_second,
                config.requests_per_day,
            )),
            config,
            account: Mutex::new(Account {
                next: 1,
                next_line: 10_000_000_001,
                ..Default::default()
            }),
            stats: Mutex::default(),
            faults: Faults::default(),
        });
        let app = routes::router(inner.clone());
        let running = Arc::new(serve(app).await);
        Self { inner, running }
    }

    /// `http://127.0.0.1:PORT`: the API host (`/sell/...`) and the OAuth host
    /// (`/identity/v1/oauth2/token`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    pub fn config(&self) -> &EbayConfig {
        &self.inner.config
    }

    /// A snapshot of the requests seen so far.
    pub fn stats(&self) -> Stats {
        self.inner.stats.lock().unwrap().clone()
    }

    /// Faults for the next API requests. The token endpoint only suffers faults scoped to
    /// it: `faults().on("token")`.
    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    /// Every token issued by the token endpoint expires now (the configured
    /// `access_token` stays valid).
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for t in self.inner.account.lock().unwrap().tokens.values_mut() {
            t.0 = now;
        }
    }

    /// An inventory item (with one published offer) for a SKU; `quantity` `None` leaves its
    /// availability unset. Returns the offer id.
    pub fn add_inventory_item(&self, sku: &str, quantity: Option<i64>) -> String {
        let mut a = self.inner.account.lock().unwrap();
        let n = a.inventory.len() as u64 + 1;
        let item = a.inventory.entry(sku.to_string()).or_insert(InventoryItem {
            quantity,
            offer_id: format!("{}", 5_000_000_000 + n),
            legacy_item_id: legacy_item_for(sku),
            price: None,
        });
        item.offer_id.clone()
    }

    /// The ship-to-home quantity last set for a SKU.
    pub fn quantity(&self, sku: &str) -> Option<i64> {
        let a = self.inner.account.lock().unwrap();
        a.inventory.get(sku).and_then(|i| i.quantity)
    }

    /// Quantities per SKU (items never set are left out).
    pub fn stock(&self) -> BTreeMap<String, i64> {
        let a = self.inner.account.lock().unwrap();
        a.inventory
            .iter()
            .filter_map(|(sku, i)| i.quantity.map(|q| (sku.clone(), q)))
            .collect()
    }

    /// The offer price last set for a SKU (`{"value", "currency"}`).
    pub fn price(&self, sku: &str) -> Option<Value> {
        let a = self.inner.account.lock().unwrap();
        a.inventory.get(sku).and_then(|i| i.price.clone())
    }

    /// Places a buyer's order; returns its `orderId`. `status` is the
    /// `orderPaymentStatus` (default `PAID`).
    pub fn place(&self, spec: NewOrder) -> String {
        let mut a = self.inner.account.lock().unwrap();
        let n = a.next;
        a.next += 1;
        let id = format!(
            "{:02}-{:05}-{:05}",
            10 + n % 90,
            10_000 + n,
            (n * 7_919) % 100_000
        );
        let c = &self.inner.config;
        let when = ebay_time(spec.when());
        let later = |days: i64| ebay_time(spec.when() + time::Duration::days(days));
        let currency = spec.currency.as_str();
        let shipping = cents(&spec.shipping_price);
        let mut lines = Vec::new();
        for (i, l) in spec.lines.iter().enumerate() {
            let line_id = a.next_line.to_string();
            a.next_line += 1;
            let legacy = a
                .inventory
                .get(&l.sku)
                .map(|x| x.legacy_item_id.clone())
                .unwrap_or_else(|| legacy_item_for(&l.sku));
            let cost = cents(&l.price) * l.quantity;
            let delivery = if i == 0 { shipping } else { 0 };
            lines.push(json!({
                "lineItemId": line_id, "legacyItemId": legacy, "sku": l.sku, "title": l.sku,
                "lineItemCost": amount(cost, currency), "quantity": l.quantity,
                "soldFormat": "FIXED_PRICE", "listingMarketplaceId": c.marketplace_id,
                "purchaseMarketplaceId": c.marketplace_id, "lineItemFulfillmentStatus": "NOT_STARTED",
                "total": amount(cost + delivery, currency),
                "deliveryCost": {"shippingCost": amount(delivery, currency)},
                "appliedPromotions": [], "taxes": [], "properties": {"buyerProtection": true},
                "lineItemFulfillmentInstructions": {
                    "minEstimatedDeliveryDate": later(3), "maxEstimatedDeliveryDate": later(6),
                    "shipByDate": later(2), "guaranteedDelivery": false,
                },
                "itemLocation": {"location": "Austin, TX", "countryCode": "US", "postalCode": "73301"},
            }));
        }
        let subtotal = spec.subtotal_cents();
        let total = subtotal + shipping;
        let payment = spec.status.clone().unwrap_or_else(|| "PAID".into());
        let paid = payment == "PAID";
        let (cu, ad) = (&spec.customer, &spec.ship_to);
        let username = cu
            .email
            .split('@')
            .next()
            .unwrap_or("buyer")
            .replace('.', "_");
        let mut contact = json!({
            "addressLine1": ad.line1, "addressLine2": ad.line2, "city": ad.city,
            "stateOrProvince": ad.region_code, "postalCode": ad.postal_code, "countryCode": ad.country_code,
        });
        if let Value::Object(m) = &mut contact {
            m.retain(|_, v| !v.is_null());
        }
        let ship_to = json!({
            "fullName": format!("{} {}", cu.first_name, cu.last_name), "contactAddress": contact,
            "primaryPhone": {"phoneNumber": ad.phone.clone().or(cu.phone.clone()).unwrap_or_default()},
            "email": format!("{}@members.ebay.com", random_hex(12)),
        });
        let first_legacy = lines
            .first()
            .and_then(|l| l["legacyItemId"].as_str())
            .unwrap_or("110500000000")
            .to_string();
        let mut payments = json!({
            "paymentMethod": "EBAY", "paymentReferenceId": random_hex(16).to_uppercase(),
            "amount": amount(total, currency), "paymentStatus": payment,
        });
        if paid {
            payments["paymentDate"] = json!(when);
        }
        let order = json!({
            "orderId": id, "legacyOrderId": format!("{first_legacy}-{}", 2_900_000_000_000u64 + n),
            "creationDate": when, "lastModifiedDate": when,
            "orderFulfillmentStatus": "NOT_STARTED", "orderPaymentStatus": payment,
            "sellerId": c.seller_id,
            "buyer": {"username": username, "taxAddress": {"stateOrProvince": ad.region_code,
                "postalCode": ad.postal_code, "countryCode": ad.country_code}},
            "pricingSummary": {"priceSubtotal": amount(subtotal, currency),
                "deliveryCost": amount(shipping, currency), "tax": amount(0, currency),
                "total": amount(total, currency)},
            "cancelStatus": {"cancelState": "NONE_REQUESTED", "cancelRequests": []},
            "paymentSummary": {"payments": [payments], "refunds": [],
                "totalDueSeller": amount(total, currency)},
            "fulfillmentStartInstructions": [{
                "fulfillmentInstructionsType": "SHIP_TO", "minEstimatedDeliveryDate": later(3),
                "maxEstimatedDeliveryDate": later(6), "ebaySupportedFulfillment": false,
                "shippingStep": {"shippingCarrierCode": "USPS", "shippingServiceCode": "USPSPriority",
                    "shipTo": ship_to},
            }],
            "fulfillmentHrefs": [], "lineItems": lines, "salesRecordReference": n.to_string(),
            "totalFeeBasisAmount": amount(total, currency),
            "totalMarketplaceFee": amount(total * 13 / 100, currency),
            "buyerCheckoutNotes": spec.note,
        });
        let mut order = order;
        if order["buyerCheckoutNotes"].is_null()
            && let Value::Object(m) = &mut order
        {
            m.remove("buyerCheckoutNotes");
        }
        a.orders.insert(
            id.clone(),
            StoredOrder {
                seq: n,
                json: order,
                shipped: BTreeMap::new(),
                fulfillments: Vec::new(),
            },
        );
        id
    }

    fn change(&self, id: &str, f: impl FnOnce(&mut Value, &str)) -> Option<Value> {
        let mut a = self.inner.account.lock().unwrap();
        let o = a.orders.get_mut(id)?;
        let now = ebay_time(OffsetDateTime::now_utc());
        f(&mut o.json, &now);
        o.json["lastModifiedDate"] = json!(now);
        Some(o.json.clone())
    }

    /// The buyer cancels: `cancelState: CANCELED` with a completed request, a paid order
    /// refunded (`FULLY_REFUNDED`).
    pub fn cancel_order(&self, id: &str) -> Option<Value> {
        self.change(id, |o, now| {
            o["cancelStatus"] = json!({
                "cancelState": "CANCELED", "cancelledDate": now,
                "cancelRequests": [{"cancelCompletedDate": now, "cancelInitiator": "BUYER",
                    "cancelReason": "BUYER_ASKED_CANCEL", "cancelRequestId": random_hex(10),
                    "cancelRequestedDate": now, "cancelRequestState": "COMPLETED"}],
            });
            if o["orderPaymentStatus"] == "PAID" {
                o["orderPaymentStatus"] = json!("FULLY_REFUNDED");
            }
        })
    }

    /// Payment completes: `orderPaymentStatus: PAID`.
    pub fn mark_paid(&self, id: &str) -> Option<Value> {
        self.set_payment_status(id, "PAID")
    }

    /// Sets `orderPaymentStatus` (`PAID`, `PENDING`, `FAILED`, `FULLY_REFUNDED`, ...).
    pub fn set_payment_status(&self, id: &str, status: &str) -> Option<Value> {
        self.change(id, |o, now| {
            o["orderPaymentStatus"] = json!(status);
            if let Some(p) = o["paymentSummary"]["payments"].get_mut(0) {
                p["paymentStatus"] = json!(if status == "PAID" { "PAID" } else { status });
                if status == "PAID" {
                    p["paymentDate"] = json!(now);
                }
            }
        })
    }

    /// An order as `getOrder` shows it.
    pub fn order(&self, id: &str) -> Option<Value> {
        let a = self.inner.account.lock().unwrap();
        a.orders.get(id).map(|o| o.json.clone())
    }

    /// Every order, in the order placed.
    pub fn orders(&self) -> Vec<Value> {
        let a = self.inner.account.lock().unwrap();
        let mut all: Vec<&StoredOrder> = a.orders.values().collect();
        all.sort_by_key(|o| o.seq);
        all.into_iter().map(|o| o.json.clone()).collect()
    }

    /// Shipping fulfillments created for an order, as `getShippingFulfillments` shows them.
    pub fn shipping_fulfillments(&self, order_id: &str) -> Vec<Value> {
        let a = self.inner.account.lock().unwrap();
        a.orders
            .get(order_id)
            .map(|o| o.fulfillments.clone())
            .unwrap_or_default()
    }

    /// Every shipping fulfillment created: (order id, fulfillment).
    pub fn all_shipping_fulfillments(&self) -> Vec<(String, Value)> {
        let a = self.inner.account.lock().unwrap();
        let mut all: Vec<(u64, String, Value)> = a
            .orders
            .iter()
            .flat_map(|(id, o)| {
                o.fulfillments
                    .iter()
                    .map(move |f| (o.seq, id.clone(), f.clone()))
            })
            .collect();
        all.sort_by_key(|x| x.0);
        all.into_iter().map(|(_, id, f)| (id, f)).collect()
    }
}
