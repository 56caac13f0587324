//! SQLite backend.
//!
//! Every write runs on one dedicated writer thread. Concurrent commands queue up while the
//! previous batch commits, and the next batch takes all of them into one transaction
//! (each in its own savepoint) that is committed with one fsync (`synchronous=FULL`) before
//! any of them is acknowledged: group commit. Reads use a small pool of separate WAL
//! connections and never wait for the writer. Several processes may share the file: write
//! transactions start with `BEGIN IMMEDIATE`, and caches are dropped whenever
//! `PRAGMA data_version` shows another connection committed.

mod checkpoint;
mod ops;
mod reads;
mod sync;
mod vfs;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ordo_domain::catalog::{Channel, Location, Product};
use ordo_domain::inventory::StockWrite;
use ordo_domain::order::{NewOrder, Order};
use ordo_store::*;
use rusqlite::Connection;

use writer::WriterHandle;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_users.sql")),
    (3, include_str!("../migrations/0003_routing_rules.sql")),
    (4, include_str!("../migrations/0004_fulfillment_orders.sql")),
    (5, include_str!("../migrations/0005_shipments.sql")),
    (6, include_str!("../migrations/0006_picking.sql")),
    (7, include_str!("../migrations/0007_packing.sql")),
    (8, include_str!("../migrations/0008_manifests.sql")),
    (9, include_str!("../migrations/0009_returns.sql")),
    (10, include_str!("../migrations/0010_channel_sync.sql")),
    (11, include_str!("../migrations/0011_claims.sql")),
    (12, include_str!("../migrations/0012_user_disabled.sql")),
];

/// The step in which the database file grows (see `vfs::set_chunk_size`).
pub(crate) const DB_CHUNK_BYTES: i32 = 32 << 20;

pub(crate) fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

pub(crate) fn open_connection(path: &Path, writer: bool) -> Result<Connection> {
    vfs::register().map_err(StoreError::Internal)?;
    let conn = Connection::open_with_flags_and_vfs(path, rusqlite::OpenFlags::default(), vfs::NAME)
        .map_err(internal)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(internal)?;
    // FULL: the WAL is fsync'd at every commit, so an acknowledged order survives power loss.
    // The writer then turns it off and fsyncs the WAL on its own thread (see `writer`).
    conn.execute_batch(if writer {
        "PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;"
    } else {
        "PRAGMA foreign_keys=ON; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;"
    })
    .map_err(internal)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Applies the migrations the database has not seen yet; returns how many ran.
pub fn migrate(conn: &mut Connection) -> Result<usize> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL) STRICT",
    )
    .map_err(internal)?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(internal)?;
    let mut ran = 0;
    for (version, sql) in MIGRATIONS {
        let done: bool = tx
            .query_row(
                "SELECT COUNT(*) > 0 FROM schema_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .map_err(internal)?;
        if !done {
            tx.execute_batch(sql).map_err(internal)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                rusqlite::params![version, format_time(time::OffsetDateTime::now_utc())],
            )
            .map_err(internal)?;
            ran += 1;
        }
    }
    tx.commit().map_err(internal)?;
    Ok(ran)
}

/// Turns `sqlite://path`, `sqlite:path` or a bare path into a file path.
pub fn path_from_url(url: &str) -> PathBuf {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

pub struct SqliteStore {
    path: PathBuf,
    checkpointer: checkpoint::Checkpointer,
    writer: WriterHandle,
    readers: Arc<ReaderPool>,
}

/// Read connections in use at once. Bounded so that memory stays flat under load and
/// connections are reused rather than reopened (opening one re-reads the schema).
const READERS: usize = 4;

pub(crate) struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: tokio::sync::Semaphore,
}

