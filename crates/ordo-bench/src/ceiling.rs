//! The storage ceiling: how fast the database engine alone can durably write the rows an
//! accepted order produces, in the most favourable batched form. Ordo's throughput as a
//! fraction of this shows how much the service layer costs on top of the storage.
//!
//! Table and column names come from the migrated database itself (PRAGMA table_info /
//! information_schema), so the ceiling follows the schema as it is when the benchmark runs;
//! values are chosen by column name, with type defaults for columns it does not know.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::invariants::{Db, pg_connect};
use crate::workload::{CHANNELS, CUSTOMER_POOL, Catalog, LOCATIONS, OrderWriter, Scenario};

/// Orders per transaction: one fsync per batch.
const BATCH: usize = 1000;

/// Per-order tables in foreign-key order.
const ORDER_TABLES: [&str; 7] = [
    "customers",
    "orders",
    "order_lines",
    "fulfillment_orders",
    "allocations",
    "movements",
    "events",
];
const REFERENCE_TABLES: [&str; 4] = ["products", "locations", "channels", "balances"];

pub struct CeilingInput {
    pub orders: usize,
    /// Share of order lines that got an allocation on the server.
    pub allocated_share: f64,
    pub order_doc: Option<String>,
    pub event_data: Option<String>,
    pub catalog: Arc<Catalog>,
    pub scenario: Scenario,
}

pub struct CeilingResult {
    pub orders: usize,
    pub rows: usize,
    pub secs: f64,
}

impl CeilingResult {
    pub fn orders_per_sec(&self) -> f64 {
        self.orders as f64 / self.secs.max(1e-9)
    }
}

#[derive(Debug, Clone)]
enum Val {
    Null,
    Int(i64),
    Text(String),
    Uuid(Uuid),
    Ts(OffsetDateTime),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Int,
    Real,
    Text,
    Uuid,
    Ts,
    Bool,
    /// Sent as text and cast to this PostgreSQL type.
    Other(String),
    Any,
}

#[derive(Debug, Clone)]
struct Col {
    name: String,
    kind: Kind,
    nullable: bool,
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    cols: Vec<Col>,
    /// PostgreSQL `GENERATED ALWAYS AS IDENTITY` columns we fill explicitly.
    overriding: bool,
}

// ---------------------------------------------------------------------------------------
// Row generation (engine independent)

struct GenLine {
    no: i64,
    sku: usize,
    qty: i64,
    price: i64,
    discount: i64,
    tax: i64,
    allocated: i64,
    /// (location index, quantity)
    allocs: Vec<(usize, i64)>,
}

impl GenOrder {
    /// The locations shipping part of the order, in code order: one fulfillment order each.
    fn shipping_locations(&self) -> Vec<usize> {
        let mut places: Vec<usize> = self
            .lines
            .iter()
            .flat_map(|l| l.allocs.iter().map(|a| a.0))
            .collect();
        places.sort_by_key(|&p| LOCATIONS[p].code);
        places.dedup();
        places
    }
}

struct GenOrder {
    number: i64,
    id: Uuid,
    channel: &'static str,
    external_id: String,
    status: &'static str,
    at: OffsetDateTime,
    customer: i64,
    total: i64,
    units: i64,
    lines: Vec<GenLine>,
}

fn generate(input: &CeilingInput) -> Vec<GenOrder> {
    let mut rng = SmallRng::seed_from_u64(42);
    let mut lines = Vec::new();
    let mut orders = Vec::with_capacity(input.orders);
    let now = OffsetDateTime::now_utc();
    for n in 0..input.orders {
        input
            .catalog
            .order_lines(input.scenario, &mut rng, &mut lines);
        let mut gen_lines = Vec::with_capacity(lines.len());
        for (i, &(sku, qty)) in lines.iter().enumerate() {
            let price = input.catalog.prices[sku];
            let allocate = rand::Rng::random_bool(&mut rng, input.allocated_share.clamp(0.0, 1.0));
            let location = Catalog::stocked_at(sku).next().unwrap_or(0);
            gen_lines.push(GenLine {
                no: i as i64 + 1,
                sku,
                qty,
                price,
                discount: 0,
                tax: (price * qty * 19 + 59) / 119,
                allocated: if allocate { qty } else { 0 },
                allocs: if allocate {
                    vec![(location, qty)]
                } else {
                    Vec::new()
                },
            });
        }
        let units: i64 = gen_lines.iter().map(|l| l.qty).sum();
        let allocated: i64 = gen_lines.iter().map(|l| l.allocated).sum();
        let status = if allocated >= units {
            "allocated"
        } else if allocated == 0 {
            "backordered"
        } else {
            "partially_allocated"
        };
        orders.push(GenOrder {
            number: n as i64 + 1,
            id: Uuid::now_v7(),
            channel: CHANNELS[OrderWriter::pick_channel(&mut rng)].0,
            external_id: format!("ceiling-{n}"),
            status,
            at: now,
            customer: rand::Rng::random_range(&mut rng, 0..CUSTOMER_POOL) as i64 + 1,
            total: gen_lines
                .iter()
                .map(|l| l.price * l.qty - l.discount)
                .sum::<i64>()
                + 490,
            units,
            lines: gen_lines,
        });
    }
    orders
}

