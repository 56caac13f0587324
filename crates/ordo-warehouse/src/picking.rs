//! Pick lists and pick confirmation.
//!
//! [`build_pick_lists`] chooses which fulfillment orders at one location to release now and
//! how to walk for them:
//!
//! * **selection**: orders that pass the [`PickFilters`] are taken highest priority first,
//!   then oldest, while they fit the [`PickLimits`] (a cart's orders, units and weight). An
//!   order that does not fit is skipped whole, never split: half an order on a cart is a
//!   parcel that cannot ship, and a smaller order further down may still fit;
//! * **strategy**: `single` gives every order its own list (simple, long walks), `batch` puts
//!   them all on one cart with one tote (slot) per order, so the picker walks the route once
//!   and sorts into totes while picking (put-to-order), and `wave` by zone splits the batch
//!   into one list per zone so pickers work zones in parallel; tote numbers are the same in
//!   every zone list so the units meet again at the pack bench;
//! * **lines** are aggregated per (SKU, bin) with the per-tote breakdown, in walk order.
//!
//! [`PickProgress`] then checks each scan against the lists: the right item at the right bin,
//! never more than asked, and short picks (bin empty) taken from the lowest-priority, newest
//! orders first, the same rule stock shortages follow elsewhere in Ordo, so the caller can
//! re-route exactly those units.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use ordo_domain::error::{Errors, Problem};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::bins::{BinFlag, Binned, Layout, PathLength};

/// One line of a fulfillment order waiting to be picked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CandidateLine {
    pub sku: String,
    pub quantity: i64,
    /// Weight of one unit.
    #[serde(default)]
    pub unit_weight_g: i64,
    /// Where the SKU is picked from at this location.
    #[serde(default)]
    pub bin: Option<String>,
}

/// A fulfillment order at the location, as the caller loaded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CandidateOrder {
    /// The fulfillment order id (`SO-000123-2`).
    pub id: String,
    pub order_number: String,
    /// Higher is picked first.
    #[serde(default)]
    pub priority: i32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub placed_at: OffsetDateTime,
    pub channel: String,
    #[serde(default)]
    pub service_level: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the carrier collects the parcel; orders missing it miss the truck.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cutoff_at: Option<OffsetDateTime>,
    pub lines: Vec<CandidateLine>,
}

impl CandidateOrder {
    pub fn units(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }
    pub fn weight_g(&self) -> i64 {
        self.lines
            .iter()
            .map(|l| l.quantity * l.unit_weight_g)
            .sum()
    }
}

/// Which orders may be released. Empty lists and `None` mean "no restriction".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PickFilters {
    /// The order's channel is one of these.
    pub channels: Vec<String>,
    /// The order's service level is one of these.
    pub service_levels: Vec<String>,
    pub min_priority: Option<i32>,
    /// Only orders whose carrier cut-off is before this instant (the urgent ones); orders
    /// without a cut-off are left out when it is set.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cutoff_before: Option<OffsetDateTime>,
    /// The order carries every one of these tags.
    pub tags: Vec<String>,
    /// Only orders of exactly one unit (they need no sorting and ship from the pick cart).
    pub single_item_only: bool,
    /// Only these orders (numbers such as `SO-000123`), as chosen by hand from a list. The
    /// location's other work is left out without being reported as skipped, and a chosen
    /// order with nothing to pick at the location refuses the request.
    pub orders: Vec<String>,
}

/// How much one release may hold: what fits on a cart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct PickLimits {
    pub max_orders: Option<u32>,
    pub max_units: Option<i64>,
    pub max_weight_g: Option<i64>,
}

/// What a wave is split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaveBy {
    Zone,
}

