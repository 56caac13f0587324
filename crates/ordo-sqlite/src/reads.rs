//! Queries. They take any connection: a reader's, or the writer's inside its transaction.

use std::collections::HashMap;

use ordo_domain::catalog::{Channel, Location, Product, available_to_sell};
use ordo_domain::fulfillment::{
    FulfillmentOrder, FulfillmentStatus, RequestStatus, fulfillment_order_id,
    parse_fulfillment_order_id,
};
use ordo_domain::inventory::Balance;
use ordo_domain::order::{HoldReason, Order, OrderStatus, order_number, parse_order_number};
use ordo_store::*;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use uuid::Uuid;

use crate::internal;
use crate::writer::Catalog;

fn decode<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T> {
    serde_json::from_str(doc).map_err(internal)
}

pub(crate) fn get_doc<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    key: &str,
) -> Result<Option<T>> {
    let doc: Option<String> = conn
        .prepare_cached(sql)
        .map_err(internal)?
        .query_row([key], |r| r.get(0))
        .optional()
        .map_err(internal)?;
    doc.map(|d| decode(&d)).transpose()
}

pub(crate) fn all_docs<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    sql: &str,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(internal)?;
    let docs = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(internal)?;
    docs.map(|d| decode(&d.map_err(internal)?)).collect()
}

pub(crate) fn load_catalog(conn: &Connection) -> Result<Catalog> {
    let channels: Vec<Channel> = all_docs(conn, "SELECT doc FROM channels")?;
    let locations: Vec<Location> =
        all_docs(conn, "SELECT doc FROM locations ORDER BY priority, code")?;
    let rules: Vec<ordo_routing::Rule> = match conn
        .query_row(
            "SELECT rules FROM routing_rule_sets ORDER BY version DESC LIMIT 1",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()
        .map_err(internal)?
    {
        Some(json) => decode(&json)?,
        None => Vec::new(),
    };
    Ok(Catalog {
        channels: channels.into_iter().map(|c| (c.code.clone(), c)).collect(),
        needs_products: ordo_store::needs_products(&rules, &locations),
        has_capacity: locations.iter().any(|l| l.routing.daily_capacity.is_some()),
        locations,
        rules,
    })
}

/// The number below which a newest-first page continues (numbers are the lists' keys).
fn newest_first_cursor(page: &PageRequest) -> Result<i64> {
    match cursor_key(page)? {
        Some(key) => key.parse::<i64>().map_err(|_| {
            StoreError::from(ordo_domain::Problem::invalid(
                "cursor",
                "is not a cursor from this list",
            ))
        }),
        None => Ok(i64::MAX),
    }
}

fn next_cursor<T>(items: &[T], limit: i64, key: impl Fn(&T) -> String) -> Option<String> {
    if items.len() as i64 == limit {
        items.last().map(|i| encode_cursor(&key(i)))
    } else {
        None
    }
}

fn cursor_key(page: &PageRequest) -> Result<Option<String>> {
    match &page.cursor {
        None => Ok(None),
        Some(c) => decode_cursor(c).map(Some).ok_or_else(|| {
            ordo_domain::Problem::invalid("cursor", "is not a cursor this server issued").into()
        }),
    }
}

pub(crate) fn list_products(conn: &Connection, page: &PageRequest) -> Result<Page<Product>> {
    let after = cursor_key(page)?.unwrap_or_default();
    let mut stmt = conn
        .prepare_cached("SELECT doc FROM products WHERE sku > ?1 ORDER BY sku LIMIT ?2")
        .map_err(internal)?;
    let docs = stmt
        .query_map(params![after, page.limit()], |r| r.get::<_, String>(0))
        .map_err(internal)?;
    let items: Vec<Product> = docs
        .map(|d| decode(&d.map_err(internal)?))
        .collect::<Result<_>>()?;
    Ok(Page {
        next_cursor: next_cursor(&items, page.limit(), |p| p.sku.clone()),
        items,
    })
}

pub(crate) fn balance_from(r: &Row<'_>, first: usize) -> rusqlite::Result<Balance> {
    Ok(Balance {
        on_hand: r.get(first)?,
        allocated: r.get(first + 1)?,
        damaged: r.get(first + 2)?,
        quality_control: r.get(first + 3)?,
        safety_stock: r.get(first + 4)?,
        incoming: r.get(first + 5)?,
    })
}

pub(crate) fn load_balance(conn: &Connection, sku: &str, location: &str) -> Result<Balance> {
    Ok(conn
        .prepare_cached(
            "SELECT on_hand, allocated, damaged, quality_control, safety_stock, incoming FROM balances WHERE sku = ?1 AND location = ?2",
        )
        .map_err(internal)?
        .query_row(params![sku, location], |r| balance_from(r, 0))
        .optional()
        .map_err(internal)?
        .unwrap_or_default())
}

/// Fulfillment orders routed today (each location's own day) to locations with a daily capacity.
pub(crate) fn orders_today(
    conn: &Connection,
    locations: &[Location],
    now: time::OffsetDateTime,
) -> Result<HashMap<String, u32>> {
    let mut out = HashMap::new();
    let mut stmt = conn
        .prepare_cached("SELECT day, orders FROM location_day_counts WHERE location = ?1")
        .map_err(internal)?;
    for l in locations
        .iter()
        .filter(|l| l.routing.daily_capacity.is_some())
    {
        let today = ordo_store::location_today(l, now).to_string();
        let count = stmt
            .query_row([&l.code], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()
            .map_err(internal)?
            .filter(|(day, _)| *day == today)
            .map_or(0, |(_, n)| n);
        out.insert(l.code.clone(), count as u32);
    }
    Ok(out)
}

pub(crate) fn locations_with_available(conn: &Connection, sku: &str) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT location FROM balances WHERE sku = ?1 AND on_hand - allocated - damaged - quality_control - safety_stock > 0 ORDER BY location",
        )
        .map_err(internal)?;
    let rows = stmt.query_map([sku], |r| r.get(0)).map_err(internal)?;
    rows.collect::<rusqlite::Result<_>>().map_err(internal)
}