impl ReaderPool {
    /// Runs `f` in one read transaction: its statements see one snapshot, and the WAL's
    /// read lock is taken once rather than per statement.
    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.idle.lock().expect("reader pool lock").pop();
        let conn = match conn {
            Some(c) => c,
            None => open_connection(&self.path, false)?,
        };
        let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
        run("BEGIN").map_err(internal)?;
        let out = f(&conn);
        if run("COMMIT").is_ok() || conn.is_autocommit() {
            self.idle.lock().expect("reader pool lock").push(conn);
        }
        out
    }
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database, then starts the writer thread.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(internal)?;
        }
        let mut conn = open_connection(&path, true)?;
        migrate(&mut conn)?;
        vfs::set_chunk_size(&conn, DB_CHUNK_BYTES).map_err(StoreError::Internal)?;
        // Checkpoints run on their own connection (see `checkpoint`).
        // The size limit is above the WAL's size at a restart (the frame limit in `checkpoint`,
        // 1,048-byte frames, and room for the batches committed before the writer's final
        // pass), so the file keeps its size from one cycle to the next and a WAL fsync never
        // has to commit a new size.
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit={};",
            checkpoint::WAL_LIMIT_FRAMES * 1_100 + (32 << 20)
        ))
        .map_err(internal)?;
        let wal = checkpoint::WalState::default();
        let mut wal_path = path.clone().into_os_string();
        wal_path.push("-wal");
        let writer = writer::spawn(conn, wal.clone(), wal_path.into())?;
        let checkpointer = checkpoint::Checkpointer::spawn(path.clone(), wal)?;
        Ok(SqliteStore {
            checkpointer,
            readers: Arc::new(ReaderPool {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
                permits: tokio::sync::Semaphore::new(READERS),
            }),
            path,
            writer,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queries that may scan many rows run on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _permit = self.readers.permits.acquire().await.map_err(internal)?;
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || pool.with(f))
            .await
            .map_err(internal)?
    }

    /// Point lookups by key take tens of microseconds from the page cache: cheaper to run
    /// in place than to hand to another thread and back.
    async fn read_point<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let _permit = self.readers.permits.acquire().await.map_err(internal)?;
        self.readers.with(f)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }

    async fn put_product(&self, product: Product, ctx: &WriteContext) -> Result<Created<Product>> {
        let actor = ctx.actor.clone();
        self.writer
            .run(move |w| ops::put_product(w, product, &actor))
            .await
    }
    async fn get_product(&self, sku: &str) -> Result<Option<Product>> {
        let sku = sku.to_string();
        self.read_point(move |c| reads::get_doc(c, "SELECT doc FROM products WHERE sku = ?1", &sku))
            .await
    }
    async fn list_products(&self, page: &PageRequest) -> Result<Page<Product>> {
        let page = page.clone();
        self.read(move |c| reads::list_products(c, &page)).await
    }

    async fn put_location(
        &self,
        location: Location,
        ctx: &WriteContext,
    ) -> Result<Created<Location>> {
        let actor = ctx.actor.clone();
        self.writer
            .run(move |w| ops::put_location(w, location, &actor))
            .await
    }
    async fn get_location(&self, code: &str) -> Result<Option<Location>> {
        let code = code.to_string();
        self.read_point(move |c| {
            reads::get_doc(c, "SELECT doc FROM locations WHERE code = ?1", &code)
        })
        .await
    }
    async fn list_locations(&self) -> Result<Vec<Location>> {
        self.read(|c| reads::all_docs(c, "SELECT doc FROM locations ORDER BY priority, code"))
            .await
    }

    async fn put_channel(&self, channel: Channel, ctx: &WriteContext) -> Result<Created<Channel>> {
        let actor = ctx.actor.clone();
        self.writer
            .run(move |w| ops::put_channel(w, channel, &actor))
            .await
    }
    async fn get_channel(&self, code: &str) -> Result<Option<Channel>> {
        let code = code.to_string();
        self.read_point(move |c| {
            reads::get_doc(c, "SELECT doc FROM channels WHERE code = ?1", &code)
        })
        .await
    }
    async fn list_channels(&self) -> Result<Vec<Channel>> {
        self.read(|c| reads::all_docs(c, "SELECT doc FROM channels ORDER BY code"))
            .await
    }
    async fn channel_availability(
        &self,
        channel: &str,
        sku: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ChannelAvailability>> {
        let (channel, sku, page) = (channel.to_string(), sku.map(str::to_string), page.clone());
        self.read(move |c| reads::channel_availability(c, &channel, sku.as_deref(), &page))
            .await
    }

    async fn write_stock(
        &self,
        write: StockWrite,
        ctx: &WriteContext,
    ) -> Result<Outcome<StockWriteResult>> {
        let ctx = ctx.clone();
        self.writer
            .run(move |w| ops::write_stock(w, &write, &ctx))
            .await
    }
    async fn list_balances(
        &self,
        filter: &BalanceFilter,
        page: &PageRequest,
    ) -> Result<Page<BalanceRow>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |c| reads::list_balances(c, &filter, &page))
            .await
    }
    async fn list_movements(
        &self,
        filter: &MovementFilter,
        page: &PageRequest,
    ) -> Result<Page<Movement>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |c| reads::list_movements(c, &filter, &page))
            .await
    }
    async fn verify(&self) -> Result<VerifyReport> {
        self.read(reads::verify).await
    }

    async fn capture_order(
        &self,
        order: NewOrder,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<Order>>> {
        let ctx = ctx.clone();
        let prepared = PreparedOrder::new(order);
        let (captured, prepared) = self
            .writer
            .run_capture(move |w| ops::capture(w, &prepared, &ctx).map(|c| (c, prepared)))
            .await?;
        Ok(match captured {
            ops::Captured::Ready(outcome) => outcome,
            ops::Captured::New(plan) => Outcome::Done(Created {
                value: plan.to_order(prepared.doc),
                created: true,
            }),
        })
    }
    async fn get_order(&self, id_or_number: &str) -> Result<Option<Order>> {
        let key = id_or_number.to_string();
        self.read_point(
            move |c| match ordo_domain::order::parse_order_number(&key) {
                Some(n) => reads::find_order(c, n),
                None => match reads::resolve_order(c, &key)? {
                    Some(n) => reads::find_order(c, n),
                    None => Ok(None),
                },
            },
        )
        .await
    }
    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<OrderSummary>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |c| reads::list_orders(c, &filter, &page))
            .await
    }
    async fn transition_order(
        &self,
        id_or_number: &str,
        change: OrderChange,
        ctx: &WriteContext,
    ) -> Result<Outcome<Order>> {
        let (key, ctx) = (id_or_number.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::transition(w, &key, &change, &ctx))
            .await
    }
    async fn map_order_line(
        &self,
        id_or_number: &str,
        line_no: i32,
        sku: &str,
        ctx: &WriteContext,
    ) -> Result<Outcome<Order>> {
        let (key, sku, ctx) = (id_or_number.to_string(), sku.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::map_order_line(w, &key, line_no, &sku, &ctx))
            .await
    }
    async fn order_events(&self, id_or_number: &str) -> Result<Option<Vec<Event>>> {
        let key = id_or_number.to_string();
        self.read(move |c| match reads::resolve_order(c, &key)? {
            Some(n) => reads::order_events(c, n).map(Some),
            None => Ok(None),
        })
        .await
    }
    async fn last_event_seq(&self) -> Result<i64> {
        self.read_point(|c| {
            c.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(internal)
        })
        .await
    }
    async fn list_events(&self, after: i64, limit: i64) -> Result<Vec<Event>> {
        self.read(move |c| reads::list_events(c, after, limit))
            .await
    }

    async fn create_claim(
        &self,
        order: &str,
        claim: ordo_domain::claims::NewClaim,
        ctx: &WriteContext,
    ) -> Result<Claim> {
        let (order, ctx) = (order.to_string(), ctx.clone());
        self.writer
            .run(move |w| sync::create_claim(w, &order, claim, &ctx))
            .await
    }
    async fn list_claims(&self, order: Option<&str>, limit: i64) -> Result<Vec<Claim>> {
        let order = order.map(str::to_string);
        self.read(move |c| sync::list_claims(c, order.as_deref(), limit))
            .await
    }

    async fn sync_get(&self, channel: &str, key: &str) -> Result<Option<SyncEntry>> {
        self.read_point(|c| sync::get(c, channel, key)).await
    }
    async fn sync_put(&self, channel: &str, key: &str, value: Option<&str>) -> Result<()> {
        let (channel, entries) = (
            channel.to_string(),
            vec![(key.to_string(), value.map(str::to_string))],
        );
        self.writer
            .run(move |w| sync::put(w, &channel, &entries))
            .await
    }
    async fn sync_put_many(
        &self,
        channel: &str,
        entries: &[(String, Option<String>)],
    ) -> Result<()> {
        let (channel, entries) = (channel.to_string(), entries.to_vec());
        self.writer
            .run(move |w| sync::put(w, &channel, &entries))
            .await
    }
    async fn sync_add(&self, channel: &str, key: &str, delta: i64) -> Result<i64> {
        let (channel, key) = (channel.to_string(), key.to_string());
        self.writer
            .run(move |w| sync::add(w, &channel, &key, delta))
            .await
    }
    async fn find_channel_order(&self, channel: &str, external_id: &str) -> Result<Option<Order>> {
        let number = self
            .read_point(|c| sync::channel_order_number(c, channel, external_id))
            .await?;
        match number {
            Some(n) => self.get_order(&ordo_domain::order::order_number(n)).await,
            None => Ok(None),
        }
    }
    async fn sync_insert_if_absent(&self, channel: &str, key: &str, value: &str) -> Result<bool> {
        let (channel, key, value) = (channel.to_string(), key.to_string(), value.to_string());
        self.writer
            .run(move |w| sync::insert_if_absent(w, &channel, &key, &value))
            .await
    }
    async fn sync_list(
        &self,
        channel: &str,
        prefix: &str,
        after_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SyncEntry>> {
        let (channel, prefix, after) = (
            channel.to_string(),
            prefix.to_string(),
            after_key.map(str::to_string),
        );
        self.read(move |c| sync::list(c, &channel, &prefix, after.as_deref(), limit))
            .await
    }
    async fn stock_changes(
        &self,
        after_movement: i64,
        since: time::OffsetDateTime,
        limit: i64,
    ) -> Result<StockChanges> {
        self.read(move |c| sync::stock_changes(c, after_movement, since, limit))
            .await
    }

    async fn get_fulfillment_order(
        &self,
        id: &str,
    ) -> Result<Option<ordo_domain::fulfillment::FulfillmentOrder>> {
        let id = id.to_string();
        self.read_point(move |c| reads::get_fulfillment_order(c, &id))
            .await
    }
    async fn list_fulfillment_orders(
        &self,
        filter: &FulfillmentFilter,
        page: &PageRequest,
    ) -> Result<Page<ordo_domain::fulfillment::FulfillmentOrder>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |c| reads::list_fulfillment_orders(c, &filter, &page))
            .await
    }
    async fn create_shipment(
        &self,
        shipment: ordo_domain::shipment::NewShipment,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<ordo_domain::shipment::Shipment>>> {
        let ctx = ctx.clone();
        self.writer
            .run(move |w| ops::create_shipment(w, &shipment, &ctx))
            .await
    }
    async fn get_shipment(&self, id: &str) -> Result<Option<ordo_domain::shipment::Shipment>> {
        let Some(number) = ordo_domain::shipment::parse_shipment_number(id) else {
            return Ok(None);
        };
        self.read_point(move |c| Ok(reads::find_shipment(c, number)?.map(|r| r.view())))
            .await
    }
    async fn list_shipments(
        &self,
        filter: &ShipmentFilter,
        page: &PageRequest,
    ) -> Result<Page<ordo_domain::shipment::Shipment>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |c| reads::list_shipments(c, &filter, &page))
            .await
    }
    async fn void_shipment(
        &self,
        id: &str,
        ctx: &WriteContext,
    ) -> Result<Outcome<ordo_domain::shipment::Shipment>> {
        let (id, ctx) = (id.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::void_shipment(w, &id, &ctx))
            .await
    }
    async fn add_tracking_event(
        &self,
        id: &str,
        event: ordo_domain::shipment::TrackingEvent,
        ctx: &WriteContext,
    ) -> Result<Outcome<ordo_domain::shipment::Shipment>> {
        let (id, ctx) = (id.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::add_tracking_event(w, &id, &event, &ctx))
            .await
    }
    async fn get_layout(
        &self,
        location: &str,
    ) -> Result<Option<ordo_warehouse::bins::LayoutConfig>> {
        let location = location.to_string();
        self.read_point(move |c| reads::layout(c, &location)).await
    }
    async fn put_layout(
        &self,
        location: &str,
        layout: ordo_warehouse::bins::LayoutConfig,
        ctx: &WriteContext,
    ) -> Result<()> {
        let (location, ctx) = (location.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::put_layout(w, &location, &layout, &ctx))
            .await
    }
    async fn sku_bins(&self, location: &str) -> Result<Vec<SkuBin>> {
        let location = location.to_string();
        self.read(move |c| reads::sku_bins(c, &location)).await
    }
    async fn put_sku_bins(
        &self,
        location: &str,
        bins: Vec<SkuBin>,
        ctx: &WriteContext,
    ) -> Result<()> {
        let (location, ctx) = (location.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::put_sku_bins(w, &location, &bins, &ctx))
            .await
    }
    async fn create_pick_job(
        &self,
        location: &str,
        input: PickJobInput,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<PickJob>>> {
        let (location, ctx) = (location.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::create_pick_job(w, &location, &input, &ctx))
            .await
    }
    async fn get_pick_job(&self, id: &str) -> Result<Option<PickJob>> {
        let Some(number) = parse_pick_job_number(id) else {
            return Ok(None);
        };
        self.read_point(move |c| reads::find_pick_job(c, number))
            .await
    }
    async fn list_pick_jobs(
        &self,
        location: Option<&str>,
        status: Option<PickJobStatus>,
        page: &PageRequest,
    ) -> Result<Page<PickJob>> {
        let (location, page) = (location.map(str::to_string), page.clone());
        self.read(move |c| reads::list_pick_jobs(c, location.as_deref(), status, &page))
            .await
    }
    async fn record_pick_command(
        &self,
        id: &str,
        input: PickCommand,
        ctx: &WriteContext,
    ) -> Result<Outcome<PickResult>> {
        let (id, ctx) = (id.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::record_pick(w, &id, &input, &ctx))
            .await
    }
    async fn close_manifest(
        &self,
        location: &str,
        carrier: &str,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<Manifest>>> {
        let (location, carrier, ctx) = (location.to_string(), carrier.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::close_manifest(w, &location, &carrier, &ctx))
            .await
    }
    async fn get_manifest(&self, id: &str) -> Result<Option<Manifest>> {
        let Some(number) = parse_manifest_number(id) else {
            return Ok(None);
        };
        self.read_point(move |c| {
            reads::get_doc(
                c,
                "SELECT doc FROM manifests WHERE number = ?1",
                &number.to_string(),
            )
        })
        .await
    }
    async fn list_manifests(
        &self,
        location: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Manifest>> {
        let (location, page) = (location.map(str::to_string), page.clone());
        self.read(move |c| reads::list_manifests(c, location.as_deref(), &page))
            .await
    }
    async fn packing_policies(
        &self,
        location: &str,
    ) -> Result<ordo_warehouse::packing::PackingPolicies> {
        let location = location.to_string();
        self.read(move |c| reads::packing_policies(c, &location))
            .await
    }
    async fn put_packing_policies(
        &self,
        location: Option<&str>,
        policies: ordo_warehouse::packing::PackingPolicies,
        ctx: &WriteContext,
    ) -> Result<()> {
        let (key, ctx) = (packing_policies_key(location), ctx.clone());
        self.writer
            .run(move |w| {
                ops::put_setting(
                    w,
                    &key,
                    &serde_json::to_value(&policies).map_err(internal)?,
                    &ctx,
                )
            })
            .await
    }
    async fn create_return(
        &self,
        input: ordo_domain::returns::ReturnInput,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<Rma>>> {
        let ctx = ctx.clone();
        self.writer
            .run(move |w| ops::create_return(w, input, &ctx))
            .await
    }
    async fn get_return(&self, id: &str) -> Result<Option<Rma>> {
        let Some(number) = parse_rma_number(id) else {
            return Ok(None);
        };
        self.read_point(move |c| Ok(reads::find_return(c, number)?.map(|r| r.view())))
            .await
    }
    async fn list_returns(&self, filter: &ReturnFilter, page: &PageRequest) -> Result<Page<Rma>> {
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |c| reads::list_returns(c, &filter, &page))
            .await
    }
    async fn return_step(
        &self,
        id: &str,
        step: ordo_domain::returns::ReturnStep,
        reason: Option<String>,
        ctx: &WriteContext,
    ) -> Result<Outcome<Rma>> {
        let (id, ctx) = (id.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::return_step(w, &id, step, reason, &ctx))
            .await
    }
    async fn receive_return(
        &self,
        id: &str,
        location: &str,
        lines: Vec<ordo_domain::returns::ReceivedLine>,
        ctx: &WriteContext,
    ) -> Result<Outcome<Rma>> {
        let (id, location, ctx) = (id.to_string(), location.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::receive_return(w, &id, &location, &lines, &ctx))
            .await
    }
    async fn grade_return(
        &self,
        id: &str,
        sku: &str,
        quantity: i64,
        grade: ordo_domain::returns::Grade,
        ctx: &WriteContext,
    ) -> Result<Outcome<Rma>> {
        let (id, sku, ctx) = (id.to_string(), sku.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::grade_return(w, &id, &sku, quantity, grade, &ctx))
            .await
    }
    async fn return_policy(&self, channel: &str) -> Result<ordo_domain::returns::ReturnPolicy> {
        let key = format!("return_policy:{channel}");
        self.read(move |c| {
            Ok(
                reads::get_doc(c, "SELECT doc FROM settings WHERE key = ?1", &key)?
                    .unwrap_or_default(),
            )
        })
        .await
    }
    async fn put_return_policy(
        &self,
        channel: &str,
        policy: ordo_domain::returns::ReturnPolicy,
        ctx: &WriteContext,
    ) -> Result<()> {
        let (key, ctx) = (format!("return_policy:{channel}"), ctx.clone());
        self.writer
            .run(move |w| {
                ops::put_setting(
                    w,
                    &key,
                    &serde_json::to_value(&policy).map_err(internal)?,
                    &ctx,
                )
            })
            .await
    }
    async fn carrier_services(&self) -> Result<Vec<ordo_warehouse::shipping::CarrierService>> {
        self.read(|c| {
            Ok(reads::get_doc(
                c,
                "SELECT doc FROM settings WHERE key = ?1",
                "carrier_services",
            )?
            .unwrap_or_default())
        })
        .await
    }
    async fn put_carrier_services(
        &self,
        services: Vec<ordo_warehouse::shipping::CarrierService>,
        ctx: &WriteContext,
    ) -> Result<()> {
        let ctx = ctx.clone();
        self.writer
            .run(move |w| {
                ops::put_setting(
                    w,
                    "carrier_services",
                    &serde_json::to_value(&services).map_err(internal)?,
                    &ctx,
                )
            })
            .await
    }
    async fn box_types(&self) -> Result<Vec<ordo_warehouse::cartonize::BoxType>> {
        self.read(reads::box_types).await
    }
    async fn put_box_type(
        &self,
        box_type: ordo_warehouse::cartonize::BoxType,
        ctx: &WriteContext,
    ) -> Result<()> {
        let ctx = ctx.clone();
        self.writer
            .run(move |w| ops::put_box_type(w, &box_type, &ctx))
            .await
    }
    async fn pack_fulfillment_order(
        &self,
        id: &str,
        input: PackInput,
        ctx: &WriteContext,
    ) -> Result<Outcome<Packing>> {
        let (id, ctx) = (id.to_string(), ctx.clone());
        self.writer
            .run(move |w| ops::pack(w, &id, &input, &ctx))
            .await
    }
    async fn get_packing(&self, id: &str) -> Result<Option<Packing>> {
        let Some((number, fo_no)) = ordo_domain::fulfillment::parse_fulfillment_order_id(id) else {
            return Ok(None);
        };
        self.read_point(move |c| reads::packing(c, number, fo_no))
            .await
    }
    async fn change_fulfillment(
        &self,
        change: FulfillmentChange,
        ctx: &WriteContext,
    ) -> Result<Outcome<Order>> {
        let ctx = ctx.clone();
        self.writer
            .run(move |w| ops::change_fulfillment(w, &change, &ctx))
            .await
    }

    async fn create_api_key(&self, name: &str, role: Role, token_hash: &str) -> Result<ApiKey> {
        let (name, hash) = (name.to_string(), token_hash.to_string());
        self.writer
            .run(move |w| ops::create_api_key(w, &name, role, &hash))
            .await
    }
    async fn find_api_key(&self, token_hash: &str) -> Result<Option<ApiKey>> {
        let hash = token_hash.to_string();
        self.read_point(move |c| reads::find_api_key(c, &hash))
            .await
    }
    async fn count_api_keys(&self) -> Result<i64> {
        self.read_point(|c| {
            c.query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))
                .map_err(internal)
        })
        .await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        self.read(sync::list_api_keys).await
    }
    async fn delete_api_key(&self, id: i64) -> Result<bool> {
        self.writer.run(move |w| sync::delete_api_key(w, id)).await
    }
    async fn list_users(&self) -> Result<Vec<User>> {
        self.read(sync::list_users).await
    }

    async fn create_user(&self, username: &str, role: Role, password_hash: &str) -> Result<User> {
        let (username, hash) = (username.to_string(), password_hash.to_string());
        self.writer
            .run(move |w| ops::create_user(w, &username, role, &hash))
            .await
    }
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>> {
        let username = username.to_string();
        self.read_point(move |c| reads::find_user(c, &username))
            .await
    }
    async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<bool> {
        let username = username.to_string();
        self.writer
            .run(move |w| ops::set_user_disabled(w, &username, disabled))
            .await
    }
    async fn record_login(
        &self,
        user_id: i64,
        success: bool,
        locked_until: Option<time::OffsetDateTime>,
    ) -> Result<()> {
        self.writer
            .run(move |w| ops::record_login(w, user_id, success, locked_until))
            .await
    }
    async fn create_session(&self, session: &NewSession) -> Result<()> {
        let session = session.clone();
        self.writer
            .run(move |w| ops::create_session(w, &session))
            .await
    }
    async fn find_session(
        &self,
        token_hash: &str,
        now: time::OffsetDateTime,
    ) -> Result<Option<Session>> {
        let hash = token_hash.to_string();
        self.read_point(move |c| reads::find_session(c, &hash, now))
            .await
    }
    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let hash = token_hash.to_string();
        self.writer
            .run(move |w| ops::delete_session(w, &hash))
            .await
    }
    async fn dashboard(&self, since: time::OffsetDateTime, days: i64) -> Result<Dashboard> {
        self.read(move |c| reads::dashboard(c, since, days)).await
    }

    async fn routing_rules(&self) -> Result<RuleSet> {
        let mut latest = self
            .read_point(|c| reads::routing_rules_history(c, 1))
            .await?;
        Ok(latest.pop().unwrap_or_else(RuleSet::empty))
    }
    async fn routing_rules_history(&self, limit: i64) -> Result<Vec<RuleSet>> {
        self.read(move |c| reads::routing_rules_history(c, limit.clamp(1, 500)))
            .await
    }
    async fn put_routing_rules(
        &self,
        rules: serde_json::Value,
        expected_version: Option<i64>,
        ctx: &WriteContext,
    ) -> Result<RuleSet> {
        let actor = ctx.actor.clone();
        self.writer
            .run(move |w| ops::put_routing_rules(w, &rules, expected_version, &actor))
            .await
    }

    async fn orders_today(
        &self,
        locations: &[Location],
        now: time::OffsetDateTime,
    ) -> Result<std::collections::HashMap<String, u32>> {
        let locations = locations.to_vec();
        self.read(move |c| reads::orders_today(c, &locations, now))
            .await
    }

    async fn close(&self) {
        self.checkpointer.stop();
        self.writer.shutdown().await;
    }
}
