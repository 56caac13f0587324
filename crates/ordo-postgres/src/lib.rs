//! PostgreSQL backend.
//!
//! Several processes may share one database, so nothing that guards stock lives in a
//! process: stock rows are locked `FOR UPDATE` (always in `(sku, location)` order) in the
//! transaction that changes them, and the same external order id or idempotency key is
//! serialised by transaction-scoped advisory locks. Daily capacities are guarded the same
//! way: a writer that routes locks the day counters of capacity locations (in location
//! order, after its advisory locks and before any stock row) and plans against them.
//!
//! Order capture is the hot path and uses group commit (see `batch`): concurrent captures
//! are queued and each batch is one transaction with a fixed number of round trips and one
//! commit. Other writes each run in their own transaction on a pooled connection and are
//! retried when PostgreSQL reports a deadlock or serialisation failure.
//!
//! Events get their `seq` under an advisory lock that is held until commit, so consumers
//! polling `seq > n` never skip an event that commits late.

mod batch;
mod conn;
mod ops;
mod packing;
mod picking;
mod reads;
mod returns;
mod sync;

use std::sync::Arc;

use async_trait::async_trait;
use ordo_domain::catalog::{Channel, Location, Product};
use ordo_domain::fulfillment::FulfillmentOrder;
use ordo_domain::inventory::StockWrite;
use ordo_domain::order::{NewOrder, Order};
use ordo_domain::shipment::{NewShipment, Shipment, TrackingEvent};
use ordo_store::*;
use tokio_postgres::Config;

use crate::conn::{BoxFuture, Conn, MIGRATION_LOCK_SQL, Pool, Pooled};

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

/// Connections for reads and for writes other than capture.
const POOL_SIZE: usize = 16;
/// Capture workers, each with its own connection: one fills its batch while another commits.
const CAPTURE_WORKERS: usize = 2;
/// Extra attempts after a deadlock or serialisation failure.
const RETRIES: usize = 4;

fn parse_config(url: &str) -> Result<Config> {
    url.parse::<Config>()
        .map_err(|e| StoreError::Internal(format!("invalid PostgreSQL URL: {e}")))
}

/// Applies the migrations the database has not seen yet; returns how many ran. Processes
/// starting together wait for each other on an advisory lock.
pub async fn migrate(url: &str) -> Result<usize> {
    let config = parse_config(url)?;
    let mut conn = Conn::open(&config).await.map_err(conn::Error::into_store)?;
    run_migrations(&mut conn)
        .await
        .map_err(conn::Error::into_store)
}

async fn run_migrations(c: &mut Conn) -> conn::Result<usize> {
    c.begin().await?;
    let result = async {
        c.client.batch_execute(MIGRATION_LOCK_SQL).await?;
        c.client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, applied_at timestamptz NOT NULL)",
            )
            .await?;
        let mut ran = 0;
        for (version, sql) in MIGRATIONS {
            let done: bool = c
                .client
                .query_one("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", &[version])
                .await?
                .try_get(0)?;
            if !done {
                c.client.batch_execute(sql).await?;
                c.client
                    .execute(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                        &[version, &conn::now()],
                    )
                    .await?;
                ran += 1;
            }
        }
        conn::Result::Ok(ran)
    }
    .await;
    match result {
        Ok(ran) => {
            c.commit().await?;
            Ok(ran)
        }
        Err(e) => {
            c.rollback().await;
            Err(e)
        }
    }
}

pub struct PgStore {
    description: String,
    pool: Arc<Pool>,
    capture: batch::Batcher,
}

impl PgStore {
    /// Connects, migrates the database and starts the capture workers. Needs a Tokio runtime.
    pub async fn connect(url: &str) -> Result<PgStore> {
        let config = parse_config(url)?;
        let mut first = Conn::open(&config).await.map_err(conn::Error::into_store)?;
        run_migrations(&mut first)
            .await
            .map_err(conn::Error::into_store)?;
        drop(first);
        let description = describe(&config);
        let capture = batch::Batcher::start(config.clone(), CAPTURE_WORKERS);
        Ok(PgStore {
            description,
            pool: Pool::new(config, POOL_SIZE),
            capture,
        })
    }

