//! The pack bench: find a fulfillment order by scanning its tote (`PL-000001-T2`), its id
//! or the order number (`/packing`), see the boxes the planner suggests and what its
//! handling classes need, scan its items into the parcel (`/packing/{fo}`), pack (the store
//! checks the items are exactly the fulfillment order's and chooses the boxes, or takes the
//! packer's), then print the packing slips and the label, which ships it.
//!
//! Scans are tallied on the server but kept nowhere: the page carries the tally in hidden
//! fields (`scan` = `{quantity} {sku}`; SKUs hold no whitespace), each scan posts it back
//! with the new code, and "Pack" sends it to the store. A wrong or extra item is refused at
//! the scan already; the store checks the whole tally again when packing.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use ordo_domain::catalog::Product;
use ordo_domain::fulfillment::{FulfillmentOrder, FulfillmentStatus, parse_fulfillment_order_id};
use ordo_domain::order::{Order, OrderStatus};
use ordo_domain::shipment::{ShipmentInput, ShipmentStatus};
use ordo_domain::{FieldError, Problem};
use ordo_store::{
    FulfillmentFilter, Outcome, PackInput, PackScanInput, Packing, PageRequest, Permission,
    ShipmentFilter, StoreError, plan_pack,
};
use ordo_warehouse::cartonize::BoxType;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::WebState;
use crate::error::{WebError, WebResult, sentence};
use crate::form::{FormData, encode};
use crate::fulfillment::{is_htmx, lines_text};
use crate::orders::Opt;
use crate::picking::{Feedback, parse_tote_code, tote_codes, tote_order};
use crate::session::{Auth, Posted};
use crate::shipments::{carrier_name, label_href};
use crate::view::{PageCtx, fmt_time, group, humanize, page, page_with_inline_flash};

const MAX_QUANTITY: i64 = 10_000;
const LIST_SIZE: i64 = 50;
/// Pick jobs read to tell the totes of the orders waiting at the bench.
const RECENT_JOBS: i64 = 50;

/// What the pack bench may still pack (the store decides; this only chooses the screen).
fn packable(f: &FulfillmentOrder) -> bool {
    matches!(
        f.status,
        FulfillmentStatus::Open | FulfillmentStatus::InProgress | FulfillmentStatus::Picked
    ) && !f.lines.is_empty()
}

// ---------------------------------------------------------------------------------------
// `/packing`: find the fulfillment order

#[derive(Debug, Default, Deserialize)]
pub(crate) struct FindQuery {
    q: Option<String>,
}

struct FoRow {
    id: String,
    /// The tote it was picked into (`PL-000001-T2`), when a recent pick job holds it.
    tote: String,
    order: String,
    location: String,
    lines: String,
    units: i64,
    updated: String,
}

impl FoRow {
    fn new(f: &FulfillmentOrder) -> Self {
        FoRow {
            id: f.id.clone(),
            tote: String::new(),
            order: f.order.clone(),
            location: f.location.clone(),
            lines: lines_text(&f.lines),
            units: f.units(),
            updated: fmt_time(f.updated_at),
        }
    }
}

#[derive(Template)]
#[template(path = "packing.html")]
struct FindPage {
    ctx: PageCtx,
    q: String,
    error: Option<String>,
    /// The order scanned has several fulfillment orders to pack: choose one.
    choices: Vec<FoRow>,
    ready: Vec<FoRow>,
    ready_more: bool,
    packed: Vec<FoRow>,
}

async fn fos_with(s: &WebState, status: FulfillmentStatus) -> WebResult<(Vec<FoRow>, bool)> {
    let page = s
        .store
        .list_fulfillment_orders(
            &FulfillmentFilter {
                location: None,
                status: Some(status),
            },
            &PageRequest {
                limit: Some(LIST_SIZE),
                cursor: None,
            },
        )
        .await?;
    Ok((
        page.items.iter().map(FoRow::new).collect(),
        page.next_cursor.is_some(),
    ))
}

