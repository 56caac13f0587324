//! Write commands, run on the writer thread inside a savepoint of the current batch.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ordo_domain::Problem;
use ordo_domain::allocation::StockView;
use ordo_domain::catalog::{Channel, Location, Product};
use ordo_domain::error::Errors;
use ordo_domain::inventory::{Balance, Reason, StockState, StockWrite, plan_write};
use ordo_domain::order::{
    HoldReason, Order, OrderStatus, Transition, order_number, transition as next_status,
};
use ordo_store::*;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::internal;
use crate::reads::{self, load_balance};
use crate::writer::{CustomerRow, SkuState, Writer};

fn now() -> OffsetDateTime {
    to_micros(OffsetDateTime::now_utc())
}

fn idempotent_replay<T>(conn: &Connection, ctx: &WriteContext) -> Result<Option<Outcome<T>>> {
    let Some(key) = &ctx.idempotency_key else {
        return Ok(None);
    };
    let found: Option<(u16, String)> = conn
        .prepare_cached("SELECT status, body FROM idempotency_keys WHERE key = ?1")
        .map_err(internal)?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(internal)?;
    Ok(found.map(|(status, body)| Outcome::Replayed { status, body }))
}

fn remember<T: serde::Serialize>(
    conn: &Connection,
    ctx: &WriteContext,
    status: u16,
    value: &T,
) -> Result<()> {
    if let Some(key) = &ctx.idempotency_key {
        let body = serde_json::to_string(value).map_err(internal)?;
        conn.prepare_cached(
            "INSERT INTO idempotency_keys (key, status, body, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(internal)?
        .execute(params![key, status, body, format_time(now())])
        .map_err(internal)?;
    }
    Ok(())
}

pub(crate) fn append_event(
    conn: &Connection,
    kind: &str,
    order_number: Option<i64>,
    actor: &str,
    at: &str,
    data: &serde_json::Value,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO events (at, kind, order_number, actor, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(internal)?
    .execute(params![at, kind, order_number, actor, data.to_string()])
    .map_err(internal)?;
    Ok(())
}

/// Applies one state change to a balance and records it in the ledger.
fn apply_change(
    conn: &Connection,
    sku: &str,
    location: &str,
    balance: &mut Balance,
    state: StockState,
    delta: i64,
    reason: Reason,
    reference: Option<&str>,
    actor: &str,
    at: &str,
) -> Result<Movement> {
    let update = match state {
        StockState::OnHand => {
            "UPDATE balances SET on_hand = on_hand + ?1 WHERE sku = ?2 AND location = ?3"
        }
        StockState::Allocated => {
            "UPDATE balances SET allocated = allocated + ?1 WHERE sku = ?2 AND location = ?3"
        }
        StockState::Damaged => {
            "UPDATE balances SET damaged = damaged + ?1 WHERE sku = ?2 AND location = ?3"
        }
        StockState::QualityControl => {
            "UPDATE balances SET quality_control = quality_control + ?1 WHERE sku = ?2 AND location = ?3"
        }
        StockState::SafetyStock => {
            "UPDATE balances SET safety_stock = safety_stock + ?1 WHERE sku = ?2 AND location = ?3"
        }
        StockState::Incoming => {
            "UPDATE balances SET incoming = incoming + ?1 WHERE sku = ?2 AND location = ?3"
        }
    };
    let changed = conn
        .prepare_cached(update)
        .map_err(internal)?
        .execute(params![delta, sku, location])
        .map_err(internal)?;
    if changed != 1 {
        return Err(StoreError::Internal(format!(
            "no balance row for {sku} at {location}"
        )));
    }
    let before = balance.get(state);
    *balance.slot(state) += delta;
    let after = balance.get(state);
    conn.prepare_cached(
        "INSERT INTO movements (at, sku, location, state, delta, before, after, reason, reference, actor) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .map_err(internal)?
    .execute(params![at, sku, location, state.as_str(), delta, before, after, reason.as_str(), reference, actor])
    .map_err(internal)?;
    Ok(Movement {
        seq: conn.last_insert_rowid(),
        at: parse_time(at).map_err(internal)?,
        sku: sku.into(),
        location: location.into(),
        state: state.as_str().into(),
        delta,
        before,
        after,
        reason: reason.as_str().into(),
        reference: reference.map(str::to_string),
        actor: actor.into(),
    })
}

fn ensure_balance_row(conn: &Connection, sku: &str, location: &str) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO balances (sku, location) VALUES (?1, ?2)")
        .map_err(internal)?
        .execute(params![sku, location])
        .map_err(internal)?;
    Ok(())
}

struct Balances(HashMap<(String, String), Balance>);

impl StockView for Balances {
    fn available(&self, sku: &str, location: &str) -> i64 {
        // Lookups by borrowed pair without allocating: scan is fine for the handful of rows loaded per order.
        self.0
            .iter()
            .find(|((s, l), _)| s == sku && l == location)
            .map_or(0, |(_, b)| b.available())
    }
}

/// What the writer decided about an order. A new order's API view is built by the caller,
/// off the write path, unless an idempotency key needs its body stored in the transaction.
pub(crate) enum Captured {
    Ready(Outcome<Created<Order>>),
    New(PlannedCapture),
}

pub(crate) fn capture(
    w: &mut Writer,
    prepared: &PreparedOrder,
    ctx: &WriteContext,
) -> Result<Captured> {
    let order = &prepared.order;
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(Captured::Ready(replay));
    }
    let existing: Option<i64> = w
        .conn
        .prepare_cached("SELECT number FROM orders WHERE channel = ?1 AND external_id = ?2")
        .map_err(internal)?
        .query_row(params![order.channel, order.external_id], |r| r.get(0))
        .optional()
        .map_err(internal)?;
    if let Some(number) = existing {
        let stored = reads::load_order(&w.conn, number)?;
        w.unguarded = true;
        remember(&w.conn, ctx, 200, &stored)?;
        return Ok(Captured::Ready(Outcome::Done(Created {
            value: stored,
            created: false,
        })));
    }

    let catalog = w.catalog()?;
    let Some(channel) = catalog.channels.get(&order.channel) else {
        return Err(
            Problem::invalid("channel", format!("unknown channel '{}'", order.channel)).into(),
        );
    };
    if !channel.active {
        return Err(Problem::invalid(
            "channel",
            format!("channel '{}' is inactive", order.channel),
        )
        .into());
    }
    let mut errors = Errors::default();
    let mut products: HashMap<String, Product> = HashMap::new();
    for (i, line) in order.lines.iter().enumerate() {
        if order.is_unmapped(i) {
            // Held until mapped: the channel's reference names no product.
            continue;
        }
        if !w.hot.skus.contains_key(&line.sku)
            && let Some(state) = load_sku(&w.conn, &line.sku, catalog.needs_products)?
        {
            w.hot.skus.insert(line.sku.clone(), state);
        }
        match w.hot.skus.get(&line.sku) {
            None => errors.add(
                format!("lines[{i}].sku"),
                format!("unknown SKU '{}'", line.sku),
            ),
            Some(state) if !state.active => errors.add(
                format!("lines[{i}].sku"),
                format!("product '{}' is inactive", line.sku),
            ),
            Some(state) => {
                if let Some(p) = &state.product
                    && !products.contains_key(&line.sku)
                {
                    products.insert(line.sku.clone(), p.clone());
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(Problem::Invalid(errors.0).into());
    }

    let number = w.take_order_number()?;
    let at = now();
    let orders_today = if catalog.has_capacity {
        reads::orders_today(&w.conn, &catalog.locations, at)?
    } else {
        HashMap::new()
    };
    let routing = RoutingContext {
        channel,
        locations: &catalog.locations,
        rules: &catalog.rules,
        orders_today: &orders_today,
        products: &products,
    };
    let plan = plan_prepared(
        prepared,
        number,
        Uuid::now_v7(),
        at,
        &routing,
        &HotStock(&w.hot.skus),
    );
    let conn = &w.conn;
    let hot = &mut w.hot;
    let at_text = format_time(at);
    let reference = format!("order:{}", order_number(number));

    w.unguarded = true;
    let customer_id = upsert_customer(conn, &mut hot.customers, &order.customer, &at_text)?;
    let h = &plan.header;
    conn.prepare_cached(
        "INSERT INTO orders (number, id, channel, external_id, status, fill_status, hold_reason, cancel_reason, placed_at, \
         created_at, updated_at, customer_id, email, ship_country, currency, priority, total, units, doc) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, ?8, ?9, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )
    .map_err(internal)?
    .execute(params![
        h.number,
        h.id.to_string(),
        h.channel,
        h.external_id,
        h.status.as_str(),
        h.fill_status.as_str(),
        h.hold_reason.map(HoldReason::as_str),
        format_time(h.placed_at),
        at_text,
        customer_id,
        h.email,
        h.ship_country,
        h.currency,
        h.priority,
        h.total,
        h.units,
        h.doc
    ])
    .map_err(internal)?;
    {
        let mut insert_line = conn
            .prepare_cached(
                "INSERT INTO order_lines (order_number, line_no, sku, quantity, unit_price, discount, tax, allocated, backordered) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(internal)?;
        for l in &plan.lines {
            insert_line
                .execute(params![
                    number,
                    l.line_no,
                    l.sku,
                    l.quantity,
                    l.unit_price,
                    l.discount,
                    l.tax,
                    l.allocated,
                    l.backordered
                ])
                .map_err(internal)?;
        }
    }
    for f in &plan.fulfillment {
        insert_fulfillment(conn, number, f)?;
    }
    for (location, day) in &plan.capacity_used {
        count_routed(conn, location, *day)?;
    }
    for a in &plan.allocations {
        conn.prepare_cached("INSERT INTO allocations (order_number, fo_no, line_no, location, quantity) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(internal)?
            .execute(params![number, a.fo_no, a.line_no, a.location, a.quantity])
            .map_err(internal)?;
        let balance = hot
            .skus
            .get_mut(&a.sku)
            .and_then(|s| s.balance_mut(&a.location))
            .ok_or_else(|| StoreError::Internal("allocation without a balance".into()))?;
        apply_change(
            conn,
            &a.sku,
            &a.location,
            balance,
            StockState::Allocated,
            a.quantity,
            Reason::Allocation,
            Some(&reference),
            &ctx.actor,
            &at_text,
        )?;
    }
    for e in &plan.events {
        append_event(conn, e.kind, Some(number), &ctx.actor, &at_text, &e.data)?;
    }
    if ctx.idempotency_key.is_some() {
        let stored = plan.to_order(prepared.doc.clone());
        remember(conn, ctx, 201, &stored)?;
        return Ok(Captured::Ready(Outcome::Done(Created {
            value: stored,
            created: true,
        })));
    }
    Ok(Captured::New(plan))
}

fn insert_fulfillment(conn: &Connection, number: i64, f: &FulfillmentRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO fulfillment_orders (order_number, fo_no, location, status, request_status, reason, closed_lines, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .map_err(internal)?
    .execute(params![
        number,
        f.fo_no,
        f.location,
        f.status.as_str(),
        f.request_status.map(|r| r.as_str()),
        f.reason,
        f.closed_lines,
        format_time(f.created_at),
        format_time(f.updated_at)
    ])
    .map_err(internal)?;
    Ok(())
}

/// One more fulfillment order routed to `location` on its local `day`.
fn count_routed(conn: &Connection, location: &str, day: time::Date) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO location_day_counts (location, day, orders) VALUES (?1, ?2, 1) \
         ON CONFLICT (location) DO UPDATE SET orders = CASE WHEN day = excluded.day THEN orders + 1 ELSE 1 END, day = excluded.day",
    )
    .map_err(internal)?
    .execute(params![location, day.to_string()])
    .map_err(internal)?;
    Ok(())
}

/// Finds the customer by email, creating them on first sight. The row is rewritten only
/// when the order brings a new name or phone: returning customers cost a lookup (in
/// `known` when the writer has seen them lately), not a write.
fn upsert_customer(
    conn: &Connection,
    known: &mut HashMap<String, CustomerRow>,
    customer: &ordo_domain::order::Customer,
    at: &str,
) -> Result<i64> {
    if !known.contains_key(&customer.email) {
        let found: Option<CustomerRow> = conn
            .prepare_cached("SELECT id, name, phone FROM customers WHERE email = ?1")
            .map_err(internal)?
            .query_row([&customer.email], |r| {
                Ok(CustomerRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    phone: r.get(2)?,
                })
            })
            .optional()
            .map_err(internal)?;
        if let Some(row) = found {
            known.insert(customer.email.clone(), row);
        }
    }
    match known.get_mut(&customer.email) {
        Some(row) => {
            let changed = |new: &Option<String>, old: &Option<String>| new.is_some() && new != old;
            if changed(&customer.name, &row.name) || changed(&customer.phone, &row.phone) {
                conn.prepare_cached(
                    "UPDATE customers SET name = COALESCE(?1, name), phone = COALESCE(?2, phone) WHERE id = ?3",
                )
                .map_err(internal)?
                .execute(params![customer.name, customer.phone, row.id])
                .map_err(internal)?;
                if customer.name.is_some() {
                    row.name.clone_from(&customer.name);
                }
                if customer.phone.is_some() {
                    row.phone.clone_from(&customer.phone);
                }
            }
            Ok(row.id)
        }
        None => {
            conn.prepare_cached(
                "INSERT INTO customers (email, name, phone, created_at) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(internal)?
            .execute(params![customer.email, customer.name, customer.phone, at])
            .map_err(internal)?;
            let id = conn.last_insert_rowid();
            known.insert(
                customer.email.clone(),
                CustomerRow {
                    id,
                    name: customer.name.clone(),
                    phone: customer.phone.clone(),
                },
            );
            Ok(id)
        }
    }
}

/// A product and its balances as capture needs them; `None` for an unknown SKU.
fn load_sku(conn: &Connection, sku: &str, with_product: bool) -> Result<Option<SkuState>> {
    let found: Option<(bool, Option<String>)> = conn
        .prepare_cached(if with_product {
            "SELECT active, doc FROM products WHERE sku = ?1"
        } else {
            "SELECT active, NULL FROM products WHERE sku = ?1"
        })
        .map_err(internal)?
        .query_row([sku], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(internal)?;
    let Some((active, doc)) = found else {
        return Ok(None);
    };
    let product = match doc {
        Some(doc) => Some(serde_json::from_str(&doc).map_err(internal)?),
        None => None,
    };
    let mut statement = conn
        .prepare_cached(
            "SELECT location, on_hand, allocated, damaged, quality_control, safety_stock, incoming \
             FROM balances WHERE sku = ?1",
        )
        .map_err(internal)?;
    let balances = statement
        .query_map([sku], |r| {
            Ok((r.get::<_, String>(0)?, reads::balance_from(r, 1)?))
        })
        .map_err(internal)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(internal)?;
    Ok(Some(SkuState {
        active,
        product,
        balances,
    }))
}

/// Stock as capture sees it: the writer's hot state.
struct HotStock<'a>(&'a HashMap<String, SkuState>);

impl StockView for HotStock<'_> {
    fn available(&self, sku: &str, location: &str) -> i64 {
        self.0
            .get(sku)
            .and_then(|s| s.balance(location))
            .map_or(0, Balance::available)
    }
}

pub(crate) fn write_stock(
    w: &mut Writer,
    write: &StockWrite,
    ctx: &WriteContext,
) -> Result<Outcome<StockWriteResult>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let mut errors = Errors::default();
    let known_sku: bool = w
        .conn
        .prepare_cached("SELECT COUNT(*) > 0 FROM products WHERE sku = ?1")
        .map_err(internal)?
        .query_row([&write.sku], |r| r.get(0))
        .map_err(internal)?;
    if !known_sku {
        errors.add("sku", format!("unknown SKU '{}'", write.sku));
    }
    if !w
        .catalog()?
        .locations
        .iter()
        .any(|l| l.code == write.location)
    {
        errors.add("location", format!("unknown location '{}'", write.location));
    }
    if !errors.is_empty() {
        return Err(Problem::Invalid(errors.0).into());
    }
    ensure_balance_row(&w.conn, &write.sku, &write.location)?;
    let mut balance = load_balance(&w.conn, &write.sku, &write.location)?;
    let before = balance;
    let changes = plan_write(&balance, &write.command, write.reason)?;
    let at = format_time(now());
    let mut movements = Vec::with_capacity(changes.len());
    for c in &changes {
        movements.push(apply_change(
            &w.conn,
            &write.sku,
            &write.location,
            &mut balance,
            c.state,
            c.delta,
            write.reason,
            write.reference.as_deref(),
            &ctx.actor,
            &at,
        )?);
    }
    let mut shorted = Vec::new();
    let mut reallocated = Vec::new();
    if balance.available() < 0 {
        shorted = release_shortage(w, &write.sku, &write.location, &ctx.actor, &at)?;
        // Shorted lines may find the units at other locations.
        let others: Vec<String> = reads::locations_with_available(&w.conn, &write.sku)?;
        for location in others.iter().filter(|l| **l != write.location) {
            reallocated.extend(reallocate(w, &write.sku, location, &ctx.actor, &at)?);
        }
    } else if balance.available() > before.available() {
        reallocated = reallocate(w, &write.sku, &write.location, &ctx.actor, &at)?;
    }
    let balance = load_balance(&w.conn, &write.sku, &write.location)?;
    append_event(
        &w.conn,
        "inventory.changed",
        None,
        &ctx.actor,
        &at,
        &serde_json::json!({
            "sku": write.sku, "location": write.location, "reason": write.reason.as_str(),
            "reference": write.reference, "on_hand": balance.on_hand, "allocated": balance.allocated,
            "available": balance.available(),
        }),
    )?;
    let result = StockWriteResult {
        balance: BalanceRow::new(write.sku.clone(), write.location.clone(), balance),
        movements,
        reallocated_orders: reallocated,
        shorted_orders: shorted,
    };
    remember(&w.conn, ctx, 201, &result)?;
    Ok(Outcome::Done(result))
}

/// Recomputes an order's allocation state after its lines changed.
fn refresh_fill(conn: &Connection, number: i64, at: &str) -> Result<OrderStatus> {
    let (allocated, shipped, quantity, status, delivered): (i64, i64, i64, String, bool) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(l.allocated), 0), COALESCE(SUM(l.shipped), 0), COALESCE(SUM(l.quantity), 0), o.status, \
             EXISTS (SELECT 1 FROM shipments s WHERE s.order_number = o.number AND s.status = 'delivered') \
             AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.order_number = o.number AND s.status NOT IN ('delivered', 'voided')) \
             FROM orders o LEFT JOIN order_lines l ON l.order_number = o.number WHERE o.number = ?1",
        )
        .map_err(internal)?
        .query_row([number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .map_err(internal)?;
    let fill = OrderStatus::progress(allocated, shipped, quantity, delivered);
    let status = OrderStatus::parse(&status).unwrap_or(fill);
    let new_status = if matches!(status, OrderStatus::OnHold | OrderStatus::Cancelled) {
        status
    } else {
        fill
    };
    conn.prepare_cached(
        "UPDATE orders SET fill_status = ?1, status = ?2, updated_at = ?3 WHERE number = ?4",
    )
    .map_err(internal)?
    .execute(params![fill.as_str(), new_status.as_str(), at, number])
    .map_err(internal)?;
    Ok(fill)
}

/// Fulfillment orders left without units by a shortage are cancelled.
fn close_emptied_fulfillment(conn: &Connection, number: i64, reason: &str, at: &str) -> Result<()> {
    conn.prepare_cached(
        "UPDATE fulfillment_orders SET status = 'cancelled', reason = ?2, updated_at = ?3 \
         WHERE order_number = ?1 AND status IN ('open', 'on_hold') AND NOT EXISTS \
         (SELECT 1 FROM allocations a WHERE a.order_number = fulfillment_orders.order_number AND a.fo_no = fulfillment_orders.fo_no)",
    )
    .map_err(internal)?
    .execute(params![number, reason, at])
    .map_err(internal)?;
    Ok(())
}

/// Stock appeared at (sku, location): the orders waiting for that SKU, higher priority
/// first, then oldest, have what they still wait for routed again by the engine, with this
/// location as the only source and the same rules, limits and profiles as capture (so an
/// excluded location, a full day, a class it cannot ship or a never-split order keeps
/// waiting), until the units there are gone. Returns the numbers of the orders served.
pub(crate) fn reallocate(
    w: &mut Writer,
    sku: &str,
    location: &str,
    actor: &str,
    at: &str,
) -> Result<Vec<String>> {
    if load_balance(&w.conn, sku, location)?.available() <= 0 {
        return Ok(vec![]);
    }
    let numbers = reads::waiting_orders(&w.conn, sku, location)?;
    let catalog = w.catalog()?;
    let now_time = parse_time(at).map_err(internal)?;
    let mut touched = Vec::new();
    for number in numbers {
        if load_balance(&w.conn, sku, location)?.available() <= 0 {
            break;
        }
        let order = reads::load_order(&w.conn, number)?;
        let Some(channel) = catalog.channels.get(&order.channel) else {
            continue;
        };
        let (mut stock, products) = load_routing_state(w, &catalog, &order)?;
        // The units that appeared here are what is on offer: the engine may place the
        // order's waiting units at this location only, under every rule and limit.
        stock.0.retain(|(_, l), _| l == location);
        let orders_today = if catalog.has_capacity {
            reads::orders_today(&w.conn, &catalog.locations, now_time)?
        } else {
            HashMap::new()
        };
        let plan = plan_backorder_routing(
            &order,
            &FulfillmentContext {
                channel,
                locations: &catalog.locations,
                rules: &catalog.rules,
                orders_today: &orders_today,
                products: &products,
                stock: &stock,
                now: now_time,
            },
        );
        if plan.writes.is_empty() {
            continue;
        }
        let reference = format!("order:{}", order_number(number));
        apply_plan(&w.conn, number, &plan, &mut stock, &reference, actor, at)?;
        touched.push(order_number(number));
    }
    Ok(touched)
}

/// The balances of an order's SKUs at every location, and their product records when
/// routing needs them.
fn load_routing_state(
    w: &Writer,
    catalog: &crate::writer::Catalog,
    order: &Order,
) -> Result<(Balances, HashMap<String, Product>)> {
    let mut stock = Balances(HashMap::new());
    let mut products: HashMap<String, Product> = HashMap::new();
    let mut skus: Vec<&str> = order.lines.iter().map(|l| l.sku.as_str()).collect();
    skus.sort();
    skus.dedup();
    let mut balances = w
        .conn
        .prepare_cached(
            "SELECT location, on_hand, allocated, damaged, quality_control, safety_stock, incoming \
             FROM balances WHERE sku = ?1",
        )
        .map_err(internal)?;
    for sku in skus {
        let rows = balances
            .query_map([sku], |r| {
                Ok((r.get::<_, String>(0)?, reads::balance_from(r, 1)?))
            })
            .map_err(internal)?;
        for row in rows {
            let (location, balance) = row.map_err(internal)?;
            stock.0.insert((sku.to_string(), location), balance);
        }
        if catalog.needs_products
            && let Some(p) =
                reads::get_doc::<Product>(&w.conn, "SELECT doc FROM products WHERE sku = ?1", sku)?
        {
            products.insert(sku.to_string(), p);
        }
    }
    Ok((stock, products))
}

/// A count proved units missing that orders were promised: take the allocations of the
/// lowest-priority, newest orders back until nothing is over-promised, and flag those orders.
fn release_shortage(
    w: &mut Writer,
    sku: &str,
    location: &str,
    actor: &str,
    at: &str,
) -> Result<Vec<String>> {
    let conn = &w.conn;
    let mut balance = load_balance(conn, sku, location)?;
    let victims: Vec<(i64, i32, i64, i32)> = {
        let mut stmt = conn
            .prepare_cached(
                "SELECT a.order_number, a.line_no, a.quantity, a.fo_no FROM allocations a \
                 JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no \
                 JOIN orders o ON o.number = a.order_number \
                 WHERE l.sku = ?1 AND a.location = ?2 ORDER BY o.priority ASC, o.placed_at DESC, o.number DESC, a.line_no DESC, a.fo_no DESC",
            )
            .map_err(internal)?;
        let rows = stmt
            .query_map(params![sku, location], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(internal)?;
        rows.collect::<rusqlite::Result<_>>().map_err(internal)?
    };
    let mut shorted = Vec::new();
    for (number, line_no, quantity, fo_no) in victims {
        let deficit = -balance.available();
        if deficit <= 0 {
            break;
        }
        let q = quantity.min(deficit);
        let reference = format!("order:{}", order_number(number));
        conn.prepare_cached(
            "UPDATE allocations SET quantity = quantity - ?1 WHERE order_number = ?2 AND fo_no = ?3 AND line_no = ?4",
        )
        .map_err(internal)?
        .execute(params![q, number, fo_no, line_no])
        .map_err(internal)?;
        conn.prepare_cached("DELETE FROM allocations WHERE quantity = 0 AND order_number = ?1")
            .map_err(internal)?
            .execute([number])
            .map_err(internal)?;
        close_emptied_fulfillment(conn, number, "stock shortage", at)?;
        conn.prepare_cached(
            "UPDATE order_lines SET allocated = allocated - ?1, backordered = backordered + ?1 WHERE order_number = ?2 AND line_no = ?3",
        )
        .map_err(internal)?
        .execute(params![q, number, line_no])
        .map_err(internal)?;
        apply_change(
            conn,
            sku,
            location,
            &mut balance,
            StockState::Allocated,
            -q,
            Reason::Deallocation,
            Some(&reference),
            actor,
            at,
        )?;
        let fill = refresh_fill(conn, number, at)?;
        append_event(
            conn,
            "order.stock_shortage",
            Some(number),
            actor,
            at,
            &line_stock_event(number, sku, location, q, fill),
        )?;
        shorted.push(order_number(number));
    }
    Ok(shorted)
}

pub(crate) fn transition(
    w: &mut Writer,
    key: &str,
    change: &OrderChange,
    ctx: &WriteContext,
) -> Result<Outcome<Order>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let Some(number) = reads::resolve_order(&w.conn, key)? else {
        return Err(Problem::NotFound(format!("order {key}")).into());
    };
    let (status, fill): (String, String) = w
        .conn
        .query_row(
            "SELECT status, fill_status FROM orders WHERE number = ?1",
            [number],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(internal)?;
    let status = OrderStatus::parse(&status).ok_or_else(|| internal("bad status"))?;
    let fill = OrderStatus::parse(&fill).ok_or_else(|| internal("bad fill status"))?;
    let next = next_status(status, fill, change.transition)?;
    let at = format_time(now());
    let num = order_number(number);
    match change.transition {
        Transition::Hold => {
            let reason = change.hold_reason.unwrap_or(HoldReason::Manual);
            w.conn
                .execute(
                    "UPDATE orders SET status = ?1, hold_reason = ?2, updated_at = ?3 WHERE number = ?4",
                    params![next.as_str(), reason.as_str(), at, number],
                )
                .map_err(internal)?;
            w.conn
                .execute(
                    "UPDATE fulfillment_orders SET status = 'on_hold', updated_at = ?1 WHERE order_number = ?2 AND status = 'open'",
                    params![at, number],
                )
                .map_err(internal)?;
            append_event(
                &w.conn,
                "order.held",
                Some(number),
                &ctx.actor,
                &at,
                &serde_json::json!({"number": num, "reason": reason.as_str(), "note": change.note}),
            )?;
        }
        Transition::Release => {
            w.conn
                .execute(
                    "UPDATE orders SET status = ?1, hold_reason = NULL, updated_at = ?2 WHERE number = ?3",
                    params![next.as_str(), at, number],
                )
                .map_err(internal)?;
            w.conn
                .execute(
                    "UPDATE fulfillment_orders SET status = 'open', updated_at = ?1 WHERE order_number = ?2 AND status = 'on_hold'",
                    params![at, number],
                )
                .map_err(internal)?;
            append_event(
                &w.conn,
                "order.released",
                Some(number),
                &ctx.actor,
                &at,
                &serde_json::json!({"number": num, "note": change.note}),
            )?;
        }
        Transition::Cancel => {
            let released: Vec<(i32, String, String, i64)> = {
                let mut stmt = w
                    .conn
                    .prepare_cached(
                        "SELECT a.line_no, l.sku, a.location, a.quantity FROM allocations a \
                         JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no \
                         WHERE a.order_number = ?1 ORDER BY l.sku, a.location",
                    )
                    .map_err(internal)?;
                let rows = stmt
                    .query_map([number], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .map_err(internal)?;
                rows.collect::<rusqlite::Result<_>>().map_err(internal)?
            };
            let reference = format!("order:{num}");
            for (_, sku, location, q) in &released {
                let mut balance = load_balance(&w.conn, sku, location)?;
                apply_change(
                    &w.conn,
                    sku,
                    location,
                    &mut balance,
                    StockState::Allocated,
                    -q,
                    Reason::Deallocation,
                    Some(&reference),
                    &ctx.actor,
                    &at,
                )?;
            }
            // What each fulfillment order held stays on record after its allocations go.
            w.conn
                .execute(
                    "UPDATE fulfillment_orders SET status = 'cancelled', reason = 'order cancelled', updated_at = ?2, \
                     closed_lines = (SELECT json_group_array(json_object('line_no', a.line_no, 'sku', l.sku, 'quantity', a.quantity)) \
                       FROM allocations a JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no \
                       WHERE a.order_number = fulfillment_orders.order_number AND a.fo_no = fulfillment_orders.fo_no) \
                     WHERE order_number = ?1 AND status NOT IN ('shipped', 'cancelled')",
                    params![number, at],
                )
                .map_err(internal)?;
            w.conn
                .execute("DELETE FROM allocations WHERE order_number = ?1", [number])
                .map_err(internal)?;
            w.conn
                .execute(
                    "UPDATE order_lines SET allocated = 0, backordered = 0 WHERE order_number = ?1",
                    [number],
                )
                .map_err(internal)?;
            w.conn
                .execute(
                    "UPDATE orders SET status = 'cancelled', cancel_reason = ?1, hold_reason = NULL, updated_at = ?2 WHERE number = ?3",
                    params![change.note, at, number],
                )
                .map_err(internal)?;
            append_event(
                &w.conn,
                "order.cancelled",
                Some(number),
                &ctx.actor,
                &at,
                &serde_json::json!({"number": num, "reason": change.note, "released": released.iter().map(|(_, s, l, q)| serde_json::json!({"sku": s, "location": l, "quantity": q})).collect::<Vec<_>>()}),
            )?;
            let freed: BTreeSet<(String, String)> =
                released.into_iter().map(|(_, s, l, _)| (s, l)).collect();
            for (sku, location) in freed {
                reallocate(w, &sku, &location, &ctx.actor, &at)?;
            }
        }
    }
    let order = reads::load_order(&w.conn, number)?;
    remember(&w.conn, ctx, 200, &order)?;
    Ok(Outcome::Done(order))
}

/// Creates or replaces a catalog record and announces it (`{entity}.created` or
/// `{entity}.updated`, with `{key_name}` in the data); returns whether it is new.
fn put_doc<T: serde::Serialize>(
    conn: &Connection,
    (entity, key_name): (&str, &str),
    exists_sql: &str,
    key: &str,
    upsert: &str,
    extra: &[&dyn rusqlite::ToSql],
    value: &T,
    actor: &str,
) -> Result<bool> {
    let existed: bool = conn
        .query_row(exists_sql, [key], |r| r.get(0))
        .map_err(internal)?;
    let doc = serde_json::to_string(value).map_err(internal)?;
    let at = format_time(now());
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&key, &doc, &at];
    params.extend_from_slice(extra);
    conn.execute(upsert, params.as_slice()).map_err(internal)?;
    let kind = format!("{entity}.{}", if existed { "updated" } else { "created" });
    append_event(
        conn,
        &kind,
        None,
        actor,
        &at,
        &serde_json::json!({ key_name: key }),
    )?;
    Ok(!existed)
}

pub(crate) fn put_product(
    w: &mut Writer,
    product: Product,
    actor: &str,
) -> Result<Created<Product>> {
    let created = put_doc(
        &w.conn,
        ("product", "sku"),
        "SELECT COUNT(*) > 0 FROM products WHERE sku = ?1",
        &product.sku,
        "INSERT INTO products (sku, doc, updated_at, active) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (sku) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at, active = excluded.active",
        &[&product.active],
        &product,
        actor,
    )?;
    Ok(Created {
        value: product,
        created,
    })
}

pub(crate) fn put_location(
    w: &mut Writer,
    location: Location,
    actor: &str,
) -> Result<Created<Location>> {
    let created = put_doc(
        &w.conn,
        ("location", "code"),
        "SELECT COUNT(*) > 0 FROM locations WHERE code = ?1",
        &location.code,
        "INSERT INTO locations (code, doc, updated_at, active, priority) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (code) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at, active = excluded.active, priority = excluded.priority",
        &[&location.active, &location.priority],
        &location,
        actor,
    )?;
    w.forget_catalog();
    Ok(Created {
        value: location,
        created,
    })
}

pub(crate) fn put_channel(
    w: &mut Writer,
    channel: Channel,
    actor: &str,
) -> Result<Created<Channel>> {
    let known: Vec<String> = w
        .catalog()?
        .locations
        .iter()
        .map(|l| l.code.clone())
        .collect();
    let mut errors = Errors::default();
    for (i, code) in channel.locations.iter().enumerate() {
        if !known.contains(code) {
            errors.add(
                format!("locations[{i}]"),
                format!("unknown location '{code}'"),
            );
        }
    }
    if !errors.is_empty() {
        return Err(Problem::Invalid(errors.0).into());
    }
    let created = put_doc(
        &w.conn,
        ("channel", "code"),
        "SELECT COUNT(*) > 0 FROM channels WHERE code = ?1",
        &channel.code,
        "INSERT INTO channels (code, doc, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (code) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
        &[],
        &channel,
        actor,
    )?;
    w.forget_catalog();
    Ok(Created {
        value: channel,
        created,
    })
}

pub(crate) fn create_api_key(w: &mut Writer, name: &str, role: Role, hash: &str) -> Result<ApiKey> {
    let at = now();
    w.conn
        .execute(
            "INSERT INTO api_keys (name, role, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, role.as_str(), hash, format_time(at)],
        )
        .map_err(internal)?;
    Ok(ApiKey {
        id: w.conn.last_insert_rowid(),
        name: name.into(),
        role,
        created_at: at,
    })
}

pub(crate) fn create_user(w: &mut Writer, username: &str, role: Role, hash: &str) -> Result<User> {
    let exists: bool = w
        .conn
        .query_row(
            "SELECT COUNT(*) > 0 FROM users WHERE username = ?1",
            [username],
            |r| r.get(0),
        )
        .map_err(internal)?;
    if exists {
        return Err(Problem::Conflict {
            message: format!("user '{username}' already exists"),
            current: None,
        }
        .into());
    }
    w.conn
        .execute(
            "INSERT INTO users (username, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![username, role.as_str(), hash, format_time(now())],
        )
        .map_err(internal)?;
    Ok(User {
        id: w.conn.last_insert_rowid(),
        username: username.into(),
        role,
        disabled: false,
    })
}

pub(crate) fn set_user_disabled(w: &mut Writer, username: &str, disabled: bool) -> Result<bool> {
    let changed = if disabled {
        w.conn
            .execute(
                "UPDATE users SET disabled_at = COALESCE(disabled_at, ?2) WHERE username = ?1",
                params![username, format_time(now())],
            )
            .map_err(internal)?
    } else {
        w.conn
            .execute(
                "UPDATE users SET disabled_at = NULL WHERE username = ?1",
                [username],
            )
            .map_err(internal)?
    };
    if changed > 0 && disabled {
        w.conn
            .execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?1)",
                [username],
            )
            .map_err(internal)?;
    }
    Ok(changed > 0)
}

pub(crate) fn record_login(
    w: &mut Writer,
    user_id: i64,
    success: bool,
    locked_until: Option<OffsetDateTime>,
) -> Result<()> {
    let sql = if success {
        "UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = ?1"
    } else {
        "UPDATE users SET failed_attempts = failed_attempts + 1, locked_until = ?2 WHERE id = ?1"
    };
    let locked = locked_until.map(format_time);
    if success {
        w.conn.execute(sql, [user_id]).map_err(internal)?;
    } else {
        w.conn
            .execute(sql, params![user_id, locked])
            .map_err(internal)?;
    }
    Ok(())
}

pub(crate) fn create_session(w: &mut Writer, s: &NewSession) -> Result<()> {
    let at = now();
    // Expired sessions are swept as new ones are made.
    w.conn
        .execute(
            "DELETE FROM sessions WHERE expires_at < ?1",
            [format_time(at)],
        )
        .map_err(internal)?;
    w.conn
        .execute(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![s.token_hash, s.user_id, s.csrf_token, format_time(at), format_time(s.expires_at)],
        )
        .map_err(internal)?;
    Ok(())
}

pub(crate) fn delete_session(w: &mut Writer, hash: &str) -> Result<()> {
    w.conn
        .execute("DELETE FROM sessions WHERE token_hash = ?1", [hash])
        .map_err(internal)?;
    Ok(())
}

pub(crate) fn put_routing_rules(
    w: &mut Writer,
    rules: &serde_json::Value,
    expected_version: Option<i64>,
    actor: &str,
) -> Result<RuleSet> {
    let current: i64 = w
        .conn
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM routing_rule_sets",
            [],
            |r| r.get(0),
        )
        .map_err(internal)?;
    check_rules_version(current, expected_version)?;
    let at = now();
    let version = current + 1;
    w.conn
        .execute(
            "INSERT INTO routing_rule_sets (version, rules, saved_by, saved_at) VALUES (?1, ?2, ?3, ?4)",
            params![version, rules.to_string(), actor, format_time(at)],
        )
        .map_err(internal)?;
    w.forget_catalog();
    append_event(
        &w.conn,
        "routing.rules_changed",
        None,
        actor,
        &format_time(at),
        &serde_json::json!({"version": version}),
    )?;
    Ok(RuleSet {
        version,
        rules: rules.clone(),
        saved_by: Some(actor.into()),
        saved_at: Some(at),
    })
}

pub(crate) fn change_fulfillment(
    w: &mut Writer,
    change: &FulfillmentChange,
    ctx: &WriteContext,
) -> Result<Outcome<Order>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let number = change.order_number()?;
    let Some(order) = reads::find_order(&w.conn, number)? else {
        return Err(Problem::NotFound(format!("order {}", order_number(number))).into());
    };
    let catalog = w.catalog()?;
    let channel = catalog
        .channels
        .get(&order.channel)
        .ok_or_else(|| internal(format!("channel {} vanished", order.channel)))?;
    let (mut stock, products) = load_routing_state(w, &catalog, &order)?;
    let at = now();
    let orders_today = if catalog.has_capacity {
        reads::orders_today(&w.conn, &catalog.locations, at)?
    } else {
        HashMap::new()
    };
    let plan = plan_fulfillment_change(
        &order,
        change,
        &FulfillmentContext {
            channel,
            locations: &catalog.locations,
            rules: &catalog.rules,
            orders_today: &orders_today,
            products: &products,
            stock: &stock,
            now: at,
        },
    )?;
    let at_text = format_time(at);
    let reference = format!("order:{}", order_number(number));
    let freed = apply_plan(
        &w.conn, number, &plan, &mut stock, &reference, &ctx.actor, &at_text,
    )?;
    for (sku, location) in freed {
        reallocate(w, &sku, &location, &ctx.actor, &at_text)?;
    }
    let order = reads::load_order(&w.conn, number)?;
    remember(&w.conn, ctx, 200, &order)?;
    Ok(Outcome::Done(order))
}