/// How the selected orders become lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PickStrategy {
    /// One list per order.
    Single,
    /// One list for all selected orders, one tote per order.
    #[default]
    Batch,
    /// The batch split into one list per zone; tote numbers are shared by the lists.
    Wave { by: WaveBy },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PickRequest {
    pub orders: Vec<CandidateOrder>,
    #[serde(default)]
    pub filters: PickFilters,
    #[serde(default)]
    pub limits: PickLimits,
    #[serde(default)]
    pub strategy: PickStrategy,
}

/// Why an order was not released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    Channel,
    ServiceLevel,
    Priority,
    Cutoff,
    Tags,
    NotSingleItem,
    /// The list already holds `max_orders` orders.
    MaxOrders,
    /// Adding the order would exceed `max_units`.
    MaxUnits,
    /// Adding the order would exceed `max_weight_g`.
    MaxWeight,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkippedOrder {
    pub fulfillment_order_id: String,
    pub reason: SkipReason,
}

/// Which order a tote (slot on the cart or put wall) belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ToteAssignment {
    pub tote: u32,
    pub fulfillment_order_id: String,
    pub order_number: String,
    /// Units of this order on this list.
    pub units: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ToteQuantity {
    pub tote: u32,
    pub fulfillment_order_id: String,
    pub quantity: i64,
}

/// Take `quantity` of `sku` from `bin` and share it out as `totes` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PickLine {
    pub sku: String,
    pub bin: Option<String>,
    pub quantity: i64,
    pub weight_g: i64,
    /// Ascending by tote number.
    pub totes: Vec<ToteQuantity>,
    /// Set when the line could not be placed on the walk (it is at the end of the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<BinFlag>,
}

