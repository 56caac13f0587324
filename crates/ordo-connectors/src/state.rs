//! What a connector remembers per channel, kept in the store's `channel_sync` entries so
//! it survives restarts and is shared by every Ordo node on one database.
//!
//! Keys: `connection` (settings, secrets sealed), `map:{channel ref}` (channel SKU or
//! listing id → Ordo SKU), `cursor:{name}`, `delivery:{id}` (webhook deliveries seen),
//! `pushed:{sku}` (last figure the channel acknowledged), `tracking:{shipment}` (tracking
//! acknowledged), `attention:{external id}` (orders waiting for a SKU mapping),
//! `errors` (recent failures), `status` (last successes).

use std::collections::BTreeMap;
use std::sync::Arc;

use ordo_store::{Store, StoreError, SyncEntry};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::ChannelOrder;
use crate::secrets::{SecretBox, SecretError};
use crate::settings::Connection;

const RECENT_ERRORS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("stored connector state is unreadable: {0}")]
    Corrupt(String),
}

#[derive(Clone)]
pub struct ChannelState {
    store: Arc<dyn Store>,
    secrets: SecretBox,
    pub channel: String,
}

#[derive(Serialize, Deserialize)]
struct StoredConnection {
    #[serde(flatten)]
    connection: Connection,
    sealed_secrets: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncError {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `import_orders`, `push_stock`, `push_tracking`, `webhook`.
    pub operation: String,
    /// The remote's own message where it gave one.
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_import: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_stock_push: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_tracking_push: Option<OffsetDateTime>,
    #[serde(default)]
    pub orders_imported: u64,
    #[serde(default)]
    pub stock_updates_pushed: u64,
    #[serde(default)]
    pub trackings_pushed: u64,
}

/// A channel order that needs an operator: captured on hold because some of its lines name
/// items with no Ordo SKU, or kept back because Ordo refuses its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attention {
    pub external_id: String,
    /// The channel references no mapping or product matched.
    pub unmapped: Vec<String>,
    /// Why it is kept back, in words an operator can act on.
    pub reason: String,
    /// The Ordo order, when it was captured on hold (`unmapped_sku`).
    #[serde(default)]
    pub number: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    pub order: ChannelOrder,
}

fn corrupt(e: impl std::fmt::Display) -> StateError {
    StateError::Corrupt(e.to_string())
}

