//! Picking at the shelf: pick jobs released from a location's open fulfillment orders
//! (`/picking`), the job a picker works through with a keyboard-wedge scanner
//! (`/picking/{id}`), and its list on paper (`/picking/{id}/print`).
//!
//! A scan posts normally (a redirect with a message on success, the page with the refusal
//! on a wrong item, bin or quantity); with htmx the same answer swaps the work area in place
//! and the scan box takes the focus again, so a picker scans, the scanner sends Enter, and
//! the next scan can follow at once.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use ordo_domain::catalog::{Location, LocationKind, Product};
use ordo_domain::fulfillment::FulfillmentStatus;
use ordo_domain::{FieldError, Problem};
use ordo_store::{
    FulfillmentFilter, Outcome, PageRequest, Permission, PickInput, PickJob, PickJobInput,
    PickJobStatus, StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::WebState;
use crate::error::{WebError, WebResult, sentence};
use crate::form::{FormData, encode};
use crate::fulfillment::{is_htmx, lines_text};
use crate::orders::Opt;
use crate::session::{Auth, Posted};
use crate::view::{PageCtx, fmt_time, group, humanize, page, page_with_inline_flash};

/// Most units one scan or limit may name; a typo of a scanner (a barcode in the quantity
/// box) is refused rather than tried.
const MAX_QUANTITY: i64 = 100_000;
/// Jobs listed per state on `/picking`.
const OPEN_JOBS: i64 = 50;
const DONE_JOBS: i64 = 20;

/// The serialised name of an `ordo-warehouse` enum (`batch`, `no_bin`, `picked`), or the
/// `kind` of a tagged one (the strategy).
fn tag(v: &impl Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(m)) => m
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    }
}

fn strategy_label(kind: &str) -> String {
    match kind {
        "single" => "Single (a list per order)".into(),
        "batch" => "Batch (one cart, a tote per order)".into(),
        "wave" => "Wave by zone (a list per zone)".into(),
        other => humanize(other),
    }
}

fn skip_label(reason: &str) -> &'static str {
    match reason {
        "channel" => "another channel",
        "service_level" => "another service level",
        "priority" => "priority too low",
        "cutoff" => "no urgent carrier cut-off",
        "tags" => "tags do not match",
        "not_single_item" => "more than one unit",
        "max_orders" => "the cart holds enough orders",
        "max_units" => "would exceed the unit limit",
        "max_weight" => "would exceed the weight limit",
        _ => "left out",
    }
}

fn flag_label(flag: &str) -> &'static str {
    match flag {
        "no_bin" => "No pick bin: look for it",
        "unknown_bin" => "Bin code not on the walk: look for it",
        _ => "",
    }
}

/// `5 stops · 12 bins along the walk · 36.5 m`.
fn path_text(stops: u64, steps: u64, metres: Option<f64>) -> String {
    let mut parts = vec![format!("{stops} stop{}", if stops == 1 { "" } else { "s" })];
    if steps > 0 {
        parts.push(format!("{steps} bins along the walk"));
    }
    if let Some(m) = metres.filter(|m| *m > 0.0) {
        parts.push(format!("{m:.1} m"));
    }
    parts.join(" · ")
}

fn job_path(job: &PickJob) -> String {
    let stops = job.lists.iter().map(|l| u64::from(l.path.stops)).sum();
    let steps = job.lists.iter().map(|l| l.path.steps).sum();
    let metres = job.lists.iter().map(|l| l.path.metres).sum::<Option<f64>>();
    path_text(stops, steps, metres)
}

/// Units to pick, picked and short over the whole job.
fn totals(job: &PickJob) -> (i64, i64, i64) {
    job.progress.lines.iter().fold((0, 0, 0), |(q, p, s), l| {
        (q + l.quantity, p + l.picked, s + l.short)
    })
}

/// Where picking happens: 3PL and marketplace locations pick for themselves.
fn pickable(l: &Location) -> bool {
    l.active && matches!(l.kind, LocationKind::Warehouse | LocationKind::Store)
}

fn location_label(locations: &[Location], code: &str) -> String {
    locations
        .iter()
        .find(|l| l.code == code)
        .map_or_else(|| code.to_string(), |l| format!("{} ({})", l.name, l.code))
}

/// One line of feedback after a form: what happened, and the steps that follow from it.
pub(crate) struct Feedback {
    pub ok: bool,
    pub text: String,
    pub details: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// `/picking`: release work, list jobs

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PickingQuery {
    location: Option<String>,
}

struct JobRow {
    id: String,
    strategy: String,
    lists: usize,
    orders: usize,
    units: i64,
    picked: i64,
    short: i64,
    done: i64,
    path: String,
    created: String,
}

impl JobRow {
    fn new(job: &PickJob) -> Self {
        let (units, picked, short) = totals(job);
        JobRow {
            id: job.id.clone(),
            strategy: strategy_label(&tag(&job.strategy)),
            lists: job.lists.len(),
            orders: job.progress.orders.len(),
            units,
            picked,
            short,
            done: picked + short,
            path: job_path(job),
            created: fmt_time(job.created_at),
        }
    }
}

/// The release form's values and what was wrong with them.
#[derive(Default)]
struct CreateForm {
    strategy: String,
    max_orders: String,
    max_units: String,
    max_weight_g: String,
    channel: String,
    single_item_only: bool,
    message: Option<String>,
    errors: Vec<FieldError>,
}

impl CreateForm {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
    fn from_form(f: &FormData) -> Self {
        CreateForm {
            strategy: f.get("strategy").unwrap_or_else(|| "batch".into()),
            max_orders: f.raw("max_orders"),
            max_units: f.raw("max_units"),
            max_weight_g: f.raw("max_weight_g"),
            channel: f.get("channel").unwrap_or_default(),
            single_item_only: f.get("single_item_only").is_some(),
            message: None,
            errors: vec![],
        }
    }
}

struct StrategyOpt {
    value: &'static str,
    label: &'static str,
    hint: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "picking.html")]
