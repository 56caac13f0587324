//! Backend-neutral planning of picking: which open fulfillment orders a pick job
//! releases (through `ordo-warehouse`), and what a scan or a short pick changes.

use std::collections::HashMap;

use ordo_domain::Problem;
use ordo_domain::catalog::{Location, LocationKind, Product};
use ordo_domain::fulfillment::{FulfillmentLine, FulfillmentStatus};
use ordo_domain::order::{Order, OrderStatus};
use ordo_warehouse::bins::{Layout, LayoutConfig};
use ordo_warehouse::picking::{
    CandidateLine, CandidateOrder, PickFilters, PickLimits, PickList, PickProgress, PickRefusal,
    PickRequest, PickStrategy, PickUpdate, Scan, SkippedOrder, build_pick_lists,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// What a pick job asks for: which open fulfillment orders at one location to release.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PickJobInput {
    pub location: Option<String>,
    #[serde(default)]
    pub filters: PickFilters,
    #[serde(default)]
    pub limits: PickLimits,
    /// `{"kind": "single"}`, `{"kind": "batch"}` (default) or `{"kind": "wave", "by": "zone"}`.
    #[serde(default)]
    pub strategy: PickStrategy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PickJobStatus {
    Open,
    Done,
}

impl PickJobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PickJobStatus::Open => "open",
            PickJobStatus::Done => "done",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(PickJobStatus::Open),
            "done" => Some(PickJobStatus::Done),
            _ => None,
        }
    }
}

/// One release of work at a location: its pick lists (one for single/batch per order or
/// cart, one per zone for a wave) and the progress of every line and tote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PickJob {
    /// `PL-000001`.
    pub id: String,
    pub location: String,
    pub status: PickJobStatus,
    pub strategy: PickStrategy,
    pub lists: Vec<PickList>,
    pub progress: PickProgress,
    /// Open fulfillment orders left out, with the first reason.
    pub skipped: Vec<SkippedOrder>,
    /// Every accepted scan and short pick, in order.
    pub history: Vec<PickUpdate>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

pub fn pick_job_number(n: i64) -> String {
    format!("PL-{n:06}")
}

pub fn parse_pick_job_number(s: &str) -> Option<i64> {
    s.trim()
        .strip_prefix("PL-")?
        .parse()
        .ok()
        .filter(|n| *n > 0)
}

/// A scan at the shelf, or a report that the bin holds fewer units than the list says.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PickInput {
    pub sku: Option<String>,
    /// A product barcode instead of the SKU.
    pub barcode: Option<String>,
    pub bin: Option<String>,
    /// Units taken (scan), default 1.
    pub quantity: Option<i64>,
    /// Set for a short pick: how many units the bin really held for this line (0 = empty).
    pub found: Option<i64>,
}

/// A scan or short pick, with a short pick's optional recount.
#[derive(Debug, Clone, Default)]
pub struct PickCommand {
    pub pick: PickInput,
    /// With a short pick, an optional recount: the SKU's on_hand at the location as
    /// counted now — units on the shelves plus units already picked and not yet shipped
    /// (this pick's `found` included). On_hand is set to it (`cycle_count`) instead of
    /// writing off only the missing units (`shrinkage`).
    pub counted_on_hand: Option<i64>,
}

impl From<PickInput> for PickCommand {
    fn from(pick: PickInput) -> Self {
        PickCommand {
            pick,
            counted_on_hand: None,
        }
    }
}

/// A validated pick action, with the SKU resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickAction {
    Scan(Scan),
    Short {
        sku: String,
        bin: Option<String>,
        found: i64,
        counted_on_hand: Option<i64>,
    },
}

/// The SKU of a scan: given, or the product whose barcode was scanned.
pub fn resolve_pick(
    command: PickCommand,
    barcode_owner: Option<&Product>,
) -> Result<PickAction, Problem> {
    let PickCommand {
        pick: input,
        counted_on_hand,
    } = command;
    let sku = match (input.sku, &input.barcode) {
        (Some(sku), _) if !sku.trim().is_empty() => sku,
        (_, Some(code)) => match barcode_owner {
            Some(p) => p.sku.clone(),
            None => {
                return Err(Problem::invalid(
                    "barcode",
                    format!("no product has barcode {code}"),
                ));
            }
        },
        _ => return Err(Problem::invalid("sku", "give sku or barcode")),
    };
    match (input.found, counted_on_hand) {
        (Some(found), _) if found < 0 => Err(Problem::invalid("found", "must not be negative")),
        (Some(found), Some(counted)) if counted < found => Err(Problem::invalid(
            "counted_on_hand",
            format!(
                "the {found} units just picked are still on hand until they ship; count them too (at least {found})"
            ),
        )),
        (Some(found), counted_on_hand) => Ok(PickAction::Short {
            sku,
            bin: input.bin,
            found,
            counted_on_hand,
        }),
        (None, Some(_)) => Err(Problem::invalid(
            "counted_on_hand",
            "a recount goes with a short pick: give found as well",
        )),
        (None, None) => {
            let quantity = input.quantity.unwrap_or(1);
            if quantity < 1 {
                return Err(Problem::invalid("quantity", "must be at least 1"));
            }
            Ok(PickAction::Scan(Scan {
                sku,
                bin: input.bin,
                quantity,
            }))
        }
    }
}

