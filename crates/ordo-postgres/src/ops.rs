//! Write commands other than capture. Each runs inside a transaction its caller opened
//! and commits; events are queued on the connection and appended at commit.
//!
//! Lock order, the same everywhere so that writers of several processes cannot deadlock
//! in the common cases: advisory locks (idempotency keys), then the day counters of
//! capacity locations (location order), then balance rows sorted by `(sku, location)`,
//! then order and line rows in serving order. The rare cycles that remain end in a
//! deadlock error, and the caller runs the transaction again. Re-allocation comes last
//! (the freed balance row is already locked), so the further balance rows and the day
//! counter it needs are taken with `SKIP LOCKED`: what someone else holds is treated as
//! unavailable (no stock, a full day) instead of waited for.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ordo_domain::Problem;
use ordo_domain::allocation::StockView;
use ordo_domain::catalog::{Channel, Location, Product};
use ordo_domain::error::Errors;
use ordo_domain::fulfillment::{FulfillmentLine, RequestStatus, parse_fulfillment_order_id};
use ordo_domain::inventory::{Balance, Reason, StockState, StockWrite, plan_write};
use ordo_domain::order::{
    HoldReason, Order, OrderStatus, Transition, order_number, transition as next_status,
};
use ordo_domain::shipment::{NewShipment, Shipment, TrackingEvent, parse_shipment_number};
use ordo_store::*;
use time::OffsetDateTime;

use crate::conn::{Conn, Result, internal, lock_key, now};
use crate::reads::{self, Catalog};

pub(crate) async fn idempotent_replay<T>(
    c: &mut Conn,
    ctx: &WriteContext,
) -> Result<Option<Outcome<T>>> {
    let Some(key) = &ctx.idempotency_key else {
        return Ok(None);
    };
    // The same key as order capture uses, so one key is never acted on twice at once.
    let lock = c.prep("SELECT pg_advisory_xact_lock($1)").await?;
    let find = c
        .prep("SELECT status, body FROM idempotency_keys WHERE key = $1")
        .await?;
    let k = lock_key(&["idempotency", key]);
    let client = &c.client;
    let (locked, found) = tokio::join!(async { client.execute(&lock, &[&k]).await }, async {
        client.query_opt(&find, &[key]).await
    });
    locked?;
    match found? {
        Some(r) => {
            let status: i32 = r.try_get(0)?;
            Ok(Some(Outcome::Replayed {
                status: u16::try_from(status).map_err(internal)?,
                body: r.try_get(1)?,
            }))
        }
        None => Ok(None),
    }
}

pub(crate) async fn remember<T: serde::Serialize>(
    c: &mut Conn,
    ctx: &WriteContext,
    status: u16,
    value: &T,
) -> Result<()> {
    if let Some(key) = &ctx.idempotency_key {
        let body = serde_json::to_string(value).map_err(internal)?;
        c.execute(
            "INSERT INTO idempotency_keys (key, status, body, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
            &[key, &i32::from(status), &body, &now()],
        )
        .await?;
    }
    Ok(())
}