/// Orders waiting for `sku`, in the order they are served: higher priority first, then
/// oldest. Orders whose request a location rejected never wait for stock there.
pub(crate) fn waiting_orders(conn: &Connection, sku: &str, location: &str) -> Result<Vec<i64>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT l.order_number FROM order_lines l \
             JOIN orders o ON o.number = l.order_number \
             WHERE l.sku = ?1 AND l.backordered > 0 AND o.status <> 'cancelled' \
             AND NOT EXISTS (SELECT 1 FROM fulfillment_orders f WHERE f.order_number = l.order_number \
               AND f.location = ?2 AND f.request_status = 'rejected') \
             GROUP BY l.order_number ORDER BY MAX(o.priority) DESC, MIN(o.placed_at), l.order_number",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map(params![sku, location], |r| r.get(0))
        .map_err(internal)?;
    rows.collect::<rusqlite::Result<_>>().map_err(internal)
}

pub(crate) fn list_balances(
    conn: &Connection,
    filter: &BalanceFilter,
    page: &PageRequest,
) -> Result<Page<BalanceRow>> {
    let after = cursor_key(page)?.unwrap_or_default();
    let (after_sku, after_loc) = after
        .split_once('\u{1f}')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or_default();
    let mut stmt = conn
        .prepare_cached(
            "SELECT sku, location, on_hand, allocated, damaged, quality_control, safety_stock, incoming FROM balances \
             WHERE (?1 IS NULL OR sku = ?1) AND (?2 IS NULL OR location = ?2) AND (sku, location) > (?3, ?4) \
             ORDER BY sku, location LIMIT ?5",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map(
            params![
                filter.sku,
                filter.location,
                after_sku,
                after_loc,
                page.limit()
            ],
            |r| Ok(BalanceRow::new(r.get(0)?, r.get(1)?, balance_from(r, 2)?)),
        )
        .map_err(internal)?;
    let items: Vec<BalanceRow> = rows.collect::<rusqlite::Result<_>>().map_err(internal)?;
    Ok(Page {
        next_cursor: next_cursor(&items, page.limit(), |b| {
            format!("{}\u{1f}{}", b.sku, b.location)
        }),
        items,
    })
}

pub(crate) fn list_movements(
    conn: &Connection,
    filter: &MovementFilter,
    page: &PageRequest,
) -> Result<Page<Movement>> {
    let before: i64 = cursor_key(page)?
        .and_then(|c| c.parse().ok())
        .unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, at, sku, location, state, delta, before, after, reason, reference, actor FROM movements \
             WHERE (?1 IS NULL OR sku = ?1) AND (?2 IS NULL OR location = ?2) AND seq < ?3 \
             AND (?5 IS NULL OR reason = ?5) AND (?6 IS NULL OR at >= ?6) AND (?7 IS NULL OR at < ?7) \
             ORDER BY seq DESC LIMIT ?4",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map(
            params![
                filter.sku,
                filter.location,
                before,
                page.limit(),
                filter.reason,
                filter.after.map(format_time),
                filter.before.map(format_time)
            ],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            },
        )
        .map_err(internal)?;
    let mut items = Vec::new();
    for row in rows {
        let (seq, at, sku, location, state, delta, before, after, reason, reference, actor) =
            row.map_err(internal)?;
        items.push(Movement {
            seq,
            at: parse_time(&at).map_err(internal)?,
            sku,
            location,
            state,
            delta,
            before,
            after,
            reason,
            reference,
            actor,
        });
    }
    Ok(Page {
        next_cursor: next_cursor(&items, page.limit(), |m| m.seq.to_string()),
        items,
    })
}

pub(crate) fn channel_availability(
    conn: &Connection,
    channel: &str,
    sku: Option<&str>,
    page: &PageRequest,
) -> Result<Page<ChannelAvailability>> {
    let catalog = load_catalog(conn)?;
    let Some(ch) = catalog.channels.get(channel) else {
        return Err(ordo_domain::Problem::NotFound(format!("channel {channel}")).into());
    };
    let locations: Vec<&str> = catalog
        .locations
        .iter()
        .filter(|l| l.active && (ch.locations.is_empty() || ch.locations.contains(&l.code)))
        .map(|l| l.code.as_str())
        .collect();
    let skus: Vec<String> = match sku {
        Some(s) => {
            let exists: bool = conn
                .query_row(
                    "SELECT COUNT(*) > 0 FROM products WHERE sku = ?1",
                    [s],
                    |r| r.get(0),
                )
                .map_err(internal)?;
            if !exists {
                return Err(ordo_domain::Problem::NotFound(format!("product {s}")).into());
            }
            vec![s.to_string()]
        }
        None => {
            let after = cursor_key(page)?.unwrap_or_default();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT sku FROM products WHERE sku > ?1 AND active = 1 ORDER BY sku LIMIT ?2",
                )
                .map_err(internal)?;
            let rows = stmt
                .query_map(params![after, page.limit()], |r| r.get(0))
                .map_err(internal)?;
            rows.collect::<rusqlite::Result<_>>().map_err(internal)?
        }
    };
    let mut items = Vec::with_capacity(skus.len());
    let mut stmt = conn
        .prepare_cached("SELECT location, on_hand, allocated, damaged, quality_control, safety_stock, incoming FROM balances WHERE sku = ?1")
        .map_err(internal)?;
    for s in &skus {
        let rows = stmt
            .query_map([s], |r| Ok((r.get::<_, String>(0)?, balance_from(r, 1)?)))
            .map_err(internal)?;
        let mut per_location = Vec::new();
        for row in rows {
            let (location, b) = row.map_err(internal)?;
            if locations.contains(&location.as_str()) {
                per_location.push(LocationAvailability {
                    location,
                    available: b.available(),
                });
            }
        }
        items.push(ChannelAvailability {
            channel: channel.to_string(),
            sku: s.clone(),
            available_to_sell: available_to_sell(per_location.iter().map(|l| l.available), ch),
            locations: per_location,
        });
    }
    let next = if sku.is_none() {
        next_cursor(&items, page.limit(), |a| a.sku.clone())
    } else {
        None
    };
    Ok(Page {
        items,
        next_cursor: next,
    })
}

pub(crate) fn verify(conn: &Connection) -> Result<VerifyReport> {
    // One read transaction: every query below sees the same snapshot, even while writes go on.
    if !conn.is_autocommit() {
        // Already inside one (a pooled reader's).
        return verify_in_snapshot(conn);
    }
    conn.execute_batch("BEGIN").map_err(internal)?;
    let report = verify_in_snapshot(conn);
    let _ = conn.execute_batch("COMMIT");
    report
}