fn text(s: impl Into<String>) -> Option<Val> {
    Some(Val::Text(s.into()))
}

fn order_value(o: &GenOrder, col: &str, doc: &str) -> Option<Val> {
    match col {
        "number" | "order_number" => Some(Val::Int(o.number)),
        "id" | "order_id" => Some(Val::Uuid(o.id)),
        "channel" => text(o.channel),
        "external_id" => text(o.external_id.clone()),
        "status" | "fill_status" => text(o.status),
        "placed_at" | "created_at" | "updated_at" => Some(Val::Ts(o.at)),
        "customer_id" => Some(Val::Int(o.customer)),
        "email" => text(format!("c{}@example.com", o.customer)),
        "currency" => text("EUR"),
        "priority" => Some(Val::Int(0)),
        "total" => Some(Val::Int(o.total)),
        "units" => Some(Val::Int(o.units)),
        "doc" => text(doc),
        _ => None,
    }
}

fn line_value(o: &GenOrder, l: &GenLine, col: &str, catalog: &Catalog) -> Option<Val> {
    match col {
        "order_number" => Some(Val::Int(o.number)),
        "order_id" => Some(Val::Uuid(o.id)),
        "line_no" => Some(Val::Int(l.no)),
        "sku" => text(catalog.skus[l.sku].clone()),
        "quantity" => Some(Val::Int(l.qty)),
        "unit_price" => Some(Val::Int(l.price)),
        "discount" => Some(Val::Int(l.discount)),
        "tax" => Some(Val::Int(l.tax)),
        "allocated" => Some(Val::Int(l.allocated)),
        "backordered" => Some(Val::Int(l.qty - l.allocated)),
        _ => None,
    }
}

fn default_for(col: &Col) -> Val {
    if col.nullable {
        return Val::Null;
    }
    match &col.kind {
        Kind::Int | Kind::Real => Val::Int(0),
        Kind::Uuid => Val::Uuid(Uuid::nil()),
        Kind::Ts => Val::Ts(OffsetDateTime::now_utc()),
        Kind::Bool => Val::Bool(false),
        Kind::Other(t) if t.contains("json") => Val::Text("{}".into()),
        _ => Val::Text(String::new()),
    }
}

fn row(table: &Table, value: impl Fn(&str) -> Option<Val>) -> Vec<Val> {
    table
        .cols
        .iter()
        .map(|c| value(&c.name).unwrap_or_else(|| default_for(c)))
        .collect()
}

/// Rows per table for one batch of orders, plus the balance updates.
struct Batch {
    tables: Vec<(usize, Vec<Vec<Val>>)>,
    /// (sku, location, quantity), one per allocation.
    updates: Vec<(String, String, i64)>,
}