impl Binned for PickLine {
    fn bin(&self) -> Option<&str> {
        self.bin.as_deref()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PickList {
    /// 1, 2, … within the plan.
    pub number: u32,
    /// The zone of a wave list (`None` for the lines no zone could be read for).
    pub zone: Option<String>,
    pub totes: Vec<ToteAssignment>,
    /// In walk order.
    pub lines: Vec<PickLine>,
    pub units: i64,
    pub weight_g: i64,
    pub path: PathLength,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PickPlan {
    pub lists: Vec<PickList>,
    /// Released fulfillment orders, in selection order (highest priority, then oldest).
    pub selected: Vec<String>,
    /// Every other candidate, with the first reason it was left out.
    pub skipped: Vec<SkippedOrder>,
    pub units: i64,
    pub weight_g: i64,
}

fn validate(request: &PickRequest) -> Result<(), Problem> {
    let mut errors = Errors::default();
    let mut ids = HashSet::new();
    for (i, o) in request.orders.iter().enumerate() {
        if o.id.is_empty() {
            errors.add(format!("orders[{i}].id"), "is required");
        } else if !ids.insert(o.id.as_str()) {
            errors.add(format!("orders[{i}].id"), "appears twice");
        }
        if o.lines.is_empty() {
            errors.add(format!("orders[{i}].lines"), "must not be empty");
        }
        for (j, l) in o.lines.iter().enumerate() {
            let f = |name: &str| format!("orders[{i}].lines[{j}].{name}");
            if l.sku.is_empty() {
                errors.add(f("sku"), "is required");
            }
            if l.quantity <= 0 || l.quantity > 1_000_000 {
                errors.add(f("quantity"), "must be 1 to 1000000");
            }
            if l.unit_weight_g < 0 || l.unit_weight_g > 1_000_000_000 {
                errors.add(f("unit_weight_g"), "must be 0 to 1000000000");
            }
        }
    }
    let mut chosen = HashSet::new();
    for (i, n) in request.filters.orders.iter().enumerate() {
        let field = format!("filters.orders[{i}]");
        if n.trim().is_empty() {
            errors.add(field, "is required");
        } else if !chosen.insert(n.as_str()) {
            errors.add(field, format!("{n} appears twice"));
        } else if !request.orders.iter().any(|o| &o.order_number == n) {
            errors.add(
                field,
                format!(
                    "{n} has nothing to pick at this location: no open fulfillment order here \
                     (it may be on hold, already on a pick list, shipped, or shipping from \
                     another location)"
                ),
            );
        }
    }
    if request.limits.max_units.is_some_and(|u| u < 0) {
        errors.add("limits.max_units", "must not be negative");
    }
    if request.limits.max_weight_g.is_some_and(|u| u < 0) {
        errors.add("limits.max_weight_g", "must not be negative");
    }
    errors.finish(|| ())
}

fn filter(o: &CandidateOrder, f: &PickFilters) -> Option<SkipReason> {
    if !f.channels.is_empty() && !f.channels.contains(&o.channel) {
        return Some(SkipReason::Channel);
    }
    if !f.service_levels.is_empty()
        && !o
            .service_level
            .as_ref()
            .is_some_and(|s| f.service_levels.contains(s))
    {
        return Some(SkipReason::ServiceLevel);
    }
    if f.min_priority.is_some_and(|p| o.priority < p) {
        return Some(SkipReason::Priority);
    }
    if let Some(before) = f.cutoff_before
        && o.cutoff_at.is_none_or(|c| c >= before)
    {
        return Some(SkipReason::Cutoff);
    }
    if !f.tags.iter().all(|t| o.tags.contains(t)) {
        return Some(SkipReason::Tags);
    }
    if f.single_item_only && o.units() != 1 {
        return Some(SkipReason::NotSingleItem);
    }
    None
}

/// The release order: highest priority, then oldest, then id (so equal orders are
/// released the same way every time).
fn rank(a: &CandidateOrder, b: &CandidateOrder) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then(a.placed_at.cmp(&b.placed_at))
        .then(a.id.cmp(&b.id))
}

/// Chooses the orders to release and builds their pick lists (see the module docs).
/// Refuses malformed input (empty ids, non-positive quantities) naming each field.
pub fn build_pick_lists(request: &PickRequest, layout: &Layout) -> Result<PickPlan, Problem> {
    validate(request)?;
    let mut skipped = Vec::new();
    let mut eligible: Vec<&CandidateOrder> = Vec::new();
    let chosen = |o: &&CandidateOrder| {
        request.filters.orders.is_empty() || request.filters.orders.contains(&o.order_number)
    };
    for o in request.orders.iter().filter(chosen) {
        match filter(o, &request.filters) {
            Some(reason) => skipped.push(SkippedOrder {
                fulfillment_order_id: o.id.clone(),
                reason,
            }),
            None => eligible.push(o),
        }
    }
    eligible.sort_by(|a, b| rank(a, b));

    let limits = &request.limits;
    let (mut units, mut weight) = (0i64, 0i64);
    let mut selected: Vec<&CandidateOrder> = Vec::new();
    for o in eligible {
        let reason = if limits
            .max_orders
            .is_some_and(|m| selected.len() >= m as usize)
        {
            Some(SkipReason::MaxOrders)
        } else if limits.max_units.is_some_and(|m| units + o.units() > m) {
            Some(SkipReason::MaxUnits)
        } else if limits
            .max_weight_g
            .is_some_and(|m| weight + o.weight_g() > m)
        {
            Some(SkipReason::MaxWeight)
        } else {
            None
        };
        match reason {
            Some(reason) => skipped.push(SkippedOrder {
                fulfillment_order_id: o.id.clone(),
                reason,
            }),
            None => {
                units += o.units();
                weight += o.weight_g();
                selected.push(o);
            }
        }
    }

    let totes: Vec<(u32, &CandidateOrder)> = selected
        .iter()
        .enumerate()
        .map(|(i, o)| (i as u32 + 1, *o))
        .collect();
    let mut lists = match request.strategy {
        PickStrategy::Single => selected
            .iter()
            .map(|o| build_list(layout, &[(1, *o)], |_| true))
            .collect(),
        PickStrategy::Batch => {
            if totes.is_empty() {
                Vec::new()
            } else {
                vec![build_list(layout, &totes, |_| true)]
            }
        }
        PickStrategy::Wave { by: WaveBy::Zone } => {
            let mut zones: Vec<Option<String>> = totes
                .iter()
                .flat_map(|(_, o)| &o.lines)
                .map(|l| l.bin.as_deref().and_then(|b| layout.zone(b)))
                .collect();
            zones.sort();
            zones.dedup();
            let mut lists: Vec<PickList> = zones
                .into_iter()
                .map(|zone| {
                    let mut list = build_list(layout, &totes, |l| {
                        l.bin.as_deref().and_then(|b| layout.zone(b)) == zone
                    });
                    list.zone = zone;
                    list
                })
                .collect();
            // Zones in the order the walk reaches them; the list of unreadable bins last.
            lists.sort_by_cached_key(|l| {
                (
                    l.zone.is_none(),
                    layout.walk_key(l.lines.first().and_then(|x| x.bin.as_deref())),
                )
            });
            lists
        }
    };
    for (i, l) in lists.iter_mut().enumerate() {
        l.number = i as u32 + 1;
    }
    Ok(PickPlan {
        lists,
        selected: selected.iter().map(|o| o.id.clone()).collect(),
        skipped,
        units,
        weight_g: weight,
    })
}

fn build_list(
    layout: &Layout,
    totes: &[(u32, &CandidateOrder)],
    keep: impl Fn(&CandidateLine) -> bool,
) -> PickList {
    let mut by_key: BTreeMap<(Option<&str>, &str), PickLine> = BTreeMap::new();
    let mut assignments = Vec::new();
    for (tote, o) in totes {
        let mut on_list = 0;
        for l in o.lines.iter().filter(|l| keep(l)) {
            on_list += l.quantity;
            let line = by_key
                .entry((l.bin.as_deref(), l.sku.as_str()))
                .or_insert_with(|| PickLine {
                    sku: l.sku.clone(),
                    bin: l.bin.clone(),
                    quantity: 0,
                    weight_g: 0,
                    totes: Vec::new(),
                    flag: layout.flag(l.bin.as_deref()),
                });
            line.quantity += l.quantity;
            line.weight_g += l.quantity * l.unit_weight_g;
            match line.totes.last_mut() {
                Some(t) if t.tote == *tote => t.quantity += l.quantity,
                _ => line.totes.push(ToteQuantity {
                    tote: *tote,
                    fulfillment_order_id: o.id.clone(),
                    quantity: l.quantity,
                }),
            }
        }
        if on_list > 0 {
            assignments.push(ToteAssignment {
                tote: *tote,
                fulfillment_order_id: o.id.clone(),
                order_number: o.order_number.clone(),
                units: on_list,
            });
        }
    }
    let mut lines: Vec<PickLine> = by_key.into_values().collect();
    layout.sort_walk_order(&mut lines);
    let path = layout.path_length(lines.iter().filter_map(|l| l.bin.as_deref()));
    PickList {
        number: 0,
        zone: None,
        totes: assignments,
        units: lines.iter().map(|l| l.quantity).sum(),
        weight_g: lines.iter().map(|l| l.weight_g).sum(),
        lines,
        path,
    }
}

// ---------------------------------------------------------------------------------------
// Confirmation
// ---------------------------------------------------------------------------------------

/// A scan at the shelf: the SKU (the caller resolves barcodes), how many, and the bin
/// scanned (`None` when the location does not scan bins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Scan {
    pub sku: String,
    #[serde(default)]
    pub bin: Option<String>,
    pub quantity: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ToteProgress {
    pub tote: u32,
    pub fulfillment_order_id: String,
    pub quantity: i64,
    pub picked: i64,
    pub short: i64,
}

impl ToteProgress {
    fn open(&self) -> i64 {
        self.quantity - self.picked - self.short
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineProgress {
    /// The pick list number.
    pub list: u32,
    pub sku: String,
    pub bin: Option<String>,
    pub quantity: i64,
    pub picked: i64,
    pub short: i64,
    pub totes: Vec<ToteProgress>,
}

impl LineProgress {
    pub fn remaining(&self) -> i64 {
        self.quantity - self.picked - self.short
    }
}

/// Where a fulfillment order stands across the lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderPickState {
    Picking,
    /// Every line is picked or shorted and at least one unit was picked: the fulfillment
    /// order becomes `picked` (its shorted units, if any, are re-routed).
    Picked,
    /// Every unit was shorted: nothing to pack; all its units are re-routed.
    Emptied,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderProgress {
    pub fulfillment_order_id: String,
    pub quantity: i64,
    pub picked: i64,
    pub short: i64,
    pub state: OrderPickState,
}

/// The state of one pick job: every list of a batch or wave together, so an order spread
/// over zone lists is `picked` only when its last zone is done. Serialisable so the caller
/// can keep it between scans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PickProgress {
    /// Lists in the order given, each in walk order.
    pub lines: Vec<LineProgress>,
    pub orders: Vec<OrderProgress>,
}

/// A line still to pick, as shown to the picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Expected {
    pub sku: String,
    pub bin: Option<String>,
    pub remaining: i64,
}

/// Put `quantity` into `tote`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TotePut {
    pub tote: u32,
    pub fulfillment_order_id: String,
    pub quantity: i64,
}

/// Units a fulfillment order will not get from this pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Loss {
    pub fulfillment_order_id: String,
    pub tote: u32,
    pub sku: String,
    pub units: i64,
}