fn verify_in_snapshot(conn: &Connection) -> Result<VerifyReport> {
    let mut input = VerifyInput::default();
    let mut stmt = conn
        .prepare(
            "SELECT sku, location, state, SUM(delta) FROM movements GROUP BY sku, location, state",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))
        .map_err(internal)?;
    input.ledger = rows.collect::<rusqlite::Result<_>>().map_err(internal)?;
    let mut stmt = conn
        .prepare(
            "SELECT l.sku, a.location, SUM(a.quantity) FROM allocations a \
             JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no GROUP BY l.sku, a.location",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
        .map_err(internal)?;
    input.open = rows.collect::<rusqlite::Result<_>>().map_err(internal)?;
    let mut stmt = conn
        .prepare("SELECT sku, location, on_hand, allocated, damaged, quality_control, safety_stock, incoming FROM balances")
        .map_err(internal)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, balance_from(r, 2)?)))
        .map_err(internal)?;
    input.balances = rows.collect::<rusqlite::Result<_>>().map_err(internal)?;
    let mut stmt = conn
        .prepare(
            "SELECT l.order_number, l.line_no, l.sku, l.quantity, l.allocated, l.backordered, o.status = 'cancelled', \
             (SELECT COALESCE(SUM(a.quantity), 0) FROM allocations a WHERE a.order_number = l.order_number AND a.line_no = l.line_no), \
             l.shipped FROM order_lines l JOIN orders o ON o.number = l.order_number",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(LineCheck {
                order_number: r.get(0)?,
                line_no: r.get(1)?,
                sku: r.get(2)?,
                quantity: r.get(3)?,
                allocated: r.get(4)?,
                backordered: r.get(5)?,
                cancelled: r.get(6)?,
                reserved: r.get(7)?,
                shipped: r.get(8)?,
            })
        })
        .map_err(internal)?;
    input.lines = rows.collect::<rusqlite::Result<_>>().map_err(internal)?;
    let mut stmt = conn
        .prepare(
            "SELECT a.order_number, a.fo_no, l.sku, a.location, a.quantity, f.location, f.status FROM allocations a \
             JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no \
             LEFT JOIN fulfillment_orders f ON f.order_number = a.order_number AND f.fo_no = a.fo_no \
             WHERE f.fo_no IS NULL OR f.location <> a.location OR f.status IN ('cancelled', 'shipped')",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(StrayAllocation {
                order_number: r.get(0)?,
                fo_no: r.get(1)?,
                sku: r.get(2)?,
                location: r.get(3)?,
                quantity: r.get(4)?,
                fo_location: r.get(5)?,
                fo_status: r.get(6)?,
            })
        })
        .map_err(internal)?;
    input.stray_allocations = rows.collect::<rusqlite::Result<_>>().map_err(internal)?;
    Ok(verify_report(input))
}

pub(crate) fn resolve_order(conn: &Connection, key: &str) -> Result<Option<i64>> {
    if let Some(n) = parse_order_number(key) {
        let found: Option<i64> = conn
            .prepare_cached("SELECT number FROM orders WHERE number = ?1")
            .map_err(internal)?
            .query_row([n], |r| r.get(0))
            .optional()
            .map_err(internal)?;
        return Ok(found);
    }
    let Ok(id) = Uuid::parse_str(key) else {
        return Ok(None);
    };
    conn.prepare_cached("SELECT number FROM orders WHERE id = ?1")
        .map_err(internal)?
        .query_row([id.to_string()], |r| r.get(0))
        .optional()
        .map_err(internal)
}

fn order_row(r: &Row<'_>) -> rusqlite::Result<(OrderRow, ())> {
    let status: String = r.get(4)?;
    let fill: String = r.get(5)?;
    let hold: Option<String> = r.get(6)?;
    let parse_t = |i: usize| -> rusqlite::Result<time::OffsetDateTime> {
        let s: String = r.get(i)?;
        parse_time(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
    };
    let id: String = r.get(1)?;
    Ok((
        OrderRow {
            number: r.get(0)?,
            id: Uuid::parse_str(&id).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.into())
            })?,
            channel: r.get(2)?,
            external_id: r.get(3)?,
            status: OrderStatus::parse(&status).unwrap_or(OrderStatus::OnHold),
            fill_status: OrderStatus::parse(&fill).unwrap_or(OrderStatus::Backordered),
            hold_reason: hold.as_deref().and_then(HoldReason::parse),
            cancel_reason: r.get(7)?,
            placed_at: parse_t(8)?,
            created_at: parse_t(9)?,
            updated_at: parse_t(10)?,
            email: r.get(11)?,
            ship_country: r.get(12)?,
            currency: r.get(13)?,
            priority: r.get(14)?,
            total: r.get(15)?,
            units: r.get(16)?,
            doc: r.get(17)?,
        },
        (),
    ))
}

const ORDER_BY_NUMBER: &str = "SELECT number, id, channel, external_id, status, fill_status, hold_reason, cancel_reason, placed_at, created_at, updated_at, email, ship_country, currency, priority, total, units, doc FROM orders WHERE number = ?1";

pub(crate) fn load_order(conn: &Connection, number: i64) -> Result<Order> {
    find_order(conn, number)?.ok_or_else(|| internal(format!("order {number} vanished")))
}

