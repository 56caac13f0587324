//! Queries. They take any connection: a pooled reader's, or a writer's inside its transaction.

use std::collections::HashMap;

use ordo_domain::Problem;
use ordo_domain::catalog::{Channel, Location, Product, available_to_sell};
use ordo_domain::fulfillment::{
    FulfillmentLine, FulfillmentOrder, FulfillmentStatus, RequestStatus, parse_fulfillment_order_id,
};
use ordo_domain::inventory::Balance;
use ordo_domain::order::{HoldReason, Order, OrderStatus, order_number, parse_order_number};
use ordo_store::*;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::conn::{Conn, Result, internal};

macro_rules! order_columns {
    () => {
        "number, id, channel, external_id, status, fill_status, hold_reason, cancel_reason, placed_at, created_at, \
         updated_at, email, ship_country, currency, priority, total, units, doc"
    };
}

macro_rules! line_columns {
    () => {
        "order_number, line_no, sku, quantity, unit_price, discount, tax, allocated, backordered, shipped"
    };
}

fn decode<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T> {
    serde_json::from_str(doc).map_err(internal)
}

pub(crate) async fn get_doc<T: serde::de::DeserializeOwned>(
    c: &mut Conn,
    sql: &'static str,
    key: &str,
) -> Result<Option<T>> {
    match c.query_opt(sql, &[&key]).await? {
        Some(row) => Ok(Some(decode(row.try_get(0)?)?)),
        None => Ok(None),
    }
}

pub(crate) async fn all_docs<T: serde::de::DeserializeOwned>(
    c: &mut Conn,
    sql: &'static str,
) -> Result<Vec<T>> {
    let rows = c.query(sql, &[]).await?;
    rows.iter().map(|r| decode(r.try_get(0)?)).collect()
}

pub(crate) struct Catalog {
    pub channels: HashMap<String, Channel>,
    pub locations: Vec<Location>,
}

pub(crate) const CHANNEL_DOCS_SQL: &str = "SELECT doc FROM channels";
pub(crate) const LOCATION_DOCS_SQL: &str = "SELECT doc FROM locations ORDER BY priority, code";

pub(crate) fn catalog_from(channel_rows: &[Row], location_rows: &[Row]) -> Result<Catalog> {
    let channels: Vec<Channel> = channel_rows
        .iter()
        .map(|r| decode(r.try_get(0)?))
        .collect::<Result<_>>()?;
    let locations: Vec<Location> = location_rows
        .iter()
        .map(|r| decode(r.try_get(0)?))
        .collect::<Result<_>>()?;
    Ok(Catalog {
        channels: channels.into_iter().map(|c| (c.code.clone(), c)).collect(),
        locations,
    })
}

/// The routing rules in force (none before the first save).
pub(crate) const RULES_SQL: &str =
    "SELECT rules FROM routing_rule_sets ORDER BY version DESC LIMIT 1";

pub(crate) fn rules_from(rows: &[Row]) -> Result<Vec<ordo_routing::Rule>> {
    match rows.first() {
        Some(r) => decode(r.try_get(0)?),
        None => Ok(Vec::new()),
    }
}

/// Locations whose record sets a daily capacity.
macro_rules! capacity_locations {
    () => {
        "SELECT code FROM locations WHERE (doc::jsonb -> 'routing' ->> 'daily_capacity') IS NOT NULL"
    };
}

/// Creates the missing day counters of capacity locations. Sent before
/// [`LOCK_COUNTERS_SQL`] (a later statement, so a later snapshot that sees them); a
/// counter another transaction is creating is waited for.
pub(crate) const ENSURE_COUNTERS_SQL: &str = concat!(
    "INSERT INTO location_day_counts (location, day, orders) SELECT code, DATE '1970-01-01', 0 FROM (",
    capacity_locations!(),
    ") l WHERE NOT EXISTS (SELECT 1 FROM location_day_counts c WHERE c.location = l.code) \
     ORDER BY code ON CONFLICT (location) DO NOTHING"
);

/// Locks the day counters of capacity locations, in location order. Every writer that
/// routes takes them after its advisory locks and before any stock row.
pub(crate) const LOCK_COUNTERS_SQL: &str = concat!(
    "SELECT location, day, orders FROM location_day_counts WHERE location IN (",
    capacity_locations!(),
    ") ORDER BY location FOR UPDATE"
);

/// Locks (creating them if need be) the counters of `locations`: for a capacity the
/// catalog knows but [`LOCK_COUNTERS_SQL`] did not see (a location saved in between).
pub(crate) const LOCK_MORE_COUNTERS_SQL: &str = "INSERT INTO location_day_counts (location, day, orders) \
     SELECT l, DATE '1970-01-01', 0 FROM unnest($1::text[]) AS t(l) ORDER BY l \
     ON CONFLICT (location) DO UPDATE SET orders = location_day_counts.orders RETURNING location, day, orders";

/// Adds `day`, `orders` to counters; a counter of an earlier day starts again.
pub(crate) const BUMP_COUNTERS_SQL: &str = "INSERT INTO location_day_counts (location, day, orders) \
     SELECT * FROM unnest($1::text[], $2::date[], $3::bigint[]) \
     ON CONFLICT (location) DO UPDATE SET orders = CASE WHEN location_day_counts.day = EXCLUDED.day \
     THEN location_day_counts.orders + EXCLUDED.orders ELSE EXCLUDED.orders END, day = EXCLUDED.day";

/// Every day counter, unlocked: for reads that only explain routing.
pub(crate) async fn day_counts(c: &mut Conn) -> Result<DayCounts> {
    let rows = c
        .query("SELECT location, day, orders FROM location_day_counts", &[])
        .await?;
    let mut counts = DayCounts::default();
    counts.add_rows(&rows)?;
    Ok(counts)
}

/// Locked day counters: location → (day, fulfillment orders routed there that day).
#[derive(Default)]
pub(crate) struct DayCounts(pub HashMap<String, (time::Date, i64)>);

impl DayCounts {
    pub fn add_rows(&mut self, rows: &[Row]) -> Result<()> {
        for r in rows {
            self.0.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?));
        }
        Ok(())
    }

    /// Capacity locations of `locations` without a locked counter.
    pub fn missing(&self, locations: &[Location]) -> Vec<String> {
        locations
            .iter()
            .filter(|l| l.routing.daily_capacity.is_some() && !self.0.contains_key(&l.code))
            .map(|l| l.code.clone())
            .collect()
    }

    /// What routing reads: for each capacity location, its count on its current local day.
    pub fn orders_today(
        &self,
        locations: &[Location],
        now: time::OffsetDateTime,
    ) -> HashMap<String, u32> {
        locations
            .iter()
            .filter(|l| l.routing.daily_capacity.is_some())
            .map(|l| {
                let n = match self.0.get(&l.code) {
                    Some((day, n)) if *day == location_today(l, now) => *n,
                    _ => 0,
                };
                (l.code.clone(), u32::try_from(n).unwrap_or(u32::MAX))
            })
            .collect()
    }

    /// Counts one more fulfillment order at `location` on `day`.
    pub fn bump(&mut self, location: &str, day: time::Date) {
        match self.0.get_mut(location) {
            Some((d, n)) if *d == day => *n += 1,
            Some((d, _)) if *d > day => {}
            _ => {
                self.0.insert(location.to_string(), (day, 1));
            }
        }
    }
}

/// Counter increments for [`BUMP_COUNTERS_SQL`], per location: the latest day and how
/// many were added on it.
#[derive(Default)]
pub(crate) struct Bumps(pub std::collections::BTreeMap<String, (time::Date, i64)>);