impl ChannelState {
    pub fn new(store: Arc<dyn Store>, secrets: SecretBox, channel: impl Into<String>) -> Self {
        Self {
            store,
            secrets,
            channel: channel.into(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    async fn get(&self, key: &str) -> Result<Option<SyncEntry>, StateError> {
        Ok(self.store.sync_get(&self.channel, key).await?)
    }

    async fn put(&self, key: &str, value: Option<&str>) -> Result<(), StateError> {
        Ok(self.store.sync_put(&self.channel, key, value).await?)
    }

    pub async fn connection(&self) -> Result<Option<Connection>, StateError> {
        let Some(entry) = self.get("connection").await? else {
            return Ok(None);
        };
        let stored: StoredConnection = serde_json::from_str(&entry.value).map_err(corrupt)?;
        let clear = self.secrets.open(&stored.sealed_secrets, &self.channel)?;
        let mut connection = stored.connection;
        connection.secrets = serde_json::from_str(&clear).map_err(corrupt)?;
        Ok(Some(connection))
    }

    pub async fn save_connection(&self, connection: &Connection) -> Result<(), StateError> {
        let clear = serde_json::to_string(&connection.secrets).map_err(corrupt)?;
        let stored = StoredConnection {
            connection: connection.clone(),
            sealed_secrets: self.secrets.seal(&clear, &self.channel),
        };
        let text = serde_json::to_string(&stored).map_err(corrupt)?;
        // Shipments made before the channel was first connected are not the channel's news:
        // tracking goes out only for those created from now on.
        let since = OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(corrupt)?;
        self.store
            .sync_insert_if_absent(&self.channel, "cursor:tracking_since", &since)
            .await?;
        self.put("connection", Some(&text)).await
    }

    pub async fn delete_connection(&self) -> Result<(), StateError> {
        self.put("connection", None).await
    }

    /// Ordo SKUs for channel references (SKUs or listing ids) that have a mapping.
    pub async fn mapped_skus(&self, refs: &[&str]) -> Result<BTreeMap<String, String>, StateError> {
        let mut out = BTreeMap::new();
        for r in refs {
            if out.contains_key(*r) {
                continue;
            }
            if let Some(e) = self.get(&format!("map:{r}")).await? {
                out.insert(r.to_string(), e.value);
            }
        }
        Ok(out)
    }

    pub async fn set_mapping(
        &self,
        channel_ref: &str,
        sku: Option<&str>,
    ) -> Result<(), StateError> {
        self.put(&format!("map:{channel_ref}"), sku).await
    }

    /// `(channel ref, Ordo SKU)` in channel-ref order, after `after`.
    pub async fn mappings(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StateError> {
        let after = after.map(|a| format!("map:{a}"));
        let rows = self
            .store
            .sync_list(&self.channel, "map:", after.as_deref(), limit)
            .await?;
        Ok(rows
            .into_iter()
            .map(|e| (e.key["map:".len()..].to_string(), e.value))
            .collect())
    }

    /// All mappings from Ordo SKU to the channel references that sell it.
    pub async fn listings_by_sku(&self) -> Result<BTreeMap<String, Vec<String>>, StateError> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.mappings(after.as_deref(), 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.0.clone());
            for (channel_ref, sku) in page {
                out.entry(sku).or_default().push(channel_ref);
            }
        }
        Ok(out)
    }

    /// `true` the first time a webhook delivery id is seen.
    pub async fn first_delivery(&self, delivery_id: &str) -> Result<bool, StateError> {
        let now = OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(corrupt)?;
        Ok(self
            .store
            .sync_insert_if_absent(&self.channel, &format!("delivery:{delivery_id}"), &now)
            .await?)
    }

    pub async fn delivery_seen(&self, delivery_id: &str) -> Result<bool, StateError> {
        Ok(self
            .get(&format!("delivery:{delivery_id}"))
            .await?
            .is_some())
    }

    pub async fn cursor(&self, name: &str) -> Result<Option<String>, StateError> {
        Ok(self.get(&format!("cursor:{name}")).await?.map(|e| e.value))
    }

    pub async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StateError> {
        self.put(&format!("cursor:{name}"), Some(value)).await
    }

    /// The figures the channel last acknowledged, for the given SKUs.
    pub async fn pushed(&self, skus: &[String]) -> Result<BTreeMap<String, i64>, StateError> {
        let mut out = BTreeMap::new();
        for sku in skus {
            if let Some(e) = self.get(&format!("pushed:{sku}")).await? {
                out.insert(sku.clone(), e.value.parse().map_err(corrupt)?);
            }
        }
        Ok(out)
    }

    pub async fn record_pushed(&self, figures: &[(String, i64)]) -> Result<(), StateError> {
        if figures.is_empty() {
            return Ok(());
        }
        let entries: Vec<(String, Option<String>)> = figures
            .iter()
            .map(|(sku, q)| (format!("pushed:{sku}"), Some(q.to_string())))
            .collect();
        Ok(self.store.sync_put_many(&self.channel, &entries).await?)
    }

    /// Forgets every acknowledged figure, so the next push sends them all again.
    pub async fn forget_pushed(&self) -> Result<(), StateError> {
        loop {
            let rows = self
                .store
                .sync_list(&self.channel, "pushed:", None, 500)
                .await?;
            if rows.is_empty() {
                return Ok(());
            }
            let entries: Vec<(String, Option<String>)> =
                rows.into_iter().map(|e| (e.key, None)).collect();
            self.store.sync_put_many(&self.channel, &entries).await?;
        }
    }

    pub async fn tracking_pushed(&self, shipment: &str) -> Result<bool, StateError> {
        Ok(self.get(&format!("tracking:{shipment}")).await?.is_some())
    }

    pub async fn record_tracking(&self, shipment: &str, remote_id: &str) -> Result<(), StateError> {
        self.put(&format!("tracking:{shipment}"), Some(remote_id))
            .await
    }

    pub async fn hold_for_attention(&self, attention: &Attention) -> Result<(), StateError> {
        let text = serde_json::to_string(attention).map_err(corrupt)?;
        self.put(&format!("attention:{}", attention.external_id), Some(&text))
            .await
    }

    /// A read first: most imported orders never waited, and a read costs no write.
    pub async fn release_attention_if_any(&self, external_id: &str) -> Result<(), StateError> {
        if self
            .get(&format!("attention:{external_id}"))
            .await?
            .is_some()
        {
            self.release_attention(external_id).await?;
        }
        Ok(())
    }

    /// Adds to a counter without losing concurrent updates.
    pub async fn count(&self, name: &str, delta: i64) -> Result<i64, StateError> {
        Ok(self
            .store
            .sync_add(&self.channel, &format!("count:{name}"), delta)
            .await?)
    }

    pub async fn counter(&self, name: &str) -> Result<i64, StateError> {
        Ok(self
            .get(&format!("count:{name}"))
            .await?
            .and_then(|e| e.value.parse().ok())
            .unwrap_or(0))
    }

    pub async fn release_attention(&self, external_id: &str) -> Result<(), StateError> {
        self.put(&format!("attention:{external_id}"), None).await
    }

    pub async fn attention(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Attention>, StateError> {
        let after = after.map(|a| format!("attention:{a}"));
        let rows = self
            .store
            .sync_list(&self.channel, "attention:", after.as_deref(), limit)
            .await?;
        rows.into_iter()
            .map(|e| serde_json::from_str(&e.value).map_err(corrupt))
            .collect()
    }

    pub async fn record_error(&self, operation: &str, message: &str) -> Result<(), StateError> {
        let mut errors = self.errors().await?;
        errors.insert(
            0,
            SyncError {
                at: OffsetDateTime::now_utc(),
                operation: operation.to_string(),
                message: message.chars().take(500).collect(),
            },
        );
        errors.truncate(RECENT_ERRORS);
        let text = serde_json::to_string(&errors).map_err(corrupt)?;
        self.put("errors", Some(&text)).await
    }

    /// Newest first.
    pub async fn errors(&self) -> Result<Vec<SyncError>, StateError> {
        match self.get("errors").await? {
            Some(e) => serde_json::from_str(&e.value).map_err(corrupt),
            None => Ok(Vec::new()),
        }
    }

    pub async fn status(&self) -> Result<SyncStatus, StateError> {
        let mut status: SyncStatus = match self.get("status").await? {
            Some(e) => serde_json::from_str(&e.value).map_err(corrupt)?,
            None => SyncStatus::default(),
        };
        status.orders_imported = self.counter("orders_imported").await?.max(0) as u64;
        Ok(status)
    }

    /// Read-modify-write of the status; only this node's sync task writes it for a channel.
    pub async fn update_status(
        &self,
        change: impl FnOnce(&mut SyncStatus),
    ) -> Result<(), StateError> {
        let mut status = self.status().await?;
        change(&mut status);
        let text = serde_json::to_string(&status).map_err(corrupt)?;
        self.put("status", Some(&text)).await
    }
}