/// The order with this number, if any.
pub(crate) fn find_order(conn: &Connection, number: i64) -> Result<Option<Order>> {
    let Some((header, ())) = conn
        .prepare_cached(ORDER_BY_NUMBER)
        .map_err(internal)?
        .query_row([number], order_row)
        .optional()
        .map_err(internal)?
    else {
        return Ok(None);
    };
    // Lines and their allocations in one pass: a line appears once per allocation
    // (or once with NULLs when it has none).
    let mut stmt = conn
        .prepare_cached(
            "SELECT l.line_no, l.sku, l.quantity, l.unit_price, l.discount, l.tax, l.allocated, l.backordered, \
             a.location, a.quantity, a.fo_no, l.shipped FROM order_lines l \
             LEFT JOIN allocations a ON a.order_number = l.order_number AND a.line_no = l.line_no \
             WHERE l.order_number = ?1 ORDER BY l.line_no, a.location",
        )
        .map_err(internal)?;
    let mut lines: Vec<LineRow> = Vec::new();
    let mut allocations: Vec<AllocationRow> = Vec::new();
    let mut rows = stmt.query([number]).map_err(internal)?;
    while let Some(r) = rows.next().map_err(internal)? {
        let line_no: i32 = r.get(0).map_err(internal)?;
        if lines.last().is_none_or(|l| l.line_no != line_no) {
            lines.push(LineRow {
                line_no,
                sku: r.get(1).map_err(internal)?,
                quantity: r.get(2).map_err(internal)?,
                unit_price: r.get(3).map_err(internal)?,
                discount: r.get(4).map_err(internal)?,
                tax: r.get(5).map_err(internal)?,
                allocated: r.get(6).map_err(internal)?,
                backordered: r.get(7).map_err(internal)?,
                shipped: r.get(11).map_err(internal)?,
            });
        }
        if let Some(location) = r.get::<_, Option<String>>(8).map_err(internal)? {
            allocations.push(AllocationRow {
                fo_no: r.get(10).map_err(internal)?,
                line_no,
                sku: String::new(),
                location,
                quantity: r.get(9).map_err(internal)?,
            });
        }
    }
    drop(rows);
    let fulfillment = fulfillment_rows(conn, number)?;
    assemble_order(&header, &lines, &allocations, &fulfillment)
        .map(Some)
        .map_err(internal)
}

const FULFILLMENT_COLUMNS: &str =
    "fo_no, location, status, request_status, reason, closed_lines, created_at, updated_at";

fn fulfillment_row(r: &Row<'_>) -> rusqlite::Result<FulfillmentRow> {
    fulfillment_row_at(r, 0)
}

/// A fulfillment order whose columns ([`FULFILLMENT_COLUMNS`]) start at index `base`.
fn fulfillment_row_at(r: &Row<'_>, base: usize) -> rusqlite::Result<FulfillmentRow> {
    let text = |i: usize| -> rusqlite::Result<String> { r.get(base + i) };
    let time = |i: usize| -> rusqlite::Result<time::OffsetDateTime> {
        parse_time(&text(i)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                base + i,
                rusqlite::types::Type::Text,
                e.into(),
            )
        })
    };
    Ok(FulfillmentRow {
        fo_no: r.get(base)?,
        location: r.get(base + 1)?,
        status: FulfillmentStatus::parse(&text(2)?).unwrap_or(FulfillmentStatus::Open),
        request_status: r
            .get::<_, Option<String>>(base + 3)?
            .as_deref()
            .and_then(RequestStatus::parse),
        reason: r.get(base + 4)?,
        closed_lines: r.get(base + 5)?,
        created_at: time(6)?,
        updated_at: time(7)?,
    })
}

pub(crate) fn fulfillment_rows(conn: &Connection, number: i64) -> Result<Vec<FulfillmentRow>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {FULFILLMENT_COLUMNS} FROM fulfillment_orders WHERE order_number = ?1 ORDER BY fo_no"
        ))
        .map_err(internal)?;
    let rows = stmt
        .query_map([number], fulfillment_row)
        .map_err(internal)?;
    rows.collect::<rusqlite::Result<_>>().map_err(internal)
}

pub(crate) fn get_fulfillment_order(
    conn: &Connection,
    id: &str,
) -> Result<Option<FulfillmentOrder>> {
    let Some((number, fo_no)) = parse_fulfillment_order_id(id) else {
        return Ok(None);
    };
    let Some(order) = find_order(conn, number)? else {
        return Ok(None);
    };
    let id = fulfillment_order_id(number, fo_no);
    Ok(order.fulfillment_orders.into_iter().find(|f| f.id == id))
}