/// Writes a fulfillment plan: headers, their allocations, reservations in the ledger,
/// line figures, events and day counts. Returns the places whose reservations shrank.
fn apply_plan(
    conn: &Connection,
    number: i64,
    plan: &FulfillmentPlan,
    stock: &mut Balances,
    reference: &str,
    actor: &str,
    at_text: &str,
) -> Result<BTreeSet<(String, String)>> {
    for f in &plan.writes {
        let closed = f
            .closed_lines
            .as_ref()
            .map(|l| serde_json::to_string(l).expect("lines serialise"));
        conn.prepare_cached(
            "INSERT INTO fulfillment_orders (order_number, fo_no, location, status, request_status, reason, closed_lines, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8) ON CONFLICT (order_number, fo_no) DO UPDATE SET \
             location = excluded.location, status = excluded.status, request_status = excluded.request_status, \
             reason = excluded.reason, closed_lines = excluded.closed_lines, updated_at = excluded.updated_at",
        )
        .map_err(internal)?
        .execute(params![
            number,
            f.fo_no,
            f.location,
            f.status.as_str(),
            f.request_status.map(|r| r.as_str()),
            f.reason,
            closed,
            at_text
        ])
        .map_err(internal)?;
        conn.prepare_cached("DELETE FROM allocations WHERE order_number = ?1 AND fo_no = ?2")
            .map_err(internal)?
            .execute(params![number, f.fo_no])
            .map_err(internal)?;
        for l in &f.lines {
            conn.prepare_cached(
                "INSERT INTO allocations (order_number, fo_no, line_no, location, quantity) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(internal)?
            .execute(params![number, f.fo_no, l.line_no, f.location, l.quantity])
            .map_err(internal)?;
        }
    }
    let mut freed = BTreeSet::new();
    for d in &plan.stock {
        ensure_balance_row(conn, &d.sku, &d.location)?;
        let key = (d.sku.clone(), d.location.clone());
        let balance = match stock.0.get_mut(&key) {
            Some(b) => b,
            None => {
                let b = load_balance(conn, &d.sku, &d.location)?;
                stock.0.entry(key).or_insert(b)
            }
        };
        apply_change(
            conn,
            &d.sku,
            &d.location,
            balance,
            d.state,
            d.delta,
            d.reason,
            Some(reference),
            actor,
            at_text,
        )?;
        if d.state == StockState::Allocated && d.reason == Reason::Deallocation {
            freed.insert((d.sku.clone(), d.location.clone()));
        }
    }
    for (line_no, delta) in &plan.line_allocated {
        conn.prepare_cached(
            "UPDATE order_lines SET allocated = allocated + ?1, backordered = backordered - ?1 WHERE order_number = ?2 AND line_no = ?3",
        )
        .map_err(internal)?
        .execute(params![delta, number, line_no])
        .map_err(internal)?;
    }
    for (line_no, delta) in &plan.line_shipped {
        conn.prepare_cached(
            "UPDATE order_lines SET shipped = shipped + ?1, allocated = allocated - ?1 WHERE order_number = ?2 AND line_no = ?3",
        )
        .map_err(internal)?
        .execute(params![delta, number, line_no])
        .map_err(internal)?;
    }
    if !plan.line_allocated.is_empty() || !plan.line_shipped.is_empty() {
        refresh_fill(conn, number, at_text)?;
    }
    for e in &plan.events {
        append_event(conn, e.kind, Some(number), actor, at_text, &e.data)?;
    }
    for (location, day) in &plan.capacity_used {
        count_routed(conn, location, *day)?;
    }
    Ok(freed)
}

/// Writes a shipment plan: the fulfillment side (stock, lines, the fulfillment order,
/// events) and the shipment row, then the order's status.
fn apply_shipment(
    w: &mut Writer,
    plan: &ShipmentPlan,
    stock: &mut Balances,
    actor: &str,
    at: &str,
) -> Result<()> {
    let row = &plan.shipment;
    let reference = format!(
        "shipment:{}",
        ordo_domain::shipment::shipment_number(row.number)
    );
    apply_plan(
        &w.conn,
        row.order_number,
        &plan.fulfillment,
        stock,
        &reference,
        actor,
        at,
    )?;
    write_shipment(&w.conn, row)?;
    refresh_fill(&w.conn, row.order_number, at)?;
    Ok(())
}

fn write_shipment(conn: &Connection, row: &ShipmentRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO shipments (number, order_number, fo_no, location, carrier, service, tracking_number, status, doc, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (number) DO UPDATE SET \
         status = excluded.status, doc = excluded.doc, updated_at = excluded.updated_at",
    )
    .map_err(internal)?
    .execute(params![
        row.number,
        row.order_number,
        row.fo_no,
        row.location,
        row.carrier,
        row.service,
        row.tracking_number,
        row.status.as_str(),
        row.doc_json(),
        format_time(row.created_at),
        format_time(row.updated_at)
    ])
    .map_err(internal)?;
    Ok(())
}

pub(crate) fn create_shipment(
    w: &mut Writer,
    input: &ordo_domain::shipment::NewShipment,
    ctx: &WriteContext,
) -> Result<Outcome<Created<ordo_domain::shipment::Shipment>>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let (number, fo_no) = ordo_domain::fulfillment::parse_fulfillment_order_id(
        &input.fulfillment_order,
    )
    .ok_or_else(|| Problem::invalid("fulfillment_order", "is not a fulfillment order id"))?;
    let Some(order) = reads::find_order(&w.conn, number)? else {
        return Err(
            Problem::NotFound(format!("fulfillment order {}", input.fulfillment_order)).into(),
        );
    };
    let catalog = w.catalog()?;
    let (mut stock, _) = load_routing_state(w, &catalog, &order)?;
    let mut products = HashMap::new();
    for l in &order.lines {
        if let Some(p) =
            reads::get_doc::<Product>(&w.conn, "SELECT doc FROM products WHERE sku = ?1", &l.sku)?
        {
            products.insert(l.sku.clone(), p);
        }
    }
    let shipment_no: i64 = w
        .conn
        .query_row(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM shipments",
            [],
            |r| r.get(0),
        )
        .map_err(internal)?;
    let fo_location = order
        .fulfillment_orders
        .iter()
        .find(|f| f.id == input.fulfillment_order)
        .map(|f| f.location.clone());
    let tracking = match &input.tracking_number {
        Some(t) => t.clone(),
        None => {
            let country = fo_location
                .as_ref()
                .and_then(|code| catalog.locations.iter().find(|l| &l.code == code))
                .and_then(|l| l.address.country.clone());
            own_fleet_tracking_number(shipment_no, country.as_deref())?
        }
    };
    let taken: bool = w
        .conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM shipments WHERE carrier = ?1 AND tracking_number = ?2)",
        )
        .map_err(internal)?
        .query_row(params![input.carrier, tracking], |r| r.get(0))
        .map_err(internal)?;
    if taken {
        return Err(Problem::Conflict {
            message: format!(
                "tracking number {tracking} is already used by another {} shipment",
                input.carrier
            ),
            current: None,
        }
        .into());
    }
    // Packed work ships in the boxes the pack station chose, unless the request says otherwise.
    let mut input = input.clone();
    if input.packages.is_empty()
        && let Some(packing) = reads::packing(&w.conn, number, fo_no)?
    {
        input.packages = packing.packages();
    }
    let input = &input;
    let at = now();
    let plan = plan_shipment(
        &order,
        input,
        shipment_no,
        tracking,
        &catalog.locations,
        &products,
        at,
    )?;
    apply_shipment(w, &plan, &mut stock, &ctx.actor, &format_time(at))?;
    let view = plan.shipment.view();
    remember(&w.conn, ctx, 201, &view)?;
    Ok(Outcome::Done(Created {
        value: view,
        created: true,
    }))
}

