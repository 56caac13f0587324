//! The storage interface. Each backend (SQLite, PostgreSQL) implements [`Store`] with the
//! same behaviour; business rules come from `ordo-domain`, so a backend only loads state,
//! asks the domain what to do, and writes the result in one transaction.

use async_trait::async_trait;
use ordo_domain::Problem;
use ordo_domain::catalog::{Channel, Location, Product};
use ordo_domain::fulfillment::FulfillmentOrder;
use ordo_domain::inventory::{Balance, StockWrite};
use ordo_domain::order::{HoldReason, NewOrder, Order, OrderStatus, Transition};
use ordo_domain::shipment::{NewShipment, Shipment, TrackingEvent};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

mod capture;
mod claims;
mod exchange;
mod fulfillment;
mod mapping;
mod packing;
mod picking;
mod returns;
mod shipping;
mod types;
mod verify;
pub use capture::*;
pub use claims::*;
pub use exchange::{exchange_external_id, exchange_order, linked_order, settle_exchange};
pub use fulfillment::*;
pub use mapping::*;
pub use packing::*;
pub use picking::*;
pub use returns::*;
pub use shipping::*;
pub use types::*;
pub use verify::{LineCheck, StrayAllocation, VerifyInput, verify_report};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The command was refused by a business rule; nothing was written.
    #[error(transparent)]
    Problem(#[from] Problem),
    /// The store could not do its work (I/O, database down, bug).
    #[error("storage failure: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        StoreError::Internal(e.to_string())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Who asks, and the optional `Idempotency-Key` that makes a retried write return the
/// first answer instead of acting twice.
#[derive(Debug, Clone, Default)]
pub struct WriteContext {
    pub actor: String,
    /// Already scoped to the caller (e.g. `key-id:header-value`).
    pub idempotency_key: Option<String>,
}

/// The result of a write: either done now, or the stored answer to an earlier identical request.
#[derive(Debug, Clone)]
pub enum Outcome<T> {
    Done(T),
    Replayed { status: u16, body: String },
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// A short description for the startup banner (path or host, never a password).
    fn describe(&self) -> String;

    async fn put_product(&self, product: Product, ctx: &WriteContext) -> Result<Created<Product>>;
    async fn get_product(&self, sku: &str) -> Result<Option<Product>>;
    async fn list_products(&self, page: &PageRequest) -> Result<Page<Product>>;

    async fn put_location(
        &self,
        location: Location,
        ctx: &WriteContext,
    ) -> Result<Created<Location>>;
    async fn get_location(&self, code: &str) -> Result<Option<Location>>;
    async fn list_locations(&self) -> Result<Vec<Location>>;

    /// Refuses channels that name unknown locations.
    async fn put_channel(&self, channel: Channel, ctx: &WriteContext) -> Result<Created<Channel>>;
    async fn get_channel(&self, code: &str) -> Result<Option<Channel>>;
    async fn list_channels(&self) -> Result<Vec<Channel>>;
    /// Available-to-sell for the channel, for one SKU or a page of SKUs.
    async fn channel_availability(
        &self,
        channel: &str,
        sku: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<ChannelAvailability>>;

    /// Adjust, move or count, then re-allocate waiting orders if units were freed.
    async fn write_stock(
        &self,
        write: StockWrite,
        ctx: &WriteContext,
    ) -> Result<Outcome<StockWriteResult>>;
    async fn list_balances(
        &self,
        filter: &BalanceFilter,
        page: &PageRequest,
    ) -> Result<Page<BalanceRow>>;
    async fn list_movements(
        &self,
        filter: &MovementFilter,
        page: &PageRequest,
    ) -> Result<Page<Movement>>;
    /// Recomputes balances from the ledger and allocations from open orders.
    async fn verify(&self) -> Result<VerifyReport>;

    /// Stores the order and reserves its stock in the same transaction. The same
    /// `(channel, external_id)` again returns the stored order with `created = false`.
    async fn capture_order(
        &self,
        order: NewOrder,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<Order>>>;
    /// By id (UUID) or number (`SO-000123`).
    async fn get_order(&self, id_or_number: &str) -> Result<Option<Order>>;
    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<OrderSummary>>;
    async fn transition_order(
        &self,
        id_or_number: &str,
        change: OrderChange,
        ctx: &WriteContext,
    ) -> Result<Outcome<Order>>;
    async fn order_events(&self, id_or_number: &str) -> Result<Option<Vec<Event>>>;
    /// Names the Ordo SKU of a line a channel sent with an item no SKU was mapped to, offers
    /// it the stock of that SKU like any backorder, and releases the order once every line
    /// names a SKU (see [`plan_line_mapping`]); one transaction.
    async fn map_order_line(
        &self,
        id_or_number: &str,
        line_no: i32,
        sku: &str,
        ctx: &WriteContext,
    ) -> Result<Outcome<Order>>;

    /// By id (`SO-000123-2`).
    async fn get_fulfillment_order(&self, id: &str) -> Result<Option<FulfillmentOrder>>;
    /// Across orders, oldest order first.
    async fn list_fulfillment_orders(
        &self,
        filter: &FulfillmentFilter,
        page: &PageRequest,
    ) -> Result<Page<FulfillmentOrder>>;
    /// Ships one fulfillment order: its units leave `on_hand` and `allocated` (ledger reason
    /// `shipped`), it becomes `shipped`, and the order `partially_shipped` or `shipped`.
    async fn create_shipment(
        &self,
        shipment: NewShipment,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<Shipment>>>;
    /// By id (`SH-000001`).
    async fn get_shipment(&self, id: &str) -> Result<Option<Shipment>>;
    /// Newest first.
    async fn list_shipments(
        &self,
        filter: &ShipmentFilter,
        page: &PageRequest,
    ) -> Result<Page<Shipment>>;
    /// Voids a label not yet handed over: the stock goes back, the fulfillment order reopens.
    async fn void_shipment(&self, id: &str, ctx: &WriteContext) -> Result<Outcome<Shipment>>;
    /// A carrier's tracking event; `delivered` on every shipment of a fully shipped order
    /// makes the order `delivered`.
    async fn add_tracking_event(
        &self,
        id: &str,
        event: TrackingEvent,
        ctx: &WriteContext,
    ) -> Result<Outcome<Shipment>>;

    /// A location's bin layout (format, bin master, start point); `None` before one is saved.
    async fn get_layout(
        &self,
        location: &str,
    ) -> Result<Option<ordo_warehouse::bins::LayoutConfig>>;
    /// Replaces the layout (validated by the caller with `ordo_warehouse::bins::Layout::new`).
    async fn put_layout(
        &self,
        location: &str,
        layout: ordo_warehouse::bins::LayoutConfig,
        ctx: &WriteContext,
    ) -> Result<()>;
    /// The pick bin of each SKU at a location.
    async fn sku_bins(&self, location: &str) -> Result<Vec<SkuBin>>;
    /// Sets pick bins (an empty `bin` removes the SKU's).
    async fn put_sku_bins(
        &self,
        location: &str,
        bins: Vec<SkuBin>,
        ctx: &WriteContext,
    ) -> Result<()>;
    /// Releases open fulfillment orders at a location into a pick job (they become
    /// `in_progress`).
    async fn create_pick_job(
        &self,
        location: &str,
        input: PickJobInput,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<PickJob>>>;
    /// By id (`PL-000001`).
    async fn get_pick_job(&self, id: &str) -> Result<Option<PickJob>>;
    /// Newest first.
    async fn list_pick_jobs(
        &self,
        location: Option<&str>,
        status: Option<PickJobStatus>,
        page: &PageRequest,
    ) -> Result<Page<PickJob>>;
    /// A scan or a short pick. Finished fulfillment orders become `picked`; a short pick
    /// routes the missing units again elsewhere and writes them off (`shrinkage`), or,
    /// with a recount, sets on_hand to the count (`cycle_count`).
    async fn record_pick_command(
        &self,
        id: &str,
        command: PickCommand,
        ctx: &WriteContext,
    ) -> Result<Outcome<PickResult>>;
    /// A scan or a short pick without a recount.
    async fn record_pick(
        &self,
        id: &str,
        input: PickInput,
        ctx: &WriteContext,
    ) -> Result<Outcome<PickResult>> {
        self.record_pick_command(id, PickCommand::from(input), ctx)
            .await
    }

    /// The box types of the pack bench ([`default_box_types`] until any is saved).
    async fn box_types(&self) -> Result<Vec<ordo_warehouse::cartonize::BoxType>>;
    async fn put_box_type(
        &self,
        box_type: ordo_warehouse::cartonize::BoxType,
        ctx: &WriteContext,
    ) -> Result<()>;
    /// Closes today's manifest for one carrier at one location: every labelled shipment not
    /// yet on a manifest is handed over (`in_transit`).
    async fn close_manifest(
        &self,
        location: &str,
        carrier: &str,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<Manifest>>>;
    /// By id (`MF-000001`).
    async fn get_manifest(&self, id: &str) -> Result<Option<Manifest>>;
    /// Newest first.
    async fn list_manifests(
        &self,
        location: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<Manifest>>;
    /// The packing policies in force at a location: its own, else the shop-wide ones, else
    /// the built-in defaults (fragile, perishable, hazmat).
    async fn packing_policies(
        &self,
        location: &str,
    ) -> Result<ordo_warehouse::packing::PackingPolicies>;
    /// Saves policies for one location, or shop-wide when `location` is `None`.
    async fn put_packing_policies(
        &self,
        location: Option<&str>,
        policies: ordo_warehouse::packing::PackingPolicies,
        ctx: &WriteContext,
    ) -> Result<()>;
    /// Asks for a return: only shipped units, within the channel's window, perishables only
    /// as keep-item; approved at once when the channel's policy says so.
    async fn create_return(
        &self,
        input: ordo_domain::returns::ReturnInput,
        ctx: &WriteContext,
    ) -> Result<Outcome<Created<Rma>>>;
    /// By id (`RMA-000042`).
    async fn get_return(&self, id: &str) -> Result<Option<Rma>>;
    /// Newest first.
    async fn list_returns(&self, filter: &ReturnFilter, page: &PageRequest) -> Result<Page<Rma>>;
    /// Approve, reject (with a reason), issue the label, ship, close.
    async fn return_step(
        &self,
        id: &str,
        step: ordo_domain::returns::ReturnStep,
        reason: Option<String>,
        ctx: &WriteContext,
    ) -> Result<Outcome<Rma>>;
    /// Receives and inspects returned units at a location; stock follows their condition.
    async fn receive_return(
        &self,
        id: &str,
        location: &str,
        lines: Vec<ordo_domain::returns::ReceivedLine>,
        ctx: &WriteContext,
    ) -> Result<Outcome<Rma>>;
    /// Grades units the return left in quality control: restock or write off.
    async fn grade_return(
        &self,
        id: &str,
        sku: &str,
        quantity: i64,
        grade: ordo_domain::returns::Grade,
        ctx: &WriteContext,
    ) -> Result<Outcome<Rma>>;
    /// A channel's return policy (window, non-returnable classes, auto-approval).
    async fn return_policy(&self, channel: &str) -> Result<ordo_domain::returns::ReturnPolicy>;
    async fn put_return_policy(
        &self,
        channel: &str,
        policy: ordo_domain::returns::ReturnPolicy,
        ctx: &WriteContext,
    ) -> Result<()>;
    /// The carrier services shipments choose among (empty until configured).
    async fn carrier_services(&self) -> Result<Vec<ordo_warehouse::shipping::CarrierService>>;
    /// Replaces the whole list of carrier services.
    async fn put_carrier_services(
        &self,
        services: Vec<ordo_warehouse::shipping::CarrierService>,
        ctx: &WriteContext,
    ) -> Result<()>;
    /// The pack station: the scans must be exactly the fulfillment order; boxes are chosen
    /// by class and size; the fulfillment order becomes `packed`.
    async fn pack_fulfillment_order(
        &self,
        id: &str,
        input: PackInput,
        ctx: &WriteContext,
    ) -> Result<Outcome<Packing>>;
    /// What was packed for a fulfillment order, if it was.
    async fn get_packing(&self, id: &str) -> Result<Option<Packing>>;

    /// Move, split, merge, or a 3PL's answer; reservations follow in the same transaction.
    /// Returns the order with its fulfillment orders after the change.
    async fn change_fulfillment(
        &self,
        change: FulfillmentChange,
        ctx: &WriteContext,
    ) -> Result<Outcome<Order>>;
    async fn list_events(&self, after: i64, limit: i64) -> Result<Vec<Event>>;
    /// The sequence number of the newest event (0 when there is none), without reading any.
    async fn last_event_seq(&self) -> Result<i64>;

    /// Records a delivery claim on an order (checked by `ClaimInput::validate`), with its
    /// events, in one transaction.
    async fn create_claim(
        &self,
        order: &str,
        claim: ordo_domain::claims::NewClaim,
        ctx: &WriteContext,
    ) -> Result<Claim>;
    /// Claims newest first: one order's (by number or id), or all.
    async fn list_claims(&self, order: Option<&str>, limit: i64) -> Result<Vec<Claim>>;

    /// Channel connectors' own state (connection settings, SKU mappings, sync cursors,
    /// webhook deliveries, pushed figures, errors), as text values under
    /// `(channel, key)`. The connectors give the keys their meaning.
    async fn sync_get(&self, channel: &str, key: &str) -> Result<Option<SyncEntry>>;
    /// Sets (`Some`) or deletes (`None`) one value.
    async fn sync_put(&self, channel: &str, key: &str, value: Option<&str>) -> Result<()>;
    /// Sets several values (and deletes those given `None`) in one transaction.
    async fn sync_put_many(
        &self,
        channel: &str,
        entries: &[(String, Option<String>)],
    ) -> Result<()>;
    /// Adds `delta` to an integer value (absent counts as 0) in one statement, so concurrent
    /// callers never lose an update; returns the new value. For counters only: a backend
    /// may commit it without waiting for the disk.
    async fn sync_add(&self, channel: &str, key: &str, delta: i64) -> Result<i64>;
    /// The order a channel knows by `external_id`, through the unique index.
    async fn find_channel_order(&self, channel: &str, external_id: &str) -> Result<Option<Order>>;
    /// Stores the value only if the key is absent; `true` when it was stored now. For marks
    /// that are safe to lose in a crash (delivery ids, leases): a backend may commit it
    /// without waiting for the disk.
    async fn sync_insert_if_absent(&self, channel: &str, key: &str, value: &str) -> Result<bool>;
    /// Entries whose key starts with `prefix`, in key order, after `after_key`.
    async fn sync_list(
        &self,
        channel: &str,
        prefix: &str,
        after_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SyncEntry>>;
    /// SKUs whose balances changed in movements after `after_movement` (by ledger id) or
    /// recorded at or after `since` (catches transactions that committed out of id order),
    /// with the highest movement id seen; at most `limit` movements are read.
    async fn stock_changes(
        &self,
        after_movement: i64,
        since: OffsetDateTime,
        limit: i64,
    ) -> Result<StockChanges>;

    async fn create_api_key(&self, name: &str, role: Role, token_hash: &str) -> Result<ApiKey>;
    async fn find_api_key(&self, token_hash: &str) -> Result<Option<ApiKey>>;
    async fn count_api_keys(&self) -> Result<i64>;
    /// Every key, oldest first (never their tokens: only hashes are stored).
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>>;
    /// Revokes a key; `false` when there is no such key.
    async fn delete_api_key(&self, id: i64) -> Result<bool>;

    /// Back-office users (the web UI). Usernames are unique; only argon2id hashes are stored.
    async fn create_user(&self, username: &str, role: Role, password_hash: &str) -> Result<User>;
    async fn find_user(&self, username: &str) -> Result<Option<UserRecord>>;
    /// Every back-office user, by username.
    async fn list_users(&self) -> Result<Vec<User>>;
    /// Disables a user (ending every session of theirs in the same write) or enables them
    /// again; `false` when there is no such user.
    async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<bool>;
    /// Records a login attempt: success clears the failure count, failure increments it and
    /// may lock the account until `locked_until`.
    async fn record_login(
        &self,
        user_id: i64,
        success: bool,
        locked_until: Option<OffsetDateTime>,
    ) -> Result<()>;
    async fn create_session(&self, session: &NewSession) -> Result<()>;
    /// A live session (not expired) with its user.
    async fn find_session(&self, token_hash: &str, now: OffsetDateTime) -> Result<Option<Session>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;

    /// Figures for the back-office dashboard; `since` is the start of "today".
    async fn dashboard(&self, since: OffsetDateTime, days: i64) -> Result<Dashboard>;

    /// The current routing rules (version 0 and none before the first save).
    async fn routing_rules(&self) -> Result<RuleSet>;
    /// Saved versions, newest first.
    async fn routing_rules_history(&self, limit: i64) -> Result<Vec<RuleSet>>;
    /// Saves the rules as a new version. With `expected_version`, only if the current
    /// version is that one (409 with the current version otherwise).
    async fn put_routing_rules(
        &self,
        rules: serde_json::Value,
        expected_version: Option<i64>,
        ctx: &WriteContext,
    ) -> Result<RuleSet>;

    /// Fulfillment orders routed so far today to each of `locations` that has a daily
    /// capacity, each on its own local day: what routing at `now` would count.
    async fn orders_today(
        &self,
        locations: &[Location],
        now: OffsetDateTime,
    ) -> Result<std::collections::HashMap<String, u32>>;

    /// Writes pending data to disk and closes; later calls fail.
    async fn close(&self);
}

/// A SKU's pick bin at a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkuBin {
    pub sku: String,
    pub bin: String,
}

/// The answer to a scan or short pick: the job after it and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PickResult {
    pub job: PickJob,
    pub update: ordo_warehouse::picking::PickUpdate,
    /// A short pick's recount (`counted_on_hand`), compared with the ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recount: Option<Recount>,
}

/// What an operator asks of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderChange {
    pub transition: Transition,
    pub hold_reason: Option<HoldReason>,
    pub note: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Created<T> {
    pub value: T,
    pub created: bool,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PageRequest {
    /// 1–500, default 50.
    pub limit: Option<i64>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(50).clamp(1, 500)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct BalanceFilter {
    pub sku: Option<String>,
    pub location: Option<String>,
}

/// Which ledger movements to list; every field set must match.
#[derive(Debug, Clone, Default)]
pub struct MovementFilter {
    pub sku: Option<String>,
    pub location: Option<String>,
    /// One reason, as stored (`received`, `allocation`, `shipped`, …).
    pub reason: Option<String>,
    /// Inclusive.
    pub after: Option<OffsetDateTime>,
    /// Exclusive.
    pub before: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub channel: Option<String>,
    pub sku: Option<String>,
    pub placed_after: Option<OffsetDateTime>,
    pub placed_before: Option<OffsetDateTime>,
    /// Number, email or external id (exact match).
    pub q: Option<String>,
    /// Orders with a fulfillment order (not cancelled) at this location.
    pub location: Option<String>,
    /// Orders carrying every one of these tags.
    pub tags: Vec<String>,
    /// Late orders as of this day: not shipped yet (allocated, partially allocated,
    /// backordered, on hold or partially shipped) and promised for delivery before it; the
    /// dashboard's late count uses the same rule.
    pub late_on: Option<time::Date>,
    pub sort: OrderSort,
}

/// The order of an order list. Each sort pages by its own key plus the order number, so a
/// page never repeats or skips an order and no page needs an offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OrderSort {
    /// Newest captured first (by number).
    #[default]
    Number,
    /// Placed date, newest first.
    PlacedDesc,
    /// Placed date, oldest first.
    PlacedAsc,
    /// Total (in minor units of the order's currency), largest first.
    TotalDesc,
    /// Total, smallest first.
    TotalAsc,
}

impl OrderSort {
    pub const ALL: [OrderSort; 5] = [
        OrderSort::Number,
        OrderSort::PlacedDesc,
        OrderSort::PlacedAsc,
        OrderSort::TotalDesc,
        OrderSort::TotalAsc,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderSort::Number => "number",
            OrderSort::PlacedDesc => "placed_desc",
            OrderSort::PlacedAsc => "placed_asc",
            OrderSort::TotalDesc => "total_desc",
            OrderSort::TotalAsc => "total_asc",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The sort column besides `number`, if any.
    pub fn column(self) -> Option<&'static str> {
        match self {
            OrderSort::Number => None,
            OrderSort::PlacedDesc | OrderSort::PlacedAsc => Some("placed_at"),
            OrderSort::TotalDesc | OrderSort::TotalAsc => Some("total"),
        }
    }

    pub fn descending(self) -> bool {
        matches!(
            self,
            OrderSort::Number | OrderSort::PlacedDesc | OrderSort::TotalDesc
        )
    }

    /// The cursor after the last order of a page.
    pub fn cursor(self, number: i64, placed_at: OffsetDateTime, total: i64) -> String {
        encode_cursor(&match self {
            OrderSort::Number => number.to_string(),
            OrderSort::PlacedDesc | OrderSort::PlacedAsc => {
                format!("{}|{}|{number}", self.as_str(), format_time(placed_at))
            }
            OrderSort::TotalDesc | OrderSort::TotalAsc => {
                format!("{}|{total}|{number}", self.as_str())
            }
        })
    }

    /// The key a page continues after; a cursor from another sort is refused.
    pub fn after(self, page: &PageRequest) -> Result<Option<OrderPageKey>, StoreError> {
        let Some(c) = &page.cursor else {
            return Ok(None);
        };
        let bad = || {
            StoreError::from(Problem::invalid(
                "cursor",
                "is not a cursor this server issued",
            ))
        };
        let key = decode_cursor(c).ok_or_else(bad)?;
        let parts: Vec<&str> = key.split('|').collect();
        let key = match (self, parts.as_slice()) {
            (OrderSort::Number, [n]) => OrderPageKey::Number(n.parse().map_err(|_| bad())?),
            (OrderSort::PlacedDesc | OrderSort::PlacedAsc, [s, t, n]) if *s == self.as_str() => {
                OrderPageKey::Placed(
                    parse_time(t).map_err(|_| bad())?,
                    n.parse().map_err(|_| bad())?,
                )
            }
            (OrderSort::TotalDesc | OrderSort::TotalAsc, [s, t, n]) if *s == self.as_str() => {
                OrderPageKey::Total(t.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?)
            }
            _ => {
                return Err(Problem::invalid(
                    "cursor",
                    "was issued for another sort; start again from the first page",
                )
                .into());
            }
        };
        Ok(Some(key))
    }
}

/// Where a sorted order list continues: the last order's sort value and number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderPageKey {
    Number(i64),
    Placed(OffsetDateTime, i64),
    Total(i64, i64),
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BalanceRow {
    pub sku: String,
    pub location: String,
    #[serde(flatten)]
    pub balance: Balance,
    pub available: i64,
}

impl BalanceRow {
    pub fn new(sku: String, location: String, balance: Balance) -> Self {
        BalanceRow {
            sku,
            location,
            available: balance.available(),
            balance,
        }
    }
}

/// One ledger line: a signed change of one state at one (SKU, location).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Movement {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub sku: String,
    pub location: String,
    pub state: String,
    pub delta: i64,
    pub before: i64,
    pub after: i64,
    pub reason: String,
    pub reference: Option<String>,
    pub actor: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockWriteResult {
    pub balance: BalanceRow,
    pub movements: Vec<Movement>,
    /// Orders that received stock freed by this write.
    pub reallocated_orders: Vec<String>,
    /// Orders that lost stock a count proved missing.
    pub shorted_orders: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ChannelAvailability {
    pub channel: String,
    pub sku: String,
    pub available_to_sell: i64,
    pub locations: Vec<LocationAvailability>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LocationAvailability {
    pub location: String,
    pub available: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderSummary {
    pub id: Uuid,
    pub number: String,
    pub channel: String,
    pub external_id: String,
    pub status: OrderStatus,
    pub email: String,
    pub currency: String,
    pub total: String,
    pub units: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub placed_at: OffsetDateTime,
}

/// A row of the transactional outbox. `seq` strictly increases in commit order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Event {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// e.g. order.created, order.allocated, order.backordered, order.cancelled, inventory.changed.
    pub kind: String,
    pub order_id: Option<Uuid>,
    pub actor: String,
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct VerifyReport {
    pub balances_checked: i64,
    pub orders_checked: i64,
    pub discrepancies: Vec<Discrepancy>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.discrepancies.is_empty()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Discrepancy {
    pub sku: String,
    pub location: String,
    pub state: String,
    /// What the balance table says.
    pub recorded: i64,
    /// What the ledger (or, for `allocated`, the open orders) says.
    pub expected: i64,
    pub source: String,
}