pub(crate) fn list_fulfillment_orders(
    conn: &Connection,
    filter: &FulfillmentFilter,
    page: &PageRequest,
) -> Result<Page<FulfillmentOrder>> {
    let after = match cursor_key(page)? {
        Some(key) => parse_fulfillment_order_id(&key).ok_or_else(|| {
            StoreError::from(ordo_domain::Problem::invalid(
                "cursor",
                "is not a cursor from this list",
            ))
        })?,
        None => (0, 0),
    };
    let limit = page.limit();
    let mut sql = format!(
        "SELECT order_number, {FULFILLMENT_COLUMNS} FROM fulfillment_orders WHERE (order_number, fo_no) > (?1, ?2)"
    );
    let mut args: Vec<Value> = vec![after.0.into(), after.1.into()];
    if let Some(location) = &filter.location {
        args.push(location.clone().into());
        sql.push_str(&format!(" AND location = ?{}", args.len()));
    }
    if let Some(status) = filter.status {
        args.push(status.as_str().to_string().into());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    args.push((limit + 1).into());
    sql.push_str(&format!(
        " ORDER BY order_number, fo_no LIMIT ?{}",
        args.len()
    ));
    let mut stmt = conn.prepare_cached(&sql).map_err(internal)?;
    let found: Vec<(i64, FulfillmentRow)> = stmt
        .query_map(params_from_iter(args), |r| {
            Ok((r.get(0)?, fulfillment_row_at(r, 1)?))
        })
        .map_err(internal)?
        .collect::<rusqlite::Result<_>>()
        .map_err(internal)?;
    let mut lines = conn
        .prepare_cached(
            "SELECT a.line_no, l.sku, a.quantity, a.location FROM allocations a \
             JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no \
             WHERE a.order_number = ?1 AND a.fo_no = ?2 ORDER BY a.line_no",
        )
        .map_err(internal)?;
    let mut items = Vec::with_capacity(found.len());
    for (number, row) in found.iter().take(limit as usize) {
        let held: Vec<(i32, String, i64, String)> = lines
            .query_map(params![number, row.fo_no], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(internal)?
            .collect::<rusqlite::Result<_>>()
            .map_err(internal)?;
        let allocations: Vec<AllocationRow> = held
            .iter()
            .map(|(line_no, sku, quantity, location)| AllocationRow {
                fo_no: row.fo_no,
                line_no: *line_no,
                sku: sku.clone(),
                location: location.clone(),
                quantity: *quantity,
            })
            .collect();
        items.push(fulfillment_view(*number, row, &allocations, |n| {
            held.iter()
                .find(|h| h.0 == n)
                .map(|h| h.1.clone())
                .unwrap_or_default()
        }));
    }
    let next_cursor = (found.len() as i64 > limit).then(|| {
        let last = &items[items.len() - 1];
        encode_cursor(&last.id)
    });
    Ok(Page { items, next_cursor })
}

/// The statuses of an order that can still be late: not shipped, not cancelled.
const LATE_STATUSES: &str =
    "('allocated', 'partially_allocated', 'backordered', 'on_hold', 'partially_shipped')";

pub(crate) fn list_orders(
    conn: &Connection,
    filter: &OrderFilter,
    page: &PageRequest,
) -> Result<Page<OrderSummary>> {
    let mut sql = String::from(
        "SELECT number, id, channel, external_id, status, email, currency, total, units, placed_at FROM orders WHERE 1 = 1",
    );
    let mut args: Vec<Value> = Vec::new();
    let sort = filter.sort;
    let cmp = if sort.descending() { "<" } else { ">" };
    match sort.after(page)? {
        None => {}
        Some(OrderPageKey::Number(n)) => {
            sql.push_str(&format!(" AND number {cmp} ?"));
            args.push(Value::Integer(n));
        }
        Some(OrderPageKey::Placed(t, n)) => {
            sql.push_str(&format!(" AND (placed_at, number) {cmp} (?, ?)"));
            args.push(Value::Text(format_time(t)));
            args.push(Value::Integer(n));
        }
        Some(OrderPageKey::Total(t, n)) => {
            sql.push_str(&format!(" AND (total, number) {cmp} (?, ?)"));
            args.push(Value::Integer(t));
            args.push(Value::Integer(n));
        }
    }
    if let Some(l) = &filter.location {
        sql.push_str(
            " AND number IN (SELECT order_number FROM fulfillment_orders WHERE location = ? AND status <> 'cancelled')",
        );
        args.push(Value::Text(l.clone()));
    }
    for t in &filter.tags {
        sql.push_str(" AND EXISTS (SELECT 1 FROM json_each(doc, '$.tags') WHERE value = ?)");
        args.push(Value::Text(t.clone()));
    }
    if let Some(s) = filter.status {
        sql.push_str(" AND status = ?");
        args.push(Value::Text(s.as_str().into()));
    }
    if let Some(c) = &filter.channel {
        sql.push_str(" AND channel = ?");
        args.push(Value::Text(c.clone()));
    }
    if let Some(sku) = &filter.sku {
        sql.push_str(" AND number IN (SELECT order_number FROM order_lines WHERE sku = ?)");
        args.push(Value::Text(sku.clone()));
    }
    if let Some(day) = filter.late_on {
        sql.push_str(&format!(
            " AND status IN {LATE_STATUSES} AND json_extract(doc, '$.shipping.promised_by') < ?"
        ));
        args.push(Value::Text(day.to_string()));
    }
    if let Some(t) = filter.placed_after {
        sql.push_str(" AND placed_at >= ?");
        args.push(Value::Text(format_time(t)));
    }
    if let Some(t) = filter.placed_before {
        sql.push_str(" AND placed_at < ?");
        args.push(Value::Text(format_time(t)));
    }
    if let Some(q) = &filter.q {
        let q = q.trim();
        if let Some(n) = parse_order_number(q) {
            sql.push_str(" AND number = ?");
            args.push(Value::Integer(n));
        } else {
            sql.push_str(" AND (email = ? OR external_id = ?)");
            args.push(Value::Text(q.to_ascii_lowercase()));
            args.push(Value::Text(q.to_string()));
        }
    }
    let dir = if sort.descending() { "DESC" } else { "ASC" };
    match sort.column() {
        Some(col) => sql.push_str(&format!(" ORDER BY {col} {dir}, number {dir} LIMIT ?")),
        None => sql.push_str(&format!(" ORDER BY number {dir} LIMIT ?")),
    }
    args.push(Value::Integer(page.limit()));
    let mut stmt = conn.prepare(&sql).map_err(internal)?;
    let rows = stmt
        .query_map(params_from_iter(args), |r| {
            let status: String = r.get(4)?;
            let id: String = r.get(1)?;
            let placed: String = r.get(9)?;
            Ok((
                r.get::<_, i64>(0)?,
                id,
                r.get(2)?,
                r.get(3)?,
                status,
                r.get(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, i64>(7)?,
                r.get(8)?,
                placed,
            ))
        })
        .map_err(internal)?;
    let mut items = Vec::new();
    let mut last = (0, 0);
    for row in rows {
        let (number, id, channel, external_id, status, email, currency, total, units, placed) =
            row.map_err(internal)?;
        last = (number, total);
        let exponent = ordo_domain::money::Currency::parse(&currency).map_or(2, |c| c.exponent);
        items.push(OrderSummary {
            id: Uuid::parse_str(&id).map_err(internal)?,
            number: order_number(number),
            channel,
            external_id,
            status: OrderStatus::parse(&status).unwrap_or(OrderStatus::OnHold),
            email,
            total: ordo_domain::money::format_amount(total, exponent),
            currency,
            units,
            placed_at: parse_time(&placed).map_err(internal)?,
        });
    }
    let next_cursor = (items.len() as i64 == page.limit()).then(|| {
        let placed = items
            .last()
            .map_or(time::OffsetDateTime::UNIX_EPOCH, |o| o.placed_at);
        sort.cursor(last.0, placed, last.1)
    });
    Ok(Page { items, next_cursor })
}

fn event_from(r: &Row<'_>) -> rusqlite::Result<(i64, String, String, Option<i64>, String, String)> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn events_from(
    conn: &Connection,
    rows: Vec<(i64, String, String, Option<i64>, String, String)>,
) -> Result<Vec<Event>> {
    let mut ids: HashMap<i64, Uuid> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (seq, at, kind, number, actor, data) in rows {
        let order_id = match number {
            Some(n) => Some(match ids.get(&n) {
                Some(id) => *id,
                None => {
                    let id: String = conn
                        .prepare_cached("SELECT id FROM orders WHERE number = ?1")
                        .map_err(internal)?
                        .query_row([n], |r| r.get(0))
                        .map_err(internal)?;
                    let id = Uuid::parse_str(&id).map_err(internal)?;
                    ids.insert(n, id);
                    id
                }
            }),
            None => None,
        };
        out.push(Event {
            seq,
            at: parse_time(&at).map_err(internal)?,
            kind,
            order_id,
            actor,
            data: serde_json::from_str(&data).map_err(internal)?,
        });
    }
    Ok(out)
}

pub(crate) fn order_events(conn: &Connection, number: i64) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached("SELECT seq, at, kind, order_number, actor, data FROM events WHERE order_number = ?1 ORDER BY seq").map_err(internal)?;
    let rows = stmt
        .query_map([number], event_from)
        .map_err(internal)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(internal)?;
    events_from(conn, rows)
}

pub(crate) fn list_events(conn: &Connection, after: i64, limit: i64) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached("SELECT seq, at, kind, order_number, actor, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2").map_err(internal)?;
    let rows = stmt
        .query_map(params![after, limit.clamp(1, 1000)], event_from)
        .map_err(internal)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(internal)?;
    events_from(conn, rows)
}

pub(crate) fn find_api_key(conn: &Connection, hash: &str) -> Result<Option<ApiKey>> {
    let row: Option<(i64, String, String, String)> = conn
        .prepare_cached("SELECT id, name, role, created_at FROM api_keys WHERE token_hash = ?1")
        .map_err(internal)?
        .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()
        .map_err(internal)?;
    row.map(|(id, name, role, at)| {
        Ok(ApiKey {
            id,
            name,
            role: Role::parse(&role).ok_or_else(|| internal("unknown role"))?,
            created_at: parse_time(&at).map_err(internal)?,
        })
    })
    .transpose()
}

pub(crate) fn find_user(conn: &Connection, username: &str) -> Result<Option<UserRecord>> {
    type UserRow = (i64, String, String, String, i64, Option<String>, bool);
    let row: Option<UserRow> = conn
        .prepare_cached("SELECT id, username, role, password_hash, failed_attempts, locked_until, disabled_at IS NOT NULL FROM users WHERE username = ?1")
        .map_err(internal)?
        .query_row([username], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
        .optional()
        .map_err(internal)?;
    row.map(
        |(id, username, role, password_hash, failed_attempts, locked, disabled)| {
            Ok(UserRecord {
                user: User {
                    id,
                    username,
                    role: Role::parse(&role).ok_or_else(|| internal("unknown role"))?,
                    disabled,
                },
                password_hash,
                failed_attempts,
                locked_until: locked
                    .map(|t| parse_time(&t))
                    .transpose()
                    .map_err(internal)?,
            })
        },
    )
    .transpose()
}

pub(crate) fn find_session(
    conn: &Connection,
    hash: &str,
    now: time::OffsetDateTime,
) -> Result<Option<Session>> {
    let row: Option<(i64, String, String, String, String)> = conn
        .prepare_cached(
            "SELECT u.id, u.username, u.role, s.csrf_token, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled_at IS NULL",
        )
        .map_err(internal)?
        .query_row(params![hash, format_time(now)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()
        .map_err(internal)?;
    row.map(|(id, username, role, csrf_token, expires)| {
        Ok(Session {
            user: User {
                id,
                username,
                role: Role::parse(&role).ok_or_else(|| internal("unknown role"))?,
                disabled: false,
            },
            csrf_token,
            expires_at: parse_time(&expires).map_err(internal)?,
        })
    })
    .transpose()
}

pub(crate) fn dashboard(
    conn: &Connection,
    since: time::OffsetDateTime,
    days: i64,
) -> Result<Dashboard> {
    let mut d = Dashboard::default();
    let day_rows = |sql: &str, from: String| -> Result<Vec<ChannelDay>> {
        let mut stmt = conn.prepare_cached(sql).map_err(internal)?;
        let rows = stmt
            .query_map([from], |r| {
                Ok(ChannelDay {
                    day: r.get(0)?,
                    channel: r.get(1)?,
                    currency: r.get(2)?,
                    orders: r.get(3)?,
                    revenue_minor: r.get(4)?,
                })
            })
            .map_err(internal)?;
        rows.collect::<rusqlite::Result<_>>().map_err(internal)
    };
    d.today = day_rows(
        "SELECT MIN(substr(placed_at, 1, 10)), channel, currency, COUNT(*), SUM(total) FROM orders \
         WHERE placed_at >= ?1 AND status <> 'cancelled' GROUP BY channel, currency ORDER BY channel",
        format_time(since),
    )?;
    d.daily = day_rows(
        "SELECT substr(placed_at, 1, 10) AS day, channel, '' , COUNT(*), 0 FROM orders \
         WHERE placed_at >= ?1 GROUP BY day, channel ORDER BY day, channel",
        format_time(since - time::Duration::days(days - 1)),
    )?;
    let (to_pick, to_pack, to_ship): (i64, i64, i64) = conn
        .prepare_cached(
            "SELECT COALESCE(SUM(status IN ('open', 'in_progress')), 0), COALESCE(SUM(status = 'picked'), 0), \
             COALESCE(SUM(status = 'packed'), 0) FROM fulfillment_orders \
             WHERE status IN ('open', 'in_progress', 'picked', 'packed')",
        )
        .map_err(internal)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(internal)?;
    (d.to_pick, d.to_pack, d.to_ship) = (to_pick, to_pack, to_ship);
    let today = format_time(since);
    d.late = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM orders WHERE status IN {LATE_STATUSES} \
                 AND json_extract(doc, '$.shipping.promised_by') < substr(?1, 1, 10)"
        ))
        .map_err(internal)?
        .query_row([today], |r| r.get(0))
        .map_err(internal)?;
    for (status, slot) in [
        ("backordered", &mut d.backordered),
        ("partially_allocated", &mut d.partially_allocated),
        ("on_hold", &mut d.on_hold),
    ] {
        *slot = conn
            .prepare_cached("SELECT COUNT(*) FROM orders WHERE status = ?1")
            .map_err(internal)?
            .query_row([status], |r| r.get(0))
            .map_err(internal)?;
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT p.sku, COALESCE(SUM(b.on_hand - b.allocated - b.damaged - b.quality_control - b.safety_stock), 0) AS available \
             FROM products p LEFT JOIN balances b ON b.sku = p.sku WHERE p.active = 1 GROUP BY p.sku ORDER BY available, p.sku",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SkuAvailable {
                sku: r.get(0)?,
                available: r.get(1)?,
            })
        })
        .map_err(internal)?;
    for row in rows {
        let row = row.map_err(internal)?;
        if row.available <= 0 {
            d.out_of_stock += 1;
        }
        if row.available <= 5 && d.low_stock.len() < 20 {
            d.low_stock.push(row);
        } else if row.available > 5 {
            break;
        }
    }
    Ok(d)
}