    async fn conn(&self) -> Result<Pooled> {
        self.pool.get().await.map_err(conn::Error::into_store)
    }

    /// Runs `f` in a transaction on a pooled connection, in its own task so that a caller
    /// giving up cannot leave a write half done, and again after a deadlock.
    async fn write<T: Send + 'static>(
        &self,
        f: impl for<'c> Fn(&'c mut Conn) -> BoxFuture<'c, conn::Result<T>> + Send + 'static,
    ) -> Result<T> {
        let pool = self.pool.clone();
        let task = tokio::spawn(async move {
            let mut attempt = 0;
            loop {
                let mut conn = pool.get().await?;
                conn.begin().await?;
                let result = match f(&mut conn).await {
                    Ok(v) => conn.commit().await.map(|()| v),
                    Err(e) => {
                        conn.rollback().await;
                        Err(e)
                    }
                };
                match result {
                    Err(e) if e.retryable() && attempt < RETRIES => {
                        attempt += 1;
                        tracing::debug!(error = ?e, attempt, "write transaction retried");
                    }
                    other => return other,
                }
            }
        });
        task.await
            .map_err(StoreError::internal)?
            .map_err(conn::Error::into_store)
    }
}

fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("postgres {host}:{port}/{db}")
}

/// Runs a read on a pooled connection.
macro_rules! read {
    ($self:ident, |$c:ident| $body:expr) => {{
        let mut guard = $self.conn().await?;
        let $c: &mut Conn = &mut guard;
        $body.await.map_err(conn::Error::into_store)
    }};
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn put_product(&self, product: Product, ctx: &WriteContext) -> Result<Created<Product>> {
        let actor = ctx.actor.clone();
        self.write(move |c| {
            let (product, actor) = (product.clone(), actor.clone());
            Box::pin(async move { ops::put_product(c, &product, &actor).await })
        })
        .await
    }
    async fn get_product(&self, sku: &str) -> Result<Option<Product>> {
        read!(self, |c| reads::get_doc(
            c,
            "SELECT doc FROM products WHERE sku = $1",
            sku
        ))
    }
    async fn list_products(&self, page: &PageRequest) -> Result<Page<Product>> {
        read!(self, |c| reads::list_products(c, page))
    }

    async fn put_location(
        &self,
        location: Location,
        ctx: &WriteContext,
    ) -> Result<Created<Location>> {
        let actor = ctx.actor.clone();
        self.write(move |c| {
            let (location, actor) = (location.clone(), actor.clone());
            Box::pin(async move { ops::put_location(c, &location, &actor).await })
        })
        .await
    }
    async fn get_location(&self, code: &str) -> Result<Option<Location>> {
        read!(self, |c| reads::get_doc(
            c,
            "SELECT doc FROM locations WHERE code = $1",
            code
        ))
    }
    async fn list_locations(&self) -> Result<Vec<Location>> {
        read!(self, |c| reads::all_docs(c, reads::LOCATION_DOCS_SQL))
    }

    async fn put_channel(&self, channel: Channel, ctx: &WriteContext) -> Result<Created<Channel>> {
        let actor = ctx.actor.clone();
        self.write(move |c| {
            let (channel, actor) = (channel.clone(), actor.clone());
            Box::pin(async move { ops::put_channel(c, &channel, &actor).await })
        })
        .await
    }
    async fn get_channel(&self, code: &str) -> Result<Option<Channel>> {
        read!(self, |c| reads::get_doc(
            c,
            "SELECT doc FROM channels WHERE code = $1",
            code
        ))
    }
    async fn list_channels(&self) -> Result<Vec<Channel>> {
        read!(self, |c| reads::all_docs(
            c,
            "SELECT doc FROM channels ORDER BY code"
        ))
    }
    async fn channel_availability(
        &self,
        channel: &str,
        sku: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ChannelAvailability>> {
        read!(self, |c| reads::channel_availability(c, channel, sku, page))
    }

    async fn write_stock(
        &self,
        write: StockWrite,
        ctx: &WriteContext,
    ) -> Result<Outcome<StockWriteResult>> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let (write, ctx) = (write.clone(), ctx.clone());
            Box::pin(async move { ops::write_stock(c, &write, &ctx).await })
        })
        .await
    }
    async fn list_balances(
        &self,
        filter: &BalanceFilter,
        page: &PageRequest,
    ) -> Result<Page<BalanceRow>> {
        read!(self, |c| reads::list_balances(c, filter, page))
    }
    async fn list_movements(
        &self,
        filter: &MovementFilter,
        page: &PageRequest,
    ) -> Result<Page<Movement>> {
        read!(self, |c| reads::list_movements(c, filter, page))
    }
    async fn verify(&self) -> Result<VerifyReport> {
        read!(self, |c| reads::verify(c))
    }

    async fn capture_order(
        &self,
        order: NewOrder,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<Order>>> {
        self.capture.capture(order, ctx.clone()).await
    }
    async fn get_order(&self, id_or_number: &str) -> Result<Option<Order>> {
        read!(self, |c| reads::get_order(c, id_or_number))
    }
    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<OrderSummary>> {
        read!(self, |c| reads::list_orders(c, filter, page))
    }
    async fn transition_order(
        &self,
        id_or_number: &str,
        change: OrderChange,
        ctx: &WriteContext,
    ) -> Result<Outcome<Order>> {
        let (key, ctx) = (id_or_number.to_string(), ctx.clone());
        self.write(move |c| {
            let (key, change, ctx) = (key.clone(), change.clone(), ctx.clone());
            Box::pin(async move { ops::transition(c, &key, &change, &ctx).await })
        })
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
        self.write(move |c| {
            let (key, sku, ctx) = (key.clone(), sku.clone(), ctx.clone());
            Box::pin(async move { ops::map_order_line(c, &key, line_no, &sku, &ctx).await })
        })
        .await
    }
    async fn order_events(&self, id_or_number: &str) -> Result<Option<Vec<Event>>> {
        read!(self, |c| async {
            match reads::resolve_order(c, id_or_number).await? {
                Some(n) => reads::order_events(c, n).await.map(Some),
                None => Ok(None),
            }
        })
    }
    async fn get_fulfillment_order(&self, id: &str) -> Result<Option<FulfillmentOrder>> {
        read!(self, |c| reads::get_fulfillment_order(c, id))
    }
    async fn list_fulfillment_orders(
        &self,
        filter: &FulfillmentFilter,
        page: &PageRequest,
    ) -> Result<Page<FulfillmentOrder>> {
        read!(self, |c| reads::list_fulfillment_orders(c, filter, page))
    }
    async fn create_shipment(
        &self,
        shipment: NewShipment,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<Shipment>>> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let (shipment, ctx) = (shipment.clone(), ctx.clone());
            Box::pin(async move { ops::create_shipment(c, &shipment, &ctx).await })
        })
        .await
    }
    async fn get_shipment(&self, id: &str) -> Result<Option<Shipment>> {
        read!(self, |c| reads::get_shipment(c, id))
    }
    async fn list_shipments(
        &self,
        filter: &ShipmentFilter,
        page: &PageRequest,
    ) -> Result<Page<Shipment>> {
        read!(self, |c| reads::list_shipments(c, filter, page))
    }
    async fn void_shipment(&self, id: &str, ctx: &WriteContext) -> Result<Outcome<Shipment>> {
        let (id, ctx) = (id.to_string(), ctx.clone());
        self.write(move |c| {
            let (id, ctx) = (id.clone(), ctx.clone());
            Box::pin(async move { ops::void_shipment(c, &id, &ctx).await })
        })
        .await
    }
    async fn add_tracking_event(
        &self,
        id: &str,
        event: TrackingEvent,
        ctx: &WriteContext,
    ) -> Result<Outcome<Shipment>> {
        let (id, ctx) = (id.to_string(), ctx.clone());
        self.write(move |c| {
            let (id, event, ctx) = (id.clone(), event.clone(), ctx.clone());
            Box::pin(async move { ops::add_tracking_event(c, &id, &event, &ctx).await })
        })
        .await
    }
    async fn get_layout(
        &self,
        location: &str,
    ) -> Result<Option<ordo_warehouse::bins::LayoutConfig>> {
        read!(self, |c| reads::layout(c, location))
    }
    async fn put_layout(
        &self,
        location: &str,
        layout: ordo_warehouse::bins::LayoutConfig,
        ctx: &WriteContext,
    ) -> Result<()> {
        let (location, ctx) = (location.to_string(), ctx.clone());
        self.write(move |c| {
            let (location, layout, ctx) = (location.clone(), layout.clone(), ctx.clone());
            Box::pin(async move { picking::put_layout(c, &location, &layout, &ctx).await })
        })
        .await
    }
    async fn sku_bins(&self, location: &str) -> Result<Vec<SkuBin>> {
        read!(self, |c| reads::sku_bins(c, location))
    }
    async fn put_sku_bins(
        &self,
        location: &str,
        bins: Vec<SkuBin>,
        ctx: &WriteContext,
    ) -> Result<()> {
        let (location, ctx) = (location.to_string(), ctx.clone());
        self.write(move |c| {
            let (location, bins, ctx) = (location.clone(), bins.clone(), ctx.clone());
            Box::pin(async move { picking::put_sku_bins(c, &location, &bins, &ctx).await })
        })
        .await
    }
    async fn create_pick_job(
        &self,
        location: &str,
        input: PickJobInput,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<PickJob>>> {
        let (location, ctx) = (location.to_string(), ctx.clone());
        self.write(move |c| {
            let (location, input, ctx) = (location.clone(), input.clone(), ctx.clone());
            Box::pin(async move { picking::create_pick_job(c, &location, &input, &ctx).await })
        })
        .await
    }
    async fn get_pick_job(&self, id: &str) -> Result<Option<PickJob>> {
        read!(self, |c| reads::get_pick_job(c, id))
    }
    async fn list_pick_jobs(
        &self,
        location: Option<&str>,
        status: Option<PickJobStatus>,
        page: &PageRequest,
    ) -> Result<Page<PickJob>> {
        read!(self, |c| reads::list_pick_jobs(c, location, status, page))
    }
    async fn record_pick_command(
        &self,
        id: &str,
        input: PickCommand,
        ctx: &WriteContext,
    ) -> Result<Outcome<PickResult>> {
        let (id, ctx) = (id.to_string(), ctx.clone());
        self.write(move |c| {
            let (id, input, ctx) = (id.clone(), input.clone(), ctx.clone());
            Box::pin(async move { picking::record_pick(c, &id, &input, &ctx).await })
        })
        .await
    }
    async fn box_types(&self) -> Result<Vec<ordo_warehouse::cartonize::BoxType>> {
        read!(self, |c| reads::box_types(c))
    }
    async fn put_box_type(
        &self,
        box_type: ordo_warehouse::cartonize::BoxType,
        ctx: &WriteContext,
    ) -> Result<()> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let (box_type, ctx) = (box_type.clone(), ctx.clone());
            Box::pin(async move { packing::put_box_type(c, &box_type, &ctx).await })
        })
        .await
    }
    async fn close_manifest(
        &self,
        location: &str,
        carrier: &str,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<Manifest>>> {
        let (location, carrier, ctx) = (location.to_string(), carrier.to_string(), ctx.clone());
        self.write(move |c| {
            let (location, carrier, ctx) = (location.clone(), carrier.clone(), ctx.clone());
            Box::pin(async move { ops::close_manifest(c, &location, &carrier, &ctx).await })
        })
        .await
    }
    async fn get_manifest(&self, id: &str) -> Result<Option<Manifest>> {
        read!(self, |c| reads::get_manifest(c, id))
    }
    async fn list_manifests(
        &self,
        location: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Manifest>> {
        read!(self, |c| reads::list_manifests(c, location, page))
    }
    async fn packing_policies(
        &self,
        location: &str,
    ) -> Result<ordo_warehouse::packing::PackingPolicies> {
        read!(self, |c| reads::packing_policies(c, location))
    }
    async fn put_packing_policies(
        &self,
        location: Option<&str>,
        policies: ordo_warehouse::packing::PackingPolicies,
        ctx: &WriteContext,
    ) -> Result<()> {
        let key = packing_policies_key(location);
        let doc = serde_json::to_value(&policies).map_err(StoreError::internal)?;
        let ctx = ctx.clone();
        self.write(move |c| {
            let (key, doc, ctx) = (key.clone(), doc.clone(), ctx.clone());
            Box::pin(async move { packing::put_setting(c, &key, &doc, &ctx).await })
        })
        .await
    }
    async fn create_return(
        &self,
        input: ordo_domain::returns::ReturnInput,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<Rma>>> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let (input, ctx) = (input.clone(), ctx.clone());
            Box::pin(async move { returns::create_return(c, &input, &ctx).await })
        })
        .await
    }
    async fn get_return(&self, id: &str) -> Result<Option<Rma>> {
        let Some(number) = parse_rma_number(id) else {
            return Ok(None);
        };
        read!(self, |c| async {
            Ok(reads::find_return(c, number).await?.map(|r| r.view()))
        })
    }
    async fn list_returns(&self, filter: &ReturnFilter, page: &PageRequest) -> Result<Page<Rma>> {
        read!(self, |c| reads::list_returns(c, filter, page))
    }
    async fn return_step(
        &self,
        id: &str,
        step: ordo_domain::returns::ReturnStep,
        reason: Option<String>,
        ctx: &WriteContext,
    ) -> Result<Outcome<Rma>> {
        let (id, ctx) = (id.to_string(), ctx.clone());
        self.write(move |c| {
            let (id, reason, ctx) = (id.clone(), reason.clone(), ctx.clone());
            Box::pin(async move { returns::return_step(c, &id, step, reason, &ctx).await })
        })
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
        self.write(move |c| {
            let (id, location, lines, ctx) =
                (id.clone(), location.clone(), lines.clone(), ctx.clone());
            Box::pin(async move { returns::receive_return(c, &id, &location, &lines, &ctx).await })
        })
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
        self.write(move |c| {
            let (id, sku, ctx) = (id.clone(), sku.clone(), ctx.clone());
            Box::pin(
                async move { returns::grade_return(c, &id, &sku, quantity, grade, &ctx).await },
            )
        })
        .await
    }
    async fn create_claim(
        &self,
        order: &str,
        claim: ordo_domain::claims::NewClaim,
        ctx: &WriteContext,
    ) -> Result<Claim> {
        let (order, ctx) = (order.to_string(), ctx.clone());
        self.write(move |c| {
            let (order, claim, ctx) = (order.clone(), claim.clone(), ctx.clone());
            Box::pin(async move { sync::create_claim(c, &order, claim, &ctx).await })
        })
        .await
    }
    async fn list_claims(&self, order: Option<&str>, limit: i64) -> Result<Vec<Claim>> {
        read!(self, |c| sync::list_claims(c, order, limit))
    }

    async fn sync_get(&self, channel: &str, key: &str) -> Result<Option<SyncEntry>> {
        read!(self, |c| sync::get(c, channel, key))
    }
    async fn sync_put(&self, channel: &str, key: &str, value: Option<&str>) -> Result<()> {
        self.sync_put_many(channel, &[(key.to_string(), value.map(str::to_string))])
            .await
    }
    async fn sync_put_many(
        &self,
        channel: &str,
        entries: &[(String, Option<String>)],
    ) -> Result<()> {
        let (channel, entries) = (channel.to_string(), entries.to_vec());
        self.write(move |c| {
            let (channel, entries) = (channel.clone(), entries.clone());
            Box::pin(async move { sync::put(c, &channel, &entries).await })
        })
        .await
    }
    async fn sync_add(&self, channel: &str, key: &str, delta: i64) -> Result<i64> {
        let (channel, key) = (channel.to_string(), key.to_string());
        self.write(move |c| {
            let (channel, key) = (channel.clone(), key.clone());
            Box::pin(async move { sync::add(c, &channel, &key, delta).await })
        })
        .await
    }
    async fn find_channel_order(&self, channel: &str, external_id: &str) -> Result<Option<Order>> {
        let number = read!(self, |c| sync::channel_order_number(
            c,
            channel,
            external_id
        ))?;
        match number {
            Some(n) => self.get_order(&ordo_domain::order::order_number(n)).await,
            None => Ok(None),
        }
    }
    async fn sync_insert_if_absent(&self, channel: &str, key: &str, value: &str) -> Result<bool> {
        let (channel, key, value) = (channel.to_string(), key.to_string(), value.to_string());
        self.write(move |c| {
            let (channel, key, value) = (channel.clone(), key.clone(), value.clone());
            Box::pin(async move { sync::insert_if_absent(c, &channel, &key, &value).await })
        })
        .await
    }
    async fn sync_list(
        &self,
        channel: &str,
        prefix: &str,
        after_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SyncEntry>> {
        read!(self, |c| sync::list(c, channel, prefix, after_key, limit))
    }
    async fn stock_changes(
        &self,
        after_movement: i64,
        since: time::OffsetDateTime,
        limit: i64,
    ) -> Result<StockChanges> {
        read!(self, |c| sync::stock_changes(
            c,
            after_movement,
            since,
            limit
        ))
    }
    async fn return_policy(&self, channel: &str) -> Result<ordo_domain::returns::ReturnPolicy> {
        read!(self, |c| reads::return_policy(c, channel))
    }
    async fn put_return_policy(
        &self,
        channel: &str,
        policy: ordo_domain::returns::ReturnPolicy,
        ctx: &WriteContext,
    ) -> Result<()> {
        let key = reads::return_policy_key(channel);
        let doc = serde_json::to_value(&policy).map_err(StoreError::internal)?;
        let ctx = ctx.clone();
        self.write(move |c| {
            let (key, doc, ctx) = (key.clone(), doc.clone(), ctx.clone());
            Box::pin(async move { packing::put_setting(c, &key, &doc, &ctx).await })
        })
        .await
    }
    async fn carrier_services(&self) -> Result<Vec<ordo_warehouse::shipping::CarrierService>> {
        read!(self, |c| reads::carrier_services(c))
    }
    async fn put_carrier_services(
        &self,
        services: Vec<ordo_warehouse::shipping::CarrierService>,
        ctx: &WriteContext,
    ) -> Result<()> {
        let doc = serde_json::to_value(&services).map_err(StoreError::internal)?;
        let ctx = ctx.clone();
        self.write(move |c| {
            let (doc, ctx) = (doc.clone(), ctx.clone());
            Box::pin(async move { packing::put_setting(c, "carrier_services", &doc, &ctx).await })
        })
        .await
    }
    async fn pack_fulfillment_order(
        &self,
        id: &str,
        input: PackInput,
        ctx: &WriteContext,
    ) -> Result<Outcome<Packing>> {
        let (id, ctx) = (id.to_string(), ctx.clone());
        self.write(move |c| {
            let (id, input, ctx) = (id.clone(), input.clone(), ctx.clone());
            Box::pin(async move { packing::pack(c, &id, &input, &ctx).await })
        })
        .await
    }
    async fn get_packing(&self, id: &str) -> Result<Option<Packing>> {
        let Some((number, fo_no)) = ordo_domain::fulfillment::parse_fulfillment_order_id(id) else {
            return Ok(None);
        };
        read!(self, |c| reads::packing(c, number, fo_no))
    }
    async fn change_fulfillment(
        &self,
        change: FulfillmentChange,
        ctx: &WriteContext,
    ) -> Result<Outcome<Order>> {
        let ctx = ctx.clone();
        self.write(move |c| {
            let (change, ctx) = (change.clone(), ctx.clone());
            Box::pin(async move { ops::change_fulfillment(c, &change, &ctx).await })
        })
        .await
    }
    async fn last_event_seq(&self) -> Result<i64> {
        read!(self, |c| reads::last_event_seq(c))
    }
    async fn list_events(&self, after: i64, limit: i64) -> Result<Vec<Event>> {
        read!(self, |c| reads::list_events(c, after, limit))
    }

    async fn create_api_key(&self, name: &str, role: Role, token_hash: &str) -> Result<ApiKey> {
        let (name, hash) = (name.to_string(), token_hash.to_string());
        self.write(move |c| {
            let (name, hash) = (name.clone(), hash.clone());
            Box::pin(async move { ops::create_api_key(c, &name, role, &hash).await })
        })
        .await
    }
    async fn find_api_key(&self, token_hash: &str) -> Result<Option<ApiKey>> {
        read!(self, |c| reads::find_api_key(c, token_hash))
    }
    async fn count_api_keys(&self) -> Result<i64> {
        read!(self, |c| reads::count_api_keys(c))
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>> {
        read!(self, |c| sync::list_api_keys(c))
    }
    async fn delete_api_key(&self, id: i64) -> Result<bool> {
        self.write(move |c| Box::pin(async move { sync::delete_api_key(c, id).await }))
            .await
    }
    async fn list_users(&self) -> Result<Vec<User>> {
        read!(self, |c| sync::list_users(c))
    }

    async fn create_user(&self, username: &str, role: Role, password_hash: &str) -> Result<User> {
        let (username, hash) = (username.to_string(), password_hash.to_string());
        self.write(move |c| {
            let (username, hash) = (username.clone(), hash.clone());
            Box::pin(async move { ops::create_user(c, &username, role, &hash).await })
        })
        .await
    }
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>> {
        read!(self, |c| reads::find_user(c, username))
    }
    async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<bool> {
        let username = username.to_string();
        self.write(move |c| {
            let username = username.clone();
            Box::pin(async move { ops::set_user_disabled(c, &username, disabled).await })
        })
        .await
    }
    async fn record_login(
        &self,
        user_id: i64,
        success: bool,
        locked_until: Option<time::OffsetDateTime>,
    ) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move { ops::record_login(c, user_id, success, locked_until).await })
        })
        .await
    }
    async fn create_session(&self, session: &NewSession) -> Result<()> {
        let session = session.clone();
        self.write(move |c| {
            let session = session.clone();
            Box::pin(async move { ops::create_session(c, &session).await })
        })
        .await
    }
    async fn find_session(
        &self,
        token_hash: &str,
        now: time::OffsetDateTime,
    ) -> Result<Option<Session>> {
        read!(self, |c| reads::find_session(c, token_hash, now))
    }
    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let hash = token_hash.to_string();
        self.write(move |c| {
            let hash = hash.clone();
            Box::pin(async move { ops::delete_session(c, &hash).await })
        })
        .await
    }
    async fn dashboard(&self, since: time::OffsetDateTime, days: i64) -> Result<Dashboard> {
        read!(self, |c| reads::dashboard(c, since, days))
    }

    async fn routing_rules(&self) -> Result<RuleSet> {
        let mut latest = read!(self, |c| reads::routing_rules_history(c, 1))?;
        Ok(latest.pop().unwrap_or_else(RuleSet::empty))
    }
    async fn routing_rules_history(&self, limit: i64) -> Result<Vec<RuleSet>> {
        let limit = limit.clamp(1, 500);
        read!(self, |c| reads::routing_rules_history(c, limit))
    }
    async fn put_routing_rules(
        &self,
        rules: serde_json::Value,
        expected_version: Option<i64>,
        ctx: &WriteContext,
    ) -> Result<RuleSet> {
        let actor = ctx.actor.clone();
        self.write(move |c| {
            let (rules, actor) = (rules.clone(), actor.clone());
            Box::pin(
                async move { ops::put_routing_rules(c, &rules, expected_version, &actor).await },
            )
        })
        .await
    }

    async fn orders_today(
        &self,
        locations: &[Location],
        now: time::OffsetDateTime,
    ) -> Result<std::collections::HashMap<String, u32>> {
        let counts = read!(self, |c| reads::day_counts(c))?;
        Ok(counts.orders_today(locations, now))
    }

    async fn close(&self) {
        self.capture.shutdown().await;
        self.pool.close();
    }
}
