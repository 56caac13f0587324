//! Backend-neutral planning of changes to fulfillment orders (move, split, merge, request
//! answers). A backend loads the order and the stock it touches inside its write
//! transaction, asks [`plan_fulfillment_change`] what to write, and applies the plan with
//! the same primitives it uses for capture.

use std::collections::HashMap;

use ordo_domain::Problem;
use ordo_domain::allocation::StockView;
use ordo_domain::catalog::{Channel, Location, Product};
use ordo_domain::fulfillment::{
    FulfillmentLine, FulfillmentOrder, FulfillmentStatus, LineQuantityInput, RequestAction,
    RequestStatus, check_editable, check_merge, check_split, merge_lines,
    parse_fulfillment_order_id, request_transition, resolve_lines, subtract_lines,
};
use ordo_domain::inventory::{Reason, StockState};
use ordo_domain::order::{Order, parse_order_number};
use ordo_routing::adapt::request_for_order;
use ordo_routing::{CostModel, RouteLine, Router, Rule, SplitPolicy};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::capture::{EventRow, location_profiles, location_today};

/// What an operator or an outside fulfiller asks of fulfillment orders.
#[derive(Debug, Clone)]
pub enum FulfillmentChange {
    /// The whole fulfillment order, or some of its lines, to another location.
    Move {
        id: String,
        location: String,
        lines: Option<Vec<LineQuantityInput>>,
    },
    /// Some lines into a new fulfillment order at the same location.
    Split {
        id: String,
        lines: Vec<LineQuantityInput>,
    },
    /// Several fulfillment orders of one order at one location into the first of them.
    Merge { ids: Vec<String> },
    /// Units the location could not pick (a short pick): they leave the fulfillment order
    /// and are routed again, never back to this location.
    Shortage {
        id: String,
        lines: Vec<FulfillmentLine>,
    },
    /// A 3PL or marketplace answers (or is sent) the request; a rejection re-routes.
    Request {
        id: String,
        action: RequestAction,
        reason: Option<String>,
    },
}

