//! Backend-neutral planning of the pack station: the scanned items must be exactly what the
//! fulfillment order holds; `ordo-warehouse` chooses the boxes by product class and size;
//! the fulfillment order becomes `packed` and its packages feed the shipment.

use std::collections::{BTreeMap, HashMap};

use ordo_domain::Problem;
use ordo_domain::catalog::{Dimensions, Product};
use ordo_domain::error::Errors;
use ordo_domain::fulfillment::{FulfillmentOrder, FulfillmentStatus, parse_fulfillment_order_id};
use ordo_domain::order::{Order, OrderStatus};
use ordo_domain::shipment::Package;
use ordo_warehouse::cartonize::{BoxType, PackItem, PackedSku, PackingPlan, cartonize};
use ordo_warehouse::packing::PackingPolicies;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::capture::EventRow;
use crate::fulfillment::{FulfillmentPlan, FulfillmentWrite};

/// One scan at the pack station: a SKU or a product barcode, and how many.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PackScanInput {
    pub sku: Option<String>,
    pub barcode: Option<String>,
    /// Default 1.
    pub quantity: Option<i64>,
}

/// Body of `POST /api/v1/fulfillment-orders/{id}/pack`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PackInput {
    /// Every item scanned into the parcel(s); together exactly the fulfillment order.
    #[serde(default)]
    pub scans: Vec<PackScanInput>,
    /// Pack with only these box types instead of any configured one (the cheapest set of
    /// them that fits, as for the suggestion); each must be a known box type.
    pub boxes: Option<Vec<String>>,
    /// The weight on the scale, total over the packages, in grams.
    pub weight_g: Option<i64>,
}

/// What the pack station recorded for a fulfillment order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Packing {
    pub fulfillment_order: String,
    /// The boxes, what goes in each, and the packer's instructions by product class.
    pub plan: PackingPlan,
    /// The weight on the scale, when given.
    pub weighed_g: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub packed_at: OffsetDateTime,
}

impl Packing {
    /// The shipment's packages: each box's gross weight (the scale's total shared out by
    /// planned weight when one was recorded) and outer size.
    pub fn packages(&self) -> Vec<Package> {
        let planned: i64 = self.plan.packages.iter().map(|p| p.gross_weight_g).sum();
        self.plan
            .packages
            .iter()
            .enumerate()
            .map(|(i, p)| Package {
                number: i as u32 + 1,
                weight_g: match self.weighed_g {
                    Some(total) if planned > 0 => {
                        (total as i128 * p.gross_weight_g as i128 / planned as i128) as i64
                    }
                    _ => p.gross_weight_g,
                }
                .max(1),
                length_mm: Some(p.outer.length_mm),
                width_mm: Some(p.outer.width_mm),
                height_mm: Some(p.outer.height_mm),
            })
            .collect()
    }
}

/// Boxes a pack bench has until the merchant configures its own.
pub fn default_box_types() -> Vec<BoxType> {
    let b = |code: &str, l, w, h, max, tare, cost, features: &[&str]| BoxType {
        code: code.into(),
        inner: Dimensions {
            length_mm: l,
            width_mm: w,
            height_mm: h,
        },
        outer: None,
        max_weight_g: max,
        tare_g: tare,
        cost_minor: cost,
        features: features.iter().map(|f| f.to_string()).collect(),
    };
    vec![
        b("S", 250, 180, 100, 3_000, 120, 35, &[]),
        b("M", 350, 250, 150, 8_000, 220, 60, &[]),
        b("L", 500, 400, 300, 20_000, 450, 120, &[]),
        b("XL", 800, 600, 500, 30_000, 900, 250, &[]),
        b("COOL-M", 350, 250, 200, 8_000, 600, 450, &["insulated"]),
    ]
}

/// A product without recorded dimensions is packed as this size.
const UNKNOWN_SIZE: Dimensions = Dimensions {
    length_mm: 100,
    width_mm: 80,
    height_mm: 50,
};

/// Resolves scans to SKUs, or names each scan nobody recognises.
pub fn resolve_scans(
    scans: &[PackScanInput],
    products: &HashMap<String, Product>,
) -> Result<Vec<(String, i64)>, Problem> {
    let mut errors = Errors::default();
    if scans.is_empty() {
        errors.add("scans", "scan every item of the fulfillment order");
    }
    let out = resolve_at(|i| format!("scans[{i}]"), scans, products, &mut errors);
    errors.finish(|| out)
}