pub(crate) fn routing_rules_history(conn: &Connection, limit: i64) -> Result<Vec<RuleSet>> {
    let mut stmt = conn
        .prepare_cached("SELECT version, rules, saved_by, saved_at FROM routing_rule_sets ORDER BY version DESC LIMIT ?1")
        .map_err(internal)?;
    let rows = stmt
        .query_map([limit], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(internal)?;
    let mut out = Vec::new();
    for row in rows {
        let (version, rules, saved_by, saved_at) = row.map_err(internal)?;
        out.push(RuleSet {
            version,
            rules: serde_json::from_str(&rules).map_err(internal)?,
            saved_by: Some(saved_by),
            saved_at: Some(parse_time(&saved_at).map_err(internal)?),
        });
    }
    Ok(out)
}

const SHIPMENT_COLUMNS: &str = "number, order_number, fo_no, location, carrier, service, tracking_number, status, doc, created_at, updated_at";

fn shipment_row(r: &Row<'_>) -> rusqlite::Result<ShipmentRow> {
    let text = |i: usize| -> rusqlite::Result<String> { r.get(i) };
    let bad = |i: usize, e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    };
    let status = text(7)?;
    Ok(ShipmentRow {
        number: r.get(0)?,
        order_number: r.get(1)?,
        fo_no: r.get(2)?,
        location: r.get(3)?,
        carrier: r.get(4)?,
        service: r.get(5)?,
        tracking_number: r.get(6)?,
        status: ordo_domain::shipment::ShipmentStatus::parse(&status)
            .ok_or_else(|| bad(7, format!("unknown shipment status {status}")))?,
        doc: serde_json::from_str(&text(8)?).map_err(|e| bad(8, e.to_string()))?,
        created_at: parse_time(&text(9)?).map_err(|e| bad(9, e))?,
        updated_at: parse_time(&text(10)?).map_err(|e| bad(10, e))?,
    })
}