fn build_batches(
    orders: &[GenOrder],
    schema: &[Table],
    input: &CeilingInput,
) -> (Vec<Batch>, usize) {
    let doc = input.order_doc.clone().unwrap_or_else(synthetic_doc);
    let data = input
        .event_data
        .clone()
        .unwrap_or_else(|| r#"{"status":"allocated","lines":2}"#.to_string());
    let find = |name: &str| schema.iter().position(|t| t.name == name);
    let catalog = &input.catalog;
    let mut rows_total = 0;
    let mut batches = Vec::new();
    let mut allocated_so_far: HashMap<(usize, usize), i64> = HashMap::new();
    for chunk in orders.chunks(BATCH) {
        let mut tables: Vec<(usize, Vec<Vec<Val>>)> = Vec::new();
        let mut updates = Vec::new();
        for name in ORDER_TABLES {
            let Some(ti) = find(name) else { continue };
            let t = &schema[ti];
            let mut rows = Vec::new();
            for o in chunk {
                match name {
                    "customers" => rows.push(row(t, |c| match c {
                        "id" => Some(Val::Int(o.customer)),
                        "email" => text(format!("c{}@example.com", o.customer)),
                        "name" => text(format!("Customer {}", o.customer)),
                        "created_at" => Some(Val::Ts(o.at)),
                        _ => None,
                    })),
                    "orders" => rows.push(row(t, |c| order_value(o, c, &doc))),
                    "order_lines" => {
                        for l in &o.lines {
                            rows.push(row(t, |c| line_value(o, l, c, catalog)));
                        }
                    }
                    "fulfillment_orders" => {
                        for (fo_no, loc) in o.shipping_locations().into_iter().enumerate() {
                            rows.push(row(t, |c| match c {
                                "order_number" => Some(Val::Int(o.number)),
                                "fo_no" => Some(Val::Int(fo_no as i64 + 1)),
                                "location" => text(LOCATIONS[loc].code),
                                "status" => text("open"),
                                "created_at" | "updated_at" => Some(Val::Ts(o.at)),
                                _ => None,
                            }));
                        }
                    }
                    "allocations" => {
                        let places = o.shipping_locations();
                        for l in &o.lines {
                            for &(loc, q) in &l.allocs {
                                let fo_no =
                                    places.iter().position(|&p| p == loc).unwrap_or(0) as i64 + 1;
                                rows.push(row(t, |c| match c {
                                    "location" => text(LOCATIONS[loc].code),
                                    "quantity" => Some(Val::Int(q)),
                                    "fo_no" => Some(Val::Int(fo_no)),
                                    _ => line_value(o, l, c, catalog),
                                }));
                            }
                        }
                    }
                    "movements" => {
                        for l in &o.lines {
                            for &(loc, q) in &l.allocs {
                                let before = allocated_so_far.entry((l.sku, loc)).or_default();
                                let b = *before;
                                *before += q;
                                rows.push(row(t, |c| match c {
                                    "at" => Some(Val::Ts(o.at)),
                                    "sku" => text(catalog.skus[l.sku].clone()),
                                    "location" => text(LOCATIONS[loc].code),
                                    "state" => text("allocated"),
                                    "delta" => Some(Val::Int(q)),
                                    "before" => Some(Val::Int(b)),
                                    "after" => Some(Val::Int(b + q)),
                                    "reason" => text("allocation"),
                                    "reference" => text(format!("SO-{:06}", o.number)),
                                    "actor" => text("api:bench"),
                                    _ => order_value(o, c, &doc),
                                }));
                                updates.push((
                                    catalog.skus[l.sku].clone(),
                                    LOCATIONS[loc].code.to_string(),
                                    q,
                                ));
                            }
                        }
                    }
                    "events" => rows.push(row(t, |c| match c {
                        "at" => Some(Val::Ts(o.at)),
                        "kind" => text("order.captured"),
                        "actor" => text("api:bench"),
                        "data" => text(data.clone()),
                        _ => order_value(o, c, &doc),
                    })),
                    _ => {}
                }
            }
            rows_total += rows.len();
            tables.push((ti, rows));
        }
        rows_total += updates.len();
        batches.push(Batch { tables, updates });
    }
    (batches, rows_total)
}

fn synthetic_doc() -> String {
    serde_json::json!({
        "customer": {"email": "c1@example.com", "name": "Customer 1"},
        "shipping_address": {"name": "Customer 1", "line1": "Main St 1", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        "billing_address": null,
        "shipping": {"method": "standard", "price": "4.90"},
        "payment": {"status": "paid", "method": "card"},
        "totals": {"subtotal": "25.98", "discount": "0.00", "tax": "4.15", "shipping": "4.90", "total": "30.88"},
        "tags": [], "notes": null,
    })
    .to_string()
}

/// Products, locations, channels and balances, so foreign keys hold and the balance
/// updates find their rows. Not timed.
fn reference_rows(schema: &[Table], catalog: &Catalog) -> Vec<(usize, Vec<Vec<Val>>)> {
    let now = OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for name in REFERENCE_TABLES {
        let Some(ti) = schema.iter().position(|t| t.name == name) else {
            continue;
        };
        let t = &schema[ti];
        let common = |c: &str| match c {
            "active" => Some(Val::Bool(true)),
            "doc" => text("{}"),
            "updated_at" | "created_at" => Some(Val::Ts(now)),
            _ => None,
        };
        let rows: Vec<Vec<Val>> = match name {
            "products" => (0..catalog.len())
                .map(|i| {
                    row(t, |c| {
                        if c == "sku" {
                            text(catalog.skus[i].clone())
                        } else {
                            common(c)
                        }
                    })
                })
                .collect(),
            "locations" => LOCATIONS
                .iter()
                .map(|l| {
                    row(t, |c| match c {
                        "code" => text(l.code),
                        "priority" => Some(Val::Int(l.priority)),
                        _ => common(c),
                    })
                })
                .collect(),
            "channels" => CHANNELS
                .iter()
                .map(|ch| row(t, |c| if c == "code" { text(ch.0) } else { common(c) }))
                .collect(),
            _ => (0..catalog.len())
                .flat_map(|i| LOCATIONS.iter().map(move |l| (i, l.code)))
                .map(|(i, loc)| {
                    row(t, |c| match c {
                        "sku" => text(catalog.skus[i].clone()),
                        "location" => text(loc),
                        "on_hand" => Some(Val::Int(1_000_000_000)),
                        _ => common(c),
                    })
                })
                .collect(),
        };
        out.push((ti, rows));
    }
    out
}

/// Prepares the fresh database with `ordo migrate`, falling back to the migration files
/// in the source tree when the binary cannot do it.
pub async fn run(
    bin: &Path,
    db: &Db,
    input: &CeilingInput,
) -> Result<(CeilingResult, Option<String>)> {
    let mut note = None;
    if let Err(e) = crate::server::run_tool(bin, "migrate", &db.url())? {
        apply_migration_files(db)
            .await
            .with_context(|| format!("{e}; applying the migration files failed too"))?;
        note = Some(format!("{e} (used the migration files instead)"));
    }
    let result = match db {
        Db::Sqlite(path) => sqlite_ceiling(path, input)?,
        Db::Postgres(url) => postgres_ceiling(url, input).await?,
    };
    Ok((result, note))
}

fn migrations_dir(engine: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(format!("ordo-{engine}"))
        .join("migrations")
}

async fn apply_migration_files(db: &Db) -> Result<()> {
    let dir = migrations_dir(db.engine());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no migration files in {}", dir.display());
    }
    for f in files {
        let sql = std::fs::read_to_string(&f)?;
        match db {
            Db::Sqlite(path) => rusqlite::Connection::open(path)?.execute_batch(&sql)?,
            Db::Postgres(url) => pg_connect(url).await?.batch_execute(&sql).await?,
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SQLite

fn sqlite_schema(conn: &rusqlite::Connection) -> Result<Vec<Table>> {
    let mut tables = Vec::new();
    for name in REFERENCE_TABLES.iter().chain(ORDER_TABLES.iter()) {
        let mut stmt = conn.prepare(&format!("PRAGMA table_info(\"{name}\")"))?;
        let cols: Vec<(String, String, bool, bool)> = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)? == 0,
                    r.get::<_, i64>(5)? > 0,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        if cols.is_empty() {
            continue;
        }
        let cols = cols
            .into_iter()
            // A rowid alias named `seq` is the engine's to assign.
            .filter(|(n, ty, _, pk)| !(n == "seq" && *pk && ty.eq_ignore_ascii_case("INTEGER")))
            .map(|(name, ty, nullable, _)| {
                let t = ty.to_ascii_uppercase();
                let kind = if t.contains("INT") {
                    Kind::Int
                } else if t.contains("CHAR") || t.contains("TEXT") || t.contains("CLOB") {
                    Kind::Text
                } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
                    Kind::Real
                } else {
                    Kind::Any
                };
                Col {
                    name,
                    kind,
                    nullable,
                }
            })
            .collect();
        tables.push(Table {
            name: name.to_string(),
            cols,
            overriding: false,
        });
    }
    if !tables.iter().any(|t| t.name == "orders") {
        bail!("the migrated database has no `orders` table");
    }
    Ok(tables)
}

fn to_sqlite(v: &Val, kind: &Kind) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match (v, kind) {
        (Val::Null, _) => V::Null,
        (Val::Int(i), Kind::Text) => V::Text(i.to_string()),
        (Val::Int(i), Kind::Real) => V::Real(*i as f64),
        (Val::Int(i), _) => V::Integer(*i),
        (Val::Bool(b), Kind::Text) => V::Text(b.to_string()),
        (Val::Bool(b), _) => V::Integer(i64::from(*b)),
        (Val::Text(s), Kind::Int) => V::Integer(s.parse().unwrap_or(0)),
        (Val::Text(s), _) => V::Text(s.clone()),
        (Val::Uuid(u), _) => V::Text(u.hyphenated().to_string()),
        (Val::Ts(t), _) => V::Text(t.format(&Rfc3339).unwrap_or_default()),
    }
}

fn insert_sql_sqlite(t: &Table) -> String {
    let cols: Vec<String> = t.cols.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    let verb = if t.name == "customers" {
        "INSERT OR IGNORE"
    } else {
        "INSERT"
    };
    format!(
        "{verb} INTO \"{}\" ({}) VALUES ({})",
        t.name,
        cols.join(", "),
        marks.join(", ")
    )
}

type SqliteRows = Vec<(usize, Vec<Vec<rusqlite::types::Value>>)>;

fn sqlite_rows(schema: &[Table], tables: Vec<(usize, Vec<Vec<Val>>)>) -> SqliteRows {
    tables
        .into_iter()
        .map(|(ti, rows)| {
            let cols = &schema[ti].cols;
            let rows = rows
                .into_iter()
                .map(|r| {
                    r.iter()
                        .zip(cols)
                        .map(|(v, c)| to_sqlite(v, &c.kind))
                        .collect()
                })
                .collect();
            (ti, rows)
        })
        .collect()
}

fn sqlite_write(
    tx: &rusqlite::Transaction<'_>,
    schema: &[Table],
    tables: &SqliteRows,
) -> Result<()> {
    for (ti, rows) in tables {
        let mut stmt = tx.prepare_cached(&insert_sql_sqlite(&schema[*ti]))?;
        for r in rows {
            stmt.execute(rusqlite::params_from_iter(r.iter()))
                .with_context(|| format!("inserting into {}", schema[*ti].name))?;
        }
    }
    Ok(())
}

fn sqlite_ceiling(path: &Path, input: &CeilingInput) -> Result<CeilingResult> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_prepared_statement_cache_capacity(64);
    let schema = sqlite_schema(&conn)?;

    let reference = sqlite_rows(&schema, reference_rows(&schema, &input.catalog));
    let tx = conn.transaction()?;
    sqlite_write(&tx, &schema, &reference)?;
    tx.commit()?;

    let orders = generate(input);
    let (batches, rows) = build_batches(&orders, &schema, input);
    drop(orders);
    let has_balances = schema.iter().any(|t| t.name == "balances");
    let prepared: Vec<(SqliteRows, Vec<(String, String, i64)>)> = batches
        .into_iter()
        .map(|b| (sqlite_rows(&schema, b.tables), b.updates))
        .collect();

    let start = Instant::now();
    for (tables, updates) in &prepared {
        let tx = conn.transaction()?;
        sqlite_write(&tx, &schema, tables)?;
        if has_balances {
            let mut stmt = tx.prepare_cached(
                "UPDATE balances SET allocated = allocated + ?1 WHERE sku = ?2 AND location = ?3",
            )?;
            for (sku, loc, q) in updates {
                stmt.execute(rusqlite::params![q, sku, loc])?;
            }
        }
        tx.commit()?;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(CeilingResult {
        orders: input.orders,
        rows,
        secs,
    })
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

async fn pg_schema(client: &tokio_postgres::Client) -> Result<Vec<Table>> {
    let mut tables = Vec::new();
    for name in REFERENCE_TABLES.iter().chain(ORDER_TABLES.iter()) {
        let rows = client
            .query(
                "SELECT column_name::text, udt_name::text, is_nullable::text, is_identity::text,
                        coalesce(identity_generation::text, ''), coalesce(column_default::text, ''),
                        is_generated::text
                 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1
                 ORDER BY ordinal_position",
                &[name],
            )
            .await?;
        if rows.is_empty() {
            continue;
        }
        let mut overriding = false;
        let mut cols = Vec::new();
        for r in rows {
            let (col, udt, nullable, identity, generation, default, generated): (
                String,
                String,
                String,
                String,
                String,
                String,
                String,
            ) = (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
            );
            if generated == "ALWAYS" {
                continue;
            }
            if col == "seq" && (identity == "YES" || default.starts_with("nextval")) {
                continue;
            }
            if generation == "ALWAYS" {
                overriding = true;
            }
            let kind = match udt.as_str() {
                "int2" | "int4" | "int8" => Kind::Int,
                "text" | "varchar" | "bpchar" | "name" => Kind::Text,
                "uuid" => Kind::Uuid,
                "timestamptz" | "timestamp" => Kind::Ts,
                "bool" => Kind::Bool,
                other if other.starts_with('_') => Kind::Other(format!("{}[]", &other[1..])),
                other => Kind::Other(other.to_string()),
            };
            cols.push(Col {
                name: col,
                kind,
                nullable: nullable == "YES",
            });
        }
        tables.push(Table {
            name: name.to_string(),
            cols,
            overriding,
        });
    }
    if !tables.iter().any(|t| t.name == "orders") {
        bail!("the migrated database has no `orders` table");
    }
    Ok(tables)
}

enum PgArr {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Uuid(Vec<Option<Uuid>>),
    Ts(Vec<Option<OffsetDateTime>>),
    Bool(Vec<Option<bool>>),
}

impl PgArr {
    fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            PgArr::Int(v) => v,
            PgArr::Text(v) => v,
            PgArr::Uuid(v) => v,
            PgArr::Ts(v) => v,
            PgArr::Bool(v) => v,
        }
    }
}

