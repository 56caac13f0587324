//! Backend-neutral planning of writes: what rows an order capture produces, and how an
//! order is rebuilt from stored rows. Backends only move these rows in and out.

use ordo_domain::allocation::{AllocationStrategy, Candidate, Demand, StockView};
use ordo_domain::catalog::Address;
use ordo_domain::money::format_amount;
use ordo_domain::order::{
    Customer, HoldReason, LineAllocation, NewOrder, Order, OrderLine, OrderStatus, OrderTotals,
    Payment, PaymentStatus, Shipping, Totals, order_number,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The parts of an order fixed at capture, stored as one JSON document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderDoc {
    pub customer: Customer,
    pub shipping_address: Address,
    pub billing_address: Option<Address>,
    pub shipping: Shipping,
    pub payment: Payment,
    pub tags: Vec<String>,
    pub notes: Option<String>,
    pub totals: OrderTotals,
}

/// One order header row as stored.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub number: i64,
    pub id: Uuid,
    pub channel: String,
    pub external_id: String,
    pub status: OrderStatus,
    pub fill_status: OrderStatus,
    pub hold_reason: Option<HoldReason>,
    pub cancel_reason: Option<String>,
    pub placed_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub email: String,
    pub ship_country: String,
    pub currency: String,
    pub priority: i32,
    pub total: i64,
    pub units: i64,
    pub doc: String,
}

#[derive(Debug, Clone)]
pub struct LineRow {
    pub line_no: i32,
    pub sku: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub discount: i64,
    pub tax: i64,
    pub allocated: i64,
    pub backordered: i64,
}

#[derive(Debug, Clone)]
pub struct AllocationRow {
    pub line_no: i32,
    pub sku: String,
    pub location: String,
    pub quantity: i64,
}

/// An event to append in the same transaction.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub kind: &'static str,
    pub data: serde_json::Value,
}

pub struct CapturePlan {
    pub header: OrderRow,
    pub lines: Vec<LineRow>,
    pub allocations: Vec<AllocationRow>,
    pub events: Vec<EventRow>,
    /// The API view of the new order, built without re-reading what was just written.
    pub order: Order,
}

/// What can be worked out about a new order before it reaches the single write path: its
/// stored document and totals. Serialising here keeps that work off the writer.
pub struct PreparedOrder {
    pub order: NewOrder,
    pub doc: OrderDoc,
    pub doc_json: String,
    pub totals: Totals,
}

impl PreparedOrder {
    pub fn new(order: NewOrder) -> Self {
        let totals = order.totals();
        let doc = OrderDoc {
            customer: order.customer.clone(),
            shipping_address: order.shipping_address.clone(),
            billing_address: order.billing_address.clone(),
            shipping: order.shipping.clone(),
            payment: order.payment.clone(),
            tags: order.tags.clone(),
            notes: order.notes.clone(),
            totals: OrderTotals::format(&totals, order.currency.exponent),
        };
        let doc_json = serde_json::to_string(&doc).expect("order documents serialise");
        PreparedOrder {
            order,
            doc,
            doc_json,
            totals,
        }
    }
}

/// The rows of a new order, decided against current stock.
pub struct PlannedCapture {
    pub header: OrderRow,
    pub lines: Vec<LineRow>,
    pub allocations: Vec<AllocationRow>,
    pub events: Vec<EventRow>,
}

impl PlannedCapture {
    /// The API view of the order, from its document and these rows.
    pub fn to_order(&self, doc: OrderDoc) -> Order {
        assemble_from_doc(&self.header, doc, &self.lines, &self.allocations)
    }
}

/// Decides allocation and builds every row of a new order. `stock` must reflect the
/// locked, current balances; the caller applies `allocations` to them.
pub fn plan_prepared(
    prepared: &PreparedOrder,
    number: i64,
    id: Uuid,
    now: OffsetDateTime,
    candidates: &[Candidate],
    stock: &dyn StockView,
    strategy: &dyn AllocationStrategy,
) -> PlannedCapture {
    let order = &prepared.order;
    let demand: Vec<Demand<'_>> = order
        .lines
        .iter()
        .map(|l| Demand {
            sku: &l.sku,
            quantity: l.quantity,
        })
        .collect();
    let plans = strategy.plan(&demand, candidates, stock);
    let mut lines = Vec::with_capacity(order.lines.len());
    let mut allocations = Vec::new();
    let mut allocated_units = 0;
    for (i, (line, plan)) in order.lines.iter().zip(&plans).enumerate() {
        let line_no = i as i32 + 1;
        for &(idx, q) in &plan.allocations {
            allocations.push(AllocationRow {
                line_no,
                sku: line.sku.clone(),
                location: candidates[idx].location.clone(),
                quantity: q,
            });
        }
        allocated_units += plan.allocated();
        lines.push(LineRow {
            line_no,
            sku: line.sku.clone(),
            quantity: line.quantity,
            unit_price: line.unit_price,
            discount: line.discount,
            tax: line.tax,
            allocated: plan.allocated(),
            backordered: plan.backordered,
        });
    }
    let units = order.units();
    let fill = OrderStatus::from_fill(allocated_units, units);
    let hold =
        (order.payment.status == PaymentStatus::Pending).then_some(HoldReason::PaymentPending);
    let status = if hold.is_some() {
        OrderStatus::OnHold
    } else {
        fill
    };
    let number_text = order_number(number);
    let mut events = vec![EventRow {
        kind: "order.created",
        data: serde_json::json!({
            "number": number_text, "channel": order.channel, "external_id": order.external_id,
            "total": prepared.doc.totals.total, "currency": order.currency.code, "units": units,
        }),
    }];
    let alloc_data: Vec<_> = allocations
        .iter()
        .map(|a| serde_json::json!({"sku": a.sku, "location": a.location, "quantity": a.quantity}))
        .collect();
    events.push(EventRow {
        kind: match fill {
            OrderStatus::Allocated => "order.allocated",
            OrderStatus::PartiallyAllocated => "order.partially_allocated",
            _ => "order.backordered",
        },
        data: serde_json::json!({"number": number_text, "allocations": alloc_data, "backordered": units - allocated_units}),
    });
    if let Some(h) = hold {
        events.push(EventRow {
            kind: "order.held",
            data: serde_json::json!({"number": number_text, "reason": h.as_str()}),
        });
    }
    let header = OrderRow {
        number,
        id,
        channel: order.channel.clone(),
        external_id: order.external_id.clone(),
        status,
        fill_status: fill,
        hold_reason: hold,
        cancel_reason: None,
        placed_at: order.placed_at,
        created_at: now,
        updated_at: now,
        email: order.customer.email.clone(),
        ship_country: order.shipping_address.country.clone().unwrap_or_default(),
        currency: order.currency.code.to_string(),
        priority: order.priority,
        total: prepared.totals.total,
        units,
        doc: prepared.doc_json.clone(),
    };
    PlannedCapture {
        header,
        lines,
        allocations,
        events,
    }
}