impl FulfillmentChange {
    /// The order every named fulfillment order must belong to (the first one's).
    pub fn order_number(&self) -> Result<i64, Problem> {
        let id = match self {
            FulfillmentChange::Move { id, .. }
            | FulfillmentChange::Split { id, .. }
            | FulfillmentChange::Shortage { id, .. }
            | FulfillmentChange::Request { id, .. } => id,
            FulfillmentChange::Merge { ids } => ids
                .first()
                .ok_or_else(|| Problem::invalid("fulfillment_orders", "name two or more"))?,
        };
        parse_fulfillment_order_id(id)
            .map(|(order, _)| order)
            .ok_or_else(|| Problem::NotFound(format!("fulfillment order {id}")))
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct FulfillmentFilter {
    pub location: Option<String>,
    pub status: Option<FulfillmentStatus>,
}

/// The final state of one fulfillment order the change touched: the backend writes the
/// header and replaces the order's allocation rows for `fo_no` with `lines`.
#[derive(Debug, Clone)]
pub struct FulfillmentWrite {
    pub fo_no: i32,
    pub location: String,
    pub status: FulfillmentStatus,
    pub request_status: Option<RequestStatus>,
    pub reason: Option<String>,
    /// What it held when it closed (cancelled, merged away, rejected).
    pub closed_lines: Option<Vec<FulfillmentLine>>,
    /// Active lines: its allocations after the change.
    pub lines: Vec<FulfillmentLine>,
    pub created: bool,
}

/// A change of one stock state at one place, written as a ledger movement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockDelta {
    pub sku: String,
    pub location: String,
    pub state: StockState,
    pub delta: i64,
    pub reason: Reason,
}

impl StockDelta {
    /// Units reserved (positive) or released (negative) for an order.
    pub fn allocated(sku: impl Into<String>, location: impl Into<String>, delta: i64) -> Self {
        Self {
            sku: sku.into(),
            location: location.into(),
            state: StockState::Allocated,
            delta,
            reason: if delta > 0 {
                Reason::Allocation
            } else {
                Reason::Deallocation
            },
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct FulfillmentPlan {
    pub writes: Vec<FulfillmentWrite>,
    pub stock: Vec<StockDelta>,
    /// Per order line, the change of its allocated units (backordered moves the other way).
    pub line_allocated: Vec<(i32, i64)>,
    /// Per order line, units shipped (positive) or brought back by a void (negative);
    /// allocated moves the other way.
    pub line_shipped: Vec<(i32, i64)>,
    pub events: Vec<EventRow>,
    /// Locations with a daily capacity that received a new fulfillment order.
    pub capacity_used: Vec<(String, time::Date)>,
}

/// What planning reads besides the order: the catalog, the stock of the order's SKUs
/// (available, current and locked), the rules and today's capacity counts.
pub struct FulfillmentContext<'a> {
    pub channel: &'a Channel,
    pub locations: &'a [Location],
    pub rules: &'a [Rule],
    pub orders_today: &'a HashMap<String, u32>,
    pub products: &'a HashMap<String, Product>,
    pub stock: &'a dyn StockView,
    pub now: OffsetDateTime,
}

fn find<'o>(order: &'o Order, id: &str) -> Result<&'o FulfillmentOrder, Problem> {
    order
        .fulfillment_orders
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(|| Problem::NotFound(format!("fulfillment order {id}")))
}

fn fo_no(id: &str) -> i32 {
    parse_fulfillment_order_id(id).map_or(0, |(_, n)| n)
}

fn next_fo_no(order: &Order) -> i32 {
    order
        .fulfillment_orders
        .iter()
        .map(|f| fo_no(&f.id))
        .max()
        .unwrap_or(0)
        + 1
}

fn keep(fo: &FulfillmentOrder, lines: Vec<FulfillmentLine>) -> FulfillmentWrite {
    FulfillmentWrite {
        fo_no: fo_no(&fo.id),
        location: fo.location.clone(),
        status: fo.status,
        request_status: fo.request_status,
        reason: fo.reason.clone(),
        closed_lines: None,
        lines,
        created: false,
    }
}

fn close(
    fo: &FulfillmentOrder,
    status: FulfillmentStatus,
    request_status: Option<RequestStatus>,
    reason: String,
) -> FulfillmentWrite {
    FulfillmentWrite {
        status,
        request_status,
        reason: Some(reason),
        closed_lines: Some(fo.lines.clone()),
        lines: Vec::new(),
        ..keep(fo, Vec::new())
    }
}

fn new_fo(
    fo_no: i32,
    location: &Location,
    on_hold: bool,
    lines: Vec<FulfillmentLine>,
) -> FulfillmentWrite {
    FulfillmentWrite {
        fo_no,
        location: location.code.clone(),
        status: FulfillmentStatus::initial(on_hold),
        request_status: RequestStatus::initial(location.kind),
        reason: None,
        closed_lines: None,
        lines,
        created: true,
    }
}

fn lines_json(lines: &[FulfillmentLine]) -> serde_json::Value {
    serde_json::json!(
        lines
            .iter()
            .map(
                |l| serde_json::json!({"line_no": l.line_no, "sku": l.sku, "quantity": l.quantity})
            )
            .collect::<Vec<_>>()
    )
}

fn count_capacity(plan: &mut FulfillmentPlan, ctx: &FulfillmentContext<'_>) {
    for w in plan.writes.iter().filter(|w| w.created) {
        if let Some(l) = ctx
            .locations
            .iter()
            .find(|l| l.code == w.location && l.routing.daily_capacity.is_some())
        {
            plan.capacity_used
                .push((l.code.clone(), location_today(l, ctx.now)));
        }
    }
}

/// Decides what a change writes, or why it is refused. Pure: `order` and `ctx` are the
/// state inside the backend's write transaction.
pub fn plan_fulfillment_change(
    order: &Order,
    change: &FulfillmentChange,
    ctx: &FulfillmentContext<'_>,
) -> Result<FulfillmentPlan, Problem> {
    let on_hold = order.status == ordo_domain::order::OrderStatus::OnHold;
    let mut plan = FulfillmentPlan::default();
    match change {
        FulfillmentChange::Move {
            id,
            location,
            lines,
        } => {
            let fo = find(order, id)?;
            check_editable(fo)?;
            let target = ctx
                .locations
                .iter()
                .find(|l| l.code == *location)
                .ok_or_else(|| {
                    Problem::invalid("location", format!("unknown location '{location}'"))
                })?;
            if !target.active {
                return Err(Problem::invalid(
                    "location",
                    format!("location '{location}' is inactive"),
                ));
            }
            if target.code == fo.location {
                return Err(Problem::invalid(
                    "location",
                    format!("{id} already ships from {location}"),
                ));
            }
            let taken = match lines {
                Some(wanted) => resolve_lines(&fo.lines, wanted, "lines")?,
                None => fo.lines.clone(),
            };
            let mut short = Vec::new();
            for (sku, need) in per_sku(&taken) {
                let have = ctx.stock.available(&sku, &target.code);
                if have < need {
                    short.push(format!("{sku}: {need} needed, {} available", have.max(0)));
                }
            }
            if !short.is_empty() {
                return Err(Problem::Conflict {
                    message: format!("not enough stock at {}: {}", target.code, short.join("; ")),
                    current: None,
                });
            }
            let rest = subtract_lines(&fo.lines, &taken);
            let new_no = next_fo_no(order);
            if rest.is_empty() {
                plan.writes.push(close(
                    fo,
                    FulfillmentStatus::Cancelled,
                    fo.request_status,
                    format!(
                        "moved to {}",
                        ordo_domain::fulfillment::fulfillment_order_id(
                            parse_fulfillment_order_id(id).map_or(0, |x| x.0),
                            new_no
                        )
                    ),
                ));
            } else {
                plan.writes.push(keep(fo, rest));
            }
            plan.writes
                .push(new_fo(new_no, target, on_hold, taken.clone()));
            for l in &taken {
                plan.stock.push(StockDelta::allocated(
                    l.sku.clone(),
                    fo.location.clone(),
                    -l.quantity,
                ));
                plan.stock.push(StockDelta::allocated(
                    l.sku.clone(),
                    target.code.clone(),
                    l.quantity,
                ));
            }
            plan.events.push(EventRow {
                kind: "fulfillment_order.moved",
                data: serde_json::json!({
                    "number": order.number, "fulfillment_order": id, "from": fo.location,
                    "to": target.code,
                    "into": ordo_domain::fulfillment::fulfillment_order_id(
                        parse_fulfillment_order_id(id).map_or(0, |x| x.0), new_no),
                    "lines": lines_json(&taken),
                }),
            });
        }
        FulfillmentChange::Split { id, lines } => {
            let fo = find(order, id)?;
            let taken = resolve_lines(&fo.lines, lines, "lines")?;
            check_split(fo, &taken)?;
            let new_no = next_fo_no(order);
            plan.writes
                .push(keep(fo, subtract_lines(&fo.lines, &taken)));
            plan.writes.push(FulfillmentWrite {
                fo_no: new_no,
                created: true,
                lines: taken.clone(),
                ..keep(fo, Vec::new())
            });
            plan.events.push(EventRow {
                kind: "fulfillment_order.split",
                data: serde_json::json!({
                    "number": order.number, "fulfillment_order": id,
                    "into": ordo_domain::fulfillment::fulfillment_order_id(
                        parse_fulfillment_order_id(id).map_or(0, |x| x.0), new_no),
                    "lines": lines_json(&taken),
                }),
            });
        }
        FulfillmentChange::Merge { ids } => {
            let fos = ids
                .iter()
                .map(|id| find(order, id).cloned())
                .collect::<Result<Vec<_>, _>>()?;
            check_merge(&fos)?;
            let mut sorted = fos.clone();
            sorted.sort_by_key(|f| fo_no(&f.id));
            let into = &sorted[0];
            let merged = merge_lines(sorted.iter().map(|f| f.lines.as_slice()));
            let mut w = keep(into, merged);
            if sorted.iter().any(|f| f.status == FulfillmentStatus::Open) && !on_hold {
                w.status = FulfillmentStatus::Open;
            }
            plan.writes.push(w);
            for f in &sorted[1..] {
                plan.writes.push(close(
                    f,
                    FulfillmentStatus::Cancelled,
                    f.request_status,
                    format!("merged into {}", into.id),
                ));
            }
            plan.events.push(EventRow {
                kind: "fulfillment_order.merged",
                data: serde_json::json!({
                    "number": order.number, "into": into.id,
                    "merged": sorted[1..].iter().map(|f| f.id.clone()).collect::<Vec<_>>(),
                }),
            });
        }
        FulfillmentChange::Shortage { id, lines } => {
            let fo = find(order, id)?;
            let rest = subtract_lines(&fo.lines, lines);
            if rest.is_empty() {
                plan.writes.push(close(
                    fo,
                    FulfillmentStatus::Cancelled,
                    fo.request_status,
                    "short pick: every unit re-routed".into(),
                ));
            } else {
                plan.writes.push(keep(fo, rest));
            }
            for l in lines {
                plan.stock.push(StockDelta::allocated(
                    l.sku.clone(),
                    fo.location.clone(),
                    -l.quantity,
                ));
            }
            let mut excluded = rejected_locations(order);
            excluded.push(&fo.location);
            let (rerouted, backordered) = reroute(order, fo, lines, &excluded, ctx, &mut plan)?;
            plan.events.push(EventRow {
                kind: "fulfillment_order.short_picked",
                data: serde_json::json!({
                    "number": order.number, "fulfillment_order": fo.id, "location": fo.location,
                    "lines": lines_json(lines), "rerouted": rerouted, "backordered": lines_json(&backordered),
                }),
            });
        }
        FulfillmentChange::Request { id, action, reason } => {
            let fo = find(order, id)?;
            let next = request_transition(fo.request_status, fo.status, *action)?;
            match action {
                RequestAction::Submit | RequestAction::Accept => {
                    let mut w = keep(fo, fo.lines.clone());
                    w.request_status = Some(next);
                    plan.writes.push(w);
                    plan.events.push(EventRow {
                        kind: if *action == RequestAction::Submit {
                            "fulfillment_order.submitted"
                        } else {
                            "fulfillment_order.accepted"
                        },
                        data: serde_json::json!({"number": order.number, "fulfillment_order": id, "location": fo.location}),
                    });
                }
                RequestAction::Reject => {
                    let reason = reason
                        .as_deref()
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .ok_or_else(|| {
                            Problem::invalid("reason", "say why the request is rejected")
                        })?;
                    reject(order, fo, reason, next, ctx, &mut plan)?;
                }
            }
        }
    }
    // A split divides work the location already took on for this order; only a move or a
    // re-route gives a location another order to handle today.
    if !matches!(change, FulfillmentChange::Split { .. }) {
        count_capacity(&mut plan, ctx);
    }
    Ok(plan)
}

fn per_sku(lines: &[FulfillmentLine]) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = Vec::new();
    for l in lines {
        match out.iter_mut().find(|(s, _)| *s == l.sku) {
            Some((_, q)) => *q += l.quantity,
            None => out.push((l.sku.clone(), l.quantity)),
        }
    }
    out
}

