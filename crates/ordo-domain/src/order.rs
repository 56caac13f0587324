//! Orders: what a channel sends, how it is checked, and the lifecycle it follows.
//!
//! ```text
//!            capture
//!   ┌───────────┼──────────────────┐
//!   ▼           ▼                  ▼
//! allocated ◄─► partially_allocated ◄─► backordered     (re-allocation moves rightward states left)
//!   │  ▲            │  ▲                  │  ▲
//!   ▼  │ release    ▼  │                  ▼  │
//!            on_hold (hold reason)                      (hold from any open state)
//!   any open state or on_hold ──cancel──► cancelled     (releases every allocation)
//! ```

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::catalog::{Address, check_sku};
use crate::error::{Errors, Problem};
use crate::money::{Currency, format_amount, parse_amount};

pub const MAX_LINES: usize = 500;
pub const MAX_QUANTITY: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Allocated,
    PartiallyAllocated,
    Backordered,
    OnHold,
    Cancelled,
    /// Some units have shipped; the rest is still reserved or waiting.
    PartiallyShipped,
    /// Every unit has shipped.
    Shipped,
    /// Every unit has shipped and every shipment is delivered.
    Delivered,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::Allocated,
        OrderStatus::PartiallyAllocated,
        OrderStatus::Backordered,
        OrderStatus::OnHold,
        OrderStatus::Cancelled,
        OrderStatus::PartiallyShipped,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Allocated => "allocated",
            OrderStatus::PartiallyAllocated => "partially_allocated",
            OrderStatus::Backordered => "backordered",
            OrderStatus::OnHold => "on_hold",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::PartiallyShipped => "partially_shipped",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
    /// Where an order stands when it is neither held nor cancelled: delivery progress
    /// first, then how much of it is reserved. Kept as the order's `fill_status`, which
    /// is what a release returns to.
    pub fn progress(allocated: i64, shipped: i64, ordered: i64, all_delivered: bool) -> Self {
        if ordered > 0 && shipped >= ordered {
            if all_delivered {
                OrderStatus::Delivered
            } else {
                OrderStatus::Shipped
            }
        } else if shipped > 0 {
            OrderStatus::PartiallyShipped
        } else {
            Self::from_fill(allocated, ordered)
        }
    }

    /// From the allocated and ordered unit counts of an order.
    pub fn from_fill(allocated: i64, ordered: i64) -> Self {
        if allocated >= ordered {
            OrderStatus::Allocated
        } else if allocated == 0 {
            OrderStatus::Backordered
        } else {
            OrderStatus::PartiallyAllocated
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    PaymentPending,
    FraudReview,
    AddressInvalid,
    CustomerRequest,
    StockShortage,
    /// A routing rule holds the order (its name is in the `order.held` event).
    RoutingRule,
    Manual,
    /// An exchange's replacement, waiting until the returned goods arrive.
    AwaitingReturn,
    /// A channel order with items no Ordo SKU is mapped to; released once every one is.
    UnmappedSku,
}

impl HoldReason {
    pub const ALL: [HoldReason; 9] = [
        HoldReason::PaymentPending,
        HoldReason::FraudReview,
        HoldReason::AddressInvalid,
        HoldReason::CustomerRequest,
        HoldReason::StockShortage,
        HoldReason::RoutingRule,
        HoldReason::Manual,
        HoldReason::AwaitingReturn,
        HoldReason::UnmappedSku,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::PaymentPending => "payment_pending",
            HoldReason::FraudReview => "fraud_review",
            HoldReason::AddressInvalid => "address_invalid",
            HoldReason::CustomerRequest => "customer_request",
            HoldReason::StockShortage => "stock_shortage",
            HoldReason::RoutingRule => "routing_rule",
            HoldReason::Manual => "manual",
            HoldReason::AwaitingReturn => "awaiting_return",
            HoldReason::UnmappedSku => "unmapped_sku",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The lifecycle's transitions. `fill` is the order's allocation state, kept while on hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Hold,
    Release,
    Cancel,
}

pub fn transition(
    current: OrderStatus,
    fill: OrderStatus,
    t: Transition,
) -> Result<OrderStatus, Problem> {
    use OrderStatus::*;
    let shipped_any = matches!(fill, PartiallyShipped | Shipped | Delivered);
    let next = match (t, current) {
        (_, Cancelled) => None,
        // Nothing is left to hold once everything has left.
        (Transition::Hold, OnHold | Shipped | Delivered) => None,
        (Transition::Hold, _) => Some(OnHold),
        (Transition::Release, OnHold) => Some(fill),
        (Transition::Release, _) => None,
        // Shipped units come back through a return, not a cancellation.
        (Transition::Cancel, _) if shipped_any => None,
        (Transition::Cancel, _) => Some(Cancelled),
    };
    if next.is_none() && t == Transition::Cancel && shipped_any {
        return Err(Problem::Conflict {
            message: "units of this order have shipped; cancel is refused, return them instead"
                .into(),
            current: Some(current.as_str().into()),
        });
    }
    next.ok_or_else(|| Problem::Conflict {
        message: format!(
            "cannot {} an order that is {}",
            match t {
                Transition::Hold => "hold",
                Transition::Release => "release",
                Transition::Cancel => "cancel",
            },
            current.as_str()
        ),
        current: Some(current.as_str().into()),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Pending,
    Authorized,
    Paid,
}

impl PaymentStatus {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => PaymentStatus::Pending,
            "authorized" => PaymentStatus::Authorized,
            "paid" => PaymentStatus::Paid,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CustomerInput {
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct LineInput {
    pub sku: Option<String>,
    pub quantity: Option<i64>,
    /// Price of one unit, decimal string.
    pub unit_price: Option<String>,
    /// Discount on the whole line, decimal string.
    pub discount: Option<String>,
    /// Tax on the whole line, decimal string.
    pub tax: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ShippingInput {
    pub method: Option<String>,
    pub service_level: Option<String>,
    pub price: Option<String>,
    /// The latest delivery day promised to the customer (`2026-12-01`); shipping chooses a
    /// service that arrives by then.
    pub promised_by: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PaymentInput {
    /// pending, authorized or paid.
    pub status: Option<String>,
    pub method: Option<String>,
    pub reference: Option<String>,
}

/// Body of `POST /api/v1/orders`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct OrderInput {
    /// Channel code.
    pub channel: Option<String>,
    /// The channel's own order id.
    pub external_id: Option<String>,
    /// RFC 3339; defaults to the time of capture.
    pub placed_at: Option<String>,
    /// ISO 4217.
    pub currency: Option<String>,
    pub customer: Option<CustomerInput>,
    pub shipping_address: Option<Address>,
    pub billing_address: Option<Address>,
    #[serde(default)]
    pub lines: Vec<LineInput>,
    pub shipping: Option<ShippingInput>,
    pub payment: Option<PaymentInput>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub notes: Option<String>,
    /// Higher is served first when stock is short.
    pub priority: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub sku: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub discount: i64,
    pub tax: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Shipping {
    pub method: Option<String>,
    pub service_level: Option<String>,
    /// Decimal string.
    pub price: String,
    /// The latest delivery day promised to the customer.
    #[serde(default, with = "promised_date")]
    #[schema(value_type = Option<String>, format = Date)]
    pub promised_by: Option<time::Date>,
}

/// `YYYY-MM-DD` dates in JSON.
mod promised_date {
    use serde::{Deserialize, Deserializer, Serializer};

    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]");

    pub fn serialize<S: Serializer>(d: &Option<time::Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&d.format(FORMAT).map_err(serde::ser::Error::custom)?),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<time::Date>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| time::Date::parse(&t, FORMAT).map_err(serde::de::Error::custom))
            .transpose()
    }

    pub fn parse(text: &str) -> Option<time::Date> {
        time::Date::parse(text.trim(), FORMAT).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    pub status: PaymentStatus,
    pub method: Option<String>,
    pub reference: Option<String>,
}

/// A checked order, ready for capture.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    pub channel: String,
    pub external_id: String,
    pub placed_at: OffsetDateTime,
    pub currency: Currency,
    pub customer: Customer,
    pub shipping_address: Address,
    pub billing_address: Option<Address>,
    pub lines: Vec<NewLine>,
    pub shipping: Shipping,
    pub shipping_price: i64,
    pub payment: Payment,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub priority: i32,
    /// Lines whose `sku` is still the channel's reference because no Ordo SKU is mapped
    /// to it: only channel imports set them, and the order is held until they are mapped.
    pub unmapped_lines: Vec<UnmappedLine>,
}

/// A line of a channel order that no Ordo SKU is mapped to yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UnmappedLine {
    pub line_no: i32,
    /// The channel's SKU or listing id, as the channel sent it.
    pub channel_ref: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: i64,
    pub discount: i64,
    pub tax: i64,
    pub shipping: i64,
    pub total: i64,
}

impl NewOrder {
    /// Whether the line at `index` (0-based) still holds a channel reference, not a SKU.
    pub fn is_unmapped(&self, index: usize) -> bool {
        self.unmapped_lines
            .iter()
            .any(|u| u.line_no == index as i32 + 1)
    }

    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            shipping: self.shipping_price,
            ..Default::default()
        };
        for l in &self.lines {
            t.subtotal += l.unit_price * l.quantity;
            t.discount += l.discount;
            t.tax += l.tax;
        }
        t.total = t.subtotal - t.discount + t.tax + t.shipping;
        t
    }
    pub fn units(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }
}

fn is_plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.len() <= 254
        && !s.chars().any(char::is_whitespace)
}

impl OrderInput {
    /// Checks everything that needs no database; channel and SKU existence are checked at capture.
    pub fn validate(self, now: OffsetDateTime) -> Result<NewOrder, Problem> {
        let mut errors = Errors::default();
        let channel = self.channel.unwrap_or_default();
        if channel.is_empty() {
            errors.add("channel", "is required");
        }
        let external_id = self.external_id.unwrap_or_default();
        if external_id.is_empty() || external_id.len() > 128 {
            errors.add("external_id", "is required (at most 128 characters)");
        }
        // Times are kept to the microsecond, as every backend stores them.
        let now = now
            .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now);
        let placed_at = match self.placed_at.as_deref() {
            None => now,
            Some(s) => {
                match OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
                    Ok(t) => t
                        .to_offset(time::UtcOffset::UTC)
                        .replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
                        .unwrap_or(t),
                    Err(_) => {
                        errors.add(
                            "placed_at",
                            "must be an RFC 3339 timestamp such as 2026-11-26T10:00:00Z",
                        );
                        now
                    }
                }
            }
        };
        let currency = match self.currency.as_deref() {
            None => {
                errors.add("currency", "is required");
                None
            }
            Some(c) => {
                let parsed = Currency::parse(c);
                if parsed.is_none() {
                    errors.add("currency", "must be an ISO 4217 currency code such as EUR");
                }
                parsed
            }
        };
        let customer_in = self.customer.unwrap_or_default();
        let email = customer_in
            .email
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !is_plausible_email(&email) {
            errors.add("customer.email", "must be an email address");
        }
        let shipping_address = self.shipping_address.unwrap_or_default();
        shipping_address.check("shipping_address", &mut errors);
        if let Some(b) = &self.billing_address {
            b.check("billing_address", &mut errors);
        }
        if self.lines.is_empty() {
            errors.add("lines", "must contain at least one line");
        }
        if self.lines.len() > MAX_LINES {
            errors.add("lines", format!("must contain at most {MAX_LINES} lines"));
        }
        let money = |field: &dyn Fn() -> String,
                     value: Option<&str>,
                     required: bool,
                     errors: &mut Errors|
         -> i64 {
            let Some(currency) = currency else { return 0 };
            match value {
                None if required => {
                    errors.add(field(), "is required");
                    0
                }
                None => 0,
                Some(v) => parse_amount(v, currency).unwrap_or_else(|e| {
                    errors.add(field(), e.to_string());
                    0
                }),
            }
        };
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, l) in self.lines.into_iter().enumerate() {
            let sku = l.sku.unwrap_or_default();
            if let Err(e) = check_sku(&sku) {
                errors.add(format!("lines[{i}].sku"), e);
            }
            let quantity = l.quantity.unwrap_or(0);
            if quantity <= 0 || quantity > MAX_QUANTITY {
                errors.add(
                    format!("lines[{i}].quantity"),
                    format!("must be an integer from 1 to {MAX_QUANTITY}"),
                );
            }
            let unit_price = money(
                &|| format!("lines[{i}].unit_price"),
                l.unit_price.as_deref(),
                true,
                &mut errors,
            );
            let discount = money(
                &|| format!("lines[{i}].discount"),
                l.discount.as_deref(),
                false,
                &mut errors,
            );
            let tax = money(
                &|| format!("lines[{i}].tax"),
                l.tax.as_deref(),
                false,
                &mut errors,
            );
            if discount > unit_price.saturating_mul(quantity.max(0)) {
                errors.add(
                    format!("lines[{i}].discount"),
                    "must not exceed the line's price",
                );
            }
            lines.push(NewLine {
                sku,
                quantity,
                unit_price,
                discount,
                tax,
            });
        }
        let shipping_in = self.shipping.unwrap_or_default();
        let shipping_price = money(
            &|| "shipping.price".into(),
            shipping_in.price.as_deref(),
            false,
            &mut errors,
        );
        let promised_by = match shipping_in.promised_by.as_deref() {
            None => None,
            Some(text) => {
                let d = promised_date::parse(text);
                if d.is_none() {
                    errors.add("shipping.promised_by", "must be a date such as 2026-12-01");
                }
                d
            }
        };
        let payment_in = self.payment.unwrap_or_default();
        let payment_status = match payment_in.status.as_deref() {
            None => PaymentStatus::Paid,
            Some(s) => PaymentStatus::parse(s).unwrap_or_else(|| {
                errors.add("payment.status", "must be one of pending, authorized, paid");
                PaymentStatus::Paid
            }),
        };
        if self.tags.len() > 50 || self.tags.iter().any(|t| t.is_empty() || t.len() > 64) {
            errors.add("tags", "at most 50 tags of 1 to 64 characters");
        }
        if self.notes.as_ref().is_some_and(|n| n.len() > 10_000) {
            errors.add("notes", "must be at most 10000 characters");
        }
        errors.finish(|| {
            let currency = currency.expect("checked above");
            NewOrder {
                channel,
                external_id,
                placed_at,
                currency,
                customer: Customer {
                    email,
                    name: customer_in.name,
                    phone: customer_in.phone,
                },
                shipping_address,
                billing_address: self.billing_address,
                lines,
                shipping: Shipping {
                    method: shipping_in.method,
                    service_level: shipping_in.service_level,
                    price: format_amount(shipping_price, currency.exponent),
                    promised_by,
                },
                shipping_price,
                payment: Payment {
                    status: payment_status,
                    method: payment_in.method,
                    reference: payment_in.reference,
                },
                tags: self.tags,
                notes: self.notes,
                priority: self.priority.unwrap_or(0),
                unmapped_lines: Vec::new(),
            }
        })
    }
}