impl Bumps {
    pub fn add(&mut self, location: &str, day: time::Date) {
        match self.0.get_mut(location) {
            Some((d, n)) if *d == day => *n += 1,
            Some((d, _)) if *d > day => {}
            _ => {
                self.0.insert(location.to_string(), (day, 1));
            }
        }
    }

    pub fn columns(&self) -> (Vec<&str>, Vec<time::Date>, Vec<i64>) {
        let mut out = (Vec::new(), Vec::new(), Vec::new());
        for (l, (d, n)) in &self.0 {
            out.0.push(l.as_str());
            out.1.push(*d);
            out.2.push(*n);
        }
        out
    }
}

pub(crate) async fn load_catalog(c: &mut Conn) -> Result<Catalog> {
    let ch = c.prep(CHANNEL_DOCS_SQL).await?;
    let lo = c.prep(LOCATION_DOCS_SQL).await?;
    let (channels, locations) = tokio::join!(async { c.client.query(&ch, &[]).await }, async {
        c.client.query(&lo, &[]).await
    });
    catalog_from(&channels?, &locations?)
}

fn next_cursor<T>(items: &[T], limit: i64, key: impl Fn(&T) -> String) -> Option<String> {
    if items.len() as i64 == limit {
        items.last().map(|i| encode_cursor(&key(i)))
    } else {
        None
    }
}

fn bad_cursor() -> Problem {
    Problem::invalid("cursor", "is not a cursor this server issued")
}

fn cursor_key(page: &PageRequest) -> Result<Option<String>> {
    match &page.cursor {
        None => Ok(None),
        Some(c) => decode_cursor(c)
            .map(Some)
            .ok_or_else(|| bad_cursor().into()),
    }
}

pub(crate) async fn list_products(c: &mut Conn, page: &PageRequest) -> Result<Page<Product>> {
    let after = cursor_key(page)?.unwrap_or_default();
    let rows = c
        .query(
            "SELECT doc FROM products WHERE sku > $1 ORDER BY sku LIMIT $2",
            &[&after, &page.limit()],
        )
        .await?;
    let items: Vec<Product> = rows
        .iter()
        .map(|r| decode(r.try_get(0)?))
        .collect::<Result<_>>()?;
    Ok(Page {
        next_cursor: next_cursor(&items, page.limit(), |p| p.sku.clone()),
        items,
    })
}

pub(crate) fn balance_from(r: &Row, first: usize) -> Result<Balance> {
    Ok(Balance {
        on_hand: r.try_get(first)?,
        allocated: r.try_get(first + 1)?,
        damaged: r.try_get(first + 2)?,
        quality_control: r.try_get(first + 3)?,
        safety_stock: r.try_get(first + 4)?,
        incoming: r.try_get(first + 5)?,
    })
}

pub(crate) async fn list_balances(
    c: &mut Conn,
    filter: &BalanceFilter,
    page: &PageRequest,
) -> Result<Page<BalanceRow>> {
    let after = cursor_key(page)?.unwrap_or_default();
    let (after_sku, after_loc) = after
        .split_once('\u{1f}')
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .unwrap_or_default();
    let rows = c
        .query(
            "SELECT sku, location, on_hand, allocated, damaged, quality_control, safety_stock, incoming FROM balances \
             WHERE ($1::text IS NULL OR sku = $1) AND ($2::text IS NULL OR location = $2) AND (sku, location) > ($3, $4) \
             ORDER BY sku, location LIMIT $5",
            &[&filter.sku, &filter.location, &after_sku, &after_loc, &page.limit()],
        )
        .await?;
    let items: Vec<BalanceRow> = rows
        .iter()
        .map(|r| {
            Ok(BalanceRow::new(
                r.try_get(0)?,
                r.try_get(1)?,
                balance_from(r, 2)?,
            ))
        })
        .collect::<Result<_>>()?;
    Ok(Page {
        next_cursor: next_cursor(&items, page.limit(), |b| {
            format!("{}\u{1f}{}", b.sku, b.location)
        }),
        items,
    })
}

pub(crate) fn movement_from(r: &Row) -> Result<Movement> {
    Ok(Movement {
        seq: r.try_get(0)?,
        at: r.try_get(1)?,
        sku: r.try_get(2)?,
        location: r.try_get(3)?,
        state: r.try_get(4)?,
        delta: r.try_get(5)?,
        before: r.try_get(6)?,
        after: r.try_get(7)?,
        reason: r.try_get(8)?,
        reference: r.try_get(9)?,
        actor: r.try_get(10)?,
    })
}

pub(crate) async fn list_movements(
    c: &mut Conn,
    filter: &MovementFilter,
    page: &PageRequest,
) -> Result<Page<Movement>> {
    let before: i64 = cursor_key(page)?
        .and_then(|c| c.parse().ok())
        .unwrap_or(i64::MAX);
    let rows = c
        .query(
            "SELECT seq, at, sku, location, state, delta, before, after, reason, reference, actor FROM movements \
             WHERE ($1::text IS NULL OR sku = $1) AND ($2::text IS NULL OR location = $2) AND seq < $3 \
             AND ($5::text IS NULL OR reason = $5) AND ($6::timestamptz IS NULL OR at >= $6) \
             AND ($7::timestamptz IS NULL OR at < $7) \
             ORDER BY seq DESC LIMIT $4",
            &[
                &filter.sku,
                &filter.location,
                &before,
                &page.limit(),
                &filter.reason,
                &filter.after,
                &filter.before,
            ],
        )
        .await?;
    let items: Vec<Movement> = rows.iter().map(movement_from).collect::<Result<_>>()?;
    Ok(Page {
        next_cursor: next_cursor(&items, page.limit(), |m| m.seq.to_string()),
        items,
    })
}

pub(crate) async fn channel_availability(
    c: &mut Conn,
    channel: &str,
    sku: Option<&str>,
    page: &PageRequest,
) -> Result<Page<ChannelAvailability>> {
    let catalog = load_catalog(c).await?;
    let Some(ch) = catalog.channels.get(channel) else {
        return Err(Problem::NotFound(format!("channel {channel}")).into());
    };
    let locations: Vec<&str> = catalog
        .locations
        .iter()
        .filter(|l| l.active && (ch.locations.is_empty() || ch.locations.contains(&l.code)))
        .map(|l| l.code.as_str())
        .collect();
    let skus: Vec<String> = match sku {
        Some(s) => {
            let exists: bool = c
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM products WHERE sku = $1)",
                    &[&s],
                )
                .await?
                .try_get(0)?;
            if !exists {
                return Err(Problem::NotFound(format!("product {s}")).into());
            }
            vec![s.to_string()]
        }
        None => {
            let after = cursor_key(page)?.unwrap_or_default();
            let rows = c
                .query(
                    "SELECT sku FROM products WHERE sku > $1 AND active ORDER BY sku LIMIT $2",
                    &[&after, &page.limit()],
                )
                .await?;
            rows.iter()
                .map(|r| r.try_get(0))
                .collect::<std::result::Result<_, _>>()?
        }
    };
    let rows = c
        .query(
            "SELECT sku, location, on_hand, allocated, damaged, quality_control, safety_stock, incoming \
             FROM balances WHERE sku = ANY($1) ORDER BY sku, location",
            &[&skus],
        )
        .await?;
    let mut per_sku: HashMap<String, Vec<LocationAvailability>> = HashMap::new();
    for r in &rows {
        let s: String = r.try_get(0)?;
        let location: String = r.try_get(1)?;
        let b = balance_from(r, 2)?;
        if locations.contains(&location.as_str()) {
            per_sku.entry(s).or_default().push(LocationAvailability {
                location,
                available: b.available(),
            });
        }
    }
    let items: Vec<ChannelAvailability> = skus
        .iter()
        .map(|s| {
            let per_location = per_sku.remove(s).unwrap_or_default();
            ChannelAvailability {
                channel: channel.to_string(),
                sku: s.clone(),
                available_to_sell: available_to_sell(per_location.iter().map(|l| l.available), ch),
                locations: per_location,
            }
        })
        .collect();
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