/// Resolves `scans` (scan `i` reported under `field(i)`) to SKUs; a barcode is looked up
/// among `products`, the products of the fulfillment order.
fn resolve_at(
    field: impl Fn(usize) -> String,
    scans: &[PackScanInput],
    products: &HashMap<String, Product>,
    errors: &mut Errors,
) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for (i, s) in scans.iter().enumerate() {
        let quantity = s.quantity.unwrap_or(1);
        if quantity < 1 {
            errors.add(format!("{}.quantity", field(i)), "must be at least 1");
            continue;
        }
        let sku = match (&s.sku, &s.barcode) {
            (Some(sku), _) if !sku.trim().is_empty() => Some(sku.trim().to_string()),
            (_, Some(code)) => products
                .values()
                .find(|p| p.barcode.as_deref() == Some(code.trim()))
                .map(|p| p.sku.clone()),
            _ => {
                errors.add(field(i), "give sku or barcode");
                continue;
            }
        };
        match sku {
            Some(sku) => out.push((sku, quantity)),
            None => errors.add(
                format!("{}.barcode", field(i)),
                "no item of this fulfillment order has this barcode",
            ),
        }
    }
    out
}

/// The fulfillment order `fo_id` of `order` if it can be packed now.
fn packable<'o>(order: &'o Order, fo_id: &str) -> Result<&'o FulfillmentOrder, Problem> {
    let fo: &FulfillmentOrder = order
        .fulfillment_orders
        .iter()
        .find(|f| f.id == fo_id)
        .ok_or_else(|| Problem::NotFound(format!("fulfillment order {fo_id}")))?;
    if order.status == OrderStatus::OnHold {
        return Err(Problem::Conflict {
            message: format!("order {} is on hold; release it first", order.number),
            current: Some(order.status.as_str().into()),
        });
    }
    if !matches!(
        fo.status,
        FulfillmentStatus::Open | FulfillmentStatus::InProgress | FulfillmentStatus::Picked
    ) || fo.lines.is_empty()
    {
        return Err(Problem::Conflict {
            message: format!(
                "fulfillment order {fo_id} is {}; it cannot be packed",
                fo.status.as_str()
            ),
            current: Some(fo.status.as_str().into()),
        });
    }
    Ok(fo)
}

/// Units per SKU of a fulfillment order.
fn wanted(fo: &FulfillmentOrder) -> BTreeMap<&str, i64> {
    let mut want: BTreeMap<&str, i64> = BTreeMap::new();
    for l in &fo.lines {
        *want.entry(l.sku.as_str()).or_default() += l.quantity;
    }
    want
}

/// `MUG × 2, VASE × 1`: what is still to scan, for the packer.
fn still_to_scan(left: &[PackedSku]) -> String {
    if left.is_empty() {
        return "nothing: every item is scanned".into();
    }
    left.iter()
        .map(|p| format!("{} × {}", p.sku, p.quantity))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Body of `POST /api/v1/fulfillment-orders/{id}/pack-scans`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PackScanCheckInput {
    /// The items accepted so far at this pack station.
    #[serde(default)]
    pub scanned: Vec<PackScanInput>,
    /// The item just scanned.
    pub scan: Option<PackScanInput>,
}

/// The answer to an accepted pack-station scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PackScanCheck {
    pub fulfillment_order: String,
    /// The SKU the scan was read as.
    pub sku: String,
    /// Units of this SKU scanned so far, this scan included.
    pub scanned: i64,
    /// Units of this SKU in the fulfillment order.
    pub ordered: i64,
    /// What is still to scan after this scan.
    pub remaining: Vec<PackedSku>,
    /// Every item is scanned: the order can be packed.
    pub complete: bool,
}

