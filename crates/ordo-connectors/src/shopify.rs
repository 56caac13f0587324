//! Shopify (REST Admin API): orders by webhook (`orders/create`, `orders/updated`,
//! `orders/cancelled`) and by polling `orders.json` with `updated_at_min` and `Link`
//! cursors; stock out with `inventory_levels/set.json` per mapped location; tracking out
//! through the order's fulfillment orders (`fulfillments.json`).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use ordo_domain::catalog::Address;
use ordo_domain::order::{CustomerInput, LineInput, OrderInput, PaymentInput, ShippingInput};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::channel::{ChannelApi, OrdersPage, OrdersPageRequest, StockFigure, TrackingUpdate};
use crate::client::{Answer, ApiClient, Rate, RemoteError};
use crate::model::{ChannelOrder, ChannelOrderState};
use crate::money::sum;
use crate::settings::Connection;

/// Ids above 2^53 are common; they are kept as the JSON number's exact text.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Id {
    Number(u64),
    Text(String),
}

impl Id {
    fn text(&self) -> String {
        match self {
            Id::Number(n) => n.to_string(),
            Id::Text(s) => s.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct ShopifyOrder {
    id: Id,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    contact_email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    cancelled_at: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    financial_status: Option<String>,
    #[serde(default)]
    fulfillment_status: Option<String>,
    #[serde(default)]
    tags: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    customer: Option<ShopifyCustomer>,
    #[serde(default)]
    shipping_address: Option<ShopifyAddress>,
    #[serde(default)]
    billing_address: Option<ShopifyAddress>,
    #[serde(default)]
    line_items: Vec<ShopifyLine>,
    #[serde(default)]
    shipping_lines: Vec<ShopifyShippingLine>,
    #[serde(default)]
    payment_gateway_names: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct ShopifyCustomer {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ShopifyAddress {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    address1: Option<String>,
    #[serde(default)]
    address2: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    province: Option<String>,
    #[serde(default)]
    province_code: Option<String>,
    #[serde(default)]
    zip: Option<String>,
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct ShopifyLine {
    #[serde(default)]
    variant_id: Option<Id>,
    #[serde(default)]
    sku: Option<String>,
    quantity: i64,
    #[serde(default)]
    price: Option<String>,
    #[serde(default)]
    total_discount: Option<String>,
    #[serde(default)]
    tax_lines: Vec<ShopifyTaxLine>,
}

#[derive(Debug, Deserialize)]
struct ShopifyTaxLine {
    price: String,
}

#[derive(Debug, Deserialize)]
struct ShopifyShippingLine {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    price: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn to_utc(text: Option<&str>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text?, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(time::UtcOffset::UTC))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("UTC times format")
}

fn address(a: ShopifyAddress) -> Address {
    let joined = [a.first_name.as_deref(), a.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Address {
        name: non_empty(a.name).or_else(|| non_empty(Some(joined))),
        company: non_empty(a.company),
        line1: non_empty(a.address1),
        line2: non_empty(a.address2),
        city: non_empty(a.city),
        region: non_empty(a.province_code).or(non_empty(a.province)),
        postal_code: non_empty(a.zip),
        country: non_empty(a.country_code),
        phone: non_empty(a.phone),
        latitude: a.latitude,
        longitude: a.longitude,
    }
}

/// Maps one order (REST or webhook payload) to Ordo's terms; returns it with its
/// `updated_at`.
pub fn map_order(json: &[u8]) -> Result<(ChannelOrder, OffsetDateTime), RemoteError> {
    let order: ShopifyOrder = serde_json::from_slice(json)
        .map_err(|e| RemoteError::Malformed(format!("Shopify order: {e}")))?;
    Ok(convert(order))
}

fn convert(order: ShopifyOrder) -> (ChannelOrder, OffsetDateTime) {
    let currency = order.currency.clone().unwrap_or_else(|| "USD".into());
    let state = if order.cancelled_at.is_some()
        || matches!(
            order.financial_status.as_deref(),
            Some("voided" | "refunded")
        ) {
        ChannelOrderState::Cancelled
    } else if order.fulfillment_status.as_deref() == Some("fulfilled") {
        ChannelOrderState::Closed
    } else if matches!(
        order.financial_status.as_deref(),
        Some("pending" | "expired") | None
    ) {
        ChannelOrderState::PaymentPending
    } else {
        ChannelOrderState::Open
    };
    let payment_status = match order.financial_status.as_deref() {
        Some("authorized") => "authorized",
        Some("pending" | "expired") | None => "pending",
        _ => "paid",
    };
    let customer = order.customer.as_ref();
    let email = non_empty(order.email.clone())
        .or_else(|| non_empty(order.contact_email.clone()))
        .or_else(|| customer.and_then(|c| non_empty(c.email.clone())));
    let customer_name = customer
        .map(|c| {
            [c.first_name.as_deref(), c.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|n| !n.trim().is_empty());
    let shipping_address = order.shipping_address.map(address);
    let mut lines = Vec::new();
    let mut listing_ids = Vec::new();
    for line in &order.line_items {
        let taxes: Vec<&str> = line.tax_lines.iter().map(|t| t.price.as_str()).collect();
        lines.push(LineInput {
            sku: Some(line.sku.clone().unwrap_or_default().trim().to_string()),
            quantity: Some(line.quantity),
            unit_price: line.price.clone(),
            discount: line.total_discount.clone(),
            tax: if taxes.is_empty() {
                None
            } else {
                sum(&currency, &taxes)
            },
        });
        listing_ids.push(line.variant_id.as_ref().map(Id::text));
    }
    let shipping_prices: Vec<&str> = order
        .shipping_lines
        .iter()
        .filter_map(|s| s.price.as_deref())
        .collect();
    let first_shipping = order.shipping_lines.first();
    let updated = to_utc(order.updated_at.as_deref())
        .or_else(|| to_utc(order.created_at.as_deref()))
        .unwrap_or_else(OffsetDateTime::now_utc);
    let input = OrderInput {
        channel: None,
        external_id: Some(order.id.text()),
        placed_at: to_utc(order.created_at.as_deref()).map(rfc3339),
        currency: Some(currency.clone()),
        customer: Some(CustomerInput {
            email,
            name: customer_name.or_else(|| shipping_address.as_ref().and_then(|a| a.name.clone())),
            phone: non_empty(order.phone.clone())
                .or_else(|| customer.and_then(|c| non_empty(c.phone.clone()))),
        }),
        shipping_address,
        billing_address: order.billing_address.map(address),
        lines,
        shipping: Some(ShippingInput {
            method: first_shipping.and_then(|s| non_empty(s.title.clone())),
            service_level: first_shipping.and_then(|s| non_empty(s.code.clone())),
            price: if shipping_prices.is_empty() {
                None
            } else {
                sum(&currency, &shipping_prices)
            },
            promised_by: None,
        }),
        payment: Some(PaymentInput {
            status: Some(payment_status.into()),
            method: order.payment_gateway_names.first().cloned(),
            reference: order.name.clone(),
        }),
        tags: order
            .tags
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        notes: non_empty(order.note.clone()),
        priority: None,
    };
    (
        ChannelOrder {
            external_id: order.id.text(),
            state,
            input,
            listing_ids,
            fulfilled_by_channel: false,
        },
        updated,
    )
}

/// Shopify's REST budget: a leaky bucket of 40 requests draining at 2 per second
/// (standard plans).
pub fn rates(_operation: &str) -> Rate {
    Rate {
        per_second: 2.0,
        burst: 40.0,
    }
}

pub struct ShopifyApi {
    connection: Connection,
    client: ApiClient,
    /// SKU or variant id → inventory item id, learnt from the shop's products.
    inventory_items: tokio::sync::Mutex<InventoryItems>,
}

impl ShopifyApi {
    pub fn new(connection: Connection, client: ApiClient) -> Self {
        Self {
            connection,
            client,
            inventory_items: Default::default(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/admin/api/{}/{path}",
            self.connection.base_url,
            self.connection.api_version.as_deref().unwrap_or("2025-07")
        )
    }

    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, RemoteError> {
        let token = self.connection.secret("access_token").to_string();
        self.client
            .send(operation, || {
                let mut request = self
                    .client
                    .request(method.clone(), url)
                    .header("X-Shopify-Access-Token", &token)
                    .header("Accept", "application/json");
                if let Some(body) = body {
                    request = request.json(body);
                }
                request
            })
            .await
    }

    /// The inventory item of a SKU (or variant id). REST has no lookup by SKU, so the
    /// shop's products are read page by page into a cache, again at most once a minute
    /// when a SKU is missing from it.
    async fn inventory_item(&self, channel_ref: &str) -> Result<Option<String>, RemoteError> {
        let mut cache = self.inventory_items.lock().await;
        if let Some(id) = cache.items.get(channel_ref) {
            return Ok(Some(id.clone()));
        }
        if cache
            .loaded
            .is_some_and(|at| at.elapsed() < std::time::Duration::from_secs(60))
        {
            return Ok(None);
        }
        let mut url = format!("{}?limit=250&fields=id,variants", self.url("products.json"));
        loop {
            let answer = self.call("products", Method::GET, &url, None).await?;
            let body: Value = answer.json()?;
            for product in body["products"].as_array().into_iter().flatten() {
                for variant in product["variants"].as_array().into_iter().flatten() {
                    let Some(item) = id_text(&variant["inventory_item_id"]) else {
                        continue;
                    };
                    if let Some(sku) = variant["sku"].as_str().filter(|s| !s.is_empty()) {
                        cache.items.insert(sku.to_string(), item.clone());
                    }
                    if let Some(id) = id_text(&variant["id"]) {
                        cache.items.insert(id, item);
                    }
                }
            }
            match next_link(answer.header("link")) {
                Some(next) => url = next,
                None => break,
            }
        }
        cache.loaded = Some(std::time::Instant::now());
        Ok(cache.items.get(channel_ref).cloned())
    }
}

#[derive(Default)]
struct InventoryItems {
    items: BTreeMap<String, String>,
    loaded: Option<std::time::Instant>,
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `rel="next"` URL of a `Link` header.
pub(crate) fn next_link(header: Option<&str>) -> Option<String> {
    header?.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[async_trait]
impl ChannelApi for ShopifyApi {
    async fn orders_page(&self, request: &OrdersPageRequest) -> Result<OrdersPage, RemoteError> {
        let url = match request {
            OrdersPageRequest::Start { since } => {
                let mut url = format!("{}?status=any&limit=250", self.url("orders.json"));
                if let Some(since) = since {
                    url.push_str(&format!("&updated_at_min={}", urlencode(&rfc3339(*since))));
                }
                url
            }
            OrdersPageRequest::Next(url) => url.clone(),
        };
        let response = self.call("orders", Method::GET, &url, None).await?;
        let next = next_link(response.header("link"));
        #[derive(Deserialize)]
        struct Orders {
            orders: Vec<ShopifyOrder>,
        }
        let body: Orders = response.json()?;
        Ok(OrdersPage {
            orders: body.orders.into_iter().map(convert).collect(),
            next,
        })
    }

    async fn push_stock(&self, figures: &[StockFigure]) -> Result<Vec<String>, RemoteError> {
        let mut acknowledged = Vec::new();
        for figure in figures {
            let Some(location) = &figure.remote_location else {
                // A Shopify figure is always for a location; none mapped means nothing to set.
                acknowledged.push(figure.key());
                continue;
            };
            let mut items = BTreeSet::new();
            for r in &figure.channel_refs {
                items.extend(self.inventory_item(r).await?);
            }
            for item in items {
                let body = json!({
                    "location_id": location.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(location.clone())),
                    "inventory_item_id": item.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::from(item.clone())),
                    "available": figure.quantity,
                });
                self.call(
                    "inventory_levels",
                    Method::POST,
                    &self.url("inventory_levels/set.json"),
                    Some(&body),
                )
                .await?;
            }
            acknowledged.push(figure.key());
        }
        Ok(acknowledged)
    }

    async fn push_tracking(&self, update: &TrackingUpdate) -> Result<String, RemoteError> {
        let order_url = self.url(&format!("orders/{}.json", update.external_id));
        let order: Value = self
            .call("orders", Method::GET, &order_url, None)
            .await?
            .json()?;
        // Shopify's line item ids for the shipped SKUs.
        let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
        for (sku, quantity) in &update.lines {
            for item in order["order"]["line_items"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if item["sku"].as_str() == Some(sku)
                    || id_text(&item["variant_id"]).as_deref() == Some(sku)
                {
                    if let Some(id) = id_text(&item["id"]) {
                        *wanted.entry(id).or_default() += quantity;
                    }
                    break;
                }
            }
        }
        let fo_url = self.url(&format!(
            "orders/{}/fulfillment_orders.json",
            update.external_id
        ));
        let fos: Value = self
            .call("fulfillment_orders", Method::GET, &fo_url, None)
            .await?
            .json()?;
        let mut groups = Vec::new();
        for fo in fos["fulfillment_orders"].as_array().into_iter().flatten() {
            if !matches!(fo["status"].as_str(), Some("open" | "in_progress")) {
                continue;
            }
            let mut items = Vec::new();
            for line in fo["line_items"].as_array().into_iter().flatten() {
                let Some(line_item) = id_text(&line["line_item_id"]) else {
                    continue;
                };
                let Some(left) = wanted.get_mut(&line_item) else {
                    continue;
                };
                let can = line["fulfillable_quantity"]
                    .as_i64()
                    .unwrap_or(0)
                    .min(*left);
                if can > 0 {
                    *left -= can;
                    items.push(json!({"id": line["id"], "quantity": can}));
                }
            }
            if !items.is_empty() {
                groups.push(json!({"fulfillment_order_id": fo["id"], "fulfillment_order_line_items": items}));
            }
        }
        if groups.is_empty() {
            return Err(RemoteError::Refused {
                status: 422,
                message: format!(
                    "order {} has nothing left to fulfil for these lines",
                    update.external_id
                ),
            });
        }
        let mut tracking = json!({"number": update.tracking_number, "company": update.carrier});
        if let Some(url) = &update.tracking_url {
            tracking["url"] = Value::from(url.clone());
        }
        let body = json!({"fulfillment": {
            "notify_customer": true,
            "tracking_info": tracking,
            "line_items_by_fulfillment_order": groups,
        }});
        let response = self
            .call(
                "fulfillments",
                Method::POST,
                &self.url("fulfillments.json"),
                Some(&body),
            )
            .await?;
        let created: Value = response.json()?;
        Ok(id_text(&created["fulfillment"]["id"]).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r##"{
        "id": 820982911946154508, "name": "#1001", "email": "jon@example.com",
        "created_at": "2026-11-20T10:00:00-05:00", "updated_at": "2026-11-20T10:05:00-05:00",
        "cancelled_at": null, "currency": "USD", "financial_status": "paid",
        "fulfillment_status": null, "tags": "vip, gift", "note": "leave at door",
        "customer": {"first_name": "Jon", "last_name": "Snow", "email": "jon@example.com"},
        "shipping_address": {"first_name": "Jon", "last_name": "Snow", "address1": "1 Main St",
            "city": "Boston", "province_code": "MA", "zip": "02134", "country_code": "US"},
        "line_items": [
            {"id": 1, "variant_id": 9007199254740993, "sku": "TSHIRT-M", "quantity": 2, "price": "19.99",
             "total_discount": "1.00", "tax_lines": [{"price": "1.10"}, {"price": "0.20"}]},
            {"id": 2, "variant_id": 77, "sku": "", "quantity": 1, "price": "5.00", "total_discount": "0.00", "tax_lines": []}
        ],
        "shipping_lines": [{"title": "Standard", "code": "standard", "price": "4.90"}],
        "payment_gateway_names": ["shopify_payments"]
    }"##;

    #[test]
    fn maps_an_order_exactly() {
        let (order, updated) = map_order(SAMPLE.as_bytes()).unwrap();
        assert_eq!(order.external_id, "820982911946154508");
        assert_eq!(order.state, ChannelOrderState::Open);
        assert_eq!(rfc3339(updated), "2026-11-20T15:05:00Z");
        let input = &order.input;
        assert_eq!(input.placed_at.as_deref(), Some("2026-11-20T15:00:00Z"));
        assert_eq!(input.lines[0].sku.as_deref(), Some("TSHIRT-M"));
        assert_eq!(input.lines[0].unit_price.as_deref(), Some("19.99"));
        assert_eq!(input.lines[0].tax.as_deref(), Some("1.30"));
        assert_eq!(input.lines[1].sku.as_deref(), Some(""));
        assert_eq!(
            order.listing_ids,
            vec![Some("9007199254740993".into()), Some("77".into())]
        );
        let ship = input.shipping_address.as_ref().unwrap();
        assert_eq!(ship.name.as_deref(), Some("Jon Snow"));
        assert_eq!(ship.postal_code.as_deref(), Some("02134"));
        assert_eq!(ship.region.as_deref(), Some("MA"));
        assert_eq!(
            input.shipping.as_ref().unwrap().price.as_deref(),
            Some("4.90")
        );
        assert_eq!(input.tags, vec!["vip", "gift"]);
        assert_eq!(
            input.payment.as_ref().unwrap().status.as_deref(),
            Some("paid")
        );
    }

    #[test]
    fn statuses_map_to_states() {
        let with = |patch: &str| {
            let mut v: Value = serde_json::from_str(SAMPLE).unwrap();
            let p: Value = serde_json::from_str(patch).unwrap();
            for (k, val) in p.as_object().unwrap() {
                v[k] = val.clone();
            }
            map_order(v.to_string().as_bytes()).unwrap().0.state
        };
        assert_eq!(
            with(r#"{"financial_status":"pending"}"#),
            ChannelOrderState::PaymentPending
        );
        assert_eq!(
            with(r#"{"cancelled_at":"2026-11-21T00:00:00Z"}"#),
            ChannelOrderState::Cancelled
        );
        assert_eq!(
            with(r#"{"fulfillment_status":"fulfilled"}"#),
            ChannelOrderState::Closed
        );
        assert_eq!(
            with(r#"{"financial_status":"authorized"}"#),
            ChannelOrderState::Open
        );
    }

    #[test]
    fn reads_the_next_link() {
        let h = r#"<https://s.myshopify.com/admin/api/2025-07/orders.json?limit=50&page_info=abc>; rel="previous", <https://s.myshopify.com/admin/api/2025-07/orders.json?limit=50&page_info=XYZ>; rel="next""#;
        assert_eq!(
            next_link(Some(h)).as_deref(),
            Some("https://s.myshopify.com/admin/api/2025-07/orders.json?limit=50&page_info=XYZ")
        );
        assert_eq!(next_link(Some(r#"<https://x/y>; rel="previous""#)), None);
        assert_eq!(next_link(None), None);
    }
}
