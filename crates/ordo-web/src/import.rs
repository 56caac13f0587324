//! CSV import of products (`/products/import`), stock receipts (`/inventory/import`) and
//! stock counts (`/inventory/counts/import`): paste or upload, preview every row with its
//! errors (nothing is written), then import the valid rows, each through the same store
//! call the API uses. The import runs on its own task; the page shows its progress
//! (`/imports/{id}`, polled) and then the rows that were not imported.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse};
use ordo_domain::Problem;
use ordo_domain::catalog::{Product, ProductInput};
use ordo_domain::inventory::{AdjustmentInput, CountInput, StockCommand, StockWrite};
use ordo_store::{Outcome, Permission, StoreError};

use crate::WebState;
use crate::error::{WebResult, describe, sentence};
use crate::session::{Auth, Upload};
use crate::view::{PageCtx, page};

/// Rows one import may hold.
const MAX_ROWS: usize = 2_000;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Products,
    Stock,
    Counts,
    Bins,
}

impl Kind {
    fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Products => &[
                "sku",
                "name",
                "price",
                "barcode",
                "weight_g",
                "category",
                "handling_classes",
            ],
            Kind::Stock => &["sku", "location", "quantity", "reference"],
            Kind::Counts => &["sku", "location", "counted", "expected", "reference"],
            Kind::Bins => &["location", "sku", "bin"],
        }
    }
    fn url(self) -> &'static str {
        match self {
            Kind::Products => "/products/import",
            Kind::Stock => "/inventory/import",
            Kind::Counts => "/inventory/counts/import",
            Kind::Bins => "/locations/bins/import",
        }
    }
    fn back(self) -> &'static str {
        match self {
            Kind::Products => "/products",
            Kind::Stock | Kind::Counts => "/inventory",
            Kind::Bins => "/locations",
        }
    }
    fn permission(self) -> Permission {
        match self {
            Kind::Products => Permission::ManageCatalog,
            Kind::Stock | Kind::Counts | Kind::Bins => Permission::WriteStock,
        }
    }
}

#[derive(Clone)]
pub(crate) struct PreviewRow {
    pub line: usize,
    pub cells: Vec<String>,
    /// `Create`, `Update`, `Receive 5` …; empty when the row has errors.
    pub action: String,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    ctx: PageCtx,
    title: &'static str,
    intro: &'static str,
    action_url: &'static str,
    back: &'static str,
    section: &'static str,
    columns: &'static [&'static str],
    example: &'static str,
    csv: String,
    previewed: bool,
    rows: Vec<PreviewRow>,
    valid: usize,
    invalid: usize,
    message: Option<String>,
    /// After an import that skipped rows: what was done.
    done: Option<String>,
    /// While an import runs: its progress, polled.
    progress: Option<ProgressView>,
}

pub(crate) struct ProgressView {
    pub id: String,
    pub done: usize,
    pub total: usize,
}

#[derive(Template)]
#[template(path = "import_progress.html")]
struct ProgressFragment<'a> {
    p: &'a ProgressView,
}

fn page_for(auth: &Auth, kind: Kind, csv: String) -> ImportPage {
    let (title, intro, example, section) = match kind {
        Kind::Products => (
            "Import products",
            "One product per row. A new SKU is created; an existing one is updated, and its \
             empty cells keep their current values. Handling classes are separated by ; \
             (fragile;hazmat). Prices are in the product's currency (EUR for new products).",
            "sku,name,price,barcode,weight_g,category,handling_classes\nMUG-2,Espresso cup,8.50,4006381333931,180,Kitchen,fragile",
            "products",
        ),
        Kind::Stock => (
            "Import stock receipts",
            "One receipt per row: the units arrived at a location and are added to its on-hand \
             stock (reason: received). The reference is optional, e.g. the purchase order.",
            "sku,location,quantity,reference\nMUG-1,WH1,24,PO-1042",
            "inventory",
        ),
        Kind::Bins => (
            "Import pick bins",
            "One pick bin per row: where the SKU is picked at that location. The bin must \
             exist in the location's layout or follow its code format; an empty bin removes \
             the SKU's pick bin there.",
            "location,sku,bin\nWH1,MUG-1,A-01-02-A",
            "locations",
        ),
        Kind::Counts => (
            "Import stock counts",
            "One count per row: the on-hand units counted at a location replace the recorded \
             figure (reason: cycle_count), the difference written to the ledger. With \
             expected, the count applies only if the recorded figure is still the one the \
             counter saw; otherwise the row is refused with the current figure.",
            "sku,location,counted,expected,reference\nMUG-1,WH1,22,24,COUNT-2026-11",
            "inventory",
        ),
    };
    ImportPage {
        ctx: PageCtx::new(auth, section),
        title,
        intro,
        action_url: kind.url(),
        back: kind.back(),
        section,
        columns: kind.columns(),
        example,
        csv,
        previewed: false,
        rows: vec![],
        valid: 0,
        invalid: 0,
        message: None,
        done: None,
        progress: None,
    }
}