fn shipment_by_id(w: &Writer, id: &str) -> Result<ShipmentRow> {
    let number = ordo_domain::shipment::parse_shipment_number(id)
        .ok_or_else(|| Problem::NotFound(format!("shipment {id}")))?;
    reads::find_shipment(&w.conn, number)?
        .ok_or_else(|| Problem::NotFound(format!("shipment {id}")).into())
}

pub(crate) fn void_shipment(
    w: &mut Writer,
    id: &str,
    ctx: &WriteContext,
) -> Result<Outcome<ordo_domain::shipment::Shipment>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let row = shipment_by_id(w, id)?;
    let order = reads::load_order(&w.conn, row.order_number)?;
    let catalog = w.catalog()?;
    let (mut stock, _) = load_routing_state(w, &catalog, &order)?;
    let at = now();
    let plan = plan_void(&order, &row, at)?;
    apply_shipment(w, &plan, &mut stock, &ctx.actor, &format_time(at))?;
    let view = plan.shipment.view();
    remember(&w.conn, ctx, 200, &view)?;
    Ok(Outcome::Done(view))
}

pub(crate) fn add_tracking_event(
    w: &mut Writer,
    id: &str,
    event: &ordo_domain::shipment::TrackingEvent,
    ctx: &WriteContext,
) -> Result<Outcome<ordo_domain::shipment::Shipment>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let row = shipment_by_id(w, id)?;
    let at = now();
    let (updated, event_row) = plan_tracking(&row, event.clone(), at)?;
    let at_text = format_time(at);
    write_shipment(&w.conn, &updated)?;
    append_event(
        &w.conn,
        event_row.kind,
        Some(row.order_number),
        &ctx.actor,
        &at_text,
        &event_row.data,
    )?;
    let doc: String = w
        .conn
        .prepare_cached("SELECT doc FROM orders WHERE number = ?1")
        .map_err(internal)?
        .query_row([row.order_number], |r| r.get(0))
        .map_err(internal)?;
    if let Some((doc, flagged)) = ordo_store::plan_flag(&doc, &updated)? {
        w.conn
            .prepare_cached("UPDATE orders SET doc = ?1, updated_at = ?2 WHERE number = ?3")
            .map_err(internal)?
            .execute(params![doc, at_text, row.order_number])
            .map_err(internal)?;
        append_event(
            &w.conn,
            flagged.kind,
            Some(row.order_number),
            &ctx.actor,
            &at_text,
            &flagged.data,
        )?;
    }
    refresh_fill(&w.conn, row.order_number, &at_text)?;
    let view = updated.view();
    remember(&w.conn, ctx, 200, &view)?;
    Ok(Outcome::Done(view))
}