fn as_text(v: &Val) -> Option<String> {
    match v {
        Val::Null => None,
        Val::Int(i) => Some(i.to_string()),
        Val::Text(s) => Some(s.clone()),
        Val::Uuid(u) => Some(u.to_string()),
        Val::Ts(t) => t.format(&Rfc3339).ok(),
        Val::Bool(b) => Some(b.to_string()),
    }
}

fn pg_column(kind: &Kind, vals: impl Iterator<Item = Val>) -> PgArr {
    match kind {
        Kind::Int | Kind::Real => PgArr::Int(
            vals.map(|v| match v {
                Val::Int(i) => Some(i),
                Val::Bool(b) => Some(i64::from(b)),
                Val::Text(s) => s.parse().ok(),
                _ => None,
            })
            .collect(),
        ),
        Kind::Uuid => PgArr::Uuid(
            vals.map(|v| match v {
                Val::Uuid(u) => Some(u),
                Val::Text(s) => Uuid::parse_str(&s).ok(),
                _ => None,
            })
            .collect(),
        ),
        Kind::Ts => PgArr::Ts(
            vals.map(|v| if let Val::Ts(t) = v { Some(t) } else { None })
                .collect(),
        ),
        Kind::Bool => PgArr::Bool(
            vals.map(|v| match v {
                Val::Bool(b) => Some(b),
                Val::Int(i) => Some(i != 0),
                _ => None,
            })
            .collect(),
        ),
        _ => PgArr::Text(vals.map(|v| as_text(&v)).collect()),
    }
}

