//! eBay Sell APIs: orders by polling `getOrders` with a `lastmodifieddate` filter and
//! offset paging; stock out with `bulk_update_price_quantity` (25 SKUs per call); tracking
//! out with `createShippingFulfillment`.

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
use crate::money::{sum, unit_price};
use crate::settings::Connection;
use crate::shopify::urlencode;

/// eBay's filter window is 90 days; a first poll looks back 30.
const FIRST_POLL_DAYS: i64 = 30;

#[derive(Debug, Clone, Deserialize)]
struct Amount {
    value: String,
    currency: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EbayOrder {
    order_id: String,
    #[serde(default)]
    creation_date: Option<String>,
    #[serde(default)]
    last_modified_date: Option<String>,
    #[serde(default)]
    order_fulfillment_status: Option<String>,
    #[serde(default)]
    order_payment_status: Option<String>,
    #[serde(default)]
    cancel_status: Option<Value>,
    #[serde(default)]
    buyer: Option<Value>,
    #[serde(default)]
    buyer_checkout_notes: Option<String>,
    #[serde(default)]
    pricing_summary: Option<Value>,
    #[serde(default)]
    fulfillment_start_instructions: Vec<Value>,
    #[serde(default)]
    line_items: Vec<EbayLine>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EbayLine {
    #[serde(default)]
    legacy_item_id: Option<String>,
    #[serde(default)]
    sku: Option<String>,
    quantity: i64,
    #[serde(default)]
    line_item_cost: Option<Amount>,
    #[serde(default)]
    taxes: Vec<Value>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn utc(t: Option<&str>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(t?, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(time::UtcOffset::UTC))
}

fn convert(order: EbayOrder) -> (ChannelOrder, OffsetDateTime) {
    let cancelled = order
        .cancel_status
        .as_ref()
        .and_then(|c| c["cancelState"].as_str())
        .is_some_and(|s| s == "CANCELED");
    let state = if cancelled {
        ChannelOrderState::Cancelled
    } else if order.order_fulfillment_status.as_deref() == Some("FULFILLED") {
        ChannelOrderState::Closed
    } else if matches!(
        order.order_payment_status.as_deref(),
        Some("PENDING" | "FAILED")
    ) {
        ChannelOrderState::PaymentPending
    } else {
        ChannelOrderState::Open
    };
    let currency = order
        .line_items
        .iter()
        .find_map(|l| l.line_item_cost.as_ref().map(|a| a.currency.clone()))
        .or_else(|| {
            order
                .pricing_summary
                .as_ref()
                .and_then(|p| text(&p["total"]["currency"]))
        })
        .unwrap_or_else(|| "USD".into());
    let ship_to = order
        .fulfillment_start_instructions
        .first()
        .map(|f| f["shippingStep"]["shipTo"].clone())
        .unwrap_or(Value::Null);
    let contact = &ship_to["contactAddress"];
    let shipping_address = Address {
        name: text(&ship_to["fullName"]),
        company: text(&ship_to["companyName"]),
        line1: text(&contact["addressLine1"]),
        line2: text(&contact["addressLine2"]),
        city: text(&contact["city"]),
        region: text(&contact["stateOrProvince"]),
        postal_code: text(&contact["postalCode"]),
        // Published specs say `country`, live answers `countryCode`: accept both.
        country: text(&contact["countryCode"]).or_else(|| text(&contact["country"])),
        phone: text(&ship_to["primaryPhone"]["phoneNumber"]),
        latitude: None,
        longitude: None,
    };
    let mut lines = Vec::new();
    let mut listing_ids = Vec::new();
    for line in &order.line_items {
        let cost = line
            .line_item_cost
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_else(|| "0".into());
        let taxes: Vec<String> = line
            .taxes
            .iter()
            .filter_map(|t| text(&t["amount"]["value"]))
            .collect();
        let tax_refs: Vec<&str> = taxes.iter().map(String::as_str).collect();
        lines.push(LineInput {
            sku: Some(line.sku.clone().unwrap_or_default()),
            quantity: Some(line.quantity),
            // lineItemCost is unit price × quantity.
            unit_price: unit_price(&currency, &cost, line.quantity),
            discount: None,
            tax: if tax_refs.is_empty() {
                None
            } else {
                sum(&currency, &tax_refs)
            },
        });
        listing_ids.push(line.legacy_item_id.clone());
    }
    let buyer = order.buyer.clone().unwrap_or(Value::Null);
    let username = text(&buyer["username"]);
    let delivery = order
        .pricing_summary
        .as_ref()
        .and_then(|p| text(&p["deliveryCost"]["value"]));
    let step = order
        .fulfillment_start_instructions
        .first()
        .map(|f| f["shippingStep"].clone())
        .unwrap_or(Value::Null);
    let placed = utc(order.creation_date.as_deref());
    let updated = utc(order.last_modified_date.as_deref())
        .or(placed)
        .unwrap_or_else(OffsetDateTime::now_utc);
    let input = OrderInput {
        channel: None,
        external_id: Some(order.order_id.clone()),
        placed_at: placed.map(|t| t.format(&Rfc3339).expect("UTC formats")),
        currency: Some(currency),
        customer: Some(CustomerInput {
            email: text(&ship_to["email"]).or_else(|| {
                username
                    .as_ref()
                    .map(|u| format!("{u}@members.ebay.invalid"))
            }),
            name: shipping_address.name.clone().or(username),
            phone: shipping_address.phone.clone(),
        }),
        shipping_address: Some(shipping_address),
        billing_address: None,
        lines,
        shipping: Some(ShippingInput {
            method: text(&step["shippingServiceCode"]),
            service_level: None,
            price: delivery,
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
            method: None,
            reference: None,
        }),
        tags: Vec::new(),
        notes: order
            .buyer_checkout_notes
            .clone()
            .filter(|n| !n.trim().is_empty()),
        priority: None,
    };
    (
        ChannelOrder {
            external_id: order.order_id,
            state,
            input,
            listing_ids,
            fulfilled_by_channel: false,
        },
        updated,
    )
}

/// eBay's limits are daily call quotas; spreading calls at 5 per second keeps a busy shop
/// well within them and away from 429s.
pub fn rates(_operation: &str) -> Rate {
    Rate {
        per_second: 5.0,
        burst: 10.0,
    }
}

pub struct EbayApi {
    connection: Connection,
    client: ApiClient,
}

impl EbayApi {
    pub fn new(connection: Connection, client: ApiClient) -> Self {
        Self { connection, client }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.connection.base_url)
    }

    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, RemoteError> {
        let token = self.connection.secret("oauth_token").to_string();
        self.client
            .send(operation, || {
                let mut request = self
                    .client
                    .request(method.clone(), url)
                    .bearer_auth(&token)
                    .header("Accept", "application/json")
                    .header("Content-Language", "en-US");
                if let Some(body) = body {
                    request = request.json(body);
                }
                request
            })
            .await
    }
}

#[async_trait]
impl ChannelApi for EbayApi {
    async fn orders_page(&self, request: &OrdersPageRequest) -> Result<OrdersPage, RemoteError> {
        let url = match request {
            OrdersPageRequest::Start { since } => {
                let since = since.unwrap_or_else(|| {
                    OffsetDateTime::now_utc() - time::Duration::days(FIRST_POLL_DAYS)
                });
                // eBay wants millisecond UTC times in the filter.
                let since = since
                    .format(time::macros::format_description!(
                        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                    ))
                    .expect("UTC formats");
                format!(
                    "{}?filter={}&limit=200&offset=0",
                    self.url("/sell/fulfillment/v1/order"),
                    urlencode(&format!("lastmodifieddate:[{since}..]"))
                )
            }
            OrdersPageRequest::Next(next) => next.clone(),
        };
        let body: Value = self
            .call("getOrders", Method::GET, &url, None)
            .await?
            .json()?;
        let orders: Vec<EbayOrder> = serde_json::from_value(body["orders"].clone())
            .map_err(|e| RemoteError::Malformed(format!("eBay orders: {e}")))?;
        let next = text(&body["next"]).map(|n| {
            if n.starts_with("http") {
                n
            } else {
                self.url(&n)
            }
        });
        Ok(OrdersPage {
            orders: orders.into_iter().map(convert).collect(),
            next,
        })
    }

    async fn push_stock(&self, figures: &[StockFigure]) -> Result<Vec<String>, RemoteError> {
        let mut acknowledged = Vec::new();
        let requests: Vec<(String, usize)> = figures
            .iter()
            .enumerate()
            .flat_map(|(i, f)| f.channel_refs.iter().map(move |r| (r.clone(), i)))
            .collect();
        let mut refused = std::collections::BTreeSet::new();
        for chunk in requests.chunks(25) {
            let body: Vec<Value> = chunk
                .iter()
                .map(|(sku, i)| json!({"sku": sku, "shipToLocationAvailability": {"quantity": figures[*i].quantity}}))
                .collect();
            let answer: Value = self
                .call(
                    "bulkUpdatePriceQuantity",
                    Method::POST,
                    &self.url("/sell/inventory/v1/bulk_update_price_quantity"),
                    Some(&json!({"requests": body})),
                )
                .await?
                .json()?;
            for (sku, i) in chunk {
                let status = answer["responses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["sku"].as_str() == Some(sku))
                    .and_then(|r| r["statusCode"].as_u64());
                // 200 set it; 404: eBay has no such inventory item, nothing to set.
                if status.is_some_and(|s| s != 200 && s != 404) {
                    refused.insert(*i);
                }
            }
        }
        for (i, figure) in figures.iter().enumerate() {
            if !refused.contains(&i) {
                acknowledged.push(figure.key());
            }
        }
        Ok(acknowledged)
    }

    async fn push_tracking(&self, update: &TrackingUpdate) -> Result<String, RemoteError> {
        let order_url = self.url(&format!(
            "/sell/fulfillment/v1/order/{}",
            urlencode(&update.external_id)
        ));
        let order: Value = self
            .call("getOrder", Method::GET, &order_url, None)
            .await?
            .json()?;
        let mut items = Vec::new();
        for (sku, quantity) in &update.lines {
            if let Some(line) = order["lineItems"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["sku"].as_str() == Some(sku) || l["legacyItemId"].as_str() == Some(sku))
            {
                items.push(json!({"lineItemId": line["lineItemId"], "quantity": quantity}));
            }
        }
        if items.is_empty() {
            return Err(RemoteError::Refused {
                status: 422,
                message: format!(
                    "order {} has no line items matching the shipped SKUs",
                    update.external_id
                ),
            });
        }
        let body = json!({
            "lineItems": items,
            "shippedDate": update.shipped_at.format(&Rfc3339).expect("UTC formats"),
            "shippingCarrierCode": update.carrier,
            "trackingNumber": update.tracking_number,
        });
        let response = self
            .call(
                "createShippingFulfillment",
                Method::POST,
                &format!("{order_url}/shipping_fulfillment"),
                Some(&body),
            )
            .await?;
        let location = response.header("location").unwrap_or_default().to_string();
        Ok(location.rsplit('/').next().unwrap_or_default().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(patch: Value) -> EbayOrder {
        let mut v = json!({
            "orderId": "12-34567-89012", "creationDate": "2026-11-20T10:00:00.000Z",
            "lastModifiedDate": "2026-11-20T10:10:00.000Z", "orderFulfillmentStatus": "NOT_STARTED",
            "orderPaymentStatus": "PAID", "cancelStatus": {"cancelState": "NONE_REQUESTED"},
            "buyer": {"username": "buyer_1"},
            "pricingSummary": {"deliveryCost": {"value": "3.50", "currency": "USD"}, "total": {"value": "23.50", "currency": "USD"}},
            "fulfillmentStartInstructions": [{"shippingStep": {"shippingServiceCode": "USPSPriority", "shipTo": {
                "fullName": "Sam Poe", "email": "sam@example.com", "primaryPhone": {"phoneNumber": "555-0100"},
                "contactAddress": {"addressLine1": "9 Oak Ave", "city": "Austin", "stateOrProvince": "TX",
                    "postalCode": "73301", "countryCode": "US"}}}}],
            "lineItems": [{"lineItemId": "10001", "legacyItemId": "110550000001", "sku": "MUG", "quantity": 2,
                "lineItemCost": {"value": "20.00", "currency": "USD"}}]
        });
        for (k, val) in patch.as_object().unwrap() {
            v[k] = val.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn maps_an_order() {
        let (o, _) = convert(sample(json!({})));
        assert_eq!(o.state, ChannelOrderState::Open);
        assert_eq!(o.input.lines[0].unit_price.as_deref(), Some("10.00"));
        assert_eq!(o.listing_ids, vec![Some("110550000001".to_string())]);
        let a = o.input.shipping_address.as_ref().unwrap();
        assert_eq!(a.country.as_deref(), Some("US"));
        assert_eq!(
            o.input.shipping.as_ref().unwrap().price.as_deref(),
            Some("3.50")
        );
        assert_eq!(
            o.input.customer.as_ref().unwrap().email.as_deref(),
            Some("sam@example.com")
        );
    }

    #[test]
    fn statuses_map_to_states() {
        assert_eq!(
            convert(sample(json!({"cancelStatus": {"cancelState": "CANCELED"}})))
                .0
                .state,
            ChannelOrderState::Cancelled
        );
        assert_eq!(
            convert(sample(json!({"orderFulfillmentStatus": "FULFILLED"})))
                .0
                .state,
            ChannelOrderState::Closed
        );
        assert_eq!(
            convert(sample(json!({"orderPaymentStatus": "PENDING"})))
                .0
                .state,
            ChannelOrderState::PaymentPending
        );
    }

    #[test]
    fn accepts_country_as_well_as_country_code() {
        let mut o = sample(json!({}));
        let contact =
            &mut o.fulfillment_start_instructions[0]["shippingStep"]["shipTo"]["contactAddress"];
        contact.as_object_mut().unwrap().remove("countryCode");
        contact["country"] = json!("GB");
        assert_eq!(
            convert(o)
                .0
                .input
                .shipping_address
                .unwrap()
                .country
                .as_deref(),
            Some("GB")
        );
    }
}