pub(crate) fn put_layout(
    w: &mut Writer,
    location: &str,
    layout: &ordo_warehouse::bins::LayoutConfig,
    ctx: &WriteContext,
) -> Result<()> {
    known_location(w, location)?;
    let at = format_time(now());
    w.conn
        .prepare_cached(
            "INSERT INTO location_layouts (location, doc, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (location) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
        )
        .map_err(internal)?
        .execute(params![
            location,
            serde_json::to_string(layout).map_err(internal)?,
            at
        ])
        .map_err(internal)?;
    append_event(
        &w.conn,
        "location.layout_changed",
        None,
        &ctx.actor,
        &at,
        &serde_json::json!({"location": location, "bins": layout.bins.len()}),
    )
}

fn known_location(w: &mut Writer, location: &str) -> Result<ordo_domain::catalog::Location> {
    w.catalog()?
        .locations
        .iter()
        .find(|l| l.code == location)
        .cloned()
        .ok_or_else(|| Problem::NotFound(format!("location {location}")).into())
}

pub(crate) fn put_sku_bins(
    w: &mut Writer,
    location: &str,
    bins: &[SkuBin],
    ctx: &WriteContext,
) -> Result<()> {
    known_location(w, location)?;
    let mut errors = Errors::default();
    for (i, b) in bins.iter().enumerate() {
        let known: bool = w
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM products WHERE sku = ?1)")
            .map_err(internal)?
            .query_row([&b.sku], |r| r.get(0))
            .map_err(internal)?;
        if !known {
            errors.add(format!("bins[{i}].sku"), format!("unknown SKU '{}'", b.sku));
        }
    }
    if !errors.is_empty() {
        return Err(Problem::Invalid(errors.0).into());
    }
    for b in bins {
        if b.bin.trim().is_empty() {
            w.conn
                .prepare_cached("DELETE FROM sku_bins WHERE location = ?1 AND sku = ?2")
                .map_err(internal)?
                .execute(params![location, b.sku])
                .map_err(internal)?;
        } else {
            w.conn
                .prepare_cached(
                    "INSERT INTO sku_bins (location, sku, bin) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (location, sku) DO UPDATE SET bin = excluded.bin",
                )
                .map_err(internal)?
                .execute(params![location, b.sku, b.bin.trim()])
                .map_err(internal)?;
        }
    }
    append_event(
        &w.conn,
        "location.bins_assigned",
        None,
        &ctx.actor,
        &format_time(now()),
        &serde_json::json!({"location": location, "skus": bins.len()}),
    )
}