/// A rejected request gives its units back and routes them again with the same engine
/// as capture, never to a location that has rejected part of this order.
fn reject(
    order: &Order,
    fo: &FulfillmentOrder,
    reason: &str,
    rejected: RequestStatus,
    ctx: &FulfillmentContext<'_>,
    plan: &mut FulfillmentPlan,
) -> Result<(), Problem> {
    let mut excluded = rejected_locations(order);
    excluded.push(&fo.location);
    plan.writes.push(close(
        fo,
        FulfillmentStatus::Cancelled,
        Some(rejected),
        reason.to_string(),
    ));
    for l in &fo.lines {
        plan.stock.push(StockDelta::allocated(
            l.sku.clone(),
            fo.location.clone(),
            -l.quantity,
        ));
    }
    let (rerouted, backordered) = reroute(order, fo, &fo.lines, &excluded, ctx, plan)?;
    plan.events.push(EventRow {
        kind: "fulfillment_order.rejected",
        data: serde_json::json!({
            "number": order.number, "fulfillment_order": fo.id, "location": fo.location,
            "reason": reason, "rerouted": rerouted, "backordered": lines_json(&backordered),
        }),
    });
    Ok(())
}

/// Locations that rejected a request of this order; its units never go back there.
fn rejected_locations(order: &Order) -> Vec<&str> {
    order
        .fulfillment_orders
        .iter()
        .filter(|f| f.request_status == Some(RequestStatus::Rejected))
        .map(|f| f.location.as_str())
        .collect()
}

