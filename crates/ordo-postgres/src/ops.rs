//! Write commands other than capture. Each runs inside a transaction its caller opened
//! and commits; events are queued on the connection and appended at commit.
//!
//! Lock order, the same everywhere so that writers of several processes cannot deadlock
//! in the common cases: advisory locks (idempotency keys), then balance rows sorted by
//! `(sku, location)`, then order and line rows in serving order. The rare cycles that
//! remain end in a deadlock error, and the caller runs the transaction again.

use std::collections::{BTreeMap, BTreeSet};

use ordo_domain::Problem;
use ordo_domain::allocation::{candidates, fill_waiting};
use ordo_domain::catalog::{Channel, Location, Product};
use ordo_domain::error::Errors;
use ordo_domain::inventory::{Balance, Reason, StockState, StockWrite, plan_write};
use ordo_domain::order::{
    HoldReason, Order, OrderStatus, Transition, order_number, transition as next_status,
};
use ordo_store::*;
use time::OffsetDateTime;

use crate::conn::{Conn, Result, internal, lock_key, now};
use crate::reads::{self, Catalog};

async fn idempotent_replay<T>(c: &mut Conn, ctx: &WriteContext) -> Result<Option<Outcome<T>>> {
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

async fn remember<T: serde::Serialize>(
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
async fn lock_balances(
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
    let mut catalog = None;
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
                    &mut catalog,
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
            &mut catalog,
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

/// Recomputes an order's allocation state after its lines changed. The order row must be
/// locked by the caller.
async fn refresh_fill(c: &mut Conn, number: i64, at: OffsetDateTime) -> Result<OrderStatus> {
    let row = c
        .query_one(
            "SELECT COALESCE(SUM(l.allocated), 0)::bigint, COALESCE(SUM(l.quantity), 0)::bigint, o.status \
             FROM orders o LEFT JOIN order_lines l ON l.order_number = o.number WHERE o.number = $1 GROUP BY o.number",
            &[&number],
        )
        .await?;
    let allocated: i64 = row.try_get(0)?;
    let quantity: i64 = row.try_get(1)?;
    let status: String = row.try_get(2)?;
    let fill = OrderStatus::from_fill(allocated, quantity);
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

/// Gives units now available at (sku, location) to waiting lines: higher priority first,
/// then oldest. The balance row must be locked by the caller. Returns the numbers of the
/// orders that received stock.
async fn reallocate(
    c: &mut Conn,
    catalog: &mut Option<Catalog>,
    sku: &str,
    location: &str,
    balance: &mut Balance,
    actor: &str,
    at: OffsetDateTime,
) -> Result<Vec<String>> {
    if balance.available() <= 0 {
        return Ok(vec![]);
    }
    // Locked, and read after the lock: a line cancelled or filled meanwhile drops out.
    let rows = c
        .query(
            "SELECT l.order_number, l.line_no, l.backordered, o.channel, o.ship_country FROM order_lines l \
             JOIN orders o ON o.number = l.order_number \
             WHERE l.sku = $1 AND l.backordered > 0 AND o.status <> 'cancelled' \
             ORDER BY o.priority DESC, o.placed_at, o.number, l.line_no FOR UPDATE OF l, o",
            &[&sku],
        )
        .await?;
    if rows.is_empty() {
        return Ok(vec![]);
    }
    if catalog.is_none() {
        *catalog = Some(reads::load_catalog(c).await?);
    }
    let cat = catalog.as_ref().expect("just loaded");
    let mut eligible: Vec<(i64, i32, i64)> = Vec::new();
    for r in &rows {
        let channel: String = r.try_get(3)?;
        let country: String = r.try_get(4)?;
        let serves = cat.channels.get(&channel).is_some_and(|ch| {
            candidates(ch, &cat.locations, &country)
                .iter()
                .any(|cand| cand.location == location)
        });
        if serves {
            eligible.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
        }
    }
    let needs: Vec<i64> = eligible.iter().map(|l| l.2).collect();
    let grants = fill_waiting(balance.available(), &needs);
    let mut touched = Vec::new();
    for (&(number, line_no, _), q) in eligible.iter().zip(grants) {
        if q == 0 {
            continue;
        }
        let reference = format!("order:{}", order_number(number));
        let upsert = c
            .prep(
                "INSERT INTO allocations (order_number, line_no, location, quantity) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (order_number, line_no, location) DO UPDATE SET quantity = allocations.quantity + EXCLUDED.quantity",
            )
            .await?;
        let line = c
            .prep(
                "UPDATE order_lines SET allocated = allocated + $1, backordered = backordered - $1 \
                 WHERE order_number = $2 AND line_no = $3",
            )
            .await?;
        let client = &c.client;
        let (a, b) = tokio::join!(
            async {
                client
                    .execute(&upsert, &[&number, &line_no, &location, &q])
                    .await
            },
            async { client.execute(&line, &[&q, &number, &line_no]).await },
        );
        a?;
        b?;
        apply_change(
            c,
            sku,
            location,
            balance,
            StockState::Allocated,
            q,
            Reason::Allocation,
            Some(&reference),
            actor,
            at,
        )
        .await?;
        let fill = refresh_fill(c, number, at).await?;
        c.event(
            "order.reallocated",
            Some(number),
            actor,
            at,
            &line_stock_event(number, sku, location, q, fill),
        );
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
            "SELECT a.order_number, a.line_no, a.quantity FROM allocations a \
             JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no \
             JOIN orders o ON o.number = a.order_number \
             WHERE l.sku = $1 AND a.location = $2 \
             ORDER BY o.priority ASC, o.placed_at DESC, o.number DESC, a.line_no FOR UPDATE OF a, l, o",
            &[&sku, &location],
        )
        .await?;
    let mut shorted = Vec::new();
    for r in &rows {
        let number: i64 = r.try_get(0)?;
        let line_no: i32 = r.try_get(1)?;
        let quantity: i64 = r.try_get(2)?;
        let deficit = -balance.available();
        if deficit <= 0 {
            break;
        }
        let q = quantity.min(deficit);
        let reference = format!("order:{}", order_number(number));
        let take = c
            .prep("UPDATE allocations SET quantity = quantity - $1 WHERE order_number = $2 AND line_no = $3 AND location = $4")
            .await?;
        let drop_empty = c
            .prep("DELETE FROM allocations WHERE quantity = 0 AND order_number = $1")
            .await?;
        let line = c
            .prep(
                "UPDATE order_lines SET allocated = allocated - $1, backordered = backordered + $1 \
                 WHERE order_number = $2 AND line_no = $3",
            )
            .await?;
        let client = &c.client;
        let (a, b, d) = tokio::join!(
            async {
                client
                    .execute(&take, &[&q, &number, &line_no, &location])
                    .await
            },
            async { client.execute(&drop_empty, &[&number]).await },
            async { client.execute(&line, &[&q, &number, &line_no]).await },
        );
        a?;
        b?;
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
        shorted.push(order_number(number));
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
            let (a, b, d) = tokio::join!(
                async { client.execute(&del, &[&number]).await },
                async { client.execute(&lines, &[&number]).await },
                async { client.execute(&header, &[&change.note, &at, &number]).await },
            );
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
            let mut catalog = None;
            for key in freed {
                let mut balance = stock[&key];
                reallocate(
                    c,
                    &mut catalog,
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