/// `GET /products/import`, `GET /inventory/import`: the paste and upload form.
pub(crate) async fn form_products(auth: Auth) -> WebResult {
    show_form(auth, Kind::Products)
}

pub(crate) async fn form_stock(auth: Auth) -> WebResult {
    show_form(auth, Kind::Stock)
}

pub(crate) async fn form_counts(auth: Auth) -> WebResult {
    show_form(auth, Kind::Counts)
}

pub(crate) async fn form_bins(auth: Auth) -> WebResult {
    show_form(auth, Kind::Bins)
}

fn show_form(auth: Auth, kind: Kind) -> WebResult {
    auth.require(kind.permission())?;
    let p = page_for(&auth, kind, String::new());
    page(&p.ctx, &p)
}

/// The rows read, or why the text as a whole cannot be read.
#[derive(Debug)]
struct Parsed {
    /// Line and cells in column order (missing cells empty).
    rows: Vec<(usize, Vec<String>)>,
    /// Rows with too many cells, by line.
    errors: HashMap<usize, String>,
}

fn parse(kind: Kind, text: &str) -> Result<Parsed, String> {
    let columns = kind.columns();
    let mut records = crate::csv::records(text);
    if records.is_empty() {
        return Err("Paste or upload at least one row.".into());
    }
    // A header row (one of its cells is `sku`) may name the columns in any order.
    let order: Vec<usize> = if records[0].1.iter().any(|c| c.eq_ignore_ascii_case("sku")) {
        let (_, header) = records.remove(0);
        let mut order = Vec::new();
        for h in &header {
            let h = h.to_ascii_lowercase();
            match columns.iter().position(|c| *c == h) {
                Some(i) if !order.contains(&i) => order.push(i),
                Some(_) => return Err(format!("The header names {h} twice.")),
                None => {
                    return Err(format!(
                        "The header names an unknown column “{h}”; the columns are {}.",
                        columns.join(",")
                    ));
                }
            }
        }
        order
    } else {
        (0..columns.len()).collect()
    };
    if records.is_empty() {
        return Err("The CSV has a header but no rows.".into());
    }
    if records.len() > MAX_ROWS {
        return Err(format!("At most {MAX_ROWS} rows at once."));
    }
    let mut errors = HashMap::new();
    let rows = records
        .into_iter()
        .map(|(line, cells)| {
            if cells.len() > order.len() {
                errors.insert(
                    line,
                    format!(
                        "Line {line}: {} cells; expected at most {} ({}).",
                        cells.len(),
                        order.len(),
                        order
                            .iter()
                            .map(|i| columns[*i])
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                );
            }
            let mut out = vec![String::new(); columns.len()];
            for (cell, i) in cells.into_iter().zip(&order) {
                out[*i] = cell;
            }
            (line, out)
        })
        .collect();
    Ok(Parsed { rows, errors })
}

fn field_line(line: usize, field: &str, message: &str) -> String {
    format!("Line {line}, {field}: {}", sentence(message))
}

/// `handling_classes[1]` → `handling_classes`.
fn column_of(field: &str) -> &str {
    field.split('[').next().unwrap_or(field)
}

fn problem_lines(line: usize, p: &Problem) -> Vec<String> {
    match p {
        Problem::Invalid(errors) => errors
            .iter()
            .map(|e| field_line(line, column_of(&e.field), &e.message))
            .collect(),
        other => vec![format!("Line {line}: {}", describe(other).0)],
    }
}

fn some(v: &str) -> Option<String> {
    Some(v.to_string()).filter(|v| !v.is_empty())
}

/// A product row as the API would take it; an existing product keeps what the row leaves empty.
fn product_row(
    line: usize,
    c: &[String],
    existing: Option<&Product>,
) -> Result<Product, Vec<String>> {
    let mut errors = Vec::new();
    let weight_g = match c[4].as_str() {
        "" => existing.map(|p| p.weight_g),
        w => match w.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(field_line(
                    line,
                    "weight_g",
                    "must be a whole number of grams",
                ));
                None
            }
        },
    };
    let classes: Vec<String> = if c[6].is_empty() {
        existing
            .map(|p| {
                p.handling_classes
                    .iter()
                    .map(|h| h.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        c[6].split([';', '|', ' '])
            .map(|x| x.trim().to_ascii_lowercase())
            .filter(|x| !x.is_empty())
            .collect()
    };
    let input = ProductInput {
        sku: Some(c[0].clone()),
        name: some(&c[1]).or_else(|| existing.map(|p| p.name.clone())),
        price: some(&c[2]).or_else(|| existing.map(|p| p.price.clone())),
        barcode: some(&c[3]).or_else(|| existing.and_then(|p| p.barcode.clone())),
        weight_g,
        category: some(&c[5]).or_else(|| existing.and_then(|p| p.category.clone())),
        handling_classes: classes,
        dimensions: existing.and_then(|p| p.dimensions.clone()),
        unit_cost: existing.map(|p| p.unit_cost.clone()),
        currency: existing.map(|p| p.currency.clone()),
        active: existing.map(|p| p.active),
    };
    match input.validate() {
        Ok(p) if errors.is_empty() => Ok(p),
        Ok(_) => Err(errors),
        Err(problem) => {
            for e in problem_lines(line, &problem) {
                if !errors.contains(&e) {
                    errors.push(e);
                }
            }
            Err(errors)
        }
    }
}

enum Valid {
    Product(Product, bool),
    Receipt(StockWrite),
    Count(StockWrite),
    Bin(String, ordo_store::SkuBin),
}

/// Whole non-negative numbers (`required`: an empty cell is an error, else it is `None`).
fn count_cell(
    line: usize,
    field: &str,
    cell: &str,
    required: bool,
    errors: &mut Vec<String>,
) -> Option<i64> {
    match cell.parse::<i64>() {
        Ok(n) if n >= 0 => Some(n),
        _ if cell.is_empty() && !required => None,
        _ => {
            errors.push(field_line(line, field, "must be a whole number, 0 or more"));
            None
        }
    }
}

/// The row's SKU and location must exist (looked up once per import).
async fn known_place(
    s: &WebState,
    line: usize,
    w: &StockWrite,
    products: &mut HashMap<String, bool>,
    locations: &mut HashMap<String, bool>,
    errors: &mut Vec<String>,
) -> WebResult<()> {
    if !products.contains_key(&w.sku) {
        let known = s.store.get_product(&w.sku).await?.is_some();
        products.insert(w.sku.clone(), known);
    }
    if !products[&w.sku] {
        errors.push(field_line(line, "sku", &format!("unknown SKU {}", w.sku)));
    }
    if !locations.contains_key(&w.location) {
        let known = s.store.get_location(&w.location).await?.is_some();
        locations.insert(w.location.clone(), known);
    }
    if !locations[&w.location] {
        errors.push(field_line(
            line,
            "location",
            &format!("unknown location {}", w.location),
        ));
    }
    Ok(())
}

/// Every row checked (reading only): the valid ones ready to write, the others with errors.
async fn check(
    s: &WebState,
    kind: Kind,
    parsed: Parsed,
) -> WebResult<Vec<(PreviewRow, Option<Valid>)>> {
    let mut out = Vec::with_capacity(parsed.rows.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut products: HashMap<String, bool> = HashMap::new();
    let mut locations: HashMap<String, bool> = HashMap::new();
    let mut layouts: HashMap<String, Option<Result<ordo_warehouse::bins::Layout, Problem>>> =
        HashMap::new();
    for (line, cells) in parsed.rows {
        let mut errors: Vec<String> = parsed.errors.get(&line).cloned().into_iter().collect();
        let mut valid = None;
        match kind {
            Kind::Products => {
                let sku = cells[0].clone();
                if let Some(first) = seen.get(&sku) {
                    errors.push(field_line(
                        line,
                        "sku",
                        &format!("{sku} is already on line {first}"),
                    ));
                } else if !sku.is_empty() {
                    seen.insert(sku.clone(), line);
                }
                let existing = if sku.is_empty() {
                    None
                } else {
                    s.store.get_product(&sku).await?
                };
                match product_row(line, &cells, existing.as_ref()) {
                    Ok(p) if errors.is_empty() => {
                        valid = Some(Valid::Product(p, existing.is_some()))
                    }
                    Ok(_) => {}
                    Err(e) => errors.extend(e),
                }
            }
            Kind::Stock => {
                let quantity = match cells[2].parse::<i64>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        errors.push(field_line(
                            line,
                            "quantity",
                            "must be a positive whole number",
                        ));
                        None
                    }
                };
                let input = AdjustmentInput {
                    sku: some(&cells[0]),
                    location: some(&cells[1]),
                    state: None,
                    delta: quantity,
                    reason: Some("received".into()),
                    reference: some(&cells[3]),
                };
                match input.validate() {
                    Ok(w) => {
                        known_place(s, line, &w, &mut products, &mut locations, &mut errors)
                            .await?;
                        if errors.is_empty() {
                            valid = Some(Valid::Receipt(w));
                        }
                    }
                    Err(problem) => {
                        for e in problem_lines(line, &problem) {
                            let dup = errors.iter().any(|x| {
                                x.starts_with(&format!("Line {line}, quantity:"))
                                    && e.starts_with(&format!("Line {line}, delta:"))
                            });
                            if !dup && !errors.contains(&e) {
                                errors.push(e.replace(", delta:", ", quantity:"));
                            }
                        }
                    }
                }
            }
            Kind::Counts => {
                let counted = count_cell(line, "counted", &cells[2], true, &mut errors);
                let expected = count_cell(line, "expected", &cells[3], false, &mut errors);
                let key = format!("{}\u{1f}{}", cells[0], cells[1]);
                if let Some(first) = seen.get(&key) {
                    errors.push(field_line(
                        line,
                        "sku",
                        &format!(
                            "{} at {} is already counted on line {first}",
                            cells[0], cells[1]
                        ),
                    ));
                } else {
                    seen.insert(key, line);
                }
                let input = CountInput {
                    sku: some(&cells[0]),
                    location: some(&cells[1]),
                    on_hand: counted,
                    expected_on_hand: expected,
                    reason: None,
                    reference: some(&cells[4]),
                };
                match input.validate() {
                    Ok(w) => {
                        known_place(s, line, &w, &mut products, &mut locations, &mut errors)
                            .await?;
                        if errors.is_empty() {
                            valid = Some(Valid::Count(w));
                        }
                    }
                    Err(problem) => {
                        for e in problem_lines(line, &problem) {
                            if !e.contains(", on_hand:") && !errors.contains(&e) {
                                errors.push(e);
                            }
                        }
                    }
                }
            }
            Kind::Bins => {
                let (code, sku, bin) = (cells[0].trim(), cells[1].trim(), cells[2].trim());
                let key = format!("{code}\u{1f}{sku}");
                if let Some(first) = seen.get(&key) {
                    errors.push(field_line(
                        line,
                        "sku",
                        &format!("{sku} at {code} is already on line {first}"),
                    ));
                } else {
                    seen.insert(key, line);
                }
                if sku.is_empty() {
                    errors.push(field_line(line, "sku", "is required"));
                } else {
                    if !products.contains_key(sku) {
                        let known = s.store.get_product(sku).await?.is_some();
                        products.insert(sku.to_string(), known);
                    }
                    if !products[sku] {
                        errors.push(field_line(line, "sku", &format!("unknown SKU {sku}")));
                    }
                }
                if !layouts.contains_key(code) {
                    let layout = match s.store.get_location(code).await? {
                        None => None,
                        Some(_) => Some(ordo_store::layout_of(s.store.get_layout(code).await?)),
                    };
                    layouts.insert(code.to_string(), layout);
                }
                match &layouts[code] {
                    None => errors.push(field_line(
                        line,
                        "location",
                        &format!("unknown location {code}"),
                    )),
                    Some(Err(p)) => errors.push(field_line(
                        line,
                        "location",
                        &format!("the layout of {code} cannot be read: {}", describe(p).0),
                    )),
                    Some(Ok(layout)) => {
                        if !bin.is_empty()
                            && layout.bin(bin).is_none()
                            && let Err(e) = layout.format().parse(bin)
                        {
                            errors.push(field_line(
                                line,
                                "bin",
                                &format!(
                                    "{bin} is not a bin of {code} ({})",
                                    e.to_string().trim_end_matches('.')
                                ),
                            ));
                        }
                    }
                }
                if errors.is_empty() {
                    valid = Some(Valid::Bin(
                        code.to_string(),
                        ordo_store::SkuBin {
                            sku: sku.to_string(),
                            bin: bin.to_string(),
                        },
                    ));
                }
            }
        }
        let action = match &valid {
            Some(Valid::Bin(_, b)) if b.bin.is_empty() => "Remove".to_string(),
            Some(Valid::Bin(_, b)) => format!("Pick from {}", b.bin),
            Some(Valid::Count(w)) => match &w.command {
                StockCommand::Count { on_hand, .. } => format!("Count {on_hand}"),
                _ => "Count".into(),
            },
            Some(Valid::Product(_, true)) => "Update".to_string(),
            Some(Valid::Product(_, false)) => "Create".to_string(),
            Some(Valid::Receipt(w)) => match &w.command {
                ordo_domain::inventory::StockCommand::Adjust { delta, .. } => {
                    format!("Receive {delta}")
                }
                _ => "Receive".into(),
            },
            None => String::new(),
        };
        out.push((
            PreviewRow {
                line,
                cells,
                action,
                errors,
            },
            valid,
        ));
    }
    Ok(out)
}

/// `POST /products/import`, `POST /inventory/import`: `action=preview` (the default) shows
/// the rows; `action=import` writes the valid ones.
pub(crate) async fn post_products(State(s): State<WebState>, u: Upload) -> WebResult {
    run(s, u, Kind::Products).await
}

pub(crate) async fn post_stock(State(s): State<WebState>, u: Upload) -> WebResult {
    run(s, u, Kind::Stock).await
}

pub(crate) async fn post_counts(State(s): State<WebState>, u: Upload) -> WebResult {
    run(s, u, Kind::Counts).await
}

pub(crate) async fn post_bins(State(s): State<WebState>, u: Upload) -> WebResult {
    run(s, u, Kind::Bins).await
}

async fn run(s: WebState, Upload(p): Upload, kind: Kind) -> WebResult {
    p.auth.require(kind.permission())?;
    let file = p.form.raw("file");
    let text = if file.trim().is_empty() {
        p.form.raw("csv")
    } else {
        file
    };
    let importing = p.form.get("action").as_deref() == Some("import");
    let mut view = page_for(&p.auth, kind, text.clone());
    let parsed = match parse(kind, &text) {
        Ok(parsed) => parsed,
        Err(m) => {
            view.message = Some(format!("Nothing read: {m}"));
            let mut r = page(&view.ctx, &view)?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(r);
        }
    };
    let checked = check(&s, kind, parsed).await?;
    if !importing {
        view.previewed = true;
        view.valid = checked.iter().filter(|(_, v)| v.is_some()).count();
        view.invalid = checked.len() - view.valid;
        view.rows = checked.into_iter().map(|(r, _)| r).collect();
        return page(&view.ctx, &view);
    }
    let total = checked.len();
    let id = format!("{:032x}", rand::random::<u128>());
    let job = s.imports.start(
        id.clone(),
        kind,
        p.auth.session.user.username.clone(),
        total,
    );
    let (store, ctx) = (s.store.clone(), p.auth.context());
    tokio::spawn(async move {
        let finished = write_rows(store, kind, checked, ctx, &job).await;
        job.lock().unwrap_or_else(|e| e.into_inner()).finished = Some(finished);
    });
    view.progress = Some(ProgressView { id, done: 0, total });
    page(&view.ctx, &view)
}

/// An import in progress or done, for `/imports/{id}`.
pub(crate) struct ImportJob {
    kind: Kind,
    owner: String,
    total: usize,
    done: usize,
    finished: Option<Finished>,
    started: std::time::Instant,
}

struct Finished {
    summary: String,
    skipped: Vec<PreviewRow>,
    /// The import stopped at a storage failure; the rows before it were written.
    failure: Option<String>,
}

/// Imports of this process by id; finished ones are forgotten after a quarter of an hour.
#[derive(Default)]
pub(crate) struct ImportJobs(Mutex<HashMap<String, Arc<Mutex<ImportJob>>>>);

impl ImportJobs {
    fn start(&self, id: String, kind: Kind, owner: String, total: usize) -> Arc<Mutex<ImportJob>> {
        let job = Arc::new(Mutex::new(ImportJob {
            kind,
            owner,
            total,
            done: 0,
            finished: None,
            started: std::time::Instant::now(),
        }));
        let mut jobs = self.0.lock().unwrap_or_else(|e| e.into_inner());
        jobs.retain(|_, j| {
            let j = j.lock().unwrap_or_else(|e| e.into_inner());
            j.finished.is_none() || j.started.elapsed().as_secs() < 900
        });
        jobs.insert(id, job.clone());
        job
    }

    fn get(&self, id: &str) -> Option<Arc<Mutex<ImportJob>>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }
}