/// Routes some units of an order with the same engine, profiles and rules as capture,
/// never to `excluded`. Returns the lines per chosen location (in location order) and
/// what no location could take.
fn route_lines(
    order: &Order,
    lines: &[FulfillmentLine],
    excluded: &[&str],
    ctx: &FulfillmentContext<'_>,
) -> (Vec<(String, Vec<FulfillmentLine>)>, Vec<FulfillmentLine>) {
    let mut request = request_for_order(
        order,
        ctx.channel,
        SplitPolicy::of_channel(ctx.channel),
        |sku| ctx.products.get(sku).cloned(),
    );
    let template: Vec<RouteLine> = request.lines.clone();
    request.lines = lines
        .iter()
        .map(|l| {
            let mut line = template
                .get((l.line_no - 1) as usize)
                .cloned()
                .unwrap_or_else(|| RouteLine::new(l.sku.clone(), l.quantity));
            line.quantity = l.quantity;
            line
        })
        .collect();
    let mut profiles = location_profiles(ctx.locations, ctx.orders_today);
    profiles.retain(|p| !excluded.contains(&p.code.as_str()));
    let decision =
        Router::new(CostModel::default()).decide(&request, &profiles, ctx.stock, ctx.rules);
    let mut by_location: Vec<(String, Vec<FulfillmentLine>)> = Vec::new();
    let mut backordered = Vec::new();
    for (l, routed) in lines.iter().zip(&decision.lines) {
        for a in &routed.allocations {
            let entry = match by_location.iter().position(|(c, _)| *c == a.location) {
                Some(i) => &mut by_location[i].1,
                None => {
                    by_location.push((a.location.clone(), Vec::new()));
                    &mut by_location.last_mut().expect("just pushed").1
                }
            };
            entry.push(FulfillmentLine {
                line_no: l.line_no,
                sku: l.sku.clone(),
                quantity: a.quantity,
            });
        }
        if routed.backordered > 0 {
            backordered.push(FulfillmentLine {
                quantity: routed.backordered,
                ..l.clone()
            });
        }
    }
    by_location.sort_by(|a, b| a.0.cmp(&b.0));
    (by_location, backordered)
}

