//! Backend-neutral planning of writes: what rows an order capture produces, and how an
//! order is rebuilt from stored rows. Backends only move these rows in and out.

use std::collections::HashMap;

use ordo_domain::allocation::StockView;
use ordo_domain::catalog::{Address, Channel, Location, Product};
use ordo_domain::fulfillment::{
    FulfillmentLine, FulfillmentOrder, FulfillmentStatus, RequestStatus, fulfillment_order_id,
};
use ordo_domain::money::format_amount;
use ordo_domain::order::{
    Customer, HoldReason, LineAllocation, NewOrder, Order, OrderLine, OrderStatus, OrderTotals,
    Payment, PaymentStatus, Shipping, Totals, order_number,
};
use ordo_routing::adapt::request_for_new_order;
use ordo_routing::capacity::local_date;
use ordo_routing::{CostModel, LocationProfile, Router, Rule, SplitPolicy};
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmapped_lines: Vec<ordo_domain::order::UnmappedLine>,
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
    pub shipped: i64,
}

/// One reservation: units of an order line held at the location of one of the order's
/// fulfillment orders.
#[derive(Debug, Clone)]
pub struct AllocationRow {
    pub fo_no: i32,
    pub line_no: i32,
    pub sku: String,
    pub location: String,
    pub quantity: i64,
}

/// A fulfillment order header as stored. Its active lines are its allocation rows;
/// `closed_lines` keeps what a cancelled or rejected one held, for the record.
#[derive(Debug, Clone)]
pub struct FulfillmentRow {
    pub fo_no: i32,
    pub location: String,
    pub status: FulfillmentStatus,
    pub request_status: Option<RequestStatus>,
    pub reason: Option<String>,
    pub closed_lines: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
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
    pub fulfillment: Vec<FulfillmentRow>,
    pub events: Vec<EventRow>,
    /// Locations with a daily capacity that received a fulfillment order, with the
    /// local date it counts on.
    pub capacity_used: Vec<(String, time::Date)>,
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
            unmapped_lines: order.unmapped_lines.clone(),
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
    pub fulfillment: Vec<FulfillmentRow>,
    pub events: Vec<EventRow>,
    pub capacity_used: Vec<(String, time::Date)>,
    /// The order's document when routing rules changed it (tags, service level).
    pub doc: Option<OrderDoc>,
}

impl PlannedCapture {
    /// The API view of the order, from its document and these rows.
    pub fn to_order(&self, doc: OrderDoc) -> Order {
        let doc = self.doc.clone().unwrap_or(doc);
        assemble_from_doc(
            &self.header,
            doc,
            &self.lines,
            &self.allocations,
            &self.fulfillment,
        )
    }
}

/// What routing needs besides the order and the stock.
pub struct RoutingContext<'a> {
    pub channel: &'a Channel,
    pub locations: &'a [Location],
    /// The routing rules in force, top to bottom.
    pub rules: &'a [Rule],
    /// Fulfillment orders already routed to each location with a daily capacity, on that
    /// location's current local date.
    pub orders_today: &'a HashMap<String, u32>,
    /// Catalog entries of the order's SKUs; only read when [`needs_products`] says so.
    pub products: &'a HashMap<String, Product>,
}

/// Whether routing reads products' categories, handling classes or weights: only when a
/// rule tests them or a location refuses a handling class. Otherwise capture skips
/// loading product records.
pub fn needs_products(rules: &[Rule], locations: &[Location]) -> bool {
    locations.iter().any(|l| !l.routing.cannot_ship.is_empty())
        || rules.iter().any(|r| {
            let c = &r.conditions;
            !c.categories.is_empty() || !c.handling_classes.is_empty() || c.total_weight_g.is_some()
        })
}

/// The locations as the router sees them, with today's counts filled in.
pub fn location_profiles(
    locations: &[Location],
    orders_today: &HashMap<String, u32>,
) -> Vec<LocationProfile> {
    locations
        .iter()
        .map(|l| {
            let mut p = LocationProfile::from_location(l);
            p.orders_today = orders_today.get(&l.code).copied().unwrap_or(0);
            p
        })
        .collect()
}

/// A location's current local date, for its daily capacity.
pub fn location_today(location: &Location, now: OffsetDateTime) -> time::Date {
    let offset = time::UtcOffset::from_whole_seconds(location.routing.utc_offset_seconds())
        .unwrap_or(time::UtcOffset::UTC);
    local_date(now, offset)
}