/// Writes the valid rows one store call each, counting progress; rows the store refuses are
/// reported with the ones that were invalid from the start.
async fn write_rows(
    store: Arc<dyn ordo_store::Store>,
    kind: Kind,
    checked: Vec<(PreviewRow, Option<Valid>)>,
    ctx: ordo_store::WriteContext,
    job: &Mutex<ImportJob>,
) -> Finished {
    let (mut created, mut updated, mut written, mut units) = (0, 0, 0, 0i64);
    let mut skipped: Vec<PreviewRow> = Vec::new();
    let mut failure = None;
    for (mut row, valid) in checked {
        let result = match valid {
            None => {
                skipped.push(row);
                job.lock().unwrap_or_else(|e| e.into_inner()).done += 1;
                continue;
            }
            Some(Valid::Product(product, existed)) => {
                store.put_product(product, &ctx).await.map(|_| {
                    if existed {
                        updated += 1;
                    } else {
                        created += 1;
                    }
                })
            }
            Some(Valid::Bin(location, bin)) => store
                .put_sku_bins(&location, vec![bin], &ctx)
                .await
                .map(|()| written += 1),
            Some(Valid::Receipt(w) | Valid::Count(w)) => {
                let n = match &w.command {
                    StockCommand::Adjust { delta, .. } => *delta,
                    _ => 0,
                };
                store.write_stock(w, &ctx).await.map(|o| {
                    if let Outcome::Done(_) = o {
                        written += 1;
                        units += n;
                    }
                })
            }
        };
        match result {
            Ok(()) => {}
            Err(StoreError::Problem(problem)) => {
                row.action = String::new();
                row.errors = problem_lines(row.line, &problem);
                skipped.push(row);
            }
            Err(e) => {
                tracing::error!(error = %e, "import stopped");
                failure = Some(format!(
                    "The import stopped at line {}: the database could not write it. The rows before it were imported; import the file again to finish (rows already imported are not doubled for products; receipts would be).",
                    row.line
                ));
                break;
            }
        }
        job.lock().unwrap_or_else(|e| e.into_inner()).done += 1;
    }
    let summary = match kind {
        Kind::Products => format!(
            "Imported {} product row{}: {created} created, {updated} updated.",
            created + updated,
            if created + updated == 1 { "" } else { "s" }
        ),
        Kind::Stock => format!(
            "Imported {written} receipt{} ({units} units).",
            if written == 1 { "" } else { "s" }
        ),
        Kind::Counts => format!(
            "Imported {written} count{}.",
            if written == 1 { "" } else { "s" }
        ),
        Kind::Bins => format!(
            "Imported {written} pick bin{}.",
            if written == 1 { "" } else { "s" }
        ),
    };
    Finished {
        summary,
        skipped,
        failure,
    }
}