/// `GET /packing`: the scan box for a fulfillment order id or order number, and the
/// fulfillment orders picked and waiting for the bench.
pub(crate) async fn find(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<FindQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let text = q.q.as_deref().map(str::trim).unwrap_or("").to_string();
    let mut error = None;
    let mut choices = Vec::new();
    if let Some((job_id, n)) = parse_tote_code(&text) {
        match s.store.get_pick_job(&job_id).await? {
            Some(job) => match tote_order(&job, n) {
                Some(fo) => {
                    return Ok(Redirect::to(&format!("/packing/{}", encode(&fo))).into_response());
                }
                None => error = Some(format!("{job_id} has no tote or list {n}.")),
            },
            None => {
                error = Some(format!(
                    "Nothing found for {text}: there is no pick job {job_id}."
                ))
            }
        }
    } else if !text.is_empty() {
        let upper = text.to_ascii_uppercase();
        if parse_fulfillment_order_id(&upper).is_some()
            && let Some(fo) = s.store.get_fulfillment_order(&upper).await?
        {
            return Ok(Redirect::to(&format!("/packing/{}", encode(&fo.id))).into_response());
        }
        match s.store.get_order(&upper).await? {
            Some(order) => {
                let mut open: Vec<&FulfillmentOrder> = order
                    .fulfillment_orders
                    .iter()
                    .filter(|f| packable(f))
                    .collect();
                // Picked ones first: they are on the bench now.
                open.sort_by_key(|f| f.status != FulfillmentStatus::Picked);
                let picked = open
                    .iter()
                    .filter(|f| f.status == FulfillmentStatus::Picked)
                    .count();
                if open.len() == 1 || picked == 1 {
                    return Ok(
                        Redirect::to(&format!("/packing/{}", encode(&open[0].id))).into_response()
                    );
                }
                if open.is_empty() {
                    error = Some(format!(
                        "{} has nothing to pack: {}.",
                        order.number,
                        order
                            .fulfillment_orders
                            .iter()
                            .map(|f| format!(
                                "{} is {}",
                                f.id,
                                humanize(f.status.as_str()).to_lowercase()
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                } else {
                    choices = open.into_iter().map(FoRow::new).collect();
                }
            }
            None => {
                error = Some(format!(
                    "Nothing found for {text}: scan a tote (PL-000001-T2), a fulfillment order (SO-000123-1) or an order number."
                ));
            }
        }
    }
    let (mut ready, ready_more) = fos_with(&s, FulfillmentStatus::Picked).await?;
    // Which tote each waiting order sits in, from the recent pick jobs (newest first, so a
    // re-picked order shows its latest tote).
    let jobs = s
        .store
        .list_pick_jobs(
            None,
            None,
            &PageRequest {
                limit: Some(RECENT_JOBS),
                cursor: None,
            },
        )
        .await?;
    let mut totes: HashMap<String, String> = HashMap::new();
    for job in &jobs.items {
        for (fo, code) in tote_codes(job) {
            totes.entry(fo).or_insert(code);
        }
    }
    for row in &mut ready {
        if let Some(code) = totes.get(&row.id) {
            row.tote = code.clone();
        }
    }
    let (packed, _) = fos_with(&s, FulfillmentStatus::Packed).await?;
    let p = FindPage {
        ctx: PageCtx::new(&auth, "packing"),
        q: text,
        error,
        choices,
        ready,
        ready_more,
        packed,
    };
    let mut r = page(&p.ctx, &p)?;
    if p.error.is_some() {
        *r.status_mut() = StatusCode::NOT_FOUND;
    }
    Ok(r)
}

// ---------------------------------------------------------------------------------------
// `/packing/{fo}`: scan, pack, print

/// The scans so far, per SKU in the order first scanned.
#[derive(Default, Clone)]
struct Tally(Vec<(String, i64)>);

impl Tally {
    fn parse(form: &FormData) -> Self {
        let mut t = Tally::default();
        for v in form.all("scan") {
            if let Some((q, sku)) = v.split_once(' ')
                && let Ok(q) = q.parse::<i64>()
                && q > 0
                && !sku.trim().is_empty()
            {
                t.add(sku.trim(), q);
            }
        }
        t
    }
    fn get(&self, sku: &str) -> i64 {
        self.0.iter().find(|(s, _)| s == sku).map_or(0, |(_, q)| *q)
    }
    fn add(&mut self, sku: &str, q: i64) {
        match self.0.iter_mut().find(|(s, _)| s == sku) {
            Some((_, n)) => *n += q,
            None => self.0.push((sku.to_string(), q)),
        }
    }
    fn hidden(&self) -> Vec<String> {
        self.0.iter().map(|(s, q)| format!("{q} {s}")).collect()
    }
    fn units(&self) -> i64 {
        self.0.iter().map(|(_, q)| q).sum()
    }
}

struct ItemRow {
    sku: String,
    name: String,
    barcode: String,
    classes: Vec<(&'static str, String)>,
    expected: i64,
    scanned: i64,
    done: bool,
}

struct PackageView {
    n: usize,
    box_code: String,
    outer: String,
    weight: String,
    items: String,
    markings: Vec<String>,
    materials: Vec<String>,
    instructions: Vec<String>,
    slip_href: String,
}

/// A box the planner suggests, with what the packer must do for what goes in it.
struct SuggestedBox {
    n: usize,
    box_code: String,
    outer: String,
    weight: String,
    items: String,
    markings: Vec<String>,
    materials: Vec<String>,
    instructions: Vec<String>,
}

/// The planner's answer before packing: the boxes, or why nothing fits.
struct Suggestion {
    boxes: Vec<SuggestedBox>,
    refusal: Option<String>,
    /// Planned in the box the packer chose rather than the cheapest.
    chosen: bool,
}

impl Suggestion {
    /// `S` or `S + M`, as the box menu offers the suggestion.
    fn codes(&self) -> String {
        self.boxes
            .iter()
            .map(|b| b.box_code.as_str())
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// A shipment of this fulfillment order and its labels.
struct LabelView {
    id: String,
    carrier: String,
    service: String,
    tracking_number: String,
    /// `(package number, href)`.
    pdfs: Vec<(u32, String)>,
}

struct PackedView {
    packed_at: String,
    weighed: Option<String>,
    packages: Vec<PackageView>,
}

#[derive(Template)]
#[template(path = "pack.html")]
struct PackPage {
    ctx: PageCtx,
    fo: String,
    order: String,
    location: String,
    status: &'static str,
    status_label: String,
    notice: Option<String>,
    can_pack: bool,
    /// Packed and not to be packed again: every item shows as in the parcel.
    packed: bool,
    items: Vec<ItemRow>,
    tally: Vec<String>,
    expected_units: i64,
    scanned_units: i64,
    complete: bool,
    feedback: Option<Feedback>,
    code_error: bool,
    quantity: String,
    quantity_error: bool,
    weight: String,
    weight_error: bool,
    boxes: Vec<Opt>,
    box_error: bool,
    packing: Option<PackedView>,
    can_ship: bool,
    suggestion: Option<Suggestion>,
    labels: Vec<LabelView>,
    /// The label to open at once, just printed from this screen.
    open_label: Option<String>,
}

/// The last form's outcome on the pack screen.
struct PackFeedback {
    ok: bool,
    text: String,
    details: Vec<String>,
    /// Inputs to mark: `code`, `quantity`, `weight_g`, `box`.
    fields: Vec<String>,
    values: Option<FormData>,
    tally: Tally,
    /// A label just created, to open for printing.
    label: Option<String>,
}

impl PackFeedback {
    fn ok(text: String, details: Vec<String>, tally: Tally) -> Self {
        PackFeedback {
            ok: true,
            text,
            details,
            fields: vec![],
            values: None,
            tally,
            label: None,
        }
    }
    fn refused(
        text: String,
        details: Vec<String>,
        field: &str,
        values: FormData,
        tally: Tally,
    ) -> Self {
        PackFeedback {
            ok: false,
            text,
            details,
            fields: vec![field.to_string()],
            values: Some(values),
            tally,
            label: None,
        }
    }
}

fn class_label(c: &str) -> &'static str {
    match c {
        "fragile" => "FRAGILE",
        "hazmat" => "HAZMAT",
        "perishable" => "PERISHABLE",
        "oversize" => "OVERSIZE",
        _ => "",
    }
}

fn dims(d: &ordo_domain::catalog::Dimensions) -> String {
    format!(
        "{} × {} × {} mm",
        group(&d.length_mm.to_string()),
        group(&d.width_mm.to_string()),
        group(&d.height_mm.to_string())
    )
}

fn packed_view(p: &Packing) -> PackedView {
    let fo = &p.fulfillment_order;
    let shipped = p.packages();
    PackedView {
        packed_at: fmt_time(p.packed_at),
        weighed: p.weighed_g.map(|w| format!("{} g", group(&w.to_string()))),
        packages: p
            .plan
            .packages
            .iter()
            .enumerate()
            .map(|(i, pkg)| PackageView {
                n: i + 1,
                box_code: pkg.box_code.clone(),
                outer: dims(&pkg.outer),
                weight: format!(
                    "{} g",
                    group(
                        &shipped
                            .get(i)
                            .map_or(pkg.gross_weight_g, |s| s.weight_g)
                            .to_string()
                    )
                ),
                items: pkg
                    .items
                    .iter()
                    .map(|it| format!("{} × {}", it.quantity, it.sku))
                    .collect::<Vec<_>>()
                    .join(", "),
                markings: pkg.markings.clone(),
                materials: pkg.materials.iter().map(|m| humanize(m)).collect(),
                instructions: pkg.instructions.clone(),
                slip_href: if i == 0 {
                    format!("/packing/{}/packing-slip.pdf", encode(fo))
                } else {
                    format!("/packing/{}/packing-slip.pdf?package={}", encode(fo), i + 1)
                },
            })
            .collect(),
    }
}

async fn load(s: &WebState, id: &str) -> WebResult<(FulfillmentOrder, Order)> {
    let fo = s
        .store
        .get_fulfillment_order(id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("Fulfillment order {id}")))?;
    let order = s
        .store
        .get_order(&fo.order)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("Order {}", fo.order)))?;
    Ok((fo, order))
}

async fn products_of(s: &WebState, fo: &FulfillmentOrder) -> WebResult<HashMap<String, Product>> {
    let mut out = HashMap::new();
    for l in &fo.lines {
        if !out.contains_key(&l.sku)
            && let Some(p) = s.store.get_product(&l.sku).await?
        {
            out.insert(l.sku.clone(), p);
        }
    }
    Ok(out)
}

/// Units of each SKU the fulfillment order holds, in line order.
fn expected(fo: &FulfillmentOrder) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = Vec::new();
    for l in &fo.lines {
        match out.iter_mut().find(|(s, _)| *s == l.sku) {
            Some((_, q)) => *q += l.quantity,
            None => out.push((l.sku.clone(), l.quantity)),
        }
    }
    out
}

/// What packing would give right now: the pack command's own planner (`plan_pack`) over
/// exactly the fulfillment order's items, with the bench's boxes and the location's
/// policies. Only a plan: nothing is written, and packing plans again.
async fn suggest(
    s: &WebState,
    order: &Order,
    fo: &FulfillmentOrder,
    products: &HashMap<String, Product>,
    boxes: &[BoxType],
    chosen: &str,
) -> WebResult<Suggestion> {
    let policies = s.store.packing_policies(&fo.location).await?;
    let input = PackInput {
        scans: expected(fo)
            .into_iter()
            .map(|(sku, q)| PackScanInput {
                sku: Some(sku),
                barcode: None,
                quantity: Some(q),
            })
            .collect(),
        boxes: (!chosen.is_empty()).then(|| vec![chosen.to_string()]),
        weight_g: None,
    };
    let now = OffsetDateTime::now_utc();
    Ok(
        match plan_pack(order, &fo.id, &input, products, boxes, &policies, now) {
            Ok((_, packing)) => Suggestion {
                boxes: packing
                    .plan
                    .packages
                    .iter()
                    .enumerate()
                    .map(|(i, pkg)| SuggestedBox {
                        n: i + 1,
                        box_code: pkg.box_code.clone(),
                        outer: dims(&pkg.outer),
                        weight: format!("{} g", group(&pkg.gross_weight_g.to_string())),
                        items: pkg
                            .items
                            .iter()
                            .map(|it| format!("{} × {}", it.quantity, it.sku))
                            .collect::<Vec<_>>()
                            .join(", "),
                        markings: pkg.markings.clone(),
                        materials: pkg.materials.iter().map(|m| humanize(m)).collect(),
                        instructions: pkg.instructions.clone(),
                    })
                    .collect(),
                refusal: None,
                chosen: !chosen.is_empty(),
            },
            Err(p) => {
                let (text, details) = crate::error::describe(&p);
                Suggestion {
                    chosen: !chosen.is_empty(),
                    boxes: vec![],
                    refusal: Some(
                        std::iter::once(text)
                            .chain(details)
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                }
            }
        },
    )
}

/// The fulfillment order's shipments that still hold (not voided), with their labels.
async fn labels_of(s: &WebState, fo: &FulfillmentOrder) -> WebResult<Vec<LabelView>> {
    let page = s
        .store
        .list_shipments(
            &ShipmentFilter {
                order: Some(fo.order.clone()),
                location: None,
                status: None,
            },
            &PageRequest {
                limit: Some(LIST_SIZE),
                cursor: None,
            },
        )
        .await?;
    Ok(page
        .items
        .iter()
        .filter(|sh| sh.fulfillment_order == fo.id && sh.status != ShipmentStatus::Voided)
        .map(|sh| LabelView {
            id: sh.id.clone(),
            carrier: carrier_name(&sh.carrier),
            service: humanize(&sh.service),
            tracking_number: sh.tracking_number.clone(),
            pdfs: sh
                .packages
                .iter()
                .map(|p| (p.number, label_href(&sh.id, p.number, "pdf")))
                .collect(),
        })
        .collect())
}

async fn pack_page(
    s: &WebState,
    auth: &Auth,
    id: &str,
    fb: Option<PackFeedback>,
    chosen_box: Option<String>,
) -> WebResult<(PackPage, bool)> {
    let (fo, order) = load(s, id).await?;
    let products = products_of(s, &fo).await?;
    let packing = s.store.get_packing(&fo.id).await?;
    let tally = fb.as_ref().map(|f| f.tally.clone()).unwrap_or_default();
    let want = expected(&fo);
    let packed = packing.is_some() && !packable(&fo);
    let items: Vec<ItemRow> = want
        .iter()
        .map(|(sku, q)| {
            let p = products.get(sku);
            let scanned = if packed { *q } else { tally.get(sku) };
            ItemRow {
                sku: sku.clone(),
                name: p.map_or_else(String::new, |p| p.name.clone()),
                barcode: p.and_then(|p| p.barcode.clone()).unwrap_or_default(),
                classes: p
                    .map(|p| {
                        p.handling_classes
                            .iter()
                            .map(|c| (c.as_str(), class_label(c.as_str()).to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                expected: *q,
                scanned,
                done: scanned == *q,
            }
        })
        .collect();
    let expected_units: i64 = want.iter().map(|(_, q)| q).sum();
    let on_hold = order.status == OrderStatus::OnHold;
    let can_pack = packable(&fo) && !on_hold && auth.allows(Permission::WriteStock);
    let notice = if on_hold {
        Some(format!(
            "{} is on hold: release it before packing.",
            order.number
        ))
    } else {
        match fo.status {
            FulfillmentStatus::Open | FulfillmentStatus::InProgress if packable(&fo) => {
                Some(format!(
                    "{} is not picked yet ({}): pack it only if the items are at the bench.",
                    fo.id,
                    humanize(fo.status.as_str()).to_lowercase()
                ))
            }
            FulfillmentStatus::Packed => Some(format!(
                "{} is packed: print its label and packing slips.",
                fo.id
            )),
            FulfillmentStatus::Shipped => Some(format!("{} has shipped.", fo.id)),
            FulfillmentStatus::Cancelled | FulfillmentStatus::OnHold => Some(format!(
                "{} is {}: there is nothing to pack.",
                fo.id,
                humanize(fo.status.as_str()).to_lowercase()
            )),
            _ => None,
        }
    };
    let mut ctx = PageCtx::new(auth, "packing");
    let had_flash = ctx.flash.is_some();
    let feedback = match &fb {
        Some(f) if !f.text.is_empty() => Some(Feedback {
            ok: f.ok,
            text: f.text.clone(),
            details: f.details.clone(),
        }),
        _ => ctx.flash.take().map(|f| Feedback {
            ok: f.ok,
            text: f.text,
            details: vec![],
        }),
    };
    let marked = |field: &str| {
        fb.as_ref()
            .is_some_and(|f| !f.ok && f.fields.iter().any(|x| x == field))
    };
    let kept = |field: &str| {
        fb.as_ref()
            .and_then(|f| f.values.as_ref())
            .map(|v| v.raw(field).trim().to_string())
    };
    // The box the packer chose (kept from a refused pack, or previewed), else the planner's.
    let chosen_box = chosen_box
        .or_else(|| kept("box").filter(|b| !b.is_empty()))
        .unwrap_or_default();
    let box_types = if can_pack {
        s.store.box_types().await?
    } else {
        vec![]
    };
    let suggestion = if can_pack {
        Some(suggest(s, &order, &fo, &products, &box_types, &chosen_box).await?)
    } else {
        None
    };
    let labels = if packing.is_some() {
        labels_of(s, &fo).await?
    } else {
        vec![]
    };
    let open_label = fb
        .as_ref()
        .and_then(|f| f.label.clone())
        .filter(|href| labels.iter().flat_map(|l| &l.pdfs).any(|(_, h)| h == href));
    let p = PackPage {
        ctx,
        fo: fo.id.clone(),
        order: order.number.clone(),
        location: fo.location.clone(),
        status: fo.status.as_str(),
        status_label: humanize(fo.status.as_str()),
        notice,
        can_pack,
        packed,
        scanned_units: tally.units(),
        complete: tally.units() == expected_units && items.iter().all(|i| i.done),
        tally: tally.hidden(),
        items,
        expected_units,
        feedback,
        code_error: marked("code"),
        quantity: kept("quantity")
            .filter(|q| !q.is_empty() && marked("quantity"))
            .unwrap_or_else(|| "1".into()),
        quantity_error: marked("quantity"),
        weight: kept("weight_g").unwrap_or_default(),
        weight_error: marked("weight_g"),
        boxes: box_types
            .iter()
            .map(|b| Opt {
                value: b.code.clone(),
                label: format!(
                    "{} ({}, up to {} g){}",
                    b.code,
                    dims(&b.inner),
                    group(&b.max_weight_g.to_string()),
                    if b.features.is_empty() {
                        String::new()
                    } else {
                        format!(" · {}", b.features.join(", "))
                    }
                ),
                selected: b.code == chosen_box,
            })
            .collect(),
        box_error: marked("box"),
        can_ship: fo.status == FulfillmentStatus::Packed
            && !on_hold
            && auth.allows(Permission::WriteStock),
        packing: packing.as_ref().map(packed_view),
        suggestion,
        labels,
        open_label,
    };
    Ok((p, had_flash))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ShowQuery {
    /// A box the packer chose: the suggestion shows how the items go into it.
    #[serde(rename = "box")]
    chosen: Option<String>,
}

/// `GET /packing/{fo}`: the items to scan, or what was packed.
pub(crate) async fn show(
    State(s): State<WebState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let chosen = q
        .chosen
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty());
    let (p, had_flash) = pack_page(&s, &auth, &id, None, chosen).await?;
    page_with_inline_flash(had_flash, &p)
}

async fn answer(
    s: &WebState,
    auth: &Auth,
    id: &str,
    status: StatusCode,
    fb: PackFeedback,
) -> WebResult {
    let (p, had_flash) = pack_page(s, auth, id, Some(fb), None).await?;
    let mut r = page_with_inline_flash(had_flash, &p)?;
    *r.status_mut() = status;
    Ok(r)
}

/// `POST /packing/{fo}/scan`: one item into the parcel. Nothing is stored: the tally
/// travels with the page.
pub(crate) async fn scan(
    State(s): State<WebState>,
    Path(id): Path<String>,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    auth.require(Permission::WriteStock)?;
    let (fo, _) = load(&s, &id).await?;
    let mut tally = Tally::parse(&form);
    let want = expected(&fo);
    let left = |tally: &Tally| {
        want.iter()
            .filter(|(sku, q)| tally.get(sku) < *q)
            .map(|(sku, q)| format!("{sku} ({} more)", q - tally.get(sku)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(code) = form.get("code") else {
        let fb = PackFeedback::refused(
            "Scan an item (its SKU or barcode).".into(),
            vec![],
            "code",
            form,
            tally,
        );
        return answer(&s, &auth, &id, StatusCode::UNPROCESSABLE_ENTITY, fb).await;
    };
    let quantity = match form.get("quantity").map(|q| q.parse::<i64>()) {
        None => 1,
        Some(Ok(q)) if (1..=MAX_QUANTITY).contains(&q) => q,
        Some(_) => {
            let fb = PackFeedback::refused(
                format!("Quantity: must be a whole number from 1 to {MAX_QUANTITY}."),
                vec![],
                "quantity",
                form,
                tally,
            );
            return answer(&s, &auth, &id, StatusCode::UNPROCESSABLE_ENTITY, fb).await;
        }
    };
    let products = products_of(&s, &fo).await?;
    let sku = want
        .iter()
        .find(|(sku, _)| sku.eq_ignore_ascii_case(&code))
        .map(|(sku, _)| sku.clone())
        .or_else(|| {
            products
                .values()
                .find(|p| p.barcode.as_deref() == Some(code.as_str()))
                .map(|p| p.sku.clone())
        });
    let Some(sku) = sku else {
        let fb = PackFeedback::refused(
            format!("Wrong item: {code} is not in {}. Set it aside.", fo.id),
            vec![format!("Still to scan: {}.", left(&tally))],
            "code",
            form,
            tally,
        );
        return answer(&s, &auth, &id, StatusCode::UNPROCESSABLE_ENTITY, fb).await;
    };
    let need = want.iter().find(|(s, _)| *s == sku).map_or(0, |(_, q)| *q);
    let have = tally.get(&sku);
    if have + quantity > need {
        let fb = PackFeedback::refused(
            format!(
                "Too many: {} has {need} × {sku}; {have} already scanned, {quantity} more would be over. Set it aside.",
                fo.id
            ),
            vec![],
            "code",
            form,
            tally,
        );
        return answer(&s, &auth, &id, StatusCode::UNPROCESSABLE_ENTITY, fb).await;
    }
    tally.add(&sku, quantity);
    let remaining = left(&tally);
    let text = format!(
        "{quantity} × {sku} scanned ({} of {need}).",
        have + quantity
    );
    let details = if remaining.is_empty() {
        vec!["Every item is scanned: weigh the parcel and pack.".into()]
    } else {
        vec![format!("Still to scan: {remaining}.")]
    };
    answer(
        &s,
        &auth,
        &id,
        StatusCode::OK,
        PackFeedback::ok(text, details, tally),
    )
    .await
}

/// `POST /packing/{fo}/pack`: the store checks the tally is exactly the fulfillment order
/// and chooses the boxes; the fulfillment order becomes `packed`.
pub(crate) async fn pack(
    State(s): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    auth.require(Permission::WriteStock)?;
    let (fo, _) = load(&s, &id).await?;
    let tally = Tally::parse(&form);
    let mut errors = Vec::new();
    let weight_g = match form.get("weight_g").map(|w| w.parse::<i64>()) {
        None => None,
        Some(Ok(w)) if w > 0 => Some(w),
        Some(_) => {
            errors.push(FieldError::new(
                "weight_g",
                "must be a whole number of grams above 0",
            ));
            None
        }
    };
    let result = if errors.is_empty() {
        s.store
            .pack_fulfillment_order(
                &fo.id,
                PackInput {
                    scans: tally
                        .0
                        .iter()
                        .map(|(sku, q)| PackScanInput {
                            sku: Some(sku.clone()),
                            barcode: None,
                            quantity: Some(*q),
                        })
                        .collect(),
                    boxes: form.get("box").map(|b| vec![b]),
                    weight_g,
                },
                &auth.context(),
            )
            .await
    } else {
        Err(StoreError::Problem(Problem::Invalid(errors)))
    };
    match result {
        Ok(Outcome::Done(packing)) => {
            let n = packing.plan.packages.len();
            let text = format!(
                "{} packed in {n} box{}: {}.",
                fo.id,
                if n == 1 { "" } else { "es" },
                packing
                    .plan
                    .packages
                    .iter()
                    .map(|p| p.box_code.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if is_htmx(&headers) {
                answer(
                    &s,
                    &auth,
                    &id,
                    StatusCode::OK,
                    PackFeedback::ok(text, vec![], Tally::default()),
                )
                .await
            } else {
                Ok(auth.redirect_with(&format!("/packing/{}", encode(&fo.id)), true, &text))
            }
        }
        Ok(Outcome::Replayed { .. }) => Ok(auth.redirect_with(
            &format!("/packing/{}", encode(&fo.id)),
            true,
            "This was already packed.",
        )),
        Err(StoreError::Problem(problem)) => {
            let (status, text, details, field) = match problem {
                Problem::Invalid(errs) => {
                    let field = errs
                        .iter()
                        .find_map(|e| match e.field.as_str() {
                            "weight_g" => Some("weight_g"),
                            f if f.starts_with("boxes") => Some("box"),
                            _ => None,
                        })
                        .unwrap_or("code");
                    (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Not packed: the items do not match.".to_string(),
                        errs.iter()
                            .map(|e| match e.field.as_str() {
                                "weight_g" => format!("Weight: {}.", e.message),
                                f if f.starts_with("boxes") => format!("Box: {}.", e.message),
                                _ => sentence(&e.message),
                            })
                            .collect::<Vec<_>>(),
                        field,
                    )
                }
                Problem::Conflict { message, .. } => (
                    StatusCode::CONFLICT,
                    format!("Not packed: {}", sentence(&message)),
                    vec![],
                    "code",
                ),
                Problem::NotFound(what) => (
                    StatusCode::NOT_FOUND,
                    sentence(&format!("{what} was not found")),
                    vec![],
                    "code",
                ),
            };
            let text = if field == "code" || status != StatusCode::UNPROCESSABLE_ENTITY {
                text
            } else {
                "Not packed: please correct the fields marked below.".into()
            };
            let fb = PackFeedback::refused(text, details, field, form, tally);
            answer(&s, &auth, &id, status, fb).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The packed boxes as one shipment, with the service the API would choose. The back
/// office books with no outside carrier itself: a service of one is refused, naming it, and
/// ships from the order page with its tracking number.
async fn ship_packed(
    s: &WebState,
    auth: &Auth,
    fo: &FulfillmentOrder,
) -> Result<Outcome<ordo_store::Created<ordo_domain::shipment::Shipment>>, StoreError> {
    let input = ShipmentInput {
        fulfillment_order: Some(fo.id.clone()),
        carrier: None,
        service: None,
        tracking_number: None,
        packages: vec![],
    };
    let mut shipment = input.validate()?;
    ordo_http::routes::shipments::auto_service(s.store.as_ref(), |_| false, &mut shipment).await?;
    s.store.create_shipment(shipment, &auth.context()).await
}

/// `POST /packing/{fo}/label`: ships the packed boxes with the service chosen as the API
/// chooses it (the cheapest configured one that takes the parcels and what is inside), and
/// opens the label for printing.
pub(crate) async fn label(
    State(s): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    auth.require(Permission::WriteStock)?;
    let (fo, _) = load(&s, &id).await?;
    // The bench labels what it packed; anything else ships from the order page.
    let result = if fo.status != FulfillmentStatus::Packed {
        Err(StoreError::Problem(Problem::Conflict {
            message: format!(
                "{} is {}, not packed: pack it first",
                fo.id,
                humanize(fo.status.as_str()).to_lowercase()
            ),
            current: Some(fo.status.as_str().into()),
        }))
    } else {
        ship_packed(&s, &auth, &fo).await
    };
    match result {
        Ok(Outcome::Done(created)) => {
            let sh = created.value;
            let href = label_href(&sh.id, 1, "pdf");
            let text = format!(
                "{} shipped as {} ({}, {}); tracking number {}.",
                fo.id,
                sh.id,
                carrier_name(&sh.carrier),
                humanize(&sh.service),
                sh.tracking_number
            );
            if is_htmx(&headers) {
                let mut fb = PackFeedback::ok(
                    text,
                    vec!["The label opens for printing; stick it on the box.".into()],
                    Tally::default(),
                );
                fb.label = Some(href);
                answer(&s, &auth, &id, StatusCode::OK, fb).await
            } else {
                Ok(auth.redirect_with(&format!("/packing/{}#labels", encode(&fo.id)), true, &text))
            }
        }
        Ok(Outcome::Replayed { .. }) => Ok(auth.redirect_with(
            &format!("/packing/{}#labels", encode(&fo.id)),
            true,
            "This label was already printed.",
        )),
        Err(StoreError::Problem(problem)) => {
            let (status, text) = match problem {
                Problem::Invalid(errs) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    errs.iter()
                        .map(|e| sentence(&e.message))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                Problem::Conflict { message, .. } => (StatusCode::CONFLICT, sentence(&message)),
                Problem::NotFound(what) => (
                    StatusCode::NOT_FOUND,
                    sentence(&format!("{what} was not found")),
                ),
            };
            let fb = PackFeedback::refused(
                format!("No label: {text}"),
                vec![format!(
                    "Ship {} from its order page to choose the carrier yourself.",
                    fo.id
                )],
                "label",
                form,
                Tally::default(),
            );
            answer(&s, &auth, &id, status, fb).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct SlipQuery {
    package: Option<String>,
}

/// `GET /packing/{fo}/packing-slip.pdf`: one package's packing slip, as the API builds it.
pub(crate) async fn packing_slip(
    State(s): State<WebState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<SlipQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let n: u32 = match q
        .package
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        None => 1,
        Some(p) => p.parse().map_err(|_| {
            WebError::Problem(Problem::invalid("package", "must be a whole number"))
        })?,
    };
    let slip = ordo_http::documents::packing_slip(s.store.as_ref(), &id, n).await?;
    let pdf = slip.to_pdf().map_err(crate::labels::document_error)?;
    let safe: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"packing-slip-{safe}-{n}.pdf\""),
            ),
        ],
        pdf,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> FormData {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        FormData::parse(body.as_bytes())
    }

    #[test]
    fn the_tally_travels_in_hidden_fields() {
        let t = Tally::parse(&form(&[
            ("scan", "2 MUG-1"),
            ("scan", "1 TEA-1"),
            ("scan", "1 MUG-1"),
            ("scan", "x MUG-1"),
            ("scan", "-1 MUG-1"),
            ("scan", "3"),
        ]));
        assert_eq!(t.get("MUG-1"), 3);
        assert_eq!(t.get("TEA-1"), 1);
        assert_eq!(t.units(), 4);
        assert_eq!(t.hidden(), ["3 MUG-1", "1 TEA-1"]);
    }
}
