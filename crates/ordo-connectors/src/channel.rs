//! What the sync engine asks of every channel's API.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::client::RemoteError;
use crate::model::ChannelOrder;

/// Where to start or continue a poll of the channel's orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrdersPageRequest {
    /// The first page of orders changed since `since` (all orders when `None`).
    Start { since: Option<OffsetDateTime> },
    /// The page after one returned `next`.
    Next(String),
}

#[derive(Debug, Clone, Default)]
pub struct OrdersPage {
    /// Each order with the channel's last-modified time of it.
    pub orders: Vec<(ChannelOrder, OffsetDateTime)>,
    pub next: Option<String>,
}

/// One figure to set on the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockFigure {
    pub sku: String,
    /// The channel's references for the item (its SKUs or listing ids); the SKU itself
    /// when no mapping exists.
    pub channel_refs: Vec<String>,
    /// The channel's location id the figure is for, when the channel has locations.
    pub remote_location: Option<String>,
    pub quantity: i64,
}

impl StockFigure {
    /// Identifies the figure among those already acknowledged.
    pub fn key(&self) -> String {
        match &self.remote_location {
            Some(loc) => format!("{}@{loc}", self.sku),
            None => self.sku.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingUpdate {
    /// The channel's order id.
    pub external_id: String,
    /// Ordo's shipment number (`SH-000042`).
    pub shipment: String,
    pub carrier: String,
    pub service: String,
    pub tracking_number: String,
    pub tracking_url: Option<String>,
    /// `(channel SKU, quantity)` of what left in this shipment.
    pub lines: Vec<(String, i64)>,
    pub shipped_at: OffsetDateTime,
    /// Nothing of the order is left to ship after this shipment.
    pub order_fully_shipped: bool,
}

#[async_trait]
pub trait ChannelApi: Send + Sync {
    async fn orders_page(&self, request: &OrdersPageRequest) -> Result<OrdersPage, RemoteError>;

    /// Sets the figures; returns the keys (see [`StockFigure::key`]) the channel
    /// acknowledged. Figures for items the channel does not list are acknowledged as
    /// nothing to do.
    async fn push_stock(&self, figures: &[StockFigure]) -> Result<Vec<String>, RemoteError>;

    /// Tells the channel the order (or part of it) shipped; returns the channel's id for
    /// the fulfilment record.
    async fn push_tracking(&self, update: &TrackingUpdate) -> Result<String, RemoteError>;
}