/// What an order still waits for, routed again now that stock has appeared: the units go
/// to the order's open fulfillment order at each chosen location, or a new one. Empty when
/// the order is cancelled, waits for nothing, or nothing can be routed yet.
pub fn plan_backorder_routing(order: &Order, ctx: &FulfillmentContext<'_>) -> FulfillmentPlan {
    let mut plan = FulfillmentPlan::default();
    if order.status == ordo_domain::order::OrderStatus::Cancelled {
        return plan;
    }
    let waiting: Vec<FulfillmentLine> = order
        .lines
        .iter()
        .filter(|l| l.backordered > 0)
        .map(|l| FulfillmentLine {
            line_no: l.line_no,
            sku: l.sku.clone(),
            quantity: l.backordered,
        })
        .collect();
    if waiting.is_empty() {
        return plan;
    }
    let (routed, _) = route_lines(order, &waiting, &rejected_locations(order), ctx);
    if routed.is_empty() {
        return plan;
    }
    let number = parse_order_number(&order.number).unwrap_or(0);
    let on_hold = order.status == ordo_domain::order::OrderStatus::OnHold;
    let mut next = next_fo_no(order);
    let mut granted: HashMap<i32, i64> = HashMap::new();
    let mut grants = Vec::new();
    for (code, lines) in routed {
        let Some(location) = ctx.locations.iter().find(|l| l.code == code) else {
            continue;
        };
        for l in &lines {
            plan.stock.push(StockDelta::allocated(
                l.sku.clone(),
                code.clone(),
                l.quantity,
            ));
            plan.line_allocated.push((l.line_no, l.quantity));
            *granted.entry(l.line_no).or_default() += l.quantity;
            grants.push((l.sku.clone(), code.clone(), l.quantity));
        }
        let existing = order
            .fulfillment_orders
            .iter()
            .filter(|f| f.location == code && f.status.is_editable())
            .min_by_key(|f| fo_no(&f.id));
        match existing {
            Some(fo) => {
                let merged = merge_lines([fo.lines.as_slice(), lines.as_slice()]);
                plan.writes.push(keep(fo, merged));
            }
            None => {
                plan.writes.push(new_fo(next, location, on_hold, lines));
                next += 1;
            }
        }
    }
    let allocated: i64 = order
        .lines
        .iter()
        .map(|l| l.allocated + granted.get(&l.line_no).copied().unwrap_or(0))
        .sum();
    let units: i64 = order.lines.iter().map(|l| l.quantity).sum();
    let fill = ordo_domain::order::OrderStatus::from_fill(allocated, units);
    for (sku, location, quantity) in grants {
        plan.events.push(EventRow {
            kind: "order.reallocated",
            data: crate::capture::line_stock_event(number, &sku, &location, quantity, fill),
        });
    }
    count_capacity(&mut plan, ctx);
    plan
}