/// [`plan_prepared`] in one step, with the API view of the order.
pub fn plan_capture(
    order: &NewOrder,
    number: i64,
    id: Uuid,
    now: OffsetDateTime,
    candidates: &[Candidate],
    stock: &dyn StockView,
    strategy: &dyn AllocationStrategy,
) -> CapturePlan {
    let prepared = PreparedOrder::new(order.clone());
    let planned = plan_prepared(&prepared, number, id, now, candidates, stock, strategy);
    let order = planned.to_order(prepared.doc);
    let PlannedCapture {
        header,
        lines,
        allocations,
        events,
    } = planned;
    CapturePlan {
        header,
        lines,
        allocations,
        events,
        order,
    }
}

/// Rebuilds the API view of an order from its stored rows.
pub fn assemble_order(
    header: &OrderRow,
    lines: &[LineRow],
    allocations: &[AllocationRow],
) -> Result<Order, String> {
    let doc: OrderDoc = serde_json::from_str(&header.doc)
        .map_err(|e| format!("order {} document: {e}", header.number))?;
    Ok(assemble_from_doc(header, doc, lines, allocations))
}

fn assemble_from_doc(
    header: &OrderRow,
    doc: OrderDoc,
    lines: &[LineRow],
    allocations: &[AllocationRow],
) -> Order {
    let exponent = ordo_domain::money::Currency::parse(&header.currency).map_or(2, |c| c.exponent);
    let lines = lines
        .iter()
        .map(|l| OrderLine {
            line_no: l.line_no,
            sku: l.sku.clone(),
            quantity: l.quantity,
            unit_price: format_amount(l.unit_price, exponent),
            discount: format_amount(l.discount, exponent),
            tax: format_amount(l.tax, exponent),
            allocated: l.allocated,
            backordered: l.backordered,
            allocations: {
                let mut here: Vec<LineAllocation> = allocations
                    .iter()
                    .filter(|a| a.line_no == l.line_no)
                    .map(|a| LineAllocation {
                        location: a.location.clone(),
                        quantity: a.quantity,
                    })
                    .collect();
                here.sort_by(|a, b| a.location.cmp(&b.location));
                here
            },
        })
        .collect();
    Order {
        id: header.id,
        number: order_number(header.number),
        channel: header.channel.clone(),
        external_id: header.external_id.clone(),
        status: header.status,
        fill_status: header.fill_status,
        hold_reason: header.hold_reason,
        cancel_reason: header.cancel_reason.clone(),
        placed_at: header.placed_at,
        created_at: header.created_at,
        updated_at: header.updated_at,
        currency: header.currency.clone(),
        customer: doc.customer,
        shipping_address: doc.shipping_address,
        billing_address: doc.billing_address,
        shipping: doc.shipping,
        payment: doc.payment,
        tags: doc.tags,
        notes: doc.notes,
        priority: header.priority,
        totals: doc.totals,
        lines,
    }
}

/// Timestamps are stored as RFC 3339 UTC text where the database has no native type.
/// Fixed-width (microseconds, `Z`), so that text order is time order.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .expect("UTC times format")
}

/// Stored times keep microseconds (as PostgreSQL's `timestamptz` does); cutting them the
/// same way everywhere makes what a write returns equal what a later read returns.
pub fn to_micros(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .expect("valid nanosecond")
}

pub fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("bad timestamp {s:?}: {e}"))
}

/// Cursors are opaque to clients; internally they carry the last key of the page.
pub fn encode_cursor(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn decode_cursor(cursor: &str) -> Option<String> {
    if !cursor.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// The data of `order.reallocated` and `order.stock_shortage`: one line's stock at one
/// location changed by `quantity`, leaving the order in `fill`.
pub fn line_stock_event(
    number: i64,
    sku: &str,
    location: &str,
    quantity: i64,
    fill: OrderStatus,
) -> serde_json::Value {
    serde_json::json!({
        "number": order_number(number), "sku": sku, "location": location,
        "quantity": quantity, "fill_status": fill.as_str(),
    })
}

/// A save of the routing rules must start from the version in force, so two editors
/// never overwrite each other unseen.
pub fn check_rules_version(
    current: i64,
    expected: Option<i64>,
) -> Result<(), ordo_domain::Problem> {
    match expected {
        Some(expected) if expected != current => Err(ordo_domain::Problem::Conflict {
            message: format!(
                "the rules are at version {current}, not {expected}; reload and retry"
            ),
            current: Some(current.to_string()),
        }),
        _ => Ok(()),
    }
}