pub(crate) fn find_shipment(conn: &Connection, number: i64) -> Result<Option<ShipmentRow>> {
    conn.prepare_cached(&format!(
        "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE number = ?1"
    ))
    .map_err(internal)?
    .query_row([number], shipment_row)
    .optional()
    .map_err(internal)
}

pub(crate) fn list_shipments(
    conn: &Connection,
    filter: &ShipmentFilter,
    page: &PageRequest,
) -> Result<Page<ordo_domain::shipment::Shipment>> {
    let before = newest_first_cursor(page)?;
    let limit = page.limit();
    let mut sql = format!("SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE number < ?1");
    let mut args: Vec<Value> = vec![before.into()];
    if let Some(order) = &filter.order {
        let number = parse_order_number(order).unwrap_or(-1);
        args.push(number.into());
        sql.push_str(&format!(" AND order_number = ?{}", args.len()));
    }
    if let Some(location) = &filter.location {
        args.push(location.clone().into());
        sql.push_str(&format!(" AND location = ?{}", args.len()));
    }
    if let Some(status) = filter.status {
        args.push(status.as_str().to_string().into());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    args.push(limit.into());
    sql.push_str(&format!(" ORDER BY number DESC LIMIT ?{}", args.len()));
    let rows: Vec<ShipmentRow> = conn
        .prepare_cached(&sql)
        .map_err(internal)?
        .query_map(params_from_iter(args), shipment_row)
        .map_err(internal)?
        .collect::<rusqlite::Result<_>>()
        .map_err(internal)?;
    let next_cursor = next_cursor(&rows, limit, |r| r.number.to_string());
    Ok(Page {
        items: rows
            .iter()
            .take(limit as usize)
            .map(ShipmentRow::view)
            .collect(),
        next_cursor,
    })
}

pub(crate) fn layout(
    conn: &Connection,
    location: &str,
) -> Result<Option<ordo_warehouse::bins::LayoutConfig>> {
    get_doc(
        conn,
        "SELECT doc FROM location_layouts WHERE location = ?1",
        location,
    )
}

pub(crate) fn sku_bins(conn: &Connection, location: &str) -> Result<Vec<SkuBin>> {
    let mut stmt = conn
        .prepare_cached("SELECT sku, bin FROM sku_bins WHERE location = ?1 ORDER BY sku")
        .map_err(internal)?;
    let rows = stmt
        .query_map([location], |r| {
            Ok(SkuBin {
                sku: r.get(0)?,
                bin: r.get(1)?,
            })
        })
        .map_err(internal)?;
    rows.collect::<rusqlite::Result<_>>().map_err(internal)
}

pub(crate) fn find_pick_job(conn: &Connection, number: i64) -> Result<Option<PickJob>> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM pick_jobs WHERE number = ?1")
        .map_err(internal)?
        .query_row([number], |r| r.get(0))
        .optional()
        .map_err(internal)?;
    doc.map(|d| decode(&d)).transpose()
}