pub fn order_number(n: i64) -> String {
    format!("SO-{n:06}")
}

/// Accepts `SO-000123` (any zero padding) and returns 123.
pub fn parse_order_number(s: &str) -> Option<i64> {
    s.strip_prefix("SO-")
        .and_then(|d| d.parse().ok())
        .filter(|n| *n > 0)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineAllocation {
    pub location: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderLine {
    pub line_no: i32,
    pub sku: String,
    pub quantity: i64,
    pub unit_price: String,
    pub discount: String,
    pub tax: String,
    pub allocated: i64,
    pub backordered: i64,
    /// Units that have left in shipments.
    pub shipped: i64,
    pub allocations: Vec<LineAllocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderTotals {
    pub subtotal: String,
    pub discount: String,
    pub tax: String,
    pub shipping: String,
    pub total: String,
}

impl OrderTotals {
    pub fn format(t: &Totals, exponent: u8) -> Self {
        OrderTotals {
            subtotal: format_amount(t.subtotal, exponent),
            discount: format_amount(t.discount, exponent),
            tax: format_amount(t.tax, exponent),
            shipping: format_amount(t.shipping, exponent),
            total: format_amount(t.total, exponent),
        }
    }
}

/// An order as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: Uuid,
    /// Human number such as SO-000123.
    pub number: String,
    pub channel: String,
    pub external_id: String,
    pub status: OrderStatus,
    /// The allocation state, also kept while the order is on hold.
    pub fill_status: OrderStatus,
    pub hold_reason: Option<HoldReason>,
    /// While a routing rule holds the order: the rule's name (`GET /orders/{id}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_rule: Option<String>,
    /// While a routing rule holds the order: the reason the rule gives (`GET /orders/{id}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_note: Option<String>,
    pub cancel_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub placed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    pub currency: String,
    pub customer: Customer,
    pub shipping_address: Address,
    pub billing_address: Option<Address>,
    pub shipping: Shipping,
    pub payment: Payment,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub priority: i32,
    pub totals: OrderTotals,
    pub lines: Vec<OrderLine>,
    /// Channel items not yet mapped to an Ordo SKU (see [`HoldReason::UnmappedSku`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmapped_lines: Vec<UnmappedLine>,
    /// One per location shipping part of the order, including finished and cancelled ones.
    pub fulfillment_orders: Vec<crate::fulfillment::FulfillmentOrder>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> OrderInput {
        serde_json::from_value(serde_json::json!({
            "channel": "web", "external_id": "1001", "currency": "EUR",
            "customer": {"email": "Ann@Example.com", "name": "Ann"},
            "shipping_address": {"name": "Ann", "line1": "Main St 1", "city": "Berlin", "country": "DE"},
            "lines": [{"sku": "A", "quantity": 2, "unit_price": "10.00", "discount": "1.50", "tax": "3.52"}],
            "shipping": {"price": "4.90"}
        }))
        .unwrap()
    }

    #[test]
    fn computes_totals_exactly() {
        let o = valid().validate(OffsetDateTime::UNIX_EPOCH).unwrap();
        let t = o.totals();
        assert_eq!(
            (t.subtotal, t.discount, t.tax, t.shipping, t.total),
            (2000, 150, 352, 490, 2692)
        );
        assert_eq!(o.customer.email, "ann@example.com");
        assert_eq!(o.payment.status, PaymentStatus::Paid);
    }

    #[test]
    fn names_every_bad_field() {
        let mut input = valid();
        input.currency = Some("EURO".into());
        input.shipping_address.as_mut().unwrap().country = Some("XX".into());
        input.lines.push(LineInput {
            sku: Some("B".into()),
            quantity: Some(0),
            unit_price: Some("1".into()),
            ..Default::default()
        });
        let Err(Problem::Invalid(errs)) = input.validate(OffsetDateTime::UNIX_EPOCH) else {
            panic!()
        };
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["currency", "shipping_address.country", "lines[1].quantity"]
        );
    }

    #[test]
    fn precision_beyond_currency_is_rejected() {
        let mut input = valid();
        input.lines[0].unit_price = Some("10.001".into());
        let Err(Problem::Invalid(errs)) = input.validate(OffsetDateTime::UNIX_EPOCH) else {
            panic!()
        };
        assert_eq!(errs[0].field, "lines[0].unit_price");
    }

    #[test]
    fn lifecycle_transitions() {
        use OrderStatus::*;
        assert_eq!(
            transition(Allocated, Allocated, Transition::Hold),
            Ok(OnHold)
        );
        assert_eq!(
            transition(OnHold, Backordered, Transition::Release),
            Ok(Backordered)
        );
        assert!(transition(Allocated, Allocated, Transition::Release).is_err());
        assert!(transition(OnHold, Allocated, Transition::Hold).is_err());
        assert_eq!(
            transition(OnHold, Allocated, Transition::Cancel),
            Ok(Cancelled)
        );
        let err = transition(Cancelled, Allocated, Transition::Cancel).unwrap_err();
        assert!(matches!(err, Problem::Conflict { current: Some(c), .. } if c == "cancelled"));
    }

    #[test]
    fn numbers() {
        assert_eq!(order_number(123), "SO-000123");
        assert_eq!(parse_order_number("SO-000123"), Some(123));
        assert_eq!(parse_order_number("SO-1234567"), Some(1234567));
        assert_eq!(parse_order_number("XX-1"), None);
    }
}