/// Runs its queries in one repeatable-read snapshot: the ledger, the balances and the
/// allocations are compared as of one instant even while writes go on.
pub(crate) async fn verify(c: &mut Conn) -> Result<VerifyReport> {
    let ledger_sql = c
        .prep("SELECT sku, location, state, SUM(delta)::bigint FROM movements GROUP BY sku, location, state")
        .await?;
    let open_sql = c
        .prep(
            "SELECT l.sku, a.location, SUM(a.quantity)::bigint FROM allocations a \
             JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no GROUP BY l.sku, a.location",
        )
        .await?;
    let balances_sql = c
        .prep(
            "SELECT sku, location, on_hand, allocated, damaged, quality_control, safety_stock, incoming FROM balances \
             ORDER BY sku, location",
        )
        .await?;
    let lines_sql = c
        .prep(
            "SELECT l.order_number, l.line_no, l.sku, l.quantity, l.allocated, l.backordered, o.status, \
             (SELECT COALESCE(SUM(a.quantity), 0)::bigint FROM allocations a \
              WHERE a.order_number = l.order_number AND a.line_no = l.line_no), l.shipped \
             FROM order_lines l JOIN orders o ON o.number = l.order_number ORDER BY l.order_number, l.line_no",
        )
        .await?;
    // Reservations must sit in an active fulfillment order at their own location.
    let stray_sql = c
        .prep(
            "SELECT a.order_number, a.fo_no, l.sku, a.location, a.quantity, f.location, f.status FROM allocations a \
             JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no \
             LEFT JOIN fulfillment_orders f ON f.order_number = a.order_number AND f.fo_no = a.fo_no \
             WHERE f.fo_no IS NULL OR f.location <> a.location OR f.status IN ('shipped', 'cancelled') \
             ORDER BY a.order_number, a.fo_no, a.line_no",
        )
        .await?;
    c.mark_in_tx(true);
    let client = &c.client;
    let (begin, ledger_rows, open_rows, balance_rows, line_rows, stray_rows, end) = tokio::join!(
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        async { client.query(&ledger_sql, &[]).await },
        async { client.query(&open_sql, &[]).await },
        async { client.query(&balances_sql, &[]).await },
        async { client.query(&lines_sql, &[]).await },
        async { client.query(&stray_sql, &[]).await },
        client.batch_execute("COMMIT"),
    );
    c.mark_in_tx(false);
    begin?;
    end?;
    let mut input = VerifyInput::default();
    for r in &ledger_rows? {
        input
            .ledger
            .insert((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?), r.try_get(3)?);
    }
    for r in &open_rows? {
        input
            .open
            .insert((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?);
    }
    for r in &balance_rows? {
        input
            .balances
            .push((r.try_get(0)?, r.try_get(1)?, balance_from(r, 2)?));
    }
    for r in &line_rows? {
        let status: String = r.try_get(6)?;
        input.lines.push(LineCheck {
            order_number: r.try_get(0)?,
            line_no: r.try_get(1)?,
            sku: r.try_get(2)?,
            quantity: r.try_get(3)?,
            allocated: r.try_get(4)?,
            backordered: r.try_get(5)?,
            cancelled: status == "cancelled",
            reserved: r.try_get(7)?,
            shipped: r.try_get(8)?,
        });
    }
    for r in &stray_rows? {
        input.stray_allocations.push(StrayAllocation {
            order_number: r.try_get(0)?,
            fo_no: r.try_get(1)?,
            sku: r.try_get(2)?,
            location: r.try_get(3)?,
            quantity: r.try_get(4)?,
            fo_location: r.try_get(5)?,
            fo_status: r.try_get(6)?,
        });
    }
    Ok(verify_report(input))
}

/// How a caller names an order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OrderKey {
    Number(i64),
    Id(Uuid),
}

impl OrderKey {
    pub fn parse(key: &str) -> Option<OrderKey> {
        if let Some(n) = parse_order_number(key) {
            return Some(OrderKey::Number(n));
        }
        Uuid::parse_str(key).ok().map(OrderKey::Id)
    }
}