pub(crate) fn list_pick_jobs(
    conn: &Connection,
    location: Option<&str>,
    status: Option<PickJobStatus>,
    page: &PageRequest,
) -> Result<Page<PickJob>> {
    let before = newest_first_cursor(page)?;
    let limit = page.limit();
    let mut sql = "SELECT number, doc FROM pick_jobs WHERE number < ?1".to_string();
    let mut args: Vec<Value> = vec![before.into()];
    if let Some(location) = location {
        args.push(location.to_string().into());
        sql.push_str(&format!(" AND location = ?{}", args.len()));
    }
    if let Some(status) = status {
        args.push(status.as_str().to_string().into());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    args.push(limit.into());
    sql.push_str(&format!(" ORDER BY number DESC LIMIT ?{}", args.len()));
    let rows: Vec<(i64, String)> = conn
        .prepare_cached(&sql)
        .map_err(internal)?
        .query_map(params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(internal)?
        .collect::<rusqlite::Result<_>>()
        .map_err(internal)?;
    let next_cursor = next_cursor(&rows, limit, |r| r.0.to_string());
    let items = rows
        .iter()
        .take(limit as usize)
        .map(|(_, d)| decode(d))
        .collect::<Result<_>>()?;
    Ok(Page { items, next_cursor })
}

pub(crate) fn box_types(conn: &Connection) -> Result<Vec<ordo_warehouse::cartonize::BoxType>> {
    let saved: Vec<ordo_warehouse::cartonize::BoxType> =
        all_docs(conn, "SELECT doc FROM box_types ORDER BY code")?;
    Ok(if saved.is_empty() {
        ordo_store::default_box_types()
    } else {
        saved
    })
}

pub(crate) fn packing(conn: &Connection, number: i64, fo_no: i32) -> Result<Option<Packing>> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM packings WHERE order_number = ?1 AND fo_no = ?2")
        .map_err(internal)?
        .query_row(params![number, fo_no], |r| r.get(0))
        .optional()
        .map_err(internal)?;
    doc.map(|d| decode(&d)).transpose()
}

pub(crate) fn list_manifests(
    conn: &Connection,
    location: Option<&str>,
    page: &PageRequest,
) -> Result<Page<Manifest>> {
    let before = newest_first_cursor(page)?;
    let limit = page.limit();
    let mut sql = "SELECT number, doc FROM manifests WHERE number < ?1".to_string();
    let mut args: Vec<Value> = vec![before.into()];
    if let Some(location) = location {
        args.push(location.to_string().into());
        sql.push_str(&format!(" AND location = ?{}", args.len()));
    }
    args.push(limit.into());
    sql.push_str(&format!(" ORDER BY number DESC LIMIT ?{}", args.len()));
    let rows: Vec<(i64, String)> = conn
        .prepare_cached(&sql)
        .map_err(internal)?
        .query_map(params_from_iter(args), |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(internal)?
        .collect::<rusqlite::Result<_>>()
        .map_err(internal)?;
    let next_cursor = next_cursor(&rows, limit, |r| r.0.to_string());
    let items = rows.iter().map(|(_, d)| decode(d)).collect::<Result<_>>()?;
    Ok(Page { items, next_cursor })
}

pub(crate) fn packing_policies(
    conn: &Connection,
    location: &str,
) -> Result<ordo_warehouse::packing::PackingPolicies> {
    for key in [
        packing_policies_key(Some(location)),
        packing_policies_key(None),
    ] {
        if let Some(p) = get_doc(conn, "SELECT doc FROM settings WHERE key = ?1", &key)? {
            return Ok(p);
        }
    }
    Ok(Default::default())
}

const RETURN_COLUMNS: &str = "number, order_number, status, currency, doc, created_at, updated_at";

fn return_row(r: &Row<'_>) -> rusqlite::Result<ReturnRow> {
    let bad = |i: usize, e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    };
    let status: String = r.get(2)?;
    let doc: String = r.get(4)?;
    let created: String = r.get(5)?;
    let updated: String = r.get(6)?;
    Ok(ReturnRow {
        number: r.get(0)?,
        order_number: r.get(1)?,
        status: ordo_domain::returns::ReturnStatus::parse(&status)
            .ok_or_else(|| bad(2, format!("unknown return status {status}")))?,
        currency: r.get(3)?,
        doc: serde_json::from_str(&doc).map_err(|e| bad(4, e.to_string()))?,
        created_at: parse_time(&created).map_err(|e| bad(5, e))?,
        updated_at: parse_time(&updated).map_err(|e| bad(6, e))?,
    })
}

pub(crate) fn find_return(conn: &Connection, number: i64) -> Result<Option<ReturnRow>> {
    conn.prepare_cached(&format!(
        "SELECT {RETURN_COLUMNS} FROM returns WHERE number = ?1"
    ))
    .map_err(internal)?
    .query_row([number], return_row)
    .optional()
    .map_err(internal)
}

pub(crate) fn order_returns(conn: &Connection, order: i64) -> Result<Vec<ReturnRow>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RETURN_COLUMNS} FROM returns WHERE order_number = ?1 ORDER BY number"
        ))
        .map_err(internal)?;
    let rows = stmt.query_map([order], return_row).map_err(internal)?;
    rows.collect::<rusqlite::Result<_>>().map_err(internal)
}

pub(crate) fn list_returns(
    conn: &Connection,
    filter: &ReturnFilter,
    page: &PageRequest,
) -> Result<Page<Rma>> {
    let before = newest_first_cursor(page)?;
    let limit = page.limit();
    let mut sql = format!("SELECT {RETURN_COLUMNS} FROM returns WHERE number < ?1");
    let mut args: Vec<Value> = vec![before.into()];
    if let Some(order) = &filter.order {
        args.push(parse_order_number(order).unwrap_or(-1).into());
        sql.push_str(&format!(" AND order_number = ?{}", args.len()));
    }
    if let Some(status) = filter.status {
        args.push(status.as_str().to_string().into());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    args.push(limit.into());
    sql.push_str(&format!(" ORDER BY number DESC LIMIT ?{}", args.len()));
    let rows: Vec<ReturnRow> = conn
        .prepare_cached(&sql)
        .map_err(internal)?
        .query_map(params_from_iter(args), return_row)
        .map_err(internal)?
        .collect::<rusqlite::Result<_>>()
        .map_err(internal)?;
    let next_cursor = next_cursor(&rows, limit, |r| r.number.to_string());
    Ok(Page {
        items: rows.iter().map(ReturnRow::view).collect(),
        next_cursor,
    })
}

/// When the order's goods arrived: the last delivery event of its shipments, else when the
/// last one left; `None` when nothing shipped.
pub(crate) fn delivered_at(conn: &Connection, order: i64) -> Result<Option<time::OffsetDateTime>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE order_number = ?1 AND status <> 'voided'"
        ))
        .map_err(internal)?;
    let rows: Vec<ShipmentRow> = stmt
        .query_map([order], shipment_row)
        .map_err(internal)?
        .collect::<rusqlite::Result<_>>()
        .map_err(internal)?;
    Ok(rows
        .iter()
        .map(|r| {
            r.doc
                .tracking
                .iter()
                .filter(|t| t.status == ordo_domain::shipment::ShipmentStatus::Delivered)
                .map(|t| t.at)
                .max()
                .unwrap_or(r.created_at)
        })
        .max())
}