struct PickingPage {
    ctx: PageCtx,
    can_pick: bool,
    locations: Vec<Opt>,
    location: String,
    location_label: String,
    /// Where work can be released (not a 3PL or marketplace, and active).
    releasable: bool,
    open_fos: String,
    form: CreateForm,
    strategies: Vec<StrategyOpt>,
    channels: Vec<Opt>,
    open: Vec<JobRow>,
    done: Vec<JobRow>,
}

async fn picking_page(
    s: &WebState,
    auth: &Auth,
    location: Option<&str>,
    form: CreateForm,
) -> WebResult<PickingPage> {
    let locations = s.store.list_locations().await?;
    let location = match location.map(str::trim).filter(|l| !l.is_empty()) {
        Some(code) => locations
            .iter()
            .find(|l| l.code == code)
            .ok_or_else(|| WebError::NotFound(format!("Location {code}")))?,
        None => {
            let mut choices: Vec<&Location> = locations.iter().filter(|l| pickable(l)).collect();
            choices.sort_by_key(|l| (l.kind != LocationKind::Warehouse, l.priority));
            match choices.first().copied().or(locations.first()) {
                Some(l) => l,
                None => return Err(WebError::NotFound("A location".into())),
            }
        }
    };
    let code = location.code.clone();
    let open_fos = s
        .store
        .list_fulfillment_orders(
            &FulfillmentFilter {
                location: Some(code.clone()),
                status: Some(FulfillmentStatus::Open),
            },
            &PageRequest {
                limit: Some(500),
                cursor: None,
            },
        )
        .await?;
    let open_count = if open_fos.next_cursor.is_some() {
        format!("{}+", open_fos.items.len())
    } else {
        open_fos.items.len().to_string()
    };
    let jobs = |status, limit| {
        let code = code.clone();
        async move {
            s.store
                .list_pick_jobs(
                    Some(&code),
                    Some(status),
                    &PageRequest {
                        limit: Some(limit),
                        cursor: None,
                    },
                )
                .await
        }
    };
    let open = jobs(PickJobStatus::Open, OPEN_JOBS).await?;
    let done = jobs(PickJobStatus::Done, DONE_JOBS).await?;
    let channels = s.store.list_channels().await?;
    let strategy = if form.strategy.is_empty() {
        "batch".to_string()
    } else {
        form.strategy.clone()
    };
    Ok(PickingPage {
        ctx: PageCtx::new(auth, "picking"),
        can_pick: auth.allows(Permission::WriteStock),
        locations: locations
            .iter()
            .map(|l| Opt {
                value: l.code.clone(),
                label: format!("{} ({})", l.name, l.code),
                selected: l.code == code,
            })
            .collect(),
        location_label: location_label(&locations, &code),
        releasable: pickable(location),
        open_fos: open_count,
        strategies: [
            (
                "single",
                "Single",
                "A list per order: simple, longer walks.",
            ),
            (
                "batch",
                "Batch",
                "One cart for all orders, a tote per order: one walk, sort while picking.",
            ),
            (
                "wave",
                "Wave by zone",
                "The batch split into a list per zone, for pickers working zones at once.",
            ),
        ]
        .into_iter()
        .map(|(value, label, hint)| StrategyOpt {
            value,
            label,
            hint,
            checked: value == strategy,
        })
        .collect(),
        channels: channels
            .iter()
            .map(|c| Opt {
                value: c.code.clone(),
                label: format!("{} ({})", c.name, c.code),
                selected: c.code == form.channel,
            })
            .collect(),
        form,
        open: open.items.iter().map(JobRow::new).collect(),
        done: done.items.iter().map(JobRow::new).collect(),
        location: code,
    })
}

/// `GET /picking`: release work at a location and the location's pick jobs.
pub(crate) async fn list(
    State(s): State<WebState>,
    auth: Auth,
    Query(q): Query<PickingQuery>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let p = picking_page(&s, &auth, q.location.as_deref(), CreateForm::default()).await?;
    page(&p.ctx, &p)
}

/// A whole number of at least 1, or nothing when the input is empty.
fn limit(f: &FormData, name: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
    let text = f.get(name)?;
    match text.parse::<i64>() {
        Ok(n) if (1..=MAX_QUANTITY * 1000).contains(&n) => Some(n),
        Ok(_) => {
            errors.push(FieldError::new(
                name,
                "must be at least 1 (or empty for no limit)",
            ));
            None
        }
        Err(_) => {
            errors.push(FieldError::new(name, "must be a whole number"));
            None
        }
    }
}