/// `GET /imports/{id}`: the progress of an import (a fragment when polled by the page),
/// then its result: back to the list when every row was imported, else the rows that
/// were not.
pub(crate) async fn progress(
    State(s): State<WebState>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> WebResult {
    let job = s
        .imports
        .get(&id)
        .ok_or_else(|| crate::error::WebError::NotFound("This import".into()))?;
    let (kind, owner) = {
        let j = job.lock().unwrap_or_else(|e| e.into_inner());
        (j.kind, j.owner.clone())
    };
    auth.require(kind.permission())?;
    if owner != auth.session.user.username {
        return Err(crate::error::WebError::NotFound("This import".into()));
    }
    let polled = crate::fulfillment::is_htmx(&headers);
    let j = job.lock().unwrap_or_else(|e| e.into_inner());
    let Some(finished) = &j.finished else {
        let p = ProgressView {
            id,
            done: j.done,
            total: j.total,
        };
        drop(j);
        if polled {
            return Ok(Html(ProgressFragment { p: &p }.render()?).into_response());
        }
        let mut view = page_for(&auth, kind, String::new());
        view.progress = Some(p);
        return page(&view.ctx, &view);
    };
    if polled {
        // Finished: the whole page shows the result.
        let mut r = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("/imports/{id}")) {
            r.headers_mut().insert("HX-Redirect", v);
        }
        return Ok(r);
    }
    if finished.skipped.is_empty() && finished.failure.is_none() {
        return Ok(auth.redirect_with(kind.back(), true, &finished.summary));
    }
    let mut view = page_for(&auth, kind, String::new());
    let skipped = finished.skipped.len();
    view.done = Some(if skipped == 0 {
        finished.summary.clone()
    } else {
        format!(
            "{} {skipped} row{} with errors {} skipped: correct {} and import {} again.",
            finished.summary,
            if skipped == 1 { "" } else { "s" },
            if skipped == 1 { "was" } else { "were" },
            if skipped == 1 { "it" } else { "them" },
            if skipped == 1 { "it" } else { "them" },
        )
    });
    view.message = finished.failure.clone();
    view.previewed = true;
    view.invalid = skipped;
    view.rows = finished.skipped.clone();
    drop(j);
    page(&view.ctx, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_may_reorder_columns() {
        let p = parse(
            Kind::Stock,
            "location,sku,quantity\nWH1,MUG-1,3\nWH1,TEA-1,2,x\n",
        )
        .unwrap();
        assert_eq!(
            p.rows[0],
            (
                2,
                vec!["MUG-1".into(), "WH1".into(), "3".into(), String::new()]
            )
        );
        assert!(p.errors[&3].starts_with("Line 3: 4 cells; expected at most 3"));
        assert!(
            parse(Kind::Stock, "sku,bin\n")
                .unwrap_err()
                .contains("unknown column")
        );
        let p = parse(Kind::Products, "A-1,Mug,1.00\n").unwrap();
        assert_eq!(p.rows[0].1[2], "1.00");
    }

    #[test]
    fn product_rows_name_the_line_and_field() {
        let c: Vec<String> = ["A 1", "", "x", "", "heavy", "", "glass"]
            .map(String::from)
            .to_vec();
        let e = product_row(4, &c, None).unwrap_err();
        assert!(
            e.iter().any(|e| e.starts_with("Line 4, weight_g:")),
            "{e:?}"
        );
        assert!(e.iter().any(|e| e.starts_with("Line 4, sku:")), "{e:?}");
        assert!(e.iter().any(|e| e.starts_with("Line 4, name:")), "{e:?}");
        assert!(e.iter().any(|e| e.starts_with("Line 4, price:")), "{e:?}");
        assert!(
            e.iter().any(|e| e.starts_with("Line 4, handling_classes:")),
            "{e:?}"
        );
    }
}