/// What an accepted scan or short report did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PickUpdate {
    pub list: u32,
    pub sku: String,
    pub bin: Option<String>,
    /// Where the units just taken go, lowest tote (highest priority) first.
    pub put: Vec<TotePut>,
    /// Shorted units, lowest priority (highest tote) first. Empty for a normal scan.
    pub losses: Vec<Loss>,
    pub line_picked: i64,
    pub line_quantity: i64,
    pub line_done: bool,
    /// Every line of every list is done.
    pub complete: bool,
    /// Fulfillment orders this update finished with units picked: they become `picked`.
    pub orders_picked: Vec<String>,
    /// Fulfillment orders this update finished with nothing picked.
    pub orders_emptied: Vec<String>,
}

/// Why a scan was refused. Nothing changes when a scan is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum PickRefusal {
    #[error("quantity must be at least {min} (got {quantity})")]
    InvalidQuantity { quantity: i64, min: i64 },
    #[error("wrong item: scanned {scanned}{}, expected {}", at(.bin), expected_text(.expected))]
    WrongItem {
        scanned: String,
        bin: Option<String>,
        expected: Vec<Expected>,
    },
    #[error("wrong bin: {sku} is picked from {}, not {}", .expected_bins.join(" or "), .scanned_bin.as_deref().unwrap_or("no bin"))]
    WrongBin {
        sku: String,
        scanned_bin: Option<String>,
        expected_bins: Vec<String>,
    },
    #[error("over-pick refused: {scanned} × {sku}{} scanned, {remaining} left to pick", at(.bin))]
    OverPick {
        sku: String,
        bin: Option<String>,
        remaining: i64,
        scanned: i64,
    },
    #[error("every line is already picked")]
    Complete,
}

