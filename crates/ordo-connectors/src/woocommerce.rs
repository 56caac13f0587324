//! WooCommerce (REST API v3): orders by webhook (`order.created`, `order.updated`) and by
//! polling `orders` with `modified_after` and page numbers (`X-WP-TotalPages`); stock out
//! with `products/batch` (100 per call); tracking out with the Shipment Tracking extension,
//! then the order is marked `completed` once everything shipped.

use std::collections::BTreeMap;

use async_trait::async_trait;
use ordo_domain::catalog::Address;
use ordo_domain::order::{CustomerInput, LineInput, OrderInput, PaymentInput, ShippingInput};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::channel::{ChannelApi, OrdersPage, OrdersPageRequest, StockFigure, TrackingUpdate};
use crate::client::{Answer, ApiClient, Rate, RemoteError};
use crate::model::{ChannelOrder, ChannelOrderState};
use crate::money::{difference, sum, unit_price};
use crate::settings::Connection;
use crate::shopify::urlencode;

#[derive(Debug, Deserialize)]
struct WooOrder {
    id: u64,
    #[serde(default)]
    number: Option<String>,
    status: String,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    date_created_gmt: Option<String>,
    #[serde(default)]
    date_modified_gmt: Option<String>,
    #[serde(default)]
    customer_note: Option<String>,
    #[serde(default)]
    billing: Option<WooAddress>,
    #[serde(default)]
    shipping: Option<WooAddress>,
    #[serde(default)]
    payment_method_title: Option<String>,
    #[serde(default)]
    transaction_id: Option<String>,
    #[serde(default)]
    line_items: Vec<WooLine>,
    #[serde(default)]
    shipping_lines: Vec<WooShippingLine>,
}