fn pg_array_type(kind: &Kind) -> &'static str {
    match kind {
        Kind::Int | Kind::Real => "int8[]",
        Kind::Uuid => "uuid[]",
        Kind::Ts => "timestamptz[]",
        Kind::Bool => "bool[]",
        _ => "text[]",
    }
}

fn insert_sql_pg(t: &Table) -> String {
    let cols: Vec<String> = t.cols.iter().map(|c| format!("\"{}\"", c.name)).collect();
    let params: Vec<String> = t
        .cols
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}", i + 1, pg_array_type(&c.kind)))
        .collect();
    let aliases: Vec<String> = (0..t.cols.len()).map(|i| format!("c{i}")).collect();
    let select: Vec<String> = t
        .cols
        .iter()
        .enumerate()
        .map(|(i, c)| match &c.kind {
            Kind::Other(ty) => format!("u.c{i}::{ty}"),
            _ => format!("u.c{i}"),
        })
        .collect();
    format!(
        "INSERT INTO \"{}\" ({}){} SELECT {} FROM UNNEST({}) AS u({}){}",
        t.name,
        cols.join(", "),
        if t.overriding {
            " OVERRIDING SYSTEM VALUE"
        } else {
            ""
        },
        select.join(", "),
        params.join(", "),
        aliases.join(", "),
        if t.name == "customers" {
            " ON CONFLICT DO NOTHING"
        } else {
            ""
        },
    )
}