fn at(bin: &Option<String>) -> String {
    bin.as_ref().map(|b| format!(" at {b}")).unwrap_or_default()
}

fn expected_text(expected: &[Expected]) -> String {
    let mut s = String::new();
    for (i, e) in expected.iter().enumerate() {
        if i > 0 {
            s.push_str(" or ");
        }
        let _ = write!(s, "{}{} ({} left)", e.sku, at(&e.bin), e.remaining);
    }
    if s.is_empty() {
        s.push_str("nothing");
    }
    s
}

impl PickProgress {
    /// Starts a pick job over `lists` (all the lists of one batch or wave).
    pub fn new(lists: &[PickList]) -> PickProgress {
        let mut orders: Vec<OrderProgress> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut lines = Vec::new();
        for list in lists {
            for l in &list.lines {
                for t in &l.totes {
                    let i = *index.entry(&t.fulfillment_order_id).or_insert_with(|| {
                        orders.push(OrderProgress {
                            fulfillment_order_id: t.fulfillment_order_id.clone(),
                            quantity: 0,
                            picked: 0,
                            short: 0,
                            state: OrderPickState::Picking,
                        });
                        orders.len() - 1
                    });
                    orders[i].quantity += t.quantity;
                }
                lines.push(LineProgress {
                    list: list.number,
                    sku: l.sku.clone(),
                    bin: l.bin.clone(),
                    quantity: l.quantity,
                    picked: 0,
                    short: 0,
                    totes: l
                        .totes
                        .iter()
                        .map(|t| ToteProgress {
                            tote: t.tote,
                            fulfillment_order_id: t.fulfillment_order_id.clone(),
                            quantity: t.quantity,
                            picked: 0,
                            short: 0,
                        })
                        .collect(),
                });
            }
        }
        PickProgress { lines, orders }
    }

