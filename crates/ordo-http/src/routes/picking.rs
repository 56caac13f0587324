//! Bins and picking: a location's bin layout, the pick bin of each SKU, pick lists built
//! from open fulfillment orders, and pick confirmation by scan.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ordo_store::{
    Page, PageRequest, Permission, PickCommand, PickInput, PickJob, PickJobInput, PickJobStatus,
    PickResult, SkuBin,
};
use ordo_warehouse::bins::{BinRecord, Layout, LayoutConfig, Point};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::outcome;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

async fn location_exists(s: &AppState, code: &str) -> ApiResult<()> {
    s.store
        .get_location(code)
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found(format!("location {code}")))
}

fn check_layout(layout: &LayoutConfig) -> ApiResult<()> {
    Layout::new(layout.clone())
        .map(|_| ())
        .map_err(|e| ApiError::field("layout", e.to_string()))
}

/// The location's bin layout: code format, bin master (explicit walk sequence, floor
/// coordinates) and the start point of every walk. Without one, bin codes are read by the
/// default format (zone-aisle-bay-level) and walked in S-shape.
#[utoipa::path(get, path = "/api/v1/locations/{code}/layout", tag = "picking",
    responses((status = 200, body = LayoutConfig), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get_layout(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> ApiResult<Json<LayoutConfig>> {
    caller.require(Permission::Read)?;
    location_exists(&s, &code).await?;
    Ok(Json(s.store.get_layout(&code).await?.unwrap_or_default()))
}

/// Replace the location's bin layout (validated: format, bins once each, codes that follow
/// the format unless they have an explicit sequence, finite coordinates).
#[utoipa::path(put, path = "/api/v1/locations/{code}/layout", tag = "picking", request_body = LayoutConfig,
    responses((status = 200, body = LayoutConfig), (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn put_layout(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    JsonBody(layout): JsonBody<LayoutConfig>,
) -> ApiResult<Json<LayoutConfig>> {
    caller.require(Permission::WriteStock)?;
    location_exists(&s, &code).await?;
    check_layout(&layout)?;
    s.store
        .put_layout(&code, layout.clone(), &caller.context())
        .await?;
    Ok(Json(layout))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct BinInput {
    /// Explicit walk sequence; wins over the order derived from the code.
    pub sequence: Option<u64>,
    /// Floor coordinates in metres, for walk lengths in metres.
    pub x_m: Option<f64>,
    pub y_m: Option<f64>,
}

/// Add or change one bin of the bin master.
#[utoipa::path(put, path = "/api/v1/locations/{code}/bins/{bin}", tag = "picking", request_body = BinInput,
    responses((status = 200, body = LayoutConfig), (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn put_bin(
    State(s): State<AppState>,
    caller: Caller,
    Path((code, bin)): Path<(String, String)>,
    JsonBody(input): JsonBody<BinInput>,
) -> ApiResult<Json<LayoutConfig>> {
    caller.require(Permission::WriteStock)?;
    location_exists(&s, &code).await?;
    let position = match (input.x_m, input.y_m) {
        (Some(x_m), Some(y_m)) => Some(Point { x_m, y_m }),
        (None, None) => None,
        _ => return Err(ApiError::field("x_m", "give both x_m and y_m, or neither")),
    };
    let mut layout = s.store.get_layout(&code).await?.unwrap_or_default();
    let record = BinRecord {
        code: bin.clone(),
        sequence: input.sequence,
        position,
    };
    match layout.bins.iter_mut().find(|b| b.code == bin) {
        Some(b) => *b = record,
        None => layout.bins.push(record),
    }
    check_layout(&layout)?;
    s.store
        .put_layout(&code, layout.clone(), &caller.context())
        .await?;
    Ok(Json(layout))
}

/// The pick bin of every SKU at the location.
#[utoipa::path(get, path = "/api/v1/locations/{code}/sku-bins", tag = "picking",
    responses((status = 200, body = Vec<SkuBin>), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get_sku_bins(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> ApiResult<Json<Vec<SkuBin>>> {
    caller.require(Permission::Read)?;
    location_exists(&s, &code).await?;
    Ok(Json(s.store.sku_bins(&code).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SkuBinsInput {
    /// `[{sku, bin}]`; an empty `bin` removes the SKU's pick bin.
    #[serde(default)]
    pub bins: Vec<SkuBin>,
    /// The same as CSV text, `sku,bin` per line (a header line `sku,bin` is skipped).
    pub csv: Option<String>,
}

fn parse_csv(text: &str) -> ApiResult<Vec<SkuBin>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && line.eq_ignore_ascii_case("sku,bin")) {
            continue;
        }
        let Some((sku, bin)) = line.split_once(',') else {
            return Err(ApiError::invalid(vec![ordo_domain::FieldError::new(
                format!("csv[{i}]"),
                "expected `sku,bin`",
            )]));
        };
        out.push(SkuBin {
            sku: sku.trim().trim_matches('"').to_string(),
            bin: bin.trim().trim_matches('"').to_string(),
        });
    }
    Ok(out)
}

/// Assign pick bins in bulk (JSON list or CSV text). Every bin must follow the location's
/// format or be in its bin master.
#[utoipa::path(put, path = "/api/v1/locations/{code}/sku-bins", tag = "picking", request_body = SkuBinsInput,
    responses((status = 200, body = Vec<SkuBin>), (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn put_sku_bins(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    JsonBody(input): JsonBody<SkuBinsInput>,
) -> ApiResult<Json<Vec<SkuBin>>> {
    caller.require(Permission::WriteStock)?;
    location_exists(&s, &code).await?;
    let mut bins = input.bins;
    if let Some(csv) = &input.csv {
        bins.extend(parse_csv(csv)?);
    }
    if bins.is_empty() {
        return Err(ApiError::field("bins", "give at least one {sku, bin}"));
    }
    let layout = Layout::new(s.store.get_layout(&code).await?.unwrap_or_default())
        .map_err(|e| ApiError::field("layout", e.to_string()))?;
    let mut errors = Vec::new();
    for (i, b) in bins.iter().enumerate() {
        if !b.bin.trim().is_empty()
            && layout.bin(b.bin.trim()).is_none()
            && layout.format().parse(b.bin.trim()).is_err()
        {
            errors.push(ordo_domain::FieldError::new(
                format!("bins[{i}].bin"),
                format!("{} is not a bin of this location", b.bin),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    s.store.put_sku_bins(&code, bins, &caller.context()).await?;
    Ok(Json(s.store.sku_bins(&code).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PickListParams {
    pub location: Option<String>,
    /// open or done.
    pub status: Option<String>,
    /// 1–500, default 50.
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Release open fulfillment orders at a location into pick lists: chosen by the filters,
/// highest priority then oldest first, within the limits; `single` (one list per order),
/// `batch` (one cart, a tote per order) or `wave` (the batch split by zone). Lines come in
/// walk order with the path length. The released fulfillment orders become `in_progress`.
#[utoipa::path(post, path = "/api/v1/pick-lists", tag = "picking", request_body = PickJobInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request return the first answer")),
    responses((status = 201, body = PickJob), (status = 422, description = "Unknown location or nothing matches", body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<PickJobInput>,
) -> ApiResult<Response> {
    caller.require(Permission::WriteStock)?;
    let location = input
        .location
        .clone()
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| ApiError::field("location", "is required"))?;
    let result = s
        .store
        .create_pick_job(&location, input, &caller.context())
        .await?;
    Ok(outcome(result, super::created))
}

/// Pick lists, newest first.
#[utoipa::path(get, path = "/api/v1/pick-lists", tag = "picking", params(PickListParams),
    responses((status = 200, body = inline(Page<PickJob>)), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<PickListParams>,
) -> ApiResult<Json<Page<PickJob>>> {
    caller.require(Permission::Read)?;
    let status = p
        .status
        .map(|v| {
            PickJobStatus::parse(&v)
                .ok_or_else(|| ApiError::field("status", "must be open or done"))
        })
        .transpose()?;
    let page = PageRequest {
        limit: p.limit,
        cursor: p.cursor,
    };
    Ok(Json(
        s.store
            .list_pick_jobs(p.location.as_deref(), status, &page)
            .await?,
    ))
}

/// One pick job with its lists (for a scanner app) and progress.
#[utoipa::path(get, path = "/api/v1/pick-lists/{id}", tag = "picking",
    responses((status = 200, body = PickJob), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PickJob>> {
    caller.require(Permission::Read)?;
    s.store
        .get_pick_job(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("pick list {id}")))
}

/// What is in one tote of a pick job: the fulfillment order it was assigned to, for the
/// pack station that scans the tote.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToteContents {
    pub pick_list: String,
    pub tote: u32,
    pub order: String,
    /// Units of this order on the job, and how far picking got.
    pub progress: ordo_warehouse::picking::OrderProgress,
    pub fulfillment_order: ordo_domain::fulfillment::FulfillmentOrder,
}

/// The fulfillment order in a tote of a batch or wave pick (what a pack station shows after
/// scanning the tote).
#[utoipa::path(get, path = "/api/v1/pick-lists/{id}/totes/{tote}", tag = "picking",
    responses((status = 200, body = ToteContents), (status = 404, description = "No such pick list or tote", body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn tote(
    State(s): State<AppState>,
    caller: Caller,
    Path((id, tote)): Path<(String, String)>,
) -> ApiResult<Json<ToteContents>> {
    caller.require(Permission::Read)?;
    let tote: u32 = tote
        .trim()
        .parse()
        .map_err(|_| ApiError::not_found(format!("tote {tote} of pick list {id}")))?;
    let job = s
        .store
        .get_pick_job(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("pick list {id}")))?;
    let assignment = job
        .lists
        .iter()
        .flat_map(|l| l.totes.iter())
        .find(|t| t.tote == tote)
        .ok_or_else(|| ApiError::not_found(format!("tote {tote} of pick list {id}")))?;
    let fo_id = &assignment.fulfillment_order_id;
    let progress = job
        .progress
        .orders
        .iter()
        .find(|o| &o.fulfillment_order_id == fo_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("tote {tote} of pick list {id}")))?;
    let fulfillment_order = s
        .store
        .get_fulfillment_order(fo_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("fulfillment order {fo_id}")))?;
    Ok(Json(ToteContents {
        pick_list: job.id.clone(),
        tote,
        order: assignment.order_number.clone(),
        progress,
        fulfillment_order,
    }))
}

/// What the picker should do next.
#[derive(Debug, Serialize, ToSchema)]
pub struct NextPick {
    pub pick_list: String,
    pub status: PickJobStatus,
    /// The next line in walk order with units left; `None` once every line is done.
    pub next: Option<ordo_warehouse::picking::Expected>,
    /// Lines with units left, the next one included.
    pub lines_left: usize,
}

/// The next line to pick, in walk order, for a scanner app: SKU, bin and units left.
#[utoipa::path(get, path = "/api/v1/pick-lists/{id}/next", tag = "picking",
    responses((status = 200, body = NextPick), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn next(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<NextPick>> {
    caller.require(Permission::Read)?;
    let job = s
        .store
        .get_pick_job(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("pick list {id}")))?;
    Ok(Json(NextPick {
        next: job.progress.next(),
        lines_left: job
            .progress
            .lines
            .iter()
            .filter(|l| l.remaining() > 0)
            .count(),
        status: job.status,
        pick_list: job.id,
    }))
}

/// Body of `POST /api/v1/pick-lists/{id}/picks`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PickBody {
    pub sku: Option<String>,
    /// A product barcode instead of the SKU.
    pub barcode: Option<String>,
    pub bin: Option<String>,
    /// Units taken (scan), default 1.
    pub quantity: Option<i64>,
    /// Set for a short pick: how many units the bin really held for this line (0 = empty).
    pub found: Option<i64>,
    /// With a short pick, an optional recount: the SKU's on_hand at the location as counted
    /// now — units on the shelves plus units already picked and not yet shipped (this
    /// pick's `found` included). On_hand is set to it (`cycle_count`) instead of writing
    /// off only the missing units (`shrinkage`).
    pub counted_on_hand: Option<i64>,
}

impl From<PickBody> for PickCommand {
    fn from(b: PickBody) -> Self {
        PickCommand {
            pick: PickInput {
                sku: b.sku,
                barcode: b.barcode,
                bin: b.bin,
                quantity: b.quantity,
                found: b.found,
            },
            counted_on_hand: b.counted_on_hand,
        }
    }
}

/// Confirm a pick by SKU or barcode (`{sku|barcode, quantity, bin}`): a wrong item, wrong bin
/// or over-pick is refused with what was expected, and nothing changes. A **short pick**
/// (`found`: what the bin really held) routes the affected fulfillment orders' units again,
/// newest and lowest priority first, and writes the missing units off (`shrinkage`); with a
/// recount (`counted_on_hand`) on_hand is set to the count instead (`cycle_count`) and the
/// answer compares it with the ledger. Finished fulfillment orders become `picked`.
#[utoipa::path(post, path = "/api/v1/pick-lists/{id}/picks", tag = "picking", request_body = PickBody,
    responses((status = 200, body = PickResult), (status = 404, body = ProblemDetails),
        (status = 409, description = "The list is done", body = ProblemDetails),
        (status = 422, description = "Wrong item, wrong bin or over-pick, with what was expected", body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn pick(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<PickBody>,
) -> ApiResult<Response> {
    caller.require(Permission::WriteStock)?;
    let result = s
        .store
        .record_pick_command(&id, input.into(), &caller.context())
        .await?;
    Ok(outcome(result, |r| {
        (StatusCode::OK, Json(r)).into_response()
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PrintParams {
    /// Which list of the job (1-based, default 1; a wave has one per zone).
    pub list: Option<u32>,
}

/// A pick list as PDF for paper picking: bins and SKUs with Code 128 barcodes, in walk
/// order, with the tote split of every line and the walk's length.
#[utoipa::path(get, path = "/api/v1/pick-lists/{id}/print.pdf", tag = "picking", params(PrintParams),
    responses((status = 200, content_type = "application/pdf", description = "A4 pick list"),
        (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn print_pdf(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<PrintParams>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let doc = crate::documents::pick_list(s.store.as_ref(), &id, p.list.unwrap_or(1)).await?;
    let pdf = doc.to_pdf().map_err(crate::documents::document_error)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}