/// Groups allocations into one fulfillment order per location, numbered from `first_fo_no`
/// in location-code order; sets each allocation's `fo_no`.
pub fn group_fulfillment(
    allocations: &mut [AllocationRow],
    locations: &[Location],
    first_fo_no: i32,
    on_hold: bool,
    now: OffsetDateTime,
) -> Vec<FulfillmentRow> {
    let mut codes: Vec<String> = allocations.iter().map(|a| a.location.clone()).collect();
    codes.sort();
    codes.dedup();
    for a in allocations.iter_mut() {
        let i = codes.binary_search(&a.location).unwrap_or(0);
        a.fo_no = first_fo_no + i as i32;
    }
    codes
        .into_iter()
        .enumerate()
        .map(|(i, code)| FulfillmentRow {
            fo_no: first_fo_no + i as i32,
            request_status: locations
                .iter()
                .find(|l| l.code == code)
                .and_then(|l| RequestStatus::initial(l.kind)),
            location: code,
            status: FulfillmentStatus::initial(on_hold),
            reason: None,
            closed_lines: None,
            created_at: now,
            updated_at: now,
        })
        .collect()
}

/// Decides allocation and builds every row of a new order. `stock` must reflect the
/// locked, current balances; the caller applies `allocations` to them.
pub fn plan_prepared(
    prepared: &PreparedOrder,
    number: i64,
    id: Uuid,
    now: OffsetDateTime,
    routing: &RoutingContext<'_>,
    stock: &dyn StockView,
) -> PlannedCapture {
    let order = &prepared.order;
    let request = request_for_new_order(
        order,
        routing.channel,
        SplitPolicy::of_channel(routing.channel),
        |sku| routing.products.get(sku).cloned(),
    );
    let profiles = location_profiles(routing.locations, routing.orders_today);
    let decision =
        Router::new(CostModel::default()).decide(&request, &profiles, stock, routing.rules);
    let mut lines = Vec::with_capacity(order.lines.len());
    let mut allocations = Vec::new();
    let mut allocated_units = 0;
    for (i, (line, routed)) in order.lines.iter().zip(&decision.lines).enumerate() {
        let line_no = i as i32 + 1;
        for a in &routed.allocations {
            allocations.push(AllocationRow {
                fo_no: 0,
                line_no,
                sku: line.sku.clone(),
                location: a.location.clone(),
                quantity: a.quantity,
            });
        }
        allocated_units += routed.allocated();
        lines.push(LineRow {
            line_no,
            sku: line.sku.clone(),
            quantity: line.quantity,
            unit_price: line.unit_price,
            discount: line.discount,
            tax: line.tax,
            allocated: routed.allocated(),
            backordered: routed.backordered,
            shipped: 0,
        });
    }
    let units = order.units();
    let fill = OrderStatus::from_fill(allocated_units, units);
    let rules = &decision.rules;
    let hold = if !order.unmapped_lines.is_empty() {
        Some(HoldReason::UnmappedSku)
    } else if order.payment.status == PaymentStatus::Pending {
        Some(HoldReason::PaymentPending)
    } else {
        rules.hold.as_ref().map(|_| HoldReason::RoutingRule)
    };
    let status = if hold.is_some() {
        OrderStatus::OnHold
    } else {
        fill
    };
    let fulfillment =
        group_fulfillment(&mut allocations, routing.locations, 1, hold.is_some(), now);
    let capacity_used = fulfillment
        .iter()
        .filter_map(|f| {
            let l = routing.locations.iter().find(|l| l.code == f.location)?;
            l.routing.daily_capacity?;
            Some((l.code.clone(), location_today(l, now)))
        })
        .collect();
    let mut doc = None;
    if !rules.added_tags.is_empty() || rules.service_level.is_some() {
        let mut d = prepared.doc.clone();
        for t in &rules.added_tags {
            if !d.tags.contains(t) {
                d.tags.push(t.clone());
            }
        }
        if let Some(level) = &rules.service_level {
            d.shipping.service_level = Some(level.clone());
        }
        doc = Some(d);
    }
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
        .map(|a| {
            serde_json::json!({"sku": a.sku, "location": a.location, "quantity": a.quantity,
            "fulfillment_order": fulfillment_order_id(number, a.fo_no)})
        })
        .collect();
    let mut routed = serde_json::json!({"number": number_text, "allocations": alloc_data, "backordered": units - allocated_units});
    if !rules.applied.is_empty() {
        routed["rules"] = serde_json::json!(rules.applied);
    }
    events.push(EventRow {
        kind: match fill {
            OrderStatus::Allocated => "order.allocated",
            OrderStatus::PartiallyAllocated => "order.partially_allocated",
            _ => "order.backordered",
        },
        data: routed,
    });
    if let Some(h) = hold {
        let mut held = serde_json::json!({"number": number_text, "reason": h.as_str()});
        if h == HoldReason::RoutingRule {
            held["note"] = serde_json::json!(rules.hold);
            held["rule"] = serde_json::json!(rules.hold_rule);
        }
        events.push(EventRow {
            kind: "order.held",
            data: held,
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
        priority: rules.priority.unwrap_or(order.priority),
        total: prepared.totals.total,
        units,
        doc: match &doc {
            Some(d) => serde_json::to_string(d).expect("order documents serialise"),
            None => prepared.doc_json.clone(),
        },
    };
    PlannedCapture {
        header,
        lines,
        allocations,
        fulfillment,
        events,
        capacity_used,
        doc,
    }
}

/// [`plan_prepared`] in one step, with the API view of the order.
pub fn plan_capture(
    order: &NewOrder,
    number: i64,
    id: Uuid,
    now: OffsetDateTime,
    routing: &RoutingContext<'_>,
    stock: &dyn StockView,
) -> CapturePlan {
    let prepared = PreparedOrder::new(order.clone());
    let planned = plan_prepared(&prepared, number, id, now, routing, stock);
    let order = planned.to_order(prepared.doc);
    let PlannedCapture {
        header,
        lines,
        allocations,
        fulfillment,
        events,
        capacity_used,
        doc: _,
    } = planned;
    CapturePlan {
        header,
        lines,
        allocations,
        fulfillment,
        events,
        capacity_used,
        order,
    }
}

/// Rebuilds the API view of an order from its stored rows.
pub fn assemble_order(
    header: &OrderRow,
    lines: &[LineRow],
    allocations: &[AllocationRow],
    fulfillment: &[FulfillmentRow],
) -> Result<Order, String> {
    let doc: OrderDoc = serde_json::from_str(&header.doc)
        .map_err(|e| format!("order {} document: {e}", header.number))?;
    Ok(assemble_from_doc(
        header,
        doc,
        lines,
        allocations,
        fulfillment,
    ))
}

/// The API view of one fulfillment order: its active lines from the allocations, or what
/// it held when it closed. `sku_of` names each order line's SKU.
pub fn fulfillment_view(
    number: i64,
    f: &FulfillmentRow,
    allocations: &[AllocationRow],
    sku_of: impl Fn(i32) -> String,
) -> FulfillmentOrder {
    let mut lines: Vec<FulfillmentLine> = allocations
        .iter()
        .filter(|a| a.fo_no == f.fo_no)
        .map(|a| FulfillmentLine {
            line_no: a.line_no,
            sku: sku_of(a.line_no),
            quantity: a.quantity,
        })
        .collect();
    if lines.is_empty()
        && let Some(closed) = &f.closed_lines
    {
        lines = serde_json::from_str(closed).unwrap_or_default();
    }
    lines.sort_by_key(|l| l.line_no);
    FulfillmentOrder {
        id: fulfillment_order_id(number, f.fo_no),
        order: order_number(number),
        location: f.location.clone(),
        status: f.status,
        request_status: f.request_status,
        reason: f.reason.clone(),
        lines,
        created_at: f.created_at,
        updated_at: f.updated_at,
    }
}

fn assemble_from_doc(
    header: &OrderRow,
    doc: OrderDoc,
    lines: &[LineRow],
    allocations: &[AllocationRow],
    fulfillment: &[FulfillmentRow],
) -> Order {
    let fulfillment_orders = fulfillment
        .iter()
        .map(|f| {
            fulfillment_view(header.number, f, allocations, |line_no| {
                lines
                    .iter()
                    .find(|l| l.line_no == line_no)
                    .map(|l| l.sku.clone())
                    .unwrap_or_default()
            })
        })
        .collect();
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
            shipped: l.shipped,
            allocations: {
                // Per location: split fulfillment orders at one place show as one figure.
                let mut here: Vec<LineAllocation> = Vec::new();
                for a in allocations.iter().filter(|a| a.line_no == l.line_no) {
                    match here.iter_mut().find(|h| h.location == a.location) {
                        Some(h) => h.quantity += a.quantity,
                        None => here.push(LineAllocation {
                            location: a.location.clone(),
                            quantity: a.quantity,
                        }),
                    }
                }
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
        hold_rule: None,
        hold_note: None,
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
        unmapped_lines: doc.unmapped_lines,
        fulfillment_orders,
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