    pub fn is_complete(&self) -> bool {
        self.lines.iter().all(|l| l.remaining() == 0)
    }

    /// The next line to pick in walk order.
    pub fn next(&self) -> Option<Expected> {
        self.lines.iter().find(|l| l.remaining() > 0).map(expected)
    }

    /// The open line a scan of `sku` at `bin` is for: same SKU, and the same bin unless
    /// one side has none.
    fn find(&self, sku: &str, bin: Option<&str>, quantity: i64) -> Result<usize, PickRefusal> {
        if self.is_complete() {
            return Err(PickRefusal::Complete);
        }
        let bin_matches =
            |l: &LineProgress| bin.is_none() || l.bin.is_none() || l.bin.as_deref() == bin;
        if let Some(i) = self
            .lines
            .iter()
            .position(|l| l.remaining() > 0 && l.sku == sku && bin_matches(l))
        {
            return Ok(i);
        }
        let same_sku: Vec<&LineProgress> = self.lines.iter().filter(|l| l.sku == sku).collect();
        let open_bins: Vec<String> = same_sku
            .iter()
            .filter(|l| l.remaining() > 0)
            .filter_map(|l| l.bin.clone())
            .collect();
        if !open_bins.is_empty() {
            return Err(PickRefusal::WrongBin {
                sku: sku.into(),
                scanned_bin: bin.map(Into::into),
                expected_bins: open_bins,
            });
        }
        if same_sku.iter().any(|l| bin_matches(l)) {
            return Err(PickRefusal::OverPick {
                sku: sku.into(),
                bin: bin.map(Into::into),
                remaining: 0,
                scanned: quantity,
            });
        }
        let mut expected: Vec<Expected> = self
            .lines
            .iter()
            .filter(|l| l.remaining() > 0 && bin.is_some() && l.bin.as_deref() == bin)
            .map(expected)
            .collect();
        if expected.is_empty() {
            expected.extend(self.next());
        }
        Err(PickRefusal::WrongItem {
            scanned: sku.into(),
            bin: bin.map(Into::into),
            expected,
        })
    }

    /// Confirms a scan: the units go to the totes of the highest-priority orders first.
    /// Refuses a wrong item, a wrong bin and more units than the line has left; a refused
    /// scan changes nothing.
    pub fn scan(&mut self, scan: &Scan) -> Result<PickUpdate, PickRefusal> {
        if scan.quantity < 1 {
            return Err(PickRefusal::InvalidQuantity {
                quantity: scan.quantity,
                min: 1,
            });
        }
        let i = self.find(&scan.sku, scan.bin.as_deref(), scan.quantity)?;
        let remaining = self.lines[i].remaining();
        if scan.quantity > remaining {
            return Err(PickRefusal::OverPick {
                sku: scan.sku.clone(),
                bin: self.lines[i].bin.clone(),
                remaining,
                scanned: scan.quantity,
            });
        }
        Ok(self.apply(i, scan.quantity, false))
    }