/// Routes units taken from `fo` again, as new fulfillment orders elsewhere; what no
/// location can take goes back to waiting. Returns the new placements and the backorder,
/// for the event.
fn reroute(
    order: &Order,
    fo: &FulfillmentOrder,
    lines: &[FulfillmentLine],
    excluded: &[&str],
    ctx: &FulfillmentContext<'_>,
    plan: &mut FulfillmentPlan,
) -> Result<(Vec<serde_json::Value>, Vec<FulfillmentLine>), Problem> {
    let (routed, backordered) = route_lines(order, lines, excluded, ctx);
    for l in &backordered {
        plan.line_allocated.push((l.line_no, -l.quantity));
    }
    let on_hold = order.status == ordo_domain::order::OrderStatus::OnHold;
    let mut rerouted = Vec::new();
    for (next, (code, lines)) in (next_fo_no(order)..).zip(routed) {
        let location = ctx
            .locations
            .iter()
            .find(|l| l.code == code)
            .ok_or_else(|| Problem::conflict(format!("location {code} vanished")))?;
        for l in &lines {
            plan.stock.push(StockDelta::allocated(
                l.sku.clone(),
                code.clone(),
                l.quantity,
            ));
        }
        rerouted.push(serde_json::json!({
            "fulfillment_order": ordo_domain::fulfillment::fulfillment_order_id(
                parse_fulfillment_order_id(&fo.id).map_or(0, |x| x.0), next),
            "location": code, "lines": lines_json(&lines),
        }));
        plan.writes.push(new_fo(next, location, on_hold, lines));
    }
    Ok((rerouted, backordered))
}
