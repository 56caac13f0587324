//! The sync engine: for every connected channel, polls its orders (the safety net behind
//! webhooks), pushes stock figures whenever balances move, and pushes tracking once per
//! shipment. One node at a time works on a channel: a lease per time window, claimed with
//! an insert-if-absent, so several Ordo nodes on one database never push twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ordo_store::{PageRequest, Store};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;

use crate::channel::{ChannelApi, OrdersPageRequest, StockFigure, TrackingUpdate};
use crate::client::{ApiClient, RemoteError};
use crate::import::{ImportError, Imported, import_order};
use crate::secrets::SecretBox;
use crate::settings::{Connection, ConnectorKind};
use crate::state::{ChannelState, StateError, SyncError, SyncStatus};

/// Movements re-read behind the cursor, for transactions that committed out of id order.
const LATE_COMMIT_WINDOW: time::Duration = time::Duration::seconds(30);
const LEASE_SECONDS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("storage failure: {0}")]
    Store(String),
    #[error("channel {0} has no connection")]
    NotConnected(String),
}

impl From<ordo_store::StoreError> for SyncFailure {
    fn from(e: ordo_store::StoreError) -> Self {
        SyncFailure::Store(e.to_string())
    }
}

/// Builds the API client of a connection; tests swap in shorter timeouts.
pub type ApiFactory = Arc<dyn Fn(&Connection) -> Arc<dyn ChannelApi> + Send + Sync>;

/// `ORDO_CONNECTOR_TIMEOUT_MS` shortens request timeouts (and the backoff, to a tenth of
/// it), for tests that inject slow answers.
pub fn default_factory() -> ApiFactory {
    let timeouts = std::env::var("ORDO_CONNECTOR_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(|ms| {
            (
                Duration::from_millis(ms),
                Duration::from_millis((ms / 10).max(1)),
            )
        });
    Arc::new(move |connection: &Connection| api_for(connection, timeouts))
}

