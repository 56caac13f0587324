//! Returns (RMA): asking, approving, receiving with inspection, grading, refunds due.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ordo_domain::returns::{
    Condition, Grade, ReceivedLine, ReturnInput, ReturnPolicy, ReturnStatus, ReturnStep,
};
use ordo_store::{Outcome, Page, PageRequest, Permission, ReturnFilter, Rma};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::outcome;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ProblemDetails};
use crate::extract::{Caller, JsonBody};

/// Ask for a return (`RMA-000042`): only shipped units not already on other returns,
/// within the channel's window after delivery, perishables only as `keep_item`; every
/// refused line names its rule. The channel's policy may approve it at once.
#[utoipa::path(post, path = "/api/v1/returns", tag = "returns", request_body = ReturnInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request return the first answer")),
    responses((status = 201, body = Rma), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<ReturnInput>,
) -> ApiResult<Response> {
    caller.require(Permission::ManageOrders)?;
    let mut errors = Vec::new();
    for (i, l) in input.exchange_lines.iter().enumerate() {
        if let Some(sku) = l.sku.as_deref().filter(|s| !s.trim().is_empty())
            && s.store.get_product(sku.trim()).await?.is_none()
        {
            errors.push(ordo_domain::FieldError::new(
                format!("exchange_lines[{i}].sku"),
                format!("product {sku} does not exist"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let result = s.store.create_return(input, &caller.context()).await?;
    match result {
        Outcome::Done(created) => {
            let rma = settle(&s, &caller, created.value).await?;
            Ok(super::created(ordo_store::Created {
                value: rma,
                created: created.created,
            }))
        }
        replayed => Ok(outcome(replayed, super::created)),
    }
}

/// An exchange's or replacement's linked order follows the return's state; its own
/// transaction, after the return's, and safe to repeat.
async fn settle(s: &AppState, caller: &Caller, rma: Rma) -> ApiResult<Rma> {
    let ctx = ordo_store::WriteContext {
        actor: caller.context().actor,
        idempotency_key: None,
    };
    Ok(ordo_store::settle_exchange(s.store.as_ref(), rma, &ctx).await?)
}

async fn settled(s: &AppState, caller: &Caller, result: Outcome<Rma>) -> ApiResult<Response> {
    match result {
        Outcome::Done(rma) => {
            let rma = settle(s, caller, rma).await?;
            Ok((StatusCode::OK, Json(rma)).into_response())
        }
        replayed => Ok(outcome(replayed, |r| {
            (StatusCode::OK, Json(r)).into_response()
        })),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ReturnParams {
    /// An order number (`SO-000123`).
    pub order: Option<String>,
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Returns, newest first.
#[utoipa::path(get, path = "/api/v1/returns", tag = "returns", params(ReturnParams),
    responses((status = 200, body = inline(Page<Rma>)), (status = 422, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    Query(p): Query<ReturnParams>,
) -> ApiResult<Json<Page<Rma>>> {
    caller.require(Permission::Read)?;
    let status = p
        .status
        .map(|v| {
            ReturnStatus::parse(&v).ok_or_else(|| {
                ApiError::field("status", format!("must be one of {}", ReturnStatus::list()))
            })
        })
        .transpose()?;
    let filter = ReturnFilter {
        order: p.order.filter(|o| !o.is_empty()),
        status,
    };
    let page = PageRequest {
        limit: p.limit,
        cursor: p.cursor,
    };
    Ok(Json(s.store.list_returns(&filter, &page).await?))
}

/// One return by id (`RMA-000042`).
#[utoipa::path(get, path = "/api/v1/returns/{id}", tag = "returns",
    responses((status = 200, body = Rma), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Rma>> {
    caller.require(Permission::Read)?;
    let mut rma = s
        .store
        .get_return(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("return {id}")))?;
    rma.exchange_order = ordo_store::exchange_order(s.store.as_ref(), &rma).await?;
    Ok(Json(rma))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StepInput {
    /// Required to reject.
    pub reason: Option<String>,
}

async fn step(
    s: AppState,
    caller: Caller,
    id: String,
    step: ReturnStep,
    reason: Option<String>,
) -> ApiResult<Response> {
    caller.require(Permission::ManageOrders)?;
    let result = s
        .store
        .return_step(&id, step, reason, &caller.context())
        .await?;
    settled(&s, &caller, result).await
}

/// Approve a requested return (a keep-item return is settled and its refund due).
#[utoipa::path(post, path = "/api/v1/returns/{id}/approve", tag = "returns",
    responses((status = 200, body = Rma), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn approve(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    step(s, caller, id, ReturnStep::Approve, None).await
}

/// Reject a requested return, saying why.
#[utoipa::path(post, path = "/api/v1/returns/{id}/reject", tag = "returns", request_body = StepInput,
    responses((status = 200, body = Rma), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn reject(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<StepInput>,
) -> ApiResult<Response> {
    step(s, caller, id, ReturnStep::Reject, input.reason).await
}

/// The goods are on their way back (label issued or handed to the carrier).
#[utoipa::path(post, path = "/api/v1/returns/{id}/ship", tag = "returns",
    responses((status = 200, body = Rma), (status = 409, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn ship(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    step(s, caller, id, ReturnStep::Ship, None).await
}

/// Close an inspected (or settled keep-item) return.
#[utoipa::path(post, path = "/api/v1/returns/{id}/close", tag = "returns",
    responses((status = 200, body = Rma), (status = 409, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn close(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    step(s, caller, id, ReturnStep::Close, None).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReceiveLineInput {
    pub sku: Option<String>,
    pub line_no: Option<i32>,
    pub quantity: Option<i64>,
    /// resellable, damaged, defective or missing.
    pub condition: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReceiveInput {
    pub location: Option<String>,
    #[serde(default)]
    pub lines: Vec<ReceiveLineInput>,
}

/// Receive and inspect returned units at a location: resellable units are available again
/// (and offered to waiting orders), damaged ones held as `damaged`, defective ones in
/// `quality_control`, missing ones change nothing. Each unit is a ledger movement
/// referencing the return. More than authorised, an unknown SKU or a second receipt of the
/// same units is refused and nothing changes. The refund falls due (`return.refund_due`).
#[utoipa::path(post, path = "/api/v1/returns/{id}/receive", tag = "returns", request_body = ReceiveInput,
    responses((status = 200, body = Rma), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails),
        (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn receive(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ReceiveInput>,
) -> ApiResult<Response> {
    caller.require(Permission::WriteStock)?;
    let location = input
        .location
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| ApiError::field("location", "is required"))?;
    let rma = s
        .store
        .get_return(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("return {id}")))?;
    let mut errors = Vec::new();
    let mut lines = Vec::new();
    for (i, l) in input.lines.iter().enumerate() {
        let line = rma.lines.iter().find(|r| {
            l.line_no.is_none_or(|n| n == r.line_no) && l.sku.as_deref().is_none_or(|s| s == r.sku)
        });
        let condition = l.condition.as_deref().and_then(Condition::parse);
        if condition.is_none() {
            errors.push(ordo_domain::FieldError::new(
                format!("lines[{i}].condition"),
                format!("must be one of {}", Condition::list()),
            ));
        }
        match (line, condition) {
            (Some(line), Some(condition)) => lines.push(ReceivedLine {
                line_no: line.line_no,
                sku: line.sku.clone(),
                quantity: l.quantity.unwrap_or(1),
                condition,
            }),
            (None, _) => errors.push(ordo_domain::FieldError::new(
                format!("lines[{i}].sku"),
                "is not on this return",
            )),
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let result = s
        .store
        .receive_return(&id, &location, lines, &caller.context())
        .await?;
    settled(&s, &caller, result).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct GradeInput {
    pub sku: Option<String>,
    pub quantity: Option<i64>,
    /// `restock` (back to sale) or `write_off`.
    pub grade: Option<String>,
}

/// Grade units the return left in quality control: restock them (available again) or write
/// them off — the step Shopify's dispositions lack.
#[utoipa::path(post, path = "/api/v1/returns/{id}/grade", tag = "returns", request_body = GradeInput,
    responses((status = 200, body = Rma), (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails),
        (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn grade(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<GradeInput>,
) -> ApiResult<Response> {
    caller.require(Permission::WriteStock)?;
    let sku = input
        .sku
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::field("sku", "is required"))?;
    let grade = match input.grade.as_deref() {
        Some("restock") => Grade::Restock,
        Some("write_off") => Grade::WriteOff,
        _ => return Err(ApiError::field("grade", "must be restock or write_off")),
    };
    let result = s
        .store
        .grade_return(
            &id,
            &sku,
            input.quantity.unwrap_or(1),
            grade,
            &caller.context(),
        )
        .await?;
    Ok(outcome(result, |r| {
        (StatusCode::OK, Json(r)).into_response()
    }))
}

/// A channel's return policy: window in days, non-returnable classes, auto-approval.
#[utoipa::path(get, path = "/api/v1/channels/{code}/return-policy", tag = "returns",
    responses((status = 200, body = ReturnPolicy), (status = 404, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn get_policy(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> ApiResult<Json<ReturnPolicy>> {
    caller.require(Permission::Read)?;
    if s.store.get_channel(&code).await?.is_none() {
        return Err(ApiError::not_found(format!("channel {code}")));
    }
    Ok(Json(s.store.return_policy(&code).await?))
}

/// Replace a channel's return policy.
#[utoipa::path(put, path = "/api/v1/channels/{code}/return-policy", tag = "returns", request_body = ReturnPolicy,
    responses((status = 200, body = ReturnPolicy), (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn put_policy(
    State(s): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
    JsonBody(policy): JsonBody<ReturnPolicy>,
) -> ApiResult<Json<ReturnPolicy>> {
    caller.require(Permission::ManageCatalog)?;
    if s.store.get_channel(&code).await?.is_none() {
        return Err(ApiError::not_found(format!("channel {code}")));
    }
    let mut errors = match policy.check() {
        Ok(()) => Vec::new(),
        Err(ordo_domain::Problem::Invalid(fields)) => fields,
        Err(other) => return Err(other.into()),
    };
    if policy.auto_approve_up_to_minor.is_some_and(|v| v < 0) {
        errors.push(ordo_domain::FieldError::new(
            "auto_approve_up_to_minor",
            "must not be negative",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    s.store
        .put_return_policy(&code, policy.clone(), &caller.context())
        .await?;
    Ok(Json(policy))
}

/// Issue the return label: the return moves to `label_issued`; the label itself is at
/// `label.pdf` / `label.zpl`, with the return's own tracking number.
#[utoipa::path(post, path = "/api/v1/returns/{id}/label", tag = "returns",
    responses((status = 200, body = Rma), (status = 409, body = ProblemDetails)), security(("api_key" = [])))]
pub async fn issue_label(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    step(s, caller, id, ReturnStep::IssueLabel, None).await
}

/// The return label as a 4×6 in PDF: from the customer to the receiving location.
#[utoipa::path(get, path = "/api/v1/returns/{id}/label.pdf", tag = "returns",
    responses((status = 200, content_type = "application/pdf", description = "One page"), (status = 404, body = ProblemDetails),
        (status = 409, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn label_pdf(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let label = crate::documents::return_label(s.store.as_ref(), &id).await?;
    let pdf = label.to_pdf().map_err(crate::documents::document_error)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/pdf")], pdf).into_response())
}

/// The return label as ZPL II for 203-dpi thermal printers.
#[utoipa::path(get, path = "/api/v1/returns/{id}/label.zpl", tag = "returns",
    responses((status = 200, content_type = "text/plain", description = "From ^XA to ^XZ"), (status = 404, body = ProblemDetails),
        (status = 409, body = ProblemDetails)),
    security(("api_key" = [])))]
pub async fn label_zpl(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Permission::Read)?;
    let label = crate::documents::return_label(s.store.as_ref(), &id).await?;
    let zpl = label.to_zpl().map_err(crate::documents::document_error)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        zpl,
    )
        .into_response())
}