/// Checks one pack-station scan against the fulfillment order, given what was scanned
/// before: a wrong item or one more than ordered is refused, naming what is still expected.
/// Nothing is written: the scanner keeps the list and packs with it at the end.
pub fn check_pack_scan(
    order: &Order,
    fo_id: &str,
    input: &PackScanCheckInput,
    products: &HashMap<String, Product>,
) -> Result<PackScanCheck, Problem> {
    let fo = packable(order, fo_id)?;
    let want = wanted(fo);
    let mut errors = Errors::default();
    let before = resolve_at(
        |i| format!("scanned[{i}]"),
        &input.scanned,
        products,
        &mut errors,
    );
    let Some(scan) = &input.scan else {
        errors.add("scan", "give the scanned item's sku or barcode");
        return Err(Problem::Invalid(errors.0));
    };
    let this = resolve_at(
        |_| "scan".into(),
        std::slice::from_ref(scan),
        products,
        &mut errors,
    );
    let mut got: BTreeMap<&str, i64> = BTreeMap::new();
    for (sku, q) in &before {
        *got.entry(sku.as_str()).or_default() += q;
    }
    for (sku, q) in &got {
        match want.get(sku) {
            None => errors.add("scanned", format!("{sku} is not in this fulfillment order")),
            Some(w) if q > w => errors.add(
                "scanned",
                format!("{q} × {sku} scanned, the fulfillment order has {w}"),
            ),
            _ => {}
        }
    }
    let left = |got: &BTreeMap<&str, i64>| -> Vec<PackedSku> {
        want.iter()
            .map(|(sku, w)| PackedSku {
                sku: sku.to_string(),
                quantity: w - got.get(sku).copied().unwrap_or(0),
            })
            .filter(|p| p.quantity > 0)
            .collect()
    };
    // A scan whose barcode nobody in the order has is a wrong item: say what is expected.
    let scan_field = if scan.sku.as_deref().is_some_and(|s| !s.trim().is_empty()) {
        "scan.sku"
    } else {
        "scan.barcode"
    };
    if this.is_empty() {
        if errors.0.iter().any(|e| e.field == "scan.barcode") {
            errors.0.retain(|e| e.field != "scan.barcode");
            errors.add(
                "scan.barcode",
                format!(
                    "no item of this fulfillment order has barcode {}; expected {}",
                    scan.barcode.as_deref().unwrap_or_default().trim(),
                    still_to_scan(&left(&got))
                ),
            );
        }
        return Err(Problem::Invalid(errors.0));
    }
    if !errors.is_empty() {
        return Err(Problem::Invalid(errors.0));
    }
    let (sku, quantity) = this.into_iter().next().expect("one scan resolved");
    let Some(&ordered) = want.get(sku.as_str()) else {
        return Err(Problem::invalid(
            scan_field,
            format!(
                "wrong item: {sku} is not in this fulfillment order; expected {}",
                still_to_scan(&left(&got))
            ),
        ));
    };
    let already = got.get(sku.as_str()).copied().unwrap_or(0);
    if already + quantity > ordered {
        return Err(Problem::invalid(
            scan_field,
            format!(
                "extra item: the fulfillment order has {ordered} × {sku} and {already} are scanned; expected {}",
                still_to_scan(&left(&got))
            ),
        ));
    }
    *got.entry(sku.as_str()).or_default() += quantity;
    let remaining = left(&got);
    Ok(PackScanCheck {
        fulfillment_order: fo_id.to_string(),
        scanned: already + quantity,
        ordered,
        complete: remaining.is_empty(),
        remaining,
        sku,
    })
}

/// The items of a fulfillment order as the cartoniser sees them.
fn pack_items(want: &BTreeMap<&str, i64>, products: &HashMap<String, Product>) -> Vec<PackItem> {
    want.iter()
        .map(|(sku, q)| {
            let p = products.get(*sku);
            PackItem {
                sku: sku.to_string(),
                dimensions: p.and_then(|p| p.dimensions.clone()).unwrap_or(UNKNOWN_SIZE),
                weight_g: p.map_or(0, |p| p.weight_g).max(1),
                handling_classes: p.map(|p| p.handling_classes.clone()).unwrap_or_default(),
                quantity: *q,
            }
        })
        .collect()
}

/// The box types the packer may use: the ones named (each must exist), else all.
fn usable_boxes(named: Option<&[String]>, boxes: &[BoxType]) -> Result<Vec<BoxType>, Problem> {
    let Some(codes) = named else {
        return Ok(boxes.to_vec());
    };
    let mut errors = Errors::default();
    let mut chosen: Vec<BoxType> = Vec::new();
    for (i, code) in codes.iter().enumerate() {
        match boxes.iter().find(|b| &b.code == code) {
            Some(b) if chosen.iter().all(|c| c.code != b.code) => chosen.push(b.clone()),
            Some(_) => {}
            None => errors.add(format!("boxes[{i}]"), format!("unknown box type {code}")),
        }
    }
    if codes.is_empty() {
        errors.add("boxes", "name at least one box type, or leave boxes out");
    }
    errors.finish(|| chosen)
}