type PgRows = Vec<(usize, Vec<PgArr>)>;

fn pg_rows(schema: &[Table], tables: Vec<(usize, Vec<Vec<Val>>)>) -> PgRows {
    tables
        .into_iter()
        .filter(|(_, rows)| !rows.is_empty())
        .map(|(ti, rows)| {
            let cols = &schema[ti].cols;
            let mut per_col: Vec<Vec<Val>> = vec![Vec::with_capacity(rows.len()); cols.len()];
            for r in rows {
                for (i, v) in r.into_iter().enumerate() {
                    per_col[i].push(v);
                }
            }
            let arrays = per_col
                .into_iter()
                .zip(cols)
                .map(|(vals, c)| pg_column(&c.kind, vals.into_iter()))
                .collect();
            (ti, arrays)
        })
        .collect()
}

type Statements = HashMap<usize, tokio_postgres::Statement>;

async fn pg_prepare(client: &tokio_postgres::Client, schema: &[Table]) -> Result<Statements> {
    let mut out = HashMap::new();
    for (i, t) in schema.iter().enumerate() {
        let sql = insert_sql_pg(t);
        out.insert(
            i,
            client
                .prepare(&sql)
                .await
                .with_context(|| format!("preparing {sql}"))?,
        );
    }
    Ok(out)
}

