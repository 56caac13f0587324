//! Amazon Selling Partner API: orders by polling `getOrders` (`LastUpdatedAfter`,
//! `NextToken`) and `getOrderItems`; stock out for merchant-fulfilled listings with a
//! listings `PATCH` of `fulfillment_availability`; tracking out with `confirmShipment`.
//! Access tokens come from Login with Amazon (refresh-token grant), cached until expiry.
//! FBA (`AFN`) orders are marked fulfilled by the channel.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use ordo_domain::catalog::Address;
use ordo_domain::order::{CustomerInput, LineInput, OrderInput, PaymentInput, ShippingInput};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::channel::{ChannelApi, OrdersPage, OrdersPageRequest, StockFigure, TrackingUpdate};
use crate::client::{Answer, ApiClient, Rate, RemoteError};
use crate::model::{ChannelOrder, ChannelOrderState};
use crate::money::{sum, unit_price};
use crate::settings::Connection;
use crate::shopify::urlencode;

/// Orders older than this are not fetched by a first poll.
const FIRST_POLL_DAYS: i64 = 30;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Money {
    currency_code: String,
    amount: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AmazonOrder {
    amazon_order_id: String,
    purchase_date: String,
    last_update_date: String,
    order_status: String,
    #[serde(default)]
    fulfillment_channel: Option<String>,
    #[serde(default)]
    ship_service_level: Option<String>,
    #[serde(default)]
    shipment_service_level_category: Option<String>,
    #[serde(default)]
    order_total: Option<Money>,
    #[serde(default)]
    payment_method: Option<String>,
    #[serde(default)]
    marketplace_id: Option<String>,
    #[serde(default)]
    shipping_address: Option<AmazonAddress>,
    #[serde(default)]
    buyer_info: Option<BuyerInfo>,
    #[serde(default)]
    is_prime: Option<bool>,
    #[serde(default)]
    latest_delivery_date: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AmazonAddress {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    company_name: Option<String>,
    #[serde(default)]
    address_line1: Option<String>,
    #[serde(default)]
    address_line2: Option<String>,
    #[serde(default)]
    address_line3: Option<String>,
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    state_or_region: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    #[serde(default)]
    country_code: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BuyerInfo {
    #[serde(default)]
    buyer_email: Option<String>,
    #[serde(default)]
    buyer_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OrderItem {
    #[serde(rename = "ASIN")]
    asin: String,
    #[serde(default, rename = "SellerSKU")]
    seller_sku: Option<String>,
    order_item_id: String,
    quantity_ordered: i64,
    #[serde(default)]
    item_price: Option<Money>,
    #[serde(default)]
    item_tax: Option<Money>,
    #[serde(default)]
    shipping_price: Option<Money>,
    #[serde(default)]
    promotion_discount: Option<Money>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn utc(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(time::UtcOffset::UTC))
}

fn state_of(status: &str) -> ChannelOrderState {
    match status {
        "Pending" | "PendingAvailability" => ChannelOrderState::PaymentPending,
        "Shipped" | "InvoiceUnconfirmed" => ChannelOrderState::Closed,
        "Canceled" | "Unfulfillable" => ChannelOrderState::Cancelled,
        _ => ChannelOrderState::Open,
    }
}

fn convert(order: AmazonOrder, items: Vec<OrderItem>) -> (ChannelOrder, OffsetDateTime) {
    let currency = order
        .order_total
        .as_ref()
        .map(|m| m.currency_code.clone())
        .or_else(|| {
            items
                .iter()
                .find_map(|i| i.item_price.as_ref().map(|m| m.currency_code.clone()))
        })
        .unwrap_or_else(|| "USD".into());
    let state = state_of(&order.order_status);
    let a = order.shipping_address.clone().unwrap_or_default();
    let line2 = [a.address_line2.clone(), a.address_line3.clone()]
        .into_iter()
        .flatten()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let shipping_address = Address {
        name: non_empty(a.name.clone()),
        company: non_empty(a.company_name.clone()),
        line1: non_empty(a.address_line1.clone()),
        line2: non_empty(Some(line2)),
        city: non_empty(a.city.clone()),
        region: non_empty(a.state_or_region.clone()),
        postal_code: non_empty(a.postal_code.clone()),
        country: non_empty(a.country_code.clone()),
        phone: non_empty(a.phone.clone()),
        latitude: None,
        longitude: None,
    };
    let buyer = order.buyer_info.clone().unwrap_or_default();
    let mut lines = Vec::new();
    let mut listing_ids = Vec::new();
    let mut shipping_prices = Vec::new();
    for item in &items {
        let total = item
            .item_price
            .as_ref()
            .map(|m| m.amount.clone())
            .unwrap_or_else(|| "0".into());
        lines.push(LineInput {
            sku: Some(item.seller_sku.clone().unwrap_or_default()),
            quantity: Some(item.quantity_ordered),
            // ItemPrice is the line total; a unit price that does not divide exactly is
            // left out so the order waits for attention instead of being priced wrongly.
            unit_price: unit_price(&currency, &total, item.quantity_ordered),
            discount: item.promotion_discount.as_ref().map(|m| m.amount.clone()),
            tax: item.item_tax.as_ref().map(|m| m.amount.clone()),
        });
        listing_ids.push(Some(item.asin.clone()));
        if let Some(m) = &item.shipping_price {
            shipping_prices.push(m.amount.clone());
        }
    }
    let shipping_refs: Vec<&str> = shipping_prices.iter().map(String::as_str).collect();
    let updated = utc(&order.last_update_date).unwrap_or_else(OffsetDateTime::now_utc);
    let input = OrderInput {
        channel: None,
        external_id: Some(order.amazon_order_id.clone()),
        placed_at: utc(&order.purchase_date).map(|t| t.format(&Rfc3339).expect("UTC formats")),
        currency: Some(currency.clone()),
        customer: Some(CustomerInput {
            // Without a restricted-data token Amazon withholds the buyer's address; the
            // order id keeps the customer distinct without inventing a reachable address.
            email: non_empty(buyer.buyer_email.clone()).or_else(|| {
                Some(format!(
                    "{}@marketplace.amazon.invalid",
                    order.amazon_order_id
                ))
            }),
            name: non_empty(buyer.buyer_name.clone()).or_else(|| shipping_address.name.clone()),
            phone: shipping_address.phone.clone(),
        }),
        shipping_address: Some(shipping_address),
        billing_address: None,
        lines,
        shipping: Some(ShippingInput {
            method: non_empty(order.ship_service_level.clone()),
            service_level: non_empty(order.shipment_service_level_category.clone())
                .map(|s| s.to_lowercase()),
            price: if shipping_refs.is_empty() {
                None
            } else {
                sum(&currency, &shipping_refs)
            },
            promised_by: order
                .latest_delivery_date
                .as_deref()
                .and_then(utc)
                .map(|t| {
                    let d = t.date();
                    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
                }),
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
            method: non_empty(order.payment_method.clone()),
            reference: order.marketplace_id.clone(),
        }),
        tags: if order.is_prime == Some(true) {
            vec!["prime".into()]
        } else {
            Vec::new()
        },
        notes: None,
        priority: None,
    };
    (
        ChannelOrder {
            external_id: order.amazon_order_id,
            state,
            input,
            listing_ids,
            fulfilled_by_channel: order.fulfillment_channel.as_deref() == Some("AFN"),
        },
        updated,
    )
}

/// Per-operation rates and bursts from the SP-API documentation.
pub fn rates(operation: &str) -> Rate {
    let (per_second, burst) = match operation {
        "getOrders" => (0.0167, 20.0),
        "getOrderItems" => (0.5, 30.0),
        "confirmShipment" => (2.0, 10.0),
        "patchListingsItem" => (5.0, 5.0),
        "token" => (1.0, 5.0),
        _ => (0.5, 5.0),
    };
    Rate { per_second, burst }
}

struct Token {
    value: String,
    expires: Instant,
}

pub struct AmazonApi {
    connection: Connection,
    client: ApiClient,
    token: Mutex<Option<Token>>,
}

impl AmazonApi {
    pub fn new(connection: Connection, client: ApiClient) -> Self {
        Self {
            connection,
            client,
            token: Mutex::new(None),
        }
    }

    /// An LWA access token, exchanged for the refresh token when none is cached or the
    /// cached one is within a minute of expiring.
    async fn access_token(&self) -> Result<String, RemoteError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref()
            && t.expires > Instant::now() + Duration::from_secs(60)
        {
            return Ok(t.value.clone());
        }
        let root = self
            .connection
            .auth_url
            .as_deref()
            .unwrap_or("https://api.amazon.com");
        let url = format!("{root}/auth/o2/token");
        let form = [
            ("grant_type", "refresh_token".to_string()),
            (
                "refresh_token",
                self.connection.secret("refresh_token").to_string(),
            ),
            (
                "client_id",
                self.connection.secret("lwa_client_id").to_string(),
            ),
            (
                "client_secret",
                self.connection.secret("lwa_client_secret").to_string(),
            ),
        ];
        let response = self
            .client
            .send("token", || {
                self.client.request(Method::POST, &url).form(&form)
            })
            .await?;
        let body: Value = response.json()?;
        let value = body["access_token"]
            .as_str()
            .ok_or_else(|| RemoteError::Malformed("LWA answer without access_token".into()))?
            .to_string();
        let lifetime = body["expires_in"].as_u64().unwrap_or(3600);
        *cached = Some(Token {
            value: value.clone(),
            expires: Instant::now() + Duration::from_secs(lifetime),
        });
        Ok(value)
    }

    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, RemoteError> {
        let token = self.access_token().await?;
        let result = self
            .client
            .send(operation, || {
                let mut request = self
                    .client
                    .request(method.clone(), url)
                    .header("x-amz-access-token", &token)
                    .header(
                        "x-amz-date",
                        OffsetDateTime::now_utc()
                            .format(time::macros::format_description!(
                                "[year][month][day]T[hour][minute][second]Z"
                            ))
                            .unwrap_or_default(),
                    );
                if let Some(body) = body {
                    request = request.json(body);
                }
                request
            })
            .await;
        if let Err(RemoteError::Refused { status: 403, .. }) = &result {
            // An expired or revoked token: forget it so the next call exchanges again.
            *self.token.lock().await = None;
        }
        result
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.connection.base_url)
    }

    fn marketplaces(&self) -> String {
        self.connection.marketplace_ids.join(",")
    }

    async fn items(&self, order_id: &str) -> Result<Vec<OrderItem>, RemoteError> {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut url = self.url(&format!(
                "/orders/v0/orders/{}/orderItems",
                urlencode(order_id)
            ));
            if let Some(token) = &next {
                url.push_str(&format!("?NextToken={}", urlencode(token)));
            }
            let body: Value = self
                .call("getOrderItems", Method::GET, &url, None)
                .await?
                .json()?;
            let page: Vec<OrderItem> =
                serde_json::from_value(body["payload"]["OrderItems"].clone())
                    .map_err(|e| RemoteError::Malformed(format!("order items: {e}")))?;
            items.extend(page);
            next = body["payload"]["NextToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if next.is_none() {
                return Ok(items);
            }
        }
    }
}

#[async_trait]
impl ChannelApi for AmazonApi {
    async fn orders_page(&self, request: &OrdersPageRequest) -> Result<OrdersPage, RemoteError> {
        let base = self.url("/orders/v0/orders");
        let url = match request {
            OrdersPageRequest::Start { since } => {
                let since = since.unwrap_or_else(|| {
                    OffsetDateTime::now_utc() - time::Duration::days(FIRST_POLL_DAYS)
                });
                format!(
                    "{base}?MarketplaceIds={}&LastUpdatedAfter={}&MaxResultsPerPage=100",
                    urlencode(&self.marketplaces()),
                    urlencode(&since.format(&Rfc3339).expect("UTC formats"))
                )
            }
            OrdersPageRequest::Next(token) => format!(
                "{base}?MarketplaceIds={}&NextToken={}",
                urlencode(&self.marketplaces()),
                urlencode(token)
            ),
        };
        let body: Value = self
            .call("getOrders", Method::GET, &url, None)
            .await?
            .json()?;
        let orders: Vec<AmazonOrder> = serde_json::from_value(body["payload"]["Orders"].clone())
            .map_err(|e| RemoteError::Malformed(format!("orders: {e}")))?;
        let mut out = Vec::with_capacity(orders.len());
        for order in orders {
            // Cancelled orders need no items to be cancelled here.
            let items = if state_of(&order.order_status) == ChannelOrderState::Cancelled {
                Vec::new()
            } else {
                self.items(&order.amazon_order_id).await?
            };
            out.push(convert(order, items));
        }
        Ok(OrdersPage {
            orders: out,
            next: body["payload"]["NextToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        })
    }

    async fn push_stock(&self, figures: &[StockFigure]) -> Result<Vec<String>, RemoteError> {
        let seller = self.connection.seller_id.clone().unwrap_or_default();
        let mut acknowledged = Vec::new();
        for figure in figures {
            for sku in &figure.channel_refs {
                let url = self.url(&format!(
                    "/listings/2021-08-01/items/{}/{}?marketplaceIds={}",
                    urlencode(&seller),
                    urlencode(sku),
                    urlencode(&self.marketplaces())
                ));
                let body = json!({
                    "productType": "PRODUCT",
                    "patches": [{
                        "op": "replace",
                        "path": "/attributes/fulfillment_availability",
                        "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": figure.quantity}],
                    }],
                });
                match self
                    .call("patchListingsItem", Method::PATCH, &url, Some(&body))
                    .await
                {
                    // Not listed under this reference: nothing to set.
                    Ok(_) | Err(RemoteError::Refused { status: 404, .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            acknowledged.push(figure.key());
        }
        Ok(acknowledged)
    }

    async fn push_tracking(&self, update: &TrackingUpdate) -> Result<String, RemoteError> {
        let items = self.items(&update.external_id).await?;
        let mut ids: BTreeMap<&str, &str> = BTreeMap::new();
        for item in &items {
            if let Some(sku) = &item.seller_sku {
                ids.insert(sku.as_str(), item.order_item_id.as_str());
            }
            ids.entry(item.asin.as_str())
                .or_insert(item.order_item_id.as_str());
        }
        let order_items: Vec<Value> = update
            .lines
            .iter()
            .filter_map(|(sku, q)| {
                ids.get(sku.as_str())
                    .map(|id| json!({"orderItemId": id, "quantity": q}))
            })
            .collect();
        if order_items.is_empty() {
            return Err(RemoteError::Refused {
                status: 422,
                message: format!(
                    "order {} has no items matching the shipped SKUs",
                    update.external_id
                ),
            });
        }
        let url = self.url(&format!(
            "/orders/v0/orders/{}/shipmentConfirmation",
            urlencode(&update.external_id)
        ));
        let body = json!({
            "packageDetail": {
                "packageReferenceId": update.shipment,
                "carrierCode": update.carrier,
                "shippingMethod": update.service,
                "trackingNumber": update.tracking_number,
                "shipDate": update.shipped_at.format(&Rfc3339).expect("UTC formats"),
                "orderItems": order_items,
            },
            "marketplaceId": self.connection.marketplace_ids.first().cloned().unwrap_or_default(),
        });
        self.call("confirmShipment", Method::POST, &url, Some(&body))
            .await?;
        Ok(update.shipment.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(status: &str, channel: &str) -> AmazonOrder {
        serde_json::from_value(json!({
            "AmazonOrderId": "902-1845936-5435065", "PurchaseDate": "2026-11-20T10:00:00Z",
            "LastUpdateDate": "2026-11-20T11:00:00Z", "OrderStatus": status, "FulfillmentChannel": channel,
            "OrderTotal": {"CurrencyCode": "USD", "Amount": "41.97"}, "IsPrime": true,
            "ShippingAddress": {"Name": "Jane Roe", "AddressLine1": "1 Elm St", "City": "Seattle",
                "StateOrRegion": "WA", "PostalCode": "98101", "CountryCode": "US"},
            "BuyerInfo": {"BuyerEmail": "abc123@marketplace.amazon.com"}
        }))
        .unwrap()
    }

    fn items() -> Vec<OrderItem> {
        serde_json::from_value(json!([{
            "ASIN": "B000TEST01", "SellerSKU": "MUG", "OrderItemId": "05015851154158", "QuantityOrdered": 3,
            "ItemPrice": {"CurrencyCode": "USD", "Amount": "35.97"}, "ItemTax": {"CurrencyCode": "USD", "Amount": "2.00"},
            "ShippingPrice": {"CurrencyCode": "USD", "Amount": "4.00"}
        }]))
        .unwrap()
    }

    #[test]
    fn maps_an_order_with_its_items() {
        let (o, updated) = convert(order("Unshipped", "MFN"), items());
        assert_eq!(o.external_id, "902-1845936-5435065");
        assert_eq!(o.state, ChannelOrderState::Open);
        assert!(!o.fulfilled_by_channel);
        assert_eq!(updated.format(&Rfc3339).unwrap(), "2026-11-20T11:00:00Z");
        let line = &o.input.lines[0];
        assert_eq!(line.sku.as_deref(), Some("MUG"));
        assert_eq!(line.unit_price.as_deref(), Some("11.99"));
        assert_eq!(line.tax.as_deref(), Some("2.00"));
        assert_eq!(
            o.input.shipping.as_ref().unwrap().price.as_deref(),
            Some("4.00")
        );
        assert_eq!(o.listing_ids, vec![Some("B000TEST01".into())]);
        assert_eq!(o.input.tags, vec!["prime"]);
    }

    #[test]
    fn statuses_and_fba() {
        assert_eq!(
            convert(order("Pending", "MFN"), items()).0.state,
            ChannelOrderState::PaymentPending
        );
        assert_eq!(
            convert(order("Canceled", "MFN"), vec![]).0.state,
            ChannelOrderState::Cancelled
        );
        assert_eq!(
            convert(order("Shipped", "MFN"), items()).0.state,
            ChannelOrderState::Closed
        );
        assert!(
            convert(order("Unshipped", "AFN"), items())
                .0
                .fulfilled_by_channel
        );
    }
}