/// The open fulfillment orders at `location` as picking candidates. Orders on hold, and
/// work at 3PL or marketplace locations (they pick themselves), are not candidates.
pub fn pick_candidates(
    orders: &[Order],
    location: &Location,
    products: &HashMap<String, Product>,
    sku_bins: &HashMap<String, String>,
) -> Vec<CandidateOrder> {
    if matches!(
        location.kind,
        LocationKind::ThirdParty | LocationKind::Marketplace
    ) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for order in orders {
        if order.status == OrderStatus::OnHold || order.status == OrderStatus::Cancelled {
            continue;
        }
        for fo in &order.fulfillment_orders {
            if fo.location != location.code
                || fo.status != FulfillmentStatus::Open
                || fo.lines.is_empty()
            {
                continue;
            }
            out.push(CandidateOrder {
                id: fo.id.clone(),
                order_number: order.number.clone(),
                priority: order.priority,
                placed_at: order.placed_at,
                channel: order.channel.clone(),
                service_level: order.shipping.service_level.clone(),
                tags: order.tags.clone(),
                cutoff_at: None,
                lines: fo
                    .lines
                    .iter()
                    .map(|l| CandidateLine {
                        sku: l.sku.clone(),
                        quantity: l.quantity,
                        unit_weight_g: products.get(&l.sku).map_or(0, |p| p.weight_g),
                        bin: sku_bins.get(&l.sku).cloned(),
                    })
                    .collect(),
            });
        }
    }
    out
}

/// The layout of a location: its stored configuration, or bins read from their codes.
pub fn layout_of(config: Option<LayoutConfig>) -> Result<Layout, Problem> {
    Layout::new(config.unwrap_or_default())
        .map_err(|e| Problem::conflict(format!("the location's bin layout is invalid: {e}")))
}

/// Builds a pick job from the candidates; `Ok(None)` when nothing can be released.
pub fn plan_pick_job(
    number: i64,
    location: &str,
    input: &PickJobInput,
    candidates: Vec<CandidateOrder>,
    layout: &Layout,
    now: OffsetDateTime,
) -> Result<Option<PickJob>, Problem> {
    let request = PickRequest {
        orders: candidates,
        filters: input.filters.clone(),
        limits: input.limits.clone(),
        strategy: input.strategy,
    };
    let plan = build_pick_lists(&request, layout)?;
    if plan.lists.is_empty() {
        return Ok(None);
    }
    let progress = PickProgress::new(&plan.lists);
    Ok(Some(PickJob {
        id: pick_job_number(number),
        location: location.to_string(),
        status: PickJobStatus::Open,
        strategy: input.strategy,
        lists: plan.lists,
        progress,
        skipped: plan.skipped,
        history: Vec::new(),
        created_at: now,
        updated_at: now,
    }))
}

/// The fulfillment orders a job released (they become `in_progress`).
pub fn released(job: &PickJob) -> Vec<String> {
    job.progress
        .orders
        .iter()
        .map(|o| o.fulfillment_order_id.clone())
        .collect()
}

/// What a scan or short pick did to the job. The caller moves `picked` fulfillment orders
/// to `picked`, and for a short pick writes the shrinkage and re-routes each loss.
pub struct PickOutcome {
    pub job: PickJob,
    pub update: PickUpdate,
    /// Per fulfillment order, the units it will not get from this location.
    pub losses: Vec<(String, Vec<FulfillmentLine>)>,
}

fn refusal(r: PickRefusal) -> Problem {
    match r {
        PickRefusal::InvalidQuantity { .. } => Problem::invalid("quantity", r.to_string()),
        PickRefusal::WrongItem { .. } => Problem::invalid("sku", r.to_string()),
        PickRefusal::WrongBin { .. } => Problem::invalid("bin", r.to_string()),
        PickRefusal::OverPick { .. } => Problem::invalid("quantity", r.to_string()),
        PickRefusal::Complete => Problem::Conflict {
            message: r.to_string(),
            current: Some("done".into()),
        },
    }
}