async fn pg_write(
    tx: &tokio_postgres::Transaction<'_>,
    stmts: &Statements,
    schema: &[Table],
    tables: &PgRows,
) -> Result<()> {
    for (ti, arrays) in tables {
        let params: Vec<&(dyn ToSql + Sync)> = arrays.iter().map(PgArr::param).collect();
        tx.execute(&stmts[ti], &params)
            .await
            .with_context(|| format!("inserting into {}", schema[*ti].name))?;
    }
    Ok(())
}

/// One statement per batch; duplicates are summed first because `UPDATE … FROM` applies at
/// most one source row per target row.
const PG_BALANCES: &str = "UPDATE balances b SET allocated = b.allocated + u.q
    FROM (SELECT sku, location, SUM(q)::bigint AS q
          FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS x(sku, location, q)
          GROUP BY sku, location) u
    WHERE b.sku = u.sku AND b.location = u.location";

async fn postgres_ceiling(url: &str, input: &CeilingInput) -> Result<CeilingResult> {
    let mut client = pg_connect(url).await?;
    client.batch_execute("SET synchronous_commit = on").await?;
    let schema = pg_schema(&client).await?;
    let stmts = pg_prepare(&client, &schema).await?;
    let balances = client.prepare(PG_BALANCES).await?;

    let reference = pg_rows(&schema, reference_rows(&schema, &input.catalog));
    let tx = client.transaction().await?;
    pg_write(&tx, &stmts, &schema, &reference).await?;
    tx.commit().await?;

    let orders = generate(input);
    let (batches, rows) = build_batches(&orders, &schema, input);
    drop(orders);
    let has_balances = schema.iter().any(|t| t.name == "balances");
    let prepared: Vec<(PgRows, [Vec<Option<String>>; 2], Vec<i64>)> = batches
        .into_iter()
        .map(|b| {
            let skus = b.updates.iter().map(|u| Some(u.0.clone())).collect();
            let locs = b.updates.iter().map(|u| Some(u.1.clone())).collect();
            let qs = b.updates.iter().map(|u| u.2).collect();
            (pg_rows(&schema, b.tables), [skus, locs], qs)
        })
        .collect();

    let start = Instant::now();
    for (tables, [skus, locs], qs) in &prepared {
        let tx = client.transaction().await?;
        pg_write(&tx, &stmts, &schema, tables).await?;
        if has_balances && !qs.is_empty() {
            tx.execute(&balances, &[skus, locs, qs])
                .await
                .context("updating balances")?;
        }
        tx.commit().await?;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(CeilingResult {
        orders: input.orders,
        rows,
        secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_ceiling_writes_the_expected_rows() {
        let dir =
            std::env::temp_dir().join(format!("ordo-bench-ceiling-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.db");
        let sql = std::fs::read_to_string(migrations_dir("sqlite").join("0001_init.sql")).unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(&sql)
            .unwrap();
        let input = CeilingInput {
            orders: 2500,
            allocated_share: 0.8,
            order_doc: None,
            event_data: None,
            catalog: Catalog::new(50),
            scenario: Scenario::Mixed,
        };
        let r = sqlite_ceiling(&path, &input).unwrap();
        assert_eq!(r.orders, 2500);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let count = |t: &str| -> i64 {
            conn.query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(count("orders"), 2500);
        assert_eq!(count("events"), 2500);
        assert_eq!(count("movements"), count("allocations"));
        let allocated: i64 = conn
            .query_row("SELECT SUM(allocated) FROM balances", [], |r| r.get(0))
            .unwrap();
        let reserved: i64 = conn
            .query_row("SELECT SUM(quantity) FROM allocations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(allocated, reserved);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Stands in for the PostgreSQL migration until it exists; the real file wins when present.
    const PG_SCHEMA: &str = "
        CREATE TABLE products (sku text PRIMARY KEY, active boolean NOT NULL, doc text NOT NULL, updated_at timestamptz NOT NULL);
        CREATE TABLE locations (code text PRIMARY KEY, active boolean NOT NULL, priority integer NOT NULL, doc text NOT NULL, updated_at timestamptz NOT NULL);
        CREATE TABLE channels (code text PRIMARY KEY, doc text NOT NULL, updated_at timestamptz NOT NULL);
        CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE, name text, phone text, created_at timestamptz NOT NULL);
        CREATE TABLE balances (sku text NOT NULL REFERENCES products, location text NOT NULL REFERENCES locations, on_hand bigint NOT NULL DEFAULT 0,
            allocated bigint NOT NULL DEFAULT 0, damaged bigint NOT NULL DEFAULT 0, quality_control bigint NOT NULL DEFAULT 0,
            safety_stock bigint NOT NULL DEFAULT 0, incoming bigint NOT NULL DEFAULT 0, PRIMARY KEY (sku, location));
        CREATE TABLE movements (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL, sku text NOT NULL, location text NOT NULL,
            state text NOT NULL, delta bigint NOT NULL, before bigint NOT NULL, after bigint NOT NULL, reason text NOT NULL, reference text, actor text NOT NULL);
        CREATE TABLE orders (number bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id uuid NOT NULL UNIQUE, channel text NOT NULL REFERENCES channels,
            external_id text NOT NULL, status text NOT NULL, fill_status text NOT NULL, hold_reason text, cancel_reason text,
            placed_at timestamptz NOT NULL, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
            customer_id bigint NOT NULL REFERENCES customers (id), email text NOT NULL, currency text NOT NULL, priority integer NOT NULL,
            total bigint NOT NULL, units bigint NOT NULL, doc text NOT NULL, UNIQUE (channel, external_id));
        CREATE TABLE order_lines (order_number bigint NOT NULL REFERENCES orders (number), line_no integer NOT NULL, sku text NOT NULL,
            quantity bigint NOT NULL, unit_price bigint NOT NULL, discount bigint NOT NULL, tax bigint NOT NULL, allocated bigint NOT NULL,
            backordered bigint NOT NULL, PRIMARY KEY (order_number, line_no));
        CREATE TABLE allocations (order_number bigint NOT NULL, line_no integer NOT NULL, location text NOT NULL, quantity bigint NOT NULL,
            PRIMARY KEY (order_number, line_no, location), FOREIGN KEY (order_number, line_no) REFERENCES order_lines);
        CREATE TABLE events (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL, kind text NOT NULL,
            order_number bigint REFERENCES orders (number), actor text NOT NULL, data jsonb NOT NULL);
    ";

    #[tokio::test]
    async fn postgres_ceiling_writes_the_expected_rows() {
        let Some(cluster) = ordo_testkit::PgCluster::start().unwrap() else {
            return;
        };
        let url = cluster.create_database("ceiling_test").unwrap();
        let client = pg_connect(&url).await.unwrap();
        let migration = migrations_dir("postgres").join("0001_init.sql");
        let sql = std::fs::read_to_string(migration).unwrap_or_else(|_| PG_SCHEMA.to_string());
        client.batch_execute(&sql).await.unwrap();
        let input = CeilingInput {
            orders: 2500,
            allocated_share: 0.8,
            order_doc: None,
            event_data: None,
            catalog: Catalog::new(50),
            scenario: Scenario::Mixed,
        };
        let r = postgres_ceiling(&url, &input).await.unwrap();
        assert_eq!(r.orders, 2500);
        let count = async |t: &str| -> i64 {
            client
                .query_one(&format!("SELECT COUNT(*) FROM {t}"), &[])
                .await
                .unwrap()
                .get(0)
        };
        assert_eq!(count("orders").await, 2500);
        assert_eq!(count("events").await, 2500);
        assert_eq!(count("movements").await, count("allocations").await);
        let row = client
            .query_one(
                "SELECT (SELECT SUM(allocated) FROM balances)::bigint, (SELECT SUM(quantity) FROM allocations)::bigint",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), row.get::<_, i64>(1));
    }
}