/// The API of a connection's kind, with its published rate limits.
pub fn api_for(
    connection: &Connection,
    timeouts: Option<(Duration, Duration)>,
) -> Arc<dyn ChannelApi> {
    let tune = |client: ApiClient| match timeouts {
        Some((request, backoff)) => client.with_timeouts(request, backoff),
        None => client,
    };
    match connection.kind {
        ConnectorKind::Shopify => Arc::new(crate::shopify::ShopifyApi::new(
            connection.clone(),
            tune(ApiClient::new(crate::shopify::rates)),
        )),
        ConnectorKind::Woocommerce => Arc::new(crate::woocommerce::WooCommerceApi::new(
            connection.clone(),
            tune(ApiClient::new(crate::woocommerce::rates)),
        )),
        ConnectorKind::Amazon => Arc::new(crate::amazon::AmazonApi::new(
            connection.clone(),
            tune(ApiClient::new(crate::amazon::rates)),
        )),
        ConnectorKind::Ebay => Arc::new(crate::ebay::EbayApi::new(
            connection.clone(),
            tune(ApiClient::new(crate::ebay::rates)),
        )),
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PollReport {
    pub pages: u32,
    pub orders_seen: u32,
    pub created: u32,
    pub cancelled: u32,
    pub needs_attention: u32,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PushReport {
    /// SKUs whose balances moved since the last push.
    pub skus_changed: usize,
    /// Figures sent (only those that differ from what the channel last acknowledged).
    pub figures_pushed: usize,
}

/// What `GET /api/v1/channels/{code}/sync` shows.
#[derive(Debug, Clone, Serialize)]
pub struct SyncOverview {
    pub channel: String,
    pub connected: bool,
    #[serde(flatten)]
    pub status: SyncStatus,
    pub backlog: Backlog,
    pub recent_errors: Vec<SyncError>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Backlog {
    /// SKUs whose new figure the channel has not been sent yet.
    pub stock_skus: usize,
    /// Shipments whose tracking the channel has not acknowledged yet.
    pub trackings: usize,
    /// Orders kept back for a SKU mapping or a data fix.
    pub orders_needing_attention: usize,
}

pub struct Connectors {
    store: Arc<dyn Store>,
    secrets: SecretBox,
    factory: ApiFactory,
    node: String,
    apis: Mutex<HashMap<String, (Connection, Arc<dyn ChannelApi>)>>,
    /// One operation at a time per channel within this process: pushes stay in order.
    running: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl Connectors {
    pub fn new(store: Arc<dyn Store>, secrets: SecretBox) -> Arc<Self> {
        Self::with_factory(store, secrets, default_factory())
    }

    pub fn with_factory(
        store: Arc<dyn Store>,
        secrets: SecretBox,
        factory: ApiFactory,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            secrets,
            factory,
            node: uuid::Uuid::now_v7().to_string(),
            apis: Mutex::default(),
            running: Mutex::default(),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn state(&self, channel: &str) -> ChannelState {
        ChannelState::new(self.store.clone(), self.secrets.clone(), channel)
    }

    async fn api(&self, connection: &Connection) -> Arc<dyn ChannelApi> {
        let mut apis = self.apis.lock().await;
        if let Some((known, api)) = apis.get(&connection.channel)
            && known == connection
            && known.secrets == connection.secrets
        {
            return api.clone();
        }
        let api = (self.factory)(connection);
        apis.insert(
            connection.channel.clone(),
            (connection.clone(), api.clone()),
        );
        api
    }

    async fn guard(&self, channel: &str) -> Arc<Mutex<()>> {
        self.running
            .lock()
            .await
            .entry(channel.to_string())
            .or_default()
            .clone()
    }

    async fn connection(&self, channel: &str) -> Result<(ChannelState, Connection), SyncFailure> {
        let state = self.state(channel);
        let connection = state
            .connection()
            .await?
            .ok_or_else(|| SyncFailure::NotConnected(channel.to_string()))?;
        Ok((state, connection))
    }

    /// Fetches every order changed since the last complete poll, page by page, importing
    /// each page before asking for the next; the cursor moves only when the poll finished,
    /// so a crash repeats pages (harmless: capture is idempotent) and never skips one.
    pub async fn poll_orders(&self, channel: &str) -> Result<PollReport, SyncFailure> {
        let guard = self.guard(channel).await;
        let _running = guard.lock().await;
        let (state, connection) = self.connection(channel).await?;
        let api = self.api(&connection).await;
        let since = state
            .cursor("orders")
            .await?
            .and_then(|c| OffsetDateTime::parse(&c, &Rfc3339).ok());
        let mut request = OrdersPageRequest::Start { since };
        let mut report = PollReport::default();
        let mut newest = since;
        loop {
            let page = api.orders_page(&request).await?;
            report.pages += 1;
            for (order, updated) in page.orders {
                report.orders_seen += 1;
                newest = Some(newest.map_or(updated, |n| n.max(updated)));
                match import_order(&state, order).await? {
                    Imported::Created { .. } => report.created += 1,
                    Imported::Cancelled { .. } => report.cancelled += 1,
                    Imported::NeedsAttention { .. } | Imported::HeldUnmapped { .. } => {
                        report.needs_attention += 1
                    }
                    _ => {}
                }
            }
            match page.next {
                Some(next) => request = OrdersPageRequest::Next(next),
                None => break,
            }
        }
        if let Some(newest) = newest {
            state
                .set_cursor("orders", &newest.format(&Rfc3339).expect("UTC formats"))
                .await?;
        }
        state
            .update_status(|s| s.last_import = Some(OffsetDateTime::now_utc()))
            .await?;
        Ok(report)
    }

    /// The figures the channel should show for `skus`.
    async fn figures(
        &self,
        state: &ChannelState,
        connection: &Connection,
        skus: &[String],
    ) -> Result<Vec<StockFigure>, SyncFailure> {
        let listings = state.listings_by_sku().await?;
        let mut out = Vec::new();
        for sku in skus {
            let page = self
                .store
                .channel_availability(&connection.channel, Some(sku), &PageRequest::default())
                .await?;
            let Some(availability) = page.items.into_iter().next() else {
                continue;
            };
            // The SKU itself, and every channel item mapped to it: all sell the same stock.
            let mut channel_refs = vec![sku.clone()];
            channel_refs.extend(listings.get(sku).into_iter().flatten().cloned());
            if connection.kind == ConnectorKind::Shopify {
                for (remote, local) in &connection.locations {
                    let quantity = availability
                        .locations
                        .iter()
                        .find(|l| &l.location == local)
                        .map_or(0, |l| l.available.max(0));
                    out.push(StockFigure {
                        sku: sku.clone(),
                        channel_refs: channel_refs.clone(),
                        remote_location: Some(remote.clone()),
                        quantity,
                    });
                }
            } else {
                out.push(StockFigure {
                    sku: sku.clone(),
                    channel_refs,
                    remote_location: None,
                    quantity: availability.available_to_sell.max(0),
                });
            }
        }
        Ok(out)
    }

    /// Pushes the current figure of every SKU whose balances moved since the last push,
    /// skipping figures the channel already has. A burst of changes to one SKU becomes
    /// one call with the latest figure; the figure is read after the change, so an older
    /// figure never overwrites a newer one. The cursor moves only after the channel
    /// acknowledged, so a failure is retried on the next round.
    pub async fn push_stock(&self, channel: &str) -> Result<PushReport, SyncFailure> {
        let guard = self.guard(channel).await;
        let _running = guard.lock().await;
        let (state, connection) = self.connection(channel).await?;
        if !connection.push_stock {
            return Ok(PushReport::default());
        }
        let api = self.api(&connection).await;
        let after: i64 = state
            .cursor("movements")
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let last_run = state
            .cursor("movements_at")
            .await?
            .and_then(|c| OffsetDateTime::parse(&c, &Rfc3339).ok())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH + LATE_COMMIT_WINDOW);
        let started = OffsetDateTime::now_utc();
        let changes = self
            .store
            .stock_changes(after, last_run - LATE_COMMIT_WINDOW, 50_000)
            .await?;
        let mut report = PushReport {
            skus_changed: changes.skus.len(),
            figures_pushed: 0,
        };
        if !changes.skus.is_empty() {
            report.figures_pushed = self
                .push_figures(&state, &connection, &api, &changes.skus)
                .await?;
        }
        state
            .set_cursor("movements", &changes.last_movement.to_string())
            .await?;
        state
            .set_cursor(
                "movements_at",
                &started.format(&Rfc3339).expect("UTC formats"),
            )
            .await?;
        Ok(report)
    }

    async fn push_figures(
        &self,
        state: &ChannelState,
        connection: &Connection,
        api: &Arc<dyn ChannelApi>,
        skus: &[String],
    ) -> Result<usize, SyncFailure> {
        let figures = self.figures(state, connection, skus).await?;
        let keys: Vec<String> = figures.iter().map(StockFigure::key).collect();
        let known = state.pushed(&keys).await?;
        let changed: Vec<StockFigure> = figures
            .into_iter()
            .filter(|f| known.get(&f.key()) != Some(&f.quantity))
            .collect();
        if changed.is_empty() {
            return Ok(0);
        }
        let acknowledged = api.push_stock(&changed).await?;
        let by_key: BTreeMap<String, i64> = changed.iter().map(|f| (f.key(), f.quantity)).collect();
        let done: Vec<(String, i64)> = acknowledged
            .into_iter()
            .filter_map(|k| by_key.get(&k).map(|q| (k, *q)))
            .collect();
        state.record_pushed(&done).await?;
        let count = done.len();
        state
            .update_status(|s| {
                s.last_stock_push = Some(OffsetDateTime::now_utc());
                s.stock_updates_pushed += count as u64;
            })
            .await?;
        Ok(changed.len())
    }

    /// Sends every SKU's figure again, whatever the channel was last told.
    pub async fn reconcile_stock(&self, channel: &str) -> Result<PushReport, SyncFailure> {
        let guard = self.guard(channel).await;
        let _running = guard.lock().await;
        let (state, connection) = self.connection(channel).await?;
        let api = self.api(&connection).await;
        state.forget_pushed().await?;
        let mut report = PushReport::default();
        let mut cursor = None;
        loop {
            let page = self
                .store
                .list_products(&PageRequest {
                    limit: Some(500),
                    cursor: cursor.clone(),
                })
                .await?;
            let skus: Vec<String> = page.items.iter().map(|p| p.sku.clone()).collect();
            report.skus_changed += skus.len();
            report.figures_pushed += self.push_figures(&state, &connection, &api, &skus).await?;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(report)
    }

    /// Tells the channel about each new shipment of its orders, once.
    pub async fn push_tracking(&self, channel: &str) -> Result<usize, SyncFailure> {
        let guard = self.guard(channel).await;
        let _running = guard.lock().await;
        let (state, connection) = self.connection(channel).await?;
        if !connection.push_tracking {
            return Ok(0);
        }
        let api = self.api(&connection).await;
        let mut after: i64 = state
            .cursor("events")
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let listings = state.listings_by_sku().await?;
        let tracking_since = state
            .cursor("tracking_since")
            .await?
            .and_then(|c| OffsetDateTime::parse(&c, &Rfc3339).ok());
        let mut pushed = 0;
        loop {
            let events = self.store.list_events(after, 500).await?;
            let Some(last) = events.last() else { break };
            let last_seq = last.seq;
            for event in events.iter().filter(|e| {
                e.kind == "shipment.created" && tracking_since.is_none_or(|t| e.at >= t)
            }) {
                let data = &event.data;
                let shipment = data["shipment"].as_str().unwrap_or_default().to_string();
                let Some(number) = data["number"].as_str() else {
                    continue;
                };
                let Some(order) = self.store.get_order(number).await? else {
                    continue;
                };
                if order.channel != channel || state.tracking_pushed(&shipment).await? {
                    continue;
                }
                let lines = data["lines"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|l| {
                        let sku = l["sku"].as_str()?;
                        let channel_sku = listings
                            .get(sku)
                            .and_then(|r| r.first())
                            .cloned()
                            .unwrap_or_else(|| sku.to_string());
                        Some((channel_sku, l["quantity"].as_i64()?))
                    })
                    .collect();
                let update = TrackingUpdate {
                    external_id: order.external_id.clone(),
                    shipment: shipment.clone(),
                    carrier: data["carrier"].as_str().unwrap_or_default().to_string(),
                    service: data["service"].as_str().unwrap_or_default().to_string(),
                    tracking_number: data["tracking_number"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    tracking_url: data["tracking_url"].as_str().map(str::to_string),
                    lines,
                    shipped_at: event.at,
                    order_fully_shipped: matches!(
                        order.status,
                        ordo_domain::order::OrderStatus::Shipped
                            | ordo_domain::order::OrderStatus::Delivered
                    ),
                };
                match api.push_tracking(&update).await {
                    Ok(remote) => {
                        state.record_tracking(&shipment, &remote).await?;
                        pushed += 1;
                    }
                    // The channel will never take it (e.g. the order was cancelled there):
                    // record why and move on rather than block every later shipment.
                    Err(RemoteError::Refused { status, message }) => {
                        state
                            .record_error(
                                "push_tracking",
                                &format!(
                                    "{shipment} for order {}: {status} {message}",
                                    order.external_id
                                ),
                            )
                            .await?;
                        state.record_tracking(&shipment, "refused").await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            after = last_seq;
            state.set_cursor("events", &after.to_string()).await?;
        }
        if pushed > 0 {
            state
                .update_status(|s| {
                    s.last_tracking_push = Some(OffsetDateTime::now_utc());
                    s.trackings_pushed += pushed as u64;
                })
                .await?;
        }
        Ok(pushed)
    }

    /// Claims the channel's work for the current lease window; `false` when another node has it.
    async fn claim(&self, channel: &str) -> Result<bool, SyncFailure> {
        let window = OffsetDateTime::now_utc().unix_timestamp() / LEASE_SECONDS;
        let key = format!("lease:{window:012}");
        if self
            .store
            .sync_insert_if_absent(channel, &key, &self.node)
            .await?
        {
            // Old windows are of no use to anyone.
            let old = self.store.sync_list(channel, "lease:", None, 50).await?;
            let stale: Vec<(String, Option<String>)> = old
                .into_iter()
                .filter(|e| e.key < format!("lease:{:012}", window - 2))
                .map(|e| (e.key, None))
                .collect();
            if !stale.is_empty() {
                self.store.sync_put_many(channel, &stale).await?;
            }
            return Ok(true);
        }
        Ok(self
            .store
            .sync_get(channel, &key)
            .await?
            .is_some_and(|e| e.value == self.node))
    }

    /// One round for one channel: stock, tracking, and the orders poll when it is due.
    pub async fn sync_round(&self, channel: &str, poll_due: bool) -> Result<(), SyncFailure> {
        if !self.claim(channel).await? {
            return Ok(());
        }
        let (state, connection) = self.connection(channel).await?;
        let mut outcome = Ok(());
        if poll_due
            && connection.import_orders
            && let Err(e) = self.poll_orders(channel).await
        {
            state.record_error("import_orders", &e.to_string()).await?;
            outcome = Err(e);
        }
        if let Err(e) = self.push_stock(channel).await {
            state.record_error("push_stock", &e.to_string()).await?;
            outcome = Err(e);
        }
        if let Err(e) = self.push_tracking(channel).await {
            state.record_error("push_tracking", &e.to_string()).await?;
            outcome = Err(e);
        }
        outcome
    }

    pub async fn overview(&self, channel: &str) -> Result<SyncOverview, SyncFailure> {
        let state = self.state(channel);
        let connected = state.connection().await?.is_some();
        let after: i64 = state
            .cursor("movements")
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let pending = self
            .store
            .stock_changes(
                after,
                OffsetDateTime::now_utc() + time::Duration::days(1),
                50_000,
            )
            .await?;
        let events_after: i64 = state
            .cursor("events")
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut trackings = 0;
        let mut seq = events_after;
        loop {
            let events = self.store.list_events(seq, 1000).await?;
            let Some(last) = events.last() else { break };
            seq = last.seq;
            trackings += events
                .iter()
                .filter(|e| e.kind == "shipment.created")
                .count();
        }
        let attention = state.attention(None, 1000).await?.len();
        Ok(SyncOverview {
            channel: channel.to_string(),
            connected,
            status: state.status().await?,
            backlog: Backlog {
                stock_skus: if connected { pending.skus.len() } else { 0 },
                trackings,
                orders_needing_attention: attention,
            },
            recent_errors: state.errors().await?,
        })
    }

    /// Runs rounds for every connected channel until the process ends: stock and tracking
    /// every `tick`, orders at each connection's poll interval. A failing channel records
    /// its error and never delays the others (each channel runs on its own task).
    pub fn spawn(self: &Arc<Self>, tick: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut last_poll: HashMap<String, tokio::time::Instant> = HashMap::new();
            let mut running: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let channels = match this.store.list_channels().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "sync: cannot list channels");
                        continue;
                    }
                };
                for channel in channels.into_iter().filter(|c| c.active) {
                    if running.get(&channel.code).is_some_and(|t| !t.is_finished()) {
                        continue;
                    }
                    let state = this.state(&channel.code);
                    let Ok(Some(connection)) = state.connection().await else {
                        continue;
                    };
                    let now = tokio::time::Instant::now();
                    let due = last_poll.get(&channel.code).is_none_or(|at| {
                        now.duration_since(*at)
                            >= Duration::from_secs(connection.poll_interval_seconds.into())
                    });
                    if due {
                        last_poll.insert(channel.code.clone(), now);
                    }
                    let worker = this.clone();
                    let code = channel.code.clone();
                    running.insert(
                        channel.code.clone(),
                        tokio::spawn(async move {
                            if let Err(e) = worker.sync_round(&code, due).await {
                                tracing::warn!(channel = %code, error = %e, "sync round failed");
                            }
                        }),
                    );
                }
            }
        })
    }
}