/// `POST /picking`: releases open fulfillment orders at the location into a pick job.
pub(crate) async fn create(State(s): State<WebState>, p: Posted) -> WebResult {
    let Posted { auth, form } = p;
    auth.require(Permission::WriteStock)?;
    let location = form.get("location").unwrap_or_default();
    let mut errors = Vec::new();
    let strategy = match form.get("strategy").as_deref().unwrap_or("batch") {
        "single" => json!({"kind": "single"}),
        "batch" => json!({"kind": "batch"}),
        "wave" => json!({"kind": "wave", "by": "zone"}),
        _ => {
            errors.push(FieldError::new(
                "strategy",
                "choose single, batch or wave by zone",
            ));
            json!({"kind": "batch"})
        }
    };
    let max_orders = limit(&form, "max_orders", &mut errors);
    let max_units = limit(&form, "max_units", &mut errors);
    let max_weight_g = limit(&form, "max_weight_g", &mut errors);
    let channel = form.get("channel");
    if let Some(c) = &channel
        && s.store.get_channel(c).await?.is_none()
    {
        errors.push(FieldError::new(
            "channel",
            "choose one of the listed channels",
        ));
    }
    let result = if !errors.is_empty() {
        Err(StoreError::Problem(Problem::Invalid(errors)))
    } else if location.is_empty() {
        Err(StoreError::Problem(Problem::invalid(
            "location",
            "choose a location",
        )))
    } else {
        let input: PickJobInput = serde_json::from_value(json!({
            "location": location,
            "strategy": strategy,
            "limits": {
                "max_orders": max_orders,
                "max_units": max_units,
                "max_weight_g": max_weight_g,
            },
            "filters": {
                "channels": channel.iter().collect::<Vec<_>>(),
                "single_item_only": form.get("single_item_only").is_some(),
            },
        }))
        .map_err(|e| WebError::Internal(format!("pick job input: {e}")))?;
        s.store
            .create_pick_job(&location, input, &auth.context())
            .await
    };
    let back = format!("/picking?location={}", encode(&location));
    match result {
        Ok(Outcome::Done(created)) => {
            let job = created.value;
            let (units, _, _) = totals(&job);
            let orders = job.progress.orders.len();
            let mut text = format!(
                "{} released {orders} fulfillment order{} ({units} unit{}) in {} list{}.",
                job.id,
                if orders == 1 { "" } else { "s" },
                if units == 1 { "" } else { "s" },
                job.lists.len(),
                if job.lists.len() == 1 { "" } else { "s" },
            );
            if !job.skipped.is_empty() {
                text.push_str(&format!(
                    " {} left out for now (see below).",
                    job.skipped.len()
                ));
            }
            Ok(auth.redirect_with(&format!("/picking/{}", encode(&job.id)), true, &text))
        }
        Ok(Outcome::Replayed { .. }) => {
            Ok(auth.redirect_with(&back, true, "This pick job was already created."))
        }
        Err(StoreError::Problem(problem)) => {
            let mut kept = CreateForm::from_form(&form);
            let (status, loose) = match problem {
                Problem::Invalid(errs) => {
                    let mut loose = Vec::new();
                    for e in errs {
                        let field = match e.field.as_str() {
                            "strategy" | "max_orders" | "max_units" | "max_weight_g"
                            | "channel" => e.field.clone(),
                            "limits.max_orders" => "max_orders".into(),
                            "limits.max_units" => "max_units".into(),
                            "limits.max_weight_g" => "max_weight_g".into(),
                            "filters.channels" => "channel".into(),
                            _ => {
                                loose.push(sentence(&e.message));
                                continue;
                            }
                        };
                        kept.errors.push(FieldError::new(field, e.message));
                    }
                    (StatusCode::UNPROCESSABLE_ENTITY, loose)
                }
                Problem::Conflict { message, .. } => {
                    (StatusCode::CONFLICT, vec![sentence(&message)])
                }
                Problem::NotFound(what) => (
                    StatusCode::NOT_FOUND,
                    vec![sentence(&format!("{what} was not found"))],
                ),
            };
            kept.message = Some(if loose.is_empty() {
                "No pick job: please correct the fields marked below.".into()
            } else {
                format!("No pick job: {}", loose.join(" "))
            });
            let p = picking_page(&s, &auth, Some(&location), kept).await?;
            let mut r = page(&p.ctx, &p)?;
            *r.status_mut() = status;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------
// `/picking/{id}`: the job at the shelf

/// The line to pick now, as large as the screen allows.
struct NextView {
    list: u32,
    zone: Option<String>,
    bin: String,
    flag: &'static str,
    sku: String,
    name: String,
    remaining: i64,
    quantity: i64,
    picked: i64,
    /// `Tote 1 (SO-000001-1): 2`, where the units go.
    puts: Vec<String>,
}

struct LineView {
    n: usize,
    sku: String,
    name: String,
    bin: String,
    flag: &'static str,
    quantity: i64,
    picked: i64,
    short: i64,
    done: i64,
    finished: bool,
    current: bool,
    totes: String,
}

struct ListView {
    number: u32,
    zone: Option<String>,
    units: i64,
    path: String,
    lines: Vec<LineView>,
}

struct ToteRow {
    label: String,
    code: String,
    fo: String,
    order: String,
    quantity: i64,
    picked: i64,
    short: i64,
    done: i64,
    state: String,
    state_label: &'static str,
}

/// The scan box and the short-pick form: what was typed and what was wrong.
#[derive(Default)]
struct ScanForm {
    code_error: bool,
    bin: String,
    bin_error: bool,
    quantity: String,
    quantity_error: bool,
    short_open: bool,
    short_lines: Vec<Opt>,
    found: String,
    found_error: bool,
    line_error: bool,
}

/// What the last scan or short report did, to show in the work area.
pub(crate) struct PickFeedback {
    ok: bool,
    /// `scan` or `short`.
    form: &'static str,
    text: String,
    details: Vec<String>,
    errors: Vec<FieldError>,
    values: Option<FormData>,
}

impl PickFeedback {
    fn has(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }
}

#[derive(Template)]
#[template(path = "pick_job.html")]
struct JobPage {
    ctx: PageCtx,
    id: String,
    location: String,
    location_label: String,
    status: &'static str,
    status_label: &'static str,
    strategy: String,
    created: String,
    open: bool,
    can_pick: bool,
    next: Option<NextView>,
    lists: Vec<ListView>,
    totes: Vec<ToteRow>,
    skipped: Vec<(String, &'static str)>,
    units: i64,
    picked: i64,
    short: i64,
    done: i64,
    orders: usize,
    orders_done: usize,
    to_pack: Vec<String>,
    path: String,
    feedback: Option<Feedback>,
    form: ScanForm,
}

/// Product names (and barcodes) of the job's SKUs.
async fn products_of(
    s: &WebState,
    skus: impl IntoIterator<Item = &str>,
) -> WebResult<HashMap<String, Product>> {
    let mut out = HashMap::new();
    for sku in skus {
        if out.contains_key(sku) || out.len() >= 500 {
            continue;
        }
        if let Some(p) = s.store.get_product(sku).await? {
            out.insert(sku.to_string(), p);
        }
    }
    Ok(out)
}

fn job_skus(job: &PickJob) -> Vec<&str> {
    let mut skus: Vec<&str> = job.progress.lines.iter().map(|l| l.sku.as_str()).collect();
    skus.sort_unstable();
    skus.dedup();
    skus
}

/// `Tote 2` for a batch or wave, `List 2` for single picking (each order its own list).
fn tote_labels(job: &PickJob) -> HashMap<String, (String, String)> {
    let single = tag(&job.strategy) == "single";
    let mut out = HashMap::new();
    for list in &job.lists {
        for t in &list.totes {
            out.entry(t.fulfillment_order_id.clone())
                .or_insert_with(|| {
                    (
                        if single {
                            format!("List {}", list.number)
                        } else {
                            format!("Tote {}", t.tote)
                        },
                        t.order_number.clone(),
                    )
                });
        }
    }
    out
}

/// The code a tote is scanned by at the pack bench: the job and its tote (`PL-000001-T2`),
/// or its list for single picking, where each list is one order (`PL-000001-L2`). Printed
/// with the tote, so a tote carried to the bench opens its order there.
pub(crate) fn tote_codes(job: &PickJob) -> HashMap<String, String> {
    let single = tag(&job.strategy) == "single";
    let mut out = HashMap::new();
    for list in &job.lists {
        for t in &list.totes {
            let (kind, n) = if single {
                ('L', list.number)
            } else {
                ('T', t.tote)
            };
            out.entry(t.fulfillment_order_id.clone())
                .or_insert_with(|| format!("{}-{kind}{n}", job.id));
        }
    }
    out
}

/// A scanned tote code (`PL-000001-T2`, also typed as `pl-000001 t2` or `PL-000001/2`):
/// the pick job and the tote or list number.
pub(crate) fn parse_tote_code(code: &str) -> Option<(String, u32)> {
    let code = code.trim().to_ascii_uppercase();
    let rest = code.strip_prefix("PL-")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let number = ordo_store::parse_pick_job_number(&code[..3 + digits])?;
    let tail = rest[digits..].trim_start_matches(['-', '/', ' ']);
    let n = tail
        .strip_prefix(['T', 'L'])
        .unwrap_or(tail)
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)?;
    Some((ordo_store::pick_job_number(number), n))
}

/// The fulfillment order in tote (or, for single picking, list) `n` of a job.
pub(crate) fn tote_order(job: &PickJob, n: u32) -> Option<String> {
    let single = tag(&job.strategy) == "single";
    job.lists
        .iter()
        .filter(|l| !single || l.number == n)
        .flat_map(|l| &l.totes)
        .find(|t| single || t.tote == n)
        .map(|t| t.fulfillment_order_id.clone())
}

async fn job_page(
    s: &WebState,
    auth: &Auth,
    id: &str,
    fb: Option<PickFeedback>,
) -> WebResult<(JobPage, bool)> {
    let job = s
        .store
        .get_pick_job(id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("Pick job {id}")))?;
    let locations = s.store.list_locations().await?;
    let products = products_of(s, job_skus(&job)).await?;
    let name = |sku: &str| {
        products
            .get(sku)
            .map_or_else(String::new, |p| p.name.clone())
    };
    let labels = tote_labels(&job);
    let codes = tote_codes(&job);
    let tote_label = |fo: &str, tote: u32| {
        labels
            .get(fo)
            .map_or_else(|| format!("Tote {tote}"), |(l, _)| l.clone())
    };
    let open = job.status == PickJobStatus::Open;
    let current = job
        .progress
        .lines
        .iter()
        .position(|l| l.remaining() > 0)
        .filter(|_| open);
    // `progress.lines` holds every list's lines in list and walk order.
    let planned: Vec<_> = job
        .lists
        .iter()
        .flat_map(|list| list.lines.iter().map(move |l| (list, l)))
        .collect();
    let next = current.and_then(|i| {
        let p = &job.progress.lines[i];
        let (list, line) = planned.get(i)?;
        Some(NextView {
            list: list.number,
            zone: list.zone.clone(),
            bin: p.bin.clone().unwrap_or_else(|| "—".into()),
            flag: line.flag.as_ref().map_or("", |f| flag_label(&tag(f))),
            sku: p.sku.clone(),
            name: name(&p.sku),
            remaining: p.remaining(),
            quantity: p.quantity,
            picked: p.picked,
            puts: p
                .totes
                .iter()
                .filter_map(|t| {
                    let open = t.quantity - t.picked - t.short;
                    (open > 0).then(|| {
                        format!(
                            "{} ({}): {open}",
                            tote_label(&t.fulfillment_order_id, t.tote),
                            t.fulfillment_order_id
                        )
                    })
                })
                .collect(),
        })
    });
    let mut lists: Vec<ListView> = job
        .lists
        .iter()
        .map(|l| ListView {
            number: l.number,
            zone: l.zone.clone(),
            units: l.units,
            path: path_text(u64::from(l.path.stops), l.path.steps, l.path.metres),
            lines: vec![],
        })
        .collect();
    let mut short_lines = Vec::new();
    for (i, p) in job.progress.lines.iter().enumerate() {
        let flag = planned
            .get(i)
            .and_then(|(_, l)| l.flag.as_ref())
            .map_or("", |f| flag_label(&tag(f)));
        let bin = p.bin.clone().unwrap_or_else(|| "—".into());
        if open && p.remaining() > 0 {
            short_lines.push(Opt {
                value: i.to_string(),
                label: format!("{bin} · {} ({} left)", p.sku, p.remaining()),
                selected: false,
            });
        }
        if let Some(list) = lists.iter_mut().find(|l| l.number == p.list) {
            list.lines.push(LineView {
                n: i + 1,
                sku: p.sku.clone(),
                name: name(&p.sku),
                bin,
                flag,
                quantity: p.quantity,
                picked: p.picked,
                short: p.short,
                done: p.picked + p.short,
                finished: p.remaining() == 0,
                current: Some(i) == current,
                totes: p
                    .totes
                    .iter()
                    .map(|t| {
                        format!(
                            "{} {}/{}{}",
                            tote_label(&t.fulfillment_order_id, t.tote),
                            t.picked,
                            t.quantity,
                            if t.short > 0 {
                                format!(" ({} short)", t.short)
                            } else {
                                String::new()
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" · "),
            });
        }
    }
    let mut totes: Vec<ToteRow> = job
        .progress
        .orders
        .iter()
        .map(|o| {
            let state = tag(&o.state);
            let (label, order) = labels
                .get(&o.fulfillment_order_id)
                .cloned()
                .unwrap_or_default();
            ToteRow {
                label,
                code: codes
                    .get(&o.fulfillment_order_id)
                    .cloned()
                    .unwrap_or_default(),
                fo: o.fulfillment_order_id.clone(),
                order,
                quantity: o.quantity,
                picked: o.picked,
                short: o.short,
                done: o.picked + o.short,
                state_label: match state.as_str() {
                    "picked" => "Picked: to packing",
                    "emptied" => "Emptied: all short",
                    _ => "Picking",
                },
                state,
            }
        })
        .collect();
    totes.sort_by_key(|t| (t.label.len(), t.label.clone(), t.fo.len(), t.fo.clone()));
    let (units, picked, short) = totals(&job);
    let orders_done = totes.iter().filter(|t| t.state != "picking").count();
    let to_pack = totes
        .iter()
        .filter(|t| t.state == "picked")
        .map(|t| t.fo.clone())
        .collect();
    let mut ctx = PageCtx::new(auth, "picking");
    let had_flash = ctx.flash.is_some();
    let feedback = match &fb {
        Some(f) => Some(Feedback {
            ok: f.ok,
            text: f.text.clone(),
            details: f.details.clone(),
        }),
        None => ctx.flash.take().map(|f| Feedback {
            ok: f.ok,
            text: f.text,
            details: vec![],
        }),
    };
    let refused = fb.as_ref().filter(|f| !f.ok);
    let kept = |form: &str, field: &str| {
        refused
            .filter(|f| f.form == form)
            .and_then(|f| f.values.as_ref())
            .map(|v| v.raw(field).trim().to_string())
    };
    let chosen_line = kept("short", "line");
    for o in &mut short_lines {
        o.selected = match &chosen_line {
            Some(c) => *c == o.value,
            None => current.is_some_and(|i| i.to_string() == o.value),
        };
    }
    let has = |form: &str, field: &str| refused.is_some_and(|f| f.form == form && f.has(field));
    let form = ScanForm {
        code_error: has("scan", "code"),
        bin: kept("scan", "bin").unwrap_or_default(),
        bin_error: has("scan", "bin"),
        quantity: kept("scan", "quantity")
            .filter(|q| !q.is_empty())
            .unwrap_or_else(|| "1".into()),
        quantity_error: has("scan", "quantity"),
        short_open: refused.is_some_and(|f| f.form == "short"),
        short_lines,
        found: kept("short", "found").unwrap_or_default(),
        found_error: has("short", "found"),
        line_error: has("short", "line"),
    };
    let p = JobPage {
        ctx,
        id: job.id.clone(),
        location_label: location_label(&locations, &job.location),
        location: job.location.clone(),
        status: job.status.as_str(),
        status_label: if open { "Open" } else { "Done" },
        strategy: strategy_label(&tag(&job.strategy)),
        created: fmt_time(job.created_at),
        open,
        can_pick: open && auth.allows(Permission::WriteStock),
        next,
        lists,
        orders: totes.len(),
        orders_done,
        to_pack,
        totes,
        skipped: job
            .skipped
            .iter()
            .map(|s| (s.fulfillment_order_id.clone(), skip_label(&tag(&s.reason))))
            .collect(),
        units,
        picked,
        short,
        done: picked + short,
        path: job_path(&job),
        feedback,
        form,
    };
    Ok((p, had_flash))
}

/// `GET /picking/{id}`: the next line, the scan box, and the whole list in walk order.
pub(crate) async fn show(
    State(s): State<WebState>,
    auth: Auth,
    Path(id): Path<String>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let (p, had_flash) = job_page(&s, &auth, &id, None).await?;
    page_with_inline_flash(had_flash, &p)
}

/// The answer to a scan or short report: with htmx (or on a refusal) the job page with the
/// feedback in its work area, otherwise a redirect carrying the message.
async fn answer(
    s: &WebState,
    auth: &Auth,
    headers: &HeaderMap,
    id: &str,
    status: StatusCode,
    fb: PickFeedback,
) -> WebResult {
    if fb.ok && !is_htmx(headers) {
        let mut text = fb.text.clone();
        for d in &fb.details {
            text.push(' ');
            text.push_str(d);
        }
        return Ok(auth.redirect_with(&format!("/picking/{}#scan", encode(id)), true, &text));
    }
    let (p, had_flash) = job_page(s, auth, id, Some(fb)).await?;
    let mut r: Response = page_with_inline_flash(had_flash, &p)?;
    *r.status_mut() = status;
    Ok(r)
}

/// A refusal as feedback: the store's words (they name what was expected), each field
/// marked on the form's inputs.
fn refused(problem: Problem, form: &'static str, values: FormData) -> (StatusCode, PickFeedback) {
    let input = |field: &str| -> String {
        match (form, field) {
            ("scan", "sku" | "barcode") => "code".into(),
            ("short", "quantity") => "found".into(),
            ("short", "sku" | "bin") => "line".into(),
            _ => field.into(),
        }
    };
    let (status, text, errors) = match problem {
        Problem::Invalid(errors) => {
            let text = errors
                .iter()
                .map(|e| sentence(&e.message))
                .collect::<Vec<_>>()
                .join(" ");
            let errors = errors
                .into_iter()
                .map(|e| FieldError::new(input(&e.field), e.message))
                .collect();
            (StatusCode::UNPROCESSABLE_ENTITY, text, errors)
        }
        Problem::Conflict { message, .. } => (
            StatusCode::CONFLICT,
            format!("Not possible: {}", sentence(&message)),
            vec![],
        ),
        Problem::NotFound(what) => (
            StatusCode::NOT_FOUND,
            sentence(&format!("{what} was not found")),
            vec![],
        ),
    };
    (
        status,
        PickFeedback {
            ok: false,
            form,
            text,
            details: vec![],
            errors,
            values: Some(values),
        },
    )
}

fn whole(text: Option<String>, field: &str, min: i64, errors: &mut Vec<FieldError>) -> Option<i64> {
    let t = text?;
    match t.parse::<i64>() {
        Ok(n) if (min..=MAX_QUANTITY).contains(&n) => Some(n),
        Ok(_) => {
            errors.push(FieldError::new(
                field,
                format!("must be between {min} and {MAX_QUANTITY}"),
            ));
            None
        }
        Err(_) => {
            errors.push(FieldError::new(field, "must be a whole number"));
            None
        }
    }
}

/// What a scanned code names: a SKU of the job (typed in any case), the barcode of one, or
/// (for anything else) itself, so the store refuses it as the wrong item and says what was
/// expected.
fn resolve_code(code: &str, job: &PickJob, products: &HashMap<String, Product>) -> String {
    let lines = &job.progress.lines;
    if let Some(l) = lines
        .iter()
        .find(|l| l.sku == code)
        .or_else(|| lines.iter().find(|l| l.sku.eq_ignore_ascii_case(code)))
    {
        return l.sku.clone();
    }
    products
        .values()
        .find(|p| p.barcode.as_deref() == Some(code))
        .map_or_else(|| code.to_string(), |p| p.sku.clone())
}

/// A bin of the job as written on the list, when the one typed differs only in case.
fn resolve_bin(bin: String, job: &PickJob) -> String {
    job.progress
        .lines
        .iter()
        .filter_map(|l| l.bin.as_ref())
        .find(|b| **b != bin && b.eq_ignore_ascii_case(&bin))
        .cloned()
        .unwrap_or(bin)
}

fn pick_summary(
    job: &PickJob,
    update: &ordo_store::PickResult,
    labels: &HashMap<String, (String, String)>,
) -> Vec<String> {
    let u = &update.update;
    let label = |fo: &str, tote: u32| {
        labels
            .get(fo)
            .map_or_else(|| format!("Tote {tote}"), |(l, _)| l.clone())
    };
    let mut details: Vec<String> = u
        .put
        .iter()
        .map(|p| {
            format!(
                "Put {} into {} ({}).",
                p.quantity,
                label(&p.fulfillment_order_id, p.tote),
                p.fulfillment_order_id
            )
        })
        .collect();
    if !u.line_done {
        details.push(format!(
            "{} of {} picked on this line.",
            u.line_picked, u.line_quantity
        ));
    }
    for fo in &u.orders_picked {
        details.push(format!(
            "{fo} is picked: take {} to packing.",
            labels
                .get(fo)
                .map_or_else(|| "its tote".to_string(), |(l, _)| l.to_lowercase())
        ));
    }
    for fo in &u.orders_emptied {
        details.push(format!(
            "{fo} has nothing left to pack from {}.",
            job.location
        ));
    }
    if u.complete {
        details.push("Pick job complete.".into());
    }
    details
}

/// `POST /picking/{id}/scan`: one scan at the shelf (SKU or barcode, optional bin, quantity).
pub(crate) async fn scan(
    State(s): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    auth.require(Permission::WriteStock)?;
    let job = s
        .store
        .get_pick_job(&id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("Pick job {id}")))?;
    let mut errors = Vec::new();
    let code = form.get("code");
    if code.is_none() {
        errors.push(FieldError::new("code", "scan or type a SKU or barcode"));
    }
    let quantity = whole(form.get("quantity"), "quantity", 1, &mut errors).unwrap_or(1);
    let bin = form.get("bin").map(|b| resolve_bin(b, &job));
    if !errors.is_empty() {
        let (status, fb) = refused(Problem::Invalid(errors), "scan", form);
        return answer(&s, &auth, &headers, &id, status, fb).await;
    }
    let code = code.unwrap_or_default();
    let products = products_of(&s, job_skus(&job)).await?;
    let sku = resolve_code(&code, &job, &products);
    let result = s
        .store
        .record_pick(
            &id,
            PickInput {
                sku: Some(sku.clone()),
                barcode: None,
                bin: bin.clone(),
                quantity: Some(quantity),
                found: None,
            },
            &auth.context(),
        )
        .await;
    match result {
        Ok(Outcome::Done(r)) => {
            let at = r
                .update
                .bin
                .as_ref()
                .map(|b| format!(" from {b}"))
                .unwrap_or_default();
            let text = format!("Picked {quantity} × {sku}{at}.");
            let details = pick_summary(&r.job, &r, &tote_labels(&r.job));
            let fb = PickFeedback {
                ok: true,
                form: "scan",
                text,
                details,
                errors: vec![],
                values: None,
            };
            answer(&s, &auth, &headers, &id, StatusCode::OK, fb).await
        }
        Ok(Outcome::Replayed { .. }) => {
            let fb = PickFeedback {
                ok: true,
                form: "scan",
                text: "This scan was already recorded.".into(),
                details: vec![],
                errors: vec![],
                values: None,
            };
            answer(&s, &auth, &headers, &id, StatusCode::OK, fb).await
        }
        Err(StoreError::Problem(problem)) => {
            let (status, mut fb) = refused(problem, "scan", form);
            if code != sku {
                fb.details.push(format!("Barcode {code} is {sku}."));
            }
            answer(&s, &auth, &headers, &id, status, fb).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Units and ids of the fulfillment orders of an order.
async fn order_fos(s: &WebState, number: &str) -> WebResult<Vec<(String, String, i64, String)>> {
    Ok(s.store
        .get_order(number)
        .await?
        .map(|o| {
            o.fulfillment_orders
                .iter()
                .filter(|f| f.status.is_active())
                .map(|f| {
                    (
                        f.id.clone(),
                        f.location.clone(),
                        f.units(),
                        lines_text(&f.lines),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// `POST /picking/{id}/short`: the bin holds fewer units than the line needs. What was
/// found is put as a scan would; the rest is written off and routed again elsewhere.
pub(crate) async fn short(
    State(s): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    p: Posted,
) -> WebResult {
    let Posted { auth, form } = p;
    auth.require(Permission::WriteStock)?;
    let job = s
        .store
        .get_pick_job(&id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("Pick job {id}")))?;
    let mut errors = Vec::new();
    let line = form
        .get("line")
        .and_then(|l| l.parse::<usize>().ok())
        .and_then(|i| job.progress.lines.get(i))
        .filter(|l| l.remaining() > 0);
    if line.is_none() && job.status == PickJobStatus::Open {
        errors.push(FieldError::new(
            "line",
            "choose a line that is still to pick",
        ));
    }
    let found = whole(form.get("found"), "found", 0, &mut errors);
    if found.is_none() && !errors.iter().any(|e| e.field == "found") {
        errors.push(FieldError::new(
            "found",
            "enter how many units the bin held (0 when empty)",
        ));
    }
    if job.status == PickJobStatus::Done {
        let problem = Problem::Conflict {
            message: format!("pick list {id} is done"),
            current: Some("done".into()),
        };
        let (status, fb) = refused(problem, "short", form);
        return answer(&s, &auth, &headers, &id, status, fb).await;
    }
    let (Some(line), Some(found), true) = (line, found, errors.is_empty()) else {
        let (status, fb) = refused(Problem::Invalid(errors), "short", form);
        return answer(&s, &auth, &headers, &id, status, fb).await;
    };
    // The orders that may lose units, as they are now, to tell where their units went.
    let mut before: HashMap<String, Vec<(String, String, i64, String)>> = HashMap::new();
    for t in &line.totes {
        if let Some(fo) = s
            .store
            .get_fulfillment_order(&t.fulfillment_order_id)
            .await?
            && !before.contains_key(&fo.order)
        {
            before.insert(fo.order.clone(), order_fos(&s, &fo.order).await?);
        }
    }
    let (sku, bin) = (line.sku.clone(), line.bin.clone());
    let missing = line.remaining() - found;
    let result = s
        .store
        .record_pick(
            &id,
            PickInput {
                sku: Some(sku.clone()),
                barcode: None,
                bin: bin.clone(),
                quantity: None,
                found: Some(found),
            },
            &auth.context(),
        )
        .await;
    match result {
        Ok(Outcome::Done(r)) => {
            let at = bin.as_deref().unwrap_or("its place");
            let text = format!("{at} is short: {found} × {sku} found, {missing} missing.");
            let labels = tote_labels(&r.job);
            let mut details = Vec::new();
            for l in &r.update.losses {
                details.push(format!(
                    "{} ({}) loses {} × {}.",
                    l.fulfillment_order_id,
                    labels
                        .get(&l.fulfillment_order_id)
                        .map_or_else(|| format!("tote {}", l.tote), |(t, _)| t.to_lowercase()),
                    l.units,
                    l.sku
                ));
            }
            let lost: i64 = r.update.losses.iter().map(|l| l.units).sum();
            if lost > 0 {
                details.push(format!(
                    "{lost} × {sku} written off at {} (shrinkage).",
                    job.location
                ));
            }
            for (order, was) in &before {
                let affected: Vec<&String> = r
                    .update
                    .losses
                    .iter()
                    .map(|l| &l.fulfillment_order_id)
                    .filter(|fo| fo.starts_with(&format!("{order}-")))
                    .collect();
                if affected.is_empty() {
                    continue;
                }
                let now = order_fos(&s, order).await?;
                let rerouted: Vec<String> = now
                    .iter()
                    .filter(|(fid, _, units, _)| {
                        !affected.contains(&fid)
                            && was
                                .iter()
                                .find(|(w, ..)| w == fid)
                                .is_none_or(|(_, _, before_units, _)| units > before_units)
                    })
                    .map(|(fid, loc, _, lines)| format!("{fid} at {loc} ({lines})"))
                    .collect();
                details.push(if rerouted.is_empty() {
                    format!("{order}: no other location has the units; they wait as a backorder.")
                } else {
                    format!("{order}: routed again to {}.", rerouted.join(", "))
                });
            }
            details.extend(pick_summary(&r.job, &r, &labels));
            let fb = PickFeedback {
                ok: true,
                form: "short",
                text,
                details,
                errors: vec![],
                values: None,
            };
            answer(&s, &auth, &headers, &id, StatusCode::OK, fb).await
        }
        Ok(Outcome::Replayed { .. }) => {
            let fb = PickFeedback {
                ok: true,
                form: "short",
                text: "This short pick was already recorded.".into(),
                details: vec![],
                errors: vec![],
                values: None,
            };
            answer(&s, &auth, &headers, &id, StatusCode::OK, fb).await
        }
        Err(StoreError::Problem(problem)) => {
            let (status, fb) = refused(problem, "short", form);
            answer(&s, &auth, &headers, &id, status, fb).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------
// `/picking/{id}/print`

struct PrintLine {
    n: usize,
    bin: String,
    flag: &'static str,
    sku: String,
    name: String,
    quantity: i64,
    totes: String,
}

struct PrintTote {
    label: String,
    code: String,
    fo: String,
    order: String,
    units: i64,
}

struct PrintList {
    number: u32,
    zone: Option<String>,
    units: i64,
    weight: String,
    path: String,
    totes: Vec<PrintTote>,
    lines: Vec<PrintLine>,
}

#[derive(Template)]
#[template(path = "pick_print.html")]
struct PrintPage {
    v: &'static str,
    id: String,
    location_label: String,
    strategy: String,
    created: String,
    status_label: &'static str,
    units: i64,
    path: String,
    lists: Vec<PrintList>,
}

/// `GET /picking/{id}/print`: the job on paper, list by list in walk order.
pub(crate) async fn print(
    State(s): State<WebState>,
    auth: Auth,
    Path(id): Path<String>,
) -> WebResult {
    auth.require(Permission::Read)?;
    let job = s
        .store
        .get_pick_job(&id)
        .await?
        .ok_or_else(|| WebError::NotFound(format!("Pick job {id}")))?;
    let locations = s.store.list_locations().await?;
    let products = products_of(&s, job_skus(&job)).await?;
    let labels = tote_labels(&job);
    let codes = tote_codes(&job);
    let label = |fo: &str, tote: u32| {
        labels
            .get(fo)
            .map_or_else(|| format!("Tote {tote}"), |(l, _)| l.clone())
    };
    let mut n = 0;
    let lists = job
        .lists
        .iter()
        .map(|l| PrintList {
            number: l.number,
            zone: l.zone.clone(),
            units: l.units,
            weight: format!("{} g", group(&l.weight_g.to_string())),
            path: path_text(u64::from(l.path.stops), l.path.steps, l.path.metres),
            totes: l
                .totes
                .iter()
                .map(|t| PrintTote {
                    label: label(&t.fulfillment_order_id, t.tote),
                    code: codes
                        .get(&t.fulfillment_order_id)
                        .cloned()
                        .unwrap_or_default(),
                    fo: t.fulfillment_order_id.clone(),
                    order: t.order_number.clone(),
                    units: t.units,
                })
                .collect(),
            lines: l
                .lines
                .iter()
                .map(|line| {
                    n += 1;
                    PrintLine {
                        n,
                        bin: line.bin.clone().unwrap_or_else(|| "—".into()),
                        flag: line.flag.as_ref().map_or("", |f| flag_label(&tag(f))),
                        sku: line.sku.clone(),
                        name: products
                            .get(&line.sku)
                            .map_or_else(String::new, |p| p.name.clone()),
                        quantity: line.quantity,
                        totes: line
                            .totes
                            .iter()
                            .map(|t| {
                                format!(
                                    "{} × {}",
                                    label(&t.fulfillment_order_id, t.tote),
                                    t.quantity
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                    }
                })
                .collect(),
        })
        .collect();
    let (units, _, _) = totals(&job);
    let p = PrintPage {
        v: crate::view::ASSET_VERSION,
        id: job.id.clone(),
        location_label: location_label(&locations, &job.location),
        strategy: strategy_label(&tag(&job.strategy)),
        created: fmt_time(job.created_at),
        status_label: if job.status == PickJobStatus::Open {
            "Open"
        } else {
            "Done"
        },
        units,
        path: job_path(&job),
        lists,
    };
    Ok(Html(p.render()?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_plainly() {
        assert_eq!(path_text(1, 0, None), "1 stop");
        assert_eq!(
            path_text(4, 12, Some(36.54)),
            "4 stops · 12 bins along the walk · 36.5 m"
        );
        assert_eq!(path_text(3, 0, Some(0.0)), "3 stops");
    }

    #[test]
    fn tote_codes_read_as_typed_or_scanned() {
        let want = Some(("PL-000012".to_string(), 3));
        for code in [
            "PL-000012-T3",
            "pl-000012 t3",
            "PL-000012/3",
            "PL-12-L3",
            " PL-000012-3 ",
        ] {
            assert_eq!(parse_tote_code(code), want, "{code}");
        }
        for code in [
            "PL-000012",
            "PL-000012-T0",
            "PL-000012-TX",
            "SO-000012-3",
            "PL--T3",
        ] {
            assert_eq!(parse_tote_code(code), None, "{code}");
        }
    }

    #[test]
    fn tags_name_the_warehouse_enums() {
        let s: ordo_store::PickJobInput =
            serde_json::from_value(json!({"strategy": {"kind": "wave", "by": "zone"}})).unwrap();
        assert_eq!(tag(&s.strategy), "wave");
        assert_eq!(tag(&PickJobStatus::Done), "done");
    }
}