fn write_pick_job(conn: &Connection, number: i64, job: &PickJob) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO pick_jobs (number, location, status, doc, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (number) DO UPDATE SET status = excluded.status, doc = excluded.doc, updated_at = excluded.updated_at",
    )
    .map_err(internal)?
    .execute(params![
        number,
        job.location,
        job.status.as_str(),
        serde_json::to_string(job).map_err(internal)?,
        format_time(job.created_at),
        format_time(job.updated_at)
    ])
    .map_err(internal)?;
    Ok(())
}

fn set_fulfillment_status(
    conn: &Connection,
    id: &str,
    from: &str,
    to: &str,
    at: &str,
) -> Result<Option<i64>> {
    let Some((number, fo_no)) = ordo_domain::fulfillment::parse_fulfillment_order_id(id) else {
        return Ok(None);
    };
    let changed = conn
        .prepare_cached(
            "UPDATE fulfillment_orders SET status = ?1, updated_at = ?2 WHERE order_number = ?3 AND fo_no = ?4 AND status = ?5",
        )
        .map_err(internal)?
        .execute(params![to, at, number, fo_no, from])
        .map_err(internal)?;
    Ok((changed == 1).then_some(number))
}

pub(crate) fn create_pick_job(
    w: &mut Writer,
    location: &str,
    input: &PickJobInput,
    ctx: &WriteContext,
) -> Result<Outcome<Created<PickJob>>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let place = known_location(w, location).map_err(|_| {
        StoreError::from(Problem::invalid(
            "location",
            format!("unknown location '{location}'"),
        ))
    })?;
    let numbers: Vec<i64> = {
        let mut stmt = w
            .conn
            .prepare_cached(
                "SELECT DISTINCT order_number FROM fulfillment_orders WHERE location = ?1 AND status = 'open' \
                 ORDER BY order_number LIMIT 5000",
            )
            .map_err(internal)?;
        let rows = stmt.query_map([location], |r| r.get(0)).map_err(internal)?;
        rows.collect::<rusqlite::Result<_>>().map_err(internal)?
    };
    let mut orders = Vec::with_capacity(numbers.len());
    let mut products: HashMap<String, Product> = HashMap::new();
    for n in numbers {
        let order = reads::load_order(&w.conn, n)?;
        for l in &order.lines {
            if !products.contains_key(&l.sku)
                && let Some(p) = reads::get_doc::<Product>(
                    &w.conn,
                    "SELECT doc FROM products WHERE sku = ?1",
                    &l.sku,
                )?
            {
                products.insert(l.sku.clone(), p);
            }
        }
        orders.push(order);
    }
    let sku_bins: HashMap<String, String> = reads::sku_bins(&w.conn, location)?
        .into_iter()
        .map(|b| (b.sku, b.bin))
        .collect();
    let layout = layout_of(reads::layout(&w.conn, location)?)?;
    let mut candidates = pick_candidates(&orders, &place, &products, &sku_bins);
    let services: Vec<ordo_warehouse::shipping::CarrierService> = reads::get_doc(
        &w.conn,
        "SELECT doc FROM settings WHERE key = ?1",
        "carrier_services",
    )?
    .unwrap_or_default();
    apply_cutoffs(&mut candidates, &place, &services, now());
    let number: i64 = w
        .conn
        .query_row(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM pick_jobs",
            [],
            |r| r.get(0),
        )
        .map_err(internal)?;
    let at = now();
    let Some(job) = plan_pick_job(number, location, input, candidates, &layout, at)? else {
        return Err(Problem::invalid(
            "filters",
            format!("no open fulfillment order at {location} matches"),
        )
        .into());
    };
    let at_text = format_time(at);
    write_pick_job(&w.conn, number, &job)?;
    for id in released(&job) {
        if let Some(order) = set_fulfillment_status(&w.conn, &id, "open", "in_progress", &at_text)?
        {
            append_event(
                &w.conn,
                "fulfillment_order.picking",
                Some(order),
                &ctx.actor,
                &at_text,
                &serde_json::json!({"fulfillment_order": id, "pick_list": job.id}),
            )?;
        }
    }
    remember(&w.conn, ctx, 201, &job)?;
    Ok(Outcome::Done(Created {
        value: job,
        created: true,
    }))
}