/// Applies one scan or short pick. `lines_of` gives a fulfillment order's lines (for the
/// order line numbers of its losses).
pub fn plan_pick(
    job: &PickJob,
    action: &PickAction,
    lines_of: impl Fn(&str) -> Vec<FulfillmentLine>,
    now: OffsetDateTime,
) -> Result<PickOutcome, Problem> {
    if job.status == PickJobStatus::Done {
        return Err(Problem::Conflict {
            message: format!("pick list {} is done", job.id),
            current: Some("done".into()),
        });
    }
    let mut next = job.clone();
    let update = match action {
        PickAction::Scan(scan) => next.progress.scan(scan).map_err(refusal)?,
        PickAction::Short {
            sku, bin, found, ..
        } => next
            .progress
            .short_pick(sku, bin.as_deref(), *found)
            .map_err(refusal)?,
    };
    let mut losses: Vec<(String, Vec<FulfillmentLine>)> = Vec::new();
    for loss in &update.losses {
        let held = lines_of(&loss.fulfillment_order_id);
        let mut left = loss.units;
        // A SKU may sit on several lines of one order: take from the last line first.
        for line in held.iter().rev().filter(|l| l.sku == loss.sku) {
            if left == 0 {
                break;
            }
            let q = left.min(line.quantity);
            left -= q;
            let entry = match losses
                .iter()
                .position(|(id, _)| *id == loss.fulfillment_order_id)
            {
                Some(i) => &mut losses[i].1,
                None => {
                    losses.push((loss.fulfillment_order_id.clone(), Vec::new()));
                    &mut losses.last_mut().expect("just pushed").1
                }
            };
            entry.push(FulfillmentLine {
                line_no: line.line_no,
                sku: line.sku.clone(),
                quantity: q,
            });
        }
    }
    if update.complete {
        next.status = PickJobStatus::Done;
    }
    next.history.push(update.clone());
    next.updated_at = now;
    Ok(PickOutcome {
        job: next,
        update,
        losses,
    })
}

/// What a recount during a short pick found, against the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Recount {
    pub sku: String,
    pub location: String,
    /// On_hand as the ledger had it just before the count.
    pub ledger_on_hand: i64,
    pub counted_on_hand: i64,
    /// `counted_on_hand - ledger_on_hand`: negative when units vanished.
    pub difference: i64,
}

/// The stock writes after a short pick, once its lost units have left their fulfillment
/// orders (`missing`: units per SKU the bin did not hold). Without a recount the missing
/// units are written off as `shrinkage`; with one (`action` carries `counted_on_hand`), the
/// SKU's on_hand is set by a `cycle_count`, which proves the real loss, whatever it is.
pub fn shortage_writes(
    job: &PickJob,
    action: &PickAction,
    missing: &std::collections::BTreeMap<String, i64>,
) -> Vec<ordo_domain::inventory::StockWrite> {
    use ordo_domain::inventory::{Reason, StockCommand, StockState, StockWrite};
    let reference = Some(format!("pick:{}", job.id));
    let recount = match action {
        PickAction::Short {
            sku,
            counted_on_hand: Some(counted),
            ..
        } => Some((sku.as_str(), *counted)),
        _ => None,
    };
    let mut writes: Vec<StockWrite> = missing
        .iter()
        .filter(|(sku, _)| recount.is_none_or(|(r, _)| r != sku.as_str()))
        .map(|(sku, units)| StockWrite {
            sku: sku.clone(),
            location: job.location.clone(),
            command: StockCommand::Adjust {
                state: StockState::OnHand,
                delta: -units,
            },
            reason: Reason::Shrinkage,
            reference: reference.clone(),
        })
        .collect();
    if let Some((sku, counted)) = recount {
        writes.push(StockWrite {
            sku: sku.to_string(),
            location: job.location.clone(),
            command: StockCommand::Count {
                on_hand: counted,
                expected_on_hand: None,
            },
            reason: Reason::CycleCount,
            reference,
        });
    }
    writes
}

/// The recount a write of [`shortage_writes`] made, read from its movements.
pub fn recount_of(
    write: &ordo_domain::inventory::StockWrite,
    result: &crate::StockWriteResult,
) -> Option<Recount> {
    let ordo_domain::inventory::StockCommand::Count { on_hand, .. } = write.command else {
        return None;
    };
    let ledger_on_hand = result
        .movements
        .iter()
        .find(|m| m.state == "on_hand")
        .map_or(on_hand, |m| m.before);
    Some(Recount {
        sku: write.sku.clone(),
        location: write.location.clone(),
        ledger_on_hand,
        counted_on_hand: on_hand,
        difference: on_hand - ledger_on_hand,
    })
}

/// When the carrier collects each candidate's parcel today: the latest cut-off at the
/// location among the services fast enough for the order's service level (the service
/// choice picks among those later). Orders without such a service keep no cut-off.
pub fn apply_cutoffs(
    candidates: &mut [CandidateOrder],
    location: &Location,
    services: &[ordo_warehouse::shipping::CarrierService],
    now: OffsetDateTime,
) {
    use ordo_warehouse::shipping::ServiceLevel;
    let offset = time::UtcOffset::from_whole_seconds(location.routing.utc_offset_seconds())
        .unwrap_or(time::UtcOffset::UTC);
    let today = now.to_offset(offset).date();
    for c in candidates.iter_mut() {
        let wanted = c.service_level.as_deref().and_then(ServiceLevel::parse);
        c.cutoff_at = services
            .iter()
            .filter(|s| wanted.is_none_or(|w| s.level >= w))
            .flat_map(|s| s.cutoffs.iter().filter(|k| k.location == location.code))
            .map(|k| today.with_time(k.time).assume_offset(offset))
            .max();
    }
}