    /// Reports that the bin of a line holds only `found` more units (0 when empty): they
    /// are put as a scan would, and the rest of the line is shorted, taken from the
    /// lowest-priority, newest orders (the highest tote numbers) first. Because scans fill
    /// totes from the top, the shorted units are exactly the last ones in that order.
    pub fn short_pick(
        &mut self,
        sku: &str,
        bin: Option<&str>,
        found: i64,
    ) -> Result<PickUpdate, PickRefusal> {
        if found < 0 {
            return Err(PickRefusal::InvalidQuantity {
                quantity: found,
                min: 0,
            });
        }
        let i = self.find(sku, bin, found)?;
        let remaining = self.lines[i].remaining();
        if found > remaining {
            return Err(PickRefusal::OverPick {
                sku: sku.into(),
                bin: self.lines[i].bin.clone(),
                remaining,
                scanned: found,
            });
        }
        Ok(self.apply(i, found, true))
    }

    fn apply(&mut self, i: usize, quantity: i64, short_rest: bool) -> PickUpdate {
        let line = &mut self.lines[i];
        let mut put = Vec::new();
        let mut left = quantity;
        for t in line.totes.iter_mut() {
            let take = left.min(t.open());
            if take > 0 {
                t.picked += take;
                left -= take;
                put.push(TotePut {
                    tote: t.tote,
                    fulfillment_order_id: t.fulfillment_order_id.clone(),
                    quantity: take,
                });
            }
        }
        line.picked += quantity;
        let mut losses = Vec::new();
        if short_rest {
            for t in line.totes.iter_mut().rev() {
                let lost = t.open();
                if lost > 0 {
                    t.short += lost;
                    line.short += lost;
                    losses.push(Loss {
                        fulfillment_order_id: t.fulfillment_order_id.clone(),
                        tote: t.tote,
                        sku: line.sku.clone(),
                        units: lost,
                    });
                }
            }
        }
        let (list, sku, bin) = (line.list, line.sku.clone(), line.bin.clone());
        let (line_picked, line_quantity, line_done) =
            (line.picked, line.quantity, line.remaining() == 0);
        for p in &put {
            self.order_mut(&p.fulfillment_order_id).picked += p.quantity;
        }
        for l in &losses {
            self.order_mut(&l.fulfillment_order_id).short += l.units;
        }
        let (mut orders_picked, mut orders_emptied) = (Vec::new(), Vec::new());
        for o in &mut self.orders {
            if o.state == OrderPickState::Picking && o.picked + o.short == o.quantity {
                if o.picked > 0 {
                    o.state = OrderPickState::Picked;
                    orders_picked.push(o.fulfillment_order_id.clone());
                } else {
                    o.state = OrderPickState::Emptied;
                    orders_emptied.push(o.fulfillment_order_id.clone());
                }
            }
        }
        PickUpdate {
            list,
            sku,
            bin,
            put,
            losses,
            line_picked,
            line_quantity,
            line_done,
            complete: self.is_complete(),
            orders_picked,
            orders_emptied,
        }
    }

    fn order_mut(&mut self, id: &str) -> &mut OrderProgress {
        self.orders
            .iter_mut()
            .find(|o| o.fulfillment_order_id == id)
            .expect("every tote's order is tracked")
    }
}

fn expected(l: &LineProgress) -> Expected {
    Expected {
        sku: l.sku.clone(),
        bin: l.bin.clone(),
        remaining: l.remaining(),
    }
}

#[cfg(test)]
mod tests;