pub(crate) async fn resolve_order(c: &mut Conn, key: &str) -> Result<Option<i64>> {
    let row = match OrderKey::parse(key) {
        None => return Ok(None),
        Some(OrderKey::Number(n)) => {
            c.query_opt("SELECT number FROM orders WHERE number = $1", &[&n])
                .await?
        }
        Some(OrderKey::Id(id)) => {
            c.query_opt("SELECT number FROM orders WHERE id = $1", &[&id])
                .await?
        }
    };
    Ok(match row {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}

fn order_row(r: &Row) -> Result<OrderRow> {
    let status: String = r.try_get(4)?;
    let fill: String = r.try_get(5)?;
    let hold: Option<String> = r.try_get(6)?;
    Ok(OrderRow {
        number: r.try_get(0)?,
        id: r.try_get(1)?,
        channel: r.try_get(2)?,
        external_id: r.try_get(3)?,
        status: OrderStatus::parse(&status).unwrap_or(OrderStatus::OnHold),
        fill_status: OrderStatus::parse(&fill).unwrap_or(OrderStatus::Backordered),
        hold_reason: hold.as_deref().and_then(HoldReason::parse),
        cancel_reason: r.try_get(7)?,
        placed_at: r.try_get(8)?,
        created_at: r.try_get(9)?,
        updated_at: r.try_get(10)?,
        email: r.try_get(11)?,
        ship_country: r.try_get(12)?,
        currency: r.try_get(13)?,
        priority: r.try_get(14)?,
        total: r.try_get(15)?,
        units: r.try_get(16)?,
        doc: r.try_get(17)?,
    })
}

fn line_row(r: &Row) -> Result<(i64, LineRow)> {
    Ok((
        r.try_get(0)?,
        LineRow {
            line_no: r.try_get(1)?,
            sku: r.try_get(2)?,
            quantity: r.try_get(3)?,
            unit_price: r.try_get(4)?,
            discount: r.try_get(5)?,
            tax: r.try_get(6)?,
            allocated: r.try_get(7)?,
            backordered: r.try_get(8)?,
            shipped: r.try_get(9)?,
        },
    ))
}

fn allocation_row(r: &Row) -> Result<(i64, AllocationRow)> {
    Ok((
        r.try_get(0)?,
        AllocationRow {
            line_no: r.try_get(1)?,
            sku: String::new(),
            location: r.try_get(2)?,
            quantity: r.try_get(3)?,
            fo_no: r.try_get(4)?,
        },
    ))
}

macro_rules! allocation_columns {
    () => {
        "order_number, line_no, location, quantity, fo_no"
    };
}

macro_rules! fulfillment_columns {
    () => {
        "order_number, fo_no, location, status, request_status, reason, closed_lines, created_at, updated_at"
    };
}

/// A `fulfillment_orders` row read with [`fulfillment_columns`], from column `first` on.
fn fulfillment_row(r: &Row, first: usize) -> Result<(i64, FulfillmentRow)> {
    let status: String = r.try_get(first + 3)?;
    let request: Option<String> = r.try_get(first + 4)?;
    Ok((
        r.try_get(first)?,
        FulfillmentRow {
            fo_no: r.try_get(first + 1)?,
            location: r.try_get(first + 2)?,
            status: FulfillmentStatus::parse(&status)
                .ok_or_else(|| internal(format!("bad fulfillment status {status:?}")))?,
            request_status: match request {
                Some(s) => Some(
                    RequestStatus::parse(&s)
                        .ok_or_else(|| internal(format!("bad request status {s:?}")))?,
                ),
                None => None,
            },
            reason: r.try_get(first + 5)?,
            closed_lines: r.try_get(first + 6)?,
            created_at: r.try_get(first + 7)?,
            updated_at: r.try_get(first + 8)?,
        },
    ))
}

fn assemble(
    headers: &[Row],
    lines: &[Row],
    allocations: &[Row],
    fulfillment: &[Row],
) -> Result<HashMap<i64, Order>> {
    let mut line_map: HashMap<i64, Vec<LineRow>> = HashMap::new();
    for r in lines {
        let (n, l) = line_row(r)?;
        line_map.entry(n).or_default().push(l);
    }
    let mut alloc_map: HashMap<i64, Vec<AllocationRow>> = HashMap::new();
    for r in allocations {
        let (n, a) = allocation_row(r)?;
        alloc_map.entry(n).or_default().push(a);
    }
    let mut fo_map: HashMap<i64, Vec<FulfillmentRow>> = HashMap::new();
    for r in fulfillment {
        let (n, f) = fulfillment_row(r, 0)?;
        fo_map.entry(n).or_default().push(f);
    }
    let mut out = HashMap::with_capacity(headers.len());
    for r in headers {
        let header = order_row(r)?;
        let lines = line_map.remove(&header.number).unwrap_or_default();
        let mut allocs = alloc_map.remove(&header.number).unwrap_or_default();
        for a in &mut allocs {
            if let Some(l) = lines.iter().find(|l| l.line_no == a.line_no) {
                a.sku.clone_from(&l.sku);
            }
        }
        let fos = fo_map.remove(&header.number).unwrap_or_default();
        let order = assemble_order(&header, &lines, &allocs, &fos).map_err(internal)?;
        out.insert(header.number, order);
    }
    Ok(out)
}

/// Loads several orders with four queries sent together.
pub(crate) async fn load_orders(c: &mut Conn, numbers: &[i64]) -> Result<HashMap<i64, Order>> {
    if numbers.is_empty() {
        return Ok(HashMap::new());
    }
    let h = c
        .prep(concat!(
            "SELECT ",
            order_columns!(),
            " FROM orders WHERE number = ANY($1)"
        ))
        .await?;
    let l = c
        .prep(concat!(
            "SELECT ",
            line_columns!(),
            " FROM order_lines WHERE order_number = ANY($1) ORDER BY order_number, line_no"
        ))
        .await?;
    let a = c
        .prep(concat!(
            "SELECT ",
            allocation_columns!(),
            " FROM allocations WHERE order_number = ANY($1) ORDER BY order_number, line_no, location, fo_no"
        ))
        .await?;
    let f = c
        .prep(concat!(
            "SELECT ",
            fulfillment_columns!(),
            " FROM fulfillment_orders WHERE order_number = ANY($1) ORDER BY order_number, fo_no"
        ))
        .await?;
    let numbers = numbers.to_vec();
    let client = &c.client;
    let (headers, lines, allocs, fos) = tokio::join!(
        async { client.query(&h, &[&numbers]).await },
        async { client.query(&l, &[&numbers]).await },
        async { client.query(&a, &[&numbers]).await },
        async { client.query(&f, &[&numbers]).await },
    );
    assemble(&headers?, &lines?, &allocs?, &fos?)
}

pub(crate) async fn load_order(c: &mut Conn, number: i64) -> Result<Order> {
    load_orders(c, &[number])
        .await?
        .remove(&number)
        .ok_or_else(|| internal(format!("order {number} vanished")))
}

/// An order by number or id, read in one snapshot and one round trip.
pub(crate) async fn get_order(c: &mut Conn, key: &str) -> Result<Option<Order>> {
    let (h, l, a, f) = match OrderKey::parse(key) {
        None => return Ok(None),
        Some(OrderKey::Number(_)) => (
            c.prep(concat!("SELECT ", order_columns!(), " FROM orders WHERE number = $1")).await?,
            c.prep(concat!("SELECT ", line_columns!(), " FROM order_lines WHERE order_number = $1 ORDER BY line_no")).await?,
            c.prep(concat!(
                "SELECT ",
                allocation_columns!(),
                " FROM allocations WHERE order_number = $1 ORDER BY line_no, location, fo_no"
            ))
            .await?,
            c.prep(concat!(
                "SELECT ",
                fulfillment_columns!(),
                " FROM fulfillment_orders WHERE order_number = $1 ORDER BY fo_no"
            ))
            .await?,
        ),
        Some(OrderKey::Id(_)) => (
            c.prep(concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1")).await?,
            c.prep(concat!(
                "SELECT ",
                line_columns!(),
                " FROM order_lines WHERE order_number = (SELECT number FROM orders WHERE id = $1) ORDER BY line_no"
            ))
            .await?,
            c.prep(concat!(
                "SELECT ",
                allocation_columns!(),
                " FROM allocations WHERE order_number = (SELECT number FROM orders WHERE id = $1) \
                 ORDER BY line_no, location, fo_no"
            ))
            .await?,
            c.prep(concat!(
                "SELECT ",
                fulfillment_columns!(),
                " FROM fulfillment_orders WHERE order_number = (SELECT number FROM orders WHERE id = $1) ORDER BY fo_no"
            ))
            .await?,
        ),
    };
    let param: Box<dyn ToSql + Sync + Send> = match OrderKey::parse(key) {
        Some(OrderKey::Number(n)) => Box::new(n),
        Some(OrderKey::Id(id)) => Box::new(id),
        None => return Ok(None),
    };
    let p: &(dyn ToSql + Sync) = param.as_ref();
    c.mark_in_tx(true);
    let client = &c.client;
    let (begin, headers, lines, allocs, fos, end) = tokio::join!(
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        async { client.query(&h, &[p]).await },
        async { client.query(&l, &[p]).await },
        async { client.query(&a, &[p]).await },
        async { client.query(&f, &[p]).await },
        client.batch_execute("COMMIT"),
    );
    c.mark_in_tx(false);
    begin?;
    end?;
    let headers = headers?;
    let mut orders = assemble(&headers, &lines?, &allocs?, &fos?)?;
    Ok(orders.drain().next().map(|(_, o)| o))
}

/// Fulfillment orders with their active lines (as JSON, one statement): the filter and
/// page are the caller's `WHERE` and `LIMIT`.
macro_rules! fulfillment_view_sql {
    ($where:literal) => {
        concat!(
            "SELECT f.order_number, f.fo_no, f.location, f.status, f.request_status, f.reason, f.closed_lines, \
             f.created_at, f.updated_at, \
             (SELECT json_agg(json_build_object('line_no', a.line_no, 'sku', l.sku, 'quantity', a.quantity) \
              ORDER BY a.line_no)::text FROM allocations a \
              JOIN order_lines l ON l.order_number = a.order_number AND l.line_no = a.line_no \
              WHERE a.order_number = f.order_number AND a.fo_no = f.fo_no) \
             FROM fulfillment_orders f WHERE ",
            $where
        )
    };
}

fn fulfillment_from(r: &Row) -> Result<FulfillmentOrder> {
    let (number, row) = fulfillment_row(r, 0)?;
    let active: Option<String> = r.try_get(9)?;
    let lines: Vec<FulfillmentLine> = match active {
        Some(json) => decode(&json)?,
        None => Vec::new(),
    };
    let allocations: Vec<AllocationRow> = lines
        .into_iter()
        .map(|l| AllocationRow {
            fo_no: row.fo_no,
            line_no: l.line_no,
            sku: l.sku,
            location: row.location.clone(),
            quantity: l.quantity,
        })
        .collect();
    Ok(fulfillment_view(number, &row, &allocations, |line_no| {
        allocations
            .iter()
            .find(|a| a.line_no == line_no)
            .map(|a| a.sku.clone())
            .unwrap_or_default()
    }))
}

pub(crate) async fn get_fulfillment_order(
    c: &mut Conn,
    id: &str,
) -> Result<Option<FulfillmentOrder>> {
    let Some((number, fo_no)) = parse_fulfillment_order_id(id) else {
        return Ok(None);
    };
    let row = c
        .query_opt(
            fulfillment_view_sql!("f.order_number = $1 AND f.fo_no = $2"),
            &[&number, &fo_no],
        )
        .await?;
    row.as_ref().map(fulfillment_from).transpose()
}

pub(crate) async fn list_fulfillment_orders(
    c: &mut Conn,
    filter: &FulfillmentFilter,
    page: &PageRequest,
) -> Result<Page<FulfillmentOrder>> {
    let (after_number, after_fo) = match cursor_key(page)? {
        None => (0i64, 0i32),
        Some(key) => {
            let (n, f) = key.split_once(':').ok_or_else(bad_cursor)?;
            (
                n.parse().map_err(|_| bad_cursor())?,
                f.parse().map_err(|_| bad_cursor())?,
            )
        }
    };
    let status = filter.status.map(FulfillmentStatus::as_str);
    let rows = c
        .query(
            fulfillment_view_sql!(
                "($1::text IS NULL OR f.location = $1) AND ($2::text IS NULL OR f.status = $2) \
                 AND (f.order_number, f.fo_no) > ($3, $4) ORDER BY f.order_number, f.fo_no LIMIT $5"
            ),
            &[
                &filter.location,
                &status,
                &after_number,
                &after_fo,
                &page.limit(),
            ],
        )
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut last = (0i64, 0i32);
    for r in &rows {
        last = (r.try_get(0)?, r.try_get(1)?);
        items.push(fulfillment_from(r)?);
    }
    let next_cursor = (items.len() as i64 == page.limit())
        .then(|| encode_cursor(&format!("{}:{}", last.0, last.1)));
    Ok(Page { items, next_cursor })
}

/// The statuses of an order that can still be late: not shipped, not cancelled.
macro_rules! late_statuses {
    () => {
        "('allocated', 'partially_allocated', 'backordered', 'on_hold', 'partially_shipped')"
    };
}

pub(crate) async fn list_orders(
    c: &mut Conn,
    filter: &OrderFilter,
    page: &PageRequest,
) -> Result<Page<OrderSummary>> {
    let mut sql = String::from(
        "SELECT number, id, channel, external_id, status, email, currency, total, units, placed_at FROM orders WHERE true",
    );
    let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut push = |sql: &mut String, fragment: &str, value: Box<dyn ToSql + Sync + Send>| {
        args.push(value);
        sql.push_str(&fragment.replace('?', &format!("${}", args.len())));
    };
    let sort = filter.sort;
    let cmp = if sort.descending() { "<" } else { ">" };
    match sort.after(page)? {
        None => {}
        Some(OrderPageKey::Number(n)) => {
            push(&mut sql, &format!(" AND number {cmp} ?"), Box::new(n))
        }
        Some(OrderPageKey::Placed(t, n)) => {
            push(
                &mut sql,
                &format!(" AND (placed_at, number) {cmp} (?"),
                Box::new(t),
            );
            push(&mut sql, ", ?)", Box::new(n));
        }
        Some(OrderPageKey::Total(t, n)) => {
            push(
                &mut sql,
                &format!(" AND (total, number) {cmp} (?"),
                Box::new(t),
            );
            push(&mut sql, ", ?)", Box::new(n));
        }
    }
    if let Some(l) = &filter.location {
        push(
            &mut sql,
            " AND number IN (SELECT order_number FROM fulfillment_orders WHERE location = ? AND status <> 'cancelled')",
            Box::new(l.clone()),
        );
    }
    for t in &filter.tags {
        push(
            &mut sql,
            " AND (doc::jsonb -> 'tags') @> jsonb_build_array(?::text)",
            Box::new(t.clone()),
        );
    }
    if let Some(s) = filter.status {
        push(
            &mut sql,
            " AND status = ?",
            Box::new(s.as_str().to_string()),
        );
    }
    if let Some(ch) = &filter.channel {
        push(&mut sql, " AND channel = ?", Box::new(ch.clone()));
    }
    if let Some(sku) = &filter.sku {
        push(
            &mut sql,
            " AND number IN (SELECT order_number FROM order_lines WHERE sku = ?)",
            Box::new(sku.clone()),
        );
    }
    if let Some(day) = filter.late_on {
        push(
            &mut sql,
            &format!(
                " AND status IN {} AND (doc::jsonb -> 'shipping' ->> 'promised_by') < ?",
                late_statuses!()
            ),
            Box::new(day.to_string()),
        );
    }
    if let Some(t) = filter.placed_after {
        push(&mut sql, " AND placed_at >= ?", Box::new(t));
    }
    if let Some(t) = filter.placed_before {
        push(&mut sql, " AND placed_at < ?", Box::new(t));
    }
    if let Some(q) = &filter.q {
        let q = q.trim();
        if let Some(n) = parse_order_number(q) {
            push(&mut sql, " AND number = ?", Box::new(n));
        } else {
            push(
                &mut sql,
                " AND (email = ?",
                Box::new(q.to_ascii_lowercase()),
            );
            push(&mut sql, " OR external_id = ?)", Box::new(q.to_string()));
        }
    }
    let dir = if sort.descending() { "DESC" } else { "ASC" };
    let order = match sort.column() {
        Some(col) => format!(" ORDER BY {col} {dir}, number {dir} LIMIT ?"),
        None => format!(" ORDER BY number {dir} LIMIT ?"),
    };
    push(&mut sql, &order, Box::new(page.limit()));
    let params: Vec<&(dyn ToSql + Sync)> = args
        .iter()
        .map(|a| a.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let rows = c.client.query(sql.as_str(), &params).await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut last = (0, 0);
    for r in &rows {
        let number: i64 = r.try_get(0)?;
        let status: String = r.try_get(4)?;
        let currency: String = r.try_get(6)?;
        let total: i64 = r.try_get(7)?;
        last = (number, total);
        let exponent = ordo_domain::money::Currency::parse(&currency).map_or(2, |c| c.exponent);
        items.push(OrderSummary {
            id: r.try_get(1)?,
            number: order_number(number),
            channel: r.try_get(2)?,
            external_id: r.try_get(3)?,
            status: OrderStatus::parse(&status).unwrap_or(OrderStatus::OnHold),
            email: r.try_get(5)?,
            total: ordo_domain::money::format_amount(total, exponent),
            currency,
            units: r.try_get(8)?,
            placed_at: r.try_get(9)?,
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

fn event_from(r: &Row) -> Result<Event> {
    let data: String = r.try_get(5)?;
    Ok(Event {
        seq: r.try_get(0)?,
        at: r.try_get(1)?,
        kind: r.try_get(2)?,
        order_id: r.try_get(3)?,
        actor: r.try_get(4)?,
        data: serde_json::from_str(&data).map_err(internal)?,
    })
}

pub(crate) async fn order_events(c: &mut Conn, number: i64) -> Result<Vec<Event>> {
    let rows = c
        .query(
            "SELECT e.seq, e.at, e.kind, o.id, e.actor, e.data FROM events e JOIN orders o ON o.number = e.order_number \
             WHERE e.order_number = $1 ORDER BY e.seq",
            &[&number],
        )
        .await?;
    rows.iter().map(event_from).collect()
}

pub(crate) async fn last_event_seq(c: &mut Conn) -> Result<i64> {
    let row = c
        .query_one("SELECT COALESCE(MAX(seq), 0)::bigint FROM events", &[])
        .await?;
    Ok(row.get(0))
}

pub(crate) async fn list_events(c: &mut Conn, after: i64, limit: i64) -> Result<Vec<Event>> {
    let rows = c
        .query(
            "SELECT e.seq, e.at, e.kind, o.id, e.actor, e.data FROM events e LEFT JOIN orders o ON o.number = e.order_number \
             WHERE e.seq > $1 ORDER BY e.seq LIMIT $2",
            &[&after, &limit.clamp(1, 1000)],
        )
        .await?;
    rows.iter().map(event_from).collect()
}

pub(crate) async fn find_api_key(c: &mut Conn, hash: &str) -> Result<Option<ApiKey>> {
    let Some(r) = c
        .query_opt(
            "SELECT id, name, role, created_at FROM api_keys WHERE token_hash = $1",
            &[&hash],
        )
        .await?
    else {
        return Ok(None);
    };
    let role: String = r.try_get(2)?;
    Ok(Some(ApiKey {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        role: Role::parse(&role).ok_or_else(|| internal("unknown role"))?,
        created_at: r.try_get(3)?,
    }))
}

pub(crate) async fn count_api_keys(c: &mut Conn) -> Result<i64> {
    Ok(c.query_one("SELECT COUNT(*) FROM api_keys", &[])
        .await?
        .try_get(0)?)
}

pub(crate) async fn find_user(c: &mut Conn, username: &str) -> Result<Option<UserRecord>> {
    let Some(r) = c
        .query_opt(
            "SELECT id, username, role, password_hash, failed_attempts, locked_until, disabled_at IS NOT NULL FROM users WHERE username = $1",
            &[&username],
        )
        .await?
    else {
        return Ok(None);
    };
    let role: String = r.try_get(2)?;
    Ok(Some(UserRecord {
        user: User {
            id: r.try_get(0)?,
            username: r.try_get(1)?,
            role: Role::parse(&role).ok_or_else(|| internal("unknown role"))?,
            disabled: r.try_get(6)?,
        },
        password_hash: r.try_get(3)?,
        failed_attempts: r.try_get(4)?,
        locked_until: r.try_get(5)?,
    }))
}

pub(crate) async fn find_session(
    c: &mut Conn,
    hash: &str,
    now: time::OffsetDateTime,
) -> Result<Option<Session>> {
    let Some(r) = c
        .query_opt(
            "SELECT u.id, u.username, u.role, s.csrf_token, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL",
            &[&hash, &now],
        )
        .await?
    else {
        return Ok(None);
    };
    let role: String = r.try_get(2)?;
    Ok(Some(Session {
        user: User {
            id: r.try_get(0)?,
            username: r.try_get(1)?,
            role: Role::parse(&role).ok_or_else(|| internal("unknown role"))?,
            disabled: false,
        },
        csrf_token: r.try_get(3)?,
        expires_at: r.try_get(4)?,
    }))
}

fn channel_days(rows: &[Row]) -> Result<Vec<ChannelDay>> {
    rows.iter()
        .map(|r| {
            Ok(ChannelDay {
                day: r.try_get(0)?,
                channel: r.try_get(1)?,
                currency: r.try_get(2)?,
                orders: r.try_get(3)?,
                revenue_minor: r.try_get(4)?,
            })
        })
        .collect()
}

pub(crate) async fn dashboard(
    c: &mut Conn,
    since: time::OffsetDateTime,
    days: i64,
) -> Result<Dashboard> {
    let mut d = Dashboard::default();
    let today = c
        .query(
            "SELECT to_char(min(placed_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD'), channel, currency, COUNT(*), SUM(total)::bigint \
             FROM orders WHERE placed_at >= $1 AND status <> 'cancelled' GROUP BY channel, currency ORDER BY channel",
            &[&since],
        )
        .await?;
    d.today = channel_days(&today)?;
    let from = since - time::Duration::days(days - 1);
    let daily = c
        .query(
            "SELECT to_char(placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, channel, '', COUNT(*), 0::bigint \
             FROM orders WHERE placed_at >= $1 GROUP BY day, channel ORDER BY day, channel",
            &[&from],
        )
        .await?;
    d.daily = channel_days(&daily)?;
    let counts = c
        .query_one(
            "SELECT COUNT(*) FILTER (WHERE status = 'backordered'), COUNT(*) FILTER (WHERE status = 'partially_allocated'), \
             COUNT(*) FILTER (WHERE status = 'on_hold') FROM orders",
            &[],
        )
        .await?;
    d.backordered = counts.try_get(0)?;
    d.partially_allocated = counts.try_get(1)?;
    d.on_hold = counts.try_get(2)?;
    let queue = c
        .query_one(
            "SELECT COUNT(*) FILTER (WHERE status IN ('open', 'in_progress')), COUNT(*) FILTER (WHERE status = 'picked'), \
             COUNT(*) FILTER (WHERE status = 'packed') FROM fulfillment_orders \
             WHERE status IN ('open', 'in_progress', 'picked', 'packed')",
            &[],
        )
        .await?;
    d.to_pick = queue.try_get(0)?;
    d.to_pack = queue.try_get(1)?;
    d.to_ship = queue.try_get(2)?;
    let today = since.date().to_string();
    let late = c
        .query_one(
            concat!(
                "SELECT COUNT(*) FROM orders WHERE status IN ",
                late_statuses!(),
                " AND (doc::jsonb -> 'shipping' ->> 'promised_by') < $1"
            ),
            &[&today],
        )
        .await?;
    d.late = late.try_get(0)?;
    let rows = c
        .query(
            "SELECT p.sku, COALESCE(SUM(b.on_hand - b.allocated - b.damaged - b.quality_control - b.safety_stock), 0)::bigint \
             AS available FROM products p LEFT JOIN balances b ON b.sku = p.sku WHERE p.active \
             GROUP BY p.sku ORDER BY available, p.sku",
            &[],
        )
        .await?;
    for r in &rows {
        let row = SkuAvailable {
            sku: r.try_get(0)?,
            available: r.try_get(1)?,
        };
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

pub(crate) async fn routing_rules_history(c: &mut Conn, limit: i64) -> Result<Vec<RuleSet>> {
    let rows = c
        .query(
            "SELECT version, rules, saved_by, saved_at FROM routing_rule_sets ORDER BY version DESC LIMIT $1",
            &[&limit],
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let rules: String = r.try_get(1)?;
        out.push(RuleSet {
            version: r.try_get(0)?,
            rules: serde_json::from_str(&rules).map_err(internal)?,
            saved_by: Some(r.try_get(2)?),
            saved_at: Some(r.try_get(3)?),
        });
    }
    Ok(out)
}

macro_rules! shipment_columns {
    () => {
        "number, order_number, fo_no, location, carrier, service, tracking_number, status, doc, created_at, updated_at"
    };
}

pub(crate) fn shipment_from(r: &Row) -> Result<ShipmentRow> {
    let status: String = r.try_get(7)?;
    let doc: String = r.try_get(8)?;
    Ok(ShipmentRow {
        number: r.try_get(0)?,
        order_number: r.try_get(1)?,
        fo_no: r.try_get(2)?,
        location: r.try_get(3)?,
        carrier: r.try_get(4)?,
        service: r.try_get(5)?,
        tracking_number: r.try_get(6)?,
        status: ordo_domain::shipment::ShipmentStatus::parse(&status)
            .ok_or_else(|| internal(format!("bad shipment status {status:?}")))?,
        doc: decode(&doc)?,
        created_at: r.try_get(9)?,
        updated_at: r.try_get(10)?,
    })
}

/// One shipment as stored.
pub(crate) async fn find_shipment(c: &mut Conn, number: i64) -> Result<Option<ShipmentRow>> {
    let row = c
        .query_opt(
            concat!(
                "SELECT ",
                shipment_columns!(),
                " FROM shipments WHERE number = $1"
            ),
            &[&number],
        )
        .await?;
    row.as_ref().map(shipment_from).transpose()
}

/// One shipment, locked; the caller holds the lock of its order.
pub(crate) async fn lock_shipment(c: &mut Conn, number: i64) -> Result<Option<ShipmentRow>> {
    let row = c
        .query_opt(
            concat!(
                "SELECT ",
                shipment_columns!(),
                " FROM shipments WHERE number = $1 FOR UPDATE"
            ),
            &[&number],
        )
        .await?;
    row.as_ref().map(shipment_from).transpose()
}

/// The labelled shipments of `carrier` at `location` not yet on a manifest that belong to
/// `orders` (whose rows the caller has locked), locked, oldest first. Read after the order
/// locks, so a shipment voided or handed over meanwhile drops out.
pub(crate) async fn lock_unmanifested(
    c: &mut Conn,
    location: &str,
    carrier: &str,
    orders: &[i64],
) -> Result<Vec<ShipmentRow>> {
    let rows = c
        .query(
            concat!(
                "SELECT ",
                shipment_columns!(),
                " FROM shipments WHERE location = $1 AND carrier = $2 AND manifest IS NULL \
                 AND status = 'label_created' AND order_number = ANY($3) ORDER BY number FOR UPDATE"
            ),
            &[&location, &carrier, &orders],
        )
        .await?;
    rows.iter().map(shipment_from).collect()
}

pub(crate) async fn get_shipment(
    c: &mut Conn,
    id: &str,
) -> Result<Option<ordo_domain::shipment::Shipment>> {
    let Some(number) = ordo_domain::shipment::parse_shipment_number(id) else {
        return Ok(None);
    };
    Ok(find_shipment(c, number).await?.map(|r| r.view()))
}

/// Newest first; the cursor is the last number of the previous page.
pub(crate) async fn list_shipments(
    c: &mut Conn,
    filter: &ShipmentFilter,
    page: &PageRequest,
) -> Result<Page<ordo_domain::shipment::Shipment>> {
    let before: i64 = match cursor_key(page)? {
        Some(key) => key.parse().map_err(|_| bad_cursor())?,
        None => i64::MAX,
    };
    let order: Option<i64> = match &filter.order {
        None => None,
        Some(o) => match parse_order_number(o) {
            Some(n) => Some(n),
            // No order has that number.
            None => {
                return Ok(Page {
                    items: Vec::new(),
                    next_cursor: None,
                });
            }
        },
    };
    let status = filter.status.map(|s| s.as_str());
    let limit = page.limit();
    let rows = c
        .query(
            concat!(
                "SELECT ",
                shipment_columns!(),
                " FROM shipments WHERE number < $1 AND ($2::bigint IS NULL OR order_number = $2) \
                 AND ($3::text IS NULL OR location = $3) AND ($4::text IS NULL OR status = $4) \
                 ORDER BY number DESC LIMIT $5"
            ),
            &[&before, &order, &filter.location, &status, &(limit + 1)],
        )
        .await?;
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last = 0i64;
    for r in rows.iter().take(limit as usize) {
        let row = shipment_from(r)?;
        last = row.number;
        items.push(row.view());
    }
    let next_cursor = (rows.len() as i64 > limit).then(|| encode_cursor(&last.to_string()));
    Ok(Page { items, next_cursor })
}

/// A location's bin layout, `None` before one is saved.
pub(crate) async fn layout(
    c: &mut Conn,
    location: &str,
) -> Result<Option<ordo_warehouse::bins::LayoutConfig>> {
    get_doc(
        c,
        "SELECT doc FROM location_layouts WHERE location = $1",
        location,
    )
    .await
}

/// The pick bins of a location, by SKU.
pub(crate) async fn sku_bins(c: &mut Conn, location: &str) -> Result<Vec<SkuBin>> {
    let rows = c
        .query(
            "SELECT sku, bin FROM sku_bins WHERE location = $1 ORDER BY sku",
            &[&location],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SkuBin {
                sku: r.try_get(0)?,
                bin: r.try_get(1)?,
            })
        })
        .collect()
}

pub(crate) async fn find_pick_job(c: &mut Conn, number: i64) -> Result<Option<PickJob>> {
    match c
        .query_opt("SELECT doc FROM pick_jobs WHERE number = $1", &[&number])
        .await?
    {
        Some(r) => Ok(Some(decode(r.try_get(0)?)?)),
        None => Ok(None),
    }
}

pub(crate) async fn get_pick_job(c: &mut Conn, id: &str) -> Result<Option<PickJob>> {
    match parse_pick_job_number(id) {
        Some(number) => find_pick_job(c, number).await,
        None => Ok(None),
    }
}

/// Newest first; the cursor is the last number of the previous page.
pub(crate) async fn list_pick_jobs(
    c: &mut Conn,
    location: Option<&str>,
    status: Option<PickJobStatus>,
    page: &PageRequest,
) -> Result<Page<PickJob>> {
    let before: i64 = match cursor_key(page)? {
        Some(key) => key.parse().map_err(|_| bad_cursor())?,
        None => i64::MAX,
    };
    let status = status.map(PickJobStatus::as_str);
    let limit = page.limit();
    let rows = c
        .query(
            "SELECT number, doc FROM pick_jobs WHERE number < $1 \
             AND ($2::text IS NULL OR location = $2) AND ($3::text IS NULL OR status = $3) \
             ORDER BY number DESC LIMIT $4",
            &[&before, &location, &status, &(limit + 1)],
        )
        .await?;
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last = 0i64;
    for r in rows.iter().take(limit as usize) {
        last = r.try_get(0)?;
        items.push(decode(r.try_get(1)?)?);
    }
    let next_cursor = (rows.len() as i64 > limit).then(|| encode_cursor(&last.to_string()));
    Ok(Page { items, next_cursor })
}

/// The saved box types by code, or the built-in set while none is saved.
pub(crate) async fn box_types(c: &mut Conn) -> Result<Vec<ordo_warehouse::cartonize::BoxType>> {
    let saved: Vec<ordo_warehouse::cartonize::BoxType> =
        all_docs(c, "SELECT doc FROM box_types ORDER BY code").await?;
    Ok(if saved.is_empty() {
        default_box_types()
    } else {
        saved
    })
}

/// What the pack station recorded for fulfillment order `(number, fo_no)`.
pub(crate) async fn packing(c: &mut Conn, number: i64, fo_no: i32) -> Result<Option<Packing>> {
    match c
        .query_opt(
            "SELECT doc FROM packings WHERE order_number = $1 AND fo_no = $2",
            &[&number, &fo_no],
        )
        .await?
    {
        Some(r) => Ok(Some(decode(r.try_get(0)?)?)),
        None => Ok(None),
    }
}

/// The configured carrier services (none until saved).
pub(crate) async fn carrier_services(
    c: &mut Conn,
) -> Result<Vec<ordo_warehouse::shipping::CarrierService>> {
    Ok(get_doc(
        c,
        "SELECT doc FROM settings WHERE key = $1",
        "carrier_services",
    )
    .await?
    .unwrap_or_default())
}

/// The packing policies in force at a location: its own, else the shop-wide ones, else the
/// built-in defaults.
pub(crate) async fn packing_policies(
    c: &mut Conn,
    location: &str,
) -> Result<ordo_warehouse::packing::PackingPolicies> {
    for key in [
        packing_policies_key(Some(location)),
        packing_policies_key(None),
    ] {
        if let Some(p) = get_doc(c, "SELECT doc FROM settings WHERE key = $1", &key).await? {
            return Ok(p);
        }
    }
    Ok(Default::default())
}

/// A manifest by id (`MF-000001`).
pub(crate) async fn get_manifest(c: &mut Conn, id: &str) -> Result<Option<Manifest>> {
    let Some(number) = parse_manifest_number(id) else {
        return Ok(None);
    };
    match c
        .query_opt("SELECT doc FROM manifests WHERE number = $1", &[&number])
        .await?
    {
        Some(r) => Ok(Some(decode(r.try_get(0)?)?)),
        None => Ok(None),
    }
}

/// Newest first; the cursor is the last number of the previous page.
pub(crate) async fn list_manifests(
    c: &mut Conn,
    location: Option<&str>,
    page: &PageRequest,
) -> Result<Page<Manifest>> {
    let before: i64 = match cursor_key(page)? {
        Some(key) => key.parse().map_err(|_| bad_cursor())?,
        None => i64::MAX,
    };
    let limit = page.limit();
    let rows = c
        .query(
            "SELECT number, doc FROM manifests WHERE number < $1 \
             AND ($2::text IS NULL OR location = $2) ORDER BY number DESC LIMIT $3",
            &[&before, &location, &(limit + 1)],
        )
        .await?;
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last = 0i64;
    for r in rows.iter().take(limit as usize) {
        last = r.try_get(0)?;
        items.push(decode(r.try_get(1)?)?);
    }
    let next_cursor = (rows.len() as i64 > limit).then(|| encode_cursor(&last.to_string()));
    Ok(Page { items, next_cursor })
}

// ---------------------------------------------------------------------------------------
// Returns (RMA).

macro_rules! return_columns {
    () => {
        "number, order_number, status, currency, doc, created_at, updated_at"
    };
}

fn return_from(r: &Row) -> Result<ReturnRow> {
    let status: String = r.try_get(2)?;
    let doc: String = r.try_get(4)?;
    Ok(ReturnRow {
        number: r.try_get(0)?,
        order_number: r.try_get(1)?,
        status: ordo_domain::returns::ReturnStatus::parse(&status)
            .ok_or_else(|| internal(format!("bad return status {status:?}")))?,
        currency: r.try_get(3)?,
        doc: decode(&doc)?,
        created_at: r.try_get(5)?,
        updated_at: r.try_get(6)?,
    })
}

/// One return as stored.
pub(crate) async fn find_return(c: &mut Conn, number: i64) -> Result<Option<ReturnRow>> {
    let row = c
        .query_opt(
            concat!(
                "SELECT ",
                return_columns!(),
                " FROM returns WHERE number = $1"
            ),
            &[&number],
        )
        .await?;
    row.as_ref().map(return_from).transpose()
}

/// One return, locked.
pub(crate) async fn lock_return(c: &mut Conn, number: i64) -> Result<Option<ReturnRow>> {
    let row = c
        .query_opt(
            concat!(
                "SELECT ",
                return_columns!(),
                " FROM returns WHERE number = $1 FOR UPDATE"
            ),
            &[&number],
        )
        .await?;
    row.as_ref().map(return_from).transpose()
}

/// An order's returns, oldest first.
pub(crate) async fn order_returns(c: &mut Conn, order: i64) -> Result<Vec<ReturnRow>> {
    let rows = c
        .query(
            concat!(
                "SELECT ",
                return_columns!(),
                " FROM returns WHERE order_number = $1 ORDER BY number"
            ),
            &[&order],
        )
        .await?;
    rows.iter().map(return_from).collect()
}

/// Newest first; the cursor is the last number of the previous page.
pub(crate) async fn list_returns(
    c: &mut Conn,
    filter: &ReturnFilter,
    page: &PageRequest,
) -> Result<Page<ordo_store::Rma>> {
    let before: i64 = match cursor_key(page)? {
        Some(key) => key.parse().map_err(|_| bad_cursor())?,
        None => i64::MAX,
    };
    // An order filter that is no order number matches nothing (as on SQLite).
    let order: Option<i64> = filter
        .order
        .as_deref()
        .map(|o| parse_order_number(o).unwrap_or(-1));
    let status = filter.status.map(|s| s.as_str());
    let limit = page.limit();
    let rows = c
        .query(
            concat!(
                "SELECT ",
                return_columns!(),
                " FROM returns WHERE number < $1 AND ($2::bigint IS NULL OR order_number = $2) \
                 AND ($3::text IS NULL OR status = $3) ORDER BY number DESC LIMIT $4"
            ),
            &[&before, &order, &status, &(limit + 1)],
        )
        .await?;
    let mut items = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last = 0i64;
    for r in rows.iter().take(limit as usize) {
        let row = return_from(r)?;
        last = row.number;
        items.push(row.view());
    }
    let next_cursor = (rows.len() as i64 > limit).then(|| encode_cursor(&last.to_string()));
    Ok(Page { items, next_cursor })
}

/// When the order's goods arrived: the last delivery event of its shipments, else when the
/// last one left; `None` when nothing shipped.
pub(crate) async fn delivered_at(c: &mut Conn, order: i64) -> Result<Option<time::OffsetDateTime>> {
    let rows = c
        .query(
            concat!(
                "SELECT ",
                shipment_columns!(),
                " FROM shipments WHERE order_number = $1 AND status <> 'voided'"
            ),
            &[&order],
        )
        .await?;
    let mut latest = None;
    for r in &rows {
        let s = shipment_from(r)?;
        let at = s
            .doc
            .tracking
            .iter()
            .filter(|t| t.status == ordo_domain::shipment::ShipmentStatus::Delivered)
            .map(|t| t.at)
            .max()
            .unwrap_or(s.created_at);
        latest = latest.max(Some(at));
    }
    Ok(latest)
}

pub(crate) fn return_policy_key(channel: &str) -> String {
    format!("return_policy:{channel}")
}

/// A channel's return policy; the built-in default until one is saved.
pub(crate) async fn return_policy(
    c: &mut Conn,
    channel: &str,
) -> Result<ordo_domain::returns::ReturnPolicy> {
    Ok(get_doc(
        c,
        "SELECT doc FROM settings WHERE key = $1",
        &return_policy_key(channel),
    )
    .await?
    .unwrap_or_default())
}