pub(crate) fn record_pick(
    w: &mut Writer,
    id: &str,
    input: &PickCommand,
    ctx: &WriteContext,
) -> Result<Outcome<PickResult>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let number =
        parse_pick_job_number(id).ok_or_else(|| Problem::NotFound(format!("pick list {id}")))?;
    let job = reads::find_pick_job(&w.conn, number)?
        .ok_or_else(|| Problem::NotFound(format!("pick list {id}")))?;
    let mut owner = None;
    if let Some(code) = &input.pick.barcode {
        let skus: BTreeSet<&str> = job
            .lists
            .iter()
            .flat_map(|l| l.lines.iter().map(|x| x.sku.as_str()))
            .collect();
        for sku in skus {
            if let Some(p) =
                reads::get_doc::<Product>(&w.conn, "SELECT doc FROM products WHERE sku = ?1", sku)?
                && p.barcode.as_deref() == Some(code.as_str())
            {
                owner = Some(p);
                break;
            }
        }
        // A product off the list is a wrong item, which the answer explains, not an
        // unknown barcode.
        if owner.is_none() {
            owner = reads::get_doc::<Product>(
                &w.conn,
                "SELECT doc FROM products WHERE json_extract(doc, '$.barcode') = ?1 ORDER BY sku LIMIT 1",
                code,
            )?;
        }
    }
    let action = resolve_pick(input.clone(), owner.as_ref())?;
    let at = now();
    let at_text = format_time(at);
    let conn = &w.conn;
    let outcome = plan_pick(
        &job,
        &action,
        |fo_id| {
            ordo_domain::fulfillment::parse_fulfillment_order_id(fo_id)
                .and_then(|(n, _)| reads::find_order(conn, n).ok().flatten())
                .and_then(|o| {
                    o.fulfillment_orders
                        .into_iter()
                        .find(|f| f.id == fo_id)
                        .map(|f| f.lines)
                })
                .unwrap_or_default()
        },
        at,
    )?;
    // Units the bin did not hold: each fulfillment order gives them up and they are routed
    // again elsewhere; then the location writes them off.
    let mut missing: BTreeMap<String, i64> = BTreeMap::new();
    for (fo_id, lines) in &outcome.losses {
        for l in lines {
            *missing.entry(l.sku.clone()).or_default() += l.quantity;
        }
        let change = FulfillmentChange::Shortage {
            id: fo_id.clone(),
            lines: lines.clone(),
        };
        let inner = WriteContext {
            actor: ctx.actor.clone(),
            idempotency_key: None,
        };
        change_fulfillment(w, &change, &inner)?;
    }
    let mut recount = None;
    for write in shortage_writes(&job, &action, &missing) {
        let inner = WriteContext {
            actor: ctx.actor.clone(),
            idempotency_key: None,
        };
        if let Outcome::Done(result) = write_stock(w, &write, &inner)? {
            recount = recount.or(recount_of(&write, &result));
        }
    }
    for fo_id in &outcome.update.orders_picked {
        if let Some(order) =
            set_fulfillment_status(&w.conn, fo_id, "in_progress", "picked", &at_text)?
        {
            append_event(
                &w.conn,
                "fulfillment_order.picked",
                Some(order),
                &ctx.actor,
                &at_text,
                &serde_json::json!({"fulfillment_order": fo_id, "pick_list": job.id}),
            )?;
        }
    }
    write_pick_job(&w.conn, number, &outcome.job)?;
    let result = PickResult {
        job: outcome.job,
        update: outcome.update,
        recount,
    };
    remember(&w.conn, ctx, 200, &result)?;
    Ok(Outcome::Done(result))
}