#[derive(Debug, Default, Deserialize)]
struct WooAddress {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    address_1: Option<String>,
    #[serde(default)]
    address_2: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    postcode: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WooLine {
    #[serde(default)]
    product_id: Option<u64>,
    #[serde(default)]
    variation_id: Option<u64>,
    #[serde(default)]
    sku: Option<String>,
    quantity: i64,
    /// Before discounts, for the whole line (a string: exact, unlike `price`).
    #[serde(default)]
    subtotal: Option<String>,
    /// After discounts.
    #[serde(default)]
    total: Option<String>,
    #[serde(default)]
    total_tax: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WooShippingLine {
    #[serde(default)]
    method_title: Option<String>,
    #[serde(default)]
    method_id: Option<String>,
    #[serde(default)]
    total: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// WooCommerce's `*_gmt` fields carry no offset; they are UTC.
fn gmt(text: Option<&str>) -> Option<OffsetDateTime> {
    let text = text?;
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
        .or_else(|| OffsetDateTime::parse(text, &Rfc3339).ok())
}

fn address(a: &WooAddress) -> Address {
    let name = [a.first_name.as_deref(), a.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Address {
        name: non_empty(Some(name)),
        company: non_empty(a.company.clone()),
        line1: non_empty(a.address_1.clone()),
        line2: non_empty(a.address_2.clone()),
        city: non_empty(a.city.clone()),
        region: non_empty(a.state.clone()),
        postal_code: non_empty(a.postcode.clone()),
        country: non_empty(a.country.clone()),
        phone: non_empty(a.phone.clone()),
        latitude: None,
        longitude: None,
    }
}

pub fn map_order(json: &[u8]) -> Result<(ChannelOrder, OffsetDateTime), RemoteError> {
    let order: WooOrder = serde_json::from_slice(json)
        .map_err(|e| RemoteError::Malformed(format!("WooCommerce order: {e}")))?;
    Ok(convert(order))
}

fn convert(order: WooOrder) -> (ChannelOrder, OffsetDateTime) {
    let currency = order.currency.clone().unwrap_or_else(|| "USD".into());
    let state = match order.status.as_str() {
        "pending" | "on-hold" => ChannelOrderState::PaymentPending,
        "completed" => ChannelOrderState::Closed,
        "cancelled" | "refunded" | "failed" | "trash" => ChannelOrderState::Cancelled,
        _ => ChannelOrderState::Open,
    };
    let billing = order.billing.unwrap_or_default();
    let shipping = order
        .shipping
        .as_ref()
        .filter(|s| s.address_1.as_deref().is_some_and(|a| !a.trim().is_empty()));
    let mut shipping_address = address(shipping.unwrap_or(&billing));
    if shipping_address.phone.is_none() {
        shipping_address.phone = non_empty(billing.phone.clone());
    }
    let mut lines = Vec::new();
    let mut listing_ids = Vec::new();
    for line in &order.line_items {
        let subtotal = line.subtotal.clone().unwrap_or_else(|| "0".into());
        let total = line.total.clone().unwrap_or_else(|| subtotal.clone());
        lines.push(LineInput {
            sku: Some(line.sku.clone().unwrap_or_default().trim().to_string()),
            quantity: Some(line.quantity),
            // `None` when the subtotal does not divide into the currency's minor units:
            // the order is then kept for attention rather than priced wrongly.
            unit_price: unit_price(&currency, &subtotal, line.quantity),
            discount: difference(&currency, &subtotal, &total),
            tax: line.total_tax.clone(),
        });
        let listing = match (line.variation_id, line.product_id) {
            (Some(v), _) if v != 0 => Some(v.to_string()),
            (_, Some(p)) if p != 0 => Some(p.to_string()),
            _ => None,
        };
        listing_ids.push(listing);
    }
    let shipping_totals: Vec<&str> = order
        .shipping_lines
        .iter()
        .filter_map(|s| s.total.as_deref())
        .collect();
    let first_shipping = order.shipping_lines.first();
    let placed = gmt(order.date_created_gmt.as_deref());
    let updated = gmt(order.date_modified_gmt.as_deref())
        .or(placed)
        .unwrap_or_else(OffsetDateTime::now_utc);
    let input = OrderInput {
        channel: None,
        external_id: Some(order.id.to_string()),
        placed_at: placed.map(|t| t.format(&Rfc3339).expect("UTC formats")),
        currency: Some(currency.clone()),
        customer: Some(CustomerInput {
            email: non_empty(billing.email.clone()),
            name: address(&billing).name,
            phone: non_empty(billing.phone.clone()),
        }),
        shipping_address: Some(shipping_address),
        billing_address: Some(address(&billing)),
        lines,
        shipping: Some(ShippingInput {
            method: first_shipping.and_then(|s| non_empty(s.method_title.clone())),
            service_level: first_shipping.and_then(|s| non_empty(s.method_id.clone())),
            price: if shipping_totals.is_empty() {
                None
            } else {
                sum(&currency, &shipping_totals)
            },
            promised_by: None,
        }),
        payment: Some(PaymentInput {
            status: Some(
                if state == ChannelOrderState::PaymentPending {
                    "pending"
                } else {
                    "paid"
                }
                .into(),
            ),
            method: non_empty(order.payment_method_title.clone()),
            reference: non_empty(order.transaction_id.clone()).or(order.number.clone()),
        }),
        tags: Vec::new(),
        notes: non_empty(order.customer_note.clone()),
        priority: None,
    };
    (
        ChannelOrder {
            external_id: order.id.to_string(),
            state,
            input,
            listing_ids,
            fulfilled_by_channel: false,
        },
        updated,
    )
}

/// The `modified_after` of a poll following one that saw changes up to `since`.
/// WooCommerce compares it strictly (`after` of a date query) against whole-second dates,
/// so asking from `since` itself would miss a change made later in that same second; one
/// second earlier finds it (orders seen again are captured idempotently).
fn modified_after(since: OffsetDateTime) -> String {
    (since - time::Duration::SECOND)
        .format(&Rfc3339)
        .expect("UTC formats")
}

/// The ids a `products/batch` answer refused: errors come back in place, as
/// `{"id": N, "error": {code, message, data}}`, in a 200 answer.
fn batch_errors(answer: &Value) -> Vec<u64> {
    answer["update"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| !u["error"].is_null())
        .filter_map(|u| u["id"].as_u64())
        .collect()
}

/// WooCommerce publishes no limit; hosts do. A steady 5 per second with bursts of 10
/// stays clear of common hosting limits, and 429s are still honoured.
pub fn rates(_operation: &str) -> Rate {
    Rate {
        per_second: 5.0,
        burst: 10.0,
    }
}

pub struct WooCommerceApi {
    connection: Connection,
    client: ApiClient,
    /// Product ids found by SKU. Only found ones: a product the shop adds later is looked
    /// up again; an id the shop no longer knows is forgotten (see `push_stock`).
    product_ids: tokio::sync::Mutex<BTreeMap<String, u64>>,
}

impl WooCommerceApi {
    pub fn new(connection: Connection, client: ApiClient) -> Self {
        Self {
            connection,
            client,
            product_ids: Default::default(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/wp-json/{path}", self.connection.base_url)
    }

    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, RemoteError> {
        let (key, secret) = (
            self.connection.secret("consumer_key").to_string(),
            self.connection.secret("consumer_secret").to_string(),
        );
        self.client
            .send(operation, || {
                let mut request = self
                    .client
                    .request(method.clone(), url)
                    .basic_auth(&key, Some(&secret))
                    .header("Accept", "application/json");
                if let Some(body) = body {
                    request = request.json(body);
                }
                request
            })
            .await
    }

    async fn product_id(&self, sku: &str) -> Result<Option<u64>, RemoteError> {
        if let Some(known) = self.product_ids.lock().await.get(sku) {
            return Ok(Some(*known));
        }
        let url = format!("{}?sku={}", self.url("wc/v3/products"), urlencode(sku));
        let products: Value = self
            .call("products", Method::GET, &url, None)
            .await?
            .json()?;
        let id = products
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["sku"].as_str() == Some(sku))
            .and_then(|p| p["id"].as_u64());
        if let Some(id) = id {
            self.product_ids.lock().await.insert(sku.to_string(), id);
        }
        Ok(id)
    }
}

#[async_trait]
impl ChannelApi for WooCommerceApi {
    async fn orders_page(&self, request: &OrdersPageRequest) -> Result<OrdersPage, RemoteError> {
        let (since, page) = match request {
            OrdersPageRequest::Start { since } => (since.map(modified_after), 1u32),
            OrdersPageRequest::Next(token) => {
                let (page, since) = token.split_once('|').unwrap_or((token, ""));
                (
                    Some(since.to_string()).filter(|s| !s.is_empty()),
                    page.parse()
                        .map_err(|_| RemoteError::Malformed(format!("page token {token}")))?,
                )
            }
        };
        let mut url = format!(
            "{}?per_page=100&page={page}&orderby=id&order=asc&dates_are_gmt=true",
            self.url("wc/v3/orders")
        );
        if let Some(since) = &since {
            url.push_str(&format!("&modified_after={}", urlencode(since)));
        }
        let response = self.call("orders", Method::GET, &url, None).await?;
        let pages: u32 = response
            .header("x-wp-totalpages")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let orders: Vec<WooOrder> = response.json()?;
        Ok(OrdersPage {
            orders: orders.into_iter().map(convert).collect(),
            next: (page < pages).then(|| format!("{}|{}", page + 1, since.unwrap_or_default())),
        })
    }

    async fn push_stock(&self, figures: &[StockFigure]) -> Result<Vec<String>, RemoteError> {
        let mut acknowledged = Vec::new();
        let mut updates: Vec<(u64, i64)> = Vec::new();
        let mut keys: Vec<(String, Vec<u64>)> = Vec::new();
        for figure in figures {
            let mut ids = std::collections::BTreeSet::new();
            for r in &figure.channel_refs {
                match r.parse::<u64>() {
                    // A mapped listing id is the product (or variation) id itself.
                    Ok(n) if r != &figure.sku => {
                        ids.insert(n);
                    }
                    _ => ids.extend(self.product_id(r).await?),
                }
            }
            if ids.is_empty() {
                acknowledged.push(figure.key());
                continue;
            }
            updates.extend(ids.iter().map(|id| (*id, figure.quantity)));
            keys.push((figure.key(), ids.into_iter().collect()));
        }
        let mut refused = std::collections::BTreeSet::new();
        for chunk in updates.chunks(100) {
            let body = json!({"update": chunk.iter().map(|(id, q)| json!({"id": id, "manage_stock": true, "stock_quantity": q})).collect::<Vec<_>>()});
            let answer: Value = self
                .call(
                    "products_batch",
                    Method::POST,
                    &self.url("wc/v3/products/batch"),
                    Some(&body),
                )
                .await?
                .json()?;
            refused.extend(batch_errors(&answer));
        }
        if !refused.is_empty() {
            // Deleted on the shop, most likely: find the SKU's product again next time.
            self.product_ids
                .lock()
                .await
                .retain(|_, id| !refused.contains(id));
        }
        // A figure is acknowledged once every update it needed was accepted.
        acknowledged.extend(
            keys.into_iter()
                .filter(|(_, ids)| ids.iter().all(|id| !refused.contains(id)))
                .map(|(key, _)| key),
        );
        Ok(acknowledged)
    }

    async fn push_tracking(&self, update: &TrackingUpdate) -> Result<String, RemoteError> {
        let url = self.url(&format!(
            "wc-shipment-tracking/v3/orders/{}/shipment-trackings",
            update.external_id
        ));
        let date = update.shipped_at.date();
        let body = json!({
            "tracking_provider": update.carrier,
            "tracking_number": update.tracking_number,
            "date_shipped": format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day()),
        });
        let created: Value = self
            .call("tracking", Method::POST, &url, Some(&body))
            .await?
            .json()?;
        if update.order_fully_shipped {
            let order_url = self.url(&format!("wc/v3/orders/{}", update.external_id));
            self.call(
                "orders_update",
                Method::PUT,
                &order_url,
                Some(&json!({"status": "completed"})),
            )
            .await?;
        }
        Ok(created["tracking_id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| created["tracking_id"].to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
        "id": 727, "number": "727", "status": "processing", "currency": "EUR",
        "date_created_gmt": "2026-11-20T09:00:00", "date_modified_gmt": "2026-11-20T09:30:00",
        "customer_note": "", "payment_method_title": "Card", "transaction_id": "tx_1",
        "billing": {"first_name": "Ana", "last_name": "Lopes", "address_1": "Rua 1", "city": "Porto",
            "postcode": "4000-001", "country": "PT", "email": "ana@example.com", "phone": "+351900"},
        "shipping": {"first_name": "Ana", "last_name": "Lopes", "address_1": "Rua 2", "city": "Porto",
            "postcode": "4000-002", "country": "PT"},
        "line_items": [
            {"product_id": 93, "variation_id": 0, "sku": "MUG", "quantity": 3, "price": 6.6666667,
             "subtotal": "20.00", "total": "18.00", "total_tax": "4.14"}
        ],
        "shipping_lines": [{"method_title": "Flat Rate", "method_id": "flat_rate", "total": "5.00"}]
    }"#;

    #[test]
    fn maps_an_order_without_trusting_the_float_price() {
        let (order, updated) = map_order(SAMPLE.as_bytes()).unwrap();
        assert_eq!(order.external_id, "727");
        assert_eq!(order.state, ChannelOrderState::Open);
        assert_eq!(updated.format(&Rfc3339).unwrap(), "2026-11-20T09:30:00Z");
        let line = &order.input.lines[0];
        // 20.00 / 3 does not divide into cents: no price is invented.
        assert_eq!(line.unit_price, None);
        assert_eq!(line.discount.as_deref(), Some("2.00"));
        assert_eq!(order.listing_ids, vec![Some("93".to_string())]);
        let ship = order.input.shipping_address.as_ref().unwrap();
        assert_eq!(ship.line1.as_deref(), Some("Rua 2"));
        assert_eq!(ship.phone.as_deref(), Some("+351900"));
        assert_eq!(
            order.input.customer.as_ref().unwrap().email.as_deref(),
            Some("ana@example.com")
        );
    }

    #[test]
    fn polls_again_from_the_second_before_the_last_change_seen() {
        let (_, updated) = map_order(SAMPLE.as_bytes()).unwrap();
        // Changed again later in 09:30:00: still strictly after 09:29:59.
        assert_eq!(modified_after(updated), "2026-11-20T09:29:59Z");
    }

    #[test]
    fn batch_errors_answered_in_place_are_found() {
        let answer = json!({"update": [
            {"id": 799, "stock_quantity": 5, "manage_stock": true},
            {"id": 800, "error": {"code": "woocommerce_rest_product_invalid_id",
                "message": "Invalid ID.", "data": {"status": 400}}}
        ]});
        assert_eq!(batch_errors(&answer), vec![800]);
        assert!(batch_errors(&json!({})).is_empty());
    }

    #[test]
    fn statuses_map_to_states() {
        for (status, state) in [
            ("pending", ChannelOrderState::PaymentPending),
            ("on-hold", ChannelOrderState::PaymentPending),
            ("processing", ChannelOrderState::Open),
            ("completed", ChannelOrderState::Closed),
            ("cancelled", ChannelOrderState::Cancelled),
            ("refunded", ChannelOrderState::Cancelled),
        ] {
            let text = SAMPLE.replace("\"processing\"", &format!("\"{status}\""));
            assert_eq!(
                map_order(text.as_bytes()).unwrap().0.state,
                state,
                "{status}"
            );
        }
    }
}