/// Body of `POST /api/v1/fulfillment-orders/{id}/pack-plan`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct PackPlanInput {
    /// Plan with only these box types (to try another box than the suggestion).
    pub boxes: Option<Vec<String>>,
}

/// The packing the pack station suggests for a fulfillment order (boxes by size and product
/// class, items per box, the packer's instructions), exactly as packing would choose it.
pub fn suggest_pack(
    order: &Order,
    fo_id: &str,
    named_boxes: Option<&[String]>,
    products: &HashMap<String, Product>,
    boxes: &[BoxType],
    policies: &PackingPolicies,
) -> Result<PackingPlan, Problem> {
    let fo = packable(order, fo_id)?;
    let usable = usable_boxes(named_boxes, boxes)?;
    cartonize(&pack_items(&wanted(fo), products), &usable, policies)
}

/// Checks the scanned items against the fulfillment order, chooses (or checks) the boxes
/// and moves the fulfillment order to `packed`.
pub fn plan_pack(
    order: &Order,
    fo_id: &str,
    input: &PackInput,
    products: &HashMap<String, Product>,
    boxes: &[BoxType],
    policies: &PackingPolicies,
    now: OffsetDateTime,
) -> Result<(FulfillmentPlan, Packing), Problem> {
    let fo = packable(order, fo_id)?;
    let scanned = resolve_scans(&input.scans, products)?;
    let want = wanted(fo);
    let mut got: BTreeMap<&str, i64> = BTreeMap::new();
    for (sku, q) in &scanned {
        *got.entry(sku.as_str()).or_default() += q;
    }
    let mut errors = Errors::default();
    for (sku, q) in &got {
        match want.get(sku) {
            None => errors.add(
                "scans",
                format!("{sku} is not in this fulfillment order; take it out"),
            ),
            Some(w) if q > w => errors.add(
                "scans",
                format!("{q} × {sku} scanned, the fulfillment order has {w}"),
            ),
            _ => {}
        }
    }
    for (sku, w) in &want {
        let q = got.get(sku).copied().unwrap_or(0);
        if q < *w {
            errors.add("scans", format!("{sku}: {q} of {w} scanned"));
        }
    }
    if let Some(w) = input.weight_g
        && w <= 0
    {
        errors.add("weight_g", "must be positive");
    }
    if !errors.is_empty() {
        return Err(Problem::Invalid(errors.0));
    }
    let usable = usable_boxes(input.boxes.as_deref(), boxes)?;
    let plan = cartonize(&pack_items(&want, products), &usable, policies)?;
    let mut fulfillment = FulfillmentPlan::default();
    fulfillment.writes.push(FulfillmentWrite {
        fo_no: parse_fulfillment_order_id(fo_id).map_or(0, |(_, n)| n),
        location: fo.location.clone(),
        status: FulfillmentStatus::Packed,
        request_status: fo.request_status,
        reason: None,
        closed_lines: None,
        lines: fo.lines.clone(),
        created: false,
    });
    fulfillment.events.push(EventRow {
        kind: "fulfillment_order.packed",
        data: serde_json::json!({
            "number": order.number, "fulfillment_order": fo_id,
            "boxes": plan.packages.iter().map(|p| p.box_code.clone()).collect::<Vec<_>>(),
            "weight_g": input.weight_g,
        }),
    });
    Ok((
        fulfillment,
        Packing {
            fulfillment_order: fo_id.to_string(),
            plan,
            weighed_g: input.weight_g,
            packed_at: now,
        },
    ))
}

/// The settings key of a location's packing policies (`None`: shop-wide).
pub fn packing_policies_key(location: Option<&str>) -> String {
    match location {
        Some(l) => format!("packing_policies:{l}"),
        None => "packing_policies".into(),
    }
}

/// The fulfillment order's location, for its packing policies.
pub fn fulfillment_location<'o>(order: &'o Order, fo_id: &str) -> Option<&'o str> {
    order
        .fulfillment_orders
        .iter()
        .find(|f| f.id == fo_id)
        .map(|f| f.location.as_str())
}