pub(crate) fn put_box_type(
    w: &mut Writer,
    box_type: &ordo_warehouse::cartonize::BoxType,
    ctx: &WriteContext,
) -> Result<()> {
    w.conn
        .prepare_cached(
            "INSERT INTO box_types (code, doc) VALUES (?1, ?2) ON CONFLICT (code) DO UPDATE SET doc = excluded.doc",
        )
        .map_err(internal)?
        .execute(params![
            box_type.code,
            serde_json::to_string(box_type).map_err(internal)?
        ])
        .map_err(internal)?;
    append_event(
        &w.conn,
        "box_type.saved",
        None,
        &ctx.actor,
        &format_time(now()),
        &serde_json::json!({"code": box_type.code}),
    )
}

pub(crate) fn pack(
    w: &mut Writer,
    id: &str,
    input: &PackInput,
    ctx: &WriteContext,
) -> Result<Outcome<Packing>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let (number, fo_no) = ordo_domain::fulfillment::parse_fulfillment_order_id(id)
        .ok_or_else(|| Problem::NotFound(format!("fulfillment order {id}")))?;
    let Some(order) = reads::find_order(&w.conn, number)? else {
        return Err(Problem::NotFound(format!("fulfillment order {id}")).into());
    };
    let mut products = HashMap::new();
    for l in &order.lines {
        if let Some(p) =
            reads::get_doc::<Product>(&w.conn, "SELECT doc FROM products WHERE sku = ?1", &l.sku)?
        {
            products.insert(l.sku.clone(), p);
        }
    }
    let boxes = reads::box_types(&w.conn)?;
    let policies = reads::packing_policies(
        &w.conn,
        fulfillment_location(&order, id).unwrap_or_default(),
    )?;
    let at = now();
    let (plan, packing) = plan_pack(&order, id, input, &products, &boxes, &policies, at)?;
    let catalog = w.catalog()?;
    let (mut stock, _) = load_routing_state(w, &catalog, &order)?;
    let at_text = format_time(at);
    let reference = format!("order:{}", order.number);
    apply_plan(
        &w.conn, number, &plan, &mut stock, &reference, &ctx.actor, &at_text,
    )?;
    w.conn
        .prepare_cached(
            "INSERT INTO packings (order_number, fo_no, doc, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (order_number, fo_no) DO UPDATE SET doc = excluded.doc, created_at = excluded.created_at",
        )
        .map_err(internal)?
        .execute(params![
            number,
            fo_no,
            serde_json::to_string(&packing).map_err(internal)?,
            at_text
        ])
        .map_err(internal)?;
    remember(&w.conn, ctx, 200, &packing)?;
    Ok(Outcome::Done(packing))
}

pub(crate) fn put_setting(
    w: &mut Writer,
    key: &str,
    doc: &serde_json::Value,
    ctx: &WriteContext,
) -> Result<()> {
    let at = format_time(now());
    w.conn
        .prepare_cached(
            "INSERT INTO settings (key, doc, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
        )
        .map_err(internal)?
        .execute(params![key, doc.to_string(), at])
        .map_err(internal)?;
    append_event(
        &w.conn,
        "settings.changed",
        None,
        &ctx.actor,
        &at,
        &serde_json::json!({"key": key}),
    )
}

pub(crate) fn close_manifest(
    w: &mut Writer,
    location: &str,
    carrier: &str,
    ctx: &WriteContext,
) -> Result<Outcome<Created<Manifest>>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    known_location(w, location).map_err(|_| {
        StoreError::from(Problem::invalid(
            "location",
            format!("unknown location '{location}'"),
        ))
    })?;
    let numbers: Vec<i64> = {
        let mut stmt = w
            .conn
            .prepare_cached(
                "SELECT number FROM shipments WHERE location = ?1 AND carrier = ?2 AND manifest IS NULL \
                 AND status = 'label_created' ORDER BY number",
            )
            .map_err(internal)?;
        let rows = stmt
            .query_map(params![location, carrier], |r| r.get(0))
            .map_err(internal)?;
        rows.collect::<rusqlite::Result<_>>().map_err(internal)?
    };
    let mut rows = Vec::with_capacity(numbers.len());
    for n in numbers {
        rows.push(
            reads::find_shipment(&w.conn, n)?
                .ok_or_else(|| internal(format!("shipment {n} vanished")))?,
        );
    }
    let number: i64 = w
        .conn
        .query_row(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM manifests",
            [],
            |r| r.get(0),
        )
        .map_err(internal)?;
    let at = now();
    let at_text = format_time(at);
    let (manifest, updated, events) = plan_manifest(number, location, carrier, &rows, at)?;
    for (row, event) in updated.iter().zip(&events) {
        write_shipment(&w.conn, row)?;
        w.conn
            .prepare_cached("UPDATE shipments SET manifest = ?1 WHERE number = ?2")
            .map_err(internal)?
            .execute(params![number, row.number])
            .map_err(internal)?;
        append_event(
            &w.conn,
            event.kind,
            Some(row.order_number),
            &ctx.actor,
            &at_text,
            &event.data,
        )?;
    }
    w.conn
        .prepare_cached(
            "INSERT INTO manifests (number, location, carrier, doc, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(internal)?
        .execute(params![
            number,
            location,
            carrier,
            serde_json::to_string(&manifest).map_err(internal)?,
            at_text
        ])
        .map_err(internal)?;
    remember(&w.conn, ctx, 201, &manifest)?;
    Ok(Outcome::Done(Created {
        value: manifest,
        created: true,
    }))
}

