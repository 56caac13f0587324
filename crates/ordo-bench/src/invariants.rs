//! Checks that must hold after any load: no oversold stock, no duplicate orders, no lost
//! acknowledged orders, and a ledger that `ordo verify` accepts.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use uuid::Uuid;

use crate::client::{Conn, encode_query};

#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Db {
    pub fn url(&self) -> String {
        match self {
            Db::Sqlite(path) => format!("sqlite://{}", path.display()),
            Db::Postgres(url) => url.clone(),
        }
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}

#[derive(Deserialize)]
struct BalancePage {
    items: Vec<BalanceRow>,
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct BalanceRow {
    sku: String,
    location: String,
    on_hand: i64,
    allocated: i64,
    available: i64,
}

/// Invariant 1, through the API. Returns the number of balance rows seen.
pub async fn check_inventory(conn: &mut Conn, violations: &mut Vec<String>) -> Result<usize> {
    let mut cursor: Option<String> = None;
    let mut rows = 0;
    for _ in 0..100_000 {
        let path = match &cursor {
            Some(c) => format!("/api/v1/inventory?limit=500&cursor={}", encode_query(c)),
            None => "/api/v1/inventory?limit=500".to_string(),
        };
        let (status, body) = conn.get(&path).await?;
        if status != 200 {
            bail!(
                "GET {path} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let page: BalancePage = serde_json::from_slice(&body).with_context(|| {
            format!(
                "GET {path}: unexpected body {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        for b in &page.items {
            rows += 1;
            if b.allocated > b.on_hand {
                violations.push(format!(
                    "over-allocated: {} at {}: allocated {} > on_hand {}",
                    b.sku, b.location, b.allocated, b.on_hand
                ));
            }
            if b.available < 0 {
                violations.push(format!(
                    "negative available: {} at {}: {}",
                    b.sku, b.location, b.available
                ));
            }
        }
        match page.next_cursor {
            Some(c) if !page.items.is_empty() => cursor = Some(c),
            _ => return Ok(rows),
        }
    }
    bail!("inventory paging did not end")
}

#[derive(Deserialize)]
struct OrderPage {
    items: Vec<OrderRow>,
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct OrderRow {
    external_id: String,
}

/// The external ids of every order of `channel`, through `GET /api/v1/orders`.
pub async fn channel_orders(conn: &mut Conn, channel: &str) -> Result<Vec<String>> {
    let mut cursor: Option<String> = None;
    let mut ids = Vec::new();
    let base = format!("/api/v1/orders?channel={}&limit=500", encode_query(channel));
    for _ in 0..100_000 {
        let path = match &cursor {
            Some(c) => format!("{base}&cursor={}", encode_query(c)),
            None => base.clone(),
        };
        let (status, body) = conn.get(&path).await?;
        if status != 200 {
            bail!(
                "GET {path} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        let page: OrderPage = serde_json::from_slice(&body).with_context(|| {
            format!(
                "GET {path}: unexpected body {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        let empty = page.items.is_empty();
        ids.extend(page.items.into_iter().map(|o| o.external_id));
        match page.next_cursor {
            Some(c) if !empty => cursor = Some(c),
            _ => return Ok(ids),
        }
    }
    bail!("order paging did not end")
}

/// What the server wrote, read straight from its database.
#[derive(Debug, Default, Clone)]
pub struct DbFacts {
    pub orders: i64,
    pub lines: i64,
    pub allocations: i64,
    /// One stored order document, so the storage ceiling writes rows of realistic size.
    pub order_doc: Option<String>,
    pub event_data: Option<String>,
}

/// Invariants 2 and 3. `acked` maps each acknowledged request to the order id it got.
pub async fn check_database(
    db: &Db,
    acked: &HashMap<u64, Uuid>,
    violations: &mut Vec<String>,
) -> Result<DbFacts> {
    let (dupes, ids, facts) = match db {
        Db::Sqlite(path) => sqlite_facts(path)?,
        Db::Postgres(url) => postgres_facts(url).await?,
    };
    for (channel, external_id, n) in dupes.iter().take(20) {
        violations.push(format!(
            "duplicate order: channel {channel}, external id {external_id} stored {n} times"
        ));
    }
    if dupes.len() > 20 {
        violations.push(format!(
            "… {} more duplicated (channel, external_id) pairs",
            dupes.len() - 20
        ));
    }
    let distinct: HashSet<Uuid> = acked.values().copied().collect();
    let missing: Vec<&Uuid> = distinct.iter().filter(|id| !ids.contains(id)).collect();
    if !missing.is_empty() {
        violations.push(format!(
            "{} acknowledged orders are missing from the database (e.g. {})",
            missing.len(),
            missing[0]
        ));
    }
    if distinct.len() != acked.len() {
        violations.push(format!(
            "{} distinct external ids were acknowledged with {} distinct order ids",
            acked.len(),
            distinct.len()
        ));
    }
    Ok(facts)
}

type Facts = (Vec<(String, String, i64)>, HashSet<Uuid>, DbFacts);

const DUPES_SQL: &str =
    "SELECT channel, external_id, COUNT(*) FROM orders GROUP BY 1, 2 HAVING COUNT(*) > 1";

fn sqlite_facts(path: &Path) -> Result<Facts> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening {} read-only", path.display()))?;
    let mut stmt = conn.prepare(DUPES_SQL)?;
    let dupes = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut ids = HashSet::new();
    let mut stmt = conn.prepare("SELECT id FROM orders")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let text: String = row.get(0)?;
        ids.insert(
            Uuid::parse_str(&text).map_err(|e| anyhow!("orders.id {text:?} is not a UUID: {e}"))?,
        );
    }
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap_or(0)
    };
    let text = |sql: &str| -> Option<String> { conn.query_row(sql, [], |r| r.get(0)).ok() };
    let facts = DbFacts {
        orders: count("orders"),
        lines: count("order_lines"),
        allocations: count("allocations"),
        order_doc: text("SELECT doc FROM orders ORDER BY number DESC LIMIT 1"),
        event_data: text(
            "SELECT data FROM events WHERE order_number IS NOT NULL ORDER BY seq DESC LIMIT 1",
        ),
    };
    Ok((dupes, ids, facts))
}

pub async fn pg_connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

async fn postgres_facts(url: &str) -> Result<Facts> {
    let client = pg_connect(url).await?;
    let dupes = client
        .query(DUPES_SQL, &[])
        .await?
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, i64>(2),
            )
        })
        .collect();
    let mut ids = HashSet::new();
    for row in client.query("SELECT id::text FROM orders", &[]).await? {
        let text: String = row.get(0);
        ids.insert(
            Uuid::parse_str(&text).map_err(|e| anyhow!("orders.id {text:?} is not a UUID: {e}"))?,
        );
    }
    let mut facts = DbFacts::default();
    for (table, slot) in [
        ("orders", &mut facts.orders),
        ("order_lines", &mut facts.lines),
        ("allocations", &mut facts.allocations),
    ] {
        if let Ok(row) = client
            .query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])
            .await
        {
            *slot = row.get(0);
        }
    }
    let text = async |sql: &str| {
        client
            .query_opt(sql, &[])
            .await
            .ok()
            .flatten()
            .and_then(|r| r.try_get(0).ok())
    };
    facts.order_doc = text("SELECT doc::text FROM orders ORDER BY number DESC LIMIT 1").await;
    facts.event_data = text(
        "SELECT data::text FROM events WHERE order_number IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .await;
    Ok((dupes, ids, facts))
}

/// Size on disk in bytes: the SQLite file plus its WAL, or `pg_database_size`.
pub async fn database_size(db: &Db) -> Result<u64> {
    match db {
        Db::Sqlite(path) => {
            let main = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            let wal = std::fs::metadata(PathBuf::from(wal))
                .map(|m| m.len())
                .unwrap_or(0);
            Ok(main + wal)
        }
        Db::Postgres(url) => {
            let client = pg_connect(url).await?;
            let row = client
                .query_one("SELECT pg_database_size(current_database())", &[])
                .await?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        }
    }
}