/// Applies one state change to a locked balance and records it in the ledger.
async fn apply_change(
    c: &mut Conn,
    sku: &str,
    location: &str,
    balance: &mut Balance,
    state: StockState,
    delta: i64,
    reason: Reason,
    reference: Option<&str>,
    actor: &str,
    at: OffsetDateTime,
) -> Result<Movement> {
    let update = match state {
        StockState::OnHand => {
            "UPDATE balances SET on_hand = on_hand + $1 WHERE sku = $2 AND location = $3"
        }
        StockState::Allocated => {
            "UPDATE balances SET allocated = allocated + $1 WHERE sku = $2 AND location = $3"
        }
        StockState::Damaged => {
            "UPDATE balances SET damaged = damaged + $1 WHERE sku = $2 AND location = $3"
        }
        StockState::QualityControl => {
            "UPDATE balances SET quality_control = quality_control + $1 WHERE sku = $2 AND location = $3"
        }
        StockState::SafetyStock => {
            "UPDATE balances SET safety_stock = safety_stock + $1 WHERE sku = $2 AND location = $3"
        }
        StockState::Incoming => {
            "UPDATE balances SET incoming = incoming + $1 WHERE sku = $2 AND location = $3"
        }
    };
    let before = balance.get(state);
    let after = before + delta;
    let update = c.prep(update).await?;
    let insert = c
        .prep(
            "INSERT INTO movements (at, sku, location, state, delta, before, after, reason, reference, actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq",
        )
        .await?;
    let client = &c.client;
    let (changed, seq) = tokio::join!(
        async { client.execute(&update, &[&delta, &sku, &location]).await },
        async {
            client
                .query_one(
                    &insert,
                    &[
                        &at,
                        &sku,
                        &location,
                        &state.as_str(),
                        &delta,
                        &before,
                        &after,
                        &reason.as_str(),
                        &reference,
                        &actor,
                    ],
                )
                .await
        },
    );
    if changed? != 1 {
        return Err(internal(format!("no balance row for {sku} at {location}")));
    }
    let seq: i64 = seq?.try_get(0)?;
    *balance.slot(state) += delta;
    Ok(Movement {
        seq,
        at,
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

/// Locks every balance row of `skus`, in `(sku, location)` order.
pub(crate) async fn lock_balances(
    c: &mut Conn,
    skus: &[String],
) -> Result<BTreeMap<(String, String), Balance>> {
    let rows = c
        .query(
            "SELECT sku, location, on_hand, allocated, damaged, quality_control, safety_stock, incoming \
             FROM balances WHERE sku = ANY($1) ORDER BY sku, location FOR UPDATE",
            &[&skus],
        )
        .await?;
    let mut out = BTreeMap::new();
    for r in &rows {
        out.insert((r.try_get(0)?, r.try_get(1)?), reads::balance_from(r, 2)?);
    }
    Ok(out)
}

pub(crate) async fn write_stock(
    c: &mut Conn,
    write: &StockWrite,
    ctx: &WriteContext,
) -> Result<Outcome<StockWriteResult>> {
    if let Some(replay) = idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let sku_sql = c
        .prep("SELECT EXISTS (SELECT 1 FROM products WHERE sku = $1)")
        .await?;
    let location_sql = c
        .prep("SELECT EXISTS (SELECT 1 FROM locations WHERE code = $1)")
        .await?;
    let client = &c.client;
    let (known_sku, known_location) = tokio::join!(
        async { client.query_one(&sku_sql, &[&write.sku]).await },
        async { client.query_one(&location_sql, &[&write.location]).await }
    );
    let known_sku: bool = known_sku?.try_get(0)?;
    let known_location: bool = known_location?.try_get(0)?;
    let mut errors = Errors::default();
    if !known_sku {
        errors.add("sku", format!("unknown SKU '{}'", write.sku));
    }
    if !known_location {
        errors.add("location", format!("unknown location '{}'", write.location));
    }
    if !errors.is_empty() {
        return Err(Problem::Invalid(errors.0).into());
    }
    c.execute(
        "INSERT INTO balances (sku, location) VALUES ($1, $2) ON CONFLICT (sku, location) DO NOTHING",
        &[&write.sku, &write.location],
    )
    .await?;
    // All locations of the SKU: a shortage may re-allocate from any of them.
    let mut stock = lock_balances(c, std::slice::from_ref(&write.sku)).await?;
    let here = (write.sku.clone(), write.location.clone());
    let mut balance = stock
        .get(&here)
        .copied()
        .ok_or_else(|| internal("balance row missing after insert"))?;
    let before = balance;
    let changes = plan_write(&balance, &write.command, write.reason)?;
    let at = now();
    let mut movements = Vec::with_capacity(changes.len());
    for ch in &changes {
        movements.push(
            apply_change(
                c,
                &write.sku,
                &write.location,
                &mut balance,
                ch.state,
                ch.delta,
                write.reason,
                write.reference.as_deref(),
                &ctx.actor,
                at,
            )
            .await?,
        );
    }
    let mut routing = None;
    let mut shorted = Vec::new();
    let mut reallocated = Vec::new();
    if balance.available() < 0 {
        shorted =
            release_shortage(c, &write.sku, &write.location, &mut balance, &ctx.actor, at).await?;
        stock.insert(here.clone(), balance);
        // Shorted lines may find the units at other locations.
        let others: Vec<String> = stock
            .iter()
            .filter(|((_, l), b)| *l != write.location && b.available() > 0)
            .map(|((_, l), _)| l.clone())
            .collect();
        for location in others {
            let key = (write.sku.clone(), location);
            let mut other = stock[&key];
            reallocated.extend(
                reallocate(
                    c,
                    &mut routing,
                    &write.sku,
                    &key.1,
                    &mut other,
                    &ctx.actor,
                    at,
                )
                .await?,
            );
            stock.insert(key, other);
        }
    } else if balance.available() > before.available() {
        reallocated = reallocate(
            c,
            &mut routing,
            &write.sku,
            &write.location,
            &mut balance,
            &ctx.actor,
            at,
        )
        .await?;
    }
    c.event(
        "inventory.changed",
        None,
        &ctx.actor,
        at,
        &serde_json::json!({
            "sku": write.sku, "location": write.location, "reason": write.reason.as_str(),
            "reference": write.reference, "on_hand": balance.on_hand, "allocated": balance.allocated,
            "available": balance.available(),
        }),
    );
    let result = StockWriteResult {
        balance: BalanceRow::new(write.sku.clone(), write.location.clone(), balance),
        movements,
        reallocated_orders: reallocated,
        shorted_orders: shorted,
    };
    remember(c, ctx, 201, &result).await?;
    Ok(Outcome::Done(result))
}

/// Recomputes an order's progress (shipped and delivered units, then reserved ones) after
/// its lines or shipments changed; a held or cancelled order keeps its status. The order
/// row must be locked by the caller.
async fn refresh_fill(c: &mut Conn, number: i64, at: OffsetDateTime) -> Result<OrderStatus> {
    let row = c
        .query_one(
            "SELECT COALESCE(SUM(l.allocated), 0)::bigint, COALESCE(SUM(l.shipped), 0)::bigint, \
             COALESCE(SUM(l.quantity), 0)::bigint, o.status, \
             EXISTS (SELECT 1 FROM shipments s WHERE s.order_number = o.number AND s.status <> 'voided') \
             AND NOT EXISTS (SELECT 1 FROM shipments s WHERE s.order_number = o.number \
             AND s.status NOT IN ('delivered', 'voided')) \
             FROM orders o LEFT JOIN order_lines l ON l.order_number = o.number WHERE o.number = $1 GROUP BY o.number",
            &[&number],
        )
        .await?;
    let allocated: i64 = row.try_get(0)?;
    let shipped: i64 = row.try_get(1)?;
    let quantity: i64 = row.try_get(2)?;
    let status: String = row.try_get(3)?;
    let all_delivered: bool = row.try_get(4)?;
    let fill = OrderStatus::progress(allocated, shipped, quantity, all_delivered);
    let status = OrderStatus::parse(&status).unwrap_or(fill);
    let new_status = if matches!(status, OrderStatus::OnHold | OrderStatus::Cancelled) {
        status
    } else {
        fill
    };
    c.execute(
        "UPDATE orders SET fill_status = $1, status = $2, updated_at = $3 WHERE number = $4",
        &[&fill.as_str(), &new_status.as_str(), &at, &number],
    )
    .await?;
    Ok(fill)
}

/// What re-allocation reads of the catalog, loaded once per transaction when first needed.
pub(crate) struct RoutingCatalog {
    catalog: Catalog,
    rules: Vec<ordo_routing::Rule>,
    needs_products: bool,
}

impl RoutingCatalog {
    fn new(catalog: Catalog, rules: Vec<ordo_routing::Rule>) -> Self {
        let needs_products = needs_products(&rules, &catalog.locations);
        RoutingCatalog {
            catalog,
            rules,
            needs_products,
        }
    }

    async fn load(c: &mut Conn) -> Result<Self> {
        let channels_sql = c.prep(reads::CHANNEL_DOCS_SQL).await?;
        let locations_sql = c.prep(reads::LOCATION_DOCS_SQL).await?;
        let rules_sql = c.prep(reads::RULES_SQL).await?;
        let client = &c.client;
        let (channels, locations, rules) = tokio::join!(
            async { client.query(&channels_sql, &[]).await },
            async { client.query(&locations_sql, &[]).await },
            async { client.query(&rules_sql, &[]).await },
        );
        Ok(Self::new(
            reads::catalog_from(&channels?, &locations?)?,
            reads::rules_from(&rules?)?,
        ))
    }
}

/// Orders waiting for `$1`, locked, in serving order: higher priority first, then oldest.
/// Read after the lock, so a line cancelled or filled meanwhile drops out. An order never
/// gets stock back at a location (`$2`) that rejected part of it.
const WAITING_SQL: &str = "SELECT l.order_number FROM order_lines l \
     JOIN orders o ON o.number = l.order_number \
     WHERE l.sku = $1 AND l.backordered > 0 AND o.status <> 'cancelled' \
     AND NOT EXISTS (SELECT 1 FROM fulfillment_orders f WHERE f.order_number = l.order_number \
     AND f.location = $2 AND f.request_status = 'rejected') \
     ORDER BY o.priority DESC, o.placed_at, o.number, l.line_no FOR UPDATE OF l, o";
/// The balances at `$2` of order `$1`'s SKUs. Taken late in the lock order, so a row
/// another transaction holds is skipped (it counts as nothing available) rather than
/// waited for; rows this transaction holds already come back as they are now.
const REALLOCATE_BALANCES_SQL: &str = "SELECT b.sku, b.on_hand, b.allocated, b.damaged, b.quality_control, \
     b.safety_stock, b.incoming FROM balances b WHERE b.location = $2 \
     AND b.sku IN (SELECT sku FROM order_lines WHERE order_number = $1) \
     ORDER BY b.sku FOR UPDATE OF b SKIP LOCKED";
/// A capacity location's day counter, if no other transaction holds it.
const REALLOCATE_COUNTER_SQL: &str = "SELECT location, day, orders FROM location_day_counts WHERE location = $1 FOR UPDATE SKIP LOCKED";

/// Stock appeared at (sku, location): the orders waiting for that SKU, higher priority
/// first, then oldest, have what they still wait for routed again by the engine, with this
/// location as the only source and the same rules, limits and profiles as capture (so an
/// excluded location, a full day, a class it cannot ship or a never-split order keeps
/// waiting), until the units there are gone. The caller holds the lock of the balance row
/// of (sku, location); `balance` is left as it is at the end. Returns the numbers of the
/// orders served.
///
/// Every further lock is taken without waiting (this comes late in the lock order): the
/// order's other balance rows here that someone else holds count as empty, and a day
/// counter someone else holds makes the location full for this re-allocation.
pub(crate) async fn reallocate(
    c: &mut Conn,
    routing: &mut Option<RoutingCatalog>,
    sku: &str,
    location: &str,
    balance: &mut Balance,
    actor: &str,
    at: OffsetDateTime,
) -> Result<Vec<String>> {
    if balance.available() <= 0 {
        return Ok(vec![]);
    }
    let rows = c.query(WAITING_SQL, &[&sku, &location]).await?;
    let mut numbers: Vec<i64> = Vec::with_capacity(rows.len());
    for r in &rows {
        let number: i64 = r.try_get(0)?;
        // Lines of one order come together (same priority, time and number).
        if numbers.last() != Some(&number) {
            numbers.push(number);
        }
    }
    if numbers.is_empty() {
        return Ok(vec![]);
    }
    if routing.is_none() {
        *routing = Some(RoutingCatalog::load(c).await?);
    }
    let routing = routing.as_ref().expect("just loaded");
    let locations = &routing.catalog.locations;
    let capacity = locations
        .iter()
        .find(|l| l.code == location)
        .and_then(|l| l.routing.daily_capacity);
    let mut counter_held_elsewhere = false;
    let here = (sku.to_string(), location.to_string());
    let mut touched = Vec::new();
    for number in numbers {
        if balance.available() <= 0 {
            break;
        }
        let order = reads::load_order(c, number).await?;
        let Some(channel) = routing.catalog.channels.get(&order.channel) else {
            continue;
        };
        let balances_sql = c.prep(REALLOCATE_BALANCES_SQL).await?;
        let products_sql = c.prep(FO_PRODUCTS_SQL).await?;
        let counter_sql = c.prep(REALLOCATE_COUNTER_SQL).await?;
        let load_products = routing.needs_products;
        let lock_counter = capacity.is_some() && !counter_held_elsewhere;
        let client = &c.client;
        let (balances, products, counter) = tokio::join!(
            async { client.query(&balances_sql, &[&number, &location]).await },
            async {
                if !load_products {
                    return Ok(Vec::new());
                }
                client.query(&products_sql, &[&number]).await
            },
            async {
                if !lock_counter {
                    return Ok(Vec::new());
                }
                client.query(&counter_sql, &[&location]).await
            },
        );
        let (balances, products, counter) = (balances?, products?, counter?);
        // Only this location's units are on offer: the engine may place the order's
        // waiting units here and nowhere else.
        let mut stock = LockedStock(BTreeMap::new());
        for r in &balances {
            stock.0.insert(
                (r.try_get(0)?, location.to_string()),
                reads::balance_from(r, 1)?,
            );
        }
        // The freed row is this transaction's: always there, and current.
        *balance = stock
            .0
            .get(&here)
            .copied()
            .ok_or_else(|| internal(format!("balance of {sku} at {location} not locked")))?;
        if balance.available() <= 0 {
            break;
        }
        let mut product_docs: HashMap<String, Product> = HashMap::new();
        for r in &products {
            let doc: &str = r.try_get(1)?;
            product_docs.insert(r.try_get(0)?, serde_json::from_str(doc).map_err(internal)?);
        }
        let mut counts = reads::DayCounts::default();
        counts.add_rows(&counter)?;
        if lock_counter && counter.is_empty() {
            // Held by another transaction (or not created yet): no new fulfillment order
            // here now, rather than a wait that could close a cycle.
            counter_held_elsewhere = true;
        }
        let mut orders_today = counts.orders_today(locations, at);
        if let (Some(cap), true) = (capacity, counter_held_elsewhere) {
            orders_today.insert(location.to_string(), cap);
        }
        let plan = plan_backorder_routing(
            &order,
            &FulfillmentContext {
                channel,
                locations,
                rules: &routing.rules,
                orders_today: &orders_today,
                products: &product_docs,
                stock: &stock,
                now: at,
            },
        );
        if plan.writes.is_empty() {
            continue;
        }
        let reference = format!("order:{}", order_number(number));
        apply_plan(c, number, &plan, &mut stock, &reference, actor, at).await?;
        *balance = stock.0[&here];
        touched.push(order_number(number));
    }
    Ok(touched)
}

/// A count proved units missing that orders were promised: take the allocations of the
/// lowest-priority, newest orders back until nothing is over-promised, and flag those orders.
async fn release_shortage(
    c: &mut Conn,
    sku: &str,
    location: &str,
    balance: &mut Balance,
    actor: &str,
    at: OffsetDateTime,
) -> Result<Vec<String>> {
    let rows = c
        .query(
            "SELECT a.order_number, a.line_no, a.quantity, a.fo_no FROM allocations a \
             JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no \
             JOIN orders o ON o.number = a.order_number \
             WHERE l.sku = $1 AND a.location = $2 \
             ORDER BY o.priority ASC, o.placed_at DESC, o.number DESC, a.line_no, a.fo_no DESC FOR UPDATE OF a, l, o",
            &[&sku, &location],
        )
        .await?;
    let mut shorted: Vec<String> = Vec::new();
    // What each fulfillment order gave up here, kept as its lines if it ends up empty.
    let mut taken: HashMap<(i64, i32), Vec<FulfillmentLine>> = HashMap::new();
    for r in &rows {
        let number: i64 = r.try_get(0)?;
        let line_no: i32 = r.try_get(1)?;
        let quantity: i64 = r.try_get(2)?;
        let fo_no: i32 = r.try_get(3)?;
        let deficit = -balance.available();
        if deficit <= 0 {
            break;
        }
        let q = quantity.min(deficit);
        let reference = format!("order:{}", order_number(number));
        let gave = taken.entry((number, fo_no)).or_default();
        gave.push(FulfillmentLine {
            line_no,
            sku: sku.to_string(),
            quantity: q,
        });
        let closed = serde_json::to_string(gave).map_err(internal)?;
        let take = c
            .prep("UPDATE allocations SET quantity = quantity - $1 WHERE order_number = $2 AND fo_no = $3 AND line_no = $4")
            .await?;
        let drop_empty = c
            .prep("DELETE FROM allocations WHERE quantity = 0 AND order_number = $1")
            .await?;
        let close_empty = c
            .prep(
                "UPDATE fulfillment_orders f SET status = 'cancelled', reason = 'stock shortage', closed_lines = $3, \
                 updated_at = $4 WHERE f.order_number = $1 AND f.fo_no = $2 AND f.status IN ('open', 'on_hold') \
                 AND NOT EXISTS (SELECT 1 FROM allocations a WHERE a.order_number = f.order_number AND a.fo_no = f.fo_no)",
            )
            .await?;
        let line = c
            .prep(
                "UPDATE order_lines SET allocated = allocated - $1, backordered = backordered + $1 \
                 WHERE order_number = $2 AND line_no = $3",
            )
            .await?;
        let client = &c.client;
        let (a, b, e, d) = tokio::join!(
            async {
                client
                    .execute(&take, &[&q, &number, &fo_no, &line_no])
                    .await
            },
            async { client.execute(&drop_empty, &[&number]).await },
            async {
                client
                    .execute(&close_empty, &[&number, &fo_no, &closed, &at])
                    .await
            },
            async { client.execute(&line, &[&q, &number, &line_no]).await },
        );
        a?;
        b?;
        e?;
        d?;
        apply_change(
            c,
            sku,
            location,
            balance,
            StockState::Allocated,
            -q,
            Reason::Deallocation,
            Some(&reference),
            actor,
            at,
        )
        .await?;
        let fill = refresh_fill(c, number, at).await?;
        c.event(
            "order.stock_shortage",
            Some(number),
            actor,
            at,
            &line_stock_event(number, sku, location, q, fill),
        );
        let n = order_number(number);
        if shorted.last() != Some(&n) {
            shorted.push(n);
        }
    }
    Ok(shorted)
}

pub(crate) async fn transition(
    c: &mut Conn,
    key: &str,
    change: &OrderChange,
    ctx: &WriteContext,
) -> Result<Outcome<Order>> {
    if let Some(replay) = idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let Some(number) = reads::resolve_order(c, key).await? else {
        return Err(Problem::NotFound(format!("order {key}")).into());
    };
    // Stock rows before the order row, as every writer does. An order's SKUs never change,
    // so they can be read before anything is locked.
    let mut stock = if change.transition == Transition::Cancel {
        let rows = c
            .query(
                "SELECT DISTINCT sku FROM order_lines WHERE order_number = $1",
                &[&number],
            )
            .await?;
        let skus: Vec<String> = rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        lock_balances(c, &skus).await?
    } else {
        BTreeMap::new()
    };
    let row = c
        .query_one(
            "SELECT status, fill_status FROM orders WHERE number = $1 FOR UPDATE",
            &[&number],
        )
        .await?;
    let status: String = row.try_get(0)?;
    let fill: String = row.try_get(1)?;
    let status = OrderStatus::parse(&status).ok_or_else(|| internal("bad status"))?;
    let fill = OrderStatus::parse(&fill).ok_or_else(|| internal("bad fill status"))?;
    let next = next_status(status, fill, change.transition)?;
    let at = now();
    let num = order_number(number);
    match change.transition {
        Transition::Hold => {
            let reason = change.hold_reason.unwrap_or(HoldReason::Manual);
            c.execute(
                "UPDATE orders SET status = $1, hold_reason = $2, updated_at = $3 WHERE number = $4",
                &[&next.as_str(), &reason.as_str(), &at, &number],
            )
            .await?;
            c.execute(
                "UPDATE fulfillment_orders SET status = 'on_hold', updated_at = $1 WHERE order_number = $2 AND status = 'open'",
                &[&at, &number],
            )
            .await?;
            c.event(
                "order.held",
                Some(number),
                &ctx.actor,
                at,
                &serde_json::json!({"number": num, "reason": reason.as_str(), "note": change.note}),
            );
        }
        Transition::Release => {
            c.execute(
                "UPDATE orders SET status = $1, hold_reason = NULL, updated_at = $2 WHERE number = $3",
                &[&next.as_str(), &at, &number],
            )
            .await?;
            c.execute(
                "UPDATE fulfillment_orders SET status = 'open', updated_at = $1 WHERE order_number = $2 AND status = 'on_hold'",
                &[&at, &number],
            )
            .await?;
            c.event(
                "order.released",
                Some(number),
                &ctx.actor,
                at,
                &serde_json::json!({"number": num, "note": change.note}),
            );
        }
        Transition::Cancel => {
            let rows = c
                .query(
                    "SELECT a.line_no, l.sku, a.location, a.quantity FROM allocations a \
                     JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no \
                     WHERE a.order_number = $1 ORDER BY l.sku, a.location, a.line_no",
                    &[&number],
                )
                .await?;
            let mut released: Vec<(String, String, i64)> = Vec::with_capacity(rows.len());
            for r in &rows {
                released.push((r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
            }
            let reference = format!("order:{num}");
            for (sku, location, q) in &released {
                let key = (sku.clone(), location.clone());
                let mut balance = stock
                    .get(&key)
                    .copied()
                    .ok_or_else(|| internal("allocation without a balance"))?;
                apply_change(
                    c,
                    sku,
                    location,
                    &mut balance,
                    StockState::Allocated,
                    -q,
                    Reason::Deallocation,
                    Some(&reference),
                    &ctx.actor,
                    at,
                )
                .await?;
                stock.insert(key, balance);
            }
            // Before the allocations go: what each fulfillment order held.
            let close = c
                .prep(
                    "UPDATE fulfillment_orders f SET status = 'cancelled', reason = 'order cancelled', updated_at = $2, \
                     closed_lines = COALESCE((SELECT json_agg(json_build_object('line_no', a.line_no, 'sku', l.sku, \
                     'quantity', a.quantity) ORDER BY a.line_no)::text FROM allocations a \
                     JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no \
                     WHERE a.order_number = f.order_number AND a.fo_no = f.fo_no), '[]') \
                     WHERE f.order_number = $1 AND f.status IN ('open', 'on_hold')",
                )
                .await?;
            let del = c
                .prep("DELETE FROM allocations WHERE order_number = $1")
                .await?;
            let lines = c
                .prep(
                    "UPDATE order_lines SET allocated = 0, backordered = 0 WHERE order_number = $1",
                )
                .await?;
            let header = c
                .prep(
                    "UPDATE orders SET status = 'cancelled', cancel_reason = $1, hold_reason = NULL, updated_at = $2 \
                     WHERE number = $3",
                )
                .await?;
            let client = &c.client;
            let (f, a, b, d) = tokio::join!(
                async { client.execute(&close, &[&number, &at]).await },
                async { client.execute(&del, &[&number]).await },
                async { client.execute(&lines, &[&number]).await },
                async { client.execute(&header, &[&change.note, &at, &number]).await },
            );
            f?;
            a?;
            b?;
            d?;
            c.event(
                "order.cancelled",
                Some(number),
                &ctx.actor,
                at,
                &serde_json::json!({"number": num, "reason": change.note, "released": released.iter().map(|(s, l, q)| serde_json::json!({"sku": s, "location": l, "quantity": q})).collect::<Vec<_>>()}),
            );
            let freed: BTreeSet<(String, String)> =
                released.into_iter().map(|(s, l, _)| (s, l)).collect();
            let mut routing = None;
            for key in freed {
                let mut balance = stock[&key];
                reallocate(
                    c,
                    &mut routing,
                    &key.0,
                    &key.1,
                    &mut balance,
                    &ctx.actor,
                    at,
                )
                .await?;
                stock.insert(key, balance);
            }
        }
    }
    let order = reads::load_order(c, number).await?;
    remember(c, ctx, 200, &order).await?;
    Ok(Outcome::Done(order))
}

/// Locked balances as routing and the fulfillment checks read them.
pub(crate) struct LockedStock(pub(crate) BTreeMap<(String, String), Balance>);

impl StockView for LockedStock {
    fn available(&self, sku: &str, location: &str) -> i64 {
        self.0
            .get(&(sku.to_string(), location.to_string()))
            .map_or(0, Balance::available)
    }
}

pub(crate) const FO_PRODUCTS_SQL: &str = "SELECT sku, doc FROM products \
     WHERE sku IN (SELECT sku FROM order_lines WHERE order_number = $1)";
const FO_BALANCES_SQL: &str = "SELECT sku, location, on_hand, allocated, damaged, quality_control, safety_stock, incoming \
     FROM balances WHERE sku IN (SELECT sku FROM order_lines WHERE order_number = $1) \
     ORDER BY sku, location FOR UPDATE";
pub(crate) const FO_LOCK_ORDER_SQL: &str = "SELECT number FROM orders WHERE number = $1 FOR UPDATE";
/// Writes the headers of the fulfillment orders a change touched.
const FO_UPSERT_SQL: &str = "INSERT INTO fulfillment_orders (order_number, fo_no, location, status, request_status, \
     reason, closed_lines, created_at, updated_at) \
     SELECT $1::bigint, u.f, u.l, u.s, u.r, u.reason, u.closed, $7::timestamptz, $7::timestamptz \
     FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $8::text[]) AS u(f, l, s, r, reason, closed) \
     ON CONFLICT (order_number, fo_no) DO UPDATE SET location = EXCLUDED.location, status = EXCLUDED.status, \
     request_status = EXCLUDED.request_status, reason = EXCLUDED.reason, closed_lines = EXCLUDED.closed_lines, \
     updated_at = EXCLUDED.updated_at";
const FO_CLEAR_SQL: &str =
    "DELETE FROM allocations WHERE order_number = $1 AND fo_no = ANY($2::int[])";
const FO_LINES_SQL: &str = "INSERT INTO allocations (order_number, fo_no, line_no, location, quantity) \
     SELECT $1::bigint, u.f, u.line_no, u.l, u.q FROM unnest($2::int[], $3::int[], $4::text[], $5::bigint[]) \
     AS u(f, line_no, l, q) \
     ON CONFLICT (order_number, fo_no, line_no) DO UPDATE SET quantity = allocations.quantity + EXCLUDED.quantity";
const FO_ORDER_LINES_SQL: &str = "UPDATE order_lines l SET allocated = l.allocated + u.d, backordered = l.backordered - u.d \
     FROM unnest($2::int[], $3::bigint[]) AS u(line_no, d) WHERE l.order_number = $1 AND l.line_no = u.line_no";
/// Units that left in a shipment (or came back by a void) leave the lines' reservations.
const FO_SHIPPED_LINES_SQL: &str = "UPDATE order_lines l SET shipped = l.shipped + u.d, allocated = l.allocated - u.d \
     FROM unnest($2::int[], $3::bigint[]) AS u(line_no, d) WHERE l.order_number = $1 AND l.line_no = u.line_no";

/// Moves, splits, merges, or records a fulfiller's answer, with the reservations that
/// follow, in the caller's transaction.
pub(crate) async fn change_fulfillment(
    c: &mut Conn,
    change: &FulfillmentChange,
    ctx: &WriteContext,
) -> Result<Outcome<Order>> {
    if let Some(replay) = idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let number = change.order_number()?;
    // One round trip, locks in the global order: day counters, the stock of the order's
    // SKUs (which never change, so they can be named before the order is locked), then
    // the order itself.
    let channels_sql = c.prep(reads::CHANNEL_DOCS_SQL).await?;
    let locations_sql = c.prep(reads::LOCATION_DOCS_SQL).await?;
    let rules_sql = c.prep(reads::RULES_SQL).await?;
    let products_sql = c.prep(FO_PRODUCTS_SQL).await?;
    let ensure_sql = c.prep(reads::ENSURE_COUNTERS_SQL).await?;
    let counters_sql = c.prep(reads::LOCK_COUNTERS_SQL).await?;
    let balances_sql = c.prep(FO_BALANCES_SQL).await?;
    let order_sql = c.prep(FO_LOCK_ORDER_SQL).await?;
    let client = &c.client;
    let (channels, locations, rules, products, ensured, counters, balances, found) = tokio::join!(
        async { client.query(&channels_sql, &[]).await },
        async { client.query(&locations_sql, &[]).await },
        async { client.query(&rules_sql, &[]).await },
        async { client.query(&products_sql, &[&number]).await },
        async { client.execute(&ensure_sql, &[]).await },
        async { client.query(&counters_sql, &[]).await },
        async { client.query(&balances_sql, &[&number]).await },
        async { client.query_opt(&order_sql, &[&number]).await },
    );
    ensured?;
    let (channels, locations, rules, products, counters, balances, found) = (
        channels?, locations?, rules?, products?, counters?, balances?, found?,
    );
    if found.is_none() {
        return Err(Problem::NotFound(format!("order {}", order_number(number))).into());
    }
    let catalog = reads::catalog_from(&channels, &locations)?;
    let rules = reads::rules_from(&rules)?;
    let mut counts = reads::DayCounts::default();
    counts.add_rows(&counters)?;
    let missing = counts.missing(&catalog.locations);
    if !missing.is_empty() {
        let rows = c.query(reads::LOCK_MORE_COUNTERS_SQL, &[&missing]).await?;
        counts.add_rows(&rows)?;
    }
    let mut product_docs: HashMap<String, Product> = HashMap::new();
    if needs_products(&rules, &catalog.locations) {
        for r in &products {
            let doc: &str = r.try_get(1)?;
            product_docs.insert(r.try_get(0)?, serde_json::from_str(doc).map_err(internal)?);
        }
    }
    let mut stock = LockedStock(BTreeMap::new());
    for r in &balances {
        stock
            .0
            .insert((r.try_get(0)?, r.try_get(1)?), reads::balance_from(r, 2)?);
    }
    let order = reads::load_order(c, number).await?;
    let channel = catalog
        .channels
        .get(&order.channel)
        .ok_or_else(|| internal(format!("channel {} vanished", order.channel)))?;
    let at = now();
    let orders_today = counts.orders_today(&catalog.locations, at);
    let plan = plan_fulfillment_change(
        &order,
        change,
        &FulfillmentContext {
            channel,
            locations: &catalog.locations,
            rules: &rules,
            orders_today: &orders_today,
            products: &product_docs,
            stock: &stock,
            now: at,
        },
    )?;

    let reference = format!("order:{}", order_number(number));
    let freed = apply_plan(c, number, &plan, &mut stock, &reference, &ctx.actor, at).await?;
    // Units given up here may serve orders waiting for them.
    let mut routing = Some(RoutingCatalog::new(catalog, rules));
    for key in freed {
        let mut balance = stock.0[&key];
        reallocate(
            c,
            &mut routing,
            &key.0,
            &key.1,
            &mut balance,
            &ctx.actor,
            at,
        )
        .await?;
        stock.0.insert(key, balance);
    }
    let order = reads::load_order(c, number).await?;
    remember(c, ctx, 200, &order).await?;
    Ok(Outcome::Done(order))
}

/// Writes a fulfillment plan for order `number` (locked by the caller, as are the balance
/// rows in `stock`): headers, each touched fulfillment order's reservations replaced, line
/// figures (allocated and shipped), day counts, stock changes in the ledger (each with its
/// own state and reason, all under `reference`), the order's status and events. Returns
/// the places whose reservations were released.
pub(crate) async fn apply_plan(
    c: &mut Conn,
    number: i64,
    plan: &FulfillmentPlan,
    stock: &mut LockedStock,
    reference: &str,
    actor: &str,
    at: OffsetDateTime,
) -> Result<BTreeSet<(String, String)>> {
    // Headers, then each touched fulfillment order's reservations replaced, then lines.
    let mut fo_no = Vec::with_capacity(plan.writes.len());
    let mut fo_location = Vec::with_capacity(plan.writes.len());
    let mut fo_status = Vec::with_capacity(plan.writes.len());
    let mut fo_request: Vec<Option<&str>> = Vec::with_capacity(plan.writes.len());
    let mut fo_reason: Vec<Option<&str>> = Vec::with_capacity(plan.writes.len());
    let mut fo_closed: Vec<Option<String>> = Vec::with_capacity(plan.writes.len());
    let mut line_fo = Vec::new();
    let mut line_no = Vec::new();
    let mut line_location = Vec::new();
    let mut line_quantity = Vec::new();
    for w in &plan.writes {
        fo_no.push(w.fo_no);
        fo_location.push(w.location.as_str());
        fo_status.push(w.status.as_str());
        fo_request.push(w.request_status.map(RequestStatus::as_str));
        fo_reason.push(w.reason.as_deref());
        fo_closed.push(match &w.closed_lines {
            Some(lines) => Some(serde_json::to_string(lines).map_err(internal)?),
            None => None,
        });
        for l in &w.lines {
            line_fo.push(w.fo_no);
            line_no.push(l.line_no);
            line_location.push(w.location.as_str());
            line_quantity.push(l.quantity);
        }
    }
    let mut per_line: BTreeMap<i32, i64> = BTreeMap::new();
    for (line, delta) in &plan.line_allocated {
        *per_line.entry(*line).or_default() += delta;
    }
    per_line.retain(|_, d| *d != 0);
    let changed_lines: Vec<i32> = per_line.keys().copied().collect();
    let changed_by: Vec<i64> = per_line.values().copied().collect();
    let mut per_line_shipped: BTreeMap<i32, i64> = BTreeMap::new();
    for (line, delta) in &plan.line_shipped {
        *per_line_shipped.entry(*line).or_default() += delta;
    }
    per_line_shipped.retain(|_, d| *d != 0);
    let shipped_lines: Vec<i32> = per_line_shipped.keys().copied().collect();
    let shipped_by: Vec<i64> = per_line_shipped.values().copied().collect();
    let mut bumps = reads::Bumps::default();
    for (location, day) in &plan.capacity_used {
        bumps.add(location, *day);
    }
    let (bump_location, bump_day, bump_orders) = bumps.columns();
    let upsert = c.prep(FO_UPSERT_SQL).await?;
    let clear = c.prep(FO_CLEAR_SQL).await?;
    let insert = c.prep(FO_LINES_SQL).await?;
    let lines = c.prep(FO_ORDER_LINES_SQL).await?;
    let shipped_sql = c.prep(FO_SHIPPED_LINES_SQL).await?;
    let bump = c.prep(reads::BUMP_COUNTERS_SQL).await?;
    let client = &c.client;
    let (r_upsert, r_clear, r_insert, r_lines, r_shipped, r_bump) = tokio::join!(
        async {
            if fo_no.is_empty() {
                return Ok(0);
            }
            client
                .execute(
                    &upsert,
                    &[
                        &number,
                        &fo_no,
                        &fo_location,
                        &fo_status,
                        &fo_request,
                        &fo_reason,
                        &at,
                        &fo_closed,
                    ],
                )
                .await
        },
        async {
            if fo_no.is_empty() {
                return Ok(0);
            }
            client.execute(&clear, &[&number, &fo_no]).await
        },
        async {
            if line_fo.is_empty() {
                return Ok(0);
            }
            client
                .execute(
                    &insert,
                    &[&number, &line_fo, &line_no, &line_location, &line_quantity],
                )
                .await
        },
        async {
            if changed_lines.is_empty() {
                return Ok(0);
            }
            client
                .execute(&lines, &[&number, &changed_lines, &changed_by])
                .await
        },
        async {
            if shipped_lines.is_empty() {
                return Ok(0);
            }
            client
                .execute(&shipped_sql, &[&number, &shipped_lines, &shipped_by])
                .await
        },
        async {
            if bump_location.is_empty() {
                return Ok(0);
            }
            client
                .execute(&bump, &[&bump_location, &bump_day, &bump_orders])
                .await
        },
    );
    r_upsert?;
    r_clear?;
    r_insert?;
    r_lines?;
    r_shipped?;
    r_bump?;

    let mut freed: BTreeSet<(String, String)> = BTreeSet::new();
    for d in plan.stock.iter().filter(|d| d.delta != 0) {
        let key = (d.sku.clone(), d.location.clone());
        let mut balance = stock
            .0
            .get(&key)
            .copied()
            .ok_or_else(|| internal(format!("no balance of {} at {}", d.sku, d.location)))?;
        apply_change(
            c,
            &d.sku,
            &d.location,
            &mut balance,
            d.state,
            d.delta,
            d.reason,
            Some(reference),
            actor,
            at,
        )
        .await?;
        stock.0.insert(key.clone(), balance);
        // Shipped units leave `on_hand` with their reservation: nothing becomes available.
        if d.state == StockState::Allocated && d.delta < 0 && d.reason == Reason::Deallocation {
            freed.insert(key);
        }
    }
    refresh_fill(c, number, at).await?;
    for e in &plan.events {
        c.event(e.kind, Some(number), actor, at, &e.data);
    }
    Ok(freed)
}

/// Inserts or replaces a catalog record; true when it was new.
async fn upsert(c: &mut Conn, sql: &'static str, params: crate::conn::Params<'_>) -> Result<bool> {
    Ok(c.query_one(sql, params).await?.try_get(0)?)
}

pub(crate) async fn put_product(
    c: &mut Conn,
    product: &Product,
    actor: &str,
) -> Result<Created<Product>> {
    let doc = serde_json::to_string(product).map_err(internal)?;
    let at = now();
    // `xmax = 0` only on a freshly inserted row: tells insert from update atomically.
    let created = upsert(
        c,
        "INSERT INTO products (sku, doc, updated_at, active) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (sku) DO UPDATE SET doc = EXCLUDED.doc, updated_at = EXCLUDED.updated_at, active = EXCLUDED.active \
         RETURNING (xmax = 0)",
        &[&product.sku, &doc, &at, &product.active],
    )
    .await?;
    c.event(
        if created {
            "product.created"
        } else {
            "product.updated"
        },
        None,
        actor,
        at,
        &serde_json::json!({"sku": product.sku}),
    );
    Ok(Created {
        value: product.clone(),
        created,
    })
}

pub(crate) async fn put_location(
    c: &mut Conn,
    location: &Location,
    actor: &str,
) -> Result<Created<Location>> {
    let doc = serde_json::to_string(location).map_err(internal)?;
    let at = now();
    let created = upsert(
        c,
        "INSERT INTO locations (code, doc, updated_at, active, priority) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (code) DO UPDATE SET doc = EXCLUDED.doc, updated_at = EXCLUDED.updated_at, \
         active = EXCLUDED.active, priority = EXCLUDED.priority RETURNING (xmax = 0)",
        &[&location.code, &doc, &at, &location.active, &location.priority],
    )
    .await?;
    if location.routing.daily_capacity.is_some() {
        // The day counter exists from the moment a capacity does, committed with it, so
        // re-allocation (which never waits for a counter) finds one to lock. Never waits
        // for a row lock: a counter that exists is left alone.
        c.execute(
            "INSERT INTO location_day_counts (location, day, orders) VALUES ($1, DATE '1970-01-01', 0) \
             ON CONFLICT (location) DO NOTHING",
            &[&location.code],
        )
        .await?;
    }
    c.event(
        if created {
            "location.created"
        } else {
            "location.updated"
        },
        None,
        actor,
        at,
        &serde_json::json!({"code": location.code}),
    );
    Ok(Created {
        value: location.clone(),
        created,
    })
}

pub(crate) async fn put_channel(
    c: &mut Conn,
    channel: &Channel,
    actor: &str,
) -> Result<Created<Channel>> {
    let rows = c
        .query(
            "SELECT code FROM locations WHERE code = ANY($1)",
            &[&channel.locations],
        )
        .await?;
    let known: BTreeSet<String> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
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
    let doc = serde_json::to_string(channel).map_err(internal)?;
    let at = now();
    let created = upsert(
        c,
        "INSERT INTO channels (code, doc, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (code) DO UPDATE SET doc = EXCLUDED.doc, updated_at = EXCLUDED.updated_at RETURNING (xmax = 0)",
        &[&channel.code, &doc, &at],
    )
    .await?;
    c.event(
        if created {
            "channel.created"
        } else {
            "channel.updated"
        },
        None,
        actor,
        at,
        &serde_json::json!({"code": channel.code}),
    );
    Ok(Created {
        value: channel.clone(),
        created,
    })
}

pub(crate) async fn create_api_key(
    c: &mut Conn,
    name: &str,
    role: Role,
    hash: &str,
) -> Result<ApiKey> {
    let at = now();
    let row = c
        .query_one(
            "INSERT INTO api_keys (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&name, &role.as_str(), &hash, &at],
        )
        .await?;
    Ok(ApiKey {
        id: row.try_get(0)?,
        name: name.into(),
        role,
        created_at: at,
    })
}

pub(crate) async fn create_user(
    c: &mut Conn,
    username: &str,
    role: Role,
    hash: &str,
) -> Result<User> {
    let row = c
        .query_opt(
            "INSERT INTO users (username, role, password_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (username) DO NOTHING RETURNING id",
            &[&username, &role.as_str(), &hash, &now()],
        )
        .await?;
    let Some(row) = row else {
        return Err(Problem::Conflict {
            message: format!("user '{username}' already exists"),
            current: None,
        }
        .into());
    };
    Ok(User {
        id: row.try_get(0)?,
        username: username.into(),
        role,
    })
}

pub(crate) async fn record_login(
    c: &mut Conn,
    user_id: i64,
    success: bool,
    locked_until: Option<OffsetDateTime>,
) -> Result<()> {
    if success {
        c.execute(
            "UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE id = $1",
            &[&user_id],
        )
        .await?;
    } else {
        c.execute(
            "UPDATE users SET failed_attempts = failed_attempts + 1, locked_until = $2 WHERE id = $1",
            &[&user_id, &locked_until],
        )
        .await?;
    }
    Ok(())
}

pub(crate) async fn create_session(c: &mut Conn, s: &NewSession) -> Result<()> {
    let at = now();
    // Expired sessions are swept as new ones are made.
    c.execute("DELETE FROM sessions WHERE expires_at < $1", &[&at])
        .await?;
    c.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        &[&s.token_hash, &s.user_id, &s.csrf_token, &at, &s.expires_at],
    )
    .await?;
    Ok(())
}

pub(crate) async fn delete_session(c: &mut Conn, hash: &str) -> Result<()> {
    c.execute("DELETE FROM sessions WHERE token_hash = $1", &[&hash])
        .await?;
    Ok(())
}

pub(crate) async fn put_routing_rules(
    c: &mut Conn,
    rules: &serde_json::Value,
    expected_version: Option<i64>,
    actor: &str,
) -> Result<RuleSet> {
    // Saves from several processes take turns, so versions never collide.
    c.execute(
        "LOCK TABLE routing_rule_sets IN SHARE ROW EXCLUSIVE MODE",
        &[],
    )
    .await?;
    let current: i64 = c
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::bigint FROM routing_rule_sets",
            &[],
        )
        .await?
        .try_get(0)?;
    check_rules_version(current, expected_version)?;
    let at = now();
    let version = current + 1;
    c.execute(
        "INSERT INTO routing_rule_sets (version, rules, saved_by, saved_at) VALUES ($1, $2, $3, $4)",
        &[&version, &rules.to_string(), &actor, &at],
    )
    .await?;
    c.event(
        "routing.rules_changed",
        None,
        actor,
        at,
        &serde_json::json!({"version": version}),
    );
    Ok(RuleSet {
        version,
        rules: rules.clone(),
        saved_by: Some(actor.into()),
        saved_at: Some(at),
    })
}

// ---------------------------------------------------------------------------------------
// Shipments. Lock order as everywhere: advisory lock of the idempotency key, the balance
// rows of the order's SKUs (in `(sku, location)` order), the order row, then the shipment
// row. Every writer of a shipment holds its order's lock, so shipments of one order take
// turns.

const SHIPMENT_INSERT_SQL: &str = "INSERT INTO shipments (number, order_number, fo_no, location, carrier, service, \
     tracking_number, status, doc, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (carrier, tracking_number) DO NOTHING RETURNING number";
const SHIPMENT_UPDATE_SQL: &str =
    "UPDATE shipments SET status = $2, doc = $3, updated_at = $4 WHERE number = $1";
const TRACKING_TAKEN_SQL: &str =
    "SELECT EXISTS (SELECT 1 FROM shipments WHERE carrier = $1 AND tracking_number = $2)";

fn tracking_taken(carrier: &str, tracking_number: &str) -> Problem {
    Problem::Conflict {
        message: format!(
            "tracking number {tracking_number} is already used by another {carrier} shipment"
        ),
        current: None,
    }
}

/// What shipping, voiding and packing read under their locks: the stock of the order's
/// SKUs, the order itself, the locations and the order's products.
pub(crate) struct ShipmentState {
    pub stock: LockedStock,
    pub order: Order,
    pub locations: Vec<Location>,
    pub products: HashMap<String, Product>,
}

/// Locks the balance rows of order `number`'s SKUs, then the order row, in one round trip,
/// and loads what planning a shipment (or packing) reads. `None` when there is no such order.
pub(crate) async fn lock_for_shipment(c: &mut Conn, number: i64) -> Result<Option<ShipmentState>> {
    let locations_sql = c.prep(reads::LOCATION_DOCS_SQL).await?;
    let products_sql = c.prep(FO_PRODUCTS_SQL).await?;
    let balances_sql = c.prep(FO_BALANCES_SQL).await?;
    let order_sql = c.prep(FO_LOCK_ORDER_SQL).await?;
    let client = &c.client;
    let (locations, products, balances, found) = tokio::join!(
        async { client.query(&locations_sql, &[]).await },
        async { client.query(&products_sql, &[&number]).await },
        async { client.query(&balances_sql, &[&number]).await },
        async { client.query_opt(&order_sql, &[&number]).await },
    );
    let (locations, products, balances, found) = (locations?, products?, balances?, found?);
    if found.is_none() {
        return Ok(None);
    }
    let locations: Vec<Location> = locations
        .iter()
        .map(|r| serde_json::from_str(r.try_get(0)?).map_err(internal))
        .collect::<Result<_>>()?;
    let mut product_docs: HashMap<String, Product> = HashMap::new();
    for r in &products {
        let doc: &str = r.try_get(1)?;
        product_docs.insert(r.try_get(0)?, serde_json::from_str(doc).map_err(internal)?);
    }
    let mut stock = LockedStock(BTreeMap::new());
    for r in &balances {
        stock
            .0
            .insert((r.try_get(0)?, r.try_get(1)?), reads::balance_from(r, 2)?);
    }
    let order = reads::load_order(c, number).await?;
    Ok(Some(ShipmentState {
        stock,
        order,
        locations,
        products: product_docs,
    }))
}

/// Writes the fulfillment side of a shipment plan (the shipment row is already written,
/// so the order's status computed here counts it), then serves waiting orders from any
/// reservation it released.
async fn apply_shipment_plan(
    c: &mut Conn,
    plan: &ShipmentPlan,
    stock: &mut LockedStock,
    actor: &str,
    at: OffsetDateTime,
) -> Result<()> {
    let reference = format!(
        "shipment:{}",
        ordo_domain::shipment::shipment_number(plan.shipment.number)
    );
    let number = plan.shipment.order_number;
    let freed = apply_plan(c, number, &plan.fulfillment, stock, &reference, actor, at).await?;
    let mut routing = None;
    for key in freed {
        let mut balance = stock.0[&key];
        reallocate(c, &mut routing, &key.0, &key.1, &mut balance, actor, at).await?;
        stock.0.insert(key, balance);
    }
    Ok(())
}

async fn update_shipment(c: &mut Conn, row: &ShipmentRow) -> Result<()> {
    c.execute(
        SHIPMENT_UPDATE_SQL,
        &[
            &row.number,
            &row.status.as_str(),
            &row.doc_json(),
            &row.updated_at,
        ],
    )
    .await?;
    Ok(())
}

/// Ships one fulfillment order in the caller's transaction.
pub(crate) async fn create_shipment(
    c: &mut Conn,
    input: &NewShipment,
    ctx: &WriteContext,
) -> Result<Outcome<Created<Shipment>>> {
    if let Some(replay) = idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let not_found = || Problem::NotFound(format!("fulfillment order {}", input.fulfillment_order));
    let Some((number, fo_no)) = parse_fulfillment_order_id(&input.fulfillment_order) else {
        return Err(not_found().into());
    };
    let Some(mut state) = lock_for_shipment(c, number).await? else {
        return Err(not_found().into());
    };
    // Packed work ships in the boxes the pack station chose, unless the request says
    // otherwise. (Read under the order's lock, which packing holds too.)
    let packed;
    let input = if input.packages.is_empty()
        && let Some(packing) = reads::packing(c, number, fo_no).await?
    {
        packed = NewShipment {
            packages: packing.packages(),
            ..input.clone()
        };
        &packed
    } else {
        input
    };
    let at = now();
    // Refusals (unknown, on hold, not ready, 3PL not accepted) come before a number is
    // taken, so they leave no gap in the numbering.
    plan_shipment(
        &state.order,
        input,
        0,
        String::new(),
        &state.locations,
        &state.products,
        at,
    )?;
    let shipment_no: i64 = c
        .query_one("SELECT nextval('shipment_number_seq')", &[])
        .await?
        .try_get(0)?;
    let tracking_number = if input.carrier == "own_fleet" {
        let country = state
            .order
            .fulfillment_orders
            .iter()
            .find(|f| f.id == input.fulfillment_order)
            .and_then(|f| state.locations.iter().find(|l| l.code == f.location))
            .and_then(|l| l.address.country.clone());
        own_fleet_tracking_number(shipment_no, country.as_deref())?
    } else {
        input.tracking_number.clone().ok_or_else(|| {
            Problem::invalid(
                "tracking_number",
                format!("is required for carrier {}", input.carrier),
            )
        })?
    };
    let taken: bool = c
        .query_one(TRACKING_TAKEN_SQL, &[&input.carrier, &tracking_number])
        .await?
        .try_get(0)?;
    if taken {
        return Err(tracking_taken(&input.carrier, &tracking_number).into());
    }
    let plan = plan_shipment(
        &state.order,
        input,
        shipment_no,
        tracking_number,
        &state.locations,
        &state.products,
        at,
    )?;
    let row = &plan.shipment;
    // A concurrent shipment may have taken the tracking number since the check: the
    // insert waits for it and then finds the conflict.
    let inserted = c
        .query_opt(
            SHIPMENT_INSERT_SQL,
            &[
                &row.number,
                &row.order_number,
                &row.fo_no,
                &row.location,
                &row.carrier,
                &row.service,
                &row.tracking_number,
                &row.status.as_str(),
                &row.doc_json(),
                &row.created_at,
                &row.updated_at,
            ],
        )
        .await?;
    if inserted.is_none() {
        return Err(tracking_taken(&row.carrier, &row.tracking_number).into());
    }
    apply_shipment_plan(c, &plan, &mut state.stock, &ctx.actor, at).await?;
    let view = plan.shipment.view();
    remember(c, ctx, 201, &view).await?;
    Ok(Outcome::Done(Created {
        value: view,
        created: true,
    }))
}

/// The order a shipment belongs to (which never changes), read before anything is locked.
async fn shipment_order(c: &mut Conn, id: &str) -> Result<(i64, i64)> {
    let not_found = || Problem::NotFound(format!("shipment {id}"));
    let number = parse_shipment_number(id).ok_or_else(not_found)?;
    let row = c
        .query_opt(
            "SELECT order_number FROM shipments WHERE number = $1",
            &[&number],
        )
        .await?
        .ok_or_else(not_found)?;
    Ok((number, row.try_get(0)?))
}

/// Voids a label not yet handed over, in the caller's transaction.
pub(crate) async fn void_shipment(
    c: &mut Conn,
    id: &str,
    ctx: &WriteContext,
) -> Result<Outcome<Shipment>> {
    if let Some(replay) = idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let (shipment_no, order) = shipment_order(c, id).await?;
    let Some(mut state) = lock_for_shipment(c, order).await? else {
        return Err(internal(format!(
            "order {} of shipment {id} vanished",
            order_number(order)
        )));
    };
    let row = reads::lock_shipment(c, shipment_no)
        .await?
        .ok_or_else(|| Problem::NotFound(format!("shipment {id}")))?;
    let at = now();
    let plan = plan_void(&state.order, &row, at)?;
    update_shipment(c, &plan.shipment).await?;
    apply_shipment_plan(c, &plan, &mut state.stock, &ctx.actor, at).await?;
    let view = plan.shipment.view();
    remember(c, ctx, 200, &view).await?;
    Ok(Outcome::Done(view))
}

/// Records a carrier's tracking event, in the caller's transaction.
pub(crate) async fn add_tracking_event(
    c: &mut Conn,
    id: &str,
    event: &TrackingEvent,
    ctx: &WriteContext,
) -> Result<Outcome<Shipment>> {
    if let Some(replay) = idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let (shipment_no, order) = shipment_order(c, id).await?;
    // No stock moves: the order row (its status may change) and then the shipment.
    c.query_one(FO_LOCK_ORDER_SQL, &[&order]).await?;
    let row = reads::lock_shipment(c, shipment_no)
        .await?
        .ok_or_else(|| Problem::NotFound(format!("shipment {id}")))?;
    let at = now();
    let (updated, event_row) = plan_tracking(&row, event.clone(), at)?;
    update_shipment(c, &updated).await?;
    refresh_fill(c, order, at).await?;
    c.event(event_row.kind, Some(order), &ctx.actor, at, &event_row.data);
    let doc: String = c
        .query_one("SELECT doc FROM orders WHERE number = $1", &[&order])
        .await?
        .get(0);
    if let Some((doc, flagged)) = ordo_store::plan_flag(&doc, &updated)? {
        c.execute(
            "UPDATE orders SET doc = $1, updated_at = $2 WHERE number = $3",
            &[&doc, &at, &order],
        )
        .await?;
        c.event(flagged.kind, Some(order), &ctx.actor, at, &flagged.data);
    }
    let view = updated.view();
    remember(c, ctx, 200, &view).await?;
    Ok(Outcome::Done(view))
}

/// Orders with a labelled shipment of carrier `$2` at `$1` not yet on a manifest, locked in
/// number order.
const MANIFEST_LOCK_ORDERS_SQL: &str = "SELECT o.number FROM orders o WHERE o.number IN \
     (SELECT s.order_number FROM shipments s WHERE s.location = $1 AND s.carrier = $2 \
     AND s.manifest IS NULL AND s.status = 'label_created') ORDER BY o.number FOR UPDATE OF o";
/// Hands shipments `$1` (with documents `$2` and statuses `$3`) over on manifest `$5`.
const MANIFEST_SHIPMENTS_SQL: &str = "UPDATE shipments s SET status = u.status, doc = u.doc, \
     updated_at = $4, manifest = $5 FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(number, doc, status) \
     WHERE s.number = u.number";
const MANIFEST_INSERT_SQL: &str = "INSERT INTO manifests (number, location, carrier, doc, created_at) \
     VALUES ($1, $2, $3, $4, $5)";

/// Closes the manifest of `carrier` at `location`, in the caller's transaction: every
/// labelled shipment not yet on a manifest is handed over (`in_transit`).
///
/// Locks as a tracking event takes them, for many shipments at once: the order rows (in
/// number order), then the shipment rows (in number order). Voiding takes the same order
/// lock before the shipment's, so a void and a manifest of one shipment take turns and the
/// second sees what the first did: the manifest leaves a voided shipment off, and a void
/// finds a handed-over shipment no longer voidable.
pub(crate) async fn close_manifest(
    c: &mut Conn,
    location: &str,
    carrier: &str,
    ctx: &WriteContext,
) -> Result<Outcome<Created<Manifest>>> {
    if let Some(replay) = idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let known: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM locations WHERE code = $1)",
            &[&location],
        )
        .await?
        .try_get(0)?;
    if !known {
        return Err(Problem::invalid("location", format!("unknown location '{location}'")).into());
    }
    let orders: Vec<i64> = c
        .query(MANIFEST_LOCK_ORDERS_SQL, &[&location, &carrier])
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<std::result::Result<_, _>>()?;
    let rows = reads::lock_unmanifested(c, location, carrier, &orders).await?;
    let at = now();
    if rows.is_empty() {
        // Nothing to hand over: the planner's refusal, before a number is taken.
        plan_manifest(0, location, carrier, &rows, at)?;
    }
    let number: i64 = c
        .query_one("SELECT nextval('manifest_number_seq')", &[])
        .await?
        .try_get(0)?;
    let (manifest, updated, events) = plan_manifest(number, location, carrier, &rows, at)?;
    let numbers: Vec<i64> = updated.iter().map(|r| r.number).collect();
    let docs: Vec<String> = updated.iter().map(ShipmentRow::doc_json).collect();
    let statuses: Vec<&str> = updated.iter().map(|r| r.status.as_str()).collect();
    c.execute(
        MANIFEST_SHIPMENTS_SQL,
        &[&numbers, &docs, &statuses, &at, &number],
    )
    .await?;
    for (row, event) in updated.iter().zip(&events) {
        c.event(
            event.kind,
            Some(row.order_number),
            &ctx.actor,
            at,
            &event.data,
        );
    }
    let touched: BTreeSet<i64> = updated.iter().map(|r| r.order_number).collect();
    for order in touched {
        refresh_fill(c, order, at).await?;
    }
    let doc = serde_json::to_string(&manifest).map_err(internal)?;
    c.execute(
        MANIFEST_INSERT_SQL,
        &[&number, &location, &carrier, &doc, &at],
    )
    .await?;
    remember(c, ctx, 201, &manifest).await?;
    Ok(Outcome::Done(Created {
        value: manifest,
        created: true,
    }))
}

pub(crate) async fn map_order_line(
    c: &mut Conn,
    key: &str,
    line_no: i32,
    sku: &str,
    ctx: &WriteContext,
) -> Result<Outcome<Order>> {
    if let Some(replay) = idempotent_replay(c, ctx).await? {
        return Ok(replay);
    }
    let Some(number) = reads::resolve_order(c, key).await? else {
        return Err(Problem::NotFound(format!("order {key}")).into());
    };
    let active: Option<bool> = c
        .query_opt("SELECT active FROM products WHERE sku = $1", &[&sku])
        .await?
        .map(|r| r.try_get(0))
        .transpose()?;
    match active {
        None => return Err(Problem::invalid("sku", format!("unknown SKU '{sku}'")).into()),
        Some(false) => {
            return Err(Problem::invalid("sku", format!("product '{sku}' is inactive")).into());
        }
        Some(true) => {}
    }
    // Stock rows before the order row, as every writer does.
    let mut stock = lock_balances(c, &[sku.to_string()]).await?;
    c.execute(
        "SELECT 1 FROM orders WHERE number = $1 FOR UPDATE",
        &[&number],
    )
    .await?;
    let order = reads::load_order(c, number).await?;
    let mapping = plan_line_mapping(&order, line_no, sku)?;
    let at = now();
    c.execute(
        "UPDATE order_lines SET sku = $1 WHERE order_number = $2 AND line_no = $3",
        &[&sku, &number, &line_no],
    )
    .await?;
    c.execute(
        "UPDATE orders SET doc = $1, updated_at = $2 WHERE number = $3",
        &[&mapping.doc_json, &at, &number],
    )
    .await?;
    c.event(
        "order.line_mapped",
        Some(number),
        &ctx.actor,
        at,
        &mapping.event,
    );
    // The line now waits for its SKU like any backorder: stock at hand goes to waiting
    // orders in their usual turn.
    let mut routing = None;
    let keys: Vec<(String, String)> = stock.keys().cloned().collect();
    for key in keys {
        let mut balance = stock[&key];
        reallocate(
            c,
            &mut routing,
            &key.0,
            &key.1,
            &mut balance,
            &ctx.actor,
            at,
        )
        .await?;
        stock.insert(key, balance);
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
        transition(c, &num, &change, &inner).await?;
    }
    if mapping.hold_for_payment {
        let change = OrderChange {
            transition: Transition::Hold,
            hold_reason: Some(HoldReason::PaymentPending),
            note: Some("payment pending on the channel".into()),
        };
        transition(c, &num, &change, &inner).await?;
    }
    let order = reads::load_order(c, number).await?;
    remember(c, ctx, 200, &order).await?;
    Ok(Outcome::Done(order))
}