fn write_return(conn: &Connection, row: &ReturnRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO returns (number, order_number, status, currency, doc, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (number) DO UPDATE SET \
         status = excluded.status, doc = excluded.doc, updated_at = excluded.updated_at",
    )
    .map_err(internal)?
    .execute(params![
        row.number,
        row.order_number,
        row.status.as_str(),
        row.currency,
        row.doc_json(),
        format_time(row.created_at),
        format_time(row.updated_at)
    ])
    .map_err(internal)?;
    Ok(())
}

pub(crate) fn create_return(
    w: &mut Writer,
    input: ordo_domain::returns::ReturnInput,
    ctx: &WriteContext,
) -> Result<Outcome<Created<Rma>>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let key = input.order.clone().unwrap_or_default();
    let number = match ordo_domain::order::parse_order_number(&key) {
        Some(n) => Some(n),
        None => reads::resolve_order(&w.conn, &key)?,
    };
    let Some(order) = number
        .map(|n| reads::find_order(&w.conn, n))
        .transpose()?
        .flatten()
    else {
        return Err(Problem::invalid("order", format!("unknown order '{key}'")).into());
    };
    let order_no = ordo_domain::order::parse_order_number(&order.number).unwrap_or(0);
    let others = reads::order_returns(&w.conn, order_no)?;
    let mut products = HashMap::new();
    for l in &order.lines {
        if let Some(p) =
            reads::get_doc::<Product>(&w.conn, "SELECT doc FROM products WHERE sku = ?1", &l.sku)?
        {
            products.insert(l.sku.clone(), p);
        }
    }
    let policy: ordo_domain::returns::ReturnPolicy = reads::get_doc(
        &w.conn,
        "SELECT doc FROM settings WHERE key = ?1",
        &format!("return_policy:{}", order.channel),
    )?
    .unwrap_or_default();
    let delivered = reads::delivered_at(&w.conn, order_no)?;
    let rma: i64 = w
        .conn
        .query_row(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM returns",
            [],
            |r| r.get(0),
        )
        .map_err(internal)?;
    let at = now();
    let (row, events) = plan_return(
        &order, input, &policy, &others, &products, delivered, rma, at,
    )?;
    let at_text = format_time(at);
    write_return(&w.conn, &row)?;
    for e in &events {
        append_event(
            &w.conn,
            e.kind,
            Some(order_no),
            &ctx.actor,
            &at_text,
            &e.data,
        )?;
    }
    let view = row.view();
    remember(&w.conn, ctx, 201, &view)?;
    Ok(Outcome::Done(Created {
        value: view,
        created: true,
    }))
}

fn return_by_id(w: &Writer, id: &str) -> Result<ReturnRow> {
    let number = parse_rma_number(id).ok_or_else(|| Problem::NotFound(format!("return {id}")))?;
    reads::find_return(&w.conn, number)?
        .ok_or_else(|| Problem::NotFound(format!("return {id}")).into())
}

pub(crate) fn return_step(
    w: &mut Writer,
    id: &str,
    step: ordo_domain::returns::ReturnStep,
    reason: Option<String>,
    ctx: &WriteContext,
) -> Result<Outcome<Rma>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let row = return_by_id(w, id)?;
    let at = now();
    // Goods on their way back are expected where the order left from.
    let expected: Option<String> = if step == ordo_domain::returns::ReturnStep::Ship {
        w.conn
            .prepare_cached(
                "SELECT location FROM fulfillment_orders WHERE order_number = ?1 \
                 ORDER BY (status = 'shipped') DESC, fo_no LIMIT 1",
            )
            .map_err(internal)?
            .query_row(params![row.order_number], |r| r.get(0))
            .optional()
            .map_err(internal)?
    } else {
        None
    };
    let (updated, plan) = plan_return_step(&row, step, reason, expected.as_deref(), at)?;
    let at_text = format_time(at);
    if plan.stock.is_empty() {
        write_return(&w.conn, &updated)?;
        for e in &plan.events {
            append_event(
                &w.conn,
                e.kind,
                Some(row.order_number),
                &ctx.actor,
                &at_text,
                &e.data,
            )?;
        }
    } else {
        apply_return_plan(w, &updated, &plan, &ctx.actor, &at_text)?;
    }
    let view = updated.view();
    remember(&w.conn, ctx, 200, &view)?;
    Ok(Outcome::Done(view))
}

/// Writes a return's stock plan, then offers restocked units to waiting orders.
fn apply_return_plan(
    w: &mut Writer,
    updated: &ReturnRow,
    plan: &FulfillmentPlan,
    actor: &str,
    at_text: &str,
) -> Result<()> {
    let mut stock = Balances(HashMap::new());
    for d in &plan.stock {
        ensure_balance_row(&w.conn, &d.sku, &d.location)?;
        let b = load_balance(&w.conn, &d.sku, &d.location)?;
        stock.0.insert((d.sku.clone(), d.location.clone()), b);
    }
    let reference = format!("return:{}", rma_number(updated.number));
    apply_plan(
        &w.conn,
        updated.order_number,
        plan,
        &mut stock,
        &reference,
        actor,
        at_text,
    )?;
    write_return(&w.conn, updated)?;
    for (sku, location) in restocks(plan) {
        reallocate(w, &sku, &location, actor, at_text)?;
    }
    Ok(())
}

pub(crate) fn receive_return(
    w: &mut Writer,
    id: &str,
    location: &str,
    lines: &[ordo_domain::returns::ReceivedLine],
    ctx: &WriteContext,
) -> Result<Outcome<Rma>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    known_location(w, location).map_err(|_| {
        StoreError::from(Problem::invalid(
            "location",
            format!("unknown location '{location}'"),
        ))
    })?;
    let row = return_by_id(w, id)?;
    let at = now();
    let (updated, plan) = plan_return_receipt(&row, location, lines, at)?;
    apply_return_plan(w, &updated, &plan, &ctx.actor, &format_time(at))?;
    let view = updated.view();
    remember(&w.conn, ctx, 200, &view)?;
    Ok(Outcome::Done(view))
}

pub(crate) fn grade_return(
    w: &mut Writer,
    id: &str,
    sku: &str,
    quantity: i64,
    grade: ordo_domain::returns::Grade,
    ctx: &WriteContext,
) -> Result<Outcome<Rma>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let row = return_by_id(w, id)?;
    let at = now();
    let (updated, plan) = plan_grade(&row, sku, quantity, grade, at)?;
    apply_return_plan(w, &updated, &plan, &ctx.actor, &format_time(at))?;
    let view = updated.view();
    remember(&w.conn, ctx, 200, &view)?;
    Ok(Outcome::Done(view))
}

pub(crate) fn map_order_line(
    w: &mut Writer,
    key: &str,
    line_no: i32,
    sku: &str,
    ctx: &WriteContext,
) -> Result<Outcome<Order>> {
    if let Some(replay) = idempotent_replay(&w.conn, ctx)? {
        return Ok(replay);
    }
    let Some(number) = reads::resolve_order(&w.conn, key)? else {
        return Err(Problem::NotFound(format!("order {key}")).into());
    };
    let active: Option<bool> = w
        .conn
        .prepare_cached("SELECT active FROM products WHERE sku = ?1")
        .map_err(internal)?
        .query_row([sku], |r| r.get(0))
        .optional()
        .map_err(internal)?;
    match active {
        None => return Err(Problem::invalid("sku", format!("unknown SKU '{sku}'")).into()),
        Some(false) => {
            return Err(Problem::invalid("sku", format!("product '{sku}' is inactive")).into());
        }
        Some(true) => {}
    }
    let order = reads::load_order(&w.conn, number)?;
    let mapping = plan_line_mapping(&order, line_no, sku)?;
    let at = format_time(now());
    w.conn
        .prepare_cached("UPDATE order_lines SET sku = ?1 WHERE order_number = ?2 AND line_no = ?3")
        .map_err(internal)?
        .execute(params![sku, number, line_no])
        .map_err(internal)?;
    w.conn
        .prepare_cached("UPDATE orders SET doc = ?1, updated_at = ?2 WHERE number = ?3")
        .map_err(internal)?
        .execute(params![mapping.doc_json, at, number])
        .map_err(internal)?;
    append_event(
        &w.conn,
        "order.line_mapped",
        Some(number),
        &ctx.actor,
        &at,
        &mapping.event,
    )?;
    // The line now waits for its SKU like any backorder: stock at hand goes to waiting
    // orders in their usual turn.
    let locations: Vec<String> = {
        let mut stmt = w
            .conn
            .prepare_cached("SELECT location FROM balances WHERE sku = ?1 ORDER BY location")
            .map_err(internal)?;
        stmt.query_map([sku], |r| r.get(0))
            .map_err(internal)?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(internal)?
    };
    for location in &locations {
        reallocate(w, sku, location, &ctx.actor, &at)?;
    }
    let inner = WriteContext {
        actor: ctx.actor.clone(),
        idempotency_key: None,
    };
    let num = order_number(number);
    if mapping.release {
        let change = OrderChange {
            transition: Transition::Release,
            hold_reason: None,
            note: Some("every item is mapped to an Ordo SKU".into()),
        };
        transition(w, &num, &change, &inner)?;
    }
    if mapping.hold_for_payment {
        let change = OrderChange {
            transition: Transition::Hold,
            hold_reason: Some(HoldReason::PaymentPending),
            note: Some("payment pending on the channel".into()),
        };
        transition(w, &num, &change, &inner)?;
    }
    let order = reads::load_order(&w.conn, number)?;
    remember(&w.conn, ctx, 200, &order)?;
    Ok(Outcome::Done(order))
}
